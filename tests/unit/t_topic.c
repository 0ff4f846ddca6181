/* t_topic.c: topic validation (SPEC 2 and 10), subtree matching, ancestors */
#include "pl_first.h"

#include <stdio.h>
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

int main(void)
{
	t_valid();
	t_limits();
	t_under();
	t_ancestors();
	return tap_done();
}
