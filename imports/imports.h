/*
 * imports/imports.h: the documents users bring from Azure besides security
 * groups (groups.h), parsed and validated without a database: the device
 * registry export (SPEC 4.2) and the hub's network and diagnostic
 * configuration (SPEC 4.3). The import commands, the recommendations
 * (evaluator/recs.c) and the fuzz targets use them. The import commands'
 * entry points, which main.c calls, are here too.
 *
 * Every parser takes (buf, len), checks types strictly, and on failure
 * writes one message into err that names the element, device, rule or
 * setting at fault, and leaves nothing allocated. Secrets (symmetric keys)
 * are never copied out of a parser and never appear in a message.
 */
#ifndef WARDEN_IMPORTS_IMPORTS_H
#define WARDEN_IMPORTS_IMPORTS_H

#include "../common/common.h"
#include "../store/store.h"

#include "../hub/hubkeys.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Names Warden keeps (hubs, filters, settings, log categories): bytes, not counting the NUL. */
#define IMPORT_NAME_MAX 128
/* Nesting deeper than this is refused before Jansson (which recurses) sees it. */
#define IMPORT_MAX_DEPTH 32

/* ---- the import commands (main.c) ---------------------------------------- */

/*
 * Command-line entry points. argv[0] is the command ("groups", "registry",
 * "hub", "intel"); each returns the exit status (0, 1 runtime, 2 usage or
 * invalid input) and prints its own errors, naming the offending item.
 */
int import_cmd_groups(int argc, char **argv, struct store *s);   /* import F [--name N] | export NAME | list */
int import_cmd_registry(int argc, char **argv, struct store *s,
                      const struct config *cfg); /* import F | add | rm | token */
/* import F [--hub N], from hubctl_cmd (hubctl.h), `warden hub`'s entry */
int import_cmd_hub(int argc, char **argv, struct store *s, const struct config *cfg);
int import_cmd_intel(int argc, char **argv, struct store *s);    /* load F [--name N] | list | drop N */

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

/* One line of a JSON-lines file, as import_json_load; the message gives the column only. */
json_t *import_json_load_line(const char *buf, size_t len, char *err, size_t errlen);

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
/* Refusals a failed parse keeps the messages of (all are counted). */
#define REGISTRY_REFUSALS_KEPT 20

/*
 * One device identity, validated. The database keeps a symmetric key only as
 * its fingerprint: the lower-case hex SHA-256 of the key's decoded bytes, so
 * two spellings of one key (with or without '=' padding) fingerprint alike;
 * the key itself goes only to the lab hub's key store (hub/hubkeys.h). A
 * thumbprint is kept normalised: lower-case hex, separators removed, 40
 * (SHA-1) or 64 (SHA-256) digits.
 *
 * What an element does not state is left as it was by the import (a new
 * device gets IoT Hub's defaults): a device twin carries no keys, a Device
 * object no tags, an export made without keys has "authentication": null.
 */
struct reg_identity {
    char device_id[129];
    size_t pos;         /* the element's index, line number or member index */
    char auth_type[24]; /* sas, selfSigned, certificateAuthority, none; "" when not stated */
    char security_group[129]; /* tags.SecurityGroup ("default" if none); "" when no tags */
    char status[16];         /* enabled, disabled; "" when not stated */
    bool states_sas;         /* the element says what the symmetric keys are (maybe none) */
    bool states_x509;        /* ...and the thumbprints */
    bool has_cred[CRED_KIND_COUNT];
    char fingerprint[CRED_KIND_COUNT][65];
    char key[2][HUB_KEYS_KEY_MAX + 1]; /* the symmetric keys as given (secret: cleanse) */
};

/* The shapes a registry document comes in. */
enum reg_shape {
    REG_SHAPE_ARRAY,        /* a JSON array of Device objects or twins */
    REG_SHAPE_LINES,        /* JSON lines, one device a line: the bulk export's devices.txt */
    REG_SHAPE_DEVICE,       /* one Device object: az iot hub device-identity show */
    REG_SHAPE_STATE_EXPORT, /* az iot hub state export: {"devices": {id: {identity, twin}}} */
};
const char *registry_shape_name(enum reg_shape shape);

/* A parsed registry document. */
struct reg_doc {
    enum reg_shape shape;
    struct reg_identity *ids; /* malloc'd, n of them; NULL when n is 0 */
    size_t n;
    size_t elements; /* devices in the document, refused ones included */
    size_t refused;  /* elements refused: the whole document is when any is */
    char refusal[REGISTRY_REFUSALS_KEPT][320]; /* the first refusals, each naming its element */
    size_t modules; /* a state export's module identities, not imported */
    bool has_arm;   /* a state export's hub template ("arm"), not read */
};

/*
 * A registry document in any of IoT Hub's shapes (enum reg_shape). An
 * element is a Device object as the REST API and the bulk export write it
 * (deviceId, or "id" in the export; authentication.type,
 * authentication.symmetricKey.primaryKey/secondaryKey,
 * authentication.x509Thumbprint.primaryThumbprint/secondaryThumbprint;
 * status; tags.SecurityGroup) or a device twin as `az iot hub
 * device-identity list` prints it (authenticationType, top-level
 * x509Thumbprint); other members are ignored, importMode "delete" is
 * refused. Every element is checked, and a device id twice in one document
 * is refused. All or nothing: on success doc->ids holds every device; on
 * failure it holds none, err says why (the document, or how many elements
 * were refused) and doc->refusal the first refused elements, each with its
 * index, line or key and the reason. Free with registry_doc_free().
 */
bool registry_parse(const char *buf, size_t len, struct reg_doc *doc, char *err, size_t errlen);
void registry_doc_free(struct reg_doc *doc);

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
