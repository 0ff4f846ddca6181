/* pl_waiting.c: cross-process count of waiting subscribers
 *
 * Liveness comes from flock(), not from kill(pid, 0): a lock dies with its
 * process, so a recycled pid can never keep a dead count alive, and the reader
 * needs no permission to signal the writers. A writer creates its file under a
 * temporary name, locks it, and only then renames it to its pid, so a reader
 * never finds an unlocked file that is still being born. The count is written
 * with pwrite() at offset 0 in a fixed width, so no truncate is needed; the
 * store query count follows on a second line of fixed width, so a reader of
 * the first WIDTH bytes sees the same as before it existed. */
#include "pl_first.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pl_log.h"
#include "pl_waiting.h"

#define WIDTH 12   /* "%11d\n": any int fits */
#define QWIDTH 21  /* "%20lld\n": the store query count */

/* This process's counter: one per process by design (see the header). */
static struct {
	int fd;                 /* our file, -1 when not open */
	pid_t pid;              /* owner: a forked child must not write the parent's file */
	char path[PATH_MAX];
	int written, pending;   /* last value written, last value recorded */
	long long queries, queries_written;   /* store queries: counted, last written */
	long long last_ms;      /* time of the last write */
} wt = { .fd = -1 };

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dir_of(char *dst, size_t cap, const char *db_path)
{
	int n = snprintf(dst, cap, "%s.waiting", db_path);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static void write_count(int count)
{
	char b[WIDTH + QWIDTH + 1];

	snprintf(b, sizeof b, "%11d\n%20lld\n", count, wt.queries);
	if (pwrite(wt.fd, b, WIDTH + QWIDTH, 0) != WIDTH + QWIDTH)
		pl_log_warn("waiting: write %s: %s", wt.path, strerror(errno));
	wt.written = count;
	wt.queries_written = wt.queries;
	wt.last_ms = mono_ms();
}

/* Anything recorded that the file does not show yet? */
static int stale(void)
{
	return wt.pending != wt.written || wt.queries != wt.queries_written;
}

int pl_waiting_open(const char *db_path)
{
	char dir[PATH_MAX], tmp[PATH_MAX];
	const char *op = "path";
	int fd = -1, rc = -1, n, err = ENAMETOOLONG;

	if (wt.fd >= 0 && wt.pid == getpid())
		return 0;
	if (dir_of(dir, sizeof dir, db_path))
		goto out;
	n = snprintf(wt.path, sizeof wt.path, "%s/%ld", dir, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof wt.path)
		goto out;
	n = snprintf(tmp, sizeof tmp, "%s/.tmp.%ld", dir, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof tmp)
		goto out;
	op = "mkdir";
	if (mkdir(dir, 0770) < 0 && errno != EEXIST)
		goto fail;
	op = "open";
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0660);
	if (fd < 0)
		goto fail;
	op = "flock";
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		goto fail;
	wt.fd = fd;
	write_count(0);
	op = "rename";
	if (rename(tmp, wt.path) < 0)
		goto fail;
	wt.pid = getpid();
	wt.pending = 0;
	rc = 0;
	goto out;
fail:
	err = errno;
	unlink(tmp);
out:
	if (rc) {
		pl_log_err("waiting: %s %s: %s", op, dir, strerror(err));
		if (fd >= 0)
			close(fd);
		wt.fd = -1;
	}
	return rc;
}

void pl_waiting_set(int count)
{
	if (wt.fd < 0 || wt.pid != getpid())
		return;
	wt.pending = count;
	if (stale() && mono_ms() - wt.last_ms >= PL_WAITING_INTERVAL_MS)
		write_count(count);
}

void pl_waiting_queries(long n)
{
	wt.queries += n;
}

int pl_waiting_due_ms(void)
{
	long long left;

	if (wt.fd < 0 || !stale())
		return -1;
	left = wt.last_ms + PL_WAITING_INTERVAL_MS - mono_ms();
	return left < 0 ? 0 : (int)left;
}

/* Count in the file name of a live process, or -1 (dead: removed, or unreadable). */
static long read_one(int dfd, const char *name)
{
	char b[WIDTH + 1];
	long v = -1;
	ssize_t n;
	char *end;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		/* Nobody holds it: its process is gone. */
		unlinkat(dfd, name, 0);
		goto out;
	}
	if (errno != EWOULDBLOCK)
		goto out;
	n = pread(fd, b, WIDTH, 0);
	if (n <= 0)
		goto out;
	b[n] = '\0';
	errno = 0;
	v = strtol(b, &end, 10);
	if (errno || end == b || v < 0)
		v = -1;
out:
	close(fd);
	return v;
}

static long total(const char *db_path, int others)
{
	long self = others && wt.fd >= 0 && wt.pid == getpid() ? (long)wt.pid : -1;
	char dir[PATH_MAX];
	DIR *d = NULL;
	struct dirent *e;
	long sum = -1;

	if (dir_of(dir, sizeof dir, db_path))
		goto out;
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			sum = 0;
		else
			pl_log_warn("waiting: opendir %s: %s", dir, strerror(errno));
		goto out;
	}
	sum = 0;
	while ((e = readdir(d))) {
		const char *s = e->d_name;
		long v;

		if (strncmp(s, ".tmp.", 5) == 0) {
			s += 5;
			/* Between its open and its flock a live writer's file is
			 * unlocked: remove it only when that process is gone. */
			if (!*s || strspn(s, "0123456789") != strlen(s) ||
			    !(kill((pid_t)atol(s), 0) < 0 && errno == ESRCH))
				continue;
		}
		if (!*s || strspn(s, "0123456789") != strlen(s))
			continue;
		if (s == e->d_name && self > 0 && atol(s) == self)
			continue;
		v = read_one(dirfd(d), e->d_name);
		if (v > 0 && s == e->d_name)
			sum += v;
	}
out:
	if (d)
		closedir(d);
	return sum;
}

long pl_waiting_total(const char *db_path)
{
	return total(db_path, 0);
}

long pl_waiting_others(const char *db_path)
{
	return total(db_path, 1);
}

void pl_waiting_close(void)
{
	if (wt.fd < 0)
		return;
	if (wt.pid == getpid())
		unlink(wt.path);
	close(wt.fd);
	wt.fd = -1;
}
