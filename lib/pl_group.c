/* pl_group.c: group commit, on one writer connection per process.
 *
 * A commit costs the same whether it carries one message or fifty, and with
 * synchronous=FULL it costs an fsync. So concurrent publishes in a process
 * queue here; the first thread to find no commit in progress becomes the
 * leader, takes the whole queue and commits it in one transaction, while the
 * others wait, each on a condition variable of its own, for their batch to be
 * done or for the lead to be handed to them (the head of what queued during
 * the commit). No thread sleeps on a timer, none wakes for nothing, and a
 * lone publish commits at once. (The publish program's event loop gathers
 * its groups itself, a turn of the loop at a time, and hands each to
 * pl_group_commit(); the queue serves threaded callers.)
 *
 * Every group goes through the same connection, so its page cache stays warm
 * (a connection re-reads pages another connection changed), and checkpoints
 * are moved off the publish path: the writer's commits only signal a
 * checkpoint thread, which copies the WAL back on its own connection.
 *
 * A copy that never waits cannot bound the WAL: SQLite starts the WAL over
 * only when a commit begins while everything is copied back, and under a
 * steady stream of commits that moment never comes (measured: 2.4 GB of WAL
 * after 20 s of publishing). Past WAL_RESTART_PAGES the leader itself
 * therefore runs a RESTART checkpoint after its commit: it waits for readers
 * of the old WAL, copies what the thread has not, and the next commit starts
 * the file over. It must be the leader: a checkpoint thread waiting for the
 * write lock polls for it, and back-to-back groups starve it (measured: the
 * WAL at 112 MB on a faster machine). Other processes' writers reach the same
 * threshold and wait the same way, so the WAL stops near it. */
#include "pl_first.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "pl_group.h"
#include "pl_log.h"
#include "pl_util.h"

#define GROUP_MAX 256           /* batches in one transaction */
/* Every commit asks the thread to copy; it copies at most a few times a
 * second (checkpoint_gap). SQLite's own threshold, 1,000 pages, left a
 * trickle of publishes in the WAL alone for hours: the database file
 * stays at most a fraction of a second behind, so that a copy of it alone,
 * or a -wal deleted by mistake, loses no more than that. */
#define CHECKPOINT_PAGES 0
#define WAL_RESTART_PAGES 8000  /* about 32 MB with 4 KB pages */
#define REOPEN_TRIES 20         /* 5 ms apart: the checkpoint thread lets a stale -shm go */
#define REOPEN_GAP_US 5000
#define RESTART_MS 200          /* tries 1 ms apart, while another checkpoint runs */
#define CHECKPOINT_GAP_US 200000

struct item {
	struct pl_msg *m;
	size_t n;
	int rc, done, lead;
	pthread_cond_t cv;      /* its thread waits here, for done or lead */
	struct item *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct item *queue, **queue_tail = &queue;
static int leading;
static struct pl_store *writer;         /* used only by the leader */
static char last_error[256];            /* why the last failed commit failed */

static pthread_mutex_t ck_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ck_cv = PTHREAD_COND_INITIALIZER;
/* The gap after a checkpoint waits on its own: each commit past the
 * threshold signals ck_cv, and must not wake the thread there. */
static pthread_cond_t ck_release_cv = PTHREAD_COND_INITIALIZER;
static int ck_wanted, ck_release, ck_started, inline_only;
/* The thread has a connection open (writer_ready asks it to let go). */
static _Atomic int ck_holding;
/* Leader only: frames in the WAL after the last commit, and the count at
 * which to run the next RESTART. */
static int wal_frames, restart_at = WAL_RESTART_PAGES;
/* The thread's own copy of what opening the store reads (the database and
 * the sync mode): it outlives the caller's config, which is freed at exit
 * while the thread may still be copying. */
static struct pl_conf ck_conf;

/* The gap after a checkpoint: CHECKPOINT_GAP_US, cut short by a release. */
static void checkpoint_gap(void)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (CHECKPOINT_GAP_US % 1000000) * 1000L;
	until.tv_sec += CHECKPOINT_GAP_US / 1000000 + until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&ck_mu);
	while (!ck_release && pthread_cond_timedwait(&ck_release_cv, &ck_mu, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&ck_mu);
}

static void *checkpointer(void *arg)
{
	struct pl_store *st = NULL;

	(void)arg;
	for (;;) {
		int release;

		pthread_mutex_lock(&ck_mu);
		while (!ck_wanted && !ck_release)
			pthread_cond_wait(&ck_cv, &ck_mu);
		release = ck_release;
		ck_wanted = ck_release = 0;
		pthread_mutex_unlock(&ck_mu);
		/* Looked at before every copy, not once a second: a copy from a
		 * -wal the operator deleted (this connection still reads it)
		 * would write its pages, another history's, into the live
		 * database file under the new -wal's. Checkpoints come at most a
		 * few times a second, so the three stats cost nothing. The writer
		 * cannot open (writer_ready): let go even of a connection still
		 * in place, since SQLite hands a new connection of this process
		 * the index this one has mapped; the next copy opens again. */
		if (st && (!pl_store_in_place(st) || release)) {   /* the look first: it marks moved files */
			pl_store_close(st);
			st = NULL;
			ck_holding = 0;
		}
		if (release)
			continue;
		if (!st) {
			if (pl_store_open(&st, &ck_conf) != PL_OK)
				continue;
			ck_holding = 1;
		}
		if (pl_store_checkpoint(st, PL_CKPT_PASSIVE) == PL_EIO) {
			pl_store_close(st);
			st = NULL;
			ck_holding = 0;
		}
		/* A checkpoint that a reader's snapshot kept from finishing leaves
		 * the WAL long, and every commit asks again: at most a few
		 * checkpoints (each with its fsyncs) a second, whatever the rate. */
		checkpoint_gap();
	}
	return NULL;
}

/* Called by the writer's commit (WAL hook), under the leader role, with
 * the number of frames now in the WAL. */
static void want_checkpoint(void *arg, int frames)
{
	(void)arg;
	wal_frames = frames;
	pthread_mutex_lock(&ck_mu);
	ck_wanted = 1;
	pthread_cond_signal(&ck_cv);
	pthread_mutex_unlock(&ck_mu);
}

static int writer_ready(const struct pl_conf *c)
{
	pthread_t t;
	int rc;

	if (writer)
		return PL_OK;
	/* Refused (PL_EBUSY), or failing with an I/O error, while the checkpoint
	 * thread's connection holds a -wal and -shm an operator deleted:
	 * SQLite gives a new connection in this process the index the thread's
	 * has mapped. Wake the thread, which lets it go, and wait a little for
	 * that before the publishes get 503; once it holds nothing, a failure
	 * is the storage's own and is not tried again. */
	for (int i = 0; (rc = pl_store_open(&writer, c)) != PL_OK && ck_started && (i == 0 || ck_holding) &&
	     i < REOPEN_TRIES; i++) {
		pthread_mutex_lock(&ck_mu);
		ck_release = 1;
		pthread_cond_signal(&ck_cv);
		pthread_cond_signal(&ck_release_cv);
		pthread_mutex_unlock(&ck_mu);
		usleep(REOPEN_GAP_US);
	}
	if (rc != PL_OK)
		return PL_EIO;
	if (!ck_started && !inline_only) {
		pthread_attr_t attr;

		pl_conf_defaults(&ck_conf);
		free(ck_conf.db_path);
		ck_conf.db_path = pl_xstrdup(c->db_path);
		ck_conf.synchronous_full = c->synchronous_full;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		ck_started = pthread_create(&t, &attr, checkpointer, NULL) == 0;
		pthread_attr_destroy(&attr);
	}
	/* Without the thread, SQLite keeps checkpointing inside commits. */
	if (ck_started)
		pl_store_writer(writer, CHECKPOINT_PAGES, want_checkpoint, NULL);
	return PL_OK;
}

/* The WAL is long: wait for it to be copied back and for its readers, so the
 * next commit starts it over. BUSY at once means another connection holds
 * the checkpoint lock (the thread's copy, another process's RESTART): wait
 * for it briefly rather than commit past the threshold. A reader that held
 * an old snapshot past the busy timeout is not waited for again until the
 * WAL has grown by the threshold once more: publishes must not stall for
 * the busy timeout after every commit. */
static void restart_wal(void)
{
	int64_t until = pl_mono_ms() + RESTART_MS;
	int rc;

	/* Each try waits at most about 0.1 s for readers (pl_store_checkpoint);
	 * all of them together RESTART_MS. */
	while ((rc = pl_store_checkpoint(writer, PL_CKPT_RESTART)) == PL_EBUSY && pl_mono_ms() < until)
		usleep(1000);
	restart_at = rc == PL_OK ? WAL_RESTART_PAGES : wal_frames + WAL_RESTART_PAGES;
	wal_frames = 0;
}

/* Commit v[0..count) in one transaction; if the group fails, commit them one
 * by one, so one request's failure never fails another's publish. Not when
 * the write lock was busy past the busy timeout: each would wait it out
 * again in turn (six publishes, 50 s with the loop stalled). */
static void commit_v(const struct pl_conf *c, struct pl_msgv *v, size_t count, int *rcs)
{
	int rc;

	/* The files are looked at before every commit, not once a second as
	 * pl_store_moved() alone would: a commit in the second after the
	 * operator deleted or recreated the database would go into the
	 * unlinked file, and the check after it (below) could only refuse it
	 * with a 503 once its held subscribers, still reading that file, had
	 * been woken and given it; the publisher then sends it again and they
	 * get it twice. Three stat() calls per group commit. */
	if (writer && (pl_store_moved(writer) || !pl_store_in_place(writer))) {
		pl_store_close(writer);     /* the operator recreated the database */
		writer = NULL;
	}
	if ((rc = writer_ready(c)) != PL_OK) {
		snprintf(last_error, sizeof last_error, "%s", pl_store_open_error());
		for (size_t i = 0; i < count; i++)
			rcs[i] = rc;
		return;
	}
	rc = pl_store_publish_v(writer, v, count);
	for (size_t i = 0; i < count; i++)
		rcs[i] = rc == PL_OK || rc == PL_EBUSY || count == 1 ? rc : pl_store_publish_v(writer, &v[i], 1);
	/* The operator deleted or replaced the database within the last
	 * second: what was committed went to a file nobody will read again,
	 * so no 201 (the publisher sends it again, into the new file). */
	if (!pl_store_in_place(writer)) {
		for (size_t i = 0; i < count; i++)
			rcs[i] = PL_EIO;
		rc = PL_EIO;
		snprintf(last_error, sizeof last_error, "the database file was deleted or replaced");
	} else if (rc != PL_OK) {
		snprintf(last_error, sizeof last_error, "%s", pl_store_errmsg(writer));
	}
	if (rc == PL_EIO) {
		/* Start afresh next time: the file may be replaced or repaired. */
		pl_store_close(writer);
		writer = NULL;
		return;
	}
	if (wal_frames >= restart_at)
		restart_wal();
}

static void commit_group(const struct pl_conf *c, struct item *items, size_t count)
{
	struct pl_msgv v[GROUP_MAX];
	int rcs[GROUP_MAX];
	size_t i = 0;

	for (struct item *it = items; it; it = it->next, i++) {
		v[i].m = it->m;
		v[i].n = it->n;
	}
	commit_v(c, v, count, rcs);
	i = 0;
	for (struct item *it = items; it; it = it->next)
		it->rc = rcs[i++];
}

void pl_group_commit(const struct pl_conf *c, struct pl_msgv *v, size_t n, int *rcs)
{
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < n; i += GROUP_MAX)
		commit_v(c, v + i, n - i < GROUP_MAX ? n - i : GROUP_MAX, rcs + i);
	pthread_mutex_unlock(&mu);
}

int pl_group_publish(const struct pl_conf *c, struct pl_msg *m, size_t n)
{
	struct item me = { .m = m, .n = n };
	struct item *take, *last;
	size_t count = 1;

	pthread_cond_init(&me.cv, NULL);
	pthread_mutex_lock(&mu);
	*queue_tail = &me;
	queue_tail = &me.next;
	if (!leading)
		leading = me.lead = 1;
	while (!me.done && !me.lead)
		pthread_cond_wait(&me.cv, &mu);
	if (me.done)
		goto out;
	/* Lead: this item heads the queue; take up to GROUP_MAX batches. */
	take = last = queue;
	while (last->next && count < GROUP_MAX) {
		last = last->next;
		count++;
	}
	queue = last->next;
	if (!queue)
		queue_tail = &queue;
	last->next = NULL;
	pthread_mutex_unlock(&mu);

	commit_group(c, take, count);

	pthread_mutex_lock(&mu);
	/* Wake exactly the threads whose batches are done, and hand the lead to
	 * the head of what queued meanwhile: nobody wakes only to sleep again. */
	for (struct item *it = take, *next; it; it = next) {
		next = it->next;
		it->done = 1;
		if (it != &me)
			pthread_cond_signal(&it->cv);
	}
	if (queue) {
		queue->lead = 1;
		pthread_cond_signal(&queue->cv);
	} else {
		leading = 0;
	}
out:
	pthread_mutex_unlock(&mu);
	pthread_cond_destroy(&me.cv);
	return me.rc;
}

void pl_group_inline(void)
{
	inline_only = 1;
}

void pl_group_close(void)
{
	pthread_mutex_lock(&mu);
	pl_store_close(writer);
	writer = NULL;
	pthread_mutex_unlock(&mu);
}

const char *pl_group_error(void)
{
	return last_error;
}
