/* t_conf.c: the configuration file: defaults, every key, refused values,
 * token sections, and how PUSHLITE_CONF and the default path are found */
#include "pl_first.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pl_conf.h"
#include "pl_log.h"
#include "pl_util.h"
#include "tap.h"

static char dir[256], file[300];

static void write_file(const char *text)
{
	FILE *f = fopen(file, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(file);
		exit(2);
	}
}

/* Load text; returns the rc and leaves err filled. */
static int load(struct pl_conf *c, const char *text, char *err, size_t errlen)
{
	err[0] = '\0';
	write_file(text);
	return pl_conf_load(c, file, err, errlen);
}

/* 1 if err starts with "FILE:line:" */
static int names_line(const char *err, int line)
{
	char want[400];

	snprintf(want, sizeof want, "%s:%d:", file, line);
	return !strncmp(err, want, strlen(want));
}

static void t_defaults(void)
{
	struct pl_conf c;

	pl_conf_defaults(&c);
	ok(c.path == NULL && !strcmp(c.db_path, "/var/lib/pushlite/pushlite.db"), "defaults: no file, standard db path");
	ok(c.secret == NULL, "defaults: no token secret (subscriber tokens refused)");
	ok(c.default_ttl == 3 * 86400 && c.max_ttl == 30 * 86400, "defaults: ttl 3d, max 30d");
	ok(c.max_body == 1048576, "defaults: body limit 1 MiB");
	ok(c.longpoll_timeout == 25 && c.longpoll_max_timeout == 120, "defaults: longpoll 25 s, max 120 s");
	ok(c.stream_max_time == 300 && c.heartbeat == 15, "defaults: stream 300 s, heartbeat 15 s");
	ok(c.longpoll_keepalive == 3, "default: a held long poll writes a blank every 3 s");
	ok(c.longpoll_gzip == 1, "default: a held long poll gzips its answer for a client that accepts it");
	ok(c.max_waiting == 8000, "defaults: 8000 waiting subscribers");
	ok(c.push_enabled == 1 && c.publish_get == 0 && c.trust_remote_user == 0, "defaults: push on, GET publish off, REMOTE_USER not trusted");
	ok(c.synchronous_full == 0, "defaults: synchronous normal");
	ok(c.ncors == 0 && c.cors_credentials == 0, "defaults: no CORS origin, no credentials");
	ok(c.ntokens == 0, "defaults: no publish token (publishing closed)");
	ok(c.max_topics >= 1 && c.max_topics <= 64 && c.retry_after > 0, "defaults: topic cap and Retry-After set");
	pl_conf_free(&c);
	ok(c.db_path == NULL, "conf_free clears the struct");
	pl_conf_free(NULL);
}

static void t_every_key(void)
{
	struct pl_conf c;
	char err[512];
	int rc;

	rc = load(&c,
		  "; a comment\n"
		  "# another comment\n"
		  "[pushlite]\n"
		  "database = /srv/push/p.db\n"
		  "secret = 0123456789abcdef0123\n"
		  "default_ttl = 12h\n"
		  "max_ttl = 7d\n"
		  "max_body = 2048\n"
		  "longpoll_timeout = 30\n"
		  "longpoll_max_timeout = 60\n"
		  "stream_max_time = 600\n"
		  "heartbeat = 20\n"
		  "longpoll_keepalive = 0\n"
		  "longpoll_gzip = off\n"
		  "max_waiting = 100\n"
		  "max_topics = 4\n"
		  "retry_after = 9\n"
		  "push = off\n"
		  "publish_get = yes\n"
		  "trust_remote_user = true\n"
		  "synchronous = FULL\n"
		  "cors_origins = https://a.example, https://b.example *\n"
		  "cors_credentials = 1\n"
		  "\n"
		  "[token publisher]\n"
		  "token = pub-token-123456\n"
		  "topics = /oa /ops,/x/y\n"
		  "\n"
		  "[token boss]\n"
		  "token = admin-token-abcdef\n"
		  "role = admin\n",
		  err, sizeof err);
	ok(rc == PL_OK, "a file setting every key loads (%s)", err);
	if (rc != PL_OK) {
		pl_conf_free(&c);
		return;
	}
	ok(c.path && !strcmp(c.path, file), "path is the file read");
	ok(!strcmp(c.db_path, "/srv/push/p.db"), "database");
	ok(c.secret && !strcmp(c.secret, "0123456789abcdef0123"), "secret");
	ok(c.default_ttl == 43200 && c.max_ttl == 7 * 86400, "default_ttl 12h, max_ttl 7d");
	ok(c.max_body == 2048, "max_body");
	ok(c.longpoll_timeout == 30 && c.longpoll_max_timeout == 60, "longpoll_timeout, longpoll_max_timeout");
	ok(c.stream_max_time == 600 && c.heartbeat == 20, "stream_max_time, heartbeat");
	ok(c.longpoll_keepalive == 0, "longpoll_keepalive = 0: no blanks");
	ok(c.longpoll_gzip == 0, "longpoll_gzip = off");
	ok(c.max_waiting == 100 && c.max_topics == 4 && c.retry_after == 9, "max_waiting, max_topics, retry_after");
	ok(c.push_enabled == 0 && c.publish_get == 1 && c.trust_remote_user == 1 && c.cors_credentials == 1,
	   "booleans off/yes/true/1");
	ok(c.synchronous_full == 1, "synchronous = FULL (any case)");
	ok(c.ncors == 3 && !strcmp(c.cors_origins[0], "https://a.example") &&
	   !strcmp(c.cors_origins[1], "https://b.example") && !strcmp(c.cors_origins[2], "*"),
	   "cors_origins split on blanks and commas");
	ok(c.ntokens == 2, "two token sections");
	if (c.ntokens == 2) {
		ok(!strcmp(c.tokens[0].name, "publisher") && !strcmp(c.tokens[0].secret, "pub-token-123456") &&
		   c.tokens[0].role == PL_ROLE_PUBLISH, "[token publisher]: name, token, default role publish");
		ok(c.tokens[0].nprefixes == 3 && !strcmp(c.tokens[0].prefixes[0], "/oa") &&
		   !strcmp(c.tokens[0].prefixes[1], "/ops") && !strcmp(c.tokens[0].prefixes[2], "/x/y"),
		   "topics prefixes split on blanks and commas");
		ok(!strcmp(c.tokens[1].name, "boss") && c.tokens[1].role == PL_ROLE_ADMIN && c.tokens[1].nprefixes == 0,
		   "[token boss]: role admin, no prefixes");
	}
	pl_conf_free(&c);

	/* Keys outside any section count as [pushlite]; inline comments. */
	rc = load(&c, "max_body = 4096   ; bytes\n", err, sizeof err);
	ok(rc == PL_OK && c.max_body == 4096, "a key before any section, with an inline comment (%s)", err);
	pl_conf_free(&c);

	/* default_ttl above max_ttl contradicts itself: which one did the
	 * operator mean? An error naming both. */
	rc = load(&c, "[pushlite]\ndefault_ttl = 10d\nmax_ttl = 1d\n", err, sizeof err);
	ok(rc == PL_ECONF && !strncmp(err, file, strlen(file)) && strstr(err, "default_ttl (10d)") &&
	   strstr(err, "max_ttl (1d)"), "default_ttl over max_ttl is an error naming both (%s)", err);
	pl_conf_free(&c);
	rc = load(&c, "[pushlite]\ndefault_ttl = 40d\n", err, sizeof err);
	ok(rc == PL_ECONF && strstr(err, "default_ttl (40d)") && strstr(err, "max_ttl (30d, the default)"),
	   "default_ttl over the default max_ttl: the error says max_ttl is the default (%s)", err);
	pl_conf_free(&c);
	rc = load(&c, "[pushlite]\nmax_ttl = 1d\n", err, sizeof err);
	ok(rc == PL_OK && c.default_ttl == 86400 && c.max_ttl == 86400,
	   "max_ttl alone below 3 days: the unset default_ttl follows it (%s)", err);
	pl_conf_free(&c);
	rc = load(&c, "[pushlite]\ndefault_ttl = 90m\nmax_ttl = 5401\n", err, sizeof err);
	ok(rc == PL_OK && c.default_ttl == 5400 && c.max_ttl == 5401, "default_ttl under max_ttl loads (%s)", err);
	pl_conf_free(&c);
	rc = load(&c, "[pushlite]\nmax_ttl = 2h\ndefault_ttl = 7201\n", err, sizeof err);
	ok(rc == PL_ECONF && strstr(err, "default_ttl (7201s)") && strstr(err, "max_ttl (2h)"),
	   "in either order, in the unit that divides it (%s)", err);
	pl_conf_free(&c);
	rc = load(&c, "[pushlite]\ndefault_ttl = 1d\nmax_ttl = 24h\n", err, sizeof err);
	ok(rc == PL_OK && c.default_ttl == 86400 && c.max_ttl == 86400, "default_ttl equal to max_ttl loads (%s)", err);
	pl_conf_free(&c);
	/* A request's timeout is capped at longpoll_max_timeout, and so is
	 * the configured default. */
	rc = load(&c, "[pushlite]\nlongpoll_timeout = 200\nlongpoll_max_timeout = 50\n", err, sizeof err);
	ok(rc == PL_OK && c.longpoll_timeout == 50, "longpoll_timeout is capped by longpoll_max_timeout (%s)", err);
	pl_conf_free(&c);

	rc = load(&c, "[pushlite]\ndefault_ttl = 3600\n", err, sizeof err);
	ok(rc == PL_OK && c.default_ttl == 3600, "a bare ttl is seconds");
	pl_conf_free(&c);

	rc = load(&c, "", err, sizeof err);
	ok(rc == PL_OK && c.max_body == 1048576 && c.ntokens == 0, "an empty file gives the defaults");
	pl_conf_free(&c);
}

static void t_bad(void)
{
	static const struct { const char *line; const char *why; } tab[] = {
		{ "database =", "empty database" },
		{ "database = pushlite.db", "a relative database path" },
		{ "database = run/pushlite.db", "a relative database path with a directory" },
		{ "database = ~/pushlite.db", "a database path with ~ (no shell expands it)" },
		{ "secret =", "an empty secret" },
		{ "default_ttl = 0", "zero ttl" },
		{ "default_ttl = 3w", "unknown duration unit" },
		{ "max_ttl = -1d", "negative ttl" },
		{ "max_body = 0", "zero max_body" },
		{ "max_body = 1k", "max_body with a unit" },
		{ "max_body = 268435457", "max_body over 256 MiB" },
		{ "longpoll_timeout = 0", "zero longpoll_timeout" },
		{ "longpoll_timeout = 3601", "longpoll_timeout over an hour" },
		{ "longpoll_max_timeout = abc", "non-numeric longpoll_max_timeout" },
		{ "stream_max_time = 86401", "stream_max_time over a day" },
		{ "longpoll_keepalive = -1", "negative longpoll_keepalive" },
		{ "longpoll_gzip = sometimes", "non-boolean longpoll_gzip" },
		{ "heartbeat = 0", "zero heartbeat" },
		{ "heartbeat = 15x", "heartbeat with an unknown unit" },
		{ "max_waiting = 0", "zero max_waiting" },
		{ "max_topics = 65", "max_topics over the ceiling of 64" },
		{ "max_topics = 257", "max_topics over 256" },
		{ "retry_after = 0", "zero retry_after" },
		{ "push = maybe", "non-boolean push" },
		{ "publish_get = 2", "publish_get = 2" },
		{ "trust_remote_user = enabled", "non-boolean trust_remote_user" },
		{ "cors_credentials = y", "non-boolean cors_credentials" },
		{ "synchronous = extra", "synchronous = extra" },
		{ "synchronus = full", "misspelt key" },
		{ "Database = /x", "key in the wrong case" },
		{ "database = /var/lib/p.db  # the live one", "a '#' comment after a path (no comment to the parser)" },
		{ "max_ttl = 7d\t# a week", "a '#' comment after a duration" },
	};
	struct pl_conf c;
	char text[256], err[512];

	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
		int rc;
		/* The bad line is line 3; a good key follows it. */
		snprintf(text, sizeof text, "[pushlite]\nheartbeat = 10\n%s\nmax_waiting = 10\n", tab[i].line);
		rc = load(&c, text, err, sizeof err);
		ok(rc == PL_ECONF && names_line(err, 3), "%s is an error naming file:3 (%s)", tab[i].why, err);
		pl_conf_free(&c);
	}
	{
		/* Each program would find its own file: the web server's, cron's
		 * and a shell's working directories differ. */
		int rc = load(&c, "[pushlite]\ndatabase = ./run/p.db\n", err, sizeof err);
		ok(rc == PL_ECONF && names_line(err, 2) && strstr(err, "database must be an absolute path"),
		   "a relative database path: the reason says it must be absolute (%s)", err);
		pl_conf_free(&c);
		rc = load(&c, "[pushlite]\nmax_body = 10\nfoo = 1\n", err, sizeof err);
		ok(rc == PL_ECONF && names_line(err, 3) && strstr(err, "unknown") && strstr(err, "foo"),
		   "unknown key: the reason says unknown and names it (%s)", err);
		pl_conf_free(&c);
		rc = load(&c, "[pushlite]\nmax_body = x\nfoo = 1\n", err, sizeof err);
		ok(rc == PL_ECONF && names_line(err, 2) && strstr(err, "max_body"),
		   "two bad lines: the first one is named (%s)", err);
		pl_conf_free(&c);
		rc = load(&c, "[pushlite]\n\n[pusher]\nmax_body = 10\n", err, sizeof err);
		ok(rc == PL_ECONF && names_line(err, 3) && strstr(err, "pusher"),
		   "an unknown section is an error at its header (%s)", err);
		pl_conf_free(&c);
		rc = load(&c, "[pushlite]\nmax_body 10\n", err, sizeof err);
		ok(rc == PL_ECONF && names_line(err, 2), "a line without '=' is a syntax error naming the line (%s)", err);
		pl_conf_free(&c);
		rc = load(&c, "[pushlite]\noops this is not ini\nmax_body = banana\n", err, sizeof err);
		ok(rc == PL_ECONF && names_line(err, 2) && strstr(err, "syntax error") && !strstr(err, "max_body"),
		   "a line without '=' before a bad value: the first error is reported as itself (%s)", err);
		pl_conf_free(&c);
		rc = load(&c, "[pushlite\nmax_body = 10\n", err, sizeof err);
		ok(rc == PL_ECONF && names_line(err, 1), "an unclosed section is a syntax error (%s)", err);
		pl_conf_free(&c);
		/* An indented line is a line of its own, not the continuation of
		 * the value before it (inih's multi-line values). */
		rc = load(&c, "[pushlite]\n  database = /tmp/x.db\n\tsecret = 0123456789abcdef0123\n"
			  "  max_ttl = 1d\n[token ops]\n    token = ops-token-0123456789\n    role = admin\n",
			  err, sizeof err);
		ok(rc == PL_OK && !strcmp(c.db_path, "/tmp/x.db") && c.secret &&
		   !strcmp(c.secret, "0123456789abcdef0123") && c.max_ttl == 86400 && c.ntokens == 1 &&
		   c.tokens[0].role == PL_ROLE_ADMIN,
		   "indented keys are keys, in [pushlite] and in [token NAME] (%s)", err);
		pl_conf_free(&c);
		rc = load(&c, "[pushlite]\ncors_origins = https://a.example\n    https://b.example\n", err, sizeof err);
		ok(rc == PL_ECONF && names_line(err, 3), "an indented value without a key is a syntax error (%s)", err);
		pl_conf_free(&c);
		{
			static const char nul[] = "[pushlite]\nmax_ttl = 1d\nsecret = abc\0def0123456789abc\n";
			FILE *f = fopen(file, "w");

			if (!f || fwrite(nul, 1, sizeof nul - 1, f) != sizeof nul - 1 || fclose(f) != 0)
				exit(2);
			rc = pl_conf_load(&c, file, err, sizeof err);
			ok(rc == PL_ECONF && names_line(err, 3) && strstr(err, "NUL"),
			   "a NUL byte is refused, naming its line (%s)", err);
			pl_conf_free(&c);
		}
	}
}

/* Short secrets and tokens are weak, not unusable: a test setup may use
 * them. They load (with a warning in the log). */
static void t_short(void)
{
	struct pl_conf c;
	char err[512];
	int rc;

	pl_log_set_level(PL_LOG_ERR);   /* the warnings are expected here */
	rc = load(&c, "[pushlite]\nsecret = secret\n[token p]\ntoken = pub\nrole = publish\n", err, sizeof err);
	ok(rc == PL_OK && c.ntokens == 1 && !strcmp(c.secret, "secret"),
	   "a 6-byte secret and a 3-character token load (%s)", rc == PL_OK ? "ok" : err);
	pl_conf_free(&c);
	/* The secret is the bytes as written: a passphrase may hold " #"
	 * (a comment after a value is refused for the other keys). */
	rc = load(&c, "[pushlite]\nsecret = my long passphrase #42 for tokens\n", err, sizeof err);
	ok(rc == PL_OK && c.secret && !strcmp(c.secret, "my long passphrase #42 for tokens"),
	   "a secret holding a blank and '#' loads whole (%s)", rc == PL_OK ? "ok" : err);
	pl_conf_free(&c);
	/* But ';' after a blank starts a comment there too, as in every value
	 * (the INI parser's, before ours sees the value): documented so, since
	 * a secret so cut would sign with its first part only. */
	rc = load(&c, "[pushlite]\nsecret = my long passphrase ;42 for tokens\n", err, sizeof err);
	ok(rc == PL_OK && !strcmp(c.secret, "my long passphrase"), "' ;' ends a secret: a comment follows (%s)",
	   rc == PL_OK ? c.secret : err);
	pl_conf_free(&c);
	rc = load(&c, "[pushlite]\nsecret = my-long-passphrase;42\n", err, sizeof err);
	ok(rc == PL_OK && !strcmp(c.secret, "my-long-passphrase;42"), "';' without a blank before it is the secret's");
	pl_conf_free(&c);
	{
		/* The INI parser's line limit: a longer line is refused by its
		 * own number, not taken for two lines. */
		char text[512];
		int n = snprintf(text, sizeof text, "[pushlite]\nheartbeat = 10\n[token a]\ntoken = ");
		memset(text + n, 'x', 191);
		strcpy(text + n + 191, "\nrole = publish\n");
		rc = load(&c, text, err, sizeof err);
		ok(rc == PL_ECONF && names_line(err, 4) && strstr(err, "longer"),
		   "a line over the parser's limit is an error naming that line (%s)", err);
		pl_conf_free(&c);
		text[n + 190] = '\n';
		memmove(text + n + 190, text + n + 191, strlen(text + n + 191) + 1);
		rc = load(&c, text, err, sizeof err);
		ok(rc == PL_OK && c.ntokens == 1 && strlen(c.tokens[0].secret) == 190,
		   "a 190-character token loads (%s)", rc == PL_OK ? "ok" : err);
		pl_conf_free(&c);
		/* Written without blanks, 191 characters fit on a line: the
		 * limit is still the one the error and the docs give. */
		n = snprintf(text, sizeof text, "[pushlite]\nheartbeat = 10\n[token a]\ntoken=");
		memset(text + n, 'x', 191);
		strcpy(text + n + 191, "\nrole = publish\n");
		rc = load(&c, text, err, sizeof err);
		ok(rc == PL_ECONF && names_line(err, 4) && strstr(err, "1-190"),
		   "a 191-character token on a line that holds it is refused as over 190 (%s)", err);
		pl_conf_free(&c);
	}
	pl_log_set_level(PL_LOG_INFO);
}

static void t_tokens(void)
{
	static const struct { const char *text; int line; const char *why; } bad[] = {
		{ "[token a]\ntoken =\n", 2, "an empty token" },
		{ "[token a]\ntoken = has space inside\n", 2, "a token with blanks" },
		{ "[token a]\ntoken = quote\"12345678\n", 2, "a token with a quote" },
		{ "[token a]\ntoken = abcdefgh12\nrole = root\n", 3, "an unknown role" },
		{ "[token a]\ntoken = abcdefgh12\ntopics = /ok /bad/\n", 3, "a topic prefix with a trailing /" },
		{ "[token a]\ntoken = abcdefgh12\ntopics = oa\n", 3, "a topic prefix without a leading /" },
		{ "[token a]\ntoken = abcdefgh12\ntopics = /a/../b\n", 3, "a '..' topic prefix" },
		{ "[token a]\ntoken = abcdefgh12\ncolour = red\n", 3, "an unknown key in a token section" },
		{ "[token ]\ntoken = abcdefgh12\n", 1, "a token section without a name" },
		/* inih passes these over in silence */
		{ "[token a]\n; token = abcdefgh12\n[pushlite]\n", 1, "a token section without a token line" },
		{ "[pushlite]\n[token a]\n", 2, "a token section without a line, at the end" },
		/* The second value would replace the first token without a word. */
		{ "[token a]\ntoken = abcdefgh12\n[token b]\ntoken = bbbbbbbb12\n[token a]\ntoken = cccccccc12\n", 6,
		  "a second token = for one name (a repeated section)" },
		{ "[token a]\ntoken = abcdefgh12\nrole = admin\nrole = publish\n", 4, "a second role line" },
	};
	struct pl_conf c;
	char err[512], text[2048];
	int rc;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		rc = load(&c, bad[i].text, err, sizeof err);
		ok(rc == PL_ECONF && names_line(err, bad[i].line), "%s is refused at line %d (%s)", bad[i].why,
		   bad[i].line, err);
		pl_conf_free(&c);
	}
	/* An empty list would leave the token without prefixes, which means
	 * every topic: the opposite of what an empty line suggests. */
	rc = load(&c, "[token a]\ntoken = abcdefgh12\ntopics =\n", err, sizeof err);
	ok(rc == PL_ECONF && names_line(err, 3) && strstr(err, "bad value") && strstr(err, "topics"),
	   "an empty topics = is a bad value, not an unrestricted token (%s)", err);
	pl_conf_free(&c);
	rc = load(&c, "[token a]\ntoken = abcdefgh12\ntopics = , ,\n", err, sizeof err);
	ok(rc == PL_ECONF && names_line(err, 3) && strstr(err, "topics"), "topics = , , is a bad value too (%s)", err);
	pl_conf_free(&c);
	/* An admin token publishes anywhere: topics on it would be ignored. */
	rc = load(&c, "[token boss]\ntoken = abcdefgh12\nrole = admin\ntopics = /ops\n", err, sizeof err);
	ok(rc == PL_ECONF && names_line(err, 4) && strstr(err, "admin token may publish anywhere") &&
	   strstr(err, "takes no topics"), "topics on an admin token is an error saying why (%s)", err);
	pl_conf_free(&c);
	rc = load(&c, "[token boss]\ntoken = abcdefgh12\ntopics = /ops\nrole = admin\n", err, sizeof err);
	ok(rc == PL_ECONF && names_line(err, 4) && strstr(err, "admin token may publish anywhere"),
	   "topics before role = admin: the role line is named (%s)", err);
	pl_conf_free(&c);
	rc = load(&c, "[token boss]\ntoken = abcdefgh12\ntopics = /ops\n[token x]\ntoken = xxxxxxxx12\n"
		  "[token boss]\nrole = admin\n", err, sizeof err);
	ok(rc == PL_ECONF && names_line(err, 7) && strstr(err, "admin token"),
	   "topics, then role = admin in a repeated section: refused too (%s)", err);
	pl_conf_free(&c);
	rc = load(&c, "[token a]\ntoken = abcdefgh12\ncolor = red\n", err, sizeof err);
	ok(rc == PL_ECONF && names_line(err, 3) && strstr(err, "unknown key 'color' in [token a]"),
	   "an unknown key in a token section is reported as unknown, as in [pushlite] (%s)", err);
	pl_conf_free(&c);
	rc = load(&c, "[token lonely]\nrole = admin\n", err, sizeof err);
	ok(rc == PL_ECONF && strstr(err, "lonely") && strstr(err, "token"), "a token section without token = is refused (%s)", err);
	pl_conf_free(&c);
	rc = load(&c, "[token a]\ntoken = same-token-1\n[token b]\ntoken = same-token-1\n", err, sizeof err);
	ok(rc == PL_ECONF && strstr(err, "[token b]") && strstr(err, "[token a]"),
	   "two sections with the same token are refused (%s)", err);
	pl_conf_free(&c);
	rc = load(&c, "[token all]\ntoken = abcdefgh12\ntopics = /\n", err, sizeof err);
	ok(rc == PL_OK && c.ntokens == 1 && c.tokens[0].nprefixes == 1 && !strcmp(c.tokens[0].prefixes[0], "/"),
	   "topics = / is every topic (%s)", err);
	pl_conf_free(&c);
	/* A section named twice is one token. */
	rc = load(&c, "[token a]\ntoken = abcdefgh12\n[token b]\ntoken = bbbbbbbb12\n[token a]\nrole = admin\n", err,
		  sizeof err);
	ok(rc == PL_OK && c.ntokens == 2 && c.tokens[0].role == PL_ROLE_ADMIN, "a repeated section adds to the same token");
	pl_conf_free(&c);
	/* PL_MAX_PREFIXES prefixes pass, one more does not. */
	{
		size_t n = (size_t)snprintf(text, sizeof text, "[token a]\ntoken = abcdefgh12\ntopics =");
		for (int i = 0; i < PL_MAX_PREFIXES; i++)
			n += (size_t)snprintf(text + n, sizeof text - n, " /t%d", i);
		rc = load(&c, text, err, sizeof err);
		ok(rc == PL_OK && c.ntokens == 1 && c.tokens[0].nprefixes == PL_MAX_PREFIXES, "%d prefixes are accepted",
		   PL_MAX_PREFIXES);
		pl_conf_free(&c);
		snprintf(text + n, sizeof text - n, " /one-more\n");
		rc = load(&c, text, err, sizeof err);
		ok(rc == PL_ECONF && names_line(err, 3), "%d prefixes are refused (%s)", PL_MAX_PREFIXES + 1, err);
		pl_conf_free(&c);
	}
}

static void t_env(void)
{
	struct pl_conf c;
	char err[512], missing[320];
	int rc;

	snprintf(missing, sizeof missing, "%s/does-not-exist.conf", dir);
	setenv("PUSHLITE_CONF", missing, 1);
	err[0] = '\0';
	rc = pl_conf_load_env(&c, err, sizeof err);
	ok(rc == PL_ECONF && strstr(err, missing) && strstr(err, "cannot read"),
	   "a missing file named by PUSHLITE_CONF is an error naming it (%s)", err);
	pl_conf_free(&c);

	write_file("[pushlite]\nheartbeat = 7\n");
	setenv("PUSHLITE_CONF", file, 1);
	rc = pl_conf_load_env(&c, err, sizeof err);
	ok(rc == PL_OK && c.heartbeat == 7 && !strcmp(c.path, file), "PUSHLITE_CONF names the file read");
	pl_conf_free(&c);

	/* Unset or empty: the default path, where a missing file means defaults. */
	if (access(PL_CONF_DEFAULT_PATH, F_OK) != 0) {
		unsetenv("PUSHLITE_CONF");
		rc = pl_conf_load_env(&c, err, sizeof err);
		ok(rc == PL_OK && c.path == NULL && c.heartbeat == 15, "no PUSHLITE_CONF and no %s: defaults",
		   PL_CONF_DEFAULT_PATH);
		pl_conf_free(&c);
		setenv("PUSHLITE_CONF", "", 1);
		rc = pl_conf_load_env(&c, err, sizeof err);
		ok(rc == PL_OK && c.path == NULL, "an empty PUSHLITE_CONF means the default path");
		pl_conf_free(&c);
	} else {
		ok(1, "# SKIP %s exists on this host", PL_CONF_DEFAULT_PATH);
		ok(1, "# SKIP %s exists on this host", PL_CONF_DEFAULT_PATH);
	}

	/* Not a config file: refused at its first line or at the size cap,
	 * before it is read whole into memory. */
	rc = pl_conf_load(&c, "/dev/zero", err, sizeof err);
	ok(rc == PL_ECONF && strstr(err, "/dev/zero:1:") && strstr(err, "NUL"),
	   "/dev/zero as config is refused at line 1 (%s)", err);
	pl_conf_free(&c);
	{
		FILE *f = fopen(file, "w");
		long lines = 0;

		for (long n = 0; f && n <= PL_CONF_FILE_MAX; n += 10, lines++)
			fputs("; comment\n", f);
		if (f)
			fclose(f);
		rc = pl_conf_load(&c, file, err, sizeof err);
		ok(rc == PL_ECONF && strstr(err, "larger than"), "a file of %ld comment lines past %d bytes is refused (%s)",
		   lines, PL_CONF_FILE_MAX, err);
		pl_conf_free(&c);
		f = fopen(file, "w");
		for (long n = 0; f && n < 100000; n++)
			fputc('x', f);
		if (f)
			fclose(f);
		rc = pl_conf_load(&c, file, err, sizeof err);
		ok(rc == PL_ECONF && names_line(err, 1) && strstr(err, "longer than"),
		   "a line of 100000 bytes without a newline is refused as too long (%s)", err);
		pl_conf_free(&c);
	}
	/* A directory cannot be read as a file. */
	rc = pl_conf_load(&c, dir, err, sizeof err);
	ok(rc == PL_ECONF && !strncmp(err, dir, strlen(dir)), "a directory as config is an error naming it (%s)", err);
	pl_conf_free(&c);
}

/* Section headers with blanks or without ']', unknown sections, times
 * with units, a key given twice. */
static void t_forms(void)
{
	struct pl_conf c;
	char err[512];
	int rc;

	rc = load(&c, "[ pushlite ]\npush = off\n[\ttoken a ]\ntoken = abcdefgh12\n", err, sizeof err);
	ok(rc == PL_OK && !c.push_enabled && c.ntokens == 1 && !strcmp(c.tokens[0].name, "a"),
	   "blanks inside [ ] are not part of the section's name (%s)", err);
	pl_conf_free(&c);
	rc = load(&c, "# x\n[pushlite\nx = 1\n", err, sizeof err);
	ok(rc == PL_ECONF && names_line(err, 2) && strstr(err, "]"), "a header without ']' is named as such (%s)", err);
	pl_conf_free(&c);
	/* inih drops what follows a header's ']': the setting was lost */
	rc = load(&c, "[pushlite] max_ttl = 1h\n", err, sizeof err);
	ok(rc == PL_ECONF && names_line(err, 1) && strstr(err, "after the section header"),
	   "a setting after a header's ']' is refused, not dropped (%s)", err);
	pl_conf_free(&c);
	rc = load(&c, "[pushlite] ; the main section\npush = off\n", err, sizeof err);
	ok(rc == PL_OK && !c.push_enabled, "a comment after a header's ']' is fine (%s)", err);
	pl_conf_free(&c);
	/* inih calls no handler for a section without keys */
	rc = load(&c, "[pushlite]\npush = on\n[weird]\n", err, sizeof err);
	ok(rc == PL_ECONF && names_line(err, 3) && strstr(err, "unknown section [weird]"),
	   "an unknown section without keys is refused too (%s)", err);
	pl_conf_free(&c);
	rc = load(&c, "[pushlite]\npush = on\n[pushlte]\npush = off\n", err, sizeof err);
	ok(rc == PL_ECONF && names_line(err, 3) && strstr(err, "unknown section [pushlte]"),
	   "an unknown section is named as a section (%s)", err);
	pl_conf_free(&c);
	rc = load(&c, "longpoll_timeout = 20s\nlongpoll_max_timeout = 2m\nstream_max_time = 5m\nheartbeat = 15s\n"
		  "retry_after = 1m\nlongpoll_keepalive = 0s\n", err, sizeof err);
	ok(rc == PL_OK && c.longpoll_timeout == 20 && c.longpoll_max_timeout == 120 && c.stream_max_time == 300 &&
	   c.heartbeat == 15 && c.retry_after == 60 && c.longpoll_keepalive == 0,
	   "times take durations with units (%s)", err);
	pl_conf_free(&c);
	rc = load(&c, "stream_max_time = 2d\n", err, sizeof err);
	ok(rc == PL_ECONF && names_line(err, 1), "a time over its range is still refused (%s)", err);
	pl_conf_free(&c);
	rc = load(&c, "cors_origins = https://a.example\ncors_origins = https://b.example https://c.example\n", err,
		  sizeof err);
	ok(rc == PL_OK && c.ncors == 3 && !strcmp(c.cors_origins[0], "https://a.example") &&
	   !strcmp(c.cors_origins[2], "https://c.example"),
	   "cors_origins given twice: the lines add up, as topics lines do (%s)", err);
	pl_conf_free(&c);
	{
		/* Twelve origins of 40 characters: more than one line holds. */
		struct pl_buf text = { 0 };

		for (int i = 0; i < 12; i++) {
			char line[96];

			snprintf(line, sizeof line, "cors_origins = https://app%02d.a-rather-long-name.example\n", i);
			pl_buf_add(&text, line, strlen(line));
		}
		pl_buf_addc(&text, '\0');
		rc = load(&c, text.p, err, sizeof err);
		ok(rc == PL_OK && c.ncors == 12 && !strcmp(c.cors_origins[11], "https://app11.a-rather-long-name.example"),
		   "twelve long origins on twelve lines all count (%s)", err);
		pl_buf_free(&text);
	}
	pl_conf_free(&c);
}

/* cors_origins: each value must be able to equal an Origin header, which is
 * scheme://host[:port] as the browser serializes it, or "null"; "*" alone
 * allows any. Anything else would never match, silently. */
static void t_origins(void)
{
	static const char *good[] = {
		"https://a.example", "http://localhost:8080", "null", "*", "https://[::1]:8443",
		"HTTPS://App.Example", "chrome-extension://abcdefghij", "http://127.0.0.1:18080",
		"https://a-b.c_d.example", "https://a.example, http://b.example:8080 null *",
	};
	static const char *bad[] = {
		"https://a.example/", "https://a.example/path", "app.example", "*.example.com",
		"https://*.example.com", "https://a.example:443", "http://a.example:80", "https://a.example:0",
		"https://a.example:65536", "https://a.example:08080", "https://", "https://a.example:",
		"https://user@a.example", "https://a.example?x=1", "https://a.example#top", "//a.example",
		"1https://a.example", "https://.example", "https://a..example", "https://[::1", "https://é.example",
	};
	struct pl_conf c;
	char text[256], err[512];
	int rc;

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		snprintf(text, sizeof text, "[pushlite]\ncors_origins = %s\n", good[i]);
		rc = load(&c, text, err, sizeof err);
		ok(rc == PL_OK && c.ncors >= 1, "cors_origins = %s loads (%s)", good[i], err);
		pl_conf_free(&c);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "[pushlite]\nheartbeat = 10\ncors_origins = https://ok.example %s\n", bad[i]);
		rc = load(&c, text, err, sizeof err);
		ok(rc == PL_ECONF && names_line(err, 3) && strstr(err, "cors_origins") && strstr(err, bad[i]),
		   "cors_origins = %s is an error naming file:3 and the value (%s)", bad[i], err);
		pl_conf_free(&c);
	}
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof dir, "%s/pl-t_conf-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(file, sizeof file, "%s/pushlite.conf", dir);
	t_defaults();
	t_every_key();
	t_bad();
	t_short();
	t_tokens();
	t_env();
	t_forms();
	t_origins();
	unlink(file);
	rmdir(dir);
	return tap_done();
}
