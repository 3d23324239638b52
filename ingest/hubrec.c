/*
 * ingest/hubrec.c: hub operation records (SPEC 2.4) from whatever runs the
 * hub side of a lab, and IoT Hub's own logs (ingest/hubazure.c maps those):
 * one JSON object, an array of them, objects back to back (Azure's storage
 * archive), or a wrapper object whose `records` or `value` array holds them.
 *
 * Two levels of failure. A payload too deep, with more than max_records
 * elements, not an object or array, or (a single object) not JSON, or (an
 * array, a wrapper's array, a sequence of objects) whose frame is broken (no
 * closing bracket, an empty element, bytes after it) is unusable as a whole.
 * Otherwise each element stands alone: its bytes are found by a scanner that
 * does not parse them and are parsed by themselves, so an element that is
 * not JSON, not UTF-8 or not an object is reported with its reason and its
 * own bytes, dead-lettered by itself, and its neighbours are stored, as is
 * a lab record out of bounds. An Azure object (with an `operationName`) that
 * cannot be mapped is stored as an Unknown record with its reason
 * (decode.h), never dead-lettered.
 *
 * Per lab record: `category` and `operation` are required strings; `time`
 * (ISO 8601, default the received time), `result`, `reason`, `deviceId`,
 * `sourceIp`, `details` and `count` (1..1,000,000, default 1) are optional,
 * and checked when present. A JSON null counts as absent. Unknown categories
 * and unknown members are accepted. An object with an `operationName` is
 * one of Azure's (hubazure.c).
 */
#include "decode.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define HUB_MAX_COUNT 1000000
/* What an Unknown record keeps of its own text: as much as a dead letter would. */
#define HUB_UNKNOWN_TEXT_MAX (64 * 1024)

#define hub_oom ingest_hub_oom

/* Member key of obj, NULL when absent or JSON null. */
static json_t *member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_null(v) ? NULL : v;
}

static const char *copy(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

/*
 * A label member (category, operation, result, reason): non-empty, bounded,
 * printable. *out is a copy in the arena, NULL when absent. Each field has
 * its own reasons, so they are passed in; a NULL `missing` reason is what
 * makes a field optional.
 */
struct label_reasons {
    const char *missing, *type, *invalid;
};

static const char *take_label(struct arena *a, json_t *rec, const char *key,
                              const struct label_reasons *why, const char **out)
{
    json_t *v = member(rec, key);
    const char *s;
    size_t n;

    *out = NULL;
    if (v == NULL)
        return why->missing;
    if (!json_is_string(v))
        return why->type;
    s = json_string_value(v);
    n = json_string_length(v);
    if (!ingest_hub_label_ok(s, n))
        return why->invalid;
    if ((*out = copy(a, s)) == NULL)
        return hub_oom;
    return NULL;
}

/*
 * An IoT Hub device id (device_id_check). Whether the record may register
 * the device is not decided here but where it is stored (ingest/route.c).
 * The reason names what is wrong, so it is written into the arena.
 */
static const char *take_device_id(struct arena *a, json_t *rec, const char **out)
{
    json_t *v = member(rec, "deviceId");
    const char *why;
    char *reason;

    *out = NULL;
    if (v == NULL)
        return NULL;
    if (!json_is_string(v))
        return "hub: deviceId not a string";
    if ((why = device_id_check(json_string_value(v), json_string_length(v))) != NULL) {
        size_t n = strlen("hub: deviceId ") + strlen(why) + 1;
        if ((reason = arena_alloc(a, n)) == NULL)
            return hub_oom;
        snprintf(reason, n, "hub: deviceId %s", why);
        return reason;
    }
    if ((*out = copy(a, json_string_value(v))) == NULL)
        return hub_oom;
    return NULL;
}

/* sourceIp, stored in canonical form (inet_ntop), as every address is. */
static const char *take_source_ip(struct arena *a, json_t *rec, const char **out)
{
    json_t *v = member(rec, "sourceIp");
    struct ip_addr ip;
    char text[64];

    *out = NULL;
    if (v == NULL)
        return NULL;
    if (!json_is_string(v))
        return "hub: sourceIp not a string";
    if (!ip_parse(json_string_value(v), &ip))
        return "hub: sourceIp not an address";
    ip_format(&ip, text, sizeof(text));
    if ((*out = copy(a, text)) == NULL)
        return hub_oom;
    return NULL;
}

static const char *take_time(json_t *rec, int64_t recv_ms, int64_t *out)
{
    json_t *v = member(rec, "time");

    *out = recv_ms;
    if (v == NULL)
        return NULL;
    if (!json_is_string(v))
        return "hub: time not a string";
    if (!time_parse_iso(json_string_value(v), out))
        return "hub: time not a date";
    return NULL;
}

static const char *take_count(json_t *rec, int64_t *out)
{
    json_t *v = member(rec, "count");

    *out = 1;
    if (v == NULL)
        return NULL;
    if (!json_is_integer(v))
        return "hub: count not an integer";
    if (json_integer_value(v) < 1 || json_integer_value(v) > HUB_MAX_COUNT)
        return "hub: count out of range";
    *out = json_integer_value(v);
    return NULL;
}

/*
 * details: a map of strings, kept as JSON text. A DiagnosticSettings record
 * may also carry the setting itself in details.config, an object in the 4.3
 * shape; its inside is checked by whoever applies it.
 */
static const char *take_details(struct arena *a, json_t *rec, const char *category,
                                const char **out)
{
    json_t *v = member(rec, "details"), *value;
    bool diag = strcmp(category, "DiagnosticSettings") == 0;
    const char *key;

    *out = NULL;
    if (v == NULL)
        return NULL;
    if (!json_is_object(v))
        return "hub: details not an object";
    json_object_foreach (v, key, value) {
        if (diag && strcmp(key, "config") == 0) {
            if (!json_is_object(value))
                return "hub: details.config not an object";
        } else if (!json_is_string(value)) {
            return "hub: details value not a string";
        }
    }
    return (*out = ingest_hub_dump(a, v)) != NULL ? NULL : hub_oom;
}

static const struct label_reasons category_why = {
    "hub: category missing", "hub: category not a string", "hub: category invalid"};
static const struct label_reasons operation_why = {
    "hub: operation missing", "hub: operation not a string", "hub: operation invalid"};
static const struct label_reasons result_why = {NULL, "hub: result not a string",
                                                "hub: result invalid"};
static const struct label_reasons reason_why = {NULL, "hub: reason not a string",
                                                "hub: reason invalid"};

/* Validate one lab record (an object) into op; NULL when it is good, else the reason. */
static const char *decode_record(struct arena *a, json_t *rec, int64_t recv_ms,
                                 struct store_hubop *op)
{
    const char *why;

    if ((why = take_label(a, rec, "category", &category_why, &op->category)) != NULL ||
        (why = take_label(a, rec, "operation", &operation_why, &op->operation)) != NULL ||
        (why = take_label(a, rec, "result", &result_why, &op->result)) != NULL ||
        (why = take_label(a, rec, "reason", &reason_why, &op->reason)) != NULL ||
        (why = take_time(rec, recv_ms, &op->time_ms)) != NULL ||
        (why = take_device_id(a, rec, &op->device_id)) != NULL ||
        (why = take_source_ip(a, rec, &op->source_ip)) != NULL ||
        (why = take_count(rec, &op->count)) != NULL ||
        (why = take_details(a, rec, op->category, &op->details)) != NULL)
        return why;
    return NULL;
}

/* One element's bytes in the payload. */
struct element {
    size_t start, len;
};

static bool json_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static size_t skip_space(const uint8_t *buf, size_t len, size_t i)
{
    while (i < len && json_space(buf[i]))
        i++;
    return i;
}

/*
 * Where the value that begins at buf[i] ends at its own level: the index of
 * the ',' or of the CLOSE bracket (']' or '}') after it, outside strings
 * (skipped with their escapes) and nested brackets; len when there is none.
 * Nothing is parsed: a bracket that closes nothing, other than CLOSE, is one
 * of the value's bytes, for its parser to refuse.
 */
static size_t value_end(const uint8_t *buf, size_t len, size_t i, uint8_t close)
{
    size_t depth = 0;

    while (i < len) {
        uint8_t c = buf[i];

        if (c == '"') {
            i = json_string_end(buf, len, i);
            continue;
        }
        if (c == '[' || c == '{') {
            depth++;
        } else if (c == ']' || c == '}') {
            if (depth > 0)
                depth--;
            else if (c == close)
                break;
        } else if (c == ',' && depth == 0) {
            break;
        }
        i++;
    }
    return i;
}

/* The span buf[start..end) with its trailing spaces trimmed. */
static struct element trimmed(const uint8_t *buf, size_t start, size_t end)
{
    while (end > start && json_space(buf[end - 1]))
        end--;
    return (struct element){start, end - start};
}

/*
 * The element that begins at or after *pos in an array's bytes: up to the
 * ',' or ']' that ends it at its own top level. An element can be anything
 * but empty. On success *pos is at that ',' or ']' and e has the element,
 * spaces trimmed.
 */
static const char *next_element(const uint8_t *buf, size_t len, size_t *pos, struct element *e)
{
    size_t i = skip_space(buf, len, *pos), end;

    if (i == len)
        return "hub: truncated";
    if (buf[i] == ',' || buf[i] == ']')
        return "hub: malformed"; /* [,x], [x,,y], [x,] */
    if ((end = value_end(buf, len, i, ']')) == len)
        return "hub: truncated";
    *pos = end;
    *e = trimmed(buf, i, end);
    return NULL;
}

/*
 * The elements of the array in buf[0..len) whose '[' ends at FROM: counts them
 * into *n, and with elems (room for *n) records them. Refuses more than
 * max_records.
 */
static const char *scan_array(const uint8_t *buf, size_t len, size_t from, size_t max_records,
                              struct element *elems, size_t *n)
{
    size_t pos = skip_space(buf, len, from), count = 0;
    struct element e;
    const char *why;

    if (pos < len && buf[pos] == ']') {
        pos++;
    } else {
        for (;;) {
            if ((why = next_element(buf, len, &pos, &e)) != NULL)
                return why;
            if (++count > max_records)
                return "hub: too many records";
            if (elems != NULL)
                elems[count - 1] = e;
            if (buf[pos++] == ']')
                break;
        }
    }
    if (skip_space(buf, len, pos) != len)
        return "hub: trailing data";
    *n = count;
    return NULL;
}

/*
 * The object that begins at buf[i] ('{'): *end just past the '}' that closes
 * it, found member by member as value_end finds array elements.
 */
static bool object_end(const uint8_t *buf, size_t len, size_t i, size_t *end)
{
    for (i++; (i = value_end(buf, len, i, '}')) < len; i++) {
        if (buf[i] == '}') {
            *end = i + 1;
            return true;
        }
    }
    return false;
}

/*
 * The value of member KEY (spelled without escapes) at the top level of the
 * object buf[start..end), end just past its '}'. Found only when the object's
 * frame up to it reads as one (a string, a colon, a value, a comma, ...); the
 * value's own bytes are not checked.
 */
static bool object_member(const uint8_t *buf, size_t start, size_t end, const char *key,
                          struct element *v)
{
    size_t i = start + 1, klen = strlen(key), k, vend;
    bool match;

    end--; /* the closing brace */
    for (;;) {
        i = skip_space(buf, end, i);
        if (i >= end || buf[i] != '"')
            return false;
        k = json_string_end(buf, end, i);
        match = k - i == klen + 2 && memcmp(buf + i + 1, key, klen) == 0;
        i = skip_space(buf, end, k);
        if (i >= end || buf[i] != ':')
            return false;
        i = skip_space(buf, end, i + 1);
        vend = value_end(buf, end, i, '}');
        if (vend == i || (vend < end && buf[vend] != ','))
            return false;
        if (match) {
            *v = trimmed(buf, i, vend);
            return true;
        }
        if (vend == end)
            return false;
        i = vend + 1;
    }
}

/*
 * A wrapper of records: an object with a `records` array (resource logs,
 * the Activity log from storage or Event Hubs) or a `value` array (the
 * Activity log REST API's list), and no record fields of its own. *arr is
 * the array.
 */
static bool wrapper_array(const uint8_t *buf, size_t start, size_t end, struct element *arr)
{
    struct element v;

    if (object_member(buf, start, end, "operationName", &v) ||
        object_member(buf, start, end, "operation", &v))
        return false;
    return (object_member(buf, start, end, "records", arr) ||
            object_member(buf, start, end, "value", arr)) &&
           buf[arr->start] == '[';
}

/*
 * The elements of a payload of objects, the first at FROM, back to back with
 * only spaces between (newlines or none, as the storage archive writes them):
 * each object is an element, or a wrapper whose array's elements are. Counts
 * them into *n, and with elems (room for *n) records them; *wrappers counts
 * the wrappers and *objects the objects. Refuses more than max_records.
 */
struct objects_scan {
    size_t n, objects, wrappers;
};

static const char *scan_objects(const uint8_t *buf, size_t len, size_t from, size_t max_records,
                                struct element *elems, struct objects_scan *sc)
{
    size_t pos = from, end, k;
    struct element arr;
    const char *why;

    memset(sc, 0, sizeof(*sc));
    while ((pos = skip_space(buf, len, pos)) < len) {
        if (buf[pos] != '{')
            return "hub: trailing data";
        if (!object_end(buf, len, pos, &end))
            return "hub: truncated";
        sc->objects++;
        if (wrapper_array(buf, pos, end, &arr)) {
            why = scan_array(buf, arr.start + arr.len, arr.start + 1, max_records - sc->n,
                             elems != NULL ? elems + sc->n : NULL, &k);
            if (why != NULL)
                return why;
            sc->wrappers++;
            sc->n += k;
        } else {
            if (++sc->n > max_records)
                return "hub: too many records";
            if (elems != NULL)
                elems[sc->n - 1] = (struct element){pos, end - pos};
        }
        pos = end;
    }
    return NULL;
}

/*
 * An object that is no record Warden can map: kept as category Unknown with
 * why it is not one, and its own text (the first 64 KiB, cut on a character
 * boundary) in details.record, so that it is seen where hub records are
 * rather than lost with a dead letter nobody reads as a record.
 */
static const char *unknown_record(struct arena *a, const uint8_t *p, size_t n, const char *hub,
                                  int64_t recv_ms, const char *why, struct store_hubop *op)
{
    size_t cut = n < HUB_UNKNOWN_TEXT_MAX ? n : HUB_UNKNOWN_TEXT_MAX;
    json_t *d;

    while (cut > 0 && cut < n && (p[cut] & 0xc0) == 0x80)
        cut--;
    *op = (struct store_hubop){.hub = hub, .time_ms = recv_ms, .category = "Unknown",
                               .operation = "unknown", .reason = why, .count = 1};
    /* The element parsed, so its text is UTF-8 without NUL; a cut one still is. */
    if ((d = json_pack("{s:s%}", "record", (const char *)p, cut)) == NULL)
        return NULL;
    op->details = ingest_hub_dump(a, d);
    json_decref(d);
    return op->details != NULL ? NULL : hub_oom;
}

/*
 * Element i, the bytes p[0..n): parsed alone and mapped into out->ops[i] (an
 * Unknown record when it cannot be), or, when it is not a JSON object, its
 * reason and bytes into out->errors[i], out->raw[i]. Only running out of
 * memory fails the payload.
 */
static const char *decode_element(struct arena *a, const uint8_t *p, size_t n, const char *hub,
                                  int64_t recv_ms, struct ingest_hubrecs *out, size_t i)
{
    json_error_t err;
    json_t *rec = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    struct store_hubop op = {.hub = hub};
    const char *why;

    if (rec == NULL) {
        why = ingest_json_load_reason(p, n, &err, true);
    } else if (!json_is_object(rec)) {
        why = "hub: record not an object";
    } else {
        bool azure = member(rec, "operationName") != NULL;

        why = azure ? ingest_hub_azure(a, rec, recv_ms, &op) : decode_record(a, rec, recv_ms, &op);
        /* A lab record out of bounds is its sender's bug, dead-lettered (SPEC 2.4); one of
         * Azure's logs is what Azure wrote, kept so that it is seen. */
        if (azure && why != NULL && why != hub_oom) {
            out->unknown[i] = true;
            why = unknown_record(a, p, n, hub, recv_ms, why, &op);
        }
    }
    json_decref(rec);
    if (why == hub_oom)
        return hub_oom;
    if (why == NULL) {
        out->ops[i] = op;
        return NULL;
    }
    out->errors[i] = why;
    out->raw_len[i] = n;
    if ((out->raw[i] = arena_strndup(a, (const char *)p, n)) == NULL)
        return hub_oom;
    return NULL;
}

static const char *alloc_out(struct arena *a, size_t n, struct ingest_hubrecs *out)
{
    if (n > SIZE_MAX / sizeof(*out->ops) ||
        (out->ops = arena_alloc(a, n * sizeof(*out->ops))) == NULL ||
        (out->errors = arena_alloc(a, n * sizeof(*out->errors))) == NULL ||
        (out->raw = arena_alloc(a, n * sizeof(*out->raw))) == NULL ||
        (out->raw_len = arena_alloc(a, n * sizeof(*out->raw_len))) == NULL ||
        (out->unknown = arena_alloc(a, n * sizeof(*out->unknown))) == NULL)
        return hub_oom;
    return NULL;
}

/*
 * The elements of an array (objects false) or of a sequence of objects
 * (objects true) that starts at FROM: their frame scanned, then each element
 * decoded by itself.
 */
static const char *decode_elements(const uint8_t *buf, size_t len, size_t from, bool objects,
                                   const char *hub, int64_t recv_ms, size_t max_records,
                                   struct arena *a, struct ingest_hubrecs *out)
{
    struct element *elems = NULL;
    struct objects_scan sc;
    const char *why, *hub_copy;
    size_t n;

    why = objects ? scan_objects(buf, len, from, max_records, NULL, &sc)
                  : scan_array(buf, len, from, max_records, NULL, &sc.n);
    if (why != NULL)
        return why;
    if ((n = sc.n) == 0)
        return NULL;
    if ((hub_copy = copy(a, hub)) == NULL ||
        (elems = arena_alloc(a, n * sizeof(*elems))) == NULL || alloc_out(a, n, out) != NULL)
        return hub_oom;
    if (objects)
        scan_objects(buf, len, from, max_records, elems, &sc);
    else
        scan_array(buf, len, from, max_records, elems, &sc.n);
    for (size_t i = 0; i < n; i++)
        if (decode_element(a, buf + elems[i].start, elems[i].len, hub_copy, recv_ms, out, i) !=
            NULL)
            return hub_oom;
    out->n = n;
    return NULL;
}

/* A single object: JSON as a whole, then one record that stands or falls alone. */
static const char *decode_object(const uint8_t *buf, size_t len, const char *hub,
                                 int64_t recv_ms, struct arena *a, struct ingest_hubrecs *out)
{
    json_error_t err;
    json_t *root;
    const char *hub_copy;

    root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (root == NULL)
        return ingest_json_load_reason(buf, len, &err, true);
    bool object = json_is_object(root);
    json_decref(root);
    if (!object)
        return "hub: not an object or array";
    if ((hub_copy = copy(a, hub)) == NULL || alloc_out(a, 1, out) != NULL ||
        decode_element(a, buf, len, hub_copy, recv_ms, out, 0) != NULL)
        return hub_oom;
    out->n = 1;
    return NULL;
}

/*
 * A payload that begins with '{' at FIRST: objects back to back, or a wrapper
 * of records, is decoded element by element; a single object that is
 * neither, or whose frame does not scan, is one record judged whole
 * (decode_object), as it always was. Too many records refuse it either way.
 */
static const char *decode_objects(const uint8_t *buf, size_t len, size_t first, const char *hub,
                                  int64_t recv_ms, size_t max_records, struct arena *a,
                                  struct ingest_hubrecs *out)
{
    struct objects_scan sc;
    const char *why = scan_objects(buf, len, first, max_records, NULL, &sc);

    if (why != NULL && strcmp(why, "hub: too many records") == 0)
        return why;
    if (why == NULL && (sc.objects > 1 || sc.wrappers > 0))
        return decode_elements(buf, len, first, true, hub, recv_ms, max_records, a, out);
    return decode_object(buf, len, hub, recv_ms, a, out);
}

/*
 * Decode the records of one payload (see decode.h). Everything out points at
 * lives in *arena, or is a static string (most reasons); *why is a static string.
 * Duplicate keys make a record invalid (a single object: the payload): two
 * readers could disagree on which value it meant.
 */
bool ingest_decode_hubrecs(const uint8_t *buf, size_t len, const char *hub, int64_t recv_ms,
                           size_t max_records, struct arena *arena, struct ingest_hubrecs *out,
                           const char **why)
{
    size_t first;

    WARDEN_ASSERT(hub != NULL && arena != NULL && out != NULL && why != NULL);
    memset(out, 0, sizeof(*out));
    *why = NULL;
    if (len == 0) {
        *why = "hub: empty payload";
        return false;
    }
    switch (json_prescan(buf, len, INGEST_JSON_MAX_DEPTH, max_records)) {
    case JSON_SCAN_TOO_DEEP: *why = "hub: too deep"; return false;
    case JSON_SCAN_TOO_MANY: *why = "hub: too many records"; return false;
    case JSON_SCAN_OK: break;
    }
    first = skip_space(buf, len, 0);
    if (first < len && buf[first] == '[')
        *why = decode_elements(buf, len, first + 1, false, hub, recv_ms, max_records, arena, out);
    else if (first < len && buf[first] == '{')
        *why = decode_objects(buf, len, first, hub, recv_ms, max_records, arena, out);
    else
        *why = decode_object(buf, len, hub, recv_ms, arena, out);
    if (*why != NULL) {
        memset(out, 0, sizeof(*out));
        return false;
    }
    return true;
}
