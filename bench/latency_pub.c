/*
 * The ingest latency benchmark: how long after a device publishes does its
 * message become visible in Warden's database.
 *
 * A FlatBuffers security message carries no publish time finer than a
 * second (Event.time), so this publisher writes its own into the payload:
 * flow 0 of every message is a probe, local port 1 to remote port 9, whose
 * bytes_in and bytes_out hold the low and high 32 bits of the publish time
 * in unix milliseconds. The other flows are ordinary device traffic, so the
 * messages are the size and shape of the ingest benchmark's (20 flows).
 *
 * The main thread publishes at a steady RATE (QoS 1) for SECONDS, from
 * DEVICES devices in turn, with the simulator's encoder (sim_fb_network).
 * A second thread polls the database every POLL_MS for probe rows it has not
 * seen; each one gives three figures:
 *   publish -> recv_ms    until Warden read it off the socket (flow_pack.recv_ms)
 *   publish -> visible    until a reader could see it: the commit, within POLL_MS
 *   recv_ms -> visible    the batch commit delay
 * After publishing it waits (at most DRAIN_SECONDS) until every message has
 * been seen, and prints one JSON line with the percentiles.
 *
 * usage: latency_pub PORT DB RATE SECONDS [DEVICES [FLOWS]]
 */
#include "sim/sim.h"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS        2
#define DRAIN_SECONDS  60
#define PROBE_LPORT    1
#define PROBE_RPORT    9
#define TOPIC_FMT      "devices/lat-%04ld/messages/events/mti=2.3-1-0-0&" \
                       "%%24.ifid=urn%%3Aazureiot%%3ASecurity%%3ASecurityAgent%%3A1"

/* What the poller found, one entry per message seen. */
struct samples {
    double *pub_visible, *pub_recv, *recv_visible;
    long n, cap;
};

struct poller {
    const char *db;
    atomic_long published;     /* messages handed to libmosquitto so far */
    atomic_bool done;          /* the publisher has finished */
    struct samples s;
    long extra;                /* probe rows beyond what was published: a defect */
    int failed;
};

static atomic_bool connected;

static double realtime_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* ---- the poller ------------------------------------------------------------------ */

static int poll_once(struct poller *p, sqlite3_stmt *st, int64_t *cursor)
{
    double now;
    int rc;

    sqlite3_bind_int64(st, 1, *cursor);
    now = realtime_ms();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        int64_t recv = sqlite3_column_int64(st, 1);
        int64_t pub = sqlite3_column_int64(st, 2) | (sqlite3_column_int64(st, 3) << 32);
        struct samples *s = &p->s;

        *cursor = id;
        if (s->n == s->cap) {
            p->extra++;
            continue;
        }
        s->pub_visible[s->n] = now - (double)pub;
        s->pub_recv[s->n] = (double)(recv - pub);
        s->recv_visible[s->n] = now - (double)recv;
        s->n++;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_BUSY ? 0 : -1;
}

static void *poller_main(void *arg)
{
    static const char sql[] =
        "SELECT p.id + j.key, p.recv_ms, j.value ->> 5, j.value ->> 6 "
        "FROM flow_pack p CROSS JOIN json_each(p.flows) j "
        "WHERE p.id > ?1 AND j.value ->> 2 = 1 AND j.value ->> 4 = 9 ORDER BY p.id";
    struct poller *p = arg;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t cursor = 0;
    double drain_until = 0;

    if (sqlite3_open_v2(p->db, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(db, 1000) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "latency_pub: %s: %s\n", p->db, sqlite3_errmsg(db));
        p->failed = 1;
        sqlite3_close(db);
        return NULL;
    }
    for (;;) {
        if (poll_once(p, st, &cursor) != 0) {
            fprintf(stderr, "latency_pub: poll: %s\n", sqlite3_errmsg(db));
            p->failed = 1;
            break;
        }
        if (atomic_load(&p->done)) {
            if (p->s.n >= atomic_load(&p->published))
                break;
            if (drain_until == 0)
                drain_until = mono_s() + DRAIN_SECONDS;
            else if (mono_s() > drain_until)
                break;
        }
        sleep_ms(POLL_MS);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return NULL;
}

/* ---- the publisher ---------------------------------------------------------------- */

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
    if (rc != 0) {
        fprintf(stderr, "latency_pub: connect refused: %s\n", mosquitto_connack_string(rc));
        exit(1);
    }
    atomic_store(&connected, true);
}

/* The ordinary flows of a device: the hub, DNS, NTP, HTTPS services, stable per device. */
static void device_flows(struct sim_flow4 *f, size_t n, long dev)
{
    static const uint8_t remotes[][4] = {
        {52, 178, 17, 3}, {192, 168, 0, 1}, {162, 159, 200, 1}, {52, 178, 17, 4},
        {40, 113, 0, 16}, {20, 42, 73, 25}, {8, 8, 8, 8},      {1, 1, 1, 1},
    };
    static const uint16_t rports[] = {8883, 53, 123, 443, 443, 443, 53, 53};

    for (size_t i = 0; i < n; i++) {
        size_t k = i % 8;

        memset(&f[i], 0, sizeof(f[i]));
        f[i].local[0] = 192, f[i].local[1] = 168;
        f[i].local[2] = (uint8_t)(dev / 250), f[i].local[3] = (uint8_t)(dev % 250 + 2);
        memcpy(f[i].remote, remotes[k], 4);
        f[i].remote_port = rports[k];
        f[i].local_port = (uint16_t)(49152 + (dev * 31 + (long)i * 977) % 16384);
        f[i].protocol = rports[k] == 53 || rports[k] == 123 ? 1 : 0;
        f[i].bytes_in = 100 + (uint32_t)i * 17;
        f[i].bytes_out = 200 + (uint32_t)i * 13;
    }
}

static int publish_one(struct mosquitto *m, long k, long devices, size_t nflows,
                       const uint8_t prefix[8])
{
    static struct sim_flow4 flows[SIM_MAX_FLOWS];
    static uint8_t buf[SIM_PAYLOAD_MAX];
    char topic[256];
    uint8_t id[16];
    long dev = k % devices;
    uint64_t ms;
    size_t len;

    device_flows(flows, nflows, dev);
    memcpy(id, prefix, 8);
    for (int i = 0; i < 8; i++)
        id[8 + i] = (uint8_t)((uint64_t)k >> (56 - 8 * i));
    ms = (uint64_t)realtime_ms();
    flows[0].local_port = PROBE_LPORT;
    flows[0].remote_port = PROBE_RPORT;
    flows[0].bytes_in = (uint32_t)ms;
    flows[0].bytes_out = (uint32_t)(ms >> 32);
    len = sim_fb_network(buf, sizeof(buf), id, (uint32_t)(ms / 1000), flows, nflows);
    snprintf(topic, sizeof(topic), TOPIC_FMT, dev + 1);
    if (len == 0 || mosquitto_publish(m, NULL, topic, (int)len, buf, 1, false) != MOSQ_ERR_SUCCESS)
        return -1;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double pct(const double *v, long n, double p)
{
    long i = (long)((double)n * p + 0.999999) - 1;

    if (n == 0)
        return 0;
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static void print_stats(const char *name, double *v, long n, const char *sep)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    printf("\"%sp50_ms\": %.1f, \"%sp99_ms\": %.1f, \"%smax_ms\": %.1f%s", name, pct(v, n, 0.50),
           name, pct(v, n, 0.99), name, n ? v[n - 1] : 0.0, sep);
}

int main(int argc, char **argv)
{
    struct poller p = {0};
    struct mosquitto *m;
    pthread_t th;
    uint8_t prefix[8];
    double rate, seconds, t0, elapsed;
    long total, devices, k;
    size_t nflows;
    int status = 0;

    if (argc < 5) {
        fprintf(stderr, "usage: latency_pub PORT DB RATE SECONDS [DEVICES [FLOWS]]\n");
        return 2;
    }
    p.db = argv[2];
    rate = strtod(argv[3], NULL);
    seconds = strtod(argv[4], NULL);
    devices = argc > 5 ? strtol(argv[5], NULL, 10) : 1000;
    nflows = argc > 6 ? (size_t)strtol(argv[6], NULL, 10) : 20;
    total = (long)(rate * seconds);
    if (!(rate >= 1) || total < 1 || devices < 1 || nflows < 1 || nflows > SIM_MAX_FLOWS)
        return 2;
    if (getrandom(prefix, sizeof(prefix), 0) != sizeof(prefix))
        return 1;
    p.s.cap = total;
    p.s.pub_visible = calloc((size_t)total, sizeof(double));
    p.s.pub_recv = calloc((size_t)total, sizeof(double));
    p.s.recv_visible = calloc((size_t)total, sizeof(double));
    if (p.s.pub_visible == NULL || p.s.pub_recv == NULL || p.s.recv_visible == NULL)
        return 1;

    mosquitto_lib_init();
    if ((m = mosquitto_new(NULL, true, NULL)) == NULL)
        return 1;
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    /* As the simulator: a bounded window of unacknowledged messages. */
    mosquitto_max_inflight_messages_set(m, SIM_MAX_INFLIGHT);
    mosquitto_connect_callback_set(m, on_connect);
    if (mosquitto_connect(m, "127.0.0.1", atoi(argv[1]), 30) != MOSQ_ERR_SUCCESS ||
        mosquitto_loop_start(m) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "latency_pub: cannot connect\n");
        return 1;
    }
    for (int i = 0; i < 1000 && !atomic_load(&connected); i++)
        sleep_ms(10);
    if (!atomic_load(&connected)) {
        fprintf(stderr, "latency_pub: no CONNACK\n");
        return 1;
    }
    if (pthread_create(&th, NULL, poller_main, &p) != 0)
        return 1;

    /* Message k is due k / rate seconds after the start; late ones go at once. */
    t0 = mono_s();
    for (k = 0; k < total && !p.failed;) {
        double due = t0 + (double)k / rate, now = mono_s();

        if (now < due) {
            struct timespec ts = {0, (long)((due - now) * 1e9)};
            nanosleep(&ts, NULL);
            continue;
        }
        if (publish_one(m, k, devices, nflows, prefix) != 0) {
            fprintf(stderr, "latency_pub: publish failed\n");
            status = 1;
            break;
        }
        atomic_store(&p.published, ++k);
    }
    elapsed = mono_s() - t0;
    atomic_store(&p.done, true);
    pthread_join(th, NULL);
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();

    printf("{\"published\": %ld, \"seen\": %ld, \"extra\": %ld, \"seconds\": %.3f, "
           "\"rate\": %.1f, \"poll_ms\": %d, ",
           k, p.s.n, p.extra, elapsed, (double)k / elapsed, POLL_MS);
    print_stats("", p.s.pub_visible, p.s.n, ", ");
    print_stats("recv_", p.s.pub_recv, p.s.n, ", ");
    print_stats("commit_", p.s.recv_visible, p.s.n, "}\n");
    if (p.failed || p.s.n != k || p.extra != 0)
        status = 1;
    return status;
}
