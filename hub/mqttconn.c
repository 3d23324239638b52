/*
 * hub/mqttconn.c: the MQTT CONNECT packet (3.1, 3.1.1 and 5), parsed and
 * rewritten for the TLS front end, and the attestation that replaces its
 * password. See mqttconn.h for the contract.
 *
 * The parser waits for the whole packet (at most MQTTCONN_MAX_PACKET bytes)
 * before it reads the variable header, so "need more" and "invalid" never
 * depend on where the bytes happened to be split. Inside the packet it reads
 * through a cursor that refuses to move past the remaining length; the
 * version 5 property blocks are only measured, not interpreted: the broker
 * reads them from the rewritten packet, byte for byte as the client sent them.
 */
#include "mqttconn.h"

#include "../common/common.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MQTT_CONNECT    0x10u /* packet type 1, flags 0 */
#define MQTT_VARINT_MAX 268435455u
#define ATTEST_MAGIC    "WardenFront1"

/* A cursor over the packet body; every read checks what is left. */
struct reader {
    const uint8_t *p;
    size_t len, pos;
};

static bool rd_u8(struct reader *r, uint8_t *v)
{
    if (r->len - r->pos < 1)
        return false;
    *v = r->p[r->pos++];
    return true;
}

static bool rd_u16(struct reader *r, uint16_t *v)
{
    if (r->len - r->pos < 2)
        return false;
    *v = (uint16_t)(r->p[r->pos] << 8 | r->p[r->pos + 1]);
    r->pos += 2;
    return true;
}

/* A string or binary field: a 2-byte length, then that many bytes. */
static bool rd_field(struct reader *r, struct mqttconn_field *f)
{
    uint16_t n;

    if (!rd_u16(r, &n) || r->len - r->pos < n)
        return false;
    f->p = r->p + r->pos;
    f->len = n;
    r->pos += n;
    return true;
}

/*
 * A version 5 property block: a variable byte integer length, then the
 * properties. f covers both, so a rewrite copies the block as it came.
 */
static bool rd_props(struct reader *r, struct mqttconn_field *f)
{
    size_t start = r->pos, n = 0;
    uint8_t b;

    for (int i = 0;; i++) {
        if (i == 4 || !rd_u8(r, &b))
            return false;
        n |= (size_t)(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0)
            break;
    }
    if (r->len - r->pos < n)
        return false;
    r->pos += n;
    f->p = r->p + start;
    f->len = r->pos - start;
    return true;
}

static bool field_is(const struct mqttconn_field *f, const char *s)
{
    return f->len == strlen(s) && memcmp(f->p, s, f->len) == 0;
}

/* The connect flags, as MQTT 3.1.1 section 3.1.2.3 and 5 section 3.1.2.3 constrain them. */
static bool flags_valid(uint8_t level, uint8_t flags)
{
    bool will = flags & MQTTCONN_FLAG_WILL;

    if (flags & 0x01u)
        return false; /* reserved */
    if ((flags & MQTTCONN_FLAG_WILL_QOS) == MQTTCONN_FLAG_WILL_QOS)
        return false; /* will QoS 3 */
    if (!will && (flags & (MQTTCONN_FLAG_WILL_QOS | MQTTCONN_FLAG_RETAIN)))
        return false;
    /* Before version 5 a password needs a user name. */
    if (level < 5 && (flags & MQTTCONN_FLAG_PASSWORD) && !(flags & MQTTCONN_FLAG_USERNAME))
        return false;
    return true;
}

/* The variable header and payload of a CONNECT, body[0..len) exactly. */
static bool parse_body(const uint8_t *body, size_t len, struct mqttconn *c)
{
    struct reader r = {body, len, 0};

    if (!rd_field(&r, &c->proto_name) || !rd_u8(&r, &c->level) || !rd_u8(&r, &c->flags) ||
        !rd_u16(&r, &c->keepalive))
        return false;
    if (!(field_is(&c->proto_name, "MQIsdp") && c->level == 3) &&
        !(field_is(&c->proto_name, "MQTT") && (c->level == 4 || c->level == 5)))
        return false;
    if (!flags_valid(c->level, c->flags))
        return false;
    if (c->level == 5 && !rd_props(&r, &c->props))
        return false;
    if (!rd_field(&r, &c->client_id))
        return false;
    c->has_will = c->flags & MQTTCONN_FLAG_WILL;
    if (c->has_will) {
        if (c->level == 5 && !rd_props(&r, &c->will_props))
            return false;
        if (!rd_field(&r, &c->will_topic) || !rd_field(&r, &c->will_payload))
            return false;
    }
    c->has_username = c->flags & MQTTCONN_FLAG_USERNAME;
    if (c->has_username && !rd_field(&r, &c->username))
        return false;
    c->has_password = c->flags & MQTTCONN_FLAG_PASSWORD;
    if (c->has_password && !rd_field(&r, &c->password))
        return false;
    return r.pos == len; /* nothing may follow the last field */
}

int mqttconn_parse(const uint8_t *buf, size_t len, struct mqttconn *out)
{
    size_t rl = 0, hdr = 0;

    if (len == 0)
        return 0;
    if (buf[0] != MQTT_CONNECT)
        return -1;
    /*
     * The remaining length, 1 to 4 bytes of 7 bits. A third byte that
     * continues means at least 128^3 bytes, far past the cap: refuse it
     * without waiting for more.
     */
    for (size_t i = 0;; i++) {
        if (1 + i >= len)
            return 0;
        rl |= (size_t)(buf[1 + i] & 0x7f) << (7 * i);
        if ((buf[1 + i] & 0x80) == 0) {
            hdr = 2 + i;
            break;
        }
        if (i == 2)
            return -1;
    }
    if (rl > MQTTCONN_MAX_PACKET - hdr)
        return -1;
    if (len - hdr < rl)
        return 0;
    memset(out, 0, sizeof(*out));
    if (!parse_body(buf + hdr, rl, out))
        return -1;
    out->packet_len = hdr + rl;
    return (int)out->packet_len;
}

/* ---- the rewrite ----------------------------------------------------------------------------- */

/* A writer into a buffer sized beforehand; the sizes are computed, so it cannot overflow. */
struct writer {
    uint8_t *p;
    size_t pos;
};

static void wr_bytes(struct writer *w, const void *p, size_t n)
{
    if (n > 0)
        memcpy(w->p + w->pos, p, n);
    w->pos += n;
}

static void wr_u8(struct writer *w, uint8_t v)
{
    w->p[w->pos++] = v;
}

static void wr_u16(struct writer *w, size_t v)
{
    wr_u8(w, (uint8_t)(v >> 8));
    wr_u8(w, (uint8_t)v);
}

static void wr_field(struct writer *w, const uint8_t *p, size_t n)
{
    wr_u16(w, n);
    wr_bytes(w, p, n);
}

static size_t varint_len(size_t v)
{
    return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

uint8_t *mqttconn_rewrite(const struct mqttconn *c, const uint8_t *password, size_t password_len,
                          size_t *outlen)
{
    struct writer w = {0};
    size_t rl;

    if (password_len > MQTTCONN_FIELD_MAX)
        return NULL;
    rl = 2 + c->proto_name.len + 1 + 1 + 2 + c->props.len + 2 + c->client_id.len;
    if (c->has_will)
        rl += c->will_props.len + 2 + c->will_topic.len + 2 + c->will_payload.len;
    rl += 2 + c->username.len + 2 + password_len;
    if (rl > MQTT_VARINT_MAX)
        return NULL;
    *outlen = 1 + varint_len(rl) + rl;
    if ((w.p = malloc(*outlen)) == NULL)
        return NULL;
    wr_u8(&w, MQTT_CONNECT);
    for (size_t v = rl;; v >>= 7) {
        wr_u8(&w, (uint8_t)((v & 0x7f) | (v >= 128 ? 0x80 : 0)));
        if (v < 128)
            break;
    }
    wr_field(&w, c->proto_name.p, c->proto_name.len);
    wr_u8(&w, c->level);
    wr_u8(&w, c->flags | MQTTCONN_FLAG_USERNAME | MQTTCONN_FLAG_PASSWORD);
    wr_u16(&w, c->keepalive);
    wr_bytes(&w, c->props.p, c->props.len);
    wr_field(&w, c->client_id.p, c->client_id.len);
    if (c->has_will) {
        wr_bytes(&w, c->will_props.p, c->will_props.len);
        wr_field(&w, c->will_topic.p, c->will_topic.len);
        wr_field(&w, c->will_payload.p, c->will_payload.len);
    }
    wr_field(&w, c->username.p, c->username.len);
    wr_field(&w, password, password_len);
    WARDEN_ASSERT(w.pos == *outlen);
    return w.p;
}

/* ---- the attestation ------------------------------------------------------------------------- */

static size_t b64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Standard base64 with padding of p[0..n) at out, which has b64_len(n) + 1 bytes. */
static size_t b64_put(char *out, const uint8_t *p, size_t n)
{
    return n == 0 ? 0 : (size_t)EVP_EncodeBlock((unsigned char *)out, p, (int)n);
}

char *mqttconn_attestation(const char *ip, unsigned port, int64_t ts, const uint8_t *pw,
                           size_t pwlen, const uint8_t *der, size_t derlen, const char *secret,
                           size_t *outlen)
{
    char head[128];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    size_t total, n;
    char *out;
    int hn;

    if (pwlen > MQTTCONN_FIELD_MAX || derlen > MQTTCONN_FIELD_MAX || strlen(secret) != 64)
        return NULL;
    hn = snprintf(head, sizeof(head), ATTEST_MAGIC ";ip=%s;port=%u;ts=%lld;pw=", ip, port,
                  (long long)ts);
    if (hn < 0 || (size_t)hn >= sizeof(head))
        return NULL;
    total = (size_t)hn + b64_len(pwlen) + strlen(";cert=") + b64_len(derlen) + strlen(";sig=") + 64;
    if (total > MQTTCONN_FIELD_MAX || (out = malloc(total + 1)) == NULL)
        return NULL;
    memcpy(out, head, (size_t)hn);
    n = (size_t)hn;
    n += b64_put(out + n, pw, pwlen);
    memcpy(out + n, ";cert=", 6);
    n += 6;
    n += b64_put(out + n, der, derlen);
    /* The signature covers everything before ";sig=". */
    if (HMAC(EVP_sha256(), secret, 64, (const unsigned char *)out, n, mac, &maclen) == NULL ||
        maclen != 32) {
        free(out);
        return NULL;
    }
    memcpy(out + n, ";sig=", 5);
    n += 5;
    for (unsigned i = 0; i < maclen; i++, n += 2)
        snprintf(out + n, 3, "%02x", mac[i]);
    WARDEN_ASSERT(n == total);
    out[n] = '\0';
    *outlen = n;
    return out;
}
