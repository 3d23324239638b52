/*
 * web/api_groups.c: the security groups of the JSON API (SPEC 6, 4.1
 * shape): the list, one group, and a group replaced by PUT (parsed by
 * imports/groups.c, stored by imports/groups_store.c on the read-write
 * connection). GET .../{name}/baseline and POST .../{name}/backtest are
 * api_tune.c's. Calls api.c's helpers, api_tune.c, the core and imports/'
 * groups.
 */
#include "api.h"
#include "routes.h"

#include "../imports/groups.h"

#include <stdlib.h>
#include <string.h>

static const char sql_group_devices[] =
    "SELECT security_group, count(*) FROM devices GROUP BY security_group";
static const char *const group_csv[] = {"name", "devices", "enabled_rules", "properties", NULL};

/* The group's normalised document (SPEC 4.1 shape), with devices and enabled_rules. */
static json_t *group_json(const struct group *g, json_t *counts)
{
    char *text = group_to_json(g);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    json_t *n = json_object_get(counts, g->name);

    free(text);
    if (doc == NULL)
        return NULL;
    json_object_set_new(doc, "devices", json_integer(n ? json_integer_value(n) : 0));
    json_object_set_new(doc, "enabled_rules", json_integer(group_enabled_rules(g)));
    return doc;
}

static json_t *group_counts(struct web_req *r)
{
    sqlite3_stmt *st = api_prepare(r, r->ctx->db, sql_group_devices);
    json_t *counts;
    int rc;

    if (st == NULL)
        return NULL;
    counts = json_object();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (sqlite3_column_text(st, 0) != NULL)
            json_object_set_new(counts, (const char *)sqlite3_column_text(st, 0),
                                json_integer(sqlite3_column_int64(st, 1)));
    if (!api_step_done(r, st, rc)) {
        json_decref(counts);
        counts = NULL;
    }
    sqlite3_finalize(st);
    return counts;
}

/* Every group, or the one called name: an array, or (having answered) NULL. */
static json_t *groups_json(struct web_req *r, const char *name)
{
    struct group *gs;
    size_t n;
    char err[512];
    json_t *counts, *items;

    if (!groups_load(r->ctx->db, &gs, &n, err, sizeof(err))) {
        web_error(r, 500, "database error", err);
        return NULL;
    }
    if ((counts = group_counts(r)) == NULL) {
        groups_free(gs, n);
        return NULL;
    }
    items = json_array();
    for (size_t i = 0; i < n; i++)
        if (name == NULL || strcmp(gs[i].name, name) == 0)
            json_array_append_new(items, group_json(&gs[i], counts));
    json_decref(counts);
    groups_free(gs, n);
    return items;
}

static void api_groups(struct web_req *r)
{
    json_t *items = groups_json(r, NULL);

    if (items != NULL)
        api_send_items(r, items, NULL, group_csv, "security-groups");
}

static bool group_name_param(struct web_req *r)
{
    if (group_name_valid(r->tail))
        return true;
    api_bad_param(r, "name", "must be 1 to 128 of A-Z a-z 0-9 . _ - (not . or ..)");
    return false;
}

static void api_group(struct web_req *r)
{
    json_t *items;

    if (api_tune_dispatch(r) || !group_name_param(r) || (items = groups_json(r, r->tail)) == NULL)
        return;
    if (json_array_size(items) == 0)
        web_error(r, 404, "not found", "no security group has this name");
    else
        web_send_json(r, 200, json_incref(json_array_get(items, 0)));
    json_decref(items);
}

static void api_group_put(struct web_req *r)
{
    struct group g;
    char err[512];

    if (!group_name_param(r))
        return;
    if (r->body == NULL || r->body_len == 0) {
        api_bad_param(r, "body", "the security group document (JSON, SPEC 4.1 shape) is required");
        return;
    }
    if (!group_parse(r->body, r->body_len, r->tail, &g, err, sizeof(err))) {
        web_error(r, 400, "invalid security group", err);
        return;
    }
    if (!group_store(r->ctx->db_rw, &g, err, sizeof(err))) {
        group_free(&g);
        web_error(r, 500, "database error", err);
        return;
    }
    group_free(&g);
    api_group(r);
}

const struct web_route web_api_groups_routes[] = {
    {"GET", "/api/v1/security-groups", 0, api_groups, NULL},
    {"GET", "/api/v1/security-groups/", WEB_PREFIX, api_group, NULL},
    {"PUT", "/api/v1/security-groups/", WEB_PREFIX | WEB_WRITES, api_group_put, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
