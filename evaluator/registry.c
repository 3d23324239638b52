/*
 * evaluator/registry.c: the device registry import (SPEC 4.2),
 * `warden registry import FILE [--hub NAME]`.
 *
 * The file is an array of identities as IoT Hub lists them. Every element is
 * checked before anything is written; then one transaction registers the
 * devices (a device already known keeps its row, so its flows and counts stay
 * attached) and replaces their credential fingerprints. Symmetric keys are
 * hashed as soon as they are read: no key is stored, printed or kept in
 * memory past its element.
 */
#include "evaluator.h"
#include "groups.h"
#include "imports.h"
#include "../broker/sas.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define EXIT_RUNTIME 1
#define EXIT_INVALID 2

/* IoT Hub keys are 16 to 64 bytes; labs use shorter ones, so only a sanity bound. */
#define KEY_MAX_BYTES 512
#define DEFAULT_HUB   "lab-hub"

static const char *const kind_names[CRED_KIND_COUNT] = {
    [CRED_SAS_PRIMARY] = "sas_primary",
    [CRED_SAS_SECONDARY] = "sas_secondary",
    [CRED_X509_PRIMARY] = "x509_primary",
    [CRED_X509_SECONDARY] = "x509_secondary",
};

/* Where each credential sits in an identity, and what the export calls it. */
static const struct {
    const char *object, *member;
} kind_source[CRED_KIND_COUNT] = {
    [CRED_SAS_PRIMARY] = {"symmetricKey", "primaryKey"},
    [CRED_SAS_SECONDARY] = {"symmetricKey", "secondaryKey"},
    [CRED_X509_PRIMARY] = {"x509Thumbprint", "primaryThumbprint"},
    [CRED_X509_SECONDARY] = {"x509Thumbprint", "secondaryThumbprint"},
};

static const char *const auth_types[] = {"sas", "selfSigned", "certificateAuthority", "none"};

const char *cred_kind_name(enum cred_kind k)
{
    WARDEN_ASSERT(k >= 0 && k < CRED_KIND_COUNT);
    return kind_names[k];
}

/* ---- fingerprints ------------------------------------------------------------------ */

static void hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The fingerprint of a symmetric key: hex SHA-256 of its decoded bytes. */
static bool key_fingerprint(const char *key, size_t n, char out[65])
{
    uint8_t raw[KEY_MAX_BYTES], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    long len = n > 4 * (KEY_MAX_BYTES / 3 + 1) ? -1 : sas_b64_decode(key, n, raw, sizeof(raw));
    bool ok =
        len > 0 && EVP_Digest(raw, (size_t)len, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32;

    OPENSSL_cleanse(raw, sizeof(raw));
    if (ok)
        hex(md, 32, out);
    return ok;
}

/* A thumbprint as lower-case hex without separators; 40 or 64 digits. */
static bool thumbprint_normalise(const char *s, size_t n, char out[65])
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (c == ':' || c == ' ')
            continue;
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) || o == 64)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return o == 40 || o == 64;
}

/* ---- one identity -------------------------------------------------------------------- */

/* The element's label for messages: its device id once known, else its index. */
static void fail(char *err, size_t errlen, size_t index, const char *device, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void fail(char *err, size_t errlen, size_t index, const char *device, const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (device != NULL && device[0] != '\0')
        snprintf(err, errlen, "device \"%s\" (element %zu): %s", device, index, what);
    else
        snprintf(err, errlen, "element %zu: %s", index, what);
}

static bool take_device_id(json_t *el, size_t i, struct reg_identity *id, char *err, size_t errlen)
{
    json_t *v = import_member(el, "deviceId");
    const char *key = "deviceId", *why;

    /* The bulk export (ExportImportDevice) calls it "id". */
    if (v == NULL && (v = import_member(el, "id")) != NULL)
        key = "id";
    if (v == NULL) {
        fail(err, errlen, i, NULL, "deviceId is required");
        return false;
    }
    if (!json_is_string(v)) {
        fail(err, errlen, i, NULL, "%s must be a string", key);
        return false;
    }
    /* The id is not quoted: it may be what makes the message unreadable. */
    if ((why = device_id_check(json_string_value(v), json_string_length(v))) != NULL) {
        fail(err, errlen, i, NULL, "%s is not an IoT Hub device id: %s", key, why);
        return false;
    }
    snprintf(id->device_id, sizeof(id->device_id), "%s", json_string_value(v));
    return true;
}

static bool take_auth_type(json_t *auth, size_t i, struct reg_identity *id, char *err,
                           size_t errlen)
{
    json_t *v = import_member(auth, "type");

    if (v == NULL)
        return true;
    for (size_t t = 0; json_is_string(v) && t < sizeof(auth_types) / sizeof(auth_types[0]); t++) {
        if (strcmp(json_string_value(v), auth_types[t]) == 0) {
            snprintf(id->auth_type, sizeof(id->auth_type), "%s", auth_types[t]);
            return true;
        }
    }
    fail(err, errlen, i, id->device_id,
         "authentication.type must be sas, selfSigned, certificateAuthority or none");
    return false;
}

/*
 * One credential member. An empty string counts as absent, as null does:
 * fingerprinting it would make every such device share "a key".
 */
static bool take_credential(json_t *auth, enum cred_kind k, size_t i, struct reg_identity *id,
                            char *err, size_t errlen)
{
    const char *obj_name = kind_source[k].object, *name = kind_source[k].member;
    json_t *obj = import_member(auth, obj_name), *v;
    bool ok;

    if (obj == NULL)
        return true;
    if (!json_is_object(obj)) {
        fail(err, errlen, i, id->device_id, "authentication.%s must be an object", obj_name);
        return false;
    }
    if ((v = import_member(obj, name)) == NULL || (json_is_string(v) && json_string_length(v) == 0))
        return true;
    if (!json_is_string(v)) {
        fail(err, errlen, i, id->device_id, "authentication.%s.%s must be a string", obj_name,
             name);
        return false;
    }
    if (k == CRED_SAS_PRIMARY || k == CRED_SAS_SECONDARY) {
        ok = json_string_length(v) <= HUB_KEYS_KEY_MAX &&
             key_fingerprint(json_string_value(v), json_string_length(v), id->fingerprint[k]);
        if (ok)
            memcpy(id->key[k - CRED_SAS_PRIMARY], json_string_value(v), json_string_length(v) + 1);
    } else
        ok = thumbprint_normalise(json_string_value(v), json_string_length(v), id->fingerprint[k]);
    if (!ok) {
        /* The value is not quoted: it may be a key pasted into the wrong place. */
        fail(err, errlen, i, id->device_id, "authentication.%s.%s is not %s", obj_name, name,
             k <= CRED_SAS_SECONDARY ? "a base64 key"
                                     : "a SHA-1 or SHA-256 thumbprint (40 or 64 hex digits)");
        return false;
    }
    id->has_cred[k] = true;
    return true;
}

static bool take_authentication(json_t *el, size_t i, struct reg_identity *id, char *err,
                                size_t errlen)
{
    json_t *auth = import_member(el, "authentication");

    if (auth == NULL)
        return true;
    if (!json_is_object(auth)) {
        fail(err, errlen, i, id->device_id, "authentication must be an object");
        return false;
    }
    if (!take_auth_type(auth, i, id, err, errlen))
        return false;
    for (int k = 0; k < CRED_KIND_COUNT; k++) {
        if (!take_credential(auth, (enum cred_kind)k, i, id, err, errlen))
            return false;
    }
    return true;
}

static bool take_group(json_t *el, size_t i, struct reg_identity *id, char *err, size_t errlen)
{
    json_t *tags = import_member(el, "tags"), *v;

    snprintf(id->security_group, sizeof(id->security_group), "%s", GROUP_DEFAULT_NAME);
    if (tags == NULL)
        return true;
    if (!json_is_object(tags)) {
        fail(err, errlen, i, id->device_id, "tags must be an object");
        return false;
    }
    if ((v = import_member(tags, "SecurityGroup")) == NULL)
        return true;
    if (!json_is_string(v) || !group_name_valid(json_string_value(v))) {
        fail(err, errlen, i, id->device_id,
             "tags.SecurityGroup must be a group name (1 to %d of A-Z a-z 0-9 . _ -)",
             GROUP_NAME_MAX);
        return false;
    }
    snprintf(id->security_group, sizeof(id->security_group), "%s", json_string_value(v));
    return true;
}

static bool parse_identity(json_t *el, size_t i, struct reg_identity *id, char *err, size_t errlen)
{
    memset(id, 0, sizeof(*id));
    if (!json_is_object(el)) {
        fail(err, errlen, i, NULL, "an identity must be an object");
        return false;
    }
    return take_device_id(el, i, id, err, errlen) && take_authentication(el, i, id, err, errlen) &&
           take_group(el, i, id, err, errlen);
}

bool registry_parse(const char *buf, size_t len, struct reg_identity **out, size_t *n, char *err,
                    size_t errlen)
{
    json_t *root = import_json_load(buf, len, err, errlen), *el;
    struct reg_identity *ids = NULL;
    struct map seen;
    size_t i;
    bool ok = true;

    *out = NULL;
    *n = 0;
    if (root == NULL)
        return false;
    if (!json_is_array(root) || json_array_size(root) > REGISTRY_MAX_DEVICES) {
        snprintf(err, errlen,
                 json_is_array(root) ? "more than %d identities"
                                     : "a registry must be a JSON array of identities (up to %d)",
                 REGISTRY_MAX_DEVICES);
        json_decref(root);
        return false;
    }
    if (json_array_size(root) > 0 && (ids = calloc(json_array_size(root), sizeof(*ids))) == NULL) {
        snprintf(err, errlen, "out of memory");
        json_decref(root);
        return false;
    }
    map_init(&seen);
    json_array_foreach(root, i, el) {
        struct map_entry *e;

        if (!(ok = parse_identity(el, i, &ids[i], err, errlen)))
            break;
        e = map_upsert(&seen, ids[i].device_id, strlen(ids[i].device_id));
        if (e == NULL || e->value != 0) {
            if (e == NULL)
                snprintf(err, errlen, "out of memory");
            else
                fail(err, errlen, i, ids[i].device_id, "the device is also element %lld",
                     (long long)e->value - 1);
            ok = false;
            break;
        }
        e->value = (int64_t)i + 1;
    }
    map_free(&seen);
    if (ok) {
        *out = ids;
        *n = json_array_size(root);
    } else {
        free(ids);
    }
    json_decref(root);
    return ok;
}

/* ---- the database ---------------------------------------------------------------------- */

static const char sql_device_hub[] = "SELECT hub FROM devices WHERE device_id = ?1";

/* A device seen or registered before keeps its row (and id); an explicit --hub moves it. */
static const char sql_device_update[] =
    "UPDATE devices SET security_group = ?2, auth_type = COALESCE(?3, auth_type), "
    "hub = COALESCE(?4, hub), auto_registered = 0 WHERE device_id = ?1";

/*
 * A device registered but never seen: devices.first_seen_ms and last_seen_ms
 * are NOT NULL, so both are the import time. The device-silent detection then
 * counts its silence from when it was registered.
 */
static const char sql_device_add[] =
    "INSERT INTO devices (device_id, hub, security_group, auth_type, first_seen_ms, last_seen_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?5)";

static const char sql_creds_clear[] = "DELETE FROM device_credentials WHERE device_id = ?1";
static const char sql_cred_add[] =
    "INSERT INTO device_credentials (device_id, kind, fingerprint) VALUES (?1, ?2, ?3)";

enum { ST_HUB, ST_UPDATE, ST_ADD, ST_CLEAR, ST_CRED, ST_COUNT };

struct reg_tx {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    const char *hub; /* --hub, or NULL */
    int64_t now_ms;
    size_t added, updated, creds;
};

static bool step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE;
}

static void bind_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s != NULL && s[0] != '\0')
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static bool write_device(struct reg_tx *tx, const struct reg_identity *id)
{
    sqlite3_stmt *get = tx->st[ST_HUB], *st;
    bool exists;
    int rc;

    sqlite3_bind_text(get, 1, id->device_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(get);
    exists = rc == SQLITE_ROW;
    sqlite3_reset(get);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return false;
    if (exists) {
        st = tx->st[ST_UPDATE];
        sqlite3_bind_text(st, 1, id->device_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id->security_group, -1, SQLITE_STATIC);
        bind_or_null(st, 3, id->auth_type);
        bind_or_null(st, 4, tx->hub);
        tx->updated++;
    } else {
        st = tx->st[ST_ADD];
        sqlite3_bind_text(st, 1, id->device_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, tx->hub ? tx->hub : DEFAULT_HUB, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, id->security_group, -1, SQLITE_STATIC);
        bind_or_null(st, 4, id->auth_type);
        sqlite3_bind_int64(st, 5, tx->now_ms);
        tx->added++;
    }
    return step_done(st);
}

static bool write_credentials(struct reg_tx *tx, const struct reg_identity *id)
{
    sqlite3_stmt *st = tx->st[ST_CRED];

    sqlite3_bind_text(tx->st[ST_CLEAR], 1, id->device_id, -1, SQLITE_STATIC);
    if (!step_done(tx->st[ST_CLEAR]))
        return false;
    for (int k = 0; k < CRED_KIND_COUNT; k++) {
        if (!id->has_cred[k])
            continue;
        sqlite3_bind_text(st, 1, id->device_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, kind_names[k], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, id->fingerprint[k], -1, SQLITE_STATIC);
        if (!step_done(st))
            return false;
        tx->creds++;
    }
    return true;
}

/* All identities in one transaction: all are written, or none. */
static bool registry_write(struct reg_tx *tx, const struct reg_identity *ids, size_t n, char *err,
                           size_t errlen)
{
    static const char *const sql[ST_COUNT] = {sql_device_hub, sql_device_update, sql_device_add,
                                              sql_creds_clear, sql_cred_add};
    bool ok = sqlite3_exec(tx->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;

    for (int i = 0; ok && i < ST_COUNT; i++)
        ok = sqlite3_prepare_v2(tx->db, sql[i], -1, &tx->st[i], NULL) == SQLITE_OK;
    for (size_t i = 0; ok && i < n; i++)
        ok = write_device(tx, &ids[i]) && write_credentials(tx, &ids[i]);
    if (ok)
        ok = sqlite3_exec(tx->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
    if (!ok) {
        snprintf(err, errlen, "database: %s", sqlite3_errmsg(tx->db));
        sqlite3_exec(tx->db, "ROLLBACK", NULL, NULL, NULL);
    }
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(tx->st[i]);
    return ok;
}

/* ---- the lab hub's key store ------------------------------------------------------------- */

/* What a device without a stated type authenticates with. */
static const char *effective_auth(const struct reg_identity *id)
{
    if (id->auth_type[0] != '\0')
        return id->auth_type;
    if (id->has_cred[CRED_X509_PRIMARY] || id->has_cred[CRED_X509_SECONDARY])
        return "selfSigned";
    return "sas";
}

/*
 * Puts the identities into the key store the lab broker's plugin reads, so a
 * device imported here can connect there. Runs after the database commit: a
 * failure leaves the database right and says so; importing again repairs it.
 */
static bool keystore_put(const struct config *cfg, const struct reg_identity *ids, size_t n,
                         const char *hub, char *err, size_t errlen)
{
    char path[1024];
    struct hub_keys k;
    bool ok = true;

    hub_keys_default_path(cfg->hub_keystore, cfg->db_path, path, sizeof(path));
    int lock = hub_keys_begin(path, &k, err, errlen);
    if (lock < 0)
        return false;
    if (k.hub[0] == '\0')
        snprintf(k.hub, sizeof(k.hub), "%s", hub ? hub : cfg->hub_name);
    ok = hub_keys_ensure_service(&k);
    for (size_t i = 0; ok && i < n; i++) {
        struct hub_keys_device d;
        memset(&d, 0, sizeof(d));
        snprintf(d.id, sizeof(d.id), "%s", ids[i].device_id);
        snprintf(d.auth, sizeof(d.auth), "%s", effective_auth(&ids[i]));
        memcpy(d.primary, ids[i].key[0], sizeof(d.primary));
        memcpy(d.secondary, ids[i].key[1], sizeof(d.secondary));
        memcpy(d.thumb[0], ids[i].fingerprint[CRED_X509_PRIMARY], sizeof(d.thumb[0]));
        memcpy(d.thumb[1], ids[i].fingerprint[CRED_X509_SECONDARY], sizeof(d.thumb[1]));
        ok = hub_keys_put_device(&k, &d);
        OPENSSL_cleanse(&d, sizeof(d));
    }
    if (!ok)
        snprintf(err, errlen, "%s: out of memory or no random bytes", path);
    ok = hub_keys_end(lock, path, &k, ok, err, errlen) && ok;
    return ok;
}

static void identities_free(struct reg_identity *ids, size_t n)
{
    if (ids != NULL)
        OPENSSL_cleanse(ids, n * sizeof(*ids));
    free(ids);
}

/* Imports a validated registry document: database first, then the key store. */
static int registry_import_text(const struct config *cfg, struct reg_tx *tx, const char *what,
                                char *buf, size_t len)
{
    struct reg_identity *ids;
    char err[512];
    size_t n;

    bool parsed = registry_parse(buf, len, &ids, &n, err, sizeof(err));
    /* The text holds keys: wipe it from memory now that they are taken. */
    OPENSSL_cleanse(buf, len);
    if (!parsed) {
        fprintf(stderr, "warden registry: %s: %s (nothing imported)\n", what, err);
        return EXIT_INVALID;
    }
    if (!registry_write(tx, ids, n, err, sizeof(err))) {
        identities_free(ids, n);
        fprintf(stderr, "warden registry: %s (nothing imported)\n", err);
        return EXIT_RUNTIME;
    }
    if (!keystore_put(cfg, ids, n, tx->hub, err, sizeof(err))) {
        identities_free(ids, n);
        fprintf(stderr, "warden registry: the database is updated but the lab hub's key store "
                        "is not: %s\n", err);
        return EXIT_RUNTIME;
    }
    identities_free(ids, n);
    printf("registry: %zu devices imported (%zu added, %zu updated), %zu credentials "
           "fingerprinted\n",
           n, tx->added, tx->updated, tx->creds);
    return 0;
}

/* A new symmetric key, as IoT Hub makes them: 32 random bytes in base64. */
static bool new_key(char out[64])
{
    uint8_t raw[32];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return false;
    bool ok = sas_b64_encode(raw, sizeof(raw), out, 64) > 0;
    OPENSSL_cleanse(raw, sizeof(raw));
    return ok;
}

/*
 * warden registry add DEVICE [--auth T] [--primary-key K] [--secondary-key K]
 *                             [--thumbprint T] [--secondary-thumbprint T] [--group G]
 * Builds the one-element document an export would hold and imports it, so a
 * device added by hand is checked exactly like one imported.
 */
static int registry_add(const struct config *cfg, struct reg_tx *tx, int argc, char **argv)
{
    const char *opt[6] = {NULL, NULL, NULL, NULL, NULL, "default"};
    static const char *const names[6] = {"--auth", "--primary-key", "--secondary-key",
                                         "--thumbprint", "--secondary-thumbprint", "--group"};
    char pk[64], sk[64];

    for (int i = 3; i < argc; i++) {
        int j = 0;
        while (j < 6 && strcmp(argv[i], names[j]) != 0)
            j++;
        if (j == 6 || i + 1 >= argc) {
            fprintf(stderr, "warden registry add: unknown or incomplete option %s\n", argv[i]);
            return EXIT_INVALID;
        }
        opt[j] = argv[++i];
    }
    if (opt[0] == NULL)
        opt[0] = opt[3] != NULL ? "selfSigned" : "sas";
    bool x509 = strcmp(opt[0], "sas") != 0;
    if (!x509 && opt[1] == NULL) {
        /* Like IoT Hub: a SAS device created without keys gets two new ones. */
        if (!new_key(pk) || !new_key(sk)) {
            fprintf(stderr, "warden registry add: no random bytes for the keys\n");
            return EXIT_RUNTIME;
        }
        opt[1] = pk, opt[2] = sk;
        printf("registry: new keys for %s\n  primary   %s\n  secondary %s\n", argv[2], pk, sk);
    }
    json_t *doc = json_pack("[{s:s, s:{s:s, s:{s:s?, s:s?}, s:{s:s?, s:s?}}, s:{s:s}}]",
                            "deviceId", argv[2], "authentication", "type", opt[0],
                            "symmetricKey", "primaryKey", opt[1], "secondaryKey", opt[2],
                            "x509Thumbprint", "primaryThumbprint", opt[3], "secondaryThumbprint",
                            opt[4], "tags", "SecurityGroup", opt[5]);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    OPENSSL_cleanse(pk, sizeof(pk));
    OPENSSL_cleanse(sk, sizeof(sk));
    if (text == NULL) {
        fprintf(stderr, "warden registry add: not a valid device id or option value\n");
        return EXIT_INVALID;
    }
    int rc = registry_import_text(cfg, tx, argv[2], text, strlen(text));
    free(text);
    return rc;
}

/* warden registry rm DEVICE: its credentials go from the database and the key
 * store; its history stays. */
static int registry_rm(const struct config *cfg, struct reg_tx *tx, const char *device)
{
    char path[1024], err[512];
    struct hub_keys k;
    sqlite3_stmt *st = NULL;
    int changed = 0;

    if (sqlite3_prepare_v2(tx->db, "DELETE FROM device_credentials WHERE device_id = ?1", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_DONE)
            changed = sqlite3_changes(tx->db);
    }
    sqlite3_finalize(st);
    hub_keys_default_path(cfg->hub_keystore, cfg->db_path, path, sizeof(path));
    int lock = hub_keys_begin(path, &k, err, sizeof(err));
    if (lock < 0) {
        fprintf(stderr, "warden registry rm: %s\n", err);
        return EXIT_RUNTIME;
    }
    bool had = hub_keys_remove_device(&k, device);
    bool ok = hub_keys_end(lock, path, &k, had, err, sizeof(err));
    if (!ok) {
        fprintf(stderr, "warden registry rm: %s\n", err);
        return EXIT_RUNTIME;
    }
    if (!had && changed == 0) {
        fprintf(stderr, "warden registry rm: no device %s in the registry\n", device);
        return EXIT_INVALID;
    }
    printf("registry: %s removed from the lab hub (%d credentials dropped; its history stays)\n",
           device, changed);
    return 0;
}

/*
 * warden registry token DEVICE [--host H] [--expiry SECONDS] [--secondary]
 * Prints a SAS token for the device from the key store (what `az iot hub
 * generate-sas-token` does for a real hub); a negative expiry makes an expired one.
 */
static int registry_token(const struct config *cfg, int argc, char **argv)
{
    const char *host = cfg->hub_name, *device = argv[2];
    long long expiry = 3600;
    bool secondary = false;
    char path[1024], err[512], token[2048];
    struct hub_keys k;

    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
            host = argv[++i];
        else if (strcmp(argv[i], "--expiry") == 0 && i + 1 < argc)
            expiry = strtoll(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--secondary") == 0)
            secondary = true;
        else {
            fprintf(stderr, "warden registry token: unknown option %s\n", argv[i]);
            return EXIT_INVALID;
        }
    }
    hub_keys_default_path(cfg->hub_keystore, cfg->db_path, path, sizeof(path));
    if (!hub_keys_load(path, &k, err, sizeof(err))) {
        fprintf(stderr, "warden registry token: %s\n", err);
        return EXIT_RUNTIME;
    }
    const struct hub_keys_device *d = hub_keys_find(&k, device);
    const char *key = d ? (secondary ? d->secondary : d->primary) : "";
    bool ok = key[0] != '\0' &&
              sas_make(host, device, key, (int64_t)time(NULL) + expiry, token, sizeof(token));
    hub_keys_free(&k);
    if (!ok) {
        fprintf(stderr, "warden registry token: %s has no %s key in %s\n", device,
                secondary ? "secondary" : "primary", path);
        return EXIT_INVALID;
    }
    printf("%s\n", token);
    return 0;
}

/* warden registry init: the key store with its service secret, made if missing. */
static int registry_init(const struct config *cfg)
{
    char path[1024], err[512];
    struct hub_keys k;

    hub_keys_default_path(cfg->hub_keystore, cfg->db_path, path, sizeof(path));
    int lock = hub_keys_begin(path, &k, err, sizeof(err));
    if (lock < 0) {
        fprintf(stderr, "warden registry init: %s\n", err);
        return EXIT_RUNTIME;
    }
    bool made = k.service[0] == '\0';
    if (k.hub[0] == '\0')
        snprintf(k.hub, sizeof(k.hub), "%s", cfg->hub_name);
    bool ok = !made || hub_keys_ensure_service(&k);
    if (!ok)
        snprintf(err, sizeof(err), "no random bytes for the service secret");
    ok = hub_keys_end(lock, path, &k, made && ok, err, sizeof(err)) && ok;
    if (!ok) {
        fprintf(stderr, "warden registry init: %s\n", err);
        return EXIT_RUNTIME;
    }
    printf("registry: the lab hub's key store is %s%s\n", path, made ? " (made now)" : "");
    return 0;
}

/* ---- warden registry ---------------------------------------------------------------------- */

static const char registry_usage[] =
    "usage: warden registry import FILE [--hub NAME]\n"
    "       warden registry init\n"
    "       warden registry add DEVICE [--auth sas|selfSigned|certificateAuthority]\n"
    "                               [--primary-key K] [--secondary-key K] [--thumbprint T]\n"
    "                               [--secondary-thumbprint T] [--group G]\n"
    "       warden registry rm DEVICE\n"
    "       warden registry token DEVICE [--host HOST] [--expiry SECONDS] [--secondary]\n";

int eval_cmd_registry(int argc, char **argv, struct store *s, const struct config *cfg)
{
    struct reg_tx tx = {.db = store_sqlite(s), .now_ms = clock_now_ms()};
    const char *path = NULL;
    char err[512], *buf;
    size_t len;

    if (argc == 2 && strcmp(argv[1], "init") == 0)
        return registry_init(cfg);
    if (argc >= 3 && strcmp(argv[1], "add") == 0 && argv[2][0] != '-')
        return registry_add(cfg, &tx, argc, argv);
    if (argc == 3 && strcmp(argv[1], "rm") == 0)
        return registry_rm(cfg, &tx, argv[2]);
    if (argc >= 3 && strcmp(argv[1], "token") == 0)
        return registry_token(cfg, argc, argv);
    bool usage = argc < 3 || strcmp(argv[1], "import") != 0;
    for (int i = 2; !usage && i < argc; i++) {
        if (strcmp(argv[i], "--hub") == 0 && i + 1 < argc && tx.hub == NULL)
            tx.hub = argv[++i];
        else if (strncmp(argv[i], "--hub=", 6) == 0 && tx.hub == NULL)
            tx.hub = argv[i] + 6;
        else if (path == NULL && argv[i][0] != '-')
            path = argv[i];
        else
            usage = true;
    }
    if (usage || path == NULL) {
        fputs(registry_usage, stderr);
        return EXIT_INVALID;
    }
    if (tx.hub != NULL && !import_hub_name_valid(tx.hub, strlen(tx.hub))) {
        fprintf(stderr, "warden registry: --hub: not a valid hub name\n");
        return EXIT_INVALID;
    }
    if ((buf = import_read_file(path, REGISTRY_MAX_BYTES, &len, err, sizeof(err))) == NULL) {
        fprintf(stderr, "warden registry: %s\n", err);
        return EXIT_RUNTIME;
    }
    int rc = registry_import_text(cfg, &tx, path, buf, len);
    free(buf);
    return rc;
}
