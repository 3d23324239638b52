/*
 * Threat-intelligence lists (SPEC 4.4): the parser of list lines, the
 * in-memory matcher the evaluator asks about remote addresses, the bogon
 * table, and `warden intel load | list | drop`.
 *
 * The matcher. Ranges from one list or several may overlap (a /24 inside a
 * /16, the same CIDR twice). A sweep over all of them, sorted by first
 * address, cuts the address space into disjoint intervals and gives each the
 * range that wins there by the rule of intel.h (smallest range, then list
 * name, then category). The result is kept as sorted arrays of interval
 * starts, one for IPv4 (uint32) and one for IPv6 (two uint64): an interval
 * runs until the next start, and a start without attribution marks a gap. A
 * lookup of a large table reads a slot table indexed by the address's top 16
 * bits, then binary searches the few starts in that slot.
 *
 * The sweep works on 128-bit numbers with IPv4 as IPv4-mapped IPv6, as
 * intel_ranges stores them: a range inside ::ffff:0:0/96 is an IPv4 range
 * (however it was written), any other is IPv6 and never matches IPv4.
 */
#include "intel.h"
#include "imports.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* GCC and Clang's 128-bit integer, for address arithmetic while building. */
typedef unsigned __int128 u128;

#define U128_MAX     (~(u128)0)
#define MAPPED_FIRST ((u128)0xffff << 32)         /* ::ffff:0.0.0.0 */
#define MAPPED_LAST  (MAPPED_FIRST | 0xffffffffu) /* ::ffff:255.255.255.255 */
#define ATTR_NONE    UINT32_MAX                   /* a gap between intervals */
#define SLOTS        65536                        /* top 16 bits of an address */
#define SLOTS_FROM   1024                         /* starts in a table that gets slots */
#define SPANS_MAX    (UINT32_MAX / 4)             /* so table entries fit a uint32 index */

/* ---- parsing one line --------------------------------------------------------- */

static bool fail(char *err, size_t errlen, const char *why)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", why);
    return false;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_word(char c)
{
    return is_alpha(c) || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' || c == ' ';
}

static void trim(const char **p, size_t *n)
{
    while (*n > 0 && is_space(**p)) {
        (*p)++;
        (*n)--;
    }
    while (*n > 0 && is_space((*p)[*n - 1]))
        (*n)--;
}

/* CSV fields may be wrapped in one pair of double quotes. */
static void unquote(const char **p, size_t *n)
{
    if (*n >= 2 && (*p)[0] == '"' && (*p)[*n - 1] == '"') {
        (*p)++;
        *n -= 2;
    }
}

/*
 * The length of the field at p: a quoted field runs to its closing quote,
 * any other to the first character in stops (or the end).
 */
static size_t field_len(const char *p, size_t n, const char *stops)
{
    size_t i = 0;

    if (n > 0 && p[0] == '"') {
        for (i = 1; i < n && p[i] != '"'; i++)
            ;
        return i < n ? i + 1 : n;
    }
    while (i < n && memchr(stops, p[i], strlen(stops)) == NULL)
        i++;
    return i;
}

/* Set every bit after the first prefix bits of ip, making it a range's last address. */
static void set_host_bits(struct ip_addr *ip, int prefix)
{
    int bytes = ip->family == 4 ? 4 : 16;

    for (int i = 0; i < bytes; i++) {
        int keep = prefix - i * 8;
        if (keep <= 0)
            ip->b[i] = 0xff;
        else if (keep < 8)
            ip->b[i] |= (uint8_t)(0xff >> keep);
    }
}

/* cidr_parse() wants a NUL-terminated string; an address or CIDR fits in 64 bytes. */
static bool parse_cidr(const char *p, size_t n, struct intel_entry *out)
{
    char text[64];

    if (n == 0 || n >= sizeof(text) || memchr(p, '\0', n) != NULL)
        return false;
    memcpy(text, p, n);
    text[n] = '\0';
    if (!cidr_parse(text, &out->first, &out->prefix))
        return false;
    out->last = out->first;
    set_host_bits(&out->last, out->prefix);
    return true;
}

static bool take_category(const char *p, size_t n, struct intel_entry *out, char *err,
                          size_t errlen)
{
    trim(&p, &n);
    unquote(&p, &n);
    trim(&p, &n);
    if (n > INTEL_MAX_CATEGORY) {
        /* Cut before a UTF-8 continuation byte, never inside a character. */
        n = INTEL_MAX_CATEGORY;
        while (n > 0 && ((unsigned char)p[n] & 0xc0) == 0x80)
            n--;
        trim(&p, &n);
    }
    if (n == 0)
        return true;
    if (!utf8_valid(p, n) || !text_printable(p, n))
        return fail(err, errlen, "category is not printable UTF-8 text");
    out->category = p;
    out->category_len = n;
    return true;
}

/* What follows the address: a comment, a Spamhaus note, CSV columns or extra columns. */
static bool parse_rest(const char *p, size_t n, struct intel_entry *out, char *err, size_t errlen)
{
    while (n > 0 && is_space(*p)) {
        p++;
        n--;
    }
    if (n == 0 || *p == '#')
        return true;
    if (*p == ';')
        return take_category(p + 1, n - 1, out, err, errlen);
    if (*p == ',') {
        p++;
        n--;
        while (n > 0 && is_space(*p)) {
            p++;
            n--;
        }
        return take_category(p, field_len(p, n, ","), out, err, errlen);
    }
    return true;
}

/* ---- Spamhaus' JSON lines ------------------------------------------------------ */

/*
 * drop_v4.json and drop_v6.json hold one flat JSON object a line:
 *   {"cidr":"1.2.3.0/24","sblid":"SBL123","rir":"ripencc"}
 * and a last line {"type":"metadata","timestamp":...,"records":N,...}. The
 * scanner below reads one such object from the line in place, so that the
 * CIDR and the SBL id stay spans of the line like the text formats' fields.
 * It checks the JSON it walks (strings and their escapes, numbers, literals,
 * nesting up to JSON_LINE_DEPTH) and never reads past len.
 */
#define JSON_LINE_DEPTH 8

/* A string value: the bytes between its quotes, as written. */
struct jspan {
    const char *p;
    size_t n;
    bool present, is_string, escaped;
};

struct jline {
    const char *p;
    size_t n, i;
    struct jspan cidr, sblid, type, asn;
};

static void jl_ws(struct jline *j)
{
    while (j->i < j->n && (j->p[j->i] == ' ' || j->p[j->i] == '\t' || j->p[j->i] == '\r'))
        j->i++;
}

static bool is_hex(char c)
{
    return hex_digit((unsigned char)c) >= 0;
}

/* A string at j->i (its opening quote); *span gets its contents. */
static bool jl_string(struct jline *j, struct jspan *span)
{
    size_t start;

    if (j->i >= j->n || j->p[j->i] != '"')
        return false;
    start = ++j->i;
    span->escaped = false;
    while (j->i < j->n && j->p[j->i] != '"') {
        unsigned char c = (unsigned char)j->p[j->i];

        if (c < 0x20)
            return false;
        if (c == '\\') {
            span->escaped = true;
            if (j->i + 1 >= j->n)
                return false;
            c = (unsigned char)j->p[j->i + 1];
            if (c == 'u') {
                if (j->i + 5 >= j->n || !is_hex(j->p[j->i + 2]) || !is_hex(j->p[j->i + 3]) ||
                    !is_hex(j->p[j->i + 4]) || !is_hex(j->p[j->i + 5]))
                    return false;
                j->i += 4;
            } else if (strchr("\"\\/bfnrt", c) == NULL || c == '\0') {
                return false;
            }
            j->i++;
        }
        j->i++;
    }
    if (j->i >= j->n)
        return false;
    span->p = j->p + start;
    span->n = j->i - start;
    span->present = span->is_string = true;
    j->i++;
    return true;
}

static bool jl_digits(struct jline *j)
{
    size_t start = j->i;

    while (j->i < j->n && j->p[j->i] >= '0' && j->p[j->i] <= '9')
        j->i++;
    return j->i > start;
}

/* A number as JSON writes them: -?int(.digits)?([eE][+-]?digits)? */
static bool jl_number(struct jline *j)
{
    size_t first;

    if (j->i < j->n && j->p[j->i] == '-')
        j->i++;
    first = j->i;
    if (!jl_digits(j) || (j->p[first] == '0' && j->i - first > 1))
        return false; /* JSON writes no leading zeros */
    if (j->i < j->n && j->p[j->i] == '.') {
        j->i++;
        if (!jl_digits(j))
            return false;
    }
    if (j->i < j->n && (j->p[j->i] == 'e' || j->p[j->i] == 'E')) {
        j->i++;
        if (j->i < j->n && (j->p[j->i] == '+' || j->p[j->i] == '-'))
            j->i++;
        if (!jl_digits(j))
            return false;
    }
    return true;
}

static bool jl_literal(struct jline *j, const char *word)
{
    size_t k = strlen(word);

    if (j->n - j->i < k || memcmp(j->p + j->i, word, k) != 0)
        return false;
    j->i += k;
    return true;
}

static bool jl_value(struct jline *j, struct jspan *span, int depth);

/* An array or object at j->i, walked and dropped (an unknown member's value). */
static bool jl_container(struct jline *j, int depth)
{
    char close = j->p[j->i] == '[' ? ']' : '}';
    struct jspan ignored;
    bool first = true;

    if (depth >= JSON_LINE_DEPTH)
        return false;
    j->i++;
    for (;;) {
        jl_ws(j);
        if (j->i < j->n && j->p[j->i] == close && first) {
            j->i++;
            return true;
        }
        if (close == '}') {
            if (!jl_string(j, &ignored))
                return false;
            jl_ws(j);
            if (j->i >= j->n || j->p[j->i++] != ':')
                return false;
            jl_ws(j);
        }
        if (!jl_value(j, &ignored, depth + 1))
            return false;
        jl_ws(j);
        first = false;
        if (j->i < j->n && j->p[j->i] == ',') {
            j->i++;
            continue;
        }
        if (j->i < j->n && j->p[j->i] == close) {
            j->i++;
            return true;
        }
        return false;
    }
}

/* Any value; *span is filled (is_string set) when it is a string. */
static bool jl_value(struct jline *j, struct jspan *span, int depth)
{
    char c;

    memset(span, 0, sizeof(*span));
    span->present = true;
    if (j->i >= j->n)
        return false;
    c = j->p[j->i];
    if (c == '"')
        return jl_string(j, span);
    if (c == '{' || c == '[')
        return jl_container(j, depth);
    if (c == '-' || (c >= '0' && c <= '9'))
        return jl_number(j);
    return jl_literal(j, "true") || jl_literal(j, "false") || jl_literal(j, "null");
}

/* The member a key names, or NULL for one Warden does not read. */
static struct jspan *jl_slot(struct jline *j, const struct jspan *key)
{
    static const char *const keys[] = {"cidr", "sblid", "type", "asn"};
    struct jspan *slots[] = {&j->cidr, &j->sblid, &j->type, &j->asn};

    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
        if (!key->escaped && key->n == strlen(keys[k]) && memcmp(key->p, keys[k], key->n) == 0)
            return slots[k];
    return NULL;
}

/* The object on the line, its members of interest in j; false with the reason in err. */
static bool jl_object(struct jline *j, char *err, size_t errlen)
{
    bool first = true;

    j->i++; /* the '{' */
    for (;;) {
        struct jspan key, value, *slot;

        jl_ws(j);
        if (first && j->i < j->n && j->p[j->i] == '}')
            break;
        if (!jl_string(j, &key))
            return fail(err, errlen, "invalid JSON: a member name was expected");
        jl_ws(j);
        if (j->i >= j->n || j->p[j->i++] != ':')
            return fail(err, errlen, "invalid JSON: ':' was expected");
        jl_ws(j);
        if (!jl_value(j, &value, 1))
            return fail(err, errlen, "invalid JSON value, or one nested deeper than 8 levels");
        if ((slot = jl_slot(j, &key)) != NULL) {
            if (slot->present)
                return fail(err, errlen, "a member appears twice");
            *slot = value;
        }
        jl_ws(j);
        first = false;
        if (j->i < j->n && j->p[j->i] == ',') {
            j->i++;
            continue;
        }
        if (j->i < j->n && j->p[j->i] == '}')
            break;
        return fail(err, errlen, "invalid JSON: ',' or '}' was expected");
    }
    j->i++;
    jl_ws(j);
    if (j->i != j->n)
        return fail(err, errlen, "invalid JSON: data after the object");
    return true;
}

/* A CIDR as JSON may escape it ("1.2.3.0\/24"): the escape undone, into out. */
static bool unescape_cidr(const struct jspan *v, char *out, size_t outlen, size_t *n)
{
    size_t k = 0;

    for (size_t i = 0; i < v->n; i++) {
        char c = v->p[i];

        if (c == '\\') {
            if (i + 1 >= v->n || v->p[i + 1] != '/')
                return false; /* no CIDR needs any other escape */
            c = v->p[++i];
        }
        if (k + 1 >= outlen)
            return false;
        out[k++] = c;
    }
    *n = k;
    return true;
}

static bool parse_json_line(const char *p, size_t n, struct intel_entry *out, char *err,
                            size_t errlen)
{
    struct jline j = {.p = p, .n = n};
    char cidr[64];
    size_t cidr_len;

    out->json = true;
    if (!jl_object(&j, err, errlen))
        return false;
    if (j.type.present) {
        if (j.type.is_string && !j.type.escaped && j.type.n == 8 &&
            memcmp(j.type.p, "metadata", 8) == 0)
            return true; /* the list's own description: skipped */
        return fail(err, errlen, "a JSON line with a type other than \"metadata\"");
    }
    if (!j.cidr.present)
        return fail(err, errlen,
                    j.asn.present ? "an ASN-DROP record (asn): lists hold addresses and CIDRs, "
                                    "not AS numbers"
                                  : "a JSON line without cidr (Spamhaus DROP: "
                                    "{\"cidr\", \"sblid\", \"rir\"})");
    if (!j.cidr.is_string || !unescape_cidr(&j.cidr, cidr, sizeof(cidr), &cidr_len) ||
        !parse_cidr(cidr, cidr_len, out))
        return fail(err, errlen, "cidr is not an IP address or CIDR");
    if (j.sblid.present && (!j.sblid.is_string || j.sblid.escaped))
        return fail(err, errlen, "sblid must be a string without escapes");
    out->kind = INTEL_LINE_ENTRY;
    out->text = j.cidr.p;
    out->text_len = j.cidr.n;
    if (j.sblid.present && !take_category(j.sblid.p, j.sblid.n, out, err, errlen)) {
        out->kind = INTEL_LINE_SKIP;
        return false;
    }
    return true;
}

bool intel_parse_line(const char *line, size_t len, struct intel_entry *out, char *err,
                      size_t errlen)
{
    const char *p = line, *text;
    size_t n = len, f, text_len;

    memset(out, 0, sizeof(*out));
    out->kind = INTEL_LINE_SKIP;
    trim(&p, &n);
    if (n == 0 || p[0] == '#' || p[0] == ';')
        return true;
    if (p[0] == '{')
        return parse_json_line(p, n, out, err, errlen);
    if (p[0] == '[')
        return fail(err, errlen, "a JSON array; Spamhaus' JSON lists hold one object a line");
    f = field_len(p, n, " \t\r\v\f,;#");
    text = p;
    text_len = f;
    unquote(&text, &text_len);
    if (!parse_cidr(text, text_len, out))
        return fail(err, errlen, "not an IP address or CIDR");
    out->kind = INTEL_LINE_ENTRY;
    out->text = text;
    out->text_len = text_len;
    if (!parse_rest(p + f, n - f, out, err, errlen)) {
        out->kind = INTEL_LINE_SKIP;
        return false;
    }
    return true;
}

bool intel_line_is_header(const char *line, size_t len)
{
    const char *p = line;
    size_t n = len, f;

    trim(&p, &n);
    if (n == 0 || memchr(p, ',', n) == NULL)
        return false;
    f = field_len(p, n, ",");
    unquote(&p, &f);
    if (f == 0 || !is_alpha(p[0]))
        return false;
    for (size_t i = 0; i < f; i++) {
        if (!is_word(p[i]))
            return false;
    }
    return true;
}

/* ---- addresses as 128-bit numbers ------------------------------------------------ */

static u128 u128_from_bytes(const uint8_t b[16])
{
    u128 v = 0;

    for (int i = 0; i < 16; i++)
        v = v << 8 | b[i];
    return v;
}

static void u128_to_bytes(u128 v, uint8_t b[16])
{
    for (int i = 15; i >= 0; i--) {
        b[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint64_t be64(const uint8_t *b)
{
    return (uint64_t)be32(b) << 32 | be32(b + 4);
}

/* IPv4 becomes ::ffff:a.b.c.d, the form intel_ranges stores. */
static u128 ip_to_u128(const struct ip_addr *ip)
{
    if (ip->family == 4)
        return MAPPED_FIRST | be32(ip->b);
    return u128_from_bytes(ip->b);
}

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

/* ---- the version counter -------------------------------------------------------------- */

#define VERSION_KEY "intel_version"

static const char sql_version_get[] = "SELECT value FROM evaluator_state WHERE key = ?1";

int64_t intel_version(struct sqlite3 *db)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    int rc;

    if (sqlite3_prepare_v2(db, sql_version_get, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, VERSION_KEY, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE)
        v = 0;
    sqlite3_finalize(st);
    return v;
}

static const char sql_version_bump[] = "INSERT INTO evaluator_state (key, value) VALUES (?1, 1) "
                                       "ON CONFLICT (key) DO UPDATE SET value = value + 1";

/* ---- `warden intel` ---------------------------------------------------------------------- */

static const char usage[] = "usage: warden intel load FILE [--name NAME] | list | drop NAME\n";

#define PROGRESS_EVERY 100000
#define NAME_MAX_LEN   64
#define EXCERPT_LEN    60

/* A prepared statement; fails with the connection's error. */
static bool prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK)
        return true;
    fprintf(stderr, "warden intel: %s\n", sqlite3_errmsg(db));
    return false;
}

/* Step a statement that returns no rows, and reset it for the next use. */
static bool step_done(sqlite3 *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    if (rc != SQLITE_DONE)
        fprintf(stderr, "warden intel: %s\n", sqlite3_errmsg(db));
    sqlite3_reset(st);
    return rc == SQLITE_DONE;
}

/* BEGIN, COMMIT and ROLLBACK, which take no values. */
static bool exec_sql(sqlite3 *db, const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
        return true;
    fprintf(stderr, "warden intel: %s\n", sqlite3_errmsg(db));
    return false;
}

static bool version_bump(sqlite3 *db)
{
    sqlite3_stmt *st;
    bool ok;

    if (!prepare(db, sql_version_bump, &st))
        return false;
    sqlite3_bind_text(st, 1, VERSION_KEY, -1, SQLITE_STATIC);
    ok = step_done(db, st);
    sqlite3_finalize(st);
    return ok;
}

/* Text for a message: at most EXCERPT_LEN bytes, control bytes shown as '?'. */
static void excerpt(const char *p, size_t n, char *out, size_t outlen)
{
    size_t i, k = n > EXCERPT_LEN ? EXCERPT_LEN : n;

    for (i = 0; i < k && i + 4 < outlen; i++)
        out[i] = (unsigned char)p[i] < 0x20 || p[i] == 0x7f ? '?' : p[i];
    if (k < n && i + 4 < outlen) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
}

/*
 * List names appear in alerts, URLs and command lines: letters, digits and
 * ._+- only, starting with a letter or digit, at most NAME_MAX_LEN bytes.
 */
static bool name_valid(const char *name, size_t n)
{
    if (n == 0 || n > NAME_MAX_LEN || !(is_alpha(name[0]) || (name[0] >= '0' && name[0] <= '9')))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!(is_alpha(c) || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '+' ||
              c == '-'))
            return false;
    }
    return true;
}

/* The default list name: the file name without its directory and last extension. */
static void name_from_path(const char *path, char *out, size_t outlen)
{
    const char *base = strrchr(path, '/'), *dot;
    size_t n;

    base = base ? base + 1 : path;
    dot = strrchr(base, '.');
    n = dot != NULL && dot != base ? (size_t)(dot - base) : strlen(base);
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, base, n);
    out[n] = '\0';
}

/* ---- intel load ---- */

/* Reads a list file line by line, never holding more than INTEL_MAX_LINE bytes. */
struct reader {
    FILE *f;
    char buf[INTEL_MAX_LINE];
    size_t len;
    unsigned long lineno;
    bool too_long;
};

/* The next line, without its newline; false at the end of the file or on an error. */
static bool read_line(struct reader *r)
{
    size_t n = 0;
    bool any = false;
    int c;

    r->too_long = false;
    while ((c = getc_unlocked(r->f)) != EOF) {
        any = true;
        if (c == '\n')
            break;
        if (n < sizeof(r->buf))
            r->buf[n++] = (char)c;
        else
            r->too_long = true;
    }
    if (!any)
        return false;
    r->len = n;
    r->lineno++;
    /* A UTF-8 byte order mark, as some Windows tools write, is not part of line 1. */
    if (r->lineno == 1 && n >= 3 && memcmp(r->buf, "\xef\xbb\xbf", 3) == 0) {
        memmove(r->buf, r->buf + 3, n - 3);
        r->len = n - 3;
    }
    return true;
}

struct load {
    sqlite3 *db;
    const char *path, *name;
    char source[PATH_MAX];
    struct reader rd;
    size_t entries;     /* counted by the first pass */
    size_t written;     /* inserted by the second */
    bool progress;      /* stderr is a terminal */
    bool progress_open; /* a progress line waits for its newline */
};

/* A message on stderr, after the progress line if one is showing. */
static void say(struct load *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct load *ld, const char *fmt, ...)
{
    va_list ap;

    if (ld->progress_open)
        fputc('\n', stderr);
    ld->progress_open = false;
    fputs("warden intel: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void progress(struct load *ld, bool writing)
{
    if (writing)
        fprintf(stderr, "\rwarden intel: writing %s: %zu of %zu entries", ld->name, ld->written,
                ld->entries);
    else
        fprintf(stderr, "\rwarden intel: reading %s: %lu lines", ld->path, ld->rd.lineno);
    ld->progress_open = true;
}

static int line_error(struct load *ld, const char *why)
{
    char text[EXCERPT_LEN + 8];

    excerpt(ld->rd.buf, ld->rd.len, text, sizeof(text));
    say(ld, "%s:%lu: %s: \"%s\"", ld->path, ld->rd.lineno, why, text);
    return 2;
}

static const char sql_range_insert[] =
    "INSERT INTO intel_ranges (list, first_ip, last_ip, category, source) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";

/* Write one entry with the prepared sql_range_insert (?1, the list, is bound once). */
static bool insert_entry(struct load *ld, sqlite3_stmt *ins, const struct intel_entry *e)
{
    uint8_t first[16], last[16];

    u128_to_bytes(ip_to_u128(&e->first), first);
    u128_to_bytes(ip_to_u128(&e->last), last);
    sqlite3_bind_blob(ins, 2, first, 16, SQLITE_STATIC);
    sqlite3_bind_blob(ins, 3, last, 16, SQLITE_STATIC);
    if (e->category != NULL)
        sqlite3_bind_text(ins, 4, e->category, (int)e->category_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(ins, 4);
    sqlite3_bind_text(ins, 5, e->text, (int)e->text_len, SQLITE_STATIC);
    return step_done(ld->db, ins);
}

/* One entry: counted by the first pass, inserted by the second. Returns an exit status. */
static int load_entry(struct load *ld, sqlite3_stmt *ins, const struct intel_entry *e)
{
    if (ins != NULL) {
        if (ld->written == ld->entries) {
            say(ld, "%s changed while loading", ld->path);
            return 1;
        }
        if (!insert_entry(ld, ins, e))
            return 1;
        ld->written++;
        return 0;
    }
    if (++ld->entries > INTEL_MAX_ENTRIES) {
        say(ld, "%s: more than %d entries, the most a list may hold", ld->path, INTEL_MAX_ENTRIES);
        return 2;
    }
    if (e->prefix == 0)
        say(ld, "%s:%lu: warning: %.*s matches every IPv%d address", ld->path, ld->rd.lineno,
            (int)e->text_len, e->text, e->first.family);
    return 0;
}

static int load_lines(struct load *ld, sqlite3_stmt *ins)
{
    bool seen_content = false, json_entries = false, json_meta = false;
    char why[128];
    int rc;

    ld->rd.lineno = 0;
    while (read_line(&ld->rd)) {
        struct intel_entry e;

        if (ld->progress && ld->rd.lineno % PROGRESS_EVERY == 0)
            progress(ld, ins != NULL);
        if (ld->rd.too_long) {
            snprintf(why, sizeof(why), "line longer than %d bytes", INTEL_MAX_LINE);
            return line_error(ld, why);
        }
        if (!intel_parse_line(ld->rd.buf, ld->rd.len, &e, why, sizeof(why))) {
            /* A CSV header is allowed as the first line that is not blank or a comment. */
            if (!seen_content && intel_line_is_header(ld->rd.buf, ld->rd.len)) {
                seen_content = true;
                continue;
            }
            return line_error(ld, why);
        }
        json_meta = json_meta || (e.json && e.kind == INTEL_LINE_SKIP);
        if (e.kind == INTEL_LINE_SKIP)
            continue;
        json_entries = json_entries || e.json;
        seen_content = true;
        if ((rc = load_entry(ld, ins, &e)) != 0)
            return rc;
    }
    if (ferror(ld->rd.f)) {
        say(ld, "%s: read error", ld->path);
        return 1;
    }
    /* Spamhaus ends its JSON lists with the metadata line: without it, a download was cut. */
    if (ins == NULL && json_entries && !json_meta)
        say(ld, "%s: warning: JSON lines but no metadata line: the file may be cut short",
            ld->path);
    return 0;
}

/*
 * One pass over the file. The first (ins == NULL) checks every line and
 * counts the entries, so a bad line stops the load before anything is
 * written; the second parses again and inserts. Returns an exit status.
 */
static int load_pass(struct load *ld, sqlite3_stmt *ins)
{
    int rc = load_lines(ld, ins);

    if (ld->progress_open)
        fputc('\n', stderr);
    ld->progress_open = false;
    return rc;
}

static const char sql_ranges_delete[] = "DELETE FROM intel_ranges WHERE list = ?1";
static const char sql_list_upsert[] =
    "INSERT INTO intel_lists (name, source, loaded_ms, entries) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (name) DO UPDATE SET source = excluded.source, "
    "loaded_ms = excluded.loaded_ms, entries = excluded.entries";

static bool list_upsert(struct load *ld)
{
    sqlite3_stmt *st;
    bool ok;

    if (!prepare(ld->db, sql_list_upsert, &st))
        return false;
    sqlite3_bind_text(st, 1, ld->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ld->source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, clock_now_ms());
    sqlite3_bind_int64(st, 4, (int64_t)ld->entries);
    ok = step_done(ld->db, st);
    sqlite3_finalize(st);
    return ok;
}

/* Delete the list's old ranges; *old says how many there were. */
static bool ranges_delete(sqlite3 *db, const char *name, int64_t *old)
{
    sqlite3_stmt *st;
    bool ok;

    if (!prepare(db, sql_ranges_delete, &st))
        return false;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    ok = step_done(db, st);
    *old = sqlite3_changes64(db);
    sqlite3_finalize(st);
    return ok;
}

/*
 * The second pass, in one transaction: the old ranges go, the new ones come,
 * and intel_lists and the version change with them, or nothing does.
 */
static int load_write(struct load *ld, int64_t *old)
{
    sqlite3_stmt *ins = NULL;
    int rc = 1;

    if (fseek(ld->rd.f, 0, SEEK_SET) != 0) {
        say(ld, "%s: cannot read it twice (not a regular file?)", ld->path);
        return 1;
    }
    if (!exec_sql(ld->db, "BEGIN IMMEDIATE"))
        return 1;
    if (!ranges_delete(ld->db, ld->name, old) || !prepare(ld->db, sql_range_insert, &ins))
        goto done;
    sqlite3_bind_text(ins, 1, ld->name, -1, SQLITE_STATIC);
    if ((rc = load_pass(ld, ins)) != 0)
        goto done;
    rc = 1;
    if (ld->written != ld->entries) {
        say(ld, "%s changed while loading; nothing loaded", ld->path);
        goto done;
    }
    if (list_upsert(ld) && version_bump(ld->db) && exec_sql(ld->db, "COMMIT"))
        rc = 0;
done:
    sqlite3_finalize(ins);
    if (rc != 0)
        sqlite3_exec(ld->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int load_file(struct load *ld)
{
    int64_t old = 0;
    int rc;

    if (realpath(ld->path, ld->source) == NULL)
        snprintf(ld->source, sizeof(ld->source), "%s", ld->path);
    rc = load_pass(ld, NULL);
    if (rc == 0 && ld->entries == 0) {
        /* An empty download must not silently empty a list that was in use. */
        say(ld, "%s has no entries; nothing loaded (to remove a list: warden intel drop NAME)",
            ld->path);
        rc = 2;
    }
    if (rc == 0)
        rc = load_write(ld, &old);
    if (rc == 0)
        printf("intel: list %s: %zu entries loaded from %s (%lld replaced)\n", ld->name,
               ld->entries, ld->path, (long long)old);
    return rc;
}

static int usage_error(void)
{
    fputs(usage, stderr);
    return 2;
}

static int cmd_load(int argc, char **argv, struct store *s)
{
    struct load ld = {.db = store_sqlite(s)};
    char defname[NAME_MAX_LEN + 2];
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--name") == 0 && i + 1 < argc && ld.name == NULL)
            ld.name = argv[++i];
        else if (argv[i][0] != '-' && ld.path == NULL)
            ld.path = argv[i];
        else
            return usage_error();
    }
    if (ld.path == NULL)
        return usage_error();
    if (ld.name == NULL) {
        name_from_path(ld.path, defname, sizeof(defname));
        ld.name = defname;
    }
    if (!name_valid(ld.name, strlen(ld.name))) {
        fprintf(stderr,
                "warden intel: \"%s\" is not a valid list name (letters, digits, "
                "._+-, at most %d bytes); give one with --name\n",
                ld.name, NAME_MAX_LEN);
        return 2;
    }
    if ((ld.rd.f = fopen(ld.path, "r")) == NULL) {
        fprintf(stderr, "warden intel: cannot open %s: %s\n", ld.path, strerror(errno));
        return 2;
    }
    ld.progress = isatty(STDERR_FILENO);
    rc = load_file(&ld);
    fclose(ld.rd.f);
    return rc;
}

/* ---- intel list ---- */

static const char sql_lists[] =
    "SELECT name, entries, loaded_ms, source FROM intel_lists ORDER BY name";

static int cmd_list(struct store *s)
{
    sqlite3 *db = store_sqlite(s);
    sqlite3_stmt *st;
    int rc;

    if (!prepare(db, sql_lists, &st))
        return 1;
    printf("%-24s %10s  %-24s  %s\n", "NAME", "ENTRIES", "LOADED", "SOURCE");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *source = (const char *)sqlite3_column_text(st, 3);
        char when[40], src[EXCERPT_LEN + 8];

        time_format_iso(sqlite3_column_int64(st, 2), when, sizeof(when));
        source = source ? source : "";
        excerpt(source, strlen(source), src, sizeof(src));
        printf("%-24s %10lld  %-24s  %s\n", name ? name : "",
               (long long)sqlite3_column_int64(st, 1), when, src);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "warden intel: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    return 0;
}

/* ---- intel drop ---- */

static const char sql_list_delete[] = "DELETE FROM intel_lists WHERE name = ?1";

static int cmd_drop(const char *name, struct store *s)
{
    sqlite3 *db = store_sqlite(s);
    sqlite3_stmt *st = NULL;
    int64_t ranges = 0;
    int rc = 1;

    if (!exec_sql(db, "BEGIN IMMEDIATE"))
        return 1;
    if (!prepare(db, sql_list_delete, &st))
        goto done;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (!step_done(db, st))
        goto done;
    if (sqlite3_changes64(db) == 0) {
        fprintf(stderr, "warden intel: no list named \"%s\"\n", name);
        rc = 2;
        goto done;
    }
    if (ranges_delete(db, name, &ranges) && version_bump(db) && exec_sql(db, "COMMIT"))
        rc = 0;
done:
    sqlite3_finalize(st);
    if (rc != 0)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    else
        printf("intel: list %s dropped (%lld entries)\n", name, (long long)ranges);
    return rc;
}

int import_cmd_intel(int argc, char **argv, struct store *s)
{
    if (argc >= 2 && strcmp(argv[1], "load") == 0)
        return cmd_load(argc - 1, argv + 1, s);
    if (argc == 2 && strcmp(argv[1], "list") == 0)
        return cmd_list(s);
    if (argc == 3 && strcmp(argv[1], "drop") == 0)
        return cmd_drop(argv[2], s);
    return usage_error();
}
