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

/* ---- an index of subscriptions by topic ----
 *
 * A process holding thousands of subscribers must find those a new message
 * concerns without checking each of them: a subscription is filed under its
 * topic, and a message's subscribers are the subscriptions filed under the
 * message's topic and under each of its ancestors (at most 17 lookups).
 * The caller owns the pl_tsub records (one per topic of a subscriber);
 * the index owns one small record per distinct topic, freed when its last
 * subscription leaves. */
struct pl_tpath;

struct pl_tsub {
	void *owner;
	struct pl_tpath *path;
	struct pl_tsub *prev, *next;
};

struct pl_tindex {
	struct pl_tpath **tab;  /* chained hash table, size a power of two */
	size_t size, npaths;
};

/* File s under the valid subscription topic (zeroed index: empty). */
void pl_tindex_add(struct pl_tindex *ix, struct pl_tsub *s, const char *topic, void *owner);
/* Remove s; NULL-safe for a record never added. */
void pl_tindex_del(struct pl_tindex *ix, struct pl_tsub *s);
/* Call fn(owner, ud) for each subscription to topic or to one of its
 * ancestors (an owner filed under several such topics comes once per
 * filing), ancestors first, and under each topic in the order filed.
 * fn must not change the index. */
void pl_tindex_each(const struct pl_tindex *ix, const char *topic, void (*fn)(void *owner, void *ud), void *ud);
/* Free the table; every subscription must have left. */
void pl_tindex_free(struct pl_tindex *ix);

#endif
