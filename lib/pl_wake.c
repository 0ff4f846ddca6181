/* pl_wake.c: wake waiting longpoll and stream requests on commit
 *
 * One inotify watch on the directory holding the database, not on the files:
 * the WAL is unlinked when the last connection closes and created again by the
 * next writer, and a watch on the file would die with it. Events are filtered
 * on the two names that matter (DB, DB-wal).
 *
 * The signal of a commit is the writer's pl_wake_touch() on the database file
 * (IN_ATTRIB), made once the commit is visible. IN_MODIFY is left out of the
 * mask on purpose: SQLite writes each WAL frame with two write()s, a dozen per
 * one-message commit, and each of them would queue an event and wake every
 * watching process before the commit can even be read (measured: a fifth of a
 * publish's CPU time, with two idle watchers). IN_CLOSE_WRITE is left out too:
 * every reader closing its read-write connection would wake all waiters. A row
 * written by a program other than pushlite's is found by the caller's
 * fallback timer. */
#include "pl_first.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "pl_log.h"
#include "pl_wake.h"

struct pl_wake {
	int fd;                 /* inotify descriptor, -1 timer-only */
	int wd;                 /* watch on the directory, -1 while it is gone */
	int lost_said;          /* the watch's loss was logged */
	char *dir;              /* directory of the database */
	char *db;               /* base name of the database */
	char *wal;              /* base name of the WAL */
	char *path;             /* the database file, for pl_wake_changed() */
	struct timespec seen;   /* its last ctime seen there */
};

#define WAKE_MASK (IN_ATTRIB | IN_CREATE | IN_MOVED_TO | IN_DELETE | \
		   IN_DELETE_SELF | IN_MOVE_SELF)

/* Split db_path into directory and base name. */
static int split(struct pl_wake *w, const char *db_path)
{
	const char *slash = strrchr(db_path, '/');
	size_t n = strlen(db_path);
	char wal[NAME_MAX + 1];
	int k;

	if (n == 0 || n >= PATH_MAX || db_path[n - 1] == '/')
		return -1;
	if (!slash) {
		w->dir = pl_xstrdup(".");
		w->db = pl_xstrdup(db_path);
	} else {
		w->dir = slash == db_path ? pl_xstrdup("/") : pl_xstrndup(db_path, (size_t)(slash - db_path));
		w->db = pl_xstrdup(slash + 1);
	}
	k = snprintf(wal, sizeof wal, "%s-wal", w->db);
	if (k < 0 || (size_t)k >= sizeof wal)
		return -1;
	w->wal = pl_xstrdup(wal);
	w->path = pl_xstrdup(db_path);
	return 0;
}

/* Watch the directory again after it was removed or replaced; quiet while
 * it is still missing. */
static void rewatch(struct pl_wake *w)
{
	w->wd = inotify_add_watch(w->fd, w->dir, WAKE_MASK);
	if (w->wd >= 0 && w->lost_said) {
		pl_log_info("wake: watching %s again", w->dir);
		w->lost_said = 0;
	} else if (w->wd < 0 && !w->lost_said) {
		pl_log_warn("wake: the watch on %s is gone (%s); looking at the database instead until it is back",
			    w->dir, strerror(errno));
		w->lost_said = 1;
	}
}

int pl_wake_watching(const struct pl_wake *w)
{
	return w && w->fd >= 0 && w->wd >= 0;
}

int pl_wake_changed(struct pl_wake *w)
{
	struct stat sb;
	int changed;

	if (w && w->fd >= 0 && w->wd < 0)
		rewatch(w);
	/* pl_wake_touch() sets the file's times: its ctime moves with every
	 * commit, whatever inotify can do. */
	if (!w || stat(w->path, &sb) != 0)
		return 0;
	changed = sb.st_ctim.tv_sec != w->seen.tv_sec || sb.st_ctim.tv_nsec != w->seen.tv_nsec;
	w->seen = sb.st_ctim;
	return changed;
}

int pl_wake_open(struct pl_wake **wp, const char *db_path)
{
	struct pl_wake *w = pl_xcalloc(1, sizeof *w);
	int rc = -1;

	w->fd = w->wd = -1;
	if (split(w, db_path)) {
		pl_log_err("wake: database path unusable: %s", db_path);
		goto out;
	}
	pl_wake_changed(w);     /* the time to compare with from now on */
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		pl_log_warn("wake: inotify_init1: %s; falling back to the timer", strerror(errno));
	} else {
		w->wd = inotify_add_watch(w->fd, w->dir, WAKE_MASK);
		if (w->wd < 0) {
			pl_log_warn("wake: inotify watch on %s: %s; falling back to the timer",
				    w->dir, strerror(errno));
			close(w->fd);
			w->fd = -1;
		}
	}
	rc = 0;
out:
	if (rc) {
		pl_wake_close(w);
		w = NULL;
	}
	*wp = w;
	return rc;
}

int pl_wake_fd(const struct pl_wake *w)
{
	return w ? w->fd : -1;
}

/* What one event says of the database: 0 nothing, PL_WAKE_COMMIT a
 * pushlite commit (the touch, made once the commit is visible), PL_WAKE_SOON
 * anything else that may change what a reader sees. */
static int relevant(const struct pl_wake *w, const struct inotify_event *ev)
{
	if (ev->mask & (IN_Q_OVERFLOW | IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF))
		return PL_WAKE_SOON;   /* events lost, or the watch is gone */
	if (ev->len == 0)
		return 0;
	if (strcmp(ev->name, w->db) == 0)
		return ev->mask == IN_ATTRIB ? PL_WAKE_COMMIT : PL_WAKE_SOON;
	/* The WAL matters when it comes or goes. Its IN_ATTRIB is no commit:
	 * SQLite running as root fchown()s the WAL on every open. */
	return strcmp(ev->name, w->wal) == 0 && !(ev->mask & IN_ATTRIB) ? PL_WAKE_SOON : 0;
}

int pl_wake_read(struct pl_wake *w)
{
	/* Aligned for struct inotify_event, as inotify(7) asks. */
	alignas(struct inotify_event) char buf[8192];
	int changed = 0;

	if (!w || w->fd < 0)
		return 0;
	for (;;) {
		ssize_t n = read(w->fd, buf, sizeof buf);
		size_t off = 0;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				pl_log_warn("wake: read inotify: %s", strerror(errno));
			break;
		}
		if (n == 0)
			break;
		while ((size_t)n - off >= sizeof(struct inotify_event)) {
			const struct inotify_event *ev = (const struct inotify_event *)(buf + off);

			if (ev->len > (size_t)n - off - sizeof *ev)
				break;   /* cannot happen per inotify(7); never read past the buffer */
			changed |= relevant(w, ev);
			/* The directory was renamed away: the watch follows it,
			 * and would never see the commits of the database that
			 * is now at the path. Drop it and watch the path. */
			if ((ev->mask & IN_MOVE_SELF) && ev->wd == w->wd) {
				inotify_rm_watch(w->fd, w->wd);
				w->wd = -1;
				rewatch(w);
			}
			/* The directory went away or was replaced: watch again,
			 * if it is back; else pl_wake_changed() tries again. */
			if ((ev->mask & IN_IGNORED) && (ev->wd == w->wd || w->wd < 0))
				rewatch(w);
			off += sizeof *ev + ev->len;
		}
	}
	return changed;
}

int pl_wake_wait(struct pl_wake *w, int timeout_ms)
{
	struct timespec t0, t;
	int left = timeout_ms;

	if (!w || w->fd < 0) {
		struct timespec ts = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = { .fd = w->fd, .events = POLLIN };
		int r = poll(&pfd, 1, left);

		if (r > 0 && pl_wake_read(w))
			return 1;
		if (r < 0 && errno != EINTR)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = timeout_ms - (int)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			return 0;
	}
}

void pl_wake_close(struct pl_wake *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	free(w->dir);
	free(w->db);
	free(w->wal);
	free(w->path);
	free(w);
}

int pl_wake_touch(const char *db_path)
{
	return utimensat(AT_FDCWD, db_path, NULL, 0);
}
