/*
 * web/api.h: what the JSON API's files (api_*.c) share, from api.c, above
 * the core. Each helper that can fail answers the request itself (400 with
 * the parameter's name, 500 or 503 with SQLite's message) and returns false
 * or NULL, so a handler only returns. At the end, api_tune.c's worker of
 * baselines and backtests, for web.c, api_groups.c, metrics.c and the pages.
 */
#ifndef WARDEN_WEB_API_H
#define WARDEN_WEB_API_H

#include "core.h"

#define API_DAY_MS 86400000LL

/* ---- rows and lists ------------------------------------------------------------------------- */

/* True when name is in the NULL-terminated list. */
bool api_in_list(const char *const *list, const char *name);
/* ISO 8601 of a time in ms, as a JSON string. */
json_t *api_iso_time(int64_t ms);
/*
 * A row as an object, column by column: a *_ms column gets its ISO 8601
 * twin (start_ms -> start_time), a column of stored JSON the object itself.
 */
json_t *api_row_object(sqlite3_stmt *st);
/*
 * Answer a list: {"items": [...], "next_cursor": ...} as JSON, or as CSV
 * with the columns cols (the cursor then in the X-Next-Cursor header), the
 * file called warden-NAME.csv. Takes items and next over.
 */
void api_send_items(struct web_req *r, json_t *items, json_t *next, const char *const *cols,
                    const char *name);

/* The next page's cursor from the current row of a list's statement. */
typedef void (*api_list_cursor)(sqlite3_stmt *st, char *out, size_t outlen);
/*
 * Answer st's page as JSON: at most limit rows (st was bound to return limit
 * + 1; a row past limit means a next page, whose cursor comes from the last
 * row written), written from SQLite as it steps, or the page kept from the
 * last time while the database has not changed.
 */
void api_list_send(struct web_req *r, sqlite3_stmt *st, int64_t limit, api_list_cursor cursor);

/* ---- statements ----------------------------------------------------------------------------- */

/* A statement on db, or NULL having answered 500. */
sqlite3_stmt *api_prepare(struct web_req *r, sqlite3 *db, const char *sql);
/*
 * A list's statement, kept prepared in ctx->kept by its SQL constant (pass
 * the same array each time), or NULL having answered 500. Hand it back with
 * api_kept_done() as soon as the request is done with it.
 */
sqlite3_stmt *api_kept_prepare(struct web_req *r, const char *sql);
void api_kept_done(struct web_ctx *ctx, sqlite3_stmt *st);
/* End of a step loop: false (having answered 500 or 503) when it ended in an error. */
bool api_step_done(struct web_req *r, sqlite3_stmt *st, int rc);
void api_bind_text_or_null(sqlite3_stmt *st, int i, const char *s);
/* Finalize the kept statements and drop the kept page (web.c, before ctx->db is closed). */
void web_api_free(struct web_ctx *ctx);

/* ---- parameters ----------------------------------------------------------------------------- */

/* A filter parameter; an empty one (a form's blank field) counts as absent. */
const char *api_param(struct web_req *r, const char *name);
/* 400 "bad parameter" with "name: why". */
void api_bad_param(struct web_req *r, const char *name, const char *why);
/* A free-text filter: absent, or 1 to 256 bytes of UTF-8. */
bool api_param_text(struct web_req *r, const char *name, const char **out);
/*
 * An enumerated filter, one value of allowed (NULL-terminated) or several
 * comma-separated: as a JSON array text for json_each() in *out, or NULL
 * when absent. The caller frees it.
 */
bool api_param_enum(struct web_req *r, const char *name, const char *const *allowed, char **out);
/* ?limit=, 1 to 1000, 100 by default. */
bool api_param_limit(struct web_req *r, int64_t *limit);

/* ---- a group's baseline and backtest (api_tune.c) ------------------------------------------- */

struct event_base;
struct group;
struct tune_opts;

/* The tuning worker and its connection (web.c, into ctx->tune); NULL with the reason in err. */
struct web_tune *web_tune_open(const struct config *cfg, struct event_base *base, char *err,
                               size_t errlen);
/* After the server's connections are closed (web_server_shutdown). NULL does nothing. */
void web_tune_close(struct web_tune *t);
/*
 * For GET /api/v1/security-groups/{tail}: when r->tail is "NAME/baseline",
 * answer it (now, or later from the worker) and return true.
 */
bool api_tune_dispatch(struct web_req *r);
/*
 * Run the baseline of o->group (proposed NULL) or the backtest of proposed
 * (the document for the group of proposed->name; o->group is then unused)
 * off the loop, on the tuning worker; o's progress and cancel are not used
 * (the job has its own, set when the client goes). Returns 0 when
 * submitted: done then runs on the loop once, with r to answer and status
 * 200 with result (the JSON of tune_baseline or tune_backtest, which done
 * takes over), or the HTTP status to answer (400 with err naming the
 * parameter, 404, 503 busy with Retry-After already set on r, 500) with err
 * for a person; with r NULL when the client has gone (then result is NULL),
 * to free arg. Otherwise returns the HTTP status to answer now (400 a bad
 * group name, 503 busy, with Retry-After set on r; 500) with err. o and
 * proposed are copied: the caller may free them at once.
 */
typedef void (*web_tune_done)(struct web_req *r, int status, json_t *result, const char *err,
                              void *arg);
int web_tune_submit(struct web_req *r, const struct tune_opts *o, const struct group *proposed,
                    web_tune_done done, void *arg, char *err, size_t errlen);
/* The tuning worker's jobs, Prometheus text (for /metrics). */
void web_tune_metrics(struct web_ctx *ctx, struct evbuffer *out);

#endif
