/*
 * imports/intel_match.c: the in-memory matcher the evaluator asks about
 * remote addresses (SPEC 4.4), built from intel_ranges or from ranges in
 * memory, and the bogon table that matching skips.
 *
 * Ranges from one list or several may overlap (a /24 inside a /16, the same
 * CIDR twice). A sweep over all of them, sorted by first address, cuts the
 * address space into disjoint intervals and gives each the range that wins
 * there by the rule of intel.h (smallest range, then list name, then
 * category). The result is kept as sorted arrays of interval starts, one for
 * IPv4 (uint32) and one for IPv6 (two uint64): an interval runs until the
 * next start, and a start without attribution marks a gap. A lookup of a
 * large table reads a slot table indexed by the address's top 16 bits, then
 * binary searches the few starts in that slot.
 *
 * The sweep works on 128-bit numbers with IPv4 as IPv4-mapped IPv6, as
 * intel_ranges stores them: a range inside ::ffff:0:0/96 is an IPv4 range
 * (however it was written), any other is IPv6 and never matches IPv4.
 *
 * It calls common/, SQLite (to read intel_ranges) and the inline helpers of
 * intelpriv.h, nothing else of imports/; the evaluator calls it.
 */
#include "intelpriv.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ATTR_NONE  UINT32_MAX       /* a gap between intervals */
#define SLOTS      65536            /* top 16 bits of an address */
#define SLOTS_FROM 1024             /* starts in a table that gets slots */
#define SPANS_MAX  (UINT32_MAX / 4) /* so table entries fit a uint32 index */

/* ---- the matcher's tables -------------------------------------------------------- */

/*
 * Disjoint intervals of one family as sorted starts: the interval at entry i
 * runs from its start to the next entry's (or the end of the family's space)
 * and belongs to attrs[attr], or to no list when attr is ATTR_NONE. Each
 * start sits beside its attribution, so the lookup's last step is in a cache
 * line it has just read. Entries whose start has top 16 bits k are
 * slot[k] .. slot[k + 1] - 1; small tables, where the slots would cost more
 * than they save, have none (slot is NULL).
 */
struct entry4 {
    uint32_t start, attr;
};

struct entry6 {
    uint64_t hi, lo;
    uint32_t attr;
};

struct table {
    int family;
    size_t n, cap;
    struct entry4 *e4; /* the IPv4 table's entries */
    struct entry6 *e6; /* the IPv6 table's entries */
    uint32_t *slot;    /* SLOTS + 1 entries, or NULL */
    u128 end;          /* while building: the last address of the last interval */
};

struct attr {
    const char *list, *category;
};

struct intel {
    struct table v4, v6;
    struct attr *attrs;
    size_t nattrs, attrs_cap;
    struct arena strings; /* the attributions' text */
};

static size_t entry_size(const struct table *t)
{
    return t->family == 4 ? sizeof(struct entry4) : sizeof(struct entry6);
}

static bool table_resize(struct table *t, size_t cap)
{
    void *old = t->family == 4 ? (void *)t->e4 : (void *)t->e6;
    void *p = realloc(old, cap * entry_size(t));

    if (p == NULL)
        return false;
    if (t->family == 4)
        t->e4 = p;
    else
        t->e6 = p;
    t->cap = cap;
    return true;
}

static uint32_t table_attr(const struct table *t, size_t i)
{
    return t->family == 4 ? t->e4[i].attr : t->e6[i].attr;
}

static bool table_push(struct table *t, u128 start, uint32_t attr)
{
    if (t->n == t->cap && !table_resize(t, t->cap ? t->cap * 2 : 1024))
        return false;
    if (t->family == 4)
        t->e4[t->n++] = (struct entry4){(uint32_t)start, attr};
    else
        t->e6[t->n++] = (struct entry6){(uint64_t)(start >> 64), (uint64_t)start, attr};
    return true;
}

/* Append the interval [lo, hi], which starts after every interval before it. */
static bool table_add(struct table *t, u128 lo, u128 hi, uint32_t attr)
{
    WARDEN_ASSERT(lo <= hi && (t->n == 0 || lo > t->end));
    if (t->n > 0) {
        if (t->end + 1 == lo && table_attr(t, t->n - 1) == attr) {
            t->end = hi;
            return true;
        }
        if (t->end + 1 != lo && !table_push(t, t->end + 1, ATTR_NONE))
            return false;
    }
    if (!table_push(t, lo, attr))
        return false;
    t->end = hi;
    return true;
}

static unsigned table_top16(const struct table *t, size_t i)
{
    return t->family == 4 ? t->e4[i].start >> 16 : (unsigned)(t->e6[i].hi >> 48);
}

/* Close the last interval, give back the spare capacity, and fill the slots. */
static bool table_finish(struct table *t)
{
    u128 last = t->family == 4 ? 0xffffffffu : U128_MAX;
    size_t j = 0;

    if (t->n > 0 && t->end != last && !table_push(t, t->end + 1, ATTR_NONE))
        return false;
    if (t->n > 0 && t->n < t->cap)
        (void)table_resize(t, t->n); /* keeping the larger block is harmless */
    if (t->n < SLOTS_FROM)
        return true;
    if ((t->slot = malloc((SLOTS + 1) * sizeof(*t->slot))) == NULL)
        return false;
    for (unsigned k = 0; k < SLOTS; k++) {
        while (j < t->n && table_top16(t, j) < k)
            j++;
        t->slot[k] = (uint32_t)j;
    }
    t->slot[SLOTS] = (uint32_t)t->n;
    return true;
}

static uint32_t lookup4(const struct table *t, uint32_t ip)
{
    size_t lo = t->slot ? t->slot[ip >> 16] : 0, hi = t->slot ? t->slot[(ip >> 16) + 1] : t->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->e4[mid].start <= ip)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? ATTR_NONE : t->e4[lo - 1].attr;
}

static uint32_t lookup6(const struct table *t, uint64_t ip_hi, uint64_t ip_lo)
{
    size_t lo = t->slot ? t->slot[ip_hi >> 48] : 0;
    size_t hi = t->slot ? t->slot[(ip_hi >> 48) + 1] : t->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct entry6 *e = &t->e6[mid];
        if (e->hi < ip_hi || (e->hi == ip_hi && e->lo <= ip_lo))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? ATTR_NONE : t->e6[lo - 1].attr;
}

bool intel_match(const struct intel *in, const struct ip_addr *ip, const char **list,
                 const char **category)
{
    struct ip_addr a = *ip;
    uint32_t attr = ATTR_NONE;

    if (in == NULL)
        return false;
    ip_unmap(&a);
    if (a.family == 4)
        attr = lookup4(&in->v4, be32(a.b));
    else if (a.family == 6)
        attr = lookup6(&in->v6, be64(a.b), be64(a.b + 8));
    if (attr == ATTR_NONE)
        return false;
    if (list != NULL)
        *list = in->attrs[attr].list;
    if (category != NULL)
        *category = in->attrs[attr].category;
    return true;
}

size_t intel_memory(const struct intel *in)
{
    if (in == NULL)
        return 0;
    return sizeof(*in) + in->v4.cap * sizeof(struct entry4) + in->v6.cap * sizeof(struct entry6) +
           ((in->v4.slot != NULL) + (in->v6.slot != NULL)) * (SLOTS + 1) * sizeof(uint32_t) +
           in->attrs_cap * sizeof(struct attr) + in->strings.used;
}

void intel_free(struct intel *in)
{
    if (in == NULL)
        return;
    free(in->v4.e4);
    free(in->v4.slot);
    free(in->v6.e6);
    free(in->v6.slot);
    free(in->attrs);
    arena_free(&in->strings);
    free(in);
}

/* ---- building: collect, attribute, sweep ------------------------------------------ */

/* One range while building, as 128-bit numbers. */
struct span {
    u128 first, last;
    uint32_t attr;
};

struct builder {
    struct intel *in;
    struct span *spans;
    size_t n, cap;
    struct map attr_ids; /* "list\0" flag category -> attr index + 1 */
    char *key;
    size_t key_cap;
    uint32_t *rank; /* rank[attr]: its place in (list, category) order */
};

static bool same_category(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static bool attr_new(struct builder *b, const char *list, const char *category)
{
    struct intel *in = b->in;
    struct attr *a;

    if (in->nattrs == in->attrs_cap) {
        size_t ncap = in->attrs_cap ? in->attrs_cap * 2 : 16;
        struct attr *na = realloc(in->attrs, ncap * sizeof(*na));
        if (na == NULL)
            return false;
        in->attrs = na;
        in->attrs_cap = ncap;
    }
    a = &in->attrs[in->nattrs];
    a->list = arena_strndup(&in->strings, list, strlen(list));
    a->category = NULL;
    if (category != NULL)
        a->category = arena_strndup(&in->strings, category, strlen(category));
    if (a->list == NULL || (category != NULL && a->category == NULL))
        return false;
    in->nattrs++;
    return true;
}

/* The index of the attribution (list, category), added when new. */
static bool attr_id(struct builder *b, const char *list, const char *category, uint32_t *id)
{
    size_t ll = strlen(list), cl = category ? strlen(category) : 0, kl = ll + 2 + cl;
    struct map_entry *e;

    /* Rows come grouped by list, so the previous attribution is the likely one. */
    if (b->in->nattrs > 0 && *id < b->in->nattrs && strcmp(b->in->attrs[*id].list, list) == 0 &&
        same_category(b->in->attrs[*id].category, category))
        return true;
    if (kl > b->key_cap) {
        char *nk = realloc(b->key, kl);
        if (nk == NULL)
            return false;
        b->key = nk;
        b->key_cap = kl;
    }
    memcpy(b->key, list, ll);
    b->key[ll] = '\0';
    b->key[ll + 1] = category != NULL;
    if (cl > 0)
        memcpy(b->key + ll + 2, category, cl);
    if ((e = map_upsert(&b->attr_ids, b->key, kl)) == NULL)
        return false;
    if (e->value == 0) {
        if (b->in->nattrs >= ATTR_NONE - 1 || !attr_new(b, list, category))
            return false;
        e->value = (int64_t)b->in->nattrs;
    }
    *id = (uint32_t)(e->value - 1);
    return true;
}

/* Add the range [first, last] (128-bit, IPv4 mapped); false when out of memory. */
static bool builder_add(struct builder *b, u128 first, u128 last, const char *list,
                        const char *category, uint32_t *id)
{
    if (!attr_id(b, list, category, id))
        return false;
    if (b->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 1024;
        struct span *ns = ncap > SPANS_MAX ? NULL : realloc(b->spans, ncap * sizeof(*ns));
        if (ns == NULL)
            return false;
        b->spans = ns;
        b->cap = ncap;
    }
    b->spans[b->n++] = (struct span){first, last, *id};
    return true;
}

static int cmp_span_first(const void *pa, const void *pb)
{
    const struct span *a = pa, *b = pb;

    return a->first < b->first ? -1 : a->first > b->first;
}

/* An attribution and its index, for sorting them by (list, category). */
struct attr_ref {
    const struct attr *a;
    uint32_t id;
};

static int cmp_attr_order(const void *pa, const void *pb)
{
    const struct attr *a = ((const struct attr_ref *)pa)->a;
    const struct attr *b = ((const struct attr_ref *)pb)->a;
    int c = strcmp(a->list, b->list);

    if (c != 0 || same_category(a->category, b->category))
        return c;
    if (a->category == NULL || b->category == NULL)
        return a->category == NULL ? -1 : 1;
    return strcmp(a->category, b->category);
}

/* rank[attr] = the attribution's place in (list, category) order, for ties of size. */
static bool rank_attrs(struct builder *b)
{
    size_t n = b->in->nattrs;
    struct attr_ref *order = malloc((n ? n : 1) * sizeof(*order));

    b->rank = malloc((n ? n : 1) * sizeof(*b->rank));
    if (order == NULL || b->rank == NULL) {
        free(order);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = (struct attr_ref){&b->in->attrs[i], (uint32_t)i};
    qsort(order, n, sizeof(*order), cmp_attr_order);
    for (size_t i = 0; i < n; i++)
        b->rank[order[i].id] = (uint32_t)i;
    free(order);
    return true;
}

/* One family's sweep: its spans, sorted by first address, and the heap. */
struct sweep {
    const struct span *spans;
    size_t n;
    const uint32_t *rank;
    uint32_t *heap; /* spans covering the sweep's position, best first */
    size_t heap_n;
    struct table *out;
};

/* True when span a wins over span c where both cover an address. */
static bool span_better(const struct sweep *w, uint32_t a, uint32_t c)
{
    const struct span *x = &w->spans[a], *y = &w->spans[c];
    u128 sx = x->last - x->first, sy = y->last - y->first;

    if (sx != sy)
        return sx < sy;
    return w->rank[x->attr] < w->rank[y->attr];
}

static void heap_push(struct sweep *w, uint32_t span)
{
    size_t i = w->heap_n++;

    while (i > 0 && span_better(w, span, w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = span;
}

static void heap_pop(struct sweep *w)
{
    uint32_t moved = w->heap[--w->heap_n];
    size_t i = 0, n = w->heap_n;

    if (n == 0)
        return;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && span_better(w, w->heap[c + 1], w->heap[c]))
            c++;
        if (!span_better(w, w->heap[c], moved))
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    w->heap[i] = moved;
}

/*
 * Hand the interval [lo, hi] to the sweep's table. IPv4 spans lie inside the
 * mapped block and are stored as uint32; IPv6 spans give up the part of
 * them inside the block, which belongs to IPv4.
 */
static bool emit(struct sweep *w, u128 lo, u128 hi, uint32_t attr)
{
    struct table *t = w->out;

    if (t->family == 4)
        return table_add(t, lo - MAPPED_FIRST, hi - MAPPED_FIRST, attr);
    if (lo < MAPPED_FIRST && !table_add(t, lo, hi < MAPPED_FIRST ? hi : MAPPED_FIRST - 1, attr))
        return false;
    if (hi > MAPPED_LAST && !table_add(t, lo > MAPPED_LAST ? lo : MAPPED_LAST + 1, hi, attr))
        return false;
    return true;
}

/*
 * The sweep. pos walks up the address space; the heap holds the spans that
 * started at or before pos, best first, and ones that ended are dropped when
 * they reach the top. The winner holds until it ends or the next span
 * starts, whichever is first; each such stretch is emitted.
 */
static bool sweep_run(struct sweep *w)
{
    size_t i = 0;
    u128 pos = 0;

    for (;;) {
        const struct span *top;
        u128 end;

        if (w->heap_n == 0) {
            if (i == w->n)
                return true;
            pos = w->spans[i].first;
        }
        while (i < w->n && w->spans[i].first == pos)
            heap_push(w, (uint32_t)i++);
        while (w->heap_n > 0 && w->spans[w->heap[0]].last < pos)
            heap_pop(w);
        if (w->heap_n == 0)
            continue;
        top = &w->spans[w->heap[0]];
        end = top->last;
        if (i < w->n && w->spans[i].first - 1 < end)
            end = w->spans[i].first - 1;
        if (!emit(w, pos, end, top->attr))
            return false;
        if (end == U128_MAX)
            return true;
        pos = end + 1;
    }
}

static bool is_ipv4_span(const struct span *s)
{
    return s->first >= MAPPED_FIRST && s->last <= MAPPED_LAST;
}

/*
 * IPv4 and IPv6 are swept apart: an IPv6 range that covers the mapped block
 * (the ::/8 of a bogon list, say) must not match IPv4 traffic, while one
 * inside the block (::ffff:a.b.c.d/n) is an IPv4 range.
 */
static bool sweep_all(struct builder *b)
{
    struct sweep w = {.rank = b->rank};
    size_t n4 = 0;
    bool ok;

    for (size_t i = 0; i < b->n; i++) {
        if (is_ipv4_span(&b->spans[i])) {
            struct span tmp = b->spans[n4];
            b->spans[n4++] = b->spans[i];
            b->spans[i] = tmp;
        }
    }
    if (b->n > 0) {
        qsort(b->spans, n4, sizeof(*b->spans), cmp_span_first);
        qsort(b->spans + n4, b->n - n4, sizeof(*b->spans), cmp_span_first);
    }
    if ((w.heap = malloc((b->n ? b->n : 1) * sizeof(*w.heap))) == NULL)
        return false;
    w.spans = b->spans;
    w.n = n4;
    w.out = &b->in->v4;
    ok = sweep_run(&w);
    w.spans = b->n > 0 ? b->spans + n4 : NULL;
    w.n = b->n - n4;
    w.heap_n = 0;
    w.out = &b->in->v6;
    ok = ok && sweep_run(&w);
    free(w.heap);
    return ok;
}

static void builder_free(struct builder *b)
{
    free(b->spans);
    map_free(&b->attr_ids);
    free(b->key);
    free(b->rank);
}

static struct intel *builder_start(struct builder *b)
{
    memset(b, 0, sizeof(*b));
    map_init(&b->attr_ids);
    if ((b->in = calloc(1, sizeof(*b->in))) == NULL)
        return NULL;
    b->in->v4.family = 4;
    b->in->v6.family = 6;
    arena_init(&b->in->strings, SIZE_MAX / 2);
    return b->in;
}

/* Sweep what was added into b->in's tables. Frees the builder; NULL when out of memory. */
static struct intel *builder_finish(struct builder *b)
{
    struct intel *in = b->in;
    bool ok;

    ok = rank_attrs(b) && sweep_all(b);
    builder_free(b);
    if (!ok || !table_finish(&in->v4) || !table_finish(&in->v6)) {
        intel_free(in);
        return NULL;
    }
    return in;
}

static bool ip_family_ok(const struct ip_addr *a)
{
    return a->family == 4 || a->family == 6;
}

struct intel *intel_build_ranges(const struct intel_range *ranges, size_t n, char *err,
                                 size_t errlen)
{
    struct builder b;
    uint32_t id = 0;

    if (builder_start(&b) == NULL) {
        fail(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const struct intel_range *r = &ranges[i];
        u128 first = ip_to_u128(&r->first), last = ip_to_u128(&r->last);

        if (!ip_family_ok(&r->first) || r->first.family != r->last.family || first > last ||
            r->list == NULL) {
            if (err != NULL && errlen > 0)
                snprintf(err, errlen, "range %zu is malformed", i);
            builder_free(&b);
            intel_free(b.in);
            return NULL;
        }
        if (!builder_add(&b, first, last, r->list, r->category, &id)) {
            fail(err, errlen, "out of memory");
            builder_free(&b);
            intel_free(b.in);
            return NULL;
        }
    }
    if ((b.in = builder_finish(&b)) == NULL)
        fail(err, errlen, "out of memory");
    return b.in;
}

static const char sql_ranges_all[] = "SELECT list, first_ip, last_ip, category FROM intel_ranges";

/* Add one intel_ranges row; false only when out of memory. Bad rows are counted. */
static bool build_row(struct builder *b, sqlite3_stmt *st, uint32_t *id, size_t *bad)
{
    const char *list = (const char *)sqlite3_column_text(st, 0);
    const char *category = (const char *)sqlite3_column_text(st, 3);
    const void *f = sqlite3_column_blob(st, 1), *l = sqlite3_column_blob(st, 2);
    u128 first, last;

    /* Defensive: the loader writes 16-byte blobs, but the file is anyone's to edit. */
    if (list == NULL || f == NULL || l == NULL || sqlite3_column_bytes(st, 1) != 16 ||
        sqlite3_column_bytes(st, 2) != 16) {
        (*bad)++;
        return true;
    }
    first = u128_from_bytes(f);
    last = u128_from_bytes(l);
    if (first > last) {
        (*bad)++;
        return true;
    }
    return builder_add(b, first, last, list, category, id);
}

struct intel *intel_build(struct sqlite3 *db, char *err, size_t errlen)
{
    struct builder b;
    sqlite3_stmt *st = NULL;
    size_t bad = 0;
    uint32_t id = 0;
    int rc;

    if (builder_start(&b) == NULL) {
        fail(err, errlen, "out of memory");
        return NULL;
    }
    if (sqlite3_prepare_v2(db, sql_ranges_all, -1, &st, NULL) != SQLITE_OK)
        goto db_error;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!build_row(&b, st, &id, &bad)) {
            fail(err, errlen, "out of memory");
            goto fail;
        }
    }
    if (rc != SQLITE_DONE)
        goto db_error;
    sqlite3_finalize(st);
    if (bad > 0)
        log_warn("intel: skipped %zu intel_ranges rows with malformed addresses", bad);
    if ((b.in = builder_finish(&b)) == NULL)
        fail(err, errlen, "out of memory");
    return b.in;

db_error:
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "intel_ranges: %s", sqlite3_errmsg(db));
fail:
    sqlite3_finalize(st);
    builder_free(&b);
    intel_free(b.in);
    return NULL;
}

/* ---- bogons ------------------------------------------------------------------------- */

struct bogon {
    struct ip_addr net;
    int prefix;
};

/* SPEC 4.4's list. */
static const struct bogon bogons[] = {
    {{4, {0, 0, 0, 0}}, 8},              /* "this" network */
    {{4, {10, 0, 0, 0}}, 8},             /* private */
    {{4, {100, 64, 0, 0}}, 10},          /* carrier-grade NAT */
    {{4, {127, 0, 0, 0}}, 8},            /* loopback */
    {{4, {169, 254, 0, 0}}, 16},         /* link-local */
    {{4, {172, 16, 0, 0}}, 12},          /* private */
    {{4, {192, 0, 0, 0}}, 24},           /* IETF protocol assignments */
    {{4, {192, 0, 2, 0}}, 24},           /* documentation */
    {{4, {192, 168, 0, 0}}, 16},         /* private */
    {{4, {198, 18, 0, 0}}, 15},          /* benchmarking */
    {{4, {198, 51, 100, 0}}, 24},        /* documentation */
    {{4, {203, 0, 113, 0}}, 24},         /* documentation */
    {{4, {224, 0, 0, 0}}, 4},            /* multicast */
    {{4, {240, 0, 0, 0}}, 4},            /* reserved, and broadcast */
    {{6, {0}}, 128},                     /* :: unspecified */
    {{6, {[15] = 1}}, 128},              /* ::1 loopback */
    {{6, {0xfc, 0x00}}, 7},              /* unique local */
    {{6, {0xfe, 0x80}}, 10},             /* link-local */
    {{6, {0xff, 0x00}}, 8},              /* multicast */
    {{6, {0x20, 0x01, 0x0d, 0xb8}}, 32}, /* documentation */
};

bool intel_is_bogon(const struct ip_addr *ip)
{
    struct ip_addr a = *ip;

    ip_unmap(&a);
    for (size_t i = 0; i < sizeof(bogons) / sizeof(bogons[0]); i++) {
        if (cidr_contains(&bogons[i].net, bogons[i].prefix, &a))
            return true;
    }
    return false;
}
