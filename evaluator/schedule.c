/*
 * When passes run. Pass times are multiples of evaluator.interval; after a
 * restart the evaluator resumes from the last pass it wrote, so no due window
 * is skipped, and the passes it missed run back to back (each one counted as
 * an overrun is not: only a pass that takes longer than the interval is).
 * Before a pass for T, the evaluator waits (up to one interval) for the
 * ingester to have committed everything it read before T.
 */
#include "evaluator.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CATCH_UP 1440   /* passes; beyond this the evaluator jumps to now */
#define NAP_MS 100

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_signal = 1;
}

static void nap(int64_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The next pass time after last (or the current slot when there is none). */
static int64_t next_pass(int64_t last, int64_t now, int64_t interval)
{
    int64_t slot = now - now % interval;

    if (last < 0)
        return slot;
    if ((slot - last) / interval > MAX_CATCH_UP) {
        log_warn("evaluator: %lld passes behind; resuming at the current time",
                 (long long)((slot - last) / interval));
        return slot;
    }
    return last + interval;
}

/* Run passes until *stop is set. */
static void loop(struct eval *e, const struct config *cfg, volatile sig_atomic_t *stop)
{
    int64_t interval = cfg->evaluator_interval_ms;
    /* Test hook: make every pass this much slower, to provoke overruns. */
    const char *slow = getenv("WARDEN_TEST_SLOW_PASS_MS");
    int64_t slow_pass_ms = slow ? strtoll(slow, NULL, 10) : 0;
    char err[512];
    int64_t failing = 0; /* failed attempts in a row: a full disk says so once, not every second */

    while (!*stop) {
        int64_t T = next_pass(eval_last_pass(e), clock_now_ms(), interval);
        int64_t waited = 0, t0;

        while (!*stop && clock_now_ms() < T)
            nap(NAP_MS);
        /* Give the ingester up to one interval to commit what it read before T. */
        while (!*stop && eval_watermark(e) < T && waited < interval) {
            nap(NAP_MS);
            waited += NAP_MS;
        }
        if (*stop)
            break;
        t0 = clock_mono_ms();
        if (!eval_pass(e, T, err, sizeof(err))) {
            if (failing++ == 0)
                log_warn("evaluator: pass at %lld failed: %s; retrying every second, quietly",
                         (long long)T, err);
            nap(1000);
            continue;
        }
        if (failing > 0)
            log_info("evaluator: passes succeed again after %lld failed attempts",
                     (long long)failing);
        failing = 0;
        if (slow_pass_ms > 0)
            nap(slow_pass_ms);
        if (clock_mono_ms() - t0 > interval) {
            eval_count_overrun(e);
            log_warn("evaluator: pass took %lld ms, longer than the interval",
                     (long long)(clock_mono_ms() - t0));
        }
    }
}

int eval_cmd_evaluate(int argc, char **argv, const struct config *cfg)
{
    bool once = false;
    int64_t at = -1, from = -1, to = -1;
    struct eval *e;
    char err[512];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--once") == 0) {
            once = true;
        } else if (strcmp(argv[i], "--at") == 0 && i + 1 < argc) {
            if (!time_parse_iso(argv[++i], &at)) {
                fprintf(stderr, "warden evaluate: --at %s: not an ISO 8601 time\n", argv[i]);
                return 2;
            }
        } else if ((strcmp(argv[i], "--from") == 0 || strcmp(argv[i], "--to") == 0) &&
                   i + 1 < argc) {
            int64_t *t = argv[i][2] == 'f' ? &from : &to;
            if (!time_parse_iso(argv[++i], t)) {
                fprintf(stderr, "warden evaluate: %s %s: not an ISO 8601 time\n", argv[i - 1],
                        argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: warden evaluate [--once] [--at TIME] | --from TIME --to TIME\n");
            return 2;
        }
    }
    if ((from >= 0) != (to >= 0) || (from >= 0 && (once || at >= 0)) || from > to) {
        fprintf(stderr, "warden evaluate: --from and --to go together, from before to, without "
                        "--once\n");
        return 2;
    }
    if (at >= 0 && !once) {
        fprintf(stderr, "warden evaluate: --at goes with --once\n");
        return 2;
    }
    e = eval_open(cfg, err, sizeof(err));
    if (e == NULL) {
        fprintf(stderr, "warden evaluate: %s\n", err);
        return 1;
    }
    if (from >= 0) {
        /* Every pass of the schedule from from to to, back to back, as a catch-up runs them. */
        int64_t interval = cfg->evaluator_interval_ms, T = from - from % interval, n = 0;
        bool ok = true;
        for (T = T < from ? T + interval : T; ok && T <= to; T += interval, n++)
            if (!(ok = eval_pass(e, T, err, sizeof(err))))
                fprintf(stderr, "warden evaluate: pass at %lld: %s\n", (long long)T, err);
        if (ok)
            printf("warden evaluate: %lld passes\n", (long long)n);
        eval_close(e);
        return ok ? 0 : 1;
    }
    if (once) {
        int64_t T = at >= 0 ? at : clock_now_ms();
        bool ok = eval_pass(e, T, err, sizeof(err));
        if (!ok)
            fprintf(stderr, "warden evaluate: %s\n", err);
        eval_close(e);
        return ok ? 0 : 1;
    }
    signal(SIGTERM, on_stop_signal);
    signal(SIGINT, on_stop_signal);
    log_info("evaluator: a pass every %lld ms", (long long)cfg->evaluator_interval_ms);
    loop(e, cfg, &stop_signal);
    eval_close(e);
    return 0;
}

struct eval_thread {
    pthread_t tid;
    struct eval *e;
    const struct config *cfg;
    volatile sig_atomic_t stop;
};

static void *thread_main(void *arg)
{
    struct eval_thread *t = arg;

    loop(t->e, t->cfg, &t->stop);
    return NULL;
}

struct eval_thread *eval_thread_start(const struct config *cfg, char *err, size_t errlen)
{
    struct eval_thread *t = calloc(1, sizeof(*t));

    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->cfg = cfg;
    t->e = eval_open(cfg, err, errlen);
    if (t->e == NULL) {
        free(t);
        return NULL;
    }
    if (pthread_create(&t->tid, NULL, thread_main, t) != 0) {
        snprintf(err, errlen, "cannot start the evaluator thread");
        eval_close(t->e);
        free(t);
        return NULL;
    }
    return t;
}

void eval_thread_stop(struct eval_thread *t)
{
    if (t == NULL)
        return;
    t->stop = 1;
    pthread_join(t->tid, NULL);
    eval_close(t->e);
    free(t);
}
