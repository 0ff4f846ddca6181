/* pl_publish.c: accept messages in every form SPEC section 3 names.
 *
 * A request becomes an array of pl_msg that is validated whole before the
 * store sees it, and the store commits the array in one transaction: a
 * publish that fails for any reason stores nothing. */
#include "pl_first.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pl_auth.h"
#include "pl_group.h"
#include "pl_http.h"
#include "pl_json.h"
#include "pl_log.h"
#include "pl_out.h"
#include "pl_publish.h"
#include "pl_sub.h"
#include "pl_topic.h"
#include "pl_util.h"

#define ERRLEN 256

/* Raw field values as they arrived; borrowed. */
struct fields {
	const char *topic, *user, *clients, *type, *src, *target, *ttl;
};

/* Everything a request's messages own until the store has them. */
struct batch {
	struct pl_msg *m;
	size_t n, cap;
	char **owned;               /* normalized clients lists, line topics */
	size_t nowned;
	struct json_object **objs;  /* data values and parsed lines */
	size_t nobjs;
};

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->nowned; i++)
		free(b->owned[i]);
	for (size_t i = 0; i < b->nobjs; i++)
		json_object_put(b->objs[i]);
	free(b->owned);
	free(b->objs);
	free(b->m);
}

static char *own(struct batch *b, char *s)
{
	b->owned = pl_xrealloc(b->owned, (b->nowned + 1) * sizeof *b->owned);
	b->owned[b->nowned++] = s;
	return s;
}

static struct json_object *own_obj(struct batch *b, struct json_object *o)
{
	b->objs = pl_xrealloc(b->objs, (b->nobjs + 1) * sizeof *b->objs);
	b->objs[b->nobjs++] = o;
	return o;
}

/* Kinds one message may name. A handful is the use; the bound keeps the
 * duplicate check below (each kind against those kept) small, where a
 * body's worth of kinds would hold the publish process for minutes. */
#define CLIENTS_MAX 32

/* Normalize "pc, ios,pc" to "pc,ios". NULL and a message when bad. */
static char *norm_clients(const char *v, char *err)
{
	struct pl_buf out = { 0 };
	const char *p = v;
	int kept = 0;

	for (;;) {
		size_t n;

		while (*p == ' ')
			p++;
		n = strcspn(p, ", ");
		if (!pl_sub_kind_valid(p, n)) {
			snprintf(err, ERRLEN, "clients must be a comma list of kinds of 1-16 a-z 0-9 _ -, e.g. pc,ios");
			pl_buf_free(&out);
			return NULL;
		}
		/* Keep the first of duplicates. */
		int dup = 0;
		for (const char *q = out.p; q && *q;) {
			size_t k = strcspn(q, ",");
			if (k == n && !memcmp(q, p, n))
				dup = 1;
			q += k + (q[k] == ',');
		}
		if (!dup) {
			if (++kept > CLIENTS_MAX) {
				snprintf(err, ERRLEN, "clients names at most %d kinds", CLIENTS_MAX);
				pl_buf_free(&out);
				return NULL;
			}
			if (out.len)
				pl_buf_addc(&out, ',');
			pl_buf_add(&out, p, n);
		}
		p += n;
		while (*p == ' ')
			p++;
		if (*p != ',')
			break;
		p++;
	}
	if (*p) {
		snprintf(err, ERRLEN, "clients must be a comma list of kinds, e.g. pc,ios");
		pl_buf_free(&out);
		return NULL;
	}
	return out.p;
}

/* Validate fields and append one message owning data. */
static int add_msg(struct batch *b, const struct pl_conf *c, const struct fields *f,
		   struct json_object *data, int64_t now, char *err)
{
	struct pl_msg *m;
	int64_t ttl = c->default_ttl;

	if (!f->topic) {
		snprintf(err, ERRLEN, "topic is required, e.g. ?topic=/news");
		return PL_EINVAL;
	}
	if (pl_topic_valid(f->topic, strlen(f->topic)) != PL_OK) {
		snprintf(err, ERRLEN, !strcmp(f->topic, "/") ? "cannot publish to / : name a topic below it" :
			 "bad topic '%.80s': /-separated segments of A-Z a-z 0-9 . _ ~ -, at most 16 segments and 255 bytes",
			 f->topic);
		return PL_EINVAL;
	}
	if (f->user && !pl_auth_user_valid(f->user)) {
		snprintf(err, ERRLEN, "user must be 1-%d of A-Z a-z 0-9 . _ @ + -", PL_USER_MAX);
		return PL_EINVAL;
	}
	if ((f->type && !pl_sub_label_valid(f->type)) || (f->src && !pl_sub_label_valid(f->src)) ||
	    (f->target && !pl_sub_label_valid(f->target))) {
		snprintf(err, ERRLEN, "type, src and target must be 1-%d bytes of text without control characters",
			 PL_LABEL_MAX);
		return PL_EINVAL;
	}
	if (f->ttl && (pl_duration_parse(f->ttl, 1, &ttl) != PL_OK || ttl < 1)) {
		snprintf(err, ERRLEN, "ttl must be seconds or a duration such as 90, 30m, 12h, 3d");
		return PL_EINVAL;
	}
	if (ttl > c->max_ttl)
		ttl = c->max_ttl;
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 4;
		b->m = pl_xrealloc(b->m, b->cap * sizeof *b->m);
	}
	m = &b->m[b->n];
	memset(m, 0, sizeof *m);
	m->topic = f->topic;
	m->user = f->user;
	m->type = f->type;
	m->src = f->src;
	m->target = f->target;
	if (f->clients) {
		char *cl = norm_clients(f->clients, err);
		if (!cl)
			return PL_EINVAL;
		m->clients = own(b, cl);
	}
	m->data = data;
	m->created = now;
	m->expires = now + ttl * 1000;
	b->n++;
	return PL_OK;
}

/* body field, then header, then query */
static const char *field(const struct pl_req *r, const struct pl_kv *form, size_t nform,
			 const char *name, const char *hdr)
{
	const char *v = form ? pl_kv_get(form, nform, name) : NULL;

	if (!v)
		v = pl_req_env(r, hdr);
	if (!v)
		v = pl_req_arg(r, name);
	return v;
}

static void request_fields(const struct pl_req *r, const struct pl_kv *form, size_t nform, struct fields *f)
{
	f->topic = field(r, form, nform, "topic", "HTTP_X_TOPIC");
	f->user = field(r, form, nform, "user", "HTTP_X_USER");
	f->clients = field(r, form, nform, "clients", "HTTP_X_CLIENTS");
	f->type = field(r, form, nform, "type", "HTTP_X_TYPE");
	f->src = field(r, form, nform, "src", "HTTP_X_SRC");
	f->target = field(r, form, nform, "target", "HTTP_X_TARGET");
	f->ttl = field(r, form, nform, "ttl", "HTTP_X_TTL");
}

static struct json_object *text_data(const char *s, size_t n, char *err)
{
	if (memchr(s, '\0', n)) {
		snprintf(err, ERRLEN, "message text must not contain a NUL byte (send binary data encoded, e.g. base64)");
		return NULL;
	}
	if (!pl_utf8_valid(s, n)) {
		snprintf(err, ERRLEN, "message text must be UTF-8");
		return NULL;
	}
	return json_object_new_string_len(s, (int)n);
}

static const char *line_str(struct json_object *v, const char *name, char *err)
{
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(err, ERRLEN, "%s must be a string", name);
		return NULL;
	}
	/* "\u0000" is valid JSON, but a field read as a C string would end
	 * there: "/a\u0000b" would be stored as topic "/a". */
	if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v)) {
		snprintf(err, ERRLEN, "%s must not contain \\u0000", name);
		return NULL;
	}
	return json_object_get_string(v);
}

/* One NDJSON line: an object with the message fields; the request's
 * headers and query fill what the line leaves out. */
static int batch_line(struct batch *b, const struct pl_conf *c, const struct fields *dflt,
		      const char *s, size_t n, int64_t now, char *err)
{
	int valid, have_data = 0;
	/* The line's object is one level more than its data. */
	struct json_object *o = pl_json_parse(s, n, PL_JSON_DEPTH + 1, &valid), *data = NULL;
	struct fields f = *dflt;
	char num[24];

	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		snprintf(err, ERRLEN, "%s", pl_json_problem(valid, "not a JSON object"));
		return PL_EINVAL;
	}
	own_obj(b, o);
	json_object_object_foreach(o, k, v) {
		const char **dst = NULL;

		if (!strcmp(k, "data")) {
			data = v;       /* NULL for a JSON null */
			have_data = 1;
			continue;
		}
		if (!strcmp(k, "topic"))
			dst = &f.topic;
		else if (!strcmp(k, "user"))
			dst = &f.user;
		else if (!strcmp(k, "type"))
			dst = &f.type;
		else if (!strcmp(k, "src"))
			dst = &f.src;
		else if (!strcmp(k, "target"))
			dst = &f.target;
		if (dst) {
			if (!(*dst = line_str(v, k, err)))
				return PL_EINVAL;
		} else if (!strcmp(k, "ttl")) {
			if (json_object_is_type(v, json_type_int)) {
				snprintf(num, sizeof num, "%lld", (long long)json_object_get_int64(v));
				f.ttl = own(b, pl_xstrdup(num));
			} else if (!json_object_is_type(v, json_type_string)) {
				snprintf(err, ERRLEN, "ttl must be whole seconds (90) or a duration string (\"30m\")");
				return PL_EINVAL;
			} else if (!(f.ttl = line_str(v, k, err))) {
				return PL_EINVAL;
			}
		} else if (!strcmp(k, "clients")) {
			if (json_object_is_type(v, json_type_array)) {
				struct pl_buf l = { 0 };
				size_t len = json_object_array_length(v);
				for (size_t i = 0; i < len; i++) {
					struct json_object *e = json_object_array_get_idx(v, i);
					if (!line_str(e, "each of clients", err)) {
						pl_buf_free(&l);
						return PL_EINVAL;
					}
					if (i)
						pl_buf_addc(&l, ',');
					pl_buf_adds(&l, json_object_get_string(e));
				}
				if (!l.p) {
					snprintf(err, ERRLEN, "clients must not be empty");
					return PL_EINVAL;
				}
				f.clients = own(b, l.p);
			} else if (!(f.clients = line_str(v, k, err))) {
				return PL_EINVAL;
			}
		} else {
			snprintf(err, ERRLEN, "unknown field '%.40s'", k);
			return PL_EINVAL;
		}
	}
	if (!have_data) {
		snprintf(err, ERRLEN, "data is required");
		return PL_EINVAL;
	}
	return add_msg(b, c, &f, data, now, err);
}

/* 1 if s[0..n) holds only spaces and tabs. Bounded by n: the last line of
 * a body has no terminator of its own. */
static int blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return 0;
	return 1;
}

static int parse_batch(struct batch *b, const struct pl_conf *c, const struct pl_req *r,
		       int64_t now, char *err)
{
	struct fields dflt;
	const char *p = r->body, *end = r->body + r->body_len;
	int line = 0, rc;

	request_fields(r, NULL, 0, &dflt);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *next = nl ? nl + 1 : end;
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char sub[ERRLEN];

		line++;
		if (n && p[n - 1] == '\r')
			n--;
		if (!blank(p, n)) {
			if (b->n >= PL_BATCH_MAX) {
				snprintf(err, ERRLEN, "a batch holds at most %d messages", PL_BATCH_MAX);
				return PL_ETOOBIG;
			}
			if ((rc = batch_line(b, c, &dflt, p, n, now, sub)) != PL_OK) {
				snprintf(err, ERRLEN, "line %d: %.200s", line, sub);
				return rc;
			}
		}
		p = next;
	}
	if (b->n == 0) {
		snprintf(err, ERRLEN, "the batch holds no message");
		return PL_EINVAL;
	}
	return PL_OK;
}

/* 1 if a form body has a pair named "data" (raw, before decoding). */
static int form_has_data(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t end = i;

		/* "data" alone, without '=', is a word of a text ("curl -d data"). */
		while (end < n && s[end] != '&')
			end++;
		if (end - i >= 5 && !memcmp(s + i, "data=", 5))
			return 1;
		i = end + 1;
	}
	return 0;
}

/* A field given twice in one place with two values (?topic=/a&topic=/b):
 * a message has one of each, and taking either would be a guess. */
static int given_twice(const struct pl_kv *kv, size_t n, char *err)
{
	static const char *const names[] = { "topic", "user", "clients", "type", "src", "target", "ttl", "data" };

	for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
		if (!pl_kv_conflict(kv, n, names[k]))
			continue;
		if (!strcmp(names[k], "clients"))
			snprintf(err, ERRLEN, "clients= is given twice with different values: "
				 "give one list, e.g. clients=pc,ios");
		else
			snprintf(err, ERRLEN, "%s= is given twice with different values: "
				 "a message has one %s", names[k], names[k]);
		return PL_EINVAL;
	}
	return PL_OK;
}

/* A Content-Encoding other than identity (blanks and commas aside). */
static int content_coded(const char *ce)
{
	for (const char *p = ce; p && *p; ) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n && !(n == 8 && !strncasecmp(p, "identity", 8)))
			return 1;
		p += n;
	}
	return 0;
}

static int parse_body(struct batch *b, const struct pl_conf *c, struct pl_req *r, int64_t now, char *err)
{
	char mt[128];
	struct fields f;
	struct json_object *data;
	int get = pl_req_method_is(r, "GET");
	const char *ct = pl_req_env(r, "CONTENT_TYPE");

	if (!ct)
		ct = "";
	pl_req_media_type(ct, mt, sizeof mt);
	/* A compressed body read as text would be stored as bytes no one can
	 * read, or refused for the wrong reason: say what is wrong. */
	if (content_coded(pl_req_env(r, "HTTP_CONTENT_ENCODING"))) {
		snprintf(err, ERRLEN, "Content-Encoding %.40s is not accepted: send the body uncompressed",
			 pl_req_env(r, "HTTP_CONTENT_ENCODING"));
		return PL_ETYPE;
	}
	if (given_twice(r->args, r->nargs, err) != PL_OK)
		return PL_EINVAL;
	if (get) {
		const char *d = pl_req_arg(r, "data");
		request_fields(r, NULL, 0, &f);
		if (!d) {
			snprintf(err, ERRLEN, "data is required, e.g. ?topic=/news&data=hello");
			return PL_EINVAL;
		}
		data = own_obj(b, json_object_new_string(d));
		return add_msg(b, c, &f, data, now, err);
	}
	if (!strcmp(mt, "application/x-ndjson"))
		return parse_batch(b, c, r, now, err);
	if (!strcmp(mt, "application/json")) {
		int valid;

		data = pl_json_parse(r->body, r->body_len, PL_JSON_DEPTH, &valid);
		if (valid <= 0) {
			snprintf(err, ERRLEN, "the body: %s", pl_json_problem(valid, "not valid JSON"));
			return PL_EINVAL;
		}
		if (data)
			own_obj(b, data);
		request_fields(r, NULL, 0, &f);
		return add_msg(b, c, &f, data, now, err);
	}
	if (!strcmp(mt, "application/x-www-form-urlencoded")) {
		/* curl -d 'disk full' sends this type: only a body with a data
		 * field is a form; anything else is the message text itself. */
		if (form_has_data(r->body, r->body_len)) {
			if (pl_kv_parse(r->body, r->body_len, &r->form, &r->nform) != PL_OK) {
				snprintf(err, ERRLEN, "the form is badly %%-encoded, not UTF-8, or holds a NUL (%%00)");
				return PL_EINVAL;
			}
			if (given_twice(r->form, r->nform, err) != PL_OK)
				return PL_EINVAL;
			if (!*pl_kv_get(r->form, r->nform, "data")) {
				snprintf(err, ERRLEN, "the message is empty");     /* as an empty text is */
				return PL_EINVAL;
			}
			request_fields(r, r->form, r->nform, &f);
			data = own_obj(b, json_object_new_string(pl_kv_get(r->form, r->nform, "data")));
			return add_msg(b, c, &f, data, now, err);
		}
	} else if (mt[0] ? strncmp(mt, "text/", 5) != 0 : ct[strspn(ct, " \t")] != '\0') {
		/* A header with parameters and no type ("; charset=x") is not
		 * "no type": the client meant one, and we cannot tell which. */
		snprintf(err, ERRLEN, "content type %.60s is not accepted: use text/plain, application/json, "
			 "application/x-www-form-urlencoded or application/x-ndjson", mt[0] ? mt : ct);
		return PL_ETYPE;
	}
	if (r->body_len == 0) {
		/* Fields may come in the query: data= too, when the body is empty. */
		const char *d = pl_req_arg(r, "data");

		if (d && *d) {
			request_fields(r, NULL, 0, &f);
			data = own_obj(b, json_object_new_string(d));
			return add_msg(b, c, &f, data, now, err);
		}
		snprintf(err, ERRLEN, "the message is empty");
		return PL_EINVAL;
	}
	if (!(data = text_data(r->body, r->body_len, err)))
		return PL_EINVAL;
	own_obj(b, data);
	request_fields(r, NULL, 0, &f);
	return add_msg(b, c, &f, data, now, err);
}

/* Which token (or trusted web-server user) is publishing. */
static int authorize(const struct pl_conf *c, const struct pl_req *r, const struct pl_token **tok, char *err)
{
	const char *t = pl_auth_bearer(r, 1), *ru = pl_req_env(r, "REMOTE_USER");

	*tok = NULL;
	if (t && *t) {
		if ((*tok = pl_auth_find(c, t)))
			return PL_OK;
		if (pl_auth_is_subscriber(c, t)) {
			snprintf(err, ERRLEN, "a subscriber token cannot publish");
			return PL_EFORBID;
		}
		snprintf(err, ERRLEN, "%s", pl_auth_joined(r) ? PL_AUTH_JOINED_MSG : "the token is not valid");
		return PL_EAUTH;
	}
	if (c->trust_remote_user && ru && *ru && !t) {
		/* The login comes along with any page's form or script (cookies,
		 * Basic): another site's page would publish in the visitor's
		 * name. Only this host's pages, and origins trusted with
		 * credentials; a script (no browser headers) is itself. */
		if (pl_http_cross_site(c, r) || (!pl_http_same_origin(r) && pl_http_foreign_origin(c, r))) {
			snprintf(err, ERRLEN, "another site's page may not publish on the web server's login "
				 "(send a publish token, or list the origin in cors_origins with cors_credentials on)");
			return PL_EFORBID;
		}
		return PL_OK;
	}
	snprintf(err, ERRLEN, "%s", pl_auth_joined(r) ? PL_AUTH_JOINED_MSG : c->ntokens || c->trust_remote_user ?
		 "publishing needs Authorization: Bearer TOKEN" :
		 "publishing is closed: configure a publish token (see docs/deploy.md)");
	return PL_EAUTH;
}

static void reply(struct pl_resp *resp, const struct pl_outopt *eo, const struct batch *b, int batch)
{
	struct json_object *o = json_object_new_object();

	if (batch) {
		struct json_object *ids = json_object_new_array();
		for (size_t i = 0; i < b->n; i++)
			json_object_array_add(ids, json_object_new_int64(b->m[i].id));
		json_object_object_add(o, "ids", ids);
	} else {
		json_object_object_add(o, "id", json_object_new_int64(b->m[0].id));
		json_object_object_add(o, "topic", json_object_new_string(b->m[0].topic));
		json_object_object_add(o, "created", json_object_new_int64(b->m[0].created));
		json_object_object_add(o, "expires", json_object_new_int64(b->m[0].expires));
	}
	/* A script tag reads no status: JSONP is 200 with the object inside. */
	pl_out_object(resp, eo, eo->fmt == PL_FMT_JSONP ? 200 : 201, "published", o);
}

struct pl_pub {
	struct batch b;
	struct pl_buf bodies;
	struct pl_outopt eo;
	int ndjson;
};

static void pub_free(struct pl_pub *p)
{
	pl_buf_free(&p->bodies);
	batch_free(&p->b);
	free(p);
}

/* Everything before the commit. NULL: resp holds the whole answer (an
 * error, a preflight); else the messages to commit, their stored text
 * written, for pl_publish_end(). */
static struct pl_pub *publish_begin(const struct pl_conf *c, struct pl_req *r, struct pl_resp *resp,
				    int trusted)
{
	struct pl_pub *p;
	const struct pl_token *tok;
	const char *allow = c->publish_get ? "POST, GET, OPTIONS" : "POST, OPTIONS";
	char err[ERRLEN], mt[128];
	int rc;

	if (pl_http_cors(c, r, resp, allow))
		return NULL;
	p = pl_xcalloc(1, sizeof *p);
	/* The answer in the format asked for (XML, or JSONP with a valid
	 * callback); an unknown one is a plain JSON 400, as for poll. */
	if (pl_sub_answer_format(r, &p->eo, err, sizeof err) != PL_OK) {
		pl_out_error(resp, NULL, PL_EINVAL, NULL, err, 0);
		goto answered;
	}
	if (!pl_req_method_is(r, "POST") && !(pl_req_method_is(r, "GET") && c->publish_get)) {
		pl_resp_header(resp, "Allow", allow);
		pl_out_error(resp, &p->eo, PL_EMETHOD, NULL,
			     pl_req_method_is(r, "GET") ? "publish with POST (GET publishing is switched off)" :
			     "publish with POST", 0);
		goto answered;
	}
	/* Two credentials: taking either would be a guess, as it would be
	 * for a subscriber (pl_sub.c). */
	{
		static const char *const once[] = { "token" };

		if ((rc = pl_kv_once(r->args, r->nargs, once, 1, err, ERRLEN)) != PL_OK)
			goto fail;
	}
	tok = NULL;
	if (!trusted && (rc = authorize(c, r, &tok, err)) != PL_OK)
		goto fail;
	if ((rc = parse_body(&p->b, c, r, pl_now_ms(), err)) != PL_OK)
		goto fail;
	for (size_t i = 0; i < p->b.n; i++)
		if (tok && !pl_auth_topic_allowed(tok, p->b.m[i].topic)) {
			snprintf(err, ERRLEN, "this token may not publish to %.80s", p->b.m[i].topic);
			rc = PL_EFORBID;
			goto fail;
		}
	/* The stored text is written here, by this request, so that the shared
	 * write transaction holds only the inserts. */
	{
		size_t *off = pl_xmalloc(p->b.n * sizeof *off);
		struct batch *b = &p->b;

		for (size_t i = 0; i < b->n; i++) {
			off[i] = p->bodies.len;
			pl_msg_body(&b->m[i], &p->bodies);
		}
		for (size_t i = 0; i < b->n; i++) {
			b->m[i].body = p->bodies.p + off[i];
			b->m[i].body_len = (i + 1 < b->n ? off[i + 1] : p->bodies.len) - off[i];
		}
		free(off);
	}
	pl_req_media_type(pl_req_env(r, "CONTENT_TYPE"), mt, sizeof mt);
	p->ndjson = !strcmp(mt, "application/x-ndjson") && !pl_req_method_is(r, "GET");
	return p;
fail:
	/* Not on JSONP's status 200: a challenge belongs to a 401. */
	if (rc == PL_EAUTH && p->eo.fmt != PL_FMT_JSONP)
		pl_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"pushlite\"");
	pl_out_error(resp, &p->eo, rc, NULL, err, c->retry_after);
answered:
	pub_free(p);
	return NULL;
}

struct pl_pub *pl_publish_begin(const struct pl_conf *c, struct pl_req *r, struct pl_resp *resp)
{
	return publish_begin(c, r, resp, 0);
}

struct pl_msg *pl_pub_msgs(struct pl_pub *p, size_t *n)
{
	*n = p->b.n;
	return p->b.m;
}

void pl_publish_cancel(struct pl_pub *p)
{
	pub_free(p);
}

void pl_publish_end(const struct pl_conf *c, struct pl_pub *p, int rc, struct pl_resp *resp)
{
	if (rc == PL_OK)
		reply(resp, &p->eo, &p->b, p->ndjson);
	else
		pl_out_error(resp, &p->eo, rc, NULL, "the message store is unavailable; nothing was stored",
			     c->retry_after);
	pub_free(p);
}

static void publish(const struct pl_conf *c, struct pl_req *r, struct pl_resp *resp, int trusted)
{
	struct pl_pub *p = publish_begin(c, r, resp, trusted);

	if (p)
		pl_publish_end(c, p, pl_group_publish(c, p->b.m, p->b.n), resp);
}

void pl_publish_handle(const struct pl_conf *c, struct pl_req *r, struct pl_resp *resp)
{
	publish(c, r, resp, 0);
}

void pl_publish_trusted(const struct pl_conf *c, struct pl_req *r, struct pl_resp *resp)
{
	publish(c, r, resp, 1);
}
