/* pl_store.h: the message store every program uses.
 *
 * This interface is all the programs know of storage: the SQLite backend
 * (pl_store.c, pl_store_read.c, pl_store_write.c) is one implementation, and
 * another (PostgreSQL) can sit behind the same functions. A struct pl_store
 * is one connection: use it from one thread at a time; open one per thread. */
#ifndef PL_STORE_H
#define PL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "pl_conf.h"
#include "pl_util.h"

#define PL_MAX_TOPICS 64        /* hard ceiling; the config sets the working cap */
#define PL_LIMIT_DEFAULT 100
#define PL_LIMIT_MAX 1000

struct json_object;

/* A message to publish. Strings are borrowed from the caller and must stay
 * valid during pl_store_publish(). */
struct pl_msg {
	const char *topic;      /* valid, not "/" */
	const char *user;       /* NULL: broadcast */
	const char *clients;    /* NULL: all kinds; else normalized "pc,ios" */
	const char *type, *src, *target;   /* NULL: absent */
	struct json_object *data;          /* the body; borrowed reference */
	int64_t created, expires;          /* ms; set by the caller; moved forward
	                                    * by the store (both alike) when an
	                                    * earlier-committed message is newer,
	                                    * so times never decrease along ids */
	const char *body;       /* the stored text, from pl_msg_body(), or NULL:
	                         * then it is written at insert time */
	size_t body_len;
	int64_t id;                        /* out: assigned id */
};

/* Append the JSON object stored for m (every field but the id) to b. A caller
 * may write it before publishing, outside the write transaction. */
void pl_msg_body(const struct pl_msg *m, struct pl_buf *b);

/* One stored message as read back. All strings owned by the row. */
struct pl_row {
	int64_t id, created, expires, last_get;   /* last_get 0 = never */
	char *topic, *user, *clients, *type, *src, *target;   /* NULL when absent */
	char *body;             /* JSON object text without "id" and "last_get" */
	size_t body_len;
	void *mem;              /* the block holding the strings above (rows read
	                         * by the store); pl_row_free() frees it */
};

enum pl_since { PL_SINCE_ALL, PL_SINCE_NOW, PL_SINCE_ID, PL_SINCE_AGE };

/* What a subscriber (or the admin) asks for. Strings borrowed. */
struct pl_filter {
	const char *topics[PL_MAX_TOPICS];  /* valid subscription topics ("/" = all) */
	size_t ntopics;
	const char *identity;   /* subscriber's user; NULL = anonymous (broadcasts only) */
	const char *client;     /* NULL: only messages without a clients list */
	const char *type, *src, *target;    /* NULL: any */
	int admin;              /* admin view: every user's messages, any client kind
	                         * unless client is set */
	const char *user_filter;/* admin: only messages for this user */
	int undelivered;        /* admin: only user messages never delivered */
	int unexpired;          /* admin: no expired rows either (pushlite tail) */
	enum pl_since since;
	int64_t since_id;       /* PL_SINCE_ID */
	int64_t since_age;      /* PL_SINCE_AGE: seconds back from now */
	int64_t now_from_ms;    /* PL_SINCE_NOW: > 0 when "now" is that time
	                         * (ms since the epoch), not the query's */
	int limit;              /* 1..PL_LIMIT_MAX */
	size_t max_bytes;       /* of bodies in one answer; 0: PL_ANSWER_BYTES */
};

/* What one answer (or one read of a wake) carries at most of message bodies:
 * past it, more = 1 and the rest comes with the next request, so that a
 * limit of 1,000 messages of max_body each never makes a gigabyte answer.
 * One message is always carried, whatever its size. */
#ifndef PL_ANSWER_BYTES
#define PL_ANSWER_BYTES (64u << 20)
#endif

/* Rows one answer looks at and passes over (another topic's below a
 * subscribed one, expired, not for this type, client kind or label) before
 * it answers with what it has: more = 1, and the next request goes on from
 * there. A filter that matches nothing in a large table would otherwise
 * read all of it for each request (about 1 us a row). */
#ifndef PL_EXAMINE_MAX
#define PL_EXAMINE_MAX 10000
#endif

struct pl_result {
	int64_t cursor;         /* what the client sends as since= next */
	int64_t head;           /* newest id ever assigned, in this snapshot */
	int64_t oldest;         /* pl_store_tail: the oldest id kept (0: none) */
	int more, reset, gap;
	struct pl_row *rows;    /* oldest first */
	size_t n, cap;
	size_t bytes;           /* of the rows' bodies */
	int over;               /* the last row pushed bytes past PL_ANSWER_BYTES */
	size_t passed;          /* rows looked at and not matched */
	size_t foreign;         /* of those, rows of topics not asked for */
	int64_t stopped;        /* id of the row the look stopped at, passed
	                         * PL_EXAMINE_MAX rows (0: it did not) */
	int64_t *got;           /* ids delivered to their own user for the first time */
	size_t ngot;
};

struct pl_stats {
	int64_t rows;
	int64_t oldest_id, newest_id;   /* of the messages stored; 0 when none is */
	int64_t last_id;                /* the newest id ever assigned (the head a
	                                 * since=now cursor starts from) */
	int64_t db_bytes, wal_bytes, publishes_last_minute;
};

struct pl_purge {
	int64_t now_ms;
	int64_t max_rows;       /* <0: no cap */
	int64_t max_age;        /* seconds; <0: no cap */
	int dry_run;
	int batch;              /* rows per transaction */
};

struct pl_purge_result {
	int64_t expired, over_rows, over_age;
};

struct pl_store;

/* Open (creating the file and schema when missing) the database of c.
 * Returns PL_OK, or PL_EIO with a reason logged, or PL_EBUSY while another
 * connection of this process still holds a -shm that was since replaced at
 * the path (it lets it go at its next pl_store_moved(); try again then). */
int pl_store_open(struct pl_store **out, const struct pl_conf *c);
/* The same for tools that only read or clean up: a missing file is not
 * created (it would hide a typo in a cron line) but refused, PL_ENOTFOUND,
 * with the reason in pl_store_open_error(); nor one the programs could be
 * locked out of, PL_EFORBID (pl_store_would_lock_out()). */
int pl_store_open_existing(struct pl_store **out, const struct pl_conf *c);
/* 1, with the reason in out, when this user (not root, not the owner)
 * would make the database's missing -wal or -shm in a group that may not
 * write them as the database's group may: the programs could then not
 * write them. For the operator's tools, before they open the database. */
int pl_store_would_lock_out(const char *path, char *out, size_t cap);
void pl_store_close(struct pl_store *st);          /* NULL-safe */
/* Why the last pl_store_open() of this thread failed ("" if it did not):
 * "directory D does not exist", "directory D is not writable by this user
 * (uid N)" and the like when the database's directory is the cause, else the
 * step and SQLite's message. One line, for the tools to print. */
const char *pl_store_open_error(void);
/* 1 when the database file at the configured path, or its -wal or -shm
 * beside it, is no longer the one st opened (deleted, replaced: an operator
 * recreated it). Looks at most once a second; 0 in between. The caller then
 * closes st and opens afresh. */
int pl_store_moved(struct pl_store *st);
/* 1 when the files st opened are still the ones at the configured path,
 * looked at now: a writer asks after its commit, before it says 201 (a
 * commit into a deleted file is lost); 0 and the caller closes st. */
int pl_store_in_place(struct pl_store *st);
/* The backend's text for the last failure on st. */
const char *pl_store_errmsg(struct pl_store *st);

/* Commit m[0..n) in one transaction: all or nothing. Fills m[i].id.
 * Returns PL_OK only after the commit; PL_EBUSY/PL_EIO otherwise. */
int pl_store_publish(struct pl_store *st, struct pl_msg *m, size_t n);

/* Several requests' batches in one transaction (group commit): all batches
 * commit or none does. */
struct pl_msgv {
	struct pl_msg *m;
	size_t n;
};
int pl_store_publish_v(struct pl_store *st, struct pl_msgv *v, size_t nv);

/* Make st a dedicated writer: commits no longer checkpoint the WAL
 * themselves (that fsync would land inside a publish); instead, after a
 * commit that leaves more than pages frames in the WAL, cb(arg, frames) is
 * called, and the caller runs pl_store_checkpoint() on another connection. */
void pl_store_writer(struct pl_store *st, int pages, void (*cb)(void *, int), void *arg);
/* Copy the WAL back into the database. PASSIVE: without waiting for
 * anyone. RESTART: also wait (busy handler) for writers and for readers of
 * the old WAL, so that the next commit starts the WAL file over; the only way
 * to bound the WAL while commits never pause. PL_EBUSY: not all of it was
 * done (another checkpoint holds the lock, or a reader or writer was still
 * there after about 0.1 s: RESTART never waits the whole busy timeout);
 * PL_EIO and the like: the connection is unusable. */
enum pl_ckpt { PL_CKPT_PASSIVE, PL_CKPT_RESTART };
int pl_store_checkpoint(struct pl_store *st, enum pl_ckpt mode);

/* Answer a subscription from one read snapshot. res must be zeroed or reset.
 * Free with pl_result_free(). */
int pl_store_query(struct pl_store *st, const struct pl_filter *f, struct pl_result *res);

/* Every row with id > after, oldest first, at most max (>= 1, else
 * PL_EINVAL); res->head and res->oldest are set. On failure res is left
 * empty.
 * For the per-process watcher of waiting requests, which matches in memory. */
int pl_store_tail(struct pl_store *st, int64_t after, size_t max, struct pl_result *res);

/* The newest id ever assigned (also after its message was deleted): the
 * head that cursors are measured against. */
int pl_store_head(struct pl_store *st, int64_t *head);

/* The ids of the newest message stored (0 when none is) and the head, in
 * one snapshot. */
int pl_store_newest(struct pl_store *st, int64_t *newest, int64_t *head);
/* Record the first delivery time of user messages (only where still unset). */
int pl_store_mark_got(struct pl_store *st, const int64_t *ids, size_t n, int64_t now_ms);

/* First deliveries not recorded yet, each with its delivery time. A program
 * that serves many requests from one loop must not stop for another
 * writer's lock (a purge, a backup, an operator's sqlite3): it records them
 * without waiting, and what the lock kept out stays here for the next try. */
struct pl_marks {
	int64_t *id, *ms;
	size_t n, cap;
	int dropped;            /* over PL_MARKS_MAX: logged once per run of it */
	int64_t retry_at;       /* monotonic ms: found busy, not tried before */
};
#define PL_MARKS_MAX 100000
#define PL_MARKS_RETRY_MS 100
void pl_marks_add(struct pl_marks *m, const int64_t *ids, size_t n, int64_t now_ms);
void pl_marks_free(struct pl_marks *m);
/* Record m. wait: as pl_store_mark_got (at exit); else give up at once when
 * another connection holds the write lock: PL_EBUSY and m is kept, and
 * calls before PL_MARKS_RETRY_MS have passed do not try again. Any other
 * outcome empties m (a storage error is logged; those deliveries get their
 * time when next delivered). */
int pl_store_mark_pending(struct pl_store *st, struct pl_marks *m, int wait);
/* One message; PL_ENOTFOUND when absent. */
int pl_store_get(struct pl_store *st, int64_t id, struct pl_result *res);
/* Delete one message (and its path rows) in a transaction of its own;
 * PL_ENOTFOUND when there is none with that id. */
int pl_store_delete(struct pl_store *st, int64_t id);
/* Delete the messages a filter matches (admin), from its since on, the
 * oldest first, at most max of them (max < 0: all); *deleted counts them.
 * f->limit is not used. */
int pl_store_delete_matching(struct pl_store *st, const struct pl_filter *f, int64_t max, int64_t *deleted);
/* The admin's counts, from one snapshot (sizes from the files after it). */
int pl_store_stats(struct pl_store *st, struct pl_stats *s);
/* Delete expired rows, then those older than p->max_age and beyond
 * p->max_rows, in batches of p->batch rows per transaction; with
 * p->dry_run only count them. r gets the counts of each kind. Safe beside
 * any other writer, another purge included. */
int pl_store_purge(struct pl_store *st, const struct pl_purge *p, struct pl_purge_result *r);

/* 1 if row r should be delivered under f at time now_ms (topic, user,
 * client kind, type, src/target, expiry; not the cursor). */
int pl_filter_match(const struct pl_filter *f, const struct pl_row *r, int64_t now_ms);

void pl_row_free(struct pl_row *r);
void pl_result_reset(struct pl_result *res);   /* drop rows, keep memory */
void pl_result_free(struct pl_result *res);    /* NULL-safe */
/* Append a copy of r (its own strings) to dst, for building per-waiter
 * answers. */
void pl_result_add_copy(struct pl_result *dst, const struct pl_row *r);

#endif
