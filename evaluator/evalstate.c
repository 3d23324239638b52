/*
 * The lowest floor of a pass: what every piece shares beneath it. Strings
 * that live for one pass (in e->pass), the event-driven occurrences a pass
 * gathers before it writes them (flows.c and hubops.c add them, lifecycle.c
 * raises them), the evaluator_state rows that carry cursors and counters from
 * pass to pass, and whether Warden was ingesting through a span of time. It
 * calls only common/ and SQLite.
 */
#include "eval_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Which count metric each time-window rule reads (METRIC_FLOWS: distinct flows instead). */
enum store_metric eval_rule_metric(enum group_rule r)
{
    /* Only the rules the lab observes have one; the others are never evaluated (groups.h). */
    static const enum store_metric metric[GROUP_RULE_OBSERVABLE] = {
        [GROUP_ACTIVE_CONNECTIONS] = METRIC_FLOWS,
        [GROUP_MQTT_C2D] = METRIC_C2D,
        [GROUP_MQTT_D2C] = METRIC_D2C,
        [GROUP_QUEUE_PURGES] = METRIC_QUEUE_PURGE,
        [GROUP_DIRECT_METHODS] = METRIC_DIRECT_METHOD,
        [GROUP_MQTT_C2D_REJECTED] = METRIC_C2D_REJECTED,
        [GROUP_TWIN_UPDATES] = METRIC_TWIN,
        [GROUP_UNAUTHORIZED] = METRIC_UNAUTHORIZED,
    };

    WARDEN_ASSERT(r >= 0 && r < GROUP_RULE_OBSERVABLE);
    return metric[r];
}

char *eval_pass_strdup(struct eval *e, const char *s)
{
    return s ? arena_strndup(&e->pass, s, strlen(s)) : NULL;
}

int64_t eval_state_get(sqlite3 *db, const char *key, int64_t dflt)
{
    static const char sql[] = "SELECT value FROM evaluator_state WHERE key = ?1";
    sqlite3_stmt *st;
    int64_t v = dflt;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return dflt;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

bool eval_state_set(sqlite3 *db, const char *key, int64_t v)
{
    static const char sql[] = "INSERT INTO evaluator_state (key, value) VALUES (?1, ?2) "
                              "ON CONFLICT (key) DO UPDATE SET value = excluded.value";
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, v);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE;
}

/* True when Warden was ingesting through all of [a, b). */
void eval_reset_pass(struct eval *e)
{
    arena_free(&e->pass);
    arena_init(&e->pass, SIZE_MAX / 2);
    e->n_occ = 0;
    map_clear(&e->occ_index);
    map_clear(&e->verdicts);
    e->n_verdict = 0;
    e->n_diag = 0;
}

void eval_free_state(struct eval *e)
{
    for (size_t i = 0; i < e->n_addr; i++)
        free(e->addr_text[i]);
    free(e->addr_text);
    free(e->addr_ip);
    free(e->occ);
    free(e->verdict);
    free(e->runs);
    arena_free(&e->pass);
    map_free(&e->dev_index);
    map_free(&e->flow_last);
    map_free(&e->addr_cache);
    map_free(&e->occ_index);
    map_free(&e->verdicts);
    for (size_t i = 0; i < e->n_windows; i++) {
        free(e->windows[i].final);
        free(e->windows[i].value);
    }
    free(e->windows);
}

struct device *eval_group_devices(sqlite3 *db, const char *group, size_t *n)
{
    static const char sql[] =
        "SELECT id, device_id, hub, first_seen_ms, last_seen_ms FROM devices "
        "WHERE security_group = ?1 OR (?2 AND security_group NOT IN "
        "(SELECT name FROM security_groups)) ORDER BY id";
    sqlite3_stmt *st;
    struct device *d = NULL;
    size_t cap = 0;

    *n = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, group, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, strcmp(group, GROUP_DEFAULT_NAME) == 0);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 256;
            if ((d = realloc(d, cap * sizeof(*d))) == NULL)
                fatal("out of memory");
        }
        d[*n].id = sqlite3_column_int64(st, 0);
        d[*n].device_id = strdup((const char *)sqlite3_column_text(st, 1));
        d[*n].hub = strdup((const char *)sqlite3_column_text(st, 2));
        d[*n].group = 0;
        d[*n].first_seen_ms = sqlite3_column_int64(st, 3);
        d[*n].last_seen_ms = sqlite3_column_int64(st, 4);
        d[*n].window_open = 0;
        if (d[*n].device_id == NULL || d[*n].hub == NULL)
            fatal("out of memory");
        (*n)++;
    }
    sqlite3_finalize(st);
    if (d == NULL)
        d = calloc(1, sizeof(*d));
    return d;
}

void eval_devices_free(struct device *d, size_t n)
{
    for (size_t i = 0; d != NULL && i < n; i++) {
        free(d[i].device_id);
        free(d[i].hub);
    }
    free(d);
}

bool eval_load_runs(struct eval *e)
{
    static const char sql[] = "SELECT started_ms, last_ms FROM ingest_runs ORDER BY started_ms";
    sqlite3_stmt *st;
    size_t cap = 0;

    e->n_runs = 0;
    if (sqlite3_prepare_v2(e->db, sql, -1, &st, NULL) != SQLITE_OK)
        return false;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (e->n_runs == cap) {
            cap = cap ? cap * 2 : 16;
            struct run *n = realloc(e->runs, cap * sizeof(*n));
            if (n == NULL)
                fatal("out of memory");
            e->runs = n;
        }
        e->runs[e->n_runs].start = sqlite3_column_int64(st, 0);
        e->runs[e->n_runs].end = sqlite3_column_int64(st, 1) + RUN_SLACK_MS;
        e->n_runs++;
    }
    sqlite3_finalize(st);
    return true;
}

bool eval_covered(const struct eval *e, int64_t a, int64_t b)
{
    int64_t reach = a;

    for (size_t i = 0; i < e->n_runs && reach < b; i++) {
        if (e->runs[i].start > reach)
            break; /* a gap before this run */
        if (e->runs[i].end > reach)
            reach = e->runs[i].end;
    }
    return reach >= b;
}

/* ---- event-driven occurrences -------------------------------------------------------- */

struct occurrence *eval_occur(struct eval *e, const char *type, const char *key, int64_t at,
                              int64_t n)
{
    char k[512];
    size_t kl = (size_t)snprintf(k, sizeof(k), "%s\x1f%s", type, key);
    struct map_entry *me = map_upsert(&e->occ_index, k, kl < sizeof(k) ? kl : sizeof(k) - 1);
    struct occurrence *o;

    if (me == NULL)
        fatal("out of memory");
    if (me->value > 0) {
        o = &e->occ[me->value - 1];
        o->first = at < o->first ? at : o->first;
        o->last = at > o->last ? at : o->last;
        o->count += n;
        return o;
    }
    if (e->n_occ == e->cap_occ) {
        e->cap_occ = e->cap_occ ? e->cap_occ * 2 : 64;
        e->occ = realloc(e->occ, e->cap_occ * sizeof(*e->occ));
        if (e->occ == NULL)
            fatal("out of memory");
    }
    o = &e->occ[e->n_occ++];
    me->value = (int64_t)e->n_occ;
    o->type = type;
    o->key = eval_pass_strdup(e, key);
    o->first = o->last = at;
    o->count = n;
    alert_facts_init(&o->f);
    return o;
}
