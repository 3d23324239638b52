/*
 * The evaluator, pass by pass, at exact instants: data is written through the
 * store with chosen received times, groups, lists and hub documents through
 * their real imports, and eval_pass() runs at a chosen T. Each alert type of
 * SPEC 5.2 is fed data that must raise it and data that must not.
 */
#include "../../evaluator/evaluator.h"
#include "../../imports/imports.h"
#include "../../imports/groups.h"
#include "check.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#define T0 1800000000000LL /* a multiple of 10 s */
#define S 1000LL
#define MIN 60000LL

static struct config cfg;
static struct store *st;
static struct eval *ev;
static char dbpath[80];

static void setup(void)
{
    char err[256];

    snprintf(dbpath, sizeof(dbpath), "/tmp/warden-test-eval-%d.db", (int)getpid());
    unlink(dbpath);
    config_defaults(&cfg);
    snprintf(cfg.db_path, sizeof(cfg.db_path), "%s", dbpath);
    cfg.evaluator_interval_ms = MIN;
    st = store_open(dbpath, err, sizeof(err));
    if (st == NULL)
        fprintf(stderr, "  store_open: %s\n", err);
    ev = eval_open(&cfg, err, sizeof(err));
    if (ev == NULL)
        fprintf(stderr, "  eval_open: %s\n", err);
    /* Warden was ingesting throughout, unless a test says otherwise. */
    sqlite3_exec(store_sqlite(st), "INSERT INTO ingest_runs (started_ms, last_ms) VALUES (0, 9e15)",
                 NULL, NULL, NULL);
}

static void teardown(void)
{
    char p[100];

    eval_close(ev);
    store_close(st);
    unlink(dbpath);
    snprintf(p, sizeof(p), "%s-wal", dbpath);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", dbpath);
    unlink(p);
}

static void sql(const char *s)
{
    char *err = NULL;

    if (sqlite3_exec(store_sqlite(st), s, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "  %s: %s\n", s, err);
        sqlite3_free(err);
    }
}

static int64_t q(const char *s)
{
    sqlite3_stmt *stmt;
    int64_t v = -1;

    if (sqlite3_prepare_v2(store_sqlite(st), s, -1, &stmt, NULL) != SQLITE_OK) {
        fprintf(stderr, "  %s: %s\n", s, sqlite3_errmsg(store_sqlite(st)));
        return -2;
    }
    if (sqlite3_step(stmt) == SQLITE_ROW)
        v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return v;
}

static char qs_buf[1024];
static const char *qs(const char *s)
{
    sqlite3_stmt *stmt;

    qs_buf[0] = '\0';
    if (sqlite3_prepare_v2(store_sqlite(st), s, -1, &stmt, NULL) != SQLITE_OK)
        return "(error)";
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
        snprintf(qs_buf, sizeof(qs_buf), "%s", (const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return qs_buf;
}

static int64_t device(const char *id, int64_t seen)
{
    int64_t dev = -1;

    store_batch_begin(st);
    store_device(st, id, "lab-hub", seen, &dev);
    store_batch_commit(st, 0);
    return dev;
}

static void count(int64_t dev, enum store_metric m, int64_t at, int64_t n)
{
    store_batch_begin(st);
    store_count(st, dev, m, at, n);
    store_batch_commit(st, 0);
}

static void flow(int64_t dev, int64_t at, const char *remote, int rport, int dir)
{
    struct store_flow f = {0};

    f.device_ms = STORE_NO_TIME;
    f.direction = (uint8_t)dir;
    f.process_id = f.user_id = -1;
    ip_parse("192.168.1.20", &f.local);
    ip_parse(remote, &f.remote);
    f.local_port = 40000;
    f.remote_port = (uint16_t)rport;
    store_batch_begin(st);
    store_flow_append(st, dev, at, &f);
    store_batch_commit(st, 0);
}

static void hubop(int64_t at, const char *cat, const char *op, const char *result,
                  const char *reason, const char *dev, const char *details)
{
    struct store_hubop h = {at, "lab-hub", cat, op, result, reason, dev, "192.0.2.10", details, 1};

    store_batch_begin(st);
    store_hubop_append(st, at, &h);
    store_batch_commit(st, 0);
}

static void group(const char *json)
{
    struct group g;
    char err[256];

    if (!group_parse(json, strlen(json), NULL, &g, err, sizeof(err))) {
        fprintf(stderr, "  group_parse: %s\n", err);
        return;
    }
    if (!group_store(store_sqlite(st), &g, err, sizeof(err)))
        fprintf(stderr, "  group_store: %s\n", err);
    group_free(&g);
}

static void pass(int64_t T)
{
    char err[256];

    if (!eval_pass(ev, T, err, sizeof(err))) {
        fprintf(stderr, "  eval_pass: %s\n", err);
        CHECK(!"the pass failed");
    }
}

static const char d2c_rule[] =
    "{\"name\": \"default\", \"properties\": {\"timeWindowRules\": [{\"ruleType\": "
    "\"MqttD2CMessagesNotInAllowedRange\", \"isEnabled\": true, \"minThreshold\": 2, "
    "\"maxThreshold\": 5, \"timeWindowSize\": \"PT1M\"}]}}";

#define OPEN(type) q("SELECT count(*) FROM alerts WHERE alert_type = '" type "' AND status = 'Active'")

/* ---- time-window rules -------------------------------------------------------------- */

static void window_exactly_max_is_in_range_one_over_raises(void)
{
    setup();
    group(d2c_rule);
    int64_t a = device("dev-a", T0), b = device("dev-b", T0);
    count(a, METRIC_D2C, T0 - 30 * S, 5); /* exactly max */
    count(b, METRIC_D2C, T0 - 30 * S, 6); /* one over */
    pass(T0);
    CHECK_INT(OPEN("IoT_CA_MqttD2CMessagesNotInAllowedRange"), 1);
    CHECK_STR(qs("SELECT alert_key FROM alerts"), "dev-b/MqttD2CMessagesNotInAllowedRange");
    CHECK_INT(q("SELECT value FROM alerts"), 6);
    CHECK_STR(qs("SELECT severity FROM alerts"), "Low");
    CHECK_STR(qs("SELECT json_extract(extended_properties, '$.max') || '/' || "
                 "json_extract(extended_properties, '$.window') FROM alerts"), "5/PT60S");
    CHECK(strstr(qs("SELECT description FROM alerts"), "dev-b") != NULL);
    CHECK(strstr(qs("SELECT description FROM alerts"), "2 to 5") != NULL);
    teardown();
}

static void window_exactly_min_is_in_range_one_under_raises(void)
{
    setup();
    group(d2c_rule);
    int64_t a = device("dev-a", T0), b = device("dev-b", T0);
    count(a, METRIC_D2C, T0 - 30 * S, 2); /* exactly min */
    count(b, METRIC_D2C, T0 - 30 * S, 1); /* one under */
    pass(T0);
    CHECK_INT(OPEN("IoT_CA_MqttD2CMessagesNotInAllowedRange"), 1);
    CHECK_STR(qs("SELECT device_id FROM alerts"), "dev-b");
    teardown();
}

static void window_edges_follow_bucket_starts(void)
{
    setup();
    group(d2c_rule);
    int64_t a = device("dev-a", T0), b = device("dev-b", T0);
    /* Buckets starting in (T - 60 s, T]: T - 60 s is out, T is in. */
    count(a, METRIC_D2C, T0 - 60 * S, 3);
    count(a, METRIC_D2C, T0 - 50 * S, 3);
    count(b, METRIC_D2C, T0, 3);
    count(b, METRIC_D2C, T0 - 50 * S, 3);
    pass(T0);
    CHECK_INT(OPEN("IoT_CA_MqttD2CMessagesNotInAllowedRange"), 1);
    CHECK_STR(qs("SELECT device_id FROM alerts"), "dev-b");
    CHECK_INT(q("SELECT value FROM alerts"), 6);
    teardown();
}

/*
 * Rules the lab cannot observe (AMQP, HTTP, local logins, file uploads,
 * users, processes) are kept but never evaluated: a silent device would be
 * below every minimum, yet only the MQTT rule beside them raises.
 */
static void window_unobservable_rules_never_raise(void)
{
    static const char *const types[] = {
        "AmqpC2DMessagesNotInAllowedRange",         "HttpC2DMessagesNotInAllowedRange",
        "AmqpC2DRejectedMessagesNotInAllowedRange", "HttpC2DRejectedMessagesNotInAllowedRange",
        "AmqpD2CMessagesNotInAllowedRange",         "HttpD2CMessagesNotInAllowedRange",
        "FailedLocalLoginsNotInAllowedRange",       "FileUploadsNotInAllowedRange",
        "MqttD2CMessagesNotInAllowedRange"};
    char doc[4096];
    size_t at = 0;

    setup();
    at += (size_t)snprintf(doc, sizeof(doc),
                           "{\"name\": \"default\", \"properties\": {"
                           "\"timeWindowRules\": [");
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        at += (size_t)snprintf(doc + at, sizeof(doc) - at,
                               "%s{\"ruleType\": \"%s\", \"isEnabled\": true, \"minThreshold\": 1, "
                               "\"maxThreshold\": 5, \"timeWindowSize\": \"PT1M\"}",
                               i ? ", " : "", types[i]);
    snprintf(doc + at, sizeof(doc) - at,
             "], \"allowlistRules\": [{\"ruleType\": \"LocalUserNotAllowed\", \"isEnabled\": "
             "true, \"allowlistValues\": []}, {\"ruleType\": \"ProcessNotAllowed\", "
             "\"isEnabled\": true, \"allowlistValues\": []}]}}");
    group(doc);
    device("dev-quiet", T0 - 3600 * S);
    pass(T0);
    CHECK_INT(OPEN("IoT_CA_MqttD2CMessagesNotInAllowedRange"), 1);
    CHECK_INT(q("SELECT count(*) FROM alerts"), 1);
    teardown();
}

static void window_silence_counts_as_zero(void)
{
    setup();
    group(d2c_rule);
    device("dev-quiet", T0 - 3600 * S);
    pass(T0);
    CHECK_INT(OPEN("IoT_CA_MqttD2CMessagesNotInAllowedRange"), 1);
    CHECK_INT(q("SELECT value FROM alerts"), 0);
    teardown();
}

static void window_overlapping_warden_downtime_is_not_judged_on_min(void)
{
    setup();
    group(d2c_rule);
    sql("DELETE FROM ingest_runs");
    /* Warden ingested until T0 - 30 s and again from T0 - 10 s. */
    sql("INSERT INTO ingest_runs (started_ms, last_ms) VALUES (0, 1799999970000)");
    sql("INSERT INTO ingest_runs (started_ms, last_ms) VALUES (1799999990000, 9e15)");
    int64_t a = device("dev-a", T0);
    device("dev-b", T0);
    count(a, METRIC_D2C, T0 - 40 * S, 9); /* over max: still judged */
    pass(T0);
    CHECK_INT(OPEN("IoT_CA_MqttD2CMessagesNotInAllowedRange"), 1);
    CHECK_STR(qs("SELECT device_id FROM alerts"), "dev-a");
    /* Two minutes later the window is clear of the gap: dev-b's silence counts. */
    pass(T0 + 2 * MIN);
    CHECK_STR(qs("SELECT group_concat(device_id || ':' || status, ',') FROM "
                 "(SELECT * FROM alerts ORDER BY device_id)"),
              "dev-a:Active,dev-b:Active");
    teardown();
}

static void window_alert_updates_then_resolves_then_reopens(void)
{
    setup();
    group(d2c_rule);
    int64_t a = device("dev-a", T0);
    count(a, METRIC_D2C, T0 - 30 * S, 9);
    pass(T0);
    count(a, METRIC_D2C, T0 + 30 * S, 7);
    pass(T0 + MIN);
    CHECK_INT(q("SELECT count FROM alerts"), 2);
    CHECK_INT(q("SELECT value FROM alerts"), 7);
    CHECK_INT(q("SELECT end_ms FROM alerts"), T0 + MIN);
    count(a, METRIC_D2C, T0 + 90 * S, 3);
    pass(T0 + 2 * MIN);
    CHECK_STR(qs("SELECT status FROM alerts"), "Resolved");
    CHECK_INT(q("SELECT value FROM alerts"), 7); /* the last value seen out of range is kept */
    count(a, METRIC_D2C, T0 + 150 * S, 8);
    pass(T0 + 3 * MIN);
    CHECK_INT(q("SELECT count(*) FROM alerts"), 2);
    CHECK_INT(OPEN("IoT_CA_MqttD2CMessagesNotInAllowedRange"), 1);
    CHECK_INT(q("SELECT count(*) FROM alert_transitions"), 3);
    teardown();
}

static void window_rule_disabled_while_active_resolves(void)
{
    setup();
    group(d2c_rule);
    int64_t a = device("dev-a", T0);
    count(a, METRIC_D2C, T0 - 30 * S, 9);
    pass(T0);
    CHECK_INT(OPEN("IoT_CA_MqttD2CMessagesNotInAllowedRange"), 1);
    group("{\"name\": \"default\", \"properties\": {\"timeWindowRules\": []}}");
    pass(T0 + MIN);
    CHECK_STR(qs("SELECT status FROM alerts"), "Resolved");
    teardown();
}

/*
 * With the ingest watermark past the buckets, window sums move incrementally
 * from pass to pass; the values must equal a plain sum at every pass,
 * including buckets that are still filling when a pass runs.
 */
static void window_sums_move_with_the_window(void)
{
    setup();
    group("{\"name\": \"default\", \"properties\": {\"timeWindowRules\": [{\"ruleType\": "
          "\"MqttD2CMessagesNotInAllowedRange\", \"isEnabled\": true, \"minThreshold\": 0, "
          "\"maxThreshold\": 0, \"timeWindowSize\": \"PT1M\"}]}}");
    int64_t a = device("dev-a", T0);
    for (int64_t T = T0 + 10 * S; T <= T0 + 300 * S; T += 10 * S) {
        char sqlbuf[200];
        int64_t want;
        /* Messages land in the last complete bucket and in the one still filling. */
        count(a, METRIC_D2C, T - 10 * S, 1 + T / S % 7);
        count(a, METRIC_D2C, T, 1);
        snprintf(sqlbuf, sizeof(sqlbuf), "UPDATE ingest_state SET watermark_ms = %lld",
                 (long long)(T + 5 * S));
        sql(sqlbuf);
        snprintf(sqlbuf, sizeof(sqlbuf),
                 "SELECT sum(d2c_messages) FROM counts WHERE bucket_ms > %lld AND bucket_ms <= %lld",
                 (long long)(T - 60 * S), (long long)T);
        want = q(sqlbuf);
        pass(T);
        CHECK_INT(q("SELECT value FROM alerts WHERE status = 'Active'"), want);
        /* More arrives in the filling bucket after the pass. */
        count(a, METRIC_D2C, T, 2);
    }
    teardown();
}

static void window_every_rule_type_reads_its_metric(void)
{
    static const struct {
        const char *rule;
        enum store_metric m;
    } rules[] = {
        {"MqttC2DMessagesNotInAllowedRange", METRIC_C2D},
        {"MqttD2CMessagesNotInAllowedRange", METRIC_D2C},
        {"QueuePurgesNotInAllowedRange", METRIC_QUEUE_PURGE},
        {"DirectMethodInvokesNotInAllowedRange", METRIC_DIRECT_METHOD},
        {"MqttC2DRejectedMessagesNotInAllowedRange", METRIC_C2D_REJECTED},
        {"TwinUpdatesNotInAllowedRange", METRIC_TWIN},
        {"UnauthorizedOperationsNotInAllowedRange", METRIC_UNAUTHORIZED},
    };

    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        char doc[512], want[160];
        setup();
        snprintf(doc, sizeof(doc),
                 "{\"name\": \"default\", \"properties\": {\"timeWindowRules\": [{\"ruleType\": "
                 "\"%s\", \"isEnabled\": true, \"minThreshold\": 0, \"maxThreshold\": 3, "
                 "\"timeWindowSize\": \"PT5M\"}]}}",
                 rules[i].rule);
        group(doc);
        int64_t a = device("dev-a", T0), b = device("dev-b", T0);
        count(a, rules[i].m, T0 - 200 * S, 4);
        count(b, rules[i].m, T0 - 200 * S, 3);
        /* Another metric over the threshold must not count. */
        count(b, rules[i].m == METRIC_D2C ? METRIC_C2D : METRIC_D2C, T0 - 200 * S, 50);
        pass(T0);
        snprintf(want, sizeof(want), "IoT_CA_%s|dev-a/%s|4", rules[i].rule, rules[i].rule);
        CHECK_STR(qs("SELECT group_concat(alert_type || '|' || alert_key || '|' || value) FROM alerts"),
                  want);
        teardown();
    }
}

static void active_connections_count_distinct_flows(void)
{
    setup();
    group("{\"name\": \"default\", \"properties\": {\"timeWindowRules\": [{\"ruleType\": "
          "\"ActiveConnectionsNotInAllowedRange\", \"isEnabled\": true, \"minThreshold\": 0, "
          "\"maxThreshold\": 2, \"timeWindowSize\": \"PT1M\"}]}}");
    int64_t a = device("dev-a", T0), b = device("dev-b", T0);
    /* dev-a: the same flow in six buckets is one flow; plus one more: 2, in range. */
    for (int i = 0; i < 6; i++)
        flow(a, T0 - 55 * S + i * 10 * S, "52.178.17.3", 8883, 0);
    flow(a, T0 - 20 * S, "8.8.8.8", 53, 0);
    /* dev-b: three distinct flows, one of them before the window. */
    flow(b, T0 - 65 * S, "1.1.1.1", 53, 0);
    flow(b, T0 - 40 * S, "8.8.8.8", 53, 0);
    flow(b, T0 - 30 * S, "8.8.4.4", 53, 0);
    flow(b, T0 - 20 * S, "9.9.9.9", 53, 0);
    pass(T0);
    CHECK_STR(qs("SELECT group_concat(device_id || ':' || value) FROM alerts"), "dev-b:3");
    /* A minute later only the new flows count: dev-b back in range. */
    flow(b, T0 + 30 * S, "9.9.9.9", 53, 0);
    pass(T0 + MIN);
    CHECK_STR(qs("SELECT status FROM alerts"), "Resolved");
    teardown();
}

/* ---- flows: threat intelligence and allow lists --------------------------------------- */

static void load_list(const char *name, const char *text)
{
    char path[96];
    FILE *f;
    char *argv[] = {"intel", "load", path, "--name", (char *)name, NULL};

    snprintf(path, sizeof(path), "/tmp/warden-test-eval-%d.netset", (int)getpid());
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    CHECK_INT(import_cmd_intel(5, argv, st), 0);
    unlink(path);
}

static void ti_listed_address_raises_and_bogons_are_skipped(void)
{
    setup();
    load_list("bad", "# test list\n185.220.101.0/24\n10.0.0.0/8\n2001:67c:2e8::/48\n");
    int64_t a = device("dev-a", T0);
    flow(a, T0 - 30 * S, "185.220.101.34", 443, 0);
    flow(a, T0 - 25 * S, "185.220.101.34", 443, 0);
    flow(a, T0 - 20 * S, "10.1.2.3", 80, 0);          /* listed but private: skipped */
    flow(a, T0 - 20 * S, "2001:67c:2e8::5", 443, 0);  /* IPv6 */
    flow(a, T0 - 20 * S, "185.220.102.1", 443, 0);    /* just outside */
    pass(T0);
    CHECK_STR(qs("SELECT group_concat(alert_key || '|' || count, ',') FROM "
                 "(SELECT * FROM alerts WHERE alert_type = 'IoT_TiConnection' ORDER BY alert_key)"),
              "dev-a/185.220.101.34|2,dev-a/2001:67c:2e8::5|1");
    CHECK_STR(qs("SELECT json_extract(extended_properties, '$.list') || ' ' || "
                 "json_extract(extended_properties, '$.remote_port') FROM alerts LIMIT 1"),
              "bad 443");
    CHECK_STR(qs("SELECT severity FROM alerts LIMIT 1"), "Medium");
    teardown();
}

/* Spamhaus' JSON lists raise with their SBL id as the category, IPv4 and IPv6. */
static void ti_spamhaus_json_list_gives_its_sbl_id(void)
{
    setup();
    load_list("spamhaus-drop",
              "{\"cidr\":\"45.140.8.0/22\",\"sblid\":\"SBL700101\",\"rir\":\"ripencc\"}\n"
              "{\"cidr\":\"2a0d:5e40::/29\",\"sblid\":\"SBL700201\",\"rir\":\"ripencc\"}\n"
              "{\"type\":\"metadata\",\"timestamp\":1765000000,\"records\":2}\n");
    int64_t a = device("dev-a", T0);
    flow(a, T0 - 30 * S, "45.140.9.7", 443, 0);
    flow(a, T0 - 30 * S, "2a0d:5e41::80", 443, 0);
    pass(T0);
    CHECK_STR(qs("SELECT group_concat(alert_key || '|' || json_extract(extended_properties, "
                 "'$.category'), ',') FROM (SELECT * FROM alerts WHERE alert_type = "
                 "'IoT_TiConnection' ORDER BY alert_key)"),
              "dev-a/2a0d:5e41::80|SBL700201,dev-a/45.140.9.7|SBL700101");
    CHECK(strstr(qs("SELECT description FROM alerts WHERE alert_key = 'dev-a/45.140.9.7'"),
                 "SBL700101") != NULL);
    teardown();
}

static void ti_matches_bogons_when_configured(void)
{
    setup();
    cfg.intel_match_bogons = true;
    load_list("bad", "10.0.0.0/8\n");
    int64_t a = device("dev-a", T0);
    flow(a, T0 - 20 * S, "10.1.2.3", 80, 0);
    pass(T0);
    CHECK_INT(OPEN("IoT_TiConnection"), 1);
    cfg.intel_match_bogons = false;
    teardown();
}

static const char allow_doc[] =
    "{\"name\": \"default\", \"properties\": {\"allowlistRules\": ["
    "{\"ruleType\": \"ConnectionToIpNotAllowed\", \"isEnabled\": true, "
    "\"allowlistValues\": [\"52.178.17.0/24\", \"192.168.0.1/16\"]},"
    "{\"ruleType\": \"ConnectionFromIpNotAllowed\", \"isEnabled\": true, "
    "\"allowlistValues\": [\"192.168.0.0/16\"]}]}}";

static void allow_lists_by_direction(void)
{
    setup();
    group(allow_doc);
    int64_t a = device("dev-a", T0);
    flow(a, T0 - 30 * S, "52.178.17.3", 8883, STORE_DIR_UNKNOWN); /* allowed */
    flow(a, T0 - 30 * S, "192.168.44.1", 53, STORE_DIR_OUT);     /* allowed: host bits cleared */
    flow(a, T0 - 30 * S, "93.184.216.34", 80, STORE_DIR_UNKNOWN); /* unknown counts as outbound */
    flow(a, T0 - 30 * S, "45.33.32.156", 22, STORE_DIR_IN);
    flow(a, T0 - 30 * S, "192.168.1.1", 22, STORE_DIR_IN);       /* allowed inbound */
    pass(T0);
    CHECK_STR(qs("SELECT group_concat(alert_type || '|' || alert_key, ',') FROM "
                 "(SELECT * FROM alerts ORDER BY alert_type)"),
              "IoT_CA_ConnectionFromIpNotAllowed|dev-a/45.33.32.156,"
              "IoT_CA_ConnectionToIpNotAllowed|dev-a/93.184.216.34");
    teardown();
}

static void flow_alert_repeats_then_resolves_after_ttl(void)
{
    setup();
    group(allow_doc);
    int64_t a = device("dev-a", T0);
    flow(a, T0 - 30 * S, "93.184.216.34", 80, STORE_DIR_OUT);
    pass(T0);
    flow(a, T0 + 3600 * S, "93.184.216.34", 80, STORE_DIR_OUT);
    pass(T0 + 3601 * S);
    CHECK_INT(q("SELECT count FROM alerts"), 2);
    CHECK_INT(q("SELECT end_ms FROM alerts"), T0 + 3600 * S);
    pass(T0 + 3600 * S + 86400 * S - 10 * S); /* inside the TTL of a day */
    CHECK_STR(qs("SELECT status FROM alerts"), "Active");
    pass(T0 + 3600 * S + 86400 * S + 10 * S);
    CHECK_STR(qs("SELECT status FROM alerts"), "Resolved");
    teardown();
}

/* ---- hub records ------------------------------------------------------------------------ */

static void auth_alerts_from_hub_records(void)
{
    setup();
    hubop(T0 - 5 * S, "Connections", "deviceConnect", "Failed", "SasTokenExpired", "d1", NULL);
    hubop(T0 - 5 * S, "Connections", "deviceConnect", "Failed", "SasTokenInvalidSignature", "d2", NULL);
    hubop(T0 - 5 * S, "Connections", "deviceConnect", "Failed", "X509ThumbprintMismatch", "d3", NULL);
    hubop(T0 - 5 * S, "Connections", "deviceConnect", "Failed", "X509CertificateExpired", "d4", NULL);
    hubop(T0 - 4 * S, "Connections", "deviceConnect", "Failed", "X509CertificateExpired", "d4", NULL);
    hubop(T0 - 5 * S, "Connections", "deviceConnect", "Succeeded", NULL, "d5", NULL);
    hubop(T0 - 5 * S, "Connections", "deviceConnect", "Unauthorized", "SasTokenExpired", "d6", NULL);
    pass(T0);
    CHECK_STR(qs("SELECT group_concat(alert_type || '|' || alert_key || '|' || count || '|' || severity, ',') "
                 "FROM (SELECT * FROM alerts ORDER BY alert_key)"),
              "IoT_Expired_SAS_Token|d1|1|Low,IoT_Invalid_SAS_Token|d2|1|Low,"
              "IoT_Cert_Print_Mismatch|d3|1|Medium,IoT_Cert_Expired|d4|2|Medium");
    CHECK_STR(qs("SELECT json_extract(extended_properties, '$.source_ip') FROM alerts LIMIT 1"),
              "192.0.2.10");
    teardown();
}

static void hub_control_plane_alerts_stay_until_dismissed(void)
{
    setup();
    hubop(T0 - 5 * S, "Certificates", "write", "Succeeded", NULL, NULL, "{\"certificateName\": \"rogue-ca\"}");
    hubop(T0 - 5 * S, "Certificates", "delete", "Succeeded", NULL, NULL, "{\"certificateName\": \"root\"}");
    hubop(T0 - 5 * S, "Certificates", "write", "Failed", NULL, NULL, "{\"certificateName\": \"bad\"}");
    hubop(T0 - 5 * S, "Certificates", "delete", "Failed", NULL, NULL, "{\"certificateName\": \"pin\"}");
    hubop(T0 - 5 * S, "DiagnosticSettings", "write", "Failed", NULL, NULL, "{\"settingName\": \"s1\"}");
    hubop(T0 - 5 * S, "DiagnosticSettings", "delete", "Succeeded", NULL, NULL, "{\"settingName\": \"s2\"}");
    pass(T0);
    CHECK_STR(qs("SELECT group_concat(alert_type || '|' || alert_key, ',') FROM "
                 "(SELECT * FROM alerts ORDER BY alert_id)"),
              "IoT_CertificateSuccessfullyAddedToHub|lab-hub/rogue-ca,"
              "IoT_CertificateSuccessfullyDeletedFromHub|lab-hub/root,"
              "IoT_CertificateFailedToBeAddedToHub|lab-hub/bad,"
              "IoT_CertificateFailedToBeDeletedFromHub|lab-hub/pin,"
              "IoT_DiagnosticSettingAddedOrEditedOnHub|lab-hub/s1,"
              "IoT_DiagnosticSettingDeletedFromHub|lab-hub/s2");
    CHECK_INT(q("SELECT count(*) FROM alerts WHERE device_id IS NULL AND hub = 'lab-hub'"), 6);
    pass(T0 + 400 * 86400 * S); /* a year later: still open */
    CHECK_INT(q("SELECT count(*) FROM alerts WHERE status = 'Active'"), 6);
    /* Dismissed, it absorbs repeats. */
    CHECK_INT(eval_alert_change(store_sqlite(st), 1, true, "expected rotation"), 0);
    hubop(T0 + 400 * 86400 * S + S, "Certificates", "write", "Succeeded", NULL, NULL,
          "{\"certificateName\": \"rogue-ca\"}");
    pass(T0 + 400 * 86400 * S + MIN);
    CHECK_STR(qs("SELECT status || ' ' || count FROM alerts WHERE alert_id = 1"), "Dismissed 2");
    CHECK_INT(q("SELECT count(*) FROM alerts"), 6);
    teardown();
}

static void diagnostic_state_follows_hub_records(void)
{
    setup();
    device("dev-a", T0);
    hubop(T0 - 5 * S, "DiagnosticSettings", "write", "Succeeded", NULL, NULL,
          "{\"settingName\": \"to-disk\", \"config\": {\"name\": \"to-disk\", \"logs\": [{\"category\": "
          "\"Connections\", \"enabled\": true, \"retentionPolicy\": {\"enabled\": true, \"days\": 365}}]}}");
    pass(T0);
    CHECK_INT(q("SELECT count(*) FROM hub_diagnostic_settings WHERE name = 'to-disk'"), 1);
    CHECK_INT(q("SELECT count(*) FROM recommendations WHERE rec_type = 'IoT_DiagnosticsLogs' AND state = 'Active'"), 0);
    hubop(T0 + 5 * S, "DiagnosticSettings", "delete", "Succeeded", NULL, NULL, "{\"settingName\": \"to-disk\"}");
    pass(T0 + MIN);
    CHECK_INT(q("SELECT count(*) FROM hub_diagnostic_settings"), 0);
    CHECK_INT(q("SELECT count(*) FROM recommendations WHERE rec_type = 'IoT_DiagnosticsLogs' AND state = 'Active'"), 1);
    teardown();
}

/* ---- device silent ---------------------------------------------------------------------- */

static void device_silent_raises_and_resolves(void)
{
    setup();
    cfg.evaluator_silent_after_ms = 3600 * S;
    device("dev-old", T0 - 3601 * S);
    device("dev-new", T0 - 3599 * S);
    pass(T0);
    CHECK_STR(qs("SELECT group_concat(alert_key) FROM alerts WHERE alert_type = 'IoT_DeviceSilent'"),
              "dev-old");
    pass(T0 + MIN);
    CHECK_INT(q("SELECT count(*) FROM alerts WHERE alert_type = 'IoT_DeviceSilent'"), 2);
    device("dev-old", T0 + 2 * MIN); /* it sends again */
    pass(T0 + 2 * MIN);
    CHECK_STR(qs("SELECT status FROM alerts WHERE alert_key = 'dev-old'"), "Resolved");
    CHECK_STR(qs("SELECT status FROM alerts WHERE alert_key = 'dev-new'"), "Active");
    cfg.evaluator_silent_after_ms = 72 * 3600 * S;
    teardown();
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static void dismiss_reactivate_and_clearing(void)
{
    setup();
    group(allow_doc);
    int64_t a = device("dev-a", T0);
    flow(a, T0 - 30 * S, "93.184.216.34", 80, STORE_DIR_OUT);
    pass(T0);
    CHECK_INT(eval_alert_change(store_sqlite(st), 1, false, NULL), 409); /* not dismissed */
    CHECK_INT(eval_alert_change(store_sqlite(st), 99, true, NULL), 404);
    CHECK_INT(eval_alert_change(store_sqlite(st), 1, true, "known CDN"), 0);
    CHECK_INT(eval_alert_change(store_sqlite(st), 1, true, NULL), 409);
    CHECK_INT(eval_alert_change(store_sqlite(st), 1, false, "not so sure"), 0);
    CHECK_INT(eval_alert_change(store_sqlite(st), 1, true, "ok, it is"), 0);
    /* A repeat is absorbed by the dismissed alert. */
    flow(a, T0 + 30 * S, "93.184.216.34", 80, STORE_DIR_OUT);
    pass(T0 + MIN);
    CHECK_STR(qs("SELECT status || ' ' || count FROM alerts"), "Dismissed 2");
    /* The condition clears after the TTL; a new occurrence opens a new alert. */
    pass(T0 + 2 * 86400 * S);
    CHECK_STR(qs("SELECT status FROM alerts"), "Resolved");
    flow(a, T0 + 2 * 86400 * S + 5 * S, "93.184.216.34", 80, STORE_DIR_OUT);
    pass(T0 + 2 * 86400 * S + MIN);
    CHECK_INT(q("SELECT count(*) FROM alerts"), 2);
    CHECK_STR(qs("SELECT group_concat(coalesce(from_status, '-') || '>' || to_status || ':' || "
                 "coalesce(note, ''), ',') FROM (SELECT * FROM alert_transitions WHERE alert_id = 1 ORDER BY id)"),
              "->Active:,Active>Dismissed:known CDN,Dismissed>Active:not so sure,"
              "Active>Dismissed:ok, it is,Dismissed>Resolved:no repeat within evaluator.event_alert_ttl");
    teardown();
}

static void transitions_go_to_the_outbox(void)
{
    setup();
    hubop(T0 - 5 * S, "Connections", "deviceConnect", "Failed", "SasTokenExpired", "dev/+#%", NULL);
    pass(T0);
    CHECK_STR(qs("SELECT topic FROM outbox"), "warden/alerts/IoT_Expired_SAS_Token/dev%2F%2B%23%25");
    CHECK_STR(qs("SELECT json_extract(payload, '$.alert_key') || ' ' || "
                 "json_extract(payload, '$.transition.to') || ' ' || json_extract(payload, '$.start_time') "
                 "FROM outbox"),
              "dev/+#% Active 2027-01-15T07:59:55.000Z");
    teardown();
}

static void restart_raises_nothing_twice(void)
{
    char err[256];

    setup();
    group(allow_doc);
    int64_t a = device("dev-a", T0);
    flow(a, T0 - 30 * S, "93.184.216.34", 80, STORE_DIR_OUT);
    hubop(T0 - 5 * S, "Connections", "deviceConnect", "Failed", "SasTokenExpired", "d1", NULL);
    pass(T0);
    eval_close(ev);
    ev = eval_open(&cfg, err, sizeof(err));
    CHECK_INT(eval_last_pass(ev), T0);
    pass(T0 + MIN);
    pass(T0 + MIN); /* the same pass again */
    CHECK_INT(q("SELECT count(*) FROM alerts"), 2);
    CHECK_INT(q("SELECT sum(count) FROM alerts"), 2);
    CHECK_INT(q("SELECT count(*) FROM alert_transitions"), 2);
    teardown();
}

static void recommendations_become_active_and_resolve(void)
{
    setup();
    device("dev-a", T0);
    pass(T0);
    /* No hub configuration: the default action is Allow, and no diagnostic logs. */
    CHECK_STR(qs("SELECT group_concat(rec_type || '|' || rec_key || '|' || state, ',') FROM "
                 "(SELECT * FROM recommendations ORDER BY rec_type)"),
              "IoT_DiagnosticsLogs|lab-hub|Active,IoT_IPFilter_DenyAll|lab-hub|Active");
    char path[96];
    snprintf(path, sizeof(path), "/tmp/warden-test-eval-hub-%d.json", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs("{\"name\": \"lab-hub\", \"properties\": {\"networkRuleSets\": {\"defaultAction\": \"Deny\", "
          "\"ipRules\": [{\"filterName\": \"wide\", \"action\": \"Allow\", \"ipMask\": \"10.0.0.0/8\"}]}}, "
          "\"diagnosticSettings\": [{\"name\": \"keep\", \"logs\": [{\"category\": \"Connections\", "
          "\"enabled\": true, \"retentionPolicy\": {\"enabled\": true, \"days\": 0}}]}]}",
          f);
    fclose(f);
    char *argv[] = {"hub", "import", path, NULL};
    CHECK_INT(import_cmd_hub(3, argv, st, &cfg), 0);
    unlink(path);
    pass(T0 + MIN);
    CHECK_STR(qs("SELECT group_concat(rec_type || '|' || rec_key || '|' || state, ',') FROM "
                 "(SELECT * FROM recommendations ORDER BY rec_id)"),
              "IoT_DiagnosticsLogs|lab-hub|Resolved,IoT_IPFilter_DenyAll|lab-hub|Resolved,"
              "IoT_IPFilter_PermissiveRule|lab-hub/wide|Active");
    teardown();
}

int main(void)
{
    log_set_level(LOG_WARN);
    RUN(window_exactly_max_is_in_range_one_over_raises);
    RUN(window_exactly_min_is_in_range_one_under_raises);
    RUN(window_edges_follow_bucket_starts);
    RUN(window_silence_counts_as_zero);
    RUN(window_unobservable_rules_never_raise);
    RUN(window_overlapping_warden_downtime_is_not_judged_on_min);
    RUN(window_alert_updates_then_resolves_then_reopens);
    RUN(window_rule_disabled_while_active_resolves);
    RUN(window_sums_move_with_the_window);
    RUN(window_every_rule_type_reads_its_metric);
    RUN(active_connections_count_distinct_flows);
    RUN(ti_listed_address_raises_and_bogons_are_skipped);
    RUN(ti_matches_bogons_when_configured);
    RUN(ti_spamhaus_json_list_gives_its_sbl_id);
    RUN(allow_lists_by_direction);
    RUN(flow_alert_repeats_then_resolves_after_ttl);
    RUN(auth_alerts_from_hub_records);
    RUN(hub_control_plane_alerts_stay_until_dismissed);
    RUN(diagnostic_state_follows_hub_records);
    RUN(device_silent_raises_and_resolves);
    RUN(dismiss_reactivate_and_clearing);
    RUN(transitions_go_to_the_outbox);
    RUN(restart_raises_nothing_twice);
    RUN(recommendations_become_active_and_resolve);
    return CHECK_DONE();
}
