/*
 * web/reply.c: the core's helpers for handlers: answering (with the
 * security headers every reply carries, and the count of each status for
 * /metrics), redirecting, reading parameters, and telling a request sent by
 * another site's page. It is part of the core and calls nothing above it.
 */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 303: return "See Other";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 421: return "Misdirected Request";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    }
    return status < 400 ? "OK" : "Error";
}

void web_header_set(struct evkeyvalq *h, const char *name, const char *value)
{
    evhttp_remove_header(h, name);
    evhttp_add_header(h, name, value);
}

/*
 * Pages are rendered by the server and use no script at all, so the policy
 * allows none inline; styles are inline in every page.
 */
void web_security_headers(struct web_req *r)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

    web_header_set(
        h, "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'");
    web_header_set(h, "X-Content-Type-Options", "nosniff");
    web_header_set(h, "Referrer-Policy", "same-origin");
    web_header_set(h, "X-Frame-Options", "DENY");
    /* Everything is live data, and pages carry the CSRF token: never cache. */
    web_header_set(h, "Cache-Control", "no-store");
}

void web_count_status(struct web_req *r, int status)
{
    struct web_server *w = web_server_of(r->ctx);

    if (status >= 100 && status < WEB_STATUS_MAX)
        w->status[status]++;
}

void web_reply_started(struct web_req *r)
{
    web_server_of(r->ctx)->replied = true;
}

void web_req_resume(struct web_req *r, struct web_ctx *ctx, struct evhttp_request *req)
{
    memset(r, 0, sizeof(*r));
    r->req = req;
    r->ctx = ctx;
    r->path = "";
    TAILQ_INIT(&r->query);
    web_server_of(ctx)->replied = false;
}

void web_send(struct web_req *r, int status, const char *content_type, struct evbuffer *body)
{
    struct web_server *w = web_server_of(r->ctx);

    WARDEN_ASSERT(!w->replied);
    web_security_headers(r);
    web_header_set(evhttp_request_get_output_headers(r->req), "Content-Type", content_type);
    web_count_status(r, status);
    w->replied = true;
    evhttp_send_reply(r->req, status, reason_phrase(status), body);
    if (body != NULL)
        evbuffer_free(body);
}

static void free_dumped(const void *data, size_t len, void *arg)
{
    (void)len;
    (void)arg;
    free((void *)data);
}

/*
 * The document is dumped into one string and handed to the evbuffer as it
 * is: Jansson's callback dump writes a piece per token, and an evbuffer_add
 * per token was the largest cost of a 100-alert page.
 */
void web_send_json(struct web_req *r, int status, json_t *obj)
{
    struct evbuffer *out = evbuffer_new();
    size_t flags = JSON_COMPACT | JSON_REAL_PRECISION(17);
    char *text = obj != NULL ? json_dumps(obj, flags) : NULL;

    if (out == NULL || text == NULL ||
        evbuffer_add_reference(out, text, strlen(text), free_dumped, NULL) != 0) {
        if (out != NULL)
            evbuffer_free(out);
        free(text);
        json_decref(obj);
        out = evbuffer_new();
        evbuffer_add_printf(out, "{\"error\":\"internal error\",\"detail\":\"out of memory\"}\n");
        web_send(r, 500, "application/json", out);
        return;
    }
    evbuffer_add(out, "\n", 1);
    json_decref(obj);
    web_send(r, status, "application/json", out);
}

void web_error(struct web_req *r, int status, const char *error, const char *detail)
{
    json_t *o = json_object();

    json_object_set_new(o, "error", web_json_text(error, strlen(error)));
    json_object_set_new(o, "detail",
                        web_json_text(detail ? detail : "", detail ? strlen(detail) : 0));
    web_send_json(r, status, o);
}

const char *web_param(struct web_req *r, const char *name)
{
    return evhttp_find_header(&r->query, name);
}

const char *web_form_param(struct web_req *r, const char *name)
{
    return evhttp_find_header(&r->form, name);
}

void web_peer(struct web_req *r, char *out, size_t outlen)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(r->req);
    char *addr = NULL;
    ev_uint16_t port = 0;

    if (conn != NULL)
        evhttp_connection_get_peer(conn, &addr, &port);
    snprintf(out, outlen, "%s", addr ? addr : "");
}

bool web_param_int(struct web_req *r, const char *name, int64_t min, int64_t max, int64_t dflt,
                   int64_t *out)
{
    const char *v = web_param(r, name);
    char detail[160];

    if (v == NULL || v[0] == '\0') {
        *out = dflt;
        return true;
    }
    if (web_parse_int(v, min, max, out))
        return true;
    snprintf(detail, sizeof(detail), "%s: must be a whole number from %lld to %lld", name,
             (long long)min, (long long)max);
    web_error(r, 400, "bad parameter", detail);
    return false;
}

bool web_param_time(struct web_req *r, const char *name, int64_t dflt, int64_t *out)
{
    const char *v = web_param(r, name);
    char detail[200];

    if (v == NULL || v[0] == '\0') {
        *out = dflt;
        return true;
    }
    if (web_parse_time(v, clock_now_ms(), out))
        return true;
    snprintf(detail, sizeof(detail),
             "%s: must be an ISO 8601 time such as 2026-11-29T10:00:00Z, or a duration before "
             "now such as PT1H or P7D",
             name);
    web_error(r, 400, "bad parameter", detail);
    return false;
}

bool web_session_valid(const struct web_req *r)
{
    return r->csrf[0] != '\0' || r->authed;
}

/* A page-shaped error for paths outside the API. */

void web_redirect(struct web_req *r, const char *location, const char *cookie)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    struct evbuffer *out = evbuffer_new();

    if (cookie != NULL)
        evhttp_add_header(h, "Set-Cookie", cookie);
    web_header_set(h, "Location", location);
    evbuffer_add_printf(out, "See %s\n", location);
    web_send(r, 303, "text/plain; charset=utf-8", out);
}


/* ---- where a request comes from -------------------------------------------------------------- */
/*
 * host[:port] of an origin or a Host header, lower case, without the
 * scheme's default port, into out; false when it does not fit.
 */
static bool host_port_norm(const char *s, bool https, char *out, size_t outlen)
{
    const char *dflt = https ? ":443" : ":80";
    size_t n = strlen(s), d = strlen(dflt);

    if (n >= outlen)
        return false;
    for (size_t i = 0; i <= n; i++)
        out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
    if (n > d && strcmp(out + n - d, dflt) == 0)
        out[n - d] = '\0';
    return true;
}

/* Origin (scheme://host[:port], nothing else) names host, the Host header or web.listen's address. */
static bool origin_is(const char *origin, const char *host)
{
    bool https = strncasecmp(origin, "https://", 8) == 0;
    char a[300], b[300];

    if (host == NULL || (!https && strncasecmp(origin, "http://", 7) != 0))
        return false;
    return host_port_norm(origin + (https ? 8 : 7), https, a, sizeof(a)) &&
           host_port_norm(host, https, b, sizeof(b)) && a[0] != '\0' && strcmp(a, b) == 0;
}

/*
 * A page of another site may make the operator's browser send a GET (an
 * <img>, a link) or a form POST to Warden; the console must not run it.
 * Browsers say where a request comes from: Sec-Fetch-Site (cross-site;
 * same-site also means another port or subdomain of the same host, such as
 * another program's page on 127.0.0.1, so it is refused too; Warden's own
 * pages are same-origin), and Origin on every POST and cross-origin fetch
 * ("null" from sandboxed frames and files). A request with neither comes
 * from a typed address, a bookmark or a client that is not a browser.
 */
bool web_cross_site(struct web_req *r, char *why, size_t whylen)
{
    struct web_server *w = web_server_of(r->ctx);
    struct evkeyvalq *in = evhttp_request_get_input_headers(r->req);
    const char *site = evhttp_find_header(in, "Sec-Fetch-Site");
    const char *origin = evhttp_find_header(in, "Origin");

    if (site != NULL && (strcasecmp(site, "cross-site") == 0 || strcasecmp(site, "same-site") == 0))
        snprintf(why, whylen,
                 "the browser says a page of %s sent this request (Sec-Fetch-Site: %s); the SQL "
                 "console runs queries only from Warden's own pages, a typed address, or a "
                 "client that is not a browser",
                 strcasecmp(site, "cross-site") == 0 ? "another site"
                                                     : "another port or subdomain of this site",
                 site);
    else if (origin != NULL && !origin_is(origin, evhttp_find_header(in, "Host")) &&
             !origin_is(origin, w->address))
        snprintf(why, whylen,
                 "the request comes from a page of another origin (Origin: %.100s), not from "
                 "Warden's own pages; the SQL console refuses it",
                 origin);
    else
        return false;
    w->cross_site++;
    return true;
}

