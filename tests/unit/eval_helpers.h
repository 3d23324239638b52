/*
 * What the tests of the evaluator's imports share: a scratch directory with
 * a fresh database (store_open applies every migration), files written into
 * it, a command's stdout and stderr captured, and one-value SQL reads. The
 * directory is removed by tdb_close().
 */
#ifndef WARDEN_EVAL_HELPERS_H
#define WARDEN_EVAL_HELPERS_H

#include "../../store/store.h"
#include "check.h"

#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Each test uses some of these only. */
#define HELPER static __attribute__((unused))

struct tdb {
    char dir[64];
    char path[128];
    struct store *s;
    sqlite3 *db;
    struct config cfg; /* defaults, with db.path the test's database */
    int saved_out, saved_err;
    char out[65536]; /* the last captured stdout */
    char err[8192];  /* the last captured stderr */
};

HELPER void tdb_open(struct tdb *t)
{
    char why[256];

    memset(t, 0, sizeof(*t));
    snprintf(t->dir, sizeof(t->dir), "/tmp/warden-test-XXXXXX");
    if (mkdtemp(t->dir) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
    snprintf(t->path, sizeof(t->path), "%s/warden.db", t->dir);
    config_defaults(&t->cfg);
    snprintf(t->cfg.db_path, sizeof(t->cfg.db_path), "%s", t->path);
    if ((t->s = store_open(t->path, why, sizeof(why))) == NULL) {
        fprintf(stderr, "store_open: %s\n", why);
        exit(2);
    }
    t->db = store_sqlite(t->s);
}

HELPER void tdb_close(struct tdb *t)
{
    DIR *d;
    struct dirent *e;

    store_close(t->s);
    if ((d = opendir(t->dir)) != NULL) {
        while ((e = readdir(d)) != NULL) {
            char p[512];
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof(p), "%s/%s", t->dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(t->dir);
}

/* Write text to a file called name in the scratch directory; its path goes to path. */
HELPER void tdb_file(struct tdb *t, const char *name, const char *text, char *path, size_t len)
{
    FILE *f;

    snprintf(path, len, "%s/%s", t->dir, name);
    if ((f = fopen(path, "wb")) == NULL || fputs(text, f) == EOF || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}


/* Send stdout and stderr to files until capture_end(), which reads them into t->out, t->err. */
HELPER void capture_begin(struct tdb *t)
{
    char p[128];
    int fd;

    fflush(stdout);
    fflush(stderr);
    t->saved_out = dup(1);
    t->saved_err = dup(2);
    snprintf(p, sizeof(p), "%s/stdout", t->dir);
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    close(fd);
    snprintf(p, sizeof(p), "%s/stderr", t->dir);
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    close(fd);
}

HELPER void read_into(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, len - 1, f) : 0;

    buf[n] = '\0';
    if (f)
        fclose(f);
}

HELPER void capture_end(struct tdb *t)
{
    char p[128];

    fflush(stdout);
    fflush(stderr);
    dup2(t->saved_out, 1);
    dup2(t->saved_err, 2);
    close(t->saved_out);
    close(t->saved_err);
    snprintf(p, sizeof(p), "%s/stdout", t->dir);
    read_into(p, t->out, sizeof(t->out));
    snprintf(p, sizeof(p), "%s/stderr", t->dir);
    read_into(p, t->err, sizeof(t->err));
}

/* The first column of the first row of sql with one optional text parameter; -1 when none. */
HELPER long long sql_int(struct tdb *t, const char *sql, const char *param)
{
    sqlite3_stmt *st;
    long long v = -1;

    if (sqlite3_prepare_v2(t->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "  sql: %s: %s\n", sql, sqlite3_errmsg(t->db));
        return -1;
    }
    if (param != NULL)
        sqlite3_bind_text(st, 1, param, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Like sql_int, for text: copied into out ("" when no row or NULL). */
HELPER const char *sql_text(struct tdb *t, const char *sql, const char *param, char *out,
                            size_t len)
{
    sqlite3_stmt *st;

    out[0] = '\0';
    if (sqlite3_prepare_v2(t->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "  sql: %s: %s\n", sql, sqlite3_errmsg(t->db));
        return out;
    }
    if (param != NULL)
        sqlite3_bind_text(st, 1, param, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
        snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

HELPER void sql_exec(struct tdb *t, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(t->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "  sql: %s: %s\n", sql, msg ? msg : "?");
        sqlite3_free(msg);
        check_failures++;
    }
}

#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *check_h_ = (hay), *check_n_ = (needle);                                        \
        if (check_h_ == NULL || strstr(check_h_, check_n_) == NULL) {                              \
            fprintf(stderr, "  %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,       \
                    check_h_ ? check_h_ : "(null)", check_n_);                                     \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#endif
