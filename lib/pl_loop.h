/* pl_loop.h: single-threaded event loop serving FastCGI (or one CGI request)
 *
 * For the programs that hold requests (longpoll, stream): thousands of waiting
 * requests per process at a few hundred bytes each, where a thread per request
 * costs ~11 KB. Also for publish and poll, which answer at once: a request
 * then costs no thread hand-off, and publish commits together what one turn
 * of the loop gathered (on_turn). One epoll loop accepts FastCGI connections from the web server,
 * decodes requests (pl_fcgi.c), keeps a timer per request in a heap, and wakes
 * the handler when the database may have changed (pl_wake.c). The same loop
 * serves a single plain CGI request, so the handler code is the same.
 *
 * The loop is one per process (signals and the waiting counter are process
 * wide), so the calls below need no loop handle. Every call is made from the
 * loop's thread, inside a callback or before/after pl_loop_run(). */
#ifndef PL_LOOP_H
#define PL_LOOP_H

#include <stddef.h>
#include <stdint.h>

/* One request; opaque. Valid from on_request until pl_loop_end() or the return
 * of on_gone, whichever comes first. */
struct pl_lreq;

struct pl_loop_ops {
	/* A request is complete. env: NULL-terminated "NAME=VALUE" CGI params;
	 * body/len: its stdin (NUL-terminated, or NULL when empty); body_too_big:
	 * stdin exceeded max_body (body is NULL then): answer 413. env and body stay
	 * valid until pl_loop_end(r) (or pl_loop_drop_input(r)). The handler either
	 * answers at once (pl_loop_write + pl_loop_end) or holds r. */
	void (*on_request)(void *ud, struct pl_lreq *r, char **env, const char *body, size_t len,
			   int body_too_big);
	/* The client or web server is gone: forget r; it is freed after return.
	 * Calling pl_loop_write/pl_loop_end on r inside on_gone is harmless (-1 / no-op). */
	void (*on_gone)(void *ud, struct pl_lreq *r);
	/* The web server passed the client's FIN on while r is held (lighttpd's
	 * tcp-fin-propagate): the client left, or only stopped sending and still
	 * reads (a half-close). The handler ends r now with a complete answer,
	 * which a client that left never costs more than a write. May be NULL,
	 * or leave r held: r then gets on_gone. */
	void (*on_eof)(void *ud, struct pl_lreq *r);
	/* Everything r had queued is sent, and r asked to hear of it
	 * (pl_loop_when_drained). May be NULL when nobody asks. */
	void (*on_drained)(void *ud, struct pl_lreq *r);
	/* The database may have changed: at most once per loop turn, again ~20 ms
	 * after a burst (see pl_wake_touch), and every fallback_ms as a safety net.
	 * Not called while no request is held. */
	void (*on_wake)(void *ud);
	/* r's deadline (pl_loop_set_timer) passed; the timer is cleared. */
	void (*on_timer)(void *ud, struct pl_lreq *r);
	/* The loop handled every event of one turn (one epoll_wait): a handler
	 * that gathers requests (publish) acts on them together here. May be NULL. */
	void (*on_turn)(void *ud);
	/* SIGTERM, SIGUSR1 or SIGINT: answer every held request now. The loop then
	 * flushes and returns; requests still held after a grace period get on_gone.
	 * May be NULL (held requests then get on_gone). */
	void (*on_shutdown)(void *ud);
};

struct pl_loop_conf {
	const char *db_path;  /* watched for changes; also names the waiting counter. NULL: timer only */
	size_t max_body;      /* stdin bound: past it on_request gets body_too_big */
	int max_requests;     /* held at once; past it the loop answers 429 itself. <= 0: no limit */
	int fallback_ms;      /* safety-net wake, e.g. 5000; <= 0: none */
};

/* Serve until shutdown (FastCGI), or until the one request is answered or its
 * client is gone (CGI: fd 0 not a listening socket). Raises RLIMIT_NOFILE to
 * its hard limit, ignores SIGPIPE, and blocks SIGTERM/SIGUSR1/SIGINT (read
 * through a signalfd; they stay blocked after return). Publishes the held
 * count with pl_waiting_* when db_path is set.
 * Returns 0, or -1 (logged) when the loop could not start or failed. */
int pl_loop_run(const struct pl_loop_conf *c, const struct pl_loop_ops *ops, void *ud);

/* 1 when this process was started by hand rather than by a web server:
 * fd 0 is no FastCGI listener and no CGI request is in the environment
 * (REQUEST_METHOD unset). pl_loop_run() would otherwise take the empty
 * environment for a request and print an HTTP answer to the terminal. */
int pl_loop_by_hand(void);

/* Queue n bytes of the CGI response (starting with "Status: " and headers) and
 * try to send them at once. Returns 0, or -1 when the client is gone or more
 * than PL_LOOP_OUT_MAX bytes are still unsent (slow consumer): the caller then
 * ends r. A single write of any size is accepted when the queue is below the
 * bound. */
#define PL_LOOP_OUT_MAX (256 * 1024)
int pl_loop_write(struct pl_lreq *r, const void *p, size_t n);

/* The response is complete: send the rest, END_REQUEST (FastCGI) or close
 * stdout (CGI), and free r. Unsent output gets PL_LOOP_DRAIN_MS to leave. */
#define PL_LOOP_DRAIN_MS 30000
void pl_loop_end(struct pl_lreq *r);
/* pl_loop_write(r, p, n) then pl_loop_end(r), in one system call when
 * nothing is queued: a fan-out answers thousands of requests in a row. The
 * last piece is queued even when PL_LOOP_OUT_MAX bytes wait already. */
void pl_loop_end_with(struct pl_lreq *r, const void *p, size_t n);

/* Bytes of r's answer queued and not yet taken by the web server (0 when r
 * is gone). */
size_t pl_loop_unsent(const struct pl_lreq *r);
/* Call on_drained(r) once, when all that is queued now has been sent. Only
 * while something is queued (pl_loop_unsent() > 0): the call comes from the
 * descriptor becoming writable. */
void pl_loop_when_drained(struct pl_lreq *r);

/* Set r's one deadline (CLOCK_MONOTONIC ms, see pl_loop_now_ms); 0 clears it.
 * Thousands of timers cost O(log n) each. */
void pl_loop_set_timer(struct pl_lreq *r, int64_t deadline_ms);

/* Free r's env and body before r ends, once the handler has taken what it
 * needs from them: a held request then costs only the loop's own few hundred
 * bytes. The pointers given to on_request are invalid afterwards. */
void pl_loop_drop_input(struct pl_lreq *r);

void pl_lreq_set_data(struct pl_lreq *r, void *p);
void *pl_lreq_data(const struct pl_lreq *r);

/* CLOCK_MONOTONIC in ms. */
int64_t pl_loop_now_ms(void);

/* Call on_turn again within ms even if nothing happens meanwhile (a retry). */
void pl_loop_turn_in(int ms);

/* Requests currently held in this process (given to on_request, not yet ended
 * or gone). */
int pl_loop_waiting(void);

#endif
