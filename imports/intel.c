/*
 * imports/intel.c: `warden intel load | list | drop` (SPEC 4.4), which keep
 * the threat-intelligence lists in intel_lists and intel_ranges, and the
 * version counter that tells the evaluator when to rebuild its matcher.
 *
 * A load reads the file twice: the first pass checks every line and counts
 * the entries, so a bad line stops the load before anything is written; the
 * second parses again and writes the list in one transaction, with the
 * version bumped in the same one.
 *
 * The top of the lists' files: it calls intel_parse.c for each line, the
 * inline helpers of intelpriv.h for the 16-byte form of intel_ranges,
 * common/ and the store; nothing of the lists calls back into it.
 */
#include "imports.h"
#include "intelpriv.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
