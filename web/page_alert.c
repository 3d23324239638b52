/*
 * web/page_alert.c: one alert, GET /alerts/{id}: what happened and what to
 * do, its properties, facts and history, the data behind it (the flows, the
 * counts of its rule's window, the hub records, the silence), and the form
 * to dismiss or reactivate it, POST /alerts/{id}/dismiss|reactivate (through
 * the evaluator's eval_alert_change). Calls page.c, the core, the catalogue
 * and the evaluator.
 */
#include "page.h"
#include "routes.h"

#include "../common/catalog.h"
#include "../evaluator/evaluator.h"

#include <inttypes.h>
#include <string.h>

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
    html_printf(out, "<tr><th>Type</th><td class=\"mono\">%s</td></tr>", page_col(st, 1));
    html_printf(out, "<tr><th>Key</th><td class=\"mono\">%s</td></tr>", page_col(st, 2));
    evbuffer_add_printf(out, "<tr><th>Device</th><td>");
    if (page_col_null(st, 5))
        evbuffer_add_printf(out, "<span class=\"muted\">none: about the hub</span>");
    else
        page_put_device(out, page_col(st, 5));
    html_printf(out, "</td></tr><tr><th>Hub</th><td>%s</td></tr>", page_col(st, 6));
    evbuffer_add_printf(out, "<tr><th>First seen</th><td>");
    page_put_time(out, page_col_int(st, 8));
    evbuffer_add_printf(out, "</td></tr><tr><th>Last seen</th><td>");
    page_put_time(out, page_col_int(st, 9));
    evbuffer_add_printf(out, " <span class=\"muted\">(");
    page_put_when(out, now, page_col_int(st, 9));
    evbuffer_add_printf(out, ")</span></td></tr><tr><th>Occurrences</th><td>%" PRId64
                             "</td></tr>",
                        page_col_int(st, 10));
    if (!page_col_null(st, 11))
        html_printf(out, "<tr><th>Last value</th><td>%s</td></tr>", page_col(st, 11));
    evbuffer_add_printf(out, "</table>");
}

static const char SQL_TRANSITIONS[] =
    "SELECT at_ms, from_status, to_status, note FROM alert_transitions "
    "WHERE alert_id = ?1 ORDER BY at_ms, id";

static void alert_transitions(struct web_req *r, struct evbuffer *out, int64_t id)
{
    sqlite3_stmt *st = page_prepare(r, out, SQL_TRANSITIONS);
    int rc;

    if (st == NULL)
        return;
    sqlite3_bind_int64(st, 1, id);
    evbuffer_add_printf(out, "<table><thead><tr><th>When</th><th>Change</th><th>Note</th></tr>"
                             "</thead><tbody>");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        evbuffer_add_printf(out, "<tr><td class=\"t\">");
        page_put_time(out, page_col_int(st, 0));
        evbuffer_add_printf(out, "</td><td>");
        if (page_col_null(st, 1))
            evbuffer_add_printf(out, "raised as ");
        else
            page_put_state(out, page_col(st, 1)), evbuffer_add_printf(out, " \xe2\x86\x92 ");
        page_put_state(out, page_col(st, 2));
        html_printf(out, "</td><td>%s</td></tr>", page_col(st, 3) ? page_col(st, 3) : "");
    }
    evbuffer_add_printf(out, "</tbody></table>");
    page_finish(r, out, st, rc);
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

/* Flow alerts: the flows between the device and the remote address around the alert. */
static void data_flows(struct web_req *r, struct evbuffer *out, const struct alert *a)
{
    const char *ip = prop_str(a, "remote_ip");
    int64_t from = a->start_ms - 60000;
    int64_t to =
        (a->end_ms - a->start_ms > PAGE_HOUR_MS ? a->start_ms + PAGE_HOUR_MS : a->end_ms) + 60000;
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
    if ((st = page_prepare(r, out, SQL_ALERT_FLOWS)) == NULL)
        return;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    page_bind_text(st, 3, a->device);
    page_bind_text(st, 4, ip);
    rows = page_flow_rows(out, st, &rc, false);
    page_finish(r, out, st, rc);
    if (rows > 0)
        return;
    /* Raw flows are kept for days; the hourly summaries reach further back. */
    if ((st = page_prepare(r, out, SQL_ALERT_FLOWS_HOURLY)) == NULL)
        return;
    sqlite3_bind_int64(st, 1, a->start_ms / PAGE_HOUR_MS * PAGE_HOUR_MS);
    sqlite3_bind_int64(st, 2, a->end_ms);
    page_bind_text(st, 3, a->device);
    page_bind_text(st, 4, ip);
    evbuffer_add_printf(out, "<p class=\"hint\">The raw flows are no longer kept; these are the "
                             "hourly summaries.</p>");
    if (page_flow_rows(out, st, &rc, true) == 0)
        evbuffer_add_printf(out, "<p class=\"empty\">No flows stored for this alert any "
                                 "more.</p>");
    page_finish(r, out, st, rc);
}

/* A chart of one metric of the device, span [t0, t1), the alert shaded up to band_to. */
static void metric_chart(struct web_req *r, struct evbuffer *out, const struct alert *a,
                         const struct page_metric *m, int64_t t0, int64_t t1, int64_t step,
                         int64_t band_to, bool limits)
{
    size_t n = (size_t)((t1 - t0 + step - 1) / step);
    double *values = calloc(n ? n : 1, sizeof(double));
    struct chart c = {m->label, m->label, 1200, 220};
    struct chart_series s = {0};
    json_t *jmin = json_object_get(a->props, "min"), *jmax = json_object_get(a->props, "max");

    if (values == NULL)
        fatal("out of memory");
    if (page_series_load(r, out, a->device, m->name, t0, step, n, values)) {
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
    const struct page_metric *m = page_metric_of_rule(rule ? rule : a->type + strlen("IoT_CA_"));
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
    step = w * ((t1 - t0) / w / PAGE_SERIES_MAX_BARS + 1);
    page_fmt_span(step, span, sizeof(span));
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
static void data_hub(struct web_req *r, struct evbuffer *out, const struct alert *a,
                     enum catalog_kind k)
{
    const char *category = k == CK_AUTH       ? "Connections"
                           : k == CK_HUB_CERT ? "Certificates"
                                         : "DiagnosticSettings";
    const char *name = k == CK_HUB_CERT   ? prop_str(a, "certificate_name")
                       : k == CK_HUB_DIAG ? prop_str(a, "setting_name")
                                     : NULL;
    sqlite3_stmt *st = page_prepare(r, out, SQL_HUB_OPS);
    int rc, rows = 0;

    if (st == NULL)
        return;
    html_printf(out,
                "<p class=\"hint\">Hub operation records of category %s received while the "
                "alert was open (from five minutes before it), at most 100.</p>",
                category);
    sqlite3_bind_int64(st, 1, a->start_ms - 300000);
    sqlite3_bind_int64(st, 2, a->end_ms + 300000);
    page_bind_text(st, 3, a->hub);
    page_bind_text(st, 4, category);
    page_bind_text(st, 5, k == CK_AUTH && a->has_device ? a->device : NULL);
    page_bind_text(st, 6, name);
    page_bind_text(st, 7, k == CK_HUB_CERT ? "$.certificateName" : "$.settingName");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows++ == 0)
            evbuffer_add_printf(out, "<table><thead><tr><th>Time</th><th>Operation</th>"
                                     "<th>Result</th><th>Reason</th><th>Device</th>"
                                     "<th>Source IP</th><th class=\"num\">Count</th>"
                                     "<th>Details</th></tr></thead><tbody>");
        evbuffer_add_printf(out, "<tr><td class=\"t\">");
        page_put_time(out, page_col_int(st, 0));
        html_printf(out, "</td><td>%s</td><td>%s</td><td>%s</td><td>", page_col(st, 2),
                    page_col(st, 3) ? page_col(st, 3) : "", page_col(st, 4) ? page_col(st, 4) : "");
        if (!page_col_null(st, 5))
            page_put_device(out, page_col(st, 5));
        html_printf(out, "</td><td class=\"mono\">%s</td><td class=\"num\">%lld</td><td>",
                    page_col(st, 6) ? page_col(st, 6) : "", (long long)page_col_int(st, 7));
        if (!page_col_null(st, 8))
            page_put_json_props(out, page_col(st, 8), false);
        evbuffer_add_printf(out, "</td></tr>");
    }
    evbuffer_add_printf(out, rows ? "</tbody></table>"
                                  : "<p class=\"empty\">No such record is stored any more.</p>");
    page_finish(r, out, st, rc);
}

/* Device silent: its messages up to and after the silence. */
static void data_silent(struct web_req *r, struct evbuffer *out, const struct alert *a)
{
    int64_t now = clock_now_ms();
    int64_t until = strcmp(a->status, "Resolved") == 0 ? a->end_ms : now;
    int64_t t1 = until + 60000;
    int64_t t0 = a->start_ms - r->ctx->cfg->evaluator_silent_after_ms - PAGE_HOUR_MS;
    int64_t step;

    if (!a->has_device)
        return;
    if (t1 - t0 > 7 * PAGE_DAY_MS)
        t0 = t1 - 7 * PAGE_DAY_MS;
    step = page_series_step(t1 - t0);
    t0 = t0 / step * step;
    evbuffer_add_printf(out, "<p class=\"hint\">Device-to-cloud messages of the device before "
                             "and during the silence; the shaded span is the alert.</p>");
    metric_chart(r, out, a, &page_metrics[0], t0, t1, step, until, false);
}

static void alert_data(struct web_req *r, struct evbuffer *out, const struct alert *a)
{
    const struct catalog_entry *k = page_alert_type(a->type);

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
    a->id = page_col_int(st, 0);
    snprintf(a->type, sizeof(a->type), "%s", page_col(st, 1) ? page_col(st, 1) : "");
    snprintf(a->name, sizeof(a->name), "%s", page_col(st, 3) ? page_col(st, 3) : "");
    a->has_device = !page_col_null(st, 5);
    snprintf(a->device, sizeof(a->device), "%s", a->has_device ? page_col(st, 5) : "");
    snprintf(a->hub, sizeof(a->hub), "%s", page_col(st, 6) ? page_col(st, 6) : "");
    snprintf(a->status, sizeof(a->status), "%s", page_col(st, 7) ? page_col(st, 7) : "");
    a->start_ms = page_col_int(st, 8);
    a->end_ms = page_col_int(st, 9);
    a->count = page_col_int(st, 10);
    a->props = page_col(st, 14) ? json_loads(page_col(st, 14), 0, NULL) : NULL;
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

    if (!page_parse_i64(r->tail, &id) || id <= 0) {
        page_error(r, 404, "No such alert", "Alert ids are numbers.");
        return;
    }
    snprintf(title, sizeof(title), "Alert %" PRId64, id);
    out = page_open(r, title, "alerts");
    if ((st = page_prepare(r, out, SQL_ALERT)) == NULL) {
        page_send(r, out, 500);
        return;
    }
    sqlite3_bind_int64(st, 1, id);
    if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
        page_finish(r, out, st, rc);
        evbuffer_free(out);
        page_error(r, 404, "No such alert", "There is no alert with this id.");
        return;
    }
    alert_load(&a, st);
    html_printf(out, "<div class=\"crumbs\"><a href=\"/alerts\">Alerts</a> / %s</div><h1>%s</h1>",
                title, page_col(st, 3));
    evbuffer_add_printf(out, "<p>");
    page_put_state(out, page_col(st, 4));
    evbuffer_add_printf(out, " ");
    page_put_state(out, page_col(st, 7));
    evbuffer_add_printf(out, "</p><div class=\"split\"><div><div class=\"card\">"
                             "<h2>What happened</h2>");
    html_printf(out, "<p>%s</p><h3>What to do</h3><p>%s</p></div>", page_col(st, 12),
                page_col(st, 13));
    evbuffer_add_printf(out, "<div class=\"card\"><h2>Properties</h2>");
    page_put_json_props(out, page_col(st, 14), true);
    evbuffer_add_printf(out, "</div></div><div><div class=\"card\"><h2>Facts</h2>");
    alert_facts(out, st, now);
    evbuffer_add_printf(out, "</div>");
    page_finish(r, out, st, SQLITE_DONE);
    alert_actions(r, out, &a);
    evbuffer_add_printf(out, "<div class=\"card\"><h2>History</h2>");
    alert_transitions(r, out, a.id);
    evbuffer_add_printf(out, "</div>");
    page_put_notifications(r, out, "alert", a.id);
    evbuffer_add_printf(out, "</div></div>");
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
    if (!page_parse_i64(idtext, &id) ||
        (strcmp(slash + 1, "dismiss") != 0 && strcmp(slash + 1, "reactivate") != 0)) {
        page_error(r, 404, "Not found", "Use /alerts/ID/dismiss or /alerts/ID/reactivate.");
        return;
    }
    dismiss = strcmp(slash + 1, "dismiss") == 0;
    rc = eval_alert_change(r->ctx->db_rw, id, dismiss, page_param(r, "note"));
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
        page_redirect(r, location);
    }
}

const struct web_route web_page_alert_routes[] = {
    {"GET", "/alerts/", WEB_PREFIX, page_alert, NULL},
    {"POST", "/alerts/", WEB_PREFIX | WEB_WRITES, page_alert_change, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
