/* fuzz_json.c: libFuzzer target for the strict JSON reader (pl_json.c)
 *
 * Whatever it accepts is stored and later served inside other JSON, so what
 * json-c writes back for it must be RFC 8259 JSON (checked by the small
 * grammar below, independent of json-c), be accepted again, and be written
 * the same way again: a value that survived the checks once can never break
 * an answer. Refused input leaves nothing allocated (the leak checker sees). */
#include "pl_first.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pl_json.h"
#include "pl_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* RFC 8259's grammar, on NUL-terminated text: each returns the position
 * after the value, or NULL. */
static const char *value(const char *p, int depth);

static const char *ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	for (; *p != '"'; p++) {
		if ((unsigned char)*p < 0x20)
			return NULL;        /* the NUL at the end included */
		if (*p != '\\')
			continue;
		p++;
		if (*p == 'u') {
			for (int i = 1; i <= 4; i++)
				if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
					return NULL;
			p += 4;
		} else if (!*p || !strchr("\"\\/bfnrt", *p)) {
			return NULL;
		}
	}
	return p + 1;
}

static const char *number(const char *p)
{
	const char *d;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (*p == '.') {
		for (d = ++p; *p >= '0' && *p <= '9'; p++)
			;
		if (p == d)
			return NULL;
	}
	if (*p == 'e' || *p == 'E') {
		if (*++p == '+' || *p == '-')
			p++;
		for (d = p; *p >= '0' && *p <= '9'; p++)
			;
		if (p == d)
			return NULL;
	}
	return p;
}

static const char *members(const char *p, int depth, char close, int keyed)
{
	p = ws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (keyed) {
			if (!(p = string(p)) || *(p = ws(p)) != ':')
				return NULL;
			p = ws(p + 1);
		}
		if (!(p = value(p, depth + 1)))
			return NULL;
		p = ws(p);
		if (*p == close)
			return p + 1;
		if (*p != ',')
			return NULL;
		p = ws(p + 1);
	}
}

static const char *value(const char *p, int depth)
{
	if (depth > PL_JSON_DEPTH + 1)
		return NULL;
	switch (*p) {
	case '{':
		return members(p, depth, '}', 1);
	case '[':
		return members(p, depth, ']', 0);
	case '"':
		return string(p);
	case 't':
		return strncmp(p, "true", 4) ? NULL : p + 4;
	case 'f':
		return strncmp(p, "false", 5) ? NULL : p + 5;
	case 'n':
		return strncmp(p, "null", 4) ? NULL : p + 4;
	default:
		return number(p);
	}
}

static int rfc8259(const char *s)
{
	const char *end = value(ws(s), 0);

	return end && !*ws(end);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const int flags = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;
	struct json_object *o, *again;
	const char *text;
	char *copy;
	int valid, valid2;

	o = pl_json_parse((const char *)data, size, PL_JSON_DEPTH, &valid);
	if (valid < -2 || valid > 1 || (o && valid != 1))
		abort();
	if (valid != 1)
		return 0;
	if (!pl_utf8_valid((const char *)data, size))
		abort();
	text = json_object_to_json_string_ext(o, flags);   /* "null" for NULL */
	if (!rfc8259(text))
		abort();
	copy = strdup(text);
	again = pl_json_parse(copy, strlen(copy), PL_JSON_DEPTH, &valid2);
	if (valid2 != 1 || strcmp(json_object_to_json_string_ext(again, flags), copy))
		abort();
	json_object_put(again);
	json_object_put(o);
	free(copy);
	return 0;
}
