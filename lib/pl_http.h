/* pl_http.h: HTTP responses as CGI output, statuses, CORS */
#ifndef PL_HTTP_H
#define PL_HTTP_H

#include "pl_conf.h"
#include "pl_req.h"
#include "pl_util.h"

struct pl_resp {
	int status;
	struct pl_buf head;     /* "Name: value\r\n" lines */
	struct pl_buf body;
};

void pl_resp_init(struct pl_resp *r);     /* status 200, no headers */
void pl_resp_free(struct pl_resp *r);     /* NULL-safe */
/* Add a header. Refuses (PL_EINVAL, nothing added) a name or value with CR,
 * LF or NUL, so no input can split the response. */
int pl_resp_header(struct pl_resp *r, const char *name, const char *value);
/* "Status: ...\r\n" + headers + "\r\n" + body, appended to out. */
void pl_resp_serialize(const struct pl_resp *r, struct pl_buf *out);
/* Only the status line and headers (for streams, whose body follows). */
void pl_resp_serialize_head(const struct pl_resp *r, struct pl_buf *out);

/* The one place result codes become statuses and error codes. */
int pl_http_status(int rc);
const char *pl_http_reason(int status);
const char *pl_http_code(int rc);

/* Add Access-Control-* headers when the request's Origin is configured.
 * Returns 1 when the request was an OPTIONS preflight, which r now answers
 * (204, or 403 for an origin not allowed). */
int pl_http_cors(const struct pl_conf *c, const struct pl_req *req, struct pl_resp *r, const char *methods);
/* An error answered before its program's own CORS step (a wrong path, a
 * body too large, an unreadable query string): the same Allow-Origin
 * headers, so that an allowed page can read why. */
void pl_http_cors_error(const struct pl_conf *c, const struct pl_req *req, struct pl_resp *r);

/* 1 when another site's page may have made the request: the browser says
 * so (Sec-Fetch-Site: cross-site or same-site), or says nothing and the
 * Referer is missing or names another host; unless the Referer's origin is
 * one the config trusts with its visitors' credentials (listed by name in
 * cors_origins, with cors_credentials on). */
int pl_http_cross_site(const struct pl_conf *c, const struct pl_req *req);

/* 1 when the request carries an Origin (browsers send one with every POST,
 * also from a plain form) that is not this host's (Host, a default port
 * either side ignored) and not listed by name in cors_origins with
 * cors_credentials on; "null" counts as foreign. 0 without an Origin. For
 * browsers that do not say Sec-Fetch-Site: one that says same-origin is
 * believed (pages cannot forge it) whatever its Origin (a same-origin page
 * with no-referrer sends "null"; a proxy may rewrite Host). */
int pl_http_foreign_origin(const struct pl_conf *c, const struct pl_req *req);

/* 1 when the browser says the request came from this origin, or from no
 * page at all (Sec-Fetch-Site: same-origin or none). */
int pl_http_same_origin(const struct pl_req *req);

/* 1 when s[0..n) is a CGI script's extension (".cgi", ".fcgi", ".fcg"):
 * "/cgi-bin/poll.cgi" names poll, "/push/poll.json" does not. */
int pl_http_cgi_ext(const char *s, size_t n);

/* The q-value, 0-1000, that a header listing elements with parameters
 * (Accept "type/sub;q=0.5, ...", Accept-Encoding "gzip;q=0, ...") gives
 * the element name, compared ignoring case; 1000 when it has no q. -1
 * when name is not listed, or h is NULL. A wildcard is an element like
 * any other, looked up by its own name. */
int pl_http_accept_q(const char *h, const char *name);

/* The 404 of a URL under /push/ that names no endpoint. */
#define PL_MSG_NO_ENDPOINT \
	"no such endpoint: use /push/publish, /push/poll, /push/longpoll, /push/stream, /push/admin or /push/health"

#endif
