/*
 * web/api_recs.c: the recommendations of the JSON API (SPEC 6), a list
 * filtered by state, type, device and hub. Calls api.c's helpers and the core.
 */
#include "api.h"
#include "routes.h"

#include <stdio.h>


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
    const char *state = api_param(r, "state"), *cursor = api_param(r, "cursor"), *type, *device,
               *hub;
    int64_t limit, after = INT64_MAX;
    sqlite3_stmt *st;
    json_t *items, *next = NULL;
    int rc, rows = 0;

    if (state != NULL && !api_in_list(rec_states, state)) {
        api_bad_param(r, "state", "must be Active or Resolved");
        return;
    }
    if (!api_param_text(r, "type", &type) || !api_param_text(r, "device", &device) ||
        !api_param_text(r, "hub", &hub) || !api_param_limit(r, &limit))
        return;
    if (cursor != NULL && !web_parse_int(cursor, 1, INT64_MAX, &after)) {
        api_bad_param(r, "cursor", "not a cursor this API gave (next_cursor of the previous page)");
        return;
    }
    if ((st = api_kept_prepare(r, sql_recs)) == NULL)
        return;
    api_bind_text_or_null(st, 1, state);
    api_bind_text_or_null(st, 2, type);
    api_bind_text_or_null(st, 3, device);
    api_bind_text_or_null(st, 4, hub);
    sqlite3_bind_int64(st, 5, after);
    sqlite3_bind_int64(st, 6, limit + 1);
    if (!r->wants_csv) {
        api_list_send(r, st, limit, rec_cursor);
        api_kept_done(r->ctx, st);
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
        json_array_append_new(items, api_row_object(st));
    }
    if (api_step_done(r, st, rc)) {
        api_send_items(r, items, next, rec_csv, "recommendations");
    } else {
        json_decref(items);
        json_decref(next);
    }
    api_kept_done(r->ctx, st);
}

const struct web_route web_api_recs_routes[] = {
    {"GET", "/api/v1/recommendations", 0, api_recommendations, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
