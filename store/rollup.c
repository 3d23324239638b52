/*
 * Reading flow_pack rows back (store_pack_next), and the hourly rollup: the
 * sums batch.c gathers in memory go to flow_hourly, with the rollup cursor,
 * in one transaction; after a restart the flows past the cursor are summed
 * from flow_pack again.
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
        e = store_step_done(s, st);
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
    from = store_state_get(s, "rollup_flow_id", 0);
    if (s->roll.n > 0 && from > s->roll_from) {
        /* Someone else rolled these rows up (another process on this database): the
         * sums would count them twice. Forget them; SQL carries on from the cursor. */
        store_roll_clear(&s->roll);
    }
    last = s->roll.n > 0 ? s->roll_from : pack_end(s, INT64_MAX);
    to = last < from + max_rows ? last : pack_end(s, from + max_rows);
    if (to > from && (e = roll_sql(s, from, to)) == STORE_OK)
        e = store_state_set(s, "rollup_flow_id", to);
    *more = to < last;
    flush = e == STORE_OK && !*more && s->roll.n > 0 && to >= s->roll_from &&
            (clock_mono_ms() - s->roll_started_ms >= ROLL_FLUSH_AGE_MS ||
             s->roll.n >= ROLL_FLUSH_ROWS || max_rows >= STORE_ROLLUP_ALL);
    if (flush && (e = roll_flush(s)) == STORE_OK)
        e = store_state_set(s, "rollup_flow_id", s->roll_to);
    if (e == STORE_OK)
        e = store_code(s, sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL));
    if (e != STORE_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        /* The sums stay: the cursor did not move, so they still fit it. */
        return e;
    }
    if (flush)
        store_roll_clear(&s->roll);
    return STORE_OK;
}

