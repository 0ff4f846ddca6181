/* pl_topic.h: topic paths, e.g. "/oa/notice", and subtree matching */
#ifndef PL_TOPIC_H
#define PL_TOPIC_H

#include <stddef.h>

#define PL_TOPIC_MAX 255        /* bytes */
#define PL_TOPIC_SEGMENTS 16

/* PL_OK if s[0..n) is a topic one may publish to: starts with '/', segments
 * of [A-Za-z0-9._~-], none empty, none "." or "..", at most 16 segments and
 * 255 bytes, no trailing '/'. "/" alone is PL_EINVAL (see pl_topic_sub_valid). */
int pl_topic_valid(const char *s, size_t n);

/* Like pl_topic_valid, but also accepts "/" (subscribe to everything). */
int pl_topic_sub_valid(const char *s, size_t n);

/* 1 if topic equals sub or lies below it on a segment boundary:
 * "/news/sports" is under "/news" and "/", "/newsletter" is not under "/news". */
int pl_topic_under(const char *topic, const char *sub);

/* Lengths of every ancestor of a valid topic, root first: for "/a/b" the
 * prefixes "/" (1), "/a" (2), "/a/b" (4). lens must hold PL_TOPIC_SEGMENTS+1.
 * Returns the count. */
size_t pl_topic_ancestors(const char *topic, size_t *lens);

#endif
