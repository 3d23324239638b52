/*
 * web/html.h: what the pages write HTML with, on the core's floor (the core
 * writes its error pages with it): escaping for text, attributes, URLs and
 * CSV cells (html.c), the page frame with its navigation (html.c), and SVG
 * charts (charts.c). They call nothing else in web/.
 */
#ifndef WARDEN_WEB_HTML_H
#define WARDEN_WEB_HTML_H

#include "core.h"

/* Text for HTML text and attribute values: & < > " ' escaped. NULL prints nothing. */
void html_escape(struct evbuffer *out, const char *s);
/* printf into out where every %s argument is escaped (other conversions as printf). */
void html_printf(struct evbuffer *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * A CSV cell of s[0..n): quoted, quotes doubled, a NUL written as \u0000, and
 * a leading = + - @ TAB CR neutralised (formula injection). NULL writes nothing.
 */
void csv_cell_n(struct evbuffer *out, const char *s, size_t n);
/* The same of a NUL-terminated string. */
void csv_cell(struct evbuffer *out, const char *s);
/* The page frame: doctype, inline CSS, navigation (active = "alerts", ...), and its end. */
void html_begin(struct web_req *r, struct evbuffer *out, const char *title, const char *active);
void html_end(struct evbuffer *out);

/*
 * Percent-encode s for one URL path segment or query value: everything but
 * A-Z a-z 0-9 - . _ ~ becomes %XX, so the result is safe in an attribute too.
 */
void url_escape(struct evbuffer *out, const char *s);

/*
 * SVG charts drawn by Warden: axes, labels and bars, numbers only, every
 * label escaped. The chart scales to the width of its container; width and
 * height set its proportions (the viewBox).
 */
struct chart {
    const char *title; /* accessible name of the chart */
    const char *unit;  /* what a value counts ("alerts"), for the hover text */
    int width, height;
};

/* One bar of a bar chart with a label under it (NULL: no label), maybe a link. */
struct chart_bar {
    const char *label;
    const char *tip;  /* hover text; NULL: the label */
    const char *href; /* URL (its parts already url_escape'd), or NULL */
    double value;
};
void chart_bars(struct evbuffer *out, const struct chart *c, const struct chart_bar *bars,
                size_t n);

/*
 * A time series: values[i] covers [t0_ms + i * step_ms, t0_ms + (i + 1) * step_ms),
 * drawn as bars over a UTC time axis. band_from_ms < band_to_ms shades that
 * span (an alert's window); has_min / has_max draw dashed limit lines.
 */
struct chart_series {
    int64_t t0_ms, step_ms;
    const double *values;
    size_t n;
    int64_t band_from_ms, band_to_ms;
    bool has_min, has_max;
    double min, max;
};
void chart_series(struct evbuffer *out, const struct chart *c, const struct chart_series *s);

#endif
