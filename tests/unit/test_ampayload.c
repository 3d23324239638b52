/*
 * Unit tests of notify/ampayload.c and the address parsing of
 * notify/amclient.c: the postable alert Warden builds (labels, annotations,
 * times, links), the answers it reads back, on the shapes a real
 * Alertmanager 0.25 gave (tests/fuzz/corpus/amreply/, also the fuzz seeds),
 * and the Alertmanager URLs it accepts.
 */
#include "../../notify/amclient.h"
#include "../../notify/ampayload.h"
#include "check.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CORPUS "tests/fuzz/corpus/amreply/"
#define BASE "http://warden.lab:8080"
#define NOW 1796676000000LL /* 2026-12-07T20:40:00Z */
#define LEASE 240000LL

static struct am_item alert_item(void)
{
    struct am_item it = {
        .kind = "alert", .ref = 7, .type = "flow_to_known_bad_ip",
        .key = "sensor-01|203.0.113.9", .severity = "Critical", .device_id = "sensor-01",
        .hub = "lab-hub", .group = "lab-a", .title = "Flow to a known bad IP",
        .description = "sensor-01 sent 3 flows to 203.0.113.9",
        .remediation = "Isolate the device.", .status = "Active",
        .start_ms = NOW - 3600000, .end_ms = -1, .last_ms = NOW - 60000, .count = 3,
        .value = "3",
    };
    return it;
}

static const char *label(json_t *a, const char *k)
{
    return json_string_value(json_object_get(json_object_get(a, "labels"), k));
}

static const char *annotation(json_t *a, const char *k)
{
    return json_string_value(json_object_get(json_object_get(a, "annotations"), k));
}

static int64_t time_field(json_t *a, const char *k)
{
    int64_t ms = -1;

    if (!time_parse_iso(json_string_value(json_object_get(a, k)), &ms))
        return -2;
    return ms;
}

static void labels_are_exactly_the_identity(void)
{
    struct am_item it = alert_item();
    json_t *a = am_item_json(&it, NULL, NOW, LEASE, BASE), *l = json_object_get(a, "labels");
    const char *want[][2] = {{"alertname", "flow_to_known_bad_ip"}, {"severity", "critical"},
                             {"device_id", "sensor-01"}, {"alert_key", "sensor-01|203.0.113.9"},
                             {"security_group", "lab-a"}, {"kind", "alert"},
                             {"source", "warden"}};

    CHECK_INT(json_object_size(l), 7);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        CHECK_STR(label(a, want[i][0]), want[i][1]);
    /* A device's alert names the device, not the hub (device_id XOR hub). */
    CHECK(json_object_get(l, "hub") == NULL);
    json_decref(a);

    it.device_id = NULL;
    it.group = NULL;
    a = am_item_json(&it, NULL, NOW, LEASE, BASE);
    CHECK_STR(label(a, "hub"), "lab-hub");
    CHECK(label(a, "device_id") == NULL && label(a, "security_group") == NULL);
    CHECK_INT(json_object_size(json_object_get(a, "labels")), 6);
    json_decref(a);
}

static void extra_labels_never_override_wardens_own(void)
{
    struct am_item it = alert_item();
    json_t *extra = json_pack("{s:s, s:s, s:s}", "lab", "rack-3", "source", "mallory", "kind",
                              "x");
    json_t *a = am_item_json(&it, extra, NOW, LEASE, BASE);

    CHECK_STR(label(a, "lab"), "rack-3");
    CHECK_STR(label(a, "source"), "warden");
    CHECK_STR(label(a, "kind"), "alert");
    CHECK_INT(json_object_size(json_object_get(a, "labels")), 8);
    /* The configured object is not changed by building an alert from it. */
    CHECK_STR(json_string_value(json_object_get(extra, "source")), "mallory");
    json_decref(a);
    json_decref(extra);
}

static void annotations_carry_what_changes(void)
{
    struct am_item it = alert_item();
    json_t *a = am_item_json(&it, NULL, NOW, LEASE, BASE);
    char t[40];

    CHECK_STR(annotation(a, "summary"), "Flow to a known bad IP: sensor-01");
    CHECK_STR(annotation(a, "description"), "sensor-01 sent 3 flows to 203.0.113.9");
    CHECK_STR(annotation(a, "remediation"), "Isolate the device.");
    CHECK_STR(annotation(a, "warden_url"), BASE "/alerts/7");
    CHECK_STR(annotation(a, "status"), "Active");
    CHECK_STR(annotation(a, "count"), "3");
    CHECK_STR(annotation(a, "value"), "3");
    time_format_iso(NOW - 60000, t, sizeof(t));
    CHECK_STR(annotation(a, "last_seen"), t);
    CHECK_INT(json_object_size(json_object_get(a, "annotations")), 8);
    json_decref(a);

    /* A recommendation: no count, no value, no last_seen; the hub in the summary. */
    it.kind = "recommendation";
    it.device_id = NULL;
    it.count = -1;
    it.last_ms = -1;
    it.value = NULL;
    it.title = NULL;
    it.type = "hub_public_network_access";
    a = am_item_json(&it, NULL, NOW, LEASE, BASE);
    CHECK_STR(annotation(a, "summary"), "hub_public_network_access: lab-hub");
    CHECK(annotation(a, "count") == NULL && annotation(a, "value") == NULL &&
          annotation(a, "last_seen") == NULL);
    json_decref(a);
}

static void links_name_the_alert_and_recommendation_pages(void)
{
    struct am_item it = alert_item();
    json_t *a = am_item_json(&it, NULL, NOW, LEASE, BASE);
    char url[200];

    CHECK_STR(json_string_value(json_object_get(a, "generatorURL")), BASE "/alerts/7");
    json_decref(a);
    it.kind = "recommendation";
    it.ref = 12;
    a = am_item_json(&it, NULL, NOW, LEASE, BASE);
    CHECK_STR(json_string_value(json_object_get(a, "generatorURL")),
              BASE "/recommendations#rec-12");
    CHECK_STR(annotation(a, "warden_url"), BASE "/recommendations#rec-12");
    json_decref(a);
    am_item_url(&it, "https://w", url, sizeof(url));
    CHECK_STR(url, "https://w/recommendations#rec-12");
}

static void firing_holds_a_lease_and_resolved_ends_when_it_ended(void)
{
    struct am_item it = alert_item();
    json_t *a = am_item_json(&it, NULL, NOW, LEASE, BASE);

    CHECK_INT(time_field(a, "startsAt"), it.start_ms);
    CHECK_INT(time_field(a, "endsAt"), NOW + LEASE);
    json_decref(a);

    it.end_ms = NOW - 600000; /* ended ten minutes ago */
    a = am_item_json(&it, NULL, NOW, LEASE, BASE);
    CHECK_INT(time_field(a, "startsAt"), it.start_ms);
    CHECK_INT(time_field(a, "endsAt"), NOW - 600000);
    json_decref(a);

    it.end_ms = NOW + 600000; /* an end in the future is no later than now */
    a = am_item_json(&it, NULL, NOW, LEASE, BASE);
    CHECK_INT(time_field(a, "endsAt"), NOW);
    json_decref(a);

    it.end_ms = it.start_ms - 5000; /* an end before the start is the start */
    a = am_item_json(&it, NULL, NOW, LEASE, BASE);
    CHECK_INT(time_field(a, "endsAt"), it.start_ms);
    json_decref(a);
}

/*
 * A start ahead of Warden's clock (evaluator.clock "device", within
 * ingest.max_clock_skew, which by default is longer than the lease): a firing
 * endsAt of now + lease would fall before startsAt, which Alertmanager
 * refuses with a 400 ("start time must be before end time"), and a 400 is
 * never retried: the alert would never reach it.
 */
static void firing_never_ends_before_it_starts(void)
{
    struct am_item it = alert_item();
    json_t *a;

    it.start_ms = NOW + 300000;
    a = am_item_json(&it, NULL, NOW, LEASE, BASE);
    CHECK_INT(time_field(a, "startsAt"), NOW + 300000);
    CHECK(time_field(a, "endsAt") > time_field(a, "startsAt"));
    CHECK_INT(time_field(a, "endsAt"), NOW + 300000 + LEASE);
    json_decref(a);
}

/* A text cut to fit is cut between characters: jansson refuses a string of broken UTF-8. */
static void long_texts_are_cut_between_characters(void)
{
    struct am_item it = alert_item();
    char title[1200], sev[40];
    const char *s;
    json_t *a;

    for (size_t i = 0; i + 2 < sizeof(title); i += 2)
        memcpy(title + i, "\xc3\xa9", 2); /* é */
    title[sizeof(title) - 1] = '\0';
    title[sizeof(title) - 2] = '\0';
    it.title = title;
    snprintf(sev, sizeof(sev), "Cr%s", "\xc3\x89\xc3\x89\xc3\x89\xc3\x89\xc3\x89\xc3\x89\xc3\x89");
    it.severity = sev; /* 16 bytes: its last character would be cut in two */
    a = am_item_json(&it, NULL, NOW, LEASE, BASE);
    s = annotation(a, "summary");
    CHECK(s != NULL && strlen(s) > 500 && strncmp(s, "\xc3\xa9\xc3\xa9", 4) == 0);
    CHECK(s != NULL && utf8_valid(s, strlen(s)));
    s = label(a, "severity");
    CHECK(s != NULL && strncmp(s, "cr", 2) == 0 && utf8_valid(s, strlen(s)));
    json_decref(a);
}

static void base_url_is_the_external_url_or_the_listener(void)
{
    struct config cfg;
    char out[300], host[256], want[300];

    config_defaults(&cfg);
    snprintf(cfg.web_external_url, sizeof(cfg.web_external_url), "https://warden.lab/w///");
    notify_base_url(&cfg, out, sizeof(out));
    CHECK_STR(out, "https://warden.lab/w");
    snprintf(cfg.web_external_url, sizeof(cfg.web_external_url), "https://warden.lab");
    notify_base_url(&cfg, out, sizeof(out));
    CHECK_STR(out, "https://warden.lab");
    cfg.web_external_url[0] = '\0';
    snprintf(cfg.web_listen, sizeof(cfg.web_listen), "127.0.0.1:8080");
    notify_base_url(&cfg, out, sizeof(out));
    CHECK_STR(out, "http://127.0.0.1:8080");
    snprintf(cfg.web_listen, sizeof(cfg.web_listen), "0.0.0.0:8081");
    notify_base_url(&cfg, out, sizeof(out));
    CHECK(gethostname(host, sizeof(host)) == 0);
    host[sizeof(host) - 1] = '\0';
    snprintf(want, sizeof(want), "http://%s:8081", host);
    CHECK_STR(out, want);
    CHECK(strstr(out, "0.0.0.0") == NULL);
}

/* ---- reading back ------------------------------------------------------------------------ */

struct seen_log {
    int n;
    char alertname[8][64], alert_key[8][64], kind[8][32], state[8][32];
    char silenced_by[8][512], inhibited_by[8][512];
};

static void on_seen(void *arg, const struct am_seen *s)
{
    struct seen_log *log = arg;
    int i = log->n++;

    if (i >= 8)
        return;
    snprintf(log->alertname[i], 64, "%s", s->alertname);
    snprintf(log->alert_key[i], 64, "%s", s->alert_key);
    snprintf(log->kind[i], 32, "%s", s->kind);
    snprintf(log->state[i], 32, "%s", s->state ? s->state : "(null)");
    snprintf(log->silenced_by[i], 512, "%s", s->silenced_by);
    snprintf(log->inhibited_by[i], 512, "%s", s->inhibited_by);
}

struct silence_log {
    int n;
    char id[8][100], state[8][32], comment[8][64], created_by[8][64], matchers[8][300];
    int64_t starts[8], ends[8];
};

static void on_silence(void *arg, const struct am_silence *s)
{
    struct silence_log *log = arg;
    int i = log->n++;

    if (i >= 8)
        return;
    snprintf(log->id[i], 100, "%s", s->id);
    snprintf(log->state[i], 32, "%s", s->state);
    snprintf(log->comment[i], 64, "%s", s->comment ? s->comment : "(null)");
    snprintf(log->created_by[i], 64, "%s", s->created_by ? s->created_by : "(null)");
    snprintf(log->matchers[i], 300, "%s", s->matchers ? s->matchers : "(null)");
    log->starts[i] = s->starts_ms;
    log->ends[i] = s->ends_ms;
}

static int alerts_of(const char *file, struct seen_log *log)
{
    size_t len;
    char *buf = slurp(file, &len);
    int n;

    memset(log, 0, sizeof(*log));
    n = am_parse_alerts(buf, len, on_seen, log);
    free(buf);
    return n;
}

static int silences_of(const char *file, struct silence_log *log)
{
    size_t len;
    char *buf = slurp(file, &len);
    int n;

    memset(log, 0, sizeof(*log));
    n = am_parse_silences(buf, len, on_silence, log);
    free(buf);
    return n;
}

static int64_t iso(const char *s)
{
    int64_t ms = -3;

    CHECK(time_parse_iso(s, &ms));
    return ms;
}

static void uptime_is_read_from_the_status(void)
{
    size_t len;
    char *buf = slurp(CORPUS "status", &len), out[64];

    CHECK(am_parse_uptime(buf, len, out, sizeof(out)));
    CHECK_STR(out, "2026-12-07T20:53:10.181Z");
    CHECK(!am_parse_uptime(buf, len, out, 10)); /* does not fit: refused, not cut */
    free(buf);
    buf = slurp(CORPUS "status_nanoseconds", &len);
    CHECK(am_parse_uptime(buf, len, out, sizeof(out)));
    CHECK_STR(out, "2026-12-07T20:46:41.347123456Z");
    free(buf);
    CHECK(!am_parse_uptime("[]", 2, out, sizeof(out)));
    CHECK(!am_parse_uptime("{\"uptime\":5}", 12, out, sizeof(out)));
    CHECK(!am_parse_uptime("{\"uptime\":\"\"}", 13, out, sizeof(out)));
    CHECK(!am_parse_uptime("{\"uptime\":\"a\\nb\"}", 17, out, sizeof(out)));
    CHECK(!am_parse_uptime(NULL, 0, out, sizeof(out)));
}

static void alerts_read_back_only_wardens_with_their_suppression(void)
{
    struct seen_log log;

    /* Parent (source="prometheus") is not Warden's. */
    CHECK_INT(alerts_of(CORPUS "alerts_all", &log), 3);
    CHECK_INT(log.n, 3);
    CHECK_STR(log.alertname[0], "flow_to_known_bad_ip");
    CHECK_STR(log.alert_key[0], "sensor-01|203.0.113.9");
    CHECK_STR(log.kind[0], "alert");
    CHECK_STR(log.state[0], "suppressed");
    CHECK_STR(log.silenced_by[0], "[\"f9acd87f-d659-4647-b425-c9f064e60dab\"]");
    CHECK_STR(log.inhibited_by[0], "[]");
    CHECK_STR(log.alertname[1], "Child");
    CHECK_STR(log.inhibited_by[1], "[\"229ceca5b240f2df\"]");
    CHECK_STR(log.silenced_by[1], "[]");
    CHECK_STR(log.kind[2], "recommendation");
    CHECK_STR(log.state[2], "active");
    CHECK_INT(alerts_of(CORPUS "alerts_warden_filtered", &log), 2);
    CHECK_INT(alerts_of(CORPUS "alerts_empty", &log), 0);
}

static void alerts_refuse_what_is_not_the_list(void)
{
    struct seen_log log;
    const char *bad[] = {"status", "hostile_error_object", "hostile_truncated", "hostile_deep",
                         "hostile_deep_in_status", "hostile_not_utf8", "hostile_bad_escapes",
                         "hostile_huge_numbers", NULL};
    char path[200];

    for (int i = 0; bad[i]; i++) {
        snprintf(path, sizeof(path), CORPUS "%s", bad[i]);
        if (alerts_of(path, &log) != -1 || log.n != 0) {
            fprintf(stderr, "  %s was read as alerts\n", bad[i]);
            CHECK(!"a non-list was read");
        }
    }
    CHECK_INT(am_parse_alerts("", 0, on_seen, &log), -1);
    CHECK_INT(am_parse_alerts(NULL, 0, on_seen, &log), -1);
}

static void alerts_keep_only_ids_that_are_ids(void)
{
    struct seen_log log;
    char want[200], id99[100];

    /* Numbers, nulls, objects, empty and unprintable ids are left out; wrong types are absent. */
    CHECK_INT(alerts_of(CORPUS "hostile_wrong_types", &log), 1);
    CHECK_STR(log.silenced_by[0], "[\"ok-id\"]");
    CHECK_STR(log.inhibited_by[0], "[]");
    CHECK_INT(alerts_of(CORPUS "hostile_escapes", &log), 1);
    CHECK_STR(log.alertname[0], "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    CHECK_STR(log.alert_key[0], "k\"q");
    memset(id99, 'x', 99); /* the corpus's longest id that is kept */
    id99[99] = '\0';
    snprintf(want, sizeof(want), "[\"%s\"]", id99);
    CHECK_STR(log.silenced_by[0], want); /* 99 bytes kept; 100 and "" left out */
}

/*
 * An alert under more silences than its column holds: those that fit are
 * kept, so the page still says it is silenced (and by which), rather than
 * an empty list that reads as "not silenced".
 */
static void alerts_under_many_silences_keep_those_that_fit(void)
{
    struct seen_log log;
    json_t *ids;

    CHECK_INT(alerts_of(CORPUS "alerts_many_silences", &log), 1);
    ids = json_loads(log.silenced_by[0], 0, NULL);
    CHECK(json_is_array(ids) && json_array_size(ids) >= 10 && json_array_size(ids) < 20);
    CHECK_STR(json_string_value(json_array_get(ids, 0)), "00000000-0000-4000-8000-000000000000");
    CHECK(strlen(log.silenced_by[0]) < 512);
    json_decref(ids);
    CHECK_STR(log.inhibited_by[0], "[\"229ceca5b240f2df\",\"229ceca5b240f2df\","
                                   "\"229ceca5b240f2df\"]");
}

static void silences_read_back_without_the_expired(void)
{
    struct silence_log log;

    CHECK_INT(silences_of(CORPUS "silences_active_pending_expired", &log), 2);
    CHECK_INT(log.n, 2);
    CHECK_STR(log.id[0], "f9acd87f-d659-4647-b425-c9f064e60dab");
    CHECK_STR(log.state[0], "active");
    CHECK_STR(log.comment[0], "maintenance of sensor-01");
    CHECK_STR(log.created_by[0], "ops@lab");
    CHECK_INT(log.starts[0], iso("2026-12-07T20:53:22.082Z"));
    CHECK_INT(log.ends[0], iso("2026-12-07T21:53:22.000Z"));
    CHECK(strstr(log.matchers[0], "\"value\":\"flow_.*\"") != NULL &&
          strstr(log.matchers[0], "\"isRegex\":true") != NULL && log.matchers[0][0] == '[');
    CHECK_STR(log.id[1], "6c76fe54-0c93-4620-81dc-ad116c42f1d2");
    CHECK_STR(log.state[1], "pending");
    CHECK_INT(silences_of(CORPUS "silences_empty", &log), 0);
    CHECK_INT(silences_of(CORPUS "status", &log), -1);
    CHECK_INT(silences_of(CORPUS "hostile_truncated", &log), -1);
    CHECK_INT(silences_of(CORPUS "hostile_bad_escapes", &log), -1);
}

static void silence_times_take_nanoseconds_and_refuse_nonsense(void)
{
    struct silence_log log;

    CHECK_INT(silences_of(CORPUS "silences_nanoseconds", &log), 1);
    CHECK_INT(log.starts[0], iso("2026-12-07T20:46:41.347Z"));
    CHECK_INT(log.ends[0], iso("2026-12-07T21:46:41.999Z"));
    CHECK_INT(silences_of(CORPUS "silences_odd_times", &log), 3);
    CHECK_INT(log.starts[0], -1); /* year 99999 */
    CHECK_INT(log.ends[0], -1);   /* 30 February */
    CHECK_INT(log.starts[1], iso("2026-12-07T20:46:41.123Z"));
    CHECK_INT(log.ends[1], -1);   /* a fraction of 14 digits */
    CHECK_STR(log.matchers[1], "[]");
    CHECK_INT(log.starts[2], iso("2026-12-07T20:46:41Z"));
}

static void silences_need_an_id_and_a_state(void)
{
    struct silence_log log;

    /* Wrong types: only "y" has a string id and a state; its times and matchers are unreadable. */
    CHECK_INT(silences_of(CORPUS "hostile_wrong_types", &log), 1);
    CHECK_STR(log.id[0], "y");
    CHECK_INT(log.starts[0], -1);
    CHECK_INT(log.ends[0], -1);
    CHECK_STR(log.matchers[0], "(null)");
    /* "expired" skipped, no state skipped, an empty id is no silence. */
    CHECK_INT(silences_of(CORPUS "hostile_expired_spellings", &log), 2);
    CHECK_STR(log.id[0], "e2");
    CHECK_STR(log.id[1], "e3");
    CHECK_INT(silences_of(CORPUS "hostile_escapes", &log), 1);
    CHECK_STR(log.id[0], "\xc3\xa9t\xc3\xa9");
    CHECK_STR(log.comment[0], "line one\nline two\ttab");
    CHECK_STR(log.created_by[0], "\xe2\x80\xae" "evil");
}

/* ---- the Alertmanager's address ----------------------------------------------------------- */

static void client_takes_http_and_https_addresses(void)
{
    struct config cfg;
    struct am_client c;
    char err[300];

    config_defaults(&cfg);
    CHECK(am_client_init(&c, "http://h:9093", &cfg, -1, err, sizeof(err)));
    CHECK_STR(c.host, "h");
    CHECK_INT(c.port, 9093);
    CHECK(!c.tls);
    CHECK_STR(c.prefix, "");
    CHECK_STR(c.url, "http://h:9093");
    CHECK_INT(c.timeout_ms, 10000);
    am_client_free(&c);
    CHECK(am_client_init(&c, "https://h", &cfg, -1, err, sizeof(err)));
    CHECK(c.tls);
    CHECK_INT(c.port, 443);
    am_client_free(&c);
    CHECK(am_client_init(&c, "http://h", &cfg, -1, err, sizeof(err)));
    CHECK_INT(c.port, 80);
    am_client_free(&c);
    CHECK(am_client_init(&c, "http://h:9093/prefix/", &cfg, -1, err, sizeof(err)));
    CHECK_STR(c.prefix, "/prefix");
    CHECK_STR(c.url, "http://h:9093/prefix");
    am_client_free(&c);
    CHECK(am_client_init(&c, "http://[::1]:9093/", &cfg, -1, err, sizeof(err)));
    CHECK_STR(c.host, "::1");
    CHECK_STR(c.prefix, "");
    am_client_free(&c);
}

static void client_refuses_what_is_not_an_alertmanager_address(void)
{
    struct config cfg;
    struct am_client c;
    char err[300];
    const char *bad[] = {"ftp://h:9093", "http://user:pw@h:9093", "http://h:9093/?a=b",
                         "http://h:9093/#/silences", "h:9093", "http://", "http:///x",
                         "", "mailto:a@b", NULL};

    config_defaults(&cfg);
    for (int i = 0; bad[i]; i++) {
        err[0] = '\0';
        if (am_client_init(&c, bad[i], &cfg, -1, err, sizeof(err))) {
            fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
            CHECK(!"a bad address was accepted");
            am_client_free(&c);
        } else {
            CHECK(strstr(err, "notify.alertmanager.urls") != NULL);
        }
    }
}

static void silence_url_is_the_web_interfaces_page(void)
{
    char out[200];

    am_silence_url("http://am:9093", "f9acd87f", out, sizeof(out));
    CHECK_STR(out, "http://am:9093/#/silences/f9acd87f");
    am_silence_url("http://am:9093/alertmanager//", "x", out, sizeof(out));
    CHECK_STR(out, "http://am:9093/alertmanager/#/silences/x");
}

int main(void)
{
    RUN(labels_are_exactly_the_identity);
    RUN(extra_labels_never_override_wardens_own);
    RUN(annotations_carry_what_changes);
    RUN(links_name_the_alert_and_recommendation_pages);
    RUN(firing_holds_a_lease_and_resolved_ends_when_it_ended);
    RUN(firing_never_ends_before_it_starts);
    RUN(long_texts_are_cut_between_characters);
    RUN(base_url_is_the_external_url_or_the_listener);
    RUN(uptime_is_read_from_the_status);
    RUN(alerts_read_back_only_wardens_with_their_suppression);
    RUN(alerts_refuse_what_is_not_the_list);
    RUN(alerts_keep_only_ids_that_are_ids);
    RUN(alerts_under_many_silences_keep_those_that_fit);
    RUN(silences_read_back_without_the_expired);
    RUN(silence_times_take_nanoseconds_and_refuse_nonsense);
    RUN(silences_need_an_id_and_a_state);
    RUN(client_takes_http_and_https_addresses);
    RUN(client_refuses_what_is_not_an_alertmanager_address);
    RUN(silence_url_is_the_web_interfaces_page);
    return CHECK_DONE();
}
