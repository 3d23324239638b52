/*
 * notify/amsender.c: one sender thread per Alertmanager (see notify.h).
 *
 * A sender's round: when notify.resend has passed (and at once after start,
 * and when the Alertmanager's uptime says it restarted), every open alert and
 * recommendation goes again with a fresh lease, and every one that ended
 * within notify.resolved_retention goes again resolved; then whatever the
 * queue holds for this Alertmanager goes, 64 at a time, each row deleted only
 * once the Alertmanager accepted it (and only if no newer transition came
 * meanwhile). A refused connection, a timeout or a 5xx keeps the rows and
 * backs off, doubling up to notify.resend; a 400 says some alerts were
 * invalid and the rest stored, so those rows are dropped with the reason
 * noted, not retried for ever. After a good round the sender reads back the
 * Alertmanager's status, its suppressed alerts and its silences.
 */
#include "notify.h"

#include "../common/catalog.h"
#include "../store/store.h"
#include "amclient.h"
#include "ampayload.h"

#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LATENCY_RING 1024
#define BACKOFF_FIRST_MS 500
#define TICK_MS 250

/* The columns of an item, the same for alerts and recommendations (see read_item). */
#define ALERT_ITEM                                                                               \
    "SELECT 'alert', a.alert_id, a.alert_type, a.alert_key, a.severity, a.device_id, a.hub, "    \
    "d.security_group, a.display_name, a.description, a.remediation, a.status, a.start_ms, "     \
    "CASE a.status WHEN 'Active' THEN -1 WHEN 'Resolved' THEN coalesce(a.resolved_ms, a.end_ms) " \
    "ELSE coalesce((SELECT max(t.at_ms) FROM alert_transitions t WHERE t.alert_id = a.alert_id), " \
    "a.end_ms) END, a.end_ms, a.count, CAST(a.value AS TEXT) "                                   \
    "FROM alerts a LEFT JOIN devices d ON d.device_id = a.device_id "
#define REC_ITEM                                                                                 \
    "SELECT 'recommendation', r.rec_id, r.rec_type, r.rec_key, r.severity, r.device_id, r.hub, " \
    "d.security_group, r.display_name, NULL, NULL, r.state, r.discovered_ms, "                   \
    "CASE r.state WHEN 'Active' THEN -1 ELSE coalesce(r.resolved_ms, r.discovered_ms) END, -1, " \
    "-1, NULL FROM recommendations r LEFT JOIN devices d ON d.device_id = r.device_id "

enum {
    S_OPEN_ALERTS,   /* the full resend: open alerts */
    S_ENDED_ALERTS,  /* ... alerts resolved since ?1 */
    S_RECS,          /* ... active recommendations and those resolved since ?1 */
    S_QUEUE,         /* the next queued rows */
    S_ALERT,         /* one alert by id */
    S_REC,           /* one recommendation by id */
    S_DEQUEUE,
    S_DELIVERED,
    S_FAILED,
    S_TARGET_ERROR,
    S_COUNTERS,
    S_UPTIME_GET,
    S_UPTIME_SET,
    S_FIND_ALERT,
    S_FIND_REC,
    S_SEEN_CLEAR,
    S_SEEN,
    S_SILENCES_CLEAR,
    S_SILENCE,
    S_COUNT
};

static const char *const sql[S_COUNT] = {
    ALERT_ITEM "WHERE a.status IN ('Active', 'Dismissed')",
    ALERT_ITEM "WHERE a.resolved_ms >= ?1",
    REC_ITEM "WHERE r.state = 'Active' OR r.resolved_ms >= ?1",
    "SELECT kind, ref, gen, queued_ms FROM notify_queue WHERE target_id = ?1 "
    "ORDER BY queued_ms, kind, ref LIMIT 64", /* NOTIFY_BATCH */
    ALERT_ITEM "WHERE a.alert_id = ?1",
    REC_ITEM "WHERE r.rec_id = ?1",
    "DELETE FROM notify_queue WHERE target_id = ?1 AND kind = ?2 AND ref = ?3 AND gen = ?4",
    /* ?4: 1 when it was sent firing; ?6: the delay of a queued send, NULL for a resend. */
    "INSERT INTO notify_deliveries (target_id, kind, ref, firing_ms, resolved_ms, delay_ms) "
    "VALUES (?1, ?2, ?3, CASE WHEN ?4 THEN ?5 END, CASE WHEN ?4 THEN NULL ELSE ?5 END, ?6) "
    "ON CONFLICT (target_id, kind, ref) DO UPDATE SET "
    "firing_ms = CASE WHEN ?4 THEN ?5 ELSE firing_ms END, "
    "resolved_ms = CASE WHEN ?4 THEN resolved_ms ELSE ?5 END, "
    "delay_ms = coalesce(?6, delay_ms), last_error = NULL",
    "INSERT INTO notify_deliveries (target_id, kind, ref, last_error) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (target_id, kind, ref) DO UPDATE SET last_error = ?4",
    "UPDATE notify_targets SET last_error = ?2 WHERE target_id = ?1",
    "INSERT INTO notify_counters (target_id, sent, errors, dropped, latency_sum, latency_count, "
    "latency_q50, latency_q90, latency_q99) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
    "ON CONFLICT (target_id) DO UPDATE SET sent = sent + ?2, errors = errors + ?3, "
    "dropped = dropped + ?4, latency_sum = latency_sum + ?5, "
    "latency_count = latency_count + ?6, latency_q50 = ?7, latency_q90 = ?8, latency_q99 = ?9",
    "SELECT uptime FROM notify_targets WHERE target_id = ?1",
    "UPDATE notify_targets SET uptime = ?2, polled_ms = ?3 WHERE target_id = ?1",
    "SELECT alert_id FROM alerts WHERE alert_type = ?1 AND alert_key = ?2 "
    "AND status IN ('Active', 'Dismissed')",
    "SELECT rec_id FROM recommendations WHERE rec_type = ?1 AND rec_key = ?2 AND state = 'Active'",
    "UPDATE notify_deliveries SET am_state = NULL, silenced_by = NULL, inhibited_by = NULL, "
    "polled_ms = ?2 WHERE target_id = ?1 AND am_state IS NOT NULL",
    "INSERT INTO notify_deliveries (target_id, kind, ref, am_state, silenced_by, inhibited_by, "
    "polled_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (target_id, kind, ref) DO UPDATE "
    "SET am_state = ?4, silenced_by = ?5, inhibited_by = ?6, polled_ms = ?7",
    "DELETE FROM notify_silences WHERE target_id = ?1",
    "INSERT OR REPLACE INTO notify_silences (target_id, silence_id, state, comment, created_by, "
    "starts_ms, ends_ms, matchers) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, coalesce(?8, '[]'))",
};

/* One item of a request: what to note once the Alertmanager has answered. */
struct sent {
    char kind[16];
    int64_t ref, gen, queued_ms; /* gen -1: a resend, no queue row */
    bool firing;
};

struct sender {
    struct notify *owner;
    int64_t target_id;
    struct am_client client;
    struct store *store;
    sqlite3 *db;
    sqlite3_stmt *st[S_COUNT];
    pthread_t thread;
    bool started;
    /* the request being built */
    json_t *batch;
    struct sent items[NOTIFY_BATCH];
    int n;
    /* counters not yet written */
    int64_t sent, errors, dropped, requests;
    double latency_sum;
    double ring[LATENCY_RING];
    size_t ring_n, ring_at;
    bool failing;          /* the last request failed: say so once, and again when it recovers */
    char uptime[64];
};

struct notify {
    struct config cfg;
    int stop[2];
    json_t *labels;
    char base_url[300];
    struct sender *senders;
    size_t n_senders;
};

static bool stopping(const struct notify *n)
{
    struct pollfd p = {n->stop[0], POLLIN, 0};

    return poll(&p, 1, 0) > 0;
}

static void wait_ms(const struct notify *n, int64_t ms)
{
    struct pollfd p = {n->stop[0], POLLIN, 0};

    if (ms > 0)
        poll(&p, 1, ms > 60000 ? 60000 : (int)ms);
}

static void commit(struct sender *s, const char *what)
{
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        log_warn("notify: %s: %s: %s", s->client.url, what, sqlite3_errmsg(s->db));
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
}

static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* The item of a row of ALERT_ITEM or REC_ITEM; its strings live until the statement moves. */
static void read_item(sqlite3_stmt *st, struct am_item *it)
{
    const struct catalog_entry *c;

    memset(it, 0, sizeof(*it));
    it->kind = col(st, 0);
    it->ref = sqlite3_column_int64(st, 1);
    it->type = col(st, 2);
    it->key = col(st, 3);
    it->severity = col(st, 4);
    it->device_id = col(st, 5);
    it->hub = col(st, 6);
    it->group = it->device_id ? col(st, 7) : NULL;
    it->title = col(st, 8);
    it->description = col(st, 9);
    it->remediation = col(st, 10);
    it->status = col(st, 11);
    it->start_ms = sqlite3_column_int64(st, 12);
    it->end_ms = sqlite3_column_int64(st, 13);
    it->last_ms = sqlite3_column_int64(st, 14);
    it->count = sqlite3_column_int64(st, 15);
    it->value = col(st, 16);
    /* A recommendation's texts are the catalogue's. */
    if (it->description == NULL && (c = catalog_find(it->type)) != NULL) {
        it->description = c->when;
        it->remediation = c->remediation;
    }
}

static void note_latency(struct sender *s, double seconds)
{
    s->latency_sum += seconds;
    s->requests++;
    s->ring[s->ring_at] = seconds;
    s->ring_at = (s->ring_at + 1) % LATENCY_RING;
    if (s->ring_n < LATENCY_RING)
        s->ring_n++;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Writes what the counters gained since the last flush. */
static void flush_counters(struct sender *s)
{
    sqlite3_stmt *st = s->st[S_COUNTERS];
    double sorted[LATENCY_RING];

    if (s->sent == 0 && s->errors == 0 && s->dropped == 0 && s->requests == 0)
        return;
    memcpy(sorted, s->ring, s->ring_n * sizeof(double));
    qsort(sorted, s->ring_n, sizeof(double), cmp_double);
    sqlite3_bind_int64(st, 1, s->target_id);
    sqlite3_bind_int64(st, 2, s->sent);
    sqlite3_bind_int64(st, 3, s->errors);
    sqlite3_bind_int64(st, 4, s->dropped);
    sqlite3_bind_double(st, 5, s->latency_sum);
    sqlite3_bind_int64(st, 6, s->requests);
    for (int i = 0; i < 3; i++) {
        static const double q[] = {0.5, 0.9, 0.99};

        if (s->ring_n == 0)
            sqlite3_bind_null(st, 7 + i);
        else
            sqlite3_bind_double(st, 7 + i, sorted[(size_t)floor(q[i] * (double)(s->ring_n - 1))]);
    }
    if (sqlite3_step(st) == SQLITE_DONE)
        s->sent = s->errors = s->dropped = s->requests = 0, s->latency_sum = 0;
    sqlite3_reset(st);
}

static void target_error(struct sender *s, const char *why)
{
    sqlite3_stmt *st = s->st[S_TARGET_ERROR];

    sqlite3_bind_int64(st, 1, s->target_id);
    if (why)
        sqlite3_bind_text(st, 2, why, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 2);
    sqlite3_step(st);
    sqlite3_reset(st);
}

static void add_item(struct sender *s, const struct am_item *it, int64_t gen, int64_t queued_ms,
                     int64_t now)
{
    struct sent *x = &s->items[s->n++];

    json_array_append_new(s->batch, am_item_json(it, s->owner->labels, now,
                                                 4 * s->owner->cfg.notify_resend_ms,
                                                 s->owner->base_url));
    snprintf(x->kind, sizeof(x->kind), "%s", it->kind);
    x->ref = it->ref;
    x->gen = gen;
    x->queued_ms = queued_ms;
    x->firing = it->end_ms < 0;
}

static void dequeue(struct sender *s, const struct sent *x)
{
    sqlite3_stmt *st = s->st[S_DEQUEUE];

    sqlite3_bind_int64(st, 1, s->target_id);
    sqlite3_bind_text(st, 2, x->kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, x->ref);
    sqlite3_bind_int64(st, 4, x->gen);
    sqlite3_step(st);
    sqlite3_reset(st);
}

/* After the Alertmanager answered ACCEPTED (2xx) or refused the alerts as invalid (400). */
static void note_batch(struct sender *s, bool accepted, const char *why)
{
    int64_t now = clock_now_ms();

    sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (int i = 0; i < s->n; i++) {
        const struct sent *x = &s->items[i];
        sqlite3_stmt *st;

        if (x->gen >= 0)
            dequeue(s, x);
        st = s->st[accepted ? S_DELIVERED : S_FAILED];
        sqlite3_bind_int64(st, 1, s->target_id);
        sqlite3_bind_text(st, 2, x->kind, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, x->ref);
        if (accepted) {
            sqlite3_bind_int(st, 4, x->firing);
            sqlite3_bind_int64(st, 5, now);
            if (x->gen >= 0)
                sqlite3_bind_int64(st, 6, now - x->queued_ms);
            else
                sqlite3_bind_null(st, 6);
        } else {
            sqlite3_bind_text(st, 4, why, -1, SQLITE_TRANSIENT);
        }
        sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    target_error(s, accepted ? NULL : why);
    commit(s, "noting a delivery");
}

/* Sends the batch built so far; false when the Alertmanager must be tried again later. */
static bool flush_batch(struct sender *s)
{
    struct am_reply r;
    char *body;
    bool ok;

    if (s->n == 0)
        return true;
    body = json_dumps(s->batch, JSON_COMPACT);
    am_request(&s->client, "POST", "/api/v2/alerts", body, body ? strlen(body) : 0, &r);
    free(body);
    note_latency(s, r.seconds);
    if (r.status >= 200 && r.status <= 299) {
        note_batch(s, true, NULL);
        s->sent += s->n;
        if (s->failing)
            log_info("notify: %s: sending again", s->client.url);
        s->failing = false;
        ok = true;
    } else if (r.status == 400) {
        /* Some were invalid, the valid ones are stored: noted, not retried. */
        log_warn("notify: %s: %d alerts refused as invalid: %s", s->client.url, s->n, r.error);
        note_batch(s, false, r.error);
        s->errors += s->n;
        s->dropped += s->n;
        ok = true;
    } else {
        if (!s->failing && !stopping(s->owner))
            log_warn("notify: %s: %s; the alerts stay queued", s->client.url, r.error);
        s->failing = true;
        s->errors += s->n;
        target_error(s, r.error);
        ok = false;
    }
    am_reply_free(&r);
    json_array_clear(s->batch);
    s->n = 0;
    return ok;
}

/* Every row of statement st (bound by the caller) into batches; false if a send failed. */
static bool send_rows(struct sender *s, sqlite3_stmt *st, int64_t now, int64_t since)
{
    struct am_item it;
    bool ok = true;

    while (ok && !stopping(s->owner) && sqlite3_step(st) == SQLITE_ROW) {
        read_item(st, &it);
        /* A dismissed alert is open in Warden but resolved for Alertmanager: as long as the others. */
        if (it.end_ms >= 0 && it.end_ms < since)
            continue;
        add_item(s, &it, -1, 0, now);
        if (s->n == NOTIFY_BATCH)
            ok = flush_batch(s);
    }
    sqlite3_reset(st);
    return ok;
}

/* The full resend: every open item with a new lease, every lately ended one resolved. */
static bool send_all(struct sender *s)
{
    int64_t now = clock_now_ms(), since = now - s->owner->cfg.notify_resolved_retention_ms;
    bool ok;

    ok = send_rows(s, s->st[S_OPEN_ALERTS], now, since);
    sqlite3_bind_int64(s->st[S_ENDED_ALERTS], 1, since);
    ok = ok && send_rows(s, s->st[S_ENDED_ALERTS], now, since);
    sqlite3_bind_int64(s->st[S_RECS], 1, since);
    ok = ok && send_rows(s, s->st[S_RECS], now, since);
    return ok && flush_batch(s);
}

/* What the queue holds, 64 rows at a time, until it is empty; false if a send failed. */
static bool send_queue(struct sender *s)
{
    sqlite3_stmt *q = s->st[S_QUEUE];

    for (;;) {
        int64_t now = clock_now_ms();
        struct sent rows[NOTIFY_BATCH];
        int n = 0;

        if (stopping(s->owner))
            return false;
        sqlite3_bind_int64(q, 1, s->target_id);
        while (n < NOTIFY_BATCH && sqlite3_step(q) == SQLITE_ROW) {
            snprintf(rows[n].kind, sizeof(rows[n].kind), "%s", col(q, 0));
            rows[n].ref = sqlite3_column_int64(q, 1);
            rows[n].gen = sqlite3_column_int64(q, 2);
            rows[n].queued_ms = sqlite3_column_int64(q, 3);
            n++;
        }
        sqlite3_reset(q);
        if (n == 0)
            return true;
        for (int i = 0; i < n; i++) {
            sqlite3_stmt *st = s->st[strcmp(rows[i].kind, "alert") == 0 ? S_ALERT : S_REC];
            struct am_item it;

            sqlite3_bind_int64(st, 1, rows[i].ref);
            if (sqlite3_step(st) == SQLITE_ROW) {
                read_item(st, &it);
                add_item(s, &it, rows[i].gen, rows[i].queued_ms, now);
            } else {
                dequeue(s, &rows[i]); /* gone since it was queued: nothing to say of it */
            }
            sqlite3_reset(st);
        }
        if (!flush_batch(s))
            return false;
        flush_counters(s); /* so /metrics moves while a long queue drains */
    }
}

static void *sender_main(void *arg);

static bool sender_open(struct notify *n, struct sender *s, int64_t target_id, const char *url,
                        char *err, size_t errlen)
{
    s->owner = n;
    s->target_id = target_id;
    if (!am_client_init(&s->client, url, &n->cfg, n->stop[0], err, errlen))
        return false;
    if ((s->store = store_open(n->cfg.db_path, err, errlen)) == NULL)
        return false;
    s->db = store_sqlite(s->store);
    for (int i = 0; i < S_COUNT; i++) {
        if (sqlite3_prepare_v2(s->db, sql[i], -1, &s->st[i], NULL) != SQLITE_OK) {
            snprintf(err, errlen, "preparing statement %d: %s", i, sqlite3_errmsg(s->db));
            return false;
        }
    }
    s->batch = json_array();
    return true;
}

static void sender_close(struct sender *s)
{
    if (s->started)
        pthread_join(s->thread, NULL);
    if (s->db) {
        flush_counters(s);
        for (int i = 0; i < S_COUNT; i++)
            sqlite3_finalize(s->st[i]);
    }
    if (s->store)
        store_close(s->store);
    am_client_free(&s->client);
    json_decref(s->batch);
}

/* ---- reading back: uptime, suppressed alerts, silences ---------------------------------- */

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* True when the Alertmanager's start time moved: it restarted, and holds no alerts. */
static bool poll_uptime(struct sender *s, const struct am_reply *r)
{
    sqlite3_stmt *st = s->st[S_UPTIME_GET];
    char uptime[64], before[64] = "";
    bool restarted;

    if (!am_parse_uptime(r->body, r->len, uptime, sizeof(uptime)))
        return false;
    sqlite3_bind_int64(st, 1, s->target_id);
    if (sqlite3_step(st) == SQLITE_ROW && col(st, 0))
        snprintf(before, sizeof(before), "%s", col(st, 0));
    sqlite3_reset(st);
    restarted = before[0] != '\0' && strcmp(before, uptime) != 0;
    if (restarted)
        log_info("notify: %s restarted (up since %s): sending every open alert again",
                 s->client.url, uptime);
    st = s->st[S_UPTIME_SET];
    sqlite3_bind_int64(st, 1, s->target_id);
    sqlite3_bind_text(st, 2, uptime, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, clock_now_ms());
    sqlite3_step(st);
    sqlite3_reset(st);
    return restarted;
}

static void on_seen(void *arg, const struct am_seen *seen)
{
    struct sender *s = arg;
    bool alert = strcmp(seen->kind, "alert") == 0;
    sqlite3_stmt *st = s->st[alert ? S_FIND_ALERT : S_FIND_REC];
    int64_t ref = -1;

    if (!alert && strcmp(seen->kind, "recommendation") != 0)
        return;
    sqlite3_bind_text(st, 1, seen->alertname, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, seen->alert_key, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        ref = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (ref < 0)
        return;
    st = s->st[S_SEEN];
    sqlite3_bind_int64(st, 1, s->target_id);
    sqlite3_bind_text(st, 2, alert ? "alert" : "recommendation", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, ref);
    bind_text_or_null(st, 4, seen->state);
    sqlite3_bind_text(st, 5, seen->silenced_by, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, seen->inhibited_by, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 7, clock_now_ms());
    sqlite3_step(st);
    sqlite3_reset(st);
}

static void on_silence(void *arg, const struct am_silence *x)
{
    struct sender *s = arg;
    sqlite3_stmt *st = s->st[S_SILENCE];

    sqlite3_bind_int64(st, 1, s->target_id);
    sqlite3_bind_text(st, 2, x->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, x->state, -1, SQLITE_TRANSIENT);
    bind_text_or_null(st, 4, x->comment);
    bind_text_or_null(st, 5, x->created_by);
    if (x->starts_ms >= 0)
        sqlite3_bind_int64(st, 6, x->starts_ms);
    else
        sqlite3_bind_null(st, 6);
    if (x->ends_ms >= 0)
        sqlite3_bind_int64(st, 7, x->ends_ms);
    else
        sqlite3_bind_null(st, 7);
    bind_text_or_null(st, 8, x->matchers);
    sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static void run1(struct sender *s, int which)
{
    sqlite3_stmt *st = s->st[which];

    sqlite3_bind_int64(st, 1, s->target_id);
    if (which == S_SEEN_CLEAR)
        sqlite3_bind_int64(st, 2, clock_now_ms());
    sqlite3_step(st);
    sqlite3_reset(st);
}

/*
 * Reads the Alertmanager's status, the Warden alerts it suppresses (silenced
 * or inhibited; only those, so the answer stays small in a fleet-wide event)
 * and its silences, then writes what they say in one transaction, so a page
 * never shows an alert silenced by a silence it does not know yet. True when
 * the Alertmanager restarted since the last poll.
 */
static bool poll_alertmanager(struct sender *s)
{
    struct am_reply status, alerts, silences;
    bool restarted = false;

    am_request(&s->client, "GET", "/api/v2/status", NULL, 0, &status);
    am_request(&s->client, "GET",
               "/api/v2/alerts?active=false&unprocessed=false&silenced=true&inhibited=true"
               "&filter=source%3D%22warden%22",
               NULL, 0, &alerts);
    am_request(&s->client, "GET", "/api/v2/silences", NULL, 0, &silences);
    sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (status.status == 200)
        restarted = poll_uptime(s, &status);
    if (silences.status == 200) {
        run1(s, S_SILENCES_CLEAR);
        if (am_parse_silences(silences.body, silences.len, on_silence, s) < 0)
            log_warn("notify: %s: GET /api/v2/silences: not a list of silences", s->client.url);
    }
    if (alerts.status == 200) {
        run1(s, S_SEEN_CLEAR);
        if (am_parse_alerts(alerts.body, alerts.len, on_seen, s) < 0)
            log_warn("notify: %s: GET /api/v2/alerts: not a list of alerts", s->client.url);
    }
    commit(s, "noting what Alertmanager holds");
    am_reply_free(&status);
    am_reply_free(&alerts);
    am_reply_free(&silences);
    return restarted;
}

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    const struct config *cfg = &s->owner->cfg;
    int64_t now = clock_mono_ms(), next_all = now, next_poll = now, next_try = now, backoff = 0;

    while (!stopping(s->owner)) {
        now = clock_mono_ms();
        if (now >= next_try) {
            bool all = now >= next_all, ok = true;

            if (all)
                ok = send_all(s);
            ok = ok && send_queue(s);
            if (ok && all)
                next_all = now + cfg->notify_resend_ms;
            if (ok && now >= next_poll) {
                if (poll_alertmanager(s))
                    next_all = now; /* it restarted and holds nothing: all of it again, now */
                next_poll = now + cfg->notify_resend_ms;
            }
            if (ok) {
                backoff = 0;
                next_try = now;
            } else {
                backoff = backoff ? backoff * 2 : BACKOFF_FIRST_MS;
                if (backoff > cfg->notify_resend_ms)
                    backoff = cfg->notify_resend_ms;
                next_try = now + backoff;
            }
        }
        flush_counters(s);
        now = clock_mono_ms();
        wait_ms(s->owner, next_try > now ? next_try - now : TICK_MS);
    }
    return NULL;
}

/* notify_targets := the configured URLs; their ids in order into ids. */
static bool sync_targets(struct notify *n, sqlite3 *db, int64_t *ids, char *err, size_t errlen)
{
    char urls[sizeof(n->cfg.notify_am_urls)], *save = NULL, *u;
    sqlite3_stmt *ins = NULL, *get = NULL;
    size_t i = 0;
    bool ok = true;

    snprintf(urls, sizeof(urls), "%s", n->cfg.notify_am_urls);
    sqlite3_exec(db, "BEGIN IMMEDIATE; CREATE TEMP TABLE IF NOT EXISTS configured (url TEXT "
                     "PRIMARY KEY); DELETE FROM configured", NULL, NULL, NULL);
    if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO notify_targets (url, added_ms) "
                               "VALUES (?1, ?2)", -1, &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO configured (url) VALUES (?1) RETURNING "
                               "(SELECT target_id FROM notify_targets WHERE url = ?1)",
                           -1, &get, NULL) != SQLITE_OK)
        ok = false;
    for (u = strtok_r(urls, ",", &save); ok && u; u = strtok_r(NULL, ",", &save)) {
        size_t len = strlen(u);

        while (len > 0 && u[len - 1] == '/')
            u[--len] = '\0';
        sqlite3_bind_text(ins, 1, u, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 2, clock_now_ms());
        ok = sqlite3_step(ins) == SQLITE_DONE;
        sqlite3_reset(ins);
        sqlite3_bind_text(get, 1, u, -1, SQLITE_STATIC);
        if (ok && sqlite3_step(get) == SQLITE_ROW)
            ids[i++] = sqlite3_column_int64(get, 0);
        else
            ids[i++] = -1; /* the same address twice: one sender */
        sqlite3_reset(get);
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(get);
    ok = ok && sqlite3_exec(db, "DELETE FROM notify_targets WHERE url NOT IN "
                                "(SELECT url FROM configured); COMMIT", NULL, NULL, NULL) == SQLITE_OK;
    if (!ok) {
        snprintf(err, errlen, "notify: recording the Alertmanagers: %s", sqlite3_errmsg(db));
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    return ok;
}

struct notify *notify_start(const struct config *cfg, char *err, size_t errlen)
{
    struct notify *n = calloc(1, sizeof(*n));
    int64_t ids[NOTIFY_MAX_URLS];
    char urls[sizeof(cfg->notify_am_urls)], *save = NULL, *u;
    struct store *st;
    bool ok;

    if (n == NULL || pipe(n->stop) != 0) {
        snprintf(err, errlen, "notify: cannot set up");
        free(n);
        return NULL;
    }
    n->cfg = *cfg;
    notify_base_url(cfg, n->base_url, sizeof(n->base_url));
    n->labels = cfg->notify_labels[0] ? json_loads(cfg->notify_labels, 0, NULL) : NULL;
    if ((st = store_open(cfg->db_path, err, errlen)) == NULL) {
        notify_stop(n);
        return NULL;
    }
    ok = sync_targets(n, store_sqlite(st), ids, err, errlen);
    store_close(st);
    if (!ok) {
        notify_stop(n);
        return NULL;
    }
    n->senders = calloc(NOTIFY_MAX_URLS, sizeof(*n->senders));
    snprintf(urls, sizeof(urls), "%s", cfg->notify_am_urls);
    for (u = strtok_r(urls, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        struct sender *s = &n->senders[n->n_senders];
        int64_t id = ids[n->n_senders++];

        if (id < 0)
            continue; /* the same address twice: one sender */
        if (!sender_open(n, s, id, u, err, errlen)) {
            notify_stop(n);
            return NULL;
        }
    }
    for (size_t i = 0; i < n->n_senders; i++) {
        struct sender *s = &n->senders[i];

        if (s->owner == NULL)
            continue;
        if (pthread_create(&s->thread, NULL, sender_main, s) != 0) {
            snprintf(err, errlen, "notify: cannot start a sender thread");
            notify_stop(n);
            return NULL;
        }
        s->started = true;
        log_info("notify: sending alerts to %s", s->client.url);
    }
    return n;
}

void notify_stop(struct notify *n)
{
    if (n == NULL)
        return;
    if (write(n->stop[1], "", 1) != 1)
        log_warn("notify: cannot signal the senders");
    for (size_t i = 0; i < n->n_senders; i++)
        if (n->senders[i].owner != NULL)
            sender_close(&n->senders[i]);
    free(n->senders);
    json_decref(n->labels);
    close(n->stop[0]);
    close(n->stop[1]);
    free(n);
}
