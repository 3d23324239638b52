/*
 * Configuration: defaults, the JSON file, and command-line overrides. One
 * table says every key, its type and where it lives in struct config; the
 * file, the flags and `warden config` all go through it, so a key is added in
 * one place.
 */
#include "common.h"

#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * K_LIST is a list of strings (a JSON array, or comma-separated on the command
 * line), kept comma-joined; K_LABELS a JSON object of strings, kept as its
 * compact JSON text.
 */
enum key_type { K_STR, K_INT, K_DURATION, K_BOOL, K_LIST, K_LABELS };

struct key {
    const char *name;   /* dotted: "mqtt.port" */
    enum key_type type;
    size_t off;
    size_t size;        /* K_STR: buffer size */
    int64_t min, max;   /* K_INT, K_DURATION (ms) */
};

#define STR(n, f) {n, K_STR, offsetof(struct config, f), sizeof(((struct config *)0)->f), 0, 0}
#define INT(n, f, lo, hi) {n, K_INT, offsetof(struct config, f), sizeof(((struct config *)0)->f), lo, hi}
#define DUR(n, f, lo, hi) {n, K_DURATION, offsetof(struct config, f), 8, lo, hi}
#define BOOL(n, f) {n, K_BOOL, offsetof(struct config, f), sizeof(bool), 0, 1}
#define LIST(n, f, most) {n, K_LIST, offsetof(struct config, f), sizeof(((struct config *)0)->f), 0, most}
#define LABELS(n, f) {n, K_LABELS, offsetof(struct config, f), sizeof(((struct config *)0)->f), 0, 0}

#define DAY_MS (86400000LL)

static const struct key keys[] = {
    STR("mqtt.host", mqtt_host),
    INT("mqtt.port", mqtt_port, 1, 65535),
    STR("mqtt.client_id", mqtt_client_id),
    STR("mqtt.username", mqtt_username),
    STR("mqtt.password_file", mqtt_password_file),
    INT("mqtt.keepalive", mqtt_keepalive, 5, 3600),
    STR("mqtt.topic_root", mqtt_topic_root),
    STR("mqtt.tls.ca_file", mqtt_tls_ca_file),
    STR("mqtt.tls.cert_file", mqtt_tls_cert_file),
    STR("mqtt.tls.key_file", mqtt_tls_key_file),
    STR("db.path", db_path),
    STR("db.synchronous", db_synchronous),
    STR("web.listen", web_listen),
    STR("web.auth.token_file", web_auth_token_file),
    BOOL("web.auth.require_for_reads", web_auth_require_for_reads),
    BOOL("web.secure_cookies", web_secure_cookies),
    DUR("web.sql.time_limit", web_sql_time_limit_ms, 10, 3600000),
    INT("web.sql.max_rows", web_sql_max_rows, 1, 10000000),
    DUR("web.sql.export_time_limit", web_sql_export_time_limit_ms, 100, 86400000),
    INT("web.sql.export_max_bytes", web_sql_export_max_bytes, 1024, INT64_MAX),
    INT("web.sql.max_value_bytes", web_sql_max_value_bytes, 1024, 1000000000),
    INT("web.sql.workers", web_sql_workers, 1, 64),
    INT("web.sql.queue", web_sql_queue, 0, 10000),
    INT("web.max_connections", web_max_connections, 1, 100000),
    INT("web.max_header_bytes", web_max_header_bytes, 1024, 1048576),
    INT("web.max_body_bytes", web_max_body_bytes, 1024, 64 * 1024 * 1024),
    DUR("web.request_timeout", web_request_timeout_ms, 100, 3600000),
    STR("web.external_url", web_external_url),
    STR("hub.name", hub_name),
    STR("hub.keystore", hub_keystore),
    STR("hub.tls.listen", hub_tls_listen),
    STR("hub.tls.cert_file", hub_tls_cert_file),
    STR("hub.tls.key_file", hub_tls_key_file),
    INT("hub.tls.max_connections", hub_tls_max_connections, 1, 1000000),
    INT("ingest.max_message_bytes", ingest_max_message_bytes, 1024, 64 * 1024 * 1024),
    INT("ingest.max_flows_per_message", ingest_max_flows_per_message, 1, 1000000),
    DUR("ingest.dedup_window", ingest_dedup_window_ms, 1000, 30 * DAY_MS),
    DUR("ingest.max_clock_skew", ingest_max_clock_skew_ms, 0, 365 * DAY_MS),
    INT("ingest.batch_max_messages", ingest_batch_max_messages, 1, 1000000),
    INT("ingest.max_auto_devices", ingest_max_auto_devices, 0, 100000000),
    DUR("evaluator.interval", evaluator_interval_ms, 1000, DAY_MS),
    DUR("evaluator.offset", evaluator_offset_ms, 0, DAY_MS),
    STR("evaluator.clock", evaluator_clock),
    DUR("evaluator.silent_after", evaluator_silent_after_ms, 10000, 365 * DAY_MS),
    DUR("evaluator.event_alert_ttl", evaluator_event_alert_ttl_ms, 10000, 365 * DAY_MS),
    BOOL("intel.match_bogons", intel_match_bogons),
    BOOL("recommendations.shared_credentials", rec_shared_credentials),
    BOOL("recommendations.ip_filter_deny_all", rec_ip_filter_deny_all),
    BOOL("recommendations.ip_filter_permissive_rule", rec_ip_filter_permissive_rule),
    BOOL("recommendations.diagnostics_logs", rec_diagnostics_logs),
    INT("recommendations.max_allow_prefix.ipv4", rec_max_allow_prefix_v4, 0, 32),
    INT("recommendations.max_allow_prefix.ipv6", rec_max_allow_prefix_v6, 0, 128),
    DUR("retention.raw", retention_raw_ms, 60000, 3650 * DAY_MS),
    DUR("retention.hourly", retention_hourly_ms, 3600000, 3650 * DAY_MS),
    DUR("retention.counts", retention_counts_ms, 3600000, 3650 * DAY_MS),
    DUR("retention.fine", retention_fine_ms, 600000, 3650 * DAY_MS),
    DUR("retention.results", retention_results_ms, DAY_MS, 3650 * DAY_MS),
    INT("retention.max_db_bytes", retention_max_db_bytes, 1048576, INT64_MAX),
    INT("retention.min_free_bytes", retention_min_free_bytes, 0, INT64_MAX),
    LIST("notify.alertmanager.urls", notify_am_urls, NOTIFY_MAX_URLS),
    STR("notify.alertmanager.basic_auth_file", notify_am_basic_auth_file),
    STR("notify.alertmanager.tls.ca_file", notify_am_tls_ca_file),
    DUR("notify.resend", notify_resend_ms, 1000, DAY_MS),
    DUR("notify.resolved_retention", notify_resolved_retention_ms, 0, 30 * DAY_MS),
    DUR("notify.timeout", notify_timeout_ms, 100, 600000),
    LABELS("notify.labels", notify_labels),
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->mqtt_host, sizeof(cfg->mqtt_host), "127.0.0.1");
    cfg->mqtt_port = 1883;
    snprintf(cfg->mqtt_client_id, sizeof(cfg->mqtt_client_id), "warden");
    cfg->mqtt_keepalive = 30;
    snprintf(cfg->db_path, sizeof(cfg->db_path), "warden.db");
    snprintf(cfg->db_synchronous, sizeof(cfg->db_synchronous), "FULL");
    snprintf(cfg->web_listen, sizeof(cfg->web_listen), "127.0.0.1:8080");
    cfg->web_sql_time_limit_ms = 1000;
    cfg->web_sql_max_rows = 1000;
    cfg->web_sql_export_time_limit_ms = 60000;
    cfg->web_sql_export_max_bytes = 100LL * 1000 * 1000;
    cfg->web_sql_max_value_bytes = 1048576;
    cfg->web_sql_workers = 4;
    cfg->web_sql_queue = 16;
    cfg->web_max_connections = 512;
    cfg->web_max_header_bytes = 16384;
    cfg->web_max_body_bytes = 1048576;
    cfg->web_request_timeout_ms = 10000;
    snprintf(cfg->hub_name, sizeof(cfg->hub_name), "lab-hub");
    snprintf(cfg->hub_tls_listen, sizeof(cfg->hub_tls_listen), "0.0.0.0:8883");
    cfg->hub_tls_max_connections = 10000;
    cfg->ingest_max_message_bytes = 262144;
    cfg->ingest_max_flows_per_message = 4096;
    cfg->ingest_dedup_window_ms = 3600 * 1000;
    cfg->ingest_max_clock_skew_ms = 300 * 1000;
    cfg->ingest_batch_max_messages = 10000;
    cfg->ingest_max_auto_devices = 10000;
    cfg->evaluator_interval_ms = 60 * 1000;
    cfg->evaluator_offset_ms = 0;
    snprintf(cfg->evaluator_clock, sizeof(cfg->evaluator_clock), "received");
    cfg->evaluator_silent_after_ms = 72 * 3600 * 1000LL;
    cfg->evaluator_event_alert_ttl_ms = DAY_MS;
    cfg->rec_shared_credentials = true;
    cfg->rec_ip_filter_deny_all = true;
    cfg->rec_ip_filter_permissive_rule = true;
    cfg->rec_diagnostics_logs = true;
    cfg->rec_max_allow_prefix_v4 = 16;
    cfg->rec_max_allow_prefix_v6 = 48;
    cfg->retention_raw_ms = 2 * DAY_MS;
    cfg->retention_hourly_ms = 30 * DAY_MS;
    cfg->retention_counts_ms = 90 * DAY_MS;
    cfg->retention_fine_ms = DAY_MS;
    cfg->retention_results_ms = 365 * DAY_MS;
    cfg->retention_max_db_bytes = 20LL * 1024 * 1024 * 1024;
    cfg->retention_min_free_bytes = 1LL * 1024 * 1024 * 1024;
    cfg->notify_resend_ms = 60 * 1000;
    cfg->notify_resolved_retention_ms = 15 * 60 * 1000;
    cfg->notify_timeout_ms = 10 * 1000;
}

static const struct key *key_find(const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/*
 * An http:// or https:// address with a host: no spaces, no commas, and no
 * user, query or fragment (a password belongs in a file, and Warden adds the
 * paths itself).
 */
static bool url_http(const char *v, size_t n)
{
    size_t skip = strncmp(v, "http://", 7) == 0 ? 7 : strncmp(v, "https://", 8) == 0 ? 8 : 0;

    if (skip == 0 || n <= skip || v[skip] == '/')
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] <= ' ' || (unsigned char)v[i] >= 0x7f || strchr(",@?#", v[i]))
            return false;
    return true;
}

/* Labels Warden sets itself; notify.labels may not change them. */
static const char *const own_labels[] = {"alertname", "severity", "device_id", "hub",
                                         "alert_key", "security_group", "kind", "source",
                                         NULL};

static bool label_name_ok(const char *name)
{
    if (!((*name >= 'a' && *name <= 'z') || (*name >= 'A' && *name <= 'Z') || *name == '_'))
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return false;
    if (strncmp(name, "__", 2) == 0)
        return false;
    for (int i = 0; own_labels[i]; i++)
        if (strcmp(name, own_labels[i]) == 0)
            return false;
    return true;
}

/* A list: a JSON array of strings, or comma-separated text from the command line. */
static bool set_list(const struct key *k, struct config *cfg, json_t *arr, const char *text,
                     char *err, size_t errlen)
{
    char out[2048], item[512]; /* the setting changes only once the whole list is good */
    size_t used = 0, n = 0, count = arr ? json_array_size(arr) : 0;
    const char *p = text;

    for (size_t i = 0;; i++) {
        size_t len;

        if (arr != NULL) {
            if (i >= count)
                break;
            if (!json_is_string(json_array_get(arr, i))) {
                snprintf(err, errlen, "%s: must be a list of strings", k->name);
                return false;
            }
            snprintf(item, sizeof(item), "%s", json_string_value(json_array_get(arr, i)));
            len = strlen(json_string_value(json_array_get(arr, i)));
        } else {
            if (*p == '\0')
                break;
            len = strcspn(p, ",");
            snprintf(item, sizeof(item), "%.*s", (int)(len < sizeof(item) ? len : 0), p);
            p += len + (p[len] == ',');
        }
        if (len == 0 || len >= sizeof(item) || !url_http(item, len)) {
            snprintf(err, errlen, "%s: \"%.60s\" is not an http:// or https:// address", k->name,
                     item);
            return false;
        }
        if (++n > (size_t)k->max || used + len + 2 > k->size || used + len + 2 > sizeof(out)) {
            snprintf(err, errlen, "%s: at most %lld addresses", k->name, (long long)k->max);
            return false;
        }
        used += (size_t)snprintf(out + used, sizeof(out) - used, "%s%s", used ? "," : "", item);
    }
    out[used] = '\0';
    memcpy((char *)cfg + k->off, out, used + 1);
    return true;
}

/* Labels: a JSON object of Prometheus label names and non-empty string values. */
static bool set_labels(const struct key *k, struct config *cfg, json_t *obj, char *err,
                       size_t errlen)
{
    const char *name;
    json_t *v;
    char *text;

    if (!json_is_object(obj)) {
        snprintf(err, errlen, "%s: must be an object of strings, as {\"lab\": \"rack-3\"}",
                 k->name);
        return false;
    }
    json_object_foreach(obj, name, v) {
        const char *s = json_string_value(v);

        if (!label_name_ok(name)) {
            snprintf(err, errlen, "%s: \"%.60s\" is not a label name Warden may set (letters, "
                     "digits, _; not one of its own)", k->name, name);
            return false;
        }
        if (s == NULL || *s == '\0' || !utf8_valid(s, strlen(s)) ||
            !text_printable(s, strlen(s))) {
            snprintf(err, errlen, "%s.%.60s: must be non-empty printable text", k->name, name);
            return false;
        }
    }
    text = json_object_size(obj) ? json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS) : strdup("");
    if (text == NULL || strlen(text) >= k->size) {
        snprintf(err, errlen, "%s: longer than %zu bytes", k->name, k->size - 1);
        free(text);
        return false;
    }
    memcpy((char *)cfg + k->off, text, strlen(text) + 1);
    free(text);
    return true;
}

/* Checks that span a key's value and not just its type. */
static bool config_check(const struct key *k, const struct config *cfg, char *err, size_t errlen)
{
    if (strcmp(k->name, "evaluator.clock") == 0 && strcmp(cfg->evaluator_clock, "received") &&
        strcmp(cfg->evaluator_clock, "device")) {
        snprintf(err, errlen, "%s: must be \"received\" or \"device\"", k->name);
        return false;
    }
    if (strcmp(k->name, "web.external_url") == 0 && cfg->web_external_url[0] != '\0' &&
        !url_http(cfg->web_external_url, strlen(cfg->web_external_url))) {
        snprintf(err, errlen, "%s: must be an http:// or https:// address", k->name);
        return false;
    }
    if (strcmp(k->name, "db.synchronous") == 0 && strcmp(cfg->db_synchronous, "FULL") &&
        strcmp(cfg->db_synchronous, "NORMAL")) {
        snprintf(err, errlen, "%s: must be \"FULL\" or \"NORMAL\"", k->name);
        return false;
    }
    return true;
}

static bool set_str(const struct key *k, struct config *cfg, const char *v, char *err,
                    size_t errlen)
{
    size_t n = strlen(v);

    if (n >= k->size || !utf8_valid(v, n) || !text_printable(v, n)) {
        snprintf(err, errlen, "%s: must be printable text shorter than %zu bytes", k->name,
                 k->size);
        return false;
    }
    memcpy((char *)cfg + k->off, v, n + 1);
    return true;
}

static bool set_int(const struct key *k, struct config *cfg, int64_t v, char *err, size_t errlen)
{
    if (v < k->min || v > k->max) {
        snprintf(err, errlen, "%s: %lld is out of range [%lld, %lld]", k->name, (long long)v,
                 (long long)k->min, (long long)k->max);
        return false;
    }
    if (k->size == sizeof(int))
        *(int *)((char *)cfg + k->off) = (int)v;
    else
        *(int64_t *)((char *)cfg + k->off) = v;
    return true;
}

static bool set_duration(const struct key *k, struct config *cfg, const char *v, char *err,
                         size_t errlen)
{
    int64_t ms;

    if (!duration_parse(v, &ms)) {
        snprintf(err, errlen, "%s: \"%.40s\" is not an ISO 8601 duration such as PT10S or P1D",
                 k->name, v);
        return false;
    }
    if (ms < k->min || ms > k->max) {
        snprintf(err, errlen, "%s: %.40s is out of range", k->name, v);
        return false;
    }
    *(int64_t *)((char *)cfg + k->off) = ms;
    return true;
}

bool config_set(struct config *cfg, const char *name, const char *value, char *err, size_t errlen)
{
    const struct key *k = key_find(name);
    char *end;
    long long v;

    if (k == NULL) {
        snprintf(err, errlen, "%.80s: unknown setting", name);
        return false;
    }
    switch (k->type) {
    case K_STR:
        if (!set_str(k, cfg, value, err, errlen))
            return false;
        break;
    case K_INT:
        errno = 0;
        v = strtoll(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0') {
            snprintf(err, errlen, "%s: \"%.40s\" is not a whole number", name, value);
            return false;
        }
        if (!set_int(k, cfg, v, err, errlen))
            return false;
        break;
    case K_DURATION:
        if (!set_duration(k, cfg, value, err, errlen))
            return false;
        break;
    case K_BOOL:
        if (strcmp(value, "true") && strcmp(value, "false")) {
            snprintf(err, errlen, "%s: must be true or false", name);
            return false;
        }
        *(bool *)((char *)cfg + k->off) = strcmp(value, "true") == 0;
        break;
    case K_LIST:
        return set_list(k, cfg, NULL, value, err, errlen);
    case K_LABELS: {
        json_t *obj = json_loads(value, JSON_REJECT_DUPLICATES, NULL);
        bool ok = set_labels(k, cfg, obj, err, errlen);

        json_decref(obj);
        return ok;
    }
    }
    return config_check(k, cfg, err, errlen);
}

static bool apply_json(struct config *cfg, const struct key *k, json_t *v, char *err,
                       size_t errlen)
{
    switch (k->type) {
    case K_STR:
        if (!json_is_string(v))
            break;
        return set_str(k, cfg, json_string_value(v), err, errlen) &&
               config_check(k, cfg, err, errlen);
    case K_INT:
        if (!json_is_integer(v))
            break;
        return set_int(k, cfg, json_integer_value(v), err, errlen);
    case K_DURATION:
        if (!json_is_string(v))
            break;
        return set_duration(k, cfg, json_string_value(v), err, errlen);
    case K_BOOL:
        if (!json_is_boolean(v))
            break;
        *(bool *)((char *)cfg + k->off) = json_is_true(v);
        return true;
    case K_LIST:
        if (!json_is_array(v))
            break;
        return set_list(k, cfg, v, NULL, err, errlen);
    case K_LABELS:
        return set_labels(k, cfg, v, err, errlen);
    }
    snprintf(err, errlen, "%s: must be %s", k->name,
             k->type == K_STR        ? "a string"
             : k->type == K_INT      ? "an integer"
             : k->type == K_DURATION ? "an ISO 8601 duration string"
             : k->type == K_LIST     ? "a list of strings"
                                     : "true or false");
    return false;
}

/* Walk a nested object, turning {"a": {"b": 1}} into the key "a.b". */
static bool walk(struct config *cfg, json_t *obj, const char *prefix, char *err, size_t errlen)
{
    const char *name;
    json_t *v;

    json_object_foreach(obj, name, v) {
        char full[128];
        const struct key *k;

        if ((size_t)snprintf(full, sizeof(full), "%s%s%s", prefix, *prefix ? "." : "", name) >=
            sizeof(full)) {
            snprintf(err, errlen, "%.60s...: key too long", full);
            return false;
        }
        if ((k = key_find(full)) != NULL) {
            if (!apply_json(cfg, k, v, err, errlen))
                return false;
        } else if (json_is_object(v)) {
            if (!walk(cfg, v, full, err, errlen))
                return false;
        } else {
            snprintf(err, errlen, "%s: unknown setting", full);
            return false;
        }
    }
    return true;
}

bool config_load_file(struct config *cfg, const char *path, bool required, char *err,
                      size_t errlen)
{
    json_error_t jerr;
    json_t *root;
    FILE *f = fopen(path, "rb");
    bool ok;

    if (f == NULL) {
        if (!required && errno == ENOENT)
            return true;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return false;
    }
    root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    fclose(f);
    if (root == NULL) {
        snprintf(err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
        return false;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s: the configuration must be a JSON object", path);
        json_decref(root);
        return false;
    }
    ok = walk(cfg, root, "", err, errlen);
    json_decref(root);
    return ok;
}

void config_print(const struct config *cfg)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key *k = &keys[i];
        const char *p = (const char *)cfg + k->off;

        switch (k->type) {
        case K_STR: printf("%s = \"%s\"\n", k->name, p); break;
        case K_INT:
            printf("%s = %lld\n", k->name,
                   k->size == sizeof(int) ? (long long)*(const int *)p
                                          : (long long)*(const int64_t *)p);
            break;
        case K_DURATION: printf("%s = %lld ms\n", k->name, (long long)*(const int64_t *)p); break;
        case K_BOOL: printf("%s = %s\n", k->name, *(const bool *)p ? "true" : "false"); break;
        case K_LIST: printf("%s = [%s]\n", k->name, p); break;
        case K_LABELS: printf("%s = %s\n", k->name, *p ? p : "{}"); break;
        }
    }
}
