/*
 * Routing: which topic a message came on, whose it is, what it counts as, and
 * which decoder reads it (SPEC 2). Everything here is untrusted: a topic or a
 * payload that does not fit goes to dead_letters with the reason, and the
 * batch goes on.
 */
#include "route.h"

#include "decode.h"

#include <stdio.h>
#include <string.h>

#define TOPIC_LEVELS_MAX 16
#define BAG_VALUE_MAX 256

enum topic_kind { T_NONE, T_D2C, T_C2D, T_METHOD, T_TWIN, T_HUB };

struct topic {
    enum topic_kind kind;
    const char *device_id; /* or the hub name, for T_HUB; in the caller's copy, unchecked */
    const char *bag;       /* the property bag after events/, or "" */
};

/* Split topic into levels, in place in buf; returns the number, or -1. */
static int split_levels(char *buf, char *lv[TOPIC_LEVELS_MAX])
{
    int n = 0;
    char *p = buf;

    for (;;) {
        if (n == TOPIC_LEVELS_MAX)
            return -1;
        lv[n++] = p;
        p = strchr(p, '/');
        if (p == NULL)
            return n;
        *p++ = '\0';
    }
}

/* A hub name from a topic: what the store takes as a name (printable UTF-8, bounded). */
static bool hub_name_valid(const char *s, size_t n)
{
    return n > 0 && n <= 128 && utf8_valid(s, n) && text_printable(s, n);
}

/*
 * Parse the topic into t; copy must hold the topic (it is cut into levels,
 * and t points into it). Returns NULL, or the reason it is not a Warden
 * topic. The device id is checked by the caller (device_id_check), which
 * counts a refused one apart.
 */
static const char *topic_parse(const struct config *cfg, const char *topic, char *copy,
                               size_t copylen, struct topic *t)
{
    size_t rootlen = strlen(cfg->mqtt_topic_root), tlen = strlen(topic);
    char *lv[TOPIC_LEVELS_MAX];
    const char *rest = topic;
    int n, i;

    memset(t, 0, sizeof(*t));
    t->bag = "";
    if (rootlen > 0) {
        if (strncmp(topic, cfg->mqtt_topic_root, rootlen) != 0 || topic[rootlen] != '/')
            return "topic: outside the topic root";
        rest = topic + rootlen + 1;
    }
    if (tlen >= copylen)
        return "topic: too long";
    memcpy(copy, rest, strlen(rest) + 1);
    n = split_levels(copy, lv);
    if (n < 0)
        return "topic: too many levels";
    if (n == 3 && strcmp(lv[0], "hub") == 0 && strcmp(lv[2], "operations") == 0) {
        t->kind = T_HUB;
    } else if (n >= 4 && strcmp(lv[0], "devices") == 0) {
        i = 2;
        if (strcmp(lv[2], "modules") == 0 && n >= 6)
            i = 4; /* devices/{id}/modules/{module}/... */
        if (strcmp(lv[i], "messages") == 0 && strcmp(lv[i + 1], "events") == 0) {
            t->kind = T_D2C;
            /* Everything after "events/" is the property bag, slashes and all. */
            t->bag = strstr(rest, "/messages/events/") ? strstr(rest, "/messages/events/") + 17
                                                       : "";
        } else if (i == 2 && strcmp(lv[2], "messages") == 0 &&
                   strcmp(lv[3], "devicebound") == 0) {
            t->kind = T_C2D;
        } else if (i == 2 && strcmp(lv[2], "methods") == 0 && strcmp(lv[3], "POST") == 0) {
            t->kind = T_METHOD;
        } else if (strcmp(lv[i], "twin") == 0 && n > i + 1 && strcmp(lv[i + 1], "PATCH") == 0) {
            t->kind = T_TWIN;
        }
    }
    if (t->kind == T_NONE)
        return "topic: not a Warden topic";
    if (t->kind == T_HUB && !hub_name_valid(lv[1], strlen(lv[1])))
        return "topic: invalid hub name";
    t->device_id = lv[1];
    return NULL;
}

/* URL-decode s[0..n) into out (NUL-terminated); false when malformed or too long. */
static bool url_decode(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi, lo;
            if (n - i < 3 || (hi = hex_digit((unsigned char)s[i + 1])) < 0 ||
                (lo = hex_digit((unsigned char)s[i + 2])) < 0)
                return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (o + 1 >= outlen || c == '\0')
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

/*
 * Find the value of key in an IoT Hub property bag ("k1=v1&k2=v2", URL
 * encoded). Returns 1 when found, 0 when absent, -1 when the bag is malformed.
 */
static int bag_get(const char *bag, const char *key, char *val, size_t vallen)
{
    const char *p = bag;

    while (*p != '\0') {
        const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        char k[BAG_VALUE_MAX];

        if (eq != NULL) {
            if (!url_decode(p, (size_t)(eq - p), k, sizeof(k)))
                return -1;
            if (strcmp(k, key) == 0)
                return url_decode(eq + 1, (size_t)(end - eq - 1), val, vallen) ? 1 : -1;
        }
        p = amp ? amp + 1 : end;
    }
    return 0;
}

/*
 * The encoding named by an mti property "Major.Minor-Encoding-Source-Type":
 * 1 FlatBuffers, 0 JSON; -1 when the text is not of that form.
 */
static int mti_encoding(const char *mti)
{
    unsigned major, minor, enc, src, type;
    char tail;

    if (sscanf(mti, "%3u.%3u-%3u-%3u-%3u%c", &major, &minor, &enc, &src, &type, &tail) != 5)
        return -1;
    return enc <= 1 ? (int)enc : -1;
}

static enum store_err dead(struct route_ctx *ctx, int64_t recv_ms, const char *topic,
                           const char *device_id, const char *kind, const char *reason,
                           const void *payload, size_t len)
{
    char label[64];

    snprintf(label, sizeof(label), "reason=\"%s\"", kind);
    store_counter_add(ctx->store, "warden_dead_letters_total", label, 1);
    return store_dead_letter(ctx->store, recv_ms, topic, device_id, reason, payload, len);
}

/* The time a count lands in: received time, or the device's when so configured. */
static int64_t count_time(const struct route_ctx *ctx, int64_t recv_ms, int64_t device_ms)
{
    if (device_ms != STORE_NO_TIME && strcmp(ctx->cfg->evaluator_clock, "device") == 0)
        return device_ms;
    return recv_ms;
}

/* ---- who may register a device (SPEC 2.3, narrowed by issue 14) ----------------------- */

/*
 * A device is registered automatically only from an identity Warden can
 * accept: traffic on the device's own topics, or the hub's record of a
 * successful authentication. On the lab hub only an authenticated device (or
 * the service) can publish on a device's topics, and only the plugin writes
 * hub records; on an anonymous broker anyone can do both. The same bounds
 * hold either way, so Warden need not know which broker it is behind: the
 * id must pass device_id_check(), and at most ingest.max_auto_devices
 * devices are registered so. A hub record of anything else (a refused
 * CONNECT above all, which any client can cause with any id) names a device
 * without proving it exists: it is stored, and registers nothing.
 */
static void count_refused(struct route_ctx *ctx, const char *why)
{
    char label[64];

    snprintf(label, sizeof(label), "reason=\"%s\"", why);
    store_counter_add(ctx->store, "warden_devices_refused_total", label, 1);
}

/* A successful authentication of the device (SPEC 2.4), the one record that registers. */
static bool hubop_authenticates(const struct store_hubop *op)
{
    return strcmp(op->category, "Connections") == 0 &&
           strcmp(op->operation, "deviceConnect") == 0 && op->result != NULL &&
           strcmp(op->result, "Succeeded") == 0;
}

/*
 * The device a topic names, registered if it may be; 0 in *dev when the
 * message was dead-lettered instead (an id outside IoT Hub's alphabet, or
 * past the cap).
 */
static enum store_err topic_device(struct route_ctx *ctx, const char *topic, const char *id,
                                   const void *payload, size_t len, int64_t recv_ms, int64_t *dev)
{
    const char *why = device_id_check(id, strlen(id));
    char reason[160];
    enum store_err e;

    *dev = 0;
    if (why != NULL) {
        count_refused(ctx, "device_id");
        snprintf(reason, sizeof(reason), "topic: device id %s", why);
        return dead(ctx, recv_ms, topic, NULL, "device_id", reason, payload, len);
    }
    e = store_device_add(ctx->store, id, ctx->cfg->hub_name, recv_ms,
                         ctx->cfg->ingest_max_auto_devices, dev);
    if (e != STORE_OK || *dev != 0)
        return e;
    count_refused(ctx, "max_auto_devices");
    snprintf(reason, sizeof(reason),
             "device: not registered: ingest.max_auto_devices (%lld) devices are registered "
             "automatically already",
             (long long)ctx->cfg->ingest_max_auto_devices);
    return dead(ctx, recv_ms, topic, id, "max_auto_devices", reason, payload, len);
}

/*
 * The device a stored hub record names, 0 in *dev when it is not registered
 * and the record may not register it. The record's id has passed
 * device_id_check() in the decoder.
 */
static enum store_err hubop_device(struct route_ctx *ctx, const struct store_hubop *op,
                                   int64_t recv_ms, int64_t *dev)
{
    enum store_err e;

    if (!hubop_authenticates(op)) {
        e = store_device_find(ctx->store, op->device_id, recv_ms, dev);
        if (e == STORE_OK && *dev == 0)
            count_refused(ctx, "not_authenticated");
        return e;
    }
    e = store_device_add(ctx->store, op->device_id, op->hub, recv_ms,
                         ctx->cfg->ingest_max_auto_devices, dev);
    if (e == STORE_OK && *dev == 0)
        count_refused(ctx, "max_auto_devices");
    return e;
}

/* ---- security messages and counts ----------------------------------------------------- */

/* Store one event's rows, each with the event's collection interval; the event has passed dedup. */
static enum store_err store_event(struct route_ctx *ctx, const struct topic *t, int64_t dev,
                                  int64_t recv_ms, struct ingest_msg *msg,
                                  const struct ingest_event *ev, size_t *flows)
{
    const char *hub = ctx->cfg->hub_name;
    const uint32_t iv = ev->collection_interval;
    enum store_err e = STORE_OK;

    for (size_t i = ev->first; i < ev->first + ev->count && e == STORE_OK; i++) {
        switch (ev->kind) {
        case EV_NETWORK_ACTIVITY:
            msg->flows[i].interval_s = iv;
            e = store_flow_append(ctx->store, dev, recv_ms, &msg->flows[i]);
            (*flows)++;
            break;
        case EV_LISTENING_PORTS:
            msg->ports[i].interval_s = iv;
            e = store_port_append(ctx->store, t->device_id, hub, recv_ms, &msg->ports[i]);
            break;
        case EV_SYSTEM_INFO:
            msg->sysinfo[i].interval_s = iv;
            e = store_sysinfo_append(ctx->store, t->device_id, hub, recv_ms, &msg->sysinfo[i]);
            if (e == STORE_OK && msg->sysinfo[i].os_info != NULL) {
                struct store_device_info info = {.os_info = msg->sysinfo[i].os_info,
                                                 .skew_ms = STORE_NO_TIME};
                e = store_device_info(ctx->store, dev, &info);
            }
            break;
        case EV_OTHER:
            msg->other[i].interval_s = iv;
            e = store_other_append(ctx->store, t->device_id, hub, recv_ms, &msg->other[i]);
            break;
        case EV_HEARTBEAT: break;
        }
    }
    if (e == STORE_OK && ev->kind == EV_HEARTBEAT)
        e = store_heartbeat_append(ctx->store, t->device_id, hub, recv_ms, ev->device_ms, iv);
    return e;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
    return s ? hash_bytes(h, s, strlen(s) + 1) : hash_bytes(h, "", 0) ^ 0x9e3779b97f4a7c15ULL;
}

static uint64_t hash_ip(uint64_t h, const struct ip_addr *ip)
{
    h = hash_bytes(h, &ip->family, sizeof(ip->family));
    return hash_bytes(h, ip->b, ip->family == 4 ? 4 : ip->family == 6 ? 16 : 0);
}

#define HASH_FIELD(h, v) hash_bytes((h), &(v), sizeof(v))

/*
 * A digest of everything an event says (its kind, time, interval and every
 * row), field by field: with the event id it is the dedup key, so that a
 * redelivery adds nothing while a reused id with new content is a new event.
 */
static uint64_t event_digest(const struct ingest_msg *msg, const struct ingest_event *ev)
{
    uint64_t h = HASH_FIELD(HASH_SEED, ev->kind);

    h = HASH_FIELD(HASH_FIELD(HASH_FIELD(h, ev->device_ms), ev->collection_interval), ev->count);
    for (size_t i = ev->first; i < ev->first + ev->count; i++) {
        switch (ev->kind) {
        case EV_NETWORK_ACTIVITY: {
            const struct store_flow *f = &msg->flows[i];
            h = HASH_FIELD(HASH_FIELD(HASH_FIELD(h, f->device_ms), f->protocol), f->direction);
            h = hash_ip(hash_ip(h, &f->local), &f->remote);
            h = HASH_FIELD(HASH_FIELD(h, f->local_port), f->remote_port);
            h = HASH_FIELD(HASH_FIELD(h, f->bytes_in), f->bytes_out);
            h = HASH_FIELD(HASH_FIELD(h, f->process_id), f->user_id);
            h = hash_str(hash_str(hash_str(h, f->executable), f->commandline), f->details);
            break;
        }
        case EV_LISTENING_PORTS: {
            const struct store_port *p = &msg->ports[i];
            h = HASH_FIELD(HASH_FIELD(h, p->device_ms), p->protocol);
            h = hash_ip(hash_ip(h, &p->local), &p->remote);
            h = HASH_FIELD(HASH_FIELD(h, p->local_port), p->remote_port);
            h = hash_str(h, p->details);
            break;
        }
        case EV_SYSTEM_INFO: {
            const struct store_sysinfo *si = &msg->sysinfo[i];
            h = hash_str(hash_str(hash_str(HASH_FIELD(h, si->device_ms), si->os_info),
                                  si->kernel_info), si->hw_info);
            h = hash_str(h, si->details);
            break;
        }
        case EV_OTHER:
            h = hash_str(HASH_FIELD(h, msg->other[i].device_ms), msg->other[i].name);
            h = hash_str(h, msg->other[i].payload);
            break;
        case EV_HEARTBEAT: break;
        }
    }
    return h;
}

static const char *event_kind_label(enum ingest_event_kind k)
{
    switch (k) {
    case EV_NETWORK_ACTIVITY: return "type=\"NetworkActivity\"";
    case EV_SYSTEM_INFO: return "type=\"SystemInformation\"";
    case EV_LISTENING_PORTS: return "type=\"ListeningPorts\"";
    case EV_HEARTBEAT: return "type=\"Heartbeat\"";
    case EV_OTHER: break;
    }
    return "type=\"Other\"";
}

static enum store_err route_security(struct route_ctx *ctx, const char *topic,
                                     const struct topic *t, int64_t dev, int encoding,
                                     const void *payload, size_t len, int64_t recv_ms)
{
    struct ingest_limits lim = {(size_t)ctx->cfg->ingest_max_flows_per_message, 4096};
    struct ingest_msg msg;
    enum store_err e = STORE_OK;
    int64_t newest = STORE_NO_TIME;
    uint32_t activity_iv = 0, heartbeat_iv = 0;
    size_t flows = 0, dups = 0;
    bool ok;

    if (len > (size_t)ctx->cfg->ingest_max_message_bytes)
        return dead(ctx, recv_ms, topic, t->device_id, "too_large",
                    "payload over ingest.max_message_bytes", payload, len);
    /* The arena cap bounds decoded memory to a small multiple of the input. */
    ingest_msg_init(&msg, 1024 * 1024 + len * 64 + lim.max_flows * sizeof(struct store_flow));
    ok = encoding == 1 ? ingest_decode_flatbuffers(payload, len, &lim, &msg)
                       : ingest_decode_json(payload, len, &lim, &msg);
    if (!ok) {
        e = dead(ctx, recv_ms, topic, t->device_id, encoding == 1 ? "flatbuffers" : "json",
                 msg.error[0] ? msg.error : "undecodable", payload, len);
        ingest_msg_free(&msg);
        return e;
    }
    store_counter_add(ctx->store, "warden_messages_total", "kind=\"security\"", 1);
    if (msg.skipped_events > 0)
        store_counter_add(ctx->store, "warden_events_skipped_total", "", (int64_t)msg.skipped_events);
    for (size_t i = 0; i < msg.n_events && e == STORE_OK; i++) {
        const struct ingest_event *ev = &msg.events[i];
        bool dup = false;

        if (ev->id_len > 0)
            e = store_event_seen(ctx->store, dev, ev->id, ev->id_len, event_digest(&msg, ev), &dup);
        if (e != STORE_OK)
            break;
        if (dup) {
            dups++;
            continue;
        }
        if (ev->device_ms != STORE_NO_TIME && (newest == STORE_NO_TIME || ev->device_ms > newest))
            newest = ev->device_ms;
        if (ev->kind == EV_NETWORK_ACTIVITY && ev->collection_interval > 0)
            activity_iv = ev->collection_interval;
        if (ev->kind == EV_HEARTBEAT && ev->collection_interval > 0)
            heartbeat_iv = ev->collection_interval;
        store_counter_add(ctx->store, "warden_events_total", event_kind_label(ev->kind), 1);
        e = store_event(ctx, t, dev, recv_ms, &msg, ev, &flows);
    }
    if (e == STORE_OK) {
        int64_t at = count_time(ctx, recv_ms, newest);
        store_count(ctx->store, dev, METRIC_SECURITY_MESSAGES, at, 1);
        if (flows > 0) {
            store_count(ctx->store, dev, METRIC_FLOWS, at, (int64_t)flows);
            store_counter_add(ctx->store, "warden_flows_total", "", (int64_t)flows);
        }
        if (dups > 0)
            store_counter_add(ctx->store, "warden_events_duplicate_total", "", (int64_t)dups);
        struct store_device_info info = {
            .module_id = msg.module_id,
            .agent_version = encoding == 0 ? msg.agent_version : NULL,
            .module_version = encoding == 1 ? msg.agent_version : NULL,
            .skew_ms = newest == STORE_NO_TIME ? STORE_NO_TIME : newest - recv_ms,
            .activity_interval_s = activity_iv,
            .heartbeat_interval_s = heartbeat_iv,
        };
        if (dups < msg.n_events)
            e = store_device_info(ctx->store, dev, &info);
    }
    ingest_msg_free(&msg);
    return e;
}

static enum store_err route_d2c(struct route_ctx *ctx, const char *topic, const struct topic *t,
                                int64_t dev, const void *payload, size_t len, int64_t recv_ms)
{
    char ifid[BAG_VALUE_MAX], mti[BAG_VALUE_MAX];
    int has_ifid, has_mti, encoding = 0;

    store_count(ctx->store, dev, METRIC_D2C, recv_ms, 1);
    store_counter_add(ctx->store, "warden_messages_total", "kind=\"d2c\"", 1);
    has_ifid = bag_get(t->bag, "$.ifid", ifid, sizeof(ifid));
    has_mti = bag_get(t->bag, "mti", mti, sizeof(mti));
    if (has_ifid < 0 || has_mti < 0)
        return dead(ctx, recv_ms, topic, t->device_id, "property_bag",
                    "topic: malformed property bag", payload, len);
    if (has_ifid == 0 || strcmp(ifid, INGEST_SECURITY_IFID) != 0)
        return STORE_OK; /* ordinary telemetry: counted, not stored */
    if (has_mti == 1 && (encoding = mti_encoding(mti)) < 0)
        return dead(ctx, recv_ms, topic, t->device_id, "property_bag",
                    "topic: malformed mti property", payload, len);
    return route_security(ctx, topic, t, dev, encoding, payload, len, recv_ms);
}

/* The metric a valid hub record counts toward, or -1 (SPEC 2.4). */
static int hubop_metric(const struct store_hubop *op)
{
    if ((op->result && strcmp(op->result, "Unauthorized") == 0) ||
        (op->reason && strcmp(op->reason, "Unauthorized") == 0))
        return METRIC_UNAUTHORIZED;
    if (strcmp(op->category, "C2DCommands") == 0) {
        if (strcmp(op->operation, "reject") == 0)
            return METRIC_C2D_REJECTED;
        if (strcmp(op->operation, "purge") == 0)
            return METRIC_QUEUE_PURGE;
        if (strcmp(op->operation, "send") == 0)
            return METRIC_C2D;
    } else if (strcmp(op->category, "DirectMethods") == 0 && strcmp(op->operation, "invoke") == 0) {
        return METRIC_DIRECT_METHOD;
    } else if (strcmp(op->category, "TwinOperations") == 0 && strcmp(op->operation, "update") == 0) {
        return METRIC_TWIN;
    }
    return -1;
}

static enum store_err route_hub(struct route_ctx *ctx, const char *topic, const struct topic *t,
                                const void *payload, size_t len, int64_t recv_ms)
{
    struct arena arena;
    struct ingest_hubrecs recs;
    const char *why = NULL;
    enum store_err e = STORE_OK;

    store_counter_add(ctx->store, "warden_messages_total", "kind=\"hub\"", 1);
    if (len > (size_t)ctx->cfg->ingest_max_message_bytes)
        return dead(ctx, recv_ms, topic, NULL, "too_large", "payload over ingest.max_message_bytes",
                    payload, len);
    arena_init(&arena, 1024 * 1024 + len * 16);
    if (!ingest_decode_hubrecs(payload, len, t->device_id, recv_ms, 10000, &arena, &recs, &why)) {
        e = dead(ctx, recv_ms, topic, NULL, "hub_record", why ? why : "hub: undecodable",
                 payload, len);
        arena_free(&arena);
        return e;
    }
    for (size_t i = 0; i < recs.n && e == STORE_OK; i++) {
        const struct store_hubop *op = &recs.ops[i];
        int64_t dev;
        int metric;

        if (recs.errors[i] != NULL) {
            char reason[128];
            /* Which element: the others of its batch are stored. */
            snprintf(reason, sizeof(reason), "%s (element %zu)", recs.errors[i], i);
            e = dead(ctx, recv_ms, topic, NULL, "hub_record", reason, recs.raw[i], recs.raw_len[i]);
            continue;
        }
        e = store_hubop_append(ctx->store, recv_ms, op);
        store_counter_add(ctx->store, "warden_hub_records_total", "", 1);
        if (recs.unknown[i]) /* stored as category Unknown, with why: nothing to count */
            store_counter_add(ctx->store, "warden_hub_records_unknown_total", "", 1);
        if (e != STORE_OK || op->device_id == NULL)
            continue;
        e = hubop_device(ctx, op, recv_ms, &dev);
        if (e == STORE_OK && dev != 0 && (metric = hubop_metric(op)) >= 0)
            store_count(ctx->store, dev, (enum store_metric)metric,
                        count_time(ctx, recv_ms, op->time_ms), op->count);
    }
    arena_free(&arena);
    return e;
}

enum store_err ingest_route(struct route_ctx *ctx, const char *topic, const void *payload,
                            size_t len, int64_t recv_ms)
{
    char copy[1024];
    struct topic t;
    const char *why;
    int64_t dev;
    enum store_err e;

    if (!utf8_valid(topic, strlen(topic)))
        return dead(ctx, recv_ms, "(not UTF-8)", NULL, "topic", "topic: not UTF-8", payload, len);
    if ((why = topic_parse(ctx->cfg, topic, copy, sizeof(copy), &t)) != NULL)
        return dead(ctx, recv_ms, topic, NULL, "topic", why, payload, len);
    if (t.kind == T_HUB)
        return route_hub(ctx, topic, &t, payload, len, recv_ms);
    e = topic_device(ctx, topic, t.device_id, payload, len, recv_ms, &dev);
    if (e != STORE_OK || dev == 0)
        return e;
    switch (t.kind) {
    case T_D2C: return route_d2c(ctx, topic, &t, dev, payload, len, recv_ms);
    case T_C2D:
        store_count(ctx->store, dev, METRIC_C2D, recv_ms, 1);
        store_counter_add(ctx->store, "warden_messages_total", "kind=\"c2d\"", 1);
        break;
    case T_METHOD:
        store_count(ctx->store, dev, METRIC_DIRECT_METHOD, recv_ms, 1);
        store_counter_add(ctx->store, "warden_messages_total", "kind=\"method\"", 1);
        break;
    case T_TWIN:
        store_count(ctx->store, dev, METRIC_TWIN, recv_ms, 1);
        store_counter_add(ctx->store, "warden_messages_total", "kind=\"twin\"", 1);
        break;
    case T_HUB:
    case T_NONE: break;
    }
    return STORE_OK;
}
