/*
 * The MQTT side of the ingester: libmosquitto driven from Warden's libevent
 * loop, so that acknowledgements wait for the commit.
 *
 * With mosquitto_threaded_set(mosq, true) libmosquitto queues the PUBACK of a
 * QoS 1 message instead of writing it while it reads the message. Warden
 * reads until the socket has nothing more (or the batch is full), commits the
 * batch, and only then calls mosquitto_loop_write(), which writes the queued
 * PUBACKs. Every read round ends with a commit before any write, so a PUBACK
 * never leaves for a message that is not on disk.
 *
 * When a commit fails the queued PUBACKs must never be written: the client
 * handle is destroyed (closing the socket without writing) and a new one
 * connects later with the same client id, so the broker re-delivers.
 * libmosquitto does not reconnect in an external loop, so the backoff is ours.
 *
 * A database that refuses writes (disk full, I/O error) is the same case held
 * longer: every attempt rolls back and drops the connection, nothing is
 * acknowledged, and the broker keeps the queue. The ingester reconnects every
 * STORE_RETRY_MS and tries the real batch again, since only a real write
 * shows whether space came back. The log says so once when the store goes
 * down and once when it comes back; /healthz and /metrics read the state from
 * store_health, because a full database cannot record that it is full.
 */
#include "ingest.h"
#include "../hub/hubkeys.h"
#include "../notify/outbox.h"

#include "route.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define TICK_MS 250
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define IDLE_COMMIT_MS 1000
#define ROLLUP_EVERY_MS 10000
#define ROLLUP_SLICE_ROWS 25000  /* a slice takes tens of ms; slices run every tick while behind */
#define BATCH_MAX_MS 100         /* commit at least this often while the socket keeps data coming */
#define PRUNE_EVERY_MS 10000
#define PRUNE_BUDGET 20000
#define STORE_RETRY_MS 2000      /* reconnect this often while the database refuses writes */
#define STORE_PROBE_MS 2000      /* connected this long with nothing failing: writable again */

struct ingest {
    struct event_base *base;
    const struct config *cfg;
    struct store *store;
    struct route_ctx route;

    struct mosquitto *mosq;    /* NULL while disconnected */
    struct event *ev_sock;
    struct event *ev_tick;
    bool want_write_armed;
    bool connected;            /* CONNACK accepted */
    bool failed;               /* the connection must be dropped (set inside callbacks) */
    bool status_dirty;
    char last_error[160];

    int backoff_ms;
    int64_t next_attempt_ms;   /* monotonic */
    int64_t last_commit_ms;    /* monotonic */
    int64_t last_rollup_ms;    /* monotonic */
    bool rollup_more;          /* flows wait to be summarised: another slice next tick */
    int64_t last_prune_ms;     /* monotonic */
    bool prune_more;           /* the last prune left work: prune again next tick */

    size_t batch_msgs;
    int64_t last_recv_ms;
    char password[256];

    struct notify_outbox outbox; /* alert transitions, published over this connection */

    /*
     * The database refused a batch: held until a batch commits again.
     * Failures are counted in ingest_counters with the first commit that
     * succeeds (unsaved_failures, by SQLite result name).
     */
    bool store_down;
    int64_t store_down_ms;     /* monotonic */
    long store_retries;
    int64_t connected_ms;      /* monotonic, when the broker accepted us */
    struct {
        const char *name;
        int64_t n;
    } unsaved_failures[4];

    /* Test hooks (WARDEN_TEST_ABORT): abort at the n-th commit, before or after it. */
    long abort_before, abort_after, commits;
    const char *max_pages_file; /* WARDEN_TEST_MAX_PAGES, see store_test_max_pages() */
};

static void ingest_lost(struct ingest *in, const char *why);

static void set_error(struct ingest *in, const char *why)
{
    snprintf(in->last_error, sizeof(in->last_error), "%s", why ? why : "");
    in->status_dirty = true;
}

/* ---- the database refusing writes ---------------------------------------------------- */

/*
 * The database refused a write of the current batch. The caller drops the
 * connection, so nothing of the batch is acknowledged. Logged once per
 * outage, not per attempt.
 */
static void store_trouble(struct ingest *in)
{
    const char *name = store_errname(in->store);
    char why[200];
    size_t i;

    store_health_failed(in->store);
    for (i = 0; i < sizeof(in->unsaved_failures) / sizeof(in->unsaved_failures[0]) - 1 &&
                in->unsaved_failures[i].name != NULL && in->unsaved_failures[i].name != name;
         i++)
        ;
    in->unsaved_failures[i].name = name;
    in->unsaved_failures[i].n++;
    snprintf(why, sizeof(why), "commit failed: %s (%s); holding, nothing acknowledged",
             store_errmsg(in->store), name);
    set_error(in, why);
    if (in->store_down) {
        in->store_retries++;
        return;
    }
    in->store_down = true;
    in->store_down_ms = clock_mono_ms();
    in->store_retries = 0;
    log_warn("database not writable: %s (%s); holding: nothing more is acknowledged and the "
             "broker keeps the messages; retrying every %d s",
             store_errmsg(in->store), name, STORE_RETRY_MS / 1000);
}

/* A batch committed: the outage, if any, is over. */
static void store_back(struct ingest *in)
{
    store_health_ok();
    if (!in->store_down)
        return;
    in->store_down = false;
    log_info("database writable again after %.1f s and %ld failed retries; resuming",
             (double)(clock_mono_ms() - in->store_down_ms) / 1000, in->store_retries);
    set_error(in, NULL);
}

/* Test hook: re-read the page cap before every batch, so a test can give space back. */
static void test_max_pages(struct ingest *in)
{
    char buf[32];
    FILE *f;

    if (in->max_pages_file == NULL || (f = fopen(in->max_pages_file, "r")) == NULL)
        return;
    if (fgets(buf, sizeof(buf), f) != NULL && strtoll(buf, NULL, 10) > 0)
        store_test_max_pages(in->store, strtoll(buf, NULL, 10));
    fclose(f);
}

static enum store_err batch_begin(struct ingest *in)
{
    test_max_pages(in);
    return store_batch_begin(in->store);
}

/* ---- batches -------------------------------------------------------------------- */

/*
 * Commit latency as a Prometheus histogram in ingest_counters (cumulative
 * buckets, a count and a sum in microseconds). It is written with the next
 * commit, as every counter is.
 */
static void count_commit_latency(struct ingest *in, int64_t us)
{
    static const char *const le[] = {"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
                                     "0.1",   "0.25",   "0.5",   "1",    "2.5",   "+Inf"};
    static const int64_t le_us[] = {1000,  2500,   5000,   10000,   25000,   50000,
                                    100000, 250000, 500000, 1000000, 2500000, INT64_MAX};

    for (size_t i = 0; i < sizeof(le) / sizeof(le[0]); i++) {
        char label[32];
        if (us > le_us[i])
            continue;
        snprintf(label, sizeof(label), "le=\"%s\"", le[i]);
        store_counter_add(in->store, "warden_batch_commit_seconds_bucket", label, 1);
    }
    store_counter_add(in->store, "warden_batch_commit_seconds_count", "", 1);
    store_counter_add(in->store, "warden_batch_commit_microseconds_total", "", us);
}

static void commit_batch(struct ingest *in, int64_t watermark_ms)
{
    enum store_err e;

    bool counted = in->batch_msgs > 0;
    int64_t t0;

    if (!store_batch_open(in->store))
        return;
    /* The test hooks count commits that hold messages, not idle heartbeats. */
    if (counted)
        in->commits++;
    if (counted && in->abort_before == in->commits) {
        fprintf(stderr, "warden: WARDEN_TEST_ABORT before commit %ld holding %zu messages\n",
                in->commits, in->batch_msgs);
        abort();
    }
    for (size_t i = 0; i < sizeof(in->unsaved_failures) / sizeof(in->unsaved_failures[0]); i++) {
        char label[48];
        if (in->unsaved_failures[i].name == NULL)
            break;
        snprintf(label, sizeof(label), "error=\"%s\"", in->unsaved_failures[i].name);
        store_counter_add(in->store, "warden_store_write_failures_total", label,
                          in->unsaved_failures[i].n);
    }
    t0 = clock_mono_us();
    e = store_batch_commit(in->store, watermark_ms);
    if (e != STORE_OK) {
        /* The connection is dropped, so the broker keeps the messages of the batch. */
        store_trouble(in);
        store_batch_rollback(in->store);
        in->failed = true;
        return;
    }
    memset(in->unsaved_failures, 0, sizeof(in->unsaved_failures));
    if (counted && in->abort_after == in->commits) {
        fprintf(stderr, "warden: WARDEN_TEST_ABORT after commit %ld holding %zu messages\n",
                in->commits, in->batch_msgs);
        abort();
    }
    if (counted)
        count_commit_latency(in, clock_mono_us() - t0);
    in->batch_msgs = 0;
    in->last_commit_ms = clock_mono_ms();
    /*
     * An empty commit may succeed on a full disk (it rewrites pages it has),
     * so only a batch of messages, or a quiet connection that the broker had
     * time to fill, shows the store writable again.
     */
    if (counted || !in->store_down ||
        (in->connected && in->last_commit_ms - in->connected_ms >= STORE_PROBE_MS))
        store_back(in);
}

static void on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
    struct ingest *in = arg;
    int64_t recv_ms = clock_now_ms();
    enum store_err e;

    (void)m;
    if (in->failed)
        return;
    if (!store_batch_open(in->store) && batch_begin(in) != STORE_OK) {
        in->failed = true;
        store_trouble(in);
        return;
    }
    /*
     * IoT Hub retains nothing, and a broker sends its retained messages again
     * at every subscription, so at every start of Warden: counting them would
     * make each restart look like traffic. A retained message published while
     * Warden's subscription existed reached it once already without the flag,
     * live or from its session's queue; one from before is history, which
     * IoT Hub would not deliver either. It is still acknowledged, with the
     * batch, or the broker would send it again.
     */
    if (msg->retain) {
        store_counter_add(in->store, "warden_messages_retained_ignored_total", "", 1);
        in->batch_msgs++;
        return;
    }
    e = ingest_route(&in->route, msg->topic, msg->payload, (size_t)msg->payloadlen, recv_ms);
    if (e != STORE_OK) {
        in->failed = true;
        store_trouble(in);
        return;
    }
    in->batch_msgs++;
    in->last_recv_ms = recv_ms;
}

/* ---- publishing the outbox (notify/outbox.c keeps what is in flight) ------------------ */

static void on_publish(struct mosquitto *m, void *arg, int mid)
{
    struct ingest *in = arg;

    (void)m;
    notify_outbox_acked(&in->outbox, mid);
}

static bool outbox_publish(void *arg, const char *topic, const char *payload, int *mid)
{
    struct ingest *in = arg;

    return mosquitto_publish(in->mosq, mid, topic, (int)strlen(payload), payload, 1, false) ==
           MOSQ_ERR_SUCCESS;
}

/* ---- the socket ---------------------------------------------------------------------- */

static void arm_write(struct ingest *in)
{
    bool want = in->mosq != NULL && mosquitto_want_write(in->mosq);
    short what = EV_READ | EV_PERSIST | (want ? EV_WRITE : 0);

    if (want == in->want_write_armed || in->ev_sock == NULL)
        return;
    event_del(in->ev_sock);
    event_assign(in->ev_sock, in->base, event_get_fd(in->ev_sock), what, event_get_callback(in->ev_sock),
                 in);
    event_add(in->ev_sock, NULL);
    in->want_write_armed = want;
}

/* Write what libmosquitto has queued. Only called with no batch open. */
static void write_now(struct ingest *in)
{
    int rc;

    WARDEN_ASSERT(!store_batch_open(in->store));
    rc = mosquitto_loop_write(in->mosq, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
        ingest_lost(in, mosquitto_strerror(rc));
        return;
    }
    arm_write(in);
}

static bool socket_has_data(int fd)
{
    int avail = 0;
    return ioctl(fd, FIONREAD, &avail) == 0 && avail > 0;
}

/*
 * Read until the socket is drained or the batch is full, commit, then write
 * the acknowledgements: committing whenever the socket runs dry keeps the
 * broker's in-flight window moving.
 */
static void read_round(struct ingest *in, int fd)
{
    int64_t started = clock_mono_ms();
    bool full = false;

    for (;;) {
        int rc = mosquitto_loop_read(in->mosq, 1);
        if (rc != MOSQ_ERR_SUCCESS || in->failed) {
            ingest_lost(in, in->failed ? in->last_error : mosquitto_strerror(rc));
            return;
        }
        /* A batch ends when the socket is dry, or is full, or has read long enough. */
        if (in->batch_msgs >= (size_t)in->cfg->ingest_batch_max_messages ||
            (in->batch_msgs > 0 && clock_mono_ms() - started >= BATCH_MAX_MS)) {
            full = true;
            break;
        }
        if (!socket_has_data(fd))
            break;
    }
    commit_batch(in, full ? in->last_recv_ms : clock_now_ms());
    if (in->failed) {
        ingest_lost(in, in->last_error);
        return;
    }
    write_now(in);
}

static void on_sock(evutil_socket_t fd, short what, void *arg)
{
    struct ingest *in = arg;

    if (in->mosq == NULL)
        return;
    if (what & EV_READ)
        read_round(in, (int)fd);
    if (in->mosq != NULL && (what & EV_WRITE))
        write_now(in);
}

/* ---- connecting ------------------------------------------------------------------------- */

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
    struct ingest *in = arg;
    const char *root = in->cfg->mqtt_topic_root;
    static const char *const subs[] = {
        "devices/+/messages/events/#",   "devices/+/modules/+/messages/events/#",
        "devices/+/messages/devicebound/#", "devices/+/methods/POST/#",
        "devices/+/twin/PATCH/#",        "devices/+/modules/+/twin/PATCH/#",
        "hub/+/operations",
    };

    if (rc != 0) {
        char why[160];
        snprintf(why, sizeof(why), "broker refused the connection: %s",
                 mosquitto_connack_string(rc));
        in->failed = true;
        set_error(in, why);
        return;
    }
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        char topic[256];
        snprintf(topic, sizeof(topic), "%s%s%s", root, *root ? "/" : "", subs[i]);
        if (mosquitto_subscribe(m, NULL, topic, 1) != MOSQ_ERR_SUCCESS)
            in->failed = true;
    }
    in->connected = true;
    in->connected_ms = clock_mono_ms();
    in->backoff_ms = BACKOFF_MIN_MS;
    if (in->store_down) {
        /* A retry of the outage: its error stays, and the log has said it once. */
        log_debug("connected to %s:%d to retry the held batch", in->cfg->mqtt_host,
                  in->cfg->mqtt_port);
        return;
    }
    set_error(in, NULL);
    log_info("connected to %s:%d as %s", in->cfg->mqtt_host, in->cfg->mqtt_port,
             in->cfg->mqtt_client_id);
}

static bool setup_client(struct ingest *in, struct mosquitto *m)
{
    const struct config *c = in->cfg;

    mosquitto_threaded_set(m, true);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_message_callback_set(m, on_message);
    mosquitto_publish_callback_set(m, on_publish);
    if (c->mqtt_username[0] != '\0' &&
        mosquitto_username_pw_set(m, c->mqtt_username, in->password[0] ? in->password : NULL))
        return false;
    if (c->mqtt_tls_ca_file[0] != '\0' &&
        mosquitto_tls_set(m, c->mqtt_tls_ca_file, NULL,
                          c->mqtt_tls_cert_file[0] ? c->mqtt_tls_cert_file : NULL,
                          c->mqtt_tls_key_file[0] ? c->mqtt_tls_key_file : NULL, NULL))
        return false;
    return true;
}

static void try_connect(struct ingest *in)
{
    struct mosquitto *m;
    int rc;

    /* clean_session false: the broker keeps our subscriptions and queue. */
    m = mosquitto_new(in->cfg->mqtt_client_id, false, in);
    if (m == NULL || !setup_client(in, m)) {
        mosquitto_destroy(m);
        set_error(in, "cannot set up the MQTT client");
        goto retry;
    }
    rc = mosquitto_connect(m, in->cfg->mqtt_host, in->cfg->mqtt_port, in->cfg->mqtt_keepalive);
    if (rc != MOSQ_ERR_SUCCESS) {
        char why[160];
        snprintf(why, sizeof(why), "cannot connect to %s:%d: %s", in->cfg->mqtt_host,
                 in->cfg->mqtt_port, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        set_error(in, why);
        mosquitto_destroy(m);
        goto retry;
    }
    in->mosq = m;
    in->failed = false;
    in->want_write_armed = false;
    in->ev_sock = event_new(in->base, mosquitto_socket(m), EV_READ | EV_PERSIST, on_sock, in);
    event_add(in->ev_sock, NULL);
    write_now(in); /* the CONNECT packet */
    return;
retry:
    log_warn("%s; retrying in %d ms", in->last_error, in->backoff_ms);
    in->next_attempt_ms = clock_mono_ms() + in->backoff_ms;
    in->backoff_ms = in->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : in->backoff_ms * 2;
}

/*
 * Drop the connection without writing anything more: the batch is rolled
 * back and the handle destroyed with its queued PUBACKs, so the broker
 * re-delivers every message of the batch to the next connection.
 */
static void ingest_lost(struct ingest *in, const char *why)
{
    if (store_batch_open(in->store))
        store_batch_rollback(in->store);
    in->batch_msgs = 0;
    if (in->ev_sock != NULL) {
        event_free(in->ev_sock);
        in->ev_sock = NULL;
    }
    if (in->mosq != NULL) {
        mosquitto_destroy(in->mosq);
        in->mosq = NULL;
    }
    if (in->connected && !in->store_down)
        log_warn("disconnected from the broker: %s", why ? why : "unknown reason");
    in->connected = false;
    /* What was in flight goes again on the next connection. */
    notify_outbox_reset(&in->outbox);
    if (in->store_down) {
        /* Keep the store's error, and retry at a steady pace: space may come back any time. */
        in->next_attempt_ms = clock_mono_ms() + STORE_RETRY_MS;
        return;
    }
    set_error(in, why);
    in->next_attempt_ms = clock_mono_ms() + in->backoff_ms;
    in->backoff_ms = in->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : in->backoff_ms * 2;
}

/* ---- the tick: keepalive, reconnects, heartbeat, rollups ---------------------------------- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct ingest *in = arg;
    int64_t now = clock_mono_ms();

    (void)fd;
    (void)what;
    if (in->mosq == NULL && now >= in->next_attempt_ms)
        try_connect(in);
    if (in->mosq != NULL) {
        int rc = mosquitto_loop_misc(in->mosq);
        if (rc != MOSQ_ERR_SUCCESS) {
            ingest_lost(in, mosquitto_strerror(rc));
        } else {
            notify_outbox_tick(&in->outbox, in->store, in->connected);
            write_now(in);
        }
    }
    if (in->status_dirty) {
        if (store_ingest_status(in->store, in->connected, in->last_error[0] ? in->last_error : NULL) ==
            STORE_OK)
            in->status_dirty = false;
    }
    /* An empty commit keeps the heartbeat and watermark fresh while idle. */
    if (now - in->last_commit_ms >= IDLE_COMMIT_MS && batch_begin(in) == STORE_OK) {
        commit_batch(in, clock_now_ms());
        in->last_commit_ms = now;
        if (store_batch_open(in->store))
            store_batch_rollback(in->store);
    }
    if (in->rollup_more || now - in->last_rollup_ms >= ROLLUP_EVERY_MS) {
        if (store_rollup(in->store, ROLLUP_SLICE_ROWS, &in->rollup_more) != STORE_OK) {
            if (!in->store_down) /* the outage is logged once */
                log_warn("flow rollup: %s", store_errmsg(in->store));
            in->rollup_more = false;
        }
        in->last_rollup_ms = now;
    }
    if (in->prune_more || now - in->last_prune_ms >= PRUNE_EVERY_MS) {
        struct store_retention r;
        config_retention(in->cfg, &r);
        if (store_prune(in->store, &r, clock_now_ms(), PRUNE_BUDGET, &in->prune_more) != STORE_OK) {
            if (!in->store_down)
                log_warn("retention: %s", store_errmsg(in->store));
            in->prune_more = false;
        }
        in->last_prune_ms = now;
    }
}

/* ---- start and stop ------------------------------------------------------------------------ */

static long abort_hook(const char *spec, const char *which)
{
    size_t n = strlen(which);

    if (spec == NULL || strncmp(spec, which, n) != 0 || spec[n] != ':')
        return 0;
    return strtol(spec + n + 1, NULL, 10);
}

struct ingest *ingest_start(struct event_base *base, const struct config *cfg,
                            struct store *store, char *err, size_t errlen)
{
    struct ingest *in = calloc(1, sizeof(*in));
    struct timeval tick = {0, TICK_MS * 1000};
    const char *hook = getenv("WARDEN_TEST_ABORT");

    if (in == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    in->base = base;
    in->cfg = cfg;
    in->store = store;
    in->route.store = store;
    in->route.cfg = cfg;
    in->backoff_ms = BACKOFF_MIN_MS;
    in->abort_before = abort_hook(hook, "before_commit");
    in->abort_after = abort_hook(hook, "after_commit");
    in->max_pages_file = getenv("WARDEN_TEST_MAX_PAGES");
    in->last_rollup_ms = clock_mono_ms();
    notify_outbox_init(&in->outbox, outbox_publish, in);
    store_set_dedup_window(store, cfg->ingest_dedup_window_ms);
    if (store_ingest_run_begin(store) != STORE_OK) {
        snprintf(err, errlen, "recording the ingest run: %s", store_errmsg(store));
        free(in);
        return NULL;
    }
    if (cfg->mqtt_password_file[0] != '\0' &&
        !hub_keys_read_password(cfg->mqtt_password_file, in->password, sizeof(in->password), err,
                                errlen)) {
        free(in);
        return NULL;
    }
    in->ev_tick = event_new(base, -1, EV_PERSIST, on_tick, in);
    event_add(in->ev_tick, &tick);
    in->status_dirty = true;
    try_connect(in);
    return in;
}

void ingest_stop(struct ingest *in)
{
    if (in == NULL)
        return;
    if (in->mosq != NULL) {
        /* Commit what was read, acknowledge it, then say goodbye. */
        commit_batch(in, clock_now_ms());
        if (!in->failed) {
            /* Blocking, so every queued PUBACK is written before we go. */
            int fd = mosquitto_socket(in->mosq);
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
            mosquitto_disconnect(in->mosq);
            /*
             * Once disconnecting, libmosquitto reports a lost connection as
             * success and keeps its unsent packets: without the socket check
             * a broker gone at the same moment would keep this loop spinning.
             */
            while (mosquitto_want_write(in->mosq) && mosquitto_socket(in->mosq) >= 0 &&
                   mosquitto_loop_write(in->mosq, 1) == MOSQ_ERR_SUCCESS)
                ;
        }
        ingest_lost(in, "stopping");
    }
    in->connected = false;
    store_ingest_status(in->store, false, "stopped");
    /* The hourly sums held in memory: written now rather than rebuilt at the next start. */
    bool more;
    store_rollup(in->store, STORE_ROLLUP_ALL, &more);
    event_free(in->ev_tick);
    notify_outbox_free(&in->outbox);
    memset(in->password, 0, sizeof(in->password));
    free(in);
}
