/*
 * ingest/decode.h: what the decoders produce, private to ingest/.
 *
 * A decoder takes an untrusted (buf, len) and fills a struct ingest_msg whose
 * memory all lives in msg->arena (capped, so a hostile payload cannot make it
 * allocate without bound). On failure it returns false and writes a short,
 * stable reason into msg->error ("fb: offset out of bounds", ...): that text
 * becomes the dead letter's reason, so it never contains payload bytes.
 */
#ifndef WARDEN_INGEST_DECODE_H
#define WARDEN_INGEST_DECODE_H

#include "../common/common.h"
#include "../store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ingest_event_kind {
    EV_NETWORK_ACTIVITY, /* rows in msg->flows */
    EV_SYSTEM_INFO,      /* one row in msg->sysinfo */
    EV_LISTENING_PORTS,  /* rows in msg->ports */
    EV_HEARTBEAT,        /* no rows */
    EV_OTHER             /* one row in msg->other (Baseline, Process, Log, generic JSON) */
};

/*
 * One security event. Its rows are [first, first + count) of the array its
 * kind names, so the writer can skip an event it has already stored (dedup by
 * id) together with its rows.
 */
struct ingest_event {
    enum ingest_event_kind kind;
    const uint8_t *id;   /* event id bytes (16 for FlatBuffers, the Id text for JSON) */
    size_t id_len;
    int64_t device_ms;   /* event time by the device clock, or STORE_NO_TIME */
    uint32_t collection_interval; /* seconds, 0 when unknown */
    size_t first, count;
};

#define INGEST_ERROR_MAX 96

struct ingest_msg {
    struct arena arena;
    char error[INGEST_ERROR_MAX];

    const char *module_id;      /* FlatBuffers security_module_id, JSON AgentId */
    const char *agent_version;  /* "3.5.4" (FlatBuffers version), JSON AgentVersion */
    int timezone;               /* FlatBuffers timezone, 0 otherwise */

    struct ingest_event *events;
    size_t n_events;
    size_t skipped_events;      /* events of a newer schema (union tag 8-255) */

    struct store_flow *flows;
    size_t n_flows;
    struct store_port *ports;
    size_t n_ports;
    struct store_sysinfo *sysinfo;
    size_t n_sysinfo;
    struct store_event_other *other;
    size_t n_other;
};

/* Limits that bound what one message may describe. */
struct ingest_limits {
    size_t max_flows;  /* ingest.max_flows_per_message, default 4096 */
    size_t max_events; /* events per message, default 4096 */
};

/* Prepare msg for a decoder; arena_cap bounds all of its memory. */
void ingest_msg_init(struct ingest_msg *msg, size_t arena_cap);
void ingest_msg_free(struct ingest_msg *msg);
/* Record a failure reason (printf-style, truncated); returns false for `return ingest_fail(...)`. */
bool ingest_fail(struct ingest_msg *msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Nesting the JSON decoders accept (common/json_prescan, ingest/jsonread.c). */
#define INGEST_JSON_MAX_DEPTH 32

/*
 * A stable reason for a Jansson load error (Jansson's own text quotes the
 * payload), with the decoder's prefix: hub false gives "json: ...", true
 * "hub: ...". The error type is Jansson's json_error_t.
 */
const char *ingest_json_load_reason(const uint8_t *buf, size_t len, const void *jansson_err,
                                    bool hub);

/* FlatBuffers security message, schema 2.x (SPEC 2.1.1). ingest/fb.c */
bool ingest_decode_flatbuffers(const uint8_t *buf, size_t len, const struct ingest_limits *lim,
                               struct ingest_msg *msg);

/* JSON security message, schema 1.0 (SPEC 2.1.2). ingest/json_msg.c */
bool ingest_decode_json(const uint8_t *buf, size_t len, const struct ingest_limits *lim,
                        struct ingest_msg *msg);

/*
 * Hub operation records (SPEC 2.4) and IoT Hub's own logs. ingest/hubrec.c.
 * A payload is one JSON object, an array of them, objects back to back (as
 * Azure's storage archive keeps them, newlines or not), or a wrapper whose
 * `records` (resource logs, Activity log from storage or Event Hubs) or
 * `value` (Activity log REST list) array holds them; elements are counted
 * from 0 in payload order, across wrappers. Each element is parsed and
 * mapped on its own:
 * - a record (the lab hub's shape, or an Azure one ingest/hubazure.c maps)
 *   fills ops[i], errors[i] = NULL, unknown[i] = false;
 * - an Azure object (it has an `operationName`) that cannot be mapped fills
 *   ops[i] with an "Unknown" record (its reason, and its own text in
 *   details.record) and unknown[i] = true: it is stored, not dead-lettered;
 * - an element that is not JSON, not UTF-8, not an object, or a lab record
 *   with a field out of bounds leaves ops[i]
 *   zeroed, sets errors[i] to the reason and raw[i] to the element's own
 *   bytes, raw_len[i] long (NUL-terminated too, but they may hold a NUL), for
 *   its own dead letter.
 * All memory lives in *arena. Returns false (with *why) only when the payload
 * as a whole is unusable (not an object or array, a single object that is
 * not JSON, an array or a sequence whose brackets or commas are broken, too
 * deep, more than max_records elements); recv_ms is the default time.
 */
struct ingest_hubrecs {
    struct store_hubop *ops;
    const char **errors;
    const char **raw;
    size_t *raw_len;
    bool *unknown;
    size_t n;
};
bool ingest_decode_hubrecs(const uint8_t *buf, size_t len, const char *hub, int64_t recv_ms,
                           size_t max_records, struct arena *arena, struct ingest_hubrecs *out,
                           const char **why);

/* What the hub decoders return when the arena is full; compared by address. */
extern const char ingest_hub_oom[];

/*
 * One IoT Hub resource log record or Activity log event (an object with an
 * `operationName`), mapped onto op (README, "Coming from Azure"): NULL, or
 * why it cannot be mapped (a static string, or ingest_hub_oom). op->hub is the
 * caller's. Strings op points at live in *a. ingest/hubazure.c
 */
struct json_t;
const char *ingest_hub_azure(struct arena *a, struct json_t *rec, int64_t recv_ms,
                             struct store_hubop *op);

/* Shared by the two hub decoders (hubshared.c): a short printable label, 1 to 128 bytes. */
#define INGEST_HUB_MAX_LABEL 128
bool ingest_hub_label_ok(const char *s, size_t n);
/* v as compact JSON text in the arena; NULL when it is full. */
const char *ingest_hub_dump(struct arena *a, const struct json_t *v);

#endif
