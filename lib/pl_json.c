/* pl_json.c: strict JSON input, for a message's data and a batch's lines.
 *
 * json-c parses; this file refuses what its strict mode still takes and a
 * JSON reader elsewhere would not (NaN, Infinity, "1.", "01", single
 * quotes, raw control characters in strings), integers it would clamp, and
 * nesting past the limit it misses by one level. What is stored is then
 * served as it came, without being parsed again: also a number past the
 * range of a double (1e400), which is JSON, and whose text json-c keeps. */
#include "pl_first.h"

#include <json-c/json.h>
#include <stdint.h>
#include <string.h>

#include "pl_json.h"
#include "pl_util.h"

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Length of the RFC 8259 number at s[0..n), 0 if it is not one:
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static size_t json_number_len(const char *s, size_t n)
{
	size_t i = 0;

	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (i < n && is_digit(s[i]))
		while (i < n && is_digit(s[i]))
			i++;
	else
		return 0;
	if (i < n && s[i] == '.') {
		if (++i >= n || !is_digit(s[i]))
			return 0;
		while (i < n && is_digit(s[i]))
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		if (++i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || !is_digit(s[i]))
			return 0;
		while (i < n && is_digit(s[i]))
			i++;
	}
	return i;
}

/* 1 when the integer at s[0..n) (digits, perhaps a leading '-') is
 * outside what json-c holds (int64 below zero, uint64 above): it would
 * clamp it, and serve 18446744073709551615 for a 30-digit id. */
static int int_out_of_range(const char *s, size_t n)
{
	int neg = *s == '-';
	const char *max = neg ? "9223372036854775808" : "18446744073709551615";
	size_t digits = n - (size_t)neg, maxlen = strlen(max);

	return digits > maxlen || (digits == maxlen && memcmp(s + neg, max, maxlen) > 0);
}

/* What json-c's strict mode took but is still not to be stored: 1 when
 * s[0..n) is not JSON (json-c lets through single quotes, numbers such as
 * "1." or "01", and raw control characters inside strings; a double keeps
 * its text as written, so "1." would be stored and served, and break every
 * answer that carries it); -1 when nested deeper than max_depth (json-c
 * misses "[[...[]]]" one level over); -2 for an integer json-c would
 * clamp; 0 when fine. */
static int lax_json(const char *s, size_t n, int max_depth)
{
	int in_str = 0, depth = 0;

	for (size_t i = 0; i < n; i++) {
		if (in_str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_str = 0;
			else if ((unsigned char)s[i] < 0x20)
				return 1;
		} else if (s[i] == '"') {
			in_str = 1;
		} else if (s[i] == '[' || s[i] == '{') {
			if (++depth > max_depth)
				return -1;
		} else if (s[i] == ']' || s[i] == '}') {
			depth--;
		} else if (s[i] == '\'' || s[i] == 'N' || s[i] == 'I') {
			/* json-c's strict mode still takes single quotes, NaN and
			 * Infinity (and writes NaN back, which no parser reads);
			 * outside strings no other capital letter can appear. */
			return 1;
		} else if (s[i] == '-' || is_digit(s[i])) {
			size_t k = json_number_len(s + i, n - i);

			/* the number must end where a number cannot go on */
			if (k == 0 || (i + k < n && strchr("0123456789.eE+-", s[i + k])))
				return 1;
			if (!memchr(s + i, '.', k) && !memchr(s + i, 'e', k) && !memchr(s + i, 'E', k) &&
			    int_out_of_range(s + i, k))
				return -2;
			i += k - 1;
		}
	}
	return 0;
}

#define DEPTH_TEXT_(n) #n
#define DEPTH_TEXT(n) DEPTH_TEXT_(n)

const char *pl_json_problem(int valid, const char *invalid)
{
	if (valid == -1)
		return "JSON nested deeper than " DEPTH_TEXT(PL_JSON_DEPTH) " levels";
	if (valid == -2)
		return "an integer beyond 64 bits (send such numbers as strings)";
	return invalid;
}

struct json_object *pl_json_parse(const char *s, size_t n, int max_depth, int *valid)
{
	struct json_tokener *tok;
	struct json_object *o;
	size_t off;
	enum json_tokener_error e;
	int lax = 0;

	*valid = 0;
	/* RFC 8259 lets a parser ignore a byte order mark, which some Windows
	 * tools write first. */
	if (n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3)) {
		s += 3;
		n -= 3;
	}
	if (n == 0 || n > INT32_MAX || memchr(s, '\0', n) || !pl_utf8_valid(s, n))
		return NULL;
	tok = json_tokener_new_ex(max_depth + 1);       /* json-c counts the value itself too */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, s, (int)n);
	/* json-c's JSON null is a NULL object: success tells it from an error. */
	e = json_tokener_get_error(tok);
	off = o || e == json_tokener_success ? (size_t)json_tokener_get_parse_end(tok) : n;
	if (!o && e == json_tokener_continue) {
		/* All of s was taken; a bare number ("42") or null ends only
		 * where something follows it. */
		o = json_tokener_parse_ex(tok, " ", 1);
		e = json_tokener_get_error(tok);
	}
	json_tokener_free(tok);
	if (e == json_tokener_error_depth)
		*valid = -1;
	if (e != json_tokener_success)
		return NULL;    /* o is NULL: nothing parsed */
	while (off < n && strchr(" \t\r\n", s[off]))
		off++;
	if (off < n || (lax = lax_json(s, n, max_depth))) {
		if (off >= n && lax < 0)
			*valid = lax;
		json_object_put(o);
		return NULL;
	}
	*valid = 1;
	return o;       /* NULL for a valid JSON null */
}
