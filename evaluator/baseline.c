/*
 * The baseline of a group's time-window rules (tuning.h): the span is cut
 * into windows of each rule's size, ending where the evaluator's newest pass
 * would end its window, and every device of the group gets the value the
 * rule tests over each window, computed as windows.c and flows.c compute it
 * (count buckets starting in (lo, hi]; distinct flows by their bucket).
 *
 * One read of the count buckets and one of the raw flows, both in time
 * order and merged, feed every window size at once: a window's sums are
 * complete when the first row after it arrives, so memory holds one open
 * window per size and device, and each device's values as a histogram
 * (value -> windows), never the series. Windows that overlap an alert of
 * their device (any alert: a threat-intelligence hit, an allow list, a
 * threshold) are kept apart from the baseline unless the caller asks, so
 * what an attack did does not become normal; they still count when the
 * suggestion says how many windows it would have flagged.
 */
#include "eval_internal.h"
#include "tuning.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TUNE_MARGIN 0.25      /* the suggestion widens p0.5 and p99.5 by this share ... */
#define TUNE_ZERO_SHARE 0.01  /* ... and starts at 0 when this share of windows is zero */
#define CANCEL_EVERY 65536    /* rows between looks at the cancel flag */
#define TUNE_BINS 40          /* bars of the distribution a chart draws */

/* How many windows had each value; key = value * 2 + (1 when the window was set apart). */
struct hist {
    struct hbin {
        int64_t key, n;
    } *b;
    size_t len, cap;
};

/* A span of a device's behaviour that an alert covers: [lo, hi]. */
struct span {
    int64_t lo, hi;
};

struct tdev {
    int64_t id;
    char *device_id;
    int64_t first_seen;
    struct span *alerts;
    size_t n_alerts;
};

/* One window size: its windows tile (start, start + n * size]. */
struct tsize {
    int64_t size, start, n;
    int64_t tile;   /* the window being summed */
    int64_t *acc;   /* n_dev x WSTRIDE: the open window's sums */
};

struct trule {
    enum group_rule rule;
    const struct group_tw_rule *cur;
    size_t size;        /* index into sizes */
    int64_t from;       /* windows starting before this have no data for the rule */
    struct hist *h;     /* one a device */
};

struct tune {
    sqlite3 *db;
    const struct config *cfg;
    const struct tune_opts *o;
    struct group *groups;
    size_t n_groups;
    const struct group *g;
    struct tdev *dev;
    size_t n_dev;
    int32_t *index;     /* devices.id -> index into dev, or -1 */
    int64_t max_id;
    struct tsize sizes[GROUP_RULE_OBSERVABLE];
    size_t n_sizes;
    struct trule rules[GROUP_RULE_OBSERVABLE];
    size_t n_rules;
    int64_t from, to;   /* the span: (from, to] */
    int64_t flow_size;  /* the ActiveConnections window; 0 when not baselined */
    struct map flows;   /* struct flow_key -> 1 + the tile it was last counted in */
    int64_t rows;
    int percent;
};

/* ---- histograms ------------------------------------------------------------------------ */

static void hist_add(struct hist *h, int64_t key)
{
    size_t lo = 0, hi = h->len;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (h->b[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < h->len && h->b[lo].key == key) {
        h->b[lo].n++;
        return;
    }
    if (h->len == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 8;
        h->b = realloc(h->b, h->cap * sizeof(*h->b));
        if (h->b == NULL)
            fatal("out of memory");
    }
    memmove(&h->b[lo + 1], &h->b[lo], (h->len - lo) * sizeof(*h->b));
    h->b[lo].key = key;
    h->b[lo].n = 1;
    h->len++;
}

/* Values and their counts, in value order: the windows a histogram kept for the baseline. */
struct dist {
    struct hbin *b; /* key = value here */
    size_t len;
    int64_t n;
};

static void dist_of(const struct hist *h, struct dist *d)
{
    d->b = malloc((h->len ? h->len : 1) * sizeof(*d->b));
    if (d->b == NULL)
        fatal("out of memory");
    d->len = 0;
    d->n = 0;
    for (size_t i = 0; i < h->len; i++) {
        int64_t v = h->b[i].key >> 1;
        if (h->b[i].key & 1)
            continue;
        if (d->len > 0 && d->b[d->len - 1].key == v) {
            d->b[d->len - 1].n += h->b[i].n;
        } else {
            d->b[d->len].key = v;
            d->b[d->len++].n = h->b[i].n;
        }
        d->n += h->b[i].n;
    }
}

/*
 * The p-th percentile by nearest rank: the smallest value with at least
 * p% of the windows at or below it. 0 for no windows.
 */
static int64_t dist_pct(const struct dist *d, double p)
{
    int64_t rank = (int64_t)ceil(p / 100.0 * (double)d->n - 1e-9), seen = 0;

    if (rank < 1)
        rank = 1;
    for (size_t i = 0; i < d->len; i++) {
        seen += d->b[i].n;
        if (seen >= rank)
            return d->b[i].key;
    }
    return d->len ? d->b[d->len - 1].key : 0;
}

static int cmp_bin(const void *a, const void *b)
{
    int64_t x = ((const struct hbin *)a)->key, y = ((const struct hbin *)b)->key;
    return x < y ? -1 : x > y;
}

/* The group's distribution: every device's kept windows together. */
static void dist_group(const struct trule *r, size_t n_dev, struct dist *d)
{
    size_t total = 0, at = 0;

    for (size_t i = 0; i < n_dev; i++)
        total += r->h[i].len;
    d->b = malloc((total ? total : 1) * sizeof(*d->b));
    if (d->b == NULL)
        fatal("out of memory");
    for (size_t i = 0; i < n_dev; i++)
        for (size_t j = 0; j < r->h[i].len; j++)
            if (!(r->h[i].b[j].key & 1)) {
                d->b[at].key = r->h[i].b[j].key >> 1;
                d->b[at++].n = r->h[i].b[j].n;
            }
    qsort(d->b, at, sizeof(*d->b), cmp_bin);
    d->len = 0;
    d->n = 0;
    for (size_t i = 0; i < at; i++) {
        if (d->len > 0 && d->b[d->len - 1].key == d->b[i].key)
            d->b[d->len - 1].n += d->b[i].n;
        else
            d->b[d->len++] = d->b[i];
        d->n += d->b[i].n;
    }
}

/* ---- the group, its devices and their alerts ------------------------------------------------ */

/* The group's devices (eval_group_devices), indexed by devices.id. */
static bool load_devices(struct tune *t)
{
    struct device *d = eval_group_devices(t->db, t->g->name, &t->n_dev);

    if (d == NULL)
        return false;
    if ((t->dev = calloc(t->n_dev ? t->n_dev : 1, sizeof(*t->dev))) == NULL)
        fatal("out of memory");
    for (size_t i = 0; i < t->n_dev; i++) {
        t->dev[i].id = d[i].id;
        t->dev[i].device_id = d[i].device_id; /* taken over */
        t->dev[i].first_seen = d[i].first_seen_ms;
        d[i].device_id = NULL;
        if (d[i].id > t->max_id)
            t->max_id = d[i].id;
    }
    eval_devices_free(d, t->n_dev);
    t->index = malloc(((size_t)t->max_id + 1) * sizeof(*t->index));
    if (t->index == NULL)
        fatal("out of memory");
    for (int64_t i = 0; i <= t->max_id; i++)
        t->index[i] = -1;
    for (size_t i = 0; i < t->n_dev; i++)
        t->index[t->dev[i].id] = (int32_t)i;
    return true;
}

/*
 * What each alert of a device covers: a windowed alert opened at pass T
 * was caused by the window ending at T - offset, so it reaches back one
 * window from its first pass; an event alert covers its first to its last
 * occurrence.
 */
static bool load_alerts(struct tune *t)
{
    static const char sql[] =
        "SELECT d.id, a.start_ms - coalesce(CAST(substr(a.extended_properties ->> 'window', 3) "
        "AS INTEGER) * 1000, 0), a.end_ms FROM alerts a JOIN devices d ON d.device_id = a.device_id "
        "WHERE a.end_ms >= ?1 ORDER BY d.id, 2";
    int64_t offset = t->cfg->evaluator_offset_ms;
    sqlite3_stmt *st;

    if (sqlite3_prepare_v2(t->db, sql, -1, &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_int64(st, 1, t->from);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        struct tdev *d;
        if (id < 0 || id > t->max_id || t->index[id] < 0)
            continue;
        d = &t->dev[t->index[id]];
        d->alerts = realloc(d->alerts, (d->n_alerts + 1) * sizeof(*d->alerts));
        if (d->alerts == NULL)
            fatal("out of memory");
        d->alerts[d->n_alerts].lo = sqlite3_column_int64(st, 1) - offset;
        d->alerts[d->n_alerts++].hi = sqlite3_column_int64(st, 2) - offset;
    }
    sqlite3_finalize(st);
    return true;
}

static bool overlaps_alert(const struct tdev *d, int64_t lo, int64_t hi)
{
    for (size_t i = 0; i < d->n_alerts; i++)
        if (d->alerts[i].lo < hi && d->alerts[i].hi > lo)
            return true;
    return false;
}

/* ---- windows --------------------------------------------------------------------------------- */

static struct tsize *size_for(struct tune *t, int64_t size, size_t *index)
{
    for (size_t i = 0; i < t->n_sizes; i++)
        if (t->sizes[i].size == size) {
            *index = i;
            return &t->sizes[i];
        }
    *index = t->n_sizes;
    struct tsize *s = &t->sizes[t->n_sizes++];
    s->size = size;
    s->n = (t->to - t->from) / size;
    s->start = t->to - s->n * size;
    s->tile = 0;
    s->acc = calloc(t->n_dev ? t->n_dev * WSTRIDE : 1, sizeof(int64_t));
    if (s->acc == NULL)
        fatal("out of memory");
    return s;
}

/* The window s->tile is complete: into each device's histogram of each rule of this size. */
static void close_window(struct tune *t, size_t si)
{
    struct tsize *s = &t->sizes[si];
    int64_t lo = s->start + s->tile * s->size, hi = lo + s->size;

    for (size_t i = 0; i < t->n_dev; i++) {
        const struct tdev *d = &t->dev[i];
        int64_t *acc = &s->acc[i * WSTRIDE];
        bool apart;

        if (hi <= d->first_seen) {
            memset(acc, 0, WSTRIDE * sizeof(int64_t));
            continue; /* the evaluator did not know the device yet */
        }
        apart = !t->o->include_alerted && overlaps_alert(d, lo, hi);
        for (size_t r = 0; r < t->n_rules; r++) {
            const struct trule *tr = &t->rules[r];
            enum store_metric m = eval_rule_metric(tr->rule);
            if (tr->size != si || lo < tr->from)
                continue;
            hist_add(&tr->h[i], acc[m == METRIC_FLOWS ? WDISTINCT : (int)m] * 2 + apart);
        }
        memset(acc, 0, WSTRIDE * sizeof(int64_t));
    }
    s->tile++;
}

/* Every window of every size that ends before bucket b closes. */
static void advance(struct tune *t, int64_t b)
{
    for (size_t si = 0; si < t->n_sizes; si++) {
        struct tsize *s = &t->sizes[si];
        int64_t tile = b <= s->start ? -1 : (b - s->start - 1) / s->size;
        while (s->tile < tile && s->tile < s->n)
            close_window(t, si);
    }
}

static void add_counts(struct tune *t, int64_t b, int32_t i, sqlite3_stmt *st)
{
    for (size_t si = 0; si < t->n_sizes; si++) {
        struct tsize *s = &t->sizes[si];
        if (b <= s->start || s->tile >= s->n)
            continue;
        for (int m = 0; m < WRULE_METRICS; m++)
            s->acc[(size_t)i * WSTRIDE + m] += sqlite3_column_int64(st, 2 + m);
    }
}

/* A flow sighting in bucket b: one more distinct flow of its device's open window if new there. */
static void add_flow(struct tune *t, int64_t b, int32_t i, const struct flow_key *k)
{
    size_t si;
    struct tsize *s = size_for(t, t->flow_size, &si);
    struct map_entry *me;

    if (b <= s->start || s->tile >= s->n)
        return;
    if ((me = map_upsert(&t->flows, k, sizeof(*k))) == NULL)
        fatal("out of memory");
    if (me->value == s->tile + 1)
        return;
    me->value = s->tile + 1;
    s->acc[(size_t)i * WSTRIDE + WDISTINCT]++;
    if (t->flows.len > 4 * (size_t)t->n_dev + 65536) {
        /* Sightings of windows already closed are of no more use. */
        struct map fresh;
        map_init(&fresh);
        for (size_t j = 0; j < t->flows.cap; j++) {
            struct map_entry *o = &t->flows.slots[j], *n;
            if (o->key == NULL || o->value != s->tile + 1)
                continue;
            if ((n = map_upsert(&fresh, o->key, o->keylen)) == NULL)
                fatal("out of memory");
            n->value = o->value;
        }
        map_free(&t->flows);
        t->flows = fresh;
    }
}

static bool cancelled(struct tune *t, int64_t b)
{
    if (++t->rows % CANCEL_EVERY != 0)
        return false;
    if (t->o->progress != NULL && t->to > t->from) {
        int p = (int)((b - t->from) * 100 / (t->to - t->from));
        if (p != t->percent) {
            t->percent = p;
            t->o->progress(t->o->progress_arg, p);
        }
    }
    return t->o->cancel != NULL && *t->o->cancel;
}

/*
 * The count buckets and the raw flows of the span, merged in time order (a
 * flow's bucket is its received time's, as the evaluator counts it), into
 * the windows. Returns 0, 499 when cancelled, 500 on a database error.
 */
static int scan(struct tune *t)
{
    static const char counts_sql[] =
        "SELECT bucket_ms, dev, d2c_messages, c2d_messages, c2d_rejected_messages, "
        "direct_method_invokes, twin_updates, queue_purges, unauthorized_operations FROM counts "
        "WHERE bucket_ms > ?1 AND bucket_ms <= ?2 ORDER BY bucket_ms";
    static const char flows_sql[] = "SELECT recv_ms, dev, flows FROM flow_pack "
                                    "WHERE recv_ms >= ?1 AND recv_ms < ?2 ORDER BY recv_ms";
    sqlite3_stmt *c = NULL, *f = NULL;
    int rc_c, rc_f = SQLITE_DONE, status = 500;

    if (sqlite3_prepare_v2(t->db, counts_sql, -1, &c, NULL) != SQLITE_OK ||
        (t->flow_size > 0 && sqlite3_prepare_v2(t->db, flows_sql, -1, &f, NULL) != SQLITE_OK))
        goto out;
    sqlite3_bind_int64(c, 1, t->from);
    sqlite3_bind_int64(c, 2, t->to);
    rc_c = sqlite3_step(c);
    if (f != NULL) {
        /* A flow's bucket is in (from, to]. */
        sqlite3_bind_int64(f, 1, floor_bucket(t->from) + BUCKET_MS);
        sqlite3_bind_int64(f, 2, floor_bucket(t->to) + BUCKET_MS);
        rc_f = sqlite3_step(f);
    }
    while (rc_c == SQLITE_ROW || rc_f == SQLITE_ROW) {
        int64_t bc = rc_c == SQLITE_ROW ? sqlite3_column_int64(c, 0) : INT64_MAX;
        int64_t bf = rc_f == SQLITE_ROW ? floor_bucket(sqlite3_column_int64(f, 0)) : INT64_MAX;
        bool flows = bf < bc;
        sqlite3_stmt *st = flows ? f : c;
        int64_t b = flows ? bf : bc, dev = sqlite3_column_int64(st, 1);
        int32_t i = dev >= 0 && dev <= t->max_id ? t->index[dev] : -1;

        if (cancelled(t, b)) {
            status = 499;
            goto out;
        }
        advance(t, b);
        if (i >= 0 && !flows) {
            add_counts(t, b, i, c);
        } else if (i >= 0) {
            const char *text = (const char *)sqlite3_column_text(f, 2);
            size_t len = (size_t)sqlite3_column_bytes(f, 2), pos = 0;
            struct store_packed_flow p;
            while (text != NULL && store_pack_next(text, len, &pos, &p)) {
                struct flow_key k = {dev,           (int32_t)p.laddr,     (int32_t)p.raddr,
                                     (uint16_t)p.lport, (uint16_t)p.rport, (int)p.proto_dir >> 2};
                add_flow(t, b, i, &k);
            }
        }
        if (flows)
            rc_f = sqlite3_step(f);
        else
            rc_c = sqlite3_step(c);
    }
    if (rc_c != SQLITE_DONE || rc_f != SQLITE_DONE)
        goto out;
    advance(t, INT64_MAX);
    status = 0;
out:
    sqlite3_finalize(c);
    sqlite3_finalize(f);
    return status;
}

/* ---- the result ---------------------------------------------------------------------------- */

struct devstat {
    size_t i;
    int64_t p50, p99, max, windows, apart, flagged, distance;
};

static int cmp_devstat(const void *a, const void *b)
{
    const struct devstat *x = a, *y = b;

    if (x->distance != y->distance)
        return x->distance > y->distance ? -1 : 1;
    if (x->flagged != y->flagged)
        return x->flagged > y->flagged ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static json_t *iso_json(int64_t ms)
{
    char s[40];

    time_format_iso(ms, s, sizeof(s));
    return json_string(s);
}

/* Windows of the device's histogram (kept or not) outside [min, max]. */
static int64_t outside(const struct hist *h, int64_t min, int64_t max)
{
    int64_t n = 0;

    for (size_t i = 0; i < h->len; i++)
        if ((h->b[i].key >> 1) < min || (h->b[i].key >> 1) > max)
            n += h->b[i].n;
    return n;
}

/*
 * The suggestion: p0.5 and p99.5 of the kept windows, each moved out by a
 * quarter of its value (at least 1 above), and 0 below when zero windows
 * are common (a quiet device is normal then).
 */
static void suggest(const struct dist *g, int64_t zero, int64_t *min, int64_t *max)
{
    int64_t lo = dist_pct(g, 0.5), hi = dist_pct(g, 99.5);

    *min = (double)zero / (double)g->n >= TUNE_ZERO_SHARE
               ? 0
               : lo - (int64_t)ceil(TUNE_MARGIN * (double)lo);
    if (*min < 0)
        *min = 0;
    *max = hi + (int64_t)ceil(TUNE_MARGIN * (double)hi);
    if (*max <= hi)
        *max = hi + 1;
}

/* Each device's figures; *n_out devices had windows. */
static struct devstat *device_stats(struct tune *t, const struct trule *r, const struct dist *g,
                                    int64_t smin, int64_t smax, size_t *n_out)
{
    struct devstat *ds = calloc(t->n_dev ? t->n_dev : 1, sizeof(*ds));
    int64_t med = dist_pct(g, 50);
    size_t n = 0;

    if (ds == NULL)
        fatal("out of memory");
    for (size_t i = 0; i < t->n_dev; i++) {
        struct dist kept;
        struct devstat *s = &ds[n];
        int64_t total = 0;

        for (size_t j = 0; j < r->h[i].len; j++)
            total += r->h[i].b[j].n;
        if (total == 0)
            continue; /* not in the group's history yet */
        n++;
        dist_of(&r->h[i], &kept);
        s->i = i;
        s->windows = kept.n;
        s->apart = total - kept.n;
        if (kept.n > 0) {
            int64_t lo = kept.b[0].key;
            s->p50 = dist_pct(&kept, 50);
            s->p99 = dist_pct(&kept, 99);
            s->max = kept.b[kept.len - 1].key;
            s->distance = llabs(s->max - med) > llabs(lo - med) ? llabs(s->max - med) : llabs(lo - med);
        }
        if (g->n > 0)
            s->flagged = outside(&r->h[i], smin, smax);
        free(kept.b);
    }
    *n_out = n;
    return ds;
}

/* The median of the devices' kept windows: is there enough history behind the figures? */
static int64_t median_windows(const struct devstat *ds, size_t n)
{
    struct dist d = {malloc((n ? n : 1) * sizeof(struct hbin)), 0, 0};
    int64_t m;

    if (d.b == NULL)
        fatal("out of memory");
    for (size_t i = 0; i < n; i++)
        d.b[d.len++] = (struct hbin){ds[i].windows, 1};
    qsort(d.b, d.len, sizeof(*d.b), cmp_bin);
    d.n = (int64_t)n;
    m = dist_pct(&d, 50);
    free(d.b);
    return m;
}

/*
 * The kept windows in at most TUNE_BINS bins of equal width from 0 to the
 * largest value worth a chart (the group's max, the current max when it is
 * not far above, the suggestion): [{"lo", "hi", "windows"}], lo and hi
 * inclusive.
 */
static json_t *histogram(const struct dist *g, const struct group_tw_rule *cur, int64_t smax)
{
    int64_t top = g->len ? g->b[g->len - 1].key : 0, width;
    json_t *bins = json_array();

    if (smax > top)
        top = smax;
    if (cur->max > top && cur->max <= 4 * (top + 1))
        top = cur->max;
    width = top / TUNE_BINS + 1;
    for (int64_t lo = 0, i = 0; lo <= top; lo += width) {
        int64_t n = 0;
        for (; i < (int64_t)g->len && g->b[i].key <= lo + width - 1; i++)
            n += g->b[i].n;
        json_array_append_new(bins, json_pack("{s:I, s:I, s:I}", "lo", (json_int_t)lo, "hi",
                                              (json_int_t)(lo + width - 1), "windows",
                                              (json_int_t)n));
    }
    return bins;
}

static json_t *rule_json(struct tune *t, const struct trule *r)
{
    struct dist g;
    struct devstat *ds;
    json_t *o = json_object(), *devs = json_array();
    char w[32];
    int64_t apart = 0, zero = 0, smin = 0, smax = 0, flagged_w = 0, flagged_d = 0, mw;
    int64_t start = t->from > r->from ? t->from : r->from, first = INT64_MAX;
    size_t n_ds;

    dist_group(r, t->n_dev, &g);
    for (size_t i = 0; i < g.len && g.b[i].key == 0; i++)
        zero += g.b[i].n;
    if (g.n > 0)
        suggest(&g, zero, &smin, &smax);
    ds = device_stats(t, r, &g, smin, smax, &n_ds);
    for (size_t k = 0; k < n_ds; k++) {
        apart += ds[k].apart;
        flagged_w += ds[k].flagged;
        flagged_d += ds[k].flagged > 0;
        if (t->dev[ds[k].i].first_seen < first)
            first = t->dev[ds[k].i].first_seen;
    }
    mw = median_windows(ds, n_ds);
    qsort(ds, n_ds, sizeof(*ds), cmp_devstat);
    for (size_t k = 0; k < n_ds && k < t->o->top; k++) {
        const struct devstat *s = &ds[k];
        json_array_append_new(devs, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "device_id",
                                              t->dev[s->i].device_id, "p50", (json_int_t)s->p50,
                                              "p99", (json_int_t)s->p99, "max", (json_int_t)s->max,
                                              "windows", (json_int_t)s->windows, "excluded",
                                              (json_int_t)s->apart, "flagged",
                                              (json_int_t)s->flagged));
    }
    if (first != INT64_MAX && first > start)
        start = first;
    group_window_format(t->sizes[r->size].size, w, sizeof(w));
    json_object_set_new(o, "rule", json_string(group_rule_name(r->rule)));
    json_object_set_new(o, "window", json_string(w));
    json_object_set_new(o, "current", json_pack("{s:b, s:I, s:I}", "enabled", r->cur->enabled, "min",
                                                (json_int_t)r->cur->min, "max",
                                                (json_int_t)r->cur->max));
    /* As Azure asks before it learns: three days of history, 30 windows a device. */
    json_object_set_new(o, "enough_history", json_boolean(t->to - start >= TUNE_MIN_HISTORY_MS &&
                                                          mw >= TUNE_MIN_WINDOWS));
    json_object_set_new(o, "history", json_pack("{s:o, s:I}", "from", iso_json(start),
                                                "median_windows_per_device", (json_int_t)mw));
    json_object_set_new(
        o, "group",
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:I, s:I}", "p1",
                  (json_int_t)dist_pct(&g, 1), "p5", (json_int_t)dist_pct(&g, 5), "p50",
                  (json_int_t)dist_pct(&g, 50), "p95", (json_int_t)dist_pct(&g, 95), "p99",
                  (json_int_t)dist_pct(&g, 99), "max",
                  (json_int_t)(g.len ? g.b[g.len - 1].key : 0), "zero_share",
                  g.n ? round((double)zero / (double)g.n * 10000) / 10000 : 0.0, "windows",
                  (json_int_t)g.n, "devices", (json_int_t)n_ds, "excluded_windows",
                  (json_int_t)apart));
    json_object_set_new(o, "histogram", histogram(&g, r->cur, g.n ? smax : 0));
    json_object_set_new(o, "devices", devs);
    json_object_set_new(o, "devices_total", json_integer((json_int_t)n_ds));
    json_object_set_new(o, "suggested",
                        g.n == 0 ? json_null()
                                 : json_pack("{s:I, s:I, s:I, s:I}", "min", (json_int_t)smin, "max",
                                             (json_int_t)smax, "flagged_windows",
                                             (json_int_t)flagged_w, "flagged_devices",
                                             (json_int_t)flagged_d));
    free(ds);
    free(g.b);
    return o;
}

/* ---- the entry point ------------------------------------------------------------------------ */

static void tune_free(struct tune *t)
{
    for (size_t i = 0; i < t->n_dev; i++) {
        free(t->dev[i].device_id);
        free(t->dev[i].alerts);
    }
    for (size_t r = 0; r < t->n_rules; r++) {
        for (size_t i = 0; i < t->n_dev; i++)
            free(t->rules[r].h[i].b);
        free(t->rules[r].h);
    }
    for (size_t s = 0; s < t->n_sizes; s++)
        free(t->sizes[s].acc);
    free(t->dev);
    free(t->index);
    map_free(&t->flows);
    groups_free(t->groups, t->n_groups);
}

/* The group, its devices and the rules to baseline; 0 or an HTTP-like status. */
static int prepare(struct tune *t, char *err, size_t errlen)
{
    const struct tune_opts *o = t->o;
    int64_t now = o->to_ms >= 0 ? o->to_ms : clock_now_ms();
    int64_t interval = t->cfg->evaluator_interval_ms, raw_from;

    if (o->span_ms <= 0 || o->span_ms > t->cfg->retention_counts_ms) {
        snprintf(err, errlen, "the span must be positive and at most retention.counts (%lld days)",
                 (long long)(t->cfg->retention_counts_ms / 86400000));
        return 400;
    }
    if (!groups_load(t->db, &t->groups, &t->n_groups, err, errlen))
        return 500;
    for (size_t i = 0; i < t->n_groups; i++)
        if (strcmp(t->groups[i].name, o->group) == 0)
            t->g = &t->groups[i];
    if (t->g == NULL) {
        snprintf(err, errlen, "no security group \"%s\"", o->group);
        return 404;
    }
    /* The newest pass's window ends at its time minus the offset. */
    t->to = now - now % interval - t->cfg->evaluator_offset_ms;
    t->from = t->to - o->span_ms;
    raw_from = now - t->cfg->retention_raw_ms;
    if (!load_devices(t) || !load_alerts(t)) {
        snprintf(err, errlen, "reading devices and alerts: %s", sqlite3_errmsg(t->db));
        return 500;
    }
    for (int r = 0; r < GROUP_RULE_OBSERVABLE; r++) {
        struct trule *tr;
        if (o->rule >= 0 && o->rule != r)
            continue;
        if (t->g->tw[r].window_ms > o->span_ms) {
            if (o->rule >= 0) {
                snprintf(err, errlen, "the span is shorter than the rule's window");
                return 400;
            }
            continue;
        }
        tr = &t->rules[t->n_rules++];
        tr->rule = (enum group_rule)r;
        tr->cur = &t->g->tw[r];
        size_for(t, tr->cur->window_ms, &tr->size);
        tr->from = INT64_MIN;
        if (r == GROUP_ACTIVE_CONNECTIONS) {
            t->flow_size = tr->cur->window_ms;
            tr->from = raw_from; /* raw flows are kept for retention.raw only */
        }
        tr->h = calloc(t->n_dev ? t->n_dev : 1, sizeof(*tr->h));
        if (tr->h == NULL)
            fatal("out of memory");
    }
    return 0;
}

json_t *tune_baseline(sqlite3 *db, const struct config *cfg, const struct tune_opts *o,
                      int *status, char *err, size_t errlen)
{
    struct tune t = {.db = db, .cfg = cfg, .o = o, .percent = -1};
    json_t *out = NULL, *rules;
    char span[32];

    map_init(&t.flows);
    /* One read transaction: a snapshot that ingest and the evaluator write past. */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "begin: %s", sqlite3_errmsg(db));
        *status = 500;
        return NULL;
    }
    *status = prepare(&t, err, errlen);
    if (*status == 0 && (*status = scan(&t)) != 0)
        snprintf(err, errlen, *status == 499 ? "cancelled" : "reading counts and flows: %s",
                 sqlite3_errmsg(db));
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (*status == 0) {
        group_window_format(o->span_ms, span, sizeof(span));
        out = json_object();
        rules = json_array();
        json_object_set_new(out, "group", json_string(t.g->name));
        json_object_set_new(out, "span", json_pack("{s:o, s:o, s:s}", "from", iso_json(t.from), "to",
                                                   iso_json(t.to), "duration", span));
        json_object_set_new(out, "include_alerted", json_boolean(o->include_alerted));
        json_object_set_new(out, "devices", json_integer((json_int_t)t.n_dev));
        for (size_t r = 0; r < t.n_rules; r++)
            json_array_append_new(rules, rule_json(&t, &t.rules[r]));
        json_object_set_new(out, "rules", rules);
    }
    tune_free(&t);
    return out;
}

char *tune_suggested_document(sqlite3 *db, const char *group, json_t *baseline)
{
    struct group *gs;
    size_t n, i, k;
    char err[256], *doc = NULL;
    json_t *rule;

    if (!groups_load(db, &gs, &n, err, sizeof(err)))
        return NULL;
    for (i = 0; i < n && strcmp(gs[i].name, group) != 0; i++)
        ;
    if (i < n) {
        json_array_foreach(json_object_get(baseline, "rules"), k, rule) {
            enum group_rule r;
            json_t *s = json_object_get(rule, "suggested");
            if (!json_is_object(s) ||
                !group_rule_lookup(json_string_value(json_object_get(rule, "rule")), &r))
                continue;
            gs[i].tw[r].min = json_integer_value(json_object_get(s, "min"));
            gs[i].tw[r].max = json_integer_value(json_object_get(s, "max"));
        }
        doc = group_to_json(&gs[i]);
    }
    groups_free(gs, n);
    return doc;
}
