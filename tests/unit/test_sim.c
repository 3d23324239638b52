/*
 * Tests of sim/: the simulator's own FlatBuffers encoder, read back by
 * Warden's decoder (ingest/fb.c) and, where it is installed, by flatc from
 * ingest/security.fbs, so that encoder and decoder cannot share one mistake;
 * and the argument checks of `warden sim`, which need no broker.
 * Run from the repository root.
 */
#include "../../ingest/decode.h"
#include "../../sim/sim.h"
#include "check.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FLATC  "/usr/bin/flatc"
#define SCHEMA "ingest/security.fbs"
#define T0     1764410400u

/* A CHECK that ends the test when it fails, for what the rest of the test needs. */
#define NEED(cond)                                                                                 \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            CHECK(cond);                                                                           \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static const struct ingest_limits limits = {.max_flows = 4096, .max_events = 4096};

static const uint8_t id_a[16] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
                                 0xa8, 0xa9, 0xaa, 0xab, 0x00, 0x00, 0x00, 0x01};
static const uint8_t id_b[16] = {0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7,
                                 0xb8, 0xb9, 0xba, 0xbb, 0x00, 0x00, 0x00, 0x02};

/*
 * TCP with protocol absent (the default), UDP with a zero bytes_out (absent),
 * ICMP with both ports absent, and a 10.x address.
 */
static const struct sim_flow4 three[3] = {
    {{192, 168, 1, 20}, {52, 178, 17, 3}, 49153, 8883, 1520, 2210, 0},
    {{192, 168, 1, 20}, {192, 168, 1, 1}, 5353, 53, 96, 0, 1},
    {{10, 20, 0, 5}, {8, 8, 4, 4}, 0, 0, 64, 64, 2},
};

/* ---- a small reader of the wire format, for what a decoder cannot show ------------- */

static uint32_t rd32(const uint8_t *b, size_t at)
{
    return (uint32_t)b[at] | (uint32_t)b[at + 1] << 8 | (uint32_t)b[at + 2] << 16 |
           (uint32_t)b[at + 3] << 24;
}

static uint16_t rd16(const uint8_t *b, size_t at)
{
    return (uint16_t)(b[at] | b[at + 1] << 8);
}

/* The position of field id of the table at t, or 0 when the field is absent. */
static size_t field_at(const uint8_t *b, size_t t, unsigned id)
{
    size_t vt = t - (size_t)(int32_t)rd32(b, t);
    uint16_t vt_size = rd16(b, vt);

    if (4 + 2 * id >= vt_size || rd16(b, vt + 4 + 2 * id) == 0)
        return 0;
    return t + rd16(b, vt + 4 + 2 * id);
}

/* The target of the uoffset at pos. */
static size_t deref(const uint8_t *b, size_t pos)
{
    return pos + rd32(b, pos);
}

/* The NetworkActivityCommon table of flow i of the first event. */
static size_t common_of(const uint8_t *b, size_t i)
{
    size_t msg = deref(b, 0);
    size_t events = deref(b, field_at(b, msg, 3));
    size_t ev = deref(b, events + 4);
    size_t na = deref(b, field_at(b, ev, 4));
    size_t v4 = deref(b, field_at(b, na, 0));
    size_t flow = deref(b, v4 + 4 + 4 * i);

    return deref(b, field_at(b, flow, 1));
}

/* ---- encoder against decoder ------------------------------------------------------- */

static void check_ip4(const struct ip_addr *ip, const uint8_t want[4])
{
    CHECK_INT(ip->family, 4);
    CHECK(memcmp(ip->b, want, 4) == 0);
}

static void test_network_message_decodes_field_by_field(void)
{
    uint8_t buf[4096];
    struct ingest_msg msg;
    size_t len = sim_fb_network(buf, sizeof(buf), id_a, T0, three, 3);

    NEED(len > 0);
    CHECK_INT(len % 4, 0);
    ingest_msg_init(&msg, 1 << 20);
    if (!ingest_decode_flatbuffers(buf, len, &limits, &msg)) {
        fprintf(stderr, "  decode: %s\n", msg.error);
        CHECK(0);
        ingest_msg_free(&msg);
        return;
    }
    CHECK_STR(msg.module_id, "defender-iot-micro-agent");
    CHECK_STR(msg.agent_version, "3.5.4");
    CHECK_INT(msg.timezone, 0);
    CHECK_INT(msg.skipped_events, 0);
    NEED(msg.n_events == 1);
    CHECK_INT(msg.events[0].kind, EV_NETWORK_ACTIVITY);
    CHECK_INT(msg.events[0].id_len, 16);
    CHECK(memcmp(msg.events[0].id, id_a, 16) == 0);
    CHECK_INT(msg.events[0].device_ms, (int64_t)T0 * 1000);
    CHECK_INT(msg.events[0].collection_interval, 10);
    CHECK_INT(msg.events[0].first, 0);
    CHECK_INT(msg.events[0].count, 3);
    NEED(msg.n_flows == 3);
    for (size_t i = 0; i < 3; i++) {
        const struct store_flow *f = &msg.flows[i];

        CHECK_INT(f->protocol, three[i].protocol);
        CHECK_INT(f->direction, STORE_DIR_UNKNOWN);
        check_ip4(&f->local, three[i].local);
        check_ip4(&f->remote, three[i].remote);
        CHECK_INT(f->local_port, three[i].local_port);
        CHECK_INT(f->remote_port, three[i].remote_port);
        CHECK_INT(f->bytes_in, three[i].bytes_in);
        CHECK_INT(f->bytes_out, three[i].bytes_out);
        CHECK_INT(f->device_ms, (int64_t)T0 * 1000);
        CHECK(f->executable == NULL && f->commandline == NULL);
    }
    ingest_msg_free(&msg);
}

static void test_fields_equal_to_default_are_absent_on_the_wire(void)
{
    uint8_t buf[4096];
    size_t len = sim_fb_network(buf, sizeof(buf), id_a, T0, three, 3), c;

    NEED(len > 0);
    /* TCP: protocol absent, the rest present. */
    c = common_of(buf, 0);
    CHECK(field_at(buf, c, 0) != 0 && field_at(buf, c, 1) != 0);
    CHECK(field_at(buf, c, 2) != 0 && field_at(buf, c, 3) != 0);
    CHECK(field_at(buf, c, 4) == 0);
    /* UDP: bytes_out 0 absent, protocol 1 present. */
    c = common_of(buf, 1);
    CHECK(field_at(buf, c, 3) == 0);
    NEED(field_at(buf, c, 4) != 0);
    CHECK_INT(buf[field_at(buf, c, 4)], 1);
    /* ICMP: no ports. */
    c = common_of(buf, 2);
    CHECK(field_at(buf, c, 0) == 0 && field_at(buf, c, 1) == 0);
    CHECK_INT(buf[field_at(buf, c, 4)], 2);
    /* Message: timezone 0 absent; the version is there. */
    CHECK(field_at(buf, deref(buf, 0), 2) == 0);
    NEED(field_at(buf, deref(buf, 0), 1) != 0);
    CHECK_INT(rd32(buf, field_at(buf, deref(buf, 0), 1)), (3 << 24) | (5 << 16) | 4);
}

static void test_address_bytes_are_in_network_order(void)
{
    uint8_t buf[4096];
    size_t len = sim_fb_network(buf, sizeof(buf), id_a, T0, three, 1);
    size_t msg, ev, na, flow, addrs;

    NEED(len > 0);
    msg = deref(buf, 0);
    ev = deref(buf, deref(buf, field_at(buf, msg, 3)) + 4);
    na = deref(buf, field_at(buf, ev, 4));
    flow = deref(buf, deref(buf, field_at(buf, na, 0)) + 4);
    NEED((addrs = field_at(buf, flow, 0)) != 0);
    CHECK_INT(addrs % 4, 0);
    CHECK(memcmp(buf + addrs, three[0].local, 4) == 0);
    CHECK(memcmp(buf + addrs + 4, three[0].remote, 4) == 0);
}

static void test_heartbeat_and_sysinfo_decode(void)
{
    uint8_t buf[4096];
    struct ingest_msg msg;
    size_t len = sim_fb_heartbeat_sysinfo(buf, sizeof(buf), id_a, id_b, T0 + 60,
                                          "Azure RTOS 6.3", NULL, "B-L475E-IOT01A \"rev C\"");

    NEED(len > 0);
    ingest_msg_init(&msg, 1 << 20);
    if (!ingest_decode_flatbuffers(buf, len, &limits, &msg)) {
        fprintf(stderr, "  decode: %s\n", msg.error);
        CHECK(0);
        ingest_msg_free(&msg);
        return;
    }
    NEED(msg.n_events == 2);
    /* System information first, as devices send it, then the heartbeat. */
    CHECK_INT(msg.events[0].kind, EV_SYSTEM_INFO);
    CHECK(memcmp(msg.events[0].id, id_b, 16) == 0);
    CHECK_INT(msg.events[0].collection_interval, 60);
    CHECK_INT(msg.events[0].device_ms, (int64_t)(T0 + 60) * 1000);
    CHECK_INT(msg.events[1].kind, EV_HEARTBEAT);
    CHECK(memcmp(msg.events[1].id, id_a, 16) == 0);
    CHECK_INT(msg.events[1].collection_interval, 60);
    CHECK_INT(msg.events[1].count, 0);
    NEED(msg.n_sysinfo == 1);
    CHECK_STR(msg.sysinfo[0].os_info, "Azure RTOS 6.3");
    CHECK(msg.sysinfo[0].kernel_info == NULL);
    CHECK_STR(msg.sysinfo[0].hw_info, "B-L475E-IOT01A \"rev C\"");
    CHECK_INT(msg.n_flows, 0);
    ingest_msg_free(&msg);
}

static void test_all_sysinfo_strings_decode(void)
{
    uint8_t buf[4096];
    struct ingest_msg msg;
    size_t len = sim_fb_heartbeat_sysinfo(buf, sizeof(buf), id_a, id_b, T0, "Eclipse ThreadX",
                                          "NetX Duo 6.4.1", "");

    NEED(len > 0);
    ingest_msg_init(&msg, 1 << 20);
    CHECK(ingest_decode_flatbuffers(buf, len, &limits, &msg));
    if (msg.n_sysinfo == 1) {
        CHECK_STR(msg.sysinfo[0].os_info, "Eclipse ThreadX");
        CHECK_STR(msg.sysinfo[0].kernel_info, "NetX Duo 6.4.1");
        CHECK_STR(msg.sysinfo[0].hw_info, "");
    } else {
        CHECK_INT(msg.n_sysinfo, 1);
    }
    ingest_msg_free(&msg);
}

static void test_many_flows_share_vtables_and_decode(void)
{
    static struct sim_flow4 many[SIM_MAX_FLOWS];
    static uint8_t buf[SIM_PAYLOAD_MAX];
    struct ingest_msg msg;
    size_t len;

    for (size_t i = 0; i < SIM_MAX_FLOWS; i++) {
        many[i] = three[i % 3];
        many[i].local_port = (uint16_t)(40000 + i);
        many[i].remote[3] = (uint8_t)i;
    }
    /* 64 flows, a device's most, stay well under the 6.6 KB of SPEC 2.1.1. */
    len = sim_fb_network(buf, sizeof(buf), id_a, T0, many, 64);
    CHECK(len > 0 && len < 3000);
    len = sim_fb_network(buf, sizeof(buf), id_a, T0, many, SIM_MAX_FLOWS);
    NEED(len > 0);
    ingest_msg_init(&msg, 16 << 20);
    CHECK(ingest_decode_flatbuffers(buf, len, &limits, &msg));
    NEED(msg.n_flows == SIM_MAX_FLOWS);
    CHECK_INT(msg.flows[1000].local_port, 41000);
    CHECK_INT(msg.flows[1000].remote.b[3], 1000 % 256);
    CHECK_INT(msg.flows[1000].protocol, 1000 % 3);
    ingest_msg_free(&msg);
}

static void test_encoder_refuses_a_buffer_too_small(void)
{
    uint8_t buf[4096];
    size_t len = sim_fb_network(buf, sizeof(buf), id_a, T0, three, 3), bad = 0;
    size_t hb = sim_fb_heartbeat_sysinfo(buf, sizeof(buf), id_a, id_b, T0, "a", "b", "c");

    NEED(len > 0 && hb > 0);
    /* Every smaller capacity fails cleanly (AddressSanitizer watches the writes). */
    for (size_t cap = 0; cap < len; cap++) {
        uint8_t *small = malloc(cap ? cap : 1);

        if (small != NULL && sim_fb_network(small, cap, id_a, T0, three, 3) != 0)
            bad++;
        free(small);
    }
    for (size_t cap = 0; cap < hb; cap++) {
        uint8_t *small = malloc(cap ? cap : 1);

        if (small != NULL &&
            sim_fb_heartbeat_sysinfo(small, cap, id_a, id_b, T0, "a", "b", "c") != 0)
            bad++;
        free(small);
    }
    CHECK_INT(bad, 0);
}

/* ---- flatc, from the schema, reads the same values -------------------------------------- */

static bool write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    bool ok = f != NULL && fwrite(p, 1, n, f) == n;

    if (f != NULL && fclose(f) != 0)
        ok = false;
    return ok;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *s = NULL;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (s = calloc(1, (size_t)n + 1)) != NULL && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    fclose(f);
    return s;
}

static size_t count_of(const char *s, const char *what)
{
    size_t n = 0;

    while ((s = strstr(s, what)) != NULL) {
        n++;
        s += strlen(what);
    }
    return n;
}

/* flatc's JSON of buf, or NULL after saying why. */
static char *flatc_json(const char *dir, const char *name, const uint8_t *buf, size_t len)
{
    char bin[512], json[512], cmd[1536];

    snprintf(bin, sizeof(bin), "%s/%s.bin", dir, name);
    snprintf(json, sizeof(json), "%s/%s.json", dir, name);
    if (!write_file(bin, buf, len))
        return NULL;
    snprintf(cmd, sizeof(cmd), FLATC " --json --strict-json --raw-binary -o %s " SCHEMA " -- %s",
             dir, bin);
    if (system(cmd) != 0) {
        fprintf(stderr, "  flatc refused %s\n", bin);
        return NULL;
    }
    return read_text(json);
}

static void test_flatc_reads_the_buffers_from_the_schema(void)
{
    char dir[] = "/tmp/warden-test-sim-XXXXXX", cmd[256];
    uint8_t buf[4096];
    char *net, *hb;
    size_t len;

    if (access(FLATC, X_OK) != 0) {
        fprintf(stderr, "  skipped: " FLATC " is not installed (flatbuffers-compiler)\n");
        return;
    }
    NEED(access(SCHEMA, R_OK) == 0);
    NEED(mkdtemp(dir) != NULL);
    len = sim_fb_network(buf, sizeof(buf), id_a, T0, three, 3);
    net = flatc_json(dir, "net", buf, len);
    len = sim_fb_heartbeat_sysinfo(buf, sizeof(buf), id_a, id_b, T0, "Azure RTOS 6.3", NULL,
                                   "B-L475E-IOT01A");
    hb = flatc_json(dir, "hb", buf, len);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    CHECK(net != NULL && hb != NULL);
    if (net != NULL) {
        CHECK(strstr(net, "\"security_module_id\": \"defender-iot-micro-agent\"") != NULL);
        CHECK(strstr(net, "\"security_module_version\": 50659332") != NULL);
        CHECK(strstr(net, "\"time\": 1764410400") != NULL);
        CHECK(strstr(net, "\"collection_interval\": 10") != NULL);
        CHECK(strstr(net, "\"payload_type\": \"NetworkActivity\"") != NULL);
        /* 192.168.1.20 as a little-endian uint32 of the bytes c0 a8 01 14. */
        CHECK_INT(count_of(net, "\"local_address\": 335653056"), 2);
        CHECK(strstr(net, "\"remote_address\": 51491380") != NULL);  /* 52.178.17.3 */
        CHECK(strstr(net, "\"local_address\": 83891210") != NULL);   /* 10.20.0.5 */
        CHECK(strstr(net, "\"remote_address\": 67373064") != NULL);  /* 8.8.4.4 */
        CHECK(strstr(net, "\"local_port\": 49153") != NULL);
        CHECK(strstr(net, "\"remote_port\": 8883") != NULL);
        CHECK(strstr(net, "\"bytes_in\": 1520") != NULL);
        CHECK(strstr(net, "\"bytes_out\": 2210") != NULL);
        CHECK(strstr(net, "\"protocol\": \"UDP\"") != NULL);
        CHECK(strstr(net, "\"protocol\": \"ICMP\"") != NULL);
        /* Defaults are absent: TCP, the ICMP ports, the UDP flow's zero bytes_out. */
        CHECK_INT(count_of(net, "\"protocol\""), 2);
        CHECK_INT(count_of(net, "\"local_port\""), 2);
        CHECK_INT(count_of(net, "\"bytes_out\""), 2);
        CHECK(strstr(net, "\"timezone\"") == NULL);
        /* The event id: 160 (0xa0) first, 1 last. */
        CHECK(strstr(net, "160,") != NULL);
    }
    if (hb != NULL) {
        CHECK(strstr(hb, "\"payload_type\": \"SystemInformation\"") != NULL);
        CHECK(strstr(hb, "\"payload_type\": \"Heartbeat\"") != NULL);
        CHECK(strstr(hb, "\"os_info\": \"Azure RTOS 6.3\"") != NULL);
        CHECK(strstr(hb, "\"hw_info\": \"B-L475E-IOT01A\"") != NULL);
        CHECK(strstr(hb, "\"kernel_info\"") == NULL);
        CHECK_INT(count_of(hb, "\"collection_interval\": 60"), 2);
        CHECK(strstr(hb, "SystemInformation") < strstr(hb, "\"Heartbeat\""));
    }
    free(net);
    free(hb);
}

/* ---- the fleet -------------------------------------------------------------------------------- */

/* The allow list sim/device.c gives for normal traffic: private ranges and a few services. */
static bool allowed(const uint8_t a[4])
{
    return a[0] == 10 || (a[0] == 192 && a[1] == 168) ||
           (a[0] == 52 && a[1] == 178 && a[2] == 17) || (a[0] == 40 && a[1] == 113 && a[2] == 0) ||
           (a[0] == 20 && a[1] == 42 && a[2] == 73) || (a[0] == 162 && a[1] == 159 && a[2] == 200) ||
           memcmp(a, "\x08\x08\x08\x08", 4) == 0 || memcmp(a, "\x01\x01\x01\x01", 4) == 0;
}

static void test_fleet_is_stable_mixed_and_inside_its_allow_list(void)
{
    static struct sim_device a, b;
    struct sim_opts opt = {.devices = 100, .flows = 20, .prefix = "lab-", .seed = 7};
    long json = 0, dup = 0;

    for (long i = 0; i < opt.devices; i++) {
        sim_device_init(&a, &opt, i);
        sim_device_init(&b, &opt, i);
        /* Rebuilt on the fly, a device must be the same every time. */
        CHECK(memcmp(&a, &b, sizeof(a)) == 0);
        CHECK_INT(a.n_flows, 20);
        json += a.json;
        for (size_t j = 0; j < a.n_flows; j++) {
            CHECK(allowed(a.flows[j].remote));
            CHECK(memcmp(a.flows[j].local, a.local, 4) == 0);
            for (size_t k = 0; k < j; k++)
                dup += memcmp(&a.flows[j], &a.flows[k], sizeof(a.flows[j])) == 0;
        }
    }
    CHECK_INT(json, 20);
    /* Random ephemeral ports may collide, rarely. */
    CHECK(dup < 5);
    sim_device_init(&a, &opt, 0);
    CHECK_STR(a.id, "lab-0001");
    sim_device_init(&a, &opt, 99);
    CHECK_STR(a.id, "lab-0100");
    CHECK(a.json);
    opt.format = SIM_FMT_FLATBUFFERS;
    sim_device_init(&a, &opt, 99);
    CHECK(!a.json);
}

/* ---- arguments --------------------------------------------------------------------------- */

/*
 * sim_main with stdout and stderr sent to a file (usage text would drown the
 * test output); out receives what it printed on stdout.
 */
static int run_sim(char **argv, char *out, size_t out_cap)
{
    char path[] = "/tmp/warden-test-sim-out-XXXXXX";
    struct sim_target target = {.host = "127.0.0.1", .port = 1, .hub = "test-hub"};
    int fd = mkstemp(path), saved_out, saved_err, argc = 0, rc;
    ssize_t n;

    while (argv[argc] != NULL)
        argc++;
    if (fd < 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    saved_out = dup(1);
    saved_err = dup(2);
    dup2(fd, 1);
    dup2(fd, 2);
    rc = sim_main(argc, argv, &target);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    n = pread(fd, out, out_cap - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return rc;
}

static void test_bad_arguments_are_usage_errors(void)
{
    static char *cases[][4] = {
        {"sim", "--rate", "fast", NULL},    {"sim", "--rate", "0", NULL},
        {"sim", "--rate", "-5", NULL},      {"sim", "--rate", "1e400", NULL},
        {"sim", "--rate", "nan", NULL},     {"sim", "--rate", "10x", NULL},
        {"sim", "--rate", "", NULL},        {"sim", "--devices", "0", NULL},
        {"sim", "--devices", "12x", NULL},  {"sim", "--devices", " 5", NULL},
        {"sim", "--devices", "-1", NULL},   {"sim", "--devices", "99999999999999999999", NULL},
        {"sim", "--flows", "0", NULL},      {"sim", "--flows", "1025", NULL},
        {"sim", "--count", "0", NULL},      {"sim", "--count", "+3", NULL},
        {"sim", "--qos", "2", NULL},        {"sim", "--duration", "PT", NULL},
        {"sim", "--duration", "0", NULL},   {"sim", "--duration", "P1Y", NULL},
        {"sim", "--format", "xml", NULL},   {"sim", "--scenario", "chaos", NULL},
        {"sim", "--prefix", "a/b", NULL},   {"sim", "--prefix", "a+", NULL},
        {"sim", "--seed", "x", NULL},       {"sim", "--frobnicate", "1", NULL},
        {"sim", "--devices", NULL, NULL},   {"sim", "stray", NULL, NULL},
        {"sim", "--=3", NULL, NULL},        {"sim", "-d", "3", NULL},
    };
    char out[8192];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = run_sim(cases[i], out, sizeof(out));

        if (rc != 2)
            fprintf(stderr, "  %s %s: status %d, expected 2\n", cases[i][1],
                    cases[i][2] ? cases[i][2] : "", rc);
        CHECK_INT(rc, 2);
        /* A usage error says so, and prints no summary. */
        CHECK(strstr(out, "usage: warden sim") != NULL);
        CHECK(strstr(out, "\"published\"") == NULL);
    }
}

static void test_help_is_not_an_error(void)
{
    char *argv[] = {"sim", "--help", NULL};
    char out[8192];

    CHECK_INT(run_sim(argv, out, sizeof(out)), 0);
    CHECK(strstr(out, "--scenario") != NULL);
}

static void test_no_broker_is_a_runtime_failure_with_a_summary(void)
{
    char *argv[] = {"sim", "--devices=3", "--rate", "max", "--count", "5", "--format", "json",
                    "--scenario", "incidents", "--duration", "PT2S", "--prefix", "t-",
                    "--seed", "42", "--qos", "0", "--flows", "20", NULL};
    char out[8192];

    /* Port 1 refuses: good arguments, then exit status 1 and the summary line. */
    CHECK_INT(run_sim(argv, out, sizeof(out)), 1);
    CHECK(strstr(out, "{\"published\": 0, \"security_messages\": 0, \"flows\": 0, "
                      "\"events\": 0, ") != NULL);
}

static void test_guid_text(void)
{
    char s[37];

    sim_guid_text(id_a, s);
    CHECK_STR(s, "a0a1a2a3-a4a5-a6a7-a8a9-aaab00000001");
}

int main(void)
{
    RUN(test_network_message_decodes_field_by_field);
    RUN(test_fields_equal_to_default_are_absent_on_the_wire);
    RUN(test_address_bytes_are_in_network_order);
    RUN(test_heartbeat_and_sysinfo_decode);
    RUN(test_all_sysinfo_strings_decode);
    RUN(test_many_flows_share_vtables_and_decode);
    RUN(test_encoder_refuses_a_buffer_too_small);
    RUN(test_flatc_reads_the_buffers_from_the_schema);
    RUN(test_fleet_is_stable_mixed_and_inside_its_allow_list);
    RUN(test_bad_arguments_are_usage_errors);
    RUN(test_help_is_not_an_error);
    RUN(test_no_broker_is_a_runtime_failure_with_a_summary);
    RUN(test_guid_text);
    return CHECK_DONE();
}
