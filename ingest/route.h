/*
 * ingest/route.h: from (topic, payload) to rows, private to ingest/. The MQTT
 * loop calls ingest_route() for every message inside an open store batch;
 * tests call it directly to check routing without a broker.
 */
#ifndef WARDEN_INGEST_ROUTE_H
#define WARDEN_INGEST_ROUTE_H

#include "../common/common.h"
#include "../store/store.h"

struct route_ctx {
    struct store *store;
    const struct config *cfg;
};

/*
 * Store what one message says. Bad input is dead-lettered and still returns
 * STORE_OK; any other result is a store failure that must fail the batch.
 */
enum store_err ingest_route(struct route_ctx *ctx, const char *topic, const void *payload,
                            size_t len, int64_t recv_ms);

/* The security interface id, URL-decoded. */
#define INGEST_SECURITY_IFID "urn:azureiot:Security:SecurityAgent:1"

#endif
