/* pl_topic.c: validate topic paths, match subscriptions to topics, and
 * index subscriptions by topic */
#include "pl_first.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pl_log.h"
#include "pl_topic.h"
#include "pl_util.h"

static int seg_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '~' || c == '-';
}

int pl_topic_sub_valid(const char *s, size_t n)
{
	if (n == 1 && s[0] == '/')
		return PL_OK;
	return pl_topic_valid(s, n);
}

int pl_topic_valid(const char *s, size_t n)
{
	size_t i = 0, segs = 0;

	if (n < 2 || n > PL_TOPIC_MAX || s[0] != '/')
		return PL_EINVAL;
	while (i < n) {
		size_t start = ++i;        /* skip the '/' */

		while (i < n && s[i] != '/') {
			if (!seg_char((unsigned char)s[i]))
				return PL_EINVAL;
			i++;
		}
		size_t len = i - start;
		if (len == 0 || ++segs > PL_TOPIC_SEGMENTS)
			return PL_EINVAL;
		if ((len == 1 && s[start] == '.') || (len == 2 && s[start] == '.' && s[start + 1] == '.'))
			return PL_EINVAL;
	}
	return PL_OK;
}

int pl_topic_under(const char *topic, const char *sub)
{
	size_t n = strlen(sub);

	if (n == 1 && sub[0] == '/')
		return topic[0] == '/';
	return strncmp(topic, sub, n) == 0 && (topic[n] == '\0' || topic[n] == '/');
}

size_t pl_topic_ancestors(const char *topic, size_t *lens)
{
	size_t k = 0;

	if (!topic[0]) {        /* not valid: a row another program wrote */
		lens[0] = 0;
		return 1;
	}
	lens[k++] = 1;
	for (size_t i = 1; topic[i] && k <= PL_TOPIC_SEGMENTS; i++)
		if (topic[i + 1] == '/' || topic[i + 1] == '\0')
			lens[k++] = i + 1;
	return k;
}

/* ---- the index ---- */

struct pl_tpath {
	struct pl_tpath *hnext;
	/* In filing order: a wake answers the longest-waiting request of a
	 * topic first (first come, first served, as a queue at a counter). */
	struct pl_tsub *subs, *last;
	uint32_t hash;
	size_t len;
	char key[];
};

static uint32_t hash_key(const char *s, size_t n)
{
	uint32_t h = 2166136261u;      /* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static struct pl_tpath *find(const struct pl_tindex *ix, const char *s, size_t n, uint32_t h)
{
	if (!ix->size)
		return NULL;
	for (struct pl_tpath *p = ix->tab[h & (ix->size - 1)]; p; p = p->hnext)
		if (p->hash == h && p->len == n && memcmp(p->key, s, n) == 0)
			return p;
	return NULL;
}

static void grow(struct pl_tindex *ix)
{
	size_t size = ix->size ? ix->size * 2 : 64;
	struct pl_tpath **tab = pl_xcalloc(size, sizeof *tab);

	for (size_t i = 0; i < ix->size; i++) {
		for (struct pl_tpath *p = ix->tab[i], *next; p; p = next) {
			next = p->hnext;
			p->hnext = tab[p->hash & (size - 1)];
			tab[p->hash & (size - 1)] = p;
		}
	}
	free(ix->tab);
	ix->tab = tab;
	ix->size = size;
}

void pl_tindex_add(struct pl_tindex *ix, struct pl_tsub *s, const char *topic, void *owner)
{
	size_t n = strlen(topic);
	uint32_t h = hash_key(topic, n);
	struct pl_tpath *p = find(ix, topic, n, h);

	if (!p) {
		if (ix->npaths >= ix->size / 2)
			grow(ix);
		p = pl_xmalloc(sizeof *p + n + 1);
		p->subs = p->last = NULL;
		p->hash = h;
		p->len = n;
		memcpy(p->key, topic, n + 1);
		p->hnext = ix->tab[h & (ix->size - 1)];
		ix->tab[h & (ix->size - 1)] = p;
		ix->npaths++;
	}
	s->owner = owner;
	s->path = p;
	s->next = NULL;
	s->prev = p->last;
	if (p->last)
		p->last->next = s;
	else
		p->subs = s;
	p->last = s;
}

void pl_tindex_del(struct pl_tindex *ix, struct pl_tsub *s)
{
	struct pl_tpath *p = s->path;

	if (!p)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		p->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		p->last = s->prev;
	s->path = NULL;
	s->prev = s->next = NULL;
	if (!p->subs) {
		struct pl_tpath **at = &ix->tab[p->hash & (ix->size - 1)];

		while (*at != p)
			at = &(*at)->hnext;
		*at = p->hnext;
		free(p);
		ix->npaths--;
	}
}

void pl_tindex_each(const struct pl_tindex *ix, const char *topic, void (*fn)(void *owner, void *ud), void *ud)
{
	size_t lens[PL_TOPIC_SEGMENTS + 1];
	size_t k;

	if (!ix->npaths || topic[0] != '/')
		return;
	k = pl_topic_ancestors(topic, lens);
	for (size_t i = 0; i < k; i++) {
		const struct pl_tpath *p = find(ix, topic, lens[i], hash_key(topic, lens[i]));

		for (const struct pl_tsub *s = p ? p->subs : NULL; s; s = s->next)
			fn(s->owner, ud);
	}
}

void pl_tindex_free(struct pl_tindex *ix)
{
	free(ix->tab);
	ix->tab = NULL;
	ix->size = ix->npaths = 0;
}
