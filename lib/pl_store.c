/* pl_store.c: the SQLite backend of pl_store.h: the connection.
 *
 * One database in WAL mode shared by every process. Writers take the write
 * lock up front (BEGIN IMMEDIATE) so ids are assigned in commit order, and a
 * reader's snapshot that sees id N sees every id below N: following cursors
 * is then exactly-once. This file opens the connection (refusing a foreign
 * or newer file, and saying so when a directory is what stops it), applies
 * the schema, prepares the statements that pl_store_read.c (answering
 * subscriptions) and pl_store_write.c (changing the table) use, maps
 * SQLite's errors and runs the writer's checkpoints. */
#include "pl_first.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "pl_log.h"
#include "pl_store.h"
#include "pl_store_sqlite.h"
#include "pl_util.h"

#define SCHEMA_VERSION 1
#define ROW_COLS "id, topic, user, clients, type, src, target, created, expires, last_get, body"
#define PASS_CALL "pl_pass(?2, id, topic, user, clients, type, src, target, expires, last_get)"
#define WAL_KEEP_BYTES (64 * 1024 * 1024)

extern const char pl_schema_sql[];

const char *const pl_sq_text[S_NSTMT] = {
	[S_BEGIN] = "BEGIN",
	[S_BEGIN_IMM] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_HEAD] = "SELECT seq FROM sqlite_sequence WHERE name = 'messages'",
	[S_OLDEST] = "SELECT min(id) FROM messages",
	[S_NEWEST] = "SELECT max(id) FROM messages",
	[S_LAST_CREATED] = "SELECT created FROM messages ORDER BY id DESC LIMIT 1",
	[S_INS] = "INSERT INTO messages (topic, user, clients, type, src, target, created, expires, body) "
		  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[S_INS_PATH] = "INSERT INTO message_paths (path, user, id) VALUES (?, ?, ?)",
	[S_ROW] = "SELECT " ROW_COLS " FROM messages WHERE id = ?",
	[S_SCAN] = "SELECT " ROW_COLS " FROM messages WHERE id > ? ORDER BY id",
	/* The body comes last in a row and is read only for a row that
	 * passes: pl_pass() reads the columns before it. */
	[S_ROW_IF] = "SELECT " ROW_COLS " FROM messages WHERE id = ?1 AND " PASS_CALL,
	[S_SCAN_IF] = "SELECT " ROW_COLS " FROM messages WHERE id > ?1 AND " PASS_CALL " ORDER BY id",
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
	[S_SEQ_RAISE] = "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'messages' AND seq < ?1",
	[S_SEQ_ADD] = "INSERT INTO sqlite_sequence (name, seq) SELECT 'messages', ?1 "
		      "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'messages')",
};

/* A storage failure is logged once per kind, not once per request: a full
 * disk would otherwise flood the error log at the request rate. A success
 * clears it, so the same fault coming back is logged again. */
/* Process-wide, so that eight threads meeting one fault log it once. */
static _Atomic int last_logged, last_open_err;
#define LOGGED_FOREIGN (-1000000)   /* last_open_err: foreign() said it (plus the version) */
#define LOGGED_SCHEMA (-2000000)    /* last_open_err: apply_schema() said it */
#define LOGGED_STALE (-3000000)     /* last_open_err: register_open() refused */
static __thread char open_error[512];

const char *pl_store_open_error(void)
{
	return open_error;
}

/* By the clock, not by the count of tries: a usleep(250) takes 350 us
 * and more on a loaded machine, and 20,000 of them took 7 s, not 5.
 * SQLite hands the lock to whoever looks first once it is free: a purge,
 * which nobody waits for, looks seldom, so that a publish waiting beside
 * it (looking every 50-250 us) gets the lock first. */
static int busy_wait(void *arg, int tries)
{
	struct pl_store *st = arg;
	int64_t now = pl_mono_ms();

	if (tries == 0)
		st->busy_since = now;
	if (st->no_wait || now - st->busy_since >= (st->short_wait ? 100 : 5000))
		return 0;
	usleep(st->patient ? 1000 : tries < 20 ? 50 : 250);
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
	int r;

	/* RESTART waits for readers through the busy handler, holding the
	 * write lock: a reader that keeps an old snapshot (an operator's
	 * sqlite3 shell, a backup) must not stall every writer for the whole
	 * busy timeout. */
	if (pl_sq_shm_writable(st, "checkpoint") != PL_OK)
		return PL_EIO;
	st->short_wait = mode == PL_CKPT_RESTART;
	r = sqlite3_wal_checkpoint_v2(st->db, NULL,
				      mode == PL_CKPT_RESTART ? SQLITE_CHECKPOINT_RESTART : SQLITE_CHECKPOINT_PASSIVE,
				      NULL, NULL);
	st->short_wait = 0;

	if (r == SQLITE_OK)
		return PL_OK;
	if (r == SQLITE_BUSY || r == SQLITE_LOCKED)
		return PL_EBUSY;
	return pl_sq_rc(st, "checkpoint");
}

/* The names beside the database that SQLite's WAL mode uses. */
static const char *const side_suffix[3] = { "", "-wal", "-shm" };

/* The database at path (i 0), its -wal (1) or its -shm (2) into p; -1 too
 * long. */
static int side_path(const char *path, int i, char *p, size_t cap)
{
	int n = snprintf(p, cap, "%s%s", path, side_suffix[i]);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int stat_side(const struct pl_store *st, int i, struct stat *sb)
{
	char p[PATH_MAX];

	return side_path(st->path, i, p, sizeof p) ? -1 : stat(p, sb);
}

/* The database file was replaced (mv of a backup, another file put there)
 * while its -wal and -shm stayed: they hold the old file's pages and index,
 * and SQLite, which cannot tell whose they are, would lay them over the new
 * file for every connection that opens it (reading the old file's pages,
 * and checkpointing them into the new one: a corrupt file). This connection
 * knows them as the old file's: remove them, while they are still the ones
 * it had, so that the next open starts the new file's own. */
static void drop_stale_sides(struct pl_store *st)
{
	for (int i = 1; i < 3; i++) {
		char p[PATH_MAX];
		struct stat sb;

		if (st->id[i].ino == 0 || side_path(st->path, i, p, sizeof p))
			continue;
		if (stat(p, &sb) == 0 && sb.st_ino == st->id[i].ino && sb.st_dev == st->id[i].dev &&
		    unlink(p) == 0)
			pl_log_warn("%s: the database file was replaced; removed the old file's %s", st->path,
				    side_suffix[i] + 1);
	}
}

/* The caller closes st next, and the files at its path are not (or no
 * longer) the ones it used: the last connection to a file checkpoints at
 * close and then deletes the -wal and -shm by name, which would copy
 * into, or delete, another database's files. */
static void let_files_be(struct pl_store *st)
{
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
}

/* Each connection maps the -shm file it found at open and writes the WAL it
 * found, for as long as it stays open (SQLite removes them only when the last
 * connection closes). When an operator deletes all three and another process
 * creates them anew, a connection that opened the new database while the old
 * -wal and -shm were still there (rm takes them one after the other) keeps
 * the unlinked index and never sees another commit: the database's own inode
 * is then unchanged, so the side files are compared too. */
static int moved_now(struct pl_store *st)
{
	struct stat sb;

	for (int i = 0; i < 3; i++) {
		const struct pl_fileid *want = i == 2 ? &st->shm_use : &st->id[i];
		int gone;

		if (i > 0 && want->ino == 0)
			continue;
		gone = stat_side(st, i, &sb) != 0;
		if (gone || sb.st_ino != want->ino || sb.st_dev != want->dev) {
			if (i == 0 && !gone)
				drop_stale_sides(st);
			/* Those names are the new database's now, with commits
			 * not yet in its file. */
			let_files_be(st);
			return 1;
		}
	}
	return 0;
}

int pl_store_moved(struct pl_store *st)
{
	int64_t now = pl_mono_ms();

	if (st->stale) {
		let_files_be(st);
		return 1;
	}
	if (now - st->moved_checked < 1000)
		return 0;
	st->moved_checked = now;
	return moved_now(st);
}

int pl_store_in_place(struct pl_store *st)
{
	st->moved_checked = pl_mono_ms();
	return !st->stale && !moved_now(st);
}

/* When the file at path, known as id, was made, in ns; 0 when the file
 * system does not say or the file is another. */
static int64_t born(const char *path, const struct pl_fileid *id)
{
	struct statx sx;

	if (id->ino == 0 || statx(AT_FDCWD, path, 0, STATX_BTIME | STATX_INO, &sx) != 0 ||
	    !(sx.stx_mask & STATX_BTIME) || sx.stx_ino != id->ino)
		return 0;
	return (int64_t)sx.stx_btime.tv_sec * 1000000000 + sx.stx_btime.tv_nsec;
}

/* Every open connection of the process, for register_open(). */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pl_store *reg_head;

static int same_id(const struct pl_fileid *a, const struct pl_fileid *b)
{
	return a->ino == b->ino && a->dev == b->dev;
}

/* Enter st, just opened, among the process's connections. SQLite gave it
 * the -shm that another open connection to the same file here has mapped,
 * if there is one: when that is no longer the -shm at the path (an operator
 * deleted it, another process made a new one), st would commit into an
 * index nobody else reads, and acknowledge messages every reader misses.
 * Then st is refused (0) and the holders are marked stale: each lets its
 * connection go at its next pl_store_moved(), and once none is left an
 * open maps the -shm at the path. */
static int register_open(struct pl_store *st)
{
	int ok = 1;

	pthread_mutex_lock(&reg_mu);
	st->shm_use = st->id[2];
	for (struct pl_store *o = reg_head; o; o = o->reg_next) {
		if (!same_id(&o->id[0], &st->id[0]))
			continue;
		if (!same_id(&o->shm_use, &st->id[2])) {
			o->stale = 1;
			ok = 0;
		}
	}
	if (ok) {
		st->reg_next = reg_head;
		reg_head = st;
	}
	pthread_mutex_unlock(&reg_mu);
	return ok;
}

static void register_close(struct pl_store *st)
{
	pthread_mutex_lock(&reg_mu);
	for (struct pl_store **p = &reg_head; *p; p = &(*p)->reg_next) {
		if (*p == st) {
			*p = st->reg_next;
			break;
		}
	}
	pthread_mutex_unlock(&reg_mu);
}

const char *pl_store_errmsg(struct pl_store *st)
{
	if (!st)
		return "no database";
	return st->err[0] ? st->err : sqlite3_errmsg(st->db);
}

void pl_sq_ok(void)
{
	last_logged = 0;
}

static int place_fault(const char *db_path, char *out, size_t outlen);

int pl_sq_rc(struct pl_store *st, const char *op)
{
	int code = sqlite3_extended_errcode(st->db), prim = code & 0xff;
	int rc = (prim == SQLITE_BUSY || prim == SQLITE_LOCKED) ? PL_EBUSY : PL_EIO;

	/* A caller that asked not to wait expects a busy lock: no log line. */
	if (st->no_wait && rc == PL_EBUSY)
		return rc;
	snprintf(st->err, sizeof st->err, "%s", sqlite3_errmsg(st->db));
	/* SQLite opens a file it may not write read-only, and says so only
	 * at the first write, without saying why: a file of another user
	 * (a backup copied into place as root) is named, with our uid. */
	if (prim == SQLITE_READONLY) {
		char why[512];

		if (place_fault(st->path, why, sizeof why))
			snprintf(st->err, sizeof st->err, "%.60s: %.190s", sqlite3_errmsg(st->db), why);
	}
	if (code != last_logged) {
		pl_log_err("%s: %s: %s", st->path, op, st->err);
		last_logged = code;
	}
	return rc;
}

/* Step statement which to its end and reset it: PL_OK or PL_EIO. */
static int exec_stmt(struct pl_store *st, int which)
{
	sqlite3_stmt *s = st->st[which];
	int r = sqlite3_step(s);

	sqlite3_reset(s);
	return r == SQLITE_DONE || r == SQLITE_ROW ? PL_OK : PL_EIO;
}

int pl_sq_read_begin(struct pl_store *st)
{
	return exec_stmt(st, S_BEGIN) == PL_OK ? PL_OK : pl_sq_rc(st, "begin");
}

/* Logged once, as pl_sq_rc() logs an SQLite error: a code SQLite never
 * gives. */
#define SHM_RO_LOGGED (SQLITE_READONLY | (0x70 << 8))

int pl_sq_shm_writable(struct pl_store *st, const char *op)
{
	char p[PATH_MAX];
	const char *why = NULL;
	struct statx sx;
	struct statvfs vf;

	/* SQLite writes the wal-index (-shm) through a shared memory mapping,
	 * not write(2): once the file is immutable (chattr +i) or its file
	 * system read-only (remounted so after an I/O error), the first store
	 * to a page the kernel has written back since raises SIGBUS, which
	 * kills the process in the middle of a commit (a publish then ends
	 * in the web server's 500, not a 503). Refused here, before SQLite
	 * touches the mapping, it is a storage error like the others. A
	 * missing -shm is left to SQLite, which makes a new one. */
	if (side_path(st->path, 2, p, sizeof p) != 0)
		return PL_OK;
	if (statx(AT_FDCWD, p, AT_STATX_DONT_SYNC, 0, &sx) == 0 &&
	    (sx.stx_attributes_mask & STATX_ATTR_IMMUTABLE) && (sx.stx_attributes & STATX_ATTR_IMMUTABLE))
		why = "the database's -shm is immutable (chattr +i)";
	else if (statvfs(p, &vf) == 0 && (vf.f_flag & ST_RDONLY))
		why = "the database's file system is mounted read-only";
	if (!why)
		return PL_OK;
	snprintf(st->err, sizeof st->err, "%s", why);
	if (last_logged != SHM_RO_LOGGED) {
		pl_log_err("%s: %s: %s", st->path, op, why);
		last_logged = SHM_RO_LOGGED;
	}
	return PL_EIO;
}

int pl_sq_write_begin(struct pl_store *st)
{
	if (pl_sq_shm_writable(st, "begin immediate") != PL_OK)
		return PL_EIO;
	return exec_stmt(st, S_BEGIN_IMM) == PL_OK ? PL_OK : pl_sq_rc(st, "begin immediate");
}

int pl_sq_commit(struct pl_store *st)
{
	return exec_stmt(st, S_COMMIT) == PL_OK ? PL_OK : pl_sq_rc(st, "commit");
}

void pl_sq_txn_end(struct pl_store *st, int commit)
{
	if (!sqlite3_get_autocommit(st->db))
		exec_stmt(st, commit ? S_COMMIT : S_ROLLBACK);
}

/* On failure the reason, naming the step, is in open_error and logged. */
static int apply_schema(struct pl_store *st)
{
	sqlite3_stmt *s = NULL;
	int version = -1, rc = PL_EIO;
	const char *op = "begin immediate";
	char *err = NULL;

	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	op = "read user_version";
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW)
		goto out;
	version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	s = NULL;
	if (version > SCHEMA_VERSION) {
		/* Another program made it newer since foreign() looked. */
		snprintf(open_error, sizeof open_error, "schema version %d is newer than this program (%d)",
			 version, SCHEMA_VERSION);
		pl_log_err("%s: %s", st->path, open_error);
		goto out;
	}
	op = "create";
	if (version == 0 && sqlite3_exec(st->db, pl_schema_sql, NULL, NULL, &err) != SQLITE_OK)
		goto out;
	op = "commit";
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	rc = PL_OK;
out:
	if (rc != PL_OK && version <= SCHEMA_VERSION) {
		/* Before the rollback, which leaves sqlite3_errmsg() at "not an error". */
		snprintf(open_error, sizeof open_error, "schema: %s: %s", op, err ? err : sqlite3_errmsg(st->db));
		/* Once while it lasts: during an outage every request opens again. */
		if (last_open_err != LOGGED_SCHEMA) {
			pl_log_err("%s: %s", st->path, open_error);
			last_open_err = LOGGED_SCHEMA;
		}
	}
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
	/* Once while it lasts, as pl_store_open()'s other failures: every
	 * request opens again and would log it again. */
	if (last_open_err != LOGGED_FOREIGN + version) {
		pl_log_err("%s: %s", st->path, open_error);
		last_open_err = LOGGED_FOREIGN + version;
	}
	return PL_EIO;
}

/* The directory holding the database into dir ("." for a bare name); -1
 * when it does not fit. */
static int dir_of(const char *db_path, char *dir, size_t cap)
{
	const char *slash = strrchr(db_path, '/');
	int n = !slash ? snprintf(dir, cap, ".") :
		snprintf(dir, cap, "%.*s", slash == db_path ? 1 : (int)(slash - db_path), db_path);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* A database file root creates (the operator running `pushlite init` as
 * root) would be root's, and every publish of the web server's user would
 * fail on it: it goes to the owner of its directory, which is the user the
 * programs write as. SQLite does the same for the -wal and -shm it creates
 * as root, giving them the database file's owner, so this comes first.
 * DB.ids, made beside it, goes the same way. */
void pl_sq_give_to_dir_owner(const char *path)
{
	char dir[PATH_MAX];
	struct stat d, f;

	if (geteuid() != 0 || dir_of(path, dir, sizeof dir) || stat(dir, &d) != 0 ||
	    stat(path, &f) != 0 || (f.st_uid == d.st_uid && f.st_gid == d.st_gid))
		return;
	if (chown(path, d.st_uid, d.st_gid) != 0)
		pl_log_warn("%s: could not give the new file to the owner of %s (uid %ld): %s", path, dir,
			    (long)d.st_uid, strerror(errno));
}

/* An operator's tool run as a user other than the database's owner
 * makes a missing -wal or -shm as its own, in its own group, with the
 * database file's mode. The programs, who write the database as its owner
 * or through its group, could then not write them, and every publish
 * would answer 503 (`pushlite stats` run by a member of the group while
 * no program had the database open left them so). Refused unless the new
 * files land in the database's group (the directory set-group-ID to it,
 * or this user's own group) and the group may write the database, or
 * only root writes the database. The web programs are the database's
 * writers: they make the files as they must. */
int pl_store_would_lock_out(const char *path, char *out, size_t cap)
{
	char p[PATH_MAX], dir[PATH_MAX];
	struct stat db, d;
	uid_t me = geteuid();
	gid_t gid = getegid();
	int missing = 0;

	/* One this user may not read, SQLite refuses before it makes a file,
	 * and says why itself. */
	if (me == 0 || stat(path, &db) != 0 || db.st_uid == me || faccessat(AT_FDCWD, path, R_OK, AT_EACCESS) != 0)
		return 0;
	for (int i = 1; i < 3; i++)
		if (side_path(path, i, p, sizeof p) == 0 && access(p, F_OK) != 0 && errno == ENOENT)
			missing = 1;
	if (!missing)
		return 0;
	if (dir_of(path, dir, sizeof dir) == 0 && stat(dir, &d) == 0 && (d.st_mode & S_ISGID))
		gid = d.st_gid;
	/* in the group that writes the database, as shared as it is; or
	 * written by root alone, who may write anything */
	if ((db.st_mode & S_IWGRP) ? gid == db.st_gid : db.st_uid == 0)
		return 0;
	snprintf(out, cap,
		 "the database is uid %ld's, group %ld's: its -wal and -shm made by this user (uid %ld, group "
		 "%ld) would keep the programs from writing them; run as uid %ld or as root",
		 (long)db.st_uid, (long)db.st_gid, (long)me, (long)gid, (long)db.st_uid);
	return 1;
}

/* SQLite says "unable to open database file" whether the directory is
 * missing, not writable (a new database, or the -wal and -shm files WAL mode
 * creates beside it), a file's permissions refuse this user, or something
 * else: when the directory or a file's permissions are the cause, writes
 * which in out and returns 1; else 0, and SQLite's words stand. */
static int place_fault(const char *db_path, char *out, size_t outlen)
{
	char dir[384];          /* with the words around it, within open_error */
	struct stat sb;

	if (dir_of(db_path, dir, sizeof dir))
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
	/* The directory is fine: the file, its -wal or its -shm may belong to
	 * another user, or have lost their permission bits (chmod 000). */
	for (int i = 0; i < 3; i++) {
		char p[PATH_MAX];

		if (side_path(db_path, i, p, sizeof p))
			return 0;
		if (faccessat(AT_FDCWD, p, R_OK | W_OK, AT_EACCESS) != 0 && errno == EACCES) {
			int readable = faccessat(AT_FDCWD, p, R_OK, AT_EACCESS) == 0;

			snprintf(out, outlen, "%.300s is not %s by this user (uid %ld)", p,
				 readable ? "writable" : "readable", (long)geteuid());
			return 1;
		}
	}
	return 0;
}

/* Before SQLite's first use in the process. Its memory statistics (on by
 * default) take one process-wide mutex on every allocation, and reading a row
 * allocates: threads serving answers queued on it. Nothing here reads them. */
static void sqlite_setup(void)
{
	/* A file-size limit (ulimit -f, RLIMIT_FSIZE) reached by a write to
	 * the database or its -wal must be an error like a full disk: the
	 * request is answered 503 and nothing is stored. By default the
	 * kernel kills the process with SIGXFSZ instead, before any answer (a
	 * plain CGI publish then ends in the web server's 500). Ignored, the
	 * write fails with EFBIG and SQLite reports it. */
	signal(SIGXFSZ, SIG_IGN);
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	sqlite3_initialize();
}

int pl_store_open(struct pl_store **out, const struct pl_conf *c)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct pl_store *st = pl_xcalloc(1, sizeof *st);
	const char *op = "open";
	char pragma[128];
	int version, had_db;
	struct stat db_before;

	*out = NULL;
	pthread_once(&once, sqlite_setup);
	st->path = pl_xstrdup(c->db_path);
	had_db = stat(c->db_path, &db_before) == 0;
	/* SQLite makes a database file 0644 less the umask, readable by
	 * every local user under the usual 022, and its -wal and -shm after
	 * it: a user's messages are nobody else's to read. Made here first,
	 * the file keeps this mode, and the side files take it from it. */
	if (!had_db) {
		int fd = open(c->db_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0660);

		if (fd >= 0)
			close(fd);
	}
	if (sqlite3_open_v2(c->db_path, &st->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		goto fail;
	if (!had_db)
		pl_sq_give_to_dir_owner(c->db_path);
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
	/* DIRECTONLY: a view or trigger in a file another program wrote
	 * cannot call it. */
	op = "pl_pass";
	if (sqlite3_create_function_v2(st->db, "pl_pass", 10, SQLITE_UTF8 | SQLITE_DIRECTONLY, NULL,
				       pl_sq_pass_fn, NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	for (int i = 0; i < S_NSTMT; i++) {
		op = pl_sq_text[i];
		if (sqlite3_prepare_v3(st->db, pl_sq_text[i], -1, SQLITE_PREPARE_PERSISTENT, &st->st[i], NULL) != SQLITE_OK)
			goto fail;
	}
	/* A read, so that WAL mode has opened its -wal and -shm (a new file
	 * was not in WAL mode at foreign()'s read), then what was opened. */
	(void)schema_version(st);
	for (int i = 0; i < 3; i++) {
		struct stat sb;

		if (stat_side(st, i, &sb) == 0) {
			st->id[i].dev = sb.st_dev;
			st->id[i].ino = sb.st_ino;
		}
	}
	/* Replaced between the open and the look: the file looked at may not
	 * be the one opened; the next pl_store_moved() opens again. */
	if (had_db && (db_before.st_ino != st->id[0].ino || db_before.st_dev != st->id[0].dev))
		st->id[0] = (struct pl_fileid){ db_before.st_dev, db_before.st_ino };
	st->born = born(c->db_path, &st->id[0]);
	if (!register_open(st)) {
		snprintf(open_error, sizeof open_error,
			 "the database's -shm was replaced while this process still had it open; try again shortly");
		if (last_open_err != LOGGED_STALE) {
			pl_log_err("%s: %s", c->db_path, open_error);
			last_open_err = LOGGED_STALE;
		}
		let_files_be(st);
		pl_store_close(st);
		return PL_EBUSY;
	}
	pl_sq_keep_ids(st);
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
			  code == SQLITE_PERM) && place_fault(c->db_path, open_error, sizeof open_error);
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
	struct stat sb, wal;
	char p[PATH_MAX];

	*out = NULL;
	if (!c->db_path || stat(c->db_path, &sb) != 0) {
		int e = errno;

		/* A missing directory: pushlite init would fail there too. */
		if (!c->db_path || !place_fault(c->db_path, open_error, sizeof open_error))
			snprintf(open_error, sizeof open_error, "no database there: %s (pushlite init creates one)",
				 c->db_path ? strerror(e) : "no path configured");
		return PL_ENOTFOUND;
	}
	/* An empty file (touch, a copy that failed) is no database either:
	 * SQLite would take it for a new one and the schema would be written
	 * into it. A database whose pages are all still in its -wal is empty
	 * too, with a -wal that is not. */
	if (S_ISREG(sb.st_mode) && sb.st_size == 0 &&
	    (side_path(c->db_path, 1, p, sizeof p) || stat(p, &wal) != 0 || wal.st_size == 0)) {
		snprintf(open_error, sizeof open_error, "no database there: the file is empty (pushlite init creates one)");
		return PL_ENOTFOUND;
	}
	if (pl_store_would_lock_out(c->db_path, open_error, sizeof open_error))
		return PL_EFORBID;
	return pl_store_open(out, c);
}

void pl_store_close(struct pl_store *st)
{
	if (!st)
		return;
	register_close(st);
	for (int i = 0; i < S_NSTMT; i++)
		sqlite3_finalize(st->st[i]);
	for (size_t i = 0; i < sizeof st->paths / sizeof st->paths[0]; i++)
		sqlite3_finalize(st->paths[i]);
	for (size_t i = 0; i < sizeof st->paths_any / sizeof st->paths_any[0]; i++)
		sqlite3_finalize(st->paths_any[i]);
	sqlite3_close(st->db);
	pl_sq_cache_free(st);
	pl_buf_free(&st->scratch);
	free(st->path);
	free(st);
}
