/*
 * sim/device.c: what a simulated device is and what it publishes. A device
 * is either an Azure RTOS board (FlatBuffers security messages, mti
 * 2.3-1-0-0) or a legacy Linux agent (JSON schema 1.0, mti 1.0-0-1-0). Each
 * has a stable local address and a stable set of remote services, so that
 * allow lists and connection-count rules see the same traffic every window.
 */
#include "sim.h"

#include "../hub/sas.h"

#include "../common/common.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define SIM_IFID_BAG "%24.ifid=urn%3Aazureiot%3ASecurity%3ASecurityAgent%3A1"
#define SIM_TOPIC_MAX 1024

enum { TCP = 0, UDP = 1, ICMP = 2 };

/*
 * The services devices talk to. An address of 0.0.0.0 stands for the
 * device's own gateway. Every public address here lies in 52.178.17.0/24,
 * 40.113.0.0/24, 20.42.73.0/24, 162.159.200.0/24, 8.8.8.8 or 1.1.1.1, the
 * allow list a demo group needs for normal traffic to raise nothing.
 */
static const struct service {
    uint8_t addr[4];
    uint16_t port;
    int8_t protocol;
} services[] = {
    {{52, 178, 17, 3}, 8883, TCP},   /* the hub, MQTT over TLS: every device */
    {{0, 0, 0, 0}, 53, UDP},         /* DNS at the gateway: every device */
    {{162, 159, 200, 1}, 123, UDP},  /* NTP */
    {{52, 178, 17, 4}, 443, TCP},    /* the hub over HTTPS */
    {{0, 0, 0, 0}, 0, ICMP},         /* pinging the gateway */
    {{40, 113, 0, 16}, 443, TCP},    /* firmware downloads */
    {{20, 42, 73, 25}, 443, TCP},    /* a telemetry back end */
    {{8, 8, 8, 8}, 53, UDP},
    {{1, 1, 1, 1}, 53, UDP},
    {{162, 159, 200, 123}, 123, UDP},
};
#define N_SERVICES (sizeof(services) / sizeof(services[0]))
#define N_ALWAYS   2 /* the first services every device uses */

static const char *const rtos_os[] = {"Azure RTOS 6.2.1", "Azure RTOS 6.3", "Eclipse ThreadX 6.4.1"};
static const char *const rtos_kernel[] = {"NetX Duo 6.2.1", "NetX Duo 6.3", "NetX Duo 6.4.1"};
static const char *const rtos_hw[] = {
    "STMicroelectronics B-L475E-IOT01A", "NXP MIMXRT1060-EVK", "Microchip ATSAME54-XPRO",
    "Renesas RX65N Cloud Kit", "Espressif ESP32-S3"};
static const char *const linux_os[] = {"Debian GNU/Linux 11 (bullseye)", "Ubuntu 20.04.6 LTS",
                                       "Raspbian GNU/Linux 10 (buster)"};
static const char *const linux_kernel[] = {"5.10.0-28-armmp", "5.4.0-150-generic",
                                           "5.10.103-v7l+"};
static const char *const linux_arch[] = {"armv7l", "aarch64", "armv7l"};

#define PICK(rng, list) (list[sim_rand(rng) % (sizeof(list) / sizeof(list[0]))])

/* The local and gateway addresses of device index: 192.168.x.y, or 10.20.x.y for 1 in 3. */
static void device_addresses(struct sim_device *d, long index)
{
    uint8_t net = index % 3 == 2 ? 10 : 192;
    uint8_t second = net == 10 ? 20 : 168;
    uint8_t third = (uint8_t)((index / 250) % 256);

    d->local[0] = d->gateway[0] = net;
    d->local[1] = d->gateway[1] = second;
    d->local[2] = d->gateway[2] = third;
    d->local[3] = (uint8_t)(index % 250 + 2);
    d->gateway[3] = 1;
}

/* An ephemeral port (49152-65535), as the devices' TCP/IP stacks choose them. */
static uint16_t ephemeral(uint64_t *rng)
{
    return (uint16_t)(49152 + sim_rand(rng) % 16384);
}

/*
 * The device's services (the first N_ALWAYS, then a few more in a stable
 * random order), and its flows: flow j goes to service j modulo their number,
 * each from its own local port, so the flows are distinct (ports drawn at
 * random may collide now and then, as on a real device).
 */
static void device_flows(struct sim_device *d, const struct sim_opts *opt, uint64_t *rng)
{
    size_t order[N_SERVICES], n_serv;

    for (size_t i = 0; i < N_SERVICES; i++)
        order[i] = i;
    for (size_t i = N_SERVICES - 1; i > N_ALWAYS; i--) {
        size_t j = N_ALWAYS + sim_rand(rng) % (i - N_ALWAYS + 1);
        size_t t = order[i];

        order[i] = order[j];
        order[j] = t;
    }
    n_serv = 3 + sim_rand(rng) % 5;
    d->n_flows = (size_t)opt->flows;
    for (size_t j = 0; j < d->n_flows; j++) {
        const struct service *s = &services[order[j % n_serv]];
        struct sim_flow4 *f = &d->flows[j];

        /* A second ping of the gateway would be the same flow: call the hub's API instead. */
        if (s->protocol == ICMP && j >= n_serv)
            s = &services[3];

        memset(f, 0, sizeof(*f));
        memcpy(f->local, d->local, 4);
        memcpy(f->remote, s->addr[0] == 0 ? d->gateway : s->addr, 4);
        f->protocol = s->protocol;
        if (s->protocol == ICMP)
            continue;
        f->remote_port = s->port;
        f->local_port = s->port == 123 && j < n_serv ? 123 : ephemeral(rng);
    }
}

/* Agent id, system information and flows; the addresses are set before. */
static void device_common(struct sim_device *d, const struct sim_opts *opt, uint64_t rng)
{
    uint8_t agent[16];

    for (int i = 0; i < 16; i++)
        agent[i] = (uint8_t)sim_rand(&rng);
    sim_guid_text(agent, d->agent_id);
    if (d->json) {
        size_t k = sim_rand(&rng) % 3;

        d->os_info = linux_os[k];
        d->kernel_info = linux_kernel[k];
        d->hw_info = linux_arch[k];
    } else {
        size_t k = sim_rand(&rng) % 3;

        d->os_info = rtos_os[k];
        d->kernel_info = rtos_kernel[k];
        d->hw_info = PICK(&rng, rtos_hw);
    }
    device_flows(d, opt, &rng);
}

void sim_device_init(struct sim_device *d, const struct sim_opts *opt, long index)
{
    uint64_t rng = opt->seed ^ ((uint64_t)(index + 1) * 0x9e3779b97f4a7c15ULL);

    snprintf(d->id, sizeof(d->id), "%s%04ld", opt->prefix, index + 1);
    if (opt->format == SIM_FMT_JSON)
        d->json = true;
    else if (opt->format == SIM_FMT_FLATBUFFERS)
        d->json = false;
    else
        d->json = index % 5 == 4;
    device_addresses(d, index);
    device_common(d, opt, rng);
}

void sim_device_named(struct sim_device *d, const struct sim_opts *opt, const char *name,
                      bool json, long index)
{
    uint64_t rng = opt->seed ^ hash_bytes(HASH_SEED, name, strlen(name));

    snprintf(d->id, sizeof(d->id), "%s%s", opt->prefix, name);
    d->json = json;
    /* Incident devices sit on their own subnet, 192.168.77.0/24. */
    d->local[0] = d->gateway[0] = 192;
    d->local[1] = d->gateway[1] = 168;
    d->local[2] = d->gateway[2] = 77;
    d->local[3] = (uint8_t)(10 + index % 200);
    d->gateway[3] = 1;
    device_common(d, opt, rng);
}

/* ---- security messages -------------------------------------------------------------- */

static void security_topic(char *out, const char *device_id, bool json)
{
    if (json)
        snprintf(out, SIM_TOPIC_MAX, "devices/%s/messages/events/%s&mti=1.0-0-1-0", device_id,
                 SIM_IFID_BAG);
    else
        snprintf(out, SIM_TOPIC_MAX, "devices/%s/messages/events/mti=2.3-1-0-0&%s", device_id,
                 SIM_IFID_BAG);
}

static uint32_t now_s(void)
{
    return (uint32_t)(clock_now_ms() / 1000);
}

static void addr_text(const uint8_t a[4], char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
}

static json_t *port_text(uint16_t port)
{
    char s[8];

    snprintf(s, sizeof(s), "%u", port);
    return json_string(s);
}

/* One JSON schema 1.0 event with a fresh Id; payload is taken over. */
static json_t *json_event(struct sim_run *r, const char *type, const char *category,
                          const char *name, json_t *payload)
{
    uint8_t id[16];
    char guid[37], when[40];

    sim_event_id(r, id);
    sim_guid_text(id, guid);
    time_format_iso(clock_now_ms(), when, sizeof(when));
    return json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:s, s:o}", "EventType", type,
                     "Category", category, "Name", name, "IsEmpty",
                     json_array_size(payload) == 0, "PayloadSchemaVersion", "1.0", "Id", guid,
                     "TimestampLocal", when, "TimestampUTC", when, "Payload", payload);
}

static json_t *json_message(const struct sim_device *d, json_t *events)
{
    return json_pack("{s:s, s:s, s:s, s:o}", "AgentVersion", "3.13.1", "AgentId", d->agent_id,
                     "MessageSchemaVersion", "1.0", "Events", events);
}

static const char *const protocol_names[] = {"TCP", "UDP", "ICMP"};

static json_t *json_connection(const struct sim_device *d, const struct sim_flow4 *f,
                               const char *direction)
{
    char local[16], remote[16];
    const char *proto = f->protocol >= 0 && f->protocol <= 2 ? protocol_names[f->protocol]
                                                             : "TCP";

    addr_text(f->local, local);
    addr_text(f->remote, remote);
    return json_pack("[{s:s, s:o, s:s, s:o, s:s, s:s, s:i, s:i, s:s, s:s, s:{}}]",
                     "RemoteAddress", remote, "RemotePort", port_text(f->remote_port),
                     "LocalAddress", local, "LocalPort", port_text(f->local_port), "Direction",
                     direction, "Protocol", proto, "ProcessId", 412, "UserId", 0,
                     "Executable", "/usr/bin/iot-agent", "CommandLine",
                     "/usr/bin/iot-agent --config /etc/iot-agent.json", "ExtraDetails");
}

/* A JSON agent reports each connection as an event of its own. */
static bool send_network_json(struct sim_run *r, const struct sim_device *d,
                              const struct sim_flow4 *f, size_t n, const char *direction)
{
    struct sim_kind kind = {.security = true, .flows = (uint32_t)n, .events = (uint32_t)n};
    char topic[SIM_TOPIC_MAX];
    json_t *events = json_array();

    for (size_t i = 0; i < n && events != NULL; i++) {
        json_t *ev = json_event(r, "Security", "Triggered", "ConnectionCreate",
                                json_connection(d, &f[i], direction));

        if (ev == NULL || json_array_append_new(events, ev) != 0) {
            json_decref(events);
            events = NULL;
        }
    }
    security_topic(topic, d->id, true);
    return sim_send_json(r, topic, events != NULL ? json_message(d, events) : NULL, &kind);
}

static bool send_network_fb(struct sim_run *r, const struct sim_device *d,
                            const struct sim_flow4 *f, size_t n)
{
    struct sim_kind kind = {.security = true, .flows = (uint32_t)n, .events = 1};
    char topic[SIM_TOPIC_MAX];
    uint8_t id[16];
    size_t len;

    sim_event_id(r, id);
    len = sim_fb_network(r->buf, sizeof(r->buf), id, now_s(), f, n);
    if (len == 0) {
        log_warn("sim: %zu flows do not fit in one message", n);
        r->failed = r->done = true;
        return false;
    }
    security_topic(topic, d->id, false);
    return sim_send(r, topic, r->buf, len, &kind);
}

bool sim_send_network(struct sim_run *r, const struct sim_device *d, const struct sim_flow4 *f,
                      size_t n, const char *direction)
{
    if (d->json)
        return send_network_json(r, d, f, n, direction);
    return send_network_fb(r, d, f, n);
}

/* Byte counts of one window: plausible for the service, now and then zero. */
static void window_bytes(struct sim_run *r, struct sim_flow4 *f)
{
    uint64_t x = sim_rand(&r->rng);

    if (f->protocol == ICMP) {
        f->bytes_out = f->bytes_in = 64 * (uint32_t)(1 + x % 4);
    } else if (f->remote_port == 53) {
        f->bytes_out = 40 + (uint32_t)(x % 40);
        f->bytes_in = 80 + (uint32_t)((x >> 8) % 220);
    } else if (f->remote_port == 123) {
        f->bytes_out = f->bytes_in = 48;
    } else if (f->remote_port == 8883) {
        f->bytes_out = 200 + (uint32_t)(x % 1800);
        f->bytes_in = (x >> 16) % 8 == 0 ? 0 : 60 + (uint32_t)((x >> 8) % 900);
    } else {
        f->bytes_out = 500 + (uint32_t)(x % 4500);
        f->bytes_in = 2000 + (uint32_t)((x >> 8) % 48000);
    }
}

bool sim_send_flows(struct sim_run *r, const struct sim_device *d)
{
    memcpy(r->flows, d->flows, d->n_flows * sizeof(d->flows[0]));
    for (size_t i = 0; i < d->n_flows; i++)
        window_bytes(r, &r->flows[i]);
    return sim_send_network(r, d, r->flows, d->n_flows, "Out");
}

static bool send_status_json(struct sim_run *r, const struct sim_device *d)
{
    struct sim_kind kind = {.security = true, .events = 2};
    char topic[SIM_TOPIC_MAX];
    uint64_t x = sim_rand(&r->rng);
    json_t *info, *events;

    info = json_pack("[{s:s, s:s, s:s, s:s, s:s, s:I, s:I}]", "OSName", "Linux", "OSVersion",
                     d->os_info, "KernelVersion", d->kernel_info, "OsArchitecture", d->hw_info,
                     "HostName", d->id, "TotalPhysicalMemoryInKB", (json_int_t)1013236,
                     "FreePhysicalMemoryInKB", (json_int_t)(200000 + x % 400000));
    events = json_pack("[o, o]", json_event(r, "Security", "Periodic", "SystemInformation", info),
                       json_event(r, "Operational", "Periodic", "Heartbeat", json_array()));
    security_topic(topic, d->id, true);
    return sim_send_json(r, topic, events != NULL ? json_message(d, events) : NULL, &kind);
}

static bool send_status_fb(struct sim_run *r, const struct sim_device *d)
{
    struct sim_kind kind = {.security = true, .events = 2};
    char topic[SIM_TOPIC_MAX];
    uint8_t id_hb[16], id_si[16];
    size_t len;

    sim_event_id(r, id_si);
    sim_event_id(r, id_hb);
    len = sim_fb_heartbeat_sysinfo(r->buf, sizeof(r->buf), id_hb, id_si, now_s(), d->os_info,
                                   d->kernel_info, d->hw_info);
    if (len == 0) {
        r->failed = r->done = true;
        return false;
    }
    security_topic(topic, d->id, false);
    return sim_send(r, topic, r->buf, len, &kind);
}

bool sim_send_status(struct sim_run *r, const struct sim_device *d)
{
    return d->json ? send_status_json(r, d) : send_status_fb(r, d);
}

/* ---- everything else a device sees ------------------------------------------------------ */

bool sim_send_telemetry(struct sim_run *r, const char *device_id)
{
    char topic[SIM_TOPIC_MAX];
    uint64_t x = sim_rand(&r->rng);

    snprintf(topic, sizeof(topic), "devices/%s/messages/events/", device_id);
    return sim_send_json(r, topic,
                         json_pack("{s:f, s:f, s:I}", "temperature", 18.0 + (double)(x % 120) / 10,
                                   "humidity", 30.0 + (double)((x >> 8) % 400) / 10, "uptime",
                                   (json_int_t)((x >> 16) % 864000)),
                         NULL);
}

bool sim_send_c2d(struct sim_run *r, const char *device_id)
{
    char topic[SIM_TOPIC_MAX], enc[3 * SIM_ID_MAX + 1];

    sas_url_encode(device_id, enc, sizeof(enc));
    snprintf(topic, sizeof(topic),
             "devices/%s/messages/devicebound/%%24.to=%%2Fdevices%%2F%s%%2Fmessages%%2Fdevicebound",
             device_id, enc);
    return sim_send_json(r, topic,
                         json_pack("{s:s, s:i}", "command", "setTelemetryInterval", "seconds", 10),
                         NULL);
}

bool sim_send_method(struct sim_run *r, const char *device_id)
{
    char topic[SIM_TOPIC_MAX];

    snprintf(topic, sizeof(topic), "devices/%s/methods/POST/reboot/?$rid=%llu", device_id,
             (unsigned long long)++r->rid);
    return sim_send_json(r, topic, json_pack("{s:i}", "delaySeconds", 5), NULL);
}

bool sim_send_twin(struct sim_run *r, const char *device_id)
{
    char topic[SIM_TOPIC_MAX];

    snprintf(topic, sizeof(topic), "devices/%s/twin/PATCH/properties/reported/?$rid=%llu",
             device_id, (unsigned long long)++r->rid);
    return sim_send_json(r, topic,
                         json_pack("{s:s, s:i}", "firmwareVersion", "6.2.1", "telemetryInterval",
                                   10),
                         NULL);
}
