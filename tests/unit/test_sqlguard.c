/*
 * The SQL console's guarded functions (web/sqlguard.c): on ordinary operands
 * they answer exactly what SQLite's builtins answer (each expression is run
 * on a guarded and on a plain connection and the two are compared), and on
 * the operands that made one call run for seconds they refuse at once with a
 * message naming the function.
 */
#include "../../web/sqlpriv.h"
#include "check.h"

#include <sqlite3.h>

#define MAX_BYTES 1048576

static sqlite3 *open_conn(bool guarded, struct web_sqlguard **g)
{
    sqlite3 *db = NULL;
    char err[200];

    CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, MAX_BYTES);
    sqlite3_limit(db, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 10000);
    sqlite3_limit(db, SQLITE_LIMIT_FUNCTION_ARG, 100);
    *g = NULL;
    if (guarded) {
        *g = web_sqlguard_install(db, err, sizeof(err));
        CHECK(*g != NULL);
    }
    sqlite3_exec(db,
                 "CREATE TABLE t(k, v); INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, NULL), "
                 "(4, 4.5), (5, x'00ff'), (6, json('{\"n\":[1,2]}')), (7, 0.1), (8, -1e300), "
                 "(9, 1.0 / 3), (10, 'quote \" back \\ tab \t nl \n bell ' || char(7) || "
                 "char(31) || ' é'), (11, -9223372036854775808), (12, 1e-7)",
                 NULL, NULL, NULL);
    return db;
}

/* quote() of each column of each row, or "error: message", as one string. */
static char *run(sqlite3 *db, const char *sql, int64_t *us)
{
    sqlite3_str *out = sqlite3_str_new(NULL);
    sqlite3_stmt *st = NULL;
    int64_t t0 = clock_mono_us();
    int rc;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        sqlite3_str_appendf(out, "error: %s", sqlite3_errmsg(db));
        return sqlite3_str_finish(out);
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_str_appendf(out, "\n");
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            int type = sqlite3_column_type(st, i);
            const unsigned char *b = sqlite3_column_blob(st, i);
            int n = sqlite3_column_bytes(st, i);
            sqlite3_str_appendf(out, "%d:", type);
            for (int j = 0; j < n; j++)
                sqlite3_str_appendf(out, type == SQLITE_BLOB ? "%02x" : "%c", b[j]);
            sqlite3_str_appendf(out, "|");
        }
    }
    if (rc != SQLITE_DONE)
        sqlite3_str_appendf(out, "error: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (us != NULL)
        *us = clock_mono_us() - t0;
    return sqlite3_str_finish(out);
}

static void test_same_answers(void)
{
    static const char *const sql[] = {
        "SELECT instr('hello', 'll'), instr('hello', ''), instr(NULL, 'a'), instr(x'0102', x'02'), "
        "instr('é-é', '-'), instr(12345, 34)",
        "SELECT replace('abcabc', 'b', 'xy'), replace('abc', '', 'x'), replace(NULL, 'a', 'b'), "
        "replace(123, 2, 9)",
        "SELECT 'abc' LIKE 'A%', 'abc' LIKE 'a_c', 'a%c' LIKE 'a\\%c' ESCAPE '\\', "
        "'abc' GLOB 'a*', 'abc' GLOB 'A*', like('%b%', 'abc'), NULL LIKE 'a'",
        "SELECT trim('xxhixx', 'x'), ltrim('  hi'), rtrim('hi..', '.'), ltrim('abcba', 'ab'), "
        "trim(' pad ')",
        "SELECT printf('%5d|%-5s|%.3f|%05.1f|%x|%c|%.*c|%q|%Q|%w|%%|%,d', 3, 'ab', 3.14159, "
        "2.5, 255, 'zed', 4, 'y', 'it''s', NULL, 'a\"b', 1234567)",
        "SELECT format('%s-%d', 'a', 7), printf('%*d|%-*d|', 4, 1, 3, 2), printf('%.*s', 2, "
        "'abcdef'), printf(NULL), printf('%s'), printf('%lld %lli', 1, 2), printf('%!.3s', "
        "'ééé')",
        "SELECT json_patch('{\"a\":1,\"b\":{\"c\":2}}', '{\"b\":{\"c\":null,\"d\":3},\"e\":4}'), "
        "json_object('p', json_patch('{}', '{\"x\":1}'))",
        "SELECT length(zeroblob(10)), typeof(zeroblob(-1)), length(randomblob(8)), "
        "length(randomblob(0)), typeof(randomblob(3))",
        "SELECT json_group_array(v) FROM t WHERE k <> 5",
        "SELECT json_group_array(v) FROM t WHERE k = 5",
        "SELECT json_group_object(k, v) FROM t WHERE k <> 5",
        "SELECT json_group_array(k) FROM t WHERE k > 100",
        "SELECT json_group_object(k, v) FROM t WHERE k > 100",
        "SELECT json_object('all', json_group_array(json_object('k', k))) FROM t",
        "SELECT json_group_array(json('[1, 2]')), json_group_array(json_extract('{\"a\":[3]}', "
        "'$.a')) FROM t WHERE k < 3",
        "SELECT k, json_group_array(k) OVER (ORDER BY k ROWS BETWEEN 1 PRECEDING AND 1 "
        "FOLLOWING) FROM t",
        "SELECT k, json_group_object(k, k * 2) OVER (ORDER BY k ROWS BETWEEN 2 PRECEDING AND "
        "CURRENT ROW) FROM t",
        "SELECT json_group_array(v) FILTER (WHERE k % 2 = 1) FROM t",
        NULL,
    };
    struct web_sqlguard *g, *none;
    sqlite3 *guarded = open_conn(true, &g), *plain = open_conn(false, &none);

    for (int i = 0; sql[i] != NULL; i++) {
        char *a = run(guarded, sql[i], NULL), *b = run(plain, sql[i], NULL);
        if (strcmp(a, b) != 0 && strstr(sql[i], "randomblob") == NULL) {
            fprintf(stderr, "  %s\n    guarded: %s\n    builtin: %s\n", sql[i], a, b);
            check_failures++;
        }
        sqlite3_free(a);
        sqlite3_free(b);
    }
    sqlite3_close(guarded);
    sqlite3_close(plain);
    web_sqlguard_free(g);
}

/* The calls that ran for seconds: each is refused in a few milliseconds, naming its function. */
static void test_costly_calls_refused(void)
{
    static const struct {
        const char *sql, *word;
    } cases[] = {
        {"SELECT instr(printf('%.*c', 1000000, 'a'), printf('%.*c', 500000, 'a') || 'b')",
         "instr()"},
        {"SELECT instr(printf('%.*c', 2000000, 'a'), printf('%.*c', 1000000, 'a') || 'b')",
         "printf()"},
        {"SELECT printf('%.*c', 2147483647, 'x')", "printf()"},
        {"SELECT format('%.*c', 2147483647, 'x')", "format()"},
        {"SELECT printf('%.2147483647c', 'x')", "printf()"},
        {"SELECT printf('%4294967295c%.*c', 'x', 2000000, 'y')", "printf()"},
        {"SELECT printf(replace(printf('%.*c', 2000, 'x'), 'x', '%.999c'), 'a')", "printf()"},
        {"SELECT replace(printf('%.*c', 1000000, 'a'), printf('%.*c', 500000, 'a') || 'b', 'x')",
         "replace()"},
        {"SELECT printf('%.*c', 1000000, 'a') LIKE '%' || printf('%.*c', 9000, 'a') || 'b'",
         "like()"},
        {"SELECT printf('%.*c', 1000000, 'a') GLOB '*' || printf('%.*c', 9000, 'a') || 'b'",
         "glob()"},
        {"SELECT trim(printf('%.*c', 100000, 'a'), printf('%.*c', 10000, 'b') || 'a')", "trim()"},
        {"WITH o(j) AS MATERIALIZED (SELECT json_group_object(key, 1) FROM json_each(printf("
         "'[%s0]', replace(printf('%.*c', 30000, 'x'), 'x', '0,')))) SELECT json_patch(j, j) "
         "FROM o",
         "json_patch()"},
        {"SELECT zeroblob(2147483647)", "zeroblob(2147483647)"},
        {"SELECT randomblob(2000000000)", "randomblob(2000000000)"},
        {"SELECT json_group_array(printf('%.*c', 1000000, 'a')) FROM (WITH RECURSIVE c(k) AS "
         "(SELECT 1 UNION ALL SELECT k + 1 FROM c LIMIT 5) SELECT k FROM c)",
         "json_group_array()"},
        {"SELECT json_group_object(k, printf('%.*c', 1000000, 'a')) FROM (WITH RECURSIVE c(k) AS "
         "(SELECT 1 UNION ALL SELECT k + 1 FROM c LIMIT 5) SELECT k FROM c)",
         "json_group_object()"},
    };
    struct web_sqlguard *g;
    sqlite3 *db = open_conn(true, &g);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t us = 0;
        char *got = run(db, cases[i].sql, &us);
        if (strncmp(got, "error: ", 7) != 0 || strstr(got, cases[i].word) == NULL ||
            us > 500000) {
            fprintf(stderr, "  %s\n    answered in %lld ms: %.200s\n", cases[i].sql,
                    (long long)(us / 1000), got);
            check_failures++;
        }
        sqlite3_free(got);
    }
    sqlite3_close(db);
    web_sqlguard_free(g);
}

/* Within the limits, the same functions still do their work. */
static void test_large_but_allowed(void)
{
    struct web_sqlguard *g;
    sqlite3 *db = open_conn(true, &g);
    char *got;

    got = run(db, "SELECT length(printf('%.*c', 1000000, 'a')), instr(printf('%.*c', 1000000, 'a')"
                  " || 'needle', 'needle'), printf('%.*c', 1000000, 'a') LIKE '%aab'",
              NULL);
    CHECK_STR(got, "\n1:1000000|1:1000001|1:0|");
    sqlite3_free(got);
    got = run(db, "SELECT length(json_group_array(printf('%.*c', 100000, 'a'))) FROM (WITH "
                  "RECURSIVE c(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM c LIMIT 10) SELECT k "
                  "FROM c)",
              NULL);
    CHECK_STR(got, "\n1:1000031|");
    sqlite3_free(got);
    sqlite3_close(db);
    web_sqlguard_free(g);
}

int main(void)
{
    RUN(test_same_answers);
    RUN(test_costly_calls_refused);
    RUN(test_large_but_allowed);
    return CHECK_DONE();
}
