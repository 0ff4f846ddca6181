/* pl_log.c: one line per event on stderr; allocation that never returns NULL */
#include "pl_first.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pl_log.h"

static const char *log_prog = "pushlite";
static int log_level = PL_LOG_INFO;

void pl_log_init(const char *prog)
{
	if (prog)
		log_prog = prog;
}

void pl_log_set_level(enum pl_log_level lvl)
{
	log_level = lvl;
}

void pl_log(int lvl, const char *file, int line, const char *fmt, ...)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	char msg[1024];
	va_list ap;
	int n;

	if (lvl > log_level)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* Text from outside may hold newlines: one event must stay one line. */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	/* One fprintf so concurrent threads do not interleave within a line. */
	if (file && (lvl == PL_LOG_ERR || log_level >= PL_LOG_DEBUG))
		fprintf(stderr, "%s[%ld]: %s: %s (%s:%d)\n", log_prog, (long)getpid(),
			names[lvl < 0 || lvl > 3 ? 0 : lvl], msg, file, line);
	else
		fprintf(stderr, "%s[%ld]: %s: %s\n", log_prog, (long)getpid(),
			names[lvl < 0 || lvl > 3 ? 0 : lvl], msg);
}

/* Returns a pointer only to fit the expressions below: it never returns. */
static _Noreturn void *oom(size_t n, size_t size)
{
	pl_log_err("out of memory allocating %zu x %zu bytes", n, size);
	abort();
}

void *pl_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	return p ? p : oom(1, n);
}

void *pl_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	return p ? p : oom(n, size);
}

void *pl_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	return q ? q : oom(1, n);
}

char *pl_xstrdup(const char *s)
{
	return pl_xstrndup(s, strlen(s));
}

char *pl_xstrndup(const char *s, size_t n)
{
	char *p = pl_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}
