/*
 * libFuzzer target for threat-intelligence lists (imports/intel_parse.c). The
 * input is a list file: each line goes through intel_parse_line() (and the
 * CSV header check), the entries build a matcher in memory, and addresses at
 * and around every range's edges are looked up. Besides the sanitizers'
 * checks it asserts what callers rely on: a parsed range is ordered and of
 * one family, its text and category lie inside the line (Spamhaus' JSON
 * lines included: their CIDR and SBL id are spans of the line too), and the
 * matcher agrees with a linear scan under intel.h's attribution rule.
 */
#include "../../imports/intel.h"

#include <stdlib.h>
#include <string.h>

#define MAX_LINES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef unsigned __int128 u128;

static const char *const lists[] = {"alpha", "beta"};

static u128 to_u128(const struct ip_addr *a)
{
    u128 v = 0;

    if (a->family == 4)
        return (u128)0xffff << 32 |
               ((u128)a->b[0] << 24 | (u128)a->b[1] << 16 | (u128)a->b[2] << 8 | a->b[3]);
    for (int i = 0; i < 16; i++)
        v = v << 8 | a->b[i];
    return v;
}

static bool is_v4_range(u128 first, u128 last)
{
    return first >> 32 == 0xffff && last >> 32 == 0xffff;
}

static void check_entry(const char *line, size_t len, const struct intel_entry *e)
{
    int bits = e->first.family == 4 ? 32 : 128;

    WARDEN_ASSERT(e->first.family == 4 || e->first.family == 6);
    WARDEN_ASSERT(e->first.family == e->last.family);
    WARDEN_ASSERT(e->prefix >= 0 && e->prefix <= bits);
    WARDEN_ASSERT(memcmp(e->first.b, e->last.b, 16) <= 0);
    WARDEN_ASSERT(e->text >= line && e->text_len > 0 && e->text + e->text_len <= line + len);
    WARDEN_ASSERT(e->category == NULL ||
                  (e->category >= line && e->category + e->category_len <= line + len &&
                   e->category_len > 0 && e->category_len <= INTEL_MAX_CATEGORY &&
                   utf8_valid(e->category, e->category_len)));
}

static int cmp_category(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b ? 0 : a == NULL ? -1 : 1;
    return strcmp(a, b);
}

/* intel.h's rule by brute force: smallest range, then list name, then category. */
static const struct intel_range *linear_match(const struct intel_range *r, size_t n,
                                              const struct ip_addr *ip)
{
    struct ip_addr a = *ip;
    const struct intel_range *best = NULL;
    u128 v, best_size = 0;

    ip_unmap(&a);
    v = to_u128(&a);
    for (size_t i = 0; i < n; i++) {
        u128 f = to_u128(&r[i].first), l = to_u128(&r[i].last), size = l - f;
        int c;

        if (v < f || v > l || is_v4_range(f, l) != (a.family == 4))
            continue;
        c = best ? strcmp(r[i].list, best->list) : 0;
        if (best == NULL || size < best_size ||
            (size == best_size &&
             (c < 0 || (c == 0 && cmp_category(r[i].category, best->category) < 0)))) {
            best = &r[i];
            best_size = size;
        }
    }
    return best;
}

static void check_lookup(const struct intel *in, const struct intel_range *r, size_t n,
                         const struct ip_addr *a)
{
    const struct intel_range *want = linear_match(r, n, a);
    const char *list = NULL, *cat = NULL;
    bool got = intel_match(in, a, &list, &cat);

    (void)intel_is_bogon(a);
    WARDEN_ASSERT(got == (want != NULL));
    if (got) {
        WARDEN_ASSERT(strcmp(list, want->list) == 0);
        WARDEN_ASSERT(cmp_category(cat, want->category) == 0);
    }
}

/* Step an address one up or down, wrapping at the ends of its family. */
static struct ip_addr step(struct ip_addr a, int dir)
{
    for (int i = (a.family == 4 ? 4 : 16) - 1; i >= 0; i--) {
        a.b[i] = (uint8_t)(a.b[i] + dir);
        if (a.b[i] != (dir > 0 ? 0 : 0xff))
            break;
    }
    return a;
}

/* Each range's edges, one past them, and the edges as IPv4-mapped IPv6. */
static void check_edges(const struct intel *in, const struct intel_range *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct ip_addr probe[4] = {r[i].first, r[i].last, step(r[i].first, -1), step(r[i].last, 1)};
        for (int k = 0; k < 4; k++) {
            check_lookup(in, r, n, &probe[k]);
            if (probe[k].family == 4) {
                struct ip_addr m = {6, {[10] = 0xff, [11] = 0xff}};
                memcpy(m.b + 12, probe[k].b, 4);
                check_lookup(in, r, n, &m);
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct intel_range r[MAX_LINES];
    static char cats[MAX_LINES][INTEL_MAX_CATEGORY + 1];
    const char *p = (const char *)data, *end = p + size;
    char err[128];
    struct intel *in;
    size_t n = 0;

    for (size_t line = 0; p < end && line < MAX_LINES; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        struct intel_entry e;

        (void)intel_line_is_header(p, len);
        if (intel_parse_line(p, len, &e, err, sizeof(err))) {
            if (e.kind == INTEL_LINE_ENTRY) {
                check_entry(p, len, &e);
                r[n] = (struct intel_range){e.first, e.last, lists[line % 2], NULL};
                if (e.category != NULL) {
                    memcpy(cats[n], e.category, e.category_len);
                    cats[n][e.category_len] = '\0';
                    WARDEN_ASSERT(memchr(cats[n], '\0', e.category_len) == NULL);
                    r[n].category = cats[n];
                }
                n++;
            }
        } else {
            WARDEN_ASSERT(err[0] != '\0');
        }
        p += len + (nl != NULL);
    }
    in = intel_build_ranges(r, n, err, sizeof(err));
    WARDEN_ASSERT(in != NULL);
    check_edges(in, r, n);
    intel_free(in);
    return 0;
}
