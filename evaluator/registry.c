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

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/*
 * Standard base64 (RFC 4648 section 4) into out, padding optional but
 * correct when present. Returns the decoded length, or -1.
 */
static long b64_decode(const char *s, size_t n, uint8_t *out, size_t outlen)
{
    size_t pad = 0, o = 0;
    uint32_t acc = 0;
    int bits = 0;

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
    long len = n > 4 * (KEY_MAX_BYTES / 3 + 1) ? -1 : b64_decode(key, n, raw, sizeof(raw));
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
    const char *key = "deviceId";

    /* The bulk export (ExportImportDevice) calls it "id". */
    if (v == NULL && (v = import_member(el, "id")) != NULL)
        key = "id";
    if (v == NULL) {
        fail(err, errlen, i, NULL, "deviceId is required");
        return false;
    }
    if (!json_is_string(v) || !store_device_id_valid(json_string_value(v), json_string_length(v))) {
        fail(err, errlen, i, NULL, "%s must be 1 to 128 bytes of printable UTF-8", key);
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
    if (k == CRED_SAS_PRIMARY || k == CRED_SAS_SECONDARY)
        ok = key_fingerprint(json_string_value(v), json_string_length(v), id->fingerprint[k]);
    else
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
    "hub = COALESCE(?4, hub) WHERE device_id = ?1";

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

/* ---- warden registry ---------------------------------------------------------------------- */

static const char registry_usage[] = "usage: warden registry import FILE [--hub NAME]\n";

int eval_cmd_registry(int argc, char **argv, struct store *s)
{
    struct reg_tx tx = {.db = store_sqlite(s), .now_ms = clock_now_ms()};
    const char *path = NULL;
    struct reg_identity *ids;
    bool usage = argc < 3 || strcmp(argv[1], "import") != 0;
    char err[512], *buf;
    size_t len, n;

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
    if (!registry_parse(buf, len, &ids, &n, err, sizeof(err))) {
        OPENSSL_cleanse(buf, len);
        free(buf);
        fprintf(stderr, "warden registry: %s: %s (nothing imported)\n", path, err);
        return EXIT_INVALID;
    }
    /* The file holds keys: wipe it from memory now that they are fingerprinted. */
    OPENSSL_cleanse(buf, len);
    free(buf);
    if (!registry_write(&tx, ids, n, err, sizeof(err))) {
        free(ids);
        fprintf(stderr, "warden registry: %s (nothing imported)\n", err);
        return EXIT_RUNTIME;
    }
    free(ids);
    printf("registry: %zu devices imported (%zu added, %zu updated), %zu credentials "
           "fingerprinted\n",
           n, tx.added, tx.updated, tx.creds);
    return 0;
}
