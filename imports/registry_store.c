/*
 * imports/registry_store.c: where a parsed registry goes, and `warden
 * registry import FILE [--hub NAME] | init | add | rm | token`.
 *
 * registry.c checks the whole document before anything is written; then one
 * transaction registers the devices (a device already known keeps its row,
 * so its flows and counts stay attached), and the lab hub's key store gets
 * their keys and status. The import says what it did to each device: added,
 * changed (and what), unchanged. No key is stored in the database, printed
 * or kept in memory past the import.
 *
 * It calls registry.c's parser, imports.c's file reader, the key store
 * (hub/hubkeys.c) and hub/sas.c's tokens; main.c calls import_cmd_registry.
 */
#include "groups.h"
#include "imports.h"
#include "../hub/sas.h"

#include <openssl/crypto.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define EXIT_RUNTIME 1
#define EXIT_INVALID 2

/* The hub a device is registered on when neither it nor --hub names one. */
#define DEFAULT_HUB "lab-hub"

/* ---- the database ---------------------------------------------------------------------- */

/* What an import did to one device. */
enum reg_result { REG_ADDED, REG_CHANGED, REG_UNCHANGED };

struct reg_outcome {
    enum reg_result result;
    char changes[192]; /* for the report: "status enabled -> disabled, primary key replaced" */
};

/* A device as Warden keeps it: as the database has it, or as an import leaves it. */
struct reg_state {
    bool exists;   /* it has a row */
    bool imported; /* ...put there by an import, not by its traffic */
    char hub[129], group[129], auth[24], status[16];
    bool has_cred[CRED_KIND_COUNT];
    char fingerprint[CRED_KIND_COUNT][65];
};

static const char *const cred_labels[CRED_KIND_COUNT] = {
    "primary key", "secondary key", "primary thumbprint", "secondary thumbprint"};

static const char sql_device_get[] =
    "SELECT hub, security_group, COALESCE(auth_type, ''), status, auto_registered "
    "FROM devices WHERE device_id = ?1";
static const char sql_creds_get[] =
    "SELECT kind, fingerprint FROM device_credentials WHERE device_id = ?1";

/* A device seen or registered before keeps its row (and id); an explicit --hub moves it. */
static const char sql_device_update[] =
    "UPDATE devices SET hub = ?2, security_group = ?3, auth_type = ?4, status = ?5, "
    "auto_registered = 0 WHERE device_id = ?1";

/*
 * A device registered but never seen: devices.first_seen_ms and last_seen_ms
 * are NOT NULL, so both are the import time. The device-silent detection then
 * counts its silence from when it was registered.
 */
static const char sql_device_add[] =
    "INSERT INTO devices (device_id, hub, security_group, auth_type, status, first_seen_ms, "
    "last_seen_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)";

static const char sql_cred_clear[] =
    "DELETE FROM device_credentials WHERE device_id = ?1 AND kind = ?2";
static const char sql_cred_add[] =
    "INSERT INTO device_credentials (device_id, kind, fingerprint) VALUES (?1, ?2, ?3)";

enum { ST_GET, ST_CREDS, ST_UPDATE, ST_ADD, ST_CLEAR, ST_CRED, ST_COUNT };

struct reg_tx {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    const char *hub; /* --hub, or NULL */
    int64_t now_ms;
    size_t creds; /* credentials written */
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

static void column_copy(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
    const unsigned char *v = sqlite3_column_text(st, col);

    snprintf(out, outlen, "%s", v != NULL ? (const char *)v : "");
}

/* The device's row and credentials, if it has them. */
static bool state_load(struct reg_tx *tx, const char *device, struct reg_state *s)
{
    sqlite3_stmt *st = tx->st[ST_GET];
    int rc;

    memset(s, 0, sizeof(*s));
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        s->exists = true;
        column_copy(st, 0, s->hub, sizeof(s->hub));
        column_copy(st, 1, s->group, sizeof(s->group));
        column_copy(st, 2, s->auth, sizeof(s->auth));
        column_copy(st, 3, s->status, sizeof(s->status));
        s->imported = sqlite3_column_int(st, 4) == 0;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return false;
    st = tx->st[ST_CREDS];
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(st, 0);
        for (int k = 0; kind != NULL && k < CRED_KIND_COUNT; k++)
            if (strcmp(kind, cred_kind_name((enum cred_kind)k)) == 0) {
                s->has_cred[k] = true;
                column_copy(st, 1, s->fingerprint[k], sizeof(s->fingerprint[k]));
            }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE;
}

static bool states_kind(const struct reg_identity *id, int k)
{
    return k <= CRED_SAS_SECONDARY ? id->states_sas : id->states_x509;
}

/* What the device becomes: what id states over what old was (IoT Hub's defaults when new). */
static void state_apply(const struct reg_state *old, const struct reg_identity *id, const char *hub,
                        struct reg_state *now)
{
    *now = *old;
    now->exists = now->imported = true;
    if (hub != NULL || !old->exists)
        snprintf(now->hub, sizeof(now->hub), "%s", hub != NULL ? hub : DEFAULT_HUB);
    if (id->security_group[0] != '\0' || !old->exists)
        snprintf(now->group, sizeof(now->group), "%s",
                 id->security_group[0] != '\0' ? id->security_group : GROUP_DEFAULT_NAME);
    if (id->auth_type[0] != '\0')
        snprintf(now->auth, sizeof(now->auth), "%s", id->auth_type);
    if (id->status[0] != '\0' || !old->exists || old->status[0] == '\0')
        snprintf(now->status, sizeof(now->status), "%s",
                 id->status[0] != '\0' ? id->status : "enabled");
    for (int k = 0; k < CRED_KIND_COUNT; k++) {
        if (!states_kind(id, k))
            continue;
        now->has_cred[k] = id->has_cred[k];
        memcpy(now->fingerprint[k], id->fingerprint[k], sizeof(now->fingerprint[k]));
    }
}

static void changes_add(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void changes_add(char *out, size_t outlen, const char *fmt, ...)
{
    size_t n = strlen(out);
    va_list ap;

    if (n + 3 >= outlen)
        return;
    if (n > 0)
        n += (size_t)snprintf(out + n, outlen - n, ", ");
    va_start(ap, fmt);
    vsnprintf(out + n, outlen - n, fmt, ap);
    va_end(ap);
}

static void change_text(char *out, size_t outlen, const char *what, const char *a, const char *b)
{
    if (strcmp(a, b) != 0)
        changes_add(out, outlen, "%s %s -> %s", what, a[0] ? a : "unset", b[0] ? b : "unset");
}

/* What differs between old and now, in words (no secret: keys are named, not shown). */
static void state_diff(const struct reg_state *old, const struct reg_state *now, char *out,
                       size_t outlen)
{
    out[0] = '\0';
    change_text(out, outlen, "status", old->status, now->status);
    change_text(out, outlen, "hub", old->hub, now->hub);
    change_text(out, outlen, "group", old->group, now->group);
    change_text(out, outlen, "authentication", old->auth, now->auth);
    for (int k = 0; k < CRED_KIND_COUNT; k++) {
        if (old->has_cred[k] != now->has_cred[k])
            changes_add(out, outlen, "%s %s", cred_labels[k],
                        now->has_cred[k] ? "added" : "removed");
        else if (now->has_cred[k] && strcmp(old->fingerprint[k], now->fingerprint[k]) != 0)
            changes_add(out, outlen, "%s replaced", cred_labels[k]);
    }
}

static bool state_write(struct reg_tx *tx, const char *device, const struct reg_state *old,
                        const struct reg_state *now, const struct reg_identity *id)
{
    sqlite3_stmt *st = tx->st[old->exists ? ST_UPDATE : ST_ADD];

    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, now->hub, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, now->group, -1, SQLITE_STATIC);
    bind_or_null(st, 4, now->auth);
    sqlite3_bind_text(st, 5, now->status, -1, SQLITE_STATIC);
    if (!old->exists)
        sqlite3_bind_int64(st, 6, tx->now_ms);
    if (!step_done(st))
        return false;
    for (int k = 0; k < CRED_KIND_COUNT; k++) {
        const char *kind = cred_kind_name((enum cred_kind)k);

        if (!states_kind(id, k))
            continue;
        sqlite3_bind_text(tx->st[ST_CLEAR], 1, device, -1, SQLITE_STATIC);
        sqlite3_bind_text(tx->st[ST_CLEAR], 2, kind, -1, SQLITE_STATIC);
        if (!step_done(tx->st[ST_CLEAR]))
            return false;
        if (!now->has_cred[k])
            continue;
        st = tx->st[ST_CRED];
        sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, now->fingerprint[k], -1, SQLITE_STATIC);
        if (!step_done(st))
            return false;
        tx->creds++;
    }
    return true;
}

/* One device: compared with what the database has, written when it differs. */
static bool write_device(struct reg_tx *tx, const struct reg_identity *id, struct reg_outcome *out)
{
    struct reg_state old, now;

    if (!state_load(tx, id->device_id, &old))
        return false;
    state_apply(&old, id, tx->hub, &now);
    state_diff(&old, &now, out->changes, sizeof(out->changes));
    if (!old.imported) {
        /* Seen on the broker but never imported, or new: added to the registry either way. */
        out->result = REG_ADDED;
        out->changes[0] = '\0';
    } else if (out->changes[0] != '\0') {
        out->result = REG_CHANGED;
    } else {
        out->result = REG_UNCHANGED;
        return true;
    }
    return state_write(tx, id->device_id, &old, &now, id);
}

/* All devices in one transaction: all are written, or none. */
static bool registry_write(struct reg_tx *tx, const struct reg_doc *doc, struct reg_outcome *out,
                           char *err, size_t errlen)
{
    static const char *const sql[ST_COUNT] = {sql_device_get, sql_creds_get,  sql_device_update,
                                              sql_device_add, sql_cred_clear, sql_cred_add};
    bool ok = sqlite3_exec(tx->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;

    for (int i = 0; ok && i < ST_COUNT; i++)
        ok = sqlite3_prepare_v2(tx->db, sql[i], -1, &tx->st[i], NULL) == SQLITE_OK;
    for (size_t i = 0; ok && i < doc->n; i++)
        ok = write_device(tx, &doc->ids[i], &out[i]);
    if (ok)
        ok = sqlite3_exec(tx->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
    if (!ok) {
        snprintf(err, errlen, "database: %s", sqlite3_errmsg(tx->db));
        sqlite3_exec(tx->db, "ROLLBACK", NULL, NULL, NULL);
    }
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(tx->st[i]);
        tx->st[i] = NULL;
    }
    return ok;
}

/* ---- the lab hub's key store ------------------------------------------------------------- */

/* What a new device without a stated type authenticates with. */
static const char *effective_auth(const struct reg_identity *id)
{
    if (id->auth_type[0] != '\0')
        return id->auth_type;
    if (id->has_cred[CRED_X509_PRIMARY] || id->has_cred[CRED_X509_SECONDARY])
        return "selfSigned";
    return "sas";
}

/* The key store's entry for id: the one before (old, or NULL) with what id states. */
static void keystore_entry(const struct hub_keys_device *old, const struct reg_identity *id,
                           struct hub_keys_device *d)
{
    memset(d, 0, sizeof(*d));
    if (old != NULL)
        *d = *old;
    snprintf(d->id, sizeof(d->id), "%s", id->device_id);
    if (id->auth_type[0] != '\0' || old == NULL)
        snprintf(d->auth, sizeof(d->auth), "%s", effective_auth(id));
    if (id->states_sas) {
        memcpy(d->primary, id->key[0], sizeof(d->primary));
        memcpy(d->secondary, id->key[1], sizeof(d->secondary));
    }
    if (id->states_x509) {
        memcpy(d->thumb[0], id->fingerprint[CRED_X509_PRIMARY], sizeof(d->thumb[0]));
        memcpy(d->thumb[1], id->fingerprint[CRED_X509_SECONDARY], sizeof(d->thumb[1]));
    }
    if (id->status[0] != '\0')
        d->disabled = strcmp(id->status, "disabled") == 0;
}

static bool device_same(const struct hub_keys_device *a, const struct hub_keys_device *b)
{
    return strcmp(a->auth, b->auth) == 0 && strcmp(a->primary, b->primary) == 0 &&
           strcmp(a->secondary, b->secondary) == 0 && strcmp(a->thumb[0], b->thumb[0]) == 0 &&
           strcmp(a->thumb[1], b->thumb[1]) == 0 && a->disabled == b->disabled;
}

/* What the key store holds of the imported devices, for the report. */
struct reg_summary {
    size_t disabled;
    size_t keyless;          /* SAS devices without a key: they cannot log in */
    char keyless_first[129]; /* one of them, named */
};

/*
 * Puts the devices into the key store the lab broker's plugin reads, so a
 * device imported here can connect there (or, disabled, cannot). Runs after
 * the database commit: a failure leaves the database right and says so;
 * importing again repairs it. An entry that differs from the store's makes
 * its device "changed" even when the database had it right. The store is
 * not rewritten when nothing in it changes.
 */
static bool keystore_put(const struct config *cfg, const struct reg_doc *doc,
                         struct reg_outcome *out, const char *hub, struct reg_summary *sum,
                         char *err, size_t errlen)
{
    char path[1024];
    struct hub_keys k;
    bool ok, dirty = false;

    hub_keys_default_path(cfg->hub_keystore, cfg->db_path, path, sizeof(path));
    int lock = hub_keys_begin(path, &k, err, errlen);
    if (lock < 0)
        return false;
    if (k.hub[0] == '\0') {
        snprintf(k.hub, sizeof(k.hub), "%s", hub ? hub : cfg->hub_name);
        dirty = true;
    }
    dirty = dirty || k.service[0] == '\0';
    ok = hub_keys_ensure_service(&k);
    for (size_t i = 0; ok && i < doc->n; i++) {
        const struct hub_keys_device *old = hub_keys_find(&k, doc->ids[i].device_id);
        struct hub_keys_device d;

        keystore_entry(old, &doc->ids[i], &d);
        if (old == NULL || !device_same(old, &d)) {
            dirty = true;
            if (out[i].result == REG_UNCHANGED) {
                out[i].result = REG_CHANGED;
                changes_add(out[i].changes, sizeof(out[i].changes), "the lab hub's key store");
            }
            ok = hub_keys_put_device(&k, &d);
        }
        sum->disabled += d.disabled;
        if (strcmp(d.auth, "sas") == 0 && d.primary[0] == '\0' && d.secondary[0] == '\0' &&
            sum->keyless++ == 0)
            snprintf(sum->keyless_first, sizeof(sum->keyless_first), "%s", d.id);
        OPENSSL_cleanse(&d, sizeof(d));
    }
    if (!ok)
        snprintf(err, errlen, "%s: out of memory or no random bytes", path);
    ok = hub_keys_end(lock, path, &k, ok && dirty, err, errlen) && ok;
    return ok;
}

/* ---- the import -------------------------------------------------------------------------- */

#define REPORT_DEVICES_SHOWN 50

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

/* What the import did: counts, then the devices it added or changed, then what to know. */
static void report(const char *what, const struct reg_doc *doc, const struct reg_outcome *out,
                   const struct reg_summary *sum, size_t creds)
{
    static const char *const words[] = {"added", "changed", "unchanged"};
    size_t count[3] = {0, 0, 0}, shown = 0;

    for (size_t i = 0; i < doc->n; i++)
        count[out[i].result]++;
    printf("registry: %s (%s): %zu device%s: %zu added, %zu changed, %zu unchanged; "
           "%zu credential%s fingerprinted\n",
           what, registry_shape_name(doc->shape), doc->n, plural(doc->n), count[REG_ADDED],
           count[REG_CHANGED], count[REG_UNCHANGED], creds, plural(creds));
    for (size_t i = 0; i < doc->n; i++) {
        if (out[i].result == REG_UNCHANGED || shown++ >= REPORT_DEVICES_SHOWN)
            continue;
        printf("  %-9s %s%s%s\n", words[out[i].result], doc->ids[i].device_id,
               out[i].changes[0] ? ": " : "", out[i].changes);
    }
    if (shown > REPORT_DEVICES_SHOWN)
        printf("  ... and %zu more added or changed\n", shown - REPORT_DEVICES_SHOWN);
    if (sum->disabled > 0)
        printf("registry: %zu disabled: the lab hub refuses %s logins as IoT Hub does "
               "(DeviceNotFound); import %s with \"status\": \"enabled\" to re-enable\n",
               sum->disabled, sum->disabled == 1 ? "its" : "their",
               sum->disabled == 1 ? "it" : "them");
    if (sum->keyless > 0)
        printf("registry: %zu SAS device%s without keys (%s%s) cannot log in to the lab hub "
               "until its keys are imported: a twin, or an export made without keys, has none; "
               "`az iot hub device-identity show` and the bulk export have them\n",
               sum->keyless, plural(sum->keyless), sum->keyless_first,
               sum->keyless > 1 ? ", ..." : "");
    if (doc->modules > 0)
        printf("registry: %zu module identit%s not imported: the lab hub logs in devices\n",
               doc->modules, doc->modules == 1 ? "y" : "ies");
    if (doc->has_arm)
        printf("registry: the hub's template (\"arm\") is not read here: `warden hub import` "
               "takes its IotHubs resource (jq '.arm.resources[] | select(.type == "
               "\"Microsoft.Devices/IotHubs\")')\n");
}

static void report_refusals(const char *what, const struct reg_doc *doc, const char *err)
{
    size_t kept = doc->refused < REGISTRY_REFUSALS_KEPT ? doc->refused : REGISTRY_REFUSALS_KEPT;

    for (size_t i = 0; i < kept; i++)
        fprintf(stderr, "warden registry: %s: refused %s\n", what, doc->refusal[i]);
    if (doc->refused > kept)
        fprintf(stderr, "warden registry: %s: ... and %zu more refused\n", what,
                doc->refused - kept);
    fprintf(stderr, "warden registry: %s: %s (nothing imported)\n", what, err);
}

/* Imports a registry document, all or nothing: database first, then the key store. */
static int registry_import_text(const struct config *cfg, struct reg_tx *tx, const char *what,
                                char *buf, size_t len)
{
    struct reg_summary sum;
    struct reg_outcome *out = NULL;
    struct reg_doc doc;
    char err[512];
    int rc = 0;

    bool parsed = registry_parse(buf, len, &doc, err, sizeof(err));
    /* The text holds keys: wipe it from memory now that they are taken. */
    OPENSSL_cleanse(buf, len);
    if (!parsed) {
        report_refusals(what, &doc, err);
        return EXIT_INVALID;
    }
    memset(&sum, 0, sizeof(sum));
    if (doc.n > 0 && (out = calloc(doc.n, sizeof(*out))) == NULL) {
        fprintf(stderr, "warden registry: out of memory (nothing imported)\n");
        rc = EXIT_RUNTIME;
    } else if (!registry_write(tx, &doc, out, err, sizeof(err))) {
        fprintf(stderr, "warden registry: %s (nothing imported)\n", err);
        rc = EXIT_RUNTIME;
    } else if (!keystore_put(cfg, &doc, out, tx->hub, &sum, err, sizeof(err))) {
        fprintf(stderr, "warden registry: the database is updated but the lab hub's key store "
                        "is not: %s\n", err);
        rc = EXIT_RUNTIME;
    } else {
        report(what, &doc, out, &sum, tx->creds);
    }
    free(out);
    registry_doc_free(&doc);
    return rc;
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
    json_t *doc = json_pack("{s:s, s:{s:s, s:{s:s?, s:s?}, s:{s:s?, s:s?}}, s:{s:s}}", "deviceId",
                            argv[2], "authentication", "type", opt[0], "symmetricKey", "primaryKey",
                            opt[1], "secondaryKey", opt[2], "x509Thumbprint", "primaryThumbprint",
                            opt[3], "secondaryThumbprint", opt[4], "tags", "SecurityGroup", opt[5]);
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

int import_cmd_registry(int argc, char **argv, struct store *s, const struct config *cfg)
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
