/*
 * web/page_overview.c: the overview, GET / (SPEC 6): active alerts by
 * severity, alerts per day, the most prevalent types and most alerted
 * devices, unhealthy devices, active recommendations and the ingester's
 * health, its body cached for a few seconds. Calls page.c, the core and the
 * catalogue.
 */
#include "page.h"
#include "routes.h"

#include "../common/catalog.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHART_DAYS      30    /* the overview's alerts per day */
#define FRESH_COMMIT_MS 10000 /* an ingester that committed within this is alive */

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

    if ((st = page_prepare(r, out, SQL_ACTIVE_BY_SEVERITY)) == NULL)
        return;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        for (int i = 0; i < 3; i++)
            if (page_col(st, 0) != NULL && strcmp(page_col(st, 0), sev[i]) == 0)
                n[i] = page_col_int(st, 1);
    page_finish(r, out, st, rc);
    if ((st = page_prepare(r, out, SQL_TOTALS)) == NULL)
        return;
    if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        devices = page_col_int(st, 0), recs = page_col_int(st, 1);
    page_finish(r, out, st, rc);

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
    int64_t today = now / PAGE_DAY_MS, first = today - (CHART_DAYS - 1);
    double counts[CHART_DAYS] = {0};
    char labels[CHART_DAYS][8], tips[CHART_DAYS][40], hrefs[CHART_DAYS][96];
    struct chart_bar bars[CHART_DAYS];
    struct chart c = {"Alerts raised per day, last 30 days", "alerts raised", 1200, 200};
    double total = 0;
    sqlite3_stmt *st;
    int rc = SQLITE_DONE;

    if ((st = page_prepare(r, out, SQL_ALERTS_IN_DAY)) == NULL)
        return;
    for (int i = 0; i < CHART_DAYS && rc == SQLITE_DONE; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, (first + i) * PAGE_DAY_MS);
        sqlite3_bind_int64(st, 2, (first + i + 1) * PAGE_DAY_MS);
        if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            counts[i] = sqlite3_column_double(st, 0);
            rc = sqlite3_step(st);
        }
        if (rc != SQLITE_DONE)
            page_finish(r, out, st, rc), st = NULL;
    }
    if (st != NULL)
        page_finish(r, out, st, SQLITE_DONE);
    for (int i = 0; i < CHART_DAYS; i++) {
        char from[32], to[32], day[16];
        int64_t t = (first + i) * PAGE_DAY_MS;

        page_fmt_iso(t, from, sizeof(from));
        page_fmt_iso(t + PAGE_DAY_MS, to, sizeof(to));
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
    if ((st = page_prepare(r, out, SQL_TYPE_COUNTS)) == NULL) {
        evbuffer_add_printf(out, "</div>");
        return;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const struct catalog_entry *k = page_alert_type(page_col(st, 1));
        if (k == NULL)
            continue;
        counts[k - catalog_alerts()].raised += page_col_int(st, 2);
        if (page_col(st, 0) != NULL && strcmp(page_col(st, 0), "Active") == 0)
            counts[k - catalog_alerts()].active += page_col_int(st, 2);
    }
    page_finish(r, out, st, rc);
    qsort(counts, CATALOG_N_ALERTS, sizeof(counts[0]), type_count_cmp);
    evbuffer_add_printf(out, "<table><thead><tr><th>Alert</th><th>Severity</th>"
                             "<th class=\"num\">Raised</th><th class=\"num\">Active</th></tr>"
                             "</thead><tbody>");
    for (size_t i = 0; i < CATALOG_N_ALERTS && i < 8 && counts[i].raised > 0; i++, rows++) {
        html_printf(out, "<tr><td><a href=\"/alerts?type=%s\">%s</a></td><td>",
                    counts[i].k->type, counts[i].k->label);
        page_put_state(out, counts[i].k->severity);
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
    if ((st = page_prepare(r, out, SQL_TOP_DEVICES)) == NULL) {
        evbuffer_add_printf(out, "</div>");
        return;
    }
    if ((act = page_prepare(r, out, SQL_DEVICE_ACTIVE)) == NULL) {
        sqlite3_finalize(st);
        evbuffer_add_printf(out, "</div>");
        return;
    }
    sqlite3_bind_int64(st, 1, now - CHART_DAYS * PAGE_DAY_MS);
    evbuffer_add_printf(out, "<table><thead><tr><th>Device</th><th class=\"num\">Alerts</th>"
                             "<th class=\"num\">Active now</th><th></th></tr></thead><tbody>");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t active = 0;

        sqlite3_reset(act);
        page_bind_text(act, 1, page_col(st, 0));
        if (sqlite3_step(act) == SQLITE_ROW)
            active = page_col_int(act, 0);
        evbuffer_add_printf(out, "<tr><td>");
        page_put_device(out, page_col(st, 0));
        evbuffer_add_printf(out, "</td><td class=\"num\">%" PRId64 "</td><td class=\"num\">%" PRId64
                                 "</td><td class=\"num\"><a href=\"/alerts?device=",
                            page_col_int(st, 1), active);
        url_escape(out, page_col(st, 0));
        evbuffer_add_printf(out, "\">its alerts</a></td></tr>");
        rows++;
    }
    evbuffer_add_printf(out, "</tbody></table>");
    if (rows == 0)
        evbuffer_add_printf(out, "<p class=\"empty\">No device alerts in the last 30 days.</p>");
    sqlite3_finalize(act);
    page_finish(r, out, st, rc);
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

    page_fmt_span(r->ctx->cfg->evaluator_silent_after_ms, span, sizeof(span));
    html_printf(out,
                "<div class=\"card\"><h2>Unhealthy devices</h2><p class=\"hint\">Devices with "
                "active alerts, or silent for more than %s (evaluator.silent_after).</p>",
                span);
    if ((st = page_prepare(r, out, SQL_UNHEALTHY)) == NULL) {
        evbuffer_add_printf(out, "</div>");
        return;
    }
    sqlite3_bind_int64(st, 1, silent_before);
    evbuffer_add_printf(out, "<table><thead><tr><th>Device</th><th>Last seen</th>"
                             "<th class=\"num\">Active alerts</th><th>Why</th></tr></thead><tbody>");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        bool silent = page_col_int(st, 1) < silent_before;
        evbuffer_add_printf(out, "<tr><td>");
        page_put_device(out, page_col(st, 0));
        evbuffer_add_printf(out, "</td><td class=\"t\">");
        page_put_when(out, now, page_col_int(st, 1));
        evbuffer_add_printf(out, "</td><td class=\"num\">%" PRId64 "</td><td>",
                            page_col_int(st, 2));
        if (silent)
            page_put_badge(out, "warn", "silent");
        if (page_col_int(st, 2) > 0)
            page_put_badge(out, "bad", "alerts");
        evbuffer_add_printf(out, "</td></tr>");
        total = page_col_int(st, 3);
    }
    evbuffer_add_printf(out, "</tbody></table>");
    if (total == 0)
        evbuffer_add_printf(out, "<p class=\"empty\">Every device is reporting and has no active "
                                 "alert.</p>");
    else if (total > 10)
        evbuffer_add_printf(out, "<p class=\"small muted\">%" PRId64 " unhealthy devices in all; "
                                 "<a href=\"/alerts?status=Active\">every active alert</a>.</p>",
                            total);
    page_finish(r, out, st, rc);
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
    if ((st = page_prepare(r, out, SQL_ACTIVE_RECS)) == NULL) {
        evbuffer_add_printf(out, "</div>");
        return;
    }
    evbuffer_add_printf(out, "<table><thead><tr><th>Recommendation</th><th>Severity</th>"
                             "<th>Applies to</th><th>Since</th></tr></thead><tbody>");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        html_printf(out, "<tr><td><a href=\"/recommendations#rec-%lld\">%s</a></td><td>",
                    (long long)page_col_int(st, 0), page_col(st, 1));
        page_put_state(out, page_col(st, 2));
        evbuffer_add_printf(out, "</td><td>");
        page_put_scope(out, page_col(st, 3), page_col(st, 4));
        evbuffer_add_printf(out, "</td><td class=\"t\">");
        page_put_when(out, now, page_col_int(st, 5));
        evbuffer_add_printf(out, "</td></tr>");
        rows++;
    }
    evbuffer_add_printf(out, "</tbody></table>");
    if (rows == 0)
        evbuffer_add_printf(out, "<p class=\"empty\">No active recommendation.</p>");
    page_finish(r, out, st, rc);
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
    sqlite3_stmt *st = page_prepare(r, out, SQL_INGEST_COUNTERS);
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
        const char *name = page_col(st, 0);
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
        if (page_col(st, 1) != NULL && page_col(st, 1)[0] != '\0') {
            put_label(out, page_col(st, 1));
            evbuffer_add_printf(out, " ");
        }
        evbuffer_add_printf(out, "<b>%" PRId64 "</b>", page_col_int(st, 2));
    }
    evbuffer_add_printf(out, "%s</table>", last[0] ? "</td></tr>" : "");
    if (last[0] == '\0')
        evbuffer_add_printf(out, "<p class=\"empty\">Nothing ingested yet.</p>");
    page_finish(r, out, st, rc);
    evbuffer_add_printf(out, "</div>");
}

static void overview_ingest(struct web_req *r, struct evbuffer *out, int64_t now)
{
    sqlite3_stmt *st;
    int rc, rows = 0;

    evbuffer_add_printf(out, "<div class=\"card\"><h2>Ingest health</h2><p class=\"hint\">The "
                             "MQTT ingester's heartbeat. Messages that could not be stored go to "
                             "dead letters with the reason.</p>");
    if ((st = page_prepare(r, out, SQL_INGEST_STATE)) == NULL) {
        evbuffer_add_printf(out, "</div>");
        return;
    }
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        bool connected = page_col_int(st, 3) != 0;
        bool fresh = !page_col_null(st, 2) && now - page_col_int(st, 2) < FRESH_COMMIT_MS;

        evbuffer_add_printf(out, "<table class=\"kv\"><tr><th>Broker</th><td>");
        page_put_badge(out, connected ? "ok" : "bad", connected ? "connected" : "disconnected");
        evbuffer_add_printf(out, "</td></tr><tr><th>Last commit</th><td>");
        if (page_col_null(st, 2)) {
            evbuffer_add_printf(out, "never");
        } else {
            page_put_when(out, now, page_col_int(st, 2));
            if (!fresh)
                evbuffer_add_printf(out, " "), page_put_badge(out, "warn", "stale");
        }
        evbuffer_add_printf(out, "</td></tr><tr><th>Watermark</th><td>");
        if (page_col_null(st, 4))
            evbuffer_add_printf(out, "none");
        else
            page_put_time(out, page_col_int(st, 4));
        evbuffer_add_printf(out, "<div class=\"small muted\">Everything read before this is "
                                 "committed; the evaluator waits for it.</div></td></tr>");
        if (!page_col_null(st, 0))
            evbuffer_add_printf(out, "<tr><th>Process</th><td>pid %" PRId64, page_col_int(st, 0));
        if (!page_col_null(st, 0) && !page_col_null(st, 1)) {
            evbuffer_add_printf(out, ", started ");
            page_put_when(out, now, page_col_int(st, 1));
        }
        if (!page_col_null(st, 0))
            evbuffer_add_printf(out, "</td></tr>");
        if (page_col(st, 5) != NULL && page_col(st, 5)[0] != '\0')
            html_printf(out, "<tr><th>Last error</th><td class=\"mono\">%s</td></tr>",
                        page_col(st, 5));
        evbuffer_add_printf(out, "</table>");
    }
    page_finish(r, out, st, rc);

    if ((st = page_prepare(r, out, SQL_DEAD_LAST_HOUR)) != NULL) {
        sqlite3_bind_int64(st, 1, now - PAGE_HOUR_MS);
        evbuffer_add_printf(out, "<h3>Dead letters in the last hour</h3>");
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (rows++ == 0)
                evbuffer_add_printf(out, "<table><thead><tr><th>Reason</th>"
                                         "<th class=\"num\">Messages</th></tr></thead><tbody>");
            html_printf(out, "<tr><td class=\"mono\">%s</td><td class=\"num\">%lld</td></tr>",
                        page_col(st, 0), (long long)page_col_int(st, 1));
        }
        evbuffer_add_printf(out, rows ? "</tbody></table>" : "<p class=\"empty\">None.</p>");
        page_finish(r, out, st, rc);
    }
    evbuffer_add_printf(out, "</div>");
}

/*
 * The overview reads every alert of the last month for its history cards (a
 * few tenths of a second with a million alerts stored) and every device for
 * the unhealthy ones (milliseconds with ten thousand). Its body is therefore
 * kept for a few seconds, so a wall screen or a crowd of browsers costs one
 * such read per interval; a change made through the web (the core counts
 * them in ctx->writes) drops it at once, so a user sees their own dismissal. The evaluator writes
 * alerts once a pass, a minute apart by default: a body five seconds old
 * shows them a little later, never wrongly. The server runs one event loop
 * in one thread, so this needs no lock.
 */
#define OVERVIEW_CACHE_MS 5000

static struct {
    int64_t at_ms;
    uint64_t writes; /* ctx->writes when it was made */
    struct evbuffer *html;
} overview_cache;

static void overview_body(struct web_req *r, struct evbuffer *out, int64_t now)
{
    struct evbuffer *fresh;

    if (overview_cache.html != NULL && overview_cache.writes == r->ctx->writes &&
        now >= overview_cache.at_ms && now - overview_cache.at_ms < OVERVIEW_CACHE_MS) {
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
    overview_cache.writes = r->ctx->writes;
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

const struct web_route web_page_overview_routes[] = {
    {"GET", "/", 0, page_overview, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
