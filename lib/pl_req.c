/* pl_req.c: request parameters, query strings and form bodies */
#include "pl_first.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
