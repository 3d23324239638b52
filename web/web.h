/*
 * web/: the dashboard, the JSON API, the SQL console, /metrics and /healthz,
 * served by libevent's evhttp (SPEC 6). It reads through connections of its
 * own, so a slow page or query never holds up ingest or the evaluator; the
 * few writes a user makes (dismissing an alert, editing a group) go through
 * the evaluator module's functions.
 */
#ifndef WARDEN_WEB_H
#define WARDEN_WEB_H

#include "../common/common.h"

struct event_base;
struct web;

/*
 * Listen on cfg->web_listen and serve from base. Refuses (NULL, with a
 * message in err) to listen beyond loopback without authentication
 * configured. cfg must outlive the server.
 */
struct web *web_start(struct event_base *base, const struct config *cfg, char *err, size_t errlen);
void web_stop(struct web *w);
/* The address actually bound ("127.0.0.1:8080"), after web_start. */
const char *web_address(const struct web *w);

#endif
