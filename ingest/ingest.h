/*
 * ingest/: the MQTT ingester. It subscribes to the device and hub topics with
 * QoS 1 and a persistent session, decodes what arrives, and writes it through
 * the store in batches. A message is acknowledged to the broker only after
 * the batch holding it is committed, so a crash loses nothing: the broker
 * re-delivers what was not acknowledged, and event ids make that harmless.
 */
#ifndef WARDEN_INGEST_H
#define WARDEN_INGEST_H

#include "../common/common.h"
#include "../store/store.h"

struct event_base;
struct ingest;

/*
 * Start ingesting on base: connects (retrying with backoff) and runs from the
 * event loop. cfg and store must outlive the ingester. Returns NULL with a
 * message in err when the MQTT client cannot be set up at all.
 */
struct ingest *ingest_start(struct event_base *base, const struct config *cfg,
                            struct store *store, char *err, size_t errlen);
/* Commit and acknowledge what is buffered, disconnect, and free. */
void ingest_stop(struct ingest *in);

#endif
