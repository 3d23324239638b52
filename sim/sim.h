/*
 * sim/: simulated devices and the load generator (`warden sim`). The simulator
 * talks to Warden only through the broker, like a real device: it publishes on
 * the same topics with the same payloads (FlatBuffers and JSON security
 * messages, C2D, method and twin traffic, hub operation records).
 */
#ifndef WARDEN_SIM_H
#define WARDEN_SIM_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where to publish; filled by the caller from the configuration. */
struct sim_target {
    const char *host;
    int port;
    const char *hub;        /* hub name used in hub/{hub}/operations */
    const char *username;   /* the broker login (mqtt.username), NULL for none */
    const char *password;
    const char *keystore;   /* the lab hub's key store, for --scenario hub-auth */
};

/*
 * `warden sim [--devices N] [--rate R|max] [--flows N] [--format flatbuffers|json|mixed]
 * [--scenario demo|incidents|silent] [--duration D] [--count N] [--prefix P] [--seed S]
 * [--qos 0|1]`. argv[0] is "sim". Returns the process exit status (0, 1 runtime,
 * 2 usage). Unless the arguments are refused, it prints one line of JSON on
 * stdout at the end: {"published", "security_messages", "flows", "events",
 * "seconds", "rate"}. target may be NULL (localhost:1883, hub "lab-hub").
 */
int sim_main(int argc, char **argv, const struct sim_target *target);

/*
 * The simulator's own FlatBuffers encoder (schema 2.x), written independently
 * of the decoder. sim/fbenc.c. One network-activity event with the given IPv4
 * flows (each 4+4 address bytes in network order, ports, bytes, protocol).
 */
struct sim_flow4 {
    uint8_t local[4], remote[4];
    uint16_t local_port, remote_port;
    uint32_t bytes_in, bytes_out;
    int8_t protocol; /* 0 TCP, 1 UDP, 2 ICMP */
};
/*
 * Encode into out (cap bytes); returns the length, or 0 when it does not fit.
 * The module is "defender-iot-micro-agent" 3.5.4, timezone 0; the network
 * event has a collection interval of 10 s. Fields equal to their default
 * (zero ports and byte counts, TCP) are left out, as devices do.
 */
size_t sim_fb_network(uint8_t *out, size_t cap, const uint8_t event_id[16], uint32_t time_s,
                      const struct sim_flow4 *flows, size_t n);
/*
 * Two events of 60 s each: SystemInformation (id_si; a NULL string is left
 * out) first, then Heartbeat (id_hb), in the order devices send them.
 */
size_t sim_fb_heartbeat_sysinfo(uint8_t *out, size_t cap, const uint8_t id_hb[16],
                                const uint8_t id_si[16], uint32_t time_s, const char *os_info,
                                const char *kernel_info, const char *hw_info);

/* ---- inside sim/ only: the parts the simulator's files share ------------------ */

#define SIM_ID_MAX        128   /* device ids, as ingest bounds them (SPEC 2.3) */
#define SIM_MAX_FLOWS     1024  /* --flows; real devices send at most 64 a window */
/*
 * QoS 1 messages awaiting their PUBACK before publishing waits. libmosquitto
 * keeps them in a list it walks on every PUBACK, so a larger window is slower
 * (256: about 65,000 messages a second on a local broker; 1000: about 45,000).
 */
#define SIM_MAX_INFLIGHT  256
#define SIM_PAYLOAD_MAX   65536 /* scratch for one encoded FlatBuffers payload */

enum sim_format { SIM_FMT_MIXED, SIM_FMT_FLATBUFFERS, SIM_FMT_JSON };
enum sim_scenario {
    SIM_SCEN_NORMAL,
    SIM_SCEN_DEMO,
    SIM_SCEN_INCIDENTS,
    SIM_SCEN_SILENT,
    SIM_SCEN_HUB_AUTH,
};

struct sim_opts {
    long devices;           /* --devices, default 10 */
    long flows;             /* --flows, flows per network message, default 4 */
    double rate;            /* --rate, messages a second; 0: the devices' own cadence */
    bool rate_max;          /* --rate max */
    enum sim_format format;
    enum sim_scenario scenario;
    int64_t duration_ms;    /* --duration; 0: no limit */
    long long count;        /* --count; 0: no limit */
    const char *prefix;     /* --prefix, default "sim-" */
    uint64_t seed;          /* --seed: the shape of the traffic, not the event ids */
    int qos;                /* --qos, default 1 */
    const char *hub_host;   /* --hub-host: the host devices name in SAS tokens (hub-auth) */
    const char *cert_dir;   /* --cert-dir: device certificates (hub-auth) */
    const char *cafile;     /* --cafile: the TLS front end's CA (hub-auth) */
    long tls_port;          /* --tls-port: the TLS front end (hub-auth) */
};

/* What was published; the figures of the summary line. */
struct sim_stats {
    uint64_t published, security_messages, flows, events;
};

/* The broker connection, sim/mqtt.c. */
struct sim_pub;
/*
 * Connect (MQTT 3.1.1, clean session) and start libmosquitto's network
 * thread. Returns NULL after logging why. stop is polled while waiting.
 */
struct sim_pub *sim_pub_open(const char *host, int port, const char *username,
                             const char *password, int qos, const volatile sig_atomic_t *stop);
/*
 * Publish a copy of payload. Waits while SIM_MAX_INFLIGHT messages are
 * unacknowledged. Returns false when the message could not be handed over.
 */
bool sim_pub_send(struct sim_pub *p, const char *topic, const void *payload, size_t len);
/* Wait until every message is acknowledged, at most timeout_ms; false on timeout. */
bool sim_pub_drain(struct sim_pub *p, int64_t timeout_ms);
void sim_pub_close(struct sim_pub *p);

/* One run of `warden sim`: options, connection, pacing and counters. sim/sim.c */
struct sim_run {
    const struct sim_opts *opt;
    const char *hub;
    struct sim_pub *pub;
    struct sim_stats st;
    uint64_t rng;           /* traffic shape, from --seed */
    uint8_t id_prefix[8];   /* random per run, so event ids never repeat across runs */
    uint64_t id_next;
    uint64_t rid;           /* $rid of method and twin topics */
    int64_t start_ns;       /* monotonic */
    bool paced;             /* --rate R: each message waits for its turn */
    bool done;              /* --count, --duration or a signal ended the run */
    bool failed;            /* a publish failed: exit status 1 */
    uint8_t buf[SIM_PAYLOAD_MAX];
    struct sim_flow4 flows[SIM_MAX_FLOWS]; /* one message's flows */
};

/* How a message counts in the summary. */
struct sim_kind {
    bool security;
    uint32_t flows, events;
};

/* run.c: set by sim.c's signal handler; the run's pacing ends when it is. */
extern volatile sig_atomic_t sim_stop;
int64_t sim_mono_ns(void); /* CLOCK_MONOTONIC in nanoseconds */

/*
 * Publish one message, after waiting for its turn under --rate. Returns
 * false when the run is over (count or duration reached, a signal, a
 * failure): the caller stops producing.
 */
bool sim_send(struct sim_run *r, const char *topic, const void *payload, size_t len,
              const struct sim_kind *kind);
/* Publish a JSON value and release it (jansson's json_t). */
struct json_t;
bool sim_send_json(struct sim_run *r, const char *topic, struct json_t *value,
                   const struct sim_kind *kind);
/* Sleep until ms after the start of the run (the devices' cadence); false when the run is over. */
bool sim_wait_until(struct sim_run *r, int64_t ms);
/* A fresh event id: the run's random prefix and a counter. */
void sim_event_id(struct sim_run *r, uint8_t id[16]);
/* 16 bytes as GUID text, 36 characters and a NUL. */
void sim_guid_text(const uint8_t id[16], char out[37]);
/* The next number of a 64-bit generator (splitmix64) with its state in *s. */
uint64_t sim_rand(uint64_t *s);

/* A simulated device and what it sends. sim/device.c */
struct sim_device {
    char id[SIM_ID_MAX + 1];
    bool json;                 /* a legacy JSON agent rather than an Azure RTOS device */
    uint8_t local[4], gateway[4];
    struct sim_flow4 flows[SIM_MAX_FLOWS]; /* its stable flows; bytes vary per message */
    size_t n_flows;
    const char *os_info, *kernel_info, *hw_info;
    char agent_id[37];         /* JSON AgentId */
};

/*
 * Device number index (0-based) of the fleet, the same on every call for a
 * given seed, so the fleet is rebuilt on the fly instead of kept in memory.
 */
void sim_device_init(struct sim_device *d, const struct sim_opts *opt, long index);
/* A device outside the fleet, for the incidents: its id is the prefix and name. */
void sim_device_named(struct sim_device *d, const struct sim_opts *opt, const char *name,
                      bool json, long index);
/* A network-activity security message with these flows (direction "Out" or "In" for JSON). */
bool sim_send_network(struct sim_run *r, const struct sim_device *d, const struct sim_flow4 *f,
                      size_t n, const char *direction);
/* One network message with the device's own flows and fresh byte counts. */
bool sim_send_flows(struct sim_run *r, const struct sim_device *d);
/* Heartbeat and system information, in one message. */
bool sim_send_status(struct sim_run *r, const struct sim_device *d);
/* Ordinary (not security) telemetry, C2D, direct method and twin traffic. */
bool sim_send_telemetry(struct sim_run *r, const char *device_id);
bool sim_send_c2d(struct sim_run *r, const char *device_id);
bool sim_send_method(struct sim_run *r, const char *device_id);
bool sim_send_twin(struct sim_run *r, const char *device_id);

/*
 * Hub operation records (SPEC 2.4), sim/incidents.c. The incident set is a
 * fixed list of steps; sim_incident_run() sends step k and says on stderr
 * what it is.
 */
size_t sim_incident_count(void);
bool sim_incident_run(struct sim_run *r, size_t k);

/* Devices logging in to the lab hub one connection each. sim/hubdev.c */
int sim_hub_auth(struct sim_run *r, const struct sim_target *t);

/* The fleet's own traffic at its cadence (normal, demo, silent). sim/fleet.c */
bool sim_fleet_run(struct sim_run *r);

#endif
