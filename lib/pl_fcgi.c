/* pl_fcgi.c: FastCGI responder protocol codec, pure (no I/O)
 *
 * The decoder is a byte-wise state machine over the record stream: the 8-byte
 * header is gathered in the state, the content is copied to where it belongs
 * (PARAMS to a bounded raw buffer, STDIN to the body, GET_VALUES to a scratch
 * buffer) and the padding is skipped, so input may arrive split anywhere.
 * When the PARAMS stream ends, the name-value pairs are decoded into one block
 * holding both the pointer array and the "NAME=VALUE" strings, and the raw
 * buffer is freed: a held request keeps only what a CGI program would see. */
#include "pl_first.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_fcgi.h"
#include "pl_log.h"

/* Request states (pl_fcgi.state). */
enum {
	ST_IDLE = 0,   /* no active request */
	ST_PARAMS,     /* BEGIN_REQUEST seen, reading the PARAMS stream */
	ST_STDIN,      /* params decoded, reading the STDIN stream */
	ST_READY,      /* complete, reported, not yet taken */
	ST_TAKEN,      /* handed to the caller; its further stdin is skipped */
};

void pl_fcgi_init(struct pl_fcgi *p, const struct pl_fcgi_limits *lim)
{
	memset(p, 0, sizeof *p);
	p->lim = lim;
}

static void drop_request(struct pl_fcgi *p)
{
	free(p->params);
	free(p->body);
	free(p->env);
	p->params = NULL;
	p->body = NULL;
	p->env = NULL;
	p->params_len = p->params_cap = 0;
	p->body_len = p->body_cap = 0;
	p->id = 0;
	p->state = ST_IDLE;
	p->flags = 0;
	p->too_big = 0;
}

void pl_fcgi_free(struct pl_fcgi *p)
{
	if (!p)
		return;
	drop_request(p);
	free(p->mgmt);
	p->mgmt = NULL;
}

void pl_fcgi_done(struct pl_fcgi *p)
{
	drop_request(p);
}

void pl_fcgi_take(struct pl_fcgi *p, struct pl_fcgi_req *r)
{
	r->id = p->id;
	r->keep_conn = (p->flags & PL_FCGI_KEEP_CONN) != 0;
	r->too_big = p->too_big;
	r->env = p->env;
	if (p->body_len == 0) {   /* CONTENT_LENGTH promised more than came */
		free(p->body);
		p->body = NULL;
	}
	r->body = p->body;
	r->len = p->body_len;
	p->env = NULL;
	p->body = NULL;
	p->body_len = p->body_cap = 0;
	p->state = ST_TAKEN;
}

const char *pl_fcgi_env_get(char *const *env, const char *name)
{
	size_t n = strlen(name);

	for (; env && *env; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

void pl_fcgi_header(unsigned char *h, int type, uint16_t id, uint16_t clen)
{
	h[0] = 1;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(id >> 8);
	h[3] = (unsigned char)id;
	h[4] = (unsigned char)(clen >> 8);
	h[5] = (unsigned char)clen;
	h[6] = 0;
	h[7] = 0;
}

int pl_fcgi_parse_header(const unsigned char *h, int *type, uint16_t *id, uint16_t *clen, uint8_t *plen)
{
	if (h[0] != 1)
		return -1;
	*type = h[1];
	*id = (uint16_t)(h[2] << 8 | h[3]);
	*clen = (uint16_t)(h[4] << 8 | h[5]);
	*plen = h[6];
	return 0;
}

size_t pl_fcgi_stdout_size(size_t n)
{
	return n + PL_FCGI_HEADER_LEN * ((n + PL_FCGI_MAX_CONTENT - 1) / PL_FCGI_MAX_CONTENT);
}

size_t pl_fcgi_stdout(unsigned char *dst, uint16_t id, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t out = 0;

	while (n > 0) {
		size_t k = n > PL_FCGI_MAX_CONTENT ? PL_FCGI_MAX_CONTENT : n;

		pl_fcgi_header(dst + out, PL_FCGI_STDOUT, id, (uint16_t)k);
		memcpy(dst + out + PL_FCGI_HEADER_LEN, s, k);
		out += PL_FCGI_HEADER_LEN + k;
		s += k;
		n -= k;
	}
	return out;
}

size_t pl_fcgi_end_request(unsigned char *dst, uint16_t id, uint32_t app_status, int proto_status)
{
	unsigned char *b = dst + 2 * PL_FCGI_HEADER_LEN;

	pl_fcgi_header(dst, PL_FCGI_STDOUT, id, 0);
	pl_fcgi_header(dst + PL_FCGI_HEADER_LEN, PL_FCGI_END_REQUEST, id, 8);
	b[0] = (unsigned char)(app_status >> 24);
	b[1] = (unsigned char)(app_status >> 16);
	b[2] = (unsigned char)(app_status >> 8);
	b[3] = (unsigned char)app_status;
	b[4] = (unsigned char)proto_status;
	b[5] = b[6] = b[7] = 0;
	return PL_FCGI_END_LEN;
}

/* END_REQUEST alone (no stdout stream): refusing a request never started. */
static size_t refuse(unsigned char *dst, uint16_t id, int proto_status)
{
	unsigned char tmp[PL_FCGI_END_LEN];

	pl_fcgi_end_request(tmp, id, 0, proto_status);
	memcpy(dst, tmp + PL_FCGI_HEADER_LEN, 2 * PL_FCGI_HEADER_LEN);
	return 2 * PL_FCGI_HEADER_LEN;
}

static size_t put_len(unsigned char *d, size_t n)
{
	if (n < 128) {
		d[0] = (unsigned char)n;
		return 1;
	}
	d[0] = (unsigned char)(0x80 | (n >> 24));
	d[1] = (unsigned char)(n >> 16);
	d[2] = (unsigned char)(n >> 8);
	d[3] = (unsigned char)n;
	return 4;
}

size_t pl_fcgi_nv(unsigned char *dst, size_t cap, const char *name, size_t nlen, const char *val, size_t vlen)
{
	size_t need, o = 0;

	if (nlen > 0x7fffffff || vlen > 0x7fffffff)
		return 0;
	need = (nlen < 128 ? 1 : 4) + (vlen < 128 ? 1 : 4) + nlen + vlen;
	if (need > cap)
		return 0;
	o += put_len(dst + o, nlen);
	o += put_len(dst + o, vlen);
	memcpy(dst + o, name, nlen);
	memcpy(dst + o + nlen, val, vlen);
	return o + nlen + vlen;
}

/* Read one name-value length at b[*i] (1 byte, or 4 with the top bit set).
 * Returns -1 when it runs past n. */
static int get_len(const unsigned char *b, size_t n, size_t *i, size_t *len)
{
	if (*i >= n)
		return -1;
	if (!(b[*i] & 0x80)) {
		*len = b[(*i)++];
		return 0;
	}
	if (n - *i < 4)
		return -1;
	*len = (size_t)(b[*i] & 0x7f) << 24 | (size_t)b[*i + 1] << 16 | (size_t)b[*i + 2] << 8 | b[*i + 3];
	*i += 4;
	return 0;
}

/* Next pair of b[0..n) from *i. Returns 1 with name/value set, 0 at the end,
 * -1 when malformed (a length runs past the end). */
static int next_pair(const unsigned char *b, size_t n, size_t *i,
		     const unsigned char **name, size_t *nlen, const unsigned char **val, size_t *vlen)
{
	if (*i == n)
		return 0;
	if (get_len(b, n, i, nlen) || get_len(b, n, i, vlen))
		return -1;
	if (*nlen > n - *i || *vlen > n - *i - *nlen)
		return -1;
	*name = b + *i;
	*val = b + *i + *nlen;
	*i += *nlen + *vlen;
	return 1;
}

/* A name usable in an environment: non-empty, no '=' and no NUL. */
static int name_ok(const unsigned char *s, size_t n)
{
	return n > 0 && !memchr(s, '=', n) && !memchr(s, '\0', n);
}

/* Decode the raw PARAMS stream into p->env (one block) and free it. */
static int decode_params(struct pl_fcgi *p)
{
	const unsigned char *b = p->params, *name, *val;
	size_t n = p->params_len, i = 0, nlen, vlen, count = 0, bytes = 0, k = 0;
	char **env, *s;
	int rc = -1, more;

	while ((more = next_pair(b, n, &i, &name, &nlen, &val, &vlen)) == 1)
		if (name_ok(name, nlen)) {
			count++;
			bytes += nlen + vlen + 2;
		}
	if (more < 0)
		goto out;
	/* bytes <= params_len + 2 * pairs <= 3 * PL_FCGI_MAX_PARAMS: no overflow */
	env = pl_xmalloc((count + 1) * sizeof *env + bytes);
	s = (char *)(env + count + 1);
	i = 0;
	while (next_pair(b, n, &i, &name, &nlen, &val, &vlen) == 1) {
		if (!name_ok(name, nlen))
			continue;
		env[k++] = s;
		memcpy(s, name, nlen);
		s[nlen] = '=';
		memcpy(s + nlen + 1, val, vlen);
		s[nlen + 1 + vlen] = '\0';
		s += nlen + vlen + 2;
	}
	env[k] = NULL;
	p->env = env;
	rc = 0;
out:
	free(p->params);
	p->params = NULL;
	p->params_len = p->params_cap = 0;
	return rc;
}

/* CONTENT_LENGTH, or -1 when absent or not a plain decimal. */
static long long content_length(char *const *env)
{
	const char *s = pl_fcgi_env_get(env, "CONTENT_LENGTH");
	long long v = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (1LL << 50))
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

/* Answer GET_VALUES with the three variables the specification names. */
static size_t get_values(struct pl_fcgi *p, unsigned char *reply)
{
	static const char *const names[] = { "FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS" };
	const unsigned char *name, *val;
	size_t i = 0, nlen, vlen, o = PL_FCGI_HEADER_LEN;
	unsigned seen = 0;
	char num[16];

	while (next_pair(p->mgmt, p->clen, &i, &name, &nlen, &val, &vlen) == 1) {
		for (unsigned k = 0; k < 3; k++) {
			int w;

			if (seen & 1u << k || nlen != strlen(names[k]) || memcmp(name, names[k], nlen))
				continue;
			seen |= 1u << k;
			w = snprintf(num, sizeof num, "%u", k == 2 ? 0u : p->lim->max_conns);
			if (w < 0 || (size_t)w >= sizeof num)
				continue;
			o += pl_fcgi_nv(reply + o, PL_FCGI_REPLY_MAX - o, names[k], nlen, num, (size_t)w);
		}
	}
	pl_fcgi_header(reply, PL_FCGI_GET_VALUES_RESULT, 0, (uint16_t)(o - PL_FCGI_HEADER_LEN));
	return o;
}

/* Header complete: check it and get ready for the content. */
static int begin_record(struct pl_fcgi *p)
{
	int type;
	uint16_t id, clen;
	uint8_t plen;

	if (pl_fcgi_parse_header(p->hdr, &type, &id, &clen, &plen))
		return -1;
	p->type = (uint8_t)type;
	p->rec_id = id;
	p->clen = p->clen_left = clen;
	p->pad_left = plen;
	if (type == PL_FCGI_BEGIN_REQUEST && clen < 8)
		return -1;
	if (type == PL_FCGI_PARAMS && id == p->id && p->state == ST_PARAMS &&
	    (size_t)p->params_len + clen > PL_FCGI_MAX_PARAMS)
		return -1;
	if (type == PL_FCGI_GET_VALUES && id == 0) {
		free(p->mgmt);
		p->mgmt = pl_xmalloc(clen ? clen : 1);
	}
	return 0;
}

/* Append stdin to the body unless it would pass the limit. */
static void add_stdin(struct pl_fcgi *p, const unsigned char *s, size_t k)
{
	size_t max = p->lim->max_body;

	if (p->too_big)
		return;
	if (k > max || p->body_len > max - k) {
		p->too_big = 1;
		free(p->body);
		p->body = NULL;
		p->body_len = p->body_cap = 0;
		return;
	}
	if (p->body_len + k + 1 > p->body_cap) {
		size_t cap = p->body_cap ? p->body_cap : 1024;

		while (cap < p->body_len + k + 1)
			cap *= 2;
		if (cap > max + 1)
			cap = max + 1;
		p->body = pl_xrealloc(p->body, cap);
		p->body_cap = cap;
	}
	memcpy(p->body + p->body_len, s, k);
	p->body_len += k;
	p->body[p->body_len] = '\0';
}

/* Copy content bytes to where they belong. */
static void content(struct pl_fcgi *p, const unsigned char *s, size_t k)
{
	size_t off = (size_t)p->clen - p->clen_left;

	switch (p->type) {
	case PL_FCGI_BEGIN_REQUEST:
		if (off < sizeof p->small)
			memcpy(p->small + off, s, k < sizeof p->small - off ? k : sizeof p->small - off);
		break;
	case PL_FCGI_PARAMS:
		if (p->rec_id != p->id || p->state != ST_PARAMS)
			break;
		if (p->params_len + k > p->params_cap) {
			uint32_t cap = p->params_cap ? p->params_cap : 2048;

			while (cap < p->params_len + k)
				cap *= 2;
			p->params = pl_xrealloc(p->params, cap);
			p->params_cap = cap;
		}
		memcpy(p->params + p->params_len, s, k);
		p->params_len += (uint32_t)k;
		break;
	case PL_FCGI_STDIN:
		if (p->rec_id == p->id && p->state == ST_STDIN)
			add_stdin(p, s, k);
		break;
	case PL_FCGI_GET_VALUES:
		if (p->rec_id == 0 && p->mgmt)
			memcpy(p->mgmt + off, s, k);
		break;
	default:
		break;
	}
}

/* Record complete: act on it. Returns an event. */
static int end_record(struct pl_fcgi *p, unsigned char *reply, size_t *reply_len)
{
	long long cl;

	switch (p->type) {
	case PL_FCGI_BEGIN_REQUEST:
		if (p->rec_id == 0)
			return PL_FCGI_EV_ERROR;
		if (p->state != ST_IDLE) {
			if (p->rec_id == p->id)
				return PL_FCGI_EV_ERROR;
			*reply_len = refuse(reply, p->rec_id, PL_FCGI_CANT_MPX_CONN);
			return PL_FCGI_EV_REPLY;
		}
		if ((p->small[0] << 8 | p->small[1]) != PL_FCGI_RESPONDER) {
			*reply_len = refuse(reply, p->rec_id, PL_FCGI_UNKNOWN_ROLE);
			return PL_FCGI_EV_REPLY;
		}
		p->id = p->rec_id;
		p->flags = p->small[2];
		p->state = ST_PARAMS;
		p->input_done = 0;
		return PL_FCGI_EV_NONE;
	case PL_FCGI_ABORT_REQUEST:
		return p->rec_id == p->id && p->state != ST_IDLE ? PL_FCGI_EV_ABORT : PL_FCGI_EV_NONE;
	case PL_FCGI_PARAMS:
		if (p->rec_id != p->id || p->state != ST_PARAMS || p->clen != 0)
			return PL_FCGI_EV_NONE;
		if (decode_params(p))
			return PL_FCGI_EV_ERROR;
		cl = content_length(p->env);
		if (cl > 0 && (unsigned long long)cl > p->lim->max_body) {
			/* Known to be too big: answer now, skip its stdin. */
			p->too_big = 1;
			p->state = ST_READY;
			return PL_FCGI_EV_REQUEST;
		}
		if (cl > 0) {   /* bounded by max_body above */
			p->body = pl_xmalloc((size_t)cl + 1);
			p->body[0] = '\0';
			p->body_cap = (size_t)cl + 1;
		}
		p->state = ST_STDIN;
		return PL_FCGI_EV_NONE;
	case PL_FCGI_STDIN:
		if (p->rec_id == p->id && p->clen == 0 && (p->state == ST_STDIN || p->state == ST_TAKEN))
			p->input_done = 1;
		if (p->rec_id != p->id || p->state != ST_STDIN || (p->clen != 0 && !p->too_big))
			return PL_FCGI_EV_NONE;
		p->state = ST_READY;
		return PL_FCGI_EV_REQUEST;
	case PL_FCGI_GET_VALUES:
		if (p->rec_id != 0)
			return PL_FCGI_EV_NONE;
		*reply_len = get_values(p, reply);
		free(p->mgmt);
		p->mgmt = NULL;
		return PL_FCGI_EV_REPLY;
	case PL_FCGI_STDOUT:
	case PL_FCGI_STDERR:
	case PL_FCGI_DATA:
	case PL_FCGI_END_REQUEST:
	case PL_FCGI_GET_VALUES_RESULT:
	case PL_FCGI_UNKNOWN_TYPE:
		return PL_FCGI_EV_NONE;   /* not for an application to receive; DATA: not a filter */
	default:
		if (p->rec_id != 0)
			return PL_FCGI_EV_NONE;
		pl_fcgi_header(reply, PL_FCGI_UNKNOWN_TYPE, 0, 8);
		memset(reply + PL_FCGI_HEADER_LEN, 0, 8);
		reply[PL_FCGI_HEADER_LEN] = p->type;
		*reply_len = 2 * PL_FCGI_HEADER_LEN;
		return PL_FCGI_EV_REPLY;
	}
}

int pl_fcgi_feed(struct pl_fcgi *p, const unsigned char *in, size_t n, size_t *used,
		 unsigned char *reply, size_t *reply_len)
{
	size_t i = 0;
	int ev = PL_FCGI_EV_NONE;

	*reply_len = 0;
	while (i < n) {
		if (p->state == ST_READY)
			break;   /* the caller must take the request first */
		if (p->hdr_have < PL_FCGI_HEADER_LEN) {
			p->hdr[p->hdr_have++] = in[i++];
			if (p->hdr_have == PL_FCGI_HEADER_LEN && begin_record(p)) {
				ev = PL_FCGI_EV_ERROR;
				break;
			}
		} else if (p->clen_left > 0) {
			size_t k = n - i < p->clen_left ? n - i : p->clen_left;

			content(p, in + i, k);
			p->clen_left -= (uint16_t)k;
			i += k;
		} else {
			size_t k = n - i < p->pad_left ? n - i : p->pad_left;

			p->pad_left -= (uint8_t)k;
			i += k;
		}
		if (p->hdr_have == PL_FCGI_HEADER_LEN && p->clen_left == 0 && p->pad_left == 0) {
			p->hdr_have = 0;
			ev = end_record(p, reply, reply_len);
			if (ev != PL_FCGI_EV_NONE)
				break;
		}
	}
	*used = i;
	return ev;
}
