/* pl_sub.h: the parameters of a subscription (poll, longpoll, stream, and
 * the admin list), checked at the edge and turned into a pl_filter. */
#ifndef PL_SUB_H
#define PL_SUB_H

#include "pl_auth.h"
#include "pl_conf.h"
#include "pl_out.h"
#include "pl_req.h"
#include "pl_store.h"

#define PL_LABEL_MAX 64         /* type, src, target */
#define PL_KIND_MAX 16          /* client kinds */

enum pl_sub_kind { PL_SUB_POLL, PL_SUB_LONGPOLL, PL_SUB_STREAM, PL_SUB_ADMIN };

struct pl_sub {
	struct pl_filter f;
	struct pl_outopt out;
	char user[PL_USER_MAX + 1];     /* the subscriber; "" anonymous */
	int timeout;                    /* longpoll: seconds, capped by the config */
	int64_t waited_ms;              /* longpoll: how long the web server held the
	                                 * request before the program got it (Apache
	                                 * says: X-Pushlite-Start), 0 when unknown */
	int64_t until;                  /* the token's expiry, unix seconds; 0 none */
	char *strs;                     /* one block holding every string f points to */
};

/* The format an error answer should take when the request is refused before
 * it is parsed (auth, unknown resource, method): xml, or jsonp with a valid
 * callback, as asked; else JSON. */
void pl_sub_error_format(const struct pl_req *r, struct pl_outopt *o);
/* The same, from the format= and callback= pairs alone of a raw query
 * string that cannot be read as a whole (a bad %-escape elsewhere, too
 * many pairs); PL_EINVAL when it has none that can be read. */
int pl_sub_raw_format(const char *query, struct pl_outopt *o);

/* The answer format of a request that is not a subscription (publish,
 * admin): json, xml, or jsonp with a valid callback. PL_EINVAL with a
 * reason in msg for another format or a bad callback; o is then JSON. */
int pl_sub_answer_format(const struct pl_req *r, struct pl_outopt *o, char *msg, size_t msglen);

/* Parse r for kind. The output format is parsed first, so that sub->out is
 * usable for the error answer even when parsing fails. On failure returns
 * PL_EINVAL (a bad parameter), PL_EAUTH (a token missing its mark) or
 * PL_EFORBID (a valid credential that names no subscriber), with a
 * one-line reason in msg. Free with pl_sub_free(), also after a failure. */
int pl_sub_parse(struct pl_sub *sub, const struct pl_req *r, const struct pl_conf *c,
		 enum pl_sub_kind kind, char *msg, size_t msglen);
void pl_sub_free(struct pl_sub *sub);   /* NULL-safe */

/* Parse a since value (an id, "now", "all" or a duration such as "10m")
 * into f->since and its argument. PL_EINVAL when it is none of them. */
int pl_sub_since(const char *s, struct pl_filter *f);

/* 1 if s is a client kind: [a-z0-9_-]{1,16}. */
int pl_sub_kind_valid(const char *s, size_t n);
/* 1 if s is a label (type, src, target): 1-64 bytes of UTF-8 without
 * control characters. */
int pl_sub_label_valid(const char *s);

#endif
