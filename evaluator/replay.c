/*
 * The backtest (tuning.h): a group document replayed over stored history by
 * the production evaluator's own pieces, pass after pass on the evaluator's
 * schedule, with nothing written. windows.c brings each window forward by
 * the buckets entering and leaving it (so the whole span is read about once
 * a window size, not once a pass), flows.c judges each flow once against
 * the allow lists and keeps the last-sighting map for distinct flows, and
 * lifecycle.c makes the same decisions a live pass makes (raise, touch,
 * resolve back in range, the event alerts' TTL, lows not judged while
 * Warden was not ingesting) into an in-memory book instead of the alerts
 * table. The current rules and the document's are replayed alike, and the
 * two books compared alert by alert.
 *
 * What a replay leaves out, because no group document changes it: threat
 * intelligence (intel is not loaded), hub and authentication records,
 * device-silent, recommendations. Devices are the group's members now,
 * each judged from the time it was first seen.
 */
#include "eval_internal.h"
#include "tuning.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TUNE_LIST_MAX 1000 /* alerts listed a rule and kind; the counts are whole */

struct replay {
    sqlite3 *db;
    const struct config *cfg;
    const struct tune_opts *o;
    struct device *devices;
    size_t n_devices;
    int64_t from, to;           /* window ends in (from, to] */
    int64_t passes, done;       /* for progress, over both replays */
};

/* The last flow a pass before the first would have read: the replay's flow cursor. */
static int64_t flow_cursor_before(sqlite3 *db, int64_t hi)
{
    static const char sql[] = "SELECT id + n - 1 FROM flow_pack WHERE recv_ms < ?1 "
                              "ORDER BY recv_ms DESC LIMIT 1";
    sqlite3_stmt *st;
    int64_t id = 0;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_int64(st, 1, floor_bucket(hi) + BUCKET_MS);
    if (sqlite3_step(st) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return id;
}

/* The windows of g's enabled rules brought to hi, each size once. */
static bool replay_windows(struct eval *e, const struct group *g, int64_t hi)
{
    for (size_t i = 0; i < e->n_windows; i++)
        e->windows[i].used = false;
    for (int r = 0; r < GROUP_RULE_OBSERVABLE; r++) {
        struct window *w;
        if (!g->tw[r].enabled)
            continue;
        w = eval_window_get(e, g->tw[r].window_ms);
        if (w->used)
            continue;
        w->used = true;
        if (!eval_window_update(e, w, hi))
            return false;
    }
    return true;
}

/* Replay g over the span into book; 0, 499 when cancelled, 500 on a database error. */
static int replay_group(struct replay *rp, const struct group *g, struct eval_book *book)
{
    struct eval e = {.cfg = rp->cfg, .db = rp->db, .groups = (struct group *)g, .n_groups = 1};
    int64_t interval = rp->cfg->evaluator_interval_ms, offset = rp->cfg->evaluator_offset_ms;
    int64_t wmax, T, status = 0;

    e.devices = rp->devices;
    e.n_devices = rp->n_devices;
    for (size_t i = 0; i < e.n_devices; i++)
        e.devices[i].window_open = 0; /* the other replay's */
    map_init(&e.dev_index);
    map_init(&e.flow_last);
    map_init(&e.addr_cache);
    map_init(&e.occ_index);
    map_init(&e.verdicts);
    arena_init(&e.pass, SIZE_MAX / 2);
    e.flow_last_hi = -1;
    e.watermark = INT64_MAX / 4; /* the past is complete: every bucket is final */
    for (size_t i = 0; i < e.n_devices; i++) {
        struct map_entry *me = map_upsert(&e.dev_index, &e.devices[i].id, 8);
        if (me == NULL)
            fatal("out of memory");
        me->value = (int64_t)i;
        if (e.devices[i].id > e.max_dev)
            e.max_dev = e.devices[i].id;
    }
    if (!eval_load_runs(&e)) {
        eval_free_state(&e);
        return 500;
    }
    wmax = eval_max_connections_window(&e);
    e.flow_cursor = flow_cursor_before(rp->db, rp->from);
    T = rp->from + offset;
    for (T = T - T % interval + interval; T - offset <= rp->to; T += interval) {
        int64_t hi = T - offset;

        eval_reset_pass(&e);
        e.new_flow_cursor = e.flow_cursor;
        if (!eval_update_flow_map(&e, hi, wmax) ||
            !eval_read_new_flows(&e, hi, wmax > 0 && e.flow_last_hi >= 0 && hi >= e.flow_last_hi,
                                 true, e.flow_cursor) ||
            !replay_windows(&e, g, hi) || !eval_replay_apply(&e, book, T, hi)) {
            status = 500;
            break;
        }
        if (wmax > 0) {
            e.flow_last_hi = hi;
            eval_evict_flow_map(&e, hi - wmax);
        }
        e.flow_cursor = e.new_flow_cursor;
        if (++rp->done % 64 == 0) {
            if (rp->o->progress != NULL)
                rp->o->progress(rp->o->progress_arg, (int)(rp->done * 100 / rp->passes));
            if (rp->o->cancel != NULL && *rp->o->cancel) {
                status = 499;
                break;
            }
        }
    }
    e.devices = NULL; /* the caller's */
    eval_free_state(&e);
    return (int)status;
}

/* ---- the diff ------------------------------------------------------------------------------ */

/* The rule an alert type belongs to: the rule type after "IoT_CA_". */
static const char *rule_of(const char *type)
{
    return strncmp(type, "IoT_CA_", 7) == 0 ? type + 7 : type;
}

static json_t *alert_json(const struct open_alert *o)
{
    char first[40], last[40], resolved[40];
    const char *slash = strrchr(o->key, '/');
    json_t *j;

    time_format_iso(o->start_ms, first, sizeof(first));
    time_format_iso(o->end_ms, last, sizeof(last));
    j = json_pack("{s:s, s:s%, s:s, s:s, s:I}", "alert_key", o->key, "device_id", o->key,
                  slash ? (size_t)(slash - o->key) : strlen(o->key), "first", first, "last", last,
                  "windows", (json_int_t)o->count);
    if (o->closed) {
        time_format_iso(o->resolved_ms, resolved, sizeof(resolved));
        json_object_set_new(j, "resolved", json_string(resolved));
    } else {
        json_object_set_new(j, "resolved", json_null());
    }
    return j;
}

/* Whether o is an alert of rule. */
static bool of_rule(const struct open_alert *o, const char *rule)
{
    return strcmp(rule_of(o->type), rule) == 0;
}

/* Append o to list unless it holds TUNE_LIST_MAX already; *n counts all. */
static void list_add(json_t *list, const struct open_alert *o, int64_t *n)
{
    if (json_array_size(list) < TUNE_LIST_MAX)
        json_array_append_new(list, alert_json(o));
    (*n)++;
}

/* The identity of an alert for the diff: its type, key, first and last pass. */
static size_t alert_id_key(const struct open_alert *o, char *k, size_t kl)
{
    size_t n = (size_t)snprintf(k, kl, "%s\x1f%s\x1f%lld\x1f%lld", o->type, o->key,
                                (long long)o->start_ms, (long long)o->end_ms);
    return n < kl ? n : kl - 1;
}

static void index_book(const struct eval_book *b, struct map *m)
{
    char k[600];

    map_init(m);
    for (size_t i = 0; i < b->n; i++)
        if (map_upsert(m, k, alert_id_key(&b->open[i], k, sizeof(k))) == NULL)
            fatal("out of memory");
}

static bool book_has(const struct map *m, const struct open_alert *o)
{
    char k[600];

    return map_get(m, k, alert_id_key(o, k, sizeof(k))) != NULL;
}

static json_t *rule_diff(const char *rule, const struct eval_book *cur, const struct eval_book *prop,
                         const struct map *in_cur, const struct map *in_prop)
{
    json_t *added = json_array(), *removed = json_array(), *unchanged = json_array();
    int64_t n_cur = 0, n_prop = 0, n_add = 0, n_rem = 0, n_same = 0;

    for (size_t i = 0; i < cur->n; i++) {
        if (!of_rule(&cur->open[i], rule))
            continue;
        n_cur++;
        if (!book_has(in_prop, &cur->open[i]))
            list_add(removed, &cur->open[i], &n_rem);
    }
    for (size_t i = 0; i < prop->n; i++) {
        if (!of_rule(&prop->open[i], rule))
            continue;
        n_prop++;
        if (book_has(in_cur, &prop->open[i]))
            list_add(unchanged, &prop->open[i], &n_same);
        else
            list_add(added, &prop->open[i], &n_add);
    }
    return json_pack("{s:s, s:{s:I}, s:{s:I}, s:I, s:I, s:I, s:o, s:o, s:o}", "rule", rule,
                     "current", "alerts", (json_int_t)n_cur, "proposed", "alerts",
                     (json_int_t)n_prop, "added_total", (json_int_t)n_add, "removed_total",
                     (json_int_t)n_rem, "unchanged_total", (json_int_t)n_same, "added", added,
                     "removed", removed, "unchanged", unchanged);
}

/* Alerts a day (by the day each was raised), current against proposed. */
static json_t *per_day(const struct replay *rp, const struct eval_book *cur,
                       const struct eval_book *prop)
{
    json_t *days = json_array();

    for (int64_t d = rp->from - rp->from % 86400000; d <= rp->to; d += 86400000) {
        int64_t c = 0, p = 0;
        char day[40];
        for (size_t i = 0; i < cur->n; i++)
            c += cur->open[i].start_ms >= d && cur->open[i].start_ms < d + 86400000;
        for (size_t i = 0; i < prop->n; i++)
            p += prop->open[i].start_ms >= d && prop->open[i].start_ms < d + 86400000;
        time_format_iso(d, day, sizeof(day));
        day[10] = '\0';
        json_array_append_new(days, json_pack("{s:s, s:I, s:I}", "day", day, "current",
                                              (json_int_t)c, "proposed", (json_int_t)p));
    }
    return days;
}

/* Every rule either document enables, in the document's order, and the allow lists. */
static json_t *diff_json(const struct group *cur, const struct group *prop,
                         const struct eval_book *bc, const struct eval_book *bp)
{
    json_t *rules = json_array();
    struct map mc, mp;

    index_book(bc, &mc);
    index_book(bp, &mp);
    for (int r = 0; r < GROUP_RULE_OBSERVABLE; r++)
        if (cur->tw[r].enabled || prop->tw[r].enabled)
            json_array_append_new(rules, rule_diff(group_rule_name((enum group_rule)r), bc, bp,
                                                   &mc, &mp));
    if (cur->allow_out.enabled || prop->allow_out.enabled)
        json_array_append_new(rules, rule_diff(GROUP_ALLOW_OUT_NAME, bc, bp, &mc, &mp));
    if (cur->allow_in.enabled || prop->allow_in.enabled)
        json_array_append_new(rules, rule_diff(GROUP_ALLOW_IN_NAME, bc, bp, &mc, &mp));
    map_free(&mc);
    map_free(&mp);
    return rules;
}

/* ---- the entry point ----------------------------------------------------------------------- */

static int64_t group_updated(sqlite3 *db, const char *name)
{
    static const char sql[] = "SELECT updated_ms FROM security_groups WHERE name = ?1";
    sqlite3_stmt *st;
    int64_t v = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static json_t *iso(int64_t ms)
{
    char s[40];

    time_format_iso(ms, s, sizeof(s));
    return json_string(s);
}

json_t *tune_backtest(sqlite3 *db, const struct config *cfg, const struct tune_opts *o,
                      const struct group *proposed, int *status, char *err, size_t errlen)
{
    struct replay rp = {.db = db, .cfg = cfg, .o = o};
    struct eval_book bc = {0}, bp = {0};
    struct group *gs = NULL, current;
    size_t n = 0;
    int64_t now = o->to_ms >= 0 ? o->to_ms : clock_now_ms(), updated;
    json_t *out = NULL;
    char span[32];

    if (o->span_ms <= 0 || o->span_ms > cfg->retention_counts_ms) {
        snprintf(err, errlen, "the span must be positive and at most retention.counts (%lld days)",
                 (long long)(cfg->retention_counts_ms / 86400000));
        *status = 400;
        return NULL;
    }
    rp.to = now - now % cfg->evaluator_interval_ms - cfg->evaluator_offset_ms;
    rp.from = rp.to - o->span_ms;
    rp.passes = 2 * (o->span_ms / cfg->evaluator_interval_ms) + 1;
    map_init(&bc.index);
    map_init(&bp.index);
    /* One read transaction: both replays see the same history, ingest goes on. */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        !groups_load(db, &gs, &n, err, errlen)) {
        if (err[0] == '\0')
            snprintf(err, errlen, "begin: %s", sqlite3_errmsg(db));
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        *status = 500;
        return NULL;
    }
    /*
     * The rules its devices are judged by now: the group's, or, for a group
     * not stored yet, the default group's (the evaluator judges a device of
     * an unknown group by it). Shallow copies: gs keeps the allow lists.
     */
    group_init(&current, proposed->name);
    updated = -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(gs[i].name, GROUP_DEFAULT_NAME) == 0) {
            current = gs[i];
            updated = group_updated(db, GROUP_DEFAULT_NAME);
        }
    for (size_t i = 0; i < n; i++)
        if (strcmp(gs[i].name, proposed->name) == 0) {
            current = gs[i];
            updated = group_updated(db, proposed->name);
        }
    rp.devices = eval_group_devices(db, proposed->name, &rp.n_devices);
    *status = rp.devices == NULL ? 500 : replay_group(&rp, &current, &bc);
    if (*status == 0)
        *status = replay_group(&rp, proposed, &bp);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (*status != 0) {
        snprintf(err, errlen, *status == 499 ? "cancelled" : "replaying: %s", sqlite3_errmsg(db));
    } else {
        group_window_format(o->span_ms, span, sizeof(span));
        out = json_pack("{s:s, s:{s:o, s:o, s:s}, s:I, s:I}", "group", proposed->name, "span", "from",
                        iso(rp.from), "to", iso(rp.to), "duration", span, "devices",
                        (json_int_t)rp.n_devices, "passes", (json_int_t)(rp.passes / 2));
        /* Before this, the alerts raised came from the rules as they were then. */
        json_object_set_new(out, "current_rules_since", updated >= 0 ? iso(updated) : json_null());
        json_object_set_new(out, "rules", diff_json(&current, proposed, &bc, &bp));
        json_object_set_new(out, "days", per_day(&rp, &bc, &bp));
    }
    eval_devices_free(rp.devices, rp.n_devices);
    eval_book_free(&bc);
    eval_book_free(&bp);
    groups_free(gs, n);
    return out;
}
