/*
 * hub/plugin.c: the lab hub, a Mosquitto 2.0 plugin (build/warden_hub.so).
 *
 * It makes the lab broker behave like IoT Hub's MQTT endpoint towards devices,
 * and reports what only a hub can see as hub operation records (SPEC 2.4) on
 * hub/{hub}/operations, where Warden's ingest picks them up:
 *
 *   - authentication: user name "{host}/{device id}/?api-version=...", client id
 *     = device id, password a SAS token checked against the device's keys, or a
 *     client certificate (seen by Warden's TLS front end, `warden hub tls`, which
 *     passes it on in a signed attestation) checked against the registry's
 *     thumbprints or the hub's CA certificates; the hub's IP filter; a device
 *     the registry has "disabled" is refused as IoT Hub refuses it
 *     (DeviceNotFound), and disconnected when a reload disables or removes it;
 *   - authorization: a device publishes and subscribes only within its own
 *     topics and the $iothub topics a device uses; $iothub is one namespace in
 *     Mosquitto, so nothing is routed there: the plugin delivers each method
 *     call and desired-property update to the one client it is for;
 *   - counts: reported twin updates (which only the hub sees) and C2D messages
 *     the hub could not deliver, aggregated into records with a `count`.
 *
 * Everything the plugin decides with is in memory (the key store, reloaded when
 * its file changes), so no event blocks the broker. Any failure inside an
 * event denies rather than crashes.
 *
 * mosquitto.conf:
 *   plugin /path/to/warden_hub.so
 *   plugin_opt_keystore /path/to/warden-hub.keys    (required)
 *   plugin_opt_hub lab-hub                          (default: the key store's hub, else lab-hub)
 *   plugin_opt_hostname lab-hub.example             (optional: the host devices must name)
 *   plugin_opt_service_user warden-service          (Warden's own login; its password is
 *                                                    the key store's service secret)
 *   plugin_opt_flush_ms 1000                        (how often records are published)
 *   plugin_opt_max_message_bytes 65536              (the largest record batch published; at
 *                                                    most Warden's ingest.max_message_bytes)
 *   plugin_opt_max_token_lifetime P365D             (hub.max_token_lifetime: a SAS token whose
 *                                                    se is further ahead is refused; seconds
 *                                                    or an ISO 8601 duration)
 *
 * Why one file of about 1,200 lines, past the house guide of 1,000: the plugin
 * is one translation unit loaded into the broker, whose sections (state, key
 * store, records, certificates, authentication, messages, authorization, entry
 * points) all read and write one static state on the broker's one thread, and
 * follow the order in which the broker calls them. Split, that state would be
 * a global shared across files of a shared object; whole, every access to it
 * is in sight, and no function is longer than about 60 lines. The pieces that
 * stand alone are their own files already: the key store (hubkeys.c) and SAS
 * tokens (sas.c), which Warden shares.
 */
#include "hubkeys.h"
#include "sas.h"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define EXPORT __attribute__((visibility("default")))

#define ATTEST_PREFIX  "WardenFront1;"
#define ATTEST_MAX_AGE 120  /* seconds an attestation stays valid */
#define PASSWORD_MAX   8192 /* a device's own password, inside an attestation */
#define CERT_DER_MAX   16384
#define RECORDS_MAX    2048 /* distinct records held between flushes */
#define CLIENT_BUCKETS 4096
#define DETAIL_MAX     256
#define SAMPLE_IDS     3       /* client ids kept with a record of unregistered ids' refusals */
#define SAMPLE_ID_MAX  64      /* bytes of each */
#define COUNT_MAX      1000000 /* SPEC 2.4: the largest count Warden accepts in a record */
/* One record's JSON at its worst (every byte of every field escaped as \u00XX): under 5 KB. */
#define RECORD_JSON_MAX     8192
/* What a held record's JSON may grow by: its count to 7 digits; its sample, when it keeps one
 * (no device), to full. */
#define COUNT_GROWTH        6
#define SAMPLE_GROWTH       (SAMPLE_IDS * (2 * SAMPLE_ID_MAX + 16) + 12)
#define MESSAGE_MIN         (2 * RECORD_JSON_MAX)
#define MESSAGE_MAX         (64L << 20) /* Warden's own ceiling for ingest.max_message_bytes */
#define MESSAGE_DEFAULT     65536       /* a quarter of Warden's default limit */
#define TOKEN_LIFETIME_DEFAULT (365L * 86400)

/* ---- state ------------------------------------------------------------------------------ */

/* What the plugin remembers of a device client between events. */
struct client {
    struct client *next;
    char id[HUB_KEYS_ID_MAX + 1];
    char ip[64]; /* where it logged in from (through the TLS front end: the device's own) */
    bool connected;
    bool persistent;     /* clean session off: the broker queues for it while away */
    bool c2d_subscribed; /* it subscribed to its devicebound topic */
};

/*
 * One aggregated hub record. Every string in it is valid UTF-8 (record_sampled
 * makes it so), so that the batch it goes out in is valid JSON.
 */
struct record {
    char category[24], operation[24], result[16], reason[48];
    char device[HUB_KEYS_ID_MAX + 1]; /* "" for a client id not in the registry */
    char source_ip[64];               /* "" or an address Warden can parse */
    char detail_key[16], detail[DETAIL_MAX];
    char sample[SAMPLE_IDS][SAMPLE_ID_MAX + 1]; /* the first few unregistered client ids */
    size_t nsample;
    int64_t first_ms;
    long count;
};

static struct {
    mosquitto_plugin_id_t *id;
    char keystore[1024];
    char hub[HUB_KEYS_NAME_MAX + 1];
    char hostname[256];
    char service_user[64];
    long flush_ms;
    long max_message;    /* bytes of one published batch */
    long token_lifetime; /* seconds a SAS token may reach ahead */
    struct hub_keys keys;
    struct timespec keys_mtime;
    long keys_size;
    time_t last_check;
    struct client *clients[CLIENT_BUCKETS];
    struct record records[RECORDS_MAX];
    size_t nrecords;
    size_t pending_bytes; /* the held records' JSON, as large as it can grow */
    int64_t last_flush_ms;
} hub;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Copies s into out, cut when it does not fit on a character boundary: a cut
 * never splits a UTF-8 sequence. A byte that begins no valid character is one
 * unit of its own: copied as it is (a path, a password), or as '?' when TEXT,
 * which makes the copy valid UTF-8 whatever s was.
 */
static void copy_as(char *out, size_t outlen, const char *s, bool text)
{
    size_t n = s != NULL ? strlen(s) : 0, o = 0;

    for (size_t i = 0, len; i < n; i += len) {
        if ((len = utf8_char(s + i, n - i)) == 0)
            len = 1;
        if (o + len >= outlen)
            break;
        if (len == 1 && text && (unsigned char)s[i] >= 0x80)
            out[o] = '?';
        else
            memcpy(out + o, s + i, len);
        o += len;
    }
    if (outlen > 0)
        out[o] = '\0';
}

static void copy(char *out, size_t outlen, const char *s)
{
    copy_as(out, outlen, s, false);
}

static struct client *client_get(const char *id, bool create)
{
    size_t b = (size_t)(hash_bytes(0, id, strlen(id)) % CLIENT_BUCKETS);

    for (struct client *c = hub.clients[b]; c != NULL; c = c->next)
        if (strcmp(c->id, id) == 0)
            return c;
    if (!create)
        return NULL;
    struct client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    copy(c->id, sizeof(c->id), id);
    c->next = hub.clients[b];
    hub.clients[b] = c;
    return c;
}

/* The address a device logged in from: the one the TLS front end attested, else the socket's. */
static const char *client_ip(const char *device, const struct mosquitto *client)
{
    const struct client *c = client_get(device, false);
    const char *addr;

    if (c != NULL && c->ip[0] != '\0')
        return c->ip;
    addr = mosquitto_client_address(client);
    return addr ? addr : "";
}

/* ---- the key store ---------------------------------------------------------------------- */

/*
 * IoT Hub closes the connection of a device that is disabled or deleted; so
 * does the lab hub when a reload of the key store makes one so. The client
 * stays in the table (kicking only asks the broker to disconnect it), so the
 * walk is safe from on_disconnect.
 */
static void clients_kick_revoked(void)
{
    for (size_t b = 0; b < CLIENT_BUCKETS; b++)
        for (struct client *c = hub.clients[b]; c != NULL; c = c->next) {
            const struct hub_keys_device *d;

            if (!c->connected || ((d = hub_keys_find(&hub.keys, c->id)) != NULL && !d->disabled))
                continue;
            mosquitto_log_printf(MOSQ_LOG_NOTICE, "warden_hub: disconnecting %s: %s", c->id,
                                 d != NULL ? "the device is disabled"
                                           : "no longer in the registry");
            mosquitto_kick_client_by_clientid(c->id, false);
        }
}

/* Reloads the key store when its file changed; a bad file keeps the old keys. */
static void keys_refresh(bool force)
{
    struct stat st;
    struct hub_keys fresh;
    char err[512];

    if (stat(hub.keystore, &st) != 0) {
        if (force)
            mosquitto_log_printf(MOSQ_LOG_WARNING,
                                 "warden_hub: no key store at %s yet: every "
                                 "device is refused until `warden registry import` writes it",
                                 hub.keystore);
        return;
    }
    if (!force && st.st_mtim.tv_sec == hub.keys_mtime.tv_sec &&
        st.st_mtim.tv_nsec == hub.keys_mtime.tv_nsec && st.st_size == hub.keys_size)
        return;
    if (!hub_keys_load(hub.keystore, &fresh, err, sizeof(err))) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "warden_hub: %s (keeping the keys loaded before)", err);
        return;
    }
    hub_keys_free(&hub.keys);
    hub.keys = fresh;
    hub.keys_mtime = st.st_mtim;
    hub.keys_size = (long)st.st_size;
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         "warden_hub: key store loaded: %zu devices, %zu IP rules, "
                         "%zu hub certificates",
                         hub.keys.ndevices, hub.keys.nrules, hub.keys.ncerts);
    clients_kick_revoked();
}

/* ---- records ---------------------------------------------------------------------------- */

/* A bounded output buffer: what does not fit marks it full instead of being cut. */
struct jbuf {
    char *p;
    size_t len, cap;
    bool full;
};

static void jb_raw(struct jbuf *b, const char *s, size_t n)
{
    if (b->full || b->cap - b->len < n) {
        b->full = true;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void jb_str(struct jbuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    jb_raw(b, "\"", 1);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            jb_raw(b, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            jb_raw(b, esc, 6);
        } else {
            jb_raw(b, s, 1);
        }
    }
    jb_raw(b, "\"", 1);
}

/* ,"key":"value" (keys are the plugin's own words), nothing when value is empty. */
static void jb_member(struct jbuf *b, const char *key, const char *value)
{
    if (value[0] == '\0')
        return;
    jb_raw(b, ",", 1);
    jb_str(b, key);
    jb_raw(b, ":", 1);
    jb_str(b, value);
}

/* details: the record's one detail, then the client id sample as clientId, clientId2, ... */
static void jb_details(struct jbuf *b, const struct record *r)
{
    char key[16];

    if (r->detail_key[0] == '\0' && r->nsample == 0)
        return;
    jb_raw(b, ",\"details\":{", 12);
    if (r->detail_key[0] != '\0') {
        jb_str(b, r->detail_key);
        jb_raw(b, ":", 1);
        jb_str(b, r->detail);
    }
    for (size_t i = 0; i < r->nsample; i++) {
        if (i > 0 || r->detail_key[0] != '\0')
            jb_raw(b, ",", 1);
        snprintf(key, sizeof(key), i == 0 ? "clientId" : "clientId%zu", i + 1);
        jb_str(b, key);
        jb_raw(b, ":", 1);
        jb_str(b, r->sample[i]);
    }
    jb_raw(b, "}", 1);
}

/*
 * One record as a JSON object in out (RECORD_JSON_MAX bytes): its length, or 0
 * when it is not one Warden would take. record() only makes valid records, so
 * 0 is a defensive check: a record that would not be valid UTF-8 is not put
 * in a batch, where it would cost its neighbours their place.
 */
static size_t record_json(const struct record *r, char *out)
{
    struct jbuf b = {out, 0, RECORD_JSON_MAX, false};
    char head[96], when[40];

    time_format_iso(r->first_ms, when, sizeof(when));
    jb_raw(&b, head, (size_t)snprintf(head, sizeof(head), "{\"time\":\"%s\",\"count\":%ld", when,
                                      r->count));
    jb_member(&b, "category", r->category);
    jb_member(&b, "operation", r->operation);
    jb_member(&b, "result", r->result);
    jb_member(&b, "reason", r->reason);
    jb_member(&b, "deviceId", r->device);
    jb_member(&b, "sourceIp", r->source_ip);
    jb_details(&b, r);
    jb_raw(&b, "}", 1);
    if (b.full || r->count < 1 || r->count > COUNT_MAX || !utf8_valid(out, b.len))
        return 0;
    return b.len;
}

static void batch_publish(const char *json, size_t len, size_t n)
{
    char topic[HUB_KEYS_NAME_MAX + 32];

    snprintf(topic, sizeof(topic), "hub/%s/operations", hub.hub);
    if (mosquitto_broker_publish_copy(NULL, topic, (int)len, json, 1, false, NULL) !=
        MOSQ_ERR_SUCCESS)
        mosquitto_log_printf(MOSQ_LOG_ERR, "warden_hub: could not publish %zu records", n);
}

/*
 * Publishes every held record on hub/{hub}/operations, as JSON arrays of at
 * most max_message bytes: a batch that would be larger is split, never cut
 * or dropped, since Warden refuses a message past its ingest.max_message_bytes
 * as a whole.
 */
static void records_flush(void)
{
    static char one[RECORD_JSON_MAX];
    size_t cap = (size_t)hub.max_message, o = 0, batch = 0, invalid = 0;
    char *out;

    hub.last_flush_ms = now_ms();
    if (hub.nrecords == 0)
        return;
    if ((out = malloc(cap)) == NULL) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "warden_hub: out of memory: %zu records dropped",
                             hub.nrecords);
        hub.nrecords = hub.pending_bytes = 0;
        return;
    }
    for (size_t i = 0; i < hub.nrecords; i++) {
        size_t n = record_json(&hub.records[i], one);
        if (n == 0) {
            invalid++;
            continue;
        }
        if (batch > 0 && o + 1 + n + 1 > cap) { /* MESSAGE_MIN: one record always fits */
            out[o++] = ']';
            batch_publish(out, o, batch);
            o = batch = 0;
        }
        out[o++] = batch++ > 0 ? ',' : '[';
        memcpy(out + o, one, n);
        o += n;
    }
    if (batch > 0) {
        out[o++] = ']';
        batch_publish(out, o, batch);
    }
    if (invalid > 0)
        mosquitto_log_printf(MOSQ_LOG_ERR, "warden_hub: %zu invalid records not published",
                             invalid);
    free(out);
    hub.nrecords = hub.pending_bytes = 0;
}

/* Whether held record h counts occurrences of r. */
static bool record_same(const struct record *h, const struct record *r)
{
    /* A device's refusals from several addresses are one record; without a
     * device, the address is what tells one source from another. */
    return h->count < COUNT_MAX && strcmp(h->category, r->category) == 0 &&
           strcmp(h->operation, r->operation) == 0 && strcmp(h->result, r->result) == 0 &&
           strcmp(h->reason, r->reason) == 0 && strcmp(h->device, r->device) == 0 &&
           strcmp(h->detail, r->detail) == 0 &&
           (r->device[0] != '\0' || strcmp(h->source_ip, r->source_ip) == 0);
}

static void record_sample(struct record *h, const char *client_id)
{
    char id[SAMPLE_ID_MAX + 1];

    if (client_id[0] == '\0' || h->nsample == SAMPLE_IDS)
        return;
    copy_as(id, sizeof(id), client_id, true);
    for (size_t i = 0; i < h->nsample; i++)
        if (strcmp(h->sample[i], id) == 0)
            return;
    memcpy(h->sample[h->nsample++], id, sizeof(id));
}

/*
 * Counts one occurrence of r, with client_id ("" for none) for the sample.
 * Identical records (same device, operation, result, reason and detail, and
 * without a device the same address) between two flushes become one record
 * with a count, so a device retrying a bad token every 100 ms costs one record
 * a second, and so does a flood of made-up client ids from one address.
 * Returns true when r is a new record.
 */
static bool record_add(struct record *r, const char *client_id)
{
    static char one[RECORD_JSON_MAX];
    size_t n;

    for (size_t i = 0; i < hub.nrecords; i++) {
        struct record *h = &hub.records[i];
        if (record_same(h, r)) {
            h->count++;
            record_sample(h, client_id);
            return false;
        }
    }
    r->first_ms = now_ms();
    r->count = 1;
    record_sample(r, client_id);
    if ((n = record_json(r, one)) == 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "warden_hub: invalid %s/%s record not kept",
                             r->category, r->operation);
        return false;
    }
    /*
     * Flush by size as well as by number, so that a flush is one message as a
     * rule; the size is what the record can grow to (its count's digits, the
     * rest of its sample), and records_flush splits if it is ever more.
     */
    n += COUNT_GROWTH + (r->device[0] == '\0' ? SAMPLE_GROWTH : 0) + 1;
    if (hub.nrecords == RECORDS_MAX || hub.pending_bytes + n + 2 > (size_t)hub.max_message)
        records_flush();
    hub.records[hub.nrecords++] = *r;
    hub.pending_bytes += n;
    return true;
}

/* A record of the plugin's own words, about device ("" for none) at ip; see record_add. */
static bool record_sampled(const char *category, const char *operation, const char *result,
                           const char *reason, const char *device, const char *ip,
                           const char *detail_key, const char *detail, const char *client_id)
{
    struct record r;
    struct ip_addr addr;

    memset(&r, 0, sizeof(r));
    copy_as(r.category, sizeof(r.category), category, true);
    copy_as(r.operation, sizeof(r.operation), operation, true);
    copy_as(r.result, sizeof(r.result), result, true);
    copy_as(r.reason, sizeof(r.reason), reason, true);
    copy_as(r.device, sizeof(r.device), device, true);
    /* Warden refuses a record whose sourceIp is not an address (a unix socket's client). */
    if (ip_parse(ip, &addr))
        copy(r.source_ip, sizeof(r.source_ip), ip);
    copy_as(r.detail_key, sizeof(r.detail_key), detail_key, true);
    copy_as(r.detail, sizeof(r.detail), detail, true);
    return record_add(&r, client_id);
}

static void record(const char *category, const char *operation, const char *result,
                   const char *reason, const char *device, const char *ip, const char *detail_key,
                   const char *detail)
{
    record_sampled(category, operation, result, reason, device, ip, detail_key, detail, "");
}

/*
 * IoT Hub refuses a disabled device's CONNECT as it refuses an unknown one:
 * 404001 DeviceNotFound, "the device is either not registered or disabled".
 * The lab hub's record says the same, with the device id (a disabled device
 * is registered) and details.status "disabled" to tell the two apart.
 * authenticate() returns this very array, so refuse() knows it by address.
 */
static const char reason_disabled[] = "DeviceNotFound";

/*
 * A refused connection. A client id that is not in the registry is not a
 * device: its refusals are counted per reason and address with the first few
 * ids as a sample, and logged once a record, since anyone can make up ids by
 * the thousand, before authentication.
 */
static void refuse(const char *reason, const char *device, const char *ip)
{
    if (device[0] != '\0' && hub_keys_find(&hub.keys, device) != NULL) {
        bool disabled = reason == reason_disabled;

        mosquitto_log_printf(MOSQ_LOG_NOTICE, "warden_hub: refused %s from %s: %s%s", device, ip,
                             reason, disabled ? " (the device is disabled)" : "");
        record("Connections", "deviceConnect", "Failed", reason, device, ip,
               disabled ? "status" : "", disabled ? "disabled" : "");
        return;
    }
    if (record_sampled("Connections", "deviceConnect", "Failed", reason, "", ip, "", "", device))
        mosquitto_log_printf(MOSQ_LOG_NOTICE,
                             "warden_hub: refused %s from %s: %s (client ids not in the "
                             "registry: repeats are counted in one record a flush)",
                             device[0] ? device : "(no valid client id)", ip, reason);
}

/* ---- certificates ----------------------------------------------------------------------- */

static void thumbprint(X509 *cert, const EVP_MD *md, char *out, size_t outlen)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    out[0] = '\0';
    if (X509_digest(cert, md, d, &n) != 1)
        return;
    for (unsigned int i = 0; i < n && 2 * i + 2 < outlen; i++)
        snprintf(&out[2 * i], 3, "%02x", d[i]);
}

/* Whether the certificate is outside its validity period now. */
static const char *cert_time_problem(X509 *cert)
{
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0)
        return "X509CertificateExpired";
    if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0)
        return "X509CertificateNotYetValid";
    return NULL;
}

static const char *check_self_signed(X509 *cert, const struct hub_keys_device *d)
{
    char sha1[41], sha256[65];

    thumbprint(cert, EVP_sha1(), sha1, sizeof(sha1));
    thumbprint(cert, EVP_sha256(), sha256, sizeof(sha256));
    bool match = false;
    for (int i = 0; i < 2; i++) {
        const char *t = d->thumb[i];
        if (t[0] != '\0' && (strcasecmp(t, sha1) == 0 || strcasecmp(t, sha256) == 0))
            match = true;
    }
    if (!match)
        return "X509ThumbprintMismatch";
    return cert_time_problem(cert);
}

/* A certificateAuthority device: the chain must end in a hub certificate, the
 * subject's CN must be the device id. */
static const char *check_ca_signed(X509 *cert, const char *device)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    const char *reason = "X509CertificateUntrusted";
    char cn[HUB_KEYS_ID_MAX + 2];

    if (store == NULL || ctx == NULL)
        goto out;
    for (size_t i = 0; i < hub.keys.ncerts; i++) {
        uint8_t der[CERT_DER_MAX];
        const char *b64 = hub.keys.certs[i].der_b64;
        long n = sas_b64_decode(b64, strlen(b64), der, sizeof(der));
        const unsigned char *p = der;
        X509 *ca = n > 0 ? d2i_X509(NULL, &p, n) : NULL;
        if (ca != NULL) {
            X509_STORE_add_cert(store, ca);
            X509_free(ca);
        }
    }
    if (X509_STORE_CTX_init(ctx, store, cert, NULL) != 1)
        goto out;
    if (X509_verify_cert(ctx) != 1) {
        int e = X509_STORE_CTX_get_error(ctx);
        if (e == X509_V_ERR_CERT_HAS_EXPIRED)
            reason = "X509CertificateExpired";
        else if (e == X509_V_ERR_CERT_NOT_YET_VALID)
            reason = "X509CertificateNotYetValid";
        goto out;
    }
    int len =
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
    reason = len > 0 && strcmp(cn, device) == 0 ? NULL : "X509SubjectMismatch";
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return reason;
}

/* ---- authentication --------------------------------------------------------------------- */

/* What one CONNECT presents, after the front end's attestation is unwrapped. */
struct attempt {
    char ip[64];
    char password[PASSWORD_MAX + 1];
    bool has_password;
    X509 *cert; /* owned */
};

static long take_field(const char *s, const char *name, const char **v)
{
    char key[16];
    snprintf(key, sizeof(key), ";%s=", name);
    const char *p = strstr(s, key);
    if (p == NULL)
        return -1;
    *v = p + strlen(key);
    const char *end = strchr(*v, ';');
    return end ? (long)(end - *v) : (long)strlen(*v);
}

/* Checks and unwraps `warden hub tls`'s attestation; false when it is not genuine. */
static bool attestation_open(const char *pw, struct attempt *a)
{
    const char *sig = strstr(pw, ";sig="), *v;
    uint8_t mac[32], want[32];
    long n;

    if (hub.keys.service[0] == '\0' || sig == NULL || strlen(sig + 5) != 64)
        return false;
    for (int i = 0; i < 32; i++) {
        unsigned int byte;
        if (sscanf(sig + 5 + 2 * i, "%2x", &byte) != 1)
            return false;
        want[i] = (uint8_t)byte;
    }
    sas_hmac(hub.keys.service, strlen(hub.keys.service), pw, (size_t)(sig - pw), mac);
    if (!sas_equal(mac, want, sizeof(mac)))
        return false;
    /* Genuine from here on: the fields were written by the front end. */
    if ((n = take_field(pw, "ts", &v)) <= 0 ||
        llabs(atoll(v) - (long long)time(NULL)) > ATTEST_MAX_AGE)
        return false;
    if ((n = take_field(pw, "ip", &v)) <= 0 || (size_t)n >= sizeof(a->ip))
        return false;
    memcpy(a->ip, v, (size_t)n);
    a->ip[n] = '\0';
    if ((n = take_field(pw, "pw", &v)) < 0)
        return false;
    if (n > 0) {
        long m = sas_b64_decode(v, (size_t)n, (uint8_t *)a->password, PASSWORD_MAX);
        if (m < 0)
            return false;
        a->password[m] = '\0';
        a->has_password = true;
    }
    if ((n = take_field(pw, "cert", &v)) < 0)
        return false;
    if (n > 0) {
        static uint8_t der[CERT_DER_MAX];
        long m = sas_b64_decode(v, (size_t)n, der, sizeof(der));
        const unsigned char *p = der;
        if (m <= 0 || (a->cert = d2i_X509(NULL, &p, m)) == NULL)
            return false;
    }
    return true;
}

/*
 * IoT Hub's device id alphabet (device_id_check), as Warden's ingest takes
 * it; it has no topic separators or wildcards. An id outside it is refused
 * as InvalidClientId and recorded without a deviceId.
 */
static bool device_id_valid(const char *id)
{
    return device_id_check(id, strlen(id)) == NULL;
}

/* "{host}/{device}/?api-version=..." (the part after the device id is not checked). */
static const char *check_username(const char *username, const char *device)
{
    const char *slash = username ? strchr(username, '/') : NULL;

    if (slash == NULL || slash == username)
        return "InvalidUsername";
    size_t dl = strlen(device);
    if (strncmp(slash + 1, device, dl) != 0 || (slash[1 + dl] != '/' && slash[1 + dl] != '\0'))
        return "UsernameDeviceMismatch";
    if (hub.hostname[0] != '\0' && ((size_t)(slash - username) != strlen(hub.hostname) ||
                                    strncasecmp(username, hub.hostname, strlen(hub.hostname)) != 0))
        return "HostNameMismatch";
    return NULL;
}

static const char *check_sas(const struct attempt *a, const char *username,
                             const struct hub_keys_device *d)
{
    struct sas_token t;
    char host[256];
    const char *keys[2] = {d->primary, d->secondary};
    const char *slash = strchr(username, '/');
    int64_t now = (int64_t)time(NULL);

    if (!a->has_password)
        return "CredentialsMissing";
    if (sas_parse(a->password, strlen(a->password), &t) != SAS_OK)
        return "SasTokenMalformed";
    /* A host cut to fit would be another host: no token can name one this long. */
    if ((size_t)(slash - username) >= sizeof(host))
        return "SasTokenWrongResource";
    snprintf(host, sizeof(host), "%.*s", (int)(slash - username), username);
    switch (sas_check(&t, host, d->id, keys, 2, now)) {
    case SAS_OK:
        /* Genuine and unexpired, but one that never expires is a key by another name. */
        return t.se - now > hub.token_lifetime ? "SasTokenLifetimeExceeded" : NULL;
    case SAS_EXPIRED:
        return "SasTokenExpired";
    case SAS_BAD_SIGNATURE:
        return "SasTokenInvalidSignature";
    case SAS_WRONG_RESOURCE:
        return "SasTokenWrongResource";
    default:
        return "SasTokenMalformed";
    }
}

/* Decides one device connection; NULL admits it, else the refusal's reason. */
static const char *authenticate(const char *username, struct attempt *a, const char *device)
{
    const struct hub_keys_device *d;
    const struct hub_keys_rule *rule;
    struct ip_addr addr;
    const char *why;

    if (!device_id_valid(device))
        return "InvalidClientId";
    if ((why = check_username(username, device)) != NULL)
        return why;
    if (!ip_parse(a->ip, &addr))
        return "InvalidSourceAddress";
    if (!hub_keys_ip_allowed(&hub.keys, &addr, &rule))
        return "IpFilterRejected";
    if ((d = hub_keys_find(&hub.keys, device)) == NULL)
        return "DeviceNotFound";
    if (strcmp(d->auth, "selfSigned") == 0)
        why = a->cert ? check_self_signed(a->cert, d) : "X509CertificateMissing";
    else if (strcmp(d->auth, "certificateAuthority") == 0)
        why = a->cert ? check_ca_signed(a->cert, device) : "X509CertificateMissing";
    else if (strcmp(d->auth, "none") == 0)
        why = "AuthenticationDisabled";
    else
        why = check_sas(a, username, d);
    /* Credentials first: a forged token for a disabled device is still a forged token. */
    return why == NULL && d->disabled ? reason_disabled : why;
}

static bool is_service(const char *username)
{
    return username != NULL && strcmp(username, hub.service_user) == 0;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_basic_auth *ed = event_data;
    const char *device = mosquitto_client_id(ed->client);
    const char *addr = mosquitto_client_address(ed->client);
    static struct attempt a;
    const char *why = NULL;

    (void)event, (void)userdata;
    device = device ? device : "";
    memset(&a, 0, sizeof(a));
    copy(a.ip, sizeof(a.ip), addr ? addr : "");

    if (is_service(ed->username)) {
        bool ok = hub.keys.service[0] != '\0' && ed->password != NULL &&
                  strlen(ed->password) == strlen(hub.keys.service) &&
                  sas_equal(ed->password, hub.keys.service, strlen(hub.keys.service));
        if (!ok)
            record("Connections", "serviceConnect", "Failed", "InvalidServiceCredentials", "", a.ip,
                   "", "");
        return ok ? MOSQ_ERR_SUCCESS : MOSQ_ERR_AUTH;
    }
    if (ed->password != NULL && strncmp(ed->password, ATTEST_PREFIX, strlen(ATTEST_PREFIX)) == 0) {
        if (!attestation_open(ed->password, &a))
            why = "AttestationInvalid";
    } else {
        a.cert = mosquitto_client_certificate(ed->client);
        if (ed->password != NULL) {
            copy(a.password, sizeof(a.password), ed->password);
            a.has_password = true;
        }
    }
    if (why == NULL)
        why = authenticate(ed->username, &a, device);
    if (a.cert != NULL)
        X509_free(a.cert);

    const char *shown = device_id_valid(device) ? device : "";
    if (why != NULL) {
        refuse(why, shown, a.ip);
        return MOSQ_ERR_AUTH;
    }
    struct client *c = client_get(device, true);
    if (c == NULL) {
        refuse("HubOutOfMemory", shown, a.ip);
        return MOSQ_ERR_AUTH;
    }
    c->connected = true;
    copy(c->ip, sizeof(c->ip), a.ip);
    c->persistent = !mosquitto_client_clean_session(ed->client);
    if (!c->persistent)
        c->c2d_subscribed = false;
    record("Connections", "deviceConnect", "Succeeded", "", device, a.ip, "", "");
    return MOSQ_ERR_SUCCESS;
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- messages the hub acts on ------------------------------------------------------------ */

/* The "$rid=" value of a topic's property bag, or "0". */
static void request_id(const char *topic, char *out, size_t outlen)
{
    const char *p = strstr(topic, "$rid=");
    size_t n = 0;

    copy(out, outlen, "0");
    if (p == NULL)
        return;
    p += 5;
    while (p[n] != '\0' && p[n] != '&')
        n++;
    if (n >= outlen)
        return; /* longer than any request id a device SDK makes: answered as "0" */
    memcpy(out, p, n);
    out[n] = '\0';
}

static void deliver(const char *device, const char *topic, const void *payload, uint32_t len)
{
    mosquitto_broker_publish_copy(device, topic, (int)len, payload, 1, false, NULL);
}

/* The service's message to device on PREFIX + REST; not sent when that does not fit (a cut
 * topic would be another topic). */
static void deliver_as(const char *device, const char *prefix, const char *rest,
                       const struct mosquitto_evt_acl_check *ed)
{
    char topic[1024];
    int n = snprintf(topic, sizeof(topic), "%s%s", prefix, rest);

    if (n < 0 || (size_t)n >= sizeof(topic)) {
        mosquitto_log_printf(MOSQ_LOG_WARNING, "warden_hub: not delivered to %s: topic over %zu "
                             "bytes", device, sizeof(topic) - 1);
        return;
    }
    deliver(device, topic, ed->payload, ed->payloadlen);
}

/* A device's own $iothub traffic: twin reads and reported updates, answered as IoT Hub does. */
static void on_device_message(const char *device, struct mosquitto_evt_acl_check *ed)
{
    char rid[64], topic[160];

    if (has_prefix(ed->topic, "$iothub/twin/PATCH/properties/reported/")) {
        request_id(ed->topic, rid, sizeof(rid));
        record("TwinOperations", "update", "Succeeded", "", device, client_ip(device, ed->client),
               "direction", "reported");
        snprintf(topic, sizeof(topic), "$iothub/twin/res/204/?$rid=%s", rid);
        deliver(device, topic, "", 0);
    } else if (has_prefix(ed->topic, "$iothub/twin/GET/")) {
        static const char empty_twin[] =
            "{\"desired\":{\"$version\":1},\"reported\":{\"$version\":1}}";
        request_id(ed->topic, rid, sizeof(rid));
        snprintf(topic, sizeof(topic), "$iothub/twin/res/200/?$rid=%s", rid);
        deliver(device, topic, empty_twin, sizeof(empty_twin) - 1);
    }
}

/* The service's lab topics that address one device: devices/{id}/{rest}. */
static void on_service_message(struct mosquitto_evt_acl_check *ed)
{
    const char *p = ed->topic + strlen("devices/");
    const char *slash = strchr(p, '/');
    char device[HUB_KEYS_ID_MAX + 1];

    if (!has_prefix(ed->topic, "devices/") || slash == NULL ||
        (size_t)(slash - p) > HUB_KEYS_ID_MAX)
        return;
    memcpy(device, p, (size_t)(slash - p));
    device[slash - p] = '\0';
    struct client *c = client_get(device, false);

    if (has_prefix(slash, "/methods/POST/")) {
        /* devices/{id}/methods/POST/{name}/?$rid=N -> $iothub/methods/POST/{name}/?$rid=N */
        deliver_as(device, "$iothub/methods/POST/", slash + strlen("/methods/POST/"), ed);
    } else if (has_prefix(slash, "/twin/PATCH/properties/desired")) {
        deliver_as(device, "$iothub/twin/PATCH/properties/desired",
                   slash + strlen("/twin/PATCH/properties/desired"), ed);
    } else if (has_prefix(slash, "/messages/devicebound")) {
        /* MQTT has no way to reject a message: in the lab a rejected C2D
         * message is one the hub cannot deliver or keep for the device. */
        const char *why = NULL;
        if (hub_keys_find(&hub.keys, device) == NULL)
            return; /* no such device: the sender's error, not a message the hub holds */
        if (c == NULL || (!c->connected && !c->persistent))
            why = "DeviceNotConnected";
        else if (!c->c2d_subscribed)
            why = "DeviceNotSubscribed";
        if (why != NULL)
            record("C2DCommands", "reject", "Failed", why, device, "", "", "");
    }
}

/* ---- authorization ---------------------------------------------------------------------- */

/* TOPIC begins "devices/{device}/" followed by TAIL; no formatting on this path (every publish). */
static bool own_topic(const char *topic, const char *device, const char *tail)
{
    size_t dl = strlen(device);

    return has_prefix(topic, "devices/") && strncmp(topic + 8, device, dl) == 0 &&
           topic[8 + dl] == '/' && has_prefix(topic + 9 + dl, tail);
}

static bool may_publish(const char *topic, const char *device)
{
    if (own_topic(topic, device, "messages/events/") ||
        (own_topic(topic, device, "messages/events") &&
         strlen(topic) == strlen(device) + strlen("devices//messages/events")))
        return true;
    /* devices/{id}/modules/{module}/messages/events/... */
    if (own_topic(topic, device, "modules/")) {
        const char *m = topic + strlen("devices//modules/") + strlen(device);
        const char *slash = strchr(m, '/');
        if (slash != NULL && slash > m && has_prefix(slash, "/messages/events"))
            return strpbrk(m, "+#") == NULL;
    }
    return has_prefix(topic, "$iothub/twin/PATCH/properties/reported/") ||
           has_prefix(topic, "$iothub/twin/GET/") || has_prefix(topic, "$iothub/methods/res/");
}

static bool may_subscribe(const char *filter, const char *device)
{
    return own_topic(filter, device, "messages/devicebound/") ||
           has_prefix(filter, "$iothub/methods/POST/") || has_prefix(filter, "$iothub/twin/res/") ||
           has_prefix(filter, "$iothub/twin/PATCH/properties/desired/");
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_acl_check *ed = event_data;
    const char *device = mosquitto_client_id(ed->client);

    (void)event, (void)userdata;
    /*
     * What the hub does with a message (a method call to deliver, a twin
     * update to answer) is done here, on the WRITE check that admits it:
     * the check has the topic and payload, and a MESSAGE callback as well
     * would cost the broker a second plugin call on every publish.
     */
    if (is_service(mosquitto_client_username(ed->client))) {
        if (ed->access == MOSQ_ACL_WRITE && ed->topic != NULL && has_prefix(ed->topic, "devices/"))
            on_service_message(ed);
        return MOSQ_ERR_SUCCESS;
    }
    /* Every other client passed on_basic_auth, which checked its id: no recheck per message. */
    if (device == NULL || ed->topic == NULL)
        return MOSQ_ERR_ACL_DENIED;
    switch (ed->access) {
    case MOSQ_ACL_READ:
        /* Routed deliveries: a device's own C2D only. $iothub messages reach a
         * device only through the plugin's per-client publish. */
        return own_topic(ed->topic, device, "messages/devicebound/") ? MOSQ_ERR_SUCCESS
                                                                     : MOSQ_ERR_ACL_DENIED;
    case MOSQ_ACL_UNSUBSCRIBE:
        return MOSQ_ERR_SUCCESS;
    case MOSQ_ACL_SUBSCRIBE:
        if (may_subscribe(ed->topic, device)) {
            struct client *c = client_get(device, false);
            if (c != NULL && own_topic(ed->topic, device, "messages/devicebound/"))
                c->c2d_subscribed = true;
            return MOSQ_ERR_SUCCESS;
        }
        record("Authorization", "subscribe", "Unauthorized", "Unauthorized", device,
               client_ip(device, ed->client), "topic", ed->topic);
        return MOSQ_ERR_ACL_DENIED;
    case MOSQ_ACL_WRITE:
        /* IoT Hub keeps no retained messages; the broker would, and hand them to
         * every subscriber (Warden at each start) again. */
        if (ed->retain) {
            record("Authorization", "publish", "Failed", "RetainNotSupported", device,
                   client_ip(device, ed->client), "topic", ed->topic);
            return MOSQ_ERR_ACL_DENIED;
        }
        if (may_publish(ed->topic, device)) {
            if (has_prefix(ed->topic, "$iothub/"))
                on_device_message(device, ed);
            return MOSQ_ERR_SUCCESS;
        }
        record("Authorization", "publish", "Unauthorized", "Unauthorized", device,
               client_ip(device, ed->client), "topic", ed->topic);
        return MOSQ_ERR_ACL_DENIED;
    default:
        return MOSQ_ERR_ACL_DENIED;
    }
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_disconnect *ed = event_data;
    const char *id = mosquitto_client_id(ed->client);
    struct client *c = id ? client_get(id, false) : NULL;

    (void)event, (void)userdata;
    if (c != NULL && !is_service(mosquitto_client_username(ed->client))) {
        c->connected = false;
        if (!c->persistent)
            c->c2d_subscribed = false;
    }
    return MOSQ_ERR_SUCCESS;
}

static int on_tick(int event, void *event_data, void *userdata)
{
    time_t now = time(NULL);

    (void)event, (void)event_data, (void)userdata;
    if (now != hub.last_check) {
        hub.last_check = now;
        keys_refresh(false);
    }
    if (now_ms() - hub.last_flush_ms >= hub.flush_ms)
        records_flush();
    return MOSQ_ERR_SUCCESS;
}

static int on_reload(int event, void *event_data, void *userdata)
{
    (void)event, (void)event_data, (void)userdata;
    keys_refresh(true);
    return MOSQ_ERR_SUCCESS;
}

/* ---- plugin entry points ---------------------------------------------------------------- */

EXPORT int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
    for (int i = 0; i < supported_version_count; i++)
        if (supported_versions[i] == 5)
            return 5;
    return -1;
}

/*
 * A number option: an integer in [lo, hi], or with DURATION an ISO 8601
 * duration in whole seconds. A bad value stops the broker rather than leave a
 * limit other than the one configured.
 */
static bool opt_number(const char *key, const char *v, long lo, long hi, bool duration,
                       long *out)
{
    char *end;
    long long n;
    int64_t ms;
    bool ok;

    if (duration && v[0] == 'P') {
        ok = duration_parse(v, &ms) && ms % 1000 == 0;
        n = ok ? ms / 1000 : 0;
    } else {
        n = strtoll(v, &end, 10);
        ok = end != v && *end == '\0';
    }
    if (!ok || n < lo || n > hi) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "warden_hub: plugin_opt_%s %s: not %s from %ld to %ld",
                             key, v, duration ? "seconds (or a duration)" : "a number", lo, hi);
        return false;
    }
    *out = (long)n;
    return true;
}

static bool take_option(const char *k, const char *v)
{
    if (strcmp(k, "keystore") == 0)
        copy(hub.keystore, sizeof(hub.keystore), v);
    else if (strcmp(k, "hub") == 0)
        copy(hub.hub, sizeof(hub.hub), v);
    else if (strcmp(k, "hostname") == 0)
        copy(hub.hostname, sizeof(hub.hostname), v);
    else if (strcmp(k, "service_user") == 0)
        copy(hub.service_user, sizeof(hub.service_user), v);
    else if (strcmp(k, "flush_ms") == 0)
        hub.flush_ms = atol(v) > 0 ? atol(v) : 1000;
    else if (strcmp(k, "max_message_bytes") == 0)
        return opt_number(k, v, MESSAGE_MIN, MESSAGE_MAX, false, &hub.max_message);
    else if (strcmp(k, "max_token_lifetime") == 0)
        return opt_number(k, v, 60, 100L * 365 * 86400, true, &hub.token_lifetime);
    else
        mosquitto_log_printf(MOSQ_LOG_WARNING, "warden_hub: unknown option plugin_opt_%s", k);
    return true;
}

EXPORT int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
                                 struct mosquitto_opt *opts, int opt_count)
{
    (void)userdata;
    memset(&hub, 0, sizeof(hub));
    hub.id = identifier;
    hub.flush_ms = 1000;
    hub.max_message = MESSAGE_DEFAULT;
    hub.token_lifetime = TOKEN_LIFETIME_DEFAULT;
    copy(hub.service_user, sizeof(hub.service_user), "warden-service");
    for (int i = 0; i < opt_count; i++)
        if (!take_option(opts[i].key, opts[i].value))
            return MOSQ_ERR_INVAL;
    if (hub.keystore[0] == '\0') {
        mosquitto_log_printf(MOSQ_LOG_ERR, "warden_hub: plugin_opt_keystore is required");
        return MOSQ_ERR_INVAL;
    }
    hub_keys_free(&hub.keys);
    keys_refresh(true);
    if (hub.hub[0] == '\0')
        copy(hub.hub, sizeof(hub.hub), hub.keys.hub[0] ? hub.keys.hub : "lab-hub");
    hub.last_flush_ms = now_ms();

    int rc = mosquitto_callback_register(hub.id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL);
    rc =
        rc ? rc : mosquitto_callback_register(hub.id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL);
    rc = rc ? rc
            : mosquitto_callback_register(hub.id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL, NULL);
    rc = rc ? rc : mosquitto_callback_register(hub.id, MOSQ_EVT_TICK, on_tick, NULL, NULL);
    rc = rc ? rc : mosquitto_callback_register(hub.id, MOSQ_EVT_RELOAD, on_reload, NULL, NULL);
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "warden_hub: lab hub %s, key store %s", hub.hub,
                         hub.keystore);
    return rc;
}

EXPORT int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *opts, int opt_count)
{
    (void)userdata, (void)opts, (void)opt_count;
    records_flush();
    mosquitto_callback_unregister(hub.id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
    mosquitto_callback_unregister(hub.id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
    mosquitto_callback_unregister(hub.id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL);
    mosquitto_callback_unregister(hub.id, MOSQ_EVT_TICK, on_tick, NULL);
    mosquitto_callback_unregister(hub.id, MOSQ_EVT_RELOAD, on_reload, NULL);
    for (size_t b = 0; b < CLIENT_BUCKETS; b++)
        while (hub.clients[b] != NULL) {
            struct client *c = hub.clients[b];
            hub.clients[b] = c->next;
            free(c);
        }
    hub_keys_free(&hub.keys);
    return MOSQ_ERR_SUCCESS;
}
