/*
 * web/sqlpool.c: the SQL console's workers. A console query may run for its
 * whole time limit, and an export for minutes, so neither runs on the web's
 * event loop: a fixed number of threads (web.sql.workers), each with a
 * console connection of its own opened at start, take jobs from one queue
 * of at most web.sql.queue waiting jobs; a request that finds the queue full
 * is answered 503 at once. A job that waited longer than its caller allows
 * is not run at all.
 *
 * A watchdog thread holds every running job to its deadline: at the
 * deadline it calls sqlite3_interrupt() on the job's connection, which stops
 * the statement at its next VDBE operation (even one that loops inside, such
 * as count(*) over a large table or an integrity check). A single function
 * call is one operation that no interrupt stops; sqlguard.c bounds those.
 *
 * A finished job goes on a list and wakes the loop through a pipe (this
 * libevent is not built with cross-thread notification), where the job's
 * done callback answers the client. A job whose client has gone is cancelled:
 * taken out of the queue, or interrupted where it runs.
 *
 * Locking: one mutex guards the queue, the finished list, each worker's
 * current job and every job's state and deadline.
 */
#include "sqlpriv.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define WATCH_IDLE_MS 1000 /* the watchdog's longest sleep with nothing to watch */
#define WORKER_NICE   10   /* below the web loop, ingest and the evaluator */

struct worker {
    struct web_sqlpool *pool;
    pthread_t thread;
    bool started;
    void *conn;              /* the console connection, as the opener made it */
    sqlite3 *db;             /* its SQLite handle, for sqlite3_interrupt() */
    struct web_sqljob *job;  /* running now, or NULL */
};

TAILQ_HEAD(job_list, web_sqljob);

struct web_sqlpool {
    pthread_mutex_t mu;
    pthread_cond_t work;   /* a job was queued, or the pool stops */
    pthread_cond_t watch;  /* a deadline was set, or the pool stops */
    struct job_list queue, finished;
    int64_t queued, queue_max;
    bool stopping;
    struct worker *workers;
    int nworkers;
    pthread_t watchdog;
    bool watchdog_started;
    int wake[2];           /* finished jobs: a byte each, read by the loop */
    struct event *ev;
    const struct web_sqlpool_conn *opener;
    struct web_sqlpool_stats stats;
};

static void lock(struct web_sqlpool *p)
{
    pthread_mutex_lock(&p->mu);
}

static void unlock(struct web_sqlpool *p)
{
    pthread_mutex_unlock(&p->mu);
}

/* ---- the workers ----------------------------------------------------------------------------- */

/* Hand a job back to the loop (the lock held). */
static void finish(struct web_sqlpool *p, struct web_sqljob *job)
{
    job->state = WEB_SQLJOB_DONE;
    TAILQ_INSERT_TAIL(&p->finished, job, link);
    /* A full pipe already holds a wake-up: the loop drains the whole list. */
    if (write(p->wake[1], "", 1) < 0 && errno != EAGAIN)
        log_warn("SQL console: cannot wake the web loop: %s", strerror(errno));
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct web_sqlpool *p = w->pool;
    struct web_sqljob *job;

    /*
     * Console queries are the least urgent work in the process: on a small
     * machine four busy workers must not slow /healthz or ingest. Linux
     * gives each thread its own nice value.
     */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), WORKER_NICE) != 0)
        log_debug("SQL console: cannot lower a worker's priority: %s", strerror(errno));
    lock(p);
    for (;;) {
        while (!p->stopping && TAILQ_EMPTY(&p->queue))
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stopping)
            break;
        job = TAILQ_FIRST(&p->queue);
        TAILQ_REMOVE(&p->queue, job, link);
        p->queued--;
        job->expired = clock_mono_ms() - job->queued_ms > job->max_wait_ms;
        job->state = WEB_SQLJOB_RUNNING;
        w->job = job;
        p->stats.running++;
        unlock(p);
        if (!job->expired)
            job->run(job, w->conn);
        lock(p);
        w->job = NULL;
        p->stats.running--;
        p->stats.finished++;
        if (job->timed_out)
            p->stats.timed_out++;
        finish(p, job);
    }
    unlock(p);
    return NULL;
}

/* ---- the watchdog ---------------------------------------------------------------------------- */

static void watch_until(struct web_sqlpool *p, int64_t mono_ms)
{
    struct timespec ts;
    int64_t wait_ms = mono_ms - clock_mono_ms();

    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (wait_ms < 1)
        wait_ms = 1;
    ts.tv_sec += (time_t)(wait_ms / 1000);
    ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&p->watch, &p->mu, &ts);
}

static void *watchdog_main(void *arg)
{
    struct web_sqlpool *p = arg;

    lock(p);
    while (!p->stopping) {
        int64_t now = clock_mono_ms(), next = now + WATCH_IDLE_MS;
        for (int i = 0; i < p->nworkers; i++) {
            struct web_sqljob *job = p->workers[i].job;
            if (job == NULL || job->deadline_ms == 0 || job->timed_out)
                continue;
            if (now >= job->deadline_ms) {
                /* Under the lock the job cannot end meanwhile: this interrupts its statement. */
                job->timed_out = true;
                sqlite3_interrupt(p->workers[i].db);
            } else if (job->deadline_ms < next) {
                next = job->deadline_ms;
            }
        }
        watch_until(p, next);
    }
    unlock(p);
    return NULL;
}

void web_sqljob_arm(struct web_sqlpool *p, struct web_sqljob *job, int64_t limit_ms)
{
    lock(p);
    job->deadline_ms = clock_mono_ms() + limit_ms;
    pthread_cond_signal(&p->watch);
    unlock(p);
}

bool web_sqljob_timed_out(struct web_sqlpool *p, struct web_sqljob *job)
{
    bool t;

    lock(p);
    t = job->timed_out || (job->deadline_ms != 0 && clock_mono_ms() >= job->deadline_ms);
    unlock(p);
    return t;
}

bool web_sqljob_cancelled(struct web_sqlpool *p, struct web_sqljob *job)
{
    bool c;

    lock(p);
    c = job->cancelled;
    unlock(p);
    return c;
}

/* ---- the loop's side ------------------------------------------------------------------------- */

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct web_sqlpool *p = arg;
    struct job_list done = TAILQ_HEAD_INITIALIZER(done);
    struct web_sqljob *job;
    char buf[256];

    (void)what;
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    lock(p);
    TAILQ_CONCAT(&done, &p->finished, link);
    unlock(p);
    while ((job = TAILQ_FIRST(&done)) != NULL) {
        TAILQ_REMOVE(&done, job, link);
        job->done(job); /* may free the job */
    }
}

bool web_sqlpool_submit(struct web_sqlpool *p, struct web_sqljob *job)
{
    bool ok;

    lock(p);
    /* Running and waiting together: each worker's job and web.sql.queue more. */
    ok = !p->stopping && p->stats.running + p->queued < p->nworkers + p->queue_max;
    if (ok) {
        job->state = WEB_SQLJOB_QUEUED;
        job->queued_ms = clock_mono_ms();
        job->deadline_ms = 0;
        job->timed_out = job->cancelled = job->expired = false;
        TAILQ_INSERT_TAIL(&p->queue, job, link);
        p->queued++;
        p->stats.submitted++;
        pthread_cond_signal(&p->work);
    } else {
        p->stats.refused_busy++;
    }
    unlock(p);
    return ok;
}

void web_sqlpool_cancel(struct web_sqlpool *p, struct web_sqljob *job)
{
    lock(p);
    if (!job->cancelled && job->state != WEB_SQLJOB_DONE) {
        job->cancelled = true;
        p->stats.cancelled++;
        if (job->state == WEB_SQLJOB_QUEUED) {
            TAILQ_REMOVE(&p->queue, job, link);
            p->queued--;
            finish(p, job);
        } else {
            for (int i = 0; i < p->nworkers; i++)
                if (p->workers[i].job == job)
                    sqlite3_interrupt(p->workers[i].db);
        }
    }
    unlock(p);
}

void web_sqlpool_stats(struct web_sqlpool *p, struct web_sqlpool_stats *out)
{
    lock(p);
    *out = p->stats;
    out->queued = p->queued;
    out->workers = p->nworkers;
    unlock(p);
}

/* ---- start and stop -------------------------------------------------------------------------- */

static bool pool_threads(struct web_sqlpool *p, char *err, size_t errlen)
{
    for (int i = 0; i < p->nworkers; i++) {
        struct worker *w = &p->workers[i];
        w->pool = p;
        if ((w->conn = p->opener->open(p->opener->arg, &w->db, err, errlen)) == NULL)
            return false;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            snprintf(err, errlen, "SQL console: cannot start its workers");
            return false;
        }
        w->started = true;
    }
    if (pthread_create(&p->watchdog, NULL, watchdog_main, p) != 0) {
        snprintf(err, errlen, "SQL console: cannot start its watchdog");
        return false;
    }
    p->watchdog_started = true;
    return true;
}

struct web_sqlpool *web_sqlpool_new(struct event_base *base, int workers, int64_t queue_max,
                                    const struct web_sqlpool_conn *opener, char *err,
                                    size_t errlen)
{
    struct web_sqlpool *p = calloc(1, sizeof(*p));
    pthread_condattr_t ca;

    if (p == NULL || (p->workers = calloc((size_t)workers, sizeof(*p->workers))) == NULL) {
        free(p);
        snprintf(err, errlen, "SQL console: out of memory");
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->watch, &ca);
    pthread_condattr_destroy(&ca);
    TAILQ_INIT(&p->queue);
    TAILQ_INIT(&p->finished);
    p->nworkers = workers;
    p->queue_max = queue_max;
    p->opener = opener;
    p->wake[0] = p->wake[1] = -1;
    if (pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) != 0 ||
        (p->ev = event_new(base, p->wake[0], EV_READ | EV_PERSIST, on_wake, p)) == NULL ||
        event_add(p->ev, NULL) != 0) {
        snprintf(err, errlen, "SQL console: cannot set up its wake-up pipe");
        web_sqlpool_free(p);
        return NULL;
    }
    if (!pool_threads(p, err, errlen)) {
        web_sqlpool_free(p);
        return NULL;
    }
    return p;
}

void web_sqlpool_free(struct web_sqlpool *p)
{
    struct web_sqljob *job;

    if (p == NULL)
        return;
    lock(p);
    p->stopping = true;
    for (int i = 0; i < p->nworkers; i++)
        if (p->workers[i].job != NULL) {
            p->workers[i].job->cancelled = true;
            sqlite3_interrupt(p->workers[i].db);
        }
    pthread_cond_broadcast(&p->work);
    pthread_cond_broadcast(&p->watch);
    unlock(p);
    for (int i = 0; i < p->nworkers; i++)
        if (p->workers[i].started)
            pthread_join(p->workers[i].thread, NULL);
    if (p->watchdog_started)
        pthread_join(p->watchdog, NULL);
    /* Every job left is handed back, cancelled, so that its owner frees it. */
    TAILQ_CONCAT(&p->finished, &p->queue, link);
    while ((job = TAILQ_FIRST(&p->finished)) != NULL) {
        TAILQ_REMOVE(&p->finished, job, link);
        job->cancelled = true;
        job->state = WEB_SQLJOB_DONE;
        job->done(job);
    }
    for (int i = 0; i < p->nworkers; i++)
        if (p->workers[i].conn != NULL)
            p->opener->close(p->workers[i].conn);
    if (p->ev != NULL)
        event_free(p->ev);
    if (p->wake[0] >= 0)
        close(p->wake[0]);
    if (p->wake[1] >= 0)
        close(p->wake[1]);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->watch);
    pthread_mutex_destroy(&p->mu);
    free(p->workers);
    free(p);
}
