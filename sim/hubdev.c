/*
 * sim/hubdev.c: `warden sim --scenario hub-auth`, simulated devices that log in
 * to the lab hub (the broker with warden_hub.so) one connection each, exactly
 * as an Azure RTOS device logs in to IoT Hub: client id = device id, user name
 * "{host}/{device id}/?api-version=...", a SAS token as password, or a client
 * certificate through `warden hub tls`.
 *
 * For every device of the key store (up to --devices) it makes the attempts the
 * hub's alerts are about: a valid login that sends a security message and a
 * reported twin update, then steps outside its topics (one publish, one
 * subscribe); a login with an expired token; one with a forged token. With
 * --cert-dir, a certificate device also logs in with each DIR/{id}*.pem (and
 * its .key) it finds there, over TLS on --tls-port. It prints one JSON line of
 * what happened and fails when the hub decided otherwise than IoT Hub would.
 */
#include "sim.h"

#include "../hub/hubkeys.h"
#include "../hub/sas.h"
#include "../common/common.h"

#include <dirent.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define API_VERSION     "2021-04-12"
#define CONNACK_WAIT_MS 5000

struct devconn {
    struct mosquitto *m;
    int connack; /* -1 until the CONNACK arrives */
    bool twin_ack;
};

struct hub_tally {
    long devices, connected, refused, unexpected, unauthorized_attempts, twin_acks;
};

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    ((struct devconn *)obj)->connack = rc;
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    if (strncmp(msg->topic, "$iothub/twin/res/204/", 21) == 0)
        ((struct devconn *)obj)->twin_ack = true;
}

/* Runs the client's loop until done() or ms pass. */
static void pump(struct devconn *c, int64_t ms, bool (*done)(const struct devconn *))
{
    int64_t end = clock_mono_ms() + ms;

    while (clock_mono_ms() < end && !(done && done(c)))
        if (mosquitto_loop(c->m, 50, 1) != MOSQ_ERR_SUCCESS)
            break;
}

static bool got_connack(const struct devconn *c)
{
    return c->connack >= 0;
}

static bool got_twin_ack(const struct devconn *c)
{
    return c->twin_ack;
}

/* Connects as DEVICE; returns the CONNACK code (0 accepted, 5 not authorised) or -1. */
static int dev_open(struct devconn *c, const struct sim_target *t, const char *device,
                    const char *host_name, const char *password, const char *cert, const char *key,
                    const struct sim_opts *o)
{
    char user[SIM_ID_MAX + 300];

    memset(c, 0, sizeof(*c));
    c->connack = -1;
    if ((c->m = mosquitto_new(device, true, c)) == NULL)
        return -1;
    mosquitto_int_option(c->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(c->m, on_connect);
    mosquitto_message_callback_set(c->m, on_message);
    snprintf(user, sizeof(user), "%s/%s/?api-version=" API_VERSION, host_name, device);
    mosquitto_username_pw_set(c->m, user, password);
    int port = t->port;
    if (cert != NULL) {
        if (mosquitto_tls_set(c->m, o->cafile, NULL, cert, key, NULL) != MOSQ_ERR_SUCCESS)
            return -1;
        /* Lab certificates rarely name the host the simulator dials. */
        mosquitto_tls_insecure_set(c->m, true);
        port = (int)o->tls_port;
    }
    if (mosquitto_connect(c->m, t->host, port, 30) != MOSQ_ERR_SUCCESS)
        return -1;
    pump(c, CONNACK_WAIT_MS, got_connack);
    return c->connack;
}

static void dev_close(struct devconn *c)
{
    if (c->m == NULL)
        return;
    if (c->connack == 0) {
        mosquitto_disconnect(c->m);
        pump(c, 100, NULL);
    }
    mosquitto_destroy(c->m);
    c->m = NULL;
}

/* What an admitted device does: its own traffic, then two steps outside its topics. */
static void dev_session(struct sim_run *r, struct devconn *c, const char *device,
                        struct hub_tally *tl)
{
    char topic[SIM_ID_MAX + 200];
    uint8_t hb[16], si[16], buf[1024];

    snprintf(topic, sizeof(topic), "devices/%s/messages/devicebound/#", device);
    mosquitto_subscribe(c->m, NULL, topic, 1);
    mosquitto_subscribe(c->m, NULL, "$iothub/methods/POST/#", 1);
    mosquitto_subscribe(c->m, NULL, "$iothub/twin/res/#", 1);

    sim_event_id(r, hb);
    sim_event_id(r, si);
    size_t n = sim_fb_heartbeat_sysinfo(buf, sizeof(buf), hb, si, (uint32_t)time(NULL),
                                        "ThreadX 6.4", "NetX Duo 6.4", "sim board");
    snprintf(topic, sizeof(topic),
             "devices/%s/messages/events/mti=2.3-1-0-0&%%24.ifid=urn%%3Aazureiot%%3ASecurity%%3A"
             "SecurityAgent%%3A1",
             device);
    mosquitto_publish(c->m, NULL, topic, (int)n, buf, 1, false);
    static const char reported[] = "{\"sim\":\"hub\"}";
    mosquitto_publish(c->m, NULL, "$iothub/twin/PATCH/properties/reported/?$rid=1",
                      (int)strlen(reported), reported, 1, false);
    pump(c, 3000, got_twin_ack);
    tl->twin_acks += c->twin_ack;

    /* Outside its own topics: the hub must refuse both and record them. */
    snprintf(topic, sizeof(topic), "devices/%s-neighbour/messages/events/", device);
    mosquitto_publish(c->m, NULL, topic, 5, "spoof", 1, false);
    mosquitto_subscribe(c->m, NULL, "devices/+/messages/devicebound/#", 1);
    tl->unauthorized_attempts += 2;
    pump(c, 300, NULL);
}

/* One login attempt whose outcome is known in advance. */
static void attempt(struct sim_run *r, const struct sim_target *t, const char *device,
                    const char *host_name, const char *password, const char *cert, const char *key,
                    bool should_pass, const char *what, struct hub_tally *tl)
{
    struct devconn c;
    int rc = dev_open(&c, t, device, host_name, password, cert, key, r->opt);

    if (rc == 0) {
        tl->connected++;
        dev_session(r, &c, device, tl);
    } else {
        tl->refused++;
    }
    if ((rc == 0) != should_pass) {
        tl->unexpected++;
        log_warn("sim: %s %s: %s, expected %s", device, what,
                 rc == 0  ? "admitted"
                 : rc < 0 ? "no answer"
                          : "refused",
                 should_pass ? "admission" : "refusal");
    }
    dev_close(&c);
}

static void sas_attempts(struct sim_run *r, const struct sim_target *t,
                         const struct hub_keys_device *d, const char *host_name,
                         struct hub_tally *tl)
{
    char token[2048], forged[64];
    uint8_t raw[32];
    int64_t now = (int64_t)time(NULL);

    if (sas_make(host_name, d->id, d->primary, now + 3600, token, sizeof(token)))
        attempt(r, t, d->id, host_name, token, NULL, NULL, true, "valid SAS token", tl);
    if (sas_make(host_name, d->id, d->primary, now - 3600, token, sizeof(token)))
        attempt(r, t, d->id, host_name, token, NULL, NULL, false, "expired SAS token", tl);
    /* Signed with a key the hub never issued. */
    if (getrandom(raw, sizeof(raw), 0) == (ssize_t)sizeof(raw) &&
        sas_b64_encode(raw, sizeof(raw), forged, sizeof(forged)) > 0 &&
        sas_make(host_name, d->id, forged, now + 3600, token, sizeof(token)))
        attempt(r, t, d->id, host_name, token, NULL, NULL, false, "forged SAS token", tl);
}

/* Every DIR/{id}*.pem with a .key beside it; "{id}.pem" is the one the registry knows. */
static void cert_attempts(struct sim_run *r, const struct sim_target *t,
                          const struct hub_keys_device *d, const char *host_name,
                          struct hub_tally *tl)
{
    DIR *dir = opendir(r->opt->cert_dir);
    struct dirent *e;
    size_t idlen = strlen(d->id);

    if (dir == NULL)
        return;
    while ((e = readdir(dir)) != NULL) {
        size_t n = strlen(e->d_name);
        char cert[1024], key[1024];
        if (n < idlen + 4 || strncmp(e->d_name, d->id, idlen) != 0 ||
            strcmp(e->d_name + n - 4, ".pem") != 0)
            continue;
        snprintf(cert, sizeof(cert), "%s/%s", r->opt->cert_dir, e->d_name);
        snprintf(key, sizeof(key), "%s/%.*s.key", r->opt->cert_dir, (int)(n - 4), e->d_name);
        bool mine = n == idlen + 4;
        attempt(r, t, d->id, host_name, NULL, cert, key, mine,
                mine ? "registered certificate" : e->d_name, tl);
    }
    closedir(dir);
}

int sim_hub_auth(struct sim_run *r, const struct sim_target *t)
{
    struct hub_keys k;
    struct hub_tally tl = {0};
    char err[512];
    const char *host_name = r->opt->hub_host ? r->opt->hub_host : r->hub;

    if (t == NULL || t->keystore == NULL || !hub_keys_load(t->keystore, &k, err, sizeof(err))) {
        log_warn("sim: hub-auth needs the lab hub's key store: %s",
                 t && t->keystore ? err : "no hub.keystore");
        return 1;
    }
    for (size_t i = 0; i < k.ndevices && tl.devices < r->opt->devices && !r->done; i++) {
        const struct hub_keys_device *d = &k.devices[i];
        tl.devices++;
        if (d->primary[0] != '\0')
            sas_attempts(r, t, d, host_name, &tl);
        else if (r->opt->cert_dir != NULL && r->opt->tls_port > 0)
            cert_attempts(r, t, d, host_name, &tl);
    }
    hub_keys_free(&k);
    printf("{\"devices\":%ld,\"connected\":%ld,\"refused\":%ld,\"unexpected\":%ld,"
           "\"unauthorized_attempts\":%ld,\"twin_acks\":%ld}\n",
           tl.devices, tl.connected, tl.refused, tl.unexpected, tl.unauthorized_attempts,
           tl.twin_acks);
    return tl.unexpected == 0 && tl.devices > 0 ? 0 : 1;
}
