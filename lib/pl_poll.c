/* pl_poll.c: GET /poll: answer at once with what is new since a cursor */
#include "pl_first.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pl_log.h"
#include "pl_out.h"
#include "pl_poll.h"

int pl_poll_preamble(const struct pl_conf *c, const struct pl_req *r, struct pl_resp *resp)
{
	if (pl_http_cors(c, r, resp, "GET, HEAD, OPTIONS"))
		return 1;
	if (!pl_req_method_is(r, "GET") && !pl_req_method_is(r, "HEAD")) {
		struct pl_outopt eo;

		pl_sub_error_format(r, &eo);
		pl_resp_header(resp, "Allow", "GET, HEAD, OPTIONS");
		pl_out_error(resp, &eo, PL_EMETHOD, NULL, "subscribe with GET", 0);
		return 1;
	}
	return 0;
}

void pl_poll_error(const struct pl_conf *c, struct pl_resp *resp, const struct pl_sub *sub, int rc, const char *msg)
{
	if (rc == PL_EAUTH && sub->out.fmt != PL_FMT_JSONP)
		pl_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"pushlite\"");
	pl_out_error(resp, &sub->out, rc, NULL, msg, c->retry_after);
}

static void etag_of(char tag[32], int64_t cursor)
{
	snprintf(tag, 32, "\"%lld\"", (long long)cursor);
}

void pl_poll_etag(struct pl_resp *resp, const struct pl_result *res)
{
	char tag[32];

	etag_of(tag, res->cursor);
	pl_resp_header(resp, "ETag", tag);
}

/* The tags "N" (weak or strong) that If-None-Match lists, also as
 * "N-gzip" or "N-deflate": the web server's compression renames the tag of
 * the answer it compressed (lighttpd and Apache both), and a client sends
 * back what it got, while the next answer, too small to compress, is "N".
 * 1 when one of them is within [lo, hi]; then tag holds the largest of
 * those as it was sent (a 304 carries the tag of the answer the client
 * holds, "N-gzip" included), or as "N" when it would not fit. */
static int etag_listed(const char *inm, int64_t lo, int64_t hi, char tag[32])
{
	int64_t got = 0;
	int found = 0;

	for (const char *p = inm; p && (p = strchr(p, '"')); ) {
		const char *d = ++p, *e;
		int64_t v = 0;

		if (!(d - 1 == inm || d[-2] == ' ' || d[-2] == ',' || d[-2] == '/'))
			continue;
		for (e = d; *e >= '0' && *e <= '9' && v <= (INT64_MAX - 9) / 10; e++)
			v = v * 10 + (*e - '0');
		/* A tag is compared as text: "013" is not the tag "13". */
		if (e == d || (*e >= '0' && *e <= '9') || (*d == '0' && e - d > 1))
			continue;
		if (*e == '-')
			for (e++; *e >= 'a' && *e <= 'z'; e++)
				;
		if (*e != '"' || !(e[1] == '\0' || e[1] == ',' || e[1] == ' '))
			continue;
		p = e + 1;
		if (v >= lo && v <= hi && (!found || v > got)) {
			size_t n = (size_t)(p - (d - 1));

			got = v;
			found = 1;
			if (n < 32) {
				memcpy(tag, d - 1, n);
				tag[n] = '\0';
			} else {
				etag_of(tag, v);
			}
		}
	}
	return found;
}

void pl_poll_handle(const struct pl_conf *c, struct pl_store *st, struct pl_req *r,
		    struct pl_resp *resp, struct pl_result *res)
{
	struct pl_sub sub;
	char msg[256], tag[32];
	const char *inm;
	int rc;

	memset(&sub, 0, sizeof sub);
	if (pl_poll_preamble(c, r, resp))
		return;
	if ((rc = pl_sub_parse(&sub, r, c, PL_SUB_POLL, msg, sizeof msg)) != PL_OK) {
		pl_poll_error(c, resp, &sub, rc, msg);
		goto out;
	}
	if (!st || (rc = pl_store_query(st, &sub.f, res)) != PL_OK) {
		pl_poll_error(c, resp, &sub, st ? rc : PL_EIO, "the message store is unavailable");
		goto out;
	}
	/* HEAD delivers nothing: no first delivery to record. */
	if (pl_req_method_is(r, "HEAD"))
		res->ngot = 0;
	/* Nothing new for this subscription, for a client that holds the
	 * answer of a cursor up to this one: 304, with the tag it holds (the
	 * cursor moves over other topics' messages, which it need not follow;
	 * following its own cursor it misses nothing). An answer with messages
	 * is the one a client holds when its tag is at or past the last of
	 * them (the same URL again: the same messages, whatever came since on
	 * other topics). */
	inm = pl_req_env(r, "HTTP_IF_NONE_MATCH");
	/* JSONP is always a 200 (a script tag reads no status). */
	if (inm && !res->reset && !res->gap && !res->more && sub.out.fmt != PL_FMT_JSONP &&
	    etag_listed(inm, res->n ? res->rows[res->n - 1].id : 0, res->cursor, tag)) {
		pl_resp_header(resp, "ETag", tag);
		resp->status = 304;
		goto out;
	}
	etag_of(tag, res->cursor);
	pl_resp_header(resp, "ETag", tag);
	pl_out_result(resp, &sub.out, res);
out:
	pl_sub_free(&sub);
}
