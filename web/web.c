/*
 * web/web.c: the web module's front door (web.h), the one file above every
 * other in web/. It makes the core's server (server.c), opens the SQL
 * console (sql.c) and the baseline's worker (api_tune.c), and gives the server the route tables of the API, the
 * console and the pages, in the order they are tried; then it listens. It
 * may call any file of web/; none calls it.
 */
#include "web.h"

#include "api.h"
#include "routes.h"
#include "sql.h"

#include <stdio.h>
#include <stdlib.h>


/*
 * Every route, in the order the router tries them. Only routes of one path
 * compete, and those are each in one table, except /login (POST in
 * web_auth_routes, GET in web_page_login_routes): for a method that path
 * does not serve, the 405's Allow header names POST first.
 */
static const struct web_route *const web_routes[] = {
    web_api_alerts_routes,
    web_api_devices_routes,
    web_api_recs_routes,
    web_api_tune_routes,
    web_api_groups_routes,
    web_api_hub_routes,
    web_sql_routes,
    web_metrics_routes,
    web_auth_routes,
    web_page_overview_routes,
    web_page_alerts_routes,
    web_page_alert_routes,
    web_page_devices_routes,
    web_page_recs_routes,
    web_page_groups_routes,
    web_page_sql_routes,
    web_page_login_routes,
    NULL,
};

struct web {
    struct web_server *server;
};

struct web *web_start(struct event_base *base, const struct config *cfg, char *err, size_t errlen)
{
    struct web *w = calloc(1, sizeof(*w));
    struct web_ctx *ctx;

    if (w == NULL) {
        snprintf(err, errlen, "web: out of memory");
        return NULL;
    }
    if ((w->server = web_server_new(base, cfg, web_routes, err, errlen)) == NULL) {
        free(w);
        return NULL;
    }
    ctx = web_server_ctx(w->server);
    if ((ctx->sql = web_sql_open(cfg, base, err, errlen)) == NULL ||
        (ctx->tune = web_tune_open(cfg, base, err, errlen)) == NULL ||
        !web_server_listen(w->server, err, errlen)) {
        web_stop(w);
        return NULL;
    }
    return w;
}

void web_stop(struct web *w)
{
    struct web_ctx *ctx;

    if (w == NULL)
        return;
    ctx = web_server_ctx(w->server);
    /* Connections first: an export's close callback still needs its console. */
    web_server_shutdown(w->server);
    web_sql_close(ctx->sql);
    web_tune_close(ctx->tune);
    web_api_free(ctx);
    web_server_free(w->server);
    free(w);
}

const char *web_address(const struct web *w)
{
    return web_server_address(w->server);
}
