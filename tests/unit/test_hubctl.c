/*
 * Unit tests of the hub's control plane (imports/hubctl.c): certificates
 * added and deleted (database row, key store line, and the hub record of
 * each attempt), invalid PEM, duplicate and unknown names, diagnostic
 * settings set, replaced and deleted, unauthorized attempts, a key store
 * that cannot be written (nothing changes but the Failed record), and the
 * command line's exit codes. The certificates are made here with OpenSSL,
 * with a known expiry, and their thumbprints computed independently (SHA-1
 * over the DER). Run from the repository root.
 */
#include "../../imports/hubctl.h"
#include "../../imports/imports.h"
#include "eval_helpers.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#define NOT_AFTER_S 1798596184 /* 2026-12-30T02:03:04Z */

struct pem {
    char text[8192]; /* certificate, then (when asked) its private key */
    char thumbprint[41];
};

/* A self-signed P-256 certificate for cn, expiring at NOT_AFTER_S; with_key appends the key. */
static void make_pem(const char *cn, bool with_key, struct pem *p)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *n = X509_get_subject_name(x);
    BIO *b = BIO_new(BIO_s_mem());
    unsigned char *der = NULL, md[SHA_DIGEST_LENGTH];
    char *mem;
    long len;
    int dlen;

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    ASN1_TIME_set(X509_getm_notAfter(x), NOT_AFTER_S);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, key);
    X509_sign(x, key, EVP_sha256());
    PEM_write_bio_X509(b, x);
    if (with_key)
        PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
    len = BIO_get_mem_data(b, &mem);
    snprintf(p->text, sizeof(p->text), "%.*s", (int)len, mem);
    dlen = i2d_X509(x, &der);
    SHA1(der, (size_t)dlen, md);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(&p->thumbprint[2 * i], 3, "%02X", md[i]);
    OPENSSL_free(der);
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(key);
}

struct fixture {
    struct tdb t;
    char keystore[256];
    struct hubctl_ctx c;
};

static void fx_open(struct fixture *f)
{
    tdb_open(&f->t);
    snprintf(f->keystore, sizeof(f->keystore), "%s/warden-hub.keys", f->t.dir);
    f->c = (struct hubctl_ctx){f->t.db, "lab-hub", f->keystore, NULL, 1795946400000};
}

/* The key store file as text ("" when there is none). */
static void keystore_text(const struct fixture *f, char *out, size_t len)
{
    read_into(f->keystore, out, len);
}

/* The fields of hub record id, "category|operation|result|reason|name|has-config". */
static const char *record_of(struct fixture *f, long long id, char *out, size_t len)
{
    char q[512];

    snprintf(q, sizeof(q),
             "SELECT category || '|' || operation || '|' || result || '|' || coalesce(reason, '') "
             "|| '|' || coalesce(json_extract(details, '$.certificateName'), "
             "json_extract(details, '$.settingName'), '') || '|' || "
             "(json_extract(details, '$.config') IS NOT NULL) || '|' || hub || '|' || "
             "(recv_ms = 1795946400000 AND time_ms = recv_ms AND count = 1) "
             "FROM hub_operations WHERE id = %lld",
             id);
    return sql_text(&f->t, q, NULL, out, len);
}

static long long records(struct fixture *f)
{
    return sql_int(&f->t, "SELECT count(*) FROM hub_operations", NULL);
}

static void test_cert_add_stores_row_keystore_and_succeeded_record(void)
{
    struct fixture f;
    struct hubctl_out out;
    struct pem p;
    struct stat st;
    char buf[8192], line[4096];

    fx_open(&f);
    make_pem("lab-ca", false, &p);
    CHECK_INT(hubctl_cert_add(&f.c, "lab-ca", p.text, strlen(p.text), &out), HUBCTL_OK);
    CHECK(out.reason == NULL);
    CHECK_STR(out.thumbprint, p.thumbprint);
    CHECK_INT(out.not_after_ms, (long long)NOT_AFTER_S * 1000);
    CHECK_STR(sql_text(&f.t, "SELECT thumbprint FROM hub_certificates WHERE name = 'lab-ca'", NULL,
                       buf, sizeof(buf)),
              p.thumbprint);
    CHECK_INT(sql_int(&f.t, "SELECT not_after_ms FROM hub_certificates WHERE hub = 'lab-hub'", NULL),
              (long long)NOT_AFTER_S * 1000);
    CHECK_STR(sql_text(&f.t, "SELECT pem FROM hub_certificates", NULL, buf, sizeof(buf)), p.text);
    CHECK_STR(record_of(&f, 1, buf, sizeof(buf)),
              "Certificates|write|Succeeded||lab-ca|0|lab-hub|1");
    CHECK_INT(records(&f), 1);
    keystore_text(&f, buf, sizeof(buf));
    CHECK_CONTAINS(buf, "\ncert\tlab-ca\tMII");
    CHECK(stat(f.keystore, &st) == 0 && (st.st_mode & 0777) == 0640);
    /* The key store holds the DER: its SHA-1 is the thumbprint. */
    {
        const char *l = strstr(buf, "cert\tlab-ca\t");
        unsigned char der[4096], md[SHA_DIGEST_LENGTH];
        char hex[41];
        int n;

        snprintf(line, sizeof(line), "%s", l ? l + strlen("cert\tlab-ca\t") : "");
        line[strcspn(line, "\n")] = '\0';
        n = l ? EVP_DecodeBlock(der, (const unsigned char *)line, (int)strlen(line)) : -1;
        CHECK(n > 0);
        /* EVP_DecodeBlock counts the padding's zero bytes: drop them. */
        for (const char *e = line + strlen(line); n > 0 && e > line && e[-1] == '='; e--)
            n--;
        SHA1(der, n > 0 ? (size_t)n : 0, md);
        for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
            snprintf(&hex[2 * i], 3, "%02X", md[i]);
        CHECK_STR(hex, p.thumbprint);
    }
    tdb_close(&f.t);
}

static void test_cert_with_private_key_keeps_only_the_certificate(void)
{
    struct fixture f;
    struct hubctl_out out;
    struct pem p;
    char buf[8192];

    fx_open(&f);
    make_pem("with-key", true, &p);
    CHECK_CONTAINS(p.text, "PRIVATE KEY");
    CHECK_INT(hubctl_cert_add(&f.c, "with-key", p.text, strlen(p.text), &out), HUBCTL_OK);
    sql_text(&f.t, "SELECT pem FROM hub_certificates", NULL, buf, sizeof(buf));
    CHECK(strstr(buf, "PRIVATE KEY") == NULL);
    CHECK_CONTAINS(buf, "-----BEGIN CERTIFICATE-----");
    tdb_close(&f.t);
}

static void test_invalid_pem_refused_and_recorded_failed(void)
{
    static const char *const bad[] = {
        "",
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\nMIIB", /* cut short */
    };
    struct fixture f;
    struct hubctl_out out;
    struct pem p1, p2;
    char two[16384], buf[512];
    size_t i;

    fx_open(&f);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_INT(hubctl_cert_add(&f.c, "ca", bad[i], strlen(bad[i]), &out), HUBCTL_INVALID);
        CHECK_STR(out.reason, "InvalidPem");
        CHECK_STR(record_of(&f, (long long)i + 1, buf, sizeof(buf)),
                  "Certificates|write|Failed|InvalidPem|ca|0|lab-hub|1");
    }
    /* Two certificates in one file: which one was meant? */
    make_pem("a", false, &p1);
    make_pem("b", false, &p2);
    snprintf(two, sizeof(two), "%s%s", p1.text, p2.text);
    CHECK_INT(hubctl_cert_add(&f.c, "ca", two, strlen(two), &out), HUBCTL_INVALID);
    CHECK_CONTAINS(out.detail, "more than one");
    /* NULL (an unreadable file) is an attempt without a certificate. */
    CHECK_INT(hubctl_cert_add(&f.c, "ca", NULL, 0, &out), HUBCTL_INVALID);
    CHECK_STR(out.reason, "InvalidPem");
    CHECK_INT(records(&f), (long long)i + 2);
    CHECK_INT(sql_int(&f.t, "SELECT count(*) FROM hub_certificates", NULL), 0);
    CHECK(access(f.keystore, F_OK) != 0);
    tdb_close(&f.t);
}

static void test_bad_names_refused_as_invalid_name(void)
{
    static const char *const names[] = {"", "a/b", "tab\there", NULL};
    struct fixture f;
    struct hubctl_out out;
    struct pem p;
    char long_name[200];

    fx_open(&f);
    make_pem("x", false, &p);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        CHECK_INT(hubctl_cert_add(&f.c, names[i], p.text, strlen(p.text), &out),
                  HUBCTL_INVALID);
        CHECK_STR(out.reason, "InvalidName");
        CHECK_INT(hubctl_diag_delete(&f.c, names[i], &out), HUBCTL_INVALID);
    }
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    CHECK_INT(hubctl_cert_delete(&f.c, long_name, &out), HUBCTL_INVALID);
    CHECK_INT(records(&f), 9);
    CHECK_INT(sql_int(&f.t, "SELECT count(*) FROM hub_operations WHERE reason = 'InvalidName' "
                            "AND result = 'Failed'",
                      NULL),
              9);
    CHECK_INT(sql_int(&f.t, "SELECT count(*) FROM hub_certificates", NULL), 0);
    tdb_close(&f.t);
}

static void test_duplicate_name_refused_first_kept(void)
{
    struct fixture f;
    struct hubctl_out out;
    struct pem p1, p2;
    char buf[512];

    fx_open(&f);
    make_pem("first", false, &p1);
    make_pem("second", false, &p2);
    CHECK_INT(hubctl_cert_add(&f.c, "ca", p1.text, strlen(p1.text), &out), HUBCTL_OK);
    CHECK_INT(hubctl_cert_add(&f.c, "ca", p2.text, strlen(p2.text), &out), HUBCTL_EXISTS);
    CHECK_STR(out.reason, "CertificateAlreadyExists");
    CHECK_STR(record_of(&f, 2, buf, sizeof(buf)),
              "Certificates|write|Failed|CertificateAlreadyExists|ca|0|lab-hub|1");
    CHECK_STR(sql_text(&f.t, "SELECT thumbprint FROM hub_certificates", NULL, buf, sizeof(buf)),
              p1.thumbprint);
    CHECK_INT(sql_int(&f.t, "SELECT count(*) FROM hub_certificates", NULL), 1);
    tdb_close(&f.t);
}

static void test_cert_delete_removes_row_and_keystore_line(void)
{
    struct fixture f;
    struct hubctl_out out;
    struct pem p1, p2;
    char buf[8192];

    fx_open(&f);
    make_pem("one", false, &p1);
    make_pem("two", false, &p2);
    CHECK_INT(hubctl_cert_add(&f.c, "one", p1.text, strlen(p1.text), &out), HUBCTL_OK);
    CHECK_INT(hubctl_cert_add(&f.c, "two", p2.text, strlen(p2.text), &out), HUBCTL_OK);
    CHECK_INT(hubctl_cert_delete(&f.c, "one", &out), HUBCTL_OK);
    CHECK(out.reason == NULL);
    CHECK_STR(record_of(&f, 3, buf, sizeof(buf)), "Certificates|delete|Succeeded||one|0|lab-hub|1");
    CHECK_INT(sql_int(&f.t, "SELECT count(*) FROM hub_certificates WHERE name = 'one'", NULL), 0);
    CHECK_INT(sql_int(&f.t, "SELECT count(*) FROM hub_certificates WHERE name = 'two'", NULL), 1);
    keystore_text(&f, buf, sizeof(buf));
    CHECK(strstr(buf, "cert\tone\t") == NULL);
    CHECK_CONTAINS(buf, "cert\ttwo\t");
    tdb_close(&f.t);
}

static void test_unknown_names_refused_as_not_found(void)
{
    struct fixture f;
    struct hubctl_out out;
    char buf[512];

    fx_open(&f);
    CHECK_INT(hubctl_cert_delete(&f.c, "ghost", &out), HUBCTL_NOT_FOUND);
    CHECK_STR(out.reason, "CertificateNotFound");
    CHECK_STR(record_of(&f, 1, buf, sizeof(buf)),
              "Certificates|delete|Failed|CertificateNotFound|ghost|0|lab-hub|1");
    CHECK_INT(hubctl_diag_delete(&f.c, "ghost", &out), HUBCTL_NOT_FOUND);
    CHECK_STR(out.reason, "DiagnosticSettingNotFound");
    CHECK_STR(record_of(&f, 2, buf, sizeof(buf)),
              "DiagnosticSettings|delete|Failed|DiagnosticSettingNotFound|ghost|0|lab-hub|1");
    tdb_close(&f.t);
}

static const char setting_v1[] =
    "{\"name\": \"to-disk\", \"logs\": [{\"category\": \"Connections\", \"enabled\": true, "
    "\"retentionPolicy\": {\"enabled\": true, \"days\": 365}}], \"storageAccountId\": \"x\"}";
static const char setting_v2[] = /* no name: the name given is its name */
    "{\"logs\": [{\"category\": \"Connections\", \"enabled\": false}]}";

static void test_diag_set_replace_delete_with_records(void)
{
    struct fixture f;
    struct hubctl_out out;
    char buf[1024];

    fx_open(&f);
    CHECK_INT(hubctl_diag_set(&f.c, "to-disk", setting_v1, strlen(setting_v1), &out),
              HUBCTL_OK);
    CHECK_CONTAINS(out.detail, "added");
    CHECK_STR(sql_text(&f.t, "SELECT config_json FROM hub_diagnostic_settings", NULL, buf,
                       sizeof(buf)),
              "{\"name\":\"to-disk\",\"logs\":[{\"category\":\"Connections\",\"enabled\":true,"
              "\"retentionPolicy\":{\"enabled\":true,\"days\":365}}]}");
    CHECK_STR(record_of(&f, 1, buf, sizeof(buf)),
              "DiagnosticSettings|write|Succeeded||to-disk|1|lab-hub|1");
    /* details.config is the setting as stored, what the evaluator applies. */
    CHECK_INT(sql_int(&f.t, "SELECT json_extract(h.details, '$.config') = d.config_json "
                            "FROM hub_operations h, hub_diagnostic_settings d WHERE h.id = 1",
                      NULL),
              1);

    CHECK_INT(hubctl_diag_set(&f.c, "to-disk", setting_v2, strlen(setting_v2), &out),
              HUBCTL_OK);
    CHECK_CONTAINS(out.detail, "replaced");
    CHECK_INT(sql_int(&f.t, "SELECT count(*) FROM hub_diagnostic_settings", NULL), 1);
    CHECK_STR(sql_text(&f.t, "SELECT config_json FROM hub_diagnostic_settings", NULL, buf,
                       sizeof(buf)),
              "{\"name\":\"to-disk\",\"logs\":[{\"category\":\"Connections\",\"enabled\":false}]}");

    CHECK_INT(hubctl_diag_delete(&f.c, "to-disk", &out), HUBCTL_OK);
    CHECK_INT(sql_int(&f.t, "SELECT count(*) FROM hub_diagnostic_settings", NULL), 0);
    CHECK_STR(record_of(&f, 3, buf, sizeof(buf)),
              "DiagnosticSettings|delete|Succeeded||to-disk|0|lab-hub|1");
    tdb_close(&f.t);
}

static void test_invalid_setting_refused_nothing_changed(void)
{
    static const char *const bad[] = {
        "",
        "[1]",
        "{\"name\": \"other\", \"logs\": []}", /* names another setting */
        "{\"logs\": [{\"category\": \"Connections\"}]}", /* enabled missing */
        "{\"logs\": [{\"category\": \"C\", \"enabled\": true, \"retentionPolicy\": "
        "{\"enabled\": true, \"days\": -1}}]}",
        "{\"logs\": 5}",
        "{\"name\": \"to-disk\", \"name\": \"to-disk\"}",
    };
    struct fixture f;
    struct hubctl_out out;
    char buf[512];

    fx_open(&f);
    CHECK_INT(hubctl_diag_set(&f.c, "to-disk", setting_v1, strlen(setting_v1), &out),
              HUBCTL_OK);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_INT(hubctl_diag_set(&f.c, "to-disk", bad[i], strlen(bad[i]), &out),
                  HUBCTL_INVALID);
        CHECK_STR(out.reason, "InvalidSetting");
        CHECK_STR(record_of(&f, (long long)i + 2, buf, sizeof(buf)),
                  "DiagnosticSettings|write|Failed|InvalidSetting|to-disk|0|lab-hub|1");
    }
    CHECK_CONTAINS(sql_text(&f.t, "SELECT config_json FROM hub_diagnostic_settings", NULL, buf,
                            sizeof(buf)),
                   "\"days\":365");
    tdb_close(&f.t);
}

static void test_unauthorized_attempt_only_recorded(void)
{
    struct fixture f;
    char buf[512];

    fx_open(&f);
    f.c.source_ip = "192.0.2.7";
    hubctl_unauthorized(&f.c, HUBCTL_CERT_WRITE, "evil");
    hubctl_unauthorized(&f.c, HUBCTL_DIAG_DELETE, NULL);
    CHECK_STR(record_of(&f, 1, buf, sizeof(buf)),
              "Certificates|write|Failed|Unauthorized|evil|0|lab-hub|1");
    CHECK_STR(record_of(&f, 2, buf, sizeof(buf)),
              "DiagnosticSettings|delete|Failed|Unauthorized||0|lab-hub|1");
    CHECK_STR(sql_text(&f.t, "SELECT source_ip FROM hub_operations WHERE id = 1", NULL, buf,
                       sizeof(buf)),
              "192.0.2.7");
    CHECK_INT(sql_int(&f.t, "SELECT count(*) FROM hub_certificates", NULL), 0);
    tdb_close(&f.t);
}

/*
 * Repeats of one minute from one source add to one record; the next minute,
 * another action or another source starts its own; past 64 records of an
 * action in a minute the further sources share one without sourceIp.
 */
static void test_unauthorized_repeats_add_to_one_record_a_minute(void)
{
    struct fixture f;
    char buf[512], ip[32];

    fx_open(&f); /* now_ms 1795946400000 is on a minute */
    f.c.source_ip = "192.0.2.7";
    for (int i = 0; i < 1000; i++) {
        f.c.now_ms = 1795946400000 + i * 59; /* all within the minute */
        hubctl_unauthorized(&f.c, HUBCTL_CERT_WRITE, i == 0 ? "first" : "later");
    }
    CHECK_INT(records(&f), 1);
    CHECK_STR(sql_text(&f.t,
                       "SELECT count || ' ' || time_ms || ' ' || json_extract(details, "
                       "'$.certificateName') || ' ' || source_ip FROM hub_operations",
                       NULL, buf, sizeof(buf)),
              "1000 1795946400000 first 192.0.2.7");
    f.c.now_ms = 1795946460000; /* the next minute */
    hubctl_unauthorized(&f.c, HUBCTL_CERT_WRITE, "x");
    hubctl_unauthorized(&f.c, HUBCTL_CERT_DELETE, "x");
    hubctl_unauthorized(&f.c, HUBCTL_CERT_DELETE, "x");
    CHECK_INT(records(&f), 3);
    CHECK_INT(sql_int(&f.t, "SELECT sum(count) FROM hub_operations", NULL), 1003);
    for (int i = 0; i < 200; i++) {
        snprintf(ip, sizeof(ip), "198.51.100.%d", i);
        f.c.source_ip = ip;
        hubctl_unauthorized(&f.c, HUBCTL_DIAG_WRITE, "x");
    }
    CHECK_INT(sql_int(&f.t, "SELECT count(*) FROM hub_operations WHERE operation = 'write' AND "
                            "category = 'DiagnosticSettings'",
                      NULL),
              65);
    CHECK_INT(sql_int(&f.t, "SELECT count FROM hub_operations WHERE source_ip IS NULL", NULL),
              136);
    CHECK_INT(sql_int(&f.t, "SELECT sum(count) FROM hub_operations", NULL), 1203);
    tdb_close(&f.t);
}

static void test_keystore_failure_rolls_back_and_records_failed(void)
{
    struct fixture f;
    struct hubctl_out out;
    struct pem p;
    char buf[512];

    fx_open(&f);
    snprintf(f.keystore, sizeof(f.keystore), "%s/no-such-dir/warden-hub.keys", f.t.dir);
    make_pem("ca", false, &p);
    CHECK_INT(hubctl_cert_add(&f.c, "ca", p.text, strlen(p.text), &out), HUBCTL_FAILED);
    CHECK_STR(out.reason, "InternalError");
    CHECK_CONTAINS(out.detail, "key store");
    CHECK_INT(sql_int(&f.t, "SELECT count(*) FROM hub_certificates", NULL), 0);
    CHECK_INT(records(&f), 1);
    CHECK_STR(record_of(&f, 1, buf, sizeof(buf)),
              "Certificates|write|Failed|InternalError|ca|0|lab-hub|1");
    tdb_close(&f.t);
}

static int hub_cmd(struct tdb *t, int argc, char **argv)
{
    struct config cfg;
    int rc;

    config_defaults(&cfg);
    snprintf(cfg.db_path, sizeof(cfg.db_path), "%s", t->path);
    capture_begin(t);
    rc = hubctl_cmd(argc, argv, t->s, &cfg);
    capture_end(t);
    return rc;
}

static void test_cli_exit_codes_and_keystore_beside_db(void)
{
    struct tdb t;
    struct pem p;
    char path[256], keys[512], buf[8192];
    char *add[] = {"hub", "cert", "add", "cli-ca", path, NULL};
    char *del[] = {"hub", "cert", "delete", "cli-ca", path, NULL}; /* FILE accepted, unread */
    char *del2[] = {"hub", "cert", "delete", "cli-ca", NULL};
    char *set_missing[] = {"hub", "diag", "set", "d", "/nonexistent/file.json", NULL};
    char *usage1[] = {"hub", "cert", "add", "x", NULL};
    char *usage2[] = {"hub", "diag", "remove", "x", NULL};
    char *usage3[] = {"hub", "diag", "delete", "x", "y", NULL};

    tdb_open(&t);
    make_pem("cli", false, &p);
    tdb_file(&t, "ca.pem", p.text, path, sizeof(path));
    snprintf(keys, sizeof(keys), "%s/warden-hub.keys", t.dir);
    CHECK_INT(hub_cmd(&t, 5, add), 0);
    CHECK_CONTAINS(t.out, p.thumbprint);
    read_into(keys, buf, sizeof(buf));
    CHECK_CONTAINS(buf, "cert\tcli-ca\t");
    CHECK_INT(hub_cmd(&t, 5, add), 2);
    CHECK_CONTAINS(t.err, "CertificateAlreadyExists");
    CHECK_INT(hub_cmd(&t, 5, del), 0);
    read_into(keys, buf, sizeof(buf));
    CHECK(strstr(buf, "cert\tcli-ca") == NULL);
    CHECK_INT(hub_cmd(&t, 4, del2), 2);
    CHECK_CONTAINS(t.err, "CertificateNotFound");
    CHECK_INT(hub_cmd(&t, 5, set_missing), 2);
    CHECK_CONTAINS(t.err, "InvalidSetting");
    CHECK_INT(hub_cmd(&t, 4, usage1), 2);
    CHECK_CONTAINS(t.err, "usage");
    CHECK_INT(hub_cmd(&t, 4, usage2), 2);
    CHECK_INT(hub_cmd(&t, 5, usage3), 2);
    /* Usage errors are not attempts on the hub: five records, from the five actions. */
    CHECK_INT(sql_int(&t, "SELECT count(*) FROM hub_operations", NULL), 5);
    tdb_close(&t);
}

int main(void)
{
    RUN(test_cert_add_stores_row_keystore_and_succeeded_record);
    RUN(test_cert_with_private_key_keeps_only_the_certificate);
    RUN(test_invalid_pem_refused_and_recorded_failed);
    RUN(test_bad_names_refused_as_invalid_name);
    RUN(test_duplicate_name_refused_first_kept);
    RUN(test_cert_delete_removes_row_and_keystore_line);
    RUN(test_unknown_names_refused_as_not_found);
    RUN(test_diag_set_replace_delete_with_records);
    RUN(test_invalid_setting_refused_nothing_changed);
    RUN(test_unauthorized_attempt_only_recorded);
    RUN(test_unauthorized_repeats_add_to_one_record_a_minute);
    RUN(test_keystore_failure_rolls_back_and_records_failed);
    RUN(test_cli_exit_codes_and_keystore_beside_db);
    return CHECK_DONE();
}
