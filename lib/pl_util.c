/* pl_util.c: buffers, clock, strict number and duration parsing */
#include "pl_first.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pl_log.h"
#include "pl_util.h"

static void buf_grow(struct pl_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	b->p = pl_xrealloc(b->p, cap);
	b->cap = cap;
}

char *pl_buf_room(struct pl_buf *b, size_t n)
{
	buf_grow(b, n);
	return b->p + b->len;
}

void pl_buf_add(struct pl_buf *b, const void *p, size_t n)
{
	buf_grow(b, n);
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void pl_buf_adds(struct pl_buf *b, const char *s)
{
	pl_buf_add(b, s, strlen(s));
}

void pl_buf_addc(struct pl_buf *b, char c)
{
	pl_buf_add(b, &c, 1);
}

void pl_buf_addi64(struct pl_buf *b, int64_t v)
{
	char tmp[24], *p = tmp + sizeof tmp;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	pl_buf_add(b, p, (size_t)(tmp + sizeof tmp - p));
}

void pl_buf_addf(struct pl_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void pl_buf_reset(struct pl_buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

void pl_buf_free(struct pl_buf *b)
{
	if (!b)
		return;
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

int64_t pl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pl_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t pl_mono_ms(void)
{
	return pl_mono_us() / 1000;
}

int pl_bool_parse(const char *v, int *out)
{
	if (!strcasecmp(v, "on") || !strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1"))
		*out = 1;
	else if (!strcasecmp(v, "off") || !strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0"))
		*out = 0;
	else
		return PL_EINVAL;
	return PL_OK;
}

int pl_int_parse(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	long long v;

	/* strtoll accepts leading blanks and signs; a cursor or limit must not. */
	if (!s || *s < '0' || *s > '9')
		return PL_EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return PL_EINVAL;
	*out = v;
	return PL_OK;
}

int pl_duration_parse(const char *s, int bare_ok, int64_t *secs)
{
	static const int64_t max = 100LL * 366 * 86400;
	char num[24];
	size_t n;
	int64_t v, mul = 1;

	if (!s || !*s)
		return PL_EINVAL;
	n = strlen(s);
	switch (s[n - 1]) {
	case 's': mul = 1; n--; break;
	case 'm': mul = 60; n--; break;
	case 'h': mul = 3600; n--; break;
	case 'd': mul = 86400; n--; break;
	default:
		if (!bare_ok)
			return PL_EINVAL;
	}
	if (n == 0)
		return PL_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return PL_EINVAL;
	/* Leading zeros say nothing: "0000000000000000000000001" is 1, not a
	 * number too long to read. */
	while (n > 1 && s[0] == '0') {
		s++;
		n--;
	}
	/* Digits only: anything past the maximum is the maximum (every use
	 * caps it further: ttl, timeout, a since reaching back before any
	 * message). */
	v = max / mul;
	if (n < sizeof num) {
		int64_t d;

		memcpy(num, s, n);
		num[n] = '\0';
		if (pl_int_parse(num, 0, INT64_MAX, &d) == PL_OK && d < v)
			v = d;
	}
	*secs = v * mul;
	return PL_OK;
}

int pl_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i];
		size_t len;
		unsigned min, cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2; cp = c & 0x1f; min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3; cp = c & 0x0f; min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4; cp = c & 0x07; min = 0x10000;
		} else {
			return 0;
		}
		if (n - i < len)
			return 0;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

void pl_utf8_scrub(char *dst, size_t cap, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t n = strlen(src), i = 0, o = 0;

	if (cap == 0)
		return;
	while (i < n) {
		size_t len = s[i] < 0x80 ? 1 : s[i] >= 0xc2 && s[i] <= 0xdf ? 2 :
			     s[i] >= 0xe0 && s[i] <= 0xef ? 3 : s[i] >= 0xf0 && s[i] <= 0xf4 ? 4 : 0;

		if (len == 0 || len > n - i || !pl_utf8_valid(src + i, len)) {
			if (o + 1 >= cap)
				break;
			dst[o++] = '?';
			i++;
			continue;
		}
		if (o + len >= cap)
			break;          /* never cut a sequence in two */
		memcpy(dst + o, src + i, len);
		o += len;
		i += len;
	}
	dst[o] = '\0';
}
