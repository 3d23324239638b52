/*
 * The texts written for each alert (the catalogue is common/catalog.c), and the one place
 * that writes alerts, their transitions and their outbox rows.
 */
#include "alerts.h"

#include "evaluator.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct catalog_entry *alert_info(const char *type)
{
    const struct catalog_entry *e = catalog_find(type);

    return e != NULL && e->kind != CK_REC ? e : NULL;
}

void alert_facts_init(struct alert_facts *f)
{
    memset(f, 0, sizeof(*f));
    f->remote_port = -1;
    f->min = f->max = f->window_ms = -1;
}

/* ---- texts ------------------------------------------------------------------------------ */

static const char *or(const char *s, const char *dflt)
{
    return s != NULL && *s != '\0' ? s : dflt;
}

/* A window as people say it: "15 minutes", "1 hour", "90 seconds". */
static void say_window(int64_t ms, char *out, size_t outlen)
{
    int64_t s = ms / 1000;

    if (s % 3600 == 0)
        snprintf(out, outlen, "%lld hour%s", (long long)(s / 3600), s == 3600 ? "" : "s");
    else if (s % 60 == 0)
        snprintf(out, outlen, "%lld minute%s", (long long)(s / 60), s == 60 ? "" : "s");
    else
        snprintf(out, outlen, "%lld seconds", (long long)s);
}

static void window_texts(const struct alert_facts *f, char *desc, size_t dl, char *rem, size_t rl)
{
    char win[40];

    say_window(f->window_ms, win, sizeof(win));
    snprintf(desc, dl,
             "Device %s reported %.0f for rule %s over the last %s, outside the allowed range "
             "%lld to %lld set by its security group.",
             or(f->device_id, "?"), f->value, or(f->rule_type, "?"), win, (long long)f->min,
             (long long)f->max);
    snprintf(rem, rl,
             "Check what the device was doing in that window (its page shows the counts over "
             "time). If the activity is expected, widen the range of %s in the device's security "
             "group; if not, isolate the device and look for a compromised process or a "
             "misbehaving cloud application.",
             or(f->rule_type, "the rule"));
}

static void flow_texts(const char *type, const struct alert_facts *f, char *desc, size_t dl,
                       char *rem, size_t rl)
{
    char port[16] = "";

    if (f->remote_port >= 0)
        snprintf(port, sizeof(port), ":%d", f->remote_port);
    if (strcmp(type, "IoT_TiConnection") == 0) {
        snprintf(desc, dl,
                 "Device %s exchanged %s traffic with %s%s, an address on the threat-intelligence "
                 "list \"%s\"%s%s%s.",
                 or(f->device_id, "?"), or(f->protocol, "IP"), or(f->remote_ip, "?"), port,
                 or(f->list, "?"), f->category ? " (category " : "", or(f->category, ""),
                 f->category ? ")" : "");
    } else {
        bool out = strcmp(type, "IoT_CA_ConnectionToIpNotAllowed") == 0;
        snprintf(desc, dl,
                 "Device %s had %s %s connection %s %s%s, which is outside the allow list of its "
                 "security group.",
                 or(f->device_id, "?"), out ? "an outbound" : "an inbound", or(f->protocol, "IP"),
                 out ? "to" : "from", or(f->remote_ip, "?"), port);
        snprintf(rem, rl,
                 "If the address is a legitimate endpoint of the device, add it (or its network) "
                 "to %s in the device's security group. Otherwise find what on the device %s it "
                 "and isolate the device.",
                 out ? "ConnectionToIpNotAllowed" : "ConnectionFromIpNotAllowed",
                 out ? "connects to" : "accepts connections from");
    }
}

static void auth_texts(const char *type, const struct alert_facts *f, char *desc, size_t dl)
{
    const char *what = strcmp(type, "IoT_Cert_Print_Mismatch") == 0
                           ? "an X.509 certificate whose thumbprint does not match the registry"
                       : strcmp(type, "IoT_Cert_Expired") == 0 ? "an expired X.509 certificate"
                       : strcmp(type, "IoT_Expired_SAS_Token") == 0 ? "an expired SAS token"
                                                                    : "a SAS token with an invalid signature";
    char src[80] = "";

    if (f->source_ip != NULL)
        snprintf(src, sizeof(src), " from %s", f->source_ip);
    snprintf(desc, dl, "A connection as device %s%s to hub %s was refused: it presented %s.",
             or(f->device_id, "?"), src, or(f->hub, "?"), what);
}

static void hub_texts(const char *type, const struct alert_facts *f, char *desc, size_t dl)
{
    bool cert = strstr(type, "Certificate") != NULL;
    const char *name = cert ? or(f->certificate_name, "?") : or(f->setting_name, "?");
    const char *act = strstr(type, "AddedOrEdited")           ? "added or edited"
                      : strstr(type, "SuccessfullyAdded")     ? "added"
                      : strstr(type, "SuccessfullyDeleted")   ? "deleted"
                      : strstr(type, "FailedToBeAdded")       ? "not added (the attempt failed)"
                      : strstr(type, "FailedToBeDeleted")     ? "not deleted (the attempt failed)"
                                                              : "deleted";

    snprintf(desc, dl, "%s \"%s\" was %s on hub %s%s%s.",
             cert ? "The certificate" : "The diagnostic setting", name, act, or(f->hub, "?"),
             f->source_ip ? ", from " : "", or(f->source_ip, ""));
}

static void texts(const char *type, const struct alert_facts *f, char *desc, size_t dl, char *rem,
                  size_t rl)
{
    const struct catalog_entry *info = alert_info(type);

    /* The catalogue's remediation, unless the type's own text names the rule to change. */
    snprintf(rem, rl, "%s", info != NULL ? info->remediation : "");
    switch (info ? info->kind : CK_HUB_CERT) {
    case CK_WINDOW: window_texts(f, desc, dl, rem, rl); break;
    case CK_FLOW: flow_texts(type, f, desc, dl, rem, rl); break;
    case CK_AUTH: auth_texts(type, f, desc, dl); break;
    case CK_HUB_CERT:
    case CK_HUB_DIAG:
    case CK_REC: hub_texts(type, f, desc, dl); break;
    case CK_SILENT:
        snprintf(desc, dl, "Device %s has sent nothing for %s.", or(f->device_id, "?"),
                 or(f->reason, "longer than the silence limit"));
        break;
    }
}

/* extended_properties: the keys of SPEC 3.3 that apply. */
static char *props_json(const struct alert_facts *f)
{
    json_t *o = json_object();
    char *s;

#define PUT_S(k, v)                                                                                \
    if ((v) != NULL)                                                                               \
    json_object_set_new(o, k, json_string(v))
    PUT_S("remote_ip", f->remote_ip);
    if (f->remote_port >= 0)
        json_object_set_new(o, "remote_port", json_integer(f->remote_port));
    PUT_S("protocol", f->protocol);
    PUT_S("direction", f->direction);
    PUT_S("list", f->list);
    PUT_S("category", f->category);
    PUT_S("rule_type", f->rule_type);
    if (f->value_set)
        json_object_set_new(o, "value", f->value == (double)(int64_t)f->value
                                            ? json_integer((int64_t)f->value)
                                            : json_real(f->value));
    if (f->min >= 0)
        json_object_set_new(o, "min", json_integer(f->min));
    if (f->max >= 0)
        json_object_set_new(o, "max", json_integer(f->max));
    if (f->window_ms >= 0) {
        char w[32];
        snprintf(w, sizeof(w), "PT%lldS", (long long)(f->window_ms / 1000));
        json_object_set_new(o, "window", json_string(w));
    }
    PUT_S("reason", f->reason);
    PUT_S("certificate_name", f->certificate_name);
    PUT_S("setting_name", f->setting_name);
    PUT_S("source_ip", f->source_ip);
#undef PUT_S
    s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

/* ---- the writer ------------------------------------------------------------------------- */

static const char ALERT_INSERT[] =
    "INSERT INTO alerts (alert_type, alert_key, display_name, severity, device_id, hub, status, "
    "start_ms, end_ms, count, value, description, remediation, extended_properties) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'Active', ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
static const char ALERT_TOUCH[] =
    "UPDATE alerts SET end_ms = max(end_ms, ?2), count = count + ?3, value = coalesce(?4, value), "
    "description = ?5, remediation = ?6, extended_properties = ?7 WHERE alert_id = ?1";
static const char ALERT_STATUS[] =
    "UPDATE alerts SET status = ?2, resolved_ms = CASE WHEN ?2 = 'Resolved' THEN ?3 ELSE NULL END "
    "WHERE alert_id = ?1";
static const char TRANSITION_INSERT[] =
    "INSERT INTO alert_transitions (alert_id, at_ms, from_status, to_status, note) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
static const char ALERT_READ[] =
    "SELECT alert_id, alert_type, alert_key, display_name, severity, device_id, hub, status, "
    "start_ms, end_ms, count, value, description, remediation, extended_properties "
    "FROM alerts WHERE alert_id = ?1";
static const char OUTBOX_INSERT[] =
    "INSERT INTO outbox (topic, payload, created_ms) VALUES (?1, ?2, ?3)";

enum { W_INSERT, W_TOUCH, W_STATUS, W_TRANSITION, W_READ, W_OUTBOX, W_COUNT };

struct alert_writer {
    sqlite3 *db;
    sqlite3_stmt *st[W_COUNT];
};

struct alert_writer *alert_writer_new(sqlite3 *db)
{
    static const char *const sql[W_COUNT] = {ALERT_INSERT, ALERT_TOUCH, ALERT_STATUS,
                                             TRANSITION_INSERT, ALERT_READ, OUTBOX_INSERT};
    struct alert_writer *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    w->db = db;
    for (int i = 0; i < W_COUNT; i++) {
        if (sqlite3_prepare_v2(db, sql[i], -1, &w->st[i], NULL) != SQLITE_OK) {
            log_warn("alerts: preparing statement %d: %s", i, sqlite3_errmsg(db));
            alert_writer_free(w);
            return NULL;
        }
    }
    return w;
}

void alert_writer_free(struct alert_writer *w)
{
    if (w == NULL)
        return;
    for (int i = 0; i < W_COUNT; i++)
        sqlite3_finalize(w->st[i]);
    free(w);
}

static bool run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW;
}

static void bind_opt(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* Counts are whole numbers: bind them as integers so SQL shows 6, not 6.0. */
static void bind_value(sqlite3_stmt *st, int i, const struct alert_facts *f)
{
    if (!f->value_set)
        sqlite3_bind_null(st, i);
    else if (f->value == (double)(int64_t)f->value)
        sqlite3_bind_int64(st, i, (int64_t)f->value);
    else
        sqlite3_bind_double(st, i, f->value);
}

bool alert_open(struct alert_writer *w, const char *type, const char *key,
                const struct alert_facts *f, int64_t start_ms, int64_t end_ms, int64_t count,
                int64_t *id)
{
    const struct catalog_entry *info = alert_info(type);
    sqlite3_stmt *st = w->st[W_INSERT];
    char desc[1024], rem[1024];
    char *props = props_json(f);
    bool ok;

    WARDEN_ASSERT(info != NULL);
    texts(type, f, desc, sizeof(desc), rem, sizeof(rem));
    sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, info->title, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, info->severity, -1, SQLITE_STATIC);
    bind_opt(st, 5, f->device_id);
    bind_opt(st, 6, f->hub);
    sqlite3_bind_int64(st, 7, start_ms);
    sqlite3_bind_int64(st, 8, end_ms);
    sqlite3_bind_int64(st, 9, count);
    bind_value(st, 10, f);
    sqlite3_bind_text(st, 11, desc, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 12, rem, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 13, props ? props : "{}", -1, SQLITE_TRANSIENT);
    ok = run(st);
    free(props);
    if (!ok)
        return false;
    *id = sqlite3_last_insert_rowid(w->db);
    return alert_transition(w, *id, NULL, ALERT_ACTIVE, NULL, start_ms);
}

bool alert_touch(struct alert_writer *w, int64_t id, int64_t end_ms, int64_t add_count,
                 const struct alert_facts *f)
{
    sqlite3_stmt *st = w->st[W_TOUCH];
    char desc[1024], rem[1024];
    char *props = props_json(f);
    sqlite3_stmt *rd = w->st[W_READ];
    char type[80] = "";
    bool ok;

    sqlite3_bind_int64(rd, 1, id);
    if (sqlite3_step(rd) == SQLITE_ROW)
        snprintf(type, sizeof(type), "%s", (const char *)sqlite3_column_text(rd, 1));
    sqlite3_reset(rd);
    texts(type, f, desc, sizeof(desc), rem, sizeof(rem));
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, end_ms);
    sqlite3_bind_int64(st, 3, add_count);
    bind_value(st, 4, f);
    sqlite3_bind_text(st, 5, desc, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, rem, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, props ? props : "{}", -1, SQLITE_TRANSIENT);
    ok = run(st);
    free(props);
    return ok;
}

/* The alert as JSON, the shape the API serves, plus what changed. */
static char *alert_json(struct alert_writer *w, int64_t id, const char *from, const char *to,
                        const char *note, char *scope, size_t scopelen, char *type, size_t typelen)
{
    sqlite3_stmt *st = w->st[W_READ];
    json_t *o = json_object(), *props;
    char t[40];
    char *s = NULL;

    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        static const char *const cols[] = {"alert_type", "alert_key", "display_name", "severity",
                                           "device_id", "hub", "status"};
        json_object_set_new(o, "alert_id", json_integer(sqlite3_column_int64(st, 0)));
        for (int i = 0; i < 7; i++) {
            const char *v = (const char *)sqlite3_column_text(st, i + 1);
            json_object_set_new(o, cols[i], v ? json_string(v) : json_null());
        }
        time_format_iso(sqlite3_column_int64(st, 8), t, sizeof(t));
        json_object_set_new(o, "start_time", json_string(t));
        time_format_iso(sqlite3_column_int64(st, 9), t, sizeof(t));
        json_object_set_new(o, "end_time", json_string(t));
        json_object_set_new(o, "count", json_integer(sqlite3_column_int64(st, 10)));
        json_object_set_new(o, "value",
                            sqlite3_column_type(st, 11) == SQLITE_NULL      ? json_null()
                            : sqlite3_column_type(st, 11) == SQLITE_INTEGER ? json_integer(sqlite3_column_int64(st, 11))
                                                                            : json_real(sqlite3_column_double(st, 11)));
        json_object_set_new(o, "description", json_string((const char *)sqlite3_column_text(st, 12)));
        json_object_set_new(o, "remediation", json_string((const char *)sqlite3_column_text(st, 13)));
        props = json_loads((const char *)sqlite3_column_text(st, 14), 0, NULL);
        json_object_set_new(o, "extended_properties", props ? props : json_object());
        snprintf(type, typelen, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(scope, scopelen, "%s",
                 sqlite3_column_type(st, 5) != SQLITE_NULL
                     ? (const char *)sqlite3_column_text(st, 5)
                     : (const char *)sqlite3_column_text(st, 6));
        json_object_set_new(o, "transition",
                            json_pack("{s:o, s:s, s:o}", "from", from ? json_string(from) : json_null(),
                                      "to", to, "note", note ? json_string(note) : json_null()));
        s = json_dumps(o, JSON_COMPACT);
    }
    sqlite3_reset(st);
    json_decref(o);
    return s;
}

void alert_topic(const char *type, const char *scope, char *out, size_t outlen)
{
    size_t o = (size_t)snprintf(out, outlen, "warden/alerts/%s/", type);

    for (const char *p = scope; *p != '\0' && o + 4 < outlen; p++) {
        if (*p == '/' || *p == '+' || *p == '#' || *p == '%')
            o += (size_t)snprintf(out + o, outlen - o, "%%%02X", (unsigned char)*p);
        else
            out[o++] = *p;
    }
    out[o < outlen ? o : outlen - 1] = '\0';
}

bool alert_transition(struct alert_writer *w, int64_t id, const char *from, const char *to,
                      const char *note, int64_t at_ms)
{
    sqlite3_stmt *st;
    char scope[256] = "", type[80] = "", topic[512];
    char *payload;
    bool ok;

    if (from != NULL) {
        st = w->st[W_STATUS];
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, at_ms);
        if (!run(st))
            return false;
    }
    st = w->st[W_TRANSITION];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, at_ms);
    bind_opt(st, 3, from);
    sqlite3_bind_text(st, 4, to, -1, SQLITE_STATIC);
    bind_opt(st, 5, note);
    if (!run(st))
        return false;
    payload = alert_json(w, id, from, to, note, scope, sizeof(scope), type, sizeof(type));
    if (payload == NULL)
        return false;
    alert_topic(type, scope, topic, sizeof(topic));
    st = w->st[W_OUTBOX];
    sqlite3_bind_text(st, 1, topic, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, payload, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, clock_now_ms());
    ok = run(st);
    free(payload);
    return ok;
}



int eval_alert_change(sqlite3 *db, int64_t id, bool dismiss, const char *note)
{
    static const char sql[] = "SELECT status FROM alerts WHERE alert_id = ?1";
    const char *from = dismiss ? ALERT_ACTIVE : ALERT_DISMISSED;
    const char *to = dismiss ? ALERT_DISMISSED : ALERT_ACTIVE;
    struct alert_writer *w;
    sqlite3_stmt *st;
    int status = 0;

    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return 500;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return 500;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW)
        status = 404;
    else if (strcmp((const char *)sqlite3_column_text(st, 0), from) != 0)
        status = 409;
    sqlite3_finalize(st);
    if (status == 0) {
        w = alert_writer_new(db);
        if (w == NULL || !alert_transition(w, id, from, to, note, clock_now_ms()))
            status = 500;
        alert_writer_free(w);
    }
    if (status == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return status ? status : 500;
}
