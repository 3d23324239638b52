/*
 * evaluator/recs.h: the recommendations assessment (SPEC 5.3). Private to
 * the evaluator module. recs_assess() reads the registry and the hub
 * configuration and returns the set of recommendations that should be
 * Active now; eval.c compares it with the recommendations table and writes
 * the transitions (Active, Resolved).
 *
 * The hub documents themselves (struct hub_props, hub_diag_setting and
 * their parsers) are in imports.h, included here.
 */
#ifndef WARDEN_EVAL_RECS_H
#define WARDEN_EVAL_RECS_H

#include "../imports/imports.h"

#include <stdbool.h>
#include <stddef.h>

struct sqlite3;

#define REC_SHARED_CREDENTIALS  "IoT_SharedCredentials"
#define REC_IPFILTER_DENY_ALL   "IoT_IPFilter_DenyAll"
#define REC_IPFILTER_PERMISSIVE "IoT_IPFilter_PermissiveRule"
#define REC_DIAGNOSTICS_LOGS    "IoT_DiagnosticsLogs"

/* Retention of at least this many days (or 0, forever, or none) satisfies IoT_DiagnosticsLogs. */
#define REC_MIN_RETENTION_DAYS 365
/* IoT_SharedCredentials names at most this many other devices in its additional data. */
#define REC_SHARED_MAX_LISTED 20

/*
 * recommendations.*: each type can be switched off; an Allow/Accept rule is
 * permissive when its prefix is shorter than max_allow_prefix of its family.
 */
struct recs_config {
    bool shared_credentials, ipfilter_deny_all, ipfilter_permissive, diagnostics_logs;
    int max_allow_prefix_v4; /* default 16 */
    int max_allow_prefix_v6; /* default 48 */
};

/* The defaults of recommendations.* in common/config.c: every type on, prefixes 16 and 48. */
void recs_config_defaults(struct recs_config *cfg);

/*
 * One recommendation that should be Active. key is what the recommendations
 * table calls rec_key: the device id (IoT_SharedCredentials), the hub
 * (IoT_IPFilter_DenyAll, IoT_DiagnosticsLogs) or "hub/filterName"
 * (IoT_IPFilter_PermissiveRule). device_id is "" for a hub-scoped one (NULL
 * in the table); hub is always set.
 */
struct rec {
    char type[40];
    char key[300];
    char device_id[129];
    char hub[129];
    char *additional_data; /* a JSON object, compact, malloc'd */
};

/*
 * The recommendations that hold now, sorted by type and key. The hubs
 * assessed are every hub named in devices, hub_config or
 * hub_diagnostic_settings. On success *out is a malloc'd array of *n
 * (NULL when none), freed with recs_free(). Fails only on a database error,
 * out of memory or a stored hub document that no longer parses (err names
 * the hub); run it inside the pass's read transaction for one snapshot.
 */
bool recs_assess(struct sqlite3 *db, const struct recs_config *cfg, struct rec **out, size_t *n,
                 char *err, size_t errlen);
void recs_free(struct rec *recs, size_t n);

/* The display name and severity of SPEC 5.3 for a type; NULL for an unknown type. */
const char *rec_display_name(const char *type);
const char *rec_severity(const char *type);

/*
 * The pieces of the assessment, for eval.c and tests that hold a parsed hub
 * already. The in-force filter is networkRuleSets when the hub has it, else
 * ipFilterRules.
 *
 * recs_deny_all_holds: true when IoT_IPFilter_DenyAll should be Active: no
 * filter (p NULL or empty), networkRuleSets whose default is not Deny or
 * that has no rules, or ipFilterRules without a Reject of 0.0.0.0/0 that
 * follows at least one Accept rule (an address matching no rule is
 * accepted, and a rule after a catch-all Reject is never reached).
 */
bool recs_deny_all_holds(const struct hub_props *p);
/* True when r is an Allow/Accept rule wider than the family's maximum prefix allows. */
bool recs_rule_permissive(const struct hub_ip_rule *r, const struct recs_config *cfg);
/*
 * True when s has an enabled log category whose retention is off (no
 * retentionPolicy, or one not enabled), 0 days (forever) or at least 365
 * days: then IoT_DiagnosticsLogs is satisfied.
 */
bool recs_setting_keeps_logs(const struct hub_diag_setting *s);

#endif
