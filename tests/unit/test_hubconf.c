/*
 * Unit tests of the hub configuration import (imports/hubconf.c, SPEC
 * 4.3): both IP filter forms, diagnostic settings, what is kept (and what
 * of an export is not), rejections that name the rule or setting, and
 * `warden hub import` against a scratch database. Run from the repository
 * root.
 */
#include "../../evaluator/evaluator.h"
#include "../../imports/imports.h"
#include "../../imports/hubctl.h"
#include "../../evaluator/recs.h"
#include "eval_helpers.h"

static bool parse_text(const char *json, struct hub_doc *doc, char *err, size_t errlen)
{
    return hubconf_parse(json, strlen(json), "lab-hub", doc, err, errlen);
}

static void rule_text(const struct hub_ip_rule *r, char *out, size_t len)
{
    char ip[64];

    ip_format(&r->net, ip, sizeof(ip));
    snprintf(out, len, "%s %s %s/%d", r->name, r->allow ? "allow" : "deny", ip, r->prefix);
}

static int hub_import(struct tdb *t, const char *path)
{
    struct config cfg;
    char *argv[] = {"hub", "import", (char *)path, NULL};
    int rc;

    config_defaults(&cfg);
    snprintf(cfg.hub_name, sizeof(cfg.hub_name), "configured-hub");
    snprintf(cfg.db_path, sizeof(cfg.db_path), "%s", t->path);
    capture_begin(t);
    rc = import_cmd_hub(3, argv, t->s, &cfg);
    capture_end(t);
    return rc;
}

static int hub_import_text(struct tdb *t, const char *json)
{
    char path[256];

    tdb_file(t, "hub.json", json, path, sizeof(path));
    return hub_import(t, path);
}

static void expect_rejected(const char *json, const char *needle)
{
    struct hub_doc doc;
    char err[512] = "";

    CHECK(!parse_text(json, &doc, err, sizeof(err)));
    CHECK_CONTAINS(err, needle);
    CHECK(doc.props_json == NULL && doc.settings == NULL && doc.props.ip_rules == NULL);
}

static void test_network_rule_sets_parsed(void)
{
    struct hub_doc doc;
    size_t len;
    char *buf = slurp("tests/fixtures/hubconf/network_rule_sets.json", &len), err[256], r[128];

    CHECK(hubconf_parse(buf, len, "default-hub", &doc, err, sizeof(err)));
    CHECK_STR(doc.hub, "default-hub"); /* the hub it is imported for */
    CHECK_STR(doc.named, "lab-hub");   /* the one the document names */
    CHECK(doc.kind == HUB_DOC_HUB);
    CHECK(doc.has_props && doc.props.has_network_rule_sets && !doc.props.has_ip_filter_rules);
    CHECK(doc.props.default_deny);
    CHECK_INT(doc.props.n_ip_rules, 3);
    if (doc.props.n_ip_rules == 3) {
        rule_text(&doc.props.ip_rules[0], r, sizeof(r));
        CHECK_STR(r, "lab allow 192.168.10.0/24");
        rule_text(&doc.props.ip_rules[1], r, sizeof(r));
        CHECK_STR(r, "office allow 10.20.0.0/15");
        rule_text(&doc.props.ip_rules[2], r, sizeof(r));
        CHECK_STR(r, "v6-site allow 2001:db8:abcd::/48");
    }
    /* Only what Warden reads is kept: no routing, no connection strings. */
    CHECK_STR(
        doc.props_json,
        "{\"networkRuleSets\":{\"defaultAction\":\"Deny\",\"ipRules\":["
        "{\"filterName\":\"lab\",\"action\":\"Allow\",\"ipMask\":\"192.168.10.0/24\"},"
        "{\"filterName\":\"office\",\"action\":\"Allow\",\"ipMask\":\"10.20.0.0/15\"},"
        "{\"filterName\":\"v6-site\",\"action\":\"Allow\",\"ipMask\":\"2001:db8:abcd::/48\"}]}}");
    CHECK(doc.has_settings);
    CHECK_INT(doc.nsettings, 1);
    if (doc.nsettings == 1) {
        const struct hub_diag_setting *s = &doc.settings[0];
        CHECK_STR(s->name, "to-disk");
        CHECK_INT(s->nlogs, 2);
        CHECK(s->nlogs == 2 && s->logs[0].enabled && s->logs[0].has_retention &&
              s->logs[0].retention_enabled && s->logs[0].retention_days == 365);
        CHECK(s->nlogs == 2 && !s->logs[1].enabled);
        CHECK_STR(s->json, "{\"name\":\"to-disk\",\"logs\":[{\"category\":\"Connections\","
                           "\"enabled\":true,\"retentionPolicy\":{\"enabled\":true,\"days\":365}},"
                           "{\"category\":\"DeviceTelemetry\",\"enabled\":false,"
                           "\"retentionPolicy\":{\"enabled\":false,\"days\":0}}]}");
    }
    hubconf_free(&doc);
    free(buf);
}

static void test_ip_filter_rules_parsed(void)
{
    struct hub_doc doc;
    size_t len;
    char *buf = slurp("tests/fixtures/hubconf/ip_filter_rules.json", &len), err[256], r[128];

    CHECK(hubconf_parse(buf, len, "default-hub", &doc, err, sizeof(err)));
    CHECK_STR(doc.hub, "default-hub");
    CHECK_STR(doc.named, "old-hub");
    CHECK(!doc.props.has_network_rule_sets && doc.props.has_ip_filter_rules);
    CHECK_INT(doc.props.n_ip_filter_rules, 3);
    if (doc.props.n_ip_filter_rules == 3) {
        rule_text(&doc.props.ip_filter_rules[0], r, sizeof(r));
        CHECK_STR(r, "bench allow 192.168.10.7/32");
        rule_text(&doc.props.ip_filter_rules[2], r, sizeof(r));
        CHECK_STR(r, "everything-else deny 0.0.0.0/0");
    }
    CHECK_CONTAINS(doc.props_json, "{\"filterName\":\"everything-else\",\"action\":\"Reject\","
                                   "\"ipMask\":\"0.0.0.0/0\"}");
    hubconf_free(&doc);
    free(buf);
}

static void test_stored_documents_parse_back(void)
{
    struct hub_doc doc;
    struct hub_props p;
    struct hub_diag_setting s;
    size_t len;
    char *buf = slurp("tests/fixtures/hubconf/network_rule_sets.json", &len), err[256];

    CHECK(hubconf_parse(buf, len, "lab-hub", &doc, err, sizeof(err)));
    CHECK(hub_props_parse(doc.props_json, strlen(doc.props_json), &p, err, sizeof(err)));
    CHECK(p.has_network_rule_sets && p.default_deny && p.n_ip_rules == 3);
    CHECK(p.n_ip_rules == 3 &&
          memcmp(p.ip_rules, doc.props.ip_rules, 3 * sizeof(*p.ip_rules)) == 0);
    hub_props_free(&p);
    CHECK(hub_setting_parse(doc.settings[0].json, strlen(doc.settings[0].json), &s, err,
                            sizeof(err)));
    CHECK_STR(s.json, doc.settings[0].json);
    CHECK_INT(s.nlogs, 2);
    hub_setting_free(&s);
    hubconf_free(&doc);
    free(buf);
}

static void test_bad_actions_rejected(void)
{
    expect_rejected(
        "{\"properties\": {\"networkRuleSets\": {\"defaultAction\": \"Deny\", \"ipRules\":"
        " [{\"filterName\": \"block\", \"action\": \"Deny\", \"ipMask\": \"1.2.3.4\"}]}}}",
        "properties.networkRuleSets.ipRules[0] (\"block\"): action must be Allow");
    expect_rejected("{\"properties\": {\"ipFilterRules\": [{\"filterName\": \"a\", \"action\": "
                    "\"Accept\", \"ipMask\": \"1.2.3.4\"}, {\"filterName\": \"b\", \"action\": "
                    "\"Allow\", \"ipMask\": \"1.2.3.5\"}]}}",
                    "properties.ipFilterRules[1] (\"b\"): action must be Accept or Reject");
    expect_rejected("{\"properties\": {\"networkRuleSets\": {\"defaultAction\": \"Block\"}}}",
                    "properties.networkRuleSets: defaultAction must be Allow or Deny");
    expect_rejected("{\"properties\": {\"networkRuleSets\": {\"ipRules\": []}}}",
                    "defaultAction must be Allow or Deny");
}

static void test_bad_masks_rejected(void)
{
    expect_rejected(
        "{\"properties\": {\"networkRuleSets\": {\"defaultAction\": \"Deny\", \"ipRules\":"
        " [{\"filterName\": \"wide\", \"action\": \"Allow\", \"ipMask\": \"10.0.0.0/40\"}]}}}",
        "ipRules[0] (\"wide\"): ipMask is not an IP address or CIDR");
    expect_rejected("{\"properties\": {\"ipFilterRules\": [{\"filterName\": \"x\", \"action\": "
                    "\"Reject\", \"ipMask\": \"any\"}]}}",
                    "ipFilterRules[0] (\"x\"): ipMask is not an IP address or CIDR");
    expect_rejected("{\"properties\": {\"ipFilterRules\": [{\"filterName\": \"x\", \"action\": "
                    "\"Reject\"}]}}",
                    "ipFilterRules[0] (\"x\"): ipMask is required");
    expect_rejected("{\"properties\": {\"ipFilterRules\": [{\"action\": \"Reject\", \"ipMask\": "
                    "\"1.1.1.1\"}]}}",
                    "ipFilterRules[0]: filterName is required");
    expect_rejected("{\"properties\": {\"ipFilterRules\": [{\"filterName\": \"x\", \"action\": "
                    "\"Reject\", \"ipMask\": \"1.1.1.1\"}, {\"filterName\": \"x\", \"action\": "
                    "\"Accept\", \"ipMask\": \"1.1.1.2\"}]}}",
                    "ipFilterRules[1] (\"x\"): filterName is also rule 0");
    expect_rejected("{\"properties\": {\"ipFilterRules\": {}}}",
                    "properties.ipFilterRules: must be an array");
}

static void test_bad_settings_rejected(void)
{
    expect_rejected(
        "{\"diagnosticSettings\": [{\"name\": \"s\", \"logs\": [{\"category\": "
        "\"Connections\"}]}]}",
        "diagnosticSettings[0] (\"s\"): logs[0] (\"Connections\"): enabled is required");
    expect_rejected("{\"diagnosticSettings\": [{\"name\": \"s\", \"logs\": [{\"category\": "
                    "\"Connections\", \"enabled\": true, \"retentionPolicy\": {\"enabled\": true,"
                    " \"days\": -1}}]}]}",
                    "logs[0] (\"Connections\"): retentionPolicy: days must be an integer");
    expect_rejected("{\"diagnosticSettings\": [{\"name\": \"s\", \"logs\": [{\"category\": "
                    "\"Connections\", \"enabled\": true, \"retentionPolicy\": {\"days\": 30}}]}]}",
                    "retentionPolicy: enabled is required");
    expect_rejected(
        "{\"diagnosticSettings\": [{\"name\": \"s\", \"logs\": [{\"enabled\": true}]}]}",
        "diagnosticSettings[0] (\"s\"): logs[0]: needs a category or a categoryGroup");
    expect_rejected("{\"diagnosticSettings\": [{\"name\": \"s\"}, {\"name\": \"s\"}]}",
                    "diagnosticSettings[1] (\"s\"): name is also setting 0");
    expect_rejected("{\"diagnosticSettings\": [{\"logs\": []}]}",
                    "diagnosticSettings[0]: name is required");
    expect_rejected("{\"diagnosticSettings\": {}}", "diagnosticSettings: must be an array");
    expect_rejected("{\"name\": \"lab-hub\"}", "not a hub document; expected a hub");
    expect_rejected("{\"name\": \"a/b\", \"properties\": {}}", "name: not a valid hub name");
    expect_rejected("[{\"name\": \"x\"}]", "[0]: not a diagnostic setting");
}

static void test_import_writes_config_and_settings(void)
{
    struct tdb t;
    char text[2048];

    tdb_open(&t);
    CHECK_INT(hub_import(&t, "tests/fixtures/hubconf/network_rule_sets.json"), 0);
    CHECK_CONTAINS(t.out, "hub configured-hub: network rules (default Deny, 3 rules), 1 diagnostic "
                          "setting imported");
    /* The document names its hub "lab-hub": it is imported for the lab's, and says so. */
    CHECK_CONTAINS(t.out, "the document is for hub \"lab-hub\"; imported for \"configured-hub\"");
    sql_text(&t, "SELECT config_json FROM hub_config WHERE hub = ?1", "configured-hub", text,
             sizeof(text));
    CHECK_CONTAINS(text, "\"defaultAction\":\"Deny\"");
    CHECK(strstr(text, "AccountKey") == NULL && strstr(text, "routing") == NULL);
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM hub_diagnostic_settings WHERE hub = ?1",
                      "configured-hub"),
              1);
    CHECK_INT(sql_int(&t,
                      "SELECT json_extract(config_json, '$.logs[0].retentionPolicy.days') "
                      "FROM hub_diagnostic_settings WHERE name = ?1",
                      "to-disk"),
              365);
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM hub_config WHERE updated_ms > 0", NULL), 1);

    /* A document without a name is for hub.name. */
    CHECK_INT(hub_import_text(&t, "{\"properties\": {}}"), 0);
    CHECK_CONTAINS(t.out, "hub configured-hub: no IP filter imported");
    CHECK_STR(sql_text(&t, "SELECT config_json FROM hub_config WHERE hub = ?1", "configured-hub",
                       text, sizeof(text)),
              "{}");
    tdb_close(&t);
}

static void test_import_replaces_only_the_parts_given(void)
{
    struct tdb t;
    char before[2048], after[2048];

    tdb_open(&t);
    CHECK_INT(hub_import(&t, "tests/fixtures/hubconf/network_rule_sets.json"), 0);
    sql_text(&t, "SELECT config_json FROM hub_config WHERE hub = 'configured-hub'", NULL, before,
             sizeof(before));
    /* Diagnostic settings alone: the network configuration stays. */
    CHECK_INT(hub_import_text(&t, "{\"name\": \"lab-hub\", \"diagnosticSettings\": ["
                                  "{\"name\": \"a\", \"logs\": []}, {\"name\": \"b\"}]}"),
              0);
    sql_text(&t, "SELECT config_json FROM hub_config WHERE hub = 'configured-hub'", NULL, after,
             sizeof(after));
    CHECK_STR(after, before);
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM hub_diagnostic_settings WHERE hub = ?1",
                      "configured-hub"),
              2);
    CHECK_INT(
        sql_int(&t, "SELECT count(*) FROM hub_diagnostic_settings WHERE name = ?1", "to-disk"), 0);
    /* An empty list clears them. */
    CHECK_INT(hub_import_text(&t, "{\"name\": \"lab-hub\", \"diagnosticSettings\": []}"), 0);
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM hub_diagnostic_settings", NULL), 0);
    tdb_close(&t);
}

static void test_import_is_all_or_nothing(void)
{
    struct tdb t;
    char before[2048], after[2048];

    tdb_open(&t);
    CHECK_INT(hub_import(&t, "tests/fixtures/hubconf/network_rule_sets.json"), 0);
    sql_text(&t, "SELECT config_json FROM hub_config WHERE hub = 'configured-hub'", NULL, before,
             sizeof(before));
    /* Good properties, then a bad diagnostic setting: neither part is applied. */
    CHECK_INT(hub_import_text(&t, "{\"name\": \"lab-hub\", \"properties\": {\"networkRuleSets\": "
                                  "{\"defaultAction\": \"Allow\"}}, \"diagnosticSettings\": "
                                  "[{\"name\": \"x\", \"logs\": [{\"category\": \"C\", "
                                  "\"enabled\": 1}]}]}"),
              2);
    CHECK_CONTAINS(t.err, "diagnosticSettings[0] (\"x\"): logs[0] (\"C\"): enabled must be true or "
                          "false (nothing imported)");
    sql_text(&t, "SELECT config_json FROM hub_config WHERE hub = 'configured-hub'", NULL, after,
             sizeof(after));
    CHECK_STR(after, before);
    CHECK_INT(
        sql_int(&t, "SELECT count(*) FROM hub_diagnostic_settings WHERE name = ?1", "to-disk"), 1);
    {
        char *argv[] = {"hub", "import", NULL};
        struct config cfg;
        config_defaults(&cfg);
        capture_begin(&t);
        CHECK_INT(import_cmd_hub(2, argv, t.s, &cfg), 2);
        capture_end(&t);
        CHECK_CONTAINS(t.err, "usage: warden hub import FILE");
    }
    tdb_close(&t);
}

/* ---- documents as Azure writes them --------------------------------------------------- */

/* `warden hub ARGS... ` with hub.name configured-hub and the key store beside the database. */
static int hub_cmd(struct tdb *t, int argc, char **argv)
{
    struct config cfg;
    int rc;

    config_defaults(&cfg);
    snprintf(cfg.hub_name, sizeof(cfg.hub_name), "configured-hub");
    snprintf(cfg.db_path, sizeof(cfg.db_path), "%s", t->path);
    capture_begin(t);
    rc = hubctl_cmd(argc, argv, t->s, &cfg);
    capture_end(t);
    return rc;
}

/* Whether recommendation type is active for hub now (recs_assess, as a pass would run it). */
static bool rec_holds(struct tdb *t, const char *type, const char *hub)
{
    struct recs_config cfg;
    struct rec *recs;
    size_t n;
    char err[256];
    bool found = false;

    recs_config_defaults(&cfg);
    if (!recs_assess(t->db, &cfg, &recs, &n, err, sizeof(err))) {
        fprintf(stderr, "  recs_assess: %s\n", err);
        CHECK(!"recs_assess failed");
        return false;
    }
    for (size_t i = 0; i < n; i++)
        found = found || (strcmp(recs[i].type, type) == 0 && strcmp(recs[i].hub, hub) == 0);
    recs_free(recs, n);
    return found;
}

static void test_setting_get_body_is_a_setting_not_a_hub(void)
{
    struct tdb t;
    char *argv[] = {"hub", "import", "tests/fixtures/hubconf/diag_setting_get_body.json", NULL};

    tdb_open(&t);
    CHECK(rec_holds(&t, REC_DIAGNOSTICS_LOGS, "configured-hub") == false); /* no hub yet */
    CHECK_INT(hub_cmd(&t, 3, argv), 0);
    CHECK_CONTAINS(t.out, "hub configured-hub: diagnostic setting \"everything-to-storage\" "
                          "imported (1 log category; the hub's other settings kept)");
    /* The hub its id names is said, not taken. */
    CHECK_CONTAINS(t.out,
                   "the document is for hub \"azure-hub-7\"; imported for \"configured-hub\"");
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM hub_config", NULL), 0);
    CHECK_STR(sql_text(&t, "SELECT config_json FROM hub_diagnostic_settings WHERE hub = ?1",
                       "configured-hub", t.err, sizeof(t.err)),
              "{\"name\":\"everything-to-storage\",\"logs\":[{\"categoryGroup\":\"allLogs\","
              "\"enabled\":true,\"retentionPolicy\":{\"enabled\":false,\"days\":0}}]}");
    /* allLogs, kept forever: the hub keeps its logs. */
    CHECK(!rec_holds(&t, REC_DIAGNOSTICS_LOGS, "configured-hub"));
    CHECK(!rec_holds(&t, REC_DIAGNOSTICS_LOGS, "everything-to-storage"));
    tdb_close(&t);
}

static void test_setting_put_body_needs_a_name_and_diag_set_takes_it(void)
{
    struct tdb t;
    char *import[] = {"hub", "import", "tests/fixtures/hubconf/diag_setting_put_request.json",
                      NULL};
    char *set[] = {"hub",
                   "diag",
                   "set",
                   "to-workspace",
                   "tests/fixtures/hubconf/diag_setting_put_request.json",
                   NULL};
    char path[256];

    tdb_open(&t);
    CHECK_INT(hub_cmd(&t, 3, import), 2);
    CHECK_CONTAINS(t.err, "a diagnostic setting without a name: give it one with `warden hub diag "
                          "set NAME FILE` (nothing imported)");
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM hub_diagnostic_settings", NULL), 0);
    CHECK_INT(hub_cmd(&t, 5, set), 0);
    CHECK_INT(sql_int(&t,
                      "SELECT json_extract(config_json, '$.logs[0].retentionPolicy.days') FROM "
                      "hub_diagnostic_settings WHERE hub = 'configured-hub' AND name = ?1",
                      "to-workspace"),
              30);
    /* Connections kept 30 days only: the recommendation holds, the values were read. */
    CHECK(rec_holds(&t, REC_DIAGNOSTICS_LOGS, "configured-hub"));
    /* The PUT's response body: a name and an empty type. */
    tdb_file(&t, "put-response.json",
             "{\"id\": \"/x/diagnosticSettings/year\", \"type\": \"\", \"name\": \"year\", "
             "\"properties\": {\"logs\": [{\"category\": \"Connections\", \"enabled\": true, "
             "\"retentionPolicy\": {\"enabled\": true, \"days\": 365}}]}}",
             path, sizeof(path));
    {
        char *argv[] = {"hub", "import", path, NULL};
        CHECK_INT(hub_cmd(&t, 3, argv), 0);
    }
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM hub_diagnostic_settings", NULL), 2);
    CHECK(!rec_holds(&t, REC_DIAGNOSTICS_LOGS, "configured-hub"));
    tdb_close(&t);
}

static void test_setting_list_body_replaces_the_hubs_settings(void)
{
    struct tdb t;
    char *one[] = {"hub", "import", "tests/fixtures/hubconf/diag_setting_get_body.json", NULL};
    char *list[] = {"hub",   "import", "tests/fixtures/hubconf/diag_settings_list_body.json",
                    "--hub", "hub-b",  NULL};

    tdb_open(&t);
    CHECK_INT(hub_cmd(&t, 3, one), 0);
    {
        char *argv[] = {"hub", "import", "tests/fixtures/hubconf/diag_settings_list_body.json",
                        NULL};
        CHECK_INT(hub_cmd(&t, 3, argv), 0);
    }
    CHECK_CONTAINS(t.out, "hub configured-hub: 2 diagnostic settings imported (they replace the "
                          "hub's settings)");
    CHECK_STR(sql_text(&t,
                       "SELECT group_concat(name, ',') FROM (SELECT name FROM "
                       "hub_diagnostic_settings WHERE hub = ?1 ORDER BY name)",
                       "configured-hub", t.err, sizeof(t.err)),
              "audit-a-year,short-connections");
    CHECK(!rec_holds(&t, REC_DIAGNOSTICS_LOGS, "configured-hub")); /* audit, 400 days */
    /* --hub names the hub; the other hub's settings stay. */
    CHECK_INT(hub_cmd(&t, 5, list), 0);
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM hub_diagnostic_settings WHERE hub = ?1", "hub-b"),
              2);
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM hub_diagnostic_settings", NULL), 4);
    tdb_close(&t);
}

static void test_hub_document_with_rest_settings_inside(void)
{
    struct tdb t;

    tdb_open(&t);
    /* On main, properties.logs was dropped and IoT_DiagnosticsLogs raised. */
    CHECK_INT(hub_import_text(&t, "{\"name\": \"configured-hub\", \"diagnosticSettings\": ["
                                  "{\"name\": \"all\", \"type\": "
                                  "\"Microsoft.Insights/diagnosticSettings\", \"properties\": "
                                  "{\"logs\": [{\"categoryGroup\": \"allLogs\", \"enabled\": true,"
                                  " \"retentionPolicy\": {\"enabled\": false, \"days\": 0}}]}}]}"),
              0);
    CHECK(!rec_holds(&t, REC_DIAGNOSTICS_LOGS, "configured-hub"));
    /* A LIST body pasted in as the hub's diagnosticSettings. */
    CHECK_INT(hub_import_text(&t, "{\"diagnosticSettings\": {\"value\": [{\"name\": \"week\", "
                                  "\"properties\": {\"logs\": [{\"category\": \"Connections\", "
                                  "\"enabled\": true, \"retentionPolicy\": {\"enabled\": true, "
                                  "\"days\": 7}}]}}]}}"),
              0);
    CHECK_STR(sql_text(&t, "SELECT name FROM hub_diagnostic_settings WHERE hub = ?1",
                       "configured-hub", t.err, sizeof(t.err)),
              "week");
    CHECK(rec_holds(&t, REC_DIAGNOSTICS_LOGS, "configured-hub"));
    tdb_close(&t);
}

/* The key store's hub and IP filter, as the plugin would read them. */
static void keystore_text(struct tdb *t, char *out, size_t len)
{
    struct hub_keys k;
    char path[256], err[256], ip[64];
    size_t at;

    snprintf(path, sizeof(path), "%s/warden-hub.keys", t->dir);
    out[0] = '\0';
    if (!hub_keys_load(path, &k, err, sizeof(err))) {
        snprintf(out, len, "unreadable: %s", err);
        return;
    }
    at = (size_t)snprintf(out, len, "%s mode %d default %s", k.hub, (int)k.ip_mode,
                          k.default_allow ? "allow" : "deny");
    for (size_t i = 0; i < k.nrules && at < len; i++) {
        ip_format(&k.rules[i].net, ip, sizeof(ip));
        at += (size_t)snprintf(out + at, len - at, "; %s %s %s/%d", k.rules[i].name,
                               k.rules[i].allow ? "allow" : "deny", ip, k.rules[i].prefix);
    }
    hub_keys_free(&k);
}

static void test_iothub_get_body_reaches_the_key_store_whatever_its_name(void)
{
    struct tdb t;
    char *argv[] = {"hub", "import", "tests/fixtures/hubconf/iothub_get_body.json", NULL};
    char *other[] = {"hub",   "import",    "tests/fixtures/hubconf/iothub_get_body.json",
                     "--hub", "elsewhere", NULL};
    char ks[1024], before[1024];

    tdb_open(&t);
    CHECK_INT(hub_cmd(&t, 3, argv), 0);
    CHECK_CONTAINS(t.out, "hub configured-hub: network rules (default Deny, 2 rules), IP filter "
                          "rules (2, older form) imported");
    CHECK_CONTAINS(t.out, "the document is for hub \"azure-hub-7\"; imported for "
                          "\"configured-hub\", the lab hub");
    CHECK_CONTAINS(t.out, "the lab hub now enforces networkRuleSets (default Deny, 2 rules); the "
                          "older ipFilterRules are kept but not in force");
    keystore_text(&t, ks, sizeof(ks));
    CHECK_STR(ks, "configured-hub mode 1 default deny; site-a allow 10.99.0.0/16; "
                  "gateway allow 192.0.2.44/32");
    /* What the export holds besides the filter never reaches the database. */
    CHECK_INT(sql_int(&t,
                      "SELECT count(*) FROM hub_config WHERE config_json LIKE '%AccountKey%' "
                      "OR config_json LIKE '%servicebus%'",
                      NULL),
              0);
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM hub_config WHERE hub = ?1", "azure-hub-7"), 0);
    /* For another hub: stored, not enforced, and said in one line. */
    snprintf(before, sizeof(before), "%s", ks);
    CHECK_INT(hub_cmd(&t, 5, other), 0);
    CHECK_CONTAINS(t.out, "IP filter stored but not enforced: the lab hub is \"configured-hub\", "
                          "not \"elsewhere\" (--hub configured-hub applies it there)");
    keystore_text(&t, ks, sizeof(ks));
    CHECK_STR(ks, before);
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM hub_config WHERE hub = ?1", "elsewhere"), 1);
    tdb_close(&t);
}

static void test_documents_that_are_not_hub_documents_are_refused(void)
{
    static const struct {
        const char *doc, *why;
    } bad[] = {
        {"{}", "not a hub document; expected a hub"},
        {"{\"name\": \"g\", \"type\": \"Microsoft.Security/deviceSecurityGroups\", "
         "\"properties\": {\"timeWindowRules\": []}}",
         "is a security group: give it to `warden groups import`"},
        {"{\"name\": \"x\", \"type\": \"Microsoft.Storage/storageAccounts\", \"properties\": {}}",
         "type \"Microsoft.Storage/storageAccounts\" is neither Microsoft.Devices/IotHubs"},
        {"{\"parameters\": {\"name\": \"s\"}, \"responses\": {\"200\": {\"body\": {}}}}",
         "an azure-rest-api-specs example file"},
        {"{\"value\": [{\"name\": \"h\", \"type\": \"Microsoft.Devices/IotHubs\", "
         "\"properties\": {}}]}",
         "value[0]: not a diagnostic setting"},
        {"{\"value\": [{\"name\": \"h\", \"properties\": {\"ipFilterRules\": []}}]}",
         "value[0]: not a diagnostic setting"},
        {"{\"value\": [{\"name\": \"s\", \"logs\": []}, {\"name\": \"s\", \"logs\": []}]}",
         "value[1] (\"s\"): name is also setting 0"},
        {"{\"name\": \"s\", \"logs\": [], \"properties\": {\"logs\": []}}",
         "logs are given both inside and outside properties"},
        {"{\"name\": \"s\", \"properties\": {\"logs\": [{\"category\": \"Connections\", "
         "\"categoryGroup\": \"allLogs\", \"enabled\": true}]}}",
         "needs a category or a categoryGroup (one of them)"},
        {"{\"type\": 3, \"properties\": {}}", "type must be a string"},
    };
    struct tdb t;

    tdb_open(&t);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_INT(hub_import_text(&t, bad[i].doc), 2);
        CHECK_CONTAINS(t.err, bad[i].why);
        CHECK_CONTAINS(t.err, "(nothing imported)");
    }
    CHECK_INT(sql_int(&t,
                      "SELECT (SELECT count(*) FROM hub_config) + "
                      "(SELECT count(*) FROM hub_diagnostic_settings)",
                      NULL),
              0);
    tdb_close(&t);
}

int main(void)
{
    RUN(test_network_rule_sets_parsed);
    RUN(test_ip_filter_rules_parsed);
    RUN(test_stored_documents_parse_back);
    RUN(test_bad_actions_rejected);
    RUN(test_bad_masks_rejected);
    RUN(test_bad_settings_rejected);
    RUN(test_import_writes_config_and_settings);
    RUN(test_import_replaces_only_the_parts_given);
    RUN(test_import_is_all_or_nothing);
    RUN(test_setting_get_body_is_a_setting_not_a_hub);
    RUN(test_setting_put_body_needs_a_name_and_diag_set_takes_it);
    RUN(test_setting_list_body_replaces_the_hubs_settings);
    RUN(test_hub_document_with_rest_settings_inside);
    RUN(test_iothub_get_body_reaches_the_key_store_whatever_its_name);
    RUN(test_documents_that_are_not_hub_documents_are_refused);
    return CHECK_DONE();
}
