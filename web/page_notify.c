/*
 * web/page_notify.c: what the alert pages say of notifications (README
 * "Notifications"): for one alert or recommendation, per configured
 * Alertmanager, when it last accepted it firing and resolved, whether a newer
 * state waits in the queue, and what the last poll read back: the silences
 * that hold it (with their comment, author and end, and a link to each in
 * Alertmanager's interface) or the alerts that inhibit it. Everything comes
 * from the tables the senders keep (sql/007_notify.sql), so `warden serve`
 * shows what another process sent. Calls page.c, the core, and notify/ for
 * the address of a silence.
 */
#include "page.h"

#include "../notify/amclient.h"

#include <inttypes.h>
#include <string.h>

static const char SQL_NOTIFY[] =
    "SELECT t.target_id, t.url, d.firing_ms, d.resolved_ms, d.delay_ms, d.last_error, "
    "d.am_state, d.silenced_by, d.inhibited_by, d.polled_ms, q.queued_ms, t.last_error, "
    "t.polled_ms FROM notify_targets t "
    "LEFT JOIN notify_deliveries d ON d.target_id = t.target_id AND d.kind = ?1 AND d.ref = ?2 "
    "LEFT JOIN notify_queue q ON q.target_id = t.target_id AND q.kind = ?1 AND q.ref = ?2 "
    "ORDER BY t.url";
static const char SQL_SILENCE[] =
    "SELECT comment, created_by, ends_ms FROM notify_silences "
    "WHERE target_id = ?1 AND silence_id = ?2";

static void put_accepted(struct evbuffer *out, sqlite3_stmt *st, int col)
{
    if (page_col_null(st, col))
        evbuffer_add_printf(out, "<span class=\"muted\">not yet</span>");
    else
        page_put_time(out, page_col_int(st, col));
}

/* The silences of a JSON array of ids, each linked to Alertmanager's page of it. */
static void put_silences(struct web_req *r, struct evbuffer *out, int64_t target,
                         const char *url, const char *ids)
{
    json_t *arr = json_loads(ids ? ids : "[]", 0, NULL), *v;
    sqlite3_stmt *st = page_prepare(r, out, SQL_SILENCE);
    size_t i;

    json_array_foreach(arr, i, v) {
        const char *id = json_string_value(v);
        char link[700];

        if (id == NULL || st == NULL)
            continue;
        am_silence_url(url, id, link, sizeof(link));
        page_put_badge(out, "warn", "silenced");
        html_printf(out, " by <a class=\"mono\" href=\"%s\">%s</a>", link, id);
        sqlite3_bind_int64(st, 1, target);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW) {
            html_printf(out, ": &ldquo;%s&rdquo; (%s, until ", page_col(st, 0) ? page_col(st, 0) : "",
                        page_col(st, 1) ? page_col(st, 1) : "?");
            page_put_time(out, page_col_int(st, 2));
            evbuffer_add_printf(out, ")");
        }
        sqlite3_reset(st);
        evbuffer_add_printf(out, "<br>");
    }
    if (st)
        sqlite3_finalize(st);
    json_decref(arr);
}

static void put_held(struct web_req *r, struct evbuffer *out, sqlite3_stmt *st)
{
    const char *inhibited = page_col(st, 8);

    if (page_col_null(st, 12)) {
        evbuffer_add_printf(out, "<span class=\"muted\">not read yet</span>");
        return;
    }
    if (page_col_null(st, 6)) {
        evbuffer_add_printf(out, "<span class=\"muted\">neither silenced nor inhibited</span>");
        return;
    }
    put_silences(r, out, page_col_int(st, 0), page_col(st, 1), page_col(st, 7));
    if (inhibited != NULL && strcmp(inhibited, "[]") != 0) {
        json_t *arr = json_loads(inhibited, 0, NULL);

        page_put_badge(out, "warn", "inhibited");
        evbuffer_add_printf(out, " by %zu other alert%s", json_array_size(arr),
                            json_array_size(arr) == 1 ? "" : "s");
        json_decref(arr);
    }
}

void page_put_notifications(struct web_req *r, struct evbuffer *out, const char *kind, int64_t ref)
{
    sqlite3_stmt *st = page_prepare(r, out, SQL_NOTIFY);
    int rc, n = 0;

    if (st == NULL)
        return;
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ref);
    evbuffer_add_printf(out, "<div class=\"card\" id=\"notifications\"><h2>Notifications</h2>");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++ == 0)
            evbuffer_add_printf(out, "<table class=\"kv\">");
        html_printf(out, "<tr><th><a href=\"%s\">%s</a></th><td>", page_col(st, 1),
                    page_col(st, 1));
        evbuffer_add_printf(out, "Firing accepted: ");
        put_accepted(out, st, 2);
        evbuffer_add_printf(out, "<br>Resolved accepted: ");
        put_accepted(out, st, 3);
        if (!page_col_null(st, 10)) {
            evbuffer_add_printf(out, "<br>");
            page_put_badge(out, "warn", "queued");
            evbuffer_add_printf(out, " a newer state waits since ");
            page_put_time(out, page_col_int(st, 10));
            if (page_col(st, 11))
                html_printf(out, " (Alertmanager: %s)", page_col(st, 11));
        }
        if (page_col(st, 5))
            html_printf(out, "<br>Refused: %s", page_col(st, 5));
        evbuffer_add_printf(out, "<br>In Alertmanager: ");
        put_held(r, out, st);
        evbuffer_add_printf(out, "</td></tr>");
    }
    if (n > 0)
        evbuffer_add_printf(out, "</table>");
    else if (rc == SQLITE_DONE)
        evbuffer_add_printf(out, "<p class=\"muted\">Notifications are off: set "
                                 "<code>notify.alertmanager.urls</code> (README: "
                                 "Notifications).</p>");
    evbuffer_add_printf(out, "</div>");
    page_finish(r, out, st, rc);
}
