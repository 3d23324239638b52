/*
 * ingest/jsonread.c: a JSON reader that decides as Jansson 2.14's json_loadb
 * does, without a tree of allocated values (jsonread.h says why).
 *
 * The lexer and parser follow the structure of Jansson's load.c on purpose:
 * which fault is found first, and where its stream stood, decide the reason
 * a payload is dead-lettered with. Its quirks are kept where they show:
 *   - the first fault wins; a byte that starts a bad UTF-8 sequence is a fault
 *     when read, even as the look-ahead that ends a number;
 *   - a string is scanned to its closing quote before its \u escapes are
 *     paired, so a bad surrogate loses to a later fault in the same string;
 *   - a NUL byte right after a number or literal is skipped (Jansson's stream
 *     forgets a NUL it pushed back), and not counted in its position;
 *   - a syntax fault with nothing read for the token (end of input, a NUL)
 *     is "truncated"; so is one at the very end of the input, unless the
 *     last byte ends a token (the rule of ingest_json_load_reason()).
 * Strings are decoded into a copy of the input's size, each at its own offset
 * (a decoded string is never longer than its text), and NUL-terminated there.
 */
#include "jsonread.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tokens besides the structural characters, which stand for themselves. */
enum {
    TOK_EOF = 0,
    TOK_INVALID = 256,
    TOK_STRING,
    TOK_INTEGER,
    TOK_REAL,
    TOK_TRUE,
    TOK_FALSE,
    TOK_NULL
};

/* What get() returns past the end, and on a bad UTF-8 sequence (a fault). */
#define END (-1)
#define BAD (-2)

/* Members an object may have before its keys go into the hash set. */
#define KEYS_LINEAR 16

/* A key of an object with more than KEYS_LINEAR members, as node indices. */
struct key_slot {
    uint32_t object, key; /* key 0: empty (entry 0 is the root, never a key) */
};

struct reader {
    const uint8_t *buf;
    size_t len;
    size_t pos; /* the next byte to read */
    size_t lag; /* NUL bytes skipped: Jansson's position does not count them */
    char *text; /* decoded strings, each at the offset of its text */
    struct arena *arena;
    struct jsonread_value *v;
    size_t n, cap;
    size_t depth, max_depth;
    struct key_slot *keys; /* open addressing, keys_cap a power of 2 */
    size_t keys_cap, keys_used;
    enum jsonread_err err;
    /* The current token. */
    int token;
    bool blank; /* nothing read for it, or only a NUL (Jansson's empty saved text) */
    bool nul;   /* TOK_STRING: it holds a NUL (\u0000) */
    const char *str;
    int64_t integer;
    double real;
};

/* The first fault wins, as in Jansson. */
static bool fail(struct reader *r, enum jsonread_err err)
{
    if (r->err == JSONREAD_OK)
        r->err = err;
    return false;
}

/*
 * A syntax fault where the stream stands. With nothing read for the token it
 * is Jansson's premature end of input; at the end of the input, it is what
 * ingest_json_load_reason() calls cut short (the same test, to the strchr
 * that finds a last NUL byte in the set).
 */
static bool syntax(struct reader *r)
{
    size_t at = r->pos - r->lag;
    bool cut = r->len > 0 && at >= r->len && strchr("]}:,\"", r->buf[r->len - 1]) == NULL;

    return fail(r, r->blank || cut ? JSONREAD_TRUNCATED : JSONREAD_MALFORMED);
}

/* ---- bytes ---------------------------------------------------------------------- */

/*
 * Length of the UTF-8 sequence at p (n bytes there), 0 when Jansson refuses
 * it: a stray continuation byte, an overlong form, a surrogate, past U+10FFFF,
 * or cut by the end of the input.
 */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
    size_t count;
    uint32_t cp;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        count = 2;
        cp = p[0] & 0x1F;
    } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        count = 3;
        cp = p[0] & 0x0F;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        count = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    if (n < count)
        return 0;
    for (size_t i = 1; i < count; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || (count == 3 && cp < 0x800) ||
        (count == 4 && cp < 0x10000))
        return 0;
    return count;
}

/* The next byte, END at the end; a byte that starts a sequence is checked with it. */
static int get(struct reader *r)
{
    if (r->pos >= r->len)
        return END;
    if (r->buf[r->pos] >= 0x80 && utf8_seq(r->buf + r->pos, r->len - r->pos) == 0) {
        fail(r, JSONREAD_BAD_UTF8);
        return BAD;
    }
    return r->buf[r->pos++];
}

static void unget(struct reader *r, int c)
{
    if (c >= 0)
        r->pos--;
}

/* After a number or literal ended by a NUL byte (pushed back): skip it. */
static void skip_nul(struct reader *r, int c)
{
    if (c == 0) {
        r->pos++;
        r->lag++;
    }
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Four hex digits at p as a code unit, -1 when they are not. */
static int32_t hex4(const uint8_t *p)
{
    int32_t v = 0;

    for (int i = 0; i < 4; i++) {
        int h = hex_digit(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

static size_t utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- tokens --------------------------------------------------------------------- */

/*
 * The next byte of an escape, buf[*i], into *c. Jansson reads it as any byte
 * of its stream: the end of the input is a syntax fault there, and a byte
 * that starts a sequence is read whole, a bad one being a UTF-8 fault and a
 * good one a syntax fault just after its first byte.
 */
static bool escape_byte(struct reader *r, size_t *i, int *c)
{
    if (*i >= r->len) {
        r->pos = r->len;
        return syntax(r);
    }
    if (r->buf[*i] >= 0x80) {
        if (utf8_seq(r->buf + *i, r->len - *i) == 0)
            return fail(r, JSONREAD_BAD_UTF8);
        r->pos = *i + 1;
        return syntax(r);
    }
    *c = r->buf[(*i)++];
    return true;
}

/*
 * The escape after a backslash at buf[*i - 1], decoded to *out. A surrogate
 * that is not half of a pair sets *bad_pair: Jansson finds it only once the
 * whole string has been read, so it is reported at the closing quote.
 */
static bool lex_escape(struct reader *r, size_t *i, char **out, bool *bad_pair)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const uint8_t *buf = r->buf;
    const char *e;
    int c, h;
    int32_t cp = 0;

    if (!escape_byte(r, i, &c))
        return false;
    if (c != 'u') {
        if (c == 0 || (e = strchr(from, c)) == NULL) {
            r->pos = *i;
            return syntax(r);
        }
        *(*out)++ = to[e - from];
        return true;
    }
    for (int k = 0; k < 4; k++) {
        if (!escape_byte(r, i, &c))
            return false;
        if ((h = hex_digit(c)) < 0) {
            r->pos = *i;
            return syntax(r);
        }
        cp = cp * 16 + h;
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        int32_t lo =
            *i + 6 <= r->len && buf[*i] == '\\' && buf[*i + 1] == 'u' ? hex4(buf + *i + 2) : -1;
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            *i += 6;
        } else {
            *bad_pair = true;
            return true;
        }
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        *bad_pair = true;
        return true;
    }
    if (cp == 0)
        r->nul = true;
    *out += utf8_encode((uint32_t)cp, *out);
    return true;
}

/* A byte of a string that stands for itself: printable ASCII but '"' and '\\'. */
static bool is_plain(uint8_t c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/*
 * True when the eight bytes at p are all plain. Each test sets the high bit
 * of a byte that fails it (x - 0x01.. & ~x flags a zero byte): below 0x20,
 * '"', '\\', or a high bit of its own.
 */
static bool plain8(const uint8_t *p)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t x, quote, slash, flags;

    memcpy(&x, p, 8);
    quote = x ^ (ones * '"');
    slash = x ^ (ones * '\\');
    flags = ((x - ones * 0x20) & ~x) | ((quote - ones) & ~quote) | ((slash - ones) & ~slash) | x;
    return (flags & highs) == 0;
}

/* A string; the opening quote is read. */
static bool lex_string(struct reader *r)
{
    const uint8_t *buf = r->buf;
    size_t i = r->pos, len = r->len;
    char *out = r->text + i;
    bool bad_pair = false;

    r->token = TOK_INVALID;
    r->nul = false;
    r->str = out;
    for (;;) {
        size_t run = i, n;

        while (i + 8 <= len && plain8(buf + i))
            i += 8;
        while (i < len && is_plain(buf[i]))
            i++;
        memcpy(out, buf + run, i - run);
        out += i - run;
        if (i >= len) {
            r->pos = len;
            return fail(r, JSONREAD_TRUNCATED);
        }
        if (buf[i] == '"')
            break;
        if (buf[i] >= 0x80) {
            if ((n = utf8_seq(buf + i, len - i)) == 0)
                return fail(r, JSONREAD_BAD_UTF8);
            memcpy(out, buf + i, n);
            out += n;
            i += n;
        } else if (buf[i] < 0x20) { /* a control character: Jansson pushes it back */
            r->pos = i;
            return syntax(r);
        } else {
            i++;
            if (!lex_escape(r, &i, &out, &bad_pair))
                return false;
        }
    }
    r->pos = i + 1;
    if (bad_pair)
        return syntax(r);
    *out = '\0';
    r->token = TOK_STRING;
    return true;
}

/* The n bytes at p, digits after an optional '-', as strtoll reads them; false out of range. */
static bool to_integer(const uint8_t *p, size_t n, int64_t *out)
{
    bool neg = p[0] == '-';
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

    for (size_t i = neg; i < n; i++) {
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/*
 * A number; its first character (c, '-' or a digit) is read. A number that
 * does not end well is TOK_INVALID with no fault of its own, as in Jansson:
 * the parser reports where it stands.
 */
static bool lex_number(struct reader *r, int c)
{
    size_t start = r->pos - 1;

    r->token = TOK_INVALID;
    if (c == '-')
        c = get(r);
    if (c == '0') {
        c = get(r);
        if (is_digit(c)) {
            unget(r, c);
            return r->err == JSONREAD_OK;
        }
    } else if (is_digit(c)) {
        do
            c = get(r);
        while (is_digit(c));
    } else {
        unget(r, c);
        return r->err == JSONREAD_OK;
    }
    if (c != '.' && c != 'e' && c != 'E') {
        unget(r, c);
        if (r->err != JSONREAD_OK)
            return false;
        if (!to_integer(r->buf + start, r->pos - start, &r->integer))
            return fail(r, JSONREAD_NUMBER_RANGE);
        r->token = TOK_INTEGER;
        skip_nul(r, c);
        return true;
    }
    if (c == '.') {
        c = get(r);
        if (!is_digit(c)) {
            unget(r, c);
            return r->err == JSONREAD_OK;
        }
        do
            c = get(r);
        while (is_digit(c));
    }
    if (c == 'e' || c == 'E') {
        c = get(r);
        if (c == '+' || c == '-')
            c = get(r);
        if (!is_digit(c)) {
            unget(r, c);
            return r->err == JSONREAD_OK;
        }
        do
            c = get(r);
        while (is_digit(c));
    }
    unget(r, c);
    if (r->err != JSONREAD_OK)
        return false;
    /* strtod needs a NUL after the text: the copy has room, nothing decoded lives there. */
    memcpy(r->text + start, r->buf + start, r->pos - start);
    r->text[r->pos] = '\0';
    errno = 0;
    r->real = strtod(r->text + start, NULL);
    if ((r->real == HUGE_VAL || r->real == -HUGE_VAL) && errno == ERANGE)
        return fail(r, JSONREAD_NUMBER_RANGE);
    r->token = TOK_REAL;
    skip_nul(r, c);
    return true;
}

/* A word: true, false, null, or an invalid token; its first letter is read. */
static bool lex_word(struct reader *r)
{
    size_t start = r->pos - 1, n;
    const char *w = (const char *)r->buf + start;
    int c;

    do
        c = get(r);
    while (is_alpha(c));
    unget(r, c);
    if (r->err != JSONREAD_OK)
        return false;
    n = r->pos - start;
    if (n == 4 && memcmp(w, "true", 4) == 0)
        r->token = TOK_TRUE;
    else if (n == 5 && memcmp(w, "false", 5) == 0)
        r->token = TOK_FALSE;
    else if (n == 4 && memcmp(w, "null", 4) == 0)
        r->token = TOK_NULL;
    else
        r->token = TOK_INVALID;
    if (r->token != TOK_INVALID)
        skip_nul(r, c);
    return true;
}

/* The next token into r->token; false on a fault. */
static bool lex(struct reader *r)
{
    const uint8_t *buf = r->buf;
    size_t i = r->pos, n;
    int c;

    while (i < r->len && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\t' || buf[i] == '\r'))
        i++;
    r->pos = i;
    r->blank = false;
    if (i >= r->len) {
        r->token = TOK_EOF;
        r->blank = true;
        return true;
    }
    c = buf[i];
    r->pos = i + 1;
    switch (c) {
    case '{':
    case '}':
    case '[':
    case ']':
    case ':':
    case ',':
        r->token = c;
        return true;
    case '"':
        return lex_string(r);
    case '-':
        return lex_number(r, c);
    default:
        break;
    }
    if (is_digit(c))
        return lex_number(r, c);
    if (is_alpha(c))
        return lex_word(r);
    if (c >= 0x80) { /* read whole, as the stream does */
        if ((n = utf8_seq(buf + i, r->len - i)) == 0)
            return fail(r, JSONREAD_BAD_UTF8);
        r->pos = i + n;
    }
    r->blank = c == 0;
    r->token = TOK_INVALID;
    return true;
}

/* ---- values --------------------------------------------------------------------- */

static struct jsonread_value *push(struct reader *r, enum jsonread_type type)
{
    struct jsonread_value *v;

    if (r->n == r->cap) {
        size_t cap = r->cap * 2;
        struct jsonread_value *grown;

        if (cap > UINT32_MAX || cap > SIZE_MAX / sizeof(*grown) ||
            (grown = arena_alloc(r->arena, cap * sizeof(*grown))) == NULL) {
            fail(r, JSONREAD_NO_MEMORY);
            return NULL;
        }
        memcpy(grown, r->v, r->n * sizeof(*grown));
        r->v = grown;
        r->cap = cap;
    }
    v = &r->v[r->n++];
    v->type = (uint8_t)type;
    v->skip = 1;
    return v;
}

static bool push_string(struct reader *r)
{
    struct jsonread_value *v = push(r, JSONREAD_STRING);

    if (v == NULL)
        return false;
    v->u.str = r->str;
    return true;
}

static uint64_t key_hash(uint32_t object, const char *key)
{
    return hash_bytes(hash_bytes(HASH_SEED, &object, sizeof(object)), key, strlen(key));
}

/* The slot of (object, key): where it is, or the empty one where it would go. */
static struct key_slot *key_find(struct reader *r, uint32_t object, const char *key)
{
    size_t mask = r->keys_cap - 1, i = (size_t)key_hash(object, key) & mask;

    while (r->keys[i].key != 0 &&
           (r->keys[i].object != object || strcmp(r->v[r->keys[i].key].u.str, key) != 0))
        i = (i + 1) & mask;
    return &r->keys[i];
}

/* Add key (a node index) of object to the hash set, which it is not in yet. */
static bool key_add(struct reader *r, uint32_t object, uint32_t key)
{
    if (2 * (r->keys_used + 1) > r->keys_cap) {
        struct key_slot *old = r->keys;
        size_t old_cap = r->keys_cap, cap = old_cap > 0 ? 2 * old_cap : 64;

        if (cap > SIZE_MAX / sizeof(*old) ||
            (r->keys = arena_alloc(r->arena, cap * sizeof(*old))) == NULL)
            return fail(r, JSONREAD_NO_MEMORY);
        r->keys_cap = cap;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].key != 0)
                *key_find(r, old[i].object, r->v[old[i].key].u.str) = old[i];
    }
    *key_find(r, object, r->v[key].u.str) = (struct key_slot){object, key};
    r->keys_used++;
    return true;
}

/*
 * True when the object at index object, with count members so far, already
 * has key. Small objects are searched; a large one has its keys hashed, so a
 * hostile object of many keys costs linear time.
 */
static bool duplicate(struct reader *r, size_t object, size_t count, const char *key)
{
    size_t k = object + 1;

    if (count < KEYS_LINEAR) {
        for (size_t i = 0; i < count; i++, k += 1 + r->v[k + 1].skip)
            if (r->v[k].u.str[0] == key[0] && strcmp(r->v[k].u.str, key) == 0)
                return true;
        return false;
    }
    if (count == KEYS_LINEAR) {
        for (size_t i = 0; i < count; i++, k += 1 + r->v[k + 1].skip)
            if (!key_add(r, (uint32_t)object, (uint32_t)k))
                return false;
    }
    return key_find(r, (uint32_t)object, key)->key != 0;
}

static bool parse_value(struct reader *r);

/* An object; '{' was the token. Keys are checked in Jansson's order. */
static bool parse_object(struct reader *r)
{
    size_t at = r->n, count = 0;

    if (push(r, JSONREAD_OBJECT) == NULL || !lex(r))
        return false;
    if (r->token != '}') {
        for (;;) {
            if (r->token != TOK_STRING)
                return syntax(r);
            if (r->nul)
                return fail(r, JSONREAD_NUL);
            if (duplicate(r, at, count, r->str))
                return fail(r, JSONREAD_DUPLICATE_KEY);
            if (r->err != JSONREAD_OK || !push_string(r))
                return false;
            if (count >= KEYS_LINEAR && !key_add(r, (uint32_t)at, (uint32_t)(r->n - 1)))
                return false;
            if (!lex(r))
                return false;
            if (r->token != ':')
                return syntax(r);
            if (!lex(r) || !parse_value(r) || !lex(r))
                return false;
            count++;
            if (r->token != ',')
                break;
            if (!lex(r))
                return false;
        }
        if (r->token != '}')
            return syntax(r);
    }
    r->v[at].u.count = count;
    r->v[at].skip = (uint32_t)(r->n - at);
    return true;
}

/* An array; '[' was the token. */
static bool parse_array(struct reader *r)
{
    size_t at = r->n, count = 0;

    if (push(r, JSONREAD_ARRAY) == NULL || !lex(r))
        return false;
    if (r->token != ']') {
        while (r->token != TOK_EOF) {
            if (!parse_value(r) || !lex(r))
                return false;
            count++;
            if (r->token != ',')
                break;
            if (!lex(r))
                return false;
        }
        if (r->token != ']')
            return syntax(r);
    }
    r->v[at].u.count = count;
    r->v[at].skip = (uint32_t)(r->n - at);
    return true;
}

/* The value that starts with the current token. */
static bool parse_value(struct reader *r)
{
    struct jsonread_value *v;
    bool ok;

    switch (r->token) {
    case TOK_STRING:
        if (r->nul)
            return fail(r, JSONREAD_NUL);
        return push_string(r);
    case TOK_INTEGER:
        if ((v = push(r, JSONREAD_INTEGER)) != NULL)
            v->u.integer = r->integer;
        return v != NULL;
    case TOK_REAL:
        if ((v = push(r, JSONREAD_REAL)) != NULL)
            v->u.real = r->real;
        return v != NULL;
    case TOK_TRUE:
        return push(r, JSONREAD_TRUE) != NULL;
    case TOK_FALSE:
        return push(r, JSONREAD_FALSE) != NULL;
    case TOK_NULL:
        return push(r, JSONREAD_NULL) != NULL;
    case '{':
    case '[':
        if (r->depth >= r->max_depth)
            return fail(r, JSONREAD_TOO_DEEP);
        r->depth++;
        ok = r->token == '{' ? parse_object(r) : parse_array(r);
        r->depth--;
        return ok;
    default: /* an invalid or unexpected token, or the end */
        return syntax(r);
    }
}

enum jsonread_err jsonread_parse(const uint8_t *buf, size_t len, size_t max_depth,
                                 struct arena *arena, const struct jsonread_value **root)
{
    struct reader r = {.buf = buf, .len = len, .arena = arena, .max_depth = max_depth};

    *root = NULL;
    /* A value takes at least two bytes of text but the last; messages take ten or more. */
    r.cap = len / 12 + 16;
    if (len >= UINT32_MAX || (r.text = arena_alloc(arena, len + 1)) == NULL ||
        (r.v = arena_alloc(arena, r.cap * sizeof(*r.v))) == NULL)
        return JSONREAD_NO_MEMORY;
    if (lex(&r) && parse_value(&r) && lex(&r) && r.token != TOK_EOF)
        fail(&r, JSONREAD_TRAILING);
    if (r.err == JSONREAD_OK)
        *root = r.v;
    return r.err;
}

const char *jsonread_reason(enum jsonread_err err)
{
    switch (err) {
    case JSONREAD_OK:
        return "ok";
    case JSONREAD_MALFORMED:
        return "malformed";
    case JSONREAD_TRUNCATED:
        return "truncated";
    case JSONREAD_TRAILING:
        return "trailing data";
    case JSONREAD_DUPLICATE_KEY:
        return "duplicate key";
    case JSONREAD_NUMBER_RANGE:
        return "number out of range";
    case JSONREAD_NUL:
        return "NUL in string";
    case JSONREAD_BAD_UTF8:
        return "invalid UTF-8";
    case JSONREAD_TOO_DEEP:
        return "too deep";
    case JSONREAD_NO_MEMORY:
        return "out of memory";
    }
    return "malformed";
}

/* ---- reading values ---------------------------------------------------------------- */

const struct jsonread_value *jsonread_get(const struct jsonread_value *obj, const char *key)
{
    const struct jsonread_value *k;

    if (obj == NULL || obj->type != JSONREAD_OBJECT)
        return NULL;
    k = obj + 1;
    for (size_t i = 0; i < obj->u.count; i++, k += 1 + k[1].skip)
        if (k->u.str[0] == key[0] && strcmp(k->u.str, key) == 0)
            return k + 1;
    return NULL;
}

size_t jsonread_count(const struct jsonread_value *v)
{
    return v != NULL && (v->type == JSONREAD_ARRAY || v->type == JSONREAD_OBJECT) ? v->u.count : 0;
}

/* ---- writing values ---------------------------------------------------------------- */

/* Append s[0..n) at out + at (out NULL: count only); the new length. */
static size_t put(char *out, size_t at, const char *s, size_t n)
{
    if (out != NULL)
        memcpy(out + at, s, n);
    return at + n;
}

size_t jsonread_quote(const char *s, char *out)
{
    size_t at = put(out, 0, "\"", 1);

    for (;;) {
        size_t run =
            strcspn(s, "\"\\\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e"
                       "\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f");
        char esc[8];

        at = put(out, at, s, run);
        s += run;
        if (*s == '\0')
            break;
        switch (*s) {
        case '"':
        case '\\':
            esc[0] = '\\';
            esc[1] = *s;
            at = put(out, at, esc, 2);
            break;
        case '\b':
            at = put(out, at, "\\b", 2);
            break;
        case '\f':
            at = put(out, at, "\\f", 2);
            break;
        case '\n':
            at = put(out, at, "\\n", 2);
            break;
        case '\r':
            at = put(out, at, "\\r", 2);
            break;
        case '\t':
            at = put(out, at, "\\t", 2);
            break;
        default:
            snprintf(esc, sizeof(esc), "\\u%04X", (unsigned)(unsigned char)*s);
            at = put(out, at, esc, 6);
            break;
        }
        s++;
    }
    return put(out, at, "\"", 1);
}

/*
 * A real as Jansson writes it (its jsonp_dtostr without dtoa): %.17g, ".0"
 * added when that reads as an integer, the exponent without '+' or leading
 * zeros. The C locale is assumed: Warden never calls setlocale().
 */
static size_t format_real(double d, char b[32])
{
    size_t n = (size_t)snprintf(b, 32, "%.17g", d);
    char *e, *start, *end;

    if (strchr(b, '.') == NULL && strchr(b, 'e') == NULL) {
        memcpy(b + n, ".0", 3);
        n += 2;
    }
    if ((e = strchr(b, 'e')) != NULL) {
        start = e + 1;
        end = start + 1;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, n - (size_t)(end - b) + 1);
            n -= (size_t)(end - start);
        }
    }
    return n;
}

/* v's compact text at out + at (out NULL: count only); the new length. */
static size_t dump(const struct jsonread_value *v, char *out, size_t at)
{
    const struct jsonread_value *item;
    char b[32];

    switch ((enum jsonread_type)v->type) {
    case JSONREAD_NULL:
        return put(out, at, "null", 4);
    case JSONREAD_FALSE:
        return put(out, at, "false", 5);
    case JSONREAD_TRUE:
        return put(out, at, "true", 4);
    case JSONREAD_INTEGER:
        return put(out, at, b, (size_t)snprintf(b, sizeof(b), "%lld", (long long)v->u.integer));
    case JSONREAD_REAL:
        return put(out, at, b, format_real(v->u.real, b));
    case JSONREAD_STRING:
        return at + jsonread_quote(v->u.str, out != NULL ? out + at : NULL);
    case JSONREAD_ARRAY:
        at = put(out, at, "[", 1);
        item = v + 1;
        for (size_t i = 0; i < v->u.count; i++, item += item->skip) {
            if (i > 0)
                at = put(out, at, ",", 1);
            at = dump(item, out, at);
        }
        return put(out, at, "]", 1);
    case JSONREAD_OBJECT:
        at = put(out, at, "{", 1);
        item = v + 1;
        for (size_t i = 0; i < v->u.count; i++, item += 1 + item[1].skip) {
            if (i > 0)
                at = put(out, at, ",", 1);
            at = dump(item, out, at);
            at = put(out, at, ":", 1);
            at = dump(item + 1, out, at);
        }
        return put(out, at, "}", 1);
    }
    return at;
}

const char *jsonread_dump(const struct jsonread_value *v, struct arena *arena)
{
    size_t n = dump(v, NULL, 0);
    char *p = arena_alloc(arena, n + 1);

    if (p == NULL)
        return NULL;
    dump(v, p, 0);
    p[n] = '\0';
    return p;
}
