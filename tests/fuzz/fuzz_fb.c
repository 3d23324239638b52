/*
 * libFuzzer target for ingest/fb.c, the FlatBuffers security message decoder.
 * Seeds: tests/fuzz/corpus/fb/ (the golden vectors and the flatc fixtures).
 * A successful decode is checked for consistency, so that the fuzzer finds
 * rows that point outside their arrays as well as crashes.
 */
#include "../../ingest/decode.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rows(const struct ingest_msg *msg, const struct ingest_limits *lim)
{
    if (msg->n_flows > lim->max_flows || msg->n_events + msg->skipped_events > lim->max_events)
        abort();
    for (size_t i = 0; i < msg->n_events; i++) {
        const struct ingest_event *ev = &msg->events[i];
        size_t rows = ev->kind == EV_NETWORK_ACTIVITY  ? msg->n_flows
                      : ev->kind == EV_LISTENING_PORTS ? msg->n_ports
                      : ev->kind == EV_SYSTEM_INFO     ? msg->n_sysinfo
                      : ev->kind == EV_OTHER           ? msg->n_other
                                                       : 0;

        if (ev->id_len != 16 || ev->first > rows || ev->count > rows - ev->first)
            abort();
    }
    for (size_t i = 0; i < msg->n_other; i++) {
        if (msg->other[i].payload == NULL || msg->other[i].name == NULL)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct ingest_limits lim = {.max_flows = 4096, .max_events = 4096};
    struct ingest_msg msg;

    ingest_msg_init(&msg, 4u * 1024 * 1024 + 64 * size);
    if (ingest_decode_flatbuffers(data, size, &lim, &msg))
        check_rows(&msg, &lim);
    else if (strncmp(msg.error, "fb: ", 4) != 0)
        abort();
    ingest_msg_free(&msg);
    return 0;
}
