/*
 * imports/groups.c: security group documents (SPEC 4.1), parsed and
 * validated without a database. A group document is parsed into struct
 * group, every rule present, and a refusal names the rule and the value at
 * fault. The lookups the evaluator makes at each pass (the rule names, the
 * counts of enabled rules, an address in an allow list) are here too.
 *
 * groups_store.c normalises, stores, loads and exports what this parses;
 * the fuzz target calls it alone. It calls imports.c's JSON helpers and
 * common/, nothing else.
 */
#include "groups.h"
#include "imports.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

void groups_free(struct group *groups, size_t n)
{
    for (size_t i = 0; i < n; i++)
        group_free(&groups[i]);
    free(groups);
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
