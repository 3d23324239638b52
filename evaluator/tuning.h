/*
 * evaluator/tuning.h: thresholds from evidence. For a security group, the
 * baseline of each time-window rule (the distribution of the value the rule
 * tests, window by window, over a span of stored history) and a suggested
 * range from it. Everything here reads one snapshot and writes nothing.
 * `warden groups baseline` (tunecmd.c) and the web API call it.
 */
#ifndef WARDEN_EVAL_TUNING_H
#define WARDEN_EVAL_TUNING_H

#include "../common/common.h"

#include <jansson.h>
#include <signal.h>

struct sqlite3;
struct group;

#define TUNE_SPAN_DEFAULT_MS (7 * 86400000LL) /* P7D */
#define TUNE_MIN_HISTORY_MS  (3 * 86400000LL) /* Azure learns from 3 days ... */
#define TUNE_MIN_WINDOWS     30               /* ... and 30 windows a device */
#define TUNE_TOP_DEFAULT     5                /* devices listed a rule */

struct tune_opts {
    const char *group;
    int64_t span_ms;      /* how far back from to_ms */
    int64_t to_ms;        /* the end of the span; < 0: now */
    int rule;             /* one enum group_rule, or -1: every rule the lab observes */
    bool include_alerted; /* keep windows that overlap an alert of their device */
    size_t top;           /* devices listed a rule, farthest from the group's median first */
    /* Optional: told the share done (0..100) now and then; polled to stop early. */
    void (*progress)(void *arg, int percent);
    void *progress_arg;
    volatile sig_atomic_t *cancel;
};

/*
 * The baseline of o->group over the span, as the JSON object of the README's
 * "Tuning thresholds" section ({"group", "span", "rules": [...]}), for the
 * caller to decref. On failure NULL, with err and *status: 400 (a span the
 * data cannot hold), 404 (no such group or rule), 499 (cancelled), 500.
 */
json_t *tune_baseline(struct sqlite3 *db, const struct config *cfg, const struct tune_opts *o,
                      int *status, char *err, size_t errlen);

/*
 * The group's document with each baselined rule's range replaced by its
 * suggestion (rules without one, and every other rule, as they are): what
 * `groups import` takes. Compact JSON, malloc'd; NULL when out of memory or
 * when the group is gone.
 */
char *tune_suggested_document(struct sqlite3 *db, const char *group, json_t *baseline);

/*
 * The backtest of proposed, a document for the group of its name: the
 * evaluator's passes over the span replayed with the group's current rules
 * and with proposed, nothing written, and the alerts each raised compared
 * ({"group", "span", "rules": [{"rule", "current": {"alerts"}, "proposed":
 * {"alerts"}, "added", "removed", "unchanged"}], "days": [...]}). The
 * caller decrefs it; NULL with err and *status as tune_baseline.
 */
json_t *tune_backtest(struct sqlite3 *db, const struct config *cfg, const struct tune_opts *o,
                      const struct group *proposed, int *status, char *err, size_t errlen);

/* `warden groups baseline|backtest ...`; argv[0] is "groups", argv[1] the verb. */
int tune_cmd(int argc, char **argv, const struct config *cfg);

#endif
