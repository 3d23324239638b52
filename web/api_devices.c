/*
 * web/api_devices.c: the devices of the JSON API (SPEC 6): the list, one
 * device with its last system information and active recommendations, and
 * a device's counts over time (/series). Calls api.c's helpers, the core and
 * the store's metric names.
 */
#include "api.h"
#include "routes.h"

#include "../store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERIES_POINTS     500 /* the default step aims at this many points */
#define SERIES_POINTS_MAX 10000

#define DEVICE_COLUMNS                                                                             \
    "SELECT d.device_id, d.hub, d.security_group, d.auth_type, d.first_seen_ms, "                  \
    "d.last_seen_ms, d.os_info, d.agent_version, d.module_version, d.module_id, "                  \
    "d.clock_skew_ms, (SELECT count(*) FROM alerts a WHERE a.device_id = d.device_id "             \
    "AND a.status IN ('Active', 'Dismissed')) AS open_alerts "

static const char sql_devices[] = DEVICE_COLUMNS
    "FROM devices d WHERE d.device_id > ?1 AND (?2 IS NULL OR d.security_group = ?2) "
    "ORDER BY d.device_id LIMIT ?3";
static const char *const device_csv[] = {
    "device_id", "hub", "security_group", "auth_type", "first_seen_time", "last_seen_time",
    "os_info", "agent_version", "module_version", "module_id", "clock_skew_ms", "open_alerts",
    NULL};

/* Column 0 of DEVICE_COLUMNS, the device id, base64url (an id may hold anything). */
static void device_cursor(sqlite3_stmt *st, char *out, size_t outlen)
{
    const char *id = (const char *)sqlite3_column_text(st, 0);

    if (id == NULL || !web_b64url_encode(id, (size_t)sqlite3_column_bytes(st, 0), out, outlen))
        out[0] = '\0';
}

static void api_devices(struct web_req *r)
{
    const char *cursor = api_param(r, "cursor"), *group;
    char after[300] = "", cur[400];
    int64_t limit;
    size_t n;
    sqlite3_stmt *st;
    json_t *items, *next = NULL;
    int rc, rows = 0;

    if (!api_param_text(r, "group", &group) || !api_param_limit(r, &limit))
        return;
    if (cursor != NULL && !web_b64url_decode(cursor, after, sizeof(after), &n)) {
        api_bad_param(r, "cursor", "not a cursor this API gave (next_cursor of the previous page)");
        return;
    }
    if ((st = api_kept_prepare(r, sql_devices)) == NULL)
        return;
    sqlite3_bind_text(st, 1, after, -1, SQLITE_TRANSIENT);
    api_bind_text_or_null(st, 2, group);
    sqlite3_bind_int64(st, 3, limit + 1);
    if (!r->wants_csv) {
        api_list_send(r, st, limit, device_cursor);
        api_kept_done(r->ctx, st);
        return;
    }
    items = json_array();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows++ == limit) {
            const char *last = json_string_value(
                json_object_get(json_array_get(items, json_array_size(items) - 1), "device_id"));
            if (last != NULL && web_b64url_encode(last, strlen(last), cur, sizeof(cur)))
                next = json_string(cur);
            break;
        }
        json_array_append_new(items, api_row_object(st));
    }
    if (api_step_done(r, st, rc)) {
        api_send_items(r, items, next, device_csv, "devices");
    } else {
        json_decref(items);
        json_decref(next);
    }
    api_kept_done(r->ctx, st);
}

static const char sql_device[] = DEVICE_COLUMNS "FROM devices d WHERE d.device_id = ?1";
/*
 * system_info has no index by device (it is written in arrival order), so
 * the last report is looked for in the hour before the device was last
 * seen; devices report it every minute.
 */
static const char sql_device_sysinfo[] =
    "SELECT recv_ms, device_ms, os_info, kernel_info, hw_info, details FROM system_info "
    "WHERE recv_ms <= ?2 AND recv_ms >= ?2 - 3600000 AND device_id = ?1 "
    "ORDER BY recv_ms DESC LIMIT 1";
static const char sql_device_recs[] =
    "SELECT rec_id, rec_type, display_name, severity, discovered_ms, additional_data "
    "FROM recommendations WHERE device_id = ?1 AND state = 'Active' ORDER BY rec_id";

/* Run sql with the device id (and last_seen as ?2): one row as an object, or all in an array. */
static json_t *device_part(struct web_req *r, const char *sql, const char *id, int64_t seen,
                           bool many)
{
    sqlite3_stmt *st = api_prepare(r, r->ctx->db, sql);
    json_t *out;
    int rc;

    if (st == NULL)
        return NULL;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_int64(st, 2, seen);
    out = many ? json_array() : json_null();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!many) {
            json_decref(out);
            out = api_row_object(st);
            rc = SQLITE_DONE;
            break;
        }
        json_array_append_new(out, api_row_object(st));
    }
    if (!api_step_done(r, st, rc)) {
        json_decref(out);
        out = NULL;
    }
    sqlite3_finalize(st);
    return out;
}

static void device_get(struct web_req *r, const char *id)
{
    json_t *d, *sys, *recs;
    int64_t skew, max;

    if ((d = device_part(r, sql_device, id, 0, false)) == NULL)
        return;
    if (json_is_null(d)) {
        web_error(r, 404, "not found", "no device has this id");
        return;
    }
    skew = json_integer_value(json_object_get(d, "clock_skew_ms"));
    max = r->ctx->cfg->ingest_max_clock_skew_ms;
    json_object_set_new(d, "clock_skew_flagged", json_boolean(skew > max || skew < -max));
    if ((sys = device_part(r, sql_device_sysinfo, id,
                           json_integer_value(json_object_get(d, "last_seen_ms")), false)) ==
            NULL ||
        (recs = device_part(r, sql_device_recs, id, 0, true)) == NULL) {
        json_decref(sys);
        json_decref(d);
        return;
    }
    json_object_set_new(d, "system_info", sys);
    json_object_set_new(d, "recommendations", recs);
    web_send_json(r, 200, d);
}

static const char sql_device_id[] = "SELECT id FROM devices WHERE device_id = ?1";
/* Through the device_counts view (SPEC 3.2), whatever the storage under it. */
static const char sql_series[] =
    "SELECT (bucket_ms - ?3) / ?5 AS i, sum(value) FROM device_counts "
    "WHERE device_id = ?1 AND metric = ?2 AND bucket_ms >= ?3 AND bucket_ms < ?4 "
    "GROUP BY i ORDER BY i";
static const char *const series_csv[] = {"time", "time_ms", "value", NULL};

static bool metric_known(const char *m)
{
    for (int i = 0; i < METRIC_COUNT; i++)
        if (strcmp(store_metric_name((enum store_metric)i), m) == 0)
            return true;
    return false;
}

static bool series_params(struct web_req *r, const char **metric, int64_t *since, int64_t *until,
                          int64_t *step)
{
    const char *s = api_param(r, "step");
    char why[300];
    size_t len = 0;

    *metric = web_param(r, "metric");
    if (*metric == NULL || !metric_known(*metric)) {
        for (int i = 0; i < METRIC_COUNT; i++)
            len += (size_t)snprintf(why + len, len < sizeof(why) ? sizeof(why) - len : 0, "%s%s",
                                    i ? ", " : "must be one of ",
                                    store_metric_name((enum store_metric)i));
        api_bad_param(r, "metric", why);
        return false;
    }
    if (!web_param_time(r, "until", clock_now_ms(), until) ||
        !web_param_time(r, "since", *until - 3600000, since))
        return false;
    if (*since >= *until || *until - *since > 3660 * API_DAY_MS || *since < 0) {
        api_bad_param(r, "since", "must be before until, within ten years of it");
        return false;
    }
    if (s == NULL) {
        int64_t per = (*until - *since) / SERIES_POINTS;
        *step = (per + 9999) / 10000 * 10000;
        if (*step < 10000)
            *step = 10000;
    } else if (!web_parse_step(s, step)) {
        api_bad_param(r, "step",
                  "must be a multiple of 10 seconds, as seconds (60) or ISO 8601 (PT1M)");
        return false;
    }
    /* Whole steps from a multiple of the step, so that points line up between requests. */
    *since -= *since % *step;
    if ((*until - *since + *step - 1) / *step > SERIES_POINTS_MAX) {
        api_bad_param(r, "step", "gives more than 10000 points between since and until");
        return false;
    }
    return true;
}

static void device_series(struct web_req *r, const char *id)
{
    const char *metric;
    int64_t since, until, step, npoints;
    sqlite3_stmt *st;
    json_t *points, *o;
    int rc;

    if (!series_params(r, &metric, &since, &until, &step) ||
        (st = api_prepare(r, r->ctx->db, sql_device_id)) == NULL)
        return;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
        web_error(r, 404, "not found", "no device has this id");
        return;
    }
    if ((st = api_prepare(r, r->ctx->db, sql_series)) == NULL)
        return;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, metric, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, since);
    sqlite3_bind_int64(st, 4, until);
    sqlite3_bind_int64(st, 5, step);
    npoints = (until - since + step - 1) / step;
    points = json_array();
    for (int64_t i = 0; i < npoints; i++)
        json_array_append_new(
            points, json_pack("{s:o, s:I, s:I}", "time", api_iso_time(since + i * step), "time_ms",
                              (json_int_t)(since + i * step), "value", (json_int_t)0));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t i = sqlite3_column_int64(st, 0);
        if (i >= 0 && i < npoints)
            json_object_set_new(json_array_get(points, (size_t)i), "value",
                                json_integer(sqlite3_column_int64(st, 1)));
    }
    if (!api_step_done(r, st, rc)) {
        json_decref(points);
        sqlite3_finalize(st);
        return;
    }
    sqlite3_finalize(st);
    if (r->wants_csv) {
        api_send_items(r, points, NULL, series_csv, "series");
        return;
    }
    o = json_pack("{s:s, s:s, s:o, s:o, s:I, s:o}", "device_id", id, "metric", metric, "since",
                  api_iso_time(since), "until", api_iso_time(until), "step_s",
                  (json_int_t)(step / 1000), "points", points);
    web_send_json(r, 200, o);
}

/*
 * /api/v1/devices/{id} and /api/v1/devices/{id}/series. A device id may hold
 * a slash (hub records name devices freely), so the raw path is split first
 * and the id decoded after.
 */
static void api_device(struct web_req *r)
{
    const char *raw = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(r->req));
    static const char prefix[] = "/api/v1/devices/";
    const char *seg, *rest;
    char *first, *id = NULL;
    size_t n = 0;

    if (raw == NULL || strncmp(raw, prefix, sizeof(prefix) - 1) != 0) {
        web_error(r, 404, "not found", NULL);
        return;
    }
    seg = raw + sizeof(prefix) - 1;
    rest = seg + strcspn(seg, "/");
    if ((first = strndup(seg, (size_t)(rest - seg))) != NULL)
        id = evhttp_uridecode(first, 0, &n);
    free(first);
    if (id == NULL || n == 0 || strlen(id) != n || !utf8_valid(id, n)) {
        free(id);
        api_bad_param(r, "id", "must be a percent-encoded UTF-8 device id");
        return;
    }
    if (*rest == '\0')
        device_get(r, id);
    else if (strcmp(rest, "/series") == 0)
        device_series(r, id);
    else
        web_error(r, 404, "not found", "a device has /series");
    free(id);
}

const struct web_route web_api_devices_routes[] = {
    {"GET", "/api/v1/devices", 0, api_devices, NULL},
    {"GET", "/api/v1/devices/", WEB_PREFIX, api_device, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
