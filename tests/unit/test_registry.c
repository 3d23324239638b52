/*
 * Unit tests of the device registry import (imports/registry.c and registry_store.c, SPEC 4.2):
 * an IoT Hub identity export imported into a scratch database, key
 * fingerprints (equal keys, equal fingerprints; the key itself nowhere in
 * the database or the output), thumbprint normalisation, rejections that
 * name the device, and all-or-nothing. Run from the repository root.
 */
#include "../../evaluator/evaluator.h"
#include "../../imports/imports.h"
#include "eval_helpers.h"

#include <openssl/evp.h>
#include <sys/stat.h>

#define FIXTURE "tests/fixtures/registry/iothub_export.json"

/* The keys of the fixture, which must never reach the database. */
static const char *const fixture_keys[] = {
    "2byi4O2va+lRlHWbPM84/IpH3yfSHkB2CoiAq9BryO4=", "nGqtOA5nf+qHbpzMioqlDMbKGkdApE3ZFOHoZ0oEw+Q=",
    "YKWyrQkKCX3z40i0ofKJDUKTu4AaN/EmGNa5Y27mNio=", "5+BrtFmkLxAb/yhqPnezfKe1NDkNm7sQLdsK+XZAGkM=",
    "YOalxZUui0JfxB+vJa8sGVJU0J8kM1ZKoim5UTwS8fY=",
};
#define N_KEYS (sizeof(fixture_keys) / sizeof(fixture_keys[0]))

static const char sql_fp[] =
    "SELECT fingerprint FROM device_credentials WHERE device_id || '/' || kind = ?1";

static int import(struct tdb *t, const char *path, const char *hub)
{
    char *argv[] = {"registry", "import", (char *)path, "--hub", (char *)hub, NULL};
    int rc;

    capture_begin(t);
    rc = import_cmd_registry(hub ? 5 : 3, argv, t->s, &t->cfg);
    capture_end(t);
    return rc;
}

static int import_text(struct tdb *t, const char *json)
{
    char path[256];

    tdb_file(t, "registry.json", json, path, sizeof(path));
    return import(t, path, NULL);
}

/* Hex SHA-256 of the bytes that key (base64) encodes, computed here independently. */
static void expected_fingerprint(const char *key, char out[65])
{
    unsigned char raw[128], md[32];
    unsigned int mdlen;
    int n = EVP_DecodeBlock(raw, (const unsigned char *)key, (int)strlen(key));
    size_t pad = strlen(key) - strcspn(key, "=");

    EVP_Digest(raw, (size_t)n - pad, md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void test_export_imports_devices_groups_and_auth(void)
{
    struct tdb t;
    char text[256];

    tdb_open(&t);
    CHECK_INT(import(&t, FIXTURE, NULL), 0);
    CHECK_CONTAINS(t.out,
                   "5 devices: 5 added, 0 changed, 0 unchanged; 8 credentials fingerprinted");
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM devices", NULL), 5);
    CHECK_STR(sql_text(&t, "SELECT security_group FROM devices WHERE device_id = ?1", "sensor-01",
                       text, sizeof(text)),
              "production");
    CHECK_STR(sql_text(&t, "SELECT security_group FROM devices WHERE device_id = ?1", "sensor-03",
                       text, sizeof(text)),
              "default"); /* tags: null */
    CHECK_STR(sql_text(&t, "SELECT security_group FROM devices WHERE device_id = ?1", "camera-07",
                       text, sizeof(text)),
              "default"); /* no tags at all */
    CHECK_STR(sql_text(&t, "SELECT auth_type FROM devices WHERE device_id = ?1", "gateway-01", text,
                       sizeof(text)),
              "selfSigned");
    CHECK_STR(sql_text(&t, "SELECT auth_type FROM devices WHERE device_id = ?1", "camera-07", text,
                       sizeof(text)),
              "certificateAuthority");
    CHECK_STR(sql_text(&t, "SELECT hub FROM devices WHERE device_id = ?1", "sensor-02", text,
                       sizeof(text)),
              "lab-hub");
    /* Registered, never seen: both times are the import time. */
    CHECK_INT(sql_int(&t,
                      "SELECT first_seen_ms = last_seen_ms AND last_seen_ms > 0 FROM devices "
                      "WHERE device_id = ?1",
                      "camera-07"),
              1);
    CHECK_INT(
        sql_int(&t, "SELECT count(*) FROM device_credentials WHERE device_id = ?1", "camera-07"),
        0);
    tdb_close(&t);
}

static void test_equal_keys_give_equal_fingerprints(void)
{
    struct tdb t;
    char a[80], b[80], c[80], want[65];

    tdb_open(&t);
    CHECK_INT(import(&t, FIXTURE, NULL), 0);
    sql_text(&t, sql_fp, "sensor-01/sas_primary", a, sizeof(a));
    sql_text(&t, sql_fp, "sensor-03/sas_primary", b, sizeof(b));
    sql_text(&t, sql_fp, "sensor-01/sas_secondary", c, sizeof(c));
    CHECK_INT(strlen(a), 64);
    CHECK_STR(a, b);
    CHECK(strcmp(a, c) != 0);
    expected_fingerprint(fixture_keys[0], want);
    CHECK_STR(a, want);
    /* The same key without its padding is the same key. */
    CHECK_INT(import_text(&t,
                          "[{\"deviceId\": \"sensor-09\", \"authentication\": {\"type\": \"sas\","
                          " \"symmetricKey\": {\"primaryKey\": "
                          "\"2byi4O2va+lRlHWbPM84/IpH3yfSHkB2CoiAq9BryO4\"}}}]"),
              0);
    CHECK_STR(sql_text(&t, sql_fp, "sensor-09/sas_primary", b, sizeof(b)), a);
    tdb_close(&t);
}

/* True when needle occurs anywhere in the file at path (the database or its WAL). */
static bool file_contains(const char *path, const char *needle)
{
    size_t len;
    FILE *f = fopen(path, "rb");
    char *buf;
    bool found;

    if (f == NULL)
        return false;
    fclose(f);
    buf = slurp(path, &len);
    found = memmem(buf, len, needle, strlen(needle)) != NULL;
    free(buf);
    return found;
}

/* Every text column of every table, searched for needle. */
static long long rows_containing(struct tdb *t, const char *needle)
{
    sqlite3_stmt *tables, *cols;
    long long hits = 0;

    sqlite3_prepare_v2(t->db, "SELECT name FROM sqlite_master WHERE type = 'table'", -1, &tables,
                       NULL);
    while (sqlite3_step(tables) == SQLITE_ROW) {
        const char *table = (const char *)sqlite3_column_text(tables, 0);
        char sql[512];

        snprintf(sql, sizeof(sql), "SELECT name FROM pragma_table_info('%s')", table);
        sqlite3_prepare_v2(t->db, sql, -1, &cols, NULL);
        while (sqlite3_step(cols) == SQLITE_ROW) {
            const char *col = (const char *)sqlite3_column_text(cols, 0);
            char q[512];
            long long n;

            snprintf(q, sizeof(q),
                     "SELECT count(*) FROM \"%s\" WHERE instr(CAST(\"%s\" AS TEXT), ?1)", table,
                     col);
            n = sql_int(t, q, needle);
            CHECK(n >= 0);
            hits += n > 0 ? n : 0;
        }
        sqlite3_finalize(cols);
    }
    sqlite3_finalize(tables);
    return hits;
}

static void test_secret_never_stored_nor_printed(void)
{
    struct tdb t;
    char path[256];

    tdb_open(&t);
    CHECK_INT(import(&t, FIXTURE, NULL), 0);
    /* The scans find what is there (device ids, fingerprints)... */
    CHECK(rows_containing(&t, "sensor-01") >= 2);
    CHECK(rows_containing(&t, "71939224708d35f4") == 1);
    for (size_t i = 0; i < N_KEYS; i++) {
        char head[21];

        /* ...and no key. A prefix of the key catches it stored whole, truncated or re-encoded with
         * padding. */
        snprintf(head, sizeof(head), "%s", fixture_keys[i]);
        CHECK_INT(rows_containing(&t, head), 0);
        CHECK(strstr(t.out, head) == NULL);
        CHECK(strstr(t.err, head) == NULL);
    }
    /* Nor anywhere in the files, free pages and WAL included. */
    sqlite3_exec(t.db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    CHECK(file_contains(t.path, "gateway-01"));
    for (size_t i = 0; i < N_KEYS; i++) {
        char head[21];

        snprintf(head, sizeof(head), "%s", fixture_keys[i]);
        CHECK(!file_contains(t.path, head));
        snprintf(path, sizeof(path), "%s-wal", t.path);
        CHECK(!file_contains(path, head));
    }
    /* A bad key is reported without being quoted. */
    CHECK_INT(import_text(&t, "[{\"deviceId\": \"leaky\", \"authentication\": {\"symmetricKey\":"
                              " {\"primaryKey\": \"c2VjcmV0IGtleQ==!\"}}}]"),
              2);
    CHECK_CONTAINS(t.err, "device \"leaky\" (element 0): authentication.symmetricKey.primaryKey "
                          "is not a base64 key");
    CHECK(strstr(t.err, "c2VjcmV0IGtleQ") == NULL);
    tdb_close(&t);
}

static void test_thumbprints_normalised(void)
{
    struct tdb t;
    char a[80];

    tdb_open(&t);
    CHECK_INT(import(&t, FIXTURE, NULL), 0);
    CHECK_STR(sql_text(&t, sql_fp, "gateway-01/x509_primary", a, sizeof(a)),
              "71939224708d35f4b1389527d9be867e7d490738");
    CHECK_STR(sql_text(&t, sql_fp, "gateway-01/x509_secondary", a, sizeof(a)),
              "6f37088e83d8d0b395ae724ba2186435f3e59eef875bfe89c65758c24d367fde");
    /* Spaces, colons and case do not matter. */
    CHECK_INT(import_text(&t, "[{\"deviceId\": \"gateway-02\", \"authentication\": {\"type\": "
                              "\"selfSigned\", \"x509Thumbprint\": {\"primaryThumbprint\": "
                              "\"71 93 92 24 70 8d 35 f4 b1 38 95 27 d9 be 86 7e 7d 49 07 38\","
                              " \"secondaryThumbprint\": \"6F:37:08:8E:83:D8:D0:B3:95:AE:72:4B:A2:"
                              "18:64:35:F3:E5:9E:EF:87:5B:FE:89:C6:57:58:C2:4D:36:7F:DE\"}}}]"),
              0);
    CHECK_STR(sql_text(&t, sql_fp, "gateway-02/x509_primary", a, sizeof(a)),
              "71939224708d35f4b1389527d9be867e7d490738");
    CHECK_STR(sql_text(&t, sql_fp, "gateway-02/x509_secondary", a, sizeof(a)),
              "6f37088e83d8d0b395ae724ba2186435f3e59eef875bfe89c65758c24d367fde");
    tdb_close(&t);
}

static void test_bad_thumbprint_rejected_naming_device(void)
{
    static const char *const bad[] = {
        "71939224708D35F4B1389527D9BE867E7D49073",                     /* 39 digits */
        "71939224708D35F4B1389527D9BE867E7D4907381",                   /* 41 */
        "71939224708D35F4B1389527D9BE867E7D49073G",                    /* not hex */
        "71-93-92-24-70-8D-35-F4-B1-38-95-27-D9-BE-86-7E-7D-49-07-38", /* '-' is no separator */
    };
    struct tdb t;
    char json[512];

    tdb_open(&t);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(
            json, sizeof(json),
            "[{\"deviceId\": \"ok-1\"}, {\"deviceId\": \"cam-%zu\", \"authentication\": "
            "{\"type\": \"selfSigned\", \"x509Thumbprint\": {\"primaryThumbprint\": \"%s\"}}}]",
            i, bad[i]);
        CHECK_INT(import_text(&t, json), 2);
        {
            char want[128];
            snprintf(want, sizeof(want),
                     "device \"cam-%zu\" (element 1): authentication."
                     "x509Thumbprint.primaryThumbprint is not a SHA-1 or "
                     "SHA-256 thumbprint",
                     i);
            CHECK_CONTAINS(t.err, want);
        }
    }
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM devices", NULL), 0);
    tdb_close(&t);
}

static void test_duplicate_device_rejected(void)
{
    struct tdb t;

    tdb_open(&t);
    CHECK_INT(
        import_text(&t, "[{\"deviceId\": \"a\"}, {\"deviceId\": \"b\"}, {\"deviceId\": \"a\"}]"),
        2);
    CHECK_CONTAINS(t.err, "device \"a\" (element 2): the device is also element 0");
    CHECK_CONTAINS(t.err, "nothing imported");
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM devices", NULL), 0);
    tdb_close(&t);
}

static void test_import_is_all_or_nothing(void)
{
    struct tdb t;
    char text[64];

    tdb_open(&t);
    CHECK_INT(import(&t, FIXTURE, NULL), 0);
    /* A valid change to sensor-01 followed by an invalid element: nothing changes. */
    CHECK_INT(
        import_text(&t, "[{\"deviceId\": \"sensor-01\", \"tags\": {\"SecurityGroup\": \"x\"}},"
                        " {\"deviceId\": \"new-1\"},"
                        " {\"deviceId\": \"new-2\", \"tags\": {\"SecurityGroup\": \"no good\"}}]"),
        2);
    CHECK_CONTAINS(t.err, "device \"new-2\" (element 2): tags.SecurityGroup must be a group name");
    CHECK_STR(sql_text(&t, "SELECT security_group FROM devices WHERE device_id = ?1", "sensor-01",
                       text, sizeof(text)),
              "production");
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM devices", NULL), 5);
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM device_credentials", NULL), 8);
    tdb_close(&t);
}

static void test_reimport_updates_in_place(void)
{
    struct tdb t;
    char text[64];
    long long id;

    tdb_open(&t);
    /* Seen by the ingester first, on another hub. */
    sql_exec(&t, "INSERT INTO devices (device_id, hub, first_seen_ms, last_seen_ms, os_info)"
                 " VALUES ('sensor-01', 'hub-b', 1000, 2000, 'ThreadX 6.4')");
    id = sql_int(&t, "SELECT id FROM devices WHERE device_id = ?1", "sensor-01");
    CHECK_INT(import(&t, FIXTURE, NULL), 0);
    CHECK_CONTAINS(t.out, "5 devices: 4 added, 1 changed, 0 unchanged");
    CHECK_INT(sql_int(&t, "SELECT id FROM devices WHERE device_id = ?1", "sensor-01"), id);
    CHECK_STR(sql_text(&t,
                       "SELECT hub || '|' || security_group || '|' || os_info || '|' || "
                       "first_seen_ms FROM devices WHERE device_id = ?1",
                       "sensor-01", text, sizeof(text)),
              "hub-b|production|ThreadX 6.4|1000");
    /*
     * A new export without the secondary key: it goes. Without tags the group
     * stays: a Device object (device-identity show) carries no tags at all.
     */
    CHECK_INT(import_text(&t,
                          "[{\"deviceId\": \"sensor-01\", \"authentication\": {\"type\": \"sas\","
                          " \"symmetricKey\": {\"primaryKey\": "
                          "\"YOalxZUui0JfxB+vJa8sGVJU0J8kM1ZKoim5UTwS8fY=\","
                          " \"secondaryKey\": null}}}]"),
              0);
    CHECK_INT(
        sql_int(&t, "SELECT count(*) FROM device_credentials WHERE device_id = ?1", "sensor-01"),
        1);
    CHECK_STR(sql_text(&t, "SELECT security_group FROM devices WHERE device_id = ?1", "sensor-01",
                       text, sizeof(text)),
              "production");
    /* --hub places new devices, and moves the ones it names. */
    {
        char path[256];
        tdb_file(&t, "two.json", "[{\"deviceId\": \"sensor-01\"}, {\"deviceId\": \"fresh\"}]", path,
                 sizeof(path));
        CHECK_INT(import(&t, path, "hub-c"), 0);
    }
    CHECK_STR(
        sql_text(&t, "SELECT hub FROM devices WHERE device_id = ?1", "fresh", text, sizeof(text)),
        "hub-c");
    CHECK_STR(sql_text(&t, "SELECT hub FROM devices WHERE device_id = ?1", "sensor-01", text,
                       sizeof(text)),
              "hub-c");
    tdb_close(&t);
}

/* registry_parse() alone, as the fuzz target and the web API use it. */
static void expect_parse_error(const char *json, const char *needle)
{
    struct reg_doc doc;
    char err[512] = "", all[REGISTRY_REFUSALS_KEPT * 330 + 512];
    size_t used;

    memset(&doc, 0, sizeof(doc));
    CHECK(!registry_parse(json, strlen(json), &doc, err, sizeof(err)));
    CHECK(doc.ids == NULL && doc.n == 0);
    /* The reason is in err (the document) or in the refusal of its element. */
    used = (size_t)snprintf(all, sizeof(all), "%s", err);
    for (size_t i = 0; i < doc.refused && i < REGISTRY_REFUSALS_KEPT && used < sizeof(all); i++)
        used += (size_t)snprintf(all + used, sizeof(all) - used, "\n%s", doc.refusal[i]);
    CHECK_CONTAINS(all, needle);
    registry_doc_free(&doc);
}

/* Each shape gives the same first identity. */
static void expect_devices(const char *json, enum reg_shape shape, size_t n, const char *auth)
{
    struct reg_doc doc;
    char err[512] = "";

    memset(&doc, 0, sizeof(doc));
    CHECK(registry_parse(json, strlen(json), &doc, err, sizeof(err)));
    CHECK_INT(doc.n, n);
    CHECK_STR(registry_shape_name(doc.shape), registry_shape_name(shape));
    if (doc.n >= 1) {
        CHECK_STR(doc.ids[0].device_id, "dev-1");
        CHECK_STR(doc.ids[0].auth_type, auth);
    }
    registry_doc_free(&doc);
}

static void test_parse_every_shape(void)
{
    expect_devices("{\"deviceId\": \"dev-1\", \"authentication\": {\"type\": \"sas\"}}",
                   REG_SHAPE_DEVICE, 1, "sas");
    expect_devices("[{\"deviceId\": \"dev-1\", \"authenticationType\": \"selfSigned\"}]",
                   REG_SHAPE_ARRAY, 1, "selfSigned");
    expect_devices("{\"id\": \"dev-1\", \"authentication\": {\"type\": \"none\"}}\n\n",
                   REG_SHAPE_DEVICE, 1, "none");
    expect_devices("{\"id\": \"dev-1\", \"authentication\": {\"type\": \"none\"}}\n"
                   "{\"id\": \"dev-2\"}\n",
                   REG_SHAPE_LINES, 2, "none");
}

static void test_parse_shapes_and_types(void)
{
    struct reg_doc doc;
    char err[256];
    const char *bulk = "[{\"id\": \"bulk-1\", \"eTag\": \"x\", \"status\": \"enabled\","
                       " \"authentication\": {\"type\": \"none\"}}]";

    /* The bulk export calls the device id "id". */
    memset(&doc, 0, sizeof(doc));
    CHECK(registry_parse(bulk, strlen(bulk), &doc, err, sizeof(err)));
    CHECK_INT(doc.n, 1);
    if (doc.n == 1) {
        CHECK_STR(doc.ids[0].device_id, "bulk-1");
        CHECK_STR(doc.ids[0].auth_type, "none");
        CHECK_STR(doc.ids[0].status, "enabled");
    }
    registry_doc_free(&doc);
    CHECK(registry_parse("[]", 2, &doc, err, sizeof(err)));
    CHECK(doc.n == 0 && doc.ids == NULL);
    registry_doc_free(&doc);
    expect_parse_error("[\"a\"]", "element 0: an identity must be an object");
    expect_parse_error("[{}]", "element 0: deviceId is required");
    expect_parse_error("[{\"deviceId\": \"\"}]", "element 0: deviceId is not an IoT Hub device id: empty");
    expect_parse_error("[{\"deviceId\": \"tab\\there\"}]",
                       "element 0: deviceId is not an IoT Hub device id: has a control character");
    expect_parse_error("[{\"deviceId\": 12}]", "element 0: deviceId must be a string");
    /* IoT Hub's alphabet (issue 14); the element is named, the id is not echoed. */
    expect_parse_error("[{\"deviceId\": \"ok-1\"}, {\"deviceId\": \"dev1\\u200b\"}]",
                       "element 1: deviceId is not an IoT Hub device id: not ASCII");
    expect_parse_error("[{\"deviceId\": \"d\xd0\xb5v1\"}]",
                       "element 0: deviceId is not an IoT Hub device id: not ASCII");
    expect_parse_error("[{\"id\": \"dev 1\"}]", "element 0: id is not an IoT Hub device id: has a space");
    expect_parse_error("[{\"deviceId\": \"a\", \"authentication\": {\"type\": \"password\"}}]",
                       "device \"a\" (element 0): authentication.type must be sas, selfSigned,");
    expect_parse_error("[{\"deviceId\": \"a\", \"authentication\": {\"symmetricKey\": "
                       "{\"primaryKey\": 5}}}]",
                       "authentication.symmetricKey.primaryKey must be a string");
    expect_parse_error("[{\"deviceId\": \"a\", \"authentication\": []}]",
                       "authentication must be an object");
    expect_parse_error("[{\"deviceId\": \"a\", \"tags\": []}]", "tags must be an object");
    expect_parse_error("[{\"deviceId\": \"a\", \"status\": \"off\"}]",
                       "status must be \"enabled\" or \"disabled\"");
    expect_parse_error("[{\"deviceId\": \"a\"}", "invalid JSON at line 1");
}

/* The device's line in the lab hub's key store (beside the database), or "". */
static void keystore_line(struct tdb *t, const char *device, char *out, size_t outlen)
{
    char path[256], want[160];
    size_t len;
    char *buf, *line, *save = NULL;

    snprintf(path, sizeof(path), "%s/warden-hub.keys", t->dir);
    snprintf(want, sizeof(want), "device\t%s\t", device);
    out[0] = '\0';
    if ((buf = slurp(path, &len)) == NULL)
        return;
    for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
        if (strncmp(line, want, strlen(want)) == 0)
            snprintf(out, outlen, "%s", line);
    free(buf);
}

static const char lines_doc[] =
    "{\"id\":\"on-1\",\"status\":\"enabled\",\"authentication\":{\"symmetricKey\":{\"primaryKey\":"
    "\"b24tMSBwcmltYXJ5IGtleQ==\"}}}\n"
    "{\"id\":\"off-1\",\"status\":\"disabled\",\"authentication\":{\"symmetricKey\":{"
    "\"primaryKey\":"
    "\"b2ZmLTEgcHJpbWFyeSBrZXk=\"}}}\n";

static void test_status_stored_reported_and_reenabled(void)
{
    struct tdb t;
    char text[512], path[256];

    tdb_open(&t);
    tdb_file(&t, "devices.txt", lines_doc, path, sizeof(path));
    CHECK_INT(import(&t, path, NULL), 0);
    CHECK_CONTAINS(t.out, "(JSON lines): 2 devices: 2 added, 0 changed, 0 unchanged");
    CHECK_CONTAINS(t.out, "registry: 1 disabled: the lab hub refuses its logins");
    CHECK_STR(sql_text(&t, "SELECT status FROM devices WHERE device_id = ?1", "off-1", text,
                       sizeof(text)),
              "disabled");
    keystore_line(&t, "off-1", text, sizeof(text));
    CHECK_STR(text, "device\toff-1\tsas\tb2ZmLTEgcHJpbWFyeSBrZXk=\t-\t-\t-\tdisabled");
    keystore_line(&t, "on-1", text, sizeof(text));
    CHECK_STR(text, "device\ton-1\tsas\tb24tMSBwcmltYXJ5IGtleQ==\t-\t-\t-");
    /* The same document again: nothing to do, and the key store is left alone. */
    {
        struct stat before, after;
        char keys[256];
        snprintf(keys, sizeof(keys), "%s/warden-hub.keys", t.dir);
        CHECK(stat(keys, &before) == 0);
        CHECK_INT(import(&t, path, NULL), 0);
        CHECK(stat(keys, &after) == 0);
        CHECK(before.st_ino == after.st_ino); /* a save renames a new file into place */
    }
    CHECK_CONTAINS(t.out, "2 devices: 0 added, 0 changed, 2 unchanged; 0 credentials");
    /* Imported again "enabled": changed, and said so. */
    CHECK_INT(import_text(&t, "{\"id\":\"off-1\",\"status\":\"Enabled\"}"), 0);
    CHECK_CONTAINS(t.out, "changed   off-1: status disabled -> enabled");
    keystore_line(&t, "off-1", text, sizeof(text));
    CHECK_STR(text, "device\toff-1\tsas\tb2ZmLTEgcHJpbWFyeSBrZXk=\t-\t-\t-");
    tdb_close(&t);
}

/* What an element does not state is kept: a twin has no keys, an export without keys none. */
static void test_unstated_fields_are_kept(void)
{
    struct tdb t;
    char text[512];

    tdb_open(&t);
    CHECK_INT(import_text(&t, "{\"deviceId\": \"dev-1\", \"status\": \"enabled\", "
                              "\"authentication\": {\"type\": \"sas\", \"symmetricKey\": "
                              "{\"primaryKey\": \"ZGV2LTEga2V5\"}}}"),
              0);
    CHECK_INT(import_text(&t, "[{\"deviceId\": \"dev-1\", \"authenticationType\": \"sas\", "
                              "\"x509Thumbprint\": {\"primaryThumbprint\": null}, "
                              "\"tags\": {\"SecurityGroup\": \"lab\"}, \"status\": \"disabled\"}]"),
              0);
    CHECK_CONTAINS(t.out, "changed   dev-1: status enabled -> disabled, group default -> lab");
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM device_credentials WHERE device_id = ?1", "dev-1"),
              1);
    keystore_line(&t, "dev-1", text, sizeof(text));
    CHECK_STR(text, "device\tdev-1\tsas\tZGV2LTEga2V5\t-\t-\t-\tdisabled");
    CHECK_INT(import_text(&t, "{\"id\": \"dev-1\", \"authentication\": null, \"tags\": null}"), 0);
    CHECK_CONTAINS(t.out, "changed   dev-1: group lab -> default");
    CHECK_STR(sql_text(&t, "SELECT status FROM devices WHERE device_id = ?1", "dev-1", text,
                       sizeof(text)),
              "disabled");
    /* A Device object's authentication is all its credentials: the key it leaves out goes. */
    CHECK_INT(import_text(&t, "{\"deviceId\": \"dev-1\", \"authentication\": {\"type\": "
                              "\"selfSigned\", \"x509Thumbprint\": {\"primaryThumbprint\": "
                              "\"71939224708d35f4b1389527d9be867e7d490738\"}}}"),
              0);
    CHECK_CONTAINS(t.out, "authentication sas -> selfSigned, primary key removed, primary "
                          "thumbprint added");
    keystore_line(&t, "dev-1", text, sizeof(text));
    CHECK_STR(text, "device\tdev-1\tselfSigned\t-\t-\t71939224708d35f4b1389527d9be867e7d490738\t-"
                    "\tdisabled");
    tdb_close(&t);
}

static void test_lines_refused_by_line_all_or_nothing(void)
{
    struct tdb t;

    tdb_open(&t);
    CHECK_INT(import_text(&t, "{\"id\": \"a-1\"}\n"
                              "\n"
                              "{\"id\": \"a-2\", \"status\": 1}\n"
                              "{\"id\": \"a-3\"\n"
                              "{\"id\": \"a-1\"}\n"
                              "{\"id\": \"a-4\", \"importMode\": \"deleteIfMatchETag\"}\n"),
              2);
    CHECK_CONTAINS(t.err, "refused device \"a-2\" (line 3): status must be");
    CHECK_CONTAINS(t.err, "refused line 4: invalid JSON at column 12: truncated");
    CHECK_CONTAINS(t.err, "refused device \"a-1\" (line 5): the device is also line 1");
    CHECK_CONTAINS(t.err, "refused device \"a-4\" (line 6): importMode deleteIfMatchETag deletes");
    CHECK_CONTAINS(t.err, "4 of 5 devices refused (nothing imported)");
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM devices", NULL), 0);
    tdb_close(&t);
}

static void test_state_export(void)
{
    struct reg_doc doc;
    char err[256];
    static const char state[] =
        "\xef\xbb\xbf{\"arm\": {\"resources\": []}, \"configurations\": {},"
        " \"devices\": {\"gw-1\": {\"identity\": {\"authentication\": {\"type\": \"sas\","
        " \"symmetricKey\": {\"primaryKey\": \"Z3ctMQ==\"}}, \"status\": \"disabled\"},"
        " \"modules\": {\"m1\": {}, \"m2\": {}}, \"twin\": {\"tags\": {\"SecurityGroup\": "
        "\"gw\"}}},"
        " \"cam-1\": {\"identity\": {}, \"parent\": \"gw-1\"}}}";

    CHECK(registry_parse(state, strlen(state), &doc, err, sizeof(err)));
    CHECK_INT(doc.shape, REG_SHAPE_STATE_EXPORT);
    CHECK_INT(doc.n, 2);
    CHECK_INT(doc.modules, 2);
    CHECK(doc.has_arm);
    if (doc.n == 2) {
        CHECK_STR(doc.ids[0].device_id, "gw-1");
        CHECK_STR(doc.ids[0].status, "disabled");
        CHECK_STR(doc.ids[0].security_group, "gw");
        CHECK(doc.ids[0].has_cred[CRED_SAS_PRIMARY] && doc.ids[0].states_sas);
        CHECK_STR(doc.ids[1].security_group, ""); /* no tags: left as it is */
        CHECK(!doc.ids[1].states_sas && !doc.ids[1].states_x509);
    }
    registry_doc_free(&doc);
    expect_parse_error("{\"devices\": {\"bad id\": {\"identity\": {}}}}",
                       "devices member 0: the key is not an IoT Hub device id: has a space");
    expect_parse_error("{\"devices\": {\"d-1\": {\"twin\": {}}}}",
                       "device \"d-1\": identity must be an object");
    expect_parse_error("{\"devices\": {\"d-1\": {\"identity\": {\"deviceId\": \"d-2\"}}}}",
                       "device \"d-1\": identity.deviceId is not the device's key");
    expect_parse_error("{\"devices\": []}", "devices must be an object");
}

/* The key store's eighth field: "disabled", or nothing (as a store written before it). */
static void test_keystore_disabled_field(void)
{
    static const char ok[] = "warden-hub-keys\t1\n"
                             "device\ta\tsas\tYQ==\t-\t-\t-\n"
                             "device\tb\tsas\tYg==\t-\t-\t-\tdisabled\n";
    static const char *const bad[] = {
        "warden-hub-keys\t1\ndevice\tc\tsas\tYw==\t-\t-\t-\tenabled\n",
        "warden-hub-keys\t1\ndevice\tc\tsas\tYw==\t-\t-\t-\tdisabled\textra\n",
    };
    struct hub_keys k;
    char err[256];

    CHECK(hub_keys_parse(ok, strlen(ok), &k, err, sizeof(err)));
    CHECK_INT(k.ndevices, 2);
    if (k.ndevices == 2)
        CHECK(!hub_keys_find(&k, "a")->disabled && hub_keys_find(&k, "b")->disabled);
    hub_keys_free(&k);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(!hub_keys_parse(bad[i], strlen(bad[i]), &k, err, sizeof(err)));
        CHECK_CONTAINS(err, "line 2: malformed record");
    }
}

int main(void)
{
    RUN(test_export_imports_devices_groups_and_auth);
    RUN(test_equal_keys_give_equal_fingerprints);
    RUN(test_secret_never_stored_nor_printed);
    RUN(test_thumbprints_normalised);
    RUN(test_bad_thumbprint_rejected_naming_device);
    RUN(test_duplicate_device_rejected);
    RUN(test_import_is_all_or_nothing);
    RUN(test_reimport_updates_in_place);
    RUN(test_parse_shapes_and_types);
    RUN(test_parse_every_shape);
    RUN(test_status_stored_reported_and_reenabled);
    RUN(test_unstated_fields_are_kept);
    RUN(test_lines_refused_by_line_all_or_nothing);
    RUN(test_state_export);
    RUN(test_keystore_disabled_field);
    return CHECK_DONE();
}
