/*
 * Retention and the size cap (SPEC 3.2). Every step deletes or merges at most
 * a budget of rows in its own short transaction: raw tables are arrival
 * ordered with an index on recv_ms, so the oldest rows are at the left edge
 * of their B-trees and go cheaply, without rewriting anything else.
 */
#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#define MINUTE_MS 60000
#define HOUR_MS 3600000

/* Raw tables, each with an id rowid and recv_ms index, pruned by age. */
static const char *const raw_deletes[] = {
    /*
     * The newest flow pack is never deleted: the evaluator reads flows after
     * an id cursor, and an emptied table would hand out small ids again.
     */
    "DELETE FROM flow_pack WHERE id IN (SELECT id FROM flow_pack WHERE recv_ms < ?1 "
    "AND id < (SELECT max(id) FROM flow_pack) ORDER BY recv_ms LIMIT ?2)",
    "DELETE FROM listening_ports WHERE id IN "
    "(SELECT id FROM listening_ports WHERE recv_ms < ?1 ORDER BY recv_ms LIMIT ?2)",
    "DELETE FROM system_info WHERE id IN "
    "(SELECT id FROM system_info WHERE recv_ms < ?1 ORDER BY recv_ms LIMIT ?2)",
    "DELETE FROM heartbeats WHERE id IN "
    "(SELECT id FROM heartbeats WHERE recv_ms < ?1 ORDER BY recv_ms LIMIT ?2)",
    "DELETE FROM events_other WHERE id IN "
    "(SELECT id FROM events_other WHERE recv_ms < ?1 ORDER BY recv_ms LIMIT ?2)",
    "DELETE FROM hub_operations WHERE id IN "
    "(SELECT id FROM hub_operations WHERE recv_ms < ?1 ORDER BY recv_ms LIMIT ?2)",
    "DELETE FROM dead_letters WHERE id IN "
    "(SELECT id FROM dead_letters WHERE recv_ms < ?1 ORDER BY recv_ms LIMIT ?2)",
};

static const char NEXT_FINE_BUCKET[] =
    "SELECT min(bucket_ms) FROM counts WHERE bucket_ms >= ?1 AND bucket_s = 10";
static const char HOURLY_DELETE[] =
    "DELETE FROM flow_hourly WHERE hour_ms = "
    "(SELECT min(hour_ms) FROM flow_hourly WHERE hour_ms < ?1)";
static const char COUNTS_DELETE[] =
    "DELETE FROM counts WHERE (bucket_ms, dev) IN "
    "(SELECT bucket_ms, dev FROM counts WHERE bucket_ms < ?1 ORDER BY bucket_ms LIMIT ?2)";
static const char RESULTS_DELETE[] =
    "DELETE FROM alerts WHERE alert_id IN (SELECT alert_id FROM alerts "
    "WHERE status = 'Resolved' AND end_ms < ?1 LIMIT ?2)";
static const char TRANSITIONS_DELETE[] =
    "DELETE FROM alert_transitions WHERE alert_id NOT IN (SELECT alert_id FROM alerts) "
    "AND id IN (SELECT id FROM alert_transitions WHERE at_ms < ?1 LIMIT ?2)";
static const char RECS_DELETE[] =
    "DELETE FROM recommendations WHERE rec_id IN (SELECT rec_id FROM recommendations "
    "WHERE state = 'Resolved' AND resolved_ms < ?1 LIMIT ?2)";
static const char OLDEST_FLOWS_DELETE[] =
    "DELETE FROM flow_pack WHERE id IN (SELECT id FROM flow_pack "
    "WHERE id < (SELECT max(id) FROM flow_pack) ORDER BY id LIMIT ?2)";
static const char OLDEST_HOURLY_DELETE[] =
    "DELETE FROM flow_hourly WHERE hour_ms = (SELECT min(hour_ms) FROM flow_hourly)";

/* Run one bounded delete in its own transaction; *n is the rows it removed. */
static enum store_err run_step(sqlite3 *db, const char *sql, int64_t cutoff, int64_t budget,
                               int64_t *n)
{
    sqlite3_stmt *st;
    int rc;

    *n = 0;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return STORE_ERR_IO;
    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, cutoff);
        if (sqlite3_bind_parameter_count(st) >= 2)
            sqlite3_bind_int64(st, 2, budget);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
    }
    if (rc != SQLITE_DONE) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return (rc & 0xff) == SQLITE_FULL ? STORE_ERR_FULL : STORE_ERR_IO;
    }
    *n = sqlite3_changes(db);
    return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? STORE_OK : STORE_ERR_IO;
}

static int64_t query_int(sqlite3 *db, const char *sql, int64_t dflt)
{
    sqlite3_stmt *st;
    int64_t v = dflt;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return dflt;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

int64_t store_used_bytes(struct store *s)
{
    sqlite3 *db = store_sqlite(s);

    return (query_int(db, "PRAGMA page_count", 0) - query_int(db, "PRAGMA freelist_count", 0)) *
           query_int(db, "PRAGMA page_size", 4096);
}

static int64_t free_disk_bytes(sqlite3 *db)
{
    const char *path = sqlite3_db_filename(db, "main");
    struct statvfs vfs;

    if (path == NULL || *path == '\0' || statvfs(path, &vfs) != 0)
        return INT64_MAX;
    return (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
}

/*
 * Merge the 10-second counts of one minute older than the fine retention
 * into one 1-minute bucket per device and metric. A cursor in store_state
 * says where merging got to, so old minutes are never scanned again.
 */
static enum store_err merge_minute(sqlite3 *db, int64_t fine_cutoff, bool *done)
{
    static const char create_tmp[] =
        "CREATE TEMP TABLE IF NOT EXISTS merge_tmp (dev INTEGER, m0, m1, m2, m3, m4, m5, m6, m7, m8)";
    static const char sum_minute[] =
        "INSERT INTO merge_tmp SELECT dev, sum(d2c_messages), sum(c2d_messages), "
        "sum(c2d_rejected_messages), sum(direct_method_invokes), sum(twin_updates), "
        "sum(queue_purges), sum(unauthorized_operations), sum(security_messages), sum(flows) "
        "FROM counts WHERE bucket_ms >= ?1 AND bucket_ms < ?1 + 60000 GROUP BY dev";
    static const char delete_minute[] =
        "DELETE FROM counts WHERE bucket_ms >= ?1 AND bucket_ms < ?1 + 60000";
    static const char insert_minute[] =
        "INSERT INTO counts (bucket_ms, dev, bucket_s, d2c_messages, c2d_messages, "
        "c2d_rejected_messages, direct_method_invokes, twin_updates, queue_purges, "
        "unauthorized_operations, security_messages, flows) "
        "SELECT ?1, dev, 60, m0, m1, m2, m3, m4, m5, m6, m7, m8 FROM merge_tmp";
    static const char empty_tmp[] = "DELETE FROM merge_tmp";
    static const char move_cursor[] =
        "INSERT INTO store_state (key, value) VALUES ('merge_fine_ms', ?1 + 60000) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value";
    static const char *const steps[] = {create_tmp,    sum_minute, delete_minute,
                                        insert_minute, empty_tmp,  move_cursor};
    int64_t cursor = query_int(db, "SELECT value FROM store_state WHERE key = 'merge_fine_ms'", 0);
    int64_t minute;
    sqlite3_stmt *st;

    /* The next minute holding 10-second buckets, skipping gaps in the data. */
    if (sqlite3_prepare_v2(db, NEXT_FINE_BUCKET, -1, &st, NULL) != SQLITE_OK)
        return STORE_ERR_IO;
    sqlite3_bind_int64(st, 1, cursor);
    minute = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL
                 ? sqlite3_column_int64(st, 0)
                 : -1;
    sqlite3_finalize(st);
    if (minute < 0 || minute - minute % MINUTE_MS + MINUTE_MS > fine_cutoff) {
        *done = true;
        return STORE_OK;
    }
    minute -= minute % MINUTE_MS;
    *done = false;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return STORE_ERR_IO;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int rc = sqlite3_prepare_v2(db, steps[i], -1, &st, NULL);
        if (rc == SQLITE_OK) {
            if (sqlite3_bind_parameter_count(st) >= 1)
                sqlite3_bind_int64(st, 1, minute);
            rc = sqlite3_step(st);
            sqlite3_finalize(st);
        }
        if (rc != SQLITE_DONE) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return (rc & 0xff) == SQLITE_FULL ? STORE_ERR_FULL : STORE_ERR_IO;
        }
    }
    return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? STORE_OK : STORE_ERR_IO;
}

void config_retention(const struct config *cfg, struct store_retention *r)
{
    r->raw_ms = cfg->retention_raw_ms;
    r->hourly_ms = cfg->retention_hourly_ms;
    r->counts_ms = cfg->retention_counts_ms;
    r->fine_ms = cfg->retention_fine_ms;
    r->results_ms = cfg->retention_results_ms;
    r->max_db_bytes = cfg->retention_max_db_bytes;
    r->min_free_bytes = cfg->retention_min_free_bytes;
}

enum store_err store_prune(struct store *s, const struct store_retention *r, int64_t now_ms,
                           int64_t budget, bool *more)
{
    sqlite3 *db = store_sqlite(s);
    enum store_err e = STORE_OK;
    int64_t n;
    bool done;

    WARDEN_ASSERT(!store_batch_open(s));
    *more = false;
    for (size_t i = 0; i < sizeof(raw_deletes) / sizeof(raw_deletes[0]) && e == STORE_OK; i++) {
        e = run_step(db, raw_deletes[i], now_ms - r->raw_ms, budget, &n);
        *more |= n == budget;
    }
    if (e == STORE_OK)
        e = run_step(db, HOURLY_DELETE, now_ms - r->hourly_ms, budget, &n);
    *more |= n > 0;
    if (e == STORE_OK)
        e = run_step(db, COUNTS_DELETE, now_ms - r->counts_ms, budget, &n);
    *more |= n == budget;
    /* Merge at most ten minutes a call: bounded work, and it catches up. */
    for (int i = 0; i < 10 && e == STORE_OK; i++) {
        e = merge_minute(db, now_ms - r->fine_ms, &done);
        if (done)
            break;
        *more |= i == 9;
    }
    if (e == STORE_OK)
        e = run_step(db, RESULTS_DELETE, now_ms - r->results_ms, budget, &n);
    if (e == STORE_OK)
        e = run_step(db, TRANSITIONS_DELETE, now_ms - r->results_ms, budget, &n);
    if (e == STORE_OK)
        e = run_step(db, RECS_DELETE, now_ms - r->results_ms, budget, &n);
    /* Over the size cap, or short of disk: the oldest raw data goes first. */
    if (e == STORE_OK &&
        (store_used_bytes(s) > r->max_db_bytes || free_disk_bytes(db) < r->min_free_bytes)) {
        e = run_step(db, OLDEST_FLOWS_DELETE, 0, budget, &n);
        if (e == STORE_OK && n == 0)
            e = run_step(db, OLDEST_HOURLY_DELETE, 0, budget, &n);
        *more |= n > 0;
        if (n > 0)
            log_warn("database over its size cap or the disk short of space: deleted the %lld "
                     "oldest raw rows",
                     (long long)n);
    }
    return e;
}
