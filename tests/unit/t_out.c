/* t_out.c: output formats: the JSON envelope, XML escaping, JSONP and
 * iframe-script escaping, SSE/NDJSON/iframe stream writers, errors, headers */
#include "pl_first.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_http.h"
#include "pl_out.h"
#include "pl_util.h"
#include "tap.h"

/* A row as the store returns it: body is the stored JSON object text. */
static struct pl_row mkrow(int64_t id, const char *topic, const char *user, const char *clients, const char *type,
			   const char *data_json)
{
	struct pl_row r;
	struct pl_buf b = { 0 };

	memset(&r, 0, sizeof r);
	r.id = id;
	r.topic = (char *)topic;
	r.user = (char *)user;
	r.clients = (char *)clients;
	r.type = (char *)type;
	r.created = 1700000000000LL;
	r.expires = 1700000600000LL;
	pl_buf_addf(&b, "{\"topic\":\"%s\",\"data\":%s,\"created\":%lld,\"expires\":%lld}", topic, data_json,
		    (long long)r.created, (long long)r.expires);
	r.body = b.p;
	r.body_len = b.len;
	return r;
}

static int starts(const char *s, const char *prefix)
{
	return s && !strncmp(s, prefix, strlen(prefix));
}

static int has(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

static struct json_object *parse_exact(const char *s, size_t n)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = json_tokener_parse_ex(tok, s, (int)n);

	if (o && json_tokener_get_parse_end(tok) != n && !(json_tokener_get_parse_end(tok) == n - 1 && s[n - 1] == '\n')) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static void t_names(void)
{
	enum pl_fmt f;
	static const struct { const char *s; int valid; } cb[] = {
		{ "cb", 1 }, { "app.onPush", 1 }, { "$", 1 }, { "_x9", 1 }, { "a.b.c", 1 }, { "jQuery123_456", 1 },
		{ "", 0 }, { "9a", 0 }, { "a.", 0 }, { ".a", 0 }, { "a..b", 0 }, { "a-b", 0 }, { "a(b)", 0 },
		{ "a b", 0 }, { "a;b", 0 }, { "a[0]", 0 }, { "a\"", 0 }, { "</script>", 0 }, { "a.9b", 0 },
		/* Reserved words: a syntax error, or no call at all. */
		{ "delete", 0 }, { "typeof", 0 }, { "if", 0 }, { "app.delete", 0 }, { "new.x", 0 },
		{ "a.this", 0 }, { "this.cb", 1 }, { "deleted", 1 }, { "iff.in_", 1 }, { "$this", 1 },
	};
	char longcb[PL_CALLBACK_MAX + 2];

	for (size_t i = 0; i < sizeof cb / sizeof cb[0]; i++)
		ok(pl_out_callback_valid(cb[i].s) == cb[i].valid, "callback '%s' %s", cb[i].s, cb[i].valid ? "valid" : "refused");
	memset(longcb, 'c', PL_CALLBACK_MAX);
	longcb[PL_CALLBACK_MAX] = '\0';
	ok(pl_out_callback_valid(longcb), "a %d-byte callback is valid", PL_CALLBACK_MAX);
	longcb[PL_CALLBACK_MAX] = 'c';
	longcb[PL_CALLBACK_MAX + 1] = '\0';
	ok(!pl_out_callback_valid(longcb), "a %d-byte callback is refused", PL_CALLBACK_MAX + 1);

	ok(pl_out_format("json", 0, &f) == PL_OK && f == PL_FMT_JSON, "format json");
	ok(pl_out_format("xml", 0, &f) == PL_OK && f == PL_FMT_XML, "format xml");
	ok(pl_out_format("jsonp", 0, &f) == PL_OK && f == PL_FMT_JSONP, "format jsonp");
	ok(pl_out_format("sse", 0, &f) == PL_EINVAL && pl_out_format("sse", 1, &f) == PL_OK && f == PL_FMT_SSE,
	   "format sse only for streams");
	ok(pl_out_format("js", 1, &f) == PL_OK && f == PL_FMT_JS, "format js for streams");
	ok(pl_out_format("ndjson", 1, &f) == PL_OK && f == PL_FMT_NDJSON, "format ndjson for streams");
	ok(pl_out_format("html", 1, &f) == PL_EINVAL && pl_out_format("", 1, &f) == PL_EINVAL, "unknown formats refused");
}

static void t_json(void)
{
	struct pl_row rows[2];
	struct pl_result res;
	struct pl_outopt o = { .fmt = PL_FMT_JSON };
	struct pl_resp resp;
	struct json_object *j, *v, *m;

	rows[0] = mkrow(7, "/a", NULL, NULL, NULL, "\"hello\"");
	rows[1] = mkrow(9, "/a/b", "alice", "pc,ios", "notice", "{\"k\":[1,2]}");
	memset(&res, 0, sizeof res);
	res.rows = rows;
	res.n = 2;
	res.cursor = 9;
	res.more = 1;

	pl_resp_init(&resp);
	pl_out_result(&resp, &o, &res);
	ok(resp.status == 200 && has(resp.head.p, "Content-Type: application/json; charset=utf-8\r\n"),
	   "json: 200 with application/json");
	ok(has(resp.head.p, "X-Content-Type-Options: nosniff\r\n"), "json: nosniff");
	ok(starts(resp.body.p, "{\"cursor\":9,\"more\":true,\"messages\":[{\"id\":7,"),
	   "json: envelope starts cursor, more, messages; id first in a message");
	j = parse_exact(resp.body.p, resp.body.len);
	ok(j != NULL, "json: the answer is one valid JSON document");
	ok(j && json_object_object_get_ex(j, "messages", &v) && json_object_array_length(v) == 2,
	   "json: two messages");
	m = j && v ? json_object_array_get_idx(v, 1) : NULL;
	ok(m && json_object_get_int64(json_object_object_get(m, "id")) == 9 &&
	   !strcmp(json_object_get_string(json_object_object_get(m, "topic")), "/a/b") &&
	   json_object_is_type(json_object_object_get(m, "data"), json_type_object),
	   "json: the second message keeps id, topic and object data");
	ok(j && !json_object_object_get_ex(j, "reset", NULL) && !json_object_object_get_ex(j, "gap", NULL),
	   "json: no reset or gap unless set");
	ok(m && !json_object_object_get_ex(m, "last_get", NULL), "json: subscribers get no last_get");
	json_object_put(j);
	pl_resp_free(&resp);

	res.more = 0;
	res.reset = 1;
	res.gap = 1;
	res.n = 0;
	pl_resp_init(&resp);
	pl_out_result(&resp, &o, &res);
	ok(!strcmp(resp.body.p, "{\"cursor\":9,\"more\":false,\"reset\":true,\"gap\":true,\"messages\":[]}\n"),
	   "json: empty answer with reset and gap");
	pl_resp_free(&resp);

	/* Admin view: last_get spliced in, null when never delivered. */
	res.n = 2;
	res.reset = res.gap = 0;
	rows[1].last_get = 1700000001234LL;
	o.with_last_get = 1;
	pl_resp_init(&resp);
	pl_out_result(&resp, &o, &res);
	j = parse_exact(resp.body.p, resp.body.len);
	v = NULL;
	if (j)
		json_object_object_get_ex(j, "messages", &v);
	ok(v && json_object_get_type(json_object_object_get(json_object_array_get_idx(v, 0), "last_get")) == json_type_null &&
	   json_object_get_int64(json_object_object_get(json_object_array_get_idx(v, 1), "last_get")) == 1700000001234LL,
	   "admin json: last_get null or the first delivery time");
	json_object_put(j);
	pl_resp_free(&resp);
	free(rows[0].body);
	free(rows[1].body);
}

static void t_xml(void)
{
	struct pl_row rows[1];
	struct pl_result res;
	struct pl_outopt o = { .fmt = PL_FMT_XML };
	struct pl_resp resp;
	const char *b;

	rows[0] = mkrow(5, "/x", "u&<\"'>", "pc,ios", "t<y>pe", "\"a<b & c \\\"q\\\" 'x' ]]> </data>\"");
	rows[0].src = "S&S";
	rows[0].target = "T\"T";
	memset(&res, 0, sizeof res);
	res.rows = rows;
	res.n = 1;
	res.cursor = 5;
	pl_resp_init(&resp);
	pl_out_result(&resp, &o, &res);
	b = resp.body.p;
	ok(has(resp.head.p, "Content-Type: application/xml; charset=utf-8\r\n"), "xml: application/xml");
	ok(starts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<messages cursor=\"5\" more=\"false\">"),
	   "xml: declaration and <messages cursor more>");
	ok(has(b, "<message id=\"5\" topic=\"/x\" created=\"1700000000000\" expires=\"1700000600000\""),
	   "xml: message attributes in order");
	ok(has(b, " user=\"u&amp;&lt;&quot;&apos;&gt;\""), "xml: user attribute escapes & < \" ' >");
	ok(has(b, " type=\"t&lt;y&gt;pe\"") && has(b, " src=\"S&amp;S\"") && has(b, " target=\"T&quot;T\""),
	   "xml: type, src and target escaped");
	ok(has(b, "<clients><client>pc</client><client>ios</client></clients>"), "xml: clients list");
	ok(has(b, "<data>&quot;a&lt;b &amp; c \\&quot;q\\&quot; &apos;x&apos; ]]&gt; &lt;/data&gt;&quot;</data>"),
	   "xml: data is the JSON text, escaped (]]> and </data> inert)");
	ok(!has(b, "]]>") && !has(b, "<b") && !has(b, "& "), "xml: no raw ]]>, markup or bare & from the data");
	ok(has(b, "</message></messages>\n"), "xml: closes messages");
	ok(!has(b, "last_get"), "xml: no last_get for subscribers");
	pl_resp_free(&resp);

	/* Absent fields are omitted. */
	free(rows[0].body);
	rows[0] = mkrow(6, "/y", NULL, NULL, NULL, "1");
	pl_resp_init(&resp);
	pl_out_result(&resp, &o, &res);
	ok(!has(resp.body.p, " user=") && !has(resp.body.p, " type=") && !has(resp.body.p, "<clients>") &&
	   has(resp.body.p, "<data>1</data>"), "xml: absent user, type, clients omitted");
	pl_resp_free(&resp);
	res.reset = 1;
	res.gap = 1;
	res.more = 1;
	res.n = 0;
	pl_resp_init(&resp);
	pl_out_result(&resp, &o, &res);
	ok(has(resp.body.p, "<messages cursor=\"5\" more=\"true\" reset=\"true\" gap=\"true\"></messages>"),
	   "xml: reset and gap attributes");
	pl_resp_free(&resp);
	free(rows[0].body);

	/* U+FFFE and U+FFFF: no XML character, no character reference;
	 * inside the JSON text of <data> their JSON escapes keep the value. */
	rows[0] = mkrow(7, "/z", NULL, NULL, NULL, "\"a\xef\xbf\xbe\\\\\xef\xbf\xbf\xef\xbf\xbd\"");
	res.reset = res.gap = res.more = 0;
	res.n = 1;
	pl_resp_init(&resp);
	pl_out_result(&resp, &o, &res);
	ok(has(resp.body.p, "<data>&quot;a\\ufffe\\\\\\uffff\xef\xbf\xbd&quot;</data>") &&
	   !has(resp.body.p, "\xef\xbf\xbe") && !has(resp.body.p, "\xef\xbf\xbf"),
	   "xml: U+FFFE and U+FFFF in data become \\ufffe and \\uffff (U+FFFD stays itself)");
	pl_resp_free(&resp);
	free(rows[0].body);

	pl_resp_init(&resp);
	pl_out_error(&resp, &o, PL_EINVAL, NULL, "bad <topic> & \"more\"", 0);
	ok(resp.status == 400 && has(resp.head.p, "application/xml") &&
	   has(resp.body.p, "<error code=\"bad_request\">bad &lt;topic&gt; &amp; &quot;more&quot;</error>"),
	   "xml error: 400, code attribute, escaped message");
	pl_resp_free(&resp);
}

static void t_jsonp(void)
{
	struct pl_row rows[1];
	struct pl_result res;
	struct pl_outopt o = { .fmt = PL_FMT_JSONP };
	struct pl_resp resp;
	const char *b;

	strcpy(o.callback, "app.cb");
	rows[0] = mkrow(3, "/j", NULL, NULL, NULL, "\"</script><script>alert(1)</script> \xe2\x80\xa8 \xe2\x80\xa9 <!-- x\"");
	memset(&res, 0, sizeof res);
	res.rows = rows;
	res.n = 1;
	res.cursor = 3;
	pl_resp_init(&resp);
	pl_out_result(&resp, &o, &res);
	b = resp.body.p;
	ok(has(resp.head.p, "Content-Type: application/javascript; charset=utf-8\r\n"), "jsonp: application/javascript");
	ok(starts(b, "/**/app.cb({\"cursor\":3,"), "jsonp: /**/ then the callback wraps the envelope");
	ok(resp.body.len > 3 && !strcmp(b + resp.body.len - 3, ");\n"), "jsonp: ends with );");
	ok(!has(b, "</script") && !has(b, "<script") && !has(b, "<!--") && has(b, "\\u003c/script\\u003e"),
	   "jsonp: '<' and '>' in data escaped as \\u003c / \\u003e");
	ok(!has(b, "\xe2\x80\xa8") && !has(b, "\xe2\x80\xa9") && has(b, "\\u2028") && has(b, "\\u2029"),
	   "jsonp: U+2028 and U+2029 escaped");
	{
		/* What is inside the parentheses is still the same JSON. */
		size_t start = strlen("/**/app.cb("), n = resp.body.len - start - 3;
		struct json_object *j = parse_exact(b + start, n), *v = NULL;
		const char *d = NULL;
		if (j && json_object_object_get_ex(j, "messages", &v))
			d = json_object_get_string(json_object_object_get(json_object_array_get_idx(v, 0), "data"));
		ok(d && !strcmp(d, "</script><script>alert(1)</script> \xe2\x80\xa8 \xe2\x80\xa9 <!-- x"),
		   "jsonp: the escaped JSON decodes to the original data");
		json_object_put(j);
	}
	pl_resp_free(&resp);
	free(rows[0].body);

	pl_resp_init(&resp);
	pl_out_error(&resp, &o, PL_EAUTH, NULL, "no </script>", 0);
	ok(resp.status == 200 && starts(resp.body.p, "/**/app.cb({\"error\":\"unauthorized\"") &&
	   !has(resp.body.p, "</script>"), "jsonp error: status 200, error inside, escaped");
	pl_resp_free(&resp);
}

static void t_errors(void)
{
	static const struct { int rc, status; const char *code; } tab[] = {
		{ PL_EINVAL, 400, "bad_request" }, { PL_EAUTH, 401, "unauthorized" }, { PL_EFORBID, 403, "forbidden" },
		{ PL_ENOTFOUND, 404, "not_found" }, { PL_EMETHOD, 405, "method_not_allowed" },
		{ PL_ETOOBIG, 413, "too_large" }, { PL_ETYPE, 415, "unsupported_media_type" },
		{ PL_EFULL, 429, "too_many_subscribers" }, { PL_EIO, 503, "storage_unavailable" },
		{ PL_EOFF, 503, "push_off" }, { PL_EBUSY, 503, "storage_busy" }, { PL_ECONF, 500, "internal" },
	};
	struct pl_resp resp;

	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
		char want[128];
		pl_resp_init(&resp);
		pl_buf_adds(&resp.body, "left over");
		pl_out_error(&resp, NULL, tab[i].rc, NULL, "msg \"q\"", 7);
		snprintf(want, sizeof want, "{\"error\":\"%s\",\"message\":\"msg \\\"q\\\"\"}\n", tab[i].code);
		ok(resp.status == tab[i].status && !strcmp(resp.body.p, want) &&
		   has(resp.head.p, "application/json") &&
		   (tab[i].status == 503) == has(resp.head.p, "Retry-After: 7\r\n"),
		   "error rc %d: %d %s, Retry-After only on 503", tab[i].rc, tab[i].status, tab[i].code);
		pl_resp_free(&resp);
	}
	pl_resp_init(&resp);
	pl_out_error(&resp, NULL, PL_EIO, "custom_code", "m", 0);
	ok(resp.status == 503 && has(resp.body.p, "\"error\":\"custom_code\"") && !has(resp.head.p, "Retry-After"),
	   "error: explicit code; no Retry-After when 0");
	pl_resp_free(&resp);
	ok(pl_http_status(PL_OK) == 200 && pl_http_status(999) == 500, "status of OK and of an unknown code");
	ok(!strcmp(pl_http_reason(415), "Unsupported Media Type") && !strcmp(pl_http_reason(299), "Unknown"),
	   "reason phrases");
}

static void t_headers(void)
{
	struct pl_resp resp;
	struct pl_buf out = { 0 };

	pl_resp_init(&resp);
	ok(pl_resp_header(&resp, "X-A", "1") == PL_OK, "header: plain value accepted");
	ok(pl_resp_header(&resp, "X-B", "a\r\nSet-Cookie: x=1") == PL_EINVAL, "header: CRLF in a value refused");
	ok(pl_resp_header(&resp, "X-C", "a\nb") == PL_EINVAL && pl_resp_header(&resp, "X-D", "a\rb") == PL_EINVAL,
	   "header: lone LF or CR refused");
	ok(pl_resp_header(&resp, "X-E\r\nX-F", "v") == PL_EINVAL && pl_resp_header(&resp, "X:G", "v") == PL_EINVAL,
	   "header: CR/LF or ':' in a name refused");
	ok(!strcmp(resp.head.p, "X-A: 1\r\n"), "header: refused headers add nothing");
	resp.status = 201;
	pl_buf_adds(&resp.body, "{}");
	pl_resp_serialize(&resp, &out);
	ok(!strcmp(out.p, "Status: 201 Created\r\nX-A: 1\r\n\r\n{}"), "serialize: status, headers, blank line, body");
	pl_buf_free(&out);
	pl_resp_free(&resp);
	pl_resp_free(NULL);
}

static void t_streams(void)
{
	struct pl_outopt sse = { .fmt = PL_FMT_SSE }, nd = { .fmt = PL_FMT_NDJSON }, js = { .fmt = PL_FMT_JS };
	struct pl_row r = mkrow(12, "/s", NULL, NULL, NULL, "\"line1\\nline2 </script> \xe2\x80\xa8\"");
	struct pl_buf b = { 0 };
	struct pl_resp resp;

	strcpy(js.callback, "pushlite_cb");

	pl_resp_init(&resp);
	pl_out_stream_headers(&resp, &sse);
	ok(has(resp.head.p, "Content-Type: text/event-stream; charset=utf-8\r\n") &&
	   has(resp.head.p, "X-Accel-Buffering: no\r\n"), "sse headers: event-stream, no proxy buffering");
	pl_resp_free(&resp);
	pl_resp_init(&resp);
	pl_out_stream_headers(&resp, &nd);
	ok(has(resp.head.p, "Content-Type: application/x-ndjson"), "ndjson headers");
	pl_resp_free(&resp);
	pl_resp_init(&resp);
	pl_out_stream_headers(&resp, &js);
	ok(has(resp.head.p, "Content-Type: text/html; charset=utf-8"), "iframe headers: text/html");
	pl_resp_free(&resp);

	pl_out_stream_start(&b, &sse, 3000);
	ok(!strcmp(b.p, ": pushlite\nretry: 3000\n\n"), "sse start: comment and retry");
	pl_buf_reset(&b);
	pl_out_stream_end(&b, &sse, -1);
	ok(b.len == 0, "sse end after a message: nothing (the client resumes from that message's id)");
	pl_out_stream_end(&b, &sse, 41);
	ok(b.p && !strcmp(b.p, "id: 41\n\n"), "sse end without a message: the cursor as an id, in a block without data");
	pl_buf_reset(&b);
	pl_out_stream_end(&b, &nd, 41);
	ok(b.len == 0, "ndjson end: nothing");
	pl_out_stream_msg(&b, &sse, &r);
	ok(starts(b.p, "id: 12\nevent: message\ndata: {\"id\":12,\"topic\":\"/s\","), "sse message: id, event, data");
	ok(b.len > 2 && !strcmp(b.p + b.len - 2, "\n\n") && strchr(b.p + 28, '\n') == b.p + b.len - 2,
	   "sse message: data is one line, the event ends with a blank line");
	pl_buf_reset(&b);
	pl_out_stream_heartbeat(&b, &sse);
	ok(!strcmp(b.p, ": hb\n\n"), "sse heartbeat is a comment");
	pl_buf_reset(&b);
	pl_out_stream_keepalive(&b, &sse);
	ok(!strcmp(b.p, ":\n"), "sse keep-alive: a comment line with no text (no event, no heartbeat)");
	pl_buf_reset(&b);

	pl_out_stream_start(&b, &nd, 3000);
	ok(b.len == 1 && b.p[0] == '\n', "ndjson start: one empty line (a heartbeat), so the head leaves at once");
	pl_buf_reset(&b);
	pl_out_stream_msg(&b, &nd, &r);
	ok(starts(b.p, "{\"id\":12,") && b.p[b.len - 1] == '\n' && strchr(b.p, '\n') == b.p + b.len - 1,
	   "ndjson message: one line");
	{
		struct json_object *j = parse_exact(b.p, b.len);
		ok(j && json_object_get_int64(json_object_object_get(j, "id")) == 12, "ndjson message: valid JSON");
		json_object_put(j);
	}
	pl_buf_reset(&b);
	pl_out_stream_heartbeat(&b, &nd);
	ok(!strcmp(b.p, "\n"), "ndjson heartbeat is an empty line");
	pl_buf_reset(&b);

	pl_out_stream_start(&b, &js, 3000);
	ok(starts(b.p, "<!DOCTYPE html>") && b.len >= 2048 && has(b.p, "<body>"),
	   "iframe start: a document padded to at least 2 KiB");
	pl_buf_reset(&b);
	pl_out_stream_msg(&b, &js, &r);
	ok(starts(b.p, "<script>parent.pushlite_cb({\"id\":12,") && has(b.p, ");</script>\n"),
	   "iframe message: a script calling parent.callback");
	{
		/* Exactly one </script>: the one that closes our element. */
		const char *first = strstr(b.p, "</script>");
		ok(first && first == b.p + b.len - 10 && !has(b.p, "\xe2\x80\xa8"),
		   "iframe message: data cannot close the script element; U+2028 escaped");
	}
	pl_buf_reset(&b);
	pl_out_stream_heartbeat(&b, &js);
	ok(!strcmp(b.p, "<script>parent.pushlite_cb(null);</script>\n"), "iframe heartbeat calls back with null");
	pl_buf_free(&b);
	free(r.body);
}

static void t_object(void)
{
	struct pl_resp resp;
	struct pl_outopt o = { .fmt = PL_FMT_JSONP };
	struct json_object *obj = json_object_new_object();

	json_object_object_add(obj, "s", json_object_new_string("a/b"));
	pl_resp_init(&resp);
	pl_out_object(&resp, NULL, 201, "x", obj);
	ok(resp.status == 201 && !strcmp(resp.body.p, "{\"s\":\"a/b\"}\n"), "object: plain JSON, '/' not escaped");
	pl_resp_free(&resp);
	strcpy(o.callback, "f");
	obj = json_object_new_object();
	json_object_object_add(obj, "n", json_object_new_int(1));
	pl_resp_init(&resp);
	pl_out_object(&resp, &o, 200, "x", obj);
	ok(!strcmp(resp.body.p, "/**/f({\"n\":1});\n"), "object: JSONP-wrapped when asked");
	pl_resp_free(&resp);

	/* XML: scalars as attributes (escaped, null left out), arrays as
	 * elements named by the singular of their key. */
	o.fmt = PL_FMT_XML;
	obj = json_object_new_object();
	json_object_object_add(obj, "id", json_object_new_int64(7));
	json_object_object_add(obj, "topic", json_object_new_string("/a\"<&"));
	json_object_object_add(obj, "push", json_object_new_boolean(1));
	json_object_object_add(obj, "none", NULL);
	pl_resp_init(&resp);
	pl_out_object(&resp, &o, 201, "published", obj);
	ok(resp.status == 201 && !strcmp(resp.body.p, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
					 "<published id=\"7\" topic=\"/a&quot;&lt;&amp;\" push=\"true\"/>\n"),
	   "object as XML: attributes, escaped, null left out");
	ok(has(resp.head.p, "Content-Type: application/xml; charset=utf-8\r\n"), "object as XML: XML content type");
	pl_resp_free(&resp);
	obj = json_object_new_object();
	{
		struct json_object *ids = json_object_new_array();
		json_object_array_add(ids, json_object_new_int64(1));
		json_object_array_add(ids, json_object_new_int64(2));
		json_object_object_add(obj, "ids", ids);
	}
	pl_resp_init(&resp);
	pl_out_object(&resp, &o, 201, "published", obj);
	ok(!strcmp(resp.body.p, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			       "<published><id>1</id><id>2</id></published>\n"), "object as XML: array items as elements");
	pl_resp_free(&resp);
	obj = json_object_new_object();
	json_object_object_add(obj, "n", json_object_new_int(1));
	pl_resp_init(&resp);
	pl_out_object(&resp, &o, 200, NULL, obj);
	ok(!strcmp(resp.body.p, "{\"n\":1}\n"), "object without an XML root: JSON");
	pl_resp_free(&resp);
}

static void t_message(void)
{
	struct pl_resp resp;
	struct pl_outopt o = { .fmt = PL_FMT_XML };
	struct pl_row r = { .id = 5, .topic = "/t", .user = "u<1>", .created = 1, .expires = 2, .last_get = 3,
			    .body = "{\"topic\":\"/t\",\"data\":\"</script>\"}" };

	r.body_len = strlen(r.body);
	pl_resp_init(&resp);
	pl_out_message(&resp, &o, &r, 1);
	ok(resp.status == 200 && has(resp.body.p, "<message id=\"5\" topic=\"/t\"") &&
	   has(resp.body.p, "user=\"u&lt;1&gt;\"") && has(resp.body.p, "last_get=\"3\"") &&
	   has(resp.body.p, "<data>&quot;&lt;/script&gt;&quot;</data></message>"), "one message as XML");
	pl_resp_free(&resp);
	o.fmt = PL_FMT_JSONP;
	strcpy(o.callback, "cb");
	pl_resp_init(&resp);
	pl_out_message(&resp, &o, &r, 1);
	ok(!strncmp(resp.body.p, "/**/cb({\"id\":5,", 15) && has(resp.body.p, "\\u003c/script\\u003e") &&
	   has(resp.body.p, "\"last_get\":3});"), "one message as JSONP, script-safe");
	pl_resp_free(&resp);
	pl_resp_init(&resp);
	pl_out_message(&resp, NULL, &r, 0);
	ok(!strcmp(resp.body.p, "{\"id\":5,\"topic\":\"/t\",\"data\":\"</script>\"}\n"), "one message as JSON");
	pl_resp_free(&resp);
}

/* Accept-style q-values (the stream's choice of NDJSON reads them). */
static void t_accept_q(void)
{
	static const struct { const char *h, *name; int q; } cases[] = {
		{ "application/x-ndjson", "application/x-ndjson", 1000 },
		{ "APPLICATION/X-NDJSON", "application/x-ndjson", 1000 },
		{ "text/event-stream, application/x-ndjson;q=0.5", "application/x-ndjson", 500 },
		{ "text/event-stream, application/x-ndjson;q=0.5", "text/event-stream", 1000 },
		{ "application/x-ndjson; charset=utf-8; q=0.25", "application/x-ndjson", 250 },
		{ "application/x-ndjson;q=0", "application/x-ndjson", 0 },
		{ "application/x-ndjsonp", "application/x-ndjson", -1 },
		{ "*/*;q=0.1", "application/x-ndjson", -1 },
		{ "*/*;q=0.1", "*/*", 100 },
		{ "", "text/event-stream", -1 },
		{ ",,;q=1", "text/event-stream", -1 },
	};

	ok(pl_http_accept_q(NULL, "gzip") == -1, "no header: -1");
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		ok(pl_http_accept_q(cases[i].h, cases[i].name) == cases[i].q, "'%s' gives %s q %d", cases[i].h,
		   cases[i].name, cases[i].q);
}

int main(void)
{
	t_names();
	t_json();
	t_xml();
	t_jsonp();
	t_errors();
	t_headers();
	t_streams();
	t_object();
	t_message();
	t_accept_q();
	return tap_done();
}
