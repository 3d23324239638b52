/*
 * web/page_devices.c: GET /devices, every device by id with a pager, and
 * GET /devices/{id}, one device: its identity, system information, activity
 * charts, alerts, network and recommendations. Calls page.c and the core.
 */
#include "page.h"
#include "routes.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_DEVICES 100 /* devices per page of /devices */

static const char SQL_DEVICES_PAGE[] =
    "SELECT d.device_id, d.hub, d.security_group, d.os_info, d.last_seen_ms, d.clock_skew_ms, "
    "(SELECT count(*) FROM alerts a WHERE a.device_id = d.device_id AND a.status = 'Active') "
    "FROM devices d WHERE d.device_id > ?1 OR (?2 AND d.device_id = ?1) "
    "ORDER BY d.device_id LIMIT ?3";
static const char SQL_DEVICE_COUNT[] = "SELECT count(*) FROM devices";

static void device_skew_badge(struct web_req *r, struct evbuffer *out, sqlite3_stmt *st, int i)
{
    int64_t skew = page_col_int(st, i);

    if (!page_col_null(st, i) && (skew > r->ctx->cfg->ingest_max_clock_skew_ms ||
                             -skew > r->ctx->cfg->ingest_max_clock_skew_ms))
        page_put_badge(out, "warn", "clock skew");
}

static void page_devices(struct web_req *r)
{
    struct evbuffer *out = page_open(r, "Devices", "devices");
    const char *after = page_param(r, "after"), *from = page_param(r, "from");
    int64_t now = clock_now_ms(), total = 0;
    char last[512] = "";
    sqlite3_stmt *st;
    int rc, rows = 0;

    if ((st = page_prepare(r, out, SQL_DEVICE_COUNT)) != NULL) {
        if ((rc = sqlite3_step(st)) == SQLITE_ROW)
            total = page_col_int(st, 0);
        page_finish(r, out, st, rc);
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
    if ((st = page_prepare(r, out, SQL_DEVICES_PAGE)) == NULL) {
        page_send(r, out, 500);
        return;
    }
    page_bind_text(st, 1, from ? from : after ? after : "");
    sqlite3_bind_int(st, 2, from != NULL);
    sqlite3_bind_int64(st, 3, PAGE_DEVICES + 1);
    evbuffer_add_printf(out, "<div class=\"card\"><table><thead><tr><th>Device</th><th>Hub</th>"
                             "<th>Group</th><th>Operating system</th><th>Last seen</th>"
                             "<th class=\"num\">Active alerts</th><th></th></tr></thead><tbody>");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (++rows > PAGE_DEVICES)
            break;
        evbuffer_add_printf(out, "<tr><td>");
        page_put_device(out, page_col(st, 0));
        html_printf(out, "</td><td>%s</td><td><a href=\"/groups/", page_col(st, 1));
        url_escape(out, page_col(st, 2));
        html_printf(out, "\">%s</a></td><td>%s</td><td class=\"t\">", page_col(st, 2),
                    page_col(st, 3) ? page_col(st, 3) : "");
        page_put_when(out, now, page_col_int(st, 4));
        evbuffer_add_printf(out, "</td><td class=\"num\">");
        if (page_col_int(st, 6) > 0) {
            evbuffer_add_printf(out, "<a href=\"/alerts?status=Active&amp;device=");
            url_escape(out, page_col(st, 0));
            evbuffer_add_printf(out, "\">%" PRId64 "</a>", page_col_int(st, 6));
        } else {
            evbuffer_add_printf(out, "<span class=\"muted\">0</span>");
        }
        evbuffer_add_printf(out, "</td><td>");
        if (now - page_col_int(st, 4) > r->ctx->cfg->evaluator_silent_after_ms)
            page_put_badge(out, "warn", "silent");
        device_skew_badge(r, out, st, 5);
        evbuffer_add_printf(out, "</td></tr>");
        snprintf(last, sizeof(last), "%s", page_col(st, 0));
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
    page_finish(r, out, st, rows > PAGE_DEVICES ? SQLITE_DONE : rc);
    page_send(r, out, 200);
}

/* ---- /devices/{id} ---------------------------------------------------------------------------- */

static const char SQL_DEVICE[] =
    "SELECT device_id, hub, security_group, auth_type, first_seen_ms, last_seen_ms, os_info, "
    "agent_version, module_version, module_id, clock_skew_ms, activity_interval_s, "
    "heartbeat_interval_s FROM devices WHERE device_id = ?1";

static void device_facts(struct web_req *r, struct evbuffer *out, sqlite3_stmt *st, int64_t now)
{
    int64_t skew = page_col_int(st, 10), limit = r->ctx->cfg->ingest_max_clock_skew_ms;

    evbuffer_add_printf(out, "<table class=\"kv\">");
    html_printf(out, "<tr><th>Hub</th><td>%s</td></tr><tr><th>Security group</th><td>"
                     "<a href=\"/groups/",
                page_col(st, 1));
    url_escape(out, page_col(st, 2));
    html_printf(out, "\">%s</a></td></tr>", page_col(st, 2));
    html_printf(out, "<tr><th>Authentication</th><td>%s</td></tr>",
                page_col(st, 3) ? page_col(st, 3) : "unknown (not in an imported registry)");
    evbuffer_add_printf(out, "<tr><th>First seen</th><td>");
    page_put_time(out, page_col_int(st, 4));
    evbuffer_add_printf(out, "</td></tr><tr><th>Last seen</th><td>");
    page_put_time(out, page_col_int(st, 5));
    evbuffer_add_printf(out, " <span class=\"muted\">(");
    page_put_when(out, now, page_col_int(st, 5));
    evbuffer_add_printf(out, ")</span></td></tr>");
    html_printf(out, "<tr><th>Operating system</th><td>%s</td></tr>",
                page_col(st, 6) ? page_col(st, 6) : "");
    html_printf(out, "<tr><th>Security module</th><td>%s%s%s%s%s</td></tr>",
                page_col(st, 9) ? page_col(st, 9) : "", page_col(st, 8) ? " " : "",
                page_col(st, 8) ? page_col(st, 8) : "", page_col(st, 7) ? " \xc2\xb7 agent " : "",
                page_col(st, 7) ? page_col(st, 7) : "");
    evbuffer_add_printf(out, "<tr><th>Collection interval</th><td>");
    if (page_col_null(st, 11) && page_col_null(st, 12))
        evbuffer_add_printf(out, "<span class=\"muted\">not said (JSON agents do not)</span>");
    if (!page_col_null(st, 11))
        evbuffer_add_printf(out, "network activity every %lld s", (long long)page_col_int(st, 11));
    if (!page_col_null(st, 12))
        evbuffer_add_printf(out, "%sheartbeat and system information every %lld s",
                            page_col_null(st, 11) ? "" : ", ", (long long)page_col_int(st, 12));
    evbuffer_add_printf(out, "</td></tr><tr><th>Clock skew</th><td>");
    if (page_col_null(st, 10)) {
        evbuffer_add_printf(out, "<span class=\"muted\">unknown (no message with a device "
                                 "time)</span>");
    } else {
        evbuffer_add_printf(out, "%+.1f s ", (double)skew / 1000);
        if (skew > limit || -skew > limit)
            page_put_badge(out, "warn", "off by more than ingest.max_clock_skew");
        else
            page_put_badge(out, "ok", "within limits");
    }
    evbuffer_add_printf(out, "</td></tr></table>");
}

/* The spans a device's charts offer (?span=), the last 24 hours by default. */
static const struct span {
    const char *key, *label;
    int64_t ms;
} spans[] = {
    {"15m", "15 minutes", 15 * 60000},
    {"1h", "1 hour", PAGE_HOUR_MS},
    {"6h", "6 hours", 6 * PAGE_HOUR_MS},
    {"24h", "24 hours", PAGE_DAY_MS},
    {"7d", "7 days", 7 * PAGE_DAY_MS},
};
#define N_SPANS      (sizeof(spans) / sizeof(spans[0]))
#define DEFAULT_SPAN 3

static const struct span *device_span(struct web_req *r)
{
    const char *v = page_param(r, "span");

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
    int64_t step = page_series_step(sp->ms);
    int64_t t1 = (now / step + 1) * step, t0 = t1 - sp->ms;
    size_t n = (size_t)((t1 - t0) / step);
    double *values = calloc(PAGE_N_METRICS * n, sizeof(double));
    bool seen[PAGE_N_METRICS] = {false};
    sqlite3_stmt *st;
    char span[32];
    int rc;

    if (values == NULL)
        fatal("out of memory");
    page_fmt_span(step, span, sizeof(span));
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
    if ((st = page_prepare(r, out, SQL_DEVICE_SERIES)) == NULL) {
        free(values);
        evbuffer_add_printf(out, "</div>");
        return;
    }
    page_bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, t0);
    sqlite3_bind_int64(st, 3, step);
    sqlite3_bind_int64(st, 4, t1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t i = page_col_int(st, 1);
        for (size_t m = 0; m < PAGE_N_METRICS; m++)
            if (page_col(st, 0) && strcmp(page_col(st, 0), page_metrics[m].name) == 0 && i >= 0 &&
                (size_t)i < n) {
                values[m * n + (size_t)i] = sqlite3_column_double(st, 2);
                seen[m] = seen[m] || sqlite3_column_double(st, 2) != 0;
            }
    }
    page_finish(r, out, st, rc);
    evbuffer_add_printf(out, "<div class=\"grid\">");
    for (size_t m = 0; m < PAGE_N_METRICS; m++) {
        struct chart c = {page_metrics[m].label, page_metrics[m].name, 600, 170};
        struct chart_series s = {.t0_ms = t0, .step_ms = step, .values = values + m * n, .n = n};
        double total = 0;

        if (!seen[m])
            continue;
        for (size_t i = 0; i < n; i++)
            total += s.values[i];
        html_printf(out, "<div><h3>%s <span class=\"muted\">\xc2\xb7 %.0f in all</span></h3>",
                    page_metrics[m].label, total);
        chart_series(out, &c, &s);
        evbuffer_add_printf(out, "</div>");
    }
    evbuffer_add_printf(out, "</div>");
    evbuffer_add_printf(out, "<p class=\"small muted\">Nothing in this span: ");
    for (size_t m = 0, k = 0; m < PAGE_N_METRICS; m++)
        if (!seen[m])
            evbuffer_add_printf(out, "%s%s", k++ ? ", " : "", page_metrics[m].label);
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
    if ((st = page_prepare(r, out, SQL_DEVICE_FLOWS)) != NULL) {
        page_bind_text(st, 1, id);
        sqlite3_bind_int64(st, 2, last_seen - 120000);
        if (page_flow_rows(out, st, &rc, false) == 0)
            evbuffer_add_printf(out, "<p class=\"empty\">No recent flows.</p>");
        page_finish(r, out, st, rc);
    }
    evbuffer_add_printf(out, "<h3>Remote endpoints, last 24 hours</h3>");
    if ((st = page_prepare(r, out, SQL_DEVICE_ENDPOINTS)) == NULL) {
        evbuffer_add_printf(out, "</div>");
        return;
    }
    page_bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, (now - PAGE_DAY_MS) / PAGE_HOUR_MS * PAGE_HOUR_MS);
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
                    page_col(st, 1), (long long)page_col_int(st, 2), page_col(st, 0),
                    page_col(st, 3), (long long)page_col_int(st, 4), (long long)page_col_int(st, 5),
                    (long long)page_col_int(st, 6));
        page_put_when(out, now, page_col_int(st, 7));
        evbuffer_add_printf(out, "</td></tr>");
    }
    evbuffer_add_printf(out, rows ? "</tbody></table>"
                                  : "<p class=\"empty\">No hourly summaries yet (they are "
                                    "rolled up from the raw flows as time passes).</p>");
    page_finish(r, out, st, rc);
    evbuffer_add_printf(out, "</div>");
}

static const char SQL_DEVICE_ALERTS[] =
    PAGE_ALERT_COLS "WHERE device_id = ?1 ORDER BY start_ms DESC, alert_id DESC LIMIT 15";

static void device_alerts(struct web_req *r, struct evbuffer *out, const char *id, int64_t now)
{
    sqlite3_stmt *st = page_prepare(r, out, SQL_DEVICE_ALERTS);
    int rc, rows = 0;

    evbuffer_add_printf(out, "<div class=\"card\"><h2>Alerts</h2><p class=\"hint\">The newest "
                             "alerts of this device. <a href=\"/alerts?device=");
    url_escape(out, id);
    evbuffer_add_printf(out, "\">All of them</a>.</p>");
    if (st == NULL) {
        evbuffer_add_printf(out, "</div>");
        return;
    }
    page_bind_text(st, 1, id);
    page_alert_row_head(out, false);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        page_alert_row(out, st, now, false);
        rows++;
    }
    evbuffer_add_printf(out, "</tbody></table>");
    if (rows == 0)
        evbuffer_add_printf(out, "<p class=\"empty\">This device has never raised an alert.</p>");
    page_finish(r, out, st, rc);
    evbuffer_add_printf(out, "</div>");
}

static const char SQL_DEVICE_RECS[] =
    "SELECT rec_id, display_name, severity, state, discovered_ms, additional_data "
    "FROM recommendations WHERE device_id = ?1 ORDER BY state, discovered_ms DESC LIMIT 20";

static void device_recs(struct web_req *r, struct evbuffer *out, const char *id, int64_t now)
{
    sqlite3_stmt *st = page_prepare(r, out, SQL_DEVICE_RECS);
    int rc, rows = 0;

    evbuffer_add_printf(out, "<div class=\"card\"><h2>Recommendations</h2>");
    if (st == NULL) {
        evbuffer_add_printf(out, "</div>");
        return;
    }
    page_bind_text(st, 1, id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows++ == 0)
            evbuffer_add_printf(out, "<table><thead><tr><th>Recommendation</th><th>Severity</th>"
                                     "<th>State</th><th>Since</th><th>Details</th></tr></thead>"
                                     "<tbody>");
        html_printf(out, "<tr><td><a href=\"/recommendations#rec-%lld\">%s</a></td><td>",
                    (long long)page_col_int(st, 0), page_col(st, 1));
        page_put_state(out, page_col(st, 2));
        evbuffer_add_printf(out, "</td><td>");
        page_put_state(out, page_col(st, 3));
        evbuffer_add_printf(out, "</td><td class=\"t\">");
        page_put_when(out, now, page_col_int(st, 4));
        evbuffer_add_printf(out, "</td><td>");
        page_put_json_props(out, page_col(st, 5), false);
        evbuffer_add_printf(out, "</td></tr>");
    }
    evbuffer_add_printf(out, rows ? "</tbody></table>"
                                  : "<p class=\"empty\">None for this device.</p>");
    page_finish(r, out, st, rc);
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
    if ((st = page_prepare(r, out, SQL_DEVICE_SYSINFO)) != NULL) {
        page_bind_text(st, 1, id);
        sqlite3_bind_int64(st, 2, last_seen - PAGE_HOUR_MS);
        sqlite3_bind_int64(st, 3, last_seen);
        if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            evbuffer_add_printf(out, "<table class=\"kv\"><tr><th>Reported</th><td>");
            page_put_when(out, now, page_col_int(st, 0));
            html_printf(out,
                        "</td></tr><tr><th>Operating system</th><td>%s</td></tr>"
                        "<tr><th>Kernel</th><td>%s</td></tr><tr><th>Hardware</th><td>%s</td></tr>",
                        page_col(st, 1) ? page_col(st, 1) : "",
                        page_col(st, 2) ? page_col(st, 2) : "",
                        page_col(st, 3) ? page_col(st, 3) : "");
            if (page_col(st, 4) != NULL) {
                evbuffer_add_printf(out, "<tr><th>Details</th><td>");
                page_put_json_props(out, page_col(st, 4), false);
                evbuffer_add_printf(out, "</td></tr>");
            }
            evbuffer_add_printf(out, "</table>");
        } else {
            evbuffer_add_printf(out, "<p class=\"empty\">No system information in the hour "
                                     "before the device was last seen.</p>");
        }
        page_finish(r, out, st, rc);
    }
    evbuffer_add_printf(out, "<h3>Listening ports</h3>");
    if ((st = page_prepare(r, out, SQL_DEVICE_PORTS)) == NULL) {
        evbuffer_add_printf(out, "</div>");
        return;
    }
    page_bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, last_seen - PAGE_HOUR_MS);
    sqlite3_bind_int64(st, 3, last_seen);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows++ == 0) {
            evbuffer_add_printf(out, "<p class=\"hint\">As last reported, ");
            page_put_when(out, now, page_col_int(st, 6));
            evbuffer_add_printf(out, ".</p><table><thead><tr><th>Protocol</th><th>Local</th>"
                                     "<th>Remote</th><th>Details</th></tr></thead><tbody>");
        }
        html_printf(out, "<tr><td>%s</td><td class=\"mono\">%s:%lld</td><td class=\"mono\">",
                    page_col(st, 0), page_col(st, 1) ? page_col(st, 1) : "*",
                    (long long)page_col_int(st, 2));
        if (!page_col_null(st, 3))
            html_printf(out, "%s:%lld", page_col(st, 3), (long long)page_col_int(st, 4));
        evbuffer_add_printf(out, "</td><td>");
        if (!page_col_null(st, 5))
            page_put_json_props(out, page_col(st, 5), false);
        evbuffer_add_printf(out, "</td></tr>");
    }
    evbuffer_add_printf(out, rows ? "</tbody></table>"
                                  : "<p class=\"empty\">No listening ports reported in the hour "
                                    "before the device was last seen.</p>");
    page_finish(r, out, st, rc);
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
    if ((st = page_prepare(r, out, SQL_DEVICE)) == NULL) {
        page_send(r, out, 500);
        return;
    }
    page_bind_text(st, 1, r->tail);
    if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
        page_finish(r, out, st, rc);
        evbuffer_free(out);
        page_error(r, 404, "No such device", "Warden has never heard of this device.");
        return;
    }
    if ((id = strdup(page_col(st, 0))) == NULL)
        fatal("out of memory");
    last_seen = page_col_int(st, 5);
    html_printf(out, "<div class=\"crumbs\"><a href=\"/devices\">Devices</a> / device</div>"
                     "<h1 class=\"mono\">%s</h1>",
                id);
    evbuffer_add_printf(out, "<p class=\"lead\">One device of the fleet: what it is, what it did, "
                             "and what Warden found about it.</p><div class=\"split\">"
                             "<div class=\"card\"><h2>Identity</h2>");
    device_facts(r, out, st, now);
    page_finish(r, out, st, SQLITE_DONE);
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

const struct web_route web_page_devices_routes[] = {
    {"GET", "/devices", 0, page_devices, NULL},
    {"GET", "/devices/", WEB_PREFIX, page_device, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
