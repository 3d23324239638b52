/*
 * sim/mqtt.c: the simulator's connection to the broker. libmosquitto runs
 * its own network thread (mosquitto_loop_start), which also reconnects after
 * a broker restart; this file only bounds how many QoS 1 messages may wait
 * for their PUBACK, so that `--rate max` goes as fast as the broker accepts
 * without queueing the whole run in memory.
 */
#include "sim.h"

#include "../common/common.h"

#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SIM_CONNECT_TIMEOUT_MS 10000
#define SIM_RETRY_MS           30000 /* how long a QoS 0 publish waits for a reconnection */

struct sim_pub {
    struct mosquitto *mosq;
    int qos;
    const volatile sig_atomic_t *stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long outstanding;   /* handed to libmosquitto, not yet acknowledged */
    int state;          /* 0 connecting, 1 connected, -1 refused */
    int refused_rc;
    bool was_connected;
};

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    struct sim_pub *p = obj;

    pthread_mutex_lock(&p->mu);
    if (rc == 0) {
        if (p->was_connected)
            log_info("sim: reconnected to the broker");
        p->state = 1;
        p->was_connected = true;
    } else {
        p->state = -1;
        p->refused_rc = rc;
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    struct sim_pub *p = obj;

    pthread_mutex_lock(&p->mu);
    if (p->state == 1 && rc != 0)
        log_warn("sim: lost the broker (%s), reconnecting", mosquitto_strerror(rc));
    if (p->state == 1)
        p->state = 0;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
    struct sim_pub *p = obj;

    pthread_mutex_lock(&p->mu);
    if (p->outstanding > 0)
        p->outstanding--;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Wait on the condition for at most ms; the caller holds the mutex. */
static void wait_ms(struct sim_pub *p, long ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (ms % 1000) * 1000000L;
    ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&p->cv, &p->mu, &ts);
}

static bool wait_connack(struct sim_pub *p, const char *host, int port)
{
    int64_t deadline = clock_mono_ms() + SIM_CONNECT_TIMEOUT_MS;
    int state;

    pthread_mutex_lock(&p->mu);
    while (p->state == 0 && clock_mono_ms() < deadline && !*p->stop)
        wait_ms(p, 100);
    state = p->state;
    pthread_mutex_unlock(&p->mu);
    if (state == 1)
        return true;
    if (state == -1)
        log_warn("sim: broker %s:%d refused the connection: %s", host, port,
                 mosquitto_connack_string(p->refused_rc));
    else
        log_warn("sim: no answer from broker %s:%d", host, port);
    return false;
}

static void pub_free(struct sim_pub *p)
{
    if (p->mosq != NULL)
        mosquitto_destroy(p->mosq);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
    mosquitto_lib_cleanup();
}

/*
 * The network thread must not take SIGINT or SIGTERM: the handler only sets
 * a flag, and the main thread has to see its sleep cut short to act on it.
 */
static int start_loop(struct mosquitto *mosq)
{
    sigset_t block, old;
    int rc;

    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    rc = mosquitto_loop_start(mosq);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

struct sim_pub *sim_pub_open(const char *host, int port, const char *username,
                             const char *password, int qos, const volatile sig_atomic_t *stop)
{
    struct sim_pub *p;
    char client_id[64];
    int rc;

    if ((p = calloc(1, sizeof(*p))) == NULL) {
        log_warn("sim: out of memory");
        return NULL;
    }
    mosquitto_lib_init();
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->qos = qos;
    p->stop = stop;
    /* A client id of its own per process, so that two simulators can run at once. */
    snprintf(client_id, sizeof(client_id), "warden-sim-%ld-%lld", (long)getpid(),
             (long long)(clock_now_ms() % 1000000));
    if ((p->mosq = mosquitto_new(client_id, true, p)) == NULL) {
        log_warn("sim: cannot create an MQTT client");
        pub_free(p);
        return NULL;
    }
    mosquitto_int_option(p->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    /* The in-flight bound is ours (SIM_MAX_INFLIGHT), not libmosquitto's default of 20. */
    mosquitto_max_inflight_messages_set(p->mosq, 0);
    mosquitto_reconnect_delay_set(p->mosq, 1, 10, true);
    mosquitto_connect_callback_set(p->mosq, on_connect);
    mosquitto_disconnect_callback_set(p->mosq, on_disconnect);
    mosquitto_publish_callback_set(p->mosq, on_publish);
    if (username != NULL && username[0] != '\0')
        mosquitto_username_pw_set(p->mosq, username, password);

    rc = mosquitto_connect(p->mosq, host, port, 30);
    if (rc != MOSQ_ERR_SUCCESS) {
        log_warn("sim: cannot connect to broker %s:%d: %s", host, port,
                 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        pub_free(p);
        return NULL;
    }
    if ((rc = start_loop(p->mosq)) != MOSQ_ERR_SUCCESS) {
        log_warn("sim: cannot start the MQTT thread: %s", mosquitto_strerror(rc));
        pub_free(p);
        return NULL;
    }
    if (!wait_connack(p, host, port)) {
        sim_pub_close(p);
        return NULL;
    }
    return p;
}

/* Take a place among the messages in flight; false when told to stop first. */
static bool take_slot(struct sim_pub *p)
{
    bool ok;

    pthread_mutex_lock(&p->mu);
    while (p->outstanding >= SIM_MAX_INFLIGHT && !*p->stop)
        wait_ms(p, 100);
    ok = p->outstanding < SIM_MAX_INFLIGHT;
    if (ok)
        p->outstanding++;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

static void give_slot(struct sim_pub *p)
{
    pthread_mutex_lock(&p->mu);
    p->outstanding--;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

bool sim_pub_send(struct sim_pub *p, const char *topic, const void *payload, size_t len)
{
    int64_t deadline = clock_mono_ms() + SIM_RETRY_MS;
    int rc;

    if (len > (size_t)MQTT_MAX_PAYLOAD || !take_slot(p))
        return false;
    for (;;) {
        rc = mosquitto_publish(p->mosq, NULL, topic, (int)len, payload, p->qos, false);
        /*
         * A QoS 1 message stays queued in libmosquitto while the broker is
         * away and goes out on reconnection, so "no connection" is success.
         */
        if (rc == MOSQ_ERR_SUCCESS || (rc == MOSQ_ERR_NO_CONN && p->qos > 0))
            return true;
        if (rc != MOSQ_ERR_NO_CONN || *p->stop || clock_mono_ms() > deadline)
            break;
        usleep(100 * 1000);
    }
    give_slot(p);
    log_warn("sim: publish on %s failed: %s", topic, mosquitto_strerror(rc));
    return false;
}

bool sim_pub_drain(struct sim_pub *p, int64_t timeout_ms)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    long left;

    pthread_mutex_lock(&p->mu);
    while (p->outstanding > 0 && clock_mono_ms() < deadline)
        wait_ms(p, 100);
    left = p->outstanding;
    pthread_mutex_unlock(&p->mu);
    if (left > 0)
        log_warn("sim: %ld messages were not acknowledged by the broker", left);
    return left == 0;
}

void sim_pub_close(struct sim_pub *p)
{
    if (p == NULL)
        return;
    mosquitto_disconnect(p->mosq);
    mosquitto_loop_stop(p->mosq, false);
    pub_free(p);
}
