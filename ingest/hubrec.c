/*
 * ingest/hubrec.c: hub operation records (SPEC 2.4), one JSON object or an
 * array of them, from whatever runs the hub side of a lab.
 *
 * Two levels of failure. A payload too deep, with more than max_records
 * elements, not an object or array, or (an object) not JSON, or (an array)
 * whose frame is broken (no closing bracket, an empty element, bytes after
 * it) is unusable as a whole. Otherwise each element of an array stands
 * alone: its bytes are found by a scanner that does not parse them and are
 * parsed by themselves, so an element that is not JSON, not UTF-8 or not a
 * valid record is reported with its reason and its own bytes, dead-lettered
 * by itself, and its neighbours are stored.
 *
 * Per record: `category` and `operation` are required strings; `time`
 * (ISO 8601, default the received time), `result`, `reason`, `deviceId`,
 * `sourceIp`, `details` and `count` (1..1,000,000, default 1) are optional,
 * and checked when present. A JSON null counts as absent. Unknown categories
 * and unknown members are accepted.
 */
#include "decode.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* Real records nest four levels (array, record, details, config) plus the config's own. */
/* Bound on category, operation, result and reason: short words people read. */
#define HUB_MAX_LABEL 128
#define HUB_MAX_COUNT     1000000

static const char hub_oom[] = "hub: out of memory";

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
    if (n == 0 || n > HUB_MAX_LABEL || !text_printable(s, n))
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
    char *text;
    size_t n;

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
    n = json_dumpb(v, NULL, 0, JSON_COMPACT);
    if (n == 0 || (text = arena_alloc(a, n + 1)) == NULL || json_dumpb(v, text, n, JSON_COMPACT) != n)
        return hub_oom;
    *out = text;
    return NULL;
}

static const struct label_reasons category_why = {
    "hub: category missing", "hub: category not a string", "hub: category invalid"};
static const struct label_reasons operation_why = {
    "hub: operation missing", "hub: operation not a string", "hub: operation invalid"};
static const struct label_reasons result_why = {NULL, "hub: result not a string",
                                                "hub: result invalid"};
static const struct label_reasons reason_why = {NULL, "hub: reason not a string",
                                                "hub: reason invalid"};

/* Validate one record into op; NULL when it is good, else the reason. */
static const char *decode_record(struct arena *a, json_t *rec, const char *hub, int64_t recv_ms,
                                 struct store_hubop *op)
{
    const char *why;

    if (!json_is_object(rec))
        return "hub: record not an object";
    op->hub = hub;
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

/*
 * The element that begins at or after *pos in an array's bytes: up to the
 * ',' or ']' that ends it at its own top level, outside strings (skipped with
 * their escapes). Nothing is parsed, so an element can be anything but empty;
 * a bracket that closes nothing is one of its bytes, for its parser to refuse.
 * On success *pos is at that ',' or ']' and e has the element, spaces trimmed.
 */
static const char *next_element(const uint8_t *buf, size_t len, size_t *pos, struct element *e)
{
    size_t i = *pos, depth = 0;

    while (i < len && json_space(buf[i]))
        i++;
    if (i == len)
        return "hub: truncated";
    if (buf[i] == ',' || buf[i] == ']')
        return "hub: malformed"; /* [,x], [x,,y], [x,] */
    e->start = i;
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
            else if (c == ']')
                break;
        } else if (c == ',' && depth == 0) {
            break;
        }
        i++;
    }
    if (i == len)
        return "hub: truncated";
    *pos = i;
    while (i > e->start && json_space(buf[i - 1]))
        i--;
    e->len = i - e->start;
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
    size_t pos = from, count = 0;
    struct element e;
    const char *why;

    while (pos < len && json_space(buf[pos]))
        pos++;
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
    while (pos < len && json_space(buf[pos]))
        pos++;
    if (pos != len)
        return "hub: trailing data";
    *n = count;
    return NULL;
}

/*
 * Element i, the bytes p[0..n): parsed alone and decoded into out->ops[i], or
 * its reason and bytes into out->errors[i], out->raw[i]. Only running out of
 * memory fails the payload.
 */
static const char *decode_element(struct arena *a, const uint8_t *p, size_t n, const char *hub,
                                  int64_t recv_ms, struct ingest_hubrecs *out, size_t i)
{
    json_error_t err;
    json_t *rec = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    struct store_hubop op = {0};
    const char *why;

    if (rec == NULL) {
        why = ingest_json_load_reason(p, n, &err, true);
    } else {
        why = decode_record(a, rec, hub, recv_ms, &op);
        json_decref(rec);
    }
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
        (out->raw_len = arena_alloc(a, n * sizeof(*out->raw_len))) == NULL)
        return hub_oom;
    return NULL;
}

/* An array: its frame scanned, then each element decoded by itself. */
static const char *decode_array(const uint8_t *buf, size_t len, size_t from, const char *hub,
                                int64_t recv_ms, size_t max_records, struct arena *a,
                                struct ingest_hubrecs *out)
{
    struct element *elems;
    const char *why, *hub_copy;
    size_t n;

    if ((why = scan_array(buf, len, from, max_records, NULL, &n)) != NULL)
        return why;
    if (n == 0)
        return NULL;
    if ((hub_copy = copy(a, hub)) == NULL ||
        (elems = arena_alloc(a, n * sizeof(*elems))) == NULL || alloc_out(a, n, out) != NULL)
        return hub_oom;
    scan_array(buf, len, from, max_records, elems, &n);
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
 * Decode the records of one payload (see decode.h). Everything out points at
 * lives in *arena, or is a static string (most reasons); *why is a static string.
 * Duplicate keys make a record invalid (a single object: the payload): two
 * readers could disagree on which value it meant.
 */
bool ingest_decode_hubrecs(const uint8_t *buf, size_t len, const char *hub, int64_t recv_ms,
                           size_t max_records, struct arena *arena, struct ingest_hubrecs *out,
                           const char **why)
{
    size_t first = 0;

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
    while (first < len && json_space(buf[first]))
        first++;
    if (first < len && buf[first] == '[')
        *why = decode_array(buf, len, first + 1, hub, recv_ms, max_records, arena, out);
    else
        *why = decode_object(buf, len, hub, recv_ms, arena, out);
    if (*why != NULL) {
        memset(out, 0, sizeof(*out));
        return false;
    }
    return true;
}
