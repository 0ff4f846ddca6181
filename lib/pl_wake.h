/* pl_wake.h: learn within milliseconds that the database may have changed
 *
 * inotify on the database's directory, filtered on the database file and its
 * WAL: every pushlite commit ends with pl_wake_touch() on the database file
 * (IN_ATTRIB), and the WAL is deleted and re-created when the last connection
 * closes. Plain writes (IN_MODIFY) are not watched: they come a dozen per
 * commit, before the commit is visible. A wake is a hint, never a promise: the
 * reader re-reads its cursor. Where inotify is unavailable, or a program other
 * than pushlite's wrote, the caller's fallback timer is all there is. */
#ifndef PL_WAKE_H
#define PL_WAKE_H

struct pl_wake;

/* Start watching for changes of the database at db_path (its directory must
 * exist). *w is set in every case but a bad path; without inotify it is
 * timer-only (pl_wake_fd() == -1) and a warning is logged.
 * Returns 0, or -1 (and *w = NULL) when db_path is unusable (too long). */
int pl_wake_open(struct pl_wake **w, const char *db_path);

/* Descriptor to poll for input, or -1 when timer-only. */
int pl_wake_fd(const struct pl_wake *w);

/* 1 while inotify watches the database's directory; 0 when there is no
 * inotify, or the directory was removed and is not back (then
 * pl_wake_changed() stands in, and watches it again once it is). */
int pl_wake_watching(const struct pl_wake *w);

/* What pl_wake_read() saw, or'ed: a commit that readers already see
 * (PL_WAKE_COMMIT), or a change that may become visible only a moment later,
 * such as the WAL being created by a commit under way, the database being
 * replaced, or lost events (PL_WAKE_SOON: look now and again shortly). */
#define PL_WAKE_COMMIT 1
#define PL_WAKE_SOON 2

/* Drain pending events without blocking. Returns 0 when nothing concerns the
 * database, else PL_WAKE_COMMIT and/or PL_WAKE_SOON. */
int pl_wake_read(struct pl_wake *w);

/* Block until the database may have changed or timeout_ms (>= 0) passed.
 * Returns 1 on a change, 0 on timeout. Timer-only: sleeps timeout_ms, then
 * returns 1 (nothing is known, so the caller must look). */
int pl_wake_wait(struct pl_wake *w, int timeout_ms);

/* Stop watching and free w; NULL-safe. */
void pl_wake_close(struct pl_wake *w);

/* Without inotify (a user's instances used up: each mod_fcgid process
 * holds one): 1 when a commit touched the database since the last call, by
 * the file's ctime. A stat, cheap enough to ask a few times a second while
 * requests wait. */
int pl_wake_changed(struct pl_wake *w);

/* Writer side: after a COMMIT, mark the database file so that every waiter
 * wakes, after the commit is visible. This is the wake signal: a writer that
 * does not call it is only noticed by the waiters' fallback timer.
 * One utimensat() on db_path. Returns 0, or -1 with errno. */
int pl_wake_touch(const char *db_path);

#endif
