/* t_sub.c: subscription parameters: since precedence and forms, limit,
 * format and callback, topic lists, labels, timeout, identity */
#include "pl_first.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pl_auth.h"
#include "pl_log.h"
#include "pl_sub.h"
#include "pl_util.h"
#include "tap.h"

#define SECRET "sub-test-secret-0123456789"

static struct pl_conf conf;
static char msg[512];

/* Parse a request made of a query string and up to four extra parameters
 * ("NAME=VALUE"; NULL ends the list) into sub. */
static int parse(struct pl_sub *sub, enum pl_sub_kind kind, const char *query, ...)
{
	char qs[2048];
	char *env[8];
	size_t n = 0;
	struct pl_req r;
	va_list ap;
	const char *e;
	int rc;

	snprintf(qs, sizeof qs, "QUERY_STRING=%s", query);
	env[n++] = qs;
	va_start(ap, query);
	while (n < 6 && (e = va_arg(ap, const char *)))
		env[n++] = (char *)e;
	va_end(ap);
	env[n] = NULL;
	msg[0] = '\0';
	if (pl_req_init(&r, env, NULL, 0) != PL_OK) {
		pl_req_free(&r);
		memset(sub, 0, sizeof *sub);
		return -1;
	}
	rc = pl_sub_parse(sub, &r, &conf, kind, msg, sizeof msg);
	pl_req_free(&r);
	return rc;
}

static void t_since(void)
{
	struct pl_sub s;
	int rc;

	rc = parse(&s, PL_SUB_POLL, "topic=/a", NULL);
	ok(rc == PL_OK && s.f.since == PL_SINCE_ALL, "poll: default since is all");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_LONGPOLL, "topic=/a", NULL);
	ok(rc == PL_OK && s.f.since == PL_SINCE_NOW, "longpoll: default since is now");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_STREAM, "topic=/a", NULL);
	ok(rc == PL_OK && s.f.since == PL_SINCE_NOW, "stream: default since is now");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_ADMIN, "topic=/a", NULL);
	ok(rc == PL_OK && s.f.since == PL_SINCE_ALL && s.f.admin == 1, "admin: default since is all, admin view");
	pl_sub_free(&s);

	rc = parse(&s, PL_SUB_POLL, "topic=/a&since=42", NULL);
	ok(rc == PL_OK && s.f.since == PL_SINCE_ID && s.f.since_id == 42, "since=42 is an id");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_POLL, "topic=/a&since=0", NULL);
	ok(rc == PL_OK && s.f.since == PL_SINCE_ID && s.f.since_id == 0, "since=0 is id 0");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_POLL, "topic=/a&since=9223372036854775807", NULL);
	ok(rc == PL_OK && s.f.since == PL_SINCE_ID && s.f.since_id == INT64_MAX, "the largest id is accepted");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_POLL, "topic=/a&since=now", NULL);
	ok(rc == PL_OK && s.f.since == PL_SINCE_NOW, "since=now");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_LONGPOLL, "topic=/a&since=all", NULL);
	ok(rc == PL_OK && s.f.since == PL_SINCE_ALL, "since=all");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_POLL, "topic=/a&since=10m", NULL);
	ok(rc == PL_OK && s.f.since == PL_SINCE_AGE && s.f.since_age == 600, "since=10m is 600 s back");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_POLL, "topic=/a&since=2d", NULL);
	ok(rc == PL_OK && s.f.since == PL_SINCE_AGE && s.f.since_age == 172800, "since=2d");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_POLL, "topic=/a&since=30s", NULL);
	ok(rc == PL_OK && s.f.since == PL_SINCE_AGE && s.f.since_age == 30, "since=30s is a duration, not an id");
	pl_sub_free(&s);
	{
		static const char *bad[] = { "-1", "+5", "10x", "NOW", "", "1.5", "5 ", "0x10", "10w", "9223372036854775808" };
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			char q[128];
			snprintf(q, sizeof q, "topic=/a&since=%s", bad[i]);
			rc = parse(&s, PL_SUB_POLL, q, NULL);
			ok(rc == PL_EINVAL && strstr(msg, "since"), "since='%s' is refused, naming since (%s)", bad[i], msg);
			pl_sub_free(&s);
		}
	}

	/* Precedence: Last-Event-ID header > last_event_id= > since=. */
	rc = parse(&s, PL_SUB_STREAM, "topic=/a&since=1&last_event_id=2", "HTTP_LAST_EVENT_ID=3", NULL);
	ok(rc == PL_OK && s.f.since == PL_SINCE_ID && s.f.since_id == 3, "Last-Event-ID beats last_event_id and since");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_STREAM, "since=1&topic=/a&last_event_id=2", NULL);
	ok(rc == PL_OK && s.f.since == PL_SINCE_ID && s.f.since_id == 2, "last_event_id beats since, in any order");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_STREAM, "topic=/a&since=all&last_event_id=7", NULL);
	ok(rc == PL_OK && s.f.since == PL_SINCE_ID && s.f.since_id == 7, "last_event_id beats since=all");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_STREAM, "topic=/a&since=5", "HTTP_LAST_EVENT_ID=", NULL);
	ok(rc == PL_OK && s.f.since == PL_SINCE_ID && s.f.since_id == 5, "an empty Last-Event-ID header is ignored");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_STREAM, "topic=/a&since=5", "HTTP_LAST_EVENT_ID=abc", NULL);
	ok(rc == PL_EINVAL && strstr(msg, "Last-Event-ID"), "a bad Last-Event-ID is refused, named as such (%s)", msg);
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_STREAM, "topic=/a&last_event_id=x&since=5", NULL);
	ok(rc == PL_EINVAL && strstr(msg, "last_event_id"), "a bad last_event_id is refused even with a good since (%s)", msg);
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_POLL, "topic=/a&since=9&since=9", NULL);
	ok(rc == PL_OK && s.f.since_id == 9, "since repeated with the same value is that value");
	pl_sub_free(&s);
}

static void t_limit(void)
{
	static const struct { const char *v; int rc, limit; } tab[] = {
		{ NULL, PL_OK, PL_LIMIT_DEFAULT },
		{ "1", PL_OK, 1 },
		{ "1000", PL_OK, 1000 },
		{ "250", PL_OK, 250 },
		{ "0", PL_EINVAL, 0 },
		{ "1001", PL_EINVAL, 0 },
		{ "-5", PL_EINVAL, 0 },
		{ "", PL_EINVAL, 0 },
		{ "ten", PL_EINVAL, 0 },
		{ "10.0", PL_EINVAL, 0 },
		{ "99999999999999999999", PL_EINVAL, 0 },
	};
	struct pl_sub s;

	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
		char q[128];
		int rc;
		if (tab[i].v)
			snprintf(q, sizeof q, "topic=/a&limit=%s", tab[i].v);
		else
			snprintf(q, sizeof q, "topic=/a");
		rc = parse(&s, PL_SUB_POLL, q, NULL);
		ok(rc == tab[i].rc && (rc != PL_OK || s.f.limit == tab[i].limit) && (rc == PL_OK || strstr(msg, "limit")),
		   "limit=%s -> %s %d", tab[i].v ? tab[i].v : "(none)", tab[i].rc == PL_OK ? "ok" : "EINVAL", tab[i].limit);
		pl_sub_free(&s);
	}
}

/* A parameter that takes one value, given twice: the same value is that
 * value; two values are a 400 naming it. Topics may repeat. */
static void t_twice(void)
{
	static const struct { enum pl_sub_kind kind; const char *q; int rc; const char *name; } tab[] = {
		{ PL_SUB_POLL, "topic=/a&since=1&since=5", PL_EINVAL, "since=" },
		{ PL_SUB_POLL, "topic=/a&since=5&since=5", PL_OK, NULL },
		{ PL_SUB_POLL, "topic=/a&last_event_id=1&last_event_id=2", PL_EINVAL, "last_event_id=" },
		{ PL_SUB_POLL, "topic=/a&limit=1&limit=2", PL_EINVAL, "limit=" },
		{ PL_SUB_POLL, "topic=/a&client=pc&client=ios", PL_EINVAL, "client=" },
		{ PL_SUB_POLL, "topic=/a&type=x&src=s&type=y", PL_EINVAL, "type=" },
		{ PL_SUB_POLL, "topic=/a&target=t&target=u", PL_EINVAL, "target=" },
		{ PL_SUB_POLL, "topic=/a&format=xml&format=json", PL_EINVAL, "format=" },
		{ PL_SUB_POLL, "topic=/a&format=jsonp&callback=a&callback=b", PL_EINVAL, "callback=" },
		{ PL_SUB_POLL, "topic=/a&token=x&token=y", PL_EINVAL, "token=" },
		{ PL_SUB_POLL, "topic=/a&topic=/b&topic=/a", PL_OK, NULL },
		{ PL_SUB_POLL, "topic=/a&timeout=1&timeout=2", PL_OK, NULL },     /* poll takes no timeout */
		{ PL_SUB_LONGPOLL, "topic=/a&timeout=1&timeout=2", PL_EINVAL, "timeout=" },
		{ PL_SUB_STREAM, "topic=/a&since=all&since=now", PL_EINVAL, "since=" },
		{ PL_SUB_ADMIN, "user=al&user=bo", PL_EINVAL, "user=" },
		{ PL_SUB_ADMIN, "undelivered=1&undelivered=0", PL_EINVAL, "undelivered=" },
	};
	struct pl_sub s;

	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
		int rc = parse(&s, tab[i].kind, tab[i].q, NULL);

		ok(rc == tab[i].rc && (!tab[i].name || (strstr(msg, tab[i].name) && strstr(msg, "twice"))),
		   "%s -> %s (%s)", tab[i].q, tab[i].rc == PL_OK ? "ok" : "EINVAL", msg);
		/* The format is unknown: the error is plain JSON. */
		if (tab[i].name && !strcmp(tab[i].name, "format="))
			ok(s.out.fmt == PL_FMT_JSON, "format given twice: the error is JSON");
		pl_sub_free(&s);
	}
}

static void t_format(void)
{
	struct pl_sub s;
	int rc;

	rc = parse(&s, PL_SUB_POLL, "topic=/a", NULL);
	ok(rc == PL_OK && s.out.fmt == PL_FMT_JSON && !s.out.with_last_get, "poll: default format json");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_STREAM, "topic=/a", NULL);
	ok(rc == PL_OK && s.out.fmt == PL_FMT_SSE, "stream: default format sse");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_STREAM, "topic=/a", "HTTP_ACCEPT=application/x-ndjson", NULL);
	ok(rc == PL_OK && s.out.fmt == PL_FMT_NDJSON, "stream: Accept application/x-ndjson picks ndjson");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_STREAM, "topic=/a&format=sse", "HTTP_ACCEPT=application/x-ndjson", NULL);
	ok(rc == PL_OK && s.out.fmt == PL_FMT_SSE, "stream: format= beats Accept");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_POLL, "topic=/a&format=xml", NULL);
	ok(rc == PL_OK && s.out.fmt == PL_FMT_XML, "format=xml");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_POLL, "topic=/a&format=jsonp&callback=app.onPush", NULL);
	ok(rc == PL_OK && s.out.fmt == PL_FMT_JSONP && !strcmp(s.out.callback, "app.onPush"), "format=jsonp with a callback");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_POLL, "topic=/a&format=jsonp", NULL);
	ok(rc == PL_EINVAL && s.out.fmt == PL_FMT_JSON && strstr(msg, "callback"),
	   "jsonp without callback: refused, and the error answer is plain JSON");
	pl_sub_free(&s);
	{
		static const char *bad[] = { "alert(1)", "a-b", "1abc", "a..b", ".a", "a.", "x%3Bdocument.cookie",
					     "%3C%2Fscript%3E", "a%20b", "%C3%A9" };
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			char q[128];
			snprintf(q, sizeof q, "topic=/a&format=jsonp&callback=%s", bad[i]);
			rc = parse(&s, PL_SUB_POLL, q, NULL);
			ok(rc == PL_EINVAL && s.out.fmt == PL_FMT_JSON && s.out.callback[0] == '\0',
			   "callback=%s is refused", bad[i]);
			pl_sub_free(&s);
		}
	}
	rc = parse(&s, PL_SUB_STREAM, "topic=/a&format=js", NULL);
	ok(rc == PL_OK && s.out.fmt == PL_FMT_JS && !strcmp(s.out.callback, "pushlite_cb"),
	   "stream format=js has a default callback");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_STREAM, "topic=/a&format=js&callback=parent_cb", NULL);
	ok(rc == PL_OK && s.out.fmt == PL_FMT_JS && !strcmp(s.out.callback, "parent_cb"), "stream format=js callback=");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_STREAM, "topic=/a&format=js&callback=opener.document.body.click", NULL);
	ok(rc == PL_EINVAL && s.out.fmt == PL_FMT_JSON && strstr(msg, "without dots"),
	   "format=js refuses a dotted callback (a path into another window of the origin): 400 as JSON");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_STREAM, "topic=/a&format=jsonp&callback=app.onPush", NULL);
	ok(rc == PL_OK && s.out.fmt == PL_FMT_JSONP, "a stream's JSONP keeps dotted callbacks (it runs in the page that loads it)");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_STREAM, "topic=/a&format=ndjson", NULL);
	ok(rc == PL_OK && s.out.fmt == PL_FMT_NDJSON, "stream format=ndjson");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_POLL, "topic=/a&format=sse", NULL);
	ok(rc == PL_EINVAL && strstr(msg, "format"), "poll refuses the stream format sse");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_LONGPOLL, "topic=/a&format=ndjson", NULL);
	ok(rc == PL_EINVAL, "longpoll refuses the stream format ndjson");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_POLL, "topic=/a&format=JSON", NULL);
	ok(rc == PL_EINVAL, "format names are lower case");
	pl_sub_free(&s);
	/* The format is parsed first, so an error in a later parameter is
	 * answered in the asked format. */
	rc = parse(&s, PL_SUB_POLL, "topic=/a/&format=xml", NULL);
	ok(rc == PL_EINVAL && s.out.fmt == PL_FMT_XML, "a bad topic with format=xml leaves the format set for the error");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_ADMIN, "topic=/a", NULL);
	ok(rc == PL_OK && s.out.with_last_get == 1, "admin answers carry last_get");
	pl_sub_free(&s);
}

static void t_topics(void)
{
	struct pl_sub s;
	int rc;

	rc = parse(&s, PL_SUB_POLL, "topic=/a,/b&topic=/c&topic=/a&topic=/b,/c,/d", NULL);
	ok(rc == PL_OK && s.f.ntopics == 4 && !strcmp(s.f.topics[0], "/a") && !strcmp(s.f.topics[1], "/b") &&
	   !strcmp(s.f.topics[2], "/c") && !strcmp(s.f.topics[3], "/d"),
	   "comma lists and repeated topic= merge, repeats dropped, order kept");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_POLL, "topic=%2Fnews%2Csports", NULL);
	ok(rc == PL_EINVAL, "an encoded comma still separates: 'sports' alone is no topic");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_POLL, "topic=/", NULL);
	ok(rc == PL_OK && s.f.ntopics == 1 && !strcmp(s.f.topics[0], "/"), "topic=/ subscribes to everything");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_POLL, "topic=/a&topic=/a/b", NULL);
	ok(rc == PL_OK && s.f.ntopics == 2, "a topic and its child are both kept (the store merges them)");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_POLL, "since=1", NULL);
	ok(rc == PL_EINVAL && strstr(msg, "topic"), "no topic is refused (%s)", msg);
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_POLL, "topic=", NULL);
	ok(rc == PL_EINVAL, "an empty topic is refused");
	pl_sub_free(&s);
	{
		static const char *bad[] = { "/a,", ",/a", "/a,,/b", "/a/", "a", "/a/../b", "/a%20b", "//" };
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			char q[128];
			snprintf(q, sizeof q, "topic=%s", bad[i]);
			rc = parse(&s, PL_SUB_POLL, q, NULL);
			ok(rc == PL_EINVAL && strstr(msg, "bad topic"), "topic=%s is refused (%s)", bad[i], msg);
			pl_sub_free(&s);
		}
	}
	/* The configured cap counts distinct topics. */
	conf.max_topics = 3;
	rc = parse(&s, PL_SUB_POLL, "topic=/a,/b,/c,/a,/b,/c", NULL);
	ok(rc == PL_OK && s.f.ntopics == 3, "3 distinct topics named twice fit a cap of 3");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_POLL, "topic=/a,/b,/c&topic=/d", NULL);
	ok(rc == PL_EINVAL && strstr(msg, "too many"), "a 4th distinct topic over a cap of 3 is refused (%s)", msg);
	pl_sub_free(&s);
	/* The hard ceiling holds even when the config allows more. */
	conf.max_topics = 256;
	{
		struct pl_buf q = { 0 };
		pl_buf_adds(&q, "topic=/t0");
		for (int i = 1; i < PL_MAX_TOPICS; i++)
			pl_buf_addf(&q, ",/t%d", i);
		rc = parse(&s, PL_SUB_POLL, q.p, NULL);
		ok(rc == PL_OK && s.f.ntopics == PL_MAX_TOPICS, "%d topics (the hard ceiling) are accepted", PL_MAX_TOPICS);
		pl_sub_free(&s);
		pl_buf_adds(&q, ",/one-more");
		rc = parse(&s, PL_SUB_POLL, q.p, NULL);
		ok(rc == PL_EINVAL, "%d topics are refused whatever the config says", PL_MAX_TOPICS + 1);
		pl_sub_free(&s);
		pl_buf_free(&q);
	}
	conf.max_topics = 16;
}

static void t_labels(void)
{
	struct pl_sub s;
	int rc;

	rc = parse(&s, PL_SUB_POLL, "topic=/a&client=ios&type=notice&src=OA&target=HR+system", NULL);
	ok(rc == PL_OK && !strcmp(s.f.client, "ios") && !strcmp(s.f.type, "notice") && !strcmp(s.f.src, "OA") &&
	   !strcmp(s.f.target, "HR system"), "client, type, src, target are kept");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_POLL, "topic=/a", NULL);
	ok(rc == PL_OK && !s.f.client && !s.f.type && !s.f.src && !s.f.target, "absent filters are NULL");
	pl_sub_free(&s);
	{
		static const char *bad[] = { "client=IOS", "client=", "client=a,b", "client=abcdefghijklmnopq",
					     "type=", "type=a%0Ab", "src=%7F", "target=%C3" };
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			char q[128];
			snprintf(q, sizeof q, "topic=/a&%s", bad[i]);
			rc = parse(&s, PL_SUB_POLL, q, NULL);
			ok(rc != PL_OK, "%s is refused", bad[i]);
			pl_sub_free(&s);
		}
	}
	rc = parse(&s, PL_SUB_POLL, "topic=/a&client=abcdefghijklmnop", NULL);
	ok(rc == PL_OK, "a 16-byte client kind is accepted");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_POLL, "topic=/a&type=\xc3\xa9v\xc3\xa9nement", NULL);
	ok(rc == PL_OK && !strcmp(s.f.type, "\xc3\xa9v\xc3\xa9nement"), "a UTF-8 type label is accepted");
	pl_sub_free(&s);
	ok(pl_sub_kind_valid("pc", 2) && pl_sub_kind_valid("a_b-9", 5) && !pl_sub_kind_valid("pc", 0) &&
	   !pl_sub_kind_valid("p c", 3), "kind_valid");
	{
		char l[PL_LABEL_MAX + 2];
		memset(l, 'l', PL_LABEL_MAX);
		l[PL_LABEL_MAX] = '\0';
		ok(pl_sub_label_valid(l), "a %d-byte label is valid", PL_LABEL_MAX);
		l[PL_LABEL_MAX] = 'l';
		l[PL_LABEL_MAX + 1] = '\0';
		ok(!pl_sub_label_valid(l), "a %d-byte label is refused", PL_LABEL_MAX + 1);
	}
	ok(!pl_sub_label_valid("a\xc2\x85" "b") && !pl_sub_label_valid("\xc2\x80") && !pl_sub_label_valid("x\xc2\x9f") &&
	   !pl_sub_label_valid("a\x7f") && !pl_sub_label_valid("a\tb"),
	   "control characters are refused in labels: C0, DEL and C1 (NEL)");
	ok(!pl_sub_label_valid("a\xef\xbf\xbe") && !pl_sub_label_valid("\xef\xbf\xbfz") &&
	   pl_sub_label_valid("\xef\xbf\xbd") && pl_sub_label_valid("\xef\xbf\xbc"),
	   "U+FFFE and U+FFFF are refused in labels (no XML can carry them); U+FFFC and U+FFFD are text");
	ok(pl_sub_label_valid("\xc2\xa0nbsp") && pl_sub_label_valid("\xc2\xa9 2026") && pl_sub_label_valid("\xe2\x80\xa8"),
	   "U+00A0, U+00A9 and U+2028 are text");
}

static void t_timeout_admin(void)
{
	struct pl_sub s;
	int rc;

	rc = parse(&s, PL_SUB_LONGPOLL, "topic=/a", NULL);
	ok(rc == PL_OK && s.timeout == conf.longpoll_timeout, "longpoll: default timeout from the config");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_LONGPOLL, "topic=/a&timeout=5", NULL);
	ok(rc == PL_OK && s.timeout == 5, "timeout=5 is 5 s");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_LONGPOLL, "topic=/a&timeout=1m", NULL);
	ok(rc == PL_OK && s.timeout == 60, "timeout=1m is 60 s");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_LONGPOLL, "topic=/a&timeout=1d", NULL);
	ok(rc == PL_OK && s.timeout == conf.longpoll_max_timeout, "timeout=1d is capped by longpoll_max_timeout");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_LONGPOLL, "topic=/a&timeout=soon", NULL);
	ok(rc == PL_EINVAL && strstr(msg, "timeout"), "timeout=soon is refused");
	pl_sub_free(&s);

	rc = parse(&s, PL_SUB_ADMIN, "topic=/&user=alice&undelivered=1", NULL);
	ok(rc == PL_OK && s.f.user_filter && !strcmp(s.f.user_filter, "alice") && s.f.undelivered == 1,
	   "admin: user= and undelivered=1");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_ADMIN, "topic=/&undelivered=false", NULL);
	ok(rc == PL_OK && s.f.undelivered == 0 && s.f.user_filter == NULL, "admin: undelivered=false");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_ADMIN, "topic=/&user=a+b", NULL);
	ok(rc == PL_EINVAL, "admin: a bad user= is refused");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_POLL, "topic=/&user=alice", NULL);
	ok(rc == PL_OK && s.f.user_filter == NULL && s.f.identity == NULL,
	   "a subscriber's user= is ignored: it neither filters nor identifies");
	pl_sub_free(&s);
}

static void t_identity(void)
{
	struct pl_sub s;
	char tok[256], q[400];
	int rc;

	rc = parse(&s, PL_SUB_POLL, "topic=/a", NULL);
	ok(rc == PL_OK && s.f.identity == NULL && s.user[0] == '\0', "no credentials: anonymous");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_POLL, "topic=/a", "REMOTE_USER=erin", NULL);
	ok(rc == PL_OK && s.f.identity && !strcmp(s.f.identity, "erin"), "REMOTE_USER is the identity");
	pl_sub_free(&s);
	pl_auth_mint(SECRET, "frank", (int64_t)time(NULL) + 600, tok, sizeof tok);
	snprintf(q, sizeof q, "topic=/a&token=%s", tok);
	rc = parse(&s, PL_SUB_POLL, q, NULL);
	ok(rc == PL_OK && s.f.identity && !strcmp(s.f.identity, "frank"), "a token's user is the identity");
	pl_sub_free(&s);
	tok[strlen(tok) - 2] ^= 1;
	snprintf(q, sizeof q, "topic=/a&token=%s", tok);
	rc = parse(&s, PL_SUB_POLL, q, NULL);
	ok(rc == PL_EAUTH && s.f.identity == NULL, "a forged token is EAUTH");
	pl_sub_free(&s);
	rc = parse(&s, PL_SUB_ADMIN, "topic=/a", "REMOTE_USER=erin", NULL);
	ok(rc == PL_OK && s.f.identity == NULL, "admin: no subscriber identity");
	pl_sub_free(&s);
	pl_sub_free(NULL);
}

int main(void)
{
	pl_conf_defaults(&conf);
	conf.secret = pl_xstrdup(SECRET);
	t_since();
	t_limit();
	t_twice();
	t_format();
	t_topics();
	t_labels();
	t_timeout_admin();
	t_identity();
	pl_conf_free(&conf);
	return tap_done();
}
