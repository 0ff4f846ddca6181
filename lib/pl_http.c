/* pl_http.c: statuses, headers and CORS for CGI-style responses */
#include "pl_first.h"

#include <string.h>
#include <strings.h>

#include "pl_http.h"
#include "pl_log.h"

void pl_resp_init(struct pl_resp *r)
{
	memset(r, 0, sizeof *r);
	r->status = 200;
}

void pl_resp_free(struct pl_resp *r)
{
	if (!r)
		return;
	pl_buf_free(&r->head);
	pl_buf_free(&r->body);
}

int pl_resp_header(struct pl_resp *r, const char *name, const char *value)
{
	if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
		return PL_EINVAL;
	pl_buf_adds(&r->head, name);
	pl_buf_add(&r->head, ": ", 2);
	pl_buf_adds(&r->head, value);
	pl_buf_add(&r->head, "\r\n", 2);
	return PL_OK;
}

int pl_http_cgi_ext(const char *s, size_t n)
{
	return (n == 4 && (!memcmp(s, ".cgi", 4) || !memcmp(s, ".fcg", 4))) || (n == 5 && !memcmp(s, ".fcgi", 5));
}

const char *pl_http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

void pl_resp_serialize_head(const struct pl_resp *r, struct pl_buf *out)
{
	pl_buf_addf(out, "Status: %d %s\r\n", r->status, pl_http_reason(r->status));
	if (r->head.len)
		pl_buf_add(out, r->head.p, r->head.len);
	pl_buf_add(out, "\r\n", 2);
}

void pl_resp_serialize(const struct pl_resp *r, struct pl_buf *out)
{
	pl_resp_serialize_head(r, out);
	if (r->body.len)
		pl_buf_add(out, r->body.p, r->body.len);
}

int pl_http_status(int rc)
{
	switch (rc) {
	case PL_OK: return 200;
	case PL_EINVAL: return 400;
	case PL_EAUTH: return 401;
	case PL_EFORBID: return 403;
	case PL_ENOTFOUND: return 404;
	case PL_EMETHOD: return 405;
	case PL_ETOOBIG: return 413;
	case PL_ETYPE: return 415;
	case PL_EFULL: return 429;
	case PL_EIO: case PL_EOFF: case PL_EBUSY: return 503;
	default: return 500;
	}
}

const char *pl_http_code(int rc)
{
	switch (rc) {
	case PL_EINVAL: return "bad_request";
	case PL_EAUTH: return "unauthorized";
	case PL_EFORBID: return "forbidden";
	case PL_ENOTFOUND: return "not_found";
	case PL_EMETHOD: return "method_not_allowed";
	case PL_ETOOBIG: return "too_large";
	case PL_ETYPE: return "unsupported_media_type";
	case PL_EFULL: return "too_many_subscribers";
	case PL_EIO: return "storage_unavailable";
	case PL_EOFF: return "push_off";
	case PL_EBUSY: return "storage_busy";
	default: return "internal";
	}
}

static int origin_allowed(const struct pl_conf *c, const char *origin, int *wildcard)
{
	*wildcard = 0;
	for (size_t i = 0; i < c->ncors; i++) {
		/* "null" is the origin of sandboxed frames and local files:
		 * allowed only when listed by name, never by "*". */
		if (!strcmp(c->cors_origins[i], "*") && strcmp(origin, "null")) {
			*wildcard = 1;
			return 1;
		}
		if (!strcasecmp(c->cors_origins[i], origin))
			return 1;
	}
	return 0;
}

int pl_http_same_origin(const struct pl_req *req)
{
	const char *site = pl_req_env(req, "HTTP_SEC_FETCH_SITE");

	return site && (!strcasecmp(site, "same-origin") || !strcasecmp(site, "none"));
}

/* Length of host[:port] without the scheme's default port. */
static size_t host_len(const char *h, const char *scheme)
{
	size_t n = strlen(h);

	if (!strcmp(scheme, "https") && n > 4 && !strcmp(h + n - 4, ":443"))
		return n - 4;
	if (!strcmp(scheme, "http") && n > 3 && !strcmp(h + n - 3, ":80"))
		return n - 3;
	return n;
}

int pl_http_foreign_origin(const struct pl_conf *c, const struct pl_req *req)
{
	const char *o = pl_req_env(req, "HTTP_ORIGIN"), *own = pl_req_env(req, "HTTP_HOST"), *host;
	char scheme[8];
	size_t hn, on;
	int wildcard;

	if (!o)
		return 0;
	/* "null": a sandboxed frame, a file, a redirect across sites. */
	if (!(host = strstr(o, "://")) || (size_t)(host - o) >= sizeof scheme)
		return 1;
	memcpy(scheme, o, (size_t)(host - o));
	scheme[host - o] = '\0';
	host += 3;
	/* Host names no scheme: the Origin's says which port is the default. */
	if (own) {
		hn = host_len(host, scheme);
		on = host_len(own, scheme);
		if (hn == on && !strncasecmp(host, own, hn))
			return 0;
	}
	return !(c->cors_credentials && origin_allowed(c, o, &wildcard) && !wildcard);
}

int pl_http_cross_site(const struct pl_conf *c, const struct pl_req *req)
{
	const char *site = pl_req_env(req, "HTTP_SEC_FETCH_SITE");
	const char *ref = pl_req_env(req, "HTTP_REFERER"), *host, *end, *own;
	char origin[256];
	size_t hn;
	int wildcard;

	/* Browsers of the last years say who asked; "same-site" is another
	 * origin (a sibling host) and is judged like any other. */
	if (site && (!strcasecmp(site, "same-origin") || !strcasecmp(site, "none")))
		return 0;
	/* Another site, or a browser too old to say: the Referer decides.
	 * When the browser said cross-site, a missing Referer (removed by a
	 * referrer policy, which a hostile page sets itself) shows nothing.
	 * When nothing says anything (a script, curl, a browser that sends no
	 * Referer) there is nothing to go on: the login counts. */
	if (!ref || !(host = strstr(ref, "://")))
		return site != NULL;
	host += 3;
	end = host + strcspn(host, "/?#");
	hn = (size_t)(end - host);
	own = pl_req_env(req, "HTTP_HOST");
	if (!site && own && hn && strlen(own) == hn && !strncasecmp(host, own, hn))
		return 0;               /* a page of this host, in an old browser */
	/* The Referer's origin: scheme://host[:port], up to the path. */
	if (!c->cors_credentials || (size_t)(end - ref) >= sizeof origin)
		return 1;
	memcpy(origin, ref, (size_t)(end - ref));
	origin[end - ref] = '\0';
	return !(origin_allowed(c, origin, &wildcard) && !wildcard);
}

/* The headers that let an allowed origin's page read the answer. */
static void allow_origin(const struct pl_conf *c, const char *origin, int wildcard, struct pl_resp *r)
{
	/* With credentials the origin must be echoed, never "*". */
	if (wildcard && !c->cors_credentials) {
		pl_resp_header(r, "Access-Control-Allow-Origin", "*");
	} else if (pl_resp_header(r, "Access-Control-Allow-Origin", origin) == PL_OK) {
		pl_resp_header(r, "Vary", "Origin");
		if (c->cors_credentials)
			pl_resp_header(r, "Access-Control-Allow-Credentials", "true");
	}
	pl_resp_header(r, "Access-Control-Expose-Headers", "ETag, Retry-After");
}

void pl_http_cors_error(const struct pl_conf *c, const struct pl_req *req, struct pl_resp *r)
{
	const char *origin = req ? pl_req_env(req, "HTTP_ORIGIN") : NULL;
	int wildcard;

	if (origin && origin_allowed(c, origin, &wildcard))
		allow_origin(c, origin, wildcard, r);
}

int pl_http_cors(const struct pl_conf *c, const struct pl_req *req, struct pl_resp *r, const char *methods)
{
	const char *origin = pl_req_env(req, "HTTP_ORIGIN");
	int preflight = pl_req_method_is(req, "OPTIONS"), wildcard;

	if (!origin || !origin_allowed(c, origin, &wildcard)) {
		if (preflight)
			r->status = origin ? 403 : 204;
		if (preflight && !origin)
			pl_resp_header(r, "Allow", methods);    /* a plain OPTIONS asks this */
		if (preflight && origin) {
			/* An error like every other: a JSON body that says why. */
			pl_resp_header(r, "Content-Type", "application/json; charset=utf-8");
			pl_buf_adds(&r->body, "{\"error\":\"forbidden\",\"message\":\"this origin is not allowed "
				    "cross-origin requests (cors_origins in the config)\"}\n");
		}
		return preflight;
	}
	allow_origin(c, origin, wildcard, r);
	if (preflight) {
		r->status = 204;
		pl_resp_header(r, "Access-Control-Allow-Methods", methods);
		pl_resp_header(r, "Access-Control-Allow-Headers",
			       "Authorization, Content-Type, Last-Event-ID, If-None-Match, "
			       "X-Topic, X-Type, X-User, X-Clients, X-TTL, X-Src, X-Target");
		pl_resp_header(r, "Access-Control-Max-Age", "600");
	}
	return preflight;
}

/* q-value of one element's parameters (";q=0.5" in "gzip;q=0.5"): 0..1000. */
static int qvalue(const char *s, const char *end)
{
	int q = 1000;

	while (s < end) {
		const char *semi = memchr(s, ';', (size_t)(end - s));

		if (!semi)
			break;
		s = semi + 1;
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		if (end - s >= 2 && (s[0] == 'q' || s[0] == 'Q') && s[1] == '=') {
			int scale = 1000;

			s += 2;
			q = 0;
			if (s < end && *s == '1')
				return 1000;
			if (s < end && *s == '0')
				s++;
			if (s < end && *s == '.')
				for (s++; s < end && *s >= '0' && *s <= '9' && scale > 1; s++) {
					scale /= 10;
					q += (*s - '0') * scale;
				}
			return q;
		}
	}
	return q;
}

int pl_http_accept_q(const char *h, const char *name)
{
	size_t want = strlen(name);
	int q = -1;

	if (!h)
		return -1;
	while (*h) {
		const char *end = strchr(h, ','), *n, *n_end;

		if (!end)
			end = h + strlen(h);
		n = h;
		while (n < end && (*n == ' ' || *n == '\t'))
			n++;
		n_end = n;
		while (n_end < end && *n_end != ';' && *n_end != ' ' && *n_end != '\t')
			n_end++;
		/* The last one listed counts, as a header joined from two would
		 * mean its later line. */
		if ((size_t)(n_end - n) == want && !strncasecmp(n, name, want))
			q = qvalue(n_end, end);
		h = *end ? end + 1 : end;
	}
	return q;
}
