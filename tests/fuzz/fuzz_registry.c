/*
 * libFuzzer target for the device registry parser (evaluator/registry.c).
 * Besides the sanitizers' own checks, it asserts what the import writes:
 * valid device ids, each once; group names valid; fingerprints lower-case
 * hex of 64 digits (keys) or 40 or 64 (thumbprints); a refusal says why.
 */
#include "../../evaluator/groups.h"
#include "../../evaluator/imports.h"
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

static void check_identity(const struct reg_identity *id)
{
    WARDEN_ASSERT(device_id_check(id->device_id, strlen(id->device_id)) == NULL);
    WARDEN_ASSERT(group_name_valid(id->security_group));
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
    struct reg_identity *ids;
    size_t n;
    char err[512];

    err[0] = '\0';
    if (!registry_parse((const char *)data, size, &ids, &n, err, sizeof(err))) {
        WARDEN_ASSERT(err[0] != '\0' && ids == NULL && n == 0);
        return 0;
    }
    WARDEN_ASSERT((n == 0) == (ids == NULL));
    for (size_t i = 0; i < n; i++) {
        check_identity(&ids[i]);
        for (size_t j = 0; j < i; j++)
            WARDEN_ASSERT(strcmp(ids[i].device_id, ids[j].device_id) != 0);
    }
    free(ids);
    return 0;
}
