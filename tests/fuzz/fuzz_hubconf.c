/*
 * libFuzzer target for the hub document parsers (imports/hubconf.c): the
 * whole document, a stored properties object and a single diagnostic
 * setting (as a hub record's details.config carries it), all on each input.
 * Besides the sanitizers' own checks, it asserts that what an import stores
 * (the normalised properties and settings) parses back to the same rules and
 * the same text, that a diagnostic setting (or a LIST of them) is never
 * taken for a hub, and that a refusal says why.
 */
#include "../../imports/imports.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rules(const struct hub_ip_rule *rules, size_t n)
{
    WARDEN_ASSERT(n <= HUB_MAX_RULES && (n == 0) == (rules == NULL));
    for (size_t i = 0; i < n; i++) {
        const struct hub_ip_rule *r = &rules[i];
        WARDEN_ASSERT(import_name_valid(r->name, strlen(r->name)));
        WARDEN_ASSERT(r->prefix >= 0 && r->prefix <= (r->net.family == 4 ? 32 : 128));
        for (size_t j = 0; j < i; j++)
            WARDEN_ASSERT(strcmp(rules[j].name, r->name) != 0);
    }
}

static void check_props_stored(const struct hub_props *p, const char *json)
{
    struct hub_props back;
    char err[512];

    check_rules(p->ip_rules, p->n_ip_rules);
    check_rules(p->ip_filter_rules, p->n_ip_filter_rules);
    WARDEN_ASSERT(hub_props_parse(json, strlen(json), &back, err, sizeof(err)));
    WARDEN_ASSERT(back.has_network_rule_sets == p->has_network_rule_sets &&
                  back.default_deny == p->default_deny &&
                  back.has_ip_filter_rules == p->has_ip_filter_rules);
    WARDEN_ASSERT(back.n_ip_rules == p->n_ip_rules &&
                  back.n_ip_filter_rules == p->n_ip_filter_rules);
    WARDEN_ASSERT(p->n_ip_rules == 0 ||
                  memcmp(back.ip_rules, p->ip_rules, p->n_ip_rules * sizeof(*p->ip_rules)) == 0);
    WARDEN_ASSERT(p->n_ip_filter_rules == 0 ||
                  memcmp(back.ip_filter_rules, p->ip_filter_rules,
                         p->n_ip_filter_rules * sizeof(*p->ip_filter_rules)) == 0);
    hub_props_free(&back);
}

static void check_setting_stored(const struct hub_diag_setting *s)
{
    struct hub_diag_setting back;
    char err[512];

    WARDEN_ASSERT(s->json != NULL && import_name_valid(s->name, strlen(s->name)));
    WARDEN_ASSERT(s->nlogs <= HUB_MAX_LOGS && (s->nlogs == 0) == (s->logs == NULL));
    for (size_t i = 0; i < s->nlogs; i++)
        WARDEN_ASSERT(s->logs[i].retention_days >= 0 &&
                      s->logs[i].retention_days <= HUB_MAX_RETENTION_DAYS);
    WARDEN_ASSERT(hub_setting_parse(s->json, strlen(s->json), &back, err, sizeof(err)));
    WARDEN_ASSERT(strcmp(back.json, s->json) == 0 && back.nlogs == s->nlogs);
    hub_setting_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct hub_doc doc;
    struct hub_props p;
    struct hub_diag_setting s;
    char err[512];

    err[0] = '\0';
    if (hubconf_parse(buf, size, "fuzz-hub", &doc, err, sizeof(err))) {
        WARDEN_ASSERT(strcmp(doc.hub, "fuzz-hub") == 0);
        WARDEN_ASSERT(doc.named[0] == '\0' || import_hub_name_valid(doc.named, strlen(doc.named)));
        WARDEN_ASSERT(doc.has_props || doc.has_settings);
        WARDEN_ASSERT(doc.has_props == (doc.props_json != NULL));
        /* A setting or a list of them is never taken for a hub, nor a hub for a setting. */
        WARDEN_ASSERT(doc.kind == HUB_DOC_HUB || (!doc.has_props && doc.has_settings));
        WARDEN_ASSERT(doc.kind != HUB_DOC_SETTING || doc.nsettings == 1);
        if (doc.has_props)
            check_props_stored(&doc.props, doc.props_json);
        for (size_t i = 0; i < doc.nsettings; i++)
            check_setting_stored(&doc.settings[i]);
        hubconf_free(&doc);
    } else {
        WARDEN_ASSERT(err[0] != '\0' && doc.props_json == NULL && doc.settings == NULL);
    }
    err[0] = '\0';
    if (hub_props_parse(buf, size, &p, err, sizeof(err))) {
        check_rules(p.ip_rules, p.n_ip_rules);
        check_rules(p.ip_filter_rules, p.n_ip_filter_rules);
        hub_props_free(&p);
    } else {
        WARDEN_ASSERT(err[0] != '\0' && p.ip_rules == NULL && p.ip_filter_rules == NULL);
    }
    err[0] = '\0';
    if (hub_setting_parse(buf, size, &s, err, sizeof(err))) {
        check_setting_stored(&s);
        hub_setting_free(&s);
    } else {
        WARDEN_ASSERT(err[0] != '\0' && s.json == NULL && s.logs == NULL);
    }
    return 0;
}
