/* Unit tests of store/: migrations, the batch writer, dedup, rollups, retention. */
#include "../../store/store.h"
#include "check.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dbpath[64];

static struct store *fresh(void)
{
    char err[256];
    struct store *s;

    snprintf(dbpath, sizeof(dbpath), "/tmp/warden-test-store-%d.db", (int)getpid());
    unlink(dbpath);
    s = store_open(dbpath, err, sizeof(err));
    if (s == NULL)
        fprintf(stderr, "  store_open: %s\n", err);
    return s;
}

static void gone(struct store *s)
{
    char p[80];

    store_close(s);
    unlink(dbpath);
    snprintf(p, sizeof(p), "%s-wal", dbpath);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", dbpath);
    unlink(p);
}

static int64_t q(struct store *s, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;

    if (sqlite3_prepare_v2(store_sqlite(s), sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "  %s: %s\n", sql, sqlite3_errmsg(store_sqlite(s)));
        return -2;
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static struct store_flow flow(const char *remote, uint16_t port)
{
    struct store_flow f = {0};

    f.device_ms = STORE_NO_TIME;
    f.process_id = f.user_id = -1;
    ip_parse("192.168.1.20", &f.local);
    ip_parse(remote, &f.remote);
    f.local_port = 40000;
    f.remote_port = port;
    f.bytes_in = 100;
    f.bytes_out = 200;
    return f;
}

static void migrations_apply_once_and_reopen(void)
{
    struct store *s = fresh();
    char err[256];

    CHECK(s != NULL);
    CHECK_INT(store_schema_version(s), store_schema_latest());
    store_close(s);
    s = store_open(dbpath, err, sizeof(err));
    CHECK(s != NULL);
    CHECK_INT(store_schema_version(s), store_schema_latest());
    CHECK_INT(q(s, "PRAGMA journal_mode = WAL") >= -1, 1);
    gone(s);
}

static void newer_schema_is_refused(void)
{
    struct store *s = fresh();
    char err[256] = "";

    sqlite3_exec(store_sqlite(s), "PRAGMA user_version = 999", NULL, NULL, NULL);
    store_close(s);
    s = store_open(dbpath, err, sizeof(err));
    CHECK(s == NULL);
    CHECK(strstr(err, "newer") != NULL);
    if (s == NULL)
        s = fresh();
    gone(s);
}

static void rollback_forgets_devices_registered_in_the_batch(void)
{
    struct store *s = fresh();
    int64_t dev1, dev2;
    struct store_flow f = flow("8.8.8.8", 53);

    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_device(s, "dev-a", "lab-hub", 1000, &dev1) == STORE_OK);
    CHECK(store_flow_append(s, dev1, 1000, &f) == STORE_OK);
    store_batch_rollback(s);
    CHECK_INT(q(s, "SELECT count(*) FROM devices"), 0);
    CHECK_INT(q(s, "SELECT count(*) FROM addrs"), 0);
    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_device(s, "dev-b", "lab-hub", 1000, &dev2) == STORE_OK);
    CHECK(store_device(s, "dev-a", "lab-hub", 1000, &dev1) == STORE_OK);
    CHECK(store_flow_append(s, dev1, 1000, &f) == STORE_OK);
    CHECK(store_batch_commit(s, 1000) == STORE_OK);
    CHECK_INT(q(s, "SELECT count(*) FROM flows WHERE device_id = 'dev-a' AND remote_ip = '8.8.8.8'"), 1);
    gone(s);
}

static void invalid_device_ids_are_refused(void)
{
    struct store *s = fresh();
    int64_t dev;
    char long_id[200];

    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_device(s, long_id, "lab-hub", 1, &dev) == STORE_ERR_INVALID);
    CHECK(store_device(s, "a\tb", "lab-hub", 1, &dev) == STORE_ERR_INVALID);
    CHECK(store_device(s, "\xc3\x28", "lab-hub", 1, &dev) == STORE_ERR_INVALID);
    CHECK(store_device(s, "", "lab-hub", 1, &dev) == STORE_ERR_INVALID);
    CHECK(store_device(s, "dev1\xe2\x80\x8b", "lab-hub", 1, &dev) == STORE_ERR_INVALID);
    CHECK(store_device_find(s, "d\xd0\xb5v1", 1, &dev) == STORE_ERR_INVALID);
    store_batch_rollback(s);
    gone(s);
}

/*
 * ingest.max_auto_devices: find never registers, add registers up to the
 * cap, imported devices do not count, and an import frees the place of a
 * device it names.
 */
static void automatic_registrations_stop_at_the_cap(void)
{
    struct store *s = fresh();
    int64_t dev, a;

    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_device_find(s, "dev-a", 1000, &dev) == STORE_OK && dev == 0);
    CHECK_INT(q(s, "SELECT count(*) FROM devices"), 0);
    CHECK(store_device_add(s, "dev-a", "lab-hub", 1000, 2, &a) == STORE_OK && a != 0);
    CHECK(store_device_add(s, "dev-b", "lab-hub", 1000, 2, &dev) == STORE_OK && dev != 0);
    CHECK(store_device_add(s, "dev-c", "lab-hub", 1000, 2, &dev) == STORE_OK && dev == 0);
    /* A known device is found at the cap, and found by find. */
    CHECK(store_device_add(s, "dev-a", "lab-hub", 2000, 2, &dev) == STORE_OK && dev == a);
    CHECK(store_device_find(s, "dev-a", 2000, &dev) == STORE_OK && dev == a);
    CHECK(store_batch_commit(s, 2000) == STORE_OK);
    CHECK_INT(q(s, "SELECT count(*) FROM devices WHERE auto_registered = 1"), 2);
    CHECK_INT(q(s, "SELECT last_seen_ms FROM devices WHERE device_id = 'dev-a'"), 2000);
    /* What an import does (imports/registry_store.c): an imported device, and dev-b named. */
    CHECK(sqlite3_exec(store_sqlite(s),
                       "INSERT INTO devices (device_id, hub, first_seen_ms, last_seen_ms) "
                       "VALUES ('imported', 'lab-hub', 1, 1);"
                       "UPDATE devices SET auto_registered = 0 WHERE device_id = 'dev-b'",
                       NULL, NULL, NULL) == SQLITE_OK);
    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_device_find(s, "imported", 3000, &dev) == STORE_OK && dev != 0);
    CHECK(store_device_add(s, "dev-c", "lab-hub", 3000, 2, &dev) == STORE_OK && dev != 0);
    CHECK(store_device_add(s, "dev-d", "lab-hub", 3000, 2, &dev) == STORE_OK && dev == 0);
    CHECK(store_batch_commit(s, 3000) == STORE_OK);
    CHECK_INT(q(s, "SELECT count(*) FROM devices WHERE auto_registered = 1"), 2);
    CHECK_INT(q(s, "SELECT count(*) FROM devices"), 4);
    gone(s);
}

static void dedup_remembers_ids_for_one_to_two_windows(void)
{
    struct store *s;
    const uint8_t id[16] = {1, 2, 3};
    int64_t dev;
    bool dup;

    clock_set_ms(1000000);
    s = fresh();
    store_set_dedup_window(s, 60000);
    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_device(s, "dev-a", "lab-hub", 1000000, &dev) == STORE_OK);
    CHECK(store_event_seen(s, dev, id, sizeof(id), 0, &dup) == STORE_OK && !dup);
    CHECK(store_event_seen(s, dev, id, sizeof(id), 0, &dup) == STORE_OK && dup);
    CHECK(store_batch_commit(s, 0) == STORE_OK);
    /* One window later the generation turns over, but the id is still known. */
    clock_set_ms(1000000 + 61000);
    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_event_seen(s, dev, id, sizeof(id), 0, &dup) == STORE_OK && dup);
    CHECK(store_batch_commit(s, 0) == STORE_OK);
    /* Two turns after it was recorded it is forgotten, and recorded anew. */
    clock_set_ms(1000000 + 200000);
    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_event_seen(s, dev, id, sizeof(id), 0, &dup) == STORE_OK && !dup);
    CHECK(store_event_seen(s, dev, id, sizeof(id), 0, &dup) == STORE_OK && dup);
    CHECK(store_batch_commit(s, 0) == STORE_OK);
    /* Another device with the same event id is not a duplicate. */
    int64_t dev2;
    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_device(s, "dev-b", "lab-hub", 1, &dev2) == STORE_OK);
    CHECK(store_event_seen(s, dev2, id, sizeof(id), 0, &dup) == STORE_OK && !dup);
    /* The same id with other content (a board after a reboot) is a new event; its redelivery is not. */
    CHECK(store_event_seen(s, dev2, id, sizeof(id), 42, &dup) == STORE_OK && !dup);
    CHECK(store_event_seen(s, dev2, id, sizeof(id), 42, &dup) == STORE_OK && dup);
    CHECK(store_batch_commit(s, 0) == STORE_OK);
    clock_set_ms(-1);
    gone(s);
}

static void counts_aggregate_per_10s_bucket(void)
{
    struct store *s = fresh();
    int64_t dev;

    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_device(s, "dev-a", "lab-hub", 1000, &dev) == STORE_OK);
    store_count(s, dev, METRIC_D2C, 10000, 1);
    store_count(s, dev, METRIC_D2C, 19999, 2);
    store_count(s, dev, METRIC_D2C, 20000, 4);
    CHECK(store_batch_commit(s, 0) == STORE_OK);
    CHECK(store_batch_begin(s) == STORE_OK);
    store_count(s, dev, METRIC_D2C, 15000, 8);
    CHECK(store_batch_commit(s, 0) == STORE_OK);
    CHECK_INT(q(s, "SELECT value FROM device_counts WHERE bucket_ms = 10000 AND metric = 'd2c_messages'"), 11);
    CHECK_INT(q(s, "SELECT value FROM device_counts WHERE bucket_ms = 20000"), 4);
    /* Several metrics of one device and bucket share one row. */
    CHECK(store_batch_begin(s) == STORE_OK);
    store_count(s, dev, METRIC_FLOWS, 10000, 20);
    store_count(s, dev, METRIC_SECURITY_MESSAGES, 10000, 1);
    CHECK(store_batch_commit(s, 0) == STORE_OK);
    CHECK_INT(q(s, "SELECT count(*) FROM counts"), 2);
    CHECK_INT(q(s, "SELECT count(*) FROM device_counts WHERE bucket_ms = 10000"), 3);
    CHECK_INT(q(s, "SELECT value FROM device_counts WHERE bucket_ms = 10000 AND metric = 'flows'"), 20);
    gone(s);
}

static void rollup_summarises_flows_per_hour(void)
{
    struct store *s = fresh();
    struct store_flow a = flow("8.8.8.8", 53), b = flow("1.1.1.1", 443);
    int64_t dev;

    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_device(s, "dev-a", "lab-hub", 1000, &dev) == STORE_OK);
    CHECK(store_flow_append(s, dev, 3600000 + 1, &a) == STORE_OK);
    CHECK(store_flow_append(s, dev, 3600000 + 2, &a) == STORE_OK);
    CHECK(store_flow_append(s, dev, 3600000 + 3, &b) == STORE_OK);
    CHECK(store_batch_commit(s, 0) == STORE_OK);
    /* A batch that fails leaves nothing in the sums. */
    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_flow_append(s, dev, 3600000 + 4, &b) == STORE_OK);
    store_batch_rollback(s);
    bool more;
    /* Summed in memory: a slice-sized call leaves them until they are a minute old. */
    CHECK(store_rollup(s, 2, &more) == STORE_OK && !more);
    CHECK_INT(q(s, "SELECT count(*) FROM flows_hourly"), 0);
    /* "Everything now" writes them, in one transaction with the cursor. */
    CHECK(store_rollup(s, STORE_ROLLUP_ALL, &more) == STORE_OK && !more);
    CHECK_INT(q(s, "SELECT records FROM flows_hourly WHERE remote_ip = '8.8.8.8'"), 2);
    CHECK_INT(q(s, "SELECT bytes_out FROM flows_hourly WHERE remote_ip = '8.8.8.8'"), 400);
    CHECK_INT(q(s, "SELECT records FROM flows_hourly WHERE remote_ip = '1.1.1.1'"), 1);
    CHECK_INT(q(s, "SELECT count(*) FROM flows_hourly"), 2);
    CHECK_INT(q(s, "SELECT value FROM store_state WHERE key = 'rollup_flow_id'"), 3);
    gone(s);
}

/* After a crash the sums in memory are gone: the flows are rolled up from flow_pack, once. */
static void rollup_after_a_restart_reads_flow_pack(void)
{
    struct store *s = fresh();
    struct store_flow a = flow("8.8.8.8", 53), b = flow("1.1.1.1", 443);
    char err[256];
    int64_t dev;
    bool more;

    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_device(s, "dev-a", "lab-hub", 1000, &dev) == STORE_OK);
    CHECK(store_flow_append(s, dev, 3600000 + 1, &a) == STORE_OK);
    CHECK(store_flow_append(s, dev, 3600000 + 2, &a) == STORE_OK);
    CHECK(store_batch_commit(s, 0) == STORE_OK);
    CHECK(store_rollup(s, STORE_ROLLUP_ALL, &more) == STORE_OK); /* rows 1-2 from memory */
    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_flow_append(s, dev, 3600000 + 3, &b) == STORE_OK);
    CHECK(store_flow_append(s, dev, 3600000 + 4, &a) == STORE_OK);
    CHECK(store_batch_commit(s, 0) == STORE_OK);
    store_close(s); /* rows 3-4 were only summed in memory */
    s = store_open(dbpath, err, sizeof(err));
    CHECK(s != NULL);
    CHECK(store_rollup(s, 1, &more) == STORE_OK && more); /* in two goes: the cursor carries on */
    CHECK(store_rollup(s, 1, &more) == STORE_OK && !more);
    CHECK_INT(q(s, "SELECT records FROM flows_hourly WHERE remote_ip = '8.8.8.8'"), 3);
    CHECK_INT(q(s, "SELECT records FROM flows_hourly WHERE remote_ip = '1.1.1.1'"), 1);
    /* New flows after the restart are summed in memory again, from where SQL stopped. */
    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_device(s, "dev-a", "lab-hub", 1000, &dev) == STORE_OK);
    CHECK(store_flow_append(s, dev, 3600000 + 5, &b) == STORE_OK);
    CHECK(store_batch_commit(s, 0) == STORE_OK);
    CHECK(store_rollup(s, STORE_ROLLUP_ALL, &more) == STORE_OK && !more);
    CHECK_INT(q(s, "SELECT records FROM flows_hourly WHERE remote_ip = '1.1.1.1'"), 2);
    CHECK_INT(q(s, "SELECT sum(records) FROM flows_hourly"), 5);
    gone(s);
}

/* 1 when sql returns a row whose first column is 1 (for comparisons of text). */
static bool yes(struct store *s, const char *sql)
{
    return q(s, sql) == 1;
}

/* A message's flows are one flow_pack row; the flows view reads them as SPEC 3.2 says. */
static void flows_of_a_message_share_one_pack(void)
{
    struct store *s = fresh();
    struct store_flow a = flow("8.8.8.8", 53), b = flow("2001:db8::1", 443),
                      c = flow("1.1.1.1", 80);
    int64_t dev, other;

    a.protocol = STORE_UDP;
    a.direction = STORE_DIR_OUT;
    a.device_ms = 5000 - 250;
    b.process_id = 42;
    b.executable = "/bin/sh \"quoted\" \\ tab\t";
    b.commandline = "bad \xff utf-8";
    b.details = "{\"k\": \"v\"}";
    c.protocol = STORE_ICMP;
    c.direction = STORE_DIR_IN;
    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_device(s, "dev-a", "lab-hub", 5000, &dev) == STORE_OK);
    CHECK(store_device(s, "dev-b", "lab-hub", 5000, &other) == STORE_OK);
    CHECK(store_flow_append(s, dev, 5000, &a) == STORE_OK);
    CHECK(store_flow_append(s, dev, 5000, &b) == STORE_OK);
    CHECK(store_flow_append(s, dev, 5000, &c) == STORE_OK);
    CHECK(store_flow_append(s, other, 5000, &a) == STORE_OK);
    CHECK(store_batch_commit(s, 0) == STORE_OK);
    CHECK_INT(q(s, "SELECT count(*) FROM flow_pack"), 2);
    CHECK_INT(q(s, "SELECT n FROM flow_pack WHERE dev = 1"), 3);
    CHECK_INT(q(s, "SELECT count(*) FROM flow_pack WHERE json_valid(flows)"), 2);
    CHECK_INT(q(s, "SELECT count(*) FROM flows"), 4);
    CHECK_INT(q(s, "SELECT sum(flow_id) FROM flows"), 1 + 2 + 3 + 4);
    CHECK(yes(s, "SELECT device_ms = 4750 AND protocol = 'UDP' AND direction = 'out' AND "
                 "local_ip = '192.168.1.20' AND local_port = 40000 AND remote_port = 53 AND "
                 "bytes_in = 100 AND bytes_out = 200 AND process_id IS NULL AND details IS NULL "
                 "FROM flows WHERE flow_id = 1"));
    CHECK(yes(s, "SELECT device_ms IS NULL AND protocol = 'TCP' AND direction = 'unknown' AND "
                 "remote_ip = '2001:db8::1' AND process_id = 42 AND user_id IS NULL AND "
                 "executable = '/bin/sh \"quoted\" \\ tab' || char(9) AND "
                 "commandline = 'bad ' || char(255) || ' utf-8' AND details = '{\"k\": \"v\"}' "
                 "FROM flows WHERE flow_id = 2"));
    CHECK(yes(s, "SELECT protocol = 'ICMP' AND direction = 'in' AND device_id = 'dev-a' "
                 "FROM flows WHERE flow_id = 3"));
    CHECK(yes(s, "SELECT device_id = 'dev-b' AND hub = 'lab-hub' FROM flows WHERE flow_id = 4"));
    /* A batch that rolls back hands its ids out again. */
    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_flow_append(s, dev, 6000, &a) == STORE_OK);
    store_batch_rollback(s);
    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_device(s, "dev-a", "lab-hub", 7000, &dev) == STORE_OK);
    CHECK(store_flow_append(s, dev, 7000, &c) == STORE_OK);
    CHECK(store_batch_commit(s, 0) == STORE_OK);
    CHECK_INT(q(s, "SELECT max(flow_id) FROM flows"), 5);
    CHECK_INT(q(s, "SELECT recv_ms FROM flows WHERE flow_id = 5"), 7000);
    gone(s);
}

/* A message of more flows than a pack holds takes several packs; the ids stay dense. */
static void a_large_message_takes_several_packs(void)
{
    struct store *s = fresh();
    struct store_flow f = flow("8.8.8.8", 53);
    int64_t dev;

    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_device(s, "dev-a", "lab-hub", 1000, &dev) == STORE_OK);
    for (int i = 0; i < 600; i++) {
        f.local_port = (uint16_t)(1000 + i);
        CHECK(store_flow_append(s, dev, 1000, &f) == STORE_OK);
    }
    CHECK(store_batch_commit(s, 0) == STORE_OK);
    CHECK_INT(q(s, "SELECT count(*) FROM flow_pack"), 3);
    CHECK_INT(q(s, "SELECT sum(n) FROM flow_pack"), 600);
    CHECK_INT(q(s, "SELECT count(*) FROM flows WHERE local_port = flow_id + 999"), 600);
    gone(s);
}

/* store_pack_next reads back what store_flow_append packed, and nothing else. */
static void packed_flows_read_back(void)
{
    struct store *s = fresh();
    struct store_flow a = flow("8.8.8.8", 53), b = flow("1.1.1.1", 443);
    struct store_packed_flow f;
    sqlite3_stmt *st;
    char text[1024];
    size_t len = 0, pos = 0;
    int64_t dev;
    int n = 0;

    a.device_ms = 1000 - 7;
    a.bytes_in = 4000000000u;
    b.executable = "x\",]\\";
    b.user_id = 0;
    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_device(s, "dev-a", "lab-hub", 1000, &dev) == STORE_OK);
    CHECK(store_flow_append(s, dev, 1000, &a) == STORE_OK);
    CHECK(store_flow_append(s, dev, 1000, &b) == STORE_OK);
    CHECK(store_flow_append(s, dev, 1000, &a) == STORE_OK);
    CHECK(store_batch_commit(s, 0) == STORE_OK);
    CHECK(sqlite3_prepare_v2(store_sqlite(s), "SELECT flows FROM flow_pack", -1, &st, NULL) ==
          SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) {
        len = (size_t)sqlite3_column_bytes(st, 0);
        if (len < sizeof(text))
            memcpy(text, sqlite3_column_text(st, 0), len);
    }
    sqlite3_finalize(st);
    CHECK(len > 0 && len < sizeof(text));
    while (store_pack_next(text, len, &pos, &f)) {
        n++;
        CHECK_INT(f.rport, n == 2 ? 443 : 53);
        CHECK_INT(f.skew_ms, n == 2 ? STORE_NO_TIME : -7);
        CHECK_INT(f.bytes_in, n == 2 ? 100 : 4000000000LL);
        CHECK_INT(f.lport, 40000);
    }
    CHECK_INT(n, 3);
    CHECK_INT(pos, len - 1); /* stopped at the closing bracket */
    /* Every truncation reads at most what is whole, never past the end. */
    for (size_t cut = 0; cut < len; cut++) {
        char *copy = malloc(cut + 1);
        size_t p = 0;
        int m = 0;

        memcpy(copy, text, cut);
        while (store_pack_next(copy, cut, &p, &f))
            m++;
        CHECK(m <= 3 && p <= cut);
        free(copy);
    }
    static const char *const bad[] = {"", "x", "[", "[[]]", "[[1,2,3,4,5,6,7]]",
                                      "[[1,2,3,4,5,6,7,8,", "[[null,2,3,4,5,6,7,8]]",
                                      "[[1,2,3,4,5,6,7,12345678901234567890]]", "{}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pos = 0;
        CHECK(!store_pack_next(bad[i], strlen(bad[i]), &pos, &f));
    }
    gone(s);
}

/* A database of schema 2 (a flow a row in flow_raw) is upgraded in place: ids and values kept. */
static void migration_packs_the_flows_of_schema_2(void)
{
    static const char *const files[] = {"sql/001_ingest.sql", "sql/002_evaluator.sql"};
    struct store *s;
    sqlite3 *db;
    char err[256];
    int64_t dev;

    snprintf(dbpath, sizeof(dbpath), "/tmp/warden-test-store-%d.db", (int)getpid());
    unlink(dbpath);
    CHECK(sqlite3_open(dbpath, &db) == SQLITE_OK);
    for (size_t i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "r");
        static char text[256 * 1024];
        size_t n = f != NULL ? fread(text, 1, sizeof(text) - 1, f) : 0;

        CHECK(f != NULL && n > 0);
        if (f != NULL)
            fclose(f);
        text[n] = '\0';
        CHECK(sqlite3_exec(db, text, NULL, NULL, NULL) == SQLITE_OK);
    }
    CHECK(sqlite3_exec(
              db,
              "PRAGMA user_version = 2;"
              "INSERT INTO devices (id, device_id, hub, first_seen_ms, last_seen_ms) "
              "VALUES (1, 'old-dev', 'lab-hub', 1, 1);"
              "INSERT INTO addrs (id, ip, ip_blob) VALUES (1, '10.0.0.1', x'0a000001'), "
              "(2, '8.8.8.8', x'08080808');"
              "INSERT INTO flow_raw (id, recv_ms, dev, skew_ms, proto_dir, laddr, lport, raddr, "
              "rport, bytes_in, bytes_out) VALUES (7, 1000, 1, -5, 6, 1, 5000, 2, 53, 10, 20);"
              "INSERT INTO flow_raw (id, recv_ms, dev, proto_dir, laddr, lport, raddr, rport, "
              "bytes_in, bytes_out, executable) VALUES (9, 2000, 1, 0, 1, 5001, 2, 443, 1, 2, "
              "'a\"b');",
              NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    s = store_open(dbpath, err, sizeof(err));
    CHECK(s != NULL);
    if (s == NULL)
        return;
    CHECK_INT(store_schema_version(s), store_schema_latest());
    CHECK(yes(s, "SELECT device_ms = 995 AND protocol = 'UDP' AND direction = 'out' AND "
                 "remote_ip = '8.8.8.8' AND local_port = 5000 AND bytes_out = 20 "
                 "FROM flows WHERE flow_id = 7"));
    CHECK(yes(s, "SELECT executable = 'a\"b' AND device_ms IS NULL FROM flows WHERE flow_id = 9"));
    /* New flows carry on after the old ids. */
    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_device(s, "old-dev", "lab-hub", 3000, &dev) == STORE_OK);
    struct store_flow f = flow("8.8.8.8", 53);
    CHECK(store_flow_append(s, dev, 3000, &f) == STORE_OK);
    CHECK(store_batch_commit(s, 0) == STORE_OK);
    CHECK_INT(q(s, "SELECT max(flow_id) FROM flows"), 10);
    gone(s);
}

static void retention_deletes_by_age_and_merges_old_counts(void)
{
    struct store *s = fresh();
    struct store_retention r = {.raw_ms = 2 * 86400000LL, .hourly_ms = 30 * 86400000LL,
                                .counts_ms = 90 * 86400000LL, .fine_ms = 86400000LL,
                                .results_ms = 365 * 86400000LL, .max_db_bytes = INT64_MAX,
                                .min_free_bytes = 0};
    int64_t now = 100 * 86400000LL, dev;
    struct store_flow f = flow("8.8.8.8", 53);
    bool more = true;

    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_device(s, "dev-a", "lab-hub", now, &dev) == STORE_OK);
    for (int i = 0; i < 50; i++)
        CHECK(store_flow_append(s, dev, now - 3 * 86400000LL + i, &f) == STORE_OK); /* too old */
    for (int i = 0; i < 5; i++)
        CHECK(store_flow_append(s, dev, now - 1000 + i, &f) == STORE_OK); /* recent */
    /* Six 10-second buckets of one minute two days ago, and one far too old. */
    for (int i = 0; i < 6; i++)
        store_count(s, dev, METRIC_D2C, now - 2 * 86400000LL + i * 10000, i + 1);
    store_count(s, dev, METRIC_D2C, now - 91 * 86400000LL, 1);
    CHECK(store_batch_commit(s, 0) == STORE_OK);
    for (int i = 0; i < 100 && more; i++)
        CHECK(store_prune(s, &r, now, 7, &more) == STORE_OK);
    CHECK(!more);
    CHECK_INT(q(s, "SELECT count(*) FROM flows"), 5);
    CHECK_INT(q(s, "SELECT count(*) FROM counts WHERE bucket_ms < 9 * 86400000"), 0);
    /* Even when everything is old, the newest flow stays, so flow ids never go back. */
    r.raw_ms = 1;
    for (int i = 0; i < 100 && more; i++)
        CHECK(store_prune(s, &r, now, 7, &more) == STORE_OK);
    more = true;
    for (int i = 0; i < 100 && more; i++)
        CHECK(store_prune(s, &r, now + 86400000LL, 7, &more) == STORE_OK);
    CHECK_INT(q(s, "SELECT count(*) FROM flows"), 1);
    r.raw_ms = 2 * 86400000LL;
    CHECK_INT(q(s, "SELECT count(*) FROM counts"), 1);
    CHECK_INT(q(s, "SELECT d2c_messages FROM counts"), 21);
    CHECK_INT(q(s, "SELECT bucket_ms % 60000 FROM counts"), 0);
    CHECK_INT(q(s, "SELECT bucket_s FROM counts"), 60);
    gone(s);
}

static void size_cap_deletes_oldest_raw_flows_first(void)
{
    struct store *s = fresh();
    struct store_retention r = {.raw_ms = 365 * 86400000LL, .hourly_ms = 365 * 86400000LL,
                                .counts_ms = 365 * 86400000LL, .fine_ms = 365 * 86400000LL,
                                .results_ms = 365 * 86400000LL, .max_db_bytes = 0,
                                .min_free_bytes = 0};
    struct store_flow f = flow("8.8.8.8", 53);
    int64_t dev, now = 10 * 86400000LL, first;
    bool more;

    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_device(s, "dev-a", "lab-hub", now, &dev) == STORE_OK);
    for (int i = 0; i < 1000; i++)
        CHECK(store_flow_append(s, dev, now + i, &f) == STORE_OK);
    CHECK(store_batch_commit(s, 0) == STORE_OK);
    r.max_db_bytes = store_used_bytes(s) - 1;
    CHECK(store_prune(s, &r, now, 100, &more) == STORE_OK);
    CHECK(more);
    first = q(s, "SELECT min(recv_ms) FROM flows");
    CHECK_INT(q(s, "SELECT count(*) FROM flows"), 900);
    CHECK_INT(first, now + 100);
    gone(s);
}

int main(void)
{
    RUN(migrations_apply_once_and_reopen);
    RUN(newer_schema_is_refused);
    RUN(rollback_forgets_devices_registered_in_the_batch);
    RUN(invalid_device_ids_are_refused);
    RUN(automatic_registrations_stop_at_the_cap);
    RUN(dedup_remembers_ids_for_one_to_two_windows);
    RUN(counts_aggregate_per_10s_bucket);
    RUN(rollup_summarises_flows_per_hour);
    RUN(rollup_after_a_restart_reads_flow_pack);
    RUN(flows_of_a_message_share_one_pack);
    RUN(a_large_message_takes_several_packs);
    RUN(packed_flows_read_back);
    RUN(migration_packs_the_flows_of_schema_2);
    RUN(retention_deletes_by_age_and_merges_old_counts);
    RUN(size_cap_deletes_oldest_raw_flows_first);
    return CHECK_DONE();
}
