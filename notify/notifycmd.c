/*
 * notify/notifycmd.c: `warden notify`, for whoever wires Warden to an
 * Alertmanager.
 *
 *   warden notify test [--url URL]     sends one test alert to each configured
 *       Alertmanager (or to URL), waits until Alertmanager lists it, resolves
 *       it, waits until it is gone, and says what happened at each step;
 *   warden notify run                  the senders alone, until SIGTERM, for when
 *       ingest, evaluation and the web run as separate processes (`warden run`
 *       starts them itself);
 *   warden notify receive --listen HOST:PORT [--out FILE]
 *       a webhook receiver for Alertmanager's webhook_configs: each
 *       notification it is sent becomes one line of FILE (or stdout). The
 *       lab's Alertmanager (`make demo`) sends to one.
 */
#include "notify.h"

#include "amclient.h"
#include "ampayload.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long `notify test` waits for Alertmanager to show a change. */
#define TEST_WAIT_MS 15000
#define RECEIVE_MAX_BODY (4 * 1024 * 1024)

static json_t *test_alert(const struct config *cfg, const char *key, int64_t start, int64_t end)
{
    json_t *a = json_object(), *l = json_object(), *an = json_object();
    char t[40], base[300];

    if (cfg->notify_labels[0] != '\0') {
        json_t *extra = json_loads(cfg->notify_labels, 0, NULL);

        json_object_update(l, extra);
        json_decref(extra);
    }
    json_object_set_new(l, "alertname", json_string("WardenNotifyTest"));
    json_object_set_new(l, "severity", json_string("low"));
    json_object_set_new(l, "alert_key", json_string(key));
    json_object_set_new(l, "kind", json_string("test"));
    json_object_set_new(l, "source", json_string("warden"));
    json_object_set_new(an, "summary", json_string("Warden test notification"));
    json_object_set_new(an, "description",
                        json_string("Sent by `warden notify test` to check the way from Warden "
                                    "to Alertmanager; it resolves at once."));
    json_object_set_new(a, "labels", l);
    json_object_set_new(a, "annotations", an);
    time_format_iso(start, t, sizeof(t));
    json_object_set_new(a, "startsAt", json_string(t));
    time_format_iso(end, t, sizeof(t));
    json_object_set_new(a, "endsAt", json_string(t));
    notify_base_url(cfg, base, sizeof(base));
    json_object_set_new(a, "generatorURL", json_string(base));
    return a;
}

static bool post_one(struct am_client *c, json_t *alert, const char *step)
{
    json_t *arr = json_array();
    char *body;
    struct am_reply r;
    bool ok;

    json_array_append(arr, alert);
    body = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    am_request(c, "POST", "/api/v2/alerts", body, body ? strlen(body) : 0, &r);
    free(body);
    ok = r.status >= 200 && r.status <= 299;
    if (ok)
        printf("  %s: accepted (HTTP %d, %.0f ms)\n", step, r.status, r.seconds * 1000);
    else
        printf("  %s: FAILED: %s\n", step, r.error[0] ? r.error : "no answer");
    am_reply_free(&r);
    return ok;
}

struct lookup {
    const char *key;
    bool found;
    char state[32], silenced_by[512], inhibited_by[512];
};

static void on_test_seen(void *arg, const struct am_seen *s)
{
    struct lookup *l = arg;

    if (strcmp(s->alert_key, l->key) != 0)
        return;
    l->found = true;
    snprintf(l->state, sizeof(l->state), "%s", s->state ? s->state : "?");
    snprintf(l->silenced_by, sizeof(l->silenced_by), "%s", s->silenced_by);
    snprintf(l->inhibited_by, sizeof(l->inhibited_by), "%s", s->inhibited_by);
}

/* Waits until Alertmanager lists the test alert (want) or no longer lists it (!want). */
static bool wait_listed(struct am_client *c, const char *key, bool want, struct lookup *l)
{
    char path[512];
    int64_t until = clock_mono_ms() + TEST_WAIT_MS;

    snprintf(path, sizeof(path), "/api/v2/alerts?filter=alert_key%%3D%%22%s%%22", key);
    do {
        struct am_reply r;

        memset(l, 0, sizeof(*l));
        l->key = key;
        am_request(c, "GET", path, NULL, 0, &r);
        if (r.status == 200)
            am_parse_alerts(r.body, r.len, on_test_seen, l);
        am_reply_free(&r);
        if (l->found == want)
            return true;
        usleep(200 * 1000); /* polling Alertmanager's API: it has no way to wait for a change */
    } while (clock_mono_ms() < until);
    return false;
}

static bool test_one(const struct config *cfg, const char *url)
{
    struct am_client c;
    struct am_reply r;
    struct lookup l;
    char err[512], key[64], uptime[64] = "?";
    int64_t now = clock_now_ms();
    json_t *alert;
    bool ok = false;

    printf("%s\n", url);
    if (!am_client_init(&c, url, cfg, -1, err, sizeof(err))) {
        printf("  FAILED: %s\n", err);
        return false;
    }
    am_request(&c, "GET", "/api/v2/status", NULL, 0, &r);
    if (r.status == 200 && am_parse_uptime(r.body, r.len, uptime, sizeof(uptime)))
        printf("  1/5 GET /api/v2/status: Alertmanager up since %s\n", uptime);
    else
        printf("  1/5 GET /api/v2/status: FAILED: %s\n", r.error[0] ? r.error : "not an "
               "Alertmanager status (is this the Alertmanager's address, API v2?)");
    am_reply_free(&r);
    if (strcmp(uptime, "?") == 0)
        goto out;
    snprintf(key, sizeof(key), "test-%d-%lld", (int)getpid(), (long long)now);
    alert = test_alert(cfg, key, now, now + 300000);
    ok = post_one(&c, alert, "2/5 POST /api/v2/alerts, firing");
    json_decref(alert);
    if (!ok)
        goto out;
    if (!(ok = wait_listed(&c, key, true, &l))) {
        printf("  3/5 FAILED: accepted, but not listed by GET /api/v2/alerts after %d s\n",
               TEST_WAIT_MS / 1000);
        goto out;
    }
    printf("  3/5 listed by Alertmanager: %s%s%s%s%s\n", l.state,
           strcmp(l.silenced_by, "[]") ? ", silenced by " : "",
           strcmp(l.silenced_by, "[]") ? l.silenced_by : "",
           strcmp(l.inhibited_by, "[]") ? ", inhibited by " : "",
           strcmp(l.inhibited_by, "[]") ? l.inhibited_by : "");
    alert = test_alert(cfg, key, now, clock_now_ms());
    ok = post_one(&c, alert, "4/5 POST /api/v2/alerts, resolved");
    json_decref(alert);
    if (!ok)
        goto out;
    if (!(ok = wait_listed(&c, key, false, &l)))
        printf("  5/5 FAILED: still listed as firing after %d s\n", TEST_WAIT_MS / 1000);
    else
        printf("  5/5 resolved: no longer listed; your receivers got it if a route matches "
               "alertname=\"WardenNotifyTest\"\n");
out:
    am_client_free(&c);
    return ok;
}

static int cmd_test(int argc, char **argv, const struct config *cfg)
{
    char urls[sizeof(cfg->notify_am_urls)], *save = NULL, *u;
    int failed = 0, n = 0;

    if (argc == 4 && strcmp(argv[2], "--url") == 0) {
        snprintf(urls, sizeof(urls), "%s", argv[3]);
    } else if (argc == 2) {
        snprintf(urls, sizeof(urls), "%s", cfg->notify_am_urls);
    } else {
        fputs("usage: warden notify test [--url URL]\n", stderr);
        return EXIT_USAGE;
    }
    if (urls[0] == '\0') {
        fputs("warden: notify test: no Alertmanager: set notify.alertmanager.urls or give "
              "--url http://HOST:9093\n", stderr);
        return EXIT_USAGE;
    }
    for (u = strtok_r(urls, ",", &save); u; u = strtok_r(NULL, ",", &save), n++)
        failed += !test_one(cfg, u);
    printf("%d of %d Alertmanagers passed\n", n - failed, n);
    return failed ? 1 : 0;
}

/* ---- the webhook receiver ---------------------------------------------------------------- */

struct receiver {
    FILE *out;
    struct event_base *base;
};

static void on_webhook(struct evhttp_request *req, void *arg)
{
    struct receiver *rc = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    char *body = malloc(n + 1);
    json_t *v;

    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST || body == NULL) {
        free(body);
        evhttp_send_error(req, 405, "POST only");
        return;
    }
    evbuffer_remove(in, body, n);
    body[n] = '\0';
    /* One notification, one line: the JSON again, compact. */
    v = json_loadb(body, n, 0, NULL);
    if (v != NULL) {
        json_dumpf(v, rc->out, JSON_COMPACT);
        json_decref(v);
    } else {
        for (size_t i = 0; i < n; i++)
            if (body[i] == '\n' || body[i] == '\r')
                body[i] = ' ';
        fwrite(body, 1, n, rc->out);
    }
    fputc('\n', rc->out);
    fflush(rc->out);
    free(body);
    evhttp_send_reply(req, 200, "OK", NULL);
}

static void on_receive_signal(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopbreak(arg);
}

static int cmd_receive(int argc, char **argv)
{
    const char *listen = NULL, *path = NULL;
    char host[256];
    struct receiver rc = {stdout, NULL};
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    struct event *sigterm, *sigint;
    const char *colon;
    int port;

    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--listen") == 0)
            listen = argv[i + 1];
        else if (strcmp(argv[i], "--out") == 0)
            path = argv[i + 1];
        else
            listen = NULL, i = argc;
    }
    if (listen == NULL || (argc % 2) != 0 || (colon = strrchr(listen, ':')) == NULL ||
        colon == listen || (size_t)(colon - listen) >= sizeof(host) ||
        (port = atoi(colon + 1)) < 0 || port > 65535) {
        fputs("usage: warden notify receive --listen HOST:PORT [--out FILE]\n", stderr);
        return EXIT_USAGE;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
    if (path != NULL && (rc.out = fopen(path, "a")) == NULL) {
        fprintf(stderr, "warden: notify receive: %s: %s\n", path, strerror(errno));
        return 1;
    }
    rc.base = event_base_new();
    http = evhttp_new(rc.base);
    evhttp_set_max_body_size(http, RECEIVE_MAX_BODY);
    evhttp_set_gencb(http, on_webhook, &rc);
    if ((sock = evhttp_bind_socket_with_handle(http, host, (uint16_t)port)) == NULL) {
        fprintf(stderr, "warden: notify receive: cannot listen on %s: %s\n", listen,
                strerror(errno));
        return 1;
    }
    {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        evutil_socket_t fd = evhttp_bound_socket_get_fd(sock);

        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
            port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                  : ((struct sockaddr_in *)&ss)->sin_port);
    }
    sigterm = evsignal_new(rc.base, SIGTERM, on_receive_signal, rc.base);
    sigint = evsignal_new(rc.base, SIGINT, on_receive_signal, rc.base);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    log_info("notify receive: listening on http://%s:%d/, writing to %s", host, port,
             path ? path : "stdout");
    event_base_dispatch(rc.base);
    event_free(sigterm);
    event_free(sigint);
    evhttp_free(http);
    event_base_free(rc.base);
    if (path)
        fclose(rc.out);
    return 0;
}

/* `warden notify run`: the senders of `warden run`, alone. */
static int cmd_run(const struct config *cfg)
{
    struct event_base *base = event_base_new();
    struct event *sigterm = evsignal_new(base, SIGTERM, on_receive_signal, base);
    struct event *sigint = evsignal_new(base, SIGINT, on_receive_signal, base);
    struct notify *n;
    char err[512];

    if (cfg->notify_am_urls[0] == '\0') {
        fputs("warden: notify run: no Alertmanager: set notify.alertmanager.urls\n", stderr);
        return EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);
    if ((n = notify_start(cfg, err, sizeof(err))) == NULL) {
        fprintf(stderr, "warden: %s\n", err);
        return 1;
    }
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    event_base_dispatch(base);
    notify_stop(n);
    event_free(sigterm);
    event_free(sigint);
    event_base_free(base);
    log_info("notify: stopped");
    return 0;
}

int notify_cmd(int argc, char **argv, const struct config *cfg)
{
    if (argc == 2 && strcmp(argv[1], "run") == 0)
        return cmd_run(cfg);
    if (argc >= 2 && strcmp(argv[1], "test") == 0)
        return cmd_test(argc, argv, cfg);
    if (argc >= 2 && strcmp(argv[1], "receive") == 0)
        return cmd_receive(argc, argv);
    fputs("usage: warden notify test [--url URL]\n"
          "       warden notify run\n"
          "       warden notify receive --listen HOST:PORT [--out FILE]\n",
          stderr);
    return EXIT_USAGE;
}
