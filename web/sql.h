/*
 * web/sql.h: the SQL console (sql.c and its files, sqlpriv.h) as the rest
 * of web/ uses it: web.c opens and closes it, the SQL page runs a query
 * through it, /metrics reports its workers. Its route (GET and POST
 * /api/v1/sql) is api_sql.c's web_sql_routes (routes.h).
 */
#ifndef WARDEN_WEB_SQL_H
#define WARDEN_WEB_SQL_H

#include "core.h"

struct event_base;

/* The console's workers and their connections; NULL with the reason in err. */
struct web_sql *web_sql_open(const struct config *cfg, struct event_base *base, char *err,
                             size_t errlen);
/* After the server's connections are closed (web_server_shutdown). NULL does nothing. */
void web_sql_close(struct web_sql *s);

/*
 * Run one console statement on r->ctx->sql's workers, with the console's
 * limits. Returns 0 when it is queued: done is then called once, on the
 * loop, with a request to answer (r, for the same client) and the outcome:
 * status 200 with result = {"columns": [...], "rows": [[...]], "truncated":
 * bool} (done json_decref's it), or the HTTP status to answer (400 failed,
 * 403 refused, 503 busy) with the reason for a person in err. When the
 * client has gone first, done is called with r NULL, to free arg.
 * Otherwise returns the status to answer now (503 when every worker is busy
 * and the queue is full; a Retry-After header is set on r) with err.
 */
typedef void (*web_sql_done)(struct web_req *r, int status, json_t *result, const char *err,
                             void *arg);
int web_sql_submit(struct web_req *r, const char *q, web_sql_done done, void *arg, char *err,
                   size_t errlen);

/* The console's workers and queue, Prometheus text (for /metrics). */
void web_sql_metrics(struct web_ctx *ctx, struct evbuffer *out);

/*
 * The console's authorizer as a pure function: SQLITE_OK or SQLITE_DENY for
 * an action and its two arguments (sqlite3_set_authorizer's), with what was
 * refused in *why for a person. Fuzzed by tests/fuzz/fuzz_query.c.
 */
int web_sql_authorize(int action, const char *a1, const char *a2, const char **why);

#endif
