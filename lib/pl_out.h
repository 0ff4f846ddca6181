/* pl_out.h: every output format, in one place, used by every program.
 *
 * Poll-style answers: JSON, XML, JSONP. Streams: SSE, iframe script
 * streaming for old IE, NDJSON. Errors come in the format that was asked. */
#ifndef PL_OUT_H
#define PL_OUT_H

#include "pl_http.h"
#include "pl_store.h"

struct json_object;

#define PL_CALLBACK_MAX 64

enum pl_fmt { PL_FMT_JSON, PL_FMT_XML, PL_FMT_JSONP, PL_FMT_SSE, PL_FMT_JS, PL_FMT_NDJSON };

struct pl_outopt {
	enum pl_fmt fmt;
	char callback[PL_CALLBACK_MAX + 1];   /* JSONP and iframe callback, validated */
	int with_last_get;                    /* admin view */
	int preamble_sent;                    /* pl_out_preamble() already written */
};

/* Parse format=; stream formats only when stream_ok. PL_EINVAL otherwise. */
int pl_out_format(const char *s, int stream_ok, enum pl_fmt *f);
/* 1 if s is a safe callback name: identifiers joined by dots, at most 64 bytes. */
int pl_out_callback_valid(const char *s);

/* One message as a JSON object: {"id":N,...stored fields...}. */
void pl_out_message_json(struct pl_buf *b, const struct pl_row *r, int with_last_get);

/* Answer with a poll result in o's format (JSON, XML, JSONP); sets the
 * status (200), Content-Type and body. */
void pl_out_result(struct pl_resp *resp, const struct pl_outopt *o, const struct pl_result *res);
/* Answer an error {"error":code,"message":msg} in o's format (o may be NULL:
 * JSON). Status from rc (200 for JSONP, which script tags cannot read).
 * code NULL: derived from rc. 503 answers carry Retry-After: retry_after,
 * 429 answers Retry-After: PL_FULL_RETRY_AFTER; JSONP and the iframe page
 * carry the same seconds inside, as "retry_after". */
void pl_out_error(struct pl_resp *resp, const struct pl_outopt *o, int rc, const char *code,
		  const char *msg, int retry_after);
/* Answer with a JSON object in o's format (o may be NULL: JSON): JSONP
 * wraps it; XML, when xml_root is given, writes <xml_root> with the scalar
 * members as attributes and one <name> element per item of an array
 * "names" (else JSON). Takes obj's reference. */
void pl_out_object(struct pl_resp *resp, const struct pl_outopt *o, int status, const char *xml_root,
		   struct json_object *obj);
/* Answer with one message (the admin view of one id) in o's format:
 * a JSON object, <message> or callback(object). */
void pl_out_message(struct pl_resp *resp, const struct pl_outopt *o, const struct pl_row *r, int with_last_get);

/* Content-Type (and nosniff) of o's format, for an answer whose body
 * comes later. */
void pl_out_headers(struct pl_resp *resp, const struct pl_outopt *o);
/* The first bytes of an answer whose rest comes later (a held long poll):
 * a newline for JSON and JSONP, the declaration for XML. A web server that
 * has seen body bytes passes the answer on and from then on notices a
 * client that hangs up. Sets o->preamble_sent; pl_out_result then leaves
 * out what was sent. */
void pl_out_preamble(struct pl_buf *b, struct pl_outopt *o);

/* Streams: the headers to set, the preamble, one message, a heartbeat. */
void pl_out_stream_headers(struct pl_resp *resp, const struct pl_outopt *o);
void pl_out_stream_start(struct pl_buf *b, const struct pl_outopt *o, int retry_ms);
void pl_out_stream_msg(struct pl_buf *b, const struct pl_outopt *o, const struct pl_row *r);
void pl_out_stream_heartbeat(struct pl_buf *b, const struct pl_outopt *o);
/* Bytes that mean nothing to the client, written between heartbeats so that
 * a web server that learns of a departed client only by writing to it
 * (Apache) learns it soon: an SSE comment line with no text, else a
 * newline (in NDJSON an empty line, like a heartbeat). */
void pl_out_stream_keepalive(struct pl_buf *b, const struct pl_outopt *o);
/* What closes a stream that ends (XML: the root element). */
/* cursor: for SSE, the id to resume from, written when the stream sent no
 * message (-1: none). */
void pl_out_stream_end(struct pl_buf *b, const struct pl_outopt *o, int64_t cursor);

#endif
