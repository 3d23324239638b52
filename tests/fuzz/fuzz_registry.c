/*
 * libFuzzer target for the device registry parser (imports/registry.c).
 * Every shape goes through it (an array, JSON lines, one device, a state
 * export). Besides the sanitizers' own checks, it asserts what the import
 * writes: valid device ids, each once; group names valid; status enabled or
 * disabled; fingerprints lower-case hex of 64 digits (keys) or 40 or 64
 * (thumbprints); a refusal says why and keeps no device.
 */
#include "../../imports/groups.h"
#include "../../imports/imports.h"
#include "../../store/store.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool lower_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

/* An empty group or status means "not stated": the import leaves it as it was. */
static void check_identity(const struct reg_identity *id)
{
    WARDEN_ASSERT(device_id_check(id->device_id, strlen(id->device_id)) == NULL);
    WARDEN_ASSERT(id->security_group[0] == '\0' || group_name_valid(id->security_group));
    WARDEN_ASSERT(id->status[0] == '\0' || strcmp(id->status, "enabled") == 0 ||
                  strcmp(id->status, "disabled") == 0);
    for (int k = 0; k < CRED_KIND_COUNT; k++) {
        const char *fp = id->fingerprint[k];

        if (!id->has_cred[k]) {
            WARDEN_ASSERT(fp[0] == '\0');
            continue;
        }
        if (k == CRED_SAS_PRIMARY || k == CRED_SAS_SECONDARY)
            WARDEN_ASSERT(lower_hex(fp, 64));
        else
            WARDEN_ASSERT(lower_hex(fp, 40) || lower_hex(fp, 64));
    }
}

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
