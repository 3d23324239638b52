/*
 * libFuzzer target for the JSON reader (ingest/jsonread.c), differential:
 * Jansson and the reader must make the same of every input, the same value
 * (as compact JSON text) or the same dead-letter reason. The comparison is
 * tests/unit/jsonread_diff.h, which the unit test shares.
 */
#include "../unit/jsonread_diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    WARDEN_ASSERT(outcomes_agree(data, size));
    return 0;
}
