/*
 * web/api_tune.c: thresholds from evidence on the JSON API (tuning.h): a
 * security group's baseline, the figures of `warden groups baseline --json`,
 * at GET /api/v1/security-groups/{name}/baseline (api_groups.c hands such a
 * path here) and GET /api/v1/groups/{name}/baseline; and the backtest of a
 * group document, `warden groups backtest --json`, at POST
 * /api/v1/security-groups/{name}/backtest and POST
 * /api/v1/groups/{name}/backtest. The dashboard's pages run both through
 * web_tune_submit (api.h) as the API does.
 *
 * A baseline reads every count bucket of its span, and a backtest replays
 * every evaluator pass of it twice: seconds of work on a big fleet, so
 * neither runs on the web's event loop. sqlpool.c's machinery runs them on
 * a dedicated worker of their own, with a plain read-only connection (not
 * the console's: both open a read transaction, which the console's
 * authorizer refuses, and the console's limits are for the queries a person
 * types, not for Warden's own reads). One worker and a short queue, shared
 * by both kinds, because two scans at once would only halve each other's
 * speed and a caller can wait; past that the answer is 503 with
 * Retry-After. sqlclient.c tells a job that its client has gone: the pool
 * interrupts its statement, and the scan or replay, between statements too,
 * stops at its next look at the cancel flag.
 *
 * A backtest changes nothing, so it is a read (the credentials of a GET),
 * though a POST: its body is the document about to be saved, which can be
 * larger than a URL. Because it costs seconds of CPU, a page of another
 * site must not be able to start one from a form: only a body sent as
 * Content-Type: application/json is taken, which a browser sends across
 * sites only after a CORS preflight that Warden never grants.
 *
 * Calls the core, api.c's helpers, sqlpool.c and sqlclient.c, the
 * evaluator's tuning.h and imports/' group parser.
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
#include <strings.h>
#include <time.h>

#define TUNE_WORKERS     1
#define TUNE_QUEUE       4
#define TUNE_DEVICES_MAX 10000
/* A queued job waits for the one before it; past this its client has likely given up. */
#define TUNE_MAX_WAIT_MS 60000
#define TUNE_RETRY_AFTER "5" /* seconds: a guess; a week of 20 devices takes 0.1 s */
#define TUNE_NAP_MS      10

static const char baseline_suffix[] = "/baseline";
static const char backtest_suffix[] = "/backtest";

struct web_tune {
    const struct config *cfg;
    struct web_sqlpool *pool;
    struct web_sqlpool_conn opener; /* the pool keeps a pointer to it */
    int64_t slow_ms;                /* test hook: each job waits this long first */
};

/* One baseline or backtest, from web_tune_submit to its done. */
struct tune_job {
    struct web_sqljob job; /* first: the pool hands this back */
    struct web_tune *tune;
    struct web_sqlclient cl;
    char group[GROUP_NAME_MAX + 1];
    struct tune_opts o;           /* o.group and o.cancel point into this struct */
    char *proposed;               /* a backtest's document (group_to_json), else NULL */
    volatile sig_atomic_t cancel; /* set on the loop when the client goes; polled by the job */
    web_tune_done done;
    void *arg;
    /* the worker's answer */
    int status;
    json_t *result;
    char err[600];
};

/* ---- the worker's connection ---------------------------------------------------------------- */

static void tune_conn_close(void *conn)
{
    sqlite3_close(conn);
}

/* A plain read-only connection: a job's reads and its one transaction, nothing else. */
static void *tune_conn_open(void *arg, sqlite3 **dbp, char *err, size_t errlen)
{
    const struct config *cfg = arg;
    sqlite3 *db = NULL;

    if (sqlite3_open_v2(cfg->db_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "tuning worker: %s: %s", cfg->db_path,
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
        snprintf(err, errlen, "tuning worker: out of memory");
        return NULL;
    }
    t->cfg = cfg;
    /*
     * Test hook: hold every job, baseline or backtest, this long before it
     * starts (stopping early when its client goes), so that a test can keep
     * one in flight: on a test's data a real one ends in milliseconds.
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

/* On the worker: a backtest's document back into a group, then the backtest. */
static json_t *tune_backtest_run(struct tune_job *tj, sqlite3 *db, char *err, size_t errlen)
{
    struct group g;
    json_t *result;

    if (!group_parse(tj->proposed, strlen(tj->proposed), tj->group, &g, err, errlen)) {
        /* group_to_json's output always parses: a broken invariant, said as such. */
        tj->status = 500;
        return NULL;
    }
    result = tune_backtest(db, tj->tune->cfg, &tj->o, &g, &tj->status, err, errlen);
    group_free(&g);
    return result;
}

/* On the worker. */
static void tune_run(struct web_sqljob *job, void *conn)
{
    struct tune_job *tj = (struct tune_job *)job;
    int64_t until = clock_mono_ms() + tj->tune->slow_ms;
    char err[512] = "";

    while (!tj->cancel && clock_mono_ms() < until)
        nanosleep(&(struct timespec){0, TUNE_NAP_MS * 1000000L}, NULL);
    if (tj->cancel) {
        tj->status = 499;
        return;
    }
    if (tj->proposed != NULL)
        tj->result = tune_backtest_run(tj, conn, err, sizeof(err));
    else
        tj->result = tune_baseline(conn, tj->tune->cfg, &tj->o, &tj->status, err, sizeof(err));
    if (tj->result != NULL)
        tj->status = 200;
    else if (tj->status != 400 && tj->status != 404 && tj->status != 499)
        tj->status = 500;
    /* Every 400 of tune_baseline and tune_backtest is about the span. */
    snprintf(tj->err, sizeof(tj->err), "%s%s", tj->status == 400 ? "span: " : "", err);
}

static void tune_busy_detail(char *err, size_t errlen)
{
    snprintf(err, errlen,
             "busy: the tuning worker (baselines and backtests) and its queue of %d are taken; "
             "try again in a moment",
             TUNE_QUEUE);
}

static void tune_retry_after(struct web_req *r)
{
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", TUNE_RETRY_AFTER);
}

/* On the loop: hand the outcome to done (r NULL when the client has gone) and free. */
static void tune_done(struct web_sqljob *job)
{
    struct tune_job *tj = (struct tune_job *)job;
    struct web_req r;

    if (tj->cl.req != NULL) {
        web_sqlclient_release(&tj->cl);
        web_req_resume(&r, tj->cl.ctx, tj->cl.req);
        if (job->expired) {
            json_decref(tj->result);
            tj->result = NULL;
            tj->status = 503;
            tune_busy_detail(tj->err, sizeof(tj->err));
            tune_retry_after(&r);
        }
    }
    if (tj->cl.req != NULL && !tj->cl.left && !job->cancelled) {
        tj->done(&r, tj->status, tj->result, tj->err, tj->arg);
        tj->result = NULL;
    } else {
        tj->done(NULL, 0, NULL, NULL, tj->arg);
        if (tj->cl.req != NULL) /* evhttp frees the request only when an answer fails */
            web_error(&r, 503, "cancelled", "the client closed the connection");
    }
    json_decref(tj->result);
    free(tj->proposed);
    free(tj);
}

/* The client has gone: stop the job, which looks at the flag every few thousand rows. */
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

int web_tune_submit(struct web_req *r, const struct tune_opts *o, const struct group *proposed,
                    web_tune_done done, void *arg, char *err, size_t errlen)
{
    struct web_tune *t = r->ctx->tune;
    const char *name = proposed != NULL ? proposed->name : o->group;
    struct tune_job *tj;

    if (name == NULL || !group_name_valid(name)) {
        snprintf(err, errlen, "name: must be 1 to 128 of A-Z a-z 0-9 . _ - (not . or ..)");
        return 400;
    }
    if ((tj = calloc(1, sizeof(*tj))) == NULL ||
        (proposed != NULL && (tj->proposed = group_to_json(proposed)) == NULL)) {
        free(tj);
        snprintf(err, errlen, "out of memory");
        return 500;
    }
    snprintf(tj->group, sizeof(tj->group), "%s", name);
    tj->tune = t;
    tj->o = *o;
    tj->o.group = tj->group;
    tj->o.cancel = &tj->cancel;
    /* Progress would be told on the worker's thread, where the caller's arg is not safe. */
    tj->o.progress = NULL;
    tj->o.progress_arg = NULL;
    tj->done = done;
    tj->arg = arg;
    tj->job.run = tune_run;
    tj->job.done = tune_done;
    tj->job.max_wait_ms = TUNE_MAX_WAIT_MS;
    if (!web_sqlpool_submit(t->pool, &tj->job)) {
        free(tj->proposed);
        free(tj);
        tune_busy_detail(err, errlen);
        tune_retry_after(r);
        return 503;
    }
    web_sqlclient_hold(&tj->cl, r, tune_closed, tune_left, tj);
    return 0;
}

/* ---- the handlers --------------------------------------------------------------------------- */

/* The API's answer, from web_tune_submit's done or at once; arg names the kind ("baseline"). */
static void tune_answer(struct web_req *r, int status, json_t *result, const char *err, void *arg)
{
    char title[40];

    if (r == NULL)
        return;
    switch (status) {
    case 200:
        web_send_json(r, 200, result);
        return;
    case 400:
        web_error(r, 400, "bad parameter", err);
        break;
    case 404:
        web_error(r, 404, "not found", err);
        break;
    case 503:
        web_error(r, 503, "busy", err);
        break;
    default:
        snprintf(title, sizeof(title), "%s failed", (const char *)arg);
        web_error(r, 500, title, err);
        break;
    }
    json_decref(result);
}

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

/* span and to, which both kinds take, into o; false having answered 400. */
static bool tune_span_params(struct web_req *r, struct tune_opts *o)
{
    const char *span = api_param(r, "span");

    if (span != NULL && (!duration_parse(span, &o->span_ms) || o->span_ms <= 0)) {
        api_bad_param(r, "span", "must be an ISO 8601 duration such as P7D or PT12H");
        return false;
    }
    return web_param_time(r, "to", -1, &o->to_ms);
}

/* The baseline's options into o; false having answered 400. */
static bool tune_params(struct web_req *r, struct tune_opts *o)
{
    const char *rule = api_param(r, "rule");
    enum group_rule gr;
    int64_t top;

    if (!tune_span_params(r, o))
        return false;
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
        !web_param_int(r, "devices", 0, TUNE_DEVICES_MAX, TUNE_TOP_DEFAULT, &top))
        return false;
    o->top = (size_t)top;
    return true;
}

/*
 * The group's name from r->tail, "NAME" + suffix, into name; false having
 * answered 404 (another resource) or 400 (a bad name).
 */
static bool tune_name(struct web_req *r, const char *suffix, char *name, size_t namelen)
{
    size_t n = strlen(r->tail), sn = strlen(suffix);
    char detail[120];

    if (n <= sn || strcmp(r->tail + n - sn, suffix) != 0) {
        snprintf(detail, sizeof(detail),
                 "no such resource; a group's %s is /api/v1/groups/{name}%s", suffix + 1, suffix);
        web_error(r, 404, "not found", detail);
        return false;
    }
    n -= sn;
    name[0] = '\0';
    if (n < namelen) {
        memcpy(name, r->tail, n);
        name[n] = '\0';
    }
    if (!group_name_valid(name)) {
        api_bad_param(r, "name", "must be 1 to 128 of A-Z a-z 0-9 . _ - (not . or ..)");
        return false;
    }
    return true;
}

static struct tune_opts tune_defaults(void)
{
    return (struct tune_opts){
        .span_ms = TUNE_SPAN_DEFAULT_MS, .to_ms = -1, .rule = -1, .top = TUNE_TOP_DEFAULT};
}

/* r->tail is "NAME/baseline": validate, submit, answer later (or now, when refused). */
static void tune_baseline_handler(struct web_req *r)
{
    struct tune_opts o = tune_defaults();
    char name[GROUP_NAME_MAX + 1], err[600];
    int status;

    if (!tune_name(r, baseline_suffix, name, sizeof(name)))
        return;
    o.group = name;
    if (tune_params(r, &o) &&
        (status = web_tune_submit(r, &o, NULL, tune_answer, "baseline", err, sizeof(err))) != 0)
        tune_answer(r, status, NULL, err, "baseline");
}

/* True when the body was sent as JSON: application/json, with parameters or not. */
static bool body_is_json(struct web_req *r)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Content-Type");
    static const char json_type[] = "application/json";
    size_t n = sizeof(json_type) - 1;

    return ct != NULL && strncasecmp(ct, json_type, n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t');
}

/*
 * r->tail is "NAME/backtest", the body the document to try. A group of that
 * name need not exist yet: its current rules are then the default group's,
 * by which the evaluator judges its devices until it exists (tune_backtest).
 */
static void tune_backtest_handler(struct web_req *r)
{
    struct tune_opts o = tune_defaults();
    char name[GROUP_NAME_MAX + 1], err[600];
    struct group g;
    int status;

    if (!tune_name(r, backtest_suffix, name, sizeof(name)))
        return;
    if (!body_is_json(r)) {
        web_error(r, 415, "unsupported media type",
                  "Content-Type: the body must be the group document sent as application/json");
        return;
    }
    if (r->body == NULL || r->body_len == 0) {
        api_bad_param(r, "body", "the security group document (JSON, SPEC 4.1 shape) is required");
        return;
    }
    o.group = name;
    if (!tune_span_params(r, &o))
        return;
    if (!group_parse(r->body, r->body_len, name, &g, err, sizeof(err))) {
        web_error(r, 400, "invalid security group", err);
        return;
    }
    status = web_tune_submit(r, &o, &g, tune_answer, "backtest", err, sizeof(err));
    group_free(&g);
    if (status != 0)
        tune_answer(r, status, NULL, err, "backtest");
}

bool api_tune_dispatch(struct web_req *r)
{
    const char *slash = strchr(r->tail, '/');

    if (slash == NULL || strcmp(slash, baseline_suffix) != 0)
        return false;
    tune_baseline_handler(r);
    return true;
}

void web_tune_metrics(struct web_ctx *ctx, struct evbuffer *out)
{
    struct web_sqlpool_stats st;

    web_sqlpool_stats(ctx->tune->pool, &st);
    /* The names say baseline, the first kind; backtests share the worker and its counts. */
    evbuffer_add_printf(out,
                        "# HELP warden_baseline_running Group baselines and backtests running "
                        "now.\n"
                        "# TYPE warden_baseline_running gauge\n"
                        "warden_baseline_running %lld\n"
                        "# HELP warden_baseline_queued Group baselines and backtests waiting for "
                        "the worker.\n"
                        "# TYPE warden_baseline_queued gauge\n"
                        "warden_baseline_queued %lld\n"
                        "# HELP warden_baseline_jobs_total Group baselines and backtests the "
                        "worker took.\n"
                        "# TYPE warden_baseline_jobs_total counter\n"
                        "warden_baseline_jobs_total %llu\n"
                        "# HELP warden_baseline_cancelled_total Group baselines and backtests "
                        "whose client left before the answer.\n"
                        "# TYPE warden_baseline_cancelled_total counter\n"
                        "warden_baseline_cancelled_total %llu\n"
                        "# HELP warden_baseline_refused_total Group baselines and backtests "
                        "refused for want of the worker.\n"
                        "# TYPE warden_baseline_refused_total counter\n"
                        "warden_baseline_refused_total{reason=\"busy\"} %llu\n",
                        (long long)st.running, (long long)st.queued,
                        (unsigned long long)st.finished, (unsigned long long)st.cancelled,
                        (unsigned long long)st.refused_busy);
}

/*
 * The paths; GET /api/v1/security-groups/{name}/baseline comes
 * through api_groups.c, whose GET route has that prefix too. No other POST
 * shares these prefixes. Reads, though POSTs (the header comment says why).
 */
const struct web_route web_api_tune_routes[] = {
    {"GET", "/api/v1/groups/", WEB_PREFIX, tune_baseline_handler, NULL},
    {"POST", "/api/v1/groups/", WEB_PREFIX, tune_backtest_handler, NULL},
    {"POST", "/api/v1/security-groups/", WEB_PREFIX, tune_backtest_handler, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
