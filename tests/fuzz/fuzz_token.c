/* fuzz_token.c: libFuzzer target for subscriber tokens
 *
 * Nothing but a token minted with the secret verifies: a verified token's
 * user is valid and minting it again gives the same text. */
#include "pl_first.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pl_auth.h"
#include "pl_util.h"

#define SECRET "fuzz-secret-0123456789"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char tok[1024], user[PL_USER_MAX + 1], again[1024];
	const char *dot;

	/* A token arrives as a C string (a query value or header). */
	if (size >= sizeof tok || memchr(data, '\0', size))
		return 0;
	memcpy(tok, data, size);
	tok[size] = '\0';
	if (pl_auth_verify(SECRET, tok, 1000, user, NULL) != PL_OK)
		return 0;
	/* Only reachable with a correct signature: the seeds hold minted ones. */
	if (!pl_auth_user_valid(user) || strlen(tok) != size)
		abort();
	dot = strrchr(tok, '.');
	while (dot > tok && dot[-1] != '.')
		dot--;
	if (pl_auth_mint(SECRET, user, strtoll(dot, NULL, 10), again, sizeof again) != PL_OK || strcmp(again, tok))
		abort();
	if (pl_auth_verify("another-secret-0123456", tok, 1000, user, NULL) == PL_OK)
		abort();
	return 0;
}
