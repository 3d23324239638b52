/*
 * The dashboard's escaping (web/html.c) and charts (web/charts.c): every
 * character that could end a text node, an attribute or a URL component is
 * escaped, a CSV cell cannot start a spreadsheet formula, labels inside SVG
 * are escaped like any other text, and the SQL page's example queries are
 * the files of sql/examples/ verbatim.
 */
#include "../../web/page.h"
#include "check.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

/* The buffer's contents as a string (malloc'd), and the buffer emptied. */
static char *take(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);

    evbuffer_remove(b, s, n);
    s[n] = '\0';
    return s;
}

/* Run fn into a fresh buffer and compare with want. */
#define OUT_IS(call, want)                                                                         \
    do {                                                                                           \
        struct evbuffer *b_ = evbuffer_new();                                                      \
        char *got_;                                                                                \
        call;                                                                                      \
        got_ = take(b_);                                                                           \
        CHECK_STR(got_, want);                                                                     \
        free(got_);                                                                                \
        evbuffer_free(b_);                                                                         \
    } while (0)

static void html_escape_replaces_the_five_characters(void)
{
    OUT_IS(html_escape(b_, "<img src=x onerror=alert(1)>"), "&lt;img src=x onerror=alert(1)&gt;");
    OUT_IS(html_escape(b_, "a & b \"c\" 'd'"), "a &amp; b &quot;c&quot; &#39;d&#39;");
    OUT_IS(html_escape(b_, "&amp;"), "&amp;amp;");
    OUT_IS(html_escape(b_, "plain text, caf\xc3\xa9"), "plain text, caf\xc3\xa9");
    OUT_IS(html_escape(b_, ""), "");
    OUT_IS(html_escape(b_, NULL), "");
}

static void html_printf_escapes_strings_only(void)
{
    OUT_IS(html_printf(b_, "<td>%s</td>", "<script>"), "<td>&lt;script&gt;</td>");
    OUT_IS(html_printf(b_, "<a href=\"/x/%s\">%d</a>", "\"onclick=", 42),
           "<a href=\"/x/&quot;onclick=\">42</a>");
    OUT_IS(html_printf(b_, "%lld|%zu|%u|%x|%05.1f|%%|%ld", -5LL, (size_t)7, 3u, 255u, 2.25, 9L),
           "-5|7|3|ff|002.2|%|9");
    OUT_IS(html_printf(b_, "%.3s|%.*s", "a<bcd", 2, "<<<"), "a&lt;b|&lt;&lt;");
    OUT_IS(html_printf(b_, "[%5s][%-4s]", "<", "ab"), "[    &lt;][ab  ]");
    OUT_IS(html_printf(b_, "%c%c", '<', 'x'), "&lt;x");
    /* A NULL string prints nothing (a NULL column); hidden from the compiler's own check. */
    const char *volatile none = NULL;
    OUT_IS(html_printf(b_, "%s and %s", none, "&"), " and &amp;");
    OUT_IS(html_printf(b_, "%*d|%-*d|", 4, 7, 3, 1), "   7|1  |");
    OUT_IS(html_printf(b_, "no conversions"), "no conversions");
}

static void html_printf_escapes_long_strings_whole(void)
{
    char big[1000], want[5000];
    size_t k = 0;

    for (size_t i = 0; i < sizeof(big) - 1; i++)
        big[i] = i % 3 == 0 ? '<' : 'a';
    big[sizeof(big) - 1] = '\0';
    for (size_t i = 0; i < sizeof(big) - 1; i++) {
        if (big[i] == '<') {
            memcpy(want + k, "&lt;", 4);
            k += 4;
        } else {
            want[k++] = big[i];
        }
    }
    want[k] = '\0';
    OUT_IS(html_printf(b_, "%s", big), want);
}

static void url_escape_keeps_only_unreserved(void)
{
    OUT_IS(url_escape(b_, "sim-0001_a.b~c"), "sim-0001_a.b~c");
    OUT_IS(url_escape(b_, "<img src=x onerror=alert(1)>"),
           "%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E");
    OUT_IS(url_escape(b_, "a/b?c#d&e%f+g\"h'i"), "a%2Fb%3Fc%23d%26e%25f%2Bg%22h%27i");
    OUT_IS(url_escape(b_, "caf\xc3\xa9"), "caf%C3%A9");
    OUT_IS(url_escape(b_, NULL), "");
}

static void csv_cell_quotes_and_neutralises_formulas(void)
{
    OUT_IS(csv_cell(b_, "sim-0001"), "\"sim-0001\"");
    OUT_IS(csv_cell(b_, "say \"hi\", twice"), "\"say \"\"hi\"\", twice\"");
    OUT_IS(csv_cell(b_, "=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
    OUT_IS(csv_cell(b_, "+1"), "\"'+1\"");
    OUT_IS(csv_cell(b_, "-2+3"), "\"'-2+3\"");
    OUT_IS(csv_cell(b_, "@SUM(A1)"), "\"'@SUM(A1)\"");
    OUT_IS(csv_cell(b_, "\t=1"), "\"'\t=1\"");
    OUT_IS(csv_cell(b_, "\r=1"), "\"'\r=1\"");
    OUT_IS(csv_cell(b_, "a=b"), "\"a=b\"");
    OUT_IS(csv_cell(b_, "line\nbreak"), "\"line\nbreak\"");
    OUT_IS(csv_cell(b_, ""), "\"\"");
    OUT_IS(csv_cell(b_, NULL), "");
}

/* As the JSON answers do: a NUL is escaped and what follows it is kept. */
static void csv_cell_keeps_what_follows_a_nul(void)
{
    OUT_IS(csv_cell_n(b_, "a\0b", 3), "\"a\\u0000b\"");
    OUT_IS(csv_cell_n(b_, "\0\"x\0", 4), "\"\\u0000\"\"x\\u0000\"");
    OUT_IS(csv_cell_n(b_, "=1\0=2", 5), "\"'=1\\u0000=2\"");
    OUT_IS(csv_cell_n(b_, "", 0), "\"\"");
}

static size_t count(const char *s, const char *what)
{
    size_t n = 0;

    for (const char *p = s; (p = strstr(p, what)) != NULL; p += strlen(what))
        n++;
    return n;
}

/* Every "<" in s opens or closes one of the elements a chart may contain. */
static bool only_chart_elements(const char *s)
{
    static const char *const ok[] = {"svg ", "/svg>", "title>", "/title>", "line ", "/line>",
                                     "text ", "/text>", "rect ", "/rect>", "a ", "/a>"};

    for (const char *p = strchr(s, '<'); p != NULL; p = strchr(p + 1, '<')) {
        bool known = false;
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
            known = known || strncmp(p + 1, ok[i], strlen(ok[i])) == 0;
        if (!known) {
            fprintf(stderr, "  unexpected markup: %.40s\n", p);
            return false;
        }
    }
    return true;
}

static void chart_bars_escape_labels_and_links(void)
{
    struct evbuffer *b = evbuffer_new();
    struct chart c = {"Alerts <per> day", "alerts & more", 600, 200};
    struct chart_bar bars[] = {
        {"<script>", "tip \"quoted\"", "/alerts?since=a&until=b", 3},
        {NULL, NULL, NULL, 0},
        {"ok", NULL, "\"><script>alert(1)</script>", 12},
    };
    char *s;

    chart_bars(b, &c, bars, 3);
    s = take(b);
    CHECK(only_chart_elements(s));
    CHECK(strstr(s, "&lt;script&gt;") != NULL);
    CHECK(strstr(s, "<script") == NULL);
    CHECK(strstr(s, "Alerts &lt;per&gt; day") != NULL);
    CHECK(strstr(s, "tip &quot;quoted&quot;: 3 alerts &amp; more") != NULL);
    CHECK(strstr(s, "href=\"/alerts?since=a&amp;until=b\"") != NULL);
    CHECK(strstr(s, "href=\"&quot;&gt;&lt;script&gt;") != NULL);
    CHECK_INT(count(s, "<rect class=\"bar\""), 3);
    CHECK_INT(count(s, "<a "), 2); /* a bar of 0 is not a link */
    CHECK_INT(count(s, "<svg"), 1);
    CHECK_INT(count(s, "</svg>"), 1);
    CHECK_INT(count(s, "<text"), count(s, "</text>"));
    /* The value axis reaches a round number at or above the largest bar. */
    CHECK(strstr(s, ">15</text>") != NULL || strstr(s, ">20</text>") != NULL);
    free(s);
    evbuffer_free(b);
}

static void chart_series_draws_time_axis_band_and_limits(void)
{
    struct evbuffer *b = evbuffer_new();
    struct chart c = {"D2C <messages>", "<msgs>", 1200, 220};
    double v[12] = {0, 1, 2, 150, 4, 0, 0, 0, 0, 0, 0, 7};
    /* 2026-11-29T10:00:00Z, one bar a minute. */
    struct chart_series s = {.t0_ms = 1795946400000LL, .step_ms = 60000, .values = v, .n = 12};
    char *out;

    s.band_from_ms = s.t0_ms + 3 * 60000;
    s.band_to_ms = s.t0_ms + 4 * 60000;
    s.has_max = true;
    s.max = 100;
    s.has_min = true;
    s.min = 1;
    chart_series(b, &c, &s);
    out = take(b);
    CHECK(only_chart_elements(out));
    CHECK(strstr(out, "D2C &lt;messages&gt;") != NULL);
    CHECK(strstr(out, "2026-11-29 10:03:00: 150 &lt;msgs&gt;") != NULL);
    CHECK_INT(count(out, "<rect class=\"bar\""), 12);
    CHECK_INT(count(out, "<rect class=\"band\""), 1);
    CHECK_INT(count(out, "class=\"lim\""), 2);
    CHECK(strstr(out, ">10:02</text>") != NULL); /* a tick every 2 minutes over 12 */
    CHECK(strstr(out, ">150</text>") != NULL);   /* ticks of 50 up to the largest bar */
    free(out);

    /* No values at all: an empty frame, still well formed. */
    s.n = 0;
    s.has_max = s.has_min = false;
    s.band_from_ms = s.band_to_ms = 0;
    chart_series(b, &c, &s);
    out = take(b);
    CHECK(only_chart_elements(out));
    CHECK_INT(count(out, "<rect"), 0);
    CHECK_INT(count(out, "</svg>"), 1);
    free(out);
    evbuffer_free(b);
}

static void html_begin_escapes_title_and_token(void)
{
    struct web_req r;
    struct evbuffer *b = evbuffer_new();
    char *s;

    memset(&r, 0, sizeof(r));
    html_begin(&r, b, "<img src=x onerror=alert(1)>", "devices");
    html_end(b);
    s = take(b);
    CHECK(strstr(s, "<title>&lt;img src=x onerror=alert(1)&gt; \xc2\xb7 Warden</title>") != NULL);
    CHECK(strstr(s, "<a href=\"/devices\" class=\"on\">Devices</a>") != NULL);
    CHECK(strstr(s, "href=\"/login\"") != NULL);
    CHECK(strstr(s, "/logout") == NULL);
    CHECK(strstr(s, "<script") == NULL); /* the pages need no script */
    CHECK(strstr(s, "http://") == NULL && strstr(s, "https://") == NULL);
    free(s);

    /* Logged in: a logout form carrying the CSRF token, as an escaped attribute. */
    snprintf(r.csrf, sizeof(r.csrf), "tok\"en");
    html_begin(&r, b, "Overview", "overview");
    s = take(b);
    CHECK(strstr(s, "action=\"/logout\"") != NULL);
    CHECK(strstr(s, "name=\"csrf\" value=\"tok&quot;en\"") != NULL);
    free(s);
    evbuffer_free(b);
}


static void sql_examples_match_the_files(void)
{
    const char *dir = "sql/examples";
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t files = 0, entries = 0;

    CHECK(d != NULL); /* tests run from the repository's top directory */
    while (d != NULL && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        const struct web_sql_example *x;
        char path[512];
        char *text;

        if (n < 5 || strcmp(e->d_name + n - 4, ".sql") != 0)
            continue;
        files++;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        size_t len;
        text = slurp(path, &len);
        for (x = web_sql_examples; x->file != NULL; x++)
            if (strcmp(x->file, e->d_name) == 0)
                break;
        if (x->file == NULL)
            fprintf(stderr, "  %s is not in web_sql_examples (web/page_sql.c)\n", path);
        CHECK(x->file != NULL);
        if (x->file != NULL && text != NULL && strcmp(x->sql, text) != 0)
            fprintf(stderr, "  %s differs from its copy in web/page_sql.c\n", path);
        CHECK(x->file != NULL && text != NULL && strcmp(x->sql, text) == 0);
        free(text);
    }
    if (d != NULL)
        closedir(d);
    for (const struct web_sql_example *x = web_sql_examples; x->file != NULL; x++) {
        entries++;
        CHECK(x->title != NULL && x->title[0] != '\0');
    }
    CHECK(files > 0);
    CHECK_INT(entries, files); /* and no entry without its file */
}

int main(void)
{
    RUN(html_escape_replaces_the_five_characters);
    RUN(html_printf_escapes_strings_only);
    RUN(html_printf_escapes_long_strings_whole);
    RUN(url_escape_keeps_only_unreserved);
    RUN(csv_cell_quotes_and_neutralises_formulas);
    RUN(csv_cell_keeps_what_follows_a_nul);
    RUN(chart_bars_escape_labels_and_links);
    RUN(chart_series_draws_time_axis_band_and_limits);
    RUN(html_begin_escapes_title_and_token);
    RUN(sql_examples_match_the_files);
    return CHECK_DONE();
}
