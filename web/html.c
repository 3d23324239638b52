/*
 * web/html.c: escaping for every place a stored string can land (HTML text
 * and attributes, URLs, CSV cells) and the frame every page shares. Every
 * string that came from a device or a record is untrusted, so the pages
 * write them only through these functions. On the core's floor (html.h);
 * calls nothing else in web/.
 */
#include "html.h"

#include <stdio.h>
#include <string.h>

void html_escape(struct evbuffer *out, const char *s)
{
    const char *run = s;

    if (s == NULL)
        return;
    for (; *s != '\0'; s++) {
        const char *rep;

        switch (*s) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: continue;
        }
        evbuffer_add(out, run, (size_t)(s - run));
        evbuffer_add(out, rep, strlen(rep));
        run = s + 1;
    }
    evbuffer_add(out, run, (size_t)(s - run));
}

/* Escape at most n bytes of s, padded with spaces to width (left when left). */
static void escape_padded(struct evbuffer *out, const char *s, size_t n, int width, bool left)
{
    char buf[256];
    size_t len = s ? strnlen(s, n) : 0;
    int pad = width > (int)len ? width - (int)len : 0;

    if (!left)
        for (int i = 0; i < pad; i++)
            evbuffer_add(out, " ", 1);
    /* Copy in pieces so that a precision shorter than the string is honoured. */
    for (size_t done = 0; done < len;) {
        size_t k = len - done < sizeof(buf) - 1 ? len - done : sizeof(buf) - 1;
        memcpy(buf, s + done, k);
        buf[k] = '\0';
        html_escape(out, buf);
        done += k;
    }
    if (left)
        for (int i = 0; i < pad; i++)
            evbuffer_add(out, " ", 1);
}

/* A parsed printf conversion: "%-08.3lld" is flags "-0", width 8, prec 3, len "ll", conv 'd'. */
struct conv {
    char flags[8];
    int width, prec; /* -1: absent */
    char len[3];
    char conv;
};

static int take_int(const char **p)
{
    int v = 0;

    while (**p >= '0' && **p <= '9' && v < 100000)
        v = v * 10 + (*(*p)++ - '0');
    return v;
}

/* Rebuild the conversion with * resolved, for the system printf. */
static void conv_spec(const struct conv *c, char *spec, size_t len)
{
    char w[16] = "", p[16] = "";

    if (c->width >= 0)
        snprintf(w, sizeof(w), "%d", c->width);
    if (c->prec >= 0)
        snprintf(p, sizeof(p), ".%d", c->prec);
    snprintf(spec, len, "%%%s%s%s%s%c", c->flags, w, p, c->len, c->conv);
}

/*
 * The numeric conversions go to the system printf with a format built at run
 * time from the caller's literal format (checked by the compiler at the call
 * of html_printf), so the non-literal format warning does not apply here.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void add_signed(struct evbuffer *out, const char *spec, long long v)
{
    evbuffer_add_printf(out, spec, v);
}

static void add_unsigned(struct evbuffer *out, const char *spec, unsigned long long v)
{
    evbuffer_add_printf(out, spec, v);
}

static void add_double(struct evbuffer *out, const char *spec, double v)
{
    evbuffer_add_printf(out, spec, v);
}

static void add_pointer(struct evbuffer *out, const char *spec, void *v)
{
    evbuffer_add_printf(out, spec, v);
}
#pragma GCC diagnostic pop

/* Parse the conversion at *p (just after '%'); * values are read from ap. */
static void conv_parse(const char **p, struct conv *c, va_list *ap)
{
    size_t nf = 0;

    memset(c, 0, sizeof(*c));
    while (**p != '\0' && strchr("-+ #0", **p) != NULL && nf < sizeof(c->flags) - 1)
        c->flags[nf++] = *(*p)++;
    c->width = -1;
    if (**p == '*') {
        (*p)++;
        c->width = va_arg(*ap, int);
        if (c->width < 0) {
            c->width = -c->width;
            if (nf < sizeof(c->flags) - 1)
                c->flags[nf++] = '-';
        }
    } else if (**p >= '0' && **p <= '9') {
        c->width = take_int(p);
    }
    c->prec = -1;
    if (**p == '.') {
        (*p)++;
        if (**p == '*') {
            (*p)++;
            c->prec = va_arg(*ap, int);
        } else {
            c->prec = take_int(p);
        }
    }
    for (size_t nl = 0; nl < 2 && **p != '\0' && strchr("hljztL", **p) != NULL; nl++)
        c->len[nl] = *(*p)++;
    c->conv = *(*p)++;
}

static long long signed_arg(const struct conv *c, va_list *ap)
{
    if (strcmp(c->len, "ll") == 0)
        return va_arg(*ap, long long);
    if (strcmp(c->len, "l") == 0)
        return va_arg(*ap, long);
    if (strcmp(c->len, "z") == 0 || strcmp(c->len, "t") == 0)
        return (long long)va_arg(*ap, ptrdiff_t);
    if (strcmp(c->len, "j") == 0)
        return (long long)va_arg(*ap, intmax_t);
    return va_arg(*ap, int); /* hh and h arrive promoted to int */
}

static unsigned long long unsigned_arg(const struct conv *c, va_list *ap)
{
    if (strcmp(c->len, "ll") == 0)
        return va_arg(*ap, unsigned long long);
    if (strcmp(c->len, "l") == 0)
        return va_arg(*ap, unsigned long);
    if (strcmp(c->len, "z") == 0 || strcmp(c->len, "t") == 0)
        return va_arg(*ap, size_t);
    if (strcmp(c->len, "j") == 0)
        return (unsigned long long)va_arg(*ap, uintmax_t);
    return va_arg(*ap, unsigned int);
}

/* Write one conversion; the length modifier is normalised to what the argument was read as. */
static void conv_write(struct evbuffer *out, struct conv *c, va_list *ap)
{
    char spec[48], ch[2];

    switch (c->conv) {
    case 's':
        escape_padded(out, va_arg(*ap, const char *), c->prec >= 0 ? (size_t)c->prec : SIZE_MAX,
                      c->width, strchr(c->flags, '-') != NULL);
        return;
    case 'c':
        ch[0] = (char)va_arg(*ap, int);
        ch[1] = '\0';
        escape_padded(out, ch, 1, c->width, strchr(c->flags, '-') != NULL);
        return;
    case '%': evbuffer_add(out, "%", 1); return;
    case 'd':
    case 'i': {
        long long v = signed_arg(c, ap);
        memcpy(c->len, "ll", 3);
        conv_spec(c, spec, sizeof(spec));
        add_signed(out, spec, v);
        return;
    }
    case 'u':
    case 'x':
    case 'X':
    case 'o': {
        unsigned long long v = unsigned_arg(c, ap);
        memcpy(c->len, "ll", 3);
        conv_spec(c, spec, sizeof(spec));
        add_unsigned(out, spec, v);
        return;
    }
    case 'f':
    case 'F':
    case 'e':
    case 'E':
    case 'g':
    case 'G':
    case 'a':
    case 'A': {
        /* long double (L) is not used by the pages; it would need its own reader. */
        WARDEN_ASSERT(c->len[0] == '\0' || strcmp(c->len, "l") == 0);
        double v = va_arg(*ap, double);
        c->len[0] = '\0';
        conv_spec(c, spec, sizeof(spec));
        add_double(out, spec, v);
        return;
    }
    case 'p': {
        void *v = va_arg(*ap, void *);
        conv_spec(c, spec, sizeof(spec));
        add_pointer(out, spec, v);
        return;
    }
    default:
        /* %n and anything unknown: a programming error in a literal format. */
        WARDEN_ASSERT(!"html_printf: unsupported conversion");
    }
}

void html_printf(struct evbuffer *out, const char *fmt, ...)
{
    va_list ap;
    const char *p = fmt;

    va_start(ap, fmt);
    while (*p != '\0') {
        const char *pct = strchr(p, '%');
        struct conv c;

        if (pct == NULL) {
            evbuffer_add(out, p, strlen(p));
            break;
        }
        evbuffer_add(out, p, (size_t)(pct - p));
        p = pct + 1;
        conv_parse(&p, &c, &ap);
        conv_write(out, &c, &ap);
    }
    va_end(ap);
}

void url_escape(struct evbuffer *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    if (s == NULL)
        return;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            evbuffer_add(out, p, 1);
        } else {
            char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            evbuffer_add(out, enc, 3);
        }
    }
}

/*
 * A spreadsheet reads a cell that starts with = + - @ (or a tab or carriage
 * return before them) as a formula, so a device id such as
 * "=HYPERLINK(...)" would run in the analyst's spreadsheet. Such a cell is
 * prefixed with an apostrophe, which spreadsheets take as "this is text".
 * A NUL is written as \u0000, the way the JSON answers spell it: as a byte
 * it would end the value for many readers, and the rest would be lost.
 */
void csv_cell_n(struct evbuffer *out, const char *s, size_t n)
{
    size_t run = 0;

    if (s == NULL)
        return;
    evbuffer_add(out, "\"", 1);
    if (n > 0 && s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL)
        evbuffer_add(out, "'", 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') {
            evbuffer_add(out, s + run, i - run + 1);
            evbuffer_add(out, "\"", 1);
            run = i + 1;
        } else if (s[i] == '\0') {
            evbuffer_add(out, s + run, i - run);
            evbuffer_add(out, "\\u0000", 6);
            run = i + 1;
        }
    }
    evbuffer_add(out, s + run, n - run);
    evbuffer_add(out, "\"", 1);
}

void csv_cell(struct evbuffer *out, const char *s)
{
    if (s != NULL)
        csv_cell_n(out, s, strlen(s));
}

/* ---- the page frame ------------------------------------------------------------------------ */

/*
 * One style sheet for every page, inline because the pages load nothing
 * from anywhere (the lab may have no internet, and the CSP allows only
 * inline styles and same-origin files). System fonts only.
 */
static const char page_css[] =
    ":root{--bg:#f3f5f8;--card:#fff;--ink:#1b2430;--muted:#5d6b7b;--line:#dfe4ea;"
    "--soft:#eef1f5;--accent:#1f5fbf;--nav:#162238;--high:#b42318;--medium:#b54708;"
    "--low:#175cd3;--ok:#067647}"
    "*{box-sizing:border-box}"
    "html{-webkit-text-size-adjust:100%}"
    "body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',"
    "'DejaVu Sans',sans-serif;color:var(--ink);background:var(--bg)}"
    "a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}"
    "header{background:var(--nav);color:#fff}"
    "header .in{max-width:1320px;margin:0 auto;padding:0 24px;display:flex;align-items:center;"
    "gap:28px;height:50px}"
    ".brand{color:#fff;font-weight:700;font-size:17px;letter-spacing:.2px;display:flex;"
    "align-items:center;gap:8px}.brand:hover{text-decoration:none}"
    ".brand svg{display:block}"
    "nav{display:flex;gap:2px;flex:1;height:100%}"
    "nav a{color:#c3cede;padding:0 11px;display:flex;align-items:center;"
    "border-bottom:3px solid transparent;border-top:3px solid transparent}"
    "nav a:hover{color:#fff;text-decoration:none}"
    "nav a.on{color:#fff;border-bottom-color:#6aa5ff}"
    ".who{display:flex;align-items:center;gap:10px;color:#c3cede;font-size:13px}"
    ".who a{color:#c3cede}"
    ".who button{background:transparent;border:1px solid #4a5a78;color:#dbe3ee;border-radius:5px;"
    "padding:3px 10px;cursor:pointer;font:inherit}"
    "main{max-width:1320px;margin:0 auto;padding:22px 24px 40px}"
    "h1{font-size:22px;margin:0 0 4px;font-weight:650}"
    "h2{font-size:15px;margin:0 0 2px;font-weight:650}"
    "h3{font-size:13px;margin:14px 0 6px;color:var(--muted);text-transform:uppercase;"
    "letter-spacing:.05em}"
    ".lead{color:var(--muted);margin:0 0 18px;max-width:900px}"
    ".hint{color:var(--muted);margin:0 0 10px;font-size:13px}"
    ".crumbs{font-size:13px;color:var(--muted);margin-bottom:6px}"
    ".card{background:var(--card);border:1px solid var(--line);border-radius:8px;"
    "padding:16px 18px;margin-bottom:18px;min-width:0}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:18px;"
    "margin-bottom:18px}.grid>.card{margin-bottom:0}"
    ".tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:14px;"
    "margin-bottom:18px}"
    ".tile{background:var(--card);border:1px solid var(--line);border-radius:8px;"
    "padding:12px 16px;color:var(--ink);border-left:4px solid var(--line)}"
    ".tile:hover{text-decoration:none;border-color:#b8c3d1}"
    ".tile .n{font-size:28px;font-weight:650;line-height:1.2;font-variant-numeric:tabular-nums}"
    ".tile .l{color:var(--muted);font-size:13px}"
    ".tile.High{border-left-color:var(--high)}.tile.High .n{color:var(--high)}"
    ".tile.Medium{border-left-color:#f79009}.tile.Medium .n{color:var(--medium)}"
    ".tile.Low{border-left-color:#53b1fd}.tile.Low .n{color:var(--low)}"
    ".tile.okay{border-left-color:#32d583}"
    "table{width:100%;border-collapse:collapse}"
    "th{text-align:left;font-weight:600;color:var(--muted);font-size:12px;"
    "border-bottom:1px solid var(--line);padding:6px 8px;white-space:nowrap}"
    "td{padding:6px 8px;border-bottom:1px solid var(--soft);vertical-align:top;"
    "overflow-wrap:anywhere}"
    "tbody tr:hover td{background:#f8fafc}"
    "td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "td.t{white-space:nowrap;color:#344054;font-variant-numeric:tabular-nums}"
    "table.kv th{width:200px;text-transform:none;font-size:13px;vertical-align:top;"
    "border-bottom:1px solid var(--soft);padding:6px 8px}"
    ".badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;"
    "font-weight:600;white-space:nowrap;background:var(--soft);color:#344054}"
    ".b-High{background:#fee4e2;color:var(--high)}.b-Medium{background:#fef0c7;color:var(--medium)}"
    ".b-Low{background:#d1e9ff;color:var(--low)}.b-Informational{background:var(--soft)}"
    ".b-Active{background:#fee4e2;color:var(--high)}.b-Dismissed{background:var(--soft);"
    "color:var(--muted)}.b-Resolved{background:#dcfae6;color:var(--ok)}"
    ".b-ok{background:#dcfae6;color:var(--ok)}.b-bad{background:#fee4e2;color:var(--high)}"
    ".b-warn{background:#fef0c7;color:var(--medium)}"
    ".mono,code,pre,textarea{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,"
    "monospace;font-size:13px}"
    "h1.mono{font-size:21px}code{background:var(--soft);padding:1px 4px;border-radius:4px}"
    "pre{background:#f8fafc;border:1px solid var(--line);border-radius:6px;padding:10px;"
    "overflow:auto;white-space:pre-wrap;margin:0}"
    ".muted{color:var(--muted)}.small{font-size:12px}.nw{white-space:nowrap}"
    ".empty{color:var(--muted);padding:10px 0;font-style:italic}"
    "form.filters{display:flex;flex-wrap:wrap;gap:10px 14px;align-items:flex-end}"
    "form.filters label{display:flex;flex-direction:column;font-size:12px;color:var(--muted);"
    "gap:3px}form.filters select{max-width:210px}"
    "input,select,textarea{font:inherit;border:1px solid #c8d0da;border-radius:6px;"
    "padding:5px 8px;background:#fff;color:var(--ink)}"
    "textarea{width:100%;padding:8px;line-height:1.4}"
    "button,.button{font:inherit;background:var(--accent);color:#fff;border:1px solid "
    "var(--accent);border-radius:6px;padding:5px 14px;cursor:pointer;display:inline-block}"
    ".button:hover{text-decoration:none;filter:brightness(1.08)}"
    "button.quiet,.button.quiet{background:#fff;color:var(--accent);border-color:#c8d0da}"
    ".pager{display:flex;gap:12px;align-items:center;margin-top:12px}"
    ".tabs{display:flex;gap:6px;margin-bottom:14px}"
    ".tabs a{padding:5px 12px;border-radius:6px;border:1px solid var(--line);background:#fff;"
    "color:var(--ink)}.tabs a.on{background:var(--nav);color:#fff;border-color:var(--nav)}"
    ".tabs a:hover{text-decoration:none}"
    ".note{border-left:4px solid #53b1fd;background:#eff8ff;padding:10px 14px;"
    "border-radius:6px;margin:0 0 14px}"
    ".error{border-left:4px solid var(--high);background:#fef3f2;padding:10px 14px;"
    "border-radius:6px;margin:0 0 14px;white-space:pre-wrap}"
    ".ok{border-left:4px solid #32d583;background:#ecfdf3;padding:10px 14px;"
    "border-radius:6px;margin:0 0 14px}"
    ".split{display:flex;gap:18px;align-items:flex-start;flex-wrap:wrap}"
    ".split>*{flex:1;min-width:300px}"
    ".chart{width:100%;height:auto;display:block}"
    ".chart text{font:11px system-ui,'DejaVu Sans',sans-serif;fill:#5d6b7b}"
    ".chart .bar{fill:#5b8def}.chart a:hover .bar,.chart .bar:hover{fill:#1f5fbf}"
    ".chart .grid{stroke:#e9edf2}.chart .axis{stroke:#98a2b3}"
    ".chart .band{fill:#f04438;fill-opacity:.14;pointer-events:none}.chart .lim{stroke:#b42318;stroke-dasharray:5 4}"
    ".chart .bar2{fill:#f79009}.chart .band-cur{fill:#98a2b3;fill-opacity:.3}"
    ".chart .band-sug{fill:#12b76a;fill-opacity:.25}"
    ".sw{display:inline-block;width:12px;height:12px;vertical-align:middle;border-radius:2px}"
    ".sw-bar{background:#5b8def}.sw-bar2{background:#f79009}.sw-cur{background:#d5d9e0}"
    ".sw-sug{background:#a6e9c5}.multiples>.multiple{flex:0 1 30%;min-width:260px}"
    ".scroll{overflow:auto;max-height:560px}"
    ".examples a{display:block;padding:5px 0;border-bottom:1px solid var(--soft)}"
    "dl.props{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0}"
    "dl.props dt{color:var(--muted)}dl.props dd{margin:0;overflow-wrap:anywhere}"
    ".item{border-left:2px solid var(--line);padding-left:8px;margin:2px 0}"
    "footer{max-width:1320px;margin:0 auto;padding:0 24px 30px;color:var(--muted);font-size:12px}";

struct nav_item {
    const char *key, *href, *label;
};

static const struct nav_item nav_items[] = {
    {"overview", "/", "Overview"},
    {"alerts", "/alerts", "Alerts"},
    {"devices", "/devices", "Devices"},
    {"recommendations", "/recommendations", "Recommendations"},
    {"groups", "/groups", "Groups"},
    {"sql", "/sql", "SQL"},
};

/* A small shield, drawn inline so the page loads nothing else. */
static const char brand_icon[] =
    "<svg width=\"20\" height=\"22\" viewBox=\"0 0 20 22\" aria-hidden=\"true\">"
    "<path d=\"M10 1 L18 4 V10 C18 15 14.5 19 10 21 C5.5 19 2 15 2 10 V4 Z\" fill=\"#6aa5ff\"/>"
    "<path d=\"M6 11 L9 14 L14.5 7.5\" stroke=\"#162238\" stroke-width=\"2.2\" fill=\"none\"/>"
    "</svg>";

void html_begin(struct web_req *r, struct evbuffer *out, const char *title, const char *active)
{
    html_printf(out,
                "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                "<title>%s \xc2\xb7 Warden</title><link rel=\"icon\" href=\"data:,\">",
                title);
    evbuffer_add_printf(out, "<style>%s</style></head><body><header><div class=\"in\">", page_css);
    evbuffer_add_printf(out, "<a class=\"brand\" href=\"/\">%sWarden</a><nav>", brand_icon);
    for (size_t i = 0; i < sizeof(nav_items) / sizeof(nav_items[0]); i++) {
        const struct nav_item *n = &nav_items[i];
        bool on = active != NULL && strcmp(active, n->key) == 0;
        evbuffer_add_printf(out, "<a href=\"%s\"%s>%s</a>", n->href, on ? " class=\"on\"" : "",
                            n->label);
    }
    evbuffer_add_printf(out, "</nav><div class=\"who\">");
    /* A CSRF token is only issued to a logged-in session, so it says who is logged in. */
    if (r != NULL && r->csrf[0] != '\0')
        html_printf(out,
                    "<span>admin</span><form method=\"post\" action=\"/logout\">"
                    "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                    "<button type=\"submit\">Log out</button></form>",
                    r->csrf);
    else
        evbuffer_add_printf(out, "<a href=\"/login\">Log in</a>");
    evbuffer_add_printf(out, "</div></div></header><main>");
}

void html_end(struct evbuffer *out)
{
    evbuffer_add_printf(out,
                        "</main><footer>Warden " WARDEN_VERSION
                        " \xc2\xb7 times are UTC \xc2\xb7 the same data as JSON: "
                        "<a href=\"/api/v1/alerts\">/api/v1/</a></footer></body></html>\n");
}
