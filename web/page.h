/*
 * web/page.h: what the dashboard's pages (page_*.c) share, from page.c,
 * above the core. A page is built in an evbuffer between page_open() and
 * page_send(); a statement that fails notes it in the page (page_prepare,
 * page_finish) rather than failing the request, so a page shows what it
 * could read.
 */
#ifndef WARDEN_WEB_PAGE_H
#define WARDEN_WEB_PAGE_H

#include "core.h"
#include "html.h"

#include "../common/catalog.h"

#define PAGE_HTML            "text/html; charset=utf-8"
#define PAGE_HOUR_MS         3600000LL
#define PAGE_DAY_MS          86400000LL
#define PAGE_SERIES_MAX_BARS 150 /* at most this many bars in a time chart */

/* ---- the catalogue and the metrics, as the pages show them ------------------------------------
 */

/* The catalogue's entry of an alert type (its short label, kind, severity); NULL when unknown. */
const struct catalog_entry *page_alert_type(const char *type);

/* A metric of device_counts, what it counts, and the time-window rule that watches it (or NULL). */
struct page_metric {
    const char *name, *label, *rule;
};
#define PAGE_N_METRICS 9
extern const struct page_metric page_metrics[PAGE_N_METRICS];
/* The metric a rule ("MqttD2CMessagesNotInAllowedRange") watches, or NULL. */
const struct page_metric *page_metric_of_rule(const char *rule);

/* ---- the page, its statements and its parameters ------------------------------------------------
 */

/* A page begun: the frame with title, active naming the navigation's item ("alerts"). */
struct evbuffer *page_open(struct web_req *r, const char *title, const char *active);
/* End the frame and send out (taken over) with status. */
void page_send(struct web_req *r, struct evbuffer *out, int status);
/* A whole page that says what went wrong, with status. */
void page_error(struct web_req *r, int status, const char *title, const char *msg);
/* See location (already URL-safe), after a form post. */
void page_redirect(struct web_req *r, const char *location);

/* A statement on the read-only connection; NULL (and a note in out) when it fails. */
sqlite3_stmt *page_prepare(struct web_req *r, struct evbuffer *out, const char *sql);
/* After the last sqlite3_step: a note in out when it ended in an error; finalizes st. */
void page_finish(struct web_req *r, struct evbuffer *out, sqlite3_stmt *st, int rc);
/* Text, or NULL when s is NULL. */
void page_bind_text(sqlite3_stmt *st, int i, const char *s);
const char *page_col(sqlite3_stmt *st, int i);
int64_t page_col_int(sqlite3_stmt *st, int i);
bool page_col_null(sqlite3_stmt *st, int i);

/* A query parameter, with an empty value taken as absent (an untouched form field). */
const char *page_param(struct web_req *r, const char *name);
/*
 * A time parameter of a page: ISO 8601 ("2026-11-29T10:00:00Z", or
 * "2026-11-29T10:00" as a datetime-local input sends it, read as UTC) or a
 * bare date. Absent: dflt. Bad: false with a message in err.
 */
bool page_time_param(struct web_req *r, const char *name, int64_t dflt, int64_t *out, char *err,
                     size_t errlen);
/* Numeric text to int64_t, whole string; false when it is not one. */
bool page_parse_i64(const char *s, int64_t *v);

/* A query string under construction: "?a=1&amp;b=2", each value percent-encoded. */
struct page_qs {
    struct evbuffer *out;
    bool any;
};
/* key=value, unless value is NULL or empty. */
void page_qs_add(struct page_qs *q, const char *key, const char *value);
/* key=the time, as ISO 8601 to the second. */
void page_qs_add_time(struct page_qs *q, const char *key, int64_t ms);

/* ---- times, badges and values, as people read them ------------------------------------------- */

/* A time for people: "2026-11-29 10:00:05" (UTC). */
void page_fmt_time(int64_t ms, char *buf, size_t len);
/* ISO 8601 to the second, as URLs and forms carry times: "2026-11-29T10:00:05Z". */
void page_fmt_iso(int64_t ms, char *buf, size_t len);
void page_put_time(struct evbuffer *out, int64_t ms);
/* A time cell: how long ago ("5 min ago"), with the exact time on hover. */
void page_put_when(struct evbuffer *out, int64_t now, int64_t ms);
/* A span as people say it: "15 min", "1 h 30 min", "2 d". */
void page_fmt_span(int64_t ms, char *buf, size_t len);
/* A badge of style b-cls. */
void page_put_badge(struct evbuffer *out, const char *cls, const char *text);
/* A severity or status badge: the value itself names the style (b-High, b-Active, ...). */
void page_put_state(struct evbuffer *out, const char *value);
/* A link to the device's page. */
void page_put_device(struct evbuffer *out, const char *device_id);
/* The scope of an alert or recommendation: its device, else its hub. */
void page_put_scope(struct evbuffer *out, const char *device_id, const char *hub);
/*
 * A JSON value for people: strings as they are, numbers, yes/no, arrays of
 * scalars joined with commas, objects as lists; compact JSON past a depth.
 */
void page_put_json_value(struct evbuffer *out, json_t *v, int depth);
/* A JSON object as a list (or a two-column table); text that is not an object as it is. */
void page_put_json_props(struct evbuffer *out, const char *json, bool as_table);

/* ---- pieces more than one page shows -------------------------------------------------------- */

/*
 * Sums of one metric of one device in n steps from t0: values[i] covers
 * [t0 + i * step, t0 + (i + 1) * step). False (and a note in out) on error.
 */
bool page_series_load(struct web_req *r, struct evbuffer *out, const char *device,
                      const char *metric, int64_t t0, int64_t step, size_t n, double *values);
/* A step for a time chart of span: a round size giving at most PAGE_SERIES_MAX_BARS bars. */
int64_t page_series_step(int64_t span);

/* The columns of an alert row (page_alert_row), as a statement selects them. */
#define PAGE_ALERT_COLS                                                                            \
    "SELECT alert_id, alert_type, display_name, severity, device_id, hub, status, start_ms, "      \
    "end_ms, count, alert_key, (SELECT CASE WHEN max(d.silenced_by <> '[]') THEN 'silenced' "      \
    "WHEN max(d.inhibited_by <> '[]') THEN 'inhibited' END FROM notify_deliveries d "             \
    "WHERE d.kind = 'alert' AND d.ref = alerts.alert_id AND d.am_state IS NOT NULL) FROM alerts "
/*
 * The Notifications card of an alert (kind "alert") or recommendation: per
 * Alertmanager, what it accepted, what waits, and its silences (page_notify.c).
 */
void page_put_notifications(struct web_req *r, struct evbuffer *out, const char *kind, int64_t ref);
/* The head of a table of alert rows, shared by the list, the device page and the overview. */
void page_alert_row_head(struct evbuffer *out, bool with_scope);
/* One row from a statement of PAGE_ALERT_COLS. */
void page_alert_row(struct evbuffer *out, sqlite3_stmt *st, int64_t now, bool with_scope);
/*
 * The rows of a statement of flows (recv_ms or hour_ms, protocol, local ip
 * and port, remote ip and port, bytes in, bytes out, direction[, records]),
 * as a table; how many. *rc is the last step's.
 */
int page_flow_rows(struct evbuffer *out, sqlite3_stmt *st, int *rc, bool hourly);

/* ---- a group's baseline, its preview and its editor (page_tuning.c) ------------------------ */

/* The group editor holding doc: Save (POST /groups/{name}) and Preview, for a logged-in user. */
void page_group_editor(struct web_req *r, struct evbuffer *out, const char *name, const char *doc);
/* GET /groups/{tail}: when r->tail is "NAME/baseline", answer it (later) and return true. */
bool page_tuning_get(struct web_req *r);
/* POST /groups/{tail}: when r->tail is "NAME/preview", answer it (later) and return true. */
bool page_tuning_post(struct web_req *r);

/*
 * The example queries of sql/examples/, as the SQL page offers them: the
 * file name, a title, and the file's text verbatim (tests/unit/test_html.c
 * compares them with the files). The table ends with a zeroed entry.
 */
struct web_sql_example {
    const char *file;
    const char *title;
    const char *sql;
};
extern const struct web_sql_example web_sql_examples[];

#endif
