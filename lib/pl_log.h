/* pl_log.h: one-line logging to stderr (where it goes depends on the web
 * server: docs/deploy.md) and the allocation policy: pl_x* allocators log
 * and abort, callers check nothing. */
#ifndef PL_LOG_H
#define PL_LOG_H

#include <stddef.h>

enum pl_log_level { PL_LOG_NONE = -1, PL_LOG_ERR, PL_LOG_WARN, PL_LOG_INFO, PL_LOG_DEBUG };

/* Set the program name printed in front of each line (default "pushlite"). */
void pl_log_init(const char *prog);
/* Lines above this level are dropped (default PL_LOG_INFO). */
void pl_log_set_level(enum pl_log_level lvl);
/* One line "PROG[PID]: LEVEL: MESSAGE". An error (and every line at debug
 * level) ends with the source location " (FILE:LINE)", for a report to the
 * developers; file NULL: none. */
void pl_log(int lvl, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define pl_log_err(...)  pl_log(PL_LOG_ERR, __FILE__, __LINE__, __VA_ARGS__)
/* An error the operator mends (the configuration file, the database's
 * directory): the message names what to mend, and a location in our source
 * would only be noise. */
#define pl_log_conf_err(...) pl_log(PL_LOG_ERR, NULL, 0, __VA_ARGS__)
#define pl_log_warn(...) pl_log(PL_LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define pl_log_info(...) pl_log(PL_LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)

void *pl_xmalloc(size_t n);
void *pl_xcalloc(size_t n, size_t size);
void *pl_xrealloc(void *p, size_t n);
char *pl_xstrdup(const char *s);
char *pl_xstrndup(const char *s, size_t n);

#endif
