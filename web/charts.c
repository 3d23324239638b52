/*
 * web/charts.c: the dashboard's charts, drawn by Warden as inline SVG (no
 * script, no external library): a value axis with round ticks, bars, and
 * labels. Everything written is a number computed here or a label passed
 * through html_escape, so a device-supplied label cannot become markup.
 * On the core's floor (html.h); calls only html.c.
 */
#include "html.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Margins of the plot inside the viewBox: room for the value labels and the x labels. */
#define M_LEFT   48
#define M_RIGHT  12
#define M_TOP    12
#define M_BOTTOM 24

struct frame {
    double x0, y0, w, h; /* the plot area */
    double top;          /* the value at the top of the plot */
};

/* A round step for about four ticks up to max: 1, 2 or 5 times a power of ten, at least 1. */
static double nice_step(double max)
{
    double raw = max / 4, mag, norm;

    if (raw <= 1)
        return 1;
    mag = pow(10, floor(log10(raw)));
    norm = raw / mag;
    return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

/* A compact number for an axis: 950, 2.5k, 12k, 1.2M. */
static void fmt_num(double v, char *buf, size_t len)
{
    double a = fabs(v);

    if (a >= 1e6)
        snprintf(buf, len, "%.3gM", v / 1e6);
    else if (a >= 1e4)
        snprintf(buf, len, "%.0fk", v / 1e3);
    else if (a >= 1e3)
        snprintf(buf, len, "%.3gk", v / 1e3);
    else if (v == floor(v))
        snprintf(buf, len, "%.0f", v);
    else
        snprintf(buf, len, "%.3g", v);
}

/* The opening tag, the value grid and its labels. */
static void frame_begin(struct evbuffer *out, const struct chart *c, double max, struct frame *f)
{
    double step = nice_step(max > 0 ? max : 1);
    char num[32];

    f->x0 = M_LEFT;
    f->y0 = M_TOP;
    f->w = c->width - M_LEFT - M_RIGHT;
    f->h = c->height - M_TOP - M_BOTTOM;
    f->top = step * ceil((max > 0 ? max : 1) / step);
    html_printf(out,
                "<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\" "
                "xmlns=\"http://www.w3.org/2000/svg\"><title>%s</title>",
                c->width, c->height, c->title, c->title);
    for (double v = 0; v <= f->top + step / 2; v += step) {
        double y = f->y0 + f->h - v / f->top * f->h;
        fmt_num(v, num, sizeof(num));
        evbuffer_add_printf(out,
                            "<line class=\"%s\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
                            v == 0 ? "axis" : "grid", f->x0, f->x0 + f->w, y, y, f->x0 - 6,
                            y + 4, num);
    }
}

/* One bar at slot i of n, with its hover text; value v. */
static void bar(struct evbuffer *out, const struct frame *f, size_t i, size_t n, double v,
                const char *tip, const char *unit)
{
    double slot = f->w / (double)n, bw = slot * 0.72 < 1 ? 1 : slot * 0.72;
    double x = f->x0 + slot * (double)i + (slot - bw) / 2;
    double bh = v > 0 ? v / f->top * f->h : 0;
    char num[32];

    /* A value above zero stays visible however small it is against the top. */
    if (v > 0 && bh < 1.5)
        bh = 1.5;
    fmt_num(v, num, sizeof(num));
    html_printf(out,
                "<rect class=\"bar\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\">"
                "<title>%s: %s %s</title></rect>",
                x, f->y0 + f->h - bh, bw, bh, tip ? tip : "", num, unit ? unit : "");
}

static double max_of(const double *v, size_t n)
{
    double m = 0;

    for (size_t i = 0; i < n; i++)
        if (v[i] > m)
            m = v[i];
    return m;
}

void chart_bars(struct evbuffer *out, const struct chart *c, const struct chart_bar *bars, size_t n)
{
    struct frame f;
    double max = 0;

    for (size_t i = 0; i < n; i++)
        if (bars[i].value > max)
            max = bars[i].value;
    frame_begin(out, c, max, &f);
    for (size_t i = 0; i < n && n > 0; i++) {
        const struct chart_bar *b = &bars[i];
        double cx = f.x0 + f.w / (double)n * ((double)i + 0.5);

        if (b->href != NULL && b->value > 0)
            html_printf(out, "<a href=\"%s\">", b->href);
        bar(out, &f, i, n, b->value, b->tip ? b->tip : b->label, c->unit);
        if (b->href != NULL && b->value > 0)
            evbuffer_add_printf(out, "</a>");
        if (b->label != NULL)
            html_printf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>", cx,
                        c->height - 7, b->label);
    }
    evbuffer_add_printf(out, "</svg>");
}

/* The interval between time labels: the shortest of these giving at most 7 labels. */
static int64_t time_tick(int64_t span_ms)
{
    static const int64_t ticks[] = {
        10000,    30000,    60000,     120000,    300000,    600000,    900000,     1800000,
        3600000,  7200000,  10800000,  21600000,  43200000,  86400000,  172800000,  604800000,
    };
    for (size_t i = 0; i < sizeof(ticks) / sizeof(ticks[0]); i++)
        if (span_ms / ticks[i] <= 7)
            return ticks[i];
    return span_ms / 7 + 1;
}

/* UTC time text for a label or a hover, as much of it as the tick size calls for. */
enum time_style { T_FULL, T_DAY, T_MINUTE, T_SECOND };

static void fmt_time(int64_t ms, enum time_style style, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    switch (style) {
    case T_FULL:
        snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        break;
    case T_DAY: snprintf(buf, len, "%02d-%02d", tm.tm_mon + 1, tm.tm_mday); break;
    case T_MINUTE: snprintf(buf, len, "%02d:%02d", tm.tm_hour, tm.tm_min); break;
    case T_SECOND: snprintf(buf, len, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec); break;
    }
}

static double time_x(const struct frame *f, const struct chart_series *s, int64_t t)
{
    double span = (double)s->step_ms * (double)s->n;
    double x = f->x0 + (double)(t - s->t0_ms) / span * f->w;

    return x < f->x0 ? f->x0 : x > f->x0 + f->w ? f->x0 + f->w : x;
}

static void limit_line(struct evbuffer *out, const struct frame *f, double v, const char *what)
{
    double y = f->y0 + f->h - v / f->top * f->h;
    char num[32];

    fmt_num(v, num, sizeof(num));
    evbuffer_add_printf(out,
                        "<line class=\"lim\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\">"
                        "<title>%s %s</title></line>",
                        f->x0, f->x0 + f->w, y, y, what, num);
}

void chart_series(struct evbuffer *out, const struct chart *c, const struct chart_series *s)
{
    struct frame f;
    double max = max_of(s->values, s->n);
    int64_t span = s->step_ms * (int64_t)s->n, tick;
    char when[64], label[32];

    if (s->has_max && s->max > max)
        max = s->max;
    frame_begin(out, c, max, &f);
    if (s->n == 0 || s->step_ms <= 0) {
        evbuffer_add_printf(out, "</svg>");
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        fmt_time(s->t0_ms + (int64_t)i * s->step_ms, T_FULL, when, sizeof(when));
        bar(out, &f, i, s->n, s->values[i], when, c->unit);
    }
    /* Over the bars, translucent, so the bars inside the span show tinted. */
    if (s->band_from_ms < s->band_to_ms) {
        double x1 = time_x(&f, s, s->band_from_ms), x2 = time_x(&f, s, s->band_to_ms);
        evbuffer_add_printf(out,
                            "<rect class=\"band\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                            "height=\"%.1f\"/>",
                            x1, f.y0, x2 - x1 > 2 ? x2 - x1 : 2, f.h);
    }
    if (s->has_max)
        limit_line(out, &f, s->max, "maximum allowed:");
    if (s->has_min && s->min > 0)
        limit_line(out, &f, s->min, "minimum allowed:");
    tick = time_tick(span);
    for (int64_t t = (s->t0_ms / tick + 1) * tick; t < s->t0_ms + span; t += tick) {
        double x = time_x(&f, s, t);
        fmt_time(t, tick >= 86400000 ? T_DAY : tick < 60000 ? T_SECOND : T_MINUTE, label,
                 sizeof(label));
        evbuffer_add_printf(out,
                            "<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                            "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>",
                            x, x, f.y0 + f.h, f.y0 + f.h + 4, x, c->height - 7, label);
    }
    evbuffer_add_printf(out, "</svg>");
}
