/*
 * The threat-intelligence matcher against its ceiling. It generates N random
 * ranges (three in four IPv4, the rest IPv6 in 2000::/3; random prefix
 * lengths, so they overlap and nest), spread over four lists, builds the
 * matcher (imports/intel_match.c), and looks up random IPv4 and IPv6 addresses
 * for at least S seconds. The ceiling does the least possible work for the
 * same addresses: a plain binary search over a sorted array of the ranges'
 * starts (no attribution, no overlaps resolved). It prints one JSON line:
 *   {"ranges": N, "build_s": B, "memory_bytes": M, "lookups_per_s": L,
 *    "ceiling_lookups_per_s": C, "ratio": L/C, "matched_fraction": F,
 *    "peak_rss_bytes": P}
 * (peak_rss_bytes is the whole process: the generated ranges, the addresses,
 * the ceiling's arrays and the matcher's build included).
 *
 * usage: intel_bench [RANGES [SECONDS]]   (default 1000000 ranges, 2 s)
 */
#include "imports/intel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define ADDRESSES 1048576 /* looked up in turn, so generating them is not timed */

struct key6 {
    uint64_t hi, lo;
};

/* The ceiling's data: the ranges' starts, sorted, per family. */
struct starts {
    uint32_t *v4;
    struct key6 *v6;
    size_t n4, n6;
};

static uint64_t rng_state = 0x243f6a8885a308d3ULL;

static uint64_t rng(void)
{
    /* splitmix64, fixed seed: every run measures the same ranges. */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint64_t be64(const uint8_t *b)
{
    return (uint64_t)be32(b) << 32 | be32(b + 4);
}

static void put64(uint8_t *b, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        b[i] = (uint8_t)v;
        v >>= 8;
    }
}

static void random_address(struct ip_addr *a, bool v4)
{
    memset(a, 0, sizeof(*a));
    if (v4) {
        uint32_t v = (uint32_t)rng();
        a->family = 4;
        a->b[0] = (uint8_t)(v >> 24);
        a->b[1] = (uint8_t)(v >> 16);
        a->b[2] = (uint8_t)(v >> 8);
        a->b[3] = (uint8_t)v;
    } else {
        a->family = 6;
        put64(a->b, (rng() >> 3) | 0x2000000000000000ULL);
        put64(a->b + 8, rng());
    }
}

/* Clear the host bits of first and set them in last. */
static void apply_prefix(struct ip_addr *first, struct ip_addr *last, int prefix)
{
    int bytes = first->family == 4 ? 4 : 16;

    *last = *first;
    for (int i = 0; i < bytes; i++) {
        int keep = prefix - i * 8;
        uint8_t host = keep <= 0 ? 0xff : keep >= 8 ? 0 : (uint8_t)(0xff >> keep);
        first->b[i] &= (uint8_t)~host;
        last->b[i] |= host;
    }
}

/*
 * Mostly /18 to /32 for IPv4, a few as wide as /8; /20 to /64 for IPv6, some
 * narrower. A million such ranges cover about half of each space, like a
 * large aggregate of real lists, so lookups both hit and miss.
 */
static int random_prefix(bool v4)
{
    uint64_t r = rng() % 1000;

    if (v4)
        return r < 2 ? 8 + (int)(rng() % 10) : 18 + (int)(rng() % 15);
    return r < 800 ? 20 + (int)(rng() % 45) : 65 + (int)(rng() % 64);
}

static struct intel_range *make_ranges(size_t n)
{
    static const char *const lists[] = {"firehol_level1", "spamhaus_drop", "feed", "tor"};
    static const char *const cats[] = {NULL, "scanner", "c2", "tor-exit", "malware"};
    struct intel_range *r = calloc(n ? n : 1, sizeof(*r));

    for (size_t i = 0; r != NULL && i < n; i++) {
        bool v4 = rng() % 4 != 0;
        random_address(&r[i].first, v4);
        apply_prefix(&r[i].first, &r[i].last, random_prefix(v4));
        r[i].list = lists[rng() % 4];
        r[i].category = cats[rng() % 5];
    }
    return r;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_key6(const void *a, const void *b)
{
    const struct key6 *x = a, *y = b;

    if (x->hi != y->hi)
        return x->hi < y->hi ? -1 : 1;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static bool starts_init(struct starts *s, const struct intel_range *r, size_t n)
{
    s->v4 = malloc((n ? n : 1) * sizeof(*s->v4));
    s->v6 = malloc((n ? n : 1) * sizeof(*s->v6));
    s->n4 = s->n6 = 0;
    if (s->v4 == NULL || s->v6 == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (r[i].first.family == 4)
            s->v4[s->n4++] = be32(r[i].first.b);
        else
            s->v6[s->n6++] = (struct key6){be64(r[i].first.b), be64(r[i].first.b + 8)};
    }
    qsort(s->v4, s->n4, sizeof(*s->v4), cmp_u32);
    qsort(s->v6, s->n6, sizeof(*s->v6), cmp_key6);
    return true;
}

/* The ceiling's lookup: how many starts are <= ip (0 means below every range). */
static size_t ceiling_lookup(const struct starts *s, const struct ip_addr *a)
{
    size_t lo = 0, hi;

    if (a->family == 4) {
        uint32_t ip = be32(a->b);
        for (hi = s->n4; lo < hi;) {
            size_t mid = lo + (hi - lo) / 2;
            if (s->v4[mid] <= ip)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }
    uint64_t ip_hi = be64(a->b), ip_lo = be64(a->b + 8);
    for (hi = s->n6; lo < hi;) {
        size_t mid = lo + (hi - lo) / 2;
        const struct key6 *k = &s->v6[mid];
        if (k->hi < ip_hi || (k->hi == ip_hi && k->lo <= ip_lo))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Written after each timed pass so the compiler cannot drop the lookups. */
static volatile size_t sink;

/* Lookups a second: whole passes over the addresses until seconds have passed. */
static double time_matcher(const struct intel *in, const struct ip_addr *a, size_t n,
                           double seconds)
{
    double start = now_s(), elapsed;
    size_t done = 0, hits = 0;

    do {
        for (size_t i = 0; i < n; i++)
            hits += intel_match(in, &a[i], NULL, NULL);
        done += n;
    } while ((elapsed = now_s() - start) < seconds);
    sink = hits;
    return (double)done / elapsed;
}

static double time_ceiling(const struct starts *s, const struct ip_addr *a, size_t n,
                           double seconds)
{
    double start = now_s(), elapsed;
    size_t done = 0, sum = 0;

    do {
        for (size_t i = 0; i < n; i++)
            sum += ceiling_lookup(s, &a[i]);
        done += n;
    } while ((elapsed = now_s() - start) < seconds);
    sink = sum;
    return (double)done / elapsed;
}

/* The share of the addresses on a list, so a run that matches nothing shows. */
static double matched_fraction(const struct intel *in, const struct ip_addr *a, size_t n)
{
    size_t hits = 0;

    for (size_t i = 0; i < n; i++)
        hits += intel_match(in, &a[i], NULL, NULL);
    return (double)hits / (double)n;
}

static bool parse_args(int argc, char **argv, size_t *ranges, double *seconds)
{
    char *end;

    *ranges = 1000000;
    *seconds = 2.0;
    if (argc > 1) {
        unsigned long long v = strtoull(argv[1], &end, 10);
        if (*end != '\0' || v == 0 || v > 100000000ULL)
            return false;
        *ranges = (size_t)v;
    }
    if (argc > 2) {
        *seconds = strtod(argv[2], &end);
        if (*end != '\0' || !(*seconds > 0 && *seconds <= 600))
            return false;
    }
    return argc <= 3;
}

int main(int argc, char **argv)
{
    struct intel_range *r;
    struct ip_addr *addrs;
    struct starts st;
    struct intel *in;
    struct rusage ru;
    size_t n;
    double seconds, t0, build_s, rate, ceiling, matched;
    char err[256];

    if (!parse_args(argc, argv, &n, &seconds)) {
        fprintf(stderr, "usage: intel_bench [RANGES [SECONDS]]\n");
        return 2;
    }
    r = make_ranges(n);
    addrs = malloc(ADDRESSES * sizeof(*addrs));
    if (r == NULL || addrs == NULL || !starts_init(&st, r, n)) {
        fprintf(stderr, "intel_bench: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < ADDRESSES; i++)
        random_address(&addrs[i], i % 2 == 0);
    t0 = now_s();
    in = intel_build_ranges(r, n, err, sizeof(err));
    build_s = now_s() - t0;
    if (in == NULL) {
        fprintf(stderr, "intel_bench: %s\n", err);
        return 1;
    }
    matched = matched_fraction(in, addrs, ADDRESSES);
    rate = time_matcher(in, addrs, ADDRESSES, seconds);
    ceiling = time_ceiling(&st, addrs, ADDRESSES, seconds);
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"ranges\": %zu, \"build_s\": %.3f, \"memory_bytes\": %zu, "
           "\"lookups_per_s\": %.0f, \"ceiling_lookups_per_s\": %.0f, \"ratio\": %.3f, "
           "\"matched_fraction\": %.3f, \"peak_rss_bytes\": %lld}\n",
           n, build_s, intel_memory(in), rate, ceiling, rate / ceiling, matched,
           (long long)ru.ru_maxrss * 1024);
    intel_free(in);
    free(st.v4);
    free(st.v6);
    free(addrs);
    free(r);
    return 0;
}
