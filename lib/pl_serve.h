/* pl_serve.h: run a request/response program (publish, poll, admin):
 * FastCGI on the event loop (publish, poll) or a libfcgi thread pool
 * (admin); or one plain CGI request. */
#ifndef PL_SERVE_H
#define PL_SERVE_H

#include "pl_conf.h"
#include "pl_http.h"
#include "pl_req.h"
#include "pl_store.h"

enum pl_prog { PL_PROG_PUBLISH, PL_PROG_POLL, PL_PROG_ADMIN };

/* The main of cgi-bin/publish, poll and admin. admin's threads in FastCGI
 * mode: PUSHLITE_THREADS (default 8). Returns the exit status. */
int pl_serve_main(enum pl_prog prog, const char *name, int argc, char **argv);

/* Headers every answer carries, and HEAD handling; then the CGI bytes. */
void pl_serve_finish(const struct pl_req *r, struct pl_resp *resp, struct pl_buf *out);

/* Load the configuration for a web program; on failure logs the reason and
 * returns PL_ECONF (the program then answers every request with a 500). */
int pl_serve_conf(struct pl_conf *c, const char *name);

/* 1 (with a 404 in resp) when the request's path is not this program's
 * endpoint NAME: lighttpd maps "/push/poll" by prefix, so "/push/pollx"
 * and "/push/poll/x" reach poll too, and mod_proxy_fcgi's ProxyPass sends
 * "/push/poll/x" there. No PATH_INFO may follow either. */
int pl_serve_wrong_path(const struct pl_req *r, const char *name, struct pl_resp *resp);

/* The format of an answer that refuses r before its handler ran: as asked
 * (XML, JSONP with a valid callback), or NULL for JSON when the query
 * string could not be read (query_rc) or there is no request. */
const struct pl_outopt *pl_serve_early_format(const struct pl_req *r, int query_rc, struct pl_outopt *eo);

/* The answer for a request refused before any handler ran: 413 when its
 * CONTENT_LENGTH is over max_body, 400 for an unreadable query string
 * (query_rc), 500 for a bad configuration; in the format r asked for.
 * Returns 1 when resp holds such an answer. */
int pl_serve_refuse(const struct pl_conf *c, int conf_ok, const struct pl_req *r, int query_rc,
		    struct pl_resp *resp);

#endif
