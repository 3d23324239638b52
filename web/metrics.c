/*
 * web/metrics.c: GET /metrics (Prometheus text format) and GET /healthz.
 *
 * Everything but the web's own counters comes from the database, so a
 * separate `warden serve` reports the ingester and the evaluator of another
 * process as well as its own: ingest_counters holds the ingester's counters
 * with their label text, evaluator_state the evaluator's, and the rest is
 * counted from the tables. Every metric name starts with warden_. Above the
 * core: calls it (web_server_metrics), the console (web_sql_metrics), the
 * baseline's worker (web_tune_metrics) and the store's health check.
 */
#include "api.h"
#include "routes.h"
#include "sql.h"

#include "../store/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEALTH_FRESH_MS 10000 /* the ingester commits at least once a second */

/* What some of the ingester's counters mean; others get a plain line. */
static const struct {
    const char *name, *help;
} helps[] = {
    {"warden_messages_total", "MQTT messages ingested, by kind."},
    {"warden_events_total", "Security events stored, by type."},
    {"warden_events_duplicate_total", "Security events seen again within the dedup window."},
    {"warden_events_skipped_total", "Events of payload types newer than this Warden, skipped."},
    {"warden_flows_total", "Network flows stored."},
    {"warden_dead_letters_total", "Payloads refused into dead_letters, by reason."},
    {"warden_hub_records_total", "Hub operation records stored."},
    {"warden_devices_registered_total", "Devices registered on first sight."},
    {"warden_devices_refused_total",
     "Messages and hub records naming a device that was not registered, by reason: device_id "
     "(not an IoT Hub device id), max_auto_devices (the cap), not_authenticated (a hub record "
     "other than a successful authentication)."},
    {"warden_messages_retained_ignored_total",
     "Retained messages the broker re-sent, acknowledged and not counted."},
    {"warden_store_write_failures_total",
     "Ingest batches the database refused, by SQLite result (SQLITE_FULL: disk or database full)."},
};

#define STORE_FAILURES "warden_store_write_failures_total"

/* The batch commit latency histogram, stored by the ingester as counters. */
#define HIST         "warden_batch_commit_seconds"
#define HIST_BUCKET  HIST "_bucket"
#define HIST_COUNT   HIST "_count"
#define HIST_SUM_US  "warden_batch_commit_microseconds_total"
#define HIST_BUCKETS 32

struct bucket {
    double le;
    char label[40];
    int64_t n;
};

static bool name_ok(const char *s)
{
    if (s == NULL || strncmp(s, "warden_", 7) != 0)
        return false;
    for (; *s != '\0'; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

/* A stored label set: empty, or key="value" pairs without quotes, backslashes or newlines inside.
 */
static bool label_ok(const char *s)
{
    if (s == NULL)
        return false;
    while (*s != '\0') {
        size_t k = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789");
        const char *end;

        if (k == 0 || s[k] != '=' || s[k + 1] != '"' || (end = strchr(s + k + 2, '"')) == NULL ||
            memchr(s + k + 2, '\\', (size_t)(end - s - k - 2)) != NULL ||
            memchr(s + k + 2, '\n', (size_t)(end - s - k - 2)) != NULL)
            return false;
        s = end + 1;
        if (*s == ',')
            s++;
        else if (*s != '\0')
            return false;
    }
    return true;
}

/* A label value from the database, escaped as the text format says. */
static void label_value(struct evbuffer *out, const unsigned char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        if (*s == '\\' || *s == '"')
            evbuffer_add_printf(out, "\\%c", *s);
        else if (*s == '\n')
            evbuffer_add(out, "\\n", 2);
        else
            evbuffer_add(out, s, 1);
    }
}

static void family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int bucket_cmp(const void *a, const void *b)
{
    double x = ((const struct bucket *)a)->le, y = ((const struct bucket *)b)->le;

    return x < y ? -1 : x > y;
}

static void histogram(struct evbuffer *out, struct bucket *b, size_t nb, int64_t count,
                      int64_t sum_us)
{
    bool inf = false;

    if (nb == 0 && count == 0)
        return;
    family(out, HIST, "histogram", "Time to commit one ingest batch.");
    qsort(b, nb, sizeof(*b), bucket_cmp);
    for (size_t i = 0; i < nb; i++) {
        evbuffer_add_printf(out, HIST_BUCKET "{%s} %lld\n", b[i].label, (long long)b[i].n);
        inf |= isinf(b[i].le);
    }
    if (!inf)
        evbuffer_add_printf(out, HIST_BUCKET "{le=\"+Inf\"} %lld\n", (long long)count);
    evbuffer_add_printf(out, HIST "_sum %.6f\n" HIST "_count %lld\n", (double)sum_us / 1e6,
                        (long long)count);
}

static const char sql_counters[] =
    "SELECT name, label, value FROM ingest_counters ORDER BY name, label";

/*
 * The ingester's counters. store_write_failures is this process's own count
 * of refused batches, or NULL when no ingester runs here: a full disk cannot
 * update the stored counter, so the live one replaces it.
 */
static bool ingest_counters(sqlite3 *db, struct evbuffer *out, const struct store_health *h)
{
    sqlite3_stmt *st;
    struct bucket b[HIST_BUCKETS];
    size_t nb = 0;
    int64_t count = 0, sum_us = 0;
    char last[128] = "";
    int rc;

    if (sqlite3_prepare_v2(db, sql_counters, -1, &st, NULL) != SQLITE_OK)
        return false;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *label = (const char *)sqlite3_column_text(st, 1);
        int64_t v = sqlite3_column_int64(st, 2);

        if (!name_ok(name) || !label_ok(label) || (h->known && strcmp(name, STORE_FAILURES) == 0))
            continue;
        if (strcmp(name, HIST_BUCKET) == 0) {
            if (nb < HIST_BUCKETS && strncmp(label, "le=\"", 4) == 0) {
                b[nb].le = strcmp(label, "le=\"+Inf\"") == 0 ? INFINITY : strtod(label + 4, NULL);
                snprintf(b[nb].label, sizeof(b[nb].label), "%s", label);
                b[nb++].n = v;
            }
            continue;
        }
        if (strcmp(name, HIST_COUNT) == 0 || strcmp(name, HIST_SUM_US) == 0) {
            *(strcmp(name, HIST_COUNT) == 0 ? &count : &sum_us) = v;
            continue;
        }
        if (strcmp(name, last) != 0) {
            const char *help = "Counted by the ingester.";
            for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
                if (strcmp(helps[i].name, name) == 0)
                    help = helps[i].help;
            family(out, name, "counter", help);
            snprintf(last, sizeof(last), "%s", name);
        }
        if (label[0] != '\0')
            evbuffer_add_printf(out, "%s{%s} %lld\n", name, label, (long long)v);
        else
            evbuffer_add_printf(out, "%s %lld\n", name, (long long)v);
    }
    sqlite3_finalize(st);
    histogram(out, b, nb, count, sum_us);
    if (h->known) {
        family(out, STORE_FAILURES, "counter",
               "Ingest batches the database refused, by SQLite result (SQLITE_FULL: disk or "
               "database full).");
        for (size_t i = 0; i < STORE_HEALTH_ERRORS && h->failures[i].name != NULL; i++)
            evbuffer_add_printf(out, STORE_FAILURES "{error=\"%s\"} %lld\n", h->failures[i].name,
                                (long long)h->failures[i].n);
    }
    return rc == SQLITE_DONE;
}

static const char sql_evaluator[] =
    "SELECT (SELECT value FROM evaluator_state WHERE key = 'overruns_total'), "
    "(SELECT value FROM evaluator_state WHERE key = 'passes_total'), "
    "(SELECT value FROM evaluator_state WHERE key = 'last_pass_duration_ms'), "
    "(SELECT value FROM evaluator_state WHERE key = 'last_pass_ms')";

static bool evaluator(sqlite3 *db, struct evbuffer *out)
{
    sqlite3_stmt *st;

    if (sqlite3_prepare_v2(db, sql_evaluator, -1, &st, NULL) != SQLITE_OK)
        return false;
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return false;
    }
    family(out, "warden_evaluator_overruns_total", "counter",
           "Evaluator passes that took longer than evaluator.interval.");
    evbuffer_add_printf(out, "warden_evaluator_overruns_total %lld\n",
                        (long long)sqlite3_column_int64(st, 0));
    family(out, "warden_evaluator_passes_total", "counter", "Evaluator passes written.");
    evbuffer_add_printf(out, "warden_evaluator_passes_total %lld\n",
                        (long long)sqlite3_column_int64(st, 1));
    if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
        family(out, "warden_evaluator_pass_duration_seconds", "gauge",
               "How long the last evaluator pass took.");
        evbuffer_add_printf(out, "warden_evaluator_pass_duration_seconds %.3f\n",
                            (double)sqlite3_column_int64(st, 2) / 1000);
    }
    if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
        family(out, "warden_evaluator_last_pass_timestamp_seconds", "gauge",
               "The time the last evaluator pass evaluated (unix seconds).");
        evbuffer_add_printf(out, "warden_evaluator_last_pass_timestamp_seconds %.3f\n",
                            (double)sqlite3_column_int64(st, 3) / 1000);
    }
    sqlite3_finalize(st);
    return true;
}

static const char sql_alerts[] =
    "SELECT alert_type, status, count(*) FROM alerts GROUP BY alert_type, status "
    "ORDER BY alert_type, status";
static const char sql_recs[] =
    "SELECT rec_type, state, count(*) FROM recommendations GROUP BY rec_type, state "
    "ORDER BY rec_type, state";

/* A gauge with two labels from a GROUP BY of (label 1, label 2, count). */
static bool grouped(sqlite3 *db, struct evbuffer *out, const char *sql, const char *name,
                    const char *help, const char *l1, const char *l2)
{
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return false;
    family(out, name, "gauge", help);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        evbuffer_add_printf(out, "%s{%s=\"", name, l1);
        label_value(out, sqlite3_column_text(st, 0));
        evbuffer_add_printf(out, "\",%s=\"", l2);
        label_value(out, sqlite3_column_text(st, 1));
        evbuffer_add_printf(out, "\"} %lld\n", (long long)sqlite3_column_int64(st, 2));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE;
}

static const char sql_ingest[] =
    "SELECT connected, last_commit_ms, watermark_ms, last_error, "
    "(SELECT count(*) FROM devices), "
    "(SELECT count(*) FROM devices WHERE auto_registered = 1) FROM ingest_state WHERE id = 1";

static bool ingest_state(sqlite3 *db, struct evbuffer *out, const struct store_health *h)
{
    sqlite3_stmt *st;
    int64_t now = clock_now_ms();

    if (sqlite3_prepare_v2(db, sql_ingest, -1, &st, NULL) != SQLITE_OK)
        return false;
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return false;
    }
    family(out, "warden_ingest_connected", "gauge",
           "1 when the ingester is connected to the broker.");
    evbuffer_add_printf(out, "warden_ingest_connected %d\n", sqlite3_column_int(st, 0) ? 1 : 0);
    if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
        family(out, "warden_ingest_last_commit_age_seconds", "gauge",
               "Seconds since the ingester last committed (it does at least once a second).");
        evbuffer_add_printf(out, "warden_ingest_last_commit_age_seconds %.3f\n",
                            (double)(now - sqlite3_column_int64(st, 1)) / 1000);
    }
    family(out, "warden_ingest_error", "gauge", "1 while the ingester reports an error.");
    evbuffer_add_printf(out, "warden_ingest_error %d\n",
                        sqlite3_column_type(st, 3) != SQLITE_NULL &&
                            sqlite3_column_bytes(st, 3) > 0);
    /*
     * Without an ingester in this process, the one elsewhere says it through
     * its last error, when the database still had room to record it.
     */
    family(out, "warden_store_writable", "gauge",
           "0 while the database refuses the ingester's writes (disk full, I/O error): "
           "nothing is acknowledged and the broker keeps the messages.");
    evbuffer_add_printf(out, "warden_store_writable %d\n",
                        h->known ? h->writable
                                 : !(sqlite3_column_type(st, 3) == SQLITE_TEXT &&
                                     strncmp((const char *)sqlite3_column_text(st, 3), "commit",
                                             6) == 0));
    family(out, "warden_devices", "gauge", "Registered devices.");
    evbuffer_add_printf(out, "warden_devices %lld\n", (long long)sqlite3_column_int64(st, 4));
    family(out, "warden_devices_auto", "gauge",
           "Devices registered automatically, not by an import (at most ingest.max_auto_devices).");
    evbuffer_add_printf(out, "warden_devices_auto %lld\n", (long long)sqlite3_column_int64(st, 5));
    sqlite3_finalize(st);
    return true;
}

/*
 * The senders to Alertmanager (notify/amsender.c), under Prometheus' own
 * names for its notifier, counting alerts and not requests: one family per
 * counter, one series per configured Alertmanager.
 */
static const char sql_notify[] =
    "SELECT t.url, coalesce(c.sent, 0), coalesce(c.errors, 0), coalesce(c.dropped, 0), "
    "(SELECT count(*) FROM notify_queue q WHERE q.target_id = t.target_id), "
    "coalesce(c.latency_sum, 0), coalesce(c.latency_count, 0), c.latency_q50, c.latency_q90, "
    "c.latency_q99 FROM notify_targets t LEFT JOIN notify_counters c USING (target_id) "
    "ORDER BY t.url";

static void notify_series(struct evbuffer *out, sqlite3_stmt *st, const char *name,
                          const char *suffix, int column, bool real)
{
    evbuffer_add_printf(out, "%s%s{alertmanager=\"", name, suffix);
    label_value(out, sqlite3_column_text(st, 0));
    if (real)
        evbuffer_add_printf(out, "\"} %.6f\n", sqlite3_column_double(st, column));
    else
        evbuffer_add_printf(out, "\"} %lld\n", (long long)sqlite3_column_int64(st, column));
}

static bool notify_metrics(sqlite3 *db, struct evbuffer *out)
{
    static const struct {
        const char *name, *type, *help;
        int column;
    } fam[] = {
        {"warden_notifications_sent_total", "counter", "Alerts Alertmanager accepted.", 1},
        {"warden_notifications_errors_total", "counter",
         "Alerts whose sending failed (refused, timed out, 4xx or 5xx); they stay queued but "
         "for a 400.", 2},
        {"warden_notifications_dropped_total", "counter",
         "Alerts Alertmanager refused as invalid (400), noted and not retried.", 3},
        {"warden_notifications_queue_length", "gauge",
         "Alerts whose newest state an Alertmanager has still to accept.", 4},
    };
    sqlite3_stmt *st;
    int64_t n = 0;
    int rc;

    if (sqlite3_prepare_v2(db, sql_notify, -1, &st, NULL) != SQLITE_OK)
        return false;
    for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
        family(out, fam[f].name, fam[f].type, fam[f].help);
        while (sqlite3_step(st) == SQLITE_ROW)
            notify_series(out, st, fam[f].name, "", fam[f].column, false);
        sqlite3_reset(st);
    }
    family(out, "warden_notifications_latency_seconds", "summary",
           "How long a request to Alertmanager took (quantiles over the last 1024).");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        n++;
        for (int q = 0; q < 3; q++) {
            static const char *const qs[] = {"0.5", "0.9", "0.99"};

            if (sqlite3_column_type(st, 7 + q) == SQLITE_NULL)
                continue;
            evbuffer_add_printf(out, "warden_notifications_latency_seconds{alertmanager=\"");
            label_value(out, sqlite3_column_text(st, 0));
            evbuffer_add_printf(out, "\",quantile=\"%s\"} %.6f\n", qs[q],
                                sqlite3_column_double(st, 7 + q));
        }
        notify_series(out, st, "warden_notifications_latency_seconds", "_sum", 5, true);
        notify_series(out, st, "warden_notifications_latency_seconds", "_count", 6, false);
    }
    sqlite3_finalize(st);
    family(out, "warden_notifications_alertmanagers_configured", "gauge",
           "Alertmanagers Warden sends to (notify.alertmanager.urls).");
    evbuffer_add_printf(out, "warden_notifications_alertmanagers_configured %lld\n", (long long)n);
    return rc == SQLITE_DONE;
}

static void web_metrics(struct web_req *r)
{
    sqlite3 *db = r->ctx->db;
    struct evbuffer *out = evbuffer_new();
    struct store_health h;

    store_health_get(&h);
    /* One read transaction, so that the numbers agree with each other. */
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    if (!ingest_counters(db, out, &h) || !evaluator(db, out) ||
        !grouped(db, out, sql_alerts, "warden_alerts", "Alerts stored, by type and status.",
                 "type", "status") ||
        !grouped(db, out, sql_recs, "warden_recommendations",
                 "Recommendations stored, by type and state.", "type", "state") ||
        !ingest_state(db, out, &h) || !notify_metrics(db, out)) {
        char why[256];
        snprintf(why, sizeof(why), "%s", sqlite3_errmsg(db));
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        evbuffer_free(out);
        web_error(r, 500, "database error", why);
        return;
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    web_server_metrics(r->ctx, out);
    web_sql_metrics(r->ctx, out);
    web_tune_metrics(r->ctx, out);
    web_send(r, 200, "text/plain; version=0.0.4; charset=utf-8", out);
}

/* ---- /healthz -------------------------------------------------------------------------------- */

/* Can we write? An empty write transaction takes the write lock and gives it back. */
static bool db_writable(sqlite3 *db, char *why, size_t whylen)
{
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(why, whylen, "the database is not writable: %s", sqlite3_errmsg(db));
        return false;
    }
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return true;
}

static const char sql_health[] =
    "SELECT connected, last_commit_ms, watermark_ms, last_error, pid, "
    "(SELECT value FROM evaluator_state WHERE key = 'last_pass_ms') "
    "FROM ingest_state WHERE id = 1";

static void web_healthz(struct web_req *r)
{
    json_t *o = json_object(), *whys = json_array(), *ingest = json_object();
    sqlite3_stmt *st = NULL;
    int64_t now = clock_now_ms();
    struct store_health h;
    char why[300];

    store_health_get(&h);
    if (!db_writable(r->ctx->db_rw, why, sizeof(why)))
        json_array_append_new(whys, json_string(why));
    if (h.known && !h.writable) {
        snprintf(why, sizeof(why),
                 "the database refuses the ingester's writes for %lld s: %s; nothing is "
                 "acknowledged, the broker keeps the messages",
                 (long long)((now - h.since_ms) / 1000), h.error);
        json_array_append_new(whys, json_string(why));
    }
    json_object_set_new(o, "database",
                        json_string(json_array_size(whys) ? "not writable" : "writable"));
    if (sqlite3_prepare_v2(r->ctx->db, sql_health, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        snprintf(why, sizeof(why), "cannot read ingest_state: %s", sqlite3_errmsg(r->ctx->db));
        json_array_append_new(whys, json_string(why));
    } else {
        bool connected = sqlite3_column_int(st, 0) != 0;
        bool fresh = sqlite3_column_type(st, 1) == SQLITE_INTEGER &&
                     now - sqlite3_column_int64(st, 1) <= HEALTH_FRESH_MS;

        json_object_set_new(ingest, "connected", json_boolean(connected));
        json_object_set_new(ingest, "last_commit_age_ms",
                            sqlite3_column_type(st, 1) == SQLITE_INTEGER
                                ? json_integer(now - sqlite3_column_int64(st, 1))
                                : json_null());
        json_object_set_new(ingest, "last_error", web_column_json(st, 3));
        json_object_set_new(o, "evaluator_last_pass_ms", web_column_json(st, 5));
        if (!fresh)
            json_array_append_new(whys, json_string("the ingester has not committed in the last "
                                                    "10 s: it is not running, or stuck"));
        else if (!connected)
            json_array_append_new(whys, json_string("the ingester is not connected to the broker"));
        if (sqlite3_column_type(st, 3) == SQLITE_TEXT &&
            strncmp((const char *)sqlite3_column_text(st, 3), "commit", 6) == 0) {
            snprintf(why, sizeof(why), "the ingester cannot commit: %s",
                     sqlite3_column_text(st, 3));
            json_array_append_new(whys, json_string(why));
        }
    }
    sqlite3_finalize(st);
    json_object_set_new(o, "ingest", ingest);
    if (json_array_size(whys) == 0) {
        json_object_set_new(o, "status", json_string("ok"));
        json_decref(whys);
        web_send_json(r, 200, o);
        return;
    }
    json_object_set_new(o, "status", json_string("unhealthy"));
    json_object_set_new(o, "error", json_string("unhealthy"));
    json_object_set_new(o, "detail", json_incref(json_array_get(whys, 0)));
    json_object_set_new(o, "why", whys);
    web_send_json(r, 503, o);
}

/* /healthz answers anyone: a load balancer or a monitor has no token. */
const struct web_route web_metrics_routes[] = {
    {"GET", "/metrics", 0, web_metrics, NULL},
    {"GET", "/healthz", WEB_PUBLIC, web_healthz, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
