/* pl-load.c: load and bookkeeping driver for the reliability tests.
 *
 *   pl-load publish URL TOKEN TOPIC CONC SECONDS OUT [QUERY]
 *       CONC keep-alive connections publish text in a closed loop for
 *       SECONDS. Each body is unique ("TAG-c<conn>-<seq>"). OUT gets one line
 *       per answer:  "ok ID BODY" for a 201, "st STATUS RA BODY-SNIPPET" for
 *       any other status (RA: 1 when Retry-After was sent, 0 if not), and
 *       "net CURLCODE" when no answer came (connection reset, timeout).
 *       QUERY is appended to the publish URL (e.g. "ttl=30d").
 *       SIGTERM ends the run early the same way: no new requests, the ones
 *       in flight are answered and written, then the summary. A test whose
 *       steps take as long as the server needs (a respawn) runs the driver
 *       with a generous SECONDS and stops it when its steps are done.
 *
 *   pl-load follow URL TOPIC SUBS SINCE SECONDS OUTPREFIX STOPFILE
 *       SUBS long-poll subscribers, each following its own cursor from
 *       SINCE. Each writes the ids it received, one a line, to OUTPREFIX.N.
 *       Once STOPFILE exists (it holds the newest id published), each keeps
 *       asking until its cursor reaches that id, then stops. SECONDS bounds
 *       the whole run (a subscriber still short of the id then is reported).
 *       A subscriber checks as it goes that ids only ascend and the cursor
 *       never goes back.
 *
 * Both print one summary line "key=value ..." on stdout; tests grep it.
 * One process, one curl multi handle; no threads. Targets 127.0.0.1 only.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define NSTATUS 600

struct conn {
	CURL *h;
	struct curl_slist *hdrs;
	char *buf;             /* response body */
	size_t len, cap;
	int retry_after;       /* a Retry-After header came */
	int n;                 /* connection / subscriber number */
	long seq;              /* publish: sequence number */
	char body[96];         /* publish: body sent */
	/* follow */
	long long cursor, last_id, received;
	FILE *ids;
	int done, bad;
};

static volatile sig_atomic_t stop_asked;

static void on_term(int sig)
{
	(void)sig;
	stop_asked = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *m)
{
	fprintf(stderr, "pl-load: %s\n", m);
	exit(2);
}

static size_t on_body(char *p, size_t sz, size_t nm, void *u)
{
	struct conn *c = u;
	size_t n = sz * nm;

	if (c->len + n + 1 > c->cap) {
		c->cap = (c->len + n + 1) * 2;
		c->buf = realloc(c->buf, c->cap);
		if (!c->buf)
			die("out of memory");
	}
	memcpy(c->buf + c->len, p, n);
	c->len += n;
	c->buf[c->len] = '\0';
	return n;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *u)
{
	struct conn *c = u;
	size_t n = sz * nm;

	if (n >= 12 && !strncasecmp(p, "Retry-After:", 12))
		c->retry_after = 1;
	return n;
}

static void conn_reset(struct conn *c)
{
	c->len = 0;
	if (c->buf)
		c->buf[0] = '\0';
	c->retry_after = 0;
}

static CURL *easy_new(struct conn *c)
{
	CURL *h = curl_easy_init();

	if (!h)
		die("curl_easy_init");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(h, CURLOPT_PRIVATE, c);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
	return h;
}

/* ---- publish ---------------------------------------------------------- */

static int do_publish(int argc, char **argv)
{
	const char *url, *token, *topic, *outp, *extra;
	int conc, secs;
	long counts[NSTATUS] = { 0 };
	long sent = 0, ok = 0, net = 0, e5xx = 0, e503_noretry = 0;
	char purl[2048], auth[512], tag[32];
	struct conn *cs;
	CURLM *m;
	FILE *out;
	double end;
	int running = 0;

	if (argc < 8)
		die("usage: publish URL TOKEN TOPIC CONC SECONDS OUT [QUERY]");
	url = argv[2];
	token = argv[3];
	topic = argv[4];
	conc = atoi(argv[5]);
	secs = atoi(argv[6]);
	outp = argv[7];
	extra = argc > 8 ? argv[8] : "";
	if (conc < 1 || conc > 1024 || secs < 1 || secs > 600)
		die("CONC 1-1024, SECONDS 1-600");
	snprintf(purl, sizeof purl, "%s/push/publish?topic=%s%s%s", url, topic, *extra ? "&" : "", extra);
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
	snprintf(tag, sizeof tag, "p%ld", (long)getpid());
	out = fopen(outp, "w");
	if (!out)
		die("cannot open OUT");
	setvbuf(out, NULL, _IOLBF, 0);   /* a line per answer, even if we are killed */
	m = curl_multi_init();
	cs = calloc((size_t)conc, sizeof *cs);
	end = now_s() + secs;
	signal(SIGTERM, on_term);
	for (int i = 0; i < conc; i++) {
		struct conn *c = &cs[i];

		c->n = i;
		c->h = easy_new(c);
		c->hdrs = curl_slist_append(NULL, auth);
		c->hdrs = curl_slist_append(c->hdrs, "Content-Type: text/plain");
		c->hdrs = curl_slist_append(c->hdrs, "Expect:");
		curl_easy_setopt(c->h, CURLOPT_URL, purl);
		curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
		curl_easy_setopt(c->h, CURLOPT_TIMEOUT, 15L);
	}
	for (int i = 0; i < conc; i++) {
		struct conn *c = &cs[i];

		snprintf(c->body, sizeof c->body, "%s-c%d-%ld", tag, i, c->seq++);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->body);
		conn_reset(c);
		curl_multi_add_handle(m, c->h);
		running++;
	}
	while (running > 0) {
		CURLMsg *msg;
		int left, still;

		curl_multi_perform(m, &still);
		while ((msg = curl_multi_info_read(m, &left))) {
			struct conn *c;
			long st = 0;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
			curl_multi_remove_handle(m, c->h);
			running--;
			sent++;
			if (msg->data.result != CURLE_OK) {
				net++;
				fprintf(out, "net %d %s\n", (int)msg->data.result, c->body);
				usleep(10000);   /* server down: do not spin */
			} else {
				curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &st);
				if (st >= 0 && st < NSTATUS)
					counts[st]++;
				if (st == 201) {
					const char *p = c->buf ? strstr(c->buf, "\"id\":") : NULL;

					if (p) {
						ok++;
						fprintf(out, "ok %lld %s\n", atoll(p + 5), c->body);
					} else {
						fprintf(out, "st 201 %d no-id\n", c->retry_after);
					}
				} else {
					char snip[160];
					size_t k;

					snprintf(snip, sizeof snip, "%s", c->buf ? c->buf : "");
					for (k = 0; snip[k]; k++)
						if (snip[k] == '\n' || snip[k] == '\r')
							snip[k] = ' ';
					fprintf(out, "st %ld %d %s\n", st, c->retry_after, snip);
					if (st >= 500)
						e5xx++;
					if (st == 503 && !c->retry_after)
						e503_noretry++;
				}
			}
			if (now_s() < end && !stop_asked) {
				snprintf(c->body, sizeof c->body, "%s-c%d-%ld", tag, c->n, c->seq++);
				curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->body);
				conn_reset(c);
				curl_multi_add_handle(m, c->h);
				running++;
			}
		}
		if (running > 0)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	printf("sent=%ld ok=%ld net=%ld e5xx=%ld e503_noretry=%ld", sent, ok, net, e5xx, e503_noretry);
	for (int s = 0; s < NSTATUS; s++)
		if (counts[s] && s != 201)
			printf(" s%d=%ld", s, counts[s]);
	printf("\n");
	fclose(out);
	return 0;
}

/* ---- follow ----------------------------------------------------------- */

static void follow_issue(CURLM *m, struct conn *c, const char *url, const char *topic)
{
	char u[2048];

	snprintf(u, sizeof u, "%s/push/longpoll?topic=%s&since=%lld&timeout=5&limit=1000", url, topic,
		 c->cursor);
	curl_easy_setopt(c->h, CURLOPT_URL, u);
	conn_reset(c);
	curl_multi_add_handle(m, c->h);
}

/* Read the stop file: the newest id published, or -1 while it is absent. */
static long long stop_target(const char *f)
{
	FILE *fp = fopen(f, "r");
	long long v = -1;

	if (!fp)
		return -1;
	if (fscanf(fp, "%lld", &v) != 1)
		v = -1;
	fclose(fp);
	return v;
}

static int do_follow(int argc, char **argv)
{
	const char *url, *topic, *prefix, *stopf;
	int subs, secs, running = 0;
	long long since, target = -1;
	long counts[NSTATUS] = { 0 }, answers = 0, net = 0, e5xx = 0, e503_noretry = 0, order = 0;
	long long total = 0;
	struct conn *cs;
	CURLM *m;
	double end;

	if (argc < 9)
		die("usage: follow URL TOPIC SUBS SINCE SECONDS OUTPREFIX STOPFILE");
	url = argv[2];
	topic = argv[3];
	subs = atoi(argv[4]);
	since = atoll(argv[5]);
	secs = atoi(argv[6]);
	prefix = argv[7];
	stopf = argv[8];
	if (subs < 1 || subs > 5000 || secs < 1 || secs > 600)
		die("SUBS 1-5000, SECONDS 1-600");
	m = curl_multi_init();
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
	cs = calloc((size_t)subs, sizeof *cs);
	end = now_s() + secs;
	for (int i = 0; i < subs; i++) {
		struct conn *c = &cs[i];
		char f[1024];

		c->n = i;
		c->cursor = since;
		c->last_id = since;
		c->h = easy_new(c);
		curl_easy_setopt(c->h, CURLOPT_TIMEOUT, 30L);
		snprintf(f, sizeof f, "%s.%d", prefix, i);
		c->ids = fopen(f, "w");
		if (!c->ids)
			die("cannot open OUTPREFIX.N");
		follow_issue(m, c, url, topic);
		running++;
	}
	while (running > 0) {
		CURLMsg *msg;
		int left, still;

		curl_multi_perform(m, &still);
		if (target < 0)
			target = stop_target(stopf);
		while ((msg = curl_multi_info_read(m, &left))) {
			struct conn *c;
			long st = 0;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
			curl_multi_remove_handle(m, c->h);
			running--;
			answers++;
			if (msg->data.result != CURLE_OK) {
				net++;
			} else {
				curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &st);
				if (st >= 0 && st < NSTATUS)
					counts[st]++;
				if (st >= 500)
					e5xx++;
				if (st == 503 && !c->retry_after)
					e503_noretry++;
			}
			if (st == 200) {
				struct json_object *j = json_tokener_parse(c->buf ? c->buf : ""), *v, *ms;

				if (!j || !json_object_object_get_ex(j, "cursor", &v)) {
					c->bad++;
				} else {
					long long cur = json_object_get_int64(v);

					if (json_object_object_get_ex(j, "messages", &ms)) {
						size_t n = json_object_array_length(ms);

						for (size_t k = 0; k < n; k++) {
							struct json_object *o = json_object_array_get_idx(ms, k), *idv;
							long long id;

							if (!json_object_object_get_ex(o, "id", &idv))
								continue;
							id = json_object_get_int64(idv);
							if (id <= c->last_id)
								order++;
							c->last_id = id;
							c->received++;
							total++;
							fprintf(c->ids, "%lld\n", id);
						}
					}
					if (cur < c->cursor)
						order++;
					else
						c->cursor = cur;
				}
				json_object_put(j);
			} else if (st != 0) {
				usleep(20000);   /* 429/503: do not spin */
			}
			if (target >= 0 && c->cursor >= target)
				c->done = 1;
			if (!c->done && now_s() < end) {
				follow_issue(m, c, url, topic);
				running++;
			}
		}
		if (running > 0)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	{
		int done = 0, bad = 0;

		for (int i = 0; i < subs; i++) {
			done += cs[i].done;
			bad += cs[i].bad;
			fclose(cs[i].ids);
		}
		printf("subs=%d done=%d target=%lld received=%lld answers=%ld net=%ld e5xx=%ld "
		       "e503_noretry=%ld order_errors=%ld bad_json=%d",
		       subs, done, target, total, answers, net, e5xx, e503_noretry, order, bad);
	}
	for (int s = 0; s < NSTATUS; s++)
		if (counts[s] && s != 200)
			printf(" s%d=%ld", s, counts[s]);
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (argc > 1 && !strcmp(argv[1], "publish"))
		return do_publish(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "follow"))
		return do_follow(argc, argv);
	die("usage: pl-load publish|follow ...");
	return 2;
}
