/*
 * libFuzzer target for what the web server makes of untrusted request text
 * before, or instead of, a database: query strings, integer, time and step
 * parameters, the list cursors, the Cookie header, web.listen, JSON text
 * of stored values, and the SQL console's authorizer decision. Besides the
 * sanitizers' own checks it asserts what the handlers rely on: a value
 * accepted is within its bounds, and what the server writes (a cursor, a
 * time) reads back as the same value.
 */
#include "../../web/core.h"
#include "../../web/sql.h"

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW_MS     1796000000000LL
#define YEAR_10000 253402300800000LL

static void check_numbers(const char *s)
{
    int64_t v, w;
    char buf[40];

    if (web_parse_int(s, INT64_MIN, INT64_MAX, &v)) {
        snprintf(buf, sizeof(buf), "%lld", (long long)v);
        WARDEN_ASSERT(web_parse_int(buf, INT64_MIN, INT64_MAX, &w) && w == v);
    }
    if (web_parse_int(s, 1, 1000, &v))
        WARDEN_ASSERT(v >= 1 && v <= 1000);
    if (web_parse_step(s, &v))
        WARDEN_ASSERT(v >= 10000 && v <= 366 * 86400000LL && v % 10000 == 0);
    if (web_parse_time(s, NOW_MS, &v) && v >= 0 && v < YEAR_10000) {
        time_format_iso(v, buf, sizeof(buf));
        WARDEN_ASSERT(time_parse_iso(buf, &w) && w == v);
    }
}

static void check_cursors(const char *s, const uint8_t *raw, size_t rawlen)
{
    int64_t a, b, a2, b2;
    char buf[64], dec[512], enc[700];
    size_t n;

    if (web_cursor_alert_parse(s, &a, &b)) {
        WARDEN_ASSERT(a >= 0 && b >= 0);
        web_cursor_alert(a, b, buf, sizeof(buf));
        WARDEN_ASSERT(web_cursor_alert_parse(buf, &a2, &b2) && a2 == a && b2 == b);
    }
    /* A cursor the API accepts is the one it would have written. */
    if (web_b64url_decode(s, dec, sizeof(dec), &n)) {
        WARDEN_ASSERT(n < sizeof(dec));
        WARDEN_ASSERT(web_b64url_encode(dec, n, enc, sizeof(enc)) && strcmp(enc, s) == 0);
    }
    if (rawlen <= 500 && web_b64url_encode(raw, rawlen, enc, sizeof(enc))) {
        WARDEN_ASSERT(web_b64url_decode(enc, dec, sizeof(dec), &n) && n == rawlen &&
                      memcmp(dec, raw, n) == 0);
    }
}

static void check_headers(const char *s)
{
    char host[128], port[16], cookie[80];
    struct evkeyvalq q;
    size_t n;
    char *decoded;

    if (web_listen_parse(s, host, sizeof(host), port, sizeof(port))) {
        int64_t p;
        WARDEN_ASSERT(strlen(host) < sizeof(host) && web_parse_int(port, 0, 65535, &p));
    }
    if (web_cookie_get(s, "warden_session", cookie, sizeof(cookie)))
        WARDEN_ASSERT(strlen(cookie) < sizeof(cookie) && strchr(cookie, ';') == NULL);
    TAILQ_INIT(&q);
    if (evhttp_parse_query_str(s, &q) == 0) {
        struct evkeyval *kv;
        TAILQ_FOREACH(kv, &q, next)
            WARDEN_ASSERT(kv->key != NULL && kv->value != NULL);
    }
    evhttp_clear_headers(&q);
    if ((decoded = evhttp_uridecode(s, 0, &n)) != NULL) {
        WARDEN_ASSERT(n <= strlen(s));
        free(decoded);
    }
}

/* The authorizer: first byte the action, the rest two NUL-separated arguments. */
static void check_authorizer(const uint8_t *data, size_t size)
{
    char a1[64] = "", a2[64] = "";
    const char *why = NULL;
    const char *args;
    size_t n1;
    int action, rc;

    if (size < 1)
        return;
    action = data[0] % 40;
    args = (const char *)data + 1;
    n1 = strnlen(args, size - 1);
    snprintf(a1, sizeof(a1), "%.*s", (int)n1, args);
    if (n1 + 1 < size - 1)
        snprintf(a2, sizeof(a2), "%.*s", (int)strnlen(args + n1 + 1, size - 2 - n1), args + n1 + 1);
    rc = web_sql_authorize(action, a1, a2[0] ? a2 : NULL, &why);
    WARDEN_ASSERT(rc == SQLITE_OK || (rc == SQLITE_DENY && why != NULL));
    switch (action) {
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
    case SQLITE_INSERT:
    case SQLITE_DELETE:
    case SQLITE_CREATE_TEMP_TABLE:
    case SQLITE_CREATE_TEMP_VIEW:
    case SQLITE_CREATE_TABLE:
    case SQLITE_DROP_TABLE:
    case SQLITE_TRANSACTION:
        WARDEN_ASSERT(rc == SQLITE_DENY);
        break;
    case SQLITE_PRAGMA:
        WARDEN_ASSERT(rc == SQLITE_DENY || strcasecmp(a1, "query_only") != 0);
        break;
    case SQLITE_FUNCTION:
        WARDEN_ASSERT(rc == SQLITE_DENY || (strcasecmp(a2, "load_extension") != 0 &&
                                            strcasecmp(a2, "writefile") != 0));
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    json_t *j;

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    check_numbers(s);
    check_cursors(s, data, size);
    check_headers(s);
    check_authorizer(data, size);
    /* Stored text may be any bytes: it always becomes a JSON string. */
    j = web_json_text(s, size);
    WARDEN_ASSERT(j != NULL && json_is_string(j));
    json_decref(j);
    free(s);
    return 0;
}
