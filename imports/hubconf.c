/*
 * imports/hubconf.c: the hub's network and diagnostic configuration (SPEC
 * 4.3), `warden hub import FILE [--hub NAME]`.
 *
 * A hub document may hold the hub's "properties" (as the IotHubs GET returns
 * them and `az iot hub show` prints them), its "diagnosticSettings", or both;
 * each part present replaces what Warden had for that hub, and a part absent
 * leaves it alone, so the two can come from separate Azure commands. A
 * diagnostic setting on its own, or a LIST of them, is recognised as such
 * (by its type, else by its logs or metrics), never taken for a hub named
 * after the setting. Only what Warden reads is kept, in a normalised form: an
 * export's other properties (routing endpoints and their connection strings
 * among them) never reach the database.
 *
 * The lab has one hub, the one whose key store the broker reads: a document
 * is imported for it (hub.name) whatever name it gives its hub, unless
 * --hub names another, and the command says so when the two differ.
 */
#include "imports.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EXIT_RUNTIME 1
#define EXIT_INVALID 2

static void fail(char *err, size_t errlen, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(char *err, size_t errlen, const char *where, const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s: %s", where, what);
}

/* "list[i]" followed by the item's name once it is known: `ipRules[0] ("lab")`. */
static void item_where(char *out, size_t outlen, const char *list, size_t i, const char *name)
{
    if (name != NULL)
        snprintf(out, outlen, "%s[%zu] (\"%s\")", list, i, name);
    else
        snprintf(out, outlen, "%s[%zu]", list, i);
}

/* A required name member (filterName, name, category) into out. */
static bool take_name(json_t *obj, const char *key, const char *where, char *out, char *err,
                      size_t errlen)
{
    json_t *v = import_member(obj, key);

    if (v == NULL) {
        fail(err, errlen, where, "%s is required", key);
        return false;
    }
    if (!json_is_string(v) || !import_name_valid(json_string_value(v), json_string_length(v))) {
        fail(err, errlen, where, "%s must be 1 to %d bytes of printable text", key,
             IMPORT_NAME_MAX);
        return false;
    }
    snprintf(out, IMPORT_NAME_MAX + 1, "%s", json_string_value(v));
    return true;
}

static bool take_bool(json_t *obj, const char *key, const char *where, bool *out, char *err,
                      size_t errlen)
{
    json_t *v = import_member(obj, key);

    if (v == NULL || !json_is_boolean(v)) {
        fail(err, errlen, where, "%s %s", key, v == NULL ? "is required" : "must be true or false");
        return false;
    }
    *out = json_is_true(v);
    return true;
}

/* ---- IP filter rules ------------------------------------------------------------------ */

/* The two forms differ in their action words only. */
struct rule_form {
    const char *list;         /* for messages: "properties.networkRuleSets.ipRules" */
    const char *allow, *deny; /* deny is NULL where the form has only Allow rules */
};

static const struct rule_form form_ip_rules = {"properties.networkRuleSets.ipRules", "Allow", NULL};
static const struct rule_form form_ip_filter = {"properties.ipFilterRules", "Accept", "Reject"};

static bool parse_ip_rule(json_t *obj, size_t i, const struct rule_form *f, struct hub_ip_rule *r,
                          char *err, size_t errlen)
{
    char where[256];
    json_t *action, *mask;
    const char *a;

    item_where(where, sizeof(where), f->list, i, NULL);
    if (!json_is_object(obj)) {
        fail(err, errlen, where, "a rule must be an object");
        return false;
    }
    if (!take_name(obj, "filterName", where, r->name, err, errlen))
        return false;
    item_where(where, sizeof(where), f->list, i, r->name);
    action = import_member(obj, "action");
    a = json_string_value(action);
    if (a != NULL && strcmp(a, f->allow) == 0) {
        r->allow = true;
    } else if (a != NULL && f->deny != NULL && strcmp(a, f->deny) == 0) {
        r->allow = false;
    } else {
        if (f->deny)
            fail(err, errlen, where, "action must be %s or %s", f->allow, f->deny);
        else
            fail(err, errlen, where, "action must be %s", f->allow);
        return false;
    }
    mask = import_member(obj, "ipMask");
    if (mask == NULL || !json_is_string(mask) ||
        !cidr_parse(json_string_value(mask), &r->net, &r->prefix)) {
        fail(err, errlen, where, "ipMask %s",
             mask == NULL ? "is required" : "is not an IP address or CIDR");
        return false;
    }
    return true;
}

/* The normalised rule: {filterName, action, ipMask "network/prefix"}. */
static json_t *ip_rule_json(const struct hub_ip_rule *r, const struct rule_form *f)
{
    char ip[64], mask[80];

    ip_format(&r->net, ip, sizeof(ip));
    snprintf(mask, sizeof(mask), "%s/%d", ip, r->prefix);
    return json_pack("{s:s, s:s, s:s}", "filterName", r->name, "action",
                     r->allow ? f->allow : f->deny, "ipMask", mask);
}

/* A rule list of one form into *rules (malloc'd) and its normalised array *norm. */
static bool parse_rule_list(json_t *arr, const struct rule_form *f, struct hub_ip_rule **rules,
                            size_t *n, json_t *norm, char *err, size_t errlen)
{
    json_t *el;
    size_t i;

    *rules = NULL;
    *n = 0;
    if (!json_is_array(arr) || json_array_size(arr) > HUB_MAX_RULES) {
        snprintf(err, errlen, "%s: must be an array of up to %d rules", f->list, HUB_MAX_RULES);
        return false;
    }
    if (json_array_size(arr) == 0)
        return true;
    if ((*rules = calloc(json_array_size(arr), sizeof(**rules))) == NULL) {
        snprintf(err, errlen, "%s: out of memory", f->list);
        return false;
    }
    json_array_foreach(arr, i, el) {
        struct hub_ip_rule *r = &(*rules)[i];
        char where[256];

        if (!parse_ip_rule(el, i, f, r, err, errlen))
            goto fail;
        /* filterName keys the recommendation about a rule, so it must name one rule. */
        for (size_t j = 0; j < i; j++) {
            if (strcmp((*rules)[j].name, r->name) == 0) {
                item_where(where, sizeof(where), f->list, i, r->name);
                fail(err, errlen, where, "filterName is also rule %zu", j);
                goto fail;
            }
        }
        if (json_array_append_new(norm, ip_rule_json(r, f)) != 0) {
            snprintf(err, errlen, "%s: out of memory", f->list);
            goto fail;
        }
        (*n)++;
    }
    return true;
fail:
    free(*rules);
    *rules = NULL;
    *n = 0;
    return false;
}

static bool parse_network_rule_sets(json_t *nrs, struct hub_props *p, json_t *norm, char *err,
                                    size_t errlen)
{
    json_t *rules, *arr;
    const char *a;

    if (!json_is_object(nrs)) {
        snprintf(err, errlen, "properties.networkRuleSets: must be an object");
        return false;
    }
    a = json_string_value(import_member(nrs, "defaultAction"));
    if (a == NULL || (strcmp(a, "Allow") != 0 && strcmp(a, "Deny") != 0)) {
        snprintf(err, errlen, "properties.networkRuleSets: defaultAction must be Allow or Deny");
        return false;
    }
    p->has_network_rule_sets = true;
    p->default_deny = strcmp(a, "Deny") == 0;
    if ((arr = json_array()) == NULL ||
        json_object_set_new(norm, "networkRuleSets",
                            json_pack("{s:s, s:o}", "defaultAction", a, "ipRules", arr)) != 0) {
        snprintf(err, errlen, "properties: out of memory");
        return false;
    }
    rules = import_member(nrs, "ipRules");
    if (rules == NULL)
        return true;
    return parse_rule_list(rules, &form_ip_rules, &p->ip_rules, &p->n_ip_rules, arr, err, errlen);
}

/* The properties object into p, and its normalised form into *norm. */
static bool parse_props(json_t *props, struct hub_props *p, json_t **norm, char *err, size_t errlen)
{
    json_t *nrs, *filters, *arr;
    bool ok = true;

    memset(p, 0, sizeof(*p));
    if (!json_is_object(props)) {
        snprintf(err, errlen, "properties: must be an object");
        return false;
    }
    if ((*norm = json_object()) == NULL) {
        snprintf(err, errlen, "properties: out of memory");
        return false;
    }
    if ((nrs = import_member(props, "networkRuleSets")) != NULL)
        ok = parse_network_rule_sets(nrs, p, *norm, err, errlen);
    if (ok && (filters = import_member(props, "ipFilterRules")) != NULL) {
        p->has_ip_filter_rules = true;
        arr = json_array();
        if (arr == NULL || json_object_set_new(*norm, "ipFilterRules", arr) != 0) {
            snprintf(err, errlen, "properties: out of memory");
            ok = false;
        } else {
            ok = parse_rule_list(filters, &form_ip_filter, &p->ip_filter_rules,
                                 &p->n_ip_filter_rules, arr, err, errlen);
        }
    }
    if (!ok) {
        hub_props_free(p);
        json_decref(*norm);
        *norm = NULL;
    }
    return ok;
}

void hub_props_free(struct hub_props *p)
{
    free(p->ip_rules);
    free(p->ip_filter_rules);
    memset(p, 0, sizeof(*p));
}

bool hub_props_parse(const char *buf, size_t len, struct hub_props *p, char *err, size_t errlen)
{
    json_t *root = import_json_load(buf, len, err, errlen), *norm = NULL;
    bool ok;

    memset(p, 0, sizeof(*p));
    if (root == NULL)
        return false;
    ok = parse_props(root, p, &norm, err, errlen);
    json_decref(norm);
    json_decref(root);
    return ok;
}

/* ---- diagnostic settings ------------------------------------------------------------------ */

static bool parse_retention(json_t *log, const char *where, struct hub_diag_log *l, json_t *norm,
                            char *err, size_t errlen)
{
    json_t *rp = import_member(log, "retentionPolicy"), *days;
    char at[600];

    if (rp == NULL)
        return true;
    snprintf(at, sizeof(at), "%s: retentionPolicy", where);
    if (!json_is_object(rp)) {
        fail(err, errlen, at, "must be an object");
        return false;
    }
    if (!take_bool(rp, "enabled", at, &l->retention_enabled, err, errlen))
        return false;
    days = import_member(rp, "days");
    if (days == NULL || !json_is_integer(days) || json_integer_value(days) < 0 ||
        json_integer_value(days) > HUB_MAX_RETENTION_DAYS) {
        fail(err, errlen, at, "days %s",
             days == NULL ? "is required" : "must be an integer from 0 to 36500");
        return false;
    }
    l->has_retention = true;
    l->retention_days = json_integer_value(days);
    if (json_object_set_new(norm, "retentionPolicy",
                            json_pack("{s:b, s:I}", "enabled", l->retention_enabled, "days",
                                      (json_int_t)l->retention_days)) != 0) {
        fail(err, errlen, at, "out of memory");
        return false;
    }
    return true;
}

static bool parse_log(json_t *log, const char *setting_where, size_t i, struct hub_diag_log *l,
                      json_t **norm, char *err, size_t errlen)
{
    char list[300], where[512];
    json_t *cat, *group;

    snprintf(list, sizeof(list), "%s: logs", setting_where);
    item_where(where, sizeof(where), list, i, NULL);
    if (!json_is_object(log)) {
        fail(err, errlen, where, "a log setting must be an object");
        return false;
    }
    cat = import_member(log, "category");
    group = import_member(log, "categoryGroup");
    if ((cat == NULL) == (group == NULL)) {
        fail(err, errlen, where, "needs a category or a categoryGroup (one of them)");
        return false;
    }
    l->is_group = group != NULL;
    if (!take_name(log, l->is_group ? "categoryGroup" : "category", where, l->category, err,
                   errlen))
        return false;
    item_where(where, sizeof(where), list, i, l->category);
    if (!take_bool(log, "enabled", where, &l->enabled, err, errlen))
        return false;
    *norm = json_pack("{s:s, s:b}", l->is_group ? "categoryGroup" : "category", l->category,
                      "enabled", l->enabled);
    if (*norm == NULL) {
        fail(err, errlen, where, "out of memory");
        return false;
    }
    return parse_retention(log, where, l, *norm, err, errlen);
}

/*
 * The log categories of a setting: "logs" as `az monitor diagnostic-settings
 * show` prints it, or "properties.logs" as the REST API returns it. NULL
 * when it has none; *bad (with err) when the two shapes are mixed.
 */
static json_t *setting_logs(json_t *obj, const char *where, bool *bad, char *err, size_t errlen)
{
    json_t *props = import_member(obj, "properties"), *logs = import_member(obj, "logs");

    *bad = false;
    if (props == NULL)
        return logs;
    if (!json_is_object(props)) {
        fail(err, errlen, where, "properties must be an object");
    } else if (logs != NULL) {
        fail(err, errlen, where, "logs are given both inside and outside properties");
    } else {
        return import_member(props, "logs");
    }
    *bad = true;
    return NULL;
}

static bool parse_setting(json_t *obj, const char *where0, struct hub_diag_setting *s, char *err,
                          size_t errlen)
{
    json_t *logs, *el, *norm = NULL, *norm_logs;
    char where[300];
    bool bad;
    size_t i;

    memset(s, 0, sizeof(*s));
    if (!json_is_object(obj)) {
        fail(err, errlen, where0, "a diagnostic setting must be an object");
        return false;
    }
    if (!take_name(obj, "name", where0, s->name, err, errlen))
        return false;
    snprintf(where, sizeof(where), "%s (\"%s\")", where0, s->name);
    logs = setting_logs(obj, where, &bad, err, errlen);
    if (bad)
        return false;
    if (logs != NULL && (!json_is_array(logs) || json_array_size(logs) > HUB_MAX_LOGS)) {
        fail(err, errlen, where, "logs must be an array of up to %d entries", HUB_MAX_LOGS);
        return false;
    }
    if ((norm_logs = json_array()) == NULL ||
        (norm = json_pack("{s:s, s:o}", "name", s->name, "logs", norm_logs)) == NULL ||
        (json_array_size(logs) > 0 &&
         (s->logs = calloc(json_array_size(logs), sizeof(*s->logs))) == NULL)) {
        fail(err, errlen, where, "out of memory");
        goto fail;
    }
    json_array_foreach(logs, i, el) {
        json_t *norm_log = NULL;

        if (!parse_log(el, where, i, &s->logs[i], &norm_log, err, errlen)) {
            json_decref(norm_log);
            goto fail;
        }
        if (json_array_append_new(norm_logs, norm_log) != 0) {
            fail(err, errlen, where, "out of memory");
            goto fail;
        }
        s->nlogs++;
    }
    if ((s->json = json_dumps(norm, JSON_COMPACT)) == NULL) {
        fail(err, errlen, where, "out of memory");
        goto fail;
    }
    json_decref(norm);
    return true;
fail:
    json_decref(norm);
    hub_setting_free(s);
    return false;
}

void hub_setting_free(struct hub_diag_setting *s)
{
    free(s->logs);
    free(s->json);
    memset(s, 0, sizeof(*s));
}

bool hub_setting_parse(const char *buf, size_t len, struct hub_diag_setting *s, char *err,
                       size_t errlen)
{
    json_t *root = import_json_load(buf, len, err, errlen);
    bool ok;

    memset(s, 0, sizeof(*s));
    if (root == NULL)
        return false;
    ok = parse_setting(root, "diagnostic setting", s, err, errlen);
    json_decref(root);
    return ok;
}

/* ---- what a document is ------------------------------------------------------------------ */

#define TYPE_IOTHUB  "Microsoft.Devices/IotHubs"
#define TYPE_SETTING "/diagnosticSettings" /* Microsoft.Insights/diagnosticSettings */

static bool ends_with_nocase(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

/* A member that holds an array, in root or in its properties. */
static bool has_array(json_t *obj, const char *key)
{
    return json_is_array(import_member(obj, key));
}

/*
 * True when obj reads as a diagnostic setting: its type says so, or it
 * holds logs or metrics (in properties, as the REST API writes them, or at
 * the top, as az prints them). A hub's properties have neither.
 */
static bool looks_like_setting(json_t *obj)
{
    const char *type = json_string_value(import_member(obj, "type"));
    json_t *props = import_member(obj, "properties");

    if (type != NULL && type[0] != '\0')
        return ends_with_nocase(type, TYPE_SETTING);
    return has_array(props, "logs") || has_array(props, "metrics") || has_array(obj, "logs") ||
           has_array(obj, "metrics");
}

/* The documents hub import tells apart; DOC_REFUSED leaves the reason in err. */
enum doc_shape { DOC_REFUSED, DOC_HUB, DOC_SETTING, DOC_SETTING_LIST };

static const char expected[] =
    "expected a hub ({\"name\", \"properties\": {\"networkRuleSets\", \"ipFilterRules\"}, "
    "\"diagnosticSettings\": [...]}, as the IotHubs GET returns it), a diagnostic setting "
    "({\"name\", \"properties\": {\"logs\": [...]}}) or a LIST of diagnostic settings "
    "({\"value\": [...]})";

static enum doc_shape typed_shape(const char *type, char *err, size_t errlen)
{
    if (strcasecmp(type, TYPE_IOTHUB) == 0)
        return DOC_HUB;
    if (ends_with_nocase(type, TYPE_SETTING))
        return DOC_SETTING;
    if (!import_name_valid(type, strlen(type)))
        snprintf(err, errlen, "type: not printable text; %s", expected);
    else if (strcasestr(type, "deviceSecurityGroups") != NULL)
        snprintf(err, errlen, "type \"%s\" is a security group: give it to `warden groups import`",
                 type);
    else
        snprintf(err, errlen,
                 "type \"%s\" is neither " TYPE_IOTHUB
                 " nor Microsoft.Insights/diagnosticSettings; %s",
                 type, expected);
    return DOC_REFUSED;
}

static enum doc_shape doc_shape(json_t *root, char *err, size_t errlen)
{
    json_t *type = import_member(root, "type");
    bool hub_parts;

    if (json_is_array(root))
        return DOC_SETTING_LIST;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "the document is not a JSON object; %s", expected);
        return DOC_REFUSED;
    }
    if (type != NULL && !json_is_string(type)) {
        snprintf(err, errlen, "type must be a string");
        return DOC_REFUSED;
    }
    if (json_string_length(type) > 0)
        return typed_shape(json_string_value(type), err, errlen);
    hub_parts = import_member(root, "properties") != NULL ||
                import_member(root, "diagnosticSettings") != NULL;
    if (json_object_get(root, "responses") != NULL && json_object_get(root, "parameters") != NULL)
        snprintf(err, errlen,
                 "an azure-rest-api-specs example file: import the REST body inside "
                 "it (responses.200.body)");
    else if (import_member(root, "value") != NULL && !hub_parts)
        return DOC_SETTING_LIST;
    else if (looks_like_setting(root))
        return DOC_SETTING;
    else if (hub_parts)
        return DOC_HUB;
    else
        snprintf(err, errlen, "not a hub document; %s", expected);
    return DOC_REFUSED;
}

/* ---- diagnostic settings, one or a list ---------------------------------------------------- */

/*
 * The settings of arr into doc. strict: each element must read as a
 * diagnostic setting (a LIST body of hubs is not one of settings); inside a
 * hub's diagnosticSettings the place says what they are.
 */
static bool parse_setting_list(json_t *arr, const char *list, bool strict, struct hub_doc *doc,
                               char *err, size_t errlen)
{
    json_t *el;
    size_t i;

    if (!json_is_array(arr) || json_array_size(arr) > HUB_MAX_SETTINGS) {
        snprintf(err, errlen, "%s: must be an array of up to %d settings", list, HUB_MAX_SETTINGS);
        return false;
    }
    doc->has_settings = true;
    if (json_array_size(arr) > 0 &&
        (doc->settings = calloc(json_array_size(arr), sizeof(*doc->settings))) == NULL) {
        snprintf(err, errlen, "%s: out of memory", list);
        return false;
    }
    json_array_foreach(arr, i, el) {
        struct hub_diag_setting *s = &doc->settings[i];
        char where[64];

        snprintf(where, sizeof(where), "%s[%zu]", list, i);
        if (strict && !looks_like_setting(el)) {
            fail(err, errlen, where,
                 "not a diagnostic setting (no logs, metrics or type "
                 "Microsoft.Insights/diagnosticSettings)");
            return false;
        }
        if (!parse_setting(el, where, s, err, errlen))
            return false;
        doc->nsettings++;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(doc->settings[j].name, s->name) == 0) {
                snprintf(err, errlen, "%s[%zu] (\"%s\"): name is also setting %zu", list, i,
                         s->name, j);
                return false;
            }
        }
    }
    return true;
}

/* A hub's diagnosticSettings: an array, or a LIST body {"value": [...]} pasted in as it came. */
static bool parse_hub_settings(json_t *v, struct hub_doc *doc, char *err, size_t errlen)
{
    if (json_is_object(v) && json_is_array(import_member(v, "value")))
        return parse_setting_list(import_member(v, "value"), "diagnosticSettings.value", false, doc,
                                  err, errlen);
    return parse_setting_list(v, "diagnosticSettings", false, doc, err, errlen);
}

static bool parse_one_setting(json_t *root, struct hub_doc *doc, char *err, size_t errlen)
{
    if (import_member(root, "name") == NULL) {
        snprintf(err, errlen,
                 "a diagnostic setting without a name: give it one with "
                 "`warden hub diag set NAME FILE`");
        return false;
    }
    doc->has_settings = true;
    if ((doc->settings = calloc(1, sizeof(*doc->settings))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    if (!parse_setting(root, "diagnostic setting", &doc->settings[0], err, errlen))
        return false;
    doc->nsettings = 1;
    return true;
}

/* ---- the document ----------------------------------------------------------------------- */

/*
 * The hub a resource id names (".../providers/Microsoft.Devices/IotHubs/NAME/..."),
 * copied into out, or "" when it names none.
 */
static void hub_of_id(json_t *id, char *out, size_t outlen)
{
    const char *s = json_string_value(id), *p = s ? strcasestr(s, "/IotHubs/") : NULL;
    size_t n;

    out[0] = '\0';
    if (p == NULL)
        return;
    p += strlen("/IotHubs/");
    n = strcspn(p, "/");
    if (n > 0 && n < outlen && import_hub_name_valid(p, n))
        snprintf(out, outlen, "%.*s", (int)n, p);
}

/* The hub name a hub document gives, kept to say so when it is not the one imported for. */
static bool take_named(json_t *root, struct hub_doc *doc, char *err, size_t errlen)
{
    json_t *v = import_member(root, "name");

    if (v == NULL)
        return true;
    if (!json_is_string(v)) {
        snprintf(err, errlen, "name must be a string");
        return false;
    }
    if (!import_hub_name_valid(json_string_value(v), json_string_length(v))) {
        snprintf(err, errlen,
                 "name: not a valid hub name (1 to %d bytes of printable text, no '/')",
                 IMPORT_NAME_MAX);
        return false;
    }
    snprintf(doc->named, sizeof(doc->named), "%s", json_string_value(v));
    return true;
}

static bool parse_hub(json_t *root, struct hub_doc *doc, char *err, size_t errlen)
{
    json_t *props, *settings, *norm = NULL;

    if (!take_named(root, doc, err, errlen))
        return false;
    props = import_member(root, "properties");
    settings = import_member(root, "diagnosticSettings");
    if (props == NULL && settings == NULL) {
        snprintf(err, errlen, "the document has neither properties nor diagnosticSettings");
        return false;
    }
    if (props != NULL) {
        if (!parse_props(props, &doc->props, &norm, err, errlen))
            return false;
        doc->has_props = true;
        doc->props_json = json_dumps(norm, JSON_COMPACT);
        json_decref(norm);
        if (doc->props_json == NULL) {
            snprintf(err, errlen, "properties: out of memory");
            return false;
        }
    }
    return settings == NULL || parse_hub_settings(settings, doc, err, errlen);
}

static bool parse_doc(json_t *root, struct hub_doc *doc, char *err, size_t errlen)
{
    switch (doc_shape(root, err, errlen)) {
    case DOC_HUB:
        doc->kind = HUB_DOC_HUB;
        return parse_hub(root, doc, err, errlen);
    case DOC_SETTING:
        doc->kind = HUB_DOC_SETTING;
        hub_of_id(import_member(root, "id"), doc->named, sizeof(doc->named));
        return parse_one_setting(root, doc, err, errlen);
    case DOC_SETTING_LIST:
        doc->kind = HUB_DOC_SETTING_LIST;
        if (json_is_array(root))
            return parse_setting_list(root, "", true, doc, err, errlen);
        return parse_setting_list(import_member(root, "value"), "value", true, doc, err, errlen);
    case DOC_REFUSED:
        break;
    }
    return false;
}

bool hubconf_parse(const char *buf, size_t len, const char *hub, struct hub_doc *doc, char *err,
                   size_t errlen)
{
    json_t *root;
    bool ok;

    memset(doc, 0, sizeof(*doc));
    if (hub == NULL || !import_hub_name_valid(hub, strlen(hub))) {
        snprintf(err, errlen,
                 "hub \"%.128s\": not a valid hub name (1 to %d bytes of printable "
                 "text, no '/')",
                 hub ? hub : "", IMPORT_NAME_MAX);
        return false;
    }
    snprintf(doc->hub, sizeof(doc->hub), "%s", hub);
    if ((root = import_json_load(buf, len, err, errlen)) == NULL)
        return false;
    err[0] = '\0';
    ok = parse_doc(root, doc, err, errlen);
    json_decref(root);
    if (!ok)
        hubconf_free(doc);
    return ok;
}

void hubconf_free(struct hub_doc *doc)
{
    hub_props_free(&doc->props);
    free(doc->props_json);
    for (size_t i = 0; i < doc->nsettings; i++)
        hub_setting_free(&doc->settings[i]);
    free(doc->settings);
    memset(doc, 0, sizeof(*doc));
}

/* ---- the database ------------------------------------------------------------------------- */

static const char sql_hub_config_put[] =
    "INSERT INTO hub_config (hub, config_json, updated_ms) VALUES (?1, ?2, ?3) "
    "ON CONFLICT(hub) DO UPDATE SET config_json = excluded.config_json, "
    "updated_ms = excluded.updated_ms";
/* ?2 NULL: every setting of the hub (a list replaces them); else the one of that name. */
static const char sql_hub_settings_clear[] =
    "DELETE FROM hub_diagnostic_settings WHERE hub = ?1 AND (?2 IS NULL OR name = ?2)";
static const char sql_hub_setting_add[] =
    "INSERT INTO hub_diagnostic_settings (hub, name, config_json, updated_ms) "
    "VALUES (?1, ?2, ?3, ?4)";

static bool put_config(sqlite3 *db, const struct hub_doc *doc, int64_t now_ms)
{
    sqlite3_stmt *st = NULL;
    bool ok = sqlite3_prepare_v2(db, sql_hub_config_put, -1, &st, NULL) == SQLITE_OK &&
              sqlite3_bind_text(st, 1, doc->hub, -1, SQLITE_STATIC) == SQLITE_OK &&
              sqlite3_bind_text(st, 2, doc->props_json, -1, SQLITE_STATIC) == SQLITE_OK &&
              sqlite3_bind_int64(st, 3, now_ms) == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE;

    sqlite3_finalize(st);
    return ok;
}

static bool replace_settings(sqlite3 *db, const struct hub_doc *doc, int64_t now_ms)
{
    sqlite3_stmt *st = NULL;
    const char *one = doc->kind == HUB_DOC_SETTING ? doc->settings[0].name : NULL;
    bool ok = sqlite3_prepare_v2(db, sql_hub_settings_clear, -1, &st, NULL) == SQLITE_OK &&
              sqlite3_bind_text(st, 1, doc->hub, -1, SQLITE_STATIC) == SQLITE_OK &&
              (one ? sqlite3_bind_text(st, 2, one, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 2)) ==
                  SQLITE_OK &&
              sqlite3_step(st) == SQLITE_DONE;

    sqlite3_finalize(st);
    st = NULL;
    ok = ok && sqlite3_prepare_v2(db, sql_hub_setting_add, -1, &st, NULL) == SQLITE_OK;
    for (size_t i = 0; ok && i < doc->nsettings; i++) {
        ok = sqlite3_bind_text(st, 1, doc->hub, -1, SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_bind_text(st, 2, doc->settings[i].name, -1, SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_bind_text(st, 3, doc->settings[i].json, -1, SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_bind_int64(st, 4, now_ms) == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return ok;
}

/* The parts the document has, in one transaction. */
static bool hubconf_write(sqlite3 *db, const struct hub_doc *doc, int64_t now_ms, char *err,
                          size_t errlen)
{
    bool ok = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;

    if (ok && doc->has_props)
        ok = put_config(db, doc, now_ms);
    if (ok && doc->has_settings)
        ok = replace_settings(db, doc, now_ms);
    if (ok)
        ok = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
    if (!ok) {
        snprintf(err, errlen, "database: %s", sqlite3_errmsg(db));
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    return ok;
}

/* What was imported, in a line. */
static void hubconf_summary(const struct hub_doc *doc)
{
    const struct hub_props *p = &doc->props;

    if (doc->kind == HUB_DOC_SETTING) {
        printf("hub %s: diagnostic setting \"%s\" imported (%zu log categor%s; the hub's other "
               "settings kept)\n",
               doc->hub, doc->settings[0].name, doc->settings[0].nlogs,
               doc->settings[0].nlogs == 1 ? "y" : "ies");
        return;
    }
    if (doc->kind == HUB_DOC_SETTING_LIST && doc->nsettings == 0) {
        printf("hub %s: the list holds no diagnostic setting: the hub's settings are removed\n",
               doc->hub);
        return;
    }
    printf("hub %s:", doc->hub);
    if (doc->has_props && p->has_network_rule_sets)
        printf(" network rules (default %s, %zu rules)", p->default_deny ? "Deny" : "Allow",
               p->n_ip_rules);
    if (doc->has_props && p->has_ip_filter_rules)
        printf("%s IP filter rules (%zu, older form)", p->has_network_rule_sets ? "," : "",
               p->n_ip_filter_rules);
    if (doc->has_props && !p->has_network_rule_sets && !p->has_ip_filter_rules)
        printf(" no IP filter");
    if (doc->has_settings)
        printf("%s %zu diagnostic setting%s", doc->has_props ? "," : "", doc->nsettings,
               doc->nsettings == 1 ? "" : "s");
    printf(" imported%s\n",
           doc->kind == HUB_DOC_SETTING_LIST ? " (they replace the hub's settings)" : "");
}

/* What became of the IP filter in the lab hub's key store. */
enum keystore_result { KEYSTORE_APPLIED, KEYSTORE_OTHER_HUB, KEYSTORE_FAILED };

/*
 * The lab broker's plugin applies the hub's IP filter to connections: give it
 * the rules just imported, when they are the lab hub's (the key store serves
 * one hub; another hub's rules are stored for the recommendations only).
 * networkRuleSets win over the older ipFilterRules, as on IoT Hub when both
 * are present. *lab_hub is the key store's hub.
 */
static enum keystore_result keystore_ip_filter(const struct config *cfg, const struct hub_doc *doc,
                                               char *lab_hub, size_t lab_len, char *err,
                                               size_t errlen)
{
    const struct hub_props *p = &doc->props;
    const struct hub_ip_rule *rules = NULL;
    char path[1024];
    struct hub_keys k;
    size_t n = 0;
    bool ok = true;

    hub_keys_default_path(cfg->hub_keystore, cfg->db_path, path, sizeof(path));
    int lock = hub_keys_begin(path, &k, err, errlen);
    if (lock < 0)
        return KEYSTORE_FAILED;
    snprintf(lab_hub, lab_len, "%s", k.hub[0] ? k.hub : cfg->hub_name);
    if (strcmp(doc->hub, lab_hub) != 0)
        return hub_keys_end(lock, path, &k, false, err, errlen) ? KEYSTORE_OTHER_HUB
                                                                : KEYSTORE_FAILED;
    snprintf(k.hub, sizeof(k.hub), "%s", doc->hub);
    k.ip_mode = HUB_KEYS_IP_NONE;
    k.default_allow = true;
    if (p->has_network_rule_sets) {
        k.ip_mode = HUB_KEYS_IP_RULES;
        k.default_allow = !p->default_deny;
        rules = p->ip_rules, n = p->n_ip_rules;
    } else if (p->has_ip_filter_rules) {
        k.ip_mode = HUB_KEYS_IP_LEGACY;
        rules = p->ip_filter_rules, n = p->n_ip_filter_rules;
    }
    free(k.rules);
    k.rules = n ? calloc(n, sizeof(*k.rules)) : NULL;
    k.nrules = 0;
    if (n != 0 && k.rules == NULL)
        ok = false;
    for (size_t i = 0; ok && i < n; i++) {
        struct hub_keys_rule *r = &k.rules[k.nrules++];
        snprintf(r->name, sizeof(r->name), "%s", rules[i].name);
        r->allow = rules[i].allow;
        r->net = rules[i].net;
        r->prefix = rules[i].prefix;
    }
    ok = ok && hub_keys_ensure_service(&k);
    if (!ok)
        snprintf(err, errlen, "out of memory or no random bytes");
    return hub_keys_end(lock, path, &k, ok, err, errlen) && ok ? KEYSTORE_APPLIED : KEYSTORE_FAILED;
}

/* The line that says what the lab hub now enforces, or why it enforces nothing of this. */
static void keystore_summary(const struct hub_doc *doc, enum keystore_result r, const char *lab_hub)
{
    const struct hub_props *p = &doc->props;

    if (r == KEYSTORE_OTHER_HUB)
        printf("  IP filter stored but not enforced: the lab hub is \"%s\", not \"%s\" (--hub %s "
               "applies it there)\n",
               lab_hub, doc->hub, lab_hub);
    else if (p->has_network_rule_sets)
        printf("  the lab hub now enforces networkRuleSets (default %s, %zu rules)%s\n",
               p->default_deny ? "Deny" : "Allow", p->n_ip_rules,
               p->has_ip_filter_rules ? "; the older ipFilterRules are kept but not in force, as "
                                        "on IoT Hub"
                                      : "");
    else if (p->has_ip_filter_rules)
        printf("  the lab hub now enforces ipFilterRules (%zu, in order, accept when none "
               "matches)\n",
               p->n_ip_filter_rules);
    else
        printf("  the lab hub now has no IP filter: every address may connect\n");
}

static const char hub_usage[] =
    "usage: warden hub import FILE [--hub NAME]\n"
    "       warden hub cert add NAME FILE | cert delete NAME\n"
    "       warden hub diag set NAME FILE | diag delete NAME\n";

/* `hub import FILE [--hub NAME]`: *path and *hub (NULL when not given); false on a usage error. */
static bool import_args(int argc, char **argv, const char **path, const char **hub)
{
    *path = *hub = NULL;
    if (argc < 3 || strcmp(argv[1], "import") != 0)
        return false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--hub") == 0 && i + 1 < argc && *hub == NULL)
            *hub = argv[++i];
        else if (strncmp(argv[i], "--hub=", 6) == 0 && *hub == NULL)
            *hub = argv[i] + 6;
        else if (argv[i][0] != '-' && *path == NULL)
            *path = argv[i];
        else
            return false;
    }
    return *path != NULL;
}

int import_cmd_hub(int argc, char **argv, struct store *s, const struct config *cfg)
{
    const char *path, *hub;
    enum keystore_result ks = KEYSTORE_APPLIED;
    char err[512], lab_hub[HUB_KEYS_NAME_MAX + 1] = "", *buf;
    struct hub_doc doc;
    size_t len;

    if (!import_args(argc, argv, &path, &hub)) {
        fputs(hub_usage, stderr);
        return EXIT_INVALID;
    }
    if ((buf = import_read_file(path, HUB_DOC_MAX_BYTES, &len, err, sizeof(err))) == NULL) {
        fprintf(stderr, "warden hub: %s\n", err);
        return EXIT_RUNTIME;
    }
    /* The lab has one hub: a document is for it, whatever its own name, unless --hub says. */
    if (!hubconf_parse(buf, len, hub ? hub : cfg->hub_name, &doc, err, sizeof(err))) {
        free(buf);
        fprintf(stderr, "warden hub: %s: %s (nothing imported)\n", path, err);
        return EXIT_INVALID;
    }
    free(buf);
    if (!hubconf_write(store_sqlite(s), &doc, clock_now_ms(), err, sizeof(err))) {
        hubconf_free(&doc);
        fprintf(stderr, "warden hub: %s (nothing imported)\n", err);
        return EXIT_RUNTIME;
    }
    if (doc.has_props && (ks = keystore_ip_filter(cfg, &doc, lab_hub, sizeof(lab_hub), err,
                                                  sizeof(err))) == KEYSTORE_FAILED) {
        hubconf_free(&doc);
        fprintf(stderr, "warden hub: imported, but the lab hub's key store is not updated: %s\n",
                err);
        return EXIT_RUNTIME;
    }
    hubconf_summary(&doc);
    if (doc.named[0] != '\0' && strcmp(doc.named, doc.hub) != 0)
        printf("  the document is for hub \"%s\"; imported for \"%s\"%s\n", doc.named, doc.hub,
               hub ? "" : ", the lab hub (--hub NAME to import it for another)");
    if (doc.has_props)
        keystore_summary(&doc, ks, lab_hub);
    hubconf_free(&doc);
    return 0;
}
