/*
 * The lab hub plugin's cost: devices publishing through the broker to one
 * service subscriber, run once against the broker with hub/plugin.c
 * loaded and once against the same broker without it. bench/run.py compares
 * the two rates (hub_plugin).
 *
 * Every client logs in as it would at the lab hub, whether or not the broker
 * checks: DEVICES device connections (client id = device id, user name
 * "{host}/{id}/?api-version=2021-04-12", password a SAS token that sas_make
 * makes from the device's primary key in the key store), each publishing
 * MESSAGES QoS 1 messages of BYTES bytes on devices/{id}/messages/events/
 * with at most WINDOW unacknowledged at a time; and one subscriber logged in
 * as Warden's service (user warden-service, the key store's service secret)
 * on devices/+/messages/events/# with QoS 1, which only counts. An anonymous
 * broker ignores the credentials, so both runs send the same bytes.
 *
 * The devices are the first DEVICES of the key store with a primary key (in
 * the store's order, by id). All clients are driven by one thread with
 * poll(2), so the benchmark takes at most one core and leaves the other to
 * the broker. The rate is messages from the first publish to the last message
 * the subscriber received. It prints one JSON line:
 *   {"devices": D, "per_device": M, "bytes": S, "window": W, "published": P,
 *    "received": R, "duplicates": X, "seconds": T, "rate": RATE}
 * and exits 1 when a client was refused or the subscriber did not receive
 * every message once (nothing for IDLE seconds, 10, ends the wait).
 *
 * usage: hub_bench PORT KEYSTORE [DEVICES [MESSAGES [BYTES [WINDOW [HOST]]]]]
 *        defaults 8, 20000, 600, 100, lab-hub.example
 */
#include "hub/hubkeys.h"
#include "hub/sas.h"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define API_VERSION   "2021-04-12"
#define SERVICE_USER  "warden-service"
#define DEVICES_MAX   1000
#define IDLE_SECONDS  10.0
#define TOKEN_MAX     2048
#define READS_PER_TURN 64

/* One device connection and how far its publishing has got. */
struct device {
    struct mosquitto *m;
    char id[HUB_KEYS_ID_MAX + 1];
    char topic[HUB_KEYS_ID_MAX + 32];
    long sent, acked, received;
    bool connected;
};

static struct {
    struct device *devices;
    int ndevices;
    long per_device;
    int window;
    unsigned char *payload;
    int payload_len;
    struct mosquitto *sub;
    bool sub_ready;
    long received, duplicates, foreign;
    double started, last;
    int refused;
} run;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Publishes from D until its window is full or it has sent everything. */
static void device_fill(struct device *d)
{
    while (d->sent < run.per_device && d->sent - d->acked < run.window) {
        int rc = mosquitto_publish(d->m, NULL, d->topic, run.payload_len, run.payload, 1, false);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "hub_bench: publish by %s: %s\n", d->id, mosquitto_strerror(rc));
            exit(1);
        }
        d->sent++;
    }
}

static void on_device_connect(struct mosquitto *m, void *arg, int rc)
{
    struct device *d = arg;

    if (rc != 0) {
        fprintf(stderr, "hub_bench: %s refused: %s\n", d->id, mosquitto_connack_string(rc));
        run.refused++;
        return;
    }
    d->connected = true;
}

static void on_device_publish(struct mosquitto *m, void *arg, int mid)
{
    struct device *d = arg;

    d->acked++;
    if (run.started > 0)
        device_fill(d);
}

static void on_sub_connect(struct mosquitto *m, void *arg, int rc)
{
    if (rc != 0) {
        fprintf(stderr, "hub_bench: the service subscriber was refused: %s\n",
                mosquitto_connack_string(rc));
        run.refused++;
        return;
    }
    mosquitto_subscribe(m, NULL, "devices/+/messages/events/#", 1);
}

static void on_sub_subscribe(struct mosquitto *m, void *arg, int mid, int qos_count,
                             const int *granted)
{
    if (qos_count < 1 || granted[0] != 1) {
        fprintf(stderr, "hub_bench: the subscription was refused\n");
        run.refused++;
        return;
    }
    run.sub_ready = true;
}

/* Counts a message against the device named in its topic, devices/{id}/... */
static void on_sub_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
    const char *id = msg->topic + strlen("devices/");
    const char *slash = strchr(id, '/');

    run.last = now_s();
    run.received++;
    for (int i = 0; slash != NULL && i < run.ndevices; i++) {
        struct device *d = &run.devices[i];
        if (strlen(d->id) == (size_t)(slash - id) && memcmp(d->id, id, (size_t)(slash - id)) == 0) {
            if (++d->received > run.per_device)
                run.duplicates++;
            return;
        }
    }
    run.foreign++;
}

/*
 * One turn of every client's network loop: poll all sockets, then read what
 * came, write what is queued and do the keepalive bookkeeping.
 */
static void loop_once(struct pollfd *fds, struct mosquitto **all, int n)
{
    for (int i = 0; i < n; i++) {
        fds[i].fd = mosquitto_socket(all[i]);
        fds[i].events = POLLIN | (mosquitto_want_write(all[i]) ? POLLOUT : 0);
        fds[i].revents = 0;
    }
    if (poll(fds, (nfds_t)n, 100) < 0)
        return;
    for (int i = 0; i < n; i++) {
        int rc = MOSQ_ERR_SUCCESS;
        /* libmosquitto reads one packet a call unless it has QoS 1 messages
         * of its own in flight, as the subscriber has not: read on while
         * they come, or the subscriber would take one message a poll. */
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
            for (int r = 0; r < READS_PER_TURN && rc == MOSQ_ERR_SUCCESS; r++)
                rc = mosquitto_loop_read(all[i], 1);
        if (rc == MOSQ_ERR_SUCCESS && mosquitto_want_write(all[i]))
            rc = mosquitto_loop_write(all[i], 1);
        if (rc == MOSQ_ERR_SUCCESS)
            rc = mosquitto_loop_misc(all[i]);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "hub_bench: connection lost: %s\n", mosquitto_strerror(rc));
            exit(1);
        }
    }
}

static struct mosquitto *client_new(const char *id, void *arg, const char *user, const char *password,
                                    int port)
{
    struct mosquitto *m = mosquitto_new(id, true, arg);

    if (m == NULL) {
        fprintf(stderr, "hub_bench: out of memory\n");
        exit(1);
    }
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_username_pw_set(m, user, password);
    if (mosquitto_connect(m, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "hub_bench: cannot connect to port %d\n", port);
        exit(1);
    }
    return m;
}

static long arg_long(int argc, char **argv, int i, long dflt, long lo, long hi)
{
    if (argc <= i)
        return dflt;
    char *end;
    long v = strtol(argv[i], &end, 10);
    if (*end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "hub_bench: argument %d: %s is not a number from %ld to %ld\n", i, argv[i],
                lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    struct hub_keys keys;
    char err[512], user[HUB_KEYS_ID_MAX + 320], token[TOKEN_MAX];

    if (argc < 3) {
        fprintf(stderr, "usage: hub_bench PORT KEYSTORE [DEVICES [MESSAGES [BYTES [WINDOW [HOST]]]]]\n");
        return 2;
    }
    int port = (int)arg_long(argc, argv, 1, 0, 1, 65535);
    run.ndevices = (int)arg_long(argc, argv, 3, 8, 1, DEVICES_MAX);
    run.per_device = arg_long(argc, argv, 4, 20000, 1, 100000000);
    run.payload_len = (int)arg_long(argc, argv, 5, 600, 0, 1 << 20);
    run.window = (int)arg_long(argc, argv, 6, 100, 1, 65535);
    const char *host = argc > 7 ? argv[7] : "lab-hub.example";

    if (!hub_keys_load(argv[2], &keys, err, sizeof(err))) {
        fprintf(stderr, "hub_bench: %s\n", err);
        return 1;
    }
    if (keys.service[0] == '\0') {
        fprintf(stderr, "hub_bench: %s has no service secret\n", argv[2]);
        return 1;
    }
    run.devices = calloc((size_t)run.ndevices, sizeof(*run.devices));
    run.payload = malloc((size_t)run.payload_len + 1);
    struct mosquitto **all = calloc((size_t)run.ndevices + 1, sizeof(*all));
    struct pollfd *fds = calloc((size_t)run.ndevices + 1, sizeof(*fds));
    if (run.devices == NULL || run.payload == NULL || all == NULL || fds == NULL) {
        fprintf(stderr, "hub_bench: out of memory\n");
        return 1;
    }
    /* Bytes of no particular pattern, so nothing on the way can compress them. */
    srand(7);
    for (int i = 0; i < run.payload_len; i++)
        run.payload[i] = (unsigned char)(rand() >> 7);

    mosquitto_lib_init();
    run.sub = client_new("hub-bench-service", NULL, SERVICE_USER, keys.service, port);
    mosquitto_connect_callback_set(run.sub, on_sub_connect);
    mosquitto_subscribe_callback_set(run.sub, on_sub_subscribe);
    mosquitto_message_callback_set(run.sub, on_sub_message);
    all[0] = run.sub;

    int64_t expiry = (int64_t)time(NULL) + 3600;
    size_t k = 0;
    for (int i = 0; i < run.ndevices; i++) {
        struct device *d = &run.devices[i];
        while (k < keys.ndevices && keys.devices[k].primary[0] == '\0')
            k++;
        if (k == keys.ndevices) {
            fprintf(stderr, "hub_bench: %s has %d devices with a primary key, not %d\n", argv[2], i,
                    run.ndevices);
            return 1;
        }
        const struct hub_keys_device *kd = &keys.devices[k++];
        snprintf(d->id, sizeof(d->id), "%s", kd->id);
        snprintf(d->topic, sizeof(d->topic), "devices/%s/messages/events/", d->id);
        snprintf(user, sizeof(user), "%s/%s/?api-version=" API_VERSION, host, d->id);
        if (!sas_make(host, d->id, kd->primary, expiry, token, sizeof(token))) {
            fprintf(stderr, "hub_bench: cannot make a SAS token for %s\n", d->id);
            return 1;
        }
        d->m = client_new(d->id, d, user, token, port);
        mosquitto_int_option(d->m, MOSQ_OPT_SEND_MAXIMUM, run.window);
        mosquitto_connect_callback_set(d->m, on_device_connect);
        mosquitto_publish_callback_set(d->m, on_device_publish);
        all[i + 1] = d->m;
    }
    int nall = run.ndevices + 1;

    /* Everyone connected and the subscription granted before the clock starts. */
    double deadline = now_s() + IDLE_SECONDS;
    for (;;) {
        int up = 0;
        for (int i = 0; i < run.ndevices; i++)
            up += run.devices[i].connected;
        if (run.refused > 0)
            return 1;
        if (up == run.ndevices && run.sub_ready)
            break;
        if (now_s() > deadline) {
            fprintf(stderr, "hub_bench: %d of %d devices connected, subscriber %s\n", up,
                    run.ndevices, run.sub_ready ? "ready" : "not ready");
            return 1;
        }
        loop_once(fds, all, nall);
    }

    long want = (long)run.ndevices * run.per_device;
    run.started = now_s();
    run.last = run.started;
    for (int i = 0; i < run.ndevices; i++)
        device_fill(&run.devices[i]);
    while (run.received < want && now_s() - run.last < IDLE_SECONDS)
        loop_once(fds, all, nall);

    long published = 0;
    for (int i = 0; i < run.ndevices; i++)
        published += run.devices[i].sent;
    double seconds = run.last - run.started;
    printf("{\"devices\": %d, \"per_device\": %ld, \"bytes\": %d, \"window\": %d, \"published\": %ld, "
           "\"received\": %ld, \"duplicates\": %ld, \"seconds\": %.3f, \"rate\": %.1f}\n",
           run.ndevices, run.per_device, run.payload_len, run.window, published, run.received,
           run.duplicates, seconds, seconds > 0 ? (double)run.received / seconds : 0.0);

    for (int i = 0; i < nall; i++) {
        mosquitto_disconnect(all[i]);
        mosquitto_loop_write(all[i], 1);
        mosquitto_destroy(all[i]);
    }
    mosquitto_lib_cleanup();
    hub_keys_free(&keys);
    bool ok = run.received == want && run.duplicates == 0 && run.foreign == 0;
    if (!ok)
        fprintf(stderr, "hub_bench: received %ld of %ld (%ld duplicates, %ld on other topics)\n",
                run.received, want, run.duplicates, run.foreign);
    free(run.devices);
    free(run.payload);
    free(all);
    free(fds);
    return ok ? 0 : 1;
}
