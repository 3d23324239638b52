/*
 * hub/mqttconn.h: the MQTT CONNECT packet, read and rewritten, for the TLS
 * front end (hub/front.c). Pure functions over bytes: no sockets, no
 * clock. Every byte comes from an unauthenticated client, so the parser
 * checks each length against the packet before it reads.
 *
 * The front end forwards a device's CONNECT to the broker with every field
 * kept, except that the password becomes an attestation of what the TLS
 * layer saw (the client's address, its original password and certificate),
 * signed with the hub's service secret so that the plugin can trust it:
 *
 *   WardenFront1;ip=IP;port=PORT;ts=UNIX;pw=BASE64;cert=BASE64-DER;sig=HEX
 *
 * sig is HMAC-SHA256, keyed with the 64 ASCII hex digits of the secret, over
 * every byte before ";sig=", in 64 lowercase hex digits.
 */
#ifndef WARDEN_BROKER_MQTTCONN_H
#define WARDEN_BROKER_MQTTCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest CONNECT accepted, fixed header included; larger is invalid. */
#define MQTTCONN_MAX_PACKET (64u * 1024)
/* An MQTT string or binary field holds at most this many bytes. */
#define MQTTCONN_FIELD_MAX 65535u

#define MQTTCONN_FLAG_CLEAN    0x02u
#define MQTTCONN_FLAG_WILL     0x04u
#define MQTTCONN_FLAG_WILL_QOS 0x18u
#define MQTTCONN_FLAG_RETAIN   0x20u
#define MQTTCONN_FLAG_PASSWORD 0x40u
#define MQTTCONN_FLAG_USERNAME 0x80u

/* Bytes of the parsed packet; p points into the caller's buffer (NULL, 0 when absent). */
struct mqttconn_field {
    const uint8_t *p;
    size_t len;
};

/*
 * A CONNECT as received. Strings are the bytes on the wire without their
 * 2-byte length; the v5 property blocks are kept whole, their variable byte
 * length included, so a rewrite copies them without understanding them.
 */
struct mqttconn {
    size_t packet_len;                /* fixed header + remaining length */
    struct mqttconn_field proto_name; /* "MQTT" or "MQIsdp" */
    uint8_t level;                    /* 3 (3.1), 4 (3.1.1) or 5 */
    uint8_t flags;                    /* connect flags */
    uint16_t keepalive;
    struct mqttconn_field props; /* v5 only: length + properties */
    struct mqttconn_field client_id;
    struct mqttconn_field will_props; /* v5 with a will only */
    struct mqttconn_field will_topic;
    struct mqttconn_field will_payload;
    struct mqttconn_field username;
    struct mqttconn_field password;
    bool has_will, has_username, has_password;
};

/*
 * Parses the CONNECT at the start of buf[0..len). Returns the bytes it
 * occupies (> 0), 0 when buf holds only a prefix of a valid packet, or -1
 * when it is not a valid CONNECT: another packet type, an unknown protocol
 * name or level, reserved flags set, a length that runs past the packet,
 * bytes left over, or more than MQTTCONN_MAX_PACKET bytes. out's fields
 * point into buf. When it returns 0 or -1, out is unspecified.
 */
int mqttconn_parse(const uint8_t *buf, size_t len, struct mqttconn *out);

/*
 * Encodes c again with the username flag set (an absent user name becomes
 * an empty one) and password[0..password_len) as the password, the remaining
 * length recomputed. Returns a malloc'd packet the caller frees, its size in
 * *outlen; NULL when the password exceeds MQTTCONN_FIELD_MAX or memory runs out.
 */
uint8_t *mqttconn_rewrite(const struct mqttconn *c, const uint8_t *password, size_t password_len,
                          size_t *outlen);

/*
 * Writes the attestation (above) for a client at ip:port at unix second ts,
 * which sent pw[0..pwlen) (NULL, 0: no password) and the certificate
 * der[0..derlen) (NULL, 0: none), signed with secret (64 hex characters).
 * Returns a malloc'd NUL-terminated string and its length in *outlen, or
 * NULL when it would not fit an MQTT password (MQTTCONN_FIELD_MAX bytes) or
 * memory runs out. The caller frees it.
 */
char *mqttconn_attestation(const char *ip, unsigned port, int64_t ts, const uint8_t *pw,
                           size_t pwlen, const uint8_t *der, size_t derlen, const char *secret,
                           size_t *outlen);

#endif
