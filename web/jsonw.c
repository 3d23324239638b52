/*
 * web/jsonw.c: the streaming JSON writer of web/jsonw.h. Bytes collect in a
 * fixed buffer and move to the evbuffer a buffer-full at a time: evbuffer_add
 * for every token would cost more than the escaping.
 */
#include "jsonw.h"

#include "../common/common.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void flush(struct jsonw *w)
{
    if (w->len == 0)
        return;
    if (evbuffer_add(w->out, w->buf, w->len) != 0)
        w->failed = true;
    w->flushed += w->len;
    w->len = 0;
}

static void put(struct jsonw *w, const void *p, size_t n)
{
    if (w->failed)
        return;
    if (w->max != 0 && (n > w->max || w->flushed + w->len > w->max - n)) {
        w->failed = true;
        return;
    }
    if (n > sizeof(w->buf) - w->len) {
        flush(w);
        if (n > sizeof(w->buf)) {
            if (evbuffer_add(w->out, p, n) != 0)
                w->failed = true;
            w->flushed += n;
            return;
        }
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void put_c(struct jsonw *w, char c)
{
    if (w->len < sizeof(w->buf) && (w->max == 0 || w->flushed + w->len < w->max) && !w->failed)
        w->buf[w->len++] = c;
    else
        put(w, &c, 1);
}

void jsonw_init(struct jsonw *w, struct evbuffer *out, size_t max)
{
    w->out = out;
    w->max = max;
    w->flushed = 0;
    w->len = 0;
    w->depth = 0;
    w->in_object[0] = false;
    w->has_member[0] = false;
    w->after_key = false;
    w->failed = false;
}

bool jsonw_finish(struct jsonw *w)
{
    flush(w);
    return !w->failed && w->depth == 0 && !w->after_key && w->has_member[0];
}

/*
 * Before a value: the comma after the previous member, and the structure's
 * rules (a value inside an object needs its key first; one value at the top).
 */
static bool value_due(struct jsonw *w)
{
    if (w->failed)
        return false;
    if (w->in_object[w->depth]) {
        if (!w->after_key) {
            w->failed = true;
            return false;
        }
        w->after_key = false;
        return true;
    }
    if (w->has_member[w->depth]) {
        if (w->depth == 0) {
            w->failed = true; /* a second top-level value */
            return false;
        }
        put_c(w, ',');
    }
    w->has_member[w->depth] = true;
    return true;
}

static void open_container(struct jsonw *w, bool object)
{
    if (!value_due(w))
        return;
    if (w->depth == JSONW_MAX_DEPTH) {
        w->failed = true;
        return;
    }
    put_c(w, object ? '{' : '[');
    w->depth++;
    w->in_object[w->depth] = object;
    w->has_member[w->depth] = false;
}

static void close_container(struct jsonw *w, bool object)
{
    if (w->failed)
        return;
    if (w->depth == 0 || w->in_object[w->depth] != object || w->after_key) {
        w->failed = true;
        return;
    }
    put_c(w, object ? '}' : ']');
    w->depth--;
}

void jsonw_object(struct jsonw *w) { open_container(w, true); }
void jsonw_object_end(struct jsonw *w) { close_container(w, true); }
void jsonw_array(struct jsonw *w) { open_container(w, false); }
void jsonw_array_end(struct jsonw *w) { close_container(w, false); }

/* ---- strings ------------------------------------------------------------------------------ */

/*
 * The length of the UTF-8 sequence at s[0..n), or 0 when it is not a whole,
 * shortest-form sequence of a scalar value (no surrogates, nothing above
 * U+10FFFF).
 */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t k = s[0] >= 0xc2 && s[0] < 0xe0   ? 2
               : s[0] >= 0xe0 && s[0] < 0xf0 ? 3
               : s[0] >= 0xf0 && s[0] < 0xf5 ? 4
                                             : 0;

    return k != 0 && k <= n && utf8_valid((const char *)s, k) ? k : 0;
}

/*
 * Bytes that go out as they are: printable ASCII but the quote and the
 * backslash. A table, because this test runs for every byte of every string.
 */
#define P16 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
static const unsigned char plain_byte[256] = {
    [0x20] = 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x22 is " */
    [0x30] = P16, P16,
    [0x50] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x5c is \ */
    [0x60] = P16,
    [0x70] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, /* 0x7f is DEL */
};
#undef P16

static bool plain(unsigned char c)
{
    return plain_byte[c] != 0;
}

static void string_body(struct jsonw *w, const unsigned char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;

    while (i < n) {
        size_t run = i;
        unsigned char c;

        while (run < n && plain(s[run]))
            run++;
        if (run > i)
            put(w, s + i, run - i);
        if ((i = run) == n)
            break;
        c = s[i];
        if (c < 0x80) {
            char esc[6] = {'\\', 0, 0, 0, 0, 0};
            size_t len = 2;

            switch (c) {
            case '"': esc[1] = '"'; break;
            case '\\': esc[1] = '\\'; break;
            case '\b': esc[1] = 'b'; break;
            case '\f': esc[1] = 'f'; break;
            case '\n': esc[1] = 'n'; break;
            case '\r': esc[1] = 'r'; break;
            case '\t': esc[1] = 't'; break;
            default: /* other control characters, and DEL */
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                len = 6;
            }
            put(w, esc, len);
            i++;
        } else {
            size_t k = utf8_seq(s + i, n - i);

            if (k == 0) {
                put(w, "\xef\xbf\xbd", 3); /* U+FFFD for this byte; go on at the next */
                i++;
            } else if (k == 3 && s[i] == 0xe2 && s[i + 1] == 0x80 &&
                       (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
                /* Line and paragraph separators end a JavaScript string literal. */
                put(w, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
                i += 3;
            } else {
                put(w, s + i, k);
                i += k;
            }
        }
    }
}

void jsonw_string(struct jsonw *w, const char *s, size_t n)
{
    if (!value_due(w))
        return;
    put_c(w, '"');
    string_body(w, (const unsigned char *)s, n);
    put_c(w, '"');
}

void jsonw_cstring(struct jsonw *w, const char *s)
{
    if (s == NULL)
        jsonw_null(w);
    else
        jsonw_string(w, s, strlen(s));
}

void jsonw_key(struct jsonw *w, const char *key)
{
    jsonw_keyn(w, key, strlen(key));
}

void jsonw_keyn(struct jsonw *w, const char *key, size_t n)
{
    if (w->failed)
        return;
    if (!w->in_object[w->depth] || w->after_key) {
        w->failed = true;
        return;
    }
    if (w->has_member[w->depth])
        put_c(w, ',');
    w->has_member[w->depth] = true;
    put_c(w, '"');
    string_body(w, (const unsigned char *)key, n);
    put(w, "\":", 2);
    w->after_key = true;
}

/* ---- numbers and literals ------------------------------------------------------------------ */

void jsonw_int(struct jsonw *w, int64_t v)
{
    char tmp[24], *p = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    if (!value_due(w))
        return;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    put(w, p, (size_t)(tmp + sizeof(tmp) - p));
}

void jsonw_real(struct jsonw *w, double v)
{
    char tmp[40];
    int n;

    if (!isfinite(v)) {
        jsonw_null(w);
        return;
    }
    if (!value_due(w))
        return;
    n = snprintf(tmp, sizeof(tmp), "%.17g", v);
    if (n <= 0 || (size_t)n >= sizeof(tmp) - 2) {
        w->failed = true;
        return;
    }
    /* Keep it a real for the reader, as Jansson does: 2 is written 2.0. */
    if (strpbrk(tmp, ".eE") == NULL) {
        memcpy(tmp + n, ".0", 2);
        n += 2;
    }
    put(w, tmp, (size_t)n);
}

/*
 * The civil date of a day count from 1970-01-01 (proleptic Gregorian), by
 * Howard Hinnant's days-to-civil algorithm: gmtime_r and snprintf for the two
 * times of every alert were a tenth of a list's time.
 */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void digits(char *p, unsigned v, int n)
{
    while (n-- > 0) {
        p[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

void jsonw_time(struct jsonw *w, int64_t ms)
{
    /* Years 0 to 9999; anything else as time_format_iso() writes it. */
    static const int64_t lo = -62167219200000LL, hi = 253402300800000LL;
    char t[40] = "\"0000-00-00T00:00:00.000Z\"";
    int64_t days, rem, y;
    unsigned m, d;

    if (ms < lo || ms >= hi) {
        time_format_iso(ms, t, sizeof(t));
        jsonw_cstring(w, t);
        return;
    }
    if (!value_due(w))
        return;
    days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    rem = ms - days * 86400000;
    civil_from_days(days, &y, &m, &d);
    digits(t + 1, (unsigned)y, 4);
    digits(t + 6, m, 2);
    digits(t + 9, d, 2);
    digits(t + 12, (unsigned)(rem / 3600000), 2);
    digits(t + 15, (unsigned)(rem / 60000 % 60), 2);
    digits(t + 18, (unsigned)(rem / 1000 % 60), 2);
    digits(t + 21, (unsigned)(rem % 1000), 3);
    put(w, t, 26);
}

void jsonw_bool(struct jsonw *w, bool v)
{
    if (value_due(w))
        put(w, v ? "true" : "false", v ? 4 : 5);
}

void jsonw_null(struct jsonw *w)
{
    if (value_due(w))
        put(w, "null", 4);
}

/* ---- JSON text from elsewhere ---------------------------------------------------------------- */

struct scan {
    const unsigned char *s;
    size_t n, i;
    bool separator; /* a string holds U+2028 or U+2029 */
};

static void skip_ws(struct scan *sc)
{
    while (sc->i < sc->n && (sc->s[sc->i] == ' ' || sc->s[sc->i] == '\t' ||
                             sc->s[sc->i] == '\n' || sc->s[sc->i] == '\r'))
        sc->i++;
}

static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static bool is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool scan_string(struct scan *sc)
{
    sc->i++; /* the opening quote */
    while (sc->i < sc->n) {
        unsigned char c = sc->s[sc->i];

        if (c == '"') {
            sc->i++;
            return true;
        } else if (c < 0x20) {
            return false;
        } else if (c == '\\') {
            if (sc->i + 1 >= sc->n)
                return false;
            c = sc->s[sc->i + 1];
            if (c == 'u') {
                if (sc->n - sc->i < 6)
                    return false;
                for (size_t k = 2; k < 6; k++)
                    if (!is_hex(sc->s[sc->i + k]))
                        return false;
                sc->i += 6;
            } else if (c != '\0' && strchr("\"\\/bfnrt", c) != NULL) {
                sc->i += 2;
            } else {
                return false;
            }
        } else if (c < 0x80) {
            sc->i++;
        } else {
            size_t k = utf8_seq(sc->s + sc->i, sc->n - sc->i);
            if (k == 0)
                return false;
            if (k == 3 && c == 0xe2 && sc->s[sc->i + 1] == 0x80 && (sc->s[sc->i + 2] & 0xfe) == 0xa8)
                sc->separator = true;
            sc->i += k;
        }
    }
    return false;
}

static bool scan_number(struct scan *sc)
{
    const unsigned char *s = sc->s;
    size_t i = sc->i, n = sc->n;

    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if (i < n && is_digit(s[i]))
        while (i < n && is_digit(s[i]))
            i++;
    else
        return false;
    if (i < n && s[i] == '.') {
        if (++i >= n || !is_digit(s[i]))
            return false;
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !is_digit(s[i]))
            return false;
        while (i < n && is_digit(s[i]))
            i++;
    }
    sc->i = i;
    return true;
}

static bool scan_literal(struct scan *sc, const char *lit)
{
    size_t len = strlen(lit);

    if (sc->n - sc->i < len || memcmp(sc->s + sc->i, lit, len) != 0)
        return false;
    sc->i += len;
    return true;
}

static bool scan_value(struct scan *sc, unsigned depth)
{
    unsigned char c;

    skip_ws(sc);
    if (sc->i >= sc->n)
        return false;
    c = sc->s[sc->i];
    if (c == '{' || c == '[') {
        unsigned char close = c == '{' ? '}' : ']';

        if (depth == JSONW_MAX_DEPTH)
            return false;
        sc->i++;
        skip_ws(sc);
        if (sc->i < sc->n && sc->s[sc->i] == close) {
            sc->i++;
            return true;
        }
        for (;;) {
            if (c == '{') {
                skip_ws(sc);
                if (sc->i >= sc->n || sc->s[sc->i] != '"' || !scan_string(sc))
                    return false;
                skip_ws(sc);
                if (sc->i >= sc->n || sc->s[sc->i] != ':')
                    return false;
                sc->i++;
            }
            if (!scan_value(sc, depth + 1))
                return false;
            skip_ws(sc);
            if (sc->i >= sc->n)
                return false;
            if (sc->s[sc->i] == close) {
                sc->i++;
                return true;
            }
            if (sc->s[sc->i] != ',')
                return false;
            sc->i++;
        }
    }
    if (c == '"')
        return scan_string(sc);
    if (c == 't')
        return scan_literal(sc, "true");
    if (c == 'f')
        return scan_literal(sc, "false");
    if (c == 'n')
        return scan_literal(sc, "null");
    return scan_number(sc);
}

static bool scan_all(struct scan *sc)
{
    if (!scan_value(sc, 0))
        return false;
    skip_ws(sc);
    return sc->i == sc->n;
}

bool jsonw_valid(const char *s, size_t n)
{
    struct scan sc = {(const unsigned char *)s, n, 0, false};

    return scan_all(&sc);
}

bool jsonw_json(struct jsonw *w, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    struct scan sc = {u, n, 0, false};
    size_t from = 0;

    if (w->failed || !scan_all(&sc) || !value_due(w))
        return false;
    if (!sc.separator) {
        put(w, s, n);
        return true;
    }
    /*
     * Valid JSON holds U+2028 and U+2029 only inside strings, where their
     * escapes mean the same: escape them, as jsonw_string does.
     */
    for (size_t i = 0; i + 2 < n; i++) {
        if (u[i] == 0xe2 && u[i + 1] == 0x80 && (u[i + 2] == 0xa8 || u[i + 2] == 0xa9)) {
            put(w, s + from, i - from);
            put(w, u[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
            from = i + 3;
            i += 2;
        }
    }
    put(w, s + from, n - from);
    return true;
}
