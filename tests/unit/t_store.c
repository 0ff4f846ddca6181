/* t_store.c: the SQLite store against SPEC sections 2, 4 and 10
 *
 * A real database in a temporary directory. Cursor semantics (more, cursor,
 * reset, gap), exactly-once paging also while another process publishes,
 * user isolation and the clients/type filters on both read paths (the
 * primary-key range near the head and the message_paths merge far from it),
 * expiry, purge, delete, last_get, id reuse, and the query plans of the hot
 * statements. Includes the backend's three files for its connection, SQL
 * text and row cache. */
/* Set small by t_answer_bytes, so that answers cut by size are seen with
 * small messages. */
#include <stddef.h>
static size_t answer_bytes = 64u << 20;
#define PL_ANSWER_BYTES answer_bytes
#include "pl_store.c"
#include "pl_store_read.c"
#include "pl_store_write.c"

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pl_out.h"
#include "tap.h"

static char dir[256];
static struct pl_conf conf;
static int dbno;

static struct pl_store *open_fresh(void)
{
	struct pl_store *st = NULL;
	char path[300];

	snprintf(path, sizeof path, "%s/db%d.sqlite", dir, ++dbno);
	free(conf.db_path);
	conf.db_path = pl_xstrdup(path);
	if (pl_store_open(&st, &conf) != PL_OK) {
		fprintf(stderr, "cannot open %s\n", path);
		exit(2);
	}
	return st;
}

/* Publish one message; created = now + created_off_ms, expires = created + ttl_ms. */
static int64_t pub_at(struct pl_store *st, const char *topic, const char *user, const char *clients,
		      const char *type, int64_t created_off_ms, int64_t ttl_ms)
{
	struct pl_msg m;
	struct json_object *d = json_object_new_string(topic);
	int rc;

	memset(&m, 0, sizeof m);
	m.topic = topic;
	m.user = user;
	m.clients = clients;
	m.type = type;
	m.data = d;
	m.created = pl_now_ms() + created_off_ms;
	m.expires = m.created + ttl_ms;
	rc = pl_store_publish(st, &m, 1);
	json_object_put(d);
	return rc == PL_OK ? m.id : -1;
}

static int64_t pub(struct pl_store *st, const char *topic, const char *user, const char *clients, const char *type)
{
	return pub_at(st, topic, user, clients, type, 0, 3600 * 1000);
}

/* n messages on topic in one transaction. */
static int pub_many(struct pl_store *st, const char *topic, size_t n)
{
	struct pl_msg *m = pl_xcalloc(n, sizeof *m);
	struct json_object *d = json_object_new_int(1);
	int64_t now = pl_now_ms();
	int rc;

	for (size_t i = 0; i < n; i++) {
		m[i].topic = topic;
		m[i].data = d;
		m[i].created = now;
		m[i].expires = now + 3600 * 1000;
	}
	rc = pl_store_publish(st, m, n);
	json_object_put(d);
	free(m);
	return rc;
}

static void filt(struct pl_filter *f, const char *topics, enum pl_since since, int64_t since_id, int limit)
{
	static char buf[512];
	char *save = NULL;

	memset(f, 0, sizeof *f);
	snprintf(buf, sizeof buf, "%s", topics);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		f->topics[f->ntopics++] = t;
	f->since = since;
	f->since_id = since_id;
	f->limit = limit;
}

/* The ids of res as "1,2,3" for compact assertions. */
static const char *ids(const struct pl_result *res)
{
	static char s[4096];
	size_t n = 0;

	s[0] = '\0';
	for (size_t i = 0; i < res->n && n + 24 < sizeof s; i++)
		n += (size_t)snprintf(s + n, sizeof s - n, "%s%lld", i ? "," : "", (long long)res->rows[i].id);
	return s;
}

static void t_cursor(void)
{
	struct pl_store *st = open_fresh();
	struct pl_filter f;
	struct pl_result res;
	int64_t id[6];
	int rc;

	memset(&res, 0, sizeof res);
	filt(&f, "/a", PL_SINCE_ALL, 0, 100);
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && res.n == 0 && res.cursor == 0 && !res.more && !res.reset && !res.gap,
	   "empty store: no messages, cursor 0");
	filt(&f, "/a", PL_SINCE_ID, 5, 100);
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && res.reset && res.cursor == 0 && res.n == 0, "empty store, since=5: reset, cursor 0");

	for (int i = 0; i < 5; i++)
		id[i] = pub(st, "/a", NULL, NULL, NULL);
	ok(id[0] == 1 && id[1] == 2 && id[4] == 5, "ids are 1..5 in publish order");

	filt(&f, "/a", PL_SINCE_ALL, 0, 2);
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && !strcmp(ids(&res), "1,2") && res.more && res.cursor == 2, "limit 2: 1,2 more, cursor 2");
	filt(&f, "/a", PL_SINCE_ID, res.cursor, 2);
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && !strcmp(ids(&res), "3,4") && res.more && res.cursor == 4, "since=2: 3,4 more, cursor 4");
	filt(&f, "/a", PL_SINCE_ID, res.cursor, 2);
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && !strcmp(ids(&res), "5") && !res.more && res.cursor == 5, "since=4: 5, no more, cursor 5");
	filt(&f, "/a", PL_SINCE_ID, 4, 1);
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && !strcmp(ids(&res), "5") && !res.more, "limit equal to what is left: more is false");
	filt(&f, "/a", PL_SINCE_ID, 5, 2);
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && res.n == 0 && res.cursor == 5 && !res.more && !res.gap && !res.reset,
	   "at the head: nothing, cursor stays");

	/* Cursor when nothing matched: the newest id examined. */
	id[5] = pub(st, "/b", NULL, NULL, NULL);
	filt(&f, "/a", PL_SINCE_ID, 5, 10);
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && res.n == 0 && res.cursor == id[5], "no match: the cursor moves to the newest id examined (6)");
	filt(&f, "/a", PL_SINCE_ID, 3, 10);
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && !strcmp(ids(&res), "4,5") && res.cursor == 6, "more false: cursor is the head, not the last returned");

	filt(&f, "/a", PL_SINCE_NOW, 0, 10);
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && res.n == 0 && res.cursor == 6 && !res.gap, "since=now: nothing, cursor at the head");

	/* Cursor beyond the head: the database was recreated. */
	filt(&f, "/a", PL_SINCE_ID, 1000, 10);
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && res.reset && !strcmp(ids(&res), "1,2,3,4,5") && res.cursor == 6 && !res.gap,
	   "since beyond the head: reset, every retained message");
	filt(&f, "/a", PL_SINCE_ID, 1000, 2);
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && res.reset && !strcmp(ids(&res), "1,2") && res.more && res.cursor == 2,
	   "reset with a limit pages from the start");
	filt(&f, "/a", PL_SINCE_ID, 6, 10);
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && !res.reset, "since equal to the head is no reset");

	/* Gap: the oldest retained message is above cursor + 1. */
	ok(pl_store_delete(st, 1) == PL_OK && pl_store_delete(st, 2) == PL_OK, "delete 1 and 2");
	filt(&f, "/a", PL_SINCE_ID, 1, 10);
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && res.gap && !strcmp(ids(&res), "3,4,5"), "since=1 after deleting 1,2: gap, then 3,4,5");
	filt(&f, "/a", PL_SINCE_ID, 2, 10);
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && !res.gap && !strcmp(ids(&res), "3,4,5"), "since=2: oldest is 3 = cursor+1, no gap");
	filt(&f, "/a", PL_SINCE_ALL, 0, 10);
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && !res.gap, "since=all never reports a gap");
	filt(&f, "/a", PL_SINCE_ID, 0, 10);
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && !res.gap, "since=0 (not a positive id) reports no gap");
	filt(&f, "/a", PL_SINCE_AGE, 0, 10);
	f.since_age = 3600;
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && !res.gap && !strcmp(ids(&res), "3,4,5"), "since=1h: no gap, the recent messages");

	/* AUTOINCREMENT: the newest id is never handed out again. */
	ok(pl_store_delete(st, 6) == PL_OK, "delete the newest id (6)");
	ok(pub(st, "/a", NULL, NULL, NULL) == 7, "the next id is 7, not 6 again");
	ok(pl_store_delete(st, 6) == PL_ENOTFOUND, "a second delete of 6 is ENOTFOUND");
	ok(pl_store_get(st, 6, &res) == PL_ENOTFOUND && res.n == 0, "get of a deleted id is ENOTFOUND");
	ok(pl_store_get(st, 7, &res) == PL_OK && res.n == 1 && res.rows[0].id == 7 && !strcmp(res.rows[0].topic, "/a"),
	   "get returns the row");
	{
		int64_t head = 0;
		ok(pl_store_head(st, &head) == PL_OK && head == 7, "head is 7");
	}
	{
		/* Everything deleted: since=all keeps the cursor at the head. */
		for (int64_t i = 3; i <= 7; i++)
			pl_store_delete(st, i);
		filt(&f, "/a", PL_SINCE_ALL, 0, 10);
		rc = pl_store_query(st, &f, &res);
		ok(rc == PL_OK && res.n == 0 && res.cursor == 7 && !res.reset, "all deleted: cursor stays at the head id");
		filt(&f, "/a", PL_SINCE_ID, 5, 10);
		rc = pl_store_query(st, &f, &res);
		ok(rc == PL_OK && res.gap && !res.reset && res.cursor == 7, "all deleted, since=5: gap");
		filt(&f, "/a", PL_SINCE_ID, 6, 10);
		rc = pl_store_query(st, &f, &res);
		ok(rc == PL_OK && res.gap, "all deleted, since=6: gap (7 was deleted after the cursor)");
		filt(&f, "/a", PL_SINCE_ID, 7, 10);
		rc = pl_store_query(st, &f, &res);
		ok(rc == PL_OK && !res.gap && !res.reset && res.cursor == 7, "all deleted, since=7 (the head): no gap");
	}
	pl_result_free(&res);
	pl_store_close(st);
}

static void t_since_age(void)
{
	struct pl_store *st = open_fresh();
	struct pl_filter f;
	struct pl_result res;

	memset(&res, 0, sizeof res);
	for (int i = 0; i < 3; i++)
		pub_at(st, "/t", NULL, NULL, NULL, -3 * 3600 * 1000LL, 24 * 3600 * 1000LL);
	for (int i = 0; i < 3; i++)
		pub_at(st, "/t", NULL, NULL, NULL, -30 * 60 * 1000LL, 24 * 3600 * 1000LL);
	pub(st, "/t", NULL, NULL, NULL);
	filt(&f, "/t", PL_SINCE_AGE, 0, 100);
	f.since_age = 3600;
	ok(pl_store_query(st, &f, &res) == PL_OK && !strcmp(ids(&res), "4,5,6,7"), "since=1h: the 4 messages of the last hour");
	f.since_age = 60;
	ok(pl_store_query(st, &f, &res) == PL_OK && !strcmp(ids(&res), "7"), "since=1m: the newest only");
	f.since_age = 4 * 3600;
	ok(pl_store_query(st, &f, &res) == PL_OK && res.n == 7, "since=4h: all 7");
	f.since_age = 0;
	usleep(3000);   /* "now" must be a later millisecond than the newest created */
	ok(pl_store_query(st, &f, &res) == PL_OK && res.n == 0 && res.cursor == 7, "since=0s: nothing, cursor at the head");
	pl_result_free(&res);
	pl_store_close(st);
}

/* A message whose time was taken before another's but which committed after
 * it (it waited longer for the write lock) takes the newer time: since=AGE
 * bisects ids by time, and would skip a message of the window. */
static void t_created_order(void)
{
	struct pl_store *st = open_fresh();
	struct pl_filter f;
	struct pl_result res;
	int64_t a, b, created_a = 0, created_b = 0, expires_b = 0;

	memset(&res, 0, sizeof res);
	pub_at(st, "/t", NULL, NULL, NULL, -60 * 60 * 1000LL, 24 * 3600 * 1000LL);
	a = pub_at(st, "/t", NULL, NULL, NULL, -1000, 24 * 3600 * 1000LL);
	b = pub_at(st, "/t", NULL, NULL, NULL, -5000, 24 * 3600 * 1000LL);   /* read earlier, committed later */
	pub_at(st, "/t", NULL, NULL, NULL, -40 * 60 * 1000LL, 24 * 3600 * 1000LL);
	if (pl_store_get(st, a, &res) == PL_OK && res.n == 1)
		created_a = res.rows[0].created;
	if (pl_store_get(st, b, &res) == PL_OK && res.n == 1) {
		created_b = res.rows[0].created;
		expires_b = res.rows[0].expires;
	}
	ok(b == a + 1 && created_b == created_a && expires_b == created_b + 24 * 3600 * 1000LL,
	   "a later commit with an earlier time takes the newest stored time, its ttl kept");
	ok(res.n == 1 && strstr(res.rows[0].body, "\"created\":") &&
	   atoll(strstr(res.rows[0].body, "\"created\":") + 10) == created_b, "its stored text says so too");
	filt(&f, "/t", PL_SINCE_AGE, 0, 100);
	f.since_age = 3;
	ok(pl_store_query(st, &f, &res) == PL_OK && res.n == 3 && res.rows[0].id == a,
	   "since=3s: the message read 5 s ago and committed after the 1 s one is in (%s)", ids(&res));
	pl_store_close(st);

	/* A 40 s old time between two of the window: by its own time the
	 * bisection would land on it and step past the first. */
	st = open_fresh();
	a = pub_at(st, "/t", NULL, NULL, NULL, -2000, 24 * 3600 * 1000LL);
	pub_at(st, "/t", NULL, NULL, NULL, -40 * 1000LL, 24 * 3600 * 1000LL);
	pub_at(st, "/t", NULL, NULL, NULL, -1000, 24 * 3600 * 1000LL);
	ok(pl_store_query(st, &f, &res) == PL_OK && res.n == 3 && res.rows[0].id == a,
	   "since=3s: none of the window skipped (%s)", ids(&res));
	/* Further apart than any wait for the lock: the clock was stepped, and
	 * the message keeps its own time (later ones must not inherit one). */
	b = pub_at(st, "/t", NULL, NULL, NULL, -3600 * 1000LL, 24 * 3600 * 1000LL);
	ok(pl_store_get(st, b, &res) == PL_OK && res.n == 1 && res.rows[0].created < pl_now_ms() - 3500 * 1000LL,
	   "an hour behind the newest: its own time kept");
	pl_result_free(&res);
	pl_store_close(st);
}

/* Ids at the very end of the range: cursors, gaps, ages and the purge cap
 * must not step past INT64_MAX (signed overflow). */
static void t_id_ceiling(void)
{
	struct pl_store *st = open_fresh();
	struct pl_filter f;
	struct pl_result res;
	struct pl_purge p = { .now_ms = pl_now_ms(), .max_rows = 1, .max_age = -1, .batch = 10 };
	struct pl_purge_result out;
	sqlite3 *db;
	int64_t a, b;

	memset(&res, 0, sizeof res);
	pub(st, "/t", NULL, NULL, NULL);
	if (sqlite3_open(conf.db_path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "UPDATE sqlite_sequence SET seq = 9223372036854775805 WHERE name = 'messages'",
			 NULL, NULL, NULL) != SQLITE_OK)
		exit(2);
	sqlite3_close(db);
	a = pub(st, "/t", NULL, NULL, NULL);
	b = pub(st, "/t", NULL, NULL, NULL);
	ok(a == INT64_MAX - 1 && b == INT64_MAX, "ids reach INT64_MAX");
	filt(&f, "/t", PL_SINCE_ID, INT64_MAX, 100);
	ok(pl_store_query(st, &f, &res) == PL_OK && res.n == 0 && !res.gap && !res.reset && res.cursor == INT64_MAX,
	   "since=INT64_MAX at the head: nothing, no gap, no reset");
	filt(&f, "/t", PL_SINCE_ID, INT64_MAX - 1, 100);
	ok(pl_store_query(st, &f, &res) == PL_OK && res.n == 1 && !res.gap, "since=INT64_MAX-1: the newest");
	filt(&f, "/t", PL_SINCE_AGE, 0, 100);
	f.since_age = 60;
	ok(pl_store_query(st, &f, &res) == PL_OK && res.n == 3, "since=1m near the ceiling: all three");
	ok(pl_store_purge(st, &p, &out) == PL_OK && out.over_rows == 2, "max_rows 1 near the ceiling: two go");
	p.max_rows = 0;
	ok(pl_store_purge(st, &p, &out) == PL_OK && out.over_rows == 1, "max_rows 0 at the ceiling: the last goes too");
	pl_result_free(&res);
	pl_store_close(st);
}

/* Users, clients and type, on both read paths. far: > SCAN_WINDOW ids
 * between cursor and head, so the message_paths merge answers. */
static void t_isolation(int far)
{
	struct pl_store *st = open_fresh();
	struct pl_filter f;
	struct pl_result res;
	const char *path = far ? "merge" : "scan";
	int64_t b0, ua, ub, cl, ty, b1, exp;
	char want[128];

	memset(&res, 0, sizeof res);
	if (far)
		pub_many(st, "/filler", SCAN_WINDOW + 100);
	b0 = pub(st, "/n/x", NULL, NULL, NULL);
	ua = pub(st, "/n/x", "alice", NULL, NULL);
	ub = pub(st, "/n", "bob", NULL, NULL);
	cl = pub(st, "/n/y", NULL, "pc,ios", NULL);
	ty = pub(st, "/n", NULL, NULL, "notice");
	exp = pub_at(st, "/n", NULL, NULL, NULL, 0, -1);         /* already expired */
	b1 = pub(st, "/news", NULL, NULL, NULL);                 /* not under /n */
	(void)b1;

	filt(&f, "/n", PL_SINCE_ALL, 0, 100);
	ok(pl_store_query(st, &f, &res) == PL_OK, "%s: query ok", path);
	/* The merge prepares its range statements on first use. */
	ok((st->paths[0] != NULL) == far, "%s: the answer came from the %s", path,
	   far ? "message_paths merge" : "primary-key range");
	snprintf(want, sizeof want, "%lld,%lld", (long long)b0, (long long)ty);
	ok(!strcmp(ids(&res), want), "%s: anonymous, no client: broadcasts without clients only (%s)", path, ids(&res));
	ok(res.ngot == 0, "%s: anonymous marks nothing as delivered", path);

	f.identity = "alice";
	pl_store_query(st, &f, &res);
	snprintf(want, sizeof want, "%lld,%lld,%lld", (long long)b0, (long long)ua, (long long)ty);
	ok(!strcmp(ids(&res), want), "%s: alice sees broadcasts and her own (%s)", path, ids(&res));
	ok(res.ngot == 1 && res.got[0] == ua, "%s: alice's message is reported as first delivered", path);
	f.identity = "bob";
	pl_store_query(st, &f, &res);
	snprintf(want, sizeof want, "%lld,%lld,%lld", (long long)b0, (long long)ub, (long long)ty);
	ok(!strcmp(ids(&res), want), "%s: bob sees broadcasts and his own, never alice's (%s)", path, ids(&res));
	f.identity = "mallory";
	pl_store_query(st, &f, &res);
	snprintf(want, sizeof want, "%lld,%lld", (long long)b0, (long long)ty);
	ok(!strcmp(ids(&res), want), "%s: another user sees broadcasts only (%s)", path, ids(&res));
	f.identity = "alic";
	pl_store_query(st, &f, &res);
	ok(!strcmp(ids(&res), want), "%s: a prefix of a user name sees nothing of hers", path);

	f.identity = NULL;
	f.client = "ios";
	pl_store_query(st, &f, &res);
	snprintf(want, sizeof want, "%lld,%lld,%lld", (long long)b0, (long long)cl, (long long)ty);
	ok(!strcmp(ids(&res), want), "%s: client=ios gets the pc,ios message too (%s)", path, ids(&res));
	f.client = "android";
	pl_store_query(st, &f, &res);
	snprintf(want, sizeof want, "%lld,%lld", (long long)b0, (long long)ty);
	ok(!strcmp(ids(&res), want), "%s: client=android does not get the pc,ios message (%s)", path, ids(&res));
	f.client = "p";
	pl_store_query(st, &f, &res);
	ok(!strcmp(ids(&res), want), "%s: client=p is not a prefix match of pc", path);
	f.client = NULL;
	f.type = "notice";
	pl_store_query(st, &f, &res);
	snprintf(want, sizeof want, "%lld", (long long)ty);
	ok(!strcmp(ids(&res), want), "%s: type=notice (%s)", path, ids(&res));
	f.type = NULL;

	/* Several topics: each message once, in id order. */
	filt(&f, "/n/x,/n,/n/y,/news", PL_SINCE_ALL, 0, 100);
	f.identity = "alice";
	f.client = "pc";
	pl_store_query(st, &f, &res);
	snprintf(want, sizeof want, "%lld,%lld,%lld,%lld,%lld", (long long)b0, (long long)ua, (long long)cl,
		 (long long)ty, (long long)b1);
	ok(!strcmp(ids(&res), want), "%s: overlapping topics deliver each message once, in id order (%s)", path, ids(&res));
	filt(&f, "/", PL_SINCE_ALL, 0, 1000);
	pl_store_query(st, &f, &res);
	ok(res.n == (size_t)(far ? SCAN_WINDOW + 100 + 3 : 3), "%s: topic / gets every broadcast (%zu)", path, res.n);

	/* Admin: every user's message, expired ones too, user= filter. */
	filt(&f, "/n", PL_SINCE_ALL, 0, 100);
	f.admin = 1;
	pl_store_query(st, &f, &res);
	snprintf(want, sizeof want, "%lld,%lld,%lld,%lld,%lld,%lld", (long long)b0, (long long)ua, (long long)ub,
		 (long long)cl, (long long)ty, (long long)exp);
	ok(!strcmp(ids(&res), want), "%s: admin sees all users, clients and expired rows (%s)", path, ids(&res));
	f.user_filter = "bob";
	pl_store_query(st, &f, &res);
	snprintf(want, sizeof want, "%lld", (long long)ub);
	ok(!strcmp(ids(&res), want), "%s: admin user=bob (%s)", path, ids(&res));

	/* last_get: marked once, shown to the admin, not reported again. */
	{
		int64_t t1 = 1700000000000LL;
		ok(pl_store_mark_got(st, &ua, 1, t1) == PL_OK && pl_store_mark_got(st, &ua, 1, t1 + 5) == PL_OK,
		   "%s: mark_got twice", path);
		pl_store_get(st, ua, &res);
		ok(res.n == 1 && res.rows[0].last_get == t1, "%s: last_get keeps the first delivery time", path);
		filt(&f, "/n", PL_SINCE_ALL, 0, 100);
		f.identity = "alice";
		pl_store_query(st, &f, &res);
		ok(res.ngot == 0, "%s: a delivered message is not reported as first delivered again", path);
		filt(&f, "/n", PL_SINCE_ALL, 0, 100);
		f.admin = 1;
		f.undelivered = 1;
		pl_store_query(st, &f, &res);
		snprintf(want, sizeof want, "%lld", (long long)ub);
		ok(!strcmp(ids(&res), want), "%s: admin undelivered=1 lists bob's only (%s)", path, ids(&res));
	}
	pl_result_free(&res);
	pl_store_close(st);
}

/* Page through a topic with a small limit while a child process publishes:
 * every id exactly once, in order. */
static void t_exactly_once(void)
{
	struct pl_store *st = open_fresh();
	struct pl_filter f;
	struct pl_result res;
	int64_t cursor = 0, last = 0, got = 0, dups = 0, status = -1;
	int child_done = 0, rounds = 0, wst;
	const int N = 400;
	pid_t pid;

	memset(&res, 0, sizeof res);
	pub_many(st, "/q", 20);
	pub_many(st, "/other", 20);
	/* Closed across the fork: a child must not inherit SQLite's state
	 * for a file it opens too (its locks would be counted as held). */
	pl_store_close(st);
	st = NULL;
	pid = fork();
	if (pid == 0) {
		struct pl_store *cs = NULL;
		int bad = 0;
		if (pl_store_open(&cs, &conf) != PL_OK)
			_exit(3);
		for (int i = 0; i < N; i++)
			if (pub(cs, i % 3 ? "/q/sub" : "/other", NULL, NULL, NULL) < 0)
				bad++;
		pl_store_close(cs);
		_exit(bad ? 1 : 0);
	}
	if (pl_store_open(&st, &conf) != PL_OK) {
		ok(0, "reopen for the concurrent read");
		return;
	}
	for (;;) {
		int rc;
		filt(&f, "/q", PL_SINCE_ID, cursor, 7);
		rc = pl_store_query(st, &f, &res);
		if (rc != PL_OK)
			break;
		for (size_t i = 0; i < res.n; i++) {
			if (res.rows[i].id <= last)
				dups++;
			last = res.rows[i].id;
			got++;
		}
		if (res.cursor < cursor)
			dups++;
		cursor = res.cursor;
		rounds++;
		if (child_done && !res.more && res.n == 0)
			break;
		if (!child_done && waitpid(pid, &wst, WNOHANG) == pid) {
			child_done = 1;
			status = WIFEXITED(wst) ? WEXITSTATUS(wst) : -1;
		}
	}
	{
		int expect = 20;
		for (int i = 0; i < N; i++)
			expect += i % 3 ? 1 : 0;
		ok(status == 0, "concurrent publisher committed all its messages (exit %lld)", (long long)status);
		ok(dups == 0 && got == expect, "paging with limit 7 during publishes: %lld of %d, each once, in order (%d rounds)",
		   (long long)got, expect, rounds);
	}
	pl_result_free(&res);
	pl_store_close(st);
}

static void t_purge(void)
{
	struct pl_store *st = open_fresh();
	struct pl_purge p;
	struct pl_purge_result r = { 0 };
	struct pl_stats s = { 0 };
	struct pl_filter f;
	struct pl_result res;
	int64_t now = pl_now_ms();

	memset(&res, 0, sizeof res);
	/* 3 expired, 4 old (2 h) but live, 5 new. */
	for (int i = 0; i < 3; i++)
		pub_at(st, "/p", NULL, NULL, NULL, -3 * 3600 * 1000LL, 1000);
	for (int i = 0; i < 4; i++)
		pub_at(st, "/p", NULL, NULL, NULL, -2 * 3600 * 1000LL, 24 * 3600 * 1000LL);
	for (int i = 0; i < 5; i++)
		pub(st, "/p", NULL, NULL, NULL);

	filt(&f, "/p", PL_SINCE_ALL, 0, 100);
	pl_store_query(st, &f, &res);
	ok(res.n == 9 && res.rows[0].id == 4, "expired messages are never delivered");

	memset(&p, 0, sizeof p);
	p.now_ms = now;
	p.max_rows = 6;
	p.max_age = 3600;
	p.dry_run = 1;
	ok(pl_store_purge(st, &p, &r) == PL_OK && r.expired == 3 && r.over_age == 4 && r.over_rows == 0,
	   "dry run with max_age 1h: 3 expired, 4 over age, none over rows (%lld/%lld/%lld)", (long long)r.expired,
	   (long long)r.over_age, (long long)r.over_rows);
	p.max_age = -1;
	ok(pl_store_purge(st, &p, &r) == PL_OK && r.expired == 3 && r.over_age == 0 && r.over_rows == 3,
	   "dry run with max_rows 6: 3 expired, 3 over rows (%lld/%lld/%lld)", (long long)r.expired,
	   (long long)r.over_age, (long long)r.over_rows);
	ok(pl_store_stats(st, &s) == PL_OK && s.rows == 12 && s.oldest_id == 1 && s.newest_id == 12,
	   "a dry run deletes nothing (rows %lld)", (long long)s.rows);
	ok(s.publishes_last_minute == 12 && s.db_bytes > 0,
	   "stats: 12 committed in the last minute (7 of them back-dated), db size (%lld)",
	   (long long)s.publishes_last_minute);

	p.dry_run = 0;
	p.max_rows = -1;
	p.batch = 2;
	ok(pl_store_purge(st, &p, &r) == PL_OK && r.expired == 3 && r.over_rows == 0 && r.over_age == 0,
	   "purge: 3 expired rows deleted in batches of 2");
	pl_store_stats(st, &s);
	ok(s.rows == 9 && s.oldest_id == 4, "after the purge: 9 rows, oldest 4");
	p.max_age = 3600;
	ok(pl_store_purge(st, &p, &r) == PL_OK && r.expired == 0 && r.over_age == 4, "purge max_age 1h: 4 old rows");
	p.max_age = -1;
	p.max_rows = 2;
	ok(pl_store_purge(st, &p, &r) == PL_OK && r.over_rows == 3, "purge max_rows 2: the 3 oldest go");
	pl_store_stats(st, &s);
	ok(s.rows == 2 && s.oldest_id == 11 && s.newest_id == 12, "2 rows left: 11 and 12");
	ok(pl_store_purge(st, &p, &r) == PL_OK && r.expired == 0 && r.over_rows == 0 && r.over_age == 0,
	   "a second purge finds nothing");
	filt(&f, "/p", PL_SINCE_ID, 5, 100);
	pl_store_query(st, &f, &res);
	ok(res.gap && !strcmp(ids(&res), "11,12"), "a cursor from before the purge gets gap and what is left");
	/* The message_paths rows went with the messages. */
	{
		sqlite3_stmt *q = NULL;
		int64_t n = -1;
		if (sqlite3_prepare_v2(st->db, "SELECT count(*) FROM message_paths", -1, &q, NULL) == SQLITE_OK &&
		    sqlite3_step(q) == SQLITE_ROW)
			n = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
		ok(n == 4, "message_paths holds 2 rows per remaining message, none orphaned (%lld)", (long long)n);
	}
	/* ids are not reused after a purge of the newest rows either. */
	p.max_rows = 0;
	pl_store_purge(st, &p, &r);
	{
		int64_t newest = -1, head = -1;
		pl_store_stats(st, &s);
		ok(s.rows == 0 && s.oldest_id == 0 && s.newest_id == 0 && s.last_id == 12,
		   "stats of an empty table: oldest and newest 0, the last id given kept (%lld)", (long long)s.last_id);
		int nrc = pl_store_newest(st, &newest, &head);
		ok(nrc == PL_OK && newest == 0 && head == 12,
		   "newest: none stored, head 12 (%lld, %lld)", (long long)newest, (long long)head);
	}
	ok(pub(st, "/p", NULL, NULL, NULL) == 13, "after purging everything the next id is 13");
	pl_result_free(&res);
	pl_store_close(st);
}

static void t_admin_ops(void)
{
	struct pl_store *st = open_fresh();
	struct pl_filter f;
	struct pl_result res;
	int64_t deleted = -1;
	int rc;

	memset(&res, 0, sizeof res);
	for (int i = 0; i < 5; i++)
		pub(st, "/d/x", i % 2 ? "u1" : NULL, NULL, NULL);
	pub(st, "/keep", NULL, NULL, NULL);
	filt(&f, "/d", PL_SINCE_ALL, 0, 100);
	f.admin = 1;
	f.user_filter = "u1";
	ok(pl_store_delete_matching(st, &f, -1, &deleted) == PL_OK && deleted == 2, "delete_matching user=u1: 2 rows");
	f.user_filter = NULL;
	ok(pl_store_delete_matching(st, &f, -1, &deleted) == PL_OK && deleted == 3, "delete_matching /d: the 3 left");
	ok(pl_store_tail(st, 0, 10, &res) == PL_OK && !strcmp(ids(&res), "6") && res.head == 6 && !res.more,
	   "tail: only /keep remains");
	pub_many(st, "/t", 5);
	ok(pl_store_tail(st, 6, 3, &res) == PL_OK && !strcmp(ids(&res), "7,8,9") && res.more && res.cursor == 9,
	   "tail with max 3: 3 rows, more, cursor at the last");
	/* A batch that fails after others committed: those stay deleted,
	 * and the count says how many (admin's 503 names it). */
	pub_many(st, "/big", 1200);
	ok(sqlite3_exec(st->db, "CREATE TEMP TRIGGER stop_delete BEFORE DELETE ON messages "
			"WHEN old.id = 14 + 700 BEGIN SELECT RAISE(ABORT, 'refused'); END", NULL, NULL, NULL) == SQLITE_OK,
	   "a trigger refuses to delete one row of the second batch");
	filt(&f, "/big", PL_SINCE_ALL, 0, 100);
	f.admin = 1;
	rc = pl_store_delete_matching(st, &f, -1, &deleted);
	ok(rc != PL_OK && deleted == 500,
	   "delete_matching stopped in its second batch: fails, 500 counted (rc %d, %lld)", rc, (long long)deleted);
	sqlite3_exec(st->db, "DROP TRIGGER stop_delete", NULL, NULL, NULL);
	ok(pl_store_delete_matching(st, &f, -1, &deleted) == PL_OK && deleted == 700,
	   "the same delete again: the 700 left");
	pl_result_free(&res);
	pl_store_close(st);
}

/* One message for user with a string body of n copies of c. */
static int64_t pub_sized(struct pl_store *st, const char *topic, const char *user, size_t n, char c, int64_t ttl_ms)
{
	char *text = pl_xmalloc(n + 1);
	struct json_object *d;
	struct pl_msg m;
	int rc;

	memset(text, c, n);
	text[n] = '\0';
	d = json_object_new_string(text);
	memset(&m, 0, sizeof m);
	m.topic = topic;
	m.user = user;
	m.data = d;
	m.created = pl_now_ms();
	m.expires = m.created + ttl_ms;
	rc = pl_store_publish(st, &m, 1);
	json_object_put(d);
	free(text);
	return rc == PL_OK ? m.id : -1;
}

/* Every row of res has the body the table holds for its id. */
static int bodies_match(struct pl_store *st, const struct pl_result *res)
{
	struct pl_result one;
	int good = 1;

	memset(&one, 0, sizeof one);
	for (size_t i = 0; i < res->n && good; i++)
		good = pl_store_get(st, res->rows[i].id, &one) == PL_OK && one.n == 1 &&
		       one.rows[0].body_len == res->rows[i].body_len &&
		       !memcmp(one.rows[0].body, res->rows[i].body, one.rows[0].body_len) &&
		       !strcmp(one.rows[0].topic, res->rows[i].topic) &&
		       !strcmp(one.rows[0].user, res->rows[i].user);
	pl_result_free(&one);
	return good;
}

/* The row cache of the merge path: a row read again comes from memory, and
 * what another connection changes (a delete, a first delivery) shows. */
/* A backup restored into the live file (sqlite3 .restore) takes rows away
 * and the head back (until the next commit continues above the old ids,
 * from DB.ids): a connection that sees the head go back forgets what its
 * row cache holds. */
static void t_cache_restore(void)
{
	struct pl_store *a = open_fresh(), *b = NULL;
	struct pl_filter f;
	struct pl_result res;
	char bk[300], want[64];
	sqlite3 *file = NULL;
	sqlite3_backup *op;
	int64_t m1, m2, again;
	int done = 0;

	memset(&res, 0, sizeof res);
	snprintf(bk, sizeof bk, "%s.bk", conf.db_path);
	pub_many(a, "/filler", SCAN_WINDOW + 100);
	m1 = pub_sized(a, "/inbox", "alice", 40, 'x', 3600000);
	/* The backup, as of m1. */
	if (sqlite3_open(bk, &file) == SQLITE_OK && (op = sqlite3_backup_init(file, "main", a->db, "main"))) {
		done = sqlite3_backup_step(op, -1) == SQLITE_DONE;
		sqlite3_backup_finish(op);
	}
	sqlite3_close(file);
	m2 = pub_sized(a, "/inbox", "alice", 50, 'y', 3600000);
	filt(&f, "/inbox", PL_SINCE_ALL, 0, 100);
	f.identity = "alice";
	ok(done && pl_store_query(a, &f, &res) == PL_OK && cache_get(a, m2), "restore: a caches alice's two rows");
	/* Another connection restores the backup into the file. */
	done = 0;
	file = NULL;
	if (pl_store_open(&b, &conf) == PL_OK && sqlite3_open(bk, &file) == SQLITE_OK &&
	    (op = sqlite3_backup_init(b->db, "main", file, "main"))) {
		done = sqlite3_backup_step(op, -1) == SQLITE_DONE;
		sqlite3_backup_finish(op);
	}
	sqlite3_close(file);
	ok(done, "restore: the backup is restored into the file");
	pl_store_query(a, &f, &res);
	snprintf(want, sizeof want, "%lld", (long long)m1);
	ok(!strcmp(ids(&res), want), "restore: a sees the restored file (%s)", ids(&res));
	again = pub_sized(b, "/inbox", "alice", 70, 'w', 3600000);
	pl_store_query(a, &f, &res);
	snprintf(want, sizeof want, "%lld,%lld", (long long)m1, (long long)again);
	ok(again > m2 && !strcmp(ids(&res), want) && bodies_match(a, &res),
	   "restore: the next id %lld continues above %lld, not the backup's; a serves the new message and not "
	   "its cached one that the restore took away (%s)", (long long)again, (long long)m2, ids(&res));
	pl_result_free(&res);
	pl_store_close(b);
	pl_store_close(a);
	unlink(bk);
}

static void t_cache(void)
{
	struct pl_store *a = open_fresh(), *b = NULL;
	struct pl_filter f;
	struct pl_result res;
	int64_t m1, m2, m3, soon, big;
	char want[128];

	memset(&res, 0, sizeof res);
	ok(pl_store_open(&b, &conf) == PL_OK, "cache: a second connection to the same file");
	pub_many(a, "/filler", SCAN_WINDOW + 100);
	m1 = pub_sized(a, "/inbox", "alice", 40, 'x', 3600000);
	m2 = pub_sized(a, "/inbox", "alice", 50, 'y', 3600000);
	m3 = pub_sized(a, "/inbox", "bob", 60, 'z', 3600000);
	soon = pub_sized(a, "/inbox", "alice", 10, 's', 300);
	filt(&f, "/inbox", PL_SINCE_ALL, 0, 100);
	f.identity = "alice";
	ok(pl_store_query(a, &f, &res) == PL_OK && a->paths[0], "cache: first inbox query (merge path)");
	snprintf(want, sizeof want, "%lld,%lld,%lld", (long long)m1, (long long)m2, (long long)soon);
	ok(!strcmp(ids(&res), want) && bodies_match(a, &res), "cache: alice's three (%s)", ids(&res));
	ok(cache_get(a, m1) && cache_get(a, m2) && !cache_get(a, m3), "cache: holds the rows it served, not bob's");
	pl_store_query(a, &f, &res);
	ok(!strcmp(ids(&res), want) && bodies_match(a, &res), "cache: the same answer from the cache");
	ok(res.ngot == 3, "cache: not yet marked, still reported as first deliveries");
	ok(pl_store_mark_got(a, res.got, res.ngot, 1700000000000LL) == PL_OK, "cache: mark them");
	pl_store_query(a, &f, &res);
	ok(res.ngot == 0, "cache: marked rows are not reported again (%zu)", res.ngot);

	/* Another connection deletes m1: gone from the index, so from the answer. */
	ok(pl_store_delete(b, m1) == PL_OK, "cache: b deletes a row a has cached");
	pl_store_query(a, &f, &res);
	snprintf(want, sizeof want, "%lld,%lld", (long long)m2, (long long)soon);
	ok(!strcmp(ids(&res), want), "cache: the deleted row is not served from the cache (%s)", ids(&res));

	/* A cached row past its expiry is not delivered. */
	usleep(400 * 1000);
	pl_store_query(a, &f, &res);
	snprintf(want, sizeof want, "%lld", (long long)m2);
	ok(!strcmp(ids(&res), want), "cache: an expired cached row is not delivered (%s)", ids(&res));

	/* b delivers bob's message; a's admin view reads last_get from the table. */
	f.identity = "bob";
	pl_store_query(a, &f, &res);
	ok(res.ngot == 1 && cache_get(a, m3), "cache: bob's row cached by a, undelivered");
	ok(pl_store_mark_got(b, &m3, 1, 1700000000123LL) == PL_OK, "cache: b marks bob's row");
	filt(&f, "/inbox", PL_SINCE_ALL, 0, 100);
	f.admin = 1;
	f.user_filter = "bob";
	pl_store_query(a, &f, &res);
	ok(res.n == 1 && res.rows[0].last_get == 1700000000123LL, "cache: the admin view shows b's last_get");

	/* More than the cache holds: answers stay whole, the cache stays bounded. */
	for (int i = 0; i < 300; i++)
		pub_sized(a, "/big", "carol", 12 * 1024, (char)('a' + i % 26), 3600000);
	big = pub_sized(a, "/big", "carol", CACHE_ROW_MAX + 1, 'B', 3600000);
	filt(&f, "/big", PL_SINCE_ALL, 0, 400);
	f.identity = "carol";
	for (int round = 0; round < 2; round++) {
		pl_store_query(a, &f, &res);
		ok(res.n == 301 && bodies_match(a, &res) && res.rows[300].id == big,
		   "cache: round %d: 301 rows of 12 KB and one over the row limit, bodies whole", round + 1);
	}
	ok(a->cache_bytes <= CACHE_BYTES && a->cache_bytes > CACHE_BYTES / 2,
	   "cache: bounded (%zu bytes held)", a->cache_bytes);
	ok(!cache_get(a, big), "cache: a row over the row limit is not kept");
	pl_result_free(&res);
	pl_store_close(b);
	pl_store_close(a);
}

/* The plan SQLite chooses for sql, one detail per line. */
/* First deliveries recorded without waiting: another connection's write
 * lock keeps them pending with their delivery times, and they are written
 * once it is gone. */
static void t_marks(void)
{
	struct pl_store *st = open_fresh();
	struct pl_marks m = { 0 };
	struct pl_result res;
	sqlite3 *other = NULL;
	int64_t a = pub(st, "/m", "alice", NULL, NULL), b = pub(st, "/m", "alice", NULL, NULL);
	int64_t t1 = 1700000000000LL, ids2[2] = { a, b }, t0;
	int64_t many[64];

	memset(&res, 0, sizeof res);
	pl_marks_add(&m, ids2, 2, t1);
	ok(m.n == 2, "marks: two pending");
	ok(sqlite3_open(conf.db_path, &other) == SQLITE_OK &&
	   sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK, "marks: another connection holds the write lock");
	t0 = pl_now_ms();
	ok(pl_store_mark_pending(st, &m, 0) == PL_EBUSY, "marks: without waiting, busy");
	ok(pl_now_ms() - t0 < 1000, "marks: gave up at once (%lld ms)", (long long)(pl_now_ms() - t0));
	ok(m.n == 2, "marks: kept for the next try");
	pl_marks_add(&m, &a, 1, t1 + 10);
	ok(m.n == 3, "marks: a later delivery of the same message queues behind");
	sqlite3_exec(other, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(other);
	ok(pl_store_mark_pending(st, &m, 0) == PL_EBUSY && m.n == 3,
	   "marks: not tried again within %d ms of finding the lock held", PL_MARKS_RETRY_MS);
	usleep((PL_MARKS_RETRY_MS + 20) * 1000);
	ok(pl_store_mark_pending(st, &m, 0) == PL_OK && m.n == 0, "marks: recorded once the lock is gone");
	pl_store_get(st, a, &res);
	ok(res.n == 1 && res.rows[0].last_get == t1, "marks: last_get is the delivery time, not the write's");
	pl_store_get(st, b, &res);
	ok(res.n == 1 && res.rows[0].last_get == t1, "marks: each pending id recorded");
	ok(pl_store_mark_pending(st, &m, 0) == PL_OK, "marks: nothing pending is a no-op");

	/* Bounded: past PL_MARKS_MAX new ones are dropped, not queued. */
	for (size_t i = 0; i < 64; i++)
		many[i] = (int64_t)i + 1000000;
	while (m.n + 64 <= PL_MARKS_MAX)
		pl_marks_add(&m, many, 64, t1);
	pl_marks_add(&m, many, 64, t1);
	ok(m.n <= PL_MARKS_MAX && m.dropped, "marks: at most %d pending (%zu)", PL_MARKS_MAX, m.n);
	pl_marks_free(&m);
	ok(m.n == 0 && !m.id, "marks: freed");
	pl_result_free(&res);
	pl_store_close(st);
}

static void plan(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
	char q[1024];
	sqlite3_stmt *s = NULL;
	size_t n = 0;

	out[0] = '\0';
	snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", sql);
	if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK) {
		snprintf(out, outlen, "prepare failed: %s", sqlite3_errmsg(db));
		return;
	}
	while (sqlite3_step(s) == SQLITE_ROW && n < outlen)
		n += (size_t)snprintf(out + n, outlen - n, "%s; ", (const char *)sqlite3_column_text(s, 3));
	sqlite3_finalize(s);
}

static void t_plans(void)
{
	struct pl_store *st = open_fresh();
	char p[1024];

	/* Some rows and fresh statistics, as a long-running install has. */
	pub_many(st, "/a/b", 2000);
	sqlite3_exec(st->db, "ANALYZE", NULL, NULL, NULL);

	plan(st->db, path_sql, p, sizeof p);
	ok(strstr(p, "SEARCH message_paths USING PRIMARY KEY (path=? AND user=? AND id>?)") &&
	   !strstr(p, "SCAN") && !strstr(p, "TEMP B-TREE"),
	   "far from the head: a message_paths range, ids only, no scan, no sort (%s)", p);
	plan(st->db, pl_sq_text[S_SCAN], p, sizeof p);
	ok(strstr(p, "SEARCH messages USING INTEGER PRIMARY KEY (rowid>?)") && !strstr(p, "SCAN") &&
	   !strstr(p, "TEMP B-TREE"), "near the head: primary-key range (%s)", p);
	plan(st->db, pl_sq_text[S_ROW], p, sizeof p);
	ok(strstr(p, "SEARCH messages USING INTEGER PRIMARY KEY (rowid=?)") != NULL, "one row by id (%s)", p);
	plan(st->db, pl_sq_text[S_EXPIRED], p, sizeof p);
	ok(strstr(p, "messages_expires") && strstr(p, "expires<") && !strstr(p, "SCAN messages") && !strstr(p, "TEMP B-TREE"),
	   "purge of expired rows: the expires index (%s)", p);
	plan(st->db, pl_sq_text[S_OLDEST_IDS], p, sizeof p);
	ok(strstr(p, "SEARCH messages USING INTEGER PRIMARY KEY (rowid<?)") != NULL, "purge of the oldest rows: id range (%s)", p);
	plan(st->db, pl_sq_text[S_CREATED_AT], p, sizeof p);
	ok(strstr(p, "SEARCH messages USING INTEGER PRIMARY KEY (rowid>?)") != NULL, "bisection by created: id range (%s)", p);
	plan(st->db, pl_sq_text[S_DEL_PATH], p, sizeof p);
	ok(strstr(p, "SEARCH message_paths USING PRIMARY KEY") && !strstr(p, "SCAN"), "delete of path rows by key (%s)", p);
	plan(st->db, pl_sq_text[S_COUNT_EXPIRED], p, sizeof p);
	ok(strstr(p, "messages_expires") && !strstr(p, "SCAN messages"), "dry-run count of expired rows: the index (%s)", p);
	pl_store_close(st);
}

static void t_open(void)
{
	struct pl_store *st = NULL;
	struct pl_conf c;

	pl_conf_defaults(&c);
	free(c.db_path);
	c.db_path = pl_xstrdup("/nonexistent-dir-for-pushlite-tests/x.db");
	ok(pl_store_open(&st, &c) == PL_EIO && st == NULL, "open in a missing directory is EIO, *out NULL");
	pl_conf_free(&c);
	pl_store_close(NULL);

	/* A schema that cannot be written (another connection holds the write
	 * lock past the busy timeout): the reason names the step. */
	{
		sqlite3 *holder = NULL;
		char path[300];

		snprintf(path, sizeof path, "%s/locked.sqlite", dir);
		if (sqlite3_open(path, &holder) == SQLITE_OK &&
		    sqlite3_exec(holder, "PRAGMA journal_mode=WAL; BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK) {
			pl_conf_defaults(&c);
			free(c.db_path);
			c.db_path = pl_xstrdup(path);
			char logp[300];
			int saved = dup(2), fd, lines = 0;
			FILE *lf;

			/* stderr to a file for the two opens: how often it is logged */
			snprintf(logp, sizeof logp, "%s/locked.log", dir);
			fflush(stderr);
			fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			dup2(fd, 2);
			close(fd);
			ok(pl_store_open(&st, &c) == PL_EIO && st == NULL &&
			   strstr(pl_store_open_error(), "schema: begin immediate: database is locked"),
			   "schema under another's write lock: EIO, and why (%s)", pl_store_open_error());
			/* During an outage every request opens again: logged once. */
			ok(pl_store_open(&st, &c) == PL_EIO && st == NULL, "a second open under the lock: EIO again");
			fflush(stderr);
			dup2(saved, 2);
			close(saved);
			if ((lf = fopen(logp, "r"))) {
				char line[1024];
				while (fgets(line, sizeof line, lf))
					lines += strstr(line, "schema: begin immediate") != NULL;
				fclose(lf);
			}
			ok(lines == 1, "the schema failure is logged once for two opens (%d lines)", lines);
			pl_conf_free(&c);
		} else {
			ok(0, "schema under another's write lock: cannot set up (%s)", sqlite3_errmsg(holder));
		}
		sqlite3_close(holder);
	}

	/* A second open of the same file sees the same schema and rows. */
	st = open_fresh();
	pub(st, "/r", NULL, NULL, NULL);
	pl_store_close(st);
	{
		struct pl_store *again = NULL;
		int64_t head = 0;
		ok(pl_store_open(&again, &conf) == PL_OK && pl_store_head(again, &head) == PL_OK && head == 1,
		   "reopening keeps the rows (head 1)");
		pl_store_close(again);
	}
}

/* The stored body is written field by field: it must be the JSON object
 * json-c would write, whatever the strings hold. */
static void t_body(void)
{
	static const char *const odd[] = { NULL, "plain", "q\"uote", "back\\slash", "tab\there",
					   "\xc3\xa9t\xc3\xa9 \xe2\x80\xa8", "</script>" };
	struct json_object *data = json_object_new_string("d\"\n\x01");
	int good = 1;

	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		struct pl_msg m = { .topic = "/a/b", .user = i % 2 ? "u@x.y" : NULL,
				    .clients = i % 3 ? "pc,ios" : NULL, .type = odd[i],
				    .src = odd[(i + 1) % 7], .target = odd[(i + 2) % 7], .data = data,
				    .created = 1795325133342, .expires = -5 };
		struct pl_buf b = { 0 };
		struct json_object *o, *v;

		pl_msg_body(&m, &b);
		o = json_tokener_parse(b.p);
		if (!o || !json_object_is_type(o, json_type_object) ||
		    !json_object_object_get_ex(o, "topic", &v) || strcmp(json_object_get_string(v), "/a/b") ||
		    (m.type && (!json_object_object_get_ex(o, "type", &v) || strcmp(json_object_get_string(v), m.type))) ||
		    (!m.type && json_object_object_get_ex(o, "type", NULL)) ||
		    (m.target && (!json_object_object_get_ex(o, "target", &v) ||
				  strcmp(json_object_get_string(v), m.target))) ||
		    (m.user && (!json_object_object_get_ex(o, "user", &v) || strcmp(json_object_get_string(v), m.user))) ||
		    (m.clients && (!json_object_object_get_ex(o, "clients", &v) || json_object_array_length(v) != 2)) ||
		    !json_object_object_get_ex(o, "data", &v) || strcmp(json_object_get_string(v), "d\"\n\x01") ||
		    !json_object_object_get_ex(o, "created", &v) || json_object_get_int64(v) != 1795325133342 ||
		    !json_object_object_get_ex(o, "expires", &v) || json_object_get_int64(v) != -5) {
			diag("body %zu: %s", i, b.p);
			good = 0;
		}
		json_object_put(o);
		pl_buf_free(&b);
	}
	ok(good, "stored bodies parse back with every field as given (quotes, controls, UTF-8, absent fields)");
	json_object_put(data);
}

/* An answer carries at most PL_ANSWER_BYTES of bodies (100,000 here), at
 * least one message: past it, more and the cursor of the last one, and
 * following cursors still gets each message exactly once. */
static void t_answer_bytes(void)
{
	struct pl_store *st = open_fresh();
	struct pl_filter f;
	struct pl_result res;
	char *big = malloc(40001), *huge = malloc(150001);
	int64_t id[6], cursor = 0;
	char seen[64] = "";
	int rounds = 0, good = 1;

	memset(big, 'b', 40000);
	big[40000] = '\0';
	memset(huge, 'h', 150000);
	huge[150000] = '\0';
	memset(&res, 0, sizeof res);
	answer_bytes = 100000;
	for (int i = 0; i < 6; i++) {
		struct pl_msg m;
		struct json_object *d = json_object_new_string(i == 3 ? huge : big);

		memset(&m, 0, sizeof m);
		m.topic = "/big";
		m.data = d;
		m.created = pl_now_ms();
		m.expires = m.created + 3600000;
		id[i] = pl_store_publish(st, &m, 1) == PL_OK ? m.id : -1;
		json_object_put(d);
	}
	filt(&f, "/big", PL_SINCE_ALL, 0, 100);
	good = pl_store_query(st, &f, &res) == PL_OK;
	ok(good && res.n == 2 && res.more && res.cursor == id[1],
	   "answer bytes: two 40 KB messages fit in 100,000 bytes, the third is for the next answer (n %zu, more %d)",
	   res.n, res.more);
	/* Follow the cursor: 1+2, 3, 4 (150 KB alone), 5+6. */
	do {
		filt(&f, "/big", cursor ? PL_SINCE_ID : PL_SINCE_ALL, cursor, 100);
		if (pl_store_query(st, &f, &res) != PL_OK || res.n == 0) {
			good = 0;
			break;
		}
		snprintf(seen + strlen(seen), sizeof seen - strlen(seen), "%s%s", rounds ? "|" : "", ids(&res));
		cursor = res.cursor;
	} while (res.more && ++rounds < 10);
	ok(good && !strcmp(seen, "1,2|3|4|5,6"), "answer bytes: followed, every message once, one too large alone (%s)",
	   seen);
	good = pl_store_tail(st, 0, 1000, &res) == PL_OK;
	ok(good && res.n == 3 && res.more && res.cursor == id[2], "answer bytes: a wake's read stops past them too (n %zu)",
	   res.n);
	pl_result_free(&res);
	free(big);
	free(huge);
	pl_store_close(st);
	answer_bytes = 64u << 20;
}

/* A filter that matches nothing for a long way: each answer stops after
 * PL_EXAMINE_MAX rows passed over, with more and a cursor to go on from;
 * followed, every match comes once, on both read paths and in the admin
 * view, and a delete by that filter reaches past the stop. */
static void t_examine_max(void)
{
	struct pl_store *st = open_fresh();
	struct pl_filter f;
	struct pl_result res;
	int64_t first, a, b, deleted = 0;
	char want[64];
	int rc;

	memset(&res, 0, sizeof res);
	first = pub(st, "/ex", NULL, NULL, NULL);
	pub_many(st, "/ex", 12000);
	a = pub(st, "/ex", NULL, NULL, "rare");
	pub_many(st, "/ex", 13000);
	b = pub(st, "/ex", NULL, NULL, "rare");
	snprintf(want, sizeof want, "%lld,%lld", (long long)a, (long long)b);
	for (int admin = 0; admin < 2; admin++) {
		const char *who = admin ? "admin" : "subscriber";
		char seen[256] = "";
		int64_t cursor = 0;
		int rounds = 0, good = 1, empty_more = 0;

		do {
			filt(&f, "/ex", cursor ? PL_SINCE_ID : PL_SINCE_ALL, cursor, 100);
			f.type = "rare";
			f.admin = admin;
			if (pl_store_query(st, &f, &res) != PL_OK || res.cursor <= cursor ||
			    res.passed > PL_EXAMINE_MAX) {
				good = 0;
				break;
			}
			if (rounds == 0)
				ok(res.n == 0 && res.more && res.cursor == first + PL_EXAMINE_MAX - 1,
				   "examine max (%s): the first answer stops after %d rows passed over: none, more, "
				   "cursor at the last one looked at (%lld)", who, PL_EXAMINE_MAX, (long long)res.cursor);
			if (res.n == 0 && res.more)
				empty_more++;
			if (res.n)
				snprintf(seen + strlen(seen), sizeof seen - strlen(seen), "%s%s", *seen ? "," : "", ids(&res));
			cursor = res.cursor;
		} while (res.more && ++rounds < 20);
		ok(good && !res.more && cursor == b && empty_more >= 1 && !strcmp(seen, want),
		   "examine max (%s): followed, both matches once (%s), the last answer at the head", who, seen);
	}
	/* Stopped at the last row there is to look at: nothing more. For a
	 * subscriber the topic's index ranges end there (a message of another
	 * topic is the head); the admin view without user= reads the table
	 * up to the head. */
	for (int admin = 0; admin < 2; admin++) {
		struct pl_store *st2 = open_fresh();
		int64_t head2;

		pub_many(st2, "/exh", PL_EXAMINE_MAX);
		head2 = admin ? PL_EXAMINE_MAX : pub(st2, "/other", NULL, NULL, NULL);
		filt(&f, "/exh", PL_SINCE_ALL, 0, 100);
		f.type = "rare";
		f.admin = admin;
		rc = pl_store_query(st2, &f, &res);
		ok(rc == PL_OK && res.n == 0 && !res.more && res.cursor == head2,
		   "examine max (%s): %d rows passed over, the last there is: none, no more, cursor %lld at the head",
		   admin ? "admin" : "subscriber", PL_EXAMINE_MAX, (long long)res.cursor);
		pl_store_close(st2);
	}
	/* near the head (the primary-key range): nothing to pass over */
	filt(&f, "/ex", PL_SINCE_ID, a, 100);
	f.type = "rare";
	f.since_id = b - 100;
	ok(pl_store_query(st, &f, &res) == PL_OK && res.n == 1 && !res.more && res.cursor == b,
	   "examine max: near the head one answer as before");
	/* a delete by the filter goes on past each stop */
	filt(&f, "/ex", PL_SINCE_ALL, 0, 1000);
	f.type = "rare";
	f.admin = 1;
	rc = pl_store_delete_matching(st, &f, -1, &deleted);
	ok(rc == PL_OK && deleted == 2, "examine max: a delete by type reaches both matches past the stops (%lld deleted)",
	   (long long)deleted);
	pl_result_free(&res);
	pl_store_close(st);
}

/* Page requests on st's connection since the last call (SQLite's page
 * cache hits and misses: every page a statement touched). */
static long pages_touched(struct pl_store *st)
{
	int hit = 0, miss = 0, hw;

	sqlite3_db_status(st->db, SQLITE_DBSTATUS_CACHE_HIT, &hit, &hw, 1);
	sqlite3_db_status(st->db, SQLITE_DBSTATUS_CACHE_MISS, &miss, &hw, 1);
	return (long)hit + miss;
}

/* A row that does not match is passed over before its body is read: each
 * 40 KB body spans ten pages, and a type= or another user's rows that
 * match nothing must not read them all for an empty answer (both read
 * paths); the rows that match still come whole. */
static void t_passed_unread(void)
{
	enum { N = 600, BODY = 40 * 1024 };
	struct pl_store *st = open_fresh();
	struct pl_filter f;
	struct pl_result res;
	char *text = pl_xmalloc(BODY + 1);
	struct json_object *d;
	int64_t first = 0, last = 0, hit = 0;
	long pages;
	int good = 1, rc;

	memset(&res, 0, sizeof res);
	memset(text, 'x', BODY);
	text[BODY] = '\0';
	d = json_object_new_string(text);
	for (int i = 0; i < N && good; i++) {
		struct pl_msg m;

		memset(&m, 0, sizeof m);
		m.topic = "/big";
		/* every hundredth row for alice, of type t; the rest plain */
		m.user = i % 100 == 50 ? "alice" : NULL;
		m.type = i % 100 == 50 ? "t" : NULL;
		m.data = d;
		m.created = pl_now_ms();
		m.expires = m.created + 3600 * 1000;
		good = pl_store_publish(st, &m, 1) == PL_OK;
		if (!first)
			first = m.id;
		last = m.id;
		if (i % 100 == 50)
			hit = m.id;
	}
	json_object_put(d);
	free(text);
	ok(good, "passed unread: %d messages of %d KB stored", N, BODY / 1024);
	/* far from the head: the path index, then each row by id */
	filt(&f, "/big", PL_SINCE_ALL, 0, 100);
	f.type = "nomatch";
	pages_touched(st);
	rc = pl_store_query(st, &f, &res);
	pages = pages_touched(st);
	ok(rc == PL_OK && res.n == 0 && res.cursor == last && pages < 4L * N,
	   "passed unread: type=nomatch far from the head touched %ld pages for %d rows (their bodies: %d)",
	   pages, N, N * (BODY / 4096));
	/* near the head: the primary-key range, alice's rows among them */
	filt(&f, "/big", PL_SINCE_ID, last - 300, 100);
	f.type = "nomatch";
	pages_touched(st);
	rc = pl_store_query(st, &f, &res);
	pages = pages_touched(st);
	ok(rc == PL_OK && res.n == 0 && res.cursor == last && pages < 300,
	   "passed unread: type=nomatch near the head touched %ld pages for 300 rows", pages);
	filt(&f, "/big", PL_SINCE_ID, last - 300, 100);
	f.identity = "bob";
	f.type = "t";
	pages_touched(st);
	rc = pl_store_query(st, &f, &res);
	pages = pages_touched(st);
	ok(rc == PL_OK && res.n == 0 && pages < 300,
	   "passed unread: alice's rows near the head, asked by bob, touched %ld pages", pages);
	/* what matches comes whole, on both paths */
	for (int far = 0; far < 2; far++) {
		filt(&f, "/big", far ? PL_SINCE_ALL : PL_SINCE_ID, far ? 0 : last - 300, 100);
		f.identity = "alice";
		f.type = "t";
		rc = pl_store_query(st, &f, &res);
		ok(rc == PL_OK && res.n == (far ? 6u : 3u) && res.rows[res.n - 1].id == hit &&
		   res.rows[0].body_len > BODY && bodies_match(st, &res),
		   "passed unread: alice's %s rows of type t come whole (%zu)", far ? "far" : "near", res.n);
	}
	(void)first;
	pl_result_free(&res);
	pl_store_close(st);
}

/* The admin view of a topic with few messages behind many of another
 * topic: the rows of other topics are not what the answer passed over, so
 * the topic's messages come in the first answer (not an empty page with
 * more); the same with a second topic, with user= and on a topic's own
 * rare type, which still stops after PL_EXAMINE_MAX of the topic's rows. */
static void t_admin_sparse(void)
{
	struct pl_store *st = open_fresh();
	struct pl_filter f;
	struct pl_result res;
	int64_t a, b, c, r;
	char want[128];
	int rc;

	memset(&res, 0, sizeof res);
	a = pub(st, "/few", NULL, NULL, NULL);
	pub_many(st, "/many", PL_EXAMINE_MAX + 2000);
	b = pub(st, "/few/x", "bob", "pc", NULL);
	c = pub(st, "/other", NULL, NULL, NULL);
	pub_many(st, "/many", 600);

	filt(&f, "/few", PL_SINCE_ALL, 0, 100);
	f.admin = 1;
	snprintf(want, sizeof want, "%lld,%lld", (long long)a, (long long)b);
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && !strcmp(ids(&res), want) && !res.more && res.cursor == res.head,
	   "admin sparse: a topic's messages behind %d of another's in one answer (%s, more %d)", PL_EXAMINE_MAX + 2000,
	   ids(&res), res.more);
	filt(&f, "/few,/other", PL_SINCE_ID, a, 100);
	f.admin = 1;
	snprintf(want, sizeof want, "%lld,%lld", (long long)b, (long long)c);
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && !strcmp(ids(&res), want) && !res.more,
	   "admin sparse: two topics from a cursor (%s)", ids(&res));
	filt(&f, "/few", PL_SINCE_ALL, 0, 1);
	f.admin = 1;
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && res.n == 1 && res.rows[0].id == a && res.more && res.cursor == a,
	   "admin sparse: limit 1 gives the first, more, cursor at it");
	filt(&f, "/", PL_SINCE_ALL, 0, 100);
	f.admin = 1;
	f.user_filter = "bob";
	snprintf(want, sizeof want, "%lld", (long long)b);
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && !strcmp(ids(&res), want) && !res.more,
	   "admin sparse: user=bob (%s)", ids(&res));
	r = pub(st, "/many", NULL, NULL, "rare");
	filt(&f, "/many", PL_SINCE_ALL, 0, 100);
	f.admin = 1;
	f.type = "rare";
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && res.n == 0 && res.more && res.cursor < r,
	   "admin sparse: a rare type within the topic still stops after the topic's rows passed over");
	/* that stop was for the topic's own rows: no sort of all its entries
	 * (the every-user path range statement was never needed) */
	ok(res.foreign < res.passed / 2 && st->paths_any[0] != NULL, "admin sparse: the few-topic lists above read the index");
	sqlite3_finalize(st->paths_any[0]);
	st->paths_any[0] = NULL;
	rc = pl_store_query(st, &f, &res);
	ok(rc == PL_OK && res.more && st->paths_any[0] == NULL,
	   "admin sparse: a type= that matches none of a topic's rows does not read the topic's entries sorted");
	pl_result_free(&res);
	pl_store_close(st);
}

/* Rows another program wrote (a repair by hand, a script): an empty or
 * unframed body, an empty topic. Every answer stays valid JSON, and
 * deleting them works. */
static void t_foreign_rows(void)
{
	static const char *const bodies[] = { "", "x", "{}", "[1]", "{\"topic\":\"/f\",\"data\":1}" };
	struct pl_store *st = open_fresh();
	struct pl_filter f;
	struct pl_result res;
	sqlite3_stmt *ins = NULL, *path = NULL;
	int64_t now = pl_now_ms();
	int good = 1, n = (int)(sizeof bodies / sizeof bodies[0]);

	memset(&res, 0, sizeof res);
	if (sqlite3_prepare_v2(st->db, "INSERT INTO messages(topic, created, expires, body) VALUES (?, ?, ?, ?)", -1,
			       &ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(st->db, "INSERT INTO message_paths(path, user, id) VALUES ('/', '', ?)", -1, &path,
			       NULL) != SQLITE_OK) {
		ok(0, "foreign: cannot prepare: %s", sqlite3_errmsg(st->db));
		return;
	}
	for (int i = 0; i < n; i++) {
		sqlite3_bind_text(ins, 1, i == 0 ? "" : "/f", -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 2, now);
		sqlite3_bind_int64(ins, 3, now + 60000);
		sqlite3_bind_text(ins, 4, bodies[i], -1, SQLITE_STATIC);
		good &= sqlite3_step(ins) == SQLITE_DONE;
		sqlite3_reset(ins);
		sqlite3_bind_int64(path, 1, sqlite3_last_insert_rowid(st->db));
		good &= sqlite3_step(path) == SQLITE_DONE;
		sqlite3_reset(path);
	}
	sqlite3_finalize(ins);
	sqlite3_finalize(path);
	ok(good, "foreign: %d rows written beside pushlite", n);
	filt(&f, "/", PL_SINCE_ALL, 0, 100);
	good = pl_store_query(st, &f, &res) == PL_OK;
	ok(good && res.n == (size_t)n, "foreign: a subscription to / reads them (%zu)", res.n);
	for (size_t i = 0; i < res.n; i++) {
		for (int last_get = 0; last_get < 2; last_get++) {
			struct pl_buf b = { 0 };
			struct json_object *o, *v;

			pl_out_message_json(&b, &res.rows[i], last_get);
			pl_buf_addc(&b, '\0');
			o = json_tokener_parse(b.p);
			if (!o || !json_object_object_get_ex(o, "id", &v) || json_object_get_int64(v) != res.rows[i].id ||
			    !json_object_object_get_ex(o, "topic", &v)) {
				diag("row %lld: %s", (long long)res.rows[i].id, b.p);
				good = 0;
			}
			json_object_put(o);
			pl_buf_free(&b);
		}
	}
	ok(good, "foreign: each answers as a JSON object with its id and topic");
	good = 1;
	for (size_t i = 0; i < res.n; i++)
		good &= pl_store_delete(st, res.rows[i].id) == PL_OK;
	pl_result_free(&res);
	memset(&res, 0, sizeof res);
	ok(good && pl_store_query(st, &f, &res) == PL_OK && res.n == 0, "foreign: deleted one by one");
	pl_result_free(&res);
	pl_store_close(st);
}

static int exists_as(const char *path, ino_t ino)
{
	struct stat sb;

	return stat(path, &sb) == 0 && sb.st_ino == ino;
}

/* Another process, forked before this one opens the file (SQLite's state
 * for a file does not survive a fork): told a database's path, it opens it
 * (with its own -wal and -shm, where this process would share its own
 * connections' index), publishes one message on topic and exits without
 * closing (its commit stays in its -wal). */
struct other {
	pid_t pid;
	int ask[2], tell[2];
};

static int other_start(struct other *o, const char *topic)
{
	if (pipe(o->ask) != 0 || pipe(o->tell) != 0 || (o->pid = fork()) < 0)
		return -1;
	if (o->pid == 0) {
		struct pl_store *st = NULL;
		char path[256] = "";
		int64_t mine = -1;

		if (read(o->ask[0], path, sizeof path - 1) > 0) {
			free(conf.db_path);
			conf.db_path = pl_xstrdup(path);
			if (pl_store_open(&st, &conf) == PL_OK)
				mine = pub(st, topic, NULL, NULL, NULL);
			else
				diag("other process: %s", pl_store_open_error());
		}
		if (write(o->tell[1], &mine, sizeof mine) != (ssize_t)sizeof mine)
			_exit(1);
		_exit(0);
	}
	return 0;
}

/* Its message's id, or -1. */
static int64_t other_publish(struct other *o, const char *path)
{
	int64_t id = -1;
	int status = 0;

	if (write(o->ask[1], path, strlen(path)) <= 0 || read(o->tell[0], &id, sizeof id) != (ssize_t)sizeof id)
		id = -1;
	waitpid(o->pid, &status, 0);
	for (int i = 0; i < 2; i++) {
		close(o->ask[i]);
		close(o->tell[i]);
	}
	return id;
}

/* An operator deletes the database, its -wal and its -shm (rm takes them one
 * after the other) and a new one is made: every connection must notice,
 * and closing one must not take the new database's files with it. */
static void t_moved(void)
{
	struct pl_store *st1 = open_fresh(), *st2 = NULL, *st4 = NULL;
	char wal[320], shm[320];
	int64_t id = 0, head = 0;
	struct stat wal_sb, shm_sb;
	struct other o;

	snprintf(wal, sizeof wal, "%s-wal", conf.db_path);
	snprintf(shm, sizeof shm, "%s-shm", conf.db_path);
	pub(st1, "/m", NULL, NULL, NULL);
	ok(pl_store_moved(st1) == 0, "moved: a database in place is not moved");
	if (other_start(&o, "/m") != 0) {
		ok(0, "moved: cannot fork");
		return;
	}
	unlink(conf.db_path);
	/* Opened between the database's unlink and its -wal's. */
	ok(pl_store_open(&st2, &conf) == PL_OK, "moved: a new file opened beside the old -wal and -shm");
	unlink(wal);
	unlink(shm);
	id = other_publish(&o, conf.db_path);
	ok(id > 0 && stat(wal, &wal_sb) == 0 && stat(shm, &shm_sb) == 0,
	   "moved: another process published %lld to the new file", (long long)id);
	st2->moved_checked = 0;
	ok(pl_store_moved(st2) == 1, "moved: a connection left with the old -wal and -shm sees it");
	st1->moved_checked = 0;
	ok(pl_store_moved(st1) == 1, "moved: a connection to the deleted file sees it");
	pl_store_close(st2);
	pl_store_close(st1);    /* the last connection to the deleted file */
	ok(exists_as(wal, wal_sb.st_ino) && exists_as(shm, shm_sb.st_ino),
	   "moved: closing the old connections leaves the new database's -wal and -shm");
	if (pl_store_open(&st4, &conf) != PL_OK || pl_store_head(st4, &head) != PL_OK)
		head = -1;
	ok(head == id,
	   "moved: the message committed to the new database is there for a new connection (head %lld, id %lld)",
	   (long long)head, (long long)id);
	ok(st4 && pl_store_moved(st4) == 0, "moved: the new connection is in place");
	pl_store_close(st4);
}

/* An operator deletes the -shm alone, and another process makes a new one.
 * A second connection opened in this process while the first still holds
 * the deleted one would use that index too (SQLite shares it), commit
 * where no other process reads and see none of their commits: it is
 * refused, and the first one is told to let go at once. */
static void t_shm_replaced(void)
{
	struct pl_store *st1, *st2 = NULL, *st3 = NULL;
	char shm[320];
	int64_t id = 0, head = 0;
	struct other o;
	int rc;

	if (other_start(&o, "/shm") != 0) {
		ok(0, "shm: cannot fork");
		return;
	}
	st1 = open_fresh();
	snprintf(shm, sizeof shm, "%s-shm", conf.db_path);
	pub(st1, "/shm", NULL, NULL, NULL);
	unlink(shm);
	id = other_publish(&o, conf.db_path);
	ok(id > 0 && access(shm, F_OK) == 0, "shm: another process published %lld beside a new -shm", (long long)id);
	rc = pl_store_open(&st2, &conf);
	ok(rc == PL_EBUSY && !st2, "shm: a second connection, which would share the deleted -shm, is refused (rc %d)", rc);
	if (st2)
		pl_store_close(st2);
	st1->moved_checked = pl_mono_ms();
	ok(pl_store_moved(st1) == 1, "shm: the connection holding the deleted -shm is told at once");
	pl_store_close(st1);
	if (pl_store_open(&st3, &conf) != PL_OK || pl_store_head(st3, &head) != PL_OK)
		head = -1;
	ok(head == id, "shm: once it is closed, a new connection sees the other process's commit (head %lld, id %lld)",
	   (long long)head, (long long)id);
	ok(st3 && pl_store_moved(st3) == 0, "shm: the new connection is in place");
	pl_store_close(st3);
}

/* An operator removes the -wal and -shm while two processes publish: what
 * was committed in that -wal goes with it, the sequence's last value too.
 * The other process, which gave only the first id, opens the new files and
 * must continue above every id given (SPEC 2: never reused), not above its
 * own: a subscriber whose cursor passed those ids would skip its messages. */
static void t_wal_lost_ids(void)
{
	struct pl_store *st;
	char wal[320], shm[320], path[300] = "";
	int ask[2], tell[2], status = 0;
	int64_t first = -1, top = 0, again = -1;
	pid_t pid;

	if (pipe(ask) != 0 || pipe(tell) != 0 || (pid = fork()) < 0) {
		ok(0, "wal lost: cannot fork");
		return;
	}
	if (pid == 0) {
		struct pl_store *cs = NULL;
		int64_t id = -1;
		char go;

		if (read(ask[0], path, sizeof path - 1) > 0) {
			free(conf.db_path);
			conf.db_path = pl_xstrdup(path);
			if (pl_store_open(&cs, &conf) == PL_OK)
				id = pub(cs, "/lost", NULL, NULL, NULL);
		}
		if (write(tell[1], &id, sizeof id) != (ssize_t)sizeof id || read(ask[0], &go, 1) != 1)
			_exit(1);
		id = -1;
		if (cs && !pl_store_in_place(cs)) {
			pl_store_close(cs);
			cs = NULL;
			if (pl_store_open(&cs, &conf) == PL_OK)
				id = pub(cs, "/lost", NULL, NULL, NULL);
		}
		if (write(tell[1], &id, sizeof id) != (ssize_t)sizeof id)
			_exit(1);
		_exit(0);
	}
	st = open_fresh();
	snprintf(wal, sizeof wal, "%s-wal", conf.db_path);
	snprintf(shm, sizeof shm, "%s-shm", conf.db_path);
	if (write(ask[1], conf.db_path, strlen(conf.db_path)) <= 0 ||
	    read(tell[0], &first, sizeof first) != (ssize_t)sizeof first)
		first = -1;
	for (int i = 0; i < 5; i++)
		top = pub(st, "/lost", NULL, NULL, NULL);
	ok(first > 0 && top == first + 5, "wal lost: the other process gave %lld, this one up to %lld",
	   (long long)first, (long long)top);
	unlink(wal);
	unlink(shm);
	if (write(ask[1], "g", 1) != 1 || read(tell[0], &again, sizeof again) != (ssize_t)sizeof again)
		again = -1;
	waitpid(pid, &status, 0);
	ok(again > top, "wal lost: the other process, opening the new files, gives %lld, above every id given (%lld)",
	   (long long)again, (long long)top);
	st->moved_checked = 0;
	ok(pl_store_moved(st) == 1, "wal lost: this connection sees its files gone");
	pl_store_close(st);
	for (int i = 0; i < 2; i++) {
		close(ask[i]);
		close(tell[i]);
	}
}

/* A database removed with its -wal and -shm and made again (pushlite init),
 * DB.ids left beside it: the new file often gets the old one's inode
 * number, and must still start its ids afresh (the cursors past them get
 * reset, SPEC 4), not above the old file's. Looked at when the file system
 * gives the inode again within a few tries (ext4 does; tmpfs never). */
static void t_recreated_ids(void)
{
	struct pl_store *st = open_fresh();
	char side[320];
	struct stat sb;
	ino_t old;
	int64_t head = -1, id = -1;
	int tries;

	for (int i = 0; i < 5; i++)
		pub(st, "/re", NULL, NULL, NULL);
	old = stat(conf.db_path, &sb) == 0 ? sb.st_ino : 0;
	pl_store_close(st);
	st = NULL;
	/* Birth times come from a clock that steps every few ms (4 on
	 * Debian 12's kernel); a real database is made again much later. */
	usleep(20000);
	for (tries = 0; tries < 30; tries++) {
		if (st)
			pl_store_close(st);
		st = NULL;
		unlink(conf.db_path);
		for (int i = 0; i < 2; i++) {
			snprintf(side, sizeof side, "%s%s", conf.db_path, i ? "-shm" : "-wal");
			unlink(side);
		}
		if (pl_store_open(&st, &conf) != PL_OK)
			break;
		if (stat(conf.db_path, &sb) == 0 && sb.st_ino == old)
			break;
	}
	if (!st || tries == 30) {
		ok(1, "recreated: a new file with the old one's inode # SKIP the file system gave no inode again");
	} else {
		if (pl_store_head(st, &head) != PL_OK)
			head = -1;
		id = pub(st, "/re", NULL, NULL, NULL);
		ok(head == 0 && id == 1,
		   "recreated: a new file with the old one's inode (try %d) starts its ids afresh (head %lld, id %lld)",
		   tries + 1, (long long)head, (long long)id);
	}
	if (st)
		pl_store_close(st);
}

/* A process that gave ids 1-5 ended without closing (killed), its commits
 * still in the -wal, and the operator removed the -wal and -shm before
 * starting again: the next opening continues above 5. The new -wal often
 * gets the removed one's inode number, and must not pass for it. */
static void t_crashed_wal_ids(void)
{
	int reused = 0, tries, bad = 0;

	for (tries = 0; tries < 10 && !reused; tries++) {
		struct pl_store *st = NULL;
		char path[300], wal[320], shm[320];
		struct stat sb;
		ino_t old = 0;
		int64_t id = -1;
		int status = 0;
		pid_t pid;

		snprintf(path, sizeof path, "%s/db%d.sqlite", dir, ++dbno);
		free(conf.db_path);
		conf.db_path = pl_xstrdup(path);
		snprintf(wal, sizeof wal, "%s-wal", path);
		snprintf(shm, sizeof shm, "%s-shm", path);
		if ((pid = fork()) < 0)
			break;
		if (pid == 0) {
			if (pl_store_open(&st, &conf) != PL_OK)
				_exit(1);
			for (int i = 0; i < 5; i++)
				pub(st, "/crash", NULL, NULL, NULL);
			_exit(0);       /* no close: the commits stay in the -wal */
		}
		waitpid(pid, &status, 0);
		if (stat(wal, &sb) == 0)
			old = sb.st_ino;
		unlink(wal);
		unlink(shm);
		if (pl_store_open(&st, &conf) == PL_OK) {
			reused = stat(wal, &sb) == 0 && sb.st_ino == old;
			id = pub(st, "/crash", NULL, NULL, NULL);
			pl_store_close(st);
		}
		if (id != 6) {
			diag("crashed: try %d: id %lld after 5 (the new -wal %s the old one's inode)", tries + 1,
			     (long long)id, reused ? "has" : "has not");
			bad++;
		}
	}
	ok(bad == 0, "crashed: after the -wal of a killed process was removed, ids continue above it (%d tries, "
	   "the last new -wal %s the removed one's inode)", tries, reused ? "with" : "without");
}

/* DB.ids removed while the programs run (with the database's files, by an
 * operator starting over): a connection opened after that writes the file
 * at the path again, not the removed one it had open. */
static void t_ids_file_removed(void)
{
	struct pl_store *st = open_fresh(), *st2 = NULL;
	char ids[320];

	snprintf(ids, sizeof ids, "%s.ids", conf.db_path);
	pub(st, "/idsf", NULL, NULL, NULL);
	ok(access(ids, F_OK) == 0, "ids file: a commit makes DB.ids");
	unlink(ids);
	if (pl_store_open(&st2, &conf) == PL_OK)
		pub(st2, "/idsf", NULL, NULL, NULL);
	ok(access(ids, F_OK) == 0, "ids file: after it was removed, the next opening's commit makes it again");
	pl_store_close(st2);
	pl_store_close(st);
}

/* A commit that fails (the file system full, here a file size limit) gave
 * no id: the next one continues right after the last one given, and no
 * connection opened since takes the failed commit's ids for lost ones. In
 * a child process, for the limit. */
static void t_failed_commit_ids(void)
{
	struct pl_store *st = open_fresh();
	int status = -1;
	pid_t pid;

	for (int i = 0; i < 3; i++)
		pub(st, "/full", NULL, NULL, NULL);
	pl_store_close(st);
	if ((pid = fork()) == 0) {
		struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
		struct stat sb;
		char wal[320];
		int64_t big, next = -1, minute = -1;

		signal(SIGXFSZ, SIG_IGN);
		snprintf(wal, sizeof wal, "%s-wal", conf.db_path);
		if (pl_store_open(&st, &conf) != PL_OK || stat(wal, &sb) != 0)
			_exit(3);
		rl.rlim_cur = (rlim_t)sb.st_size + 8192;
		setrlimit(RLIMIT_FSIZE, &rl);
		big = pub_sized(st, "/full", NULL, 300000, 'z', 3600000);
		rl.rlim_cur = RLIM_INFINITY;
		setrlimit(RLIMIT_FSIZE, &rl);
		/* As pl_group does after a failed commit: open afresh. */
		pl_store_close(st);
		if (pl_store_open(&st, &conf) == PL_OK) {
			minute = pl_sq_minute_count(st, pl_now_ms() / 1000);
			next = pub(st, "/full", NULL, NULL, NULL);
		}
		pl_store_close(st);
		_exit(big != -1 ? 4 : minute != 3 ? 5 : next == 4 ? 0 : next == 5 ? 1 : 2);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "failed commit: the next id after 1-3 is 4, and 3 count as published (child exit %d: 1 means 5, "
	   "4 that the commit did not fail, 5 that the count is not 3)",
	   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* SPEC 6: "in short batches so publishers are never blocked for long",
 * also with two purges at once. Two purge processes delete 20,000 expired
 * rows while this one looks, every 0.3 ms and without waiting, whether the
 * write lock is free: a publish gets in only at such moments. Without a
 * pause between batches, one purge or the other held or took the lock again
 * at nearly every look (a publish then ran at 0.05 of its rate). */
static void t_purge_yields(void)
{
	struct pl_store *ws = open_fresh();
	/* Under valgrind every step is some 30 times slower, the looks too:
	 * their share of free moments says nothing there (about 0.3). Under
	 * the sanitizers, on a busy machine, it fell to 0.2: the plain build's
	 * run is the one that tells. */
	const int timed = getenv("PL_VALGRIND") == NULL && !SANITIZED, rows = getenv("PL_VALGRIND") ? 2000 : 20000;
	char sql[1024];
	int64_t now = pl_now_ms(), left = -1;
	long looks = 0, free_looks = 0;
	int running = 2, bad = 0, wst;
	pid_t pids[2];

	snprintf(sql, sizeof sql,
		 "BEGIN; WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d) "
		 "INSERT INTO messages (topic, created, expires, body) "
		 "SELECT '/y', %lld, %lld, '{\"topic\":\"/y\",\"data\":\"x\"}' FROM c; "
		 "INSERT INTO message_paths (path, user, id) SELECT '/', '', id FROM messages; "
		 "INSERT INTO message_paths (path, user, id) SELECT '/y', '', id FROM messages; COMMIT",
		 rows, (long long)(now - 10000), (long long)(now - 5000));
	if (sqlite3_exec(ws->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		ok(0, "fill for the purge: %s", sqlite3_errmsg(ws->db));
		pl_store_close(ws);
		return;
	}
	/* Closed across the fork (as in t_exactly_once). */
	pl_store_close(ws);
	for (int i = 0; i < 2; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			struct pl_store *cs = NULL;
			struct pl_purge p = { .now_ms = now, .max_rows = -1, .max_age = -1, .batch = 200 };
			struct pl_purge_result r;

			if (pl_store_open(&cs, &conf) != PL_OK)
				_exit(3);
			if (pl_store_purge(cs, &p, &r) != PL_OK)
				_exit(1);
			pl_store_close(cs);
			_exit(0);
		}
	}
	if (pl_store_open(&ws, &conf) != PL_OK) {
		ok(0, "reopen to look at the lock");
		return;
	}
	ws->no_wait = 1;
	while (running) {
		looks++;
		if (sqlite3_exec(ws->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK) {
			free_looks++;
			sqlite3_exec(ws->db, "COMMIT", NULL, NULL, NULL);
		}
		usleep(300);
		for (int i = 0; i < 2; i++)
			if (pids[i] > 0 && waitpid(pids[i], &wst, WNOHANG) == pids[i]) {
				bad += !WIFEXITED(wst) || WEXITSTATUS(wst) != 0;
				pids[i] = 0;
				running--;
			}
	}
	ws->no_wait = 0;
	pl_sq_read_int(ws, S_COUNT, 0, 0, &left);
	ok(!bad && left == 0, "two purges at once deleted all %d rows (%lld left)", rows, (long long)left);
	if (timed)
		ok(looks >= 100 && free_looks * 4 >= looks,
		   "while they ran the write lock was free at a quarter of the looks at least (%ld of %ld)",
		   free_looks, looks);
	else
		ok(1, "the write lock's free share # SKIP valgrind or a sanitizer changes the timing (%ld of %ld looks)",
		   free_looks, looks);
	pl_store_close(ws);
}

/* publishes_last_minute counts the messages committed in the last 60 s,
 * as DB.ids counts them in each commit: a delete or a purge of the table
 * does not change it, a batch counts each message. Without DB.ids it
 * counts by ids, from the last message kept from before the minute. */
static void t_minute(void)
{
	struct pl_store *st = open_fresh(), *st2 = NULL;
	struct pl_stats s = { 0 };
	struct pl_filter f;
	int64_t first = 0, last = 0, now, deleted = 0;
	char ids[300];
	int rc;

	/* created back-dated (as no publish makes them): committed now all
	 * the same, so counted, but before the minute to the count by ids */
	for (int i = 0; i < 3; i++)
		pub_at(st, "/m", NULL, NULL, NULL, -2 * 3600 * 1000LL, 24 * 3600 * 1000LL);
	for (int i = 0; i < 5; i++) {
		last = pub(st, "/m", NULL, NULL, NULL);
		if (!first)
			first = last;
	}
	rc = pl_store_stats(st, &s);
	ok(rc == PL_OK && s.publishes_last_minute == 8, "minute: 8 publishes in the last minute (%lld)",
	   (long long)s.publishes_last_minute);
	pl_store_delete(st, first);
	pl_store_delete(st, first + 2);
	pl_store_delete(st, last);
	rc = pl_store_stats(st, &s);
	ok(rc == PL_OK && s.rows == 5 && s.publishes_last_minute == 8,
	   "minute: still 8 after deleting 3 of them, the first and the newest included (%lld, rows %lld)",
	   (long long)s.publishes_last_minute, (long long)s.rows);
	filt(&f, "/m", PL_SINCE_ALL, 0, 1000);
	f.admin = 1;
	pl_store_delete_matching(st, &f, -1, &deleted);
	pub_many(st, "/m/b", 4);
	rc = pl_store_stats(st, &s);
	ok(rc == PL_OK && deleted == 5 && s.rows == 4 && s.publishes_last_minute == 12,
	   "minute: 12 after the table was emptied and a batch of 4 came (%lld, rows %lld)",
	   (long long)s.publishes_last_minute, (long long)s.rows);
	/* the minute up to a later second: the seconds before it drop out */
	now = pl_now_ms() / 1000;
	ok(pl_sq_minute_count(st, now + 58) == 12 && pl_sq_minute_count(st, now + 61) == 0 &&
	   pl_sq_minute_count(st, now - 1000) == 0,
	   "minute: counted up to 58 s later, not 61 s later, nor before");
	/* DB.ids removed: counted by ids, after the last message kept from
	 * before the minute; with none (ids 1-8 went), from the first one of
	 * the minute (the batch, 9-12) */
	snprintf(ids, sizeof ids, "%s.ids", conf.db_path);
	unlink(ids);
	rc = pl_store_stats(st, &s);
	ok(rc == PL_OK && pl_sq_minute_count(st, now) == -1 && s.publishes_last_minute == 4,
	   "minute: without DB.ids, by ids: the 4 of the batch (%lld)", (long long)s.publishes_last_minute);
	/* the next commit, of the same connection, makes DB.ids again and
	 * counts from there */
	last = pub(st, "/m", NULL, NULL, NULL);
	rc = pl_store_stats(st, &s);
	ok(rc == PL_OK && access(ids, F_OK) == 0 && s.publishes_last_minute == 1,
	   "minute: DB.ids made again by the next commit counts from there (%lld)",
	   (long long)s.publishes_last_minute);
	/* a binary from before the count writes the record alone: its
	 * commits are in no second, so the count is by ids again */
	{
		struct ids_rec r = { (uint64_t)st->id[0].dev, (uint64_t)st->id[0].ino, st->born, last + 5, 0 };
		int fd = open(ids, O_WRONLY);

		r.sum = ids_sum(&r);
		ok(fd >= 0 && pwrite(fd, &r, sizeof r, 0) == (ssize_t)sizeof r && pl_sq_minute_count(st, now) == -1,
		   "minute: after a commit that counted none (an older binary's), not counted by seconds");
		if (fd >= 0)
			close(fd);
	}
	/* a member of the database's group makes DB.ids: as writable as the
	 * database (its mode), whatever the umask */
	st2 = open_fresh();
	chmod(conf.db_path, 0660);
	{
		mode_t old = umask(022);
		struct stat sb;

		snprintf(ids, sizeof ids, "%s.ids", conf.db_path);
		pub(st2, "/m", NULL, NULL, NULL);
		umask(old);
		rc = stat(ids, &sb);
		ok(rc == 0 && (sb.st_mode & 0777) == 0660, "minute: DB.ids takes the database's mode (%o)",
		   (unsigned)(sb.st_mode & 0777));
	}
	pl_store_close(st2);
	pl_store_close(st);
}

/* The count read while another process commits (each commit rewrites
 * DB.ids whole, and stats read it without the write lock): never a dip. */
static void t_minute_torn(void)
{
	struct pl_store *st = open_fresh();
	int64_t start = pl_now_ms() / 1000, prev = 0, c, reads = 0, dips = 0;
	/* valgrind: some 30 times slower */
	int status = -1, n = getenv("PL_VALGRIND") ? 200 : 3000;
	pid_t pid;

	pub(st, "/torn", NULL, NULL, NULL);
	if ((pid = fork()) == 0) {
		struct pl_store *w = NULL;

		if (pl_store_open(&w, &conf) != PL_OK)
			_exit(2);
		for (int i = 0; i < n; i++)
			pub(w, "/torn", NULL, NULL, NULL);
		pl_store_close(w);
		_exit(0);
	}
	while (pid > 0 && waitpid(pid, &status, WNOHANG) == 0) {
		/* a fixed minute that holds every commit of the child */
		c = pl_sq_minute_count(st, start + 59);
		reads++;
		if (c < prev)
			dips++;
		if (c > prev)
			prev = c;
	}
	c = pl_sq_minute_count(st, start + 59);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 && dips == 0 && c == n + 1,
	   "minute: read while another process commits, the count never went down (%lld dips in %lld reads, %lld)",
	   (long long)dips, (long long)reads, (long long)c);
	pl_store_close(st);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	pl_log_set_level(PL_LOG_ERR);
	snprintf(dir, sizeof dir, "%s/pl-t_store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	pl_conf_defaults(&conf);
	t_open();
	t_cursor();
	t_since_age();
	t_created_order();
	t_id_ceiling();
	t_isolation(0);
	t_isolation(1);
	t_exactly_once();
	t_purge();
	t_purge_yields();
	t_minute();
	t_minute_torn();
	t_answer_bytes();
	t_examine_max();
	t_passed_unread();
	t_admin_sparse();
	t_foreign_rows();
	t_moved();
	t_shm_replaced();
	t_wal_lost_ids();
	t_recreated_ids();
	t_crashed_wal_ids();
	t_failed_commit_ids();
	t_ids_file_removed();
	t_admin_ops();
	t_cache();
	t_cache_restore();
	t_marks();
	t_plans();
	t_body();
	pl_conf_free(&conf);
	{
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			diag("could not remove %s", dir);
	}
	return tap_done();
}
