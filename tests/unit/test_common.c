/* Unit tests of common/: durations, dates, UTF-8, CIDRs, the map, the arena. */
#include "../../common/common.h"
#include "check.h"

#include <stdlib.h>
#include <unistd.h>

static void duration_accepts_iso8601_forms(void)
{
    int64_t ms;

    CHECK(duration_parse("PT1S", &ms) && ms == 1000);
    CHECK(duration_parse("PT05M", &ms) && ms == 300000);
    CHECK(duration_parse("PT15M", &ms) && ms == 900000);
    CHECK(duration_parse("P1D", &ms) && ms == 86400000);
    CHECK(duration_parse("P1DT12H", &ms) && ms == 129600000);
    CHECK(duration_parse("PT0.5S", &ms) && ms == 500);
    CHECK(duration_parse("P2W", &ms) && ms == 14 * 86400000LL);
}

static void duration_refuses_what_is_not_one(void)
{
    int64_t ms;
    const char *bad[] = {"", "P", "PT", "1S", "PT1", "P1M", "P1Y", "PTS", "PT-1S", "PT1S2",
                         "P1H", "PT1D", "PT99999999999999S", "P1DT", "pt1s", NULL};

    for (int i = 0; bad[i] != NULL; i++) {
        if (duration_parse(bad[i], &ms)) {
            fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
            CHECK(!"a bad duration was accepted");
        }
    }
    CHECK(!duration_parse(NULL, &ms));
}

static void time_parses_zones_and_fractions(void)
{
    int64_t ms;

    CHECK(time_parse_iso("2026-11-29T10:00:00Z", &ms) && ms == 1795946400000LL);
    CHECK(time_parse_iso("2026-11-29T10:00:00", &ms) && ms == 1795946400000LL); /* no zone: UTC */
    CHECK(time_parse_iso("2026-11-29T11:00:00+01:00", &ms) && ms == 1795946400000LL);
    CHECK(time_parse_iso("2026-11-29T10:00:00.250Z", &ms) && ms == 1795946400250LL);
    CHECK(time_parse_iso("2024-02-29T00:00:00Z", &ms));
    CHECK(!time_parse_iso("2023-02-29T00:00:00Z", &ms));
    CHECK(!time_parse_iso("yesterday", &ms));
    CHECK(!time_parse_iso("2026-13-01T00:00:00Z", &ms));
    CHECK(!time_parse_iso("2026-11-29T25:00:00Z", &ms));
    CHECK(!time_parse_iso("2026-11-29T10:00:00Zjunk", &ms));
}

static void time_format_round_trips(void)
{
    char buf[40];
    int64_t ms;

    time_format_iso(1795946400250LL, buf, sizeof(buf));
    CHECK_STR(buf, "2026-11-29T10:00:00.250Z");
    CHECK(time_parse_iso(buf, &ms) && ms == 1795946400250LL);
}

static void utf8_refuses_overlongs_and_surrogates(void)
{
    CHECK(utf8_valid("caf\xc3\xa9", 5));
    CHECK(utf8_valid("\xf0\x9f\x98\x80", 4));
    CHECK(!utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
    CHECK(!utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    CHECK(!utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
    CHECK(!utf8_valid("\xe2\x82", 2));         /* truncated */
    CHECK(!utf8_valid("\xff", 1));
    CHECK(!text_printable("a\nb", 3));
    CHECK(!text_printable("a\x7f", 2));
    CHECK(text_printable("dev-17 \xc3\xa9", 9));
}

/* IoT Hub's device id alphabet, byte by byte, and its length bound. */
static void device_id_takes_only_iot_hub_alphabet(void)
{
    static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                  "-.%_*?!(),:=@$'";
    char id[130];

    for (int c = 1; c < 256; c++) {
        char one[2] = {(char)c, '\0'};
        bool want = strchr(allowed, c) != NULL;
        if ((device_id_check(one, 1) == NULL) != want)
            CHECK_INT(c, -1); /* names the byte that was judged wrongly */
    }
    CHECK(device_id_check("a\0b", 3) != NULL);
    CHECK_STR(device_id_check("", 0), "empty");
    memset(id, 'd', sizeof(id));
    CHECK(device_id_check(id, 128) == NULL);
    CHECK_STR(device_id_check(id, 129), "longer than 128 characters");
    CHECK_STR(device_id_check("dev1\xe2\x80\x8b", 7),
              "not ASCII (IoT Hub allows no other letters, look-alikes included)");
    CHECK_STR(device_id_check("d\xd0\xb5v1", 5),
              "not ASCII (IoT Hub allows no other letters, look-alikes included)");
    CHECK_STR(device_id_check("dev 1", 5), "has a space");
}

static void json_string_end_skips_escapes(void)
{
    CHECK_INT(json_string_end("\"ab\",", 5, 0), 4);
    CHECK_INT(json_string_end("x\"a\\\"b\"]", 8, 1), 7); /* "a\"b" */
    CHECK_INT(json_string_end("\"a\\\\\"]", 6, 0), 5);     /* "a\\" */
    CHECK_INT(json_string_end("\"abc", 4, 0), 4);            /* no closing quote */
    CHECK_INT(json_string_end("\"ab\\", 4, 0), 4);          /* cut after a backslash */
}

static void utf8_char_gives_the_length_of_one_character(void)
{
    CHECK_INT(utf8_char("a\xc3\xa9", 3), 1);
    CHECK_INT(utf8_char("\xc3\xa9x", 3), 2);
    CHECK_INT(utf8_char("\xe2\x82\xac", 3), 3);
    CHECK_INT(utf8_char("\xf0\x9f\x98\x80", 4), 4);
    CHECK_INT(utf8_char("\xc3\xa9", 1), 0); /* cut in the middle */
    CHECK_INT(utf8_char("\xa9", 1), 0);      /* a continuation byte alone */
    CHECK_INT(utf8_char("\xc0\xaf", 2), 0); /* overlong */
    CHECK_INT(utf8_char("", 0), 0);
}

static void cidr_normalises_host_bits(void)
{
    struct ip_addr net;
    char text[64];
    int prefix;

    CHECK(cidr_parse("192.168.0.1/8", &net, &prefix) && prefix == 8);
    ip_format(&net, text, sizeof(text));
    CHECK_STR(text, "192.0.0.0");
    CHECK(cidr_parse("2001:db8::1/32", &net, &prefix) && prefix == 32);
    ip_format(&net, text, sizeof(text));
    CHECK_STR(text, "2001:db8::");
    CHECK(cidr_parse("10.1.2.3", &net, &prefix) && prefix == 32);
    CHECK(cidr_parse("0.0.0.0/0", &net, &prefix) && prefix == 0);
    CHECK(!cidr_parse("10.0.0.0/33", &net, &prefix));
    CHECK(!cidr_parse("10.0.0.0/", &net, &prefix));
    CHECK(!cidr_parse("10.0.0.0/8x", &net, &prefix));
    CHECK(!cidr_parse("999.0.0.0/8", &net, &prefix));
    CHECK(!cidr_parse("::/129", &net, &prefix));
}

static void cidr_contains_edges(void)
{
    struct ip_addr net, ip;
    int prefix;

    CHECK(cidr_parse("10.0.0.0/8", &net, &prefix));
    CHECK(ip_parse("10.0.0.0", &ip) && cidr_contains(&net, prefix, &ip));
    CHECK(ip_parse("10.255.255.255", &ip) && cidr_contains(&net, prefix, &ip));
    CHECK(ip_parse("11.0.0.0", &ip) && !cidr_contains(&net, prefix, &ip));
    CHECK(ip_parse("9.255.255.255", &ip) && !cidr_contains(&net, prefix, &ip));
    CHECK(ip_parse("::ffff:10.1.1.1", &ip) && !cidr_contains(&net, prefix, &ip));
    ip_unmap(&ip);
    CHECK(ip.family == 4 && cidr_contains(&net, prefix, &ip));
}

static void map_grows_and_finds(void)
{
    struct map m;
    int64_t found = 0;

    map_init(&m);
    for (int64_t i = 0; i < 10000; i++) {
        struct map_entry *e = map_upsert(&m, &i, sizeof(i));
        CHECK(e != NULL);
        e->value = i * 2;
    }
    CHECK_INT(m.len, 10000);
    for (int64_t i = 0; i < 10000; i++) {
        struct map_entry *e = map_get(&m, &i, sizeof(i));
        if (e != NULL && e->value == i * 2)
            found++;
    }
    CHECK_INT(found, 10000);
    int64_t missing = 10001;
    CHECK(map_get(&m, &missing, sizeof(missing)) == NULL);
    map_clear(&m);
    CHECK(map_get(&m, &found, sizeof(found)) == NULL);
    map_free(&m);
}

static void arena_refuses_past_its_cap(void)
{
    struct arena a;

    arena_init(&a, 1000);
    CHECK(arena_alloc(&a, 500) != NULL);
    CHECK(arena_alloc(&a, 400) != NULL);
    CHECK(arena_alloc(&a, 200) == NULL);
    CHECK(arena_alloc(&a, SIZE_MAX) == NULL);
    arena_free(&a);
}

static void config_rejects_naming_the_key(void)
{
    struct config cfg;
    char err[256];

    config_defaults(&cfg);
    CHECK(config_set(&cfg, "mqtt.port", "1884", err, sizeof(err)) && cfg.mqtt_port == 1884);
    CHECK(!config_set(&cfg, "mqtt.port", "70000", err, sizeof(err)) && strstr(err, "mqtt.port"));
    CHECK(!config_set(&cfg, "evaluator.interval", "1 minute", err, sizeof(err)) &&
          strstr(err, "evaluator.interval"));
    CHECK(!config_set(&cfg, "no.such.key", "1", err, sizeof(err)) && strstr(err, "no.such.key"));
    CHECK(!config_set(&cfg, "evaluator.clock", "sundial", err, sizeof(err)));
    CHECK(config_set(&cfg, "evaluator.interval", "PT1S", err, sizeof(err)) &&
          cfg.evaluator_interval_ms == 1000);
}

/* A configuration file of TEXT loaded over the defaults; the result of config_load_file. */
static bool config_file_loads(struct config *cfg, const char *text, char *err, size_t errlen)
{
    char path[64];
    FILE *f;
    bool ok;

    snprintf(path, sizeof(path), "/tmp/warden-test-common-%d.json", (int)getpid());
    f = fopen(path, "w");
    CHECK(f != NULL);
    if (f == NULL)
        return false;
    fputs(text, f);
    fclose(f);
    config_defaults(cfg);
    err[0] = '\0';
    ok = config_load_file(cfg, path, true, err, errlen);
    unlink(path);
    return ok;
}

/* Each of BAD is refused as the value of KEY, with a message that names the key. */
static void config_refuses_each(struct config *cfg, const char *key, const char *const *bad)
{
    char err[256];

    for (int i = 0; bad[i] != NULL; i++) {
        err[0] = '\0';
        if (config_set(cfg, key, bad[i], err, sizeof(err)) || strstr(err, key) == NULL) {
            fprintf(stderr, "  %s: accepted \"%s\"\n", key, bad[i]);
            CHECK(!"a bad value was accepted");
        }
    }
}

static void config_alertmanager_urls_are_a_short_list_of_http(void)
{
    struct config cfg;
    char err[256];
    const char *bad[] = {"ftp://am:9093", "am:9093", "http://", "http:///x", "https://",
                         "http://am :9093", ",http://am", "http://a,,http://b",
                         "http://\xc3\xa9", "http://user:pw@am:9093", "http://am:9093/?x=1",
                         "http://am:9093/#frag", NULL};

    config_defaults(&cfg);
    CHECK_STR(cfg.notify_am_urls, ""); /* off unless set */
    CHECK(config_set(&cfg, "notify.alertmanager.urls", "http://a:9093,https://b/am", err,
                     sizeof(err)));
    CHECK_STR(cfg.notify_am_urls, "http://a:9093,https://b/am");
    /* The command line's text may end in a comma (as a shell loop leaves it). */
    CHECK(config_set(&cfg, "notify.alertmanager.urls", "http://am:9093,", err, sizeof(err)));
    CHECK_STR(cfg.notify_am_urls, "http://am:9093");
    CHECK(config_set(&cfg, "notify.alertmanager.urls", "", err, sizeof(err)));
    CHECK_STR(cfg.notify_am_urls, "");
    CHECK(config_set(&cfg, "notify.alertmanager.urls",
                     "http://a1,http://a2,http://a3,http://a4,http://a5,http://a6,http://a7,"
                     "http://a8", err, sizeof(err)));
    CHECK(!config_set(&cfg, "notify.alertmanager.urls",
                      "http://a1,http://a2,http://a3,http://a4,http://a5,http://a6,http://a7,"
                      "http://a8,http://a9", err, sizeof(err)) && strstr(err, "at most 8"));
    config_refuses_each(&cfg, "notify.alertmanager.urls", bad);
    /* A list refused keeps the setting as it was, not its first good addresses. */
    CHECK(config_set(&cfg, "notify.alertmanager.urls", "http://kept", err, sizeof(err)));
    CHECK(!config_set(&cfg, "notify.alertmanager.urls", "http://a,ftp://b", err, sizeof(err)));
    CHECK_STR(cfg.notify_am_urls, "http://kept");
    CHECK(config_file_loads(&cfg, "{\"notify\": {\"alertmanager\": {\"urls\": "
                            "[\"http://127.0.0.1:9093\", \"https://am.lab/prefix\"]}}}",
                            err, sizeof(err)));
    CHECK_STR(cfg.notify_am_urls, "http://127.0.0.1:9093,https://am.lab/prefix");
    CHECK(config_file_loads(&cfg, "{\"notify\": {\"alertmanager\": {\"urls\": []}}}", err,
                            sizeof(err)));
    CHECK_STR(cfg.notify_am_urls, "");
    CHECK(!config_file_loads(&cfg, "{\"notify.alertmanager.urls\": \"http://a\"}", err,
                             sizeof(err)) && strstr(err, "notify.alertmanager.urls"));
    CHECK(!config_file_loads(&cfg, "{\"notify.alertmanager.urls\": [\"http://a\", 5]}", err,
                             sizeof(err)) && strstr(err, "list of strings"));
    CHECK(!config_file_loads(&cfg, "{\"notify.alertmanager.urls\": [\"http://a,http://b\"]}",
                             err, sizeof(err)));
    CHECK(!config_file_loads(&cfg, "{\"notify.alertmanager.urls\": [\"1\",\"2\",\"3\",\"4\","
                             "\"5\",\"6\",\"7\",\"8\",\"9\"]}", err, sizeof(err)));
    CHECK(!config_file_loads(&cfg, "{\"notify.alertmanager.urls\": [\"http://1\",\"http://2\","
                             "\"http://3\",\"http://4\",\"http://5\",\"http://6\",\"http://7\","
                             "\"http://8\",\"http://9\"]}", err, sizeof(err)) &&
          strstr(err, "at most 8"));
}

static void config_labels_are_an_object_of_strings_not_wardens_own(void)
{
    struct config cfg;
    char err[256];
    const char *bad[] = {"{\"severity\": \"x\"}", "{\"source\": \"x\"}", "{\"alertname\": \"x\"}",
                         "{\"device_id\": \"x\"}", "{\"hub\": \"x\"}", "{\"alert_key\": \"x\"}",
                         "{\"security_group\": \"x\"}", "{\"kind\": \"x\"}",
                         "{\"__name__\": \"x\"}", "{\"__x\": \"x\"}", "{\"1lab\": \"x\"}",
                         "{\"la-b\": \"x\"}", "{\"l\\u00e4b\": \"x\"}", "{\"\": \"x\"}",
                         "{\"lab\": \"\"}", "{\"lab\": 3}", "{\"lab\": null}",
                         "{\"lab\": \"a\\nb\"}",
                         "[\"lab\"]", "\"lab\"", "{\"lab\": \"a\", \"lab\": \"b\"}", "{", NULL};

    config_defaults(&cfg);
    CHECK_STR(cfg.notify_labels, "");
    CHECK(config_set(&cfg, "notify.labels", "{\"lab\": \"rack-3\", \"_Zone9\": \"\\u00e9\"}",
                     err, sizeof(err)));
    CHECK_STR(cfg.notify_labels, "{\"_Zone9\":\"\xc3\xa9\",\"lab\":\"rack-3\"}");
    CHECK(config_set(&cfg, "notify.labels", "{}", err, sizeof(err)));
    CHECK_STR(cfg.notify_labels, "");
    /* _severity is not severity, and a single leading _ is allowed. */
    CHECK(config_set(&cfg, "notify.labels", "{\"_severity\": \"x\", \"Severity\": \"y\"}", err,
                     sizeof(err)));
    config_refuses_each(&cfg, "notify.labels", bad);
    CHECK(config_file_loads(&cfg, "{\"notify\": {\"labels\": {\"lab\": \"rack-3\"}}}", err,
                            sizeof(err)));
    CHECK_STR(cfg.notify_labels, "{\"lab\":\"rack-3\"}");
    CHECK(!config_file_loads(&cfg, "{\"notify\": {\"labels\": {\"source\": \"me\"}}}", err,
                             sizeof(err)) && strstr(err, "source"));
    CHECK(!config_file_loads(&cfg, "{\"notify\": {\"labels\": [\"lab\"]}}", err, sizeof(err)) &&
          strstr(err, "notify.labels"));
    CHECK(!config_file_loads(&cfg, "{\"notify\": {\"labels\": {\"lab\": {\"a\": \"b\"}}}}", err,
                             sizeof(err)));
}

static void config_external_url_is_http_or_https(void)
{
    struct config cfg;
    char err[256];
    const char *bad[] = {"warden.lab", "ftp://warden.lab", "http://", "http:///w",
                         "http://warden lab", "https://w\xc3\xa9", "http://a,b", NULL};

    config_defaults(&cfg);
    CHECK_STR(cfg.web_external_url, "");
    CHECK(config_set(&cfg, "web.external_url", "https://warden.lab/w/", err, sizeof(err)));
    CHECK_STR(cfg.web_external_url, "https://warden.lab/w/");
    CHECK(config_set(&cfg, "web.external_url", "http://10.0.0.5:8080", err, sizeof(err)));
    CHECK(config_set(&cfg, "web.external_url", "", err, sizeof(err)));
    CHECK_STR(cfg.web_external_url, "");
    config_refuses_each(&cfg, "web.external_url", bad);
    CHECK(config_file_loads(&cfg, "{\"web\": {\"external_url\": \"https://warden.lab\"}}", err,
                            sizeof(err)));
    CHECK_STR(cfg.web_external_url, "https://warden.lab");
    CHECK(!config_file_loads(&cfg, "{\"web\": {\"external_url\": \"warden.lab\"}}", err,
                             sizeof(err)) && strstr(err, "web.external_url"));
    CHECK(!config_file_loads(&cfg, "{\"web\": {\"external_url\": 8080}}", err, sizeof(err)));
}

int main(void)
{
    RUN(device_id_takes_only_iot_hub_alphabet);
    RUN(duration_accepts_iso8601_forms);
    RUN(duration_refuses_what_is_not_one);
    RUN(time_parses_zones_and_fractions);
    RUN(time_format_round_trips);
    RUN(utf8_refuses_overlongs_and_surrogates);
    RUN(utf8_char_gives_the_length_of_one_character);
    RUN(json_string_end_skips_escapes);
    RUN(cidr_normalises_host_bits);
    RUN(cidr_contains_edges);
    RUN(map_grows_and_finds);
    RUN(arena_refuses_past_its_cap);
    RUN(config_rejects_naming_the_key);
    RUN(config_alertmanager_urls_are_a_short_list_of_http);
    RUN(config_labels_are_an_object_of_strings_not_wardens_own);
    RUN(config_external_url_is_http_or_https);
    return CHECK_DONE();
}
