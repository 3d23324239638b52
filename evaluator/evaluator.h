/*
 * evaluator/: the configuration users bring from Azure (security groups,
 * device registry, hub configuration, threat-intelligence lists) and the
 * scheduled evaluation that turns stored data into alerts and
 * recommendations (SPEC 4 and 5).
 */
#ifndef WARDEN_EVALUATOR_H
#define WARDEN_EVALUATOR_H

#include "../common/common.h"
#include "../store/store.h"

/*
 * Command-line entry points. argv[0] is the command ("groups", "registry",
 * "hub", "intel"); each returns the exit status (0, 1 runtime, 2 usage or
 * invalid input) and prints its own errors, naming the offending item.
 */
int eval_cmd_groups(int argc, char **argv, struct store *s);   /* import F [--name N] | export NAME | list */
int eval_cmd_registry(int argc, char **argv, struct store *s,
                      const struct config *cfg); /* import F | add | rm | token */
/* import F [--hub N] | cert add NAME FILE | cert delete NAME | diag set NAME FILE
 * | diag delete NAME */
int eval_cmd_hub(int argc, char **argv, struct store *s, const struct config *cfg);
int eval_cmd_intel(int argc, char **argv, struct store *s);    /* load F [--name N] | list | drop N */

/*
 * Dismiss an Active alert, or reactivate a Dismissed one, with an optional
 * note (SPEC 5.4), in its own transaction on db. Returns 0, or 404 for an
 * unknown id, 409 when the alert is not in a state that allows it, 500 on a
 * database error.
 */
struct sqlite3;
int eval_alert_change(struct sqlite3 *db, int64_t id, bool dismiss, const char *note);

/*
 * The hub's control plane (evaluator/hubctl.c): certificates and diagnostic
 * settings changed by `warden hub cert|diag` and by the API. Every call, done
 * or refused, writes the hub operation record of SPEC 2.4 (category
 * Certificates or DiagnosticSettings, operation write or delete, result
 * Succeeded, or Failed with its reason) in the transaction of the change, so
 * the evaluator's next pass raises the control-plane alerts from what was
 * really asked. A refused action writes only its record. Certificates also
 * go to the lab hub's key store (broker/hubkeys.h), which the broker reads.
 */
enum eval_hub_action { EVAL_HUB_CERT_WRITE, EVAL_HUB_CERT_DELETE, EVAL_HUB_DIAG_WRITE,
                       EVAL_HUB_DIAG_DELETE };

struct eval_hubctl {
    struct sqlite3 *db;    /* read-write; each call runs its own transaction on it */
    const char *hub;       /* hub.name */
    const char *keystore;  /* the key store's path (hub_keys_default_path) */
    const char *source_ip; /* the API client's address, for the record; NULL from the CLI */
    int64_t now_ms;
};

/* What a call returns; the comments say how the CLI and the API answer each. */
enum eval_hub_status {
    EVAL_HUB_OK = 0,
    EVAL_HUB_INVALID,   /* a bad name, PEM or setting: exit 2, HTTP 400 */
    EVAL_HUB_EXISTS,    /* a certificate of that name is there already: exit 2, HTTP 409 */
    EVAL_HUB_NOT_FOUND, /* no certificate or setting of that name: exit 2, HTTP 404 */
    EVAL_HUB_FAILED     /* the database or the key store failed: exit 1, HTTP 500 */
};

struct eval_hub_out {
    const char *reason;   /* the record's reason (static), NULL when it succeeded */
    char detail[512];     /* for a person: what was done, or why not */
    char thumbprint[41];  /* certificate add: SHA-1 of the DER, upper-case hex */
    int64_t not_after_ms; /* certificate add: when it expires */
};

/* name is NUL-terminated; pem and setting are (buf, len) and trusted in nothing. */
enum eval_hub_status eval_hub_cert_add(const struct eval_hubctl *c, const char *name,
                                       const char *pem, size_t len, struct eval_hub_out *out);
enum eval_hub_status eval_hub_cert_delete(const struct eval_hubctl *c, const char *name,
                                          struct eval_hub_out *out);
/* Adds or replaces one setting {name, logs[...]} (SPEC 4.3); a missing "name" is NAME's. */
enum eval_hub_status eval_hub_diag_set(const struct eval_hubctl *c, const char *name,
                                       const char *setting, size_t len, struct eval_hub_out *out);
enum eval_hub_status eval_hub_diag_delete(const struct eval_hubctl *c, const char *name,
                                          struct eval_hub_out *out);
/*
 * A change refused for want of credentials (the API's 401/403): only its
 * record, Failed with reason Unauthorized; name may be NULL when unknown.
 */
void eval_hub_unauthorized(const struct eval_hubctl *c, enum eval_hub_action a, const char *name);

/* `warden evaluate [--once] [--at TIME]`: passes on the schedule, or one pass. */
int eval_cmd_evaluate(int argc, char **argv, const struct config *cfg);

/*
 * One evaluator with its own database connection, for a caller that
 * schedules passes itself (tests, benchmarks). eval_pass() runs one pass as
 * if the clock read T (unix ms).
 */
struct eval;
struct eval *eval_open(const struct config *cfg, char *err, size_t errlen);
bool eval_pass(struct eval *e, int64_t T, char *err, size_t errlen);
int64_t eval_last_pass(struct eval *e);     /* T of the last pass written, or -1 */
int64_t eval_watermark(struct eval *e);     /* the ingester's watermark */
void eval_count_overrun(struct eval *e);
void eval_close(struct eval *e);

/*
 * The evaluator inside `warden run`: a thread with its own connection that
 * runs passes every evaluator.interval until eval_thread_stop().
 */
struct eval_thread;
struct eval_thread *eval_thread_start(const struct config *cfg, char *err, size_t errlen);
void eval_thread_stop(struct eval_thread *t);

#endif
