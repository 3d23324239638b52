/*
 * The decoder ceiling of the JSON ingest benchmark: Jansson parsing the
 * benchmark's messages alone, on one core, with the flags Warden's decoder
 * uses (ingest/json_msg.c), and nothing else: no validation, no rows.
 *
 * The messages are the simulator's own. This program subscribes like Warden
 * (the same topics), captures N messages into memory while `warden sim` runs,
 * and only then, with the broker and the simulator idle, parses the captured
 * set over and over for at least MIN_SECONDS of CPU time. It says
 * "json_ceiling: ready" on stderr once subscribed. One JSON line on stdout:
 *   {"captured": N, "bytes": B, "passes": P, "parsed": M, "errors": E,
 *    "cpu_seconds": C, "rate": R}
 * where R = M / C, messages parsed per second of this thread's CPU time.
 *
 * usage: json_ceiling PORT N MIN_SECONDS [IDLE_SECONDS]
 */
#include <jansson.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const topics[] = {
    "devices/+/messages/events/#",      "devices/+/modules/+/messages/events/#",
    "devices/+/messages/devicebound/#", "devices/+/methods/POST/#",
    "devices/+/twin/PATCH/#",           "devices/+/modules/+/twin/PATCH/#",
    "hub/+/operations",
};
#define N_TOPICS (int)(sizeof(topics) / sizeof(topics[0]))

struct payload {
    char *buf;
    size_t len;
};

struct state {
    struct payload *msgs;
    long want, got;
    long long bytes;
    int subscribed;
    double last;
};

static double clock_s(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
    if (rc != 0) {
        fprintf(stderr, "json_ceiling: connect refused: %s\n", mosquitto_connack_string(rc));
        exit(1);
    }
    for (int i = 0; i < N_TOPICS; i++)
        mosquitto_subscribe(m, NULL, topics[i], 1);
}

static void on_subscribe(struct mosquitto *m, void *arg, int mid, int qos_count,
                         const int *granted)
{
    struct state *st = arg;

    if (++st->subscribed == N_TOPICS)
        fprintf(stderr, "json_ceiling: ready\n");
}

static void on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
    struct state *st = arg;
    struct payload *p;

    st->last = clock_s(CLOCK_MONOTONIC);
    if (st->got >= st->want)
        return;
    p = &st->msgs[st->got++];
    p->len = (size_t)msg->payloadlen;
    if ((p->buf = malloc(p->len + 1)) == NULL) {
        fprintf(stderr, "json_ceiling: out of memory\n");
        exit(1);
    }
    memcpy(p->buf, msg->payload, p->len);
    st->bytes += msg->payloadlen;
}

/* Capture up to want messages; stops early when nothing came for idle seconds. */
static void capture(struct state *st, int port, double idle)
{
    struct mosquitto *m;

    mosquitto_lib_init();
    if ((m = mosquitto_new(NULL, true, st)) == NULL)
        exit(1);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_subscribe_callback_set(m, on_subscribe);
    mosquitto_message_callback_set(m, on_message);
    if (mosquitto_connect(m, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "json_ceiling: cannot connect\n");
        exit(1);
    }
    st->last = clock_s(CLOCK_MONOTONIC);
    while (st->got < st->want && clock_s(CLOCK_MONOTONIC) - st->last <= idle)
        if (mosquitto_loop(m, 100, 1) != MOSQ_ERR_SUCCESS)
            break;
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
}

int main(int argc, char **argv)
{
    struct state st = {0};
    double min_cpu, idle, cpu0, cpu = 0;
    long long parsed = 0, errors = 0;
    long passes = 0;

    if (argc < 4) {
        fprintf(stderr, "usage: json_ceiling PORT N MIN_SECONDS [IDLE_SECONDS]\n");
        return 2;
    }
    st.want = strtol(argv[2], NULL, 10);
    min_cpu = strtod(argv[3], NULL);
    idle = argc > 4 ? strtod(argv[4], NULL) : 10.0;
    if (st.want < 1 || (st.msgs = calloc((size_t)st.want, sizeof(*st.msgs))) == NULL)
        return 2;
    capture(&st, atoi(argv[1]), idle);
    if (st.got == 0) {
        fprintf(stderr, "json_ceiling: no message captured\n");
        return 1;
    }

    cpu0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
    while (passes == 0 || cpu < min_cpu) {
        for (long i = 0; i < st.got; i++) {
            json_error_t err;
            json_t *root = json_loadb(st.msgs[i].buf, st.msgs[i].len,
                                      JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);

            if (root == NULL)
                errors++;
            json_decref(root);
        }
        parsed += st.got;
        passes++;
        cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    }
    printf("{\"captured\": %ld, \"bytes\": %lld, \"passes\": %ld, \"parsed\": %lld, "
           "\"errors\": %lld, \"cpu_seconds\": %.3f, \"rate\": %.1f}\n",
           st.got, st.bytes, passes, parsed, errors, cpu, (double)parsed / cpu);
    for (long i = 0; i < st.got; i++)
        free(st.msgs[i].buf);
    free(st.msgs);
    return 0;
}
