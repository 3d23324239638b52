/*
 * The storage ceiling of the ingest benchmarks: SQLite inserting flow rows
 * alone, with nothing else to do. The database is opened by store_open(), so
 * the schema (flow_raw and its index) and the pragmas (WAL, synchronous,
 * cache) are Warden's own; then ROWS rows go in through one prepared INSERT
 * of the flow columns a FlatBuffers flow has (the optional ones left NULL),
 * in transactions of BATCH rows. No decoding, no address or device lookups,
 * no counts, no dedup: what is left when everything but the INSERT is free.
 *
 * One JSON line on stdout: {"rows": N, "batch": B, "seconds": S, "rate": R}
 * (rows per second, from the first BEGIN to the last COMMIT).
 *
 * usage: sqlite_ceiling DB ROWS [BATCH]
 */
#include "store/store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define DEVICES 1000
#define FLOWS_PER_MESSAGE 20

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void must(sqlite3 *db, int rc, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        fprintf(stderr, "sqlite_ceiling: %s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

int main(int argc, char **argv)
{
    static const char sql[] =
        "INSERT INTO flow_raw (recv_ms, dev, skew_ms, proto_dir, laddr, lport, raddr, rport, "
        "bytes_in, bytes_out) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
    struct store *s;
    sqlite3 *db;
    sqlite3_stmt *st;
    char err[512];
    long long rows, batch;
    int64_t now;
    double t0, secs;

    if (argc < 3) {
        fprintf(stderr, "usage: sqlite_ceiling DB ROWS [BATCH]\n");
        return 2;
    }
    rows = strtoll(argv[2], NULL, 10);
    batch = argc > 3 ? strtoll(argv[3], NULL, 10) : 50000;
    if (rows < 1 || batch < 1)
        return 2;
    if ((s = store_open(argv[1], err, sizeof(err))) == NULL) {
        fprintf(stderr, "sqlite_ceiling: %s\n", err);
        return 1;
    }
    db = store_sqlite(s);
    must(db, sqlite3_prepare_v2(db, sql, -1, &st, NULL), "prepare");
    now = clock_now_ms();

    t0 = mono_s();
    for (long long i = 0; i < rows; i++) {
        /* Message m of device m % DEVICES, flow j of it: values shaped like the simulator's. */
        long long m = i / FLOWS_PER_MESSAGE, j = i % FLOWS_PER_MESSAGE;

        if (i % batch == 0)
            must(db, sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), "begin");
        sqlite3_bind_int64(st, 1, now + m / 25);
        sqlite3_bind_int64(st, 2, m % DEVICES + 1);
        sqlite3_bind_int64(st, 3, -200);
        sqlite3_bind_int(st, 4, j % 3 == 1 ? 4 : 0);
        sqlite3_bind_int64(st, 5, m % DEVICES + 1);
        sqlite3_bind_int(st, 6, (int)(49152 + (m % DEVICES * 31 + j * 977) % 16384));
        sqlite3_bind_int64(st, 7, DEVICES + 1 + j % 10);
        sqlite3_bind_int(st, 8, j % 3 == 1 ? 53 : 443);
        sqlite3_bind_int64(st, 9, 100 + (i * 7919) % 20000);
        sqlite3_bind_int64(st, 10, 40 + (i * 104729) % 2000);
        must(db, sqlite3_step(st), "insert");
        sqlite3_reset(st);
        if ((i + 1) % batch == 0 || i + 1 == rows)
            must(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
    }
    secs = mono_s() - t0;
    sqlite3_finalize(st);
    store_close(s);
    printf("{\"rows\": %lld, \"batch\": %lld, \"seconds\": %.3f, \"rate\": %.1f}\n", rows, batch,
           secs, (double)rows / secs);
    return 0;
}
