/*
 * notify/: everything that leaves Warden as a notification. Today that is the
 * outbox: the evaluator writes each alert transition as an outbox row (topic,
 * payload) in the same transaction as the transition, and the ingester, which
 * holds Warden's MQTT connection, hands the rows to this module to publish.
 *
 * A row leaves the outbox only once the broker has acknowledged it (QoS 1),
 * so a transition is published at least once, across disconnects and
 * restarts. This module keeps what is in flight; it does not speak MQTT
 * itself: the caller passes the function that publishes.
 *
 * May call: store/ (the outbox rows), common/.
 */
#ifndef WARDEN_NOTIFY_OUTBOX_H
#define WARDEN_NOTIFY_OUTBOX_H

#include "../common/common.h"
#include "../store/store.h"

#include <stdbool.h>
#include <stdint.h>

/* Publishes TOPIC/PAYLOAD at QoS 1; true with *mid set when the message was handed over. */
typedef bool (*notify_publish_fn)(void *arg, const char *topic, const char *payload, int *mid);

struct notify_outbox {
    struct map inflight; /* message id -> outbox id, -1 once acknowledged */
    int64_t after;       /* the highest outbox id handed to the publisher */
    int64_t *acked;      /* acknowledged, to delete at the next tick */
    size_t n_acked, cap_acked;
    notify_publish_fn publish;
    void *arg;
};

void notify_outbox_init(struct notify_outbox *o, notify_publish_fn publish, void *arg);
void notify_outbox_free(struct notify_outbox *o);
/* The broker acknowledged message MID (libmosquitto's publish callback). */
void notify_outbox_acked(struct notify_outbox *o, int mid);
/* The connection is gone: what was in flight goes again on the next one. */
void notify_outbox_reset(struct notify_outbox *o);
/*
 * Deletes what the broker acknowledged and, when nothing is in flight and the
 * connection is up, publishes the next rows. Call with no batch open, so that
 * the PUBLISH packets leave with no uncommitted PUBACK.
 */
void notify_outbox_tick(struct notify_outbox *o, struct store *s, bool connected);

#endif
