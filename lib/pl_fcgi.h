/* pl_fcgi.h: FastCGI responder protocol codec, pure (no I/O)
 *
 * A streaming decoder: feed it whatever bytes a read() returned, in any split,
 * and it reports one event at a time. Content is copied straight into the
 * request's params or body buffer, so a connection carries no input buffer of
 * its own, only the few bytes of the record header being read. One request at
 * a time per connection: a second BEGIN_REQUEST while one is active is
 * answered END_REQUEST/FCGI_CANT_MPX_CONN (lighttpd and Apache do not
 * multiplex). The encoders build STDOUT and END_REQUEST records. */
#ifndef PL_FCGI_H
#define PL_FCGI_H

#include <stddef.h>
#include <stdint.h>

/* Record types and constants from the FastCGI 1.0 specification. */
enum {
	PL_FCGI_BEGIN_REQUEST = 1,
	PL_FCGI_ABORT_REQUEST = 2,
	PL_FCGI_END_REQUEST = 3,
	PL_FCGI_PARAMS = 4,
	PL_FCGI_STDIN = 5,
	PL_FCGI_STDOUT = 6,
	PL_FCGI_STDERR = 7,
	PL_FCGI_DATA = 8,
	PL_FCGI_GET_VALUES = 9,
	PL_FCGI_GET_VALUES_RESULT = 10,
	PL_FCGI_UNKNOWN_TYPE = 11,
};
enum { PL_FCGI_RESPONDER = 1, PL_FCGI_AUTHORIZER = 2, PL_FCGI_FILTER = 3 };
enum { PL_FCGI_KEEP_CONN = 1 };
enum {
	PL_FCGI_REQUEST_COMPLETE = 0,
	PL_FCGI_CANT_MPX_CONN = 1,
	PL_FCGI_OVERLOADED = 2,
	PL_FCGI_UNKNOWN_ROLE = 3,
};

#define PL_FCGI_HEADER_LEN 8
#define PL_FCGI_MAX_CONTENT 65535
/* Bound on the raw PARAMS stream of one request; past it the request is a
 * protocol error (a web server sends a few KB; 64 KiB covers huge cookies). */
#define PL_FCGI_MAX_PARAMS 65536
/* Largest management reply pl_fcgi_feed() writes into its reply buffer. */
#define PL_FCGI_REPLY_MAX 128

/* What pl_fcgi_feed() reports. */
enum pl_fcgi_ev {
	PL_FCGI_EV_NONE = 0,  /* all input consumed, nothing to report: read more */
	PL_FCGI_EV_REQUEST,   /* a request is complete: take it with pl_fcgi_take() */
	PL_FCGI_EV_ABORT,     /* ABORT_REQUEST for the active request (see pl_fcgi_feed) */
	PL_FCGI_EV_REPLY,     /* send the reply bytes (management answer or refusal) */
	PL_FCGI_EV_ERROR,     /* protocol error: close the connection */
};

/* Limits the caller sets; shared by all connections of a server. */
struct pl_fcgi_limits {
	size_t max_body;      /* stdin beyond this: the request is marked too big */
	unsigned max_conns;   /* answered to GET_VALUES FCGI_MAX_CONNS and _REQS */
};

/* Decoder state of one connection. Zero it with pl_fcgi_init(); release what
 * it holds with pl_fcgi_free(). All fields are private to pl_fcgi.c. */
struct pl_fcgi {
	const struct pl_fcgi_limits *lim;
	unsigned char *params;      /* raw PARAMS stream, then freed on decode */
	char *body;                 /* stdin of the active request */
	char **env;                 /* decoded params, one block (see pl_fcgi_take) */
	unsigned char *mgmt;        /* content of a GET_VALUES record being read */
	size_t body_len, body_cap;
	uint32_t params_len, params_cap;
	uint16_t id;                /* request id of the active request, 0 none */
	uint16_t rec_id;            /* request id of the record being read */
	uint16_t clen_left;         /* content bytes of the record still to come */
	uint16_t clen;              /* content length of the record being read */
	uint8_t pad_left;           /* padding bytes still to skip */
	uint8_t hdr_have;           /* header bytes read so far */
	uint8_t type;               /* type of the record being read */
	uint8_t state;              /* request state, private */
	uint8_t flags;              /* BEGIN_REQUEST flags of the active request */
	uint8_t too_big;            /* stdin exceeded lim->max_body */
	uint8_t input_done;         /* the last request's STDIN stream has ended:
	                             * nothing more is due from the peer */
	unsigned char hdr[PL_FCGI_HEADER_LEN];
	unsigned char small[8];     /* BEGIN_REQUEST / ABORT content */
};

/* A complete request, handed over by pl_fcgi_take(). */
struct pl_fcgi_req {
	uint16_t id;
	int keep_conn;        /* the web server keeps the connection after END_REQUEST */
	int too_big;          /* stdin exceeded max_body: answer 413; body holds nothing */
	char **env;           /* NULL-terminated "NAME=VALUE" array, one allocation: free(env) */
	char *body;           /* stdin (NUL-terminated for convenience), NULL when empty; free() */
	size_t len;           /* bytes in body */
};

/* Reset p for a new connection. lim must outlive p. */
void pl_fcgi_init(struct pl_fcgi *p, const struct pl_fcgi_limits *lim);

/* Release everything p holds (NULL-safe); p may be reused after pl_fcgi_init(). */
void pl_fcgi_free(struct pl_fcgi *p);

/* Decode in[0..n). Stops after the first event: *used says how many bytes were
 * consumed, call again with the rest. reply must hold PL_FCGI_REPLY_MAX bytes;
 * on PL_FCGI_EV_REPLY *reply_len bytes of it are to be sent as they are.
 * PL_FCGI_EV_REQUEST: call pl_fcgi_take() before feeding more. A request is
 * reported once its PARAMS stream ended and either its STDIN stream ended or
 * it is known to be too big (CONTENT_LENGTH above the limit, or stdin past it):
 * the rest of its stdin is then skipped.
 * PL_FCGI_EV_ABORT: the web server aborted the active request (taken or not);
 * the caller answers END_REQUEST for it with pl_fcgi_end_request() and calls
 * pl_fcgi_done(). Records for inactive request ids are ignored. */
int pl_fcgi_feed(struct pl_fcgi *p, const unsigned char *in, size_t n, size_t *used,
		 unsigned char *reply, size_t *reply_len);

/* After PL_FCGI_EV_REQUEST: move the request into *r (the caller owns env and
 * body now). The request stays active (its id busy) until pl_fcgi_done(). */
void pl_fcgi_take(struct pl_fcgi *p, struct pl_fcgi_req *r);

/* The caller answered the active request (END_REQUEST sent): the connection
 * may start the next one. Anything not yet taken is freed. */
void pl_fcgi_done(struct pl_fcgi *p);

/* Value of CGI variable name in env, or NULL. */
const char *pl_fcgi_env_get(char *const *env, const char *name);

/* Write a record header for type/id/clen (no padding) into h[0..8). */
void pl_fcgi_header(unsigned char *h, int type, uint16_t id, uint16_t clen);

/* Bytes pl_fcgi_stdout() needs to encode n bytes of stdout. */
size_t pl_fcgi_stdout_size(size_t n);

/* Encode n > 0 bytes of p as STDOUT records of at most 65535 bytes each into
 * dst, which holds pl_fcgi_stdout_size(n) bytes. Returns bytes written.
 * (An empty STDOUT record, the end of the stream, is part of
 * pl_fcgi_end_request().) */
size_t pl_fcgi_stdout(unsigned char *dst, uint16_t id, const void *p, size_t n);

#define PL_FCGI_END_LEN 24
/* Encode the end of a response: an empty STDOUT record (end of stream) and
 * END_REQUEST with app_status and proto_status into dst[0..PL_FCGI_END_LEN). */
size_t pl_fcgi_end_request(unsigned char *dst, uint16_t id, uint32_t app_status, int proto_status);

/* Client side, for tests and tools: decode a record header from h[0..8).
 * Returns 0 and fills the fields, or -1 when the version is not 1. */
int pl_fcgi_parse_header(const unsigned char *h, int *type, uint16_t *id, uint16_t *clen, uint8_t *plen);

/* Client side: encode one name-value pair into dst (cap bytes).
 * Returns bytes written, or 0 when it does not fit. */
size_t pl_fcgi_nv(unsigned char *dst, size_t cap, const char *name, size_t nlen, const char *val, size_t vlen);

#endif
