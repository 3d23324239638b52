/*
 * sim/sim.c: `warden sim`, the device simulator and load generator. This
 * file reads the arguments, starts the run, catches the signal that ends it
 * and prints the summary line the benchmarks read. The run's pacing and
 * sending are in run.c.
 * What the devices send is in device.c, when they send it in fleet.c, and
 * the incident set in incidents.c.
 */
#include "sim.h"

#include "../common/common.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define SIM_DEVICES_MAX  1000000L
#define SIM_RATE_MAX     10000000.0
#define SIM_PREFIX_MAX   64       /* leaves room for "incident-x509-mismatch" in 128 */
#define SIM_DRAIN_MS     30000    /* how long the end waits for PUBACKs */
#define SIM_DRAIN_SIGNAL_MS 3000  /* the same after SIGINT or SIGTERM */

static void on_signal(int sig)
{
    sim_stop = 1;
}

static const char sim_usage[] =
    "usage: warden sim [--devices N] [--rate R|max] [--flows N]\n"
    "                  [--format flatbuffers|json|mixed]\n"
    "                  [--scenario demo|incidents|silent|hub-auth]\n"
    "                  [--duration D] [--count N] [--prefix P] [--seed S] [--qos 0|1]\n"
    "                  [--hub-host H] [--cert-dir DIR --cafile CA --tls-port P]\n"
    "  --devices N    simulated devices (default 10)\n"
    "  --rate R|max   messages a second over all devices, or as fast as the broker\n"
    "                 takes them (default: each device at its own cadence)\n"
    "  --flows N      flows per network-activity message (default 4)\n"
    "  --format F     security message encoding (default mixed: 1 device in 5 is JSON)\n"
    "  --scenario S   normal (default): the fleet's traffic; demo: that plus an incident\n"
    "                 a minute; incidents: the incident set once, as fast as the broker\n"
    "                 takes it unless --rate is given, then exit; silent: each device\n"
    "                 sends once, then the run ends; hub-auth: the key store's devices\n"
    "                 log in to the lab hub themselves, with valid, expired and forged\n"
    "                 SAS tokens (and the certificates of --cert-dir), then exit\n"
    "  --duration D   stop after D (ISO 8601 like PT30S, or seconds)\n"
    "  --count N      stop after N messages\n"
    "  --prefix P     device id prefix (default \"sim-\")\n"
    "  --seed S       shape of the traffic (default 1); event ids differ on every run\n"
    "  --qos Q        MQTT QoS of every publish (default 1)\n"
    "  --hub-host H   the host name devices put in SAS tokens (default: hub.name)\n"
    "  --cert-dir DIR device certificates DIR/{id}*.pem with .key (hub-auth, over TLS)\n"
    "  --cafile CA    the CA of the TLS front end's certificate (hub-auth)\n"
    "  --tls-port P   the TLS front end's port, `warden hub tls` (hub-auth)\n";

/* ---- arguments ------------------------------------------------------------------ */

static bool usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Say what is wrong and how the command is used; false, for `return usage_error(...)`. */
static bool usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("warden sim: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    fputs(sim_usage, stderr);
    return false;
}

/* A decimal integer in [min, max], all of s, no sign, no spaces. */
static bool parse_long(const char *s, long long min, long long max, long long *out)
{
    char *end;
    long long v;

    if (s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_seed(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

static bool parse_rate(const char *s, struct sim_opts *o)
{
    char *end;
    double v;

    if (strcmp(s, "max") == 0) {
        o->rate_max = true;
        return true;
    }
    if (s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    v = strtod(s, &end);
    /* The comparisons also refuse NaN. */
    if (errno != 0 || *end != '\0' || !(v > 0) || !(v <= SIM_RATE_MAX))
        return false;
    o->rate = v;
    return true;
}

/* An ISO 8601 duration ("PT30S"), or plain seconds. */
static bool parse_duration(const char *s, int64_t *ms)
{
    long long sec;

    if (s[0] == 'P')
        return duration_parse(s, ms) && *ms > 0;
    if (!parse_long(s, 1, 10LL * 366 * 86400, &sec))
        return false;
    *ms = sec * 1000;
    return true;
}

/* The prefix starts every simulated device id: IoT Hub's alphabet, as Warden takes ids. */
static bool prefix_ok(const char *s)
{
    size_t n = strlen(s);

    return n <= SIM_PREFIX_MAX && (n == 0 || device_id_check(s, n) == NULL);
}

static bool parse_choice(const char *s, const char *const *names, int *out)
{
    for (int i = 0; names[i] != NULL; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return true;
        }
    }
    return false;
}

/* The order matches enum sim_format and enum sim_scenario. */
static const char *const format_names[] = {"mixed", "flatbuffers", "json", NULL};
static const char *const scenario_names[] = {"normal", "demo", "incidents", "silent", "hub-auth",
                                             NULL};

static bool set_option(struct sim_opts *o, const char *name, const char *v)
{
    long long n;
    int choice;

    if (strcmp(name, "devices") == 0) {
        if (!parse_long(v, 1, SIM_DEVICES_MAX, &n))
            return usage_error("--devices wants 1 to 1000000, not \"%s\"", v);
        o->devices = (long)n;
    } else if (strcmp(name, "flows") == 0) {
        if (!parse_long(v, 1, SIM_MAX_FLOWS, &n))
            return usage_error("--flows wants 1 to 1024, not \"%s\"", v);
        o->flows = (long)n;
    } else if (strcmp(name, "rate") == 0) {
        if (!parse_rate(v, o))
            return usage_error("--rate wants a positive number or \"max\", not \"%s\"", v);
    } else if (strcmp(name, "format") == 0) {
        if (!parse_choice(v, format_names, &choice))
            return usage_error("--format wants flatbuffers, json or mixed, not \"%s\"", v);
        o->format = (enum sim_format)choice;
    } else if (strcmp(name, "scenario") == 0) {
        if (!parse_choice(v, scenario_names, &choice))
            return usage_error("--scenario wants demo, incidents, silent or hub-auth, not \"%s\"",
                               v);
        o->scenario = (enum sim_scenario)choice;
    } else if (strcmp(name, "duration") == 0) {
        if (!parse_duration(v, &o->duration_ms))
            return usage_error("--duration wants PT30S or seconds, not \"%s\"", v);
    } else if (strcmp(name, "count") == 0) {
        if (!parse_long(v, 1, INT64_MAX, &n))
            return usage_error("--count wants a positive number, not \"%s\"", v);
        o->count = n;
    } else if (strcmp(name, "prefix") == 0) {
        if (!prefix_ok(v))
            return usage_error("--prefix \"%s\": at most 64 printable bytes, no / + #", v);
        o->prefix = v;
    } else if (strcmp(name, "seed") == 0) {
        if (!parse_seed(v, &o->seed))
            return usage_error("--seed wants a number, not \"%s\"", v);
    } else if (strcmp(name, "qos") == 0) {
        if (!parse_long(v, 0, 1, &n))
            return usage_error("--qos wants 0 or 1, not \"%s\"", v);
        o->qos = (int)n;
    } else if (strcmp(name, "hub-host") == 0) {
        o->hub_host = v;
    } else if (strcmp(name, "cert-dir") == 0) {
        o->cert_dir = v;
    } else if (strcmp(name, "cafile") == 0) {
        o->cafile = v;
    } else if (strcmp(name, "tls-port") == 0) {
        if (!parse_long(v, 1, 65535, &n))
            return usage_error("--tls-port wants 1 to 65535, not \"%s\"", v);
        o->tls_port = (long)n;
    } else {
        return usage_error("unknown option --%s", name);
    }
    return true;
}

/* Returns 0 to run, 1 for --help, 2 on a usage error. */
static int parse_args(int argc, char **argv, struct sim_opts *o)
{
    *o = (struct sim_opts){.devices = 10, .flows = 4, .prefix = "sim-", .seed = 1, .qos = 1};
    for (int i = 1; i < argc; i++) {
        char name[32];
        const char *arg = argv[i], *eq, *value;
        size_t n;

        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            fputs(sim_usage, stdout);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0) {
            usage_error("unexpected argument \"%s\"", arg);
            return 2;
        }
        arg += 2;
        /* Both "--name value" and "--name=value". */
        eq = strchr(arg, '=');
        n = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        if (n == 0 || n >= sizeof(name)) {
            usage_error("unknown option \"%s\"", argv[i]);
            return 2;
        }
        memcpy(name, arg, n);
        name[n] = '\0';
        if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            usage_error("--%s needs a value", name);
            return 2;
        }
        if (!set_option(o, name, value))
            return 2;
    }
    return 0;
}

/* ---- the run ---------------------------------------------------------------------- */


/*
 * The event ids of a run start with 8 random bytes, so that a second run
 * against the same database never repeats an id that deduplication would
 * then swallow. The seed deliberately plays no part in them.
 */
static void random_prefix(uint8_t out[8])
{
    uint64_t s;

    if (getrandom(out, 8, 0) == 8)
        return;
    s = (uint64_t)clock_now_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)sim_mono_ns();
    s = sim_rand(&s);
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(s >> (8 * i));
}

static void print_summary(const struct sim_run *r, int64_t end_ns)
{
    double secs = r->start_ns > 0 ? (double)(end_ns - r->start_ns) / 1e9 : 0;

    printf("{\"published\": %llu, \"security_messages\": %llu, \"flows\": %llu, "
           "\"events\": %llu, \"seconds\": %.3f, \"rate\": %.1f}\n",
           (unsigned long long)r->st.published, (unsigned long long)r->st.security_messages,
           (unsigned long long)r->st.flows, (unsigned long long)r->st.events, secs,
           secs > 0 ? (double)r->st.published / secs : 0.0);
    fflush(stdout);
}

static void run_incidents(struct sim_run *r)
{
    for (size_t k = 0; k < sim_incident_count() && !r->done; k++)
        if (!sim_incident_run(r, k))
            break;
}

/* Connect, run the scenario, and wait for the broker to acknowledge it all. */
static int run(struct sim_run *r, const struct sim_target *target)
{
    const char *host = target != NULL && target->host != NULL ? target->host : "localhost";
    int port = target != NULL && target->port > 0 ? target->port : 1883;
    int status;

    if (r->opt->scenario == SIM_SCEN_HUB_AUTH)
        return sim_hub_auth(r, target);
    r->pub = sim_pub_open(host, port, target ? target->username : NULL,
                          target ? target->password : NULL, r->opt->qos, &sim_stop);
    if (r->pub == NULL) {
        print_summary(r, 0);
        return 1;
    }
    r->start_ns = sim_mono_ns();
    if (r->opt->scenario == SIM_SCEN_INCIDENTS)
        run_incidents(r);
    else
        sim_fleet_run(r);
    status = r->failed ? 1 : 0;
    /* A user who interrupted the run does not want to wait long for a missing broker. */
    if (!sim_pub_drain(r->pub, sim_stop ? SIM_DRAIN_SIGNAL_MS : SIM_DRAIN_MS))
        status = 1;
    print_summary(r, sim_mono_ns());
    sim_pub_close(r->pub);
    return status;
}

int sim_main(int argc, char **argv, const struct sim_target *target)
{
    struct sigaction sa, old_int, old_term;
    struct sim_opts opt;
    struct sim_run *r;
    int status;

    switch (parse_args(argc, argv, &opt)) {
    case 1:
        return 0;
    case 2:
        return 2;
    }
    if ((r = calloc(1, sizeof(*r))) == NULL) {
        log_warn("sim: out of memory");
        return 1;
    }
    r->opt = &opt;
    r->hub = target != NULL && target->hub != NULL ? target->hub : "lab-hub";
    r->rng = opt.seed;
    r->paced = opt.rate > 0;
    random_prefix(r->id_prefix);

    sim_stop = 0;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    status = run(r, target);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    free(r);
    return status;
}
