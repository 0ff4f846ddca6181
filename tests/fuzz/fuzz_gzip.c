/* fuzz_gzip.c: libFuzzer target for Accept-Encoding values and gzip members
 * built from pieces
 *
 * The input, as a string, is an Accept-Encoding value (it must not crash).
 * As bytes, its first byte cuts the rest into a non-final piece and a final
 * one; the member built from them must inflate, through zlib with its
 * CRC-32 and length checks, to exactly those bytes. */
#include "pl_first.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "pl_gzip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct pl_gzip g;
	struct pl_gzip_piece a = { 0 }, b = { 0 };
	struct pl_buf gz = { 0 };
	unsigned char *plain;
	size_t cut, rest;
	z_stream zs;
	int rc;

	memcpy(s, data, size);
	s[size] = '\0';
	(void)pl_gzip_accepted(s);
	free(s);
	if (size == 0)
		return 0;
	rest = size - 1;
	cut = rest ? data[0] % (rest + 1) : 0;
	pl_gzip_piece(&a, data + 1, cut, 0);
	pl_gzip_piece(&b, data + 1 + cut, rest - cut, 1);
	pl_gzip_begin(&g, &gz);
	pl_gzip_add(&g, &gz, &a);
	pl_gzip_add(&g, &gz, &b);
	pl_gzip_end(&g, &gz);

	plain = malloc(rest + 1);
	memset(&zs, 0, sizeof zs);
	if (inflateInit2(&zs, 16 + 15) != Z_OK)
		abort();
	zs.next_in = (Bytef *)gz.p;
	zs.avail_in = (uInt)gz.len;
	zs.next_out = plain;
	zs.avail_out = (uInt)rest + 1;     /* one spare byte: more would show */
	rc = inflate(&zs, Z_FINISH);
	if (rc != Z_STREAM_END || zs.avail_in != 0 || zs.total_out != rest || memcmp(plain, data + 1, rest))
		abort();
	inflateEnd(&zs);
	free(plain);
	pl_buf_free(&gz);
	pl_gzip_piece_free(&a);
	pl_gzip_piece_free(&b);
	return 0;
}
