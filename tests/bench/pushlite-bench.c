/* pushlite-bench.c: request-rate and push-latency measurements for pushlite
 *
 *   pushlite-bench rate        closed-loop request rate over N keep-alive connections
 *   pushlite-bench fanout      N held long-poll (or SSE) subscribers, one publish,
 *                              time until each subscriber has the message
 *   pushlite-bench stream-rate messages per second one SSE stream carries while
 *                              publishers publish in a loop
 *
 * Design: one process, one libcurl multi handle driven by epoll through
 * curl_multi_socket_action(), so that thousands of held subscribers cost the
 * client work only for the sockets that are ready. Times are taken with
 * CLOCK_MONOTONIC in the write callback, the moment the bytes reach us.
 * Every figure is printed twice: as human text, and as one line of
 * "bench=MODE key=value ..." pairs for scripts to grep.
 *
 * Subscribers recognise the message they wait for by a marker: the publish
 * body is a template in which every "{m}" is replaced by a string unique to
 * the run and round (default body: "{m}"), and a subscriber counts as served
 * when that string arrives, whatever framing (JSON, SSE, raw) the server uses.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAT_MAX 64             /* longest marker */
#define SETTLE_BODY_MAX 65536  /* bytes of a stats answer kept for parsing */
#define NSTATUS 600            /* HTTP status codes tallied */
#define NCURLERR 128           /* CURLcode values tallied */

/* ---- small helpers ---------------------------------------------------- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("pushlite-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (!p)
		die("out of memory");
	return p;
}

/* CPU seconds (user + system) this process has used. */
static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long parse_long(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		die("%s: expected an integer in %ld..%ld, got '%s'", opt, lo, hi, s);
	return v;
}

static double parse_secs(const char *opt, const char *s, double lo, double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		die("%s: expected seconds in %g..%g, got '%s'", opt, lo, hi, s);
	return v;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0, got;

	if (!f)
		die("%s: %s", path, strerror(errno));
	do {
		if (cap - n < 65536) {
			cap = cap ? cap * 2 : 65536;
			buf = xrealloc(buf, cap + 1);
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	if (ferror(f))
		die("%s: read error", path);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Raise the soft descriptor limit to the hard one: each held subscriber is
 * one socket. Returns the limit in force. */
static long raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY ? -1 : (long)rl.rlim_cur;
}

/* ---- latency samples ---------------------------------------------------- */

struct samples {
	double *v;  /* milliseconds */
	size_t n, cap;
	int sorted;
};

static void samples_add(struct samples *s, double ms)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4096;
		s->v = xrealloc(s->v, s->cap * sizeof *s->v);
	}
	s->v[s->n++] = ms;
	s->sorted = 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile, p in 0..100; 0 when there are no samples. */
static double samples_pct(struct samples *s, double p)
{
	size_t rank;

	if (s->n == 0)
		return 0;
	if (!s->sorted) {
		qsort(s->v, s->n, sizeof *s->v, cmp_double);
		s->sorted = 1;
	}
	rank = (size_t)(p / 100.0 * (double)s->n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return s->v[rank - 1];
}

static void samples_free(struct samples *s)
{
	free(s->v);
	memset(s, 0, sizeof *s);
}

/* ---- marker search (Knuth-Morris-Pratt, fed chunk by chunk) --------------- */

struct pattern {
	char s[PAT_MAX + 1];
	size_t len;
	size_t fail[PAT_MAX];
};

static void pattern_set(struct pattern *p, const char *s)
{
	size_t i, k = 0;

	p->len = strlen(s);
	if (p->len == 0 || p->len > PAT_MAX)
		die("marker length out of range");
	memcpy(p->s, s, p->len + 1);
	p->fail[0] = 0;
	for (i = 1; i < p->len; i++) {
		while (k > 0 && s[i] != s[k])
			k = p->fail[k - 1];
		if (s[i] == s[k])
			k++;
		p->fail[i] = k;
	}
}

/* Feed n bytes; *state carries a partial match across calls. Returns matches. */
static long pattern_feed(const struct pattern *p, size_t *state, const char *buf, size_t n)
{
	size_t i, k = *state;
	long hits = 0;

	for (i = 0; i < n; i++) {
		while (k > 0 && buf[i] != p->s[k])
			k = p->fail[k - 1];
		if (buf[i] == p->s[k])
			k++;
		if (k == p->len) {
			hits++;
			k = p->fail[k - 1];
		}
	}
	*state = k;
	return hits;
}

static int at_marker(const char *tpl, size_t tpl_len, size_t i)
{
	return i + 2 < tpl_len && tpl[i] == '{' && tpl[i + 1] == 'm' && tpl[i + 2] == '}';
}

/* Replace every "{m}" in tpl (tpl_len bytes) by marker. Caller frees. */
static char *expand(const char *tpl, size_t tpl_len, const char *marker, size_t *out_len)
{
	size_t mlen = strlen(marker), n = 0, i, count = 0;
	char *out;

	for (i = 0; i < tpl_len; i++)
		count += at_marker(tpl, tpl_len, i);
	out = xcalloc(1, tpl_len + count * mlen + 1);
	for (i = 0; i < tpl_len; i++) {
		if (at_marker(tpl, tpl_len, i)) {
			memcpy(out + n, marker, mlen);
			n += mlen;
			i += 2;
		} else {
			out[n++] = tpl[i];
		}
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}

/* ---- options ----------------------------------------------------------- */

struct opts {
	const char *mode;
	const char *label;
	/* rate */
	const char *url, *method;
	const char *during;              /* measure only while this command runs */
	struct curl_slist *headers;
	char *data;
	size_t data_len;
	int has_data;
	long conns, msgs_per_req;
	double seconds, warmup, timeout;
	/* fanout, stream-rate */
	const char *sub_url, *pub_url, *settle_url, *settle_key, *on_settled;
	struct curl_slist *sub_headers, *pub_headers, *settle_headers;
	char *pub_data;
	size_t pub_data_len;
	long subs, rounds, settle_count, connect_batch;
	long idle;                       /* stream-rate: streams held on other topics */
	const char *idle_url;
	double settle, settle_timeout, round_timeout, drain;
	int sse, quiet, sub_gzip;
};

static void usage(FILE *f)
{
	fputs(
"usage: pushlite-bench rate --url URL [--method M] [--header H]... [--data S | --data-file F]\n"
"                      [--conns N] [--seconds S] [--warmup S] [--msgs-per-req K] [--label L]\n"
"                      [--during CMD]\n"
"       pushlite-bench fanout --sub-url URL --pub-url URL [--sse] [--sub-gzip] [--subs N] [--rounds R]\n"
"                      [--sub-header H]... [--pub-header H]... [--pub-data S | --pub-data-file F]\n"
"                      [--settle-url URL [--settle-header H]... [--settle-key K] [--settle-count N]]\n"
"                      [--settle S] [--settle-timeout S] [--round-timeout S] [--connect-batch N]\n"
"                      [--on-settled CMD] [--label L]\n"
"       pushlite-bench stream-rate --sub-url URL --pub-url URL [--sub-header H]... [--pub-header H]...\n"
"                      [--pub-data S | --pub-data-file F] [--msgs-per-req K] [--conns N] [--seconds S]\n"
"                      [--settle-url URL ...] [--settle S] [--drain S] [--label L]\n"
"                      [--idle N --idle-url PREFIX]\n"
"       (--during: run CMD with /bin/sh after the warm-up and measure until it exits,\n"
"        instead of for --seconds; requests started before it exited count;\n"
"        its run time and exit status are reported)\n"
"       (--drain: after publishing, wait until no message arrived for S seconds, default 5;\n"
"        --idle: hold N more streams, PREFIX0 .. PREFIX(N-1), while measuring)\n"
"\n"
"In publish bodies every {m} is replaced by a marker unique to the run (and round, and\n"
"message for stream-rate); subscribers are served when the marker arrives.\n"
"Output: human text, and one line per figure starting with 'bench=' of key=value pairs.\n",
	      f);
}

static struct curl_slist *slist_add(struct curl_slist *l, const char *s)
{
	struct curl_slist *n = curl_slist_append(l, s);

	if (!n)
		die("out of memory");
	return n;
}

static void parse_opts(struct opts *o, int argc, char **argv)
{
	int i;

	memset(o, 0, sizeof *o);
	o->mode = argv[1];
	o->label = "";
	o->conns = 1;
	o->msgs_per_req = 1;
	o->seconds = 5;
	o->warmup = 0.5;
	o->timeout = 30;
	o->subs = 100;
	o->rounds = 3;
	o->settle = 0.5;
	o->settle_timeout = 30;
	o->round_timeout = 30;
	o->drain = 5;
	o->connect_batch = 256;
	o->settle_key = "waiting";
	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int takes = 1;

		if (!strcmp(a, "--sse")) {
			o->sse = 1;
			takes = 0;
		} else if (!strcmp(a, "--sub-gzip")) {
			o->sub_gzip = 1;
			takes = 0;
		} else if (!strcmp(a, "--quiet")) {
			o->quiet = 1;
			takes = 0;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		} else if (!v) {
			die("%s: missing value (or unknown option)", a);
		} else if (!strcmp(a, "--url")) {
			o->url = v;
		} else if (!strcmp(a, "--during")) {
			o->during = v;
		} else if (!strcmp(a, "--method")) {
			o->method = v;
		} else if (!strcmp(a, "--header")) {
			o->headers = slist_add(o->headers, v);
		} else if (!strcmp(a, "--data")) {
			o->data = strdup(v);
			o->data_len = strlen(v);
			o->has_data = 1;
		} else if (!strcmp(a, "--data-file")) {
			o->data = read_file(v, &o->data_len);
			o->has_data = 1;
		} else if (!strcmp(a, "--conns")) {
			o->conns = parse_long(a, v, 1, 10000);
		} else if (!strcmp(a, "--seconds")) {
			o->seconds = parse_secs(a, v, 0.1, 3600);
		} else if (!strcmp(a, "--warmup")) {
			o->warmup = parse_secs(a, v, 0, 600);
		} else if (!strcmp(a, "--timeout")) {
			o->timeout = parse_secs(a, v, 0.1, 3600);
		} else if (!strcmp(a, "--msgs-per-req")) {
			o->msgs_per_req = parse_long(a, v, 1, 1000000);
		} else if (!strcmp(a, "--label")) {
			o->label = v;
		} else if (!strcmp(a, "--sub-url")) {
			o->sub_url = v;
		} else if (!strcmp(a, "--pub-url")) {
			o->pub_url = v;
		} else if (!strcmp(a, "--sub-header")) {
			o->sub_headers = slist_add(o->sub_headers, v);
		} else if (!strcmp(a, "--pub-header")) {
			o->pub_headers = slist_add(o->pub_headers, v);
		} else if (!strcmp(a, "--pub-data")) {
			o->pub_data = strdup(v);
			o->pub_data_len = strlen(v);
		} else if (!strcmp(a, "--pub-data-file")) {
			o->pub_data = read_file(v, &o->pub_data_len);
		} else if (!strcmp(a, "--subs")) {
			o->subs = parse_long(a, v, 1, 1000000);
		} else if (!strcmp(a, "--rounds")) {
			o->rounds = parse_long(a, v, 1, 100000);
		} else if (!strcmp(a, "--settle-url")) {
			o->settle_url = v;
		} else if (!strcmp(a, "--settle-header")) {
			o->settle_headers = slist_add(o->settle_headers, v);
		} else if (!strcmp(a, "--settle-key")) {
			o->settle_key = v;
		} else if (!strcmp(a, "--settle-count")) {
			o->settle_count = parse_long(a, v, 0, 100000000);
		} else if (!strcmp(a, "--settle")) {
			o->settle = parse_secs(a, v, 0, 600);
		} else if (!strcmp(a, "--settle-timeout")) {
			o->settle_timeout = parse_secs(a, v, 0, 3600);
		} else if (!strcmp(a, "--round-timeout")) {
			o->round_timeout = parse_secs(a, v, 0.1, 3600);
		} else if (!strcmp(a, "--drain")) {
			o->drain = parse_secs(a, v, 0, 3600);
		} else if (!strcmp(a, "--connect-batch")) {
			o->connect_batch = parse_long(a, v, 1, 1000000);
		} else if (!strcmp(a, "--idle")) {
			o->idle = parse_long(a, v, 0, 100000);
		} else if (!strcmp(a, "--idle-url")) {
			o->idle_url = v;
		} else if (!strcmp(a, "--on-settled")) {
			o->on_settled = v;
		} else {
			die("unknown option %s (see --help)", a);
		}
		i += takes;
	}
	if (!o->pub_data) {
		o->pub_data = strdup("{m}");
		o->pub_data_len = 3;
	}
	if (!o->data)
		o->data = strdup("");
	if (!o->data || !o->pub_data)
		die("out of memory");
	/* A body of some kilobytes must not wait for "100 Continue". */
	o->headers = slist_add(o->headers, "Expect:");
	o->pub_headers = slist_add(o->pub_headers, "Expect:");
	if (!strcmp(o->mode, "stream-rate"))
		o->sse = 1;
	if (o->sse)
		o->sub_headers = slist_add(o->sub_headers, "Accept: text/event-stream");
}

/* ---- transfers and the event loop ---------------------------------------- */

enum xkind { X_REQ, X_SUB, X_PUB, X_SETTLE, X_IDLE };

struct xfer {
	CURL *h;
	enum xkind kind;
	int active;                   /* added to the multi handle */
	int sent;                     /* request about to go out (prereq callback) */
	int finished;                 /* transfer completed (subscribers) */
	CURLcode res;
	long status;
	double t_start, t_mark, t_end;
	const struct pattern *pat;    /* marker searched in the answer, or NULL */
	size_t pat_state;
	long hits;
	int count_all;                /* count every marker hit (stream) */
	long *hit_sink;               /* where hits are added, if set */
	double *last_hit;             /* time of the latest hit, if set */
	char *body;                   /* X_SETTLE: kept answer */
	size_t body_len;
	size_t bytes;
	char *post;                   /* X_PUB: owned body */
	int track_id;                 /* remember the last SSE "id:" line */
	char line[80];                /* the start of the SSE line being read */
	size_t line_len;
	char last_id[64];             /* value of the last "id:" line, "" if none */
};

struct loop {
	CURLM *multi;
	int ep;
	double deadline;   /* when libcurl wants its timeout action; < 0: none */
};

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct loop *l = userp;
	struct epoll_event ev;

	(void)e;
	memset(&ev, 0, sizeof ev);
	ev.data.fd = s;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(l->ep, EPOLL_CTL_DEL, s, NULL);  /* may be closed already */
		curl_multi_assign(l->multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev.events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev.events |= EPOLLOUT;
	if (socketp) {
		if (epoll_ctl(l->ep, EPOLL_CTL_MOD, s, &ev) != 0 && errno == ENOENT)
			epoll_ctl(l->ep, EPOLL_CTL_ADD, s, &ev);
	} else {
		if (epoll_ctl(l->ep, EPOLL_CTL_ADD, s, &ev) != 0 && errno == EEXIST)
			epoll_ctl(l->ep, EPOLL_CTL_MOD, s, &ev);
		curl_multi_assign(l->multi, s, (void *)l);
	}
	return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	struct loop *l = userp;

	(void)m;
	l->deadline = timeout_ms < 0 ? -1 : now_s() + (double)timeout_ms / 1000.0;
	return 0;
}

/* Follow SSE lines and keep the value of the last "id:" one, as EventSource
 * does, so that a stream that ends can be resumed with Last-Event-ID. Lines
 * longer than the buffer are only looked at for their start. */
static void track_sse_id(struct xfer *x, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] != '\n') {
			if (x->line_len < sizeof x->line - 1)
				x->line[x->line_len] = p[i];
			x->line_len++;
			continue;
		}
		if (x->line_len > 3 && x->line_len < sizeof x->line - 1 &&
		    !strncmp(x->line, "id:", 3)) {
			const char *v = x->line + 3;
			size_t len = x->line_len - 3;

			if (*v == ' ') {
				v++;
				len--;
			}
			if (len > 0 && v[len - 1] == '\r')
				len--;
			if (len < sizeof x->last_id) {
				memcpy(x->last_id, v, len);
				x->last_id[len] = '\0';
			}
		}
		x->line_len = 0;
	}
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userp)
{
	struct xfer *x = userp;
	size_t n = size * nmemb;

	x->bytes += n;
	if (x->track_id)
		track_sse_id(x, ptr, n);
	if (x->pat) {
		long hits = pattern_feed(x->pat, &x->pat_state, ptr, n);

		if (hits > 0) {
			double t = now_s();

			if (x->t_mark == 0)
				x->t_mark = t;
			x->hits += hits;
			if (x->hit_sink)
				*x->hit_sink += hits;
			if (x->last_hit)
				*x->last_hit = t;
		}
	}
	if (x->kind == X_SETTLE && x->body_len + n <= SETTLE_BODY_MAX) {
		x->body = xrealloc(x->body, x->body_len + n + 1);
		memcpy(x->body + x->body_len, ptr, n);
		x->body_len += n;
		x->body[x->body_len] = '\0';
	}
	return n;
}

static int prereq_cb(void *userp, char *ip, char *local_ip, int port, int local_port)
{
	struct xfer *x = userp;

	(void)ip;
	(void)local_ip;
	(void)port;
	(void)local_port;
	x->sent = 1;
	return CURL_PREREQFUNC_OK;
}

static void loop_init(struct loop *l, long maxconnects)
{
	l->multi = curl_multi_init();
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	l->deadline = -1;
	if (!l->multi || l->ep < 0)
		die("cannot set up curl multi / epoll");
	curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
	curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
	curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, maxconnects);
}

static void loop_free(struct loop *l)
{
	curl_multi_cleanup(l->multi);
	close(l->ep);
}

static void xfer_add(struct loop *l, struct xfer *x)
{
	CURLMcode mc;

	x->t_start = now_s();
	x->t_mark = 0;
	x->t_end = 0;
	x->pat_state = 0;
	x->hits = 0;
	x->sent = 0;
	x->finished = 0;
	x->status = 0;
	x->res = CURLE_OK;
	x->bytes = 0;
	x->body_len = 0;
	mc = curl_multi_add_handle(l->multi, x->h);
	if (mc != CURLM_OK)
		die("curl_multi_add_handle: %s", curl_multi_strerror(mc));
	x->active = 1;
}

static void xfer_remove(struct loop *l, struct xfer *x)
{
	if (x->active)
		curl_multi_remove_handle(l->multi, x->h);
	x->active = 0;
}

static void easy_setup(struct xfer *x, enum xkind kind, const char *url,
		       struct curl_slist *hdrs, double timeout)
{
	x->kind = kind;
	x->h = curl_easy_init();
	if (!x->h)
		die("curl_easy_init failed");
	curl_easy_setopt(x->h, CURLOPT_URL, url);
	curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->h, CURLOPT_PREREQFUNCTION, prereq_cb);
	curl_easy_setopt(x->h, CURLOPT_PREREQDATA, x);
	curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	if (timeout > 0)
		curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
	if (hdrs)
		curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, hdrs);
}

/* Set method and body. body NULL and method NULL: GET. The body is copied. */
static void easy_body(CURL *h, const char *method, const char *body, size_t len)
{
	if (method && !strcmp(method, "GET") && !body) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		return;
	}
	if (body || (method && !strcmp(method, "POST"))) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
		curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, body ? body : "");
	}
	if (method && strcmp(method, "GET") && strcmp(method, "POST"))
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
}

typedef void (*done_fn)(void *ctx, struct xfer *x, double now);

/* Wait at most max_wait seconds for socket activity or libcurl's timer, let
 * libcurl act, then pass every finished transfer (status, result and t_end
 * filled in) to done(), which decides when to remove it from the multi handle:
 * libcurl 7.88's curl_multi_remove_handle() walks every cached connection, so
 * removing thousands of answered subscribers while others are still being
 * answered would make the client, not the server, the bottleneck. */
static void loop_step(struct loop *l, double max_wait, done_fn done, void *ctx)
{
	struct epoll_event evs[512];
	double t = now_s(), wait = max_wait;
	int n, i, running, pending;
	CURLMsg *m;

	if (l->deadline >= 0 && l->deadline - t < wait)
		wait = l->deadline - t;
	if (wait < 0)
		wait = 0;
	n = epoll_wait(l->ep, evs, (int)(sizeof evs / sizeof evs[0]), (int)(wait * 1000 + 0.999));
	if (n < 0 && errno != EINTR)
		die("epoll_wait: %s", strerror(errno));
	for (i = 0; i < n; i++) {
		int flags = 0;

		if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			flags |= CURL_CSELECT_IN;
		if (evs[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			flags |= CURL_CSELECT_OUT;
		if (evs[i].events & EPOLLERR)
			flags |= CURL_CSELECT_ERR;
		curl_multi_socket_action(l->multi, evs[i].data.fd, flags, &running);
	}
	if (l->deadline >= 0 && now_s() >= l->deadline) {
		l->deadline = -1;
		curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	while ((m = curl_multi_info_read(l->multi, &pending)) != NULL) {
		struct xfer *x;
		CURL *h = m->easy_handle;
		CURLcode res = m->data.result;
		char *priv = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(h, CURLINFO_PRIVATE, &priv);
		x = (struct xfer *)priv;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->status);
		x->res = res;
		x->finished = 1;
		x->t_end = now_s();
		done(ctx, x, x->t_end);
	}
}

/* ---- result tallies --------------------------------------------------------- */

struct tally {
	long status[NSTATUS];
	long curl_err[NCURLERR];
	long count, errors, non2xx;
	CURLcode first_err;
};

static void tally_add(struct tally *t, CURLcode res, long status)
{
	t->count++;
	if (res != CURLE_OK) {
		t->errors++;
		if (!t->first_err)
			t->first_err = res;
		if ((int)res >= 0 && (int)res < NCURLERR)
			t->curl_err[res]++;
		return;
	}
	if (status >= 0 && status < NSTATUS)
		t->status[status]++;
	if (status < 200 || status > 299)
		t->non2xx++;
}

/* Print " status_NNN=count" pairs (kv) or " NNN:count" (human), then the
 * first transfer error. */
static void tally_print_status(const struct tally *t, FILE *f, int kv)
{
	int s;

	for (s = 0; s < NSTATUS; s++)
		if (t->status[s])
			fprintf(f, kv ? " status_%d=%ld" : " %d:%ld", s, t->status[s]);
	if (t->errors && kv)
		fprintf(f, " curl_error=%d", (int)t->first_err);
	else if (t->errors)
		fprintf(f, "; %ld transfer errors, first: %s", t->errors,
			curl_easy_strerror(t->first_err));
}

/* ---- rate ------------------------------------------------------------------ */

struct rate_ctx {
	struct loop *loop;
	double t_win, t_end;
	long inflight;
	struct tally tally;
	struct samples lat;
	/* stream-rate: publishers rebuild their body before every request */
	const struct opts *o;
	int expand_marker;
	const char *marker_prefix;
	long seq;
	long published_ok, pub_in_window;
	double t_last_pub;
	long over_100ms;        /* answers that took longer than 100 ms */
	/* --during: the command's process, and how it ended */
	pid_t child;
	int child_status;
};

static void pub_set_body(struct rate_ctx *c, struct xfer *x)
{
	char marker[PAT_MAX + 1];
	size_t len;
	char *body;

	snprintf(marker, sizeof marker, "%s%ld_", c->marker_prefix, c->seq++);
	body = expand(c->o->pub_data, c->o->pub_data_len, marker, &len);
	easy_body(x->h, "POST", body, len);
	free(body);
}

static void rate_done(void *vctx, struct xfer *x, double now)
{
	struct rate_ctx *c = vctx;

	xfer_remove(c->loop, x);
	c->inflight--;
	if (x->status >= 200 && x->status <= 299 && x->res == CURLE_OK) {
		c->published_ok++;
		c->t_last_pub = now;
	}
	/* With --during the window ends when the command does: a request it
	 * held up is answered only after that, and must count. */
	if (now >= c->t_win && (c->child ? x->t_start <= c->t_end : now <= c->t_end)) {
		tally_add(&c->tally, x->res, x->status);
		samples_add(&c->lat, (now - x->t_start) * 1000.0);
		if (now - x->t_start > 0.1)
			c->over_100ms++;
		if (x->status >= 200 && x->status <= 299 && x->res == CURLE_OK)
			c->pub_in_window++;
	}
	if (now < c->t_end) {
		if (c->expand_marker)
			pub_set_body(c, x);
		xfer_add(c->loop, x);
		c->inflight++;
	}
}

/* Start `sh -c cmd` with stdout on stderr (the figures own stdout). */
static pid_t spawn_sh(const char *cmd)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(2, 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Closed loop: each of n transfers starts its next request as soon as its
 * previous one is answered, until t_end; answers between t_win and t_end count.
 * during: a command started at t_win whose exit sets t_end instead. */
static void rate_drive(struct rate_ctx *c, struct xfer *xs, long n, double warmup, double seconds,
		       const char *during)
{
	double t0 = now_s();
	long i;

	c->t_win = t0 + warmup;
	c->t_end = during ? t0 + 1e9 : c->t_win + seconds;
	for (i = 0; i < n; i++) {
		if (c->expand_marker)
			pub_set_body(c, &xs[i]);
		xfer_add(c->loop, &xs[i]);
		c->inflight++;
	}
	while (c->inflight > 0 && now_s() < c->t_end + 30) {
		/* Short steps while a command runs: its end is looked for
		 * between them, and the window must not outlast it by much. */
		loop_step(c->loop, during ? 0.005 : 0.1, rate_done, c);
		if (during && !c->child && now_s() >= c->t_win)
			c->child = spawn_sh(during);
		if (c->child && c->t_end > t0 + 1e8 && waitpid(c->child, &c->child_status, WNOHANG) == c->child)
			c->t_end = now_s();
	}
	for (i = 0; i < n; i++)
		xfer_remove(c->loop, &xs[i]);
}

static void print_rate(const struct opts *o, struct rate_ctx *c, const char *mode)
{
	double rps = (double)(c->tally.count - c->tally.errors) / o->seconds;  /* answers */
	double p50 = samples_pct(&c->lat, 50), p99 = samples_pct(&c->lat, 99);
	double pmax = samples_pct(&c->lat, 100);

	printf("%s%s%s: %.0f req/s", mode, *o->label ? " " : "", o->label, rps);
	if (o->msgs_per_req > 1)
		printf(" = %.0f msg/s (%ld per request)", rps * (double)o->msgs_per_req, o->msgs_per_req);
	printf(", %ld conns, %.1f s, p50 %.2f ms, p99 %.2f ms, max %.2f ms, %ld over 100 ms, answers",
	       o->conns, o->seconds, p50, p99, pmax, c->over_100ms);
	tally_print_status(&c->tally, stdout, 0);
	if (o->during)
		printf("; during: %s, %s %d", o->during,
		       WIFEXITED(c->child_status) ? "exit" : "signal",
		       WIFEXITED(c->child_status) ? WEXITSTATUS(c->child_status) : WTERMSIG(c->child_status));
	printf("\n");
	printf("bench=%s label=%s conns=%ld seconds=%.2f answers=%ld rps=%.1f msgs_per_req=%ld "
	       "msgs_per_s=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f errors=%ld non2xx=%ld",
	       mode, *o->label ? o->label : "-", o->conns, o->seconds,
	       c->tally.count - c->tally.errors, rps, o->msgs_per_req,
	       rps * (double)o->msgs_per_req, p50, p99, pmax, c->tally.errors, c->tally.non2xx);
	printf(" over_100ms=%ld", c->over_100ms);
	if (o->during)
		printf(" during_exit=%d", WIFEXITED(c->child_status) ? WEXITSTATUS(c->child_status)
								  : 128 + WTERMSIG(c->child_status));
	tally_print_status(&c->tally, stdout, 1);
	printf("\n");
	fflush(stdout);
}

static int run_rate(struct opts *o)
{
	struct loop l;
	struct rate_ctx c;
	struct xfer *xs;
	long i;

	if (!o->url)
		die("rate: --url is required");
	raise_nofile();
	loop_init(&l, o->conns + 16);
	memset(&c, 0, sizeof c);
	c.loop = &l;
	c.o = o;
	xs = xcalloc((size_t)o->conns, sizeof *xs);
	for (i = 0; i < o->conns; i++) {
		easy_setup(&xs[i], X_REQ, o->url, o->headers, o->timeout);
		easy_body(xs[i].h, o->method, o->has_data ? o->data : NULL, o->data_len);
	}
	rate_drive(&c, xs, o->conns, o->warmup, o->seconds, o->during);
	if (o->during) {
		if (!c.child || c.t_end > c.t_win + 1e8)
			die("rate: the --during command did not end within the run");
		o->seconds = c.t_end - c.t_win;
	}
	print_rate(o, &c, "rate");
	for (i = 0; i < o->conns; i++)
		curl_easy_cleanup(xs[i].h);
	free(xs);
	samples_free(&c.lat);
	loop_free(&l);
	return 0;
}

/* ---- settling: wait until the server holds every subscriber ------------------ */

/* Find "key" followed by optional quote, blanks, ':' or '=', blanks, then an
 * integer, in JSON ("waiting":12) or text ("subscribers: 12"). -1 if absent. */
static long find_count(const char *body, const char *key)
{
	size_t klen = strlen(key);
	const char *p = body;

	while (body && (p = strstr(p, key)) != NULL) {
		const char *q = p + klen;
		char *end;
		long v;

		p = q;
		if (*q == '"')
			q++;
		while (*q == ' ' || *q == '\t')
			q++;
		if (*q != ':' && *q != '=')
			continue;
		q++;
		while (*q == ' ' || *q == '\t')
			q++;
		errno = 0;
		v = strtol(q, &end, 10);
		if (!errno && end != q)
			return v;
	}
	return -1;
}

struct fan_ctx {
	const struct opts *o;
	struct loop *loop;
	struct xfer *subs, pub, settle;
	long nsubs, next_add;
	double t_pub;
	int published;
	long settle_value;
	long early;                      /* subscribers answered before the publish */
	long stream_hits;                /* stream-rate: markers seen */
	double stream_last_hit;
	struct rate_ctx *rate;           /* stream-rate: publishers */
	int resume;                      /* stream-rate: reconnect an ended stream */
	long reconnects, empty_reconnects;
	struct curl_slist *resume_headers;
};

/* The stream ended (a server may end a stream whose reader fell behind, or at
 * its maximum time): reconnect as EventSource would, with Last-Event-ID. */
static void stream_resume(struct fan_ctx *c, struct xfer *x)
{
	struct curl_slist *h = NULL, *i;
	char hdr[96];

	xfer_remove(c->loop, x);
	if (x->res != CURLE_OK && x->res != CURLE_PARTIAL_FILE && x->res != CURLE_RECV_ERROR)
		return;                  /* refused or unreachable: leave it ended */
	if (x->status != 200)
		return;                  /* as EventSource: only a 200 stream reconnects */
	c->empty_reconnects = x->hits ? 0 : c->empty_reconnects + 1;
	if (c->empty_reconnects > 10)
		return;                  /* ends at once, again and again: give up */
	for (i = c->o->sub_headers; i; i = i->next)
		h = slist_add(h, i->data);
	if (x->last_id[0]) {
		snprintf(hdr, sizeof hdr, "Last-Event-ID: %s", x->last_id);
		h = slist_add(h, hdr);
	}
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, h);
	curl_slist_free_all(c->resume_headers);  /* the handle is idle: safe */
	c->resume_headers = h;
	x->line_len = 0;
	xfer_add(c->loop, x);
	c->reconnects++;
}

static void fan_done(void *vctx, struct xfer *x, double now)
{
	struct fan_ctx *c = vctx;

	(void)now;
	if (x->kind == X_SETTLE) {
		xfer_remove(c->loop, x);
		c->settle_value = (x->res == CURLE_OK && x->status == 200)
			? find_count(x->body, c->o->settle_key) : -1;
	} else if (x->kind == X_SUB && c->resume) {
		stream_resume(c, x);
	} else if (x->kind == X_SUB && !c->published) {
		c->early++;
	} else if (x->kind == X_REQ && c->rate) {
		rate_done(c->rate, x, now);
	}
}

static long count_sent(const struct fan_ctx *c)
{
	long i, n = 0;

	for (i = 0; i < c->nsubs; i++)
		n += c->subs[i].sent || c->subs[i].finished;
	return n;
}

/* Add the subscribers that are not in the multi handle and have not answered
 * yet, keeping at most connect_batch of them connecting at a time so that the
 * server's listen backlog is never flooded. */
static void add_some(struct fan_ctx *c)
{
	long connecting = 0, i;

	for (i = 0; i < c->nsubs; i++)
		connecting += c->subs[i].active && !c->subs[i].sent && !c->subs[i].finished;
	for (; c->next_add < c->nsubs && connecting < c->o->connect_batch; c->next_add++) {
		struct xfer *x = &c->subs[c->next_add];

		if (!x->active && !x->finished) {
			xfer_add(c->loop, x);
			connecting++;
		}
	}
}

/* Returns 1 when the settle condition was met, 0 on timeout. */
static int settle(struct fan_ctx *c, long want)
{
	const struct opts *o = c->o;
	double deadline = now_s() + o->settle_timeout, next_poll = 0, t;
	int ok = 0;

	while ((t = now_s()) < deadline) {
		add_some(c);
		if (count_sent(c) >= c->nsubs) {
			ok = 1;
			break;
		}
		loop_step(c->loop, 0.05, fan_done, c);
	}
	if (ok && o->settle_url) {
		ok = 0;
		c->settle_value = -1;
		while ((t = now_s()) < deadline) {
			if (c->settle_value >= want) {
				ok = 1;
				break;
			}
			if (!c->settle.active && t >= next_poll) {
				xfer_add(c->loop, &c->settle);
				next_poll = t + 0.1;
			}
			loop_step(c->loop, 0.05, fan_done, c);
		}
	}
	t = now_s() + o->settle;
	while (now_s() < t)
		loop_step(c->loop, 0.05, fan_done, c);
	if (c->settle.active)
		xfer_remove(c->loop, &c->settle);
	if (o->on_settled && system(o->on_settled) != 0 && !o->quiet)
		fprintf(stderr, "pushlite-bench: --on-settled command failed\n");
	return ok;
}

static void fan_setup(struct fan_ctx *c, struct opts *o, struct loop *l, long nsubs)
{
	long i;

	memset(c, 0, sizeof *c);
	c->o = o;
	c->loop = l;
	c->nsubs = nsubs;
	c->subs = xcalloc((size_t)nsubs, sizeof *c->subs);
	for (i = 0; i < nsubs; i++) {
		easy_setup(&c->subs[i], X_SUB, o->sub_url, o->sub_headers, 0);
		/* libcurl asks for gzip and decodes before the marker search */
		if (o->sub_gzip)
			curl_easy_setopt(c->subs[i].h, CURLOPT_ACCEPT_ENCODING, "gzip");
	}
	easy_setup(&c->pub, X_PUB, o->pub_url, o->pub_headers, o->timeout);
	if (o->settle_url)
		easy_setup(&c->settle, X_SETTLE, o->settle_url, o->settle_headers, 5);
}

static void fan_free(struct fan_ctx *c)
{
	long i;

	for (i = 0; i < c->nsubs; i++) {
		xfer_remove(c->loop, &c->subs[i]);
		curl_easy_cleanup(c->subs[i].h);
	}
	xfer_remove(c->loop, &c->pub);
	curl_easy_cleanup(c->pub.h);
	if (c->settle.h) {
		xfer_remove(c->loop, &c->settle);
		curl_easy_cleanup(c->settle.h);
		free(c->settle.body);
	}
	free(c->subs);
}

/* ---- fanout ------------------------------------------------------------------ */

struct round_result {
	long answered, missed, early, failed, no_marker;
	double p50, p99, max, pub_ms;
	double client_cpu_ms;            /* our own CPU time from publish to the end */
	long pub_status;
	int settled;
};

static void fan_round(struct fan_ctx *c, long round, struct samples *all, struct round_result *r)
{
	const struct opts *o = c->o;
	struct pattern pat;
	char marker[PAT_MAX + 1];
	struct samples lat = {0};
	double deadline;
	size_t blen;
	char *body;
	long i, want = o->settle_count ? o->settle_count : c->nsubs;

	memset(r, 0, sizeof *r);
	snprintf(marker, sizeof marker, "plb%ldr%ldx%lx", (long)getpid(), round,
		 (unsigned long)(now_s() * 1e6) & 0xffffff);
	pattern_set(&pat, marker);
	c->published = 0;
	c->early = 0;
	c->next_add = 0;
	for (i = 0; i < c->nsubs; i++) {
		struct xfer *x = &c->subs[i];

		/* an SSE stream still open from the last round stays as it is */
		x->pat = &pat;
		x->pat_state = 0;
		x->t_mark = 0;
		x->hits = 0;
		if (!x->active) {
			x->finished = 0;
			x->sent = 0;
		}
	}
	r->settled = settle(c, want);

	body = expand(o->pub_data, o->pub_data_len, marker, &blen);
	easy_body(c->pub.h, "POST", body, blen);
	free(body);
	c->published = 1;
	r->client_cpu_ms = cpu_s();
	xfer_add(c->loop, &c->pub);
	c->t_pub = c->pub.t_start;
	deadline = c->t_pub + o->round_timeout;
	for (;;) {
		long waiting = 0;

		for (i = 0; i < c->nsubs; i++) {
			const struct xfer *x = &c->subs[i];

			/* a long-poll answer counts once complete; a stream once marked */
			if (x->active && !x->finished && (!o->sse || x->t_mark == 0))
				waiting++;
		}
		if ((waiting == 0 && c->pub.finished) || now_s() > deadline)
			break;
		loop_step(c->loop, 0.05, fan_done, c);
	}
	r->client_cpu_ms = (cpu_s() - r->client_cpu_ms) * 1000;
	r->pub_ms = c->pub.finished ? (c->pub.t_end - c->t_pub) * 1000 : -1;
	r->pub_status = c->pub.status;
	xfer_remove(c->loop, &c->pub);
	r->early = c->early;
	for (i = 0; i < c->nsubs; i++) {
		struct xfer *x = &c->subs[i];

		if (x->t_mark > 0 && x->t_mark >= c->t_pub) {
			r->answered++;
			samples_add(&lat, (x->t_mark - c->t_pub) * 1000);
			samples_add(all, (x->t_mark - c->t_pub) * 1000);
		} else if (x->finished && x->t_end < c->t_pub) {
			/* counted in early */
		} else if (x->finished && (x->res != CURLE_OK || x->status < 200 || x->status > 299)) {
			r->failed++;
		} else if (x->finished) {
			r->no_marker++;
		} else {
			r->missed++;
		}
		if (!o->sse || x->t_mark == 0 || x->finished)
			xfer_remove(c->loop, x);  /* next round subscribes afresh */
		x->pat = NULL;
	}
	r->p50 = samples_pct(&lat, 50);
	r->p99 = samples_pct(&lat, 99);
	r->max = samples_pct(&lat, 100);
	samples_free(&lat);
}

static int run_fanout(struct opts *o)
{
	struct loop l;
	struct fan_ctx c;
	struct samples all = {0}, maxes = {0}, p50s = {0}, p99s = {0};
	struct round_result r;
	long nofile, round, answered = 0, errors = 0, unsettled = 0;
	const char *kind = o->sse ? "sse" : "longpoll";

	if (!o->sub_url || !o->pub_url)
		die("fanout: --sub-url and --pub-url are required");
	nofile = raise_nofile();
	if (nofile > 0 && o->subs + 64 > nofile)
		die("fanout: %ld subscribers need more than the %ld descriptors allowed", o->subs, nofile);
	loop_init(&l, o->subs + 16);
	fan_setup(&c, o, &l, o->subs);
	for (round = 0; round < o->rounds; round++) {
		fan_round(&c, round, &all, &r);
		if (r.answered > 0) {  /* a round nobody answered has no delays */
			samples_add(&maxes, r.max);
			samples_add(&p50s, r.p50);
			samples_add(&p99s, r.p99);
		}
		answered += r.answered;
		errors += o->subs - r.answered;
		unsettled += !r.settled;
		if (!o->quiet)
			printf("fanout %s %s round %ld: %ld/%ld answered, p50 %.1f ms, p99 %.1f ms, "
			       "all %.1f ms; publish answered %ld in %.1f ms; early %ld, failed %ld, "
			       "no marker %ld, missed %ld; client CPU %.0f ms%s\n",
			       kind, o->label, round + 1, r.answered, o->subs, r.p50, r.p99, r.max,
			       r.pub_status, r.pub_ms, r.early, r.failed, r.no_marker, r.missed,
			       r.client_cpu_ms, r.settled ? "" : " (settle condition not met)");
		printf("bench=fanout-round label=%s kind=%s subs=%ld round=%ld answered=%ld "
		       "p50_ms=%.3f p99_ms=%.3f all_ms=%.3f pub_status=%ld pub_ms=%.3f early=%ld "
		       "failed=%ld no_marker=%ld missed=%ld settled=%d client_cpu_ms=%.1f\n",
		       *o->label ? o->label : "-", kind, o->subs, round + 1, r.answered, r.p50, r.p99,
		       r.max, r.pub_status, r.pub_ms, r.early, r.failed, r.no_marker, r.missed,
		       r.settled, r.client_cpu_ms);
		fflush(stdout);
	}
	/* Headline figures are medians over rounds, so that one round disturbed
	 * by something else on the machine does not decide them; the pooled
	 * percentiles over every answer of every round and the worst round
	 * are printed too. */
	printf("fanout %s %s: %ld subscribers x %ld rounds, medians over rounds: p50 %.1f ms, "
	       "p99 %.1f ms, all delivered %.1f ms; pooled p50 %.1f ms, p99 %.1f ms; worst round "
	       "all delivered %.1f ms; answered %ld, errors %ld\n",
	       kind, o->label, o->subs, o->rounds, samples_pct(&p50s, 50), samples_pct(&p99s, 50),
	       samples_pct(&maxes, 50), samples_pct(&all, 50), samples_pct(&all, 99),
	       samples_pct(&maxes, 100), answered, errors);
	printf("bench=fanout label=%s kind=%s subs=%ld rounds=%ld", *o->label ? o->label : "-",
	       kind, o->subs, o->rounds);
	if (answered > 0)
		printf(" p50_ms=%.3f p99_ms=%.3f all_ms=%.3f pooled_p50_ms=%.3f pooled_p99_ms=%.3f "
		       "all_worst_ms=%.3f", samples_pct(&p50s, 50), samples_pct(&p99s, 50),
		       samples_pct(&maxes, 50), samples_pct(&all, 50), samples_pct(&all, 99),
		       samples_pct(&maxes, 100));
	printf(" answered=%ld errors=%ld unsettled_rounds=%ld\n", answered, errors, unsettled);
	fflush(stdout);
	fan_free(&c);
	samples_free(&all);
	samples_free(&maxes);
	samples_free(&p50s);
	samples_free(&p99s);
	loop_free(&l);
	return 0;
}

/* ---- stream-rate -------------------------------------------------------------- */

static int run_stream_rate(struct opts *o)
{
	struct loop l;
	struct fan_ctx c;
	struct rate_ctx rc;
	struct pattern pat;
	struct xfer *pubs;
	char prefix[PAT_MAX + 1];
	double t0, t_pub_end, drain_end, carried_s;
	long i, expected, in_window_hits = 0, idle_open = 0;
	int settled;
	struct xfer *idle = NULL;

	if (!o->sub_url || !o->pub_url)
		die("stream-rate: --sub-url and --pub-url are required");
	if (o->idle && !o->idle_url)
		die("stream-rate: --idle needs --idle-url");
	raise_nofile();
	loop_init(&l, o->conns + 16 + o->idle);
	o->subs = 1;
	fan_setup(&c, o, &l, 1);
	if (o->idle) {
		/* Streams on topics nobody publishes to: what each publish costs
		 * the server besides the one stream that matters. */
		double deadline = now_s() + 60;
		long added = 0;

		idle = xcalloc((size_t)o->idle, sizeof *idle);
		for (i = 0; i < o->idle; i++) {
			char url[2048];

			snprintf(url, sizeof url, "%s%ld", o->idle_url, i);
			easy_setup(&idle[i], X_IDLE, url, o->sub_headers, 0);
		}
		while (now_s() < deadline) {
			long connecting = 0;

			idle_open = 0;
			for (i = 0; i < added; i++) {
				idle_open += idle[i].bytes > 0 && !idle[i].finished;
				connecting += idle[i].active && !idle[i].finished && idle[i].bytes == 0;
			}
			if (idle_open == o->idle)
				break;
			for (; added < o->idle && connecting < o->connect_batch; added++, connecting++)
				xfer_add(&l, &idle[added]);
			loop_step(&l, 0.05, fan_done, &c);
		}
		printf("stream-rate %s: %ld of %ld idle streams open\n", o->label, idle_open, o->idle);
	}
	snprintf(prefix, sizeof prefix, "plbs%ldn", (long)getpid());
	pattern_set(&pat, prefix);
	c.subs[0].pat = &pat;
	c.subs[0].hit_sink = &c.stream_hits;
	c.subs[0].last_hit = &c.stream_last_hit;
	c.subs[0].track_id = 1;
	settled = settle(&c, o->settle_count ? o->settle_count : 1);
	if (c.subs[0].finished)
		die("stream-rate: the stream ended before publishing started (status %ld, %s)",
		    c.subs[0].status, curl_easy_strerror(c.subs[0].res));
	c.stream_hits = 0;
	c.resume = 1;

	memset(&rc, 0, sizeof rc);
	rc.loop = &l;
	rc.o = o;
	rc.expand_marker = 1;
	rc.marker_prefix = prefix;
	c.rate = &rc;
	pubs = xcalloc((size_t)o->conns, sizeof *pubs);
	for (i = 0; i < o->conns; i++)
		easy_setup(&pubs[i], X_REQ, o->pub_url, o->pub_headers, o->timeout);

	/* rate_drive() with the stream held in the same loop: fan_done passes
	 * publisher answers on to rate_done(). */
	t0 = now_s();
	rc.t_win = t0;
	rc.t_end = t0 + o->seconds;
	for (i = 0; i < o->conns; i++) {
		pub_set_body(&rc, &pubs[i]);
		xfer_add(&l, &pubs[i]);
		rc.inflight++;
	}
	while (now_s() < rc.t_end)
		loop_step(&l, 0.05, fan_done, &c);
	in_window_hits = c.stream_hits;
	while (rc.inflight > 0 && now_s() < rc.t_end + 30)
		loop_step(&l, 0.05, fan_done, &c);
	t_pub_end = now_s();
	expected = rc.published_ok * o->msgs_per_req;
	/* Drain: wait while messages still arrive, until none came for --drain s. */
	drain_end = now_s() + o->drain;
	for (;;) {
		long before = c.stream_hits;

		if (c.stream_hits >= expected || !c.subs[0].active || now_s() >= drain_end)
			break;
		loop_step(&l, 0.05, fan_done, &c);
		if (c.stream_hits > before)
			drain_end = now_s() + o->drain;
	}
	carried_s = (c.stream_last_hit > t0 ? c.stream_last_hit : t_pub_end) - t0;
	c.resume = 0;

	printf("stream-rate %s: published %.0f msg/s (%ld conns, %ld per request, %.1f s); "
	       "the stream carried %.0f msg/s during publishing, %.0f msg/s overall; "
	       "received %ld of %ld, %ld reconnections with Last-Event-ID%s\n",
	       o->label, (double)rc.pub_in_window * (double)o->msgs_per_req / o->seconds,
	       o->conns, o->msgs_per_req, o->seconds, (double)in_window_hits / o->seconds,
	       carried_s > 0 ? (double)c.stream_hits / carried_s : 0, c.stream_hits, expected,
	       c.reconnects, c.subs[0].active ? "" : " (stream ended)");
	printf("bench=stream-rate label=%s conns=%ld msgs_per_req=%ld seconds=%.2f "
	       "pub_msgs_per_s=%.1f msgs_per_s=%.1f overall_msgs_per_s=%.1f received=%ld "
	       "published=%ld missing=%ld reconnects=%ld stream_open=%d settled=%d pub_errors=%ld "
	       "pub_non2xx=%ld\n",
	       *o->label ? o->label : "-", o->conns, o->msgs_per_req, o->seconds,
	       (double)rc.pub_in_window * (double)o->msgs_per_req / o->seconds,
	       (double)in_window_hits / o->seconds,
	       carried_s > 0 ? (double)c.stream_hits / carried_s : 0, c.stream_hits, expected,
	       expected > c.stream_hits ? expected - c.stream_hits : 0, c.reconnects,
	       c.subs[0].active, settled, rc.tally.errors, rc.tally.non2xx);
	if (o->idle) {
		long still = 0;

		for (i = 0; i < o->idle; i++) {
			still += idle[i].active && !idle[i].finished;
			xfer_remove(&l, &idle[i]);
			curl_easy_cleanup(idle[i].h);
		}
		free(idle);
		printf("bench=stream-idle label=%s idle=%ld idle_open=%ld idle_still_open=%ld\n",
		       *o->label ? o->label : "-", o->idle, idle_open, still);
	}
	fflush(stdout);
	for (i = 0; i < o->conns; i++) {
		xfer_remove(&l, &pubs[i]);
		curl_easy_cleanup(pubs[i].h);
	}
	free(pubs);
	samples_free(&rc.lat);
	fan_free(&c);
	curl_slist_free_all(c.resume_headers);
	loop_free(&l);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	int rc;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		die("curl_global_init failed");
	parse_opts(&o, argc, argv);
	if (!strcmp(o.mode, "rate"))
		rc = run_rate(&o);
	else if (!strcmp(o.mode, "fanout"))
		rc = run_fanout(&o);
	else if (!strcmp(o.mode, "stream-rate"))
		rc = run_stream_rate(&o);
	else {
		usage(stderr);
		rc = 2;
	}
	curl_slist_free_all(o.headers);
	curl_slist_free_all(o.sub_headers);
	curl_slist_free_all(o.pub_headers);
	curl_slist_free_all(o.settle_headers);
	free(o.data);
	free(o.pub_data);
	curl_global_cleanup();
	return rc;
}
