/*
 * hub/front.c: `warden hub tls`, the TLS front end of the lab hub (see
 * front.h for why it exists).
 *
 * One libevent loop. A connection goes through three states:
 *
 *   HELLO  TLS handshake, then the client's first packet. Both must be done
 *          within FRONT_DEADLINE_MS, and the packet, which must be a CONNECT,
 *          may not exceed MQTTCONN_MAX_PACKET bytes (the read high watermark
 *          stops reading there, so a client cannot make us buffer more).
 *   PIPE   the CONNECT, rewritten with the attestation, went to the broker;
 *          from then on bytes are copied both ways unchanged. At most
 *          FRONT_PIPE_MAX bytes wait toward either side: past that, reading
 *          from the other side stops until half of them have been written.
 *   DRAIN  one side has closed; what it said last (a CONNACK refusing the
 *          device, say) is written to the other side, which is then closed,
 *          or after FRONT_LINGER_MS if it does not take the bytes.
 *
 * The handshake accepts any client certificate, or none: trusting it is the
 * plugin's decision, made from the certificate's DER in the attestation.
 */
#include "front.h"

#include "hubkeys.h"
#include "mqttconn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define FRONT_DEADLINE_MS 10000        /* handshake + CONNECT */
#define FRONT_LINGER_MS   10000        /* for the last bytes after one side closed */
#define FRONT_PIPE_MAX    (256 * 1024) /* bytes waiting toward one side */
#define FRONT_FD_RESERVE  32           /* descriptors kept for the key store, logs */
#define FRONT_NOTES_PER_S 20           /* per-connection log lines a second, at most */
#define FRONT_EXIT_USAGE  2

enum conn_state { CONN_HELLO, CONN_PIPE, CONN_DRAIN };

struct front;

/* One device connection and, once its CONNECT is through, its broker connection. */
struct front_conn {
    TAILQ_ENTRY(front_conn) link;
    struct front *front;
    enum conn_state state;
    struct bufferevent *client; /* TLS, owns the socket and the SSL */
    struct bufferevent *broker; /* plain TCP to mqtt.host:mqtt.port; NULL before PIPE */
    struct event *timer;        /* the HELLO deadline, then the DRAIN linger */
    char ip[INET6_ADDRSTRLEN];
    unsigned port;
};
TAILQ_HEAD(front_conn_list, front_conn);

struct front {
    struct event_base *base;
    SSL_CTX *ssl;
    struct evconnlistener *listener;
    struct event *resume; /* accepting again after running out of descriptors */
    struct sockaddr_storage broker;
    int broker_len;
    struct front_conn_list conns;
    int64_t live, cap;
    /* The key store, and what it looked like when last read. */
    char keys_path[512];
    char secret[HUB_KEYS_SECRET_HEX + 1];
    struct stat keys_st;
    bool keys_seen;
    /* Rate limit of per-connection log lines. */
    int64_t note_since_ms;
    unsigned notes, suppressed;
    uint64_t accepted, forwarded, refused_full, bad_connect, timed_out, too_long;
};

/* ---- logging of single connections, bounded so a flood cannot flood the log ------------------ */

static void conn_note(struct front_conn *c, const char *what)
{
    struct front *f = c->front;
    int64_t now = clock_mono_ms();

    if (now - f->note_since_ms >= 1000) {
        if (f->suppressed > 0)
            log_info("hub tls: %u more connection notes in the last second", f->suppressed);
        f->note_since_ms = now;
        f->notes = f->suppressed = 0;
    }
    if (f->notes++ < FRONT_NOTES_PER_S)
        log_info("hub tls: %s port %u: %s", c->ip, c->port, what);
    else
        f->suppressed++;
}

/* ---- the key store --------------------------------------------------------------------------- */

/* Reads the service secret into f->secret; false (err set) when there is none to use. */
static bool keys_read(struct front *f, char *err, size_t errlen)
{
    struct hub_keys k;
    char kerr[256];
    bool ok;

    if (!hub_keys_load(f->keys_path, &k, kerr, sizeof(kerr))) {
        snprintf(err, errlen, "key store: %s", kerr);
        return false;
    }
    ok = strlen(k.service) == HUB_KEYS_SECRET_HEX;
    if (ok)
        memcpy(f->secret, k.service, sizeof(f->secret));
    else
        snprintf(err, errlen,
                 "key store %s has no service secret (Warden's registry and hub commands make one)",
                 f->keys_path);
    hub_keys_free(&k);
    return ok;
}

/*
 * Reads the key store again when the file has changed (another inode after
 * an atomic rename, another mtime or size). A store that cannot be read, or
 * lost its secret, leaves the secret in use as it was.
 */
static void keys_refresh(struct front *f)
{
    struct stat st;
    char err[512];

    if (stat(f->keys_path, &st) != 0) {
        if (f->keys_seen)
            log_warn("hub tls: key store %s: %s; keeping the secret in use", f->keys_path,
                     strerror(errno));
        f->keys_seen = false;
        return;
    }
    if (f->keys_seen && st.st_ino == f->keys_st.st_ino && st.st_size == f->keys_st.st_size &&
        st.st_mtim.tv_sec == f->keys_st.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == f->keys_st.st_mtim.tv_nsec)
        return;
    f->keys_st = st;
    f->keys_seen = true;
    if (keys_read(f, err, sizeof(err)))
        log_info("hub tls: reloaded the key store %s", f->keys_path);
    else
        log_warn("hub tls: %s; keeping the secret in use", err);
}

/* ---- connections ----------------------------------------------------------------------------- */

static void conn_free(struct front_conn *c)
{
    if (c->client != NULL)
        bufferevent_free(c->client);
    if (c->broker != NULL)
        bufferevent_free(c->broker);
    event_free(c->timer);
    TAILQ_REMOVE(&c->front->conns, c, link);
    c->front->live--;
    free(c);
}

static struct bufferevent *conn_other(struct front_conn *c, struct bufferevent *bev)
{
    return bev == c->client ? c->broker : c->client;
}

static void conn_on_event(struct bufferevent *bev, short what, void *arg);
static void conn_on_pipe(struct bufferevent *bev, void *arg);

/* The side that was held back may read again: its partner's output has drained to half. */
static void conn_on_drained(struct bufferevent *bev, void *arg)
{
    struct front_conn *c = arg;
    struct bufferevent *other = conn_other(c, bev);

    bufferevent_setcb(bev, conn_on_pipe, NULL, conn_on_event, c);
    bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
    if (other != NULL)
        bufferevent_enable(other, EV_READ);
}

/* PIPE: what one side sent goes to the other, with back-pressure past FRONT_PIPE_MAX. */
static void conn_on_pipe(struct bufferevent *bev, void *arg)
{
    struct front_conn *c = arg;
    struct bufferevent *other = conn_other(c, bev);
    struct evbuffer *out;

    if (other == NULL) {
        evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
        return;
    }
    out = bufferevent_get_output(other);
    evbuffer_add_buffer(out, bufferevent_get_input(bev));
    if (evbuffer_get_length(out) >= FRONT_PIPE_MAX) {
        bufferevent_disable(bev, EV_READ);
        bufferevent_setwatermark(other, EV_WRITE, FRONT_PIPE_MAX / 2, 0);
        bufferevent_setcb(other, conn_on_pipe, conn_on_drained, conn_on_event, c);
    }
}

/* DRAIN: the survivor has written everything it was given. */
static void conn_on_flushed(struct bufferevent *bev, void *arg)
{
    conn_free(arg);
}

static void conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct front_conn *c = arg;

    if (c->state == CONN_HELLO) {
        c->front->timed_out++;
        conn_note(c, "no TLS handshake and CONNECT within 10 s; closed");
    }
    conn_free(c);
}

/*
 * One side ended (end of stream, error). Its last bytes go to the other
 * side, which is closed once it has written them.
 */
static void conn_close_side(struct front_conn *c, struct bufferevent *bev)
{
    struct bufferevent *other = conn_other(c, bev);
    struct timeval linger = {FRONT_LINGER_MS / 1000, 0};

    if (c->state != CONN_PIPE || other == NULL) {
        conn_free(c);
        return;
    }
    evbuffer_add_buffer(bufferevent_get_output(other), bufferevent_get_input(bev));
    bufferevent_free(bev);
    if (bev == c->client)
        c->client = NULL;
    else
        c->broker = NULL;
    if (evbuffer_get_length(bufferevent_get_output(other)) == 0) {
        conn_free(c);
        return;
    }
    c->state = CONN_DRAIN;
    bufferevent_disable(other, EV_READ);
    bufferevent_setwatermark(other, EV_WRITE, 0, 0);
    bufferevent_setcb(other, NULL, conn_on_flushed, conn_on_event, c);
    evtimer_add(c->timer, &linger);
}

static void conn_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct front_conn *c = arg;

    if (what & BEV_EVENT_CONNECTED)
        return; /* the handshake, or the broker connection, is done */
    if (c->state == CONN_HELLO && (what & BEV_EVENT_ERROR)) {
        unsigned long e = bufferevent_get_openssl_error(bev);
        const char *why = e ? ERR_reason_error_string(e) : NULL;
        char msg[160];

        snprintf(msg, sizeof(msg), "TLS: %s; closed", why ? why : "connection ended");
        conn_note(c, msg);
    } else if (bev == c->broker && (what & BEV_EVENT_ERROR) && c->state == CONN_PIPE) {
        conn_note(c, "the broker connection failed; closed");
    }
    if (c->state == CONN_DRAIN) {
        conn_free(c);
        return;
    }
    conn_close_side(c, bev);
}

/* The client's certificate as DER, malloc'd by OpenSSL (*len 0 and NULL when none). */
static unsigned char *conn_cert_der(struct front_conn *c, size_t *len)
{
    X509 *x = SSL_get1_peer_certificate(bufferevent_openssl_get_ssl(c->client));
    unsigned char *der = NULL;
    int n;

    *len = 0;
    if (x == NULL)
        return NULL;
    n = i2d_X509(x, &der);
    X509_free(x);
    if (n <= 0)
        return NULL;
    *len = (size_t)n;
    return der;
}

/*
 * The CONNECT m arrived (n bytes at the start of the client's input): sign
 * what the TLS layer saw, rewrite the packet and open the broker connection.
 * False when the connection must close.
 */
static bool conn_forward(struct front_conn *c, const struct mqttconn *m, int n)
{
    struct front *f = c->front;
    struct evbuffer *in = bufferevent_get_input(c->client);
    size_t derlen, alen, plen;
    unsigned char *der;
    char *att;
    uint8_t *pkt = NULL;

    keys_refresh(f);
    der = conn_cert_der(c, &derlen);
    att = mqttconn_attestation(c->ip, c->port, clock_now_ms() / 1000, m->password.p,
                               m->password.len, der, derlen, f->secret, &alen);
    OPENSSL_free(der);
    if (att != NULL)
        pkt = mqttconn_rewrite(m, (const uint8_t *)att, alen, &plen);
    free(att);
    if (pkt == NULL) {
        f->too_long++;
        conn_note(c, "password and certificate do not fit in an attestation; closed");
        return false;
    }
    c->broker =
        bufferevent_socket_new(f->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (c->broker == NULL ||
        bufferevent_socket_connect(c->broker, (struct sockaddr *)&f->broker, f->broker_len) != 0) {
        free(pkt);
        conn_note(c, "cannot connect to the broker; closed");
        return false;
    }
    bufferevent_write(c->broker, pkt, plen);
    free(pkt);
    evbuffer_drain(in, (size_t)n); /* m pointed into these bytes: only now are they done with */
    c->state = CONN_PIPE;
    evtimer_del(c->timer);
    f->forwarded++;
    bufferevent_setcb(c->broker, conn_on_pipe, NULL, conn_on_event, c);
    bufferevent_enable(c->broker, EV_READ | EV_WRITE);
    bufferevent_setwatermark(c->client, EV_READ, 0, 0);
    bufferevent_setcb(c->client, conn_on_pipe, NULL, conn_on_event, c);
    conn_on_pipe(c->client, c); /* whatever the client sent behind its CONNECT */
    return true;
}

/* HELLO: bytes of the first packet arrived (the handshake is done). */
static void conn_on_hello(struct bufferevent *bev, void *arg)
{
    struct front_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    struct mqttconn m;
    const uint8_t *p;
    int n;

    if (len > MQTTCONN_MAX_PACKET)
        len = MQTTCONN_MAX_PACKET;
    if ((p = evbuffer_pullup(in, (ev_ssize_t)len)) == NULL) {
        conn_free(c);
        return;
    }
    n = mqttconn_parse(p, len, &m);
    if (n == 0 && len < MQTTCONN_MAX_PACKET)
        return; /* more to come, within the deadline */
    if (n <= 0) {
        c->front->bad_connect++;
        conn_note(c, "first packet is not a valid CONNECT; closed");
        conn_free(c);
        return;
    }
    if (!conn_forward(c, &m, n))
        conn_free(c);
}

/* The client's address as inet_ntop writes it; an IPv4-mapped IPv6 address as plain IPv4. */
static void conn_set_peer(struct front_conn *c, const struct sockaddr *sa)
{
    struct ip_addr ip = {0};

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        ip.family = 4;
        memcpy(ip.b, &s4->sin_addr, 4);
        c->port = ntohs(s4->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        ip.family = 6;
        memcpy(ip.b, &s6->sin6_addr, 16);
        c->port = ntohs(s6->sin6_port);
    }
    ip_unmap(&ip);
    ip_format(&ip, c->ip, sizeof(c->ip));
}

static void front_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                            int salen, void *arg)
{
    struct front *f = arg;
    struct timeval deadline = {FRONT_DEADLINE_MS / 1000, 0};
    struct front_conn *c;
    SSL *ssl;

    if (f->live >= f->cap) {
        f->refused_full++;
        evutil_closesocket(fd);
        return;
    }
    if ((c = calloc(1, sizeof(*c))) == NULL || (ssl = SSL_new(f->ssl)) == NULL) {
        free(c);
        evutil_closesocket(fd);
        return;
    }
    c->front = f;
    conn_set_peer(c, sa);
    c->client = bufferevent_openssl_socket_new(f->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                               BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    c->timer = evtimer_new(f->base, conn_on_timer, c);
    if (c->client == NULL || c->timer == NULL) {
        if (c->client != NULL)
            bufferevent_free(c->client); /* closes fd, frees ssl */
        else {
            SSL_free(ssl);
            evutil_closesocket(fd);
        }
        if (c->timer != NULL)
            event_free(c->timer);
        free(c);
        return;
    }
    TAILQ_INSERT_TAIL(&f->conns, c, link);
    f->live++;
    f->accepted++;
    /* A client that closes without close_notify has simply gone: an end, not an error. */
    bufferevent_openssl_set_allow_dirty_shutdown(c->client, 1);
    bufferevent_setwatermark(c->client, EV_READ, 0, MQTTCONN_MAX_PACKET);
    bufferevent_setcb(c->client, conn_on_hello, NULL, conn_on_event, c);
    bufferevent_enable(c->client, EV_READ | EV_WRITE);
    evtimer_add(c->timer, &deadline);
}

/* accept() failed, most likely out of descriptors: pause a second rather than spin. */
static void front_on_accept_error(struct evconnlistener *l, void *arg)
{
    struct front *f = arg;
    struct timeval pause = {1, 0};
    int e = EVUTIL_SOCKET_ERROR();

    log_warn("hub tls: accept: %s; pausing for a second", evutil_socket_error_to_string(e));
    evconnlistener_disable(l);
    evtimer_add(f->resume, &pause);
}

static void front_on_resume(evutil_socket_t fd, short what, void *arg)
{
    struct front *f = arg;

    evconnlistener_enable(f->listener);
}

/* ---- set-up ---------------------------------------------------------------------------------- */

/* Any certificate, or none, passes the handshake: the plugin judges it from the attestation. */
static int front_verify_any(int preverify_ok, X509_STORE_CTX *store)
{
    return 1;
}

static SSL_CTX *front_tls(const struct config *cfg, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    static const unsigned char sid_ctx[] = "warden-front";

    if (ctx == NULL) {
        snprintf(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    /* TLS 1.2 is what Azure RTOS devices speak; nothing older. */
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Ten thousand idle devices should not each hold 34 KiB of TLS buffers. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, front_verify_any);
    /* Session resumption with client certificates needs a session id context. */
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->hub_tls_cert_file) != 1) {
        snprintf(err, errlen, "hub.tls.cert_file: %s: %s", cfg->hub_tls_cert_file,
                 ERR_reason_error_string(ERR_get_error()));
    } else if (SSL_CTX_use_PrivateKey_file(ctx, cfg->hub_tls_key_file, SSL_FILETYPE_PEM) != 1) {
        snprintf(err, errlen, "hub.tls.key_file: %s: %s", cfg->hub_tls_key_file,
                 ERR_reason_error_string(ERR_get_error()));
    } else if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "hub.tls.key_file: %s does not match hub.tls.cert_file",
                 cfg->hub_tls_key_file);
    } else {
        return ctx;
    }
    SSL_CTX_free(ctx);
    return NULL;
}

/* mqtt.host:mqtt.port, resolved once: the broker's plain listener, normally on loopback. */
static bool front_resolve_broker(struct front *f, const struct config *cfg, char *err,
                                 size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    char port[16];
    int rc;

    snprintf(port, sizeof(port), "%d", cfg->mqtt_port);
    if ((rc = getaddrinfo(cfg->mqtt_host, port, &hints, &res)) != 0) {
        snprintf(err, errlen, "mqtt.host: %s: %s", cfg->mqtt_host, gai_strerror(rc));
        return false;
    }
    memcpy(&f->broker, res->ai_addr, res->ai_addrlen);
    f->broker_len = (int)res->ai_addrlen;
    freeaddrinfo(res);
    return true;
}

/* Room for cap connections, two descriptors each: raise the soft limit, else lower cap. */
static int64_t front_fit_cap(int64_t cap)
{
    struct rlimit rl;
    int64_t fit;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return cap;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    fit = rl.rlim_cur == RLIM_INFINITY ? cap : ((int64_t)rl.rlim_cur - FRONT_FD_RESERVE) / 2;
    if (fit < cap) {
        log_warn(
            "hub tls: %lld open files allow %lld connections, not hub.tls.max_connections %lld",
            (long long)rl.rlim_cur, (long long)fit, (long long)cap);
        cap = fit > 1 ? fit : 1;
    }
    return cap;
}

/* ADDRESS:PORT or [IPv6]:PORT, numeric, port 0 meaning any free one (what tests use). */
static bool front_parse_listen(const char *text, struct sockaddr_storage *ss, int *sslen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
    const char *colon = strrchr(text, ':');
    char host[INET6_ADDRSTRLEN + 2];
    struct addrinfo *res;
    size_t hlen;

    if (colon == NULL || colon[1] == '\0' || strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return false;
    hlen = (size_t)(colon - text);
    if (hlen >= 2 && text[0] == '[' && text[hlen - 1] == ']')
        text++, hlen -= 2;
    if (hlen == 0 || hlen >= sizeof(host) || strlen(colon + 1) > 5 ||
        strtoul(colon + 1, NULL, 10) > 65535)
        return false;
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        return false;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = (int)res->ai_addrlen;
    freeaddrinfo(res);
    return true;
}

static bool front_listen(struct front *f, const struct config *cfg, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    int sslen = sizeof(ss);
    char host[INET6_ADDRSTRLEN];
    unsigned port = 0;

    if (!front_parse_listen(cfg->hub_tls_listen, &ss, &sslen)) {
        snprintf(err, errlen, "hub.tls.listen: \"%s\" is not ADDRESS:PORT", cfg->hub_tls_listen);
        return false;
    }
    f->listener =
        evconnlistener_new_bind(f->base, front_on_accept, f,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                                1024, (struct sockaddr *)&ss, sslen);
    if (f->listener == NULL) {
        snprintf(err, errlen, "hub.tls.listen: cannot listen on %s: %s", cfg->hub_tls_listen,
                 strerror(errno));
        return false;
    }
    evconnlistener_set_error_cb(f->listener, front_on_accept_error);
    sslen = sizeof(ss);
    getsockname(evconnlistener_get_fd(f->listener), (struct sockaddr *)&ss, (socklen_t *)&sslen);
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        port = ntohs(s4->sin_port);
        printf("warden hub tls: listening on %s:%u\n", host, port);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)&ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        port = ntohs(s6->sin6_port);
        printf("warden hub tls: listening on [%s]:%u\n", host, port);
    }
    fflush(stdout);
    return true;
}

static void front_on_signal(evutil_socket_t sig, short what, void *arg)
{
    log_info("hub tls: signal %d: stopping", (int)sig);
    event_base_loopbreak(arg);
}

int front_main(const struct config *cfg)
{
    struct front f = {0};
    struct event *sigterm, *sigint;
    char err[512];
    int rc = 0;

    TAILQ_INIT(&f.conns);
    signal(SIGPIPE, SIG_IGN);
    hub_keys_default_path(cfg->hub_keystore, cfg->db_path, f.keys_path, sizeof(f.keys_path));
    if (cfg->hub_tls_cert_file[0] == '\0' || cfg->hub_tls_key_file[0] == '\0') {
        fprintf(stderr, "warden hub tls: hub.tls.cert_file and hub.tls.key_file are required\n");
        return FRONT_EXIT_USAGE;
    }
    if (!keys_read(&f, err, sizeof(err)) || !front_resolve_broker(&f, cfg, err, sizeof(err)) ||
        (f.ssl = front_tls(cfg, err, sizeof(err))) == NULL) {
        fprintf(stderr, "warden hub tls: %s\n", err);
        return FRONT_EXIT_USAGE;
    }
    f.keys_seen = stat(f.keys_path, &f.keys_st) == 0;
    f.cap = front_fit_cap(cfg->hub_tls_max_connections);
    if ((f.base = event_base_new()) == NULL ||
        (f.resume = evtimer_new(f.base, front_on_resume, &f)) == NULL)
        fatal("hub tls: cannot create the event loop");
    if (!front_listen(&f, cfg, err, sizeof(err))) {
        fprintf(stderr, "warden hub tls: %s\n", err);
        rc = 1;
    } else {
        sigterm = evsignal_new(f.base, SIGTERM, front_on_signal, f.base);
        sigint = evsignal_new(f.base, SIGINT, front_on_signal, f.base);
        event_add(sigterm, NULL);
        event_add(sigint, NULL);
        log_info("hub tls: forwarding to the broker at %s:%d, key store %s, at most %lld "
                 "connections",
                 cfg->mqtt_host, cfg->mqtt_port, f.keys_path, (long long)f.cap);
        event_base_dispatch(f.base);
        event_free(sigterm);
        event_free(sigint);
        evconnlistener_free(f.listener);
        while (!TAILQ_EMPTY(&f.conns))
            conn_free(TAILQ_FIRST(&f.conns));
        log_info("hub tls: stopped: %llu accepted, %llu forwarded, %llu not a CONNECT, %llu "
                 "timed out, %llu too long to attest, %llu refused at the connection cap",
                 (unsigned long long)f.accepted, (unsigned long long)f.forwarded,
                 (unsigned long long)f.bad_connect, (unsigned long long)f.timed_out,
                 (unsigned long long)f.too_long, (unsigned long long)f.refused_full);
    }
    event_free(f.resume);
    event_base_free(f.base);
    SSL_CTX_free(f.ssl);
    return rc;
}
