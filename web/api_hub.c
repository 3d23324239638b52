/*
 * web/api_hub.c: the hub's control plane over the API, the same changes as
 * `warden hub cert|diag` through the same functions (imports/hubctl.c):
 *
 *   POST   /api/v1/hub/certificates              {"name": "...", "pem": "..."}
 *   DELETE /api/v1/hub/certificates/{name}
 *   PUT    /api/v1/hub/diagnostic-settings/{name} the setting {name, logs[...]}
 *   DELETE /api/v1/hub/diagnostic-settings/{name}
 *
 * Each is a state-changing route, so the server refuses it without the admin
 * token (401, or 403 for a session without its CSRF token) as it refuses any
 * other change; but a refused attempt on the hub is itself something the hub
 * logs, so each route names hub_refused() as what the router calls first,
 * which writes the Failed record with reason Unauthorized (SPEC 2.4). Every
 * record carries the client's address as sourceIp. Calls the core, the
 * evaluator's hub control plane and the lab hub's key store path.
 */
#include "core.h"
#include "routes.h"

#include "../hub/hubkeys.h"
#include "../imports/hubctl.h"

#include <stdio.h>
#include <string.h>

#define CERT_PREFIX    "/api/v1/hub/certificates"
#define SETTING_PREFIX "/api/v1/hub/diagnostic-settings/"
#define BODY_MAX_DEPTH 32

/* What every handler passes to the evaluator: the rw connection, the hub, the client. */
struct hub_call {
    struct hubctl_ctx c;
    char keystore[1024];
    char ip[64];
};

static void call_init(struct web_req *r, struct hub_call *h)
{
    const struct config *cfg = r->ctx->cfg;

    memset(h, 0, sizeof(*h));
    web_peer(r, h->ip, sizeof(h->ip));
    hub_keys_default_path(cfg->hub_keystore, cfg->db_path, h->keystore, sizeof(h->keystore));
    h->c = (struct hubctl_ctx){r->ctx->db_rw, cfg->hub_name, h->keystore,
                                h->ip[0] ? h->ip : NULL, clock_now_ms()};
}

/* The body as a JSON object, or NULL. Depth is checked first: Jansson recurses. */
static json_t *body_object(struct web_req *r)
{
    json_t *root;

    if (r->body == NULL || r->body_len == 0 ||
        json_prescan(r->body, r->body_len, BODY_MAX_DEPTH, 100000) != JSON_SCAN_OK)
        return NULL;
    root = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, NULL);
    if (root != NULL && !json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* The answer to a call that did not succeed: the record's reason is the error. */
static void send_refusal(struct web_req *r, enum hubctl_status st, const struct hubctl_out *out)
{
    int status = st == HUBCTL_EXISTS      ? 409
                 : st == HUBCTL_NOT_FOUND ? 404
                 : st == HUBCTL_FAILED    ? 500
                                            : 400;

    web_error(r, status, out->reason ? out->reason : "failed", out->detail);
}

static void send_deleted(struct web_req *r, const struct hub_call *h, const char *name,
                         const struct hubctl_out *out)
{
    web_send_json(r, 200, json_pack("{s:s, s:s, s:b, s:s}", "hub", h->c.hub, "name", name,
                                    "deleted", 1, "detail", out->detail));
}

/* POST /api/v1/hub/certificates */
static void hub_cert_add(struct web_req *r)
{
    struct hub_call h;
    struct hubctl_out out;
    enum hubctl_status st;
    json_t *body = body_object(r), *pem;
    const char *name;
    char when[40];

    call_init(r, &h);
    name = json_string_value(json_object_get(body, "name"));
    pem = json_object_get(body, "pem");
    /* A body without a PEM string is an attempt without a certificate: InvalidPem, recorded. */
    st = hubctl_cert_add(&h.c, name, json_string_value(pem),
                           json_is_string(pem) ? json_string_length(pem) : 0, &out);
    if (st != HUBCTL_OK) {
        if (body == NULL && st == HUBCTL_INVALID)
            snprintf(out.detail, sizeof(out.detail),
                     "the body must be a JSON object {\"name\": \"...\", \"pem\": \"...\"}");
        send_refusal(r, st, &out);
    } else {
        time_format_iso(out.not_after_ms, when, sizeof(when));
        web_send_json(r, 201,
                      json_pack("{s:s, s:s, s:s, s:s, s:I}", "hub", h.c.hub, "name", name,
                                "thumbprint", out.thumbprint, "not_after", when, "not_after_ms",
                                (json_int_t)out.not_after_ms));
    }
    json_decref(body);
}

/* DELETE /api/v1/hub/certificates/{name} */
static void hub_cert_delete(struct web_req *r)
{
    struct hub_call h;
    struct hubctl_out out;
    enum hubctl_status st;

    call_init(r, &h);
    st = hubctl_cert_delete(&h.c, r->tail, &out);
    if (st != HUBCTL_OK)
        send_refusal(r, st, &out);
    else
        send_deleted(r, &h, r->tail, &out);
}

static const char sql_setting_get[] =
    "SELECT config_json FROM hub_diagnostic_settings WHERE hub = ?1 AND name = ?2";

/* PUT /api/v1/hub/diagnostic-settings/{name}: 200 with the setting as stored. */
static void hub_diag_put(struct web_req *r)
{
    struct hub_call h;
    struct hubctl_out out;
    enum hubctl_status st;
    sqlite3_stmt *q = NULL;
    json_t *stored = NULL;

    call_init(r, &h);
    st = hubctl_diag_set(&h.c, r->tail, r->body, r->body_len, &out);
    if (st != HUBCTL_OK) {
        send_refusal(r, st, &out);
        return;
    }
    if (sqlite3_prepare_v2(h.c.db, sql_setting_get, -1, &q, NULL) == SQLITE_OK &&
        sqlite3_bind_text(q, 1, h.c.hub, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_text(q, 2, r->tail, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        stored = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
    sqlite3_finalize(q);
    if (stored == NULL)
        web_error(r, 500, "database error", "the setting was stored but cannot be read back");
    else
        web_send_json(r, 200, stored);
}

/* DELETE /api/v1/hub/diagnostic-settings/{name} */
static void hub_diag_delete(struct web_req *r)
{
    struct hub_call h;
    struct hubctl_out out;
    enum hubctl_status st;

    call_init(r, &h);
    st = hubctl_diag_delete(&h.c, r->tail, &out);
    if (st != HUBCTL_OK)
        send_refusal(r, st, &out);
    else
        send_deleted(r, &h, r->tail, &out);
}

static void hub_refused(struct web_req *r)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(r->req);
    size_t cn = strlen(CERT_PREFIX "/"), sn = strlen(SETTING_PREFIX);
    enum hubctl_action a;
    const char *name = NULL;
    json_t *body = NULL;
    struct hub_call h;

    if (cmd == EVHTTP_REQ_POST && strcmp(r->path, CERT_PREFIX) == 0) {
        a = HUBCTL_CERT_WRITE;
        body = body_object(r);
        name = json_string_value(json_object_get(body, "name"));
    } else if (cmd == EVHTTP_REQ_DELETE && strncmp(r->path, CERT_PREFIX "/", cn) == 0 &&
               r->path[cn] != '\0') {
        a = HUBCTL_CERT_DELETE;
        name = r->path + cn;
    } else if ((cmd == EVHTTP_REQ_PUT || cmd == EVHTTP_REQ_DELETE) &&
               strncmp(r->path, SETTING_PREFIX, sn) == 0 && r->path[sn] != '\0') {
        a = cmd == EVHTTP_REQ_PUT ? HUBCTL_DIAG_WRITE : HUBCTL_DIAG_DELETE;
        name = r->path + sn;
    } else {
        return;
    }
    call_init(r, &h);
    hubctl_unauthorized(&h.c, a, name);
    json_decref(body);
}

const struct web_route web_api_hub_routes[] = {
    {"POST", "/api/v1/hub/certificates", WEB_WRITES, hub_cert_add, hub_refused},
    {"DELETE", "/api/v1/hub/certificates/", WEB_PREFIX | WEB_WRITES, hub_cert_delete, hub_refused},
    {"PUT", "/api/v1/hub/diagnostic-settings/", WEB_PREFIX | WEB_WRITES, hub_diag_put, hub_refused},
    {"DELETE", "/api/v1/hub/diagnostic-settings/", WEB_PREFIX | WEB_WRITES, hub_diag_delete,
     hub_refused},
    {NULL, NULL, 0, NULL, NULL},
};
