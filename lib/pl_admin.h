/* pl_admin.h: /admin/messages, /admin/messages/ID, /admin/stats, /health */
#ifndef PL_ADMIN_H
#define PL_ADMIN_H

#include <json-c/json.h>

#include "pl_conf.h"
#include "pl_http.h"
#include "pl_req.h"
#include "pl_store.h"

/* Route by the request path: the script named "health" is the public
 * health check; what follows the script named "admin" (PATH_INFO) is the
 * admin API; anything else is a JSON 404, or the web server's own error
 * (REDIRECT_STATUS) in JSON. */
void pl_admin_handle(const struct pl_conf *c, struct pl_store *st, struct pl_req *r, struct pl_resp *resp);
/* The stats object of /admin/stats and `pushlite stats`; NULL when the
 * store cannot be read. */
struct json_object *pl_admin_stats(const struct pl_conf *c, struct pl_store *st);

#endif
