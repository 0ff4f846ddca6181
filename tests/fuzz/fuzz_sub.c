/* fuzz_sub.c: libFuzzer target for subscription parameters
 *
 * The input is up to seven lines: the query string, a Last-Event-ID header,
 * an Accept header, an Authorization header, X-Pushlite-Start,
 * REMOTE_USER and Sec-Fetch-Site, parsed for every kind of subscription
 * over a fake CGI environment (a publish token is configured, so that a
 * token of the wrong kind is refused as such). An accepted subscription
 * has 1..max_topics distinct valid topics, a limit in 1..1000, a safe
 * callback, and a long poll's wait before it started of at most a minute;
 * a refused one says why. The query alone, read for its format as an
 * unreadable query is, gives a safe callback too. */
#include "pl_first.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_sub.h"
#include "pl_topic.h"
#include "pl_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pl_conf conf;
static struct pl_token tok = { .name = "pub", .secret = "fuzz-token-1234" };

static void check(const struct pl_sub *s, enum pl_sub_kind kind)
{
	if (s->f.ntopics < 1 || s->f.ntopics > (size_t)conf.max_topics)
		abort();
	for (size_t i = 0; i < s->f.ntopics; i++) {
		if (pl_topic_sub_valid(s->f.topics[i], strlen(s->f.topics[i])) != PL_OK)
			abort();
		for (size_t j = 0; j < i; j++)
			if (!strcmp(s->f.topics[i], s->f.topics[j]))
				abort();
	}
	if (s->f.limit < 1 || s->f.limit > PL_LIMIT_MAX)
		abort();
	if (s->f.since == PL_SINCE_ID && s->f.since_id < 0)
		abort();
	if ((s->out.fmt == PL_FMT_JSONP || s->out.fmt == PL_FMT_JS) && !pl_out_callback_valid(s->out.callback))
		abort();
	if (s->f.client && !pl_sub_kind_valid(s->f.client, strlen(s->f.client)))
		abort();
	/* X-Pushlite-Start counts only within the last minute. */
	if (kind == PL_SUB_LONGPOLL && (s->waited_ms < 0 || s->waited_ms > 60000))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *names[] = { "QUERY_STRING=", "HTTP_LAST_EVENT_ID=", "HTTP_ACCEPT=", "HTTP_AUTHORIZATION=",
				       "HTTP_X_PUSHLITE_START=", "REMOTE_USER=", "HTTP_SEC_FETCH_SITE=" };
	enum { NV = sizeof names / sizeof names[0] };
	char *env[NV + 1] = { 0 }, msg[256];
	const char *p = (const char *)data, *end = p + size;
	size_t n = 0;
	struct pl_req r;

	if (!conf.db_path) {
		pl_conf_defaults(&conf);
		conf.secret = strdup("fuzz-secret-0123456789");
		conf.max_topics = 8;
		conf.tokens = &tok;
		conf.ntokens = 1;
	}
	while (n < NV && p <= end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p), k = strlen(names[n]);
		env[n] = malloc(k + len + 1);
		memcpy(env[n], names[n], k);
		memcpy(env[n] + k, p, len);
		env[n][k + len] = '\0';
		n++;
		if (!nl)
			break;
		p = nl + 1;
	}
	pl_req_init(&r, env, NULL, 0);
	for (int kind = PL_SUB_POLL; kind <= PL_SUB_ADMIN; kind++) {
		struct pl_sub s;
		int rc;

		msg[0] = '\0';
		rc = pl_sub_parse(&s, &r, &conf, (enum pl_sub_kind)kind, msg, sizeof msg);
		if (rc == PL_OK)
			check(&s, (enum pl_sub_kind)kind);
		else if ((rc != PL_EINVAL && rc != PL_EAUTH && rc != PL_EFORBID) || !msg[0])
			abort();
		pl_sub_free(&s);
	}
	pl_req_free(&r);
	{
		/* The raw query's format, as unreadable queries are answered. */
		struct pl_outopt o;

		if (pl_sub_raw_format(env[0] + strlen(names[0]), &o) == PL_OK &&
		    (o.fmt == PL_FMT_JSONP || o.fmt == PL_FMT_JS) && !pl_out_callback_valid(o.callback))
			abort();
	}
	for (size_t i = 0; i < n; i++)
		free(env[i]);
	return 0;
}
