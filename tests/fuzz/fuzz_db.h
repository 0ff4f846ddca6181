/* fuzz_db.h: the configuration of a fuzz target that goes through a store:
 * its database in a directory of its own under TMPDIR (tests/fuzz/run makes
 * one per run and removes it), defaults otherwise, bodies up to 64 KiB. */
#ifndef FUZZ_DB_H
#define FUZZ_DB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_conf.h"
#include "pl_log.h"

static void fuzz_db_conf(struct pl_conf *conf, const char *target)
{
	const char *tmp = getenv("TMPDIR");
	char dir[256], path[300];

	pl_log_set_level(PL_LOG_ERR);
	snprintf(dir, sizeof dir, "%s/pl-fuzz-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", target);
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof path, "%s/p.db", dir);
	pl_conf_defaults(conf);
	free(conf->db_path);
	conf->db_path = strdup(path);
	conf->max_body = 65536;
}

#endif
