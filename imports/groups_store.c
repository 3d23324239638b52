/*
 * imports/groups_store.c: the normalised document of a security group, and
 * where groups are kept. security_groups.rules_json holds the normalised
 * document and `warden groups export` prints it, so a stored group reads
 * back exactly as it was checked. groups_load() gives the evaluator and the
 * web every group at each read, group_store() writes one.
 *
 * `warden groups import FILE [--name N] | export NAME | list`.
 *
 * It calls groups.c's parser (a stored document is parsed again when it is
 * loaded) and imports.c's file reader; main.c calls import_cmd_groups.
 */
#include "groups.h"
#include "imports.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_RUNTIME 1
#define EXIT_INVALID 2

/* ---- the normalised document ------------------------------------------------------ */

void group_window_format(int64_t ms, char *out, size_t outlen)
{
    static const char unit[4] = {'D', 'H', 'M', 'S'};
    int64_t s = ms / 1000;
    int64_t part[4] = {s / 86400, s % 86400 / 3600, s % 3600 / 60, s % 60};
    size_t at = 0;
    bool in_time = false;

    at += (size_t)snprintf(out, outlen, "P");
    for (int i = 0; i < 4 && at < outlen; i++) {
        if (part[i] == 0)
            continue;
        if (i > 0 && !in_time) {
            at += (size_t)snprintf(out + at, outlen - at, "T");
            in_time = true;
        }
        if (at < outlen)
            at += (size_t)snprintf(out + at, outlen - at, "%lld%c", (long long)part[i], unit[i]);
    }
    if (at == 1)
        snprintf(out, outlen, "PT0S");
}

static json_t *allow_json(const char *type, const struct group_allow *a)
{
    json_t *values = json_array();

    for (size_t i = 0; values != NULL && i < a->n; i++) {
        char ip[64], cidr[80];

        ip_format(&a->cidrs[i].net, ip, sizeof(ip));
        snprintf(cidr, sizeof(cidr), "%s/%d", ip, a->cidrs[i].prefix);
        if (json_array_append_new(values, json_string(cidr)) != 0) {
            json_decref(values);
            return NULL;
        }
    }
    return json_pack("{s:s, s:b, s:o}", "ruleType", type, "isEnabled", a->enabled,
                     "allowlistValues", values);
}

/* An allow list of names, its values as they were given. */
static json_t *names_json(const char *type, const struct group_names *l)
{
    json_t *values = json_array();

    for (size_t i = 0; values != NULL && i < l->n; i++) {
        if (json_array_append_new(values, json_string(l->values[i])) != 0) {
            json_decref(values);
            return NULL;
        }
    }
    return json_pack("{s:s, s:b, s:o}", "ruleType", type, "isEnabled", l->enabled,
                     "allowlistValues", values);
}

static json_t *group_json(const struct group *g)
{
    json_t *tw = json_array(), *allow = json_array();

    for (int i = 0; tw != NULL && i < GROUP_RULE_COUNT; i++) {
        const struct group_tw_rule *t = &g->tw[i];
        const char *type = group_rule_name((enum group_rule)i);
        char window[32];

        group_window_format(t->window_ms, window, sizeof(window));
        if (json_array_append_new(
                tw, json_pack("{s:s, s:b, s:I, s:I, s:s}", "ruleType", type, "isEnabled",
                              t->enabled, "minThreshold", (json_int_t)t->min, "maxThreshold",
                              (json_int_t)t->max, "timeWindowSize", window)) != 0) {
            json_decref(tw);
            tw = NULL;
        }
    }
    if (allow != NULL &&
        (json_array_append_new(allow, allow_json(GROUP_ALLOW_OUT_NAME, &g->allow_out)) != 0 ||
         json_array_append_new(allow, allow_json(GROUP_ALLOW_IN_NAME, &g->allow_in)) != 0 ||
         json_array_append_new(allow, names_json(GROUP_ALLOW_USERS_NAME, &g->users)) != 0 ||
         json_array_append_new(allow, names_json(GROUP_ALLOW_PROCESSES_NAME, &g->processes)) !=
             0)) {
        json_decref(allow);
        allow = NULL;
    }
    /* json_pack with "o" takes the references, and drops them when it fails. */
    if (g->name[0] == '\0')
        return json_pack("{s:{s:o, s:o, s:[], s:[]}}", "properties", "timeWindowRules", tw,
                         "allowlistRules", allow, "thresholdRules", "denylistRules");
    return json_pack("{s:s, s:{s:o, s:o, s:[], s:[]}}", "name", g->name, "properties",
                     "timeWindowRules", tw, "allowlistRules", allow, "thresholdRules",
                     "denylistRules");
}

char *group_to_json(const struct group *g)
{
    json_t *doc = group_json(g);
    char *text;

    if (doc == NULL)
        return NULL;
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

/* ---- the database ------------------------------------------------------------------- */

/* The implicit default group is the row with a NULL document. */
static const char sql_groups_load[] =
    "SELECT name, rules_json FROM security_groups "
    "UNION ALL SELECT '" GROUP_DEFAULT_NAME "', NULL "
    "WHERE NOT EXISTS (SELECT 1 FROM security_groups WHERE name = '" GROUP_DEFAULT_NAME "') "
    "ORDER BY 1";

/* One row of sql_groups_load into g; false with err naming the group. */
static bool load_row(sqlite3_stmt *st, struct group *g, char *err, size_t errlen)
{
    const char *name = (const char *)sqlite3_column_text(st, 0);
    const char *json = (const char *)sqlite3_column_text(st, 1);
    char why[512];

    if (name == NULL) {
        snprintf(err, errlen, "security groups: a group without a name");
        return false;
    }
    if (json == NULL) {
        group_init(g, name);
        return true;
    }
    if (!group_parse(json, (size_t)sqlite3_column_bytes(st, 1), name, g, why, sizeof(why))) {
        snprintf(err, errlen, "security group \"%.128s\": stored document: %s", name, why);
        return false;
    }
    return true;
}

bool groups_load(struct sqlite3 *db, struct group **out, size_t *n, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    struct group *gs = NULL;
    size_t count = 0, cap = 0;
    bool ok = true;
    int rc;

    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db, sql_groups_load, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "security groups: %s", sqlite3_errmsg(db));
        return false;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct group *ngs = realloc(gs, ncap * sizeof(*gs));
            if (ngs == NULL) {
                snprintf(err, errlen, "security groups: out of memory");
                ok = false;
                break;
            }
            gs = ngs;
            cap = ncap;
        }
        if (!(ok = load_row(st, &gs[count], err, errlen)))
            break;
        count++;
    }
    if (ok && rc != SQLITE_DONE) {
        snprintf(err, errlen, "security groups: %s", sqlite3_errmsg(db));
        ok = false;
    }
    sqlite3_finalize(st);
    if (!ok) {
        groups_free(gs, count);
        return false;
    }
    *out = gs;
    *n = count;
    return true;
}

static const char sql_group_store[] =
    "INSERT INTO security_groups (name, rules_json, updated_ms) VALUES (?1, ?2, ?3) "
    "ON CONFLICT(name) DO UPDATE SET rules_json = excluded.rules_json, "
    "updated_ms = excluded.updated_ms";

bool group_store(struct sqlite3 *db, const struct group *g, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    char *json;
    bool ok;

    if (!group_name_valid(g->name)) {
        snprintf(err, errlen, "\"%.128s\" is not a valid group name", g->name);
        return false;
    }
    if ((json = group_to_json(g)) == NULL) {
        snprintf(err, errlen, "security group %s: out of memory", g->name);
        return false;
    }
    ok = sqlite3_prepare_v2(db, sql_group_store, -1, &st, NULL) == SQLITE_OK &&
         sqlite3_bind_text(st, 1, g->name, -1, SQLITE_STATIC) == SQLITE_OK &&
         sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC) == SQLITE_OK &&
         sqlite3_bind_int64(st, 3, clock_now_ms()) == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE;
    if (!ok)
        snprintf(err, errlen, "security group %s: %s", g->name, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    free(json);
    return ok;
}

/* ---- warden groups ------------------------------------------------------------------- */

static const char groups_usage[] =
    "usage: warden groups import FILE [--name NAME] | export NAME | list\n";

/* The file name without its directory and its last extension: "conf/lab.json" -> "lab". */
static void file_stem(const char *path, char *out, size_t outlen)
{
    const char *base = strrchr(path, '/'), *dot;
    size_t n;

    base = base ? base + 1 : path;
    dot = strrchr(base, '.');
    n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    snprintf(out, outlen, "%.*s", (int)(n < outlen ? n : outlen - 1), base);
}

/* Every group of one document, in one transaction: all of them or none. */
static bool groups_store_all(sqlite3 *db, const struct group *gs, size_t n, char *err,
                             size_t errlen)
{
    bool ok = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;

    if (!ok)
        snprintf(err, errlen, "security groups: %s", sqlite3_errmsg(db));
    for (size_t i = 0; ok && i < n; i++)
        ok = group_store(db, &gs[i], err, errlen);
    if (ok && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "security groups: %s", sqlite3_errmsg(db));
        ok = false;
    }
    if (!ok)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return ok;
}

/* What was imported for g, in a line, naming the enabled rules the lab cannot observe. */
static void import_summary(const struct group *g)
{
    int unobservable = group_enabled_unobservable(g), k = 0;

    printf("security group %s: imported, %d of %d rules enabled", g->name, group_enabled_rules(g),
           GROUP_RULES_TOTAL);
    if (unobservable > 0) {
        printf(" (%d not observable in this lab, kept but not evaluated:", unobservable);
        for (int i = GROUP_RULE_OBSERVABLE; i < GROUP_RULE_COUNT; i++)
            if (g->tw[i].enabled)
                printf("%s %s", k++ ? "," : "", group_rule_name((enum group_rule)i));
        if (g->users.enabled)
            printf("%s %s", k++ ? "," : "", GROUP_ALLOW_USERS_NAME);
        if (g->processes.enabled)
            printf("%s %s", k++ ? "," : "", GROUP_ALLOW_PROCESSES_NAME);
        printf(")");
    }
    printf("\n");
}

static int groups_import(int argc, char **argv, struct store *s)
{
    const char *path = NULL, *name = NULL;
    bool usage = false;
    struct group *gs;
    char err[512];
    size_t len, n;
    char *buf;
    int rc = 0;

    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--name") == 0 && i + 1 < argc && name == NULL)
            name = argv[++i];
        else if (strncmp(argv[i], "--name=", 7) == 0 && name == NULL)
            name = argv[i] + 7;
        else if (path == NULL && argv[i][0] != '-')
            path = argv[i];
        else
            usage = true;
    }
    if (path == NULL || usage) {
        fputs(groups_usage, stderr);
        return EXIT_INVALID;
    }
    if ((buf = import_read_file(path, GROUP_MAX_BYTES, &len, err, sizeof(err))) == NULL) {
        fprintf(stderr, "warden groups: %s\n", err);
        return EXIT_RUNTIME;
    }
    if (!groups_parse_doc(buf, len, name, &gs, &n, err, sizeof(err))) {
        fprintf(stderr, "warden groups: %s: %s (nothing imported)\n", path, err);
        free(buf);
        return EXIT_INVALID;
    }
    free(buf);
    if (n == 1 && gs[0].name[0] == '\0') {
        file_stem(path, gs[0].name, sizeof(gs[0].name));
        if (!group_name_valid(gs[0].name)) {
            fprintf(stderr,
                    "warden groups: %s: the file name is not a valid group name; "
                    "give one with --name\n",
                    path);
            rc = EXIT_INVALID;
        }
    }
    if (rc == 0 && !groups_store_all(store_sqlite(s), gs, n, err, sizeof(err))) {
        fprintf(stderr, "warden groups: %s (nothing imported)\n", err);
        rc = EXIT_RUNTIME;
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        import_summary(&gs[i]);
    groups_free(gs, n);
    return rc;
}

static const char sql_group_get[] = "SELECT rules_json FROM security_groups WHERE name = ?1";

static int groups_export(const char *name, struct store *s)
{
    sqlite3 *db = store_sqlite(s);
    sqlite3_stmt *st = NULL;
    struct group g;
    json_t *doc;
    char err[512];
    int rc;

    if (sqlite3_prepare_v2(db, sql_group_get, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "warden groups: %s\n", sqlite3_errmsg(db));
        return EXIT_RUNTIME;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *json = (const char *)sqlite3_column_text(st, 0);
        if (json == NULL ||
            !group_parse(json, (size_t)sqlite3_column_bytes(st, 0), name, &g, err, sizeof(err))) {
            fprintf(stderr, "warden groups: %s: stored document: %s\n", name,
                    json ? err : "missing");
            sqlite3_finalize(st);
            return EXIT_RUNTIME;
        }
    } else if (rc == SQLITE_DONE && strcmp(name, GROUP_DEFAULT_NAME) == 0) {
        group_init(&g, GROUP_DEFAULT_NAME);
    } else {
        if (rc == SQLITE_DONE)
            fprintf(stderr, "warden groups: unknown security group \"%s\"\n", name);
        else
            fprintf(stderr, "warden groups: %s\n", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return EXIT_RUNTIME;
    }
    sqlite3_finalize(st);
    doc = group_json(&g);
    group_free(&g);
    if (doc == NULL || json_dumpf(doc, stdout, JSON_INDENT(2)) != 0) {
        json_decref(doc);
        fprintf(stderr, "warden groups: cannot write the document\n");
        return EXIT_RUNTIME;
    }
    json_decref(doc);
    putchar('\n');
    return 0;
}

static const char sql_group_devices[] =
    "SELECT security_group, COUNT(*) FROM devices GROUP BY security_group ORDER BY security_group";

/* Devices in group name, from the counts query; -1 when the query failed. */
static int64_t devices_in(sqlite3_stmt *st, const char *name)
{
    int64_t n = 0;
    int rc;

    sqlite3_reset(st);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *g = (const char *)sqlite3_column_text(st, 0);
        if (g != NULL && strcmp(g, name) == 0)
            n = sqlite3_column_int64(st, 1);
    }
    return rc == SQLITE_DONE ? n : -1;
}

/* Groups that devices name but that are not defined: listed so the user sees them. */
static void list_undefined(sqlite3_stmt *st, const struct group *gs, size_t n)
{
    sqlite3_reset(st);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        bool defined = false;

        for (size_t i = 0; name != NULL && i < n && !defined; i++)
            defined = strcmp(gs[i].name, name) == 0;
        if (name != NULL && !defined)
            printf("%-40.128s %7s %8lld  (not defined)\n", name, "-",
                   (long long)sqlite3_column_int64(st, 1));
    }
}

static int groups_list(struct store *s)
{
    sqlite3 *db = store_sqlite(s);
    sqlite3_stmt *st = NULL;
    struct group *gs;
    size_t n;
    char err[512];
    int rc = 0;

    if (!groups_load(db, &gs, &n, err, sizeof(err))) {
        fprintf(stderr, "warden groups: %s\n", err);
        return EXIT_RUNTIME;
    }
    if (sqlite3_prepare_v2(db, sql_group_devices, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "warden groups: %s\n", sqlite3_errmsg(db));
        groups_free(gs, n);
        return EXIT_RUNTIME;
    }
    printf("%-40s %7s %8s\n", "NAME", "ENABLED", "DEVICES");
    for (size_t i = 0; i < n && rc == 0; i++) {
        int64_t devices = devices_in(st, gs[i].name);
        if (devices < 0) {
            fprintf(stderr, "warden groups: %s\n", sqlite3_errmsg(db));
            rc = EXIT_RUNTIME;
            break;
        }
        printf("%-40s %3d/%-3d %8lld\n", gs[i].name, group_enabled_rules(&gs[i]), GROUP_RULES_TOTAL,
               (long long)devices);
    }
    if (rc == 0)
        list_undefined(st, gs, n);
    sqlite3_finalize(st);
    groups_free(gs, n);
    return rc;
}

int import_cmd_groups(int argc, char **argv, struct store *s)
{
    const char *sub = argc > 1 ? argv[1] : "";

    if (strcmp(sub, "import") == 0)
        return groups_import(argc, argv, s);
    if (strcmp(sub, "export") == 0 && argc == 3)
        return groups_export(argv[2], s);
    if (strcmp(sub, "list") == 0 && argc == 2)
        return groups_list(s);
    fputs(groups_usage, stderr);
    return EXIT_INVALID;
}
