/*
 * Unit tests of security groups (evaluator/groups.c, SPEC 4.1): defaults,
 * partial documents, every rejection naming its rule, CIDR normalisation,
 * the export/import round trip, and `warden groups` against a scratch
 * database (naming, all-or-nothing, export, list). Run from the repository
 * root.
 */
#include "../../evaluator/evaluator.h"
#include "../../evaluator/groups.h"
#include "eval_helpers.h"

#define ALL_RULES (GROUP_RULE_COUNT + 2)

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

    /* An empty document is such a group too. */
    CHECK(parse_text("{}", &g, err, sizeof(err)));
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
                    "\"AmqpC2DMessagesNotInAllowedRange\", \"isEnabled\": true}]}}",
                    "timeWindowRules[0]", "unknown rule type \"AmqpC2DMessagesNotInAllowedRange\"");
    expect_rejected("{\"properties\": {\"allowlistRules\": [{\"ruleType\": \"LocalUserNotAllowed\","
                    " \"isEnabled\": true, \"allowlistValues\": []}]}}",
                    "allowlistRules[0]", "unknown rule type \"LocalUserNotAllowed\"");
    expect_rejected("{\"properties\": {\"timeWindowRules\": [{\"isEnabled\": true}]}}",
                    "timeWindowRules[0]", "ruleType is required");
    /* Warden has no threshold or deny-list rules, so any listed there is unknown. */
    expect_rejected(
        "{\"properties\": {\"denylistRules\": [{\"ruleType\": \"ProcessNotAllowed\"}]}}",
        "denylistRules[0]", "unknown rule type \"ProcessNotAllowed\"");
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

    expect_rejected("{\"name\": \"lab/one\"}", "not a valid group name", NULL);
    expect_rejected("{\"name\": 7}", "name must be a string", NULL);
    CHECK(!group_parse("{}", 2, "..", &g, err, sizeof(err)));
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
    CHECK(memcmp(a.tw, b.tw, sizeof(a.tw)) == 0);
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
    tdb_file(&t, "ignored.json", "{\"name\": \"from-doc\"}", path, sizeof(path));
    {
        char *argv[] = {"groups", "import", path, NULL};
        capture_begin(&t);
        CHECK_INT(eval_cmd_groups(3, argv, t.s), 0);
        capture_end(&t);
    }
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM security_groups WHERE name = ?1", "from-doc"), 1);
    /* --name wins over it. */
    {
        char *argv[] = {"groups", "import", path, "--name", "override", NULL};
        capture_begin(&t);
        CHECK_INT(eval_cmd_groups(5, argv, t.s), 0);
        capture_end(&t);
        CHECK_CONTAINS(t.out, "security group override: imported, 0 of 10 rules enabled");
    }
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM security_groups WHERE name = ?1", "override"), 1);
    /* Neither: the file name without its extension. */
    tdb_file(&t, "sensors.v2.json", "{\"properties\": {}}", path, sizeof(path));
    {
        char *argv[] = {"groups", "import", path, NULL};
        capture_begin(&t);
        CHECK_INT(eval_cmd_groups(3, argv, t.s), 0);
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
              8);
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
        CHECK_INT(eval_cmd_groups(3, argv, t.s), 0);
        capture_end(&t);
    }
    sql_text(&t, "SELECT rules_json FROM security_groups WHERE name = 'lab'", NULL, before,
             sizeof(before));
    {
        char *argv[] = {"groups", "import", bad, "--name", "lab", NULL};
        capture_begin(&t);
        CHECK_INT(eval_cmd_groups(5, argv, t.s), 2);
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
        CHECK_INT(eval_cmd_groups(5, argv, t.s), 0);
        capture_end(&t);
        CHECK_CONTAINS(t.out, "3 of 10 rules enabled");
    }
    {
        char *argv[] = {"groups", "export", "lab", NULL};
        capture_begin(&t);
        CHECK_INT(eval_cmd_groups(3, argv, t.s), 0);
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
        CHECK_INT(eval_cmd_groups(3, argv, t.s), 0);
        capture_end(&t);
        CHECK_CONTAINS(t.out, "\"name\": \"default\"");
    }
    {
        char *argv[] = {"groups", "export", "nope", NULL};
        capture_begin(&t);
        CHECK_INT(eval_cmd_groups(3, argv, t.s), 1);
        capture_end(&t);
        CHECK_CONTAINS(t.err, "unknown security group \"nope\"");
        CHECK_STR(t.out, "");
    }
    {
        char *argv[] = {"groups", "frobnicate", NULL};
        capture_begin(&t);
        CHECK_INT(eval_cmd_groups(2, argv, t.s), 2);
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
        CHECK_INT(eval_cmd_groups(5, argv, t.s), 0);
        capture_end(&t);
    }
    {
        char *argv[] = {"groups", "list", NULL};
        capture_begin(&t);
        CHECK_INT(eval_cmd_groups(2, argv, t.s), 0);
        capture_end(&t);
    }
    CHECK_CONTAINS(t.out, "NAME");
    CHECK_STR(list_line(t.out, "default", line, sizeof(line)), "default 0/10 1");
    CHECK_STR(list_line(t.out, "lab", line, sizeof(line)), "lab 1/10 2");
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
    return CHECK_DONE();
}
