/*
 * web/sqlpriv.h: what the SQL console's files share (sql.c, sqlclient.c,
 * sqlexport.c, sqlpool.c, sqlguard.c), private to them: a worker's console
 * connection, the console itself, a request's link to its client, the
 * statement checks, the worker pool and the guarded functions. One file
 * outside the console uses it too: api_tune.c runs group baselines on a pool
 * of its own (sqlpool.c, with its own connection opener) and holds their
 * clients with sqlclient.c.
 */
#ifndef WARDEN_WEB_SQLPRIV_H
#define WARDEN_WEB_SQLPRIV_H

#include "sql.h"

#include <sys/queue.h>

struct event;
struct evhttp_connection;

/*
 * sqlpool.c: the console's workers, each with a console connection of its
 * own, a bounded queue, and a watchdog that interrupts a job at its deadline.
 * A job is embedded in its owner's struct; the pool never frees it.
 */
enum web_sqljob_state { WEB_SQLJOB_NEW, WEB_SQLJOB_QUEUED, WEB_SQLJOB_RUNNING, WEB_SQLJOB_DONE };
struct web_sqljob {
    /* Set by the owner before submitting. */
    void (*run)(struct web_sqljob *job, void *conn); /* on a worker, with its connection */
    void (*done)(struct web_sqljob *job);            /* on the loop, once, after run or instead */
    int64_t max_wait_ms; /* a job that waited longer for a worker is not run: expired */
    /* The pool's, under its lock; done may read them. */
    TAILQ_ENTRY(web_sqljob) link;
    enum web_sqljob_state state;
    int64_t queued_ms, deadline_ms;
    bool timed_out, cancelled, expired;
};
/* How the pool opens and closes a worker's connection: open returns it, its handle in *db. */
struct web_sqlpool_conn {
    void *(*open)(void *arg, sqlite3 **db, char *err, size_t errlen);
    void (*close)(void *conn);
    void *arg;
};
struct web_sqlpool_stats {
    int64_t workers, running, queued;
    uint64_t submitted, finished, refused_busy, timed_out, cancelled;
};
struct web_sqlpool;
/* Open the workers' connections and start them; NULL with the reason in err. */
struct web_sqlpool *web_sqlpool_new(struct event_base *base, int workers, int64_t queue_max,
                                    const struct web_sqlpool_conn *opener, char *err,
                                    size_t errlen);
/* Stop every worker (running jobs are interrupted) and hand each job left to its done. */
void web_sqlpool_free(struct web_sqlpool *p);
/* Queue job; false when every worker is busy and the queue is full (answer 503). */
bool web_sqlpool_submit(struct web_sqlpool *p, struct web_sqljob *job);
/* The client has gone: take the job out of the queue, or interrupt it; done still follows. */
void web_sqlpool_cancel(struct web_sqlpool *p, struct web_sqljob *job);
void web_sqlpool_stats(struct web_sqlpool *p, struct web_sqlpool_stats *out);
/* From run: the watchdog interrupts the job's statement limit_ms from now. */
void web_sqljob_arm(struct web_sqlpool *p, struct web_sqljob *job, int64_t limit_ms);
bool web_sqljob_timed_out(struct web_sqlpool *p, struct web_sqljob *job);
bool web_sqljob_cancelled(struct web_sqlpool *p, struct web_sqljob *job);

/*
 * sqlguard.c: on console connection db, replace the functions whose cost one
 * VDBE operation does not bound (instr, replace, like, glob, trim, json_patch,
 * printf, format, zeroblob, randomblob, json_group_array, json_group_object)
 * by versions that check their operands against db's SQLITE_LIMIT_LENGTH
 * (set it first) and refuse with a message. The guard is used by db's thread
 * only; free it after closing db. NULL with the reason in err.
 */
struct web_sqlguard;
struct web_sqlguard *web_sqlguard_install(sqlite3 *db, char *err, size_t errlen);
void web_sqlguard_free(struct web_sqlguard *g);

/* ---- sql.c ------------------------------------------------------------------------------------
 */

/* What a connection's authorizer tells the code running it. */
struct web_console_guard {
    char why[200]; /* the authorizer's first refusal, for the answer */
};

/* A worker's console connection. */
struct web_console {
    sqlite3 *db;
    struct web_console_guard g;
    struct web_sqlguard *fns;
};

struct web_sql {
    const struct config *cfg;
    struct web_sqlpool *pool;
    struct web_sqlpool_conn opener;
    int exports, exports_max; /* CSV exports queued or running; loop only */
};

/*
 * Prepare q as the console's one statement on c. Returns 0, or the status
 * to answer (400, 403) with the reason in err.
 */
int web_sql_prepare(struct web_console *c, const char *q, sqlite3_stmt **st, char *err,
                    size_t errlen);
/* Why a statement stopped with rc, for a person, in err; the status to answer. */
int web_sql_step_error(struct web_sql *s, struct web_sqljob *job, sqlite3 *db, int rc,
                       int64_t limit_ms, const char *what, char *err, size_t errlen);
/* The reason of a 503 for want of a worker, and its Retry-After header. */
void web_sql_busy_detail(struct web_sql *s, char *err, size_t errlen);
void web_sql_retry_after(struct web_req *r, const struct config *cfg);

/* ---- sqlclient.c ------------------------------------------------------------------------------
 */

/*
 * What a job keeps of its HTTP request, and how it learns that the client
 * has left, so that a query nobody waits for stops at once instead of
 * holding a worker to its time limit.
 *
 * libevent 2.1 does not watch a connection while its request is being
 * answered later, so the client's socket is watched here: readable with
 * nothing to read is the end of the stream (the client closed it; a client
 * that only half-closes after its request is taken for gone as well, as
 * evhttp itself does while reading). The request is still answered then,
 * into the void, because evhttp frees it only when that answer fails.
 *
 * evhttp calls the connection's close callback when it frees the connection
 * (a write failed, or the server stops). A request whose client left before
 * the answer has been detached by then and is freed here; one still attached
 * is freed by evhttp after the callback.
 */
struct web_sqlclient {
    struct web_ctx *ctx;
    struct evhttp_request *req;      /* NULL once evhttp has let go of it */
    struct evhttp_connection *evcon;
    struct event *watch;             /* the socket, while the job waits or runs */
    bool left;                       /* the client closed its end */
    void (*on_left)(void *arg);
    void *arg;
};

/*
 * Hold r's request for a job that answers later: closed is the connection's
 * close callback, on_left what to do when the client closes its end first;
 * both get arg.
 */
void web_sqlclient_hold(struct web_sqlclient *cl, struct web_req *r,
                        void (*closed)(struct evhttp_connection *, void *), void (*on_left)(void *),
                        void *arg);
/* Stop watching the client's socket. */
void web_sqlclient_unwatch(struct web_sqlclient *cl);
/* evhttp is freeing the connection (its close callback). */
void web_sqlclient_closed(struct web_sqlclient *cl);
/* The job is over: stop watching the connection, which serves the client's next request. */
void web_sqlclient_release(struct web_sqlclient *cl);

/* ---- sqlexport.c ------------------------------------------------------------------------------
 */

/* Stream q's rows as CSV (GET /api/v1/sql?format=csv), on a worker, for web.sql.export_time_limit.
 */
void web_sql_export(struct web_req *r, const char *q);

#endif
