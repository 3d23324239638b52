/*
 * libFuzzer target for the hub operation record decoder (ingest/hubrec.c)
 * and the mapping of IoT Hub's own logs (ingest/hubazure.c): lab records,
 * arrays, objects back to back, {"records"|"value": [...]} wrappers, resource
 * logs with properties as a JSON string, Activity log events. Besides the
 * sanitizers' own checks, it asserts what a caller relies on: each record is
 * either stored (with its required fields, an Unknown one with its reason)
 * or carries a reason and its own bytes (raw_len of them, even when they are
 * not UTF-8 or hold a NUL), never both; every label the web and the
 * evaluator show is short printable text, and details is a JSON object
 * (the evaluator and the web run json_extract on it: one that is not would
 * fail their queries).
 */
#include "../../ingest/decode.h"

#include <jansson.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool label(const char *s)
{
    return ingest_hub_label_ok(s, strlen(s));
}

static bool json_object_text(const char *text)
{
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    bool ok = json_is_object(v);

    json_decref(v);
    return ok;
}

static void check_recs(const struct ingest_hubrecs *recs)
{
    for (size_t i = 0; i < recs->n; i++) {
        const struct store_hubop *op = &recs->ops[i];

        if (recs->errors[i] != NULL) {
            WARDEN_ASSERT(strncmp(recs->errors[i], "hub: ", 5) == 0);
            WARDEN_ASSERT(recs->raw[i] != NULL && op->category == NULL);
            WARDEN_ASSERT(recs->raw[i][recs->raw_len[i]] == '\0');
            continue;
        }
        WARDEN_ASSERT(recs->raw[i] == NULL);
        WARDEN_ASSERT(op->hub != NULL && op->category != NULL && op->operation != NULL);
        WARDEN_ASSERT(label(op->category) && label(op->operation));
        WARDEN_ASSERT(op->result == NULL || label(op->result));
        WARDEN_ASSERT(op->count >= 1 && op->count <= 1000000);
        WARDEN_ASSERT(op->device_id == NULL ||
                      device_id_check(op->device_id, strlen(op->device_id)) == NULL);
        WARDEN_ASSERT(op->details == NULL || json_object_text(op->details));
        if (recs->unknown[i]) {
            WARDEN_ASSERT(strcmp(op->category, "Unknown") == 0 && op->device_id == NULL);
            WARDEN_ASSERT(op->reason != NULL && strncmp(op->reason, "hub: ", 5) == 0);
        } else {
            WARDEN_ASSERT(op->reason == NULL || label(op->reason));
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena arena;
    struct ingest_hubrecs recs;
    const char *why;

    arena_init(&arena, ((size_t)4 << 20) + 64 * size);
    if (ingest_decode_hubrecs(data, size, "fuzz-hub", 1795946400000LL, 4096, &arena, &recs, &why))
        check_recs(&recs);
    else
        WARDEN_ASSERT(why != NULL && strncmp(why, "hub: ", 5) == 0 && recs.n == 0);
    arena_free(&arena);
    return 0;
}
