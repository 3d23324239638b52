/*
 * imports/hubctl.h: the lab hub's control plane, the changes made to one
 * certificate or one diagnostic setting at a time (`warden hub cert|diag`
 * and the API's PUT and DELETE under /api/v1/hub). It sits beside
 * hubconf.c, which imports the same settings whole and whose parser it uses.
 */
#ifndef WARDEN_IMPORTS_HUBCTL_H
#define WARDEN_IMPORTS_HUBCTL_H

#include "../common/common.h"
#include "../store/store.h"

#include <stddef.h>
#include <stdint.h>

/*
 * The hub's control plane (imports/hubctl.c): certificates and diagnostic
 * settings changed by `warden hub cert|diag` and by the API. Every call, done
 * or refused, writes the hub operation record of SPEC 2.4 (category
 * Certificates or DiagnosticSettings, operation write or delete, result
 * Succeeded, or Failed with its reason) in the transaction of the change, so
 * the evaluator's next pass raises the control-plane alerts from what was
 * really asked. A refused action writes only its record. Certificates also
 * go to the lab hub's key store (hub/hubkeys.h), which the broker reads.
 */
enum hubctl_action { HUBCTL_CERT_WRITE, HUBCTL_CERT_DELETE, HUBCTL_DIAG_WRITE,
                       HUBCTL_DIAG_DELETE };

struct hubctl_ctx {
    struct sqlite3 *db;    /* read-write; each call runs its own transaction on it */
    const char *hub;       /* hub.name */
    const char *keystore;  /* the key store's path (hub_keys_default_path) */
    const char *source_ip; /* the API client's address, for the record; NULL from the CLI */
    int64_t now_ms;
};

/* What a call returns; the comments say how the CLI and the API answer each. */
enum hubctl_status {
    HUBCTL_OK = 0,
    HUBCTL_INVALID,   /* a bad name, PEM or setting: exit 2, HTTP 400 */
    HUBCTL_EXISTS,    /* a certificate of that name is there already: exit 2, HTTP 409 */
    HUBCTL_NOT_FOUND, /* no certificate or setting of that name: exit 2, HTTP 404 */
    HUBCTL_FAILED     /* the database or the key store failed: exit 1, HTTP 500 */
};

struct hubctl_out {
    const char *reason;   /* the record's reason (static), NULL when it succeeded */
    char detail[512];     /* for a person: what was done, or why not */
    char thumbprint[41];  /* certificate add: SHA-1 of the DER, upper-case hex */
    int64_t not_after_ms; /* certificate add: when it expires */
};

/* name is NUL-terminated; pem and setting are (buf, len) and trusted in nothing. */
enum hubctl_status hubctl_cert_add(const struct hubctl_ctx *c, const char *name,
                                       const char *pem, size_t len, struct hubctl_out *out);
enum hubctl_status hubctl_cert_delete(const struct hubctl_ctx *c, const char *name,
                                          struct hubctl_out *out);
/* Adds or replaces one setting {name, logs[...]} (SPEC 4.3); a missing "name" is NAME's. */
enum hubctl_status hubctl_diag_set(const struct hubctl_ctx *c, const char *name,
                                       const char *setting, size_t len, struct hubctl_out *out);
enum hubctl_status hubctl_diag_delete(const struct hubctl_ctx *c, const char *name,
                                          struct hubctl_out *out);
/*
 * A change refused for want of credentials (the API's 401/403): only its
 * record, Failed with reason Unauthorized; name may be NULL when unknown.
 */
void hubctl_unauthorized(const struct hubctl_ctx *c, enum hubctl_action a, const char *name);

/*
 * `warden hub ...` (main.c): argv[0] is "hub"; cert and diag are this file's,
 * import is handed to import_cmd_hub (hubconf.c). Returns the exit status.
 */
int hubctl_cmd(int argc, char **argv, struct store *s, const struct config *cfg);

#endif
