/* pl_serve.c: the request/answer programs: publish, poll and admin.
 *
 * FastCGI: publish and poll run on the event loop (pl_loop.h; see "poll and
 * publish on the event loop" below). admin runs a small pool of threads,
 * each with its own SQLite connection, each blocking in FCGX_Accept_r.
 * Signals are taken by the main thread with sigwait(), after FCGX_Init(),
 * so libfcgi's own handling does not keep a backend alive after the web
 * server asked it to go: on SIGTERM or SIGUSR1 requests in progress finish
 * and the process exits. Plain CGI (stdin is not
 * a socket): one request from the environment, stdin and stdout. */
#include "pl_first.h"

#include <errno.h>
#include <fcgiapp.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pl_admin.h"
#include "pl_fcgi.h"
#include "pl_group.h"
#include "pl_http.h"
#include "pl_log.h"
#include "pl_loop.h"
#include "pl_out.h"
#include "pl_poll.h"
#include "pl_publish.h"
#include "pl_serve.h"

#define DEFAULT_THREADS 8
#define MAX_THREADS 256

extern char **environ;

struct app {
	enum pl_prog prog;
	struct pl_conf conf;
	int conf_ok;
	atomic_int busy;
	/* The thread pool's one connection, taken in turn: SQLite gives every
	 * connection of a process to one file the same -shm, so an idle
	 * thread's connection to a deleted one would keep the others' new
	 * connections on it too (pl_store.c: they are refused meanwhile). */
	pthread_mutex_t st_mu;
	struct pl_store *st;
};

void pl_serve_finish(const struct pl_req *r, struct pl_resp *resp, struct pl_buf *out)
{
	pl_resp_header(resp, "Cache-Control", "no-store");
	if (r && pl_req_method_is(r, "HEAD"))
		pl_buf_reset(&resp->body);
	pl_resp_serialize(resp, out);
}

int pl_serve_conf(struct pl_conf *c, const char *name)
{
	char err[512];

	pl_log_init(name);
	if (pl_conf_load_env(c, err, sizeof err) != PL_OK) {
		pl_log_conf_err("configuration: %s", err);
		return PL_ECONF;
	}
	return PL_OK;
}

const struct pl_outopt *pl_serve_early_format(const struct pl_req *r, int query_rc, struct pl_outopt *eo)
{
	const char *q;

	if (!r)
		return NULL;
	if (query_rc == PL_OK) {
		pl_sub_error_format(r, eo);
		return eo;
	}
	q = pl_req_env(r, "QUERY_STRING");
	return q && pl_sub_raw_format(q, eo) == PL_OK ? eo : NULL;
}

static void too_large(const struct pl_conf *c, const struct pl_req *r, int query_rc, struct pl_resp *resp)
{
	struct pl_outopt eo;
	char msg[128];

	snprintf(msg, sizeof msg, "the body is larger than %zu bytes", c->max_body);
	pl_out_error(resp, pl_serve_early_format(r, query_rc, &eo), PL_ETOOBIG, NULL, msg, 0);
}

/* A Transfer-Encoding the programs read: none, "chunked" or "identity". */
static int te_known(const char *te)
{
	size_t n;

	if (!te)
		return 1;
	te += strspn(te, " \t");
	n = strlen(te);
	while (n && (te[n - 1] == ' ' || te[n - 1] == '\t'))
		n--;
	return n == 0 || (n == 7 && !strncasecmp(te, "chunked", 7)) || (n == 8 && !strncasecmp(te, "identity", 8));
}

int pl_serve_refuse(const struct pl_conf *c, int conf_ok, const struct pl_req *r, int query_rc,
		    struct pl_resp *resp)
{
	const char *content_length = r ? pl_req_env(r, "CONTENT_LENGTH") : NULL;
	struct pl_outopt eo;
	int64_t len = 0;

	if (!conf_ok) {
		pl_out_error(resp, pl_serve_early_format(r, query_rc, &eo), PL_ECONF, "config",
			     "the server's pushlite configuration is unusable "
			     "(the programs log the file and line on their standard error)", 0);
		return 1;
	}
	if (r && !te_known(pl_req_env(r, "HTTP_TRANSFER_ENCODING"))) {
		/* Apache passes "gzip, chunked" on, the body merely dechunked:
		 * refused as lighttpd refuses it, not read as something else. */
		pl_out_error(resp, pl_serve_early_format(r, query_rc, &eo), PL_EINVAL, "not_implemented",
			     "this transfer coding is not supported: send a body as it is, with Content-Length or "
			     "chunked", 0);
		if (eo.fmt != PL_FMT_JSONP)
			resp->status = 501;
		return 1;
	}
	if (content_length && *content_length) {
		if (strspn(content_length, "0123456789") != strlen(content_length)) {
			pl_out_error(resp, NULL, PL_EINVAL, NULL, "Content-Length is not a number of bytes", 0);
			return 1;
		}
		/* Digits only: a number too large to read is too large. */
		if (pl_int_parse(content_length, 0, INT64_MAX, &len) != PL_OK || len > (int64_t)c->max_body) {
			too_large(c, r, query_rc, resp);
			return 1;
		}
	}
	if (query_rc != PL_OK) {
		pl_out_error(resp, pl_serve_early_format(r, query_rc, &eo), PL_EINVAL, NULL,
			     "the query string is too long, badly %-encoded, not UTF-8, or holds a NUL (%00)", 0);
		return 1;
	}
	return 0;
}

int pl_serve_wrong_path(const struct pl_req *r, const char *name, struct pl_resp *resp)
{
	const char *pi = pl_req_env(r, "PATH_INFO"), *at = NULL;
	char path[1024], seg[64];
	size_t n;
	int k;
	struct pl_outopt eo;

	/* The last "/NAME" in the path must end it, or end it with a CGI
	 * script's extension: "/push/poll", "/cgi-bin/poll.cgi"; not
	 * "/push/pollx", "/push/poll/x", "/push/poll.json" (lighttpd's prefix
	 * match hands those here too). A program installed under another name
	 * is not second-guessed. */
	k = snprintf(seg, sizeof seg, "/%s", name);
	if (k < 0 || (size_t)k >= sizeof seg)
		return 0;       /* a program name of ours: cannot happen */
	n = (size_t)k;
	/* A path too long to read whole is not this endpoint's. */
	if (pl_req_path(r, path, sizeof path) == PL_OK) {
		for (const char *p = path; (p = strstr(p, seg)); p++)
			at = p;
		if ((!pi || !*pi) && (!at || at[n] == '\0' || pl_http_cgi_ext(at + n, strlen(at + n))))
			return 0;
	}
	pl_sub_error_format(r, &eo);
	pl_out_error(resp, &eo, PL_ENOTFOUND, NULL,
		     PL_MSG_NO_ENDPOINT, 0);
	return 1;
}

/* The checks every request gets before its program's handler; 1 when resp
 * holds the answer. Opens *st on demand. */
static int handle_pre(struct app *a, struct pl_store **st, const struct pl_req *r, int qrc, int cut,
		      int big, struct pl_resp *resp)
{
	if ((a->prog != PL_PROG_ADMIN &&
	     pl_serve_wrong_path(r, a->prog == PL_PROG_PUBLISH ? "publish" : "poll", resp)) ||
	    pl_serve_refuse(&a->conf, a->conf_ok, r, qrc, resp)) {
		if (a->conf_ok)
			pl_http_cors_error(&a->conf, r, resp);
		return 1;
	}
	if (big) {   /* more came than max_body; the length may not have said so */
		too_large(&a->conf, r, qrc, resp);
		if (a->conf_ok)
			pl_http_cors_error(&a->conf, r, resp);
		return 1;
	}
	if (cut) {
		/* The client went away mid-upload: what came is not the message. */
		pl_out_error(resp, NULL, PL_EINVAL, NULL,
			     "the body ended before its Content-Length: nothing was stored", 0);
		return 1;
	}
	/* A store that cannot open is NULL: each handler answers 503 in the
	 * format its request asked for. Publish commits through pl_group's
	 * writer, which opens its own (st NULL). */
	if (!st)
		return 0;
	if (*st && pl_store_moved(*st)) {
		pl_store_close(*st);     /* the operator recreated the database */
		*st = NULL;
	}
	if (!*st)
		pl_store_open(st, &a->conf);
	return 0;
}

/* A connection that failed may be stale (file replaced): start afresh. */
static void handle_post(struct pl_store **st, const struct pl_resp *resp)
{
	if (st && resp->status == 503 && *st) {
		pl_store_close(*st);
		*st = NULL;
	}
}

/* Run one request. store is opened on demand and reopened after failures,
 * so that a database that comes back (disk freed, file restored) is used. */
static void handle(struct app *a, struct pl_store **st, char **env, const char *body, size_t len, int cut,
		   int big, struct pl_buf *out, struct pl_result *got)
{
	struct pl_req r;
	struct pl_resp resp;
	int qrc = pl_req_init(&r, env, body, len);

	pl_resp_init(&resp);
	if (!handle_pre(a, a->prog == PL_PROG_PUBLISH ? NULL : st, &r, qrc, cut, big, &resp)) {
		switch (a->prog) {
		case PL_PROG_PUBLISH:
			pl_publish_handle(&a->conf, &r, &resp);
			break;
		case PL_PROG_POLL:
			pl_poll_handle(&a->conf, *st, &r, &resp, got);
			break;
		case PL_PROG_ADMIN:
			pl_admin_handle(&a->conf, *st, &r, &resp);
			break;
		}
		handle_post(st, &resp);
	}
	pl_serve_finish(&r, &resp, out);
	pl_resp_free(&resp);
	pl_req_free(&r);
}

/* Read the body of CONTENT_LENGTH bytes (none when over max: refused
 * before it is read). *cut is 1 when the input ended before all came. */
static char *read_body(FCGX_Stream *in, const char *clen, size_t max, size_t *len, int *cut)
{
	int64_t want = 0;
	char *buf;
	size_t got = 0;

	*len = 0;
	*cut = 0;
	if (!clen || pl_int_parse(clen, 0, INT64_MAX, &want) != PL_OK || want == 0 || (uint64_t)want > max)
		return pl_xcalloc(1, 1);
	buf = pl_xmalloc((size_t)want + 1);
	while (got < (size_t)want) {
		int n = FCGX_GetStr(buf + got, (int)((size_t)want - got), in);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*len = got;
	*cut = got < (size_t)want;
	return buf;
}

static void *worker(void *arg)
{
	struct app *a = arg;
	struct pl_buf out = { 0 };
	struct pl_result got;
	FCGX_Request req;

	memset(&got, 0, sizeof got);
	FCGX_InitRequest(&req, 0, 0);
	while (FCGX_Accept_r(&req) >= 0) {
		size_t len;
		char *body;
		int cut;

		atomic_fetch_add(&a->busy, 1);
		body = read_body(req.in, pl_fcgi_env_get(req.envp, "CONTENT_LENGTH"), a->conf.max_body, &len, &cut);
		pl_buf_reset(&out);
		pl_result_reset(&got);
		pthread_mutex_lock(&a->st_mu);
		handle(a, &a->st, req.envp, body, len, cut, 0, &out, &got);
		pthread_mutex_unlock(&a->st_mu);
		/* In pieces: a list of 1,000 large messages can pass INT_MAX. */
		for (size_t off = 0; off < out.len;) {
			size_t k = out.len - off < INT_MAX ? out.len - off : INT_MAX;

			if (FCGX_PutStr(out.p + off, (int)k, req.out) < 0)
				break;
			off += k;
		}
		FCGX_Finish_r(&req);
		/* First deliveries are recorded after the answer is on its way. */
		if (got.ngot) {
			pthread_mutex_lock(&a->st_mu);
			if (a->st)
				pl_store_mark_got(a->st, got.got, got.ngot, pl_now_ms());
			pthread_mutex_unlock(&a->st_mu);
		}
		free(body);
		atomic_fetch_sub(&a->busy, 1);
	}
	pl_buf_free(&out);
	pl_result_free(&got);
	return NULL;
}

static int serve_cgi(struct app *a)
{
	struct pl_store *st = NULL;
	struct pl_buf out = { 0 };
	struct pl_result got;
	size_t len;
	char *body;
	int cut, big;

	if (!getenv("REQUEST_METHOD")) {
		fprintf(stderr, "This is a FastCGI/CGI program: run it from a web server (see docs/deploy.md).\n");
		return 2;
	}
	memset(&got, 0, sizeof got);
	pl_group_inline();
	body = pl_req_cgi_body(0, getenv("CONTENT_LENGTH"), getenv("HTTP_TRANSFER_ENCODING"), a->conf.max_body,
			       &len, &big, &cut);
	handle(a, &st, environ, body, len, cut, big, &out, &got);
	fwrite(out.p, 1, out.len, stdout);
	/* The web server has the whole answer once stdout is closed, so a
	 * write lock held elsewhere delays only this process's exit. */
	fclose(stdout);
	if (got.ngot && st)
		pl_store_mark_got(st, got.got, got.ngot, pl_now_ms());
	free(body);
	pl_buf_free(&out);
	pl_result_free(&got);
	pl_store_close(st);
	pl_group_close();
	return 0;
}

/* ---- poll and publish on the event loop ----
 *
 * A poll is answered at once from one query and never waits, so it needs no
 * thread of its own: one loop per process serves every connection the web
 * server opens to it, and a request costs no thread hand-off (on this kind
 * of virtual machine the context switches of a thread pool cost more than
 * the query). Publish gathers the requests that arrive together: each is
 * checked and parsed as it comes (pl_publish_begin), and once the loop has
 * read everything ready, all of them are committed in one transaction
 * (pl_group_commit) and answered, 201 only after that commit. A lone
 * publish commits at once; under load a commit carries as many publishes as
 * came while the last one ran, which is what synchronous=FULL needs. Admin
 * is rare and keeps the thread pool. */

struct pend {
	struct pl_lreq *lr;     /* NULL: the client left; not committed */
	struct pl_req r;        /* the messages point into its input */
	struct pl_resp resp;
	struct pl_pub *p;
};

struct loop_app {
	struct app *a;
	struct pl_store *st;
	struct pl_buf out;
	struct pl_result got;
	struct pend **pend;     /* publishes waiting for this turn's commit */
	size_t npend, cappend;
	struct pl_msgv *v;      /* their messages and results: cappend each */
	int *rcs;
	struct pl_marks marks;  /* poll: first deliveries not recorded yet */
};

static int body_cut(char **env, size_t len)
{
	const char *clen = pl_fcgi_env_get(env, "CONTENT_LENGTH");
	int64_t want = 0;

	return clen && pl_int_parse(clen, 0, INT64_MAX, &want) == PL_OK && (uint64_t)want > len;
}

static void loop_answer(struct loop_app *l, struct pl_lreq *lr, const struct pl_req *r, struct pl_resp *resp)
{
	pl_buf_reset(&l->out);
	pl_serve_finish(r, resp, &l->out);
	pl_loop_end_with(lr, l->out.p, l->out.len);
}

static void publish_request(struct loop_app *l, struct pl_lreq *lr, char **env, const char *body, size_t len,
			    int big)
{
	struct pend *pd = pl_xcalloc(1, sizeof *pd);
	int qrc = pl_req_init(&pd->r, env, body ? body : "", len);

	pd->lr = lr;
	pl_resp_init(&pd->resp);
	if (!handle_pre(l->a, NULL, &pd->r, qrc, body_cut(env, len), big, &pd->resp) &&
	    (pd->p = pl_publish_begin(&l->a->conf, &pd->r, &pd->resp))) {
		if (l->npend == l->cappend) {
			l->cappend = l->cappend ? l->cappend * 2 : 64;
			l->pend = pl_xrealloc(l->pend, l->cappend * sizeof *l->pend);
			l->v = pl_xrealloc(l->v, l->cappend * sizeof *l->v);
			l->rcs = pl_xrealloc(l->rcs, l->cappend * sizeof *l->rcs);
		}
		l->pend[l->npend++] = pd;
		pl_lreq_set_data(lr, pd);
		return;
	}
	loop_answer(l, lr, &pd->r, &pd->resp);
	pl_resp_free(&pd->resp);
	pl_req_free(&pd->r);
	free(pd);
}

/* The loop read everything ready: commit the gathered publishes together;
 * record the first deliveries of the turn's polls in one transaction. */
static void loop_turn(void *ud)
{
	struct loop_app *l = ud;
	size_t n = 0;

	/* Without waiting: the next requests of this process would wait too. */
	if (l->marks.n && l->st && pl_store_mark_pending(l->st, &l->marks, 0) == PL_EBUSY)
		pl_loop_turn_in(PL_MARKS_RETRY_MS);
	if (!l->npend)
		return;
	for (size_t i = 0; i < l->npend; i++)
		if (l->pend[i]->lr) {
			l->v[n].m = pl_pub_msgs(l->pend[i]->p, &l->v[n].n);
			n++;
		}
	pl_group_commit(&l->a->conf, l->v, n, l->rcs);
	n = 0;
	for (size_t i = 0; i < l->npend; i++) {
		struct pend *pd = l->pend[i];

		if (pd->lr) {
			pl_publish_end(&l->a->conf, pd->p, l->rcs[n++], &pd->resp);
			pl_lreq_set_data(pd->lr, NULL);
			loop_answer(l, pd->lr, &pd->r, &pd->resp);
		} else {
			pl_publish_cancel(pd->p);
		}
		pl_resp_free(&pd->resp);
		pl_req_free(&pd->r);
		free(pd);
	}
	l->npend = 0;
}

static void loop_request(void *ud, struct pl_lreq *lr, char **env, const char *body, size_t len, int big)
{
	struct loop_app *l = ud;

	if (l->a->prog == PL_PROG_PUBLISH) {
		publish_request(l, lr, env, body, len, big);
		return;
	}
	pl_buf_reset(&l->out);
	pl_result_reset(&l->got);
	handle(l->a, &l->st, env, body ? body : "", len, body_cut(env, len), big, &l->out, &l->got);
	pl_loop_end_with(lr, l->out.p, l->out.len);
	/* First deliveries are recorded after the answer is on its way, at the
	 * end of the turn, with those of the turn's other polls. */
	if (l->got.ngot)
		pl_marks_add(&l->marks, l->got.got, l->got.ngot, pl_now_ms());
}

static void loop_gone(void *ud, struct pl_lreq *lr)
{
	struct pend *pd = pl_lreq_data(lr);

	/* A publish whose client left before its commit: its input goes with
	 * the request, so it is not stored (the client had no 201). */
	(void)ud;
	if (pd)
		pd->lr = NULL;
}

static int serve_loop(struct app *a)
{
	struct loop_app l = { .a = a };
	struct pl_loop_ops ops = {
		.on_request = loop_request, .on_gone = loop_gone, .on_turn = loop_turn,
		/* On SIGTERM: what was gathered is committed and answered. */
		.on_shutdown = loop_turn,
	};
	struct pl_loop_conf lc;
	int rc;

	memset(&lc, 0, sizeof lc);
	lc.max_body = a->conf_ok ? a->conf.max_body : 64 * 1024;
	rc = pl_loop_run(&lc, &ops, &l);
	loop_turn(&l);
	if (l.st)
		pl_store_mark_pending(l.st, &l.marks, 1);
	pl_group_close();
	pl_store_close(l.st);
	pl_buf_free(&l.out);
	pl_result_free(&l.got);
	free(l.pend);
	free(l.v);
	free(l.rcs);
	pl_marks_free(&l.marks);
	return rc == 0 ? 0 : 1;
}

int pl_serve_main(enum pl_prog prog, const char *name, int argc, char **argv)
{
	static struct app a;
	pthread_t tids[MAX_THREADS];
	pthread_attr_t attr;
	sigset_t set;
	int64_t nthreads = DEFAULT_THREADS;
	const char *t = getenv("PUSHLITE_THREADS");
	int sig, started = 0;

	(void)argc;
	(void)argv;
	a.prog = prog;
	a.conf_ok = pl_serve_conf(&a.conf, name) == PL_OK;
	if (FCGX_IsCGI()) {
		int rc = serve_cgi(&a);
		pl_conf_free(&a.conf);
		return rc;
	}
	if (prog == PL_PROG_POLL || prog == PL_PROG_PUBLISH) {
		int rc = serve_loop(&a);
		pl_conf_free(&a.conf);
		return rc;
	}
	pthread_mutex_init(&a.st_mu, NULL);
	if (t && pl_int_parse(t, 1, MAX_THREADS, &nthreads) != PL_OK) {
		pl_log_err("PUSHLITE_THREADS must be 1-%d", MAX_THREADS);
		return 1;
	}
	if (FCGX_Init() != 0) {
		pl_log_err("FCGX_Init failed");
		return 1;
	}
	/* Block the stop signals in every thread; main takes them below. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&tids[i], &attr, worker, &a) == 0)
			started++;
	pthread_attr_destroy(&attr);
	if (!started) {
		pl_log_err("no worker thread could start");
		return 1;
	}
	do {
		if (sigwait(&set, &sig) != 0)
			sig = SIGTERM;
	} while (sig == SIGHUP);
	FCGX_ShutdownPending();
	/* Let requests in progress finish, briefly; idle workers sit in
	 * accept() and simply end with the process. */
	for (int i = 0; i < 100 && atomic_load(&a.busy) > 0; i++)
		usleep(50 * 1000);
	/* The configuration stays: idle workers may still hold pointers into it. */
	return 0;
}
