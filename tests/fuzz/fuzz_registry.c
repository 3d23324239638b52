/*
 * libFuzzer target for the device registry parser (evaluator/registry.c).
 * Every shape goes through it (an array, JSON lines, one device, a state
 * export). Besides the sanitizers' own checks, it asserts what the import
 * writes: valid device ids, each once; group names valid; status enabled or
 * disabled; fingerprints lower-case hex of 64 digits (keys) or 40 or 64
 * (thumbprints); a refusal says why and keeps no device.
 */
#include "../../evaluator/groups.h"
#include "../../evaluator/imports.h"
#include "../../store/store.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reg_doc doc;
    char err[512];

    err[0] = '\0';
    if (!registry_parse((const char *)data, size, &doc, err, sizeof(err))) {
        /* All or nothing: a refusal keeps no device. */
        WARDEN_ASSERT(err[0] != '\0' && doc.ids == NULL && doc.n == 0);
        for (size_t i = 0; i < doc.refused && i < REGISTRY_REFUSALS_KEPT; i++)
            WARDEN_ASSERT(doc.refusal[i][0] != '\0');
        return 0;
    }
    WARDEN_ASSERT((doc.n == 0) == (doc.ids == NULL));
    WARDEN_ASSERT(doc.refused == 0 && doc.n == doc.elements);
    for (size_t i = 0; i < doc.n; i++) {
        check_identity(&doc.ids[i]);
        for (size_t j = 0; j < i; j++)
            WARDEN_ASSERT(strcmp(doc.ids[i].device_id, doc.ids[j].device_id) != 0);
    }
    registry_doc_free(&doc);
    return 0;
}
