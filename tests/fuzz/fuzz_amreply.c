/*
 * libFuzzer target for what Warden reads from and writes to Alertmanager
 * (notify/ampayload.c). Each input is read as the answer of GET
 * /api/v2/status, /api/v2/alerts and /api/v2/silences, which come from the
 * network. Besides the sanitizers' own checks it asserts what the callers
 * (notify/amsender.c, notify/notifycmd.c) rely on: the documented strings are
 * non-NULL, silenced_by and inhibited_by are JSON arrays of printable ids
 * under 100 bytes that fit their buffers, an expired silence is never
 * reported, the count returned is the number of calls.
 *
 * The same input, cut at its newlines, also gives the strings of an alert
 * (the database's text in the real sender): its postable JSON must dump to
 * valid UTF-8 that jansson reads back equal, with Warden's labels present
 * whenever their text is valid UTF-8, never overridden by notify.labels, and
 * an endsAt never before its startsAt.
 */
#include "../../notify/ampayload.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FIELDS 12
#define AM_MAX_ID 100
#define YEAR_9999_MS 253402300799999LL

static void check_id(const char *id)
{
    WARDEN_ASSERT(id != NULL && *id != '\0' && strlen(id) < AM_MAX_ID);
    WARDEN_ASSERT(text_printable(id, strlen(id)) && utf8_valid(id, strlen(id)));
}

static void check_ids(const char *text, size_t cap)
{
    json_t *arr, *x;
    size_t i;

    WARDEN_ASSERT(strlen(text) < cap);
    arr = json_loads(text, 0, NULL);
    WARDEN_ASSERT(json_is_array(arr));
    json_array_foreach(arr, i, x)
        check_id(json_string_value(x));
    json_decref(arr);
}

static void on_seen(void *arg, const struct am_seen *s)
{
    (*(int *)arg)++;
    WARDEN_ASSERT(s->alertname != NULL && s->alert_key != NULL && s->kind != NULL);
    check_ids(s->silenced_by, sizeof(s->silenced_by));
    check_ids(s->inhibited_by, sizeof(s->inhibited_by));
}

static void on_silence(void *arg, const struct am_silence *s)
{
    (*(int *)arg)++;
    check_id(s->id);
    WARDEN_ASSERT(s->state != NULL && strcmp(s->state, "expired") != 0);
    if (s->matchers != NULL) {
        json_t *m = json_loads(s->matchers, 0, NULL);

        WARDEN_ASSERT(json_is_array(m));
        json_decref(m);
    }
}

static void check_replies(const char *buf, size_t size)
{
    char uptime[64];
    int calls = 0, n;

    if (am_parse_uptime(buf, size, uptime, sizeof(uptime)))
        WARDEN_ASSERT(uptime[0] != '\0' && strlen(uptime) < sizeof(uptime) &&
                      text_printable(uptime, strlen(uptime)));
    n = am_parse_alerts(buf, size, on_seen, &calls);
    WARDEN_ASSERT(n == -1 ? calls == 0 : n == calls);
    calls = 0;
    n = am_parse_silences(buf, size, on_silence, &calls);
    WARDEN_ASSERT(n == -1 ? calls == 0 : n == calls);
}

/* Field i of the input's lines, "" past the last; NULL for a NULL column when empty. */
static const char *field(char **f, int i, bool nullable)
{
    return nullable && f[i][0] == '\0' ? NULL : f[i];
}

static bool text_ok(const char *s)
{
    return s != NULL && *s != '\0' && utf8_valid(s, strlen(s));
}

static void check_label(json_t *l, const char *k, const char *want)
{
    const char *got = json_string_value(json_object_get(l, k));

    if (text_ok(want))
        WARDEN_ASSERT(got != NULL && strcmp(got, want) == 0);
}

static int64_t time_of(json_t *a, const char *k)
{
    int64_t ms;

    WARDEN_ASSERT(time_parse_iso(json_string_value(json_object_get(a, k)), &ms));
    return ms;
}

static void check_times(json_t *a, const struct am_item *it, int64_t now, int64_t lease)
{
    int64_t start = time_of(a, "startsAt"), end = time_of(a, "endsAt");

    WARDEN_ASSERT(start == it->start_ms && end >= start);
    if (it->end_ms < 0)
        WARDEN_ASSERT(end >= now + lease && end > start);
    else
        WARDEN_ASSERT(end <= (now > start ? now : start));
}

static void check_item(struct am_item *it, json_t *extra, int64_t now, int64_t lease)
{
    json_t *a = am_item_json(it, extra, now, lease, "http://warden.lab:8080"), *back, *l;
    char *text = json_dumps(a, JSON_COMPACT), sev[16], url[200];
    const char *summary;
    size_t i;

    WARDEN_ASSERT(text != NULL && utf8_valid(text, strlen(text)));
    back = json_loads(text, 0, NULL);
    free(text);
    WARDEN_ASSERT(back != NULL && json_equal(back, a));
    l = json_object_get(back, "labels");
    WARDEN_ASSERT(json_is_object(l));
    check_label(l, "alertname", it->type);
    check_label(l, "alert_key", it->key);
    check_label(l, "kind", it->kind);
    check_label(l, "source", "warden");
    check_label(l, "lab", json_string_value(json_object_get(extra, "lab")));
    if (it->device_id != NULL) {
        check_label(l, "device_id", it->device_id);
        check_label(l, "security_group", it->group);
        WARDEN_ASSERT(json_object_get(l, "hub") == NULL);
    } else {
        check_label(l, "hub", it->hub);
        WARDEN_ASSERT(json_object_get(l, "device_id") == NULL);
    }
    for (i = 0; it->severity[i] != '\0' && i + 1 < sizeof(sev); i++)
        sev[i] = (char)tolower((unsigned char)it->severity[i]);
    sev[i] = '\0';
    if (utf8_valid(it->severity, strlen(it->severity)) && strlen(it->severity) < sizeof(sev))
        check_label(l, "severity", sev);
    /* Every label value is a string: Alertmanager refuses anything else. */
    {
        const char *k;
        json_t *v;

        json_object_foreach(l, k, v)
            WARDEN_ASSERT(json_is_string(v));
    }
    summary = json_string_value(json_object_get(json_object_get(back, "annotations"), "summary"));
    if (text_ok(it->title ? it->title : it->type) &&
        utf8_valid(it->device_id ? it->device_id : it->hub,
                   strlen(it->device_id ? it->device_id : it->hub)))
        WARDEN_ASSERT(summary != NULL);
    am_item_url(it, "http://warden.lab:8080", url, sizeof(url));
    WARDEN_ASSERT(strcmp(json_string_value(json_object_get(back, "generatorURL")), url) == 0);
    check_times(back, it, now, lease);
    json_decref(back);
    json_decref(a);
}

/* An FNV-1a hash of the input: the item's numbers, so that they move with its bytes. */
static uint64_t hash(const uint8_t *data, size_t size)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ULL;
    return h;
}

static void check_from_lines(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1), *f[FIELDS], *p;
    uint64_t h = hash(data, size);
    int64_t now = 1000000000000LL + (int64_t)(h % 3000000000000ULL);
    int64_t lease = 1000 + (int64_t)((h >> 20) % 600000);
    struct am_item it;
    json_t *extra;
    int n = 0;

    memcpy(copy, data, size);
    copy[size] = '\0';
    for (p = copy; n < FIELDS; n++) {
        f[n] = p;
        p += strcspn(p, "\n");
        if (*p == '\n')
            *p++ = '\0';
    }
    memset(&it, 0, sizeof(it));
    it.kind = h & 1 ? "recommendation" : "alert";
    it.ref = (int64_t)(h >> 8) % 1000000;
    it.type = f[0];
    it.key = f[1];
    it.severity = f[2];
    it.device_id = field(f, 3, true);
    it.hub = f[4];
    it.group = it.device_id ? field(f, 5, true) : NULL;
    it.title = field(f, 6, true);
    it.description = field(f, 7, true);
    it.remediation = field(f, 8, true);
    it.status = f[9];
    it.value = field(f, 10, true);
    /* A start up to ten minutes either side of now, as a device's clock may put it. */
    it.start_ms = now - 600000 + (int64_t)((h >> 30) % 1200000);
    it.end_ms = h & 2 ? -1 : it.start_ms - 60000 + (int64_t)((h >> 40) % 1200000);
    if (it.end_ms < -1)
        it.end_ms = 0;
    it.last_ms = h & 4 ? -1 : it.start_ms;
    it.count = h & 8 ? -1 : (int64_t)(h >> 50);
    extra = json_object();
    if (text_ok(f[11]))
        json_object_set_new(extra, "lab", json_string(f[11]));
    json_object_set_new(extra, "source", json_string("mallory"));
    json_object_set_new(extra, "kind", json_string("mallory"));
    WARDEN_ASSERT(it.start_ms >= 0 && it.start_ms < YEAR_9999_MS);
    check_item(&it, extra, now, lease);
    json_decref(extra);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_replies((const char *)data, size);
    check_from_lines(data, size);
    return 0;
}
