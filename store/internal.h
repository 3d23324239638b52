/*
 * What the files of store/ share, and nothing outside store/ may include: the
 * prepared statements' names, the in-memory state of a store (struct store),
 * and the small helpers that bind and step its statements.
 *
 *   stmt.c    the statements' text, error codes, bind and step helpers (the lowest floor)
 *   store.c   opening, migrations, the file's mode, errors, state, health
 *   batch.c   the writer: batches, devices, event ids, rows and per-batch sums
 *   rollup.c  reading packed flows back, and the hourly rollup
 */
#ifndef WARDEN_STORE_INTERNAL_H
#define WARDEN_STORE_INTERNAL_H

#include "store.h"

#include <sqlite3.h>

#define DEAD_LETTER_KEEP (64 * 1024)
#define BUCKET_MS 10000

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

/* stmt.c: the statements' text, and the helpers every file of store/ uses. */
extern const char *const store_stmt_sql[ST_COUNT_STMTS];
enum store_err store_code(struct store *s, int rc);
enum store_err store_step_done(struct store *s, sqlite3_stmt *st);
enum store_err store_step_int(struct store *s, sqlite3_stmt *st, int64_t *out, bool *found);
void store_bind_text(sqlite3_stmt *st, int i, const char *v);
void store_bind_time(sqlite3_stmt *st, int i, int64_t ms);
void store_bind_interval(sqlite3_stmt *st, int i, uint32_t interval_s);
void store_bind_opt_int(sqlite3_stmt *st, int i, int64_t v);
int64_t store_state_get(struct store *s, const char *key, int64_t dflt);
enum store_err store_state_set(struct store *s, const char *key, int64_t v);

/* batch.c: the flows' hourly sums kept in memory, which rollup.c writes out. */
void store_roll_clear(struct roll_set *r);
void store_roll_free(struct roll_set *r);

#endif
