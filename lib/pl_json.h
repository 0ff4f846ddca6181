/* pl_json.h: strict JSON input (see pl_json.c for what json-c lets through). */
#ifndef PL_JSON_H
#define PL_JSON_H

#include <stddef.h>

struct json_object;

/* Parse the whole of s[0..n) as strict JSON, blanks around it and a leading
 * byte order mark allowed; s need not be NUL-terminated. *valid is 1 for
 * valid JSON, 0 for invalid, -1 for JSON nested deeper than max_depth
 * (PL_JSON_DEPTH for a message's data: deeper than json-c's default of 32,
 * as real documents nest more; the checks walk the tree recursively, so it
 * stays bounded), -2 for an integer beyond 64 bits. Returns a new reference
 * for the caller to put, or NULL: for anything not valid, and for a valid
 * JSON null (*valid tells them apart). */
struct json_object *pl_json_parse(const char *s, size_t n, int max_depth, int *valid);

/* The reason for a *valid below 1, for an error message: invalid (the
 * caller's words) for 0, else the depth or integer limit. Static text. */
const char *pl_json_problem(int valid, const char *invalid);

#endif
