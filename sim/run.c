/*
 * sim/run.c: the lowest floor of the simulator: the run's pacing (a steady
 * rate over all devices, --duration, --count, a signal), sending one message
 * and counting it, and the ids and randomness every device uses. sim.c,
 * device.c, fleet.c, hubdev.c and incidents.c call these; these call only
 * mqtt.c (the publisher).
 */
#include "sim.h"

#include "../common/common.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SIM_SLEEP_MAX_NS 100000000L /* sleeps are cut in slices to notice a signal */

volatile sig_atomic_t sim_stop;

int64_t sim_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* False, and the run marked done, once a signal, --duration or --count ends it. */
static bool going(struct sim_run *r)
{
    if (sim_stop)
        r->done = true;
    if (r->opt->duration_ms > 0 && sim_mono_ns() - r->start_ns >= r->opt->duration_ms * 1000000)
        r->done = true;
    return !r->done;
}

static bool sleep_until_ns(struct sim_run *r, int64_t due)
{
    for (;;) {
        int64_t now, d;
        struct timespec ts;

        if (!going(r))
            return false;
        now = sim_mono_ns();
        if (now >= due)
            return true;
        d = due - now < SIM_SLEEP_MAX_NS ? due - now : SIM_SLEEP_MAX_NS;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)d;
        nanosleep(&ts, NULL);
    }
}

bool sim_wait_until(struct sim_run *r, int64_t ms)
{
    return sleep_until_ns(r, r->start_ns + ms * 1000000);
}

bool sim_send(struct sim_run *r, const char *topic, const void *payload, size_t len,
              const struct sim_kind *kind)
{
    if (!going(r))
        return false;
    if (r->paced) {
        int64_t due = r->start_ns + (int64_t)((double)r->st.published * 1e9 / r->opt->rate);

        if (!sleep_until_ns(r, due))
            return false;
    }
    if (!sim_pub_send(r->pub, topic, payload, len)) {
        if (!sim_stop)
            r->failed = true;
        r->done = true;
        return false;
    }
    r->st.published++;
    if (kind != NULL) {
        r->st.security_messages += kind->security;
        r->st.flows += kind->flows;
        r->st.events += kind->events;
    }
    if (r->opt->count > 0 && r->st.published >= (uint64_t)r->opt->count)
        r->done = true;
    return true;
}

bool sim_send_json(struct sim_run *r, const char *topic, struct json_t *value,
                   const struct sim_kind *kind)
{
    char *text;
    bool ok;

    if (value == NULL) {
        log_warn("sim: out of memory");
        r->failed = r->done = true;
        return false;
    }
    text = json_dumps(value, JSON_COMPACT);
    json_decref(value);
    if (text == NULL) {
        log_warn("sim: out of memory");
        r->failed = r->done = true;
        return false;
    }
    ok = sim_send(r, topic, text, strlen(text), kind);
    free(text);
    return ok;
}

uint64_t sim_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void sim_event_id(struct sim_run *r, uint8_t id[16])
{
    uint64_t n = r->id_next++;

    memcpy(id, r->id_prefix, 8);
    for (int i = 0; i < 8; i++)
        id[8 + i] = (uint8_t)(n >> (56 - 8 * i));
}

void sim_guid_text(const uint8_t b[16], char out[37])
{
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}
