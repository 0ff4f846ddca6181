/* pl_waiting.c: cross-process count of waiting subscribers
 *
 * Liveness comes from flock(), not from kill(pid, 0): a lock dies with its
 * process, so a recycled pid can never keep a dead count alive, and the reader
 * needs no permission to signal the writers. A writer creates its file under a
 * temporary name, locks it, and only then renames it to its pid, so a reader
 * never finds an unlocked file that is still being born. The count is written
 * with pwrite() at offset 0 in a fixed width, so no truncate is needed; the
 * store query count follows on a second line of fixed width, so a reader of
 * the first WIDTH bytes sees the same as before it existed.
 *
 * The text is rate-limited: a burst of requests across processes would each
 * read the others' counts up to PL_WAITING_INTERVAL_MS old, and together let
 * in far more than the cap. So the file also holds the exact count as an
 * atomic int at LIVE_OFF, stored on every change through a shared mapping,
 * and a waiting process keeps the other processes' files mapped: the sum it
 * checks a request against is current, and only the list of processes is
 * read from the directory (again when the directory changed, or after the
 * interval, which also finds the dead). */
#include "pl_first.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pl_log.h"
#include "pl_util.h"
#include "pl_waiting.h"

#define WIDTH 12   /* "%11d\n": any int fits */
#define QWIDTH 21  /* "%20lld\n": the store query count */
#define MAP_BYTES 4096
#define LIVE_OFF 64        /* the exact count: an atomic int after the text */
#define PEERS_MAX 4096     /* processes mapped; past that, others go uncounted */

/* This process's counter: one per process by design (see the header). */
static struct {
	int fd;                 /* our file, -1 when not open */
	pid_t pid;              /* owner: a forked child must not write the parent's file */
	char path[PATH_MAX];
	char db[PATH_MAX];      /* the database it counts for */
	int written, pending;   /* last value written, last value recorded */
	long long queries, queries_written;   /* store queries: counted, last written */
	long long last_ms;      /* time of the last write */
	_Atomic int *live;      /* the exact count in the shared mapping, or NULL */
} wt = { .fd = -1 };

/* The other processes' files, as this process last listed them. */
struct peer {
	long pid;
	int fd;                 /* read-only; its lock probe tells a dead writer */
	unsigned gen;           /* the listing that last found it alive */
	_Atomic int *live;      /* mapped count, or NULL: read the text */
};
static struct {
	struct peer *v;
	size_t n, cap;
	char dir[PATH_MAX];     /* of the database these are for */
	struct timespec mtime;  /* the directory's when last listed */
	long long listed_ms;
	int warned;             /* the directory could not be read: said once */
} pe;

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
	wt.last_ms = pl_mono_ms();
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
	snprintf(wt.db, sizeof wt.db, "%s", db_path);
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
	op = "ftruncate";
	if (ftruncate(fd, MAP_BYTES) < 0)
		goto fail;
	{
		void *m = mmap(NULL, MAP_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

		/* Unmapped, the count is still written as text; a file of the
		 * text's length tells readers to read that. */
		wt.live = m == MAP_FAILED ? NULL : (_Atomic int *)((char *)m + LIVE_OFF);
		if (wt.live)
			atomic_store(wt.live, 0);
		else if (ftruncate(fd, WIDTH + QWIDTH) < 0)
			goto fail;
	}
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
		if (wt.live)
			munmap((char *)wt.live - LIVE_OFF, MAP_BYTES);
		wt.live = NULL;
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
	if (wt.live)
		atomic_store(wt.live, count);
	wt.pending = count;
	if (stale() && pl_mono_ms() - wt.last_ms >= PL_WAITING_INTERVAL_MS)
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
	left = wt.last_ms + PL_WAITING_INTERVAL_MS - pl_mono_ms();
	return left < 0 ? 0 : (int)left;
}

/* The pid a file is named by, or -1 for any other name. */
static long name_pid(const char *s)
{
	int64_t v;

	if (!*s || strspn(s, "0123456789") != strlen(s) || pl_int_parse(s, 1, INT_MAX, &v) != PL_OK)
		return -1;
	return (long)v;
}

/* Count in the file name of a live process, or -1 (dead: removed, or
 * unreadable): the exact one from the shared mapping, so that the admin's
 * stats agree with the cap (the text is up to PL_WAITING_INTERVAL_MS old:
 * a request refused at the cap would still show as waiting); the text for a
 * file without one. */
static long read_one(int dfd, const char *name)
{
	char b[WIDTH + 1];
	long v = -1;
	ssize_t n;
	char *end;
	struct stat sb;
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
	if (fstat(fd, &sb) == 0 && sb.st_size >= MAP_BYTES) {
		void *m = mmap(NULL, MAP_BYTES, PROT_READ, MAP_SHARED, fd, 0);

		if (m != MAP_FAILED) {
			v = atomic_load((_Atomic int *)((char *)m + LIVE_OFF));
			munmap(m, MAP_BYTES);
			if (v < 0)
				v = -1;
			goto out;
		}
	}
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

		long pid;

		if (strncmp(s, ".tmp.", 5) == 0) {
			s += 5;
			/* Between its open and its flock a live writer's file is
			 * unlocked: remove it only when that process is gone. */
			if ((pid = name_pid(s)) < 0 || !(kill((pid_t)pid, 0) < 0 && errno == ESRCH))
				continue;
		}
		if ((pid = name_pid(s)) < 0)
			continue;
		if (s == e->d_name && self > 0 && pid == self)
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

static void peer_drop(size_t i)
{
	if (pe.v[i].live)
		munmap((char *)pe.v[i].live - LIVE_OFF, MAP_BYTES);
	close(pe.v[i].fd);
	pe.v[i] = pe.v[--pe.n];
}

static void peers_clear(void)
{
	while (pe.n)
		peer_drop(pe.n - 1);
}

/* Map the file of a live process (listed as of gen); nothing when it is
 * dead or unreadable. */
static void peer_add(int dfd, const char *name, long pid, unsigned gen)
{
	struct peer p = { .pid = pid, .gen = gen };
	struct stat sb;

	if (pe.n == pe.cap) {
		if (pe.cap >= PEERS_MAX)
			return;
		pe.cap = pe.cap ? pe.cap * 2 : 16;
		pe.v = pl_xrealloc(pe.v, pe.cap * sizeof *pe.v);
	}
	p.fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (p.fd < 0)
		return;
	if (flock(p.fd, LOCK_SH | LOCK_NB) == 0) {
		unlinkat(dfd, name, 0);   /* nobody holds it: its process is gone */
		close(p.fd);
		return;
	}
	if (fstat(p.fd, &sb) == 0 && sb.st_size >= MAP_BYTES) {
		void *m = mmap(NULL, MAP_BYTES, PROT_READ, MAP_SHARED, p.fd, 0);

		if (m != MAP_FAILED)
			p.live = (_Atomic int *)((char *)m + LIVE_OFF);
	}
	pe.v[pe.n++] = p;
}

static int same_file(int dfd, const char *name, int fd)
{
	struct stat a, b;

	return fstatat(dfd, name, &a, AT_SYMLINK_NOFOLLOW) == 0 && fstat(fd, &b) == 0 &&
	       a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/* This process's file again, in a directory made anew, holding the
 * count it had: its old file went with the removed directory. */
static void reregister(void)
{
	int count = wt.pending;
	char db[PATH_MAX];

	if (wt.fd < 0 || wt.pid != getpid())
		return;
	snprintf(db, sizeof db, "%s", wt.db);
	unlink(wt.path);        /* gone with the directory, or a stray left */
	if (wt.live)
		munmap((char *)wt.live - LIVE_OFF, MAP_BYTES);
	wt.live = NULL;
	close(wt.fd);
	wt.fd = -1;
	if (pl_waiting_open(db) == 0)
		pl_waiting_set(count);
	if (wt.fd >= 0)
		write_count(count);
}

/* List the directory again: new processes mapped, dead and gone ones
 * dropped (a dead writer's lock is free: its file is removed). */
static int peers_list(const char *dir)
{
	static unsigned gen;
	long self = wt.fd >= 0 && wt.pid == getpid() ? (long)wt.pid : -1;
	DIR *d = opendir(dir);
	struct dirent *e;
	int found_self = 0;

	if (!d)
		return -1;
	gen++;
	while ((e = readdir(d))) {
		const char *s = e->d_name;
		long pid;
		size_t i;

		pid = name_pid(s);
		if (pid >= 0 && pid == self)
			found_self = 1;
		if (pid < 0 || pid == self)
			continue;
		for (i = 0; i < pe.n && pe.v[i].pid != pid; i++)
			;
		/* The same file, its writer alive: keep it. Anything else (its
		 * writer died; a new process with the same pid made a new file)
		 * is looked at afresh: the lock of the file under that name now
		 * decides, never the old descriptor's. */
		if (i < pe.n && same_file(dirfd(d), s, pe.v[i].fd) &&
		    flock(pe.v[i].fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
			pe.v[i].gen = gen;
			continue;
		}
		if (i < pe.n)
			peer_drop(i);
		peer_add(dirfd(d), s, pid, gen);
	}
	closedir(d);
	for (size_t i = pe.n; i-- > 0; )
		if (pe.v[i].gen != gen)
			peer_drop(i);   /* the last one moves here: already looked at */
	/* The directory was removed and made again by another process: our
	 * file went with the old one. */
	if (self >= 0 && !found_self)
		reregister();
	return 0;
}

static long peer_count(const struct peer *p)
{
	char b[WIDTH + 1];
	ssize_t n;
	long v;

	if (p->live)
		return atomic_load(p->live);
	n = pread(p->fd, b, WIDTH, 0);
	if (n <= 0)
		return 0;
	b[n] = '\0';
	v = strtol(b, NULL, 10);
	return v > 0 ? v : 0;
}

long pl_waiting_others(const char *db_path)
{
	char dir[PATH_MAX];
	struct stat sb;
	long long now = pl_mono_ms();
	long sum = 0;

	if (dir_of(dir, sizeof dir, db_path))
		return -1;
	if (strcmp(dir, pe.dir)) {
		peers_clear();
		snprintf(pe.dir, sizeof pe.dir, "%s", dir);
		pe.listed_ms = 0;
	}
	if (stat(dir, &sb) < 0) {
		peers_clear();
		if (errno != ENOENT)
			return -1;
		/* Removed (an operator's "rm -rf pushlite.db*" as the database
		 * was recreated): every process would count only itself from
		 * now on, stats would show no one waiting and max_waiting would
		 * hold per process. The first to notice makes it again, each
		 * its own file in it, with the count it holds. */
		reregister();
		return 0;
	}
	/* A process that came or went changed the directory; the interval
	 * also finds writers that died without removing their file. */
	if (!pe.listed_ms || now - pe.listed_ms >= PL_WAITING_INTERVAL_MS ||
	    sb.st_mtim.tv_sec != pe.mtime.tv_sec || sb.st_mtim.tv_nsec != pe.mtime.tv_nsec) {
		/* Unreadable: the processes listed last time still count, and
		 * the next try is an interval away (one line in the log). */
		if (peers_list(dir) < 0 && !pe.warned) {
			pl_log_warn("waiting: opendir %s: %s", dir, strerror(errno));
			pe.warned = 1;
		}
		pe.mtime = sb.st_mtim;
		pe.listed_ms = now;
	}
	for (size_t i = 0; i < pe.n; i++)
		sum += peer_count(&pe.v[i]);
	return sum;
}

void pl_waiting_close(void)
{
	peers_clear();
	if (wt.fd < 0)
		return;
	if (wt.pid == getpid())
		unlink(wt.path);
	if (wt.live)
		munmap((char *)wt.live - LIVE_OFF, MAP_BYTES);
	wt.live = NULL;
	close(wt.fd);
	wt.fd = -1;
}
