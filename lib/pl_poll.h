/* pl_poll.h: the simple-poll endpoint, and the answer every subscription
 * endpoint gives when messages are already there. */
#ifndef PL_POLL_H
#define PL_POLL_H

#include "pl_conf.h"
#include "pl_http.h"
#include "pl_req.h"
#include "pl_store.h"
#include "pl_sub.h"

/* Handle GET /poll. st NULL (the store did not open): 503. res->got
 * receives the ids first delivered to their user by this answer, for
 * pl_store_mark_got() once the answer is out; the caller frees res. */
void pl_poll_handle(const struct pl_conf *c, struct pl_store *st, struct pl_req *r,
		    struct pl_resp *resp, struct pl_result *res);

/* Common checks of the subscribe endpoints: CORS (1 = preflight answered),
 * method (GET/HEAD, else 405 answered: returns 1). */
int pl_poll_preamble(const struct pl_conf *c, const struct pl_req *r, struct pl_resp *resp);

/* ETag: "CURSOR" of an answer given at once (poll, a long poll with
 * messages ready). */
void pl_poll_etag(struct pl_resp *resp, const struct pl_result *res);

/* Answer a subscribe error in the format the request asked for. */
void pl_poll_error(const struct pl_conf *c, struct pl_resp *resp, const struct pl_sub *sub, int rc, const char *msg);

#endif
