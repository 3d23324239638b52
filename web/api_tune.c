/*
 * web/api_tune.c: a security group's baseline on the JSON API (tuning.h,
 * the figures of `warden groups baseline --json`), at
 * GET /api/v1/security-groups/{name}/baseline (api_groups.c hands such a
 * path here) and GET /api/v1/groups/{name}/baseline.
 *
 * A baseline reads every count bucket of its span, seconds of work on a big
 * fleet, so it never runs on the web's event loop: sqlpool.c's machinery
 * runs it on a dedicated worker of its own, with a plain read-only
 * connection (not the console's: tune_baseline opens a read transaction,
 * which the console's authorizer refuses, and the console's limits are for
 * the queries a person types, not for Warden's own reads). One
 * worker and a short queue, because two scans at once would only halve
 * each other's speed and a caller can wait; past that the answer is 503
 * with Retry-After. sqlclient.c tells a job that its client has gone: the
 * pool interrupts its statement, and the scan, between statements too,
 * stops at its next look at the cancel flag.
 *
 * Calls the core, api.c's helpers, sqlpool.c and sqlclient.c, and the
 * evaluator's tuning.h.
 */
#include "api.h"
#include "routes.h"
#include "sqlpriv.h"

#include "../evaluator/tuning.h"
#include "../imports/groups.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TUNE_WORKERS     1
#define TUNE_QUEUE       4
#define TUNE_DEVICES_MAX 10000
/* A queued baseline waits for the one before it; past this its client has likely given up. */
#define TUNE_MAX_WAIT_MS 60000
#define TUNE_RETRY_AFTER "5" /* seconds: a guess; a week of 20 devices takes 0.1 s */
#define TUNE_NAP_MS      10

static const char suffix[] = "/baseline";

struct web_tune {
    const struct config *cfg;
    struct web_sqlpool *pool;
    struct web_sqlpool_conn opener; /* the pool keeps a pointer to it */
    int64_t slow_ms;                /* test hook: each job waits this long first */
};

/* One baseline request, from the handler to its answer. */
struct tune_job {
    struct web_sqljob job; /* first: the pool hands this back */
    struct web_tune *tune;
    struct web_sqlclient cl;
    char group[GROUP_NAME_MAX + 1];
    struct tune_opts o;           /* o.group and o.cancel point into this struct */
    volatile sig_atomic_t cancel; /* set on the loop when the client goes; polled by the scan */
    /* the worker's answer */
    int status;
    json_t *result;
    char err[512];
};

/* ---- the worker's connection ---------------------------------------------------------------- */

static void tune_conn_close(void *conn)
{
    sqlite3_close(conn);
}

/* A plain read-only connection: the baseline's reads and its one transaction, nothing else. */
static void *tune_conn_open(void *arg, sqlite3 **dbp, char *err, size_t errlen)
{
    const struct config *cfg = arg;
    sqlite3 *db = NULL;

    if (sqlite3_open_v2(cfg->db_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "baseline worker: %s: %s", cfg->db_path,
                 db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 1000);
    *dbp = db;
    return db;
}

struct web_tune *web_tune_open(const struct config *cfg, struct event_base *base, char *err,
                               size_t errlen)
{
    struct web_tune *t = calloc(1, sizeof(*t));

    if (t == NULL) {
        snprintf(err, errlen, "baseline worker: out of memory");
        return NULL;
    }
    t->cfg = cfg;
    /*
     * Test hook: hold every baseline this long before it starts (stopping
     * early when its client goes), so that a test can keep one in flight:
     * on a test's data a real one ends in milliseconds.
     */
    if (getenv("WARDEN_TEST_SLOW_BASELINE_MS") != NULL)
        t->slow_ms = strtoll(getenv("WARDEN_TEST_SLOW_BASELINE_MS"), NULL, 10);
    t->opener = (struct web_sqlpool_conn){tune_conn_open, tune_conn_close, (void *)cfg};
    if ((t->pool = web_sqlpool_new(base, TUNE_WORKERS, TUNE_QUEUE, &t->opener, err, errlen)) ==
        NULL) {
        free(t);
        return NULL;
    }
    return t;
}

void web_tune_close(struct web_tune *t)
{
    if (t == NULL)
        return;
    /* The connections are closed: each job's client has been told to stop (tune_closed). */
    web_sqlpool_free(t->pool);
    free(t);
}

/* ---- a job ---------------------------------------------------------------------------------- */

/* On the worker. */
static void tune_run(struct web_sqljob *job, void *conn)
{
    struct tune_job *tj = (struct tune_job *)job;
    int64_t until = clock_mono_ms() + tj->tune->slow_ms;

    while (!tj->cancel && clock_mono_ms() < until)
        nanosleep(&(struct timespec){0, TUNE_NAP_MS * 1000000L}, NULL);
    if (tj->cancel) {
        tj->status = 499;
        return;
    }
    tj->result = tune_baseline(conn, tj->tune->cfg, &tj->o, &tj->status, tj->err, sizeof(tj->err));
}

static void tune_answer(struct web_req *r, struct tune_job *tj)
{
    char detail[600];

    switch (tj->status) {
    case 0:
        web_send_json(r, 200, tj->result);
        tj->result = NULL;
        break;
    case 400: /* every 400 of tune_baseline is about the span */
        snprintf(detail, sizeof(detail), "span: %s", tj->err);
        web_error(r, 400, "bad parameter", detail);
        break;
    case 404:
        web_error(r, 404, "not found", tj->err);
        break;
    default:
        web_error(r, 500, "baseline failed", tj->err);
        break;
    }
}

static void tune_busy(struct web_req *r)
{
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", TUNE_RETRY_AFTER);
    web_error(r, 503, "busy",
              "busy: the baseline worker and its queue are taken; try again in a moment");
}

/* On the loop: answer, unless the client has gone, and free. */
static void tune_done(struct web_sqljob *job)
{
    struct tune_job *tj = (struct tune_job *)job;
    struct web_req r;

    if (tj->cl.req != NULL) {
        web_sqlclient_release(&tj->cl);
        web_req_resume(&r, tj->cl.ctx, tj->cl.req);
        if (tj->cl.left || job->cancelled)
            web_error(&r, 503, "cancelled", "the client closed the connection");
        else if (job->expired)
            tune_busy(&r);
        else
            tune_answer(&r, tj);
    }
    json_decref(tj->result);
    free(tj);
}

/* The client has gone: stop the scan, which looks at the flag every few thousand rows. */
static void tune_left(void *arg)
{
    struct tune_job *tj = arg;

    tj->cancel = 1;
    web_sqlpool_cancel(tj->tune->pool, &tj->job);
}

static void tune_closed(struct evhttp_connection *evcon, void *arg)
{
    struct tune_job *tj = arg;

    (void)evcon;
    web_sqlclient_closed(&tj->cl);
    tune_left(tj);
}

/* ---- the handler ---------------------------------------------------------------------------- */

static bool param_bool(struct web_req *r, const char *name, bool *out)
{
    const char *v = api_param(r, name);

    if (v == NULL || strcmp(v, "0") == 0 || strcmp(v, "false") == 0) {
        *out = false;
        return true;
    }
    if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0) {
        *out = true;
        return true;
    }
    api_bad_param(r, name, "must be 1 or 0 (true or false)");
    return false;
}

/* The query's options into o; false having answered 400. */
static bool tune_params(struct web_req *r, struct tune_opts *o)
{
    const char *span = api_param(r, "span"), *rule = api_param(r, "rule");
    enum group_rule gr;
    int64_t top;

    if (span != NULL && (!duration_parse(span, &o->span_ms) || o->span_ms <= 0)) {
        api_bad_param(r, "span", "must be an ISO 8601 duration such as P7D or PT12H");
        return false;
    }
    if (rule != NULL) {
        if (!group_rule_lookup(rule, &gr) || !group_rule_observable(gr)) {
            api_bad_param(r, "rule",
                          "must be a time-window rule the lab observes, such as "
                          "MqttD2CMessagesNotInAllowedRange");
            return false;
        }
        o->rule = (int)gr;
    }
    if (!param_bool(r, "include_alerted", &o->include_alerted) ||
        !web_param_int(r, "devices", 0, TUNE_DEVICES_MAX, TUNE_TOP_DEFAULT, &top) ||
        !web_param_time(r, "to", -1, &o->to_ms))
        return false;
    o->top = (size_t)top;
    return true;
}

/* r->tail is "NAME/baseline": validate, queue the job, answer later (or now, when refused). */
static void tune_baseline_handler(struct web_req *r)
{
    size_t n = strlen(r->tail), sn = strlen(suffix);
    struct web_tune *t = r->ctx->tune;
    struct tune_job *tj;

    if (n <= sn || strcmp(r->tail + n - sn, suffix) != 0) {
        web_error(r, 404, "not found",
                  "no such resource; a group's baseline is "
                  "/api/v1/groups/{name}/baseline");
        return;
    }
    n -= sn;
    if ((tj = calloc(1, sizeof(*tj))) == NULL) {
        web_error(r, 500, "out of memory", NULL);
        return;
    }
    if (n < sizeof(tj->group))
        memcpy(tj->group, r->tail, n);
    if (!group_name_valid(tj->group)) {
        free(tj);
        api_bad_param(r, "name", "must be 1 to 128 of A-Z a-z 0-9 . _ - (not . or ..)");
        return;
    }
    tj->tune = t;
    tj->o = (struct tune_opts){.group = tj->group,
                               .span_ms = TUNE_SPAN_DEFAULT_MS,
                               .to_ms = -1,
                               .rule = -1,
                               .top = TUNE_TOP_DEFAULT,
                               .cancel = &tj->cancel};
    if (!tune_params(r, &tj->o)) {
        free(tj);
        return;
    }
    tj->job.run = tune_run;
    tj->job.done = tune_done;
    tj->job.max_wait_ms = TUNE_MAX_WAIT_MS;
    if (!web_sqlpool_submit(t->pool, &tj->job)) {
        free(tj);
        tune_busy(r);
        return;
    }
    web_sqlclient_hold(&tj->cl, r, tune_closed, tune_left, tj);
}

bool api_tune_dispatch(struct web_req *r)
{
    const char *slash = strchr(r->tail, '/');

    if (slash == NULL || strcmp(slash, suffix) != 0)
        return false;
    tune_baseline_handler(r);
    return true;
}

void web_tune_metrics(struct web_ctx *ctx, struct evbuffer *out)
{
    struct web_sqlpool_stats st;

    web_sqlpool_stats(ctx->tune->pool, &st);
    evbuffer_add_printf(out,
                        "# HELP warden_baseline_running Group baselines running now.\n"
                        "# TYPE warden_baseline_running gauge\n"
                        "warden_baseline_running %lld\n"
                        "# HELP warden_baseline_queued Group baselines waiting for the worker.\n"
                        "# TYPE warden_baseline_queued gauge\n"
                        "warden_baseline_queued %lld\n"
                        "# HELP warden_baseline_jobs_total Group baselines the worker took.\n"
                        "# TYPE warden_baseline_jobs_total counter\n"
                        "warden_baseline_jobs_total %llu\n"
                        "# HELP warden_baseline_cancelled_total Group baselines whose client "
                        "left before the answer.\n"
                        "# TYPE warden_baseline_cancelled_total counter\n"
                        "warden_baseline_cancelled_total %llu\n"
                        "# HELP warden_baseline_refused_total Group baselines refused for want "
                        "of the worker.\n"
                        "# TYPE warden_baseline_refused_total counter\n"
                        "warden_baseline_refused_total{reason=\"busy\"} %llu\n",
                        (long long)st.running, (long long)st.queued,
                        (unsigned long long)st.finished, (unsigned long long)st.cancelled,
                        (unsigned long long)st.refused_busy);
}

/* The path; /api/v1/security-groups/{name}/baseline comes through api_groups.c. */
const struct web_route web_api_tune_routes[] = {
    {"GET", "/api/v1/groups/", WEB_PREFIX, tune_baseline_handler, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
