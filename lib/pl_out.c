/* pl_out.c: JSON, XML, JSONP, SSE, iframe-script and NDJSON writers.
 *
 * Stored message bodies are JSON objects made by json-c at publish time;
 * answers splice "id" (and "last_get") into them instead of parsing them
 * again, so a poll costs no JSON work per message. Escaping is done here and
 * only here, one function per output context. */
#include "pl_first.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "pl_log.h"
#include "pl_out.h"
#include "pl_util.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
/* Old IE renders an iframe document incrementally only after ~2 KiB. */
#define IFRAME_PADDING 2048

int pl_out_format(const char *s, int stream_ok, enum pl_fmt *f)
{
	static const struct { const char *name; enum pl_fmt fmt; int stream; } tab[] = {
		{ "json", PL_FMT_JSON, 0 }, { "xml", PL_FMT_XML, 0 }, { "jsonp", PL_FMT_JSONP, 0 },
		{ "sse", PL_FMT_SSE, 1 }, { "js", PL_FMT_JS, 1 }, { "ndjson", PL_FMT_NDJSON, 1 },
	};

	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
		if (!strcmp(s, tab[i].name) && (stream_ok || !tab[i].stream)) {
			*f = tab[i].fmt;
			return PL_OK;
		}
	return PL_EINVAL;
}

static int ident_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}

/* A reserved word makes "word(...)" a syntax error or something else than
 * a call (delete, typeof, void), and old IE (ES3) refuses it after a dot
 * too: "app.delete(...)" breaks the page there. "this" leads a name well. */
static int reserved_word(const char *s, size_t n, int first)
{
	static const char *const words[] = {
		"await", "break", "case", "catch", "class", "const", "continue", "debugger", "default",
		"delete", "do", "else", "enum", "export", "extends", "false", "finally", "for",
		"function", "if", "implements", "import", "in", "instanceof", "interface", "let",
		"new", "null", "package", "private", "protected", "public", "return", "static",
		"super", "switch", "this", "throw", "true", "try", "typeof", "var", "void", "while",
		"with", "yield",
	};

	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strlen(words[i]) == n && !memcmp(words[i], s, n))
			return !(first && n == 4 && !memcmp(s, "this", 4));
	return 0;
}

int pl_out_callback_valid(const char *s)
{
	size_t n = strlen(s);
	const char *seg = s;

	if (n == 0 || n > PL_CALLBACK_MAX)
		return 0;
	for (const char *p = s;; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '.' || c == '\0') {
			if (p == seg || reserved_word(seg, (size_t)(p - seg), seg == s))
				return 0;
			if (c == '\0')
				return 1;
			seg = p + 1;
		} else if (p == seg ? !ident_start(c) : !ident_start(c) && !(c >= '0' && c <= '9')) {
			return 0;
		}
	}
}

void pl_out_message_json(struct pl_buf *b, const struct pl_row *r, int with_last_get)
{
	/* The stored body is "{...}" with at least "topic" inside. */
	pl_buf_adds(b, "{\"id\":");
	pl_buf_addi64(b, r->id);
	pl_buf_addc(b, ',');
	if (!with_last_get) {
		pl_buf_add(b, r->body + 1, r->body_len - 1);
		return;
	}
	pl_buf_add(b, r->body + 1, r->body_len - 2);
	if (r->last_get) {
		pl_buf_adds(b, ",\"last_get\":");
		pl_buf_addi64(b, r->last_get);
		pl_buf_addc(b, '}');
	} else {
		pl_buf_adds(b, ",\"last_get\":null}");
	}
}

/* JSON text inside JavaScript: U+2028 and U+2029 end a line in pre-2019
 * JavaScript, and "</" or "<!--" would end or confuse a script element. */
static void add_js(struct pl_buf *b, const char *s, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		const char *rep = NULL;
		size_t skip = 1;

		if ((unsigned char)s[i] == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
		    ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9)) {
			rep = (unsigned char)s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029";
			skip = 3;
		} else if (s[i] == '<') {
			rep = "\\u003c";    /* valid inside JSON strings, inert in HTML */
		} else if (s[i] == '>') {
			rep = "\\u003e";
		}
		if (!rep)
			continue;
		pl_buf_add(b, s + start, i - start);
		pl_buf_adds(b, rep);
		i += skip - 1;
		start = i + 1;
	}
	pl_buf_add(b, s + start, n - start);
}

/* json: s is JSON text, where U+FFFE and U+FFFF can only stand inside a
 * string, so they can be written as the JSON escapes that mean them. */
static void add_xml_text(struct pl_buf *b, const char *s, size_t n, int json)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		const char *rep;

		/* U+FFFE and U+FFFF are not XML characters, not even as
		 * character references: their JSON escapes in JSON text (the
		 * data stays what the JSON answer says), else U+FFFD. */
		if (pl_utf8_fffe(s, i, n)) {
			pl_buf_add(b, s + start, i - start);
			pl_buf_adds(b, !json ? "\xef\xbf\xbd" : (unsigned char)s[i + 2] == 0xbe ? "\\ufffe" : "\\uffff");
			i += 2;
			start = i + 1;
			continue;
		}
		switch (s[i]) {
		case '\t': case '\n': case '\r': continue;
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		default:
			/* Nor are the other C0 controls (an error message may quote
			 * one a client sent): U+FFFD as well. */
			if ((unsigned char)s[i] >= 0x20)
				continue;
			rep = "\xef\xbf\xbd";
			break;
		}
		pl_buf_add(b, s + start, i - start);
		pl_buf_adds(b, rep);
		start = i + 1;
	}
	pl_buf_add(b, s + start, n - start);
}

static void add_xml(struct pl_buf *b, const char *s, size_t n)
{
	add_xml_text(b, s, n, 0);
}

static void xml_attr(struct pl_buf *b, const char *name, const char *v)
{
	if (!v)
		return;
	pl_buf_addf(b, " %s=\"", name);
	add_xml(b, v, strlen(v));
	pl_buf_addc(b, '"');
}

static void xml_message(struct pl_buf *b, const struct pl_row *r, int with_last_get)
{
	struct json_tokener *tok = json_tokener_new_ex(PL_JSON_DEPTH + 2);
	struct json_object *o = tok ? json_tokener_parse_ex(tok, r->body, (int)r->body_len) : NULL, *data = NULL;
	const char *dtext = "null";

	if (tok)
		json_tokener_free(tok);
	pl_buf_addf(b, "<message id=\"%lld\"", (long long)r->id);
	xml_attr(b, "topic", r->topic);
	pl_buf_addf(b, " created=\"%lld\" expires=\"%lld\"", (long long)r->created, (long long)r->expires);
	xml_attr(b, "user", r->user);
	xml_attr(b, "type", r->type);
	xml_attr(b, "src", r->src);
	xml_attr(b, "target", r->target);
	if (with_last_get && r->last_get)
		pl_buf_addf(b, " last_get=\"%lld\"", (long long)r->last_get);
	pl_buf_addc(b, '>');
	if (r->clients) {
		pl_buf_adds(b, "<clients>");
		for (const char *p = r->clients; *p;) {
			size_t k = strcspn(p, ",");
			pl_buf_adds(b, "<client>");
			add_xml(b, p, k);
			pl_buf_adds(b, "</client>");
			p += k;
			if (*p)
				p++;
		}
		pl_buf_adds(b, "</clients>");
	}
	if (o && json_object_object_get_ex(o, "data", &data))
		dtext = json_object_to_json_string_ext(data, JSON_FLAGS);
	pl_buf_adds(b, "<data>");
	add_xml_text(b, dtext, strlen(dtext), 1);
	pl_buf_adds(b, "</data></message>");
	json_object_put(o);
}

/* <error code="CODE">text</error>, the element of every XML error. */
static void xml_error(struct pl_buf *b, const char *code, const char *msg)
{
	pl_buf_adds(b, "<error code=\"");
	add_xml(b, code, strlen(code));
	pl_buf_adds(b, "\">");
	add_xml(b, msg, strlen(msg));
	pl_buf_adds(b, "</error>\n");
}

static void set_type(struct pl_resp *resp, const struct pl_outopt *o)
{
	switch (o ? o->fmt : PL_FMT_JSON) {
	case PL_FMT_XML:
		pl_resp_header(resp, "Content-Type", "application/xml; charset=utf-8");
		break;
	case PL_FMT_JSONP:
		pl_resp_header(resp, "Content-Type", "application/javascript; charset=utf-8");
		break;
	case PL_FMT_NDJSON:
		pl_resp_header(resp, "Content-Type", "application/x-ndjson; charset=utf-8");
		break;
	case PL_FMT_SSE:
		pl_resp_header(resp, "Content-Type", "text/event-stream; charset=utf-8");
		break;
	case PL_FMT_JS:
		pl_resp_header(resp, "Content-Type", "text/html; charset=utf-8");
		break;
	default:
		pl_resp_header(resp, "Content-Type", "application/json; charset=utf-8");
	}
	pl_resp_header(resp, "X-Content-Type-Options", "nosniff");
}

void pl_out_headers(struct pl_resp *resp, const struct pl_outopt *o)
{
	set_type(resp, o);
}

#define XML_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

void pl_out_preamble(struct pl_buf *b, struct pl_outopt *o)
{
	/* Whitespace before a JSON text or a script is insignificant. */
	pl_buf_adds(b, o->fmt == PL_FMT_XML ? XML_DECL : "\n");
	o->preamble_sent = 1;
}

/* Wrap JSON text for JSONP; "/ * * /" in front defuses content sniffing of a
 * callback name used as a file signature. */
static void jsonp_wrap(struct pl_buf *b, const char *cb, const char *json, size_t n)
{
	pl_buf_adds(b, "/**/");
	pl_buf_adds(b, cb);
	pl_buf_addc(b, '(');
	add_js(b, json, n);
	pl_buf_adds(b, ");\n");
}

static void result_json(struct pl_buf *b, const struct pl_result *res, int with_last_get)
{
	pl_buf_addf(b, "{\"cursor\":%lld,\"more\":%s", (long long)res->cursor, res->more ? "true" : "false");
	if (res->reset)
		pl_buf_adds(b, ",\"reset\":true");
	if (res->gap)
		pl_buf_adds(b, ",\"gap\":true");
	pl_buf_adds(b, ",\"messages\":[");
	for (size_t i = 0; i < res->n; i++) {
		if (i)
			pl_buf_addc(b, ',');
		pl_out_message_json(b, &res->rows[i], with_last_get);
	}
	pl_buf_adds(b, "]}");
}

void pl_out_result(struct pl_resp *resp, const struct pl_outopt *o, const struct pl_result *res)
{
	resp->status = 200;
	set_type(resp, o);
	if (o->fmt == PL_FMT_XML) {
		struct pl_buf *b = &resp->body;
		if (!o->preamble_sent)
			pl_buf_adds(b, XML_DECL);
		pl_buf_addf(b, "<messages cursor=\"%lld\" more=\"%s\"", (long long)res->cursor, res->more ? "true" : "false");
		if (res->reset)
			pl_buf_adds(b, " reset=\"true\"");
		if (res->gap)
			pl_buf_adds(b, " gap=\"true\"");
		pl_buf_addc(b, '>');
		for (size_t i = 0; i < res->n; i++)
			xml_message(b, &res->rows[i], o->with_last_get);
		pl_buf_adds(b, "</messages>\n");
	} else if (o->fmt == PL_FMT_JSONP) {
		struct pl_buf tmp = { 0 };
		result_json(&tmp, res, o->with_last_get);
		jsonp_wrap(&resp->body, o->callback, tmp.p, tmp.len);
		pl_buf_free(&tmp);
	} else {
		result_json(&resp->body, res, o->with_last_get);
		pl_buf_addc(&resp->body, '\n');
	}
}

static struct json_object *error_object(int rc, const char *code, const char *msg)
{
	struct json_object *e = json_object_new_object();

	json_object_object_add(e, "error", json_object_new_string(code ? code : pl_http_code(rc)));
	json_object_object_add(e, "message", json_object_new_string(msg));
	return e;
}

static void js_call(struct pl_buf *b, const char *cb, const char *json, size_t n);

void pl_out_error(struct pl_resp *resp, const struct pl_outopt *o, int rc, const char *code,
		  const char *msg, int retry_after)
{
	enum pl_fmt fmt = o ? o->fmt : PL_FMT_JSON;
	struct pl_outopt plain = { .fmt = PL_FMT_JSON };
	struct json_object *e;
	char clean[1024];

	/* A message may quote what the client sent (a bad topic, a header):
	 * bytes that are not UTF-8 would make the body unreadable JSON. */
	pl_utf8_scrub(clean, sizeof clean, msg ? msg : "");
	msg = clean;
	pl_buf_reset(&resp->body);
	resp->status = pl_http_status(rc);
	/* A full host frees slots as held requests end: soon, whatever the
	 * operator's retry_after (meant for push off and a store down). */
	if (resp->status == 429)
		retry_after = PL_FULL_RETRY_AFTER;
	else if (resp->status != 503)
		retry_after = 0;
	if (retry_after > 0) {
		char v[16];
		snprintf(v, sizeof v, "%d", retry_after);
		pl_resp_header(resp, "Retry-After", v);
	}
	if (fmt == PL_FMT_XML) {
		set_type(resp, o);
		pl_buf_adds(&resp->body, XML_DECL);
		xml_error(&resp->body, code ? code : pl_http_code(rc), msg);
		return;
	}
	e = error_object(rc, code, msg);
	/* A script tag or an iframe page reads neither the status nor the
	 * headers: the error travels inside, with Retry-After's value as
	 * retry_after (the client waits that long before it probes). */
	if ((fmt == PL_FMT_JSONP || fmt == PL_FMT_JS) && retry_after > 0)
		json_object_object_add(e, "retry_after", json_object_new_int(retry_after));
	if (fmt == PL_FMT_JS) {
		const char *t = json_object_to_json_string_ext(e, JSON_FLAGS);

		set_type(resp, o);
		pl_buf_adds(&resp->body, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>pushlite</title></head><body>\n");
		js_call(&resp->body, o->callback, t, strlen(t));
		pl_buf_adds(&resp->body, "</body></html>\n");
		json_object_put(e);
		return;
	}
	pl_out_object(resp, fmt == PL_FMT_JSONP ? o : &plain, fmt == PL_FMT_JSONP ? 200 : resp->status, NULL, e);
}

/* An answer that is not a message list (a publish's reply, stats, health)
 * as XML: scalar members become attributes of <root> (null ones are left
 * out), and an array "names" becomes one <name> element per item. */
static void xml_object(struct pl_buf *b, const char *root, struct json_object *obj)
{
	int children = 0;

	pl_buf_adds(b, XML_DECL "<");
	pl_buf_adds(b, root);
	json_object_object_foreach(obj, k, v) {
		if (json_object_is_type(v, json_type_array))
			children = 1;
		else if (v && !json_object_is_type(v, json_type_object))
			xml_attr(b, k, json_object_get_string(v));
	}
	if (!children) {
		pl_buf_adds(b, "/>\n");
		return;
	}
	pl_buf_addc(b, '>');
	json_object_object_foreach(obj, key, val) {
		size_t n = strlen(key), len;

		if (!json_object_is_type(val, json_type_array))
			continue;
		if (n > 1 && key[n - 1] == 's')
			n--;
		len = json_object_array_length(val);
		for (size_t i = 0; i < len; i++) {
			const char *t = json_object_get_string(json_object_array_get_idx(val, i));

			pl_buf_addc(b, '<');
			pl_buf_add(b, key, n);
			pl_buf_addc(b, '>');
			add_xml(b, t ? t : "", t ? strlen(t) : 0);
			pl_buf_adds(b, "</");
			pl_buf_add(b, key, n);
			pl_buf_addc(b, '>');
		}
	}
	pl_buf_adds(b, "</");
	pl_buf_adds(b, root);
	pl_buf_adds(b, ">\n");
}

void pl_out_object(struct pl_resp *resp, const struct pl_outopt *o, int status, const char *xml_root,
		   struct json_object *obj)
{
	enum pl_fmt fmt = o ? o->fmt : PL_FMT_JSON;

	resp->status = status;
	if (fmt == PL_FMT_XML && xml_root) {
		set_type(resp, o);
		xml_object(&resp->body, xml_root, obj);
	} else if (fmt == PL_FMT_JSONP) {
		const char *s = json_object_to_json_string_ext(obj, JSON_FLAGS);

		set_type(resp, o);
		jsonp_wrap(&resp->body, o->callback, s, strlen(s));
	} else {
		set_type(resp, NULL);
		pl_buf_adds(&resp->body, json_object_to_json_string_ext(obj, JSON_FLAGS));
		pl_buf_addc(&resp->body, '\n');
	}
	json_object_put(obj);
}

void pl_out_message(struct pl_resp *resp, const struct pl_outopt *o, const struct pl_row *r, int with_last_get)
{
	enum pl_fmt fmt = o ? o->fmt : PL_FMT_JSON;

	resp->status = 200;
	set_type(resp, fmt == PL_FMT_XML || fmt == PL_FMT_JSONP ? o : NULL);
	if (fmt == PL_FMT_XML) {
		pl_buf_adds(&resp->body, XML_DECL);
		xml_message(&resp->body, r, with_last_get);
		pl_buf_addc(&resp->body, '\n');
	} else if (fmt == PL_FMT_JSONP) {
		struct pl_buf tmp = { 0 };

		pl_out_message_json(&tmp, r, with_last_get);
		jsonp_wrap(&resp->body, o->callback, tmp.p, tmp.len);
		pl_buf_free(&tmp);
	} else {
		pl_out_message_json(&resp->body, r, with_last_get);
		pl_buf_addc(&resp->body, '\n');
	}
}

/* ---- streams ---- */

void pl_out_stream_headers(struct pl_resp *resp, const struct pl_outopt *o)
{
	set_type(resp, o);
	/* Proxies (nginx in front, for one) must pass each event on at once. */
	pl_resp_header(resp, "X-Accel-Buffering", "no");
}

void pl_out_stream_start(struct pl_buf *b, const struct pl_outopt *o, int retry_ms)
{
	switch (o->fmt) {
	case PL_FMT_SSE:
		/* A comment first: some proxies hold a response until its first bytes. */
		pl_buf_addf(b, ": pushlite\nretry: %d\n\n", retry_ms);
		break;
	case PL_FMT_JS:
		pl_buf_adds(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>pushlite</title></head><body>\n<!--");
		for (int i = 0; i < IFRAME_PADDING / 64; i++)
			pl_buf_adds(b, "                                                                ");
		pl_buf_adds(b, "-->\n");
		/* A first heartbeat at once: the page knows the stream is open. */
		pl_out_stream_heartbeat(b, o);
		break;
	case PL_FMT_XML:
		/* One document: <message> elements as they come, </messages>
		 * when the stream ends. */
		pl_buf_adds(b, XML_DECL "<messages>\n");
		break;
	default:
		/* NDJSON, JSONP: an empty line (an NDJSON heartbeat, white space
		 * to a script), so that the head leaves at once through a web
		 * server that passes it on only with the first body bytes
		 * (Apache), not at the first message or heartbeat. */
		pl_buf_addc(b, '\n');
		break;
	}
}

void pl_out_stream_end(struct pl_buf *b, const struct pl_outopt *o, int64_t cursor)
{
	/* An id in a block without data sets EventSource's last event id and
	 * dispatches nothing: a stream that ends before its first message
	 * (stream_max_time on a quiet topic) is resumed from here, not from
	 * since=now again, which would lose what is published while the
	 * browser waits to reconnect. */
	if (o->fmt == PL_FMT_SSE && cursor >= 0)
		pl_buf_addf(b, "id: %lld\n\n", (long long)cursor);
	else if (o->fmt == PL_FMT_XML)
		pl_buf_adds(b, "</messages>\n");
	else if (o->fmt == PL_FMT_JS)
		pl_buf_adds(b, "</body></html>\n");
}

static void js_call(struct pl_buf *b, const char *cb, const char *json, size_t n)
{
	pl_buf_adds(b, "<script>parent.");
	pl_buf_adds(b, cb);
	pl_buf_addc(b, '(');
	add_js(b, json, n);
	pl_buf_adds(b, ");</script>\n");
}

void pl_out_stream_msg(struct pl_buf *b, const struct pl_outopt *o, const struct pl_row *r)
{
	struct pl_buf tmp = { 0 };

	switch (o->fmt) {
	case PL_FMT_SSE:
		/* json-c escapes control characters, so the JSON is one line. */
		pl_buf_adds(b, "id: ");
		pl_buf_addi64(b, r->id);
		pl_buf_adds(b, "\nevent: message\ndata: ");
		pl_out_message_json(b, r, 0);
		pl_buf_adds(b, "\n\n");
		break;
	case PL_FMT_JS:
		pl_out_message_json(&tmp, r, 0);
		js_call(b, o->callback, tmp.p, tmp.len);
		break;
	case PL_FMT_JSONP:
		pl_out_message_json(&tmp, r, 0);
		jsonp_wrap(b, o->callback, tmp.p, tmp.len);
		break;
	case PL_FMT_XML:
		xml_message(b, r, 0);
		pl_buf_addc(b, '\n');
		break;
	default:
		pl_out_message_json(b, r, 0);
		pl_buf_addc(b, '\n');
	}
	pl_buf_free(&tmp);
}

void pl_out_stream_keepalive(struct pl_buf *b, const struct pl_outopt *o)
{
	pl_buf_adds(b, o->fmt == PL_FMT_SSE ? ":\n" : "\n");
}

void pl_out_stream_heartbeat(struct pl_buf *b, const struct pl_outopt *o)
{
	switch (o->fmt) {
	case PL_FMT_SSE:
		pl_buf_adds(b, ": hb\n\n");
		break;
	case PL_FMT_JS:
		js_call(b, o->callback, "null", 4);
		break;
	default:
		pl_buf_addc(b, '\n');
	}
}

