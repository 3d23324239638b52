/*
 * The count windows of the time-window rules: for each distinct window size,
 * the per-device sums of the rule metrics over (hi - size, hi], kept from pass
 * to pass so a pass reads about two intervals of count buckets, not the whole
 * window (struct window in eval_internal.h says how). It calls flows.c for the
 * distinct flows and evalstate.c.
 */
#include "eval_internal.h"

#include <stdlib.h>
#include <string.h>

struct window *eval_window_get(struct eval *e, int64_t size)
{
    struct window *w;

    for (size_t i = 0; i < e->n_windows; i++)
        if (e->windows[i].size == size)
            return &e->windows[i];
    w = realloc(e->windows, (e->n_windows + 1) * sizeof(*w));
    if (w == NULL)
        fatal("out of memory");
    e->windows = w;
    w = &e->windows[e->n_windows++];
    memset(w, 0, sizeof(*w));
    w->size = size;
    return w;
}

/* Room for every device id up to max_dev; new devices start at zero. */
static void window_fit(struct window *w, int64_t max_dev)
{
    size_t cap = w->cap;

    if ((size_t)max_dev < cap)
        return;
    while (cap <= (size_t)max_dev)
        cap = cap ? cap * 2 : 1024;
    w->final = realloc(w->final, cap * WSTRIDE * sizeof(int64_t));
    w->value = realloc(w->value, cap * WSTRIDE * sizeof(int64_t));
    if (w->final == NULL || w->value == NULL)
        fatal("out of memory");
    memset(w->final + w->cap * WSTRIDE, 0, (cap - w->cap) * WSTRIDE * sizeof(int64_t));
    w->cap = cap;
}

/* Add sign x the rule metrics of buckets starting in (a, b] into sums (cap x WSTRIDE). */
static bool add_buckets(struct eval *e, int64_t a, int64_t b, int sign, int64_t *sums, size_t cap)
{
    /* Columns 1..7 are the metrics METRIC_D2C .. METRIC_UNAUTHORIZED, in order. */
    static const char sql[] =
        "SELECT dev, d2c_messages, c2d_messages, c2d_rejected_messages, direct_method_invokes, "
        "twin_updates, queue_purges, unauthorized_operations FROM counts "
        "WHERE bucket_ms > ?1 AND bucket_ms <= ?2";
    sqlite3_stmt *st;
    int rc;

    if (b <= a)
        return true;
    if (sqlite3_prepare_v2(e->db, sql, -1, &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t dev = sqlite3_column_int64(st, 0);
        if (dev < 0 || (size_t)dev >= cap)
            continue; /* a device registered after the snapshot's device list */
        for (int m = 0; m < WRULE_METRICS; m++)
            sums[dev * WSTRIDE + m] += sign * sqlite3_column_int64(st, 1 + m);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE;
}

/* Bring w to the window (hi - size, hi] of this pass. */
bool eval_window_update(struct eval *e, struct window *w, int64_t hi)
{
    int64_t lo = hi - w->size;
    int64_t final = floor_bucket(e->watermark) - BUCKET_MS; /* buckets <= this are complete */
    int64_t fh = hi < final ? hi : final;
    bool device_clock = strcmp(e->cfg->evaluator_clock, "device") == 0;

    window_fit(w, e->max_dev);
    if (fh < lo || device_clock) {
        fh = lo; /* nothing final in the window: all of it is read below */
        w->valid = false;
    } else if (!w->valid || fh < w->hi || lo < w->lo || lo > w->hi || fh - w->hi > w->size) {
        memset(w->final, 0, w->cap * WSTRIDE * sizeof(int64_t));
        if (!add_buckets(e, lo, fh, 1, w->final, w->cap))
            return false;
        w->valid = true;
    } else if (!add_buckets(e, w->hi, fh, 1, w->final, w->cap) ||
               !add_buckets(e, w->lo, lo, -1, w->final, w->cap)) {
        w->valid = false;
        return false;
    }
    w->lo = lo;
    w->hi = fh;
    memcpy(w->value, w->final, w->cap * WSTRIDE * sizeof(int64_t));
    if (!add_buckets(e, fh, hi, 1, w->value, w->cap))
        return false;
    eval_distinct_flows(e, w, lo, hi);
    return true;
}

int64_t eval_window_value(struct eval *e, int64_t size, int64_t dev, enum store_metric m)
{
    struct window *w = eval_window_get(e, size);
    int idx = m == METRIC_FLOWS ? WDISTINCT : (int)m;

    if (dev < 0 || (size_t)dev >= w->cap)
        return 0;
    return w->value[dev * WSTRIDE + idx];
}
