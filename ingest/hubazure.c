/*
 * ingest/hubazure.c: IoT Hub's own logs read as hub records (README, "Coming
 * from Azure", has the mapping as a table). Three shapes carry an
 * `operationName`:
 *
 * - an IoT Hub resource log record, as a diagnostic setting sends it to
 *   storage or Event Hubs: time, resourceId, operationName, category, level,
 *   resultType (an error code such as "401003", absent on success),
 *   resultDescription ("IotHubUnauthorized"), durationMs, location, and
 *   properties as a JSON *string*, which is not always valid JSON (Microsoft's
 *   own samples are not);
 * - an Activity log event as storage and Event Hubs keep it: the same names,
 *   operationName a provider path ("Microsoft.Devices/IotHubs/certificates/
 *   write"), category Write, Delete or Action, resultType the status,
 *   properties an object;
 * - an Activity log event as the REST API and the portal give it:
 *   operationName, category and status as {"value": ...}, eventTimestamp,
 *   caller, httpRequest.clientIpAddress.
 *
 * Each is mapped so that what the lab hub would record for the same thing
 * (a refused login, a certificate or diagnostic setting written) raises the
 * same alert. What the record says beyond that is kept in details, never
 * under a name the evaluator reads (config, certificateName, settingName)
 * unless this file put it there. A record with no usable operationName or
 * category is not mapped: the caller keeps it as an Unknown record.
 */
#include "decode.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* IoT Hub's code for every refused authentication (troubleshoot-error-codes). */
#define AZ_UNAUTHORIZED_CODE "401003"
#define AZ_UNAUTHORIZED_NAME "IotHubUnauthorized"

/* One record being mapped, and what of it goes to details. */
struct azure {
    struct arena *a;
    json_t *rec;
    json_t *details;
    json_t *props; /* properties as an object, when it is one or a string holding one */
    bool oom;
};

static json_t *member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_null(v) ? NULL : v;
}

static const char *str_member(json_t *obj, const char *key)
{
    json_t *v = member(obj, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A string member, or the `value` of an object member ({"value": "Succeeded", ...}). */
static const char *str_or_value(json_t *obj, const char *key)
{
    json_t *v = member(obj, key);

    return json_is_object(v) ? str_member(v, "value") : json_is_string(v) ? json_string_value(v)
                                                                          : NULL;
}

static bool label_ok(const char *s)
{
    return s != NULL && ingest_hub_label_ok(s, strlen(s));
}

/* Keep v in details under key (a new reference); nothing when v is NULL. */
static void keep(struct azure *z, const char *key, json_t *v)
{
    if (v != NULL && json_object_set(z->details, key, v) != 0)
        z->oom = true;
}

static void keep_new(struct azure *z, const char *key, json_t *v)
{
    if (v == NULL || json_object_set_new(z->details, key, v) != 0)
        z->oom = true;
}

static void keep_members(struct azure *z, const char *const *keys)
{
    for (; *keys != NULL; keys++)
        keep(z, *keys, member(z->rec, *keys));
}

/* s copied into the arena, or NULL (z->oom) when it is full. */
static const char *copy(struct azure *z, const char *s)
{
    char *c = arena_strndup(z->a, s, strlen(s));

    if (c == NULL)
        z->oom = true;
    return c;
}

/*
 * The record's time. One that is not a date (Microsoft's samples say
 * " UTC timestamp") leaves the received time, and its text is kept.
 */
static int64_t take_time(struct azure *z, const char *key, int64_t recv_ms)
{
    json_t *v = member(z->rec, key);
    int64_t ms;

    if (json_is_string(v) && time_parse_iso(json_string_value(v), &ms))
        return ms;
    keep(z, "time", v);
    return recv_ms;
}

/*
 * properties: IoT Hub writes a JSON string holding an object, the Activity
 * log an object. A string that is not JSON (Microsoft's C2DCommands and
 * DirectMethods samples hold unquoted `<placeholders>`), or that holds no
 * object, is kept as text and the record is still mapped.
 */
static void take_properties(struct azure *z)
{
    json_t *v = member(z->rec, "properties"), *p = NULL;

    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);

        if (json_prescan(s, n, INGEST_JSON_MAX_DEPTH, 0) == JSON_SCAN_OK)
            p = json_loadb(s, n, JSON_REJECT_DUPLICATES, NULL);
        if (json_is_object(p)) {
            z->props = p;
            keep(z, "properties", p);
            return;
        }
        json_decref(p);
    } else if (json_is_object(v)) {
        z->props = json_incref(v);
    }
    keep(z, "properties", v);
}

/* The device a resource log record names (properties.deviceId), when IoT Hub would take it. */
static const char *take_device(struct azure *z)
{
    const char *id = z->props ? str_member(z->props, "deviceId") : NULL;

    if (id == NULL || device_id_check(id, strlen(id)) != NULL)
        return NULL; /* "<deviceId>" of a sample, or none: kept in properties only */
    return copy(z, id);
}

/* An address in canonical form, NULL when s is none (a masked "24.9.142.XXX"). */
static const char *take_ip(struct azure *z, const char *s)
{
    struct ip_addr ip;
    char text[64];

    if (s == NULL || !ip_parse(s, &ip))
        return NULL;
    ip_format(&ip, text, sizeof(text));
    return copy(z, text);
}

/* Azure's status words, in their several spellings, as the lab hub's results. */
static const char *status_result(const char *s)
{
    static const char *const map[][2] = {
        {"Succeeded", "Succeeded"}, {"Success", "Succeeded"}, {"Failed", "Failed"},
        {"Failure", "Failed"},      {"Started", "Started"},   {"Start", "Started"},
        {"Accepted", "Started"},    {"In Progress", "Started"},
    };

    for (size_t i = 0; s != NULL && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcasecmp(s, map[i][0]) == 0)
            return map[i][1];
    return NULL;
}

static bool all_digits(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static bool mentions(const char *text, const char *word)
{
    return text != NULL && strcasestr(text, word) != NULL;
}

/*
 * Why a device's authentication was refused. IoT Hub logs every refusal as
 * 401003 IotHubUnauthorized; only its message (properties.errorMessage or
 * resultDescription) and the authentication type (properties.authType, itself
 * JSON text naming "sas" or an "x509" type) say more. A SAS token that IoT
 * Hub could not validate, and did not say expired, is what the lab calls an
 * invalid signature; a certificate refused for a reason not given matches
 * none of the lab's reasons and raises nothing.
 */
static const char *auth_reason(struct azure *z, const char *desc)
{
    const char *msg = z->props ? str_member(z->props, "errorMessage") : NULL;
    bool x509 = z->props != NULL && mentions(str_member(z->props, "authType"), "x509");
    const char *texts[] = {msg, desc};

    for (size_t i = 0; i < 2; i++)
        if (mentions(texts[i], "thumbprint"))
            return "X509ThumbprintMismatch";
    for (size_t i = 0; i < 2; i++)
        if (mentions(texts[i], "expir"))
            return x509 || (mentions(texts[i], "certificate") && !mentions(texts[i], "token"))
                       ? "X509CertificateExpired"
                       : "SasTokenExpired";
    return x509 ? AZ_UNAUTHORIZED_NAME : "SasTokenInvalidSignature";
}

/* resultType as text (a string, or a number some exports write), NULL when absent or empty. */
static const char *result_type(struct azure *z)
{
    json_t *v = member(z->rec, "resultType");
    char num[32];

    if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        return copy(z, num);
    }
    if (!json_is_string(v) || json_string_length(v) == 0)
        return NULL;
    return json_string_value(v);
}

/* Resource log categories and operations named otherwise by the lab hub (SPEC 2.4). */
static void resource_log_names(const char **category, const char **operation)
{
    if (strcmp(*category, "DirectMethods") == 0 && strcmp(*operation, "send") == 0)
        *operation = "invoke";
    else if (strcmp(*category, "D2CTwinOperations") == 0 ||
             strcmp(*category, "C2DTwinOperations") == 0)
        *category = "TwinOperations";
}

static const char *resource_log(struct azure *z, const char *name, int64_t recv_ms,
                                struct store_hubop *op)
{
    static const char *const kept[] = {"resourceId", "resultType", "resultDescription", "level",
                                       "location", "durationMs", "correlationId", NULL};
    json_t *c = member(z->rec, "category");
    const char *category, *operation = name, *code, *desc, *status;

    if (c == NULL)
        return "hub: category missing";
    if (!json_is_string(c))
        return "hub: category not a string";
    if (!label_ok(category = json_string_value(c)))
        return "hub: category invalid";
    resource_log_names(&category, &operation);
    if (category != json_string_value(c))
        keep(z, "category", c); /* which of IoT Hub's two twin categories */
    op->time_ms = take_time(z, "time", recv_ms);
    keep_members(z, kept);
    take_properties(z);
    code = result_type(z);
    desc = str_member(z->rec, "resultDescription");
    if (code == NULL) {
        op->result = "Succeeded"; /* IoT Hub writes no resultType for what succeeded */
    } else if (all_digits(code)) {
        op->result = "Failed";
        if (strcmp(category, "Connections") == 0 &&
            (strcmp(code, AZ_UNAUTHORIZED_CODE) == 0 ||
             (desc != NULL && strcasecmp(desc, AZ_UNAUTHORIZED_NAME) == 0)))
            op->reason = auth_reason(z, desc);
        else
            op->reason = label_ok(desc) ? desc : label_ok(code) ? code : NULL;
    } else if ((status = status_result(code)) != NULL || label_ok(status = code)) {
        op->result = status;
    } else {
        return "hub: resultType invalid";
    }
    op->category = copy(z, category);
    op->operation = copy(z, operation);
    if (op->reason != NULL)
        op->reason = copy(z, op->reason);
    if (!label_ok(op->result) || (op->result = copy(z, op->result)) == NULL)
        return z->oom ? ingest_hub_oom : "hub: resultType invalid";
    op->device_id = take_device(z);
    op->source_ip = take_ip(z, z->props ? str_member(z->props, "maskedIpAddress") : NULL);
    return NULL;
}

/* ---- the Activity log ----------------------------------------------------------------------- */

/* The hub's control plane as the Activity log names it, and what the lab hub records. */
static const struct control_op {
    const char *operation_name; /* compared without case: storage writes it in lower case */
    const char *category, *operation;
    const char *segment, *detail; /* where resourceId names it, and the details key */
    bool on_hub;                  /* resourceId must be under an IoT hub */
} control_ops[] = {
    {"Microsoft.Devices/IotHubs/certificates/write", "Certificates", "write", "/certificates/",
     "certificateName", false},
    {"Microsoft.Devices/IotHubs/certificates/delete", "Certificates", "delete", "/certificates/",
     "certificateName", false},
    {"Microsoft.Insights/diagnosticSettings/write", "DiagnosticSettings", "write",
     "/diagnosticSettings/", "settingName", true},
    {"Microsoft.Insights/diagnosticSettings/delete", "DiagnosticSettings", "delete",
     "/diagnosticSettings/", "settingName", true},
};

/*
 * The control-plane operation an event records, NULL when none: a diagnostic
 * setting counts only when it is an IoT hub's (the Activity log holds every
 * resource's), and only an operation's end (Succeeded or Failed) counts, as
 * the lab hub records only what it did; the start of one is an event of its own.
 */
static const struct control_op *control_op(const char *name, const char *resource_id,
                                           const char *result)
{
    if (result == NULL || (strcmp(result, "Succeeded") != 0 && strcmp(result, "Failed") != 0))
        return NULL;
    for (size_t i = 0; i < sizeof(control_ops) / sizeof(control_ops[0]); i++) {
        const struct control_op *c = &control_ops[i];

        if (strcasecmp(name, c->operation_name) == 0 &&
            (!c->on_hub || mentions(resource_id, "/providers/Microsoft.Devices/IotHubs/")))
            return c;
    }
    return NULL;
}

/* The name resourceId gives after segment ("/certificates/NAME"), into details. */
static void keep_resource_name(struct azure *z, const char *resource_id, const char *segment,
                               const char *key)
{
    const char *p = resource_id ? strcasestr(resource_id, segment) : NULL, *end;
    char name[INGEST_HUB_MAX_LABEL + 1];
    size_t n;

    if (p == NULL)
        return;
    p += strlen(segment);
    end = strchr(p, '/');
    n = end ? (size_t)(end - p) : strlen(p);
    if (n == 0 || n > INGEST_HUB_MAX_LABEL || !text_printable(p, n))
        return;
    memcpy(name, p, n);
    name[n] = '\0';
    keep_new(z, key, json_string(name));
}

/* Who did it: the REST event's caller, or the archived event's UPN claim. */
static void keep_caller(struct azure *z)
{
    json_t *claims = member(member(z->rec, "identity"), "claims");
    const char *upn = str_member(claims, "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn");

    if (member(z->rec, "caller") != NULL)
        keep(z, "caller", member(z->rec, "caller"));
    else if (upn != NULL)
        keep_new(z, "caller", json_string(upn));
}

/* The event's category: the REST event's category.value, else properties.eventCategory. */
static const char *activity_category(struct azure *z)
{
    json_t *c = member(z->rec, "category");
    const char *s = json_is_object(c) ? str_member(c, "value")
                    : z->props        ? str_member(z->props, "eventCategory")
                                      : NULL;

    return label_ok(s) ? s : "Administrative";
}

static const char *activity(struct azure *z, const char *name, int64_t recv_ms,
                            struct store_hubop *op)
{
    static const char *const kept[] = {"resourceId", "level", "correlationId", "resultSignature",
                                       NULL};
    const char *status = str_or_value(z->rec, "status");
    const char *resource_id = str_member(z->rec, "resourceId");
    const char *ip = str_member(member(z->rec, "httpRequest"), "clientIpAddress");
    const struct control_op *c;

    if (status == NULL)
        status = str_member(z->rec, "resultType");
    op->time_ms = take_time(z, member(z->rec, "eventTimestamp") ? "eventTimestamp" : "time",
                            recv_ms);
    keep_members(z, kept);
    keep(z, "status", member(z->rec, "status"));
    keep(z, "subStatus", member(z->rec, "subStatus"));
    if (member(z->rec, "status") == NULL)
        keep(z, "resultType", member(z->rec, "resultType"));
    keep_caller(z);
    take_properties(z);
    op->result = status_result(status);
    if (op->result == NULL && label_ok(status))
        op->result = copy(z, status);
    if ((c = control_op(name, resource_id, op->result)) != NULL) {
        op->category = c->category;
        op->operation = c->operation;
        keep_resource_name(z, resource_id, c->segment, c->detail);
    } else {
        op->category = copy(z, activity_category(z));
        op->operation = copy(z, name);
    }
    op->source_ip = take_ip(z, ip ? ip : str_member(z->rec, "callerIpAddress"));
    return NULL;
}

const char *ingest_hub_azure(struct arena *a, json_t *rec, int64_t recv_ms,
                             struct store_hubop *op)
{
    json_t *on = member(rec, "operationName");
    const char *name = str_or_value(rec, "operationName"), *why;
    struct azure z = {.a = a, .rec = rec};

    if (name == NULL)
        return "hub: operationName not a string";
    if (!label_ok(name))
        return "hub: operationName invalid";
    if ((z.details = json_object()) == NULL)
        return ingest_hub_oom;
    op->count = 1;
    /* An Activity log operation is a provider path; IoT Hub's log operations are words. */
    why = json_is_object(on) || strchr(name, '/') != NULL ? activity(&z, name, recv_ms, op)
                                                         : resource_log(&z, name, recv_ms, op);
    if (why == NULL && !z.oom && json_object_size(z.details) > 0 &&
        (op->details = ingest_hub_dump(a, z.details)) == NULL)
        z.oom = true;
    json_decref(z.props);
    json_decref(z.details);
    return z.oom ? ingest_hub_oom : why;
}
