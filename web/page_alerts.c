/*
 * web/page_alerts.c: GET /alerts, the alerts newest first with their
 * filters and a keyset pager, and ?view=daily, the view by type and day
 * counted in one pass. Calls page.c, the core, the catalogue and common/'s map.
 */
#include "page.h"
#include "routes.h"

#include "../common/catalog.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_ALERTS 50 /* alerts per page of /alerts */
#define DAILY_DAYS  14 /* the grouped view's default span */

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
    static const char *const stats[] = {"Active", "Dismissed", "Resolved"};
    char e[120] = "";

    memset(f, 0, sizeof(*f));
    f->severity = page_param(r, "severity");
    f->type = page_param(r, "type");
    f->status = page_param(r, "status");
    f->device = page_param(r, "device");
    if (f->severity != NULL && !one_of(f->severity, catalog_severities, 4)) {
        snprintf(f->err, sizeof(f->err), "severity: one of High, Medium, Low. ");
        f->severity = NULL;
    }
    if (f->status != NULL && !one_of(f->status, stats, 3)) {
        snprintf(f->err + strlen(f->err), sizeof(f->err) - strlen(f->err),
                 "status: one of Active, Dismissed, Resolved. ");
        f->status = NULL;
    }
    f->has_since = page_param(r, "since") != NULL;
    f->has_until = page_param(r, "until") != NULL;
    if (!page_time_param(r, "since", dflt_since, &f->since, e, sizeof(e)) ||
        !page_time_param(r, "until", INT64_MAX, &f->until, e, sizeof(e)))
        snprintf(f->err + strlen(f->err), sizeof(f->err) - strlen(f->err), "%s", e);
    if (f->since == dflt_since)
        f->has_since = false;
    if (f->until == INT64_MAX)
        f->has_until = false;
}

/* The filters as a query string, for links that keep them. */
static void filter_qs(struct page_qs *q, const struct alert_filter *f)
{
    page_qs_add(q, "severity", f->severity);
    page_qs_add(q, "type", f->type);
    page_qs_add(q, "status", f->status);
    page_qs_add(q, "device", f->device);
    if (f->has_since)
        page_qs_add_time(q, "since", f->since);
    if (f->has_until)
        page_qs_add_time(q, "until", f->until);
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
        page_fmt_iso(t, v, sizeof(v));
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
    struct page_qs q = {out, false};

    evbuffer_add_printf(out, "<div class=\"tabs\"><a href=\"/alerts");
    filter_qs(&q, f);
    evbuffer_add_printf(out, "\"%s>Newest first</a><a href=\"/alerts?view=daily",
                        daily ? "" : " class=\"on\"");
    q.any = true;
    filter_qs(&q, f);
    evbuffer_add_printf(out, "\"%s>By type and day</a></div>", daily ? " class=\"on\"" : "");
}

#define ALERT_FILTERS                                                                              \
    "(?1 IS NULL OR severity = ?1) AND (?2 IS NULL OR alert_type = ?2) "                           \
    "AND (?3 IS NULL OR status = ?3) AND start_ms >= ?4 AND start_ms < ?5 "
#define ALERT_PAGE                                                                                 \
    "AND (start_ms < ?6 OR (start_ms = ?6 AND alert_id < ?7)) "                                    \
    "ORDER BY start_ms DESC, alert_id DESC LIMIT ?8"
/* With a device, its own statement, so that SQLite walks the (device_id, start_ms) index. */
static const char SQL_ALERTS_PAGE[] = PAGE_ALERT_COLS "WHERE " ALERT_FILTERS ALERT_PAGE;
static const char SQL_ALERTS_PAGE_DEVICE[] =
    PAGE_ALERT_COLS "WHERE device_id = ?9 AND " ALERT_FILTERS ALERT_PAGE;

static void bind_filter(sqlite3_stmt *st, const struct alert_filter *f)
{
    page_bind_text(st, 1, f->severity);
    page_bind_text(st, 2, f->type);
    page_bind_text(st, 3, f->status);
    sqlite3_bind_int64(st, 4, f->since);
    sqlite3_bind_int64(st, 5, f->until);
    if (f->device != NULL)
        sqlite3_bind_text(st, 9, f->device, -1, SQLITE_TRANSIENT);
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
    return page_parse_i64(buf, start) && page_parse_i64(us + 1, id);
}

static void alerts_list(struct web_req *r, struct evbuffer *out, const struct alert_filter *f)
{
    int64_t before_start = INT64_MAX, before_id = INT64_MAX, now = clock_now_ms();
    int64_t last_start = 0, last_id = 0;
    const char *cursor = page_param(r, "before");
    sqlite3_stmt *st;
    int rc, rows = 0;

    if (cursor != NULL && !cursor_parse(cursor, &before_start, &before_id))
        html_printf(out, "<div class=\"error\">before: not a cursor of this page</div>");
    st = page_prepare(r, out, f->device ? SQL_ALERTS_PAGE_DEVICE : SQL_ALERTS_PAGE);
    if (st == NULL)
        return;
    bind_filter(st, f);
    sqlite3_bind_int64(st, 6, before_start);
    sqlite3_bind_int64(st, 7, before_id);
    sqlite3_bind_int64(st, 8, PAGE_ALERTS + 1);
    evbuffer_add_printf(out, "<div class=\"card\">");
    page_alert_row_head(out, true);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (++rows > PAGE_ALERTS)
            break;
        page_alert_row(out, st, now, true);
        last_start = page_col_int(st, 7);
        last_id = page_col_int(st, 0);
    }
    evbuffer_add_printf(out, "</tbody></table>");
    if (rows == 0)
        evbuffer_add_printf(out, "<p class=\"empty\">No alert matches these filters.</p>");
    evbuffer_add_printf(out, "<div class=\"pager\">");
    if (cursor != NULL) {
        struct page_qs q = {out, false};
        evbuffer_add_printf(out, "<a class=\"button quiet\" href=\"/alerts");
        filter_qs(&q, f);
        evbuffer_add_printf(out, "\">\xe2\x86\x90 Newest</a>");
    }
    if (rows > PAGE_ALERTS) {
        struct page_qs q = {out, false};
        char cur[48];
        evbuffer_add_printf(out, "<a class=\"button quiet\" rel=\"next\" href=\"/alerts");
        filter_qs(&q, f);
        snprintf(cur, sizeof(cur), "%" PRId64 "_%" PRId64, last_start, last_id);
        page_qs_add(&q, "before", cur);
        evbuffer_add_printf(out, "\">Next (older) \xe2\x86\x92</a>");
    }
    evbuffer_add_printf(out, "<span class=\"muted small\">%d alert%s on this page, newest "
                             "first</span></div></div>",
                        rows > PAGE_ALERTS ? PAGE_ALERTS : rows,
                        (rows > PAGE_ALERTS ? PAGE_ALERTS : rows) == 1 ? "" : "s");
    page_finish(r, out, st, rows > PAGE_ALERTS ? SQLITE_DONE : rc);
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
    struct page_qs q = {out, false};
    struct alert_filter g = *f;

    g.type = type;
    if (device != NULL)
        g.device = device;
    g.has_since = g.has_until = true;
    g.since = day * PAGE_DAY_MS > f->since ? day * PAGE_DAY_MS : f->since;
    g.until = (day + 1) * PAGE_DAY_MS < f->until ? (day + 1) * PAGE_DAY_MS : f->until;
    evbuffer_add_printf(out, "/alerts");
    filter_qs(&q, &g);
}

static void daily_row(struct evbuffer *out, const struct alert_filter *f,
                      const struct daily_group *g, bool new_day)
{
    const struct catalog_entry *k = page_alert_type(g->type);
    char date[32];

    page_fmt_iso(g->day * PAGE_DAY_MS, date, sizeof(date));
    date[10] = '\0';
    evbuffer_add_printf(out, "<tr><td class=\"t\">%s</td><td><a href=\"", new_day ? date : "");
    daily_link(out, f, g->type, NULL, g->day);
    html_printf(out, "\">%s</a><div class=\"small muted mono\">%s</div></td><td>",
                k ? k->label : g->type, g->type);
    page_put_state(out, k ? k->severity : "?");
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
    if ((st = page_prepare(r, out, f->device ? SQL_ALERTS_SCAN_DEVICE : SQL_ALERTS_SCAN)) == NULL) {
        daily_free(&d);
        return;
    }
    bind_filter(st, f);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (page_col(st, 1) != NULL)
            daily_count(&d, page_col_int(st, 0), page_col(st, 1), page_col(st, 2));
    page_finish(r, out, st, rc);
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
    bool daily = page_param(r, "view") != NULL && strcmp(page_param(r, "view"), "daily") == 0;
    struct evbuffer *out = page_open(r, "Alerts", "alerts");
    struct alert_filter f;
    int64_t now = clock_now_ms();

    filter_read(r, &f, daily ? (now / PAGE_DAY_MS - (DAILY_DAYS - 1)) * PAGE_DAY_MS : 0);
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

const struct web_route web_page_alerts_routes[] = {
    {"GET", "/alerts", 0, page_alerts, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
