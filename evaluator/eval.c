/*
 * The scheduled evaluation (SPEC 5). A pass at time T reads everything it
 * needs in one read transaction (a consistent snapshot: WAL lets ingest go on
 * meanwhile), works out what should change in memory, and writes all of it
 * in one short write transaction: alerts, transitions, outbox rows,
 * recommendations, and the cursors that let a restarted evaluator go on
 * where it stopped.
 *
 * What a pass reads is bounded by the work, not the history: count buckets of
 * the rule windows only, and raw flows and hub records after the cursors.
 * Distinct flows per device (ActiveConnectionsNotInAllowedRange) come from a
 * map of each flow's last sighting, folded from the new flows of each pass.
 *
 * This file is the pass itself and the evaluator's life: eval_pass(), the one
 * entry point (`warden run`, `warden evaluate --once`, the tests), reads the
 * snapshot here and hands the write to lifecycle.c. eval_internal.h maps the
 * other pieces; this file calls them all and none of them calls it.
 */
#include "eval_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---- the snapshot: devices, groups, runs ------------------------------------------- */

static void free_devices(struct eval *e)
{
    for (size_t i = 0; i < e->n_devices; i++) {
        free(e->devices[i].device_id);
        free(e->devices[i].hub);
    }
    free(e->devices);
    e->devices = NULL;
    e->n_devices = 0;
    map_clear(&e->dev_index);
}

static size_t group_index(const struct eval *e, const char *name)
{
    size_t dflt = 0;

    for (size_t i = 0; i < e->n_groups; i++) {
        if (strcmp(e->groups[i].name, name) == 0)
            return i;
        if (strcmp(e->groups[i].name, GROUP_DEFAULT_NAME) == 0)
            dflt = i;
    }
    return dflt; /* a device whose group does not exist is judged by the default group */
}

static bool load_devices(struct eval *e)
{
    static const char sql[] =
        "SELECT id, device_id, hub, security_group, last_seen_ms, first_seen_ms FROM devices "
        "ORDER BY id";
    sqlite3_stmt *st;
    size_t cap = 0;

    free_devices(e);
    e->max_dev = 0;
    if (sqlite3_prepare_v2(e->db, sql, -1, &st, NULL) != SQLITE_OK)
        return false;
    while (sqlite3_step(st) == SQLITE_ROW) {
        struct device *d;
        struct map_entry *me;
        if (e->n_devices == cap) {
            cap = cap ? cap * 2 : 256;
            struct device *n = realloc(e->devices, cap * sizeof(*n));
            if (n == NULL)
                fatal("out of memory");
            e->devices = n;
        }
        d = &e->devices[e->n_devices];
        d->id = sqlite3_column_int64(st, 0);
        d->device_id = strdup((const char *)sqlite3_column_text(st, 1));
        d->hub = strdup((const char *)sqlite3_column_text(st, 2));
        d->group = group_index(e, (const char *)sqlite3_column_text(st, 3));
        d->last_seen_ms = sqlite3_column_int64(st, 4);
        d->first_seen_ms = sqlite3_column_int64(st, 5);
        d->window_open = 0;
        if (d->device_id == NULL || d->hub == NULL || (me = map_upsert(&e->dev_index, &d->id, 8)) == NULL)
            fatal("out of memory");
        me->value = (int64_t)e->n_devices++;
        if (d->id > e->max_dev)
            e->max_dev = d->id;
    }
    sqlite3_finalize(st);
    return true;
}

/* ---- a pass ---------------------------------------------------------------------------------- */

static bool read_snapshot(struct eval *e, int64_t hi, char *err, size_t errlen)
{
    int64_t ver, wmax, t0 = clock_mono_ms();

    groups_free(e->groups, e->n_groups);
    e->groups = NULL;
    if (!groups_load(e->db, &e->groups, &e->n_groups, err, errlen))
        return false;
    if (!load_devices(e) || !eval_load_runs(e)) {
        snprintf(err, errlen, "reading devices: %s", sqlite3_errmsg(e->db));
        return false;
    }
    ver = intel_version(e->db);
    if (e->intel == NULL || ver != e->intel_ver) {
        intel_free(e->intel);
        e->intel = intel_build(e->db, err, errlen);
        if (e->intel == NULL)
            return false;
        e->intel_ver = ver;
    }
    log_debug("evaluator: groups, devices, intel: %lld ms", (long long)(clock_mono_ms() - t0));
    t0 = clock_mono_ms();
    e->flow_cursor = eval_state_get(e->db, "flow_cursor", 0);
    e->hub_cursor = eval_state_get(e->db, "hub_cursor", 0);
    e->new_flow_cursor = e->flow_cursor;
    e->new_hub_cursor = e->hub_cursor;
    wmax = eval_max_connections_window(e);
    if (!eval_update_flow_map(e, hi, wmax) ||
        !eval_read_new_flows(e, hi, wmax > 0 && e->flow_last_hi >= 0 && hi >= e->flow_last_hi, true,
                        e->flow_cursor) ||
        !eval_read_hub_records(e, hi)) {
        snprintf(err, errlen, "reading flows and hub records: %s", sqlite3_errmsg(e->db));
        return false;
    }
    if (wmax > 0) {
        e->flow_last_hi = hi;
        eval_evict_flow_map(e, hi - wmax);
    }
    log_debug("evaluator: flows and hub records: %lld ms", (long long)(clock_mono_ms() - t0));
    t0 = clock_mono_ms();
    e->watermark = eval_watermark(e);
    for (size_t i = 0; i < e->n_windows; i++)
        e->windows[i].used = false;
    for (size_t g = 0; g < e->n_groups; g++) {
        for (int r = 0; r < GROUP_RULE_OBSERVABLE; r++) {
            const struct group_tw_rule *rule = &e->groups[g].tw[r];
            struct window *w;
            if (!rule->enabled)
                continue;
            /* Each distinct window is brought up to date once, whatever the rules sharing it. */
            w = eval_window_get(e, rule->window_ms);
            if (w->used)
                continue;
            w->used = true;
            if (!eval_window_update(e, w, hi)) {
                snprintf(err, errlen, "reading counts: %s", sqlite3_errmsg(e->db));
                return false;
            }
        }
    }
    log_debug("evaluator: windows: %lld ms", (long long)(clock_mono_ms() - t0));
    return true;
}

bool eval_pass(struct eval *e, int64_t T, char *err, size_t errlen)
{
    int64_t hi = T - e->cfg->evaluator_offset_ms, t0 = clock_mono_ms();
    bool ok;

    eval_reset_pass(e);
    err[0] = '\0';
    /* One read transaction: every read of the pass sees the same snapshot. */
    if (sqlite3_exec(e->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "begin: %s", sqlite3_errmsg(e->db));
        return false;
    }
    ok = read_snapshot(e, hi, err, errlen);
    sqlite3_exec(e->db, "COMMIT", NULL, NULL, NULL);
    if (ok)
        ok = eval_write_pass(e, T, hi, t0, err, errlen);
    if (!ok)
        e->flow_last_hi = -1; /* rebuild the flow map from the database next time */
    log_debug("evaluator: pass at %lld took %lld ms", (long long)T,
              (long long)(clock_mono_ms() - t0));
    return ok;
}

struct eval *eval_open(const struct config *cfg, char *err, size_t errlen)
{
    struct eval *e = calloc(1, sizeof(*e));

    if (e == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->cfg = cfg;
    e->store = store_open(cfg->db_path, err, errlen);
    if (e->store == NULL) {
        free(e);
        return NULL;
    }
    e->db = store_sqlite(e->store);
    map_init(&e->dev_index);
    map_init(&e->flow_last);
    map_init(&e->addr_cache);
    map_init(&e->occ_index);
    map_init(&e->verdicts);
    arena_init(&e->pass, SIZE_MAX / 2);
    e->flow_last_hi = -1;
    e->overruns = eval_state_get(e->db, "overruns_total", 0);
    return e;
}

void eval_close(struct eval *e)
{
    if (e == NULL)
        return;
    free_devices(e);
    groups_free(e->groups, e->n_groups);
    intel_free(e->intel);
    free(e->diag);
    eval_free_state(e);
    store_close(e->store);
    free(e);
}

int64_t eval_last_pass(struct eval *e)
{
    return eval_state_get(e->db, "last_pass_ms", -1);
}

void eval_count_overrun(struct eval *e)
{
    e->overruns++;
}

/* The ingester's watermark: everything it read before this is committed. */
int64_t eval_watermark(struct eval *e)
{
    static const char sql[] = "SELECT coalesce(watermark_ms, 0) FROM ingest_state WHERE id = 1";
    sqlite3_stmt *st;
    int64_t v = 0;

    if (sqlite3_prepare_v2(e->db, sql, -1, &st, NULL) != SQLITE_OK)
        return 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}
