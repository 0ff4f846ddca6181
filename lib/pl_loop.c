/* pl_loop.c: epoll server for held requests, FastCGI or plain CGI
 *
 * Design. One thread, one level-triggered epoll set holding the listening
 * socket (EPOLLEXCLUSIVE, so processes sharing it do not all wake), a
 * signalfd, the inotify descriptor, and one entry per connection. A
 * connection carries at most one request at a time (web servers do not
 * multiplex) and has one deadline in a binary heap: the request's timer while
 * a request is held, else the time limit for draining or closing. epoll_wait's
 * timeout is the nearest deadline, so there is no timerfd.
 *
 * Callbacks may end or write to any request, including ones whose events are
 * still in the batch being dispatched: a closed connection is marked dead and
 * only freed at the end of the turn, where on_gone is called for a request
 * still attached to it. A connection that ends without KEEP_CONN is shut down
 * for writing once its output is sent and closed when the peer has read it
 * all (EOF), never with a blocking linger.
 *
 * Memory per held request: struct conn + struct pl_lreq (a few hundred bytes)
 * plus the env and body it carried; no input buffer (the decoder streams into
 * place) and no output buffer while nothing is pending. */
#include "pl_first.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "pl_fcgi.h"
#include "pl_log.h"
#include "pl_loop.h"
#include "pl_req.h"
#include "pl_util.h"
#include "pl_wake.h"
#include "pl_waiting.h"

/* Some wakes come before the change they announce is visible (the WAL being
 * created by a commit still under way, the database replaced); look again this
 * much later so a waiter woken too early does not sleep until the fallback
 * timer. */
#define SETTLE_MS 20
/* And once more after a database file's name changed, past the store's
 * once-a-second look for a replaced file (pl_store_moved()): a change seen
 * by the first look may have been only the first of an operator's steps
 * (rm of -shm, then -wal, then the database), and nothing else wakes the
 * process after the last one when no commit can succeed meanwhile. */
#define RECHECK_MS 1100
/* Without inotify: how often the database file is looked at while requests
 * wait. */
#define CHECK_MS 200
/* How long a closing connection may take to read the rest of our output. */
#define LINGER_MS 2000
/* After on_shutdown, how long requests still held or output still queued may take. */
#define SHUTDOWN_GRACE_MS 3000
/* Pause accepting for this long when out of descriptors (level-triggered
 * epoll would otherwise spin on the pending connection). */
#define ACCEPT_PAUSE_MS 100
#define MAX_EVENTS 256
#define READ_BUF (64 * 1024)

struct conn {
	int fd;                 /* -1 once closed */
	uint8_t cgi;            /* plain CGI: fd is stdout, output unframed */
	uint8_t dead;           /* closed; freed at the end of the turn */
	uint8_t out_watch;      /* EPOLLOUT is registered */
	uint8_t close_after;    /* no KEEP_CONN: shut down once output is sent */
	uint8_t closing;        /* shut down for writing, waiting for EOF */
	uint8_t no_epoll;       /* CGI stdout that epoll refuses (a file): blocking writes */
	uint8_t peer_eof;       /* the peer sends no more: not read, closed once sent */
	uint8_t unwatched;      /* just accepted, not in epoll yet (do_accept) */
	uint16_t rid;           /* FastCGI request id of r */
	uint32_t hidx;          /* index in the timer heap, NO_TIMER when none */
	int64_t deadline;
	struct pl_lreq *r;      /* request being answered, or NULL */
	unsigned char *out;     /* unsent output [out_off, out_len) */
	size_t out_off, out_len, out_cap;
	struct conn *prev, *next;   /* all live connections, for shutdown */
	struct conn *next_dead;
	struct pl_fcgi p;
};

struct pl_lreq {
	struct conn *c;         /* NULL once gone */
	int cgi;                /* env is environ: never freed */
	void *data;
	int want_drained;       /* on_drained when the queue is empty */
	char **env;             /* owned unless CGI (then environ) */
	char *body;
};

#define NO_TIMER UINT32_MAX

/* The loop: one per process, because signals, the descriptor limit and the
 * waiting counter are per process and the public calls take no handle. */
static struct loop {
	const struct pl_loop_conf *conf;
	const struct pl_loop_ops *ops;
	void *ud;
	struct pl_fcgi_limits lim;
	int ep, sfd, lfd;
	struct pl_wake *wake;
	struct conn **heap;
	size_t heap_len, heap_cap;
	struct conn *all;       /* live connections */
	struct conn *dead;      /* closed this turn */
	int held;
	int woke;               /* the database may have changed this turn */
	int wake_armed;         /* the inotify descriptor is in the epoll set */
	int64_t settle_at, fallback_at, accept_at, shutdown_at;
	int64_t recheck_at;     /* a look after a name change, see RECHECK_MS */
	int64_t check_at;       /* no inotify: next pl_wake_changed() */
	int64_t turn_at;        /* pl_loop_turn_in: an on_turn wanted by then */
	int shutting;
	int cgi_done;
	int running;
} L = { .ep = -1, .sfd = -1, .lfd = -1 };

/* Tokens in epoll_event.data.ptr for the descriptors that are not connections. */
static char tok_listen, tok_signal, tok_wake;

int64_t pl_loop_now_ms(void)
{
	return pl_mono_ms();
}

int pl_loop_waiting(void)
{
	return L.held;
}

void pl_lreq_set_data(struct pl_lreq *r, void *p)
{
	r->data = p;
}

void *pl_lreq_data(const struct pl_lreq *r)
{
	return r->data;
}

/* ---- timer heap (min-heap on conn->deadline) ---- */

static void heap_place(size_t i, struct conn *c)
{
	L.heap[i] = c;
	c->hidx = (uint32_t)i;
}

static void heap_up(size_t i)
{
	struct conn *c = L.heap[i];

	while (i > 0 && L.heap[(i - 1) / 2]->deadline > c->deadline) {
		heap_place(i, L.heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_place(i, c);
}

static void heap_down(size_t i)
{
	struct conn *c = L.heap[i];

	for (;;) {
		size_t k = 2 * i + 1;

		if (k >= L.heap_len)
			break;
		if (k + 1 < L.heap_len && L.heap[k + 1]->deadline < L.heap[k]->deadline)
			k++;
		if (L.heap[k]->deadline >= c->deadline)
			break;
		heap_place(i, L.heap[k]);
		i = k;
	}
	heap_place(i, c);
}

static void timer_del(struct conn *c)
{
	size_t i = c->hidx;
	struct conn *last;

	if (i == NO_TIMER)
		return;
	c->hidx = NO_TIMER;
	last = L.heap[--L.heap_len];
	if (last == c)
		return;
	heap_place(i, last);
	heap_up(i);
	heap_down(last->hidx);
}

static void timer_set(struct conn *c, int64_t deadline)
{
	if (deadline <= 0) {
		timer_del(c);
		return;
	}
	c->deadline = deadline;
	if (c->hidx != NO_TIMER) {
		heap_up(c->hidx);
		heap_down(c->hidx);
		return;
	}
	if (L.heap_len == L.heap_cap) {
		L.heap_cap = L.heap_cap ? 2 * L.heap_cap : 1024;
		L.heap = pl_xrealloc(L.heap, L.heap_cap * sizeof *L.heap);
	}
	heap_place(L.heap_len++, c);
	heap_up(c->hidx);
}

/* ---- connections ---- */

static void set_events(struct conn *c, int out)
{
	struct epoll_event ev = { .data.ptr = c };

	/* A connection not in epoll yet changes nothing unless its output
	 * must wait: do_accept() adds it if it is still open after its first
	 * read (a poll answered and closed then never enters epoll). */
	if (c->no_epoll || (c->unwatched ? !out : c->out_watch == out))
		return;
	/* CGI stdout: no EPOLLIN; EPOLLERR/EPOLLHUP are always reported. After
	 * the peer's EOF, which stays readable, only the output is watched. */
	ev.events = (c->cgi || c->peer_eof ? 0 : EPOLLIN | EPOLLRDHUP) | (out ? EPOLLOUT : 0);
	if (epoll_ctl(L.ep, c->unwatched ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &ev) == 0) {
		c->out_watch = (uint8_t)out;
		c->unwatched = 0;
	} else {
		pl_log_warn("loop: epoll_ctl: %s", strerror(errno));
	}
}

/* Close c now; on_gone for its request comes at the end of the turn. */
static void conn_kill(struct conn *c)
{
	if (c->dead)
		return;
	timer_del(c);
	if (c->cgi) {
		/* stdout: keep descriptor 1 taken so later stray writes go nowhere */
		int nul;

		if (!c->no_epoll)
			epoll_ctl(L.ep, EPOLL_CTL_DEL, c->fd, NULL);
		nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (nul >= 0) {
			dup2(nul, c->fd);
			close(nul);
		}
		L.cgi_done = 1;
	} else {
		close(c->fd);
	}
	c->fd = -1;
	c->dead = 1;
	if (c->prev)
		c->prev->next = c->next;
	else
		L.all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next_dead = L.dead;
	L.dead = c;
}

static void release_req(struct pl_lreq *r)
{
	if (!r->cgi)
		free(r->env);
	free(r->body);
	free(r);
	L.held--;
}

/* Free connections closed this turn; tell the handler about requests that were
 * still attached. on_gone may close more: the list is drained until empty. */
static void reap(void)
{
	while (L.dead) {
		struct conn *c = L.dead;
		struct pl_lreq *r = c->r;

		L.dead = c->next_dead;
		if (r) {
			c->r = NULL;
			r->c = NULL;
			L.ops->on_gone(L.ud, r);
			release_req(r);
		}
		pl_fcgi_free(&c->p);
		free(c->out);
		free(c);
	}
}

static void start_linger(struct conn *c)
{
	if (c->cgi) {
		conn_kill(c);
		return;
	}
	/* Our answer is complete. When the request's input has ended, the peer
	 * sends nothing more: a plain close loses nothing, and saves a
	 * shutdown, a wake and a read per request (thousands at once when a
	 * publish answers every held long poll). Otherwise EOF to the peer,
	 * and wait for its EOF so that what it still sends (the rest of a body
	 * refused early) does not turn our close into a reset that loses data. */
	if (c->p.input_done) {
		conn_kill(c);
		return;
	}
	if (shutdown(c->fd, SHUT_WR) < 0) {
		conn_kill(c);
		return;
	}
	c->closing = 1;
	timer_set(c, pl_loop_now_ms() + LINGER_MS);
}

/* Send what is queued without blocking. */
static void flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			conn_kill(c);   /* EPIPE, ECONNRESET: the reader is gone */
			return;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off < c->out_len) {
		set_events(c, 1);
		return;
	}
	free(c->out);
	c->out = NULL;
	c->out_off = c->out_len = c->out_cap = 0;
	if (c->peer_eof && !c->r) {
		conn_kill(c);   /* all sent, and the peer has nothing more to say */
		return;
	}
	set_events(c, 0);
	if (c->close_after && !c->r && !c->closing)
		start_linger(c);
	else if (!c->r && !c->closing)
		timer_del(c);   /* the drain deadline is moot */
}

/* Make room for k more bytes at the end of the queue. */
static unsigned char *out_room(struct conn *c, size_t k)
{
	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_len + k > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;

		while (cap < c->out_len + k)
			cap *= 2;
		c->out = pl_xrealloc(c->out, cap);
		c->out_cap = cap;
	}
	return c->out + c->out_len;
}

static void out_add(struct conn *c, const void *p, size_t k)
{
	memcpy(out_room(c, k), p, k);
	c->out_len += k;
}

/* Nothing queued: write the pieces (records and their headers) in one
 * writev without copying; queue what the socket did not take. Returns 0, or
 * -1 when gone. */
static int write_direct(struct conn *c, struct iovec *iov, int cnt)
{
	ssize_t w;

	do
		w = writev(c->fd, iov, cnt);
	while (w < 0 && errno == EINTR);
	if (w < 0) {
		if (errno != EAGAIN) {
			conn_kill(c);
			return -1;
		}
		w = 0;
	}
	for (int i = 0; i < cnt; i++) {
		if ((size_t)w >= iov[i].iov_len) {
			w -= (ssize_t)iov[i].iov_len;
			continue;
		}
		out_add(c, (const char *)iov[i].iov_base + w, iov[i].iov_len - (size_t)w);
		w = 0;
	}
	if (c->out_len > c->out_off)
		set_events(c, 1);
	return 0;
}

/* Send or queue n bytes of stdout on c, whatever is queued already. */
static int stdout_write(struct conn *c, const void *p, size_t n)
{
	unsigned char hdr[PL_FCGI_HEADER_LEN];

	if (n == 0)
		return 0;
	if (c->no_epoll) {   /* stdout is a file or terminal: it blocks, it cannot lag */
		out_add(c, p, n);
		flush(c);
		return c->dead ? -1 : 0;
	}
	if (c->out_len == c->out_off && (c->cgi || n <= PL_FCGI_MAX_CONTENT)) {
		struct iovec iov[2] = { { hdr, sizeof hdr }, { (void *)p, n } };

		if (c->cgi)
			return write_direct(c, iov + 1, 1);
		pl_fcgi_header(hdr, PL_FCGI_STDOUT, c->rid, (uint16_t)n);
		return write_direct(c, iov, 2);
	}
	if (c->cgi) {
		out_add(c, p, n);
	} else {
		size_t k = pl_fcgi_stdout_size(n);
		unsigned char *at = out_room(c, k);   /* moves out_len: before the sum */

		c->out_len += pl_fcgi_stdout(at, c->rid, p, n);
	}
	flush(c);
	return c->dead ? -1 : 0;
}

int pl_loop_write(struct pl_lreq *r, const void *p, size_t n)
{
	struct conn *c = r->c;

	if (!c || c->dead)
		return -1;
	if (c->out_len - c->out_off > PL_LOOP_OUT_MAX)
		return -1;
	return stdout_write(c, p, n);
}

size_t pl_loop_unsent(const struct pl_lreq *r)
{
	const struct conn *c = r->c;

	return c && !c->dead ? c->out_len - c->out_off : 0;
}

void pl_loop_when_drained(struct pl_lreq *r)
{
	if (L.ops->on_drained && pl_loop_unsent(r) > 0)
		r->want_drained = 1;
}

void pl_loop_turn_in(int ms)
{
	int64_t t = pl_loop_now_ms() + ms;

	if (!L.turn_at || t < L.turn_at)
		L.turn_at = t;
}

void pl_loop_end_with(struct pl_lreq *r, const void *p, size_t n)
{
	struct conn *c = r->c;
	unsigned char hdr[PL_FCGI_HEADER_LEN], end[PL_FCGI_END_LEN];
	struct iovec iov[3] = { { hdr, sizeof hdr }, { (void *)p, n }, { end, 0 } };
	int first = n ? 0 : 2;

	if (!c)
		return;   /* inside on_gone: reap frees r */
	/* The last piece goes behind what is queued even past PL_LOOP_OUT_MAX
	 * (the end of a document, after a slow reader's stream was cut): the
	 * drain deadline bounds it. */
	if (n && (c->cgi || c->no_epoll || c->dead || c->out_len != c->out_off || n > PL_FCGI_MAX_CONTENT)) {
		if (!c->dead)
			stdout_write(c, p, n);
		first = 2;
	}
	c->r = NULL;
	r->c = NULL;
	release_req(r);
	if (c->dead)
		return;
	timer_del(c);
	if (c->cgi) {
		c->close_after = 1;
	} else {
		if (first == 0)
			pl_fcgi_header(hdr, PL_FCGI_STDOUT, c->rid, (uint16_t)n);
		iov[2].iov_len = pl_fcgi_end_request(end, c->rid, 0, PL_FCGI_REQUEST_COMPLETE);
		pl_fcgi_done(&c->p);
		if (c->out_len == c->out_off) {
			if (write_direct(c, iov + first, 3 - first) < 0)
				return;
		} else {
			out_add(c, end, iov[2].iov_len);
		}
	}
	flush(c);   /* sends the rest, or just starts closing */
	if (!c->dead && !c->closing && c->out_len > c->out_off)
		timer_set(c, pl_loop_now_ms() + PL_LOOP_DRAIN_MS);
}

void pl_loop_end(struct pl_lreq *r)
{
	pl_loop_end_with(r, NULL, 0);
}

void pl_loop_set_timer(struct pl_lreq *r, int64_t deadline_ms)
{
	if (r->c && !r->c->dead)
		timer_set(r->c, deadline_ms);
}

void pl_loop_drop_input(struct pl_lreq *r)
{
	if (!r->cgi)
		free(r->env);
	free(r->body);
	r->env = NULL;
	r->body = NULL;
}

/* The loop's own answers (429, 503): a complete CGI response. */
static void answer(struct pl_lreq *r, const char *status, const char *code, const char *msg)
{
	char b[512];
	int n = snprintf(b, sizeof b,
			 "Status: %s\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
			 "Retry-After: %d\r\n\r\n{\"error\":\"%s\",\"message\":\"%s\"}\n",
			 status, PL_FULL_RETRY_AFTER, code, msg);

	if (n > 0 && (size_t)n < sizeof b)
		pl_loop_write(r, b, (size_t)n);
	pl_loop_end(r);
}

/* A request is complete: hand it over, or answer it here. */
static void dispatch(struct conn *c, char **env, char *body, size_t len, int too_big)
{
	struct pl_lreq *r = pl_xcalloc(1, sizeof *r);

	r->c = c;
	r->cgi = c->cgi;
	r->env = env;
	r->body = body;
	c->r = r;
	timer_del(c);   /* a drain deadline left by the previous request on this connection */
	L.held++;
	if (L.shutting)
		answer(r, "503 Service Unavailable", "unavailable", "shutting down, retry");
	else if (L.conf->max_requests > 0 && L.held > L.conf->max_requests)
		answer(r, "429 Too Many Requests", "too_many_subscribers", "too many waiting subscribers");
	else
		L.ops->on_request(L.ud, r, env, body, len, too_big);
}

/* The web server aborted the active request; the connection stays. */
static void aborted(struct conn *c)
{
	struct pl_lreq *r = c->r;
	unsigned char end[PL_FCGI_END_LEN];

	if (r) {
		c->r = NULL;
		r->c = NULL;
		timer_del(c);
		L.ops->on_gone(L.ud, r);
		release_req(r);
	}
	if (c->dead)
		return;
	/* END_REQUEST alone: the spec's answer to an abort */
	out_add(c, end + PL_FCGI_HEADER_LEN,
		pl_fcgi_end_request(end, c->p.id, 0, PL_FCGI_REQUEST_COMPLETE) - PL_FCGI_HEADER_LEN);
	c->close_after = !(c->p.flags & PL_FCGI_KEEP_CONN);
	pl_fcgi_done(&c->p);
	flush(c);
}

/* A held request that asked (pl_loop_when_drained) hears once its output
 * queue is empty. */
static void tell_drained(struct conn *c)
{
	if (!c->dead && c->r && c->r->want_drained && c->out_off == c->out_len) {
		c->r->want_drained = 0;
		L.ops->on_drained(L.ud, c->r);
	}
}

static void conn_read(struct conn *c)
{
	static unsigned char buf[READ_BUF];
	unsigned char reply[PL_FCGI_REPLY_MAX];
	size_t off = 0;
	ssize_t n;

	do
		n = read(c->fd, buf, sizeof buf);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n == 0 && c->r && !c->closing && !c->dead) {
		/* EOF with the request held: the web server passed the client's
		 * FIN on (lighttpd's tcp-fin-propagate). A client that only
		 * half-closed still reads: the handler ends the request with a
		 * whole answer, and the connection closes once it is sent. */
		if (L.ops->on_eof) {
			/* flush() closes once all is sent; while some waits, a
			 * later read finds this EOF again with output queued. */
			c->peer_eof = 1;
			L.ops->on_eof(L.ud, c->r);
			if (!c->r || c->dead)
				return;
			c->peer_eof = 0;
		}
		/* Else end it as for an abort, so that the server sees it done
		 * and does not log "unexpected end-of-file" as if we had died. */
		aborted(c);
		if (!c->dead)
			c->close_after = 1;
		return;
	}
	if (n == 0 && c->out_len > c->out_off && !c->closing && !c->dead) {
		/* EOF with output still queued (the END_REQUEST of an aborted
		 * request, the end of an answer): send it, then close. The EOF
		 * stays readable: stop reading, or every turn would come here. */
		c->peer_eof = 1;
		c->out_watch = 0;
		set_events(c, 1);
		/* A peer that stops reading too gets the drain time, no more
		 * (aborting the request took its timer). */
		if (c->hidx == NO_TIMER)
			timer_set(c, pl_loop_now_ms() + PL_LOOP_DRAIN_MS);
		return;
	}
	if (n <= 0) {
		conn_kill(c);   /* EOF or reset: the web server dropped the request */
		return;
	}
	if (c->closing)
		return;   /* draining the peer until its EOF */
	while (off < (size_t)n && !c->dead && !c->closing) {
		size_t used, rlen;
		int ev = pl_fcgi_feed(&c->p, buf + off, (size_t)n - off, &used, reply, &rlen);
		struct pl_fcgi_req q;

		off += used;
		switch (ev) {
		case PL_FCGI_EV_REQUEST:
			pl_fcgi_take(&c->p, &q);
			c->rid = q.id;
			c->close_after = !q.keep_conn;
			dispatch(c, q.env, q.body, q.len, q.too_big);
			break;
		case PL_FCGI_EV_ABORT:
			aborted(c);
			break;
		case PL_FCGI_EV_REPLY:
			out_add(c, reply, rlen);
			flush(c);
			/* This flush may be the one that empties a queue a held
			 * request waits on: the write watch goes with it, so no
			 * EPOLLOUT would tell. */
			tell_drained(c);
			/* Management records answered faster than the peer reads
			 * the answers: no web server does that, and the queue
			 * would grow without bound. */
			if (!c->dead && c->out_len - c->out_off > PL_LOOP_OUT_MAX)
				conn_kill(c);
			break;
		case PL_FCGI_EV_ERROR:
			pl_log_warn("loop: FastCGI protocol error; closing the connection");
			conn_kill(c);
			break;
		default:
			break;
		}
	}
}

static struct conn *conn_new(int fd, int cgi)
{
	struct conn *c = pl_xcalloc(1, sizeof *c);

	c->fd = fd;
	c->cgi = (uint8_t)cgi;
	c->hidx = NO_TIMER;
	pl_fcgi_init(&c->p, &L.lim);
	c->next = L.all;
	if (L.all)
		L.all->prev = c;
	L.all = c;
	return c;
}

static void do_accept(void)
{
	for (;;) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
		struct conn *c;
		int fd = accept4(L.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				pl_log_warn("loop: accept: %s; pausing", strerror(errno));
				epoll_ctl(L.ep, EPOLL_CTL_DEL, L.lfd, NULL);
				L.accept_at = pl_loop_now_ms() + ACCEPT_PAUSE_MS;
			} else if (errno != EAGAIN) {
				pl_log_warn("loop: accept: %s", strerror(errno));
			}
			return;
		}
		/* The web server writes its request as it connects: it is
		 * mostly there already, and read now it costs no turn of the
		 * loop, and a request answered at once (a poll) no epoll_ctl.
		 * What is still open then is watched (the rest of the request,
		 * a held answer, the peer's EOF). */
		c = conn_new(fd, 0);
		c->unwatched = 1;
		conn_read(c);
		if (c->dead || !c->unwatched)
			continue;
		ev.events = c->peer_eof ? 0 : EPOLLIN | EPOLLRDHUP;
		ev.data.ptr = c;
		if (epoll_ctl(L.ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			pl_log_warn("loop: epoll_ctl: %s", strerror(errno));
			conn_kill(c);
			continue;
		}
		c->unwatched = 0;
	}
}

static int listen_on(void)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &tok_listen };

	return epoll_ctl(L.ep, EPOLL_CTL_ADD, L.lfd, &ev);
}

static void begin_shutdown(void)
{
	struct conn *c, *next;

	if (L.shutting)
		return;
	L.shutting = 1;
	L.shutdown_at = pl_loop_now_ms() + SHUTDOWN_GRACE_MS;
	if (L.lfd >= 0 && L.accept_at == 0)
		epoll_ctl(L.ep, EPOLL_CTL_DEL, L.lfd, NULL);
	L.lfd = -1;   /* not closed: it is fd 0 and may be shared; we exit soon */
	L.accept_at = 0;   /* no accepting to resume: a deadline left would spin the loop */
	if (L.ops->on_shutdown)
		L.ops->on_shutdown(L.ud);
	/* Idle keep-alive connections: nothing to wait for. */
	for (c = L.all; c; c = next) {
		next = c->next;
		if (!c->r && c->out_len == c->out_off && !c->closing)
			conn_kill(c);
	}
}

static void read_signals(void)
{
	struct signalfd_siginfo si;

	while (read(L.sfd, &si, sizeof si) == (ssize_t)sizeof si)
		begin_shutdown();
}

/* Anything left to do after shutdown began? */
static int shutdown_pending(void)
{
	for (struct conn *c = L.all; c; c = c->next)
		if (c->r || c->out_len > c->out_off || c->closing)
			return 1;
	return 0;
}

static void kill_all(void)
{
	while (L.all)
		conn_kill(L.all);
}

static void run_timers(int64_t now)
{
	while (L.heap_len > 0 && L.heap[0]->deadline <= now) {
		struct conn *c = L.heap[0];

		timer_del(c);
		if (c->r && !c->closing)
			L.ops->on_timer(L.ud, c->r);
		else
			conn_kill(c);   /* drain or linger time is up */
	}
}

/* Listen to the database only while a request is held: a process with
 * nothing waiting is not woken by every commit on the host. The watch itself
 * stays, so what happens meanwhile queues in the inotify descriptor and the
 * first turn after re-arming reads it (level-triggered epoll). */
static void wake_arm(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &tok_wake };
	int want = L.held > 0, fd = pl_wake_fd(L.wake);

	if (fd < 0 || want == L.wake_armed)
		return;
	if (epoll_ctl(L.ep, want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &ev) == 0)
		L.wake_armed = want;
	else
		pl_log_warn("loop: epoll_ctl inotify: %s", strerror(errno));
}

/* No inotify watch for this process (none to be had, or the database's
 * directory was replaced and is not watched yet), and requests wait:
 * pl_wake_changed() stands in for it. */
static int must_check(void)
{
	return L.wake && !pl_wake_watching(L.wake) && L.held > 0;
}

static void run_wakes(int64_t now)
{
	int fire = 0;

	if (L.woke) {
		fire = 1;
		if (L.woke & PL_WAKE_SOON) {
			L.settle_at = now + SETTLE_MS;
			L.recheck_at = now + RECHECK_MS;
		}
	} else if (L.settle_at && now >= L.settle_at) {
		fire = 1;
		L.settle_at = 0;
	} else if (L.recheck_at && now >= L.recheck_at) {
		fire = 1;
		L.recheck_at = 0;
	}
	if (L.conf->fallback_ms > 0 && now >= L.fallback_at)
		fire = 1;
	/* No inotify here: a stat of the database a few times a second while
	 * requests wait stands in for it (the fallback alone would answer
	 * seconds late). */
	if (must_check() && now >= L.check_at) {
		L.check_at = now + CHECK_MS;
		if (pl_wake_changed(L.wake))
			fire = 1;
	}
	L.woke = 0;
	if (!fire)
		return;
	if (L.conf->fallback_ms > 0)
		L.fallback_at = now + L.conf->fallback_ms;
	/* Also with nobody held: on_wake lets go of a database that was
	 * deleted or replaced meanwhile (see pl_wait.c). */
	if (L.ops->on_wake)
		L.ops->on_wake(L.ud);
}

/* epoll_wait timeout: the nearest thing due. */
static int next_timeout(int64_t now)
{
	int64_t t = INT64_MAX;
	int w = pl_waiting_due_ms();

	if (L.heap_len > 0)
		t = L.heap[0]->deadline;
	if (L.settle_at && L.settle_at < t)
		t = L.settle_at;
	if (L.recheck_at && L.recheck_at < t)
		t = L.recheck_at;
	if (L.conf->fallback_ms > 0 && L.fallback_at < t)
		t = L.fallback_at;
	if (must_check() && L.check_at < t)
		t = L.check_at;
	if (L.accept_at && L.accept_at < t)
		t = L.accept_at;
	if (L.shutting && L.shutdown_at < t)
		t = L.shutdown_at;
	if (L.turn_at && L.turn_at < t)
		t = L.turn_at;
	if (w >= 0 && now + w < t)
		t = now + w;
	if (t == INT64_MAX)
		return -1;
	if (t <= now)
		return 0;
	return t - now > 60000 ? 60000 : (int)(t - now);
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			pl_log_warn("loop: setrlimit NOFILE: %s", strerror(errno));
	}
}

/* Plain CGI: the one request from environ and stdin. */
static int start_cgi(void)
{
	extern char **environ;
	struct epoll_event ev = { .events = 0 };
	size_t len;
	int too_big, cut;
	char *body = pl_req_cgi_body(0, getenv("CONTENT_LENGTH"), getenv("HTTP_TRANSFER_ENCODING"),
				     L.conf->max_body, &len, &too_big, &cut);
	struct conn *c;

	/* cut: a short body; the handler sees what came */
	(void)cut;
	c = conn_new(1, 1);
	ev.data.ptr = c;
	if (epoll_ctl(L.ep, EPOLL_CTL_ADD, 1, &ev) < 0) {
		c->no_epoll = 1;   /* a regular file or the like: write it blocking */
	} else {
		int fl = fcntl(1, F_GETFL);

		if (fl >= 0)
			fcntl(1, F_SETFL, fl | O_NONBLOCK);
	}
	dispatch(c, environ, body, len, too_big);
	return 0;
}

static int is_listener(void)
{
	struct sockaddr_storage sa;
	socklen_t sl = sizeof sa;

	/* As libfcgi decides: a socket with no peer is the listener we were given. */
	return getpeername(0, (struct sockaddr *)&sa, &sl) < 0 && errno == ENOTCONN;
}

int pl_loop_by_hand(void)
{
	return !is_listener() && !getenv("REQUEST_METHOD");
}

static void cleanup(void)
{
	kill_all();
	reap();
	free(L.heap);
	L.heap = NULL;
	L.heap_len = L.heap_cap = 0;
	pl_wake_close(L.wake);
	L.wake = NULL;
	if (L.sfd >= 0)
		close(L.sfd);
	if (L.ep >= 0)
		close(L.ep);
	L.sfd = L.ep = -1;
	if (L.conf->db_path) {
		pl_waiting_close();
	}
	L.running = 0;
}

int pl_loop_run(const struct pl_loop_conf *conf, const struct pl_loop_ops *ops, void *ud)
{
	struct epoll_event evs[MAX_EVENTS];
	sigset_t ss;
	const char *op = "";
	int rc = -1, cgi;

	if (L.running) {
		pl_log_err("loop: already running in this process");
		return -1;
	}
	memset(&L, 0, sizeof L);
	L.ep = L.sfd = L.lfd = -1;
	L.conf = conf;
	L.ops = ops;
	L.ud = ud;
	L.lim.max_body = conf->max_body;
	L.lim.max_conns = conf->max_requests > 0 ? (unsigned)conf->max_requests : 10000;
	L.running = 1;
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	cgi = !is_listener();

	op = "epoll_create1";
	L.ep = epoll_create1(EPOLL_CLOEXEC);
	if (L.ep < 0)
		goto fail;
	op = "signalfd";
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGUSR1);
	sigaddset(&ss, SIGINT);
	if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
		goto fail;
	L.sfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
	if (L.sfd < 0)
		goto fail;
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &tok_signal };

		if (epoll_ctl(L.ep, EPOLL_CTL_ADD, L.sfd, &ev) < 0)
			goto fail;
	}
	if (conf->db_path) {
		pl_waiting_open(conf->db_path);   /* logged; stats then miss us, serving goes on */
		if (pl_wake_open(&L.wake, conf->db_path) == 0 && pl_wake_fd(L.wake) >= 0) {
			struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &tok_wake };

			op = "epoll_ctl inotify";
			if (epoll_ctl(L.ep, EPOLL_CTL_ADD, pl_wake_fd(L.wake), &ev) < 0)
				goto fail;
			L.wake_armed = 1;
		}
	}
	L.fallback_at = pl_loop_now_ms() + conf->fallback_ms;
	if (cgi) {
		start_cgi();
	} else {
		int fl = fcntl(0, F_GETFL);

		op = "listen socket";
		L.lfd = 0;
		if (fl < 0 || fcntl(0, F_SETFL, fl | O_NONBLOCK) < 0 || listen_on() < 0)
			goto fail;
	}

	while (!(cgi && L.cgi_done)) {
		int64_t now = pl_loop_now_ms();
		int n = epoll_wait(L.ep, evs, MAX_EVENTS, next_timeout(now));

		if (n < 0 && errno != EINTR) {
			op = "epoll_wait";
			goto fail;
		}
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			struct conn *c = p;

			if (p == &tok_listen) {
				do_accept();
			} else if (p == &tok_signal) {
				read_signals();
			} else if (p == &tok_wake) {
				L.woke |= pl_wake_read(L.wake);
			} else if (!c->dead) {
				if (c->cgi && evs[i].events & (EPOLLERR | EPOLLHUP)) {
					conn_kill(c);   /* the web server closed our stdout */
					continue;
				}
				if (evs[i].events & EPOLLOUT) {
					flush(c);
					tell_drained(c);
				}
				if (!c->dead && !c->cgi && evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
					conn_read(c);
			}
		}
		if (L.turn_at && pl_loop_now_ms() >= L.turn_at)
			L.turn_at = 0;
		if (L.ops->on_turn)
			L.ops->on_turn(L.ud);
		now = pl_loop_now_ms();
		run_timers(now);
		run_wakes(now);
		if (L.accept_at && now >= L.accept_at && !L.shutting) {
			L.accept_at = 0;
			listen_on();
		}
		if (L.shutting && (!shutdown_pending() || now >= L.shutdown_at))
			kill_all();
		reap();
		pl_waiting_set(L.held);
		wake_arm();
		if (L.shutting && !L.all)
			break;
	}
	rc = 0;
	goto out;
fail:
	pl_log_err("loop: %s: %s", op, strerror(errno));
out:
	cleanup();
	return rc;
}
