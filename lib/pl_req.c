/* pl_req.c: request parameters, query strings and form bodies */
#include "pl_first.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "pl_log.h"
#include "pl_req.h"
#include "pl_util.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode s[0..n) into a new string; NULL when malformed. */
static char *decode(const char *s, size_t n)
{
	char *out = pl_xmalloc(n + 1), *o = out;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] == '%') {
			int hi, lo;
			if (n - i < 3)
				goto bad;
			hi = hexval((unsigned char)s[i + 1]);
			lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				goto bad;
			*o++ = (char)(hi * 16 + lo);
			i += 2;
		} else if (s[i] == '\0') {
			goto bad;           /* a raw NUL (form bodies may hold them) */
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	if (!pl_utf8_valid(out, (size_t)(o - out)))
		goto bad;
	return out;
bad:
	free(out);
	return NULL;
}

void pl_kv_free(struct pl_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].k);
		free(kv[i].v);
	}
	free(kv);
}

int pl_kv_parse(const char *s, size_t n, struct pl_kv **out, size_t *nout)
{
	struct pl_kv *kv = NULL;
	size_t nkv = 0, i = 0;

	*out = NULL;
	*nout = 0;
	while (i < n) {
		size_t end = i, eq;
		char *k, *v;

		/* '&' only, as the URL standard and browsers' forms do: the old
		 * CGI habit of ';' too cut "data=Meeting at 3; room 5" short. */
		while (end < n && s[end] != '&')
			end++;
		if (end == i) {           /* "a=1&&b=2": tolerate empty pairs */
			i = end + 1;
			continue;
		}
		if (nkv >= PL_ARGS_MAX)
			goto bad;
		for (eq = i; eq < end && s[eq] != '='; eq++)
			;
		k = decode(s + i, eq - i);
		v = eq < end ? decode(s + eq + 1, end - eq - 1) : pl_xstrdup("");
		if (!k || !v) {
			free(k);
			free(v);
			goto bad;
		}
		kv = pl_xrealloc(kv, (nkv + 1) * sizeof *kv);
		kv[nkv].k = k;
		kv[nkv].v = v;
		nkv++;
		i = end + 1;
	}
	*out = kv;
	*nout = nkv;
	return PL_OK;
bad:
	pl_kv_free(kv, nkv);
	return PL_EINVAL;
}

int pl_req_init(struct pl_req *r, char **env, const char *body, size_t body_len)
{
	const char *q;
	size_t n;

	memset(r, 0, sizeof *r);
	r->env = env;
	r->body = body;
	r->body_len = body_len;
	q = pl_req_env(r, "QUERY_STRING");
	if (!q)
		return PL_OK;
	n = strlen(q);
	if (n > PL_QUERY_MAX)
		return PL_EINVAL;
	return pl_kv_parse(q, n, &r->args, &r->nargs);
}

void pl_req_free(struct pl_req *r)
{
	if (!r)
		return;
	pl_kv_free(r->args, r->nargs);
	pl_kv_free(r->form, r->nform);
	r->args = r->form = NULL;
	r->nargs = r->nform = 0;
}

const char *pl_req_env(const struct pl_req *r, const char *name)
{
	size_t n = strlen(name);

	if (!r->env)
		return NULL;
	/* Some 30 variables per request and a dozen lookups: the first byte
	 * turns most strncmp() calls away. */
	for (char **e = r->env; *e; e++)
		if ((*e)[0] == name[0] && !strncmp(*e, name, n) && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

const char *pl_kv_get(const struct pl_kv *kv, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kv[i].k, name))
			return kv[i].v;
	return NULL;
}

int pl_kv_conflict(const struct pl_kv *kv, size_t n, const char *name)
{
	const char *first = NULL;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(kv[i].k, name))
			continue;
		if (!first)
			first = kv[i].v;
		else if (strcmp(first, kv[i].v))
			return 1;
	}
	return 0;
}

int pl_kv_once(const struct pl_kv *kv, size_t n, const char *const *names, size_t nnames,
	       char *msg, size_t msglen)
{
	for (size_t k = 0; k < nnames; k++)
		if (names[k] && pl_kv_conflict(kv, n, names[k])) {
			snprintf(msg, msglen, "%s= is given twice with different values: give it once", names[k]);
			return PL_EINVAL;
		}
	return PL_OK;
}

const char *pl_req_arg(const struct pl_req *r, const char *name)
{
	return pl_kv_get(r->args, r->nargs, name);
}

int pl_req_method_is(const struct pl_req *r, const char *m)
{
	const char *v = pl_req_env(r, "REQUEST_METHOD");

	return v && !strcmp(v, m);
}

int pl_req_path(const struct pl_req *r, char *out, size_t outlen)
{
	const char *u = pl_req_env(r, "REQUEST_URI");
	size_t n;

	if (outlen == 0)
		return PL_ETOOBIG;
	if (!u) {
		/* Plain CGI without REQUEST_URI: rebuild it from its parts. */
		const char *sn = pl_req_env(r, "SCRIPT_NAME"), *pi = pl_req_env(r, "PATH_INFO");
		int k = snprintf(out, outlen, "%s%s", sn ? sn : "", pi ? pi : "");

		if (k < 0 || (size_t)k >= outlen)
			goto too_long;
		return PL_OK;
	}
	n = strcspn(u, "?");
	if (n >= outlen)
		goto too_long;
	memcpy(out, u, n);
	out[n] = '\0';
	return PL_OK;
too_long:
	/* Cut short, it could name an endpoint the whole path does not. */
	out[0] = '\0';
	return PL_ETOOBIG;
}

/* ---- a plain CGI request's body ---- */

/* What a refused body may still cost before the answer goes out anyway:
 * 64 MiB, and 5 s without a byte. */
#define DRAIN_MAX ((uint64_t)64 << 20)
#define DRAIN_IDLE_MS 5000

/* Up to n bytes into p (NULL: dropped into a scratch buffer); 0 at the end
 * of the input, on an error or after DRAIN_IDLE_MS without data. */
static size_t read_some(int fd, char *p, size_t n)
{
	char scratch[16384];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (!p) {
		p = scratch;
		if (n > sizeof scratch)
			n = sizeof scratch;
	}
	for (;;) {
		ssize_t k = read(fd, p, n);

		if (k >= 0)
			return (size_t)k;
		if (errno == EINTR)
			continue;
		/* A non-blocking stdin: wait for it, as a blocking read would. */
		if ((errno != EAGAIN && errno != EWOULDBLOCK) || poll(&pfd, 1, DRAIN_IDLE_MS) <= 0)
			return 0;
	}
}

/* Drop what is left of a refused body: at most want more bytes (or up to
 * the end when want is 0), and never more than DRAIN_MAX in all. */
static void drain(int fd, uint64_t want, uint64_t done)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	while (done < DRAIN_MAX && (want == 0 || done < want)) {
		uint64_t left = (want ? want : DRAIN_MAX) - done;
		size_t k;

		if (poll(&pfd, 1, DRAIN_IDLE_MS) <= 0)
			return;
		k = read_some(fd, NULL, left < 16384 ? (size_t)left : 16384);
		if (k == 0)
			return;
		done += k;
	}
}

char *pl_req_cgi_body(int fd, const char *content_length, const char *transfer_encoding, size_t max,
		      size_t *len, int *too_big, int *cut)
{
	int64_t want = 0;
	char *buf;
	size_t got = 0, cap;

	*len = 0;
	*too_big = *cut = 0;
	if (content_length && *content_length) {
		/* Not plain digits: refused by the caller, nothing read. */
		if (pl_int_parse(content_length, 0, INT64_MAX, &want) != PL_OK || want == 0)
			return pl_xcalloc(1, 1);
		if ((uint64_t)want > max) {
			*too_big = 1;
			drain(fd, (uint64_t)want, 0);
			return pl_xcalloc(1, 1);
		}
		buf = pl_xmalloc((size_t)want + 1);
		while (got < (size_t)want) {
			size_t k = read_some(fd, buf + got, (size_t)want - got);

			if (k == 0)
				break;
			got += k;
		}
		buf[got] = '\0';
		*len = got;
		*cut = got < (size_t)want;
		return buf;
	}
	if (!transfer_encoding || !*transfer_encoding || !strcasecmp(transfer_encoding, "identity"))
		return pl_xcalloc(1, 1);
	/* To its end, keeping at most max bytes. */
	cap = 16384;
	buf = pl_xmalloc(cap + 1);
	for (;;) {
		size_t k;

		if (got == cap) {
			if (cap > max) {
				*too_big = 1;
				drain(fd, 0, got);
				buf[0] = '\0';
				return buf;
			}
			cap *= 2;
			buf = pl_xrealloc(buf, cap + 1);
		}
		if ((k = read_some(fd, buf + got, cap - got)) == 0)
			break;
		got += k;
	}
	if (got > max) {
		*too_big = 1;
		got = 0;
	}
	buf[got] = '\0';
	*len = got;
	return buf;
}

/* An HTTP token character (RFC 9110): the type and the subtype are a
 * token each. */
static int tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

void pl_req_media_type(const char *ct, char *out, size_t outlen)
{
	const char *p, *sub;
	size_t n;

	out[0] = '\0';
	if (!ct)
		return;
	ct += strspn(ct, " \t");
	/* type "/" subtype, then blanks and the parameters or the end: "text/",
	 * "text//plain" or "application/json x" name no type ("" as for none;
	 * the caller tells them from a blank header). */
	for (p = ct; tchar(*p); p++)
		;
	if (p == ct || *p != '/')
		return;
	for (sub = ++p; tchar(*p); p++)
		;
	if (p == sub)
		return;
	n = (size_t)(p - ct);
	p += strspn(p, " \t");
	if ((*p && *p != ';') || n >= outlen)
		return;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)((ct[i] >= 'A' && ct[i] <= 'Z') ? ct[i] + 32 : ct[i]);
	out[n] = '\0';
}
