/* pl_conf.h: the one configuration file, read with inih */
#ifndef PL_CONF_H
#define PL_CONF_H

#include <stddef.h>
#include <stdint.h>

#define PL_CONF_DEFAULT_PATH "/etc/pushlite.conf"
/* A config file longer than this is refused (not read into memory). */
#define PL_CONF_FILE_MAX (1024 * 1024)
#define PL_MAX_PREFIXES 32
/* The longest token: "token = " and the token must fit on one line of the
 * INI parser (see pl_conf.c). */
#define PL_TOKEN_MAX 190

enum pl_role { PL_ROLE_PUBLISH, PL_ROLE_ADMIN };

/* A bearer token from a [token NAME] section. */
struct pl_token {
	char *name;
	char *secret;
	enum pl_role role;
	int role_set;                      /* while reading: a second role line is refused */
	char *prefixes[PL_MAX_PREFIXES];   /* topic prefixes it may publish to; none = any */
	size_t nprefixes;
};

struct pl_conf {
	char *path;               /* file read, or NULL when defaults only */
	char *db_path;
	char *secret;             /* subscriber-token HMAC key; NULL = tokens refused */
	int64_t default_ttl, max_ttl;   /* seconds */
	size_t max_body;          /* bytes */
	int longpoll_timeout, longpoll_max_timeout;   /* seconds */
	int stream_max_time, heartbeat;               /* seconds */
	int longpoll_keepalive;   /* seconds between the blanks a held long poll
	                           * writes; 0: none */
	int longpoll_gzip;        /* a held long poll gzips its answer itself
	                           * when the client accepts gzip */
	int max_waiting;          /* waiting subscribers on this host (all processes) */
	int max_topics;           /* topics in one subscribe request */
	int push_enabled;         /* 0: longpoll and stream answer 503 */
	int publish_get;          /* GET /publish allowed */
	int trust_remote_user;    /* REMOTE_USER may publish without a token */
	int synchronous_full;     /* PRAGMA synchronous=FULL */
	int retry_after;          /* seconds, in 503 answers */
	char **cors_origins;      /* "*" allowed */
	size_t ncors;
	int cors_credentials;
	struct pl_token *tokens;
	size_t ntokens;
};

/* Fill c with the safe defaults; no file read. Free with pl_conf_free(). */
void pl_conf_defaults(struct pl_conf *c);

/* Read path into c (defaults first: c need not be initialized, and must not
 * hold a loaded config, whose memory would leak). On error returns PL_ECONF
 * and writes a one-line reason naming the file and line into err; c is
 * then still to be freed with pl_conf_free(). */
int pl_conf_load(struct pl_conf *c, const char *path, char *err, size_t errlen);

/* Read $PUSHLITE_CONF, else /etc/pushlite.conf; a missing default file means
 * defaults, a missing file named by PUSHLITE_CONF is an error. */
int pl_conf_load_env(struct pl_conf *c, char *err, size_t errlen);

void pl_conf_free(struct pl_conf *c);   /* NULL-safe */

#endif
