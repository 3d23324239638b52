/*
 * imports/hubctl.c: the hub's control plane. `warden hub cert add|delete`,
 * `warden hub diag set|delete` and the API's /api/v1/hub/... (web/api_hub.c)
 * change the hub's certificates and diagnostic settings through the
 * functions here.
 *
 * In a lab Warden is the hub's management plane, so it is also what logs the
 * management operations: each call writes the hub operation record an IoT
 * Hub would log for it (SPEC 2.4), done or refused, in the transaction of the
 * change, with the same row ingest writes for a forwarded record. The
 * evaluator then raises the control-plane alerts (SPEC 5.2) from real actions.
 *
 * A certificate is kept twice: in hub_certificates (name, thumbprint, expiry
 * and PEM, for people), and in the key store (DER in base64), which the
 * broker plugin reads. What is stored is the certificate re-encoded, never
 * the file as given: a PEM file often carries the private key too.
 */
#include "hubctl.h"
#include "imports.h"

#include "../hub/hubkeys.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXIT_RUNTIME 1
#define EXIT_INVALID 2

#define PEM_MAX_BYTES     ((size_t)64 << 10) /* one certificate is a few KiB */
#define SETTING_MAX_BYTES ((size_t)1 << 20)
#define RECORD_NAME_MAX   1024 /* longest name a Failed record repeats */

/* The record's reasons (SPEC 2.4), and the two a lab adds: InvalidName, InternalError. */
static const char R_INVALID_NAME[] = "InvalidName";
static const char R_INVALID_PEM[] = "InvalidPem";
static const char R_INVALID_SETTING[] = "InvalidSetting";
static const char R_CERT_EXISTS[] = "CertificateAlreadyExists";
static const char R_CERT_NOT_FOUND[] = "CertificateNotFound";
static const char R_SETTING_NOT_FOUND[] = "DiagnosticSettingNotFound";
static const char R_UNAUTHORIZED[] = "Unauthorized";
static const char R_INTERNAL[] = "InternalError";

struct action_desc {
    const char *category, *operation;
    const char *name_member; /* the member of details that names the object */
    const char *what;        /* for messages */
};

static const struct action_desc actions[] = {
    [HUBCTL_CERT_WRITE] = {"Certificates", "write", "certificateName", "certificate"},
    [HUBCTL_CERT_DELETE] = {"Certificates", "delete", "certificateName", "certificate"},
    [HUBCTL_DIAG_WRITE] = {"DiagnosticSettings", "write", "settingName", "diagnostic setting"},
    [HUBCTL_DIAG_DELETE] = {"DiagnosticSettings", "delete", "settingName", "diagnostic setting"},
};

/* ---- the record and the transaction ------------------------------------------------------ */

/*
 * The record of action a on name: Succeeded when reason is NULL, else Failed
 * with reason. config (a diagnostic setting written) is copied into
 * details.config, which is how the evaluator learns the hub's new diagnostic
 * state. A name that cannot be JSON text is left out; the record still counts.
 */
static bool record(const struct hubctl_ctx *c, enum hubctl_action a, const char *name,
                   json_t *config, const char *reason)
{
    const struct action_desc *d = &actions[a];
    struct store_hubop op = {0};
    json_t *details = json_object();
    char *text;
    bool ok;

    if (details == NULL)
        return false;
    if (name != NULL && strlen(name) <= RECORD_NAME_MAX && utf8_valid(name, strlen(name)))
        json_object_set_new(details, d->name_member, json_string(name));
    if (config != NULL)
        json_object_set(details, "config", config);
    text = json_dumps(details, JSON_COMPACT);
    json_decref(details);
    if (text == NULL)
        return false;
    op.time_ms = c->now_ms;
    op.hub = c->hub;
    op.category = d->category;
    op.operation = d->operation;
    op.result = reason == NULL ? "Succeeded" : "Failed";
    op.reason = reason;
    op.source_ip = c->source_ip;
    op.details = text;
    op.count = 1;
    ok = store_hubop_insert(c->db, c->now_ms, &op) == STORE_OK;
    free(text);
    return ok;
}

static bool begin(const struct hubctl_ctx *c, struct hubctl_out *out)
{
    if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK)
        return true;
    snprintf(out->detail, sizeof(out->detail), "database: %s", sqlite3_errmsg(c->db));
    return false;
}

/*
 * Ends the transaction begin() opened: the record (Succeeded for HUBCTL_OK,
 * else Failed with reason), then COMMIT. When the change failed
 * (HUBCTL_FAILED, out->detail says why) or the commit does, all of it is
 * rolled back and the Failed record, reason InternalError, written alone.
 */
static enum hubctl_status finish(const struct hubctl_ctx *c, enum hubctl_action a,
                                   const char *name, json_t *config, enum hubctl_status st,
                                   const char *reason, struct hubctl_out *out)
{
    if (st == HUBCTL_OK)
        reason = NULL;
    if (st != HUBCTL_FAILED) {
        if (record(c, a, name, reason == NULL ? config : NULL, reason) &&
            sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
            out->reason = reason;
            return st;
        }
        snprintf(out->detail, sizeof(out->detail), "database: %s", sqlite3_errmsg(c->db));
    }
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    if (!record(c, a, name, NULL, R_INTERNAL))
        log_warn("hub %s: the record of a failed %s %s could not be written: %s", c->hub,
                 actions[a].what, actions[a].operation, sqlite3_errmsg(c->db));
    out->reason = R_INTERNAL;
    return HUBCTL_FAILED;
}

/* Names appear in URL paths and in alert keys "hub/name": printable, no '/'. */
static bool name_ok(enum hubctl_action a, const char *name, struct hubctl_out *out)
{
    if (name != NULL && import_hub_name_valid(name, strlen(name)))
        return true;
    snprintf(out->detail, sizeof(out->detail),
             "%s name: must be 1 to %d bytes of printable text, without '/'", actions[a].what,
             IMPORT_NAME_MAX);
    return false;
}

/* One statement on (hub, name) and up to two more values; *changes the rows it changed. */
struct bind_extra {
    const char *text3, *text5;
    int64_t int4, int6;
    bool has_ints;
};

static bool run(const struct hubctl_ctx *c, const char *sql, const char *name,
                const struct bind_extra *x, int *changes, bool *row)
{
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, c->hub, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    if (x != NULL) {
        sqlite3_bind_text(st, 3, x->text3, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, x->int4);
        if (x->text5 != NULL)
            sqlite3_bind_text(st, 5, x->text5, -1, SQLITE_STATIC);
        if (x->has_ints)
            sqlite3_bind_int64(st, 6, x->int6);
    }
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (row != NULL)
        *row = rc == SQLITE_ROW;
    if (changes != NULL)
        *changes = sqlite3_changes(c->db);
    return rc == SQLITE_ROW || rc == SQLITE_DONE;
}

/* ---- certificates ------------------------------------------------------------------------ */

static const char sql_cert_find[] = "SELECT 1 FROM hub_certificates WHERE hub = ?1 AND name = ?2";
static const char sql_cert_add[] =
    "INSERT INTO hub_certificates (hub, name, thumbprint, not_after_ms, pem, updated_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char sql_cert_delete[] = "DELETE FROM hub_certificates WHERE hub = ?1 AND name = ?2";

struct cert_info {
    char thumbprint[41]; /* SHA-1 of the DER, upper-case hex, as Azure shows it */
    int64_t not_after_ms;
    char *pem;     /* the certificate alone, re-encoded; malloc'd */
    char *der_b64; /* the DER in base64, for the key store; malloc'd */
};

static void cert_info_free(struct cert_info *ci)
{
    free(ci->pem);
    free(ci->der_b64);
    memset(ci, 0, sizeof(*ci));
}

/* Never prompt: an encrypted PEM block is simply not readable here. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return 0;
}

static bool cert_fields(X509 *x, struct cert_info *ci, char *err, size_t errlen)
{
    unsigned char md[EVP_MAX_MD_SIZE], *der = NULL;
    unsigned int mdlen = 0;
    struct tm tm;
    BIO *out = NULL;
    char *mem;
    long memlen;
    int n;
    bool ok = false;

    if ((n = i2d_X509(x, &der)) <= 0 || !X509_digest(x, EVP_sha1(), md, &mdlen) || mdlen != 20) {
        snprintf(err, errlen, "the certificate cannot be encoded again");
        goto done;
    }
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(&ci->thumbprint[2 * i], 3, "%02X", md[i]);
    if (!ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm)) {
        snprintf(err, errlen, "the certificate's notAfter is not a valid time");
        goto done;
    }
    ci->not_after_ms = (int64_t)timegm(&tm) * 1000;
    if ((ci->der_b64 = malloc(4 * (((size_t)n + 2) / 3) + 1)) == NULL ||
        (out = BIO_new(BIO_s_mem())) == NULL || !PEM_write_bio_X509(out, x) ||
        (memlen = BIO_get_mem_data(out, &mem)) <= 0 ||
        (ci->pem = malloc((size_t)memlen + 1)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    EVP_EncodeBlock((unsigned char *)ci->der_b64, der, n);
    memcpy(ci->pem, mem, (size_t)memlen);
    ci->pem[memlen] = '\0';
    ok = true;
done:
    OPENSSL_free(der);
    BIO_free(out);
    return ok;
}

/* buf[0..len) as exactly one PEM certificate (other PEM blocks, such as a key, are ignored). */
static bool cert_parse(const char *buf, size_t len, struct cert_info *ci, char *err,
                       size_t errlen)
{
    BIO *in;
    X509 *x = NULL, *second = NULL;
    bool ok = false;

    memset(ci, 0, sizeof(*ci));
    if (buf == NULL || len == 0) {
        snprintf(err, errlen, "no certificate given");
        return false;
    }
    if (len > PEM_MAX_BYTES) {
        snprintf(err, errlen, "larger than %zu KiB; one PEM certificate is expected",
                 PEM_MAX_BYTES >> 10);
        return false;
    }
    if ((in = BIO_new_mem_buf(buf, (int)len)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    if ((x = PEM_read_bio_X509(in, NULL, no_passphrase, NULL)) == NULL)
        snprintf(err, errlen, "no PEM certificate (-----BEGIN CERTIFICATE-----) could be read");
    else if ((second = PEM_read_bio_X509(in, NULL, no_passphrase, NULL)) != NULL)
        snprintf(err, errlen, "more than one certificate; give them one at a time");
    else
        ok = cert_fields(x, ci, err, errlen);
    ERR_clear_error();
    X509_free(second);
    X509_free(x);
    BIO_free(in);
    if (!ok)
        cert_info_free(ci);
    return ok;
}

/*
 * Put (der_b64 != NULL) or remove the certificate name in the key store file.
 * *old, when asked, gets what the store held under that name (malloc'd, NULL
 * when nothing), so that a change whose transaction fails can be undone.
 */
static bool keystore_cert(const struct hubctl_ctx *c, const char *name, const char *der_b64,
                          char **old, char *err, size_t errlen)
{
    struct hub_keys k;
    char why[400] = "";
    bool ok;

    if (old != NULL)
        *old = NULL;
    int lock = hub_keys_begin(c->keystore, &k, why, sizeof(why));
    if (lock < 0) {
        snprintf(err, errlen, "key store: %s", why);
        return false;
    }
    for (size_t i = 0; old != NULL && i < k.ncerts; i++)
        if (strcmp(k.certs[i].name, name) == 0 && (*old = strdup(k.certs[i].der_b64)) == NULL) {
            hub_keys_end(lock, c->keystore, &k, false, why, sizeof(why));
            snprintf(err, errlen, "key store: out of memory");
            return false;
        }
    if (k.hub[0] == '\0')
        snprintf(k.hub, sizeof(k.hub), "%s", c->hub);
    ok = true;
    if (der_b64 != NULL)
        ok = hub_keys_put_cert(&k, name, der_b64);
    else
        (void)hub_keys_remove_cert(&k, name); /* absent already: nothing to take away */
    if (!ok)
        snprintf(why, sizeof(why), "out of memory");
    ok = hub_keys_end(lock, c->keystore, &k, ok, why, sizeof(why)) && ok;
    if (!ok) {
        snprintf(err, errlen, "key store: %s", why);
        if (old != NULL) {
            free(*old);
            *old = NULL;
        }
    }
    return ok;
}

/* Best effort after a transaction failed behind a key store change: put back what was. */
static void keystore_undo(const struct hubctl_ctx *c, const char *name, const char *old)
{
    char why[400];

    if (!keystore_cert(c, name, old, NULL, why, sizeof(why)))
        log_warn("hub %s: certificate %s: the key store could not be restored: %s", c->hub, name,
                 why);
}

enum hubctl_status hubctl_cert_add(const struct hubctl_ctx *c, const char *name,
                                       const char *pem, size_t len, struct hubctl_out *out)
{
    const enum hubctl_action a = HUBCTL_CERT_WRITE;
    struct cert_info ci;
    struct bind_extra x;
    enum hubctl_status st;
    char *old = NULL;
    bool found, stored = false;

    memset(out, 0, sizeof(*out));
    if (!begin(c, out))
        return finish(c, a, name, NULL, HUBCTL_FAILED, NULL, out);
    if (!name_ok(a, name, out))
        return finish(c, a, name, NULL, HUBCTL_INVALID, R_INVALID_NAME, out);
    if (!cert_parse(pem, len, &ci, out->detail, sizeof(out->detail)))
        return finish(c, a, name, NULL, HUBCTL_INVALID, R_INVALID_PEM, out);
    if (!run(c, sql_cert_find, name, NULL, NULL, &found)) {
        st = HUBCTL_FAILED;
        snprintf(out->detail, sizeof(out->detail), "database: %s", sqlite3_errmsg(c->db));
    } else if (found) {
        st = HUBCTL_EXISTS;
        snprintf(out->detail, sizeof(out->detail),
                 "hub %s already has a certificate named \"%s\"; delete it first", c->hub, name);
    } else {
        x = (struct bind_extra){ci.thumbprint, ci.pem, ci.not_after_ms, c->now_ms, true};
        st = HUBCTL_OK;
        if (!run(c, sql_cert_add, name, &x, NULL, NULL)) {
            st = HUBCTL_FAILED;
            snprintf(out->detail, sizeof(out->detail), "database: %s", sqlite3_errmsg(c->db));
        } else if (!keystore_cert(c, name, ci.der_b64, &old, out->detail, sizeof(out->detail))) {
            st = HUBCTL_FAILED;
        } else {
            stored = true;
        }
    }
    if (st == HUBCTL_OK) {
        char when[40];
        time_format_iso(ci.not_after_ms, when, sizeof(when));
        snprintf(out->thumbprint, sizeof(out->thumbprint), "%s", ci.thumbprint);
        out->not_after_ms = ci.not_after_ms;
        snprintf(out->detail, sizeof(out->detail),
                 "hub %s: certificate \"%s\" added (thumbprint %s, expires %s)", c->hub, name,
                 ci.thumbprint, when);
    }
    st = finish(c, a, name, NULL, st, R_CERT_EXISTS, out);
    if (st == HUBCTL_FAILED && stored)
        keystore_undo(c, name, old);
    free(old);
    cert_info_free(&ci);
    return st;
}

enum hubctl_status hubctl_cert_delete(const struct hubctl_ctx *c, const char *name,
                                          struct hubctl_out *out)
{
    const enum hubctl_action a = HUBCTL_CERT_DELETE;
    enum hubctl_status st = HUBCTL_OK;
    char *old = NULL;
    bool removed = false;
    int changes = 0;

    memset(out, 0, sizeof(*out));
    if (!begin(c, out))
        return finish(c, a, name, NULL, HUBCTL_FAILED, NULL, out);
    if (!name_ok(a, name, out))
        return finish(c, a, name, NULL, HUBCTL_INVALID, R_INVALID_NAME, out);
    if (!run(c, sql_cert_delete, name, NULL, &changes, NULL)) {
        st = HUBCTL_FAILED;
        snprintf(out->detail, sizeof(out->detail), "database: %s", sqlite3_errmsg(c->db));
    } else if (changes == 0) {
        st = HUBCTL_NOT_FOUND;
        snprintf(out->detail, sizeof(out->detail), "hub %s has no certificate named \"%s\"",
                 c->hub, name);
    } else if (!keystore_cert(c, name, NULL, &old, out->detail, sizeof(out->detail))) {
        st = HUBCTL_FAILED;
    } else {
        removed = true;
        snprintf(out->detail, sizeof(out->detail), "hub %s: certificate \"%s\" deleted", c->hub,
                 name);
    }
    st = finish(c, a, name, NULL, st, R_CERT_NOT_FOUND, out);
    if (st == HUBCTL_FAILED && removed && old != NULL)
        keystore_undo(c, name, old);
    free(old);
    return st;
}

/* ---- diagnostic settings ------------------------------------------------------------------- */

static const char sql_setting_find[] =
    "SELECT 1 FROM hub_diagnostic_settings WHERE hub = ?1 AND name = ?2";
static const char sql_setting_put[] =
    "INSERT INTO hub_diagnostic_settings (hub, name, config_json, updated_ms) "
    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(hub, name) DO UPDATE SET "
    "config_json = excluded.config_json, updated_ms = excluded.updated_ms";
static const char sql_setting_delete[] =
    "DELETE FROM hub_diagnostic_settings WHERE hub = ?1 AND name = ?2";

/*
 * One setting in the 4.3 shape, checked by hub_setting_parse. The setting's
 * "name", when it has one, must be the name given: a command that names one
 * setting and writes another would be a trap.
 */
static bool setting_parse(const char *name, const char *buf, size_t len,
                          struct hub_diag_setting *s, char *err, size_t errlen)
{
    json_t *root, *v;
    char *text;
    bool ok;

    memset(s, 0, sizeof(*s));
    if (buf == NULL || len == 0 || len > SETTING_MAX_BYTES) {
        snprintf(err, errlen, "the setting must be a JSON object of 1 byte to %zu KiB",
                 SETTING_MAX_BYTES >> 10);
        return false;
    }
    if ((root = import_json_load(buf, len, err, errlen)) == NULL)
        return false;
    if (!json_is_object(root)) {
        json_decref(root);
        snprintf(err, errlen, "the setting must be a JSON object {name, logs: [...]}");
        return false;
    }
    v = import_member(root, "name");
    if (v != NULL && (!json_is_string(v) || strcmp(json_string_value(v), name) != 0)) {
        json_decref(root);
        snprintf(err, errlen, "the setting's name is not \"%s\", the name given", name);
        return false;
    }
    if (v == NULL && json_object_set_new(root, "name", json_string(name)) != 0) {
        json_decref(root);
        snprintf(err, errlen, "out of memory");
        return false;
    }
    text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (text == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    ok = hub_setting_parse(text, strlen(text), s, err, errlen);
    free(text);
    return ok;
}

enum hubctl_status hubctl_diag_set(const struct hubctl_ctx *c, const char *name,
                                       const char *setting, size_t len, struct hubctl_out *out)
{
    const enum hubctl_action a = HUBCTL_DIAG_WRITE;
    struct hub_diag_setting s;
    struct bind_extra x;
    enum hubctl_status st = HUBCTL_OK;
    json_t *config = NULL;
    bool found = false;

    memset(out, 0, sizeof(*out));
    if (!begin(c, out))
        return finish(c, a, name, NULL, HUBCTL_FAILED, NULL, out);
    if (!name_ok(a, name, out))
        return finish(c, a, name, NULL, HUBCTL_INVALID, R_INVALID_NAME, out);
    if (!setting_parse(name, setting, len, &s, out->detail, sizeof(out->detail)))
        return finish(c, a, name, NULL, HUBCTL_INVALID, R_INVALID_SETTING, out);
    x = (struct bind_extra){s.json, NULL, c->now_ms, 0, false};
    if ((config = json_loads(s.json, 0, NULL)) == NULL ||
        !run(c, sql_setting_find, name, NULL, NULL, &found) ||
        !run(c, sql_setting_put, name, &x, NULL, NULL)) {
        st = HUBCTL_FAILED;
        snprintf(out->detail, sizeof(out->detail), "database: %s", sqlite3_errmsg(c->db));
    } else {
        snprintf(out->detail, sizeof(out->detail), "hub %s: diagnostic setting \"%s\" %s (%zu log%s)",
                 c->hub, name, found ? "replaced" : "added", s.nlogs, s.nlogs == 1 ? "" : "s");
    }
    st = finish(c, a, name, config, st, NULL, out);
    json_decref(config);
    hub_setting_free(&s);
    return st;
}

enum hubctl_status hubctl_diag_delete(const struct hubctl_ctx *c, const char *name,
                                          struct hubctl_out *out)
{
    const enum hubctl_action a = HUBCTL_DIAG_DELETE;
    enum hubctl_status st = HUBCTL_OK;
    int changes = 0;

    memset(out, 0, sizeof(*out));
    if (!begin(c, out))
        return finish(c, a, name, NULL, HUBCTL_FAILED, NULL, out);
    if (!name_ok(a, name, out))
        return finish(c, a, name, NULL, HUBCTL_INVALID, R_INVALID_NAME, out);
    if (!run(c, sql_setting_delete, name, NULL, &changes, NULL)) {
        st = HUBCTL_FAILED;
        snprintf(out->detail, sizeof(out->detail), "database: %s", sqlite3_errmsg(c->db));
    } else if (changes == 0) {
        st = HUBCTL_NOT_FOUND;
        snprintf(out->detail, sizeof(out->detail), "hub %s has no diagnostic setting named \"%s\"",
                 c->hub, name);
    } else {
        snprintf(out->detail, sizeof(out->detail), "hub %s: diagnostic setting \"%s\" deleted",
                 c->hub, name);
    }
    return finish(c, a, name, NULL, st, R_SETTING_NOT_FOUND, out);
}

/*
 * An unauthorized attempt costs its sender nothing, and any page the
 * operator's browser has open can send one: a row each would let a page grow
 * the table as fast as the disk writes. So the attempts of one minute of the
 * clock on one action from one source are one record whose count grows (SPEC
 * 2.4 count); it keeps the first attempt's time and name. Past
 * UNAUTH_RECORDS_MAX records of one action in a minute, further sources add
 * to one record without a sourceIp, so many addresses cost no more rows. A
 * record that reaches 1,000,000 (the most SPEC 2.4 lets one count) is full,
 * and the next attempt starts another.
 * Only Unauthorized records change after they are written, and the
 * evaluator reads those for nothing (they feed no hub alert).
 */
#define UNAUTH_MINUTE_MS   60000
#define UNAUTH_RECORDS_MAX 64

static const char sql_unauth_repeat[] =
    "UPDATE hub_operations SET count = count + 1 WHERE id = "
    "(SELECT id FROM hub_operations WHERE recv_ms >= ?1 AND recv_ms < ?2 AND hub = ?3 "
    "AND category = ?4 AND operation = ?5 AND result = 'Failed' AND reason = 'Unauthorized' "
    "AND device_id IS NULL AND source_ip IS ?6 AND count < 1000000 ORDER BY id DESC LIMIT 1)";
static const char sql_unauth_records[] =
    "SELECT count(*) FROM hub_operations WHERE recv_ms >= ?1 AND recv_ms < ?2 AND hub = ?3 "
    "AND category = ?4 AND operation = ?5 AND result = 'Failed' AND reason = 'Unauthorized' "
    "AND device_id IS NULL";

/* Run one of the two on this minute's records of action a (source: ?6); *n: its count or changes. */
static bool unauth_step(const struct hubctl_ctx *c, const char *sql, enum hubctl_action a,
                        const char *source, int64_t *n)
{
    int64_t minute = c->now_ms - c->now_ms % UNAUTH_MINUTE_MS;
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_int64(st, 1, minute);
    sqlite3_bind_int64(st, 2, minute + UNAUTH_MINUTE_MS);
    sqlite3_bind_text(st, 3, c->hub, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, actions[a].category, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, actions[a].operation, -1, SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(st) >= 6)
        sqlite3_bind_text(st, 6, source, -1, SQLITE_STATIC); /* NULL binds NULL */
    rc = sqlite3_step(st);
    *n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : sqlite3_changes(c->db);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE;
}

/* Add the attempt to its record of this minute, or write that record. */
static bool unauth_record(const struct hubctl_ctx *c, enum hubctl_action a, const char *name)
{
    struct hubctl_ctx shared = *c;
    int64_t n = 0;

    if (!unauth_step(c, sql_unauth_repeat, a, c->source_ip, &n))
        return false;
    if (n > 0)
        return true;
    if (c->source_ip != NULL) {
        if (!unauth_step(c, sql_unauth_records, a, NULL, &n))
            return false;
        if (n >= UNAUTH_RECORDS_MAX) {
            shared.source_ip = NULL;
            if (!unauth_step(&shared, sql_unauth_repeat, a, NULL, &n))
                return false;
            if (n > 0)
                return true;
        }
    }
    return record(&shared, a, name, NULL, R_UNAUTHORIZED);
}

void hubctl_unauthorized(const struct hubctl_ctx *c, enum hubctl_action a, const char *name)
{
    /* IMMEDIATE: two processes serving the web must not both start this minute's record. */
    if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK &&
        unauth_record(c, a, name) && sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return;
    log_warn("hub %s: the record of an unauthorized %s %s could not be written: %s", c->hub,
             actions[a].what, actions[a].operation, sqlite3_errmsg(c->db));
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- the command line ----------------------------------------------------------------------- */

static const char hubctl_usage[] =
    "usage: warden hub cert add NAME FILE | cert delete NAME\n"
    "       warden hub diag set NAME FILE | diag delete NAME\n";

int hubctl_cmd(int argc, char **argv, struct store *s, const struct config *cfg)
{
    const char *what = argc > 1 ? argv[1] : "", *verb = argc > 2 ? argv[2] : "", *file = NULL;
    char keystore[1024], err[512];
    struct hubctl_ctx c;
    struct hubctl_out out;
    enum hubctl_status st;
    char *buf = NULL;
    size_t len = 0;
    bool cert = strcmp(what, "cert") == 0;

    /* A whole configuration (`warden hub import`): hubconf.c. */
    if (!cert && strcmp(what, "diag") != 0)
        return import_cmd_hub(argc, argv, s, cfg);
    if (cert && strcmp(verb, "add") == 0 && argc == 5) {
        file = argv[4];
    } else if (!cert && strcmp(verb, "set") == 0 && argc == 5) {
        file = argv[4];
    } else if (strcmp(verb, "delete") != 0 || (argc != 4 && !(cert && argc == 5))) {
        /* `cert delete NAME FILE`, as issue 7 writes it, is accepted; FILE is not read. */
        fputs(hubctl_usage, stderr);
        return EXIT_INVALID;
    }
    hub_keys_default_path(cfg->hub_keystore, cfg->db_path, keystore, sizeof(keystore));
    c = (struct hubctl_ctx){store_sqlite(s), cfg->hub_name, keystore, NULL, clock_now_ms()};
    /* An unreadable file is an attempt without a certificate: it is refused, and recorded. */
    if (file != NULL &&
        (buf = import_read_file(file, cert ? PEM_MAX_BYTES : SETTING_MAX_BYTES, &len, err,
                                sizeof(err))) == NULL)
        fprintf(stderr, "warden hub: %s\n", err);
    if (cert)
        st = file ? hubctl_cert_add(&c, argv[3], buf, len, &out)
                  : hubctl_cert_delete(&c, argv[3], &out);
    else
        st = file ? hubctl_diag_set(&c, argv[3], buf, len, &out)
                  : hubctl_diag_delete(&c, argv[3], &out);
    free(buf);
    if (st == HUBCTL_OK) {
        printf("%s\n", out.detail);
        return 0;
    }
    fprintf(stderr, "warden hub: %s (recorded as Failed, %s)\n", out.detail, out.reason);
    return st == HUBCTL_FAILED ? EXIT_RUNTIME : EXIT_INVALID;
}
