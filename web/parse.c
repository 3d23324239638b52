/*
 * web/parse.c: the pure parsers every HTTP parameter of Warden goes through
 * (numbers, times, steps, cursors, base64url, web.listen), each taking text
 * it does not trust; tests/fuzz/fuzz_query.c fuzzes them. Part of the core;
 * calls only common/.
 */
#include "core.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000LL

bool web_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    const char *d;
    char *end;
    long long v;

    if (s == NULL || strnlen(s, 22) > 20)
        return false;
    d = s[0] == '-' ? s + 1 : s;
    if (!isdigit((unsigned char)d[0]))
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool web_parse_time(const char *s, int64_t now_ms, int64_t *out)
{
    int64_t d;

    if (s == NULL || s[0] == '\0' || strnlen(s, 80) > 64)
        return false;
    if (s[0] == 'P') {
        if (!duration_parse(s, &d))
            return false;
        *out = now_ms - d;
        return true;
    }
    return time_parse_iso(s, out);
}

bool web_parse_step(const char *s, int64_t *ms)
{
    int64_t v;

    if (s == NULL)
        return false;
    if (isdigit((unsigned char)s[0])) {
        if (!web_parse_int(s, 1, 366 * 86400, &v))
            return false;
        v *= 1000;
    } else if (strnlen(s, 40) > 32 || !duration_parse(s, &v)) {
        return false;
    }
    if (v < 10000 || v > 366 * DAY_MS || v % 10000 != 0)
        return false;
    *ms = v;
    return true;
}

void web_cursor_alert(int64_t start_ms, int64_t id, char *out, size_t outlen)
{
    snprintf(out, outlen, "%lld.%lld", (long long)start_ms, (long long)id);
}

bool web_cursor_alert_parse(const char *s, int64_t *start_ms, int64_t *id)
{
    char head[24];
    const char *dot = s ? strchr(s, '.') : NULL;

    if (dot == NULL || (size_t)(dot - s) >= sizeof(head))
        return false;
    memcpy(head, s, (size_t)(dot - s));
    head[dot - s] = '\0';
    return web_parse_int(head, 0, INT64_MAX, start_ms) && web_parse_int(dot + 1, 0, INT64_MAX, id);
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

bool web_b64url_encode(const void *p, size_t n, char *out, size_t outlen)
{
    const unsigned char *b = p;
    size_t o = 0;

    if ((n + 2) / 3 * 4 + 1 > outlen)
        return false;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16;
        size_t k = n - i < 3 ? n - i : 3;

        if (k > 1)
            v |= (uint32_t)b[i + 1] << 8;
        if (k > 2)
            v |= b[i + 2];
        for (size_t j = 0; j < k + 1; j++)
            out[o++] = b64url[(v >> (18 - 6 * j)) & 63];
    }
    out[o] = '\0';
    return true;
}

bool web_b64url_decode(const char *s, char *out, size_t outlen, size_t *n)
{
    size_t len = strlen(s), o = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (len % 4 == 1)
        return false;
    for (size_t i = 0; i < len; i++) {
        const char *at = memchr(b64url, s[i], 64);
        if (s[i] == '\0' || at == NULL)
            return false;
        acc = (acc << 6) | (uint32_t)(at - b64url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= outlen)
                return false;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    /* Leftover bits must be zero, so that each value has one encoding. */
    if ((acc & ((1u << bits) - 1)) != 0)
        return false;
    out[o] = '\0';
    *n = o;
    return true;
}

bool web_listen_parse(const char *s, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *h = s, *p, *end;
    size_t hn, pn;
    int64_t v;

    if (s[0] == '[') {
        h = s + 1;
        if ((end = strchr(h, ']')) == NULL || end[1] != ':')
            return false;
        p = end + 2;
    } else {
        if ((end = strrchr(s, ':')) == NULL || memchr(s, ':', (size_t)(end - s)) != NULL)
            return false;
        p = end + 1;
    }
    hn = (size_t)(end - h);
    pn = strlen(p);
    if (hn >= hostlen || pn == 0 || pn >= portlen || pn > 5 || !text_printable(h, hn) ||
        memchr(h, ' ', hn) != NULL)
        return false;
    for (size_t i = 0; i < pn; i++)
        if (!isdigit((unsigned char)p[i]))
            return false;
    memcpy(host, h, hn);
    host[hn] = '\0';
    memcpy(port, p, pn + 1);
    return web_parse_int(port, 0, 65535, &v);
}
