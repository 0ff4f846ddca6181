/* fuzz_http.c: libFuzzer target for the request fields no other target
 * reaches
 *
 * If-None-Match (poll's ETag), Origin, Host, Referer and Sec-Fetch-Site
 * (CORS and the cross-site checks), X-Pushlite-Start, the admin routing by
 * PATH_INFO, SCRIPT_NAME and REQUEST_URI (message ids, _method=DELETE
 * forms), REDIRECT_STATUS, publish's X- header fields, Content-Encoding,
 * Transfer-Encoding and REMOTE_USER, and GET publishing (publish_get is
 * on: a GET's data= and fields come from the query). The input is one line
 * per variable below, in order (an empty line leaves it out), then the
 * body; the same request goes to poll, admin and publish against a
 * database in a temporary directory. Every answer is a known status with a
 * JSON (or empty) body, and a refused publish stores nothing. */
#include "pl_first.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_admin.h"
#include "pl_conf.h"
#include "pl_http.h"
#include "pl_log.h"
#include "pl_poll.h"
#include "pl_publish.h"
#include "pl_store.h"
#include "pl_util.h"

#include "fuzz_db.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pl_conf conf;
static struct pl_store *st;
static struct pl_token tok[2];
static char *origins[] = { "https://app.example.com", "null", "http://localhost:8080" };

static void setup(void)
{
	fuzz_db_conf(&conf, "http");
	conf.secret = strdup("fuzz-secret-0123456789");
	tok[0].name = "pub";
	tok[0].secret = "fuzz-token-1234";
	tok[0].prefixes[0] = "/f";
	tok[0].nprefixes = 1;
	tok[1].name = "adm";
	tok[1].secret = "fuzz-admin-1234";
	tok[1].role = PL_ROLE_ADMIN;
	conf.tokens = tok;
	conf.ntokens = 2;
	conf.cors_origins = origins;
	conf.ncors = 3;
	conf.cors_credentials = 1;
	conf.trust_remote_user = 1;
	conf.publish_get = 1;
	if (pl_store_open(&st, &conf) != PL_OK)
		abort();
	/* a few messages to poll, list and delete */
	for (int i = 0; i < 5; i++) {
		char *env[] = { "REQUEST_METHOD=POST", "HTTP_AUTHORIZATION=Bearer fuzz-token-1234",
				"QUERY_STRING=topic=/f/a&user=alice", NULL };
		struct pl_req r;
		struct pl_resp resp;
		pl_resp_init(&resp);
		pl_req_init(&r, env, "hello", 5);
		pl_publish_handle(&conf, &r, &resp);
		pl_req_free(&r);
		pl_resp_free(&resp);
	}
}

static void check(const struct pl_resp *resp, const char *who)
{
	switch (resp->status) {
	case 200: case 201: case 204: case 304: case 400: case 401: case 403: case 404:
	case 405: case 411: case 413: case 415: case 429: case 500: case 501: case 503:
		break;
	/* the web server's own errors, passed on by admin's error handler
	 * (SCRIPT_NAME .../error with REDIRECT_STATUS): HTTP's registry only */
	case 402: case 406: case 407: case 408: case 409: case 410: case 412: case 414:
	case 416: case 417: case 421: case 422: case 425: case 426: case 428: case 431:
	case 451: case 502: case 504: case 505: case 506: case 507: case 508: case 510:
	case 511:
		break;
	default:
		fprintf(stderr, "%s: status %d\n", who, resp->status);
		abort();
	}
	if (resp->body.len && resp->body.p[0] == '{') {
		struct json_object *o = json_tokener_parse(resp->body.p);
		if (!o) {
			fprintf(stderr, "%s: invalid JSON body %.*s\n", who, (int)resp->body.len, resp->body.p);
			abort();
		}
		json_object_put(o);
	}
	if (memchr(resp->head.p ? resp->head.p : "", '\0', resp->head.len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *names[] = {
		"REQUEST_METHOD=", "QUERY_STRING=", "PATH_INFO=", "SCRIPT_NAME=", "REQUEST_URI=",
		"HTTP_ORIGIN=", "HTTP_HOST=", "HTTP_REFERER=", "HTTP_SEC_FETCH_SITE=",
		"HTTP_IF_NONE_MATCH=", "HTTP_X_PUSHLITE_START=", "CONTENT_TYPE=", "REDIRECT_STATUS=",
		"HTTP_AUTHORIZATION=", "HTTP_X_TOPIC=", "HTTP_X_USER=", "HTTP_X_CLIENTS=",
		"HTTP_CONTENT_ENCODING=", "HTTP_TRANSFER_ENCODING=", "REMOTE_USER=", "HTTP_LAST_EVENT_ID=",
	};
	enum { NV = sizeof names / sizeof names[0] };
	char *env[NV + 1];
	const char *p = (const char *)data, *end = p + size;
	size_t n = 0, nenv = 0;
	int64_t h0 = 0, h1 = 0;

	if (!st)
		setup();
	while (n < NV && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p), k = strlen(names[n]);
		if (len && !memchr(p, '\0', len)) {
			env[nenv] = malloc(k + len + 1);
			memcpy(env[nenv], names[n], k);
			memcpy(env[nenv] + k, p, len);
			env[nenv][k + len] = '\0';
			nenv++;
		}
		n++;
		p = nl ? nl + 1 : end;
	}
	env[nenv] = NULL;
	if ((size_t)(end - p) > conf.max_body)
		goto out;
	{
		struct pl_req r;
		struct pl_resp resp;
		struct pl_result res;

		memset(&res, 0, sizeof res);
		pl_resp_init(&resp);
		pl_req_init(&r, env, p, (size_t)(end - p));
		pl_poll_handle(&conf, st, &r, &resp, &res);
		check(&resp, "poll");
		pl_result_free(&res);
		pl_resp_free(&resp);
		pl_req_free(&r);

		pl_resp_init(&resp);
		pl_req_init(&r, env, p, (size_t)(end - p));
		pl_admin_handle(&conf, st, &r, &resp);
		check(&resp, "admin");
		pl_resp_free(&resp);
		pl_req_free(&r);

		pl_store_head(st, &h0);
		pl_resp_init(&resp);
		pl_req_init(&r, env, p, (size_t)(end - p));
		pl_publish_handle(&conf, &r, &resp);
		check(&resp, "publish");
		pl_store_head(st, &h1);
		if (resp.status != 201 && resp.status != 200 && h1 != h0) {
			fprintf(stderr, "refused publish (%d) stored something\n", resp.status);
			abort();
		}
		pl_resp_free(&resp);
		pl_req_free(&r);
	}
out:
	for (size_t i = 0; i < nenv; i++)
		free(env[i]);
	return 0;
}
