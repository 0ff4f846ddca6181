/* t_publish.c: the publish handler: every input form of SPEC section 3,
 * the bad-input table, field precedence, auth (401/403), methods; and that
 * a refused publish stores nothing */
#include "pl_first.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pl_conf.h"
#include "pl_http.h"
#include "pl_log.h"
#include "pl_publish.h"
#include "pl_store.h"
#include "pl_util.h"
#include "tap.h"

#define PUB "Bearer pub-token-123456"
#define ADM "Bearer adm-token-abcdef"

static char dir[256];
static struct pl_conf conf;
static struct pl_store *st;
static struct pl_resp resp;

/* Set: req() hands the body over in a buffer of exactly its length, with no
 * NUL after it, so that a read past its end is caught by ASan and valgrind. */
static int exact_body;

/* One request: method, query string, content type (NULL: none), body, then
 * extra "NAME=VALUE" parameters ending with NULL. Fills resp. */
static int req(const char *method, const char *query, const char *ctype, const char *body, ...)
{
	char m[64], q[1024], ct[128];
	char *env[16];
	size_t n = 0;
	struct pl_req r;
	va_list ap;
	const char *e;

	snprintf(m, sizeof m, "REQUEST_METHOD=%s", method);
	env[n++] = m;
	snprintf(q, sizeof q, "QUERY_STRING=%s", query);
	env[n++] = q;
	if (ctype) {
		snprintf(ct, sizeof ct, "CONTENT_TYPE=%s", ctype);
		env[n++] = ct;
	}
	va_start(ap, body);
	while (n < 14 && (e = va_arg(ap, const char *)))
		env[n++] = (char *)e;
	va_end(ap);
	env[n] = NULL;
	pl_resp_free(&resp);
	pl_resp_init(&resp);
	char *copy = NULL;
	size_t len = body ? strlen(body) : 0;
	if (exact_body && body) {
		copy = malloc(len ? len : 1);
		memcpy(copy, body, len);
		body = copy;
	}
	pl_req_init(&r, env, body, len);
	pl_publish_handle(&conf, &r, &resp);
	pl_req_free(&r);
	free(copy);
	return resp.status;
}

static int64_t head(void)
{
	int64_t h = -1;

	pl_store_head(st, &h);
	return h;
}

/* The stored body of message id, or "" (static). */
static const char *stored(int64_t id)
{
	static char *body;
	struct pl_result res;

	memset(&res, 0, sizeof res);
	free(body);
	body = NULL;
	if (pl_store_get(st, id, &res) == PL_OK && res.n == 1)
		body = pl_xstrdup(res.rows[0].body);
	pl_result_free(&res);
	return body ? body : "";
}

static int64_t reply_id(void)
{
	struct json_object *o = json_tokener_parse(resp.body.p), *v;
	int64_t id = -1;

	if (o && json_object_object_get_ex(o, "id", &v))
		id = json_object_get_int64(v);
	json_object_put(o);
	return id;
}

/* The reply body on one line, for test descriptions. */
static const char *shown(void)
{
	static char b[512];

	snprintf(b, sizeof b, "%s", resp.body.p ? resp.body.p : "");
	for (char *p = b; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return b;
}

static int body_has(const char *s)
{
	return resp.body.p && strstr(resp.body.p, s);
}

static int head_has(const char *s)
{
	return resp.head.p && strstr(resp.head.p, s);
}

static void t_forms(void)
{
	int64_t id;

	ok(req("POST", "topic=/oa/x", "text/plain", "disk full", "HTTP_AUTHORIZATION=" PUB, NULL) == 201,
	   "text/plain: 201");
	id = reply_id();
	ok(id == head() && body_has("\"topic\":\"/oa/x\"") && body_has("\"created\":") && body_has("\"expires\":"),
	   "reply: id, topic, created, expires");
	ok(strstr(stored(id), "\"data\":\"disk full\"") != NULL, "text is stored as a JSON string");
	{
		struct json_object *o = json_tokener_parse(resp.body.p);
		int64_t c = json_object_get_int64(json_object_object_get(o, "created"));
		int64_t x = json_object_get_int64(json_object_object_get(o, "expires"));
		ok(x - c == conf.default_ttl * 1000, "default ttl applied (expires - created = %lld ms)", (long long)(x - c));
		json_object_put(o);
	}
	ok(req("POST", "topic=/oa/x", NULL, "no type", "HTTP_AUTHORIZATION=" PUB, NULL) == 201 &&
	   strstr(stored(reply_id()), "\"data\":\"no type\""), "no content type: text");
	ok(req("POST", "topic=/oa/x", "text/csv; charset=utf-8", "a,b", "HTTP_AUTHORIZATION=" PUB, NULL) == 201,
	   "any text/* type is text");
	ok(req("POST", "topic=/oa/j", "application/json; charset=utf-8", " {\"a\":[1,2],\"b\":\"</x>\"} \n",
	       "HTTP_AUTHORIZATION=" PUB, NULL) == 201 &&
	   strstr(stored(reply_id()), "\"data\":{\"a\":[1,2],\"b\":\"</x>\"}"), "application/json: stored as JSON");
	ok(req("POST", "topic=/oa/j", "Application/JSON", "42", "HTTP_AUTHORIZATION=" PUB, NULL) == 201 &&
	   strstr(stored(reply_id()), "\"data\":42"), "a bare JSON number, media type in any case");
	ok(req("POST", "topic=/oa/j", "application/json", "\"\\u00e9\"", "HTTP_AUTHORIZATION=" PUB, NULL) == 201,
	   "a JSON string with an escape");
	ok(req("POST", "topic=/oa/j", "application/json", "\xef\xbb\xbf{\"bom\":1}", "HTTP_AUTHORIZATION=" PUB, NULL) == 201 &&
	   strstr(stored(reply_id()), "\"data\":{\"bom\":1}"), "a JSON body after a byte order mark (RFC 8259 lets it be ignored)");
	ok(req("POST", "topic=/oa/j", "application/json", "{\"a\":\"it's \\\"q\\\" 'x'\",\"n\":-1.5e3}",
	       "HTTP_AUTHORIZATION=" PUB, NULL) == 201 && strstr(stored(reply_id()), "it's"),
	   "single quotes and escaped quotes inside strings, finite doubles are fine");
	ok(req("POST", "topic=/oa/j", "application/json",
	       "[0,-0,0.5,-0.0e-0,1E+5,10,1.5e10,\"tab\\there\",true,false,null,{\"e\":-2}]",
	       "HTTP_AUTHORIZATION=" PUB, NULL) == 201 &&
	   /* an integer is kept as a number: -0 comes back as 0 */
	   strstr(stored(reply_id()), "[0,0,0.5,-0.0e-0,1E+5,10,1.5e10,\"tab\\there\",true,false,null,{\"e\":-2}]"),
	   "every form of JSON number, escapes and literals are taken and kept as written (%s)", shown());

	ok(req("POST", "topic=/oa/j", "application/json", "[18446744073709551615,-9223372036854775808,12345678901234567890123.5]",
	       "HTTP_AUTHORIZATION=" PUB, NULL) == 201 &&
	   strstr(stored(reply_id()), "[18446744073709551615,-9223372036854775808,12345678901234567890123.5]"),
	   "the largest and smallest 64-bit integers, and a long double, kept as written (%s)", shown());
	ok(req("POST", "topic=/oa/j", "application/json", "[1e400,-1E999,1e-400]", "HTTP_AUTHORIZATION=" PUB, NULL) == 201 &&
	   strstr(stored(reply_id()), "[1e400,-1E999,1e-400]"),
	   "numbers past double range are JSON: taken and kept as written (%s)", shown());
	ok(req("POST", "", "application/x-ndjson", "{\"topic\":\"/oa/b\",\"data\":{\"x\":1e400}}\n", "HTTP_AUTHORIZATION=" PUB, NULL) == 201 &&
	   strstr(stored(reply_id() > 0 ? reply_id() : head()), "{\"x\":1e400}"),
	   "and in a batch line (%s)", shown());
	{
		/* Nesting: 64 levels of data, in a body or a batch line; 65 is
		 * refused also when the innermost container is empty. */
		char deep[256], line[300];
		int d;

		for (d = 0; d < 64; d++) {
			deep[d] = '[';
			deep[64 + d] = ']';
		}
		deep[128] = '\0';
		ok(req("POST", "topic=/oa/j", "application/json", deep, "HTTP_AUTHORIZATION=" PUB, NULL) == 201,
		   "64 empty levels: taken");
		snprintf(line, sizeof line, "{\"topic\":\"/oa/b\",\"data\":%s}\n", deep);
		ok(req("POST", "", "application/x-ndjson", line, "HTTP_AUTHORIZATION=" PUB, NULL) == 201,
		   "64 levels of data in a batch line: taken, as in a body");
		snprintf(line, sizeof line, "[%s]", deep);
		ok(req("POST", "topic=/oa/j", "application/json", line, "HTTP_AUTHORIZATION=" PUB, NULL) == 400 &&
		   strstr(shown(), "deeper"), "65 empty levels: 400, too deep (%s)", shown());
		snprintf(line, sizeof line, "{\"topic\":\"/oa/b\",\"data\":[%s]}\n", deep);
		ok(req("POST", "", "application/x-ndjson", line, "HTTP_AUTHORIZATION=" PUB, NULL) == 400,
		   "65 levels of data in a batch line: 400");
	}

	/* Form fields. */
	req("POST", "", "application/x-www-form-urlencoded",
	    "topic=%2Foa%2Ff&data=hello+world&type=notice&user=alice&clients=pc,ios,pc&src=OA&target=HR&ttl=60",
	    "HTTP_AUTHORIZATION=" PUB, NULL);
	ok(resp.status == 201, "form with every field: 201 (%s)", shown());
	id = reply_id();
	{
		const char *b = stored(id);
		ok(strstr(b, "\"topic\":\"/oa/f\"") && strstr(b, "\"data\":\"hello world\"") && strstr(b, "\"type\":\"notice\"") &&
		   strstr(b, "\"user\":\"alice\"") && strstr(b, "\"src\":\"OA\"") && strstr(b, "\"target\":\"HR\""),
		   "form fields stored (%s)", b);
		ok(strstr(b, "\"clients\":[\"pc\",\"ios\"]") != NULL, "clients normalized, duplicates dropped (%s)", b);
	}
	{
		struct json_object *o = json_tokener_parse(resp.body.p);
		int64_t c = json_object_get_int64(json_object_object_get(o, "created"));
		int64_t x = json_object_get_int64(json_object_object_get(o, "expires"));
		ok(x - c == 60000, "ttl=60 is 60 s");
		json_object_put(o);
	}
	ok(req("POST", "topic=/oa/c", "application/x-www-form-urlencoded", "disk full", "HTTP_AUTHORIZATION=" PUB, NULL) ==
	   201 && strstr(stored(reply_id()), "\"data\":\"disk full\""), "curl -d 'disk full': a form without data is text");
	ok(req("POST", "topic=/oa/c", "application/x-www-form-urlencoded", "a=1&b=%zz", "HTTP_AUTHORIZATION=" PUB, NULL) ==
	   201 && strstr(stored(reply_id()), "\"data\":\"a=1&b=%zz\""), "a body that is no form is stored as text");

	/* Precedence: body field, then header, then query. */
	ok(req("POST", "topic=/oa/q&type=fromquery", "application/x-www-form-urlencoded", "data=d&topic=/oa/body",
	       "HTTP_AUTHORIZATION=" PUB, "HTTP_X_TOPIC=/oa/hdr", "HTTP_X_TYPE=fromheader", NULL) == 201,
	   "fields from body, header and query");
	{
		const char *b = stored(reply_id());
		ok(strstr(b, "\"topic\":\"/oa/body\"") && strstr(b, "\"type\":\"fromheader\""),
		   "body field beats header, header beats query (%s)", b);
	}
	ok(req("POST", "", "text/plain", "x", "HTTP_AUTHORIZATION=" PUB, "HTTP_X_TOPIC=/oa/h", "HTTP_X_USER=bob",
	       "HTTP_X_CLIENTS=ios", "HTTP_X_TTL=1m", "HTTP_X_SRC=S", "HTTP_X_TARGET=T", NULL) == 201,
	   "every field as an X- header");
	{
		const char *b = stored(reply_id());
		ok(strstr(b, "\"topic\":\"/oa/h\"") && strstr(b, "\"user\":\"bob\"") && strstr(b, "\"clients\":[\"ios\"]") &&
		   strstr(b, "\"src\":\"S\"") && strstr(b, "\"target\":\"T\""), "header fields stored (%s)", b);
	}
	conf.max_ttl = 3600;
	ok(req("POST", "topic=/oa/t&ttl=30d", "text/plain", "x", "HTTP_AUTHORIZATION=" PUB, NULL) == 201, "ttl=30d accepted");
	{
		struct json_object *o = json_tokener_parse(resp.body.p);
		int64_t c = json_object_get_int64(json_object_object_get(o, "created"));
		int64_t x = json_object_get_int64(json_object_object_get(o, "expires"));
		ok(x - c == 3600 * 1000, "ttl is capped by max_ttl");
		json_object_put(o);
	}
	conf.max_ttl = 30 * 86400;

	/* NDJSON batch. */
	{
		int64_t before = head();
		req("POST", "type=dflt", "application/x-ndjson",
		    "{\"topic\":\"/oa/n\",\"data\":{\"k\":1}}\r\n\n  \n{\"topic\":\"/oa/n/2\",\"data\":\"s\",\"clients\":[\"pc\"],\"ttl\":90,\"type\":\"own\"}\n",
		    "HTTP_AUTHORIZATION=" PUB, NULL);
		ok(resp.status == 201, "ndjson: 201 (%s)", shown());
		ok(body_has("{\"ids\":[") && head() == before + 2, "ndjson: ids of both, blank lines and CRLF skipped");
		ok(strstr(stored(before + 1), "\"type\":\"dflt\"") && strstr(stored(before + 1), "\"data\":{\"k\":1}") &&
		   strstr(stored(before + 2), "\"type\":\"own\"") && strstr(stored(before + 2), "\"clients\":[\"pc\"]"),
		   "ndjson: the query fills what a line leaves out; a line's own field wins");
		ok(req("POST", "topic=/oa/d", "application/x-ndjson", "{\"data\":1}", "HTTP_AUTHORIZATION=" PUB, NULL) == 201 &&
		   strstr(stored(head()), "\"topic\":\"/oa/d\""), "ndjson: topic from the query, no final newline");
		/* Found by fuzzing: a last line of only blanks, at the very end
		 * of the buffer, was scanned past its end. */
		exact_body = 1;
		before = head();
		ok(req("POST", "topic=/oa/d", "application/x-ndjson", "{\"data\":2}\n \t", "HTTP_AUTHORIZATION=" PUB, NULL) == 201 &&
		   head() == before + 1, "ndjson: a last line of blanks without a newline is skipped");
		ok(req("POST", "topic=/oa/d", "application/x-ndjson", " ", "HTTP_AUTHORIZATION=" PUB, NULL) == 400 &&
		   head() == before + 1, "ndjson: a body of one blank holds no message: 400");
		exact_body = 0;
	}
}

static void t_bad(void)
{
	static const struct { const char *query, *ctype, *body; int status; const char *why; } tab[] = {
		{ "topic=/oa/a/../b", "text/plain", "x", 400, "a '..' topic" },
		{ "topic=/oa/", "text/plain", "x", 400, "a trailing '/'" },
		{ "topic=/", "text/plain", "x", 400, "publishing to /" },
		{ "topic=oa", "text/plain", "x", 400, "no leading /" },
		{ "", "text/plain", "x", 400, "no topic" },
		{ "topic=/oa/x", "application/json", "{\"a\":", 400, "truncated JSON" },
		{ "topic=/oa/x", "application/json", "{} x", 400, "JSON followed by garbage" },
		{ "topic=/oa/x", "application/json", "{'a':1}", 400, "single-quoted JSON" },
		{ "topic=/oa/x", "application/json", "[1,]", 400, "a trailing comma" },
		{ "topic=/oa/x", "application/json", "NaN", 400, "NaN (not JSON)" },
		{ "topic=/oa/x", "application/json", "[-Infinity]", 400, "-Infinity (not JSON)" },
		{ "topic=/oa/x", "application/json", "{\"a\":NaN}", 400, "NaN inside an object" },
		{ "topic=/oa/x", "application/json", "01", 400, "a leading zero" },
		{ "topic=/oa/x", "application/json", "[-01]", 400, "a negative leading zero" },
		{ "topic=/oa/x", "application/json", "{\"a\":00}", 400, "00 inside an object" },
		{ "topic=/oa/x", "application/json", "1.", 400, "a number ending in '.'" },
		{ "topic=/oa/x", "application/json", "[2.]", 400, "2. inside an array" },
		{ "topic=/oa/x", "application/json", "{\"a\":1.}", 400, "1. inside an object" },
		{ "topic=/oa/x", "application/json", "1.e5", 400, "no digit after '.'" },
		{ "topic=/oa/x", "application/json", "[1e]", 400, "no digit after 'e'" },
		{ "topic=/oa/x", "application/json", "[1e+]", 400, "no digit after 'e+'" },
		{ "topic=/oa/x", "application/json", "[.5]", 400, "no digit before '.'" },
		{ "topic=/oa/x", "application/json", "[+1]", 400, "a leading '+'" },
		{ "topic=/oa/x", "application/json", "[-]", 400, "a lone '-'" },
		{ "topic=/oa/x", "application/json", "\"a\tb\"", 400, "a raw tab inside a string" },
		{ "topic=/oa/x", "application/json", "{\"a\":\"x\ny\"}", 400, "a raw newline inside a string" },
		{ "topic=/oa/x", "application/json", "[Infinity]", 400, "Infinity (not JSON)" },
		{ "topic=/oa/x", "application/x-ndjson", "{\"topic\":\"/oa/b\",\"data\":NaN}\n", 400, "NaN in a batch line" },
		{ "topic=/oa/x", "application/json", "{\"z\":123456789012345678901234567890}", 400,
		  "an integer beyond 64 bits (json-c would clamp it)" },
		{ "topic=/oa/x", "application/json", "[18446744073709551616]", 400, "2^64" },
		{ "topic=/oa/x", "application/json", "[-9223372036854775809]", 400, "-2^63 - 1" },
		{ "topic=/oa/x", "application/x-ndjson", "{\"topic\":\"/oa/b\",\"data\":99999999999999999999}\n", 400,
		  "ndjson with an integer beyond 64 bits" },
		{ "topic=/oa/x", "application/json", "{\"a\":\"it's\",'b':1}", 400, "a single-quoted key after a string with '" },
		{ "topic=/oa/x", "application/json", "", 400, "empty JSON body" },
		{ "topic=/oa/x", "application/json", "\"\xff\"", 400, "JSON with bad UTF-8" },
		{ "topic=/oa/x", "text/plain", "caf\xc3", 400, "text with bad UTF-8" },
		{ "topic=/oa/x", "text/plain", "\xed\xa0\x80", 400, "text with a surrogate" },
		{ "topic=/oa/x", "text/plain", "", 400, "empty text body" },
		{ "topic=/oa/x", NULL, "", 400, "empty body without a type" },
		{ "topic=/oa/x", "image/png", "x", 415, "image/png" },
		{ "topic=/oa/x", "application/xml", "<a/>", 415, "application/xml" },
		{ "topic=/oa/x", "multipart/form-data; boundary=x", "x", 415, "multipart" },
		{ "topic=/oa/x", ";;;", "x", 415, "a Content-Type of parameters only (;;;)" },
		{ "topic=/oa/x", " ; charset=utf-8", "x", 415, "a Content-Type with a charset and no type" },
		{ "topic=/oa/x&ttl=0", "text/plain", "x", 400, "ttl=0" },
		{ "topic=/oa/x&ttl=3w", "text/plain", "x", 400, "ttl=3w" },
		{ "topic=/oa/x&user=a+b", "text/plain", "x", 400, "a user with a blank" },
		{ "topic=/oa/x&clients=PC", "text/plain", "x", 400, "an upper-case client kind" },
		{ "topic=/oa/x&clients=pc,,ios", "text/plain", "x", 400, "an empty client kind" },
		{ "topic=/oa/x&clients=", "text/plain", "x", 400, "empty clients" },
		{ "topic=/oa/x&type=a%0Ab", "text/plain", "x", 400, "a type with a newline" },
		{ "topic=/oa/x", "application/x-ndjson", "{\"topic\":\"/oa/a\",\"data\":1}\n{\"topic\":\"/oa/b\",\"data\":}\n", 400,
		  "ndjson with one bad line" },
		{ "topic=/oa/x", "application/x-ndjson", "{\"topic\":\"/oa/a\",\"data\":1}\n{\"topic\":\"/oa/b\",\"data\":1.}\n", 400,
		  "ndjson with a number json-c takes but JSON does not" },
		{ "topic=/oa/x", "application/x-ndjson", "{\"data\":1}\n{\"topic\":\"/oa/../b\",\"data\":1}\n", 400,
		  "ndjson with one bad topic" },
		{ "topic=/oa/x", "application/x-ndjson", "{\"data\":1}\n[1]\n", 400, "ndjson with a non-object line" },
		{ "topic=/oa/x", "application/x-ndjson", "{\"data\":1,\"colour\":\"red\"}\n", 400, "ndjson with an unknown field" },
		{ "topic=/oa/x", "application/x-ndjson", "{\"topic\":\"/oa/y\"}\n", 400, "ndjson line without data" },
		{ "topic=/oa/x", "application/x-ndjson", "{\"data\":1,\"topic\":5}\n", 400, "ndjson with a numeric topic" },
		{ "topic=/oa/x", "application/x-ndjson", "{\"data\":1,\"clients\":[]}\n", 400, "ndjson with empty clients" },
		{ "topic=/oa/x", "application/x-ndjson", "{\"data\":1,\"clients\":[1]}\n", 400, "ndjson with a numeric client" },
		{ "topic=/oa/x", "application/x-ndjson", "\n \n", 400, "ndjson without any line" },
		{ "topic=/oa/x", "application/x-www-form-urlencoded", "data=x&topic=/", 400, "form publishing to /" },
		{ "topic=/oa/x&topic=/oa/y", "text/plain", "x", 400, "two topics in the query" },
		{ "topic=/oa/x&clients=pc&clients=ios", "text/plain", "x", 400, "clients twice in the query" },
		{ "topic=/oa/x&ttl=1h&ttl=2h", "application/x-ndjson", "{\"data\":1}\n", 400, "ttl twice under a batch" },
		{ "topic=/oa/x", "application/x-www-form-urlencoded", "data=x&user=a&user=b", 400, "user twice in a form" },
		{ "topic=/oa/x", "application/x-www-form-urlencoded", "data=x&data=y", 400, "data twice in a form" },
	};
	int64_t before;

	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
		before = head();
		int s = req("POST", tab[i].query, tab[i].ctype, tab[i].body, "HTTP_AUTHORIZATION=" PUB, NULL);
		ok(s == tab[i].status && body_has("\"error\":") && body_has("\"message\":") && head() == before,
		   "%s: %d, JSON error, nothing stored (%s)", tab[i].why, tab[i].status, shown());
	}
	{
		/* 32 kinds are fine, with duplicates; a 33rd is refused, in a
		 * form body as in a batch line's array */
		struct pl_buf q = { 0 }, nd = { 0 };
		int s32, s33, snd;

		pl_buf_adds(&q, "data=x&clients=");
		pl_buf_adds(&nd, "{\"data\":1,\"clients\":[");
		for (int k = 0; k < 32; k++) {
			pl_buf_addf(&q, "%sk%d,k%d", k ? "," : "", k, k);
			pl_buf_addf(&nd, "%s\"k%d\"", k ? "," : "", k);
		}
		before = head();
		s32 = req("POST", "topic=/oa/k", "application/x-www-form-urlencoded", q.p, "HTTP_AUTHORIZATION=" PUB, NULL);
		ok(s32 == 201 && head() == before + 1, "32 client kinds (each twice) are accepted (%s)", shown());
		pl_buf_adds(&q, ",k32");
		pl_buf_adds(&nd, ",\"k32\"]}\n");
		before = head();
		s33 = req("POST", "topic=/oa/k", "application/x-www-form-urlencoded", q.p, "HTTP_AUTHORIZATION=" PUB, NULL);
		ok(s33 == 400 && body_has("at most 32 kinds") && head() == before, "a 33rd client kind is refused (%s)",
		   shown());
		snd = req("POST", "topic=/oa/k", "application/x-ndjson", nd.p, "HTTP_AUTHORIZATION=" PUB, NULL);
		ok(snd == 400 && body_has("at most 32 kinds") && head() == before,
		   "a batch line with 33 kinds is refused, nothing stored (%s)", shown());
		pl_buf_free(&q);
		pl_buf_free(&nd);
	}
	req("POST", "topic=/", "text/plain", "x", "HTTP_AUTHORIZATION=" PUB, NULL);
	ok(body_has("cannot publish to /"), "publishing to / says why");
	req("POST", "topic=/oa/x", "application/x-ndjson", "{\"data\":1}\n{\"data\":}\n", "HTTP_AUTHORIZATION=" PUB, NULL);
	ok(body_has("line 2"), "a bad ndjson line is named by number");
	req("POST", "topic=/oa/x&topic=/oa/y", "text/plain", "x", "HTTP_AUTHORIZATION=" PUB, NULL);
	ok(body_has("topic= is given twice"), "a field given twice is named (%s)", shown());
	before = head();
	ok(req("POST", "topic=/oa/x&topic=/oa/x&type=t&type=t", "text/plain", "x", "HTTP_AUTHORIZATION=" PUB, NULL) == 201 &&
	   head() == before + 1, "the same value twice is no ambiguity: 201");
}

static void t_auth(void)
{
	int64_t before = head();

	ok(req("POST", "topic=/oa/x", "text/plain", "x", NULL) == 401 && head_has("WWW-Authenticate: Bearer") &&
	   body_has("\"error\":\"unauthorized\""), "no token: 401 with WWW-Authenticate");
	ok(req("POST", "topic=/oa/x", "text/plain", "x", "HTTP_AUTHORIZATION=Bearer wrong-token-123", NULL) == 401,
	   "a wrong token: 401");
	ok(req("POST", "topic=/oa/x", "text/plain", "x", "HTTP_AUTHORIZATION=Bearer pub-token-12345", NULL) == 401,
	   "a prefix of a token: 401");
	ok(req("POST", "topic=/oa/x", "text/plain", "x", "HTTP_AUTHORIZATION=Basic cHViOnB1Yg==", NULL) == 401,
	   "Basic credentials: 401");
	ok(req("POST", "topic=/ops/x", "text/plain", "x", "HTTP_AUTHORIZATION=" PUB, NULL) == 403 &&
	   body_has("\"error\":\"forbidden\""), "a token outside its prefixes: 403");
	ok(req("POST", "topic=/oab", "text/plain", "x", "HTTP_AUTHORIZATION=" PUB, NULL) == 403,
	   "/oab is not under the prefix /oa: 403");
	ok(req("POST", "topic=/oa/x", "application/x-ndjson", "{\"data\":1}\n{\"data\":2,\"topic\":\"/ops\"}\n",
	       "HTTP_AUTHORIZATION=" PUB, NULL) == 403, "a batch with one line outside the prefixes: 403");
	ok(req("POST", "topic=/oa/x", "image/png", "x", NULL) == 401, "auth is checked before the body (401 before 415)");
	ok(head() == before, "nothing stored by refused publishes");
	ok(req("POST", "topic=/ops/x", "text/plain", "x", "HTTP_AUTHORIZATION=" ADM, NULL) == 201,
	   "an admin token publishes anywhere");
	ok(req("POST", "topic=/oa/x&token=pub-token-123456", "text/plain", "x", NULL) == 201, "token= in the query works");
	ok(req("POST", "topic=/oa/x", "text/plain", "x", "REDIRECT_HTTP_AUTHORIZATION=" PUB, NULL) == 201,
	   "Apache's REDIRECT_HTTP_AUTHORIZATION works");

	/* REMOTE_USER only when trusted. */
	ok(req("POST", "topic=/any", "text/plain", "x", "REMOTE_USER=ops", NULL) == 401, "REMOTE_USER is not trusted by default");
	conf.trust_remote_user = 1;
	ok(req("POST", "topic=/any", "text/plain", "x", "REMOTE_USER=ops", NULL) == 201, "trust_remote_user: REMOTE_USER publishes");
	ok(req("POST", "topic=/any", "text/plain", "x", "REMOTE_USER=ops", "HTTP_AUTHORIZATION=Bearer bad-token-000", NULL) ==
	   401, "trust_remote_user: a bad token is still refused");
	conf.trust_remote_user = 0;

	/* Methods. */
	ok(req("GET", "topic=/oa/x&data=hi&token=pub-token-123456", NULL, NULL, NULL) == 405 && head_has("Allow: POST"),
	   "GET publish is off by default: 405 with Allow");
	conf.publish_get = 1;
	before = head();
	ok(req("GET", "topic=/oa/g&data=hi&token=pub-token-123456", NULL, NULL, NULL) == 201 && head() == before + 1 &&
	   strstr(stored(head()), "\"data\":\"hi\""), "publish_get = on: GET ?topic&data&token publishes");
	ok(req("GET", "topic=/oa/g&token=pub-token-123456", NULL, NULL, NULL) == 400, "GET without data: 400");
	conf.publish_get = 0;
	ok(req("DELETE", "topic=/oa/x", "text/plain", "x", "HTTP_AUTHORIZATION=" PUB, NULL) == 405, "DELETE: 405");
	ok(req("PUT", "topic=/oa/x", "text/plain", "x", "HTTP_AUTHORIZATION=" PUB, NULL) == 405 && head_has("Allow: POST, OPTIONS"),
	   "PUT: 405 (publish is POST only)");

	/* No token configured and REMOTE_USER not trusted: closed. */
	{
		size_t n = conf.ntokens;
		conf.ntokens = 0;
		ok(req("POST", "topic=/oa/x", "text/plain", "x", NULL) == 401 && body_has("closed"),
		   "no token configured: 401, publishing is closed");
		ok(req("POST", "topic=/oa/x", "text/plain", "x", "HTTP_AUTHORIZATION=" PUB, NULL) == 401,
		   "no token configured: a formerly valid token is refused");
		conf.ntokens = n;
	}
}

/* The checkpoint thread, started by the first publish with that request's
 * config, must not read it later: the process frees its config at exit
 * while the thread may still be copying the WAL back. Here the config the
 * thread started with is freed (zeroed), then enough is published through
 * another to make the WAL ask the thread for a checkpoint. */
/* An operator's sqlite3 shell keeps a read transaction open: the WAL cannot
 * start over while it lasts, and the writer's RESTART checkpoints past the
 * threshold must not wait for it the whole busy timeout, again and again. */
static void t_restart_reader(void)
{
	char cmd[1024], flag[300], body[3000];
	char *env[] = { "REQUEST_METHOD=POST", "QUERY_STRING=topic=/oa/restart", "CONTENT_TYPE=text/plain",
			"HTTP_AUTHORIZATION=Bearer pub-token-123456", NULL };
	int64_t worst = 0, t0;
	int fails = 0, n = 0;

	if (getenv("PL_VALGRIND")) {
		/* 4,000 publishes outlast the reader there: nothing to see. */
		ok(1, "restart: a reader does not stall publishes # SKIP times mean nothing under valgrind");
		return;
	}
	snprintf(flag, sizeof flag, "%s/reader-holds", dir);
	/* A separate program: SQLite's state does not survive a fork. */
	snprintf(cmd, sizeof cmd,
		 "sqlite3 '%s' 'BEGIN;' 'SELECT count(*) FROM messages;' '.shell touch %s' '.shell sleep 6' "
		 ">/dev/null 2>&1 &", conf.db_path, flag);
	if (system(cmd) != 0) {
		ok(0, "restart: cannot start sqlite3");
		return;
	}
	for (int i = 0; i < 100 && access(flag, F_OK) != 0; i++)
		usleep(50 * 1000);
	ok(access(flag, F_OK) == 0, "restart: a sqlite3 shell holds a read transaction");
	memset(body, 'r', sizeof body - 1);
	body[sizeof body - 1] = '\0';
	/* Past WAL_RESTART_PAGES (8,000 frames) more than once. */
	for (; n < 4000; n++) {
		struct pl_req r;
		int64_t d;

		pl_req_init(&r, env, body, strlen(body));
		pl_resp_free(&resp);
		pl_resp_init(&resp);
		t0 = pl_mono_ms();
		pl_publish_handle(&conf, &r, &resp);
		d = pl_mono_ms() - t0;
		worst = d > worst ? d : worst;
		fails += resp.status != 201;
		pl_req_free(&r);
	}
	ok(fails == 0, "restart: %d publishes beside the reader, all 201 (%d not)", n, fails);
	ok(worst < 2000, "restart: no publish waited for the reader (the longest took %lld ms)", (long long)worst);
	/* The shell's sleep ends by itself; the WAL starts over after it. */
}

static void t_checkpoint_thread(const char *path)
{
	struct pl_conf other;
	char err[256], body[64];
	char *env[] = { "REQUEST_METHOD=POST", "QUERY_STRING=topic=/oa/ck", "CONTENT_TYPE=text/plain",
			"HTTP_AUTHORIZATION=Bearer pub-token-123456", NULL };
	int fails = 0;

	if (pl_conf_load(&other, path, err, sizeof err) != PL_OK)
		exit(2);
	pl_conf_free(&conf);
	for (int i = 0; i < 400; i++) {
		struct pl_req r;

		snprintf(body, sizeof body, "message %d", i);
		pl_req_init(&r, env, body, strlen(body));
		pl_resp_free(&resp);
		pl_resp_init(&resp);
		pl_publish_handle(&other, &r, &resp);
		fails += resp.status != 201;
		pl_req_free(&r);
	}
	usleep(300 * 1000);     /* the thread's checkpoint, had it crashed, would have by now */
	ok(fails == 0, "publishes past the checkpoint threshold after the first config was freed: all 201, no crash");
	pl_conf_free(&other);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char path[300], err[256];
	FILE *f;

	pl_log_set_level(PL_LOG_ERR);
	snprintf(dir, sizeof dir, "%s/pl-t_publish-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(path, sizeof path, "%s/pushlite.conf", dir);
	f = fopen(path, "w");
	if (!f)
		return 2;
	fprintf(f, "[pushlite]\ndatabase = %s/p.db\n\n[token pub]\ntoken = pub-token-123456\ntopics = /oa\n\n"
		"[token adm]\ntoken = adm-token-abcdef\nrole = admin\n", dir);
	fclose(f);
	if (pl_conf_load(&conf, path, err, sizeof err) != PL_OK || pl_store_open(&st, &conf) != PL_OK) {
		fprintf(stderr, "setup: %s\n", err);
		return 2;
	}
	pl_resp_init(&resp);
	t_forms();
	t_bad();
	t_auth();
	t_restart_reader();
	t_checkpoint_thread(path);
	pl_resp_free(&resp);
	stored(0);
	pl_store_close(st);
	pl_conf_free(&conf);
	{
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			diag("could not remove %s", dir);
	}
	return tap_done();
}
