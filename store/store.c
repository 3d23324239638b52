/*
 * The store: opening the database and its migrations, the file's mode, the
 * ingester's state and the health of the write path. The statements and
 * their helpers are stmt.c; the batch writer, batch.c; reading packed flows
 * and the hourly rollup, rollup.c.
 */
#include "internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct migration {
    int version;
    const char *name;
    const char *sql;
};

static const struct migration migrations[] = {
#include "store/schema.inc"
};
#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

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
        if (sqlite3_prepare_v3(s->db, store_stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK) {
            snprintf(err, errlen, "preparing statement %d: %s", i, sqlite3_errmsg(s->db));
            store_close(s);
            return NULL;
        }
    }
    s->dedup_gen = (int)store_state_get(s, "dedup_gen", 0) & 1;
    s->dedup_gen_start = store_state_get(s, "dedup_gen_start_ms", clock_now_ms());
    return s;
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
    store_roll_free(&s->roll_batch);
    store_roll_free(&s->roll);
    free(s->pack);
    free(s);
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
    if ((e = store_step_done(s, s->st[ST_RUN_ADD])) == STORE_OK)
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
    store_bind_text(st, 2, last_error);
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

