/*
 * web/page_login.c: GET /login, the login form; it posts to POST /login,
 * which auth.c answers. Calls page.c and the core.
 */
#include "page.h"
#include "routes.h"


static void page_login(struct web_req *r)
{
    struct evbuffer *out = page_open(r, "Log in", NULL);
    const char *next = page_param(r, "next");

    /* Only a path of this site may be where the login leads. */
    if (next == NULL || next[0] != '/' || next[1] == '/' || next[1] == '\\')
        next = "/";
    evbuffer_add_printf(out, "<h1>Log in</h1><p class=\"lead\">Reading needs no login. Changing "
                             "something (dismissing an alert, editing a security group) needs "
                             "the admin token: the one line of the file <code>warden.token</code> "
                             "beside the database (setting <code>web.auth.token_file</code>).</p>");
    if (r->csrf[0] != '\0')
        evbuffer_add_printf(out, "<div class=\"ok\">You are logged in.</div>");
    else if (page_param(r, "failed") != NULL)
        evbuffer_add_printf(out, "<div class=\"error\">That is not the admin token.</div>");
    html_printf(out,
                "<form class=\"card filters\" method=\"post\" action=\"/login\">"
                "<input type=\"hidden\" name=\"next\" value=\"%s\">"
                "<label>Admin token<input type=\"password\" name=\"token\" size=\"48\" "
                "autocomplete=\"current-password\" autofocus></label>"
                "<button type=\"submit\">Log in</button></form>",
                next);
    page_send(r, out, 200);
}

/* Anyone may see the login form, even when every read needs the token. */
const struct web_route web_page_login_routes[] = {
    {"GET", "/login", WEB_PUBLIC, page_login, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
