/*
 * The streaming JSON writer of the API (web/jsonw.c): exact escaping of
 * hostile strings (quotes, backslashes, every control character, invalid
 * UTF-8, U+2028), a round trip through Jansson of random bytes against the
 * repair web_json_text() makes, structure and misuse, the size cap, and the
 * validator that lets stored JSON through.
 */
#include "../../web/core.h"
#include "../../web/jsonw.h"
#include "check.h"

#include <math.h>

/* What one call of fn writes as a whole document, NUL-terminated; NULL when it failed. */
static char *doc_of(void (*fn)(struct jsonw *, const void *), const void *arg, size_t max)
{
    struct evbuffer *out = evbuffer_new();
    struct jsonw w;
    char *text = NULL;
    size_t n;

    jsonw_init(&w, out, max);
    fn(&w, arg);
    if (jsonw_finish(&w)) {
        n = evbuffer_get_length(out);
        text = malloc(n + 1);
        evbuffer_remove(out, text, n);
        text[n] = '\0';
    }
    evbuffer_free(out);
    return text;
}

struct bytes {
    const char *s;
    size_t n;
};

static void write_string(struct jsonw *w, const void *arg)
{
    const struct bytes *b = arg;
    jsonw_string(w, b->s, b->n);
}

/* The JSON string jsonw writes for s[0..n). */
static char *escaped(const char *s, size_t n)
{
    struct bytes b = {s, n};
    return doc_of(write_string, &b, 0);
}

#define CHECK_ESC(lit, want)                                                                       \
    do {                                                                                           \
        char *got_ = escaped(lit, sizeof(lit) - 1);                                                \
        CHECK_STR(got_, want);                                                                     \
        free(got_);                                                                                \
    } while (0)

static void test_jsonw_escapes_quotes_backslashes_and_controls(void)
{
    CHECK_ESC("", "\"\"");
    CHECK_ESC("plain text 123", "\"plain text 123\"");
    CHECK_ESC("a\"b", "\"a\\\"b\"");
    CHECK_ESC("\\", "\"\\\\\"");
    CHECK_ESC("\\\"", "\"\\\\\\\"\"");
    CHECK_ESC("</script>", "\"</script>\"");
    CHECK_ESC("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
    CHECK_ESC("a\0b", "\"a\\u0000b\"");
    CHECK_ESC("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
    /* Every control character, one by one: escaped, never raw. */
    for (int c = 0; c < 0x20; c++) {
        char in = (char)c, *got = escaped(&in, 1);
        CHECK(got != NULL && strlen(got) >= 4 && got[1] == '\\');
        for (const char *p = got; p && *p; p++)
            CHECK((unsigned char)*p >= 0x20);
        free(got);
    }
}

static void test_jsonw_escapes_line_separators_and_repairs_invalid_utf8(void)
{
    CHECK_ESC("a\xe2\x80\xa8z\xe2\x80\xa9", "\"a\\u2028z\\u2029\"");
    CHECK_ESC("\xe2\x80\xaa", "\"\xe2\x80\xaa\""); /* U+202A is fine as it is */
    CHECK_ESC("caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x94\x92", "\"caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x94\x92\"");
    /* Each byte that is not part of a valid sequence becomes one U+FFFD. */
    CHECK_ESC("\x80", "\"\xef\xbf\xbd\"");                          /* lone continuation */
    CHECK_ESC("\xc3", "\"\xef\xbf\xbd\"");                          /* truncated at the end */
    CHECK_ESC("\xc3(", "\"\xef\xbf\xbd(\"");                        /* truncated inside */
    CHECK_ESC("\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\"");          /* overlong "/" */
    CHECK_ESC("\xe0\x80\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* overlong */
    CHECK_ESC("\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* surrogate */
    CHECK_ESC("\xf4\x90\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* > U+10FFFF */
    CHECK_ESC("\xff\"", "\"\xef\xbf\xbd\\\"\"");
    /* A truncated separator is repaired, not half-escaped. */
    CHECK_ESC("\xe2\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\"");
}

/* A small deterministic generator: the same hostile strings every run. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static unsigned rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng >> 32);
}

static void test_jsonw_random_bytes_round_trip_through_jansson(void)
{
    static const char *const pieces[] = {"\"", "\\", "\n", "\x01", "\x7f", "\xe2\x80\xa8",
                                         "\xe2\x80\xa9", "\xc3\xa9", "\xf0\x9f\x94\x92", "\xed\xa0\x80",
                                         "\xc0\xaf", "\x80", "\xff", "\xe2\x80", "a", "\\u0000"};
    int bad = 0;

    for (int round = 0; round < 5000; round++) {
        char in[96];
        size_t n = 0;
        while (n < 64) {
            if (rnd() % 3 == 0) {
                in[n++] = (char)(rnd() & 0xff);
            } else {
                const char *p = pieces[rnd() % (sizeof(pieces) / sizeof(pieces[0]))];
                size_t k = strlen(p);
                memcpy(in + n, p, k);
                n += k;
            }
        }
        char *got = escaped(in, n);
        json_error_t err;
        json_t *parsed = got ? json_loads(got, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err) : NULL;
        json_t *want = web_json_text(in, n);
        if (got == NULL || parsed == NULL || !json_is_string(parsed) || want == NULL ||
            json_string_length(parsed) != json_string_length(want) ||
            memcmp(json_string_value(parsed), json_string_value(want), json_string_length(want)) != 0)
            bad++;
        for (const unsigned char *p = (const unsigned char *)got; p && *p; p++)
            if (*p < 0x20 || (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)))
                bad++;
        json_decref(parsed);
        json_decref(want);
        free(got);
    }
    CHECK_INT(bad, 0);
}

static void write_nested(struct jsonw *w, const void *arg)
{
    (void)arg;
    jsonw_object(w);
    jsonw_key(w, "items");
    jsonw_array(w);
    jsonw_object(w);
    jsonw_key(w, "id");
    jsonw_int(w, INT64_MIN);
    jsonw_key(w, "max");
    jsonw_int(w, INT64_MAX);
    jsonw_key(w, "k\"ey");
    jsonw_cstring(w, NULL);
    jsonw_object_end(w);
    jsonw_int(w, 0);
    jsonw_real(w, 2);
    jsonw_real(w, 0.1);
    jsonw_real(w, NAN);
    jsonw_real(w, -INFINITY);
    jsonw_bool(w, true);
    jsonw_bool(w, false);
    jsonw_array(w);
    jsonw_array_end(w);
    jsonw_object(w);
    jsonw_object_end(w);
    jsonw_array_end(w);
    jsonw_key(w, "next");
    jsonw_null(w);
    jsonw_object_end(w);
}

static void test_jsonw_structure_numbers_and_literals(void)
{
    char *got = doc_of(write_nested, NULL, 0);

    CHECK_STR(got, "{\"items\":[{\"id\":-9223372036854775808,\"max\":9223372036854775807,"
                   "\"k\\\"ey\":null},0,2.0,0.10000000000000001,null,null,true,false,[],{}],"
                   "\"next\":null}");
    free(got);
}

static void misuse_value_for_key(struct jsonw *w, const void *a) { (void)a; jsonw_object(w); jsonw_int(w, 1); jsonw_object_end(w); }
static void misuse_key_in_array(struct jsonw *w, const void *a) { (void)a; jsonw_array(w); jsonw_key(w, "k"); jsonw_int(w, 1); jsonw_array_end(w); }
static void misuse_unclosed(struct jsonw *w, const void *a) { (void)a; jsonw_array(w); jsonw_int(w, 1); }
static void misuse_wrong_close(struct jsonw *w, const void *a) { (void)a; jsonw_array(w); jsonw_object_end(w); }
static void misuse_two_values(struct jsonw *w, const void *a) { (void)a; jsonw_int(w, 1); jsonw_int(w, 2); }
static void misuse_key_without_value(struct jsonw *w, const void *a) { (void)a; jsonw_object(w); jsonw_key(w, "k"); jsonw_object_end(w); }
static void misuse_nothing(struct jsonw *w, const void *a) { (void)w; (void)a; }
static void misuse_too_deep(struct jsonw *w, const void *a)
{
    (void)a;
    for (int i = 0; i <= JSONW_MAX_DEPTH; i++)
        jsonw_array(w);
    for (int i = 0; i <= JSONW_MAX_DEPTH; i++)
        jsonw_array_end(w);
}
static void deepest(struct jsonw *w, const void *a)
{
    (void)a;
    for (int i = 0; i < JSONW_MAX_DEPTH; i++)
        jsonw_array(w);
    for (int i = 0; i < JSONW_MAX_DEPTH; i++)
        jsonw_array_end(w);
}

static void test_jsonw_misuse_fails(void)
{
    void (*bad[])(struct jsonw *, const void *) = {
        misuse_value_for_key, misuse_key_in_array, misuse_unclosed, misuse_wrong_close,
        misuse_two_values, misuse_key_without_value, misuse_nothing, misuse_too_deep};
    char *ok;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *got = doc_of(bad[i], NULL, 0);
        if (got != NULL)
            fprintf(stderr, "  misuse %zu wrote %s\n", i, got);
        CHECK(got == NULL);
        free(got);
    }
    ok = doc_of(deepest, NULL, 0);
    CHECK(ok != NULL && strlen(ok) == 2 * JSONW_MAX_DEPTH);
    free(ok);
}

static void test_jsonw_cap_and_long_strings(void)
{
    size_t n = 20000;
    char *big = malloc(n), *got;
    struct evbuffer *out = evbuffer_new();
    struct jsonw w;
    struct bytes b;

    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i % 7 == 0 ? '"' : 'a' + i % 26);
    got = escaped(big, n); /* longer than the writer's own buffer */
    CHECK(got != NULL && strlen(got) == n + (n + 6) / 7 + 2);
    if (got != NULL) {
        json_t *j = json_loads(got, JSON_DECODE_ANY, NULL);
        CHECK(j != NULL && json_string_length(j) == n && memcmp(json_string_value(j), big, n) == 0);
        json_decref(j);
    }
    free(got);
    /* A cap below the document: it fails, and the evbuffer holds no more than the cap. */
    b.s = big;
    b.n = n;
    CHECK(doc_of(write_string, &b, 1000) == NULL);
    jsonw_init(&w, out, 1000);
    jsonw_string(&w, big, n);
    CHECK(!jsonw_finish(&w));
    CHECK(evbuffer_get_length(out) <= 1000);
    evbuffer_free(out);
    /* Exactly the cap is allowed. */
    CHECK((got = doc_of(write_string, &b, n + (n + 6) / 7 + 2)) != NULL);
    free(got);
    free(big);
}

static void write_stored(struct jsonw *w, const void *arg)
{
    const char *s = arg;
    jsonw_array(w);
    if (!jsonw_json(w, s, strlen(s)))
        jsonw_cstring(w, "fallback");
    jsonw_array_end(w);
}

static void test_jsonw_stored_json_passes_only_when_valid(void)
{
    static const char *const valid[] = {
        "{}", "[]", "0", "-0.5e+3", "\"s\"", "true", "null", " {\"a\" : [1, 2.5, {\"b\": null}]} ",
        "{\"k\":\"\\u00e9\\n\\\"\"}", "[1E5,-0,0.0]", "\"caf\xc3\xa9\""};
    static const char *const invalid[] = {
        "", " ", "{", "}", "[1,]", "{\"a\":}", "{\"a\" 1}", "{a:1}", "01", "1.", "-", ".5", "+1",
        "1e", "tru", "nul", "[1] x", "\"unterminated", "\"bad \\x escape\"", "\"\\u12\"",
        "\"raw \n newline\"", "\"\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "'single'", "NaN",
        "[1]]", "{\"a\":1,}"};
    char *got;

    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        CHECK(jsonw_valid(valid[i], strlen(valid[i])));
        got = doc_of(write_stored, valid[i], 0);
        json_t *j = got ? json_loads(got, 0, NULL) : NULL;
        if (j == NULL || json_is_string(json_array_get(j, 0)) != (valid[i][0] == '"'))
            fprintf(stderr, "  valid %s wrote %s\n", valid[i], got ? got : "(failed)");
        CHECK(j != NULL);
        json_decref(j);
        free(got);
    }
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        if (jsonw_valid(invalid[i], strlen(invalid[i])))
            fprintf(stderr, "  invalid %s was accepted\n", invalid[i]);
        CHECK(!jsonw_valid(invalid[i], strlen(invalid[i])));
        got = doc_of(write_stored, invalid[i], 0);
        CHECK_STR(got, "[\"fallback\"]");
        free(got);
    }
    /* Separators inside stored strings are escaped too. */
    got = doc_of(write_stored, "{\"a\":\"x\xe2\x80\xa8y\"}", 0);
    CHECK_STR(got, "[{\"a\":\"x\\u2028y\"}]");
    free(got);
    /* Nesting: as deep as the writer goes, and not one more. */
    char deep[2 * JSONW_MAX_DEPTH + 3];
    for (int d = JSONW_MAX_DEPTH; d <= JSONW_MAX_DEPTH + 1; d++) {
        memset(deep, '[', (size_t)d);
        memset(deep + d, ']', (size_t)d);
        CHECK(jsonw_valid(deep, 2 * (size_t)d) == (d == JSONW_MAX_DEPTH));
    }
}

/* Mutations of a stored object: whatever Jansson accepts, the validator accepts, and the other way round. */
static void test_jsonw_validator_agrees_with_jansson(void)
{
    static const char seed[] = "{\"RemoteAddress\":\"203.0.113.7\",\"Port\":443,\"x\":[true,null,-1.5e3],"
                               "\"t\":\"a\\\"\\u00e9\"}";
    static const char alphabet[] = "{}[]\",:\\ u0123456789.eE+-tfnalrs\x01\xc3\xa9\xff";
    int disagree = 0;

    for (int round = 0; round < 20000; round++) {
        char buf[sizeof(seed) + 8];
        size_t n = sizeof(seed) - 1;
        memcpy(buf, seed, n);
        for (int k = 1 + (int)(rnd() % 3); k > 0; k--) {
            size_t at = rnd() % n;
            char c = alphabet[rnd() % (sizeof(alphabet) - 1)];
            switch (rnd() % 3) {
            case 0: buf[at] = c; break;
            case 1: memmove(buf + at, buf + at + 1, n - at - 1); n--; break;
            default:
                if (n < sizeof(buf)) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = c;
                    n++;
                }
            }
        }
        json_error_t err;
        json_t *j = json_loadb(buf, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        bool ours = jsonw_valid(buf, n);
        /* Jansson refuses numbers it cannot hold; JSON does not. */
        bool range = j == NULL && (strstr(err.text, "too big") || strstr(err.text, "overflow"));
        if ((j != NULL) != ours && !range) {
            fprintf(stderr, "  %.*s: jansson %s, jsonw %s\n", (int)n, buf, j ? "accepts" : err.text,
                    ours ? "accepts" : "refuses");
            disagree++;
        }
        json_decref(j);
    }
    CHECK_INT(disagree, 0);
}

static void write_time(struct jsonw *w, const void *arg)
{
    jsonw_time(w, *(const int64_t *)arg);
}

/* The fast date arithmetic against gmtime_r (time_format_iso), edges and random instants. */
static void test_jsonw_time_matches_time_format_iso(void)
{
    static const int64_t edges[] = {0, -1, 1, 999, -999, -1000, 86399999, 86400000, -86400000,
                                    951782400000LL /* 2000-02-29 */, 4107542399999LL,
                                    -62167219200000LL, -62167219200001LL, 253402300799999LL,
                                    253402300800000LL, 1796004004000LL};
    int bad = 0;

    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]) + 200000; i++) {
        int64_t ms = i < sizeof(edges) / sizeof(edges[0])
                         ? edges[i]
                         : (int64_t)(((uint64_t)rnd() << 32 | rnd()) % 340000000000000ULL) -
                               70000000000000LL;
        char want[48], *got;

        want[0] = '"';
        time_format_iso(ms, want + 1, sizeof(want) - 2);
        strcat(want, "\"");
        got = doc_of(write_time, &ms, 0);
        if (got == NULL || strcmp(got, want) != 0) {
            if (bad++ < 5)
                fprintf(stderr, "  %lld: %s, expected %s\n", (long long)ms, got ? got : "(failed)", want);
        }
        free(got);
    }
    CHECK_INT(bad, 0);
}

int main(void)
{
    RUN(test_jsonw_escapes_quotes_backslashes_and_controls);
    RUN(test_jsonw_escapes_line_separators_and_repairs_invalid_utf8);
    RUN(test_jsonw_random_bytes_round_trip_through_jansson);
    RUN(test_jsonw_structure_numbers_and_literals);
    RUN(test_jsonw_misuse_fails);
    RUN(test_jsonw_cap_and_long_strings);
    RUN(test_jsonw_stored_json_passes_only_when_valid);
    RUN(test_jsonw_validator_agrees_with_jansson);
    RUN(test_jsonw_time_matches_time_format_iso);
    return CHECK_DONE();
}
