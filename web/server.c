/*
 * web/server.c: the HTTP front door, the bottom of the core. It binds
 * web.listen (refusing to go beyond loopback unless every request needs the
 * token), opens the database connections the handlers read and write
 * through, bounds what a client can hold, and hands each request to the
 * router (router.c). It may call the rest of the core (router.c, auth.c,
 * reply.c) and nothing above it.
 *
 * libevent 2.1's evhttp tells nobody about a connection before its first
 * request has arrived whole, and its timeouts restart on every byte, so a
 * client sending one byte a second, or a thousand clients sending nothing,
 * would hold their connections for ever. The server therefore keeps its own
 * list of connections: it makes each one's bufferevent itself
 * (evhttp_set_bevcb) and keeps a reference to it, so that the pointer stays
 * valid after evhttp lets go (evhttp then clears its callbacks, which is how
 * the sweep learns the connection is gone). A timer sweeps the list and shuts
 * down the socket of a connection whose request has not arrived whole within
 * web.request_timeout; evhttp sees the end of the stream and frees the
 * connection by its own path. At web.max_connections a new connection closes
 * the oldest one that is still waiting for its request, so idle connections
 * cannot lock others out.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define FD_RESERVE    64   /* descriptors kept for the database, MQTT and exports */
#define SWEEP_MIN_MS  100
#define SWEEP_MAX_MS  1000

/* One client connection, from accept until evhttp has freed it. */
struct conn {
    TAILQ_ENTRY(conn) link;
    struct bufferevent *bev; /* one reference is ours */
    int64_t since_ms;        /* accepted, or its last response finished (monotonic) */
    bool busy;               /* a whole request arrived and its response is not done */
    bool cut;                /* closed by us; no longer counted */
    bool shut;               /* its socket is shut down */
};

/* ---- connections ----------------------------------------------------------------------------- */

/* True once evhttp has freed the connection: bufferevent_free() clears the callbacks. */
static bool conn_released(const struct conn *c)
{
    bufferevent_data_cb rcb, wcb;
    bufferevent_event_cb ecb;
    void *arg;

    bufferevent_getcb(c->bev, &rcb, &wcb, &ecb, &arg);
    return ecb == NULL && arg == NULL;
}

/*
 * Close a connection under evhttp's feet, safely: shut its socket down, so
 * that evhttp reads the end of the stream and frees it itself. A connection
 * accepted a moment ago may not have its socket yet; the next sweep does it.
 */
static void conn_cut(struct web_server *w, struct conn *c)
{
    evutil_socket_t fd;

    if (!c->cut) {
        c->cut = true;
        w->live--;
    }
    if (!c->shut && !conn_released(c) && (fd = bufferevent_getfd(c->bev)) >= 0) {
        shutdown(fd, SHUT_RDWR);
        c->shut = true;
    }
}

/* Make room for one more: close the connection that has waited longest for its request. */
static bool conn_evict(struct web_server *w, const struct conn *except)
{
    struct conn *c, *oldest = NULL;

    TAILQ_FOREACH(c, &w->conns, link) {
        if (c == except || c->cut || c->busy)
            continue;
        if (oldest == NULL || c->since_ms < oldest->since_ms)
            oldest = c;
    }
    if (oldest == NULL)
        return false;
    conn_cut(w, oldest);
    w->evicted++;
    return true;
}

static struct bufferevent *on_accept(struct event_base *base, void *arg)
{
    struct web_server *w = arg;
    struct conn *c = calloc(1, sizeof(*c));
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);

    if (c == NULL || bev == NULL) {
        free(c);
        if (bev != NULL)
            bufferevent_free(bev);
        return NULL; /* evhttp makes its own; this one goes untracked */
    }
    bufferevent_incref(bev);
    c->bev = bev;
    c->since_ms = clock_mono_ms();
    TAILQ_INSERT_TAIL(&w->conns, c, link);
    w->accepted++;
    w->live++;
    if (w->live > w->cap && !conn_evict(w, c)) {
        /* Every connection is busy answering: this one is refused. */
        conn_cut(w, c);
        w->refused++;
        event_active(w->sweep, EV_TIMEOUT, 1);
    }
    return bev;
}

static struct conn *conn_of(struct web_server *w, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    struct conn *c;

    TAILQ_FOREACH(c, &w->conns, link)
        if (c->bev == bev)
            return c;
    return NULL;
}

static void conn_release(struct web_server *w, struct conn *c)
{
    TAILQ_REMOVE(&w->conns, c, link);
    if (!c->cut)
        w->live--;
    bufferevent_decref(c->bev);
    free(c);
}

/*
 * The sweep: forget connections evhttp has freed, and cut those whose
 * request is late. A busy connection (its response still going out, as a
 * streamed export) gets the longest a response may take.
 */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct web_server *w = arg;
    const struct config *cfg = w->ctx.cfg;
    int64_t now = clock_mono_ms();
    int64_t busy_limit = cfg->web_sql_export_time_limit_ms + cfg->web_request_timeout_ms;
    struct conn *c, *next;

    (void)fd;
    (void)what;
    web_auth_tick(w->auth);
    for (c = TAILQ_FIRST(&w->conns); c != NULL; c = next) {
        next = TAILQ_NEXT(c, link);
        if (conn_released(c)) {
            conn_release(w, c);
        } else if (c->cut) {
            conn_cut(w, c);
        } else if (!c->busy && now - c->since_ms > cfg->web_request_timeout_ms) {
            conn_cut(w, c);
            w->cut_slow++;
        } else if (c->busy && now - c->since_ms > busy_limit) {
            conn_cut(w, c);
            w->cut_stalled++;
        }
    }
}

static void on_complete(struct evhttp_request *req, void *arg)
{
    struct web_server *w = arg;
    struct conn *c = conn_of(w, req);

    if (c != NULL) {
        c->busy = false;
        c->since_ms = clock_mono_ms();
    }
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct web_server *w = arg;
    struct conn *c = conn_of(w, req);
    struct web_req r;
    char *path = NULL, *body = NULL;

    if (c != NULL) {
        int one = 1;
        c->busy = true;
        c->since_ms = clock_mono_ms();
        /*
         * Nagle off: otherwise a response whose last segment is small waits
         * for the client's delayed ACK, 40 ms on Linux, and a keep-alive
         * client gets at most 25 answers a second per connection.
         */
        setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    evhttp_request_set_on_complete_cb(req, on_complete, w);
    memset(&r, 0, sizeof(r));
    r.req = req;
    r.ctx = &w->ctx;
    TAILQ_INIT(&r.query);
    TAILQ_INIT(&r.form);
    w->replied = false;
    web_route_request(w, &r, &path, &body);
    if (!w->replied)
        web_error(&r, 500, "internal error", "the request was not answered");
    evhttp_clear_headers(&r.query);
    evhttp_clear_headers(&r.form);
    free(path);
    free(body);
}

/* ---- /metrics -------------------------------------------------------------------------------- */

void web_server_metrics(struct web_ctx *ctx, struct evbuffer *out)
{
    struct web_server *w = web_server_of(ctx);

    evbuffer_add_printf(out,
                        "# HELP warden_http_requests_total HTTP requests answered, by status.\n"
                        "# TYPE warden_http_requests_total counter\n");
    for (int s = 100; s < WEB_STATUS_MAX; s++)
        if (w->status[s] > 0)
            evbuffer_add_printf(out, "warden_http_requests_total{code=\"%d\"} %llu\n", s,
                                (unsigned long long)w->status[s]);
    evbuffer_add_printf(out,
                        "# HELP warden_http_connections Open HTTP connections.\n"
                        "# TYPE warden_http_connections gauge\n"
                        "warden_http_connections %lld\n"
                        "# HELP warden_http_connections_max web.max_connections in effect.\n"
                        "# TYPE warden_http_connections_max gauge\n"
                        "warden_http_connections_max %lld\n"
                        "# HELP warden_http_connections_total HTTP connections accepted.\n"
                        "# TYPE warden_http_connections_total counter\n"
                        "warden_http_connections_total %llu\n"
                        "# HELP warden_http_connections_closed_total Connections the server "
                        "closed, by why.\n"
                        "# TYPE warden_http_connections_closed_total counter\n"
                        "warden_http_connections_closed_total{reason=\"request_timeout\"} %llu\n"
                        "warden_http_connections_closed_total{reason=\"evicted_at_cap\"} %llu\n"
                        "warden_http_connections_closed_total{reason=\"refused_at_cap\"} %llu\n"
                        "warden_http_connections_closed_total{reason=\"response_stalled\"} %llu\n"
                        "# HELP warden_http_cross_site_refused_total SQL console requests "
                        "refused as sent by another site's page.\n"
                        "# TYPE warden_http_cross_site_refused_total counter\n"
                        "warden_http_cross_site_refused_total %llu\n",
                        (long long)w->live, (long long)w->cap, (unsigned long long)w->accepted,
                        (unsigned long long)w->cut_slow, (unsigned long long)w->evicted,
                        (unsigned long long)w->refused, (unsigned long long)w->cut_stalled,
                        (unsigned long long)w->cross_site);
}

static bool loopback_addr(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        const uint8_t *b = in6->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return true;
        return memcmp(b, mapped, 12) == 0 && b[12] == 127;
    }
    return false;
}
/* ---- start and stop -------------------------------------------------------------------------- */

/*
 * Every connection is a descriptor: make sure web.max_connections of them
 * fit under the open file limit (raising the soft limit when the hard one
 * allows), else serve fewer and say so. accept() failing for want of
 * descriptors would leave the listener spinning.
 */
static int64_t connection_cap(const struct config *cfg)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)cfg->web_max_connections + FD_RESERVE * 2;
    int64_t cap = cfg->web_max_connections;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return cap;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < want) {
        cap = rl.rlim_cur > FD_RESERVE * 2 ? (int64_t)rl.rlim_cur - FD_RESERVE * 2 : 1;
        log_warn("web: web.max_connections %lld does not fit under the open file limit %llu; "
                 "serving at most %lld connections",
                 (long long)cfg->web_max_connections, (unsigned long long)rl.rlim_cur,
                 (long long)cap);
    }
    return cap;
}

/*
 * Resolve web.listen and decide whether it may be used: beyond loopback only
 * when every request needs the token. Fills the numeric host to bind.
 */
static bool listen_check(struct web_server *w, char *numeric, size_t numlen, int64_t *port,
                         char *err, size_t errlen)
{
    const struct config *cfg = w->ctx.cfg;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    struct addrinfo *ai;
    char host[128], portstr[16];
    int rc;

    if (!web_listen_parse(cfg->web_listen, host, sizeof(host), portstr, sizeof(portstr))) {
        snprintf(err, errlen, "web.listen: \"%s\" is not HOST:PORT (for example 127.0.0.1:8080)",
                 cfg->web_listen);
        return false;
    }
    if ((rc = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &ai)) != 0) {
        snprintf(err, errlen, "web.listen: %s: %s", cfg->web_listen, gai_strerror(rc));
        return false;
    }
    if (!loopback_addr(ai->ai_addr) && !cfg->web_auth_require_for_reads) {
        snprintf(err, errlen,
                 "web.listen: %s is not a loopback address, and reads need no login on "
                 "loopback; to listen there set web.auth.require_for_reads=true (every "
                 "request then needs the token)",
                 cfg->web_listen);
        freeaddrinfo(ai);
        return false;
    }
    rc = getnameinfo(ai->ai_addr, ai->ai_addrlen, numeric, (socklen_t)numlen, NULL, 0,
                     NI_NUMERICHOST);
    freeaddrinfo(ai);
    if (rc != 0) {
        snprintf(err, errlen, "web.listen: %s: %s", cfg->web_listen, gai_strerror(rc));
        return false;
    }
    snprintf(w->host, sizeof(w->host), "%s", host);
    return web_parse_int(portstr, 0, 65535, port);
}

/* Bind, and note the address actually bound (port 0 picks a free one). */
static bool listen_bind(struct web_server *w, const char *numeric, int64_t port, char *err,
                        size_t errlen)
{
    struct evhttp_bound_socket *bound;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN], serv[16];

    bound = evhttp_bind_socket_with_handle(w->http, numeric, (ev_uint16_t)port);
    if (bound == NULL) {
        snprintf(err, errlen, "web.listen: cannot listen on %s: %s", w->ctx.cfg->web_listen,
                 strerror(errno));
        return false;
    }
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &len) != 0 ||
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(err, errlen, "web.listen: %s: cannot read the bound address",
                 w->ctx.cfg->web_listen);
        return false;
    }
    snprintf(w->address, sizeof(w->address), ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host,
             serv);
    return true;
}

static bool open_db(const char *path, int flags, sqlite3 **db, char *err, size_t errlen)
{
    if (sqlite3_open_v2(path, db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "database %s: %s", path, *db ? sqlite3_errmsg(*db) : "out of memory");
        return false;
    }
    sqlite3_busy_timeout(*db, 5000);
    return true;
}

static bool http_setup(struct web_server *w, char *err, size_t errlen)
{
    const struct config *cfg = w->ctx.cfg;
    struct timeval tv = {.tv_sec = (time_t)(cfg->web_request_timeout_ms / 1000),
                         .tv_usec = (suseconds_t)(cfg->web_request_timeout_ms % 1000) * 1000};
    int64_t period = cfg->web_request_timeout_ms / 4;
    struct timeval sweep;

    if ((w->http = evhttp_new(w->base)) == NULL) {
        snprintf(err, errlen, "web: cannot create the HTTP server");
        return false;
    }
    evhttp_set_max_headers_size(w->http, (ev_ssize_t)cfg->web_max_header_bytes);
    evhttp_set_max_body_size(w->http, (ev_ssize_t)cfg->web_max_body_bytes);
    /* evhttp's own timeout still drops idle keep-alive connections and stalled writes. */
    evhttp_set_timeout_tv(w->http, &tv);
    /* The router answers 405 for the methods it does not serve, with Allow. */
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
    evhttp_set_bevcb(w->http, on_accept, w);
    evhttp_set_gencb(w->http, on_request, w);
    period = period < SWEEP_MIN_MS ? SWEEP_MIN_MS : period > SWEEP_MAX_MS ? SWEEP_MAX_MS : period;
    sweep.tv_sec = (time_t)(period / 1000);
    sweep.tv_usec = (suseconds_t)(period % 1000) * 1000;
    if ((w->sweep = event_new(w->base, -1, EV_PERSIST, on_sweep, w)) == NULL ||
        event_add(w->sweep, &sweep) != 0) {
        snprintf(err, errlen, "web: cannot start the connection sweep");
        return false;
    }
    return true;
}

struct web_server *web_server_new(struct event_base *base, const struct config *cfg,
                                  const struct web_route *const *routes, char *err, size_t errlen)
{
    struct web_server *w = calloc(1, sizeof(*w));

    if (w == NULL) {
        snprintf(err, errlen, "web: out of memory");
        return NULL;
    }
    w->ctx.cfg = cfg;
    w->routes = routes;
    w->base = base;
    TAILQ_INIT(&w->conns);
    if (!listen_check(w, w->numeric, sizeof(w->numeric), &w->port, err, errlen) ||
        /* Only this loop's thread uses it: no per-call mutex (a tenth of an API list's CPU). */
        !open_db(cfg->db_path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, &w->ctx.db, err,
                 errlen) ||
        !open_db(cfg->db_path, SQLITE_OPEN_READWRITE, &w->ctx.db_rw, err, errlen) ||
        (w->auth = web_auth_new(cfg, w->ctx.token, sizeof(w->ctx.token), err, errlen)) == NULL) {
        web_server_free(w);
        return NULL;
    }
    return w;
}

bool web_server_listen(struct web_server *w, char *err, size_t errlen)
{
    if (!http_setup(w, err, errlen) || !listen_bind(w, w->numeric, w->port, err, errlen))
        return false;
    w->cap = connection_cap(w->ctx.cfg);
    return true;
}

struct web_ctx *web_server_ctx(struct web_server *w)
{
    return &w->ctx;
}

void web_server_shutdown(struct web_server *w)
{
    struct conn *c;

    if (w->sweep != NULL)
        event_free(w->sweep);
    w->sweep = NULL;
    /* Frees every connection (a streamed export's close callback stops its worker). */
    if (w->http != NULL)
        evhttp_free(w->http);
    w->http = NULL;
    while ((c = TAILQ_FIRST(&w->conns)) != NULL)
        conn_release(w, c);
}

void web_server_free(struct web_server *w)
{
    if (w == NULL)
        return;
    web_server_shutdown(w);
    web_auth_free(w->auth);
    sqlite3_close(w->ctx.db);
    sqlite3_close(w->ctx.db_rw);
    explicit_bzero(w->ctx.token, sizeof(w->ctx.token));
    free(w);
}

const char *web_server_address(const struct web_server *w)
{
    return w->address;
}
