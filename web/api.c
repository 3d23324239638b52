/*
 * web/api.c: the JSON API of SPEC 6 under /api/v1/, CSV for the lists when
 * asked (Accept: text/csv or ?format=csv), and the small pure parsers every
 * parameter goes through (fuzzed by tests/fuzz/fuzz_query.c).
 *
 * Reads go through ctx->db, the read-only connection; the two writes a user
 * makes (an alert's status, a security group) go through the evaluator
 * module's own functions on ctx->db_rw. Each query is a named constant next
 * to the handler that runs it, and every value is bound. Lists page by key
 * (keyset pagination), so a page costs the same however deep it is, and a
 * row inserted meanwhile shifts nothing.
 */
#include "internal.h"
#include "jsonw.h"

#include "../common/catalog.h"
#include "../evaluator/evaluator.h"
#include "../evaluator/groups.h"
#include "../store/store.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_LIMIT_MAX     1000
#define LIST_LIMIT_DEFAULT 100
#define NOTE_MAX_CHARS     1000
#define FILTER_MAX_BYTES   256
#define SERIES_POINTS      500   /* the default step aims at this many points */
#define SERIES_POINTS_MAX  10000
#define DAY_MS             86400000LL

/* ---- pure parsers ---------------------------------------------------------------------------- */

bool web_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    const char *d;
    char *end;
    long long v;

    if (s == NULL || strnlen(s, 22) > 20)
        return false;
    d = s[0] == '-' ? s + 1 : s;
    if (!isdigit((unsigned char)d[0]))
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool web_parse_time(const char *s, int64_t now_ms, int64_t *out)
{
    int64_t d;

    if (s == NULL || s[0] == '\0' || strnlen(s, 80) > 64)
        return false;
    if (s[0] == 'P') {
        if (!duration_parse(s, &d))
            return false;
        *out = now_ms - d;
        return true;
    }
    return time_parse_iso(s, out);
}

bool web_parse_step(const char *s, int64_t *ms)
{
    int64_t v;

    if (s == NULL)
        return false;
    if (isdigit((unsigned char)s[0])) {
        if (!web_parse_int(s, 1, 366 * 86400, &v))
            return false;
        v *= 1000;
    } else if (strnlen(s, 40) > 32 || !duration_parse(s, &v)) {
        return false;
    }
    if (v < 10000 || v > 366 * DAY_MS || v % 10000 != 0)
        return false;
    *ms = v;
    return true;
}

void web_cursor_alert(int64_t start_ms, int64_t id, char *out, size_t outlen)
{
    snprintf(out, outlen, "%lld.%lld", (long long)start_ms, (long long)id);
}

bool web_cursor_alert_parse(const char *s, int64_t *start_ms, int64_t *id)
{
    char head[24];
    const char *dot = s ? strchr(s, '.') : NULL;

    if (dot == NULL || (size_t)(dot - s) >= sizeof(head))
        return false;
    memcpy(head, s, (size_t)(dot - s));
    head[dot - s] = '\0';
    return web_parse_int(head, 0, INT64_MAX, start_ms) && web_parse_int(dot + 1, 0, INT64_MAX, id);
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

bool web_b64url_encode(const void *p, size_t n, char *out, size_t outlen)
{
    const unsigned char *b = p;
    size_t o = 0;

    if ((n + 2) / 3 * 4 + 1 > outlen)
        return false;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16;
        size_t k = n - i < 3 ? n - i : 3;

        if (k > 1)
            v |= (uint32_t)b[i + 1] << 8;
        if (k > 2)
            v |= b[i + 2];
        for (size_t j = 0; j < k + 1; j++)
            out[o++] = b64url[(v >> (18 - 6 * j)) & 63];
    }
    out[o] = '\0';
    return true;
}

bool web_b64url_decode(const char *s, char *out, size_t outlen, size_t *n)
{
    size_t len = strlen(s), o = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (len % 4 == 1)
        return false;
    for (size_t i = 0; i < len; i++) {
        const char *at = memchr(b64url, s[i], 64);
        if (s[i] == '\0' || at == NULL)
            return false;
        acc = (acc << 6) | (uint32_t)(at - b64url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= outlen)
                return false;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    /* Leftover bits must be zero, so that each value has one encoding. */
    if ((acc & ((1u << bits) - 1)) != 0)
        return false;
    out[o] = '\0';
    *n = o;
    return true;
}

bool web_listen_parse(const char *s, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *h = s, *p, *end;
    size_t hn, pn;
    int64_t v;

    if (s[0] == '[') {
        h = s + 1;
        if ((end = strchr(h, ']')) == NULL || end[1] != ':')
            return false;
        p = end + 2;
    } else {
        if ((end = strrchr(s, ':')) == NULL || memchr(s, ':', (size_t)(end - s)) != NULL)
            return false;
        p = end + 1;
    }
    hn = (size_t)(end - h);
    pn = strlen(p);
    if (hn >= hostlen || pn == 0 || pn >= portlen || pn > 5 || !text_printable(h, hn) ||
        memchr(h, ' ', hn) != NULL)
        return false;
    for (size_t i = 0; i < pn; i++)
        if (!isdigit((unsigned char)p[i]))
            return false;
    memcpy(host, h, hn);
    host[hn] = '\0';
    memcpy(port, p, pn + 1);
    return web_parse_int(port, 0, 65535, &v);
}

/* ---- JSON and CSV of SQLite values ----------------------------------------------------------- */

/* The length of the UTF-8 sequence led by c, or 0 when c cannot lead one. */
static size_t utf8_len(unsigned char c)
{
    return c < 0x80                ? 1
           : c >= 0xc2 && c < 0xe0 ? 2
           : c >= 0xe0 && c < 0xf0 ? 3
           : c >= 0xf0 && c < 0xf5 ? 4
                                   : 0;
}

json_t *web_json_text(const char *s, size_t n)
{
    struct evbuffer *fixed;
    json_t *j;

    if (utf8_valid(s, n))
        return json_stringn(s, n);
    /* Stored text is not always UTF-8 (a dead letter's topic, a cast blob): repair it. */
    fixed = evbuffer_new();
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len((unsigned char)s[i]);
        if (k > 0 && i + k <= n && utf8_valid(s + i, k)) {
            evbuffer_add(fixed, s + i, k);
            i += k;
        } else {
            evbuffer_add(fixed, "\xef\xbf\xbd", 3);
            i++;
        }
    }
    j = json_stringn((const char *)evbuffer_pullup(fixed, -1), evbuffer_get_length(fixed));
    evbuffer_free(fixed);
    return j;
}

json_t *web_column_json(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(st, i));
    case SQLITE_FLOAT: {
        double d = sqlite3_column_double(st, i);
        return isfinite(d) ? json_real(d) : json_null();
    }
    case SQLITE_TEXT:
        return web_json_text((const char *)sqlite3_column_text(st, i),
                             (size_t)sqlite3_column_bytes(st, i));
    case SQLITE_BLOB: {
        /* As an SQL blob literal, so that it is not mistaken for text. */
        const unsigned char *b = sqlite3_column_blob(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i);
        struct evbuffer *out = evbuffer_new();
        json_t *j;

        evbuffer_add(out, "x'", 2);
        for (size_t k = 0; k < n; k++)
            evbuffer_add_printf(out, "%02x", b[k]);
        evbuffer_add(out, "'", 1);
        j = json_stringn((const char *)evbuffer_pullup(out, -1), evbuffer_get_length(out));
        evbuffer_free(out);
        return j;
    }
    }
    return json_null();
}

/* Columns that hold unix milliseconds: each gets an ISO 8601 twin, start_ms -> start_time. */
static const char *const time_columns[] = {
    "start_ms", "end_ms", "resolved_ms", "first_seen_ms", "last_seen_ms", "discovered_ms",
    "at_ms", "updated_ms", "recv_ms", "device_ms", NULL};
/* Columns that hold a JSON object as text: given as the object. */
static const char *const json_columns[] = {"extended_properties", "additional_data", "details",
                                           NULL};

static bool in_list(const char *const *list, const char *name)
{
    for (; *list != NULL; list++)
        if (strcmp(*list, name) == 0)
            return true;
    return false;
}

static json_t *iso_time(int64_t ms)
{
    char buf[40];

    time_format_iso(ms, buf, sizeof(buf));
    return json_string(buf);
}

/* A row as an object, column by column, with the twins and objects above. */
static json_t *row_object(sqlite3_stmt *st)
{
    json_t *o = json_object();
    int n = sqlite3_column_count(st);

    for (int i = 0; i < n; i++) {
        const char *name = sqlite3_column_name(st, i);
        json_t *v = NULL;

        if (in_list(json_columns, name) && sqlite3_column_type(st, i) == SQLITE_TEXT)
            v = json_loads((const char *)sqlite3_column_text(st, i), JSON_DECODE_ANY, NULL);
        if (v == NULL)
            v = web_column_json(st, i);
        json_object_set_new(o, name, v);
        if (in_list(time_columns, name)) {
            char twin[64];
            size_t len = strlen(name);
            snprintf(twin, sizeof(twin), "%.*s_time", (int)(len - 3), name);
            json_object_set_new(o, twin,
                                sqlite3_column_type(st, i) == SQLITE_INTEGER
                                    ? iso_time(sqlite3_column_int64(st, i))
                                    : json_null());
        }
    }
    return o;
}

static void csv_value(struct evbuffer *out, json_t *v)
{
    char *text;

    switch (json_typeof(v)) {
    case JSON_STRING: csv_cell_n(out, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: evbuffer_add_printf(out, "%lld", (long long)json_integer_value(v)); break;
    case JSON_REAL: evbuffer_add_printf(out, "%.17g", json_real_value(v)); break;
    case JSON_TRUE: evbuffer_add(out, "true", 4); break;
    case JSON_FALSE: evbuffer_add(out, "false", 5); break;
    case JSON_NULL: break;
    default:
        text = json_dumps(v, JSON_COMPACT);
        csv_cell(out, text);
        free(text);
    }
}

void web_csv_row(struct evbuffer *out, json_t *cells)
{
    size_t i;
    json_t *v;

    json_array_foreach(cells, i, v) {
        if (i > 0)
            evbuffer_add(out, ",", 1);
        csv_value(out, v);
    }
    evbuffer_add(out, "\r\n", 2);
}

/*
 * Answer a list: {"items": [...], "next_cursor": ...} as JSON, or as CSV
 * with the columns cols (the cursor then in the X-Next-Cursor header).
 * Takes items and next over.
 */
static void send_items(struct web_req *r, json_t *items, json_t *next, const char *const *cols,
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

static sqlite3_stmt *prepare(struct web_req *r, sqlite3 *db, const char *sql)
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
 * kept_done() resets the statement as soon as the request is done with it,
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
static sqlite3_stmt *kept_prepare(struct web_req *r, const char *sql)
{
    sqlite3_stmt *st = kept(r->ctx, sql);

    if (st == NULL) {
        log_warn("web: %s", sqlite3_errmsg(r->ctx->db));
        web_error(r, 500, "database error", sqlite3_errmsg(r->ctx->db));
    }
    return st;
}

static void kept_done(struct web_ctx *ctx, sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    for (int i = 0; i < WEB_KEPT_MAX; i++)
        if (ctx->kept[i].st == st)
            return;
    sqlite3_finalize(st); /* the table was full: not kept */
}

/* End of a step loop: false (having answered 500) when it ended in an error. */
static bool step_done(struct web_req *r, sqlite3_stmt *st, int rc)
{
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        return true;
    web_error(r, rc == SQLITE_BUSY ? 503 : 500, "database error",
              sqlite3_errmsg(sqlite3_db_handle(st)));
    return false;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s != NULL)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* A filter parameter; an empty one (a form's blank field) counts as absent. */
static const char *param(struct web_req *r, const char *name)
{
    const char *v = web_param(r, name);

    return v != NULL && v[0] != '\0' ? v : NULL;
}

static void bad_param(struct web_req *r, const char *name, const char *why)
{
    char detail[256];

    snprintf(detail, sizeof(detail), "%s: %s", name, why);
    web_error(r, 400, "bad parameter", detail);
}

/* A free-text filter: absent, or bounded printable UTF-8. */
static bool param_text(struct web_req *r, const char *name, const char **out)
{
    const char *v = param(r, name);
    size_t n;

    *out = v;
    if (v == NULL)
        return true;
    n = strlen(v);
    if (n == 0 || n > FILTER_MAX_BYTES || !utf8_valid(v, n)) {
        bad_param(r, name, "must be 1 to 256 bytes of UTF-8 text");
        return false;
    }
    return true;
}

/*
 * An enumerated filter, one value or several comma-separated: as a JSON
 * array text for json_each(), or NULL when absent. The caller frees it.
 */
static bool param_enum(struct web_req *r, const char *name, const char *const *allowed,
                       char **out)
{
    const char *v = param(r, name);
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
            ok = in_list(allowed, item);
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
            bad_param(r, name, why);
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

static bool param_limit(struct web_req *r, int64_t *limit)
{
    return web_param_int(r, "limit", 1, LIST_LIMIT_MAX, LIST_LIMIT_DEFAULT, limit);
}

/* ---- lists streamed as JSON ------------------------------------------------------------------ */

/*
 * The JSON of a list is written row by row from SQLite with the streaming
 * writer (jsonw.h) rather than built as a Jansson tree: building and
 * dumping the tree was most of a 100-alert page's time, nearly all of it
 * allocations. The document is the same as row_object()'s, twins and
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
        shape->col[i].json = in_list(json_columns, name);
        shape->col[i].has_twin = in_list(time_columns, name);
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
typedef void (*list_cursor)(sqlite3_stmt *st, char *out, size_t outlen);

/*
 * {"items": [...], "next_cursor": ...} from st's rows, at most limit of
 * them, and a newline; st was bound to return limit + 1, and a row past
 * limit means a next page, whose cursor comes from the last row written.
 * NULL, having answered 500, when a step fails midway or the page is too
 * large.
 */
static struct evbuffer *list_write(struct web_req *r, sqlite3_stmt *st, int64_t limit,
                                   list_cursor cursor)
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
    if (!step_done(r, st, rc)) {
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
        kept_done(ctx, st);
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
static void list_send(struct web_req *r, sqlite3_stmt *st, int64_t limit, list_cursor cursor)
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

/* ---- alerts ---------------------------------------------------------------------------------- */

#define ALERT_COLUMNS                                                                              \
    "SELECT alert_id, alert_type, alert_key, display_name, severity, device_id, hub, status, "     \
    "start_ms, end_ms, resolved_ms, count, value, description, remediation, extended_properties "

static const char *const alert_statuses[] = {"Active", "Resolved", "Dismissed", NULL};
static const char *const alert_csv[] = {
    "alert_id", "alert_type", "alert_key", "display_name", "severity", "device_id",
    "hub", "status", "start_time", "end_time", "resolved_time", "count",
    "value", "description", "remediation", "extended_properties", NULL};

/*
 * Newest first. ?6 is the smaller of until and the cursor's time, so that
 * the index range starts at the cursor however deep the page; the row value
 * comparison then resumes just after the cursor's row.
 */
static const char sql_alerts[] =
    ALERT_COLUMNS "FROM alerts "
    "WHERE (?1 IS NULL OR status IN (SELECT value FROM json_each(?1))) "
    "AND (?2 IS NULL OR severity IN (SELECT value FROM json_each(?2))) "
    "AND (?3 IS NULL OR alert_type = ?3) "
    "AND start_ms >= ?5 AND start_ms <= ?6 AND (start_ms, alert_id) < (?7, ?8) "
    "ORDER BY start_ms DESC, alert_id DESC LIMIT ?9";
/* The same for one device, so that its index (device_id, start_ms) serves it. */
static const char sql_alerts_device[] =
    ALERT_COLUMNS "FROM alerts "
    "WHERE (?1 IS NULL OR status IN (SELECT value FROM json_each(?1))) "
    "AND (?2 IS NULL OR severity IN (SELECT value FROM json_each(?2))) "
    "AND (?3 IS NULL OR alert_type = ?3) AND device_id = ?4 "
    "AND start_ms >= ?5 AND start_ms <= ?6 AND (start_ms, alert_id) < (?7, ?8) "
    "ORDER BY start_ms DESC, alert_id DESC LIMIT ?9";

struct alert_filter {
    char *status, *severity; /* JSON arrays, or NULL */
    const char *type, *device;
    int64_t since, until, cur_start, cur_id, limit;
};

static bool alert_filter_parse(struct web_req *r, struct alert_filter *f)
{
    const char *cursor = param(r, "cursor");

    f->cur_start = INT64_MAX;
    f->cur_id = INT64_MAX;
    if (!param_enum(r, "status", alert_statuses, &f->status) ||
        !param_enum(r, "severity", catalog_severities, &f->severity) ||
        !param_text(r, "type", &f->type) || !param_text(r, "device", &f->device) ||
        !web_param_time(r, "since", 0, &f->since) ||
        !web_param_time(r, "until", INT64_MAX, &f->until) || !param_limit(r, &f->limit))
        return false;
    if (cursor != NULL && !web_cursor_alert_parse(cursor, &f->cur_start, &f->cur_id)) {
        bad_param(r, "cursor", "not a cursor this API gave (next_cursor of the previous page)");
        return false;
    }
    return true;
}

/* Columns 8 and 0 of ALERT_COLUMNS: start_ms, alert_id. */
static void alert_cursor(sqlite3_stmt *st, char *out, size_t outlen)
{
    web_cursor_alert(sqlite3_column_int64(st, 8), sqlite3_column_int64(st, 0), out, outlen);
}

static void api_alerts(struct web_req *r)
{
    struct alert_filter f = {0};
    sqlite3_stmt *st;
    json_t *items, *next = NULL;
    int rc, n = 0;

    if (!alert_filter_parse(r, &f) ||
        (st = kept_prepare(r, f.device ? sql_alerts_device : sql_alerts)) == NULL)
        goto out;
    bind_text_or_null(st, 1, f.status);
    bind_text_or_null(st, 2, f.severity);
    bind_text_or_null(st, 3, f.type);
    bind_text_or_null(st, 4, f.device);
    sqlite3_bind_int64(st, 5, f.since);
    sqlite3_bind_int64(st, 6, f.until - 1 < f.cur_start ? f.until - 1 : f.cur_start);
    sqlite3_bind_int64(st, 7, f.cur_start);
    sqlite3_bind_int64(st, 8, f.cur_id);
    sqlite3_bind_int64(st, 9, f.limit + 1); /* one more tells whether there is a next page */
    if (!r->wants_csv) {
        list_send(r, st, f.limit, alert_cursor);
        kept_done(r->ctx, st);
        goto out;
    }
    items = json_array();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++ == f.limit) {
            char cur[48];
            json_t *last = json_array_get(items, json_array_size(items) - 1);
            web_cursor_alert(json_integer_value(json_object_get(last, "start_ms")),
                             json_integer_value(json_object_get(last, "alert_id")), cur,
                             sizeof(cur));
            next = json_string(cur);
            break;
        }
        json_array_append_new(items, row_object(st));
    }
    if (step_done(r, st, rc)) {
        send_items(r, items, next, alert_csv, "alerts");
    } else {
        json_decref(items);
        json_decref(next);
    }
    kept_done(r->ctx, st);
out:
    free(f.status);
    free(f.severity);
}

static const char sql_alert[] = ALERT_COLUMNS "FROM alerts WHERE alert_id = ?1";
static const char sql_alert_transitions[] =
    "SELECT at_ms, from_status, to_status, note FROM alert_transitions "
    "WHERE alert_id = ?1 ORDER BY at_ms, id";

/* The alert with its transitions, or NULL (having answered) when there is none. */
static json_t *alert_load(struct web_req *r, int64_t id)
{
    sqlite3_stmt *st;
    json_t *a = NULL, *tr;
    int rc;

    if ((st = prepare(r, r->ctx->db, sql_alert)) == NULL)
        return NULL;
    sqlite3_bind_int64(st, 1, id);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        a = row_object(st);
    else if (step_done(r, st, rc))
        web_error(r, 404, "not found", "no alert has this id");
    sqlite3_finalize(st);
    if (a == NULL || (st = prepare(r, r->ctx->db, sql_alert_transitions)) == NULL) {
        json_decref(a);
        return NULL;
    }
    sqlite3_bind_int64(st, 1, id);
    tr = json_array();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(tr, row_object(st));
    json_object_set_new(a, "transitions", tr);
    if (!step_done(r, st, rc)) {
        json_decref(a);
        a = NULL;
    }
    sqlite3_finalize(st);
    return a;
}

/* "17" or "17/dismiss": the id and what follows it ("" or "dismiss"). */
static bool split_id(const char *tail, int64_t *id, const char **rest)
{
    char num[24];
    size_t n = strcspn(tail, "/");

    if (n == 0 || n >= sizeof(num))
        return false;
    memcpy(num, tail, n);
    num[n] = '\0';
    *rest = tail[n] == '/' ? tail + n + 1 : "";
    return web_parse_int(num, 1, INT64_MAX, id);
}

static bool is_action(const char *s)
{
    return strcmp(s, "dismiss") == 0 || strcmp(s, "reactivate") == 0;
}

static void allow_only(struct web_req *r, const char *allow)
{
    char detail[80];

    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow", allow);
    snprintf(detail, sizeof(detail), "this resource answers %s", allow);
    web_error(r, 405, "method not allowed", detail);
}

static void api_alert(struct web_req *r)
{
    const char *rest;
    int64_t id;
    json_t *a;

    if (!split_id(r->tail, &id, &rest)) {
        bad_param(r, "id", "must be a whole number (an alert_id)");
        return;
    }
    if (rest[0] != '\0') {
        if (is_action(rest))
            allow_only(r, "POST");
        else
            web_error(r, 404, "not found", "an alert has /dismiss and /reactivate");
        return;
    }
    if ((a = alert_load(r, id)) == NULL)
        return;
    if (r->wants_csv) {
        json_t *items = json_array();
        json_array_append_new(items, a);
        send_items(r, items, NULL, alert_csv, "alert");
        return;
    }
    web_send_json(r, 200, a);
}

/* The UTF-8 characters of s. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/*
 * The note of a dismissal: {"note": "..."} as JSON, or a form field. An
 * empty body means no note. *note points into *doc (freed by the caller) or
 * the request's parameters.
 */
static bool read_note(struct web_req *r, json_t **doc, const char **note)
{
    json_t *v;

    *doc = NULL;
    *note = NULL;
    if (r->body != NULL && r->body_len > 0 && web_param(r, "note") == NULL) {
        if ((*doc = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
            !json_is_object(*doc)) {
            bad_param(r, "body", "must be a JSON object such as {\"note\": \"why\"}");
            return false;
        }
        v = json_object_get(*doc, "note");
        if (v != NULL && !json_is_null(v) && !json_is_string(v)) {
            bad_param(r, "note", "must be a string");
            return false;
        }
        *note = json_string_value(v);
    } else {
        *note = web_param(r, "note");
    }
    if (*note != NULL &&
        (!utf8_valid(*note, strlen(*note)) || utf8_chars(*note) > NOTE_MAX_CHARS)) {
        bad_param(r, "note", "must be UTF-8 text of at most 1000 characters");
        return false;
    }
    return true;
}

static void api_alert_change(struct web_req *r)
{
    const char *rest, *note;
    int64_t id;
    json_t *doc, *a;
    bool dismiss;
    int rc;

    if (!split_id(r->tail, &id, &rest)) {
        bad_param(r, "id", "must be a whole number (an alert_id)");
        return;
    }
    if (!is_action(rest)) {
        if (rest[0] == '\0')
            allow_only(r, "GET");
        else
            web_error(r, 404, "not found", "an alert has /dismiss and /reactivate");
        return;
    }
    dismiss = strcmp(rest, "dismiss") == 0;
    if (!read_note(r, &doc, &note)) {
        json_decref(doc);
        return;
    }
    rc = eval_alert_change(r->ctx->db_rw, id, dismiss, note);
    json_decref(doc);
    if (rc == 404) {
        web_error(r, 404, "not found", "no alert has this id");
    } else if (rc == 409) {
        web_error(r, 409, "conflict",
                  dismiss ? "only an Active alert can be dismissed"
                          : "only a Dismissed alert can be reactivated");
    } else if (rc != 0) {
        web_error(r, 500, "database error", "the change was not written; see the log");
    } else if ((a = alert_load(r, id)) != NULL) {
        web_send_json(r, 200, a);
    }
}

/*
 * Per alert type and UTC day, with the ten devices that had the most. One
 * grouped scan, sorted so that each (type, day) comes whole with its
 * devices in order: the totals and the top ten are summed on the way.
 */
static const char sql_daily[] =
    "SELECT alert_type, start_ms / 86400000 AS day, device_id, count(*) AS n FROM alerts "
    "WHERE start_ms >= ?1 AND start_ms < ?2 GROUP BY alert_type, day, device_id "
    "ORDER BY day DESC, alert_type, n DESC, device_id";
static const char *const daily_csv[] = {"alert_type", "day", "alerts", "devices", "top_devices",
                                        NULL};

/* The item of (type, day): the last one when it matches, else a new one. */
static json_t *daily_item(json_t *items, sqlite3_stmt *st)
{
    json_t *last = json_array_get(items, json_array_size(items) - 1), *o;
    const char *type = (const char *)sqlite3_column_text(st, 0);
    int64_t d = sqlite3_column_int64(st, 1);
    char day[40];

    time_format_iso(d * DAY_MS, day, sizeof(day));
    day[10] = '\0';
    if (last != NULL && type != NULL &&
        strcmp(json_string_value(json_object_get(last, "day")), day) == 0 &&
        strcmp(json_string_value(json_object_get(last, "alert_type")), type) == 0)
        return last;
    o = json_pack("{s:o, s:s, s:I, s:I, s:[]}", "alert_type", web_column_json(st, 0), "day", day,
                  "alerts", (json_int_t)0, "devices", (json_int_t)0, "top_devices");
    json_array_append_new(items, o);
    return o;
}

static void daily_add(json_t *item, sqlite3_stmt *st)
{
    json_int_t n = sqlite3_column_int64(st, 3);
    json_t *top = json_object_get(item, "top_devices");

    json_object_set_new(item, "alerts",
                        json_integer(json_integer_value(json_object_get(item, "alerts")) + n));
    if (sqlite3_column_type(st, 2) == SQLITE_NULL)
        return; /* a hub's alert: counted, but no device */
    json_object_set_new(item, "devices",
                        json_integer(json_integer_value(json_object_get(item, "devices")) + 1));
    if (json_array_size(top) < 10)
        json_array_append_new(top, json_pack("{s:o, s:I}", "device_id", web_column_json(st, 2),
                                             "alerts", n));
}

static void api_alerts_daily(struct web_req *r)
{
    int64_t since, until;
    sqlite3_stmt *st;
    json_t *items;
    int rc;

    if (!web_param_time(r, "since", clock_now_ms() - 30 * DAY_MS, &since) ||
        !web_param_time(r, "until", INT64_MAX, &until) ||
        (st = prepare(r, r->ctx->db, sql_daily)) == NULL)
        return;
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_int64(st, 2, until);
    items = json_array();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        daily_add(daily_item(items, st), st);
    if (step_done(r, st, rc))
        send_items(r, items, NULL, daily_csv, "alerts-daily");
    else
        json_decref(items);
    sqlite3_finalize(st);
}

/* ---- devices --------------------------------------------------------------------------------- */

#define DEVICE_COLUMNS                                                                             \
    "SELECT d.device_id, d.hub, d.security_group, d.auth_type, d.first_seen_ms, "                  \
    "d.last_seen_ms, d.os_info, d.agent_version, d.module_version, d.module_id, "                  \
    "d.clock_skew_ms, (SELECT count(*) FROM alerts a WHERE a.device_id = d.device_id "             \
    "AND a.status IN ('Active', 'Dismissed')) AS open_alerts "

static const char sql_devices[] = DEVICE_COLUMNS
    "FROM devices d WHERE d.device_id > ?1 AND (?2 IS NULL OR d.security_group = ?2) "
    "ORDER BY d.device_id LIMIT ?3";
static const char *const device_csv[] = {
    "device_id", "hub", "security_group", "auth_type", "first_seen_time", "last_seen_time",
    "os_info", "agent_version", "module_version", "module_id", "clock_skew_ms", "open_alerts",
    NULL};

/* Column 0 of DEVICE_COLUMNS, the device id, base64url (an id may hold anything). */
static void device_cursor(sqlite3_stmt *st, char *out, size_t outlen)
{
    const char *id = (const char *)sqlite3_column_text(st, 0);

    if (id == NULL || !web_b64url_encode(id, (size_t)sqlite3_column_bytes(st, 0), out, outlen))
        out[0] = '\0';
}

static void api_devices(struct web_req *r)
{
    const char *cursor = param(r, "cursor"), *group;
    char after[300] = "", cur[400];
    int64_t limit;
    size_t n;
    sqlite3_stmt *st;
    json_t *items, *next = NULL;
    int rc, rows = 0;

    if (!param_text(r, "group", &group) || !param_limit(r, &limit))
        return;
    if (cursor != NULL && !web_b64url_decode(cursor, after, sizeof(after), &n)) {
        bad_param(r, "cursor", "not a cursor this API gave (next_cursor of the previous page)");
        return;
    }
    if ((st = kept_prepare(r, sql_devices)) == NULL)
        return;
    sqlite3_bind_text(st, 1, after, -1, SQLITE_TRANSIENT);
    bind_text_or_null(st, 2, group);
    sqlite3_bind_int64(st, 3, limit + 1);
    if (!r->wants_csv) {
        list_send(r, st, limit, device_cursor);
        kept_done(r->ctx, st);
        return;
    }
    items = json_array();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows++ == limit) {
            const char *last = json_string_value(
                json_object_get(json_array_get(items, json_array_size(items) - 1), "device_id"));
            if (last != NULL && web_b64url_encode(last, strlen(last), cur, sizeof(cur)))
                next = json_string(cur);
            break;
        }
        json_array_append_new(items, row_object(st));
    }
    if (step_done(r, st, rc)) {
        send_items(r, items, next, device_csv, "devices");
    } else {
        json_decref(items);
        json_decref(next);
    }
    kept_done(r->ctx, st);
}

static const char sql_device[] = DEVICE_COLUMNS "FROM devices d WHERE d.device_id = ?1";
/*
 * system_info has no index by device (it is written in arrival order), so
 * the last report is looked for in the hour before the device was last
 * seen; devices report it every minute.
 */
static const char sql_device_sysinfo[] =
    "SELECT recv_ms, device_ms, os_info, kernel_info, hw_info, details FROM system_info "
    "WHERE recv_ms <= ?2 AND recv_ms >= ?2 - 3600000 AND device_id = ?1 "
    "ORDER BY recv_ms DESC LIMIT 1";
static const char sql_device_recs[] =
    "SELECT rec_id, rec_type, display_name, severity, discovered_ms, additional_data "
    "FROM recommendations WHERE device_id = ?1 AND state = 'Active' ORDER BY rec_id";

/* Run sql with the device id (and last_seen as ?2): one row as an object, or all in an array. */
static json_t *device_part(struct web_req *r, const char *sql, const char *id, int64_t seen,
                           bool many)
{
    sqlite3_stmt *st = prepare(r, r->ctx->db, sql);
    json_t *out;
    int rc;

    if (st == NULL)
        return NULL;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_int64(st, 2, seen);
    out = many ? json_array() : json_null();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!many) {
            json_decref(out);
            out = row_object(st);
            rc = SQLITE_DONE;
            break;
        }
        json_array_append_new(out, row_object(st));
    }
    if (!step_done(r, st, rc)) {
        json_decref(out);
        out = NULL;
    }
    sqlite3_finalize(st);
    return out;
}

static void device_get(struct web_req *r, const char *id)
{
    json_t *d, *sys, *recs;
    int64_t skew, max;

    if ((d = device_part(r, sql_device, id, 0, false)) == NULL)
        return;
    if (json_is_null(d)) {
        web_error(r, 404, "not found", "no device has this id");
        return;
    }
    skew = json_integer_value(json_object_get(d, "clock_skew_ms"));
    max = r->ctx->cfg->ingest_max_clock_skew_ms;
    json_object_set_new(d, "clock_skew_flagged", json_boolean(skew > max || skew < -max));
    if ((sys = device_part(r, sql_device_sysinfo, id,
                           json_integer_value(json_object_get(d, "last_seen_ms")), false)) ==
            NULL ||
        (recs = device_part(r, sql_device_recs, id, 0, true)) == NULL) {
        json_decref(sys);
        json_decref(d);
        return;
    }
    json_object_set_new(d, "system_info", sys);
    json_object_set_new(d, "recommendations", recs);
    web_send_json(r, 200, d);
}

static const char sql_device_id[] = "SELECT id FROM devices WHERE device_id = ?1";
/* Through the device_counts view (SPEC 3.2), whatever the storage under it. */
static const char sql_series[] =
    "SELECT (bucket_ms - ?3) / ?5 AS i, sum(value) FROM device_counts "
    "WHERE device_id = ?1 AND metric = ?2 AND bucket_ms >= ?3 AND bucket_ms < ?4 "
    "GROUP BY i ORDER BY i";
static const char *const series_csv[] = {"time", "time_ms", "value", NULL};

static bool metric_known(const char *m)
{
    for (int i = 0; i < METRIC_COUNT; i++)
        if (strcmp(store_metric_name((enum store_metric)i), m) == 0)
            return true;
    return false;
}

static bool series_params(struct web_req *r, const char **metric, int64_t *since, int64_t *until,
                          int64_t *step)
{
    const char *s = param(r, "step");
    char why[300];
    size_t len = 0;

    *metric = web_param(r, "metric");
    if (*metric == NULL || !metric_known(*metric)) {
        for (int i = 0; i < METRIC_COUNT; i++)
            len += (size_t)snprintf(why + len, len < sizeof(why) ? sizeof(why) - len : 0, "%s%s",
                                    i ? ", " : "must be one of ",
                                    store_metric_name((enum store_metric)i));
        bad_param(r, "metric", why);
        return false;
    }
    if (!web_param_time(r, "until", clock_now_ms(), until) ||
        !web_param_time(r, "since", *until - 3600000, since))
        return false;
    if (*since >= *until || *until - *since > 3660 * DAY_MS || *since < 0) {
        bad_param(r, "since", "must be before until, within ten years of it");
        return false;
    }
    if (s == NULL) {
        int64_t per = (*until - *since) / SERIES_POINTS;
        *step = (per + 9999) / 10000 * 10000;
        if (*step < 10000)
            *step = 10000;
    } else if (!web_parse_step(s, step)) {
        bad_param(r, "step",
                  "must be a multiple of 10 seconds, as seconds (60) or ISO 8601 (PT1M)");
        return false;
    }
    /* Whole steps from a multiple of the step, so that points line up between requests. */
    *since -= *since % *step;
    if ((*until - *since + *step - 1) / *step > SERIES_POINTS_MAX) {
        bad_param(r, "step", "gives more than 10000 points between since and until");
        return false;
    }
    return true;
}

static void device_series(struct web_req *r, const char *id)
{
    const char *metric;
    int64_t since, until, step, npoints;
    sqlite3_stmt *st;
    json_t *points, *o;
    int rc;

    if (!series_params(r, &metric, &since, &until, &step) ||
        (st = prepare(r, r->ctx->db, sql_device_id)) == NULL)
        return;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
        web_error(r, 404, "not found", "no device has this id");
        return;
    }
    if ((st = prepare(r, r->ctx->db, sql_series)) == NULL)
        return;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, metric, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, since);
    sqlite3_bind_int64(st, 4, until);
    sqlite3_bind_int64(st, 5, step);
    npoints = (until - since + step - 1) / step;
    points = json_array();
    for (int64_t i = 0; i < npoints; i++)
        json_array_append_new(
            points, json_pack("{s:o, s:I, s:I}", "time", iso_time(since + i * step), "time_ms",
                              (json_int_t)(since + i * step), "value", (json_int_t)0));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t i = sqlite3_column_int64(st, 0);
        if (i >= 0 && i < npoints)
            json_object_set_new(json_array_get(points, (size_t)i), "value",
                                json_integer(sqlite3_column_int64(st, 1)));
    }
    if (!step_done(r, st, rc)) {
        json_decref(points);
        sqlite3_finalize(st);
        return;
    }
    sqlite3_finalize(st);
    if (r->wants_csv) {
        send_items(r, points, NULL, series_csv, "series");
        return;
    }
    o = json_pack("{s:s, s:s, s:o, s:o, s:I, s:o}", "device_id", id, "metric", metric, "since",
                  iso_time(since), "until", iso_time(until), "step_s", (json_int_t)(step / 1000),
                  "points", points);
    web_send_json(r, 200, o);
}

/*
 * /api/v1/devices/{id} and /api/v1/devices/{id}/series. A device id may hold
 * a slash (hub records name devices freely), so the raw path is split first
 * and the id decoded after.
 */
static void api_device(struct web_req *r)
{
    const char *raw = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(r->req));
    static const char prefix[] = "/api/v1/devices/";
    const char *seg, *rest;
    char *first, *id = NULL;
    size_t n = 0;

    if (raw == NULL || strncmp(raw, prefix, sizeof(prefix) - 1) != 0) {
        web_error(r, 404, "not found", NULL);
        return;
    }
    seg = raw + sizeof(prefix) - 1;
    rest = seg + strcspn(seg, "/");
    if ((first = strndup(seg, (size_t)(rest - seg))) != NULL)
        id = evhttp_uridecode(first, 0, &n);
    free(first);
    if (id == NULL || n == 0 || strlen(id) != n || !utf8_valid(id, n)) {
        free(id);
        bad_param(r, "id", "must be a percent-encoded UTF-8 device id");
        return;
    }
    if (*rest == '\0')
        device_get(r, id);
    else if (strcmp(rest, "/series") == 0)
        device_series(r, id);
    else
        web_error(r, 404, "not found", "a device has /series");
    free(id);
}

/* ---- recommendations ------------------------------------------------------------------------- */

static const char sql_recs[] =
    "SELECT rec_id, rec_type, display_name, severity, device_id, hub, state, discovered_ms, "
    "resolved_ms, additional_data FROM recommendations "
    "WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR rec_type = ?2) "
    "AND (?3 IS NULL OR device_id = ?3) AND (?4 IS NULL OR hub = ?4) AND rec_id < ?5 "
    "ORDER BY rec_id DESC LIMIT ?6";
static const char *const rec_states[] = {"Active", "Resolved", NULL};
static const char *const rec_csv[] = {
    "rec_id", "rec_type", "display_name", "severity", "device_id", "hub", "state",
    "discovered_time", "resolved_time", "additional_data", NULL};

/* Column 0 of sql_recs: rec_id. */
static void rec_cursor(sqlite3_stmt *st, char *out, size_t outlen)
{
    snprintf(out, outlen, "%lld", (long long)sqlite3_column_int64(st, 0));
}

static void api_recommendations(struct web_req *r)
{
    const char *state = param(r, "state"), *cursor = param(r, "cursor"), *type, *device, *hub;
    int64_t limit, after = INT64_MAX;
    sqlite3_stmt *st;
    json_t *items, *next = NULL;
    int rc, rows = 0;

    if (state != NULL && !in_list(rec_states, state)) {
        bad_param(r, "state", "must be Active or Resolved");
        return;
    }
    if (!param_text(r, "type", &type) || !param_text(r, "device", &device) ||
        !param_text(r, "hub", &hub) || !param_limit(r, &limit))
        return;
    if (cursor != NULL && !web_parse_int(cursor, 1, INT64_MAX, &after)) {
        bad_param(r, "cursor", "not a cursor this API gave (next_cursor of the previous page)");
        return;
    }
    if ((st = kept_prepare(r, sql_recs)) == NULL)
        return;
    bind_text_or_null(st, 1, state);
    bind_text_or_null(st, 2, type);
    bind_text_or_null(st, 3, device);
    bind_text_or_null(st, 4, hub);
    sqlite3_bind_int64(st, 5, after);
    sqlite3_bind_int64(st, 6, limit + 1);
    if (!r->wants_csv) {
        list_send(r, st, limit, rec_cursor);
        kept_done(r->ctx, st);
        return;
    }
    items = json_array();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows++ == limit) {
            char cur[24];
            snprintf(cur, sizeof(cur), "%lld",
                     (long long)json_integer_value(json_object_get(
                         json_array_get(items, json_array_size(items) - 1), "rec_id")));
            next = json_string(cur);
            break;
        }
        json_array_append_new(items, row_object(st));
    }
    if (step_done(r, st, rc)) {
        send_items(r, items, next, rec_csv, "recommendations");
    } else {
        json_decref(items);
        json_decref(next);
    }
    kept_done(r->ctx, st);
}

/* ---- security groups ------------------------------------------------------------------------- */

static const char sql_group_devices[] =
    "SELECT security_group, count(*) FROM devices GROUP BY security_group";
static const char *const group_csv[] = {"name", "devices", "enabled_rules", "properties", NULL};

/* The group's normalised document (SPEC 4.1 shape), with devices and enabled_rules. */
static json_t *group_json(const struct group *g, json_t *counts)
{
    char *text = group_to_json(g);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    json_t *n = json_object_get(counts, g->name);

    free(text);
    if (doc == NULL)
        return NULL;
    json_object_set_new(doc, "devices", json_integer(n ? json_integer_value(n) : 0));
    json_object_set_new(doc, "enabled_rules", json_integer(group_enabled_rules(g)));
    return doc;
}

static json_t *group_counts(struct web_req *r)
{
    sqlite3_stmt *st = prepare(r, r->ctx->db, sql_group_devices);
    json_t *counts;
    int rc;

    if (st == NULL)
        return NULL;
    counts = json_object();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (sqlite3_column_text(st, 0) != NULL)
            json_object_set_new(counts, (const char *)sqlite3_column_text(st, 0),
                                json_integer(sqlite3_column_int64(st, 1)));
    if (!step_done(r, st, rc)) {
        json_decref(counts);
        counts = NULL;
    }
    sqlite3_finalize(st);
    return counts;
}

/* Every group, or the one called name: an array, or (having answered) NULL. */
static json_t *groups_json(struct web_req *r, const char *name)
{
    struct group *gs;
    size_t n;
    char err[512];
    json_t *counts, *items;

    if (!groups_load(r->ctx->db, &gs, &n, err, sizeof(err))) {
        web_error(r, 500, "database error", err);
        return NULL;
    }
    if ((counts = group_counts(r)) == NULL) {
        groups_free(gs, n);
        return NULL;
    }
    items = json_array();
    for (size_t i = 0; i < n; i++)
        if (name == NULL || strcmp(gs[i].name, name) == 0)
            json_array_append_new(items, group_json(&gs[i], counts));
    json_decref(counts);
    groups_free(gs, n);
    return items;
}

static void api_groups(struct web_req *r)
{
    json_t *items = groups_json(r, NULL);

    if (items != NULL)
        send_items(r, items, NULL, group_csv, "security-groups");
}

static bool group_name_param(struct web_req *r)
{
    if (group_name_valid(r->tail))
        return true;
    bad_param(r, "name", "must be 1 to 128 of A-Z a-z 0-9 . _ - (not . or ..)");
    return false;
}

static void api_group(struct web_req *r)
{
    json_t *items;

    if (!group_name_param(r) || (items = groups_json(r, r->tail)) == NULL)
        return;
    if (json_array_size(items) == 0)
        web_error(r, 404, "not found", "no security group has this name");
    else
        web_send_json(r, 200, json_incref(json_array_get(items, 0)));
    json_decref(items);
}

static void api_group_put(struct web_req *r)
{
    struct group g;
    char err[512];

    if (!group_name_param(r))
        return;
    if (r->body == NULL || r->body_len == 0) {
        bad_param(r, "body", "the security group document (JSON, SPEC 4.1 shape) is required");
        return;
    }
    if (!group_parse(r->body, r->body_len, r->tail, &g, err, sizeof(err))) {
        web_error(r, 400, "invalid security group", err);
        return;
    }
    if (!group_store(r->ctx->db_rw, &g, err, sizeof(err))) {
        group_free(&g);
        web_error(r, 500, "database error", err);
        return;
    }
    group_free(&g);
    api_group(r);
}

/* ---- the table ------------------------------------------------------------------------------- */

/* Exact paths come before the prefix that would also match them. */
const struct web_route web_api_routes[] = {
    {"GET", "/api/v1/alerts", false, false, api_alerts},
    {"GET", "/api/v1/alerts/daily", false, false, api_alerts_daily},
    {"GET", "/api/v1/alerts/", true, false, api_alert},
    {"POST", "/api/v1/alerts/", true, true, api_alert_change},
    {"GET", "/api/v1/devices", false, false, api_devices},
    {"GET", "/api/v1/devices/", true, false, api_device},
    {"GET", "/api/v1/recommendations", false, false, api_recommendations},
    {"GET", "/api/v1/security-groups", false, false, api_groups},
    {"GET", "/api/v1/security-groups/", true, false, api_group},
    {"PUT", "/api/v1/security-groups/", true, true, api_group_put},
    {"POST", "/api/v1/hub/certificates", false, true, web_hub_cert_add},
    {"DELETE", "/api/v1/hub/certificates/", true, true, web_hub_cert_delete},
    {"PUT", "/api/v1/hub/diagnostic-settings/", true, true, web_hub_diag_put},
    {"DELETE", "/api/v1/hub/diagnostic-settings/", true, true, web_hub_diag_delete},
    {"GET", "/api/v1/sql", false, false, web_sql_handler},
    {"POST", "/api/v1/sql", false, false, web_sql_handler},
    {"GET", "/metrics", false, false, web_metrics},
    {"GET", "/healthz", false, false, web_healthz},
    {"POST", "/login", false, false, web_login},
    {"POST", "/logout", false, true, web_logout},
    {NULL, NULL, false, false, NULL},
};
