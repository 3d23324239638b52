/*
 * imports/groups.h: security groups and their customizable rules (SPEC
 * 4.1), in the shape of Azure's deviceSecurityGroups resource.
 * evaluator/eval.c reads the groups with groups_load() at each pass, the web
 * API stores one with group_store().
 *
 * A group always has all twenty rules: the sixteen time-window rules of
 * Azure's 2019-08-01 API and four allow lists (Azure's three and Warden's
 * inbound one). A rule a document does not mention is disabled, with min 0,
 * max 0 and a PT15M window.
 *
 * Only some of them can be observed in the lab: the broker speaks MQTT only
 * (no AMQP, no HTTP, no file uploads) and the devices' agents report no
 * logins or processes. The others are checked, stored and exported with
 * their values as they came, so that a document from Azure goes back to
 * Azure unchanged, but the evaluator never reads them (a rule it cannot
 * count would be silence on one side and a false alarm on the other).
 */
#ifndef WARDEN_IMPORTS_GROUPS_H
#define WARDEN_IMPORTS_GROUPS_H

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
#define GROUP_ALLOW_MAX         10000              /* values per allow list */
#define GROUP_DOC_MAX_GROUPS    10000              /* groups per imported document */

/*
 * The time-window rules, in the order of an exported document: the ones the
 * lab observes (SPEC 5.1) first, then the ones it cannot.
 */
enum group_rule {
    GROUP_ACTIVE_CONNECTIONS = 0, /* ActiveConnectionsNotInAllowedRange */
    GROUP_MQTT_C2D,               /* MqttC2DMessagesNotInAllowedRange */
    GROUP_MQTT_D2C,               /* MqttD2CMessagesNotInAllowedRange */
    GROUP_QUEUE_PURGES,           /* QueuePurgesNotInAllowedRange */
    GROUP_DIRECT_METHODS,         /* DirectMethodInvokesNotInAllowedRange */
    GROUP_MQTT_C2D_REJECTED,      /* MqttC2DRejectedMessagesNotInAllowedRange */
    GROUP_TWIN_UPDATES,           /* TwinUpdatesNotInAllowedRange */
    GROUP_UNAUTHORIZED,           /* UnauthorizedOperationsNotInAllowedRange */
    /* Not observable in this lab: kept and exported, never evaluated. */
    GROUP_AMQP_C2D,            /* AmqpC2DMessagesNotInAllowedRange */
    GROUP_HTTP_C2D,            /* HttpC2DMessagesNotInAllowedRange */
    GROUP_AMQP_C2D_REJECTED,   /* AmqpC2DRejectedMessagesNotInAllowedRange */
    GROUP_HTTP_C2D_REJECTED,   /* HttpC2DRejectedMessagesNotInAllowedRange */
    GROUP_AMQP_D2C,            /* AmqpD2CMessagesNotInAllowedRange */
    GROUP_HTTP_D2C,            /* HttpD2CMessagesNotInAllowedRange */
    GROUP_FAILED_LOCAL_LOGINS, /* FailedLocalLoginsNotInAllowedRange */
    GROUP_FILE_UPLOADS,        /* FileUploadsNotInAllowedRange */
    GROUP_RULE_COUNT
};

/* Rules below this one are evaluated; the rest are not observable in this lab. */
#define GROUP_RULE_OBSERVABLE (GROUP_UNAUTHORIZED + 1)

/* The allow-list rule types. */
#define GROUP_ALLOW_OUT_NAME       "ConnectionToIpNotAllowed" /* outbound (and direction unknown) */
#define GROUP_ALLOW_IN_NAME        "ConnectionFromIpNotAllowed" /* inbound (Warden's own) */
#define GROUP_ALLOW_USERS_NAME     "LocalUserNotAllowed"        /* not observable in this lab */
#define GROUP_ALLOW_PROCESSES_NAME "ProcessNotAllowed"          /* not observable in this lab */

/* Every rule of a group: the time-window rules and the four allow lists. */
#define GROUP_RULES_TOTAL (GROUP_RULE_COUNT + 4)

/* The Azure rule type of r ("ActiveConnectionsNotInAllowedRange", ...). */
const char *group_rule_name(enum group_rule r);
/* The time-window rule called name; false when there is none. */
bool group_rule_lookup(const char *name, enum group_rule *r);
/* True when the lab counts what r is about (r < GROUP_RULE_OBSERVABLE). */
bool group_rule_observable(enum group_rule r);

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

/* Longest user or process name in an allow list of names, in bytes. */
#define GROUP_VALUE_MAX 1024

/*
 * An allow list of names (valueType String: local users, processes), kept
 * as the document gave it, in its order: printable UTF-8 strings of up to
 * GROUP_VALUE_MAX bytes.
 */
struct group_names {
    bool enabled;
    char **values; /* malloc'd, each malloc'd; NULL when n == 0 */
    size_t n;
};

struct group {
    char name[GROUP_NAME_MAX + 1];
    struct group_tw_rule tw[GROUP_RULE_COUNT];
    struct group_allow allow_out; /* ConnectionToIpNotAllowed */
    struct group_allow allow_in;  /* ConnectionFromIpNotAllowed */
    struct group_names users;     /* LocalUserNotAllowed: not observable */
    struct group_names processes; /* ProcessNotAllowed: not observable */
};

/*
 * A group name: 1..128 of [A-Za-z0-9._-], not "." or "..", so that it can
 * stand in a URL path and a file name as it is. Device tags must match too.
 */
bool group_name_valid(const char *name);

/* g as a new group called name (may be NULL: ""): every rule disabled. Nothing to free. */
void group_init(struct group *g, const char *name);

/*
 * Parse one deviceSecurityGroups document from json[0..len), as Azure's GET
 * returns it and its PUT takes it:
 *   {"name": ..., "properties": {"timeWindowRules": [...], "allowlistRules": [...],
 *    "thresholdRules": [], "denylistRules": []}}
 * The bare properties object (without the wrapper) is taken too. A document
 * is a group only when it has at least one of the four rule lists (inside
 * "properties" or bare) and, when it says its "type", that type is
 * Microsoft.Security/deviceSecurityGroups: anything else (a LIST body, an
 * IoT hub, an empty object) is refused with what was expected, never taken
 * for an empty group. Members Azure adds (id, displayName, description,
 * valueType, ...) are ignored. The group is named name when not NULL, else
 * by the document's "name", else g->name is "" and the caller names it.
 *
 * Each rule needs ruleType and isEnabled; an enabled time-window rule needs
 * minThreshold, maxThreshold (integers) and timeWindowSize, and an enabled
 * allow list its allowlistValues (a disabled rule may leave them out).
 * thresholdRules and denylistRules must be arrays; Warden has no rule of
 * those kinds, so any rule in them is refused. On failure err names the
 * rule and the value at fault and g holds nothing to free; on success the
 * caller calls group_free(g).
 */
bool group_parse(const char *json, size_t len, const char *name, struct group *g, char *err,
                 size_t errlen);

/*
 * Parse a document of one or more groups, as `warden groups import` takes
 * it: one group (group_parse), a LIST body {"value": [group, ...]} or a JSON
 * array of groups. Every group of a list must have its "name", and no name
 * may appear twice. name, when not NULL, names the only group of a document
 * that holds exactly one (it is refused for more). On success *out is a
 * malloc'd array of *n >= 1 groups (groups_free()); the one group of a
 * document without a name has name "" for the caller to fill. On failure
 * err names the element and rule at fault and nothing is allocated.
 */
bool groups_parse_doc(const char *json, size_t len, const char *name, struct group **out, size_t *n,
                      char *err, size_t errlen);

/*
 * The normalised document of g: its name and every rule, CIDRs as
 * "network/prefix", windows as ISO 8601 ("PT5M"). Compact JSON, malloc'd
 * (the caller frees it); NULL when out of memory. group_parse() of the
 * result gives g back.
 */
char *group_to_json(const struct group *g);

/* A window as ISO 8601: "PT15M", "PT1M30S", "P1DT12H". */
void group_window_format(int64_t ms, char *out, size_t outlen);

/* Free what group_parse() allocated; g is then a group with empty allow lists. */
void group_free(struct group *g);

/* The number of enabled rules (0..GROUP_RULES_TOTAL). */
int group_enabled_rules(const struct group *g);
/* The number of enabled rules that the lab cannot observe. */
int group_enabled_unobservable(const struct group *g);

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

/*
 * Create or replace g in security_groups (its normalised document, updated_ms
 * = now), in the caller's transaction if one is open.
 */
bool group_store(struct sqlite3 *db, const struct group *g, char *err, size_t errlen);

#endif
