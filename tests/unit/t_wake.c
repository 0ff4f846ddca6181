/* t_wake.c: inotify wake on SQLite WAL commits, and the waiting counter
 *
 * A real database in WAL mode in a temporary directory: commits from another
 * process must wake within milliseconds; the WAL deleted and re-created must
 * still wake; unrelated files must not; a queue overflow counts as a change. */
#include "pl_wake.c"
#include "pl_waiting.c"

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include "tap.h"

static char dir[64], db[128];

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int exec(sqlite3 *h, const char *sql)
{
	return sqlite3_exec(h, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static sqlite3 *open_db(void)
{
	sqlite3 *h = NULL;

	if (sqlite3_open(db, &h) != SQLITE_OK)
		return NULL;
	sqlite3_busy_timeout(h, 2000);
	return h;
}

/* Commit one row from a child process, as a publisher would (touch: 1) or as
 * some other SQLite program would (touch: 0). */
static void commit_in_child_as(int delay_ms, int touch)
{
	pid_t pid = fork();

	if (pid == 0) {
		sqlite3 *h;
		struct timespec ts = { 0, (long)delay_ms * 1000000L };

		nanosleep(&ts, NULL);
		h = open_db();
		_exit(h && exec(h, "INSERT INTO m(v) VALUES('x')") == 0 && sqlite3_close(h) == SQLITE_OK &&
		      (!touch || pl_wake_touch(db) == 0) ? 0 : 1);
	}
}

static void commit_in_child(int delay_ms)
{
	commit_in_child_as(delay_ms, 1);
}

static int reap_child(void)
{
	int st = -1;

	if (wait(&st) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The kernel's inotify queue length, to overflow it on purpose. */
static int max_queued(void)
{
	FILE *f = fopen("/proc/sys/fs/inotify/max_queued_events", "r");
	int n = 16384;

	if (f) {
		if (fscanf(f, "%d", &n) != 1 || n <= 0 || n > 1000000)
			n = 16384;
		fclose(f);
	}
	return n;
}

static void test_wake(void)
{
	struct pl_wake *w = NULL;
	sqlite3 *h;
	int64_t t0, dt;
	int r, fd;

	h = open_db();
	ok(h && exec(h, "PRAGMA journal_mode=WAL; CREATE TABLE m(id INTEGER PRIMARY KEY, v TEXT)") == 0,
	   "database in WAL mode");
	ok(pl_wake_open(&w, db) == 0 && pl_wake_fd(w) >= 0, "inotify watch open");
	pl_wake_read(w);
	ok(pl_wake_read(w) == 0, "nothing new: 0, without blocking");

	t0 = now_ms();
	commit_in_child(50);
	r = pl_wake_wait(w, 3000);
	dt = now_ms() - t0 - 50;
	ok(r == 1 && dt < 500, "commit in another process wakes (%lld ms after the commit started)", (long long)dt);
	ok(reap_child() == 0, "child committed");
	while (pl_wake_wait(w, 50))
		;

	/* Without inotify, the database file's ctime tells a commit: changed
	 * once per touch, then not again. */
	ok(pl_wake_changed(w) == 1 && pl_wake_changed(w) == 0, "changed: the commits above seen once");
	pl_wake_touch(db);
	ok(pl_wake_changed(w) == 1, "changed: a touch (every commit's) is seen");
	ok(pl_wake_changed(w) == 0, "changed: and only once");
	while (pl_wake_wait(w, 50))
		;

	/* The WAL writes of a commit are not the signal (a dozen of them, all
	 * before the commit is visible): a program that writes without touching
	 * the database file is left to the caller's fallback timer. */
	commit_in_child_as(0, 0);
	ok(reap_child() == 0 && pl_wake_wait(w, 200) == 0,
	   "a commit without pl_wake_touch (WAL writes only) does not wake");

	fd = open(dir, O_RDONLY);
	{
		char other[160];
		int ofd;

		snprintf(other, sizeof other, "%s/unrelated.txt", dir);
		ofd = open(other, O_WRONLY | O_CREAT, 0600);
		ok(ofd >= 0 && write(ofd, "x", 1) == 1 && pl_wake_wait(w, 100) == 0,
		   "a write to another file in the directory does not wake");
		if (ofd >= 0)
			close(ofd);
	}
	if (fd >= 0)
		close(fd);

	/* The last connection closing checkpoints and deletes the WAL. */
	sqlite3_close(h);
	{
		char wal[160];

		snprintf(wal, sizeof wal, "%s-wal", db);
		ok(access(wal, F_OK) < 0, "WAL deleted when the last connection closed");
	}
	while (pl_wake_wait(w, 50))
		;
	t0 = now_ms();
	commit_in_child_as(0, 0);
	r = pl_wake_wait(w, 3000);
	ok(r == 1 && now_ms() - t0 < 1000, "commit re-creating the WAL wakes, even without the touch");
	ok(reap_child() == 0, "child committed again");
	while (pl_wake_wait(w, 50))
		;

	ok(pl_wake_touch(db) == 0 && pl_wake_wait(w, 1000) == 1, "pl_wake_touch wakes");
	while (pl_wake_wait(w, 50))
		;
	{
		struct pollfd pfd = { .fd = pl_wake_fd(w), .events = POLLIN };

		ok(pl_wake_touch(db) == 0 && poll(&pfd, 1, 1000) == 1 && pl_wake_read(w) == PL_WAKE_COMMIT,
		   "the touch alone reads as a visible commit (no second look needed)");
	}

	/* A synthetic overflow record, then a real one. */
	{
		struct inotify_event ev = { .wd = -1, .mask = IN_Q_OVERFLOW };

		ok(relevant(w, &ev) == PL_WAKE_SOON, "IN_Q_OVERFLOW counts as a change, to look at again soon");
	}
	{
		char wal[160];
		int a, b, i, n = 2 * max_queued() + 100;

		while (pl_wake_wait(w, 20))
			;
		snprintf(wal, sizeof wal, "%s/unrelated.txt", dir);
		a = open(wal, O_WRONLY);
		snprintf(wal, sizeof wal, "%s/unrelated2.txt", dir);
		b = open(wal, O_WRONLY | O_CREAT, 0600);
		/* Only unrelated names, alternating so inotify cannot merge the
		 * events: nothing but the overflow itself can say "changed". */
		for (i = 0; i < n && a >= 0 && b >= 0; i++)
			(void)!futimens(i % 2 ? a : b, NULL);
		if (a >= 0)
			close(a);
		if (b >= 0)
			close(b);
		ok(pl_wake_read(w) & PL_WAKE_SOON, "a burst past the inotify queue: changed");
		ok(pl_wake_read(w) == 0, "drained afterwards");
	}
	pl_wake_close(w);

	/* Timer-only (no inotify): waits the timeout, then says "look". */
	pl_wake_open(&w, db);
	close(w->fd);
	w->fd = -1;
	t0 = now_ms();
	ok(pl_wake_fd(w) == -1 && pl_wake_read(w) == 0 && pl_wake_wait(w, 100) == 1 && now_ms() - t0 >= 95,
	   "timer-only: read 0, wait sleeps then returns 1");
	pl_wake_close(w);
	pl_wake_close(NULL);
	ok(pl_wake_open(&w, "") == -1 && w == NULL, "empty path refused");
}

/* Make directory d with an empty file f in it: 0, or -1. */
static int dir_with_file(const char *d, const char *f)
{
	int fd = mkdir(d, 0700) == 0 ? open(f, O_WRONLY | O_CREAT, 0600) : -1;

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* The database's directory renamed away and a new one made at its path:
 * the watch follows the renamed directory, where no commit will come. */
static void test_wake_dir_renamed(void)
{
	struct pl_wake *w = NULL;
	char sub[128], old[140], file[160], oldfile[170];
	int made, r;

	snprintf(sub, sizeof sub, "%s/ren", dir);
	snprintf(old, sizeof old, "%s/ren.old", dir);
	snprintf(file, sizeof file, "%s/x.db", sub);
	snprintf(oldfile, sizeof oldfile, "%s/x.db", old);
	if (dir_with_file(sub, file) != 0) {
		ok(0, "directory renamed: set-up");
		return;
	}
	ok(pl_wake_open(&w, file) == 0 && pl_wake_watching(w), "directory renamed: watching at first");
	made = rename(sub, old) == 0 && dir_with_file(sub, file) == 0;
	while (pl_wake_wait(w, 100))
		;
	ok(made && pl_wake_watching(w), "renamed: the path is watched again");
	r = pl_wake_touch(file) == 0 ? pl_wake_wait(w, 1000) : -1;
	ok(r == 1, "a commit's touch in the new directory at the path wakes (%d)", r);
	while (pl_wake_wait(w, 50))
		;
	r = pl_wake_touch(oldfile) == 0 ? pl_wake_wait(w, 200) : -1;
	ok(r == 0, "a touch in the renamed directory does not (%d)", r);
	pl_wake_close(w);
	unlink(file);
	unlink(oldfile);
	rmdir(sub);
	rmdir(old);
}

/* The database's directory removed and made again (a restore, a
 * redeployment): the watch dies with it, the process looks at the file
 * instead meanwhile, and watches the new directory once it is there. */
static void test_wake_dir_replaced(void)
{
	struct pl_wake *w = NULL;
	char sub[128], file[160];
	int back;

	snprintf(sub, sizeof sub, "%s/sub", dir);
	snprintf(file, sizeof file, "%s/x.db", sub);
	if (dir_with_file(sub, file) != 0) {
		ok(0, "directory replaced: set-up");
		return;
	}
	ok(pl_wake_open(&w, file) == 0 && pl_wake_watching(w), "directory replaced: watching at first");
	unlink(file);
	rmdir(sub);
	ok(pl_wake_wait(w, 1000) == 1 && !pl_wake_watching(w), "directory removed: a change, and no watch left");
	ok(pl_wake_changed(w) == 0 && !pl_wake_watching(w), "while it is missing: nothing changed, still no watch");
	back = dir_with_file(sub, file) == 0;
	pl_wake_changed(w);
	ok(back && pl_wake_watching(w), "directory back: watched again at the next look");
	while (pl_wake_wait(w, 50))
		;
	ok(pl_wake_touch(file) == 0 && pl_wake_wait(w, 1000) == 1, "a commit's touch in the new directory wakes");
	pl_wake_close(w);
	unlink(file);
	rmdir(sub);
}

/* Fork a child that runs body(arg), says so, and waits to be killed; its
 * pid once body has run, or -1. */
static pid_t ready_child(void (*body)(const void *), const void *arg)
{
	int pfd[2];
	pid_t pid;
	char c;

	if (pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		body(arg);
		(void)!write(pfd[1], "r", 1);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	(void)!read(pfd[0], &c, 1);
	close(pfd[0]);
	return pid;
}

struct count_after { int n; const struct timespec *delay; };

static void publish_count(const void *arg)
{
	const struct count_after *ca = arg;

	if (pl_waiting_open(db) == 0) {
		if (ca->delay)
			nanosleep(ca->delay, NULL);
		pl_waiting_set(ca->n);
	}
}

/* A child that publishes count n (after *delay, when given: past the
 * text's rate limit). */
static pid_t waiting_child(int n, const struct timespec *delay)
{
	struct count_after ca = { n, delay };

	return ready_child(publish_count, &ca);
}

static void test_waiting(void)
{
	struct timespec ts = { 0, 120 * 1000000L };
	char path[200];
	int st;
	pid_t pid;

	ok(pl_waiting_total(db) == 0, "no directory yet: 0");
	ok(pl_waiting_open(db) == 0 && pl_waiting_open(db) == 0, "open (twice is fine)");
	snprintf(path, sizeof path, "%s.waiting/%ld", db, (long)getpid());
	ok(access(path, F_OK) == 0, "file named by pid");
	pl_waiting_set(5);
	ok(pl_waiting_due_ms() > 0 && pl_waiting_total(db) == 5,
	   "the text rate-limited (written later), the total exact at once: %ld", pl_waiting_total(db));
	nanosleep(&ts, NULL);
	pl_waiting_set(5);
	ok(pl_waiting_due_ms() == -1 && pl_waiting_total(db) == 5, "written after the interval");

	/* A live child with 3, then killed: its file goes. */
	if ((pid = waiting_child(3, &ts)) < 0)
		return;
	ok(pl_waiting_total(db) == 8, "two processes: 5 + 3");
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	snprintf(path, sizeof path, "%s.waiting/%ld", db, (long)pid);
	ok(pl_waiting_total(db) == 5 && access(path, F_OK) < 0, "dead process ignored and its file removed");
	pl_waiting_close();
	snprintf(path, sizeof path, "%s.waiting/%ld", db, (long)getpid());
	ok(access(path, F_OK) < 0 && pl_waiting_total(db) == 0, "close removes our file");
	pl_waiting_set(9);
	ok(pl_waiting_due_ms() == -1, "set after close does nothing");
}

/* The counts a waiting process checks a request against are the others'
 * exact ones, not their rate-limited text: a burst across processes
 * cannot pass the cap by reading stale counts. */
static void test_waiting_live(void)
{
	struct timespec ts = { 0, 150 * 1000000L };
	int cmd[2], ack[2], st;
	pid_t pid;
	char c;

	if (pipe(cmd) < 0 || pipe(ack) < 0)
		return;
	ok(pl_waiting_open(db) == 0, "live: open");
	pl_waiting_set(2);
	pid = fork();
	if (pid == 0) {
		close(cmd[1]);
		close(ack[0]);
		if (pl_waiting_open(db) != 0)
			_exit(1);
		while (read(cmd[0], &c, 1) == 1) {
			pl_waiting_set(c == 'a' ? 3 : 7);   /* within the interval: text not written */
			(void)!write(ack[1], "k", 1);
		}
		_exit(0);
	}
	close(cmd[0]);
	close(ack[1]);
	(void)!write(cmd[1], "a", 1);
	(void)!read(ack[0], &c, 1);
	ok(pl_waiting_others(db) == 3, "live: another process's count at once: %ld", pl_waiting_others(db));
	(void)!write(cmd[1], "b", 1);
	(void)!read(ack[0], &c, 1);
	ok(pl_waiting_others(db) == 7, "live: and its next one at once: %ld", pl_waiting_others(db));
	ok(pl_waiting_total(db) == 9, "admin stats: the exact counts too (2 + 7), not the text: %ld",
	   pl_waiting_total(db));
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	nanosleep(&ts, NULL);
	ok(pl_waiting_others(db) == 0, "live: a killed process no longer counts: %ld", pl_waiting_others(db));
	close(cmd[1]);
	close(ack[0]);
	pl_waiting_close();
}

/* What pl_waiting_open does, under the file name given (another
 * process's pid), with the count 7. */
static void impersonate(const void *arg)
{
	const char *name = arg;
	char tmp[220];
	int fd;
	void *m;

	snprintf(tmp, sizeof tmp, "%s.waiting/.tmp.x%ld", db, (long)getpid());
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0660);
	if (fd < 0 || flock(fd, LOCK_EX) < 0 || ftruncate(fd, MAP_BYTES) < 0)
		_exit(1);
	m = mmap(NULL, MAP_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		_exit(1);
	atomic_store((_Atomic int *)((char *)m + LIVE_OFF), 7);
	if (rename(tmp, name) < 0)
		_exit(1);
}

/* A pid used again: the file under a dead process's name is a new
 * process's, alive, and must count (not be removed as the dead one's). */
static void test_waiting_pid_reuse(void)
{
	struct timespec ts = { 0, 150 * 1000000L };
	char name[200];
	int st;
	pid_t first, second;

	if ((first = waiting_child(3, NULL)) < 0)
		return;
	ok(pl_waiting_others(db) == 3, "pid reused: the first process counts 3");
	kill(first, SIGKILL);   /* its file stays: it could not remove it */
	waitpid(first, &st, 0);
	snprintf(name, sizeof name, "%s.waiting/%ld", db, (long)first);
	if ((second = ready_child(impersonate, name)) < 0)
		return;
	nanosleep(&ts, NULL);   /* past the interval: the directory is listed again */
	ok(pl_waiting_others(db) == 7 && access(name, F_OK) == 0,
	   "pid reused: the new process's file counts (%ld) and stays", pl_waiting_others(db));
	kill(second, SIGKILL);
	waitpid(second, &st, 0);
	unlink(name);
	peers_clear();
}

static void cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	(void)!system(cmd);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof dir, "%s/pl_t_wake.XXXXXX", tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return tap_done();
	}
	snprintf(db, sizeof db, "%s/t.db", dir);
	test_wake();
	test_wake_dir_replaced();
	test_wake_dir_renamed();
	test_waiting();
	test_waiting_live();
	test_waiting_pid_reuse();
	cleanup();
	return tap_done();
}
