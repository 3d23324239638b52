/*
 * sim/fbenc.c: the simulator's own FlatBuffers encoder for security messages
 * of schema 2.x (SPEC 2.1.1). It is written from the schema, independently of
 * ingest/fb.c, so that the two can check each other.
 *
 * The layout is front to back: a table is written before the strings, vectors
 * and tables it refers to, and its offset fields are patched once their
 * targets exist. Every uoffset therefore points forward, as the format
 * requires. Vtables come just before the first table that uses them, and a
 * later table with the same shape reuses an earlier vtable, as the reference
 * builder does, so that messages are as small as a device's.
 */
#include "sim.h"

#include <string.h>

/* Message: 0 security_module_id, 1 security_module_version, 2 timezone, 3 events. */
#define SIM_FB_MODULE_ID      "defender-iot-micro-agent"
#define SIM_FB_MODULE_VERSION ((3u << 24) | (5u << 16) | 4u) /* 3.5.4 */

/* Union Payload tags. */
#define FB_PAYLOAD_NETWORK 1
#define FB_PAYLOAD_SYSINFO 2
#define FB_PAYLOAD_HEARTBEAT 4

#define FB_MAX_FIELDS 8  /* the largest table written here has 5 */
#define FB_VT_CACHE   8  /* vtables remembered for sharing */

struct fbb {
    uint8_t *buf;
    size_t cap, len;
    int full;                    /* a write did not fit: the result is void */
    size_t vt_pos[FB_VT_CACHE];  /* vtables written so far, for sharing */
    size_t n_vt;
};

enum fb_kind { FB_SCALAR, FB_STRUCT, FB_OFFSET };

/* One field of a table about to be written; pos is filled in by fb_table(). */
struct fb_field {
    uint16_t id;
    uint8_t kind;
    uint8_t size;          /* inline bytes: 1, 2 or 4 for scalars, 4 for offsets */
    uint8_t align;
    uint32_t value;        /* FB_SCALAR */
    const uint8_t *bytes;  /* FB_STRUCT, size bytes already in wire order */
    size_t pos;            /* where the field landed in the buffer */
};

static void put_le(uint8_t *p, uint32_t v, size_t size)
{
    for (size_t i = 0; i < size; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Reserve n zeroed bytes at the end; returns their position. */
static size_t fb_reserve(struct fbb *b, size_t n)
{
    size_t at = b->len;

    if (b->full || n > b->cap - b->len) {
        b->full = 1;
        return 0;
    }
    memset(b->buf + at, 0, n);
    b->len += n;
    return at;
}

static void fb_align(struct fbb *b, size_t align)
{
    size_t pad = (align - (b->len % align)) % align;

    fb_reserve(b, pad);
}

/* Point the uoffset at `at` to `target`, which lies after it. */
static void fb_patch(struct fbb *b, size_t at, size_t target)
{
    if (b->full)
        return;
    put_le(b->buf + at, (uint32_t)(target - at), 4);
}

/* A length-prefixed, NUL-terminated string; returns the position of its length. */
static size_t fb_string(struct fbb *b, const char *s)
{
    size_t n = strlen(s), at;

    fb_align(b, 4);
    at = fb_reserve(b, 4 + n + 1);
    if (b->full)
        return 0;
    put_le(b->buf + at, (uint32_t)n, 4);
    memcpy(b->buf + at + 4, s, n);
    return at;
}

/* A vector of count zeroed elements of 4 bytes or less each; returns its length's position. */
static size_t fb_vector(struct fbb *b, size_t count, size_t elem_size)
{
    size_t at;

    fb_align(b, 4);
    if (count > (b->cap - b->len) / (elem_size ? elem_size : 1)) {
        b->full = 1;
        return 0;
    }
    at = fb_reserve(b, 4 + count * elem_size);
    if (b->full)
        return 0;
    put_le(b->buf + at, (uint32_t)count, 4);
    return at;
}

/* The position of an identical vtable written earlier, or 0 when there is none. */
static size_t fb_vt_find(const struct fbb *b, const uint8_t *vt, size_t vt_size)
{
    for (size_t i = 0; i < b->n_vt; i++) {
        size_t at = b->vt_pos[i];

        if (at + vt_size <= b->len && memcmp(b->buf + at, vt, vt_size) == 0)
            return at;
    }
    return 0;
}

static size_t fb_vt_write(struct fbb *b, const uint8_t *vt, size_t vt_size)
{
    size_t at;

    fb_align(b, 2);
    at = fb_reserve(b, vt_size);
    if (b->full)
        return 0;
    memcpy(b->buf + at, vt, vt_size);
    if (b->n_vt < FB_VT_CACHE)
        b->vt_pos[b->n_vt++] = at;
    return at;
}

/*
 * Write a table with the given fields (all present: the caller leaves out
 * those equal to their default). Fields are laid out by decreasing alignment,
 * so a 4-aligned table needs no padding inside. Returns the table's position
 * and sets each field's pos; offset fields are left zero for fb_patch().
 */
static size_t fb_table(struct fbb *b, struct fb_field *f, size_t n)
{
    uint8_t vt[4 + 2 * FB_MAX_FIELDS] = {0};
    size_t order[FB_MAX_FIELDS], inline_off[FB_MAX_FIELDS];
    size_t size = 4, slots = 0, vt_size, vt_at, at;

    if (n > FB_MAX_FIELDS) {
        b->full = 1;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        size_t j = i;

        while (j > 0 && f[order[j - 1]].align < f[i].align) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
        if ((size_t)f[i].id + 1 > slots)
            slots = (size_t)f[i].id + 1;
    }
    for (size_t k = 0; k < n; k++) {
        struct fb_field *fi = &f[order[k]];

        size = (size + fi->align - 1) / fi->align * fi->align;
        inline_off[order[k]] = size;
        size += fi->size;
    }
    if (slots > FB_MAX_FIELDS) {
        b->full = 1;
        return 0;
    }
    vt_size = 4 + 2 * slots;
    put_le(vt, (uint32_t)vt_size, 2);
    put_le(vt + 2, (uint32_t)size, 2);
    for (size_t i = 0; i < n; i++)
        put_le(vt + 4 + 2 * f[i].id, (uint32_t)inline_off[i], 2);

    vt_at = fb_vt_find(b, vt, vt_size);
    if (vt_at == 0)
        vt_at = fb_vt_write(b, vt, vt_size);
    fb_align(b, 4);
    at = fb_reserve(b, size);
    if (b->full)
        return 0;
    /* soffset: the vtable lies at table - soffset, here before the table. */
    put_le(b->buf + at, (uint32_t)(at - vt_at), 4);
    for (size_t i = 0; i < n; i++) {
        f[i].pos = at + inline_off[i];
        if (f[i].kind == FB_SCALAR)
            put_le(b->buf + f[i].pos, f[i].value, f[i].size);
        else if (f[i].kind == FB_STRUCT)
            memcpy(b->buf + f[i].pos, f[i].bytes, f[i].size);
    }
    return at;
}

/* Append a scalar field unless it equals its default (0 for every field here). */
static void add_scalar(struct fb_field *f, size_t *n, uint16_t id, uint8_t size, uint32_t value)
{
    if (value == 0)
        return;
    f[*n] = (struct fb_field){.id = id, .kind = FB_SCALAR, .size = size, .align = size,
                              .value = value};
    (*n)++;
}

static void add_struct(struct fb_field *f, size_t *n, uint16_t id, const uint8_t *bytes,
                       uint8_t size, uint8_t align)
{
    f[*n] = (struct fb_field){.id = id, .kind = FB_STRUCT, .size = size, .align = align,
                              .bytes = bytes};
    (*n)++;
}

static void add_offset(struct fb_field *f, size_t *n, uint16_t id)
{
    f[*n] = (struct fb_field){.id = id, .kind = FB_OFFSET, .size = 4, .align = 4};
    (*n)++;
}

/* The position of the field with this id (it must have been added). */
static size_t field_pos(const struct fb_field *f, size_t n, uint16_t id)
{
    for (size_t i = 0; i < n; i++)
        if (f[i].id == id)
            return f[i].pos;
    return 0;
}

/*
 * Root offset, Message table, module id and the events vector of n_events
 * slots. Returns the position of the first slot (each 4 bytes, to patch).
 */
static size_t fb_message(struct fbb *b, size_t n_events)
{
    struct fb_field f[4];
    size_t n = 0, root, msg, s, vec;

    root = fb_reserve(b, 4);
    add_offset(f, &n, 0);
    add_scalar(f, &n, 1, 4, SIM_FB_MODULE_VERSION);
    add_offset(f, &n, 3);
    msg = fb_table(b, f, n);
    fb_patch(b, root, msg);
    s = fb_string(b, SIM_FB_MODULE_ID);
    fb_patch(b, field_pos(f, n, 0), s);
    vec = fb_vector(b, n_events, 4);
    fb_patch(b, field_pos(f, n, 3), vec);
    return vec + 4;
}

/* An Event in the vector slot at `slot`; returns the position of its payload offset. */
static size_t fb_event(struct fbb *b, size_t slot, const uint8_t id[16], uint32_t time_s,
                       uint32_t interval, uint8_t type)
{
    struct fb_field f[5];
    size_t n = 0, ev;

    add_struct(f, &n, 0, id, 16, 1);
    add_scalar(f, &n, 1, 4, time_s);
    add_scalar(f, &n, 2, 4, interval);
    add_scalar(f, &n, 3, 1, type);
    add_offset(f, &n, 4);
    ev = fb_table(b, f, n);
    fb_patch(b, slot, ev);
    return field_pos(f, n, 4);
}

/* NetworkActivityCommon of one flow; fields equal to their default are left out. */
static size_t fb_flow_common(struct fbb *b, const struct sim_flow4 *fl)
{
    struct fb_field f[5];
    size_t n = 0;

    add_scalar(f, &n, 0, 2, fl->local_port);
    add_scalar(f, &n, 1, 2, fl->remote_port);
    add_scalar(f, &n, 2, 4, fl->bytes_in);
    add_scalar(f, &n, 3, 4, fl->bytes_out);
    add_scalar(f, &n, 4, 1, (uint8_t)fl->protocol);
    return fb_table(b, f, n);
}

/* NetworkActivityV4 in the vector slot at `slot`, followed by its common part. */
static void fb_flow(struct fbb *b, size_t slot, const struct sim_flow4 *fl)
{
    struct fb_field f[2];
    uint8_t addrs[8];
    size_t n = 0, t;

    /* IPv4Addresses: the address bytes go on the wire in network order as they are. */
    memcpy(addrs, fl->local, 4);
    memcpy(addrs + 4, fl->remote, 4);
    add_struct(f, &n, 0, addrs, 8, 4);
    add_offset(f, &n, 1);
    t = fb_table(b, f, n);
    fb_patch(b, slot, t);
    fb_patch(b, field_pos(f, n, 1), fb_flow_common(b, fl));
}

static size_t fb_finish(struct fbb *b)
{
    if (b->full)
        return 0;
    /* Padding the end to 4 keeps a copy of the buffer in an array of words aligned. */
    fb_align(b, 4);
    return b->full ? 0 : b->len;
}

size_t sim_fb_network(uint8_t *out, size_t cap, const uint8_t event_id[16], uint32_t time_s,
                      const struct sim_flow4 *flows, size_t n)
{
    struct fbb b = {.buf = out, .cap = cap};
    struct fb_field f[1];
    size_t nf = 0, slot, na, vec;

    slot = fb_message(&b, 1);
    slot = fb_event(&b, slot, event_id, time_s, 10, FB_PAYLOAD_NETWORK);
    if (n > 0)
        add_offset(f, &nf, 0);
    na = fb_table(&b, f, nf);
    fb_patch(&b, slot, na);
    if (n == 0)
        return fb_finish(&b);
    vec = fb_vector(&b, n, 4);
    fb_patch(&b, field_pos(f, nf, 0), vec);
    for (size_t i = 0; i < n && !b.full; i++)
        fb_flow(&b, vec + 4 + 4 * i, &flows[i]);
    return fb_finish(&b);
}

/* SystemInformation with the strings that are not NULL. */
static size_t fb_sysinfo(struct fbb *b, const char *os, const char *kernel, const char *hw)
{
    const char *s[3] = {os, kernel, hw};
    struct fb_field f[3];
    size_t n = 0, t;

    for (uint16_t i = 0; i < 3; i++)
        if (s[i] != NULL)
            add_offset(f, &n, i);
    t = fb_table(b, f, n);
    for (size_t i = 0; i < n; i++)
        fb_patch(b, f[i].pos, fb_string(b, s[f[i].id]));
    return t;
}

size_t sim_fb_heartbeat_sysinfo(uint8_t *out, size_t cap, const uint8_t id_hb[16],
                                const uint8_t id_si[16], uint32_t time_s, const char *os_info,
                                const char *kernel_info, const char *hw_info)
{
    struct fbb b = {.buf = out, .cap = cap};
    size_t slots, pay;

    /* Devices put SystemInformation first, then the Heartbeat, both every 60 s. */
    slots = fb_message(&b, 2);
    pay = fb_event(&b, slots, id_si, time_s, 60, FB_PAYLOAD_SYSINFO);
    fb_patch(&b, pay, fb_sysinfo(&b, os_info, kernel_info, hw_info));
    pay = fb_event(&b, slots + 4, id_hb, time_s, 60, FB_PAYLOAD_HEARTBEAT);
    fb_patch(&b, pay, fb_table(&b, NULL, 0));
    return fb_finish(&b);
}
