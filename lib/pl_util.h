/* pl_util.h: result codes, a growable byte buffer, time, numbers, durations */
#ifndef PL_UTIL_H
#define PL_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The closed set of results every lib function returns. Only
 * pl_http_status() (pl_http.c) turns them into HTTP statuses. */
enum pl_rc {
	PL_OK = 0,
	PL_EINVAL,      /* bad parameter or body: 400 */
	PL_EAUTH,       /* missing, malformed, forged or expired credentials: 401 */
	PL_EFORBID,     /* valid credentials, not allowed this: 403 */
	PL_ENOTFOUND,   /* 404 */
	PL_EMETHOD,     /* 405 */
	PL_ETOOBIG,     /* 413 */
	PL_ETYPE,       /* unsupported content type: 415 */
	PL_EFULL,       /* too many waiting subscribers: 429, Retry-After PL_FULL_RETRY_AFTER */
	PL_EIO,         /* storage unavailable: 503 with Retry-After */
	PL_EOFF,        /* push switched off by the operator: 503 with Retry-After */
	PL_EBUSY,       /* storage locked longer than the busy timeout: 503 */
	PL_ECONF,       /* configuration unusable: 500 */
};

#define PL_FULL_RETRY_AFTER 5   /* seconds a 429 (host full) asks a client to wait */

/* A growable buffer; always NUL-terminated after the first add. */
struct pl_buf {
	char *p;
	size_t len, cap;
};

void pl_buf_add(struct pl_buf *b, const void *p, size_t n);
void pl_buf_adds(struct pl_buf *b, const char *s);
/* Room for n more bytes (and the NUL) at the end; the caller writes there,
 * adds what it wrote to len and writes the NUL. */
char *pl_buf_room(struct pl_buf *b, size_t n);
void pl_buf_addc(struct pl_buf *b, char c);
/* Decimal, as printf's %lld would write it, without printf's cost (answers
 * carry a few numbers per message). */
void pl_buf_addi64(struct pl_buf *b, int64_t v);
void pl_buf_addf(struct pl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pl_buf_reset(struct pl_buf *b);     /* len = 0, memory kept */
void pl_buf_free(struct pl_buf *b);      /* NULL-safe; leaves b empty */

/* Wall clock in ms since the epoch. */
int64_t pl_now_ms(void);

/* Monotonic clock in ms, for deadlines and intervals. */
int64_t pl_mono_ms(void);
/* The same clock in microseconds. */
int64_t pl_mono_us(void);

/* Parse a whole decimal integer in [lo, hi]. s may be NULL (PL_EINVAL). */
int pl_int_parse(const char *s, int64_t lo, int64_t hi, int64_t *out);
/* on/yes/true/1 or off/no/false/0 (any case); PL_EINVAL otherwise. */
int pl_bool_parse(const char *v, int *out);

/* Parse a duration "90", "90s", "30m", "12h", "3d" into seconds.
 * A bare integer counts as seconds only if bare_ok; with !bare_ok a bare
 * integer is PL_EINVAL (so since= can tell ids from durations).
 * Result in [0, 100 years]: a larger one counts as 100 years; PL_EINVAL
 * for anything else. */
int pl_duration_parse(const char *s, int bare_ok, int64_t *secs);

/* How deep a published JSON body may nest (json-c's default is 32). A
 * stored message wraps the body one level deeper. */
#define PL_JSON_DEPTH 64

/* 1 if s[0..n) is valid UTF-8 (no overlongs, no surrogates), else 0. */
int pl_utf8_valid(const char *s, size_t n);

/* 1 if s[i..n) begins with U+FFFE or U+FFFF (EF BF BE, EF BF BF): valid
 * UTF-8, but no XML character, not even as a character reference. */
static inline int pl_utf8_fffe(const char *s, size_t i, size_t n)
{
	return (unsigned char)s[i] == 0xef && i + 2 < n && (unsigned char)s[i + 1] == 0xbf &&
	       ((unsigned char)s[i + 2] & 0xfe) == 0xbe;
}

/* Copy the NUL-terminated src into dst[0..cap) as valid UTF-8: each byte
 * that does not start a valid sequence becomes '?'. For text that echoes
 * input (error messages), which must stay readable JSON and XML. */
void pl_utf8_scrub(char *dst, size_t cap, const char *src);

#endif
