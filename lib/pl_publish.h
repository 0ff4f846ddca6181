/* pl_publish.h: the publish endpoint */
#ifndef PL_PUBLISH_H
#define PL_PUBLISH_H

#include "pl_conf.h"
#include "pl_http.h"
#include "pl_req.h"
#include "pl_store.h"

#define PL_BATCH_MAX 10000      /* messages in one NDJSON batch */

/* Handle one publish request (any method; answers 405 itself). st NULL
 * (the store did not open): 503 after every other check. r->body must
 * already be bounded by c->max_body (the caller answers 413 beyond it). */
void pl_publish_handle(const struct pl_conf *c, struct pl_store *st, struct pl_req *r, struct pl_resp *resp);

/* The same for a caller that is trusted without a token (the host's CLI,
 * which holds the database itself). */
void pl_publish_trusted(const struct pl_conf *c, struct pl_store *st, struct pl_req *r, struct pl_resp *resp);

#endif
