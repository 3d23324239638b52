/*
 * imports/groups.c: security groups (SPEC 4.1). A group document is
 * parsed into struct group, every rule present; the normalised document is
 * what security_groups.rules_json holds and what `warden groups export`
 * prints, so a stored group reads back exactly as it was checked.
 *
 * `warden groups import FILE [--name N] | export NAME | list`.
 */
#include "groups.h"
#include "imports.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EXIT_RUNTIME 1
#define EXIT_INVALID 2

static const char *const rule_names[GROUP_RULE_COUNT] = {
    [GROUP_ACTIVE_CONNECTIONS] = "ActiveConnectionsNotInAllowedRange",
    [GROUP_MQTT_C2D] = "MqttC2DMessagesNotInAllowedRange",
    [GROUP_MQTT_D2C] = "MqttD2CMessagesNotInAllowedRange",
    [GROUP_QUEUE_PURGES] = "QueuePurgesNotInAllowedRange",
    [GROUP_DIRECT_METHODS] = "DirectMethodInvokesNotInAllowedRange",
    [GROUP_MQTT_C2D_REJECTED] = "MqttC2DRejectedMessagesNotInAllowedRange",
    [GROUP_TWIN_UPDATES] = "TwinUpdatesNotInAllowedRange",
    [GROUP_UNAUTHORIZED] = "UnauthorizedOperationsNotInAllowedRange",
    [GROUP_AMQP_C2D] = "AmqpC2DMessagesNotInAllowedRange",
    [GROUP_HTTP_C2D] = "HttpC2DMessagesNotInAllowedRange",
    [GROUP_AMQP_C2D_REJECTED] = "AmqpC2DRejectedMessagesNotInAllowedRange",
    [GROUP_HTTP_C2D_REJECTED] = "HttpC2DRejectedMessagesNotInAllowedRange",
    [GROUP_AMQP_D2C] = "AmqpD2CMessagesNotInAllowedRange",
    [GROUP_HTTP_D2C] = "HttpD2CMessagesNotInAllowedRange",
    [GROUP_FAILED_LOCAL_LOGINS] = "FailedLocalLoginsNotInAllowedRange",
    [GROUP_FILE_UPLOADS] = "FileUploadsNotInAllowedRange",
};

/* Allow lists are numbered after the time-window rules when tracking duplicates. */
enum { ALLOW_OUT = GROUP_RULE_COUNT, ALLOW_IN, ALLOW_USERS, ALLOW_PROCESSES, ALL_RULES };

static const char *const allow_names[ALL_RULES - GROUP_RULE_COUNT] = {
    [ALLOW_OUT - GROUP_RULE_COUNT] = GROUP_ALLOW_OUT_NAME,
    [ALLOW_IN - GROUP_RULE_COUNT] = GROUP_ALLOW_IN_NAME,
    [ALLOW_USERS - GROUP_RULE_COUNT] = GROUP_ALLOW_USERS_NAME,
    [ALLOW_PROCESSES - GROUP_RULE_COUNT] = GROUP_ALLOW_PROCESSES_NAME,
};

/* The one type a group document may say it is (Azure writes it in this case). */
#define GROUP_RESOURCE_TYPE "Microsoft.Security/deviceSecurityGroups"

const char *group_rule_name(enum group_rule r)
{
    WARDEN_ASSERT(r >= 0 && r < GROUP_RULE_COUNT);
    return rule_names[r];
}

bool group_rule_lookup(const char *name, enum group_rule *r)
{
    for (int i = 0; i < GROUP_RULE_COUNT; i++) {
        if (strcmp(name, rule_names[i]) == 0) {
            *r = (enum group_rule)i;
            return true;
        }
    }
    return false;
}

bool group_rule_observable(enum group_rule r)
{
    WARDEN_ASSERT(r >= 0 && r < GROUP_RULE_COUNT);
    return r < GROUP_RULE_OBSERVABLE;
}

bool group_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > GROUP_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

void group_init(struct group *g, const char *name)
{
    memset(g, 0, sizeof(*g));
    if (name != NULL)
        snprintf(g->name, sizeof(g->name), "%s", name);
    for (int i = 0; i < GROUP_RULE_COUNT; i++)
        g->tw[i].window_ms = GROUP_WINDOW_DEFAULT_MS;
}

static void names_free(struct group_names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->values[i]);
    free(l->values);
    l->values = NULL;
    l->n = 0;
}

void group_free(struct group *g)
{
    free(g->allow_out.cidrs);
    free(g->allow_in.cidrs);
    g->allow_out.cidrs = g->allow_in.cidrs = NULL;
    g->allow_out.n = g->allow_in.n = 0;
    names_free(&g->users);
    names_free(&g->processes);
}

int group_enabled_unobservable(const struct group *g)
{
    int n = g->users.enabled + g->processes.enabled;

    for (int i = GROUP_RULE_OBSERVABLE; i < GROUP_RULE_COUNT; i++)
        n += g->tw[i].enabled;
    return n;
}

int group_enabled_rules(const struct group *g)
{
    int n = g->allow_out.enabled + g->allow_in.enabled + g->users.enabled + g->processes.enabled;

    for (int i = 0; i < GROUP_RULE_COUNT; i++)
        n += g->tw[i].enabled;
    return n;
}

bool group_allow_contains(const struct group_allow *a, const struct ip_addr *ip)
{
    struct ip_addr addr = *ip;

    ip_unmap(&addr);
    for (size_t i = 0; i < a->n; i++) {
        if (cidr_contains(&a->cidrs[i].net, a->cidrs[i].prefix, &addr))
            return true;
    }
    return false;
}

/* ---- parsing ------------------------------------------------------------------ */

/* Where the parser is, for messages: "timeWindowRules[2] (MqttD2C...)". */
struct where {
    const char *list;
    size_t index;
    const char *rule; /* NULL until the rule type is known */
};

static void fail(char *err, size_t errlen, const struct where *w, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(char *err, size_t errlen, const struct where *w, const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (w == NULL)
        snprintf(err, errlen, "%s", what);
    else if (w->rule != NULL)
        snprintf(err, errlen, "%s[%zu] (%s): %s", w->list, w->index, w->rule, what);
    else
        snprintf(err, errlen, "%s[%zu]: %s", w->list, w->index, what);
}

/*
 * A value from the document, quoted for a message: at most 64 bytes, and
 * only when printable (it goes to a terminal or into an API response).
 */
static const char *quoted(json_t *v, char *out, size_t outlen)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);

    if (s == NULL || !utf8_valid(s, n) || !text_printable(s, n))
        snprintf(out, outlen, "(unprintable)");
    else if (n > 64)
        snprintf(out, outlen, "\"%.61s...\"", s);
    else
        snprintf(out, outlen, "\"%s\"", s);
    return out;
}

/* The common part of every rule: its type (known to the caller) and isEnabled. */
static bool take_enabled(json_t *rule, const struct where *w, bool *enabled, char *err,
                         size_t errlen)
{
    json_t *v = import_member(rule, "isEnabled");

    if (v == NULL) {
        fail(err, errlen, w, "isEnabled is required");
        return false;
    }
    if (!json_is_boolean(v)) {
        fail(err, errlen, w, "isEnabled must be true or false");
        return false;
    }
    *enabled = json_is_true(v);
    return true;
}

static bool take_threshold(json_t *rule, const char *key, bool required, const struct where *w,
                           int64_t *out, char *err, size_t errlen)
{
    json_t *v = import_member(rule, key);
    json_int_t x;

    if (v == NULL) {
        if (required)
            fail(err, errlen, w, "%s is required on an enabled rule", key);
        return !required;
    }
    if (!json_is_integer(v)) {
        fail(err, errlen, w, "%s must be an integer", key);
        return false;
    }
    x = json_integer_value(v);
    if (x < 0) {
        fail(err, errlen, w, "%s %lld is negative", key, (long long)x);
        return false;
    }
    if (x > GROUP_THRESHOLD_MAX) {
        fail(err, errlen, w, "%s %lld is larger than %lld", key, (long long)x,
             (long long)GROUP_THRESHOLD_MAX);
        return false;
    }
    *out = x;
    return true;
}

static bool take_window(json_t *rule, bool required, const struct where *w, int64_t *out, char *err,
                        size_t errlen)
{
    json_t *v = import_member(rule, "timeWindowSize");
    char q[80];
    int64_t ms;

    if (v == NULL) {
        if (required)
            fail(err, errlen, w, "timeWindowSize is required on an enabled rule");
        return !required;
    }
    if (!json_is_string(v)) {
        fail(err, errlen, w, "timeWindowSize must be an ISO 8601 duration string");
        return false;
    }
    if (!duration_parse(json_string_value(v), &ms)) {
        fail(err, errlen, w, "timeWindowSize %s is not an ISO 8601 duration",
             quoted(v, q, sizeof(q)));
        return false;
    }
    if (ms < GROUP_WINDOW_MIN_MS || ms > GROUP_WINDOW_MAX_MS) {
        fail(err, errlen, w, "timeWindowSize %s is outside PT10S..P7D", quoted(v, q, sizeof(q)));
        return false;
    }
    if (ms % GROUP_WINDOW_STEP_MS != 0) {
        fail(err, errlen, w, "timeWindowSize %s is not a multiple of 10 seconds",
             quoted(v, q, sizeof(q)));
        return false;
    }
    *out = ms;
    return true;
}

static bool parse_tw_rule(json_t *rule, const struct where *w, struct group_tw_rule *out, char *err,
                          size_t errlen)
{
    struct group_tw_rule t = {false, 0, 0, GROUP_WINDOW_DEFAULT_MS};

    if (!take_enabled(rule, w, &t.enabled, err, errlen) ||
        !take_threshold(rule, "minThreshold", t.enabled, w, &t.min, err, errlen) ||
        !take_threshold(rule, "maxThreshold", t.enabled, w, &t.max, err, errlen) ||
        !take_window(rule, t.enabled, w, &t.window_ms, err, errlen))
        return false;
    if (t.min > t.max) {
        fail(err, errlen, w, "minThreshold %lld is greater than maxThreshold %lld",
             (long long)t.min, (long long)t.max);
        return false;
    }
    *out = t;
    return true;
}

/* An IPv4-mapped IPv6 range (::ffff:0:0/96 or narrower) is the IPv4 range it maps. */
static void unmap_cidr(struct group_cidr *c)
{
    if (c->net.family == 6 && c->prefix >= 96) {
        struct ip_addr a = c->net;

        ip_unmap(&a);
        if (a.family == 4) {
            c->net = a;
            c->prefix -= 96;
        }
    }
}

/*
 * What every allow list starts with: isEnabled, and its allowlistValues,
 * which only a disabled rule may leave out (*values is then NULL).
 */
static bool allow_values(json_t *rule, const struct where *w, bool *enabled, json_t **values,
                         char *err, size_t errlen)
{
    if (!take_enabled(rule, w, enabled, err, errlen))
        return false;
    *values = import_member(rule, "allowlistValues");
    if (*values == NULL && *enabled) {
        fail(err, errlen, w, "allowlistValues is required on an enabled rule");
        return false;
    }
    return true;
}

static bool parse_allow_rule(json_t *rule, const struct where *w, struct group_allow *out,
                             char *err, size_t errlen)
{
    struct group_allow a = {false, NULL, 0};
    json_t *values, *v;
    size_t i;
    char q[80];

    if (!allow_values(rule, w, &a.enabled, &values, err, errlen))
        return false;
    if (values == NULL) {
        *out = a;
        return true;
    }
    if (!json_is_array(values)) {
        fail(err, errlen, w, "allowlistValues must be an array of CIDRs");
        return false;
    }
    if (json_array_size(values) > GROUP_ALLOW_MAX) {
        fail(err, errlen, w, "allowlistValues has more than %d entries", GROUP_ALLOW_MAX);
        return false;
    }
    if (json_array_size(values) > 0 &&
        (a.cidrs = calloc(json_array_size(values), sizeof(*a.cidrs))) == NULL) {
        fail(err, errlen, w, "out of memory");
        return false;
    }
    json_array_foreach(values, i, v) {
        struct group_cidr *c = &a.cidrs[a.n];

        if (!json_is_string(v) || !cidr_parse(json_string_value(v), &c->net, &c->prefix)) {
            fail(err, errlen, w, "allowlistValues[%zu] %s is not an IP address or CIDR", i,
                 json_is_string(v) ? quoted(v, q, sizeof(q)) : "(not a string)");
            free(a.cidrs);
            return false;
        }
        unmap_cidr(c);
        a.n++;
    }
    *out = a;
    return true;
}

/*
 * An allow list of names (LocalUserNotAllowed, ProcessNotAllowed): kept as
 * given, each value printable text, so that it can be shown and exported.
 */
static bool parse_names_rule(json_t *rule, const struct where *w, struct group_names *out,
                             char *err, size_t errlen)
{
    struct group_names l = {false, NULL, 0};
    json_t *values, *v;
    size_t i;

    if (!allow_values(rule, w, &l.enabled, &values, err, errlen))
        return false;
    if (values == NULL) {
        *out = l;
        return true;
    }
    if (!json_is_array(values) || json_array_size(values) > GROUP_ALLOW_MAX) {
        fail(err, errlen, w, "allowlistValues must be an array of up to %d strings",
             GROUP_ALLOW_MAX);
        return false;
    }
    if (json_array_size(values) > 0 &&
        (l.values = calloc(json_array_size(values), sizeof(*l.values))) == NULL) {
        fail(err, errlen, w, "out of memory");
        return false;
    }
    json_array_foreach(values, i, v) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);

        if (s == NULL || n > GROUP_VALUE_MAX || !utf8_valid(s, n) || !text_printable(s, n) ||
            memchr(s, '\0', n) != NULL) {
            fail(err, errlen, w,
                 "allowlistValues[%zu] must be a string of up to %d bytes of "
                 "printable text",
                 i, GROUP_VALUE_MAX);
            names_free(&l);
            return false;
        }
        if ((l.values[l.n] = strndup(s, n)) == NULL) {
            fail(err, errlen, w, "out of memory");
            names_free(&l);
            return false;
        }
        l.n++;
    }
    *out = l;
    return true;
}

/* The rule type of element i of list, as an index below ALL_RULES; -1 when unknown. */
static int rule_type(json_t *rule, const char *list, size_t i, struct where *w, char *err,
                     size_t errlen)
{
    json_t *t;
    enum group_rule r;
    const char *s;
    char q[80];

    w->list = list;
    w->index = i;
    w->rule = NULL;
    if (!json_is_object(rule)) {
        fail(err, errlen, w, "a rule must be an object");
        return -1;
    }
    t = import_member(rule, "ruleType");
    if (t == NULL || !json_is_string(t)) {
        fail(err, errlen, w, "ruleType %s", t == NULL ? "is required" : "must be a string");
        return -1;
    }
    s = json_string_value(t);
    if (group_rule_lookup(s, &r)) {
        w->rule = rule_names[r];
        return (int)r;
    }
    for (int a = ALLOW_OUT; a < ALL_RULES; a++) {
        if (strcmp(s, allow_names[a - GROUP_RULE_COUNT]) == 0) {
            w->rule = allow_names[a - GROUP_RULE_COUNT];
            return a;
        }
    }
    fail(err, errlen, w, "unknown rule type %s", quoted(t, q, sizeof(q)));
    return -1;
}

/* Array member key of props, or NULL when absent; *bad when present and not an array. */
static json_t *rule_list(json_t *props, const char *key, bool *bad, char *err, size_t errlen)
{
    json_t *v = import_member(props, key);

    if (v != NULL && !json_is_array(v)) {
        fail(err, errlen, NULL, "%s must be an array", key);
        *bad = true;
        return NULL;
    }
    return v;
}

static bool parse_rules(json_t *props, struct group *g, char *err, size_t errlen)
{
    static const char *const lists[] = {"timeWindowRules", "allowlistRules", "thresholdRules",
                                        "denylistRules"};
    bool seen[ALL_RULES] = {false};
    bool bad = false;

    for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
        json_t *arr = rule_list(props, lists[l], &bad, err, errlen), *rule;
        size_t i;

        if (bad)
            return false;
        json_array_foreach(arr, i, rule) {
            struct where w;
            int t = rule_type(rule, lists[l], i, &w, err, errlen);
            bool ok;

            if (t < 0)
                return false;
            if (l >= 2) {
                /* Warden has no threshold or deny-list rules: a known type is misplaced. */
                fail(err, errlen, &w, "not a %s rule type", l == 2 ? "threshold" : "deny-list");
                return false;
            }
            if ((l == 0) != (t < GROUP_RULE_COUNT)) {
                fail(err, errlen, &w, "belongs in %s",
                     l == 0 ? "allowlistRules" : "timeWindowRules");
                return false;
            }
            if (seen[t]) {
                fail(err, errlen, &w, "the rule type appears more than once");
                return false;
            }
            seen[t] = true;
            if (t < GROUP_RULE_COUNT)
                ok = parse_tw_rule(rule, &w, &g->tw[t], err, errlen);
            else if (t == ALLOW_OUT || t == ALLOW_IN)
                ok = parse_allow_rule(rule, &w, t == ALLOW_OUT ? &g->allow_out : &g->allow_in, err,
                                      errlen);
            else
                ok = parse_names_rule(rule, &w, t == ALLOW_USERS ? &g->users : &g->processes, err,
                                      errlen);
            if (!ok)
                return false;
        }
    }
    return true;
}

/* The group's name: the caller's, else the document's, else "" for the caller to fill. */
static bool take_name(json_t *root, const char *name, struct group *g, char *err, size_t errlen)
{
    json_t *v = import_member(root, "name");
    char q[80];

    if (v != NULL && !json_is_string(v)) {
        fail(err, errlen, NULL, "name must be a string");
        return false;
    }
    if (name == NULL && v != NULL && json_string_length(v) > 0) {
        if (!group_name_valid(json_string_value(v))) {
            fail(err, errlen, NULL,
                 "name %s is not a valid group name (1 to %d of A-Z a-z 0-9 . _ -)",
                 quoted(v, q, sizeof(q)), GROUP_NAME_MAX);
            return false;
        }
        name = json_string_value(v);
    }
    if (name == NULL)
        return true;
    if (!group_name_valid(name)) {
        fail(err, errlen, NULL,
             "\"%.64s\" is not a valid group name (1 to %d of A-Z a-z 0-9 . _ -)", name,
             GROUP_NAME_MAX);
        return false;
    }
    snprintf(g->name, sizeof(g->name), "%s", name);
    return true;
}

static const char *const rule_lists[] = {"timeWindowRules", "allowlistRules", "thresholdRules",
                                         "denylistRules"};

static bool has_rule_list(json_t *obj)
{
    for (size_t i = 0; i < sizeof(rule_lists) / sizeof(rule_lists[0]); i++)
        if (json_object_get(obj, rule_lists[i]) != NULL)
            return true;
    return false;
}

/* The type a document says it is, when it says one; false (with err) when it is not a group's. */
static bool type_is_group(json_t *root, char *err, size_t errlen)
{
    json_t *v = import_member(root, "type");
    const char *t = json_string_value(v);
    char q[80];

    if (v != NULL && t == NULL) {
        fail(err, errlen, NULL, "type must be a string");
        return false;
    }
    if (t == NULL || t[0] == '\0' || strcasecmp(t, GROUP_RESOURCE_TYPE) == 0)
        return true;
    fail(err, errlen, NULL, "not a security group: its type is %s, not " GROUP_RESOURCE_TYPE "%s",
         quoted(v, q, sizeof(q)),
         strcasestr(t, "IotHubs") || strcasestr(t, "diagnosticSettings")
             ? " (a hub document: give it to `warden hub import`)"
             : "");
    return false;
}

/* Why root, an object without rule lists, is not a group: for the message that refuses it. */
static void not_a_group(json_t *root, char *err, size_t errlen)
{
    if (json_object_get(root, "responses") != NULL && json_object_get(root, "parameters") != NULL)
        fail(err, errlen, NULL,
             "not a security group but an azure-rest-api-specs example file: import the REST "
             "body inside it (responses.200.body, or the PUT's group under parameters)");
    else if (import_member(root, "value") != NULL)
        fail(err, errlen, NULL,
             "a LIST body ({\"value\": [...]}) holds several groups: import it with "
             "`warden groups import FILE`, which stores each under its own name");
    else
        fail(err, errlen, NULL,
             "not a security group: expected a deviceSecurityGroups document {\"name\", "
             "\"properties\": {\"timeWindowRules\": [...], \"allowlistRules\": [...], ...}} "
             "with at least one rule list, a LIST body {\"value\": [...]} or an array of groups");
}

/*
 * The rules object of a group document: "properties" when the document has
 * it, else the document itself. NULL (with err) when root is not a group.
 */
static json_t *rules_object(json_t *root, char *err, size_t errlen)
{
    json_t *props = import_member(root, "properties");

    if (!type_is_group(root, err, errlen))
        return NULL;
    if (props == NULL) {
        if (has_rule_list(root))
            return root;
        not_a_group(root, err, errlen);
        return NULL;
    }
    if (!json_is_object(props)) {
        fail(err, errlen, NULL, "properties must be an object");
        return NULL;
    }
    if (has_rule_list(root)) {
        fail(err, errlen, NULL, "rules are given both inside and outside properties");
        return NULL;
    }
    if (!has_rule_list(props)) {
        not_a_group(root, err, errlen);
        return NULL;
    }
    return props;
}

/* One group document, already loaded, into g (group_free() it on success). */
static bool parse_group_object(json_t *root, const char *name, struct group *g, char *err,
                               size_t errlen)
{
    json_t *props;
    bool ok = false;

    group_init(g, NULL);
    if (!json_is_object(root))
        fail(err, errlen, NULL, "a security group document must be a JSON object");
    else if ((props = rules_object(root, err, errlen)) != NULL &&
             take_name(root, name, g, err, errlen))
        ok = parse_rules(props, g, err, errlen);
    if (!ok)
        group_free(g);
    return ok;
}

bool group_parse(const char *json, size_t len, const char *name, struct group *g, char *err,
                 size_t errlen)
{
    json_t *root = import_json_load(json, len, err, errlen);
    bool ok;

    group_init(g, NULL);
    if (root == NULL)
        return false;
    ok = parse_group_object(root, name, g, err, errlen);
    json_decref(root);
    return ok;
}

/* The groups of list (a LIST body's value, or an array), each under its own name. */
static bool parse_group_list(json_t *list, const char *where, const char *name, struct group *gs,
                             size_t *n, char *err, size_t errlen)
{
    size_t count = json_array_size(list), i;
    char why[512];
    json_t *el;

    json_array_foreach(list, i, el) {
        struct group *g = &gs[i];

        if (!parse_group_object(el, count == 1 ? name : NULL, g, why, sizeof(why))) {
            snprintf(err, errlen, "%s[%zu]: %s", where, i, why);
            return false;
        }
        (*n)++;
        if (g->name[0] == '\0') {
            snprintf(err, errlen,
                     "%s[%zu]: the group has no name (each group of a list needs "
                     "its own)",
                     where, i);
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(gs[j].name, g->name) == 0) {
                snprintf(err, errlen, "%s[%zu]: group \"%s\" is also %s[%zu]", where, i, g->name,
                         where, j);
                return false;
            }
        }
    }
    return true;
}

/* The list of groups root holds, or NULL when it is one group; *where names it for messages. */
static json_t *group_list_of(json_t *root, const char **where)
{
    json_t *value;

    if (json_is_array(root)) {
        *where = "";
        return root;
    }
    value = json_is_object(root) ? import_member(root, "value") : NULL;
    if (value == NULL || has_rule_list(root) || import_member(root, "properties") != NULL)
        return NULL;
    *where = "value";
    return value;
}

bool groups_parse_doc(const char *json, size_t len, const char *name, struct group **out, size_t *n,
                      char *err, size_t errlen)
{
    json_t *root = import_json_load(json, len, err, errlen), *list;
    const char *where = "";
    struct group *gs = NULL;
    size_t count = 1, done = 0;
    bool ok = false;

    *out = NULL;
    *n = 0;
    if (root == NULL)
        return false;
    list = group_list_of(root, &where);
    if (list != NULL && !json_is_array(list))
        fail(err, errlen, NULL, "value must be an array of security groups");
    else if (list != NULL && (count = json_array_size(list)) == 0)
        fail(err, errlen, NULL, "the document holds no security group");
    else if (count > GROUP_DOC_MAX_GROUPS)
        fail(err, errlen, NULL, "the document holds more than %d groups", GROUP_DOC_MAX_GROUPS);
    else if (name != NULL && count > 1)
        fail(err, errlen, NULL, "a name was given for one group, but the document holds %zu",
             count);
    else if ((gs = calloc(count, sizeof(*gs))) == NULL)
        fail(err, errlen, NULL, "out of memory");
    else if (list == NULL)
        done = (ok = parse_group_object(root, name, &gs[0], err, errlen)) ? 1 : 0;
    else
        ok = parse_group_list(list, where, name, gs, &done, err, errlen);
    json_decref(root);
    if (!ok) {
        groups_free(gs, done);
        return false;
    }
    *out = gs;
    *n = count;
    return true;
}

/* ---- the normalised document ------------------------------------------------------ */

/* A window as ISO 8601: "PT15M", "PT1M30S", "P1DT12H". */
static void window_format(int64_t ms, char *out, size_t outlen)
{
    static const char unit[4] = {'D', 'H', 'M', 'S'};
    int64_t s = ms / 1000;
    int64_t part[4] = {s / 86400, s % 86400 / 3600, s % 3600 / 60, s % 60};
    size_t at = 0;
    bool in_time = false;

    at += (size_t)snprintf(out, outlen, "P");
    for (int i = 0; i < 4 && at < outlen; i++) {
        if (part[i] == 0)
            continue;
        if (i > 0 && !in_time) {
            at += (size_t)snprintf(out + at, outlen - at, "T");
            in_time = true;
        }
        if (at < outlen)
            at += (size_t)snprintf(out + at, outlen - at, "%lld%c", (long long)part[i], unit[i]);
    }
    if (at == 1)
        snprintf(out, outlen, "PT0S");
}

static json_t *allow_json(const char *type, const struct group_allow *a)
{
    json_t *values = json_array();

    for (size_t i = 0; values != NULL && i < a->n; i++) {
        char ip[64], cidr[80];

        ip_format(&a->cidrs[i].net, ip, sizeof(ip));
        snprintf(cidr, sizeof(cidr), "%s/%d", ip, a->cidrs[i].prefix);
        if (json_array_append_new(values, json_string(cidr)) != 0) {
            json_decref(values);
            return NULL;
        }
    }
    return json_pack("{s:s, s:b, s:o}", "ruleType", type, "isEnabled", a->enabled,
                     "allowlistValues", values);
}

/* An allow list of names, its values as they were given. */
static json_t *names_json(const char *type, const struct group_names *l)
{
    json_t *values = json_array();

    for (size_t i = 0; values != NULL && i < l->n; i++) {
        if (json_array_append_new(values, json_string(l->values[i])) != 0) {
            json_decref(values);
            return NULL;
        }
    }
    return json_pack("{s:s, s:b, s:o}", "ruleType", type, "isEnabled", l->enabled,
                     "allowlistValues", values);
}

static json_t *group_json(const struct group *g)
{
    json_t *tw = json_array(), *allow = json_array();

    for (int i = 0; tw != NULL && i < GROUP_RULE_COUNT; i++) {
        const struct group_tw_rule *t = &g->tw[i];
        char window[32];

        window_format(t->window_ms, window, sizeof(window));
        if (json_array_append_new(
                tw, json_pack("{s:s, s:b, s:I, s:I, s:s}", "ruleType", rule_names[i], "isEnabled",
                              t->enabled, "minThreshold", (json_int_t)t->min, "maxThreshold",
                              (json_int_t)t->max, "timeWindowSize", window)) != 0) {
            json_decref(tw);
            tw = NULL;
        }
    }
    if (allow != NULL &&
        (json_array_append_new(allow, allow_json(GROUP_ALLOW_OUT_NAME, &g->allow_out)) != 0 ||
         json_array_append_new(allow, allow_json(GROUP_ALLOW_IN_NAME, &g->allow_in)) != 0 ||
         json_array_append_new(allow, names_json(GROUP_ALLOW_USERS_NAME, &g->users)) != 0 ||
         json_array_append_new(allow, names_json(GROUP_ALLOW_PROCESSES_NAME, &g->processes)) !=
             0)) {
        json_decref(allow);
        allow = NULL;
    }
    /* json_pack with "o" takes the references, and drops them when it fails. */
    if (g->name[0] == '\0')
        return json_pack("{s:{s:o, s:o, s:[], s:[]}}", "properties", "timeWindowRules", tw,
                         "allowlistRules", allow, "thresholdRules", "denylistRules");
    return json_pack("{s:s, s:{s:o, s:o, s:[], s:[]}}", "name", g->name, "properties",
                     "timeWindowRules", tw, "allowlistRules", allow, "thresholdRules",
                     "denylistRules");
}

char *group_to_json(const struct group *g)
{
    json_t *doc = group_json(g);
    char *text;

    if (doc == NULL)
        return NULL;
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

/* ---- the database ------------------------------------------------------------------- */

/* The implicit default group is the row with a NULL document. */
static const char sql_groups_load[] =
    "SELECT name, rules_json FROM security_groups "
    "UNION ALL SELECT '" GROUP_DEFAULT_NAME "', NULL "
    "WHERE NOT EXISTS (SELECT 1 FROM security_groups WHERE name = '" GROUP_DEFAULT_NAME "') "
    "ORDER BY 1";

/* One row of sql_groups_load into g; false with err naming the group. */
static bool load_row(sqlite3_stmt *st, struct group *g, char *err, size_t errlen)
{
    const char *name = (const char *)sqlite3_column_text(st, 0);
    const char *json = (const char *)sqlite3_column_text(st, 1);
    char why[512];

    if (name == NULL) {
        snprintf(err, errlen, "security groups: a group without a name");
        return false;
    }
    if (json == NULL) {
        group_init(g, name);
        return true;
    }
    if (!group_parse(json, (size_t)sqlite3_column_bytes(st, 1), name, g, why, sizeof(why))) {
        snprintf(err, errlen, "security group \"%.128s\": stored document: %s", name, why);
        return false;
    }
    return true;
}

bool groups_load(struct sqlite3 *db, struct group **out, size_t *n, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    struct group *gs = NULL;
    size_t count = 0, cap = 0;
    bool ok = true;
    int rc;

    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db, sql_groups_load, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "security groups: %s", sqlite3_errmsg(db));
        return false;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct group *ngs = realloc(gs, ncap * sizeof(*gs));
            if (ngs == NULL) {
                snprintf(err, errlen, "security groups: out of memory");
                ok = false;
                break;
            }
            gs = ngs;
            cap = ncap;
        }
        if (!(ok = load_row(st, &gs[count], err, errlen)))
            break;
        count++;
    }
    if (ok && rc != SQLITE_DONE) {
        snprintf(err, errlen, "security groups: %s", sqlite3_errmsg(db));
        ok = false;
    }
    sqlite3_finalize(st);
    if (!ok) {
        groups_free(gs, count);
        return false;
    }
    *out = gs;
    *n = count;
    return true;
}

void groups_free(struct group *groups, size_t n)
{
    for (size_t i = 0; i < n; i++)
        group_free(&groups[i]);
    free(groups);
}

static const char sql_group_store[] =
    "INSERT INTO security_groups (name, rules_json, updated_ms) VALUES (?1, ?2, ?3) "
    "ON CONFLICT(name) DO UPDATE SET rules_json = excluded.rules_json, "
    "updated_ms = excluded.updated_ms";

bool group_store(struct sqlite3 *db, const struct group *g, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    char *json;
    bool ok;

    if (!group_name_valid(g->name)) {
        snprintf(err, errlen, "\"%.128s\" is not a valid group name", g->name);
        return false;
    }
    if ((json = group_to_json(g)) == NULL) {
        snprintf(err, errlen, "security group %s: out of memory", g->name);
        return false;
    }
    ok = sqlite3_prepare_v2(db, sql_group_store, -1, &st, NULL) == SQLITE_OK &&
         sqlite3_bind_text(st, 1, g->name, -1, SQLITE_STATIC) == SQLITE_OK &&
         sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC) == SQLITE_OK &&
         sqlite3_bind_int64(st, 3, clock_now_ms()) == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE;
    if (!ok)
        snprintf(err, errlen, "security group %s: %s", g->name, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    free(json);
    return ok;
}

/* ---- warden groups ------------------------------------------------------------------- */

static const char groups_usage[] =
    "usage: warden groups import FILE [--name NAME] | export NAME | list\n";

/* The file name without its directory and its last extension: "conf/lab.json" -> "lab". */
static void file_stem(const char *path, char *out, size_t outlen)
{
    const char *base = strrchr(path, '/'), *dot;
    size_t n;

    base = base ? base + 1 : path;
    dot = strrchr(base, '.');
    n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    snprintf(out, outlen, "%.*s", (int)(n < outlen ? n : outlen - 1), base);
}

/* Every group of one document, in one transaction: all of them or none. */
static bool groups_store_all(sqlite3 *db, const struct group *gs, size_t n, char *err,
                             size_t errlen)
{
    bool ok = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;

    if (!ok)
        snprintf(err, errlen, "security groups: %s", sqlite3_errmsg(db));
    for (size_t i = 0; ok && i < n; i++)
        ok = group_store(db, &gs[i], err, errlen);
    if (ok && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "security groups: %s", sqlite3_errmsg(db));
        ok = false;
    }
    if (!ok)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return ok;
}

/* What was imported for g, in a line, naming the enabled rules the lab cannot observe. */
static void import_summary(const struct group *g)
{
    int unobservable = group_enabled_unobservable(g), k = 0;

    printf("security group %s: imported, %d of %d rules enabled", g->name, group_enabled_rules(g),
           GROUP_RULES_TOTAL);
    if (unobservable > 0) {
        printf(" (%d not observable in this lab, kept but not evaluated:", unobservable);
        for (int i = GROUP_RULE_OBSERVABLE; i < GROUP_RULE_COUNT; i++)
            if (g->tw[i].enabled)
                printf("%s %s", k++ ? "," : "", rule_names[i]);
        if (g->users.enabled)
            printf("%s %s", k++ ? "," : "", GROUP_ALLOW_USERS_NAME);
        if (g->processes.enabled)
            printf("%s %s", k++ ? "," : "", GROUP_ALLOW_PROCESSES_NAME);
        printf(")");
    }
    printf("\n");
}

static int groups_import(int argc, char **argv, struct store *s)
{
    const char *path = NULL, *name = NULL;
    bool usage = false;
    struct group *gs;
    char err[512];
    size_t len, n;
    char *buf;
    int rc = 0;

    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--name") == 0 && i + 1 < argc && name == NULL)
            name = argv[++i];
        else if (strncmp(argv[i], "--name=", 7) == 0 && name == NULL)
            name = argv[i] + 7;
        else if (path == NULL && argv[i][0] != '-')
            path = argv[i];
        else
            usage = true;
    }
    if (path == NULL || usage) {
        fputs(groups_usage, stderr);
        return EXIT_INVALID;
    }
    if ((buf = import_read_file(path, GROUP_MAX_BYTES, &len, err, sizeof(err))) == NULL) {
        fprintf(stderr, "warden groups: %s\n", err);
        return EXIT_RUNTIME;
    }
    if (!groups_parse_doc(buf, len, name, &gs, &n, err, sizeof(err))) {
        fprintf(stderr, "warden groups: %s: %s (nothing imported)\n", path, err);
        free(buf);
        return EXIT_INVALID;
    }
    free(buf);
    if (n == 1 && gs[0].name[0] == '\0') {
        file_stem(path, gs[0].name, sizeof(gs[0].name));
        if (!group_name_valid(gs[0].name)) {
            fprintf(stderr,
                    "warden groups: %s: the file name is not a valid group name; "
                    "give one with --name\n",
                    path);
            rc = EXIT_INVALID;
        }
    }
    if (rc == 0 && !groups_store_all(store_sqlite(s), gs, n, err, sizeof(err))) {
        fprintf(stderr, "warden groups: %s (nothing imported)\n", err);
        rc = EXIT_RUNTIME;
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        import_summary(&gs[i]);
    groups_free(gs, n);
    return rc;
}

static const char sql_group_get[] = "SELECT rules_json FROM security_groups WHERE name = ?1";

static int groups_export(const char *name, struct store *s)
{
    sqlite3 *db = store_sqlite(s);
    sqlite3_stmt *st = NULL;
    struct group g;
    json_t *doc;
    char err[512];
    int rc;

    if (sqlite3_prepare_v2(db, sql_group_get, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "warden groups: %s\n", sqlite3_errmsg(db));
        return EXIT_RUNTIME;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *json = (const char *)sqlite3_column_text(st, 0);
        if (json == NULL ||
            !group_parse(json, (size_t)sqlite3_column_bytes(st, 0), name, &g, err, sizeof(err))) {
            fprintf(stderr, "warden groups: %s: stored document: %s\n", name,
                    json ? err : "missing");
            sqlite3_finalize(st);
            return EXIT_RUNTIME;
        }
    } else if (rc == SQLITE_DONE && strcmp(name, GROUP_DEFAULT_NAME) == 0) {
        group_init(&g, GROUP_DEFAULT_NAME);
    } else {
        if (rc == SQLITE_DONE)
            fprintf(stderr, "warden groups: unknown security group \"%s\"\n", name);
        else
            fprintf(stderr, "warden groups: %s\n", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return EXIT_RUNTIME;
    }
    sqlite3_finalize(st);
    doc = group_json(&g);
    group_free(&g);
    if (doc == NULL || json_dumpf(doc, stdout, JSON_INDENT(2)) != 0) {
        json_decref(doc);
        fprintf(stderr, "warden groups: cannot write the document\n");
        return EXIT_RUNTIME;
    }
    json_decref(doc);
    putchar('\n');
    return 0;
}

static const char sql_group_devices[] =
    "SELECT security_group, COUNT(*) FROM devices GROUP BY security_group ORDER BY security_group";

/* Devices in group name, from the counts query; -1 when the query failed. */
static int64_t devices_in(sqlite3_stmt *st, const char *name)
{
    int64_t n = 0;
    int rc;

    sqlite3_reset(st);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *g = (const char *)sqlite3_column_text(st, 0);
        if (g != NULL && strcmp(g, name) == 0)
            n = sqlite3_column_int64(st, 1);
    }
    return rc == SQLITE_DONE ? n : -1;
}

/* Groups that devices name but that are not defined: listed so the user sees them. */
static void list_undefined(sqlite3_stmt *st, const struct group *gs, size_t n)
{
    sqlite3_reset(st);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        bool defined = false;

        for (size_t i = 0; name != NULL && i < n && !defined; i++)
            defined = strcmp(gs[i].name, name) == 0;
        if (name != NULL && !defined)
            printf("%-40.128s %7s %8lld  (not defined)\n", name, "-",
                   (long long)sqlite3_column_int64(st, 1));
    }
}

static int groups_list(struct store *s)
{
    sqlite3 *db = store_sqlite(s);
    sqlite3_stmt *st = NULL;
    struct group *gs;
    size_t n;
    char err[512];
    int rc = 0;

    if (!groups_load(db, &gs, &n, err, sizeof(err))) {
        fprintf(stderr, "warden groups: %s\n", err);
        return EXIT_RUNTIME;
    }
    if (sqlite3_prepare_v2(db, sql_group_devices, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "warden groups: %s\n", sqlite3_errmsg(db));
        groups_free(gs, n);
        return EXIT_RUNTIME;
    }
    printf("%-40s %7s %8s\n", "NAME", "ENABLED", "DEVICES");
    for (size_t i = 0; i < n && rc == 0; i++) {
        int64_t devices = devices_in(st, gs[i].name);
        if (devices < 0) {
            fprintf(stderr, "warden groups: %s\n", sqlite3_errmsg(db));
            rc = EXIT_RUNTIME;
            break;
        }
        printf("%-40s %3d/%-3d %8lld\n", gs[i].name, group_enabled_rules(&gs[i]), GROUP_RULES_TOTAL,
               (long long)devices);
    }
    if (rc == 0)
        list_undefined(st, gs, n);
    sqlite3_finalize(st);
    groups_free(gs, n);
    return rc;
}

int import_cmd_groups(int argc, char **argv, struct store *s)
{
    const char *sub = argc > 1 ? argv[1] : "";

    if (strcmp(sub, "import") == 0)
        return groups_import(argc, argv, s);
    if (strcmp(sub, "export") == 0 && argc == 3)
        return groups_export(argv[2], s);
    if (strcmp(sub, "list") == 0 && argc == 2)
        return groups_list(s);
    fputs(groups_usage, stderr);
    return EXIT_INVALID;
}
