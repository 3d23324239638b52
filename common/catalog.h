/*
 * common/catalog.h: the one catalogue of alert types (SPEC 5.2) and
 * recommendation types (5.3), as data. The evaluator takes each type's
 * title, severity, kind (how it resolves) and remediation from it; the web
 * its menus, short labels, severities, the kind that says how to show an
 * alert's data, and a recommendation's help; the API its severities; and
 * `warden catalog --markdown` prints the README's tables from it
 * (tests/integration/test_catalog.sh holds the README to them).
 *
 * It lives in common/ because both evaluator/ and web/ include it (and the
 * outputs to come will) and it depends on nothing: a table in evaluator/
 * would make the web read the evaluator's private header for data without
 * logic. It may call nothing but libc.
 */
#ifndef WARDEN_CATALOG_H
#define WARDEN_CATALOG_H

#include <stddef.h>
#include <stdio.h>

/* What an entry is: how it resolves, what its key names and how a page shows its data. */
enum catalog_kind {
    CK_FLOW,     /* threat intelligence and allow lists: after event_alert_ttl without a repeat */
    CK_AUTH,     /* the four authentication alerts: likewise */
    CK_HUB_CERT, /* hub certificates: stays open until dismissed */
    CK_HUB_DIAG, /* hub diagnostic settings: likewise */
    CK_WINDOW,   /* time-window rules: the first pass back in range */
    CK_SILENT,   /* device silent: when the device sends again */
    CK_REC       /* a recommendation: re-assessed at every pass */
};

struct catalog_entry {
    const char *type;        /* "IoT_TiConnection" */
    const char *title;       /* "Suspicious IP address communication": display_name */
    const char *label;       /* alerts: a short title for menus and tables */
    const char *severity;    /* High, Medium, Low */
    enum catalog_kind kind;
    const char *key;         /* what tells one from another (alert_key, rec_key): "device/remote-ip" */
    const char *when;        /* the description: raised (alert) or active (recommendation) when */
    const char *why;         /* recommendations: what the weakness risks, for someone new to it */
    const char *remediation; /* what to do; for an alert, the text each alert of the type carries */
    const char *setting;     /* recommendations: the configuration switch */
};

/* The entry of type, or NULL for a type Warden does not know (or type NULL). */
const struct catalog_entry *catalog_find(const char *type);

/* The alert types, CATALOG_N_ALERTS of them, in the README's order. */
#define CATALOG_N_ALERTS 22
const struct catalog_entry *catalog_alerts(void);

/* The recommendation types (*n of them), in the README's order. */
const struct catalog_entry *catalog_recs(size_t *n);

/* When an entry of kind resolves, as the README says it. */
const char *catalog_resolves(enum catalog_kind kind);

/* Every severity SPEC 5 names, highest first, then NULL. */
extern const char *const catalog_severities[];

/* The README's table (heading row included): alerts (recommendations 0) or recommendations (1). */
void catalog_markdown(FILE *out, int recommendations);

#endif
