/*
 * libFuzzer target for the JSON security message decoder (ingest/json_msg.c).
 * Besides the sanitizers' own checks, it asserts what a caller relies on: a
 * failure has a "json: " reason, and a success describes rows that exist.
 */
#include "../../ingest/decode.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every event's rows lie inside the array its kind names. */
static void check_msg(const struct ingest_msg *msg)
{
    WARDEN_ASSERT(msg->n_events > 0 && msg->module_id != NULL && msg->agent_version != NULL);
    for (size_t i = 0; i < msg->n_events; i++) {
        const struct ingest_event *ev = &msg->events[i];
        size_t n = 0;

        switch (ev->kind) {
        case EV_NETWORK_ACTIVITY:
            n = msg->n_flows;
            break;
        case EV_LISTENING_PORTS:
            n = msg->n_ports;
            break;
        case EV_SYSTEM_INFO:
            n = msg->n_sysinfo;
            break;
        case EV_OTHER:
            n = msg->n_other;
            break;
        case EV_HEARTBEAT:
            n = 0;
            break;
        }
        WARDEN_ASSERT(ev->first <= n && ev->count <= n - ev->first);
        WARDEN_ASSERT(ev->id != NULL && ev->id_len > 0 && ev->id_len <= 128);
    }
    for (size_t i = 0; i < msg->n_ports; i++)
        WARDEN_ASSERT(msg->ports[i].local_port >= -1 && msg->ports[i].local_port <= 65535);
    for (size_t i = 0; i < msg->n_other; i++)
        WARDEN_ASSERT(msg->other[i].name != NULL && msg->other[i].payload != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct ingest_limits lim = {4096, 4096};
    struct ingest_msg msg;

    ingest_msg_init(&msg, ((size_t)4 << 20) + 64 * size);
    if (ingest_decode_json(data, size, &lim, &msg))
        check_msg(&msg);
    else
        WARDEN_ASSERT(strncmp(msg.error, "json: ", 6) == 0);
    ingest_msg_free(&msg);
    return 0;
}
