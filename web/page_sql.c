/*
 * web/page_sql.c: GET /sql, the SQL console's page: the query form, its
 * result run through the console (sql.h) and the example queries of
 * sql/examples/. Calls page.c, the core and the console.
 */
#include "page.h"
#include "routes.h"
#include "sql.h"

#include <stdlib.h>
#include <string.h>

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
                evbuffer_add_printf(out, "<td class=\"num\">"), page_put_json_value(out, v, 0),
                    evbuffer_add_printf(out, "</td>");
            else
                evbuffer_add_printf(out, "<td>"), page_put_json_value(out, v, 0),
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
    const char *q = page_param(r, "q");
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

const struct web_route web_page_sql_routes[] = {
    {"GET", "/sql", 0, page_sql, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
