/* pl_wait.c: long-poll and streaming on top of the event loop.
 *
 * A request is first answered like a poll, from one snapshot. When nothing
 * matches (longpoll) or once the backlog is written (stream), it waits with
 * its cursor. When the database changes, the process reads what is new ONCE
 * (pl_store_tail, one indexed query from the last id it saw) and matches the
 * new rows against the waiting requests in memory: a publish to a topic
 * nobody here waits for costs one query per process, not one per waiter.
 * Waiters are filed by topic (pl_tindex): a wake looks at the waiters of
 * each new row's topic and its ancestors only, so thousands of held
 * requests on other topics cost it nothing.
 *
 * Why a waiter never misses a row: the watcher's last seen id is never above
 * a waiter's cursor when the waiter joins (both come from snapshots taken in
 * this one thread, in order), and every row above it is examined exactly once
 * by the next wake. A waiter whose topics a wake's rows do not touch keeps
 * its cursor; everything up to the process's seen id was examined for it,
 * so its true cursor is the larger of the two (true_cursor()).
 *
 * Every call into the store is counted (pl_waiting_queries(), shown in the
 * process's DB.waiting/PID file), so that "one query per process per wake"
 * can be checked from outside. */
#include "pl_first.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_gzip.h"
#include "pl_http.h"
#include "pl_log.h"
#include "pl_loop.h"
#include "pl_out.h"
#include "pl_poll.h"
#include "pl_serve.h"
#include "pl_store.h"
#include "pl_sub.h"
#include "pl_topic.h"
#include "pl_wait.h"
#include "pl_waiting.h"

#define TAIL_BATCH 1000
#define SSE_RETRY_MS 3000
#define FALLBACK_MS 5000
/* A held long poll writes one blank every longpoll_keepalive seconds (3 by
 * default; 0: none). Apache does not read a client socket while it waits
 * for the program, so it learns of a client that left only when it writes
 * to it; this blank is that write, and a dead client's slot is freed within
 * seconds instead of at its timeout (a second write may be needed to see
 * the reset: a dead client goes within two intervals). lighttpd with
 * "tcp-fin-propagate" passes the client's FIN on at once, once the answer
 * has begun, so behind it the head alone is enough and the blanks only cost
 * wake-ups. Blanks are insignificant in JSON, JSONP and XML. */

struct waiter {
	struct pl_lreq *lr;
	struct pl_sub sub;
	int64_t cursor;         /* rows above this are still to be examined */
	int64_t end_ms;         /* monotonic: longpoll timeout, stream maximum */
	int64_t hb_ms;          /* monotonic: next write to keep the connection alive */
	int64_t beat_ms;        /* monotonic: a stream's next heartbeat */
	struct pl_tsub *tsubs;  /* one filing per subscribed topic */
	size_t ntsubs;
	uint64_t gen;           /* the wake batch that last picked it */
	int gz;                 /* a long poll whose body is gzip (pl_gzip.h) */
	int gap;                /* a long poll whose answer says "gap" (see on_wake) */
	int backlog;            /* a stream still writing its backlog (stream_backlog) */
	int sent;               /* a stream that wrote a message */
	struct pl_gzip gzs;
	struct waiter *prev, *next;
};

struct app {
	enum pl_wait_mode mode;
	struct pl_conf conf;
	int conf_ok;
	struct pl_store *st;
	int64_t seen;           /* every row up to here was handed to the waiters */
	int64_t gap_floor;      /* the oldest id kept - 1 at the last mark_gaps() walk */
	struct waiter *waiters;
	struct pl_tindex index; /* the waiters by subscribed topic */
	uint64_t gen;           /* one per wake batch */
	unsigned starts;        /* one per start_over(): every waiter was freed */
	struct waiter **picked; /* the waiters a wake batch's rows concern */
	size_t npicked, cappicked;
	struct pl_result tail;  /* reused for every wake */
	struct pl_buf out;      /* reused output buffer */
	struct pl_marks got;    /* first deliveries not recorded yet */
	/* The last answer built during this wake: a fan-out to thousands of
	 * waiters on one topic builds it once and writes it thousands of times. */
	struct {
		int valid;
		const struct pl_row *rows;
		size_t n;
		int64_t cursor;
		int more, gap;
		struct pl_outopt out;
		struct pl_buf body;
		int gz_valid;           /* body compressed, for waiters that take gzip */
		struct pl_gzip_piece gz;
	} cache;
	struct pl_gzip_piece gz;        /* scratch: a waiter's own compressed piece */
	/* Compressed once per process: the same bytes for every long poll
	 * (zlib's reset alone clears some 64 KB of tables). */
	struct pl_gzip_piece blank;     /* the keep-alive blank */
	struct pl_gzip_piece pre[2];    /* the preamble: JSON and JSONP, XML */
	struct pl_buf plain;            /* scratch: plain bytes before compression */
	/* Streams: each row's event text of this wake, built once for the
	 * first format that asks and reused by every stream of that format. */
	struct {
		int valid;
		struct pl_outopt out;
		struct { size_t start, len; } *at;      /* len 0: not built yet */
		size_t cap;
		struct pl_buf text;
	} ev;
};

static void end_all(struct app *a);

/* A store call, counted: q(pl_store_tail(...)). */
static int q(int rc)
{
	pl_waiting_queries(1);
	return rc;
}

/* The ids started again (a new file, a restored one): every cursor held
 * here is meaningless. Answer everyone (their next request gets "reset")
 * and go on from head. */
static void start_over(struct app *a, int64_t head)
{
	end_all(a);
	a->starts++;
	a->seen = head;
	a->gap_floor = 0;
}

static int store_ready(struct app *a)
{
	int64_t head;

	if (a->st && pl_store_moved(a->st)) {
		/* Recreated or replaced: the new head is read below. */
		pl_store_close(a->st);
		a->st = NULL;
		start_over(a, 0);
	}
	if (a->st)
		return PL_OK;
	if (pl_store_open(&a->st, &a->conf) != PL_OK)
		return PL_EIO;
	/* The floor was the old connection's file's; after a failure the file
	 * opened may be another (a query failed on a deleted one before it was
	 * seen moved): the next wake walks again. */
	a->gap_floor = 0;
	if (q(pl_store_head(a->st, &head)) != PL_OK)
		return PL_OK;
	/* Nothing before the head can concern a waiter that joins from now on;
	 * after a mere failure seen stays, so held waiters miss nothing, unless
	 * the ids started again. */
	if (!a->waiters)
		a->seen = head;
	else if (head < a->seen)
		start_over(a, head);
	return PL_OK;
}

static void store_failed(struct app *a)
{
	/* Reopen next time: the file may have been replaced or the disk freed. */
	pl_store_close(a->st);
	a->st = NULL;
}

static void note_got(struct app *a, const struct waiter *w, const struct pl_row *r)
{
	if (!w->sub.f.identity || !r->user || r->last_get)
		return;
	pl_marks_add(&a->got, &r->id, 1, pl_now_ms());
}

/* Record first deliveries without waiting for a write lock held elsewhere:
 * every waiter of this process would wait with it. Kept for a retry. */
static void flush_got(struct app *a)
{
	if (a->got.n && a->st && q(pl_store_mark_pending(a->st, &a->got, 0)) == PL_EBUSY)
		pl_loop_turn_in(PL_MARKS_RETRY_MS);
}

/* After every turn: the first deliveries of the turn's answers, and the
 * retry of those a held lock kept out. */
static void on_turn(void *ud)
{
	flush_got(ud);
}

/* Send a complete answer and end the request. */
static void answer(struct app *a, struct pl_lreq *lr, const struct pl_req *req, struct pl_resp *resp)
{
	pl_buf_reset(&a->out);
	pl_serve_finish(req, resp, &a->out);
	pl_loop_end_with(lr, a->out.p, a->out.len);
}

/* Held from now on: in the list and filed under each topic. */
static void waiter_link(struct app *a, struct waiter *w)
{
	w->next = a->waiters;
	if (a->waiters)
		a->waiters->prev = w;
	a->waiters = w;
	w->ntsubs = w->sub.f.ntopics;
	w->tsubs = pl_xcalloc(w->ntsubs, sizeof *w->tsubs);
	for (size_t i = 0; i < w->ntsubs; i++)
		pl_tindex_add(&a->index, &w->tsubs[i], w->sub.f.topics[i], w);
}

static void waiter_unlink(struct app *a, struct waiter *w)
{
	for (size_t i = 0; i < w->ntsubs; i++)
		pl_tindex_del(&a->index, &w->tsubs[i]);
	free(w->tsubs);
	if (w->prev)
		w->prev->next = w->next;
	else
		a->waiters = w->next;
	if (w->next)
		w->next->prev = w->prev;
	pl_sub_free(&w->sub);
	free(w);
}

static void waiter_end(struct app *a, struct waiter *w)
{
	pl_loop_end(w->lr);
	waiter_unlink(a, w);
}

/* Every row up to here was examined for w: its own cursor, or the
 * process's seen id when the wakes since had no row of its topics. */
static int64_t true_cursor(const struct app *a, const struct waiter *w)
{
	return w->cursor > a->seen ? w->cursor : a->seen;
}

/* A stream's time is up, or the program stops: close what its format
 * opened, then end it. Without a message the client has no id to resume
 * from: the end names the cursor. */
static void stream_close(struct app *a, struct waiter *w)
{
	pl_buf_reset(&a->out);
	pl_out_stream_end(&a->out, &w->sub.out, w->sent ? -1 : true_cursor(a, w));
	pl_loop_end_with(w->lr, a->out.p, a->out.len);
	waiter_unlink(a, w);
}

/* End a held long poll with the rest of its body: compressed, as the last
 * piece of its gzip member, when its head said gzip. z: that body compressed
 * already (shared by a fan-out), or NULL. */
static void longpoll_end(struct app *a, struct waiter *w, const char *body, size_t len,
			 const struct pl_gzip_piece *z)
{
	if (!w->gz) {
		pl_loop_end_with(w->lr, body, len);
	} else {
		if (!z) {
			pl_gzip_piece(&a->gz, body, len, 1);
			z = &a->gz;
		}
		pl_buf_reset(&a->out);
		pl_gzip_add(&w->gzs, &a->out, z);
		pl_gzip_end(&w->gzs, &a->out);
		pl_loop_end_with(w->lr, a->out.p, a->out.len);
	}
	waiter_unlink(a, w);
}

/* A held long poll's answer built from rows already chosen. Its status and
 * headers went out when it began to wait: only the body is left. */
static void longpoll_answer(struct app *a, struct waiter *w, struct pl_result *res)
{
	struct pl_resp resp;

	pl_resp_init(&resp);
	pl_out_result(&resp, &w->sub.out, res);
	longpoll_end(a, w, resp.body.p, resp.body.len, NULL);
	pl_resp_free(&resp);
}

/* The answer of a long poll that ends with nothing new: its cursor, and
 * "gap" when a purge took what came after it before this process read it
 * (mark_gaps()), as a poll at its cursor would say. */
static void longpoll_empty(struct app *a, struct waiter *w)
{
	struct pl_result empty;

	memset(&empty, 0, sizeof empty);
	empty.cursor = true_cursor(a, w);
	empty.gap = w->gap;
	longpoll_answer(a, w, &empty);
}

/* End w as its time running out does: a long poll with its cursor, a
 * stream with its format's end (the client reconnects with its last id). */
static void waiter_finish(struct app *a, struct waiter *w)
{
	if (a->mode == PL_WAIT_LONGPOLL)
		longpoll_empty(a, w);
	else
		stream_close(a, w);
}

/* Write rows to a stream; -1 when the client cannot keep up or is gone. */
static int stream_rows(struct app *a, struct waiter *w, const struct pl_row *rows, size_t n)
{
	pl_buf_reset(&a->out);
	for (size_t i = 0; i < n; i++) {
		pl_out_stream_msg(&a->out, &w->sub.out, &rows[i]);
		note_got(a, w, &rows[i]);
		w->sent = 1;
	}
	return a->out.len ? pl_loop_write(w->lr, a->out.p, a->out.len) : 0;
}

/* When a held request next writes to keep its connection alive: a long
 * poll its blank (never, with longpoll_keepalive 0); a stream its
 * heartbeat, and in between, every longpoll_keepalive seconds, an
 * insignificant line, so that behind Apache a client that left frees its
 * slot within seconds, not at the second heartbeat (30 s). beat: a
 * stream's heartbeat is due again from now. */
static int64_t next_beat(const struct app *a, struct waiter *w, int64_t now, int beat)
{
	int64_t ka = a->conf.longpoll_keepalive > 0 ? now + (int64_t)a->conf.longpoll_keepalive * 1000 : 0;

	if (a->mode != PL_WAIT_STREAM)
		return ka;
	if (beat || !w->beat_ms)
		w->beat_ms = now + (int64_t)a->conf.heartbeat * 1000;
	return ka && ka < w->beat_ms ? ka : w->beat_ms;
}

static void arm_timer(struct waiter *w)
{
	pl_loop_set_timer(w->lr, w->hb_ms && w->hb_ms < w->end_ms ? w->hb_ms : w->end_ms);
}

static void refuse(struct app *a, struct pl_lreq *lr, struct pl_req *req, struct pl_resp *resp,
		   const struct pl_sub *sub, int rc, const char *msg)
{
	pl_poll_error(&a->conf, resp, sub, rc, msg);
	answer(a, lr, req, resp);
}

/* Waiting requests on this host, besides this one: the other processes'
 * exact counts, and this process's own (pl_loop_waiting() counts this
 * request too). This one is published first: two processes taking a
 * request each at once then both count the other, and at the cap both
 * refuse rather than both accept (a burst across processes went past the
 * cap by as many processes as took part). */
static long host_waiting(struct app *a)
{
	long others;

	pl_waiting_set(pl_loop_waiting());
	others = pl_waiting_others(a->conf.db_path);
	return (others > 0 ? others : 0) + pl_loop_waiting() - 1;
}

/* The stream's next page is read from the store after id, once the web
 * server has taken what is queued (on_drained). */
static void backlog_after(struct waiter *w, int64_t id)
{
	w->cursor = id;
	w->sub.f.since = PL_SINCE_ID;
	w->sub.f.since_id = id;
	w->backlog = 1;
	pl_loop_when_drained(w->lr);
}

/* Write a stream's backlog, res and the pages after it. Past half the
 * output bound it goes on when the web server has taken what is queued
 * (on_drained), so that a reader that keeps up is never cut off as one
 * that falls behind is; meanwhile wakes pass it by (offer), since the next
 * page is read from its cursor anyway. -1 when the stream must end. */
static int stream_backlog(struct app *a, struct waiter *w, struct pl_result *res)
{
	for (;;) {
		if (stream_rows(a, w, res->rows, res->n) != 0)
			return -1;
		w->cursor = res->cursor;
		w->backlog = 0;
		if (!res->more)
			return 0;
		if (pl_loop_unsent(w->lr) > PL_LOOP_OUT_MAX / 2) {
			backlog_after(w, res->cursor);
			return 0;
		}
		w->sub.f.since = PL_SINCE_ID;
		w->sub.f.since_id = w->cursor;
		if (q(pl_store_query(a->st, &w->sub.f, res)) != PL_OK) {
			store_failed(a);
			return -1;
		}
	}
}

static void on_drained(void *ud, struct pl_lreq *lr)
{
	struct app *a = ud;
	struct waiter *w = pl_lreq_data(lr);
	struct pl_result res;
	unsigned starts = a->starts;
	int rc;

	if (!w || !w->backlog)
		return;
	memset(&res, 0, sizeof res);
	rc = store_ready(a);
	/* A replaced file ended every stream, this one too: w is gone. */
	if (a->starts != starts)
		return;
	if (rc != PL_OK) {
		stream_close(a, w);     /* the client resumes from its last id */
		return;
	}
	if (q(pl_store_query(a->st, &w->sub.f, &res)) != PL_OK) {
		store_failed(a);
		stream_close(a, w);
	} else if (stream_backlog(a, w, &res) != 0) {
		stream_close(a, w);
	} else {
		flush_got(a);
	}
	pl_result_free(&res);
}

/* Begin a stream: headers (added to resp, which carries the CORS headers
 * already), preamble, then the backlog since the cursor. */
static int stream_begin(struct app *a, struct waiter *w, struct pl_resp *resp, struct pl_result *res)
{
	pl_out_stream_headers(resp, &w->sub.out);
	pl_resp_header(resp, "Cache-Control", "no-store");
	pl_buf_reset(&a->out);
	pl_resp_serialize_head(resp, &a->out);
	pl_out_stream_start(&a->out, &w->sub.out, SSE_RETRY_MS);
	if (pl_loop_write(w->lr, a->out.p, a->out.len) != 0)
		return -1;
	return stream_backlog(a, w, res);
}

static int longpoll_answers_now(const struct waiter *w, const struct pl_result *res)
{
	/* more with nothing found: the look stopped short of the head
	 * (PL_EXAMINE_MAX); the client goes on from its cursor at once. */
	return res->n || res->more || res->reset || res->gap || w->sub.timeout == 0;
}

static void on_request(void *ud, struct pl_lreq *lr, char **env, const char *body, size_t len, int too_big)
{
	struct app *a = ud;
	struct pl_req req;
	struct pl_resp resp;
	struct pl_result res;
	struct waiter *w = pl_xcalloc(1, sizeof *w);
	char msg[256];
	int qrc = pl_req_init(&req, env, body, len), rc, full, head;
	int64_t now;

	pl_resp_init(&resp);
	memset(&res, 0, sizeof res);
	w->lr = lr;
	if (too_big) {
		struct pl_outopt eo;

		pl_out_error(&resp, pl_serve_early_format(&req, qrc, &eo), PL_ETOOBIG, NULL,
			     "subscribe requests take no body", 0);
		if (a->conf_ok)
			pl_http_cors_error(&a->conf, &req, &resp);
		goto answer_now;
	}
	if (pl_serve_wrong_path(&req, a->mode == PL_WAIT_STREAM ? "stream" : "longpoll", &resp) ||
	    pl_serve_refuse(&a->conf, a->conf_ok, &req, qrc, &resp)) {
		if (a->conf_ok)
			pl_http_cors_error(&a->conf, &req, &resp);
		goto answer_now;
	}
	if (pl_poll_preamble(&a->conf, &req, &resp))
		goto answer_now;
	rc = pl_sub_parse(&w->sub, &req, &a->conf, a->mode == PL_WAIT_STREAM ? PL_SUB_STREAM : PL_SUB_LONGPOLL,
			  msg, sizeof msg);
	if (rc != PL_OK) {
		refuse(a, lr, &req, &resp, &w->sub, rc, msg);
		goto out;
	}
	/* A stream's pages are written whole into its output buffer, and a
	 * reader that does not read keeps that buffer: at PL_ANSWER_BYTES a
	 * page, a few streams of a topic with a backlog of large messages held
	 * hundreds of megabytes. Pages of about the pause mark of
	 * stream_backlog keep each one near PL_LOOP_OUT_MAX, plus one message. */
	if (a->mode == PL_WAIT_STREAM)
		w->sub.f.max_bytes = PL_LOOP_OUT_MAX / 2;
	if (!a->conf.push_enabled) {
		refuse(a, lr, &req, &resp, &w->sub, PL_EOFF, "push is switched off for now: poll instead");
		goto out;
	}
	/* HEAD: the head a GET would get, at once, and nothing held or
	 * recorded as delivered (answer() leaves the body out). */
	head = pl_req_method_is(&req, "HEAD");
	if (head && a->mode == PL_WAIT_STREAM) {
		pl_out_stream_headers(&resp, &w->sub.out);
		goto answer_now;
	}
	if (head)
		w->sub.timeout = 0;
	/* The cap is per host: under Apache's mod_fcgid every held request is a
	 * process of its own, so the counts of all processes are summed (the
	 * loop's own per-process limit backs this up within a process). It
	 * refuses only a request that would wait: a stream always would; a long
	 * poll whose answer is ready gets it, so that one takes its query first. */
	full = a->conf.max_waiting > 0 && host_waiting(a) >= a->conf.max_waiting;
	if (!(full && a->mode == PL_WAIT_STREAM) &&
	    (store_ready(a) != PL_OK || (rc = q(pl_store_query(a->st, &w->sub.f, &res))) != PL_OK)) {
		store_failed(a);
		refuse(a, lr, &req, &resp, &w->sub, PL_EIO, "the message store is unavailable");
		goto out;
	}
	if (full && !(a->mode == PL_WAIT_LONGPOLL && longpoll_answers_now(w, &res))) {
		refuse(a, lr, &req, &resp, &w->sub, PL_EFULL, "too many waiting subscribers on this host; try again shortly");
		goto out;
	}
	now = pl_loop_now_ms();
	if (a->mode == PL_WAIT_LONGPOLL) {
		if (longpoll_answers_now(w, &res)) {
			pl_poll_etag(&resp, &res);
			pl_out_result(&resp, &w->sub.out, &res);
			for (size_t i = 0; i < res.n && !head; i++)
				note_got(a, w, &res.rows[i]);
			goto answer_now;
		}
		w->cursor = res.cursor;
		/* From the client's request on (the web server may have held it
		 * while it started this process): never before now. */
		w->end_ms = now + (int64_t)w->sub.timeout * 1000 - w->sub.waited_ms;
		if (w->end_ms < now)
			w->end_ms = now;
		/* Held requests always end 200. Sending the head and a first
		 * byte now matters: lighttpd passes a response on, and watches
		 * its client for a hang-up, only once body bytes came; so a client
		 * that leaves is noticed at once instead of at the timeout. */
		pl_out_headers(&resp, &w->sub.out);
		pl_resp_header(&resp, "Cache-Control", "no-store");
		/* Its answer is not complete when the head goes out, so a web
		 * server that compresses only complete answers (lighttpd) would
		 * leave it plain: it is compressed here (pl_gzip.h), and the web
		 * server leaves an answer that has a Content-Encoding alone. */
		if (a->conf.longpoll_gzip) {
			w->gz = pl_gzip_accepted(pl_req_env(&req, "HTTP_ACCEPT_ENCODING"));
			pl_resp_header(&resp, "Vary", "Accept-Encoding");
			if (w->gz)
				pl_resp_header(&resp, "Content-Encoding", "gzip");
		}
		pl_buf_reset(&a->out);
		pl_resp_serialize_head(&resp, &a->out);
		if (!w->gz) {
			pl_out_preamble(&a->out, &w->sub.out);
		} else {
			struct pl_gzip_piece *pre = &a->pre[w->sub.out.fmt == PL_FMT_XML];

			/* (pl_out_preamble() also marks it sent in w's options) */
			pl_buf_reset(&a->plain);
			pl_out_preamble(&a->plain, &w->sub.out);
			if (!pre->size)
				pl_gzip_piece(pre, a->plain.p, a->plain.len, 0);
			pl_gzip_begin(&w->gzs, &a->out);
			pl_gzip_add(&w->gzs, &a->out, pre);
		}
		if (pl_loop_write(lr, a->out.p, a->out.len) != 0) {
			pl_loop_end(lr);
			goto out;
		}
	} else {
		if (stream_begin(a, w, &resp, &res) != 0) {
			pl_loop_end(lr);
			goto out;
		}
		w->end_ms = now + (int64_t)a->conf.stream_max_time * 1000;
	}
	/* A subscriber known by a token is one only until it expires: held on,
	 * the request would go on delivering the user's messages to whoever
	 * holds it. It ends then as at its usual end; the next one is a 401. */
	if (w->sub.until > 0 && w->sub.until < INT64_MAX / 1000) {
		int64_t left = w->sub.until * 1000 - pl_now_ms();

		if (left < w->end_ms - now)
			w->end_ms = now + (left > 0 ? left : 0);
	}
	w->hb_ms = next_beat(a, w, now, 1);
	/* The first waiter after an idle spell: its query examined everything
	 * up to its cursor, and nobody else waits, so the next wake starts
	 * there. seen stood still while nothing was held (no wakes came), and
	 * that wake would otherwise read every row committed meanwhile in one
	 * turn of the loop (200,000 rows: 0.3 s with every request stalled). */
	if (!a->waiters && w->cursor > a->seen)
		a->seen = w->cursor;
	/* Held: keep only what matching needs, not the request's raw input. */
	pl_req_free(&req);
	pl_loop_drop_input(lr);
	waiter_link(a, w);
	pl_lreq_set_data(lr, w);
	arm_timer(w);
	w = NULL;
	goto done;
answer_now:
	answer(a, lr, &req, &resp);
out:
	pl_req_free(&req);
done:
	pl_resp_free(&resp);
	pl_result_free(&res);
	if (w) {
		pl_sub_free(&w->sub);
		free(w);
	}
	/* First deliveries of an answer given now: recorded in on_turn, with
	 * those of the turn's other requests. */
}

/* The answer body for rows[0..n) with cursor/more in w's format, from the
 * cache when the previous waiter got the same. */
static const struct pl_buf *cached_body(struct app *a, struct waiter *w, const struct pl_row *rows, size_t n,
					int64_t cursor, int more, int64_t head)
{
	struct pl_resp resp;
	struct pl_result view;

	if (a->cache.valid && a->cache.rows == rows && a->cache.n == n && a->cache.cursor == cursor &&
	    a->cache.more == more && a->cache.gap == w->gap && !memcmp(&a->cache.out, &w->sub.out, sizeof w->sub.out))
		return &a->cache.body;
	memset(&view, 0, sizeof view);
	view.rows = (struct pl_row *)rows;     /* a view: never freed through it */
	view.n = n;
	view.cursor = cursor;
	view.more = more;
	view.gap = w->gap;
	view.head = head;
	pl_resp_init(&resp);
	pl_out_result(&resp, &w->sub.out, &view);
	pl_buf_reset(&a->cache.body);
	pl_buf_add(&a->cache.body, resp.body.p, resp.body.len);
	pl_resp_free(&resp);
	a->cache.valid = 1;
	a->cache.gz_valid = 0;
	a->cache.rows = rows;
	a->cache.n = n;
	a->cache.cursor = cursor;
	a->cache.more = more;
	a->cache.gap = w->gap;
	a->cache.out = w->sub.out;
	return &a->cache.body;
}

/* May w's events come from (and go into) the per-row cache of this wake?
 * The first stream to ask sets its format; others build their own. */
static int event_cache_for(struct app *a, const struct waiter *w, size_t n)
{
	if (a->ev.valid)
		return !memcmp(&a->ev.out, &w->sub.out, sizeof w->sub.out);
	if (n > a->ev.cap) {
		a->ev.cap = n;
		a->ev.at = pl_xrealloc(a->ev.at, n * sizeof *a->ev.at);
	}
	memset(a->ev.at, 0, n * sizeof *a->ev.at);
	pl_buf_reset(&a->ev.text);
	a->ev.out = w->sub.out;
	a->ev.valid = 1;
	return 1;
}

/* Hand the new rows to one waiter. */
static void offer(struct app *a, struct waiter *w, const struct pl_result *tail, int64_t now_wall)
{
	struct pl_result mine;
	size_t first = 0, start = 0, last = 0, n = 0;
	int contiguous = 1, more = 0;
	int64_t cursor;

	if (w->backlog)
		return;         /* its next backlog page reads these too */
	while (first < tail->n && tail->rows[first].id <= w->cursor)
		first++;
	if (a->mode == PL_WAIT_STREAM) {
		/* Every new event of this stream in one write: at tens of
		 * thousands of messages a second, one record and one system
		 * call per wake instead of one per message. */
		int shared = event_cache_for(a, w, tail->n);
		/* A wake may read a burst of up to PL_ANSWER_BYTES; queued
		 * whole, it stays in memory for as long as the reader does not
		 * read, once per such stream. Past half the output bound the
		 * rest of it comes as a backlog instead, page by page as the
		 * reader takes them (a reader a little behind at the wake, as
		 * one keeping up under steady publishing often is, included);
		 * one that cannot take the first part is ended at the bound. */

		pl_buf_reset(&a->out);
		for (size_t i = first; i < tail->n; i++) {
			const struct pl_row *r = &tail->rows[i];

			if (!pl_filter_match(&w->sub.f, r, now_wall))
				continue;
			if (!shared) {
				pl_out_stream_msg(&a->out, &w->sub.out, r);
			} else {
				if (!a->ev.at[i].len) {
					a->ev.at[i].start = a->ev.text.len;
					pl_out_stream_msg(&a->ev.text, &w->sub.out, r);
					a->ev.at[i].len = a->ev.text.len - a->ev.at[i].start;
				}
				pl_buf_add(&a->out, a->ev.text.p + a->ev.at[i].start, a->ev.at[i].len);
			}
			note_got(a, w, r);
			w->sent = 1;
			if (i + 1 == tail->n ||
			    pl_loop_unsent(w->lr) + a->out.len <= PL_LOOP_OUT_MAX / 2)
				continue;
			if (pl_loop_write(w->lr, a->out.p, a->out.len) != 0) {
				stream_close(a, w);
				return;
			}
			pl_buf_reset(&a->out);
			if (pl_loop_unsent(w->lr) > 0) {
				backlog_after(w, r->id);    /* the rest from the store */
				return;
			}
		}
		if (a->out.len && pl_loop_write(w->lr, a->out.p, a->out.len) != 0) {
			/* Too far behind (or gone): end what was sent whole, with
			 * the format's end; the reader resumes from its last id. */
			stream_close(a, w);
			return;
		}
		if (tail->cursor > w->cursor)
			w->cursor = tail->cursor;
		return;
	}
	for (size_t i = first; i < tail->n; i++) {
		if (!pl_filter_match(&w->sub.f, &tail->rows[i], now_wall))
			continue;
		if (n == (size_t)w->sub.f.limit) {
			more = 1;
			break;
		}
		if (n == 0)
			start = i;
		else if (i != last + 1)
			contiguous = 0;
		last = i;
		n++;
		note_got(a, w, &tail->rows[i]);
	}
	if (n == 0) {
		if (tail->cursor > w->cursor)
			w->cursor = tail->cursor;
		if (w->gap)
			longpoll_empty(a, w);
		return;
	}
	more = more || tail->more;
	cursor = more ? tail->rows[last].id : tail->cursor;
	if (contiguous) {
		const struct pl_buf *body = cached_body(a, w, &tail->rows[start], n, cursor, more, tail->head);

		if (w->gz && !a->cache.gz_valid) {
			pl_gzip_piece(&a->cache.gz, body->p, body->len, 1);
			a->cache.gz_valid = 1;
		}
		longpoll_end(a, w, body->p, body->len, w->gz ? &a->cache.gz : NULL);
		return;
	}
	memset(&mine, 0, sizeof mine);
	for (size_t i = start; i <= last; i++)
		if (pl_filter_match(&w->sub.f, &tail->rows[i], now_wall))
			pl_result_add_copy(&mine, &tail->rows[i]);
	mine.head = tail->head;
	mine.cursor = cursor;
	mine.more = more;
	mine.gap = w->gap;
	longpoll_answer(a, w, &mine);
	pl_result_free(&mine);
}

static void pick(void *owner, void *ud)
{
	struct waiter *w = owner;
	struct app *a = ud;

	if (w->gen == a->gen)
		return;     /* several of its topics, or several rows */
	w->gen = a->gen;
	if (a->npicked == a->cappicked) {
		a->cappicked = a->cappicked ? a->cappicked * 2 : 256;
		a->picked = pl_xrealloc(a->picked, a->cappicked * sizeof *a->picked);
	}
	a->picked[a->npicked++] = w;
}

/* The long polls whose answer must now say "gap" (SPEC 10: the oldest
 * message kept is above cursor + 1), as a poll would: a request whose since
 * was an id that a purge or a delete has now passed (whether or not the
 * rows it took concerned the waiter: a poll at that id says "gap" too), and
 * any waiter whose next rows were purged before this process read them, so
 * that no row will ever tell it. A waiter's true cursor is the larger of its
 * own and seen (longpoll_empty()). The floor only rises when something is
 * deleted, so the walk over the waiters comes only then. Returns how many
 * were marked. */
static size_t mark_gaps(struct app *a)
{
	int64_t floor = a->tail.oldest ? a->tail.oldest - 1 : a->tail.head;
	size_t n = 0;

	if (a->mode != PL_WAIT_LONGPOLL || floor <= a->gap_floor)
		return 0;
	a->gap_floor = floor;
	for (struct waiter *w = a->waiters; w; w = w->next) {
		int64_t cur = true_cursor(a, w);
		int64_t since = w->sub.f.since == PL_SINCE_ID ? w->sub.f.since_id : 0;

		if (!w->gap && ((cur > 0 && floor > cur) || (since > 0 && floor > since))) {
			w->gap = 1;
			n++;
		}
	}
	return n;
}

/* The marked long polls that no new row answered: "gap" and the cursor. */
static void answer_gaps(struct app *a, size_t gaps)
{
	for (struct waiter *w = a->waiters, *next; gaps && w; w = next) {
		next = w->next;
		if (w->gap)
			longpoll_empty(a, w);
	}
}

static void on_wake(void *ud)
{
	struct app *a = ud;
	int64_t now_wall = pl_now_ms();
	size_t gaps;

	if (!a->waiters) {
		/* Idle: a connection kept to a deleted or replaced file holds
		 * its -shm, whose index then misleads every new connection to
		 * the file at the path (503 for everyone): let it go. */
		if (a->st && pl_store_moved(a->st))
			store_failed(a);
		return;
	}
	if (store_ready(a) != PL_OK)
		return;
	do {
		if (q(pl_store_tail(a->st, a->seen, TAIL_BATCH, &a->tail)) != PL_OK) {
			store_failed(a);
			return;
		}
		if (a->tail.head < a->seen) {
			/* The ids went backwards in the same file (sqlite3's
			 * .restore, a replaced file not yet noticed). */
			start_over(a, a->tail.head);
			break;
		}
		gaps = mark_gaps(a);
		if (a->tail.n == 0 && a->tail.cursor <= a->seen) {
			answer_gaps(a, gaps);   /* a purge or delete, nothing new */
			break;
		}
		a->cache.valid = 0;     /* the rows it points into are replaced */
		a->ev.valid = 0;
		a->gen++;
		a->npicked = 0;
		for (size_t i = 0; i < a->tail.n; i++)
			pl_tindex_each(&a->index, a->tail.rows[i].topic, pick, a);
		/* offer() may end the waiter it is given, never another: the
		 * loop's on_gone comes at the end of the turn. */
		for (size_t i = 0; i < a->npicked; i++)
			offer(a, a->picked[i], &a->tail, now_wall);
		a->cache.valid = 0;
		a->seen = a->tail.cursor;
		answer_gaps(a, gaps);
	} while (a->tail.more && a->waiters);
	flush_got(a);
}

static void on_timer(void *ud, struct pl_lreq *lr)
{
	struct app *a = ud;
	struct waiter *w = pl_lreq_data(lr);
	int64_t now = pl_loop_now_ms();
	int beat;

	if (!w)
		return;
	if (now >= w->end_ms) {
		waiter_finish(a, w);
		return;
	}
	beat = a->mode == PL_WAIT_STREAM && now >= w->beat_ms;
	if (w->backlog) {
		/* Its backlog flows as the reader takes it (on_drained): no
		 * sign of life is needed, and one page may hold the queue over
		 * the bound for a moment. */
		w->hb_ms = next_beat(a, w, now, beat);
		arm_timer(w);
		return;
	}
	pl_buf_reset(&a->out);
	if (beat) {
		pl_out_stream_heartbeat(&a->out, &w->sub.out);
	} else if (a->mode == PL_WAIT_STREAM) {
		pl_out_stream_keepalive(&a->out, &w->sub.out);
	} else if (!w->gz) {
		pl_buf_addc(&a->out, ' ');
	} else {
		if (!a->blank.size)
			pl_gzip_piece(&a->blank, " ", 1, 0);
		pl_gzip_add(&w->gzs, &a->out, &a->blank);
	}
	if (pl_loop_write(lr, a->out.p, a->out.len) != 0) {
		if (a->mode == PL_WAIT_STREAM)
			stream_close(a, w);
		else
			waiter_end(a, w);
		return;
	}
	w->hb_ms = next_beat(a, w, now, beat);
	arm_timer(w);
}

static void on_gone(void *ud, struct pl_lreq *lr)
{
	struct waiter *w = pl_lreq_data(lr);

	if (w)
		waiter_unlink(ud, w);
}

/* The client's FIN came through the web server: it left, or it only
 * half-closed and still reads. Either way the request ends now, with what
 * its timeout would have given (a long poll's cursor, a stream's end), so
 * that a half-closed client reads a whole answer, not a cut one. */
static void on_eof(void *ud, struct pl_lreq *lr)
{
	struct waiter *w = pl_lreq_data(lr);

	if (w)
		waiter_finish(ud, w);
}

static void on_shutdown(void *ud)
{
	struct app *a = ud;

	/* Deliver what committed up to now, then answer everyone. */
	on_wake(a);
	end_all(a);
}

/* Answer every held long poll with its cursor; end every stream. */
static void end_all(struct app *a)
{
	while (a->waiters)
		waiter_finish(a, a->waiters);
}

int pl_wait_main(enum pl_wait_mode mode, const char *name, int argc, char **argv)
{
	static struct app a;
	struct pl_loop_ops ops = {
		.on_request = on_request, .on_gone = on_gone, .on_eof = on_eof, .on_drained = on_drained, .on_wake = on_wake,
		.on_timer = on_timer, .on_shutdown = on_shutdown, .on_turn = on_turn,
	};
	struct pl_loop_conf lc;
	int rc;

	(void)argc;
	(void)argv;
	/* Run from a shell (a newcomer trying `longpoll --help`): say what the
	 * program is, as publish, poll and admin do, instead of answering an
	 * empty request with an HTTP 405 on the terminal and exit status 0. */
	if (pl_loop_by_hand()) {
		fprintf(stderr, "This is a FastCGI/CGI program: run it from a web server (see docs/deploy.md).\n");
		return 2;
	}
	a.mode = mode;
	a.conf_ok = pl_serve_conf(&a.conf, name) == PL_OK;
	memset(&lc, 0, sizeof lc);
	lc.db_path = a.conf_ok ? a.conf.db_path : NULL;
	lc.max_body = 64 * 1024;
	/* The loop's own refusal is plain JSON and comes before the request is
	 * parsed; on_request refuses in the asked format, with CORS, and lets a
	 * long poll with an answer ready through. The loop's limit only bounds
	 * what a burst can hold meanwhile. */
	lc.max_requests = a.conf.max_waiting > 0 ? a.conf.max_waiting + a.conf.max_waiting / 8 + 64 : 0;
	lc.fallback_ms = FALLBACK_MS;
	rc = pl_loop_run(&lc, &ops, &a);
	if (a.st)
		pl_store_mark_pending(a.st, &a.got, 1);
	pl_store_close(a.st);
	pl_result_free(&a.tail);
	pl_buf_free(&a.out);
	pl_buf_free(&a.cache.body);
	pl_gzip_piece_free(&a.cache.gz);
	pl_gzip_piece_free(&a.gz);
	pl_gzip_piece_free(&a.blank);
	pl_gzip_piece_free(&a.pre[0]);
	pl_gzip_piece_free(&a.pre[1]);
	pl_buf_free(&a.plain);
	pl_buf_free(&a.ev.text);
	free(a.ev.at);
	pl_marks_free(&a.got);
	free(a.picked);
	pl_tindex_free(&a.index);
	pl_conf_free(&a.conf);
	return rc == 0 ? 0 : 1;
}
