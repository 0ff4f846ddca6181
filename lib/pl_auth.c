/* pl_auth.c: bearer tokens and HMAC-signed subscriber tokens (libcrypto) */
#include "pl_first.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "pl_auth.h"
#include "pl_log.h"
#include "pl_topic.h"
#include "pl_util.h"

#define SIG_B64_LEN 43          /* 32 bytes, base64url without padding */

int pl_auth_user_valid(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= PL_USER_MAX &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@+-") == n;
}

const char *pl_auth_bearer(const struct pl_req *r, int allow_query)
{
	const char *h = pl_req_env(r, "HTTP_AUTHORIZATION");

	if (!h)
		h = pl_req_env(r, "REDIRECT_HTTP_AUTHORIZATION");
	/* Another scheme (Basic, as the web server's own authentication
	 * passes on) is the web server's business, as if absent: REMOTE_USER or
	 * token= may still be the credential. */
	if (h && !strncasecmp(h, "Bearer ", 7)) {
		h += 7;
		while (*h == ' ')
			h++;
		return h;
	}
	return allow_query ? pl_req_arg(r, "token") : NULL;
}

int pl_auth_joined(const struct pl_req *r)
{
	const char *h = pl_req_env(r, "HTTP_AUTHORIZATION");

	if (!h)
		h = pl_req_env(r, "REDIRECT_HTTP_AUTHORIZATION");
	return h && strchr(h, ',') != NULL;
}

/* Constant time in the length of the configured secret. */
static int same(const char *given, const char *secret)
{
	size_t n = strlen(secret), g = strlen(given);
	unsigned char diff = (unsigned char)(g != n);

	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(secret[i] ^ (i < g ? given[i] : 0));
	return diff == 0;
}

const struct pl_token *pl_auth_find(const struct pl_conf *c, const char *s)
{
	const struct pl_token *found = NULL;

	if (!s)
		return NULL;
	/* Compare with every token, so timing tells nothing about which matched. */
	for (size_t i = 0; i < c->ntokens; i++)
		if (same(s, c->tokens[i].secret))
			found = &c->tokens[i];
	return found;
}

int pl_auth_topic_allowed(const struct pl_token *t, const char *topic)
{
	if (t->role == PL_ROLE_ADMIN || t->nprefixes == 0)
		return 1;
	for (size_t i = 0; i < t->nprefixes; i++)
		if (pl_topic_under(topic, t->prefixes[i]))
			return 1;
	return 0;
}

static void b64url(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0, i;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = tab[v >> 6 & 63];
		out[o++] = tab[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)in[i] << 16;
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
	} else if (n - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = tab[v >> 6 & 63];
	}
	out[o] = '\0';
}

/* Every subscriber request checks a signature. HMAC() looks the algorithms
 * up by name on each call, under libcrypto's locks, which threads serving
 * polls then queue on; so each thread keeps one keyed context and only resets
 * it (about a sixth of the cost, measured). */
struct mac_cache {
	EVP_MAC_CTX *ctx;
	char *secret;           /* the key ctx holds */
};

static pthread_key_t mac_key;
static EVP_MAC *mac_alg;

static void mac_cache_free(void *p)
{
	struct mac_cache *m = p;

	EVP_MAC_CTX_free(m->ctx);
	free(m->secret);
	free(m);
}

/* libcrypto failing to sign is no bad token, though it reads as one (every
 * token is refused): said once, naming the call and libcrypto's reason. */
static void crypto_failed(const char *op)
{
	static _Atomic int said;
	char why[256];

	if (atomic_exchange(&said, 1))
		return;
	ERR_error_string_n(ERR_peek_last_error(), why, sizeof why);
	pl_log_err("tokens: %s failed (%s): no subscriber token can be checked or made", op, why);
}

static void mac_setup(void)
{
	mac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!mac_alg)
		crypto_failed("EVP_MAC_fetch HMAC");
	if (pthread_key_create(&mac_key, mac_cache_free) != 0) {
		pl_log_err("tokens: pthread_key_create: out of keys");
		abort();
	}
}

/* A context keyed with secret, ready for input; NULL on failure. */
static EVP_MAC_CTX *mac_ctx(const char *secret)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct mac_cache *m;
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};

	pthread_once(&once, mac_setup);
	if (!mac_alg)
		return NULL;
	m = pthread_getspecific(mac_key);
	if (m && strcmp(m->secret, secret) == 0)
		return EVP_MAC_init(m->ctx, NULL, 0, NULL) ? m->ctx : NULL;
	if (!m) {
		m = pl_xcalloc(1, sizeof *m);
		if (pthread_setspecific(mac_key, m) != 0) {
			free(m);
			return NULL;
		}
	}
	EVP_MAC_CTX_free(m->ctx);
	free(m->secret);
	m->secret = pl_xstrdup(secret);
	m->ctx = EVP_MAC_CTX_new(mac_alg);
	if (!m->ctx || !EVP_MAC_init(m->ctx, (const unsigned char *)secret, strlen(secret), params)) {
		crypto_failed(m->ctx ? "EVP_MAC_init HMAC-SHA256" : "EVP_MAC_CTX_new");
		EVP_MAC_CTX_free(m->ctx);
		m->ctx = NULL;
		m->secret[0] = '\0';   /* never matches a real secret: rebuilt next time */
		return NULL;
	}
	return m->ctx;
}

static int sign(const char *secret, const char *msg, size_t n, char out[SIG_B64_LEN + 1])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t maclen = 0;
	EVP_MAC_CTX *ctx = mac_ctx(secret);

	if (!ctx)
		return PL_EINVAL;
	if (!EVP_MAC_update(ctx, (const unsigned char *)msg, n) ||
	    !EVP_MAC_final(ctx, mac, &maclen, sizeof mac) || maclen != 32) {
		crypto_failed("EVP_MAC_update/final HMAC-SHA256");
		return PL_EINVAL;
	}
	b64url(mac, maclen, out);
	return PL_OK;
}

int pl_auth_mint(const char *secret, const char *user, int64_t expiry, char *out, size_t outlen)
{
	char sig[SIG_B64_LEN + 1];
	int n;

	if (!secret || !pl_auth_user_valid(user) || expiry <= 0)
		return PL_EINVAL;
	n = snprintf(out, outlen, "v1.%s.%lld", user, (long long)expiry);
	if (n < 0 || (size_t)n >= outlen || sign(secret, out, (size_t)n, sig) != PL_OK)
		return PL_EINVAL;
	if ((size_t)n + 1 + SIG_B64_LEN >= outlen)
		return PL_EINVAL;
	out[n] = '.';
	memcpy(out + n + 1, sig, SIG_B64_LEN + 1);
	return PL_OK;
}

int pl_auth_verify(const char *secret, const char *token, int64_t now, char *user, int64_t *expires)
{
	char sig[SIG_B64_LEN + 1], ubuf[PL_USER_MAX + 1];
	const char *dot_sig, *dot_exp;
	size_t n = strlen(token), ulen;
	int64_t expiry;

	if (!secret || n < 8 || n > 3 + PL_USER_MAX + 1 + 20 + 1 + SIG_B64_LEN || strncmp(token, "v1.", 3))
		return PL_EAUTH;
	dot_sig = strrchr(token, '.');
	if (!dot_sig || (size_t)(token + n - dot_sig - 1) != SIG_B64_LEN)
		return PL_EAUTH;
	for (dot_exp = dot_sig - 1; dot_exp > token + 2 && *dot_exp != '.'; dot_exp--)
		;
	if (dot_exp <= token + 2)
		return PL_EAUTH;
	ulen = (size_t)(dot_exp - (token + 3));
	if (ulen == 0 || ulen > PL_USER_MAX)
		return PL_EAUTH;
	memcpy(ubuf, token + 3, ulen);
	ubuf[ulen] = '\0';
	{
		char num[24];
		size_t k = (size_t)(dot_sig - dot_exp - 1);
		if (k == 0 || k >= sizeof num)
			return PL_EAUTH;
		memcpy(num, dot_exp + 1, k);
		num[k] = '\0';
		if (pl_int_parse(num, 1, INT64_MAX / 2, &expiry) != PL_OK)
			return PL_EAUTH;
	}
	if (!pl_auth_user_valid(ubuf) || sign(secret, token, (size_t)(dot_sig - token), sig) != PL_OK)
		return PL_EAUTH;
	if (CRYPTO_memcmp(sig, dot_sig + 1, SIG_B64_LEN) != 0 || expiry <= now)
		return PL_EAUTH;
	memcpy(user, ubuf, ulen + 1);
	if (expires)
		*expires = expiry;
	return PL_OK;
}

int pl_auth_is_subscriber(const struct pl_conf *c, const char *s)
{
	char user[PL_USER_MAX + 1];

	return s && pl_auth_verify(c->secret, s, (int64_t)time(NULL), user, NULL) == PL_OK;
}

int pl_auth_subscriber(const struct pl_conf *c, const struct pl_req *r, char *user, int64_t *until)
{
	const char *ru = pl_req_env(r, "REMOTE_USER"), *tok;

	user[0] = '\0';
	*until = 0;
	if (ru && *ru) {
		if (strlen(ru) > PL_USER_MAX)
			return PL_EAUTH;
		memcpy(user, ru, strlen(ru) + 1);
		return PL_OK;
	}
	tok = pl_req_arg(r, "token");
	if (!tok) {
		tok = pl_auth_bearer(r, 0);
		if (tok && !*tok)
			tok = NULL;
	}
	if (!tok)
		return PL_OK;
	if (pl_auth_verify(c->secret, tok, (int64_t)time(NULL), user, until) == PL_OK)
		return PL_OK;
	/* A publish or admin token is a valid credential, only not one that
	 * names a subscriber: 403, as a subscriber token on publish is. */
	return pl_auth_find(c, tok) ? PL_EFORBID : PL_EAUTH;
}
