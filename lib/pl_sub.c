/* pl_sub.c: check subscription parameters and build the store filter */
#include "pl_first.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pl_http.h"
#include "pl_log.h"
#include "pl_sub.h"
#include "pl_topic.h"
#include "pl_util.h"

int pl_sub_kind_valid(const char *s, size_t n)
{
	if (n < 1 || n > PL_KIND_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

int pl_sub_label_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > PL_LABEL_MAX || !pl_utf8_valid(s, n))
		return 0;
	/* C0, DEL, and C1 (U+0080-U+009F: C2 80 - C2 9F in UTF-8, NEL among
	 * them, a line break to some readers); and U+FFFE and U+FFFF (EF BF
	 * BE/BF), which no XML answer could carry in an attribute. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f ||
		    ((unsigned char)s[i] == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] <= 0x9f) ||
		    pl_utf8_fffe(s, i, n))
			return 0;
	return 1;
}

/* Strings the filter points to live in one block, copied in as parsed. */
static const char *keep(struct pl_sub *sub, size_t *used, const char *s, size_t n)
{
	char *d = sub->strs + *used;

	memcpy(d, s, n);
	d[n] = '\0';
	*used += n + 1;
	return d;
}

static int parse_format(struct pl_outopt *out, const struct pl_req *r, enum pl_sub_kind kind, char *msg, size_t msglen)
{
	static const char *const answer[] = { "format", "callback" };
	const char *fmt = pl_req_arg(r, "format"), *cb = pl_req_arg(r, "callback");
	const char *accept = pl_req_env(r, "HTTP_ACCEPT");
	int rc;

	/* Which format is meant is unknown: out stays as it came (JSON, from
	 * the callers' zeroing), and the error is plain JSON. Here, so that
	 * publish and admin refuse it as the subscriptions do. */
	if ((rc = pl_kv_once(r->args, r->nargs, answer, 2, msg, msglen)) != PL_OK)
		return rc;
	out->fmt = kind == PL_SUB_STREAM ? PL_FMT_SSE : PL_FMT_JSON;
	if (fmt && pl_out_format(fmt, kind == PL_SUB_STREAM, &out->fmt) != PL_OK) {
		snprintf(msg, msglen, "format must be json, xml or jsonp%s",
			 kind == PL_SUB_STREAM ? ", sse, js or ndjson" : "");
		return PL_EINVAL;
	}
	/* NDJSON when the client asks for it (q above 0) and does not prefer
	 * SSE, the default: an EventSource sends text/event-stream alone, a
	 * fetch() reader of lines names x-ndjson. */
	if (!fmt && kind == PL_SUB_STREAM) {
		int nd = pl_http_accept_q(accept, "application/x-ndjson");

		if (nd > 0 && nd >= pl_http_accept_q(accept, "text/event-stream"))
			out->fmt = PL_FMT_NDJSON;
	}
	/* A JSON stream is a stream of JSON objects, one per line. */
	if (kind == PL_SUB_STREAM && out->fmt == PL_FMT_JSON)
		out->fmt = PL_FMT_NDJSON;
	if (out->fmt == PL_FMT_JSONP || out->fmt == PL_FMT_JS) {
		if (!cb && out->fmt == PL_FMT_JS)
			cb = "pushlite_cb";
		if (!cb || !pl_out_callback_valid(cb)) {
			/* No safe name to call: answer as plain JSON. */
			out->fmt = PL_FMT_JSON;
			snprintf(msg, msglen, "callback must be a JavaScript name such as cb or app.onPush (at most %d bytes)",
				 PL_CALLBACK_MAX);
			return PL_EINVAL;
		}
		/* The iframe page is HTML of this host's origin: a dotted path
		 * from parent could reach into another window of that origin
		 * (parent.opener.document...click) and work the site for a page
		 * that opened it. One name, a function of the page itself. */
		if (out->fmt == PL_FMT_JS && strchr(cb, '.')) {
			out->fmt = PL_FMT_JSON;
			snprintf(msg, msglen, "callback for format=js must be one JavaScript name such as pushlite_cb, "
				 "without dots");
			return PL_EINVAL;
		}
		memcpy(out->callback, cb, strlen(cb) + 1);
	}
	out->with_last_get = kind == PL_SUB_ADMIN;
	return PL_OK;
}

int pl_sub_answer_format(const struct pl_req *r, struct pl_outopt *o, char *msg, size_t msglen)
{
	int rc;

	memset(o, 0, sizeof *o);
	if ((rc = parse_format(o, r, PL_SUB_POLL, msg, msglen)) != PL_OK)
		o->fmt = PL_FMT_JSON;
	return rc;
}

/* The same choice, for an answer that refuses the request anyway: what
 * cannot be used is simply JSON. */
void pl_sub_error_format(const struct pl_req *r, struct pl_outopt *o)
{
	char msg[192];

	pl_sub_answer_format(r, o, msg, sizeof msg);
}

/* A script tag's error must come as JSONP, the only answer it can read,
 * also when the rest of the query is unreadable. */
int pl_sub_raw_format(const char *q, struct pl_outopt *eo)
{
	char keep[160];
	size_t n = 0;
	struct pl_req t;
	int rc = PL_EINVAL;

	for (const char *p = q; *p; ) {
		size_t len = strcspn(p, "&");

		if ((!strncmp(p, "format=", 7) || !strncmp(p, "callback=", 9)) && n + len + 1 < sizeof keep) {
			if (n)
				keep[n++] = '&';
			memcpy(keep + n, p, len);
			n += len;
		}
		p += len + (p[len] == '&');
	}
	memset(&t, 0, sizeof t);
	if (n && pl_kv_parse(keep, n, &t.args, &t.nargs) == PL_OK) {
		pl_sub_error_format(&t, eo);
		rc = PL_OK;
	}
	pl_req_free(&t);
	return rc;
}

int pl_sub_since(const char *s, struct pl_filter *f)
{
	int64_t v;

	if (!strcmp(s, "now")) {
		f->since = PL_SINCE_NOW;
	} else if (!strcmp(s, "all")) {
		f->since = PL_SINCE_ALL;
	} else if (pl_int_parse(s, 0, INT64_MAX, &v) == PL_OK) {
		f->since = PL_SINCE_ID;
		f->since_id = v;
	} else if (pl_duration_parse(s, 0, &v) == PL_OK) {
		f->since = PL_SINCE_AGE;
		f->since_age = v;
	} else {
		return PL_EINVAL;
	}
	return PL_OK;
}

/* When the web server received the request, if it says so (Apache's
 * configs set X-Pushlite-Start: t=MICROSECONDS) and that was a moment ago:
 * mod_fcgid may take a second to start a process for a second waiting
 * request, and a message published meanwhile came after the client's
 * "now". 0 otherwise; also for a time a client made up beyond a minute
 * back (within it, it asks no more than since=60s would). */
static int64_t arrived_ms(const struct pl_req *r, int64_t now)
{
	const char *t = pl_req_env(r, "HTTP_X_PUSHLITE_START");
	int64_t us, ms;

	if (!t || strncmp(t, "t=", 2) || pl_int_parse(t + 2, 0, INT64_MAX, &us) != PL_OK)
		return 0;
	ms = us / 1000;
	return ms <= now && ms >= now - 60000 ? ms : 0;
}

static int64_t received_ms(const struct pl_req *r)
{
	int64_t now = pl_now_ms(), ms = arrived_ms(r, now);

	/* A query a few ms after the arrival finds the same "now" from the
	 * head: the search by time is for a request that waited. */
	return ms && ms <= now - 20 ? ms : 0;
}

static int parse_since(struct pl_sub *sub, const struct pl_req *r, enum pl_sub_kind kind, char *msg, size_t msglen)
{
	const char *s = pl_req_env(r, "HTTP_LAST_EVENT_ID");
	const char *name = "Last-Event-ID";

	if (!s || !*s) {
		s = pl_req_arg(r, "last_event_id");
		name = "last_event_id";
	}
	/* Empty, like an empty header: no cursor yet (a client's first
	 * request may send last_event_id= with nothing). */
	if (!s || !*s) {
		s = pl_req_arg(r, "since");
		name = "since";
	}
	if (!s) {
		sub->f.since = kind == PL_SUB_POLL || kind == PL_SUB_ADMIN ? PL_SINCE_ALL : PL_SINCE_NOW;
	} else if (pl_sub_since(s, &sub->f) != PL_OK) {
		snprintf(msg, msglen, "%s must be a message id, now, all, or a duration such as 10m", name);
		return PL_EINVAL;
	}
	if (sub->f.since == PL_SINCE_NOW)
		sub->f.now_from_ms = received_ms(r);
	return PL_OK;
}

static int parse_topics(struct pl_sub *sub, const struct pl_req *r, const struct pl_conf *c,
			enum pl_sub_kind kind, size_t *used, char *msg, size_t msglen)
{
	for (size_t i = 0; i < r->nargs; i++) {
		const char *p = r->args[i].v;

		if (strcmp(r->args[i].k, "topic"))
			continue;
		for (;;) {
			size_t n = strcspn(p, ","), k;

			if (pl_topic_sub_valid(p, n) != PL_OK) {
				snprintf(msg, msglen,
					 "bad topic '%.*s': /-separated segments of A-Z a-z 0-9 . _ ~ -, at most 16 "
					 "segments and 255 bytes",
					 (int)(n > 80 ? 80 : n), p);
				return PL_EINVAL;
			}
			for (k = 0; k < sub->f.ntopics; k++)
				if (strlen(sub->f.topics[k]) == n && !memcmp(sub->f.topics[k], p, n))
					break;
			if (k == sub->f.ntopics) {
				if (sub->f.ntopics >= (size_t)c->max_topics || sub->f.ntopics >= PL_MAX_TOPICS) {
					snprintf(msg, msglen, "too many topics: at most %d", c->max_topics);
					return PL_EINVAL;
				}
				sub->f.topics[sub->f.ntopics++] = keep(sub, used, p, n);
			}
			if (p[n] != ',')
				break;
			p += n + 1;
		}
	}
	if (sub->f.ntopics == 0 && kind == PL_SUB_ADMIN) {
		sub->f.topics[sub->f.ntopics++] = "/";     /* the admin sees the whole table */
	} else if (sub->f.ntopics == 0) {
		snprintf(msg, msglen, "topic is required, e.g. topic=/news");
		return PL_EINVAL;
	}
	return PL_OK;
}

static int opt_label(struct pl_sub *sub, const struct pl_req *r, const char *name, const char **dst,
		     size_t *used, char *msg, size_t msglen)
{
	const char *v = pl_req_arg(r, name);

	if (!v)
		return PL_OK;
	if (!pl_sub_label_valid(v)) {
		snprintf(msg, msglen, "%s must be 1-%d bytes of text without control characters", name, PL_LABEL_MAX);
		return PL_EINVAL;
	}
	*dst = keep(sub, used, v, strlen(v));
	return PL_OK;
}

int pl_sub_parse(struct pl_sub *sub, const struct pl_req *r, const struct pl_conf *c,
		 enum pl_sub_kind kind, char *msg, size_t msglen)
{
	const char *const filter[] = {
		"since", "last_event_id", "limit", "client", "type", "src", "target", "token",
		kind == PL_SUB_LONGPOLL ? "timeout" : NULL,
		kind == PL_SUB_ADMIN ? "user" : NULL,
		kind == PL_SUB_ADMIN ? "undelivered" : NULL,
	};
	const char *v;
	size_t used = 0, total = 0;
	int64_t n;
	int rc;

	memset(sub, 0, sizeof *sub);
	if ((rc = parse_format(&sub->out, r, kind, msg, msglen)) != PL_OK ||
	    (rc = pl_kv_once(r->args, r->nargs, filter, sizeof filter / sizeof filter[0], msg, msglen)) != PL_OK)
		return rc;
	/* Every string kept is a query value: their total bounds the block. */
	for (size_t i = 0; i < r->nargs; i++)
		total += strlen(r->args[i].v) + 1;
	sub->strs = pl_xmalloc(total + 1);
	if ((rc = parse_topics(sub, r, c, kind, &used, msg, msglen)) != PL_OK ||
	    (rc = parse_since(sub, r, kind, msg, msglen)) != PL_OK)
		return rc;
	sub->f.limit = PL_LIMIT_DEFAULT;
	if ((v = pl_req_arg(r, "limit")) && pl_int_parse(v, 1, PL_LIMIT_MAX, &n) == PL_OK)
		sub->f.limit = (int)n;
	else if (v) {
		snprintf(msg, msglen, "limit must be a number from 1 to %d", PL_LIMIT_MAX);
		return PL_EINVAL;
	}
	if ((v = pl_req_arg(r, "client"))) {
		if (!pl_sub_kind_valid(v, strlen(v))) {
			snprintf(msg, msglen, "client must be 1-16 of a-z 0-9 _ -, e.g. pc, ios, android");
			return PL_EINVAL;
		}
		sub->f.client = keep(sub, &used, v, strlen(v));
	}
	if ((rc = opt_label(sub, r, "type", &sub->f.type, &used, msg, msglen)) != PL_OK ||
	    (rc = opt_label(sub, r, "src", &sub->f.src, &used, msg, msglen)) != PL_OK ||
	    (rc = opt_label(sub, r, "target", &sub->f.target, &used, msg, msglen)) != PL_OK)
		return rc;
	if (kind == PL_SUB_LONGPOLL) {
		sub->timeout = c->longpoll_timeout;
		if ((v = pl_req_arg(r, "timeout"))) {
			if (pl_duration_parse(v, 1, &n) != PL_OK) {
				snprintf(msg, msglen, "timeout must be seconds or a duration such as 30s");
				return PL_EINVAL;
			}
			sub->timeout = n > c->longpoll_max_timeout ? c->longpoll_max_timeout : (int)n;
		}
		/* The timeout runs from when the client asked: mod_fcgid may take
		 * a second or two to start a process for the request. */
		{
			int64_t now = pl_now_ms(), at = arrived_ms(r, now);

			sub->waited_ms = at ? now - at : 0;
		}
	}
	if (kind == PL_SUB_ADMIN) {
		sub->f.admin = 1;
		if ((v = pl_req_arg(r, "user"))) {
			if (!pl_auth_user_valid(v)) {
				snprintf(msg, msglen, "user must be 1-%d of A-Z a-z 0-9 . _ @ + -", PL_USER_MAX);
				return PL_EINVAL;
			}
			sub->f.user_filter = keep(sub, &used, v, strlen(v));
		}
		/* "&undelivered" alone is the flag set. */
		if ((v = pl_req_arg(r, "undelivered")) && *v && pl_bool_parse(v, &sub->f.undelivered) != PL_OK) {
			snprintf(msg, msglen, "undelivered must be 1 or 0 (on/off, yes/no, true/false)");
			return PL_EINVAL;
		} else if (v && !*v) {
			sub->f.undelivered = 1;
		}
		return PL_OK;
	}
	switch (pl_auth_subscriber(c, r, sub->user, &sub->until)) {
	case PL_OK:
		break;
	case PL_EFORBID:
		snprintf(msg, msglen, "a publish or admin token does not subscribe: use a subscriber token (pushlite token)");
		return PL_EFORBID;
	default: {
		const char *ru = pl_req_env(r, "REMOTE_USER");

		if (pl_auth_joined(r))
			snprintf(msg, msglen, "%s", PL_AUTH_JOINED_MSG);
		else if (ru && *ru)  /* no token was looked at: the login's name is the fault */
			snprintf(msg, msglen, "the web server's user name (REMOTE_USER) is longer than %d bytes",
				 PL_USER_MAX);
		else
			snprintf(msg, msglen, "subscriber token is malformed, forged or expired");
		return PL_EAUTH;
	}
	}
	/* A script tag runs a JSONP answer in the page that included it, and
	 * sends the browser's cookies and Basic credentials along, which the
	 * web server turns into REMOTE_USER: any site could so read its
	 * visitor's messages. When the browser says the request is another
	 * site's, the web server's user counts for nothing here (broadcasts
	 * still come); a token in the URL is no ambient credential. */
	if (sub->out.fmt == PL_FMT_JSONP && sub->user[0] && !sub->until && pl_http_cross_site(c, r))
		sub->user[0] = '\0';
	sub->f.identity = sub->user[0] ? sub->user : NULL;
	return PL_OK;
}

void pl_sub_free(struct pl_sub *sub)
{
	if (!sub)
		return;
	free(sub->strs);
	sub->strs = NULL;
}
