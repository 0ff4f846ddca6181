/* fuzz_fcgi.c: libFuzzer target for the FastCGI decoder
 *
 * The first byte picks how the input is split into reads (1..256 bytes), the
 * rest is the byte stream from the web server. Every event is acted on the
 * way pl_loop.c does, so take/done/free paths are exercised too. An odd
 * first byte also holds each request taken, as a long poll or stream is
 * held, until a read brings no event or the web server aborts it: what
 * comes meanwhile (more stdin, another BEGIN_REQUEST, GET_VALUES) meets a
 * taken request, and a request still held at the end is freed unfinished,
 * as when the connection drops.
 * Build: clang -fsanitize=fuzzer,address,undefined -Ilib tests/fuzz/fuzz_fcgi.c
 *        lib/pl_fcgi.c lib/pl_log.c */
#include "pl_first.h"

#include <stdint.h>
#include <stdlib.h>

#include "pl_fcgi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct pl_fcgi_limits lim = { .max_body = 4096, .max_conns = 100 };
	unsigned char reply[PL_FCGI_REPLY_MAX];
	struct pl_fcgi p;
	size_t step, pos = 1;
	int hold, held = 0;

	if (size < 1)
		return 0;
	step = (size_t)data[0] + 1;
	hold = data[0] & 1;
	pl_fcgi_init(&p, &lim);
	while (pos < size) {
		size_t k = size - pos < step ? size - pos : step, used, rlen;
		int ev = pl_fcgi_feed(&p, data + pos, k, &used, reply, &rlen);
		struct pl_fcgi_req r;

		pos += used;
		if (ev == PL_FCGI_EV_ERROR)
			break;
		if (ev == PL_FCGI_EV_REPLY && (rlen < 8 || rlen > PL_FCGI_REPLY_MAX))
			abort();
		if (ev == PL_FCGI_EV_REQUEST) {
			if (held)
				abort();   /* one request at a time on a connection */
			pl_fcgi_take(&p, &r);
			for (char **e = r.env; *e; e++)
				(void)pl_fcgi_env_get(r.env, *e);
			if (r.body && r.body[r.len] != '\0')
				abort();
			free(r.env);
			free(r.body);
			if (hold)
				held = 1;
			else
				pl_fcgi_done(&p);
		} else if (ev == PL_FCGI_EV_ABORT) {
			pl_fcgi_done(&p);
			held = 0;
		} else if (ev == PL_FCGI_EV_NONE && held) {
			pl_fcgi_done(&p);   /* the held request is answered */
			held = 0;
		}
	}
	pl_fcgi_free(&p);
	return 0;
}
