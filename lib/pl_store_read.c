/* pl_store_read.c: the SQLite backend of pl_store.h: answering subscriptions.
 *
 * A subscription is answered from one read snapshot: the head id, the oldest
 * id and the rows, so the cursor handed back covers exactly what was
 * examined. Far behind the head the rows come from the message_paths index
 * (see sql/schema.sql), one id-ordered range per (topic, user key), merged;
 * near the head, from a short primary-key range. Both are filtered by
 * pl_filter_match(), the one check that keeps a user's message from anyone
 * else. */
#include "pl_first.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "pl_log.h"
#include "pl_store.h"
#include "pl_store_sqlite.h"
#include "pl_topic.h"
#include "pl_util.h"

/* Below this many ids between cursor and head, a primary-key range is
 * cheaper than merging index ranges. */
#define SCAN_WINDOW 512

/* One range of the path index, ids only (the index covers it): each row
 * then comes from the row cache, or by id from the table. */
static const char path_sql[] =
	"SELECT id FROM message_paths WHERE path = ? AND user = ? AND id > ? ORDER BY id";

/* The same range for every user key at once (the admin view without
 * user=): the index is not in id order across users, so SQLite sorts the
 * topic's entries after the cursor; only the admin asks for it, and only
 * when a scan of the table met too many rows of other topics. */
static const char path_any_sql[] =
	"SELECT id FROM message_paths WHERE path = ?1 AND id > ?3 ORDER BY id";

/* The row cache. A stored message never changes (only last_get, which only
 * the admin view shows and which bypasses the cache), and ids are never
 * reused while this connection holds the file open (but for a backup
 * restored into it: pl_store_query() empties the cache when it sees the
 * head go back), so a row read once can
 * answer every later subscription that the index says it belongs to. It is
 * what makes a user's inbox, read again at each page load, cheap: reading 50
 * rows by id from a large table is most of the work of such an answer.
 * Direct-mapped by id; bounded in bytes (2 MB per connection: poll, longpoll
 * and stream each use one); one per connection, and a connection is used by
 * one thread at a time, so no lock. */
#define CACHE_SLOTS 4096                /* a power of two */
#define CACHE_BYTES (2 * 1024 * 1024)
#define CACHE_ROW_MAX (16 * 1024)       /* larger rows are read each time */

struct pl_sq_cached {
	struct pl_row row;
	size_t size;
};

/* ---- rows and results ---- */

char *pl_sq_col_text(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? pl_xstrndup((const char *)t, (size_t)sqlite3_column_bytes(s, i)) : NULL;
}

/* The strings of a row, in struct order; NULL for an absent one. */
enum { F_TOPIC, F_USER, F_CLIENTS, F_TYPE, F_SRC, F_TARGET, F_BODY, F_N };

/* Copy the strings into one block (r->mem), so that a row costs one malloc and
 * one free: an answer carries up to a few hundred rows. */
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

/* The stored body as pushlite writes it: an object with a field in it
 * ("{}" would make the answer's {"id":N,} invalid). */
static int body_framed(const char *b, size_t n)
{
	return b && n >= 3 && b[0] == '{' && b[n - 1] == '}';
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
	if (!v[F_TOPIC] || v[F_TOPIC][0] != '/') {
		v[F_TOPIC] = "/";
		len[F_TOPIC] = 1;
	}
	if (!body_framed(v[F_BODY], len[F_BODY])) {
		/* Not a row pushlite wrote (another program's, a repair gone
		 * wrong): its fields, with data null, rather than a broken
		 * answer for every subscriber whose answer holds it. */
		struct pl_buf b = { 0 };
		struct pl_msg m = {
			.topic = v[F_TOPIC], .user = v[F_USER], .type = v[F_TYPE], .src = v[F_SRC],
			.target = v[F_TARGET], .created = r->created, .expires = r->expires,
		};

		if (v[F_CLIENTS] && v[F_CLIENTS][strspn(v[F_CLIENTS], "abcdefghijklmnopqrstuvwxyz0123456789_-,")] == '\0')
			m.clients = v[F_CLIENTS];
		pl_msg_body(&m, &b);
		v[F_BODY] = b.p;
		len[F_BODY] = b.len;
		row_pack(r, v, len);
		pl_buf_free(&b);
		return;
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

static struct pl_sq_cached *cache_find(const struct pl_store *st, int64_t id)
{
	struct pl_sq_cached *c = st->cache ? st->cache[cache_slot(id)] : NULL;

	return c && c->row.id == id ? c : NULL;
}

void pl_sq_cache_got(struct pl_store *st, int64_t id, int64_t ms)
{
	struct pl_sq_cached *c = cache_find(st, id);

	if (c && !c->row.last_get)
		c->row.last_get = ms;
}

static const struct pl_row *cache_get(const struct pl_store *st, int64_t id)
{
	const struct pl_sq_cached *c = cache_find(st, id);

	return c ? &c->row : NULL;
}

static void cache_drop(struct pl_store *st, size_t slot)
{
	struct pl_sq_cached *c = st->cache[slot];

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
	struct pl_sq_cached *c;

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

void pl_sq_cache_free(struct pl_store *st)
{
	if (!st->cache)
		return;
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		cache_drop(st, i);
	free(st->cache);
	st->cache = NULL;
}

/* The rows gathered so far, and what was counted of them; not the flags
 * and cursors of the answer. */
static void result_rows_reset(struct pl_result *res)
{
	for (size_t i = 0; i < res->n; i++)
		pl_row_free(&res->rows[i]);
	res->n = 0;
	res->bytes = 0;
	res->over = 0;
	res->passed = 0;
	res->foreign = 0;
	res->stopped = 0;
}

/* One of the filter's topics is "/": every row is of its topics. */
static int covers_all(const struct pl_filter *f)
{
	for (size_t t = 0; t < f->ntopics; t++)
		if (!strcmp(f->topics[t], "/"))
			return 1;
	return 0;
}

void pl_result_reset(struct pl_result *res)
{
	result_rows_reset(res);
	res->ngot = 0;
	res->cursor = res->head = res->oldest = 0;
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

/* A row passed over for its topic, not for its other fields: what the
 * admin view's fallback (pl_store_query) is for. */
static int topic_foreign(const struct pl_filter *f, const char *topic)
{
	for (size_t i = 0; i < f->ntopics; i++)
		if (pl_topic_under(topic, f->topics[i]))
			return 0;
	return 1;
}

/* Count a row that did not match; 1 when it was the PL_EXAMINE_MAX-th, at
 * which the look stops (res->stopped). The one count of passed rows, in
 * the statement (pl_pass()) or after it (consider()). */
static int pass_over(const struct pl_filter *f, struct pl_result *res, int64_t id, const char *topic)
{
	res->foreign += topic_foreign(f, topic);
	if (++res->passed >= PL_EXAMINE_MAX)
		res->stopped = id;
	return res->stopped != 0;
}

/* ---- reading ---- */

/* A count with two bound integers. */
int pl_sq_read_int2(struct pl_store *st, int which, int64_t a, int64_t b, int64_t *out)
{
	sqlite3_bind_int64(st->st[which], 2, b);
	return pl_sq_read_int(st, which, a, 1, out);
}

int pl_sq_read_int(struct pl_store *st, int which, int64_t arg, int has_arg, int64_t *out)
{
	sqlite3_stmt *s = st->st[which];
	int r;

	if (has_arg)
		sqlite3_bind_int64(s, 1, arg);
	r = sqlite3_step(s);
	*out = (r == SQLITE_ROW) ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return (r == SQLITE_ROW || r == SQLITE_DONE) ? PL_OK : pl_sq_rc(st, pl_sq_text[which]);
}

/* Smallest id whose created >= t_ms, by bisection over ids: created grows
 * with id (both follow commit order), so no index on created is needed. */
int pl_sq_first_created(struct pl_store *st, int64_t lo, int64_t hi, int64_t t_ms, int64_t *out)
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
			return pl_sq_rc(st, "bisect created");
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

/* What pl_pass() of one query works with, bound to its ?2 as a pointer of
 * this type: the filter, and the result whose passed rows it counts. */
struct pass_ctx {
	const struct pl_filter *f;
	struct pl_result *res;
	int64_t now;
};
#define PASS_TYPE "pl_pass_ctx"

/* A row that does not match is passed over here, inside the statement,
 * before its body is read: a filter that matches nothing (type=, client=,
 * another user's messages near the head) would otherwise read every body
 * it passes, up to PL_EXAMINE_MAX of max_body each, for an empty answer.
 * The row that reaches PL_EXAMINE_MAX is let through, counted, so that the
 * step returns and consider() stops the look there. */
void pl_sq_pass_fn(sqlite3_context *cx, int argc, sqlite3_value **v)
{
	struct pass_ctx *p = sqlite3_value_pointer(v[0], PASS_TYPE);
	struct pl_row r;

	(void)argc;
	if (!p) {
		/* nothing bound: pl_filter_match() after the step decides */
		sqlite3_result_int(cx, 1);
		return;
	}
	memset(&r, 0, sizeof r);
	r.id = sqlite3_value_int64(v[1]);
	/* as row_read() reads them: a foreign row without a topic is "/" */
	r.topic = (char *)sqlite3_value_text(v[2]);
	if (!r.topic || r.topic[0] != '/')
		r.topic = (char *)"/";
	r.user = (char *)sqlite3_value_text(v[3]);
	r.clients = (char *)sqlite3_value_text(v[4]);
	r.type = (char *)sqlite3_value_text(v[5]);
	r.src = (char *)sqlite3_value_text(v[6]);
	r.target = (char *)sqlite3_value_text(v[7]);
	r.expires = sqlite3_value_int64(v[8]);
	r.last_get = sqlite3_value_int64(v[9]);
	if (pl_filter_match(p->f, &r, p->now)) {
		sqlite3_result_int(cx, 1);
		return;
	}
	sqlite3_result_int(cx, pass_over(p->f, p->res, r.id, r.topic));
}

/* Row id with the body only when pl_pass() lets it through (p NULL: the
 * plain read by id): PL_ENOTFOUND when there is none or it was passed over. */
static int fetch_row_if(struct pl_store *st, int64_t id, struct pl_row *r, struct pass_ctx *p)
{
	sqlite3_stmt *s = st->st[p ? S_ROW_IF : S_ROW];
	int rc;

	sqlite3_bind_int64(s, 1, id);
	if (p)
		sqlite3_bind_pointer(s, 2, p, PASS_TYPE, NULL);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		row_read(r, s);
	sqlite3_reset(s);
	/* the pointer lives on the caller's stack */
	if (p)
		sqlite3_bind_null(s, 2);
	if (rc == SQLITE_ROW)
		return PL_OK;
	return rc == SQLITE_DONE ? PL_ENOTFOUND : pl_sq_rc(st, "read row");
}

static int fetch_row(struct pl_store *st, int64_t id, struct pl_row *r)
{
	return fetch_row_if(st, id, r, NULL);
}

/* Keep r if it matches; returns 1 when the answer is full: limit+1 rows,
 * or a row past f->max_bytes (PL_ANSWER_BYTES) after the first (the extra row is dropped
 * and more is set). */
static int consider(const struct pl_filter *f, struct pl_result *res, struct pl_row *r, int64_t now)
{
	if (!pl_filter_match(f, r, now)) {
		/* the row pl_pass() stopped at is counted already */
		if (res->stopped != r->id)
			pass_over(f, res, r->id, r->topic);
		pl_row_free(r);
		return res->stopped != 0;
	}
	*result_push(res) = *r;
	res->bytes += r->body_len;
	if (res->n > 1 && res->bytes > (f->max_bytes ? f->max_bytes : PL_ANSWER_BYTES)) {
		res->over = 1;
		return 1;
	}
	return res->n > (size_t)f->limit;
}

static int query_scan(struct pl_store *st, const struct pl_filter *f, int64_t cursor,
		      struct pl_result *res, int64_t now)
{
	sqlite3_stmt *s = st->st[S_SCAN_IF];
	struct pass_ctx pass = { f, res, now };
	int r, rc = PL_OK;

	sqlite3_bind_int64(s, 1, cursor);
	sqlite3_bind_pointer(s, 2, &pass, PASS_TYPE, NULL);
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		struct pl_row row;

		memset(&row, 0, sizeof row);
		row_read(&row, s);
		if (consider(f, res, &row, now))
			break;
	}
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		rc = pl_sq_rc(st, "scan");
	sqlite3_reset(s);
	sqlite3_bind_null(s, 2);
	return rc;
}

static sqlite3_stmt *path_stmt(struct pl_store *st, size_t i, int any_user)
{
	sqlite3_stmt **s = any_user ? &st->paths_any[i] : &st->paths[i];

	if (!*s && sqlite3_prepare_v3(st->db, any_user ? path_any_sql : path_sql, -1, SQLITE_PREPARE_PERSISTENT, s,
				      NULL) != SQLITE_OK)
		return NULL;
	return *s;
}

/* The row of an id the index named, from the cache when it holds it. The
 * admin view reads the table: it shows last_get, the one field that changes. */
static int merge_row(struct pl_store *st, struct pass_ctx *pass, int64_t id, struct pl_row *row)
{
	const struct pl_filter *f = pass->f;
	const struct pl_row *c = f->admin ? NULL : cache_get(st, id);
	int rc;

	if (c) {
		row_copy(row, c);
		return PL_OK;
	}
	memset(row, 0, sizeof *row);
	/* A row passed over is no row here (PL_ENOTFOUND): it is counted. */
	if ((rc = fetch_row_if(st, id, row, pass)) == PL_OK && !f->admin)
		cache_put(st, row);
	return rc;
}

/* Merge the id-ordered index ranges of every (topic, user key) pair. */
static int query_merge(struct pl_store *st, const struct pl_filter *f, int64_t cursor,
		       struct pl_result *res, int64_t now)
{
	const char *keys[2];
	size_t nkeys = 0, ns = 0;
	struct pass_ctx pass = { f, res, now };
	sqlite3_stmt *ss[2 * PL_MAX_TOPICS];
	int64_t cur[2 * PL_MAX_TOPICS];
	int rc = PL_OK;

	if (f->admin) {
		keys[nkeys++] = f->user_filter;     /* NULL: every user's */
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
			sqlite3_stmt *s = path_stmt(st, ns, keys[k] == NULL);
			int r;

			if (!s) {
				rc = pl_sq_rc(st, "prepare path");
				goto out;
			}
			sqlite3_bind_text(s, 1, f->topics[t], -1, SQLITE_STATIC);
			if (keys[k])
				sqlite3_bind_text(s, 2, keys[k], -1, SQLITE_STATIC);
			sqlite3_bind_int64(s, 3, cursor);
			ss[ns] = s;
			r = sqlite3_step(s);
			if (r == SQLITE_ROW) {
				cur[ns++] = sqlite3_column_int64(s, 0);
			} else {
				sqlite3_reset(s);
				if (r != SQLITE_DONE) {
					rc = pl_sq_rc(st, "path range");
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
				if ((rc = merge_row(st, &pass, min, &row)) == PL_ENOTFOUND)
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
				rc = pl_sq_rc(st, "path range");
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
	/* Stopped at the last entry of every range: all was looked at. */
	if (ns == 0)
		res->stopped = 0;
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
	if ((rc = pl_sq_read_begin(st)) != PL_OK)
		return rc;
	/* The head and the rows come from this one snapshot. */
	if ((rc = pl_sq_read_int(st, S_HEAD, 0, 0, &head)) != PL_OK ||
	    (rc = pl_sq_read_int(st, S_OLDEST, 0, 0, &oldest)) != PL_OK)
		goto out;
	/* The ids went back: a backup was restored into the file (sqlite3
	 * .restore), and the ids after its head will be given again to other
	 * messages. What the cache holds of them is no longer theirs. */
	if (head < st->head_seen)
		pl_sq_cache_free(st);
	st->head_seen = head;
	switch (f->since) {
	case PL_SINCE_ALL:
		cursor = 0;
		break;
	case PL_SINCE_NOW:
		cursor = head;
		if (f->now_from_ms > 0 && oldest != 0) {
			int64_t first;
			if ((rc = pl_sq_first_created(st, oldest, head, f->now_from_ms, &first)) != PL_OK)
				goto out;
			cursor = first - 1;
		}
		break;
	case PL_SINCE_AGE:
		if (oldest == 0) {
			cursor = head;
		} else {
			int64_t first;
			if ((rc = pl_sq_first_created(st, oldest, head, now - f->since_age * 1000, &first)) != PL_OK)
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
		int admin_all = f->admin && !f->user_filter;

		if (admin_all || head - cursor <= SCAN_WINDOW)
			rc = query_scan(st, f, cursor, res, now);
		else
			rc = query_merge(st, f, cursor, res, now);
		/* The admin view reads the table in id order, which is cheap
		 * while most rows are of its topics. A topic with few messages
		 * in a large table would stop there after PL_EXAMINE_MAX rows of
		 * other topics, and answer an empty page with more (the list of
		 * a topic's 3 messages empty behind 10,000 of another's): then
		 * it reads the topics' own index entries instead, where only
		 * rows of its topics are passed over. Only when most rows passed
		 * over were of other topics: that read sorts all of the topics'
		 * entries after the cursor, and for a filter that passes over
		 * the topic's own rows (type=) it would stop again, having paid
		 * for the sort at every page of a large topic. */
		if (rc == PL_OK && admin_all && res->stopped && !covers_all(f) &&
		    res->foreign > res->passed / 2) {
			result_rows_reset(res);
			rc = query_merge(st, f, cursor, res, now);
		}
		if (rc != PL_OK)
			goto out;
	}
	res->head = head;
	if (res->n > (size_t)f->limit || res->over) {
		pl_row_free(&res->rows[--res->n]);
		res->more = 1;
		res->cursor = res->rows[res->n - 1].id;
	} else if (res->stopped && res->stopped < head) {
		/* Passed over too many rows: what was found, and more to look
		 * at after it; with nothing found, after the row it stopped at
		 * (each one up to there was looked at and did not match). Stopped
		 * at the head, it looked at everything there is: no more, and
		 * a longpoll waits rather than answer an empty page at once. */
		res->more = 1;
		res->cursor = res->n ? res->rows[res->n - 1].id : res->stopped;
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
	pl_sq_txn_end(st, 1);
	if (rc != PL_OK)
		pl_result_reset(res);
	return rc;
}

int pl_store_tail(struct pl_store *st, int64_t after, size_t max, struct pl_result *res)
{
	sqlite3_stmt *s = st->st[S_SCAN];
	int r = SQLITE_DONE, rc;

	pl_result_reset(res);
	if (max == 0)
		return PL_EINVAL;
	if ((rc = pl_sq_read_begin(st)) != PL_OK)
		return rc;
	if ((rc = pl_sq_read_int(st, S_HEAD, 0, 0, &res->head)) != PL_OK ||
	    (rc = pl_sq_read_int(st, S_OLDEST, 0, 0, &res->oldest)) != PL_OK)
		goto out;
	sqlite3_bind_int64(s, 1, after);
	/* A burst of large messages is read in parts too (PL_ANSWER_BYTES). */
	while (res->n < max && res->bytes <= PL_ANSWER_BYTES && (r = sqlite3_step(s)) == SQLITE_ROW) {
		row_read(result_push(res), s);
		res->bytes += res->rows[res->n - 1].body_len;
	}
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		rc = pl_sq_rc(st, "tail");
	sqlite3_reset(s);
	res->more = res->n == max || res->bytes > PL_ANSWER_BYTES;
	res->cursor = res->more ? res->rows[res->n - 1].id : (res->head > after ? res->head : after);
out:
	pl_sq_txn_end(st, 1);
	if (rc != PL_OK)
		pl_result_reset(res);   /* no half answer, as pl_store_query */
	return rc;
}

int pl_store_head(struct pl_store *st, int64_t *head)
{
	return pl_sq_read_int(st, S_HEAD, 0, 0, head);
}

int pl_store_newest(struct pl_store *st, int64_t *newest, int64_t *head)
{
	int rc;

	*newest = *head = 0;
	if ((rc = pl_sq_read_begin(st)) != PL_OK)
		return rc;
	if ((rc = pl_sq_read_int(st, S_NEWEST, 0, 0, newest)) == PL_OK)
		rc = pl_sq_read_int(st, S_HEAD, 0, 0, head);
	pl_sq_txn_end(st, 1);
	return rc;
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
