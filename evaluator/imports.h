/*
 * evaluator/imports.h: the documents users bring from Azure besides security
 * groups (groups.h), parsed and validated without a database: the device
 * registry export (SPEC 4.2) and the hub's network and diagnostic
 * configuration (SPEC 4.3). The import commands, the recommendations
 * (recs.c) and the fuzz targets use them. Private to the evaluator module.
 *
 * Every parser takes (buf, len), checks types strictly, and on failure
 * writes one message into err that names the element, device, rule or
 * setting at fault, and leaves nothing allocated. Secrets (symmetric keys)
 * are never copied out of a parser and never appear in a message.
 */
#ifndef WARDEN_EVAL_IMPORTS_H
#define WARDEN_EVAL_IMPORTS_H

#include "../common/common.h"

#include <jansson.h>

#include "../broker/hubkeys.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Names Warden keeps (hubs, filters, settings, log categories): bytes, not counting the NUL. */
#define IMPORT_NAME_MAX 128
/* Nesting deeper than this is refused before Jansson (which recurses) sees it. */
#define IMPORT_MAX_DEPTH 32

/* ---- shared by the import commands ------------------------------------------ */

/*
 * The whole file at path as a malloc'd, NUL-terminated buffer of *len bytes,
 * refused when larger than max. The caller frees it. On failure returns NULL
 * with the reason in err.
 */
char *import_read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen);

/*
 * buf[0..len) as a JSON document: duplicate keys, NUL characters, invalid
 * UTF-8 and nesting deeper than IMPORT_MAX_DEPTH are refused. The message
 * gives the line and column but never quotes the input, which may hold keys.
 * The caller owns the result (json_decref).
 */
json_t *import_json_load(const char *buf, size_t len, char *err, size_t errlen);

/* Member key of obj; NULL when absent or JSON null (exports write null for "none"). */
json_t *import_member(json_t *obj, const char *key);

/* 1..IMPORT_NAME_MAX bytes of printable UTF-8. */
bool import_name_valid(const char *s, size_t len);

/*
 * A hub name: an import name without '/', since hubs appear in MQTT topics
 * and in the keys "hub/rule" of recommendations.
 */
bool import_hub_name_valid(const char *s, size_t len);

/* ---- device registry (SPEC 4.2) ---------------------------------------------- */

/* The credential kinds of device_credentials.kind, in this order. */
enum cred_kind {
    CRED_SAS_PRIMARY = 0,
    CRED_SAS_SECONDARY,
    CRED_X509_PRIMARY,
    CRED_X509_SECONDARY,
    CRED_KIND_COUNT
};
/* "sas_primary", "sas_secondary", "x509_primary", "x509_secondary". */
const char *cred_kind_name(enum cred_kind k);

/* Largest registry file and number of identities one import takes. */
#define REGISTRY_MAX_BYTES   ((size_t)256 << 20)
#define REGISTRY_MAX_DEVICES 200000

/*
 * One device identity, validated. The database keeps a symmetric key only as
 * its fingerprint: the lower-case hex SHA-256 of the key's decoded bytes, so
 * two spellings of one key (with or without '=' padding) fingerprint alike;
 * the key itself goes only to the lab hub's key store (broker/hubkeys.h). A
 * thumbprint is kept normalised: lower-case hex, separators removed, 40
 * (SHA-1) or 64 (SHA-256) digits.
 */
struct reg_identity {
    char device_id[129];
    char auth_type[24];       /* sas, selfSigned, certificateAuthority, none; "" when absent */
    char security_group[129]; /* tags.SecurityGroup, "default" when absent */
    bool has_cred[CRED_KIND_COUNT];
    char fingerprint[CRED_KIND_COUNT][65];
    char key[2][HUB_KEYS_KEY_MAX + 1]; /* the symmetric keys as given (secret: cleanse) */
};

/*
 * A JSON array of identities in IoT Hub's shape: deviceId (or "id", as in
 * the bulk export), authentication.type, authentication.symmetricKey.
 * primaryKey/secondaryKey, authentication.x509Thumbprint.primaryThumbprint/
 * secondaryThumbprint, tags.SecurityGroup; other members are ignored. Every
 * element is checked and a device id twice in one array is refused. On
 * success *out is a malloc'd array of *n identities (the caller frees it);
 * an empty array gives *n == 0 and *out NULL.
 */
bool registry_parse(const char *buf, size_t len, struct reg_identity **out, size_t *n, char *err,
                    size_t errlen);

/* ---- hub configuration (SPEC 4.3) ------------------------------------------------ */

#define HUB_DOC_MAX_BYTES      ((size_t)16 << 20)
#define HUB_MAX_RULES          1000 /* per rule list; IoT Hub allows 100 */
#define HUB_MAX_SETTINGS       100  /* diagnostic settings per hub; Azure allows 5 */
#define HUB_MAX_LOGS           100  /* log categories per setting */
#define HUB_MAX_RETENTION_DAYS 36500

/* One IP filter rule of either form. allow: action Allow (or Accept), else Reject. */
struct hub_ip_rule {
    char name[IMPORT_NAME_MAX + 1];
    bool allow;
    struct ip_addr net;
    int prefix;
};

/*
 * A hub's network configuration, from its "properties": the current
 * networkRuleSets (a default action and Allow rules) and the older
 * ipFilterRules (Accept/Reject rules in order; an address that matches none
 * is accepted). When both are given, networkRuleSets is the one in force.
 */
struct hub_props {
    bool has_network_rule_sets;
    bool default_deny;            /* networkRuleSets.defaultAction is Deny */
    struct hub_ip_rule *ip_rules; /* networkRuleSets.ipRules */
    size_t n_ip_rules;
    bool has_ip_filter_rules;
    struct hub_ip_rule *ip_filter_rules; /* ipFilterRules, in order */
    size_t n_ip_filter_rules;
};

/* One log category of a diagnostic setting (category or categoryGroup). */
struct hub_diag_log {
    char category[IMPORT_NAME_MAX + 1];
    bool is_group; /* it was a categoryGroup ("allLogs", "audit") */
    bool enabled;
    bool has_retention; /* a retentionPolicy was given */
    bool retention_enabled;
    int64_t retention_days; /* 0 means forever */
};

struct hub_diag_setting {
    char name[IMPORT_NAME_MAX + 1];
    struct hub_diag_log *logs;
    size_t nlogs;
    char *json; /* the normalised setting, compact, malloc'd */
};

/* The documents `warden hub import` takes. */
enum hub_doc_kind {
    HUB_DOC_HUB,          /* a hub: its properties and/or its diagnosticSettings */
    HUB_DOC_SETTING,      /* one diagnostic setting: added or replaced, the hub's others kept */
    HUB_DOC_SETTING_LIST, /* a LIST of diagnostic settings: the hub's settings become these */
};

/* A hub document. Each part is replaced on import only when the document has it. */
struct hub_doc {
    enum hub_doc_kind kind;
    char hub[IMPORT_NAME_MAX + 1]; /* the hub it is imported for */
    char named[IMPORT_NAME_MAX +
               1]; /* the hub the document names (its name, a setting's id), or "" */
    bool has_props;
    struct hub_props props;
    char *props_json; /* normalised "properties", compact, malloc'd */
    bool has_settings;
    struct hub_diag_setting *settings;
    size_t nsettings;
};

/*
 * A document for hub (the caller's choice: --hub, else hub.name; the name
 * the document gives its hub is only reported, in doc->named), one of:
 *   - a hub, as the IotHubs GET returns it or Warden's own shape: {"name",
 *     "type": "Microsoft.Devices/IotHubs", "properties": {networkRuleSets,
 *     ipFilterRules, ...}, "diagnosticSettings": [setting, ...] or {"value": [...]}};
 *   - one diagnostic setting, as the REST API returns it ({"name", "type":
 *     "Microsoft.Insights/diagnosticSettings", "properties": {"logs": [...]}})
 *     or az prints it ({"name", "logs": [...]}); it must have its name;
 *   - a LIST of settings ({"value": [setting, ...]}, or a JSON array).
 * A document says what it is by its "type", else by its members (a
 * setting has logs or metrics, a hub's properties have neither); anything
 * else, a security group or an example file's wrapper among them, is
 * refused with what was expected. Only what Warden reads is kept,
 * normalised (masks as "network/prefix", settings as {name, logs}), so that
 * nothing else a hub export holds, such as connection strings, reaches the
 * database. Free with hubconf_free().
 */
bool hubconf_parse(const char *buf, size_t len, const char *hub, struct hub_doc *doc, char *err,
                   size_t errlen);
void hubconf_free(struct hub_doc *doc);

/* A stored hub_config.config_json (or any "properties" object). Free with hub_props_free(). */
bool hub_props_parse(const char *buf, size_t len, struct hub_props *p, char *err, size_t errlen);
void hub_props_free(struct hub_props *p);

/*
 * One diagnostic setting object {name, logs[]} or, as the REST API writes
 * it, {name, properties: {logs[]}}: a stored hub_diagnostic_settings.
 * config_json, the details.config of a hub record, or what `warden hub diag
 * set` is given. A log names its category or its categoryGroup (allLogs,
 * audit). Free with hub_setting_free().
 */
bool hub_setting_parse(const char *buf, size_t len, struct hub_diag_setting *s, char *err,
                       size_t errlen);
void hub_setting_free(struct hub_diag_setting *s);

#endif
