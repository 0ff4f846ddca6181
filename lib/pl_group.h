/* pl_group.h: group commit for one publish process (its event loop, or
 * threads) */
#ifndef PL_GROUP_H
#define PL_GROUP_H

#include "pl_conf.h"
#include "pl_store.h"

/* Commit m[0..n) like pl_store_publish(), sharing one transaction with the
 * publishes other threads of this process have waiting at the same moment,
 * on the process's one writer connection (opened on first use from c).
 * Blocks until this batch is committed or failed; returns its result. */
int pl_group_publish(const struct pl_conf *c, struct pl_msg *m, size_t n);

/* For a single-threaded server that gathers publishes itself (an event
 * loop): commit v[0..n) on the writer connection, in one transaction per
 * GROUP_MAX batches (each batch alone when its group fails); rcs[i] is the
 * result of v[i]. */
void pl_group_commit(const struct pl_conf *c, struct pl_msgv *v, size_t n, int *rcs);

/* For a process that serves one request and exits (plain CGI), before the
 * first publish: no checkpoint thread, which would die with the process
 * before it copied anything; SQLite checkpoints inside the commit instead. */
void pl_group_inline(void);

/* Close the writer connection (the last connection to close copies the WAL
 * back and removes it). Only when no publish is under way. */
void pl_group_close(void);

/* Why this process's last failed commit failed ("" before any failed), for
 * a program that reports it in its own words (the command line). */
const char *pl_group_error(void);

#endif
