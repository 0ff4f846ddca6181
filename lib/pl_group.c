/* pl_group.c: group commit.
 *
 * A commit costs the same whether it carries one message or fifty, and with
 * synchronous=FULL it costs an fsync. So concurrent publishes in a process
 * queue here; the first thread to find no commit in progress becomes the
 * leader, takes the whole queue and commits it in one transaction on its own
 * connection, while the others wait on a condition variable for their batch
 * to be done. No thread sleeps on a timer, and a lone publish commits at once. */
#include "pl_first.h"

#include <pthread.h>

#include "pl_group.h"
#include "pl_log.h"
#include "pl_util.h"

#define GROUP_MAX 256           /* batches in one transaction */

struct item {
	struct pl_msg *m;
	size_t n;
	int rc, done;
	struct item *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct item *queue, **queue_tail = &queue;
static int leading;

/* Commit the taken items; if the group fails, commit them one by one, so one
 * request's failure never fails another's publish. */
static void commit_group(struct pl_store *st, struct item *items, size_t count)
{
	struct pl_msgv v[GROUP_MAX];
	size_t i = 0;
	int rc;

	for (struct item *it = items; it; it = it->next) {
		v[i].m = it->m;
		v[i].n = it->n;
		i++;
	}
	rc = pl_store_publish_v(st, v, count);
	if (rc == PL_OK || count == 1) {
		for (struct item *it = items; it; it = it->next)
			it->rc = rc;
		return;
	}
	i = 0;
	for (struct item *it = items; it; it = it->next, i++)
		it->rc = pl_store_publish_v(st, &v[i], 1);
}

int pl_group_publish(struct pl_store *st, struct pl_msg *m, size_t n)
{
	struct item me = { .m = m, .n = n };

	pthread_mutex_lock(&mu);
	*queue_tail = &me;
	queue_tail = &me.next;
	while (!me.done) {
		if (leading) {
			pthread_cond_wait(&cv, &mu);
			continue;
		}
		/* Lead: take up to GROUP_MAX batches from the head of the queue. */
		struct item *take = queue, *last = queue;
		size_t count = 1;

		while (last->next && count < GROUP_MAX) {
			last = last->next;
			count++;
		}
		queue = last->next;
		if (!queue)
			queue_tail = &queue;
		last->next = NULL;
		leading = 1;
		pthread_mutex_unlock(&mu);

		commit_group(st, take, count);

		pthread_mutex_lock(&mu);
		for (struct item *it = take, *next; it; it = next) {
			next = it->next;
			it->done = 1;
		}
		leading = 0;
		pthread_cond_broadcast(&cv);
	}
	pthread_mutex_unlock(&mu);
	return me.rc;
}
