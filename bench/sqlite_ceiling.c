/*
 * The storage ceiling of the ingest benchmarks: SQLite inserting flows alone,
 * with nothing else to do. The database is opened by store_open(), so the
 * schema (flow_pack and its index, sql/003) and the pragmas (WAL,
 * synchronous, cache) are Warden's own; then ROWS flows go in as Warden
 * stores them, a flow_pack row of FLOWS_PER_MESSAGE flows a message, through
 * one prepared INSERT, in transactions of BATCH flows. The JSON text of the
 * rows is made before the clock starts (one per device, shaped like the
 * simulator's flows): no decoding, no formatting, no address or device
 * lookups, no counts, no dedup: what is left when everything but the INSERT
 * is free.
 *
 * One JSON line on stdout: {"rows": N, "batch": B, "seconds": S, "rate": R}
 * (flows per second, from the first BEGIN to the last COMMIT).
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

/* The flows column of device d's messages. */
static char *pack_text(long long d)
{
    char *text = malloc(FLOWS_PER_MESSAGE * 64 + 2), *p = text;

    if (text == NULL)
        exit(1);
    *p++ = '[';
    for (long long j = 0; j < FLOWS_PER_MESSAGE; j++)
        p += sprintf(p, "%s[%d,%lld,%d,%lld,%d,%lld,%lld,-200]", j ? "," : "", j % 3 == 1 ? 4 : 0,
                     d + 1, (int)(49152 + (d * 31 + j * 977) % 16384), DEVICES + 1 + j % 10,
                     j % 3 == 1 ? 53 : 443, 100 + (d * 20 + j) * 7919 % 20000,
                     40 + (d * 20 + j) * 104729 % 2000);
    *p++ = ']';
    *p = '\0';
    return text;
}

int main(int argc, char **argv)
{
    static const char sql[] = "INSERT INTO flow_pack (id, recv_ms, dev, n, flows) "
                              "VALUES (?1, ?2, ?3, ?4, ?5)";
    static char *texts[DEVICES];
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

    for (int d = 0; d < DEVICES; d++)
        texts[d] = pack_text(d);
    batch = (batch + FLOWS_PER_MESSAGE - 1) / FLOWS_PER_MESSAGE * FLOWS_PER_MESSAGE;
    rows = (rows + FLOWS_PER_MESSAGE - 1) / FLOWS_PER_MESSAGE * FLOWS_PER_MESSAGE;

    t0 = mono_s();
    for (long long i = 0; i < rows; i += FLOWS_PER_MESSAGE) {
        /* Message m of device m % DEVICES. */
        long long m = i / FLOWS_PER_MESSAGE;

        if (i % batch == 0)
            must(db, sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), "begin");
        sqlite3_bind_int64(st, 1, i + 1);
        sqlite3_bind_int64(st, 2, now + m / 25);
        sqlite3_bind_int64(st, 3, m % DEVICES + 1);
        sqlite3_bind_int(st, 4, FLOWS_PER_MESSAGE);
        sqlite3_bind_text(st, 5, texts[m % DEVICES], -1, SQLITE_STATIC);
        must(db, sqlite3_step(st), "insert");
        sqlite3_reset(st);
        if ((i + FLOWS_PER_MESSAGE) % batch == 0 || i + FLOWS_PER_MESSAGE >= rows)
            must(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
    }
    secs = mono_s() - t0;
    sqlite3_finalize(st);
    store_close(s);
    for (int d = 0; d < DEVICES; d++)
        free(texts[d]);
    printf("{\"rows\": %lld, \"batch\": %lld, \"seconds\": %.3f, \"rate\": %.1f}\n", rows, batch,
           secs, (double)rows / secs);
    return 0;
}
