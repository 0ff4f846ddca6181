/* pl_first.h: included first by every .c file, so that feature macros and
 * config.h apply to every system header that follows. */
#ifndef PL_FIRST_H
#define PL_FIRST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config.h"

#endif
