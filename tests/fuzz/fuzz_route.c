/*
 * libFuzzer target for what the router makes of a whole message: the topic
 * (its levels, the device id, the URL-encoded property bag with `mti` and
 * `$.ifid`) and the payload behind it, routed into a real SQLite database
 * as ingest does, plus the ISO 8601 durations and times of the settings.
 * The first byte picks what is fuzzed; for a message the next two give the
 * topic's length. Besides the sanitizers' checks it asserts the router's
 * contract: bad input is dead-lettered and the batch still commits, so
 * ingest_route() returns STORE_OK for anything a device can send.
 */
#include "../../ingest/route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *store;
static struct config cfg;
static char path[64];

static void remove_db(void)
{
    char p[80];

    store_close(store);
    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
}

static void fuzz_message(const uint8_t *data, size_t size)
{
    char topic[1024], err[256];
    struct route_ctx ctx;

    if (size < 2)
        return;
    size_t tlen = ((size_t)data[0] << 8 | data[1]) % sizeof(topic);
    data += 2, size -= 2;
    if (tlen > size)
        tlen = size;
    memcpy(topic, data, tlen);
    topic[tlen] = '\0';
    if (store == NULL) {
        config_defaults(&cfg);
        snprintf(path, sizeof(path), "/tmp/fuzz-route-%ld.db", (long)getpid());
        unlink(path);
        if ((store = store_open(path, err, sizeof(err))) == NULL)
            abort();
        atexit(remove_db);
    }
    ctx.store = store;
    ctx.cfg = &cfg;
    WARDEN_ASSERT(store_batch_begin(store) == STORE_OK);
    WARDEN_ASSERT(ingest_route(&ctx, topic, data + tlen, size - tlen, 1796000000000) == STORE_OK);
    WARDEN_ASSERT(store_batch_commit(store, 1796000000000) == STORE_OK);
}

static void fuzz_times(const uint8_t *data, size_t size)
{
    char s[128];
    int64_t ms;

    if (size >= sizeof(s))
        size = sizeof(s) - 1;
    memcpy(s, data, size);
    s[size] = '\0';
    if (duration_parse(s, &ms))
        WARDEN_ASSERT(ms >= 0);
    if (time_parse_iso(s, &ms)) {
        char back[40];
        int64_t again;
        time_format_iso(ms, back, sizeof(back));
        WARDEN_ASSERT(time_parse_iso(back, &again) && again == ms);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        fuzz_times(data + 1, size - 1);
    else
        fuzz_message(data + 1, size - 1);
    return 0;
}
