/* trivial.c: the baseline FastCGI responder of the benchmarks
 *
 * Answers every request with "Status: 204" after reading and discarding the
 * request body, with the same libfcgi accept loop a pushlite program uses.
 * Whatever pushlite does beyond this (parsing, SQLite, auth, JSON) is what the
 * benchmark figures put beside this one measure. It is started by the web
 * server's FastCGI manager (listening socket on fd 0) and speaks FastCGI only.
 *
 * libfcgi's close lingers for LIBFCGI_OS_CLOSE_POLL_TIMEOUT ms (default 2000)
 * waiting for the peer to close: the benchmark harness gives this program and
 * the pushlite programs the same environment, so both pay the same.
 */
#define _POSIX_C_SOURCE 200809L
#include <fcgiapp.h>
#include <signal.h>
#include <string.h>

static volatile sig_atomic_t stop_requested;

static void on_term(int sig)
{
	(void)sig;
	stop_requested = 1;
	FCGX_ShutdownPending();
}

/* libfcgi installs its own handlers in FCGX_Init(); ours come after, without
 * SA_RESTART, so that a blocked accept returns and the loop ends. */
static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

int main(void)
{
	FCGX_Request req;
	char buf[16384];

	if (FCGX_Init() != 0)
		return 1;
	install_signals();
	if (FCGX_InitRequest(&req, 0, 0) != 0)
		return 1;
	while (!stop_requested && FCGX_Accept_r(&req) >= 0) {
		while (FCGX_GetStr(buf, (int)sizeof buf, req.in) > 0)
			;
		FCGX_PutS("Status: 204 No Content\r\nCache-Control: no-store\r\n\r\n", req.out);
		FCGX_Finish_r(&req);
	}
	return 0;
}
