/* pl_auth.h: who is asking. Publisher and admin bearer tokens from the
 * config; subscriber tokens v1.USER.EXPIRY.SIG signed with the secret. */
#ifndef PL_AUTH_H
#define PL_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "pl_conf.h"
#include "pl_req.h"

#define PL_USER_MAX 128

/* 1 if s is an acceptable user name: 1-128 bytes of [A-Za-z0-9._@+-]
 * (no '.' is a problem: the token is split at its last two dots). */
int pl_auth_user_valid(const char *s);

/* The bearer token of a request: "Authorization: Bearer T" (also passed by
 * Apache as REDIRECT_HTTP_AUTHORIZATION), else the token= query argument
 * when allow_query; an Authorization of another scheme (Basic) counts as
 * none. NULL when none. */
const char *pl_auth_bearer(const struct pl_req *r, int allow_query);
/* An Authorization header the web server made of two ("Bearer T1, Bearer
 * T2"): no token and no Basic credential holds a comma. Worth its own
 * words in the 401, since "not valid" sends the sender looking at a good
 * token. */
int pl_auth_joined(const struct pl_req *r);
#define PL_AUTH_JOINED_MSG "the Authorization header came more than once (the web server joined them): send one"

/* Find the configured token equal to s, comparing in constant time.
 * Returns NULL when none matches. */
const struct pl_token *pl_auth_find(const struct pl_conf *c, const char *s);

/* May token t publish to topic? (admin tokens may publish anywhere) */
int pl_auth_topic_allowed(const struct pl_token *t, const char *topic);

/* Mint "v1.USER.EXPIRY.SIG" into out. Returns PL_OK, or PL_EINVAL for a
 * bad user, a missing secret, or too small an out. */
int pl_auth_mint(const char *secret, const char *user, int64_t expiry, char *out, size_t outlen);

/* Verify a subscriber token; on PL_OK copies the user into user[PL_USER_MAX+1]
 * and, when expires is not NULL, its EXPIRY (unix seconds) into *expires.
 * PL_EAUTH when malformed, forged, or expired at now (unix seconds). */
int pl_auth_verify(const char *secret, const char *token, int64_t now, char *user, int64_t *expires);

/* 1 if s is a subscriber token that verifies now: a bearer that is not
 * configured but is valid is refused with 403 (not allowed), not 401. */
int pl_auth_is_subscriber(const struct pl_conf *c, const char *s);

/* The subscriber's identity: REMOTE_USER, else a valid token= or Bearer
 * subscriber token. user[0] = '\0' for anonymous. *until: the token's
 * EXPIRY (unix seconds), 0 when the identity is not a token's. PL_EFORBID for
 * a configured publish or admin token, PL_EAUTH for any other token that
 * does not verify. */
int pl_auth_subscriber(const struct pl_conf *c, const struct pl_req *r, char *user, int64_t *until);

#endif
