/*
 * libFuzzer target for what the lab hub parses from a client or a file: SAS
 * tokens (hub/sas.c) and the key store (hub/hubkeys.c). The first input
 * byte picks which. Besides the sanitizers' checks it asserts that a token
 * that parses has a resource and 32 signature bytes, that a check of it
 * against a device ends in one of the known verdicts, and that a key store
 * that parses is written and read back unchanged (its devices sorted, each
 * found by id).
 */
#include "../../hub/hubkeys.h"
#include "../../hub/sas.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_token(const char *s, size_t n)
{
    struct sas_token t;
    const char *keys[2] = {"a2V5", ""};

    if (sas_parse(s, n, &t) != SAS_OK)
        return;
    WARDEN_ASSERT(t.sr[0] != '\0' && strlen(t.sr_raw) <= SAS_FIELD_MAX);
    enum sas_result r = sas_check(&t, "lab.example", "dev-1", keys, 2, 1700000000);
    WARDEN_ASSERT(r == SAS_OK || r == SAS_WRONG_RESOURCE || r == SAS_BAD_SIGNATURE ||
                  r == SAS_EXPIRED || r == SAS_MALFORMED);
}

static void fuzz_keystore(const char *s, size_t n)
{
    struct hub_keys k, back;
    char err[512], path[64];

    if (!hub_keys_parse(s, n, &k, err, sizeof(err))) {
        WARDEN_ASSERT(err[0] != '\0');
        return;
    }
    for (size_t i = 0; i < k.ndevices; i++)
        WARDEN_ASSERT(hub_keys_find(&k, k.devices[i].id) == &k.devices[i]);
    snprintf(path, sizeof(path), "/tmp/fuzz-hubkeys-%ld", (long)getpid());
    WARDEN_ASSERT(hub_keys_save(path, &k, err, sizeof(err)));
    WARDEN_ASSERT(hub_keys_load(path, &back, err, sizeof(err)));
    unlink(path);
    WARDEN_ASSERT(back.ndevices == k.ndevices && back.nrules == k.nrules &&
                  back.ncerts == k.ncerts && back.ip_mode == k.ip_mode);
    for (size_t i = 0; i < k.ndevices; i++)
        WARDEN_ASSERT(memcmp(&back.devices[i], &k.devices[i], sizeof(k.devices[i])) == 0);
    hub_keys_free(&back);
    hub_keys_free(&k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        fuzz_token((const char *)data + 1, size - 1);
    else
        fuzz_keystore((const char *)data + 1, size - 1);
    return 0;
}
