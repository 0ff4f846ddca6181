/* t_req.c: query strings and form bodies (pl_kv_parse), request parameters,
 * a plain CGI request's body (pl_req_cgi_body) */
#include "pl_first.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pl_req.h"
#include "pl_util.h"
#include "tap.h"

/* Parse s; 1 when the result is exactly the pairs in want ("k=v" strings). */
static int parses_to(const char *s, const char *const *want, size_t nwant)
{
	struct pl_kv *kv;
	size_t n;
	int same;

	if (pl_kv_parse(s, strlen(s), &kv, &n) != PL_OK)
		return 0;
	same = n == nwant;
	for (size_t i = 0; same && i < n; i++) {
		char pair[256];
		snprintf(pair, sizeof pair, "%s=%s", kv[i].k, kv[i].v);
		same = !strcmp(pair, want[i]);
	}
	pl_kv_free(kv, n);
	return same;
}

static int refused(const char *s, size_t n)
{
	struct pl_kv *kv = (struct pl_kv *)1;
	size_t nkv = 99;
	int rc = pl_kv_parse(s, n, &kv, &nkv);

	/* On failure the outputs are reset, so a caller's free is safe. */
	return rc == PL_EINVAL && kv == NULL && nkv == 0;
}

static void t_kv(void)
{
	struct pl_kv *kv;
	size_t n;

	ok(parses_to("a=1&b=2", (const char *[]){ "a=1", "b=2" }, 2), "a=1&b=2: two pairs in order");
	ok(parses_to("a=1;b=2", (const char *[]){ "a=1;b=2" }, 1), "';' is data, not a separator (URL standard)");
	ok(parses_to("data=Meeting at 3; room 5&type=x", (const char *[]){ "data=Meeting at 3; room 5", "type=x" }, 2),
	   "a text with '; ' stays whole");
	ok(parses_to("msg=disk+full", (const char *[]){ "msg=disk full" }, 1), "'+' decodes to a space");
	ok(parses_to("t=%2Fnews%2fsports", (const char *[]){ "t=/news/sports" }, 1), "%s", "%2F and %2f decode to '/'");
	ok(parses_to("p=%2B", (const char *[]){ "p=+" }, 1), "%s", "%2B is a literal '+', not a space");
	ok(parses_to("k%3D=v%26w", (const char *[]){ "k==v&w" }, 1), "escaped '=' and '&' stay data");
	ok(parses_to("e=%C3%A9", (const char *[]){ "e=\xc3\xa9" }, 1), "%s", "%C3%A9 decodes to UTF-8 e-acute");
	ok(parses_to("u=\xc3\xa9", (const char *[]){ "u=\xc3\xa9" }, 1), "raw UTF-8 bytes pass");
	ok(parses_to("a=1&&b=2&", (const char *[]){ "a=1", "b=2" }, 2), "empty pairs are skipped");
	ok(parses_to("&&&", NULL, 0), "only separators: no pairs");
	ok(parses_to("", NULL, 0), "empty string: no pairs");
	ok(parses_to("flag", (const char *[]){ "flag=" }, 1), "a key without '=' has the empty value");
	ok(parses_to("k=", (const char *[]){ "k=" }, 1), "k= has the empty value");
	ok(parses_to("=v", (const char *[]){ "=v" }, 1), "=v has the empty key");
	ok(parses_to("a=b=c", (const char *[]){ "a=b=c" }, 1), "only the first '=' splits");
	ok(parses_to("t=/a&t=/b&t=/a", (const char *[]){ "t=/a", "t=/b", "t=/a" }, 3),
	   "repeated keys are all kept, in order");

	/* pl_kv_get returns the first of repeated keys. */
	if (pl_kv_parse("t=1&x=2&t=3", 11, &kv, &n) == PL_OK) {
		ok(n == 3 && !strcmp(pl_kv_get(kv, n, "t"), "1"), "kv_get returns the first value of a repeated key");
		ok(pl_kv_get(kv, n, "missing") == NULL, "kv_get of an absent key is NULL");
		ok(pl_kv_get(kv, n, "T") == NULL, "kv_get is case-sensitive");
		pl_kv_free(kv, n);
	} else {
		ok(0, "kv_get returns the first value of a repeated key");
		ok(0, "kv_get of an absent key is NULL");
		ok(0, "kv_get is case-sensitive");
	}

	ok(refused("a=%", 3), "%s", "a lone '%' is refused");
	ok(refused("a=%4", 3), "%s", "a '%' with one hex digit is refused");
	ok(refused("a=%zz", 5), "%s", "%zz is refused");
	ok(refused("a=%4g", 5), "%s", "%4g is refused");
	ok(refused("a=%%41", 6), "%s", "%% is refused");
	ok(refused("a=%00", 5), "%s", "%00 is refused (NUL)");
	ok(refused("a=b\0c&d=1", 9), "a raw NUL byte in a value is refused, not cut short");
	ok(refused("a\0=1", 4), "a raw NUL byte in a key is refused");
	ok(refused("%00=a", 5), "%s", "%00 in a key is refused");
	ok(refused("a=b%00c", 7), "%s", "%00 inside a value is refused");
	ok(refused("a=%C3", 5), "a truncated UTF-8 sequence is refused");
	ok(refused("a=%C0%80", 8), "%s", "overlong %C0%80 is refused");
	ok(refused("a=%ED%A0%80", 11), "an encoded surrogate is refused");
	ok(refused("a=\xff", 3), "a raw 0xFF byte is refused");
	ok(refused("\xc3=1", 3), "invalid UTF-8 in a key is refused");
	ok(refused("ok=1&bad=%GG&ok2=2", 18), "one bad pair refuses the whole string");
	ok(refused("a=1&b=%41", 7), "an escape cut short by the length is refused");
	ok(parses_to("x=%41%42", (const char *[]){ "x=AB" }, 1), "%s", "%41%42 decodes to AB");

	/* PL_ARGS_MAX pairs pass; one more is refused. */
	{
		struct pl_buf b = { 0 };
		for (int i = 0; i < PL_ARGS_MAX; i++)
			pl_buf_addf(&b, "%sk%d=%d", i ? "&" : "", i, i);
		ok(pl_kv_parse(b.p, b.len, &kv, &n) == PL_OK && n == PL_ARGS_MAX &&
		   !strcmp(kv[PL_ARGS_MAX - 1].k, "k127") && !strcmp(kv[PL_ARGS_MAX - 1].v, "127"),
		   "%d pairs are accepted", PL_ARGS_MAX);
		if (n == PL_ARGS_MAX)
			pl_kv_free(kv, n);
		pl_buf_adds(&b, "&one=more");
		ok(refused(b.p, b.len), "%d pairs are refused", PL_ARGS_MAX + 1);
		/* Empty pairs do not count toward the limit. */
		pl_buf_reset(&b);
		for (int i = 0; i < PL_ARGS_MAX; i++)
			pl_buf_addf(&b, "&&k%d=%d", i, i);
		ok(pl_kv_parse(b.p, b.len, &kv, &n) == PL_OK && n == PL_ARGS_MAX, "empty pairs do not count toward %d",
		   PL_ARGS_MAX);
		if (n == PL_ARGS_MAX)
			pl_kv_free(kv, n);
		pl_buf_free(&b);
	}
	/* The length, not a NUL, ends the input. */
	ok(parses_to("a=1", (const char *[]){ "a=1" }, 1), "NUL-terminated input parses");
	{
		const char s[] = "a=1&b=2";
		ok(pl_kv_parse(s, 3, &kv, &n) == PL_OK && n == 1 && !strcmp(kv[0].v, "1"), "n bounds the parse");
		pl_kv_free(kv, n);
	}
	pl_kv_free(NULL, 0);     /* NULL-safe: a crash here fails the program */
}

static void t_req(void)
{
	struct pl_req r;
	char path[64];
	char *env[] = {
		"REQUEST_METHOD=GET",
		"QUERY_STRING=topic=%2Fa&topic=/b&since=5",
		"REQUEST_URI=/push/poll?topic=%2Fa",
		"HTTP_X_TOPIC=/hdr",
		"HTTP_X=short",
		NULL,
	};
	char *env2[] = { "REQUEST_METHOD=POST", "SCRIPT_NAME=/cgi-bin/poll", "PATH_INFO=/x", NULL };
	char *env_bad[] = { "QUERY_STRING=a=%zz", NULL };
	char longq[PL_QUERY_MAX + 32];
	char *env_long[] = { longq, NULL };

	ok(pl_req_init(&r, env, NULL, 0) == PL_OK, "req_init decodes a good query");
	ok(r.nargs == 3 && !strcmp(pl_req_arg(&r, "topic"), "/a") && !strcmp(pl_req_arg(&r, "since"), "5"),
	   "query args decoded, first topic wins for req_arg");
	ok(pl_req_method_is(&r, "GET") && !pl_req_method_is(&r, "POST") && !pl_req_method_is(&r, "GE"),
	   "method_is compares the whole method");
	ok(!strcmp(pl_req_env(&r, "HTTP_X_TOPIC"), "/hdr"), "req_env finds a parameter");
	ok(!strcmp(pl_req_env(&r, "HTTP_X"), "short"), "req_env matches the whole name, not a prefix");
	ok(pl_req_env(&r, "HTTP_X_TOPI") == NULL && pl_req_env(&r, "NOPE") == NULL, "req_env of a missing name is NULL");
	ok(pl_req_path(&r, path, sizeof path) == PL_OK && !strcmp(path, "/push/poll"),
	   "req_path cuts the query off REQUEST_URI");
	ok(pl_req_path(&r, path, 11) == PL_OK && !strcmp(path, "/push/poll"), "req_path: exactly fits");
	ok(pl_req_path(&r, path, 10) == PL_ETOOBIG && path[0] == '\0',
	   "req_path refuses a path one byte too long, leaving \"\" (never a shorter path)");
	ok(pl_req_path(&r, path, 0) == PL_ETOOBIG, "req_path with no room at all");
	pl_req_free(&r);
	ok(r.args == NULL && r.nargs == 0, "req_free clears args");
	pl_req_free(NULL);

	ok(pl_req_init(&r, env2, "body", 4) == PL_OK && r.nargs == 0 && r.body_len == 4, "no QUERY_STRING: no args");
	pl_req_path(&r, path, sizeof path);
	ok(!strcmp(path, "/cgi-bin/poll/x"), "req_path without REQUEST_URI joins SCRIPT_NAME and PATH_INFO");
	pl_req_free(&r);

	ok(pl_req_init(&r, env_bad, NULL, 0) == PL_EINVAL && r.nargs == 0 && r.args == NULL,
	   "a badly escaped query is EINVAL with no args");
	pl_req_free(&r);

	snprintf(longq, sizeof longq, "QUERY_STRING=");
	memset(longq + 13, 'a', PL_QUERY_MAX);
	longq[13 + PL_QUERY_MAX] = '\0';
	ok(pl_req_init(&r, env_long, NULL, 0) == PL_OK, "a query of exactly %d bytes is accepted", PL_QUERY_MAX);
	pl_req_free(&r);
	longq[13 + PL_QUERY_MAX] = 'a';
	longq[14 + PL_QUERY_MAX] = '\0';
	ok(pl_req_init(&r, env_long, NULL, 0) == PL_EINVAL && r.nargs == 0, "a query over %d bytes is refused",
	   PL_QUERY_MAX);
	pl_req_free(&r);

	ok(pl_req_init(&r, NULL, NULL, 0) == PL_OK && pl_req_env(&r, "X") == NULL, "a NULL env is empty");
	pl_req_free(&r);
}

/* A pipe whose write end a child fills with n bytes of 'a' (then closes,
 * unless hold: then it stays open); the read end is returned. */
static int feeder(size_t n, int hold, pid_t *pid)
{
	int fd[2];

	if (pipe(fd) < 0)
		return -1;
	*pid = fork();
	if (*pid == 0) {
		char chunk[4096];
		close(fd[0]);
		memset(chunk, 'a', sizeof chunk);
		while (n > 0) {
			size_t k = n < sizeof chunk ? n : sizeof chunk;
			ssize_t w = write(fd[1], chunk, k);
			if (w <= 0)
				_exit(1);
			n -= (size_t)w;
		}
		if (hold)
			pause();
		_exit(0);
	}
	close(fd[1]);
	return fd[0];
}

/* 0 when the feeder wrote everything (the reader took it all) and ended. */
static int fed(pid_t pid)
{
	int status = -1;

	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void t_cgi_body(void)
{
	size_t len;
	int big, cut, fd;
	pid_t pid;
	char *b;

	fd = feeder(10, 0, &pid);
	b = pl_req_cgi_body(fd, "10", NULL, 100, &len, &big, &cut);
	ok(len == 10 && !big && !cut && !strcmp(b, "aaaaaaaaaa") && fed(pid) == 0, "CONTENT_LENGTH 10: 10 bytes");
	free(b);
	close(fd);

	fd = feeder(4, 0, &pid);
	b = pl_req_cgi_body(fd, "10", NULL, 100, &len, &big, &cut);
	ok(len == 4 && !big && cut && fed(pid) == 0, "CONTENT_LENGTH 10, 4 came: cut");
	free(b);
	close(fd);

	/* Over the limit: nothing kept, all of it read (the writer is not
	 * left with a broken pipe), far more than a pipe holds. */
	fd = feeder(3 << 20, 0, &pid);
	b = pl_req_cgi_body(fd, "3145728", NULL, 1000, &len, &big, &cut);
	ok(len == 0 && big && !*b && fed(pid) == 0, "CONTENT_LENGTH over max: refused, and read to its end");
	free(b);
	close(fd);

	/* Chunked (no CONTENT_LENGTH): read to the end of the input. */
	fd = feeder(100000, 0, &pid);
	b = pl_req_cgi_body(fd, NULL, "chunked", 200000, &len, &big, &cut);
	ok(len == 100000 && !big && !cut && strlen(b) == 100000 && fed(pid) == 0, "chunked: read to its end");
	free(b);
	close(fd);

	fd = feeder(3 << 20, 0, &pid);
	b = pl_req_cgi_body(fd, "", "chunked", 1000, &len, &big, &cut);
	ok(len == 0 && big && !*b && fed(pid) == 0, "chunked over max: refused, and read to its end");
	free(b);
	close(fd);

	fd = feeder(1001, 0, &pid);
	b = pl_req_cgi_body(fd, NULL, "chunked", 1000, &len, &big, &cut);
	ok(len == 0 && big && fed(pid) == 0, "chunked, one byte over max: refused");
	free(b);
	close(fd);

	/* No length and not chunked (a GET): nothing is read, even from an
	 * input that never ends. */
	fd = feeder(5, 1, &pid);
	b = pl_req_cgi_body(fd, NULL, NULL, 1000, &len, &big, &cut);
	ok(len == 0 && !big && !cut && !*b, "no length, not chunked: no body, nothing read");
	free(b);
	b = pl_req_cgi_body(fd, NULL, "identity", 1000, &len, &big, &cut);
	ok(len == 0 && !big && !*b, "Transfer-Encoding identity without a length: no body");
	free(b);
	b = pl_req_cgi_body(fd, "12x", NULL, 1000, &len, &big, &cut);
	ok(len == 0 && !big && !*b, "a CONTENT_LENGTH that is not a number: nothing read (the caller refuses it)");
	free(b);
	kill(pid, SIGTERM);
	fed(pid);
	close(fd);
}

int main(void)
{
	t_kv();
	t_req();
	t_cgi_body();
	return tap_done();
}
