/*
 * ingest/fb.c: the FlatBuffers security message of Azure RTOS devices,
 * schema 2.x (SPEC 2.1.1; the layout is written down in ingest/security.fbs).
 *
 * The decoder is written by hand for this one schema rather than generated,
 * so that every read is visibly preceded by its check: every byte comes from
 * the network. A table is opened only after its soffset, its vtable and its
 * declared size are known to lie in the buffer; a field is read only when the
 * vtable places it wholly inside its table; strings, vectors and uoffsets are
 * checked against the end of the buffer before anything behind them is read.
 * Nothing needs alignment: every scalar is assembled from bytes.
 *
 * Decoding makes two passes over the events. The first verifies each Event
 * table and counts the rows its payload describes without following them.
 * FlatBuffers offsets may be shared, so a few hundred bytes can describe
 * millions of flows: the count is refused against the limits before anything
 * is allocated for it. The second pass allocates the row arrays and fills
 * them, verifying each nested table, string and vector as it reads it.
 */
#include "decode.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Union tags of Event.payload. Tags above FB_LOG come from a newer schema. */
enum fb_payload {
    FB_NONE = 0,
    FB_NETWORK_ACTIVITY = 1,
    FB_SYSTEM_INFORMATION = 2,
    FB_LISTENING_PORTS = 3,
    FB_HEARTBEAT = 4,
    FB_BASELINE = 5,
    FB_PROCESS = 6,
    FB_LOG = 7
};

/* Field ids of each table, in the order of security.fbs. */
enum { MSG_MODULE_ID, MSG_VERSION, MSG_TIMEZONE, MSG_EVENTS };
enum { EVENT_ID, EVENT_TIME, EVENT_INTERVAL, EVENT_PAYLOAD_TYPE, EVENT_PAYLOAD };
enum { NA_IPV4, NA_IPV6 };
enum { NAV_ADDRESSES, NAV_COMMON };
enum {
    NAC_LOCAL_PORT,
    NAC_REMOTE_PORT,
    NAC_BYTES_IN,
    NAC_BYTES_OUT,
    NAC_PROTOCOL,
    NAC_PROCESS_ID,
    NAC_USER_ID,
    NAC_EXECUTABLE,
    NAC_COMMANDLINE
};
enum { SI_OS, SI_KERNEL, SI_HW };
enum { LP_IPV4, LP_IPV6 };
enum { BL_CHECKS };
enum { BC_ID, BC_RESULT, BC_ERROR, BC_DESCRIPTION, BC_SEVERITY, BC_REMEDIATION };
enum {
    PR_EXECUTABLE,
    PR_PROCESS_ID,
    PR_PARENT_PROCESS_ID,
    PR_USER_ID,
    PR_USER_NAME,
    PR_COMMANDLINE,
    PR_EVENT_TYPE,
    PR_HIT_COUNT
};
enum { LG_LOGS };
enum { REC_MESSAGE, REC_LEVEL, REC_TIMESTAMP, REC_LINE, REC_FILENAME };

/* Sizes of the structs, which the wire format fixes. */
#define FB_UUID_SIZE     16
#define FB_ADDRS_V4_SIZE 8  /* IPv4Addresses: local, remote */
#define FB_ADDRS_V6_SIZE 32 /* IPv6Addresses: local[4], remote[4] */
#define FB_PORTS_V4_SIZE 8  /* local_address, local_port, protocol, one byte of padding */
#define FB_PORTS_V6_SIZE 20 /* local_address[4], local_port, protocol, padding */

/* A root uoffset, the smallest vtable (its two sizes) and a table's soffset. */
#define FB_MIN_LEN 12
/* FlatBuffers offsets are 31-bit; a larger buffer is not one. */
#define FB_MAX_LEN 0x7fffffffu
/*
 * The schema nests tables at most five deep (Message, Event, payload, flow,
 * NetworkActivityCommon) and the decoder follows it, not the data; this bound
 * only catches a change to this file that would make the walk data-driven.
 */
#define FB_MAX_DEPTH 8

static const char *const fb_result_names[] = {"PASS", "FAIL", "ERROR"};
static const char *const fb_severity_names[] = {"CRITICAL", "IMPORTANT", "WARNING",
                                                "INFORMATIONAL"};
static const char *const fb_event_type_names[] = {"FORK", "EXEC", "EXIT"};
static const char *const fb_level_names[] = {"NOTSET", "FATAL", "ERROR", "WARN", "INFO", "DEBUG"};
#define NAMES(a) (a), (sizeof(a) / sizeof((a)[0]))

/* A table whose soffset, vtable and declared size have been checked. */
struct fb_table {
    size_t pos;     /* first byte of the table (its soffset); never 0 */
    size_t vt;      /* first byte of its vtable */
    size_t vt_size; /* vtable bytes: even, >= 4, inside the buffer */
    size_t size;    /* table bytes: >= 4, inside the buffer */
    int depth;
};

/* A vector whose elements all lie inside the buffer. */
struct fb_vec {
    size_t pos; /* first element */
    size_t n;   /* 0 when the field is absent */
};

/* A checked string in the buffer: NUL-terminated there, UTF-8, no inner NUL. */
struct fb_str {
    const char *s; /* NULL when absent */
    size_t n;
};

/* The JSON text of a Baseline, Process or Log event, built before it goes to the arena. */
struct fb_json {
    char *p;
    size_t len, cap;
    size_t limit; /* what the arena could still take: never grow past it */
};

/* What the first pass learns about an event, for the second. */
struct fb_event {
    uint8_t tag;
    struct fb_table payload;
    struct fb_vec v4, v6; /* rows of NetworkActivity and ListeningPorts */
};

struct fb {
    const uint8_t *buf;
    size_t len;
    const struct ingest_limits *lim;
    struct ingest_msg *msg;
    size_t want_flows, want_ports, want_sysinfo, want_other; /* counted by the first pass */
    struct fb_json json;
};

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static int int8_of(uint8_t raw)
{
    return raw < 128 ? raw : raw - 256;
}

static bool fb_oom(struct fb *fb)
{
    return ingest_fail(fb->msg, "fb: out of memory");
}

/* n zeroed elements of size bytes from the message arena, or NULL. */
static void *fb_calloc(struct fb *fb, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    return arena_alloc(&fb->msg->arena, n * size);
}

/* ---- verified access ------------------------------------------------------ */

/*
 * Follow the uoffset stored at `at`, whose four bytes the caller has checked.
 * Like the reference verifier, refuse a zero uoffset (it would point at
 * itself) and one of 2^31 or more: uoffsets then always point forward, so no
 * chain of them can loop and every walk below ends.
 */
static bool fb_deref(struct fb *fb, size_t at, size_t *target)
{
    uint32_t off = rd32(fb->buf + at);

    *target = 0;
    if (off == 0 || off > INT32_MAX || off >= fb->len - at)
        return ingest_fail(fb->msg, "fb: offset out of bounds");
    *target = at + off;
    return true;
}

static bool fb_table_open(struct fb *fb, size_t pos, int depth, struct fb_table *t)
{
    uint32_t raw;
    int64_t soff, vt;

    if (depth > FB_MAX_DEPTH)
        return ingest_fail(fb->msg, "fb: too deep");
    if (pos > fb->len - 4)
        return ingest_fail(fb->msg, "fb: table out of bounds");
    /* The soffset is signed: a vtable may lie before or after its table. */
    raw = rd32(fb->buf + pos);
    soff = raw < 0x80000000u ? (int64_t)raw : (int64_t)raw - 0x100000000LL;
    vt = (int64_t)pos - soff;
    if (vt < 0 || (uint64_t)vt > fb->len - 4)
        return ingest_fail(fb->msg, "fb: vtable out of bounds");
    t->pos = pos;
    t->vt = (size_t)vt;
    t->vt_size = rd16(fb->buf + t->vt);
    t->size = rd16(fb->buf + t->vt + 2);
    t->depth = depth;
    if (t->vt_size < 4 || t->vt_size % 2 != 0)
        return ingest_fail(fb->msg, "fb: vtable size bad");
    if (t->vt_size > fb->len - t->vt)
        return ingest_fail(fb->msg, "fb: vtable out of bounds");
    if (t->size < 4)
        return ingest_fail(fb->msg, "fb: table size bad");
    if (t->size > fb->len - pos)
        return ingest_fail(fb->msg, "fb: table out of bounds");
    return true;
}

/*
 * Where field `id` of `size` bytes lies, or *at = 0 when it is absent (its
 * default applies). A vtable shorter than the schema, as an older writer
 * makes, leaves the later fields absent.
 */
static bool fb_field(struct fb *fb, const struct fb_table *t, unsigned id, size_t size, size_t *at)
{
    size_t slot = 4 + 2 * (size_t)id, off;

    *at = 0;
    if (slot + 2 > t->vt_size)
        return true;
    off = rd16(fb->buf + t->vt + slot);
    if (off == 0)
        return true;
    /* Offsets below 4 would read the table's own soffset as data. */
    if (off < 4 || off > t->size || size > t->size - off)
        return ingest_fail(fb->msg, "fb: field out of table");
    *at = t->pos + off;
    return true;
}

static bool fb_u8(struct fb *fb, const struct fb_table *t, unsigned id, uint8_t def, uint8_t *v)
{
    size_t at;

    if (!fb_field(fb, t, id, 1, &at))
        return false;
    *v = at != 0 ? fb->buf[at] : def;
    return true;
}

static bool fb_u16(struct fb *fb, const struct fb_table *t, unsigned id, uint16_t def, uint16_t *v)
{
    size_t at;

    if (!fb_field(fb, t, id, 2, &at))
        return false;
    *v = at != 0 ? rd16(fb->buf + at) : def;
    return true;
}

static bool fb_u32(struct fb *fb, const struct fb_table *t, unsigned id, uint32_t def, uint32_t *v)
{
    size_t at;

    if (!fb_field(fb, t, id, 4, &at))
        return false;
    *v = at != 0 ? rd32(fb->buf + at) : def;
    return true;
}

static bool fb_u64(struct fb *fb, const struct fb_table *t, unsigned id, uint64_t def, uint64_t *v)
{
    size_t at;

    if (!fb_field(fb, t, id, 8, &at))
        return false;
    *v = at != 0 ? rd64(fb->buf + at) : def;
    return true;
}

/* The target of a uoffset field (table, vector, string), or 0 when absent. */
static bool fb_ref(struct fb *fb, const struct fb_table *t, unsigned id, size_t *target)
{
    size_t at;

    *target = 0;
    if (!fb_field(fb, t, id, 4, &at))
        return false;
    return at == 0 || fb_deref(fb, at, target);
}

/* A table-valued field; child->pos is 0 when it is absent. */
static bool fb_child(struct fb *fb, const struct fb_table *t, unsigned id, struct fb_table *child)
{
    size_t pos;

    memset(child, 0, sizeof(*child));
    if (!fb_ref(fb, t, id, &pos))
        return false;
    return pos == 0 || fb_table_open(fb, pos, t->depth + 1, child);
}

static bool fb_vector_at(struct fb *fb, size_t pos, size_t elem, struct fb_vec *v)
{
    uint32_t n;

    if (pos > fb->len - 4)
        return ingest_fail(fb->msg, "fb: vector out of bounds");
    n = rd32(fb->buf + pos);
    /* Divide rather than multiply, so that no count can overflow. */
    if (n > (fb->len - pos - 4) / elem)
        return ingest_fail(fb->msg, "fb: vector out of bounds");
    v->pos = pos + 4;
    v->n = n;
    return true;
}

/* A vector field of elem-byte elements; absent reads as empty. */
static bool fb_vector(struct fb *fb, const struct fb_table *t, unsigned id, size_t elem,
                      struct fb_vec *v)
{
    size_t pos;

    v->pos = 0;
    v->n = 0;
    if (!fb_ref(fb, t, id, &pos))
        return false;
    return pos == 0 || fb_vector_at(fb, pos, elem, v);
}

/* Element i of a vector of tables whose parent table is at depth `depth`. */
static bool fb_vector_table(struct fb *fb, const struct fb_vec *v, size_t i, int depth,
                            struct fb_table *t)
{
    size_t pos;

    return fb_deref(fb, v->pos + 4 * i, &pos) && fb_table_open(fb, pos, depth + 1, t);
}

/*
 * A string field. The terminating NUL must be in the buffer. A NUL inside the
 * string is refused too: rows carry C strings, and a silently cut executable
 * name ("/bin/sh\0...") is worse than a dead letter.
 */
static bool fb_string(struct fb *fb, const struct fb_table *t, unsigned id, struct fb_str *str)
{
    size_t pos, room;
    uint32_t n;

    str->s = NULL;
    str->n = 0;
    if (!fb_ref(fb, t, id, &pos))
        return false;
    if (pos == 0)
        return true;
    if (pos > fb->len - 4)
        return ingest_fail(fb->msg, "fb: string out of bounds");
    n = rd32(fb->buf + pos);
    room = fb->len - pos - 4;
    if (n > room)
        return ingest_fail(fb->msg, "fb: string out of bounds");
    if (n == room || fb->buf[pos + 4 + n] != '\0')
        return ingest_fail(fb->msg, "fb: string not terminated");
    str->s = (const char *)fb->buf + pos + 4;
    str->n = n;
    if (memchr(str->s, '\0', n) != NULL)
        return ingest_fail(fb->msg, "fb: string has NUL");
    if (!utf8_valid(str->s, n))
        return ingest_fail(fb->msg, "fb: string not UTF-8");
    return true;
}

/* A string field copied into the arena; *out is NULL when it is absent. */
static bool fb_text(struct fb *fb, const struct fb_table *t, unsigned id, const char **out)
{
    struct fb_str str;

    *out = NULL;
    if (!fb_string(fb, t, id, &str))
        return false;
    if (str.s != NULL && (*out = arena_strndup(&fb->msg->arena, str.s, str.n)) == NULL)
        return fb_oom(fb);
    return true;
}

static bool fb_protocol(struct fb *fb, uint8_t raw, uint8_t *out)
{
    /* Rows hold enum store_proto; an unknown protocol cannot be stored as one. */
    if (raw > STORE_ICMP)
        return ingest_fail(fb->msg, "fb: bad protocol");
    *out = raw;
    return true;
}

/* ---- JSON text of Baseline, Process and Log ---------------------------------- */

static bool json_put(struct fb *fb, const char *s, size_t n)
{
    struct fb_json *j = &fb->json;
    size_t cap;
    char *p;

    if (n > j->limit || j->len > j->limit - n)
        return fb_oom(fb);
    if (j->len + n > j->cap) {
        cap = j->cap != 0 ? j->cap : 256;
        while (cap < j->len + n)
            cap = cap <= SIZE_MAX / 2 ? cap * 2 : j->len + n;
        if ((p = realloc(j->p, cap)) == NULL)
            return fb_oom(fb);
        j->p = p;
        j->cap = cap;
    }
    memcpy(j->p + j->len, s, n);
    j->len += n;
    return true;
}

static bool json_puts(struct fb *fb, const char *s)
{
    return json_put(fb, s, strlen(s));
}

/* Start a member or element: a comma unless it is the first in its object or array. */
static bool json_sep(struct fb *fb)
{
    const struct fb_json *j = &fb->json;

    if (j->len == 0 || j->p[j->len - 1] == '{' || j->p[j->len - 1] == '[')
        return true;
    return json_put(fb, ",", 1);
}

/* A member name; names are literals of this file and need no escaping. */
static bool json_key(struct fb *fb, const char *key)
{
    return json_sep(fb) && json_put(fb, "\"", 1) && json_puts(fb, key) && json_put(fb, "\":", 2);
}

/* A checked string (valid UTF-8, so only quotes, backslashes and controls need escapes). */
static bool json_string(struct fb *fb, const struct fb_str *str)
{
    size_t run = 0;
    char esc[8];

    if (str->s == NULL)
        return json_puts(fb, "null");
    if (!json_put(fb, "\"", 1))
        return false;
    for (size_t i = 0; i < str->n; i++) {
        unsigned char c = (unsigned char)str->s[i];

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if (!json_put(fb, str->s + run, i - run))
            return false;
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof(esc), "\\%c", c);
        else
            snprintf(esc, sizeof(esc), "\\u%04x", c);
        if (!json_puts(fb, esc))
            return false;
        run = i + 1;
    }
    return json_put(fb, str->s + run, str->n - run) && json_put(fb, "\"", 1);
}

static bool json_uint(struct fb *fb, uint64_t v)
{
    char text[24];

    snprintf(text, sizeof(text), "%" PRIu64, v);
    return json_puts(fb, text);
}

/* An enum by its name, or as its number when this schema does not know it. */
static bool json_enum(struct fb *fb, const char *const *names, size_t count, uint8_t raw)
{
    char text[8];

    if (raw < count)
        return json_put(fb, "\"", 1) && json_puts(fb, names[raw]) && json_put(fb, "\"", 1);
    snprintf(text, sizeof(text), "%d", int8_of(raw));
    return json_puts(fb, text);
}

/* Member `key` from string field `id`; `missing` is the reason when it is required. */
static bool json_field_string(struct fb *fb, const char *key, const struct fb_table *t, unsigned id,
                              const char *missing)
{
    struct fb_str str;

    if (!fb_string(fb, t, id, &str))
        return false;
    if (str.s == NULL && missing != NULL)
        return ingest_fail(fb->msg, "%s", missing);
    return json_key(fb, key) && json_string(fb, &str);
}

static bool json_field_u32(struct fb *fb, const char *key, const struct fb_table *t, unsigned id,
                           uint32_t def)
{
    uint32_t v;

    return fb_u32(fb, t, id, def, &v) && json_key(fb, key) && json_uint(fb, v);
}

static bool json_field_u64(struct fb *fb, const char *key, const struct fb_table *t, unsigned id)
{
    uint64_t v;

    return fb_u64(fb, t, id, 0, &v) && json_key(fb, key) && json_uint(fb, v);
}

static bool json_field_enum(struct fb *fb, const char *key, const struct fb_table *t, unsigned id,
                            const char *const *names, size_t count)
{
    uint8_t raw;

    return fb_u8(fb, t, id, 0, &raw) && json_key(fb, key) && json_enum(fb, names, count, raw);
}

static bool json_baseline_check(struct fb *fb, const struct fb_table *c)
{
    return json_sep(fb) && json_put(fb, "{", 1) &&
           json_field_string(fb, "id", c, BC_ID, "fb: missing check id") &&
           json_field_enum(fb, "result", c, BC_RESULT, NAMES(fb_result_names)) &&
           json_field_string(fb, "error", c, BC_ERROR, NULL) &&
           json_field_string(fb, "description", c, BC_DESCRIPTION, NULL) &&
           json_field_enum(fb, "severity", c, BC_SEVERITY, NAMES(fb_severity_names)) &&
           json_field_string(fb, "remediation", c, BC_REMEDIATION, NULL) && json_put(fb, "}", 1);
}

static bool json_baseline(struct fb *fb, const struct fb_table *t)
{
    struct fb_vec checks;
    struct fb_table c;

    if (!fb_vector(fb, t, BL_CHECKS, 4, &checks) || !json_puts(fb, "{\"checks\":["))
        return false;
    for (size_t i = 0; i < checks.n; i++) {
        if (!fb_vector_table(fb, &checks, i, t->depth, &c) || !json_baseline_check(fb, &c))
            return false;
    }
    return json_puts(fb, "]}");
}

static bool json_process(struct fb *fb, const struct fb_table *t)
{
    return json_put(fb, "{", 1) && json_field_string(fb, "executable", t, PR_EXECUTABLE, NULL) &&
           json_field_u32(fb, "process_id", t, PR_PROCESS_ID, 0) &&
           json_field_u32(fb, "parent_process_id", t, PR_PARENT_PROCESS_ID, 0) &&
           json_field_u32(fb, "user_id", t, PR_USER_ID, 0) &&
           json_field_string(fb, "user_name", t, PR_USER_NAME, NULL) &&
           json_field_string(fb, "commandline", t, PR_COMMANDLINE, NULL) &&
           json_field_enum(fb, "event_type", t, PR_EVENT_TYPE, NAMES(fb_event_type_names)) &&
           json_field_u32(fb, "hit_count", t, PR_HIT_COUNT, 1) && json_put(fb, "}", 1);
}

static bool json_log_record(struct fb *fb, const struct fb_table *r)
{
    return json_sep(fb) && json_put(fb, "{", 1) &&
           json_field_string(fb, "message", r, REC_MESSAGE, "fb: missing log message") &&
           json_field_enum(fb, "level", r, REC_LEVEL, NAMES(fb_level_names)) &&
           json_field_u64(fb, "timestamp", r, REC_TIMESTAMP) &&
           json_field_u32(fb, "line", r, REC_LINE, 0) &&
           json_field_string(fb, "filename", r, REC_FILENAME, "fb: missing log filename") &&
           json_put(fb, "}", 1);
}

static bool json_log(struct fb *fb, const struct fb_table *t)
{
    struct fb_vec logs;
    struct fb_table r;

    if (!fb_vector(fb, t, LG_LOGS, 4, &logs) || !json_puts(fb, "{\"logs\":["))
        return false;
    for (size_t i = 0; i < logs.n; i++) {
        if (!fb_vector_table(fb, &logs, i, t->depth, &r) || !json_log_record(fb, &r))
            return false;
    }
    return json_puts(fb, "]}");
}

/* ---- rows (second pass) --------------------------------------------------------- */

static bool fb_flow_common(struct fb *fb, const struct fb_table *t, struct store_flow *f)
{
    uint8_t proto;
    size_t at;

    if (!fb_u16(fb, t, NAC_LOCAL_PORT, 0, &f->local_port) ||
        !fb_u16(fb, t, NAC_REMOTE_PORT, 0, &f->remote_port) ||
        !fb_u32(fb, t, NAC_BYTES_IN, 0, &f->bytes_in) ||
        !fb_u32(fb, t, NAC_BYTES_OUT, 0, &f->bytes_out) ||
        !fb_u8(fb, t, NAC_PROTOCOL, STORE_TCP, &proto) || !fb_protocol(fb, proto, &f->protocol))
        return false;
    /*
     * A process or user id of 0 is the default and so never on the wire:
     * absent reads as "unknown" (-1), not as root's pid or uid.
     */
    if (!fb_field(fb, t, NAC_PROCESS_ID, 2, &at))
        return false;
    f->process_id = at != 0 ? rd16(fb->buf + at) : -1;
    if (!fb_field(fb, t, NAC_USER_ID, 2, &at))
        return false;
    f->user_id = at != 0 ? rd16(fb->buf + at) : -1;
    return fb_text(fb, t, NAC_EXECUTABLE, &f->executable) &&
           fb_text(fb, t, NAC_COMMANDLINE, &f->commandline);
}

/* Flow i of vector v (NetworkActivityV4 or V6 tables) of the payload table. */
static bool fb_flow(struct fb *fb, const struct fb_table *payload, const struct fb_vec *v, size_t i,
                    int family, int64_t device_ms)
{
    struct ingest_msg *msg = fb->msg;
    struct fb_table flow, common;
    struct store_flow *f;
    size_t size = family == 4 ? FB_ADDRS_V4_SIZE : FB_ADDRS_V6_SIZE, alen = size / 2, at;

    if (!fb_vector_table(fb, v, i, payload->depth, &flow) ||
        !fb_field(fb, &flow, NAV_ADDRESSES, size, &at))
        return false;
    if (at == 0)
        return ingest_fail(msg, "fb: missing addresses");
    if (!fb_child(fb, &flow, NAV_COMMON, &common))
        return false;
    if (common.pos == 0)
        return ingest_fail(msg, "fb: missing common");
    WARDEN_ASSERT(msg->n_flows < fb->want_flows);
    f = &msg->flows[msg->n_flows++];
    f->device_ms = device_ms;
    f->direction = STORE_DIR_UNKNOWN;
    /* Network byte order on the wire: the bytes are the address, as they lie. */
    f->local.family = f->remote.family = (uint8_t)family;
    memcpy(f->local.b, fb->buf + at, alen);
    memcpy(f->remote.b, fb->buf + at + alen, alen);
    return fb_flow_common(fb, &common, f);
}

static bool fb_flows(struct fb *fb, const struct fb_event *fe, const struct ingest_event *ev)
{
    for (size_t i = 0; i < fe->v4.n; i++) {
        if (!fb_flow(fb, &fe->payload, &fe->v4, i, 4, ev->device_ms))
            return false;
    }
    for (size_t i = 0; i < fe->v6.n; i++) {
        if (!fb_flow(fb, &fe->payload, &fe->v6, i, 6, ev->device_ms))
            return false;
    }
    return true;
}

/* One ListeningPortsV4/V6 struct at `at`, which the vector check put in bounds. */
static bool fb_port(struct fb *fb, size_t at, int family, int64_t device_ms)
{
    struct ingest_msg *msg = fb->msg;
    size_t alen = family == 4 ? 4 : 16;
    struct store_port *p;

    WARDEN_ASSERT(msg->n_ports < fb->want_ports);
    p = &msg->ports[msg->n_ports++];
    p->device_ms = device_ms;
    p->local.family = (uint8_t)family;
    memcpy(p->local.b, fb->buf + at, alen);
    p->local_port = rd16(fb->buf + at + alen);
    p->remote_port = -1;
    return fb_protocol(fb, fb->buf[at + alen + 2], &p->protocol);
}

static bool fb_ports(struct fb *fb, const struct fb_event *fe, const struct ingest_event *ev)
{
    for (size_t i = 0; i < fe->v4.n; i++) {
        if (!fb_port(fb, fe->v4.pos + i * FB_PORTS_V4_SIZE, 4, ev->device_ms))
            return false;
    }
    for (size_t i = 0; i < fe->v6.n; i++) {
        if (!fb_port(fb, fe->v6.pos + i * FB_PORTS_V6_SIZE, 6, ev->device_ms))
            return false;
    }
    return true;
}

static bool fb_sysinfo(struct fb *fb, const struct fb_event *fe, const struct ingest_event *ev)
{
    struct ingest_msg *msg = fb->msg;
    struct store_sysinfo *s;

    WARDEN_ASSERT(msg->n_sysinfo < fb->want_sysinfo);
    s = &msg->sysinfo[msg->n_sysinfo++];
    s->device_ms = ev->device_ms;
    return fb_text(fb, &fe->payload, SI_OS, &s->os_info) &&
           fb_text(fb, &fe->payload, SI_KERNEL, &s->kernel_info) &&
           fb_text(fb, &fe->payload, SI_HW, &s->hw_info);
}

/* Baseline, Process and Log have no table of their own: one row of JSON text. */
static bool fb_other(struct fb *fb, const struct fb_event *fe, const struct ingest_event *ev)
{
    struct ingest_msg *msg = fb->msg;
    struct store_event_other *o;
    bool ok;

    WARDEN_ASSERT(msg->n_other < fb->want_other);
    o = &msg->other[msg->n_other++];
    o->device_ms = ev->device_ms;
    fb->json.len = 0;
    fb->json.limit = msg->arena.cap - msg->arena.used;
    switch (fe->tag) {
    case FB_BASELINE:
        o->name = "Baseline";
        ok = json_baseline(fb, &fe->payload);
        break;
    case FB_PROCESS:
        o->name = "Process";
        ok = json_process(fb, &fe->payload);
        break;
    default:
        WARDEN_ASSERT(fe->tag == FB_LOG);
        o->name = "Log";
        ok = json_log(fb, &fe->payload);
        break;
    }
    if (!ok)
        return false;
    if ((o->payload = arena_strndup(&msg->arena, fb->json.p, fb->json.len)) == NULL)
        return fb_oom(fb);
    return true;
}

static bool fb_event_rows(struct fb *fb, const struct fb_event *fe, struct ingest_event *ev)
{
    struct ingest_msg *msg = fb->msg;

    switch (fe->tag) {
    case FB_NETWORK_ACTIVITY:
        ev->first = msg->n_flows;
        return fb_flows(fb, fe, ev);
    case FB_SYSTEM_INFORMATION:
        ev->first = msg->n_sysinfo;
        return fb_sysinfo(fb, fe, ev);
    case FB_LISTENING_PORTS:
        ev->first = msg->n_ports;
        return fb_ports(fb, fe, ev);
    case FB_HEARTBEAT:
        ev->first = 0;
        return true;
    default:
        ev->first = msg->n_other;
        return fb_other(fb, fe, ev);
    }
}

/* ---- events (first pass) ---------------------------------------------------------- */

/*
 * Count the rows of an event's payload, refusing the message as soon as the
 * flows counted so far pass the limit: a bomb stops at its first event over.
 */
static bool fb_payload_count(struct fb *fb, struct fb_event *fe, struct ingest_event *ev)
{
    const struct fb_table *p = &fe->payload;

    switch (fe->tag) {
    case FB_NETWORK_ACTIVITY:
        ev->kind = EV_NETWORK_ACTIVITY;
        if (!fb_vector(fb, p, NA_IPV4, 4, &fe->v4) || !fb_vector(fb, p, NA_IPV6, 4, &fe->v6))
            return false;
        ev->count = fe->v4.n + fe->v6.n;
        if (ev->count > fb->lim->max_flows - fb->want_flows)
            return ingest_fail(fb->msg, "fb: too many flows");
        fb->want_flows += ev->count;
        return true;
    case FB_LISTENING_PORTS:
        ev->kind = EV_LISTENING_PORTS;
        if (!fb_vector(fb, p, LP_IPV4, FB_PORTS_V4_SIZE, &fe->v4) ||
            !fb_vector(fb, p, LP_IPV6, FB_PORTS_V6_SIZE, &fe->v6))
            return false;
        ev->count = fe->v4.n + fe->v6.n;
        /* Ports have no limit of their own; the arena cap bounds their array. */
        if (ev->count > SIZE_MAX - fb->want_ports)
            return fb_oom(fb);
        fb->want_ports += ev->count;
        return true;
    case FB_SYSTEM_INFORMATION:
        ev->kind = EV_SYSTEM_INFO;
        ev->count = 1;
        fb->want_sysinfo++;
        return true;
    case FB_HEARTBEAT:
        ev->kind = EV_HEARTBEAT;
        ev->count = 0;
        return true;
    default:
        ev->kind = EV_OTHER;
        ev->count = 1;
        fb->want_other++;
        return true;
    }
}

/*
 * Verify one Event table and count its rows. *keep is false for an event of
 * a newer schema (tag 8-255): its payload table is of a type this decoder does
 * not know, so it is neither followed nor verified, only skipped.
 */
static bool fb_event_scan(struct fb *fb, const struct fb_table *event, struct ingest_event *ev,
                          struct fb_event *fe, bool *keep)
{
    uint32_t secs;
    size_t id_at, at, pos;
    uint8_t *id;

    *keep = false;
    memset(ev, 0, sizeof(*ev));
    memset(fe, 0, sizeof(*fe));
    if (!fb_field(fb, event, EVENT_ID, FB_UUID_SIZE, &id_at))
        return false;
    if (id_at == 0)
        return ingest_fail(fb->msg, "fb: missing event id");
    if (!fb_u32(fb, event, EVENT_TIME, 0, &secs) ||
        !fb_u32(fb, event, EVENT_INTERVAL, 0, &ev->collection_interval) ||
        !fb_u8(fb, event, EVENT_PAYLOAD_TYPE, FB_NONE, &fe->tag) ||
        !fb_field(fb, event, EVENT_PAYLOAD, 4, &at))
        return false;
    if (fe->tag == FB_NONE)
        return ingest_fail(fb->msg, "fb: union tag NONE");
    if (at == 0)
        return ingest_fail(fb->msg, "fb: missing payload");
    if (fe->tag > FB_LOG)
        return true;
    if (!fb_deref(fb, at, &pos) || !fb_table_open(fb, pos, event->depth + 1, &fe->payload))
        return false;
    if ((id = arena_alloc(&fb->msg->arena, FB_UUID_SIZE)) == NULL)
        return fb_oom(fb);
    memcpy(id, fb->buf + id_at, FB_UUID_SIZE);
    ev->id = id;
    ev->id_len = FB_UUID_SIZE;
    /* The default 0 is what a device without a clock would send: no time. */
    ev->device_ms = secs != 0 ? (int64_t)secs * 1000 : STORE_NO_TIME;
    *keep = true;
    return fb_payload_count(fb, fe, ev);
}

/* ---- message ----------------------------------------------------------------------- */

static bool fb_header(struct fb *fb, const struct fb_table *root)
{
    struct ingest_msg *msg = fb->msg;
    uint32_t version;
    uint8_t tz;
    char text[32];

    if (!fb_text(fb, root, MSG_MODULE_ID, &msg->module_id))
        return false;
    if (msg->module_id == NULL)
        return ingest_fail(msg, "fb: missing security_module_id");
    if (!fb_u32(fb, root, MSG_VERSION, 0, &version) || !fb_u8(fb, root, MSG_TIMEZONE, 0, &tz))
        return false;
    /* (major << 24) | (minor << 16) | patch, as the agent packs it. */
    snprintf(text, sizeof(text), "%u.%u.%u", (unsigned)(version >> 24),
             (unsigned)(version >> 16 & 0xff), (unsigned)(version & 0xffff));
    if ((msg->agent_version = arena_strndup(&msg->arena, text, strlen(text))) == NULL)
        return fb_oom(fb);
    msg->timezone = int8_of(tz);
    return true;
}

static bool fb_alloc_rows(struct fb *fb)
{
    struct ingest_msg *msg = fb->msg;

    msg->flows = fb_calloc(fb, fb->want_flows, sizeof(*msg->flows));
    msg->ports = fb_calloc(fb, fb->want_ports, sizeof(*msg->ports));
    msg->sysinfo = fb_calloc(fb, fb->want_sysinfo, sizeof(*msg->sysinfo));
    msg->other = fb_calloc(fb, fb->want_other, sizeof(*msg->other));
    if (msg->flows == NULL || msg->ports == NULL || msg->sysinfo == NULL || msg->other == NULL)
        return fb_oom(fb);
    return true;
}

static bool fb_message(struct fb *fb)
{
    struct ingest_msg *msg = fb->msg;
    struct fb_table root, event;
    struct fb_vec events;
    struct fb_event *fe;
    size_t pos;
    bool keep;

    if (fb->buf == NULL || fb->len < FB_MIN_LEN)
        return ingest_fail(msg, "fb: buffer too short");
    if (fb->len > FB_MAX_LEN)
        return ingest_fail(msg, "fb: buffer too large");
    if (!fb_deref(fb, 0, &pos) || !fb_table_open(fb, pos, 0, &root) || !fb_header(fb, &root) ||
        !fb_ref(fb, &root, MSG_EVENTS, &pos))
        return false;
    if (pos == 0)
        return ingest_fail(msg, "fb: missing events");
    if (!fb_vector_at(fb, pos, 4, &events))
        return false;
    if (events.n > fb->lim->max_events)
        return ingest_fail(msg, "fb: too many events");
    msg->events = fb_calloc(fb, events.n, sizeof(*msg->events));
    fe = fb_calloc(fb, events.n, sizeof(*fe));
    if (msg->events == NULL || fe == NULL)
        return fb_oom(fb);

    for (size_t i = 0; i < events.n; i++) {
        if (!fb_vector_table(fb, &events, i, root.depth, &event) ||
            !fb_event_scan(fb, &event, &msg->events[msg->n_events], &fe[msg->n_events], &keep))
            return false;
        if (keep)
            msg->n_events++;
        else
            msg->skipped_events++;
    }
    if (!fb_alloc_rows(fb))
        return false;
    for (size_t i = 0; i < msg->n_events; i++) {
        if (!fb_event_rows(fb, &fe[i], &msg->events[i]))
            return false;
    }
    return true;
}

bool ingest_decode_flatbuffers(const uint8_t *buf, size_t len, const struct ingest_limits *lim,
                               struct ingest_msg *msg)
{
    struct fb fb = {.buf = buf, .len = len, .lim = lim, .msg = msg};
    bool ok;

    WARDEN_ASSERT(lim != NULL && msg != NULL);
    ok = fb_message(&fb);
    free(fb.json.p);
    if (!ok) {
        /* Whatever was decoded before the failure must not be mistaken for rows. */
        msg->n_events = msg->skipped_events = 0;
        msg->n_flows = msg->n_ports = msg->n_sysinfo = msg->n_other = 0;
    }
    return ok;
}
