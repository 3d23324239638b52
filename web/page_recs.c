/*
 * web/page_recs.c: GET /recommendations, the active and recently resolved
 * recommendations with the catalogue's why and what to do. Calls page.c,
 * the core and the catalogue.
 */
#include "page.h"
#include "routes.h"

#include "../common/catalog.h"

#include <string.h>

static const char SQL_RECS[] =
    "SELECT rec_id, rec_type, display_name, severity, device_id, hub, discovered_ms, resolved_ms, "
    "additional_data FROM recommendations WHERE state = ?1 "
    "ORDER BY CASE severity WHEN 'High' THEN 0 WHEN 'Medium' THEN 1 ELSE 2 END, "
    "discovered_ms DESC, rec_id DESC LIMIT ?2";

static void recs_table(struct web_req *r, struct evbuffer *out, const char *state, int limit,
                       int64_t now)
{
    bool resolved = strcmp(state, "Resolved") == 0;
    sqlite3_stmt *st = page_prepare(r, out, SQL_RECS);
    int rc, rows = 0;

    if (st == NULL)
        return;
    page_bind_text(st, 1, state);
    sqlite3_bind_int(st, 2, limit);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const struct catalog_entry *h = catalog_find(page_col(st, 1));

        if (rows++ == 0)
            evbuffer_add_printf(out, "<table><thead><tr><th>Severity</th><th>Recommendation</th>"
                             "<th>Applies to</th><th>Details</th><th>Found</th>%s</tr></thead>"
                             "<tbody>",
                        resolved ? "<th>Resolved</th>" : "");
        html_printf(out, "<tr id=\"rec-%lld\"><td>", (long long)page_col_int(st, 0));
        page_put_state(out, page_col(st, 3));
        html_printf(out, "</td><td><b>%s</b><div class=\"small muted mono\">%s</div>",
                    page_col(st, 2), page_col(st, 1));
        if (h != NULL)
            html_printf(out, "<details class=\"small\"><summary>Why and what to do</summary>"
                             "<p>%s</p><p><b>Fix:</b> %s</p></details>",
                        h->why, h->remediation);
        evbuffer_add_printf(out, "</td><td>");
        page_put_scope(out, page_col(st, 4), page_col(st, 5));
        evbuffer_add_printf(out, "</td><td>");
        page_put_json_props(out, page_col(st, 8), false);
        evbuffer_add_printf(out, "</td><td class=\"t\">");
        page_put_when(out, now, page_col_int(st, 6));
        if (resolved) {
            evbuffer_add_printf(out, "</td><td class=\"t\">");
            if (!page_col_null(st, 7))
                page_put_when(out, now, page_col_int(st, 7));
        }
        evbuffer_add_printf(out, "</td></tr>");
    }
    evbuffer_add_printf(out, rows ? "</tbody></table>" : "<p class=\"empty\">None.</p>");
    page_finish(r, out, st, rc);
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

const struct web_route web_page_recs_routes[] = {
    {"GET", "/recommendations", 0, page_recommendations, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
