/*
 * notify/notify.h: notifications to Prometheus Alertmanager (README
 * "Notifications"). notify_start() syncs notify.alertmanager.urls into
 * notify_targets and starts one sender thread per Alertmanager, each with
 * its own database connection, HTTP client and cursor, so one that is down or
 * slow never holds up another, nor the ingester or the web. What a sender
 * sends is in the database (sql/007_notify.sql): the queue the triggers fill
 * at every transition, and the open and lately resolved alerts it re-sends
 * every notify.resend. Nothing waits in memory, so a restart loses nothing.
 *
 * May call: store/ (its connection), common/.
 */
#ifndef WARDEN_NOTIFY_NOTIFY_H
#define WARDEN_NOTIFY_NOTIFY_H

#include "../common/common.h"

#include <stdbool.h>
#include <stddef.h>

/* Alertmanager's API takes this many alerts in one request at most, as Prometheus sends them. */
#define NOTIFY_BATCH 64

struct notify;
/*
 * Starts the senders; with no URL configured, syncs the (empty) target list
 * and starts none. NULL with a message when the settings cannot be used.
 */
struct notify *notify_start(const struct config *cfg, char *err, size_t errlen);
/* Stops the senders: a request in flight is abandoned, its rows stay queued. */
void notify_stop(struct notify *n);

/* `warden notify test|receive ...`: the command line's entry. */
int notify_cmd(int argc, char **argv, const struct config *cfg);

#endif
