/*
 * sim/incidents.c: the incident set. A fixed, ordered list of steps that
 * together make every alert of SPEC 5.2 that traffic can raise, and the
 * diagnostics recommendation of 5.3 (the other recommendations follow the
 * hub's configuration and the registry, which no traffic changes). The
 * `incidents` scenario sends the list once; `demo` sends one step a minute.
 *
 * Device ids, addresses and hub records here are an interface: tests look
 * for them. Every device id is the --prefix followed by the name below.
 */
#include "sim.h"

#include "../common/common.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BURST_D2C   200
#define BURST_OTHER 50
#define SCAN_FLOWS  64 /* as many IPv4 flows as a device reports in one window */

/* On the demo threat list, conf/demo-intel.netset (185.220.101.0/24). */
static const uint8_t ti_addr[4] = {185, 220, 101, 34};
/* Public addresses on no list and outside any sensible allow list. */
static const uint8_t outbound_addr[4] = {93, 184, 216, 34};
static const uint8_t inbound_addr[4] = {45, 33, 32, 156};

/* One step; device and what are said on stderr as it is sent. */
struct incident {
    const char *device; /* the device name after the prefix; NULL for the hub itself */
    const char *what;
    bool (*send)(struct sim_run *r);
};

static void device_id(const struct sim_run *r, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s", r->opt->prefix, name);
}

/* ---- flows ---------------------------------------------------------------------------------- */

/*
 * A network message of one incident device (name, on 192.168.77.{10+index})
 * with the flows that make() writes into r->flows; returns make()'s count.
 */
static bool send_flows(struct sim_run *r, const char *name, bool json, long index,
                       const char *direction,
                       size_t (*make)(const struct sim_device *d, struct sim_flow4 *f))
{
    struct sim_device *d = calloc(1, sizeof(*d));
    bool ok;

    if (d == NULL) {
        log_warn("sim: out of memory");
        r->failed = r->done = true;
        return false;
    }
    sim_device_named(d, r->opt, name, json, index);
    ok = sim_send_network(r, d, r->flows, make(d, r->flows), direction);
    free(d);
    return ok;
}

static struct sim_flow4 tcp_flow(const struct sim_device *d, const uint8_t remote[4],
                                 uint16_t local_port, uint16_t remote_port)
{
    struct sim_flow4 f = {.local_port = local_port, .remote_port = remote_port,
                          .bytes_in = 4200, .bytes_out = 1900, .protocol = 0};

    memcpy(f.local, d->local, 4);
    memcpy(f.remote, remote, 4);
    return f;
}

static size_t ti_flows(const struct sim_device *d, struct sim_flow4 *f)
{
    f[0] = tcp_flow(d, ti_addr, 50432, 443);
    return 1;
}

static size_t outbound_flows(const struct sim_device *d, struct sim_flow4 *f)
{
    f[0] = tcp_flow(d, outbound_addr, 50500, 80);
    return 1;
}

/* Someone on the internet opened the device's SSH port. */
static size_t inbound_flows(const struct sim_device *d, struct sim_flow4 *f)
{
    f[0] = tcp_flow(d, inbound_addr, 22, 51234);
    return 1;
}

/* The device scans its gateway: many distinct flows in one window. */
static size_t scan_flows(const struct sim_device *d, struct sim_flow4 *f)
{
    for (size_t i = 0; i < SCAN_FLOWS; i++) {
        f[i] = tcp_flow(d, d->gateway, (uint16_t)(40000 + i), (uint16_t)(20 + i));
        f[i].bytes_out = 60;
        f[i].bytes_in = 0;
    }
    return SCAN_FLOWS;
}

static bool ti(struct sim_run *r)
{
    return send_flows(r, "incident-ti", false, 0, "Out", ti_flows);
}

static bool outbound(struct sim_run *r)
{
    return send_flows(r, "incident-outbound", false, 1, "Out", outbound_flows);
}

static bool inbound(struct sim_run *r)
{
    return send_flows(r, "incident-inbound", true, 2, "In", inbound_flows);
}

static bool scan(struct sim_run *r)
{
    return send_flows(r, "incident-conns", false, 3, "Out", scan_flows);
}

/* A device that reports once and then falls silent for good. */
static bool silent(struct sim_run *r)
{
    struct sim_device *d = calloc(1, sizeof(*d));
    bool ok;

    if (d == NULL) {
        r->failed = r->done = true;
        return false;
    }
    sim_device_named(d, r->opt, "incident-silent", false, 4);
    ok = sim_send_status(r, d);
    free(d);
    return ok;
}

/* ---- bursts --------------------------------------------------------------------------------- */

static bool burst(struct sim_run *r, const char *name, int n,
                  bool (*send)(struct sim_run *r, const char *device_id))
{
    char id[SIM_ID_MAX + 1];

    device_id(r, name, id, sizeof(id));
    for (int i = 0; i < n; i++)
        if (!send(r, id))
            return false;
    return true;
}

static bool burst_d2c(struct sim_run *r)
{
    return burst(r, "incident-burst", BURST_D2C, sim_send_telemetry);
}

static bool burst_c2d(struct sim_run *r)
{
    return burst(r, "incident-c2d", BURST_OTHER, sim_send_c2d);
}

static bool burst_methods(struct sim_run *r)
{
    return burst(r, "incident-methods", BURST_OTHER, sim_send_method);
}

static bool burst_twin(struct sim_run *r)
{
    return burst(r, "incident-twin", BURST_OTHER, sim_send_twin);
}

/* ---- hub operation records ---------------------------------------------------------------- */

/* A record of SPEC 2.4 with its time; the caller adds the rest. */
static json_t *record(const char *category, const char *operation, const char *result)
{
    char when[40];

    time_format_iso(clock_now_ms(), when, sizeof(when));
    return json_pack("{s:s, s:s, s:s, s:s}", "time", when, "category", category, "operation",
                     operation, "result", result);
}

/* Set key to a string on a record; a NULL record stays NULL (out of memory). */
static json_t *with(json_t *rec, const char *key, const char *value)
{
    if (rec != NULL && json_object_set_new(rec, key, json_string(value)) != 0) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

static json_t *with_device(const struct sim_run *r, json_t *rec, const char *name)
{
    char id[SIM_ID_MAX + 1];

    device_id(r, name, id, sizeof(id));
    return with(rec, "deviceId", id);
}

static json_t *with_count(json_t *rec, json_int_t count)
{
    if (rec != NULL && json_object_set_new(rec, "count", json_integer(count)) != 0) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

/* details is taken over. */
static json_t *with_details(json_t *rec, json_t *details)
{
    if (rec == NULL || details == NULL || json_object_set_new(rec, "details", details) != 0) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

static bool send_records(struct sim_run *r, json_t *records)
{
    char topic[256];

    snprintf(topic, sizeof(topic), "hub/%s/operations", r->hub);
    return sim_send_json(r, topic, records, NULL);
}

static json_t *connect_failed(const struct sim_run *r, const char *name, const char *reason,
                              const char *source_ip)
{
    json_t *rec = record("Connections", "deviceConnect", "Failed");

    rec = with_device(r, with(rec, "reason", reason), name);
    return with(rec, "sourceIp", source_ip);
}

/*
 * The device's successful login, sent before what the hub did with it: a
 * hub record registers a device Warden does not know only when it is one
 * (issue 14), and these incident devices are known to no registry.
 */
static json_t *connected(const struct sim_run *r, const char *name)
{
    return with_device(r, record("Connections", "deviceConnect", "Succeeded"), name);
}

/*
 * The four authentication failures, in one array as a bridge would batch
 * them, each after an earlier login of its device (a hub reports a refused
 * token only for a device it has).
 */
static bool auth(struct sim_run *r)
{
    return send_records(
        r, json_pack("[o, o, o, o, o, o, o, o]", connected(r, "incident-sas-expired"),
                     connected(r, "incident-sas-invalid"), connected(r, "incident-x509-mismatch"),
                     connected(r, "incident-x509-expired"),
                     connect_failed(r, "incident-sas-expired", "SasTokenExpired", "203.0.113.50"),
                     connect_failed(r, "incident-sas-invalid", "SasTokenInvalidSignature",
                                    "203.0.113.51"),
                     connect_failed(r, "incident-x509-mismatch", "X509ThumbprintMismatch",
                                    "203.0.113.52"),
                     connect_failed(r, "incident-x509-expired", "X509CertificateExpired",
                                    "203.0.113.53")));
}

static bool certificate(struct sim_run *r, const char *operation, const char *result,
                        const char *name)
{
    json_t *rec = record("Certificates", operation, result);

    return send_records(r, with_details(rec, json_pack("{s:s}", "certificateName", name)));
}

static bool certificates(struct sim_run *r)
{
    return certificate(r, "write", "Succeeded", "incident-rogue-ca") &&
           certificate(r, "delete", "Succeeded", "incident-root-ca") &&
           certificate(r, "write", "Failed", "incident-bad-ca") &&
           certificate(r, "delete", "Failed", "incident-pinned-ca");
}

/*
 * A diagnostic setting that keeps connection logs for 30 days only (short of
 * the 365 the recommendation asks for), and the deletion of another one.
 */
static bool diagnostics(struct sim_run *r)
{
    json_t *config, *write, *del;

    config = json_pack("{s:s, s:[{s:s, s:b, s:{s:b, s:i}}]}", "name", "incident-short-retention",
                       "logs", "category", "Connections", "enabled", 1, "retentionPolicy",
                       "enabled", 1, "days", 30);
    write = with_details(record("DiagnosticSettings", "write", "Succeeded"),
                         json_pack("{s:s, s:o}", "settingName", "incident-short-retention",
                                   "config", config));
    if (!send_records(r, write))
        return false;
    del = with_details(record("DiagnosticSettings", "delete", "Succeeded"),
                       json_pack("{s:s}", "settingName", "incident-removed"));
    return send_records(r, del);
}

static bool rejects(struct sim_run *r)
{
    json_t *rec = record("C2DCommands", "reject", "Succeeded");

    rec = with_count(with_device(r, rec, "incident-c2d-reject"), 20);
    return send_records(r, json_pack("[o, o]", connected(r, "incident-c2d-reject"), rec));
}

static bool purges(struct sim_run *r)
{
    json_t *rec = record("C2DCommands", "purge", "Succeeded");

    rec = with_count(with_device(r, rec, "incident-purge"), 3);
    return send_records(r, json_pack("[o, o]", connected(r, "incident-purge"), rec));
}

/* Refused operations, said both ways a producer may say it. */
static bool unauthorized(struct sim_run *r)
{
    json_t *a = record("DirectMethods", "invoke", "Unauthorized");
    json_t *b = with(record("TwinOperations", "update", "Failed"), "reason", "Unauthorized");

    a = with(with_device(r, a, "incident-unauth"), "sourceIp", "198.51.100.23");
    b = with(with_device(r, b, "incident-unauth"), "sourceIp", "198.51.100.23");
    return send_records(r, json_pack("[o, o, o]", connected(r, "incident-unauth"), a, b));
}

/* Method, twin and C2D counts as a hub reports them when its traffic is not on lab topics. */
static bool hub_counts(struct sim_run *r)
{
    json_t *a = record("DirectMethods", "invoke", "Succeeded");
    json_t *b = record("TwinOperations", "update", "Succeeded");
    json_t *c = record("C2DCommands", "send", "Succeeded");

    a = with_count(with_device(r, a, "incident-hubops"), 40);
    b = with_count(with_device(r, b, "incident-hubops"), 40);
    c = with_count(with_device(r, c, "incident-hubops"), 40);
    return send_records(r, json_pack("[o, o, o, o]", connected(r, "incident-hubops"), a, b, c));
}

/* ---- the list ----------------------------------------------------------------------------------- */

static const struct incident incidents[] = {
    {"incident-ti", "flow to 185.220.101.34:443, on the demo threat list (IoT_TiConnection)",
     ti},
    {"incident-outbound", "flow to 93.184.216.34:80 (IoT_CA_ConnectionToIpNotAllowed)",
     outbound},
    {"incident-inbound",
     "JSON inbound connection from 45.33.32.156:51234 to port 22 "
     "(IoT_CA_ConnectionFromIpNotAllowed)",
     inbound},
    {"incident-conns", "64 flows in one window (IoT_CA_ActiveConnectionsNotInAllowedRange)",
     scan},
    {"incident-burst", "200 D2C messages (IoT_CA_MqttD2CMessagesNotInAllowedRange)", burst_d2c},
    {"incident-c2d", "50 C2D messages (IoT_CA_MqttC2DMessagesNotInAllowedRange)", burst_c2d},
    {"incident-methods", "50 direct methods (IoT_CA_DirectMethodInvokesNotInAllowedRange)",
     burst_methods},
    {"incident-twin", "50 twin updates (IoT_CA_TwinUpdatesNotInAllowedRange)", burst_twin},
    {"incident-sas-expired, -sas-invalid, -x509-mismatch, -x509-expired",
     "failed connects (IoT_Expired_SAS_Token, IoT_Invalid_SAS_Token, IoT_Cert_Print_Mismatch, "
     "IoT_Cert_Expired)",
     auth},
    {NULL,
     "certificate incident-rogue-ca added, incident-root-ca deleted, incident-bad-ca and "
     "incident-pinned-ca failed (IoT_Certificate*)",
     certificates},
    {NULL,
     "diagnostic setting incident-short-retention written (30-day logs), incident-removed "
     "deleted (IoT_DiagnosticSetting*, IoT_DiagnosticsLogs)",
     diagnostics},
    {"incident-c2d-reject",
     "20 rejected C2D messages (IoT_CA_MqttC2DRejectedMessagesNotInAllowedRange)", rejects},
    {"incident-purge", "3 queue purges (IoT_CA_QueuePurgesNotInAllowedRange)", purges},
    {"incident-unauth", "2 unauthorized operations (IoT_CA_UnauthorizedOperationsNotInAllowedRange)",
     unauthorized},
    {"incident-hubops", "40 method invokes, 40 twin updates, 40 C2D sends in hub records",
     hub_counts},
    {"incident-silent", "reports once, then never again (IoT_DeviceSilent)", silent},
};

size_t sim_incident_count(void)
{
    return sizeof(incidents) / sizeof(incidents[0]);
}

bool sim_incident_run(struct sim_run *r, size_t k)
{
    size_t n = sim_incident_count();
    const struct incident *in = &incidents[k % n];

    if (in->device != NULL)
        log_info("sim: incident %zu/%zu: %s%s: %s", k % n + 1, n, r->opt->prefix, in->device,
                 in->what);
    else
        log_info("sim: incident %zu/%zu: hub %s: %s", k % n + 1, n, r->hub, in->what);
    return in->send(r);
}
