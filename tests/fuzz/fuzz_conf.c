/* fuzz_conf.c: libFuzzer target for the configuration file
 *
 * The input is the file (an in-memory file, read by path like any other).
 * A refused file gives a reason naming the file; an accepted one holds
 * values inside their documented ranges. */
#define _GNU_SOURCE
#include "pl_first.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pl_conf.h"
#include "pl_log.h"
#include "pl_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	struct pl_conf c;
	char err[512];
	int rc;

	if (fd < 0) {
		pl_log_set_level(PL_LOG_ERR);   /* the warnings of short secrets */
		fd = memfd_create("pushlite-fuzz.conf", 0);
		if (fd < 0)
			abort();
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	err[0] = '\0';
	rc = pl_conf_load(&c, path, err, sizeof err);
	if (rc != PL_OK) {
		if (rc != PL_ECONF || strncmp(err, path, strlen(path)))
			abort();
	} else {
		if (!c.db_path || !*c.db_path || c.max_body < 1 || c.default_ttl < 1 || c.default_ttl > c.max_ttl ||
		    c.longpoll_timeout > c.longpoll_max_timeout || c.heartbeat < 1 || c.max_topics < 1)
			abort();
		/* A short secret or token loads (with a warning); an empty one
		 * never does. */
		if (c.secret && !*c.secret)
			abort();
		for (size_t i = 0; i < c.ntokens; i++)
			if (!c.tokens[i].secret || !*c.tokens[i].secret || strlen(c.tokens[i].secret) > 256 ||
			    c.tokens[i].nprefixes > PL_MAX_PREFIXES)
				abort();
	}
	pl_conf_free(&c);
	return 0;
}
