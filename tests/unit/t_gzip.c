/* t_gzip.c: Accept-Encoding, and gzip members built from shared pieces
 * (inflated by zlib, which checks the CRC-32 and length in the trailer) */
#include "pl_first.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Slices of 1000 bytes instead of 1 GiB: the path a huge answer takes. */
#define SLICE_MAX 1000
#include "pl_gzip.c"
#include "tap.h"

/* Inflate a whole gzip member; 0 when zlib reached its end with the CRC and
 * length right and nothing after it. */
static int gunzip(const struct pl_buf *gz, struct pl_buf *plain)
{
	z_stream zs;
	int rc;

	memset(&zs, 0, sizeof zs);
	if (inflateInit2(&zs, 16 + 15) != Z_OK)
		return -1;
	zs.next_in = (Bytef *)gz->p;
	zs.avail_in = (uInt)gz->len;
	do {
		zs.next_out = (Bytef *)pl_buf_room(plain, 4096);
		zs.avail_out = 4096;
		rc = inflate(&zs, Z_NO_FLUSH);
		plain->len += 4096 - zs.avail_out;
		plain->p[plain->len] = '\0';
	} while (rc == Z_OK);
	inflateEnd(&zs);
	return rc == Z_STREAM_END && zs.avail_in == 0 ? 0 : -1;
}

static void t_accepted(void)
{
	static const struct { const char *ae; int yes; } cases[] = {
		{ "gzip", 1 }, { "GZIP", 1 }, { "x-gzip", 1 }, { "deflate, gzip", 1 },
		{ "gzip, deflate, br", 1 }, { " gzip ;q=0.5", 1 }, { "gzip;q=1.0", 1 },
		{ "gzip;q=0.001", 1 }, { "*", 1 }, { "deflate, *;q=0.1", 1 },
		{ "", 0 }, { "identity", 0 }, { "deflate, br", 0 }, { "gzip;q=0", 0 },
		{ "gzip;q=0.000", 0 }, { "gzip; q=0.0, deflate", 0 }, { "*;q=0", 0 },
		{ "gzip;q=0, *", 0 }, { "*, gzip;q=0", 0 }, { "gzipx", 0 }, { "xgzip", 0 },
		{ "gzi", 0 }, { ",,,", 0 }, { ";q=1", 0 },
	};

	ok(!pl_gzip_accepted(NULL), "Accept-Encoding absent: not gzip");
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		ok(pl_gzip_accepted(cases[i].ae) == cases[i].yes, "Accept-Encoding '%s': %s", cases[i].ae,
		   cases[i].yes ? "gzip" : "not gzip");
}

/* A held long poll's body: preamble, k blanks, the answer. */
static void t_member(int blanks, size_t answer_len)
{
	struct pl_gzip g;
	struct pl_gzip_piece pre = { 0 }, blank = { 0 }, ans = { 0 };
	struct pl_buf gz = { 0 }, plain = { 0 }, want = { 0 };
	char *answer = malloc(answer_len + 1);

	/* compressible, with some noise so that deflate has work */
	for (size_t i = 0; i < answer_len; i++)
		answer[i] = (char)(i % 7 == 3 ? 'a' + (char)(i * 31 % 26) : "{\"id\":1}"[i % 8]);
	pl_gzip_piece(&pre, "\n", 1, 0);
	pl_gzip_piece(&blank, " ", 1, 0);
	pl_gzip_piece(&ans, answer, answer_len, 1);
	pl_gzip_begin(&g, &gz);
	pl_gzip_add(&g, &gz, &pre);
	pl_buf_addc(&want, '\n');
	for (int i = 0; i < blanks; i++) {
		pl_gzip_add(&g, &gz, &blank);
		pl_buf_addc(&want, ' ');
	}
	pl_gzip_add(&g, &gz, &ans);
	pl_gzip_end(&g, &gz);
	pl_buf_add(&want, answer, answer_len);
	ok(gunzip(&gz, &plain) == 0 && plain.len == want.len && !memcmp(plain.p, want.p, want.len),
	   "%d blanks, %zu-byte answer: one gzip member that inflates to what was sent (CRC and length checked)",
	   blanks, answer_len);
	if (answer_len > 1000)
		ok(gz.len < want.len / 2, "%zu-byte answer compressed to %zu bytes", want.len, gz.len);
	pl_gzip_piece_free(&pre);
	pl_gzip_piece_free(&blank);
	pl_gzip_piece_free(&ans);
	pl_buf_free(&gz);
	pl_buf_free(&plain);
	pl_buf_free(&want);
	free(answer);
}

/* One compressed answer shared by waiters whose preambles differ: each
 * member is whole. */
static void t_shared(void)
{
	static const char answer[] = "{\"cursor\":7,\"more\":false,\"messages\":[{\"id\":7,\"data\":\"hi\"}]}";
	struct pl_gzip_piece pre = { 0 }, blank = { 0 }, ans = { 0 };
	int good = 0;

	pl_gzip_piece(&pre, "\n", 1, 0);
	pl_gzip_piece(&blank, " ", 1, 0);
	pl_gzip_piece(&ans, answer, sizeof answer - 1, 1);
	for (int w = 0; w < 4; w++) {
		struct pl_gzip g;
		struct pl_buf gz = { 0 }, plain = { 0 };

		pl_gzip_begin(&g, &gz);
		pl_gzip_add(&g, &gz, &pre);
		for (int i = 0; i < w; i++)
			pl_gzip_add(&g, &gz, &blank);
		pl_gzip_add(&g, &gz, &ans);
		pl_gzip_end(&g, &gz);
		if (gunzip(&gz, &plain) == 0 && plain.len == 1 + (size_t)w + sizeof answer - 1 &&
		    !strcmp(plain.p + 1 + w, answer))
			good++;
		pl_buf_free(&gz);
		pl_buf_free(&plain);
	}
	ok(good == 4, "one compressed answer closes four members with 0-3 blanks before it (%d whole)", good);
	pl_gzip_piece_free(&pre);
	pl_gzip_piece_free(&blank);
	pl_gzip_piece_free(&ans);
}

/* A member cut short (a client that reads a half answer) is an error to
 * zlib, never a shorter "whole" text: the trailer is what ends it. */
static void t_truncated(void)
{
	struct pl_gzip g;
	struct pl_gzip_piece ans = { 0 };
	struct pl_buf gz = { 0 }, plain = { 0 };

	pl_gzip_piece(&ans, "{\"cursor\":1}", 12, 1);
	pl_gzip_begin(&g, &gz);
	pl_gzip_add(&g, &gz, &ans);
	pl_gzip_end(&g, &gz);
	gz.len -= 1;    /* the last byte of the length */
	ok(gunzip(&gz, &plain) != 0, "a member without its whole trailer does not inflate as complete");
	pl_buf_free(&gz);
	pl_buf_free(&plain);
	pl_gzip_piece_free(&ans);
}

int main(void)
{
	t_accepted();
	t_member(0, 0);
	t_member(0, 60);
	t_member(3, 60);
	t_member(1, 300000);    /* 300 slices */
	t_member(2, 1000);      /* exactly one */
	t_member(2, 1001);
	t_shared();
	t_truncated();
	return tap_done();
}
