/*
 * web/sqlclient.c: a console request's link to its client while a worker
 * runs its job (sqlpriv.h says how it learns the client has gone). Part of
 * the console; calls the core.
 */
#include "sqlpriv.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sys/socket.h>

void web_sqlclient_unwatch(struct web_sqlclient *cl)
{
    if (cl->watch != NULL)
        event_free(cl->watch);
    cl->watch = NULL;
}

static void client_peek(evutil_socket_t fd, short what, void *arg)
{
    struct web_sqlclient *cl = arg;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

    (void)what;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    web_sqlclient_unwatch(cl); /* bytes (a pipelined request) are evhttp's; the end is ours */
    if (n <= 0) {
        cl->left = true;
        cl->on_left(cl->arg);
    }
}

void web_sqlclient_hold(struct web_sqlclient *cl, struct web_req *r,
                        void (*closed)(struct evhttp_connection *, void *),
                        void (*on_left)(void *), void *arg)
{
    struct bufferevent *bev;

    cl->ctx = r->ctx;
    cl->req = r->req;
    cl->evcon = evhttp_request_get_connection(r->req);
    cl->on_left = on_left;
    cl->arg = arg;
    evhttp_connection_set_closecb(cl->evcon, closed, arg);
    bev = evhttp_connection_get_bufferevent(cl->evcon);
    cl->watch = event_new(evhttp_connection_get_base(cl->evcon), bufferevent_getfd(bev),
                          EV_READ | EV_PERSIST, client_peek, cl);
    if (cl->watch != NULL)
        event_add(cl->watch, NULL);
    web_reply_started(r);
}

void web_sqlclient_closed(struct web_sqlclient *cl)
{
    web_sqlclient_unwatch(cl);
    if (cl->req != NULL && evhttp_request_get_connection(cl->req) == NULL)
        evhttp_request_free(cl->req);
    cl->req = NULL;
    cl->evcon = NULL;
}

void web_sqlclient_release(struct web_sqlclient *cl)
{
    web_sqlclient_unwatch(cl);
    if (cl->evcon != NULL)
        evhttp_connection_set_closecb(cl->evcon, NULL, NULL);
    cl->evcon = NULL;
}
