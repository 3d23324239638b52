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
 */
#include "evaluator.h"

#include "alerts.h"
#include "../imports/groups.h"
#include "../imports/intel.h"
#include "recs.h"

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUCKET_MS 10000
#define RUN_SLACK_MS 3000   /* an ingest run is alive this long after its last commit */
#define WRULE_METRICS 7     /* METRIC_D2C .. METRIC_UNAUTHORIZED, the metrics rules read */
#define WDISTINCT 7         /* where a window keeps the distinct flows of a device */
#define WSTRIDE 8

/* Which count metric each time-window rule reads (METRIC_FLOWS: distinct flows instead). */
/* Only the rules the lab observes have one; the others are never evaluated (groups.h). */
static const enum store_metric rule_metric[GROUP_RULE_OBSERVABLE] = {
    [GROUP_ACTIVE_CONNECTIONS] = METRIC_FLOWS,
    [GROUP_MQTT_C2D] = METRIC_C2D,
    [GROUP_MQTT_D2C] = METRIC_D2C,
    [GROUP_QUEUE_PURGES] = METRIC_QUEUE_PURGE,
    [GROUP_DIRECT_METHODS] = METRIC_DIRECT_METHOD,
    [GROUP_MQTT_C2D_REJECTED] = METRIC_C2D_REJECTED,
    [GROUP_TWIN_UPDATES] = METRIC_TWIN,
    [GROUP_UNAUTHORIZED] = METRIC_UNAUTHORIZED,
};

struct device {
    int64_t id;
    char *device_id, *hub;
    size_t group;           /* index into eval.groups */
    int64_t last_seen_ms;
};

struct run {
    int64_t start, end;
};

/* The key of a distinct flow in the last-sighting map. */
struct flow_key {
    int64_t dev;
    int32_t laddr, raddr;
    uint16_t lport, rport;
    int32_t proto;
};

/* An event-driven alert seen in this pass: its occurrences and specifics. */
struct occurrence {
    const char *type;
    char *key;
    int64_t first, last, count;
    struct alert_facts f;
};

/*
 * Window sums are kept from pass to pass. Buckets the ingest watermark has
 * passed are final: their sums are held in w->final and moved along with the
 * window (buckets entering are added, buckets leaving subtracted), so a pass
 * reads about two intervals of buckets, not the whole window. The buckets not
 * yet final (the newest, still filling) are read afresh every pass. With
 * evaluator.clock = "device" no bucket is ever final (late device times can
 * land anywhere), so the whole window is read each pass.
 */
struct window {
    int64_t size;       /* the window, ms */
    bool valid, used;
    int64_t lo, hi;     /* w->final holds the final buckets starting in (lo, hi] */
    size_t cap;         /* devices.id < cap */
    int64_t *final;     /* cap x WSTRIDE */
    int64_t *value;     /* this pass: final + not yet final, and the distinct flows */
};

struct eval {
    const struct config *cfg;
    struct store *store;
    sqlite3 *db;

    struct group *groups;
    size_t n_groups;
    struct device *devices;
    size_t n_devices;
    struct map dev_index;       /* devices.id -> index in devices */
    struct run *runs;
    size_t n_runs;

    struct intel *intel;
    int64_t intel_ver;

    struct map flow_last;       /* struct flow_key -> bucket of the last sighting */
    int64_t flow_last_hi;       /* flows folded up to this bucket (inclusive); -1: not built */
    struct map addr_cache;      /* addrs.id -> index into addr_text */
    char **addr_text;
    struct ip_addr *addr_ip;
    size_t n_addr, cap_addr;

    struct arena pass;          /* this pass's strings */
    struct occurrence *occ;
    size_t n_occ, cap_occ;
    struct map occ_index;       /* "type\x1fkey" -> index into occ */
    struct map verdicts;        /* (addrs.id, group, direction) -> 1 + index into verdict, this pass */
    struct verdict *verdict;
    size_t n_verdict, cap_verdict;
    struct window *windows;     /* one per distinct window size of the enabled rules */
    size_t n_windows;
    int64_t max_dev;            /* the largest devices.id of this pass */
    int64_t watermark;          /* the ingester's watermark at the snapshot */

    /* Diagnostic settings carried by hub records, applied with the pass. */
    struct diag_change {
        char *hub, *name, *config; /* config NULL: delete */
    } *diag;
    size_t n_diag, cap_diag;

    int64_t flow_cursor, hub_cursor, new_flow_cursor, new_hub_cursor;
    int64_t overruns;
};

/* ---- small helpers -------------------------------------------------------------- */

static int64_t floor_bucket(int64_t ms)
{
    return ms - ((ms % BUCKET_MS) + BUCKET_MS) % BUCKET_MS;
}

static char *pass_strdup(struct eval *e, const char *s)
{
    return s ? arena_strndup(&e->pass, s, strlen(s)) : NULL;
}

static int64_t state_get(sqlite3 *db, const char *key, int64_t dflt)
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

static bool state_set(sqlite3 *db, const char *key, int64_t v)
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
        "SELECT id, device_id, hub, security_group, last_seen_ms FROM devices ORDER BY id";
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
        if (d->device_id == NULL || d->hub == NULL || (me = map_upsert(&e->dev_index, &d->id, 8)) == NULL)
            fatal("out of memory");
        me->value = (int64_t)e->n_devices++;
        if (d->id > e->max_dev)
            e->max_dev = d->id;
    }
    sqlite3_finalize(st);
    return true;
}

static bool load_runs(struct eval *e)
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

/* True when Warden was ingesting through all of [a, b). */
static bool covered(const struct eval *e, int64_t a, int64_t b)
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

/* ---- event-driven occurrences -------------------------------------------------------- */

static struct occurrence *occur(struct eval *e, const char *type, const char *key, int64_t at,
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
    o->key = pass_strdup(e, key);
    o->first = o->last = at;
    o->count = n;
    alert_facts_init(&o->f);
    return o;
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
        struct occurrence *o = occur(e, "IoT_TiConnection", key, at, 1);
        flow_facts(o, d, text, rport, proto_dir);
        o->f.list = v->list;
        o->f.category = v->category;
    }
    if (v->not_allowed) {
        struct occurrence *o = occur(e, dir == STORE_DIR_IN ? "IoT_CA_ConnectionFromIpNotAllowed"
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
static bool read_new_flows(struct eval *e, int64_t hi, bool fold, bool judge, int64_t from_id)
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
static int64_t max_connections_window(const struct eval *e)
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
static bool update_flow_map(struct eval *e, int64_t hi, int64_t wmax)
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
        return true; /* folded with the judged flows in read_new_flows */
    map_clear(&e->flow_last);
    if (sqlite3_prepare_v2(e->db, first_id_sql, -1, &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_int64(st, 1, floor_bucket(hi) + BUCKET_MS - wmax - 2 * BUCKET_MS);
    if (sqlite3_step(st) == SQLITE_ROW)
        from = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (!read_new_flows(e, hi, true, false, from))
        return false;
    e->flow_last_hi = hi;
    return true;
}

/* Count into w the distinct flows of each device whose last sighting is in (lo, hi]. */
static void distinct_flows(struct eval *e, struct window *w, int64_t lo, int64_t hi)
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
static void evict_flow_map(struct eval *e, int64_t keep_after)
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

/* ---- count windows ------------------------------------------------------------------------ */

static struct window *window_get(struct eval *e, int64_t size)
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
static bool window_update(struct eval *e, struct window *w, int64_t hi)
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
    distinct_flows(e, w, lo, hi);
    return true;
}

static int64_t window_value(struct eval *e, int64_t size, int64_t dev, enum store_metric m)
{
    struct window *w = window_get(e, size);
    int idx = m == METRIC_FLOWS ? WDISTINCT : (int)m;

    if (dev < 0 || (size_t)dev >= w->cap)
        return 0;
    return w->value[dev * WSTRIDE + idx];
}

/* ---- hub records ---------------------------------------------------------------------------- */

static const char *auth_alert(const char *reason)
{
    static const char *const map[][2] = {
        {"SasTokenExpired", "IoT_Expired_SAS_Token"},
        {"SasTokenInvalidSignature", "IoT_Invalid_SAS_Token"},
        {"X509ThumbprintMismatch", "IoT_Cert_Print_Mismatch"},
        {"X509CertificateExpired", "IoT_Cert_Expired"},
    };

    for (size_t i = 0; reason && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(reason, map[i][0]) == 0)
            return map[i][1];
    return NULL;
}

static const char *hub_alert(const char *category, const char *operation, const char *result)
{
    bool ok = result == NULL || strcmp(result, "Failed") != 0;

    if (strcmp(category, "Certificates") == 0) {
        if (strcmp(operation, "write") == 0)
            return ok ? "IoT_CertificateSuccessfullyAddedToHub" : "IoT_CertificateFailedToBeAddedToHub";
        if (strcmp(operation, "delete") == 0)
            return ok ? "IoT_CertificateSuccessfullyDeletedFromHub"
                      : "IoT_CertificateFailedToBeDeletedFromHub";
    } else if (strcmp(category, "DiagnosticSettings") == 0) {
        if (strcmp(operation, "write") == 0)
            return "IoT_DiagnosticSettingAddedOrEditedOnHub";
        if (strcmp(operation, "delete") == 0)
            return "IoT_DiagnosticSettingDeletedFromHub";
    }
    return NULL;
}

static void diag_change(struct eval *e, const char *hub, const char *name, const char *config)
{
    if (e->n_diag == e->cap_diag) {
        e->cap_diag = e->cap_diag ? e->cap_diag * 2 : 8;
        e->diag = realloc(e->diag, e->cap_diag * sizeof(*e->diag));
        if (e->diag == NULL)
            fatal("out of memory");
    }
    e->diag[e->n_diag].hub = pass_strdup(e, hub);
    e->diag[e->n_diag].name = pass_strdup(e, name);
    e->diag[e->n_diag].config = pass_strdup(e, config);
    e->n_diag++;
}

static bool read_hub_records(struct eval *e, int64_t hi)
{
    static const char sql[] =
        "SELECT id, hub, time_ms, category, operation, result, reason, device_id, source_ip, count, "
        "json_extract(details, '$.certificateName'), json_extract(details, '$.settingName'), "
        "json_extract(details, '$.config') "
        "FROM hub_operations WHERE id > ?1 AND recv_ms < ?2 ORDER BY id";
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_prepare_v2(e->db, sql, -1, &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_int64(st, 1, e->hub_cursor);
    sqlite3_bind_int64(st, 2, floor_bucket(hi) + BUCKET_MS);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *hub = (const char *)sqlite3_column_text(st, 1);
        int64_t at = sqlite3_column_int64(st, 2);
        const char *cat = (const char *)sqlite3_column_text(st, 3);
        const char *op = (const char *)sqlite3_column_text(st, 4);
        const char *result = (const char *)sqlite3_column_text(st, 5);
        const char *reason = (const char *)sqlite3_column_text(st, 6);
        const char *dev = (const char *)sqlite3_column_text(st, 7);
        const char *src = (const char *)sqlite3_column_text(st, 8);
        int64_t n = sqlite3_column_int64(st, 9);
        const char *cert = (const char *)sqlite3_column_text(st, 10);
        const char *setting = (const char *)sqlite3_column_text(st, 11);
        const char *config = (const char *)sqlite3_column_text(st, 12);
        const char *type;
        char key[400];

        e->new_hub_cursor = sqlite3_column_int64(st, 0);
        /* An unauthorized attempt counts only as that, never as what it tried. */
        if ((result && strcmp(result, "Unauthorized") == 0) ||
            (reason && strcmp(reason, "Unauthorized") == 0))
            continue;
        if (strcmp(cat, "Connections") == 0 && strcmp(op, "deviceConnect") == 0 &&
            result != NULL && strcmp(result, "Failed") == 0 && (type = auth_alert(reason)) &&
            dev != NULL) {
            struct occurrence *o = occur(e, type, dev, at, n);
            o->f.device_id = pass_strdup(e, dev);
            o->f.hub = pass_strdup(e, hub);
            o->f.reason = pass_strdup(e, reason);
            o->f.source_ip = pass_strdup(e, src);
        } else if ((type = hub_alert(cat, op, result)) != NULL) {
            bool is_cert = strcmp(cat, "Certificates") == 0;
            const char *name = is_cert ? cert : setting;
            struct occurrence *o;
            snprintf(key, sizeof(key), "%s/%s", hub, name ? name : "(unnamed)");
            o = occur(e, type, key, at, n);
            o->f.hub = pass_strdup(e, hub);
            o->f.source_ip = pass_strdup(e, src);
            if (is_cert)
                o->f.certificate_name = pass_strdup(e, name);
            else
                o->f.setting_name = pass_strdup(e, name);
            /* The hub's diagnostic state follows what succeeded on it. */
            if (!is_cert && name != NULL && (result == NULL || strcmp(result, "Failed") != 0)) {
                if (strcmp(op, "delete") == 0)
                    diag_change(e, hub, name, NULL);
                else if (config != NULL)
                    diag_change(e, hub, name, config);
            }
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE;
}

/* ---- applying a pass ------------------------------------------------------------------------ */

struct open_alert {
    int64_t id;
    const char *type, *key, *status;
    int64_t end_ms;
    bool seen; /* touched or judged this pass */
};

struct apply {
    struct eval *e;
    struct alert_writer *w;
    struct open_alert *open;
    size_t n_open;
    struct map open_index; /* "type\x1fkey" -> 1 + index */
    int64_t T;
};

static bool load_open(struct apply *a)
{
    static const char sql[] = "SELECT alert_id, alert_type, alert_key, status, end_ms FROM alerts "
                              "WHERE status IN ('Active', 'Dismissed')";
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
        o->type = pass_strdup(a->e, (const char *)sqlite3_column_text(st, 1));
        o->key = pass_strdup(a->e, (const char *)sqlite3_column_text(st, 2));
        o->status = strcmp((const char *)sqlite3_column_text(st, 3), ALERT_DISMISSED) == 0
                        ? ALERT_DISMISSED
                        : ALERT_ACTIVE;
        o->end_ms = sqlite3_column_int64(st, 4);
        o->seen = false;
        kl = (size_t)snprintf(k, sizeof(k), "%s\x1f%s", o->type, o->key);
        if ((me = map_upsert(&a->open_index, k, kl < sizeof(k) ? kl : sizeof(k) - 1)) == NULL)
            fatal("out of memory");
        me->value = (int64_t)++a->n_open;
    }
    sqlite3_finalize(st);
    return true;
}

static struct open_alert *find_open(struct apply *a, const char *type, const char *key)
{
    char k[512];
    size_t kl = (size_t)snprintf(k, sizeof(k), "%s\x1f%s", type, key);
    struct map_entry *me = map_get(&a->open_index, k, kl < sizeof(k) ? kl : sizeof(k) - 1);

    return me ? &a->open[me->value - 1] : NULL;
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
        return alert_touch(a->w, o->id, last, count, f);
    }
    return alert_open(a->w, type, key, f, first, last, count, &id);
}

static bool resolve(struct apply *a, struct open_alert *o, const char *why)
{
    o->seen = true;
    return alert_transition(a->w, o->id, o->status, ALERT_RESOLVED, why, a->T);
}

static bool apply_windows(struct apply *a, int64_t hi)
{
    struct eval *e = a->e;
    char key[400], type[96];

    for (size_t i = 0; i < e->n_devices; i++) {
        const struct device *d = &e->devices[i];
        const struct group *g = &e->groups[d->group];

        for (int r = 0; r < GROUP_RULE_OBSERVABLE; r++) {
            const struct group_tw_rule *rule = &g->tw[r];
            int64_t lo = hi - rule->window_ms, value;
            bool low, high, judged_low;
            struct open_alert *o;

            if (!rule->enabled)
                continue;
            value = window_value(e, rule->window_ms, d->id, rule_metric[r]);
            /* The window covers buckets starting in (lo, hi]: time [lo + 10 s, hi + 10 s). */
            judged_low = covered(e, floor_bucket(lo) + BUCKET_MS,
                                 floor_bucket(hi) + BUCKET_MS < a->T ? floor_bucket(hi) + BUCKET_MS
                                                                     : a->T);
            low = value < rule->min && judged_low;
            high = value > rule->max;
            snprintf(type, sizeof(type), "IoT_CA_%s", group_rule_name((enum group_rule)r));
            snprintf(key, sizeof(key), "%s/%s", d->device_id, group_rule_name((enum group_rule)r));
            o = find_open(a, type, key);
            if (low || high) {
                struct alert_facts f;
                alert_facts_init(&f);
                f.device_id = d->device_id;
                f.hub = d->hub;
                f.rule_type = group_rule_name((enum group_rule)r);
                f.value = (double)value;
                f.value_set = true;
                f.min = rule->min;
                f.max = rule->max;
                f.window_ms = rule->window_ms;
                if (!raise(a, type, key, &f, a->T, a->T, 1))
                    return false;
            } else if (o != NULL) {
                if (value < rule->min) {
                    o->seen = true; /* below min during Warden's own downtime: not judged */
                    continue;
                }
                if (!resolve(a, o, "back in the allowed range"))
                    return false;
            }
        }
    }
    /* Open window alerts no pass judged: the rule was disabled or the device moved group. */
    for (size_t i = 0; i < a->n_open; i++) {
        struct open_alert *o = &a->open[i];
        const struct catalog_entry *info = alert_info(o->type);
        if (!o->seen && info != NULL && info->kind == CK_WINDOW &&
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
        if (info == NULL || (info->kind != CK_FLOW && info->kind != CK_AUTH))
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

/* ---- a pass ---------------------------------------------------------------------------------- */

static void reset_pass(struct eval *e)
{
    arena_free(&e->pass);
    arena_init(&e->pass, SIZE_MAX / 2);
    e->n_occ = 0;
    map_clear(&e->occ_index);
    map_clear(&e->verdicts);
    e->n_verdict = 0;
    e->n_diag = 0;
}

static bool read_snapshot(struct eval *e, int64_t hi, char *err, size_t errlen)
{
    int64_t ver, wmax, t0 = clock_mono_ms();

    groups_free(e->groups, e->n_groups);
    e->groups = NULL;
    if (!groups_load(e->db, &e->groups, &e->n_groups, err, errlen))
        return false;
    if (!load_devices(e) || !load_runs(e)) {
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
    e->flow_cursor = state_get(e->db, "flow_cursor", 0);
    e->hub_cursor = state_get(e->db, "hub_cursor", 0);
    e->new_flow_cursor = e->flow_cursor;
    e->new_hub_cursor = e->hub_cursor;
    wmax = max_connections_window(e);
    if (!update_flow_map(e, hi, wmax) ||
        !read_new_flows(e, hi, wmax > 0 && e->flow_last_hi >= 0 && hi >= e->flow_last_hi, true,
                        e->flow_cursor) ||
        !read_hub_records(e, hi)) {
        snprintf(err, errlen, "reading flows and hub records: %s", sqlite3_errmsg(e->db));
        return false;
    }
    if (wmax > 0) {
        e->flow_last_hi = hi;
        evict_flow_map(e, hi - wmax);
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
            w = window_get(e, rule->window_ms);
            if (w->used)
                continue;
            w->used = true;
            if (!window_update(e, w, hi)) {
                snprintf(err, errlen, "reading counts: %s", sqlite3_errmsg(e->db));
                return false;
            }
        }
    }
    log_debug("evaluator: windows: %lld ms", (long long)(clock_mono_ms() - t0));
    return true;
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

static bool write_pass(struct eval *e, int64_t T, int64_t hi, int64_t t0, char *err,
                       size_t errlen)
{
    struct apply a = {.e = e, .T = T};
    bool ok;

    map_init(&a.open_index);
    if (sqlite3_exec(e->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "begin: %s", sqlite3_errmsg(e->db));
        map_free(&a.open_index);
        return false;
    }
    a.w = alert_writer_new(e->db);
    ok = a.w != NULL && load_open(&a) && apply_events(&a) && apply_windows(&a, hi) &&
         apply_silent(&a) && apply_diag(&a) && assess_recs(&a, err, errlen) &&
         state_set(e->db, "flow_cursor", e->new_flow_cursor) &&
         state_set(e->db, "hub_cursor", e->new_hub_cursor) &&
         state_set(e->db, "last_pass_ms", T) && state_set(e->db, "overruns_total", e->overruns) &&
         state_set(e->db, "passes_total", state_get(e->db, "passes_total", 0) + 1) &&
         state_set(e->db, "last_pass_duration_ms", clock_mono_ms() - t0);
    if (ok)
        ok = sqlite3_exec(e->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
    if (!ok) {
        if (err[0] == '\0')
            snprintf(err, errlen, "writing the pass: %s", sqlite3_errmsg(e->db));
        sqlite3_exec(e->db, "ROLLBACK", NULL, NULL, NULL);
    }
    alert_writer_free(a.w);
    free(a.open);
    map_free(&a.open_index);
    return ok;
}

bool eval_pass(struct eval *e, int64_t T, char *err, size_t errlen)
{
    int64_t hi = T - e->cfg->evaluator_offset_ms, t0 = clock_mono_ms();
    bool ok;

    reset_pass(e);
    err[0] = '\0';
    /* One read transaction: every read of the pass sees the same snapshot. */
    if (sqlite3_exec(e->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "begin: %s", sqlite3_errmsg(e->db));
        return false;
    }
    ok = read_snapshot(e, hi, err, errlen);
    sqlite3_exec(e->db, "COMMIT", NULL, NULL, NULL);
    if (ok)
        ok = write_pass(e, T, hi, t0, err, errlen);
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
    e->overruns = state_get(e->db, "overruns_total", 0);
    return e;
}

void eval_close(struct eval *e)
{
    if (e == NULL)
        return;
    free_devices(e);
    groups_free(e->groups, e->n_groups);
    free(e->runs);
    intel_free(e->intel);
    for (size_t i = 0; i < e->n_addr; i++)
        free(e->addr_text[i]);
    free(e->addr_text);
    free(e->addr_ip);
    free(e->occ);
    free(e->diag);
    arena_free(&e->pass);
    map_free(&e->dev_index);
    map_free(&e->flow_last);
    map_free(&e->addr_cache);
    map_free(&e->occ_index);
    map_free(&e->verdicts);
    free(e->verdict);
    for (size_t i = 0; i < e->n_windows; i++) {
        free(e->windows[i].final);
        free(e->windows[i].value);
    }
    free(e->windows);
    store_close(e->store);
    free(e);
}

int64_t eval_last_pass(struct eval *e)
{
    return state_get(e->db, "last_pass_ms", -1);
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
