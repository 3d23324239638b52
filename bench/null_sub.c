/*
 * The ingest ceiling: a QoS 1 subscriber that does nothing with what it
 * receives, on the same broker, topics and session settings as Warden
 * (persistent session, libmosquitto acknowledging as it reads). It exits
 * after N messages, or after an idle timeout, and prints one JSON line:
 *   {"received": N, "seconds": S, "rate": R}
 * timed from the first message to the last.
 *
 * usage: null_sub PORT N [IDLE_SECONDS]
 */
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct state {
    long want, got;
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
    (void)arg;
    if (rc != 0) {
        fprintf(stderr, "null_sub: connect refused: %s\n", mosquitto_connack_string(rc));
        exit(1);
    }
    mosquitto_subscribe(m, NULL, "devices/+/messages/events/#", 1);
    mosquitto_subscribe(m, NULL, "hub/+/operations", 1);
}

static void on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
    struct state *st = arg;

    (void)m;
    (void)msg;
    st->last = now_s();
    if (st->got++ == 0)
        st->first = st->last;
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
    m = mosquitto_new("warden-bench-null", false, &st);
    if (m == NULL)
        return 1;
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_message_callback_set(m, on_message);
    if (mosquitto_connect(m, "127.0.0.1", atoi(argv[1]), 30) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "null_sub: cannot connect\n");
        return 1;
    }
    fprintf(stderr, "null_sub: ready\n");
    started = now_s();
    while (st.got < st.want) {
        if (mosquitto_loop(m, 100, 1) != MOSQ_ERR_SUCCESS)
            break;
        if (now_s() - (st.got ? st.last : started) > idle)
            break;
    }
    printf("{\"received\": %ld, \"seconds\": %.3f, \"rate\": %.1f}\n", st.got, st.last - st.first,
           st.got > 1 ? (double)(st.got - 1) / (st.last - st.first) : 0.0);
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    return 0;
}
