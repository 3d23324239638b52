/*
 * hub/sas.c: shared access signatures (sas.h). Every input is untrusted:
 * the token comes straight from a CONNECT packet.
 */
#include "sas.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PREFIX "SharedAccessSignature "

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char c)
{
    const char *p = c != '\0' ? strchr(b64_chars, c) : NULL;
    return p ? (int)(p - b64_chars) : -1;
}

long sas_b64_decode(const char *s, size_t n, uint8_t *out, size_t outlen)
{
    size_t pad = 0, o = 0;
    uint32_t acc = 0;
    int bits = 0;

    /* Padding is optional (keys are pasted both ways) but must be right when present. */
    while (pad < 2 && n > 0 && s[n - 1] == '=')
        n--, pad++;
    if (n == 0 || n % 4 == 1 || (pad > 0 && (n + pad) % 4 != 0))
        return -1;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == outlen)
                return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)o;
}

long sas_b64_encode(const uint8_t *p, size_t n, char *out, size_t outlen)
{
    size_t need = (n + 2) / 3 * 4;

    if (need + 1 > outlen)
        return -1;
    for (size_t i = 0, o = 0; i < n; i += 3, o += 4) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o] = b64_chars[(v >> 18) & 63];
        out[o + 1] = b64_chars[(v >> 12) & 63];
        out[o + 2] = i + 1 < n ? b64_chars[(v >> 6) & 63] : '=';
        out[o + 3] = i + 2 < n ? b64_chars[v & 63] : '=';
    }
    out[need] = '\0';
    return (long)need;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (unsigned char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

long sas_url_decode(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return -1;
            if ((hi = hexval((unsigned char)s[i + 1])) < 0 ||
                (lo = hexval((unsigned char)s[i + 2])) < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == '\0' || o + 1 >= outlen)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return (long)o;
}

bool sas_url_encode(const char *s, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_' || c == '.' || c == '~';
        if (o + (plain ? 1 : 3) >= outlen) {
            out[o] = '\0'; /* what fit, still a string */
            return false;
        }
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return true;
}

void sas_hmac(const void *key, size_t keylen, const void *msg, size_t msglen, uint8_t out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out, &n);
}

bool sas_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

/* Finds "name=" among the &-separated fields of s[0..n); the value's span. */
static bool field(const char *s, size_t n, const char *name, const char **v, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *p = s, *end = s + n;

    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
            *v = p + nl + 1;
            *vlen = (size_t)(stop - *v);
            return true;
        }
        p = amp ? amp + 1 : end;
    }
    return false;
}

enum sas_result sas_parse(const char *s, size_t len, struct sas_token *t)
{
    const char *v;
    size_t vlen;
    char buf[SAS_FIELD_MAX + 1];
    size_t plen = strlen(PREFIX);

    memset(t, 0, sizeof(*t));
    if (len <= plen || len > 4 * SAS_FIELD_MAX || memcmp(s, PREFIX, plen) != 0)
        return SAS_MALFORMED;
    s += plen;
    len -= plen;

    if (!field(s, len, "sr", &v, &vlen) || vlen == 0 || vlen > SAS_FIELD_MAX)
        return SAS_MALFORMED;
    memcpy(t->sr_raw, v, vlen);
    t->sr_raw[vlen] = '\0';
    if (sas_url_decode(v, vlen, t->sr, sizeof(t->sr)) < 1)
        return SAS_MALFORMED;

    if (!field(s, len, "sig", &v, &vlen) || vlen == 0 || vlen > SAS_FIELD_MAX)
        return SAS_MALFORMED;
    long n = sas_url_decode(v, vlen, buf, sizeof(buf));
    if (n < 0 || sas_b64_decode(buf, (size_t)n, t->sig, sizeof(t->sig)) != 32)
        return SAS_MALFORMED;

    if (!field(s, len, "se", &v, &vlen) || vlen == 0 || vlen > 12)
        return SAS_MALFORMED;
    for (size_t i = 0; i < vlen; i++) {
        if (v[i] < '0' || v[i] > '9')
            return SAS_MALFORMED;
        t->se = t->se * 10 + (v[i] - '0');
    }
    return SAS_OK;
}

/* "{host}/devices/{device}", compared without case as IoT Hub does for host names. */
static bool resource_matches(const char *sr, const char *host, const char *device)
{
    const char *p = strstr(sr, "/devices/");

    if (p == NULL || strcmp(p + strlen("/devices/"), device) != 0)
        return false;
    if (host == NULL)
        return p > sr;
    return (size_t)(p - sr) == strlen(host) && strncasecmp(sr, host, strlen(host)) == 0;
}

enum sas_result sas_check(const struct sas_token *t, const char *host, const char *device,
                          const char *const *keys, size_t nkeys, int64_t now)
{
    char msg[SAS_FIELD_MAX + 32];
    uint8_t key[128], mac[32];
    bool signed_ok = false;

    if (!resource_matches(t->sr, host, device))
        return SAS_WRONG_RESOURCE;
    int mlen = snprintf(msg, sizeof(msg), "%s\n%lld", t->sr_raw, (long long)t->se);
    if (mlen < 0 || (size_t)mlen >= sizeof(msg))
        return SAS_MALFORMED;
    for (size_t i = 0; i < nkeys && !signed_ok; i++) {
        long klen = sas_b64_decode(keys[i], strlen(keys[i]), key, sizeof(key));
        if (klen <= 0)
            continue;
        sas_hmac(key, (size_t)klen, msg, (size_t)mlen, mac);
        signed_ok = sas_equal(mac, t->sig, sizeof(mac));
    }
    OPENSSL_cleanse(key, sizeof(key));
    if (!signed_ok)
        return SAS_BAD_SIGNATURE;
    return t->se < now ? SAS_EXPIRED : SAS_OK;
}

bool sas_make(const char *host, const char *device, const char *key_b64, int64_t expiry, char *out,
              size_t outlen)
{
    char resource[SAS_FIELD_MAX + 1], sr[3 * SAS_FIELD_MAX + 1], msg[3 * SAS_FIELD_MAX + 32];
    char sig_b64[64], sig[128];
    uint8_t key[128], mac[32];
    long klen;

    if ((size_t)snprintf(resource, sizeof(resource), "%s/devices/%s", host, device) >=
            sizeof(resource) ||
        !sas_url_encode(resource, sr, sizeof(sr)) || strlen(sr) > SAS_FIELD_MAX)
        return false;
    if ((klen = sas_b64_decode(key_b64, strlen(key_b64), key, sizeof(key))) <= 0)
        return false;
    int mlen = snprintf(msg, sizeof(msg), "%s\n%lld", sr, (long long)expiry);
    sas_hmac(key, (size_t)klen, msg, (size_t)mlen, mac);
    OPENSSL_cleanse(key, sizeof(key));
    if (sas_b64_encode(mac, sizeof(mac), sig_b64, sizeof(sig_b64)) < 0 ||
        !sas_url_encode(sig_b64, sig, sizeof(sig)))
        return false;
    int n = snprintf(out, outlen, PREFIX "sr=%s&sig=%s&se=%lld", sr, sig, (long long)expiry);
    return n > 0 && (size_t)n < outlen;
}
