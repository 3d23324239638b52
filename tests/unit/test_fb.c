/*
 * Tests of ingest/fb.c, the FlatBuffers security message decoder.
 *
 * Three kinds of input: the golden vectors of tests/vectors/ (made from the
 * schema independently of Warden, each with the values a correct decoder must
 * read), buffers that flatc makes from the JSON of tests/fixtures/fb/ (run
 * `sh tests/fixtures/fb/gen.sh build/fixtures/fb` first; tests/run.sh does),
 * and hostile buffers: valid ones with one thing broken, or built by hand.
 * Run from the repository root.
 */
#include "../../ingest/decode.h"
#include "check.h"

#include <glob.h>
#include <jansson.h>
#include <stdlib.h>

/* A CHECK that ends the test when it fails, for what the rest of the test needs. */
#define NEED(cond)                                                                                 \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            CHECK(cond);                                                                           \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static const struct ingest_limits limits = {.max_flows = 4096, .max_events = 4096};

struct blob {
    uint8_t *p;
    size_t len;
};

static struct blob load(const char *path)
{
    struct blob b = {NULL, 0};
    FILE *f = fopen(path, "rb");
    long n;

    if (f == NULL) {
        fprintf(stderr, "  cannot open %s\n", path);
        return b;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
        b.p = malloc((size_t)n);
        if (b.p != NULL && fread(b.p, 1, (size_t)n, f) == (size_t)n)
            b.len = (size_t)n;
    }
    fclose(f);
    return b;
}

/*
 * A flatc-made fixture: tests/run.sh builds them into $B/fixtures/fb (B is the
 * build directory, "build" unless make was given another), by running
 * `sh tests/fixtures/fb/gen.sh $B/fixtures/fb`.
 */
static struct blob fixture(const char *name)
{
    const char *dir = getenv("B");
    char path[512];
    struct blob b;

    snprintf(path, sizeof(path), "%s/fixtures/fb/%s.bin", dir != NULL && *dir ? dir : "build",
             name);
    b = load(path);
    if (b.p == NULL)
        fprintf(stderr, "  (make them with: sh tests/fixtures/fb/gen.sh %.*s)\n",
                (int)(strlen(path) - strlen(name) - 5), path);
    return b;
}

static size_t arena_cap_for(size_t len)
{
    return 4u * 1024 * 1024 + 64 * len;
}

static bool decode(const uint8_t *buf, size_t len, struct ingest_msg *msg)
{
    ingest_msg_init(msg, arena_cap_for(len));
    return ingest_decode_flatbuffers(buf, len, &limits, msg);
}

/* Decode a copy of exactly len bytes, so that AddressSanitizer sees any read past the end. */
static bool decode_exact(const uint8_t *buf, size_t len, struct ingest_msg *msg)
{
    uint8_t *copy = malloc(len != 0 ? len : 1);
    bool ok;

    memcpy(copy, buf, len);
    ok = decode(copy, len, msg);
    free(copy);
    return ok;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Decode and expect failure with the given reason prefix. */
static void expect_fail(const uint8_t *buf, size_t len, const char *reason)
{
    struct ingest_msg msg;
    bool ok = decode_exact(buf, len, &msg);

    CHECK(!ok);
    if (!starts_with(msg.error, reason)) {
        fprintf(stderr, "  reason \"%s\", expected \"%s...\"\n", msg.error, reason);
        check_failures++;
    }
    CHECK_INT(msg.n_events, 0);
    CHECK_INT(msg.n_flows, 0);
    ingest_msg_free(&msg);
}

static const char *proto_name(int p)
{
    return p == STORE_TCP ? "TCP" : p == STORE_UDP ? "UDP" : p == STORE_ICMP ? "ICMP" : "?";
}

static const char *kind_name(enum ingest_event_kind k)
{
    switch (k) {
    case EV_NETWORK_ACTIVITY:
        return "NetworkActivity";
    case EV_SYSTEM_INFO:
        return "SystemInformation";
    case EV_LISTENING_PORTS:
        return "ListeningPorts";
    case EV_HEARTBEAT:
        return "Heartbeat";
    case EV_OTHER:
        return "other";
    }
    return "?";
}

static const char *ip_text(const struct ip_addr *ip, char out[64])
{
    ip_format(ip, out, 64);
    return out;
}

static const char *hex_id(const struct ingest_event *ev, char out[64])
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < ev->id_len && i < 31; i++) {
        out[2 * i] = digits[ev->id[i] >> 4];
        out[2 * i + 1] = digits[ev->id[i] & 15];
    }
    out[2 * i] = '\0';
    return out;
}

/* ---- reading and patching a trusted FlatBuffer, to break one thing in it -- */

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

static size_t deref(const uint8_t *b, size_t at)
{
    return at + le32(b + at);
}

static size_t vtable_of(const uint8_t *b, size_t table)
{
    uint32_t raw = le32(b + table);

    return raw < 0x80000000u ? table - raw : table + (0x100000000ULL - raw);
}

/* Position of the vtable slot of field id (the slot itself, not the field). */
static size_t slot_of(const uint8_t *b, size_t table, unsigned id)
{
    return vtable_of(b, table) + 4 + 2 * id;
}

/* Position of field id of a table, or 0 when it is absent. */
static size_t field_of(const uint8_t *b, size_t table, unsigned id)
{
    size_t vt = vtable_of(b, table);
    size_t off;

    if (4 + 2 * id + 2 > (size_t)(b[vt] | b[vt + 1] << 8))
        return 0;
    off = b[vt + 4 + 2 * id] | b[vt + 5 + 2 * id] << 8;
    return off != 0 ? table + off : 0;
}

static size_t root_of(const uint8_t *b)
{
    return deref(b, 0);
}

static size_t event_of(const uint8_t *b, size_t i)
{
    size_t vec = deref(b, field_of(b, root_of(b), 3));

    return deref(b, vec + 4 + 4 * i);
}

static size_t payload_of(const uint8_t *b, size_t i)
{
    return deref(b, field_of(b, event_of(b, i), 4));
}

/* ---- golden vectors ---------------------------------------------------------- */

static json_int_t want_int(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    if (!json_is_integer(v)) {
        fprintf(stderr, "  expected.json: no integer \"%s\"\n", key);
        check_failures++;
        return -12345;
    }
    return json_integer_value(v);
}

/* The expected string, or NULL for a JSON null. */
static const char *want_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    if (!json_is_string(v) && !json_is_null(v)) {
        fprintf(stderr, "  expected.json: no string \"%s\"\n", key);
        check_failures++;
        return "(missing)";
    }
    return json_is_null(v) ? NULL : json_string_value(v);
}

static void check_golden_flow(json_t *want, const struct store_flow *f, int64_t device_ms)
{
    char ip[64];

    CHECK_STR(proto_name(f->protocol), want_str(want, "protocol"));
    CHECK_STR(ip_text(&f->local, ip), want_str(want, "local_ip"));
    CHECK_INT(f->local_port, want_int(want, "local_port"));
    CHECK_STR(ip_text(&f->remote, ip), want_str(want, "remote_ip"));
    CHECK_INT(f->remote_port, want_int(want, "remote_port"));
    CHECK_INT(f->bytes_in, want_int(want, "bytes_in"));
    CHECK_INT(f->bytes_out, want_int(want, "bytes_out"));
    CHECK_INT(json_object_size(want), 7);
    /* What the vectors leave out reads as absent. */
    CHECK_INT(f->direction, STORE_DIR_UNKNOWN);
    CHECK_INT(f->process_id, -1);
    CHECK_INT(f->user_id, -1);
    CHECK(f->executable == NULL && f->commandline == NULL && f->details == NULL);
    CHECK_INT(f->device_ms, device_ms);
}

static void check_golden_port(json_t *want, const struct store_port *p, int64_t device_ms)
{
    char ip[64];

    CHECK_STR(ip_text(&p->local, ip), want_str(want, "local_ip"));
    CHECK_INT(p->local_port, want_int(want, "local_port"));
    CHECK_STR(proto_name(p->protocol), want_str(want, "protocol"));
    CHECK_INT(json_object_size(want), 3);
    CHECK_INT(p->remote.family, 0);
    CHECK_INT(p->remote_port, -1);
    CHECK_INT(p->device_ms, device_ms);
}

/*
 * What is left of an expected event once its id, time and type are checked:
 * its rows. For Baseline, Process and Log it is exactly the JSON payload.
 */
static void check_golden_rows(json_t *rest, const char *type, const struct ingest_msg *msg,
                              const struct ingest_event *ev)
{
    json_t *rows, *got;

    if (strcmp(type, "NetworkActivity") == 0) {
        CHECK_INT(ev->kind, EV_NETWORK_ACTIVITY);
        rows = json_object_get(rest, "flows");
        CHECK_INT(ev->count, json_array_size(rows));
        for (size_t k = 0; k < ev->count && k < json_array_size(rows); k++)
            check_golden_flow(json_array_get(rows, k), &msg->flows[ev->first + k], ev->device_ms);
        CHECK_INT(json_object_size(rest), 1);
    } else if (strcmp(type, "ListeningPorts") == 0) {
        CHECK_INT(ev->kind, EV_LISTENING_PORTS);
        rows = json_object_get(rest, "ports");
        CHECK_INT(ev->count, json_array_size(rows));
        for (size_t k = 0; k < ev->count && k < json_array_size(rows); k++)
            check_golden_port(json_array_get(rows, k), &msg->ports[ev->first + k], ev->device_ms);
        CHECK_INT(json_object_size(rest), 1);
    } else if (strcmp(type, "SystemInformation") == 0) {
        CHECK_INT(ev->kind, EV_SYSTEM_INFO);
        CHECK_INT(ev->count, 1);
        CHECK_STR(msg->sysinfo[ev->first].os_info, want_str(rest, "os_info"));
        CHECK_STR(msg->sysinfo[ev->first].kernel_info, want_str(rest, "kernel_info"));
        CHECK_STR(msg->sysinfo[ev->first].hw_info, want_str(rest, "hw_info"));
        CHECK_INT(msg->sysinfo[ev->first].device_ms, ev->device_ms);
        CHECK_INT(json_object_size(rest), 3);
    } else if (strcmp(type, "Heartbeat") == 0) {
        CHECK_INT(ev->kind, EV_HEARTBEAT);
        CHECK_INT(ev->count, 0);
        CHECK_INT(json_object_size(rest), 0);
    } else {
        CHECK_INT(ev->kind, EV_OTHER);
        CHECK_INT(ev->count, 1);
        CHECK_STR(msg->other[ev->first].name, type);
        CHECK_INT(msg->other[ev->first].device_ms, ev->device_ms);
        got = json_loads(msg->other[ev->first].payload, 0, NULL);
        CHECK(got != NULL && json_equal(got, rest));
        if (got == NULL || !json_equal(got, rest))
            fprintf(stderr, "  payload %s\n", msg->other[ev->first].payload);
        json_decref(got);
    }
}

static void check_golden_event(json_t *want, const struct ingest_msg *msg,
                               const struct ingest_event *ev)
{
    json_t *rest = json_deep_copy(want);
    const char *type = want_str(want, "type");
    char hex[64];

    CHECK_STR(hex_id(ev, hex), want_str(want, "id"));
    CHECK_INT(ev->id_len, 16);
    if (json_object_get(want, "time") != NULL)
        CHECK_INT(ev->device_ms, want_int(want, "time") * 1000);
    if (json_object_get(want, "collection_interval") != NULL)
        CHECK_INT(ev->collection_interval, want_int(want, "collection_interval"));
    json_object_del(rest, "id");
    json_object_del(rest, "type");
    json_object_del(rest, "time");
    json_object_del(rest, "collection_interval");
    if (type != NULL)
        check_golden_rows(rest, type, msg, ev);
    json_decref(rest);
}

static void check_golden(const char *bin)
{
    char path[512];
    struct blob b = load(bin);
    struct ingest_msg msg;
    json_t *want, *events;
    json_error_t err;

    snprintf(path, sizeof(path), "%.*s.expected.json", (int)(strlen(bin) - 4), bin);
    want = json_load_file(path, 0, &err);
    CHECK(b.p != NULL && want != NULL);
    if (b.p == NULL || want == NULL) {
        free(b.p);
        json_decref(want);
        return;
    }
    CHECK(decode_exact(b.p, b.len, &msg));
    if (msg.error[0] != '\0')
        fprintf(stderr, "  %s: %s\n", bin, msg.error);
    if (json_object_get(want, "security_module_id") != NULL)
        CHECK_STR(msg.module_id, want_str(want, "security_module_id"));
    if (json_object_get(want, "security_module_version") != NULL)
        CHECK_STR(msg.agent_version, want_str(want, "security_module_version"));
    events = json_object_get(want, "events");
    CHECK_INT(msg.n_events, json_array_size(events));
    CHECK_INT(msg.skipped_events, 0);
    for (size_t i = 0; i < msg.n_events && i < json_array_size(events); i++)
        check_golden_event(json_array_get(events, i), &msg, &msg.events[i]);
    ingest_msg_free(&msg);
    json_decref(want);
    free(b.p);
}

static void test_golden_vectors_decode_to_expected_values(void)
{
    glob_t g;

    CHECK(glob("tests/vectors/*.bin", 0, NULL, &g) == 0);
    CHECK(g.gl_pathc >= 4);
    for (size_t i = 0; i < g.gl_pathc; i++)
        check_golden(g.gl_pathv[i]);
    globfree(&g);
}

/* ---- flatc-made fixtures ---------------------------------------------------------- */

static void check_ip(const struct ip_addr *ip, const char *text)
{
    char got[64];

    CHECK_STR(ip_text(ip, got), text);
}

static void test_fixture_ipv4_ipv6_icmp_flows(void)
{
    struct blob b = fixture("flows");
    struct ingest_msg msg;
    const struct store_flow *f;
    char hex[64];

    CHECK(b.p != NULL && decode_exact(b.p, b.len, &msg));
    if (b.p == NULL)
        return;
    CHECK_STR(msg.module_id, "defender-iot-micro-agent");
    CHECK_STR(msg.agent_version, "3.17.258");
    CHECK_INT(msg.timezone, -3);
    CHECK_INT(msg.n_events, 1);
    CHECK_STR(hex_id(&msg.events[0], hex), "101112131415161718191a1b1c1d1e1f");
    CHECK_INT(msg.events[0].kind, EV_NETWORK_ACTIVITY);
    CHECK_INT(msg.events[0].device_ms, 1764500000000LL);
    CHECK_INT(msg.events[0].collection_interval, 10);
    CHECK_INT(msg.events[0].first, 0);
    CHECK_INT(msg.events[0].count, 3);
    CHECK_INT(msg.n_flows, 3);

    f = &msg.flows[0];
    CHECK_INT(f->protocol, STORE_TCP); /* absent: the default */
    check_ip(&f->local, "10.0.0.5");
    check_ip(&f->remote, "93.184.216.34");
    CHECK_INT(f->local_port, 51000);
    CHECK_INT(f->remote_port, 443);
    CHECK_INT(f->bytes_in, 4000000000u);
    CHECK_INT(f->bytes_out, 12);
    CHECK_INT(f->process_id, 77);
    CHECK_INT(f->user_id, 1000);
    CHECK_STR(f->executable, "/opt/caf\xc3\xa9/bin/curl");
    CHECK_STR(f->commandline, "curl -s \"https://example.com\"");
    CHECK_INT(f->direction, STORE_DIR_UNKNOWN);
    CHECK_INT(f->device_ms, 1764500000000LL);

    f = &msg.flows[1];
    CHECK_INT(f->protocol, STORE_ICMP);
    check_ip(&f->remote, "1.1.1.1");
    CHECK_INT(f->local_port, 0);
    CHECK_INT(f->remote_port, 0);
    CHECK_INT(f->bytes_in, 84);
    CHECK(f->executable == NULL && f->commandline == NULL);
    CHECK_INT(f->process_id, -1);

    f = &msg.flows[2];
    CHECK_INT(f->protocol, STORE_UDP);
    CHECK_INT(f->local.family, 6);
    check_ip(&f->local, "2001:db8::1");
    check_ip(&f->remote, "2001:db8:85a3::8a2e:370:7334");
    CHECK_INT(f->local_port, 65535);
    CHECK_INT(f->remote_port, 53);
    CHECK_INT(f->bytes_in, 0);
    CHECK_INT(f->bytes_out, 99);
    /* A pid or uid of 0 equals the default, so flatc leaves it out: it reads as unknown. */
    CHECK_INT(f->process_id, -1);
    CHECK_INT(f->user_id, -1);
    ingest_msg_free(&msg);
    free(b.p);
}

/* Parse an event's JSON payload and compare it with the expected JSON text. */
static void check_other(const struct store_event_other *o, const char *name, const char *want_text)
{
    json_t *got = json_loads(o->payload, 0, NULL);
    json_t *want = json_loads(want_text, 0, NULL);

    CHECK_STR(o->name, name);
    CHECK(want != NULL);
    CHECK(got != NULL && want != NULL && json_equal(got, want));
    if (got == NULL || want == NULL || !json_equal(got, want))
        fprintf(stderr, "  payload %s\n", o->payload);
    json_decref(got);
    json_decref(want);
}

static void test_fixture_every_payload_type(void)
{
    struct blob b = fixture("payloads");
    struct ingest_msg msg;
    static const enum ingest_event_kind kinds[] = {
        EV_SYSTEM_INFO, EV_LISTENING_PORTS, EV_HEARTBEAT, EV_OTHER, EV_OTHER, EV_OTHER, EV_OTHER};

    CHECK(b.p != NULL && decode_exact(b.p, b.len, &msg));
    if (b.p == NULL)
        return;
    CHECK_INT(msg.n_events, 7);
    for (size_t i = 0; i < msg.n_events && i < 7; i++) {
        CHECK_STR(kind_name(msg.events[i].kind), kind_name(kinds[i]));
        CHECK_INT(msg.events[i].id[15], i + 1);
    }

    CHECK_INT(msg.n_sysinfo, 1);
    CHECK_STR(msg.sysinfo[0].os_info, "Azure RTOS 6.4");
    CHECK_STR(msg.sysinfo[0].kernel_info, "ThreadX 6.4.1");
    CHECK_STR(msg.sysinfo[0].hw_info, "STM32L4 \u00b5C");
    CHECK(msg.sysinfo[0].details == NULL);
    CHECK_INT(msg.sysinfo[0].device_ms, 1764500060000LL);

    CHECK_INT(msg.events[1].count, 4);
    CHECK_INT(msg.n_ports, 4);
    check_ip(&msg.ports[0].local, "0.0.0.0");
    CHECK_INT(msg.ports[0].local_port, 1883);
    CHECK_INT(msg.ports[0].protocol, STORE_TCP);
    check_ip(&msg.ports[1].local, "127.0.0.1");
    CHECK_INT(msg.ports[1].local_port, 5683);
    CHECK_INT(msg.ports[1].protocol, STORE_UDP);
    check_ip(&msg.ports[2].local, "::1");
    CHECK_INT(msg.ports[2].local_port, 8080);
    check_ip(&msg.ports[3].local, "fe80::abcd:1");
    CHECK_INT(msg.ports[3].local_port, 0);
    CHECK_INT(msg.ports[3].protocol, STORE_ICMP);
    for (size_t i = 0; i < msg.n_ports; i++) {
        CHECK_INT(msg.ports[i].remote.family, 0);
        CHECK_INT(msg.ports[i].remote_port, -1);
    }

    CHECK_INT(msg.events[2].count, 0);
    CHECK_INT(msg.n_other, 4);
    if (msg.n_other == 4) {
        check_other(&msg.other[0], "Baseline",
                    "{\"checks\":[{\"id\":\"CIS-1.1\",\"result\":\"ERROR\","
                    "\"error\":\"cannot read \\\"/etc/ssh/sshd_config\\\"\\n\","
                    "\"description\":\"tab\\there, backslash \\\\ and \\u0001\","
                    "\"severity\":\"WARNING\",\"remediation\":\"check permissions\"},"
                    "{\"id\":\"CIS-1.2\",\"result\":\"PASS\",\"error\":null,"
                    "\"description\":null,\"severity\":\"CRITICAL\",\"remediation\":null}]}");
        check_other(&msg.other[1], "Process",
                    "{\"executable\":\"/bin/busybox\",\"process_id\":99,"
                    "\"parent_process_id\":1,\"user_id\":1000,\"user_name\":\"pi\","
                    "\"commandline\":\"busybox wget http://10.0.0.9/x\","
                    "\"event_type\":\"EXIT\",\"hit_count\":7}");
        CHECK_INT(msg.other[1].device_ms, 1764500061000LL);
        check_other(&msg.other[2], "Process",
                    "{\"executable\":null,\"process_id\":0,\"parent_process_id\":0,"
                    "\"user_id\":0,\"user_name\":null,\"commandline\":null,"
                    "\"event_type\":\"FORK\",\"hit_count\":1}");
        /* Jansson reads integers as signed, so the u64 maximum is checked as text. */
        CHECK(strstr(msg.other[3].payload, "\"timestamp\":18446744073709551615,") != NULL);
        CHECK(strstr(msg.other[3].payload, "\"level\":\"ERROR\"") != NULL);
        CHECK(strstr(msg.other[3].payload, "\"line\":4294967295") != NULL);
        CHECK(strstr(msg.other[3].payload, "\"message\":\"disk \\\"full\\\"\"") != NULL);
        CHECK(strstr(msg.other[3].payload, "{\"message\":\"boot\",\"level\":\"NOTSET\","
                                           "\"timestamp\":0,\"line\":0,"
                                           "\"filename\":\"main.c\"}]}") != NULL);
        CHECK_STR(msg.other[3].name, "Log");
    }
    ingest_msg_free(&msg);
    free(b.p);
}

static void test_fixture_absent_fields_read_as_defaults(void)
{
    struct blob b = fixture("defaults");
    struct ingest_msg msg;
    const struct store_flow *f;

    CHECK(b.p != NULL && decode_exact(b.p, b.len, &msg));
    if (b.p == NULL)
        return;
    CHECK_STR(msg.module_id, "m");
    CHECK_STR(msg.agent_version, "0.0.0");
    CHECK_INT(msg.timezone, 0);
    CHECK_INT(msg.n_events, 7);
    for (size_t i = 0; i < msg.n_events; i++) {
        CHECK_INT(msg.events[i].device_ms, STORE_NO_TIME);
        CHECK_INT(msg.events[i].collection_interval, 0);
    }
    CHECK_INT(msg.events[1].count, 1);
    CHECK_INT(msg.events[2].kind, EV_NETWORK_ACTIVITY);
    CHECK_INT(msg.events[2].count, 0);
    CHECK_INT(msg.events[4].kind, EV_LISTENING_PORTS);
    CHECK_INT(msg.events[4].count, 0);
    CHECK_INT(msg.n_flows, 1);
    f = &msg.flows[0];
    check_ip(&f->local, "0.0.0.0");
    check_ip(&f->remote, "0.0.0.0");
    CHECK_INT(f->protocol, STORE_TCP);
    CHECK_INT(f->local_port, 0);
    CHECK_INT(f->bytes_in, 0);
    CHECK_INT(f->bytes_out, 0);
    CHECK_INT(f->process_id, -1);
    CHECK_INT(f->user_id, -1);
    CHECK_INT(f->device_ms, STORE_NO_TIME);
    CHECK_INT(msg.n_sysinfo, 1);
    CHECK(msg.sysinfo[0].os_info == NULL && msg.sysinfo[0].kernel_info == NULL &&
          msg.sysinfo[0].hw_info == NULL);
    CHECK_INT(msg.n_ports, 0);
    CHECK_INT(msg.n_other, 2);
    if (msg.n_other == 2) {
        check_other(&msg.other[0], "Baseline", "{\"checks\":[]}");
        check_other(&msg.other[1], "Log", "{\"logs\":[]}");
    }
    ingest_msg_free(&msg);
    free(b.p);
}

static void test_fixture_newer_schema_fields_ignored_and_event_skipped(void)
{
    struct blob b = fixture("future_fields");
    struct ingest_msg msg;

    CHECK(b.p != NULL && decode_exact(b.p, b.len, &msg));
    if (b.p == NULL)
        return;
    CHECK_STR(msg.agent_version, "4.0.0");
    CHECK_INT(msg.skipped_events, 1);
    CHECK_INT(msg.n_events, 2);
    CHECK_INT(msg.events[0].kind, EV_NETWORK_ACTIVITY);
    CHECK_INT(msg.events[0].id[15], 2);
    CHECK_INT(msg.events[1].kind, EV_HEARTBEAT);
    CHECK_INT(msg.events[1].id[15], 3);
    CHECK_INT(msg.n_flows, 1);
    check_ip(&msg.flows[0].local, "10.9.8.7");
    CHECK_INT(msg.flows[0].remote_port, 8883);
    CHECK_INT(msg.flows[0].bytes_out, 20);
    CHECK_INT(msg.flows[0].direction, STORE_DIR_UNKNOWN);
    ingest_msg_free(&msg);
    free(b.p);
}

static void test_union_tag_8_to_255_skips_event_keeps_rest(void)
{
    struct blob b = fixture("tags");
    struct ingest_msg msg;
    size_t tag;

    if (b.p == NULL) {
        CHECK(b.p != NULL);
        return;
    }
    for (unsigned t = 8; t <= 255; t += 247 / 4) {
        /* The NetworkActivity event, in the middle, becomes one of a newer schema. */
        tag = field_of(b.p, event_of(b.p, 1), 3);
        b.p[tag] = (uint8_t)t;
        CHECK(decode_exact(b.p, b.len, &msg));
        CHECK_INT(msg.skipped_events, 1);
        CHECK_INT(msg.n_events, 2);
        CHECK_INT(msg.events[0].kind, EV_HEARTBEAT);
        CHECK_INT(msg.events[1].kind, EV_SYSTEM_INFO);
        CHECK_INT(msg.events[1].id[15], 3);
        CHECK_INT(msg.n_flows, 0);
        CHECK_STR(msg.sysinfo[msg.events[1].first].os_info, "Azure RTOS");
        ingest_msg_free(&msg);
    }
    /* Its payload is not followed, so even a wild offset there does not matter. */
    put32(b.p + field_of(b.p, event_of(b.p, 1), 4), 0x7ffffff0);
    b.p[field_of(b.p, event_of(b.p, 1), 3)] = 255;
    CHECK(decode_exact(b.p, b.len, &msg));
    CHECK_INT(msg.skipped_events, 1);
    ingest_msg_free(&msg);
    free(b.p);
}

/* ---- limits, with buffers built by hand ------------------------------------------- */

/*
 * A Message whose events vector holds n_events offsets to one shared Event,
 * whose NetworkActivity holds n_flows offsets to one shared flow: a buffer of
 * about 4 * (n_events + n_flows) bytes that describes n_events * n_flows rows.
 */
struct builder {
    uint8_t b[1 << 16];
    size_t len;
};

static size_t put(struct builder *t, const void *p, size_t n)
{
    size_t at = t->len;

    memcpy(t->b + at, p, n);
    t->len += n;
    return at;
}

static size_t put_u32(struct builder *t, uint32_t v)
{
    uint8_t b[4];

    put32(b, v);
    return put(t, b, 4);
}

/* A vtable of the given uint16 entries (vtable size, table size, field offsets). */
static size_t put_vtable(struct builder *t, size_t n, const uint16_t *e)
{
    size_t at = t->len;
    uint8_t b[2];

    for (size_t i = 0; i < n; i++) {
        put16(b, e[i]);
        put(t, b, 2);
    }
    if (t->len % 4 != 0)
        put(t, "\0\0", 2);
    return at;
}

static void link_at(struct builder *t, size_t at, size_t target)
{
    put32(t->b + at, (uint32_t)(target - at));
}

static size_t build_shared(struct builder *t, size_t n_events, size_t n_flows)
{
    static const uint16_t msg_vt[] = {12, 12, 4, 0, 0, 8};
    static const uint16_t event_vt[] = {14, 28, 4, 0, 0, 24, 20};
    static const uint16_t na_vt[] = {6, 8, 4};
    static const uint16_t flow_vt[] = {8, 16, 4, 12};
    static const uint16_t common_vt[] = {4, 4};
    static const uint8_t uuid[16] = {0xbb, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    size_t vt, msg, events, event, na, flows, flow, common, str;

    t->len = 0;
    put_u32(t, 0); /* root */
    vt = put_vtable(t, 6, msg_vt);
    msg = put_u32(t, (uint32_t)(t->len - vt));
    put_u32(t, 0); /* security_module_id */
    put_u32(t, 0); /* events */
    events = put_u32(t, (uint32_t)n_events);
    for (size_t i = 0; i < n_events; i++)
        put_u32(t, 0);
    vt = put_vtable(t, 7, event_vt);
    event = put_u32(t, (uint32_t)(t->len - vt));
    put(t, uuid, 16);
    put_u32(t, 0); /* payload */
    put_u32(t, 1); /* payload_type NetworkActivity, and padding */
    vt = put_vtable(t, 3, na_vt);
    na = put_u32(t, (uint32_t)(t->len - vt));
    put_u32(t, 0); /* ipv4_activity */
    flows = put_u32(t, (uint32_t)n_flows);
    for (size_t i = 0; i < n_flows; i++)
        put_u32(t, 0);
    vt = put_vtable(t, 4, flow_vt);
    flow = put_u32(t, (uint32_t)(t->len - vt));
    put(t, "\x0a\x00\x00\x01\x08\x08\x08\x08", 8);
    put_u32(t, 0); /* common */
    vt = put_vtable(t, 2, common_vt);
    common = put_u32(t, (uint32_t)(t->len - vt));
    str = put_u32(t, 4);
    put(t, "bomb\0\0\0\0", 8);

    link_at(t, 0, msg);
    link_at(t, msg + 4, str);
    link_at(t, msg + 8, events);
    for (size_t i = 0; i < n_events; i++)
        link_at(t, events + 4 + 4 * i, event);
    link_at(t, event + 20, na);
    link_at(t, na + 4, flows);
    for (size_t i = 0; i < n_flows; i++)
        link_at(t, flows + 4 + 4 * i, flow);
    link_at(t, flow + 12, common);
    return t->len;
}

static struct builder shared;

static void test_shared_offsets_exactly_max_flows_accepted(void)
{
    size_t len = build_shared(&shared, 64, 64);
    struct ingest_msg msg;

    CHECK(decode(shared.b, len, &msg));
    if (msg.error[0] != '\0')
        fprintf(stderr, "  %s\n", msg.error);
    CHECK_INT(msg.n_events, 64);
    CHECK_INT(msg.n_flows, 4096);
    CHECK_STR(msg.module_id, "bomb");
    check_ip(&msg.flows[4095].local, "10.0.0.1");
    check_ip(&msg.flows[4095].remote, "8.8.8.8");
    CHECK_INT(msg.events[63].first, 63 * 64);
    ingest_msg_free(&msg);
}

static void test_hostile_shared_offset_flow_bomb_fails_before_allocating(void)
{
    size_t len = build_shared(&shared, 65, 64);
    struct ingest_msg msg;

    CHECK(len < 1024);
    CHECK(!decode(shared.b, len, &msg));
    CHECK_STR(msg.error, "fb: too many flows");
    /* Only the events array was allocated, never a row. */
    CHECK(msg.arena.used < 65 * (sizeof(struct ingest_event) + 128));
    ingest_msg_free(&msg);

    /* One event of 15,000 flows: refused at that event, before the second is read. */
    len = build_shared(&shared, 2, 15000);
    CHECK(!decode(shared.b, len, &msg));
    CHECK_STR(msg.error, "fb: too many flows");
    CHECK_INT(msg.n_flows, 0);
    ingest_msg_free(&msg);
}

static void test_hostile_too_many_events(void)
{
    size_t len = build_shared(&shared, 4097, 0);
    struct ingest_msg msg;

    CHECK(!decode(shared.b, len, &msg));
    CHECK_STR(msg.error, "fb: too many events");
    ingest_msg_free(&msg);
    len = build_shared(&shared, 4096, 0);
    CHECK(decode(shared.b, len, &msg));
    CHECK_INT(msg.n_events, 4096);
    ingest_msg_free(&msg);
}

static void test_arena_cap_too_small_fails_cleanly(void)
{
    struct blob b = load("tests/vectors/v4_other_payloads.bin");
    struct ingest_msg msg;

    CHECK(b.p != NULL);
    for (size_t cap = 0; b.p != NULL && cap < 4096; cap += 16) {
        ingest_msg_init(&msg, cap);
        if (!ingest_decode_flatbuffers(b.p, b.len, &limits, &msg))
            CHECK_STR(msg.error, "fb: out of memory");
        ingest_msg_free(&msg);
    }
    free(b.p);
}

/* ---- hostile buffers ---------------------------------------------------------------- */

/* A golden vector to break, in a buffer the test may write. */
static struct blob golden(const char *name)
{
    char path[256];

    snprintf(path, sizeof(path), "tests/vectors/%s.bin", name);
    return load(path);
}

static void test_hostile_empty(void)
{
    uint8_t none[1] = {0};

    expect_fail(none, 0, "fb: buffer too short");
}

static void test_hostile_three_bytes(void)
{
    expect_fail((const uint8_t *)"\x04\x00\x00", 3, "fb: buffer too short");
}

static void test_hostile_root_offset_out_of_bounds(void)
{
    struct blob b = golden("v1_ipv4_flows");

    NEED(b.p != NULL);
    put32(b.p, (uint32_t)b.len);
    expect_fail(b.p, b.len, "fb: offset out of bounds");
    put32(b.p, 0xfffffff0u);
    expect_fail(b.p, b.len, "fb: offset out of bounds");
    put32(b.p, 0);
    expect_fail(b.p, b.len, "fb: offset out of bounds");
    put32(b.p, (uint32_t)b.len - 2);
    expect_fail(b.p, b.len, "fb: table out of bounds");
    free(b.p);
}

static void test_hostile_vtable_out_of_bounds(void)
{
    struct blob b = golden("v1_ipv4_flows");
    size_t root;

    NEED(b.p != NULL);
    root = root_of(b.p);
    /* Past the end, then before the start (soffsets are signed). */
    put32(b.p + root, (uint32_t)(root - b.len));
    expect_fail(b.p, b.len, "fb: vtable out of bounds");
    put32(b.p + root, (uint32_t)root + 1);
    expect_fail(b.p, b.len, "fb: vtable out of bounds");
    put32(b.p + root, 0x80000000u);
    expect_fail(b.p, b.len, "fb: vtable out of bounds");
    /* A vtable that starts inside the buffer but whose size runs past its end. */
    put32(b.p + root, (uint32_t)(root - (b.len - 4)));
    put16(b.p + b.len - 4, 64);
    put16(b.p + b.len - 2, 8);
    expect_fail(b.p, b.len, "fb: vtable out of bounds");
    free(b.p);
}

static void test_hostile_vtable_self_reference(void)
{
    struct blob b = golden("v1_ipv4_flows");
    size_t ev;

    NEED(b.p != NULL);
    /* soffset 0: the table is its own vtable, of size 0. */
    put32(b.p + root_of(b.p), 0);
    expect_fail(b.p, b.len, "fb: vtable size bad");
    free(b.p);

    /* An events element pointing at itself (uoffset 0) cannot loop either. */
    b = golden("v1_ipv4_flows");
    ev = deref(b.p, field_of(b.p, root_of(b.p), 3)) + 4;
    put32(b.p + ev, 0);
    expect_fail(b.p, b.len, "fb: offset out of bounds");
    /* Nor can one pointing back to the root table (uoffsets are unsigned, forward). */
    put32(b.p + ev, (uint32_t)(root_of(b.p) - ev));
    expect_fail(b.p, b.len, "fb: offset out of bounds");
    free(b.p);
}

static void test_hostile_vtable_odd_or_tiny_size(void)
{
    struct blob b = golden("v1_ipv4_flows");
    size_t vt;

    NEED(b.p != NULL);
    vt = vtable_of(b.p, root_of(b.p));
    put16(b.p + vt, 11);
    expect_fail(b.p, b.len, "fb: vtable size bad");
    put16(b.p + vt, 2);
    expect_fail(b.p, b.len, "fb: vtable size bad");
    free(b.p);
}

static void test_hostile_table_size_bad(void)
{
    struct blob b = golden("v1_ipv4_flows");
    size_t vt;

    NEED(b.p != NULL);
    vt = vtable_of(b.p, root_of(b.p));
    put16(b.p + vt + 2, 0xffff);
    expect_fail(b.p, b.len, "fb: table out of bounds");
    put16(b.p + vt + 2, 2);
    expect_fail(b.p, b.len, "fb: table size bad");
    free(b.p);
}

static void test_hostile_field_offset_beyond_table(void)
{
    struct blob b = golden("v1_ipv4_flows");
    size_t root, vt, size;

    NEED(b.p != NULL);
    root = root_of(b.p);
    vt = vtable_of(b.p, root);
    size = b.p[vt + 2] | b.p[vt + 3] << 8;
    /* security_module_version is 4 bytes: put it straddling the table's end. */
    put16(b.p + slot_of(b.p, root, 1), (uint16_t)(size - 2));
    expect_fail(b.p, b.len, "fb: field out of table");
    /* A field over the soffset itself. */
    put16(b.p + slot_of(b.p, root, 1), 2);
    expect_fail(b.p, b.len, "fb: field out of table");
    free(b.p);
}

static void test_hostile_string_without_nul(void)
{
    struct blob b = golden("v1_ipv4_flows");
    size_t s;

    NEED(b.p != NULL);
    s = deref(b.p, field_of(b.p, root_of(b.p), 0));
    b.p[s + 4 + le32(b.p + s)] = 'x';
    expect_fail(b.p, b.len, "fb: string not terminated");
    /* A string that ends exactly at the end of the buffer has no room for its NUL. */
    put32(b.p + s, (uint32_t)(b.len - s - 4));
    expect_fail(b.p, b.len, "fb: string not terminated");
    free(b.p);
}

static void test_hostile_string_length_past_end(void)
{
    struct blob b = golden("v1_ipv4_flows");
    size_t s;

    NEED(b.p != NULL);
    s = deref(b.p, field_of(b.p, root_of(b.p), 0));
    put32(b.p + s, (uint32_t)(b.len - s - 3));
    expect_fail(b.p, b.len, "fb: string out of bounds");
    put32(b.p + s, 0xffffffffu);
    expect_fail(b.p, b.len, "fb: string out of bounds");
    free(b.p);
}

static void test_hostile_string_not_utf8_or_with_nul(void)
{
    struct blob b = golden("v1_ipv4_flows");
    size_t s;

    NEED(b.p != NULL);
    s = deref(b.p, field_of(b.p, root_of(b.p), 0));
    b.p[s + 6] = 0xff;
    expect_fail(b.p, b.len, "fb: string not UTF-8");
    b.p[s + 6] = 0xc0; /* an overlong start */
    b.p[s + 7] = 0xaf;
    expect_fail(b.p, b.len, "fb: string not UTF-8");
    b.p[s + 6] = 0;
    expect_fail(b.p, b.len, "fb: string has NUL");
    free(b.p);

    /* The same in a Baseline check's string, deep in a payload. */
    b = golden("v4_other_payloads");
    NEED(b.p != NULL);
    s = deref(b.p, field_of(b.p, payload_of(b.p, 1), 0)); /* baseline_checks */
    s = deref(b.p, s + 4);                                /* check 0 */
    s = deref(b.p, field_of(b.p, s, 3));                  /* description */
    b.p[s + 5] = 0xed;                                    /* a UTF-16 surrogate's start */
    b.p[s + 6] = 0xa0;
    b.p[s + 7] = 0x80;
    expect_fail(b.p, b.len, "fb: string not UTF-8");
    free(b.p);
}

static void test_hostile_vector_length_overflow(void)
{
    struct blob b = golden("v1_ipv4_flows");
    size_t v;

    NEED(b.p != NULL);
    v = deref(b.p, field_of(b.p, root_of(b.p), 3));
    put32(b.p + v, 0xffffffffu);
    expect_fail(b.p, b.len, "fb: vector out of bounds");
    put32(b.p + v, 0x40000000u); /* 4 * n wraps to 0 in 32 bits */
    expect_fail(b.p, b.len, "fb: vector out of bounds");
    free(b.p);

    /* The flows vector, and a vector of 20-byte ListeningPortsV6 structs. */
    b = golden("v1_ipv4_flows");
    v = deref(b.p, field_of(b.p, payload_of(b.p, 0), 0));
    put32(b.p + v, 0xffffffffu);
    expect_fail(b.p, b.len, "fb: vector out of bounds");
    free(b.p);
    b = golden("v4_other_payloads");
    NEED(b.p != NULL);
    v = deref(b.p, field_of(b.p, payload_of(b.p, 0), 1));
    put32(b.p + v, 0xccccccccu); /* 20 * n wraps to a small number in 32 bits */
    expect_fail(b.p, b.len, "fb: vector out of bounds");
    free(b.p);
}

static void test_hostile_union_tag_none(void)
{
    struct blob b = golden("v3_sysinfo_heartbeat");

    NEED(b.p != NULL);
    b.p[field_of(b.p, event_of(b.p, 1), 3)] = 0;
    expect_fail(b.p, b.len, "fb: union tag NONE");
    free(b.p);

    /* A payload_type left out is the default, NONE. */
    b = golden("v3_sysinfo_heartbeat");
    put16(b.p + slot_of(b.p, event_of(b.p, 0), 3), 0);
    expect_fail(b.p, b.len, "fb: union tag NONE");
    free(b.p);
}

static void test_hostile_union_type_mismatch(void)
{
    struct blob b = golden("v1_ipv4_flows");

    NEED(b.p != NULL);
    /*
     * NetworkActivity read as Log: its flow tables read as Records, whose
     * required message string is the flow's address struct read as a uoffset.
     */
    b.p[field_of(b.p, event_of(b.p, 0), 3)] = 7;
    expect_fail(b.p, b.len, "fb: offset out of bounds");
    free(b.p);

    /*
     * A Process read as ListeningPorts: its process_id (4242) is taken for
     * the uoffset of the ipv6_ports vector, and points past the end.
     */
    b = golden("v4_other_payloads");
    NEED(b.p != NULL);
    b.p[field_of(b.p, event_of(b.p, 2), 3)] = 3;
    expect_fail(b.p, b.len, "fb: offset out of bounds");
    free(b.p);
}

static void test_hostile_union_table_offset_bad(void)
{
    struct blob b = golden("v3_sysinfo_heartbeat");
    size_t at;

    NEED(b.p != NULL);
    at = field_of(b.p, event_of(b.p, 0), 4);
    put32(b.p + at, (uint32_t)(b.len - at));
    expect_fail(b.p, b.len, "fb: offset out of bounds");
    put32(b.p + at, (uint32_t)(b.len - at - 3));
    expect_fail(b.p, b.len, "fb: table out of bounds");
    free(b.p);
}

static void test_hostile_missing_required_fields(void)
{
    static const struct {
        const char *vector;
        int event; /* -1: the Message itself */
        unsigned id;
        const char *reason;
    } cases[] = {
        {"v1_ipv4_flows", -1, 0, "fb: missing security_module_id"},
        {"v1_ipv4_flows", -1, 3, "fb: missing events"},
        {"v1_ipv4_flows", 0, 0, "fb: missing event id"},
        {"v1_ipv4_flows", 0, 4, "fb: missing payload"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct blob b = golden(cases[i].vector);
        size_t t;

        NEED(b.p != NULL);
        t = cases[i].event < 0 ? root_of(b.p) : event_of(b.p, (size_t)cases[i].event);
        put16(b.p + slot_of(b.p, t, cases[i].id), 0);
        expect_fail(b.p, b.len, cases[i].reason);
        free(b.p);
    }
}

static void test_hostile_missing_required_in_payloads(void)
{
    struct blob b = golden("v1_ipv4_flows");
    size_t flow;

    NEED(b.p != NULL);
    flow = deref(b.p, field_of(b.p, payload_of(b.p, 0), 0)) + 4;
    flow = deref(b.p, flow);
    put16(b.p + slot_of(b.p, flow, 1), 0);
    expect_fail(b.p, b.len, "fb: missing common");
    put16(b.p + slot_of(b.p, flow, 0), 0);
    expect_fail(b.p, b.len, "fb: missing addresses");
    free(b.p);

    b = golden("v4_other_payloads");
    NEED(b.p != NULL);
    flow = deref(b.p, deref(b.p, field_of(b.p, payload_of(b.p, 3), 0)) + 4); /* log record 0 */
    put16(b.p + slot_of(b.p, flow, 4), 0);
    expect_fail(b.p, b.len, "fb: missing log filename");
    put16(b.p + slot_of(b.p, flow, 0), 0);
    expect_fail(b.p, b.len, "fb: missing log message");
    free(b.p);
}

static void test_hostile_bad_protocol(void)
{
    struct blob b = golden("v1_ipv4_flows");
    size_t flow, common;

    NEED(b.p != NULL);
    flow = deref(b.p, deref(b.p, field_of(b.p, payload_of(b.p, 0), 0)) + 8); /* the UDP flow */
    common = deref(b.p, field_of(b.p, flow, 1));
    CHECK_INT(b.p[field_of(b.p, common, 4)], STORE_UDP);
    b.p[field_of(b.p, common, 4)] = 0xff; /* -1 */
    expect_fail(b.p, b.len, "fb: bad protocol");
    b.p[field_of(b.p, common, 4)] = 3;
    expect_fail(b.p, b.len, "fb: bad protocol");
    free(b.p);
}

/* Whatever a damaged buffer decodes to, a successful decode is self-consistent. */
static void check_consistent(const struct ingest_msg *msg)
{
    CHECK(msg->n_flows <= limits.max_flows);
    CHECK(msg->n_events + msg->skipped_events <= limits.max_events);
    CHECK(msg->module_id != NULL && msg->agent_version != NULL);
    for (size_t i = 0; i < msg->n_events; i++) {
        const struct ingest_event *ev = &msg->events[i];
        size_t rows = ev->kind == EV_NETWORK_ACTIVITY  ? msg->n_flows
                      : ev->kind == EV_LISTENING_PORTS ? msg->n_ports
                      : ev->kind == EV_SYSTEM_INFO     ? msg->n_sysinfo
                      : ev->kind == EV_OTHER           ? msg->n_other
                                                       : 0;

        CHECK(ev->id != NULL && ev->id_len == 16);
        CHECK(ev->first + ev->count <= rows);
    }
    for (size_t i = 0; i < msg->n_flows; i++)
        CHECK(msg->flows[i].protocol <= STORE_ICMP);
    for (size_t i = 0; i < msg->n_other; i++)
        CHECK(msg->other[i].payload != NULL);
}

static void test_truncated_golden_vectors_at_every_length(void)
{
    glob_t g;

    CHECK(glob("tests/vectors/*.bin", 0, NULL, &g) == 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct blob b = load(g.gl_pathv[i]);

        for (size_t len = 0; len < b.len; len++) {
            struct ingest_msg msg;

            if (decode_exact(b.p, len, &msg))
                check_consistent(&msg);
            else
                CHECK(starts_with(msg.error, "fb: "));
            if (len < 12)
                CHECK_STR(msg.error, "fb: buffer too short");
            ingest_msg_free(&msg);
        }
        free(b.p);
    }
    globfree(&g);
}

static void test_single_bit_flips_of_golden_vectors(void)
{
    glob_t g;
    size_t decoded = 0, refused = 0;

    CHECK(glob("tests/vectors/*.bin", 0, NULL, &g) == 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct blob b = load(g.gl_pathv[i]);

        for (size_t bit = 0; bit < 8 * b.len; bit++) {
            struct ingest_msg msg;

            b.p[bit / 8] ^= (uint8_t)(1u << bit % 8);
            if (decode_exact(b.p, b.len, &msg)) {
                check_consistent(&msg);
                decoded++;
            } else {
                CHECK(starts_with(msg.error, "fb: "));
                refused++;
            }
            ingest_msg_free(&msg);
            b.p[bit / 8] ^= (uint8_t)(1u << bit % 8);
        }
        free(b.p);
    }
    globfree(&g);
    /* Flips of padding and values decode; flips of offsets and lengths do not. */
    CHECK(decoded > 0 && refused > 0);
}

int main(void)
{
    RUN(test_golden_vectors_decode_to_expected_values);
    RUN(test_fixture_ipv4_ipv6_icmp_flows);
    RUN(test_fixture_every_payload_type);
    RUN(test_fixture_absent_fields_read_as_defaults);
    RUN(test_fixture_newer_schema_fields_ignored_and_event_skipped);
    RUN(test_union_tag_8_to_255_skips_event_keeps_rest);
    RUN(test_shared_offsets_exactly_max_flows_accepted);
    RUN(test_hostile_shared_offset_flow_bomb_fails_before_allocating);
    RUN(test_hostile_too_many_events);
    RUN(test_arena_cap_too_small_fails_cleanly);
    RUN(test_hostile_empty);
    RUN(test_hostile_three_bytes);
    RUN(test_hostile_root_offset_out_of_bounds);
    RUN(test_hostile_vtable_out_of_bounds);
    RUN(test_hostile_vtable_self_reference);
    RUN(test_hostile_vtable_odd_or_tiny_size);
    RUN(test_hostile_table_size_bad);
    RUN(test_hostile_field_offset_beyond_table);
    RUN(test_hostile_string_without_nul);
    RUN(test_hostile_string_length_past_end);
    RUN(test_hostile_string_not_utf8_or_with_nul);
    RUN(test_hostile_vector_length_overflow);
    RUN(test_hostile_union_tag_none);
    RUN(test_hostile_union_type_mismatch);
    RUN(test_hostile_union_table_offset_bad);
    RUN(test_hostile_missing_required_fields);
    RUN(test_hostile_missing_required_in_payloads);
    RUN(test_hostile_bad_protocol);
    RUN(test_truncated_golden_vectors_at_every_length);
    RUN(test_single_bit_flips_of_golden_vectors);
    return CHECK_DONE();
}
