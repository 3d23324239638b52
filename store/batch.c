/*
 * The batch writer. A batch is one write transaction. The ingester opens it
 * when the first message of a batch arrives, every row is inserted straight
 * away with a prepared statement (SQLite's page cache is the buffer), and
 * per-batch aggregates (10-second counts, /metrics counters, last-seen times)
 * are kept in memory and flushed at commit, so a device that sends fifty
 * messages in a batch costs one counts upsert, not fifty. The flows of a
 * committed batch join the hourly sums that rollup.c writes out.
 */
#include "internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the hourly rollup in memory ----------------------------------------------------- */

void store_roll_clear(struct roll_set *r)
{
    map_clear(&r->idx);
    r->n = 0;
}

void store_roll_free(struct roll_set *r)
{
    map_free(&r->idx);
    free(r->rows);
}

/* Adds ROW's sums to its key's row in R; false when out of memory. */
static bool roll_add(struct roll_set *r, const struct roll_row *row)
{
    struct map_entry *e = map_upsert(&r->idx, &row->k, sizeof(row->k));

    if (e == NULL)
        return false;
    if (e->value == 0) { /* new: values are index + 1, so 0 means just made */
        if (r->n == r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 1024;
            struct roll_row *p = realloc(r->rows, cap * sizeof(*p));
            if (p == NULL)
                return false;
            r->rows = p;
            r->cap = cap;
        }
        r->rows[r->n] = *row;
        e->value = (int64_t)++r->n;
        return true;
    }
    struct roll_row *t = &r->rows[e->value - 1];
    t->records += row->records;
    t->bytes_in += row->bytes_in;
    t->bytes_out += row->bytes_out;
    t->first_ms = row->first_ms < t->first_ms ? row->first_ms : t->first_ms;
    t->last_ms = row->last_ms > t->last_ms ? row->last_ms : t->last_ms;
    return true;
}

/* A committed batch's flows join the sums; the first batch after a flush says where they start. */
static void roll_commit_batch(struct store *s)
{
    bool ok = true;

    if (s->batch_flow_max == 0)
        return;
    if (s->roll.n == 0) {
        s->roll_from = s->batch_flow_min - 1;
        s->roll_started_ms = clock_mono_ms();
    }
    for (size_t i = 0; ok && i < s->roll_batch.n; i++)
        ok = roll_add(&s->roll, &s->roll_batch.rows[i]);
    s->roll_to = s->batch_flow_max;
    store_roll_clear(&s->roll_batch);
    s->batch_flow_min = s->batch_flow_max = 0;
    if (!ok) {
        /* Out of memory: forget the sums; the flows are rolled up from flow_pack instead. */
        store_roll_clear(&s->roll);
    }
}


/* ---- batches ------------------------------------------------------------------- */

static enum store_err pack_flush(struct store *s);

bool store_batch_open(const struct store *s)
{
    return s->in_batch;
}

enum store_err store_batch_begin(struct store *s)
{
    enum store_err e;

    WARDEN_ASSERT(!s->in_batch);
    e = store_code(s, sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL));
    if (e == STORE_OK)
        s->in_batch = true;
    s->next_flow_id = 0;
    s->auto_recount = true;
    return e;
}

static void clear_counts(struct store *s)
{
    map_clear(&s->counts);
    s->n_count_rows = 0;
}

/*
 * Forget what was cached during a failed batch: ids handed out inside a
 * transaction that rolled back no longer exist.
 */
void store_batch_rollback(struct store *s)
{
    if (s->in_batch)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_batch = false;
    map_clear(&s->devices);
    s->auto_devices = -1;
    map_clear(&s->addrs);
    clear_counts(s);
    map_clear(&s->counters);
    map_clear(&s->seen);
    map_clear(&s->info);
    store_roll_clear(&s->roll_batch);
    s->batch_flow_min = s->batch_flow_max = 0;
    s->pack_n = 0;
    s->next_flow_id = 0;
}

/* One upsert per (bucket, device) touched in the batch, every metric at once. */
static enum store_err flush_counts(struct store *s)
{
    sqlite3_stmt *st = s->st[ST_COUNT_ADD];

    for (size_t i = 0; i < s->counts.cap; i++) {
        struct map_entry *e = &s->counts.slots[i];
        struct count_key k;
        enum store_err err;

        if (e->key == NULL)
            continue;
        memcpy(&k, e->key, sizeof(k));
        sqlite3_bind_int64(st, 1, k.bucket_ms);
        sqlite3_bind_int64(st, 2, k.dev);
        for (int m = 0; m < METRIC_COUNT; m++)
            sqlite3_bind_int64(st, 3 + m, s->count_rows[e->value][m]);
        if ((err = store_step_done(s, st)) != STORE_OK)
            return err;
    }
    return STORE_OK;
}

static enum store_err flush_counters(struct store *s)
{
    sqlite3_stmt *st = s->st[ST_COUNTER_ADD];

    for (size_t i = 0; i < s->counters.cap; i++) {
        struct map_entry *e = &s->counters.slots[i];
        const char *name = e->key;
        enum store_err err;

        if (name == NULL)
            continue;
        /* The key is "name\0label" (see store_counter_add). */
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name + strlen(name) + 1, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, e->value);
        if ((err = store_step_done(s, st)) != STORE_OK)
            return err;
    }
    return STORE_OK;
}

static enum store_err flush_seen(struct store *s)
{
    sqlite3_stmt *st = s->st[ST_DEVICE_SEEN];

    for (size_t i = 0; i < s->seen.cap; i++) {
        struct map_entry *e = &s->seen.slots[i];
        int64_t dev;
        enum store_err err;

        if (e->key == NULL)
            continue;
        memcpy(&dev, e->key, sizeof(dev));
        sqlite3_bind_int64(st, 1, dev);
        sqlite3_bind_int64(st, 2, e->value);
        if ((err = store_step_done(s, st)) != STORE_OK)
            return err;
    }
    return STORE_OK;
}

enum store_err store_batch_commit(struct store *s, int64_t watermark_ms)
{
    enum store_err e;
    sqlite3_stmt *st = s->st[ST_INGEST_COMMIT];

    WARDEN_ASSERT(s->in_batch);
    if ((e = pack_flush(s)) != STORE_OK || (e = flush_counts(s)) != STORE_OK ||
        (e = flush_counters(s)) != STORE_OK || (e = flush_seen(s)) != STORE_OK)
        return e;
    sqlite3_bind_int64(st, 1, clock_now_ms());
    sqlite3_bind_int64(st, 2, watermark_ms);
    if ((e = store_step_done(s, st)) != STORE_OK)
        return e;
    if (s->run_id > 0) {
        sqlite3_bind_int64(s->st[ST_RUN_SEEN], 1, s->run_id);
        sqlite3_bind_int64(s->st[ST_RUN_SEEN], 2, clock_now_ms());
        if ((e = store_step_done(s, s->st[ST_RUN_SEEN])) != STORE_OK)
            return e;
    }
    e = store_code(s, sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL));
    if (e != STORE_OK)
        return e;
    s->in_batch = false;
    clear_counts(s);
    map_clear(&s->counters);
    map_clear(&s->seen);
    roll_commit_batch(s);
    return STORE_OK;
}

/* ---- devices ---------------------------------------------------------------------- */

/* Marks dev seen at recv_ms; written with the batch. */
static enum store_err device_seen(struct store *s, int64_t dev, int64_t recv_ms)
{
    struct map_entry *seen = map_upsert(&s->seen, &dev, sizeof(dev));

    if (seen == NULL)
        return STORE_ERR_IO;
    if (recv_ms > seen->value)
        seen->value = recv_ms;
    return STORE_OK;
}

enum store_err store_device_find(struct store *s, const char *device_id, int64_t recv_ms,
                                 int64_t *dev)
{
    size_t len = strlen(device_id);
    struct map_entry *e = map_get(&s->devices, device_id, len);
    enum store_err err;
    bool found;

    *dev = 0;
    if (device_id_check(device_id, len) != NULL)
        return STORE_ERR_INVALID;
    if (e != NULL) {
        *dev = e->value;
        return device_seen(s, *dev, recv_ms);
    }
    sqlite3_bind_text(s->st[ST_DEVICE_GET], 1, device_id, (int)len, SQLITE_STATIC);
    if ((err = store_step_int(s, s->st[ST_DEVICE_GET], dev, &found)) != STORE_OK)
        return err;
    if (!found) {
        *dev = 0;
        return STORE_OK;
    }
    if ((e = map_upsert(&s->devices, device_id, len)) == NULL)
        return STORE_ERR_IO;
    e->value = *dev;
    return device_seen(s, *dev, recv_ms);
}

/* Whether one more device may be registered automatically under max_auto. */
static enum store_err auto_room(struct store *s, int64_t max_auto, bool *room)
{
    enum store_err err;
    bool found;

    if (s->auto_devices >= 0 && s->auto_devices < max_auto) {
        *room = true;
        return STORE_OK;
    }
    if (s->auto_devices < 0 || s->auto_recount) {
        if ((err = store_step_int(s, s->st[ST_DEVICE_AUTO_COUNT], &s->auto_devices, &found)) !=
            STORE_OK)
            return err;
        s->auto_recount = false;
    }
    *room = s->auto_devices < max_auto;
    return STORE_OK;
}

enum store_err store_device_add(struct store *s, const char *device_id, const char *hub,
                                int64_t recv_ms, int64_t max_auto, int64_t *dev)
{
    size_t len = strlen(device_id);
    struct map_entry *e;
    sqlite3_stmt *st = s->st[ST_DEVICE_ADD];
    enum store_err err;
    bool room;

    if ((err = store_device_find(s, device_id, recv_ms, dev)) != STORE_OK || *dev != 0)
        return err;
    if ((err = auto_room(s, max_auto, &room)) != STORE_OK || !room)
        return err;
    sqlite3_bind_text(st, 1, device_id, (int)len, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, hub, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, recv_ms);
    if ((err = store_step_done(s, st)) != STORE_OK)
        return err;
    *dev = sqlite3_last_insert_rowid(s->db);
    s->auto_devices++;
    store_counter_add(s, "warden_devices_registered_total", "", 1);
    if ((e = map_upsert(&s->devices, device_id, len)) == NULL)
        return STORE_ERR_IO;
    e->value = *dev;
    return device_seen(s, *dev, recv_ms);
}

enum store_err store_device(struct store *s, const char *device_id, const char *hub,
                            int64_t recv_ms, int64_t *dev)
{
    return store_device_add(s, device_id, hub, recv_ms, INT64_MAX, dev);
}

enum store_err store_device_info(struct store *s, int64_t dev, const struct store_device_info *in)
{
    sqlite3_stmt *st = s->st[ST_DEVICE_INFO];
    const char *parts[] = {in->module_id, in->agent_version, in->module_version, in->os_info};
    /* Skew to the second: a device's clock does not need an UPDATE per message. */
    int64_t skew_s = in->skew_ms == STORE_NO_TIME ? INT64_MIN : in->skew_ms / 1000;
    uint64_t h = hash_bytes(HASH_SEED, &skew_s, sizeof(skew_s));
    struct map_entry *e;

    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        h = parts[i] ? hash_bytes(h, parts[i], strlen(parts[i]) + 1) : hash_bytes(h, "", 0) + i;
    h = hash_bytes(hash_bytes(h, &in->activity_interval_s, sizeof(in->activity_interval_s)),
                   &in->heartbeat_interval_s, sizeof(in->heartbeat_interval_s));
    if ((e = map_upsert(&s->info, &dev, sizeof(dev))) == NULL)
        return STORE_ERR_IO;
    if (e->value == (int64_t)h)
        return STORE_OK; /* what this message says is already written */
    e->value = (int64_t)h;
    sqlite3_bind_int64(st, 1, dev);
    store_bind_text(st, 2, in->module_id);
    store_bind_text(st, 3, in->agent_version);
    store_bind_text(st, 4, in->module_version);
    store_bind_text(st, 5, in->os_info);
    store_bind_time(st, 6, in->skew_ms);
    store_bind_interval(st, 7, in->activity_interval_s);
    store_bind_interval(st, 8, in->heartbeat_interval_s);
    return store_step_done(s, st);
}

/* ---- event ids ---------------------------------------------------------------------- */

void store_set_dedup_window(struct store *s, int64_t window_ms)
{
    s->dedup_window_ms = window_ms;
}

/*
 * Start a new generation when the current one is a window old: the older
 * table is emptied (SQLite truncates a DELETE without WHERE cheaply) and
 * becomes current. Ids stay findable for between one and two windows.
 */
static enum store_err dedup_rotate(struct store *s, int64_t now)
{
    enum store_err e;
    int next = s->dedup_gen ^ 1;

    if (now - s->dedup_gen_start < s->dedup_window_ms)
        return STORE_OK;
    e = store_code(s, sqlite3_exec(s->db,
                                   next ? "DELETE FROM event_ids_1" : "DELETE FROM event_ids_0",
                                   NULL, NULL, NULL));
    if (e == STORE_OK && (e = store_state_set(s, "dedup_gen", next)) == STORE_OK &&
        (e = store_state_set(s, "dedup_gen_start_ms", now)) == STORE_OK) {
        s->dedup_gen = next;
        s->dedup_gen_start = now;
    }
    return e;
}

enum store_err store_event_seen(struct store *s, int64_t dev, const uint8_t *id, size_t len,
                                uint64_t content, bool *dup)
{
    uint64_t h = hash_bytes(hash_bytes(hash_bytes(HASH_SEED, &dev, sizeof(dev)), &content,
                                       sizeof(content)), id, len);
    int64_t key = (int64_t)(h >> 1), dummy;
    sqlite3_stmt *add;
    enum store_err e;
    bool found;

    *dup = false;
    if ((e = dedup_rotate(s, clock_now_ms())) != STORE_OK)
        return e;
    /* The other generation first; the current one answers through INSERT OR IGNORE. */
    sqlite3_stmt *other = s->st[s->dedup_gen ? ST_EVENT_CHECK0 : ST_EVENT_CHECK1];
    sqlite3_bind_int64(other, 1, key);
    if ((e = store_step_int(s, other, &dummy, &found)) != STORE_OK)
        return e;
    if (found) {
        *dup = true;
        return STORE_OK;
    }
    add = s->st[s->dedup_gen ? ST_EVENT_ADD1 : ST_EVENT_ADD0];
    sqlite3_bind_int64(add, 1, key);
    if ((e = store_step_done(s, add)) != STORE_OK)
        return e;
    *dup = sqlite3_changes(s->db) == 0;
    return STORE_OK;
}

/* ---- rows ------------------------------------------------------------------------------ */

/* The id of an address in addrs, adding it on first sight. */
static enum store_err addr_id(struct store *s, const struct ip_addr *ip, int64_t *id)
{
    uint8_t key[17];
    size_t n = ip->family == 4 ? 4 : ip->family == 6 ? 16 : 0;
    struct map_entry *e;
    char text[64];
    enum store_err err;
    bool found;

    key[0] = ip->family;
    memcpy(key + 1, ip->b, n);
    if ((e = map_get(&s->addrs, key, n + 1)) != NULL) {
        *id = e->value;
        return STORE_OK;
    }
    ip_format(ip, text, sizeof(text));
    sqlite3_bind_text(s->st[ST_ADDR_GET], 1, text, -1, SQLITE_STATIC);
    if ((err = store_step_int(s, s->st[ST_ADDR_GET], id, &found)) != STORE_OK)
        return err;
    if (!found) {
        sqlite3_stmt *st = s->st[ST_ADDR_ADD];
        sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, ip->b, (int)n, SQLITE_STATIC);
        if ((err = store_step_done(s, st)) != STORE_OK)
            return err;
        *id = sqlite3_last_insert_rowid(s->db);
    }
    if ((e = map_upsert(&s->addrs, key, n + 1)) == NULL)
        return STORE_ERR_IO;
    e->value = *id;
    return STORE_OK;
}

/* ---- flows, packed a message a row (sql/003) ----------------------------------------- */

#define PACK_MAX_FLOWS 256         /* flows in one flow_pack row at most */
#define PACK_MAX_BYTES (64 * 1024) /* and about this much JSON text */

static bool pack_reserve(struct store *s, size_t more)
{
    size_t cap = s->pack_cap ? s->pack_cap : 4096;
    char *p;

    if (s->pack_len + more <= s->pack_cap)
        return true;
    while (cap < s->pack_len + more)
        cap *= 2;
    if ((p = realloc(s->pack, cap)) == NULL)
        return false;
    s->pack = p;
    s->pack_cap = cap;
    return true;
}

/* Appends sep then v, or null (v < 0 stands for absent when absent_negative). */
static void pack_int(struct store *s, char sep, int64_t v, bool absent_negative)
{
    char digits[24], *p = digits + sizeof(digits);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    s->pack[s->pack_len++] = sep;
    if (absent_negative && v < 0) {
        memcpy(s->pack + s->pack_len, "null", 4);
        s->pack_len += 4;
        return;
    }
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--p = '-';
    memcpy(s->pack + s->pack_len, p, (size_t)(digits + sizeof(digits) - p));
    s->pack_len += (size_t)(digits + sizeof(digits) - p);
}

/*
 * Appends ",\"text\"" (or ",null") as a JSON string. Decoders hand over UTF-8;
 * should a string not be, its bytes above 0x7f are written as \u00XX, so
 * the row stays valid JSON whatever it holds.
 */
static bool pack_str(struct store *s, const char *v)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = v != NULL ? strlen(v) : 0;
    bool utf8 = v == NULL || utf8_valid(v, n);

    if (!pack_reserve(s, 7 + 6 * n))
        return false;
    s->pack[s->pack_len++] = ',';
    if (v == NULL) {
        memcpy(s->pack + s->pack_len, "null", 4);
        s->pack_len += 4;
        return true;
    }
    s->pack[s->pack_len++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        char *o = s->pack + s->pack_len;

        if (c == '"' || c == '\\') {
            o[0] = '\\', o[1] = (char)c;
            s->pack_len += 2;
        } else if (c < 0x20 || (c >= 0x80 && !utf8)) {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4], o[5] = hex[c & 15];
            s->pack_len += 6;
        } else {
            o[0] = (char)c;
            s->pack_len++;
        }
    }
    s->pack[s->pack_len++] = '"';
    return true;
}

/* Writes the packed flows as one flow_pack row; the ids they were given become theirs. */
static enum store_err pack_flush(struct store *s)
{
    sqlite3_stmt *st = s->st[ST_FLOW_ADD];
    enum store_err e;

    if (s->pack_n == 0)
        return STORE_OK;
    s->pack[s->pack_len++] = ']'; /* pack_reserve kept room for it */
    sqlite3_bind_int64(st, 1, s->next_flow_id);
    sqlite3_bind_int64(st, 2, s->pack_recv_ms);
    sqlite3_bind_int64(st, 3, s->pack_dev);
    sqlite3_bind_int(st, 4, s->pack_n);
    sqlite3_bind_text(st, 5, s->pack, (int)s->pack_len, SQLITE_STATIC);
    store_bind_interval(st, 6, s->pack_interval_s);
    if ((e = store_step_done(s, st)) != STORE_OK)
        return e;
    s->next_flow_id += s->pack_n;
    s->pack_n = 0;
    return STORE_OK;
}


enum store_err store_flow_append(struct store *s, int64_t dev, int64_t recv_ms,
                                 const struct store_flow *f)
{
    int64_t laddr, raddr, id;
    enum store_err e;
    bool extras = f->process_id >= 0 || f->user_id >= 0 || f->executable != NULL ||
                  f->commandline != NULL || f->details != NULL;

    WARDEN_ASSERT(s->in_batch); /* a pack outlives no batch: its ids are read in one */
    if (f->protocol > STORE_ICMP || f->direction > STORE_DIR_OUT)
        return STORE_ERR_INVALID;
    if ((e = addr_id(s, &f->local, &laddr)) != STORE_OK ||
        (e = addr_id(s, &f->remote, &raddr)) != STORE_OK)
        return e;
    if (s->pack_n > 0 &&
        (dev != s->pack_dev || recv_ms != s->pack_recv_ms || f->interval_s != s->pack_interval_s ||
         s->pack_n >= PACK_MAX_FLOWS ||
         s->pack_len >= PACK_MAX_BYTES) &&
        (e = pack_flush(s)) != STORE_OK)
        return e;
    if (s->next_flow_id == 0) {
        bool found;
        if ((e = store_step_int(s, s->st[ST_FLOW_NEXT], &s->next_flow_id, &found)) != STORE_OK)
            return e;
        if (!found)
            s->next_flow_id = 1;
    }
    if (s->pack_n == 0) {
        s->pack_len = 0;
        s->pack_dev = dev;
        s->pack_recv_ms = recv_ms;
        s->pack_interval_s = f->interval_s;
    }
    /* 9 numbers of at most 20 characters and their commas, the brackets, the closing one. */
    if (!pack_reserve(s, 9 * 21 + 4))
        return STORE_ERR_IO;
    s->pack[s->pack_len++] = s->pack_n == 0 ? '[' : ',';
    pack_int(s, '[', f->protocol * 4 + f->direction, false);
    pack_int(s, ',', laddr, false);
    pack_int(s, ',', f->local_port, false);
    pack_int(s, ',', raddr, false);
    pack_int(s, ',', f->remote_port, false);
    pack_int(s, ',', f->bytes_in, false);
    pack_int(s, ',', f->bytes_out, false);
    if (f->device_ms == STORE_NO_TIME)
        pack_int(s, ',', -1, true);
    else
        pack_int(s, ',', f->device_ms - recv_ms, false);
    if (extras) {
        pack_int(s, ',', f->process_id, true);
        pack_int(s, ',', f->user_id, true);
        if (!pack_str(s, f->executable) || !pack_str(s, f->commandline) ||
            !pack_str(s, f->details) || !pack_reserve(s, 2))
            return STORE_ERR_IO;
    }
    s->pack[s->pack_len++] = ']';
    id = s->next_flow_id + s->pack_n++;

    struct roll_row row = {
        .k = {.hour_ms = recv_ms - recv_ms % 3600000, .dev = dev, .laddr = laddr, .raddr = raddr,
              .lport = f->local_port, .rport = f->remote_port,
              .proto_dir = f->protocol * 4 + f->direction},
        .records = 1, .bytes_in = f->bytes_in, .bytes_out = f->bytes_out,
        .first_ms = recv_ms, .last_ms = recv_ms,
    };
    if (s->batch_flow_min == 0)
        s->batch_flow_min = id;
    s->batch_flow_max = id;
    return roll_add(&s->roll_batch, &row) ? STORE_OK : STORE_ERR_IO;
}

static const char *proto_name(uint8_t p)
{
    return p == STORE_UDP ? "UDP" : p == STORE_ICMP ? "ICMP" : "TCP";
}

enum store_err store_port_append(struct store *s, const char *device_id, const char *hub,
                                 int64_t recv_ms, const struct store_port *p)
{
    sqlite3_stmt *st = s->st[ST_PORT_ADD];
    char lip[64], rip[64];

    ip_format(&p->local, lip, sizeof(lip));
    ip_format(&p->remote, rip, sizeof(rip));
    store_bind_text(st, 1, device_id);
    store_bind_text(st, 2, hub);
    sqlite3_bind_int64(st, 3, recv_ms);
    store_bind_time(st, 4, p->device_ms);
    store_bind_text(st, 5, proto_name(p->protocol));
    store_bind_text(st, 6, p->local.family ? lip : NULL);
    store_bind_opt_int(st, 7, p->local_port);
    store_bind_text(st, 8, p->remote.family ? rip : NULL);
    store_bind_opt_int(st, 9, p->remote_port);
    store_bind_text(st, 10, p->details);
    store_bind_interval(st, 11, p->interval_s);
    return store_step_done(s, st);
}

enum store_err store_sysinfo_append(struct store *s, const char *device_id, const char *hub,
                                    int64_t recv_ms, const struct store_sysinfo *si)
{
    sqlite3_stmt *st = s->st[ST_SYSINFO_ADD];

    store_bind_text(st, 1, device_id);
    store_bind_text(st, 2, hub);
    sqlite3_bind_int64(st, 3, recv_ms);
    store_bind_time(st, 4, si->device_ms);
    store_bind_text(st, 5, si->os_info);
    store_bind_text(st, 6, si->kernel_info);
    store_bind_text(st, 7, si->hw_info);
    store_bind_text(st, 8, si->details);
    store_bind_interval(st, 9, si->interval_s);
    return store_step_done(s, st);
}

enum store_err store_heartbeat_append(struct store *s, const char *device_id, const char *hub,
                                      int64_t recv_ms, int64_t device_ms, uint32_t interval_s)
{
    sqlite3_stmt *st = s->st[ST_HEARTBEAT_ADD];

    store_bind_text(st, 1, device_id);
    store_bind_text(st, 2, hub);
    sqlite3_bind_int64(st, 3, recv_ms);
    store_bind_time(st, 4, device_ms);
    store_bind_interval(st, 5, interval_s);
    return store_step_done(s, st);
}

enum store_err store_other_append(struct store *s, const char *device_id, const char *hub,
                                  int64_t recv_ms, const struct store_event_other *o)
{
    sqlite3_stmt *st = s->st[ST_OTHER_ADD];

    store_bind_text(st, 1, device_id);
    store_bind_text(st, 2, hub);
    sqlite3_bind_int64(st, 3, recv_ms);
    store_bind_time(st, 4, o->device_ms);
    store_bind_text(st, 5, o->name);
    store_bind_text(st, 6, o->payload);
    store_bind_interval(st, 7, o->interval_s);
    return store_step_done(s, st);
}

static void bind_hubop(sqlite3_stmt *st, int64_t recv_ms, const struct store_hubop *op)
{
    store_bind_text(st, 1, op->hub);
    sqlite3_bind_int64(st, 2, recv_ms);
    sqlite3_bind_int64(st, 3, op->time_ms);
    store_bind_text(st, 4, op->category);
    store_bind_text(st, 5, op->operation);
    store_bind_text(st, 6, op->result);
    store_bind_text(st, 7, op->reason);
    store_bind_text(st, 8, op->device_id);
    store_bind_text(st, 9, op->source_ip);
    sqlite3_bind_int64(st, 10, op->count);
    store_bind_text(st, 11, op->details);
}

enum store_err store_hubop_append(struct store *s, int64_t recv_ms, const struct store_hubop *op)
{
    sqlite3_stmt *st = s->st[ST_HUBOP_ADD];

    bind_hubop(st, recv_ms, op);
    return store_step_done(s, st);
}

enum store_err store_hubop_insert(sqlite3 *db, int64_t recv_ms, const struct store_hubop *op)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = sqlite3_prepare_v2(db, store_stmt_sql[ST_HUBOP_ADD], -1, &st, NULL)) == SQLITE_OK) {
        bind_hubop(st, recv_ms, op);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
    }
    if (rc == SQLITE_DONE)
        return STORE_OK;
    return (rc & 0xff) == SQLITE_FULL ? STORE_ERR_FULL : STORE_ERR_IO;
}

enum store_err store_dead_letter(struct store *s, int64_t recv_ms, const char *topic,
                                 const char *device_id, const char *reason, const void *payload,
                                 size_t len)
{
    sqlite3_stmt *st = s->st[ST_DEAD_ADD];
    size_t keep = len < DEAD_LETTER_KEEP ? len : DEAD_LETTER_KEEP;

    sqlite3_bind_int64(st, 1, recv_ms);
    /* The topic may hold anything a client sent; store it as a blob-safe text. */
    sqlite3_bind_text(st, 2, topic, -1, SQLITE_STATIC);
    store_bind_text(st, 3, device_id);
    store_bind_text(st, 4, reason);
    sqlite3_bind_int64(st, 5, (int64_t)len);
    sqlite3_bind_blob(st, 6, payload, (int)keep, SQLITE_STATIC);
    return store_step_done(s, st);
}

/* ---- per-batch aggregates ----------------------------------------------------------- */

void store_count(struct store *s, int64_t dev, enum store_metric m, int64_t at_ms, int64_t n)
{
    struct count_key k = {at_ms - ((at_ms % BUCKET_MS) + BUCKET_MS) % BUCKET_MS, dev};
    size_t before = s->counts.len;
    struct map_entry *e = map_upsert(&s->counts, &k, sizeof(k));

    WARDEN_ASSERT(e != NULL && m < METRIC_COUNT);
    if (s->counts.len != before) {
        if (s->n_count_rows == s->cap_count_rows) {
            size_t cap = s->cap_count_rows ? s->cap_count_rows * 2 : 256;
            void *grown = realloc(s->count_rows, cap * sizeof(*s->count_rows));
            WARDEN_ASSERT(grown != NULL);
            s->count_rows = grown;
            s->cap_count_rows = cap;
        }
        memset(s->count_rows[s->n_count_rows], 0, sizeof(*s->count_rows));
        e->value = (int64_t)s->n_count_rows++;
    }
    s->count_rows[e->value][m] += n;
}

void store_counter_add(struct store *s, const char *name, const char *label, int64_t n)
{
    char key[256];
    size_t nl = strlen(name), ll = strlen(label);
    struct map_entry *e;

    if (nl + ll + 2 > sizeof(key))
        return;
    memcpy(key, name, nl + 1);
    memcpy(key + nl + 1, label, ll + 1);
    e = map_upsert(&s->counters, key, nl + ll + 2);
    WARDEN_ASSERT(e != NULL);
    e->value += n;
}

