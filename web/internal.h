/*
 * web/internal.h: what the files of web/ share, private to the module. The
 * server (server.c) parses and bounds requests, checks authentication, and
 * hands each one to a handler from a route table; the API (api.c), the SQL
 * console (sql.c) and the pages (pages.c) are such handlers. html.c holds the
 * escaping and the page frame every page uses.
 */
#ifndef WARDEN_WEB_INTERNAL_H
#define WARDEN_WEB_INTERNAL_H

#include "../common/common.h"
#include "web.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <sys/queue.h>

struct web_page;
struct event_base;

/* A statement of web_ctx.db kept prepared between requests (api.c), by its SQL constant. */
#define WEB_KEPT_MAX 8
struct web_kept {
    const char *sql;
    sqlite3_stmt *st;
};

/* What every handler can reach. */
struct web_ctx {
    const struct config *cfg;
    sqlite3 *db;        /* read-only connection (SQLITE_OPEN_READONLY) for pages and API reads */
    sqlite3 *db_rw;     /* read-write connection for the few writes a user makes */
    char token[128];    /* the admin token (web.auth.token_file) */
    struct web_kept kept[WEB_KEPT_MAX];
    struct web_page *page; /* api.c: the last list page, while the database is unchanged */
};

/* One request, as a handler sees it. */
struct web_req {
    struct evhttp_request *req;
    struct web_ctx *ctx;
    const char *path;            /* decoded path, without the query */
    const char *tail;            /* for prefix routes: what follows the prefix ("17" of /alerts/17) */
    struct evkeyvalq query;      /* decoded query parameters (and form fields for POST forms) */
    struct evkeyvalq form;       /* the fields of a POSTed form alone */
    const char *body;            /* request body, NUL-terminated (may contain NULs), NULL if none */
    size_t body_len;
    bool authed;                 /* admin token, or a session cookie with a valid CSRF token */
    bool wants_csv;              /* Accept: text/csv or ?format=csv */
    char csrf[65];               /* the CSRF token for forms on this page (when logged in) */
};

typedef void (*web_handler)(struct web_req *r);

/*
 * A route: method ("GET", "POST", "PUT"), a path, and whether the path is a
 * prefix ("/alerts/" matches "/alerts/17", tail "17"). Handlers of
 * state-changing routes are only called when r->authed (the server answers
 * 401 otherwise). Tables end with a zeroed entry.
 */
struct web_route {
    const char *method;
    const char *path;
    bool prefix;
    bool writes;
    web_handler handler;
};
extern const struct web_route web_api_routes[];   /* api.c, sql.c: /api/v1/..., /metrics, /healthz */
extern const struct web_route web_page_routes[];  /* pages.c: /, /alerts, /devices, ... /sql */
/* Drops the overview's cached body: a change made through the web shows at once. */
void web_overview_stale(void);

/* ---- responses (server.c) ------------------------------------------------------------ */

/* Send body (taken over) with status and content type, and the security headers. */
void web_send(struct web_req *r, int status, const char *content_type, struct evbuffer *body);
/* JSON: obj is taken over (json_decref'd). */
void web_send_json(struct web_req *r, int status, json_t *obj);
/* {"error": error, "detail": detail} with status; detail may be NULL. */
void web_error(struct web_req *r, int status, const char *error, const char *detail);
/* A query parameter (or form field), or NULL when absent. */
const char *web_param(struct web_req *r, const char *name);
/* A field of the POSTed form body alone, never of the URL; NULL when absent. */
const char *web_form_param(struct web_req *r, const char *name);
/* The client's address as text ("127.0.0.1", "::1"); "" when unknown. */
void web_peer(struct web_req *r, char *out, size_t outlen);
/*
 * Parse an integer / ISO 8601 time parameter. Absent or empty: *out = dflt, true.
 * Present but bad: sends a 400 naming the parameter and returns false.
 */
bool web_param_int(struct web_req *r, const char *name, int64_t min, int64_t max, int64_t dflt,
                   int64_t *out);
bool web_param_time(struct web_req *r, const char *name, int64_t dflt, int64_t *out);

/*
 * True when r came with a valid login session (r->csrf is then set) or the
 * admin token: the pages show their edit forms then. For GET and HEAD a
 * valid session alone makes r->authed true; a state-changing request also
 * needs the CSRF token (header X-CSRF-Token or form field "csrf").
 */
bool web_session_valid(const struct web_req *r);

/* 303 See Other to location (a path of this site), also setting cookie when not NULL. */
void web_redirect(struct web_req *r, const char *location, const char *cookie);

/*
 * Run one SQL console statement (sql.c) on the console's workers, with the
 * console's limits. Returns 0 when it is queued: done is then called once,
 * on the loop, with a request to answer (r, for the same client) and the
 * outcome: status 200 with result = {"columns": [...], "rows": [[...]],
 * "truncated": bool} (done json_decref's it), or the HTTP status to answer
 * (400 failed, 403 refused, 503 busy) with the reason for a person in err.
 * When the client has gone first, done is called with r NULL, to free arg.
 * Otherwise returns the status to answer now (503 when every worker is busy
 * and the queue is full; a Retry-After header is set on r) with err.
 */
typedef void (*web_sql_done)(struct web_req *r, int status, json_t *result, const char *err,
                             void *arg);
int web_sql_submit(struct web_req *r, const char *q, web_sql_done done, void *arg, char *err,
                   size_t errlen);

/*
 * True when r, a console request, is refused as sent by a page of another
 * site: the browser's Sec-Fetch-Site says cross-site or same-site, or its
 * Origin is not this server's. Why, for a person, in why; counted for
 * /metrics. A request without those headers (curl, a script) may run.
 */
bool web_cross_site(struct web_req *r, char *why, size_t whylen);

/* ---- server internals (server.c, auth.c, api.c, sql.c, metrics.c; not for pages) -------- */

struct web_auth;  /* auth.c: the token and the login sessions */
struct web_sql;   /* sql.c: the console: its workers (sqlpool.c) and exports */
struct web_auth *web_ctx_auth(struct web_ctx *ctx);
struct web_sql *web_ctx_sql(struct web_ctx *ctx);

/* auth.c */
struct web_auth *web_auth_new(const struct config *cfg, char *token, size_t tokenlen, char *err,
                              size_t errlen);
void web_auth_free(struct web_auth *a);
/* What a request's credentials are worth; fills r->csrf for a valid session. */
enum web_cred { WEB_CRED_NONE, WEB_CRED_BAD, WEB_CRED_TOKEN, WEB_CRED_SESSION, WEB_CRED_CSRF };
enum web_cred web_auth_check(struct web_auth *a, struct web_req *r, const char *csrf_field);
void web_login(struct web_req *r);  /* POST /login (form fields token, next) */
/* Called every second or so: writes the summary of failed logins when one is due. */
void web_auth_tick(struct web_auth *a);
void web_logout(struct web_req *r); /* POST /logout */
/* The value of cookie name in a Cookie header, into out; false when absent or too long. */
bool web_cookie_get(const char *header, const char *name, char *out, size_t outlen);

/* sql.c */
struct web_sql *web_sql_open(const struct config *cfg, struct event_base *base, char *err,
                             size_t errlen);
void web_sql_close(struct web_sql *s);
void web_sql_handler(struct web_req *r); /* GET|POST /api/v1/sql */
/*
 * The console's authorizer as a pure function: SQLITE_OK or SQLITE_DENY for
 * an action and its two arguments (sqlite3_set_authorizer's), with what was
 * refused in *why for a person.
 */
int web_sql_authorize(int action, const char *a1, const char *a2, const char **why);

/*
 * sqlpool.c: the console's workers, each with a console connection of its
 * own, a bounded queue, and a watchdog that interrupts a job at its deadline.
 * A job is embedded in its owner's struct; the pool never frees it.
 */
enum web_sqljob_state { WEB_SQLJOB_NEW, WEB_SQLJOB_QUEUED, WEB_SQLJOB_RUNNING, WEB_SQLJOB_DONE };
struct web_sqljob {
    /* Set by the owner before submitting. */
    void (*run)(struct web_sqljob *job, void *conn); /* on a worker, with its connection */
    void (*done)(struct web_sqljob *job);            /* on the loop, once, after run or instead */
    int64_t max_wait_ms; /* a job that waited longer for a worker is not run: expired */
    /* The pool's, under its lock; done may read them. */
    TAILQ_ENTRY(web_sqljob) link;
    enum web_sqljob_state state;
    int64_t queued_ms, deadline_ms;
    bool timed_out, cancelled, expired;
};
/* How the pool opens and closes a worker's connection: open returns it, its handle in *db. */
struct web_sqlpool_conn {
    void *(*open)(void *arg, sqlite3 **db, char *err, size_t errlen);
    void (*close)(void *conn);
    void *arg;
};
struct web_sqlpool_stats {
    int64_t workers, running, queued;
    uint64_t submitted, finished, refused_busy, timed_out, cancelled;
};
struct web_sqlpool;
/* Open the workers' connections and start them; NULL with the reason in err. */
struct web_sqlpool *web_sqlpool_new(struct event_base *base, int workers, int64_t queue_max,
                                    const struct web_sqlpool_conn *opener, char *err,
                                    size_t errlen);
/* Stop every worker (running jobs are interrupted) and hand each job left to its done. */
void web_sqlpool_free(struct web_sqlpool *p);
/* Queue job; false when every worker is busy and the queue is full (answer 503). */
bool web_sqlpool_submit(struct web_sqlpool *p, struct web_sqljob *job);
/* The client has gone: take the job out of the queue, or interrupt it; done still follows. */
void web_sqlpool_cancel(struct web_sqlpool *p, struct web_sqljob *job);
void web_sqlpool_stats(struct web_sqlpool *p, struct web_sqlpool_stats *out);
/* From run: the watchdog interrupts the job's statement limit_ms from now. */
void web_sqljob_arm(struct web_sqlpool *p, struct web_sqljob *job, int64_t limit_ms);
bool web_sqljob_timed_out(struct web_sqlpool *p, struct web_sqljob *job);
bool web_sqljob_cancelled(struct web_sqlpool *p, struct web_sqljob *job);

/*
 * sqlguard.c: on console connection db, replace the functions whose cost one
 * VDBE operation does not bound (instr, replace, like, glob, trim, json_patch,
 * printf, format, zeroblob, randomblob, json_group_array, json_group_object)
 * by versions that check their operands against db's SQLITE_LIMIT_LENGTH
 * (set it first) and refuse with a message. The guard is used by db's thread
 * only; free it after closing db. NULL with the reason in err.
 */
struct web_sqlguard;
struct web_sqlguard *web_sqlguard_install(sqlite3 *db, char *err, size_t errlen);
void web_sqlguard_free(struct web_sqlguard *g);

/* The console's workers and queue, Prometheus text (for /metrics). */
void web_sql_metrics(struct web_ctx *ctx, struct evbuffer *out);

/* metrics.c */
void web_metrics(struct web_req *r); /* GET /metrics */
void web_healthz(struct web_req *r); /* GET /healthz */
/* The server's own counters (requests by status, connections), Prometheus text. */
void web_server_metrics(struct web_ctx *ctx, struct evbuffer *out);

/* server.c: the handler answers later (a streamed export); the server must not. */
void web_reply_started(struct web_req *r);
/* r for answering req later, from outside its handler (a console query that has run). */
void web_req_resume(struct web_req *r, struct web_ctx *ctx, struct evhttp_request *req);
/* The security headers (CSP, nosniff, ...) onto a reply started by hand. */
void web_security_headers(struct web_req *r);
/* Count a reply's status for /metrics (web_send does it; a streamed reply calls it). */
void web_count_status(struct web_req *r, int status);

/*
 * hubapi.c: the hub's control plane, routed from api.c's table:
 * POST /api/v1/hub/certificates, DELETE /api/v1/hub/certificates/{name},
 * PUT and DELETE /api/v1/hub/diagnostic-settings/{name}.
 */
void web_hub_cert_add(struct web_req *r);
void web_hub_cert_delete(struct web_req *r);
void web_hub_diag_put(struct web_req *r);
void web_hub_diag_delete(struct web_req *r);
/* The server refuses r for want of credentials: when r was a hub change, record it (Unauthorized). */
void web_hub_refused(struct web_req *r);

/* api.c: finalize the kept statements and drop the kept page (before ctx->db is closed). */
void web_api_free(struct web_ctx *ctx);

/* api.c: JSON of SQLite values. Text that is not UTF-8 is repaired (U+FFFD). */
json_t *web_json_text(const char *s, size_t n);
json_t *web_column_json(sqlite3_stmt *st, int i);
/* A CSV line of cells from a JSON array (strings through csv_cell, numbers bare). */
void web_csv_row(struct evbuffer *out, json_t *cells);

/* Pure parsers (api.c), fuzzed by tests/fuzz/fuzz_query.c. */
bool web_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);
/* ISO 8601 date-time, or an ISO 8601 duration meaning that long before now_ms. */
bool web_parse_time(const char *s, int64_t now_ms, int64_t *out);
/* A step: whole seconds ("60") or an ISO 8601 duration, a multiple of 10 s. */
bool web_parse_step(const char *s, int64_t *ms);
/* The alert list's cursor: "start_ms.alert_id". */
void web_cursor_alert(int64_t start_ms, int64_t id, char *out, size_t outlen);
bool web_cursor_alert_parse(const char *s, int64_t *start_ms, int64_t *id);
/* base64url without padding (the device list's cursor is a device id). */
bool web_b64url_encode(const void *p, size_t n, char *out, size_t outlen);
bool web_b64url_decode(const char *s, char *out, size_t outlen, size_t *n);
/* "host:port" / "[v6]:port" into its parts; false when malformed. */
bool web_listen_parse(const char *s, char *host, size_t hostlen, char *port, size_t portlen);

/* ---- HTML (html.c) ------------------------------------------------------------------------ */

/* Text for HTML text and attribute values: & < > " ' escaped. NULL prints nothing. */
void html_escape(struct evbuffer *out, const char *s);
/* printf into out where every %s argument is escaped (other conversions as printf). */
void html_printf(struct evbuffer *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * A CSV cell of s[0..n): quoted, quotes doubled, a NUL written as \u0000, and
 * a leading = + - @ TAB CR neutralised (formula injection). NULL writes nothing.
 */
void csv_cell_n(struct evbuffer *out, const char *s, size_t n);
/* The same of a NUL-terminated string. */
void csv_cell(struct evbuffer *out, const char *s);
/* The page frame: doctype, inline CSS, navigation (active = "alerts", ...), and its end. */
void html_begin(struct web_req *r, struct evbuffer *out, const char *title, const char *active);
void html_end(struct evbuffer *out);

/* ---- dashboard additions (html.c, charts.c, pages.c) ------------------------------------ */

/*
 * Percent-encode s for one URL path segment or query value: everything but
 * A-Z a-z 0-9 - . _ ~ becomes %XX, so the result is safe in an attribute too.
 */
void url_escape(struct evbuffer *out, const char *s);

/*
 * The example queries of sql/examples/, as the SQL page offers them: the
 * file name, a title, and the file's text verbatim (a unit test compares
 * them with the files). The table ends with a zeroed entry.
 */
struct web_sql_example {
    const char *file;
    const char *title;
    const char *sql;
};
extern const struct web_sql_example web_sql_examples[];

/*
 * SVG charts drawn by Warden: axes, labels and bars, numbers only, every
 * label escaped. The chart scales to the width of its container; width and
 * height set its proportions (the viewBox).
 */
struct chart {
    const char *title; /* accessible name of the chart */
    const char *unit;  /* what a value counts ("alerts"), for the hover text */
    int width, height;
};

/* One bar of a bar chart with a label under it (NULL: no label), maybe a link. */
struct chart_bar {
    const char *label;
    const char *tip;  /* hover text; NULL: the label */
    const char *href; /* URL (its parts already url_escape'd), or NULL */
    double value;
};
void chart_bars(struct evbuffer *out, const struct chart *c, const struct chart_bar *bars,
                size_t n);

/*
 * A time series: values[i] covers [t0_ms + i * step_ms, t0_ms + (i + 1) * step_ms),
 * drawn as bars over a UTC time axis. band_from_ms < band_to_ms shades that
 * span (an alert's window); has_min / has_max draw dashed limit lines.
 */
struct chart_series {
    int64_t t0_ms, step_ms;
    const double *values;
    size_t n;
    int64_t band_from_ms, band_to_ms;
    bool has_min, has_max;
    double min, max;
};
void chart_series(struct evbuffer *out, const struct chart *c, const struct chart_series *s);

#endif
