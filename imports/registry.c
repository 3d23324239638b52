/*
 * imports/registry.c: the device registry document (SPEC 4.2), parsed and
 * checked without a database.
 *
 * The file is a registry in any shape IoT Hub writes one (imports.h: an
 * array, JSON lines, one Device object, a state export). Every element is
 * checked, and one refused element refuses the document, so that nothing is
 * written unless all of it can be. Symmetric keys are hashed as soon as they
 * are read: the identity keeps the key itself only for the lab hub's key
 * store, and every copy is wiped when the document is freed.
 *
 * registry_store.c writes what this parses, and the fuzz target calls it
 * alone. It calls imports.c's JSON helpers, groups.c's group names and
 * hub/sas.c's base64 decoder, nothing else.
 */
#include "groups.h"
#include "imports.h"
#include "../hub/sas.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* IoT Hub keys are 16 to 64 bytes; labs use shorter ones, so only a sanity bound. */
#define KEY_MAX_BYTES 512

static const char *const kind_names[CRED_KIND_COUNT] = {
    [CRED_SAS_PRIMARY] = "sas_primary",
    [CRED_SAS_SECONDARY] = "sas_secondary",
    [CRED_X509_PRIMARY] = "x509_primary",
    [CRED_X509_SECONDARY] = "x509_secondary",
};

/* Where each credential sits in an identity, and what the export calls it. */
static const struct {
    const char *object, *member;
} kind_source[CRED_KIND_COUNT] = {
    [CRED_SAS_PRIMARY] = {"symmetricKey", "primaryKey"},
    [CRED_SAS_SECONDARY] = {"symmetricKey", "secondaryKey"},
    [CRED_X509_PRIMARY] = {"x509Thumbprint", "primaryThumbprint"},
    [CRED_X509_SECONDARY] = {"x509Thumbprint", "secondaryThumbprint"},
};

static const char *const auth_types[] = {"sas", "selfSigned", "certificateAuthority", "none"};

const char *cred_kind_name(enum cred_kind k)
{
    WARDEN_ASSERT(k >= 0 && k < CRED_KIND_COUNT);
    return kind_names[k];
}

/* ---- fingerprints ------------------------------------------------------------------ */

static void hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The fingerprint of a symmetric key: hex SHA-256 of its decoded bytes. */
static bool key_fingerprint(const char *key, size_t n, char out[65])
{
    uint8_t raw[KEY_MAX_BYTES], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    long len = n > 4 * (KEY_MAX_BYTES / 3 + 1) ? -1 : sas_b64_decode(key, n, raw, sizeof(raw));
    bool ok =
        len > 0 && EVP_Digest(raw, (size_t)len, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32;

    OPENSSL_cleanse(raw, sizeof(raw));
    if (ok)
        hex(md, 32, out);
    return ok;
}

/* A thumbprint as lower-case hex without separators; 40 or 64 digits. */
static bool thumbprint_normalise(const char *s, size_t n, char out[65])
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (c == ':' || c == ' ')
            continue;
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) || o == 64)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return o == 40 || o == 64;
}

/* ---- one identity -------------------------------------------------------------------- */

/* Where an element sits in its document, for messages. */
struct reg_where {
    const char *unit; /* "element", "line", "devices member"; NULL: the device is named by its id */
    size_t pos;       /* its index (elements, members) or number (lines) */
};

/* The element's label for messages: its device id once known, else its place. */
static void fail(char *err, size_t errlen, const struct reg_where *w, const char *device,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void fail(char *err, size_t errlen, const struct reg_where *w, const char *device,
                 const char *fmt, ...)
{
    char what[256];
    va_list ap;
    bool named = device != NULL && device[0] != '\0';

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (named && w->unit != NULL)
        snprintf(err, errlen, "device \"%s\" (%s %zu): %s", device, w->unit, w->pos, what);
    else if (named)
        snprintf(err, errlen, "device \"%s\": %s", device, what);
    else if (w->unit != NULL)
        snprintf(err, errlen, "%s %zu: %s", w->unit, w->pos, what);
    else
        snprintf(err, errlen, "the device: %s", what);
}

static bool take_device_id(json_t *el, const struct reg_where *w, struct reg_identity *id,
                           char *err, size_t errlen)
{
    json_t *v = import_member(el, "deviceId");
    const char *key = "deviceId", *why;

    /* The bulk export (ExportImportDevice) calls it "id". */
    if (v == NULL && (v = import_member(el, "id")) != NULL)
        key = "id";
    if (v == NULL) {
        fail(err, errlen, w, NULL, "deviceId is required");
        return false;
    }
    if (!json_is_string(v)) {
        fail(err, errlen, w, NULL, "%s must be a string", key);
        return false;
    }
    /* The id is not quoted: it may be what makes the message unreadable. */
    if ((why = device_id_check(json_string_value(v), json_string_length(v))) != NULL) {
        fail(err, errlen, w, NULL, "%s is not an IoT Hub device id: %s", key, why);
        return false;
    }
    snprintf(id->device_id, sizeof(id->device_id), "%s", json_string_value(v));
    return true;
}

/* An import job's line may ask for a deletion: that is no device to register. */
static bool take_import_mode(json_t *el, const struct reg_where *w, struct reg_identity *id,
                             char *err, size_t errlen)
{
    json_t *v = import_member(el, "importMode");

    if (v == NULL)
        return true;
    if (!json_is_string(v)) {
        fail(err, errlen, w, id->device_id, "importMode must be a string");
        return false;
    }
    if (strncasecmp(json_string_value(v), "delete", 6) == 0) {
        fail(err, errlen, w, id->device_id,
             "importMode %s deletes a device; remove it with `warden registry rm`",
             json_string_length(v) <= 24 ? json_string_value(v) : "delete...");
        return false;
    }
    return true;
}

/* The authentication type, from member (authentication.type, or a twin's authenticationType). */
static bool take_auth_type(json_t *obj, const char *member, const char *shown,
                           const struct reg_where *w, struct reg_identity *id, char *err,
                           size_t errlen)
{
    json_t *v = import_member(obj, member);

    if (v == NULL)
        return true;
    for (size_t t = 0; json_is_string(v) && t < sizeof(auth_types) / sizeof(auth_types[0]); t++) {
        if (strcmp(json_string_value(v), auth_types[t]) == 0) {
            snprintf(id->auth_type, sizeof(id->auth_type), "%s", auth_types[t]);
            return true;
        }
    }
    fail(err, errlen, w, id->device_id, "%s must be sas, selfSigned, certificateAuthority or none",
         shown);
    return false;
}

/*
 * One credential member of auth (the authentication object, or a twin
 * itself, whose x509Thumbprint is at its top; prefix says which in
 * messages). An empty string counts as absent, as null does: fingerprinting
 * it would make every such device share "a key".
 */
static bool take_credential(json_t *auth, const char *prefix, enum cred_kind k,
                            const struct reg_where *w, struct reg_identity *id, char *err,
                            size_t errlen)
{
    const char *obj_name = kind_source[k].object, *name = kind_source[k].member;
    json_t *obj = import_member(auth, obj_name), *v;
    bool ok;

    if (obj == NULL)
        return true;
    if (!json_is_object(obj)) {
        fail(err, errlen, w, id->device_id, "%s%s must be an object", prefix, obj_name);
        return false;
    }
    if ((v = import_member(obj, name)) == NULL || (json_is_string(v) && json_string_length(v) == 0))
        return true;
    if (!json_is_string(v)) {
        fail(err, errlen, w, id->device_id, "%s%s.%s must be a string", prefix, obj_name, name);
        return false;
    }
    if (k == CRED_SAS_PRIMARY || k == CRED_SAS_SECONDARY) {
        ok = json_string_length(v) <= HUB_KEYS_KEY_MAX &&
             key_fingerprint(json_string_value(v), json_string_length(v), id->fingerprint[k]);
        if (ok)
            memcpy(id->key[k - CRED_SAS_PRIMARY], json_string_value(v), json_string_length(v) + 1);
    } else
        ok = thumbprint_normalise(json_string_value(v), json_string_length(v), id->fingerprint[k]);
    if (!ok) {
        /* The value is not quoted: it may be a key pasted into the wrong place. */
        fail(err, errlen, w, id->device_id, "%s%s.%s is not %s", prefix, obj_name, name,
             k <= CRED_SAS_SECONDARY ? "a base64 key"
                                     : "a SHA-1 or SHA-256 thumbprint (40 or 64 hex digits)");
        return false;
    }
    id->has_cred[k] = true;
    return true;
}

/*
 * A twin (az iot hub device-identity list) says how the device authenticates
 * and its thumbprints, never its keys: those are left as they were.
 */
static bool take_twin_auth(json_t *el, const struct reg_where *w, struct reg_identity *id,
                           char *err, size_t errlen)
{
    if (!take_auth_type(el, "authenticationType", "authenticationType", w, id, err, errlen))
        return false;
    id->states_x509 = json_object_get(el, "x509Thumbprint") != NULL;
    return take_credential(el, "", CRED_X509_PRIMARY, w, id, err, errlen) &&
           take_credential(el, "", CRED_X509_SECONDARY, w, id, err, errlen);
}

/* A Device object's authentication is all its credentials: one it leaves out is none. */
static bool take_authentication(json_t *el, const struct reg_where *w, struct reg_identity *id,
                                char *err, size_t errlen)
{
    json_t *auth = import_member(el, "authentication");
    bool twin = json_object_get(el, "authenticationType") != NULL ||
                json_object_get(el, "x509Thumbprint") != NULL;

    if (twin && auth != NULL) {
        fail(err, errlen, w, id->device_id,
             "has both authentication (a Device object's) and a twin's authenticationType or "
             "x509Thumbprint");
        return false;
    }
    if (twin)
        return take_twin_auth(el, w, id, err, errlen);
    if (auth == NULL)
        return true; /* an export made without keys: "authentication": null */
    if (!json_is_object(auth)) {
        fail(err, errlen, w, id->device_id, "authentication must be an object");
        return false;
    }
    if (!take_auth_type(auth, "type", "authentication.type", w, id, err, errlen))
        return false;
    id->states_sas = id->states_x509 = true;
    for (int k = 0; k < CRED_KIND_COUNT; k++) {
        if (!take_credential(auth, "authentication.", (enum cred_kind)k, w, id, err, errlen))
            return false;
    }
    return true;
}

/* IoT Hub's DeviceStatus: a disabled device may not connect. */
static bool take_status(json_t *el, const struct reg_where *w, struct reg_identity *id, char *err,
                        size_t errlen)
{
    json_t *v = import_member(el, "status");
    const char *s = json_is_string(v) ? json_string_value(v) : "";

    if (v == NULL)
        return true;
    if (strcasecmp(s, "enabled") != 0 && strcasecmp(s, "disabled") != 0) {
        fail(err, errlen, w, id->device_id, "status must be \"enabled\" or \"disabled\"");
        return false;
    }
    snprintf(id->status, sizeof(id->status), "%s",
             strcasecmp(s, "enabled") == 0 ? "enabled" : "disabled");
    return true;
}

/* tags.SecurityGroup of holder (the element, or a state export's twin); NULL holder: no tags. */
static bool take_group(json_t *holder, const struct reg_where *w, struct reg_identity *id,
                       char *err, size_t errlen)
{
    json_t *tags = holder != NULL ? json_object_get(holder, "tags") : NULL, *v;

    if (tags == NULL)
        return true; /* a Device object has no tags: its group stays as it is */
    snprintf(id->security_group, sizeof(id->security_group), "%s", GROUP_DEFAULT_NAME);
    if (json_is_null(tags))
        return true;
    if (!json_is_object(tags)) {
        fail(err, errlen, w, id->device_id, "tags must be an object");
        return false;
    }
    if ((v = import_member(tags, "SecurityGroup")) == NULL)
        return true;
    if (!json_is_string(v) || !group_name_valid(json_string_value(v))) {
        fail(err, errlen, w, id->device_id,
             "tags.SecurityGroup must be a group name (1 to %d of A-Z a-z 0-9 . _ -)",
             GROUP_NAME_MAX);
        return false;
    }
    snprintf(id->security_group, sizeof(id->security_group), "%s", json_string_value(v));
    return true;
}

/* What a device says besides its id: src holds it, tags come from tags_holder. */
static bool take_fields(json_t *src, json_t *tags_holder, const struct reg_where *w,
                        struct reg_identity *id, char *err, size_t errlen)
{
    return take_import_mode(src, w, id, err, errlen) &&
           take_authentication(src, w, id, err, errlen) && take_status(src, w, id, err, errlen) &&
           take_group(tags_holder, w, id, err, errlen);
}

static bool parse_identity(json_t *el, const struct reg_where *w, struct reg_identity *id,
                           char *err, size_t errlen)
{
    memset(id, 0, sizeof(*id));
    id->pos = w->pos;
    if (!json_is_object(el)) {
        fail(err, errlen, w, NULL, "an identity must be an object");
        return false;
    }
    return take_device_id(el, w, id, err, errlen) && take_fields(el, el, w, id, err, errlen);
}

/*
 * One member of a state export's "devices": the key is the device id, the
 * Device object (without its id) is "identity", the tags are in "twin".
 */
static bool parse_state_device(const char *key, json_t *v, struct reg_where *w,
                               struct reg_identity *id, char *err, size_t errlen)
{
    const char *why = device_id_check(key, strlen(key));
    json_t *identity, *given, *twin;

    memset(id, 0, sizeof(*id));
    id->pos = w->pos;
    if (why != NULL) {
        fail(err, errlen, w, NULL, "the key is not an IoT Hub device id: %s", why);
        return false;
    }
    snprintf(id->device_id, sizeof(id->device_id), "%s", key);
    w->unit = NULL; /* from here on the device's id names it */
    identity = json_is_object(v) ? import_member(v, "identity") : NULL;
    if (!json_is_object(identity)) {
        fail(err, errlen, w, id->device_id, "identity must be an object");
        return false;
    }
    given = import_member(identity, "deviceId");
    if (given != NULL && (!json_is_string(given) || strcmp(json_string_value(given), key) != 0)) {
        fail(err, errlen, w, id->device_id, "identity.deviceId is not the device's key");
        return false;
    }
    twin = import_member(v, "twin");
    if (twin != NULL && !json_is_object(twin)) {
        fail(err, errlen, w, id->device_id, "twin must be an object");
        return false;
    }
    return take_fields(identity, twin, w, id, err, errlen);
}

/* ---- the document ----------------------------------------------------------------------- */

static const char *const shape_names[] = {
    [REG_SHAPE_ARRAY] = "an array",
    [REG_SHAPE_LINES] = "JSON lines",
    [REG_SHAPE_DEVICE] = "one device",
    [REG_SHAPE_STATE_EXPORT] = "a state export",
};

const char *registry_shape_name(enum reg_shape shape)
{
    WARDEN_ASSERT(shape >= 0 && shape <= REG_SHAPE_STATE_EXPORT);
    return shape_names[shape];
}

static const char expected_shapes[] =
    "a registry is a JSON array of devices, one device, JSON lines (one device a line, as the "
    "bulk export's devices.txt) or `az iot hub state export` output";

static bool doc_alloc(struct reg_doc *doc, size_t n, char *err, size_t errlen)
{
    if (n > REGISTRY_MAX_DEVICES) {
        snprintf(err, errlen, "more than %d devices", REGISTRY_MAX_DEVICES);
        return false;
    }
    if (n > 0 && (doc->ids = calloc(n, sizeof(*doc->ids))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    return true;
}

static void doc_refuse(struct reg_doc *doc, const char *msg)
{
    if (doc->refused < REGISTRY_REFUSALS_KEPT)
        snprintf(doc->refusal[doc->refused], sizeof(doc->refusal[0]), "%s", msg);
    doc->refused++;
}

/*
 * Keeps the element just parsed into doc->ids[doc->n] (ok), or counts it
 * refused with msg. seen (NULL when ids cannot repeat) maps each kept id to
 * its place, so a device twice in one document is refused naming both.
 */
static void doc_keep(struct reg_doc *doc, struct map *seen, const struct reg_where *w, bool ok,
                     char *msg, size_t msglen)
{
    struct reg_identity *id = &doc->ids[doc->n];
    struct map_entry *e;

    doc->elements++;
    if (ok && seen != NULL) {
        e = map_upsert(seen, id->device_id, strlen(id->device_id));
        if (e == NULL) {
            snprintf(msg, msglen, "out of memory");
            ok = false;
        } else if (e->value != 0) {
            fail(msg, msglen, w, id->device_id, "the device is also %s %lld", w->unit,
                 (long long)e->value - 1);
            ok = false;
        } else {
            e->value = (int64_t)w->pos + 1;
        }
    }
    if (ok)
        doc->n++;
    else {
        OPENSSL_cleanse(id, sizeof(*id));
        doc_refuse(doc, msg);
    }
}

static bool parse_array(json_t *root, struct reg_doc *doc, char *err, size_t errlen)
{
    struct map seen;
    char msg[320];
    json_t *el;
    size_t i;

    doc->shape = REG_SHAPE_ARRAY;
    if (!doc_alloc(doc, json_array_size(root), err, errlen))
        return false;
    map_init(&seen);
    json_array_foreach(root, i, el) {
        struct reg_where w = {"element", i};
        doc_keep(doc, &seen, &w, parse_identity(el, &w, &doc->ids[doc->n], msg, sizeof(msg)), msg,
                 sizeof(msg));
    }
    map_free(&seen);
    return true;
}

static bool parse_state_export(json_t *devices, struct reg_doc *doc, char *err, size_t errlen)
{
    const char *key;
    char msg[320];
    json_t *v, *modules;
    size_t i = 0;

    doc->shape = REG_SHAPE_STATE_EXPORT;
    if (!json_is_object(devices)) {
        snprintf(err, errlen,
                 "devices must be an object of devices by id (az iot hub state "
                 "export)");
        return false;
    }
    if (!doc_alloc(doc, json_object_size(devices), err, errlen))
        return false;
    json_object_foreach(devices, key, v) {
        struct reg_where w = {"devices member", i++};
        doc_keep(doc, NULL, &w, parse_state_device(key, v, &w, &doc->ids[doc->n], msg, sizeof(msg)),
                 msg, sizeof(msg));
        if (json_is_object(v) && json_is_object(modules = json_object_get(v, "modules")))
            doc->modules += json_object_size(modules);
    }
    return true;
}

static bool parse_one(json_t *root, struct reg_doc *doc, char *err, size_t errlen)
{
    struct reg_where w = {NULL, 0};
    char msg[320];

    doc->shape = REG_SHAPE_DEVICE;
    if (!doc_alloc(doc, 1, err, errlen))
        return false;
    doc_keep(doc, NULL, &w, parse_identity(root, &w, &doc->ids[0], msg, sizeof(msg)), msg,
             sizeof(msg));
    return true;
}

/* The next line of [*p, end) without its newline (and \r); advances *p past it. */
static size_t next_line(const char **p, const char *end, const char **line)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = (size_t)((nl != NULL ? nl : end) - *p);

    *line = *p;
    *p = nl != NULL ? nl + 1 : end;
    if (n > 0 && (*line)[n - 1] == '\r')
        n--;
    return n;
}

/* Whether s[0..n) is only white space (a blank line, or the end of a file). */
static bool only_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

/*
 * Whether buf is JSON lines rather than one document: its first non-blank
 * line is a whole JSON object and more follows. (One line alone is one
 * device either way.)
 */
static bool looks_like_lines(const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len, *line = buf;
    size_t n = 0, lead = 0;
    char err[128];
    json_t *first;
    bool lines;

    while (p < end) {
        n = next_line(&p, end, &line);
        if (!only_space(line, n))
            break;
        n = 0;
    }
    while (lead < n && (line[lead] == ' ' || line[lead] == '\t'))
        lead++;
    if (lead == n || line[lead] != '{' || only_space(p, (size_t)(end - p)))
        return false;
    first = import_json_load_line(line, n, err, sizeof(err));
    lines = json_is_object(first);
    json_decref(first);
    return lines;
}

static bool parse_lines(const char *buf, size_t len, struct reg_doc *doc, char *err, size_t errlen)
{
    const char *p = buf, *end = buf + len, *line;
    size_t count = 0, lineno = 0, n;
    struct map seen;
    char msg[320], why[256];

    doc->shape = REG_SHAPE_LINES;
    while (p < end) {
        n = next_line(&p, end, &line);
        count += !only_space(line, n);
    }
    if (!doc_alloc(doc, count, err, errlen))
        return false;
    map_init(&seen);
    for (p = buf; p < end;) {
        struct reg_where w = {"line", ++lineno};
        json_t *el;
        bool ok;

        n = next_line(&p, end, &line);
        if (only_space(line, n))
            continue;
        if ((el = import_json_load_line(line, n, why, sizeof(why))) == NULL) {
            fail(msg, sizeof(msg), &w, NULL, "%s", why);
            ok = false;
        } else {
            ok = parse_identity(el, &w, &doc->ids[doc->n], msg, sizeof(msg));
            json_decref(el);
        }
        doc_keep(doc, &seen, &w, ok, msg, sizeof(msg));
    }
    map_free(&seen);
    return true;
}

/* An object is one device, or a state export; nothing else. */
static bool parse_object(json_t *root, struct reg_doc *doc, char *err, size_t errlen)
{
    json_t *devices = json_object_get(root, "devices");

    if (import_member(root, "deviceId") != NULL || import_member(root, "id") != NULL)
        return parse_one(root, doc, err, errlen);
    if (devices != NULL) {
        doc->has_arm = json_object_get(root, "arm") != NULL;
        return parse_state_export(devices, doc, err, errlen);
    }
    snprintf(err, errlen, "%s; this object has neither deviceId nor devices", expected_shapes);
    return false;
}

void registry_doc_free(struct reg_doc *doc)
{
    if (doc->ids != NULL)
        OPENSSL_cleanse(doc->ids, doc->n * sizeof(*doc->ids));
    free(doc->ids);
    doc->ids = NULL;
    doc->n = 0;
}

bool registry_parse(const char *buf, size_t len, struct reg_doc *doc, char *err, size_t errlen)
{
    json_t *root = NULL;
    bool ok;

    memset(doc, 0, sizeof(*doc));
    /* A byte order mark, as Windows tools write one, is not part of the JSON. */
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        buf += 3, len -= 3;
    if (looks_like_lines(buf, len))
        ok = parse_lines(buf, len, doc, err, errlen);
    else if ((root = import_json_load(buf, len, err, errlen)) == NULL)
        ok = false;
    else if (json_is_array(root))
        ok = parse_array(root, doc, err, errlen);
    else if (json_is_object(root))
        ok = parse_object(root, doc, err, errlen);
    else {
        snprintf(err, errlen, "%s", expected_shapes);
        ok = false;
    }
    json_decref(root);
    if (ok && doc->refused > 0) {
        snprintf(err, errlen, "%zu of %zu devices refused", doc->refused, doc->elements);
        ok = false;
    }
    if (!ok) {
        /* All or nothing: a document with one bad device gives none. */
        if (doc->ids != NULL)
            OPENSSL_cleanse(doc->ids, doc->elements * sizeof(*doc->ids));
        free(doc->ids);
        doc->ids = NULL;
        doc->n = 0;
    }
    return ok;
}
