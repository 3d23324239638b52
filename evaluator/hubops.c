/*
 * The hub records of a pass (hub_operations after the cursor): failed device
 * authentications, certificates added or deleted, diagnostic settings written
 * or deleted, each an event-driven occurrence; and the diagnostic settings
 * the hub now has, which lifecycle.c writes with the pass. It calls
 * evalstate.c.
 */
#include "eval_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    e->diag[e->n_diag].hub = eval_pass_strdup(e, hub);
    e->diag[e->n_diag].name = eval_pass_strdup(e, name);
    e->diag[e->n_diag].config = eval_pass_strdup(e, config);
    e->n_diag++;
}

bool eval_read_hub_records(struct eval *e, int64_t hi)
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
            struct occurrence *o = eval_occur(e, type, dev, at, n);
            o->f.device_id = eval_pass_strdup(e, dev);
            o->f.hub = eval_pass_strdup(e, hub);
            o->f.reason = eval_pass_strdup(e, reason);
            o->f.source_ip = eval_pass_strdup(e, src);
        } else if ((type = hub_alert(cat, op, result)) != NULL) {
            bool is_cert = strcmp(cat, "Certificates") == 0;
            const char *name = is_cert ? cert : setting;
            struct occurrence *o;
            snprintf(key, sizeof(key), "%s/%s", hub, name ? name : "(unnamed)");
            o = eval_occur(e, type, key, at, n);
            o->f.hub = eval_pass_strdup(e, hub);
            o->f.source_ip = eval_pass_strdup(e, src);
            if (is_cert)
                o->f.certificate_name = eval_pass_strdup(e, name);
            else
                o->f.setting_name = eval_pass_strdup(e, name);
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
