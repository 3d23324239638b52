/*
 * notify/amclient.h: one HTTP exchange with one Alertmanager, from start to
 * end on the caller's thread. The client owns an event loop of its own
 * (libevent's HTTP client), so a sender thread can wait for its answer without
 * holding any other loop, and a stop file descriptor that ends a request at
 * once when the process stops. http:// and https:// (verified against
 * notify.alertmanager.tls.ca_file, or the system's CAs), with optional basic
 * authentication (notify.alertmanager.basic_auth_file: "user:password").
 *
 * May call: common/.
 */
#ifndef WARDEN_NOTIFY_AMCLIENT_H
#define WARDEN_NOTIFY_AMCLIENT_H

#include "../common/common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest answer read; an Alertmanager holding more silenced alerts than this fits is cut off. */
#define AM_MAX_REPLY (64 * 1024 * 1024)

struct event_base;
struct ssl_ctx_st;

struct am_client {
    char url[512];        /* as configured, without a trailing '/': the metrics' label */
    char host[256];
    char prefix[256];     /* the path before /api/v2, "" or "/alertmanager" */
    int port;
    bool tls;
    char auth[512];       /* the Authorization header, "" for none */
    int64_t timeout_ms;
    int stop_fd;          /* readable when the process stops; -1 for none */
    struct event_base *base;
    struct ssl_ctx_st *ssl;
};

struct am_reply {
    int status;           /* the HTTP status; 0 when no answer came */
    char *body;           /* NUL-terminated; NULL when none */
    size_t len;
    double seconds;       /* how long the exchange took */
    char error[200];      /* why there was no answer, or what a failure status said */
};

/* Reads the URL and the notify.* settings of cfg; false with a message when they cannot be used. */
bool am_client_init(struct am_client *c, const char *url, const struct config *cfg, int stop_fd,
                    char *err, size_t errlen);
void am_client_free(struct am_client *c);
/*
 * Sends METHOD (GET, POST) to the Alertmanager's prefix + path (with its
 * query), with body as application/json when given, and waits at most
 * notify.timeout for the whole answer. Always fills r; free it with
 * am_reply_free().
 */
void am_request(struct am_client *c, const char *method, const char *path, const char *body,
                size_t len, struct am_reply *r);
void am_reply_free(struct am_reply *r);
/* The page of the Alertmanager's web interface for silence ID: URL/#/silences/ID. */
void am_silence_url(const char *url, const char *id, char *out, size_t outlen);

#endif
