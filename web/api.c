/*
 * web/api.c: what the JSON API's handlers share (api.h): a row as an
 * object, a list as JSON or CSV, parameters checked with a message that
 * names them, statements kept prepared between requests, and the lists
 * written straight from SQLite as JSON (jsonw.h) with the last page kept
 * while the database has not changed. The handlers are api_*.c; this file
 * calls only the core.
 *
 * Reads go through ctx->db, the read-only connection. Lists page by key
 * (keyset pagination), so a page costs the same however deep it is, and a
 * row inserted meanwhile shifts nothing.
 */
#include "api.h"
#include "html.h"
#include "jsonw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_LIMIT_MAX     1000
#define LIST_LIMIT_DEFAULT 100
#define FILTER_MAX_BYTES   256

/* Columns that hold unix milliseconds: each gets an ISO 8601 twin, start_ms -> start_time. */
static const char *const time_columns[] = {
    "start_ms", "end_ms", "resolved_ms", "first_seen_ms", "last_seen_ms", "discovered_ms",
    "at_ms", "updated_ms", "recv_ms", "device_ms", NULL};
/* Columns that hold a JSON object as text: given as the object. */
static const char *const json_columns[] = {"extended_properties", "additional_data", "details",
                                           NULL};

bool api_in_list(const char *const *list, const char *name)
{
    for (; *list != NULL; list++)
        if (strcmp(*list, name) == 0)
            return true;
    return false;
}

json_t *api_iso_time(int64_t ms)
{
    char buf[40];

    time_format_iso(ms, buf, sizeof(buf));
    return json_string(buf);
}

/* A row as an object, column by column, with the twins and objects above. */
json_t *api_row_object(sqlite3_stmt *st)
{
    json_t *o = json_object();
    int n = sqlite3_column_count(st);

    for (int i = 0; i < n; i++) {
        const char *name = sqlite3_column_name(st, i);
        json_t *v = NULL;

        if (api_in_list(json_columns, name) && sqlite3_column_type(st, i) == SQLITE_TEXT)
            v = json_loads((const char *)sqlite3_column_text(st, i), JSON_DECODE_ANY, NULL);
        if (v == NULL)
            v = web_column_json(st, i);
        json_object_set_new(o, name, v);
        if (api_in_list(time_columns, name)) {
            char twin[64];
            size_t len = strlen(name);
            snprintf(twin, sizeof(twin), "%.*s_time", (int)(len - 3), name);
            json_object_set_new(o, twin,
                                sqlite3_column_type(st, i) == SQLITE_INTEGER
                                    ? api_iso_time(sqlite3_column_int64(st, i))
                                    : json_null());
        }
    }
    return o;
}

/*
 * Answer a list: {"items": [...], "next_cursor": ...} as JSON, or as CSV
 * with the columns cols (the cursor then in the X-Next-Cursor header).
 * Takes items and next over.
 */
void api_send_items(struct web_req *r, json_t *items, json_t *next, const char *const *cols,
                       const char *name)
{
    struct evbuffer *out;
    json_t *row, *item;
    size_t i;
    char disp[96];

    if (next == NULL)
        next = json_null();
    if (!r->wants_csv) {
        json_t *o = json_object();
        json_object_set_new(o, "items", items);
        json_object_set_new(o, "next_cursor", next);
        web_send_json(r, 200, o);
        return;
    }
    out = evbuffer_new();
    row = json_array();
    for (const char *const *c = cols; *c != NULL; c++)
        json_array_append_new(row, json_string(*c));
    web_csv_row(out, row);
    json_array_foreach(items, i, item) {
        json_array_clear(row);
        for (const char *const *c = cols; *c != NULL; c++) {
            json_t *v = json_object_get(item, *c);
            json_array_append(row, v ? v : json_null());
        }
        web_csv_row(out, row);
    }
    json_decref(row);
    if (json_is_string(next))
        evhttp_add_header(evhttp_request_get_output_headers(r->req), "X-Next-Cursor",
                          json_string_value(next));
    snprintf(disp, sizeof(disp), "inline; filename=\"warden-%s.csv\"", name);
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Disposition", disp);
    json_decref(items);
    json_decref(next);
    web_send(r, 200, "text/csv; charset=utf-8", out);
}

/* ---- shared bits of the handlers ------------------------------------------------------------- */

sqlite3_stmt *api_prepare(struct web_req *r, sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        log_warn("web: %s", sqlite3_errmsg(db));
        web_error(r, 500, "database error", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/*
 * The lists' statements are prepared once and kept in ctx->kept, by their
 * SQL constant: preparing one was a tenth of a 100-alert page's CPU.
 * api_kept_done() resets the statement as soon as the request is done with it,
 * so that no read transaction outlives the request (it would hold back the
 * ingester's checkpoints). A schema change meanwhile makes SQLite prepare
 * it again by itself.
 */
static sqlite3_stmt *kept(struct web_ctx *ctx, const char *sql)
{
    struct web_kept *k = ctx->kept;
    sqlite3_stmt *st = NULL;
    int i;

    for (i = 0; i < WEB_KEPT_MAX && k[i].sql != NULL; i++)
        if (k[i].sql == sql)
            return k[i].st;
    if (sqlite3_prepare_v2(ctx->db, sql, -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return NULL;
    }
    if (i < WEB_KEPT_MAX) {
        k[i].sql = sql;
        k[i].st = st;
    }
    return st;
}

/* kept(), answering 500 when the statement cannot be prepared. */
sqlite3_stmt *api_kept_prepare(struct web_req *r, const char *sql)
{
    sqlite3_stmt *st = kept(r->ctx, sql);

    if (st == NULL) {
        log_warn("web: %s", sqlite3_errmsg(r->ctx->db));
        web_error(r, 500, "database error", sqlite3_errmsg(r->ctx->db));
    }
    return st;
}

void api_kept_done(struct web_ctx *ctx, sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    for (int i = 0; i < WEB_KEPT_MAX; i++)
        if (ctx->kept[i].st == st)
            return;
    sqlite3_finalize(st); /* the table was full: not kept */
}

/* End of a step loop: false (having answered 500) when it ended in an error. */
bool api_step_done(struct web_req *r, sqlite3_stmt *st, int rc)
{
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        return true;
    web_error(r, rc == SQLITE_BUSY ? 503 : 500, "database error",
              sqlite3_errmsg(sqlite3_db_handle(st)));
    return false;
}

void api_bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s != NULL)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* A filter parameter; an empty one (a form's blank field) counts as absent. */
const char *api_param(struct web_req *r, const char *name)
{
    const char *v = web_param(r, name);

    return v != NULL && v[0] != '\0' ? v : NULL;
}

void api_bad_param(struct web_req *r, const char *name, const char *why)
{
    char detail[256];

    snprintf(detail, sizeof(detail), "%s: %s", name, why);
    web_error(r, 400, "bad parameter", detail);
}

/* A free-text filter: absent, or bounded printable UTF-8. */
bool api_param_text(struct web_req *r, const char *name, const char **out)
{
    const char *v = api_param(r, name);
    size_t n;

    *out = v;
    if (v == NULL)
        return true;
    n = strlen(v);
    if (n == 0 || n > FILTER_MAX_BYTES || !utf8_valid(v, n)) {
        api_bad_param(r, name, "must be 1 to 256 bytes of UTF-8 text");
        return false;
    }
    return true;
}

/*
 * An enumerated filter, one value or several comma-separated: as a JSON
 * array text for json_each(), or NULL when absent. The caller frees it.
 */
bool api_param_enum(struct web_req *r, const char *name, const char *const *allowed, char **out)
{
    const char *v = api_param(r, name);
    char why[200], item[64];
    json_t *arr;

    *out = NULL;
    if (v == NULL)
        return true;
    arr = json_array();
    for (const char *p = v;;) {
        size_t n = strcspn(p, ",");
        bool ok = false;

        if (n < sizeof(item)) {
            memcpy(item, p, n);
            item[n] = '\0';
            ok = api_in_list(allowed, item);
        }
        if (!ok) {
            size_t len = 0;
            why[0] = '\0';
            for (const char *const *a = allowed; *a != NULL; a++)
                len += (size_t)snprintf(why + len, len < sizeof(why) ? sizeof(why) - len : 0,
                                        "%s%s", len ? ", " : "must be one of ", *a);
            if (len < sizeof(why))
                snprintf(why + len, sizeof(why) - len, " (several comma-separated)");
            json_decref(arr);
            api_bad_param(r, name, why);
            return false;
        }
        json_array_append_new(arr, json_string(item));
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    *out = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return true;
}

bool api_param_limit(struct web_req *r, int64_t *limit)
{
    return web_param_int(r, "limit", 1, LIST_LIMIT_MAX, LIST_LIMIT_DEFAULT, limit);
}

/* ---- lists streamed as JSON ------------------------------------------------------------------ */

/*
 * The JSON of a list is written row by row from SQLite with the streaming
 * writer (jsonw.h) rather than built as a Jansson tree: building and
 * dumping the tree was most of a 100-alert page's time, nearly all of it
 * allocations. The document is the same as api_row_object()'s, twins and
 * stored objects included.
 */
#define LIST_MAX_BYTES   (64u << 20) /* a page of LIST_LIMIT_MAX rows of long texts stays far below */
#define LIST_MAX_COLUMNS 32

/*
 * How each column of a statement is written, worked out once per request
 * rather than per row. The names are the statements' own (our SQL), so
 * they need no escaping; a name that would is refused, not written.
 */
struct list_shape {
    int n;
    struct {
        struct jsonw_key name;
        struct jsonw_key twin; /* "start_time" for start_ms */
        bool has_twin;
        bool json; /* stored JSON text, written as the value it holds */
    } col[LIST_MAX_COLUMNS];
};

static bool list_shape_of(sqlite3_stmt *st, struct list_shape *shape)
{
    shape->n = sqlite3_column_count(st);
    if (shape->n > LIST_MAX_COLUMNS)
        return false;
    for (int i = 0; i < shape->n; i++) {
        const char *name = sqlite3_column_name(st, i);
        size_t len = strlen(name);
        char twin[64];

        if (!jsonw_key_prepare(&shape->col[i].name, name, len))
            return false;
        shape->col[i].json = api_in_list(json_columns, name);
        shape->col[i].has_twin = api_in_list(time_columns, name);
        if (shape->col[i].has_twin) {
            snprintf(twin, sizeof(twin), "%.*s_time", (int)(len - 3), name);
            if (!jsonw_key_prepare(&shape->col[i].twin, twin, strlen(twin)))
                return false;
        }
    }
    return true;
}

/* Column i's value v (of SQLite type type) as web_column_json() gives it. */
static void column_write(struct jsonw *w, sqlite3_stmt *st, int i, sqlite3_value *v, int type)
{
    switch (type) {
    case SQLITE_INTEGER: jsonw_int(w, sqlite3_value_int64(v)); break;
    case SQLITE_FLOAT: jsonw_real(w, sqlite3_value_double(v)); break;
    case SQLITE_TEXT:
        jsonw_string(w, (const char *)sqlite3_value_text(v), (size_t)sqlite3_value_bytes(v));
        break;
    case SQLITE_BLOB: {
        json_t *j = web_column_json(st, i); /* rare: the x'..' form, written once */
        jsonw_cstring(w, json_string_value(j));
        json_decref(j);
        break;
    }
    default: jsonw_null(w);
    }
}

/*
 * Each column is read through its sqlite3_value: one call into SQLite for
 * the column rather than one per type, text and length, which was a sixth
 * of a list's CPU. SQLite calls such a value unprotected, unsafe only when
 * another thread uses the connection meanwhile; ctx->db is this thread's
 * alone (SQLITE_OPEN_NOMUTEX).
 */
static void row_write(struct jsonw *w, sqlite3_stmt *st, const struct list_shape *shape)
{
    jsonw_object(w);
    for (int i = 0; i < shape->n; i++) {
        sqlite3_value *v = sqlite3_column_value(st, i);
        int type = sqlite3_value_type(v);

        jsonw_key_put(w, &shape->col[i].name);
        if (!shape->col[i].json || type != SQLITE_TEXT ||
            !jsonw_json(w, (const char *)sqlite3_value_text(v), (size_t)sqlite3_value_bytes(v)))
            column_write(w, st, i, v, type);
        if (shape->col[i].has_twin) {
            jsonw_key_put(w, &shape->col[i].twin);
            if (type == SQLITE_INTEGER)
                jsonw_time(w, sqlite3_value_int64(v));
            else
                jsonw_null(w);
        }
    }
    jsonw_object_end(w);
}

/* The next page's cursor from the current row of a list's statement. */

/*
 * {"items": [...], "next_cursor": ...} from st's rows, at most limit of
 * them, and a newline; st was bound to return limit + 1, and a row past
 * limit means a next page, whose cursor comes from the last row written.
 * NULL, having answered 500, when a step fails midway or the page is too
 * large.
 */
static struct evbuffer *list_write(struct web_req *r, sqlite3_stmt *st, int64_t limit,
                                   api_list_cursor cursor)
{
    struct evbuffer *out = evbuffer_new();
    struct list_shape shape;
    struct jsonw w;
    char cur[400] = "";
    int64_t rows = 0;
    int rc = SQLITE_DONE;
    bool more = false;

    if (out == NULL || !list_shape_of(st, &shape)) {
        if (out != NULL)
            evbuffer_free(out);
        web_error(r, 500, "internal error", "cannot write the list");
        return NULL;
    }
    jsonw_init(&w, out, LIST_MAX_BYTES);
    jsonw_object(&w);
    jsonw_key(&w, "items");
    jsonw_array(&w);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows++ == limit) {
            more = true;
            break;
        }
        row_write(&w, st, &shape);
        if (rows == limit) /* the last row of the page: the next one starts after it */
            cursor(st, cur, sizeof(cur));
    }
    jsonw_array_end(&w);
    jsonw_key(&w, "next_cursor");
    if (more && cur[0] != '\0')
        jsonw_cstring(&w, cur);
    else
        jsonw_null(&w);
    jsonw_object_end(&w);
    if (!api_step_done(r, st, rc)) {
        evbuffer_free(out);
        return NULL;
    }
    if (!jsonw_finish(&w)) {
        evbuffer_free(out);
        web_error(r, 500, "internal error", "the list is too large to answer");
        return NULL;
    }
    evbuffer_add(out, "\n", 1);
    return out;
}

/*
 * The last page a list answered is kept with its query (the statement's
 * SQL with its values, sqlite3_expanded_sql) and the database's
 * data_version read just before its rows. PRAGMA data_version moves
 * whenever another connection commits anything: the ingester, the
 * evaluator (its thread, or `warden evaluate` in another process), this
 * server's own db_rw, an sqlite3 shell. The page is served again only
 * while it has not moved, so it is never older than the rows it shows (a
 * commit between the version and the rows only makes the page look older
 * than it is); it is merely written anew more often than they change, at
 * every ingest commit, a few times a second under load. Between two
 * commits, every client asking for the same page costs one small query.
 */
#define PAGE_MAX_BYTES (4u << 20)

struct web_page {
    int refs;        /* ctx->page's, and one per reply still sending the body */
    int64_t version; /* data_version before the page was read */
    char *query;
    size_t len;
    char body[];
};

static const char sql_data_version[] = "PRAGMA data_version";

static bool data_version(struct web_ctx *ctx, int64_t *version)
{
    sqlite3_stmt *st = kept(ctx, sql_data_version);
    bool ok = st != NULL && sqlite3_step(st) == SQLITE_ROW;

    if (ok)
        *version = sqlite3_column_int64(st, 0);
    if (st != NULL)
        api_kept_done(ctx, st);
    return ok;
}

static void page_unref(const void *data, size_t len, void *arg)
{
    struct web_page *p = arg;

    (void)data;
    (void)len;
    if (--p->refs == 0) {
        sqlite3_free(p->query);
        free(p);
    }
}

/* Keep out's bytes as ctx's page (query is taken over). */
static void page_keep(struct web_ctx *ctx, struct evbuffer *out, int64_t version, char *query)
{
    size_t len = evbuffer_get_length(out);
    struct web_page *p = len <= PAGE_MAX_BYTES ? malloc(sizeof(*p) + len) : NULL;

    if (p == NULL) {
        sqlite3_free(query);
        return;
    }
    p->refs = 1;
    p->version = version;
    p->query = query;
    p->len = len;
    evbuffer_copyout(out, p->body, len);
    if (ctx->page != NULL)
        page_unref(NULL, 0, ctx->page);
    ctx->page = p;
}

void web_api_free(struct web_ctx *ctx)
{
    for (int i = 0; i < WEB_KEPT_MAX; i++) {
        sqlite3_finalize(ctx->kept[i].st);
        ctx->kept[i].sql = NULL;
        ctx->kept[i].st = NULL;
    }
    if (ctx->page != NULL)
        page_unref(NULL, 0, ctx->page);
    ctx->page = NULL;
}

/* Answer st's page of at most limit rows: the kept page when it still holds, else written anew. */
void api_list_send(struct web_req *r, sqlite3_stmt *st, int64_t limit, api_list_cursor cursor)
{
    struct web_page *p = r->ctx->page;
    char *query = sqlite3_expanded_sql(st);
    int64_t version;
    bool keep = query != NULL && data_version(r->ctx, &version);
    struct evbuffer *out;

    if (keep && p != NULL && p->version == version && strcmp(p->query, query) == 0) {
        sqlite3_free(query);
        if ((out = evbuffer_new()) == NULL ||
            evbuffer_add_reference(out, p->body, p->len, page_unref, p) != 0) {
            if (out != NULL)
                evbuffer_free(out);
            web_error(r, 500, "internal error", "out of memory");
            return;
        }
        p->refs++;
        web_send(r, 200, "application/json", out);
        return;
    }
    if ((out = list_write(r, st, limit, cursor)) == NULL) {
        sqlite3_free(query);
        return;
    }
    if (keep)
        page_keep(r->ctx, out, version, query);
    else
        sqlite3_free(query);
    web_send(r, 200, "application/json", out);
}
