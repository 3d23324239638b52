/*
 * web/api_sql.c: GET and POST /api/v1/sql, the console's one endpoint (SPEC 6).
 * It reads the statement (?q=, a form, or a JSON body {"q": ...}), refuses a
 * cross-site request, and hands the statement to sql.c for a JSON answer or
 * to sqlexport.c for CSV. Above both, so neither calls back up into it.
 */
#include "routes.h"
#include "sqlpriv.h"

#include <jansson.h>

/* q from the query string or a form, or {"q": "..."} in a JSON body. doc holds it; free after. */
static const char *query_text(struct web_req *r, json_t **doc)
{
    const char *q = web_param(r, "q");

    *doc = NULL;
    if (q != NULL || r->body == NULL)
        return q;
    *doc = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, NULL);
    return json_string_value(json_object_get(*doc, "q"));
}

static void json_answer(struct web_req *r, int status, json_t *result, const char *err,
                        void *arg)
{
    (void)arg;
    if (r == NULL)
        json_decref(result);
    else if (status == 200)
        web_send_json(r, 200, result);
    else
        web_error(r, status,
                  status == 403   ? "refused"
                  : status == 503 ? "busy"
                                  : "query failed",
                  err);
}

static void web_sql_handler(struct web_req *r)
{
    json_t *doc;
    const char *q;
    char err[400];
    int status;

    if (web_cross_site(r, err, sizeof(err))) {
        web_error(r, 403, "cross-site request refused", err);
        return;
    }
    if ((q = query_text(r, &doc)) == NULL) {
        json_decref(doc);
        web_error(r, 400, "bad parameter",
                  "q: the SQL statement is required (?q=... or a JSON body {\"q\": \"...\"})");
        return;
    }
    if (r->wants_csv)
        web_sql_export(r, q);
    else if ((status = web_sql_submit(r, q, json_answer, NULL, err, sizeof(err))) != 0)
        json_answer(r, status, NULL, err, NULL);
    json_decref(doc);
}

const struct web_route web_sql_routes[] = {
    {"GET", "/api/v1/sql", 0, web_sql_handler, NULL},
    {"POST", "/api/v1/sql", 0, web_sql_handler, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
