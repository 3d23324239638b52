/*
 * notify/ampayload.h: what Warden says to Alertmanager and what it reads
 * back, as JSON (Alertmanager API v2), apart from any connection so that a
 * unit test and a fuzz target can hold it alone.
 *
 * An alert or recommendation becomes one postable alert: the labels are its
 * identity (Alertmanager deduplicates on the label set), so they hold only
 * what never changes while it is open; what changes (counts, the last
 * window, the status) goes in the annotations. The answers read back (the
 * status, the suppressed alerts, the silences) come from the network and are
 * bounds-checked like any other input.
 *
 * May call: common/.
 */
#ifndef WARDEN_NOTIFY_AMPAYLOAD_H
#define WARDEN_NOTIFY_AMPAYLOAD_H

#include "../common/common.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* An alert (kind "alert") or a recommendation ("recommendation") as the sender read it. */
struct am_item {
    const char *kind;
    int64_t ref;                        /* alert_id or rec_id */
    const char *type, *key, *severity;  /* alertname, alert_key, severity */
    const char *device_id, *hub, *group; /* device_id NULL for a hub-scoped one; group NULL if none */
    const char *title, *description, *remediation;
    const char *status;                 /* Active, Dismissed, Resolved */
    int64_t start_ms;
    int64_t end_ms;                     /* when it ended; -1 while it fires */
    int64_t last_ms;                    /* the last time it was seen (end_ms of an alert); -1 if none */
    int64_t count;                      /* occurrences; -1 for a recommendation */
    const char *value;                  /* the measured value, NULL if none */
};

/*
 * The postable alert of it: firing (endsAt = now + lease) while end_ms < 0,
 * else resolved at min(end_ms, now). labels is notify.labels (an object, or
 * NULL); base_url is Warden's external address, without a trailing '/'.
 */
json_t *am_item_json(const struct am_item *it, json_t *labels, int64_t now_ms, int64_t lease_ms,
                     const char *base_url);

/* The page of an item in Warden: BASE/alerts/ID or BASE/recommendations#rec-ID. */
void am_item_url(const struct am_item *it, const char *base_url, char *out, size_t outlen);

/* The start of the Alertmanager's process, from GET /api/v2/status: "uptime". */
bool am_parse_uptime(const char *buf, size_t len, char *out, size_t outlen);

/* One alert of GET /api/v2/alerts as Warden reads it; strings are NULL when absent. */
struct am_seen {
    const char *alertname, *alert_key, *kind, *state;
    char silenced_by[512], inhibited_by[512]; /* JSON arrays of ids, "[]" when none */
};
typedef void (*am_seen_fn)(void *arg, const struct am_seen *s);
/* Calls fn for each alert with labels source="warden"; the number of them, -1 if buf is not the list. */
int am_parse_alerts(const char *buf, size_t len, am_seen_fn fn, void *arg);

/* One silence of GET /api/v2/silences. */
struct am_silence {
    const char *id, *state, *comment, *created_by;
    int64_t starts_ms, ends_ms;         /* -1 when unreadable */
    char *matchers;                     /* JSON text, owned by the parser */
};
typedef void (*am_silence_fn)(void *arg, const struct am_silence *s);
/* Calls fn for each silence not expired; the number of them, -1 if buf is not the list. */
int am_parse_silences(const char *buf, size_t len, am_silence_fn fn, void *arg);

/* Warden's address as the notifications link to it: web.external_url, else http://web.listen. */
void notify_base_url(const struct config *cfg, char *out, size_t outlen);

#endif
