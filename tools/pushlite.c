/* pushlite.c: the command-line tool on the host: init the database,
 * publish, follow a topic, mint subscriber tokens, print stats. It works on
 * the database directly, so it needs no token: whoever can write the
 * database file is trusted already. */
#include "pl_first.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pl_admin.h"
#include "pl_auth.h"
#include "pl_conf.h"
#include "pl_group.h"
#include "pl_log.h"
#include "pl_out.h"
#include "pl_publish.h"
#include "pl_store.h"
#include "pl_sub.h"
#include "pl_topic.h"
#include "pl_wake.h"

static volatile sig_atomic_t stop;

static void usage(FILE *f)
{
	fputs("usage: pushlite [--conf FILE] [--db PATH] COMMAND [ARGS]\n"
	      "  init                                 create or upgrade the database\n"
	      "  publish [--type T] [--user U] [--clients pc,ios] [--ttl 3d] [--src S] [--target T] [--json]\n"
	      "          TOPIC [TEXT]                 publish TEXT (or standard input)\n"
	      "  tail [--since ID|now|all|10m] [--user U] [--type T] TOPIC...\n"
	      "                                       print messages as NDJSON as they commit\n"
	      "  token --user U [--ttl 1h] [--secret S]\n"
	      "                                       mint a subscriber token v1.USER.EXPIRY.SIG\n"
	      "  stats                                print the admin stats as JSON\n"
	      "       pushlite --help | --version\n"
	      "The configuration is --conf, else $PUSHLITE_CONF, else /etc/pushlite.conf; with --db,\n"
	      "init, stats and tail go on without it when it cannot be loaded.\n", f);
}

/* A usage mistake: one line naming it, for scripts and cron mail; the
 * whole usage is --help's. */
static int bad_usage(const char *cmd, const char *what)
{
	fprintf(stderr, "pushlite: %s%s%s (see pushlite --help)\n", cmd ? cmd : "", cmd ? ": " : "", what);
	return 2;
}

/* getopt_long with our own messages, and --help or -h for any command. */
static int next_opt(const char *cmd, int argc, char **argv, const char *shorts, const struct option *opts)
{
	int o;

	opterr = 0;
	o = getopt_long(argc, argv, shorts, opts, NULL);
	if (o == '?' || o == ':') {
		char what[160];

		/* An unknown short option is in optopt: argv[optind - 1] may be
		 * another word once getopt has moved the non-options about. */
		if (o == '?' && optopt)
			snprintf(what, sizeof what, "unknown option -%c", optopt);
		else
			snprintf(what, sizeof what, o == ':' ? "option %.100s needs a value" : "unknown option %.100s",
				 argv[optind - 1]);
		bad_usage(cmd, what);
		return -2;
	}
	return o;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Opens the store, or says why in one line of its own (the library's log
 * line would say it a second time). existing: commands that only read, for
 * which a missing database is a typo, not one to create. */
static int open_db(struct pl_conf *c, struct pl_store **st, int existing)
{
	int rc;

	char why[512];

	/* init opens what it finds as any other command does */
	if (!existing && pl_store_would_lock_out(c->db_path, why, sizeof why)) {
		fprintf(stderr, "pushlite: cannot open the database %s: %s\n", c->db_path, why);
		return 1;
	}
	pl_log_set_level(PL_LOG_NONE);
	rc = existing ? pl_store_open_existing(st, c) : pl_store_open(st, c);
	pl_log_set_level(PL_LOG_INFO);
	if (rc != PL_OK) {
		fprintf(stderr, "pushlite: cannot open the database %s: %s\n", c->db_path, pl_store_open_error());
		return 1;
	}
	return 0;
}

static int open_store(struct pl_conf *c, struct pl_store **st)
{
	return open_db(c, st, 0);
}

static int open_existing(struct pl_conf *c, struct pl_store **st)
{
	return open_db(c, st, 1);
}

/* After init, whether the programs will be able to write the database:
 * an existing file (restored or copied into place as root) opens and
 * needs no schema change, yet every publish of the web server's user
 * would answer 503 while /push/health says ok. The operator runs init as
 * that user (docs/deploy.md 3) or as root: as that user, each file must
 * be writable; as root, each must belong to the directory's owner, the
 * user the programs write as (a new database is given to it). A directory
 * of root's names no such user (the programs may write through its group,
 * as in a root:www-data 2775 directory, or it is /tmp): then nothing is
 * refused. The files are looked at where SQLite opens them, behind a
 * symbolic link: its -wal and -shm are beside the file it points to, and
 * the link's own directory says nothing. 0, or -1 with the reason printed. */
static int check_owner(const char *db)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };
	char dir[4096], path[4200], real[PATH_MAX];
	const char *slash;
	struct stat ds, fs;
	int root = geteuid() == 0;

	if (realpath(db, real))
		db = real;
	slash = strrchr(db, '/');
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else
		snprintf(dir, sizeof dir, "%.*s", slash == db ? 1 : (int)(slash - db), db);
	if (stat(dir, &ds) != 0)
		return 0;       /* open_store() has said what is wrong, if anything */
	for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
		snprintf(path, sizeof path, "%s%s", db, sfx[i]);
		if (stat(path, &fs) != 0)
			continue;
		if (root && ds.st_uid != 0 && fs.st_uid != ds.st_uid) {
			fprintf(stderr, "pushlite: init: %s belongs to uid %u, its directory %s to uid %u: the "
				"programs, which write as the directory's owner, would answer 503 to every publish "
				"(chown it to that user)\n", path, (unsigned)fs.st_uid, dir, (unsigned)ds.st_uid);
			return -1;
		}
		if (!root && access(path, W_OK) != 0) {
			fprintf(stderr, "pushlite: init: %s is not writable by this user (uid %u): every publish "
				"as this user would answer 503 (chown it to this user)\n", path, (unsigned)geteuid());
			return -1;
		}
	}
	return 0;
}

static int cmd_init(struct pl_conf *c)
{
	struct pl_store *st;

	if (open_store(c, &st))
		return 1;
	pl_store_close(st);
	if (check_owner(c->db_path) != 0)
		return 1;
	printf("database ready: %s\n", c->db_path);
	return 0;
}

static char *read_all(FILE *f, size_t max, size_t *len)
{
	struct pl_buf b = { 0 };
	char chunk[8192];
	size_t n;

	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		pl_buf_add(&b, chunk, n);
		if (b.len > max)
			break;
	}
	if (ferror(f)) {
		/* Not the end of the text: publishing what came would cut it. */
		int e = errno;

		pl_buf_free(&b);
		errno = e;
		return NULL;
	}
	*len = b.len;
	return b.p ? b.p : pl_xcalloc(1, 1);
}

/* "name=value", allocated. */
static char *env_pair(const char *name, const char *value)
{
	size_t n = strlen(name), v = strlen(value);
	char *s = pl_xmalloc(n + v + 2);

	memcpy(s, name, n);
	s[n] = '=';
	memcpy(s + n + 1, value, v + 1);
	return s;
}

/* Publishing goes through the very code the web endpoint runs, given the
 * fields as the X- headers a request would carry. */
static void free_env(char **env, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(env[i]);
}

/* 1 when option o came before: which of two values was meant is a guess
 * (a script's default and its override), so it is a usage mistake. */
static int twice(unsigned *seen, int o)
{
	unsigned bit = 1u << (o & 31);
	int was = (*seen & bit) != 0;

	*seen |= bit;
	return was;
}

/* A publish refused as the endpoint refuses it: its error code and
 * message on one line, as every other failure of this tool. */
static void say_refusal(const struct pl_resp *resp)
{
	struct json_object *o = json_tokener_parse(resp->body.p ? resp->body.p : ""), *e, *m;

	if (o && json_object_object_get_ex(o, "error", &e) && json_object_object_get_ex(o, "message", &m))
		fprintf(stderr, "pushlite: publish: %s: %s\n", json_object_get_string(e), json_object_get_string(m));
	else
		fprintf(stderr, "pushlite: publish: refused (status %d)\n", resp->status);
	json_object_put(o);
}

static int cmd_publish(struct pl_conf *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", 1, 0, 'y' }, { "user", 1, 0, 'u' }, { "clients", 1, 0, 'c' }, { "ttl", 1, 0, 't' },
		{ "src", 1, 0, 's' }, { "target", 1, 0, 'g' }, { "json", 0, 0, 'j' }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
	};
	char *env[16], *body;   /* six fields, each once; topic, method, type; NULL */
	size_t nenv = 0, len;
	int o, json = 0, rc = 1;
	struct pl_store *st = NULL;
	struct pl_req r;
	struct pl_resp resp;

	/* "+": options come before TOPIC, so that a TEXT may begin with '-'
	 * ("-5 degrees"). */
	while ((o = next_opt("publish", argc, argv, "+:h", opts)) != -1) {
		const char *h = NULL;
		switch (o) {
		case 'h': usage(stdout); free_env(env, nenv); return 0;
		case 'y': h = "HTTP_X_TYPE"; break;
		case 'u': h = "HTTP_X_USER"; break;
		case 'c': h = "HTTP_X_CLIENTS"; break;
		case 't': h = "HTTP_X_TTL"; break;
		case 's': h = "HTTP_X_SRC"; break;
		case 'g': h = "HTTP_X_TARGET"; break;
		case 'j': json = 1; continue;
		default: free_env(env, nenv); return 2;
		}
		for (size_t i = 0; i < nenv; i++)
			if (!strncmp(env[i], h, strlen(h)) && env[i][strlen(h)] == '=') {
				free_env(env, nenv);
				return bad_usage("publish", "an option is given twice");
			}
		env[nenv++] = env_pair(h, optarg);
	}
	if (optind >= argc || argc - optind > 2) {
		int late = 0;

		for (int i = optind + 1; i < argc; i++)
			late |= argv[i][0] == '-';
		free_env(env, nenv);
		return optind >= argc ? bad_usage("publish", "a TOPIC is needed")
				      : bad_usage("publish", late ? "options go before TOPIC" :
						  "TOPIC and at most one TEXT (quote a text with blanks)");
	}
	env[nenv++] = env_pair("HTTP_X_TOPIC", argv[optind]);
	env[nenv++] = pl_xstrdup("REQUEST_METHOD=POST");
	env[nenv++] = pl_xstrdup(json ? "CONTENT_TYPE=application/json" : "CONTENT_TYPE=text/plain");
	env[nenv] = NULL;
	if (optind + 1 < argc) {
		body = pl_xstrdup(argv[optind + 1]);
		len = strlen(body);
	} else {
		body = read_all(stdin, c->max_body, &len);
		if (!body) {
			fprintf(stderr, "pushlite: publish: reading the text from stdin: %s\n", strerror(errno));
			free_env(env, nenv);
			return 1;
		}
		/* A trailing newline from echo or a heredoc is not part of the text. */
		if (!json && len && body[len - 1] == '\n')
			body[--len] = '\0';
	}
	pl_req_init(&r, env, body, len);
	pl_resp_init(&resp);
	if (len > c->max_body) {
		pl_out_error(&resp, NULL, PL_ETOOBIG, NULL, "the message is larger than max_body", 0);
	} else if (!open_existing(c, &st)) {
		pl_group_inline();      /* one publish, then exit: no checkpoint thread */
		/* A storage failure is said once, below, with its reason. */
		pl_log_set_level(PL_LOG_NONE);
		pl_publish_trusted(c, &r, &resp);
		pl_log_set_level(PL_LOG_INFO);
	} else {
		goto out;
	}
	if (resp.status >= 500)
		fprintf(stderr, "pushlite: publish: nothing was stored: %s: %s\n", c->db_path,
			*pl_group_error() ? pl_group_error() : pl_store_errmsg(st));
	else if (resp.status == 201) {
		/* Stored: a script that takes the failure for "nothing stored"
		 * and publishes again would store it twice. Say what was. */
		fwrite(resp.body.p, 1, resp.body.len, stdout);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			int e = errno ? errno : EIO;
			size_t n = resp.body.len;

			while (n && resp.body.p[n - 1] == '\n')
				n--;
			fprintf(stderr, "pushlite: publish: stored (%.*s), but writing that to the output failed: %s\n",
				(int)n, resp.body.p, strerror(e));
			rc = 1;
			goto out;
		}
	} else
		say_refusal(&resp);
	/* Refused as the endpoint would refuse it (a bad topic, --ttl, JSON):
	 * the command line is wrong, as with any other usage mistake. */
	rc = resp.status == 201 ? 0 : resp.status >= 400 && resp.status < 500 ? 2 : 1;
out:
	pl_resp_free(&resp);
	pl_req_free(&r);
	pl_store_close(st);
	pl_group_close();
	free(body);
	free_env(env, nenv);
	return rc;
}

/* Wait for a commit, a signal or timeout_ms; 1 when stdout's reader has
 * gone (a pipe whose reader closed reports an error to poll even with no
 * event asked for; a terminal hung up, POLLHUP) or there is no stdout. */
static int tail_wait(struct pl_wake *w, int timeout_ms)
{
	struct pollfd p[2] = { { .fd = STDOUT_FILENO, .events = 0 }, { .fd = pl_wake_fd(w), .events = POLLIN } };
	int r = poll(p, p[1].fd >= 0 ? 2 : 1, timeout_ms);

	if (r > 0 && (p[0].revents & (POLLERR | POLLHUP | POLLNVAL)))
		return 1;
	if (r > 0 && p[1].revents)
		pl_wake_read(w);
	return 0;
}

/* Open the database at the configured path again, once there is one: it
 * was deleted or replaced under the tail (why says which), or a query
 * failed (a file being replaced, a passing fault). NULL when told to stop
 * or the reader left meanwhile. */
static struct pl_store *tail_reopen(struct pl_conf *c, struct pl_store *st, struct pl_wake *w, const char *why)
{
	int said = 0, rc;

	pl_store_close(st);
	st = NULL;
	for (;;) {
		pl_log_set_level(PL_LOG_NONE);
		rc = pl_store_open_existing(&st, c);
		pl_log_set_level(PL_LOG_INFO);
		if (rc == PL_OK)
			return st;
		if (!said++)
			fprintf(stderr, "pushlite: the database %s %s: %s; waiting for it\n", c->db_path, why,
				pl_store_open_error());
		if (stop || tail_wait(w, 1000) || stop)
			return NULL;
	}
}

static int cmd_tail(struct pl_conf *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", 1, 0, 's' }, { "user", 1, 0, 'u' }, { "type", 1, 0, 'y' }, { "help", 0, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct pl_filter f;
	struct pl_result res;
	struct pl_store *st = NULL;
	struct pl_wake *w = NULL;
	struct pl_buf line = { 0 };
	unsigned seen = 0;
	int o, rc = 1;

	memset(&f, 0, sizeof f);
	memset(&res, 0, sizeof res);
	f.admin = 1;            /* every user's messages, every client kind */
	f.unexpired = 1;        /* but, as everywhere, never an expired one */
	f.since = PL_SINCE_NOW;
	f.limit = PL_LIMIT_MAX;
	while ((o = next_opt("tail", argc, argv, ":h", opts)) != -1) {
		if (o > 0 && o != 'h' && twice(&seen, o))
			return bad_usage("tail", "an option is given twice");
		switch (o) {
		case 'h': usage(stdout); return 0;
		case 's':
			if (pl_sub_since(optarg, &f) != PL_OK) {
				fprintf(stderr, "pushlite: --since takes an id, now, all or a duration\n");
				return 2;
			}
			break;
		case 'u':
			/* What no token could name would match nothing, silently. */
			if (!pl_auth_user_valid(optarg))
				return bad_usage("tail", "bad --user value");
			f.user_filter = optarg;
			break;
		case 'y':
			if (!pl_sub_label_valid(optarg))
				return bad_usage("tail", "bad --type value");
			f.type = optarg;
			break;
		default: return 2;
		}
	}
	if (argc - optind > PL_MAX_TOPICS)
		return bad_usage("tail", "too many topics");
	for (; optind < argc; optind++) {
		if (pl_topic_sub_valid(argv[optind], strlen(argv[optind])) != PL_OK) {
			fprintf(stderr, "pushlite: bad topic %s\n", argv[optind]);
			return 2;
		}
		f.topics[f.ntopics++] = argv[optind];
	}
	if (!f.ntopics)
		return bad_usage("tail", "a TOPIC is needed");
	if (open_existing(c, &st) || pl_wake_open(&w, c->db_path) != 0)
		goto out;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	/* A reader that went away (| head -1) ends the tail: EPIPE on a write,
	 * or, while nothing is written, stdout's error seen by tail_wait. */
	signal(SIGPIPE, SIG_IGN);
	while (!stop) {
		if (pl_store_moved(st)) {
			if (!(st = tail_reopen(c, st, w, "was replaced")))
				break;
			/* Its ids start again: follow it from its start, as a
			 * client told "reset" does. */
			f.since = PL_SINCE_ID;
			f.since_id = 0;
		}
		if (pl_store_query(st, &f, &res) != PL_OK) {
			/* The cursor stays: a file whose ids went backwards
			 * answers "reset" and its messages from the start. */
			if (!(st = tail_reopen(c, st, w, "is unavailable")))
				break;
			continue;
		}
		for (size_t i = 0; i < res.n; i++) {
			pl_buf_reset(&line);
			pl_out_message_json(&line, &res.rows[i], 0);
			pl_buf_addc(&line, '\n');
			fwrite(line.p, 1, line.len, stdout);
		}
		if (fflush(stdout) != 0 || ferror(stdout)) {
			if (errno == EPIPE)
				break;
			fprintf(stderr, "pushlite: writing: %s\n", strerror(errno));
			goto out;
		}
		f.since = PL_SINCE_ID;
		f.since_id = res.cursor;
		/* Without a watch (no inotify, or the directory replaced and not
		 * watched again yet: pl_wake_changed() tries) look every second;
		 * also once after the watch is back, for a commit made just before. */
		if (!res.more) {
			int watched = pl_wake_watching(w);

			if (!watched)
				pl_wake_changed(w);
			if (tail_wait(w, watched ? 5000 : 1000))
				break;
		}
	}
	rc = 0;
out:
	pl_buf_free(&line);
	pl_result_free(&res);
	pl_wake_close(w);
	pl_store_close(st);
	return rc;
}

static int cmd_token(struct pl_conf *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "user", 1, 0, 'u' }, { "ttl", 1, 0, 't' }, { "secret", 1, 0, 's' }, { "help", 0, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *user = NULL, *secret = c->secret;
	int64_t ttl = 3600;
	char tok[512];
	unsigned seen = 0;
	int o;

	while ((o = next_opt("token", argc, argv, ":h", opts)) != -1) {
		if (o > 0 && o != 'h' && twice(&seen, o))
			return bad_usage("token", "an option is given twice");
		switch (o) {
		case 'h': usage(stdout); return 0;
		case 'u': user = optarg; break;
		case 's': secret = optarg; break;
		case 't':
			if (pl_duration_parse(optarg, 1, &ttl) != PL_OK || ttl < 1) {
				fprintf(stderr, "pushlite: --ttl takes seconds or a duration such as 1h\n");
				return 2;
			}
			break;
		default: return 2;
		}
	}
	if (!user)
		return bad_usage("token", "--user U is needed");
	if (!pl_auth_user_valid(user)) {
		fprintf(stderr, "pushlite: token: --user must be 1-%d of A-Z a-z 0-9 . _ @ + -\n", PL_USER_MAX);
		return 2;
	}
	if (optind != argc)
		return bad_usage("token", "no arguments besides the options");
	if (!secret || !*secret) {
		/* The programs refuse an empty secret: its tokens could never be used. */
		fprintf(stderr, "pushlite: no secret: set 'secret =' in the configuration or pass --secret\n");
		return 1;
	}
	if (pl_auth_mint(secret, user, (int64_t)time(NULL) + ttl, tok, sizeof tok) != PL_OK) {
		fprintf(stderr, "pushlite: token: signing failed (libcrypto's HMAC-SHA256 is not available)\n");
		return 1;
	}
	puts(tok);
	return 0;
}

static int cmd_stats(struct pl_conf *c)
{
	struct pl_store *st;
	struct json_object *o;

	if (open_existing(c, &st))
		return 1;
	o = pl_admin_stats(c, st);
	pl_store_close(st);
	if (!o) {
		fprintf(stderr, "pushlite: cannot read the database %s\n", c->db_path);
		return 1;
	}
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return 0;
}

/* init and stats take nothing; --db after them is the usual slip. */
static int no_args(const char *cmd, const char *first)
{
	return bad_usage(cmd, first[0] == '-' ? "takes no options (--conf and --db go before the command)"
					      : "takes no arguments");
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "conf", 1, 0, 'c' }, { "db", 1, 0, 'd' }, { "help", 0, 0, 'h' }, { "version", 0, 0, 'V' },
		{ 0, 0, 0, 0 },
	};
	const char *conf = NULL, *db = NULL, *cmd;
	struct pl_conf c;
	char err[512];
	int o, rc;

	pl_log_init("pushlite");
	while ((o = next_opt(NULL, argc, argv, "+:c:d:h", opts)) != -1) {
		switch (o) {
		case 'c': conf = optarg; break;
		case 'd': db = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': puts("pushlite " PACKAGE_VERSION); return 0;
		default: return 2;
		}
	}
	if (optind >= argc)
		return bad_usage(NULL, "a COMMAND is needed: init, publish, tail, token or stats");
	/* COMMAND --help needs no config, not even a good one. */
	for (int i = optind + 1; i < argc && argv[i][0] == '-' && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
	/* The config's warnings (a short token) are the web programs' to
	 * give: here they would make every command's stderr, and a usage
	 * mistake's one line, several. */
	pl_log_set_level(PL_LOG_ERR);
	cmd = argv[optind];
	if ((conf ? pl_conf_load(&c, conf, err, sizeof err) : pl_conf_load_env(&c, err, sizeof err)) != PL_OK) {
		/* With --db, init, stats and tail need nothing else from a
		 * config (one this user may not read, as pushlite-purge); publish
		 * takes its limits and token its secret from it. */
		if (!db || (strcmp(cmd, "init") && strcmp(cmd, "stats") && strcmp(cmd, "tail"))) {
			fprintf(stderr, "pushlite: %s\n", err);
			pl_conf_free(&c);
			return 2;
		}
		pl_conf_free(&c);
		pl_conf_defaults(&c);
	}
	pl_log_set_level(PL_LOG_INFO);
	if (db) {
		free(c.db_path);
		c.db_path = pl_xstrdup(db);
	}
	/* Each command parses its own options from here. */
	argc -= optind;
	argv += optind;
	/* 0, not 1: glibc starts afresh only then, and would otherwise keep
	 * the "+" of the options above (stop at the first word), so that
	 * "tail /t --since all" took --since for a topic. */
	optind = 0;
	if (!strcmp(cmd, "init"))
		rc = argc == 1 ? cmd_init(&c) : no_args("init", argv[1]);
	else if (!strcmp(cmd, "publish"))
		rc = cmd_publish(&c, argc, argv);
	else if (!strcmp(cmd, "tail"))
		rc = cmd_tail(&c, argc, argv);
	else if (!strcmp(cmd, "token"))
		rc = cmd_token(&c, argc, argv);
	else if (!strcmp(cmd, "stats"))
		rc = argc == 1 ? cmd_stats(&c) : no_args("stats", argv[1]);
	else {
		char what[160];

		snprintf(what, sizeof what, "unknown command %.64s (init, publish, tail, token or stats)", cmd);
		rc = bad_usage(NULL, what);
	}
	pl_conf_free(&c);
	return rc;
}

int main(int argc, char **argv)
{
	int rc = run(argc, argv);

	/* stdout on a full disk or closed: the token or the id written there
	 * is lost, and the script that ran this must not take it for done. */
	if ((fflush(stdout) != 0 || ferror(stdout)) && rc == 0) {
		fprintf(stderr, "pushlite: writing the output: %s\n", strerror(errno ? errno : EIO));
		rc = 1;
	}
	return rc;
}
