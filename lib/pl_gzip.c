/* pl_gzip.c: gzip for the answer of a held long poll (see pl_gzip.h). */
#include "pl_first.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "pl_gzip.h"
#include "pl_http.h"
#include "pl_log.h"

/* zlib counts in 32 bits: longer input goes in slices of this much (a
 * test includes this file with a small one). */
#ifndef SLICE_MAX
#define SLICE_MAX ((size_t)1 << 30)
#endif

/* zlib fails only for want of memory (its state is ours and valid): the
 * same end as any allocation that fails (pl_xmalloc). */
static _Noreturn void failed(const char *what)
{
	pl_log_err("%s failed: out of memory", what);
	abort();
}

int pl_gzip_accepted(const char *ae)
{
	int gzip = pl_http_accept_q(ae, "gzip"), star = pl_http_accept_q(ae, "*");

	if (gzip < 0)
		gzip = pl_http_accept_q(ae, "x-gzip");
	return gzip >= 0 ? gzip > 0 : star > 0;
}

void pl_gzip_piece(struct pl_gzip_piece *p, const void *plain, size_t n, int final)
{
	/* One stream per thread, reset for each piece: a deflate state is
	 * about 256 KB, too much to allocate per answer. */
	static _Thread_local z_stream zs;
	static _Thread_local int ready;
	int rc;

	if (!ready) {
		memset(&zs, 0, sizeof zs);
		/* -15: raw deflate; the gzip framing is ours, so that pieces
		 * can be shared between responses. */
		if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			failed("deflateInit2");
		ready = 1;
	} else if (deflateReset(&zs) != Z_OK) {
		failed("deflateReset");
	}
	pl_buf_reset(&p->z);
	p->crc = (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), plain, n);
	p->size = n;
	zs.next_in = (Bytef *)(uintptr_t)plain;
	do {
		size_t slice = n > SLICE_MAX ? SLICE_MAX : n;
		int flush;

		n -= slice;
		zs.avail_in = (uInt)slice;
		flush = n ? Z_NO_FLUSH : final ? Z_FINISH : Z_SYNC_FLUSH;
		do {
			/* deflateBound() of the rest, plus the flush marker's bytes */
			size_t room = deflateBound(&zs, zs.avail_in) + 16;

			zs.next_out = (Bytef *)pl_buf_room(&p->z, room);
			zs.avail_out = (uInt)room;
			rc = deflate(&zs, flush);
			p->z.len += room - zs.avail_out;
			if (rc == Z_STREAM_ERROR)
				failed("deflate");
		} while (flush == Z_FINISH ? rc != Z_STREAM_END : zs.avail_in > 0 || zs.avail_out == 0);
	} while (n);
	p->z.p[p->z.len] = '\0';
}

void pl_gzip_piece_free(struct pl_gzip_piece *p)
{
	pl_buf_free(&p->z);
	p->crc = 0;
	p->size = 0;
}

void pl_gzip_begin(struct pl_gzip *g, struct pl_buf *out)
{
	/* RFC 1952 2.3: magic, CM = 8 (deflate), no flags, no time, XFL 0,
	 * OS 3 (Unix). */
	static const unsigned char header[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };

	pl_buf_add(out, header, sizeof header);
	g->crc = (uint32_t)crc32(0L, Z_NULL, 0);
	g->size = 0;
}

void pl_gzip_add(struct pl_gzip *g, struct pl_buf *out, const struct pl_gzip_piece *p)
{
	pl_buf_add(out, p->z.p, p->z.len);
	g->crc = (uint32_t)crc32_combine(g->crc, p->crc, (z_off_t)p->size);
	g->size += (uint32_t)p->size;
}

void pl_gzip_end(const struct pl_gzip *g, struct pl_buf *out)
{
	/* RFC 1952 2.3.1: CRC32, ISIZE, both little-endian. */
	unsigned char t[8];

	for (int i = 0; i < 4; i++) {
		t[i] = (unsigned char)(g->crc >> (8 * i));
		t[4 + i] = (unsigned char)(g->size >> (8 * i));
	}
	pl_buf_add(out, t, sizeof t);
}
