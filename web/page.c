/*
 * web/page.c: what the dashboard's pages share (page.h), above the core:
 * the page frame and its errors, statements on the read-only connection
 * that note a failure in the page instead of failing it, times and badges
 * as people read them, query strings, JSON shown as lists, a device's
 * counts over time, and the alert and flow rows more than one page shows.
 * Each page (page_*.c) runs a few named queries and writes the result
 * through html.c, so every stored string is escaped where it lands. Calls
 * the core, html.c and the catalogue.
 */
#include "page.h"

#include "../common/catalog.h"

#include <inttypes.h>
#include <string.h>

/* ---- the catalogue and the metrics, as the pages show them ------------------------------------
 */

const struct catalog_entry *page_alert_type(const char *type)
{
    const struct catalog_entry *e = catalog_find(type);

    return e != NULL && e->kind != CK_REC ? e : NULL;
}

const struct page_metric page_metrics[] = {
    {"d2c_messages", "Device-to-cloud messages", "MqttD2CMessagesNotInAllowedRange"},
    {"security_messages", "Security messages", NULL},
    {"flows", "Network flows reported", "ActiveConnectionsNotInAllowedRange"},
    {"c2d_messages", "Cloud-to-device messages", "MqttC2DMessagesNotInAllowedRange"},
    {"c2d_rejected_messages", "Rejected cloud-to-device messages",
     "MqttC2DRejectedMessagesNotInAllowedRange"},
    {"direct_method_invokes", "Direct method invokes", "DirectMethodInvokesNotInAllowedRange"},
    {"twin_updates", "Twin updates", "TwinUpdatesNotInAllowedRange"},
    {"queue_purges", "Command queue purges", "QueuePurgesNotInAllowedRange"},
    {"unauthorized_operations", "Unauthorized operations",
     "UnauthorizedOperationsNotInAllowedRange"},
};

const struct page_metric *page_metric_of_rule(const char *rule)
{
    for (size_t i = 0; rule != NULL && i < PAGE_N_METRICS; i++)
        if (page_metrics[i].rule != NULL && strcmp(page_metrics[i].rule, rule) == 0)
            return &page_metrics[i];
    return NULL;
}

/* ---- the page, its statements and its parameters ------------------------------------------------
 */

/* A query parameter, with an empty value taken as absent (an untouched form field). */
const char *page_param(struct web_req *r, const char *name)
{
    const char *v = web_param(r, name);

    return v != NULL && *v != '\0' ? v : NULL;
}

struct evbuffer *page_open(struct web_req *r, const char *title, const char *active)
{
    struct evbuffer *out = evbuffer_new();

    if (out == NULL)
        fatal("out of memory");
    html_begin(r, out, title, active);
    return out;
}

void page_send(struct web_req *r, struct evbuffer *out, int status)
{
    html_end(out);
    web_send(r, status, PAGE_HTML, out);
}

/* A whole page that says what went wrong, with status. */
void page_error(struct web_req *r, int status, const char *title, const char *msg)
{
    struct evbuffer *out = page_open(r, title, NULL);

    html_printf(out, "<h1>%s</h1><div class=\"error\">%s</div><p><a href=\"/\">Overview</a></p>",
                title, msg);
    page_send(r, out, status);
}

/* See location (already URL-safe), after a form post. */
void page_redirect(struct web_req *r, const char *location)
{
    struct evbuffer *out = evbuffer_new();

    if (out == NULL)
        fatal("out of memory");
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Location", location);
    html_printf(out, "<a href=\"%s\">continue</a>\n", location);
    web_send(r, 303, PAGE_HTML, out);
}

/* A statement on the read-only connection; NULL (and a note in out) when it fails. */
sqlite3_stmt *page_prepare(struct web_req *r, struct evbuffer *out, const char *sql)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(r->ctx->db, sql, -1, &st, NULL) != SQLITE_OK) {
        log_warn("web: %s", sqlite3_errmsg(r->ctx->db));
        html_printf(out, "<div class=\"error\">Could not read the database: %s</div>",
                    sqlite3_errmsg(r->ctx->db));
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* After the last sqlite3_step: a note in out when it ended in an error, not SQLITE_DONE. */
void page_finish(struct web_req *r, struct evbuffer *out, sqlite3_stmt *st, int rc)
{
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        html_printf(out, "<div class=\"error\">Could not read the database: %s</div>",
                    sqlite3_errmsg(r->ctx->db));
    sqlite3_finalize(st);
}

void page_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s != NULL)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

const char *page_col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

int64_t page_col_int(sqlite3_stmt *st, int i)
{
    return sqlite3_column_int64(st, i);
}

bool page_col_null(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL;
}

/* A time for people: "2026-11-29 10:00:05" (UTC). */
void page_fmt_time(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    if (strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        buf[0] = '\0';
}

/* ISO 8601 to the second, as URLs and forms carry times: "2026-11-29T10:00:05Z". */
void page_fmt_iso(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    if (strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        buf[0] = '\0';
}

void page_put_time(struct evbuffer *out, int64_t ms)
{
    char t[40];

    page_fmt_time(ms, t, sizeof(t));
    evbuffer_add_printf(out, "%s", t);
}

/* How long ago: "12 s ago", "5 min ago", "3 h ago", "2 d ago" (or "in ..." for the future). */
static void fmt_age(int64_t now, int64_t ms, char *buf, size_t len)
{
    int64_t d = now - ms, a = d < 0 ? -d : d;
    const char *unit;
    int64_t n;

    if (a < 60000)
        n = a / 1000, unit = "s";
    else if (a < PAGE_HOUR_MS)
        n = a / 60000, unit = "min";
    else if (a < 2 * PAGE_DAY_MS)
        n = a / PAGE_HOUR_MS, unit = "h";
    else
        n = a / PAGE_DAY_MS, unit = "d";
    snprintf(buf, len, d < 0 ? "in %lld %s" : "%lld %s ago", (long long)n, unit);
}

/* A time cell: the age, with the exact time on hover. */
void page_put_when(struct evbuffer *out, int64_t now, int64_t ms)
{
    char t[40], age[40];

    page_fmt_time(ms, t, sizeof(t));
    fmt_age(now, ms, age, sizeof(age));
    evbuffer_add_printf(out, "<span title=\"%s UTC\">%s</span>", t, age);
}

/* A span as people say it: "15 min", "1 h 30 min", "2 d". */
void page_fmt_span(int64_t ms, char *buf, size_t len)
{
    int64_t s = ms / 1000;

    if (s % 86400 == 0 && s > 0)
        snprintf(buf, len, "%lld d", (long long)(s / 86400));
    else if (s % 3600 == 0 && s > 0)
        snprintf(buf, len, "%lld h", (long long)(s / 3600));
    else if (s >= 3600)
        snprintf(buf, len, "%lld h %lld min", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else if (s % 60 == 0 && s > 0)
        snprintf(buf, len, "%lld min", (long long)(s / 60));
    else
        snprintf(buf, len, "%lld s", (long long)s);
}

void page_put_badge(struct evbuffer *out, const char *cls, const char *text)
{
    html_printf(out, "<span class=\"badge b-%s\">%s</span>", cls, text);
}

/* A severity or status badge: the value itself names the style (b-High, b-Active, ...). */
void page_put_state(struct evbuffer *out, const char *value)
{
    static const char *const known[] = {"High",   "Medium",   "Low",      "Informational",
                                        "Active", "Resolved", "Dismissed"};

    for (size_t i = 0; value != NULL && i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(value, known[i]) == 0) {
            page_put_badge(out, known[i], value);
            return;
        }
    page_put_badge(out, "other", value ? value : "?");
}

void page_put_device(struct evbuffer *out, const char *device_id)
{
    evbuffer_add_printf(out, "<a class=\"mono\" href=\"/devices/");
    url_escape(out, device_id);
    html_printf(out, "\">%s</a>", device_id);
}

/* The scope of an alert or recommendation: its device, else its hub. */
void page_put_scope(struct evbuffer *out, const char *device_id, const char *hub)
{
    if (device_id != NULL)
        page_put_device(out, device_id);
    else
        html_printf(out, "<span class=\"nw\"><span class=\"muted\">hub</span> %s</span>", hub);
}

void page_qs_add(struct page_qs *q, const char *key, const char *value)
{
    if (value == NULL || *value == '\0')
        return;
    evbuffer_add_printf(q->out, "%s%s=", q->any ? "&amp;" : "?", key);
    url_escape(q->out, value);
    q->any = true;
}

void page_qs_add_time(struct page_qs *q, const char *key, int64_t ms)
{
    char t[40];

    page_fmt_iso(ms, t, sizeof(t));
    page_qs_add(q, key, t);
}

/*
 * A time parameter of a page: ISO 8601 ("2026-11-29T10:00:00Z", or
 * "2026-11-29T10:00" as a datetime-local input sends it, read as UTC) or a
 * bare date. Absent: dflt. Bad: false with a message in err.
 */
bool page_time_param(struct web_req *r, const char *name, int64_t dflt, int64_t *out, char *err,
                       size_t errlen)
{
    const char *v = page_param(r, name);
    char day[24];

    *out = dflt;
    if (v == NULL)
        return true;
    if (strlen(v) == 10) {
        snprintf(day, sizeof(day), "%sT00:00", v);
        v = day;
    }
    if (!time_parse_iso(v, out)) {
        snprintf(err, errlen, "%s: not a date or time (use 2026-11-29 or 2026-11-29T10:00:00Z)",
                 name);
        *out = dflt;
        return false;
    }
    return true;
}

/* Numeric text to int64_t, whole string; false when it is not one. */
bool page_parse_i64(const char *s, int64_t *v)
{
    char *end;
    long long n;

    if (s == NULL || *s == '\0')
        return false;
    errno = 0;
    n = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *v = n;
    return true;
}

#define JSON_SHOW_DEPTH 6 /* deeper than this, a value is shown as compact JSON */

/* An object as a list of names and values, nested objects as nested lists. */
static void put_json_object(struct evbuffer *out, json_t *o, int depth)
{
    const char *k;
    json_t *v;

    if (json_object_size(o) == 0) {
        evbuffer_add_printf(out, "<span class=\"muted\">none</span>");
        return;
    }
    evbuffer_add_printf(out, "<dl class=\"props\">");
    json_object_foreach(o, k, v)
    {
        html_printf(out, "<dt>%s</dt><dd>", k);
        page_put_json_value(out, v, depth + 1);
        evbuffer_add_printf(out, "</dd>");
    }
    evbuffer_add_printf(out, "</dl>");
}

/*
 * A JSON value for people: strings as they are, numbers, yes/no, arrays of
 * scalars joined with commas, objects as lists; compact JSON past a depth.
 */
void page_put_json_value(struct evbuffer *out, json_t *v, int depth)
{
    size_t i;
    json_t *e;
    char *s;

    if (json_is_string(v)) {
        html_escape(out, json_string_value(v));
    } else if (json_is_integer(v)) {
        evbuffer_add_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        evbuffer_add_printf(out, "%g", json_real_value(v));
    } else if (json_is_boolean(v) || json_is_null(v)) {
        evbuffer_add_printf(out, "%s", json_is_true(v) ? "yes" : json_is_false(v) ? "no" : "none");
    } else if (depth >= JSON_SHOW_DEPTH) {
        s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        html_printf(out, "<code>%s</code>", s ? s : "");
        free(s);
    } else if (json_is_object(v)) {
        put_json_object(out, v, depth);
    } else if (json_array_size(v) == 0) {
        evbuffer_add_printf(out, "<span class=\"muted\">none</span>");
    } else {
        json_array_foreach(v, i, e)
        {
            if (json_is_object(e) || json_is_array(e)) {
                evbuffer_add_printf(out, "<div class=\"item\">");
                page_put_json_value(out, e, depth + 1);
                evbuffer_add_printf(out, "</div>");
            } else {
                evbuffer_add_printf(out, "%s", i > 0 ? ", " : "");
                page_put_json_value(out, e, depth + 1);
            }
        }
    }
}

/* A JSON object as a list (or a two-column table); text that is not an object as it is. */
void page_put_json_props(struct evbuffer *out, const char *json, bool as_table)
{
    json_t *o = json ? json_loads(json, JSON_DECODE_ANY, NULL) : NULL;
    const char *k;
    json_t *v;

    if (!json_is_object(o))
        html_printf(out, "<code>%s</code>", json ? json : "");
    else if (!as_table || json_object_size(o) == 0)
        put_json_object(out, o, 0);
    else {
        evbuffer_add_printf(out, "<table class=\"kv\">");
        json_object_foreach(o, k, v)
        {
            html_printf(out, "<tr><th>%s</th><td>", k);
            page_put_json_value(out, v, 1);
            evbuffer_add_printf(out, "</td></tr>");
        }
        evbuffer_add_printf(out, "</table>");
    }
    json_decref(o);
}

/*
 * Sums of one metric of one device in n steps from t0: values[i] covers
 * [t0 + i * step, t0 + (i + 1) * step). False (and a note in out) on error.
 */
static const char SQL_SERIES[] =
    "SELECT (bucket_ms - ?3) / ?4, sum(value) FROM device_counts "
    "WHERE device_id = ?1 AND metric = ?2 AND bucket_ms >= ?3 AND bucket_ms < ?5 GROUP BY 1";

bool page_series_load(struct web_req *r, struct evbuffer *out, const char *device,
                        const char *metric, int64_t t0, int64_t step, size_t n, double *values)
{
    sqlite3_stmt *st = page_prepare(r, out, SQL_SERIES);
    int rc;

    memset(values, 0, n * sizeof(*values));
    if (st == NULL)
        return false;
    page_bind_text(st, 1, device);
    page_bind_text(st, 2, metric);
    sqlite3_bind_int64(st, 3, t0);
    sqlite3_bind_int64(st, 4, step);
    sqlite3_bind_int64(st, 5, t0 + step * (int64_t)n);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t i = page_col_int(st, 0);
        if (i >= 0 && (size_t)i < n)
            values[i] = sqlite3_column_double(st, 1);
    }
    page_finish(r, out, st, rc);
    return rc == SQLITE_DONE;
}

/* A step for a time chart of span: a round size giving at most PAGE_SERIES_MAX_BARS bars. */
int64_t page_series_step(int64_t span)
{
    static const int64_t steps[] = {10000,   30000,   60000,    300000,   600000,  900000,
                                    1800000, 3600000, 7200000, 21600000, 43200000, PAGE_DAY_MS};

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (span / steps[i] <= PAGE_SERIES_MAX_BARS)
            return steps[i];
    return PAGE_DAY_MS * (span / PAGE_DAY_MS / PAGE_SERIES_MAX_BARS + 1);
}

/* ---- pieces more than one page shows -------------------------------------------------------- */

/* The columns an alert row shows, shared by the list, the device page and the overview. */
void page_alert_row_head(struct evbuffer *out, bool with_scope)
{
    evbuffer_add_printf(out, "<table><thead><tr><th>Severity</th><th>Alert</th>%s<th>Status</th>"
                     "<th>First seen</th><th>Last seen</th><th class=\"num\">Count</th></tr>"
                     "</thead><tbody>",
                with_scope ? "<th>Device or hub</th>" : "");
}

/*
 * What tells one alert of a type from another: its key without the device
 * or hub it starts with ("185.220.101.34" of "dev-17/185.220.101.34"),
 * unless that is all there is.
 */
static void alert_key_detail(struct evbuffer *out, const char *key, const char *scope)
{
    size_t n = scope ? strlen(scope) : 0;

    if (key == NULL || strncmp(key, scope ? scope : "", n) != 0 || key[n] != '/' ||
        key[n + 1] == '\0')
        return;
    html_printf(out, "<div class=\"small muted mono\">%s</div>", key + n + 1);
}

/* One row from a statement of PAGE_ALERT_COLS. */
void page_alert_row(struct evbuffer *out, sqlite3_stmt *st, int64_t now, bool with_scope)
{
    evbuffer_add_printf(out, "<tr><td>");
    page_put_state(out, page_col(st, 3));
    html_printf(out, "</td><td><a href=\"/alerts/%lld\">%s</a>", (long long)page_col_int(st, 0),
                page_col(st, 2));
    alert_key_detail(out, page_col(st, 10),
                     page_col_null(st, 4) ? page_col(st, 5) : page_col(st, 4));
    evbuffer_add_printf(out, "</td>");
    if (with_scope) {
        evbuffer_add_printf(out, "<td>");
        page_put_scope(out, page_col(st, 4), page_col(st, 5));
        evbuffer_add_printf(out, "</td>");
    }
    evbuffer_add_printf(out, "<td>");
    page_put_state(out, page_col(st, 6));
    /* Held back in Alertmanager: say so, linking to the alert page's card that says by what. */
    if (!page_col_null(st, 11))
        html_printf(out, " <a class=\"badge b-warn\" href=\"/alerts/%lld#notifications\">%s</a>",
                    (long long)page_col_int(st, 0), page_col(st, 11));
    evbuffer_add_printf(out, "</td><td class=\"t\">");
    page_put_time(out, page_col_int(st, 7));
    evbuffer_add_printf(out, "</td><td class=\"t\">");
    page_put_when(out, now, page_col_int(st, 8));
    evbuffer_add_printf(out, "</td><td class=\"num\">%" PRId64 "</td></tr>", page_col_int(st, 9));
}

int page_flow_rows(struct evbuffer *out, sqlite3_stmt *st, int *rc, bool hourly)
{
    int rows = 0;

    while ((*rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows++ == 0)
            evbuffer_add_printf(out, "<table><thead><tr><th>%s</th><th>Protocol</th><th>Local</th>"
                             "<th>Remote</th><th>Direction</th><th class=\"num\">Bytes in</th>"
                             "<th class=\"num\">Bytes out</th>%s</tr></thead><tbody>",
                        hourly ? "Hour" : "Received", hourly ? "<th class=\"num\">Records</th>" : "");
        evbuffer_add_printf(out, "<tr><td class=\"t\">");
        page_put_time(out, page_col_int(st, 0));
        html_printf(out,
                    "</td><td>%s</td><td class=\"mono\">%s:%lld</td><td class=\"mono\">%s:%lld</td>"
                    "<td>%s</td><td class=\"num\">%lld</td><td class=\"num\">%lld</td>",
                    page_col(st, 1), page_col(st, 2), (long long)page_col_int(st, 3),
                    page_col(st, 4), (long long)page_col_int(st, 5), page_col(st, 8),
                    (long long)page_col_int(st, 6), (long long)page_col_int(st, 7));
        if (hourly)
            evbuffer_add_printf(out, "<td class=\"num\">%" PRId64 "</td>", page_col_int(st, 9));
        evbuffer_add_printf(out, "</tr>");
    }
    if (rows > 0)
        evbuffer_add_printf(out, "</tbody></table>");
    return rows;
}

