/*
 * web/server.c: the HTTP front door. It binds web.listen (refusing to go
 * beyond loopback unless every request needs the token), bounds what a
 * client can hold, parses each request into a struct web_req, checks its
 * credentials, and hands it to a handler from the route tables.
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
#include "internal.h"

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
#include <strings.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define WEB_MAX_URL   8192 /* request targets longer than this get 414 */
#define FD_RESERVE    64   /* descriptors kept for the database, MQTT and exports */
#define SWEEP_MIN_MS  100
#define SWEEP_MAX_MS  1000
#define STATUS_MAX    600

/* One client connection, from accept until evhttp has freed it. */
struct conn {
    TAILQ_ENTRY(conn) link;
    struct bufferevent *bev; /* one reference is ours */
    int64_t since_ms;        /* accepted, or its last response finished (monotonic) */
    bool busy;               /* a whole request arrived and its response is not done */
    bool cut;                /* closed by us; no longer counted */
    bool shut;               /* its socket is shut down */
};
TAILQ_HEAD(conn_list, conn);

struct web {
    struct web_ctx ctx; /* what handlers see; web_of() finds the rest */
    struct event_base *base;
    struct evhttp *http;
    struct event *sweep;
    struct conn_list conns;
    int64_t live;       /* connections not cut */
    int64_t cap;        /* web.max_connections, within the open file limit */
    struct web_auth *auth;
    struct web_sql *sql;
    bool replied;       /* the current handler has answered, or will */
    char host[128];     /* the host part of web.listen, as resolved */
    char address[96];
    uint64_t status[STATUS_MAX];
    uint64_t accepted, evicted, refused, cut_slow, cut_stalled, too_long;
    uint64_t cross_site; /* console requests refused as sent by another site's page */
};

static struct web *web_of(struct web_ctx *ctx)
{
    return (struct web *)(void *)((char *)ctx - offsetof(struct web, ctx));
}

struct web_auth *web_ctx_auth(struct web_ctx *ctx)
{
    return web_of(ctx)->auth;
}

struct web_sql *web_ctx_sql(struct web_ctx *ctx)
{
    return web_of(ctx)->sql;
}

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
static void conn_cut(struct web *w, struct conn *c)
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
static bool conn_evict(struct web *w, const struct conn *except)
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
    struct web *w = arg;
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

static struct conn *conn_of(struct web *w, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    struct conn *c;

    TAILQ_FOREACH(c, &w->conns, link)
        if (c->bev == bev)
            return c;
    return NULL;
}

static void conn_release(struct web *w, struct conn *c)
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
    struct web *w = arg;
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
    struct web *w = arg;
    struct conn *c = conn_of(w, req);

    if (c != NULL) {
        c->busy = false;
        c->since_ms = clock_mono_ms();
    }
}

/* ---- responses ------------------------------------------------------------------------------- */

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 303: return "See Other";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 421: return "Misdirected Request";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    }
    return status < 400 ? "OK" : "Error";
}

static void set_header(struct evkeyvalq *h, const char *name, const char *value)
{
    evhttp_remove_header(h, name);
    evhttp_add_header(h, name, value);
}

/*
 * Pages are rendered by the server and use no script at all, so the policy
 * allows none inline; styles are inline in every page.
 */
void web_security_headers(struct web_req *r)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

    set_header(h, "Content-Security-Policy",
               "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
               "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'");
    set_header(h, "X-Content-Type-Options", "nosniff");
    set_header(h, "Referrer-Policy", "same-origin");
    set_header(h, "X-Frame-Options", "DENY");
    /* Everything is live data, and pages carry the CSRF token: never cache. */
    set_header(h, "Cache-Control", "no-store");
}

void web_count_status(struct web_req *r, int status)
{
    struct web *w = web_of(r->ctx);

    if (status >= 100 && status < STATUS_MAX)
        w->status[status]++;
}

void web_reply_started(struct web_req *r)
{
    web_of(r->ctx)->replied = true;
}

void web_req_resume(struct web_req *r, struct web_ctx *ctx, struct evhttp_request *req)
{
    memset(r, 0, sizeof(*r));
    r->req = req;
    r->ctx = ctx;
    r->path = "";
    TAILQ_INIT(&r->query);
    web_of(ctx)->replied = false;
}

void web_send(struct web_req *r, int status, const char *content_type, struct evbuffer *body)
{
    struct web *w = web_of(r->ctx);

    WARDEN_ASSERT(!w->replied);
    web_security_headers(r);
    set_header(evhttp_request_get_output_headers(r->req), "Content-Type", content_type);
    web_count_status(r, status);
    w->replied = true;
    evhttp_send_reply(r->req, status, reason_phrase(status), body);
    if (body != NULL)
        evbuffer_free(body);
}

static void free_dumped(const void *data, size_t len, void *arg)
{
    (void)len;
    (void)arg;
    free((void *)data);
}

/*
 * The document is dumped into one string and handed to the evbuffer as it
 * is: Jansson's callback dump writes a piece per token, and an evbuffer_add
 * per token was the largest cost of a 100-alert page.
 */
void web_send_json(struct web_req *r, int status, json_t *obj)
{
    struct evbuffer *out = evbuffer_new();
    size_t flags = JSON_COMPACT | JSON_REAL_PRECISION(17);
    char *text = obj != NULL ? json_dumps(obj, flags) : NULL;

    if (out == NULL || text == NULL ||
        evbuffer_add_reference(out, text, strlen(text), free_dumped, NULL) != 0) {
        if (out != NULL)
            evbuffer_free(out);
        free(text);
        json_decref(obj);
        out = evbuffer_new();
        evbuffer_add_printf(out, "{\"error\":\"internal error\",\"detail\":\"out of memory\"}\n");
        web_send(r, 500, "application/json", out);
        return;
    }
    evbuffer_add(out, "\n", 1);
    json_decref(obj);
    web_send(r, status, "application/json", out);
}

void web_error(struct web_req *r, int status, const char *error, const char *detail)
{
    json_t *o = json_object();

    json_object_set_new(o, "error", web_json_text(error, strlen(error)));
    json_object_set_new(o, "detail",
                        web_json_text(detail ? detail : "", detail ? strlen(detail) : 0));
    web_send_json(r, status, o);
}

const char *web_param(struct web_req *r, const char *name)
{
    return evhttp_find_header(&r->query, name);
}

const char *web_form_param(struct web_req *r, const char *name)
{
    return evhttp_find_header(&r->form, name);
}

void web_peer(struct web_req *r, char *out, size_t outlen)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(r->req);
    char *addr = NULL;
    ev_uint16_t port = 0;

    if (conn != NULL)
        evhttp_connection_get_peer(conn, &addr, &port);
    snprintf(out, outlen, "%s", addr ? addr : "");
}

bool web_param_int(struct web_req *r, const char *name, int64_t min, int64_t max, int64_t dflt,
                   int64_t *out)
{
    const char *v = web_param(r, name);
    char detail[160];

    if (v == NULL || v[0] == '\0') {
        *out = dflt;
        return true;
    }
    if (web_parse_int(v, min, max, out))
        return true;
    snprintf(detail, sizeof(detail), "%s: must be a whole number from %lld to %lld", name,
             (long long)min, (long long)max);
    web_error(r, 400, "bad parameter", detail);
    return false;
}

bool web_param_time(struct web_req *r, const char *name, int64_t dflt, int64_t *out)
{
    const char *v = web_param(r, name);
    char detail[200];

    if (v == NULL || v[0] == '\0') {
        *out = dflt;
        return true;
    }
    if (web_parse_time(v, clock_now_ms(), out))
        return true;
    snprintf(detail, sizeof(detail),
             "%s: must be an ISO 8601 time such as 2026-11-29T10:00:00Z, or a duration before "
             "now such as PT1H or P7D",
             name);
    web_error(r, 400, "bad parameter", detail);
    return false;
}

bool web_session_valid(const struct web_req *r)
{
    return r->csrf[0] != '\0' || r->authed;
}

/* A page-shaped error for paths outside the API. */
static void page_error(struct web_req *r, int status, const char *title, const char *text)
{
    struct evbuffer *out = evbuffer_new();

    html_begin(r, out, title, NULL);
    html_printf(out, "<h1>%s</h1><p>%s</p>", title, text);
    html_end(out);
    web_send(r, status, "text/html; charset=utf-8", out);
}

static bool is_api_path(const char *path)
{
    return strncmp(path, "/api/", 5) == 0 || strcmp(path, "/metrics") == 0 ||
           strcmp(path, "/healthz") == 0;
}

void web_redirect(struct web_req *r, const char *location, const char *cookie)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    struct evbuffer *out = evbuffer_new();

    if (cookie != NULL)
        evhttp_add_header(h, "Set-Cookie", cookie);
    set_header(h, "Location", location);
    evbuffer_add_printf(out, "See %s\n", location);
    web_send(r, 303, "text/plain; charset=utf-8", out);
}

/* ---- requests -------------------------------------------------------------------------------- */

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

/*
 * On loopback, reads need no login, so a web page elsewhere must not reach
 * the dashboard by pointing a name of its own at 127.0.0.1 (DNS rebinding):
 * the Host header must name a loopback address, localhost, or web.listen's host.
 */
static bool host_allowed(struct web *w, const char *host)
{
    char name[256];
    const char *end;
    struct in_addr a4;
    struct in6_addr a6;
    size_t n;

    if (host == NULL || w->ctx.cfg->web_auth_require_for_reads)
        return true;
    if (host[0] == '[') {
        host++;
        end = strchr(host, ']');
    } else {
        end = strchr(host, ':');
    }
    n = end ? (size_t)(end - host) : strlen(host);
    if (n == 0 || n >= sizeof(name))
        return false;
    memcpy(name, host, n);
    name[n] = '\0';
    if (strcasecmp(name, "localhost") == 0 || strcasecmp(name, w->host) == 0)
        return true;
    if (inet_pton(AF_INET, name, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, name, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

/*
 * host[:port] of an origin or a Host header, lower case, without the
 * scheme's default port, into out; false when it does not fit.
 */
static bool host_port_norm(const char *s, bool https, char *out, size_t outlen)
{
    const char *dflt = https ? ":443" : ":80";
    size_t n = strlen(s), d = strlen(dflt);

    if (n >= outlen)
        return false;
    for (size_t i = 0; i <= n; i++)
        out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
    if (n > d && strcmp(out + n - d, dflt) == 0)
        out[n - d] = '\0';
    return true;
}

/* Origin (scheme://host[:port], nothing else) names host, the Host header or web.listen's address. */
static bool origin_is(const char *origin, const char *host)
{
    bool https = strncasecmp(origin, "https://", 8) == 0;
    char a[300], b[300];

    if (host == NULL || (!https && strncasecmp(origin, "http://", 7) != 0))
        return false;
    return host_port_norm(origin + (https ? 8 : 7), https, a, sizeof(a)) &&
           host_port_norm(host, https, b, sizeof(b)) && a[0] != '\0' && strcmp(a, b) == 0;
}

/*
 * A page of another site may make the operator's browser send a GET (an
 * <img>, a link) or a form POST to Warden; the console must not run it.
 * Browsers say where a request comes from: Sec-Fetch-Site (cross-site;
 * same-site also means another port or subdomain of the same host, such as
 * another program's page on 127.0.0.1, so it is refused too; Warden's own
 * pages are same-origin), and Origin on every POST and cross-origin fetch
 * ("null" from sandboxed frames and files). A request with neither comes
 * from a typed address, a bookmark or a client that is not a browser.
 */
bool web_cross_site(struct web_req *r, char *why, size_t whylen)
{
    struct web *w = web_of(r->ctx);
    struct evkeyvalq *in = evhttp_request_get_input_headers(r->req);
    const char *site = evhttp_find_header(in, "Sec-Fetch-Site");
    const char *origin = evhttp_find_header(in, "Origin");

    if (site != NULL && (strcasecmp(site, "cross-site") == 0 || strcasecmp(site, "same-site") == 0))
        snprintf(why, whylen,
                 "the browser says a page of %s sent this request (Sec-Fetch-Site: %s); the SQL "
                 "console runs queries only from Warden's own pages, a typed address, or a "
                 "client that is not a browser",
                 strcasecmp(site, "cross-site") == 0 ? "another site"
                                                     : "another port or subdomain of this site",
                 site);
    else if (origin != NULL && !origin_is(origin, evhttp_find_header(in, "Host")) &&
             !origin_is(origin, w->address))
        snprintf(why, whylen,
                 "the request comes from a page of another origin (Origin: %.100s), not from "
                 "Warden's own pages; the SQL console refuses it",
                 origin);
    else
        return false;
    w->cross_site++;
    return true;
}

/* The routes of both tables; the API's first. */
static const struct web_route *const route_tables[] = {web_api_routes, web_page_routes};

static const char *route_tail(const struct web_route *rt, const char *path)
{
    size_t n = strlen(rt->path);

    if (!rt->prefix)
        return strcmp(path, rt->path) == 0 ? "" : NULL;
    return strncmp(path, rt->path, n) == 0 && path[n] != '\0' ? path + n : NULL;
}

/*
 * The route for method and path. When the path is served but not with this
 * method, allow lists the methods that are (for 405).
 */
static const struct web_route *route_find(const char *method, const char *path, const char **tail,
                                          char *allow, size_t allowlen)
{
    allow[0] = '\0';
    for (size_t t = 0; t < sizeof(route_tables) / sizeof(route_tables[0]); t++) {
        for (const struct web_route *rt = route_tables[t]; rt->path != NULL; rt++) {
            const char *rest = route_tail(rt, path);
            if (rest == NULL)
                continue;
            if (strcmp(rt->method, method) == 0) {
                *tail = rest;
                return rt;
            }
            if (strstr(allow, rt->method) == NULL) {
                size_t len = strlen(allow);
                snprintf(allow + len, allowlen - len, "%s%s", len ? ", " : "", rt->method);
            }
        }
    }
    return NULL;
}

static void not_found(struct web_req *r)
{
    if (is_api_path(r->path))
        web_error(r, 404, "not found", "no such resource; the API is under /api/v1/");
    else
        page_error(r, 404, "Not found", "There is no page here.");
}

static void method_not_allowed(struct web_req *r, const char *allow)
{
    char detail[160];

    set_header(evhttp_request_get_output_headers(r->req), "Allow", allow);
    snprintf(detail, sizeof(detail), "this resource answers %s", allow);
    if (is_api_path(r->path))
        web_error(r, 405, "method not allowed", detail);
    else
        page_error(r, 405, "Method not allowed", detail);
}

/* 401 (no valid credentials) or 403 (a session without its CSRF token). */
static void deny(struct web_req *r, int status)
{
    struct evbuffer *next;
    char *loc;

    web_hub_refused(r); /* a refused change of the hub is itself a hub record */
    if (status == 403) {
        if (is_api_path(r->path))
            web_error(r, 403, "forbidden",
                      "a state-changing request with a session cookie needs the CSRF token "
                      "(header X-CSRF-Token or form field csrf)");
        else
            page_error(r, 403, "Forbidden",
                       "The form was missing its CSRF token. Go back, reload the page and try "
                       "again.");
        return;
    }
    if (is_api_path(r->path)) {
        set_header(evhttp_request_get_output_headers(r->req), "WWW-Authenticate",
                   "Bearer realm=\"warden\"");
        web_error(r, 401, "unauthorized",
                  "this request needs the admin token: Authorization: Bearer TOKEN (the token "
                  "is in web.auth.token_file, warden.token beside the database by default)");
        return;
    }
    next = evbuffer_new();
    loc = evhttp_uriencode(r->path, -1, 0);
    evbuffer_add_printf(next, "/login?next=%s", loc ? loc : "/");
    free(loc);
    evbuffer_add(next, "", 1);
    web_redirect(r, (const char *)evbuffer_pullup(next, -1), NULL);
    evbuffer_free(next);
}

/* Paths anyone may reach even when every read needs the token. */
static bool public_path(const char *path)
{
    return strcmp(path, "/login") == 0 || strcmp(path, "/healthz") == 0;
}

static bool is_form(struct evhttp_request *req)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");

    return ct != NULL && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
}

/*
 * Query parameters, and for a POSTed form its fields after them (so the
 * URL's win); the form's fields alone also go to r->form. A body that does
 * not parse as a form (JSON sent by a curl -d that kept its default content
 * type) is left to the handler. Secrets (the CSRF token, the admin token at
 * login) are taken from r->form alone: a secret in a URL ends up in logs and
 * Referer headers, and a URL is what a page on another site can choose.
 */
static bool parse_params(struct web_req *r, const char *query)
{
    struct evbuffer *all;
    bool ok;

    if (query != NULL && evhttp_parse_query_str(query, &r->query) != 0)
        return false;
    if (r->body == NULL || !is_form(r->req) || strlen(r->body) != r->body_len)
        return true;
    if (evhttp_parse_query_str(r->body, &r->form) != 0) {
        evhttp_clear_headers(&r->form);
        return true;
    }
    /* Parse both again as one: evhttp_add_header() would refuse a field with a newline. */
    all = evbuffer_new();
    if (query != NULL && query[0] != '\0')
        evbuffer_add_printf(all, "%s&", query);
    evbuffer_add(all, r->body, r->body_len + 1);
    evhttp_clear_headers(&r->query);
    ok = evhttp_parse_query_str((const char *)evbuffer_pullup(all, -1), &r->query) == 0;
    evbuffer_free(all);
    return ok;
}

static bool wants_csv(struct web_req *r, bool *bad)
{
    const char *format = web_param(r, "format");
    const char *accept = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Accept");

    *bad = false;
    if (format != NULL) {
        if (strcmp(format, "csv") == 0)
            return true;
        *bad = strcmp(format, "json") != 0 && strcmp(format, "html") != 0;
        return false;
    }
    return accept != NULL && strstr(accept, "text/csv") != NULL;
}

static const char *method_name(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_HEAD: return "GET"; /* evhttp leaves the body out */
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_PATCH: return "PATCH";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    default: return "OTHER";
    }
}

/* Check the credentials against what the route needs, then call it. */
static void dispatch(struct web *w, struct web_req *r, const struct web_route *rt)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(r->req);
    bool safe = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
    enum web_cred cred = web_auth_check(w->auth, r, web_form_param(r, "csrf"));
    bool session = r->csrf[0] != '\0';

    r->authed = cred == WEB_CRED_TOKEN || cred == WEB_CRED_CSRF || (session && safe);
    if (cred == WEB_CRED_BAD) {
        deny(r, 401);
        return;
    }
    if (!r->authed && w->ctx.cfg->web_auth_require_for_reads && !public_path(r->path)) {
        deny(r, 401);
        return;
    }
    if (rt->writes && !r->authed) {
        deny(r, session ? 403 : 401);
        return;
    }
    rt->handler(r);
    if (rt->writes)
        web_overview_stale(); /* the user's change shows on the overview at once */
}

static void serve(struct web *w, struct web_req *r, char **path_buf, char **body_buf)
{
    struct evhttp_request *req = r->req;
    const char *uri = evhttp_request_get_uri(req);
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    const char *raw, *tail = NULL;
    const struct web_route *rt;
    char allow[64];
    size_t n;
    bool bad;

    r->path = "/";
    if (uri == NULL || strlen(uri) > WEB_MAX_URL) {
        w->too_long++;
        web_error(r, 414, "URI too long", "request targets are limited to 8192 bytes");
        return;
    }
    if (!host_allowed(w, evhttp_find_header(evhttp_request_get_input_headers(req), "Host"))) {
        web_error(r, 421, "misdirected request",
                  "the Host header must name this server (localhost or a loopback address)");
        return;
    }
    raw = u ? evhttp_uri_get_path(u) : NULL;
    *path_buf = evhttp_uridecode(raw && *raw ? raw : "/", 0, &n);
    if (*path_buf == NULL || strlen(*path_buf) != n || !utf8_valid(*path_buf, n)) {
        web_error(r, 400, "bad path", "the path is not valid percent-encoded UTF-8");
        return;
    }
    r->path = *path_buf;
    if ((n = evbuffer_get_length(in)) > 0) {
        if ((*body_buf = malloc(n + 1)) == NULL) {
            web_error(r, 500, "internal error", "out of memory");
            return;
        }
        evbuffer_copyout(in, *body_buf, n);
        (*body_buf)[n] = '\0';
        r->body = *body_buf;
        r->body_len = n;
    }
    if (!parse_params(r, u ? evhttp_uri_get_query(u) : NULL)) {
        web_error(r, 400, "bad parameter", "the query string or form is malformed");
        return;
    }
    r->wants_csv = wants_csv(r, &bad);
    if (bad) {
        web_error(r, 400, "bad parameter", "format: must be json or csv");
        return;
    }
    rt = route_find(method_name(evhttp_request_get_command(req)), r->path, &tail, allow,
                    sizeof(allow));
    if (rt == NULL) {
        if (allow[0] != '\0')
            method_not_allowed(r, allow);
        else
            not_found(r);
        return;
    }
    r->tail = tail;
    dispatch(w, r, rt);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct web *w = arg;
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
    serve(w, &r, &path, &body);
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
    struct web *w = web_of(ctx);

    evbuffer_add_printf(out,
                        "# HELP warden_http_requests_total HTTP requests answered, by status.\n"
                        "# TYPE warden_http_requests_total counter\n");
    for (int s = 100; s < STATUS_MAX; s++)
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
static bool listen_check(struct web *w, char *numeric, size_t numlen, int64_t *port, char *err,
                         size_t errlen)
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
static bool listen_bind(struct web *w, const char *numeric, int64_t port, char *err, size_t errlen)
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

static bool http_setup(struct web *w, char *err, size_t errlen)
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

struct web *web_start(struct event_base *base, const struct config *cfg, char *err, size_t errlen)
{
    struct web *w = calloc(1, sizeof(*w));
    char numeric[INET6_ADDRSTRLEN];
    int64_t port;

    if (w == NULL) {
        snprintf(err, errlen, "web: out of memory");
        return NULL;
    }
    w->ctx.cfg = cfg;
    w->base = base;
    TAILQ_INIT(&w->conns);
    if (!listen_check(w, numeric, sizeof(numeric), &port, err, errlen) ||
        /* Only this loop's thread uses it: no per-call mutex (a tenth of an API list's CPU). */
        !open_db(cfg->db_path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, &w->ctx.db, err,
                 errlen) ||
        !open_db(cfg->db_path, SQLITE_OPEN_READWRITE, &w->ctx.db_rw, err, errlen) ||
        (w->auth = web_auth_new(cfg, w->ctx.token, sizeof(w->ctx.token), err, errlen)) == NULL ||
        (w->sql = web_sql_open(cfg, base, err, errlen)) == NULL || !http_setup(w, err, errlen) ||
        !listen_bind(w, numeric, port, err, errlen)) {
        web_stop(w);
        return NULL;
    }
    w->cap = connection_cap(cfg);
    return w;
}

void web_stop(struct web *w)
{
    struct conn *c;

    if (w == NULL)
        return;
    if (w->sweep != NULL)
        event_free(w->sweep);
    /* Frees every connection (a streamed export's close callback stops its worker). */
    if (w->http != NULL)
        evhttp_free(w->http);
    while ((c = TAILQ_FIRST(&w->conns)) != NULL)
        conn_release(w, c);
    web_sql_close(w->sql);
    web_auth_free(w->auth);
    web_api_free(&w->ctx);
    sqlite3_close(w->ctx.db);
    sqlite3_close(w->ctx.db_rw);
    explicit_bzero(w->ctx.token, sizeof(w->ctx.token));
    free(w);
}

const char *web_address(const struct web *w)
{
    return w->address;
}
