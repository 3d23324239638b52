/*
 * libFuzzer target for the hub operation record decoder (ingest/hubrec.c).
 * Besides the sanitizers' own checks, it asserts what a caller relies on:
 * each record is either valid (with its required fields) or carries a reason
 * and its own bytes (raw_len of them, even when they are not UTF-8 or hold a
 * NUL), never both.
 */
#include "../../ingest/decode.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
        WARDEN_ASSERT(op->count >= 1 && op->count <= 1000000);
        WARDEN_ASSERT(op->device_id == NULL ||
                      device_id_check(op->device_id, strlen(op->device_id)) == NULL);
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
