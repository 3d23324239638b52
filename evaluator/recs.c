/*
 * evaluator/recs.c: which recommendations of SPEC 5.3 hold now. Pure reads:
 * the lifecycle (Active, Resolved rows) is eval.c's.
 *
 * IoT_SharedCredentials compares the fingerprints of device_credentials
 * across kinds (a SAS key fingerprint and a SHA-256 thumbprint are both 64
 * hex digits, but only an identical secret gives an identical fingerprint).
 * The three hub recommendations read each hub's stored, normalised
 * documents with the parsers of hubconf.c.
 */
#include "recs.h"

#include "../common/catalog.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The catalogue entry of a recommendation type (common/catalog.c), or NULL. */
static const struct catalog_entry *rec_info(const char *type)
{
    const struct catalog_entry *e = catalog_find(type);

    return e != NULL && e->kind == CK_REC ? e : NULL;
}

const char *rec_display_name(const char *type)
{
    const struct catalog_entry *e = rec_info(type);

    return e != NULL ? e->title : NULL;
}

const char *rec_severity(const char *type)
{
    const struct catalog_entry *e = rec_info(type);

    return e != NULL ? e->severity : NULL;
}

/* The defaults are config.c's (recommendations.*), the one place that knows them. */
void recs_config_defaults(struct recs_config *cfg)
{
    struct config c;

    config_defaults(&c);
    cfg->shared_credentials = c.rec_shared_credentials;
    cfg->ipfilter_deny_all = c.rec_ip_filter_deny_all;
    cfg->ipfilter_permissive = c.rec_ip_filter_permissive_rule;
    cfg->diagnostics_logs = c.rec_diagnostics_logs;
    cfg->max_allow_prefix_v4 = c.rec_max_allow_prefix_v4;
    cfg->max_allow_prefix_v6 = c.rec_max_allow_prefix_v6;
}

/* ---- the conditions ------------------------------------------------------------------- */

bool recs_deny_all_holds(const struct hub_props *p)
{
    bool accepted = false;

    if (p == NULL)
        return true;
    if (p->has_network_rule_sets)
        return !p->default_deny || p->n_ip_rules == 0;
    for (size_t i = 0; p->has_ip_filter_rules && i < p->n_ip_filter_rules; i++) {
        const struct hub_ip_rule *r = &p->ip_filter_rules[i];

        if (r->allow)
            accepted = true;
        else if (r->net.family == 4 && r->prefix == 0)
            return !accepted;
    }
    return true;
}

bool recs_rule_permissive(const struct hub_ip_rule *r, const struct recs_config *cfg)
{
    int max = r->net.family == 4 ? cfg->max_allow_prefix_v4 : cfg->max_allow_prefix_v6;

    return r->allow && r->prefix < max;
}

bool recs_setting_keeps_logs(const struct hub_diag_setting *s)
{
    for (size_t i = 0; i < s->nlogs; i++) {
        const struct hub_diag_log *l = &s->logs[i];

        if (!l->enabled)
            continue;
        if (!l->has_retention || !l->retention_enabled || l->retention_days == 0 ||
            l->retention_days >= REC_MIN_RETENTION_DAYS)
            return true;
    }
    return false;
}

/* ---- the result set ------------------------------------------------------------------- */

struct recs_buf {
    struct rec *v;
    size_t n, cap;
    char *err;
    size_t errlen;
};

/* Append a recommendation; data (a JSON object) is consumed. */
static bool push(struct recs_buf *b, const char *type, const char *key, const char *device_id,
                 const char *hub, json_t *data)
{
    struct rec *r;

    if (b->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 16;
        struct rec *nv = realloc(b->v, ncap * sizeof(*nv));
        if (nv == NULL)
            goto oom;
        b->v = nv;
        b->cap = ncap;
    }
    r = &b->v[b->n];
    memset(r, 0, sizeof(*r));
    if (data == NULL || (r->additional_data = json_dumps(data, JSON_COMPACT)) == NULL)
        goto oom;
    json_decref(data);
    snprintf(r->type, sizeof(r->type), "%s", type);
    snprintf(r->key, sizeof(r->key), "%s", key);
    snprintf(r->device_id, sizeof(r->device_id), "%s", device_id ? device_id : "");
    snprintf(r->hub, sizeof(r->hub), "%s", hub);
    b->n++;
    return true;
oom:
    json_decref(data);
    snprintf(b->err, b->errlen, "recommendations: out of memory");
    return false;
}

void recs_free(struct rec *recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(recs[i].additional_data);
    free(recs);
}

static int rec_cmp(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    int c = strcmp(x->type, y->type);

    return c != 0 ? c : strcmp(x->key, y->key);
}

static bool db_fail(struct recs_buf *b, sqlite3 *db, const char *what)
{
    snprintf(b->err, b->errlen, "recommendations: %s: %s", what, sqlite3_errmsg(db));
    return false;
}

/* ---- IoT_SharedCredentials --------------------------------------------------------------- */

static const char sql_shared_credentials[] =
    "SELECT c.fingerprint, c.device_id, c.kind, d.hub FROM device_credentials c "
    "JOIN devices d ON d.device_id = c.device_id "
    "WHERE c.fingerprint IN (SELECT fingerprint FROM device_credentials GROUP BY fingerprint "
    "                        HAVING COUNT(DISTINCT device_id) > 1) "
    "ORDER BY c.fingerprint, c.device_id, c.kind";

/* One credential that another device shares. */
struct cred_row {
    char fingerprint[65];
    char device_id[129];
    char kind[16];
    char hub[129];
};

static void copy_col(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
    const char *s = (const char *)sqlite3_column_text(st, col);

    snprintf(out, outlen, "%s", s ? s : "");
}

static bool load_shared(sqlite3 *db, struct recs_buf *b, struct cred_row **rows, size_t *n)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc;

    *rows = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db, sql_shared_credentials, -1, &st, NULL) != SQLITE_OK)
        return db_fail(b, db, "credentials");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct cred_row *r;

        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct cred_row *nrows = realloc(*rows, ncap * sizeof(**rows));
            if (nrows == NULL) {
                rc = SQLITE_NOMEM;
                break;
            }
            *rows = nrows;
            cap = ncap;
        }
        r = &(*rows)[(*n)++];
        copy_col(st, 0, r->fingerprint, sizeof(r->fingerprint));
        copy_col(st, 1, r->device_id, sizeof(r->device_id));
        copy_col(st, 2, r->kind, sizeof(r->kind));
        copy_col(st, 3, r->hub, sizeof(r->hub));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(*rows);
        *rows = NULL;
        *n = 0;
        return db_fail(b, db, "credentials");
    }
    return true;
}

/* The additional data being built for one device: {"devices": [...], "credentials": [...]}. */
static json_t *device_data(json_t *per_device, const struct cred_row *r)
{
    json_t *d = json_object_get(per_device, r->device_id);

    if (d == NULL) {
        d = json_pack("{s:s, s:[], s:[]}", "hub", r->hub, "devices", "credentials");
        if (d == NULL || json_object_set_new(per_device, r->device_id, d) != 0)
            return NULL;
    }
    return d;
}

/* Add id to the device list of d unless it is there or the list is full. */
static bool list_device(json_t *d, const char *id)
{
    json_t *devices = json_object_get(d, "devices"), *v;
    size_t i;

    json_array_foreach(devices, i, v) {
        if (strcmp(json_string_value(v), id) == 0)
            return true;
    }
    return json_array_size(devices) >= REC_SHARED_MAX_LISTED ||
           json_array_append_new(devices, json_string(id)) == 0;
}

/*
 * Rows [from, to) share one fingerprint. Each row's device gets a credential
 * entry naming up to REC_SHARED_MAX_LISTED other devices' credentials, with
 * the exact number of other devices.
 */
static bool shared_group(json_t *per_device, const struct cred_row *rows, size_t from, size_t to)
{
    size_t devices = 0;

    for (size_t i = from; i < to; i++)
        devices += i == from || strcmp(rows[i].device_id, rows[i - 1].device_id) != 0;
    for (size_t i = from; i < to; i++) {
        json_t *d = device_data(per_device, &rows[i]), *with = json_array(), *entry;
        size_t listed = 0;

        if (d == NULL || with == NULL) {
            json_decref(with);
            return false;
        }
        for (size_t j = from; j < to && listed < REC_SHARED_MAX_LISTED; j++) {
            if (strcmp(rows[j].device_id, rows[i].device_id) == 0)
                continue;
            if (json_array_append_new(with, json_pack("{s:s, s:s}", "device_id", rows[j].device_id,
                                                      "kind", rows[j].kind)) != 0 ||
                !list_device(d, rows[j].device_id)) {
                json_decref(with);
                return false;
            }
            listed++;
        }
        entry = json_pack("{s:s, s:o, s:I}", "kind", rows[i].kind, "shared_with", with,
                          "shared_with_devices", (json_int_t)(devices - 1));
        if (json_array_append_new(json_object_get(d, "credentials"), entry) != 0)
            return false;
    }
    return true;
}

static bool assess_shared(sqlite3 *db, struct recs_buf *b)
{
    struct cred_row *rows;
    json_t *per_device, *d;
    const char *id;
    size_t n, start = 0;
    bool ok;

    if (!load_shared(db, b, &rows, &n))
        return false;
    ok = (per_device = json_object()) != NULL;
    for (size_t i = 1; ok && i <= n; i++) {
        if (i == n || strcmp(rows[i].fingerprint, rows[start].fingerprint) != 0) {
            ok = shared_group(per_device, rows, start, i);
            start = i;
        }
    }
    free(rows);
    if (!ok) {
        json_decref(per_device);
        snprintf(b->err, b->errlen, "recommendations: out of memory");
        return false;
    }
    json_object_foreach(per_device, id, d) {
        char hub[129];

        snprintf(hub, sizeof(hub), "%s", json_string_value(json_object_get(d, "hub")));
        json_object_del(d, "hub");
        if (!(ok = push(b, REC_SHARED_CREDENTIALS, id, id, hub, json_incref(d))))
            break;
    }
    json_decref(per_device);
    return ok;
}

/* ---- the hub recommendations -------------------------------------------------------------- */

static const char sql_hubs[] = "SELECT hub FROM devices UNION SELECT hub FROM hub_config "
                               "UNION SELECT hub FROM hub_diagnostic_settings ORDER BY 1";
static const char sql_hub_config[] = "SELECT config_json FROM hub_config WHERE hub = ?1";
static const char sql_hub_settings[] =
    "SELECT name, config_json FROM hub_diagnostic_settings WHERE hub = ?1 ORDER BY name";

/* The hub's stored network configuration into p; *found false when it has none. */
static bool load_props(sqlite3 *db, struct recs_buf *b, const char *hub, struct hub_props *p,
                       bool *found)
{
    sqlite3_stmt *st = NULL;
    char why[256];
    int rc;
    bool ok = true;

    *found = false;
    if (sqlite3_prepare_v2(db, sql_hub_config, -1, &st, NULL) != SQLITE_OK)
        return db_fail(b, db, "hub_config");
    sqlite3_bind_text(st, 1, hub, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *json = (const char *)sqlite3_column_text(st, 0);

        *found = true;
        ok = json != NULL &&
             hub_props_parse(json, (size_t)sqlite3_column_bytes(st, 0), p, why, sizeof(why));
        if (!ok)
            snprintf(b->err, b->errlen, "recommendations: hub %s: stored configuration: %s", hub,
                     json ? why : "missing");
    } else if (rc != SQLITE_DONE) {
        ok = db_fail(b, db, "hub_config");
    }
    sqlite3_finalize(st);
    return ok;
}

static json_t *deny_all_data(const struct hub_props *p, bool found)
{
    if (!found || (!p->has_network_rule_sets && !p->has_ip_filter_rules))
        return json_pack("{s:s, s:s}", "filter", "none", "default_action", "Allow");
    if (p->has_network_rule_sets)
        return json_pack("{s:s, s:s, s:I}", "filter", "networkRuleSets", "default_action",
                         p->default_deny ? "Deny" : "Allow", "rules", (json_int_t)p->n_ip_rules);
    return json_pack("{s:s, s:s, s:I}", "filter", "ipFilterRules", "default_action", "Accept",
                     "rules", (json_int_t)p->n_ip_filter_rules);
}

static bool assess_permissive(struct recs_buf *b, const struct recs_config *cfg, const char *hub,
                              const struct hub_props *p)
{
    const struct hub_ip_rule *rules = p->has_network_rule_sets ? p->ip_rules : p->ip_filter_rules;
    size_t n = p->has_network_rule_sets ? p->n_ip_rules : p->n_ip_filter_rules;

    for (size_t i = 0; i < n; i++) {
        const struct hub_ip_rule *r = &rules[i];
        int max = r->net.family == 4 ? cfg->max_allow_prefix_v4 : cfg->max_allow_prefix_v6;
        char ip[64], mask[80], key[300];

        if (!recs_rule_permissive(r, cfg))
            continue;
        ip_format(&r->net, ip, sizeof(ip));
        snprintf(mask, sizeof(mask), "%s/%d", ip, r->prefix);
        snprintf(key, sizeof(key), "%s/%s", hub, r->name);
        if (!push(b, REC_IPFILTER_PERMISSIVE, key, NULL, hub,
                  json_pack("{s:s, s:s, s:s, s:i, s:i}", "filter_name", r->name, "ip_mask", mask,
                            "filter",
                            p->has_network_rule_sets ? "networkRuleSets" : "ipFilterRules",
                            "prefix", r->prefix, "max_allow_prefix", max)))
            return false;
    }
    return true;
}

static bool assess_diagnostics(sqlite3 *db, struct recs_buf *b, const char *hub)
{
    sqlite3_stmt *st = NULL;
    size_t settings = 0;
    bool kept = false;
    int rc = SQLITE_DONE;

    if (sqlite3_prepare_v2(db, sql_hub_settings, -1, &st, NULL) != SQLITE_OK)
        return db_fail(b, db, "hub_diagnostic_settings");
    sqlite3_bind_text(st, 1, hub, -1, SQLITE_STATIC);
    while (!kept && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *json = (const char *)sqlite3_column_text(st, 1);
        struct hub_diag_setting s;
        char why[256];

        if (json == NULL ||
            !hub_setting_parse(json, (size_t)sqlite3_column_bytes(st, 1), &s, why, sizeof(why))) {
            snprintf(b->err, b->errlen, "recommendations: hub %s: stored diagnostic setting %s: %s",
                     hub, (const char *)sqlite3_column_text(st, 0), json ? why : "missing");
            sqlite3_finalize(st);
            return false;
        }
        settings++;
        kept = recs_setting_keeps_logs(&s);
        hub_setting_free(&s);
    }
    sqlite3_finalize(st);
    if (!kept && rc != SQLITE_DONE)
        return db_fail(b, db, "hub_diagnostic_settings");
    if (kept)
        return true;
    return push(b, REC_DIAGNOSTICS_LOGS, hub, NULL, hub,
                json_pack("{s:I, s:s}", "settings", (json_int_t)settings, "reason",
                          settings == 0 ? "the hub has no diagnostic setting"
                                        : "no enabled log category keeps its logs for 365 days "
                                          "or more"));
}

static bool assess_hub(sqlite3 *db, struct recs_buf *b, const struct recs_config *cfg,
                       const char *hub)
{
    struct hub_props p;
    bool found = false, ok = true;

    memset(&p, 0, sizeof(p));
    if ((cfg->ipfilter_deny_all || cfg->ipfilter_permissive) && !load_props(db, b, hub, &p, &found))
        return false;
    if (cfg->ipfilter_deny_all && recs_deny_all_holds(found ? &p : NULL))
        ok = push(b, REC_IPFILTER_DENY_ALL, hub, NULL, hub, deny_all_data(&p, found));
    if (ok && cfg->ipfilter_permissive)
        ok = assess_permissive(b, cfg, hub, &p);
    hub_props_free(&p);
    if (ok && cfg->diagnostics_logs)
        ok = assess_diagnostics(db, b, hub);
    return ok;
}

static bool assess_hubs(sqlite3 *db, struct recs_buf *b, const struct recs_config *cfg)
{
    sqlite3_stmt *st = NULL;
    char **hubs = NULL;
    size_t n = 0, cap = 0;
    bool ok = true;
    int rc;

    /* Hubs are listed first: the per-hub reads are statements of their own. */
    if (sqlite3_prepare_v2(db, sql_hubs, -1, &st, NULL) != SQLITE_OK)
        return db_fail(b, db, "hubs");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 0);

        if (h == NULL)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            char **nh = realloc(hubs, ncap * sizeof(*nh));
            if (nh == NULL) {
                rc = SQLITE_NOMEM;
                break;
            }
            hubs = nh;
            cap = ncap;
        }
        if ((hubs[n] = strdup(h)) == NULL) {
            rc = SQLITE_NOMEM;
            break;
        }
        n++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        ok = db_fail(b, db, "hubs");
    for (size_t i = 0; ok && i < n; i++)
        ok = assess_hub(db, b, cfg, hubs[i]);
    for (size_t i = 0; i < n; i++)
        free(hubs[i]);
    free(hubs);
    return ok;
}

/* ---- the assessment --------------------------------------------------------------------- */

bool recs_assess(struct sqlite3 *db, const struct recs_config *cfg, struct rec **out, size_t *n,
                 char *err, size_t errlen)
{
    struct recs_buf b = {NULL, 0, 0, err, errlen};
    bool ok = true;

    *out = NULL;
    *n = 0;
    if (cfg->shared_credentials)
        ok = assess_shared(db, &b);
    if (ok && (cfg->ipfilter_deny_all || cfg->ipfilter_permissive || cfg->diagnostics_logs))
        ok = assess_hubs(db, &b, cfg);
    if (!ok) {
        recs_free(b.v, b.n);
        return false;
    }
    if (b.n > 1)
        qsort(b.v, b.n, sizeof(*b.v), rec_cmp);
    *out = b.v;
    *n = b.n;
    return true;
}
