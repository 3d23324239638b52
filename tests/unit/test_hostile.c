/*
 * The catalogue of hostile messages (issue 6): each case is a topic and a
 * payload a device or an attacker could publish, run through the real router
 * and decoders into a real SQLite file, with the one reason it must be
 * dead-lettered. Each case's name says why it is refused. A case passes when
 * the router returns success (the pipeline goes on), exactly the expected
 * dead letters appear with the expected reason and counter label, and
 * nothing of the payload is stored as data. Two controls, which must store
 * data and no dead letter, show that the harness can tell the difference.
 *
 * The per-decoder tests (test_fb.c, test_json.c, test_hubrec.c) go deeper
 * into each format (every truncation length, bit flips); this file is the
 * list a reader can check against the threats, end to end.
 */
#include "../../ingest/route.h"
#include "check.h"
#include "check_sql.h"

#include <sqlite3.h>
#include <unistd.h>

#define RECV_MS 1796000000000LL
#define SEC     "%24.ifid=urn%3Aazureiot%3ASecurity%3ASecurityAgent%3A1"
#define JSON_T  "devices/dev-1/messages/events/" SEC
#define FB_T    "devices/dev-1/messages/events/mti=2.3-1-0-0&" SEC
#define HUB_T   "hub/lab-hub/operations"
#define JSON_HEAD "{\"AgentVersion\":\"1\",\"AgentId\":\"a\",\"MessageSchemaVersion\":\"1.0\","
#define HEARTBEAT                                                                                  \
    "{\"EventType\":\"Security\",\"Category\":\"Periodic\",\"Name\":\"Heartbeat\","                \
    "\"PayloadSchemaVersion\":\"1.0\",\"Id\":\"%s\",\"TimestampLocal\":\"2026-11-29T10:00:00Z\","  \
    "\"TimestampUTC\":\"2026-11-29T10:00:00Z\",\"Payload\":[]}"
#define REC "\"category\":\"C2DCommands\",\"operation\":\"reject\",\"deviceId\":\"dev-2\""

/* Payloads built at run time (sizes, bytes a string literal cannot hold well). */
enum gen {
    GEN_NONE,
    GEN_JSON_DEEP,        /* 100,000 nested arrays */
    GEN_JSON_OVERSIZE,    /* one byte over ingest.max_message_bytes */
    GEN_HUB_OVERSIZE,
    GEN_FB_GOLDEN_HALF,   /* the golden FlatBuffers vector cut in half */
    GEN_FB_ROOT_OUT,      /* the golden vector with its root offset past the end */
    GEN_FB_ALL_FF,        /* 64 bytes of 0xff */
    GEN_FB_GOLDEN,        /* control: the golden vector whole */
    GEN_TOPIC_LONG_ID,    /* a device id of 129 bytes */
    GEN_TOPIC_OVERLONG,   /* a topic longer than the router's copy */
    GEN_TOPIC_LEVELS,     /* a topic of 400 levels */
    GEN_BAG_LONG_VALUE,   /* an mti value longer than a property value may be */
};

struct hostile {
    const char *name;     /* why it is refused */
    const char *topic;
    const char *payload;  /* text payload, or NULL with gen */
    size_t len;           /* for payloads holding NUL bytes; 0: strlen */
    enum gen gen;
    const char *kind;     /* warden_dead_letters_total{reason=...}; NULL: a control, no dead letter */
    const char *reason;   /* dead_letters.reason */
    int dead;             /* dead letters expected (1 unless an array holds good records) */
};

static const struct hostile cases[] = {
    /* ---- topics: the device id comes from the topic, so the topic is checked first ---- */
    {"topic_not_utf8_is_refused", "devices/\xff\xfe/messages/events/", "{}", 0, GEN_NONE, "topic",
     "topic: not UTF-8", 1},
    {"topic_overlong_utf8_encoding_of_slash_is_refused", "devices/a\xc0\xaf" "b/messages/events/",
     "{}", 0, GEN_NONE, "topic", "topic: not UTF-8", 1},
    {"topic_outside_devices_and_hub_is_not_ours", "warden/alerts/x/y", "{}", 0, GEN_NONE, "topic",
     "topic: not a Warden topic", 1},
    {"topic_devices_without_a_known_kind", "devices/dev-1/telemetry/x", "{}", 0, GEN_NONE,
     "topic", "topic: not a Warden topic", 1},
    {"topic_module_without_events_or_twin", "devices/dev-1/modules/m/foo/bar", "{}", 0, GEN_NONE,
     "topic", "topic: not a Warden topic", 1},
    {"topic_device_id_with_control_character", "devices/dev\x01id/messages/events/", "{}", 0,
     GEN_NONE, "device_id", "topic: device id has a control character", 1},
    {"topic_device_id_with_escape_sequence", "devices/\x1b[31mred/messages/devicebound/x", "{}",
     0, GEN_NONE, "device_id", "topic: device id has a control character", 1},
    {"topic_device_id_of_129_bytes_is_too_long", NULL, "{}", 0, GEN_TOPIC_LONG_ID, "device_id",
     "topic: device id longer than 128 characters", 1},
    /* IoT Hub's alphabet (issue 14): ids that look like dev1 and are not. */
    {"topic_device_id_with_zero_width_space", "devices/dev1\xe2\x80\x8b/messages/events/", "{}",
     0, GEN_NONE, "device_id",
     "topic: device id not ASCII (IoT Hub allows no other letters, look-alikes included)", 1},
    {"topic_device_id_with_cyrillic_e", "devices/d\xd0\xb5v1/messages/events/", "{}", 0, GEN_NONE,
     "device_id",
     "topic: device id not ASCII (IoT Hub allows no other letters, look-alikes included)", 1},
    {"topic_device_id_with_a_space", "devices/dev 1/methods/POST/x", "{}", 0, GEN_NONE,
     "device_id", "topic: device id has a space", 1},
    {"topic_device_id_with_markup", "devices/<b>x/messages/events/", "{}", 0, GEN_NONE,
     "device_id",
     "topic: device id has a character outside IoT Hub's alphabet (letters, digits, "
     "-.%_*?!(),:=@$')", 1},
    {"topic_hub_name_with_delete_character", "hub/lab\x7fhub/operations", "{}", 0, GEN_NONE,
     "topic", "topic: invalid hub name", 1},
    {"topic_longer_than_the_router_copies", NULL, "{}", 0, GEN_TOPIC_OVERLONG, "topic",
     "topic: too long", 1},
    {"topic_with_400_levels", NULL, "{}", 0, GEN_TOPIC_LEVELS, "topic",
     "topic: too many levels", 1},

    /* ---- the property bag decides whether it is a security message and its encoding ---- */
    {"bag_escape_with_non_hex_digit", "devices/dev-1/messages/events/%24.ifid=urn%3Gx", "{}", 0,
     GEN_NONE, "property_bag", "topic: malformed property bag", 1},
    {"bag_escape_cut_short", "devices/dev-1/messages/events/" SEC "&mti=%2", "{}", 0, GEN_NONE,
     "property_bag", "topic: malformed property bag", 1},
    {"bag_escape_decoding_to_nul", "devices/dev-1/messages/events/%24.ifid=urn%00x", "{}", 0,
     GEN_NONE, "property_bag", "topic: malformed property bag", 1},
    {"bag_value_longer_than_a_property_may_be", NULL, "{}", 0, GEN_BAG_LONG_VALUE,
     "property_bag", "topic: malformed property bag", 1},
    {"mti_not_major_minor_encoding_source_type", "devices/dev-1/messages/events/mti=abc&" SEC,
     "{}", 0, GEN_NONE, "property_bag", "topic: malformed mti property", 1},
    {"mti_with_an_encoding_warden_does_not_know", "devices/dev-1/messages/events/mti=2.3-7-0-0&" SEC,
     "{}", 0, GEN_NONE, "property_bag", "topic: malformed mti property", 1},
    {"mti_with_trailing_garbage", "devices/dev-1/messages/events/mti=2.3-1-0-0x&" SEC, "{}", 0,
     GEN_NONE, "property_bag", "topic: malformed mti property", 1},

    /* ---- JSON security messages (schema 1.0) ---- */
    {"json_empty_payload", JSON_T, "", 0, GEN_NONE, "json", "json: empty payload", 1},
    {"json_html_instead_of_json", JSON_T, "<html>", 0, GEN_NONE, "json", "json: malformed", 1},
    {"json_cut_in_the_middle", JSON_T, JSON_HEAD "\"Events\":[", 0, GEN_NONE, "json",
     "json: truncated", 1},
    {"json_invalid_utf8_in_a_string", JSON_T, JSON_HEAD "\"Events\":[],\"x\":\"\xff\"}", 0,
     GEN_NONE, "json", "json: invalid UTF-8", 1},
    {"json_nul_byte_inside_the_payload", JSON_T, "{\"AgentId\":\"a\0b\"}", 17, GEN_NONE, "json",
     "json: malformed", 1},
    {"json_nested_100000_deep", JSON_T, NULL, 0, GEN_JSON_DEEP, "json", "json: too deep", 1},
    {"json_root_is_an_array", JSON_T, "[{\"AgentId\":\"a\"}]", 0, GEN_NONE, "json",
     "json: root not an object", 1},
    {"json_duplicate_key_could_hide_a_value", JSON_T, "{\"a\":1,\"a\":2}", 0, GEN_NONE, "json",
     "json: duplicate key", 1},
    {"json_number_out_of_range", JSON_T, "{\"a\":123456789012345678901234567890}", 0, GEN_NONE,
     "json", "json: number out of range", 1},
    {"json_unsupported_schema_version", JSON_T,
     "{\"AgentVersion\":\"1\",\"AgentId\":\"a\",\"MessageSchemaVersion\":\"2.0\",\"Events\":[]}",
     0, GEN_NONE, "json", "json: MessageSchemaVersion unsupported", 1},
    {"json_events_missing", JSON_T,
     "{\"AgentVersion\":\"1\",\"AgentId\":\"a\",\"MessageSchemaVersion\":\"1.0\"}", 0, GEN_NONE,
     "json", "json: Events missing", 1},
    {"json_events_not_an_array", JSON_T, JSON_HEAD "\"Events\":{}}", 0, GEN_NONE, "json",
     "json: Events not an array", 1},
    {"json_event_not_an_object", JSON_T, JSON_HEAD "\"Events\":[\"Heartbeat\"]}", 0, GEN_NONE,
     "json", "json: event not an object", 1},
    {"json_trailing_data_after_the_message", JSON_T, "{} {}", 0, GEN_NONE, "json",
     "json: trailing data", 1},
    {"json_over_max_message_bytes", JSON_T, NULL, 0, GEN_JSON_OVERSIZE, "too_large",
     "payload over ingest.max_message_bytes", 1},

    /* ---- FlatBuffers security messages ---- */
    {"fb_empty_payload", FB_T, "", 0, GEN_NONE, "flatbuffers", "fb: buffer too short", 1},
    {"fb_three_bytes_cannot_hold_a_root_offset", FB_T, "abc", 0, GEN_NONE, "flatbuffers",
     "fb: buffer too short", 1},
    {"fb_golden_message_cut_in_half", FB_T, NULL, 0, GEN_FB_GOLDEN_HALF, "flatbuffers",
     "fb: offset out of bounds", 1},
    {"fb_root_offset_past_the_end", FB_T, NULL, 0, GEN_FB_ROOT_OUT, "flatbuffers",
     "fb: offset out of bounds", 1},
    {"fb_all_bytes_ff", FB_T, NULL, 0, GEN_FB_ALL_FF, "flatbuffers", "fb: offset out of bounds", 1},
    {"fb_json_text_sent_as_flatbuffers", FB_T, "{\"AgentId\":\"a\"}", 0, GEN_NONE, "flatbuffers",
     "fb: offset out of bounds", 1},

    /* ---- hub operation records ---- */
    {"hub_not_json", HUB_T, "not json", 0, GEN_NONE, "hub_record", "hub: malformed", 1},
    {"hub_cut_in_the_middle", HUB_T, "[{" REC "}", 0, GEN_NONE, "hub_record", "hub: truncated", 1},
    {"hub_device_id_not_utf8", HUB_T, "{" REC ",\"x\":\"dev-\xff\"}", 0, GEN_NONE, "hub_record",
     "hub: invalid UTF-8", 1},
    {"hub_lone_surrogate_escape", HUB_T, "{" REC ",\"x\":\"\\ud800\"}", 0, GEN_NONE,
     "hub_record", "hub: malformed", 1},
    {"hub_duplicate_key_could_hide_a_value", HUB_T, "{" REC ",\"category\":\"Other\"}", 0,
     GEN_NONE, "hub_record", "hub: duplicate key", 1},
    {"hub_over_max_message_bytes", HUB_T, NULL, 0, GEN_HUB_OVERSIZE, "too_large",
     "payload over ingest.max_message_bytes", 1},
    {"hub_array_with_one_bad_record_refuses_only_it", HUB_T,
     "[{" REC "},{\"category\":\"C2DCommands\",\"operation\":\"reject\",\"count\":0}]", 0, GEN_NONE,
     "hub_record", "hub: count out of range (element 1)", 1},
    {"hub_count_over_a_million", HUB_T, "[{" REC ",\"count\":1000001}]", 0, GEN_NONE,
     "hub_record", "hub: count out of range (element 0)", 1},
    {"hub_record_without_category", HUB_T, "[{\"operation\":\"reject\"}]", 0, GEN_NONE,
     "hub_record", "hub: category missing (element 0)", 1},
    /* A topic cut mid-character by a hub (issue 14): the other records of its batch are kept. */
    {"hub_array_with_one_record_not_utf8_refuses_only_it", HUB_T,
     "[{\"category\":\"Authorization\",\"operation\":\"publish\",\"details\":{\"topic\":\"x/\xc3\"}},"
     "{" REC "}]", 0, GEN_NONE, "hub_record", "hub: invalid UTF-8 (element 0)", 1},

    /* ---- controls: good input, stored, no dead letter ---- */
    {"control_json_heartbeat_is_stored", JSON_T, NULL, 0, GEN_NONE, NULL, NULL, 0},
    {"control_golden_flatbuffers_is_stored", FB_T, NULL, 0, GEN_FB_GOLDEN, NULL, NULL, 0},
};

static struct store *store;
static struct config cfg;
static char dbpath[64];

static int64_t q(const char *sql)
{
    return check_sql_int(store_sqlite(store), sql);
}

static int64_t dead_counter(const char *kind)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT coalesce(sum(value), 0) FROM ingest_counters WHERE name = "
             "'warden_dead_letters_total' AND label = 'reason=\"%s\"'",
             kind);
    return q(sql);
}

/* What is stored as data: rows of every table a message can land in. */
static int64_t data_rows(void)
{
    return q("SELECT (SELECT count(*) FROM flows) + (SELECT count(*) FROM heartbeats) + "
             "(SELECT count(*) FROM system_info) + (SELECT count(*) FROM listening_ports) + "
             "(SELECT count(*) FROM events_other) + (SELECT count(*) FROM hub_operations)");
}

/* Build a case's topic and payload; the caller frees *payload_buf (may be NULL). */
static void build(const struct hostile *c, char *topic, size_t topiclen, char **payload_buf,
                  const char **payload, size_t *len)
{
    static const char golden_path[] = "tests/vectors/v1_ipv4_flows.bin";
    size_t n;
    char *b = NULL;

    snprintf(topic, topiclen, "%s", c->topic ? c->topic : "");
    *payload = c->payload;
    *len = c->len ? c->len : (c->payload ? strlen(c->payload) : 0);
    switch (c->gen) {
    case GEN_NONE: break;
    case GEN_JSON_DEEP:
        n = 100000;
        b = malloc(n);
        memset(b, '[', n);
        *len = n;
        break;
    case GEN_JSON_OVERSIZE:
    case GEN_HUB_OVERSIZE:
        n = (size_t)cfg.ingest_max_message_bytes + 1;
        b = malloc(n);
        memset(b, ' ', n);
        b[0] = '{';
        b[n - 1] = '}';
        *len = n;
        break;
    case GEN_FB_GOLDEN:
    case GEN_FB_GOLDEN_HALF:
    case GEN_FB_ROOT_OUT:
        b = slurp(golden_path, &n);
        if (b == NULL)
            break;
        *len = c->gen == GEN_FB_GOLDEN_HALF ? n / 2 : n;
        if (c->gen == GEN_FB_ROOT_OUT && n >= 4)
            memcpy(b, "\xf0\xff\xff\x7f", 4);
        break;
    case GEN_FB_ALL_FF:
        b = malloc(64);
        memset(b, 0xff, 64);
        *len = 64;
        break;
    case GEN_TOPIC_LONG_ID:
        snprintf(topic, topiclen, "devices/%0129d/messages/events/", 7);
        break;
    case GEN_TOPIC_OVERLONG:
        n = snprintf(topic, topiclen, "devices/dev-1/twin/PATCH/");
        memset(topic + n, 'x', topiclen - n - 1);
        topic[topiclen - 1] = '\0';
        break;
    case GEN_TOPIC_LEVELS:
        n = snprintf(topic, topiclen, "devices/dev-1/twin/PATCH");
        for (int i = 0; i < 400 && n + 3 < topiclen; i++)
            n += snprintf(topic + n, topiclen - n, "/a");
        break;
    case GEN_BAG_LONG_VALUE:
        n = snprintf(topic, topiclen, "%s", "devices/dev-1/messages/events/" SEC "&mti=");
        memset(topic + n, '1', 600);
        topic[n + 600] = '\0';
        break;
    }
    if (c->kind == NULL && c->gen == GEN_NONE) {
        /* The JSON control: a heartbeat with an id of its own. */
        b = malloc(1024);
        snprintf(b, 1024, JSON_HEAD "\"Events\":[" HEARTBEAT "]}",
                 "a0b1c2d3-0000-4000-8000-00000000c0de");
        *len = strlen(b);
    }
    *payload_buf = b;
    if (b != NULL)
        *payload = b;
}

static void run_case(const struct hostile *c)
{
    struct route_ctx ctx = {store, &cfg};
    char topic[2048], reason[256] = "";
    const char *payload;
    char *buf;
    size_t len;
    int64_t dead0 = q("SELECT count(*) FROM dead_letters"), data0 = data_rows();
    int64_t last0 = q("SELECT coalesce(max(id), 0) FROM dead_letters");
    int64_t counter0 = c->kind ? dead_counter(c->kind) : 0;
    int failures0 = check_failures;
    sqlite3_stmt *st;

    build(c, topic, sizeof(topic), &buf, &payload, &len);
    CHECK(payload != NULL);
    if (payload == NULL)
        goto out;
    CHECK_INT(store_batch_begin(store), STORE_OK);
    CHECK_INT(ingest_route(&ctx, topic, payload, len, RECV_MS), STORE_OK);
    CHECK_INT(store_batch_commit(store, RECV_MS), STORE_OK);
    CHECK_INT(q("SELECT count(*) FROM dead_letters") - dead0, c->dead);
    if (c->kind == NULL) {
        CHECK(data_rows() > data0); /* a control stores data */
        goto out;
    }
    CHECK_INT(dead_counter(c->kind) - counter0, c->dead);
    /* Refused means refused: nothing of it is data, except good records beside a bad one. */
    if (strstr(c->name, "refuses_only_it") != NULL)
        CHECK_INT(data_rows() - data0, 1);
    else
        CHECK_INT(data_rows() - data0, 0);
    if (sqlite3_prepare_v2(store_sqlite(store), "SELECT reason FROM dead_letters WHERE id > ?1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, last0);
        if (sqlite3_step(st) == SQLITE_ROW)
            snprintf(reason, sizeof(reason), "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    if (c->reason != NULL)
        CHECK_STR(reason, c->reason);
    else
        CHECK(reason[0] != '\0');
out:
    free(buf);
    printf("%s hostile_%s%s%s%s\n", check_failures > failures0 ? "FAIL" : "ok", c->name,
           reason[0] ? " (" : "", reason, reason[0] ? ")" : "");
    fflush(stdout);
    if (check_failures > failures0)
        check_total_failed++;
}

int main(void)
{
    char err[256];
    size_t n = sizeof(cases) / sizeof(cases[0]);

    config_defaults(&cfg);
    snprintf(dbpath, sizeof(dbpath), "/tmp/warden-test-hostile-%d.db", (int)getpid());
    unlink(dbpath);
    if ((store = store_open(dbpath, err, sizeof(err))) == NULL) {
        fprintf(stderr, "store_open: %s\n", err);
        return 1;
    }
    store_set_dedup_window(store, cfg.ingest_dedup_window_ms);
    for (size_t i = 0; i < n; i++)
        run_case(&cases[i]);
    fprintf(stderr, "hostile catalogue: %zu cases (%zu refused, 2 controls)\n", n, n - 2);
    store_close(store);
    check_sql_remove(dbpath);
    return CHECK_DONE();
}
