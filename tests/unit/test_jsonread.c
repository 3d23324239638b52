/*
 * Unit tests of the JSON reader (ingest/jsonread.c), most of them
 * differential: Jansson and the reader must make the same of every input,
 * the same value (compared as compact JSON text, jsonread_dump against
 * json_dumps) or the same dead-letter reason (jsonread_diff.h). The inputs
 * are hand-written cases for each of Jansson's rules and quirks, the JSON
 * fixtures and fuzz seeds, every truncation of them, and seeded random
 * mutations of all of these. Run from the repository root.
 */
#include "check.h"
#include "jsonread_diff.h"

#include <dirent.h>

/* The case table keeps several cases a line, a comment above each group. */
/* clang-format off */
#define CASE(lit) {lit, sizeof(lit) - 1}

struct input {
    const char *s;
    size_t len; /* the literals hold NUL bytes */
};

/* One case per rule: each line is a rule Jansson has and the reader must keep. */
static const struct input edge_cases[] = {
    /* structure */
    CASE(""), CASE(" "), CASE("\n\t\r "), CASE("{}"), CASE("[]"), CASE(" { } "), CASE("{}x"),
    CASE("{} {}"), CASE("{}}"), CASE("[1,]"), CASE("[,1]"), CASE("{,}"), CASE("{\"a\"}"),
    CASE("{\"a\":}"), CASE("{\"a\" 1}"), CASE("{\"a\":1,}"), CASE("{1:2}"), CASE("[1 2]"),
    CASE("[1:2]"), CASE("]"), CASE("}"), CASE(":"), CASE(","), CASE("{\"a\":1]"), CASE("[1}"),
    CASE("[[[]]]"), CASE("{\"a\":{\"b\":[1,{\"c\":null}]}}"), CASE("'a'"), CASE("+1"),
    CASE("{\"a\":1 \"b\":2}"), CASE("[\"a\" \"b\"]"),
    /* literals */
    CASE("true"), CASE("false"), CASE("null"), CASE("tru"), CASE("truex"), CASE("True"),
    CASE("nul"), CASE("nullx"), CASE("[true1]"), CASE("[truefalse]"), CASE("[t"), CASE("[n]"),
    /* numbers */
    CASE("0"), CASE("-0"), CASE("-"), CASE("01"), CASE("-01"), CASE("1."), CASE("1.e5"),
    CASE(".5"), CASE("1e"), CASE("1e+"), CASE("1e-"), CASE("1E5"), CASE("1e5"), CASE("1.5e-5"),
    CASE("9223372036854775807"), CASE("9223372036854775808"), CASE("-9223372036854775808"),
    CASE("-9223372036854775809"), CASE("99999999999999999999999"), CASE("1e308"), CASE("1e309"),
    CASE("-1e309"), CASE("1e-400"), CASE("0.1"), CASE("1e22"), CASE("5e-324"), CASE("[1.0]"),
    CASE("[100.0]"), CASE("[-0.0]"), CASE("0x10"), CASE("1.5.5"), CASE("[1e5x]"), CASE("[1.5e]"),
    CASE("1ee"), CASE("[0.0000001]"), CASE("[1e-7]"), CASE("[123.456e78]"), CASE("[1E+2]"),
    CASE("[1e+05]"), CASE("[123456789.123456789]"), CASE("[-]"), CASE("[-a]"), CASE("[1.a]"),
    CASE("[1ea]"), CASE("[1e+a]"), CASE("[00]"), CASE("[2.5e-310]"), CASE("[1e2.5]"),
    /* strings and escapes */
    CASE("\"\""), CASE("\"abc"), CASE("\"a\\"), CASE("\"a\\q\""), CASE("\"\\q"), CASE("\"\\]"),
    CASE("\"\\u\""), CASE("\"\\u12\""), CASE("\"\\u12"), CASE("\"\\u12G4\""), CASE("\"\\u00e9\""),
    CASE("\"\\u00E9\\u20ac\""), CASE("\"\\uD83D\\uDE00\""), CASE("\"\\uD83D\""), CASE("\"\\uDE00\""),
    CASE("\"\\uD83Dx\""), CASE("\"\\uD83D\\u0041\""), CASE("\"\\uD83D\\uD83D\\uDE00\""),
    CASE("\"\\uD83D\\u12G4\""), CASE("\"\\uD83D\\q\""), CASE("\"\\uDE00\\q\""), CASE("\"\\uDE00"),
    CASE("\"\\uD83D\\uDE00"), CASE("\"\\uD83D\\u"), CASE("\"\\uDBFF\\uDFFF\""),
    CASE("\"\\u0000\""), CASE("[\"\\u0000\"]"), CASE("{\"\\u0000\":1}"), CASE("{\"a\\u0000b\":1}"),
    CASE("[\"a\\u0000\" x]"), CASE("{} \"\\u0000\""), CASE("{} \"\\udc00\""),
    CASE("\"\\/\\b\\f\\n\\r\\t\\\"\\\\\""), CASE("\"tab\there\""), CASE("\"nl\nhere\""),
    CASE("\"\x7f\""), CASE("\"\\u001f\\u007f\\u2028\\u0001\""), CASE("\"\x01\""), CASE("\"\\\n\""),
    CASE("\"\\"), CASE("[\"\\\"]"), CASE("\"a\\\"b\""), CASE("{\"k\\\"\":\"v\\\\\"}"),
    /* UTF-8 */
    CASE("\"\xc3\xa9\""), CASE("\"\xc3\""), CASE("\"\xc3"), CASE("\"\xe2\x82\xac\""),
    CASE("\"\xe2\x82\""), CASE("\"\xf0\x9f\x98\x80\""), CASE("\"\xf4\x90\x80\x80\""),
    CASE("\"\xed\xa0\x80\""), CASE("\"\xc0\xaf\""), CASE("\"\xe0\x80\xaf\""),
    CASE("\"\xf0\x80\x80\xaf\""), CASE("\"\xff\""), CASE("\"\x80\""), CASE("\xc3\xa9"),
    CASE("[\xc3\xa9]"), CASE("[1\xc3\xa9]"), CASE("[1\xff]"), CASE("[true\xff]"), CASE("\xff"),
    CASE("{\"a\":1}\xff"), CASE("{\"a\":1}\xc3\xa9"), CASE("\"\\\xc3\xa9\""), CASE("\"\\\xff\""),
    CASE("\"\\u12\xc3\xa9\""), CASE("\"\\u12\xff\""), CASE("[1e\xc3\xa9]"), CASE("[-\xff]"),
    CASE("[1.\xff]"), CASE("[\"a\"\xff]"), CASE("99999999999999999999\xff"), CASE("1e999\xff"),
    CASE("[tru\xc3\xa9]"), CASE("{\"\xc3\xa9\":\"\xe2\x82\xac\"}"), CASE("[\xc3\xa9"),
    CASE("\"\xe2\x82\xac"), CASE("[\xe2\x82"), CASE("\"\\uD83D\xff\""),
    /* NUL bytes, pushed back or not */
    CASE("[1\0]"), CASE("true\0"), CASE("[\0]"), CASE("{\"a\":\0}"), CASE("[1\0x"), CASE("[1,2x"),
    CASE("[1\0\0]"), CASE("[true\0,false\0]"), CASE("[1\0"), CASE("\0"), CASE("{}\0"),
    CASE("[\"a\0\"]"), CASE("{\"a\0\":1}"), CASE("1.\0"), CASE("1e\0"), CASE("-\0"),
    CASE("[tru\0e]"), CASE("{1\0:2}"), CASE("[1\0 ]"), CASE("[1\0\xff]"), CASE("[1\0\xc3\xa9]"),
    CASE("[1.5\0]"), CASE("[null\0x"), CASE("[1\0,2\0,3\0x"), CASE("[1\0,2\0,3\0"),
    CASE("{\"a\":1\0}"), CASE("{\"a\":1\0"), CASE("0\0"), CASE("[0\0]"), CASE("[\"x\"\0]"),
    /* duplicate keys */
    CASE("{\"a\":1,\"a\":2}"), CASE("{\"a\":1,\"b\":{\"a\":1},\"a\":3}"), CASE("{\"a\":1,\"a\""),
    CASE("{\"a\":1,\"a\":x}"), CASE("{\"a\":1,\"\\u0061\":2}"), CASE("{\"a\":1,\"a\" x}"),
    CASE("{\"\":1,\"\":2}"), CASE("[{\"a\":1},{\"a\":1}]"), CASE("{\"ab\":1,\"a\":2,\"abc\":3}"),
    /* the ends a truncation leaves */
    CASE("[1,"), CASE("[\"a\","), CASE("{\"a\":"), CASE("{\"a\""), CASE("[\""), CASE("[\"\\"),
    CASE("[1e"), CASE("{\"a\":tr"), CASE("[\"\\u00"), CASE("{\"a\":1"), CASE("[{"),
};
/* clang-format on */

static struct arena arena;

static const struct jsonread_value *parse(const char *text)
{
    const struct jsonread_value *root;

    arena_free(&arena);
    arena_init(&arena, 1 << 20);
    CHECK_INT(
        jsonread_parse((const uint8_t *)text, strlen(text), INGEST_JSON_MAX_DEPTH, &arena, &root),
        JSONREAD_OK);
    return root;
}

/* ---- inputs --------------------------------------------------------------------- */

/* A growing list of inputs, each malloc'd. */
struct inputs {
    uint8_t **buf;
    size_t *len;
    size_t n, cap;
};

static void add(struct inputs *in, const void *buf, size_t len)
{
    if (in->n == in->cap) {
        in->cap = in->cap ? 2 * in->cap : 1024;
        in->buf = realloc(in->buf, in->cap * sizeof(*in->buf));
        in->len = realloc(in->len, in->cap * sizeof(*in->len));
        WARDEN_ASSERT(in->buf != NULL && in->len != NULL);
    }
    in->buf[in->n] = malloc(len + 1);
    WARDEN_ASSERT(in->buf[in->n] != NULL);
    memcpy(in->buf[in->n], buf, len);
    in->len[in->n++] = len;
}

static void free_inputs(struct inputs *in)
{
    for (size_t i = 0; i < in->n; i++)
        free(in->buf[i]);
    free(in->buf);
    free(in->len);
}

/* Every file of dir (relative to the repository root). */
static size_t add_dir(struct inputs *in, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t added = 0;

    if (d == NULL) {
        fprintf(stderr, "cannot open %s (run from the repository root)\n", dir);
        exit(2);
    }
    while ((e = readdir(d)) != NULL) {
        char path[512];
        size_t len;
        char *buf;

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        buf = slurp(path, &len);
        add(in, buf, len);
        free(buf);
        added++;
    }
    closedir(d);
    return added;
}

/* Payloads that exercise what the sizes change: deep nesting, many keys. */
static void add_generated(struct inputs *in)
{
    char buf[4096];
    size_t n;

    for (int depth = 30; depth <= 34; depth++) {
        /* nested arrays, whole; then with a fault before the depth and after it */
        memset(buf, '[', (size_t)depth);
        memset(buf + depth, ']', (size_t)depth);
        add(in, buf, 2 * (size_t)depth);
        buf[1] = 'x';
        add(in, buf, 2 * (size_t)depth);
        buf[1] = '[';
        buf[2 * depth - 1] = '}';
        add(in, buf, 2 * (size_t)depth);
        add(in, buf, (size_t)depth);
    }
    /* objects of 40 keys, some with one key twice (the reader hashes past 16) */
    for (int dup_at = -1; dup_at < 40; dup_at++) {
        n = (size_t)snprintf(buf, sizeof(buf), "{");
        for (int i = 0; i < 40; i++)
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"k%d\":{\"k%d\":%d}", i ? "," : "",
                                  i == dup_at ? 3 : i, i, i);
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "}");
        add(in, buf, n);
    }
    /* an array of objects that all have the same 20 keys: none is a duplicate */
    n = (size_t)snprintf(buf, sizeof(buf), "[");
    for (int o = 0; o < 5; o++) {
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s{", o ? "," : "");
        for (int i = 0; i < 20; i++)
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"k%d\":%d", i ? "," : "", i, i);
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "}");
    }
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "]");
    add(in, buf, n);
}

/* xorshift64*: the same mutations on every run. */
static uint64_t rnd_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
    rnd_state ^= rnd_state >> 12;
    rnd_state ^= rnd_state << 25;
    rnd_state ^= rnd_state >> 27;
    return rnd_state * 2685821657736338717ULL;
}

/* buf[0..len) with one to four random edits, into out (room for len + 64); the new length. */
static size_t mutate(const uint8_t *buf, size_t len, uint8_t *out)
{
    static const uint8_t bytes[] = {0,    '"',  '\\', '[',  ']',  '{',  '}',  ',',  ':',
                                    'u',  '0',  '9',  '-',  'e',  '.',  'D',  '8',  'n',
                                    't',  ' ',  '\n', 0x01, 0x7f, 0x80, 0xbf, 0xc3, 0xa9,
                                    0xe2, 0xed, 0xf0, 0xf4, 0xff, 'x',  'a'};
    int edits = 1 + (int)(rnd() % 4);

    memcpy(out, buf, len);
    for (int e = 0; e < edits; e++) {
        size_t at = len > 0 ? (size_t)(rnd() % len) : 0;
        uint8_t b = bytes[rnd() % sizeof(bytes)];

        switch (rnd() % 5) {
        case 0: /* replace */
            if (len > 0)
                out[at] = b;
            break;
        case 1: /* insert */
            memmove(out + at + 1, out + at, len - at);
            out[at] = b;
            len++;
            break;
        case 2: /* delete */
            if (len > 0) {
                memmove(out + at, out + at + 1, len - at - 1);
                len--;
            }
            break;
        case 3: /* truncate */
            len = at;
            break;
        default: /* flip a bit */
            if (len > 0)
                out[at] ^= (uint8_t)(1u << (rnd() % 8));
            break;
        }
    }
    return len;
}

/* ---- differential tests ------------------------------------------------------------ */

static void jsonread_agrees_with_jansson_on_edge_cases(void)
{
    for (size_t i = 0; i < sizeof(edge_cases) / sizeof(edge_cases[0]); i++)
        CHECK(outcomes_agree((const uint8_t *)edge_cases[i].s, edge_cases[i].len));
}

static void jsonread_agrees_with_jansson_on_deep_and_wide_payloads(void)
{
    struct inputs in = {0};

    add_generated(&in);
    for (size_t i = 0; i < in.n; i++)
        CHECK(outcomes_agree(in.buf[i], in.len[i]));
    free_inputs(&in);
}

static void jsonread_agrees_with_jansson_on_fixtures_and_seeds(void)
{
    struct inputs in = {0};

    CHECK(add_dir(&in, "tests/fixtures/json") >= 5);
    CHECK(add_dir(&in, "tests/fuzz/corpus/json") >= 100);
    CHECK(add_dir(&in, "tests/fuzz/corpus/hubrec") >= 100);
    for (size_t i = 0; i < in.n; i++)
        CHECK(outcomes_agree(in.buf[i], in.len[i]));
    free_inputs(&in);
}

/* Every prefix of every fixture: the truncated and the cut-short rules. */
static void jsonread_agrees_with_jansson_on_every_truncation(void)
{
    struct inputs in = {0};
    size_t cases = 0;

    add_dir(&in, "tests/fixtures/json");
    for (size_t i = 0; i < in.n; i++)
        for (size_t n = 0; n <= in.len[i]; n++, cases++)
            CHECK(outcomes_agree(in.buf[i], n));
    CHECK(cases > 5000);
    free_inputs(&in);
}

static void jsonread_agrees_with_jansson_on_100000_mutations(void)
{
    struct inputs in = {0};
    uint8_t *out = NULL;
    size_t cap = 0, failed = 0;

    for (size_t i = 0; i < sizeof(edge_cases) / sizeof(edge_cases[0]); i++)
        add(&in, edge_cases[i].s, edge_cases[i].len);
    add_generated(&in);
    add_dir(&in, "tests/fixtures/json");
    add_dir(&in, "tests/fuzz/corpus/json");
    for (int k = 0; k < 100000; k++) {
        size_t i = (size_t)(rnd() % in.n), n;

        if (cap < in.len[i] + 64) {
            cap = in.len[i] + 64;
            out = realloc(out, cap);
            WARDEN_ASSERT(out != NULL);
        }
        n = mutate(in.buf[i], in.len[i], out);
        if (!outcomes_agree(out, n) && ++failed > 20)
            break;
    }
    CHECK_INT(failed, 0);
    free(out);
    free_inputs(&in);
}

/* ---- the reader's own interface ---------------------------------------------------- */

static void jsonread_lays_values_out_in_document_order(void)
{
    const struct jsonread_value *root, *a, *item;
    size_t i;
    int64_t sum = 0;

    root = parse("{\"n\":null,\"a\":[1,-2,{\"x\":[]},3.5,\"s\"],\"t\":true,\"e\":\"\\u00e9\"}");
    if (root == NULL)
        return;
    CHECK_INT(root->type, JSONREAD_OBJECT);
    CHECK_INT(jsonread_count(root), 4);
    CHECK_INT(root->skip, 16); /* root, 4 keys, null, 8 for the array, true, "\u00e9" */
    CHECK(jsonread_get(root, "n") != NULL && jsonread_get(root, "n")->type == JSONREAD_NULL);
    CHECK(jsonread_get(root, "x") == NULL); /* only the root's own members */
    CHECK(jsonread_get(root, "missing") == NULL);
    CHECK(jsonread_get(jsonread_get(root, "t"), "a") == NULL); /* not an object */
    CHECK_STR(jsonread_get(root, "e")->u.str, "\xc3\xa9");
    a = jsonread_get(root, "a");
    CHECK_INT(jsonread_count(a), 5);
    JSONREAD_EACH(a, i, item) {
        if (item->type == JSONREAD_INTEGER)
            sum += item->u.integer;
        if (i == 2)
            CHECK(item->type == JSONREAD_OBJECT && jsonread_count(jsonread_get(item, "x")) == 0);
        if (i == 3)
            CHECK(item->type == JSONREAD_REAL && item->u.real == 3.5);
        if (i == 4)
            CHECK_STR(item->u.str, "s");
    }
    CHECK_INT(i, 5);
    CHECK_INT(sum, -1);
    JSONREAD_EACH((const struct jsonread_value *)NULL, i, item) { /* an absent array: none */
        CHECK(0);
    }
    CHECK_STR(jsonread_dump(a, &arena), "[1,-2,{\"x\":[]},3.5,\"s\"]");
    arena_free(&arena);
}

static void jsonread_quotes_as_jansson_dumps(void)
{
    char out[64];
    size_t n = jsonread_quote("a\"b\\c\n\x01/\x7f\xc3\xa9", out);

    out[n] = '\0';
    CHECK_STR(out, "\"a\\\"b\\\\c\\n\\u0001/\x7f\xc3\xa9\"");
    CHECK_INT(jsonread_quote("", NULL), 2);
}

static void jsonread_refuses_past_max_depth(void)
{
    struct arena a;
    const struct jsonread_value *root;

    arena_init(&a, 1 << 20);
    CHECK_INT(jsonread_parse((const uint8_t *)"[[[1]]]", 7, 3, &a, &root), JSONREAD_OK);
    CHECK_INT(jsonread_parse((const uint8_t *)"[[[[1]]]]", 9, 3, &a, &root), JSONREAD_TOO_DEEP);
    CHECK(root == NULL);
    arena_free(&a);
}

/* Every allocation comes from the arena: a full one is a clean failure at any cap. */
static void jsonread_fails_cleanly_when_the_arena_is_full(void)
{
    size_t len;
    char *buf = slurp("tests/fixtures/json/mixed.json", &len);
    int ok = 0;

    for (size_t cap = 0; cap < 16384; cap += 16) {
        struct arena a;
        const struct jsonread_value *root;
        enum jsonread_err err;

        arena_init(&a, cap);
        err = jsonread_parse((const uint8_t *)buf, len, INGEST_JSON_MAX_DEPTH, &a, &root);
        if (err == JSONREAD_OK)
            ok++;
        else
            CHECK_INT(err, JSONREAD_NO_MEMORY);
        arena_free(&a);
    }
    CHECK(ok > 0);
    free(buf);
}

int main(void)
{
    RUN(jsonread_agrees_with_jansson_on_edge_cases);
    RUN(jsonread_agrees_with_jansson_on_deep_and_wide_payloads);
    RUN(jsonread_agrees_with_jansson_on_fixtures_and_seeds);
    RUN(jsonread_agrees_with_jansson_on_every_truncation);
    RUN(jsonread_agrees_with_jansson_on_100000_mutations);
    RUN(jsonread_lays_values_out_in_document_order);
    RUN(jsonread_quotes_as_jansson_dumps);
    RUN(jsonread_refuses_past_max_depth);
    RUN(jsonread_fails_cleanly_when_the_arena_is_full);
    return CHECK_DONE();
}
