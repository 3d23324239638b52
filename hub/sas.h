/*
 * hub/sas.h: IoT Hub shared access signatures, and the small encodings
 * they need (base64, URL encoding, HMAC-SHA256). Used by the broker plugin to
 * check a device's password and by `warden sim` to make one.
 *
 * A device token is
 *   SharedAccessSignature sr={URL-encoded resource}&sig={URL-encoded base64 HMAC}&se={expiry}
 * with the HMAC-SHA256, keyed by the base64-decoded device key, over
 * "{URL-encoded resource}\n{expiry}", and the resource "{host}/devices/{device id}".
 */
#ifndef WARDEN_BROKER_SAS_H
#define WARDEN_BROKER_SAS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SAS_FIELD_MAX 512

enum sas_result {
    SAS_OK = 0,
    SAS_MALFORMED,        /* not a SharedAccessSignature, or a field missing/oversized */
    SAS_WRONG_RESOURCE,   /* sr names another device or host */
    SAS_BAD_SIGNATURE,    /* no key of the device makes this signature */
    SAS_EXPIRED,          /* se is in the past */
};

struct sas_token {
    char sr_raw[SAS_FIELD_MAX + 1]; /* as sent: what was signed */
    char sr[SAS_FIELD_MAX + 1];     /* URL-decoded */
    uint8_t sig[32];
    int64_t se; /* unix seconds */
};

/* Parses a token of LEN bytes (untrusted). */
enum sas_result sas_parse(const char *s, size_t len, struct sas_token *t);

/*
 * Checks a parsed token for DEVICE on HOST (HOST NULL: any host) at NOW (unix
 * seconds) against the base64 keys KEYS[0..nkeys) (empty strings skipped).
 * The signature is checked before the expiry, so a forged token is reported as
 * forged even when it has also expired.
 */
enum sas_result sas_check(const struct sas_token *t, const char *host, const char *device,
                          const char *const *keys, size_t nkeys, int64_t now);

/* Makes a device token; false when a field does not fit OUT or the key is not base64. */
bool sas_make(const char *host, const char *device, const char *key_b64, int64_t expiry,
              char *out, size_t outlen);

/*
 * Standard base64 (RFC 4648 section 4). Decoding takes padding or none (but
 * right when present); encoding pads. Return the length written, or -1
 * (invalid, or no room).
 */
long sas_b64_decode(const char *s, size_t n, uint8_t *out, size_t outlen);
long sas_b64_encode(const uint8_t *p, size_t n, char *out, size_t outlen);

/* Percent-encoding of all but RFC 3986's unreserved characters, as IoT Hub SDKs do;
 * false when OUT is too small. */
bool sas_url_encode(const char *s, char *out, size_t outlen);

/* Percent-decoding ('+' is a space); -1 on a malformed escape or no room. NUL-terminates. */
long sas_url_decode(const char *s, size_t n, char *out, size_t outlen);

/* HMAC-SHA256. */
void sas_hmac(const void *key, size_t keylen, const void *msg, size_t msglen, uint8_t out[32]);

/* Constant-time equality of two byte strings of the same length. */
bool sas_equal(const void *a, const void *b, size_t n);

#endif
