/* t_topic.c: topic validation (SPEC 2 and 10), subtree matching, ancestors,
 * the index of subscriptions by topic */
#include "pl_first.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_topic.h"
#include "pl_util.h"
#include "tap.h"

static int valid(const char *s)
{
	return pl_topic_valid(s, strlen(s)) == PL_OK;
}

static int sub_valid(const char *s)
{
	return pl_topic_sub_valid(s, strlen(s)) == PL_OK;
}

static void t_valid(void)
{
	static const struct { const char *s; int pub, sub; } tab[] = {
		{ "/a", 1, 1 },
		{ "/oa/notice", 1, 1 },
		{ "/A-Z_a.z~0-9", 1, 1 },
		{ "/...", 1, 1 },          /* three dots is a name, not a path step */
		{ "/.a", 1, 1 },
		{ "/a..", 1, 1 },
		{ "/~", 1, 1 },
		{ "/", 0, 1 },             /* subscribe to everything; never publish */
		{ "", 0, 0 },
		{ "a", 0, 0 },
		{ "a/b", 0, 0 },           /* no leading '/' */
		{ "/a/", 0, 0 },           /* trailing '/' */
		{ "//", 0, 0 },
		{ "//a", 0, 0 },           /* empty segment */
		{ "/a//b", 0, 0 },
		{ "/.", 0, 0 },
		{ "/..", 0, 0 },
		{ "/a/./b", 0, 0 },
		{ "/a/../b", 0, 0 },
		{ "/a/..", 0, 0 },
		{ "/a b", 0, 0 },
		{ "/a+b", 0, 0 },
		{ "/a%2fb", 0, 0 },
		{ "/a?b", 0, 0 },
		{ "/a#b", 0, 0 },
		{ "/a,b", 0, 0 },          /* ',' separates topics in a request */
		{ "/a\\b", 0, 0 },
		{ "/a:b", 0, 0 },
		{ "/a*", 0, 0 },
		{ "/\xc3\xa9", 0, 0 },     /* non-ASCII */
		{ "/a\tb", 0, 0 },
		{ "/a\nb", 0, 0 },
	};

	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
		char shown[32];
		/* Keep the TAP line one line: show control characters as '?'. */
		snprintf(shown, sizeof shown, "%s", tab[i].s);
		for (char *p = shown; *p; p++)
			if ((unsigned char)*p < 0x20)
				*p = '?';
		ok(valid(tab[i].s) == tab[i].pub, "publish topic '%s' %s", shown, tab[i].pub ? "valid" : "refused");
		ok(sub_valid(tab[i].s) == tab[i].sub, "subscribe topic '%s' %s", shown,
		   tab[i].sub ? "valid" : "refused");
	}
	/* A NUL inside the given length is not a segment character. */
	ok(pl_topic_valid("/a\0b", 4) != PL_OK, "a NUL inside the length is refused");
	/* Only n bytes count: "/ab/" with n = 3 is "/ab". */
	ok(pl_topic_valid("/ab/", 3) == PL_OK, "the length bounds the topic, not the NUL");
	ok(pl_topic_sub_valid("/a", 1) == PL_OK, "sub_valid with n = 1 on \"/a\" is \"/\"");
	ok(pl_topic_valid("/a", 1) != PL_OK, "valid with n = 1 on \"/a\" is \"/\", refused");
}

static void t_limits(void)
{
	char s[600];
	size_t n;

	/* 16 segments pass, 17 do not. */
	strcpy(s, "");
	for (int i = 0; i < 16; i++)
		strcat(s, "/s");
	ok(valid(s), "16 segments are allowed");
	strcat(s, "/s");
	ok(!valid(s) && !sub_valid(s), "17 segments are refused");

	/* 255 bytes pass, 256 do not. */
	s[0] = '/';
	memset(s + 1, 'x', 254);
	s[255] = '\0';
	ok(strlen(s) == 255 && valid(s), "a 255-byte topic is allowed");
	s[255] = 'x';
	s[256] = '\0';
	ok(!valid(s) && !sub_valid(s), "a 256-byte topic is refused");
	/* 16 long segments: 16 * 16 = 256 bytes, refused on length alone. */
	n = 0;
	for (int i = 0; i < 16; i++) {
		s[n++] = '/';
		memset(s + n, 'y', 15);
		n += 15;
	}
	s[n] = '\0';
	ok(n == 256 && !valid(s), "16 segments but 256 bytes is refused");
	s[n - 1] = '\0';
	ok(valid(s), "16 segments in 255 bytes is allowed");
}

static void t_under(void)
{
	static const struct { const char *topic, *sub; int under; } tab[] = {
		{ "/news", "/news", 1 },
		{ "/news/sports", "/news", 1 },
		{ "/news/sports/football", "/news", 1 },
		{ "/news/sports", "/news/sports", 1 },
		{ "/newsletter", "/news", 0 },
		{ "/news", "/news/sports", 0 },
		{ "/new", "/news", 0 },
		{ "/News", "/news", 0 },     /* case-sensitive */
		{ "/a/news", "/news", 0 },
		{ "/news/sports", "/", 1 },
		{ "/x", "/", 1 },
		{ "/news.x", "/news", 0 },
		{ "/news-x/y", "/news", 0 },
	};

	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
		ok(pl_topic_under(tab[i].topic, tab[i].sub) == tab[i].under, "'%s' %s under '%s'", tab[i].topic,
		   tab[i].under ? "is" : "is not", tab[i].sub);
}

static void t_ancestors(void)
{
	size_t lens[PL_TOPIC_SEGMENTS + 1], n;
	char s[64];

	n = pl_topic_ancestors("/a", lens);
	ok(n == 2 && lens[0] == 1 && lens[1] == 2, "ancestors of /a: / and /a");
	n = pl_topic_ancestors("/a/b", lens);
	ok(n == 3 && lens[0] == 1 && lens[1] == 2 && lens[2] == 4, "ancestors of /a/b: /, /a, /a/b");
	n = pl_topic_ancestors("/oa/notice/x1", lens);
	ok(n == 4 && lens[1] == 3 && lens[2] == 10 && lens[3] == 13, "ancestors of /oa/notice/x1 end on segment bounds");
	s[0] = '\0';
	for (int i = 0; i < 16; i++)
		strcat(s, "/z");
	n = pl_topic_ancestors(s, lens);
	ok(n == 17 && lens[0] == 1 && lens[16] == 32, "a 16-segment topic has 17 ancestors including /");
	{
		int all_prefixes = 1;
		for (size_t i = 1; i < n; i++) {
			char p[64];
			memcpy(p, s, lens[i]);
			p[lens[i]] = '\0';
			if (!valid(p) || !pl_topic_under(s, p))
				all_prefixes = 0;
		}
		ok(all_prefixes, "every ancestor is a valid topic the original lies under");
	}
}

/* How often each owner (an element of owners[]) was found. */
struct seen { int count[64]; };

static int owners[64];

static void note_idx(void *owner, void *ud)
{
	struct seen *sn = ud;

	sn->count[(int *)owner - owners]++;
}

/* The owners in the order pl_tindex_each() gave them. */
struct order { int at[16], n; };

static void note_order(void *owner, void *ud)
{
	struct order *od = ud;

	if (od->n < 16)
		od->at[od->n++] = (int)((int *)owner - owners);
}

static int found(const struct pl_tindex *ix, const char *topic, const char *want)
{
	struct seen sn;
	char got[65];

	memset(&sn, 0, sizeof sn);
	pl_tindex_each(ix, topic, note_idx, &sn);
	for (int i = 0; i < 64; i++)
		got[i] = (char)('0' + (sn.count[i] > 9 ? 9 : sn.count[i]));
	got[64] = '\0';
	/* want lists the counts of the first strlen(want) owners; the rest 0 */
	for (size_t i = 0; i < 64; i++)
		if (got[i] != (i < strlen(want) ? want[i] : '0'))
			return 0;
	return 1;
}

static void t_index(void)
{
	struct pl_tindex ix;
	struct pl_tsub subs[8];
	static const char *topics[] = { "/", "/news", "/news/sports", "/newsletter", "/news", "/a/b/c/d" };

	memset(&ix, 0, sizeof ix);
	memset(subs, 0, sizeof subs);
	ok(found(&ix, "/news", ""), "an empty index finds nobody");
	for (int i = 0; i < 6; i++)
		pl_tindex_add(&ix, &subs[i], topics[i], &owners[i]);
	ok(ix.npaths == 5, "one record per distinct topic: %zu", ix.npaths);
	ok(found(&ix, "/news/sports/tennis", "111010"), "a message finds the subscribers of its topic and ancestors");
	ok(found(&ix, "/news", "110010"), "its own topic counts, deeper ones do not");
	ok(found(&ix, "/newsletter", "100100"), "no match across a segment boundary");
	ok(found(&ix, "/a/b/c/d", "100001"), "a deep subscription is found");
	ok(found(&ix, "/a/b", "1"), "a topic above a subscription does not reach it");
	ok(found(&ix, "nope", ""), "a topic without its slash finds nobody");
	pl_tindex_del(&ix, &subs[1]);
	ok(found(&ix, "/news/x", "100010") && ix.npaths == 5, "deleting one of two filings keeps the topic");
	pl_tindex_del(&ix, &subs[4]);
	ok(found(&ix, "/news/x", "1") && ix.npaths == 4, "deleting the last filing frees the topic");
	pl_tindex_del(&ix, &subs[4]);
	ok(ix.npaths == 4, "deleting twice is harmless");
	pl_tindex_add(&ix, &subs[4], "/news", &owners[4]);
	ok(found(&ix, "/news/x", "10001"), "a topic can be filed again");
	for (int i = 0; i < 6; i++)
		pl_tindex_del(&ix, &subs[i]);
	ok(ix.npaths == 0 && found(&ix, "/news", ""), "all gone");

	/* Order: under one topic, the filings come oldest first, also after
	 * one in the middle, the first and the last left (a wake answers the
	 * longest-waiting request first). */
	{
		struct order od;
		struct pl_tsub q[6];
		int want_all[] = { 0, 1, 2, 3, 4, 5 }, want_some[] = { 2, 3, 5 }, want_more[] = { 2, 3, 5, 0 };

		memset(q, 0, sizeof q);
		for (int i = 0; i < 6; i++)
			pl_tindex_add(&ix, &q[i], "/queue", &owners[i]);
		memset(&od, 0, sizeof od);
		pl_tindex_each(&ix, "/queue", note_order, &od);
		ok(od.n == 6 && !memcmp(od.at, want_all, sizeof want_all), "filings come in the order filed");
		pl_tindex_del(&ix, &q[1]);
		pl_tindex_del(&ix, &q[0]);
		pl_tindex_del(&ix, &q[4]);
		memset(&od, 0, sizeof od);
		pl_tindex_each(&ix, "/queue", note_order, &od);
		ok(od.n == 3 && !memcmp(od.at, want_some, sizeof want_some),
		   "after the first and a middle one left: the rest in order");
		pl_tindex_del(&ix, &q[5]);
		pl_tindex_add(&ix, &q[5], "/queue", &owners[5]);
		pl_tindex_add(&ix, &q[0], "/queue", &owners[0]);
		memset(&od, 0, sizeof od);
		pl_tindex_each(&ix, "/queue", note_order, &od);
		ok(od.n == 4 && !memcmp(od.at, want_more, sizeof want_more),
		   "after the last left, new filings go to the end");
		for (int i = 0; i < 6; i++)
			pl_tindex_del(&ix, &q[i]);
		ok(ix.npaths == 0, "queue emptied");
	}

	/* Growth: thousands of topics, each found after many rehashes. */
	enum { N = 5000 };
	struct pl_tsub *many = calloc(N, sizeof *many);
	char (*names)[32] = calloc(N, sizeof *names);
	int all = 1;
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof names[i], "/u/%d", i);
		pl_tindex_add(&ix, &many[i], names[i], &owners[i % 64]);
	}
	for (int i = 0; i < N; i++) {
		struct seen sn;
		char t[48];
		memset(&sn, 0, sizeof sn);
		snprintf(t, sizeof t, "%s/inbox", names[i]);
		pl_tindex_each(&ix, t, note_idx, &sn);
		for (int j = 0; j < 64; j++)
			if (sn.count[j] != (j == i % 64))
				all = 0;
	}
	ok(all && ix.npaths == N, "%d topics: each message finds exactly its one subscriber", N);
	for (int i = 0; i < N; i += 2)
		pl_tindex_del(&ix, &many[i]);
	ok(ix.npaths == N / 2 && found(&ix, "/u/2", "") && found(&ix, "/u/3", "0001"),
	   "half removed: the others stay");
	for (int i = 1; i < N; i += 2)
		pl_tindex_del(&ix, &many[i]);
	ok(ix.npaths == 0, "all removed");
	pl_tindex_free(&ix);
	free(many);
	free(names);
}

int main(void)
{
	t_valid();
	t_limits();
	t_under();
	t_ancestors();
	t_index();
	return tap_done();
}
