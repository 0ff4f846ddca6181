/* fuzz_header.c: libFuzzer target for response header values
 *
 * The input is split at its first NUL into name and value; whatever is
 * accepted must leave exactly one more CRLF-terminated line in the head and
 * no bare CR or LF anywhere in it. */
#include "pl_first.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pl_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pl_resp r;
	char *buf = malloc(size + 2), *name, *value;
	size_t lines = 0;

	memcpy(buf, data, size);
	buf[size] = '\0';
	buf[size + 1] = '\0';
	name = buf;
	value = buf + strlen(buf) + 1;
	if (value > buf + size)
		value = buf + size + 1;
	pl_resp_init(&r);
	if (pl_resp_header(&r, name, value) == PL_OK) {
		for (size_t i = 0; i < r.head.len; i++) {
			if (r.head.p[i] == '\r' && (i + 1 >= r.head.len || r.head.p[i + 1] != '\n'))
				abort();
			if (r.head.p[i] == '\n' && (i == 0 || r.head.p[i - 1] != '\r'))
				abort();
			if (r.head.p[i] == '\n')
				lines++;
		}
		if (lines != 1)
			abort();
	} else if (r.head.len) {
		abort();
	}
	pl_resp_free(&r);
	free(buf);
	return 0;
}
