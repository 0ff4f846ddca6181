/* pl_store_write.c: the SQLite backend of pl_store.h: changing the table.
 *
 * Publishing (the stored body is written once here, so the read path never
 * parses it again), recording first deliveries, deleting one message or a
 * filter's worth, the admin's counts, and the purge. Every change is a short
 * BEGIN IMMEDIATE transaction; the long ones (a filtered delete, a purge)
 * go in batches, so a publisher waits for one batch at most. */
#include "pl_first.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <json-c/json.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pl_log.h"
#include "pl_store.h"
#include "pl_store_sqlite.h"
#include "pl_topic.h"
#include "pl_util.h"
#include "pl_wake.h"

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
		return pl_sq_rc(st, "insert");
	m->id = sqlite3_last_insert_rowid(st->db);
	n = pl_topic_ancestors(m->topic, lens);
	for (size_t i = 0; i < n && rc == PL_OK; i++) {
		sqlite3_bind_text(p, 1, m->topic, (int)lens[i], SQLITE_STATIC);
		sqlite3_bind_text(p, 2, m->user ? m->user : "", -1, SQLITE_STATIC);
		sqlite3_bind_int64(p, 3, m->id);
		if (sqlite3_step(p) != SQLITE_DONE)
			rc = pl_sq_rc(st, "insert path");
		sqlite3_reset(p);
	}
	return rc;
}

int pl_store_publish(struct pl_store *st, struct pl_msg *m, size_t n)
{
	struct pl_msgv v = { m, n };

	return pl_store_publish_v(st, &v, 1);
}

#define CREATED_SKEW_MAX_MS 60000   /* see created_in_order() */

/* Ids follow commit order, but a message's time was taken when its request
 * was read, before the write lock: one that waited longer for the lock (a
 * busy writer elsewhere, another publish process) would carry an earlier
 * time than a message committed before it. since=10m, the long poll's
 * since=now behind Apache and purge --max-age find ids by time, by
 * bisection, so the times must not decrease along the ids: a message older
 * than the newest one stored takes that one's time (its ttl kept). Rare;
 * only such a message's stored text is written again. */
static int created_in_order(struct pl_store *st, struct pl_msgv *v, size_t nv)
{
	int64_t floor;
	int rc = pl_sq_read_int(st, S_LAST_CREATED, 0, 0, &floor);

	if (rc != PL_OK)
		return rc;
	for (size_t k = 0; k < nv; k++)
		for (size_t i = 0; i < v[k].n; i++) {
			struct pl_msg *m = &v[k].m[i];

			/* A wait for the lock is seconds at most; more is the clock
			 * having been stepped, which later messages must not carry
			 * on with (their expiry would move by as much). */
			if (m->created < floor && floor - m->created <= CREATED_SKEW_MAX_MS) {
				m->expires += floor - m->created;
				m->created = floor;
				m->body = NULL;     /* insert_one writes it again */
			}
			if (m->created > floor)
				floor = m->created;
		}
	return PL_OK;
}

/* Waiters wake after a commit is visible: new rows for them, or rows gone
 * that a held long poll's "gap" depends on. Without the touch they find it
 * by their fallback timer, seconds late: said once. */
static void wake_waiters(struct pl_store *st)
{
	if (pl_wake_touch(st->path) != 0) {
		static _Atomic int said;

		if (!atomic_exchange(&said, 1))
			pl_log_warn("%s: cannot touch the database to wake waiters (%s): they wake by their "
				    "timer instead", st->path, strerror(errno));
	}
}

/* The highest id given in this database file, for every process. SPEC 2:
 * an id is never reused. SQLite's sequence can go back under the programs:
 * an operator removes the -wal while they run (its commits go with it, the
 * sequence's latest value too), a process killed with commits in its -wal
 * has that -wal removed before the restart, a backup is restored into the
 * live file (`sqlite3 .restore`). A subscriber whose cursor had passed the
 * ids given again would skip the new messages that carry them. So each
 * commit reads the highest id given in the file from DB.ids, raises the
 * sequence above it inside its own transaction when the sequence is
 * behind, and writes its own highest id there before COMMIT (back again
 * when the COMMIT fails): one pread and one pwrite of 64 bytes, under the
 * write lock, so the record follows the commit order. After a removed
 * -wal, the process whose commit went there never answers 201 for it
 * (pl_group.c looks at the files after each commit), and the record was
 * written before that look. A file put in place of the database (moved
 * over it, made again by pushlite init) is another file, known by its
 * inode and birth time (a new file often gets the inode of one removed
 * just before): its ids are its own, and the cursors past them get reset.
 * The process's own highest id is kept too, for when DB.ids cannot be
 * written (a file of another user). */
struct ids_rec {
	uint64_t db_dev, db_ino;
	int64_t db_born, top;
	uint64_t sum;           /* a read torn by a write does not add up */
};

/* The same record counts the messages published in each of the last
 * IDS_SECS seconds, for the admin's publishes_last_minute: counted in the
 * commit, under the write lock, so that neither a delete nor a purge of
 * the table changes what was published, and every process's commits are
 * in one count. A second's slot is used again IDS_SECS seconds later. */
#define IDS_SECS 64
#define IDS_SLOTS_OFF 64        /* the record's first 64 bytes: ids_rec */

struct ids_slot {
	int64_t sec, n;         /* unix second, messages committed in it */
	uint64_t sum;
};

/* counted: the record's top when the seconds were last counted. A binary
 * from before the seconds writes the record alone (its first 40 bytes):
 * then top has moved past counted, and its commits are in no second. */
struct ids_file {
	struct ids_rec rec;
	int64_t counted;
	uint64_t counted_sum;
	unsigned char pad[IDS_SLOTS_OFF - sizeof(struct ids_rec) - 16];
	struct ids_slot slot[IDS_SECS];
};

#define IDS_SUM_SEED 0x706c696473763101ULL

static uint64_t ids_sum(const struct ids_rec *r)
{
	return IDS_SUM_SEED ^ r->db_dev ^ (r->db_ino * 3) ^ ((uint64_t)r->db_born * 13) ^ ((uint64_t)r->top * 11);
}

static uint64_t slot_sum(const struct ids_slot *sl)
{
	return IDS_SUM_SEED ^ ((uint64_t)sl->sec * 7) ^ ((uint64_t)sl->n * 5);
}

static uint64_t counted_sum(int64_t counted)
{
	return IDS_SUM_SEED ^ ((uint64_t)counted * 17);
}

/* r is DB.ids's record of st's database file. */
static int ids_is_for(const struct ids_rec *r, const struct pl_store *st)
{
	return r->sum == ids_sum(r) && r->db_dev == (uint64_t)st->id[0].dev &&
	       r->db_ino == (uint64_t)st->id[0].ino && r->db_born == st->born;
}

/* Read DB.ids into f: 1 when its record is for st's file (the seconds
 * with it), else 0 (f zeroed: no file yet, another file's record, or no
 * read added up). A write by a process on a removed -wal (another write
 * lock), or a reader without the write lock (stats), can tear a read:
 * read again. */
static int ids_read(int fd, const struct pl_store *st, struct ids_file *f)
{
	for (int i = 0; i < 3; i++) {
		ssize_t n;

		memset(f, 0, sizeof *f);
		n = pread(fd, f, sizeof *f, 0);
		if (n < (ssize_t)sizeof f->rec)
			break;          /* none yet (0), or a file not ours */
		if (f->rec.sum != ids_sum(&f->rec))
			continue;
		if (!ids_is_for(&f->rec, st))
			break;
		return 1;
	}
	memset(f, 0, sizeof *f);
	return 0;
}

static pthread_mutex_t top_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t top_id;
static struct pl_fileid top_db;
static int64_t top_born;
static int ids_fd = -1;         /* DB.ids, opened at the first commit */
static char ids_for[PATH_MAX];  /* the database it is for */
static int ids_said;            /* its fault was logged */

/* Under top_mu: the process's own highest id is for st's database file. */
static int same_db(const struct pl_store *st)
{
	return top_db.ino == st->id[0].ino && top_db.dev == st->id[0].dev && top_born == st->born;
}

/* Under top_mu. */
static void ids_fault(const struct pl_store *st, const char *op)
{
	if (ids_said)
		return;
	ids_said = 1;
	pl_log_warn("%s.ids: %s: %s; were the -wal removed while in use, another process could give this "
		    "one's latest ids again", st->path, op, strerror(errno));
}

/* Under top_mu: the next use opens DB.ids by its path again. */
static void ids_let_go(void)
{
	if (ids_fd >= 0)
		close(ids_fd);
	ids_fd = -1;
}

/* Under top_mu: DB.ids for st, opened when it is not, and made when
 * make (by a commit: a process that only reads, `pushlite stats` as
 * another user, must not leave a file the programs cannot write); -1 when
 * it cannot be. */
static int ids_open(const struct pl_store *st, int make)
{
	char p[PATH_MAX];
	struct stat sb;
	int n, had;

	/* Removed while open (an operator starting over): the commits would
	 * go on into a file nobody else reads; open the one at the path. */
	if (ids_fd >= 0 && strcmp(ids_for, st->path) == 0 && (make || (fstat(ids_fd, &sb) == 0 && sb.st_nlink > 0)))
		return ids_fd;
	ids_let_go();
	n = snprintf(p, sizeof p, "%s.ids", st->path);
	if (n < 0 || (size_t)n >= sizeof p)
		return -1;
	had = stat(p, &sb) == 0;
	if (!had && !make)
		return -1;
	if ((ids_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0660)) < 0) {
		ids_fault(st, "open");
		return -1;
	}
	if (!had) {
		/* As SQLite makes the -wal: the database file's mode, so that
		 * a member of its group who made it leaves it writable to the
		 * group (0660 less the umask could be 0640). */
		struct stat db;

		if (stat(st->path, &db) == 0)
			(void)fchmod(ids_fd, db.st_mode & 0666);
		pl_sq_give_to_dir_owner(p);
	}
	snprintf(ids_for, sizeof ids_for, "%s", st->path);
	return ids_fd;
}

/* The highest id given in st's database file that this process knows of:
 * its own, or DB.ids's. */
static int64_t ids_floor(const struct pl_store *st, struct ids_file *seen)
{
	int64_t top;
	int fd;

	pthread_mutex_lock(&top_mu);
	top = same_db(st) ? top_id : 0;
	memset(seen, 0, sizeof *seen);
	if ((fd = ids_open(st, 0)) >= 0 && ids_read(fd, st, seen) == 1 && seen->rec.top > top)
		top = seen->rec.top;
	pthread_mutex_unlock(&top_mu);
	return top;
}

/* DB.ids as the commit under way read it (seen), with top as the highest
 * id and n more messages in this second (n = 0: the seconds as they were,
 * for a COMMIT that failed). One pwrite, as the record alone was. */
static void ids_write(const struct pl_store *st, const struct ids_file *seen, int64_t top, int64_t n)
{
	struct ids_file f = *seen;
	int fd;

	pthread_mutex_lock(&top_mu);
	f.rec = (struct ids_rec){ (uint64_t)st->id[0].dev, (uint64_t)st->id[0].ino, st->born, top, 0 };
	f.rec.sum = ids_sum(&f.rec);
	if (n > 0) {
		int64_t sec = pl_now_ms() / 1000;
		struct ids_slot *sl = &f.slot[(uint64_t)sec % IDS_SECS];

		if (sl->sec != sec || sl->sum != slot_sum(sl))
			*sl = (struct ids_slot){ sec, 0, 0 };
		sl->n += n;
		sl->sum = slot_sum(sl);
		f.counted = top;
		f.counted_sum = counted_sum(top);
	}
	if ((fd = ids_open(st, 1)) >= 0 && pwrite(fd, &f, sizeof f, 0) != (ssize_t)sizeof f)
		ids_fault(st, "write");
	pthread_mutex_unlock(&top_mu);
}

/* After a COMMIT that failed: DB.ids as it was before this commit wrote
 * top there, but only while it still holds what this commit wrote. A
 * COMMIT that fails may roll back and let the write lock go (a full disk),
 * and another process may have committed and written since. */
static void ids_write_back(const struct pl_store *st, const struct ids_file *seen, int64_t floor, int64_t top)
{
	struct ids_file now;
	int fd, ours;

	pthread_mutex_lock(&top_mu);
	ours = (fd = ids_open(st, 0)) >= 0 && ids_read(fd, st, &now) == 1 && now.rec.top == top;
	pthread_mutex_unlock(&top_mu);
	if (ours)
		ids_write(st, seen, floor, 0);
}

int64_t pl_sq_minute_count(const struct pl_store *st, int64_t now)
{
	char p[PATH_MAX];
	struct ids_file f;
	int64_t sum = -1;
	int fd, n = snprintf(p, sizeof p, "%s.ids", st->path);

	if (n < 0 || (size_t)n >= sizeof p || (fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0)
		return -1;
	/* Read without the write lock: a commit rewriting the file can tear
	 * a second's count as well as the record; read again then. */
	for (int tries = 0; tries < 5 && sum < 0; tries++) {
		if (ids_read(fd, st, &f) != 1)
			break;  /* no record of this file */
		/* the count of an earlier commit than the record's (torn), or
		 * commits counted in no second (an older binary's) */
		if (f.counted_sum != counted_sum(f.counted) || f.counted != f.rec.top)
			continue;
		sum = 0;
		for (size_t i = 0; i < IDS_SECS && sum >= 0; i++) {
			if (f.slot[i].sum != slot_sum(&f.slot[i])) {
				if (f.slot[i].sec || f.slot[i].n || f.slot[i].sum)
					sum = -1;       /* torn (never written: zeros) */
			} else if (f.slot[i].sec > now - 60 && f.slot[i].sec <= now)
				sum += f.slot[i].n;
		}
	}
	close(fd);
	return sum;
}

/* After a commit whose highest id is top. */
static void note_top(const struct pl_store *st, int64_t top)
{
	pthread_mutex_lock(&top_mu);
	if (!same_db(st)) {
		top_db = st->id[0];
		top_born = st->born;
		top_id = 0;
	}
	if (top > top_id)
		top_id = top;
	pthread_mutex_unlock(&top_mu);
}

/* Inside the write transaction, before the inserts: the sequence raised
 * to floor when it is behind. */
static int keep_above(struct pl_store *st, int64_t floor)
{
	int64_t head;
	int rc, ok;

	if (floor <= 0)
		return PL_OK;
	if ((rc = pl_sq_read_int(st, S_HEAD, 0, 0, &head)) != PL_OK || head >= floor)
		return rc;
	sqlite3_bind_int64(st->st[S_SEQ_RAISE], 1, floor);
	sqlite3_bind_int64(st->st[S_SEQ_ADD], 1, floor);
	ok = sqlite3_step(st->st[S_SEQ_RAISE]) == SQLITE_DONE && sqlite3_step(st->st[S_SEQ_ADD]) == SQLITE_DONE;
	sqlite3_reset(st->st[S_SEQ_RAISE]);
	sqlite3_reset(st->st[S_SEQ_ADD]);
	if (!ok)
		return pl_sq_rc(st, "raise the sequence");
	pl_log_warn("%s: ids up to %lld were given in this database, its sequence is at %lld (its -wal was "
		    "removed, or a backup restored into it; messages after the backup or committed in that "
		    "-wal are gone): new ids continue above %lld", st->path, (long long)floor, (long long)head,
		    (long long)floor);
	return PL_OK;
}

void pl_sq_keep_ids(struct pl_store *st)
{
	struct ids_file seen;
	int64_t floor, head;

	/* Opened again after the files changed: DB.ids may be a new file
	 * too, and the one this process holds open a removed one. */
	pthread_mutex_lock(&top_mu);
	ids_let_go();
	pthread_mutex_unlock(&top_mu);
	floor = ids_floor(st, &seen);
	/* Read first, outside a write transaction: the common opening
	 * writes nothing. */
	if (floor <= 0 || pl_sq_read_int(st, S_HEAD, 0, 0, &head) != PL_OK || head >= floor ||
	    pl_sq_write_begin(st) != PL_OK)
		return;
	if (keep_above(st, floor) != PL_OK || pl_sq_commit(st) != PL_OK)
		pl_sq_txn_end(st, 0);
}

int pl_store_publish_v(struct pl_store *st, struct pl_msgv *v, size_t nv)
{
	struct ids_file seen;
	int64_t floor, first, top;
	int rc;

	/* The sequence is behind only after a fault: the common commit reads
	 * no more than DB.ids, and sees it from its first id. */
	for (int again = 0;; again = 1) {
		if ((rc = pl_sq_write_begin(st)) != PL_OK)
			return rc;
		floor = ids_floor(st, &seen);
		rc = again ? keep_above(st, floor) : PL_OK;
		if (rc == PL_OK)
			rc = created_in_order(st, v, nv);
		first = top = 0;
		for (size_t k = 0; k < nv && rc == PL_OK; k++)
			for (size_t i = 0; i < v[k].n && rc == PL_OK; i++) {
				rc = insert_one(st, &v[k].m[i]);
				top = v[k].m[i].id;
				if (!first)
					first = top;
			}
		if (rc != PL_OK || again || first == 0 || first > floor)
			break;
		pl_sq_txn_end(st, 0);
	}
	if (rc == PL_OK && top > 0) {
		int64_t n = 0;

		for (size_t k = 0; k < nv; k++)
			n += (int64_t)v[k].n;
		ids_write(st, &seen, top, n);
		if ((rc = pl_sq_commit(st)) != PL_OK)
			ids_write_back(st, &seen, floor, top);  /* not given */
	} else if (rc == PL_OK) {
		rc = pl_sq_commit(st);
	}
	if (rc != PL_OK) {
		pl_sq_txn_end(st, 0);
	} else {
		pl_sq_ok();
		note_top(st, top);
		wake_waiters(st);
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
	if ((rc = pl_sq_write_begin(st)) != PL_OK)
		return rc;
	for (size_t i = 0; i < n && rc == PL_OK; i++) {
		sqlite3_bind_int64(s, 1, ms ? ms[i] : now_ms);
		sqlite3_bind_int64(s, 2, ids[i]);
		if (sqlite3_step(s) != SQLITE_DONE)
			rc = pl_sq_rc(st, "mark delivered");
		sqlite3_reset(s);
	}
	if (rc == PL_OK)
		rc = pl_sq_commit(st);
	if (rc != PL_OK) {
		pl_sq_txn_end(st, 0);
		return rc;
	}
	/* Marked now, here or (unseen by the cache) earlier by another
	 * connection: either way the cached row need not ask again. */
	for (size_t i = 0; i < n; i++)
		pl_sq_cache_got(st, ids[i], ms ? ms[i] : now_ms);
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
	if (!wait && m->retry_at && pl_mono_ms() < m->retry_at)
		return PL_EBUSY;
	st->no_wait = !wait;
	rc = mark_got(st, m->id, m->ms, m->n, 0);
	st->no_wait = 0;
	if (rc == PL_EBUSY && !wait) {
		m->retry_at = pl_mono_ms() + PL_MARKS_RETRY_MS;
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
		topic = pl_sq_col_text(d, 0);
		user = pl_sq_col_text(d, 1);
		r = sqlite3_step(d);
	}
	sqlite3_reset(d);
	*found = topic != NULL;
	if (r != SQLITE_DONE) {
		rc = pl_sq_rc(st, "delete");
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
			rc = pl_sq_rc(st, "delete path");
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

	if ((rc = pl_sq_write_begin(st)) != PL_OK)
		return rc;
	for (size_t i = 0; i < n && rc == PL_OK; i++) {
		rc = delete_in_txn(st, ids[i], &found);
		batch += found;
	}
	if (rc == PL_OK)
		rc = pl_sq_commit(st);
	if (rc != PL_OK) {
		pl_sq_txn_end(st, 0);
	} else {
		*deleted += batch;
		if (batch)
			wake_waiters(st);
	}
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
		if ((rc = pl_store_query(st, &g, &res)) != PL_OK)
			break;
		/* A cursor past the head lists from the start (reset); a delete
		 * does not: it names nothing that exists. */
		if (res.reset)
			break;
		n = res.n;
		for (size_t i = 0; i < n; i++)
			ids[i] = res.rows[i].id;
		if (n && (rc = delete_ids(st, ids, n, deleted)) != PL_OK)
			break;
		/* more with no row: the look passed over PL_EXAMINE_MAX rows
		 * that do not match, and goes on after them. */
		if (!res.more)
			break;
		g.since = PL_SINCE_ID;
		g.since_id = res.cursor;
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
	int64_t oldest, first, prev, head;
	int rc;

	memset(s, 0, sizeof *s);
	if ((rc = pl_sq_read_begin(st)) != PL_OK)
		return rc;
	if ((rc = pl_sq_read_int(st, S_COUNT, 0, 0, &s->rows)) != PL_OK ||
	    (rc = pl_sq_read_int(st, S_OLDEST, 0, 0, &oldest)) != PL_OK ||
	    (rc = pl_sq_read_int(st, S_NEWEST, 0, 0, &s->newest_id)) != PL_OK ||
	    (rc = pl_sq_read_int(st, S_HEAD, 0, 0, &head)) != PL_OK)
		goto out;
	s->oldest_id = oldest;
	s->last_id = head;
	if ((s->publishes_last_minute = pl_sq_minute_count(st, pl_now_ms() / 1000)) >= 0)
		goto out;
	s->publishes_last_minute = 0;
	/* Without DB.ids's count (a database last written by an older
	 * version): ids are given in commit order and never reused, so the
	 * ids after the last message kept from before the minute were all
	 * published in it, also those deleted since (a count of rows would
	 * miss them). Without such a message, count from the first one of
	 * the minute. */
	if (oldest && (rc = pl_sq_first_created(st, oldest, head, pl_now_ms() - 60000, &first)) == PL_OK) {
		if ((rc = pl_sq_read_int(st, S_PREV_ID, first, 1, &prev)) != PL_OK)
			goto out;
		if (first > head)
			s->publishes_last_minute = 0;
		else
			s->publishes_last_minute = head - (prev ? prev : first - 1);
	}
out:
	pl_sq_txn_end(st, 1);
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
	return r == SQLITE_DONE ? PL_OK : pl_sq_rc(st, pl_sq_text[which]);
}

/* Delete batches of ids chosen by `which` until none is left. Each batch is
 * its own short write transaction, so publishers wait for at most one
 * batch. Every choice is a fixed set of rows (expired at now, below an id),
 * so a second purge at once shares the work instead of adding to it.
 *
 * After each batch the purge stays away from the lock for as long as the
 * batch took, its wait for the lock included (PURGE_PAUSE_MIN_US at least).
 * Without the pause the lock was free only while the next batch's ids were
 * read, a fraction of a millisecond: with two purges at once (SPEC 6 allows
 * it) one of them nearly always held or wanted it, and a publish on one
 * connection ran at 0.04 of its rate without purge, p99 40 ms, some over
 * 100 ms (docs/benchmarks.md). The pause makes a purge longer, never a
 * publish. */
#define PURGE_PAUSE_MIN_US 1000
#define PURGE_PAUSE_MAX_US 100000
static int purge_loop(struct pl_store *st, const struct pl_purge *p, int which, int64_t arg, int64_t *count)
{
	int64_t ids[PL_LIMIT_MAX];
	int batch = p->batch > 0 && p->batch <= PL_LIMIT_MAX ? p->batch : 200;
	int rc = PL_OK;

	for (;;) {
		size_t n;
		int64_t before = *count, held;

		if ((rc = collect_ids(st, which, arg, batch, ids, &n)) != PL_OK || n == 0)
			break;
		held = pl_mono_us();
		if ((rc = delete_ids(st, ids, n, count)) != PL_OK)
			break;
		held = pl_mono_us() - held;
		usleep((useconds_t)(held < PURGE_PAUSE_MIN_US ? PURGE_PAUSE_MIN_US
				: held > PURGE_PAUSE_MAX_US ? PURGE_PAUSE_MAX_US : held));
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

	if ((rc = pl_sq_read_int(st, S_COUNT_EXPIRED, p->now_ms, 1, &out->expired)) != PL_OK)
		return rc;
	if (p->max_age >= 0 && (rc = pl_sq_read_int2(st, S_COUNT_OLD_LIVE, cut, p->now_ms, &out->over_age)) != PL_OK)
		return rc;
	if (p->max_rows >= 0) {
		if ((rc = pl_sq_read_int(st, S_COUNT, 0, 0, &rows)) != PL_OK)
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
	st->patient = 1;
	if ((rc = pl_sq_read_begin(st)) != PL_OK)
		goto out;
	if ((rc = pl_sq_read_int(st, S_OLDEST, 0, 0, &oldest)) != PL_OK ||
	    (rc = pl_sq_read_int(st, S_HEAD, 0, 0, &head)) != PL_OK)
		goto out;
	if (p->max_age >= 0 && oldest &&
	    (rc = pl_sq_first_created(st, oldest, head, p->now_ms - p->max_age * 1000, &cut)) != PL_OK)
		goto out;
	if (p->dry_run) {
		rc = purge_count(st, p, cut, out);
		goto out;
	}
	pl_sq_txn_end(st, 1);
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

		if ((rc = pl_sq_read_begin(st)) != PL_OK)
			goto out;
		if (p->max_rows == 0) {
			rc = pl_sq_read_int(st, S_HEAD, 0, 0, &upto);
		} else {
			rc = pl_sq_read_int(st, S_NTH_NEWEST, p->max_rows - 1, 1, &upto);
			upto--;     /* the oldest id kept, less one; 0 (-1) when fewer rows */
		}
		pl_sq_txn_end(st, 1);
		if (rc != PL_OK)
			goto out;
		if (upto > 0 && (rc = purge_loop(st, p, S_IDS_UPTO, upto, &out->over_rows)) != PL_OK)
			goto out;
	}
	/* PASSIVE: never waits for readers, so it never holds up publishers.
	 * BUSY means another checkpoint (a second purge) is doing the work. */
	if ((rc = pl_sq_shm_writable(st, "checkpoint")) == PL_OK) {
		int r = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		if (r != SQLITE_OK && r != SQLITE_BUSY && r != SQLITE_LOCKED)
			rc = pl_sq_rc(st, "checkpoint");
	}
out:
	pl_sq_txn_end(st, 1);
	st->patient = 0;
	return rc;
}
