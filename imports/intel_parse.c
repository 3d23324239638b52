/*
 * imports/intel_parse.c: one line of a threat-intelligence list (SPEC 4.4),
 * as intel.h describes it: the text formats (FireHOL .netset, Spamhaus DROP,
 * plain lists and CSV) and the flat JSON objects of Spamhaus' drop_v4.json
 * and drop_v6.json, read in place so that the address and the category stay
 * spans of the line. The line is the user's file, so every read is bounded
 * by its length and nothing in it is trusted.
 *
 * The lowest floor of the lists: it calls common/ and the inline helpers of
 * intelpriv.h, nothing else of imports/. The loader (intel.c) and the fuzz
 * target call it.
 */
#include "intelpriv.h"

#include <string.h>

/* ---- parsing one line --------------------------------------------------------- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
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
