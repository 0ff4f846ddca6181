/* fuzz_kv.c: libFuzzer target for query strings and form bodies
 *
 * Every decoded key and value must be NUL-free UTF-8, no longer than the
 * input, and there are at most PL_ARGS_MAX pairs; input with a raw NUL is
 * refused. */
#include "pl_first.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pl_req.h"
#include "pl_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pl_kv *kv;
	size_t n;

	if (pl_kv_parse((const char *)data, size, &kv, &n) != PL_OK) {
		if (kv || n)
			abort();
		return 0;
	}
	if (n > PL_ARGS_MAX || memchr(data, '\0', size))
		abort();   /* raw NULs are refused, never cut a value short */
	for (size_t i = 0; i < n; i++) {
		size_t kl = strlen(kv[i].k), vl = strlen(kv[i].v);
		if (kl + vl > size || !pl_utf8_valid(kv[i].k, kl) || !pl_utf8_valid(kv[i].v, vl))
			abort();
		if (pl_kv_get(kv, n, kv[i].k) == NULL)
			abort();
	}
	pl_kv_free(kv, n);
	return 0;
}
