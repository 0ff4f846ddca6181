/* pl_store_sqlite.h: what the three files of the SQLite backend share.
 *
 * The backend of pl_store.h is split by concern: pl_store.c opens the
 * connection, owns the schema and the statements, and maps SQLite's errors;
 * pl_store_read.c answers subscriptions (rows, the row cache, filters, the
 * cursor); pl_store_write.c publishes, records first deliveries, deletes,
 * counts and purges. The programs never include this header: they know
 * storage only through pl_store.h. */
#ifndef PL_STORE_SQLITE_H
#define PL_STORE_SQLITE_H

#include <sqlite3.h>
#include <stdint.h>
#include <sys/types.h>

#include "pl_store.h"
#include "pl_util.h"

/* The statements every connection prepares once, by index. */
enum {
	S_BEGIN, S_BEGIN_IMM, S_COMMIT, S_ROLLBACK,
	S_HEAD, S_OLDEST, S_NEWEST, S_LAST_CREATED, S_INS, S_INS_PATH, S_ROW, S_SCAN, S_ROW_IF, S_SCAN_IF,
	S_CREATED_AT,
	S_DEL, S_DEL_PATH, S_EXPIRED, S_OLDEST_IDS, S_COUNT, S_MARK, S_PREV_ID,
	S_COUNT_EXPIRED, S_COUNT_OLD_LIVE, S_NTH_NEWEST, S_IDS_UPTO, S_SEQ_RAISE, S_SEQ_ADD,
	S_NSTMT
};

/* Their SQL text, also the name a failure is logged under. */
extern const char *const pl_sq_text[S_NSTMT];

struct pl_sq_cached;

struct pl_store {
	sqlite3 *db;
	struct pl_buf scratch;  /* a message body being stored */
	int wal_pages;          /* writer: checkpoint wanted past this */
	void (*wal_cb)(void *, int);
	void *wal_arg;
	char *path;
	/* The database, its WAL and its shared-memory index as opened, to
	 * notice one was deleted or replaced (pl_store_moved()); ino 0: not
	 * looked at. */
	struct pl_fileid {
		dev_t dev;
		ino_t ino;
	} id[3];
	/* The index this connection really uses: SQLite maps one -shm per
	 * database file and process, shared by every connection to it there,
	 * so a connection opened while another still holds a deleted -shm
	 * uses that one, whatever the path has now (pl_store.c, registry). */
	struct pl_fileid shm_use;
	/* When the database file was made (ns; 0 where the file system
	 * keeps no birth time): a file made after another's removal often
	 * gets its inode number again, and only this tells the two apart. */
	int64_t born;
	_Atomic int stale;      /* another connection saw the index replaced */
	struct pl_store *reg_next;      /* the process's open connections */
	int64_t moved_checked;  /* monotonic ms of the last look */
	sqlite3_stmt *st[S_NSTMT];
	sqlite3_stmt *paths[2 * PL_MAX_TOPICS];   /* merge streams, prepared on first use */
	sqlite3_stmt *paths_any[PL_MAX_TOPICS];   /* the same, every user key (admin) */
	struct pl_sq_cached **cache;  /* the row cache (pl_store_read.c) */
	size_t cache_bytes;
	int64_t head_seen;      /* the newest head a query read */
	int no_wait;            /* busy handler: give up at once */
	int short_wait;         /* busy handler: give up after about 0.1 s */
	int patient;            /* busy handler: look once a millisecond (a purge) */
	int64_t busy_since;     /* busy handler: when this wait began (ms) */
	char err[256];          /* the last failure's reason: a rollback after
	                         * it leaves sqlite3_errmsg() at "not an error" */
};

/* A failed SQLite call on st as PL_EBUSY or PL_EIO; logs op and SQLite's
 * reason once per kind of fault and keeps the reason for pl_store_errmsg(). */
int pl_sq_rc(struct pl_store *st, const char *op);
/* PL_OK, or PL_EIO (logged once, reason in st->err) when the -shm cannot
 * take the writes SQLite makes through its memory mapping (immutable file,
 * read-only file system): called before a write transaction or checkpoint. */
int pl_sq_shm_writable(struct pl_store *st, const char *op);

/* A write committed: the next fault of any kind is logged again. */
void pl_sq_ok(void);

/* BEGIN (a read snapshot) and BEGIN IMMEDIATE (the write lock now, so ids
 * follow commit order); COMMIT. Each returns PL_OK or pl_sq_rc()'s code. */
int pl_sq_read_begin(struct pl_store *st);
int pl_sq_write_begin(struct pl_store *st);
int pl_sq_commit(struct pl_store *st);

/* End an open transaction, if any: commit when commit is set, else roll
 * back. Does nothing outside a transaction. */
void pl_sq_txn_end(struct pl_store *st, int commit);

/* The first column of statement `which`'s first row in *out (0 when there is
 * none), with arg bound to ?1 when has_arg; read_int2 binds ?1 and ?2. */
int pl_sq_read_int(struct pl_store *st, int which, int64_t arg, int has_arg, int64_t *out);
int pl_sq_read_int2(struct pl_store *st, int which, int64_t a, int64_t b, int64_t *out);
/* Just opened: the sequence continues above every id given in this
 * database file (see pl_store_write.c), so that a cursor past ids whose
 * commits were lost is not taken for one beyond the newest. */
void pl_sq_keep_ids(struct pl_store *st);
/* Messages committed in st's file in the minute up to the unix second now
 * (that second and the 59 before it), as DB.ids counts them; -1 when
 * DB.ids has no record of the file (none written yet, removed, another
 * user's). */
int64_t pl_sq_minute_count(const struct pl_store *st, int64_t now);
/* A file made beside the database as root goes to the directory's owner. */
void pl_sq_give_to_dir_owner(const char *path);

/* The smallest id in [lo, hi] created at or after t_ms, in *out; one past hi
 * when none is. Inside the caller's read transaction. */
int pl_sq_first_created(struct pl_store *st, int64_t lo, int64_t hi, int64_t t_ms, int64_t *out);

/* Column i of s as a malloc'ed string, NULL when it is NULL. */
char *pl_sq_col_text(sqlite3_stmt *s, int i);

/* The SQL function pl_pass(FILTER, id, topic, user, clients, type, src,
 * target, expires, last_get) of S_ROW_IF and S_SCAN_IF (pl_store_read.c):
 * a subscription's filter applied inside the statement, before SQLite
 * reads the row's body, which may span hundreds of pages. Registered on
 * every connection before its statements are prepared. */
void pl_sq_pass_fn(sqlite3_context *cx, int argc, sqlite3_value **v);

/* The row cache: record a first delivery in a cached row (no-op when id is
 * not cached or already marked); free the whole cache. */
void pl_sq_cache_got(struct pl_store *st, int64_t id, int64_t ms);
void pl_sq_cache_free(struct pl_store *st);

#endif
