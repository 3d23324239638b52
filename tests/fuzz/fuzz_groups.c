/*
 * libFuzzer target for the security group parser (imports/groups.c).
 * Besides the sanitizers' own checks, it asserts what the evaluator relies
 * on: a parsed group is within the documented bounds, a refusal says why,
 * and the normalised document parses back to the same group and the same
 * text (export, then import, changes nothing). The same input also goes
 * through groups_parse_doc() (LIST bodies and arrays), whose every group
 * must hold the same bounds and have a name when there are several.
 */
#include "../../imports/groups.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_allow(const struct group_allow *a)
{
    WARDEN_ASSERT(a->n <= GROUP_ALLOW_MAX && (a->n == 0) == (a->cidrs == NULL));
    for (size_t i = 0; i < a->n; i++) {
        const struct group_cidr *c = &a->cidrs[i];
        WARDEN_ASSERT((c->net.family == 4 && c->prefix >= 0 && c->prefix <= 32) ||
                      (c->net.family == 6 && c->prefix >= 0 && c->prefix <= 128));
        /* Host bits are cleared: the network is inside its own range. */
        WARDEN_ASSERT(cidr_contains(&c->net, c->prefix, &c->net));
    }
}

static void check_names(const struct group_names *l)
{
    WARDEN_ASSERT(l->n <= GROUP_ALLOW_MAX && (l->n == 0) == (l->values == NULL));
    for (size_t i = 0; i < l->n; i++) {
        size_t n = strlen(l->values[i]);
        WARDEN_ASSERT(n <= GROUP_VALUE_MAX && utf8_valid(l->values[i], n) &&
                      text_printable(l->values[i], n));
    }
}

static bool same_names(const struct group_names *a, const struct group_names *b)
{
    if (a->enabled != b->enabled || a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->values[i], b->values[i]) != 0)
            return false;
    return true;
}

static void check_group(const struct group *g)
{
    WARDEN_ASSERT(g->name[0] == '\0' || group_name_valid(g->name));
    for (int i = 0; i < GROUP_RULE_COUNT; i++) {
        const struct group_tw_rule *t = &g->tw[i];
        WARDEN_ASSERT(t->min >= 0 && t->min <= t->max && t->max <= GROUP_THRESHOLD_MAX);
        WARDEN_ASSERT(t->window_ms >= GROUP_WINDOW_MIN_MS && t->window_ms <= GROUP_WINDOW_MAX_MS &&
                      t->window_ms % GROUP_WINDOW_STEP_MS == 0);
    }
    check_allow(&g->allow_out);
    check_allow(&g->allow_in);
    check_names(&g->users);
    check_names(&g->processes);
    WARDEN_ASSERT(group_enabled_rules(g) <= GROUP_RULES_TOTAL &&
                  group_enabled_unobservable(g) <= group_enabled_rules(g));
}

static void check_round_trip(const struct group *g)
{
    struct group back;
    char err[512], *json = group_to_json(g), *again;

    WARDEN_ASSERT(json != NULL);
    WARDEN_ASSERT(group_parse(json, strlen(json), NULL, &back, err, sizeof(err)));
    WARDEN_ASSERT(strcmp(back.name, g->name) == 0);
    WARDEN_ASSERT(memcmp(back.tw, g->tw, sizeof(g->tw)) == 0);
    WARDEN_ASSERT(same_names(&back.users, &g->users) && same_names(&back.processes, &g->processes));
    again = group_to_json(&back);
    WARDEN_ASSERT(again != NULL && strcmp(again, json) == 0);
    free(again);
    free(json);
    group_free(&back);
}

static void check_doc(const uint8_t *data, size_t size)
{
    struct group *gs;
    size_t n;
    char err[512];

    err[0] = '\0';
    if (!groups_parse_doc((const char *)data, size, NULL, &gs, &n, err, sizeof(err))) {
        WARDEN_ASSERT(err[0] != '\0');
        return;
    }
    WARDEN_ASSERT(n >= 1 && n <= GROUP_DOC_MAX_GROUPS);
    for (size_t i = 0; i < n; i++) {
        check_group(&gs[i]);
        WARDEN_ASSERT(n == 1 || gs[i].name[0] != '\0');
        for (size_t j = 0; j < i; j++)
            WARDEN_ASSERT(strcmp(gs[i].name, gs[j].name) != 0);
    }
    groups_free(gs, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct group g;
    char err[512];

    err[0] = '\0';
    if (group_parse((const char *)data, size, NULL, &g, err, sizeof(err))) {
        check_group(&g);
        check_round_trip(&g);
        group_free(&g);
    } else {
        WARDEN_ASSERT(err[0] != '\0');
        WARDEN_ASSERT(g.allow_out.cidrs == NULL && g.allow_in.cidrs == NULL);
        WARDEN_ASSERT(g.users.values == NULL && g.processes.values == NULL);
    }
    check_doc(data, size);
    return 0;
}
