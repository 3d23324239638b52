/*
 * web/api_alerts.c: the alerts of the JSON API (SPEC 6): the list, one
 * alert with its transitions, a dismissal or reactivation (through the
 * evaluator's eval_alert_change on the read-write connection), and the
 * count per type and day. Calls api.c's helpers, the core and the evaluator.
 */
#include "api.h"
#include "routes.h"

#include "../common/catalog.h"
#include "../evaluator/evaluator.h"
#include "../notify/amclient.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOTE_MAX_CHARS 1000

#define ALERT_COLUMNS                                                                              \
    "SELECT alert_id, alert_type, alert_key, display_name, severity, device_id, hub, status, "     \
    "start_ms, end_ms, resolved_ms, count, value, description, remediation, extended_properties "

static const char *const alert_statuses[] = {"Active", "Resolved", "Dismissed", NULL};
static const char *const alert_csv[] = {
    "alert_id", "alert_type", "alert_key", "display_name", "severity", "device_id",
    "hub", "status", "start_time", "end_time", "resolved_time", "count",
    "value", "description", "remediation", "extended_properties", NULL};

/*
 * Newest first. ?6 is the smaller of until and the cursor's time, so that
 * the index range starts at the cursor however deep the page; the row value
 * comparison then resumes just after the cursor's row.
 */
static const char sql_alerts[] =
    ALERT_COLUMNS "FROM alerts "
    "WHERE (?1 IS NULL OR status IN (SELECT value FROM json_each(?1))) "
    "AND (?2 IS NULL OR severity IN (SELECT value FROM json_each(?2))) "
    "AND (?3 IS NULL OR alert_type = ?3) "
    "AND start_ms >= ?5 AND start_ms <= ?6 AND (start_ms, alert_id) < (?7, ?8) "
    "ORDER BY start_ms DESC, alert_id DESC LIMIT ?9";
/* The same for one device, so that its index (device_id, start_ms) serves it. */
static const char sql_alerts_device[] =
    ALERT_COLUMNS "FROM alerts "
    "WHERE (?1 IS NULL OR status IN (SELECT value FROM json_each(?1))) "
    "AND (?2 IS NULL OR severity IN (SELECT value FROM json_each(?2))) "
    "AND (?3 IS NULL OR alert_type = ?3) AND device_id = ?4 "
    "AND start_ms >= ?5 AND start_ms <= ?6 AND (start_ms, alert_id) < (?7, ?8) "
    "ORDER BY start_ms DESC, alert_id DESC LIMIT ?9";

struct alert_filter {
    char *status, *severity; /* JSON arrays, or NULL */
    const char *type, *device;
    int64_t since, until, cur_start, cur_id, limit;
};

static bool alert_filter_parse(struct web_req *r, struct alert_filter *f)
{
    const char *cursor = api_param(r, "cursor");

    f->cur_start = INT64_MAX;
    f->cur_id = INT64_MAX;
    if (!api_param_enum(r, "status", alert_statuses, &f->status) ||
        !api_param_enum(r, "severity", catalog_severities, &f->severity) ||
        !api_param_text(r, "type", &f->type) || !api_param_text(r, "device", &f->device) ||
        !web_param_time(r, "since", 0, &f->since) ||
        !web_param_time(r, "until", INT64_MAX, &f->until) || !api_param_limit(r, &f->limit))
        return false;
    if (cursor != NULL && !web_cursor_alert_parse(cursor, &f->cur_start, &f->cur_id)) {
        api_bad_param(r, "cursor", "not a cursor this API gave (next_cursor of the previous page)");
        return false;
    }
    return true;
}

/* Columns 8 and 0 of ALERT_COLUMNS: start_ms, alert_id. */
static void alert_cursor(sqlite3_stmt *st, char *out, size_t outlen)
{
    web_cursor_alert(sqlite3_column_int64(st, 8), sqlite3_column_int64(st, 0), out, outlen);
}

static void api_alerts(struct web_req *r)
{
    struct alert_filter f = {0};
    sqlite3_stmt *st;
    json_t *items, *next = NULL;
    int rc, n = 0;

    if (!alert_filter_parse(r, &f) ||
        (st = api_kept_prepare(r, f.device ? sql_alerts_device : sql_alerts)) == NULL)
        goto out;
    api_bind_text_or_null(st, 1, f.status);
    api_bind_text_or_null(st, 2, f.severity);
    api_bind_text_or_null(st, 3, f.type);
    api_bind_text_or_null(st, 4, f.device);
    sqlite3_bind_int64(st, 5, f.since);
    sqlite3_bind_int64(st, 6, f.until - 1 < f.cur_start ? f.until - 1 : f.cur_start);
    sqlite3_bind_int64(st, 7, f.cur_start);
    sqlite3_bind_int64(st, 8, f.cur_id);
    sqlite3_bind_int64(st, 9, f.limit + 1); /* one more tells whether there is a next page */
    if (!r->wants_csv) {
        api_list_send(r, st, f.limit, alert_cursor);
        api_kept_done(r->ctx, st);
        goto out;
    }
    items = json_array();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++ == f.limit) {
            char cur[48];
            json_t *last = json_array_get(items, json_array_size(items) - 1);
            web_cursor_alert(json_integer_value(json_object_get(last, "start_ms")),
                             json_integer_value(json_object_get(last, "alert_id")), cur,
                             sizeof(cur));
            next = json_string(cur);
            break;
        }
        json_array_append_new(items, api_row_object(st));
    }
    if (api_step_done(r, st, rc)) {
        api_send_items(r, items, next, alert_csv, "alerts");
    } else {
        json_decref(items);
        json_decref(next);
    }
    api_kept_done(r->ctx, st);
out:
    free(f.status);
    free(f.severity);
}

static const char sql_alert[] = ALERT_COLUMNS "FROM alerts WHERE alert_id = ?1";
static const char sql_alert_transitions[] =
    "SELECT at_ms, from_status, to_status, note FROM alert_transitions "
    "WHERE alert_id = ?1 ORDER BY at_ms, id";

/* Per Alertmanager: what it accepted of the alert, what waits, and what holds it (page_notify.c). */
static const char sql_alert_notify[] =
    "SELECT t.target_id, t.url, d.firing_ms, d.resolved_ms, q.queued_ms, d.last_error, "
    "d.am_state, coalesce(d.silenced_by, '[]'), coalesce(d.inhibited_by, '[]'), t.polled_ms "
    "FROM notify_targets t "
    "LEFT JOIN notify_deliveries d ON d.target_id = t.target_id AND d.kind = 'alert' AND d.ref = ?1 "
    "LEFT JOIN notify_queue q ON q.target_id = t.target_id AND q.kind = 'alert' AND q.ref = ?1 "
    "ORDER BY t.url";
static const char sql_alert_silence[] =
    "SELECT comment, created_by, ends_ms FROM notify_silences WHERE target_id = ?1 AND "
    "silence_id = ?2";

static json_t *opt_time(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? json_null()
                                                     : api_iso_time(sqlite3_column_int64(st, i));
}

/* The silences of the ids in the JSON array ids, as the alert's JSON shows them. */
static json_t *silences(struct web_req *r, int64_t target, const char *url, const char *ids)
{
    json_t *in = json_loads(ids, 0, NULL), *outv = json_array(), *v;
    sqlite3_stmt *st = api_prepare(r, r->ctx->db, sql_alert_silence);
    size_t i;

    json_array_foreach(in, i, v) {
        json_t *o = json_object();
        char link[700];

        if (!json_is_string(v) || st == NULL) {
            json_decref(o);
            continue;
        }
        am_silence_url(url, json_string_value(v), link, sizeof(link));
        json_object_set(o, "id", v);
        json_object_set_new(o, "url", json_string(link));
        sqlite3_bind_int64(st, 1, target);
        sqlite3_bind_text(st, 2, json_string_value(v), -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW) {
            json_object_set_new(o, "comment", web_column_json(st, 0));
            json_object_set_new(o, "created_by", web_column_json(st, 1));
            json_object_set_new(o, "ends_at", opt_time(st, 2));
        }
        sqlite3_reset(st);
        json_array_append_new(outv, o);
    }
    if (st)
        sqlite3_finalize(st);
    json_decref(in);
    return outv;
}

/* "notifications": one object per configured Alertmanager; [] when notifications are off. */
static bool alert_notifications(struct web_req *r, json_t *a, int64_t id)
{
    sqlite3_stmt *st = api_prepare(r, r->ctx->db, sql_alert_notify);
    json_t *arr = json_array();
    bool ok;
    int rc;

    if (st == NULL) {
        json_decref(arr);
        return false;
    }
    sqlite3_bind_int64(st, 1, id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_object();

        json_object_set_new(o, "alertmanager", web_column_json(st, 1));
        json_object_set_new(o, "firing_accepted", opt_time(st, 2));
        json_object_set_new(o, "resolved_accepted", opt_time(st, 3));
        json_object_set_new(o, "queued_since", opt_time(st, 4));
        json_object_set_new(o, "refused", web_column_json(st, 5));
        json_object_set_new(o, "read_back", opt_time(st, 9));
        json_object_set_new(o, "suppressed", json_boolean(sqlite3_column_type(st, 6) != SQLITE_NULL));
        json_object_set_new(o, "silenced_by", silences(r, sqlite3_column_int64(st, 0),
                                                       (const char *)sqlite3_column_text(st, 1),
                                                       (const char *)sqlite3_column_text(st, 7)));
        json_object_set_new(o, "inhibited_by",
                            json_loads((const char *)sqlite3_column_text(st, 8), 0, NULL));
        json_array_append_new(arr, o);
    }
    json_object_set_new(a, "notifications", arr);
    ok = api_step_done(r, st, rc);
    sqlite3_finalize(st);
    return ok;
}

/* The alert with its transitions, or NULL (having answered) when there is none. */
static json_t *alert_load(struct web_req *r, int64_t id)
{
    sqlite3_stmt *st;
    json_t *a = NULL, *tr;
    int rc;

    if ((st = api_prepare(r, r->ctx->db, sql_alert)) == NULL)
        return NULL;
    sqlite3_bind_int64(st, 1, id);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        a = api_row_object(st);
    else if (api_step_done(r, st, rc))
        web_error(r, 404, "not found", "no alert has this id");
    sqlite3_finalize(st);
    if (a == NULL || (st = api_prepare(r, r->ctx->db, sql_alert_transitions)) == NULL) {
        json_decref(a);
        return NULL;
    }
    sqlite3_bind_int64(st, 1, id);
    tr = json_array();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(tr, api_row_object(st));
    json_object_set_new(a, "transitions", tr);
    if (!api_step_done(r, st, rc) || !alert_notifications(r, a, id)) {
        json_decref(a);
        a = NULL;
    }
    sqlite3_finalize(st);
    return a;
}

/* "17" or "17/dismiss": the id and what follows it ("" or "dismiss"). */
static bool split_id(const char *tail, int64_t *id, const char **rest)
{
    char num[24];
    size_t n = strcspn(tail, "/");

    if (n == 0 || n >= sizeof(num))
        return false;
    memcpy(num, tail, n);
    num[n] = '\0';
    *rest = tail[n] == '/' ? tail + n + 1 : "";
    return web_parse_int(num, 1, INT64_MAX, id);
}

static bool is_action(const char *s)
{
    return strcmp(s, "dismiss") == 0 || strcmp(s, "reactivate") == 0;
}

static void allow_only(struct web_req *r, const char *allow)
{
    char detail[80];

    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow", allow);
    snprintf(detail, sizeof(detail), "this resource answers %s", allow);
    web_error(r, 405, "method not allowed", detail);
}

static void api_alert(struct web_req *r)
{
    const char *rest;
    int64_t id;
    json_t *a;

    if (!split_id(r->tail, &id, &rest)) {
        api_bad_param(r, "id", "must be a whole number (an alert_id)");
        return;
    }
    if (rest[0] != '\0') {
        if (is_action(rest))
            allow_only(r, "POST");
        else
            web_error(r, 404, "not found", "an alert has /dismiss and /reactivate");
        return;
    }
    if ((a = alert_load(r, id)) == NULL)
        return;
    if (r->wants_csv) {
        json_t *items = json_array();
        json_array_append_new(items, a);
        api_send_items(r, items, NULL, alert_csv, "alert");
        return;
    }
    web_send_json(r, 200, a);
}

/* The UTF-8 characters of s. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/*
 * The note of a dismissal: {"note": "..."} as JSON, or a form field. An
 * empty body means no note. *note points into *doc (freed by the caller) or
 * the request's parameters.
 */
static bool read_note(struct web_req *r, json_t **doc, const char **note)
{
    json_t *v;

    *doc = NULL;
    *note = NULL;
    if (r->body != NULL && r->body_len > 0 && web_param(r, "note") == NULL) {
        if ((*doc = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
            !json_is_object(*doc)) {
            api_bad_param(r, "body", "must be a JSON object such as {\"note\": \"why\"}");
            return false;
        }
        v = json_object_get(*doc, "note");
        if (v != NULL && !json_is_null(v) && !json_is_string(v)) {
            api_bad_param(r, "note", "must be a string");
            return false;
        }
        *note = json_string_value(v);
    } else {
        *note = web_param(r, "note");
    }
    if (*note != NULL &&
        (!utf8_valid(*note, strlen(*note)) || utf8_chars(*note) > NOTE_MAX_CHARS)) {
        api_bad_param(r, "note", "must be UTF-8 text of at most 1000 characters");
        return false;
    }
    return true;
}

static void api_alert_change(struct web_req *r)
{
    const char *rest, *note;
    int64_t id;
    json_t *doc, *a;
    bool dismiss;
    int rc;

    if (!split_id(r->tail, &id, &rest)) {
        api_bad_param(r, "id", "must be a whole number (an alert_id)");
        return;
    }
    if (!is_action(rest)) {
        if (rest[0] == '\0')
            allow_only(r, "GET");
        else
            web_error(r, 404, "not found", "an alert has /dismiss and /reactivate");
        return;
    }
    dismiss = strcmp(rest, "dismiss") == 0;
    if (!read_note(r, &doc, &note)) {
        json_decref(doc);
        return;
    }
    rc = eval_alert_change(r->ctx->db_rw, id, dismiss, note);
    json_decref(doc);
    if (rc == 404) {
        web_error(r, 404, "not found", "no alert has this id");
    } else if (rc == 409) {
        web_error(r, 409, "conflict",
                  dismiss ? "only an Active alert can be dismissed"
                          : "only a Dismissed alert can be reactivated");
    } else if (rc != 0) {
        web_error(r, 500, "database error", "the change was not written; see the log");
    } else if ((a = alert_load(r, id)) != NULL) {
        web_send_json(r, 200, a);
    }
}

/*
 * Per alert type and UTC day, with the ten devices that had the most. One
 * grouped scan, sorted so that each (type, day) comes whole with its
 * devices in order: the totals and the top ten are summed on the way.
 */
static const char sql_daily[] =
    "SELECT alert_type, start_ms / 86400000 AS day, device_id, count(*) AS n FROM alerts "
    "WHERE start_ms >= ?1 AND start_ms < ?2 GROUP BY alert_type, day, device_id "
    "ORDER BY day DESC, alert_type, n DESC, device_id";
static const char *const daily_csv[] = {"alert_type", "day", "alerts", "devices", "top_devices",
                                        NULL};

/* The item of (type, day): the last one when it matches, else a new one. */
static json_t *daily_item(json_t *items, sqlite3_stmt *st)
{
    json_t *last = json_array_get(items, json_array_size(items) - 1), *o;
    const char *type = (const char *)sqlite3_column_text(st, 0);
    int64_t d = sqlite3_column_int64(st, 1);
    char day[40];

    time_format_iso(d * API_DAY_MS, day, sizeof(day));
    day[10] = '\0';
    if (last != NULL && type != NULL &&
        strcmp(json_string_value(json_object_get(last, "day")), day) == 0 &&
        strcmp(json_string_value(json_object_get(last, "alert_type")), type) == 0)
        return last;
    o = json_pack("{s:o, s:s, s:I, s:I, s:[]}", "alert_type", web_column_json(st, 0), "day", day,
                  "alerts", (json_int_t)0, "devices", (json_int_t)0, "top_devices");
    json_array_append_new(items, o);
    return o;
}

static void daily_add(json_t *item, sqlite3_stmt *st)
{
    json_int_t n = sqlite3_column_int64(st, 3);
    json_t *top = json_object_get(item, "top_devices");

    json_object_set_new(item, "alerts",
                        json_integer(json_integer_value(json_object_get(item, "alerts")) + n));
    if (sqlite3_column_type(st, 2) == SQLITE_NULL)
        return; /* a hub's alert: counted, but no device */
    json_object_set_new(item, "devices",
                        json_integer(json_integer_value(json_object_get(item, "devices")) + 1));
    if (json_array_size(top) < 10)
        json_array_append_new(top, json_pack("{s:o, s:I}", "device_id", web_column_json(st, 2),
                                             "alerts", n));
}

static void api_alerts_daily(struct web_req *r)
{
    int64_t since, until;
    sqlite3_stmt *st;
    json_t *items;
    int rc;

    if (!web_param_time(r, "since", clock_now_ms() - 30 * API_DAY_MS, &since) ||
        !web_param_time(r, "until", INT64_MAX, &until) ||
        (st = api_prepare(r, r->ctx->db, sql_daily)) == NULL)
        return;
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_int64(st, 2, until);
    items = json_array();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        daily_add(daily_item(items, st), st);
    if (api_step_done(r, st, rc))
        api_send_items(r, items, NULL, daily_csv, "alerts-daily");
    else
        json_decref(items);
    sqlite3_finalize(st);
}

/* Exact paths come before the prefix that would also match them. */
const struct web_route web_api_alerts_routes[] = {
    {"GET", "/api/v1/alerts", 0, api_alerts, NULL},
    {"GET", "/api/v1/alerts/daily", 0, api_alerts_daily, NULL},
    {"GET", "/api/v1/alerts/", WEB_PREFIX, api_alert, NULL},
    {"POST", "/api/v1/alerts/", WEB_PREFIX | WEB_WRITES, api_alert_change, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
