/*
 * web/page_tuning.c: a group's thresholds from evidence, as pages. GET
 * /groups/{name}/baseline shows each rule's baseline (its figures, a
 * histogram of its windows with the current and the suggested range, the
 * devices farthest from the group); POST /groups/{name}/preview replays the
 * edited document over the stored history and shows which alerts it would
 * add and remove, with the editor again to save it. Both run on the tuning
 * worker through web_tune_submit (api_tune.c): seconds of work that must
 * not hold the event loop. The group editor lives here too, because the
 * preview shows it. Calls page.c, the core, api_tune.c, the evaluator's
 * tuning.h and imports/' groups; page_groups.c calls it.
 */
#include "api.h"
#include "page.h"

#include "../evaluator/tuning.h"
#include "../imports/groups.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char baseline_suffix[] = "/baseline";
static const char preview_suffix[] = "/preview";

/* The group's name from tail "NAME" + suffix into name; false when tail is not of that shape. */
static bool tail_name(const char *tail, const char *suffix, char *name, size_t namelen)
{
    size_t n = strlen(tail), sn = strlen(suffix);

    if (n <= sn || n - sn >= namelen || strcmp(tail + n - sn, suffix) != 0)
        return false;
    memcpy(name, tail, n - sn);
    name[n - sn] = '\0';
    return true;
}

/* ---- the editor ----------------------------------------------------------------------------- */

/* The editor, carrying the preview's span (to and span, either NULL) as hidden fields. */
static void editor(struct web_req *r, struct evbuffer *out, const char *name, const char *doc,
                   const char *to, const char *span)
{
    evbuffer_add_printf(out, "<div class=\"card\"><h2>Edit</h2><p class=\"hint\">The group as a "
                             "JSON document (the shape of Azure's deviceSecurityGroups). Rules "
                             "left out are disabled. Windows are ISO 8601 durations, multiples "
                             "of 10 seconds (PT30S, PT5M, PT1H). Changes apply at the next "
                             "evaluator pass. Preview replays the document over the stored "
                             "history and saves nothing.</p>");
    if (r->csrf[0] == '\0') {
        html_printf(out, "<pre>%s</pre><p><a class=\"button quiet\" href=\"/login?next=/groups/",
                    doc);
        url_escape(out, name);
        evbuffer_add_printf(out, "\">Log in to change</a></p></div>");
        return;
    }
    evbuffer_add_printf(out, "<form method=\"post\" action=\"/groups/");
    url_escape(out, name);
    html_printf(out,
                "\"><input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                "<textarea name=\"doc\" rows=\"20\" spellcheck=\"false\">%s</textarea>",
                r->csrf, doc);
    /* The preview's span travels with the form, so a second preview replays the same days. */
    if (to != NULL)
        html_printf(out, "<input type=\"hidden\" name=\"to\" value=\"%s\">", to);
    if (span != NULL)
        html_printf(out, "<input type=\"hidden\" name=\"span\" value=\"%s\">", span);
    evbuffer_add_printf(out, "<p><button type=\"submit\" id=\"save\">Save the group</button> "
                             "<button type=\"submit\" class=\"quiet\" id=\"preview\" "
                             "formaction=\"/groups/");
    url_escape(out, name);
    evbuffer_add_printf(out, "/preview\">Preview</button></p></form></div>");
}

void page_group_editor(struct web_req *r, struct evbuffer *out, const char *name, const char *doc)
{
    editor(r, out, name, doc, page_param(r, "to"), page_param(r, "span"));
}

/* A page of the editor alone, holding doc, with what is wrong with it. */
static void editor_page(struct web_req *r, const char *name, const char *doc, const char *err,
                        int status)
{
    struct evbuffer *out = page_open(r, name, "groups");

    evbuffer_add_printf(out, "<div class=\"crumbs\"><a href=\"/groups\">Security groups</a> / "
                             "<a href=\"/groups/");
    url_escape(out, name);
    html_printf(out, "\">%s</a> / preview</div><h1>Preview of %s</h1>", name, name);
    html_printf(out, "<div class=\"error\">Not previewed: %s</div>", err);
    page_group_editor(r, out, name, doc);
    page_send(r, out, status);
}

/* The options of both pages: span and to from the request; false with err. */
static bool span_opts(struct web_req *r, struct tune_opts *o, char *err, size_t errlen)
{
    const char *span = page_param(r, "span");

    o->span_ms = TUNE_SPAN_DEFAULT_MS;
    o->to_ms = -1;
    o->rule = -1;
    o->top = TUNE_TOP_DEFAULT;
    if (span != NULL && (!duration_parse(span, &o->span_ms) || o->span_ms <= 0)) {
        snprintf(err, errlen, "span: must be an ISO 8601 duration such as P7D");
        return false;
    }
    return page_time_param(r, "to", -1, &o->to_ms, err, errlen);
}

/* A refusal or failure of the worker, as a page. */
static void tune_failed(struct web_req *r, int status, const char *what, const char *err)
{
    char title[64];

    if (status == 503)
        snprintf(title, sizeof(title), "Busy: another baseline or backtest is running");
    else
        snprintf(title, sizeof(title), "The %s failed", what);
    page_error(r, status, title, err != NULL ? err : "");
}

/* ---- a small SVG of bars in two kinds, the style of charts.c -------------------------------- */

#define C_W      720
#define C_H      220
#define C_LEFT   48
#define C_RIGHT  12
#define C_TOP    12
#define C_BOTTOM 24

/* The value at the top of a plot of values up to max: a round number. */
static double round_top(double max)
{
    double step = 1;

    /* Counts are whole: four ticks up to at least 4 keep their labels whole. */
    if (max <= 4)
        return 4;
    while (step * 10 < max)
        step *= 10;
    for (int k = 1;; k++)
        if (k * step >= max)
            return k * step > 0 ? k * step : 1;
}

static void svg_begin(struct evbuffer *out, const char *title, int w, int h, double top)
{
    double ph = h - C_TOP - C_BOTTOM;

    html_printf(out,
                "<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\" "
                "xmlns=\"http://www.w3.org/2000/svg\"><title>%s</title>",
                w, h, title, title);
    for (int i = 0; i <= 4; i++) {
        double y = C_TOP + ph - i * ph / 4;
        evbuffer_add_printf(out,
                            "<line class=\"%s\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>"
                            "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>",
                            i == 0 ? "axis" : "grid", C_LEFT, w - C_RIGHT, y, y, C_LEFT - 6, y + 4,
                            top * i / 4);
    }
}

/* Alerts per day, current against proposed: two bars a day. */
static void days_chart(struct evbuffer *out, json_t *days)
{
    double max = 0, pw = C_W - C_LEFT - C_RIGHT, ph = C_H - C_TOP - C_BOTTOM, top, bw;
    size_t n = json_array_size(days), i;
    json_t *d;

    if (n == 0)
        return;
    json_array_foreach(days, i, d)
    {
        double c = (double)json_integer_value(json_object_get(d, "current"));
        double p = (double)json_integer_value(json_object_get(d, "proposed"));
        max = c > max ? c : max;
        max = p > max ? p : max;
    }
    top = round_top(max);
    bw = pw / (double)n;
    svg_begin(out, "Alerts per day, current rules against the proposed ones", C_W, C_H, top);
    json_array_foreach(days, i, d)
    {
        const char *day = json_string_value(json_object_get(d, "day"));
        const char *kind[2] = {"current", "proposed"};
        for (int k = 0; k < 2; k++) {
            double v = (double)json_integer_value(json_object_get(d, kind[k]));
            double h = v / top * ph;
            html_printf(out,
                        "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">"
                        "<title>%s: %.0f alerts, %s rules</title></rect>",
                        k ? "bar bar2" : "bar", C_LEFT + i * bw + bw * (0.1 + 0.4 * k),
                        C_TOP + ph - h, bw * 0.38, h, day ? day : "", v, kind[k]);
        }
        if (n <= 31)
            html_printf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>",
                        C_LEFT + (i + 0.5) * bw, C_H - 6, day ? day + 5 : "");
    }
    evbuffer_add_printf(out, "</svg><p class=\"small legend\"><span class=\"sw sw-bar\"></span> "
                             "current rules <span class=\"sw sw-bar2\"></span> proposed</p>");
}

/* ---- POST /groups/{name}/preview ------------------------------------------------------------ */

/*
 * What done needs of the request: the request it answers is a resumed one
 * (web_req_resume), without the parameters or the login of the original.
 */
struct preview_arg {
    char name[GROUP_NAME_MAX + 1];
    char *doc;
    char csrf[sizeof(((struct web_req *)0)->csrf)];
    char to[48], span[32];
};

/* A table of added or removed alerts of one rule. */
static void alert_list(struct evbuffer *out, const char *what, json_t *list, int64_t total)
{
    size_t i;
    json_t *a;

    if (json_array_size(list) == 0)
        return;
    html_printf(out,
                "<h3>%s</h3><table class=\"%s\"><thead><tr><th>Device</th><th>First</th>"
                "<th>Last</th><th class=\"num\">Windows</th></tr></thead><tbody>",
                what, what);
    json_array_foreach(list, i, a)
    {
        evbuffer_add_printf(out, "<tr><td>");
        page_put_device(out, json_string_value(json_object_get(a, "device_id")));
        html_printf(out,
                    "</td><td class=\"t\">%s</td><td class=\"t\">%s</td>"
                    "<td class=\"num\">%lld</td></tr>",
                    json_string_value(json_object_get(a, "first")),
                    json_string_value(json_object_get(a, "last")),
                    (long long)json_integer_value(json_object_get(a, "windows")));
    }
    evbuffer_add_printf(out, "</tbody></table>");
    if ((int64_t)json_array_size(list) < total)
        evbuffer_add_printf(out, "<p class=\"hint\">The first %zu of %" PRId64 ".</p>",
                            json_array_size(list), total);
}

static void preview_done(struct web_req *r, int status, json_t *result, const char *err, void *varg)
{
    struct preview_arg *a = varg;
    json_t *span = json_object_get(result, "span"), *rule;
    struct evbuffer *out;
    size_t i;

    if (r == NULL || status != 200) {
        if (r != NULL)
            tune_failed(r, status, "backtest", err);
        json_decref(result);
        free(a->doc);
        free(a);
        return;
    }
    memcpy(r->csrf, a->csrf, sizeof(r->csrf));
    out = page_open(r, a->name, "groups");
    evbuffer_add_printf(out, "<div class=\"crumbs\"><a href=\"/groups\">Security groups</a> / "
                             "<a href=\"/groups/");
    url_escape(out, a->name);
    html_printf(out,
                "\">%s</a> / preview</div><h1>Preview of %s</h1><div class=\"note\">Nothing is "
                "saved yet: this is what the document would have raised from %s to %s, "
                "replayed over the stored history, against the rules stored now.</div>",
                a->name, a->name, json_string_value(json_object_get(span, "from")),
                json_string_value(json_object_get(span, "to")));
    evbuffer_add_printf(out, "<div class=\"card\"><h2>Alerts, rule by rule</h2><table "
                             "id=\"preview-rules\"><thead><tr><th>Rule</th><th class=\"num\">"
                             "Current rules</th><th class=\"num\">Proposed</th><th>Change</th>"
                             "</tr></thead><tbody>");
    json_array_foreach(json_object_get(result, "rules"), i, rule)
    {
        html_printf(
            out,
            "<tr><td class=\"mono\">%s</td><td class=\"num\">%lld</td><td class=\"num\">%lld</td>"
            "<td><b>%lld added</b>, %lld removed</td></tr>",
            json_string_value(json_object_get(rule, "rule")),
            (long long)json_integer_value(
                json_object_get(json_object_get(rule, "current"), "alerts")),
            (long long)json_integer_value(
                json_object_get(json_object_get(rule, "proposed"), "alerts")),
            (long long)json_integer_value(json_object_get(rule, "added_total")),
            (long long)json_integer_value(json_object_get(rule, "removed_total")));
    }
    evbuffer_add_printf(out, "</tbody></table></div><div class=\"card\"><h2>Alerts per day</h2>");
    days_chart(out, json_object_get(result, "days"));
    evbuffer_add_printf(out, "</div>");
    json_array_foreach(json_object_get(result, "rules"), i, rule)
    {
        json_t *added = json_object_get(rule, "added"), *removed = json_object_get(rule, "removed");
        if (json_array_size(added) == 0 && json_array_size(removed) == 0)
            continue;
        html_printf(out, "<div class=\"card\"><h2 class=\"mono\">%s</h2>",
                    json_string_value(json_object_get(rule, "rule")));
        alert_list(out, "added", added, json_integer_value(json_object_get(rule, "added_total")));
        alert_list(out, "removed", removed,
                   json_integer_value(json_object_get(rule, "removed_total")));
        evbuffer_add_printf(out, "</div>");
    }
    editor(r, out, a->name, a->doc, a->to[0] ? a->to : NULL, a->span[0] ? a->span : NULL);
    page_send(r, out, 200);
    json_decref(result);
    free(a->doc);
    free(a);
}

/* Parse the document, then replay it on the worker; the page when it is done. */
static void page_preview(struct web_req *r, const char *name)
{
    const char *doc = web_param(r, "doc");
    struct tune_opts o = {0};
    struct preview_arg *a;
    char err[600];
    struct group g;
    int status;

    if (doc == NULL || doc[0] == '\0') {
        editor_page(r, name, "", "the document is empty", 400);
        return;
    }
    if (!span_opts(r, &o, err, sizeof(err)) ||
        !group_parse(doc, strlen(doc), name, &g, err, sizeof(err))) {
        editor_page(r, name, doc, err, 400);
        return;
    }
    if ((a = calloc(1, sizeof(*a))) == NULL || (a->doc = strdup(doc)) == NULL)
        fatal("out of memory");
    snprintf(a->name, sizeof(a->name), "%s", name);
    memcpy(a->csrf, r->csrf, sizeof(a->csrf));
    snprintf(a->to, sizeof(a->to), "%s", page_param(r, "to") ? page_param(r, "to") : "");
    snprintf(a->span, sizeof(a->span), "%s", page_param(r, "span") ? page_param(r, "span") : "");
    o.group = a->name;
    status = web_tune_submit(r, &o, &g, preview_done, a, err, sizeof(err));
    group_free(&g);
    if (status != 0)
        preview_done(r, status, NULL, err, a);
}

bool page_tuning_post(struct web_req *r)
{
    char name[GROUP_NAME_MAX + 1];

    if (!tail_name(r->tail, preview_suffix, name, sizeof(name)))
        return false;
    if (!group_name_valid(name))
        page_error(r, 404, "No such group",
                   "Group names are 1 to 128 letters, digits, dots, dashes and underscores.");
    else
        page_preview(r, name);
    return true;
}

/* ---- GET /groups/{name}/baseline ------------------------------------------------------------ */

/* What done needs of the request (see struct preview_arg). */
struct baseline_arg {
    char name[GROUP_NAME_MAX + 1];
    int64_t to_ms; /* the span's end as asked (< 0: now) */
    char csrf[sizeof(((struct web_req *)0)->csrf)];
    char span[32];
};

/* The x of value v on a histogram of bins [lo, hi], each bw wide from x0; clamped to the plot. */
static double hist_x(json_t *hist, double v, double x0, double bw)
{
    size_t n = json_array_size(hist), i;
    json_t *b;

    json_array_foreach(hist, i, b)
    {
        double lo = (double)json_integer_value(json_object_get(b, "lo"));
        double hi = (double)json_integer_value(json_object_get(b, "hi"));
        if (v < lo)
            return x0 + (double)i * bw;
        if (v <= hi)
            return x0 + ((double)i + (v - lo) / (hi - lo + 1)) * bw;
    }
    return x0 + (double)n * bw;
}

/* The range [min, max] of range (an object with "min" and "max") shaded under the bars. */
static void hist_band(struct evbuffer *out, json_t *hist, json_t *range, double bw, double ph,
                      const char *cls, const char *title)
{
    double x1 = hist_x(hist, (double)json_integer_value(json_object_get(range, "min")), C_LEFT, bw);
    double x2 =
        hist_x(hist, (double)json_integer_value(json_object_get(range, "max")) + 1, C_LEFT, bw);

    evbuffer_add_printf(out,
                        "<rect class=\"%s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
                        "height=\"%.1f\"><title>%s</title></rect>",
                        cls, x1, C_TOP, x2 - x1, ph, title);
}

/* The windows of one rule by value, the current and the suggested range shaded. */
static void histogram_chart(struct evbuffer *out, json_t *rule)
{
    json_t *hist = json_object_get(rule, "histogram"), *b;
    json_t *cur = json_object_get(rule, "current"), *sug = json_object_get(rule, "suggested");
    double max = 0, pw = C_W - C_LEFT - C_RIGHT, ph = C_H - C_TOP - C_BOTTOM, top, bw;
    size_t n = json_array_size(hist), i;

    if (n == 0) {
        evbuffer_add_printf(out, "<p class=\"muted\">No windows to draw.</p>");
        return;
    }
    json_array_foreach(hist, i, b)
    {
        double w = (double)json_integer_value(json_object_get(b, "windows"));
        max = w > max ? w : max;
    }
    top = round_top(max);
    bw = pw / (double)n;
    svg_begin(out, "Windows by value, with the current and the suggested range", C_W, C_H, top);
    /* The bands under the bars: current grey, suggested green. */
    /* A rule that is off has no current range: nothing to shade. */
    if (json_is_true(json_object_get(cur, "enabled")))
        hist_band(out, hist, cur, bw, ph, "band-cur", "current range");
    if (json_is_object(sug) && json_is_integer(json_object_get(sug, "max")))
        hist_band(out, hist, sug, bw, ph, "band-sug", "suggested range");
    json_array_foreach(hist, i, b)
    {
        long long lo = (long long)json_integer_value(json_object_get(b, "lo"));
        long long hi = (long long)json_integer_value(json_object_get(b, "hi"));
        double w = (double)json_integer_value(json_object_get(b, "windows")), h = w / top * ph;
        evbuffer_add_printf(out,
                            "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                            "height=\"%.1f\"><title>%lld to %lld: %.0f windows</title></rect>",
                            C_LEFT + i * bw + bw * 0.08, C_TOP + ph - h, bw * 0.84, h, lo, hi, w);
        if (i == 0 || i + 1 == n || i % 8 == 0)
            evbuffer_add_printf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%lld</text>",
                                C_LEFT + (i + 0.5) * bw, C_H - 6, lo);
    }
    evbuffer_add_printf(out,
                        "</svg><p class=\"small legend\"><span class=\"sw sw-cur\"></span> "
                        "the current range%s <span class=\"sw sw-sug\"></span> the suggested "
                        "range <span class=\"sw sw-bar\"></span> windows with that value</p>",
                        json_is_true(json_object_get(cur, "enabled")) ? ""
                                                                      : " (none: the rule is off)");
}

/* A figure of an object as a table cell. */
static void put_num(struct evbuffer *out, json_t *o, const char *key, const char *cls)
{
    json_t *v = json_object_get(o, key);

    evbuffer_add_printf(out, "<td class=\"num%s%s\">", cls ? " " : "", cls ? cls : "");
    if (json_is_integer(v))
        evbuffer_add_printf(out, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        evbuffer_add_printf(out, "%.4g", json_real_value(v));
    else
        evbuffer_add_printf(out, "<span class=\"muted\">none</span>");
    evbuffer_add_printf(out, "</td>");
}

/*
 * The top devices of a rule: a small chart each of its metric per hour over
 * the span, as the alert page draws it (page_series_load; for
 * ActiveConnectionsNotInAllowedRange the flows reported, which the rule's
 * distinct flows follow).
 */
static void device_multiples(struct web_req *r, struct evbuffer *out, json_t *rule, int64_t from,
                             int64_t to)
{
    const struct page_metric *m =
        page_metric_of_rule(json_string_value(json_object_get(rule, "rule")));
    size_t n = (size_t)((to - from) / PAGE_HOUR_MS), i;
    json_t *d;
    double *values;

    if (m == NULL || n == 0 || json_array_size(json_object_get(rule, "devices")) == 0)
        return;
    if (n > 24 * 90)
        n = 24 * 90;
    if ((values = calloc(n, sizeof(*values))) == NULL)
        fatal("out of memory");
    html_printf(out,
                "<h3>The devices farthest from the group</h3><p class=\"hint\">%s per hour "
                "over the span.</p><div class=\"split multiples\">",
                m->label);
    json_array_foreach(json_object_get(rule, "devices"), i, d)
    {
        const char *id = json_string_value(json_object_get(d, "device_id"));
        struct chart c = {.title = id, .unit = m->name, .width = 360, .height = 120};
        struct chart_series s = {.t0_ms = from, .step_ms = PAGE_HOUR_MS, .values = values, .n = n};
        if (id == NULL)
            continue;
        evbuffer_add_printf(out, "<div class=\"multiple\"><div>");
        page_put_device(out, id);
        html_printf(out,
                    " <span class=\"small muted\">p50 %lld, max %lld, %lld windows flagged"
                    "</span></div>",
                    (long long)json_integer_value(json_object_get(d, "p50")),
                    (long long)json_integer_value(json_object_get(d, "max")),
                    (long long)json_integer_value(json_object_get(d, "flagged")));
        if (page_series_load(r, out, id, m->name, from, PAGE_HOUR_MS, n, values))
            chart_series(out, &c, &s);
        evbuffer_add_printf(out, "</div>");
    }
    evbuffer_add_printf(out, "</div>");
    free(values);
}

static void put_rule(struct web_req *r, struct evbuffer *out, json_t *rule, int64_t from,
                     int64_t to)
{
    const char *name = json_string_value(json_object_get(rule, "rule"));
    json_t *cur = json_object_get(rule, "current"), *g = json_object_get(rule, "group");
    json_t *sug = json_object_get(rule, "suggested");
    static const char *const pct[] = {"p1", "p5", "p50", "p95", "p99", "max"};

    html_printf(out,
                "<div class=\"card rule\" id=\"rule-%s\"><h2 class=\"mono\">%s</h2>"
                "<p>Window %s; now %s, from %lld to %lld.</p>",
                name, name, json_string_value(json_object_get(rule, "window")),
                json_is_true(json_object_get(cur, "enabled")) ? "on" : "off",
                (long long)json_integer_value(json_object_get(cur, "min")),
                (long long)json_integer_value(json_object_get(cur, "max")));
    if (!json_is_true(json_object_get(rule, "enough_history")))
        evbuffer_add_printf(out, "<div class=\"note enough\">Not enough history: fewer than "
                                 "3 days or 30 windows a device. Take the suggestion as a hint "
                                 "only.</div>");
    evbuffer_add_printf(out, "<table><thead><tr>");
    for (size_t i = 0; i < sizeof(pct) / sizeof(pct[0]); i++)
        evbuffer_add_printf(out, "<th class=\"num\">%s</th>", pct[i]);
    evbuffer_add_printf(out, "<th class=\"num\">Zero share</th><th class=\"num\">Windows</th>"
                             "<th class=\"num\">Devices</th><th class=\"num\">Left out</th>"
                             "<th class=\"num\">Suggested min</th><th class=\"num\">Suggested max"
                             "</th><th class=\"num\">Flagged windows</th><th class=\"num\">"
                             "Flagged devices</th></tr></thead><tbody><tr>");
    for (size_t i = 0; i < sizeof(pct) / sizeof(pct[0]); i++)
        put_num(out, g, pct[i], NULL);
    put_num(out, g, "zero_share", NULL);
    put_num(out, g, "windows", NULL);
    put_num(out, g, "devices", NULL);
    put_num(out, g, "excluded_windows", NULL);
    put_num(out, sug, "min", "sug-min");
    put_num(out, sug, "max", "sug-max");
    put_num(out, sug, "flagged_windows", "sug-flagged-windows");
    put_num(out, sug, "flagged_devices", "sug-flagged-devices");
    evbuffer_add_printf(out, "</tr></tbody></table>");
    histogram_chart(out, rule);
    device_multiples(r, out, rule, from, to);
    evbuffer_add_printf(out, "</div>");
}

/* "2026-11-30T00:00:00.000Z" to ms; -1 when it is not one. */
static int64_t iso_ms(const char *s)
{
    int64_t ms;

    return s != NULL && time_parse_iso(s, &ms) ? ms : -1;
}

static void baseline_done(struct web_req *r, int status, json_t *result, const char *err,
                          void *varg)
{
    struct baseline_arg *a = varg;
    json_t *span = json_object_get(result, "span"), *rule;
    char *suggested = NULL;
    static const char *const spans[] = {"P1D", "P7D", "P30D"};
    int64_t from, to;
    struct evbuffer *out;
    size_t i;

    if (r == NULL || status != 200) {
        if (r != NULL)
            tune_failed(r, status, "baseline", err);
        json_decref(result);
        free(a);
        return;
    }
    memcpy(r->csrf, a->csrf, sizeof(r->csrf));
    from = iso_ms(json_string_value(json_object_get(span, "from")));
    to = iso_ms(json_string_value(json_object_get(span, "to")));
    out = page_open(r, a->name, "groups");
    evbuffer_add_printf(out, "<div class=\"crumbs\"><a href=\"/groups\">Security groups</a> / "
                             "<a href=\"/groups/");
    url_escape(out, a->name);
    html_printf(out,
                "\">%s</a> / baseline</div><h1>Baseline of %s</h1><p class=\"lead\">Each rule's "
                "value window by window from %s to %s (windows that overlap an alert of their "
                "device left out), and a range that would have flagged only the outliers.</p>"
                "<p>Span:",
                a->name, a->name, json_string_value(json_object_get(span, "from")),
                json_string_value(json_object_get(span, "to")));
    for (i = 0; i < sizeof(spans) / sizeof(spans[0]); i++) {
        struct page_qs q = {.out = out};
        bool on = a->span[0] ? strcmp(a->span, spans[i]) == 0 : i == 1;
        evbuffer_add_printf(out, " <a%s href=\"/groups/", on ? " class=\"on\"" : "");
        url_escape(out, a->name);
        evbuffer_add_printf(out, "/baseline");
        page_qs_add(&q, "span", spans[i]);
        if (a->to_ms >= 0)
            page_qs_add_time(&q, "to", a->to_ms);
        evbuffer_add_printf(out, "\">%s</a>", spans[i]);
    }
    evbuffer_add_printf(out, "</p>");
    /* The suggested document is the stored one with the ranges replaced: read on this loop. */
    suggested = tune_suggested_document(r->ctx->db, a->name, result);
    if (suggested != NULL && r->csrf[0] != '\0') {
        evbuffer_add_printf(out, "<form method=\"post\" action=\"/groups/");
        url_escape(out, a->name);
        html_printf(out,
                    "/preview\"><input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                    "<input type=\"hidden\" name=\"doc\" value=\"%s\">",
                    r->csrf, suggested);
        if (a->to_ms >= 0) {
            char iso[40];
            page_fmt_iso(a->to_ms, iso, sizeof(iso));
            html_printf(out, "<input type=\"hidden\" name=\"to\" value=\"%s\">", iso);
        }
        evbuffer_add_printf(out, "<p><button type=\"submit\" id=\"use\">Use these suggestions"
                                 "</button> <span class=\"hint\">opens them in the editor with "
                                 "their preview; nothing is saved until you save</span></p>"
                                 "</form>");
    } else if (suggested != NULL) {
        evbuffer_add_printf(out, "<p><a class=\"button quiet\" href=\"/login?next=/groups/");
        url_escape(out, a->name);
        evbuffer_add_printf(out, "/baseline\">Log in to use these suggestions</a></p>");
    }
    free(suggested);
    json_array_foreach(json_object_get(result, "rules"), i, rule) put_rule(r, out, rule, from, to);
    page_send(r, out, 200);
    json_decref(result);
    free(a);
}

bool page_tuning_get(struct web_req *r)
{
    struct baseline_arg *a;
    struct tune_opts o = {0};
    char err[600];
    int status;

    if ((a = calloc(1, sizeof(*a))) == NULL)
        fatal("out of memory");
    if (!tail_name(r->tail, baseline_suffix, a->name, sizeof(a->name))) {
        free(a);
        return false;
    }
    if (!group_name_valid(a->name)) {
        free(a);
        page_error(r, 404, "No such group",
                   "Group names are 1 to 128 letters, digits, dots, dashes and underscores.");
        return true;
    }
    if (!span_opts(r, &o, err, sizeof(err))) {
        free(a);
        page_error(r, 400, "Bad parameter", err);
        return true;
    }
    a->to_ms = o.to_ms;
    memcpy(a->csrf, r->csrf, sizeof(a->csrf));
    snprintf(a->span, sizeof(a->span), "%s", page_param(r, "span") ? page_param(r, "span") : "");
    o.group = a->name;
    if ((status = web_tune_submit(r, &o, NULL, baseline_done, a, err, sizeof(err))) != 0)
        baseline_done(r, status, NULL, err, a);
    return true;
}
