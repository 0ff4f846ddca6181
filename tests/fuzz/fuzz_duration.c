/* fuzz_duration.c: libFuzzer target for strict integers, durations and
 * UTF-8 validation
 *
 * An accepted duration is in [0, 100 years] and the same text with a bare
 * integer is also accepted where bare integers are; an accepted integer is
 * in range and prints back to the same digits without leading zeros. */
#include "pl_first.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[64];
	int64_t v, w;

	(void)pl_utf8_valid((const char *)data, size);
	if (size >= sizeof s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (pl_duration_parse(s, 0, &v) == PL_OK) {
		if (v < 0 || v > 100LL * 366 * 86400)
			abort();
		if (pl_duration_parse(s, 1, &w) != PL_OK || w != v)
			abort();
	}
	if (pl_duration_parse(s, 1, &v) == PL_OK && (v < 0 || v > 100LL * 366 * 86400))
		abort();
	if (pl_int_parse(s, 1, 1000, &v) == PL_OK && (v < 1 || v > 1000))
		abort();
	if (pl_int_parse(s, 0, INT64_MAX, &v) == PL_OK) {
		char back[32];
		const char *p = s;
		while (*p == '0' && p[1])
			p++;
		snprintf(back, sizeof back, "%lld", (long long)v);
		if (strcmp(back, p))
			abort();
	}
	return 0;
}
