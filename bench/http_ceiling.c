/*
 * The web benchmark's ceiling: a bare libevent HTTP server, the same evhttp
 * Warden's web server is built on, answering every request with the bytes of
 * FILE (a response Warden gave, so the same size) from memory, by reference:
 * no routing, no headers beyond the content type, no database, and Nagle's
 * algorithm off (see on_request). What `wrk`
 * reaches against it is what this machine allows for responses of that size.
 *
 * usage: http_ceiling PORT FILE
 * Listens on 127.0.0.1:PORT, prints "http_ceiling: ready" on stderr, and
 * serves until SIGTERM or SIGINT; then prints {"requests": N, "bytes": B}.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static char *body;
static size_t body_len;
static unsigned long long requests;

static void on_request(struct evhttp_request *req, void *arg)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(req);

    struct bufferevent *bev = evhttp_connection_get_bufferevent(evhttp_request_get_connection(req));
    int one = 1;

    (void)arg;
    /*
     * No Nagle: without this a reply whose last segment is small waits for
     * the client's delayed ACK (40 ms on Linux), and the ceiling would
     * measure that timer instead of the machine.
     */
    if (bev != NULL)
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    evbuffer_add_reference(out, body, body_len, NULL, NULL);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, 200, "OK", NULL);
    requests++;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        (buf = malloc((size_t)n + 1)) == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    } else {
        *len = (size_t)n;
    }
    if (f != NULL)
        fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    struct event_base *base;
    struct evhttp *http;
    struct event *term, *intr;

    if (argc != 3) {
        fprintf(stderr, "usage: http_ceiling PORT FILE\n");
        return 2;
    }
    if ((body = slurp(argv[2], &body_len)) == NULL) {
        fprintf(stderr, "http_ceiling: cannot read %s\n", argv[2]);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    if ((base = event_base_new()) == NULL || (http = evhttp_new(base)) == NULL ||
        evhttp_bind_socket(http, "127.0.0.1", (unsigned short)atoi(argv[1])) != 0) {
        fprintf(stderr, "http_ceiling: cannot listen on 127.0.0.1:%s\n", argv[1]);
        return 1;
    }
    evhttp_set_gencb(http, on_request, NULL);
    term = evsignal_new(base, SIGTERM, on_signal, base);
    intr = evsignal_new(base, SIGINT, on_signal, base);
    event_add(term, NULL);
    event_add(intr, NULL);
    fprintf(stderr, "http_ceiling: ready\n");
    event_base_dispatch(base);
    printf("{\"requests\": %llu, \"bytes\": %zu}\n", requests, body_len);
    event_free(term);
    event_free(intr);
    evhttp_free(http);
    event_base_free(base);
    free(body);
    return 0;
}
