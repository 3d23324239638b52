/*
 * A minimal test harness. Each test is a function; RUN() calls it and prints
 * "ok NAME" or "FAIL NAME" (tests/run.sh counts those lines). A CHECK that
 * fails prints where and what, and the test goes on so one run shows all.
 */
#ifndef WARDEN_CHECK_H
#define WARDEN_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;
static int check_total_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);            \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        if (check_a_ != check_b_) {                                                                \
            fprintf(stderr, "  %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a,  \
                    check_a_, #b, check_b_);                                                       \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *check_a_ = (a), *check_b_ = (b);                                               \
        if (check_a_ == NULL || check_b_ == NULL ? check_a_ != check_b_                            \
                                                 : strcmp(check_a_, check_b_) != 0) {              \
            fprintf(stderr, "  %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a,    \
                    check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)");               \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        check_failures = 0;                                                                        \
        fn();                                                                                      \
        printf("%s %s\n", check_failures ? "FAIL" : "ok", #fn);                                    \
        fflush(stdout);                                                                            \
        if (check_failures)                                                                        \
            check_total_failed++;                                                                  \
    } while (0)

#define CHECK_DONE() (check_total_failed ? 1 : 0)

/* A whole fixture file (tests run from the repository root), NUL-terminated; the caller frees. */
static inline char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) == NULL ||
        fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s (run from the repository root)\n", path);
        exit(2);
    }
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

#endif
