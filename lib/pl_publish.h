/* pl_publish.h: the publish endpoint */
#ifndef PL_PUBLISH_H
#define PL_PUBLISH_H

#include "pl_conf.h"
#include "pl_http.h"
#include "pl_req.h"
#include "pl_store.h"

#define PL_BATCH_MAX 10000      /* messages in one NDJSON batch */

/* Handle one publish request (any method; answers 405 itself), committed
 * through pl_group's writer: 503 when the store cannot take it. r->body
 * must already be bounded by c->max_body (the caller answers 413 beyond
 * it). */
void pl_publish_handle(const struct pl_conf *c, struct pl_req *r, struct pl_resp *resp);

/* The same for a caller that is trusted without a token (the host's CLI,
 * which holds the database itself). */
void pl_publish_trusted(const struct pl_conf *c, struct pl_req *r, struct pl_resp *resp);

/* The same in two halves, for a server that commits the publishes of many
 * requests at once (the event loop of cgi-bin/publish): begin does every
 * check and returns the messages to commit, or NULL when resp already holds
 * the answer. The messages point into r, which must outlive them. end takes
 * the commit's result, writes the answer and frees p. */
struct pl_pub;
struct pl_pub *pl_publish_begin(const struct pl_conf *c, struct pl_req *r, struct pl_resp *resp);
struct pl_msg *pl_pub_msgs(struct pl_pub *p, size_t *n);
void pl_publish_end(const struct pl_conf *c, struct pl_pub *p, int rc, struct pl_resp *resp);
/* Free p without an answer (its client left before the commit). */
void pl_publish_cancel(struct pl_pub *p);

#endif
