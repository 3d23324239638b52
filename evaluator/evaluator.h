/*
 * evaluator/: the scheduled evaluation that turns stored data into alerts
 * and recommendations (SPEC 5), over what imports/ has stored (security
 * groups, the registry, the hub's configuration, threat-intelligence lists).
 */
#ifndef WARDEN_EVALUATOR_H
#define WARDEN_EVALUATOR_H

#include "../common/common.h"
#include "../store/store.h"

/*
 * Dismiss an Active alert, or reactivate a Dismissed one, with an optional
 * note (SPEC 5.4), in its own transaction on db. Returns 0, or 404 for an
 * unknown id, 409 when the alert is not in a state that allows it, 500 on a
 * database error.
 */
struct sqlite3;
int eval_alert_change(struct sqlite3 *db, int64_t id, bool dismiss, const char *note);

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
