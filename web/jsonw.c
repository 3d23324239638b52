/*
 * web/jsonw.c: the streaming JSON writer of web/jsonw.h. Bytes are written
 * straight into room reserved at the end of the evbuffer, a large piece at a
 * time, and committed when it is full: evbuffer_add for every token would
 * cost more than the escaping, and a buffer of our own would copy every
 * byte twice. On the core's floor; calls only common/.
 */
#include "jsonw.h"

#include "../common/common.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Room reserved at a time: with libevent's chain header, a 64 KiB allocation. */
#define ROOM_BYTES ((1u << 16) - 256)

/* Where at and end point when there is no room: writing nothing there is still valid. */
static char no_room[1];

/* Hand what was written to the evbuffer; no room is left after it. */
static void commit(struct jsonw *w)
{
    if (w->room.iov_base != NULL) {
        w->room.iov_len = (size_t)(w->at - (char *)w->room.iov_base);
        if (evbuffer_commit_space(w->out, &w->room, 1) != 0)
            w->failed = true;
        else
            w->committed += w->room.iov_len;
        w->room.iov_base = NULL;
    }
    w->at = w->end = no_room;
}

/*
 * Commit, then reserve room for at least n more bytes, and no more than the
 * cap allows. False (and failed set) when the cap or memory does not allow it.
 */
static bool make_room(struct jsonw *w, size_t n)
{
    size_t left, want = n > ROOM_BYTES ? n : ROOM_BYTES;

    commit(w);
    left = w->max != 0 ? w->max - w->committed : SIZE_MAX;
    if (w->failed || n > left) {
        w->failed = true;
        return false;
    }
    if (evbuffer_reserve_space(w->out, (ev_ssize_t)(want < left ? want : left), &w->room, 1) != 1) {
        w->room.iov_base = NULL;
        w->failed = true;
        return false;
    }
    w->at = w->room.iov_base;
    w->end = w->at + (w->room.iov_len < left ? w->room.iov_len : left);
    return true;
}

static void put(struct jsonw *w, const void *p, size_t n)
{
    if ((size_t)(w->end - w->at) < n && !make_room(w, n))
        return;
    memcpy(w->at, p, n);
    w->at += n;
}

static void put_c(struct jsonw *w, char c)
{
    if (w->at < w->end)
        *w->at++ = c;
    else
        put(w, &c, 1);
}

void jsonw_init(struct jsonw *w, struct evbuffer *out, size_t max)
{
    w->out = out;
    w->max = max;
    w->committed = 0;
    w->room.iov_base = NULL;
    w->at = w->end = no_room;
    w->depth = 0;
    w->in_object[0] = false;
    w->has_member[0] = false;
    w->after_key = false;
    w->failed = false;
}

bool jsonw_finish(struct jsonw *w)
{
    commit(w);
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

/*
 * The bytes of the 8 at s that are not plain, each flagged by its high bit:
 * 0x80 and above (x), 0x7f (x + 1), below 0x20 (x - 0x20), a quote or a
 * backslash (x ^ c is 0, minus 1). Plain bytes alone flag nothing. A borrow
 * or carry between bytes only ever starts at a flagged byte, so the lowest
 * flagged byte, which has only plain bytes below it, is always a true one;
 * bytes above it may be flagged falsely.
 */
static uint64_t not_plain8(const unsigned char *s)
{
    const uint64_t ones = 0x0101010101010101ULL;
    uint64_t x;

    memcpy(&x, s, 8);
    return (x | (x + ones) | (x - ones * 0x20) | ((x ^ ones * '"') - ones) |
            ((x ^ ones * '\\') - ones)) &
           (ones * 0x80);
}

/*
 * How many bytes at the start of s[0..n) are plain, eight at a time. On a
 * little-endian machine the lowest byte of a word is its first in memory:
 * the first flagged byte is where the run ends, and the last word may
 * overlap the one before it (bytes already passed are plain, and flag
 * nothing). Elsewhere the bytes of a flagged word go one by one.
 */
static size_t plain_run(const unsigned char *s, size_t n)
{
    size_t i = 0;
    uint64_t m;

    for (; n - i >= 8; i += 8) {
        if ((m = not_plain8(s + i)) != 0) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return i + (size_t)__builtin_ctzll(m) / 8;
#else
            break;
#endif
        }
    }
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (i < n && n >= 8) {
        m = not_plain8(s + n - 8);
        return m != 0 ? n - 8 + (size_t)__builtin_ctzll(m) / 8 : n;
    }
#endif
    while (i < n && plain(s[i]))
        i++;
    return i;
}

static void string_body(struct jsonw *w, const unsigned char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;

    while (i < n) {
        size_t run = i + plain_run(s + i, n - i);
        unsigned char c;

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

/* Before a key: the structure's rules, and the comma after the previous member. */
static bool key_due(struct jsonw *w)
{
    if (w->failed)
        return false;
    if (!w->in_object[w->depth] || w->after_key) {
        w->failed = true;
        return false;
    }
    if (w->has_member[w->depth])
        put_c(w, ',');
    w->has_member[w->depth] = true;
    w->after_key = true;
    return true;
}

void jsonw_keyn(struct jsonw *w, const char *key, size_t n)
{
    if (!key_due(w))
        return;
    put_c(w, '"');
    string_body(w, (const unsigned char *)key, n);
    put(w, "\":", 2);
}

bool jsonw_key_prepare(struct jsonw_key *k, const char *name, size_t n)
{
    if (n + 3 > sizeof(k->text) || plain_run((const unsigned char *)name, n) != n)
        return false;
    k->text[0] = '"';
    memcpy(k->text + 1, name, n);
    memcpy(k->text + 1 + n, "\":", 2);
    k->len = n + 3;
    return true;
}

void jsonw_key_put(struct jsonw *w, const struct jsonw_key *k)
{
    if (key_due(w))
        put(w, k->text, k->len);
}

/* ---- numbers and literals ------------------------------------------------------------------ */

/* "00" to "99": numbers are written two digits a division. */
static const char two_digits[] = "00010203040506070809101112131415161718192021222324252627282930"
                                 "31323334353637383940414243444546474849505152535455565758596061"
                                 "62636465666768697071727374757677787980818283848586878889909192"
                                 "93949596979899";

void jsonw_int(struct jsonw *w, int64_t v)
{
    char tmp[24], *p = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    if (!value_due(w))
        return;
    for (; u >= 100; u /= 100) {
        p -= 2;
        memcpy(p, two_digits + u % 100 * 2, 2);
    }
    if (u >= 10) {
        p -= 2;
        memcpy(p, two_digits + u * 2, 2);
    } else {
        *--p = (char)('0' + u);
    }
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

/* v's last n digits at p, leading zeros included. */
static void digits(char *p, unsigned v, int n)
{
    for (; n >= 2; n -= 2, v /= 100)
        memcpy(p + n - 2, two_digits + v % 100 * 2, 2);
    if (n == 1)
        p[0] = (char)('0' + v % 10);
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
        unsigned char c;

        sc->i += plain_run(sc->s + sc->i, sc->n - sc->i);
        if (sc->i == sc->n)
            break;
        c = sc->s[sc->i];

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
