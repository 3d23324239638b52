/*
 * The lowest floor of store/: the text of the prepared statements, the
 * metric names, and the helpers that map SQLite's result codes to the
 * store's errors and bind, step and reset a statement. Every other file of
 * store/ calls these; these call nothing else of store/.
 */
#include "internal.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

const char *const store_stmt_sql[ST_COUNT_STMTS] = {
    [ST_DEVICE_GET] = "SELECT id FROM devices WHERE device_id = ?1",
    [ST_DEVICE_ADD] = "INSERT INTO devices (device_id, hub, first_seen_ms, last_seen_ms, "
                      "auto_registered) VALUES (?1, ?2, ?3, ?3, 1)",
    [ST_DEVICE_AUTO_COUNT] = "SELECT count(*) FROM devices WHERE auto_registered = 1",
    [ST_DEVICE_SEEN] = "UPDATE devices SET last_seen_ms = max(last_seen_ms, ?2) WHERE id = ?1",
    [ST_DEVICE_INFO] = "UPDATE devices SET module_id = coalesce(?2, module_id), "
                       "agent_version = coalesce(?3, agent_version), "
                       "module_version = coalesce(?4, module_version), "
                       "os_info = coalesce(?5, os_info), "
                       "clock_skew_ms = coalesce(?6, clock_skew_ms), "
                       "activity_interval_s = coalesce(?7, activity_interval_s), "
                       "heartbeat_interval_s = coalesce(?8, heartbeat_interval_s) WHERE id = ?1",
    [ST_ADDR_GET] = "SELECT id FROM addrs WHERE ip = ?1",
    [ST_ADDR_ADD] = "INSERT INTO addrs (ip, ip_blob) VALUES (?1, ?2)",
    [ST_EVENT_CHECK0] = "SELECT 1 FROM event_ids_0 WHERE key = ?1",
    [ST_EVENT_CHECK1] = "SELECT 1 FROM event_ids_1 WHERE key = ?1",
    [ST_EVENT_ADD0] = "INSERT OR IGNORE INTO event_ids_0 (key) VALUES (?1)",
    [ST_EVENT_ADD1] = "INSERT OR IGNORE INTO event_ids_1 (key) VALUES (?1)",
    [ST_FLOW_ADD] =
        "INSERT INTO flow_pack (id, recv_ms, dev, n, flows, interval_s) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_FLOW_NEXT] = "SELECT id + n FROM flow_pack ORDER BY id DESC LIMIT 1",
    [ST_PORT_ADD] = "INSERT INTO listening_ports (device_id, hub, recv_ms, device_ms, protocol, "
                    "local_ip, local_port, remote_ip, remote_port, details, collection_interval_s) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [ST_SYSINFO_ADD] = "INSERT INTO system_info (device_id, hub, recv_ms, device_ms, os_info, "
                       "kernel_info, hw_info, details, collection_interval_s) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_HEARTBEAT_ADD] = "INSERT INTO heartbeats (device_id, hub, recv_ms, device_ms, "
                         "collection_interval_s) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_OTHER_ADD] = "INSERT INTO events_other (device_id, hub, recv_ms, device_ms, name, payload, "
                     "collection_interval_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_HUBOP_ADD] = "INSERT INTO hub_operations (hub, recv_ms, time_ms, category, operation, "
                     "result, reason, device_id, source_ip, count, details) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [ST_DEAD_ADD] = "INSERT INTO dead_letters (recv_ms, topic, device_id, reason, payload_size, "
                    "payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_COUNT_ADD] = "INSERT INTO counts (bucket_ms, dev, bucket_s, d2c_messages, c2d_messages, "
                     "c2d_rejected_messages, direct_method_invokes, twin_updates, queue_purges, "
                     "unauthorized_operations, security_messages, flows) "
                     "VALUES (?1, ?2, 10, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
                     "ON CONFLICT (bucket_ms, dev) DO UPDATE SET "
                     "d2c_messages = d2c_messages + ?3, c2d_messages = c2d_messages + ?4, "
                     "c2d_rejected_messages = c2d_rejected_messages + ?5, "
                     "direct_method_invokes = direct_method_invokes + ?6, "
                     "twin_updates = twin_updates + ?7, queue_purges = queue_purges + ?8, "
                     "unauthorized_operations = unauthorized_operations + ?9, "
                     "security_messages = security_messages + ?10, flows = flows + ?11",
    [ST_COUNTER_ADD] = "INSERT INTO ingest_counters (name, label, value) VALUES (?1, ?2, ?3) "
                       "ON CONFLICT (name, label) DO UPDATE SET value = value + ?3",
    [ST_INGEST_COMMIT] = "UPDATE ingest_state SET last_commit_ms = ?1, "
                         "watermark_ms = max(coalesce(watermark_ms, 0), ?2) WHERE id = 1",
    [ST_RUN_ADD] = "INSERT INTO ingest_runs (started_ms, last_ms) VALUES (?1, ?1)",
    [ST_RUN_SEEN] = "UPDATE ingest_runs SET last_ms = max(last_ms, ?2) WHERE id = ?1",
    [ST_STATE_GET] = "SELECT value FROM store_state WHERE key = ?1",
    [ST_STATE_SET] = "INSERT INTO store_state (key, value) VALUES (?1, ?2) "
                     "ON CONFLICT (key) DO UPDATE SET value = ?2",
};

static const char *const metric_names[METRIC_COUNT] = {
    "d2c_messages",          "c2d_messages", "c2d_rejected_messages",
    "direct_method_invokes", "twin_updates", "queue_purges",
    "unauthorized_operations", "security_messages", "flows",
};

const char *store_metric_name(enum store_metric m)
{
    WARDEN_ASSERT(m < METRIC_COUNT);
    return metric_names[m];
}

/* Map an SQLite result code to the store's error kinds. */
enum store_err store_code(struct store *s, int rc)
{
    if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW)
        return STORE_OK;
    snprintf(s->errbuf, sizeof(s->errbuf), "%s", sqlite3_errmsg(s->db));
    s->last_rc = rc;
    switch (rc & 0xff) {
    case SQLITE_FULL: return STORE_ERR_FULL;
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH: return STORE_ERR_INVALID;
    default: return STORE_ERR_IO;
    }
}

/* Run a statement that returns no rows, then reset it. */
enum store_err store_step_done(struct store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return store_code(s, rc == SQLITE_ROW ? SQLITE_DONE : rc);
}

/* Run a statement that returns at most one integer; *found says if it did. */
enum store_err store_step_int(struct store *s, sqlite3_stmt *st, int64_t *out, bool *found)
{
    int rc = sqlite3_step(st);

    *found = rc == SQLITE_ROW;
    if (*found)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return store_code(s, *found ? SQLITE_DONE : rc);
}

void store_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v != NULL)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

void store_bind_time(sqlite3_stmt *st, int i, int64_t ms)
{
    if (ms != STORE_NO_TIME)
        sqlite3_bind_int64(st, i, ms);
    else
        sqlite3_bind_null(st, i);
}

/* A collection interval: NULL when the event did not say (0). */
void store_bind_interval(sqlite3_stmt *st, int i, uint32_t interval_s)
{
    if (interval_s > 0)
        sqlite3_bind_int64(st, i, interval_s);
    else
        sqlite3_bind_null(st, i);
}

void store_bind_opt_int(sqlite3_stmt *st, int i, int64_t v)
{
    if (v >= 0)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

int64_t store_state_get(struct store *s, const char *key, int64_t dflt)
{
    int64_t v;
    bool found;

    sqlite3_bind_text(s->st[ST_STATE_GET], 1, key, -1, SQLITE_STATIC);
    if (store_step_int(s, s->st[ST_STATE_GET], &v, &found) != STORE_OK || !found)
        return dflt;
    return v;
}

enum store_err store_state_set(struct store *s, const char *key, int64_t v)
{
    sqlite3_bind_text(s->st[ST_STATE_SET], 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->st[ST_STATE_SET], 2, v);
    return store_step_done(s, s->st[ST_STATE_SET]);
}
