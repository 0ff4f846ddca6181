/* t_loop.c: the event loop end to end, FastCGI and CGI
 *
 * The loop runs in a child process with a listening unix socket as fd 0, as a
 * FastCGI manager starts it; the test talks FastCGI to it with the codec. The
 * child's handler is driven by the query string (echo, hold, timer, ...) and
 * reports its counters on "stats". Also measures memory per held request. */
#include "pl_fcgi.c"
#include "pl_wake.c"
#include "pl_waiting.c"
#include "pl_loop.c"

#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "tap.h"

/* ---- the handler run by the server child ---- */

#define SLOTS 20000
static struct pl_lreq *held[SLOTS];
static int gone_count, flood_rc, timers_fired;
/* "turn": gathered, answered by on_turn at the end of the loop's turn */
static struct pl_lreq *turn_q[64];
static int nturn;

static void put(struct pl_lreq *r, const char *s)
{
	pl_loop_write(r, s, strlen(s));
}

static void hold(struct pl_lreq *r)
{
	for (intptr_t i = 0; i < SLOTS; i++)
		if (!held[i]) {
			held[i] = r;
			pl_lreq_set_data(r, (void *)(i + 1));
			return;
		}
	put(r, "Status: 500\r\n\r\nno slot");
	pl_loop_end(r);
}

static void unhold(struct pl_lreq *r)
{
	intptr_t i = (intptr_t)pl_lreq_data(r);

	if (i > 0)
		held[i - 1] = NULL;
}

static void answer_all(const char *kind, const char *text)
{
	for (int i = 0; i < SLOTS; i++) {
		struct pl_lreq *r = held[i];

		if (r && (!kind || strcmp(pl_lreq_data(r) ? kind : "", kind) == 0)) {
			held[i] = NULL;
			put(r, "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n");
			pl_loop_end_with(r, text, strlen(text));
		}
	}
}

static void h_request(void *ud, struct pl_lreq *r, char **env, const char *body, size_t len, int too_big)
{
	const char *q = pl_fcgi_env_get(env, "QUERY_STRING");
	char b[512];

	(void)ud;
	if (!q)
		q = "";
	if (too_big) {
		put(r, "Status: 413 Payload Too Large\r\n\r\ntoo big");
		pl_loop_end(r);
	} else if (strcmp(q, "echo") == 0) {
		snprintf(b, sizeof b, "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nq=%s len=%zu body=%s", q,
			 len, body ? body : "(null)");
		put(r, b);
		pl_loop_end(r);
	} else if (strcmp(q, "turn") == 0 && nturn < 64) {
		turn_q[nturn++] = r;
	} else if (strcmp(q, "hold") == 0) {
		hold(r);
	} else if (strcmp(q, "holddrop") == 0) {
		pl_loop_drop_input(r);
		hold(r);
	} else if (strncmp(q, "timer=", 6) == 0) {
		hold(r);
		pl_loop_set_timer(r, pl_loop_now_ms() + atoi(q + 6));
	} else if (strcmp(q, "big") == 0) {
		static char chunk[200000];

		for (size_t i = 0; i < sizeof chunk; i++)
			chunk[i] = (char)('a' + i % 26);
		put(r, "Status: 200 OK\r\n\r\n");
		pl_loop_write(r, chunk, sizeof chunk);
		pl_loop_end(r);
	} else if (strcmp(q, "bighold") == 0) {
		/* More than the socket takes: the rest queues; then held. */
		static char chunk[65536];
		int rc = 0;

		put(r, "Status: 200 OK\r\n\r\n");
		for (int i = 0; i < 6; i++)
			rc |= pl_loop_write(r, chunk, sizeof chunk);
		if (rc)
			flood_rc = -1;
		hold(r);
	} else if (strncmp(q, "bigend=", 7) == 0) {
		/* The last piece and END_REQUEST together: one record, or (past
		 * a record's 65535 bytes) the queued path. */
		static char chunk[200000];
		size_t n = (size_t)atoi(q + 7);

		for (size_t i = 0; i < sizeof chunk; i++)
			chunk[i] = (char)('a' + i % 26);
		put(r, "Status: 200 OK\r\n\r\n");
		pl_loop_end_with(r, chunk, n < sizeof chunk ? n : sizeof chunk);
	} else if (strcmp(q, "flood") == 0) {
		static char chunk[65536];
		int i;

		put(r, "Status: 200 OK\r\n\r\n");
		for (i = 0; i < 200 && pl_loop_write(r, chunk, sizeof chunk) == 0; i++)
			;
		flood_rc = i;
		pl_loop_end(r);
	} else if (strcmp(q, "stats") == 0) {
		snprintf(b, sizeof b, "Status: 200 OK\r\n\r\ngone=%d held=%d flood=%d timers=%d", gone_count,
			 pl_loop_waiting() - 1, flood_rc, timers_fired);   /* minus this very request */
		put(r, b);
		pl_loop_end(r);
	} else if (strcmp(q, "rss") == 0) {
		FILE *f = fopen("/proc/self/statm", "r");
		long pages = 0, rss = 0;

		if (f) {
			if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
				rss = 0;
			fclose(f);
		}
		snprintf(b, sizeof b, "Status: 200 OK\r\n\r\n%ld", rss * sysconf(_SC_PAGESIZE));
		put(r, b);
		pl_loop_end(r);
	} else {
		put(r, "Status: 404 Not Found\r\n\r\nno");
		pl_loop_end(r);
	}
}

static void h_gone(void *ud, struct pl_lreq *r)
{
	(void)ud;
	gone_count++;
	unhold(r);
	if (pl_loop_write(r, "x", 1) != -1)   /* writing to a gone request must fail */
		gone_count += 1000;
}

static void h_wake(void *ud)
{
	(void)ud;
	answer_all(NULL, "woke");
}

static void h_timer(void *ud, struct pl_lreq *r)
{
	(void)ud;
	timers_fired++;
	unhold(r);
	put(r, "Status: 200 OK\r\n\r\ntimeout");
	pl_loop_end(r);
}

static void h_turn(void *ud)
{
	char b[64];

	(void)ud;
	for (int i = 0; i < nturn; i++) {
		snprintf(b, sizeof b, "Status: 200 OK\r\n\r\nturned with %d", nturn);
		put(turn_q[i], b);
		pl_loop_end(turn_q[i]);
	}
	nturn = 0;
}

static void h_shutdown(void *ud)
{
	(void)ud;
	answer_all(NULL, "bye");
}

static const struct pl_loop_ops ops = {
	.on_request = h_request, .on_gone = h_gone, .on_wake = h_wake, .on_timer = h_timer, .on_shutdown = h_shutdown,
	.on_turn = h_turn,
};

/* ---- the test side ---- */

static char tmpdir[64], sock_path[100], db_path[128];
static pid_t server;

static void start_server(int max_requests, const char *db)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	unlink(sock_path);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4096) < 0) {
		ok(0, "listening socket: %s", strerror(errno));
		exit(1);
	}
	fflush(stdout);
	server = fork();
	if (server == 0) {
		struct pl_loop_conf conf = { .db_path = db, .max_body = 1000, .max_requests = max_requests,
					     .fallback_ms = 5000 };

		dup2(fd, 0);
		_exit(pl_loop_run(&conf, &ops, NULL) == 0 ? 0 : 2);
	}
	close(fd);
}

static int stop_server(void)
{
	int st = -1;

	kill(server, SIGTERM);
	waitpid(server, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int cli_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void rec(unsigned char *b, size_t *n, int type, uint16_t id, const void *c, size_t clen)
{
	pl_fcgi_header(b + *n, type, id, (uint16_t)clen);
	memcpy(b + *n + 8, c, clen);
	*n += 8 + clen;
}

/* Send one request; extra params make the env about as big as a browser's. */
static int cli_send(int fd, uint16_t id, int keep, const char *query, const char *body, int fat)
{
	static unsigned char b[16384];
	unsigned char p[8192], begin[8] = { 0, PL_FCGI_RESPONDER, (unsigned char)(keep ? PL_FCGI_KEEP_CONN : 0) };
	size_t n = 0, pn = 0, bl = body ? strlen(body) : 0;
	char cl[32];

	snprintf(cl, sizeof cl, "%zu", bl);
	rec(b, &n, PL_FCGI_BEGIN_REQUEST, id, begin, 8);
	pn += pl_fcgi_nv(p + pn, sizeof p - pn, "QUERY_STRING", 12, query, strlen(query));
	pn += pl_fcgi_nv(p + pn, sizeof p - pn, "REQUEST_METHOD", 14, body ? "POST" : "GET", body ? 4 : 3);
	pn += pl_fcgi_nv(p + pn, sizeof p - pn, "CONTENT_LENGTH", 14, cl, strlen(cl));
	if (fat) {
		static const char *const kv[][2] = {
			{ "REQUEST_URI", "/push/longpoll?topic=/oa/notice&since=1234" },
			{ "SCRIPT_NAME", "/push/longpoll" }, { "SERVER_NAME", "push.example.com" },
			{ "SERVER_PORT", "443" }, { "SERVER_PROTOCOL", "HTTP/1.1" },
			{ "REMOTE_ADDR", "203.0.113.77" }, { "REMOTE_PORT", "51234" },
			{ "HTTP_HOST", "push.example.com" },
			{ "HTTP_REFERER", "https://www.example.com/portal/inbox?folder=unread&page=1" },
			{ "HTTP_ACCEPT", "application/json" }, { "HTTP_ACCEPT_LANGUAGE", "en-US,en;q=0.9" },
			{ "HTTP_COOKIE", "sid=0123456789abcdef0123456789abcdef; lang=en" },
			{ "GATEWAY_INTERFACE", "CGI/1.1" }, { "SERVER_SOFTWARE", "lighttpd/1.4.69" },
		};
		for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
			pn += pl_fcgi_nv(p + pn, sizeof p - pn, kv[i][0], strlen(kv[i][0]), kv[i][1], strlen(kv[i][1]));
	}
	rec(b, &n, PL_FCGI_PARAMS, id, p, pn);
	rec(b, &n, PL_FCGI_PARAMS, id, "", 0);
	if (bl)
		rec(b, &n, PL_FCGI_STDIN, id, body, bl);
	rec(b, &n, PL_FCGI_STDIN, id, "", 0);
	return write(fd, b, n) == (ssize_t)n ? 0 : -1;
}

/* Read records until END_REQUEST. out gets the stdout text (NUL-terminated).
 * Returns 0, or -1 on timeout, EOF or a bad record. */
static int cli_read(int fd, char *out, size_t cap, int timeout_ms, int *end_seen)
{
	unsigned char h[8], pad[256];
	static unsigned char c[65536];
	size_t o = 0;

	*end_seen = 0;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		size_t got = 0;
		int type;
		uint16_t id, clen;
		uint8_t plen;

		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -1;
		while (got < 8) {
			ssize_t k = read(fd, h + got, 8 - got);

			if (k <= 0)
				return -1;
			got += (size_t)k;
		}
		if (pl_fcgi_parse_header(h, &type, &id, &clen, &plen))
			return -1;
		for (got = 0; got < clen;) {
			ssize_t k = read(fd, c + got, clen - got);

			if (k <= 0)
				return -1;
			got += (size_t)k;
		}
		for (got = 0; got < plen;) {
			ssize_t k = read(fd, pad, plen - got);

			if (k <= 0)
				return -1;
			got += (size_t)k;
		}
		if (type == PL_FCGI_STDOUT && out) {
			size_t k = clen < cap - 1 - o ? clen : cap - 1 - o;

			memcpy(out + o, c, k);
			o += k;
			out[o] = '\0';
		}
		if (type == PL_FCGI_END_REQUEST || type == PL_FCGI_GET_VALUES_RESULT) {
			*end_seen = type;
			return 0;
		}
	}
}

/* One request on a fresh connection; the answer's stdout into out. */
static int roundtrip(const char *query, const char *body, char *out, size_t cap)
{
	int fd = cli_connect(), end = 0, rc = -1;

	if (fd >= 0 && cli_send(fd, 1, 0, query, body, 0) == 0)
		rc = cli_read(fd, out, cap, 5000, &end);
	if (fd >= 0)
		close(fd);
	return rc == 0 && end == PL_FCGI_END_REQUEST ? 0 : -1;
}

static int stat_of(const char *name)
{
	char out[256];
	const char *p;

	if (roundtrip("stats", NULL, out, sizeof out) || !(p = strstr(out, name)))
		return -1;
	return atoi(p + strlen(name) + 1);
}

/* Wait up to ms for stat name to reach want. */
static int wait_stat(const char *name, int want, int ms)
{
	int64_t end = pl_loop_now_ms() + ms;
	int v;

	while ((v = stat_of(name)) != want && pl_loop_now_ms() < end)
		usleep(10000);
	return v;
}

static void test_basic(void)
{
	static char out[300000];
	int fd, end, ok_big = 1;

	start_server(0, NULL);
	ok(roundtrip("echo", NULL, out, sizeof out) == 0 && strstr(out, "Status: 200 OK\r\n") &&
	   strstr(out, "q=echo len=0 body=(null)"), "GET echo answered, END_REQUEST");
	ok(roundtrip("echo", "hello=world", out, sizeof out) == 0 && strstr(out, "len=11 body=hello=world"),
	   "POST body delivered");
	{
		char big[1500];

		memset(big, 'z', sizeof big - 1);
		big[sizeof big - 1] = '\0';
		ok(roundtrip("echo", big, out, sizeof out) == 0 && strstr(out, "Status: 413"),
		   "body past max_body: handler told, answers 413");
	}
	ok(roundtrip("big", NULL, out, sizeof out) == 0, "200000-byte answer");
	{
		const char *p = strstr(out, "\r\n\r\n");

		for (size_t i = 0; p && i < 200000; i++)
			if (p[4 + i] != (char)('a' + i % 26))
				ok_big = 0;
		ok(p && ok_big && strlen(p + 4) == 200000, "big answer intact across STDOUT records");
	}
	/* A request gathered for the end of the turn is answered then, with no
	 * further event (a lone publish commits at once). */
	ok(roundtrip("turn", NULL, out, sizeof out) == 0 && strstr(out, "turned with 1"),
	   "a request gathered for on_turn is answered at the end of its turn");
	for (int k = 0; k < 2; k++) {
		static const char *const q[] = { "bigend=60000", "bigend=150000" };
		size_t want = k ? 150000 : 60000;
		const char *p;

		ok_big = roundtrip(q[k], NULL, out, sizeof out) == 0;
		p = strstr(out, "\r\n\r\n");
		for (size_t i = 0; ok_big && p && i < want; i++)
			if (p[4 + i] != (char)('a' + i % 26))
				ok_big = 0;
		ok(p && ok_big && strlen(p + 4) == want, "last %zu bytes written with END_REQUEST: intact, ended", want);
	}

	/* No KEEP_CONN: after END_REQUEST the loop closes; EOF follows. */
	fd = cli_connect();
	cli_send(fd, 1, 0, "echo", NULL, 0);
	cli_read(fd, out, sizeof out, 5000, &end);
	{
		char c;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		ok(end == PL_FCGI_END_REQUEST && poll(&pfd, 1, 2000) == 1 && read(fd, &c, 1) == 0,
		   "without KEEP_CONN the connection is closed after the answer");
	}
	close(fd);

	/* KEEP_CONN: two requests in turn on one connection. */
	fd = cli_connect();
	cli_send(fd, 1, 1, "echo", NULL, 0);
	ok(cli_read(fd, out, sizeof out, 5000, &end) == 0 && end == PL_FCGI_END_REQUEST, "KEEP_CONN: first answer");
	cli_send(fd, 2, 1, "echo", "two", 0);
	ok(cli_read(fd, out, sizeof out, 5000, &end) == 0 && strstr(out, "body=two"), "KEEP_CONN: second answer");

	/* GET_VALUES on the same connection */
	{
		unsigned char b[64], c[64];
		size_t n = 0, cn = pl_fcgi_nv(c, sizeof c, "FCGI_MPXS_CONNS", 15, "", 0);

		rec(b, &n, PL_FCGI_GET_VALUES, 0, c, cn);
		ok(write(fd, b, n) == (ssize_t)n && cli_read(fd, NULL, 0, 5000, &end) == 0 &&
		   end == PL_FCGI_GET_VALUES_RESULT, "GET_VALUES answered");
	}
	/* Abort a held request on a kept connection. */
	cli_send(fd, 3, 1, "hold", NULL, 0);
	wait_stat("held", 1, 2000);
	{
		unsigned char b[16];
		size_t n = 0;

		rec(b, &n, PL_FCGI_ABORT_REQUEST, 3, "", 0);
		ok(write(fd, b, n) == (ssize_t)n && cli_read(fd, out, sizeof out, 5000, &end) == 0 &&
		   end == PL_FCGI_END_REQUEST && wait_stat("gone", 1, 2000) == 1 && stat_of("held") == 0,
		   "ABORT_REQUEST: on_gone, END_REQUEST, connection kept");
	}
	cli_send(fd, 4, 1, "echo", "after", 0);
	ok(cli_read(fd, out, sizeof out, 5000, &end) == 0 && strstr(out, "body=after"), "next request after abort");
	close(fd);

	/* Client gone: close a connection with a held request. */
	fd = cli_connect();
	cli_send(fd, 1, 0, "hold", NULL, 0);
	ok(wait_stat("held", 1, 2000) == 1, "request held");
	close(fd);
	ok(wait_stat("gone", 2, 2000) == 2 && stat_of("held") == 0, "closing the connection calls on_gone");

	/* A held request with output queued when the web server half-closes
	 * (a client left; lighttpd passes its FIN on): the request ends, and
	 * what was queued goes out with END_REQUEST before the close. */
	fd = cli_connect();
	if (fd >= 0 && cli_send(fd, 1, 0, "bighold", NULL, 0) == 0) {
		static unsigned char buf[2 * 65536];   /* a whole record fits */
		size_t got = 0, stdout_bytes = 0;
		int ended = 0, framed = 1;

		usleep(200000);                 /* written what fits, queued the rest */
		shutdown(fd, SHUT_WR);
		usleep(300000);                 /* the loop sees EOF, more than once */
		for (;;) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			ssize_t k;

			if (poll(&pfd, 1, 5000) <= 0)
				break;
			k = read(fd, buf + got, sizeof buf - got);
			if (k <= 0)
				break;
			got += (size_t)k;
			/* consume whole records from the front */
			for (;;) {
				int type;
				uint16_t id, clen;
				uint8_t plen;
				size_t rl;

				if (got < 8)
					break;
				if (pl_fcgi_parse_header(buf, &type, &id, &clen, &plen)) {
					framed = 0;
					break;
				}
				rl = 8 + (size_t)clen + plen;
				if (got < rl)
					break;
				if (type == PL_FCGI_STDOUT)
					stdout_bytes += clen;
				if (type == PL_FCGI_END_REQUEST)
					ended = 1;
				memmove(buf, buf + rl, got - rl);
				got -= rl;
			}
			if (!framed)
				break;
		}
		ok(framed && ended && stdout_bytes == 18 + 6 * 65536,
		   "half-closed with output queued: all of it, then END_REQUEST (%zu stdout bytes, end %d)",
		   stdout_bytes, ended);
	} else {
		ok(0, "bighold request sent");
	}
	if (fd >= 0)
		close(fd);
	ok(wait_stat("gone", 3, 2000) == 3 && stat_of("held") == 0, "the half-closed request is gone");

	/* Timer. */
	{
		int64_t t0 = pl_loop_now_ms(), dt;

		fd = cli_connect();
		cli_send(fd, 1, 0, "timer=150", NULL, 0);
		ok(cli_read(fd, out, sizeof out, 5000, &end) == 0 && strstr(out, "timeout"), "timer answers");
		dt = pl_loop_now_ms() - t0;
		ok(dt >= 145 && dt < 1000, "timer fired after %lld ms (150 asked)", (long long)dt);
		close(fd);
	}
	/* Many timers in mixed order fire in order. */
	{
		int fds[20], order_ok = 1, prev = -1;

		for (int i = 0; i < 20; i++) {
			char q[32];

			fds[i] = cli_connect();
			snprintf(q, sizeof q, "timer=%d", 50 + ((i * 7) % 20) * 10);
			cli_send(fds[i], 1, 0, q, NULL, 0);
		}
		for (int k = 0; k < 20; k++) {
			/* whichever answers next must be the smallest remaining deadline */
			struct pollfd pf[20];
			int nready;

			for (int i = 0; i < 20; i++)
				pf[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
			nready = poll(pf, 20, 3000);
			/* Several may be ready at once on a busy machine: take the
			 * earliest deadline among them, as the server fired them. */
			int pick = -1;
			for (int i = 0; nready > 0 && i < 20; i++)
				if (fds[i] >= 0 && pf[i].revents &&
				    (pick < 0 || (i * 7) % 20 < (pick * 7) % 20))
					pick = i;
			if (pick >= 0) {
				int d = 50 + ((pick * 7) % 20) * 10;

				if (d < prev)
					order_ok = 0;
				prev = d;
				cli_read(fds[pick], out, sizeof out, 1000, &end);
				close(fds[pick]);
				fds[pick] = -1;
			}
		}
		ok(order_ok && prev == 240, "20 timers fire in deadline order");
	}

	/* Slow consumer: writes fail once 256 KiB are queued. */
	fd = cli_connect();
	cli_send(fd, 1, 0, "flood", NULL, 0);
	{
		int fl = wait_stat("flood", -2, 500);   /* just let it run */

		(void)fl;
		fl = stat_of("flood");
		ok(fl > 0 && fl < 200, "slow consumer: pl_loop_write refused after %d chunks of 64 KiB", fl);
	}
	close(fd);

	/* A peer that sends management records (each answered) and reads no
	 * answer: the connection is dropped once 256 KiB of answers wait,
	 * instead of queueing them for ever. 8 MiB of 8-byte unknown-type
	 * records would queue 16 MiB. */
	fd = cli_connect();
	{
		static unsigned char recs[65536];
		size_t sent = 0;
		int dropped = 0;

		for (size_t i = 0; i + 8 <= sizeof recs; i += 8)
			pl_fcgi_header(recs + i, 42, 0, 0);
		while (sent < 8u << 20) {
			ssize_t n = send(fd, recs, sizeof recs, MSG_NOSIGNAL);

			if (n < 0) {
				dropped = errno == EPIPE || errno == ECONNRESET;
				break;
			}
			sent += (size_t)n;
		}
		ok(dropped, "management records whose answers are not read: dropped after %zu bytes", sent);
	}
	close(fd);
	ok(roundtrip("echo", NULL, out, sizeof out) == 0 && strstr(out, "q=echo"), "and the loop serves the next");
	ok(stop_server() == 0, "SIGTERM: loop returns 0");
}

static void test_shutdown_and_cap(void)
{
	char out[4096];
	int fds[6], end, n_bye = 0, n_429 = 0, other = -1;

	start_server(5, NULL);
	for (int i = 0; i < 4; i++) {
		fds[i] = cli_connect();
		cli_send(fds[i], 1, 0, "hold", NULL, 0);
	}
	ok(wait_stat("held", 4, 2000) == 4, "4 held (stats is the 5th of max 5)");
	/* Two more: one fits, the other is one too many, in whichever order they come. */
	for (int i = 4; i < 6; i++) {
		fds[i] = cli_connect();
		cli_send(fds[i], 1, 0, "hold", NULL, 0);
	}
	for (int i = 4; i < 6; i++) {
		if (cli_read(fds[i], out, sizeof out, 500, &end) == 0 && strstr(out, "Status: 429") &&
		    strstr(out, "\"error\":\"too_many_subscribers\"")) {
			n_429++;
			close(fds[i]);
		} else {
			other = fds[i];
		}
	}
	ok(n_429 == 1 && other >= 0, "past max_requests: 429 with a JSON error");
	fds[4] = other;
	kill(server, SIGTERM);
	for (int i = 0; i < 5; i++) {
		if (cli_read(fds[i], out, sizeof out, 5000, &end) == 0 && strstr(out, "bye"))
			n_bye++;
		close(fds[i]);
	}
	ok(n_bye == 5, "SIGTERM: on_shutdown answered all 5 held requests");
	{
		int st = -1;

		waitpid(server, &st, 0);
		ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "and the loop returned 0");
	}
}

static void test_wake(void)
{
	char out[4096];
	sqlite3 *h = NULL;
	int fds[3], end, n = 0;
	int64_t t0;

	sqlite3_open(db_path, &h);
	sqlite3_exec(h, "PRAGMA journal_mode=WAL; CREATE TABLE m(v)", NULL, NULL, NULL);
	start_server(0, db_path);
	for (int i = 0; i < 3; i++) {
		fds[i] = cli_connect();
		cli_send(fds[i], 1, 0, "hold", NULL, 0);
	}
	wait_stat("held", 3, 2000);
	{
		char wdir[200];

		snprintf(wdir, sizeof wdir, "%s.waiting", db_path);
		usleep(150000);
		ok(pl_waiting_total(db_path) == 3, "waiting counter published: %ld", pl_waiting_total(db_path));
	}
	t0 = pl_loop_now_ms();
	sqlite3_exec(h, "INSERT INTO m VALUES(1)", NULL, NULL, NULL);
	pl_wake_touch(db_path);     /* as every pushlite writer does after a commit */
	for (int i = 0; i < 3; i++) {
		if (cli_read(fds[i], out, sizeof out, 3000, &end) == 0 && strstr(out, "woke"))
			n++;
		close(fds[i]);
	}
	ok(n == 3 && pl_loop_now_ms() - t0 < 500, "a commit wakes the held requests (%lld ms)",
	   (long long)(pl_loop_now_ms() - t0));
	sqlite3_close(h);
	ok(stop_server() == 0, "loop with a database stops cleanly");
	ok(pl_waiting_total(db_path) == 0, "waiting counter gone with the process");
}

static long rss_of_server(void)
{
	char out[256];
	const char *p;

	if (roundtrip("rss", NULL, out, sizeof out) || !(p = strstr(out, "\r\n\r\n")))
		return -1;
	return atol(p + 4);
}

/* Under a sanitizer or valgrind, RSS says nothing about our own memory. */
static int instrumented(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return 1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return 1;
#endif
#endif
	return getenv("PL_VALGRIND") != NULL;
}

/* Hold N requests from N connections; RSS growth per request. */
static void test_memory(int n, const char *query, int fat)
{
	int *fds = calloc((size_t)n, sizeof *fds), opened = 0;
	long before, after;

	start_server(0, NULL);
	/* warm up: the first requests touch static buffers and the heap */
	for (int i = 0; i < 50 && i < n; i++) {
		fds[i] = cli_connect();
		cli_send(fds[i], 1, 0, query, NULL, fat);
	}
	wait_stat("held", 50, 3000);
	for (int i = 0; i < 50 && i < n; i++)
		close(fds[i]);
	wait_stat("held", 0, 3000);
	before = rss_of_server();
	for (int i = 0; i < n; i++) {
		fds[i] = cli_connect();
		if (fds[i] < 0 || cli_send(fds[i], 1, 0, query, NULL, fat) < 0)
			break;
		opened++;
	}
	ok(wait_stat("held", n, 20000) == n, "%d requests held (%s, %s env)", n, query, fat ? "browser-sized" : "small");
	after = rss_of_server();
	diag("server RSS %ld KB -> %ld KB: %.0f bytes per held request (%s, %s env)", before / 1024, after / 1024,
	     (double)(after - before) / n, query, fat ? "browser-sized" : "small");
	if (instrumented())
		ok(1, "memory per held request # SKIP sanitizer or valgrind inflates it");
	else
		ok(after > 0 && (after - before) / n < (fat ? 2048 : 1024), "memory per held request %.0f bytes",
		   (double)(after - before) / n);
	for (int i = 0; i < opened; i++)
		close(fds[i]);
	ok(wait_stat("held", 0, 20000) == 0 && stat_of("gone") == n + 50, "all %d released on disconnect", n);
	ok(stop_server() == 0, "stopped");
	free(fds);
}

/* Plain CGI: environ + stdin in, stdout out, same handler. */
static int run_cgi(const char *query, const char *body, char *out, size_t cap, int close_early)
{
	int in[2], outp[2], st = -1;
	size_t o = 0;
	pid_t pid;

	if (pipe(in) < 0 || pipe(outp) < 0)
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct pl_loop_conf conf = { .max_body = 1000, .fallback_ms = 5000 };
		char cl[32];

		snprintf(cl, sizeof cl, "%zu", body ? strlen(body) : 0);
		dup2(in[0], 0);
		dup2(outp[1], 1);
		close(in[1]);
		close(outp[0]);
		setenv("QUERY_STRING", query, 1);
		setenv("CONTENT_LENGTH", cl, 1);
		_exit(pl_loop_run(&conf, &ops, NULL) == 0 ? (gone_count ? 3 : 0) : 2);
	}
	close(in[0]);
	close(outp[1]);
	if (body)
		(void)!write(in[1], body, strlen(body));
	close(in[1]);
	if (close_early) {
		usleep(100000);
		close(outp[0]);
	} else {
		for (;;) {
			ssize_t k = read(outp[0], out + o, cap - 1 - o);

			if (k <= 0)
				break;
			o += (size_t)k;
		}
		out[o] = '\0';
		close(outp[0]);
	}
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cgi(void)
{
	char out[4096];
	int64_t t0;

	ok(run_cgi("echo", "abc", out, sizeof out, 0) == 0 && strstr(out, "Status: 200 OK") &&
	   strstr(out, "len=3 body=abc"), "CGI: echo with body");
	ok(run_cgi("timer=100", NULL, out, sizeof out, 0) == 0 && strstr(out, "timeout"), "CGI: timer");
	t0 = pl_loop_now_ms();
	ok(run_cgi("hold", NULL, out, sizeof out, 1) == 3 && pl_loop_now_ms() - t0 < 2000,
	   "CGI: stdout closed by the web server -> on_gone, exit");
}

/* A writer's ".tmp.PID" file is unlocked between its open and its flock: a
 * reader must leave it alone while PID lives, and remove it once PID is gone. */
static void test_waiting_tmp(void)
{
	char dir[200], live[260], dead[260];
	pid_t child = fork();
	int fd;

	if (child == 0)
		_exit(0);
	waitpid(child, NULL, 0);
	snprintf(dir, sizeof dir, "%s.waiting", db_path);
	mkdir(dir, 0750);
	snprintf(live, sizeof live, "%s/.tmp.%ld", dir, (long)getpid());
	snprintf(dead, sizeof dead, "%s/.tmp.%ld", dir, (long)child);
	fd = open(live, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	(void)!write(fd, "7\n", 2);
	close(fd);
	fd = open(dead, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	(void)!write(fd, "7\n", 2);
	close(fd);
	ok(pl_waiting_total(db_path) == 0 && access(live, F_OK) == 0 && access(dead, F_OK) < 0,
	   "waiting: a live writer's unlocked .tmp file is kept, a dead one's removed, neither counted");
	unlink(live);
}

/* A waiting process for test_waiting_removed: registers with count n, then
 * on each byte from cmd: 'o' asks pl_waiting_others() and writes back
 * one byte; 'q' exits. */
static pid_t waiter_proc(int n, int *cmd, int *reply)
{
	int c[2], r[2];
	pid_t pid;

	if (pipe(c) < 0 || pipe(r) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		char b;

		close(c[1]);
		close(r[0]);
		if (pl_waiting_open(db_path) != 0)
			_exit(1);
		pl_waiting_set(n);
		(void)!write(r[1], "r", 1);
		while (read(c[0], &b, 1) == 1 && b == 'o') {
			(void)pl_waiting_others(db_path);
			(void)!write(r[1], "o", 1);
		}
		_exit(0);
	}
	close(c[0]);
	close(r[1]);
	*cmd = c[1];
	*reply = r[0];
	return pid;
}

static void waiter_ask(int cmd, int reply, char what)
{
	char b;

	if (cmd >= 0)
		(void)!write(cmd, &what, 1);
	(void)!read(reply, &b, 1);
}

/* The count directory removed under running processes (an operator's
 * "rm -rf pushlite.db*"): the first process to look makes it again with its
 * own file, a process that then finds its file missing adds it again, and
 * the host-wide count is whole once more (it was 0: max_waiting held per
 * process only). */
static void test_waiting_removed(void)
{
	char dir[200], cmdline[260];
	int ca, ra, cb, rb;
	pid_t a, b;
	long t0, t1, t2, t3;

	snprintf(dir, sizeof dir, "%s.waiting", db_path);
	a = waiter_proc(3, &ca, &ra);
	b = waiter_proc(5, &cb, &rb);
	waiter_ask(-1, ra, 0);
	waiter_ask(-1, rb, 0);
	t0 = pl_waiting_total(db_path);
	snprintf(cmdline, sizeof cmdline, "rm -rf '%s'", dir);
	if (system(cmdline) != 0)
		diag("rm failed");
	t1 = pl_waiting_total(db_path);
	waiter_ask(ca, ra, 'o');
	t2 = pl_waiting_total(db_path);
	waiter_ask(cb, rb, 'o');
	t3 = pl_waiting_total(db_path);
	ok(t0 == 8 && t1 == 0 && t2 == 3 && t3 == 8,
	   "waiting: the count directory removed is made again, each process's count back in it "
	   "(%ld, removed %ld, then %ld, %ld)", t0, t1, t2, t3);
	(void)!write(ca, "q", 1);
	(void)!write(cb, "q", 1);
	close(ca);
	close(cb);
	close(ra);
	close(rb);
	waitpid(a, NULL, 0);
	waitpid(b, NULL, 0);
	ok(pl_waiting_total(db_path) == 0, "waiting: both gone, none counted");
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	struct rlimit rl;
	char cmd[128];

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmpdir, sizeof tmpdir, "%s/pl_t_loop.XXXXXX", tmp && *tmp && strlen(tmp) < 30 ? tmp : "/tmp");
	if (!mkdtemp(tmpdir)) {
		ok(0, "mkdtemp");
		return tap_done();
	}
	snprintf(sock_path, sizeof sock_path, "%s/s", tmpdir);
	snprintf(db_path, sizeof db_path, "%s/t.db", tmpdir);
	test_basic();
	test_shutdown_and_cap();
	test_wake();
	test_cgi();
	test_waiting_tmp();
	test_waiting_removed();
	{
		int n = rl.rlim_cur > 12000 ? 5000 : (int)rl.rlim_cur / 2 - 100;

		test_memory(n, "hold", 1);
		test_memory(n, "holddrop", 1);
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	(void)!system(cmd);
	return tap_done();
}
