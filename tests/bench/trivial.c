/* trivial.c: the baseline FastCGI responder of the benchmarks
 *
 * Answers every request with "Status: 204" after reading and discarding the
 * request body. It serves the way admin does (lib/pl_serve.c; publish and poll
 * did until they moved to the event loop): libfcgi, PUSHLITE_THREADS threads
 * (default 4 here, 8 in admin) each blocking in
 * FCGX_Accept_r(), stop signals taken by the main thread with sigwait() after
 * FCGX_Init(). So whatever a pushlite figure loses against this one is the
 * cost of pushlite's own work (parsing, auth, SQLite, JSON), not of the
 * serving shape. It speaks FastCGI only: the web server's FastCGI manager
 * starts it with the listening socket on fd 0.
 *
 * libfcgi's close lingers for LIBFCGI_OS_CLOSE_POLL_TIMEOUT ms (default 2000)
 * waiting for the peer to close: the benchmark harness gives this program and
 * the pushlite programs the same environment, so both pay the same.
 *
 * With "bytes=N" in the query string it answers 200 with N bytes (at most
 * 1 MiB) of JSON-safe filler instead: what the web server and the client
 * pay for an answer of that size alone, beside pushlite's answer of the
 * same size.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_THREADS 4
#define MAX_THREADS 64

static const char reply[] = "Status: 204 No Content\r\nCache-Control: no-store\r\n\r\n";
static const char reply_200[] =
	"Status: 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\n\r\n";
#define FILL_MAX (1024 * 1024)
static char fill[FILL_MAX];

/* N from "bytes=N" in the query string, else -1. */
static long want_bytes(FCGX_ParamArray env)
{
	const char *q = FCGX_GetParam("QUERY_STRING", env), *p;
	long n;

	if (!q || !(p = strstr(q, "bytes=")))
		return -1;
	n = strtol(p + 6, NULL, 10);
	return n < 0 ? 0 : n > FILL_MAX ? FILL_MAX : n;
}

static void *worker(void *arg)
{
	FCGX_Request req;
	char buf[16384];

	(void)arg;
	if (FCGX_InitRequest(&req, 0, 0) != 0)
		return NULL;
	while (FCGX_Accept_r(&req) >= 0) {
		long n = want_bytes(req.envp);

		while (FCGX_GetStr(buf, (int)sizeof buf, req.in) > 0)
			;
		if (n < 0) {
			FCGX_PutStr(reply, (int)sizeof reply - 1, req.out);
		} else {
			FCGX_PutStr(reply_200, (int)sizeof reply_200 - 1, req.out);
			FCGX_PutStr(fill, (int)n, req.out);
		}
		FCGX_Finish_r(&req);
	}
	return NULL;
}

/* PUSHLITE_THREADS as in the pushlite programs: 1..MAX_THREADS. */
static long thread_count(void)
{
	const char *s = getenv("PUSHLITE_THREADS");
	char *end;
	long n;

	if (!s)
		return DEFAULT_THREADS;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || end == s || *end || n < 1 || n > MAX_THREADS) {
		fprintf(stderr, "pl-trivial: PUSHLITE_THREADS must be 1-%d\n", MAX_THREADS);
		return -1;
	}
	return n;
}

int main(void)
{
	pthread_t tid;
	pthread_attr_t attr;
	sigset_t set;
	long i, nthreads = thread_count();
	int sig, started = 0;

	if (nthreads < 0)
		return 1;
	memset(fill, 'x', sizeof fill);
	if (FCGX_Init() != 0) {
		fputs("pl-trivial: FCGX_Init failed\n", stderr);
		return 1;
	}
	/* Block the stop signals in every thread; main takes them below. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&tid, &attr, worker, NULL) == 0)
			started++;
	pthread_attr_destroy(&attr);
	if (!started) {
		fputs("pl-trivial: no worker thread could start\n", stderr);
		return 1;
	}
	do {
		if (sigwait(&set, &sig) != 0)
			sig = SIGTERM;
	} while (sig == SIGHUP);
	FCGX_ShutdownPending();
	return 0;
}
