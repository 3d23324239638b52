/*
 * web/router.c: from a request to its handler. It bounds and parses the
 * request into a struct web_req (path, parameters, form, body), checks the
 * Host header, finds the route among the tables web.c gave the server,
 * checks the credentials against what the route needs (auth.c), and calls
 * its handler, or answers 401, 403, 404, 405, 414 or 421 itself. It is part
 * of the core: it calls handlers only through the route tables, and nothing
 * above the core by name.
 */
#include "server.h"
#include "html.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WEB_MAX_URL 8192 /* request targets longer than this get 414 */

/* A page-shaped error for paths outside the API. */
static void html_error(struct web_req *r, int status, const char *title, const char *text)
{
    struct evbuffer *out = evbuffer_new();

    html_begin(r, out, title, NULL);
    html_printf(out, "<h1>%s</h1><p>%s</p>", title, text);
    html_end(out);
    web_send(r, status, "text/html; charset=utf-8", out);
}

/* Under /api/ and the two probes a program is asking, so errors are JSON; elsewhere, pages. */
static bool is_api_path(const char *path)
{
    return strncmp(path, "/api/", 5) == 0 || strcmp(path, "/metrics") == 0 ||
           strcmp(path, "/healthz") == 0;
}

/*
 * On loopback, reads need no login, so a web page elsewhere must not reach
 * the dashboard by pointing a name of its own at 127.0.0.1 (DNS rebinding):
 * the Host header must name a loopback address, localhost, or web.listen's host.
 */
static bool host_allowed(struct web_server *w, const char *host)
{
    char name[256];
    const char *end;
    struct in_addr a4;
    struct in6_addr a6;
    size_t n;

    if (host == NULL || w->ctx.cfg->web_auth_require_for_reads)
        return true;
    if (host[0] == '[') {
        host++;
        end = strchr(host, ']');
    } else {
        end = strchr(host, ':');
    }
    n = end ? (size_t)(end - host) : strlen(host);
    if (n == 0 || n >= sizeof(name))
        return false;
    memcpy(name, host, n);
    name[n] = '\0';
    if (strcasecmp(name, "localhost") == 0 || strcasecmp(name, w->host) == 0)
        return true;
    if (inet_pton(AF_INET, name, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, name, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

static const char *route_tail(const struct web_route *rt, const char *path)
{
    size_t n = strlen(rt->path);

    if (!(rt->flags & WEB_PREFIX))
        return strcmp(path, rt->path) == 0 ? "" : NULL;
    return strncmp(path, rt->path, n) == 0 && path[n] != '\0' ? path + n : NULL;
}

/*
 * The route for method and path. When the path is served but not with this
 * method, allow lists the methods that are (for 405).
 */
static const struct web_route *route_find(const struct web_route *const *tables, const char *method,
                                          const char *path, const char **tail, char *allow,
                                          size_t allowlen)
{
    allow[0] = '\0';
    for (size_t t = 0; tables[t] != NULL; t++) {
        for (const struct web_route *rt = tables[t]; rt->path != NULL; rt++) {
            const char *rest = route_tail(rt, path);
            if (rest == NULL)
                continue;
            if (strcmp(rt->method, method) == 0) {
                *tail = rest;
                return rt;
            }
            if (strstr(allow, rt->method) == NULL) {
                size_t len = strlen(allow);
                snprintf(allow + len, allowlen - len, "%s%s", len ? ", " : "", rt->method);
            }
        }
    }
    return NULL;
}

static void not_found(struct web_req *r)
{
    if (is_api_path(r->path))
        web_error(r, 404, "not found", "no such resource; the API is under /api/v1/");
    else
        html_error(r, 404, "Not found", "There is no page here.");
}

static void method_not_allowed(struct web_req *r, const char *allow)
{
    char detail[160];

    web_header_set(evhttp_request_get_output_headers(r->req), "Allow", allow);
    snprintf(detail, sizeof(detail), "this resource answers %s", allow);
    if (is_api_path(r->path))
        web_error(r, 405, "method not allowed", detail);
    else
        html_error(r, 405, "Method not allowed", detail);
}

/* 401 (no valid credentials) or 403 (a session without its CSRF token), for route rt. */
static void deny(struct web_req *r, const struct web_route *rt, int status)
{
    struct evbuffer *next;
    char *loc;

    if (rt->refused != NULL)
        rt->refused(r); /* a refused change of the hub is itself a hub record */
    if (status == 403) {
        if (is_api_path(r->path))
            web_error(r, 403, "forbidden",
                      "a state-changing request with a session cookie needs the CSRF token "
                      "(header X-CSRF-Token or form field csrf)");
        else
            html_error(r, 403, "Forbidden",
                       "The form was missing its CSRF token. Go back, reload the page and try "
                       "again.");
        return;
    }
    if (is_api_path(r->path)) {
        web_header_set(evhttp_request_get_output_headers(r->req), "WWW-Authenticate",
                   "Bearer realm=\"warden\"");
        web_error(r, 401, "unauthorized",
                  "this request needs the admin token: Authorization: Bearer TOKEN (the token "
                  "is in web.auth.token_file, warden.token beside the database by default)");
        return;
    }
    next = evbuffer_new();
    loc = evhttp_uriencode(r->path, -1, 0);
    evbuffer_add_printf(next, "/login?next=%s", loc ? loc : "/");
    free(loc);
    evbuffer_add(next, "", 1);
    web_redirect(r, (const char *)evbuffer_pullup(next, -1), NULL);
    evbuffer_free(next);
}

static bool is_form(struct evhttp_request *req)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");

    return ct != NULL && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
}

/*
 * Query parameters, and for a POSTed form its fields after them (so the
 * URL's win); the form's fields alone also go to r->form. A body that does
 * not parse as a form (JSON sent by a curl -d that kept its default content
 * type) is left to the handler. Secrets (the CSRF token, the admin token at
 * login) are taken from r->form alone: a secret in a URL ends up in logs and
 * Referer headers, and a URL is what a page on another site can choose.
 */
static bool parse_params(struct web_req *r, const char *query)
{
    struct evbuffer *all;
    bool ok;

    if (query != NULL && evhttp_parse_query_str(query, &r->query) != 0)
        return false;
    if (r->body == NULL || !is_form(r->req) || strlen(r->body) != r->body_len)
        return true;
    if (evhttp_parse_query_str(r->body, &r->form) != 0) {
        evhttp_clear_headers(&r->form);
        return true;
    }
    /* Parse both again as one: evhttp_add_header() would refuse a field with a newline. */
    all = evbuffer_new();
    if (query != NULL && query[0] != '\0')
        evbuffer_add_printf(all, "%s&", query);
    evbuffer_add(all, r->body, r->body_len + 1);
    evhttp_clear_headers(&r->query);
    ok = evhttp_parse_query_str((const char *)evbuffer_pullup(all, -1), &r->query) == 0;
    evbuffer_free(all);
    return ok;
}

static bool wants_csv(struct web_req *r, bool *bad)
{
    const char *format = web_param(r, "format");
    const char *accept = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Accept");

    *bad = false;
    if (format != NULL) {
        if (strcmp(format, "csv") == 0)
            return true;
        *bad = strcmp(format, "json") != 0 && strcmp(format, "html") != 0;
        return false;
    }
    return accept != NULL && strstr(accept, "text/csv") != NULL;
}

static const char *method_name(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_HEAD: return "GET"; /* evhttp leaves the body out */
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_PATCH: return "PATCH";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    default: return "OTHER";
    }
}

/* Check the credentials against what the route needs, then call it. */
static void dispatch(struct web_server *w, struct web_req *r, const struct web_route *rt)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(r->req);
    bool safe = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
    enum web_cred cred = web_auth_check(w->auth, r, web_form_param(r, "csrf"));
    bool session = r->csrf[0] != '\0';

    r->authed = cred == WEB_CRED_TOKEN || cred == WEB_CRED_CSRF || (session && safe);
    if (cred == WEB_CRED_BAD) {
        deny(r, rt, 401);
        return;
    }
    if (!r->authed && w->ctx.cfg->web_auth_require_for_reads && !(rt->flags & WEB_PUBLIC)) {
        deny(r, rt, 401);
        return;
    }
    if ((rt->flags & WEB_WRITES) && !r->authed) {
        deny(r, rt, session ? 403 : 401);
        return;
    }
    rt->handler(r);
    if (rt->flags & WEB_WRITES)
        w->ctx.writes++; /* what a page cached before it is stale: the user sees their change */
}

void web_route_request(struct web_server *w, struct web_req *r, char **path_buf, char **body_buf)
{
    struct evhttp_request *req = r->req;
    const char *uri = evhttp_request_get_uri(req);
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    const char *raw, *tail = NULL;
    const struct web_route *rt;
    char allow[64];
    size_t n;
    bool bad;

    r->path = "/";
    if (uri == NULL || strlen(uri) > WEB_MAX_URL) {
        w->too_long++;
        web_error(r, 414, "URI too long", "request targets are limited to 8192 bytes");
        return;
    }
    if (!host_allowed(w, evhttp_find_header(evhttp_request_get_input_headers(req), "Host"))) {
        web_error(r, 421, "misdirected request",
                  "the Host header must name this server (localhost or a loopback address)");
        return;
    }
    raw = u ? evhttp_uri_get_path(u) : NULL;
    *path_buf = evhttp_uridecode(raw && *raw ? raw : "/", 0, &n);
    if (*path_buf == NULL || strlen(*path_buf) != n || !utf8_valid(*path_buf, n)) {
        web_error(r, 400, "bad path", "the path is not valid percent-encoded UTF-8");
        return;
    }
    r->path = *path_buf;
    if ((n = evbuffer_get_length(in)) > 0) {
        if ((*body_buf = malloc(n + 1)) == NULL) {
            web_error(r, 500, "internal error", "out of memory");
            return;
        }
        evbuffer_copyout(in, *body_buf, n);
        (*body_buf)[n] = '\0';
        r->body = *body_buf;
        r->body_len = n;
    }
    if (!parse_params(r, u ? evhttp_uri_get_query(u) : NULL)) {
        web_error(r, 400, "bad parameter", "the query string or form is malformed");
        return;
    }
    r->wants_csv = wants_csv(r, &bad);
    if (bad) {
        web_error(r, 400, "bad parameter", "format: must be json or csv");
        return;
    }
    rt = route_find(w->routes, method_name(evhttp_request_get_command(req)), r->path, &tail, allow,
                    sizeof(allow));
    if (rt == NULL) {
        if (allow[0] != '\0')
            method_not_allowed(r, allow);
        else
            not_found(r);
        return;
    }
    r->tail = tail;
    dispatch(w, r, rt);
}

