/*
 * The storage benchmark's data: HOURS of a lab of DEVICES Azure RTOS devices
 * at their own cadence, written straight into Warden's tables through the
 * store's batch writer, with the calls and in the order the ingester makes
 * them for a FlatBuffers message (ingest/route.c), on a clock that moves
 * with the simulated time. Publishing a day through the broker would take
 * hours; the rows are the same.
 *
 * Every device, every 10 s, sends one network-activity message of FLOWS
 * IPv4 flows; every 60 s also heartbeat and system information (two events).
 * Of the flows, SHORT are short-lived (DNS and NTP lookups from a fresh
 * ephemeral port each window, so each is a new flow); the others are the
 * device's long-lived connections (the hub over MQTT and HTTPS, firmware
 * and telemetry back ends) with stable local ports and byte counts that vary
 * per window. Flows are rolled up into flow_hourly every simulated 10
 * minutes, as Warden's ingester does in the background.
 *
 * At the end of every simulated hour (after its rollup) one JSON line on
 * stdout gives the size so far, so that the growth per hour can be read off:
 *   {"hour": H, "messages": M, "flows": F, "used_bytes": B}
 * (used_bytes: pages in use times page size, store_used_bytes()), and at the
 * end {"devices", "hours", "messages", "flows", "seconds", "rate"} (rate:
 * flows written per second of this program).
 *
 * usage: storage_fill DB DEVICES HOURS FLOWS [SHORT]
 */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TICK_MS         10000
#define STATUS_TICKS    6       /* heartbeat and system information every 60 s */
#define ROLLUP_TICKS    60      /* roll flows up every 10 simulated minutes */
#define TICKS_HOUR      360
#define BATCH_MESSAGES  2000
#define HUB             "lab-hub"
#define MODULE_ID       "defender-iot-micro-agent"

enum { TCP = 0, UDP = 1, ICMP = 2 };

static const struct service {
    uint8_t addr[4];     /* 0.0.0.0: the device's gateway */
    uint16_t port;
    uint8_t protocol;
} long_lived[] = {
    {{52, 178, 17, 3}, 8883, TCP},  {{52, 178, 17, 4}, 443, TCP}, {{40, 113, 0, 16}, 443, TCP},
    {{20, 42, 73, 25}, 443, TCP},   {{0, 0, 0, 0}, 0, ICMP},
}, short_lived[] = {
    {{0, 0, 0, 0}, 53, UDP},        {{8, 8, 8, 8}, 53, UDP},      {{1, 1, 1, 1}, 53, UDP},
    {{162, 159, 200, 1}, 123, UDP},
};
#define N_LONG  (sizeof(long_lived) / sizeof(long_lived[0]))
#define N_SHORT (sizeof(short_lived) / sizeof(short_lived[0]))

struct fill {
    struct store *s;
    long devices, flows, short_flows;
    uint64_t rng, next_id;
    long long messages, flows_written;
    long batch;
};

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void check(struct fill *f, enum store_err e, const char *what)
{
    if (e != STORE_OK) {
        fprintf(stderr, "storage_fill: %s: %s\n", what, store_errmsg(f->s));
        exit(1);
    }
}

static void event_id(struct fill *f, uint8_t id[16])
{
    uint64_t n = ++f->next_id;

    memset(id, 0xbe, 8);
    for (int i = 0; i < 8; i++)
        id[8 + i] = (uint8_t)(n >> (56 - 8 * i));
}

static void device_name(long i, char *out, size_t len)
{
    snprintf(out, len, "sim-%04ld", i + 1);
}

static void device_local(long i, struct ip_addr *a, struct ip_addr *gw)
{
    memset(a, 0, sizeof(*a));
    a->family = 4;
    a->b[0] = i % 3 == 2 ? 10 : 192;
    a->b[1] = i % 3 == 2 ? 20 : 168;
    a->b[2] = (uint8_t)(i / 250 % 256);
    a->b[3] = (uint8_t)(i % 250 + 2);
    *gw = *a;
    gw->b[3] = 1;
}

/* Flow j of device i in window tick: stable for long-lived, new local port for short-lived. */
/* What every simulated device says of itself. */
static const struct store_device_info device_info = {
    .module_id = MODULE_ID, .module_version = "3.5.4", .skew_ms = -200,
    .activity_interval_s = 10, .heartbeat_interval_s = 60};

static void make_flow(struct fill *f, long i, long j, long tick, struct store_flow *out)
{
    const struct service *sv;
    struct ip_addr gw;
    uint64_t x = rnd(&f->rng), seed;
    bool is_short = j >= f->flows - f->short_flows;

    memset(out, 0, sizeof(*out));
    out->device_ms = STORE_NO_TIME;
    out->direction = STORE_DIR_UNKNOWN;
    out->process_id = out->user_id = -1;
    device_local(i, &out->local, &gw);
    sv = is_short ? &short_lived[j % N_SHORT] : &long_lived[j % N_LONG];
    /* One ping flow a window: a second would be the same flow. */
    if (sv->protocol == ICMP && j >= (long)N_LONG)
        sv = &long_lived[1];
    out->protocol = sv->protocol;
    out->remote = gw;
    if (sv->addr[0] != 0)
        memcpy(out->remote.b, sv->addr, 4);
    out->bytes_out = 40 + (uint32_t)(x % 2000);
    out->bytes_in = (uint32_t)((x >> 16) % 8 == 0 ? 0 : 60 + (x >> 24) % 20000);
    if (sv->protocol == ICMP) {
        out->bytes_in = out->bytes_out = 64;
        return;
    }
    out->remote_port = sv->port;
    /* Long-lived: a port per (device, flow); short-lived: one per window too. */
    seed = (uint64_t)i * 7919 + (uint64_t)j * 104729 + (is_short ? (uint64_t)tick * 1299709 : 0);
    out->local_port = (uint16_t)(49152 + rnd(&seed) % 16384);
}

/* A message is stored inside a batch, as the ingester does: opened before its first row. */
static void batch_open(struct fill *f)
{
    if (!store_batch_open(f->s))
        check(f, store_batch_begin(f->s), "begin");
}

/* After a message: commit when the batch is full. */
static void batch_done(struct fill *f)
{
    if (++f->batch >= BATCH_MESSAGES) {
        check(f, store_batch_commit(f->s, clock_now_ms()), "commit");
        f->batch = 0;
    }
}

static void message_network(struct fill *f, long i, long tick, int64_t recv_ms)
{
    char name[32];
    uint8_t id[16];
    int64_t dev;
    bool dup;

    device_name(i, name, sizeof(name));
    batch_open(f);
    check(f, store_device(f->s, name, HUB, recv_ms, &dev), "device");
    store_counter_add(f->s, "warden_messages_total", "kind=\"d2c\"", 1);
    store_count(f->s, dev, METRIC_D2C, recv_ms, 1);
    store_counter_add(f->s, "warden_messages_total", "kind=\"security\"", 1);
    event_id(f, id);
    check(f, store_event_seen(f->s, dev, id, sizeof(id), 0, &dup), "event id");
    store_counter_add(f->s, "warden_events_total", "type=\"NetworkActivity\"", 1);
    for (long j = 0; j < f->flows; j++) {
        struct store_flow fl;

        make_flow(f, i, j, tick, &fl);
        check(f, store_flow_append(f->s, dev, recv_ms, &fl), "flow");
    }
    store_count(f->s, dev, METRIC_SECURITY_MESSAGES, recv_ms, 1);
    store_count(f->s, dev, METRIC_FLOWS, recv_ms, f->flows);
    store_counter_add(f->s, "warden_flows_total", "", f->flows);
    check(f, store_device_info(f->s, dev, &device_info), "device info");
    f->messages++;
    f->flows_written += f->flows;
    batch_done(f);
}

static void message_status(struct fill *f, long i, int64_t recv_ms)
{
    static const char *const os[] = {"Azure RTOS 6.2.1", "Azure RTOS 6.3", "Eclipse ThreadX 6.4.1"};
    struct store_sysinfo si = {0};
    char name[32];
    uint8_t id[16];
    int64_t dev, device_ms = recv_ms / 1000 * 1000 - 200;
    bool dup;

    device_name(i, name, sizeof(name));
    batch_open(f);
    check(f, store_device(f->s, name, HUB, recv_ms, &dev), "device");
    store_counter_add(f->s, "warden_messages_total", "kind=\"d2c\"", 1);
    store_count(f->s, dev, METRIC_D2C, recv_ms, 1);
    store_counter_add(f->s, "warden_messages_total", "kind=\"security\"", 1);
    si.device_ms = device_ms;
    si.os_info = os[i % 3];
    si.kernel_info = "NetX Duo 6.3";
    si.hw_info = "STMicroelectronics B-L475E-IOT01A";
    event_id(f, id);
    check(f, store_event_seen(f->s, dev, id, sizeof(id), 0, &dup), "event id");
    check(f, store_sysinfo_append(f->s, name, HUB, recv_ms, &si), "sysinfo");
    struct store_device_info info = {.os_info = si.os_info, .skew_ms = STORE_NO_TIME};
    check(f, store_device_info(f->s, dev, &info), "info");
    event_id(f, id);
    check(f, store_event_seen(f->s, dev, id, sizeof(id), 0, &dup), "event id");
    check(f, store_heartbeat_append(f->s, name, HUB, recv_ms, device_ms, 60), "heartbeat");
    store_counter_add(f->s, "warden_events_total", "type=\"SystemInformation\"", 1);
    store_counter_add(f->s, "warden_events_total", "type=\"Heartbeat\"", 1);
    store_count(f->s, dev, METRIC_SECURITY_MESSAGES, recv_ms, 1);
    check(f, store_device_info(f->s, dev, &device_info), "device info");
    f->messages++;
    batch_done(f);
}

static void rollup(struct fill *f)
{
    if (store_batch_open(f->s)) {
        check(f, store_batch_commit(f->s, clock_now_ms()), "commit");
        f->batch = 0;
    }
    bool more;
    check(f, store_rollup(f->s, STORE_ROLLUP_ALL, &more), "rollup");
}

int main(int argc, char **argv)
{
    struct fill f = {.rng = 1};
    char err[512];
    struct timespec a, b;
    long hours, ticks;
    int64_t start_ms;
    double secs;

    if (argc < 5) {
        fprintf(stderr, "usage: storage_fill DB DEVICES HOURS FLOWS [SHORT]\n");
        return 2;
    }
    f.devices = strtol(argv[2], NULL, 10);
    hours = strtol(argv[3], NULL, 10);
    f.flows = strtol(argv[4], NULL, 10);
    f.short_flows = argc > 5 ? strtol(argv[5], NULL, 10) : 4;
    if (f.devices < 1 || f.devices > 62500 || hours < 1 || f.flows < 1 || f.flows > 64 ||
        f.short_flows < 0 || f.short_flows > f.flows)
        return 2;
    if ((f.s = store_open(argv[1], err, sizeof(err))) == NULL) {
        fprintf(stderr, "storage_fill: %s\n", err);
        return 1;
    }
    /* The day ends now, so that every row is inside the default retention. */
    ticks = hours * TICKS_HOUR;
    start_ms = (clock_now_ms() - ticks * TICK_MS) / TICK_MS * TICK_MS;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long t = 0; t < ticks; t++) {
        for (long i = 0; i < f.devices; i++) {
            int64_t at = start_ms + t * TICK_MS + i * TICK_MS / f.devices;

            /* The store reads the clock (dedup generations, commit stamps): move it along. */
            clock_set_ms(at);
            if (t % STATUS_TICKS == i % STATUS_TICKS)
                message_status(&f, i, at);
            message_network(&f, i, t, at);
        }
        if ((t + 1) % ROLLUP_TICKS == 0)
            rollup(&f);
        /* TICKS_HOUR is a multiple of ROLLUP_TICKS: the hour is rolled up. */
        if ((t + 1) % TICKS_HOUR == 0) {
            printf("{\"hour\": %ld, \"messages\": %lld, \"flows\": %lld, \"used_bytes\": %lld}\n",
                   (t + 1) / TICKS_HOUR, f.messages, f.flows_written,
                   (long long)store_used_bytes(f.s));
            fflush(stdout);
        }
    }
    rollup(&f);
    clock_set_ms(-1);
    store_close(f.s);
    clock_gettime(CLOCK_MONOTONIC, &b);
    secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("{\"devices\": %ld, \"hours\": %ld, \"messages\": %lld, \"flows\": %lld, "
           "\"seconds\": %.3f, \"rate\": %.1f}\n",
           f.devices, hours, f.messages, f.flows_written, secs, (double)f.flows_written / secs);
    return 0;
}
