/*
 * What the files of evaluator/ that make one pass share, and nothing outside
 * evaluator/ may include: the evaluator's state kept from pass to pass
 * (struct eval), what a pass gathers in memory before it writes (occurrences,
 * diagnostic-setting changes, count windows), and the functions each piece
 * offers the pieces above it. eval_pass() (evaluator.h) stays the one entry
 * point. The floors, each calling only those below it:
 *
 *   eval.c       a pass: the read snapshot, then the write; opening and closing
 *   lifecycle.c  the write: alerts raised, touched and resolved (window rules,
 *                event alerts, device-silent), diagnostic settings, recommendations
 *   windows.c    the count windows of the time-window rules
 *   flows.c      new flows: threat intelligence, allow lists, the last-sighting map
 *   hubops.c     hub records: authentication, certificate and diagnostic-setting alerts
 *   evalstate.c  the lowest floor: pass strings, occurrences, evaluator_state rows,
 *                ingest coverage
 */
#ifndef WARDEN_EVAL_INTERNAL_H
#define WARDEN_EVAL_INTERNAL_H

#include "evaluator.h"

#include "alerts.h"
#include "../imports/groups.h"
#include "../imports/intel.h"

#include <sqlite3.h>

#define BUCKET_MS 10000
#define RUN_SLACK_MS 3000   /* an ingest run is alive this long after its last commit */
#define WRULE_METRICS 7     /* METRIC_D2C .. METRIC_UNAUTHORIZED, the metrics rules read */
#define WDISTINCT 7         /* where a window keeps the distinct flows of a device */
#define WSTRIDE 8

struct device {
    int64_t id;
    char *device_id, *hub;
    size_t group;           /* index into eval.groups */
    int64_t first_seen_ms, last_seen_ms;
    uint8_t window_open;    /* bit r: an alert of time-window rule r is open (lifecycle.c) */
};

struct run {
    int64_t start, end;
};

/* The key of a distinct flow in the last-sighting map. */
struct flow_key {
    int64_t dev;
    int32_t laddr, raddr;
    uint16_t lport, rport;
    int32_t proto;
};

/* An event-driven alert seen in this pass: its occurrences and specifics. */
struct occurrence {
    const char *type;
    char *key;
    int64_t first, last, count;
    struct alert_facts f;
};

/*
 * Window sums are kept from pass to pass. Buckets the ingest watermark has
 * passed are final: their sums are held in w->final and moved along with the
 * window (buckets entering are added, buckets leaving subtracted), so a pass
 * reads about two intervals of buckets, not the whole window. The buckets not
 * yet final (the newest, still filling) are read afresh every pass. With
 * evaluator.clock = "device" no bucket is ever final (late device times can
 * land anywhere), so the whole window is read each pass.
 */
struct window {
    int64_t size;       /* the window, ms */
    bool valid, used;
    int64_t lo, hi;     /* w->final holds the final buckets starting in (lo, hi] */
    size_t cap;         /* devices.id < cap */
    int64_t *final;     /* cap x WSTRIDE */
    int64_t *value;     /* this pass: final + not yet final, and the distinct flows */
};

struct eval {
    const struct config *cfg;
    struct store *store;
    sqlite3 *db;

    struct group *groups;
    size_t n_groups;
    struct device *devices;
    size_t n_devices;
    struct map dev_index;       /* devices.id -> index in devices */
    struct run *runs;
    size_t n_runs;

    struct intel *intel;
    int64_t intel_ver;

    struct map flow_last;       /* struct flow_key -> bucket of the last sighting */
    int64_t flow_last_hi;       /* flows folded up to this bucket (inclusive); -1: not built */
    struct map addr_cache;      /* addrs.id -> index into addr_text */
    char **addr_text;
    struct ip_addr *addr_ip;
    size_t n_addr, cap_addr;

    struct arena pass;          /* this pass's strings */
    struct occurrence *occ;
    size_t n_occ, cap_occ;
    struct map occ_index;       /* "type\x1fkey" -> index into occ */
    struct map verdicts;        /* (addrs.id, group, direction) -> 1 + index into verdict, this pass */
    struct verdict *verdict;
    size_t n_verdict, cap_verdict;
    struct window *windows;     /* one per distinct window size of the enabled rules */
    size_t n_windows;
    int64_t max_dev;            /* the largest devices.id of this pass */
    int64_t watermark;          /* the ingester's watermark at the snapshot */

    /* Diagnostic settings carried by hub records, applied with the pass. */
    struct diag_change {
        char *hub, *name, *config; /* config NULL: delete */
    } *diag;
    size_t n_diag, cap_diag;

    int64_t flow_cursor, hub_cursor, new_flow_cursor, new_hub_cursor;
    int64_t overruns;
};

static inline int64_t floor_bucket(int64_t ms)
{
    return ms - ((ms % BUCKET_MS) + BUCKET_MS) % BUCKET_MS;
}

/* An open alert as a pass sees it; in a replay's book, every alert the replay raised. */
struct open_alert {
    int64_t id;
    const char *type, *key, *status;
    int64_t end_ms;
    bool seen;          /* touched or judged this pass */
    /* A replay's own: what the alerts row would hold. */
    bool closed;
    int64_t start_ms, count, resolved_ms;
};

/* What a replay (replay.c) raised, pass after pass, instead of writing it. */
struct eval_book {
    struct open_alert *open; /* every alert raised, in order; open ones are not closed */
    size_t n, cap;
    struct map index;        /* "type\x1fkey" -> 1 + index of the open one; 0: none */
};

/* evalstate.c */
enum store_metric eval_rule_metric(enum group_rule r);
char *eval_pass_strdup(struct eval *e, const char *s);
void eval_reset_pass(struct eval *e);         /* forget this pass's strings and occurrences */
bool eval_load_runs(struct eval *e);          /* ingest_runs: when Warden was ingesting */
/*
 * The devices of group now (group index 0 each), as a pass judges them: those
 * tagged with it, and for "default" those whose group is not stored; *n of
 * them, malloc'd (eval_devices_free). NULL on a database error.
 */
struct device *eval_group_devices(sqlite3 *db, const char *group, size_t *n);
void eval_devices_free(struct device *d, size_t n);
/* Free what a pass keeps from pass to pass (maps, windows, caches); not devices, groups, intel. */
void eval_free_state(struct eval *e);
int64_t eval_state_get(sqlite3 *db, const char *key, int64_t dflt);
bool eval_state_set(sqlite3 *db, const char *key, int64_t v);
bool eval_covered(const struct eval *e, int64_t a, int64_t b);
struct occurrence *eval_occur(struct eval *e, const char *type, const char *key, int64_t at,
                              int64_t n);

/* flows.c */
bool eval_read_new_flows(struct eval *e, int64_t hi, bool fold, bool judge, int64_t from_id);
int64_t eval_max_connections_window(const struct eval *e);
bool eval_update_flow_map(struct eval *e, int64_t hi, int64_t wmax);
void eval_distinct_flows(struct eval *e, struct window *w, int64_t lo, int64_t hi);
void eval_evict_flow_map(struct eval *e, int64_t keep_after);

/* windows.c */
struct window *eval_window_get(struct eval *e, int64_t size);
bool eval_window_update(struct eval *e, struct window *w, int64_t hi);
int64_t eval_window_value(struct eval *e, int64_t size, int64_t dev, enum store_metric m);

/* hubops.c */
bool eval_read_hub_records(struct eval *e, int64_t hi);

/* lifecycle.c: the pass's one write transaction. */
bool eval_write_pass(struct eval *e, int64_t T, int64_t hi, int64_t t0, char *err,
                     size_t errlen);
/* lifecycle.c: the same decisions for a replay, into b (event and window alerts, no writes). */
bool eval_replay_apply(struct eval *e, struct eval_book *b, int64_t T, int64_t hi);
void eval_book_free(struct eval_book *b);

#endif
