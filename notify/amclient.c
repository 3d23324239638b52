/*
 * notify/amclient.c: one HTTP exchange with an Alertmanager (see amclient.h).
 * Each request runs the client's own event loop until the answer is whole,
 * the time limit passes, or the stop descriptor becomes readable. A new
 * connection serves each request: an Alertmanager is near, and a connection
 * that died while idle then never costs a failed send.
 */
#include "amclient.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first line of a file holding "user:password", as Prometheus' basic_auth reads it. */
static bool read_basic_auth(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    char line[256];
    unsigned char enc[4 * sizeof(line) / 3 + 4];
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL) {
        snprintf(err, errlen, "notify.alertmanager.basic_auth_file: %s: %s", path, strerror(errno));
        return false;
    }
    if (fgets(line, sizeof(line), f) == NULL)
        line[0] = '\0';
    fclose(f);
    n = strcspn(line, "\r\n");
    line[n] = '\0';
    if (strchr(line, ':') == NULL || line[0] == ':') {
        snprintf(err, errlen, "notify.alertmanager.basic_auth_file: %s: the first line must be "
                 "user:password", path);
        return false;
    }
    EVP_EncodeBlock(enc, (const unsigned char *)line, (int)n);
    snprintf(out, outlen, "Basic %s", (const char *)enc);
    OPENSSL_cleanse(line, sizeof(line));
    return true;
}

static bool tls_init(struct am_client *c, const struct config *cfg, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL) {
        snprintf(err, errlen, "%s: cannot set up TLS", c->url);
        return false;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (cfg->notify_am_tls_ca_file[0] != '\0'
            ? SSL_CTX_load_verify_locations(ctx, cfg->notify_am_tls_ca_file, NULL) != 1
            : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        snprintf(err, errlen, "notify.alertmanager.tls.ca_file: %s: cannot read the CA "
                 "certificates", cfg->notify_am_tls_ca_file[0] ? cfg->notify_am_tls_ca_file
                                                                : "(the system's)");
        SSL_CTX_free(ctx);
        return false;
    }
    c->ssl = ctx;
    return true;
}

bool am_client_init(struct am_client *c, const char *url, const struct config *cfg, int stop_fd,
                    char *err, size_t errlen)
{
    struct evhttp_uri *u;
    const char *scheme, *host, *path;

    memset(c, 0, sizeof(*c));
    c->stop_fd = stop_fd;
    c->timeout_ms = cfg->notify_timeout_ms;
    snprintf(c->url, sizeof(c->url), "%s", url);
    while (c->url[0] && c->url[strlen(c->url) - 1] == '/')
        c->url[strlen(c->url) - 1] = '\0';
    if ((u = evhttp_uri_parse(c->url)) == NULL || (scheme = evhttp_uri_get_scheme(u)) == NULL ||
        (host = evhttp_uri_get_host(u)) == NULL || *host == '\0' ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) ||
        evhttp_uri_get_query(u) != NULL || evhttp_uri_get_fragment(u) != NULL ||
        evhttp_uri_get_userinfo(u) != NULL || strlen(host) >= sizeof(c->host)) {
        snprintf(err, errlen, "notify.alertmanager.urls: \"%.200s\" is not an Alertmanager address "
                 "such as http://127.0.0.1:9093", url);
        if (u)
            evhttp_uri_free(u);
        return false;
    }
    c->tls = strcmp(scheme, "https") == 0;
    /*
     * An IPv6 literal comes back with its brackets, which the resolver (and
     * a certificate's IP address) do not take.
     */
    if (host[0] == '[' && host[strlen(host) - 1] == ']')
        snprintf(c->host, sizeof(c->host), "%.*s", (int)strlen(host) - 2, host + 1);
    else
        snprintf(c->host, sizeof(c->host), "%s", host);
    c->port = evhttp_uri_get_port(u) > 0 ? evhttp_uri_get_port(u) : c->tls ? 443 : 80;
    path = evhttp_uri_get_path(u);
    snprintf(c->prefix, sizeof(c->prefix), "%s", path ? path : "");
    evhttp_uri_free(u);
    if (cfg->notify_am_basic_auth_file[0] != '\0' &&
        !read_basic_auth(cfg->notify_am_basic_auth_file, c->auth, sizeof(c->auth), err, errlen))
        return false;
    if (c->tls && !tls_init(c, cfg, err, errlen))
        return false;
    if ((c->base = event_base_new()) == NULL) {
        snprintf(err, errlen, "%s: cannot create an event loop", c->url);
        am_client_free(c);
        return false;
    }
    return true;
}

void am_client_free(struct am_client *c)
{
    if (c->base)
        event_base_free(c->base);
    if (c->ssl)
        SSL_CTX_free(c->ssl);
    OPENSSL_cleanse(c->auth, sizeof(c->auth));
    c->base = NULL;
    c->ssl = NULL;
}

void am_reply_free(struct am_reply *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

void am_silence_url(const char *url, const char *id, char *out, size_t outlen)
{
    size_t n = strlen(url);

    while (n > 0 && url[n - 1] == '/')
        n--;
    snprintf(out, outlen, "%.*s/#/silences/%s", (int)n, url, id);
}

/* One request in flight: what the callbacks fill in. */
struct exchange {
    struct am_client *c;
    struct am_reply *r;
    bool done;
};

static void on_error(enum evhttp_request_error e, void *arg)
{
    struct exchange *x = arg;
    const char *why = e == EVREQ_HTTP_TIMEOUT         ? "timed out"
                      : e == EVREQ_HTTP_EOF           ? "the connection closed early"
                      : e == EVREQ_HTTP_INVALID_HEADER ? "an invalid answer"
                      : e == EVREQ_HTTP_DATA_TOO_LONG ? "an answer too long"
                      : e == EVREQ_HTTP_BUFFER_ERROR  ? "the connection failed"
                                                      : "the request was cancelled";

    snprintf(x->r->error, sizeof(x->r->error), "%s", why);
}

static void on_done(struct evhttp_request *req, void *arg)
{
    struct exchange *x = arg;
    struct evbuffer *in;
    size_t n;

    x->done = true;
    event_base_loopbreak(x->c->base);
    if (req == NULL || evhttp_request_get_response_code(req) == 0) {
        if (x->r->error[0] == '\0') {
            unsigned long e = ERR_peek_last_error();

            snprintf(x->r->error, sizeof(x->r->error), "%s",
                     e ? ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "TLS failed"
                       : "no answer (refused or unreachable)");
        }
        ERR_clear_error();
        return;
    }
    x->r->status = evhttp_request_get_response_code(req);
    in = evhttp_request_get_input_buffer(req);
    n = evbuffer_get_length(in);
    if ((x->r->body = malloc(n + 1)) == NULL) {
        snprintf(x->r->error, sizeof(x->r->error), "out of memory for the answer");
        x->r->status = 0;
        return;
    }
    evbuffer_remove(in, x->r->body, n);
    x->r->body[n] = '\0';
    x->r->len = n;
    if (x->r->status < 200 || x->r->status > 299)
        snprintf(x->r->error, sizeof(x->r->error), "HTTP %d: %.150s", x->r->status,
                 x->r->body);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct exchange *x = arg;

    snprintf(x->r->error, sizeof(x->r->error), "stopping");
    event_base_loopbreak(x->c->base);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct exchange *x = arg;

    snprintf(x->r->error, sizeof(x->r->error), "timed out");
    event_base_loopbreak(x->c->base);
}

static struct evhttp_connection *connect_to(struct am_client *c)
{
    struct bufferevent *bev = NULL;

    if (c->tls) {
        SSL *ssl = SSL_new(c->ssl);

        if (ssl == NULL)
            return NULL;
        SSL_set_tlsext_host_name(ssl, c->host);
        SSL_set1_host(ssl, c->host);
        bev = bufferevent_openssl_socket_new(c->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
        if (bev == NULL) {
            SSL_free(ssl);
            return NULL;
        }
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    }
    return evhttp_connection_base_bufferevent_new(c->base, NULL, bev, c->host, (uint16_t)c->port);
}

void am_request(struct am_client *c, const char *method, const char *path, const char *body,
                size_t len, struct am_reply *r)
{
    struct exchange x = {c, r, false};
    struct evhttp_connection *conn;
    struct evhttp_request *req;
    struct evkeyvalq *h;
    struct event *stop = NULL, *deadline;
    struct timeval tv = {c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000};
    int64_t t0 = clock_mono_us();
    char target[1024], host[300];

    memset(r, 0, sizeof(*r));
    snprintf(target, sizeof(target), "%s%s", c->prefix, path);
    if ((conn = connect_to(c)) == NULL) {
        snprintf(r->error, sizeof(r->error), "cannot open a connection");
        return;
    }
    evhttp_connection_set_timeout_tv(conn, &tv);
    evhttp_connection_set_retries(conn, 0);
    evhttp_connection_set_max_body_size(conn, AM_MAX_REPLY);
    req = evhttp_request_new(on_done, &x);
    evhttp_request_set_error_cb(req, on_error);
    h = evhttp_request_get_output_headers(req);
    /* RFC 9110's Host: an IPv6 literal in brackets, the port unless it is the scheme's. */
    snprintf(host, sizeof(host), strchr(c->host, ':') ? "[%s]" : "%s", c->host);
    if (c->port != (c->tls ? 443 : 80))
        snprintf(host + strlen(host), sizeof(host) - strlen(host), ":%d", c->port);
    evhttp_add_header(h, "Host", host);
    evhttp_add_header(h, "User-Agent", "warden/" WARDEN_VERSION);
    evhttp_add_header(h, "Accept", "application/json");
    evhttp_add_header(h, "Connection", "close");
    if (c->auth[0] != '\0')
        evhttp_add_header(h, "Authorization", c->auth);
    if (body != NULL) {
        evhttp_add_header(h, "Content-Type", "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    }
    if (evhttp_make_request(conn, req, strcmp(method, "POST") == 0 ? EVHTTP_REQ_POST
                                                                   : EVHTTP_REQ_GET,
                            target) != 0) {
        /* evhttp_make_request has freed the request. */
        snprintf(r->error, sizeof(r->error), "cannot send the request");
        evhttp_connection_free(conn);
        return;
    }
    /* The connection's own timeouts cover each phase; this bounds the whole exchange. */
    deadline = evtimer_new(c->base, on_deadline, &x);
    tv.tv_sec += 1;
    evtimer_add(deadline, &tv);
    if (c->stop_fd >= 0) {
        stop = event_new(c->base, c->stop_fd, EV_READ, on_stop, &x);
        event_add(stop, NULL);
    }
    event_base_dispatch(c->base);
    if (stop)
        event_free(stop);
    event_free(deadline);
    /* Frees a request still in flight too, without calling back. */
    evhttp_connection_free(conn);
    if (!x.done)
        r->status = 0;
    r->seconds = (double)(clock_mono_us() - t0) / 1e6;
}
