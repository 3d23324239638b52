/*
 * evaluator/groups.h: security groups and their customizable rules (SPEC
 * 4.1), in the shape of Azure's deviceSecurityGroups resource. Private to
 * the evaluator module: eval.c reads the groups with groups_load() at each
 * pass, the web API stores one with group_store().
 *
 * A group always has all ten rules: the eight time-window rules and the two
 * allow lists. A rule a document does not mention is disabled, with min 0,
 * max 0 and a PT15M window.
 */
#ifndef WARDEN_EVAL_GROUPS_H
#define WARDEN_EVAL_GROUPS_H

#include "../common/common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sqlite3;

#define GROUP_DEFAULT_NAME "default"
#define GROUP_NAME_MAX     128
#define GROUP_MAX_BYTES    ((size_t)16 << 20) /* largest document taken */

#define GROUP_WINDOW_DEFAULT_MS (15 * 60 * 1000LL) /* PT15M */
#define GROUP_WINDOW_STEP_MS    10000LL            /* windows are whole count buckets */
#define GROUP_WINDOW_MIN_MS     10000LL            /* PT10S */
#define GROUP_WINDOW_MAX_MS     (7 * 86400000LL)   /* P7D */
#define GROUP_THRESHOLD_MAX     1000000000000000LL /* 10^15: exact as a double */
#define GROUP_ALLOW_MAX         10000              /* CIDRs per allow list */

/* The time-window rules, in the order of SPEC 4.1 (and of an exported document). */
enum group_rule {
    GROUP_ACTIVE_CONNECTIONS = 0, /* ActiveConnectionsNotInAllowedRange */
    GROUP_MQTT_C2D,               /* MqttC2DMessagesNotInAllowedRange */
    GROUP_MQTT_D2C,               /* MqttD2CMessagesNotInAllowedRange */
    GROUP_QUEUE_PURGES,           /* QueuePurgesNotInAllowedRange */
    GROUP_DIRECT_METHODS,         /* DirectMethodInvokesNotInAllowedRange */
    GROUP_MQTT_C2D_REJECTED,      /* MqttC2DRejectedMessagesNotInAllowedRange */
    GROUP_TWIN_UPDATES,           /* TwinUpdatesNotInAllowedRange */
    GROUP_UNAUTHORIZED,           /* UnauthorizedOperationsNotInAllowedRange */
    GROUP_RULE_COUNT
};

/* The allow-list rule types. */
#define GROUP_ALLOW_OUT_NAME "ConnectionToIpNotAllowed"   /* outbound (and direction unknown) */
#define GROUP_ALLOW_IN_NAME  "ConnectionFromIpNotAllowed" /* inbound */

/* The Azure rule type of r ("ActiveConnectionsNotInAllowedRange", ...). */
const char *group_rule_name(enum group_rule r);
/* The time-window rule called name; false when there is none. */
bool group_rule_lookup(const char *name, enum group_rule *r);

/* A time-window rule: out of range means value < min or value > max over window_ms. */
struct group_tw_rule {
    bool enabled;
    int64_t min, max;  /* 0 <= min <= max <= GROUP_THRESHOLD_MAX */
    int64_t window_ms; /* a multiple of 10 s in [PT10S, P7D] */
};

/* One allowed range, host bits cleared. IPv4-mapped IPv6 ranges are held as IPv4. */
struct group_cidr {
    struct ip_addr net;
    int prefix;
};

/* An allow list. Enabled and empty means no address is allowed. */
struct group_allow {
    bool enabled;
    struct group_cidr *cidrs; /* malloc'd, NULL when n == 0 */
    size_t n;
};

struct group {
    char name[GROUP_NAME_MAX + 1];
    struct group_tw_rule tw[GROUP_RULE_COUNT];
    struct group_allow allow_out; /* ConnectionToIpNotAllowed */
    struct group_allow allow_in;  /* ConnectionFromIpNotAllowed */
};

/*
 * A group name: 1..128 of [A-Za-z0-9._-], not "." or "..", so that it can
 * stand in a URL path and a file name as it is. Device tags must match too.
 */
bool group_name_valid(const char *name);

/* g as a new group called name (may be NULL: ""): every rule disabled. Nothing to free. */
void group_init(struct group *g, const char *name);

/*
 * Parse a deviceSecurityGroups document from json[0..len):
 *   {"name": ..., "properties": {"timeWindowRules": [...], "allowlistRules": [...],
 *    "thresholdRules": [], "denylistRules": []}}
 * The bare properties object (without the wrapper) is taken too. Members
 * Azure adds (id, type, displayName, ...) are ignored. The group is named
 * name when not NULL, else by the document's "name", else g->name is ""
 * and the caller names it.
 *
 * Each rule needs ruleType and isEnabled; an enabled time-window rule needs
 * minThreshold, maxThreshold (integers) and timeWindowSize, and an enabled
 * allow list its allowlistValues (a disabled rule may leave them out).
 * thresholdRules and denylistRules must be arrays; Warden has no rule of
 * those kinds, so any rule in them is an unknown rule type. On failure err
 * names the rule and the value at fault and g holds nothing to free; on
 * success the caller calls group_free(g).
 */
bool group_parse(const char *json, size_t len, const char *name, struct group *g, char *err,
                 size_t errlen);

/*
 * The normalised document of g: its name and every rule, CIDRs as
 * "network/prefix", windows as ISO 8601 ("PT5M"). Compact JSON, malloc'd
 * (the caller frees it); NULL when out of memory. group_parse() of the
 * result gives g back.
 */
char *group_to_json(const struct group *g);

/* Free what group_parse() allocated; g is then a group with empty allow lists. */
void group_free(struct group *g);

/* The number of enabled rules (0..10). */
int group_enabled_rules(const struct group *g);

/* True when ip (IPv4-mapped IPv6 counts as IPv4) is inside one of a's ranges. */
bool group_allow_contains(const struct group_allow *a, const struct ip_addr *ip);

/*
 * Every group of security_groups, plus "default" with every rule disabled
 * when the table has no such row, all sorted by name. On success *out is a
 * malloc'd array of *n groups, freed with groups_free(). A stored document
 * that no longer parses is an error naming the group.
 */
bool groups_load(struct sqlite3 *db, struct group **out, size_t *n, char *err, size_t errlen);
void groups_free(struct group *groups, size_t n);

/* Create or replace g in security_groups (its normalised document, updated_ms = now). */
bool group_store(struct sqlite3 *db, const struct group *g, char *err, size_t errlen);

#endif
