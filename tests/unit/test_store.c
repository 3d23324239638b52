/* Unit tests of store/: migrations, the batch writer, dedup, rollups, retention. */
#include "../../store/store.h"
#include "check.h"

#include <sqlite3.h>
#include <stdlib.h>
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
    store_batch_rollback(s);
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
    CHECK(store_event_seen(s, dev, id, sizeof(id), &dup) == STORE_OK && !dup);
    CHECK(store_event_seen(s, dev, id, sizeof(id), &dup) == STORE_OK && dup);
    CHECK(store_batch_commit(s, 0) == STORE_OK);
    /* One window later the generation turns over, but the id is still known. */
    clock_set_ms(1000000 + 61000);
    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_event_seen(s, dev, id, sizeof(id), &dup) == STORE_OK && dup);
    CHECK(store_batch_commit(s, 0) == STORE_OK);
    /* Two turns after it was recorded it is forgotten, and recorded anew. */
    clock_set_ms(1000000 + 200000);
    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_event_seen(s, dev, id, sizeof(id), &dup) == STORE_OK && !dup);
    CHECK(store_event_seen(s, dev, id, sizeof(id), &dup) == STORE_OK && dup);
    CHECK(store_batch_commit(s, 0) == STORE_OK);
    /* Another device with the same event id is not a duplicate. */
    int64_t dev2;
    CHECK(store_batch_begin(s) == STORE_OK);
    CHECK(store_device(s, "dev-b", "lab-hub", 1, &dev2) == STORE_OK);
    CHECK(store_event_seen(s, dev2, id, sizeof(id), &dup) == STORE_OK && !dup);
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

/* After a crash the sums in memory are gone: the rows are rolled up from flow_raw, once. */
static void rollup_after_a_restart_reads_flow_raw(void)
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
    CHECK_INT(q(s, "SELECT count(*) FROM flow_raw"), 5);
    CHECK_INT(q(s, "SELECT count(*) FROM counts WHERE bucket_ms < 9 * 86400000"), 0);
    /* Even when everything is old, the newest flow stays, so rowids never go back. */
    r.raw_ms = 1;
    for (int i = 0; i < 100 && more; i++)
        CHECK(store_prune(s, &r, now, 7, &more) == STORE_OK);
    more = true;
    for (int i = 0; i < 100 && more; i++)
        CHECK(store_prune(s, &r, now + 86400000LL, 7, &more) == STORE_OK);
    CHECK_INT(q(s, "SELECT count(*) FROM flow_raw"), 1);
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
    first = q(s, "SELECT min(recv_ms) FROM flow_raw");
    CHECK_INT(q(s, "SELECT count(*) FROM flow_raw"), 900);
    CHECK_INT(first, now + 100);
    gone(s);
}

int main(void)
{
    RUN(migrations_apply_once_and_reopen);
    RUN(newer_schema_is_refused);
    RUN(rollback_forgets_devices_registered_in_the_batch);
    RUN(invalid_device_ids_are_refused);
    RUN(dedup_remembers_ids_for_one_to_two_windows);
    RUN(counts_aggregate_per_10s_bucket);
    RUN(rollup_summarises_flows_per_hour);
    RUN(rollup_after_a_restart_reads_flow_raw);
    RUN(retention_deletes_by_age_and_merges_old_counts);
    RUN(size_cap_deletes_oldest_raw_flows_first);
    return CHECK_DONE();
}
