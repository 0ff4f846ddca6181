/* pushlite-purge.c: run by cron: delete timed-out rows and rows over the
 * retention caps, in short batches, then checkpoint the WAL. Silent on
 * success with --quiet, so cron mails only errors. */
#include "pl_first.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_conf.h"
#include "pl_log.h"
#include "pl_store.h"
#include "pl_util.h"

static void usage(FILE *f)
{
	/* Each option spelled out: an operator writing a cron line reads this,
	 * not docs/protocol.md, and "--max-rows 0" reads as "no cap" to many
	 * (it empties the table). */
	fputs("usage: pushlite-purge [--conf FILE] [--db PATH] [--dry-run] [--max-rows N] [--max-age DUR] [--quiet]\n"
	      "Deletes expired messages (and, with the caps, the oldest beyond them).\n"
	      "  --conf FILE     the configuration (else $PUSHLITE_CONF, else /etc/pushlite.conf)\n"
	      "  --db PATH       the database (else the configuration's; with it, a bad configuration does not matter)\n"
	      "  --dry-run       count what would be deleted, delete nothing\n"
	      "  --max-rows N    keep only the newest N messages (0 deletes every message)\n"
	      "  --max-age DUR   delete messages older than DUR (90, 30m, 12h, 7d)\n"
	      "  --quiet         print nothing on success (cron then mails only failures)\n"
	      "  --version       print the version\n"
	      "Exit status 0 on success; 1 when the work failed, 2 for a bad option: one line on stderr.\n", f);
}

/* What was printed could not be written (stdout on a full disk, closed):
 * a failure, as cron should hear of it. */
static int finish(int rc)
{
	if ((fflush(stdout) != 0 || ferror(stdout)) && rc == 0) {
		fprintf(stderr, "pushlite-purge: writing the output: %s\n", strerror(errno ? errno : EIO));
		return 1;
	}
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", 1, 0, 'd' }, { "dry-run", 0, 0, 'n' }, { "max-rows", 1, 0, 'r' }, { "max-age", 1, 0, 'a' },
		{ "quiet", 0, 0, 'q' }, { "conf", 1, 0, 'c' }, { "help", 0, 0, 'h' }, { "version", 0, 0, 'V' },
		{ 0, 0, 0, 0 },
	};
	struct pl_purge p = { .max_rows = -1, .max_age = -1, .batch = 200 };
	struct pl_purge_result r;
	struct pl_store *st = NULL;
	struct pl_conf c;
	const char *db = NULL, *conf = NULL;
	char err[512];
	int o, quiet = 0, rc;

	pl_log_init("pushlite-purge");
	opterr = 0;     /* our own one-line reasons, for cron mail */
	while ((o = getopt_long(argc, argv, ":d:nr:a:qc:h", opts, NULL)) != -1) {
		switch (o) {
		case 'd':
			if (!*optarg) {
				fprintf(stderr, "pushlite-purge: --db takes the database's path\n");
				return 2;
			}
			db = optarg;
			break;
		case 'c': conf = optarg; break;
		case 'n': p.dry_run = 1; break;
		case 'q': quiet = 1; break;
		case 'r':
			if (pl_int_parse(optarg, 0, INT64_MAX, &p.max_rows) != PL_OK) {
				fprintf(stderr, "pushlite-purge: --max-rows takes a whole number\n");
				return 2;
			}
			break;
		case 'a':
			if (pl_duration_parse(optarg, 1, &p.max_age) != PL_OK) {
				fprintf(stderr, "pushlite-purge: --max-age takes a duration such as 90, 30m, 12h, 7d\n");
				return 2;
			}
			break;
		case 'h': usage(stdout); return finish(0);
		case 'V': puts("pushlite-purge " PACKAGE_VERSION); return finish(0);
		case ':':
			fprintf(stderr, "pushlite-purge: %s needs a value (see --help)\n", argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "pushlite-purge: bad option %s (see --help)\n", argv[optind - 1]);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "pushlite-purge: unexpected argument %s (see --help)\n", argv[optind]);
		return 2;
	}
	/* The config's warnings (a short token) are the web programs' to
	 * give: here they would make a failure's reason more than one line,
	 * and cron would mail them every night. */
	pl_log_set_level(PL_LOG_ERR);
	if ((conf ? pl_conf_load(&c, conf, err, sizeof err) : pl_conf_load_env(&c, err, sizeof err)) != PL_OK) {
		/* --db alone is enough: a bad or missing config then does not matter. */
		if (!db) {
			fprintf(stderr, "pushlite-purge: %s\n", err);
			pl_conf_free(&c);
			return 1;
		}
		pl_conf_free(&c);
		pl_conf_defaults(&c);
	}
	if (db) {
		free(c.db_path);
		c.db_path = pl_xstrdup(db);
	}
	/* Opening creates a missing database, which is right for the web
	 * programs but would hide a typo in a cron line: every night a new,
	 * empty file would be purged "successfully". */
	if (!c.db_path || !*c.db_path) {
		fprintf(stderr, "pushlite-purge: no database path (give --db PATH or set database = in the config)\n");
		pl_conf_free(&c);
		return 1;
	}
	/* Cron mails what we print: one line of our own per failure, so the
	 * library's log lines are off. */
	pl_log_set_level(PL_LOG_NONE);
	if (pl_store_open_existing(&st, &c) != PL_OK) {
		fprintf(stderr, "pushlite-purge: cannot open the database %s: %s\n", c.db_path, pl_store_open_error());
		pl_conf_free(&c);
		return 1;
	}
	p.now_ms = pl_now_ms();
	rc = pl_store_purge(st, &p, &r);
	if (rc != PL_OK) {
		fprintf(stderr, "pushlite-purge: purging %s failed: %s\n", c.db_path, pl_store_errmsg(st));
		pl_store_close(st);
		pl_conf_free(&c);
		return 1;
	}
	pl_store_close(st);
	if (!quiet)
		printf("%s %lld expired, %lld over max-age, %lld over max-rows\n", p.dry_run ? "would delete" : "deleted",
		       (long long)r.expired, (long long)r.over_age, (long long)r.over_rows);
	pl_conf_free(&c);
	return finish(0);
}
