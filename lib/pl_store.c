/* pl_store.c: the SQLite backend of pl_store.h.
 *
 * One database in WAL mode shared by every process. Writers take the write
 * lock up front (BEGIN IMMEDIATE) so ids are assigned in commit order, and a
 * reader's snapshot that sees id N sees every id below N: following cursors
 * is then exactly-once. Subscriptions are answered from the message_paths
 * index (see sql/schema.sql) merged in id order, or, near the head, from a
 * short primary-key range; both are filtered by pl_filter_match(). */
#include "pl_first.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pl_log.h"
#include "pl_store.h"
#include "pl_topic.h"
#include "pl_util.h"
#include "pl_wake.h"

#define SCHEMA_VERSION 1
/* Below this many ids between cursor and head, a primary-key range is
 * cheaper than merging index ranges. */
#define SCAN_WINDOW 512
#define ROW_COLS "id, topic, user, clients, type, src, target, created, expires, last_get, body"

extern const char pl_schema_sql[];

enum {
	S_BEGIN, S_BEGIN_IMM, S_COMMIT, S_ROLLBACK,
	S_HEAD, S_OLDEST, S_INS, S_INS_PATH, S_ROW, S_SCAN, S_CREATED_AT,
	S_DEL, S_DEL_PATH, S_EXPIRED, S_OLDEST_IDS, S_COUNT, S_MARK, S_PREV_ID,
	S_COUNT_EXPIRED, S_COUNT_OLD_LIVE, S_NTH_NEWEST, S_IDS_UPTO,
	S_NSTMT
};

static const char *const sql_text[S_NSTMT] = {
	[S_BEGIN] = "BEGIN",
	[S_BEGIN_IMM] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_HEAD] = "SELECT seq FROM sqlite_sequence WHERE name = 'messages'",
	[S_OLDEST] = "SELECT min(id) FROM messages",
	[S_INS] = "INSERT INTO messages (topic, user, clients, type, src, target, created, expires, body) "
		  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[S_INS_PATH] = "INSERT INTO message_paths (path, user, id) VALUES (?, ?, ?)",
	[S_ROW] = "SELECT " ROW_COLS " FROM messages WHERE id = ?",
	[S_SCAN] = "SELECT " ROW_COLS " FROM messages WHERE id > ? ORDER BY id",
	[S_CREATED_AT] = "SELECT id, created FROM messages WHERE id >= ? ORDER BY id LIMIT 1",
	[S_DEL] = "DELETE FROM messages WHERE id = ? RETURNING topic, coalesce(user, '')",
	[S_DEL_PATH] = "DELETE FROM message_paths WHERE path = ? AND user = ? AND id = ?",
	[S_EXPIRED] = "SELECT id FROM messages WHERE expires <= ? ORDER BY expires LIMIT ?",
	[S_OLDEST_IDS] = "SELECT id FROM messages WHERE id < ? ORDER BY id LIMIT ?",
	[S_COUNT] = "SELECT count(*) FROM messages",
	[S_MARK] = "UPDATE messages SET last_get = ? WHERE id = ? AND last_get IS NULL",
	[S_PREV_ID] = "SELECT max(id) FROM messages WHERE id < ?",
	[S_COUNT_EXPIRED] = "SELECT count(*) FROM messages WHERE expires <= ?",
	[S_COUNT_OLD_LIVE] = "SELECT count(*) FROM messages WHERE id < ? AND expires > ?",
	[S_NTH_NEWEST] = "SELECT id FROM messages ORDER BY id DESC LIMIT 1 OFFSET ?",
	[S_IDS_UPTO] = "SELECT id FROM messages WHERE id <= ? ORDER BY id LIMIT ?",
};

/* One range of the path index, ids only (the index covers it): each row
 * then comes from the row cache, or by id from the table. */
static const char path_sql[] =
	"SELECT id FROM message_paths WHERE path = ? AND user = ? AND id > ? ORDER BY id";

/* The row cache. A stored message never changes (only last_get, which only
 * the admin view shows and which bypasses the cache), and ids are never
 * reused while this connection holds the file open, so a row read once can
 * answer every later subscription that the index says it belongs to. It is
 * what makes a user's inbox, read again at each page load, cheap: reading 50
 * rows by id from a large table is most of the work of such an answer.
 * Direct-mapped by id; bounded in bytes (2 MB per connection: poll, longpoll
 * and stream each use one); one per connection, and a connection is used by
 * one thread at a time, so no lock. */
#define CACHE_SLOTS 4096                /* a power of two */
#define CACHE_BYTES (2 * 1024 * 1024)
#define CACHE_ROW_MAX (16 * 1024)       /* larger rows are read each time */

struct cached {
	struct pl_row row;
	size_t size;
};

#define WAL_KEEP_BYTES (64 * 1024 * 1024)

struct pl_store {
	sqlite3 *db;
	struct pl_buf scratch;  /* a message body being stored */
	int wal_pages;          /* writer: checkpoint wanted past this */
	void (*wal_cb)(void *, int);
	void *wal_arg;
	char *path;
	dev_t dev;              /* the file opened, to notice it was replaced */
	ino_t ino;
	int64_t moved_checked;  /* monotonic ms of the last look */
	sqlite3_stmt *st[S_NSTMT];
	sqlite3_stmt *paths[2 * PL_MAX_TOPICS];   /* merge streams, prepared on first use */
	struct cached **cache;  /* CACHE_SLOTS, allocated on first use */
	size_t cache_bytes;
	int no_wait;            /* busy handler: give up at once */
	char err[256];          /* the last failure's reason: a rollback after
	                         * it leaves sqlite3_errmsg() at "not an error" */
};

/* A storage failure is logged once per kind, not once per request: a full
 * disk would otherwise flood the error log at the request rate. A success
 * clears it, so the same fault coming back is logged again. */
/* Process-wide, so that eight threads meeting one fault log it once. */
static _Atomic int last_logged, last_open_err;
static __thread char open_error[512];

const char *pl_store_open_error(void)
{
	return open_error;
}

static int store_rc(struct pl_store *st, const char *op);
static void cache_free(struct pl_store *st);

static int busy_wait(void *arg, int tries)
{
	const struct pl_store *st = arg;

	if (st->no_wait || tries >= 20000)      /* about 5 s */
		return 0;
	usleep(tries < 20 ? 50 : 250);
	return 1;
}

static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct pl_store *st = arg;

	(void)db;
	(void)name;
	if (pages > st->wal_pages && st->wal_cb)
		st->wal_cb(st->wal_arg, pages);
	return SQLITE_OK;
}

void pl_store_writer(struct pl_store *st, int pages, void (*cb)(void *, int), void *arg)
{
	st->wal_pages = pages;
	st->wal_cb = cb;
	st->wal_arg = arg;
	/* Replaces the automatic checkpoint (which is itself a WAL hook). */
	sqlite3_wal_hook(st->db, wal_hook, st);
}

int pl_store_checkpoint(struct pl_store *st, enum pl_ckpt mode)
{
	int r = sqlite3_wal_checkpoint_v2(st->db, NULL,
					  mode == PL_CKPT_RESTART ? SQLITE_CHECKPOINT_RESTART : SQLITE_CHECKPOINT_PASSIVE,
					  NULL, NULL);

	if (r == SQLITE_OK)
		return PL_OK;
	if (r == SQLITE_BUSY || r == SQLITE_LOCKED)
		return PL_EBUSY;
	return store_rc(st, "checkpoint");
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pl_store_moved(struct pl_store *st)
{
	struct stat sb;
	int64_t now = mono_ms();

	if (now - st->moved_checked < 1000)
		return 0;
	st->moved_checked = now;
	return stat(st->path, &sb) != 0 || sb.st_ino != st->ino || sb.st_dev != st->dev;
}

const char *pl_store_errmsg(struct pl_store *st)
{
	if (!st)
		return "no database";
	return st->err[0] ? st->err : sqlite3_errmsg(st->db);
}

static void store_ok(void)
{
	last_logged = 0;
}

static int store_rc(struct pl_store *st, const char *op)
{
	int code = sqlite3_extended_errcode(st->db), prim = code & 0xff;
	int rc = (prim == SQLITE_BUSY || prim == SQLITE_LOCKED) ? PL_EBUSY : PL_EIO;

	/* A caller that asked not to wait expects a busy lock: no log line. */
	if (st->no_wait && rc == PL_EBUSY)
		return rc;
	snprintf(st->err, sizeof st->err, "%s", sqlite3_errmsg(st->db));
	if (code != last_logged) {
		pl_log_err("%s: %s: %s", st->path, op, sqlite3_errmsg(st->db));
		last_logged = code;
	}
	return rc;
}

static int exec_stmt(struct pl_store *st, int which)
{
	sqlite3_stmt *s = st->st[which];
	int r = sqlite3_step(s);

	sqlite3_reset(s);
	return r == SQLITE_DONE || r == SQLITE_ROW ? PL_OK : PL_EIO;
}

static int read_txn_begin(struct pl_store *st)
{
	return exec_stmt(st, S_BEGIN) == PL_OK ? PL_OK : store_rc(st, "begin");
}

static void txn_end(struct pl_store *st, int commit)
{
	if (!sqlite3_get_autocommit(st->db))
		exec_stmt(st, commit ? S_COMMIT : S_ROLLBACK);
}

static int apply_schema(struct pl_store *st)
{
	sqlite3_stmt *s = NULL;
	int version = -1, rc = PL_EIO;
	char *err = NULL;

	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW)
		goto out;
	version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	s = NULL;
	if (version > SCHEMA_VERSION) {
		pl_log_err("%s: schema version %d is newer than this program (%d)", st->path, version,
			   SCHEMA_VERSION);
		goto out;
	}
	if (version == 0 && sqlite3_exec(st->db, pl_schema_sql, NULL, NULL, &err) != SQLITE_OK) {
		pl_log_err("%s: creating schema: %s", st->path, err ? err : "?");
		goto out;
	}
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	rc = PL_OK;
out:
	if (rc != PL_OK && version != -1 && version <= SCHEMA_VERSION && !err)
		pl_log_err("%s: schema: %s", st->path, sqlite3_errmsg(st->db));
	sqlite3_free(err);
	sqlite3_finalize(s);
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static int schema_version(struct pl_store *st)
{
	sqlite3_stmt *s = NULL;
	int v = -1;

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* PL_OK for a pushlite database of this version or older, or an empty one,
 * with its schema version in *version; else the reason is in open_error
 * (and logged once). */
static int foreign(struct pl_store *st, int *version_out)
{
	sqlite3_stmt *s = NULL;
	int version = *version_out = schema_version(st), other = 0;
	char name[64] = "";

	if (version == 0 && sqlite3_prepare_v2(st->db, "SELECT name FROM sqlite_master WHERE type = 'table' "
					       "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' LIMIT 1",
					       -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
		other = 1;
		snprintf(name, sizeof name, "%s", (const char *)sqlite3_column_text(s, 0));
	}
	sqlite3_finalize(s);
	if (other)
		snprintf(open_error, sizeof open_error,
			 "not a pushlite database: it holds other tables (%s) and no pushlite schema", name);
	else if (version > SCHEMA_VERSION)
		snprintf(open_error, sizeof open_error, "schema version %d is newer than this program (%d)",
			 version, SCHEMA_VERSION);
	else
		return PL_OK;
	pl_log_err("%s: %s", st->path, open_error);
	return PL_EIO;
}

/* SQLite says "unable to open database file" whether the directory is
 * missing, not writable (a new database, or the -wal and -shm files WAL mode
 * creates beside it) or something else: when the directory is the cause,
 * writes which in out and returns 1; else 0, and SQLite's words stand. */
static int dir_fault(const char *db_path, char *out, size_t outlen)
{
	const char *slash = strrchr(db_path, '/');
	char dir[384];          /* with the words around it, within open_error */
	struct stat sb;
	int n;

	if (!slash)
		n = snprintf(dir, sizeof dir, ".");
	else
		n = snprintf(dir, sizeof dir, "%.*s", slash == db_path ? 1 : (int)(slash - db_path), db_path);
	if (n < 0 || (size_t)n >= sizeof dir)
		return 0;
	if (stat(dir, &sb) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			snprintf(out, outlen, "directory %s does not exist", dir);
		else if (errno == EACCES)
			snprintf(out, outlen, "directory %s cannot be reached by this user (uid %ld)", dir,
				 (long)geteuid());
		else
			return 0;
		return 1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(out, outlen, "%s is not a directory", dir);
		return 1;
	}
	/* The effective user creates the files: AT_EACCESS, not the real one. */
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) != 0) {
		if (errno == EACCES)
			snprintf(out, outlen, "directory %s is not writable by this user (uid %ld)", dir,
				 (long)geteuid());
		else if (errno == EROFS)
			snprintf(out, outlen, "directory %s is on a read-only file system", dir);
		else
			return 0;
		return 1;
	}
	return 0;
}

/* Before SQLite's first use in the process. Its memory statistics (on by
 * default) take one process-wide mutex on every allocation, and reading a row
 * allocates: threads serving answers queued on it. Nothing here reads them. */
static void sqlite_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	sqlite3_initialize();
}

int pl_store_open(struct pl_store **out, const struct pl_conf *c)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct pl_store *st = pl_xcalloc(1, sizeof *st);
	const char *op = "open";
	char pragma[128];
	int version;

	*out = NULL;
	pthread_once(&once, sqlite_setup);
	st->path = pl_xstrdup(c->db_path);
	if (sqlite3_open_v2(c->db_path, &st->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		goto fail;
	/* Writers wait for each other up to 5 s before a request gets 503, in
	 * short steps: SQLite's own timeout handler sleeps up to 100 ms at a
	 * time, far longer than any of our write transactions holds the lock. */
	sqlite3_busy_handler(st->db, busy_wait, st);
	/* Before anything is changed (WAL mode persists in the file): a file
	 * of another program, or of a newer pushlite, is left as it is. */
	if (foreign(st, &version) != PL_OK)
		goto fail_logged;
	op = "journal_mode=WAL";
	if (sqlite3_exec(st->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	/* journal_size_limit: a WAL file that grew during a burst is cut back
	 * to this when it starts over, instead of keeping its largest size. */
	snprintf(pragma, sizeof pragma, "PRAGMA synchronous=%s; PRAGMA journal_size_limit=%d",
		 c->synchronous_full ? "FULL" : "NORMAL", WAL_KEEP_BYTES);
	op = "synchronous";
	if (sqlite3_exec(st->db, pragma, NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	op = "schema";
	if (version != SCHEMA_VERSION && apply_schema(st) != PL_OK)
		goto fail_logged;
	for (int i = 0; i < S_NSTMT; i++) {
		op = sql_text[i];
		if (sqlite3_prepare_v3(st->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &st->st[i], NULL) != SQLITE_OK)
			goto fail;
	}
	{
		struct stat sb;
		if (stat(c->db_path, &sb) == 0) {
			st->dev = sb.st_dev;
			st->ino = sb.st_ino;
		}
	}
	*out = st;
	last_open_err = 0;
	open_error[0] = '\0';
	return PL_OK;
fail:
	{
		int code = st->db ? sqlite3_errcode(st->db) : SQLITE_NOMEM, by_dir;

		/* Only the errors a directory can cause: a corrupt file or a
		 * busy lock in a read-only directory is not the directory's doing. */
		by_dir = (code == SQLITE_CANTOPEN || code == SQLITE_READONLY || code == SQLITE_IOERR ||
			  code == SQLITE_PERM) && dir_fault(c->db_path, open_error, sizeof open_error);
		if (!by_dir)
			snprintf(open_error, sizeof open_error, "%s: %s", op,
				 st->db ? sqlite3_errmsg(st->db) : "out of memory");
		if (!st->db || sqlite3_extended_errcode(st->db) != last_open_err) {
			if (by_dir)
				pl_log_conf_err("%s: %s", c->db_path, open_error);
			else
				pl_log_err("%s: %s", c->db_path, open_error);
			last_open_err = st->db ? sqlite3_extended_errcode(st->db) : -1;
		}
	}
fail_logged:
	pl_store_close(st);
	return PL_EIO;
}

int pl_store_open_existing(struct pl_store **out, const struct pl_conf *c)
{
	*out = NULL;
	if (!c->db_path || access(c->db_path, F_OK) != 0) {
		int e = errno;

		/* A missing directory: pushlite init would fail there too. */
		if (!c->db_path || !dir_fault(c->db_path, open_error, sizeof open_error))
			snprintf(open_error, sizeof open_error, "no database there: %s (pushlite init creates one)",
				 c->db_path ? strerror(e) : "no path configured");
		return PL_ENOTFOUND;
	}
	return pl_store_open(out, c);
}

void pl_store_close(struct pl_store *st)
{
	if (!st)
		return;
	for (int i = 0; i < S_NSTMT; i++)
		sqlite3_finalize(st->st[i]);
	for (size_t i = 0; i < sizeof st->paths / sizeof st->paths[0]; i++)
		sqlite3_finalize(st->paths[i]);
	sqlite3_close(st->db);
	cache_free(st);
	pl_buf_free(&st->scratch);
	free(st->path);
	free(st);
}

/* ---- rows and results ---- */

static char *col_text(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? pl_xstrndup((const char *)t, (size_t)sqlite3_column_bytes(s, i)) : NULL;
}

/* The strings of a row, in struct order; NULL for an absent one. */
enum { F_TOPIC, F_USER, F_CLIENTS, F_TYPE, F_SRC, F_TARGET, F_BODY, F_N };

/* Copy the strings into one block (r->mem), so that a row costs one malloc and
 * one free: an answer carries up to a few hundred rows. A missing topic or
 * body reads as "/" and "{}". */
static void row_pack(struct pl_row *r, const char *const v[F_N], const size_t len[F_N])
{
	char **f[F_N] = { &r->topic, &r->user, &r->clients, &r->type, &r->src, &r->target, &r->body };
	size_t total = 0;
	char *p;

	for (int i = 0; i < F_N; i++)
		if (v[i])
			total += len[i] + 1;
	p = r->mem = pl_xmalloc(total ? total : 1);
	for (int i = 0; i < F_N; i++) {
		if (!v[i]) {
			*f[i] = NULL;
			continue;
		}
		memcpy(p, v[i], len[i]);
		p[len[i]] = '\0';
		*f[i] = p;
		p += len[i] + 1;
	}
	r->body_len = len[F_BODY];
}

static void row_read(struct pl_row *r, sqlite3_stmt *s)
{
	static const int col[F_N] = { 1, 2, 3, 4, 5, 6, 10 };
	const char *v[F_N];
	size_t len[F_N];

	r->id = sqlite3_column_int64(s, 0);
	r->created = sqlite3_column_int64(s, 7);
	r->expires = sqlite3_column_int64(s, 8);
	r->last_get = sqlite3_column_int64(s, 9);
	for (int i = 0; i < F_N; i++) {
		v[i] = (const char *)sqlite3_column_text(s, col[i]);
		len[i] = v[i] ? (size_t)sqlite3_column_bytes(s, col[i]) : 0;
	}
	if (!v[F_TOPIC]) {
		v[F_TOPIC] = "/";
		len[F_TOPIC] = 1;
	}
	if (!v[F_BODY]) {
		v[F_BODY] = "{}";
		len[F_BODY] = 2;
	}
	row_pack(r, v, len);
}

void pl_row_free(struct pl_row *r)
{
	if (!r)
		return;
	free(r->mem);
	memset(r, 0, sizeof *r);
}

static struct pl_row *result_push(struct pl_result *res)
{
	if (res->n == res->cap) {
		res->cap = res->cap ? res->cap * 2 : 16;
		res->rows = pl_xrealloc(res->rows, res->cap * sizeof *res->rows);
	}
	memset(&res->rows[res->n], 0, sizeof res->rows[0]);
	return &res->rows[res->n++];
}

/* d = a copy of r with its own block; returns the block's size. */
static size_t row_copy(struct pl_row *d, const struct pl_row *r)
{
	const char *v[F_N] = { r->topic, r->user, r->clients, r->type, r->src, r->target, r->body };
	size_t len[F_N], total = 0;

	*d = *r;
	for (int i = 0; i < F_N; i++) {
		len[i] = !v[i] ? 0 : i == F_BODY ? r->body_len : strlen(v[i]);
		total += v[i] ? len[i] + 1 : 0;
	}
	row_pack(d, v, len);
	return total;
}

void pl_result_add_copy(struct pl_result *dst, const struct pl_row *r)
{
	row_copy(result_push(dst), r);
}

/* ---- the row cache ---- */

static size_t cache_slot(int64_t id)
{
	/* Fibonacci hashing: a user's ids are spaced by the other users'. */
	return (size_t)(((uint64_t)id * 0x9e3779b97f4a7c15u) >> 52) & (CACHE_SLOTS - 1);
}

static struct cached *cache_find(const struct pl_store *st, int64_t id)
{
	struct cached *c = st->cache ? st->cache[cache_slot(id)] : NULL;

	return c && c->row.id == id ? c : NULL;
}

static const struct pl_row *cache_get(const struct pl_store *st, int64_t id)
{
	const struct cached *c = cache_find(st, id);

	return c ? &c->row : NULL;
}

static void cache_drop(struct pl_store *st, size_t slot)
{
	struct cached *c = st->cache[slot];

	if (!c)
		return;
	st->cache_bytes -= c->size;
	pl_row_free(&c->row);
	free(c);
	st->cache[slot] = NULL;
}

static void cache_put(struct pl_store *st, const struct pl_row *r)
{
	size_t slot = cache_slot(r->id), size;
	struct cached *c;

	if (r->body_len > CACHE_ROW_MAX)
		return;
	if (!st->cache)
		st->cache = pl_xcalloc(CACHE_SLOTS, sizeof *st->cache);
	cache_drop(st, slot);
	c = pl_xmalloc(sizeof *c);
	size = row_copy(&c->row, r) + sizeof *c;
	if (st->cache_bytes + size > CACHE_BYTES) {
		pl_row_free(&c->row);
		free(c);
		return;
	}
	c->size = size;
	st->cache_bytes += size;
	st->cache[slot] = c;
}

static void cache_free(struct pl_store *st)
{
	if (!st->cache)
		return;
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		cache_drop(st, i);
	free(st->cache);
	st->cache = NULL;
}

void pl_result_reset(struct pl_result *res)
{
	for (size_t i = 0; i < res->n; i++)
		pl_row_free(&res->rows[i]);
	res->n = 0;
	res->ngot = 0;
	res->cursor = res->head = 0;
	res->more = res->reset = res->gap = 0;
}

void pl_result_free(struct pl_result *res)
{
	if (!res)
		return;
	pl_result_reset(res);
	free(res->rows);
	free(res->got);
	memset(res, 0, sizeof *res);
}

/* ---- filters ---- */

static int list_has(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; *p;) {
		size_t k = strcspn(p, ",");
		if (k == n && !memcmp(p, word, n))
			return 1;
		p += k;
		if (*p == ',')
			p++;
	}
	return 0;
}

static int str_eq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

int pl_filter_match(const struct pl_filter *f, const struct pl_row *r, int64_t now_ms)
{
	size_t i;

	for (i = 0; i < f->ntopics; i++)
		if (pl_topic_under(r->topic, f->topics[i]))
			break;
	if (i == f->ntopics)
		return 0;
	if (f->admin) {
		if (f->user_filter && !str_eq(r->user, f->user_filter))
			return 0;
		if (f->undelivered && (!r->user || r->last_get))
			return 0;
		if (f->unexpired && r->expires <= now_ms)
			return 0;
	} else {
		/* The one check that keeps a user's message from anyone else. */
		if (r->user && !str_eq(r->user, f->identity))
			return 0;
		if (r->expires <= now_ms)
			return 0;
	}
	if (f->client) {
		if (r->clients && !list_has(r->clients, f->client))
			return 0;
	} else if (r->clients && !f->admin) {
		return 0;
	}
	if (f->type && !str_eq(r->type, f->type))
		return 0;
	if (f->src && !str_eq(r->src, f->src))
		return 0;
	if (f->target && !str_eq(r->target, f->target))
		return 0;
	return 1;
}

/* ---- reading ---- */

static int read_int(struct pl_store *st, int which, int64_t arg, int has_arg, int64_t *out);

/* A count with two bound integers. */
static int read_int2(struct pl_store *st, int which, int64_t a, int64_t b, int64_t *out)
{
	sqlite3_bind_int64(st->st[which], 2, b);
	return read_int(st, which, a, 1, out);
}

static int read_int(struct pl_store *st, int which, int64_t arg, int has_arg, int64_t *out)
{
	sqlite3_stmt *s = st->st[which];
	int r;

	if (has_arg)
		sqlite3_bind_int64(s, 1, arg);
	r = sqlite3_step(s);
	*out = (r == SQLITE_ROW) ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return (r == SQLITE_ROW || r == SQLITE_DONE) ? PL_OK : store_rc(st, sql_text[which]);
}

/* Smallest id whose created >= t_ms, by bisection over ids: created grows
 * with id (both follow commit order), so no index on created is needed. */
static int first_id_created_from(struct pl_store *st, int64_t lo, int64_t hi, int64_t t_ms, int64_t *out)
{
	sqlite3_stmt *s = st->st[S_CREATED_AT];
	/* none found: one past hi (ids stop at INT64_MAX, and so does this) */
	int64_t found = hi < INT64_MAX ? hi + 1 : INT64_MAX;

	while (lo <= hi) {
		int64_t mid = lo + (hi - lo) / 2, id, created;
		int r;

		sqlite3_bind_int64(s, 1, mid);
		r = sqlite3_step(s);
		if (r == SQLITE_DONE) {
			sqlite3_reset(s);
			hi = mid - 1;
			continue;
		}
		if (r != SQLITE_ROW) {
			sqlite3_reset(s);
			return store_rc(st, "bisect created");
		}
		id = sqlite3_column_int64(s, 0);
		created = sqlite3_column_int64(s, 1);
		sqlite3_reset(s);
		if (created >= t_ms) {
			found = id;
			hi = mid - 1;
		} else {
			if (id == INT64_MAX)
				break;
			lo = id + 1;
		}
	}
	*out = found;
	return PL_OK;
}

static int fetch_row(struct pl_store *st, int64_t id, struct pl_row *r)
{
	sqlite3_stmt *s = st->st[S_ROW];
	int rc;

	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		row_read(r, s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return PL_OK;
	return rc == SQLITE_DONE ? PL_ENOTFOUND : store_rc(st, "read row");
}

/* Keep r if it matches; returns 1 when the answer is full (limit+1 rows). */
static int consider(const struct pl_filter *f, struct pl_result *res, struct pl_row *r, int64_t now)
{
	if (!pl_filter_match(f, r, now)) {
		pl_row_free(r);
		return 0;
	}
	*result_push(res) = *r;
	return res->n > (size_t)f->limit;
}

static int query_scan(struct pl_store *st, const struct pl_filter *f, int64_t cursor,
		      struct pl_result *res, int64_t now)
{
	sqlite3_stmt *s = st->st[S_SCAN];
	int r, rc = PL_OK;

	sqlite3_bind_int64(s, 1, cursor);
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		struct pl_row row;

		memset(&row, 0, sizeof row);
		row_read(&row, s);
		if (consider(f, res, &row, now))
			break;
	}
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		rc = store_rc(st, "scan");
	sqlite3_reset(s);
	return rc;
}

static sqlite3_stmt *path_stmt(struct pl_store *st, size_t i)
{
	if (!st->paths[i] &&
	    sqlite3_prepare_v3(st->db, path_sql, -1, SQLITE_PREPARE_PERSISTENT, &st->paths[i], NULL) != SQLITE_OK)
		return NULL;
	return st->paths[i];
}

/* The row of an id the index named, from the cache when it holds it. The
 * admin view reads the table: it shows last_get, the one field that changes. */
static int merge_row(struct pl_store *st, const struct pl_filter *f, int64_t id, struct pl_row *row)
{
	const struct pl_row *c = f->admin ? NULL : cache_get(st, id);
	int rc;

	if (c) {
		row_copy(row, c);
		return PL_OK;
	}
	memset(row, 0, sizeof *row);
	if ((rc = fetch_row(st, id, row)) == PL_OK && !f->admin)
		cache_put(st, row);
	return rc;
}

/* Merge the id-ordered index ranges of every (topic, user key) pair. */
static int query_merge(struct pl_store *st, const struct pl_filter *f, int64_t cursor,
		       struct pl_result *res, int64_t now)
{
	const char *keys[2];
	size_t nkeys = 0, ns = 0;
	sqlite3_stmt *ss[2 * PL_MAX_TOPICS];
	int64_t cur[2 * PL_MAX_TOPICS];
	int rc = PL_OK;

	if (f->admin) {
		keys[nkeys++] = f->user_filter;
	} else {
		keys[nkeys++] = "";
		if (f->identity)
			keys[nkeys++] = f->identity;
	}
	for (size_t t = 0; t < f->ntopics; t++) {
		/* A topic below another subscribed topic adds nothing. */
		size_t o;
		for (o = 0; o < f->ntopics; o++)
			if (o != t && pl_topic_under(f->topics[t], f->topics[o]) &&
			    (strcmp(f->topics[t], f->topics[o]) || o < t))
				break;
		if (o < f->ntopics)
			continue;
		for (size_t k = 0; k < nkeys; k++) {
			sqlite3_stmt *s = path_stmt(st, ns);
			int r;

			if (!s) {
				rc = store_rc(st, "prepare path");
				goto out;
			}
			sqlite3_bind_text(s, 1, f->topics[t], -1, SQLITE_STATIC);
			sqlite3_bind_text(s, 2, keys[k], -1, SQLITE_STATIC);
			sqlite3_bind_int64(s, 3, cursor);
			ss[ns] = s;
			r = sqlite3_step(s);
			if (r == SQLITE_ROW) {
				cur[ns++] = sqlite3_column_int64(s, 0);
			} else {
				sqlite3_reset(s);
				if (r != SQLITE_DONE) {
					rc = store_rc(st, "path range");
					goto out;
				}
			}
		}
	}
	while (ns > 0) {
		int64_t min = cur[0];
		struct pl_row row;
		int have = 0;

		for (size_t i = 1; i < ns; i++)
			if (cur[i] < min)
				min = cur[i];
		for (size_t i = 0; i < ns;) {
			if (cur[i] != min) {
				i++;
				continue;
			}
			if (!have) {
				if ((rc = merge_row(st, f, min, &row)) == PL_ENOTFOUND)
					rc = PL_OK;
				else if (rc != PL_OK)
					goto out;
				else
					have = 1;
			}
			int r = sqlite3_step(ss[i]);
			if (r == SQLITE_ROW) {
				cur[i] = sqlite3_column_int64(ss[i], 0);
				i++;
				continue;
			}
			sqlite3_reset(ss[i]);
			if (r != SQLITE_DONE) {
				rc = store_rc(st, "path range");
				if (have)
					pl_row_free(&row);
				goto out;
			}
			ss[i] = ss[ns - 1];
			cur[i] = cur[ns - 1];
			ns--;
		}
		if (have && consider(f, res, &row, now))
			break;
	}
out:
	for (size_t i = 0; i < ns; i++)
		sqlite3_reset(ss[i]);
	return rc;
}

int pl_store_query(struct pl_store *st, const struct pl_filter *f, struct pl_result *res)
{
	int64_t head = 0, oldest = 0, cursor = 0, now = pl_now_ms();
	int rc;

	pl_result_reset(res);
	if ((rc = read_txn_begin(st)) != PL_OK)
		return rc;
	/* The head and the rows come from this one snapshot. */
	if ((rc = read_int(st, S_HEAD, 0, 0, &head)) != PL_OK ||
	    (rc = read_int(st, S_OLDEST, 0, 0, &oldest)) != PL_OK)
		goto out;
	switch (f->since) {
	case PL_SINCE_ALL:
		cursor = 0;
		break;
	case PL_SINCE_NOW:
		cursor = head;
		if (f->now_from_ms > 0 && oldest != 0) {
			int64_t first;
			if ((rc = first_id_created_from(st, oldest, head, f->now_from_ms, &first)) != PL_OK)
				goto out;
			cursor = first - 1;
		}
		break;
	case PL_SINCE_AGE:
		if (oldest == 0) {
			cursor = head;
		} else {
			int64_t first;
			if ((rc = first_id_created_from(st, oldest, head, now - f->since_age * 1000, &first)) != PL_OK)
				goto out;
			cursor = first - 1;
		}
		break;
	case PL_SINCE_ID:
		cursor = f->since_id;
		if (cursor > head) {
			/* The database was recreated: start over rather than stall. */
			res->reset = 1;
			cursor = 0;
		} else if (cursor > 0 && (oldest ? oldest - 1 : head) > cursor) {
			res->gap = 1;
		}
		break;
	}
	if (cursor < head) {
		if ((f->admin && !f->user_filter) || head - cursor <= SCAN_WINDOW)
			rc = query_scan(st, f, cursor, res, now);
		else
			rc = query_merge(st, f, cursor, res, now);
		if (rc != PL_OK)
			goto out;
	}
	res->head = head;
	if (res->n > (size_t)f->limit) {
		pl_row_free(&res->rows[--res->n]);
		res->more = 1;
		res->cursor = res->rows[res->n - 1].id;
	} else {
		res->cursor = head > cursor ? head : cursor;
		if (res->reset && head == 0)
			res->cursor = 0;
	}
	if (!f->admin && f->identity) {
		for (size_t i = 0; i < res->n; i++)
			if (res->rows[i].user && !res->rows[i].last_get) {
				res->got = pl_xrealloc(res->got, (res->ngot + 1) * sizeof *res->got);
				res->got[res->ngot++] = res->rows[i].id;
			}
	}
out:
	txn_end(st, 1);
	if (rc != PL_OK)
		pl_result_reset(res);
	return rc;
}

int pl_store_tail(struct pl_store *st, int64_t after, size_t max, struct pl_result *res)
{
	sqlite3_stmt *s = st->st[S_SCAN];
	int r, rc;

	pl_result_reset(res);
	if ((rc = read_txn_begin(st)) != PL_OK)
		return rc;
	if ((rc = read_int(st, S_HEAD, 0, 0, &res->head)) != PL_OK)
		goto out;
	sqlite3_bind_int64(s, 1, after);
	while (res->n < max && (r = sqlite3_step(s)) == SQLITE_ROW)
		row_read(result_push(res), s);
	if (res->n < max && r != SQLITE_DONE)
		rc = store_rc(st, "tail");
	sqlite3_reset(s);
	res->more = res->n == max;
	res->cursor = res->more ? res->rows[res->n - 1].id : (res->head > after ? res->head : after);
out:
	txn_end(st, 1);
	return rc;
}

int pl_store_head(struct pl_store *st, int64_t *head)
{
	return read_int(st, S_HEAD, 0, 0, head);
}

int pl_store_get(struct pl_store *st, int64_t id, struct pl_result *res)
{
	struct pl_row row;
	int rc;

	pl_result_reset(res);
	memset(&row, 0, sizeof row);
	rc = fetch_row(st, id, &row);
	if (rc == PL_OK)
		*result_push(res) = row;
	return rc;
}

/* ---- writing ---- */

static int begin_write(struct pl_store *st)
{
	return exec_stmt(st, S_BEGIN_IMM) == PL_OK ? PL_OK : store_rc(st, "begin immediate");
}

static int commit(struct pl_store *st)
{
	return exec_stmt(st, S_COMMIT) == PL_OK ? PL_OK : store_rc(st, "commit");
}

/* "key": before a field: "{" for the first, "," for the others. */
static void add_key(struct pl_buf *b, const char *k, int first)
{
	pl_buf_adds(b, first ? "{\"" : ",\"");
	pl_buf_adds(b, k);
	pl_buf_adds(b, "\":");
}

/* A string field, absent when v is NULL. Topics, users and client kinds are
 * validated to letters, digits and a few of . _ ~ - / @ +, which need no
 * escaping in JSON; anything else (type, src, target) goes through json-c. */
static void add_str(struct pl_buf *b, const char *k, const char *v, int first)
{
	const unsigned char *p;
	struct json_object *o;

	if (!v)
		return;
	add_key(b, k, first);
	for (p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == '"' || *p == '\\' || *p >= 0x7f)
			break;
	if (!*p) {
		pl_buf_addc(b, '"');
		pl_buf_add(b, v, (size_t)(p - (const unsigned char *)v));
		pl_buf_addc(b, '"');
		return;
	}
	o = json_object_new_string(v);
	pl_buf_adds(b, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* The stored JSON object; ids are spliced in front when answering, so the
 * body never has to be parsed again on the read path. Written field by field
 * rather than as a json-c object: a batch stores thousands of them. */
void pl_msg_body(const struct pl_msg *m, struct pl_buf *b)
{
	add_str(b, "topic", m->topic, 1);
	add_str(b, "user", m->user, 0);
	if (m->clients) {
		pl_buf_adds(b, ",\"clients\":[\"");
		for (const char *p = m->clients; *p; p++) {
			if (*p == ',')
				pl_buf_adds(b, "\",\"");
			else
				pl_buf_addc(b, *p);
		}
		pl_buf_adds(b, "\"]");
	}
	add_str(b, "type", m->type, 0);
	add_str(b, "src", m->src, 0);
	add_str(b, "target", m->target, 0);
	pl_buf_adds(b, ",\"data\":");
	pl_buf_adds(b, json_object_to_json_string_ext(m->data, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	pl_buf_adds(b, ",\"created\":");
	pl_buf_addi64(b, m->created);
	pl_buf_adds(b, ",\"expires\":");
	pl_buf_addi64(b, m->expires);
	pl_buf_addc(b, '}');
}

static void bind_opt(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

static int insert_one(struct pl_store *st, struct pl_msg *m)
{
	sqlite3_stmt *s = st->st[S_INS], *p = st->st[S_INS_PATH];
	const char *body = m->body;
	size_t body_len = m->body_len;
	size_t lens[PL_TOPIC_SEGMENTS + 1], n;
	int r, rc = PL_OK;

	if (!body) {
		pl_buf_reset(&st->scratch);
		pl_msg_body(m, &st->scratch);
		body = st->scratch.p;
		body_len = st->scratch.len;
	}

	sqlite3_bind_text(s, 1, m->topic, -1, SQLITE_STATIC);
	bind_opt(s, 2, m->user);
	bind_opt(s, 3, m->clients);
	bind_opt(s, 4, m->type);
	bind_opt(s, 5, m->src);
	bind_opt(s, 6, m->target);
	sqlite3_bind_int64(s, 7, m->created);
	sqlite3_bind_int64(s, 8, m->expires);
	sqlite3_bind_text(s, 9, body, (int)body_len, SQLITE_STATIC);
	r = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (r != SQLITE_DONE)
		return store_rc(st, "insert");
	m->id = sqlite3_last_insert_rowid(st->db);
	n = pl_topic_ancestors(m->topic, lens);
	for (size_t i = 0; i < n && rc == PL_OK; i++) {
		sqlite3_bind_text(p, 1, m->topic, (int)lens[i], SQLITE_STATIC);
		sqlite3_bind_text(p, 2, m->user ? m->user : "", -1, SQLITE_STATIC);
		sqlite3_bind_int64(p, 3, m->id);
		if (sqlite3_step(p) != SQLITE_DONE)
			rc = store_rc(st, "insert path");
		sqlite3_reset(p);
	}
	return rc;
}

int pl_store_publish(struct pl_store *st, struct pl_msg *m, size_t n)
{
	struct pl_msgv v = { m, n };

	return pl_store_publish_v(st, &v, 1);
}

int pl_store_publish_v(struct pl_store *st, struct pl_msgv *v, size_t nv)
{
	int rc;

	if ((rc = begin_write(st)) != PL_OK)
		return rc;
	for (size_t k = 0; k < nv && rc == PL_OK; k++)
		for (size_t i = 0; i < v[k].n && rc == PL_OK; i++)
			rc = insert_one(st, &v[k].m[i]);
	if (rc == PL_OK)
		rc = commit(st);
	if (rc != PL_OK) {
		txn_end(st, 0);
	} else {
		store_ok();
		pl_wake_touch(st->path);   /* waiters wake after the commit is visible */
	}
	return rc;
}

/* ms: one time per id, or NULL for now_ms for all. */
static int mark_got(struct pl_store *st, const int64_t *ids, const int64_t *ms, size_t n, int64_t now_ms)
{
	sqlite3_stmt *s = st->st[S_MARK];
	int rc;

	if (n == 0)
		return PL_OK;
	if ((rc = begin_write(st)) != PL_OK)
		return rc;
	for (size_t i = 0; i < n && rc == PL_OK; i++) {
		sqlite3_bind_int64(s, 1, ms ? ms[i] : now_ms);
		sqlite3_bind_int64(s, 2, ids[i]);
		if (sqlite3_step(s) != SQLITE_DONE)
			rc = store_rc(st, "mark delivered");
		sqlite3_reset(s);
	}
	if (rc == PL_OK)
		rc = commit(st);
	if (rc != PL_OK) {
		txn_end(st, 0);
		return rc;
	}
	/* Marked now, here or (unseen by the cache) earlier by another
	 * connection: either way the cached row need not ask again. */
	for (size_t i = 0; i < n; i++) {
		struct cached *c = cache_find(st, ids[i]);
		if (c && !c->row.last_get)
			c->row.last_get = ms ? ms[i] : now_ms;
	}
	return rc;
}

int pl_store_mark_got(struct pl_store *st, const int64_t *ids, size_t n, int64_t now_ms)
{
	return mark_got(st, ids, NULL, n, now_ms);
}

void pl_marks_add(struct pl_marks *m, const int64_t *ids, size_t n, int64_t now_ms)
{
	if (n > PL_MARKS_MAX - m->n) {
		/* The lock has been held for a long time: these get their time
		 * when they are next delivered. */
		if (!m->dropped)
			pl_log_err("first deliveries not recorded: the database's write lock has been held "
				   "while %d were waiting", PL_MARKS_MAX);
		m->dropped = 1;
		return;
	}
	if (m->n + n > m->cap) {
		m->cap = (m->n + n) * 2;
		m->id = pl_xrealloc(m->id, m->cap * sizeof *m->id);
		m->ms = pl_xrealloc(m->ms, m->cap * sizeof *m->ms);
	}
	for (size_t i = 0; i < n; i++) {
		m->id[m->n] = ids[i];
		m->ms[m->n++] = now_ms;
	}
}

void pl_marks_free(struct pl_marks *m)
{
	free(m->id);
	free(m->ms);
	memset(m, 0, sizeof *m);
}

int pl_store_mark_pending(struct pl_store *st, struct pl_marks *m, int wait)
{
	int rc;

	if (!m->n)
		return PL_OK;
	if (!wait && m->retry_at && mono_ms() < m->retry_at)
		return PL_EBUSY;
	st->no_wait = !wait;
	rc = mark_got(st, m->id, m->ms, m->n, 0);
	st->no_wait = 0;
	if (rc == PL_EBUSY && !wait) {
		m->retry_at = mono_ms() + PL_MARKS_RETRY_MS;
		return rc;
	}
	m->n = 0;
	m->dropped = 0;
	m->retry_at = 0;
	return rc;
}

/* Delete one row and its path entries inside the caller's transaction. */
static int delete_in_txn(struct pl_store *st, int64_t id, int *found)
{
	sqlite3_stmt *d = st->st[S_DEL], *p = st->st[S_DEL_PATH];
	char *topic = NULL, *user = NULL;
	size_t lens[PL_TOPIC_SEGMENTS + 1], n;
	int r, rc = PL_OK;

	sqlite3_bind_int64(d, 1, id);
	r = sqlite3_step(d);
	if (r == SQLITE_ROW) {
		topic = col_text(d, 0);
		user = col_text(d, 1);
		r = sqlite3_step(d);
	}
	sqlite3_reset(d);
	*found = topic != NULL;
	if (r != SQLITE_DONE) {
		rc = store_rc(st, "delete");
		goto out;
	}
	if (!topic)
		goto out;
	n = pl_topic_ancestors(topic, lens);
	for (size_t i = 0; i < n && rc == PL_OK; i++) {
		sqlite3_bind_text(p, 1, topic, (int)lens[i], SQLITE_STATIC);
		sqlite3_bind_text(p, 2, user ? user : "", -1, SQLITE_STATIC);
		sqlite3_bind_int64(p, 3, id);
		if (sqlite3_step(p) != SQLITE_DONE)
			rc = store_rc(st, "delete path");
		sqlite3_reset(p);
	}
out:
	free(topic);
	free(user);
	return rc;
}

/* Adds to *deleted only what a commit made final: a batch rolled back
 * deleted nothing. */
static int delete_ids(struct pl_store *st, const int64_t *ids, size_t n, int64_t *deleted)
{
	int64_t batch = 0;
	int rc, found;

	if ((rc = begin_write(st)) != PL_OK)
		return rc;
	for (size_t i = 0; i < n && rc == PL_OK; i++) {
		rc = delete_in_txn(st, ids[i], &found);
		batch += found;
	}
	if (rc == PL_OK)
		rc = commit(st);
	if (rc != PL_OK)
		txn_end(st, 0);
	else
		*deleted += batch;
	return rc;
}

int pl_store_delete(struct pl_store *st, int64_t id)
{
	int64_t deleted = 0;
	int rc = delete_ids(st, &id, 1, &deleted);

	if (rc == PL_OK && !deleted)
		rc = PL_ENOTFOUND;
	return rc;
}

int pl_store_delete_matching(struct pl_store *st, const struct pl_filter *f, int64_t max, int64_t *deleted)
{
	struct pl_filter g = *f;
	struct pl_result res;
	int64_t ids[PL_LIMIT_MAX];
	int rc = PL_OK;

	memset(&res, 0, sizeof res);
	*deleted = 0;
	/* Read a batch, delete it, go on after it: the write lock is held for
	 * one short batch at a time, never for the whole delete. The first
	 * batch starts where the filter's since does, as a list would. */
	for (;;) {
		size_t n;

		g.limit = max >= 0 && max - *deleted < 500 ? (int)(max - *deleted) : 500;
		if (g.limit <= 0)
			break;
		if ((rc = pl_store_query(st, &g, &res)) != PL_OK || res.n == 0)
			break;
		/* A cursor past the head lists from the start (reset); a delete
		 * does not: it names nothing that exists. */
		if (res.reset)
			break;
		n = res.n;
		for (size_t i = 0; i < n; i++)
			ids[i] = res.rows[i].id;
		if ((rc = delete_ids(st, ids, n, deleted)) != PL_OK || !res.more)
			break;
		g.since = PL_SINCE_ID;
		g.since_id = ids[n - 1];
	}
	pl_result_free(&res);
	return rc;
}

static int64_t file_size(const char *path, const char *suffix)
{
	char p[4096];
	struct stat sb;
	int n = snprintf(p, sizeof p, "%s%s", path, suffix);

	if (n < 0 || (size_t)n >= sizeof p || stat(p, &sb) != 0)
		return 0;
	return (int64_t)sb.st_size;
}

int pl_store_stats(struct pl_store *st, struct pl_stats *s)
{
	int64_t oldest, first, prev;
	int rc;

	memset(s, 0, sizeof *s);
	if ((rc = read_txn_begin(st)) != PL_OK)
		return rc;
	if ((rc = read_int(st, S_COUNT, 0, 0, &s->rows)) != PL_OK ||
	    (rc = read_int(st, S_OLDEST, 0, 0, &oldest)) != PL_OK ||
	    (rc = read_int(st, S_HEAD, 0, 0, &s->newest_id)) != PL_OK)
		goto out;
	s->oldest_id = oldest;
	/* Ids are given in commit order and never reused, so the ids after the
	 * last message kept from before the minute were all published in it,
	 * also those deleted since (a count of rows would miss them). Without
	 * such a message, count from the first one of the minute. */
	if (oldest && (rc = first_id_created_from(st, oldest, s->newest_id, pl_now_ms() - 60000, &first)) == PL_OK) {
		if ((rc = read_int(st, S_PREV_ID, first, 1, &prev)) != PL_OK)
			goto out;
		if (first > s->newest_id)
			s->publishes_last_minute = 0;
		else
			s->publishes_last_minute = s->newest_id - (prev ? prev : first - 1);
	}
out:
	txn_end(st, 1);
	s->db_bytes = file_size(st->path, "");
	s->wal_bytes = file_size(st->path, "-wal");
	return rc;
}

/* Collect up to max ids from a one-column statement with (arg, max) binds. */
static int collect_ids(struct pl_store *st, int which, int64_t arg, int max, int64_t *ids, size_t *n)
{
	sqlite3_stmt *s = st->st[which];
	int r;

	*n = 0;
	sqlite3_bind_int64(s, 1, arg);
	sqlite3_bind_int(s, 2, max);
	while ((r = sqlite3_step(s)) == SQLITE_ROW)
		ids[(*n)++] = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return r == SQLITE_DONE ? PL_OK : store_rc(st, sql_text[which]);
}

/* Delete batches of ids chosen by `which` until none is left. Each batch is
 * its own short write transaction, so publishers wait for at most one
 * batch. Every choice is a fixed set of rows (expired at now, below an id),
 * so a second purge at once shares the work instead of adding to it. */
static int purge_loop(struct pl_store *st, const struct pl_purge *p, int which, int64_t arg, int64_t *count)
{
	int64_t ids[PL_LIMIT_MAX];
	int batch = p->batch > 0 && p->batch <= PL_LIMIT_MAX ? p->batch : 200;
	int rc = PL_OK;

	for (;;) {
		size_t n;
		int64_t before = *count;

		if ((rc = collect_ids(st, which, arg, batch, ids, &n)) != PL_OK || n == 0)
			break;
		if ((rc = delete_ids(st, ids, n, count)) != PL_OK)
			break;
		/* Another purge took these rows first: ours would find the next
		 * batch, but a batch that deleted nothing and was short ends it. */
		if (*count == before && n < (size_t)batch)
			break;
	}
	return rc;
}

/* What a purge would delete, counted in one snapshot. */
static int purge_count(struct pl_store *st, const struct pl_purge *p, int64_t cut, struct pl_purge_result *out)
{
	int64_t rows, left;
	int rc;

	if ((rc = read_int(st, S_COUNT_EXPIRED, p->now_ms, 1, &out->expired)) != PL_OK)
		return rc;
	if (p->max_age >= 0 && (rc = read_int2(st, S_COUNT_OLD_LIVE, cut, p->now_ms, &out->over_age)) != PL_OK)
		return rc;
	if (p->max_rows >= 0) {
		if ((rc = read_int(st, S_COUNT, 0, 0, &rows)) != PL_OK)
			return rc;
		left = rows - out->expired - out->over_age;
		out->over_rows = left > p->max_rows ? left - p->max_rows : 0;
	}
	return PL_OK;
}

int pl_store_purge(struct pl_store *st, const struct pl_purge *p, struct pl_purge_result *out)
{
	int64_t head, oldest, cut = 0;
	int rc;

	memset(out, 0, sizeof *out);
	if ((rc = read_txn_begin(st)) != PL_OK)
		return rc;
	if ((rc = read_int(st, S_OLDEST, 0, 0, &oldest)) != PL_OK ||
	    (rc = read_int(st, S_HEAD, 0, 0, &head)) != PL_OK)
		goto out;
	if (p->max_age >= 0 && oldest &&
	    (rc = first_id_created_from(st, oldest, head, p->now_ms - p->max_age * 1000, &cut)) != PL_OK)
		goto out;
	if (p->dry_run) {
		rc = purge_count(st, p, cut, out);
		goto out;
	}
	txn_end(st, 1);
	if ((rc = purge_loop(st, p, S_EXPIRED, p->now_ms, &out->expired)) != PL_OK)
		goto out;
	if (cut && (rc = purge_loop(st, p, S_OLDEST_IDS, cut, &out->over_age)) != PL_OK)
		goto out;
	/* The cap as an id: the oldest of the newest max_rows rows is kept,
	 * everything before it goes. A count to delete instead would be spent
	 * twice by two purges at once (or by a purge and an admin delete), each
	 * on other rows, and leave far fewer than max_rows. */
	if (p->max_rows >= 0) {
		int64_t upto = 0;   /* the newest id that goes */

		if ((rc = read_txn_begin(st)) != PL_OK)
			goto out;
		if (p->max_rows == 0) {
			rc = read_int(st, S_HEAD, 0, 0, &upto);
		} else {
			rc = read_int(st, S_NTH_NEWEST, p->max_rows - 1, 1, &upto);
			upto--;     /* the oldest id kept, less one; 0 (-1) when fewer rows */
		}
		txn_end(st, 1);
		if (rc != PL_OK)
			goto out;
		if (upto > 0 && (rc = purge_loop(st, p, S_IDS_UPTO, upto, &out->over_rows)) != PL_OK)
			goto out;
	}
	/* PASSIVE: never waits for readers, so it never holds up publishers.
	 * BUSY means another checkpoint (a second purge) is doing the work. */
	{
		int r = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		if (r != SQLITE_OK && r != SQLITE_BUSY && r != SQLITE_LOCKED)
			rc = store_rc(st, "checkpoint");
	}
out:
	txn_end(st, 1);
	return rc;
}
