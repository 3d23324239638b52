/*
 * web/core.h: the lower floor of web/, as the files above it see it. The
 * core listens (server.c), turns each request into a struct web_req, checks
 * its credentials (auth.c) and hands it to the handler of a route
 * (router.c); it answers through reply.c and parses parameters with
 * parse.c and values.c. The files above it (the pages, page_*.c; the API,
 * api_*.c and metrics.c; the SQL console, sql*.c) each contribute a table
 * of routes, which web.c hands to the core in one list (routes.h): the core
 * calls no page, and includes no header above this one.
 *
 * The HTML helpers (html.h, charts) and the JSON writer (jsonw.h) are on
 * this floor too: they call nothing else in web/.
 */
#ifndef WARDEN_WEB_CORE_H
#define WARDEN_WEB_CORE_H

#include "../common/common.h"
#include "web.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <sys/queue.h>

struct event_base;
struct web_page;   /* api.c: the last list page answered */
struct web_sql;    /* sql.c: the console, its workers and exports */
struct web_tune;   /* api_tune.c: the worker of group baselines and backtests */
struct web_server; /* server.c: the listener and its connections */

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
    /* State-changing requests served so far: a page cached before the last one is stale. */
    uint64_t writes;
    /* Kept for the floors above, which open and free them; the core never touches them. */
    struct web_sql *sql;                /* web.c opens it, sql.c uses it */
    struct web_tune *tune;              /* web.c opens it, api_tune.c uses it */
    struct web_kept kept[WEB_KEPT_MAX]; /* api.c */
    struct web_page *page;              /* api.c */
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

/* What a route is, besides its method and path. */
#define WEB_PREFIX 1u /* the path is a prefix: "/alerts/" matches "/alerts/17", tail "17" */
#define WEB_WRITES 2u /* it changes state: called only when r->authed (401 or 403 otherwise) */
#define WEB_PUBLIC 4u /* anyone may reach it, even when every read needs the token */

/*
 * A route: method ("GET", "POST", "PUT", "DELETE"), a path, WEB_* flags, the
 * handler, and, when not NULL, what to do before a request for it is
 * refused for want of credentials (the hub records a refused change).
 * Routes are tried in the order given, so an exact path comes before the
 * prefix that would also match it. Tables end with a zeroed entry.
 */
struct web_route {
    const char *method;
    const char *path;
    unsigned flags;
    web_handler handler;
    web_handler refused;
};

/* The core's own routes: the login forms, POST /login and POST /logout (auth.c). */
extern const struct web_route web_auth_routes[];

/* ---- the server (server.c), for web.c -------------------------------------------------------- */

/*
 * Check web.listen, open the database connections and the token: the
 * server is made, not yet listening. routes is a NULL-terminated list of
 * route tables, tried in order; it must outlive the server. NULL with the
 * reason in err.
 */
struct web_server *web_server_new(struct event_base *base, const struct config *cfg,
                                  const struct web_route *const *routes, char *err, size_t errlen);
/* Start serving: bind web.listen and start the connection sweep. False with the reason in err. */
bool web_server_listen(struct web_server *s, char *err, size_t errlen);
struct web_ctx *web_server_ctx(struct web_server *s);
const char *web_server_address(const struct web_server *s);
/* Close every connection (a streamed export's close callback runs now). */
void web_server_shutdown(struct web_server *s);
/* Free the rest: the token, the sessions, the database connections. */
void web_server_free(struct web_server *s);
/* The server's own counters (requests by status, connections), Prometheus text. */
void web_server_metrics(struct web_ctx *ctx, struct evbuffer *out);

/* ---- responses and requests (reply.c) -------------------------------------------------------- */

/* Send body (taken over) with status and content type, and the security headers. */
void web_send(struct web_req *r, int status, const char *content_type, struct evbuffer *body);
/* JSON: obj is taken over (json_decref'd). */
void web_send_json(struct web_req *r, int status, json_t *obj);
/* {"error": error, "detail": detail} with status; detail may be NULL. */
void web_error(struct web_req *r, int status, const char *error, const char *detail);
/* 303 See Other to location (a path of this site), also setting cookie when not NULL. */
void web_redirect(struct web_req *r, const char *location, const char *cookie);
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

/*
 * True when r, a console request, is refused as sent by a page of another
 * site: the browser's Sec-Fetch-Site says cross-site or same-site, or its
 * Origin is not this server's. Why, for a person, in why; counted for
 * /metrics. A request without those headers (curl, a script) may run.
 */
bool web_cross_site(struct web_req *r, char *why, size_t whylen);

/* The handler answers later (a console query, a streamed export); the server must not. */
void web_reply_started(struct web_req *r);
/* r for answering req later, from outside its handler (a console query that has run). */
void web_req_resume(struct web_req *r, struct web_ctx *ctx, struct evhttp_request *req);
/* The security headers (CSP, nosniff, ...) onto a reply started by hand. */
void web_security_headers(struct web_req *r);
/* Count a reply's status for /metrics (web_send does it; a streamed reply calls it). */
void web_count_status(struct web_req *r, int status);

/* ---- pure parsers (parse.c), fuzzed by tests/fuzz/fuzz_query.c --------------------------------
 */

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
/* The value of cookie name in a Cookie header, into out; false when absent or too long (auth.c). */
bool web_cookie_get(const char *header, const char *name, char *out, size_t outlen);

/* ---- JSON and CSV of SQLite values (values.c) ------------------------------------------------ */

/* Text as JSON; text that is not UTF-8 is repaired (U+FFFD). */
json_t *web_json_text(const char *s, size_t n);
json_t *web_column_json(sqlite3_stmt *st, int i);
/* A CSV line of cells from a JSON array (strings through csv_cell, numbers bare). */
void web_csv_row(struct evbuffer *out, json_t *cells);

#endif
