/*
 * The new flows of a pass: each flow read after the cursor is judged against
 * the threat-intelligence lists and its group's allow lists (event-driven
 * occurrences), and folded into the map of each distinct flow's last sighting,
 * from which windows.c counts ActiveConnectionsNotInAllowedRange. It calls
 * evalstate.c, imports/ (groups, intel) and store/'s packed-flow reader.
 */
#include "eval_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- addresses ---------------------------------------------------------------------- */

/* The text and address of addrs.id, cached; NULL when the row is gone. */
static const char *addr_of(struct eval *e, int64_t id, struct ip_addr **ip)
{
    static const char sql[] = "SELECT ip FROM addrs WHERE id = ?1";
    struct map_entry *me = map_get(&e->addr_cache, &id, sizeof(id));
    sqlite3_stmt *st;
    const char *text = NULL;

    if (me == NULL) {
        if (sqlite3_prepare_v2(e->db, sql, -1, &st, NULL) != SQLITE_OK)
            return NULL;
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW)
            text = (const char *)sqlite3_column_text(st, 0);
        if (text == NULL) {
            sqlite3_finalize(st);
            return NULL;
        }
        if (e->n_addr == e->cap_addr) {
            e->cap_addr = e->cap_addr ? e->cap_addr * 2 : 256;
            e->addr_text = realloc(e->addr_text, e->cap_addr * sizeof(char *));
            e->addr_ip = realloc(e->addr_ip, e->cap_addr * sizeof(struct ip_addr));
            if (e->addr_text == NULL || e->addr_ip == NULL)
                fatal("out of memory");
        }
        e->addr_text[e->n_addr] = strdup(text);
        ip_parse(text, &e->addr_ip[e->n_addr]);
        sqlite3_finalize(st);
        if ((me = map_upsert(&e->addr_cache, &id, sizeof(id))) == NULL)
            fatal("out of memory");
        me->value = (int64_t)e->n_addr++;
    }
    if (ip != NULL)
        *ip = &e->addr_ip[me->value];
    return e->addr_text[me->value];
}

static const char *proto_name(int proto_dir)
{
    switch (proto_dir >> 2) {
    case 0: return "TCP";
    case 1: return "UDP";
    default: return "ICMP";
    }
}

/*
 * What a remote address means for a device's group and a direction: listed
 * (and where), outside the allow list. Worked out once per (address, group,
 * direction) and cached for the pass, since a fleet talks to few addresses.
 */
struct verdict {
    const char *list, *category; /* NULL when not listed */
    bool not_allowed;
};

static const struct verdict *judge_address(struct eval *e, int64_t raddr, size_t group, int dir,
                                           struct ip_addr *ip)
{
    int64_t key[3] = {raddr, (int64_t)group, dir};
    struct map_entry *me = map_upsert(&e->verdicts, key, sizeof(key));
    const struct group *g = &e->groups[group];
    const struct group_allow *allow = dir == STORE_DIR_IN ? &g->allow_in : &g->allow_out;
    struct verdict *v;

    if (me == NULL)
        fatal("out of memory");
    if (me->value > 0)
        return &e->verdict[me->value - 1];
    if (e->n_verdict == e->cap_verdict) {
        e->cap_verdict = e->cap_verdict ? e->cap_verdict * 2 : 256;
        e->verdict = realloc(e->verdict, e->cap_verdict * sizeof(*e->verdict));
        if (e->verdict == NULL)
            fatal("out of memory");
    }
    v = &e->verdict[e->n_verdict++];
    me->value = (int64_t)e->n_verdict;
    v->list = v->category = NULL;
    if (e->intel != NULL && (e->cfg->intel_match_bogons || !intel_is_bogon(ip)))
        intel_match(e->intel, ip, &v->list, &v->category);
    v->not_allowed = allow->enabled && !group_allow_contains(allow, ip);
    return v;
}

static void flow_facts(struct occurrence *o, const struct device *d, const char *remote,
                       int rport, int proto_dir)
{
    int dir = proto_dir & 3;

    o->f.device_id = d->device_id;
    o->f.hub = d->hub;
    o->f.remote_ip = remote;
    o->f.remote_port = rport;
    o->f.protocol = proto_name(proto_dir);
    o->f.direction = dir == STORE_DIR_IN ? "in" : dir == STORE_DIR_OUT ? "out" : "unknown";
}

/* Threat intelligence and allow lists for one new flow. */
static void judge_flow(struct eval *e, const struct device *d, int64_t at, int proto_dir,
                       int64_t raddr, int rport)
{
    struct ip_addr *ip;
    const char *text = addr_of(e, raddr, &ip);
    int dir = (proto_dir & 3) == STORE_DIR_IN ? STORE_DIR_IN : STORE_DIR_OUT;
    const struct verdict *v;
    char key[400];

    if (text == NULL)
        return;
    v = judge_address(e, raddr, d->group, dir, ip);
    if (v->list == NULL && !v->not_allowed)
        return;
    snprintf(key, sizeof(key), "%s/%s", d->device_id, text);
    if (v->list != NULL) {
        struct occurrence *o = eval_occur(e, "IoT_TiConnection", key, at, 1);
        flow_facts(o, d, text, rport, proto_dir);
        o->f.list = v->list;
        o->f.category = v->category;
    }
    if (v->not_allowed) {
        struct occurrence *o = eval_occur(e, dir == STORE_DIR_IN ? "IoT_CA_ConnectionFromIpNotAllowed"
                                                            : "IoT_CA_ConnectionToIpNotAllowed",
                                     key, at, 1);
        flow_facts(o, d, text, rport, proto_dir);
    }
}

/*
 * Read the flows after the cursor whose bucket is at most hi: judge each one,
 * and fold it into the last-sighting map. Flows are arrival ordered, so the
 * cursor is a flow id and the read starts where the last pass stopped: a
 * message's flows share one flow_pack row and its recv_ms, so the cursor is
 * always the last flow of a pack (sql/003).
 */
bool eval_read_new_flows(struct eval *e, int64_t hi, bool fold, bool judge, int64_t from_id)
{
    static const char sql[] = "SELECT id, recv_ms, dev, n, flows FROM flow_pack "
                              "WHERE id > ?1 AND recv_ms < ?2 ORDER BY id";
    bool device_clock = strcmp(e->cfg->evaluator_clock, "device") == 0;
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_prepare_v2(e->db, sql, -1, &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_int64(st, 1, from_id);
    sqlite3_bind_int64(st, 2, floor_bucket(hi) + BUCKET_MS);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0), recv = sqlite3_column_int64(st, 1);
        int64_t dev = sqlite3_column_int64(st, 2), n = sqlite3_column_int64(st, 3);
        const char *text = (const char *)sqlite3_column_text(st, 4);
        size_t len = (size_t)sqlite3_column_bytes(st, 4), pos = 0;
        struct map_entry *di = map_get(&e->dev_index, &dev, sizeof(dev));
        struct store_packed_flow f;
        const struct device *d;

        if (id + n - 1 > e->new_flow_cursor)
            e->new_flow_cursor = id + n - 1;
        if (di == NULL || text == NULL)
            continue;
        d = &e->devices[di->value];
        while (store_pack_next(text, len, &pos, &f)) {
            int64_t at = device_clock && f.skew_ms != STORE_NO_TIME ? recv + f.skew_ms : recv;

            if (fold) {
                struct flow_key k = {dev,           (int32_t)f.laddr,     (int32_t)f.raddr,
                                     (uint16_t)f.lport, (uint16_t)f.rport, (int)f.proto_dir >> 2};
                struct map_entry *me = map_upsert(&e->flow_last, &k, sizeof(k));
                if (me == NULL)
                    fatal("out of memory");
                if (floor_bucket(at) > me->value)
                    me->value = floor_bucket(at);
            }
            if (judge)
                judge_flow(e, d, at, (int)f.proto_dir, f.raddr, (int)f.rport);
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE;
}

/* The longest ActiveConnections window of any group with the rule enabled; 0 if none. */
int64_t eval_max_connections_window(const struct eval *e)
{
    int64_t w = 0;

    for (size_t i = 0; i < e->n_groups; i++) {
        const struct group_tw_rule *r = &e->groups[i].tw[GROUP_ACTIVE_CONNECTIONS];
        if (r->enabled && r->window_ms > w)
            w = r->window_ms;
    }
    return w;
}

/*
 * Keep the last-sighting map current up to bucket hi. It is rebuilt from the
 * raw flows of the longest window when it is new, or when a pass goes back in
 * time (evaluate --at); otherwise only the new flows are folded in.
 */
bool eval_update_flow_map(struct eval *e, int64_t hi, int64_t wmax)
{
    static const char first_id_sql[] =
        "SELECT coalesce((SELECT id FROM flow_pack WHERE recv_ms >= ?1 ORDER BY recv_ms LIMIT 1), "
        "(SELECT id + n FROM flow_pack ORDER BY id DESC LIMIT 1), 1) - 1";
    sqlite3_stmt *st;
    int64_t from = 0;

    if (wmax == 0) {
        map_clear(&e->flow_last);
        e->flow_last_hi = -1;
        return true;
    }
    if (e->flow_last_hi >= 0 && hi >= e->flow_last_hi)
        return true; /* folded with the judged flows in eval_read_new_flows */
    map_clear(&e->flow_last);
    if (sqlite3_prepare_v2(e->db, first_id_sql, -1, &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_int64(st, 1, floor_bucket(hi) + BUCKET_MS - wmax - 2 * BUCKET_MS);
    if (sqlite3_step(st) == SQLITE_ROW)
        from = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (!eval_read_new_flows(e, hi, true, false, from))
        return false;
    e->flow_last_hi = hi;
    return true;
}

/* Count into w the distinct flows of each device whose last sighting is in (lo, hi]. */
void eval_distinct_flows(struct eval *e, struct window *w, int64_t lo, int64_t hi)
{
    for (size_t i = 0; i < e->flow_last.cap; i++) {
        struct map_entry *me = &e->flow_last.slots[i];
        struct flow_key k;

        if (me->key == NULL || me->value <= lo || me->value > hi)
            continue;
        memcpy(&k, me->key, sizeof(k));
        if (k.dev >= 0 && (size_t)k.dev < w->cap)
            w->value[k.dev * WSTRIDE + WDISTINCT]++;
    }
}

/* Drop sightings older than any window can reach. */
void eval_evict_flow_map(struct eval *e, int64_t keep_after)
{
    struct map fresh;

    if (e->flow_last.len == 0)
        return;
    map_init(&fresh);
    for (size_t i = 0; i < e->flow_last.cap; i++) {
        struct map_entry *me = &e->flow_last.slots[i], *n;
        if (me->key == NULL || me->value <= keep_after)
            continue;
        if ((n = map_upsert(&fresh, me->key, me->keylen)) == NULL)
            fatal("out of memory");
        n->value = me->value;
    }
    map_free(&e->flow_last);
    e->flow_last = fresh;
}
