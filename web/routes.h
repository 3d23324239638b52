/*
 * web/routes.h: the route table each file above the core contributes
 * (struct web_route, core.h), for web.c, which hands them to the core in the
 * order of web_routes there. Each table is defined at the end of its file.
 */
#ifndef WARDEN_WEB_ROUTES_H
#define WARDEN_WEB_ROUTES_H

#include "core.h"

/* The JSON API (api_*.c), the console's (api_sql.c), the probes (metrics.c), the login forms (auth.c).
 */
extern const struct web_route web_api_alerts_routes[];
extern const struct web_route web_api_devices_routes[];
extern const struct web_route web_api_recs_routes[];
extern const struct web_route web_api_tune_routes[];
extern const struct web_route web_api_groups_routes[];
extern const struct web_route web_api_hub_routes[];
extern const struct web_route web_sql_routes[];
extern const struct web_route web_metrics_routes[];

/* The dashboard's pages (page_*.c). */
extern const struct web_route web_page_overview_routes[];
extern const struct web_route web_page_alerts_routes[];
extern const struct web_route web_page_alert_routes[];
extern const struct web_route web_page_devices_routes[];
extern const struct web_route web_page_recs_routes[];
extern const struct web_route web_page_groups_routes[];
extern const struct web_route web_page_sql_routes[];
extern const struct web_route web_page_login_routes[];

#endif
