/* t_util.c: buffers, strict integers, durations and UTF-8 validation */
#include "pl_first.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pl_util.h"
#include "tap.h"

static void t_buf(void)
{
	struct pl_buf b = { 0 };
	char big[1000];

	pl_buf_adds(&b, "ab");
	pl_buf_addc(&b, 'c');
	pl_buf_addf(&b, "-%d-%s", 42, "x");
	ok(b.len == 8 && !strcmp(b.p, "abc-42-x"), "buf: adds, addc and addf append in order");
	pl_buf_add(&b, "\0z", 2);
	ok(b.len == 10 && b.p[8] == '\0' && b.p[9] == 'z' && b.p[10] == '\0',
	   "buf: binary add keeps NULs and stays NUL-terminated");
	memset(big, 'q', sizeof big);
	pl_buf_add(&b, big, sizeof big);
	ok(b.len == 1010 && b.cap > 1010 && b.p[1009] == 'q' && b.p[1010] == '\0', "buf: grows past its first size");
	pl_buf_reset(&b);
	ok(b.len == 0 && b.p && b.p[0] == '\0' && b.cap > 1010, "buf: reset empties and keeps memory");
	pl_buf_free(&b);
	ok(b.p == NULL && b.len == 0 && b.cap == 0, "buf: free leaves it empty");
	pl_buf_free(NULL);       /* NULL-safe: a crash here fails the program */
	pl_buf_add(&b, "", 0);
	ok(b.p && b.len == 0 && b.p[0] == '\0', "buf: an empty add still yields a NUL-terminated string");
	pl_buf_free(&b);
	{
		static const int64_t v[] = { 0, 7, -7, 10, 1795325133342, INT64_MAX, INT64_MIN, -1 };
		char want[32];
		int same = 1;

		for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
			pl_buf_reset(&b);
			pl_buf_addi64(&b, v[i]);
			snprintf(want, sizeof want, "%lld", (long long)v[i]);
			if (strcmp(b.p, want) || b.len != strlen(want)) {
				diag("addi64(%s) wrote %s", want, b.p);
				same = 0;
			}
		}
		ok(same, "buf: addi64 writes what %%lld writes, INT64_MIN and INT64_MAX included");
		pl_buf_free(&b);
	}
}

static void t_int(void)
{
	static const struct { const char *s; int64_t lo, hi; int rc; int64_t v; } tab[] = {
		{ "0", 0, 10, PL_OK, 0 },
		{ "10", 0, 10, PL_OK, 10 },
		{ "11", 0, 10, PL_EINVAL, 0 },
		{ "1", 2, 10, PL_EINVAL, 0 },
		{ "007", 0, 10, PL_OK, 7 },
		{ "9223372036854775807", 0, INT64_MAX, PL_OK, INT64_MAX },
		{ "9223372036854775808", 0, INT64_MAX, PL_EINVAL, 0 },
		{ "99999999999999999999999", 0, INT64_MAX, PL_EINVAL, 0 },
		{ "", 0, 10, PL_EINVAL, 0 },
		{ " 1", 0, 10, PL_EINVAL, 0 },
		{ "1 ", 0, 10, PL_EINVAL, 0 },
		{ "+1", 0, 10, PL_EINVAL, 0 },
		{ "-1", -5, 10, PL_EINVAL, 0 },
		{ "1x", 0, 10, PL_EINVAL, 0 },
		{ "0x1", 0, 10, PL_EINVAL, 0 },
		{ "1.0", 0, 10, PL_EINVAL, 0 },
		{ "1e3", 0, 10000, PL_EINVAL, 0 },
		{ "\t1", 0, 10, PL_EINVAL, 0 },
	};

	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
		int64_t v = -12345;
		int rc = pl_int_parse(tab[i].s, tab[i].lo, tab[i].hi, &v);
		ok(rc == tab[i].rc && (rc != PL_OK || v == tab[i].v) && (rc == PL_OK || v == -12345),
		   "int '%s' in [%lld,%lld] -> %s", tab[i].s, (long long)tab[i].lo, (long long)tab[i].hi,
		   tab[i].rc == PL_OK ? "ok" : "EINVAL, out untouched");
	}
	{
		int64_t v = 5;
		ok(pl_int_parse(NULL, 0, 10, &v) == PL_EINVAL && v == 5, "int: NULL is EINVAL");
	}
}

static void t_duration(void)
{
	static const struct { const char *s; int bare; int rc; int64_t v; } tab[] = {
		{ "90", 1, PL_OK, 90 },
		{ "90", 0, PL_EINVAL, 0 },
		{ "90s", 0, PL_OK, 90 },
		{ "30m", 0, PL_OK, 1800 },
		{ "12h", 0, PL_OK, 43200 },
		{ "3d", 0, PL_OK, 259200 },
		{ "0", 1, PL_OK, 0 },
		{ "0s", 0, PL_OK, 0 },
		{ "36600d", 0, PL_OK, 36600LL * 86400 },
		{ "36601d", 0, PL_OK, 3162240000LL },          /* past 100 years: 100 years */
		{ "3162240000", 1, PL_OK, 3162240000LL },
		{ "3162240001", 1, PL_OK, 3162240000LL },
		{ "4294967296", 1, PL_OK, 3162240000LL },
		{ "1000000h", 0, PL_OK, 3162240000LL },
		{ "99999999999999999999d", 0, PL_OK, 3162240000LL },
		{ "999999999999999999999999999999", 1, PL_OK, 3162240000LL },
		{ "0000000000000000000000001", 1, PL_OK, 1 },     /* leading zeros are no length */
		{ "00000000000000000000000000002m", 0, PL_OK, 120 },
		{ "000", 1, PL_OK, 0 },
		{ "", 1, PL_EINVAL, 0 },
		{ "s", 1, PL_EINVAL, 0 },
		{ "d", 0, PL_EINVAL, 0 },
		{ "3w", 1, PL_EINVAL, 0 },
		{ "3D", 1, PL_EINVAL, 0 },
		{ "3 d", 1, PL_EINVAL, 0 },
		{ " 3d", 1, PL_EINVAL, 0 },
		{ "-3d", 1, PL_EINVAL, 0 },
		{ "+3", 1, PL_EINVAL, 0 },
		{ "1.5h", 1, PL_EINVAL, 0 },
		{ "1hm", 1, PL_EINVAL, 0 },
		{ "1h30m", 1, PL_EINVAL, 0 },
		{ "ms", 1, PL_EINVAL, 0 },
		{ "10ms", 1, PL_EINVAL, 0 },
	};

	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
		int64_t v = -1;
		int rc = pl_duration_parse(tab[i].s, tab[i].bare, &v);
		ok(rc == tab[i].rc && (rc != PL_OK || v == tab[i].v), "duration '%s' (bare %s) -> %s %lld",
		   tab[i].s, tab[i].bare ? "ok" : "refused", tab[i].rc == PL_OK ? "ok" : "EINVAL",
		   (long long)tab[i].v);
	}
	{
		int64_t v = 7;
		ok(pl_duration_parse(NULL, 1, &v) == PL_EINVAL && v == 7, "duration: NULL is EINVAL");
	}
}

static void t_utf8(void)
{
	static const struct { const char *s; size_t n; int valid; const char *what; } tab[] = {
		{ "", 0, 1, "empty" },
		{ "plain ascii", 11, 1, "ASCII" },
		{ "\xc3\xa9", 2, 1, "U+00E9 (2 bytes)" },
		{ "\xe2\x82\xac", 3, 1, "U+20AC (3 bytes)" },
		{ "\xf0\x9f\x98\x80", 4, 1, "U+1F600 (4 bytes)" },
		{ "\xc2\x80", 2, 1, "U+0080, smallest 2-byte" },
		{ "\xe0\xa0\x80", 3, 1, "U+0800, smallest 3-byte" },
		{ "\xf0\x90\x80\x80", 4, 1, "U+10000, smallest 4-byte" },
		{ "\xf4\x8f\xbf\xbf", 4, 1, "U+10FFFF, largest" },
		{ "\xed\x9f\xbf", 3, 1, "U+D7FF, just below surrogates" },
		{ "\xee\x80\x80", 3, 1, "U+E000, just above surrogates" },
		{ "\xef\xbb\xbf", 3, 1, "BOM U+FEFF" },
		{ "a\0b", 3, 1, "NUL is valid UTF-8 (callers refuse it separately)" },
		{ "\x80", 1, 0, "lone continuation byte" },
		{ "\xbf", 1, 0, "lone 0xBF" },
		{ "\xc3", 1, 0, "truncated 2-byte" },
		{ "\xe2\x82", 2, 0, "truncated 3-byte" },
		{ "\xf0\x9f\x98", 3, 0, "truncated 4-byte" },
		{ "\xc3\x28", 2, 0, "bad continuation" },
		{ "\xc0\x80", 2, 0, "overlong NUL (C0 80)" },
		{ "\xc1\xbf", 2, 0, "overlong 2-byte (C1 BF)" },
		{ "\xe0\x80\xaf", 3, 0, "overlong '/' (E0 80 AF)" },
		{ "\xe0\x9f\xbf", 3, 0, "overlong 3-byte (U+07FF)" },
		{ "\xf0\x8f\xbf\xbf", 4, 0, "overlong 4-byte (U+FFFF)" },
		{ "\xed\xa0\x80", 3, 0, "surrogate U+D800" },
		{ "\xed\xbf\xbf", 3, 0, "surrogate U+DFFF" },
		{ "\xf4\x90\x80\x80", 4, 0, "U+110000, above the range" },
		{ "\xf5\x80\x80\x80", 4, 0, "lead byte F5" },
		{ "\xf8\x88\x80\x80\x80", 5, 0, "5-byte form" },
		{ "\xfe", 1, 0, "byte FE" },
		{ "\xff", 1, 0, "byte FF" },
		{ "ok\xc3\xa9\xe2", 6, 0, "valid text then a truncated sequence at the end" },
	};

	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
		ok(pl_utf8_valid(tab[i].s, tab[i].n) == tab[i].valid, "utf8 %s: %s", tab[i].valid ? "valid" : "invalid",
		   tab[i].what);
	/* Length is honoured: the bytes after n are not looked at. */
	ok(pl_utf8_valid("\xc3\xa9\xff", 2) == 1, "utf8: only n bytes are checked");
	ok(pl_utf8_valid("\xc3\xa9", 1) == 0, "utf8: a sequence cut by n is invalid");
}

static void t_scrub(void)
{
	static const struct {
		const char *in, *out, *what;
	} tab[] = {
		{ "plain", "plain", "ASCII unchanged" },
		{ "caf\xc3\xa9 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xf0\x9f\x98\x80", "valid UTF-8 unchanged" },
		{ "/a\xff\xfe", "/a??", "bytes FF FE each become ?" },
		{ "\xc0\x80x", "??x", "an overlong NUL: two ?" },
		{ "\xed\xa0\x80", "???", "a surrogate: three ?" },
		{ "ab\xe2\x82", "ab??", "a sequence cut at the end" },
		{ "\xc3(", "?(", "a lead byte without its continuation" },
	};
	char out[64], small[5];

	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
		pl_utf8_scrub(out, sizeof out, tab[i].in);
		ok(!strcmp(out, tab[i].out) && pl_utf8_valid(out, strlen(out)), "scrub: %s", tab[i].what);
	}
	/* "ab" + a 4-byte sequence does not fit 5 bytes with its NUL: the
	 * sequence is left out whole, never cut. */
	pl_utf8_scrub(small, sizeof small, "ab\xf0\x9f\x98\x80");
	ok(!strcmp(small, "ab"), "scrub: a sequence that does not fit is left out whole");
	pl_utf8_scrub(small, sizeof small, "abcdefgh");
	ok(!strcmp(small, "abcd"), "scrub: output bounded by its size");
}

static void t_clock(void)
{
	int64_t a = pl_now_ms(), b = pl_now_ms();

	/* 2020-01-01 .. 2200-01-01 in ms: catches seconds or microseconds. */
	ok(a > 1577836800000LL && a < 7258118400000LL, "now_ms is wall-clock milliseconds");
	ok(b >= a, "now_ms does not go backwards between two calls");
}

int main(void)
{
	t_buf();
	t_int();
	t_duration();
	t_utf8();
	t_scrub();
	t_clock();
	return tap_done();
}
