/*
 * The store: opening the database, migrations, and the batch writer.
 *
 * A batch is one write transaction. The ingester opens it when the first
 * message of a batch arrives, every row is inserted straight away with a
 * prepared statement (SQLite's page cache is the buffer), and per-batch
 * aggregates (10-second counts, /metrics counters, last-seen times) are kept
 * in memory and flushed at commit, so a device that sends fifty messages in a
 * batch costs one counts upsert, not fifty.
 */
#include "store.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEAD_LETTER_KEEP (64 * 1024)
#define BUCKET_MS 10000

struct migration {
    int version;
    const char *name;
    const char *sql;
};

static const struct migration migrations[] = {
#include "store/schema.inc"
};
#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

/* Statements, as named constants next to the code that runs them. */
enum stmt_id {
    ST_DEVICE_GET,
    ST_DEVICE_ADD,
    ST_DEVICE_AUTO_COUNT,
    ST_DEVICE_SEEN,
    ST_DEVICE_INFO,
    ST_ADDR_GET,
    ST_ADDR_ADD,
    ST_EVENT_CHECK0,
    ST_EVENT_CHECK1,
    ST_EVENT_ADD0,
    ST_EVENT_ADD1,
    ST_FLOW_ADD,
    ST_FLOW_NEXT,
    ST_PORT_ADD,
    ST_SYSINFO_ADD,
    ST_HEARTBEAT_ADD,
    ST_OTHER_ADD,
    ST_HUBOP_ADD,
    ST_DEAD_ADD,
    ST_COUNT_ADD,
    ST_COUNTER_ADD,
    ST_INGEST_COMMIT,
    ST_STATE_GET,
    ST_STATE_SET,
    ST_RUN_ADD,
    ST_RUN_SEEN,
    ST_COUNT_STMTS
};

static const char *const stmt_sql[ST_COUNT_STMTS] = {
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

/* Key of a per-batch count row: packed so it can be a map key. */
struct count_key {
    int64_t bucket_ms;
    int64_t dev;
};

/* One flow_hourly row being summed: its key, then its sums. */
struct roll_key {
    int64_t hour_ms, dev, laddr, raddr;
    int32_t lport, rport, proto_dir, zero; /* zero: no padding bytes in the map key */
};
struct roll_row {
    struct roll_key k;
    int64_t records, bytes_in, bytes_out, first_ms, last_ms;
};
struct roll_set {
    struct map idx; /* struct roll_key -> index into rows */
    struct roll_row *rows;
    size_t n, cap;
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT_STMTS];
    bool in_batch;
    char errbuf[256];
    int last_rc;              /* SQLite's result behind errbuf */

    struct map devices;  /* device_id -> devices.id */
    /*
     * Devices registered automatically (devices.auto_registered, sql/005), -1 until
     * counted. An import (another process) lowers the real number, so at the
     * cap it is counted again, once a batch: a flood of new ids at the cap
     * costs one count a batch, not one a message.
     */
    int64_t auto_devices;
    bool auto_recount;
    struct map addrs;    /* 1+16 address bytes -> addrs.id */
    struct map counts;   /* struct count_key -> index into count_rows, this batch */
    int64_t (*count_rows)[METRIC_COUNT];
    size_t n_count_rows, cap_count_rows;
    struct map counters; /* "name\0label" -> value, this batch */
    struct map seen;     /* devices.id -> last seen ms, this batch */
    struct map info;     /* devices.id -> hash of the device info last written */

    /* Dedup generations (see sql/001). */
    int64_t dedup_window_ms;
    int dedup_gen;            /* 0 or 1: the table new ids go into */
    int64_t dedup_gen_start;  /* when the current generation started */

    int64_t run_id;           /* this ingester's ingest_runs row, 0 when not ingesting */

    /*
     * The hourly rollup, summed in memory: flows of the open batch in
     * roll_batch, moved into roll when it commits; roll holds the flow ids
     * (roll_from, roll_to] and goes to flow_hourly in one transaction that
     * also moves the rollup cursor (store_rollup). A crash loses only the
     * memory: the cursor has not moved, and the flows are rolled up from
     * flow_pack again.
     */
    struct roll_set roll_batch, roll;
    int64_t roll_from, roll_to;
    int64_t batch_flow_min, batch_flow_max; /* flow ids of the open batch, 0: none */
    int64_t roll_started_ms;

    /*
     * The flows of the message being stored, as the JSON text of their
     * flow_pack row (sql/003), written when a flow of another message comes
     * or the batch commits. Flow ids are handed out from next_flow_id, read
     * from the table at the first flow of each batch (0: not read yet).
     */
    char *pack;
    size_t pack_len, pack_cap;
    int pack_n;
    int64_t pack_dev, pack_recv_ms;
    uint32_t pack_interval_s;
    int64_t next_flow_id;
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
static enum store_err store_code(struct store *s, int rc)
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

bool store_check(struct store *s, char *msg, size_t msglen)
{
    sqlite3_stmt *st;
    bool ok = false;

    snprintf(msg, msglen, "%s", "quick_check did not run");
    if (sqlite3_prepare_v2(s->db, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK)
        return false;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(st, 0);
        ok = r != NULL && strcmp(r, "ok") == 0;
        snprintf(msg, msglen, "%s", r ? r : "(null)");
    }
    sqlite3_finalize(st);
    return ok;
}

const char *store_errmsg(struct store *s)
{
    return s->errbuf;
}

struct sqlite3 *store_sqlite(struct store *s)
{
    return s->db;
}

/* Run a statement that returns no rows, then reset it. */
static enum store_err step_done(struct store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return store_code(s, rc == SQLITE_ROW ? SQLITE_DONE : rc);
}

/* Run a statement that returns at most one integer; *found says if it did. */
static enum store_err step_int(struct store *s, sqlite3_stmt *st, int64_t *out, bool *found)
{
    int rc = sqlite3_step(st);

    *found = rc == SQLITE_ROW;
    if (*found)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return store_code(s, *found ? SQLITE_DONE : rc);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v != NULL)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bind_time(sqlite3_stmt *st, int i, int64_t ms)
{
    if (ms != STORE_NO_TIME)
        sqlite3_bind_int64(st, i, ms);
    else
        sqlite3_bind_null(st, i);
}

/* A collection interval: NULL when the event did not say (0). */
static void bind_interval(sqlite3_stmt *st, int i, uint32_t interval_s)
{
    if (interval_s > 0)
        sqlite3_bind_int64(st, i, interval_s);
    else
        sqlite3_bind_null(st, i);
}

static void bind_opt_int(sqlite3_stmt *st, int i, int64_t v)
{
    if (v >= 0)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

/* ---- opening and migrations --------------------------------------------------- */

int store_schema_latest(void)
{
    return migrations[N_MIGRATIONS - 1].version;
}

int store_schema_version(struct store *s)
{
    sqlite3_stmt *st;
    int v = -1;

    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Apply every migration newer than the database, each in its own transaction. */
static bool store_migrate(struct store *s, char *err, size_t errlen)
{
    int have = store_schema_version(s);

    if (have > store_schema_latest()) {
        snprintf(err, errlen, "database schema %d is newer than this warden (%d)", have,
                 store_schema_latest());
        return false;
    }
    for (size_t i = 0; i < N_MIGRATIONS; i++) {
        const struct migration *m = &migrations[i];
        char pragma[64];

        if (m->version <= have)
            continue;
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", m->version);
        if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(s->db, m->sql, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(s->db, pragma, NULL, NULL, NULL) != SQLITE_OK) {
            snprintf(err, errlen, "migration %s: %s", m->name, sqlite3_errmsg(s->db));
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return false;
        }
        if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            snprintf(err, errlen, "migration %s: %s", m->name, sqlite3_errmsg(s->db));
            return false;
        }
        log_info("database migrated to schema %d (%s)", m->version, m->name);
    }
    return true;
}

static int64_t state_get(struct store *s, const char *key, int64_t dflt)
{
    int64_t v;
    bool found;

    sqlite3_bind_text(s->st[ST_STATE_GET], 1, key, -1, SQLITE_STATIC);
    if (step_int(s, s->st[ST_STATE_GET], &v, &found) != STORE_OK || !found)
        return dflt;
    return v;
}

static enum store_err state_set(struct store *s, const char *key, int64_t v)
{
    sqlite3_bind_text(s->st[ST_STATE_SET], 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->st[ST_STATE_SET], 2, v);
    return step_done(s, s->st[ST_STATE_SET]);
}

/* ---- the file's mode ------------------------------------------------------------------ */

#define STORE_FILE_MODE 0640

/* A database SQLite keeps in memory or names by URI has no file of ours to make. */
static bool store_is_file(const char *path)
{
    return path[0] != '\0' && strcmp(path, ":memory:") != 0 && strncmp(path, "file:", 5) != 0;
}

/*
 * The database holds every device's telemetry and the fingerprints of its
 * keys, so a new one is made 0640 (less the umask) before SQLite opens it,
 * which would make it 0644 less the umask. SQLite makes the -wal and -shm
 * files later with the mode of the database file, whatever the umask, so
 * they follow. O_EXCL: an existing file is left as it is, and so is a
 * symbolic link; two processes starting at once make it once.
 */
static void store_create_file(const char *path)
{
    int fd;

    if (!store_is_file(path))
        return;
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, STORE_FILE_MODE);
    if (fd >= 0)
        close(fd);
    /* Any other failure (no such directory, no permission) is SQLite's to report. */
}

/*
 * A database made by an older Warden, or by hand, may be readable by
 * everyone: say so once per process, with the fix. Warden does not chmod
 * it itself: the owner may have opened it to another user on purpose.
 */
static void store_check_mode(const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    static int warned;
    char file[1100], which[3400] = "";
    size_t used = 0;
    struct stat st;

    if (!store_is_file(path))
        return;
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(file, sizeof(file), "%s%s", path, suffixes[i]);
        if (stat(file, &st) != 0 || (st.st_mode & 0007) == 0 || used >= sizeof(which))
            continue;
        used += (size_t)snprintf(which + used, sizeof(which) - used, "%s%s (mode %03o)",
                                 used ? ", " : "", file, (unsigned)(st.st_mode & 0777));
    }
    if (used > 0 && !__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
        log_warn("database: other users can read %s, which hold every device's telemetry and "
                 "key fingerprints: chmod 640 them",
                 which);
}

struct store *store_open(const char *path, char *err, size_t errlen)
{
    struct store *s = calloc(1, sizeof(*s));
    static const char *const pragmas =
        "PRAGMA journal_mode = WAL;"
        /* FULL: a commit is on disk before the ingester acknowledges it. */
        "PRAGMA synchronous = FULL;"
        "PRAGMA foreign_keys = OFF;"
        "PRAGMA cache_size = -32768;"
        "PRAGMA temp_store = MEMORY;";

    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    map_init(&s->devices);
    s->auto_devices = -1;
    map_init(&s->addrs);
    map_init(&s->counts);
    map_init(&s->counters);
    map_init(&s->seen);
    map_init(&s->info);
    map_init(&s->roll_batch.idx);
    map_init(&s->roll.idx);
    s->dedup_window_ms = 3600 * 1000;
    /*
     * A store is used by one thread at a time (ingest, the evaluator and the
     * web each open their own), so SQLite's per-call connection mutex buys
     * nothing: without it a row's dozen binds and its step cost no locking.
     * Memory statistics would take a global mutex on every allocation.
     */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); /* refused once SQLite is running: harmless */
    store_create_file(path);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        store_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if (sqlite3_exec(s->db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(s->db));
        store_close(s);
        return NULL;
    }
    store_check_mode(path);
    if (!store_migrate(s, err, errlen)) {
        store_close(s);
        return NULL;
    }
    for (int i = 0; i < ST_COUNT_STMTS; i++) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK) {
            snprintf(err, errlen, "preparing statement %d: %s", i, sqlite3_errmsg(s->db));
            store_close(s);
            return NULL;
        }
    }
    s->dedup_gen = (int)state_get(s, "dedup_gen", 0) & 1;
    s->dedup_gen_start = state_get(s, "dedup_gen_start_ms", clock_now_ms());
    return s;
}

/* ---- the hourly rollup in memory ----------------------------------------------------- */

static void roll_clear(struct roll_set *r)
{
    map_clear(&r->idx);
    r->n = 0;
}

static void roll_free(struct roll_set *r)
{
    map_free(&r->idx);
    free(r->rows);
}

/* Adds ROW's sums to its key's row in R; false when out of memory. */
static bool roll_add(struct roll_set *r, const struct roll_row *row)
{
    struct map_entry *e = map_upsert(&r->idx, &row->k, sizeof(row->k));

    if (e == NULL)
        return false;
    if (e->value == 0) { /* new: values are index + 1, so 0 means just made */
        if (r->n == r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 1024;
            struct roll_row *p = realloc(r->rows, cap * sizeof(*p));
            if (p == NULL)
                return false;
            r->rows = p;
            r->cap = cap;
        }
        r->rows[r->n] = *row;
        e->value = (int64_t)++r->n;
        return true;
    }
    struct roll_row *t = &r->rows[e->value - 1];
    t->records += row->records;
    t->bytes_in += row->bytes_in;
    t->bytes_out += row->bytes_out;
    t->first_ms = row->first_ms < t->first_ms ? row->first_ms : t->first_ms;
    t->last_ms = row->last_ms > t->last_ms ? row->last_ms : t->last_ms;
    return true;
}

/* A committed batch's flows join the sums; the first batch after a flush says where they start. */
static void roll_commit_batch(struct store *s)
{
    bool ok = true;

    if (s->batch_flow_max == 0)
        return;
    if (s->roll.n == 0) {
        s->roll_from = s->batch_flow_min - 1;
        s->roll_started_ms = clock_mono_ms();
    }
    for (size_t i = 0; ok && i < s->roll_batch.n; i++)
        ok = roll_add(&s->roll, &s->roll_batch.rows[i]);
    s->roll_to = s->batch_flow_max;
    roll_clear(&s->roll_batch);
    s->batch_flow_min = s->batch_flow_max = 0;
    if (!ok) {
        /* Out of memory: forget the sums; the flows are rolled up from flow_pack instead. */
        roll_clear(&s->roll);
    }
}

void store_close(struct store *s)
{
    if (s == NULL)
        return;
    if (s->in_batch)
        store_batch_rollback(s);
    for (int i = 0; i < ST_COUNT_STMTS; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    map_free(&s->devices);
    map_free(&s->addrs);
    map_free(&s->counts);
    free(s->count_rows);
    map_free(&s->counters);
    map_free(&s->seen);
    map_free(&s->info);
    roll_free(&s->roll_batch);
    roll_free(&s->roll);
    free(s->pack);
    free(s);
}

/* ---- batches ------------------------------------------------------------------- */

static enum store_err pack_flush(struct store *s);

bool store_batch_open(const struct store *s)
{
    return s->in_batch;
}

enum store_err store_batch_begin(struct store *s)
{
    enum store_err e;

    WARDEN_ASSERT(!s->in_batch);
    e = store_code(s, sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL));
    if (e == STORE_OK)
        s->in_batch = true;
    s->next_flow_id = 0;
    s->auto_recount = true;
    return e;
}

static void clear_counts(struct store *s)
{
    map_clear(&s->counts);
    s->n_count_rows = 0;
}

/*
 * Forget what was cached during a failed batch: ids handed out inside a
 * transaction that rolled back no longer exist.
 */
void store_batch_rollback(struct store *s)
{
    if (s->in_batch)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_batch = false;
    map_clear(&s->devices);
    s->auto_devices = -1;
    map_clear(&s->addrs);
    clear_counts(s);
    map_clear(&s->counters);
    map_clear(&s->seen);
    map_clear(&s->info);
    roll_clear(&s->roll_batch);
    s->batch_flow_min = s->batch_flow_max = 0;
    s->pack_n = 0;
    s->next_flow_id = 0;
}

/* One upsert per (bucket, device) touched in the batch, every metric at once. */
static enum store_err flush_counts(struct store *s)
{
    sqlite3_stmt *st = s->st[ST_COUNT_ADD];

    for (size_t i = 0; i < s->counts.cap; i++) {
        struct map_entry *e = &s->counts.slots[i];
        struct count_key k;
        enum store_err err;

        if (e->key == NULL)
            continue;
        memcpy(&k, e->key, sizeof(k));
        sqlite3_bind_int64(st, 1, k.bucket_ms);
        sqlite3_bind_int64(st, 2, k.dev);
        for (int m = 0; m < METRIC_COUNT; m++)
            sqlite3_bind_int64(st, 3 + m, s->count_rows[e->value][m]);
        if ((err = step_done(s, st)) != STORE_OK)
            return err;
    }
    return STORE_OK;
}

static enum store_err flush_counters(struct store *s)
{
    sqlite3_stmt *st = s->st[ST_COUNTER_ADD];

    for (size_t i = 0; i < s->counters.cap; i++) {
        struct map_entry *e = &s->counters.slots[i];
        const char *name = e->key;
        enum store_err err;

        if (name == NULL)
            continue;
        /* The key is "name\0label" (see store_counter_add). */
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name + strlen(name) + 1, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, e->value);
        if ((err = step_done(s, st)) != STORE_OK)
            return err;
    }
    return STORE_OK;
}

static enum store_err flush_seen(struct store *s)
{
    sqlite3_stmt *st = s->st[ST_DEVICE_SEEN];

    for (size_t i = 0; i < s->seen.cap; i++) {
        struct map_entry *e = &s->seen.slots[i];
        int64_t dev;
        enum store_err err;

        if (e->key == NULL)
            continue;
        memcpy(&dev, e->key, sizeof(dev));
        sqlite3_bind_int64(st, 1, dev);
        sqlite3_bind_int64(st, 2, e->value);
        if ((err = step_done(s, st)) != STORE_OK)
            return err;
    }
    return STORE_OK;
}

enum store_err store_batch_commit(struct store *s, int64_t watermark_ms)
{
    enum store_err e;
    sqlite3_stmt *st = s->st[ST_INGEST_COMMIT];

    WARDEN_ASSERT(s->in_batch);
    if ((e = pack_flush(s)) != STORE_OK || (e = flush_counts(s)) != STORE_OK ||
        (e = flush_counters(s)) != STORE_OK || (e = flush_seen(s)) != STORE_OK)
        return e;
    sqlite3_bind_int64(st, 1, clock_now_ms());
    sqlite3_bind_int64(st, 2, watermark_ms);
    if ((e = step_done(s, st)) != STORE_OK)
        return e;
    if (s->run_id > 0) {
        sqlite3_bind_int64(s->st[ST_RUN_SEEN], 1, s->run_id);
        sqlite3_bind_int64(s->st[ST_RUN_SEEN], 2, clock_now_ms());
        if ((e = step_done(s, s->st[ST_RUN_SEEN])) != STORE_OK)
            return e;
    }
    e = store_code(s, sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL));
    if (e != STORE_OK)
        return e;
    s->in_batch = false;
    clear_counts(s);
    map_clear(&s->counters);
    map_clear(&s->seen);
    roll_commit_batch(s);
    return STORE_OK;
}

/* ---- devices ---------------------------------------------------------------------- */

/* Marks dev seen at recv_ms; written with the batch. */
static enum store_err device_seen(struct store *s, int64_t dev, int64_t recv_ms)
{
    struct map_entry *seen = map_upsert(&s->seen, &dev, sizeof(dev));

    if (seen == NULL)
        return STORE_ERR_IO;
    if (recv_ms > seen->value)
        seen->value = recv_ms;
    return STORE_OK;
}

enum store_err store_device_find(struct store *s, const char *device_id, int64_t recv_ms,
                                 int64_t *dev)
{
    size_t len = strlen(device_id);
    struct map_entry *e = map_get(&s->devices, device_id, len);
    enum store_err err;
    bool found;

    *dev = 0;
    if (device_id_check(device_id, len) != NULL)
        return STORE_ERR_INVALID;
    if (e != NULL) {
        *dev = e->value;
        return device_seen(s, *dev, recv_ms);
    }
    sqlite3_bind_text(s->st[ST_DEVICE_GET], 1, device_id, (int)len, SQLITE_STATIC);
    if ((err = step_int(s, s->st[ST_DEVICE_GET], dev, &found)) != STORE_OK)
        return err;
    if (!found) {
        *dev = 0;
        return STORE_OK;
    }
    if ((e = map_upsert(&s->devices, device_id, len)) == NULL)
        return STORE_ERR_IO;
    e->value = *dev;
    return device_seen(s, *dev, recv_ms);
}

/* Whether one more device may be registered automatically under max_auto. */
static enum store_err auto_room(struct store *s, int64_t max_auto, bool *room)
{
    enum store_err err;
    bool found;

    if (s->auto_devices >= 0 && s->auto_devices < max_auto) {
        *room = true;
        return STORE_OK;
    }
    if (s->auto_devices < 0 || s->auto_recount) {
        if ((err = step_int(s, s->st[ST_DEVICE_AUTO_COUNT], &s->auto_devices, &found)) !=
            STORE_OK)
            return err;
        s->auto_recount = false;
    }
    *room = s->auto_devices < max_auto;
    return STORE_OK;
}

enum store_err store_device_add(struct store *s, const char *device_id, const char *hub,
                                int64_t recv_ms, int64_t max_auto, int64_t *dev)
{
    size_t len = strlen(device_id);
    struct map_entry *e;
    sqlite3_stmt *st = s->st[ST_DEVICE_ADD];
    enum store_err err;
    bool room;

    if ((err = store_device_find(s, device_id, recv_ms, dev)) != STORE_OK || *dev != 0)
        return err;
    if ((err = auto_room(s, max_auto, &room)) != STORE_OK || !room)
        return err;
    sqlite3_bind_text(st, 1, device_id, (int)len, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, hub, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, recv_ms);
    if ((err = step_done(s, st)) != STORE_OK)
        return err;
    *dev = sqlite3_last_insert_rowid(s->db);
    s->auto_devices++;
    store_counter_add(s, "warden_devices_registered_total", "", 1);
    if ((e = map_upsert(&s->devices, device_id, len)) == NULL)
        return STORE_ERR_IO;
    e->value = *dev;
    return device_seen(s, *dev, recv_ms);
}

enum store_err store_device(struct store *s, const char *device_id, const char *hub,
                            int64_t recv_ms, int64_t *dev)
{
    return store_device_add(s, device_id, hub, recv_ms, INT64_MAX, dev);
}

enum store_err store_device_info(struct store *s, int64_t dev, const struct store_device_info *in)
{
    sqlite3_stmt *st = s->st[ST_DEVICE_INFO];
    const char *parts[] = {in->module_id, in->agent_version, in->module_version, in->os_info};
    /* Skew to the second: a device's clock does not need an UPDATE per message. */
    int64_t skew_s = in->skew_ms == STORE_NO_TIME ? INT64_MIN : in->skew_ms / 1000;
    uint64_t h = hash_bytes(HASH_SEED, &skew_s, sizeof(skew_s));
    struct map_entry *e;

    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        h = parts[i] ? hash_bytes(h, parts[i], strlen(parts[i]) + 1) : hash_bytes(h, "", 0) + i;
    h = hash_bytes(hash_bytes(h, &in->activity_interval_s, sizeof(in->activity_interval_s)),
                   &in->heartbeat_interval_s, sizeof(in->heartbeat_interval_s));
    if ((e = map_upsert(&s->info, &dev, sizeof(dev))) == NULL)
        return STORE_ERR_IO;
    if (e->value == (int64_t)h)
        return STORE_OK; /* what this message says is already written */
    e->value = (int64_t)h;
    sqlite3_bind_int64(st, 1, dev);
    bind_text(st, 2, in->module_id);
    bind_text(st, 3, in->agent_version);
    bind_text(st, 4, in->module_version);
    bind_text(st, 5, in->os_info);
    bind_time(st, 6, in->skew_ms);
    bind_interval(st, 7, in->activity_interval_s);
    bind_interval(st, 8, in->heartbeat_interval_s);
    return step_done(s, st);
}

/* ---- event ids ---------------------------------------------------------------------- */

void store_set_dedup_window(struct store *s, int64_t window_ms)
{
    s->dedup_window_ms = window_ms;
}

/*
 * Start a new generation when the current one is a window old: the older
 * table is emptied (SQLite truncates a DELETE without WHERE cheaply) and
 * becomes current. Ids stay findable for between one and two windows.
 */
static enum store_err dedup_rotate(struct store *s, int64_t now)
{
    enum store_err e;
    int next = s->dedup_gen ^ 1;

    if (now - s->dedup_gen_start < s->dedup_window_ms)
        return STORE_OK;
    e = store_code(s, sqlite3_exec(s->db,
                                   next ? "DELETE FROM event_ids_1" : "DELETE FROM event_ids_0",
                                   NULL, NULL, NULL));
    if (e == STORE_OK && (e = state_set(s, "dedup_gen", next)) == STORE_OK &&
        (e = state_set(s, "dedup_gen_start_ms", now)) == STORE_OK) {
        s->dedup_gen = next;
        s->dedup_gen_start = now;
    }
    return e;
}

enum store_err store_event_seen(struct store *s, int64_t dev, const uint8_t *id, size_t len,
                                uint64_t content, bool *dup)
{
    uint64_t h = hash_bytes(hash_bytes(hash_bytes(HASH_SEED, &dev, sizeof(dev)), &content,
                                       sizeof(content)), id, len);
    int64_t key = (int64_t)(h >> 1), dummy;
    sqlite3_stmt *add;
    enum store_err e;
    bool found;

    *dup = false;
    if ((e = dedup_rotate(s, clock_now_ms())) != STORE_OK)
        return e;
    /* The other generation first; the current one answers through INSERT OR IGNORE. */
    sqlite3_stmt *other = s->st[s->dedup_gen ? ST_EVENT_CHECK0 : ST_EVENT_CHECK1];
    sqlite3_bind_int64(other, 1, key);
    if ((e = step_int(s, other, &dummy, &found)) != STORE_OK)
        return e;
    if (found) {
        *dup = true;
        return STORE_OK;
    }
    add = s->st[s->dedup_gen ? ST_EVENT_ADD1 : ST_EVENT_ADD0];
    sqlite3_bind_int64(add, 1, key);
    if ((e = step_done(s, add)) != STORE_OK)
        return e;
    *dup = sqlite3_changes(s->db) == 0;
    return STORE_OK;
}

/* ---- rows ------------------------------------------------------------------------------ */

/* The id of an address in addrs, adding it on first sight. */
static enum store_err addr_id(struct store *s, const struct ip_addr *ip, int64_t *id)
{
    uint8_t key[17];
    size_t n = ip->family == 4 ? 4 : ip->family == 6 ? 16 : 0;
    struct map_entry *e;
    char text[64];
    enum store_err err;
    bool found;

    key[0] = ip->family;
    memcpy(key + 1, ip->b, n);
    if ((e = map_get(&s->addrs, key, n + 1)) != NULL) {
        *id = e->value;
        return STORE_OK;
    }
    ip_format(ip, text, sizeof(text));
    sqlite3_bind_text(s->st[ST_ADDR_GET], 1, text, -1, SQLITE_STATIC);
    if ((err = step_int(s, s->st[ST_ADDR_GET], id, &found)) != STORE_OK)
        return err;
    if (!found) {
        sqlite3_stmt *st = s->st[ST_ADDR_ADD];
        sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, ip->b, (int)n, SQLITE_STATIC);
        if ((err = step_done(s, st)) != STORE_OK)
            return err;
        *id = sqlite3_last_insert_rowid(s->db);
    }
    if ((e = map_upsert(&s->addrs, key, n + 1)) == NULL)
        return STORE_ERR_IO;
    e->value = *id;
    return STORE_OK;
}

/* ---- flows, packed a message a row (sql/003) ----------------------------------------- */

#define PACK_MAX_FLOWS 256         /* flows in one flow_pack row at most */
#define PACK_MAX_BYTES (64 * 1024) /* and about this much JSON text */

static bool pack_reserve(struct store *s, size_t more)
{
    size_t cap = s->pack_cap ? s->pack_cap : 4096;
    char *p;

    if (s->pack_len + more <= s->pack_cap)
        return true;
    while (cap < s->pack_len + more)
        cap *= 2;
    if ((p = realloc(s->pack, cap)) == NULL)
        return false;
    s->pack = p;
    s->pack_cap = cap;
    return true;
}

/* Appends sep then v, or null (v < 0 stands for absent when absent_negative). */
static void pack_int(struct store *s, char sep, int64_t v, bool absent_negative)
{
    char digits[24], *p = digits + sizeof(digits);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    s->pack[s->pack_len++] = sep;
    if (absent_negative && v < 0) {
        memcpy(s->pack + s->pack_len, "null", 4);
        s->pack_len += 4;
        return;
    }
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--p = '-';
    memcpy(s->pack + s->pack_len, p, (size_t)(digits + sizeof(digits) - p));
    s->pack_len += (size_t)(digits + sizeof(digits) - p);
}

/*
 * Appends ",\"text\"" (or ",null") as a JSON string. Decoders hand over UTF-8;
 * should a string not be, its bytes above 0x7f are written as \u00XX, so
 * the row stays valid JSON whatever it holds.
 */
static bool pack_str(struct store *s, const char *v)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = v != NULL ? strlen(v) : 0;
    bool utf8 = v == NULL || utf8_valid(v, n);

    if (!pack_reserve(s, 7 + 6 * n))
        return false;
    s->pack[s->pack_len++] = ',';
    if (v == NULL) {
        memcpy(s->pack + s->pack_len, "null", 4);
        s->pack_len += 4;
        return true;
    }
    s->pack[s->pack_len++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        char *o = s->pack + s->pack_len;

        if (c == '"' || c == '\\') {
            o[0] = '\\', o[1] = (char)c;
            s->pack_len += 2;
        } else if (c < 0x20 || (c >= 0x80 && !utf8)) {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4], o[5] = hex[c & 15];
            s->pack_len += 6;
        } else {
            o[0] = (char)c;
            s->pack_len++;
        }
    }
    s->pack[s->pack_len++] = '"';
    return true;
}

/* Writes the packed flows as one flow_pack row; the ids they were given become theirs. */
static enum store_err pack_flush(struct store *s)
{
    sqlite3_stmt *st = s->st[ST_FLOW_ADD];
    enum store_err e;

    if (s->pack_n == 0)
        return STORE_OK;
    s->pack[s->pack_len++] = ']'; /* pack_reserve kept room for it */
    sqlite3_bind_int64(st, 1, s->next_flow_id);
    sqlite3_bind_int64(st, 2, s->pack_recv_ms);
    sqlite3_bind_int64(st, 3, s->pack_dev);
    sqlite3_bind_int(st, 4, s->pack_n);
    sqlite3_bind_text(st, 5, s->pack, (int)s->pack_len, SQLITE_STATIC);
    bind_interval(st, 6, s->pack_interval_s);
    if ((e = step_done(s, st)) != STORE_OK)
        return e;
    s->next_flow_id += s->pack_n;
    s->pack_n = 0;
    return STORE_OK;
}

/* One number or null of a packed flow at *pos; false on anything else. */
static bool pack_number(const char *t, size_t len, size_t *pos, int64_t *v, bool *null)
{
    size_t i = *pos, digits = 0;
    bool neg = i < len && t[i] == '-';
    uint64_t u = 0;

    *null = false;
    if (len - i >= 4 && memcmp(t + i, "null", 4) == 0) {
        *null = true;
        *pos = i + 4;
        return true;
    }
    i += neg;
    while (i < len && t[i] >= '0' && t[i] <= '9' && digits < 18) {
        u = u * 10 + (uint64_t)(t[i++] - '0');
        digits++;
    }
    if (digits == 0 || (i < len && t[i] >= '0' && t[i] <= '9'))
        return false;
    *v = neg ? -(int64_t)u : (int64_t)u;
    *pos = i;
    return true;
}

/* Skips one extra value (number, null or string) at *pos. */
static bool pack_skip(const char *t, size_t len, size_t *pos)
{
    size_t i = *pos;
    int64_t v;
    bool null;

    if (i >= len || t[i] != '"')
        return pack_number(t, len, pos, &v, &null);
    for (i++; i < len && t[i] != '"'; i++)
        if (t[i] == '\\')
            i++;
    if (i >= len)
        return false;
    *pos = i + 1;
    return true;
}

bool store_pack_next(const char *t, size_t len, size_t *pos, struct store_packed_flow *f)
{
    int64_t *const field[] = {&f->proto_dir, &f->laddr, &f->lport,     &f->raddr,
                              &f->rport,     &f->bytes_in, &f->bytes_out, &f->skew_ms};
    size_t i = *pos;
    bool null;

    if (i >= len || t[i] != (i == 0 ? '[' : ','))
        return false; /* the end (']'), or not a pack */
    if (++i >= len || t[i++] != '[')
        return false;
    for (size_t k = 0; k < 8; k++) {
        if ((k > 0 && (i >= len || t[i++] != ',')) || !pack_number(t, len, &i, field[k], &null) ||
            (null && k != 7))
            return false;
        if (null)
            f->skew_ms = STORE_NO_TIME;
    }
    while (i < len && t[i] == ',') {
        i++;
        if (!pack_skip(t, len, &i))
            return false;
    }
    if (i >= len || t[i] != ']')
        return false;
    *pos = i + 1;
    return true;
}

enum store_err store_flow_append(struct store *s, int64_t dev, int64_t recv_ms,
                                 const struct store_flow *f)
{
    int64_t laddr, raddr, id;
    enum store_err e;
    bool extras = f->process_id >= 0 || f->user_id >= 0 || f->executable != NULL ||
                  f->commandline != NULL || f->details != NULL;

    WARDEN_ASSERT(s->in_batch); /* a pack outlives no batch: its ids are read in one */
    if (f->protocol > STORE_ICMP || f->direction > STORE_DIR_OUT)
        return STORE_ERR_INVALID;
    if ((e = addr_id(s, &f->local, &laddr)) != STORE_OK ||
        (e = addr_id(s, &f->remote, &raddr)) != STORE_OK)
        return e;
    if (s->pack_n > 0 &&
        (dev != s->pack_dev || recv_ms != s->pack_recv_ms || f->interval_s != s->pack_interval_s ||
         s->pack_n >= PACK_MAX_FLOWS ||
         s->pack_len >= PACK_MAX_BYTES) &&
        (e = pack_flush(s)) != STORE_OK)
        return e;
    if (s->next_flow_id == 0) {
        bool found;
        if ((e = step_int(s, s->st[ST_FLOW_NEXT], &s->next_flow_id, &found)) != STORE_OK)
            return e;
        if (!found)
            s->next_flow_id = 1;
    }
    if (s->pack_n == 0) {
        s->pack_len = 0;
        s->pack_dev = dev;
        s->pack_recv_ms = recv_ms;
        s->pack_interval_s = f->interval_s;
    }
    /* 9 numbers of at most 20 characters and their commas, the brackets, the closing one. */
    if (!pack_reserve(s, 9 * 21 + 4))
        return STORE_ERR_IO;
    s->pack[s->pack_len++] = s->pack_n == 0 ? '[' : ',';
    pack_int(s, '[', f->protocol * 4 + f->direction, false);
    pack_int(s, ',', laddr, false);
    pack_int(s, ',', f->local_port, false);
    pack_int(s, ',', raddr, false);
    pack_int(s, ',', f->remote_port, false);
    pack_int(s, ',', f->bytes_in, false);
    pack_int(s, ',', f->bytes_out, false);
    if (f->device_ms == STORE_NO_TIME)
        pack_int(s, ',', -1, true);
    else
        pack_int(s, ',', f->device_ms - recv_ms, false);
    if (extras) {
        pack_int(s, ',', f->process_id, true);
        pack_int(s, ',', f->user_id, true);
        if (!pack_str(s, f->executable) || !pack_str(s, f->commandline) ||
            !pack_str(s, f->details) || !pack_reserve(s, 2))
            return STORE_ERR_IO;
    }
    s->pack[s->pack_len++] = ']';
    id = s->next_flow_id + s->pack_n++;

    struct roll_row row = {
        .k = {.hour_ms = recv_ms - recv_ms % 3600000, .dev = dev, .laddr = laddr, .raddr = raddr,
              .lport = f->local_port, .rport = f->remote_port,
              .proto_dir = f->protocol * 4 + f->direction},
        .records = 1, .bytes_in = f->bytes_in, .bytes_out = f->bytes_out,
        .first_ms = recv_ms, .last_ms = recv_ms,
    };
    if (s->batch_flow_min == 0)
        s->batch_flow_min = id;
    s->batch_flow_max = id;
    return roll_add(&s->roll_batch, &row) ? STORE_OK : STORE_ERR_IO;
}

static const char *proto_name(uint8_t p)
{
    return p == STORE_UDP ? "UDP" : p == STORE_ICMP ? "ICMP" : "TCP";
}

enum store_err store_port_append(struct store *s, const char *device_id, const char *hub,
                                 int64_t recv_ms, const struct store_port *p)
{
    sqlite3_stmt *st = s->st[ST_PORT_ADD];
    char lip[64], rip[64];

    ip_format(&p->local, lip, sizeof(lip));
    ip_format(&p->remote, rip, sizeof(rip));
    bind_text(st, 1, device_id);
    bind_text(st, 2, hub);
    sqlite3_bind_int64(st, 3, recv_ms);
    bind_time(st, 4, p->device_ms);
    bind_text(st, 5, proto_name(p->protocol));
    bind_text(st, 6, p->local.family ? lip : NULL);
    bind_opt_int(st, 7, p->local_port);
    bind_text(st, 8, p->remote.family ? rip : NULL);
    bind_opt_int(st, 9, p->remote_port);
    bind_text(st, 10, p->details);
    bind_interval(st, 11, p->interval_s);
    return step_done(s, st);
}

enum store_err store_sysinfo_append(struct store *s, const char *device_id, const char *hub,
                                    int64_t recv_ms, const struct store_sysinfo *si)
{
    sqlite3_stmt *st = s->st[ST_SYSINFO_ADD];

    bind_text(st, 1, device_id);
    bind_text(st, 2, hub);
    sqlite3_bind_int64(st, 3, recv_ms);
    bind_time(st, 4, si->device_ms);
    bind_text(st, 5, si->os_info);
    bind_text(st, 6, si->kernel_info);
    bind_text(st, 7, si->hw_info);
    bind_text(st, 8, si->details);
    bind_interval(st, 9, si->interval_s);
    return step_done(s, st);
}

enum store_err store_heartbeat_append(struct store *s, const char *device_id, const char *hub,
                                      int64_t recv_ms, int64_t device_ms, uint32_t interval_s)
{
    sqlite3_stmt *st = s->st[ST_HEARTBEAT_ADD];

    bind_text(st, 1, device_id);
    bind_text(st, 2, hub);
    sqlite3_bind_int64(st, 3, recv_ms);
    bind_time(st, 4, device_ms);
    bind_interval(st, 5, interval_s);
    return step_done(s, st);
}

enum store_err store_other_append(struct store *s, const char *device_id, const char *hub,
                                  int64_t recv_ms, const struct store_event_other *o)
{
    sqlite3_stmt *st = s->st[ST_OTHER_ADD];

    bind_text(st, 1, device_id);
    bind_text(st, 2, hub);
    sqlite3_bind_int64(st, 3, recv_ms);
    bind_time(st, 4, o->device_ms);
    bind_text(st, 5, o->name);
    bind_text(st, 6, o->payload);
    bind_interval(st, 7, o->interval_s);
    return step_done(s, st);
}

static void bind_hubop(sqlite3_stmt *st, int64_t recv_ms, const struct store_hubop *op)
{
    bind_text(st, 1, op->hub);
    sqlite3_bind_int64(st, 2, recv_ms);
    sqlite3_bind_int64(st, 3, op->time_ms);
    bind_text(st, 4, op->category);
    bind_text(st, 5, op->operation);
    bind_text(st, 6, op->result);
    bind_text(st, 7, op->reason);
    bind_text(st, 8, op->device_id);
    bind_text(st, 9, op->source_ip);
    sqlite3_bind_int64(st, 10, op->count);
    bind_text(st, 11, op->details);
}

enum store_err store_hubop_append(struct store *s, int64_t recv_ms, const struct store_hubop *op)
{
    sqlite3_stmt *st = s->st[ST_HUBOP_ADD];

    bind_hubop(st, recv_ms, op);
    return step_done(s, st);
}

enum store_err store_hubop_insert(sqlite3 *db, int64_t recv_ms, const struct store_hubop *op)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = sqlite3_prepare_v2(db, stmt_sql[ST_HUBOP_ADD], -1, &st, NULL)) == SQLITE_OK) {
        bind_hubop(st, recv_ms, op);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
    }
    if (rc == SQLITE_DONE)
        return STORE_OK;
    return (rc & 0xff) == SQLITE_FULL ? STORE_ERR_FULL : STORE_ERR_IO;
}

enum store_err store_dead_letter(struct store *s, int64_t recv_ms, const char *topic,
                                 const char *device_id, const char *reason, const void *payload,
                                 size_t len)
{
    sqlite3_stmt *st = s->st[ST_DEAD_ADD];
    size_t keep = len < DEAD_LETTER_KEEP ? len : DEAD_LETTER_KEEP;

    sqlite3_bind_int64(st, 1, recv_ms);
    /* The topic may hold anything a client sent; store it as a blob-safe text. */
    sqlite3_bind_text(st, 2, topic, -1, SQLITE_STATIC);
    bind_text(st, 3, device_id);
    bind_text(st, 4, reason);
    sqlite3_bind_int64(st, 5, (int64_t)len);
    sqlite3_bind_blob(st, 6, payload, (int)keep, SQLITE_STATIC);
    return step_done(s, st);
}

/* ---- per-batch aggregates ----------------------------------------------------------- */

void store_count(struct store *s, int64_t dev, enum store_metric m, int64_t at_ms, int64_t n)
{
    struct count_key k = {at_ms - ((at_ms % BUCKET_MS) + BUCKET_MS) % BUCKET_MS, dev};
    size_t before = s->counts.len;
    struct map_entry *e = map_upsert(&s->counts, &k, sizeof(k));

    WARDEN_ASSERT(e != NULL && m < METRIC_COUNT);
    if (s->counts.len != before) {
        if (s->n_count_rows == s->cap_count_rows) {
            size_t cap = s->cap_count_rows ? s->cap_count_rows * 2 : 256;
            void *grown = realloc(s->count_rows, cap * sizeof(*s->count_rows));
            WARDEN_ASSERT(grown != NULL);
            s->count_rows = grown;
            s->cap_count_rows = cap;
        }
        memset(s->count_rows[s->n_count_rows], 0, sizeof(*s->count_rows));
        e->value = (int64_t)s->n_count_rows++;
    }
    s->count_rows[e->value][m] += n;
}

void store_counter_add(struct store *s, const char *name, const char *label, int64_t n)
{
    char key[256];
    size_t nl = strlen(name), ll = strlen(label);
    struct map_entry *e;

    if (nl + ll + 2 > sizeof(key))
        return;
    memcpy(key, name, nl + 1);
    memcpy(key + nl + 1, label, ll + 1);
    e = map_upsert(&s->counters, key, nl + ll + 2);
    WARDEN_ASSERT(e != NULL);
    e->value += n;
}

/* ---- housekeeping ----------------------------------------------------------------------- */

#define ROLL_FLUSH_AGE_MS 60000 /* how long sums gather before they go to flow_hourly */
#define ROLL_FLUSH_ROWS   50000 /* or this many flow_hourly rows, whichever comes first */

static const char sql_roll_upsert_tail[] =
    "ON CONFLICT (hour_ms, dev, raddr, rport, proto_dir, laddr, lport) DO UPDATE SET "
    "records = records + excluded.records, bytes_in = bytes_in + excluded.bytes_in, "
    "bytes_out = bytes_out + excluded.bytes_out, first_ms = min(first_ms, excluded.first_ms), "
    "last_ms = max(last_ms, excluded.last_ms)";

/*
 * Rolls the flows (from, to] up with SQL: what memory does not hold (after a
 * restart). from and to are the last flows of packs, so the packs are whole.
 */
static enum store_err roll_sql(struct store *s, int64_t from, int64_t to)
{
    char sql[1024];
    sqlite3_stmt *st;
    enum store_err e;

    snprintf(sql, sizeof(sql),
             "INSERT INTO flow_hourly (hour_ms, dev, raddr, rport, proto_dir, laddr, lport, records, "
             "bytes_in, bytes_out, first_ms, last_ms) "
             "SELECT p.recv_ms - p.recv_ms %% 3600000, p.dev, j.value ->> 3, j.value ->> 4, "
             "j.value ->> 0, j.value ->> 1, j.value ->> 2, count(*), sum(j.value ->> 5), "
             "sum(j.value ->> 6), min(p.recv_ms), max(p.recv_ms) "
             "FROM flow_pack p CROSS JOIN json_each(p.flows) j WHERE p.id > ?1 AND p.id <= ?2 "
             "GROUP BY 1, 2, 3, 4, 5, 6, 7 %s",
             sql_roll_upsert_tail);
    if ((e = store_code(s, sqlite3_prepare_v2(s->db, sql, -1, &st, NULL))) != STORE_OK)
        return e;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    e = store_code(s, sqlite3_step(st));
    sqlite3_finalize(st);
    return e;
}

/* The last flow of the newest pack whose first flow is at most id (0 if none). */
static int64_t pack_end(struct store *s, int64_t id)
{
    sqlite3_stmt *st;
    int64_t end = 0;

    if (sqlite3_prepare_v2(
            s->db, "SELECT id + n - 1 FROM flow_pack WHERE id <= ?1 ORDER BY id DESC LIMIT 1", -1,
            &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        end = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return end;
}

/* Writes the sums in memory: one upsert per flow_hourly row. */
static enum store_err roll_flush(struct store *s)
{
    char sql[1024];
    sqlite3_stmt *st;
    enum store_err e;

    snprintf(sql, sizeof(sql),
             "INSERT INTO flow_hourly (hour_ms, dev, raddr, rport, proto_dir, laddr, lport, records, "
             "bytes_in, bytes_out, first_ms, last_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
             "?10, ?11, ?12) %s",
             sql_roll_upsert_tail);
    if ((e = store_code(s, sqlite3_prepare_v2(s->db, sql, -1, &st, NULL))) != STORE_OK)
        return e;
    for (size_t i = 0; e == STORE_OK && i < s->roll.n; i++) {
        const struct roll_row *r = &s->roll.rows[i];
        sqlite3_bind_int64(st, 1, r->k.hour_ms);
        sqlite3_bind_int64(st, 2, r->k.dev);
        sqlite3_bind_int64(st, 3, r->k.raddr);
        sqlite3_bind_int(st, 4, r->k.rport);
        sqlite3_bind_int(st, 5, r->k.proto_dir);
        sqlite3_bind_int64(st, 6, r->k.laddr);
        sqlite3_bind_int(st, 7, r->k.lport);
        sqlite3_bind_int64(st, 8, r->records);
        sqlite3_bind_int64(st, 9, r->bytes_in);
        sqlite3_bind_int64(st, 10, r->bytes_out);
        sqlite3_bind_int64(st, 11, r->first_ms);
        sqlite3_bind_int64(st, 12, r->last_ms);
        e = step_done(s, st);
    }
    sqlite3_finalize(st);
    return e;
}

/*
 * Moves the rollup cursor (store_state rollup_flow_id) on: first, with SQL,
 * over raw rows the sums in memory do not hold (at most max_rows a call, so
 * the write lock is never held for long; *more says it is still behind);
 * then, once the cursor reaches them, the sums themselves, when they are a
 * minute old or large (or when the caller asks for everything now).
 */
enum store_err store_rollup(struct store *s, int64_t max_rows, bool *more)
{
    int64_t from, to, last = 0;
    enum store_err e;
    bool flush;

    WARDEN_ASSERT(!s->in_batch);
    *more = false;
    if ((e = store_code(s, sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL))) != STORE_OK)
        return e;
    from = state_get(s, "rollup_flow_id", 0);
    if (s->roll.n > 0 && from > s->roll_from) {
        /* Someone else rolled these rows up (another process on this database): the
         * sums would count them twice. Forget them; SQL carries on from the cursor. */
        roll_clear(&s->roll);
    }
    last = s->roll.n > 0 ? s->roll_from : pack_end(s, INT64_MAX);
    to = last < from + max_rows ? last : pack_end(s, from + max_rows);
    if (to > from && (e = roll_sql(s, from, to)) == STORE_OK)
        e = state_set(s, "rollup_flow_id", to);
    *more = to < last;
    flush = e == STORE_OK && !*more && s->roll.n > 0 && to >= s->roll_from &&
            (clock_mono_ms() - s->roll_started_ms >= ROLL_FLUSH_AGE_MS ||
             s->roll.n >= ROLL_FLUSH_ROWS || max_rows >= STORE_ROLLUP_ALL);
    if (flush && (e = roll_flush(s)) == STORE_OK)
        e = state_set(s, "rollup_flow_id", s->roll_to);
    if (e == STORE_OK)
        e = store_code(s, sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL));
    if (e != STORE_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        /* The sums stay: the cursor did not move, so they still fit it. */
        return e;
    }
    if (flush)
        roll_clear(&s->roll);
    return STORE_OK;
}

enum store_err store_outbox_next(struct store *s, int64_t after, int limit,
                                 void (*fn)(void *arg, int64_t id, const char *topic,
                                            const char *payload),
                                 void *arg)
{
    static const char sql[] =
        "SELECT id, topic, payload FROM outbox WHERE id > ?1 ORDER BY id LIMIT ?2";
    sqlite3_stmt *st;
    int rc;

    if ((rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL)) != SQLITE_OK)
        return store_code(s, rc);
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int(st, 2, limit);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(arg, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
           (const char *)sqlite3_column_text(st, 2));
    sqlite3_finalize(st);
    return store_code(s, rc);
}

enum store_err store_outbox_done(struct store *s, int64_t id)
{
    static const char sql[] = "DELETE FROM outbox WHERE id = ?1";
    sqlite3_stmt *st;
    int rc;

    WARDEN_ASSERT(!s->in_batch);
    if ((rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL)) != SQLITE_OK)
        return store_code(s, rc);
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return store_code(s, rc);
}

enum store_err store_ingest_run_begin(struct store *s)
{
    enum store_err e;

    WARDEN_ASSERT(!s->in_batch);
    sqlite3_bind_int64(s->st[ST_RUN_ADD], 1, clock_now_ms());
    if ((e = step_done(s, s->st[ST_RUN_ADD])) == STORE_OK)
        s->run_id = sqlite3_last_insert_rowid(s->db);
    return e;
}

enum store_err store_ingest_status(struct store *s, bool connected, const char *last_error)
{
    static const char sql[] = "UPDATE ingest_state SET connected = ?1, last_error = ?2, pid = ?3, "
                              "started_ms = coalesce(started_ms, ?4) WHERE id = 1";
    sqlite3_stmt *st;
    enum store_err e;

    WARDEN_ASSERT(!s->in_batch);
    if ((e = store_code(s, sqlite3_prepare_v2(s->db, sql, -1, &st, NULL))) != STORE_OK)
        return e;
    sqlite3_bind_int(st, 1, connected);
    bind_text(st, 2, last_error);
    sqlite3_bind_int64(st, 3, (int64_t)getpid());
    sqlite3_bind_int64(st, 4, clock_now_ms());
    e = store_code(s, sqlite3_step(st));
    sqlite3_finalize(st);
    return e;
}

/* ---- health of the write path ------------------------------------------------------------- */

static pthread_mutex_t health_lock = PTHREAD_MUTEX_INITIALIZER;
static struct store_health health;

const char *store_errname(struct store *s)
{
    static const struct {
        int rc;
        const char *name;
    } names[] = {
        {SQLITE_FULL, "SQLITE_FULL"},       {SQLITE_IOERR, "SQLITE_IOERR"},
        {SQLITE_BUSY, "SQLITE_BUSY"},       {SQLITE_LOCKED, "SQLITE_LOCKED"},
        {SQLITE_CORRUPT, "SQLITE_CORRUPT"}, {SQLITE_READONLY, "SQLITE_READONLY"},
        {SQLITE_NOMEM, "SQLITE_NOMEM"},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if ((s->last_rc & 0xff) == names[i].rc)
            return names[i].name;
    return "other";
}

void store_health_get(struct store_health *h)
{
    pthread_mutex_lock(&health_lock);
    *h = health;
    pthread_mutex_unlock(&health_lock);
}

void store_health_failed(struct store *s)
{
    const char *name = store_errname(s);
    size_t i;

    pthread_mutex_lock(&health_lock);
    /* The names are static strings, so a pointer compare finds the slot. */
    for (i = 0; i < STORE_HEALTH_ERRORS - 1 && health.failures[i].name != NULL &&
                health.failures[i].name != name;
         i++)
        ;
    health.failures[i].name = name;
    health.failures[i].n++;
    if (health.writable || !health.known)
        health.since_ms = clock_now_ms();
    health.known = true;
    health.writable = false;
    snprintf(health.error, sizeof(health.error), "%s (%s)", s->errbuf, name);
    pthread_mutex_unlock(&health_lock);
}

void store_health_ok(void)
{
    pthread_mutex_lock(&health_lock);
    if (!health.writable || !health.known)
        health.since_ms = clock_now_ms();
    health.known = true;
    health.writable = true;
    health.error[0] = '\0';
    pthread_mutex_unlock(&health_lock);
}

void store_test_max_pages(struct store *s, int64_t n)
{
    char sql[64];

    snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld", (long long)n);
    sqlite3_exec(s->db, sql, NULL, NULL, NULL);
}
