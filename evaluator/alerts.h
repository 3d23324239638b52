/*
 * evaluator/alerts.h: the texts of alerts (SPEC 5.2) and their lifecycle
 * (5.4), private to the evaluator module. Every status change goes through
 * one function, which writes the alert, its transition row and its outbox
 * row for MQTT together, so they can never disagree.
 */
#ifndef WARDEN_EVAL_ALERTS_H
#define WARDEN_EVAL_ALERTS_H

#include "../common/catalog.h"
#include "../common/common.h"

#include <stdbool.h>
#include <stdint.h>

struct sqlite3;

/*
 * The catalogue entry of an alert type (common/catalog.c), or NULL for a
 * type Warden does not know and for recommendation types.
 */
const struct catalog_entry *alert_info(const char *type);

/*
 * The specifics of one alert, for its description, remediation and
 * extended_properties. Unused fields are NULL or -1.
 */
struct alert_facts {
    const char *device_id, *hub;
    const char *remote_ip, *protocol, *direction;
    int remote_port;
    const char *list, *category;
    const char *rule_type;
    double value;
    int64_t min, max, window_ms;
    bool value_set;
    const char *reason, *source_ip, *certificate_name, *setting_name;
};
void alert_facts_init(struct alert_facts *f);

/* Status values. */
#define ALERT_ACTIVE "Active"
#define ALERT_RESOLVED "Resolved"
#define ALERT_DISMISSED "Dismissed"

/*
 * The lifecycle writer. All of these run inside the caller's write
 * transaction on db; each returns false on an SQLite error (the caller rolls
 * back). hub is always set; device_id is NULL for hub-scoped alerts.
 */
struct alert_writer;
struct alert_writer *alert_writer_new(struct sqlite3 *db);
void alert_writer_free(struct alert_writer *w);

/* A new Active alert; its id in *id. */
bool alert_open(struct alert_writer *w, const char *type, const char *key,
                const struct alert_facts *f, int64_t start_ms, int64_t end_ms, int64_t count,
                int64_t *id);
/* A repeat of an open alert: end_ms moves forward, count grows, value and facts refresh. */
bool alert_touch(struct alert_writer *w, int64_t id, int64_t end_ms, int64_t add_count,
                 const struct alert_facts *f);
/* A status change at at_ms with an optional note; recorded and queued for MQTT. */
bool alert_transition(struct alert_writer *w, int64_t id, const char *from, const char *to,
                      const char *note, int64_t at_ms);

/* The MQTT topic of an alert: warden/alerts/{type}/{device or hub}, the id percent-encoded. */
void alert_topic(const char *type, const char *scope, char *out, size_t outlen);

#endif
