/*
 * Unit tests of the CONNECT parser and rewriter of the TLS front end
 * (hub/mqttconn.c): every protocol level with and without will, user name
 * and password; version 5 property blocks copied byte for byte; remaining
 * lengths at the edges of the variable byte integer; every truncation of a
 * valid packet asks for more; lengths that lie, other packet types and
 * reserved flags are refused; and the attestation against vectors computed
 * independently (Python's hmac and base64).
 */
#include "../../hub/mqttconn.h"
#include "check.h"

#include <stdint.h>

/* A CONNECT to build, encoded here independently of the code under test. */
struct spec {
    const char *proto; /* NULL: the one the level implies */
    int level;
    uint8_t extra_flags; /* clean session, will QoS and retain, reserved */
    uint16_t keepalive;
    const uint8_t *props;
    size_t props_len; /* v5: the block, its length included */
    const char *cid;
    const uint8_t *wprops;
    size_t wprops_len;  /* v5 will properties, likewise */
    const char *wtopic; /* non-NULL: a will */
    const uint8_t *wpay;
    size_t wpay_len;
    const char *user; /* non-NULL: the user name flag */
    const uint8_t *pass;
    size_t pass_len; /* non-NULL: the password flag */
};

struct pkt {
    uint8_t b[200000];
    size_t n;
};

static void put(struct pkt *p, const void *src, size_t n)
{
    memcpy(p->b + p->n, src, n);
    p->n += n;
}

static void put_field(struct pkt *p, const void *src, size_t n)
{
    uint8_t len[2] = {(uint8_t)(n >> 8), (uint8_t)n};

    put(p, len, 2);
    put(p, src, n);
}

static size_t put_varint(uint8_t *out, size_t v)
{
    size_t i = 0;

    do {
        out[i] = (uint8_t)(v % 128);
        v /= 128;
        if (v > 0)
            out[i] |= 0x80;
        i++;
    } while (v > 0);
    return i;
}

static void encode(const struct spec *s, struct pkt *out)
{
    static struct pkt body;
    const char *proto = s->proto ? s->proto : s->level == 3 ? "MQIsdp" : "MQTT";
    uint8_t flags = s->extra_flags;
    uint8_t hdr[5];
    uint8_t v[4] = {(uint8_t)s->level, 0, (uint8_t)(s->keepalive >> 8), (uint8_t)s->keepalive};

    flags |= s->wtopic ? 0x04 : 0;
    flags |= s->user ? 0x80 : 0;
    flags |= s->pass ? 0x40 : 0;
    v[1] = flags;
    body.n = 0;
    put_field(&body, proto, strlen(proto));
    put(&body, v, 4);
    if (s->level == 5)
        put(&body, s->props, s->props_len);
    put_field(&body, s->cid, strlen(s->cid));
    if (s->wtopic) {
        if (s->level == 5)
            put(&body, s->wprops, s->wprops_len);
        put_field(&body, s->wtopic, strlen(s->wtopic));
        put_field(&body, s->wpay, s->wpay_len);
    }
    if (s->user)
        put_field(&body, s->user, strlen(s->user));
    if (s->pass)
        put_field(&body, s->pass, s->pass_len);
    hdr[0] = 0x10;
    out->n = 0;
    put(out, hdr, 1 + put_varint(hdr + 1, body.n));
    put(out, body.b, body.n);
}

static bool field_eq(struct mqttconn_field f, const void *p, size_t n)
{
    return f.len == n && (n == 0 || memcmp(f.p, p, n) == 0);
}

static bool field_str(struct mqttconn_field f, const char *s)
{
    return field_eq(f, s, strlen(s));
}

/* v5 blocks: no properties; session expiry 3600 + user property ("k","v"); will delay 5. */
static const uint8_t NO_PROPS[] = {0x00};
static const uint8_t CONN_PROPS[] = {12, 0x11, 0, 0, 0x0e, 0x10, 0x26, 0, 1, 'k', 0, 1, 'v'};
static const uint8_t WILL_PROPS[] = {5, 0x18, 0, 0, 0, 5};

static struct spec full_spec(int level)
{
    static const uint8_t pass[] = {'p', 0, 'w', 0xff};
    static const uint8_t wpay[] = {'b', 'y', 'e'};
    struct spec s = {.level = level,
                     .extra_flags = 0x02 | 0x08 | 0x20,
                     .keepalive = 60,
                     .props = CONN_PROPS,
                     .props_len = sizeof(CONN_PROPS),
                     .cid = "dev-1",
                     .wprops = WILL_PROPS,
                     .wprops_len = sizeof(WILL_PROPS),
                     .wtopic = "devices/dev-1/gone",
                     .wpay = wpay,
                     .wpay_len = sizeof(wpay),
                     .user = "hub/dev-1/?api-version=2021-04-12",
                     .pass = pass,
                     .pass_len = sizeof(pass)};
    return s;
}

static struct spec bare_spec(int level)
{
    struct spec s = {
        .level = level, .keepalive = 30, .props = NO_PROPS, .props_len = 1, .cid = "dev-2"};
    return s;
}

/* Parse what s encodes, expecting it whole, and check each field against s. */
static void expect_parsed(const struct spec *s)
{
    static struct pkt p;
    struct mqttconn c;

    encode(s, &p);
    CHECK_INT(mqttconn_parse(p.b, p.n, &c), p.n);
    CHECK_INT(c.packet_len, p.n);
    CHECK_INT(c.level, s->level);
    CHECK_INT(c.keepalive, s->keepalive);
    CHECK(field_str(c.client_id, s->cid));
    CHECK_INT(c.has_will, s->wtopic != NULL);
    CHECK_INT(c.has_username, s->user != NULL);
    CHECK_INT(c.has_password, s->pass != NULL);
    if (s->level == 5)
        CHECK(field_eq(c.props, s->props, s->props_len));
    else
        CHECK_INT(c.props.len, 0);
    if (s->wtopic) {
        CHECK(field_str(c.will_topic, s->wtopic));
        CHECK(field_eq(c.will_payload, s->wpay, s->wpay_len));
        if (s->level == 5)
            CHECK(field_eq(c.will_props, s->wprops, s->wprops_len));
    }
    if (s->user)
        CHECK(field_str(c.username, s->user));
    if (s->pass)
        CHECK(field_eq(c.password, s->pass, s->pass_len));
}

static void parse_every_level_with_and_without_optional_fields(void)
{
    for (int level = 3; level <= 5; level++) {
        struct spec full = full_spec(level), bare = bare_spec(level), user_only = bare_spec(level);

        user_only.user = "";
        expect_parsed(&full);
        expect_parsed(&bare);
        expect_parsed(&user_only);
        full.pass = NULL;
        expect_parsed(&full);
        full.wtopic = NULL;
        full.extra_flags = 0x02;
        expect_parsed(&full);
    }
}

static void parse_v5_password_without_username(void)
{
    static const uint8_t pass[] = "only-a-password";
    struct spec s = bare_spec(5);

    s.pass = pass;
    s.pass_len = sizeof(pass) - 1;
    expect_parsed(&s);
}

/* Rewrite s with password, and check the result parses to s with the new user name and password. */
static void expect_rewrite(const struct spec *s, const char *password)
{
    static struct pkt p;
    struct mqttconn c, r;
    uint8_t *out;
    size_t outlen = 0;
    struct spec want = *s;

    encode(s, &p);
    CHECK_INT(mqttconn_parse(p.b, p.n, &c), p.n);
    out = mqttconn_rewrite(&c, (const uint8_t *)password, strlen(password), &outlen);
    CHECK(out != NULL);
    if (out == NULL)
        return;
    /* What the rewritten packet must be, encoded independently. */
    want.user = s->user ? s->user : "";
    want.pass = (const uint8_t *)password;
    want.pass_len = strlen(password);
    encode(&want, &p);
    CHECK_INT(outlen, p.n);
    CHECK(outlen == p.n && memcmp(out, p.b, p.n) == 0);
    CHECK_INT(mqttconn_parse(out, outlen, &r), outlen);
    CHECK(r.has_username && r.has_password);
    CHECK(field_str(r.password, password));
    free(out);
}

static void rewrite_keeps_every_field_and_replaces_the_password(void)
{
    for (int level = 3; level <= 5; level++) {
        struct spec full = full_spec(level), bare = bare_spec(level);

        expect_rewrite(&full, "WardenFront1;x");
        expect_rewrite(&bare, "WardenFront1;absent user name becomes empty");
        full.pass = NULL;
        expect_rewrite(&full, "");
    }
}

/* A bare 3.1.1 CONNECT whose client id makes the remaining length exactly rl. */
static void encode_with_remaining_length(size_t rl, struct pkt *p)
{
    static char cid[70000];
    struct spec s = bare_spec(4);
    size_t fixed = 2 + 4 + 4 + 2; /* name, level+flags+keepalive, client id length */

    memset(cid, 'c', rl - fixed);
    cid[rl - fixed] = '\0';
    s.cid = cid;
    encode(&s, p);
}

static void remaining_length_edges(void)
{
    static const size_t rls[] = {127, 128, 16383, 16384, 65000};
    static const size_t hdrs[] = {2, 3, 3, 4, 4};
    static struct pkt p;

    for (size_t i = 0; i < sizeof(rls) / sizeof(rls[0]); i++) {
        struct mqttconn c;
        uint8_t *out;
        size_t outlen;

        encode_with_remaining_length(rls[i], &p);
        CHECK_INT(p.n, hdrs[i] + rls[i]);
        CHECK_INT(mqttconn_parse(p.b, p.n, &c), p.n);
        /* The rewrite grows the packet across the same edge, and encodes the length again. */
        out = mqttconn_rewrite(&c, (const uint8_t *)"pw", 2, &outlen);
        CHECK(out != NULL);
        if (out != NULL) {
            size_t rl2 = rls[i] + 2 + 4; /* empty user name, then "pw" */
            size_t hdr2 = rl2 < 128 ? 2 : rl2 < 16384 ? 3 : 4;
            CHECK_INT(outlen, hdr2 + rl2);
            CHECK_INT(mqttconn_parse(out, outlen, &c), outlen);
            free(out);
        }
    }
}

static void every_truncation_needs_more(void)
{
    static struct pkt p;

    for (int level = 3; level <= 5; level++) {
        struct spec s = full_spec(level);
        struct mqttconn c;
        size_t zero = 0;

        encode(&s, &p);
        for (size_t n = 0; n < p.n; n++)
            zero += mqttconn_parse(p.b, n, &c) == 0;
        CHECK_INT(zero, p.n);
    }
    encode_with_remaining_length(16384, &p);
    for (size_t n = 0; n < p.n; n += 97) {
        struct mqttconn c;
        CHECK_INT(mqttconn_parse(p.b, n, &c), 0);
    }
}

static void bytes_after_the_packet_are_left_alone(void)
{
    static struct pkt p;
    struct spec s = full_spec(4);
    struct mqttconn c;
    size_t n;

    encode(&s, &p);
    n = p.n;
    put(&p, "\x30\x02\x00\x00", 4); /* a PUBLISH pipelined behind */
    CHECK_INT(mqttconn_parse(p.b, p.n, &c), n);
}

/* Offset in p of the length of field f (2 bytes before a string, the block's own first byte). */
static size_t len_offset(const uint8_t *p, struct mqttconn_field f, bool block)
{
    return (size_t)(f.p - p) - (block ? 0 : 2);
}

/* p[0..n) with the byte at off changed by delta (mod 256 at the low byte of a 16-bit length). */
static int parse_altered(const uint8_t *p, size_t n, size_t off, bool wide, int delta)
{
    uint8_t *copy = malloc(n); /* exactly n bytes, so the sanitizers see any read past them */
    struct mqttconn c;
    int rc;

    memcpy(copy, p, n);
    if (wide) {
        unsigned v = (unsigned)(copy[off] << 8 | copy[off + 1]) + (unsigned)delta;
        copy[off] = (uint8_t)(v >> 8);
        copy[off + 1] = (uint8_t)v;
    } else {
        copy[off] = (uint8_t)(copy[off] + delta);
    }
    rc = mqttconn_parse(copy, n, &c);
    free(copy);
    return rc;
}

/*
 * Every length of the full packet at each level (the strings, the v5
 * property blocks, the remaining length), made one larger and one smaller
 * than the truth: each is refused, and none reads past the packet.
 */
static void lengths_that_lie_are_refused(void)
{
    static struct pkt p;

    for (int level = 3; level <= 5; level++) {
        struct spec s = full_spec(level);
        struct mqttconn c;
        struct mqttconn_field strs[6];
        size_t nfail = 0, ntried = 0;

        encode(&s, &p);
        CHECK_INT(mqttconn_parse(p.b, p.n, &c), p.n);
        strs[0] = c.proto_name, strs[1] = c.client_id, strs[2] = c.will_topic;
        strs[3] = c.will_payload, strs[4] = c.username, strs[5] = c.password;
        for (int d = -1; d <= 1; d += 2) {
            for (size_t i = 0; i < 6; i++, ntried++)
                nfail += parse_altered(p.b, p.n, len_offset(p.b, strs[i], false), true, d) == -1;
            if (level == 5) {
                nfail += parse_altered(p.b, p.n, len_offset(p.b, c.props, true), false, d) == -1;
                nfail +=
                    parse_altered(p.b, p.n, len_offset(p.b, c.will_props, true), false, d) == -1;
                ntried += 2;
            }
        }
        CHECK_INT(nfail, ntried);
        /* The remaining length one short: the last field runs past it. */
        CHECK_INT(parse_altered(p.b, p.n - 1, 1, false, -1), -1);
        /* The remaining length one long, with a stray byte: left over. */
        p.b[p.n] = 0;
        CHECK_INT(parse_altered(p.b, p.n + 1, 1, false, +1), -1);
    }
}

/* The client id's length claims 200 bytes in a packet of 20: refused, not "need more". */
static void field_longer_than_the_packet_is_refused(void)
{
    static const uint8_t pkt[] = {0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 200};
    struct mqttconn c;

    CHECK_INT(mqttconn_parse(pkt, sizeof(pkt), &c), -1);
}

static void v5_property_lengths_are_checked(void)
{
    /* Property length 100 in a packet with 1 byte of properties. */
    static const uint8_t past[] = {0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 60, 100, 0, 0, 0};
    /* A property length of five continuation bytes. */
    static const uint8_t longvar[] = {0x10, 17, 0,    4,    'M',  'Q',  'T',  'T', 5, 2,
                                      0,    60, 0x80, 0x80, 0x80, 0x80, 0x01, 0,   0};
    struct mqttconn c;

    CHECK_INT(mqttconn_parse(past, sizeof(past), &c), -1);
    CHECK_INT(mqttconn_parse(longvar, sizeof(longvar), &c), -1);
}

static void a_first_packet_that_is_not_connect_is_refused(void)
{
    static const uint8_t publish[] = {0x30, 0x05, 0, 1, 't', 'x', 'y'};
    static const uint8_t connack[] = {0x20, 0x02, 0, 0};
    static const uint8_t flagged[] = {0x12, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0};
    static const uint8_t tls[] = {0x16, 0x03, 0x01, 0x00};
    struct mqttconn c;

    CHECK_INT(mqttconn_parse(publish, sizeof(publish), &c), -1);
    CHECK_INT(mqttconn_parse(publish, 1, &c), -1); /* known at the first byte */
    CHECK_INT(mqttconn_parse(connack, sizeof(connack), &c), -1);
    CHECK_INT(mqttconn_parse(flagged, sizeof(flagged), &c), -1);
    CHECK_INT(mqttconn_parse(tls, sizeof(tls), &c), -1);
}

static void expect_refused(const struct spec *s)
{
    static struct pkt p;
    struct mqttconn c;

    encode(s, &p);
    CHECK_INT(mqttconn_parse(p.b, p.n, &c), -1);
}

static void bad_protocol_names_levels_and_flags_are_refused(void)
{
    struct spec s;

    s = bare_spec(4), s.proto = "MQIsdp", expect_refused(&s);
    s = bare_spec(3), s.proto = "MQTT", expect_refused(&s);
    s = bare_spec(4), s.proto = "MQTX", expect_refused(&s);
    s = bare_spec(4), s.level = 6, expect_refused(&s);
    s = bare_spec(4), s.level = 2, expect_refused(&s);
    s = bare_spec(4), s.extra_flags = 0x01, expect_refused(&s); /* reserved */
    s = bare_spec(4), s.extra_flags = 0x08, expect_refused(&s); /* will QoS, no will */
    s = bare_spec(4), s.extra_flags = 0x20, expect_refused(&s); /* retain, no will */
    s = full_spec(4), s.extra_flags = 0x18, expect_refused(&s); /* will QoS 3 */
    s = bare_spec(4), s.pass = (const uint8_t *)"x", s.pass_len = 1;
    expect_refused(&s); /* password, no user */
    s.level = 3, expect_refused(&s);
}

static void oversized_remaining_lengths_are_refused_at_once(void)
{
    static const uint8_t over[] = {0x10, 0x81, 0x80, 0x04};  /* 65537 */
    static const uint8_t three[] = {0x10, 0xff, 0xff, 0x80}; /* a third byte that continues */
    static const uint8_t five[] = {0x10, 0xff, 0xff, 0xff, 0xff, 0x7f};
    static const uint8_t two_pending[] = {0x10, 0xff, 0xff}; /* could still be <= 2 MiB */
    struct mqttconn c;

    CHECK_INT(mqttconn_parse(over, sizeof(over), &c), -1);
    CHECK_INT(mqttconn_parse(three, sizeof(three), &c), -1);
    CHECK_INT(mqttconn_parse(five, sizeof(five), &c), -1);
    CHECK_INT(mqttconn_parse(two_pending, sizeof(two_pending), &c), 0);
}

static void rewrite_refuses_a_password_over_65535_bytes(void)
{
    static struct pkt p;
    static uint8_t big[65536];
    struct spec s = bare_spec(4);
    struct mqttconn c;
    size_t outlen;

    encode(&s, &p);
    CHECK_INT(mqttconn_parse(p.b, p.n, &c), p.n);
    CHECK(mqttconn_rewrite(&c, big, sizeof(big), &outlen) == NULL);
    uint8_t *ok = mqttconn_rewrite(&c, big, sizeof(big) - 1, &outlen);
    CHECK(ok != NULL);
    free(ok);
}

static void attestation_matches_independent_vectors(void)
{
    static const uint8_t der[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    char *a;
    size_t n = 0;

    a = mqttconn_attestation(
        "192.0.2.10", 51234, 1795946400, (const uint8_t *)"secret-pw", 9, der, sizeof(der),
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", &n);
    CHECK_STR(a, "WardenFront1;ip=192.0.2.10;port=51234;ts=1795946400;pw=c2VjcmV0LXB3;"
                 "cert=AAECAwQFBgcICQ==;"
                 "sig=21ac077af5da1cdb1aff33b513ace72848a3dbc9e88e9805af0198a82bdfe954");
    CHECK_INT(n, a ? strlen(a) : 0);
    free(a);
    a = mqttconn_attestation("2001:db8::1", 1, 0, NULL, 0, NULL, 0,
                             "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                             &n);
    CHECK_STR(a, "WardenFront1;ip=2001:db8::1;port=1;ts=0;pw=;cert=;"
                 "sig=88f02dca95094b319394d0bcebadd3b827d8c9e760335c41f7f440ef6b8a21f3");
    free(a);
}

static void attestation_that_cannot_fit_a_password_is_refused(void)
{
    static uint8_t pw[50000];
    const char *secret = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    size_t n;
    char *a;

    CHECK(mqttconn_attestation("127.0.0.1", 1, 0, pw, sizeof(pw), NULL, 0, secret, &n) == NULL);
    a = mqttconn_attestation("127.0.0.1", 1, 0, pw, 40000, NULL, 0, secret, &n);
    CHECK(a != NULL && n <= MQTTCONN_FIELD_MAX);
    free(a);
    CHECK(mqttconn_attestation("127.0.0.1", 1, 0, NULL, 0, NULL, 0, "short", &n) == NULL);
}

int main(void)
{
    RUN(parse_every_level_with_and_without_optional_fields);
    RUN(parse_v5_password_without_username);
    RUN(rewrite_keeps_every_field_and_replaces_the_password);
    RUN(remaining_length_edges);
    RUN(every_truncation_needs_more);
    RUN(bytes_after_the_packet_are_left_alone);
    RUN(lengths_that_lie_are_refused);
    RUN(field_longer_than_the_packet_is_refused);
    RUN(v5_property_lengths_are_checked);
    RUN(a_first_packet_that_is_not_connect_is_refused);
    RUN(bad_protocol_names_levels_and_flags_are_refused);
    RUN(oversized_remaining_lengths_are_refused_at_once);
    RUN(rewrite_refuses_a_password_over_65535_bytes);
    RUN(attestation_matches_independent_vectors);
    RUN(attestation_that_cannot_fit_a_password_is_refused);
    return CHECK_DONE();
}
