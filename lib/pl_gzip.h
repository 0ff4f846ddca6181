/* pl_gzip.h: gzip for the answer of a held long poll.
 *
 * A held long poll sends its head, then blanks, then its answer, over
 * seconds; a web server that compresses only answers complete when their
 * head goes out (lighttpd 1.4) leaves it plain. So the program compresses
 * it itself: one gzip member (RFC 1952) whose deflate data is the
 * concatenation of pieces, each compressed on its own by zlib and flushed to
 * a byte boundary, the last one final. The pieces are independent, so the
 * answer that thousands of waiters share is compressed once; only the
 * 8-byte trailer (CRC-32 and length of everything sent) is a waiter's own,
 * and crc32_combine() makes it without touching the shared bytes again. */
#ifndef PL_GZIP_H
#define PL_GZIP_H

#include <stddef.h>
#include <stdint.h>

#include "pl_util.h"

/* Does an Accept-Encoding value accept gzip (gzip or x-gzip, or "*" without
 * gzip named), with a q-value above 0? NULL: no. */
int pl_gzip_accepted(const char *accept_encoding);

/* What one response has sent so far, for its trailer. */
struct pl_gzip {
	uint32_t crc;
	uint32_t size;          /* length of the plain bytes, mod 2^32 */
};

/* A piece compressed once, for any number of responses. */
struct pl_gzip_piece {
	struct pl_buf z;        /* raw deflate data */
	uint32_t crc;
	size_t size;
};

/* Compress plain[0..n) into p (replacing what it held); final: the last
 * piece of a response. Like pl_xmalloc(), aborts when memory runs out. */
void pl_gzip_piece(struct pl_gzip_piece *p, const void *plain, size_t n, int final);
void pl_gzip_piece_free(struct pl_gzip_piece *p);   /* leaves it empty */

/* Start a response: the gzip header into out, g reset. */
void pl_gzip_begin(struct pl_gzip *g, struct pl_buf *out);
/* Append a piece to out and count it in g. */
void pl_gzip_add(struct pl_gzip *g, struct pl_buf *out, const struct pl_gzip_piece *p);
/* After the final piece: the trailer into out. */
void pl_gzip_end(const struct pl_gzip *g, struct pl_buf *out);

#endif
