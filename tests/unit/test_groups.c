/*
 * Unit tests of security groups (imports/groups.c, SPEC 4.1): defaults,
 * partial documents, every rejection naming its rule, CIDR normalisation,
 * the export/import round trip, and `warden groups` against a scratch
 * database (naming, all-or-nothing, export, list). Run from the repository
 * root.
 */
#include "../../evaluator/evaluator.h"
#include "../../imports/imports.h"
#include "../../imports/groups.h"
#include "eval_helpers.h"

#include <jansson.h>

static bool parse_text(const char *json, struct group *g, char *err, size_t errlen)
{
    return group_parse(json, strlen(json), NULL, g, err, errlen);
}

static void cidr_text(const struct group_cidr *c, char *out, size_t len)
{
    char ip[64];

    ip_format(&c->net, ip, sizeof(ip));
    snprintf(out, len, "%s/%d", ip, c->prefix);
}

/* Expect json to be refused with a message that contains each of the needles. */
static void expect_rejected(const char *json, const char *needle1, const char *needle2)
{
    struct group g;
    char err[512] = "";

    CHECK(!parse_text(json, &g, err, sizeof(err)));
    CHECK_CONTAINS(err, needle1);
    if (needle2 != NULL)
        CHECK_CONTAINS(err, needle2);
    /* Nothing to free on failure, and the allow lists are empty. */
    CHECK(g.allow_out.cidrs == NULL && g.allow_in.cidrs == NULL);
}

static void test_new_group_has_every_rule_disabled(void)
{
    struct group g;
    char err[256];

    group_init(&g, "fresh");
    for (int i = 0; i < GROUP_RULE_COUNT; i++) {
        CHECK(!g.tw[i].enabled);
        CHECK_INT(g.tw[i].min, 0);
        CHECK_INT(g.tw[i].max, 0);
        CHECK_INT(g.tw[i].window_ms, 15 * 60 * 1000);
    }
    CHECK(!g.allow_out.enabled && !g.allow_in.enabled);
    CHECK_INT(group_enabled_rules(&g), 0);

    /* A document with empty rule lists is such a group too (an empty object is not a group). */
    CHECK(parse_text("{\"properties\": {\"timeWindowRules\": []}}", &g, err, sizeof(err)));
    CHECK_STR(g.name, "");
    CHECK_INT(group_enabled_rules(&g), 0);
    CHECK_INT(g.tw[GROUP_TWIN_UPDATES].window_ms, 15 * 60 * 1000);
    group_free(&g);
}

static void test_rule_names_in_spec_order(void)
{
    enum group_rule r;

    CHECK_STR(group_rule_name(GROUP_ACTIVE_CONNECTIONS), "ActiveConnectionsNotInAllowedRange");
    CHECK_STR(group_rule_name(GROUP_MQTT_C2D), "MqttC2DMessagesNotInAllowedRange");
    CHECK_STR(group_rule_name(GROUP_MQTT_D2C), "MqttD2CMessagesNotInAllowedRange");
    CHECK_STR(group_rule_name(GROUP_QUEUE_PURGES), "QueuePurgesNotInAllowedRange");
    CHECK_STR(group_rule_name(GROUP_DIRECT_METHODS), "DirectMethodInvokesNotInAllowedRange");
    CHECK_STR(group_rule_name(GROUP_MQTT_C2D_REJECTED), "MqttC2DRejectedMessagesNotInAllowedRange");
    CHECK_STR(group_rule_name(GROUP_TWIN_UPDATES), "TwinUpdatesNotInAllowedRange");
    CHECK_STR(group_rule_name(GROUP_UNAUTHORIZED), "UnauthorizedOperationsNotInAllowedRange");
    CHECK(group_rule_lookup("TwinUpdatesNotInAllowedRange", &r) && r == GROUP_TWIN_UPDATES);
    CHECK(!group_rule_lookup("ConnectionToIpNotAllowed", &r));
    CHECK(!group_rule_lookup("twinupdatesnotinallowedrange", &r));
    /* Azure's other eight are known, and not observable in this lab. */
    CHECK(group_rule_lookup("AmqpC2DMessagesNotInAllowedRange", &r) && r == GROUP_AMQP_C2D);
    CHECK(group_rule_lookup("HttpC2DMessagesNotInAllowedRange", &r) && r == GROUP_HTTP_C2D);
    CHECK(group_rule_lookup("AmqpC2DRejectedMessagesNotInAllowedRange", &r) &&
          r == GROUP_AMQP_C2D_REJECTED);
    CHECK(group_rule_lookup("HttpC2DRejectedMessagesNotInAllowedRange", &r) &&
          r == GROUP_HTTP_C2D_REJECTED);
    CHECK(group_rule_lookup("AmqpD2CMessagesNotInAllowedRange", &r) && r == GROUP_AMQP_D2C);
    CHECK(group_rule_lookup("HttpD2CMessagesNotInAllowedRange", &r) && r == GROUP_HTTP_D2C);
    CHECK(group_rule_lookup("FailedLocalLoginsNotInAllowedRange", &r) &&
          r == GROUP_FAILED_LOCAL_LOGINS);
    CHECK(group_rule_lookup("FileUploadsNotInAllowedRange", &r) && r == GROUP_FILE_UPLOADS);
    CHECK_INT(GROUP_RULE_COUNT, 16);
    for (int i = 0; i < GROUP_RULE_COUNT; i++)
        CHECK(group_rule_observable((enum group_rule)i) == (i <= GROUP_UNAUTHORIZED));
}

static void test_partial_document_leaves_others_disabled(void)
{
    struct group g;
    size_t len;
    char *doc = slurp("tests/fixtures/groups/partial.json", &len), err[256];

    CHECK(group_parse(doc, len, "partial", &g, err, sizeof(err)));
    CHECK_STR(g.name, "partial");
    CHECK(g.tw[GROUP_MQTT_D2C].enabled);
    CHECK_INT(g.tw[GROUP_MQTT_D2C].min, 1);
    CHECK_INT(g.tw[GROUP_MQTT_D2C].max, 100);
    CHECK_INT(g.tw[GROUP_MQTT_D2C].window_ms, 60000);
    CHECK_INT(group_enabled_rules(&g), 1);
    for (int i = 0; i < GROUP_RULE_COUNT; i++) {
        if (i == GROUP_MQTT_D2C)
            continue;
        CHECK(!g.tw[i].enabled);
        CHECK_INT(g.tw[i].window_ms, GROUP_WINDOW_DEFAULT_MS);
    }
    CHECK(!g.allow_out.enabled && !g.allow_in.enabled);
    group_free(&g);
    free(doc);
}

static void test_azure_example_is_normalised(void)
{
    struct group g;
    size_t len;
    char *doc = slurp("tests/fixtures/groups/azure_example.json", &len), err[256], c[80];

    CHECK(group_parse(doc, len, NULL, &g, err, sizeof(err)));
    CHECK_STR(g.name, "samplesecuritygroup");
    CHECK(g.tw[GROUP_ACTIVE_CONNECTIONS].enabled);
    CHECK_INT(g.tw[GROUP_ACTIVE_CONNECTIONS].max, 30);
    CHECK_INT(g.tw[GROUP_ACTIVE_CONNECTIONS].window_ms, 5 * 60000); /* PT05M */
    CHECK(g.allow_out.enabled);
    CHECK(!g.allow_in.enabled);
    CHECK_INT(g.allow_out.n, 3);
    if (g.allow_out.n == 3) {
        cidr_text(&g.allow_out.cidrs[0], c, sizeof(c));
        CHECK_STR(c, "192.0.0.0/8"); /* host bits of 192.168.0.1/8 cleared */
        cidr_text(&g.allow_out.cidrs[1], c, sizeof(c));
        CHECK_STR(c, "10.0.0.5/32"); /* a bare address is one host */
        cidr_text(&g.allow_out.cidrs[2], c, sizeof(c));
        CHECK_STR(c, "2001:db8:1::/48");
    }
    group_free(&g);
    free(doc);
}

static void test_bare_properties_document_accepted(void)
{
    struct group g;
    char err[256];

    CHECK(parse_text("{\"timeWindowRules\": [{\"ruleType\": \"QueuePurgesNotInAllowedRange\","
                     " \"isEnabled\": true, \"minThreshold\": 0, \"maxThreshold\": 2,"
                     " \"timeWindowSize\": \"PT10S\"}]}",
                     &g, err, sizeof(err)));
    CHECK(g.tw[GROUP_QUEUE_PURGES].enabled);
    CHECK_INT(g.tw[GROUP_QUEUE_PURGES].window_ms, 10000);
    group_free(&g);
    expect_rejected("{\"properties\": {}, \"timeWindowRules\": []}", "both inside and outside",
                    NULL);
    expect_rejected("{\"properties\": []}", "properties must be an object", NULL);
    expect_rejected("[]", "must be a JSON object", NULL);
}

static void test_unknown_rule_type_rejected_by_name(void)
{
    expect_rejected("{\"properties\": {\"timeWindowRules\": [{\"ruleType\": "
                    "\"SmtpMessagesNotInAllowedRange\", \"isEnabled\": true}]}}",
                    "timeWindowRules[0]", "unknown rule type \"SmtpMessagesNotInAllowedRange\"");
    expect_rejected(
        "{\"properties\": {\"allowlistRules\": [{\"ruleType\": \"LocalGroupNotAllowed\","
        " \"isEnabled\": true, \"allowlistValues\": []}]}}",
        "allowlistRules[0]", "unknown rule type \"LocalGroupNotAllowed\"");
    expect_rejected("{\"properties\": {\"timeWindowRules\": [{\"isEnabled\": true}]}}",
                    "timeWindowRules[0]", "ruleType is required");
    /* Warden has no threshold or deny-list rules, so any listed there is refused. */
    expect_rejected(
        "{\"properties\": {\"denylistRules\": [{\"ruleType\": \"ProcessNotAllowed\"}]}}",
        "denylistRules[0] (ProcessNotAllowed)", "not a deny-list rule type");
    expect_rejected("{\"properties\": {\"denylistRules\": [{\"ruleType\": \"ProcessAllowed\"}]}}",
                    "denylistRules[0]", "unknown rule type \"ProcessAllowed\"");
    expect_rejected("{\"properties\": {\"thresholdRules\": [{\"ruleType\": "
                    "\"TwinUpdatesNotInAllowedRange\"}]}}",
                    "thresholdRules[0] (TwinUpdatesNotInAllowedRange)", "not a threshold rule");
    expect_rejected("{\"properties\": {\"thresholdRules\": {}}}", "thresholdRules must be an array",
                    NULL);
}

static void test_negative_threshold_rejected(void)
{
    expect_rejected(
        "{\"properties\": {\"timeWindowRules\": [{\"ruleType\": "
        "\"MqttC2DMessagesNotInAllowedRange\", \"isEnabled\": true, \"minThreshold\": -1,"
        " \"maxThreshold\": 5, \"timeWindowSize\": \"PT5M\"}]}}",
        "(MqttC2DMessagesNotInAllowedRange)", "minThreshold -1 is negative");
    expect_rejected(
        "{\"properties\": {\"timeWindowRules\": [{\"ruleType\": "
        "\"MqttC2DMessagesNotInAllowedRange\", \"isEnabled\": true, \"minThreshold\": 0,"
        " \"maxThreshold\": 2.5, \"timeWindowSize\": \"PT5M\"}]}}",
        "(MqttC2DMessagesNotInAllowedRange)", "maxThreshold must be an integer");
}

static void test_min_above_max_rejected(void)
{
    expect_rejected("{\"properties\": {\"timeWindowRules\": [{\"ruleType\": "
                    "\"DirectMethodInvokesNotInAllowedRange\", \"isEnabled\": true,"
                    " \"minThreshold\": 40, \"maxThreshold\": 30, \"timeWindowSize\": \"PT5M\"}]}}",
                    "(DirectMethodInvokesNotInAllowedRange)",
                    "minThreshold 40 is greater than maxThreshold 30");
}

static void test_bad_durations_rejected(void)
{
    static const struct {
        const char *window, *why;
    } bad[] = {
        {"5 minutes", "is not an ISO 8601 duration"},
        {"P1M", "is not an ISO 8601 duration"}, /* months have no fixed length */
        {"PT15S", "is not a multiple of 10 seconds"},
        {"PT10.5S", "is not a multiple of 10 seconds"},
        {"PT0S", "outside PT10S..P7D"},
        {"P8D", "outside PT10S..P7D"},
    };
    char json[512];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(json, sizeof(json),
                 "{\"properties\": {\"timeWindowRules\": [{\"ruleType\": "
                 "\"TwinUpdatesNotInAllowedRange\", \"isEnabled\": true, \"minThreshold\": 0,"
                 " \"maxThreshold\": 1, \"timeWindowSize\": \"%s\"}]}}",
                 bad[i].window);
        expect_rejected(json, "(TwinUpdatesNotInAllowedRange)", bad[i].why);
    }
    expect_rejected("{\"properties\": {\"timeWindowRules\": [{\"ruleType\": "
                    "\"TwinUpdatesNotInAllowedRange\", \"isEnabled\": true, \"minThreshold\": 0,"
                    " \"maxThreshold\": 1, \"timeWindowSize\": 300}]}}",
                    "(TwinUpdatesNotInAllowedRange)", "timeWindowSize must be");
}

static void test_window_bounds_accepted(void)
{
    struct group g;
    char err[256];

    CHECK(
        parse_text("{\"properties\": {\"timeWindowRules\": ["
                   "{\"ruleType\": \"TwinUpdatesNotInAllowedRange\", \"isEnabled\": true,"
                   " \"minThreshold\": 0, \"maxThreshold\": 1, \"timeWindowSize\": \"PT10S\"},"
                   "{\"ruleType\": \"QueuePurgesNotInAllowedRange\", \"isEnabled\": true,"
                   " \"minThreshold\": 0, \"maxThreshold\": 1, \"timeWindowSize\": \"P7D\"},"
                   "{\"ruleType\": \"MqttD2CMessagesNotInAllowedRange\", \"isEnabled\": true,"
                   " \"minThreshold\": 3, \"maxThreshold\": 3, \"timeWindowSize\": \"PT1M30S\"}]}}",
                   &g, err, sizeof(err)));
    CHECK_INT(g.tw[GROUP_TWIN_UPDATES].window_ms, 10000);
    CHECK_INT(g.tw[GROUP_QUEUE_PURGES].window_ms, 7 * 86400000LL);
    CHECK_INT(g.tw[GROUP_MQTT_D2C].window_ms, 90000);
    group_free(&g);
}

static void test_enabled_rule_needs_its_fields(void)
{
    struct group g;
    char err[256];

    expect_rejected("{\"properties\": {\"timeWindowRules\": [{\"ruleType\": "
                    "\"TwinUpdatesNotInAllowedRange\", \"isEnabled\": true}]}}",
                    "(TwinUpdatesNotInAllowedRange)", "minThreshold is required");
    expect_rejected("{\"properties\": {\"timeWindowRules\": [{\"ruleType\": "
                    "\"TwinUpdatesNotInAllowedRange\", \"minThreshold\": 0}]}}",
                    "(TwinUpdatesNotInAllowedRange)", "isEnabled is required");
    expect_rejected("{\"properties\": {\"timeWindowRules\": [{\"ruleType\": "
                    "\"TwinUpdatesNotInAllowedRange\", \"isEnabled\": \"yes\"}]}}",
                    "(TwinUpdatesNotInAllowedRange)", "isEnabled must be true or false");
    expect_rejected("{\"properties\": {\"allowlistRules\": [{\"ruleType\": "
                    "\"ConnectionFromIpNotAllowed\", \"isEnabled\": true}]}}",
                    "(ConnectionFromIpNotAllowed)", "allowlistValues is required");
    /* A disabled rule may leave them out. */
    CHECK(parse_text("{\"properties\": {\"timeWindowRules\": [{\"ruleType\": "
                     "\"TwinUpdatesNotInAllowedRange\", \"isEnabled\": false}],"
                     " \"allowlistRules\": [{\"ruleType\": \"ConnectionFromIpNotAllowed\","
                     " \"isEnabled\": false}]}}",
                     &g, err, sizeof(err)));
    CHECK_INT(group_enabled_rules(&g), 0);
    group_free(&g);
}

static void test_bad_cidr_rejected_naming_rule_and_value(void)
{
    expect_rejected("{\"properties\": {\"allowlistRules\": [{\"ruleType\": "
                    "\"ConnectionToIpNotAllowed\", \"isEnabled\": true,"
                    " \"allowlistValues\": [\"10.0.0.0/8\", \"10.0.0.0/33\"]}]}}",
                    "allowlistRules[0] (ConnectionToIpNotAllowed)",
                    "allowlistValues[1] \"10.0.0.0/33\" is not an IP address or CIDR");
    expect_rejected("{\"properties\": {\"allowlistRules\": [{\"ruleType\": "
                    "\"ConnectionFromIpNotAllowed\", \"isEnabled\": true,"
                    " \"allowlistValues\": [\"lab-net\"]}]}}",
                    "(ConnectionFromIpNotAllowed)", "\"lab-net\" is not an IP address or CIDR");
    expect_rejected("{\"properties\": {\"allowlistRules\": [{\"ruleType\": "
                    "\"ConnectionFromIpNotAllowed\", \"isEnabled\": true,"
                    " \"allowlistValues\": [\"2001:db8::/129\"]}]}}",
                    "(ConnectionFromIpNotAllowed)", "\"2001:db8::/129\"");
    expect_rejected("{\"properties\": {\"allowlistRules\": [{\"ruleType\": "
                    "\"ConnectionFromIpNotAllowed\", \"isEnabled\": true,"
                    " \"allowlistValues\": [8]}]}}",
                    "(ConnectionFromIpNotAllowed)", "(not a string)");
    expect_rejected("{\"properties\": {\"allowlistRules\": [{\"ruleType\": "
                    "\"ConnectionFromIpNotAllowed\", \"isEnabled\": true,"
                    " \"allowlistValues\": \"10.0.0.0/8\"}]}}",
                    "(ConnectionFromIpNotAllowed)", "must be an array");
}

static void test_duplicate_rule_rejected(void)
{
    expect_rejected("{\"properties\": {\"timeWindowRules\": ["
                    "{\"ruleType\": \"QueuePurgesNotInAllowedRange\", \"isEnabled\": false},"
                    "{\"ruleType\": \"QueuePurgesNotInAllowedRange\", \"isEnabled\": true,"
                    " \"minThreshold\": 0, \"maxThreshold\": 1, \"timeWindowSize\": \"PT1M\"}]}}",
                    "timeWindowRules[1] (QueuePurgesNotInAllowedRange)", "more than once");
    expect_rejected("{\"properties\": {\"allowlistRules\": ["
                    "{\"ruleType\": \"ConnectionToIpNotAllowed\", \"isEnabled\": false},"
                    "{\"ruleType\": \"ConnectionToIpNotAllowed\", \"isEnabled\": false}]}}",
                    "allowlistRules[1] (ConnectionToIpNotAllowed)", "more than once");
    /* A rule in the wrong list is named too. */
    expect_rejected("{\"properties\": {\"allowlistRules\": [{\"ruleType\": "
                    "\"TwinUpdatesNotInAllowedRange\", \"isEnabled\": false}]}}",
                    "(TwinUpdatesNotInAllowedRange)", "belongs in timeWindowRules");
    /* Duplicate keys in one object are refused by the JSON loader. */
    expect_rejected("{\"properties\": {}, \"properties\": {}}", "duplicate key", NULL);
}

static void test_bad_names_rejected(void)
{
    struct group g;
    char err[256];

    expect_rejected("{\"name\": \"lab/one\", \"properties\": {\"allowlistRules\": []}}",
                    "not a valid group name", NULL);
    expect_rejected("{\"name\": 7, \"properties\": {\"allowlistRules\": []}}",
                    "name must be a string", NULL);
    CHECK(!group_parse("{\"timeWindowRules\": []}", 23, "..", &g, err, sizeof(err)));
    CHECK_CONTAINS(err, "not a valid group name");
    CHECK(group_name_valid("production_v2.lab-1"));
    CHECK(!group_name_valid(""));
    CHECK(!group_name_valid("two words"));
}

static void test_ipv6_and_mapped_ranges(void)
{
    struct group g;
    struct ip_addr ip;
    char err[256], c[80];

    CHECK(parse_text("{\"properties\": {\"allowlistRules\": [{\"ruleType\": "
                     "\"ConnectionFromIpNotAllowed\", \"isEnabled\": true, \"allowlistValues\":"
                     " [\"2001:db8:0:0:1::1/64\", \"::ffff:198.51.100.0/120\", \"fe80::1\"]}]}}",
                     &g, err, sizeof(err)));
    CHECK_INT(g.allow_in.n, 3);
    if (g.allow_in.n == 3) {
        cidr_text(&g.allow_in.cidrs[0], c, sizeof(c));
        CHECK_STR(c, "2001:db8::/64");
        cidr_text(&g.allow_in.cidrs[1], c, sizeof(c));
        CHECK_STR(c, "198.51.100.0/24"); /* an IPv4-mapped range is held as IPv4 */
        cidr_text(&g.allow_in.cidrs[2], c, sizeof(c));
        CHECK_STR(c, "fe80::1/128");
    }
    ip_parse("2001:db8::abcd", &ip);
    CHECK(group_allow_contains(&g.allow_in, &ip));
    ip_parse("2001:db9::1", &ip);
    CHECK(!group_allow_contains(&g.allow_in, &ip));
    ip_parse("198.51.100.77", &ip);
    CHECK(group_allow_contains(&g.allow_in, &ip));
    ip_parse("::ffff:198.51.100.77", &ip); /* mapped address, IPv4 range */
    CHECK(group_allow_contains(&g.allow_in, &ip));
    ip_parse("198.51.101.1", &ip);
    CHECK(!group_allow_contains(&g.allow_in, &ip));
    CHECK(!group_allow_contains(&g.allow_out, &ip)); /* empty list allows nothing */
    group_free(&g);
}

static void test_export_import_round_trip(void)
{
    struct group a, b;
    size_t len;
    char *doc = slurp("tests/fixtures/groups/azure_example.json", &len), err[256];
    char *j1, *j2;

    CHECK(group_parse(doc, len, NULL, &a, err, sizeof(err)));
    j1 = group_to_json(&a);
    CHECK(j1 != NULL);
    CHECK_CONTAINS(j1, "\"192.0.0.0/8\"");
    CHECK_CONTAINS(j1, "\"timeWindowSize\":\"PT5M\"");
    CHECK_CONTAINS(j1, "\"thresholdRules\":[]");
    CHECK_CONTAINS(j1, "UnauthorizedOperationsNotInAllowedRange"); /* every rule present */
    CHECK_CONTAINS(j1, "ConnectionFromIpNotAllowed");
    CHECK(group_parse(j1, strlen(j1), NULL, &b, err, sizeof(err)));
    CHECK_STR(b.name, a.name);
    /* Field by field: the rules have padding after `enabled`, which memcmp would read. */
    for (size_t i = 0; i < sizeof(a.tw) / sizeof(a.tw[0]); i++)
        CHECK(a.tw[i].enabled == b.tw[i].enabled && a.tw[i].min == b.tw[i].min &&
              a.tw[i].max == b.tw[i].max && a.tw[i].window_ms == b.tw[i].window_ms);
    CHECK_INT(b.allow_out.n, a.allow_out.n);
    CHECK(a.allow_out.n == b.allow_out.n &&
          memcmp(a.allow_out.cidrs, b.allow_out.cidrs,
                 a.allow_out.n * sizeof(*a.allow_out.cidrs)) == 0);
    j2 = group_to_json(&b);
    CHECK_STR(j2, j1);
    free(j1);
    free(j2);
    group_free(&a);
    group_free(&b);
    free(doc);
}

static void test_import_names_the_group(void)
{
    struct tdb t;
    char path[256], text[64];

    tdb_open(&t);
    /* The document's name. */
    tdb_file(&t, "ignored.json",
             "{\"name\": \"from-doc\", \"properties\": {\"thresholdRules\": []}}", path,
             sizeof(path));
    {
        char *argv[] = {"groups", "import", path, NULL};
        capture_begin(&t);
        CHECK_INT(import_cmd_groups(3, argv, t.s), 0);
        capture_end(&t);
    }
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM security_groups WHERE name = ?1", "from-doc"), 1);
    /* --name wins over it. */
    {
        char *argv[] = {"groups", "import", path, "--name", "override", NULL};
        capture_begin(&t);
        CHECK_INT(import_cmd_groups(5, argv, t.s), 0);
        capture_end(&t);
        CHECK_CONTAINS(t.out, "security group override: imported, 0 of 20 rules enabled");
    }
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM security_groups WHERE name = ?1", "override"), 1);
    /* Neither: the file name without its extension. */
    tdb_file(&t, "sensors.v2.json", "{\"properties\": {\"denylistRules\": []}}", path,
             sizeof(path));
    {
        char *argv[] = {"groups", "import", path, NULL};
        capture_begin(&t);
        CHECK_INT(import_cmd_groups(3, argv, t.s), 0);
        capture_end(&t);
    }
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM security_groups WHERE name = ?1", "sensors.v2"), 1);
    CHECK_INT(
        sql_int(&t, "SELECT updated_ms > 0 FROM security_groups WHERE name = ?1", "sensors.v2"), 1);
    /* The stored document is the normalised one, every rule present. */
    sql_text(&t, "SELECT rules_json FROM security_groups WHERE name = ?1", "sensors.v2", text,
             sizeof(text));
    CHECK(strncmp(text, "{\"name\":\"sensors.v2\",\"properties\"", 33) == 0);
    CHECK_INT(sql_int(&t,
                      "SELECT json_array_length(rules_json, '$.properties.timeWindowRules') "
                      "FROM security_groups WHERE name = ?1",
                      "sensors.v2"),
              16);
    CHECK_INT(sql_int(&t,
                      "SELECT json_array_length(rules_json, '$.properties.allowlistRules') "
                      "FROM security_groups WHERE name = ?1",
                      "sensors.v2"),
              4);
    tdb_close(&t);
}

static void test_import_is_all_or_nothing(void)
{
    struct tdb t;
    char good[256], bad[256], before[8192], after[8192];

    tdb_open(&t);
    tdb_file(&t, "lab.json",
             "{\"properties\": {\"timeWindowRules\": [{\"ruleType\": "
             "\"MqttD2CMessagesNotInAllowedRange\", \"isEnabled\": true, \"minThreshold\": 1,"
             " \"maxThreshold\": 9, \"timeWindowSize\": \"PT1M\"}]}}",
             good, sizeof(good));
    /* Valid rules first, then a bad one: none of it may be applied. */
    tdb_file(&t, "lab-bad.json",
             "{\"properties\": {\"timeWindowRules\": [{\"ruleType\": "
             "\"MqttD2CMessagesNotInAllowedRange\", \"isEnabled\": true, \"minThreshold\": 5,"
             " \"maxThreshold\": 6, \"timeWindowSize\": \"PT1M\"}], \"allowlistRules\": ["
             "{\"ruleType\": \"ConnectionToIpNotAllowed\", \"isEnabled\": true,"
             " \"allowlistValues\": [\"10.0.0.0/8\", \"300.1.1.1\"]}]}}",
             bad, sizeof(bad));
    {
        char *argv[] = {"groups", "import", good, NULL};
        capture_begin(&t);
        CHECK_INT(import_cmd_groups(3, argv, t.s), 0);
        capture_end(&t);
    }
    sql_text(&t, "SELECT rules_json FROM security_groups WHERE name = 'lab'", NULL, before,
             sizeof(before));
    {
        char *argv[] = {"groups", "import", bad, "--name", "lab", NULL};
        capture_begin(&t);
        CHECK_INT(import_cmd_groups(5, argv, t.s), 2);
        capture_end(&t);
        CHECK_CONTAINS(t.err, "allowlistRules[0] (ConnectionToIpNotAllowed)");
        CHECK_CONTAINS(t.err, "\"300.1.1.1\"");
    }
    sql_text(&t, "SELECT rules_json FROM security_groups WHERE name = 'lab'", NULL, after,
             sizeof(after));
    CHECK(before[0] != '\0');
    CHECK_STR(after, before);
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM security_groups", NULL), 1);
    tdb_close(&t);
}

static void test_export_prints_normalised_document(void)
{
    struct tdb t;
    struct group g;
    char path[256], err[256];

    tdb_open(&t);
    {
        char *argv[] = {"groups", "import", "tests/fixtures/groups/azure_example.json",
                        "--name", "lab",    NULL};
        capture_begin(&t);
        CHECK_INT(import_cmd_groups(5, argv, t.s), 0);
        capture_end(&t);
        CHECK_CONTAINS(t.out, "3 of 20 rules enabled");
    }
    {
        char *argv[] = {"groups", "export", "lab", NULL};
        capture_begin(&t);
        CHECK_INT(import_cmd_groups(3, argv, t.s), 0);
        capture_end(&t);
    }
    CHECK_CONTAINS(t.out, "\"name\": \"lab\"");
    CHECK_CONTAINS(t.out, "\"192.0.0.0/8\"");
    /* What export prints imports again as the same group. */
    tdb_file(&t, "exported.json", t.out, path, sizeof(path));
    CHECK(group_parse(t.out, strlen(t.out), NULL, &g, err, sizeof(err)));
    CHECK_STR(g.name, "lab");
    CHECK_INT(group_enabled_rules(&g), 3);
    group_free(&g);
    /* The implicit default group exports; an unknown group does not. */
    {
        char *argv[] = {"groups", "export", "default", NULL};
        capture_begin(&t);
        CHECK_INT(import_cmd_groups(3, argv, t.s), 0);
        capture_end(&t);
        CHECK_CONTAINS(t.out, "\"name\": \"default\"");
    }
    {
        char *argv[] = {"groups", "export", "nope", NULL};
        capture_begin(&t);
        CHECK_INT(import_cmd_groups(3, argv, t.s), 1);
        capture_end(&t);
        CHECK_CONTAINS(t.err, "unknown security group \"nope\"");
        CHECK_STR(t.out, "");
    }
    {
        char *argv[] = {"groups", "frobnicate", NULL};
        capture_begin(&t);
        CHECK_INT(import_cmd_groups(2, argv, t.s), 2);
        capture_end(&t);
        CHECK_CONTAINS(t.err, "usage:");
    }
    tdb_close(&t);
}

/* The line of `groups list` for name, its columns joined by single spaces. */
static const char *list_line(const char *out, const char *name, char *line, size_t len)
{
    size_t n = strlen(name), at = 0;

    line[0] = '\0';
    for (const char *p = out; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, name, n) != 0 || p[n] != ' ')
            continue;
        for (const char *q = p; *q && *q != '\n' && at + 1 < len; q++) {
            if (*q != ' ' || (at > 0 && line[at - 1] != ' '))
                line[at++] = *q;
        }
        while (at > 0 && line[at - 1] == ' ')
            at--;
        line[at] = '\0';
        break;
    }
    return line;
}

static void test_list_counts_rules_and_devices(void)
{
    struct tdb t;
    char line[256];

    tdb_open(&t);
    sql_exec(&t, "INSERT INTO devices (device_id, hub, security_group, first_seen_ms, last_seen_ms)"
                 " VALUES ('d1', 'lab-hub', 'lab', 0, 0), ('d2', 'lab-hub', 'lab', 0, 0),"
                 " ('d3', 'lab-hub', 'default', 0, 0), ('d4', 'lab-hub', 'ghost', 0, 0)");
    {
        char *argv[] = {"groups", "import", "tests/fixtures/groups/partial.json",
                        "--name", "lab",    NULL};
        capture_begin(&t);
        CHECK_INT(import_cmd_groups(5, argv, t.s), 0);
        capture_end(&t);
    }
    {
        char *argv[] = {"groups", "list", NULL};
        capture_begin(&t);
        CHECK_INT(import_cmd_groups(2, argv, t.s), 0);
        capture_end(&t);
    }
    CHECK_CONTAINS(t.out, "NAME");
    CHECK_STR(list_line(t.out, "default", line, sizeof(line)), "default 0/20 1");
    CHECK_STR(list_line(t.out, "lab", line, sizeof(line)), "lab 1/20 2");
    CHECK_STR(list_line(t.out, "ghost", line, sizeof(line)), "ghost - 1 (not defined)");
    tdb_close(&t);
}

static void test_groups_load_and_store(void)
{
    struct tdb t;
    struct group *gs, g;
    size_t n;
    char err[256];

    tdb_open(&t);
    /* An empty table still has the default group. */
    CHECK(groups_load(t.db, &gs, &n, err, sizeof(err)));
    CHECK_INT(n, 1);
    CHECK_STR(gs[0].name, "default");
    CHECK_INT(group_enabled_rules(&gs[0]), 0);
    groups_free(gs, n);

    /* group_store creates, then replaces (the web API's PUT). */
    CHECK(parse_text("{\"name\": \"b-group\", \"properties\": {\"allowlistRules\": [{\"ruleType\":"
                     " \"ConnectionToIpNotAllowed\", \"isEnabled\": true, \"allowlistValues\":"
                     " [\"10.1.2.3/16\"]}]}}",
                     &g, err, sizeof(err)));
    CHECK(group_store(t.db, &g, err, sizeof(err)));
    g.tw[GROUP_TWIN_UPDATES].enabled = true;
    g.tw[GROUP_TWIN_UPDATES].max = 4;
    CHECK(group_store(t.db, &g, err, sizeof(err)));
    group_free(&g);
    group_init(&g, "a-group");
    CHECK(group_store(t.db, &g, err, sizeof(err)));
    group_init(&g, "z-group");
    CHECK(group_store(t.db, &g, err, sizeof(err)));
    group_init(&g, "bad name");
    CHECK(!group_store(t.db, &g, err, sizeof(err)));

    CHECK(groups_load(t.db, &gs, &n, err, sizeof(err)));
    CHECK_INT(n, 4);
    if (n == 4) {
        CHECK_STR(gs[0].name, "a-group");
        CHECK_STR(gs[1].name, "b-group");
        CHECK_STR(gs[2].name, "default"); /* the implicit one, in its place */
        CHECK_STR(gs[3].name, "z-group");
        CHECK(gs[1].tw[GROUP_TWIN_UPDATES].enabled);
        CHECK_INT(gs[1].tw[GROUP_TWIN_UPDATES].max, 4);
        CHECK_INT(gs[1].allow_out.n, 1);
    }
    groups_free(gs, n);

    /* A stored document broken by hand is an error that names the group. */
    sql_exec(&t, "UPDATE security_groups SET rules_json = '{\"name\": 1}' WHERE name = 'a-group'");
    CHECK(!groups_load(t.db, &gs, &n, err, sizeof(err)));
    CHECK_CONTAINS(err, "security group \"a-group\"");
    tdb_close(&t);
}

/* ---- documents as Azure writes them --------------------------------------------------- */

/* groups import (with --name when name is not NULL): the exit status; output in t->out/err. */
static int import_file(struct tdb *t, const char *path, const char *name)
{
    char *argv[] = {"groups", "import", (char *)path, "--name", (char *)name, NULL};
    int rc;

    capture_begin(t);
    rc = import_cmd_groups(name ? 5 : 3, argv, t->s);
    capture_end(t);
    return rc;
}

/* A document's rules by rule type, from its properties' two rule lists. */
static json_t *rules_by_type(json_t *doc)
{
    static const char *const lists[] = {"timeWindowRules", "allowlistRules"};
    json_t *props = json_object_get(doc, "properties"), *by = json_object(), *rule;
    size_t i;

    for (size_t l = 0; l < 2; l++)
        json_array_foreach(json_object_get(props, lists[l]), i, rule)
            json_object_set(by, json_string_value(json_object_get(rule, "ruleType")), rule);
    return by;
}

static int64_t window_of(json_t *rule)
{
    int64_t ms = -1;
    const char *w = json_string_value(json_object_get(rule, "timeWindowSize"));

    return w != NULL && duration_parse(w, &ms) ? ms : -1;
}

/* The exported rule e holds the values of the document's rule r, field by field. */
static void check_rule_kept(const char *type, json_t *r, json_t *e)
{
    static const char *const same[] = {"isEnabled", "minThreshold", "maxThreshold"};
    int before = check_failures;

    CHECK(e != NULL);
    if (e == NULL) {
        fprintf(stderr, "  rule %s was not exported\n", type);
        return;
    }
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
        CHECK(json_equal(json_object_get(r, same[i]), json_object_get(e, same[i])) ||
              json_object_get(r, same[i]) == NULL);
    if (json_object_get(r, "timeWindowSize") != NULL)
        CHECK_INT(window_of(e), window_of(r));
    /* Lists of names come back exactly; CIDRs as their networks (checked below). */
    if (json_object_get(r, "allowlistValues") != NULL && strcmp(type, GROUP_ALLOW_OUT_NAME) != 0)
        CHECK(json_equal(json_object_get(r, "allowlistValues"),
                         json_object_get(e, "allowlistValues")));
    if (check_failures != before)
        fprintf(stderr, "  rule %s changed on export\n", type);
}

static void test_every_azure_rule_type_is_exported_with_its_values(void)
{
    static const char fixture[] = "tests/fixtures/groups/azure_get_body.json";
    struct tdb t;
    json_t *in = json_load_file(fixture, 0, NULL), *ex, *in_by, *ex_by, *r, *want;
    const char *type;

    tdb_open(&t);
    CHECK_INT(import_file(&t, fixture, NULL), 0);
    CHECK_CONTAINS(t.out, "security group floor-sensors: imported, 10 of 20 rules enabled (5 not "
                          "observable in this lab, kept but not evaluated: "
                          "AmqpC2DMessagesNotInAllowedRange, AmqpD2CMessagesNotInAllowedRange, "
                          "FailedLocalLoginsNotInAllowedRange, FileUploadsNotInAllowedRange, "
                          "LocalUserNotAllowed)");
    {
        char *argv[] = {"groups", "export", "floor-sensors", NULL};
        capture_begin(&t);
        CHECK_INT(import_cmd_groups(3, argv, t.s), 0);
        capture_end(&t);
    }
    ex = json_loads(t.out, 0, NULL);
    CHECK(in != NULL && ex != NULL);
    in_by = rules_by_type(in);
    ex_by = rules_by_type(ex);
    CHECK_INT(json_object_size(in_by), 19); /* Azure's 16 time-window and 3 allow-list types */
    CHECK_INT(json_object_size(ex_by), 20); /* and Warden's inbound list */
    json_object_foreach(in_by, type, r) check_rule_kept(type, r, json_object_get(ex_by, type));
    want = json_pack("[s, s, s]", "172.20.0.0/16", "203.0.113.9/32", "2001:db8:77::/48");
    CHECK(json_equal(
        json_object_get(json_object_get(ex_by, GROUP_ALLOW_OUT_NAME), "allowlistValues"), want));
    json_decref(want);
    /* Read-only members are not written back. */
    CHECK(strstr(t.out, "displayName") == NULL && strstr(t.out, "valueType") == NULL);
    json_decref(in_by);
    json_decref(ex_by);
    json_decref(in);
    json_decref(ex);
    tdb_close(&t);
}

static void test_put_list_and_array_bodies_import_every_group(void)
{
    struct tdb t;
    char path[256];

    tdb_open(&t);
    /* The PUT request body: no name, one rule Warden cannot observe. */
    CHECK_INT(import_file(&t, "tests/fixtures/groups/azure_put_body.json", "pumps"), 0);
    CHECK_CONTAINS(t.out, "security group pumps: imported, 1 of 20 rules enabled (1 not "
                          "observable in this lab, kept but not evaluated: "
                          "HttpD2CMessagesNotInAllowedRange)");
    CHECK_INT(
        sql_int(&t,
                "SELECT json_extract(r.value, '$.maxThreshold') FROM security_groups, "
                "json_each(rules_json, '$.properties.timeWindowRules') r WHERE name = ?1 "
                "AND json_extract(r.value, '$.ruleType') = 'HttpD2CMessagesNotInAllowedRange'",
                "pumps"),
        44);
    /* The LIST body: every group, each under its own name. */
    CHECK_INT(import_file(&t, "tests/fixtures/groups/azure_list_body.json", NULL), 0);
    CHECK_CONTAINS(t.out, "security group floor-sensors: imported, 10 of 20");
    CHECK_CONTAINS(t.out, "security group gateways: imported, 2 of 20");
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM security_groups", NULL), 3);
    CHECK_INT(sql_int(&t,
                      "SELECT json_extract(rules_json, '$.properties.allowlistRules[2].isEnabled') "
                      "FROM security_groups WHERE name = ?1",
                      "gateways"),
              0);
    /* An array of groups, and a LIST of one renamed with --name. */
    tdb_file(&t, "two.json",
             "[{\"name\": \"a1\", \"properties\": {\"timeWindowRules\": []}},"
             " {\"name\": \"a2\", \"timeWindowRules\": [{\"ruleType\": "
             "\"FileUploadsNotInAllowedRange\", \"isEnabled\": false}]}]",
             path, sizeof(path));
    CHECK_INT(import_file(&t, path, NULL), 0);
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM security_groups WHERE name IN ('a1', 'a2')", NULL),
              2);
    tdb_file(&t, "one.json",
             "{\"value\": [{\"name\": \"b0\", \"properties\": "
             "{\"allowlistRules\": []}}], \"nextLink\": null}",
             path, sizeof(path));
    CHECK_INT(import_file(&t, path, "b1"), 0);
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM security_groups WHERE name = ?1", "b1"), 1);
    tdb_close(&t);
}

/* Each document is refused with its message, and nothing is stored. */
static void test_documents_that_are_not_groups_are_refused(void)
{
    static const struct {
        const char *doc, *why;
    } bad[] = {
        {"{}", "not a security group: expected a deviceSecurityGroups document"},
        {"{\"name\": \"x\"}", "with at least one rule list, a LIST body"},
        {"{\"name\": \"x\", \"properties\": {}}", "not a security group"},
        {"{\"value\": []}", "the document holds no security group"},
        {"{\"value\": {}}", "value must be an array of security groups"},
        {"{\"value\": [{\"name\": \"ok\", \"properties\": {\"timeWindowRules\": []}}, {}]}",
         "value[1]: not a security group"},
        {"{\"value\": [{\"properties\": {\"timeWindowRules\": []}}, "
         "{\"name\": \"b\", \"properties\": {\"timeWindowRules\": []}}]}",
         "value[0]: the group has no name"},
        {"[{\"name\": \"d\", \"timeWindowRules\": []}, {\"name\": \"d\", \"timeWindowRules\": []}]",
         "[1]: group \"d\" is also [0]"},
        {"{\"parameters\": {\"api-version\": \"2019-08-01\"}, \"responses\": {\"200\": "
         "{\"body\": {\"name\": \"x\", \"properties\": {\"timeWindowRules\": []}}}}}",
         "azure-rest-api-specs example file"},
        {"{\"name\": \"hub-1\", \"type\": \"Microsoft.Devices/IotHubs\", \"properties\": "
         "{\"ipFilterRules\": [], \"timeWindowRules\": []}}",
         "its type is \"Microsoft.Devices/IotHubs\""},
        {"{\"name\": \"set\", \"type\": \"Microsoft.Insights/diagnosticSettings\", "
         "\"properties\": {\"logs\": []}}",
         "give it to `warden hub import`"},
        {"{\"name\": \"x\", \"type\": 5, \"timeWindowRules\": []}", "type must be a string"},
        {"{\"timeWindowRules\": [], \"allowlistRules\": [{\"ruleType\": \"ProcessNotAllowed\","
         " \"isEnabled\": true, \"allowlistValues\": [\"ok\", 7]}]}",
         "(ProcessNotAllowed): allowlistValues[1] must be a string"},
        {"{\"allowlistRules\": [{\"ruleType\": \"LocalUserNotAllowed\", \"isEnabled\": true}]}",
         "(LocalUserNotAllowed): allowlistValues is required"},
        {"{\"allowlistRules\": [{\"ruleType\": \"LocalUserNotAllowed\", \"isEnabled\": true,"
         " \"allowlistValues\": [\"tab\\there\"]}]}",
         "printable text"},
    };
    struct tdb t;
    char path[256];

    tdb_open(&t);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tdb_file(&t, "doc.json", bad[i].doc, path, sizeof(path));
        CHECK_INT(import_file(&t, path, NULL), 2);
        CHECK_CONTAINS(t.err, bad[i].why);
        CHECK_CONTAINS(t.err, "(nothing imported)");
    }
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM security_groups", NULL), 0);
    /* --name cannot name several groups. */
    CHECK_INT(import_file(&t, "tests/fixtures/groups/azure_list_body.json", "one"), 2);
    CHECK_CONTAINS(t.err, "a name was given for one group, but the document holds 2");
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM security_groups", NULL), 0);
    tdb_close(&t);
}

static void test_api_put_refuses_a_list_body(void)
{
    struct group g;
    char err[512];
    size_t len;
    char *doc = slurp("tests/fixtures/groups/azure_list_body.json", &len);

    /* group_parse is what PUT /api/v1/security-groups/{name} and the web editor call. */
    CHECK(!group_parse(doc, len, "lab", &g, err, sizeof(err)));
    CHECK_CONTAINS(err, "a LIST body");
    CHECK_CONTAINS(err, "warden groups import");
    free(doc);
    doc = slurp("tests/fixtures/groups/azure_get_body.json", &len);
    CHECK(group_parse(doc, len, "lab", &g, err, sizeof(err)));
    CHECK_STR(g.name, "lab");
    CHECK(g.tw[GROUP_FILE_UPLOADS].enabled && g.tw[GROUP_FILE_UPLOADS].max == 12 &&
          g.tw[GROUP_FILE_UPLOADS].window_ms == 6 * 3600000LL);
    CHECK_INT(g.users.n, 3);
    CHECK(g.users.n == 3 && strcmp(g.users.values[2], "z\xc3\xa9phyr") == 0);
    CHECK(!g.processes.enabled && g.processes.n == 2);
    CHECK_INT(group_enabled_unobservable(&g), 5);
    group_free(&g);
    free(doc);
}

int main(void)
{
    RUN(test_new_group_has_every_rule_disabled);
    RUN(test_rule_names_in_spec_order);
    RUN(test_partial_document_leaves_others_disabled);
    RUN(test_azure_example_is_normalised);
    RUN(test_bare_properties_document_accepted);
    RUN(test_unknown_rule_type_rejected_by_name);
    RUN(test_negative_threshold_rejected);
    RUN(test_min_above_max_rejected);
    RUN(test_bad_durations_rejected);
    RUN(test_window_bounds_accepted);
    RUN(test_enabled_rule_needs_its_fields);
    RUN(test_bad_cidr_rejected_naming_rule_and_value);
    RUN(test_duplicate_rule_rejected);
    RUN(test_bad_names_rejected);
    RUN(test_ipv6_and_mapped_ranges);
    RUN(test_export_import_round_trip);
    RUN(test_import_names_the_group);
    RUN(test_import_is_all_or_nothing);
    RUN(test_export_prints_normalised_document);
    RUN(test_list_counts_rules_and_devices);
    RUN(test_groups_load_and_store);
    RUN(test_every_azure_rule_type_is_exported_with_its_values);
    RUN(test_put_list_and_array_bodies_import_every_group);
    RUN(test_documents_that_are_not_groups_are_refused);
    RUN(test_api_put_refuses_a_list_body);
    return CHECK_DONE();
}
