/*
 * store/: the SQLite layer. It opens the database, applies the migrations of
 * sql/, and owns the batch writer the ingester fills: rows are inserted as
 * they come, inside one transaction that store_batch_commit() commits. The
 * evaluator's configuration imports and passes write their own tables through
 * store_sqlite(), in transactions of their own.
 *
 * Layout, chosen for a large lab (tens of thousands of rows a second):
 *   - raw time series (flow_pack, ...) are arrival ordered, keyed by rowid, with
 *     only an append-only index on recv_ms; devices and addresses are small
 *     integers (devices.id, addrs.id), and a message's flows share one row
 *     (sql/003), so a flow costs about 40 bytes and a twentieth of a row;
 *   - `flows`, `device_counts`, ... are views that read as SPEC 3.2 says;
 *   - counts live in 10-second buckets keyed (bucket_ms, dev, metric), which is
 *     append-mostly too.
 */
#ifndef WARDEN_STORE_H
#define WARDEN_STORE_H

#include "../common/common.h"

#include <stdbool.h>
#include <stdint.h>

#define STORE_NO_TIME INT64_MIN /* a device time the payload did not have */

enum store_proto { STORE_TCP = 0, STORE_UDP = 1, STORE_ICMP = 2 };
enum store_dir { STORE_DIR_UNKNOWN = 0, STORE_DIR_IN = 1, STORE_DIR_OUT = 2 };

/* The metrics counted per device per 10-second bucket (SPEC 3.2). */
enum store_metric {
    METRIC_D2C = 0,
    METRIC_C2D,
    METRIC_C2D_REJECTED,
    METRIC_DIRECT_METHOD,
    METRIC_TWIN,
    METRIC_QUEUE_PURGE,
    METRIC_UNAUTHORIZED,
    METRIC_SECURITY_MESSAGES,
    METRIC_FLOWS,
    METRIC_COUNT
};
/* The SQL name of a metric ("d2c_messages", ...). */
const char *store_metric_name(enum store_metric m);

/*
 * Rows as the decoders produce them. Strings are NUL-terminated, owned by
 * whoever filled the row (a decoder's arena), and NULL when absent; the store
 * copies what it keeps.
 */
struct store_flow {
    int64_t device_ms;      /* STORE_NO_TIME when unknown */
    uint8_t protocol;       /* enum store_proto */
    uint8_t direction;      /* enum store_dir */
    struct ip_addr local, remote;
    uint16_t local_port, remote_port;
    uint32_t bytes_in, bytes_out;
    int64_t process_id, user_id; /* -1 when absent */
    const char *executable, *commandline;
    const char *details;    /* JSON object text of extra details, or NULL */
    uint32_t interval_s;    /* the event's collection interval in seconds, 0 when unknown */
};

struct store_port {
    int64_t device_ms;
    uint8_t protocol;
    struct ip_addr local, remote; /* remote.family 0 when absent */
    int32_t local_port, remote_port; /* -1 when absent */
    const char *details;    /* JSON text: original port text when it was not one number */
    uint32_t interval_s;    /* the event's collection interval in seconds, 0 when unknown */
};

struct store_sysinfo {
    int64_t device_ms;
    const char *os_info, *kernel_info, *hw_info;
    const char *details;    /* JSON text of every field the payload had, or NULL */
    uint32_t interval_s;    /* the event's collection interval in seconds, 0 when unknown */
};

/* Baseline, Process, Log and every event name without a table of its own. */
struct store_event_other {
    int64_t device_ms;
    const char *name;       /* "Baseline", "Process", "Log", or the JSON event name */
    const char *payload;    /* JSON text */
    uint32_t interval_s;    /* the event's collection interval in seconds, 0 when unknown */
};

/* One hub operation record (SPEC 2.4), validated. */
struct store_hubop {
    int64_t time_ms;        /* the record's time, or the received time */
    const char *hub;        /* from the topic */
    const char *category, *operation, *result, *reason;
    const char *device_id;  /* NULL when the record names none */
    const char *source_ip;
    const char *details;    /* JSON object text, or NULL */
    int64_t count;          /* 1..1,000,000 */
};

/* ---- the database ------------------------------------------------------------ */

/* Result of every fallible store function. */
enum store_err {
    STORE_OK = 0,
    STORE_ERR_FULL,     /* database or disk full: hold, retry later */
    STORE_ERR_IO,       /* I/O error, locked past the busy timeout, corrupt */
    STORE_ERR_INVALID   /* a value the store refuses */
};

struct store;

/*
 * Open (creating if needed) the database at path, in WAL mode, and bring its
 * schema up to date. On failure returns NULL and writes why into err.
 * The caller owns the result and closes it with store_close().
 */
struct store *store_open(const char *path, char *err, size_t errlen);
void store_close(struct store *s);
/* The schema version the database is at, and the one this binary knows. */
int store_schema_version(struct store *s);
int store_schema_latest(void);
/* PRAGMA quick_check: true when the file is sound; otherwise the first problem in msg. */
bool store_check(struct store *s, char *msg, size_t msglen);
/*
 * A consistent copy of the database at src_path (store/backup.c says how),
 * taken while other processes write to it, as dest_path: mode 0640, written
 * to a temporary name beside it and renamed. An existing dest_path is
 * replaced only when replace is set. progress, when not NULL, is called
 * between steps with the pages copied and the total; it returns false to
 * stop (nothing is left behind). Returns STORE_ERR_INVALID for what the
 * caller can fix (dest exists, not a Warden database, stopped), and says why
 * in err.
 */
struct store_backup_info {
    int64_t bytes;  /* size of the copy */
    int64_t pages;
    int64_t steps;  /* sqlite3_backup_step calls it took */
    int64_t ms;     /* how long it took */
    int schema;     /* the copy's schema version */
};
typedef bool (*store_backup_progress)(int64_t done, int64_t total, void *arg);
enum store_err store_backup(const char *src_path, const char *dest_path, bool replace,
                            store_backup_progress progress, void *arg,
                            struct store_backup_info *info, char *err, size_t errlen);
/* The last SQLite error text, for logs. */
const char *store_errmsg(struct store *s);
/* The underlying connection, for the few modules that read (evaluator, web). */
struct sqlite3 *store_sqlite(struct store *s);

/* ---- the batch writer (one transaction per batch) ----------------------------- */

/*
 * store_batch_begin() opens a write transaction; the append functions below
 * write into it; store_batch_commit() flushes the per-batch aggregates and
 * commits. After any error the caller calls store_batch_rollback(): nothing of
 * the batch is kept, and the store forgets what it cached during it.
 */
enum store_err store_batch_begin(struct store *s);
enum store_err store_batch_commit(struct store *s, int64_t watermark_ms);
void store_batch_rollback(struct store *s);
bool store_batch_open(const struct store *s);

/*
 * Devices. device_id must pass device_id_check() (STORE_ERR_INVALID
 * otherwise); whether an unknown id may be registered at all is the
 * caller's decision (ingest/route.c says when).
 *
 * store_device_find: the integer id of a registered device in *dev, marking
 * it seen at recv_ms; 0 when it is not registered.
 * store_device_add: the same, and an unknown device is registered
 * automatically (security group "default", devices.auto_registered) unless
 * max_auto devices are registered so already: then *dev is 0.
 * store_device: store_device_add without a cap, for tools and tests.
 */
enum store_err store_device_find(struct store *s, const char *device_id, int64_t recv_ms,
                                 int64_t *dev);
enum store_err store_device_add(struct store *s, const char *device_id, const char *hub,
                                int64_t recv_ms, int64_t max_auto, int64_t *dev);
enum store_err store_device(struct store *s, const char *device_id, const char *hub,
                            int64_t recv_ms, int64_t *dev);
/*
 * What a security message says about its sender. A NULL string, a skew of
 * STORE_NO_TIME or an interval of 0 leaves what is stored as it is.
 */
struct store_device_info {
    const char *module_id, *agent_version, *module_version, *os_info;
    int64_t skew_ms;
    uint32_t activity_interval_s;  /* collection interval of network activity */
    uint32_t heartbeat_interval_s; /* of heartbeats (system information shares it) */
};
enum store_err store_device_info(struct store *s, int64_t dev, const struct store_device_info *in);

/*
 * True in *dup when this event of the device, the same id with the same
 * content (a digest of everything the event says, its time included), was
 * stored within the dedup window; otherwise records it and sets *dup false.
 * The id alone is not the event: boards with an unseeded random number
 * generator repeat their ids after every reboot, with other contents.
 */
enum store_err store_event_seen(struct store *s, int64_t dev, const uint8_t *id, size_t len,
                                uint64_t content, bool *dup);

enum store_err store_flow_append(struct store *s, int64_t dev, int64_t recv_ms,
                                 const struct store_flow *f);

/*
 * A flow as a flow_pack row holds it (sql/003), read back by
 * store_pack_next() without SQL: the evaluator reads every new flow, and
 * SQLite's json_each costs ten times what this does.
 */
struct store_packed_flow {
    int64_t proto_dir, laddr, lport, raddr, rport, bytes_in, bytes_out;
    int64_t skew_ms; /* STORE_NO_TIME when the flow had no device time */
};

/*
 * The next flow of a flow_pack row's text, from *pos (0 for the first);
 * extras (legacy agents' process, user, executable, ...) are skipped. False
 * at the end of the text, and on anything but what store_flow_append wrote.
 */
bool store_pack_next(const char *text, size_t len, size_t *pos, struct store_packed_flow *f);
enum store_err store_port_append(struct store *s, const char *device_id, const char *hub,
                                 int64_t recv_ms, const struct store_port *p);
enum store_err store_sysinfo_append(struct store *s, const char *device_id, const char *hub,
                                    int64_t recv_ms, const struct store_sysinfo *si);
enum store_err store_heartbeat_append(struct store *s, const char *device_id, const char *hub,
                                      int64_t recv_ms, int64_t device_ms, uint32_t interval_s);
enum store_err store_other_append(struct store *s, const char *device_id, const char *hub,
                                  int64_t recv_ms, const struct store_event_other *o);
enum store_err store_hubop_append(struct store *s, int64_t recv_ms, const struct store_hubop *op);
/*
 * The same row written on db, outside the batch writer: for the hub's
 * control plane (imports/hubctl.c), which writes its record in the
 * transaction of the change it records, on whichever connection that is.
 */
enum store_err store_hubop_insert(struct sqlite3 *db, int64_t recv_ms, const struct store_hubop *op);
/* payload is truncated to 64 KiB; device_id may be NULL. */
enum store_err store_dead_letter(struct store *s, int64_t recv_ms, const char *topic,
                                 const char *device_id, const char *reason, const void *payload,
                                 size_t len);

/* Add n to a device's metric in the 10-second bucket holding at_ms. */
void store_count(struct store *s, int64_t dev, enum store_metric m, int64_t at_ms, int64_t n);
/* Add n to a /metrics counter (name, label), written with the batch. */
void store_counter_add(struct store *s, const char *name, const char *label, int64_t n);

/* ---- housekeeping (between batches, in transactions of their own) -------------- */

/* Dedup horizon: ids are remembered for at least window_ms. */
void store_set_dedup_window(struct store *s, int64_t window_ms);
/*
 * Summarise new raw flows into flow_hourly. Flows of committed batches are
 * summed in memory and written once the sums are a minute old (or large), in
 * one transaction that moves the cursor; raw rows the memory does not hold
 * (after a restart) are rolled up with SQL, at most max_rows a call (bounded
 * work, a short transaction); *more says whether such rows are still waiting.
 * max_rows of STORE_ROLLUP_ALL or more also writes the sums now.
 */
#define STORE_ROLLUP_ALL (INT64_MAX / 4)
enum store_err store_rollup(struct store *s, int64_t max_rows, bool *more);
/*
 * Retention (SPEC 3.2): delete what is past its age, merge old 10-second
 * counts into 1-minute buckets, and keep the database under its size cap by
 * deleting the oldest raw data first. Each step is its own short transaction
 * of at most `budget` rows, so ingest is never held up; *more says whether
 * work is left. Sizes: the cap counts used pages (free pages are reused, so
 * the file stops growing once pruning keeps up).
 */
struct store_retention {
    int64_t raw_ms, hourly_ms, counts_ms, fine_ms, results_ms;
    int64_t max_db_bytes, min_free_bytes;
};
/* The retention settings of a configuration. */
void config_retention(const struct config *cfg, struct store_retention *r);
enum store_err store_prune(struct store *s, const struct store_retention *r, int64_t now_ms,
                           int64_t budget, bool *more);
/* Bytes the database uses (pages in use times page size). */
int64_t store_used_bytes(struct store *s);

/*
 * The outbox of alert transitions to publish (SPEC 5.4). store_outbox_next()
 * calls fn for up to limit rows with an id above after, oldest first;
 * store_outbox_done() deletes one once the broker has acknowledged it.
 */
enum store_err store_outbox_next(struct store *s, int64_t after, int limit,
                                 void (*fn)(void *arg, int64_t id, const char *topic,
                                            const char *payload),
                                 void *arg);
enum store_err store_outbox_done(struct store *s, int64_t id);

/* Start a row of ingest_runs for this ingester; each commit then moves its last_ms. */
enum store_err store_ingest_run_begin(struct store *s);
/* Record the ingester's connection state and error in ingest_state. */
enum store_err store_ingest_status(struct store *s, bool connected, const char *last_error);

/* ---- whether the write path works (for /healthz and /metrics) ------------------------ */

/*
 * The ingester's view of the database, kept in memory for this whole process:
 * when the disk is full the database cannot record that it is full, and the
 * web thread of `warden run` must still be able to say so. Thread-safe.
 */
#define STORE_HEALTH_ERRORS 8
struct store_health {
    bool known;               /* an ingester in this process has reported */
    bool writable;
    int64_t since_ms;         /* unix ms when `writable` last changed */
    char error[200];          /* why not writable (SQLite's message and code) */
    /* Failed batch writes by SQLite result ("SQLITE_FULL", "SQLITE_IOERR", ...). */
    struct {
        const char *name;     /* NULL past the last */
        int64_t n;
    } failures[STORE_HEALTH_ERRORS];
};
void store_health_get(struct store_health *h);
/* A batch of s failed: count it under SQLite's last result and mark the store not writable. */
void store_health_failed(struct store *s);
/* A batch committed: the store is writable. */
void store_health_ok(void);
/* The name of the primary SQLite result of s's last error ("SQLITE_FULL", ...). */
const char *store_errname(struct store *s);
/*
 * Test hook: the database may hold at most n pages (PRAGMA max_page_count on
 * the write connection), so a test can fill it where it cannot mount a small
 * filesystem, and raise n again to give space back.
 */
void store_test_max_pages(struct store *s, int64_t n);

#endif
