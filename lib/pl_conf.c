/* pl_conf.c: parse the INI configuration file into struct pl_conf.
 *
 * Every key has a safe default; an unknown key or a bad value is an error
 * naming the line, because a typo in a security setting must not silently
 * fall back to a default the operator did not want. */
#include "pl_first.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pl_conf.h"
#include "pl_log.h"
#include "pl_store.h"
#include "pl_topic.h"
#include "pl_util.h"

/* A line holds INI_MAX_LINE - 2 characters (see pl_conf_load); a longer
 * token could only be written on a line the parser refuses, whereas the
 * documented "token = X" of the longest one fits. */
_Static_assert(sizeof "token = " - 1 + PL_TOKEN_MAX <= INI_MAX_LINE - 2, "PL_TOKEN_MAX must fit on a line");

#define PL_STR_(x) #x
#define PL_STR(x) PL_STR_(x)

struct parse_state {
	struct pl_conf *c;
	char why[256];          /* a handler's own reason for refusing a value */
	char reason[448];
	int failed;
	int default_ttl_set, max_ttl_set;   /* given, not the defaults */
};

void pl_conf_defaults(struct pl_conf *c)
{
	memset(c, 0, sizeof *c);
	c->db_path = pl_xstrdup("/var/lib/pushlite/pushlite.db");
	c->default_ttl = 3 * 86400;
	c->max_ttl = 30 * 86400;
	c->max_body = 1024 * 1024;
	c->longpoll_timeout = 25;
	c->longpoll_max_timeout = 120;
	c->stream_max_time = 300;
	c->heartbeat = 15;
	c->longpoll_keepalive = 3;
	c->longpoll_gzip = 1;
	c->max_waiting = 8000;
	c->max_topics = 16;
	c->push_enabled = 1;
	c->retry_after = 30;
}

static int parse_int(const char *v, int64_t lo, int64_t hi, int *out)
{
	int64_t x;

	if (pl_int_parse(v, lo, hi, &x) != PL_OK)
		return PL_EINVAL;
	*out = (int)x;
	return PL_OK;
}

/* Seconds: a bare number or a duration ("25", "25s", "2m", "1h"), as
 * default_ttl takes; the 100-year ceiling of a duration is refused by hi. */
static int parse_secs(const char *v, int64_t lo, int64_t hi, int *out)
{
	int64_t x;

	if (pl_duration_parse(v, 1, &x) != PL_OK || x < lo || x > hi)
		return PL_EINVAL;
	*out = (int)x;
	return PL_OK;
}

/* Split a list separated by blanks or commas; calls add for each word. */
static int split_list(const char *v, int (*add)(void *, const char *, size_t), void *ud)
{
	const char *p = v;

	while (*p) {
		size_t n;

		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		n = strcspn(p, " ,\t");
		if (n && add(ud, p, n) != PL_OK)
			return PL_EINVAL;
		p += n;
	}
	return PL_OK;
}

static int is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static int is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* Why s (n bytes) can never equal an Origin header, or NULL when it can.
 * Origins are compared whole (ignoring case), and a browser sends "null" or
 * scheme://host[:port], with no path and without the scheme's default port
 * (RFC 6454, 6.2): "https://a.example/", "a.example" or "*.example.com"
 * would never match, and the operator would not learn why. */
static const char *origin_fault(const char *s, size_t n)
{
	static const struct { const char *scheme; long port; } dflt[] = {
		{ "http", 80 }, { "https", 443 }, { "ws", 80 }, { "wss", 443 }, { "ftp", 21 },
	};
	size_t i = 0, scheme_len, h;

	if ((n == 1 && s[0] == '*') || (n == 4 && !strncasecmp(s, "null", 4)))
		return NULL;
	if (memchr(s, '*', n))
		return "a wildcard is * alone; list each origin by name";
	while (i < n && (is_alpha(s[i]) || (i && (is_digit(s[i]) || memchr("+-.", s[i], 3)))))
		i++;
	scheme_len = i;
	if (!scheme_len || n - i < 3 || memcmp(s + i, "://", 3))
		return "it has no scheme: write https://app.example.com";
	h = i += 3;
	if (i < n && s[i] == '[') {
		/* An IPv6 literal: hex digits, ':' and a dotted IPv4 tail. */
		while (++i < n && (is_digit(s[i]) || ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'f') ||
				   s[i] == ':' || s[i] == '.'))
			;
		if (i >= n || s[i] != ']' || i == h + 1)
			return "the host is not an IPv6 address in [ ]";
		i++;
	} else {
		/* Host names as browsers send them: ASCII (an international
		 * name travels as xn--...), labels not empty. */
		for (; i < n && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '-' || s[i] == '_' || s[i] == '.'); i++)
			if (s[i] == '.' && (i == h || s[i - 1] == '.'))
				return "the host has an empty label";
		if (i == h)
			return "the host is not letters, digits, - _ and . (an international name: xn--...)";
	}
	if (i < n && s[i] == ':') {
		size_t p = ++i;
		long port = 0;

		while (i < n && is_digit(s[i]) && i - p < 6)
			port = port * 10 + (s[i++] - '0');
		if (i == p || s[p] == '0' || port > 65535 || (i < n && is_digit(s[i])))
			return "the port is 1-65535, without leading zeros";
		for (size_t k = 0; k < sizeof dflt / sizeof dflt[0]; k++)
			if (strlen(dflt[k].scheme) == scheme_len && !strncasecmp(s, dflt[k].scheme, scheme_len) &&
			    port == dflt[k].port)
				return "browsers leave the scheme's default port out";
	}
	if (i < n && s[i] == '/')
		return "an origin has no path, not even a trailing /";
	if (i < n)
		return "it is not scheme://host[:port]";
	return NULL;
}

static int add_origin(void *ud, const char *s, size_t n)
{
	struct parse_state *ps = ud;
	struct pl_conf *c = ps->c;
	const char *fault = origin_fault(s, n);

	if (fault) {
		snprintf(ps->why, sizeof ps->why,
			 ": '%.*s' can never match an Origin header (scheme://host[:port], null, or * alone): %s",
			 (int)(n > 80 ? 80 : n), s, fault);
		return PL_EINVAL;
	}
	c->cors_origins = pl_xrealloc(c->cors_origins, (c->ncors + 1) * sizeof *c->cors_origins);
	c->cors_origins[c->ncors++] = pl_xstrndup(s, n);
	return PL_OK;
}

static int add_prefix(void *ud, const char *s, size_t n)
{
	struct pl_token *t = ud;
	char *p;

	if (t->nprefixes >= PL_MAX_PREFIXES)
		return PL_EINVAL;
	p = pl_xstrndup(s, n);
	/* "/" is every topic; otherwise it must be a valid topic. */
	if (strcmp(p, "/") && pl_topic_valid(p, n) != PL_OK) {
		free(p);
		return PL_EINVAL;
	}
	t->prefixes[t->nprefixes++] = p;
	return PL_OK;
}

static struct pl_token *token_for(struct pl_conf *c, const char *name)
{
	for (size_t i = 0; i < c->ntokens; i++)
		if (!strcmp(c->tokens[i].name, name))
			return &c->tokens[i];
	c->tokens = pl_xrealloc(c->tokens, (c->ntokens + 1) * sizeof *c->tokens);
	memset(&c->tokens[c->ntokens], 0, sizeof c->tokens[0]);
	c->tokens[c->ntokens].name = pl_xstrdup(name);
	return &c->tokens[c->ntokens++];
}

#define ADMIN_NO_TOPICS "an admin token may publish anywhere and takes no topics"

static int set_token_key(struct parse_state *ps, const char *section, const char *k, const char *v)
{
	struct pl_conf *c = ps->c;
	const char *name = section + 6;     /* after "token " */
	struct pl_token *t;

	while (*name == ' ')
		name++;
	if (!*name)
		return PL_EINVAL;
	t = token_for(c, name);
	if (!strcmp(k, "token")) {
		/* Tokens travel in headers and query strings: keep them printable.
		 * A short one is the operator's call (a test setup, say), not an
		 * unusable file: warned about, not refused. */
		if (strlen(v) < 1 || strlen(v) > PL_TOKEN_MAX || strspn(v,
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=") != strlen(v))
			return PL_EINVAL;
		/* A second value for one name (a section repeated by mistake)
		 * would silently replace the first token: refused. */
		if (t->secret)
			return PL_ECONF;
		if (strlen(v) < 8)
			pl_log_warn("token '%s' is shorter than 8 characters: easy to guess", name);
		t->secret = pl_xstrdup(v);
	} else if (!strcmp(k, "role")) {
		if (t->role_set++)
			return PL_ECONF;
		if (!strcmp(v, "publish"))
			t->role = PL_ROLE_PUBLISH;
		else if (!strcmp(v, "admin"))
			t->role = PL_ROLE_ADMIN;
		else
			return PL_EINVAL;
		if (t->role == PL_ROLE_ADMIN && t->nprefixes) {
			snprintf(ps->why, sizeof ps->why, ": %s (this token has a 'topics =' line)", ADMIN_NO_TOPICS);
			return PL_ECONF;
		}
	} else if (!strcmp(k, "topics")) {
		size_t before = t->nprefixes;

		/* The prefixes would be ignored: the operator meant a limit
		 * that is not there. */
		if (t->role == PL_ROLE_ADMIN) {
			snprintf(ps->why, sizeof ps->why, ": %s", ADMIN_NO_TOPICS);
			return PL_ECONF;
		}
		if (split_list(v, add_prefix, t) != PL_OK)
			return PL_EINVAL;
		/* No prefix at all means every topic: an empty line must not
		 * open a token it looks like closing. */
		if (t->nprefixes == before) {
			snprintf(ps->why, sizeof ps->why,
				 ": empty (list the prefixes the token may publish to, such as /ops /oa; "
				 "/ is every topic)");
			return PL_EINVAL;
		}
	} else {
		return PL_ENOTFOUND;
	}
	return PL_OK;
}

static int set_key(struct parse_state *ps, const char *k, const char *v)
{
	struct pl_conf *c = ps->c;
	int64_t secs;

	if (!strcmp(k, "database")) {
		if (!*v)
			return PL_EINVAL;
		/* The web server's programs, cron's purge and a shell's CLI each
		 * have their own working directory: a relative path would be
		 * three databases. (--db on the command line may be relative:
		 * there it is the user's shell that resolves it.) */
		if (*v != '/') {
			snprintf(ps->why, sizeof ps->why,
				 ": database must be an absolute path (such as /var/lib/pushlite/pushlite.db)");
			return PL_EINVAL;
		}
		free(c->db_path);
		c->db_path = pl_xstrdup(v);
	} else if (!strcmp(k, "secret")) {
		if (!*v)
			return PL_EINVAL;
		if (strlen(v) < 16)     /* a short HMAC key is guessable */
			pl_log_warn("secret is shorter than 16 bytes: subscriber tokens are easier to forge");
		free(c->secret);
		c->secret = pl_xstrdup(v);
	} else if (!strcmp(k, "default_ttl") || !strcmp(k, "max_ttl")) {
		if (pl_duration_parse(v, 1, &secs) != PL_OK || secs < 1)
			return PL_EINVAL;
		*(k[0] == 'd' ? &c->default_ttl : &c->max_ttl) = secs;
		*(k[0] == 'd' ? &ps->default_ttl_set : &ps->max_ttl_set) = 1;
	} else if (!strcmp(k, "max_body")) {
		int n;
		if (parse_int(v, 1, 256 * 1024 * 1024, &n) != PL_OK)
			return PL_EINVAL;
		c->max_body = (size_t)n;
	} else if (!strcmp(k, "longpoll_timeout")) {
		return parse_secs(v, 1, 3600, &c->longpoll_timeout);
	} else if (!strcmp(k, "longpoll_max_timeout")) {
		return parse_secs(v, 1, 3600, &c->longpoll_max_timeout);
	} else if (!strcmp(k, "stream_max_time")) {
		return parse_secs(v, 1, 86400, &c->stream_max_time);
	} else if (!strcmp(k, "heartbeat")) {
		return parse_secs(v, 1, 3600, &c->heartbeat);
	} else if (!strcmp(k, "longpoll_keepalive")) {
		return parse_secs(v, 0, 3600, &c->longpoll_keepalive);
	} else if (!strcmp(k, "longpoll_gzip")) {
		return pl_bool_parse(v, &c->longpoll_gzip);
	} else if (!strcmp(k, "max_waiting")) {
		return parse_int(v, 1, 1000000, &c->max_waiting);
	} else if (!strcmp(k, "max_topics")) {
		return parse_int(v, 1, PL_MAX_TOPICS, &c->max_topics);
	} else if (!strcmp(k, "retry_after")) {
		return parse_secs(v, 1, 86400, &c->retry_after);
	} else if (!strcmp(k, "push")) {
		return pl_bool_parse(v, &c->push_enabled);
	} else if (!strcmp(k, "publish_get")) {
		return pl_bool_parse(v, &c->publish_get);
	} else if (!strcmp(k, "trust_remote_user")) {
		return pl_bool_parse(v, &c->trust_remote_user);
	} else if (!strcmp(k, "cors_credentials")) {
		return pl_bool_parse(v, &c->cors_credentials);
	} else if (!strcmp(k, "synchronous")) {
		if (!strcasecmp(v, "normal"))
			c->synchronous_full = 0;
		else if (!strcasecmp(v, "full"))
			c->synchronous_full = 1;
		else
			return PL_EINVAL;
	} else if (!strcmp(k, "cors_origins")) {
		/* Each line adds to the list, as "topics" lines do: a line holds
		 * at most INI_MAX_LINE - 2 characters, five or six origins, and
		 * a host with more must be able to list them all. */
		return split_list(v, add_origin, ps);
	} else {
		return PL_ENOTFOUND;
	}
	return PL_OK;
}

static int on_ini(void *user, const char *section, const char *k, const char *v)
{
	struct parse_state *ps = user;
	int rc;

	ps->why[0] = '\0';
	/* "database = /var/lib/p.db  # note" would be a path ending in
	 * "# note": the INI parser takes only ';' after a value as a comment.
	 * No other value of ours holds a blank followed by '#'. The secret is
	 * any string, its bytes as written (a passphrase may hold " #"): an
	 * install whose secret did would no longer start, and a new one would
	 * invalidate every subscriber token minted with it. */
	for (const char *h = strcmp(k, "secret") ? strchr(v, '#') : NULL; h; h = strchr(h + 1, '#')) {
		if (h > v && (h[-1] == ' ' || h[-1] == '\t')) {
			snprintf(ps->why, sizeof ps->why,
				 ": a '#' after the value starts no comment (use ';', or a line of its own)");
			rc = PL_EINVAL;
			goto refused;
		}
	}
	if (!strcmp(section, "pushlite") || !strcmp(section, ""))
		rc = set_key(ps, k, v);
	else if (!strncmp(section, "token ", 6))
		rc = set_token_key(ps, section, k, v);
	else
		rc = PL_ENOTFOUND;
refused:
	if (rc != PL_OK && !ps->failed) {
		/* inih reports the line of the first refused key as its result.
		 * PL_ECONF: the key has no place there (given twice, say), what
		 * its value is aside. */
		const char *why = "";

		if (ps->why[0])
			why = ps->why;
		else if (rc == PL_ECONF)
			why = " given twice (is the section repeated?)";
		else if (rc != PL_ENOTFOUND && !strcmp(k, "secret"))
			why = ": not empty (16 bytes or more)";
		else if (rc != PL_ENOTFOUND && !strcmp(k, "token"))
			why = ": 1-" PL_STR(PL_TOKEN_MAX) " of A-Z a-z 0-9 - . _ ~ + / =";
		else if (rc != PL_ENOTFOUND && !strcmp(k, "topics"))
			why = ": valid topic prefixes such as /ops /oa";
		if (rc == PL_ENOTFOUND && strcmp(section, "pushlite") && strcmp(section, "") &&
		    strncmp(section, "token ", 6))
			snprintf(ps->reason, sizeof ps->reason,
				 "unknown section [%.64s] (sections are [pushlite] and [token NAME])", section);
		else
			snprintf(ps->reason, sizeof ps->reason, "%s key '%.64s' in [%.64s]%s",
				 rc == PL_ENOTFOUND ? "unknown" : rc == PL_ECONF ? "the" : "bad value for", k, section,
				 why);
		ps->failed = 1;
	}
	return rc == PL_OK;
}

/* secs in the largest unit that divides it ("3d", "90m", "7201s"), as the
 * operator probably wrote it. */
static void fmt_secs(int64_t secs, char *out, size_t n)
{
	static const struct { int64_t secs; char unit; } units[] = {
		{ 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' },
	};
	size_t i = 0;

	while (secs % units[i].secs)
		i++;
	snprintf(out, n, "%lld%c", (long long)(secs / units[i].secs), units[i].unit);
}

static int check(struct parse_state *ps, char *err, size_t errlen)
{
	struct pl_conf *c = ps->c;

	/* A request's ttl is capped at max_ttl (docs/protocol.md), but a
	 * default_ttl written above the maximum contradicts itself: which did
	 * the operator mean? A max_ttl below the 3 days of an unset
	 * default_ttl only lowers the default with it. */
	if (c->default_ttl > c->max_ttl && !ps->default_ttl_set)
		c->default_ttl = c->max_ttl;
	if (c->default_ttl > c->max_ttl) {
		char d[32], m[32];

		fmt_secs(c->default_ttl, d, sizeof d);
		fmt_secs(c->max_ttl, m, sizeof m);
		snprintf(err, errlen, "%s: default_ttl (%s) is larger than max_ttl (%s%s)", c->path, d, m,
			 ps->max_ttl_set ? "" : ", the default");
		return PL_ECONF;
	}
	if (c->longpoll_timeout > c->longpoll_max_timeout)
		c->longpoll_timeout = c->longpoll_max_timeout;
	for (size_t i = 0; i < c->ntokens; i++) {
		if (!c->tokens[i].secret) {
			snprintf(err, errlen, "%s: [token %s] has no 'token =' line", c->path, c->tokens[i].name);
			return PL_ECONF;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(c->tokens[i].secret, c->tokens[j].secret)) {
				snprintf(err, errlen, "%s: [token %s] repeats the token of [token %s]",
					 c->path, c->tokens[i].name, c->tokens[j].name);
				return PL_ECONF;
			}
	}
	for (size_t i = 0; c->cors_credentials && i < c->ncors; i++)
		if (!strcmp(c->cors_origins[i], "*"))
			pl_log_warn("cors_origins = * with cors_credentials = on: every site may read its "
				    "visitors' messages with their cookies; list the origins instead");
	return PL_OK;
}

int pl_conf_load(struct pl_conf *c, const char *path, char *err, size_t errlen)
{
	struct parse_state ps = { .c = c };
	FILE *f;
	int r, rerr;
	int syn_line = 0;       /* the first line inih will call a syntax error */

	pl_conf_defaults(c);
	c->path = pl_xstrdup(path);
	if (!(f = fopen(path, "r"))) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		return PL_ECONF;
	}
	/* The file goes to inih line by line as read here, with these changes
	 * of what inih would do with it:
	 * - a line longer than INI_MAX_LINE: inih takes the rest for a line of
	 *   its own and names the wrong line; refused here by its own number,
	 *   as soon as it is that long (/dev/zero, a binary file, must not
	 *   fill the memory first), and so is a file past PL_CONF_FILE_MAX;
	 * - a NUL byte would end inih's string: refused;
	 * - leading blanks are dropped. inih reads an indented line as the
	 *   continuation of the value before it, so an indented
	 *   "secret = x" under "database = /var/lib/p.db" made the database
	 *   path "secret = x", silently. Indented keys are common in
	 *   hand-written files; continued values are not pushlite's format;
	 * - what inih passes over in silence: text after a section header's
	 *   ']' ("[pushlite] max_ttl = 1h" dropped the setting), a section of
	 *   another name with no keys, a [token NAME] section with none. */
	{
		char line[INI_MAX_LINE + 1];
		size_t n = 0, total = 0;
		int lineno = 0, ch = 0, sect_line = 0, sect_keys = 0;
		struct pl_buf text = { 0 };
		char bad[96] = "", sect[INI_MAX_LINE + 1] = "";

		while (!bad[0] && ch != EOF) {
			size_t skip = 0;
			int nul = 0;

			/* one line, at most INI_MAX_LINE - 2 characters kept */
			n = 0;
			while ((ch = getc(f)) != EOF && ch != '\n') {
				if (++total > PL_CONF_FILE_MAX || n >= sizeof line - 1)
					break;
				nul |= ch == '\0';
				line[n++] = (char)ch;
			}
			if (ch == EOF && n == 0)
				break;
			lineno++;
			if (total > PL_CONF_FILE_MAX) {
				snprintf(bad, sizeof bad, "the file is larger than %d bytes", PL_CONF_FILE_MAX);
				break;
			}
			total++;        /* the newline */
			while (n > 0 && line[n - 1] == '\r')
				n--;
			if (nul) {
				snprintf(bad, sizeof bad, "a NUL byte (not a text file?)");
				break;
			}
			if (n > INI_MAX_LINE - 2) {
				snprintf(bad, sizeof bad, "line longer than %d characters", INI_MAX_LINE - 2);
				break;
			}
			while (skip < n && (line[skip] == ' ' || line[skip] == '\t'))
				skip++;
			if (skip < n && line[skip] == '[') {
				/* A section header: "[ pushlite ]" is [pushlite]; one
				 * without ']' would leave the keys below in the section
				 * before it, and be reported as one of them. */
				char *close = memchr(line + skip, ']', n - skip), *rest;
				size_t a = skip + 1, z;

				if (!close) {
					snprintf(bad, sizeof bad, "a section header without ']'");
					break;
				}
				for (rest = close + 1; rest < line + n && (*rest == ' ' || *rest == '\t'); rest++)
					;
				if (rest < line + n && *rest != ';' && *rest != '#') {
					snprintf(bad, sizeof bad, "text after the section header's ']' (one setting per line)");
					break;
				}
				if (sect_line && !sect_keys && strncmp(sect, "token ", 6) == 0) {
					lineno = sect_line;
					snprintf(bad, sizeof bad, "[%.64s] has no 'token =' line", sect);
					break;
				}
				z = (size_t)(close - line);
				while (a < z && (line[a] == ' ' || line[a] == '\t'))
					a++;
				while (z > a && (line[z - 1] == ' ' || line[z - 1] == '\t'))
					z--;
				memcpy(sect, line + a, z - a);
				sect[z - a] = '\0';
				if (!strcmp(sect, "token")) {
					snprintf(bad, sizeof bad, "a [token NAME] section needs a name");
					break;
				}
				if (strcmp(sect, "pushlite") && strncmp(sect, "token ", 6)) {
					snprintf(bad, sizeof bad,
						 "unknown section [%.32s] (sections are [pushlite] and [token NAME])", sect);
					break;
				}
				sect_line = lineno;
				sect_keys = 0;
				pl_buf_addc(&text, '[');
				pl_buf_add(&text, sect, z - a);
				pl_buf_adds(&text, "]\n");
				continue;
			}
			if (skip < n && line[skip] != ';' && line[skip] != '#')
				sect_keys++;
			/* Neither blank, nor a comment, nor "key = value": inih's
			 * result is this line, also when a key on a later line is
			 * refused too (it goes on parsing), whose reason alone
			 * would then be reported with this line's number. */
			if (!syn_line && skip < n && line[skip] != ';' && line[skip] != '#' &&
			    !memchr(line + skip, '=', n - skip) && !memchr(line + skip, ':', n - skip))
				syn_line = lineno;
			pl_buf_add(&text, line + skip, n - skip);
			pl_buf_addc(&text, '\n');
		}
		if (!bad[0] && sect_line && !sect_keys && strncmp(sect, "token ", 6) == 0) {
			lineno = sect_line;
			snprintf(bad, sizeof bad, "[%.64s] has no 'token =' line", sect);
		}
		/* A directory opens fine and reads as an error, which would be
		 * taken for an empty file: check, or it would mean "all defaults"
		 * (errno as getc left it; EIO if it left none). */
		rerr = ferror(f) ? (errno ? errno : EIO) : 0;
		fclose(f);
		if (rerr) {
			pl_buf_free(&text);
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(rerr));
			return PL_ECONF;
		}
		if (bad[0]) {
			pl_buf_free(&text);
			snprintf(err, errlen, "%s:%d: %s", path, lineno, bad);
			return PL_ECONF;
		}
		r = ini_parse_string(text.p ? text.p : "", on_ini, &ps);
		pl_buf_free(&text);
	}
	if (r > 0 && (!ps.failed || r == syn_line)) {
		snprintf(err, errlen, "%s:%d: syntax error", path, r);
		return PL_ECONF;
	}
	if (ps.failed) {
		snprintf(err, errlen, "%s:%d: %s", path, r, ps.reason);
		return PL_ECONF;
	}
	return check(&ps, err, errlen);
}

int pl_conf_load_env(struct pl_conf *c, char *err, size_t errlen)
{
	const char *path = getenv("PUSHLITE_CONF");
	FILE *f;

	if (path && *path)
		return pl_conf_load(c, path, err, errlen);
	f = fopen(PL_CONF_DEFAULT_PATH, "r");
	if (!f && errno == ENOENT) {
		pl_conf_defaults(c);
		return PL_OK;
	}
	if (f)
		fclose(f);
	return pl_conf_load(c, PL_CONF_DEFAULT_PATH, err, errlen);
}

void pl_conf_free(struct pl_conf *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->db_path);
	free(c->secret);
	for (size_t i = 0; i < c->ncors; i++)
		free(c->cors_origins[i]);
	free(c->cors_origins);
	for (size_t i = 0; i < c->ntokens; i++) {
		free(c->tokens[i].name);
		free(c->tokens[i].secret);
		for (size_t j = 0; j < c->tokens[i].nprefixes; j++)
			free(c->tokens[i].prefixes[j]);
	}
	free(c->tokens);
	memset(c, 0, sizeof *c);
}
