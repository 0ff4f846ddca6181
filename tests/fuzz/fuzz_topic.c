/* fuzz_topic.c: libFuzzer target for topic validation and matching
 *
 * A valid topic's ancestors are valid subscription topics that it lies
 * under; a topic is under itself and under "/"; publish-valid implies
 * subscribe-valid. The input is split at its first ',' into topic and sub. */
#include "pl_first.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pl_topic.h"
#include "pl_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char t[PL_TOPIC_MAX + 2], sub[PL_TOPIC_MAX + 2];
	const char *s = (const char *)data, *comma = memchr(s, ',', size);
	size_t tn = comma ? (size_t)(comma - s) : size, sn = comma ? size - tn - 1 : 0;
	size_t lens[PL_TOPIC_SEGMENTS + 1], k;
	int pub = pl_topic_valid(s, tn) == PL_OK, subok = pl_topic_sub_valid(s, tn) == PL_OK;

	if (pub && !subok)
		abort();
	if (!pub || tn > PL_TOPIC_MAX)
		return 0;
	memcpy(t, s, tn);
	t[tn] = '\0';
	if (strlen(t) != tn || !pl_topic_under(t, t) || !pl_topic_under(t, "/"))
		abort();
	k = pl_topic_ancestors(t, lens);
	if (k < 2 || k > PL_TOPIC_SEGMENTS + 1 || lens[0] != 1 || lens[k - 1] != tn)
		abort();
	for (size_t i = 1; i < k; i++) {
		char a[PL_TOPIC_MAX + 2];
		if (lens[i] <= lens[i - 1])
			abort();
		memcpy(a, t, lens[i]);
		a[lens[i]] = '\0';
		if (pl_topic_valid(a, lens[i]) != PL_OK || !pl_topic_under(t, a))
			abort();
	}
	if (comma && sn <= PL_TOPIC_MAX && pl_topic_sub_valid(comma + 1, sn) == PL_OK) {
		memcpy(sub, comma + 1, sn);
		sub[sn] = '\0';
		/* under(t, sub) iff sub is one of t's ancestors. */
		int is_anc = 0;
		for (size_t i = 0; i < k; i++)
			if (lens[i] == sn && !memcmp(t, sub, sn))
				is_anc = 1;
		if (is_anc != pl_topic_under(t, sub))
			abort();
	}
	return 0;
}
