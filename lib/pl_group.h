/* pl_group.h: group commit for the threads of one publish process */
#ifndef PL_GROUP_H
#define PL_GROUP_H

#include "pl_store.h"

/* Commit m[0..n) like pl_store_publish(), sharing one transaction with the
 * publishes other threads of this process have waiting at the same moment.
 * st is the calling thread's own connection (used when it leads a group).
 * Blocks until this batch is committed or failed; returns its result. */
int pl_group_publish(struct pl_store *st, struct pl_msg *m, size_t n);

#endif
