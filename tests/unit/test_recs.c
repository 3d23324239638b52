/*
 * Unit tests of the recommendations assessment (evaluator/recs.c, SPEC
 * 5.3): each of the four types true and false, at their boundaries (prefix
 * 16 is not permissive and 15 is; retention 365 days satisfies and 364 does
 * not; 0 days is forever; a disabled log category does not count), shared
 * credentials across kinds, and switching types off. Run from the
 * repository root.
 */
#include "../../evaluator/evaluator.h"
#include "../../imports/imports.h"
#include "../../evaluator/recs.h"
#include "eval_helpers.h"

struct assessed {
    struct rec *v;
    size_t n;
};

static void assess_with(struct tdb *t, const struct recs_config *cfg, struct assessed *a)
{
    char err[512];

    if (!recs_assess(t->db, cfg, &a->v, &a->n, err, sizeof(err))) {
        fprintf(stderr, "  recs_assess: %s\n", err);
        check_failures++;
        a->v = NULL;
        a->n = 0;
    }
}

static void assess(struct tdb *t, struct assessed *a)
{
    struct recs_config cfg;

    recs_config_defaults(&cfg);
    assess_with(t, &cfg, a);
}

static void done(struct assessed *a)
{
    recs_free(a->v, a->n);
}

static const struct rec *find(const struct assessed *a, const char *type, const char *key)
{
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->v[i].type, type) == 0 && strcmp(a->v[i].key, key) == 0)
            return &a->v[i];
    }
    return NULL;
}

static size_t count_type(const struct assessed *a, const char *type)
{
    size_t n = 0;

    for (size_t i = 0; i < a->n; i++)
        n += strcmp(a->v[i].type, type) == 0;
    return n;
}

/* `warden hub import` of json for hub (the lab has one hub; --hub names the others). */
static void hub_doc(struct tdb *t, const char *hub, const char *json)
{
    struct config cfg;
    char path[256];
    char *argv[] = {"hub", "import", path, "--hub", (char *)hub, NULL};
    int rc;

    config_defaults(&cfg);
    snprintf(cfg.db_path, sizeof(cfg.db_path), "%s", t->path);
    tdb_file(t, "hub.json", json, path, sizeof(path));
    capture_begin(t);
    rc = import_cmd_hub(5, argv, t->s, &cfg);
    capture_end(t);
    if (rc != 0) {
        fprintf(stderr, "  hub import: %s", t->err);
        check_failures++;
    }
}

/* A hub whose network configuration is one rule list (either form) after a default. */
static void filter(struct tdb *t, const char *hub, const char *properties)
{
    char json[4096];

    snprintf(json, sizeof(json), "{\"name\": \"%s\", \"properties\": %s}", hub, properties);
    hub_doc(t, hub, json);
}

/* A hub with one diagnostic setting holding one log category. */
static void diag(struct tdb *t, const char *hub, const char *log)
{
    char json[4096];

    snprintf(json, sizeof(json),
             "{\"name\": \"%s\", \"diagnosticSettings\": [{\"name\": \"s\","
             " \"logs\": [%s]}]}",
             hub, log);
    hub_doc(t, hub, json);
}

static void add_device(struct tdb *t, const char *id, const char *hub)
{
    char sql[512];

    snprintf(sql, sizeof(sql),
             "INSERT INTO devices (device_id, hub, first_seen_ms, last_seen_ms)"
             " VALUES ('%s', '%s', 0, 0)",
             id, hub);
    sql_exec(t, sql);
}

static void add_cred(struct tdb *t, const char *id, const char *kind, const char *fp)
{
    char sql[512];

    snprintf(sql, sizeof(sql),
             "INSERT INTO device_credentials (device_id, kind, fingerprint)"
             " VALUES ('%s', '%s', '%s')",
             id, kind, fp);
    sql_exec(t, sql);
}

static void test_display_names_and_severities(void)
{
    CHECK_STR(rec_display_name("IoT_SharedCredentials"),
              "Identical authentication credentials used by multiple devices");
    CHECK_STR(rec_severity("IoT_SharedCredentials"), "High");
    CHECK_STR(rec_display_name("IoT_IPFilter_DenyAll"), "Default IP filter policy should be deny");
    CHECK_STR(rec_severity("IoT_IPFilter_DenyAll"), "Medium");
    CHECK_STR(rec_display_name("IoT_IPFilter_PermissiveRule"),
              "IP filter rule includes large IP range");
    CHECK_STR(rec_severity("IoT_IPFilter_PermissiveRule"), "Medium");
    CHECK_STR(rec_display_name("IoT_DiagnosticsLogs"), "Enable diagnostics logs in IoT Hub");
    CHECK_STR(rec_severity("IoT_DiagnosticsLogs"), "Low");
    CHECK(rec_display_name("IoT_Unknown") == NULL && rec_severity("IoT_Unknown") == NULL);
}

static void test_shared_key_flags_both_devices(void)
{
    struct tdb t;
    struct assessed a;
    const struct rec *r;
    char *argv[] = {"registry", "import", "tests/fixtures/registry/iothub_export.json", NULL};

    tdb_open(&t);
    capture_begin(&t);
    CHECK_INT(import_cmd_registry(3, argv, t.s, &t.cfg), 0);
    capture_end(&t);
    assess(&t, &a);
    CHECK_INT(count_type(&a, REC_SHARED_CREDENTIALS), 2);
    r = find(&a, REC_SHARED_CREDENTIALS, "sensor-01");
    CHECK(r != NULL);
    if (r != NULL) {
        CHECK_STR(r->device_id, "sensor-01");
        CHECK_STR(r->hub, "lab-hub");
        CHECK_STR(r->additional_data,
                  "{\"devices\":[\"sensor-03\"],\"credentials\":[{\"kind\":\"sas_primary\","
                  "\"shared_with\":[{\"device_id\":\"sensor-03\",\"kind\":\"sas_primary\"}],"
                  "\"shared_with_devices\":1}]}");
    }
    CHECK(find(&a, REC_SHARED_CREDENTIALS, "sensor-03") != NULL);
    CHECK(find(&a, REC_SHARED_CREDENTIALS, "sensor-02") == NULL);
    CHECK(find(&a, REC_SHARED_CREDENTIALS, "gateway-01") == NULL);
    done(&a);
    tdb_close(&t);
}

static void test_shared_credentials_across_kinds(void)
{
    static const char fp[] = "6f37088e83d8d0b395ae724ba2186435f3e59eef875bfe89c65758c24d367fde";
    struct tdb t;
    struct assessed a;
    const struct rec *r;

    tdb_open(&t);
    add_device(&t, "cert-dev", "hub-a");
    add_device(&t, "key-dev", "hub-b");
    add_device(&t, "alone", "hub-a");
    add_cred(&t, "cert-dev", "x509_primary", fp);
    add_cred(&t, "key-dev", "sas_secondary", fp);
    /* One device's primary equal to its own secondary shares with no one. */
    add_cred(&t, "alone", "sas_primary", "aa");
    add_cred(&t, "alone", "sas_secondary", "aa");
    assess(&t, &a);
    CHECK_INT(count_type(&a, REC_SHARED_CREDENTIALS), 2);
    r = find(&a, REC_SHARED_CREDENTIALS, "cert-dev");
    CHECK(r != NULL);
    if (r != NULL) {
        CHECK_STR(r->hub, "hub-a");
        CHECK_CONTAINS(r->additional_data,
                       "{\"kind\":\"x509_primary\",\"shared_with\":"
                       "[{\"device_id\":\"key-dev\",\"kind\":\"sas_secondary\"}]");
    }
    r = find(&a, REC_SHARED_CREDENTIALS, "key-dev");
    CHECK(r != NULL && strcmp(r->hub, "hub-b") == 0);
    CHECK(find(&a, REC_SHARED_CREDENTIALS, "alone") == NULL);
    done(&a);
    tdb_close(&t);
}

static void test_shared_credentials_listing_is_bounded(void)
{
    struct tdb t;
    struct assessed a;
    const struct rec *r;

    tdb_open(&t);
    sql_exec(&t, "BEGIN");
    for (int i = 0; i < 30; i++) {
        char id[32];
        snprintf(id, sizeof(id), "sim-%02d", i);
        add_device(&t, id, "lab-hub");
        add_cred(&t, id, "sas_primary", "same-key");
    }
    sql_exec(&t, "COMMIT");
    assess(&t, &a);
    CHECK_INT(count_type(&a, REC_SHARED_CREDENTIALS), 30);
    r = find(&a, REC_SHARED_CREDENTIALS, "sim-00");
    CHECK(r != NULL);
    if (r != NULL) {
        CHECK_CONTAINS(r->additional_data, "\"shared_with_devices\":29");
        CHECK_CONTAINS(r->additional_data, "\"sim-20\"");
        CHECK(strstr(r->additional_data, "\"sim-21\"") == NULL); /* 20 listed: sim-01..sim-20 */
    }
    done(&a);
    tdb_close(&t);
}

static void test_deny_all_without_configuration(void)
{
    struct tdb t;
    struct assessed a;
    const struct rec *r;

    tdb_open(&t);
    add_device(&t, "d1", "lab-hub");
    assess(&t, &a);
    r = find(&a, REC_IPFILTER_DENY_ALL, "lab-hub");
    CHECK(r != NULL);
    if (r != NULL) {
        CHECK_STR(r->device_id, "");
        CHECK_STR(r->hub, "lab-hub");
        CHECK_STR(r->additional_data, "{\"filter\":\"none\",\"default_action\":\"Allow\"}");
    }
    done(&a);
    tdb_close(&t);
}

static void test_deny_all_network_rule_sets(void)
{
    struct tdb t;
    struct assessed a;

    tdb_open(&t);
    filter(&t, "deny-with-rule",
           "{\"networkRuleSets\": {\"defaultAction\": \"Deny\", \"ipRules\":"
           " [{\"filterName\": \"lab\", \"action\": \"Allow\","
           " \"ipMask\": \"192.168.10.0/24\"}]}}");
    filter(&t, "deny-no-rules", "{\"networkRuleSets\": {\"defaultAction\": \"Deny\"}}");
    filter(&t, "allow-with-rule",
           "{\"networkRuleSets\": {\"defaultAction\": \"Allow\", \"ipRules\":"
           " [{\"filterName\": \"lab\", \"action\": \"Allow\","
           " \"ipMask\": \"192.168.10.0/24\"}]}}");
    filter(&t, "empty", "{}");
    assess(&t, &a);
    CHECK(find(&a, REC_IPFILTER_DENY_ALL, "deny-with-rule") == NULL);
    CHECK(find(&a, REC_IPFILTER_DENY_ALL, "deny-no-rules") != NULL);
    CHECK(find(&a, REC_IPFILTER_DENY_ALL, "allow-with-rule") != NULL);
    CHECK(find(&a, REC_IPFILTER_DENY_ALL, "empty") != NULL);
    CHECK_INT(count_type(&a, REC_IPFILTER_DENY_ALL), 3);
    {
        const struct rec *r = find(&a, REC_IPFILTER_DENY_ALL, "allow-with-rule");
        CHECK(r != NULL &&
              strcmp(r->additional_data, "{\"filter\":\"networkRuleSets\","
                                         "\"default_action\":\"Allow\",\"rules\":1}") == 0);
    }
    done(&a);
    tdb_close(&t);
}

static void test_deny_all_older_ip_filter_rules(void)
{
    struct tdb t;
    struct assessed a;

    tdb_open(&t);
    filter(&t, "catch-all-last",
           "{\"ipFilterRules\": ["
           "{\"filterName\": \"a\", \"action\": \"Accept\", \"ipMask\": \"10.0.0.0/24\"},"
           "{\"filterName\": \"z\", \"action\": \"Reject\", \"ipMask\": \"0.0.0.0/0\"}]}");
    filter(&t, "no-catch-all",
           "{\"ipFilterRules\": ["
           "{\"filterName\": \"a\", \"action\": \"Accept\", \"ipMask\": \"10.0.0.0/24\"},"
           "{\"filterName\": \"z\", \"action\": \"Reject\", \"ipMask\": \"0.0.0.0/1\"}]}");
    filter(&t, "catch-all-first",
           "{\"ipFilterRules\": ["
           "{\"filterName\": \"z\", \"action\": \"Reject\", \"ipMask\": \"0.0.0.0/0\"},"
           "{\"filterName\": \"a\", \"action\": \"Accept\", \"ipMask\": \"10.0.0.0/24\"}]}");
    filter(&t, "accept-only",
           "{\"ipFilterRules\": ["
           "{\"filterName\": \"a\", \"action\": \"Accept\", \"ipMask\": \"10.0.0.0/24\"}]}");
    filter(&t, "no-rules", "{\"ipFilterRules\": []}");
    assess(&t, &a);
    CHECK(find(&a, REC_IPFILTER_DENY_ALL, "catch-all-last") == NULL);
    CHECK(find(&a, REC_IPFILTER_DENY_ALL, "no-catch-all") != NULL);
    CHECK(find(&a, REC_IPFILTER_DENY_ALL, "catch-all-first") !=
          NULL); /* accepts nothing: no rules */
    CHECK(find(&a, REC_IPFILTER_DENY_ALL, "accept-only") != NULL);
    CHECK(find(&a, REC_IPFILTER_DENY_ALL, "no-rules") != NULL);
    done(&a);
    /* With both forms, networkRuleSets is the one in force. */
    filter(&t, "both",
           "{\"networkRuleSets\": {\"defaultAction\": \"Allow\"}, \"ipFilterRules\": ["
           "{\"filterName\": \"a\", \"action\": \"Accept\", \"ipMask\": \"10.0.0.0/24\"},"
           "{\"filterName\": \"z\", \"action\": \"Reject\", \"ipMask\": \"0.0.0.0/0\"}]}");
    assess(&t, &a);
    CHECK(find(&a, REC_IPFILTER_DENY_ALL, "both") != NULL);
    done(&a);
    tdb_close(&t);
}

static void test_permissive_rule_prefix_boundaries(void)
{
    struct tdb t;
    struct assessed a;
    const struct rec *r;

    tdb_open(&t);
    filter(&t, "lab-hub",
           "{\"networkRuleSets\": {\"defaultAction\": \"Deny\", \"ipRules\": ["
           "{\"filterName\": \"v4-16\", \"action\": \"Allow\", \"ipMask\": \"10.1.0.0/16\"},"
           "{\"filterName\": \"v4-15\", \"action\": \"Allow\", \"ipMask\": \"10.2.0.0/15\"},"
           "{\"filterName\": \"v6-48\", \"action\": \"Allow\", \"ipMask\": \"2001:db8:1::/48\"},"
           "{\"filterName\": \"v6-47\", \"action\": \"Allow\", \"ipMask\": \"2001:db8:2::/47\"},"
           "{\"filterName\": \"host\", \"action\": \"Allow\", \"ipMask\": \"203.0.113.9\"}]}}");
    assess(&t, &a);
    CHECK_INT(count_type(&a, REC_IPFILTER_PERMISSIVE), 2);
    CHECK(find(&a, REC_IPFILTER_PERMISSIVE, "lab-hub/v4-16") == NULL);
    CHECK(find(&a, REC_IPFILTER_PERMISSIVE, "lab-hub/v6-48") == NULL);
    r = find(&a, REC_IPFILTER_PERMISSIVE, "lab-hub/v4-15");
    CHECK(r != NULL);
    if (r != NULL) {
        CHECK_STR(r->hub, "lab-hub");
        CHECK_STR(r->device_id, "");
        CHECK_STR(r->additional_data, "{\"filter_name\":\"v4-15\",\"ip_mask\":\"10.2.0.0/15\","
                                      "\"filter\":\"networkRuleSets\",\"prefix\":15,"
                                      "\"max_allow_prefix\":16}");
    }
    CHECK(find(&a, REC_IPFILTER_PERMISSIVE, "lab-hub/v6-47") != NULL);
    done(&a);
    tdb_close(&t);
}

static void test_permissive_rule_config_and_older_form(void)
{
    struct tdb t;
    struct assessed a;
    struct recs_config cfg;

    tdb_open(&t);
    filter(&t, "old-hub",
           "{\"ipFilterRules\": ["
           "{\"filterName\": \"wide\", \"action\": \"Accept\", \"ipMask\": \"172.16.0.0/12\"},"
           "{\"filterName\": \"narrow\", \"action\": \"Accept\", \"ipMask\": \"192.168.1.0/24\"},"
           "{\"filterName\": \"z\", \"action\": \"Reject\", \"ipMask\": \"0.0.0.0/0\"}]}");
    assess(&t, &a);
    /* A Reject rule is never permissive, however wide. */
    CHECK_INT(count_type(&a, REC_IPFILTER_PERMISSIVE), 1);
    CHECK(find(&a, REC_IPFILTER_PERMISSIVE, "old-hub/wide") != NULL);
    done(&a);
    recs_config_defaults(&cfg);
    cfg.max_allow_prefix_v4 = 25;
    assess_with(&t, &cfg, &a);
    CHECK_INT(count_type(&a, REC_IPFILTER_PERMISSIVE), 2);
    CHECK(find(&a, REC_IPFILTER_PERMISSIVE, "old-hub/narrow") != NULL);
    done(&a);
    tdb_close(&t);
}

static void test_diagnostics_retention_boundaries(void)
{
    static const struct {
        const char *hub, *log;
        bool active;
    } cases[] = {
        {"days-365",
         "{\"category\": \"Connections\", \"enabled\": true, \"retentionPolicy\":"
         " {\"enabled\": true, \"days\": 365}}",
         false},
        {"days-364",
         "{\"category\": \"Connections\", \"enabled\": true, \"retentionPolicy\":"
         " {\"enabled\": true, \"days\": 364}}",
         true},
        {"days-0",
         "{\"category\": \"Connections\", \"enabled\": true, \"retentionPolicy\":"
         " {\"enabled\": true, \"days\": 0}}",
         false},
        {"retention-off",
         "{\"category\": \"Connections\", \"enabled\": true, \"retentionPolicy\":"
         " {\"enabled\": false, \"days\": 30}}",
         false},
        {"no-retention", "{\"category\": \"DeviceTelemetry\", \"enabled\": true}", false},
        {"disabled-log",
         "{\"category\": \"Connections\", \"enabled\": false, \"retentionPolicy\":"
         " {\"enabled\": true, \"days\": 365}}",
         true},
        {"group-all-logs", "{\"categoryGroup\": \"allLogs\", \"enabled\": true}", false},
    };
    struct tdb t;
    struct assessed a;

    tdb_open(&t);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        diag(&t, cases[i].hub, cases[i].log);
    add_device(&t, "d1", "no-settings");
    assess(&t, &a);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool active = find(&a, REC_DIAGNOSTICS_LOGS, cases[i].hub) != NULL;
        if (active != cases[i].active)
            fprintf(stderr, "  hub %s: IoT_DiagnosticsLogs %s\n", cases[i].hub,
                    active ? "active" : "not active");
        CHECK(active == cases[i].active);
    }
    {
        const struct rec *r = find(&a, REC_DIAGNOSTICS_LOGS, "no-settings");
        CHECK(r != NULL && strcmp(r->additional_data, "{\"settings\":0,\"reason\":\"the hub has "
                                                      "no diagnostic setting\"}") == 0);
    }
    done(&a);
    /* One good setting among bad ones is enough. */
    hub_doc(&t, "days-364",
            "{\"name\": \"days-364\", \"diagnosticSettings\": [{\"name\": \"short\", \"logs\":"
            " [{\"category\": \"C2DCommands\", \"enabled\": true, \"retentionPolicy\":"
            " {\"enabled\": true, \"days\": 7}}]}, {\"name\": \"archive\", \"logs\":"
            " [{\"category\": \"Connections\", \"enabled\": true, \"retentionPolicy\":"
            " {\"enabled\": true, \"days\": 400}}]}]}");
    assess(&t, &a);
    CHECK(find(&a, REC_DIAGNOSTICS_LOGS, "days-364") == NULL);
    done(&a);
    tdb_close(&t);
}

static void test_types_switch_off_and_results_sorted(void)
{
    struct tdb t;
    struct assessed a;
    struct recs_config cfg;

    tdb_open(&t);
    add_device(&t, "a", "hub-2");
    add_device(&t, "b", "hub-1");
    add_cred(&t, "a", "sas_primary", "k");
    add_cred(&t, "b", "sas_primary", "k");
    filter(&t, "hub-3",
           "{\"networkRuleSets\": {\"defaultAction\": \"Allow\", \"ipRules\": ["
           "{\"filterName\": \"all\", \"action\": \"Allow\", \"ipMask\": \"0.0.0.0/0\"}]}}");
    assess(&t, &a);
    /* 2 shared, 3 deny-all, 1 permissive, 3 diagnostics; sorted by type, then key. */
    CHECK_INT(a.n, 9);
    for (size_t i = 1; i < a.n; i++) {
        int c = strcmp(a.v[i - 1].type, a.v[i].type);
        CHECK(c < 0 || (c == 0 && strcmp(a.v[i - 1].key, a.v[i].key) < 0));
    }
    done(&a);
    recs_config_defaults(&cfg);
    cfg.shared_credentials = false;
    cfg.ipfilter_deny_all = false;
    cfg.diagnostics_logs = false;
    assess_with(&t, &cfg, &a);
    CHECK_INT(a.n, 1);
    CHECK(a.n == 1 && strcmp(a.v[0].type, REC_IPFILTER_PERMISSIVE) == 0 &&
          strcmp(a.v[0].key, "hub-3/all") == 0);
    done(&a);
    cfg.ipfilter_permissive = false;
    assess_with(&t, &cfg, &a);
    CHECK_INT(a.n, 0);
    CHECK(a.v == NULL);
    done(&a);
    tdb_close(&t);
}

static void test_broken_stored_document_names_hub(void)
{
    struct tdb t;
    struct recs_config cfg;
    struct rec *v;
    size_t n;
    char err[512] = "";

    tdb_open(&t);
    sql_exec(&t, "INSERT INTO hub_config (hub, config_json, updated_ms)"
                 " VALUES ('hand-edited', '{\"ipFilterRules\": 3}', 0)");
    recs_config_defaults(&cfg);
    CHECK(!recs_assess(t.db, &cfg, &v, &n, err, sizeof(err)));
    CHECK(v == NULL && n == 0);
    CHECK_CONTAINS(err, "hub hand-edited: stored configuration");
    tdb_close(&t);
}

static void test_condition_functions_directly(void)
{
    struct recs_config cfg;
    struct hub_ip_rule r = {"r", true, {0}, 0};
    struct hub_diag_log log = {"Connections", false, true, true, true, 365};
    struct hub_diag_setting s = {"s", &log, 1, NULL};

    recs_config_defaults(&cfg);
    CHECK(recs_deny_all_holds(NULL));
    ip_parse("10.0.0.0", &r.net);
    r.prefix = 16;
    CHECK(!recs_rule_permissive(&r, &cfg));
    r.prefix = 15;
    CHECK(recs_rule_permissive(&r, &cfg));
    r.allow = false;
    CHECK(!recs_rule_permissive(&r, &cfg));
    CHECK(recs_setting_keeps_logs(&s));
    log.retention_days = 364;
    CHECK(!recs_setting_keeps_logs(&s));
    log.retention_days = 0;
    CHECK(recs_setting_keeps_logs(&s));
    log.enabled = false;
    CHECK(!recs_setting_keeps_logs(&s));
}

int main(void)
{
    RUN(test_display_names_and_severities);
    RUN(test_shared_key_flags_both_devices);
    RUN(test_shared_credentials_across_kinds);
    RUN(test_shared_credentials_listing_is_bounded);
    RUN(test_deny_all_without_configuration);
    RUN(test_deny_all_network_rule_sets);
    RUN(test_deny_all_older_ip_filter_rules);
    RUN(test_permissive_rule_prefix_boundaries);
    RUN(test_permissive_rule_config_and_older_form);
    RUN(test_diagnostics_retention_boundaries);
    RUN(test_types_switch_off_and_results_sorted);
    RUN(test_broken_stored_document_names_hub);
    RUN(test_condition_functions_directly);
    return CHECK_DONE();
}
