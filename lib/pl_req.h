/* pl_req.h: one HTTP request as a CGI/FastCGI program sees it: the
 * parameters (environment), the decoded query string, the body. */
#ifndef PL_REQ_H
#define PL_REQ_H

#include <stddef.h>

#define PL_QUERY_MAX 8192       /* bytes of QUERY_STRING */
#define PL_ARGS_MAX 128         /* name=value pairs in a query or form */

struct pl_kv {
	char *k, *v;            /* decoded, NUL-terminated */
};

struct pl_req {
	char **env;             /* "NAME=VALUE", NULL-terminated; borrowed */
	const char *body;       /* borrowed; may hold NULs */
	size_t body_len;
	struct pl_kv *args;     /* query string */
	size_t nargs;
	struct pl_kv *form;     /* form body, when parsed */
	size_t nform;
};

/* Set up r over env and body (both borrowed) and decode QUERY_STRING.
 * Returns PL_EINVAL (with r usable, args empty) for a query string that is
 * too long, badly %-encoded, or not UTF-8. Free with pl_req_free(). */
int pl_req_init(struct pl_req *r, char **env, const char *body, size_t body_len);
void pl_req_free(struct pl_req *r);     /* NULL-safe */

/* A CGI parameter ("REQUEST_METHOD", "HTTP_X_TOPIC"), or NULL. */
const char *pl_req_env(const struct pl_req *r, const char *name);
/* First query value of name, or NULL. */
const char *pl_req_arg(const struct pl_req *r, const char *name);
/* First value of name in kv[0..n), or NULL. */
const char *pl_kv_get(const struct pl_kv *kv, size_t n, const char *name);
/* 1 when name is given twice in kv[0..n) with different values. */
int pl_kv_conflict(const struct pl_kv *kv, size_t n, const char *name);
/* PL_EINVAL, with msg naming it, when one of names[0..nnames) (NULL ones
 * skipped) is given twice in kv[0..n) with different values: a parameter
 * that takes one value, where taking either would be a guess. */
int pl_kv_once(const struct pl_kv *kv, size_t n, const char *const *names, size_t nnames,
	       char *msg, size_t msglen);

/* The media type of a Content-Type value, lower-cased, without parameters
 * ("Text/Plain; charset=utf-8" is "text/plain"); "" for none, and for a
 * value that is not type/subtype (tokens) before its parameters ("text/",
 * "text//plain", "application/json x") or does not fit in outlen. */
void pl_req_media_type(const char *ct, char *out, size_t outlen);

/* Decode an application/x-www-form-urlencoded string s[0..n) into *out.
 * Returns PL_EINVAL for bad %-escapes, NUL bytes, bad UTF-8, or more than
 * PL_ARGS_MAX pairs. Free with pl_kv_free(). */
int pl_kv_parse(const char *s, size_t n, struct pl_kv **out, size_t *nout);
void pl_kv_free(struct pl_kv *kv, size_t n);

/* 1 when the request's method is m. */
int pl_req_method_is(const struct pl_req *r, const char *m);

/* The path part of REQUEST_URI (query cut off), or SCRIPT_NAME and
 * PATH_INFO without it, written to out; "" if none. Returns PL_OK, or
 * PL_ETOOBIG (and out "") when it does not fit in outlen bytes. */
int pl_req_path(const struct pl_req *r, char *out, size_t outlen);

/* The body of a plain CGI request, read from fd (stdin). content_length is
 * CONTENT_LENGTH; without one, a request whose transfer_encoding
 * (HTTP_TRANSFER_ENCODING: Apache passes a chunked body on this way) is set
 * is read to its end. A body over max is not kept (*too_big = 1) but read
 * and dropped, up to a bound: the web server is still writing it, and one
 * that meets a closed pipe may drop the answer. *cut = 1 when the input
 * ended before CONTENT_LENGTH bytes came. Returns a NUL-terminated buffer
 * (empty when there is no body) of *len bytes; the caller frees it. */
char *pl_req_cgi_body(int fd, const char *content_length, const char *transfer_encoding, size_t max,
		      size_t *len, int *too_big, int *cut);

#endif
