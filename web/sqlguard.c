/*
 * web/sqlguard.c: the SQL console's guarded functions. The console's time
 * limit is enforced between VDBE operations (the progress handler, and
 * sqlite3_interrupt() from the watchdog), but one function call is one
 * operation, and a few of SQLite's functions cost far more than the size of
 * their result: instr() and replace() compare every position of one operand
 * with the other, like() and glob() every character of the text with the
 * pattern, trim(X, Y) every trimmed character with every character of Y,
 * json_patch() every key of one object with every key of the other, and
 * printf()'s %c repeats its character once per unit of precision even when
 * the result was refused long before. Measured against SQLite 3.40 with values
 * of at most 1 MB, one call ran for 6 to 46 s.
 *
 * So on each console connection these names are taken over by functions that
 * check the size of their operands first and refuse, with a message saying
 * what and why, a call whose cost is out of bounds; otherwise they run
 * SQLite's own implementation, through a private in-memory connection where
 * the names still mean the builtins (a function registered under a builtin's
 * name hides the builtin on that connection only). zeroblob() and
 * randomblob() are checked against the longest value and computed here.
 * json_group_array() and json_group_object() are the only builtin aggregates
 * that grow without SQLite's length limit (one took 2 GB in 7 s); they are
 * reimplemented here with that limit, writing each element as SQLite 3.40's
 * json.c does (the unit test compares the two).
 */
#include "sqlpriv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * What one call may cost, as a product of operand sizes in bytes, chosen
 * from measurements (SQLite 3.40, -O2): instr of 1 MB by 500 kB took 6.7 s
 * (2e9 is then about 30 ms); LIKE of 1 MB by a 9,000-byte pattern 14 s and
 * GLOB 28 s (1e7: 15 and 30 ms); trim of 100 kB by 10 kB 6.3 s (5e6: 30 ms);
 * json_patch of two 80,000-key objects 46 s (4e8 bytes squared is about
 * 10,000 keys by 10,000 keys, 50 ms).
 */
#define SCAN_BUDGET  2000000000LL /* instr, replace */
#define MATCH_BUDGET 10000000LL   /* like, glob */
#define TRIM_BUDGET  5000000LL    /* trim, ltrim, rtrim with a character set */
#define PATCH_BUDGET 400000000LL  /* json_patch */
#define JSON_SUBTYPE 74           /* 'J': SQLite's mark on text that is JSON */
#define ARGS_MAX     128          /* above SQLITE_LIMIT_FUNCTION_ARG of any console */

/* The functions forwarded to the builtins after a check, by what they check. */
enum fwd {
    FWD_INSTR,
    FWD_REPLACE,
    FWD_LIKE2,
    FWD_LIKE3,
    FWD_GLOB,
    FWD_TRIM,
    FWD_LTRIM,
    FWD_RTRIM,
    FWD_PATCH,
    FWD_FIXED,  /* the fixed-arity statements end here */
    FWD_PRINTF = FWD_FIXED, /* printf(?1, ..., ?n): one statement per argument count */
    FWD_NONE,   /* computed here */
};

static const char *const fwd_sql[FWD_FIXED] = {
    "SELECT instr(?1, ?2)",   "SELECT replace(?1, ?2, ?3)", "SELECT like(?1, ?2)",
    "SELECT like(?1, ?2, ?3)", "SELECT glob(?1, ?2)",        "SELECT trim(?1, ?2)",
    "SELECT ltrim(?1, ?2)",   "SELECT rtrim(?1, ?2)",       "SELECT json_patch(?1, ?2)",
};

struct web_sqlguard {
    sqlite3 *builtins;          /* in memory; only SQLite's own functions */
    int64_t max_bytes;          /* the console's SQLITE_LIMIT_LENGTH */
    sqlite3_stmt *fixed[FWD_FIXED];
    sqlite3_stmt *printf_st[ARGS_MAX + 1]; /* SELECT printf(?1, ..., ?n), by n */
};

/* A registered function's user data: the guard and which check it makes. */
struct guarded {
    struct web_sqlguard *g;
    const char *name;
    enum fwd fwd;
    int64_t budget;
};

/* ---- running the builtin --------------------------------------------------------------------- */

static sqlite3_stmt *fwd_stmt(struct web_sqlguard *g, enum fwd f, int argc)
{
    sqlite3_stmt **slot;
    char sql[ARGS_MAX * 6 + 32];
    size_t n;

    if (f == FWD_PRINTF) {
        if (argc < 1 || argc > ARGS_MAX)
            return NULL;
        slot = &g->printf_st[argc];
        n = (size_t)snprintf(sql, sizeof(sql), "SELECT printf(?1");
        for (int i = 2; i <= argc; i++)
            n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", ?%d", i);
        snprintf(sql + n, sizeof(sql) - n, ")");
    } else {
        slot = &g->fixed[f];
        snprintf(sql, sizeof(sql), "%s", fwd_sql[f]);
    }
    if (*slot == NULL && sqlite3_prepare_v3(g->builtins, sql, -1, SQLITE_PREPARE_PERSISTENT, slot,
                                            NULL) != SQLITE_OK)
        *slot = NULL;
    return *slot;
}

/* Report the builtin's failure as the console function's own. */
static void fwd_error(sqlite3_context *ctx, struct web_sqlguard *g, int rc)
{
    if (rc == SQLITE_TOOBIG)
        sqlite3_result_error_toobig(ctx);
    else if (rc == SQLITE_NOMEM)
        sqlite3_result_error_nomem(ctx);
    else
        sqlite3_result_error(ctx, sqlite3_errmsg(g->builtins), -1);
}

/*
 * Bind v as itself, by type, without copying its bytes: the builtin runs
 * and its answer is copied out before this call returns, while v is valid.
 */
static int fwd_bind(sqlite3_stmt *st, int i, sqlite3_value *v)
{
    switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER: return sqlite3_bind_int64(st, i, sqlite3_value_int64(v));
    case SQLITE_FLOAT: return sqlite3_bind_double(st, i, sqlite3_value_double(v));
    case SQLITE_TEXT:
        return sqlite3_bind_text(st, i, (const char *)sqlite3_value_text(v), sqlite3_value_bytes(v),
                                 SQLITE_STATIC);
    case SQLITE_BLOB:
        return sqlite3_bind_blob(st, i, sqlite3_value_blob(v), sqlite3_value_bytes(v),
                                 SQLITE_STATIC);
    default: return sqlite3_bind_null(st, i);
    }
}

/*
 * Run statement f of the builtins' connection on argv and leave its one
 * value in *out (valid until the statement is reset): true, or false having
 * set the error on ctx. The caller resets the statement.
 */
static bool fwd_run(sqlite3_context *ctx, struct web_sqlguard *g, enum fwd f, int argc,
                    sqlite3_value **argv, sqlite3_stmt **st)
{
    int rc;

    if ((*st = fwd_stmt(g, f, argc)) == NULL) {
        sqlite3_result_error(ctx, sqlite3_errmsg(g->builtins), -1);
        return false;
    }
    for (int i = 0; i < argc; i++)
        if ((rc = fwd_bind(*st, i + 1, argv[i])) != SQLITE_OK) {
            sqlite3_reset(*st);
            sqlite3_clear_bindings(*st);
            fwd_error(ctx, g, rc);
            return false;
        }
    if ((rc = sqlite3_step(*st)) != SQLITE_ROW) {
        rc = sqlite3_reset(*st);
        fwd_error(ctx, g, rc);
        sqlite3_clear_bindings(*st);
        return false;
    }
    return true;
}

static void fwd_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* The builtin's answer as this call's result. */
static void forward(sqlite3_context *ctx, struct web_sqlguard *g, enum fwd f, int argc,
                    sqlite3_value **argv)
{
    sqlite3_stmt *st;

    if (!fwd_run(ctx, g, f, argc, argv, &st))
        return;
    sqlite3_result_value(ctx, sqlite3_column_value(st, 0));
    /* A subtype does not cross a statement's result: json_patch's answer is JSON again. */
    if (f == FWD_PATCH && sqlite3_column_type(st, 0) == SQLITE_TEXT)
        sqlite3_result_subtype(ctx, JSON_SUBTYPE);
    fwd_done(st);
}

/* ---- the checks ------------------------------------------------------------------------------ */

static int64_t arg_bytes(sqlite3_value *v)
{
    return sqlite3_value_type(v) == SQLITE_NULL ? 0 : sqlite3_value_bytes(v);
}

static void refuse(sqlite3_context *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refuse(sqlite3_context *ctx, const char *fmt, ...)
{
    char msg[300];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sqlite3_result_error(ctx, msg, -1);
}

/*
 * instr, replace, like, glob, trim, json_patch: the product of the sizes of
 * the two operands that are compared with each other.
 */
static void guarded_pair(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const struct guarded *fn = sqlite3_user_data(ctx);
    int64_t a = arg_bytes(argv[0]), b = arg_bytes(argv[1]);

    if (a > 0 && b > fn->budget / a) {
        refuse(ctx,
               "%s(): operands of %lld and %lld bytes are too large together for the console "
               "(the product of their sizes may be at most %lld); use shorter values",
               fn->name, (long long)a, (long long)b, (long long)fn->budget);
        return;
    }
    forward(ctx, fn->g, fn->fwd, argc, argv);
}

/* What SQLite does with a width or precision taken from an argument: (int) of an int64. */
static int64_t printf_arg(int argc, sqlite3_value **argv, int *used)
{
    int64_t v;

    if (*used >= argc)
        return 0;
    v = sqlite3_value_int64(argv[(*used)++]);
    return (int32_t)(uint32_t)(uint64_t)v;
}

static int64_t printf_abs(int64_t v)
{
    return v < 0 ? (v >= -2147483647 ? -v : 0) : v;
}

/* One conversion's flags, width and precision from *pp (just past the '%'). */
static int64_t printf_spec(const char **pp, int argc, sqlite3_value **argv, int *used)
{
    const char *p = *pp;
    int64_t sum = 0;
    bool done = false;
    char c = *p;

    do {
        switch (c) {
        case '-': case '+': case ' ': case '#': case '!': case '0': case ',': break;
        case 'l':
            c = *++p;
            if (c == 'l')
                c = *++p;
            done = true;
            break;
        case '1': case '2': case '3': case '4': case '5': case '6': case '7': case '8': case '9': {
            uint32_t wx = (uint32_t)(c - '0');
            while ((c = *++p) >= '0' && c <= '9')
                wx = wx * 10 + (uint32_t)(c - '0');
            sum += wx & 0x7fffffff;
            if (c != '.' && c != 'l')
                done = true;
            else
                p--;
            break;
        }
        case '*':
            sum += printf_abs(printf_arg(argc, argv, used));
            if ((c = p[1]) != '.' && c != 'l') {
                c = *++p;
                done = true;
            }
            break;
        case '.':
            if ((c = *++p) == '*') {
                sum += printf_abs(printf_arg(argc, argv, used));
                c = *++p;
            } else {
                uint32_t px = 0;
                for (; c >= '0' && c <= '9'; c = *++p)
                    px = px * 10 + (uint32_t)(c - '0');
                sum += px & 0x7fffffff;
            }
            if (c == 'l')
                --p;
            else
                done = true;
            break;
        default: done = true; break;
        }
    } while (!done && (c = *++p) != '\0');
    *pp = p;
    return sum;
}

/*
 * The sum of every width and precision printf(fmt, argv...) would use, read
 * as SQLite 3.40's sqlite3_str_vappendf() reads them (its flags, '*' taking
 * the next argument as an int, literal digits kept to 31 bits), with each
 * conversion taking its argument. Formatting stops at a conversion SQLite
 * does not know, and so does this.
 */
static int64_t printf_widths(const char *fmt, int argc, sqlite3_value **argv)
{
    int64_t sum = 0;
    int used = 0;

    for (const char *p = fmt; p != NULL && *p != '\0'; p++) {
        if (*p != '%')
            continue;
        if (*++p == '\0')
            break;
        sum += printf_spec(&p, argc, argv, &used);
        if (*p == '\0')
            break;
        if (strchr("diuxXoprfeEgGszqQwc", *p) != NULL)
            used++;
        else if (*p != '%' && *p != 'n')
            break;
    }
    return sum;
}

/* printf, format: the widths and precisions add up to at most the longest value. */
static void guarded_printf(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const struct guarded *fn = sqlite3_user_data(ctx);
    const char *fmt = argc > 0 ? (const char *)sqlite3_value_text(argv[0]) : NULL;
    int64_t sum = fmt != NULL ? printf_widths(fmt, argc - 1, argv + 1) : 0;

    if (sum > fn->g->max_bytes) {
        refuse(ctx,
               "%s(): its widths and precisions add up to %lld, more than the console's longest "
               "value (web.sql.max_value_bytes, %lld bytes)",
               fn->name, (long long)sum, (long long)fn->g->max_bytes);
        return;
    }
    forward(ctx, fn->g, FWD_PRINTF, argc, argv);
}

/* zeroblob(N), randomblob(N): N at most the longest value, then as SQLite computes them. */
static bool blob_size(sqlite3_context *ctx, const char *name, sqlite3_value *arg, int64_t *n)
{
    const struct guarded *fn = sqlite3_user_data(ctx);

    *n = sqlite3_value_int64(arg);
    if (*n <= fn->g->max_bytes)
        return true;
    refuse(ctx, "%s(%lld): more than the console's longest value (web.sql.max_value_bytes, %lld bytes)",
           name, (long long)*n, (long long)fn->g->max_bytes);
    return false;
}

static void guarded_zeroblob(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int64_t n;
    int rc;

    (void)argc;
    if (!blob_size(ctx, "zeroblob", argv[0], &n))
        return;
    if ((rc = sqlite3_result_zeroblob64(ctx, (sqlite3_uint64)(n < 0 ? 0 : n))) != SQLITE_OK)
        sqlite3_result_error_code(ctx, rc);
}

static void guarded_randomblob(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int64_t n;
    unsigned char *p;

    (void)argc;
    if (!blob_size(ctx, "randomblob", argv[0], &n))
        return;
    if (n < 1)
        n = 1;
    if ((p = sqlite3_malloc64((sqlite3_uint64)n)) == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    sqlite3_randomness((int)n, p);
    sqlite3_result_blob64(ctx, p, (sqlite3_uint64)n, sqlite3_free);
}

/* ---- json_group_array, json_group_object ----------------------------------------------------- */

/*
 * The elements so far, in buf[start, len), separated by commas; lens[i] is
 * the length of element i, elements [first, n) are in the window (a window
 * function's xInverse drops the oldest).
 */
struct jagg {
    char *buf;
    size_t start, len, cap;
    size_t *lens;
    size_t first, n, lcap;
};

static bool jagg_grow(struct jagg *a, size_t need)
{
    /* What a sliding window dropped is reclaimed once it is half of what is held. */
    if (a->first > 0 && a->first >= a->n / 2) {
        memmove(a->lens, a->lens + a->first, (a->n - a->first) * sizeof(*a->lens));
        a->n -= a->first;
        a->first = 0;
    }
    if (a->start > 0 && a->start >= a->len / 2) {
        memmove(a->buf, a->buf + a->start, a->len - a->start);
        a->len -= a->start;
        a->start = 0;
    }
    if (a->len + need > a->cap) {
        size_t cap = (a->len + need) * 2;
        char *b = sqlite3_realloc64(a->buf, cap);
        if (b == NULL)
            return false;
        a->buf = b;
        a->cap = cap;
    }
    if (a->n == a->lcap) {
        size_t lcap = a->lcap ? a->lcap * 2 : 16;
        size_t *l = sqlite3_realloc64(a->lens, lcap * sizeof(*l));
        if (l == NULL)
            return false;
        a->lens = l;
        a->lcap = lcap;
    }
    return true;
}

/* Append one element, its text in e, for a person's limit of max bytes. */
static void jagg_add(sqlite3_context *ctx, const char *name, sqlite3_str *e)
{
    const struct guarded *fn = sqlite3_user_data(ctx);
    struct jagg **pa = sqlite3_aggregate_context(ctx, sizeof(*pa)), *a;
    size_t add = (size_t)sqlite3_str_length(e) + 1;

    if (pa == NULL || sqlite3_str_errcode(e) != SQLITE_OK) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    if (*pa == NULL && (*pa = sqlite3_malloc64(sizeof(**pa))) != NULL)
        memset(*pa, 0, sizeof(**pa));
    if ((a = *pa) == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    if ((int64_t)(a->len - a->start + add + 2) > fn->g->max_bytes) {
        refuse(ctx, "%s(): the result would be longer than the console's longest value "
                    "(web.sql.max_value_bytes, %lld bytes)",
               name, (long long)fn->g->max_bytes);
        return;
    }
    if (!jagg_grow(a, add)) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    if (a->n > a->first)
        a->buf[a->len++] = ',';
    memcpy(a->buf + a->len, sqlite3_str_value(e), add - 1);
    a->len += add - 1;
    a->lens[a->n++] = add - 1;
}

/* A JSON string of n bytes of text, escaped as SQLite 3.40's jsonAppendString() escapes it. */
static void jagg_string(sqlite3_str *e, const unsigned char *s, size_t n)
{
    static const char special[32] = {['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n',
                                     ['\f'] = 'f', ['\r'] = 'r'};

    if (s == NULL)
        return;
    sqlite3_str_appendchar(e, 1, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\')
            sqlite3_str_appendf(e, "\\%c", c);
        else if (c <= 0x1f && special[c])
            sqlite3_str_appendf(e, "\\%c", special[c]);
        else if (c <= 0x1f)
            sqlite3_str_appendf(e, "\\u00%c%c", '0' + (c >> 4), "0123456789abcdef"[c & 0xf]);
        else
            sqlite3_str_appendchar(e, 1, (char)c);
    }
    sqlite3_str_appendchar(e, 1, '"');
}

/*
 * A value as JSON, as SQLite 3.40's jsonAppendValue() writes it: text made
 * by a JSON function as it is, other text as a string, numbers as SQLite
 * prints them; false (the error set) for a blob.
 */
static bool jagg_json(sqlite3_context *ctx, sqlite3_str *e, sqlite3_value *v)
{
    switch (sqlite3_value_type(v)) {
    case SQLITE_NULL: sqlite3_str_appendall(e, "null"); return true;
    case SQLITE_INTEGER: sqlite3_str_appendf(e, "%lld", sqlite3_value_int64(v)); return true;
    case SQLITE_FLOAT: sqlite3_str_appendf(e, "%!0.15g", sqlite3_value_double(v)); return true;
    case SQLITE_TEXT:
        if (sqlite3_value_subtype(v) == JSON_SUBTYPE)
            sqlite3_str_append(e, (const char *)sqlite3_value_text(v), sqlite3_value_bytes(v));
        else
            jagg_string(e, sqlite3_value_text(v), (size_t)sqlite3_value_bytes(v));
        return true;
    default: sqlite3_result_error(ctx, "JSON cannot hold BLOB values", -1); return false;
    }
}

static void jarray_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    sqlite3_str *e = sqlite3_str_new(NULL);

    (void)argc;
    if (jagg_json(ctx, e, argv[0]))
        jagg_add(ctx, "json_group_array", e);
    sqlite3_free(sqlite3_str_finish(e));
}

static void jobject_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    sqlite3_str *e = sqlite3_str_new(NULL);

    (void)argc;
    jagg_string(e, sqlite3_value_text(argv[0]), (size_t)sqlite3_value_bytes(argv[0]));
    sqlite3_str_appendchar(e, 1, ':');
    if (jagg_json(ctx, e, argv[1]))
        jagg_add(ctx, "json_group_object", e);
    sqlite3_free(sqlite3_str_finish(e));
}

static void jagg_inverse(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct jagg **pa = sqlite3_aggregate_context(ctx, 0), *a;

    (void)argc;
    (void)argv;
    if (pa == NULL || (a = *pa) == NULL || a->first >= a->n)
        return;
    a->start += a->lens[a->first];
    if (++a->first < a->n)
        a->start++; /* the comma after it */
    if (a->first == a->n)
        a->start = a->len = a->first = a->n = 0;
}

static void jagg_result(sqlite3_context *ctx, const char *open_close, bool final)
{
    struct jagg **pa = sqlite3_aggregate_context(ctx, 0), *a = pa ? *pa : NULL;
    size_t n = a ? a->len - a->start : 0;
    char *out = sqlite3_malloc64(n + 3);

    if (out == NULL) {
        sqlite3_result_error_nomem(ctx);
    } else {
        out[0] = open_close[0];
        if (n > 0)
            memcpy(out + 1, a->buf + a->start, n);
        out[n + 1] = open_close[1];
        out[n + 2] = '\0';
        sqlite3_result_text64(ctx, out, n + 2, sqlite3_free, SQLITE_UTF8);
        sqlite3_result_subtype(ctx, JSON_SUBTYPE);
    }
    if (final && a != NULL) {
        sqlite3_free(a->buf);
        sqlite3_free(a->lens);
        sqlite3_free(a);
        *pa = NULL;
    }
}

static void jarray_value(sqlite3_context *ctx) { jagg_result(ctx, "[]", false); }
static void jarray_final(sqlite3_context *ctx) { jagg_result(ctx, "[]", true); }
static void jobject_value(sqlite3_context *ctx) { jagg_result(ctx, "{}", false); }
static void jobject_final(sqlite3_context *ctx) { jagg_result(ctx, "{}", true); }

/* ---- installing them ------------------------------------------------------------------------- */

#define PURE (SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS)

struct scalar {
    const char *name;
    int nargs;
    void (*fn)(sqlite3_context *, int, sqlite3_value **);
    enum fwd fwd;
    int64_t budget;
    int flags;
};

static const struct scalar scalars[] = {
    {"instr", 2, guarded_pair, FWD_INSTR, SCAN_BUDGET, PURE},
    {"replace", 3, guarded_pair, FWD_REPLACE, SCAN_BUDGET, PURE},
    {"like", 2, guarded_pair, FWD_LIKE2, MATCH_BUDGET, PURE},
    {"like", 3, guarded_pair, FWD_LIKE3, MATCH_BUDGET, PURE},
    {"glob", 2, guarded_pair, FWD_GLOB, MATCH_BUDGET, PURE},
    {"trim", 2, guarded_pair, FWD_TRIM, TRIM_BUDGET, PURE},
    {"ltrim", 2, guarded_pair, FWD_LTRIM, TRIM_BUDGET, PURE},
    {"rtrim", 2, guarded_pair, FWD_RTRIM, TRIM_BUDGET, PURE},
    {"json_patch", 2, guarded_pair, FWD_PATCH, PATCH_BUDGET, PURE},
    {"printf", -1, guarded_printf, FWD_PRINTF, 0, PURE},
    {"format", -1, guarded_printf, FWD_PRINTF, 0, PURE},
    {"zeroblob", 1, guarded_zeroblob, FWD_NONE, 0, PURE},
    {"randomblob", 1, guarded_randomblob, FWD_NONE, 0, SQLITE_UTF8 | SQLITE_INNOCUOUS},
};
#define N_SCALARS (sizeof(scalars) / sizeof(scalars[0]))

/* The guard and the user data of every function, in one allocation. */
struct guard_set {
    struct web_sqlguard g;
    struct guarded fns[N_SCALARS + 2];
};

static int install_aggregates(sqlite3 *db, struct guard_set *s)
{
    int rc;

    s->fns[N_SCALARS] = (struct guarded){&s->g, "json_group_array", FWD_NONE, 0};
    s->fns[N_SCALARS + 1] = (struct guarded){&s->g, "json_group_object", FWD_NONE, 0};
    rc = sqlite3_create_window_function(db, "json_group_array", 1, PURE | SQLITE_SUBTYPE,
                                        &s->fns[N_SCALARS], jarray_step, jarray_final,
                                        jarray_value, jagg_inverse, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_window_function(db, "json_group_object", 2, PURE | SQLITE_SUBTYPE,
                                            &s->fns[N_SCALARS + 1], jobject_step, jobject_final,
                                            jobject_value, jagg_inverse, NULL);
    return rc;
}

struct web_sqlguard *web_sqlguard_install(sqlite3 *db, char *err, size_t errlen)
{
    struct guard_set *s = calloc(1, sizeof(*s));
    int rc = SQLITE_OK;

    if (s == NULL) {
        snprintf(err, errlen, "SQL console: out of memory");
        return NULL;
    }
    s->g.max_bytes = sqlite3_limit(db, SQLITE_LIMIT_LENGTH, -1);
    if (sqlite3_open_v2(":memory:", &s->g.builtins, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "SQL console: cannot open its functions' connection");
        web_sqlguard_free(&s->g);
        return NULL;
    }
    /* The builtins answer within the console's own limits. */
    sqlite3_limit(s->g.builtins, SQLITE_LIMIT_LENGTH, (int)s->g.max_bytes);
    sqlite3_limit(s->g.builtins, SQLITE_LIMIT_LIKE_PATTERN_LENGTH,
                  sqlite3_limit(db, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, -1));
    for (size_t i = 0; i < N_SCALARS && rc == SQLITE_OK; i++) {
        const struct scalar *f = &scalars[i];
        s->fns[i] = (struct guarded){&s->g, f->name, f->fwd, f->budget};
        rc = sqlite3_create_function_v2(db, f->name, f->nargs, f->flags, &s->fns[i], f->fn, NULL,
                                        NULL, NULL);
    }
    if (rc == SQLITE_OK)
        rc = install_aggregates(db, s);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "SQL console: cannot install its functions: %s", sqlite3_errstr(rc));
        web_sqlguard_free(&s->g);
        return NULL;
    }
    return &s->g;
}

void web_sqlguard_free(struct web_sqlguard *g)
{
    if (g == NULL)
        return;
    for (int i = 0; i < FWD_FIXED; i++)
        sqlite3_finalize(g->fixed[i]);
    for (int i = 0; i <= ARGS_MAX; i++)
        sqlite3_finalize(g->printf_st[i]);
    sqlite3_close(g->builtins);
    free(g); /* g is the first member of its guard_set */
}
