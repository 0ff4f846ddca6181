/* tap.h: a tiny TAP producer for the C unit tests
 *
 * ok(cond, fmt, ...) prints "ok N - what" or "not ok N - what"; diag() prints
 * a "# " comment; tap_done() prints the plan "1..N" (a trailing plan is valid
 * TAP) and returns the exit status. stdout is line-buffered so that tests
 * which fork do not print a line twice. */
#ifndef PL_TAP_H
#define PL_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_count, tap_failed;

__attribute__((format(printf, 2, 3)))
static int ok(int cond, const char *fmt, ...)
{
	va_list ap;

	if (tap_count == 0)
		setvbuf(stdout, NULL, _IOLBF, 0);
	printf("%sok %d - ", cond ? "" : "not ", ++tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		tap_failed++;
	return cond;
}

__attribute__((format(printf, 1, 2), unused))
static void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static int tap_done(void)
{
	printf("1..%d\n", tap_count);
	fflush(stdout);
	return tap_failed ? 1 : 0;
}

#endif
