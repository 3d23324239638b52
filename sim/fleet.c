/*
 * sim/fleet.c: when the fleet's devices send. Each device has a slot in the
 * 10-second collection window (devices are spread evenly across it) and on
 * each of its ticks sends its network activity; every sixth tick (60 s) it
 * also sends heartbeat and system information, and now and then telemetry,
 * C2D, twin and method traffic.
 *
 * The schedule is a sequence of (tick, device) slots in time order. At the
 * devices' own cadence each slot waits for its time; under --rate the same
 * sequence is sent at the asked pace, and under --rate max back to back.
 */
#include "sim.h"

#include "../common/common.h"

#include <stdlib.h>

#define SIM_TICK_MS          10000 /* the devices' collection interval */
#define SIM_STATUS_TICKS     6     /* heartbeat and system information every 60 s */
#define SIM_INCIDENT_FIRST   30000 /* demo: first incident 30 s in, then one a minute */
#define SIM_INCIDENT_EVERY   60000

/* Which ticks carry what, per device; offset by the device so they do not all coincide. */
static bool device_tick(struct sim_run *r, const struct sim_device *d, long index, long tick)
{
    long k = tick + index;

    if (tick % SIM_STATUS_TICKS == 0 && !sim_send_status(r, d))
        return false;
    if (!sim_send_flows(r, d))
        return false;
    if (tick % SIM_STATUS_TICKS == 3 && !sim_send_telemetry(r, d->id))
        return false;
    if (k % 18 == 5 && !sim_send_c2d(r, d->id))
        return false;
    if (k % 30 == 7 && !sim_send_twin(r, d->id))
        return false;
    if (k % 60 == 11 && !sim_send_method(r, d->id))
        return false;
    return true;
}

/* silent: every device sends once, as it would on its first tick, and then nothing. */
static bool run_silent(struct sim_run *r, struct sim_device *d)
{
    for (long i = 0; i < r->opt->devices; i++) {
        sim_device_init(d, r->opt, i);
        if (!sim_send_status(r, d) || !sim_send_flows(r, d))
            return false;
    }
    return true;
}

static bool run_ticks(struct sim_run *r, struct sim_device *d)
{
    bool own_cadence = !r->paced && !r->opt->rate_max;
    bool demo = r->opt->scenario == SIM_SCEN_DEMO;
    int64_t next_incident = SIM_INCIDENT_FIRST;
    size_t incident = 0;
    long n = r->opt->devices;

    if (demo)
        log_info("sim: demo: %ld devices, an incident a minute from 30 s on", n);
    for (long tick = 0; !r->done; tick++) {
        for (long i = 0; i < n && !r->done; i++) {
            int64_t at = (int64_t)tick * SIM_TICK_MS + (int64_t)i * SIM_TICK_MS / n;

            if (own_cadence && !sim_wait_until(r, at))
                return false;
            if (demo && at >= next_incident) {
                if (!sim_incident_run(r, incident))
                    return false;
                incident = (incident + 1) % sim_incident_count();
                next_incident += SIM_INCIDENT_EVERY;
            }
            sim_device_init(d, r->opt, i);
            if (!device_tick(r, d, i, tick))
                return false;
        }
    }
    return true;
}

bool sim_fleet_run(struct sim_run *r)
{
    struct sim_device *d;
    bool ok;

    /* One device record, rebuilt per slot: a fleet of any size costs no memory. */
    if ((d = calloc(1, sizeof(*d))) == NULL) {
        log_warn("sim: out of memory");
        r->failed = r->done = true;
        return false;
    }
    if (r->opt->scenario == SIM_SCEN_SILENT)
        ok = run_silent(r, d);
    else
        ok = run_ticks(r, d);
    free(d);
    return ok;
}
