/*
 * web/sql.c: the SQL console (SPEC 6). Anyone who can reach the dashboard
 * can run a query, so the console is locked down in layers:
 *
 *   - its connections are opened SQLITE_OPEN_READONLY, with PRAGMA
 *     query_only, extension loading switched off, the defensive flag on and
 *     the schema untrusted;
 *   - an authorizer refuses, at prepare time, what a read-only connection
 *     alone would still run: ATTACH and DETACH, pragmas that set a value
 *     (query_only above all), temporary tables, views, indexes and triggers,
 *     transactions (an open one would pin a snapshot for ever), and functions
 *     that reach outside the database;
 *   - one statement per request, and it must be read-only to SQLite too;
 *   - a time limit through the progress handler, a row cap and a size cap,
 *     and SQLite's own limits on the length of values and of the SQL.
 *
 * A console query runs on the web's event loop, bounded by
 * web.sql.time_limit. A CSV export may run for web.sql.export_time_limit, so
 * it runs in a thread of its own with a connection of its own, and streams
 * through a socket pair into a chunked reply: the loop only copies bytes,
 * and the client's reading speed paces the query. Readers in WAL mode never
 * block the writer, so neither holds up ingest.
 */
#include "internal.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#define SQL_MAX_BYTES      100000             /* longest statement taken */
#define SQL_RESULT_BYTES   (8 * 1024 * 1024)  /* a console answer is cut past this */
#define SQL_VALUE_BYTES    (4 * 1024 * 1024)  /* SQLITE_LIMIT_LENGTH */
#define EXPORTS_MAX        4
#define EXPORT_CHUNK       65536
#define PROGRESS_OPS       1000

/* What a connection's authorizer and progress handler share with the code running it. */
struct guard {
    int64_t deadline_ms;   /* the progress handler stops the statement past this */
    atomic_bool *cancel;   /* and when this is set (exports) */
    char why[200];         /* the authorizer's first refusal, for the answer */
};

/* A streamed CSV export: the worker thread's and the loop's halves. */
struct export {
    TAILQ_ENTRY(export) link;
    struct web_sql *sql;
    /* the loop's */
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    struct event *ev;
    int fd;
    bool sending;
    /* the worker's */
    pthread_t thread;
    sqlite3 *db;
    sqlite3_stmt *st;
    struct guard g;
    int wfd;
    int64_t max_bytes, time_limit_ms;
    atomic_bool cancel;
};

struct web_sql {
    const struct config *cfg;
    sqlite3 *db;
    struct guard g;
    TAILQ_HEAD(, export) exports;
    int nexports;
};

/* ---- the authorizer -------------------------------------------------------------------------- */

/* Pragmas that only read, called without an argument. */
static const char *const pragma_plain[] = {
    "application_id", "collation_list", "compile_options", "data_version", "database_list",
    "encoding",       "foreign_key_check", "foreign_keys", "freelist_count", "function_list",
    "integrity_check", "journal_mode",   "module_list",    "page_count",     "page_size",
    "pragma_list",     "quick_check",    "schema_version", "table_list",     "user_version",
    NULL};
/* Pragmas whose argument names what to read about, not a value to set. */
static const char *const pragma_arg[] = {
    "foreign_key_check", "foreign_key_list", "index_info",  "index_list", "index_xinfo",
    "integrity_check",   "quick_check",      "table_info",  "table_list", "table_xinfo",
    NULL};
/* Functions that reach outside the database, where they exist at all. */
static const char *const functions_refused[] = {
    "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "zipfile",
    "sqlar_compress", "sqlar_uncompress", "shell_add_schema", "shell_module_schema", NULL};

static bool listed(const char *const *list, const char *name)
{
    if (name == NULL)
        return false;
    for (; *list != NULL; list++)
        if (strcasecmp(*list, name) == 0)
            return true;
    return false;
}

int web_sql_authorize(int action, const char *a1, const char *a2, const char **why)
{
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    case SQLITE_FUNCTION:
        if (!listed(functions_refused, a2))
            return SQLITE_OK;
        *why = "functions that load code or touch files are not allowed";
        return SQLITE_DENY;
    case SQLITE_PRAGMA:
        if (a1 != NULL && strcasecmp(a1, "query_only") == 0)
            *why = "PRAGMA query_only is not allowed: the console stays read-only";
        else if (a2 == NULL && listed(pragma_plain, a1))
            return SQLITE_OK;
        else if (a2 != NULL && listed(pragma_arg, a1))
            return SQLITE_OK;
        else
            *why = "this PRAGMA is not allowed: only pragmas that read (table_info, "
                   "index_list, user_version, ...) are";
        return SQLITE_DENY;
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
        *why = "ATTACH and DETACH are not allowed";
        return SQLITE_DENY;
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
        *why = "transactions are not allowed: each query is one statement on its own";
        return SQLITE_DENY;
    case SQLITE_CREATE_TEMP_INDEX:
    case SQLITE_CREATE_TEMP_TABLE:
    case SQLITE_CREATE_TEMP_TRIGGER:
    case SQLITE_CREATE_TEMP_VIEW:
    case SQLITE_DROP_TEMP_INDEX:
    case SQLITE_DROP_TEMP_TABLE:
    case SQLITE_DROP_TEMP_TRIGGER:
    case SQLITE_DROP_TEMP_VIEW:
        *why = "temporary tables, views, indexes and triggers are not allowed";
        return SQLITE_DENY;
    case SQLITE_INSERT:
    case SQLITE_UPDATE:
    case SQLITE_DELETE:
        /*
         * The first use of a table-valued function (json_each,
         * pragma_table_info) asks to update the columns of sqlite_master
         * while SQLite registers it. Let that through: a real write to the
         * schema is refused anyway (read-only connection, query_only,
         * defensive mode, and sqlite3_stmt_readonly() below).
         */
        if (action == SQLITE_UPDATE && a1 != NULL && strcmp(a1, "sqlite_master") == 0)
            return SQLITE_OK;
        /* CREATE and DROP insert into and delete from the schema table before anything else. */
        if (a1 != NULL && strcmp(a1, "sqlite_temp_master") == 0)
            *why = "temporary tables, views, indexes and triggers are not allowed";
        else if (a1 != NULL && strcmp(a1, "sqlite_master") == 0)
            *why = "the console only reads: CREATE, DROP, ALTER and the like are not allowed";
        else
            *why = "the console only reads: INSERT, UPDATE and DELETE are not allowed";
        return SQLITE_DENY;
    default:
        *why = "the console only reads: CREATE, DROP, ALTER and the like are not allowed";
        return SQLITE_DENY;
    }
}

static int authorizer(void *arg, int action, const char *a1, const char *a2, const char *db,
                      const char *trigger)
{
    struct guard *g = arg;
    const char *why = NULL;
    int rc = web_sql_authorize(action, a1, a2, &why);

    (void)db;
    (void)trigger;
    if (rc != SQLITE_OK && g->why[0] == '\0')
        snprintf(g->why, sizeof(g->why), "%s", why ? why : "not allowed");
    return rc;
}

static int progress(void *arg)
{
    struct guard *g = arg;

    if (g->cancel != NULL && atomic_load(g->cancel))
        return 1;
    return clock_mono_ms() > g->deadline_ms;
}

/* ---- connections and statements -------------------------------------------------------------- */

static sqlite3 *console_open(const char *path, struct guard *g, char *err, size_t errlen)
{
    sqlite3 *db = NULL;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "SQL console: %s: %s", path, db ? sqlite3_errmsg(db) : "no memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 1000);
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    if (sqlite3_exec(db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "SQL console: %s", sqlite3_errmsg(db));
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, SQL_VALUE_BYTES);
    sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, SQL_MAX_BYTES);
    sqlite3_limit(db, SQLITE_LIMIT_COLUMN, 500);
    sqlite3_limit(db, SQLITE_LIMIT_EXPR_DEPTH, 200);
    sqlite3_limit(db, SQLITE_LIMIT_COMPOUND_SELECT, 100);
    sqlite3_limit(db, SQLITE_LIMIT_FUNCTION_ARG, 100);
    sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_limit(db, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 10000);
    sqlite3_limit(db, SQLITE_LIMIT_VARIABLE_NUMBER, 100);
    sqlite3_limit(db, SQLITE_LIMIT_TRIGGER_DEPTH, 10);
    g->deadline_ms = INT64_MAX;
    sqlite3_set_authorizer(db, authorizer, g);
    sqlite3_progress_handler(db, PROGRESS_OPS, progress, g);
    return db;
}

static bool blank(const char *s)
{
    return s[strspn(s, " \t\r\n\f\v")] == '\0';
}

/* What follows the first statement is only white space and comments. */
static bool tail_empty(sqlite3 *db, const char *tail)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (blank(tail))
        return true;
    rc = sqlite3_prepare_v2(db, tail, -1, &st, NULL);
    sqlite3_finalize(st);
    return rc == SQLITE_OK && st == NULL;
}

/*
 * Prepare q as the console's one statement. Returns 0, or the status to
 * answer with the reason in err.
 */
static int prepare_one(sqlite3 *db, struct guard *g, int64_t time_limit_ms, const char *q,
                       sqlite3_stmt **st, char *err, size_t errlen)
{
    size_t n = strlen(q);
    const char *tail = NULL;
    int rc;

    *st = NULL;
    if (blank(q)) {
        snprintf(err, errlen, "q: an SQL statement is required");
        return 400;
    }
    if (n > SQL_MAX_BYTES || !utf8_valid(q, n)) {
        snprintf(err, errlen, "q: must be UTF-8 text of at most %d bytes", SQL_MAX_BYTES);
        return 400;
    }
    g->why[0] = '\0';
    g->deadline_ms = clock_mono_ms() + time_limit_ms;
    rc = sqlite3_prepare_v2(db, q, (int)n, st, &tail);
    if (rc != SQLITE_OK) {
        if (g->why[0] != '\0' || rc == SQLITE_AUTH) {
            snprintf(err, errlen, "refused: %s", g->why[0] ? g->why : sqlite3_errmsg(db));
            return 403;
        }
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        return 400;
    }
    if (*st == NULL) {
        snprintf(err, errlen, "q: there is no statement, only comments");
        return 400;
    }
    if (!tail_empty(db, tail)) {
        snprintf(err, errlen,
                 "one statement at a time: remove what follows the first one (\"%.40s\")",
                 tail + strspn(tail, " \t\r\n"));
        sqlite3_finalize(*st);
        *st = NULL;
        return 400;
    }
    if (!sqlite3_stmt_readonly(*st)) {
        snprintf(err, errlen, "refused: the console only reads");
        sqlite3_finalize(*st);
        *st = NULL;
        return 403;
    }
    return 0;
}

/* Why a step failed, for a person. */
static int step_error(sqlite3 *db, int rc, int64_t limit_ms, const char *what, char *err,
                      size_t errlen)
{
    if (rc == SQLITE_INTERRUPT) {
        snprintf(err, errlen, "time limit: the query ran longer than %s (%lld ms) and was stopped",
                 what, (long long)limit_ms);
        return 400;
    }
    snprintf(err, errlen, "%s", sqlite3_errmsg(db));
    return rc == SQLITE_BUSY ? 503 : 400;
}

struct web_sql *web_sql_open(const struct config *cfg, char *err, size_t errlen)
{
    struct web_sql *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        snprintf(err, errlen, "SQL console: out of memory");
        return NULL;
    }
    s->cfg = cfg;
    TAILQ_INIT(&s->exports);
    if ((s->db = console_open(cfg->db_path, &s->g, err, errlen)) == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

/* ---- the console query ----------------------------------------------------------------------- */

static size_t value_bytes(sqlite3_stmt *st, int i)
{
    int t = sqlite3_column_type(st, i);

    return 16 +
           (t == SQLITE_TEXT || t == SQLITE_BLOB ? (size_t)sqlite3_column_bytes(st, i) * 2 : 0);
}

int web_sql_query(struct web_ctx *ctx, const char *q, json_t **out, char *err, size_t errlen)
{
    struct web_sql *s = web_ctx_sql(ctx);
    int64_t limit_ms = s->cfg->web_sql_time_limit_ms;
    sqlite3_stmt *st;
    json_t *columns, *rows;
    size_t bytes = 0;
    bool truncated = false;
    int status, rc, n;

    *out = NULL;
    if ((status = prepare_one(s->db, &s->g, limit_ms, q, &st, err, errlen)) != 0)
        return status;
    n = sqlite3_column_count(st);
    columns = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(columns, web_json_text(sqlite3_column_name(st, i),
                                                     strlen(sqlite3_column_name(st, i))));
    rows = json_array();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *row;

        if ((int64_t)json_array_size(rows) >= s->cfg->web_sql_max_rows ||
            bytes > SQL_RESULT_BYTES) {
            truncated = true;
            break;
        }
        row = json_array();
        for (int i = 0; i < n; i++) {
            json_array_append_new(row, web_column_json(st, i));
            bytes += value_bytes(st, i);
        }
        json_array_append_new(rows, row);
    }
    status = rc == SQLITE_ROW || rc == SQLITE_DONE
                 ? 200
                 : step_error(s->db, rc, limit_ms, "web.sql.time_limit", err, errlen);
    sqlite3_finalize(st);
    s->g.deadline_ms = INT64_MAX;
    if (status != 200) {
        json_decref(columns);
        json_decref(rows);
        return status;
    }
    *out = json_pack("{s:o, s:o, s:b}", "columns", columns, "rows", rows, "truncated", truncated);
    return 200;
}

/* ---- the streamed CSV export ----------------------------------------------------------------- */

/* A cell of the export: numbers bare, text through csv_cell, blobs as x'..'. */
static void export_cell(struct evbuffer *out, sqlite3_stmt *st, int i)
{
    json_t *v;

    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        evbuffer_add_printf(out, "%lld", (long long)sqlite3_column_int64(st, i));
        break;
    case SQLITE_FLOAT: evbuffer_add_printf(out, "%.17g", sqlite3_column_double(st, i)); break;
    case SQLITE_NULL: break;
    case SQLITE_TEXT:
        csv_cell_n(out, (const char *)sqlite3_column_text(st, i),
                   (size_t)sqlite3_column_bytes(st, i));
        break;
    default:
        v = web_column_json(st, i);
        csv_cell(out, json_string_value(v));
        json_decref(v);
    }
}

/* Write everything in out to fd (blocking); false once the reader has gone. */
static bool export_flush(struct evbuffer *out, int fd)
{
    while (evbuffer_get_length(out) > 0) {
        size_t n =
            evbuffer_get_length(out) < EXPORT_CHUNK ? evbuffer_get_length(out) : EXPORT_CHUNK;
        ssize_t w = send(fd, evbuffer_pullup(out, (ev_ssize_t)n), n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        evbuffer_drain(out, (size_t)w);
    }
    return true;
}

/*
 * The worker: the header, then each row as the statement steps, until the
 * end, the byte cap, the time limit or the client leaving. A cut export ends
 * with a line "# export stopped: why".
 */
static void *export_main(void *arg)
{
    struct export *e = arg;
    struct evbuffer *out = evbuffer_new(), *row = evbuffer_new();
    int n = sqlite3_column_count(e->st), rc;
    int64_t bytes = 0;
    char why[300] = "";

    e->g.deadline_ms = clock_mono_ms() + e->time_limit_ms;
    for (int i = 0; i < n; i++) {
        if (i > 0)
            evbuffer_add(out, ",", 1);
        csv_cell(out, sqlite3_column_name(e->st, i));
    }
    evbuffer_add(out, "\r\n", 2);
    bytes = (int64_t)evbuffer_get_length(out);
    while ((rc = sqlite3_step(e->st)) == SQLITE_ROW) {
        for (int i = 0; i < n; i++) {
            if (i > 0)
                evbuffer_add(row, ",", 1);
            export_cell(row, e->st, i);
        }
        evbuffer_add(row, "\r\n", 2);
        if (bytes + (int64_t)evbuffer_get_length(row) > e->max_bytes) {
            snprintf(why, sizeof(why), "web.sql.export_max_bytes (%lld bytes) reached",
                     (long long)e->max_bytes);
            break;
        }
        bytes += (int64_t)evbuffer_get_length(row);
        evbuffer_add_buffer(out, row);
        if (evbuffer_get_length(out) >= EXPORT_CHUNK && !export_flush(out, e->wfd))
            break;
        if (clock_mono_ms() > e->g.deadline_ms) {
            rc = SQLITE_INTERRUPT;
            break;
        }
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE && !atomic_load(&e->cancel))
        step_error(e->db, rc, e->time_limit_ms, "web.sql.export_time_limit", why,
                   sizeof(why));
    if (why[0] != '\0')
        evbuffer_add_printf(out, "# export stopped: %s\r\n", why);
    export_flush(out, e->wfd);
    evbuffer_free(out);
    evbuffer_free(row);
    sqlite3_finalize(e->st);
    sqlite3_close(e->db);
    e->st = NULL;
    e->db = NULL;
    close(e->wfd);
    e->wfd = -1;
    return NULL;
}

/* The loop's side is done (the export ended, or its client left): join the worker, free. */
static void export_free(struct export *e)
{
    atomic_store(&e->cancel, true);
    if (e->evcon != NULL)
        evhttp_connection_set_closecb(e->evcon, NULL, NULL);
    if (e->ev != NULL)
        event_free(e->ev);
    if (e->fd >= 0)
        close(e->fd); /* a worker still writing now gets EPIPE and stops */
    pthread_join(e->thread, NULL);
    TAILQ_REMOVE(&e->sql->exports, e, link);
    e->sql->nexports--;
    free(e);
}

static void export_gone(struct evhttp_connection *evcon, void *arg)
{
    struct export *e = arg;

    (void)evcon;
    e->req = NULL;
    e->evcon = NULL;
    export_free(e);
}

static void export_sent(struct evhttp_connection *evcon, void *arg)
{
    struct export *e = arg;

    (void)evcon;
    e->sending = false;
    event_add(e->ev, NULL);
}

/* Bytes from the worker: pass them on as one chunk, and read no more until it is out. */
static void export_readable(evutil_socket_t fd, short what, void *arg)
{
    struct export *e = arg;
    struct evbuffer *buf = evbuffer_new();
    int n = evbuffer_read(buf, fd, EXPORT_CHUNK);

    (void)what;
    if (n > 0) {
        e->sending = true;
        event_del(e->ev);
        evhttp_send_reply_chunk_with_cb(e->req, buf, export_sent, e);
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        /*
         * Free first: ending the reply may free the connection at once (an
         * HTTP/1.0 client), and its close callback must not find us.
         */
        struct evhttp_request *req = e->req;
        export_free(e);
        evhttp_send_reply_end(req);
    }
    evbuffer_free(buf);
}

static void sql_export(struct web_req *r, const char *q)
{
    struct web_sql *s = web_ctx_sql(r->ctx);
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    struct export *e;
    char err[400];
    int sv[2], status;

    if (s->nexports >= EXPORTS_MAX) {
        web_error(r, 503, "busy",
                  "as many exports as allowed are running; try again when one ends");
        return;
    }
    if ((e = calloc(1, sizeof(*e))) == NULL) {
        web_error(r, 500, "internal error", "out of memory");
        return;
    }
    e->sql = s;
    e->fd = e->wfd = -1;
    e->max_bytes = s->cfg->web_sql_export_max_bytes;
    e->time_limit_ms = s->cfg->web_sql_export_time_limit_ms;
    atomic_init(&e->cancel, false);
    e->g.cancel = &e->cancel;
    if ((e->db = console_open(s->cfg->db_path, &e->g, err, sizeof(err))) == NULL) {
        free(e);
        web_error(r, 500, "database error", err);
        return;
    }
    if ((status = prepare_one(e->db, &e->g, e->time_limit_ms, q, &e->st, err, sizeof(err))) != 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        sqlite3_finalize(e->st);
        sqlite3_close(e->db);
        free(e);
        if (status == 0)
            web_error(r, 500, "internal error", strerror(errno));
        else
            web_error(r, status, status == 403 ? "refused" : "query failed", err);
        return;
    }
    e->fd = sv[0];
    e->wfd = sv[1];
    evutil_make_socket_nonblocking(e->fd);
    if (pthread_create(&e->thread, NULL, export_main, e) != 0) {
        close(sv[0]);
        close(sv[1]);
        sqlite3_finalize(e->st);
        sqlite3_close(e->db);
        free(e);
        web_error(r, 500, "internal error", "cannot start the export");
        return;
    }
    TAILQ_INSERT_TAIL(&s->exports, e, link);
    s->nexports++;
    e->req = r->req;
    e->evcon = evhttp_request_get_connection(r->req);
    e->ev = event_new(evhttp_connection_get_base(e->evcon), e->fd, EV_READ | EV_PERSIST,
                      export_readable, e);
    event_add(e->ev, NULL);
    evhttp_connection_set_closecb(e->evcon, export_gone, e);
    web_security_headers(r);
    evhttp_add_header(h, "Content-Type", "text/csv; charset=utf-8");
    evhttp_add_header(h, "Content-Disposition", "attachment; filename=\"warden-query.csv\"");
    web_count_status(r, 200);
    web_reply_started(r);
    evhttp_send_reply_start(r->req, 200, "OK");
}

/* ---- the handler ----------------------------------------------------------------------------- */

/* q from the query string or a form, or {"q": "..."} in a JSON body. doc holds it; free after. */
static const char *query_text(struct web_req *r, json_t **doc)
{
    const char *q = web_param(r, "q");

    *doc = NULL;
    if (q != NULL || r->body == NULL)
        return q;
    *doc = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, NULL);
    return json_string_value(json_object_get(*doc, "q"));
}

void web_sql_handler(struct web_req *r)
{
    json_t *doc, *result;
    const char *q = query_text(r, &doc);
    char err[400];
    int status;

    if (q == NULL) {
        json_decref(doc);
        web_error(r, 400, "bad parameter",
                  "q: the SQL statement is required (?q=... or a JSON body {\"q\": \"...\"})");
        return;
    }
    if (r->wants_csv) {
        sql_export(r, q);
        json_decref(doc);
        return;
    }
    status = web_sql_query(r->ctx, q, &result, err, sizeof(err));
    json_decref(doc);
    if (status == 200)
        web_send_json(r, 200, result);
    else
        web_error(r, status,
                  status == 403   ? "refused"
                  : status == 503 ? "busy"
                                  : "query failed",
                  err);
}

void web_sql_close(struct web_sql *s)
{
    if (s == NULL)
        return;
    /* evhttp_free() has closed every connection, and with them the exports; this is a backstop. */
    while (!TAILQ_EMPTY(&s->exports)) {
        TAILQ_FIRST(&s->exports)->evcon = NULL;
        export_free(TAILQ_FIRST(&s->exports));
    }
    sqlite3_close(s->db);
    free(s);
}
