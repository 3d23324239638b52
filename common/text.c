/* Small parsers shared by the modules: UTF-8, ISO 8601, IP text, hashing, clock. */
#include "common.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- clock ---------------------------------------------------------------- */

static int64_t pinned_ms = -1;

int64_t clock_now_ms(void)
{
    struct timespec ts;

    if (pinned_ms >= 0)
        return pinned_ms;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clock_set_ms(int64_t ms)
{
    pinned_ms = ms;
}

int64_t clock_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t clock_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- text ------------------------------------------------------------------ */

int hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t utf8_char(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned c = n > 0 ? s[0] : 0;
    size_t len;
    uint32_t cp;

    if (n == 0)
        return 0;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        len = 2;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
        return 0; /* overlong */
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

bool utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0, len; i < n; i += len)
        if ((len = utf8_char(s + i, n - i)) == 0)
            return false;
    return true;
}

bool text_printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

/* ---- device ids ------------------------------------------------------------ */

const char *device_id_check(const char *id, size_t n)
{
    static const char punct[] = "-.%_*?!(),:=@$'";

    if (n == 0)
        return "empty";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            (c != '\0' && strchr(punct, c) != NULL))
            continue;
        if (c >= 0x80)
            return "not ASCII (IoT Hub allows no other letters, look-alikes included)";
        if (c < 0x20 || c == 0x7f)
            return "has a control character";
        if (c == ' ')
            return "has a space";
        return "has a character outside IoT Hub's alphabet (letters, digits, -.%_*?!(),:=@$')";
    }
    /* After the alphabet, so that the count is one of characters. */
    return n > DEVICE_ID_MAX ? "longer than 128 characters" : NULL;
}

/* ---- ISO 8601 durations ----------------------------------------------------- */

bool duration_parse(const char *s, int64_t *ms)
{
    int64_t total = 0;
    bool in_time = false, any = false;

    if (s == NULL || *s != 'P')
        return false;
    s++;
    while (*s != '\0') {
        int64_t whole = 0, frac_ms = 0, unit;
        int digits = 0;

        if (*s == 'T') {
            if (in_time)
                return false;
            in_time = true;
            s++;
            if (*s == '\0')
                return false;
            continue;
        }
        while (*s >= '0' && *s <= '9') {
            if (whole > (INT64_MAX / 10) - 9 || ++digits > 12)
                return false;
            whole = whole * 10 + (*s++ - '0');
        }
        if ((*s == '.' || *s == ',') && in_time) {
            int64_t scale = 100;
            s++;
            if (*s < '0' || *s > '9')
                return false;
            while (*s >= '0' && *s <= '9') {
                frac_ms += (*s++ - '0') * scale;
                scale /= 10;
            }
            if (*s != 'S')
                return false;
        }
        if (digits == 0)
            return false;
        switch (*s) {
        case 'W': unit = in_time ? -1 : 7 * 86400000LL; break;
        case 'D': unit = in_time ? -1 : 86400000LL; break;
        case 'H': unit = in_time ? 3600000LL : -1; break;
        case 'M': unit = in_time ? 60000LL : -1; break; /* months refused */
        case 'S': unit = in_time ? 1000LL : -1; break;
        default: return false;
        }
        if (unit < 0 || whole > (INT64_MAX - total) / unit)
            return false;
        total += whole * unit + frac_ms;
        any = true;
        s++;
    }
    if (!any)
        return false;
    *ms = total;
    return true;
}

/* ---- ISO 8601 date-times ----------------------------------------------------- */

static bool take_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's method). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool time_parse_iso(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, sec = 0, off = 0;
    int64_t frac = 0;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (s == NULL || !take_digits(&s, 4, &y) || *s++ != '-' || !take_digits(&s, 2, &mo) ||
        *s++ != '-' || !take_digits(&s, 2, &d))
        return false;
    if (*s != 'T' && *s != 't' && *s != ' ')
        return false;
    s++;
    if (!take_digits(&s, 2, &h) || *s++ != ':' || !take_digits(&s, 2, &mi))
        return false;
    if (*s == ':') {
        s++;
        if (!take_digits(&s, 2, &sec))
            return false;
        if (*s == '.' || *s == ',') {
            int64_t scale = 100;
            s++;
            if (*s < '0' || *s > '9')
                return false;
            for (int n = 0; *s >= '0' && *s <= '9'; n++, s++) {
                if (n > 12)
                    return false;
                frac += (*s - '0') * scale;
                scale /= 10;
            }
        }
    }
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s++ == '-' ? -1 : 1, oh, om = 0;
        if (!take_digits(&s, 2, &oh))
            return false;
        if (*s == ':')
            s++;
        if (*s != '\0' && !take_digits(&s, 2, &om))
            return false;
        if (oh > 23 || om > 59)
            return false;
        off = sign * (oh * 60 + om);
    }
    if (*s != '\0')
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
        return false;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return false;
    *ms = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) - off * 60LL) * 1000 +
          frac;
    return true;
}

void time_format_iso(int64_t ms, char *out, size_t outlen)
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int millis = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;

    gmtime_r(&secs, &tm);
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

/* ---- JSON bytes ------------------------------------------------------------------ */

size_t json_string_end(const void *data, size_t len, size_t i)
{
    const uint8_t *buf = data;

    for (i++; i < len; i++) {
        if (buf[i] == '\\')
            i++; /* the escaped byte, whatever it is */
        else if (buf[i] == '"')
            return i + 1;
    }
    return len;
}

enum json_scan json_prescan(const void *data, size_t len, size_t max_depth, size_t max_elems)
{
    const uint8_t *buf = data;
    size_t depth = 0, commas = 0, i = 0;
    bool array;

    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
        i++;
    array = i < len && buf[i] == '[';
    while (i < len) {
        uint8_t c = buf[i];

        if (c == '"') {
            i = json_string_end(buf, len, i);
            continue;
        }
        if (c == '[' || c == '{') {
            if (++depth > max_depth)
                return JSON_SCAN_TOO_DEEP;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        } else if (c == ',' && depth == 1 && array && max_elems > 0 && ++commas >= max_elems) {
            return JSON_SCAN_TOO_MANY;
        }
        i++;
    }
    return JSON_SCAN_OK;
}

/* ---- IP addresses -------------------------------------------------------------- */

bool ip_parse(const char *s, struct ip_addr *out)
{
    memset(out, 0, sizeof(*out));
    if (s == NULL)
        return false;
    if (inet_pton(AF_INET, s, out->b) == 1) {
        out->family = 4;
        return true;
    }
    if (inet_pton(AF_INET6, s, out->b) == 1) {
        out->family = 6;
        return true;
    }
    return false;
}

void ip_format(const struct ip_addr *ip, char *out, size_t outlen)
{
    if (ip->family == 4)
        inet_ntop(AF_INET, ip->b, out, (socklen_t)outlen);
    else if (ip->family == 6)
        inet_ntop(AF_INET6, ip->b, out, (socklen_t)outlen);
    else if (outlen > 0)
        out[0] = '\0';
}

static void clear_host_bits(struct ip_addr *ip, int prefix)
{
    int bytes = ip->family == 4 ? 4 : 16;

    for (int i = 0; i < bytes; i++) {
        int keep = prefix - i * 8;
        if (keep >= 8)
            continue;
        ip->b[i] &= keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
    }
}

bool cidr_parse(const char *s, struct ip_addr *net, int *prefix)
{
    char addr[64];
    const char *slash = s ? strchr(s, '/') : NULL;
    size_t n = slash ? (size_t)(slash - s) : (s ? strlen(s) : 0);
    long p;

    if (s == NULL || n == 0 || n >= sizeof(addr))
        return false;
    memcpy(addr, s, n);
    addr[n] = '\0';
    if (!ip_parse(addr, net))
        return false;
    p = net->family == 4 ? 32 : 128;
    if (slash != NULL) {
        const char *d = slash + 1;
        long v = 0;
        if (*d == '\0' || strlen(d) > 3)
            return false;
        for (; *d; d++) {
            if (*d < '0' || *d > '9')
                return false;
            v = v * 10 + (*d - '0');
        }
        if (v > p)
            return false;
        p = v;
    }
    clear_host_bits(net, (int)p);
    *prefix = (int)p;
    return true;
}

bool cidr_contains(const struct ip_addr *net, int prefix, const struct ip_addr *ip)
{
    struct ip_addr masked = *ip;

    if (ip->family != net->family)
        return false;
    clear_host_bits(&masked, prefix);
    return memcmp(masked.b, net->b, net->family == 4 ? 4 : 16) == 0;
}

void ip_unmap(struct ip_addr *ip)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (ip->family == 6 && memcmp(ip->b, prefix, 12) == 0) {
        memmove(ip->b, ip->b + 12, 4);
        memset(ip->b + 4, 0, 12);
        ip->family = 4;
    }
}

/* ---- hashing ------------------------------------------------------------------- */

/*
 * Eight bytes at a time with a multiply-xorshift mix, and MurmurHash3's
 * finaliser at the end: fast for the short keys of the maps (ids, addresses,
 * flow keys) and well spread, which the dedup keys need. Not for adversaries
 * who can choose keys to collide: map keys here are bounded in number.
 */
static uint64_t fmix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

uint64_t hash_bytes(uint64_t seed, const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL), w;

    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ fmix64(w)) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    }
    if (n > 0) {
        w = 0;
        memcpy(&w, s, n);
        h = (h ^ fmix64(w)) * 0x9e3779b97f4a7c15ULL;
    }
    return fmix64(h);
}
