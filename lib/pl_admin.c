/* pl_admin.c: message-table management for operators, and the health check */
#include "pl_first.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pl_admin.h"
#include "pl_auth.h"
#include "pl_log.h"
#include "pl_out.h"
#include "pl_sub.h"
#include "pl_waiting.h"

#define PATH_MAX_LEN 1024

/* What each resource answers: a 405's Allow and a plain OPTIONS say the
 * same (POST stands for DELETE where DELETE cannot be sent). */
#define ALLOW_READ "GET, HEAD, OPTIONS"
#define ALLOW_MESSAGES "GET, HEAD, DELETE, POST, OPTIONS"

static void health(const struct pl_conf *c, struct pl_store *st, struct pl_req *r, struct pl_resp *resp)
{
	struct json_object *o;
	struct pl_outopt eo;
	int64_t newest, head;
	char err[256];

	if (pl_http_cors(c, r, resp, ALLOW_READ))
		return;
	/* As every other endpoint: a format or callback it cannot give is a
	 * plain JSON 400, not an answer in another format. */
	if (pl_sub_answer_format(r, &eo, err, sizeof err) != PL_OK) {
		pl_out_error(resp, NULL, PL_EINVAL, NULL, err, 0);
		return;
	}
	if (!pl_req_method_is(r, "GET") && !pl_req_method_is(r, "HEAD")) {
		pl_resp_header(resp, "Allow", ALLOW_READ);
		pl_out_error(resp, &eo, PL_EMETHOD, NULL, "health is GET only", 0);
		return;
	}
	/* Two reads of one row each: cheap, and they prove the database answers. */
	if (!st || pl_store_newest(st, &newest, &head) != PL_OK) {
		pl_out_error(resp, &eo, PL_EIO, NULL, "the message store is unavailable", c->retry_after);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string("ok"));
	json_object_object_add(o, "push", json_object_new_boolean(c->push_enabled));
	json_object_object_add(o, "newest_id", json_object_new_int64(newest));
	json_object_object_add(o, "last_id", json_object_new_int64(head));
	pl_out_object(resp, &eo, 200, "health", o);
}

/* 401 without or with a bad token, 403 for a valid non-admin token. */
static int authorize(const struct pl_conf *c, const struct pl_req *r, char *err, size_t errlen)
{
	const char *bearer = pl_auth_bearer(r, 1);
	const struct pl_token *t = pl_auth_find(c, bearer);

	if (!t && pl_auth_is_subscriber(c, bearer)) {
		snprintf(err, errlen, "a subscriber token is not an admin token");
		return PL_EFORBID;
	}
	if (!t) {
		snprintf(err, errlen, "%s", pl_auth_joined(r) ? PL_AUTH_JOINED_MSG :
			 "admin needs Authorization: Bearer ADMIN-TOKEN");
		return PL_EAUTH;
	}
	if (t->role != PL_ROLE_ADMIN) {
		snprintf(err, errlen, "this token is not an admin token");
		return PL_EFORBID;
	}
	return PL_OK;
}

/* DELETE, or POST with _method=DELETE for clients that cannot send DELETE.
 * Method names are case-sensitive in HTTP, but this one is a form field
 * that forms and libraries spell either way. */
static int wants_delete(struct pl_req *r)
{
	const char *m;
	char mt[64];
	int del;

	if (pl_req_method_is(r, "DELETE"))
		return 1;
	if (!pl_req_method_is(r, "POST"))
		return 0;
	m = pl_req_arg(r, "_method");
	/* Only a form's body holds fields: text a page may post across sites
	 * (text/plain) is no form. */
	pl_req_media_type(pl_req_env(r, "CONTENT_TYPE"), mt, sizeof mt);
	if (strcmp(mt, "application/x-www-form-urlencoded") || r->form || !r->body_len ||
	    pl_kv_parse(r->body, r->body_len, &r->form, &r->nform) != PL_OK)
		return m && !strcasecmp(m, "DELETE");
	if (!m)
		m = pl_kv_get(r->form, r->nform, "_method");
	/* Decided before the query's fields are replaced: m may point into
	 * them. */
	del = m && !strcasecmp(m, "DELETE");
	/* An HTML form sends its filter (topic=, user=) in the body with
	 * _method: read it as the query. A field in both is the body's, as
	 * for publish (two places are no conflict; two values in one are). */
	if (del && r->nform) {
		size_t n = 0;
		struct pl_kv *kv = pl_xcalloc(r->nform + r->nargs, sizeof *kv);

		for (size_t i = 0; i < r->nform + r->nargs; i++) {
			const struct pl_kv *from = i < r->nform ? &r->form[i] : &r->args[i - r->nform];

			if (i >= r->nform && pl_kv_get(r->form, r->nform, from->k))
				continue;
			kv[n].k = pl_xstrdup(from->k);
			kv[n++].v = pl_xstrdup(from->v);
		}
		pl_kv_free(r->args, r->nargs);
		r->args = kv;
		r->nargs = n;
	}
	return del;
}

struct json_object *pl_admin_stats(const struct pl_conf *c, struct pl_store *st)
{
	struct pl_stats s;
	struct json_object *o;
	long waiting;

	if (pl_store_stats(st, &s) != PL_OK)
		return NULL;
	/* -1: the count's directory cannot be read; nobody is counted. */
	waiting = pl_waiting_total(c->db_path);
	o = json_object_new_object();
	json_object_object_add(o, "rows", json_object_new_int64(s.rows));
	json_object_object_add(o, "oldest_id", json_object_new_int64(s.oldest_id));
	json_object_object_add(o, "newest_id", json_object_new_int64(s.newest_id));
	json_object_object_add(o, "last_id", json_object_new_int64(s.last_id));
	json_object_object_add(o, "db_bytes", json_object_new_int64(s.db_bytes));
	json_object_object_add(o, "wal_bytes", json_object_new_int64(s.wal_bytes));
	json_object_object_add(o, "waiting", json_object_new_int64(waiting < 0 ? 0 : waiting));
	json_object_object_add(o, "publishes_last_minute", json_object_new_int64(s.publishes_last_minute));
	json_object_object_add(o, "push", json_object_new_boolean(c->push_enabled));
	return o;
}

static void stats(const struct pl_conf *c, struct pl_store *st, struct pl_resp *resp, const struct pl_outopt *eo)
{
	struct json_object *o = pl_admin_stats(c, st);

	if (!o) {
		pl_out_error(resp, eo, PL_EIO, NULL, "the message store is unavailable", c->retry_after);
		return;
	}
	pl_out_object(resp, eo, 200, "stats", o);
}

static void one_message(const struct pl_conf *c, struct pl_store *st, struct pl_req *r,
			struct pl_resp *resp, const char *idtext, int del, const struct pl_outopt *eo)
{
	struct pl_result res;
	int64_t id;
	int rc;

	memset(&res, 0, sizeof res);
	/* Anything but a plain positive number is no message of ours. */
	if (idtext[0] == '0' || pl_int_parse(idtext, 1, INT64_MAX, &id) != PL_OK) {
		pl_out_error(resp, eo, PL_ENOTFOUND, NULL, "no such message", 0);
		return;
	}
	if (del) {
		rc = pl_store_delete(st, id);
		if (rc == PL_OK && eo->fmt == PL_FMT_JSONP) {
			/* A script reads no status and an empty 204 calls no
			 * callback: the count, as a delete by filter gives it. */
			struct json_object *o = json_object_new_object();
			json_object_object_add(o, "deleted", json_object_new_int64(1));
			pl_out_object(resp, eo, 200, "result", o);
		} else if (rc == PL_OK)
			resp->status = 204;
		else
			pl_out_error(resp, eo, rc, NULL, rc == PL_ENOTFOUND ? "no such message" :
				     "the message store is unavailable", c->retry_after);
		return;
	}
	if (!pl_req_method_is(r, "GET") && !pl_req_method_is(r, "HEAD")) {
		pl_resp_header(resp, "Allow", ALLOW_MESSAGES);
		pl_out_error(resp, eo, PL_EMETHOD, NULL, "use GET or DELETE", 0);
		return;
	}
	rc = pl_store_get(st, id, &res);
	if (rc != PL_OK) {
		pl_out_error(resp, eo, rc, NULL, rc == PL_ENOTFOUND ? "no such message" :
			     "the message store is unavailable", c->retry_after);
	} else {
		pl_out_message(resp, eo, &res.rows[0], 1);
	}
	pl_result_free(&res);
}

static void messages(const struct pl_conf *c, struct pl_store *st, struct pl_req *r, struct pl_resp *resp,
		     int del, const struct pl_outopt *eo)
{
	struct pl_sub sub;
	struct pl_result res;
	char msg[256];
	int rc;
	int64_t n;

	memset(&res, 0, sizeof res);
	if (!del && !pl_req_method_is(r, "GET") && !pl_req_method_is(r, "HEAD")) {
		pl_resp_header(resp, "Allow", ALLOW_MESSAGES);
		pl_out_error(resp, eo, PL_EMETHOD, NULL, "use GET to list or DELETE to delete by filter", 0);
		return;
	}
	if ((rc = pl_sub_parse(&sub, r, c, PL_SUB_ADMIN, msg, sizeof msg)) != PL_OK) {
		pl_out_error(resp, &sub.out, rc, NULL, msg, 0);
		goto out;
	}
	if (del && !pl_req_arg(r, "topic") && !sub.f.user_filter) {
		/* Emptying the whole table is not an admin API call: a filter is
		 * a required parameter of this DELETE. */
		pl_out_error(resp, &sub.out, PL_EINVAL, NULL,
			     "DELETE needs a filter: topic= or user= (or DELETE /admin/messages/ID)", 0);
		goto out;
	}
	if (del) {
		/* The same filter as a list, since= included; limit= caps the
		 * delete only when given (a list's default of 100 does not). */
		if ((rc = pl_store_delete_matching(st, &sub.f, pl_req_arg(r, "limit") ? sub.f.limit : -1, &n)) != PL_OK) {
			/* Batches already deleted stay deleted: say how many, so
			 * the operator knows repeating the request is what is left. */
			if (n)
				snprintf(msg, sizeof msg, "the message store is unavailable after %lld deleted; "
					 "repeat the request to delete the rest", (long long)n);
			else
				snprintf(msg, sizeof msg, "the message store is unavailable");
			pl_out_error(resp, &sub.out, rc, NULL, msg, c->retry_after);
		} else {
			struct json_object *o = json_object_new_object();
			json_object_object_add(o, "deleted", json_object_new_int64(n));
			pl_out_object(resp, &sub.out, 200, "result", o);
		}
		goto out;
	}
	if ((rc = pl_store_query(st, &sub.f, &res)) != PL_OK)
		pl_out_error(resp, &sub.out, rc, NULL, "the message store is unavailable", c->retry_after);
	else
		pl_out_result(resp, &sub.out, &res);
out:
	pl_sub_free(&sub);
	pl_result_free(&res);
}

/* Errors the web server raises itself, before any program runs: lighttpd
 * sends them here when configured with server.error-handler (the
 * development config does), with the status in REDIRECT_STATUS. The
 * errors/ files, which the drop-in configs serve, carry the same code for
 * each status and the same text, except 500 and 502: there the files
 * describe what the drop-in servers mean by them (tests/e2e/errors.bats
 * compares them). */
static const struct {
	int status;
	const char *code, *msg;
} server_errors[] = {
	{ 400, "bad_request", "the web server refused the request: a malformed request line, header or URL, or a body on a GET or HEAD" },
	{ 401, "unauthorized", "the web server asks for a login first (HTTP authentication): send its user and password" },
	{ 403, "forbidden", "the web server refused this URL: a path longer than its file system takes, or one it does not serve" },
	{ 404, "not_found", PL_MSG_NO_ENDPOINT },
	{ 405, "method_not_allowed", "this method is not allowed here" },
	{ 408, "timeout", "the request took too long to arrive" },
	{ 411, "length_required", "a POST needs a body with a Content-Length (or chunked); with curl, -d ''" },
	{ 413, "too_large", "the request body is larger than the web server accepts" },
	{ 414, "uri_too_long", "the URL is longer than the web server accepts" },
	{ 417, "expectation_failed", "Expect: only 100-continue is understood" },
	{ 431, "headers_too_large", "the request headers are larger than the web server accepts" },
	{ 500, "internal", "the pushlite program failed; its error log says why" },
	{ 501, "not_implemented", "this method or transfer coding is not supported: use GET, POST, HEAD, OPTIONS "
	  "or DELETE, and send a body as it is, with Content-Length or chunked" },
	{ 502, "bad_gateway", "the pushlite program could not be reached; try again in a second" },
	{ 503, "unavailable", "the pushlite program is starting or has no free slot; try again in a second" },
	{ 504, "timeout", "the pushlite program did not answer in time; try again" },
	{ 505, "http_version_not_supported", "use HTTP/1.0 or HTTP/1.1" },
};

/* 1 when this is the web server's error handler call, answered in resp. */
static int server_error(const struct pl_conf *c, const struct pl_req *r, struct pl_resp *resp)
{
	/* REQUEST_URI is still the refused request's; the handler's own URL
	 * is in SCRIPT_NAME. */
	const char *rs = pl_req_env(r, "REDIRECT_STATUS"), *sn = pl_req_env(r, "SCRIPT_NAME");
	const char *uri = pl_req_env(r, "REQUEST_URI"), *code = NULL, *msg = NULL;
	size_t n = sn ? strlen(sn) : 0;
	int64_t status;
	struct pl_outopt eo;

	if (n < 6 || strcmp(sn + n - 6, "/error") || !rs ||
	    pl_int_parse(rs, 400, 599, &status) != PL_OK)
		return 0;
	for (size_t i = 0; i < sizeof server_errors / sizeof server_errors[0]; i++)
		if (server_errors[i].status == status) {
			code = server_errors[i].code;
			msg = server_errors[i].msg;
			break;
		}
	if (!code) {
		/* Another status of HTTP's registry passes as the web server
		 * gave it; a number that names none is answered as its class. */
		static const int known[] = { 402, 406, 407, 409, 410, 412, 416, 421, 422, 425, 426, 428,
					     451, 506, 507, 508, 510, 511 };
		size_t k;

		for (k = 0; k < sizeof known / sizeof known[0] && known[k] != status; k++)
			;
		if (k == sizeof known / sizeof known[0])
			status = status < 500 ? 400 : 500;
		code = status < 500 ? "bad_request" : "internal";
		msg = "the web server refused the request";
	}
	pl_http_cors_error(c, r, resp);
	/* In the format the refused request asked for (its query is in
	 * REQUEST_URI): a script tag reads only JSONP. */
	memset(&eo, 0, sizeof eo);
	if (uri && strchr(uri, '?'))
		pl_sub_raw_format(strchr(uri, '?') + 1, &eo);
	pl_out_error(resp, &eo, status == 503 ? PL_EIO : PL_EINVAL, code, msg, status == 503 ? 2 : 0);
	if (eo.fmt != PL_FMT_JSONP)
		resp->status = (int)status;
	return 1;
}

/* Where the script's name ends in path: the web server's PATH_INFO is the
 * rest (lighttpd and Apache set it; "/push/x/admin/stats" is script
 * "/push/x" and path info "/admin/stats", not admin). Without it, or when
 * the raw path does not end with it (%-escapes), the whole path. */
static size_t script_end(const struct pl_req *r, const char *path)
{
	const char *pi = pl_req_env(r, "PATH_INFO");
	size_t n = strlen(path), pn = pi ? strlen(pi) : 0;

	if (pn && pn < n && !strcmp(path + n - pn, pi))
		return n - pn;
	return n;
}

/* The admin resource after ".../admin" (or a plain CGI install's
 * "admin.cgi"): "", "/messages", "/stats"...; NULL when the path names no
 * admin resource. When the web server said where the script's name ends,
 * that name must end with "admin", and a raw path with dot segments (which
 * the web server resolved) names nothing. */
static const char *admin_resource(const char *path, size_t script_len)
{
	size_t n = strlen(path);
	const char *p;

	if (script_len < n) {
		for (p = path; (p = strstr(p, "/.")) && (size_t)(p - path) < script_len; p++)
			if (p[2] == '/' || (p[2] == '.' && p[3] == '/'))
				return NULL;
		for (size_t e = script_len; e > 0; e--)
			if (path[e - 1] == '/') {
				size_t k = script_len - e;
				if ((k == 5 || (k > 5 && pl_http_cgi_ext(path + e + 5, k - 5))) &&
				    !strncmp(path + e, "admin", 5))
					return path + script_len;
				return NULL;
			}
		return NULL;
	}
	for (p = path; (p = strstr(p, "/admin")); p++) {
		const char *rest = p + 6;

		if (pl_http_cgi_ext(rest, strcspn(rest, "/")))
			rest += strcspn(rest, "/");
		if (*rest == '\0' || *rest == '/')
			return rest;
	}
	return NULL;
}

void pl_admin_handle(const struct pl_conf *c, struct pl_store *st, struct pl_req *r, struct pl_resp *resp)
{
	char path[PATH_MAX_LEN], err[256];
	const char *rest;
	struct pl_outopt eo;
	size_t n;
	int rc, del;

	/* A path too long for the buffer names no endpoint: "" is a 404. */
	(void)pl_req_path(r, path, sizeof path);
	n = script_end(r, path);
	if (server_error(c, r, resp))
		return;
	if (n == strlen(path) && n >= 7 && !strcmp(path + n - 7, "/health")) {
		health(c, st, r, resp);
		return;
	}
	rest = admin_resource(path, n);
	/* A form's _method=DELETE brings its fields along, format= and
	 * callback= too: they are read before the answer's format is. */
	del = rest && wants_delete(r);
	pl_sub_error_format(r, &eo);
	/* The web server configs send every other path under /push/ here, so
	 * that a wrong URL gets a JSON error like any other, not the server's
	 * HTML page. It names no resource: no token is needed to learn that,
	 * and no preflight is answered for it. */
	if (!rest) {
		pl_http_cors_error(c, r, resp);
		pl_out_error(resp, &eo, PL_ENOTFOUND, NULL, PL_MSG_NO_ENDPOINT, 0);
		return;
	}
	if (pl_http_cors(c, r, resp, strcmp(rest, "/stats") ? ALLOW_MESSAGES : ALLOW_READ))
		return;
	if (pl_sub_answer_format(r, &eo, err, sizeof err) != PL_OK) {
		pl_out_error(resp, NULL, PL_EINVAL, NULL, err, 0);
		return;
	}
	/* Two credentials, or _method=DELETE&_method=GET: acting on either
	 * would be a guess, and a wrong one here deletes. The list would
	 * refuse the token in pl_sub_parse() too; the other resources read
	 * no filter. wants_delete() took a form's fields into r->args only
	 * when it deletes: its _method is looked at where it is. */
	{
		static const char *const once[] = { "token", "_method" };

		if (pl_kv_once(r->args, r->nargs, once, 2, err, sizeof err) != PL_OK ||
		    pl_kv_once(r->form, r->nform, once, 2, err, sizeof err) != PL_OK) {
			pl_out_error(resp, &eo, PL_EINVAL, NULL, err, 0);
			return;
		}
	}
	if ((rc = authorize(c, r, err, sizeof err)) != PL_OK) {
		if (rc == PL_EAUTH && eo.fmt != PL_FMT_JSONP)
			pl_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"pushlite admin\"");
		pl_out_error(resp, &eo, rc, NULL, err, 0);
		return;
	}
	if (!st) {
		pl_out_error(resp, &eo, PL_EIO, NULL, "the message store is unavailable", c->retry_after);
		return;
	}
	if (!strcmp(rest, "/messages"))
		messages(c, st, r, resp, del, &eo);
	else if (!strncmp(rest, "/messages/", 10))
		one_message(c, st, r, resp, rest + 10, del, &eo);
	else if (!strcmp(rest, "/stats") && (pl_req_method_is(r, "GET") || pl_req_method_is(r, "HEAD")))
		stats(c, st, resp, &eo);
	else if (!strcmp(rest, "/stats")) {
		pl_resp_header(resp, "Allow", ALLOW_READ);
		pl_out_error(resp, &eo, PL_EMETHOD, NULL, "stats is GET only", 0);
	}
	else {
		/* Named under the path this came by (/push/admin, or where the
		 * operator mounted it). */
		int k = (int)(rest - path);

		if (k > 50)
			k = 50;
		snprintf(err, sizeof err, "no such admin resource: use %.*s/messages, %.*s/messages/ID or %.*s/stats",
			 k, path, k, path, k, path);
		pl_out_error(resp, &eo, PL_ENOTFOUND, NULL, err, 0);
	}
}
