/*
 * web/page_groups.c: GET /groups, the security groups, and GET /groups/{name},
 * one group's rules and its editor; POST /groups/{name} saves the edited
 * document (parsed by imports/groups.c, stored by imports/groups_store.c).
 * The editor, the baseline (/groups/{name}/baseline) and the preview (POST
 * /groups/{name}/preview) are page_tuning.c's. Calls page.c, page_tuning.c,
 * the core and imports/' groups.
 */
#include "page.h"
#include "routes.h"

#include "../imports/groups.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What each time-window rule counts, in the order of enum group_rule. */
static const char *const rule_help[GROUP_RULE_COUNT] = {
    [GROUP_ACTIVE_CONNECTIONS] = "distinct network connections (flows) the device reported",
    [GROUP_MQTT_C2D] = "cloud-to-device messages sent to the device",
    [GROUP_MQTT_D2C] = "device-to-cloud messages, security messages included",
    [GROUP_QUEUE_PURGES] = "purges of the device's command queue (hub records)",
    [GROUP_DIRECT_METHODS] = "direct methods invoked on the device",
    [GROUP_MQTT_C2D_REJECTED] = "cloud-to-device messages the device rejected (hub records)",
    [GROUP_TWIN_UPDATES] = "twin and module twin updates",
    [GROUP_UNAUTHORIZED] = "operations the hub refused as unauthorized (hub records)",
    [GROUP_AMQP_C2D] = "cloud-to-device messages over AMQP",
    [GROUP_HTTP_C2D] = "cloud-to-device messages over HTTP",
    [GROUP_AMQP_C2D_REJECTED] = "cloud-to-device messages over AMQP the device rejected",
    [GROUP_HTTP_C2D_REJECTED] = "cloud-to-device messages over HTTP the device rejected",
    [GROUP_AMQP_D2C] = "device-to-cloud messages over AMQP",
    [GROUP_HTTP_D2C] = "device-to-cloud messages over HTTP",
    [GROUP_FAILED_LOCAL_LOGINS] = "failed logins on the device itself",
    [GROUP_FILE_UPLOADS] = "files the device uploaded to the cloud",
};

/* Why the lab cannot count what a rule is about (rules from GROUP_RULE_OBSERVABLE on). */
static const char WHY_AMQP_HTTP[] = "the lab hub speaks MQTT only";
static const char *const rule_why_not[GROUP_RULE_COUNT] = {
    [GROUP_AMQP_C2D] = WHY_AMQP_HTTP,
    [GROUP_HTTP_C2D] = WHY_AMQP_HTTP,
    [GROUP_AMQP_C2D_REJECTED] = WHY_AMQP_HTTP,
    [GROUP_HTTP_C2D_REJECTED] = WHY_AMQP_HTTP,
    [GROUP_AMQP_D2C] = WHY_AMQP_HTTP,
    [GROUP_HTTP_D2C] = WHY_AMQP_HTTP,
    [GROUP_FAILED_LOCAL_LOGINS] = "the devices' agents report no local logins",
    [GROUP_FILE_UPLOADS] = "the lab hub has no file upload endpoint",
};

/* The mark of a rule kept and exported but never evaluated. */
static void put_unobservable(struct evbuffer *out, const char *why)
{
    page_put_badge(out, "warn", "not observable in this lab");
    html_printf(out, "<div class=\"small muted\">%s: kept and exported, not evaluated</div>",
                why);
}

static const char SQL_GROUP_DEVICES[] =
    "SELECT security_group, count(*) FROM devices GROUP BY security_group";
static const char SQL_GROUP_UPDATED[] = "SELECT name, updated_ms FROM security_groups";

/*
 * The integer beside name in a statement of (name, integer) rows, run again
 * from the start. There are few groups, so a scan per group is cheap.
 */
static int64_t lookup(sqlite3_stmt *st, const char *name, int64_t dflt)
{
    int64_t v = dflt;

    sqlite3_reset(st);
    while (sqlite3_step(st) == SQLITE_ROW)
        if (page_col(st, 0) != NULL && strcmp(page_col(st, 0), name) == 0)
            v = page_col_int(st, 1);
    return v;
}

static void page_groups(struct web_req *r)
{
    struct evbuffer *out = page_open(r, "Security groups", "groups");
    struct group *groups = NULL;
    sqlite3_stmt *devs, *upd;
    int64_t now = clock_now_ms();
    char err[256];
    size_t n = 0;

    evbuffer_add_printf(out, "<h1>Security groups</h1><p class=\"lead\">A security group holds "
                             "the rules its devices are judged by: allowed ranges for counts over "
                             "a time window (messages, connections, ...) and allow lists of the "
                             "addresses devices may talk to. Every device belongs to one group "
                             "(<code>default</code> unless the registry says otherwise). The "
                             "documents use the shape of Azure's deviceSecurityGroups.</p>");
    if (!groups_load(r->ctx->db, &groups, &n, err, sizeof(err))) {
        html_printf(out, "<div class=\"error\">%s</div>", err);
        page_send(r, out, 500);
        return;
    }
    devs = page_prepare(r, out, SQL_GROUP_DEVICES);
    upd = page_prepare(r, out, SQL_GROUP_UPDATED);
    evbuffer_add_printf(out, "<div class=\"card\"><table><thead><tr><th>Group</th>"
                             "<th class=\"num\">Devices</th><th>Enabled rules</th><th>Updated</th>"
                             "</tr></thead><tbody>");
    for (size_t i = 0; i < n && devs != NULL && upd != NULL; i++) {
        const struct group *g = &groups[i];
        int64_t updated = lookup(upd, g->name, -1);
        int k = 0;

        evbuffer_add_printf(out, "<tr><td class=\"nw\"><a href=\"/groups/");
        url_escape(out, g->name);
        html_printf(out,
                    "\"><b>%s</b></a></td><td class=\"num\">%lld</td><td><b>%d of %d</b>"
                    "<div class=\"small muted mono\">",
                    g->name, (long long)lookup(devs, g->name, 0), group_enabled_rules(g),
                    GROUP_RULES_TOTAL);
        for (int j = 0; j < GROUP_RULE_COUNT; j++)
            if (g->tw[j].enabled)
                html_printf(out, "%s%s", k++ ? ", " : "", group_rule_name((enum group_rule)j));
        if (g->allow_out.enabled)
            html_printf(out, "%s%s", k++ ? ", " : "", GROUP_ALLOW_OUT_NAME);
        if (g->allow_in.enabled)
            html_printf(out, "%s%s", k++ ? ", " : "", GROUP_ALLOW_IN_NAME);
        if (g->users.enabled)
            html_printf(out, "%s%s", k++ ? ", " : "", GROUP_ALLOW_USERS_NAME);
        if (g->processes.enabled)
            html_printf(out, "%s%s", k++ ? ", " : "", GROUP_ALLOW_PROCESSES_NAME);
        evbuffer_add_printf(out, "</div>");
        if (group_enabled_unobservable(g) > 0)
            html_printf(out, "<div class=\"small\">%d of them not observable in this lab</div>",
                        group_enabled_unobservable(g));
        evbuffer_add_printf(out, "</td><td class=\"t\">");
        if (updated >= 0)
            page_put_when(out, now, updated);
        else
            evbuffer_add_printf(out, "<span class=\"muted\">built in, never saved</span>");
        evbuffer_add_printf(out, "</td></tr>");
    }
    evbuffer_add_printf(out, "</tbody></table></div><p class=\"hint\">To create a group, open "
                             "<code>/groups/NAME</code> and save it, or use <code>warden groups "
                             "import FILE</code>.</p>");
    sqlite3_finalize(devs);
    sqlite3_finalize(upd);
    groups_free(groups, n);
    page_send(r, out, 200);
}

/* An allow list of names as a table cell: its values, as the document gave them. */
static void put_names(struct evbuffer *out, const struct group_names *l)
{
    if (!l->enabled)
        evbuffer_add_printf(out, "<span class=\"muted\">off</span>");
    else if (l->n == 0)
        evbuffer_add_printf(out, "<b>empty: nothing allowed</b>");
    for (size_t i = 0; l->enabled && i < l->n; i++)
        html_printf(out, "%s<code>%s</code>", i ? " " : "", l->values[i]);
}

/* An allow list as a table cell: its ranges, "network/prefix". */
static void put_allow(struct evbuffer *out, const struct group_allow *a)
{
    char ip[64];

    if (!a->enabled) {
        evbuffer_add_printf(out, "<span class=\"muted\">off: every address allowed</span>");
        return;
    }
    if (a->n == 0)
        evbuffer_add_printf(out, "<b>empty: no address allowed</b>");
    for (size_t i = 0; i < a->n; i++) {
        ip_format(&a->cidrs[i].net, ip, sizeof(ip));
        evbuffer_add_printf(out, "%s<code>%s/%d</code>", i ? " " : "", ip, a->cidrs[i].prefix);
    }
}

static void group_rules(struct evbuffer *out, const struct group *g)
{
    char win[32];

    evbuffer_add_printf(out, "<div class=\"card\"><h2>Time-window rules</h2><p class=\"hint\">"
                             "An enabled rule raises a Low alert for a device whose count over "
                             "the window is below the minimum or above the maximum. A rule "
                             "marked not observable counts what the lab cannot see: it keeps "
                             "the values the document gave it and exports them unchanged, "
                             "but raises nothing.</p><table>"
                             "<thead><tr><th>Rule</th><th>Counts</th><th>Enabled</th>"
                             "<th class=\"num\">Min</th><th class=\"num\">Max</th>"
                             "<th>Window</th></tr></thead><tbody>");
    for (int i = 0; i < GROUP_RULE_COUNT; i++) {
        const struct group_tw_rule *t = &g->tw[i];

        page_fmt_span(t->window_ms, win, sizeof(win));
        evbuffer_add_printf(out, "<tr><td class=\"mono\">%s</td><td>%s",
                            group_rule_name((enum group_rule)i), rule_help[i]);
        if (!group_rule_observable((enum group_rule)i))
            put_unobservable(out, rule_why_not[i]);
        evbuffer_add_printf(out, "</td><td>");
        page_put_badge(out, t->enabled ? "ok" : "other", t->enabled ? "on" : "off");
        evbuffer_add_printf(out, "</td><td class=\"num\">%" PRId64 "</td><td class=\"num\">%" PRId64
                                 "</td><td>%s</td></tr>",
                            t->min, t->max, win);
    }
    evbuffer_add_printf(out, "</tbody></table></div><div class=\"card\"><h2>Allow lists</h2>"
                             "<p class=\"hint\">An enabled list raises a Low alert for each remote "
                             "address outside it that a device talks to.</p><table class=\"kv\">"
                             "<tr><th>" GROUP_ALLOW_OUT_NAME
                             "<div class=\"small\">outbound, or direction unknown</div></th><td>");
    put_allow(out, &g->allow_out);
    evbuffer_add_printf(out, "</td></tr><tr><th>" GROUP_ALLOW_IN_NAME
                             "<div class=\"small\">inbound</div></th><td>");
    put_allow(out, &g->allow_in);
    evbuffer_add_printf(out, "</td></tr><tr><th>" GROUP_ALLOW_USERS_NAME
                             "<div class=\"small\">local users allowed to log in</div>");
    put_unobservable(out, "the devices' agents report no local logins");
    evbuffer_add_printf(out, "</th><td>");
    put_names(out, &g->users);
    evbuffer_add_printf(out, "</td></tr><tr><th>" GROUP_ALLOW_PROCESSES_NAME
                             "<div class=\"small\">processes allowed to run</div>");
    put_unobservable(out, "the devices' agents report no processes");
    evbuffer_add_printf(out, "</th><td>");
    put_names(out, &g->processes);
    evbuffer_add_printf(out, "</td></tr></table></div>");
}

/* One JSON value on one line, with spaces after commas and colons. */
static void json_line(struct evbuffer *b, json_t *v)
{
    char *s = json_dumps(v, JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

    if (s != NULL)
        evbuffer_add(b, s, strlen(s));
    free(s);
}

/*
 * The normalised document of g for reading and editing: the members on
 * their own lines and each rule on one line, so all twenty rules fit on a
 * screen. malloc'd; NULL when out of memory.
 */
static char *group_pretty(const struct group *g)
{
    char *compact = group_to_json(g), *text = NULL;
    json_t *doc = compact ? json_loads(compact, 0, NULL) : NULL;
    json_t *props = json_object_get(doc, "properties"), *v, *e;
    struct evbuffer *b = evbuffer_new();
    const char *k;
    size_t i, n = 0;

    free(compact);
    if (b == NULL)
        fatal("out of memory");
    if (json_is_object(doc) && json_is_object(props)) {
        evbuffer_add_printf(b, "{\"name\": ");
        json_line(b, json_object_get(doc, "name"));
        evbuffer_add_printf(b, ",\n \"properties\": {");
        json_object_foreach(props, k, v)
        {
            json_t *key = json_string(k);
            evbuffer_add_printf(b, "%s\n  ", n++ ? "," : "");
            json_line(b, key);
            json_decref(key);
            evbuffer_add_printf(b, ": [");
            json_array_foreach(v, i, e)
            {
                evbuffer_add_printf(b, "%s\n    ", i ? "," : "");
                json_line(b, e);
            }
            evbuffer_add_printf(b, "]");
        }
        evbuffer_add_printf(b, "}}\n");
        text = strndup((const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b));
    }
    json_decref(doc);
    evbuffer_free(b);
    return text;
}

/* The group page; with doc and err, the editor shows a document that did not pass. */
static void group_page(struct web_req *r, const char *name, const char *doc, const char *err,
                       int status)
{
    struct evbuffer *out = page_open(r, name, "groups");
    struct group *groups = NULL, fresh;
    const struct group *g = NULL;
    char lerr[256], *text = NULL;
    size_t n = 0;

    html_printf(out, "<div class=\"crumbs\"><a href=\"/groups\">Security groups</a> / group</div>"
                     "<h1>%s</h1>",
                name);
    if (!groups_load(r->ctx->db, &groups, &n, lerr, sizeof(lerr))) {
        html_printf(out, "<div class=\"error\">%s</div>", lerr);
        page_send(r, out, 500);
        return;
    }
    for (size_t i = 0; i < n && g == NULL; i++)
        if (strcmp(groups[i].name, name) == 0)
            g = &groups[i];
    if (g == NULL) {
        group_init(&fresh, name);
        g = &fresh;
        evbuffer_add_printf(out, "<div class=\"note\">This group does not exist yet: every rule "
                                 "is off. Saving it creates it.</div>");
    }
    evbuffer_add_printf(out, "<p><a href=\"/groups/");
    url_escape(out, name);
    evbuffer_add_printf(out, "/baseline\">Baseline and suggested ranges</a></p>");
    if (page_param(r, "saved") != NULL && err == NULL)
        evbuffer_add_printf(out, "<div class=\"ok\">Saved. The next evaluator pass uses it.</div>");
    if (err != NULL)
        html_printf(out, "<div class=\"error\">Not saved: %s</div>", err);
    group_rules(out, g);
    text = doc ? NULL : group_pretty(g);
    page_group_editor(r, out, name, doc ? doc : text ? text : "");
    free(text);
    groups_free(groups, n);
    page_send(r, out, status);
}

static void page_group(struct web_req *r)
{
    if (page_tuning_get(r))
        return;
    if (!group_name_valid(r->tail)) {
        page_error(r, 404, "No such group",
                   "Group names are 1 to 128 letters, digits, dots, dashes and underscores.");
        return;
    }
    group_page(r, r->tail, NULL, NULL, 200);
}

/* POST /groups/{name}: check the document with group_parse, store it, and show the group. */
static void page_group_save(struct web_req *r)
{
    const char *doc = web_param(r, "doc");
    char err[512], location[GROUP_NAME_MAX + 32];
    struct evbuffer *loc;
    struct group g;

    if (page_tuning_post(r))
        return;
    if (!group_name_valid(r->tail)) {
        page_error(r, 404, "No such group",
                   "Group names are 1 to 128 letters, digits, dots, dashes and underscores.");
        return;
    }
    if (doc == NULL || doc[0] == '\0') {
        group_page(r, r->tail, "", "the document is empty", 400);
        return;
    }
    if (!group_parse(doc, strlen(doc), r->tail, &g, err, sizeof(err))) {
        group_page(r, r->tail, doc, err, 400);
        return;
    }
    if (!group_store(r->ctx->db_rw, &g, err, sizeof(err))) {
        group_free(&g);
        group_page(r, r->tail, doc, err, 500);
        return;
    }
    group_free(&g);
    /* A valid group name is made of URL-safe characters, but escape it all the same. */
    if ((loc = evbuffer_new()) == NULL)
        fatal("out of memory");
    evbuffer_add_printf(loc, "/groups/");
    url_escape(loc, r->tail);
    evbuffer_add_printf(loc, "?saved=1");
    snprintf(location, sizeof(location), "%.*s", (int)evbuffer_get_length(loc),
             (const char *)evbuffer_pullup(loc, -1));
    evbuffer_free(loc);
    page_redirect(r, location);
}

const struct web_route web_page_groups_routes[] = {
    {"GET", "/groups", 0, page_groups, NULL},
    {"GET", "/groups/", WEB_PREFIX, page_group, NULL},
    {"POST", "/groups/", WEB_PREFIX | WEB_WRITES, page_group_save, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
