/*
 * common/catalog.h: the one catalogue of alert types (SPEC 5.2) and
 * recommendation types (5.3), as data. The evaluator reads it for severities,
 * titles and how an alert resolves; the web for menus, labels, severities and
 * the help of a recommendation; `warden catalog --markdown` prints the
 * README's tables from it (tests/integration/test_catalog.sh compares them).
 *
 * It lives in common/ because both evaluator/ and web/ include it and it
 * depends on nothing: a table in evaluator/ would make the web read the
 * evaluator's private header for data that has no logic.
 */
#ifndef WARDEN_CATALOG_H
#define WARDEN_CATALOG_H

#include <stddef.h>
#include <stdio.h>

/* What an entry is, and so how it resolves and how a page shows its data. */
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
    const char *title;       /* "Suspicious IP address communication" */
    const char *label;       /* a short title for menus and tables */
    const char *severity;    /* High, Medium, Low */
    enum catalog_kind kind;
    const char *key;         /* what identifies one: "device/remote-ip"; for a recommendation, per what */
    const char *when;        /* raised (alert) or active (recommendation) when */
    const char *resolves;    /* alerts: when it resolves; recommendations: the config switch */
    const char *description; /* what it means, for someone who has never seen Azure */
    const char *remediation; /* what to do about it */
};

/* The entry of type, or NULL for a type Warden does not know (or type NULL). */
const struct catalog_entry *catalog_find(const char *type);

/* The alert types, CATALOG_N_ALERTS of them, in the README's order. */
#define CATALOG_N_ALERTS 22
const struct catalog_entry *catalog_alerts(void);

/* The recommendation types (*n of them), in the README's order. */
const struct catalog_entry *catalog_recs(size_t *n);

/* The README's table rows: alerts (recommendations 0) or recommendations (1). */
void catalog_markdown(FILE *out, int recommendations);

#endif
