/* fuzz_publish.c: libFuzzer target for publish bodies
 *
 * The input is a content-type line, a query-string line, then the body,
 * published through pl_publish_handle() into a database in a temporary
 * directory. Every answer is a known status with a JSON body; a refused
 * publish stores nothing, an accepted one stores exactly its messages, and
 * every stored message body is valid JSON. */
#include "pl_first.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_conf.h"
#include "pl_http.h"
#include "pl_log.h"
#include "pl_publish.h"
#include "pl_store.h"
#include "pl_util.h"

#include "fuzz_db.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pl_conf conf;
static struct pl_store *st;
static struct pl_token tok;

static void setup(void)
{
	fuzz_db_conf(&conf, "publish");
	tok.name = "fuzz";
	tok.secret = "fuzz-token-1234";
	tok.prefixes[0] = "/f";
	tok.nprefixes = 1;
	conf.tokens = &tok;
	conf.ntokens = 1;
	if (pl_store_open(&st, &conf) != PL_OK)
		abort();
}

static int64_t head(void)
{
	int64_t h = -1;

	if (pl_store_head(st, &h) != PL_OK)
		abort();
	return h;
}

static int valid_json(const char *s)
{
	struct json_object *o = json_tokener_parse(s);
	int ok = o != NULL;

	json_object_put(o);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	char ct[160], qs[1100];
	char *env[6];
	struct pl_req r;
	struct pl_resp resp;
	size_t n = 0;
	int64_t before, after;

	if (!st)
		setup();
	if (!(nl = memchr(p, '\n', size)) || (size_t)(nl - p) > 140)
		return 0;
	snprintf(ct, sizeof ct, "CONTENT_TYPE=%.*s", (int)(nl - p), p);
	p = nl + 1;
	nl = memchr(p, '\n', (size_t)(end - p));
	if (!nl || (size_t)(nl - p) > 1000)
		return 0;
	snprintf(qs, sizeof qs, "QUERY_STRING=%.*s", (int)(nl - p), p);
	p = nl + 1;
	if ((size_t)(end - p) > conf.max_body)
		return 0;
	env[n++] = "REQUEST_METHOD=POST";
	env[n++] = "HTTP_AUTHORIZATION=Bearer fuzz-token-1234";
	if (ct[13])
		env[n++] = ct;
	env[n++] = qs;
	env[n] = NULL;

	before = head();
	pl_resp_init(&resp);
	pl_req_init(&r, env, p, (size_t)(end - p));
	pl_publish_handle(&conf, &r, &resp);
	pl_req_free(&r);
	after = head();
	if (!resp.body.p || !valid_json(resp.body.p))
		abort();
	switch (resp.status) {
	case 201: {
		struct pl_result res;
		memset(&res, 0, sizeof res);
		if (after <= before)
			abort();
		for (int64_t id = before + 1; id <= after; id++) {
			if (pl_store_get(st, id, &res) != PL_OK || res.n != 1 || !valid_json(res.rows[0].body))
				abort();
			if (strncmp(res.rows[0].topic, "/f", 2) || (res.rows[0].topic[2] && res.rows[0].topic[2] != '/'))
				abort();   /* the token may publish under /f only */
		}
		pl_result_free(&res);
		break;
	}
	case 400: case 403: case 413: case 415:
		if (after != before)
			abort();   /* a refused publish stores nothing */
		break;
	default:
		abort();
	}
	pl_resp_free(&resp);
	return 0;
}
