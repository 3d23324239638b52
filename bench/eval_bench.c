/*
 * The evaluator benchmark: one pass over DEVICES devices with every rule
 * enabled and a threat list of RANGES ranges, over a database holding DAYS
 * days of history at the Azure RTOS cadence, synthesised directly in
 * Warden's own tables:
 *   - count buckets for the whole span: 10-second buckets for the newest
 *     day, 1-minute buckets before (as retention.fine leaves them);
 *   - hourly flow summaries for the whole span (FLOWS flows per device);
 *   - raw flows for the newest hour (FLOWS flows per device every 10 s, a
 *     flow_pack row each).
 * It times a warm-up pass (which builds the evaluator's flow map from the
 * raw flows of the longest window), then a steady pass one minute later,
 * after one more minute of data: the pass a running Warden makes every
 * minute. Prints one JSON line with the row counts and both times, and the
 * steady pass's CPU time, which other work on a busy machine does not stretch
 * as it stretches wall time.
 *
 * usage: eval_bench DB DEVICES DAYS RANGES [FLOWS]
 *        eval_bench DB --again     (passes over a database made before, no synthesis)
 */
#include "../evaluator/evaluator.h"
#include "../imports/imports.h"
#include "../imports/groups.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUCKET 10000LL
#define HOUR 3600000LL
#define DAY 86400000LL

static sqlite3 *db;

/* This process's CPU time in milliseconds. */
static int64_t cpu_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void exec(const char *sql)
{
    char *err = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fatal("%s: %s", sql, err);
}

static sqlite3_stmt *prep(const char *sql)
{
    sqlite3_stmt *st;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fatal("%s: %s", sql, sqlite3_errmsg(db));
    return st;
}

static void step(sqlite3_stmt *st)
{
    if (sqlite3_step(st) != SQLITE_DONE)
        fatal("insert: %s", sqlite3_errmsg(db));
    sqlite3_reset(st);
}

static int64_t query_int(const char *sql)
{
    sqlite3_stmt *st = prep(sql);
    int64_t n = 0;

    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static int64_t count_rows(const char *table)
{
    char sql[128];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    return query_int(sql);
}

/* Remote services: 64 public addresses shared by the fleet. */
static void fill_addrs(int devices)
{
    sqlite3_stmt *st = prep("INSERT INTO addrs (id, ip, ip_blob) VALUES (?1, ?2, ?3)");
    char ip[32];

    for (int i = 0; i < 64; i++) {
        uint8_t b[4] = {52, 178, (uint8_t)(i / 8), (uint8_t)(1 + i % 8)};
        snprintf(ip, sizeof(ip), "%d.%d.%d.%d", b[0], b[1], b[2], b[3]);
        sqlite3_bind_int(st, 1, 1 + i);
        sqlite3_bind_text(st, 2, ip, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 3, b, 4, SQLITE_TRANSIENT);
        step(st);
    }
    for (int d = 0; d < devices; d++) {
        uint8_t b[4] = {10, (uint8_t)(d >> 16), (uint8_t)(d >> 8), (uint8_t)d};
        snprintf(ip, sizeof(ip), "%d.%d.%d.%d", b[0], b[1], b[2], b[3]);
        sqlite3_bind_int(st, 1, 1000 + d);
        sqlite3_bind_text(st, 2, ip, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 3, b, 4, SQLITE_TRANSIENT);
        step(st);
    }
    sqlite3_finalize(st);
}

static void fill_devices(int devices, int64_t now)
{
    sqlite3_stmt *st = prep("INSERT INTO devices (id, device_id, hub, first_seen_ms, last_seen_ms) "
                            "VALUES (?1, ?2, 'lab-hub', ?3, ?4)");
    char id[32];

    for (int d = 0; d < devices; d++) {
        snprintf(id, sizeof(id), "bench-%05d", d);
        sqlite3_bind_int(st, 1, d + 1);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, now - 30 * DAY);
        sqlite3_bind_int64(st, 4, now - 5000);
        step(st);
    }
    sqlite3_finalize(st);
}

/* Counts from `from` to `to`: a security message (and `flows` flows) every 10 s per device. */
static void fill_counts(int devices, int64_t from, int64_t to, int64_t step_ms, int flows)
{
    sqlite3_stmt *st = prep("INSERT INTO counts (bucket_ms, dev, bucket_s, d2c_messages, "
                            "security_messages, flows) VALUES (?1, ?2, ?3, ?4, ?4, ?5)");
    int64_t per = step_ms / BUCKET;

    for (int64_t b = from; b < to; b += step_ms) {
        for (int d = 0; d < devices; d++) {
            sqlite3_bind_int64(st, 1, b);
            sqlite3_bind_int(st, 2, d + 1);
            sqlite3_bind_int64(st, 3, step_ms / 1000);
            sqlite3_bind_int64(st, 4, per);
            sqlite3_bind_int64(st, 5, per * flows);
            step(st);
        }
    }
    sqlite3_finalize(st);
}

static void fill_hourly(int devices, int64_t from, int64_t to, int flows)
{
    sqlite3_stmt *st = prep("INSERT INTO flow_hourly (hour_ms, dev, raddr, rport, proto_dir, laddr, "
                            "lport, records, bytes_in, bytes_out, first_ms, last_ms) "
                            "VALUES (?1, ?2, ?3, 443, 0, ?4, ?5, 360, 36000, 72000, ?1, ?1 + 3599000)");

    for (int64_t h = from; h < to; h += HOUR) {
        for (int d = 0; d < devices; d++) {
            for (int f = 0; f < flows; f++) {
                sqlite3_bind_int64(st, 1, h);
                sqlite3_bind_int(st, 2, d + 1);
                sqlite3_bind_int(st, 3, 1 + (d + f) % 64);
                sqlite3_bind_int(st, 4, 1000 + d);
                sqlite3_bind_int(st, 5, 40000 + f);
                step(st);
            }
        }
    }
    sqlite3_finalize(st);
}

/* FLOWS flows per device every 10 s, a flow_pack row per device and bucket (sql/003). */
static void fill_raw(int devices, int64_t from, int64_t to, int flows)
{
    static int64_t next_id = 1;
    sqlite3_stmt *st = prep("INSERT INTO flow_pack (id, recv_ms, dev, n, flows) "
                            "VALUES (?1, ?2, ?3, ?4, ?5)");
    char *text = malloc((size_t)flows * 64 + 2);

    if (text == NULL)
        fatal("out of memory");
    for (int64_t b = from; b < to; b += BUCKET) {
        for (int d = 0; d < devices; d++) {
            char *p = text;

            *p++ = '[';
            for (int f = 0; f < flows; f++)
                p += sprintf(p, "%s[0,%d,%d,%d,443,120,240,-400]", f ? "," : "", 1000 + d,
                             40000 + f, 1 + (d + f) % 64);
            *p++ = ']';
            sqlite3_bind_int64(st, 1, next_id);
            sqlite3_bind_int64(st, 2, b + (d % 10000));
            sqlite3_bind_int(st, 3, d + 1);
            sqlite3_bind_int(st, 4, flows);
            sqlite3_bind_text(st, 5, text, (int)(p - text), SQLITE_STATIC);
            step(st);
            next_id += flows;
        }
    }
    sqlite3_finalize(st);
    free(text);
}

/* Every rule on, with thresholds the synthetic fleet stays inside. */
static void every_rule_enabled(void)
{
    static const char doc[] =
        "{\"name\": \"default\", \"properties\": {\"timeWindowRules\": ["
        "{\"ruleType\": \"ActiveConnectionsNotInAllowedRange\", \"isEnabled\": true, \"minThreshold\": 0, \"maxThreshold\": 100, \"timeWindowSize\": \"PT15M\"},"
        "{\"ruleType\": \"MqttD2CMessagesNotInAllowedRange\", \"isEnabled\": true, \"minThreshold\": 1, \"maxThreshold\": 1000, \"timeWindowSize\": \"PT15M\"},"
        "{\"ruleType\": \"MqttC2DMessagesNotInAllowedRange\", \"isEnabled\": true, \"minThreshold\": 0, \"maxThreshold\": 100, \"timeWindowSize\": \"PT15M\"},"
        "{\"ruleType\": \"MqttC2DRejectedMessagesNotInAllowedRange\", \"isEnabled\": true, \"minThreshold\": 0, \"maxThreshold\": 10, \"timeWindowSize\": \"PT15M\"},"
        "{\"ruleType\": \"QueuePurgesNotInAllowedRange\", \"isEnabled\": true, \"minThreshold\": 0, \"maxThreshold\": 10, \"timeWindowSize\": \"PT15M\"},"
        "{\"ruleType\": \"DirectMethodInvokesNotInAllowedRange\", \"isEnabled\": true, \"minThreshold\": 0, \"maxThreshold\": 100, \"timeWindowSize\": \"PT15M\"},"
        "{\"ruleType\": \"TwinUpdatesNotInAllowedRange\", \"isEnabled\": true, \"minThreshold\": 0, \"maxThreshold\": 100, \"timeWindowSize\": \"PT15M\"},"
        "{\"ruleType\": \"UnauthorizedOperationsNotInAllowedRange\", \"isEnabled\": true, \"minThreshold\": 0, \"maxThreshold\": 10, \"timeWindowSize\": \"PT15M\"}],"
        "\"allowlistRules\": ["
        "{\"ruleType\": \"ConnectionToIpNotAllowed\", \"isEnabled\": true, \"allowlistValues\": [\"52.178.0.0/16\", \"10.0.0.0/8\"]},"
        "{\"ruleType\": \"ConnectionFromIpNotAllowed\", \"isEnabled\": true, \"allowlistValues\": [\"10.0.0.0/8\"]}]}}";
    struct group g;
    char err[256];

    if (!group_parse(doc, strlen(doc), NULL, &g, err, sizeof(err)) ||
        !group_store(db, &g, err, sizeof(err)))
        fatal("group: %s", err);
    group_free(&g);
}

/* RANGES random public ranges (none covering 52.178/16, which the fleet talks to). */
static void load_intel(struct store *s, long ranges, const char *dir)
{
    char path[512];
    FILE *f;
    uint64_t x = 88172645463325252ULL;
    char *argv[] = {"intel", "load", path, "--name", "bench", NULL};

    snprintf(path, sizeof(path), "%s/bench-intel.netset", dir);
    if ((f = fopen(path, "w")) == NULL)
        fatal("%s: cannot write", path);
    for (long i = 0; i < ranges; i++) {
        int a;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        a = 60 + (int)(x % 160); /* 60..219: clear of 52.178/16 and of most bogons */
        fprintf(f, "%d.%d.%d.0/%d\n", a, (int)((x >> 8) % 256), (int)((x >> 16) % 256),
                20 + (int)((x >> 24) % 13));
    }
    fclose(f);
    if (import_cmd_intel(5, argv, s) != 0)
        fatal("intel load failed");
    unlink(path);
}

/* Two more passes over an existing benchmark database, one minute apart. */
static int again(const char *path)
{
    struct config cfg;
    struct eval *e;
    char err[512];
    sqlite3_stmt *st;
    int64_t T = 0, t0;

    log_set_level(getenv("EVAL_BENCH_DEBUG") ? LOG_DEBUG : LOG_WARN);
    config_defaults(&cfg);
    snprintf(cfg.db_path, sizeof(cfg.db_path), "%s", path);
    if ((e = eval_open(&cfg, err, sizeof(err))) == NULL)
        fatal("%s", err);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        fatal("%s: cannot open", path);
    st = prep("SELECT value FROM evaluator_state WHERE key = 'last_pass_ms'");
    if (sqlite3_step(st) == SQLITE_ROW)
        T = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    for (int i = 1; i <= 3; i++) {
        /* The ingester has committed everything up to the pass. */
        st = prep("UPDATE ingest_state SET watermark_ms = ?1");
        sqlite3_bind_int64(st, 1, T + i * 60000);
        step(st);
        sqlite3_finalize(st);
        t0 = clock_mono_ms();
        if (!eval_pass(e, T + i * 60000, err, sizeof(err)))
            fatal("pass: %s", err);
        printf("{\"pass\": %d, \"pass_ms\": %lld}\n", i, (long long)(clock_mono_ms() - t0));
    }
    eval_close(e);
    sqlite3_close(db);
    return 0;
}

int main(int argc, char **argv)
{
    struct config cfg;
    struct store *s;
    struct eval *e;
    char err[512], dir[512];
    int devices, flows;
    double days;
    long ranges;
    int64_t now, t0, warm_ms, pass_ms, cpu0, pass_cpu_ms;

    if (argc == 3 && strcmp(argv[2], "--again") == 0)
        return again(argv[1]);
    if (argc < 5) {
        fprintf(stderr, "usage: eval_bench DB DEVICES DAYS RANGES [FLOWS]\n");
        return 2;
    }
    devices = (int)strtol(argv[2], NULL, 10);
    days = strtod(argv[3], NULL);
    ranges = strtol(argv[4], NULL, 10);
    flows = argc > 5 ? (int)strtol(argv[5], NULL, 10) : 4;
    log_set_level(LOG_WARN);
    unlink(argv[1]);
    config_defaults(&cfg);
    snprintf(cfg.db_path, sizeof(cfg.db_path), "%s", argv[1]);
    snprintf(dir, sizeof(dir), "%s", argv[1]);
    if (strrchr(dir, '/'))
        *strrchr(dir, '/') = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    if ((s = store_open(argv[1], err, sizeof(err))) == NULL)
        fatal("%s", err);
    db = store_sqlite(s);
    now = clock_now_ms();
    now -= now % 60000;

    t0 = clock_mono_ms();
    exec("PRAGMA synchronous = OFF");
    /* Synthesis only: the per-device index is built once at the end, in order. */
    exec("DROP INDEX counts_dev");
    exec("BEGIN");
    fill_addrs(devices);
    fill_devices(devices, now);
    /* The newest day in 10-second buckets, the rest in 1-minute buckets. */
    fill_counts(devices, now - (int64_t)(days * DAY), now - DAY, 60000, flows);
    fill_counts(devices, now - (days < 1 ? (int64_t)(days * DAY) : DAY), now - 60000, BUCKET, flows);
    fill_hourly(devices, now - (int64_t)(days * DAY), now, flows);
    fill_raw(devices, now - HOUR, now - 60000, flows);
    exec("INSERT INTO ingest_runs (started_ms, last_ms) VALUES (0, 9e15)");
    {
        /* The ingester has committed everything it read. */
        sqlite3_stmt *st = prep("UPDATE ingest_state SET watermark_ms = ?1");
        sqlite3_bind_int64(st, 1, now + 60000);
        step(st);
        sqlite3_finalize(st);
    }
    exec("COMMIT");
    exec("CREATE INDEX counts_dev ON counts(dev, bucket_ms)");
    every_rule_enabled();
    if (ranges > 0)
        load_intel(s, ranges, dir);
    fprintf(stderr, "eval_bench: synthesised in %.1f s\n", (clock_mono_ms() - t0) / 1000.0);

    if ((e = eval_open(&cfg, err, sizeof(err))) == NULL)
        fatal("%s", err);
    /* The warm-up pass: the flow cursor starts a minute back, the flow map is built. */
    {
        sqlite3_stmt *st = prep("INSERT INTO evaluator_state (key, value) SELECT 'flow_cursor', "
                                "coalesce(max(id + n - 1), 0) FROM flow_pack WHERE recv_ms < ?1");
        sqlite3_bind_int64(st, 1, now - 2 * 60000);
        step(st);
        sqlite3_finalize(st);
    }
    t0 = clock_mono_ms();
    if (!eval_pass(e, now - 60000, err, sizeof(err)))
        fatal("pass: %s", err);
    warm_ms = clock_mono_ms() - t0;
    /* One more minute of data, then the steady pass. */
    exec("BEGIN");
    fill_counts(devices, now - 60000, now, BUCKET, flows);
    fill_raw(devices, now - 60000, now, flows);
    exec("COMMIT");
    t0 = clock_mono_ms();
    cpu0 = cpu_ms();
    if (!eval_pass(e, now, err, sizeof(err)))
        fatal("pass: %s", err);
    pass_ms = clock_mono_ms() - t0;
    pass_cpu_ms = cpu_ms() - cpu0;
    printf("{\"devices\": %d, \"days\": %g, \"ranges\": %ld, \"count_rows\": %lld, "
           "\"hourly_rows\": %lld, \"raw_flow_packs\": %lld, \"raw_flows\": %lld, "
           "\"warmup_pass_ms\": %lld, "
           "\"pass_ms\": %lld, \"pass_cpu_ms\": %lld, \"alerts\": %lld}\n",
           devices, days, ranges, (long long)count_rows("counts"),
           (long long)count_rows("flow_hourly"), (long long)count_rows("flow_pack"),
           (long long)query_int("SELECT sum(n) FROM flow_pack"), (long long)warm_ms,
           (long long)pass_ms, (long long)pass_cpu_ms, (long long)count_rows("alerts"));
    eval_close(e);
    store_close(s);
    return 0;
}
