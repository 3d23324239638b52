/*
 * Unit tests of the JSON security message decoder (ingest/json_msg.c, SPEC
 * 2.1.2): realistic messages from tests/fixtures/json/ decoded field by
 * field, then hostile payloads that must fail with a stable reason. Run from
 * the repository root.
 */
#include "../../ingest/decode.h"
#include "check.h"

#include <stdlib.h>

#define ARENA_CAP       (1u << 20)
#define T_20261129_1000 1795946400000LL /* 2026-11-29T10:00:00Z in unix ms */

static const struct ingest_limits limits = {4096, 4096};


static bool decode_bytes(const void *buf, size_t len, const struct ingest_limits *lim,
                         struct ingest_msg *msg)
{
    ingest_msg_init(msg, ARENA_CAP);
    return ingest_decode_json(buf, len, lim, msg);
}

static bool decode_text(const char *text, struct ingest_msg *msg)
{
    return decode_bytes(text, strlen(text), &limits, msg);
}

static bool decode_fixture(const char *name, struct ingest_msg *msg)
{
    char path[256];
    size_t len;
    char *buf;
    bool ok;

    snprintf(path, sizeof(path), "tests/fixtures/json/%s", name);
    buf = slurp(path, &len);
    ok = decode_bytes(buf, len, &limits, msg);
    free(buf);
    return ok;
}

/* The canonical text of an address, for comparisons. */
static const char *addr(const struct ip_addr *ip)
{
    static char text[2][64];
    static int which;

    which = !which;
    ip_format(ip, text[which], sizeof(text[which]));
    return text[which];
}

static bool id_is(const struct ingest_event *ev, const char *id)
{
    return ev->id_len == strlen(id) && memcmp(ev->id, id, ev->id_len) == 0;
}

/* Expect text to be refused with exactly reason. */
static void expect_fail(const char *text, const char *reason)
{
    struct ingest_msg msg;

    CHECK(!decode_text(text, &msg));
    CHECK_STR(msg.error, reason);
    ingest_msg_free(&msg);
}

/* A message with one event whose members are `event` (a JSON fragment). */
static char *event_msg(const char *event)
{
    static char buf[70000];

    snprintf(buf, sizeof(buf),
             "{\"AgentVersion\":\"0.0.5\",\"AgentId\":\"a\",\"MessageSchemaVersion\":\"1.0\","
             "\"Events\":[{%s}]}",
             event);
    return buf;
}

#define EVENT_HEAD                                                                                 \
    "\"EventType\":\"Security\",\"Category\":\"Triggered\",\"IsEmpty\":false,"                     \
    "\"PayloadSchemaVersion\":\"1.0\",\"Id\":\"ev-1\",\"TimestampUTC\":\"2026-11-29T10:00:00Z\""

/* A ConnectionCreate message whose one flow has the members `item`. */
static char *flow_msg(const char *item)
{
    static char event[4096];

    snprintf(event, sizeof(event), EVENT_HEAD ",\"Name\":\"ConnectionCreate\",\"Payload\":[{%s}]",
             item);
    return event_msg(event);
}

#define FLOW_OK                                                                                    \
    "\"RemoteAddress\":\"203.0.113.9\",\"RemotePort\":\"443\",\"LocalAddress\":\"10.0.0.2\","      \
    "\"LocalPort\":\"40000\",\"Protocol\":\"TCP\",\"Direction\":\"Out\""

/* A ListeningPorts message whose one item has the members `item`. */
static char *listen_msg(const char *item)
{
    static char event[4096];

    snprintf(event, sizeof(event), EVENT_HEAD ",\"Name\":\"ListeningPorts\",\"Payload\":[{%s}]",
             item);
    return event_msg(event);
}

/* ---- realistic messages ---------------------------------------------------------- */

static void json_connection_create_fields(void)
{
    struct ingest_msg msg;
    const struct store_flow *f;

    CHECK(decode_fixture("connection_create.json", &msg));
    CHECK_STR(msg.error, "");
    CHECK_STR(msg.module_id, "7f2b1c9e-3d4a-4e5f-9a6b-0c1d2e3f4a5b");
    CHECK_STR(msg.agent_version, "0.0.5");
    CHECK_INT(msg.timezone, 0);
    CHECK_INT(msg.n_events, 1);
    CHECK_INT(msg.events[0].kind, EV_NETWORK_ACTIVITY);
    CHECK(id_is(&msg.events[0], "3c9e4f2a-1b7d-4c8e-a5f6-2d3e4f5a6b7c"));
    CHECK_INT(msg.events[0].device_ms, T_20261129_1000);
    CHECK_INT(msg.events[0].collection_interval, 0);
    CHECK_INT(msg.events[0].first, 0);
    CHECK_INT(msg.events[0].count, 5);
    CHECK_INT(msg.n_flows, 5);
    CHECK_INT(msg.n_ports + msg.n_sysinfo + msg.n_other, 0);
    if (msg.n_flows != 5)
        goto out;

    f = &msg.flows[0];
    CHECK_INT(f->device_ms, T_20261129_1000);
    CHECK_INT(f->protocol, STORE_TCP);
    CHECK_INT(f->direction, STORE_DIR_OUT);
    CHECK_INT(f->local.family, 4);
    CHECK_STR(addr(&f->local), "192.168.10.21");
    CHECK_STR(addr(&f->remote), "203.0.113.9");
    CHECK_INT(f->local_port, 51544);
    CHECK_INT(f->remote_port, 443);
    CHECK_INT(f->bytes_in, 0);
    CHECK_INT(f->bytes_out, 0);
    CHECK_INT(f->process_id, 4242);
    CHECK_INT(f->user_id, 1000);
    CHECK_STR(f->executable, "/usr/bin/curl");
    CHECK_STR(f->commandline, "curl -s https://updates.example.com/firmware");
    CHECK_STR(f->details, "{\"RemoteHostName\":\"updates.example.com\"}");

    f = &msg.flows[1]; /* UDP, inbound, ProcessId as a string */
    CHECK_INT(f->protocol, STORE_UDP);
    CHECK_INT(f->direction, STORE_DIR_IN);
    CHECK_STR(addr(&f->remote), "192.168.10.5");
    CHECK_INT(f->local_port, 53);
    CHECK_INT(f->remote_port, 40112);
    CHECK_INT(f->process_id, 612);
    CHECK_INT(f->user_id, 0);
    CHECK_STR(f->executable, "/usr/sbin/dnsmasq");
    CHECK_STR(f->details, NULL);

    f = &msg.flows[2]; /* ICMP without ports, UserId as a number */
    CHECK_INT(f->protocol, STORE_ICMP);
    CHECK_INT(f->direction, STORE_DIR_OUT);
    CHECK_STR(addr(&f->remote), "198.51.100.7");
    CHECK_INT(f->local_port, 0);
    CHECK_INT(f->remote_port, 0);
    CHECK_INT(f->user_id, 0);
    CHECK_INT(f->process_id, 5001);

    f = &msg.flows[3]; /* IPv6, no UserId */
    CHECK_INT(f->local.family, 6);
    CHECK_INT(f->remote.family, 6);
    CHECK_STR(addr(&f->local), "2001:db8::21");
    CHECK_STR(addr(&f->remote), "2001:db8::77");
    CHECK_INT(f->local_port, 22);
    CHECK_INT(f->remote_port, 52220);
    CHECK_INT(f->direction, STORE_DIR_IN);
    CHECK_INT(f->user_id, -1);
    CHECK_STR(f->commandline, "sshd: pi [priv]");

    f = &msg.flows[4]; /* no Direction, integer port, lower-case protocol, nothing else */
    CHECK_INT(f->direction, STORE_DIR_UNKNOWN);
    CHECK_INT(f->protocol, STORE_TCP);
    CHECK_INT(f->remote_port, 8883);
    CHECK_INT(f->local_port, 0);
    CHECK_INT(f->process_id, -1);
    CHECK_INT(f->user_id, -1);
    CHECK_STR(f->executable, NULL);
    CHECK_STR(f->commandline, NULL);
    CHECK_STR(f->details, NULL);
out:
    ingest_msg_free(&msg);
}

static void json_aggregated_event_keeps_hitcount_in_details(void)
{
    struct ingest_msg msg;

    CHECK(decode_fixture("aggregated.json", &msg));
    CHECK_INT(msg.n_flows, 1);
    if (msg.n_flows == 1) {
        CHECK_STR(
            msg.flows[0].details,
            "{\"StartTimeUtc\":\"2026-11-29T10:00:00Z\",\"EndTimeUtc\":\"2026-11-29T10:05:00Z\","
            "\"HitCount\":\"12\"}");
        CHECK_INT(msg.flows[0].process_id, 0);
        CHECK_INT(msg.flows[0].remote_port, 1883);
    }
    ingest_msg_free(&msg);
}

static void json_timestamp_utc_without_zone_is_utc(void)
{
    struct ingest_msg msg;

    CHECK(decode_fixture("aggregated.json", &msg));
    CHECK_INT(msg.n_events, 1);
    if (msg.n_events == 1)
        CHECK_INT(msg.events[0].device_ms, T_20261129_1000 + 5 * 60000 + 250);
    if (msg.n_flows == 1)
        CHECK_INT(msg.flows[0].device_ms, T_20261129_1000 + 5 * 60000 + 250);
    ingest_msg_free(&msg);
}

static void json_listening_ports_keep_wildcards_lists_and_ranges(void)
{
    struct ingest_msg msg;
    const struct store_port *p;

    CHECK(decode_fixture("listening_ports.json", &msg));
    CHECK_INT(msg.n_events, 1);
    CHECK_INT(msg.events[0].kind, EV_LISTENING_PORTS);
    CHECK_INT(msg.events[0].count, 5);
    CHECK_INT(msg.n_ports, 5);
    CHECK_INT(msg.n_flows, 0);
    if (msg.n_ports != 5)
        goto out;

    p = &msg.ports[0];
    CHECK_INT(p->device_ms, T_20261129_1000 + 60000);
    CHECK_INT(p->protocol, STORE_TCP);
    CHECK_STR(addr(&p->local), "0.0.0.0");
    CHECK_STR(addr(&p->remote), "0.0.0.0");
    CHECK_INT(p->local_port, 22);
    CHECK_INT(p->remote_port, -1);
    CHECK_STR(p->details, "{\"RemotePort\":\"*\"}");

    p = &msg.ports[1];
    CHECK_INT(p->protocol, STORE_UDP);
    CHECK_INT(p->local_port, 22);
    CHECK_INT(p->remote.family, 0);
    CHECK_INT(p->remote_port, -1);
    CHECK_STR(p->details, "{\"RemoteAddress\":\"*\",\"LocalPort\":\"22,53\",\"RemotePort\":\"*\"}");

    p = &msg.ports[2];
    CHECK_INT(p->local_port, 53248);
    CHECK_INT(p->remote.family, 0);
    CHECK_INT(p->remote_port, -1);
    CHECK_STR(p->details, "{\"LocalPort\":\"53248-53250\"}");

    p = &msg.ports[3];
    CHECK_INT(p->local.family, 6);
    CHECK_STR(addr(&p->local), "::");
    CHECK_INT(p->local_port, 8883);
    CHECK_INT(p->remote_port, 0);
    CHECK_STR(p->details, NULL);

    p = &msg.ports[4];
    CHECK_INT(p->local_port, -1);
    CHECK_STR(p->details, "{\"LocalPort\":\"*\"}");
out:
    ingest_msg_free(&msg);
}

static void json_system_information_linux_fields(void)
{
    struct ingest_msg msg;
    const struct store_sysinfo *s;

    CHECK(decode_fixture("system_information.json", &msg));
    CHECK_INT(msg.n_events, 1);
    CHECK_INT(msg.events[0].kind, EV_SYSTEM_INFO);
    CHECK_INT(msg.events[0].count, 1);
    CHECK_INT(msg.n_sysinfo, 1);
    if (msg.n_sysinfo == 1) {
        s = &msg.sysinfo[0];
        CHECK_INT(s->device_ms, T_20261129_1000 + 120000);
        CHECK_STR(s->os_info, "Ubuntu 22.04.3 LTS 5.15.0-1044-raspi");
        CHECK_STR(s->kernel_info, "5.15.0-1044-raspi");
        CHECK_STR(s->hw_info, "aarch64");
        CHECK(s->details != NULL && strstr(s->details, "\"TotalPhysicalMemoryInKB\":3884428"));
        CHECK(s->details != NULL && strstr(s->details, "\"FreePhysicalMemoryInKB\":2210036"));
        CHECK(s->details != NULL && strstr(s->details, "\"HostName\":\"edge-gw-07\""));
        CHECK(s->details != NULL && s->details[0] == '{');
    }
    ingest_msg_free(&msg);
}

static void json_system_information_partial_fields(void)
{
    struct ingest_msg msg;

    CHECK(decode_text(event_msg(EVENT_HEAD ",\"Name\":\"SystemInformation\",\"Payload\":"
                                           "[{\"OSVersion\":\"6.1.0\",\"HostName\":\"gw\"},{}]"),
                      &msg));
    CHECK_INT(msg.n_sysinfo, 2);
    if (msg.n_sysinfo == 2) {
        CHECK_STR(msg.sysinfo[0].os_info, "6.1.0");
        CHECK_STR(msg.sysinfo[0].kernel_info, "6.1.0");
        CHECK_STR(msg.sysinfo[0].hw_info, "gw");
        CHECK_STR(msg.sysinfo[1].os_info, NULL);
        CHECK_STR(msg.sysinfo[1].kernel_info, NULL);
        CHECK_STR(msg.sysinfo[1].hw_info, NULL);
        CHECK_STR(msg.sysinfo[1].details, "{}");
    }
    ingest_msg_free(&msg);
}

static void json_heartbeat_has_no_rows(void)
{
    struct ingest_msg msg;

    CHECK(decode_fixture("heartbeat.json", &msg));
    CHECK_INT(msg.n_events, 1);
    CHECK_INT(msg.events[0].kind, EV_HEARTBEAT);
    CHECK_INT(msg.events[0].count, 0);
    CHECK_INT(msg.events[0].device_ms, T_20261129_1000 + 180000);
    CHECK(id_is(&msg.events[0], "00c0ffee-0000-4000-8000-000000000042"));
    CHECK_INT(msg.n_flows + msg.n_ports + msg.n_sysinfo + msg.n_other, 0);
    ingest_msg_free(&msg);
}

static void json_unknown_name_is_an_other_event(void)
{
    struct ingest_msg msg;

    CHECK(decode_fixture("other_event.json", &msg));
    CHECK_INT(msg.n_events, 1);
    CHECK_INT(msg.events[0].kind, EV_OTHER);
    CHECK_INT(msg.events[0].first, 0);
    CHECK_INT(msg.events[0].count, 1);
    CHECK_INT(msg.n_other, 1);
    if (msg.n_other == 1) {
        CHECK_STR(msg.other[0].name, "ProcessCreate");
        CHECK_INT(msg.other[0].device_ms, T_20261129_1000 + 240000);
        CHECK_STR(msg.other[0].payload,
                  "[{\"Executable\":\"/usr/bin/wget\",\"ProcessId\":7001,\"ParentProcessId\":612,"
                  "\"UserName\":\"pi\",\"UserId\":\"1000\",\"CommandLine\":\"wget "
                  "http://203.0.113.9/x.sh\",\"Time\":\"2026-11-29T10:03:59Z\"}]");
    }
    ingest_msg_free(&msg);
}

/* Each event's rows are [first, first + count) of its kind's array, in order. */
static void json_mixed_events_have_row_ranges(void)
{
    struct ingest_msg msg;

    CHECK(decode_fixture("mixed.json", &msg));
    CHECK_STR(msg.module_id, "agent-linux-1");
    CHECK_INT(msg.n_events, 5);
    CHECK_INT(msg.n_flows, 3);
    CHECK_INT(msg.n_other, 2);
    if (msg.n_events != 5 || msg.n_flows != 3 || msg.n_other != 2)
        goto out;
    CHECK_INT(msg.events[0].kind, EV_HEARTBEAT);
    CHECK(id_is(&msg.events[0], "e-1"));
    CHECK_INT(msg.events[1].kind, EV_NETWORK_ACTIVITY);
    CHECK_INT(msg.events[1].first, 0);
    CHECK_INT(msg.events[1].count, 2);
    CHECK_INT(msg.events[2].kind, EV_OTHER);
    CHECK_INT(msg.events[2].first, 0);
    CHECK_INT(msg.events[3].kind, EV_NETWORK_ACTIVITY);
    CHECK_INT(msg.events[3].first, 2);
    CHECK_INT(msg.events[3].count, 1);
    CHECK(id_is(&msg.events[3], "e-4"));
    CHECK_INT(msg.events[4].kind, EV_OTHER);
    CHECK_INT(msg.events[4].first, 1);
    CHECK_STR(msg.flows[1].remote.family == 4 ? addr(&msg.flows[1].remote) : "", "203.0.113.2");
    CHECK_INT(msg.flows[2].device_ms, T_20261129_1000 + 3000);
    CHECK_INT(msg.flows[2].remote_port, 443);
    CHECK_STR(msg.other[0].name, "ProcessCreate");
    CHECK_STR(msg.other[0].payload, "[{\"Executable\":\"/bin/sh\"}]");
    CHECK_STR(msg.other[1].name, "AgentTelemetry");
    CHECK_STR(msg.other[1].payload, "[]"); /* no Payload member at all */
out:
    ingest_msg_free(&msg);
}

static void json_brackets_and_quotes_inside_strings_do_not_nest(void)
{
    char item[512];
    struct ingest_msg msg;

    snprintf(item, sizeof(item),
             FLOW_OK ",\"CommandLine\":\"sh -c '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{"
                     "{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{ \\\" [[[[ \\\\\"");
    CHECK(decode_text(flow_msg(item), &msg));
    CHECK_STR(msg.error, "");
    if (msg.n_flows == 1)
        CHECK(strncmp(msg.flows[0].commandline, "sh -c '[[[", 10) == 0);
    ingest_msg_free(&msg);
}

/* ---- hostile payloads --------------------------------------------------------------- */

static void json_rejects_malformed(void)
{
    expect_fail("{\"AgentVersion\" \"0.0.5\"}", "json: malformed");
    expect_fail("{'AgentId':'a'}", "json: malformed");
    expect_fail("[1,2,]", "json: malformed");
    expect_fail("{} {}", "json: trailing data");
    expect_fail("", "json: empty payload");
    expect_fail("   ", "json: truncated");
    expect_fail("{\"a\":1,\"a\":2}", "json: duplicate key");
    expect_fail("{\"a\":\"x\\u0000y\"}", "json: NUL in string");
    expect_fail("{\"a\":123456789012345678901234567890}", "json: number out of range");
}

/* Every prefix of a real message is refused, and none crashes. */
static void json_rejects_every_truncation(void)
{
    size_t len;
    char *buf = slurp("tests/fixtures/json/connection_create.json", &len);
    int accepted = 0, truncated = 0;

    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
        len--;
    for (size_t n = 0; n < len; n++) {
        struct ingest_msg msg;
        if (decode_bytes(buf, n, &limits, &msg))
            accepted++;
        else if (strcmp(msg.error, "json: truncated") == 0)
            truncated++;
        ingest_msg_free(&msg);
    }
    CHECK_INT(accepted, 0);
    CHECK_INT(truncated, (int)len - 1); /* all but the empty prefix */
    free(buf);
}

static void json_rejects_depth_10000(void)
{
    char *deep = malloc(20001);

    memset(deep, '[', 10000);
    memset(deep + 10000, ']', 10000);
    deep[20000] = '\0';
    expect_fail(deep, "json: too deep");
    memset(deep, '{', 10000); /* and the same unterminated, as a stream would cut it */
    deep[10000] = '\0';
    expect_fail(deep, "json: too deep");
    free(deep);
}

/* Depth 32 is the most a message may nest; 33 is refused before parsing. */
static void json_depth_limit_is_32(void)
{
    char payload[128], event[512];
    struct ingest_msg msg;

    /* root, Events, event and Payload are four levels; 28 more make 32. */
    memset(payload, 0, sizeof(payload));
    memset(payload, '[', 28);
    memset(payload + 28, ']', 28);
    snprintf(event, sizeof(event), EVENT_HEAD ",\"Name\":\"Deep\",\"Payload\":[%s]", payload);
    CHECK(decode_text(event_msg(event), &msg));
    ingest_msg_free(&msg);

    memset(payload, 0, sizeof(payload));
    memset(payload, '[', 29);
    memset(payload + 29, ']', 29);
    snprintf(event, sizeof(event), EVENT_HEAD ",\"Name\":\"Deep\",\"Payload\":[%s]", payload);
    expect_fail(event_msg(event), "json: too deep");
}

static void json_rejects_non_utf8_string(void)
{
    expect_fail(flow_msg(FLOW_OK ",\"Executable\":\"/usr/bin/\xff\xfe\""), "json: invalid UTF-8");
    expect_fail(flow_msg(FLOW_OK ",\"Executable\":\"\xc0\xaf\""), "json: invalid UTF-8");
    expect_fail(flow_msg(FLOW_OK ",\"Executable\":\"\xed\xa0\x80\""), "json: invalid UTF-8");
    expect_fail(flow_msg(FLOW_OK ",\"Executable\":\"\\udc00\""), "json: malformed");
}

static void json_rejects_top_level_non_objects(void)
{
    expect_fail("42", "json: root not an object");
    expect_fail("\"AgentId\"", "json: root not an object");
    expect_fail("null", "json: root not an object");
    expect_fail("[{\"AgentId\":\"a\"}]", "json: root not an object");
}

static void json_rejects_wrong_root_types(void)
{
    expect_fail("{\"AgentVersion\":\"1\",\"AgentId\":\"a\",\"MessageSchemaVersion\":1.0,"
                "\"Events\":[]}",
                "json: MessageSchemaVersion not a string");
    expect_fail("{\"AgentVersion\":\"1\",\"AgentId\":\"a\",\"MessageSchemaVersion\":\"2.0\","
                "\"Events\":[]}",
                "json: MessageSchemaVersion unsupported");
    expect_fail("{\"AgentVersion\":\"1\",\"AgentId\":7,\"MessageSchemaVersion\":\"1.0\","
                "\"Events\":[]}",
                "json: AgentId not a string");
    expect_fail("{\"AgentVersion\":[],\"AgentId\":\"a\",\"MessageSchemaVersion\":\"1.0\","
                "\"Events\":[]}",
                "json: AgentVersion not a string");
    expect_fail("{\"AgentId\":\"a\",\"MessageSchemaVersion\":\"1.0\",\"Events\":[]}",
                "json: AgentVersion missing");
    expect_fail("{\"AgentVersion\":\"1\",\"AgentId\":\"a\",\"MessageSchemaVersion\":\"1.0\","
                "\"Events\":{}}",
                "json: Events not an array");
    expect_fail("{\"AgentVersion\":\"1\",\"AgentId\":\"a\",\"MessageSchemaVersion\":\"1.0\"}",
                "json: Events missing");
    expect_fail("{\"AgentVersion\":\"1\",\"AgentId\":\"a\",\"MessageSchemaVersion\":\"1.0\","
                "\"Events\":[\"Heartbeat\"]}",
                "json: event not an object");
}

static void json_rejects_empty_events(void)
{
    expect_fail("{\"AgentVersion\":\"1\",\"AgentId\":\"a\",\"MessageSchemaVersion\":\"1.0\","
                "\"Events\":[]}",
                "json: Events empty");
}

static void json_rejects_wrong_event_types(void)
{
    static const char *head = "\"Category\":\"Periodic\",\"Id\":\"x\","
                              "\"TimestampUTC\":\"2026-11-29T10:00:00Z\",\"Name\":\"Heartbeat\"";
    char event[1024];

    snprintf(event, sizeof(event), "%s,\"EventType\":\"Alert\"", head);
    expect_fail(event_msg(event), "json: EventType unknown");
    snprintf(event, sizeof(event), "%s,\"EventType\":1", head);
    expect_fail(event_msg(event), "json: EventType not a string");
    snprintf(event, sizeof(event), "%s", head);
    expect_fail(event_msg(event), "json: EventType missing");
    expect_fail(event_msg("\"EventType\":\"Security\",\"Category\":\"Sometimes\",\"Id\":\"x\","
                          "\"TimestampUTC\":\"2026-11-29T10:00:00Z\",\"Name\":\"Heartbeat\""),
                "json: Category unknown");
    expect_fail(event_msg(EVENT_HEAD ",\"Name\":42"), "json: Name not a string");
    expect_fail(event_msg(EVENT_HEAD ",\"Name\":\"\""), "json: Name invalid");
    expect_fail(event_msg(EVENT_HEAD ",\"Name\":\"Heart\\nbeat\""), "json: Name invalid");
    expect_fail(event_msg(EVENT_HEAD), "json: Name missing");
    expect_fail(event_msg(EVENT_HEAD ",\"Name\":\"Heartbeat\",\"Payload\":{}"),
                "json: Payload not an array");
    expect_fail(event_msg(EVENT_HEAD ",\"Name\":\"Heartbeat\",\"IsEmpty\":\"true\""),
                "json: duplicate key");
    expect_fail(event_msg("\"EventType\":\"Security\",\"Category\":\"Periodic\",\"Id\":\"x\","
                          "\"TimestampUTC\":\"2026-11-29T10:00:00Z\",\"Name\":\"Heartbeat\","
                          "\"IsEmpty\":\"true\""),
                "json: IsEmpty not a boolean");
    expect_fail(event_msg("\"EventType\":\"Security\",\"Category\":\"Periodic\",\"Id\":\"x\","
                          "\"TimestampUTC\":\"2026-11-29T10:00:00Z\",\"Name\":\"Heartbeat\","
                          "\"PayloadSchemaVersion\":1"),
                "json: PayloadSchemaVersion not a string");
    expect_fail(event_msg("\"EventType\":\"Security\",\"Category\":\"Periodic\",\"Id\":7,"
                          "\"TimestampUTC\":\"2026-11-29T10:00:00Z\",\"Name\":\"Heartbeat\""),
                "json: Id not a string");
    expect_fail(event_msg("\"EventType\":\"Security\",\"Category\":\"Periodic\",\"Id\":\"x\","
                          "\"TimestampUTC\":1795946400,\"Name\":\"Heartbeat\""),
                "json: TimestampUTC not a string");
    expect_fail(event_msg(EVENT_HEAD ",\"Name\":\"ConnectionCreate\",\"Payload\":[\"flow\"]"),
                "json: Payload item not an object");
}

static void json_rejects_missing_id(void)
{
    expect_fail(event_msg("\"EventType\":\"Security\",\"Category\":\"Periodic\","
                          "\"TimestampUTC\":\"2026-11-29T10:00:00Z\",\"Name\":\"Heartbeat\""),
                "json: Id missing");
    expect_fail(event_msg("\"EventType\":\"Security\",\"Category\":\"Periodic\",\"Id\":null,"
                          "\"TimestampUTC\":\"2026-11-29T10:00:00Z\",\"Name\":\"Heartbeat\""),
                "json: Id missing");
    expect_fail(event_msg("\"EventType\":\"Security\",\"Category\":\"Periodic\",\"Id\":\"\","
                          "\"TimestampUTC\":\"2026-11-29T10:00:00Z\",\"Name\":\"Heartbeat\""),
                "json: Id invalid");
}

static void json_rejects_timestamp_yesterday(void)
{
    expect_fail(event_msg("\"EventType\":\"Security\",\"Category\":\"Periodic\",\"Id\":\"x\","
                          "\"TimestampUTC\":\"yesterday\",\"Name\":\"Heartbeat\""),
                "json: TimestampUTC not a date");
    expect_fail(event_msg("\"EventType\":\"Security\",\"Category\":\"Periodic\",\"Id\":\"x\","
                          "\"TimestampUTC\":\"2026-02-30T10:00:00Z\",\"Name\":\"Heartbeat\""),
                "json: TimestampUTC not a date");
    expect_fail(event_msg("\"EventType\":\"Security\",\"Category\":\"Periodic\",\"Id\":\"x\","
                          "\"Name\":\"Heartbeat\""),
                "json: TimestampUTC missing");
    expect_fail(event_msg(EVENT_HEAD ",\"Name\":\"Heartbeat\",\"TimestampLocal\":\"noon\""),
                "json: TimestampLocal not a date");
}

static void json_rejects_wrong_flow_types(void)
{
    expect_fail(flow_msg(FLOW_OK ",\"ProcessId\":\"12a\""), "json: ProcessId not a number");
    expect_fail(flow_msg(FLOW_OK ",\"ProcessId\":-5"), "json: ProcessId not a number");
    expect_fail(flow_msg(FLOW_OK ",\"UserId\":true"), "json: UserId not a number");
    expect_fail(flow_msg(FLOW_OK ",\"Executable\":42"), "json: Executable not a string");
    expect_fail(flow_msg(FLOW_OK ",\"CommandLine\":{}"), "json: CommandLine not a string");
    expect_fail(flow_msg(FLOW_OK ",\"ExtraDetails\":\"none\""), "json: ExtraDetails not an object");
    expect_fail(flow_msg(FLOW_OK ",\"ExtraDetails\":{\"a\":{\"b\":\"c\"}}"),
                "json: ExtraDetails not a string map");
    expect_fail(flow_msg("\"RemoteAddress\":\"203.0.113.9\",\"RemotePort\":\"443\","
                         "\"LocalAddress\":\"10.0.0.2\",\"LocalPort\":\"1\",\"Protocol\":\"SCTP\""),
                "json: Protocol unknown");
    expect_fail(flow_msg("\"RemoteAddress\":\"203.0.113.9\",\"RemotePort\":\"443\","
                         "\"LocalAddress\":\"10.0.0.2\",\"LocalPort\":\"1\""),
                "json: Protocol missing");
    expect_fail(flow_msg("\"RemoteAddress\":\"203.0.113.9\",\"RemotePort\":\"443\","
                         "\"LocalAddress\":\"10.0.0.2\",\"LocalPort\":\"1\",\"Protocol\":\"TCP\","
                         "\"Direction\":\"Sideways\""),
                "json: Direction unknown");
    expect_fail(flow_msg("\"RemoteAddress\":3405803785,\"RemotePort\":\"443\","
                         "\"LocalAddress\":\"10.0.0.2\",\"LocalPort\":\"1\",\"Protocol\":\"TCP\""),
                "json: RemoteAddress not a string");
    expect_fail(flow_msg("\"RemotePort\":\"443\",\"LocalAddress\":\"10.0.0.2\","
                         "\"LocalPort\":\"1\",\"Protocol\":\"TCP\""),
                "json: RemoteAddress missing");
    expect_fail(flow_msg("\"RemoteAddress\":\"203.0.113.9\",\"LocalAddress\":\"10.0.0.2\","
                         "\"LocalPort\":\"1\",\"Protocol\":\"TCP\""),
                "json: RemotePort missing");
    expect_fail(flow_msg("\"RemoteAddress\":\"203.0.113.9\",\"RemotePort\":443.5,"
                         "\"LocalAddress\":\"10.0.0.2\",\"LocalPort\":\"1\",\"Protocol\":\"TCP\""),
                "json: RemotePort not a port");
    expect_fail(flow_msg("\"RemoteAddress\":\"203.0.113.9\",\"RemotePort\":[443],"
                         "\"LocalAddress\":\"10.0.0.2\",\"LocalPort\":\"1\",\"Protocol\":\"TCP\""),
                "json: RemotePort not a port");
}

static void json_rejects_port_70000(void)
{
    expect_fail(flow_msg("\"RemoteAddress\":\"203.0.113.9\",\"RemotePort\":\"70000\","
                         "\"LocalAddress\":\"10.0.0.2\",\"LocalPort\":\"1\",\"Protocol\":\"TCP\""),
                "json: RemotePort not a port");
    expect_fail(flow_msg("\"RemoteAddress\":\"203.0.113.9\",\"RemotePort\":70000,"
                         "\"LocalAddress\":\"10.0.0.2\",\"LocalPort\":\"1\",\"Protocol\":\"TCP\""),
                "json: RemotePort not a port");
    expect_fail(listen_msg("\"Protocol\":\"tcp\",\"LocalAddress\":\"0.0.0.0\","
                           "\"LocalPort\":\"22,70000\""),
                "json: LocalPort not a port");
}

static void json_rejects_port_minus_1(void)
{
    expect_fail(flow_msg("\"RemoteAddress\":\"203.0.113.9\",\"RemotePort\":\"443\","
                         "\"LocalAddress\":\"10.0.0.2\",\"LocalPort\":\"-1\",\"Protocol\":\"TCP\""),
                "json: LocalPort not a port");
    expect_fail(flow_msg("\"RemoteAddress\":\"203.0.113.9\",\"RemotePort\":\"443\","
                         "\"LocalAddress\":\"10.0.0.2\",\"LocalPort\":-1,\"Protocol\":\"TCP\""),
                "json: LocalPort not a port");
    expect_fail(
        listen_msg("\"Protocol\":\"tcp\",\"LocalAddress\":\"0.0.0.0\",\"LocalPort\":\"-1\""),
        "json: LocalPort not a port");
}

static void json_rejects_port_star_list_range_in_connection_create(void)
{
    expect_fail(flow_msg("\"RemoteAddress\":\"203.0.113.9\",\"RemotePort\":\"*\","
                         "\"LocalAddress\":\"10.0.0.2\",\"LocalPort\":\"1\",\"Protocol\":\"TCP\""),
                "json: RemotePort not a port");
    expect_fail(flow_msg("\"RemoteAddress\":\"203.0.113.9\",\"RemotePort\":\"22,53\","
                         "\"LocalAddress\":\"10.0.0.2\",\"LocalPort\":\"1\",\"Protocol\":\"TCP\""),
                "json: RemotePort not a port");
    expect_fail(flow_msg("\"RemoteAddress\":\"203.0.113.9\",\"RemotePort\":\"443\","
                         "\"LocalAddress\":\"10.0.0.2\",\"LocalPort\":\"53248-53250\","
                         "\"Protocol\":\"UDP\""),
                "json: LocalPort not a port");
    expect_fail(flow_msg("\"RemoteAddress\":\"*\",\"RemotePort\":\"443\","
                         "\"LocalAddress\":\"10.0.0.2\",\"LocalPort\":\"1\",\"Protocol\":\"TCP\""),
                "json: RemoteAddress not an address");
}

static void json_rejects_malformed_port_texts(void)
{
    static const char *bad[] = {
        "",      " 22", "22 ",    "+22", "0x16",  "22,", ",22",    "22,,53",         "53-22",
        "1-2-3", "**",  "000022", "2 2", "22;53", "-",   "53248-", "\\u0032\\u0032x"};
    char item[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(item, sizeof(item),
                 "\"Protocol\":\"tcp\",\"LocalAddress\":\"0.0.0.0\",\"LocalPort\":\"%s\"", bad[i]);
        expect_fail(listen_msg(item), "json: LocalPort not a port");
    }
    expect_fail(listen_msg("\"Protocol\":\"tcp\",\"LocalAddress\":\"0.0.0.0\""),
                "json: LocalPort missing");
    expect_fail(listen_msg("\"Protocol\":\"tcp\",\"LocalAddress\":\"**\",\"LocalPort\":\"1\""),
                "json: LocalAddress not an address");
    expect_fail(listen_msg("\"Protocol\":\"tcp\",\"LocalPort\":\"1\""),
                "json: LocalAddress missing");
}

static void json_accepts_port_edges(void)
{
    struct ingest_msg msg;

    CHECK(decode_text(listen_msg("\"Protocol\":\"tcp\",\"LocalAddress\":\"0.0.0.0\","
                                 "\"LocalPort\":\"65535\",\"RemotePort\":\"0,1-65535\""),
                      &msg));
    if (msg.n_ports == 1) {
        CHECK_INT(msg.ports[0].local_port, 65535);
        CHECK_INT(msg.ports[0].remote_port, 0);
        CHECK_STR(msg.ports[0].details, "{\"RemotePort\":\"0,1-65535\"}");
        CHECK_INT(msg.ports[0].remote.family, 0);
    }
    ingest_msg_free(&msg);
}

static void json_listening_port_on_any_local_address(void)
{
    struct ingest_msg msg;

    CHECK(decode_text(
        listen_msg("\"Protocol\":\"udp\",\"LocalAddress\":\"*\","
                   "\"LocalPort\":\"5353\",\"RemoteAddress\":\"*\",\"RemotePort\":\"*\""),
        &msg));
    CHECK_INT(msg.n_ports, 1);
    if (msg.n_ports == 1) {
        CHECK_INT(msg.ports[0].local.family, 0);
        CHECK_INT(msg.ports[0].local_port, 5353);
        CHECK_INT(msg.ports[0].remote.family, 0);
        CHECK_STR(msg.ports[0].details,
                  "{\"LocalAddress\":\"*\",\"RemoteAddress\":\"*\",\"RemotePort\":\"*\"}");
    }
    ingest_msg_free(&msg);
}

static void json_rejects_invalid_address(void)
{
    expect_fail(flow_msg("\"RemoteAddress\":\"999.1.1.1\",\"RemotePort\":\"443\","
                         "\"LocalAddress\":\"10.0.0.2\",\"LocalPort\":\"1\",\"Protocol\":\"TCP\""),
                "json: RemoteAddress not an address");
    expect_fail(
        flow_msg("\"RemoteAddress\":\"203.0.113.9\",\"RemotePort\":\"443\","
                 "\"LocalAddress\":\"10.0.0.2.1\",\"LocalPort\":\"1\",\"Protocol\":\"TCP\""),
        "json: LocalAddress not an address");
    expect_fail(flow_msg("\"RemoteAddress\":\"2001:db8:::1\",\"RemotePort\":\"443\","
                         "\"LocalAddress\":\"10.0.0.2\",\"LocalPort\":\"1\",\"Protocol\":\"TCP\""),
                "json: RemoteAddress not an address");
    expect_fail(listen_msg("\"Protocol\":\"tcp\",\"LocalAddress\":\"0.0.0.0\",\"LocalPort\":\"1\","
                           "\"RemoteAddress\":\"localhost\""),
                "json: RemoteAddress not an address");
}

/* A message with flows flows in two ConnectionCreate events. */
static char *many_flows_msg(size_t flows)
{
    static char event[65536];
    size_t off;

    off = (size_t)snprintf(event, sizeof(event),
                           EVENT_HEAD ",\"Name\":\"ConnectionCreate\",\"Payload\":[");
    for (size_t i = 0; i < flows; i++)
        off += (size_t)snprintf(event + off, sizeof(event) - off, "%s{" FLOW_OK "}",
                                i == 0 ? "" : ",");
    snprintf(event + off, sizeof(event) - off, "]");
    return event_msg(event);
}

static void json_rejects_more_flows_than_the_limit(void)
{
    struct ingest_limits lim = {100, 4096};
    struct ingest_msg msg;
    const char *text;

    text = many_flows_msg(100);
    CHECK(decode_bytes(text, strlen(text), &lim, &msg));
    CHECK_INT(msg.n_flows, 100);
    ingest_msg_free(&msg);

    text = many_flows_msg(101);
    CHECK(!decode_bytes(text, strlen(text), &lim, &msg));
    CHECK_STR(msg.error, "json: too many flows");
    CHECK_INT(msg.n_flows, 0); /* refused before any row was decoded */
    ingest_msg_free(&msg);
}

static void json_rejects_more_events_than_the_limit(void)
{
    struct ingest_limits lim = {4096, 2};
    struct ingest_msg msg;
    size_t len;
    char *buf = slurp("tests/fixtures/json/mixed.json", &len);

    CHECK(!decode_bytes(buf, len, &lim, &msg));
    CHECK_STR(msg.error, "json: too many events");
    ingest_msg_free(&msg);
    free(buf);
}

/* A full arena is a clean failure, not a crash, whatever the cap. */
static void json_fails_cleanly_when_the_arena_is_full(void)
{
    size_t len;
    char *buf = slurp("tests/fixtures/json/connection_create.json", &len);
    int ok = 0;

    for (size_t cap = 0; cap < 8192; cap += 16) {
        struct ingest_msg msg;
        ingest_msg_init(&msg, cap);
        if (ingest_decode_json((const uint8_t *)buf, len, &limits, &msg))
            ok++;
        else
            CHECK_STR(msg.error, "json: out of memory");
        ingest_msg_free(&msg);
    }
    CHECK(ok > 0); /* the largest caps are enough */
    free(buf);
}

/* A reason names the field, never what the device sent. */
static void json_reasons_never_echo_the_payload(void)
{
    struct ingest_msg msg;

    CHECK(!decode_text(flow_msg("\"RemoteAddress\":\"EVIL<script>\",\"RemotePort\":\"443\","
                                "\"LocalAddress\":\"10.0.0.2\",\"LocalPort\":\"1\","
                                "\"Protocol\":\"TCP\""),
                       &msg));
    CHECK(strstr(msg.error, "EVIL") == NULL);
    ingest_msg_free(&msg);
    CHECK(!decode_text("{\"EVIL<script>\" 1}", &msg));
    CHECK(strstr(msg.error, "EVIL") == NULL);
    CHECK(strncmp(msg.error, "json: ", 6) == 0);
    ingest_msg_free(&msg);
}

int main(void)
{
    RUN(json_connection_create_fields);
    RUN(json_aggregated_event_keeps_hitcount_in_details);
    RUN(json_timestamp_utc_without_zone_is_utc);
    RUN(json_listening_ports_keep_wildcards_lists_and_ranges);
    RUN(json_system_information_linux_fields);
    RUN(json_system_information_partial_fields);
    RUN(json_heartbeat_has_no_rows);
    RUN(json_unknown_name_is_an_other_event);
    RUN(json_mixed_events_have_row_ranges);
    RUN(json_brackets_and_quotes_inside_strings_do_not_nest);
    RUN(json_rejects_malformed);
    RUN(json_rejects_every_truncation);
    RUN(json_rejects_depth_10000);
    RUN(json_depth_limit_is_32);
    RUN(json_rejects_non_utf8_string);
    RUN(json_rejects_top_level_non_objects);
    RUN(json_rejects_wrong_root_types);
    RUN(json_rejects_empty_events);
    RUN(json_rejects_wrong_event_types);
    RUN(json_rejects_missing_id);
    RUN(json_rejects_timestamp_yesterday);
    RUN(json_rejects_wrong_flow_types);
    RUN(json_rejects_port_70000);
    RUN(json_rejects_port_minus_1);
    RUN(json_rejects_port_star_list_range_in_connection_create);
    RUN(json_rejects_malformed_port_texts);
    RUN(json_accepts_port_edges);
    RUN(json_listening_port_on_any_local_address);
    RUN(json_rejects_invalid_address);
    RUN(json_rejects_more_flows_than_the_limit);
    RUN(json_rejects_more_events_than_the_limit);
    RUN(json_fails_cleanly_when_the_arena_is_full);
    RUN(json_reasons_never_echo_the_payload);
    return CHECK_DONE();
}
