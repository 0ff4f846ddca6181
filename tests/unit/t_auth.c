/* t_auth.c: subscriber tokens v1.USER.EXPIRY.SIG, bearer tokens, prefixes
 *
 * The known-answer vectors were computed outside this code, with OpenSSL's
 * command line and coreutils, e.g. for the first one:
 *   printf '%s' 'v1.alice.2000000000' |
 *     openssl dgst -sha256 -hmac 'test-secret-0123456789' -binary |
 *     base64 | tr '+/' '-_' | tr -d '='
 * which prints eYloG9HD1UgAtvBCSmHGKnAldJiyrWShh_dUtsHhE4k. */
#include "pl_first.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pl_auth.h"
#include "pl_log.h"
#include "pl_util.h"
#include "tap.h"

#define SECRET "test-secret-0123456789"
#define KAT1 "v1.alice.2000000000.eYloG9HD1UgAtvBCSmHGKnAldJiyrWShh_dUtsHhE4k"
#define KAT2 "v1.bob@example.com.4102444800.teL0O52PiSNXLA_bxB7V632gtcGvTDOdnzYeFQEHGIo"
#define NOW 1900000000LL

static int verify(const char *secret, const char *tok, int64_t now, char *user)
{
	memset(user, 'Z', PL_USER_MAX + 1);
	return pl_auth_verify(secret, tok, now, user, NULL);
}

static void t_user(void)
{
	char u[PL_USER_MAX + 2];

	ok(pl_auth_user_valid("alice"), "user alice is valid");
	ok(pl_auth_user_valid("bob@example.com"), "user with @ and . is valid");
	ok(pl_auth_user_valid("A-Z_a+z.0-9"), "user with + - _ is valid");
	ok(!pl_auth_user_valid(""), "empty user is refused");
	ok(!pl_auth_user_valid("a b"), "user with a blank is refused");
	ok(!pl_auth_user_valid("a/b"), "user with / is refused");
	ok(!pl_auth_user_valid("a,b"), "user with a comma is refused");
	ok(!pl_auth_user_valid("\xc3\xa9"), "non-ASCII user is refused");
	ok(!pl_auth_user_valid("a\nb"), "user with a newline is refused");
	memset(u, 'u', PL_USER_MAX);
	u[PL_USER_MAX] = '\0';
	ok(pl_auth_user_valid(u), "a %d-byte user is valid", PL_USER_MAX);
	u[PL_USER_MAX] = 'u';
	u[PL_USER_MAX + 1] = '\0';
	ok(!pl_auth_user_valid(u), "a %d-byte user is refused", PL_USER_MAX + 1);
}

static void t_mint_verify(void)
{
	char tok[512], user[PL_USER_MAX + 1], u[PL_USER_MAX + 2];
	char bad[512];

	ok(pl_auth_mint(SECRET, "alice", 2000000000, tok, sizeof tok) == PL_OK && !strcmp(tok, KAT1),
	   "mint matches the openssl known answer (alice)");
	ok(pl_auth_mint("another-secret-abcdef", "bob@example.com", 4102444800LL, tok, sizeof tok) == PL_OK &&
	   !strcmp(tok, KAT2), "mint matches the openssl known answer (bob@example.com)");
	ok(verify(SECRET, KAT1, NOW, user) == PL_OK && !strcmp(user, "alice"), "the known-answer token verifies as alice");
	ok(verify("another-secret-abcdef", KAT2, NOW, user) == PL_OK && !strcmp(user, "bob@example.com"),
	   "the second known-answer token verifies");
	ok(verify("another-secret-abcdef", KAT1, NOW, user) == PL_EAUTH, "a token signed with another secret is refused");
	ok(verify(SECRET, KAT1, 2000000000LL, user) == PL_EAUTH, "a token is expired at its expiry second");
	ok(verify(SECRET, KAT1, 1999999999LL, user) == PL_OK, "a token is valid one second before its expiry");
	ok(verify(SECRET, KAT1, 2100000000LL, user) == PL_EAUTH && user[0] == 'Z', "an expired token is refused, user untouched");
	ok(verify(NULL, KAT1, NOW, user) == PL_EAUTH, "no configured secret: every token is refused");

	/* Round trips, including a user with dots (split at the last two dots). */
	ok(pl_auth_mint(SECRET, "first.last", NOW + 60, tok, sizeof tok) == PL_OK &&
	   verify(SECRET, tok, NOW, user) == PL_OK && !strcmp(user, "first.last"), "a user with dots round-trips");
	memset(u, 'm', PL_USER_MAX);
	u[PL_USER_MAX] = '\0';
	ok(pl_auth_mint(SECRET, u, NOW + 60, tok, sizeof tok) == PL_OK && verify(SECRET, tok, NOW, user) == PL_OK &&
	   !strcmp(user, u), "a %d-byte user round-trips", PL_USER_MAX);
	ok(pl_auth_mint(SECRET, "x", INT64_MAX / 2, tok, sizeof tok) == PL_OK && verify(SECRET, tok, NOW, user) == PL_OK,
	   "the largest expiry round-trips");

	/* Mint refuses what it cannot sign well. */
	ok(pl_auth_mint(NULL, "alice", NOW, tok, sizeof tok) == PL_EINVAL, "mint without a secret is refused");
	ok(pl_auth_mint(SECRET, "a b", NOW, tok, sizeof tok) == PL_EINVAL, "mint of a bad user is refused");
	ok(pl_auth_mint(SECRET, "", NOW, tok, sizeof tok) == PL_EINVAL, "mint of an empty user is refused");
	u[PL_USER_MAX] = 'm';
	u[PL_USER_MAX + 1] = '\0';
	ok(pl_auth_mint(SECRET, u, NOW, tok, sizeof tok) == PL_EINVAL, "mint of a %d-byte user is refused", PL_USER_MAX + 1);
	ok(pl_auth_mint(SECRET, "alice", 0, tok, sizeof tok) == PL_EINVAL, "mint with expiry 0 is refused");
	ok(pl_auth_mint(SECRET, "alice", 2000000000, tok, strlen(KAT1)) == PL_EINVAL, "mint into a buffer one byte short is refused");
	ok(pl_auth_mint(SECRET, "alice", 2000000000, tok, strlen(KAT1) + 1) == PL_OK && !strcmp(tok, KAT1),
	   "mint into a buffer of exactly the right size works");
	ok(pl_auth_mint(SECRET, "alice", 2000000000, tok, 8) == PL_EINVAL, "mint into a tiny buffer is refused");

	/* Forgeries and malformed tokens. */
	strcpy(bad, KAT1);
	bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == 'k' ? 'j' : 'k';
	ok(verify(SECRET, bad, NOW, user) == PL_EAUTH && user[0] == 'Z', "a changed signature character is refused");
	strcpy(bad, KAT1);
	bad[3] = 'A';
	ok(verify(SECRET, bad, NOW, user) == PL_EAUTH, "a changed user (Alice) is refused");
	ok(verify(SECRET, "v1.alice.2000000001.eYloG9HD1UgAtvBCSmHGKnAldJiyrWShh_dUtsHhE4k", NOW, user) == PL_EAUTH,
	   "a changed expiry is refused");
	ok(verify(SECRET, "v1.bob.2000000000.eYloG9HD1UgAtvBCSmHGKnAldJiyrWShh_dUtsHhE4k", NOW, user) == PL_EAUTH,
	   "alice's signature on bob is refused");
	ok(verify(SECRET, "v2.alice.2000000000.eYloG9HD1UgAtvBCSmHGKnAldJiyrWShh_dUtsHhE4k", NOW, user) == PL_EAUTH,
	   "version v2 is refused");
	ok(verify(SECRET, "V1.alice.2000000000.eYloG9HD1UgAtvBCSmHGKnAldJiyrWShh_dUtsHhE4k", NOW, user) == PL_EAUTH,
	   "version V1 is refused");
	ok(verify(SECRET, "v1.alice.2000000000", NOW, user) == PL_EAUTH, "no signature part is refused");
	ok(verify(SECRET, "v1.alice.2000000000.", NOW, user) == PL_EAUTH, "an empty signature is refused");
	ok(verify(SECRET, "v1.alice.eYloG9HD1UgAtvBCSmHGKnAldJiyrWShh_dUtsHhE4k", NOW, user) == PL_EAUTH,
	   "no expiry part is refused");
	ok(verify(SECRET, "v1.eYloG9HD1UgAtvBCSmHGKnAldJiyrWShh_dUtsHhE4k", NOW, user) == PL_EAUTH, "no user part is refused");
	ok(verify(SECRET, "v1..2000000000.eYloG9HD1UgAtvBCSmHGKnAldJiyrWShh_dUtsHhE4k", NOW, user) == PL_EAUTH,
	   "an empty user is refused");
	ok(verify(SECRET, "v1.alice..eYloG9HD1UgAtvBCSmHGKnAldJiyrWShh_dUtsHhE4k", NOW, user) == PL_EAUTH,
	   "an empty expiry is refused");
	ok(verify(SECRET, "v1.alice.2000000000..eYloG9HD1UgAtvBCSmHGKnAldJiyrWShh_dUtsHhE4k", NOW, user) == PL_EAUTH,
	   "an extra dot before the signature is refused");
	ok(verify(SECRET, "v1.alice.2000000000.eYloG9HD1UgAtvBCSmHGKnAldJiyrWShh_dUtsHhE4k.", NOW, user) == PL_EAUTH,
	   "a trailing dot is refused");
	ok(verify(SECRET, "v1.alice.2000000000.eYloG9HD1UgAtvBCSmHGKnAldJiyrWShh_dUtsHhE4k=", NOW, user) == PL_EAUTH,
	   "base64 padding is refused (SPEC: without padding)");
	ok(verify(SECRET, "v1.alice.2000000000.eYloG9HD1UgAtvBCSmHGKnAldJiyrWShh/dUtsHhE4k", NOW, user) == PL_EAUTH,
	   "standard base64 '/' instead of '_' is refused");
	ok(verify(SECRET, "v1.alice.2000000000.eYloG9HD1UgAtvBCSmHGKnAldJiyrWShh_dUtsHhE4", NOW, user) == PL_EAUTH,
	   "a signature one character short is refused");
	ok(verify(SECRET, "v1.alice.2000000000.!YloG9HD1UgAtvBCSmHGKnAldJiyrWShh_dUtsHhE4k", NOW, user) == PL_EAUTH,
	   "a non-base64 character is refused");
	ok(verify(SECRET, "v1.alice.+2000000000.eYloG9HD1UgAtvBCSmHGKnAldJiyrWShh_dUtsHhE4k", NOW, user) == PL_EAUTH,
	   "a signed expiry is refused");
	ok(verify(SECRET, "v1.alice.2e9.eYloG9HD1UgAtvBCSmHGKnAldJiyrWShh_dUtsHhE4k", NOW, user) == PL_EAUTH,
	   "a non-decimal expiry is refused");
	ok(verify(SECRET, "v1.al ce.2000000000.eYloG9HD1UgAtvBCSmHGKnAldJiyrWShh_dUtsHhE4k", NOW, user) == PL_EAUTH,
	   "a user with a blank is refused");
	ok(verify(SECRET, "", NOW, user) == PL_EAUTH && verify(SECRET, "v1.", NOW, user) == PL_EAUTH &&
	   verify(SECRET, "....", NOW, user) == PL_EAUTH, "empty and dot-only tokens are refused");
	{
		/* A token longer than any valid one is refused before any work. */
		char longtok[1024];
		memset(longtok, 'a', sizeof longtok - 1);
		longtok[sizeof longtok - 1] = '\0';
		memcpy(longtok, "v1.", 3);
		ok(verify(SECRET, longtok, NOW, user) == PL_EAUTH, "a 1 KiB token is refused");
		/* Too long a user inside an otherwise well-formed token. */
		memset(u, 'm', PL_USER_MAX + 1);
		u[PL_USER_MAX + 1] = '\0';
		snprintf(longtok, sizeof longtok, "v1.%s.2000000000.eYloG9HD1UgAtvBCSmHGKnAldJiyrWShh_dUtsHhE4k", u);
		ok(verify(SECRET, longtok, NOW, user) == PL_EAUTH, "a %d-byte user in a token is refused", PL_USER_MAX + 1);
	}
}

static void t_bearer(void)
{
	struct pl_req r;
	char *e1[] = { "HTTP_AUTHORIZATION=Bearer abc123", "QUERY_STRING=token=q", NULL };
	char *e2[] = { "HTTP_AUTHORIZATION=bearer   abc123", NULL };
	char *e3[] = { "HTTP_AUTHORIZATION=Basic dXNlcjpwYXNz", "QUERY_STRING=token=q", NULL };
	char *e4[] = { "REDIRECT_HTTP_AUTHORIZATION=Bearer via-apache", NULL };
	char *e5[] = { "QUERY_STRING=token=from-query", NULL };
	char *e6[] = { "HTTP_AUTHORIZATION=", "QUERY_STRING=token=q", NULL };
	const char *t;

	pl_req_init(&r, e1, NULL, 0);
	t = pl_auth_bearer(&r, 1);
	ok(t && !strcmp(t, "abc123"), "Authorization: Bearer T gives T (and beats token=)");
	pl_req_free(&r);
	pl_req_init(&r, e2, NULL, 0);
	t = pl_auth_bearer(&r, 0);
	ok(t && !strcmp(t, "abc123"), "the scheme is case-insensitive and extra blanks are skipped");
	pl_req_free(&r);
	pl_req_init(&r, e3, NULL, 0);
	t = pl_auth_bearer(&r, 1);
	ok(t && !strcmp(t, "q"), "Basic credentials are the web server's: the query token is the bearer");
	pl_req_free(&r);
	pl_req_init(&r, e3, NULL, 0);
	ok(pl_auth_bearer(&r, 0) == NULL, "Basic credentials without the query allowed: none");
	pl_req_free(&r);
	pl_req_init(&r, e4, NULL, 0);
	t = pl_auth_bearer(&r, 0);
	ok(t && !strcmp(t, "via-apache"), "REDIRECT_HTTP_AUTHORIZATION is read too");
	pl_req_free(&r);
	pl_req_init(&r, e5, NULL, 0);
	t = pl_auth_bearer(&r, 1);
	ok(t && !strcmp(t, "from-query"), "token= is used when allowed");
	ok(pl_auth_bearer(&r, 0) == NULL, "token= is ignored when not allowed");
	pl_req_free(&r);
	pl_req_init(&r, e6, NULL, 0);
	t = pl_auth_bearer(&r, 1);
	ok(t && !strcmp(t, "q"), "an empty Authorization header counts as absent");
	pl_req_free(&r);
}

static void t_find(void)
{
	struct pl_conf c;
	struct pl_token tk[2];
	const struct pl_token *t;

	pl_conf_defaults(&c);
	memset(tk, 0, sizeof tk);
	tk[0].name = "pub";
	tk[0].secret = "publish-token-1";
	tk[0].prefixes[0] = "/oa";
	tk[0].prefixes[1] = "/ops/disk";
	tk[0].nprefixes = 2;
	tk[1].name = "adm";
	tk[1].secret = "admin-token-22";
	tk[1].role = PL_ROLE_ADMIN;
	tk[1].prefixes[0] = "/only";
	tk[1].nprefixes = 1;
	c.tokens = tk;
	c.ntokens = 2;

	t = pl_auth_find(&c, "publish-token-1");
	ok(t == &tk[0], "find: the exact token is found");
	ok(pl_auth_find(&c, "admin-token-22") == &tk[1], "find: the second token is found");
	ok(pl_auth_find(&c, "publish-token-") == NULL, "find: a prefix of a token is refused");
	ok(pl_auth_find(&c, "publish-token-11") == NULL, "find: a token with an extra byte is refused");
	ok(pl_auth_find(&c, "Publish-token-1") == NULL, "find: case matters");
	ok(pl_auth_find(&c, "") == NULL && pl_auth_find(&c, NULL) == NULL, "find: empty and NULL are refused");

	ok(pl_auth_topic_allowed(&tk[0], "/oa"), "prefix: the prefix itself is allowed");
	ok(pl_auth_topic_allowed(&tk[0], "/oa/notice/x"), "prefix: a topic below it is allowed");
	ok(!pl_auth_topic_allowed(&tk[0], "/oab"), "prefix: /oab is not under /oa");
	ok(pl_auth_topic_allowed(&tk[0], "/ops/disk/sda"), "prefix: the second prefix counts");
	ok(!pl_auth_topic_allowed(&tk[0], "/ops"), "prefix: the parent of a prefix is refused");
	ok(!pl_auth_topic_allowed(&tk[0], "/other"), "prefix: another topic is refused");
	ok(pl_auth_topic_allowed(&tk[1], "/anything"), "prefix: an admin token may publish anywhere");
	tk[0].nprefixes = 0;
	ok(pl_auth_topic_allowed(&tk[0], "/anything"), "prefix: a token without prefixes may publish anywhere");
	c.tokens = NULL;
	c.ntokens = 0;
	pl_conf_free(&c);
}

static void t_subscriber(void)
{
	struct pl_conf c;
	struct pl_req r;
	char user[PL_USER_MAX + 1], tok[256], qs[300], hdr[300], ru[PL_USER_MAX + 20];
	int64_t until, exp = (int64_t)time(NULL) + 3600;
	struct pl_token pub = { .name = "pub", .secret = "publisher-token-0123456789", .role = PL_ROLE_PUBLISH };
	char *e_pub[] = { "HTTP_AUTHORIZATION=Bearer publisher-token-0123456789", NULL };
	char *e_ru[] = { "REMOTE_USER=carol", qs, NULL };
	char *e_q[] = { qs, NULL };
	char *e_h[] = { hdr, NULL };
	char *e_basic[] = { "HTTP_AUTHORIZATION=Basic dXNlcjpwYXNz", NULL };
	char *e_none[] = { "QUERY_STRING=topic=/a", NULL };
	char *e_long[] = { ru, NULL };

	pl_conf_defaults(&c);
	c.secret = pl_xstrdup(SECRET);
	pl_auth_mint(SECRET, "dave", exp, tok, sizeof tok);
	snprintf(qs, sizeof qs, "QUERY_STRING=topic=/a&token=%s", tok);
	snprintf(hdr, sizeof hdr, "HTTP_AUTHORIZATION=Bearer %s", tok);

	pl_req_init(&r, e_ru, NULL, 0);
	ok(pl_auth_subscriber(&c, &r, user, &until) == PL_OK && !strcmp(user, "carol") && until == 0,
	   "REMOTE_USER beats a token, and has no expiry");
	pl_req_free(&r);
	pl_req_init(&r, e_q, NULL, 0);
	ok(pl_auth_subscriber(&c, &r, user, &until) == PL_OK && !strcmp(user, "dave") && until == exp,
	   "token= gives the token's user and its expiry");
	pl_req_free(&r);
	pl_req_init(&r, e_h, NULL, 0);
	ok(pl_auth_subscriber(&c, &r, user, &until) == PL_OK && !strcmp(user, "dave"), "a Bearer subscriber token works");
	pl_req_free(&r);
	pl_req_init(&r, e_basic, NULL, 0);
	ok(pl_auth_subscriber(&c, &r, user, &until) == PL_OK && user[0] == '\0', "Basic credentials alone: anonymous");
	pl_req_free(&r);
	pl_req_init(&r, e_none, NULL, 0);
	ok(pl_auth_subscriber(&c, &r, user, &until) == PL_OK && user[0] == '\0', "no credentials: anonymous");
	pl_req_free(&r);
	c.tokens = &pub;
	c.ntokens = 1;
	pl_req_init(&r, e_pub, NULL, 0);
	ok(pl_auth_subscriber(&c, &r, user, &until) == PL_EFORBID && user[0] == '\0',
	   "a configured publish token is EFORBID: valid, but no subscriber");
	pl_req_free(&r);
	c.tokens = NULL;
	c.ntokens = 0;

	pl_auth_mint(SECRET, "dave", (int64_t)time(NULL) - 1, tok, sizeof tok);
	snprintf(qs, sizeof qs, "QUERY_STRING=topic=/a&token=%s", tok);
	pl_req_init(&r, e_q, NULL, 0);
	ok(pl_auth_subscriber(&c, &r, user, &until) == PL_EAUTH && user[0] == '\0', "an expired token is EAUTH, not anonymous");
	pl_req_free(&r);
	snprintf(qs, sizeof qs, "QUERY_STRING=topic=/a&token=nonsense");
	pl_req_init(&r, e_q, NULL, 0);
	ok(pl_auth_subscriber(&c, &r, user, &until) == PL_EAUTH, "a malformed token is EAUTH");
	pl_req_free(&r);

	free(c.secret);
	c.secret = NULL;
	pl_auth_mint(SECRET, "dave", (int64_t)time(NULL) + 3600, tok, sizeof tok);
	snprintf(qs, sizeof qs, "QUERY_STRING=topic=/a&token=%s", tok);
	pl_req_init(&r, e_q, NULL, 0);
	ok(pl_auth_subscriber(&c, &r, user, &until) == PL_EAUTH, "without a configured secret a token is EAUTH");
	pl_req_free(&r);

	snprintf(ru, sizeof ru, "REMOTE_USER=");
	memset(ru + 12, 'r', PL_USER_MAX + 1);
	ru[12 + PL_USER_MAX + 1] = '\0';
	pl_req_init(&r, e_long, NULL, 0);
	ok(pl_auth_subscriber(&c, &r, user, &until) == PL_EAUTH, "a REMOTE_USER over %d bytes is EAUTH", PL_USER_MAX);
	pl_req_free(&r);
	pl_conf_free(&c);
}

int main(void)
{
	t_user();
	t_mint_verify();
	t_bearer();
	t_find();
	t_subscriber();
	return tap_done();
}
