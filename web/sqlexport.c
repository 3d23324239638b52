/*
 * web/sqlexport.c: the console's CSV export (GET /api/v1/sql?format=csv).
 * It runs on a worker for web.sql.export_time_limit and streams through a
 * socket pair into a chunked reply: the loop only copies bytes, and the
 * client's reading speed paces the query. Part of the console; calls the
 * core and sql.c's statement checks.
 */
#include "sqlpriv.h"
#include "html.h"

#include <errno.h>
#include <event2/event.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define EXPORT_CHUNK       65536
#define EXPORT_STARTED     '!'                /* the worker's first byte: the statement is ready */

/*
 * An export: the worker prepares the statement, writes one byte
 * (EXPORT_STARTED) or, on failure, closes its end with the reason in
 * status and err; then it writes the CSV, blocking when the socket pair is
 * full. The loop reads it chunk by chunk into the reply. Each half ends on
 * its own (the worker when the statement ends, the loop when the bytes are
 * out or the client has gone); the export is freed when both have.
 */
struct export {
    struct web_sqljob job; /* first */
    struct web_sql *sql;
    struct web_sqlclient cl;
    char *q;
    /* the loop's */
    struct event *ev;
    int fd;
    bool started, loop_done, worker_done;
    /* the worker's */
    int wfd;
    atomic_int status; /* 0 until the worker has prepared; then 200 or the error's status */
    char err[400];
};

/* A cell of the export: numbers bare, text through csv_cell, blobs as x'..'. */
static void export_cell(struct evbuffer *out, sqlite3_stmt *st, int i)
{
    json_t *v;

    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        evbuffer_add_printf(out, "%lld", (long long)sqlite3_column_int64(st, i));
        break;
    case SQLITE_FLOAT: evbuffer_add_printf(out, "%.17g", sqlite3_column_double(st, i)); break;
    case SQLITE_NULL: break;
    case SQLITE_TEXT:
        csv_cell_n(out, (const char *)sqlite3_column_text(st, i),
                   (size_t)sqlite3_column_bytes(st, i));
        break;
    default:
        v = web_column_json(st, i);
        csv_cell(out, json_string_value(v));
        json_decref(v);
    }
}

/* Write everything in out to fd (blocking); false once the reader has gone. */
static bool export_flush(struct evbuffer *out, int fd)
{
    while (evbuffer_get_length(out) > 0) {
        size_t n =
            evbuffer_get_length(out) < EXPORT_CHUNK ? evbuffer_get_length(out) : EXPORT_CHUNK;
        ssize_t w = send(fd, evbuffer_pullup(out, (ev_ssize_t)n), n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        evbuffer_drain(out, (size_t)w);
    }
    return true;
}

static void export_header(struct evbuffer *out, sqlite3_stmt *st)
{
    for (int i = 0; i < sqlite3_column_count(st); i++) {
        if (i > 0)
            evbuffer_add(out, ",", 1);
        csv_cell(out, sqlite3_column_name(st, i));
    }
    evbuffer_add(out, "\r\n", 2);
}

/*
 * The rows as the statement steps, until the end, the byte cap, the time
 * limit or the client leaving. A cut export ends with a line "# export
 * stopped: why".
 */
static void export_rows(struct export *e, struct web_console *c, sqlite3_stmt *st,
                        struct evbuffer *out)
{
    const struct config *cfg = e->sql->cfg;
    struct evbuffer *row = evbuffer_new();
    int n = sqlite3_column_count(st), rc;
    int64_t bytes;
    char why[300] = "";

    export_header(out, st);
    bytes = (int64_t)evbuffer_get_length(out) - 1; /* less EXPORT_STARTED */
    /* The reply starts now, even if the first row is long in coming. */
    if (!export_flush(out, e->wfd))
        goto out;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < n; i++) {
            if (i > 0)
                evbuffer_add(row, ",", 1);
            export_cell(row, st, i);
        }
        evbuffer_add(row, "\r\n", 2);
        if (bytes + (int64_t)evbuffer_get_length(row) > cfg->web_sql_export_max_bytes) {
            snprintf(why, sizeof(why), "web.sql.export_max_bytes (%lld bytes) reached",
                     (long long)cfg->web_sql_export_max_bytes);
            break;
        }
        bytes += (int64_t)evbuffer_get_length(row);
        evbuffer_add_buffer(out, row);
        if (evbuffer_get_length(out) >= EXPORT_CHUNK && !export_flush(out, e->wfd))
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE && !web_sqljob_cancelled(e->sql->pool, &e->job))
        web_sql_step_error(e->sql, &e->job, c->db, rc, cfg->web_sql_export_time_limit_ms,
                   "web.sql.export_time_limit", why, sizeof(why));
    if (why[0] != '\0')
        evbuffer_add_printf(out, "# export stopped: %s\r\n", why);
    export_flush(out, e->wfd);
out:
    evbuffer_free(row);
}

static void export_run(struct web_sqljob *job, void *conn)
{
    struct export *e = (struct export *)job;
    struct web_console *c = conn;
    struct evbuffer *out = evbuffer_new();
    sqlite3_stmt *st;
    int status;

    web_sqljob_arm(e->sql->pool, job, e->sql->cfg->web_sql_export_time_limit_ms);
    status = web_sql_prepare(c, e->q, &st, e->err, sizeof(e->err));
    atomic_store(&e->status, status == 0 ? 200 : status);
    if (status == 0) {
        evbuffer_add(out, &(char){EXPORT_STARTED}, 1);
        export_rows(e, c, st, out);
        sqlite3_finalize(st);
    }
    evbuffer_free(out);
    close(e->wfd);
    e->wfd = -1;
}

static void export_free(struct export *e)
{
    if (!e->loop_done || !e->worker_done)
        return;
    e->sql->exports--;
    free(e->q);
    free(e);
}

/* The loop's half is over (the reply ended, or the client has gone). */
static void export_loop_end(struct export *e)
{
    if (e->ev != NULL)
        event_free(e->ev);
    e->ev = NULL;
    if (e->fd >= 0)
        close(e->fd); /* a worker still writing now gets EPIPE and stops */
    e->fd = -1;
    web_sqlclient_release(&e->cl);
    e->cl.req = NULL;
    e->loop_done = true;
    if (!e->worker_done)
        web_sqlpool_cancel(e->sql->pool, &e->job);
    export_free(e);
}

/* The worker never started (the queue took too long) or refused the statement: answer. */
static void export_refused(struct export *e, int status, const char *detail)
{
    struct web_req r;

    web_req_resume(&r, e->cl.ctx, e->cl.req);
    if (status == 503)
        web_sql_retry_after(&r, e->sql->cfg);
    web_error(&r, status, status == 403 ? "refused" : status == 503 ? "busy" : "query failed",
              detail);
    export_loop_end(e);
}

static void export_start(struct export *e)
{
    struct web_req r;
    struct evkeyvalq *h;

    web_req_resume(&r, e->cl.ctx, e->cl.req);
    h = evhttp_request_get_output_headers(e->cl.req);
    web_security_headers(&r);
    evhttp_add_header(h, "Content-Type", "text/csv; charset=utf-8");
    evhttp_add_header(h, "Content-Disposition", "attachment; filename=\"warden-query.csv\"");
    web_count_status(&r, 200);
    evhttp_send_reply_start(e->cl.req, 200, "OK");
    e->started = true;
    web_sqlclient_unwatch(&e->cl); /* from now on evhttp's writes see the client leave */
}

static void export_sent(struct evhttp_connection *evcon, void *arg)
{
    struct export *e = arg;

    (void)evcon;
    event_add(e->ev, NULL);
}

/* The worker has closed its end: the reply ends, or, before it started, says why. */
static void export_eof(struct export *e)
{
    struct evhttp_request *req = e->cl.req;
    char detail[sizeof(e->err) + 100];
    int status;

    if (e->started) {
        /* Free first: ending the reply may free the connection at once (HTTP/1.0). */
        export_loop_end(e);
        evhttp_send_reply_end(req);
        return;
    }
    status = atomic_load(&e->status);
    if (status == 0) {
        web_sql_busy_detail(e->sql, detail, sizeof(detail));
        export_refused(e, 503, detail);
    } else {
        export_refused(e, status == 200 ? 500 : status, e->err);
    }
}

/* Bytes from the worker: pass them on as one chunk, and read no more until it is out. */
static void export_readable(evutil_socket_t fd, short what, void *arg)
{
    struct export *e = arg;
    struct evbuffer *buf = evbuffer_new();
    int n = evbuffer_read(buf, fd, EXPORT_CHUNK);

    (void)what;
    if (n > 0 && !e->started) {
        evbuffer_drain(buf, 1); /* EXPORT_STARTED */
        export_start(e);
    }
    if (n > 0 && evbuffer_get_length(buf) > 0) {
        event_del(e->ev);
        evhttp_send_reply_chunk_with_cb(e->cl.req, buf, export_sent, e);
    } else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        export_eof(e);
    }
    evbuffer_free(buf);
}

static void export_done(struct web_sqljob *job)
{
    struct export *e = (struct export *)job;

    if (e->wfd >= 0) { /* never run: the loop reads the end of the stream and answers */
        close(e->wfd);
        e->wfd = -1;
    }
    e->worker_done = true;
    export_free(e);
}

static void export_closed(struct evhttp_connection *evcon, void *arg)
{
    struct export *e = arg;

    (void)evcon;
    web_sqlclient_closed(&e->cl);
    export_loop_end(e);
}

/* The client closed its end before the export started: answer into the void, and end. */
static void export_left(void *arg)
{
    export_refused(arg, 503, "cancelled: the client closed the connection");
}

void web_sql_export(struct web_req *r, const char *q)
{
    struct web_sql *s = r->ctx->sql;
    struct export *e;
    char detail[300];
    int sv[2];

    if (s->exports >= s->exports_max) {
        snprintf(detail, sizeof(detail),
                 "busy: %d exports are running, as many as allowed (one worker fewer than "
                 "web.sql.workers); try again when one ends",
                 s->exports_max);
        web_sql_retry_after(r, s->cfg);
        web_error(r, 503, "busy", detail);
        return;
    }
    if ((e = calloc(1, sizeof(*e))) == NULL || (e->q = strdup(q)) == NULL ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        if (e != NULL)
            free(e->q);
        free(e);
        web_error(r, 500, "internal error", "cannot start the export");
        return;
    }
    e->sql = s;
    e->fd = sv[0];
    e->wfd = sv[1];
    atomic_init(&e->status, 0);
    evutil_make_socket_nonblocking(e->fd);
    e->job.run = export_run;
    e->job.done = export_done;
    e->job.max_wait_ms = s->cfg->web_request_timeout_ms;
    e->ev = event_new(evhttp_connection_get_base(evhttp_request_get_connection(r->req)), e->fd,
                      EV_READ | EV_PERSIST, export_readable, e);
    if (e->ev == NULL || !web_sqlpool_submit(s->pool, &e->job)) {
        if (e->ev != NULL)
            event_free(e->ev);
        close(sv[0]);
        close(sv[1]);
        free(e->q);
        free(e);
        web_sql_busy_detail(s, detail, sizeof(detail));
        web_sql_retry_after(r, s->cfg);
        web_error(r, 503, "busy", detail);
        return;
    }
    s->exports++;
    event_add(e->ev, NULL);
    web_sqlclient_hold(&e->cl, r, export_closed, export_left, e);
}
