/*
 * notify/ampayload.c: the JSON of Alertmanager's API v2 (see ampayload.h).
 */
#include "ampayload.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Answers nest a few levels; refuse deeper ones before jansson recurses. */
#define AM_MAX_DEPTH 16
/* A silence id is a UUID (36 bytes), an alert's fingerprint 16 hex digits: longer is not one. */
#define AM_MAX_ID 100

void notify_base_url(const struct config *cfg, char *out, size_t outlen)
{
    const char *l = cfg->web_listen;
    char host[256];
    size_t n;

    if (cfg->web_external_url[0] != '\0') {
        n = strlen(cfg->web_external_url);
        while (n > 0 && cfg->web_external_url[n - 1] == '/')
            n--;
        snprintf(out, outlen, "%.*s", (int)n, cfg->web_external_url);
        return;
    }
    /* Listening on every address: the links name this machine. */
    if (strncmp(l, "0.0.0.0:", 8) == 0 || strncmp(l, "[::]:", 5) == 0) {
        if (gethostname(host, sizeof(host)) != 0)
            snprintf(host, sizeof(host), "localhost");
        host[sizeof(host) - 1] = '\0';
        snprintf(out, outlen, "http://%s%s", host, strrchr(l, ':'));
        return;
    }
    snprintf(out, outlen, "http://%s", l);
}

void am_item_url(const struct am_item *it, const char *base_url, char *out, size_t outlen)
{
    if (strcmp(it->kind, "alert") == 0)
        snprintf(out, outlen, "%s/alerts/%lld", base_url, (long long)it->ref);
    else
        snprintf(out, outlen, "%s/recommendations#rec-%lld", base_url, (long long)it->ref);
}

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v != NULL && *v != '\0')
        json_object_set_new(o, k, json_string(v));
}

/*
 * Cuts s back to end between two UTF-8 characters: a text that snprintf cut
 * to fit may end inside one, and jansson refuses to make a string of it (the
 * label or annotation would then be missing).
 */
static void cut_utf8(char *s)
{
    size_t n = strlen(s), i = n;

    while (i > 0 && n - i < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i > 0 && utf8_char(s + i - 1, n - i + 1) != n - i + 1)
        s[i - 1] = '\0';
}

static void set_time(json_t *o, const char *k, int64_t ms)
{
    char t[40];

    time_format_iso(ms, t, sizeof(t));
    json_object_set_new(o, k, json_string(t));
}

json_t *am_item_json(const struct am_item *it, json_t *labels, int64_t now_ms, int64_t lease_ms,
                     const char *base_url)
{
    json_t *a = json_object(), *l = json_object(), *an = json_object();
    char sev[16], url[600], summary[600], t[40];
    size_t i;

    if (labels != NULL)
        json_object_update(l, labels);
    set_str(l, "alertname", it->type);
    for (i = 0; it->severity && it->severity[i] && i + 1 < sizeof(sev); i++)
        sev[i] = (char)tolower((unsigned char)it->severity[i]);
    sev[i] = '\0';
    cut_utf8(sev);
    set_str(l, "severity", sev);
    if (it->device_id != NULL)
        set_str(l, "device_id", it->device_id);
    else
        set_str(l, "hub", it->hub);
    set_str(l, "alert_key", it->key);
    set_str(l, "security_group", it->group);
    set_str(l, "kind", it->kind);
    set_str(l, "source", "warden");

    am_item_url(it, base_url, url, sizeof(url));
    snprintf(summary, sizeof(summary), "%s: %s", it->title ? it->title : it->type,
             it->device_id ? it->device_id : it->hub ? it->hub : "");
    cut_utf8(summary);
    set_str(an, "summary", summary);
    set_str(an, "description", it->description);
    set_str(an, "remediation", it->remediation);
    set_str(an, "warden_url", url);
    set_str(an, "status", it->status);
    if (it->count >= 0) {
        snprintf(t, sizeof(t), "%lld", (long long)it->count);
        set_str(an, "count", t);
    }
    set_str(an, "value", it->value);
    if (it->last_ms >= 0) {
        time_format_iso(it->last_ms, t, sizeof(t));
        set_str(an, "last_seen", t);
    }

    json_object_set_new(a, "labels", l);
    json_object_set_new(a, "annotations", an);
    set_time(a, "startsAt", it->start_ms);
    if (it->end_ms < 0) {
        /*
         * The lease runs from the start when that is ahead of this clock (a
         * device's clock, within ingest.max_clock_skew): Alertmanager refuses
         * an endsAt before startsAt with a 400, and a 400 is not retried.
         */
        set_time(a, "endsAt", (now_ms > it->start_ms ? now_ms : it->start_ms) + lease_ms);
    } else {
        int64_t end = it->end_ms < now_ms ? it->end_ms : now_ms;

        set_time(a, "endsAt", end < it->start_ms ? it->start_ms : end);
    }
    json_object_set_new(a, "generatorURL", json_string(url));
    return a;
}

/* The answer as a JSON value of the wanted kind, or NULL. */
static json_t *load(const char *buf, size_t len, json_type want)
{
    json_t *v;

    if (buf == NULL || json_prescan(buf, len, AM_MAX_DEPTH, 0) != JSON_SCAN_OK)
        return NULL;
    v = json_loadb(buf, len, 0, NULL);
    if (v != NULL && json_typeof(v) != want) {
        json_decref(v);
        return NULL;
    }
    return v;
}

bool am_parse_uptime(const char *buf, size_t len, char *out, size_t outlen)
{
    json_t *v = load(buf, len, JSON_OBJECT);
    const char *s = v ? json_string_value(json_object_get(v, "uptime")) : NULL;
    bool ok = s != NULL && *s != '\0' && strlen(s) < outlen && text_printable(s, strlen(s));

    if (ok)
        snprintf(out, outlen, "%s", s);
    json_decref(v);
    return ok;
}

static bool id_ok(const char *id)
{
    return id != NULL && *id != '\0' && strlen(id) < AM_MAX_ID && text_printable(id, strlen(id));
}

/*
 * The ids of a JSON array as compact JSON text into out (outlen > 2): those
 * that fit, in their order, so that an alert under more silences than out
 * holds still reads as silenced; "[]" when there are none.
 */
static void id_list(json_t *arr, char *out, size_t outlen)
{
    json_t *x;
    size_t i, used = 1;
    char *s;

    snprintf(out, outlen, "[");
    json_array_foreach(arr, i, x) {
        if (!id_ok(json_string_value(x)) || (s = json_dumps(x, JSON_ENCODE_ANY)) == NULL)
            continue;
        if (used + (used > 1) + strlen(s) + 1 >= outlen) {
            free(s);
            break;
        }
        used += (size_t)snprintf(out + used, outlen - used, "%s%s", used > 1 ? "," : "", s);
        free(s);
    }
    snprintf(out + used, outlen - used, "]");
}

int am_parse_alerts(const char *buf, size_t len, am_seen_fn fn, void *arg)
{
    json_t *v = load(buf, len, JSON_ARRAY), *a;
    size_t i;
    int n = 0;

    if (v == NULL)
        return -1;
    json_array_foreach(v, i, a) {
        json_t *l = json_object_get(a, "labels"), *st = json_object_get(a, "status");
        const char *src = json_string_value(json_object_get(l, "source"));
        struct am_seen s;

        if (src == NULL || strcmp(src, "warden") != 0)
            continue;
        memset(&s, 0, sizeof(s));
        s.alertname = json_string_value(json_object_get(l, "alertname"));
        s.alert_key = json_string_value(json_object_get(l, "alert_key"));
        s.kind = json_string_value(json_object_get(l, "kind"));
        s.state = json_string_value(json_object_get(st, "state"));
        id_list(json_object_get(st, "silencedBy"), s.silenced_by, sizeof(s.silenced_by));
        id_list(json_object_get(st, "inhibitedBy"), s.inhibited_by, sizeof(s.inhibited_by));
        if (s.alertname == NULL || s.alert_key == NULL || s.kind == NULL)
            continue;
        fn(arg, &s);
        n++;
    }
    json_decref(v);
    return n;
}

static int64_t time_of(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    int64_t ms;

    return s != NULL && time_parse_iso(s, &ms) ? ms : -1;
}

int am_parse_silences(const char *buf, size_t len, am_silence_fn fn, void *arg)
{
    json_t *v = load(buf, len, JSON_ARRAY), *x;
    size_t i;
    int n = 0;

    if (v == NULL)
        return -1;
    json_array_foreach(v, i, x) {
        struct am_silence s;

        memset(&s, 0, sizeof(s));
        s.id = json_string_value(json_object_get(x, "id"));
        s.state = json_string_value(json_object_get(json_object_get(x, "status"), "state"));
        s.comment = json_string_value(json_object_get(x, "comment"));
        s.created_by = json_string_value(json_object_get(x, "createdBy"));
        if (!id_ok(s.id) || s.state == NULL || strcmp(s.state, "expired") == 0)
            continue;
        s.starts_ms = time_of(x, "startsAt");
        s.ends_ms = time_of(x, "endsAt");
        s.matchers = json_is_array(json_object_get(x, "matchers"))
                         ? json_dumps(json_object_get(x, "matchers"), JSON_COMPACT)
                         : NULL;
        fn(arg, &s);
        free(s.matchers);
        n++;
    }
    json_decref(v);
    return n;
}
