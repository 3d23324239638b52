/*
 * web/sql.c: the SQL console (SPEC 6), above the core. Anyone who can reach the dashboard
 * can run a query, so the console is locked down in layers:
 *
 *   - a browser's request from another site (Sec-Fetch-Site, Origin) is
 *     refused before anything runs, so a page the operator has open
 *     elsewhere cannot fire queries from an <img> or a form;
 *   - its connections are opened SQLITE_OPEN_READONLY, with PRAGMA
 *     query_only, extension loading switched off and the defensive flag on;
 *   - an authorizer refuses, at prepare time, what a read-only connection
 *     alone would still run: ATTACH and DETACH, pragmas that set a value
 *     (query_only above all), temporary tables, views, indexes and triggers,
 *     transactions (an open one would pin a snapshot for ever), and functions
 *     that reach outside the database;
 *   - one statement per request, and it must be read-only to SQLite too;
 *   - SQLite's limits on the length of values (web.sql.max_value_bytes) and
 *     of the SQL, and sqlguard.c's checked versions of the functions whose
 *     cost one VDBE operation does not bound;
 *   - a time limit kept by the worker pool's watchdog (sqlguard.c bounds what
 *     an interrupt cannot stop), a row cap and a size cap.
 *
 * Queries never run on the web's event loop: sqlpool.c's workers run them,
 * each on a console connection of its own, and the loop only answers. A CSV
 * export runs on a worker too, for web.sql.export_time_limit, and streams
 * through a socket pair into a chunked reply: the loop only copies bytes, and
 * the client's reading speed paces the query. Readers in WAL mode never block
 * the writer, so neither holds up ingest.
 *
 * The console's files: sql.c (the locks above, its connections and a query),
 * api_sql.c (the handler of /api/v1/sql), sqlclient.c (a request's link to its client while a worker
 * runs it), sqlexport.c (the CSV export), sqlpool.c (the workers) and
 * sqlguard.c (the checked functions); sqlpriv.h is what they share and sql.h
 * what the rest of web/ calls. They call the core and nothing else of web/.
 */
#include "routes.h"
#include "sqlpriv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SQL_MAX_BYTES      100000             /* longest statement taken */
#define SQL_RESULT_BYTES   (8 * 1024 * 1024)  /* a console answer is cut past this */

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
    struct web_console_guard *g = arg;
    const char *why = NULL;
    int rc = web_sql_authorize(action, a1, a2, &why);

    (void)db;
    (void)trigger;
    if (rc != SQLITE_OK && g->why[0] == '\0')
        snprintf(g->why, sizeof(g->why), "%s", why ? why : "not allowed");
    return rc;
}


/* ---- connections and statements -------------------------------------------------------------- */

static void console_close(void *conn)
{
    struct web_console *c = conn;

    if (c == NULL)
        return;
    sqlite3_close(c->db);
    web_sqlguard_free(c->fns);
    free(c);
}

/* A worker's connection (sqlpool.c calls this at start, once per worker). */
static void *console_open(void *arg, sqlite3 **dbp, char *err, size_t errlen)
{
    const struct config *cfg = arg;
    struct web_console *c = calloc(1, sizeof(*c));
    sqlite3 *db = NULL;

    if (c == NULL) {
        snprintf(err, errlen, "SQL console: out of memory");
        return NULL;
    }
    if (sqlite3_open_v2(cfg->db_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "SQL console: %s: %s", cfg->db_path,
                 db ? sqlite3_errmsg(db) : "no memory");
        sqlite3_close(db);
        free(c);
        return NULL;
    }
    c->db = db;
    sqlite3_busy_timeout(db, 1000);
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    /*
     * The schema is Warden's own migrations, and the console can add nothing
     * to it (read-only, query_only, and the authorizer refuses CREATE, temp
     * objects included, and checks every function a view calls). It must be
     * trusted: SQLite 3.40 does not mark its JSON functions innocuous, and
     * the flows view reads its packs with ->> (untrusted, every query of
     * flows failed with "unsafe use of ->>()").
     */
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 1, NULL);
    if (sqlite3_exec(db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "SQL console: %s", sqlite3_errmsg(db));
        console_close(c);
        return NULL;
    }
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, (int)cfg->web_sql_max_value_bytes);
    sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, SQL_MAX_BYTES);
    sqlite3_limit(db, SQLITE_LIMIT_COLUMN, 500);
    sqlite3_limit(db, SQLITE_LIMIT_EXPR_DEPTH, 200);
    sqlite3_limit(db, SQLITE_LIMIT_COMPOUND_SELECT, 100);
    sqlite3_limit(db, SQLITE_LIMIT_FUNCTION_ARG, 100);
    sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_limit(db, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 10000);
    sqlite3_limit(db, SQLITE_LIMIT_VARIABLE_NUMBER, 100);
    sqlite3_limit(db, SQLITE_LIMIT_TRIGGER_DEPTH, 10);
    if ((c->fns = web_sqlguard_install(db, err, errlen)) == NULL) {
        console_close(c);
        return NULL;
    }
    sqlite3_set_authorizer(db, authorizer, &c->g);
    *dbp = db;
    return c;
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

/* Why a statement stopped, for a person. */
int web_sql_step_error(struct web_sql *s, struct web_sqljob *job, sqlite3 *db, int rc,
                      int64_t limit_ms, const char *what, char *err, size_t errlen)
{
    if (rc == SQLITE_INTERRUPT && web_sqljob_timed_out(s->pool, job)) {
        snprintf(err, errlen, "time limit: the query ran longer than %s (%lld ms) and was stopped",
                 what, (long long)limit_ms);
        return 400;
    }
    if (rc == SQLITE_INTERRUPT) {
        snprintf(err, errlen, "cancelled: the client has gone, or Warden is stopping");
        return 503;
    }
    snprintf(err, errlen, "%s", sqlite3_errmsg(db));
    return rc == SQLITE_BUSY ? 503 : 400;
}

/*
 * Prepare q as the console's one statement. Returns 0, or the status to
 * answer with the reason in err.
 */
int web_sql_prepare(struct web_console *c, const char *q, sqlite3_stmt **st, char *err,
                       size_t errlen)
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
    c->g.why[0] = '\0';
    rc = sqlite3_prepare_v2(c->db, q, (int)n, st, &tail);
    if (rc != SQLITE_OK) {
        if (c->g.why[0] != '\0' || rc == SQLITE_AUTH) {
            snprintf(err, errlen, "refused: %s", c->g.why[0] ? c->g.why : sqlite3_errmsg(c->db));
            return 403;
        }
        snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
        return 400;
    }
    if (*st == NULL) {
        snprintf(err, errlen, "q: there is no statement, only comments");
        return 400;
    }
    if (!tail_empty(c->db, tail)) {
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

/* ---- the console query ----------------------------------------------------------------------- */

struct query {
    struct web_sqljob job; /* first: the pool hands this back */
    struct web_sql *sql;
    struct web_sqlclient cl;
    char *q;
    web_sql_done done;
    void *arg;
    /* the worker's answer */
    int status;
    json_t *result;
    char err[400];
};

static size_t value_bytes(sqlite3_stmt *st, int i)
{
    int t = sqlite3_column_type(st, i);

    return 16 +
           (t == SQLITE_TEXT || t == SQLITE_BLOB ? (size_t)sqlite3_column_bytes(st, i) * 2 : 0);
}

static json_t *query_columns(sqlite3_stmt *st)
{
    json_t *columns = json_array();

    for (int i = 0; i < sqlite3_column_count(st); i++)
        json_array_append_new(columns, web_json_text(sqlite3_column_name(st, i),
                                                     strlen(sqlite3_column_name(st, i))));
    return columns;
}

/* On a worker: run the statement to the row cap, the size cap, its end or the time limit. */
static void query_run(struct web_sqljob *job, void *conn)
{
    struct query *qj = (struct query *)job;
    struct web_console *c = conn;
    int64_t limit_ms = qj->sql->cfg->web_sql_time_limit_ms;
    sqlite3_stmt *st;
    json_t *columns, *rows;
    size_t bytes = 0;
    bool truncated = false;
    int rc, n;

    web_sqljob_arm(qj->sql->pool, job, limit_ms);
    if ((qj->status = web_sql_prepare(c, qj->q, &st, qj->err, sizeof(qj->err))) != 0)
        return;
    n = sqlite3_column_count(st);
    columns = query_columns(st);
    rows = json_array();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *row;

        if ((int64_t)json_array_size(rows) >= qj->sql->cfg->web_sql_max_rows ||
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
    qj->status = rc == SQLITE_ROW || rc == SQLITE_DONE
                     ? 200
                     : web_sql_step_error(qj->sql, job, c->db, rc, limit_ms, "web.sql.time_limit",
                                          qj->err, sizeof(qj->err));
    sqlite3_finalize(st);
    if (qj->status != 200) {
        json_decref(columns);
        json_decref(rows);
        return;
    }
    qj->result = json_pack("{s:o, s:o, s:b}", "columns", columns, "rows", rows, "truncated",
                           truncated);
}

void web_sql_busy_detail(struct web_sql *s, char *err, size_t errlen)
{
    snprintf(err, errlen,
             "busy: the SQL console's %lld workers and its queue of %lld are taken; try again "
             "in a moment",
             (long long)s->cfg->web_sql_workers, (long long)s->cfg->web_sql_queue);
}

void web_sql_retry_after(struct web_req *r, const struct config *cfg)
{
    char secs[24];

    snprintf(secs, sizeof(secs), "%lld", (long long)(cfg->web_sql_time_limit_ms + 999) / 1000);
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", secs);
}

/* On the loop: answer, unless the client has gone, and free. */
static void query_done(struct web_sqljob *job)
{
    struct query *qj = (struct query *)job;
    struct web_req r;

    if (qj->cl.req != NULL) {
        web_sqlclient_release(&qj->cl);
        web_req_resume(&r, qj->cl.ctx, qj->cl.req);
        if (job->expired) {
            qj->status = 503;
            web_sql_busy_detail(qj->sql, qj->err, sizeof(qj->err));
        }
        if (qj->status == 503)
            web_sql_retry_after(&r, qj->sql->cfg);
    }
    if (qj->cl.req != NULL && !qj->cl.left) {
        qj->done(&r, qj->status, qj->result, qj->err, qj->arg);
        qj->result = NULL;
    } else {
        qj->done(NULL, 0, NULL, NULL, qj->arg);
        if (qj->cl.req != NULL)
            web_error(&r, 503, "cancelled", "the client closed the connection");
    }
    json_decref(qj->result);
    free(qj->q);
    free(qj);
}

static void query_left(void *arg)
{
    struct query *qj = arg;

    web_sqlpool_cancel(qj->sql->pool, &qj->job);
}

static void query_closed(struct evhttp_connection *evcon, void *arg)
{
    struct query *qj = arg;

    (void)evcon;
    web_sqlclient_closed(&qj->cl);
    web_sqlpool_cancel(qj->sql->pool, &qj->job);
}

int web_sql_submit(struct web_req *r, const char *q, web_sql_done done, void *arg, char *err,
                   size_t errlen)
{
    struct web_sql *s = r->ctx->sql;
    struct query *qj = calloc(1, sizeof(*qj));

    if (qj == NULL || (qj->q = strdup(q)) == NULL) {
        free(qj);
        snprintf(err, errlen, "out of memory");
        return 500;
    }
    qj->sql = s;
    qj->done = done;
    qj->arg = arg;
    qj->job.run = query_run;
    qj->job.done = query_done;
    qj->job.max_wait_ms = s->cfg->web_request_timeout_ms;
    if (!web_sqlpool_submit(s->pool, &qj->job)) {
        free(qj->q);
        free(qj);
        web_sql_busy_detail(s, err, errlen);
        web_sql_retry_after(r, s->cfg);
        return 503;
    }
    web_sqlclient_hold(&qj->cl, r, query_closed, query_left, qj);
    return 0;
}

/* ---- start, stop, metrics -------------------------------------------------------------------- */

struct web_sql *web_sql_open(const struct config *cfg, struct event_base *base, char *err,
                             size_t errlen)
{
    struct web_sql *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        snprintf(err, errlen, "SQL console: out of memory");
        return NULL;
    }
    s->cfg = cfg;
    s->exports_max = cfg->web_sql_workers > 1 ? (int)cfg->web_sql_workers - 1 : 1;
    s->opener = (struct web_sqlpool_conn){console_open, console_close, (void *)cfg};
    s->pool = web_sqlpool_new(base, (int)cfg->web_sql_workers, cfg->web_sql_queue, &s->opener,
                              err, errlen);
    if (s->pool == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

void web_sql_close(struct web_sql *s)
{
    if (s == NULL)
        return;
    /* evhttp_free() has closed every connection; the pool hands back what is left. */
    web_sqlpool_free(s->pool);
    free(s);
}

void web_sql_metrics(struct web_ctx *ctx, struct evbuffer *out)
{
    struct web_sql *s = ctx->sql;
    struct web_sqlpool_stats st;

    web_sqlpool_stats(s->pool, &st);
    evbuffer_add_printf(out,
                        "# HELP warden_sql_workers The SQL console's worker threads.\n"
                        "# TYPE warden_sql_workers gauge\n"
                        "warden_sql_workers %lld\n"
                        "# HELP warden_sql_running Console queries and exports running now.\n"
                        "# TYPE warden_sql_running gauge\n"
                        "warden_sql_running %lld\n"
                        "# HELP warden_sql_queued Console queries and exports waiting for a "
                        "worker.\n"
                        "# TYPE warden_sql_queued gauge\n"
                        "warden_sql_queued %lld\n"
                        "# HELP warden_sql_exports CSV exports queued, running or sending.\n"
                        "# TYPE warden_sql_exports gauge\n"
                        "warden_sql_exports %d\n"
                        "# HELP warden_sql_jobs_total Console queries and exports a worker "
                        "took.\n"
                        "# TYPE warden_sql_jobs_total counter\n"
                        "warden_sql_jobs_total %llu\n"
                        "# HELP warden_sql_time_limit_total Of them, stopped at their time "
                        "limit.\n"
                        "# TYPE warden_sql_time_limit_total counter\n"
                        "warden_sql_time_limit_total %llu\n"
                        "# HELP warden_sql_cancelled_total Console requests whose client left "
                        "before the answer.\n"
                        "# TYPE warden_sql_cancelled_total counter\n"
                        "warden_sql_cancelled_total %llu\n"
                        "# HELP warden_sql_refused_total Console requests refused for want of a "
                        "worker.\n"
                        "# TYPE warden_sql_refused_total counter\n"
                        "warden_sql_refused_total{reason=\"busy\"} %llu\n",
                        (long long)st.workers, (long long)st.running, (long long)st.queued,
                        s->exports, (unsigned long long)st.finished,
                        (unsigned long long)st.timed_out, (unsigned long long)st.cancelled,
                        (unsigned long long)st.refused_busy);
}
