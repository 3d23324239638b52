/*
 * web/pages.c: the dashboard (SPEC 6), server-rendered HTML. Each page runs
 * a few named queries on the read-only connection and writes the result
 * through html.c, so every stored string is escaped where it lands; the two
 * writes a user makes (dismissing or reactivating an alert, saving a
 * security group) go through the evaluator module on the read-write
 * connection. The route table at the end is what server.c dispatches on.
 */
#include "internal.h"
#include "../common/catalog.h"
#include "../evaluator/evaluator.h"
#include "../evaluator/groups.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE_ALERTS      50    /* alerts per page of /alerts */
#define PAGE_DEVICES     100   /* devices per page of /devices */
#define DAY_MS           86400000LL
#define HOUR_MS          3600000LL
#define CHART_DAYS       30    /* the overview's alerts per day */
#define DAILY_DAYS       14    /* the grouped view's default span */
#define SERIES_MAX_BARS  150   /* at most this many bars in a time chart */
#define FRESH_COMMIT_MS  10000 /* an ingester that committed within this is alive */
#define HTML             "text/html; charset=utf-8"

/* ---- what the pages know about the catalogue ---------------------------------------------- */

/*
 * The alert types of SPEC 5.2 are common/catalog.c's: a short label for
 * menus and tables, how to show the data behind one (its kind), and its
 * severity.
 */
static const struct catalog_entry *alert_kind(const char *type)
{
    const struct catalog_entry *e = catalog_find(type);

    return e != NULL && e->kind != CK_REC ? e : NULL;
}

/* The metrics of device_counts, what they count, and the rule that watches each. */
static const struct metric {
    const char *name, *label, *rule;
} metrics[] = {
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
#define N_METRICS (sizeof(metrics) / sizeof(metrics[0]))

static const struct metric *metric_of_rule(const char *rule)
{
    for (size_t i = 0; rule != NULL && i < N_METRICS; i++)
        if (metrics[i].rule != NULL && strcmp(metrics[i].rule, rule) == 0)
            return &metrics[i];
    return NULL;
}

/* ---- small helpers -------------------------------------------------------------------------- */

/* A query parameter, with an empty value taken as absent (an untouched form field). */
static const char *param(struct web_req *r, const char *name)
{
    const char *v = web_param(r, name);

    return v != NULL && *v != '\0' ? v : NULL;
}

static struct evbuffer *page_open(struct web_req *r, const char *title, const char *active)
{
    struct evbuffer *out = evbuffer_new();

    if (out == NULL)
        fatal("out of memory");
    html_begin(r, out, title, active);
    return out;
}

static void page_send(struct web_req *r, struct evbuffer *out, int status)
{
    html_end(out);
    web_send(r, status, HTML, out);
}

/* A whole page that says what went wrong, with status. */
static void page_error(struct web_req *r, int status, const char *title, const char *msg)
{
    struct evbuffer *out = page_open(r, title, NULL);

    html_printf(out, "<h1>%s</h1><div class=\"error\">%s</div><p><a href=\"/\">Overview</a></p>",
                title, msg);
    page_send(r, out, status);
}

/* See location (already URL-safe), after a form post. */
static void redirect(struct web_req *r, const char *location)
{
    struct evbuffer *out = evbuffer_new();

    if (out == NULL)
        fatal("out of memory");
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Location", location);
    html_printf(out, "<a href=\"%s\">continue</a>\n", location);
    web_send(r, 303, HTML, out);
}

/* A statement on the read-only connection; NULL (and a note in out) when it fails. */
static sqlite3_stmt *prepare(struct web_req *r, struct evbuffer *out, const char *sql)
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
static void finish(struct web_req *r, struct evbuffer *out, sqlite3_stmt *st, int rc)
{
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        html_printf(out, "<div class=\"error\">Could not read the database: %s</div>",
                    sqlite3_errmsg(r->ctx->db));
    sqlite3_finalize(st);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s != NULL)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static int64_t col_int(sqlite3_stmt *st, int i)
{
    return sqlite3_column_int64(st, i);
}

static bool col_null(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL;
}

/* A time for people: "2026-11-29 10:00:05" (UTC). */
static void fmt_time(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    if (strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        buf[0] = '\0';
}

/* ISO 8601 to the second, as URLs and forms carry times: "2026-11-29T10:00:05Z". */
static void fmt_iso(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    if (strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        buf[0] = '\0';
}

static void put_time(struct evbuffer *out, int64_t ms)
{
    char t[40];

    fmt_time(ms, t, sizeof(t));
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
    else if (a < HOUR_MS)
        n = a / 60000, unit = "min";
    else if (a < 2 * DAY_MS)
        n = a / HOUR_MS, unit = "h";
    else
        n = a / DAY_MS, unit = "d";
    snprintf(buf, len, d < 0 ? "in %lld %s" : "%lld %s ago", (long long)n, unit);
}

/* A time cell: the age, with the exact time on hover. */
static void put_when(struct evbuffer *out, int64_t now, int64_t ms)
{
    char t[40], age[40];

    fmt_time(ms, t, sizeof(t));
    fmt_age(now, ms, age, sizeof(age));
    evbuffer_add_printf(out, "<span title=\"%s UTC\">%s</span>", t, age);
}

/* A span as people say it: "15 min", "1 h 30 min", "2 d". */
static void fmt_span(int64_t ms, char *buf, size_t len)
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

static void put_badge(struct evbuffer *out, const char *cls, const char *text)
{
    html_printf(out, "<span class=\"badge b-%s\">%s</span>", cls, text);
}

/* A severity or status badge: the value itself names the style (b-High, b-Active, ...). */
static void put_state(struct evbuffer *out, const char *value)
{
    static const char *const known[] = {"High",   "Medium",   "Low",      "Informational",
                                        "Active", "Resolved", "Dismissed"};

    for (size_t i = 0; value != NULL && i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(value, known[i]) == 0) {
            put_badge(out, known[i], value);
            return;
        }
    put_badge(out, "other", value ? value : "?");
}

static void put_device(struct evbuffer *out, const char *device_id)
{
    evbuffer_add_printf(out, "<a class=\"mono\" href=\"/devices/");
    url_escape(out, device_id);
    html_printf(out, "\">%s</a>", device_id);
}

/* The scope of an alert or recommendation: its device, else its hub. */
static void put_scope(struct evbuffer *out, const char *device_id, const char *hub)
{
    if (device_id != NULL)
        put_device(out, device_id);
    else
        html_printf(out, "<span class=\"nw\"><span class=\"muted\">hub</span> %s</span>", hub);
}

/* A query string under construction: "?a=1&amp;b=2", each value percent-encoded. */
struct qs {
    struct evbuffer *out;
    bool any;
};

static void qs_add(struct qs *q, const char *key, const char *value)
{
    if (value == NULL || *value == '\0')
        return;
    evbuffer_add_printf(q->out, "%s%s=", q->any ? "&amp;" : "?", key);
    url_escape(q->out, value);
    q->any = true;
}

static void qs_add_time(struct qs *q, const char *key, int64_t ms)
{
    char t[40];

    fmt_iso(ms, t, sizeof(t));
    qs_add(q, key, t);
}

/*
 * A time parameter of a page: ISO 8601 ("2026-11-29T10:00:00Z", or
 * "2026-11-29T10:00" as a datetime-local input sends it, read as UTC) or a
 * bare date. Absent: dflt. Bad: false with a message in err.
 */
static bool time_param(struct web_req *r, const char *name, int64_t dflt, int64_t *out, char *err,
                       size_t errlen)
{
    const char *v = param(r, name);
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
static bool parse_i64(const char *s, int64_t *v)
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

static void put_json_value(struct evbuffer *out, json_t *v, int depth);

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
        put_json_value(out, v, depth + 1);
        evbuffer_add_printf(out, "</dd>");
    }
    evbuffer_add_printf(out, "</dl>");
}

/*
 * A JSON value for people: strings as they are, numbers, yes/no, arrays of
 * scalars joined with commas, objects as lists; compact JSON past a depth.
 */
static void put_json_value(struct evbuffer *out, json_t *v, int depth)
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
                put_json_value(out, e, depth + 1);
                evbuffer_add_printf(out, "</div>");
            } else {
                evbuffer_add_printf(out, "%s", i > 0 ? ", " : "");
                put_json_value(out, e, depth + 1);
            }
        }
    }
}

/* A JSON object as a list (or a two-column table); text that is not an object as it is. */
static void put_json_props(struct evbuffer *out, const char *json, bool as_table)
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
            put_json_value(out, v, 1);
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

static bool series_load(struct web_req *r, struct evbuffer *out, const char *device,
                        const char *metric, int64_t t0, int64_t step, size_t n, double *values)
{
    sqlite3_stmt *st = prepare(r, out, SQL_SERIES);
    int rc;

    memset(values, 0, n * sizeof(*values));
    if (st == NULL)
        return false;
    bind_text(st, 1, device);
    bind_text(st, 2, metric);
    sqlite3_bind_int64(st, 3, t0);
    sqlite3_bind_int64(st, 4, step);
    sqlite3_bind_int64(st, 5, t0 + step * (int64_t)n);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t i = col_int(st, 0);
        if (i >= 0 && (size_t)i < n)
            values[i] = sqlite3_column_double(st, 1);
    }
    finish(r, out, st, rc);
    return rc == SQLITE_DONE;
}

/* A step for a time chart of span: a round size giving at most SERIES_MAX_BARS bars. */
static int64_t series_step(int64_t span)
{
    static const int64_t steps[] = {10000,   30000,   60000,    300000,   600000,  900000,
                                    1800000, 3600000, 7200000, 21600000, 43200000, DAY_MS};

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (span / steps[i] <= SERIES_MAX_BARS)
            return steps[i];
    return DAY_MS * (span / DAY_MS / SERIES_MAX_BARS + 1);
}

/* ---- / : the overview ------------------------------------------------------------------------ */

static const char SQL_ACTIVE_BY_SEVERITY[] =
    "SELECT severity, count(*) FROM alerts WHERE status = 'Active' GROUP BY severity";
static const char SQL_TOTALS[] =
    "SELECT (SELECT count(*) FROM devices), "
    "(SELECT count(*) FROM recommendations WHERE state = 'Active')";

static void overview_tiles(struct web_req *r, struct evbuffer *out)
{
    static const char *const sev[] = {"High", "Medium", "Low"};
    int64_t n[3] = {0, 0, 0}, devices = 0, recs = 0;
    sqlite3_stmt *st;
    int rc;

    if ((st = prepare(r, out, SQL_ACTIVE_BY_SEVERITY)) == NULL)
        return;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        for (int i = 0; i < 3; i++)
            if (col(st, 0) != NULL && strcmp(col(st, 0), sev[i]) == 0)
                n[i] = col_int(st, 1);
    finish(r, out, st, rc);
    if ((st = prepare(r, out, SQL_TOTALS)) == NULL)
        return;
    if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        devices = col_int(st, 0), recs = col_int(st, 1);
    finish(r, out, st, rc);

    evbuffer_add_printf(out, "<div class=\"tiles\">");
    for (int i = 0; i < 3; i++)
        evbuffer_add_printf(out,
                            "<a class=\"tile %s\" href=\"/alerts?status=Active&amp;severity=%s\">"
                            "<div class=\"n\">%" PRId64 "</div>"
                            "<div class=\"l\">active %s-severity alerts</div></a>",
                            sev[i], sev[i], n[i], i == 0 ? "high" : i == 1 ? "medium" : "low");
    evbuffer_add_printf(out,
                        "<a class=\"tile\" href=\"/recommendations\"><div class=\"n\">%" PRId64
                        "</div><div class=\"l\">active recommendations</div></a>"
                        "<a class=\"tile okay\" href=\"/devices\"><div class=\"n\">%" PRId64
                        "</div><div class=\"l\">devices registered</div></a></div>",
                        recs, devices);
}

/*
 * One count a day: each is a range of the start_ms index alone, which is
 * cheaper than grouping a month of alerts (a million of them take a tenth of
 * a second this way, several times that through a GROUP BY).
 */
static const char SQL_ALERTS_IN_DAY[] =
    "SELECT count(*) FROM alerts WHERE start_ms >= ?1 AND start_ms < ?2";

static void overview_chart(struct web_req *r, struct evbuffer *out, int64_t now)
{
    int64_t today = now / DAY_MS, first = today - (CHART_DAYS - 1);
    double counts[CHART_DAYS] = {0};
    char labels[CHART_DAYS][8], tips[CHART_DAYS][40], hrefs[CHART_DAYS][96];
    struct chart_bar bars[CHART_DAYS];
    struct chart c = {"Alerts raised per day, last 30 days", "alerts raised", 1200, 200};
    double total = 0;
    sqlite3_stmt *st;
    int rc = SQLITE_DONE;

    if ((st = prepare(r, out, SQL_ALERTS_IN_DAY)) == NULL)
        return;
    for (int i = 0; i < CHART_DAYS && rc == SQLITE_DONE; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, (first + i) * DAY_MS);
        sqlite3_bind_int64(st, 2, (first + i + 1) * DAY_MS);
        if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            counts[i] = sqlite3_column_double(st, 0);
            rc = sqlite3_step(st);
        }
        if (rc != SQLITE_DONE)
            finish(r, out, st, rc), st = NULL;
    }
    if (st != NULL)
        finish(r, out, st, SQLITE_DONE);
    for (int i = 0; i < CHART_DAYS; i++) {
        char from[32], to[32], day[16];
        int64_t t = (first + i) * DAY_MS;

        fmt_iso(t, from, sizeof(from));
        fmt_iso(t + DAY_MS, to, sizeof(to));
        snprintf(day, sizeof(day), "%.10s", from);
        snprintf(labels[i], sizeof(labels[i]), "%.5s", day + 5);
        snprintf(tips[i], sizeof(tips[i]), "%s", day);
        snprintf(hrefs[i], sizeof(hrefs[i]), "/alerts?since=%s&until=%s", from, to);
        bars[i] = (struct chart_bar){(CHART_DAYS - 1 - i) % 3 == 0 ? labels[i] : NULL, tips[i],
                                     hrefs[i], counts[i]};
        total += counts[i];
    }
    evbuffer_add_printf(out,
                        "<div class=\"card\"><h2>Alerts per day</h2><p class=\"hint\">New alerts "
                        "raised each UTC day over the last 30 days (%.0f in all). Click a bar to "
                        "see that day's alerts; <a href=\"/alerts?view=daily\">by type and "
                        "day</a> shows what they were.</p>",
                        total);
    chart_bars(out, &c, bars, CHART_DAYS);
    evbuffer_add_printf(out, "</div>");
}

/*
 * Alerts by status and type, over every alert stored: the (status,
 * alert_type) index answers it in its own order, without a sort.
 */
static const char SQL_TYPE_COUNTS[] =
    "SELECT status, alert_type, count(*) FROM alerts GROUP BY status, alert_type";

struct type_count {
    const struct catalog_entry *k;
    int64_t raised, active;
};

static int type_count_cmp(const void *a, const void *b)
{
    const struct type_count *x = a, *y = b;

    if (x->raised != y->raised)
        return x->raised < y->raised ? 1 : -1;
    return strcmp(x->k->type, y->k->type);
}

static void overview_top_types(struct web_req *r, struct evbuffer *out)
{
    struct type_count counts[CATALOG_N_ALERTS];
    sqlite3_stmt *st;
    int rc, rows = 0;

    for (size_t i = 0; i < CATALOG_N_ALERTS; i++)
        counts[i] = (struct type_count){&catalog_alerts()[i], 0, 0};
    evbuffer_add_printf(out, "<div class=\"card\"><h2>Most prevalent alerts</h2>"
                             "<p class=\"hint\">Alert types raised most often, over every alert "
                             "stored.</p>");
    if ((st = prepare(r, out, SQL_TYPE_COUNTS)) == NULL) {
        evbuffer_add_printf(out, "</div>");
        return;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const struct catalog_entry *k = alert_kind(col(st, 1));
        if (k == NULL)
            continue;
        counts[k - catalog_alerts()].raised += col_int(st, 2);
        if (col(st, 0) != NULL && strcmp(col(st, 0), "Active") == 0)
            counts[k - catalog_alerts()].active += col_int(st, 2);
    }
    finish(r, out, st, rc);
    qsort(counts, CATALOG_N_ALERTS, sizeof(counts[0]), type_count_cmp);
    evbuffer_add_printf(out, "<table><thead><tr><th>Alert</th><th>Severity</th>"
                             "<th class=\"num\">Raised</th><th class=\"num\">Active</th></tr>"
                             "</thead><tbody>");
    for (size_t i = 0; i < CATALOG_N_ALERTS && i < 8 && counts[i].raised > 0; i++, rows++) {
        html_printf(out, "<tr><td><a href=\"/alerts?type=%s\">%s</a></td><td>",
                    counts[i].k->type, counts[i].k->label);
        put_state(out, counts[i].k->severity);
        evbuffer_add_printf(out, "</td><td class=\"num\">%" PRId64 "</td><td class=\"num\">%" PRId64
                                 "</td></tr>",
                            counts[i].raised, counts[i].active);
    }
    evbuffer_add_printf(out, "</tbody></table>");
    if (rows == 0)
        evbuffer_add_printf(out, "<p class=\"empty\">No alerts yet.</p>");
    evbuffer_add_printf(out, "</div>");
}

/*
 * The (device_id, start_ms) index holds all this query reads; "device_id >
 * ''" lets SQLite walk it (every device id has at least one byte).
 */
static const char SQL_TOP_DEVICES[] =
    "SELECT device_id, count(*) FROM alerts WHERE device_id > '' AND start_ms >= ?1 "
    "GROUP BY device_id ORDER BY 2 DESC, 1 LIMIT 8";
static const char SQL_DEVICE_ACTIVE[] =
    "SELECT count(*) FROM alerts WHERE device_id = ?1 AND status = 'Active'";

static void overview_top_devices(struct web_req *r, struct evbuffer *out, int64_t now)
{
    sqlite3_stmt *st, *act;
    int rc, rows = 0;

    evbuffer_add_printf(out, "<div class=\"card\"><h2>Most alerted devices</h2>"
                             "<p class=\"hint\">Devices with the most alerts in the last 30 "
                             "days.</p>");
    if ((st = prepare(r, out, SQL_TOP_DEVICES)) == NULL) {
        evbuffer_add_printf(out, "</div>");
        return;
    }
    if ((act = prepare(r, out, SQL_DEVICE_ACTIVE)) == NULL) {
        sqlite3_finalize(st);
        evbuffer_add_printf(out, "</div>");
        return;
    }
    sqlite3_bind_int64(st, 1, now - CHART_DAYS * DAY_MS);
    evbuffer_add_printf(out, "<table><thead><tr><th>Device</th><th class=\"num\">Alerts</th>"
                             "<th class=\"num\">Active now</th><th></th></tr></thead><tbody>");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t active = 0;

        sqlite3_reset(act);
        bind_text(act, 1, col(st, 0));
        if (sqlite3_step(act) == SQLITE_ROW)
            active = col_int(act, 0);
        evbuffer_add_printf(out, "<tr><td>");
        put_device(out, col(st, 0));
        evbuffer_add_printf(out, "</td><td class=\"num\">%" PRId64 "</td><td class=\"num\">%" PRId64
                                 "</td><td class=\"num\"><a href=\"/alerts?device=",
                            col_int(st, 1), active);
        url_escape(out, col(st, 0));
        evbuffer_add_printf(out, "\">its alerts</a></td></tr>");
        rows++;
    }
    evbuffer_add_printf(out, "</tbody></table>");
    if (rows == 0)
        evbuffer_add_printf(out, "<p class=\"empty\">No device alerts in the last 30 days.</p>");
    sqlite3_finalize(act);
    finish(r, out, st, rc);
    evbuffer_add_printf(out, "</div>");
}

/* Devices with an active alert, or silent for longer than the evaluator's limit (?1). */
static const char SQL_UNHEALTHY[] =
    "WITH open AS (SELECT device_id, count(*) AS n FROM alerts "
    "              WHERE status = 'Active' AND device_id IS NOT NULL GROUP BY device_id) "
    "SELECT d.device_id, d.last_seen_ms, coalesce(o.n, 0), count(*) OVER () "
    "FROM devices d LEFT JOIN open o ON o.device_id = d.device_id "
    "WHERE o.n IS NOT NULL OR d.last_seen_ms < ?1 "
    "ORDER BY d.last_seen_ms < ?1 DESC, 3 DESC, d.device_id LIMIT 10";

static void overview_unhealthy(struct web_req *r, struct evbuffer *out, int64_t now)
{
    int64_t silent_before = now - r->ctx->cfg->evaluator_silent_after_ms, total = 0;
    char span[32];
    sqlite3_stmt *st;
    int rc;

    fmt_span(r->ctx->cfg->evaluator_silent_after_ms, span, sizeof(span));
    html_printf(out,
                "<div class=\"card\"><h2>Unhealthy devices</h2><p class=\"hint\">Devices with "
                "active alerts, or silent for more than %s (evaluator.silent_after).</p>",
                span);
    if ((st = prepare(r, out, SQL_UNHEALTHY)) == NULL) {
        evbuffer_add_printf(out, "</div>");
        return;
    }
    sqlite3_bind_int64(st, 1, silent_before);
    evbuffer_add_printf(out, "<table><thead><tr><th>Device</th><th>Last seen</th>"
                             "<th class=\"num\">Active alerts</th><th>Why</th></tr></thead><tbody>");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        bool silent = col_int(st, 1) < silent_before;
        evbuffer_add_printf(out, "<tr><td>");
        put_device(out, col(st, 0));
        evbuffer_add_printf(out, "</td><td class=\"t\">");
        put_when(out, now, col_int(st, 1));
        evbuffer_add_printf(out, "</td><td class=\"num\">%" PRId64 "</td><td>", col_int(st, 2));
        if (silent)
            put_badge(out, "warn", "silent");
        if (col_int(st, 2) > 0)
            put_badge(out, "bad", "alerts");
        evbuffer_add_printf(out, "</td></tr>");
        total = col_int(st, 3);
    }
    evbuffer_add_printf(out, "</tbody></table>");
    if (total == 0)
        evbuffer_add_printf(out, "<p class=\"empty\">Every device is reporting and has no active "
                                 "alert.</p>");
    else if (total > 10)
        evbuffer_add_printf(out, "<p class=\"small muted\">%" PRId64 " unhealthy devices in all; "
                                 "<a href=\"/alerts?status=Active\">every active alert</a>.</p>",
                            total);
    finish(r, out, st, rc);
    evbuffer_add_printf(out, "</div>");
}

static const char SQL_ACTIVE_RECS[] =
    "SELECT rec_id, display_name, severity, device_id, hub, discovered_ms FROM recommendations "
    "WHERE state = 'Active' "
    "ORDER BY CASE severity WHEN 'High' THEN 0 WHEN 'Medium' THEN 1 ELSE 2 END, discovered_ms DESC "
    "LIMIT 8";

static void overview_recs(struct web_req *r, struct evbuffer *out, int64_t now)
{
    sqlite3_stmt *st;
    int rc, rows = 0;

    evbuffer_add_printf(out, "<div class=\"card\"><h2>Active recommendations</h2>"
                             "<p class=\"hint\">Weaknesses in the configuration of the hub and "
                             "the devices, highest severity first. <a href=\"/recommendations\">"
                             "All recommendations</a>.</p>");
    if ((st = prepare(r, out, SQL_ACTIVE_RECS)) == NULL) {
        evbuffer_add_printf(out, "</div>");
        return;
    }
    evbuffer_add_printf(out, "<table><thead><tr><th>Recommendation</th><th>Severity</th>"
                             "<th>Applies to</th><th>Since</th></tr></thead><tbody>");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        html_printf(out, "<tr><td><a href=\"/recommendations#rec-%lld\">%s</a></td><td>",
                    (long long)col_int(st, 0), col(st, 1));
        put_state(out, col(st, 2));
        evbuffer_add_printf(out, "</td><td>");
        put_scope(out, col(st, 3), col(st, 4));
        evbuffer_add_printf(out, "</td><td class=\"t\">");
        put_when(out, now, col_int(st, 5));
        evbuffer_add_printf(out, "</td></tr>");
        rows++;
    }
    evbuffer_add_printf(out, "</tbody></table>");
    if (rows == 0)
        evbuffer_add_printf(out, "<p class=\"empty\">No active recommendation.</p>");
    finish(r, out, st, rc);
    evbuffer_add_printf(out, "</div>");
}

static const char SQL_INGEST_STATE[] =
    "SELECT pid, started_ms, last_commit_ms, connected, watermark_ms, last_error "
    "FROM ingest_state WHERE id = 1";
static const char SQL_DEAD_LAST_HOUR[] =
    "SELECT reason, count(*) FROM dead_letters WHERE recv_ms >= ?1 "
    "GROUP BY reason ORDER BY 2 DESC, 1 LIMIT 10";
static const char SQL_INGEST_COUNTERS[] =
    "SELECT name, label, value FROM ingest_counters WHERE name IN ('warden_messages_total', "
    "'warden_events_total', 'warden_flows_total', 'warden_events_duplicate_total', "
    "'warden_dead_letters_total') ORDER BY name, value DESC";

/* "kind=\"security\"" reads as "security". */
static void put_label(struct evbuffer *out, const char *label)
{
    const char *q = label ? strchr(label, '"') : NULL;
    const char *e = q ? strchr(q + 1, '"') : NULL;

    if (e != NULL)
        html_printf(out, "%.*s", (int)(e - q - 1), q + 1);
    else
        html_escape(out, label && *label ? label : "all");
}

static void ingest_counters(struct web_req *r, struct evbuffer *out)
{
    static const struct {
        const char *name, *label;
    } names[] = {
        {"warden_messages_total", "Messages received"},
        {"warden_events_total", "Security events stored"},
        {"warden_flows_total", "Flows stored"},
        {"warden_events_duplicate_total", "Duplicate events ignored"},
        {"warden_dead_letters_total", "Dead letters (since the start)"},
    };
    sqlite3_stmt *st = prepare(r, out, SQL_INGEST_COUNTERS);
    const char *current = NULL;
    char last[64] = "";
    int rc;

    evbuffer_add_printf(out, "<div class=\"card\"><h2>What came in</h2><p class=\"hint\">"
                             "Counters of the ingester since the database was created.</p>");
    if (st == NULL) {
        evbuffer_add_printf(out, "</div>");
        return;
    }
    evbuffer_add_printf(out, "<table class=\"kv\">");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = col(st, 0);
        if (name == NULL)
            continue;
        if (strcmp(name, last) != 0) {
            current = name;
            for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strcmp(names[i].name, name) == 0)
                    current = names[i].label;
            if (last[0] != '\0')
                evbuffer_add_printf(out, "</td></tr>");
            html_printf(out, "<tr><th>%s</th><td>", current);
            snprintf(last, sizeof(last), "%s", name);
        } else {
            evbuffer_add_printf(out, " \xc2\xb7 ");
        }
        if (col(st, 1) != NULL && col(st, 1)[0] != '\0') {
            put_label(out, col(st, 1));
            evbuffer_add_printf(out, " ");
        }
        evbuffer_add_printf(out, "<b>%" PRId64 "</b>", col_int(st, 2));
    }
    evbuffer_add_printf(out, "%s</table>", last[0] ? "</td></tr>" : "");
    if (last[0] == '\0')
        evbuffer_add_printf(out, "<p class=\"empty\">Nothing ingested yet.</p>");
    finish(r, out, st, rc);
    evbuffer_add_printf(out, "</div>");
}

static void overview_ingest(struct web_req *r, struct evbuffer *out, int64_t now)
{
    sqlite3_stmt *st;
    int rc, rows = 0;

    evbuffer_add_printf(out, "<div class=\"card\"><h2>Ingest health</h2><p class=\"hint\">The "
                             "MQTT ingester's heartbeat. Messages that could not be stored go to "
                             "dead letters with the reason.</p>");
    if ((st = prepare(r, out, SQL_INGEST_STATE)) == NULL) {
        evbuffer_add_printf(out, "</div>");
        return;
    }
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        bool connected = col_int(st, 3) != 0;
        bool fresh = !col_null(st, 2) && now - col_int(st, 2) < FRESH_COMMIT_MS;

        evbuffer_add_printf(out, "<table class=\"kv\"><tr><th>Broker</th><td>");
        put_badge(out, connected ? "ok" : "bad", connected ? "connected" : "disconnected");
        evbuffer_add_printf(out, "</td></tr><tr><th>Last commit</th><td>");
        if (col_null(st, 2)) {
            evbuffer_add_printf(out, "never");
        } else {
            put_when(out, now, col_int(st, 2));
            if (!fresh)
                evbuffer_add_printf(out, " "), put_badge(out, "warn", "stale");
        }
        evbuffer_add_printf(out, "</td></tr><tr><th>Watermark</th><td>");
        if (col_null(st, 4))
            evbuffer_add_printf(out, "none");
        else
            put_time(out, col_int(st, 4));
        evbuffer_add_printf(out, "<div class=\"small muted\">Everything read before this is "
                                 "committed; the evaluator waits for it.</div></td></tr>");
        if (!col_null(st, 0))
            evbuffer_add_printf(out, "<tr><th>Process</th><td>pid %" PRId64, col_int(st, 0));
        if (!col_null(st, 0) && !col_null(st, 1)) {
            evbuffer_add_printf(out, ", started ");
            put_when(out, now, col_int(st, 1));
        }
        if (!col_null(st, 0))
            evbuffer_add_printf(out, "</td></tr>");
        if (col(st, 5) != NULL && col(st, 5)[0] != '\0')
            html_printf(out, "<tr><th>Last error</th><td class=\"mono\">%s</td></tr>", col(st, 5));
        evbuffer_add_printf(out, "</table>");
    }
    finish(r, out, st, rc);

    if ((st = prepare(r, out, SQL_DEAD_LAST_HOUR)) != NULL) {
        sqlite3_bind_int64(st, 1, now - HOUR_MS);
        evbuffer_add_printf(out, "<h3>Dead letters in the last hour</h3>");
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (rows++ == 0)
                evbuffer_add_printf(out, "<table><thead><tr><th>Reason</th>"
                                         "<th class=\"num\">Messages</th></tr></thead><tbody>");
            html_printf(out, "<tr><td class=\"mono\">%s</td><td class=\"num\">%lld</td></tr>",
                        col(st, 0), (long long)col_int(st, 1));
        }
        evbuffer_add_printf(out, rows ? "</tbody></table>" : "<p class=\"empty\">None.</p>");
        finish(r, out, st, rc);
    }
    evbuffer_add_printf(out, "</div>");
}

/*
 * The overview reads every alert of the last month for its history cards (a
 * few tenths of a second with a million alerts stored) and every device for
 * the unhealthy ones (milliseconds with ten thousand). Its body is therefore
 * kept for a few seconds, so a wall screen or a crowd of browsers costs one
 * such read per interval; a change made through the web (web_overview_stale)
 * drops it at once, so a user sees their own dismissal. The evaluator writes
 * alerts once a pass, a minute apart by default: a body five seconds old
 * shows them a little later, never wrongly. The server runs one event loop
 * in one thread, so this needs no lock.
 */
#define OVERVIEW_CACHE_MS 5000

static struct {
    int64_t at_ms;
    struct evbuffer *html;
} overview_cache;

void web_overview_stale(void)
{
    overview_cache.at_ms = INT64_MIN / 2;
}

static void overview_body(struct web_req *r, struct evbuffer *out, int64_t now)
{
    struct evbuffer *fresh;

    if (overview_cache.html != NULL && now >= overview_cache.at_ms &&
        now - overview_cache.at_ms < OVERVIEW_CACHE_MS) {
        evbuffer_add(out, evbuffer_pullup(overview_cache.html, -1),
                     evbuffer_get_length(overview_cache.html));
        return;
    }
    if ((fresh = evbuffer_new()) == NULL)
        fatal("out of memory");
    overview_tiles(r, fresh);
    overview_chart(r, fresh, now);
    evbuffer_add_printf(fresh, "<div class=\"grid\">");
    overview_top_types(r, fresh);
    overview_top_devices(r, fresh, now);
    overview_unhealthy(r, fresh, now);
    overview_recs(r, fresh, now);
    overview_ingest(r, fresh, now);
    ingest_counters(r, fresh);
    evbuffer_add_printf(fresh, "</div>");
    evbuffer_add(out, evbuffer_pullup(fresh, -1), evbuffer_get_length(fresh));
    if (overview_cache.html != NULL)
        evbuffer_free(overview_cache.html);
    overview_cache.html = fresh;
    overview_cache.at_ms = now;
}

static void page_overview(struct web_req *r)
{
    struct evbuffer *out = page_open(r, "Overview", "overview");
    int64_t now = clock_now_ms();

    evbuffer_add_printf(out,
                        "<h1>Overview</h1><p class=\"lead\">What Warden has found in the device "
                        "fleet: alerts are suspicious activity of a device or of the hub; "
                        "recommendations are weaknesses in their configuration.</p>");
    overview_body(r, out, now);
    page_send(r, out, 200);
}

/* ---- /alerts : the list, and the view by type and day ----------------------------------------- */

struct alert_filter {
    const char *severity, *type, *status, *device;
    int64_t since, until; /* [since, until) */
    bool has_since, has_until;
    char err[200];
};

static bool one_of(const char *v, const char *const *allowed, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v, allowed[i]) == 0)
            return true;
    return false;
}

/* Read the filters; a bad one is dropped with a message (the page still shows). */
static void filter_read(struct web_req *r, struct alert_filter *f, int64_t dflt_since)
{
    static const char *const sevs[] = {"High", "Medium", "Low", "Informational"};
    static const char *const stats[] = {"Active", "Dismissed", "Resolved"};
    char e[120] = "";

    memset(f, 0, sizeof(*f));
    f->severity = param(r, "severity");
    f->type = param(r, "type");
    f->status = param(r, "status");
    f->device = param(r, "device");
    if (f->severity != NULL && !one_of(f->severity, sevs, 4)) {
        snprintf(f->err, sizeof(f->err), "severity: one of High, Medium, Low. ");
        f->severity = NULL;
    }
    if (f->status != NULL && !one_of(f->status, stats, 3)) {
        snprintf(f->err + strlen(f->err), sizeof(f->err) - strlen(f->err),
                 "status: one of Active, Dismissed, Resolved. ");
        f->status = NULL;
    }
    f->has_since = param(r, "since") != NULL;
    f->has_until = param(r, "until") != NULL;
    if (!time_param(r, "since", dflt_since, &f->since, e, sizeof(e)) ||
        !time_param(r, "until", INT64_MAX, &f->until, e, sizeof(e)))
        snprintf(f->err + strlen(f->err), sizeof(f->err) - strlen(f->err), "%s", e);
    if (f->since == dflt_since)
        f->has_since = false;
    if (f->until == INT64_MAX)
        f->has_until = false;
}

/* The filters as a query string, for links that keep them. */
static void filter_qs(struct qs *q, const struct alert_filter *f)
{
    qs_add(q, "severity", f->severity);
    qs_add(q, "type", f->type);
    qs_add(q, "status", f->status);
    qs_add(q, "device", f->device);
    if (f->has_since)
        qs_add_time(q, "since", f->since);
    if (f->has_until)
        qs_add_time(q, "until", f->until);
}

static void select_options(struct evbuffer *out, const char *name, const char *label,
                           const char *const *values, size_t n, const char *current)
{
    html_printf(out, "<label>%s<select name=\"%s\"><option value=\"\">any</option>", label, name);
    for (size_t i = 0; i < n; i++)
        html_printf(out, "<option%s>%s</option>",
                    current && strcmp(current, values[i]) == 0 ? " selected" : "", values[i]);
    evbuffer_add_printf(out, "</select></label>");
}

/* A datetime-local input holding t (UTC), empty when unset. */
static void time_input(struct evbuffer *out, const char *name, const char *label, bool set,
                       int64_t t)
{
    char v[32] = "";

    if (set) {
        fmt_iso(t, v, sizeof(v));
        v[19] = '\0'; /* datetime-local takes no zone: the page reads it as UTC */
    }
    html_printf(out,
                "<label>%s (UTC)<input type=\"datetime-local\" step=\"1\" name=\"%s\" "
                "value=\"%s\"></label>",
                label, name, v);
}

static void filter_form(struct evbuffer *out, const struct alert_filter *f, const char *view)
{
    static const char *const sevs[] = {"High", "Medium", "Low"};
    static const char *const stats[] = {"Active", "Dismissed", "Resolved"};

    evbuffer_add_printf(out, "<form class=\"card filters\" method=\"get\" action=\"/alerts\">");
    if (view != NULL)
        html_printf(out, "<input type=\"hidden\" name=\"view\" value=\"%s\">", view);
    select_options(out, "severity", "Severity", sevs, 3, f->severity);
    evbuffer_add_printf(out, "<label>Type<select name=\"type\"><option value=\"\">any</option>");
    for (size_t i = 0; i < CATALOG_N_ALERTS; i++)
        html_printf(out, "<option value=\"%s\"%s>%s</option>", catalog_alerts()[i].type,
                    f->type && strcmp(f->type, catalog_alerts()[i].type) == 0 ? " selected" : "",
                    catalog_alerts()[i].label);
    evbuffer_add_printf(out, "</select></label>");
    select_options(out, "status", "Status", stats, 3, f->status);
    html_printf(out,
                "<label>Device<input name=\"device\" value=\"%s\" placeholder=\"device id\" "
                "size=\"14\"></label>",
                f->device ? f->device : "");
    time_input(out, "since", "From", f->has_since, f->since);
    time_input(out, "until", "Until", f->has_until, f->until);
    html_printf(out, "<div class=\"nw\"><button type=\"submit\">Filter</button> "
                     "<a class=\"button quiet\" href=\"/alerts%s\">Clear</a></div></form>",
                view ? "?view=daily" : "");
    if (f->err[0] != '\0')
        html_printf(out, "<div class=\"error\">%s</div>", f->err);
}

static void alerts_tabs(struct evbuffer *out, const struct alert_filter *f, bool daily)
{
    struct qs q = {out, false};

    evbuffer_add_printf(out, "<div class=\"tabs\"><a href=\"/alerts");
    filter_qs(&q, f);
    evbuffer_add_printf(out, "\"%s>Newest first</a><a href=\"/alerts?view=daily",
                        daily ? "" : " class=\"on\"");
    q.any = true;
    filter_qs(&q, f);
    evbuffer_add_printf(out, "\"%s>By type and day</a></div>", daily ? " class=\"on\"" : "");
}

#define ALERT_COLS                                                                                 \
    "SELECT alert_id, alert_type, display_name, severity, device_id, hub, status, start_ms, "      \
    "end_ms, count, alert_key FROM alerts "
#define ALERT_FILTERS                                                                              \
    "(?1 IS NULL OR severity = ?1) AND (?2 IS NULL OR alert_type = ?2) "                           \
    "AND (?3 IS NULL OR status = ?3) AND start_ms >= ?4 AND start_ms < ?5 "
#define ALERT_PAGE                                                                                 \
    "AND (start_ms < ?6 OR (start_ms = ?6 AND alert_id < ?7)) "                                    \
    "ORDER BY start_ms DESC, alert_id DESC LIMIT ?8"
/* With a device, its own statement, so that SQLite walks the (device_id, start_ms) index. */
static const char SQL_ALERTS_PAGE[] = ALERT_COLS "WHERE " ALERT_FILTERS ALERT_PAGE;
static const char SQL_ALERTS_PAGE_DEVICE[] =
    ALERT_COLS "WHERE device_id = ?9 AND " ALERT_FILTERS ALERT_PAGE;

static void bind_filter(sqlite3_stmt *st, const struct alert_filter *f)
{
    bind_text(st, 1, f->severity);
    bind_text(st, 2, f->type);
    bind_text(st, 3, f->status);
    sqlite3_bind_int64(st, 4, f->since);
    sqlite3_bind_int64(st, 5, f->until);
    if (f->device != NULL)
        sqlite3_bind_text(st, 9, f->device, -1, SQLITE_TRANSIENT);
}

/* The columns an alert row shows, shared by the list, the device page and the overview. */
static void alert_row_head(struct evbuffer *out, bool with_scope)
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

/* One row from a statement of ALERT_COLS. */
static void alert_row(struct evbuffer *out, sqlite3_stmt *st, int64_t now, bool with_scope)
{
    evbuffer_add_printf(out, "<tr><td>");
    put_state(out, col(st, 3));
    html_printf(out, "</td><td><a href=\"/alerts/%lld\">%s</a>", (long long)col_int(st, 0),
                col(st, 2));
    alert_key_detail(out, col(st, 10), col_null(st, 4) ? col(st, 5) : col(st, 4));
    evbuffer_add_printf(out, "</td>");
    if (with_scope) {
        evbuffer_add_printf(out, "<td>");
        put_scope(out, col(st, 4), col(st, 5));
        evbuffer_add_printf(out, "</td>");
    }
    evbuffer_add_printf(out, "<td>");
    put_state(out, col(st, 6));
    evbuffer_add_printf(out, "</td><td class=\"t\">");
    put_time(out, col_int(st, 7));
    evbuffer_add_printf(out, "</td><td class=\"t\">");
    put_when(out, now, col_int(st, 8));
    evbuffer_add_printf(out, "</td><td class=\"num\">%" PRId64 "</td></tr>", col_int(st, 9));
}

/* "before=START_ALERTID", the keyset cursor of the list. */
static bool cursor_parse(const char *s, int64_t *start, int64_t *id)
{
    char buf[48];
    char *us;

    if (s == NULL || strlen(s) >= sizeof(buf))
        return false;
    snprintf(buf, sizeof(buf), "%s", s);
    if ((us = strchr(buf, '_')) == NULL)
        return false;
    *us = '\0';
    return parse_i64(buf, start) && parse_i64(us + 1, id);
}

static void alerts_list(struct web_req *r, struct evbuffer *out, const struct alert_filter *f)
{
    int64_t before_start = INT64_MAX, before_id = INT64_MAX, now = clock_now_ms();
    int64_t last_start = 0, last_id = 0;
    const char *cursor = param(r, "before");
    sqlite3_stmt *st;
    int rc, rows = 0;

    if (cursor != NULL && !cursor_parse(cursor, &before_start, &before_id))
        html_printf(out, "<div class=\"error\">before: not a cursor of this page</div>");
    st = prepare(r, out, f->device ? SQL_ALERTS_PAGE_DEVICE : SQL_ALERTS_PAGE);
    if (st == NULL)
        return;
    bind_filter(st, f);
    sqlite3_bind_int64(st, 6, before_start);
    sqlite3_bind_int64(st, 7, before_id);
    sqlite3_bind_int64(st, 8, PAGE_ALERTS + 1);
    evbuffer_add_printf(out, "<div class=\"card\">");
    alert_row_head(out, true);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (++rows > PAGE_ALERTS)
            break;
        alert_row(out, st, now, true);
        last_start = col_int(st, 7);
        last_id = col_int(st, 0);
    }
    evbuffer_add_printf(out, "</tbody></table>");
    if (rows == 0)
        evbuffer_add_printf(out, "<p class=\"empty\">No alert matches these filters.</p>");
    evbuffer_add_printf(out, "<div class=\"pager\">");
    if (cursor != NULL) {
        struct qs q = {out, false};
        evbuffer_add_printf(out, "<a class=\"button quiet\" href=\"/alerts");
        filter_qs(&q, f);
        evbuffer_add_printf(out, "\">\xe2\x86\x90 Newest</a>");
    }
    if (rows > PAGE_ALERTS) {
        struct qs q = {out, false};
        char cur[48];
        evbuffer_add_printf(out, "<a class=\"button quiet\" rel=\"next\" href=\"/alerts");
        filter_qs(&q, f);
        snprintf(cur, sizeof(cur), "%" PRId64 "_%" PRId64, last_start, last_id);
        qs_add(&q, "before", cur);
        evbuffer_add_printf(out, "\">Next (older) \xe2\x86\x92</a>");
    }
    evbuffer_add_printf(out, "<span class=\"muted small\">%d alert%s on this page, newest "
                             "first</span></div></div>",
                        rows > PAGE_ALERTS ? PAGE_ALERTS : rows,
                        (rows > PAGE_ALERTS ? PAGE_ALERTS : rows) == 1 ? "" : "s");
    finish(r, out, st, rows > PAGE_ALERTS ? SQLITE_DONE : rc);
}

/*
 * The view by type and day is one pass over the period's alerts, counted
 * here in hash maps: grouping in SQL sorts every row, once for the groups and
 * again for their devices, which takes seconds for a million alerts.
 */
#define ALERT_SCAN "SELECT start_ms / 86400000, alert_type, device_id FROM alerts "
static const char SQL_ALERTS_SCAN[] = ALERT_SCAN "WHERE " ALERT_FILTERS;
static const char SQL_ALERTS_SCAN_DEVICE[] =
    ALERT_SCAN "WHERE device_id = ?9 AND " ALERT_FILTERS;

#define DAILY_MAX_GROUPS  2000   /* rows of the view at most */
#define DAILY_MAX_DEVKEYS 300000 /* (day, type, device) triples counted at most */
#define DAILY_TOP         3      /* devices named per row */
#define DAILY_KEY_MAX     1024

struct daily_group {
    int64_t day, alerts, devices;
    char *type;
    struct {
        const char *device; /* into the device map's key, NUL-terminated */
        int64_t n;
    } top[DAILY_TOP];
};

struct daily {
    struct map groups;  /* day + type -> index + 1 into g, or -1 past the limit */
    struct map devices; /* day + type + NUL + device + NUL -> alerts */
    struct daily_group *g;
    size_t n, cap;
    bool groups_cut, devices_cut;
};

/* The key of (day, type[, device]) into key; its length. */
static size_t daily_key(char *key, int64_t day, const char *type, const char *device)
{
    size_t tl = strnlen(type, 256), dl = device ? strnlen(device, 512) : 0;

    memcpy(key, &day, 8);
    memcpy(key + 8, type, tl);
    if (device == NULL)
        return 8 + tl;
    key[8 + tl] = '\0';
    memcpy(key + 9 + tl, device, dl);
    key[9 + tl + dl] = '\0';
    return 10 + tl + dl;
}

static void daily_count(struct daily *d, int64_t day, const char *type, const char *device)
{
    char key[DAILY_KEY_MAX];
    struct map_entry *e = map_upsert(&d->groups, key, daily_key(key, day, type, NULL));

    if (e == NULL)
        fatal("out of memory");
    if (e->value == 0) {
        if (d->n == DAILY_MAX_GROUPS) {
            e->value = -1;
            d->groups_cut = true;
        } else {
            if (d->n == d->cap) {
                d->cap = d->cap ? 2 * d->cap : 64;
                if ((d->g = realloc(d->g, d->cap * sizeof(*d->g))) == NULL)
                    fatal("out of memory");
            }
            memset(&d->g[d->n], 0, sizeof(d->g[0]));
            d->g[d->n].day = day;
            if ((d->g[d->n].type = strdup(type)) == NULL)
                fatal("out of memory");
            e->value = (int64_t)++d->n;
        }
    }
    if (e->value < 0)
        return;
    d->g[e->value - 1].alerts++;
    if (device == NULL)
        return;
    if (d->devices.len >= DAILY_MAX_DEVKEYS) {
        d->devices_cut = true;
        return;
    }
    if ((e = map_upsert(&d->devices, key, daily_key(key, day, type, device))) == NULL)
        fatal("out of memory");
    e->value++;
}

/* Give every group its number of devices and its top devices, from the device map. */
static void daily_devices(struct daily *d)
{
    for (size_t i = 0; i < d->devices.cap; i++) {
        const struct map_entry *e = &d->devices.slots[i];
        const char *k = e->key, *nul;
        struct map_entry *ge;
        struct daily_group *g;
        const char *dev;

        if (k == NULL || (nul = memchr(k + 8, '\0', e->keylen - 8)) == NULL)
            continue;
        if ((ge = map_get(&d->groups, k, (size_t)(nul - k))) == NULL || ge->value <= 0)
            continue;
        g = &d->g[ge->value - 1];
        g->devices++;
        dev = nul + 1;
        for (int j = 0; j < DAILY_TOP; j++) {
            if (g->top[j].device == NULL || e->value > g->top[j].n ||
                (e->value == g->top[j].n && strcmp(dev, g->top[j].device) < 0)) {
                memmove(&g->top[j + 1], &g->top[j], (DAILY_TOP - 1 - j) * sizeof(g->top[0]));
                g->top[j].device = dev;
                g->top[j].n = e->value;
                break;
            }
        }
    }
}

static int daily_cmp(const void *a, const void *b)
{
    const struct daily_group *x = a, *y = b;

    if (x->day != y->day)
        return x->day < y->day ? 1 : -1;
    return strcmp(x->type, y->type);
}

static void daily_free(struct daily *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->g[i].type);
    free(d->g);
    map_free(&d->groups);
    map_free(&d->devices);
}

/* Drill-down: the list with this type and day, and the page's other filters. */
static void daily_link(struct evbuffer *out, const struct alert_filter *f, const char *type,
                       const char *device, int64_t day)
{
    struct qs q = {out, false};
    struct alert_filter g = *f;

    g.type = type;
    if (device != NULL)
        g.device = device;
    g.has_since = g.has_until = true;
    g.since = day * DAY_MS > f->since ? day * DAY_MS : f->since;
    g.until = (day + 1) * DAY_MS < f->until ? (day + 1) * DAY_MS : f->until;
    evbuffer_add_printf(out, "/alerts");
    filter_qs(&q, &g);
}

static void daily_row(struct evbuffer *out, const struct alert_filter *f,
                      const struct daily_group *g, bool new_day)
{
    const struct catalog_entry *k = alert_kind(g->type);
    char date[32];

    fmt_iso(g->day * DAY_MS, date, sizeof(date));
    date[10] = '\0';
    evbuffer_add_printf(out, "<tr><td class=\"t\">%s</td><td><a href=\"", new_day ? date : "");
    daily_link(out, f, g->type, NULL, g->day);
    html_printf(out, "\">%s</a><div class=\"small muted mono\">%s</div></td><td>",
                k ? k->label : g->type, g->type);
    put_state(out, k ? k->severity : "?");
    evbuffer_add_printf(out, "</td><td class=\"num\">%" PRId64 "</td><td class=\"num\">%" PRId64
                             "</td><td>",
                        g->alerts, g->devices);
    for (int j = 0; j < DAILY_TOP && g->top[j].device != NULL; j++) {
        evbuffer_add_printf(out, "%s<a class=\"mono\" href=\"", j ? ", " : "");
        daily_link(out, f, g->type, g->top[j].device, g->day);
        html_printf(out, "\">%s</a> <span class=\"muted\">(%lld)</span>", g->top[j].device,
                    (long long)g->top[j].n);
    }
    if (g->top[0].device == NULL)
        evbuffer_add_printf(out, "<span class=\"muted\">hub</span>");
    evbuffer_add_printf(out, "</td></tr>");
}

static void alerts_daily(struct web_req *r, struct evbuffer *out, const struct alert_filter *f)
{
    struct daily d;
    sqlite3_stmt *st;
    int rc;

    memset(&d, 0, sizeof(d));
    map_init(&d.groups);
    map_init(&d.devices);
    if ((st = prepare(r, out, f->device ? SQL_ALERTS_SCAN_DEVICE : SQL_ALERTS_SCAN)) == NULL) {
        daily_free(&d);
        return;
    }
    bind_filter(st, f);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (col(st, 1) != NULL)
            daily_count(&d, col_int(st, 0), col(st, 1), col(st, 2));
    finish(r, out, st, rc);
    daily_devices(&d);
    if (d.n > 0)
        qsort(d.g, d.n, sizeof(d.g[0]), daily_cmp);
    if (d.groups_cut || d.devices_cut)
        evbuffer_add_printf(out, "<div class=\"note\">This period holds too many alerts to show "
                                 "whole: %s. Narrow it with <i>From</i> and <i>Until</i>.</div>",
                            d.groups_cut ? "some days and types are left out"
                                         : "device counts are partial");
    evbuffer_add_printf(out, "<div class=\"card\"><table><thead><tr><th>Day (UTC)</th>"
                             "<th>Alert</th><th>Severity</th><th class=\"num\">Alerts</th>"
                             "<th class=\"num\">Devices</th><th>Top devices</th></tr></thead>"
                             "<tbody>");
    for (size_t i = 0; i < d.n; i++)
        daily_row(out, f, &d.g[i], i == 0 || d.g[i].day != d.g[i - 1].day);
    evbuffer_add_printf(out, "</tbody></table>");
    if (d.n == 0)
        evbuffer_add_printf(out, "<p class=\"empty\">No alert in this period.</p>");
    evbuffer_add_printf(out, "</div>");
    daily_free(&d);
}

static void page_alerts(struct web_req *r)
{
    bool daily = param(r, "view") != NULL && strcmp(param(r, "view"), "daily") == 0;
    struct evbuffer *out = page_open(r, "Alerts", "alerts");
    struct alert_filter f;
    int64_t now = clock_now_ms();

    filter_read(r, &f, daily ? (now / DAY_MS - (DAILY_DAYS - 1)) * DAY_MS : 0);
    evbuffer_add_printf(out, "<h1>Alerts</h1><p class=\"lead\">Each alert is one suspicious "
                             "situation of a device or of the hub: it is <b>Active</b> while it "
                             "lasts, <b>Resolved</b> when the condition cleared, and "
                             "<b>Dismissed</b> when someone decided it needs no action.</p>");
    alerts_tabs(out, &f, daily);
    filter_form(out, &f, daily ? "daily" : NULL);
    if (daily) {
        if (!f.has_since)
            evbuffer_add_printf(out, "<p class=\"hint\">The last %d days; set <i>From</i> to "
                                     "look further back. Each row links to its alerts.</p>",
                                DAILY_DAYS);
        alerts_daily(r, out, &f);
    } else {
        alerts_list(r, out, &f);
    }
    page_send(r, out, 200);
}

/* ---- /alerts/{id} ------------------------------------------------------------------------------ */

struct alert {
    int64_t id, start_ms, end_ms, count;
    char type[128], device[512], hub[256], status[16], name[256];
    bool has_device;
    json_t *props; /* extended_properties, an object (owned) */
};

static const char SQL_ALERT[] =
    "SELECT alert_id, alert_type, alert_key, display_name, severity, device_id, hub, status, "
    "start_ms, end_ms, count, value, description, remediation, extended_properties "
    "FROM alerts WHERE alert_id = ?1";

static void alert_facts(struct evbuffer *out, sqlite3_stmt *st, int64_t now)
{
    evbuffer_add_printf(out, "<table class=\"kv\">");
    html_printf(out, "<tr><th>Type</th><td class=\"mono\">%s</td></tr>", col(st, 1));
    html_printf(out, "<tr><th>Key</th><td class=\"mono\">%s</td></tr>", col(st, 2));
    evbuffer_add_printf(out, "<tr><th>Device</th><td>");
    if (col_null(st, 5))
        evbuffer_add_printf(out, "<span class=\"muted\">none: about the hub</span>");
    else
        put_device(out, col(st, 5));
    html_printf(out, "</td></tr><tr><th>Hub</th><td>%s</td></tr>", col(st, 6));
    evbuffer_add_printf(out, "<tr><th>First seen</th><td>");
    put_time(out, col_int(st, 8));
    evbuffer_add_printf(out, "</td></tr><tr><th>Last seen</th><td>");
    put_time(out, col_int(st, 9));
    evbuffer_add_printf(out, " <span class=\"muted\">(");
    put_when(out, now, col_int(st, 9));
    evbuffer_add_printf(out, ")</span></td></tr><tr><th>Occurrences</th><td>%" PRId64
                             "</td></tr>",
                        col_int(st, 10));
    if (!col_null(st, 11))
        html_printf(out, "<tr><th>Last value</th><td>%s</td></tr>", col(st, 11));
    evbuffer_add_printf(out, "</table>");
}

static const char SQL_TRANSITIONS[] =
    "SELECT at_ms, from_status, to_status, note FROM alert_transitions "
    "WHERE alert_id = ?1 ORDER BY at_ms, id";

static void alert_transitions(struct web_req *r, struct evbuffer *out, int64_t id)
{
    sqlite3_stmt *st = prepare(r, out, SQL_TRANSITIONS);
    int rc;

    if (st == NULL)
        return;
    sqlite3_bind_int64(st, 1, id);
    evbuffer_add_printf(out, "<table><thead><tr><th>When</th><th>Change</th><th>Note</th></tr>"
                             "</thead><tbody>");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        evbuffer_add_printf(out, "<tr><td class=\"t\">");
        put_time(out, col_int(st, 0));
        evbuffer_add_printf(out, "</td><td>");
        if (col_null(st, 1))
            evbuffer_add_printf(out, "raised as ");
        else
            put_state(out, col(st, 1)), evbuffer_add_printf(out, " \xe2\x86\x92 ");
        put_state(out, col(st, 2));
        html_printf(out, "</td><td>%s</td></tr>", col(st, 3) ? col(st, 3) : "");
    }
    evbuffer_add_printf(out, "</tbody></table>");
    finish(r, out, st, rc);
}

static const char *prop_str(const struct alert *a, const char *key)
{
    return json_string_value(json_object_get(a->props, key));
}

static const char SQL_ALERT_FLOWS[] =
    "SELECT recv_ms, protocol, local_ip, local_port, remote_ip, remote_port, bytes_in, bytes_out, "
    "direction FROM flows WHERE recv_ms >= ?1 AND recv_ms <= ?2 AND device_id = ?3 "
    "AND remote_ip = ?4 ORDER BY recv_ms LIMIT 100";
static const char SQL_ALERT_FLOWS_HOURLY[] =
    "SELECT hour_ms, protocol, local_ip, local_port, remote_ip, remote_port, bytes_in, bytes_out, "
    "direction, records FROM flows_hourly WHERE hour_ms >= ?1 AND hour_ms <= ?2 "
    "AND device_id = ?3 AND remote_ip = ?4 ORDER BY hour_ms LIMIT 100";

static int flow_rows(struct evbuffer *out, sqlite3_stmt *st, int *rc, bool hourly)
{
    int rows = 0;

    while ((*rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows++ == 0)
            evbuffer_add_printf(out, "<table><thead><tr><th>%s</th><th>Protocol</th><th>Local</th>"
                             "<th>Remote</th><th>Direction</th><th class=\"num\">Bytes in</th>"
                             "<th class=\"num\">Bytes out</th>%s</tr></thead><tbody>",
                        hourly ? "Hour" : "Received", hourly ? "<th class=\"num\">Records</th>" : "");
        evbuffer_add_printf(out, "<tr><td class=\"t\">");
        put_time(out, col_int(st, 0));
        html_printf(out,
                    "</td><td>%s</td><td class=\"mono\">%s:%lld</td><td class=\"mono\">%s:%lld</td>"
                    "<td>%s</td><td class=\"num\">%lld</td><td class=\"num\">%lld</td>",
                    col(st, 1), col(st, 2), (long long)col_int(st, 3), col(st, 4),
                    (long long)col_int(st, 5), col(st, 8), (long long)col_int(st, 6),
                    (long long)col_int(st, 7));
        if (hourly)
            evbuffer_add_printf(out, "<td class=\"num\">%" PRId64 "</td>", col_int(st, 9));
        evbuffer_add_printf(out, "</tr>");
    }
    if (rows > 0)
        evbuffer_add_printf(out, "</tbody></table>");
    return rows;
}

/* Flow alerts: the flows between the device and the remote address around the alert. */
static void data_flows(struct web_req *r, struct evbuffer *out, const struct alert *a)
{
    const char *ip = prop_str(a, "remote_ip");
    int64_t from = a->start_ms - 60000;
    int64_t to = (a->end_ms - a->start_ms > HOUR_MS ? a->start_ms + HOUR_MS : a->end_ms) + 60000;
    sqlite3_stmt *st;
    int rc, rows;

    if (ip == NULL || !a->has_device) {
        evbuffer_add_printf(out, "<p class=\"empty\">The alert names no remote address.</p>");
        return;
    }
    html_printf(out,
                "<p class=\"hint\">Flows the device reported with %s from a minute before the "
                "alert to a minute after its first hour (at most 100).</p>",
                ip);
    if ((st = prepare(r, out, SQL_ALERT_FLOWS)) == NULL)
        return;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    bind_text(st, 3, a->device);
    bind_text(st, 4, ip);
    rows = flow_rows(out, st, &rc, false);
    finish(r, out, st, rc);
    if (rows > 0)
        return;
    /* Raw flows are kept for days; the hourly summaries reach further back. */
    if ((st = prepare(r, out, SQL_ALERT_FLOWS_HOURLY)) == NULL)
        return;
    sqlite3_bind_int64(st, 1, a->start_ms / HOUR_MS * HOUR_MS);
    sqlite3_bind_int64(st, 2, a->end_ms);
    bind_text(st, 3, a->device);
    bind_text(st, 4, ip);
    evbuffer_add_printf(out, "<p class=\"hint\">The raw flows are no longer kept; these are the "
                             "hourly summaries.</p>");
    if (flow_rows(out, st, &rc, true) == 0)
        evbuffer_add_printf(out, "<p class=\"empty\">No flows stored for this alert any "
                                 "more.</p>");
    finish(r, out, st, rc);
}

/* A chart of one metric of the device, span [t0, t1), the alert shaded up to band_to. */
static void metric_chart(struct web_req *r, struct evbuffer *out, const struct alert *a,
                         const struct metric *m, int64_t t0, int64_t t1, int64_t step,
                         int64_t band_to, bool limits)
{
    size_t n = (size_t)((t1 - t0 + step - 1) / step);
    double *values = calloc(n ? n : 1, sizeof(double));
    struct chart c = {m->label, m->label, 1200, 220};
    struct chart_series s = {0};
    json_t *jmin = json_object_get(a->props, "min"), *jmax = json_object_get(a->props, "max");

    if (values == NULL)
        fatal("out of memory");
    if (series_load(r, out, a->device, m->name, t0, step, n, values)) {
        s.t0_ms = t0;
        s.step_ms = step;
        s.values = values;
        s.n = n;
        s.band_from_ms = a->start_ms;
        s.band_to_ms = band_to > a->start_ms ? band_to : a->start_ms + step;
        s.has_min = limits && json_is_integer(jmin);
        s.has_max = limits && json_is_integer(jmax);
        s.min = (double)json_integer_value(jmin);
        s.max = (double)json_integer_value(jmax);
        chart_series(out, &c, &s);
    }
    free(values);
}

/* Windowed alerts: the device's counts of the rule's metric, one bar per window. */
static void data_window(struct web_req *r, struct evbuffer *out, const struct alert *a)
{
    const char *rule = prop_str(a, "rule_type");
    const struct metric *m = metric_of_rule(rule ? rule : a->type + strlen("IoT_CA_"));
    const char *win = prop_str(a, "window");
    int64_t w = 0, t0, t1, step;
    char span[32];

    if (m == NULL || !a->has_device || win == NULL || !duration_parse(win, &w) || w <= 0) {
        evbuffer_add_printf(out, "<p class=\"empty\">The alert names no rule window.</p>");
        return;
    }
    t0 = (a->start_ms - 10 * w) / w * w;
    t1 = a->end_ms + 3 * w;
    /* Long alerts: wider bars, and no limit lines, which hold for one window only. */
    step = w * ((t1 - t0) / w / SERIES_MAX_BARS + 1);
    fmt_span(step, span, sizeof(span));
    html_printf(out,
                "<p class=\"hint\">%s of this device, each bar one %s; the shaded span is the "
                "alert%s. The evaluator judges a sliding window of the rule's size at each pass, "
                "so a bar approximates what a pass saw.</p>",
                m->label, span, step == w ? " and the dashed lines the allowed range" : "");
    metric_chart(r, out, a, m, t0, t1, step, a->end_ms, step == w);
}

static const char SQL_HUB_OPS[] =
    "SELECT time_ms, category, operation, result, reason, device_id, source_ip, count, details "
    "FROM hub_operations WHERE recv_ms >= ?1 AND recv_ms <= ?2 AND hub = ?3 AND category = ?4 "
    "AND (?5 IS NULL OR device_id = ?5) "
    "AND (?6 IS NULL OR (json_valid(details) AND json_extract(details, ?7) = ?6)) "
    "ORDER BY id LIMIT 100";

/* Hub alerts: the hub records that raised it. */
static void data_hub(struct web_req *r, struct evbuffer *out, const struct alert *a, enum catalog_kind k)
{
    const char *category = k == CK_AUTH   ? "Connections"
                           : k == CK_HUB_CERT ? "Certificates"
                                         : "DiagnosticSettings";
    const char *name = k == CK_HUB_CERT   ? prop_str(a, "certificate_name")
                       : k == CK_HUB_DIAG ? prop_str(a, "setting_name")
                                     : NULL;
    sqlite3_stmt *st = prepare(r, out, SQL_HUB_OPS);
    int rc, rows = 0;

    if (st == NULL)
        return;
    html_printf(out,
                "<p class=\"hint\">Hub operation records of category %s received while the "
                "alert was open (from five minutes before it), at most 100.</p>",
                category);
    sqlite3_bind_int64(st, 1, a->start_ms - 300000);
    sqlite3_bind_int64(st, 2, a->end_ms + 300000);
    bind_text(st, 3, a->hub);
    bind_text(st, 4, category);
    bind_text(st, 5, k == CK_AUTH && a->has_device ? a->device : NULL);
    bind_text(st, 6, name);
    bind_text(st, 7, k == CK_HUB_CERT ? "$.certificateName" : "$.settingName");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows++ == 0)
            evbuffer_add_printf(out, "<table><thead><tr><th>Time</th><th>Operation</th>"
                                     "<th>Result</th><th>Reason</th><th>Device</th>"
                                     "<th>Source IP</th><th class=\"num\">Count</th>"
                                     "<th>Details</th></tr></thead><tbody>");
        evbuffer_add_printf(out, "<tr><td class=\"t\">");
        put_time(out, col_int(st, 0));
        html_printf(out, "</td><td>%s</td><td>%s</td><td>%s</td><td>", col(st, 2),
                    col(st, 3) ? col(st, 3) : "", col(st, 4) ? col(st, 4) : "");
        if (!col_null(st, 5))
            put_device(out, col(st, 5));
        html_printf(out, "</td><td class=\"mono\">%s</td><td class=\"num\">%lld</td><td>",
                    col(st, 6) ? col(st, 6) : "", (long long)col_int(st, 7));
        if (!col_null(st, 8))
            put_json_props(out, col(st, 8), false);
        evbuffer_add_printf(out, "</td></tr>");
    }
    evbuffer_add_printf(out, rows ? "</tbody></table>"
                                  : "<p class=\"empty\">No such record is stored any more.</p>");
    finish(r, out, st, rc);
}

/* Device silent: its messages up to and after the silence. */
static void data_silent(struct web_req *r, struct evbuffer *out, const struct alert *a)
{
    int64_t now = clock_now_ms();
    int64_t until = strcmp(a->status, "Resolved") == 0 ? a->end_ms : now;
    int64_t t1 = until + 60000;
    int64_t t0 = a->start_ms - r->ctx->cfg->evaluator_silent_after_ms - HOUR_MS;
    int64_t step;

    if (!a->has_device)
        return;
    if (t1 - t0 > 7 * DAY_MS)
        t0 = t1 - 7 * DAY_MS;
    step = series_step(t1 - t0);
    t0 = t0 / step * step;
    evbuffer_add_printf(out, "<p class=\"hint\">Device-to-cloud messages of the device before "
                             "and during the silence; the shaded span is the alert.</p>");
    metric_chart(r, out, a, &metrics[0], t0, t1, step, until, false);
}

static void alert_data(struct web_req *r, struct evbuffer *out, const struct alert *a)
{
    const struct catalog_entry *k = alert_kind(a->type);

    evbuffer_add_printf(out, "<div class=\"card\"><h2>The data behind it</h2>");
    if (k == NULL)
        evbuffer_add_printf(out, "<p class=\"empty\">Warden does not know this alert type.</p>");
    else if (k->kind == CK_FLOW)
        data_flows(r, out, a);
    else if (k->kind == CK_WINDOW)
        data_window(r, out, a);
    else if (k->kind == CK_SILENT)
        data_silent(r, out, a);
    else
        data_hub(r, out, a, k->kind);
    evbuffer_add_printf(out, "</div>");
}

/* Dismiss or reactivate, for a logged-in user; a way to log in for anyone else. */
static void alert_actions(struct web_req *r, struct evbuffer *out, const struct alert *a)
{
    bool active = strcmp(a->status, "Active") == 0, dismissed = strcmp(a->status, "Dismissed") == 0;

    evbuffer_add_printf(out, "<div class=\"card\"><h2>Decide</h2>");
    if (!active && !dismissed) {
        evbuffer_add_printf(out, "<p class=\"hint\">This alert is resolved: its condition "
                                 "cleared. Nothing to decide.</p></div>");
        return;
    }
    evbuffer_add_printf(out, "<p class=\"hint\">%s</p>",
                        active ? "Dismiss the alert when it needs no action. Repeats of it stay "
                                 "quiet until its condition clears."
                               : "The alert was dismissed. Reactivate it to bring it back.");
    if (r->csrf[0] == '\0') {
        evbuffer_add_printf(out, "<p><a class=\"button quiet\" href=\"/login?next=/alerts/%" PRId64
                                 "\">Log in to change</a></p></div>",
                            a->id);
        return;
    }
    html_printf(out,
                "<form class=\"filters\" method=\"post\" action=\"/alerts/%lld/%s\">"
                "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                "<label>Note<input name=\"note\" size=\"48\" maxlength=\"1000\" "
                "placeholder=\"why (optional)\"></label><button type=\"submit\">%s</button></form>"
                "</div>",
                (long long)a->id, active ? "dismiss" : "reactivate", r->csrf,
                active ? "Dismiss" : "Reactivate");
}

/* Copy the row of SQL_ALERT into a. */
static void alert_load(struct alert *a, sqlite3_stmt *st)
{
    memset(a, 0, sizeof(*a));
    a->id = col_int(st, 0);
    snprintf(a->type, sizeof(a->type), "%s", col(st, 1) ? col(st, 1) : "");
    snprintf(a->name, sizeof(a->name), "%s", col(st, 3) ? col(st, 3) : "");
    a->has_device = !col_null(st, 5);
    snprintf(a->device, sizeof(a->device), "%s", a->has_device ? col(st, 5) : "");
    snprintf(a->hub, sizeof(a->hub), "%s", col(st, 6) ? col(st, 6) : "");
    snprintf(a->status, sizeof(a->status), "%s", col(st, 7) ? col(st, 7) : "");
    a->start_ms = col_int(st, 8);
    a->end_ms = col_int(st, 9);
    a->count = col_int(st, 10);
    a->props = col(st, 14) ? json_loads(col(st, 14), 0, NULL) : NULL;
    if (!json_is_object(a->props)) {
        json_decref(a->props);
        a->props = json_object();
    }
}

static void page_alert(struct web_req *r)
{
    int64_t id, now = clock_now_ms();
    struct evbuffer *out;
    struct alert a;
    sqlite3_stmt *st;
    char title[64];
    int rc;

    if (!parse_i64(r->tail, &id) || id <= 0) {
        page_error(r, 404, "No such alert", "Alert ids are numbers.");
        return;
    }
    snprintf(title, sizeof(title), "Alert %" PRId64, id);
    out = page_open(r, title, "alerts");
    if ((st = prepare(r, out, SQL_ALERT)) == NULL) {
        page_send(r, out, 500);
        return;
    }
    sqlite3_bind_int64(st, 1, id);
    if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
        finish(r, out, st, rc);
        evbuffer_free(out);
        page_error(r, 404, "No such alert", "There is no alert with this id.");
        return;
    }
    alert_load(&a, st);
    html_printf(out, "<div class=\"crumbs\"><a href=\"/alerts\">Alerts</a> / %s</div><h1>%s</h1>",
                title, col(st, 3));
    evbuffer_add_printf(out, "<p>");
    put_state(out, col(st, 4));
    evbuffer_add_printf(out, " ");
    put_state(out, col(st, 7));
    evbuffer_add_printf(out, "</p><div class=\"split\"><div><div class=\"card\">"
                             "<h2>What happened</h2>");
    html_printf(out, "<p>%s</p><h3>What to do</h3><p>%s</p></div>", col(st, 12), col(st, 13));
    evbuffer_add_printf(out, "<div class=\"card\"><h2>Properties</h2>");
    put_json_props(out, col(st, 14), true);
    evbuffer_add_printf(out, "</div></div><div><div class=\"card\"><h2>Facts</h2>");
    alert_facts(out, st, now);
    evbuffer_add_printf(out, "</div>");
    finish(r, out, st, SQLITE_DONE);
    alert_actions(r, out, &a);
    evbuffer_add_printf(out, "<div class=\"card\"><h2>History</h2>");
    alert_transitions(r, out, a.id);
    evbuffer_add_printf(out, "</div></div></div>");
    alert_data(r, out, &a);
    json_decref(a.props);
    page_send(r, out, 200);
}

/* POST /alerts/{id}/dismiss and /alerts/{id}/reactivate, from the form above. */
static void page_alert_change(struct web_req *r)
{
    const char *slash = r->tail ? strchr(r->tail, '/') : NULL;
    char idtext[32], location[64];
    int64_t id;
    bool dismiss;
    int rc;

    if (slash == NULL || (size_t)(slash - r->tail) >= sizeof(idtext)) {
        page_error(r, 404, "Not found", "Use /alerts/ID/dismiss or /alerts/ID/reactivate.");
        return;
    }
    snprintf(idtext, sizeof(idtext), "%.*s", (int)(slash - r->tail), r->tail);
    if (!parse_i64(idtext, &id) ||
        (strcmp(slash + 1, "dismiss") != 0 && strcmp(slash + 1, "reactivate") != 0)) {
        page_error(r, 404, "Not found", "Use /alerts/ID/dismiss or /alerts/ID/reactivate.");
        return;
    }
    dismiss = strcmp(slash + 1, "dismiss") == 0;
    rc = eval_alert_change(r->ctx->db_rw, id, dismiss, param(r, "note"));
    if (rc == 404) {
        page_error(r, 404, "No such alert", "There is no alert with this id.");
    } else if (rc == 409) {
        page_error(r, 409, "Not changed",
                   dismiss ? "Only an active alert can be dismissed."
                           : "Only a dismissed alert can be reactivated.");
    } else if (rc != 0) {
        page_error(r, 500, "Not changed", "The database refused the change; see Warden's log.");
    } else {
        snprintf(location, sizeof(location), "/alerts/%" PRId64, id);
        redirect(r, location);
    }
}

/* ---- /devices -------------------------------------------------------------------------------- */

static const char SQL_DEVICES_PAGE[] =
    "SELECT d.device_id, d.hub, d.security_group, d.os_info, d.last_seen_ms, d.clock_skew_ms, "
    "(SELECT count(*) FROM alerts a WHERE a.device_id = d.device_id AND a.status = 'Active') "
    "FROM devices d WHERE d.device_id > ?1 OR (?2 AND d.device_id = ?1) "
    "ORDER BY d.device_id LIMIT ?3";
static const char SQL_DEVICE_COUNT[] = "SELECT count(*) FROM devices";

static void device_skew_badge(struct web_req *r, struct evbuffer *out, sqlite3_stmt *st, int i)
{
    int64_t skew = col_int(st, i);

    if (!col_null(st, i) && (skew > r->ctx->cfg->ingest_max_clock_skew_ms ||
                             -skew > r->ctx->cfg->ingest_max_clock_skew_ms))
        put_badge(out, "warn", "clock skew");
}

static void page_devices(struct web_req *r)
{
    struct evbuffer *out = page_open(r, "Devices", "devices");
    const char *after = param(r, "after"), *from = param(r, "from");
    int64_t now = clock_now_ms(), total = 0;
    char last[512] = "";
    sqlite3_stmt *st;
    int rc, rows = 0;

    if ((st = prepare(r, out, SQL_DEVICE_COUNT)) != NULL) {
        if ((rc = sqlite3_step(st)) == SQLITE_ROW)
            total = col_int(st, 0);
        finish(r, out, st, rc);
    }
    evbuffer_add_printf(out, "<h1>Devices</h1><p class=\"lead\">Every device Warden has heard "
                             "of (%" PRId64 "), sorted by id. A device is registered the first "
                             "time it appears on any topic, or by a registry import.</p>",
                        total);
    html_printf(out,
                "<form class=\"card filters\" method=\"get\" action=\"/devices\"><label>Jump to "
                "device id<input name=\"from\" value=\"%s\" placeholder=\"id or its start\" "
                "size=\"28\"></label><button type=\"submit\">Go</button></form>",
                from ? from : "");
    if ((st = prepare(r, out, SQL_DEVICES_PAGE)) == NULL) {
        page_send(r, out, 500);
        return;
    }
    bind_text(st, 1, from ? from : after ? after : "");
    sqlite3_bind_int(st, 2, from != NULL);
    sqlite3_bind_int64(st, 3, PAGE_DEVICES + 1);
    evbuffer_add_printf(out, "<div class=\"card\"><table><thead><tr><th>Device</th><th>Hub</th>"
                             "<th>Group</th><th>Operating system</th><th>Last seen</th>"
                             "<th class=\"num\">Active alerts</th><th></th></tr></thead><tbody>");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (++rows > PAGE_DEVICES)
            break;
        evbuffer_add_printf(out, "<tr><td>");
        put_device(out, col(st, 0));
        html_printf(out, "</td><td>%s</td><td><a href=\"/groups/", col(st, 1));
        url_escape(out, col(st, 2));
        html_printf(out, "\">%s</a></td><td>%s</td><td class=\"t\">", col(st, 2),
                    col(st, 3) ? col(st, 3) : "");
        put_when(out, now, col_int(st, 4));
        evbuffer_add_printf(out, "</td><td class=\"num\">");
        if (col_int(st, 6) > 0) {
            evbuffer_add_printf(out, "<a href=\"/alerts?status=Active&amp;device=");
            url_escape(out, col(st, 0));
            evbuffer_add_printf(out, "\">%" PRId64 "</a>", col_int(st, 6));
        } else {
            evbuffer_add_printf(out, "<span class=\"muted\">0</span>");
        }
        evbuffer_add_printf(out, "</td><td>");
        if (now - col_int(st, 4) > r->ctx->cfg->evaluator_silent_after_ms)
            put_badge(out, "warn", "silent");
        device_skew_badge(r, out, st, 5);
        evbuffer_add_printf(out, "</td></tr>");
        snprintf(last, sizeof(last), "%s", col(st, 0));
    }
    evbuffer_add_printf(out, "</tbody></table>");
    if (rows == 0)
        evbuffer_add_printf(out, "<p class=\"empty\">No device %s.</p>",
                            after || from ? "after this one" : "yet");
    evbuffer_add_printf(out, "<div class=\"pager\">");
    if (after != NULL || from != NULL)
        evbuffer_add_printf(out, "<a class=\"button quiet\" href=\"/devices\">\xe2\x86\x90 "
                                 "First</a>");
    if (rows > PAGE_DEVICES) {
        evbuffer_add_printf(out, "<a class=\"button quiet\" rel=\"next\" href=\"/devices?after=");
        url_escape(out, last);
        evbuffer_add_printf(out, "\">Next \xe2\x86\x92</a>");
    }
    evbuffer_add_printf(out, "<span class=\"muted small\">%d device%s on this page</span></div>"
                             "</div>",
                        rows > PAGE_DEVICES ? PAGE_DEVICES : rows, rows == 1 ? "" : "s");
    finish(r, out, st, rows > PAGE_DEVICES ? SQLITE_DONE : rc);
    page_send(r, out, 200);
}

/* ---- /devices/{id} ---------------------------------------------------------------------------- */

static const char SQL_DEVICE[] =
    "SELECT device_id, hub, security_group, auth_type, first_seen_ms, last_seen_ms, os_info, "
    "agent_version, module_version, module_id, clock_skew_ms, activity_interval_s, "
    "heartbeat_interval_s FROM devices WHERE device_id = ?1";

static void device_facts(struct web_req *r, struct evbuffer *out, sqlite3_stmt *st, int64_t now)
{
    int64_t skew = col_int(st, 10), limit = r->ctx->cfg->ingest_max_clock_skew_ms;

    evbuffer_add_printf(out, "<table class=\"kv\">");
    html_printf(out, "<tr><th>Hub</th><td>%s</td></tr><tr><th>Security group</th><td>"
                     "<a href=\"/groups/",
                col(st, 1));
    url_escape(out, col(st, 2));
    html_printf(out, "\">%s</a></td></tr>", col(st, 2));
    html_printf(out, "<tr><th>Authentication</th><td>%s</td></tr>",
                col(st, 3) ? col(st, 3) : "unknown (not in an imported registry)");
    evbuffer_add_printf(out, "<tr><th>First seen</th><td>");
    put_time(out, col_int(st, 4));
    evbuffer_add_printf(out, "</td></tr><tr><th>Last seen</th><td>");
    put_time(out, col_int(st, 5));
    evbuffer_add_printf(out, " <span class=\"muted\">(");
    put_when(out, now, col_int(st, 5));
    evbuffer_add_printf(out, ")</span></td></tr>");
    html_printf(out, "<tr><th>Operating system</th><td>%s</td></tr>", col(st, 6) ? col(st, 6) : "");
    html_printf(out, "<tr><th>Security module</th><td>%s%s%s%s%s</td></tr>",
                col(st, 9) ? col(st, 9) : "", col(st, 8) ? " " : "", col(st, 8) ? col(st, 8) : "",
                col(st, 7) ? " \xc2\xb7 agent " : "", col(st, 7) ? col(st, 7) : "");
    evbuffer_add_printf(out, "<tr><th>Collection interval</th><td>");
    if (col_null(st, 11) && col_null(st, 12))
        evbuffer_add_printf(out, "<span class=\"muted\">not said (JSON agents do not)</span>");
    if (!col_null(st, 11))
        evbuffer_add_printf(out, "network activity every %lld s", (long long)col_int(st, 11));
    if (!col_null(st, 12))
        evbuffer_add_printf(out, "%sheartbeat and system information every %lld s",
                            col_null(st, 11) ? "" : ", ", (long long)col_int(st, 12));
    evbuffer_add_printf(out, "</td></tr><tr><th>Clock skew</th><td>");
    if (col_null(st, 10)) {
        evbuffer_add_printf(out, "<span class=\"muted\">unknown (no message with a device "
                                 "time)</span>");
    } else {
        evbuffer_add_printf(out, "%+.1f s ", (double)skew / 1000);
        if (skew > limit || -skew > limit)
            put_badge(out, "warn", "off by more than ingest.max_clock_skew");
        else
            put_badge(out, "ok", "within limits");
    }
    evbuffer_add_printf(out, "</td></tr></table>");
}

/* The spans a device's charts offer (?span=), the last 24 hours by default. */
static const struct span {
    const char *key, *label;
    int64_t ms;
} spans[] = {
    {"15m", "15 minutes", 15 * 60000},
    {"1h", "1 hour", HOUR_MS},
    {"6h", "6 hours", 6 * HOUR_MS},
    {"24h", "24 hours", DAY_MS},
    {"7d", "7 days", 7 * DAY_MS},
};
#define N_SPANS      (sizeof(spans) / sizeof(spans[0]))
#define DEFAULT_SPAN 3

static const struct span *device_span(struct web_req *r)
{
    const char *v = param(r, "span");

    for (size_t i = 0; v != NULL && i < N_SPANS; i++)
        if (strcmp(v, spans[i].key) == 0)
            return &spans[i];
    return &spans[DEFAULT_SPAN];
}

static const char SQL_DEVICE_SERIES[] =
    "SELECT metric, (bucket_ms - ?2) / ?3, sum(value) FROM device_counts "
    "WHERE device_id = ?1 AND bucket_ms >= ?2 AND bucket_ms < ?4 GROUP BY 1, 2";

static void device_charts(struct web_req *r, struct evbuffer *out, const char *id, int64_t now)
{
    const struct span *sp = device_span(r);
    int64_t step = series_step(sp->ms);
    int64_t t1 = (now / step + 1) * step, t0 = t1 - sp->ms;
    size_t n = (size_t)((t1 - t0) / step);
    double *values = calloc(N_METRICS * n, sizeof(double));
    bool seen[N_METRICS] = {false};
    sqlite3_stmt *st;
    char span[32];
    int rc;

    if (values == NULL)
        fatal("out of memory");
    fmt_span(step, span, sizeof(span));
    evbuffer_add_printf(out, "<div class=\"card\"><h2>Activity</h2><div class=\"tabs\">");
    for (size_t i = 0; i < N_SPANS; i++) {
        evbuffer_add_printf(out, "<a href=\"/devices/");
        url_escape(out, id);
        evbuffer_add_printf(out, "?span=%s\"%s>%s</a>", spans[i].key,
                            &spans[i] == sp ? " class=\"on\"" : "", spans[i].label);
    }
    evbuffer_add_printf(out, "</div><p class=\"hint\">What the device sent and received, one bar "
                             "per %s (UTC). These counts are what the security group's rules "
                             "judge.</p>",
                        span);
    if ((st = prepare(r, out, SQL_DEVICE_SERIES)) == NULL) {
        free(values);
        evbuffer_add_printf(out, "</div>");
        return;
    }
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, t0);
    sqlite3_bind_int64(st, 3, step);
    sqlite3_bind_int64(st, 4, t1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t i = col_int(st, 1);
        for (size_t m = 0; m < N_METRICS; m++)
            if (col(st, 0) && strcmp(col(st, 0), metrics[m].name) == 0 && i >= 0 &&
                (size_t)i < n) {
                values[m * n + (size_t)i] = sqlite3_column_double(st, 2);
                seen[m] = seen[m] || sqlite3_column_double(st, 2) != 0;
            }
    }
    finish(r, out, st, rc);
    evbuffer_add_printf(out, "<div class=\"grid\">");
    for (size_t m = 0; m < N_METRICS; m++) {
        struct chart c = {metrics[m].label, metrics[m].name, 600, 170};
        struct chart_series s = {.t0_ms = t0, .step_ms = step, .values = values + m * n, .n = n};
        double total = 0;

        if (!seen[m])
            continue;
        for (size_t i = 0; i < n; i++)
            total += s.values[i];
        html_printf(out, "<div><h3>%s <span class=\"muted\">\xc2\xb7 %.0f in all</span></h3>",
                    metrics[m].label, total);
        chart_series(out, &c, &s);
        evbuffer_add_printf(out, "</div>");
    }
    evbuffer_add_printf(out, "</div>");
    evbuffer_add_printf(out, "<p class=\"small muted\">Nothing in this span: ");
    for (size_t m = 0, k = 0; m < N_METRICS; m++)
        if (!seen[m])
            evbuffer_add_printf(out, "%s%s", k++ ? ", " : "", metrics[m].label);
    evbuffer_add_printf(out, ".</p></div>");
    free(values);
}

static const char SQL_DEVICE_FLOWS[] =
    "SELECT recv_ms, protocol, local_ip, local_port, remote_ip, remote_port, bytes_in, bytes_out, "
    "direction FROM flows WHERE device_id = ?1 AND recv_ms >= ?2 ORDER BY recv_ms DESC LIMIT 25";
static const char SQL_DEVICE_ENDPOINTS[] =
    "SELECT protocol, remote_ip, remote_port, direction, sum(records), sum(bytes_in), "
    "sum(bytes_out), max(last_ms) FROM flows_hourly WHERE hour_ms >= ?2 AND device_id = ?1 "
    "GROUP BY protocol, remote_ip, remote_port, direction ORDER BY 5 DESC LIMIT 15";

static void device_flows(struct web_req *r, struct evbuffer *out, const char *id, int64_t last_seen,
                         int64_t now)
{
    sqlite3_stmt *st;
    int rc, rows = 0;

    evbuffer_add_printf(out, "<div class=\"card\"><h2>Network</h2><p class=\"hint\">The last "
                             "flows the device reported (a flow is one connection summed over "
                             "the device's 10-second collection window), from the two minutes "
                             "before it was last seen.</p>");
    if ((st = prepare(r, out, SQL_DEVICE_FLOWS)) != NULL) {
        bind_text(st, 1, id);
        sqlite3_bind_int64(st, 2, last_seen - 120000);
        if (flow_rows(out, st, &rc, false) == 0)
            evbuffer_add_printf(out, "<p class=\"empty\">No recent flows.</p>");
        finish(r, out, st, rc);
    }
    evbuffer_add_printf(out, "<h3>Remote endpoints, last 24 hours</h3>");
    if ((st = prepare(r, out, SQL_DEVICE_ENDPOINTS)) == NULL) {
        evbuffer_add_printf(out, "</div>");
        return;
    }
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, (now - DAY_MS) / HOUR_MS * HOUR_MS);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows++ == 0)
            evbuffer_add_printf(out, "<table><thead><tr><th>Remote</th><th>Protocol</th>"
                                     "<th>Direction</th><th class=\"num\">Records</th>"
                                     "<th class=\"num\">Bytes in</th><th class=\"num\">Bytes out"
                                     "</th><th>Last</th></tr></thead><tbody>");
        html_printf(out,
                    "<tr><td class=\"mono\">%s:%lld</td><td>%s</td><td>%s</td>"
                    "<td class=\"num\">%lld</td><td class=\"num\">%lld</td><td class=\"num\">%lld"
                    "</td><td class=\"t\">",
                    col(st, 1), (long long)col_int(st, 2), col(st, 0), col(st, 3),
                    (long long)col_int(st, 4), (long long)col_int(st, 5),
                    (long long)col_int(st, 6));
        put_when(out, now, col_int(st, 7));
        evbuffer_add_printf(out, "</td></tr>");
    }
    evbuffer_add_printf(out, rows ? "</tbody></table>"
                                  : "<p class=\"empty\">No hourly summaries yet (they are "
                                    "rolled up from the raw flows as time passes).</p>");
    finish(r, out, st, rc);
    evbuffer_add_printf(out, "</div>");
}

static const char SQL_DEVICE_ALERTS[] =
    ALERT_COLS "WHERE device_id = ?1 ORDER BY start_ms DESC, alert_id DESC LIMIT 15";

static void device_alerts(struct web_req *r, struct evbuffer *out, const char *id, int64_t now)
{
    sqlite3_stmt *st = prepare(r, out, SQL_DEVICE_ALERTS);
    int rc, rows = 0;

    evbuffer_add_printf(out, "<div class=\"card\"><h2>Alerts</h2><p class=\"hint\">The newest "
                             "alerts of this device. <a href=\"/alerts?device=");
    url_escape(out, id);
    evbuffer_add_printf(out, "\">All of them</a>.</p>");
    if (st == NULL) {
        evbuffer_add_printf(out, "</div>");
        return;
    }
    bind_text(st, 1, id);
    alert_row_head(out, false);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        alert_row(out, st, now, false);
        rows++;
    }
    evbuffer_add_printf(out, "</tbody></table>");
    if (rows == 0)
        evbuffer_add_printf(out, "<p class=\"empty\">This device has never raised an alert.</p>");
    finish(r, out, st, rc);
    evbuffer_add_printf(out, "</div>");
}

static const char SQL_DEVICE_RECS[] =
    "SELECT rec_id, display_name, severity, state, discovered_ms, additional_data "
    "FROM recommendations WHERE device_id = ?1 ORDER BY state, discovered_ms DESC LIMIT 20";

static void device_recs(struct web_req *r, struct evbuffer *out, const char *id, int64_t now)
{
    sqlite3_stmt *st = prepare(r, out, SQL_DEVICE_RECS);
    int rc, rows = 0;

    evbuffer_add_printf(out, "<div class=\"card\"><h2>Recommendations</h2>");
    if (st == NULL) {
        evbuffer_add_printf(out, "</div>");
        return;
    }
    bind_text(st, 1, id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows++ == 0)
            evbuffer_add_printf(out, "<table><thead><tr><th>Recommendation</th><th>Severity</th>"
                                     "<th>State</th><th>Since</th><th>Details</th></tr></thead>"
                                     "<tbody>");
        html_printf(out, "<tr><td><a href=\"/recommendations#rec-%lld\">%s</a></td><td>",
                    (long long)col_int(st, 0), col(st, 1));
        put_state(out, col(st, 2));
        evbuffer_add_printf(out, "</td><td>");
        put_state(out, col(st, 3));
        evbuffer_add_printf(out, "</td><td class=\"t\">");
        put_when(out, now, col_int(st, 4));
        evbuffer_add_printf(out, "</td><td>");
        put_json_props(out, col(st, 5), false);
        evbuffer_add_printf(out, "</td></tr>");
    }
    evbuffer_add_printf(out, rows ? "</tbody></table>"
                                  : "<p class=\"empty\">None for this device.</p>");
    finish(r, out, st, rc);
    evbuffer_add_printf(out, "</div>");
}

/* The newest system information and listening ports, from the hour before last seen. */
static const char SQL_DEVICE_SYSINFO[] =
    "SELECT recv_ms, os_info, kernel_info, hw_info, details FROM system_info "
    "WHERE device_id = ?1 AND recv_ms >= ?2 AND recv_ms <= ?3 ORDER BY recv_ms DESC LIMIT 1";
static const char SQL_DEVICE_PORTS[] =
    "SELECT protocol, local_ip, local_port, remote_ip, remote_port, details, recv_ms "
    "FROM listening_ports WHERE device_id = ?1 AND recv_ms = ("
    "  SELECT max(recv_ms) FROM listening_ports "
    "  WHERE device_id = ?1 AND recv_ms >= ?2 AND recv_ms <= ?3) "
    "ORDER BY local_port, protocol LIMIT 200";

static void device_system(struct web_req *r, struct evbuffer *out, const char *id,
                          int64_t last_seen, int64_t now)
{
    sqlite3_stmt *st;
    int rc, rows = 0;

    evbuffer_add_printf(out, "<div class=\"card\"><h2>System information</h2>");
    if ((st = prepare(r, out, SQL_DEVICE_SYSINFO)) != NULL) {
        bind_text(st, 1, id);
        sqlite3_bind_int64(st, 2, last_seen - HOUR_MS);
        sqlite3_bind_int64(st, 3, last_seen);
        if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            evbuffer_add_printf(out, "<table class=\"kv\"><tr><th>Reported</th><td>");
            put_when(out, now, col_int(st, 0));
            html_printf(out,
                        "</td></tr><tr><th>Operating system</th><td>%s</td></tr>"
                        "<tr><th>Kernel</th><td>%s</td></tr><tr><th>Hardware</th><td>%s</td></tr>",
                        col(st, 1) ? col(st, 1) : "", col(st, 2) ? col(st, 2) : "",
                        col(st, 3) ? col(st, 3) : "");
            if (col(st, 4) != NULL) {
                evbuffer_add_printf(out, "<tr><th>Details</th><td>");
                put_json_props(out, col(st, 4), false);
                evbuffer_add_printf(out, "</td></tr>");
            }
            evbuffer_add_printf(out, "</table>");
        } else {
            evbuffer_add_printf(out, "<p class=\"empty\">No system information in the hour "
                                     "before the device was last seen.</p>");
        }
        finish(r, out, st, rc);
    }
    evbuffer_add_printf(out, "<h3>Listening ports</h3>");
    if ((st = prepare(r, out, SQL_DEVICE_PORTS)) == NULL) {
        evbuffer_add_printf(out, "</div>");
        return;
    }
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, last_seen - HOUR_MS);
    sqlite3_bind_int64(st, 3, last_seen);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows++ == 0) {
            evbuffer_add_printf(out, "<p class=\"hint\">As last reported, ");
            put_when(out, now, col_int(st, 6));
            evbuffer_add_printf(out, ".</p><table><thead><tr><th>Protocol</th><th>Local</th>"
                                     "<th>Remote</th><th>Details</th></tr></thead><tbody>");
        }
        html_printf(out, "<tr><td>%s</td><td class=\"mono\">%s:%lld</td><td class=\"mono\">",
                    col(st, 0), col(st, 1) ? col(st, 1) : "*", (long long)col_int(st, 2));
        if (!col_null(st, 3))
            html_printf(out, "%s:%lld", col(st, 3), (long long)col_int(st, 4));
        evbuffer_add_printf(out, "</td><td>");
        if (!col_null(st, 5))
            put_json_props(out, col(st, 5), false);
        evbuffer_add_printf(out, "</td></tr>");
    }
    evbuffer_add_printf(out, rows ? "</tbody></table>"
                                  : "<p class=\"empty\">No listening ports reported in the hour "
                                    "before the device was last seen.</p>");
    finish(r, out, st, rc);
    evbuffer_add_printf(out, "</div>");
}

static void page_device(struct web_req *r)
{
    struct evbuffer *out;
    sqlite3_stmt *st;
    int64_t now = clock_now_ms(), last_seen;
    char *id;
    int rc;

    if (r->tail == NULL || r->tail[0] == '\0') {
        page_error(r, 404, "No such device", "The address names no device.");
        return;
    }
    out = page_open(r, r->tail, "devices");
    if ((st = prepare(r, out, SQL_DEVICE)) == NULL) {
        page_send(r, out, 500);
        return;
    }
    bind_text(st, 1, r->tail);
    if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
        finish(r, out, st, rc);
        evbuffer_free(out);
        page_error(r, 404, "No such device", "Warden has never heard of this device.");
        return;
    }
    if ((id = strdup(col(st, 0))) == NULL)
        fatal("out of memory");
    last_seen = col_int(st, 5);
    html_printf(out, "<div class=\"crumbs\"><a href=\"/devices\">Devices</a> / device</div>"
                     "<h1 class=\"mono\">%s</h1>",
                id);
    evbuffer_add_printf(out, "<p class=\"lead\">One device of the fleet: what it is, what it did, "
                             "and what Warden found about it.</p><div class=\"split\">"
                             "<div class=\"card\"><h2>Identity</h2>");
    device_facts(r, out, st, now);
    finish(r, out, st, SQLITE_DONE);
    evbuffer_add_printf(out, "</div>");
    device_system(r, out, id, last_seen, now);
    evbuffer_add_printf(out, "</div>");
    device_charts(r, out, id, now);
    device_alerts(r, out, id, now);
    device_flows(r, out, id, last_seen, now);
    device_recs(r, out, id, now);
    free(id);
    page_send(r, out, 200);
}

/* ---- /recommendations ----------------------------------------------------------------------- */

static const char SQL_RECS[] =
    "SELECT rec_id, rec_type, display_name, severity, device_id, hub, discovered_ms, resolved_ms, "
    "additional_data FROM recommendations WHERE state = ?1 "
    "ORDER BY CASE severity WHEN 'High' THEN 0 WHEN 'Medium' THEN 1 ELSE 2 END, "
    "discovered_ms DESC, rec_id DESC LIMIT ?2";

static void recs_table(struct web_req *r, struct evbuffer *out, const char *state, int limit,
                       int64_t now)
{
    bool resolved = strcmp(state, "Resolved") == 0;
    sqlite3_stmt *st = prepare(r, out, SQL_RECS);
    int rc, rows = 0;

    if (st == NULL)
        return;
    bind_text(st, 1, state);
    sqlite3_bind_int(st, 2, limit);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const struct catalog_entry *h = catalog_find(col(st, 1));

        if (rows++ == 0)
            evbuffer_add_printf(out, "<table><thead><tr><th>Severity</th><th>Recommendation</th>"
                             "<th>Applies to</th><th>Details</th><th>Found</th>%s</tr></thead>"
                             "<tbody>",
                        resolved ? "<th>Resolved</th>" : "");
        html_printf(out, "<tr id=\"rec-%lld\"><td>", (long long)col_int(st, 0));
        put_state(out, col(st, 3));
        html_printf(out, "</td><td><b>%s</b><div class=\"small muted mono\">%s</div>", col(st, 2),
                    col(st, 1));
        if (h != NULL)
            html_printf(out, "<details class=\"small\"><summary>Why and what to do</summary>"
                             "<p>%s</p><p><b>Fix:</b> %s</p></details>",
                        h->description, h->remediation);
        evbuffer_add_printf(out, "</td><td>");
        put_scope(out, col(st, 4), col(st, 5));
        evbuffer_add_printf(out, "</td><td>");
        put_json_props(out, col(st, 8), false);
        evbuffer_add_printf(out, "</td><td class=\"t\">");
        put_when(out, now, col_int(st, 6));
        if (resolved) {
            evbuffer_add_printf(out, "</td><td class=\"t\">");
            if (!col_null(st, 7))
                put_when(out, now, col_int(st, 7));
        }
        evbuffer_add_printf(out, "</td></tr>");
    }
    evbuffer_add_printf(out, rows ? "</tbody></table>" : "<p class=\"empty\">None.</p>");
    finish(r, out, st, rc);
}

static void page_recommendations(struct web_req *r)
{
    struct evbuffer *out = page_open(r, "Recommendations", "recommendations");
    int64_t now = clock_now_ms();

    evbuffer_add_printf(out, "<h1>Recommendations</h1><p class=\"lead\">Recommendations point "
                             "at weaknesses in how the hub and the devices are set up (shared "
                             "credentials, an open IP filter, missing logs). Warden checks them "
                             "at every evaluator pass: one becomes <b>Resolved</b> by itself once "
                             "the configuration is fixed and imported again.</p>");
    evbuffer_add_printf(out, "<div class=\"card\"><h2>Active</h2>");
    recs_table(r, out, "Active", 500, now);
    evbuffer_add_printf(out, "</div><div class=\"card\"><h2>Resolved</h2><p class=\"hint\">The "
                             "100 most recently found.</p>");
    recs_table(r, out, "Resolved", 100, now);
    evbuffer_add_printf(out, "</div>");
    page_send(r, out, 200);
}

/* ---- /groups and /groups/{name} ---------------------------------------------------------------- */

/* What each time-window rule counts, in the order of enum group_rule. */
static const char *const rule_help[GROUP_RULE_COUNT] = {
    [GROUP_ACTIVE_CONNECTIONS] = "distinct network connections (flows) the device reported",
    [GROUP_MQTT_C2D] = "cloud-to-device messages sent to the device",
    [GROUP_MQTT_D2C] = "device-to-cloud messages, security messages included",
    [GROUP_QUEUE_PURGES] = "purges of the device's command queue (hub records)",
    [GROUP_DIRECT_METHODS] = "direct methods invoked on the device",
    [GROUP_MQTT_C2D_REJECTED] = "cloud-to-device messages the device rejected (hub records)",
    [GROUP_TWIN_UPDATES] = "twin and module twin updates",
    [GROUP_UNAUTHORIZED] = "operations the hub refused as unauthorized (hub records)",
    [GROUP_AMQP_C2D] = "cloud-to-device messages over AMQP",
    [GROUP_HTTP_C2D] = "cloud-to-device messages over HTTP",
    [GROUP_AMQP_C2D_REJECTED] = "cloud-to-device messages over AMQP the device rejected",
    [GROUP_HTTP_C2D_REJECTED] = "cloud-to-device messages over HTTP the device rejected",
    [GROUP_AMQP_D2C] = "device-to-cloud messages over AMQP",
    [GROUP_HTTP_D2C] = "device-to-cloud messages over HTTP",
    [GROUP_FAILED_LOCAL_LOGINS] = "failed logins on the device itself",
    [GROUP_FILE_UPLOADS] = "files the device uploaded to the cloud",
};

/* Why the lab cannot count what a rule is about (rules from GROUP_RULE_OBSERVABLE on). */
static const char WHY_AMQP_HTTP[] = "the lab hub speaks MQTT only";
static const char *const rule_why_not[GROUP_RULE_COUNT] = {
    [GROUP_AMQP_C2D] = WHY_AMQP_HTTP,
    [GROUP_HTTP_C2D] = WHY_AMQP_HTTP,
    [GROUP_AMQP_C2D_REJECTED] = WHY_AMQP_HTTP,
    [GROUP_HTTP_C2D_REJECTED] = WHY_AMQP_HTTP,
    [GROUP_AMQP_D2C] = WHY_AMQP_HTTP,
    [GROUP_HTTP_D2C] = WHY_AMQP_HTTP,
    [GROUP_FAILED_LOCAL_LOGINS] = "the devices' agents report no local logins",
    [GROUP_FILE_UPLOADS] = "the lab hub has no file upload endpoint",
};

/* The mark of a rule kept and exported but never evaluated. */
static void put_unobservable(struct evbuffer *out, const char *why)
{
    put_badge(out, "warn", "not observable in this lab");
    html_printf(out, "<div class=\"small muted\">%s: kept and exported, not evaluated</div>",
                why);
}

static const char SQL_GROUP_DEVICES[] =
    "SELECT security_group, count(*) FROM devices GROUP BY security_group";
static const char SQL_GROUP_UPDATED[] = "SELECT name, updated_ms FROM security_groups";

/*
 * The integer beside name in a statement of (name, integer) rows, run again
 * from the start. There are few groups, so a scan per group is cheap.
 */
static int64_t lookup(sqlite3_stmt *st, const char *name, int64_t dflt)
{
    int64_t v = dflt;

    sqlite3_reset(st);
    while (sqlite3_step(st) == SQLITE_ROW)
        if (col(st, 0) != NULL && strcmp(col(st, 0), name) == 0)
            v = col_int(st, 1);
    return v;
}

static void page_groups(struct web_req *r)
{
    struct evbuffer *out = page_open(r, "Security groups", "groups");
    struct group *groups = NULL;
    sqlite3_stmt *devs, *upd;
    int64_t now = clock_now_ms();
    char err[256];
    size_t n = 0;

    evbuffer_add_printf(out, "<h1>Security groups</h1><p class=\"lead\">A security group holds "
                             "the rules its devices are judged by: allowed ranges for counts over "
                             "a time window (messages, connections, ...) and allow lists of the "
                             "addresses devices may talk to. Every device belongs to one group "
                             "(<code>default</code> unless the registry says otherwise). The "
                             "documents use the shape of Azure's deviceSecurityGroups.</p>");
    if (!groups_load(r->ctx->db, &groups, &n, err, sizeof(err))) {
        html_printf(out, "<div class=\"error\">%s</div>", err);
        page_send(r, out, 500);
        return;
    }
    devs = prepare(r, out, SQL_GROUP_DEVICES);
    upd = prepare(r, out, SQL_GROUP_UPDATED);
    evbuffer_add_printf(out, "<div class=\"card\"><table><thead><tr><th>Group</th>"
                             "<th class=\"num\">Devices</th><th>Enabled rules</th><th>Updated</th>"
                             "</tr></thead><tbody>");
    for (size_t i = 0; i < n && devs != NULL && upd != NULL; i++) {
        const struct group *g = &groups[i];
        int64_t updated = lookup(upd, g->name, -1);
        int k = 0;

        evbuffer_add_printf(out, "<tr><td class=\"nw\"><a href=\"/groups/");
        url_escape(out, g->name);
        html_printf(out,
                    "\"><b>%s</b></a></td><td class=\"num\">%lld</td><td><b>%d of %d</b>"
                    "<div class=\"small muted mono\">",
                    g->name, (long long)lookup(devs, g->name, 0), group_enabled_rules(g),
                    GROUP_RULES_TOTAL);
        for (int j = 0; j < GROUP_RULE_COUNT; j++)
            if (g->tw[j].enabled)
                html_printf(out, "%s%s", k++ ? ", " : "", group_rule_name((enum group_rule)j));
        if (g->allow_out.enabled)
            html_printf(out, "%s%s", k++ ? ", " : "", GROUP_ALLOW_OUT_NAME);
        if (g->allow_in.enabled)
            html_printf(out, "%s%s", k++ ? ", " : "", GROUP_ALLOW_IN_NAME);
        if (g->users.enabled)
            html_printf(out, "%s%s", k++ ? ", " : "", GROUP_ALLOW_USERS_NAME);
        if (g->processes.enabled)
            html_printf(out, "%s%s", k++ ? ", " : "", GROUP_ALLOW_PROCESSES_NAME);
        evbuffer_add_printf(out, "</div>");
        if (group_enabled_unobservable(g) > 0)
            html_printf(out, "<div class=\"small\">%d of them not observable in this lab</div>",
                        group_enabled_unobservable(g));
        evbuffer_add_printf(out, "</td><td class=\"t\">");
        if (updated >= 0)
            put_when(out, now, updated);
        else
            evbuffer_add_printf(out, "<span class=\"muted\">built in, never saved</span>");
        evbuffer_add_printf(out, "</td></tr>");
    }
    evbuffer_add_printf(out, "</tbody></table></div><p class=\"hint\">To create a group, open "
                             "<code>/groups/NAME</code> and save it, or use <code>warden groups "
                             "import FILE</code>.</p>");
    sqlite3_finalize(devs);
    sqlite3_finalize(upd);
    groups_free(groups, n);
    page_send(r, out, 200);
}

/* An allow list of names as a table cell: its values, as the document gave them. */
static void put_names(struct evbuffer *out, const struct group_names *l)
{
    if (!l->enabled)
        evbuffer_add_printf(out, "<span class=\"muted\">off</span>");
    else if (l->n == 0)
        evbuffer_add_printf(out, "<b>empty: nothing allowed</b>");
    for (size_t i = 0; l->enabled && i < l->n; i++)
        html_printf(out, "%s<code>%s</code>", i ? " " : "", l->values[i]);
}

/* An allow list as a table cell: its ranges, "network/prefix". */
static void put_allow(struct evbuffer *out, const struct group_allow *a)
{
    char ip[64];

    if (!a->enabled) {
        evbuffer_add_printf(out, "<span class=\"muted\">off: every address allowed</span>");
        return;
    }
    if (a->n == 0)
        evbuffer_add_printf(out, "<b>empty: no address allowed</b>");
    for (size_t i = 0; i < a->n; i++) {
        ip_format(&a->cidrs[i].net, ip, sizeof(ip));
        evbuffer_add_printf(out, "%s<code>%s/%d</code>", i ? " " : "", ip, a->cidrs[i].prefix);
    }
}

static void group_rules(struct evbuffer *out, const struct group *g)
{
    char win[32];

    evbuffer_add_printf(out, "<div class=\"card\"><h2>Time-window rules</h2><p class=\"hint\">"
                             "An enabled rule raises a Low alert for a device whose count over "
                             "the window is below the minimum or above the maximum. A rule "
                             "marked not observable counts what the lab cannot see: it keeps "
                             "the values the document gave it and exports them unchanged, "
                             "but raises nothing.</p><table>"
                             "<thead><tr><th>Rule</th><th>Counts</th><th>Enabled</th>"
                             "<th class=\"num\">Min</th><th class=\"num\">Max</th>"
                             "<th>Window</th></tr></thead><tbody>");
    for (int i = 0; i < GROUP_RULE_COUNT; i++) {
        const struct group_tw_rule *t = &g->tw[i];

        fmt_span(t->window_ms, win, sizeof(win));
        evbuffer_add_printf(out, "<tr><td class=\"mono\">%s</td><td>%s",
                            group_rule_name((enum group_rule)i), rule_help[i]);
        if (!group_rule_observable((enum group_rule)i))
            put_unobservable(out, rule_why_not[i]);
        evbuffer_add_printf(out, "</td><td>");
        put_badge(out, t->enabled ? "ok" : "other", t->enabled ? "on" : "off");
        evbuffer_add_printf(out, "</td><td class=\"num\">%" PRId64 "</td><td class=\"num\">%" PRId64
                                 "</td><td>%s</td></tr>",
                            t->min, t->max, win);
    }
    evbuffer_add_printf(out, "</tbody></table></div><div class=\"card\"><h2>Allow lists</h2>"
                             "<p class=\"hint\">An enabled list raises a Low alert for each remote "
                             "address outside it that a device talks to.</p><table class=\"kv\">"
                             "<tr><th>" GROUP_ALLOW_OUT_NAME
                             "<div class=\"small\">outbound, or direction unknown</div></th><td>");
    put_allow(out, &g->allow_out);
    evbuffer_add_printf(out, "</td></tr><tr><th>" GROUP_ALLOW_IN_NAME
                             "<div class=\"small\">inbound</div></th><td>");
    put_allow(out, &g->allow_in);
    evbuffer_add_printf(out, "</td></tr><tr><th>" GROUP_ALLOW_USERS_NAME
                             "<div class=\"small\">local users allowed to log in</div>");
    put_unobservable(out, "the devices' agents report no local logins");
    evbuffer_add_printf(out, "</th><td>");
    put_names(out, &g->users);
    evbuffer_add_printf(out, "</td></tr><tr><th>" GROUP_ALLOW_PROCESSES_NAME
                             "<div class=\"small\">processes allowed to run</div>");
    put_unobservable(out, "the devices' agents report no processes");
    evbuffer_add_printf(out, "</th><td>");
    put_names(out, &g->processes);
    evbuffer_add_printf(out, "</td></tr></table></div>");
}

/* The editor: the group's document, pretty-printed, in a form for a logged-in user. */
static void group_editor(struct web_req *r, struct evbuffer *out, const char *name,
                         const char *doc)
{
    evbuffer_add_printf(out, "<div class=\"card\"><h2>Edit</h2><p class=\"hint\">The group as a "
                             "JSON document (the shape of Azure's deviceSecurityGroups). Rules "
                             "left out are disabled. Windows are ISO 8601 durations, multiples "
                             "of 10 seconds (PT30S, PT5M, PT1H). Changes apply at the next "
                             "evaluator pass.</p>");
    if (r->csrf[0] == '\0') {
        html_printf(out, "<pre>%s</pre><p><a class=\"button quiet\" href=\"/login?next=/groups/",
                    doc);
        url_escape(out, name);
        evbuffer_add_printf(out, "\">Log in to change</a></p></div>");
        return;
    }
    evbuffer_add_printf(out, "<form method=\"post\" action=\"/groups/");
    url_escape(out, name);
    html_printf(out,
                "\"><input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                "<textarea name=\"doc\" rows=\"20\" spellcheck=\"false\">%s</textarea>"
                "<p><button type=\"submit\">Save the group</button></p></form></div>",
                r->csrf, doc);
}

/* One JSON value on one line, with spaces after commas and colons. */
static void json_line(struct evbuffer *b, json_t *v)
{
    char *s = json_dumps(v, JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

    if (s != NULL)
        evbuffer_add(b, s, strlen(s));
    free(s);
}

/*
 * The normalised document of g for reading and editing: the members on
 * their own lines and each rule on one line, so all twenty rules fit on a
 * screen. malloc'd; NULL when out of memory.
 */
static char *group_pretty(const struct group *g)
{
    char *compact = group_to_json(g), *text = NULL;
    json_t *doc = compact ? json_loads(compact, 0, NULL) : NULL;
    json_t *props = json_object_get(doc, "properties"), *v, *e;
    struct evbuffer *b = evbuffer_new();
    const char *k;
    size_t i, n = 0;

    free(compact);
    if (b == NULL)
        fatal("out of memory");
    if (json_is_object(doc) && json_is_object(props)) {
        evbuffer_add_printf(b, "{\"name\": ");
        json_line(b, json_object_get(doc, "name"));
        evbuffer_add_printf(b, ",\n \"properties\": {");
        json_object_foreach(props, k, v)
        {
            json_t *key = json_string(k);
            evbuffer_add_printf(b, "%s\n  ", n++ ? "," : "");
            json_line(b, key);
            json_decref(key);
            evbuffer_add_printf(b, ": [");
            json_array_foreach(v, i, e)
            {
                evbuffer_add_printf(b, "%s\n    ", i ? "," : "");
                json_line(b, e);
            }
            evbuffer_add_printf(b, "]");
        }
        evbuffer_add_printf(b, "}}\n");
        text = strndup((const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b));
    }
    json_decref(doc);
    evbuffer_free(b);
    return text;
}

/* The group page; with doc and err, the editor shows a document that did not pass. */
static void group_page(struct web_req *r, const char *name, const char *doc, const char *err,
                       int status)
{
    struct evbuffer *out = page_open(r, name, "groups");
    struct group *groups = NULL, fresh;
    const struct group *g = NULL;
    char lerr[256], *text = NULL;
    size_t n = 0;

    html_printf(out, "<div class=\"crumbs\"><a href=\"/groups\">Security groups</a> / group</div>"
                     "<h1>%s</h1>",
                name);
    if (!groups_load(r->ctx->db, &groups, &n, lerr, sizeof(lerr))) {
        html_printf(out, "<div class=\"error\">%s</div>", lerr);
        page_send(r, out, 500);
        return;
    }
    for (size_t i = 0; i < n && g == NULL; i++)
        if (strcmp(groups[i].name, name) == 0)
            g = &groups[i];
    if (g == NULL) {
        group_init(&fresh, name);
        g = &fresh;
        evbuffer_add_printf(out, "<div class=\"note\">This group does not exist yet: every rule "
                                 "is off. Saving it creates it.</div>");
    }
    if (param(r, "saved") != NULL && err == NULL)
        evbuffer_add_printf(out, "<div class=\"ok\">Saved. The next evaluator pass uses it.</div>");
    if (err != NULL)
        html_printf(out, "<div class=\"error\">Not saved: %s</div>", err);
    group_rules(out, g);
    text = doc ? NULL : group_pretty(g);
    group_editor(r, out, name, doc ? doc : text ? text : "");
    free(text);
    groups_free(groups, n);
    page_send(r, out, status);
}

static void page_group(struct web_req *r)
{
    if (!group_name_valid(r->tail)) {
        page_error(r, 404, "No such group",
                   "Group names are 1 to 128 letters, digits, dots, dashes and underscores.");
        return;
    }
    group_page(r, r->tail, NULL, NULL, 200);
}

/* POST /groups/{name}: check the document with group_parse, store it, and show the group. */
static void page_group_save(struct web_req *r)
{
    const char *doc = web_param(r, "doc");
    char err[512], location[GROUP_NAME_MAX + 32];
    struct evbuffer *loc;
    struct group g;

    if (!group_name_valid(r->tail)) {
        page_error(r, 404, "No such group",
                   "Group names are 1 to 128 letters, digits, dots, dashes and underscores.");
        return;
    }
    if (doc == NULL || doc[0] == '\0') {
        group_page(r, r->tail, "", "the document is empty", 400);
        return;
    }
    if (!group_parse(doc, strlen(doc), r->tail, &g, err, sizeof(err))) {
        group_page(r, r->tail, doc, err, 400);
        return;
    }
    if (!group_store(r->ctx->db_rw, &g, err, sizeof(err))) {
        group_free(&g);
        group_page(r, r->tail, doc, err, 500);
        return;
    }
    group_free(&g);
    /* A valid group name is made of URL-safe characters, but escape it all the same. */
    if ((loc = evbuffer_new()) == NULL)
        fatal("out of memory");
    evbuffer_add_printf(loc, "/groups/");
    url_escape(loc, r->tail);
    evbuffer_add_printf(loc, "?saved=1");
    snprintf(location, sizeof(location), "%.*s", (int)evbuffer_get_length(loc),
             (const char *)evbuffer_pullup(loc, -1));
    evbuffer_free(loc);
    redirect(r, location);
}

/* ---- /sql : the console -------------------------------------------------------------------- */

/*
 * The example queries, verbatim (tests/unit/test_html.c checks them against
 * the files of sql/examples/, so the two cannot drift apart).
 */
const struct web_sql_example web_sql_examples[] = {
    {"clock_skew.sql", "Devices whose clock is more than 5 minutes off",
     "-- Devices whose clock is more than 5 minutes off the time Warden received\n"
     "-- their last message (the default ingest.max_clock_skew).\n"
     "SELECT device_id, clock_skew_ms / 1000 AS skew_seconds, os_info, agent_version\n"
     "FROM devices\n"
     "WHERE abs(clock_skew_ms) > 300000\n"
     "ORDER BY abs(clock_skew_ms) DESC;\n"},
    {"dead_letters_by_reason.sql", "What could not be stored in the last day, and why",
     "-- What could not be stored in the last day, and why.\n"
     "SELECT reason, count(*) AS messages, sum(payload_size) AS bytes,\n"
     "       strftime('%Y-%m-%dT%H:%M:%SZ', max(recv_ms) / 1000, 'unixepoch') AS last\n"
     "FROM dead_letters\n"
     "WHERE recv_ms >= (strftime('%s', 'now') - 86400) * 1000\n"
     "GROUP BY reason\n"
     "ORDER BY messages DESC;\n"},
    {"devices_that_talked_to_ip.sql", "Devices that talked to a given IP address",
     "-- Which devices talked to a given remote IP address, when, and how much?\n"
     "-- Change the address below. Raw flows are kept for a few days (retention.*);\n"
     "-- the hourly summaries (flows_hourly) reach further back.\n"
     "SELECT device_id,\n"
     "       count(*) AS flow_records,\n"
     "       sum(bytes_in) AS bytes_in,\n"
     "       sum(bytes_out) AS bytes_out,\n"
     "       strftime('%Y-%m-%dT%H:%M:%SZ', min(recv_ms) / 1000, 'unixepoch') AS first_seen,\n"
     "       strftime('%Y-%m-%dT%H:%M:%SZ', max(recv_ms) / 1000, 'unixepoch') AS last_seen\n"
     "FROM flows\n"
     "WHERE remote_ip = '52.178.17.3'\n"
     "GROUP BY device_id\n"
     "ORDER BY flow_records DESC;\n"},
    {"devices_that_talked_to_ip_history.sql", "Devices that talked to an IP address, hour by hour",
     "-- The same question over the longer history of hourly flow summaries:\n"
     "-- every device that exchanged traffic with a remote IP, per hour.\n"
     "SELECT strftime('%Y-%m-%dT%H:00Z', hour_ms / 1000, 'unixepoch') AS hour,\n"
     "       device_id, protocol, remote_port, records, bytes_in, bytes_out\n"
     "FROM flows_hourly\n"
     "WHERE remote_ip = '52.178.17.3'\n"
     "ORDER BY hour_ms DESC, device_id;\n"},
    {"listening_ports_below_1024.sql", "Devices listening on a port below 1024",
     "-- Which devices listen on a privileged port (below 1024), as last reported?\n"
     "SELECT device_id, protocol, local_ip, local_port,\n"
     "       strftime('%Y-%m-%dT%H:%M:%SZ', max(recv_ms) / 1000, 'unixepoch') AS last_reported\n"
     "FROM listening_ports\n"
     "WHERE local_port < 1024\n"
     "GROUP BY device_id, protocol, local_ip, local_port\n"
     "ORDER BY local_port, device_id;\n"},
    {"messages_per_device_last_hour.sql", "Messages per device and kind, last hour",
     "-- Messages per device and kind over the last hour, from the 10-second counts.\n"
     "SELECT device_id, metric, sum(value) AS total\n"
     "FROM device_counts\n"
     "WHERE bucket_ms >= (strftime('%s', 'now') - 3600) * 1000\n"
     "GROUP BY device_id, metric\n"
     "ORDER BY device_id, metric;\n"},
    {"silent_devices.sql", "Devices silent for an hour or more",
     "-- Devices that have not sent anything for an hour or more, oldest first.\n"
     "SELECT device_id, hub, security_group,\n"
     "       strftime('%Y-%m-%dT%H:%M:%SZ', last_seen_ms / 1000, 'unixepoch') AS last_seen,\n"
     "       (strftime('%s', 'now') * 1000 - last_seen_ms) / 60000 AS minutes_silent\n"
     "FROM devices\n"
     "WHERE last_seen_ms < (strftime('%s', 'now') - 3600) * 1000\n"
     "ORDER BY last_seen_ms;\n"},
    {"top_remote_endpoints.sql", "The 20 busiest remote endpoints, last 24 hours",
     "-- The 20 remote endpoints the fleet talked to most in the last 24 hours.\n"
     "SELECT remote_ip, remote_port, protocol,\n"
     "       count(DISTINCT device_id) AS devices,\n"
     "       count(*) AS flow_records,\n"
     "       sum(bytes_in + bytes_out) AS bytes\n"
     "FROM flows\n"
     "WHERE recv_ms >= (strftime('%s', 'now') - 86400) * 1000\n"
     "GROUP BY remote_ip, remote_port, protocol\n"
     "ORDER BY flow_records DESC\n"
     "LIMIT 20;\n"},
    {NULL, NULL, NULL},
};

static void sql_examples_list(struct evbuffer *out)
{
    evbuffer_add_printf(out, "<div class=\"card examples\"><h2>Examples</h2><p class=\"hint\">"
                             "Ready queries from <code>sql/examples/</code>. Click one to run "
                             "it.</p>");
    for (const struct web_sql_example *e = web_sql_examples; e->file != NULL; e++) {
        evbuffer_add_printf(out, "<a href=\"/sql?q=");
        url_escape(out, e->sql);
        html_printf(out, "\">%s</a>", e->title);
    }
    evbuffer_add_printf(out, "</div>");
}

/* The result of a console query (web_sql_submit): {"columns": [...], "rows": [[...]], "truncated": bool}. */
static void sql_result(struct evbuffer *out, json_t *res, const char *q)
{
    json_t *cols = json_object_get(res, "columns"), *rows = json_object_get(res, "rows");
    json_t *c, *row, *v;
    size_t i, j;

    evbuffer_add_printf(out, "<div class=\"card\"><h2>Result</h2><p class=\"hint\">%zu row%s",
                        json_array_size(rows), json_array_size(rows) == 1 ? "" : "s");
    if (json_is_true(json_object_get(res, "truncated")))
        evbuffer_add_printf(out, " <span class=\"badge b-warn\">truncated</span> only the first "
                                 "rows are shown; the CSV export has them all");
    evbuffer_add_printf(out, ". <a href=\"/api/v1/sql?format=csv&amp;q=");
    url_escape(out, q);
    evbuffer_add_printf(out, "\">Download as CSV</a> \xc2\xb7 <a href=\"/api/v1/sql?q=");
    url_escape(out, q);
    evbuffer_add_printf(out, "\">as JSON</a></p><div class=\"scroll\"><table><thead><tr>");
    json_array_foreach(cols, i, c) html_printf(out, "<th>%s</th>", json_string_value(c));
    evbuffer_add_printf(out, "</tr></thead><tbody>");
    json_array_foreach(rows, i, row)
    {
        evbuffer_add_printf(out, "<tr>");
        json_array_foreach(row, j, v)
        {
            if (json_is_null(v))
                evbuffer_add_printf(out, "<td class=\"muted\">NULL</td>");
            else if (json_is_number(v))
                evbuffer_add_printf(out, "<td class=\"num\">"), put_json_value(out, v, 0),
                    evbuffer_add_printf(out, "</td>");
            else
                evbuffer_add_printf(out, "<td>"), put_json_value(out, v, 0),
                    evbuffer_add_printf(out, "</td>");
        }
        evbuffer_add_printf(out, "</tr>");
    }
    evbuffer_add_printf(out, "</tbody></table></div></div>");
}

/* What a console page keeps while its query runs on a worker. */
struct sql_page {
    struct evbuffer *out;
    char *q;
};

static void sql_page_end(struct web_req *r, struct sql_page *p, int status)
{
    evbuffer_add_printf(p->out, "</div><div>");
    sql_examples_list(p->out);
    evbuffer_add_printf(p->out, "</div></div>");
    page_send(r, p->out, status);
    p->out = NULL;
}

static void sql_page_free(struct sql_page *p)
{
    if (p->out != NULL)
        evbuffer_free(p->out);
    free(p->q);
    free(p);
}

/* The query has run (web_sql_submit's callback): the result or the error, then the page's end. */
static void page_sql_done(struct web_req *r, int status, json_t *res, const char *err, void *arg)
{
    struct sql_page *p = arg;

    if (r != NULL) {
        if (status == 200)
            sql_result(p->out, res, p->q);
        else
            html_printf(p->out, "<div class=\"error\">%s</div>", err);
        sql_page_end(r, p, status);
    }
    json_decref(res);
    sql_page_free(p);
}

static void page_sql(struct web_req *r)
{
    struct sql_page *p = calloc(1, sizeof(*p));
    const char *q = param(r, "q");
    char err[1024] = "";
    int status = 200;

    if (p == NULL)
        fatal("out of memory");
    p->out = page_open(r, "SQL", "sql");
    evbuffer_add_printf(p->out, "<h1>SQL console</h1><p class=\"lead\">Ask the database anything, "
                                "read-only. The tables and views are described in the README "
                                "(<code>alerts</code>, <code>v_alerts</code>, <code>flows</code>, "
                                "<code>device_counts</code>, <code>devices</code>, ...). Times are "
                                "unix milliseconds in <code>*_ms</code> columns. The query is part "
                                "of the address, so a result can be shared as a link.</p>");
    html_printf(p->out,
                "<div class=\"split\"><div style=\"flex:2\"><form class=\"card\" method=\"get\" "
                "action=\"/sql\"><textarea name=\"q\" rows=\"7\" spellcheck=\"false\" "
                "placeholder=\"SELECT alert_type, count(*) FROM alerts GROUP BY 1\">%s</textarea>"
                "<p><button type=\"submit\">Run</button> <span class=\"small muted\">At most "
                "%lld rows and %lld ms; writes, ATTACH and PRAGMA changes are refused.</span></p>"
                "</form>",
                q ? q : "", (long long)r->ctx->cfg->web_sql_max_rows,
                (long long)r->ctx->cfg->web_sql_time_limit_ms);
    if (q != NULL && web_cross_site(r, err, sizeof(err)))
        status = 403;
    else if (q != NULL && (p->q = strdup(q)) == NULL)
        fatal("out of memory");
    else if (q != NULL && (status = web_sql_submit(r, q, page_sql_done, p, err, sizeof(err))) == 0)
        return; /* page_sql_done ends the page */
    if (status != 200)
        html_printf(p->out, "<div class=\"error\">%s</div>", err);
    sql_page_end(r, p, status);
    sql_page_free(p);
}

/* ---- /login -------------------------------------------------------------------------------- */

static void page_login(struct web_req *r)
{
    struct evbuffer *out = page_open(r, "Log in", NULL);
    const char *next = param(r, "next");

    /* Only a path of this site may be where the login leads. */
    if (next == NULL || next[0] != '/' || next[1] == '/' || next[1] == '\\')
        next = "/";
    evbuffer_add_printf(out, "<h1>Log in</h1><p class=\"lead\">Reading needs no login. Changing "
                             "something (dismissing an alert, editing a security group) needs "
                             "the admin token: the one line of the file <code>warden.token</code> "
                             "beside the database (setting <code>web.auth.token_file</code>).</p>");
    if (r->csrf[0] != '\0')
        evbuffer_add_printf(out, "<div class=\"ok\">You are logged in.</div>");
    else if (param(r, "failed") != NULL)
        evbuffer_add_printf(out, "<div class=\"error\">That is not the admin token.</div>");
    html_printf(out,
                "<form class=\"card filters\" method=\"post\" action=\"/login\">"
                "<input type=\"hidden\" name=\"next\" value=\"%s\">"
                "<label>Admin token<input type=\"password\" name=\"token\" size=\"48\" "
                "autocomplete=\"current-password\" autofocus></label>"
                "<button type=\"submit\">Log in</button></form>",
                next);
    page_send(r, out, 200);
}

/* ---- the routes ------------------------------------------------------------------------------ */

const struct web_route web_page_routes[] = {
    {"GET", "/", false, false, page_overview},
    {"GET", "/alerts", false, false, page_alerts},
    {"GET", "/alerts/", true, false, page_alert},
    {"POST", "/alerts/", true, true, page_alert_change},
    {"GET", "/devices", false, false, page_devices},
    {"GET", "/devices/", true, false, page_device},
    {"GET", "/recommendations", false, false, page_recommendations},
    {"GET", "/groups", false, false, page_groups},
    {"GET", "/groups/", true, false, page_group},
    {"POST", "/groups/", true, true, page_group_save},
    {"GET", "/sql", false, false, page_sql},
    {"GET", "/login", false, false, page_login},
    {NULL, NULL, false, false, NULL},
};
