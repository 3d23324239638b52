/*
 * The ingest ceiling: a QoS 1 subscriber that does nothing with what it
 * receives, on the same broker, topics and session settings as Warden
 * (the subscriptions of ingest/ingest.c, persistent session, MQTT 3.1.1),
 * with libmosquitto acknowledging each message as it reads it. Whatever
 * Warden does beyond this (decoding, SQLite, acknowledging after the
 * commit) is Warden's cost; this is what the broker and the publisher allow.
 *
 * It says "null_sub: ready" on stderr once the broker has acknowledged every
 * subscription, so the harness knows when to start publishing. It exits after
 * N messages, or when nothing came for IDLE_SECONDS (default 10), and prints
 * one JSON line, timed from the first message to the last:
 *   {"received": N, "bytes": B, "seconds": S, "rate": R}
 *
 * usage: null_sub PORT N [IDLE_SECONDS]
 */
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* What Warden subscribes to (ingest/ingest.c, with the default empty topic root). */
static const char *const topics[] = {
    "devices/+/messages/events/#",      "devices/+/modules/+/messages/events/#",
    "devices/+/messages/devicebound/#", "devices/+/methods/POST/#",
    "devices/+/twin/PATCH/#",           "devices/+/modules/+/twin/PATCH/#",
    "hub/+/operations",
};
#define N_TOPICS (int)(sizeof(topics) / sizeof(topics[0]))

struct state {
    long want, got;
    long long bytes;
    int subscribed;
    double first, last;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
    if (rc != 0) {
        fprintf(stderr, "null_sub: connect refused: %s\n", mosquitto_connack_string(rc));
        exit(1);
    }
    for (int i = 0; i < N_TOPICS; i++)
        mosquitto_subscribe(m, NULL, topics[i], 1);
}

static void on_subscribe(struct mosquitto *m, void *arg, int mid, int qos_count,
                         const int *granted)
{
    struct state *st = arg;

    if (qos_count < 1 || granted[0] != 1) {
        fprintf(stderr, "null_sub: subscription refused\n");
        exit(1);
    }
    if (++st->subscribed == N_TOPICS)
        fprintf(stderr, "null_sub: ready\n");
}

static void on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
    struct state *st = arg;

    st->last = now_s();
    if (st->got++ == 0)
        st->first = st->last;
    st->bytes += msg->payloadlen;
}

int main(int argc, char **argv)
{
    struct state st = {0};
    struct mosquitto *m;
    double idle, started;

    if (argc < 3) {
        fprintf(stderr, "usage: null_sub PORT N [IDLE_SECONDS]\n");
        return 2;
    }
    st.want = strtol(argv[2], NULL, 10);
    idle = argc > 3 ? strtod(argv[3], NULL) : 10.0;
    mosquitto_lib_init();
    /* clean_session false, a fixed id: the session Warden has. */
    m = mosquitto_new("warden-bench-null", false, &st);
    if (m == NULL)
        return 1;
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_subscribe_callback_set(m, on_subscribe);
    mosquitto_message_callback_set(m, on_message);
    if (mosquitto_connect(m, "127.0.0.1", atoi(argv[1]), 30) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "null_sub: cannot connect\n");
        return 1;
    }
    started = now_s();
    while (st.got < st.want) {
        if (mosquitto_loop(m, 100, 1) != MOSQ_ERR_SUCCESS)
            break;
        if (now_s() - (st.got ? st.last : started) > idle)
            break;
    }
    printf("{\"received\": %ld, \"bytes\": %lld, \"seconds\": %.3f, \"rate\": %.1f}\n", st.got,
           st.bytes, st.last - st.first,
           st.got > 1 ? (double)(st.got - 1) / (st.last - st.first) : 0.0);
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    return 0;
}
