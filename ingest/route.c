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
    char device_id[129];   /* or the hub name, for T_HUB */
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

/*
 * Parse the topic into t; topic_copy must hold the topic (it is cut into
 * levels). Returns NULL, or the reason it is not a Warden topic.
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
    if (!store_device_id_valid(lv[1], strlen(lv[1])))
        return t->kind == T_HUB ? "topic: invalid hub name" : "topic: invalid device id";
    memcpy(t->device_id, lv[1], strlen(lv[1]) + 1);
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

/* Store one event's rows; the event has already passed dedup. */
static enum store_err store_event(struct route_ctx *ctx, const struct topic *t, int64_t dev,
                                  int64_t recv_ms, const struct ingest_msg *msg,
                                  const struct ingest_event *ev, size_t *flows)
{
    const char *hub = ctx->cfg->hub_name;
    enum store_err e = STORE_OK;

    for (size_t i = ev->first; i < ev->first + ev->count && e == STORE_OK; i++) {
        switch (ev->kind) {
        case EV_NETWORK_ACTIVITY:
            e = store_flow_append(ctx->store, dev, recv_ms, &msg->flows[i]);
            (*flows)++;
            break;
        case EV_LISTENING_PORTS:
            e = store_port_append(ctx->store, t->device_id, hub, recv_ms, &msg->ports[i]);
            break;
        case EV_SYSTEM_INFO:
            e = store_sysinfo_append(ctx->store, t->device_id, hub, recv_ms, &msg->sysinfo[i]);
            if (e == STORE_OK && msg->sysinfo[i].os_info != NULL)
                e = store_device_info(ctx->store, dev, NULL, NULL, NULL, msg->sysinfo[i].os_info,
                                      STORE_NO_TIME);
            break;
        case EV_OTHER:
            e = store_other_append(ctx->store, t->device_id, hub, recv_ms, &msg->other[i]);
            break;
        case EV_HEARTBEAT: break;
        }
    }
    if (e == STORE_OK && ev->kind == EV_HEARTBEAT)
        e = store_heartbeat_append(ctx->store, t->device_id, hub, recv_ms, ev->device_ms);
    return e;
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
            e = store_event_seen(ctx->store, dev, ev->id, ev->id_len, &dup);
        if (e != STORE_OK)
            break;
        if (dup) {
            dups++;
            continue;
        }
        if (ev->device_ms != STORE_NO_TIME && (newest == STORE_NO_TIME || ev->device_ms > newest))
            newest = ev->device_ms;
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
        if (dups < msg.n_events)
            e = store_device_info(ctx->store, dev, msg.module_id,
                                  encoding == 0 ? msg.agent_version : NULL,
                                  encoding == 1 ? msg.agent_version : NULL, NULL,
                                  newest == STORE_NO_TIME ? STORE_NO_TIME : newest - recv_ms);
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
        if (e != STORE_OK || op->device_id == NULL)
            continue;
        e = store_device(ctx->store, op->device_id, op->hub, recv_ms, &dev);
        if (e == STORE_OK && (metric = hubop_metric(op)) >= 0)
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
    e = store_device(ctx->store, t.device_id, ctx->cfg->hub_name, recv_ms, &dev);
    if (e != STORE_OK)
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
