/*
 * The outbox publisher (see outbox.h): up to OUTBOX_BATCH rows in flight at a
 * time, deleted from the outbox as the broker acknowledges them.
 */
#include "outbox.h"

#include <stdlib.h>

#define OUTBOX_BATCH 100

void notify_outbox_init(struct notify_outbox *o, notify_publish_fn publish, void *arg)
{
    *o = (struct notify_outbox){.publish = publish, .arg = arg};
    map_init(&o->inflight);
}

void notify_outbox_free(struct notify_outbox *o)
{
    map_free(&o->inflight);
    free(o->acked);
    o->acked = NULL;
}

void notify_outbox_acked(struct notify_outbox *o, int mid)
{
    struct map_entry *me = map_get(&o->inflight, &mid, sizeof(mid));

    if (me == NULL)
        return;
    if (o->n_acked == o->cap_acked) {
        o->cap_acked = o->cap_acked ? o->cap_acked * 2 : 64;
        o->acked = realloc(o->acked, o->cap_acked * sizeof(int64_t));
        if (o->acked == NULL)
            fatal("out of memory");
    }
    o->acked[o->n_acked++] = me->value;
    me->value = -1; /* acknowledged; the entry goes when the in-flight set empties */
}

void notify_outbox_reset(struct notify_outbox *o)
{
    map_clear(&o->inflight);
    o->after = 0;
}

static void outbox_publish_one(void *arg, int64_t id, const char *topic, const char *payload)
{
    struct notify_outbox *o = arg;
    struct map_entry *me;
    int mid;

    if (!o->publish(o->arg, topic, payload, &mid))
        return;
    if ((me = map_upsert(&o->inflight, &mid, sizeof(mid))) == NULL)
        fatal("out of memory");
    me->value = id;
    if (id > o->after)
        o->after = id;
}

void notify_outbox_tick(struct notify_outbox *o, struct store *s, bool connected)
{
    bool pending = false;

    for (size_t i = 0; i < o->n_acked; i++)
        if (store_outbox_done(s, o->acked[i]) != STORE_OK)
            log_warn("outbox: %s", store_errmsg(s));
    o->n_acked = 0;
    for (size_t i = 0; i < o->inflight.cap && !pending; i++)
        pending = o->inflight.slots[i].key != NULL && o->inflight.slots[i].value >= 0;
    if (pending || !connected)
        return;
    map_clear(&o->inflight);
    if (store_outbox_next(s, o->after, OUTBOX_BATCH, outbox_publish_one, o) != STORE_OK)
        log_warn("outbox: %s", store_errmsg(s));
}
