/* t_fcgi.c: FastCGI codec: round trips, splits, limits and malformed input */
#include "pl_fcgi.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

/* A growing byte string of records, built the way a web server sends them. */
struct bytes {
	unsigned char b[300000];
	size_t n;
};

static void rec(struct bytes *s, int type, uint16_t id, const void *c, size_t clen, uint8_t pad)
{
	pl_fcgi_header(s->b + s->n, type, id, (uint16_t)clen);
	s->b[s->n + 6] = pad;
	s->n += PL_FCGI_HEADER_LEN;
	if (clen)
		memcpy(s->b + s->n, c, clen);
	s->n += clen;
	memset(s->b + s->n, 0xee, pad);
	s->n += pad;
}

static void begin(struct bytes *s, uint16_t id, int role, int flags)
{
	unsigned char c[8] = { (unsigned char)(role >> 8), (unsigned char)role, (unsigned char)flags };

	rec(s, PL_FCGI_BEGIN_REQUEST, id, c, 8, 0);
}

static void param(unsigned char *dst, size_t *n, const char *name, const char *val)
{
	*n += pl_fcgi_nv(dst + *n, 100000, name, strlen(name), val, strlen(val));
}

static struct pl_fcgi_limits lim = { .max_body = 100, .max_conns = 321 };

/* Feed all of in (in pieces of step bytes), collecting the first event. */
static int feed(struct pl_fcgi *p, const unsigned char *in, size_t n, size_t step, size_t *pos,
		unsigned char *reply, size_t *rlen)
{
	while (*pos < n) {
		size_t used, k = n - *pos < step ? n - *pos : step;
		int ev = pl_fcgi_feed(p, in + *pos, k, &used, reply, rlen);

		*pos += used;
		if (ev != PL_FCGI_EV_NONE)
			return ev;
	}
	return PL_FCGI_EV_NONE;
}

static struct bytes s;
static unsigned char pbuf[200000];

/* A typical request: params split over two records, padding, body in two records. */
static void build_typical(void)
{
	size_t pn = 0;
	char longv[300];

	memset(longv, 'v', sizeof longv - 1);
	longv[sizeof longv - 1] = '\0';
	s.n = 0;
	begin(&s, 1, PL_FCGI_RESPONDER, PL_FCGI_KEEP_CONN);
	param(pbuf, &pn, "REQUEST_METHOD", "POST");
	param(pbuf, &pn, "QUERY_STRING", "topic=/a");
	param(pbuf, &pn, "LONG", longv);
	param(pbuf, &pn, "BAD=NAME", "skipped");
	param(pbuf, &pn, "EMPTY", "");
	param(pbuf, &pn, "CONTENT_LENGTH", "11");
	rec(&s, PL_FCGI_PARAMS, 1, pbuf, 20, 3);
	rec(&s, PL_FCGI_PARAMS, 1, pbuf + 20, pn - 20, 0);
	rec(&s, PL_FCGI_PARAMS, 1, NULL, 0, 0);
	rec(&s, PL_FCGI_STDIN, 1, "hello ", 6, 2);
	rec(&s, PL_FCGI_STDIN, 1, "world", 5, 0);
	rec(&s, PL_FCGI_STDIN, 1, NULL, 0, 0);
}

static void test_typical(size_t step)
{
	struct pl_fcgi p;
	struct pl_fcgi_req r;
	unsigned char reply[PL_FCGI_REPLY_MAX];
	size_t pos = 0, rlen;
	int ev, count = 0;
	const char *lv;

	build_typical();
	pl_fcgi_init(&p, &lim);
	ev = feed(&p, s.b, s.n, step, &pos, reply, &rlen);
	ok(ev == PL_FCGI_EV_REQUEST && pos == s.n, "step %zu: request complete at the end of the input", step);
	pl_fcgi_take(&p, &r);
	for (char **e = r.env; e && *e; e++)
		count++;
	lv = pl_fcgi_env_get(r.env, "LONG");
	ok(count == 5 && r.env[count] == NULL, "step %zu: 5 params, name with '=' skipped", step);
	ok(strcmp(pl_fcgi_env_get(r.env, "REQUEST_METHOD"), "POST") == 0 &&
	   strcmp(pl_fcgi_env_get(r.env, "QUERY_STRING"), "topic=/a") == 0 &&
	   strcmp(pl_fcgi_env_get(r.env, "EMPTY"), "") == 0 && lv && strlen(lv) == 299,
	   "step %zu: values intact (4-byte length too)", step);
	ok(r.len == 11 && memcmp(r.body, "hello world", 12) == 0 && !r.too_big, "step %zu: body", step);
	ok(r.id == 1 && r.keep_conn, "step %zu: id and KEEP_CONN", step);
	ok(p.input_done, "step %zu: input done: nothing more is due from the peer", step);
	free(r.env);
	free(r.body);
	pl_fcgi_done(&p);
	/* The connection can carry the next request. */
	pos = 0;
	ev = feed(&p, s.b, s.n, step, &pos, reply, &rlen);
	ok(ev == PL_FCGI_EV_REQUEST, "step %zu: second request on the same connection", step);
	pl_fcgi_take(&p, &r);
	free(r.env);
	free(r.body);
	pl_fcgi_free(&p);
}

static void test_get_values(void)
{
	struct pl_fcgi p;
	unsigned char reply[PL_FCGI_REPLY_MAX], c[200];
	size_t n = 0, pos = 0, rlen, i = PL_FCGI_HEADER_LEN, nl, vl;
	const unsigned char *nm, *vv;
	int ev, type = 0, got = 0;
	uint16_t id = 0, clen = 0;
	uint8_t plen = 0;

	n += pl_fcgi_nv(c + n, sizeof c - n, "FCGI_MAX_CONNS", 14, "", 0);
	n += pl_fcgi_nv(c + n, sizeof c - n, "FCGI_MPXS_CONNS", 15, "", 0);
	n += pl_fcgi_nv(c + n, sizeof c - n, "FCGI_MAX_CONNS", 14, "", 0);
	n += pl_fcgi_nv(c + n, sizeof c - n, "OTHER", 5, "", 0);
	s.n = 0;
	rec(&s, PL_FCGI_GET_VALUES, 0, c, n, 0);
	pl_fcgi_init(&p, &lim);
	ev = feed(&p, s.b, s.n, 3, &pos, reply, &rlen);
	ok(ev == PL_FCGI_EV_REPLY && pl_fcgi_parse_header(reply, &type, &id, &clen, &plen) == 0 &&
	   type == PL_FCGI_GET_VALUES_RESULT && id == 0 && (size_t)clen + PL_FCGI_HEADER_LEN == rlen,
	   "GET_VALUES answered with GET_VALUES_RESULT");
	while (next_pair(reply, rlen, &i, &nm, &nl, &vv, &vl) == 1) {
		if (nl == 14 && !memcmp(nm, "FCGI_MAX_CONNS", 14) && vl == 3 && !memcmp(vv, "321", 3))
			got |= 1;
		else if (nl == 15 && !memcmp(nm, "FCGI_MPXS_CONNS", 15) && vl == 1 && vv[0] == '0')
			got |= 2;
		else
			got |= 4;
	}
	ok(got == 3, "GET_VALUES: MAX_CONNS=321 and MPXS_CONNS=0, once each, nothing else");
	pl_fcgi_free(&p);
}

static void test_refusals(void)
{
	struct pl_fcgi p;
	unsigned char reply[PL_FCGI_REPLY_MAX];
	size_t pos = 0, rlen;
	int ev, type = 0;
	uint16_t id = 0, clen = 0;
	uint8_t plen = 0;

	s.n = 0;
	rec(&s, 99, 0, "x", 1, 0);
	pl_fcgi_init(&p, &lim);
	ev = feed(&p, s.b, s.n, 100, &pos, reply, &rlen);
	pl_fcgi_parse_header(reply, &type, &id, &clen, &plen);
	ok(ev == PL_FCGI_EV_REPLY && type == PL_FCGI_UNKNOWN_TYPE && clen == 8 && reply[8] == 99,
	   "unknown management record: UNKNOWN_TYPE naming it");

	s.n = 0;
	pos = 0;
	begin(&s, 1, PL_FCGI_RESPONDER, 0);
	begin(&s, 2, PL_FCGI_RESPONDER, 0);
	ev = feed(&p, s.b, s.n, 100, &pos, reply, &rlen);
	pl_fcgi_parse_header(reply, &type, &id, &clen, &plen);
	ok(ev == PL_FCGI_EV_REPLY && type == PL_FCGI_END_REQUEST && id == 2 &&
	   reply[8 + 4] == PL_FCGI_CANT_MPX_CONN && rlen == 16, "second request id: CANT_MPX_CONN");
	pl_fcgi_done(&p);

	s.n = 0;
	pos = 0;
	begin(&s, 3, PL_FCGI_AUTHORIZER, 0);
	ev = feed(&p, s.b, s.n, 100, &pos, reply, &rlen);
	ok(ev == PL_FCGI_EV_REPLY && reply[1] == PL_FCGI_END_REQUEST && reply[8 + 4] == PL_FCGI_UNKNOWN_ROLE,
	   "authorizer role: UNKNOWN_ROLE");
	pl_fcgi_free(&p);
}

static void test_errors(void)
{
	struct pl_fcgi p;
	unsigned char reply[PL_FCGI_REPLY_MAX], c[8] = { 0, 1 };
	size_t pos = 0, rlen, pn = 0;
	int ev;

	s.n = 0;
	begin(&s, 1, PL_FCGI_RESPONDER, 0);
	s.b[0] = 2;
	pl_fcgi_init(&p, &lim);
	ok(feed(&p, s.b, s.n, 100, &pos, reply, &rlen) == PL_FCGI_EV_ERROR, "version 2: error");
	pl_fcgi_free(&p);

	s.n = pos = 0;
	rec(&s, PL_FCGI_BEGIN_REQUEST, 1, c, 4, 0);
	pl_fcgi_init(&p, &lim);
	ok(feed(&p, s.b, s.n, 100, &pos, reply, &rlen) == PL_FCGI_EV_ERROR, "short BEGIN_REQUEST: error");
	pl_fcgi_free(&p);

	s.n = pos = 0;
	begin(&s, 0, PL_FCGI_RESPONDER, 0);
	pl_fcgi_init(&p, &lim);
	ok(feed(&p, s.b, s.n, 100, &pos, reply, &rlen) == PL_FCGI_EV_ERROR, "BEGIN_REQUEST with id 0: error");
	pl_fcgi_free(&p);

	/* A name length running past the end of the stream. */
	s.n = pos = 0;
	begin(&s, 1, PL_FCGI_RESPONDER, 0);
	rec(&s, PL_FCGI_PARAMS, 1, "\x05\x01" "AB", 4, 0);
	rec(&s, PL_FCGI_PARAMS, 1, NULL, 0, 0);
	pl_fcgi_init(&p, &lim);
	ok(feed(&p, s.b, s.n, 100, &pos, reply, &rlen) == PL_FCGI_EV_ERROR, "truncated pair: error");
	pl_fcgi_free(&p);

	/* A 4-byte length claiming 2 GB. */
	s.n = pos = 0;
	begin(&s, 1, PL_FCGI_RESPONDER, 0);
	rec(&s, PL_FCGI_PARAMS, 1, "\xff\xff\xff\xff\x01" "AB", 7, 0);
	rec(&s, PL_FCGI_PARAMS, 1, NULL, 0, 0);
	pl_fcgi_init(&p, &lim);
	ok(feed(&p, s.b, s.n, 100, &pos, reply, &rlen) == PL_FCGI_EV_ERROR, "huge pair length: error");
	pl_fcgi_free(&p);

	/* Params past 64 KiB in total. */
	s.n = pos = 0;
	begin(&s, 1, PL_FCGI_RESPONDER, 0);
	memset(pbuf, 'x', 60000);
	pbuf[60000] = '\0';
	for (int i = 0; i < 2; i++) {
		pn = 0;
		param(pbuf + 100000, &pn, "HTTP_COOKIE", (char *)pbuf);
		rec(&s, PL_FCGI_PARAMS, 1, pbuf + 100000, pn, 0);
	}
	rec(&s, PL_FCGI_PARAMS, 1, NULL, 0, 0);
	pl_fcgi_init(&p, &lim);
	ev = feed(&p, s.b, s.n, 4096, &pos, reply, &rlen);
	ok(ev == PL_FCGI_EV_ERROR && p.params_len <= PL_FCGI_MAX_PARAMS, "params over 64 KiB: error, bounded");
	pl_fcgi_free(&p);
}

static void test_body_limits(void)
{
	struct pl_fcgi p;
	struct pl_fcgi_req r;
	unsigned char reply[PL_FCGI_REPLY_MAX], big[300];
	size_t pos = 0, rlen, pn = 0;
	int ev;

	memset(big, 'b', sizeof big);
	/* CONTENT_LENGTH says too big: reported before any stdin, stdin skipped. */
	s.n = 0;
	begin(&s, 1, PL_FCGI_RESPONDER, PL_FCGI_KEEP_CONN);
	param(pbuf, &pn, "CONTENT_LENGTH", "300");
	rec(&s, PL_FCGI_PARAMS, 1, pbuf, pn, 0);
	rec(&s, PL_FCGI_PARAMS, 1, NULL, 0, 0);
	rec(&s, PL_FCGI_STDIN, 1, big, sizeof big, 0);
	rec(&s, PL_FCGI_STDIN, 1, NULL, 0, 0);
	rec(&s, PL_FCGI_ABORT_REQUEST, 1, NULL, 0, 0);   /* late, for a finished request: ignored */
	pl_fcgi_init(&p, &lim);
	ev = feed(&p, s.b, s.n, 7, &pos, reply, &rlen);
	pl_fcgi_take(&p, &r);
	ok(ev == PL_FCGI_EV_REQUEST && r.too_big && r.body == NULL && r.len == 0 && pos < s.n,
	   "CONTENT_LENGTH over max: too big, before stdin");
	ok(!p.input_done, "answered before its stdin: input not done (close must wait for the peer)");
	free(r.env);
	pl_fcgi_done(&p);
	ev = feed(&p, s.b, s.n, 7, &pos, reply, &rlen);
	ok(ev == PL_FCGI_EV_NONE && pos == s.n, "its stdin and a late abort are skipped");
	pl_fcgi_free(&p);

	/* No CONTENT_LENGTH, stdin runs past the limit. */
	s.n = pos = 0;
	begin(&s, 5, PL_FCGI_RESPONDER, 0);
	rec(&s, PL_FCGI_PARAMS, 5, NULL, 0, 0);
	rec(&s, PL_FCGI_STDIN, 5, big, 60, 0);
	rec(&s, PL_FCGI_STDIN, 5, big, 60, 0);
	rec(&s, PL_FCGI_STDIN, 5, big, 60, 0);
	rec(&s, PL_FCGI_STDIN, 5, NULL, 0, 0);
	pl_fcgi_init(&p, &lim);
	ev = feed(&p, s.b, s.n, 1000, &pos, reply, &rlen);
	pl_fcgi_take(&p, &r);
	ok(ev == PL_FCGI_EV_REQUEST && r.too_big && !r.body && r.env && !r.env[0] && !r.keep_conn,
	   "stdin over max without CONTENT_LENGTH: too big; no params: empty env");
	ok(!p.input_done, "too big without CONTENT_LENGTH: reported at the record that passed the limit, input not done");
	free(r.env);
	pl_fcgi_free(&p);

	/* Exactly the limit is fine. */
	s.n = pos = 0;
	begin(&s, 5, PL_FCGI_RESPONDER, 0);
	rec(&s, PL_FCGI_PARAMS, 5, NULL, 0, 0);
	rec(&s, PL_FCGI_STDIN, 5, big, 100, 0);
	rec(&s, PL_FCGI_STDIN, 5, NULL, 0, 0);
	pl_fcgi_init(&p, &lim);
	ev = feed(&p, s.b, s.n, 1000, &pos, reply, &rlen);
	pl_fcgi_take(&p, &r);
	ok(ev == PL_FCGI_EV_REQUEST && !r.too_big && r.len == 100 && r.body[100] == '\0', "body of exactly max_body");
	free(r.env);
	free(r.body);
	pl_fcgi_free(&p);
}

static void test_abort_and_other_ids(void)
{
	struct pl_fcgi p;
	unsigned char reply[PL_FCGI_REPLY_MAX];
	size_t pos = 0, rlen;
	int ev;

	s.n = 0;
	begin(&s, 7, PL_FCGI_RESPONDER, 0);
	rec(&s, PL_FCGI_PARAMS, 8, "\x01\x01" "AB", 4, 0);   /* another id: ignored */
	rec(&s, PL_FCGI_STDIN, 8, "zz", 2, 0);
	rec(&s, PL_FCGI_ABORT_REQUEST, 8, NULL, 0, 0);
	rec(&s, PL_FCGI_DATA, 7, "d", 1, 0);
	rec(&s, PL_FCGI_ABORT_REQUEST, 7, NULL, 0, 0);
	pl_fcgi_init(&p, &lim);
	ev = feed(&p, s.b, s.n, 5, &pos, reply, &rlen);
	ok(ev == PL_FCGI_EV_ABORT && pos == s.n && p.id == 7 && p.params_len == 0,
	   "records of other ids ignored; ABORT_REQUEST reported");
	pl_fcgi_free(&p);
}

static void test_encode(void)
{
	static unsigned char big[70000], enc[70100];
	unsigned char end[PL_FCGI_END_LEN];
	size_t n, off = 0, total = 0;
	int type = 0, good = 1, recs = 0;
	uint16_t id = 0, clen = 0;
	uint8_t plen = 0;

	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (unsigned char)(i * 7);
	n = pl_fcgi_stdout(enc, 42, big, sizeof big);
	ok(n == pl_fcgi_stdout_size(sizeof big) && n == sizeof big + 16, "70000 bytes: two STDOUT records");
	while (off < n) {
		if (pl_fcgi_parse_header(enc + off, &type, &id, &clen, &plen) || type != PL_FCGI_STDOUT || id != 42 ||
		    memcmp(enc + off + 8, big + total, clen))
			good = 0;
		off += 8 + clen + plen;
		total += clen;
		recs++;
	}
	ok(good && recs == 2 && total == sizeof big, "STDOUT records decode to the input");
	n = pl_fcgi_end_request(end, 42, 0x01020304, PL_FCGI_REQUEST_COMPLETE);
	pl_fcgi_parse_header(end, &type, &id, &clen, &plen);
	ok(n == 24 && type == PL_FCGI_STDOUT && clen == 0 && end[9] == PL_FCGI_END_REQUEST && end[12] == 0 &&
	   end[13] == 8 && end[16] == 1 && end[19] == 4 && end[20] == 0, "end of stream + END_REQUEST");
	ok(pl_fcgi_nv(enc, 5, "ABCD", 4, "x", 1) == 0, "pl_fcgi_nv refuses what does not fit");
}

/* Random and mutated input must never crash nor leak (run under ASan/valgrind). */
static void test_garbage(void)
{
	uint32_t seed = 12345;
	int events = 0;

	build_typical();
	for (int round = 0; round < 3000; round++) {
		static unsigned char m[sizeof s.b];
		struct pl_fcgi p;
		unsigned char reply[PL_FCGI_REPLY_MAX];
		size_t n = s.n, pos = 0;

		memcpy(m, s.b, n);
		for (int k = 0; k < 1 + round % 8; k++) {
			seed = seed * 1103515245 + 12345;
			m[(seed >> 8) % n] = (unsigned char)(seed >> 20);
		}
		pl_fcgi_init(&p, &lim);
		while (pos < n) {
			size_t used, rlen;
			int ev = pl_fcgi_feed(&p, m + pos, n - pos, &used, reply, &rlen);
			struct pl_fcgi_req r;

			pos += used;
			if (ev == PL_FCGI_EV_ERROR)
				break;
			if (ev == PL_FCGI_EV_REQUEST) {
				pl_fcgi_take(&p, &r);
				free(r.env);
				free(r.body);
				pl_fcgi_done(&p);
			}
			if (ev == PL_FCGI_EV_ABORT)
				pl_fcgi_done(&p);
			events += ev != PL_FCGI_EV_NONE;
		}
		pl_fcgi_free(&p);
	}
	ok(events > 0, "3000 mutated streams decoded without a crash");
}

int main(void)
{
	test_typical(100000);
	test_typical(1);
	test_typical(9);
	test_get_values();
	test_refusals();
	test_errors();
	test_body_limits();
	test_abort_and_other_ids();
	test_encode();
	test_garbage();
	return tap_done();
}
