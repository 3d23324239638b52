/*
 * Applying a pass, in its one write transaction: the open alerts are loaded,
 * the occurrences gathered by flows.c and hubops.c are raised (a repeat
 * touches the open alert), the time-window rules are judged over windows.c's
 * sums, silent devices are found, event alerts without a repeat resolve after
 * their TTL; then the hub's diagnostic settings are written, the
 * recommendations are assessed (recs.c) and made the Active set, and the
 * cursors move on. It calls alerts.c, recs.c, windows.c and evalstate.c.
 */
#include "eval_internal.h"

#include "recs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * One pass's application. A live pass loads the open alerts and writes
 * through w; a replay (book not NULL) keeps them in the book from pass to
 * pass and writes nothing: the same decisions, in memory.
 */
struct apply {
    struct eval *e;
    struct alert_writer *w;
    struct eval_book *book;
    struct open_alert *open;
    size_t n_open;
    struct map *open_index; /* "type\x1fkey" -> 1 + index, 0: none open */
    int64_t T;
};

/* An open alert of a time-window rule sets the bit of its rule in its device's window_open. */
static void mark_window_open(struct eval *e, const struct open_alert *o, int64_t dev)
{
    struct map_entry *me = map_get(&e->dev_index, &dev, sizeof(dev));
    enum group_rule r;

    if (me != NULL && strncmp(o->type, "IoT_CA_", 7) == 0 && group_rule_lookup(o->type + 7, &r) &&
        r < GROUP_RULE_OBSERVABLE)
        e->devices[me->value].window_open |= (uint8_t)(1u << r);
}

static bool load_open(struct apply *a)
{
    /* The device's row id too: a window alert marks its device's window_open bit. */
    static const char sql[] =
        "SELECT a.alert_id, a.alert_type, a.alert_key, a.status, a.end_ms, d.id FROM alerts a "
        "LEFT JOIN devices d ON d.device_id = a.device_id WHERE a.status IN ('Active', 'Dismissed')";
    sqlite3_stmt *st;
    size_t cap = 0;

    if (sqlite3_prepare_v2(a->e->db, sql, -1, &st, NULL) != SQLITE_OK)
        return false;
    while (sqlite3_step(st) == SQLITE_ROW) {
        struct open_alert *o;
        char k[512];
        size_t kl;
        struct map_entry *me;

        if (a->n_open == cap) {
            cap = cap ? cap * 2 : 64;
            a->open = realloc(a->open, cap * sizeof(*a->open));
            if (a->open == NULL)
                fatal("out of memory");
        }
        o = &a->open[a->n_open];
        o->id = sqlite3_column_int64(st, 0);
        o->type = eval_pass_strdup(a->e, (const char *)sqlite3_column_text(st, 1));
        o->key = eval_pass_strdup(a->e, (const char *)sqlite3_column_text(st, 2));
        o->status = strcmp((const char *)sqlite3_column_text(st, 3), ALERT_DISMISSED) == 0
                        ? ALERT_DISMISSED
                        : ALERT_ACTIVE;
        o->end_ms = sqlite3_column_int64(st, 4);
        o->seen = false;
        o->closed = false;
        o->start_ms = o->count = 0; /* a replay's: unused by a live pass */
        o->resolved_ms = -1;
        kl = (size_t)snprintf(k, sizeof(k), "%s\x1f%s", o->type, o->key);
        if ((me = map_upsert(a->open_index, k, kl < sizeof(k) ? kl : sizeof(k) - 1)) == NULL)
            fatal("out of memory");
        me->value = (int64_t)++a->n_open;
        if (sqlite3_column_type(st, 5) != SQLITE_NULL)
            mark_window_open(a->e, o, sqlite3_column_int64(st, 5));
    }
    sqlite3_finalize(st);
    return true;
}

static struct open_alert *find_open(struct apply *a, const char *type, const char *key)
{
    char k[512];
    size_t kl = (size_t)snprintf(k, sizeof(k), "%s\x1f%s", type, key);
    struct map_entry *me = map_get(a->open_index, k, kl < sizeof(k) ? kl : sizeof(k) - 1);

    return me && me->value > 0 ? &a->open[me->value - 1] : NULL;
}

/* A replay's new alert: into the book, open from this pass on. */
static void book_open(struct apply *a, const char *type, const char *key, int64_t first,
                      int64_t last, int64_t count)
{
    struct eval_book *b = a->book;
    struct open_alert *o;
    struct map_entry *me;
    char k[512];
    size_t kl = (size_t)snprintf(k, sizeof(k), "%s\x1f%s", type, key);

    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        if ((b->open = realloc(b->open, b->cap * sizeof(*b->open))) == NULL)
            fatal("out of memory");
    }
    o = &b->open[b->n];
    memset(o, 0, sizeof(*o));
    o->id = (int64_t)b->n;
    o->type = strdup(type);
    o->key = strdup(key);
    if (o->type == NULL || o->key == NULL)
        fatal("out of memory");
    o->status = ALERT_ACTIVE;
    o->start_ms = first;
    o->end_ms = last;
    o->count = count;
    o->resolved_ms = -1;
    o->seen = true;
    if ((me = map_upsert(&b->index, k, kl < sizeof(k) ? kl : sizeof(k) - 1)) == NULL)
        fatal("out of memory");
    me->value = (int64_t)++b->n;
    a->open = b->open;
    a->n_open = b->n;
}

/* An occurrence of a condition: repeat of the open alert, or a new one. */
static bool raise(struct apply *a, const char *type, const char *key, const struct alert_facts *f,
                  int64_t first, int64_t last, int64_t count)
{
    struct open_alert *o = find_open(a, type, key);
    int64_t id;

    if (o != NULL) {
        o->seen = true;
        o->end_ms = last > o->end_ms ? last : o->end_ms;
        o->count += count;
        return a->book != NULL || alert_touch(a->w, o->id, last, count, f);
    }
    if (a->book != NULL) {
        book_open(a, type, key, first, last, count);
        return true;
    }
    return alert_open(a->w, type, key, f, first, last, count, &id);
}

static bool resolve(struct apply *a, struct open_alert *o, const char *why)
{
    o->seen = true;
    if (a->book != NULL) {
        char k[512];
        size_t kl = (size_t)snprintf(k, sizeof(k), "%s\x1f%s", o->type, o->key);
        struct map_entry *me = map_get(&a->book->index, k, kl < sizeof(k) ? kl : sizeof(k) - 1);
        if (me != NULL)
            me->value = 0;
        o->closed = true;
        o->resolved_ms = a->T;
        return true;
    }
    return alert_transition(a->w, o->id, o->status, ALERT_RESOLVED, why, a->T);
}

/* Whether Warden was ingesting through the whole of a window of this size ending at hi. */
static bool window_judged(struct apply *a, int64_t window_ms, int64_t hi)
{
    int64_t lo = hi - window_ms;
    int64_t end = floor_bucket(hi) + BUCKET_MS < a->T ? floor_bucket(hi) + BUCKET_MS : a->T;

    /* The window covers buckets starting in (lo, hi]: time [lo + 10 s, hi + 10 s). */
    return eval_covered(a->e, floor_bucket(lo) + BUCKET_MS, end);
}

/*
 * Every device against each enabled rule of its group. The common case, a
 * value in range and no open alert, costs a comparison: the alert's type
 * and key are made only when something is to be raised or resolved
 * (d->window_open says which rules have an open alert).
 */
static bool apply_windows(struct apply *a, int64_t hi)
{
    struct eval *e = a->e;
    char key[400], type[GROUP_RULE_OBSERVABLE][96];
    int64_t judged_size[GROUP_RULE_OBSERVABLE * 2];
    bool judged[GROUP_RULE_OBSERVABLE * 2];
    size_t n_judged = 0;

    for (int r = 0; r < GROUP_RULE_OBSERVABLE; r++)
        snprintf(type[r], sizeof(type[r]), "IoT_CA_%s", group_rule_name((enum group_rule)r));
    for (size_t i = 0; i < e->n_devices; i++) {
        struct device *d = &e->devices[i];
        const struct group *g = &e->groups[d->group];

        if (a->book != NULL && d->first_seen_ms > a->T)
            continue; /* a replay: the evaluator did not know the device yet */
        for (int r = 0; r < GROUP_RULE_OBSERVABLE; r++) {
            const struct group_tw_rule *rule = &g->tw[r];
            const char *name = group_rule_name((enum group_rule)r);
            int64_t value;
            bool low, high, judged_low = false, open = d->window_open & (1u << r);
            struct open_alert *o;
            size_t j;

            if (!rule->enabled)
                continue;
            value = eval_window_value(e, rule->window_ms, d->id, eval_rule_metric((enum group_rule)r));
            high = value > rule->max;
            if (value < rule->min) {
                for (j = 0; j < n_judged && judged_size[j] != rule->window_ms; j++)
                    ;
                if (j == n_judged && n_judged < sizeof(judged) / sizeof(judged[0])) {
                    judged_size[n_judged] = rule->window_ms;
                    judged[n_judged++] = window_judged(a, rule->window_ms, hi);
                }
                judged_low = j < n_judged ? judged[j] : window_judged(a, rule->window_ms, hi);
            }
            low = value < rule->min && judged_low;
            if (!low && !high && !open)
                continue;
            snprintf(key, sizeof(key), "%s/%s", d->device_id, name);
            o = find_open(a, type[r], key);
            if (low || high) {
                struct alert_facts f;
                alert_facts_init(&f);
                f.device_id = d->device_id;
                f.hub = d->hub;
                f.rule_type = name;
                f.value = (double)value;
                f.value_set = true;
                f.min = rule->min;
                f.max = rule->max;
                f.window_ms = rule->window_ms;
                if (!raise(a, type[r], key, &f, a->T, a->T, 1))
                    return false;
                d->window_open |= (uint8_t)(1u << r);
            } else if (o != NULL) {
                if (value < rule->min) {
                    o->seen = true; /* below min during Warden's own downtime: not judged */
                    continue;
                }
                if (!resolve(a, o, "back in the allowed range"))
                    return false;
                d->window_open &= (uint8_t)~(1u << r);
            }
        }
    }
    /* Open window alerts no pass judged: the rule was disabled or the device moved group. */
    for (size_t i = 0; i < a->n_open; i++) {
        struct open_alert *o = &a->open[i];
        const struct catalog_entry *info = alert_info(o->type);
        if (!o->closed && !o->seen && info != NULL && info->kind == CK_WINDOW &&
            !resolve(a, o, "the rule no longer applies"))
            return false;
    }
    return true;
}

static bool apply_events(struct apply *a)
{
    struct eval *e = a->e;
    int64_t ttl_cut = a->T - e->cfg->evaluator_event_alert_ttl_ms;

    for (size_t i = 0; i < e->n_occ; i++) {
        struct occurrence *o = &e->occ[i];
        if (!raise(a, o->type, o->key, &o->f, o->first, o->last, o->count))
            return false;
    }
    /* Flow and authentication alerts resolve after a TTL without a repeat. */
    for (size_t i = 0; i < a->n_open; i++) {
        struct open_alert *o = &a->open[i];
        const struct catalog_entry *info = alert_info(o->type);
        if (o->closed || info == NULL || (info->kind != CK_FLOW && info->kind != CK_AUTH))
            continue;
        if (o->end_ms < ttl_cut && !resolve(a, o, "no repeat within evaluator.event_alert_ttl"))
            return false;
    }
    return true;
}

static bool apply_silent(struct apply *a)
{
    struct eval *e = a->e;
    int64_t cut = a->T - e->cfg->evaluator_silent_after_ms;

    for (size_t i = 0; i < e->n_devices; i++) {
        const struct device *d = &e->devices[i];
        struct open_alert *o = find_open(a, "IoT_DeviceSilent", d->device_id);

        if (d->last_seen_ms < cut) {
            struct alert_facts f;
            char since[40], why[80];
            time_format_iso(d->last_seen_ms, since, sizeof(since));
            snprintf(why, sizeof(why), "more than %lld minutes (last seen %s)",
                     (long long)(e->cfg->evaluator_silent_after_ms / 60000), since);
            alert_facts_init(&f);
            f.device_id = d->device_id;
            f.hub = d->hub;
            f.reason = why;
            if (o == NULL && !raise(a, "IoT_DeviceSilent", d->device_id, &f, a->T, a->T, 1))
                return false;
            if (o != NULL)
                o->seen = true;
        } else if (o != NULL && !resolve(a, o, "the device sent again")) {
            return false;
        }
    }
    return true;
}

static bool apply_diag(struct apply *a)
{
    static const char upsert[] =
        "INSERT INTO hub_diagnostic_settings (hub, name, config_json, updated_ms) "
        "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (hub, name) DO UPDATE SET "
        "config_json = excluded.config_json, updated_ms = excluded.updated_ms";
    static const char del[] = "DELETE FROM hub_diagnostic_settings WHERE hub = ?1 AND name = ?2";
    struct eval *e = a->e;

    for (size_t i = 0; i < e->n_diag; i++) {
        const struct diag_change *c = &e->diag[i];
        sqlite3_stmt *st;
        int rc;

        if (sqlite3_prepare_v2(e->db, c->config ? upsert : del, -1, &st, NULL) != SQLITE_OK)
            return false;
        sqlite3_bind_text(st, 1, c->hub, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, c->name, -1, SQLITE_STATIC);
        if (c->config) {
            sqlite3_bind_text(st, 3, c->config, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 4, a->T);
        }
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return false;
    }
    return true;
}

/* Recommendations: the set that should be Active against the rows that are. */
static bool apply_recs(struct apply *a, struct rec *want, size_t n_want)
{
    static const char active_sql[] =
        "SELECT rec_id, rec_type, rec_key FROM recommendations WHERE state = 'Active'";
    static const char insert_sql[] =
        "INSERT INTO recommendations (rec_type, rec_key, display_name, severity, device_id, hub, "
        "state, discovered_ms, additional_data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'Active', ?7, ?8)";
    static const char update_sql[] = "UPDATE recommendations SET additional_data = ?2 WHERE rec_id = ?1";
    static const char resolve_sql[] =
        "UPDATE recommendations SET state = 'Resolved', resolved_ms = ?2 WHERE rec_id = ?1";
    sqlite3 *db = a->e->db;
    struct map active;
    sqlite3_stmt *st, *ins = NULL, *upd = NULL, *res = NULL;
    bool ok = true;

    map_init(&active);
    if (sqlite3_prepare_v2(db, active_sql, -1, &st, NULL) != SQLITE_OK)
        return false;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char k[512];
        size_t kl = (size_t)snprintf(k, sizeof(k), "%s\x1f%s", sqlite3_column_text(st, 1),
                                     sqlite3_column_text(st, 2));
        struct map_entry *me = map_upsert(&active, k, kl < sizeof(k) ? kl : sizeof(k) - 1);
        if (me == NULL)
            fatal("out of memory");
        me->value = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    ok = sqlite3_prepare_v2(db, insert_sql, -1, &ins, NULL) == SQLITE_OK &&
         sqlite3_prepare_v2(db, update_sql, -1, &upd, NULL) == SQLITE_OK &&
         sqlite3_prepare_v2(db, resolve_sql, -1, &res, NULL) == SQLITE_OK;
    for (size_t i = 0; ok && i < n_want; i++) {
        const struct rec *r = &want[i];
        char k[512];
        size_t kl = (size_t)snprintf(k, sizeof(k), "%s\x1f%s", r->type, r->key);
        struct map_entry *me = map_get(&active, k, kl < sizeof(k) ? kl : sizeof(k) - 1);

        if (me != NULL) {
            sqlite3_bind_int64(upd, 1, me->value);
            sqlite3_bind_text(upd, 2, r->additional_data ? r->additional_data : "{}", -1, SQLITE_STATIC);
            ok = sqlite3_step(upd) == SQLITE_DONE;
            sqlite3_reset(upd);
            me->value = -1; /* still wanted */
            continue;
        }
        sqlite3_bind_text(ins, 1, r->type, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, r->key, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, rec_display_name(r->type), -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 4, rec_severity(r->type), -1, SQLITE_STATIC);
        if (r->device_id[0] != '\0')
            sqlite3_bind_text(ins, 5, r->device_id, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(ins, 5);
        sqlite3_bind_text(ins, 6, r->hub, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 7, a->T);
        sqlite3_bind_text(ins, 8, r->additional_data ? r->additional_data : "{}", -1, SQLITE_STATIC);
        ok = sqlite3_step(ins) == SQLITE_DONE;
        sqlite3_reset(ins);
        sqlite3_clear_bindings(ins);
    }
    for (size_t i = 0; ok && i < active.cap; i++) {
        if (active.slots[i].key == NULL || active.slots[i].value < 0)
            continue;
        sqlite3_bind_int64(res, 1, active.slots[i].value);
        sqlite3_bind_int64(res, 2, a->T);
        ok = sqlite3_step(res) == SQLITE_DONE;
        sqlite3_reset(res);
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    sqlite3_finalize(res);
    map_free(&active);
    return ok;
}

/*
 * Recommendations are assessed inside the write transaction, after the
 * diagnostic settings carried by this pass's hub records are applied, so
 * they follow the hub in the same pass.
 */
static bool assess_recs(struct apply *a, char *err, size_t errlen)
{
    const struct config *c = a->e->cfg;
    struct recs_config rc = {c->rec_shared_credentials, c->rec_ip_filter_deny_all,
                             c->rec_ip_filter_permissive_rule, c->rec_diagnostics_logs,
                             c->rec_max_allow_prefix_v4, c->rec_max_allow_prefix_v6};
    struct rec *recs = NULL;
    size_t n = 0;
    bool ok;

    if (!recs_assess(a->e->db, &rc, &recs, &n, err, errlen))
        return false;
    ok = apply_recs(a, recs, n);
    recs_free(recs, n);
    return ok;
}

bool eval_write_pass(struct eval *e, int64_t T, int64_t hi, int64_t t0, char *err,
                     size_t errlen)
{
    struct map open_index;
    struct apply a = {.e = e, .T = T, .open_index = &open_index};
    bool ok;

    map_init(&open_index);
    if (sqlite3_exec(e->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "begin: %s", sqlite3_errmsg(e->db));
        map_free(&open_index);
        return false;
    }
    a.w = alert_writer_new(e->db);
    ok = a.w != NULL && load_open(&a) && apply_events(&a) && apply_windows(&a, hi) &&
         apply_silent(&a) && apply_diag(&a) && assess_recs(&a, err, errlen) &&
         eval_state_set(e->db, "flow_cursor", e->new_flow_cursor) &&
         eval_state_set(e->db, "hub_cursor", e->new_hub_cursor) &&
         eval_state_set(e->db, "last_pass_ms", T) && eval_state_set(e->db, "overruns_total", e->overruns) &&
         eval_state_set(e->db, "passes_total", eval_state_get(e->db, "passes_total", 0) + 1) &&
         eval_state_set(e->db, "last_pass_duration_ms", clock_mono_ms() - t0);
    if (ok)
        ok = sqlite3_exec(e->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
    if (!ok) {
        if (err[0] == '\0')
            snprintf(err, errlen, "writing the pass: %s", sqlite3_errmsg(e->db));
        sqlite3_exec(e->db, "ROLLBACK", NULL, NULL, NULL);
    }
    alert_writer_free(a.w);
    free(a.open);
    map_free(&open_index);
    return ok;
}

bool eval_replay_apply(struct eval *e, struct eval_book *b, int64_t T, int64_t hi)
{
    struct apply a = {.e = e, .book = b, .open = b->open, .n_open = b->n, .open_index = &b->index,
                      .T = T};

    for (size_t i = 0; i < b->n; i++)
        b->open[i].seen = false;
    return apply_events(&a) && apply_windows(&a, hi);
}

void eval_book_free(struct eval_book *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free((char *)b->open[i].type);
        free((char *)b->open[i].key);
    }
    free(b->open);
    map_free(&b->index);
    memset(b, 0, sizeof(*b));
}
