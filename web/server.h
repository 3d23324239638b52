/*
 * web/server.h: the core's own shared state, private to the core's files
 * (server.c, router.c, reply.c, auth.c): the server behind a web_ctx, the
 * credentials check, and the router's entry point. Nothing above the core
 * includes it.
 */
#ifndef WARDEN_WEB_SERVER_H
#define WARDEN_WEB_SERVER_H

#include "core.h"

#include <stddef.h>

#define WEB_STATUS_MAX 600

struct conn;
TAILQ_HEAD(conn_list, conn);
struct web_auth;

struct web_server {
    struct web_ctx ctx; /* what handlers see; web_server_of() finds the rest */
    const struct web_route *const *routes;
    struct event_base *base;
    struct evhttp *http;
    struct event *sweep;
    struct conn_list conns;
    int64_t live;       /* connections not cut */
    int64_t cap;        /* web.max_connections, within the open file limit */
    struct web_auth *auth;
    bool replied;     /* the current handler has answered, or will */
    char host[128];   /* the host part of web.listen, as resolved */
    char numeric[64]; /* web.listen's address to bind, numeric */
    int64_t port;
    char address[96];
    uint64_t status[WEB_STATUS_MAX];
    uint64_t accepted, evicted, refused, cut_slow, cut_stalled, too_long;
    uint64_t cross_site; /* console requests refused as sent by another site's page */
};

/* The server a handler's context belongs to: inline, so files below server.c can reach it. */
static inline struct web_server *web_server_of(struct web_ctx *ctx)
{
    return (struct web_server *)(void *)((char *)ctx - offsetof(struct web_server, ctx));
}

/* router.c: answer one request, r set up by server.c; what it allocates goes to *path_buf and
 * *body_buf. */
void web_route_request(struct web_server *w, struct web_req *r, char **path_buf, char **body_buf);

/* reply.c: set a header, replacing one of the same name. */
void web_header_set(struct evkeyvalq *h, const char *name, const char *value);

/* auth.c: the token and the login sessions. */
struct web_auth *web_auth_new(const struct config *cfg, char *token, size_t tokenlen, char *err,
                              size_t errlen);
void web_auth_free(struct web_auth *a);
/* What a request's credentials are worth; fills r->csrf for a valid session. */
enum web_cred { WEB_CRED_NONE, WEB_CRED_BAD, WEB_CRED_TOKEN, WEB_CRED_SESSION, WEB_CRED_CSRF };
enum web_cred web_auth_check(struct web_auth *a, struct web_req *r, const char *csrf_field);
/* Called every second or so: writes the summary of failed logins when one is due. */
void web_auth_tick(struct web_auth *a);

#endif
