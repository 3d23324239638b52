/*
 * Unit tests of threat intelligence (imports/intel*.c, SPEC 4.4): the line
 * parser on every list format, `warden intel load | list | drop` against a
 * temporary database, the matcher's attribution of overlapping ranges and its
 * boundaries, the bogon table, and a randomized comparison of the matcher
 * with a linear scan. Run from the repository root.
 */
#include "../../evaluator/evaluator.h"
#include "../../imports/imports.h"
#include "../../imports/intel.h"
#include "check.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#define FIXTURES "tests/fixtures/intel/"
#define T_LOAD   1795946400000LL /* 2026-11-29T10:00:00Z in unix ms */

static char tmpdir[64];
static int db_count;

/* ---- helpers -------------------------------------------------------------------- */

static struct store *fresh_db(void)
{
    char path[128], err[256];
    struct store *s;

    snprintf(path, sizeof(path), "%s/db%d.sqlite", tmpdir, ++db_count);
    if ((s = store_open(path, err, sizeof(err))) == NULL) {
        fprintf(stderr, "store_open: %s\n", err);
        exit(2);
    }
    return s;
}

static void tmp_path(char *out, size_t outlen, const char *name)
{
    snprintf(out, outlen, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
}

/* What one `warden intel ...` printed, and its exit status. */
struct run {
    int rc;
    char out[8192], err[8192];
};

static void slurp_stream(FILE *f, char *buf, size_t cap)
{
    size_t n;

    rewind(f);
    n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Run eval_cmd_intel with "intel" and the NULL-terminated arguments, capturing its output. */
static void intel_cmd(struct store *s, struct run *r, ...)
{
    char *argv[16];
    int argc = 0, saved_out, saved_err;
    FILE *out = tmpfile(), *err = tmpfile();
    va_list ap;
    const char *a;

    argv[argc++] = (char *)"intel";
    va_start(ap, r);
    while ((a = va_arg(ap, const char *)) != NULL && argc < 15)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    saved_out = dup(STDOUT_FILENO);
    saved_err = dup(STDERR_FILENO);
    dup2(fileno(out), STDOUT_FILENO);
    dup2(fileno(err), STDERR_FILENO);
    r->rc = import_cmd_intel(argc, argv, s);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, STDOUT_FILENO);
    dup2(saved_err, STDERR_FILENO);
    close(saved_out);
    close(saved_err);
    slurp_stream(out, r->out, sizeof(r->out));
    slurp_stream(err, r->err, sizeof(r->err));
}

static struct intel *build(struct store *s)
{
    char err[256];
    struct intel *in = intel_build(store_sqlite(s), err, sizeof(err));

    if (in == NULL)
        fprintf(stderr, "  intel_build: %s\n", err);
    return in;
}

static struct ip_addr addr(const char *text)
{
    struct ip_addr a;

    if (!ip_parse(text, &a))
        fprintf(stderr, "  bad address in test: %s\n", text);
    return a;
}

/* The list that matches text, or NULL; *category too when asked. */
static const char *match(const struct intel *in, const char *text, const char **category)
{
    struct ip_addr a = addr(text);
    const char *list = NULL, *cat = NULL;

    if (!intel_match(in, &a, &list, &cat))
        return NULL;
    if (category != NULL)
        *category = cat;
    return list;
}

static int64_t query_int(struct store *s, const char *sql, const char *arg)
{
    sqlite3_stmt *st;
    int64_t v = -1;

    if (sqlite3_prepare_v2(store_sqlite(s), sql, -1, &st, NULL) != SQLITE_OK)
        return -2;
    if (arg != NULL)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int64_t list_entries(struct store *s, const char *name)
{
    return query_int(s, "SELECT entries FROM intel_lists WHERE name = ?1", name);
}

static int64_t list_ranges(struct store *s, const char *name)
{
    return query_int(s, "SELECT count(*) FROM intel_ranges WHERE list = ?1", name);
}

static struct intel_entry parse(const char *line, bool *ok)
{
    struct intel_entry e;
    char err[128];

    *ok = intel_parse_line(line, strlen(line), &e, err, sizeof(err));
    return e;
}

static bool entry_is(const struct intel_entry *e, const char *first, const char *last, int prefix)
{
    struct ip_addr f = addr(first), l = addr(last);

    return e->kind == INTEL_LINE_ENTRY && e->prefix == prefix && e->first.family == f.family &&
           memcmp(e->first.b, f.b, 16) == 0 && memcmp(e->last.b, l.b, 16) == 0;
}

static bool span_is(const char *p, size_t n, const char *want)
{
    return p != NULL && n == strlen(want) && memcmp(p, want, n) == 0;
}

/* ---- the line parser ------------------------------------------------------------- */

static void parse_line_reads_every_format(void)
{
    struct intel_entry e;
    bool ok;

    e = parse("1.2.3.4", &ok);
    CHECK(ok && entry_is(&e, "1.2.3.4", "1.2.3.4", 32) && e.category == NULL);
    e = parse("  10.0.0.0/8\t# private, but lists carry it", &ok);
    CHECK(ok && entry_is(&e, "10.0.0.0", "10.255.255.255", 8));
    CHECK(span_is(e.text, e.text_len, "10.0.0.0/8") && e.category == NULL);
    e = parse("1.10.16.0/20 ; SBL256894", &ok);
    CHECK(ok && entry_is(&e, "1.10.16.0", "1.10.31.255", 20));
    CHECK(span_is(e.category, e.category_len, "SBL256894"));
    e = parse("2001:db8::/32", &ok);
    CHECK(ok && entry_is(&e, "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 32));
    e = parse("1.2.3.4,malware,90", &ok);
    CHECK(ok && entry_is(&e, "1.2.3.4", "1.2.3.4", 32));
    CHECK(span_is(e.category, e.category_len, "malware"));
    e = parse("\"194.26.29.0/24\",\"botnet c2\",95", &ok);
    CHECK(ok && entry_is(&e, "194.26.29.0", "194.26.29.255", 24));
    CHECK(span_is(e.text, e.text_len, "194.26.29.0/24"));
    CHECK(span_is(e.category, e.category_len, "botnet c2"));
    e = parse("45.95.147.0/24,\"c2, malware\",99", &ok);
    CHECK(ok && span_is(e.category, e.category_len, "c2, malware"));
    e = parse("71.6.135.131,,20", &ok);
    CHECK(ok && e.kind == INTEL_LINE_ENTRY && e.category == NULL);
    e = parse("45.95.147.200 first-seen=2024-01-01 hits=17", &ok);
    CHECK(ok && entry_is(&e, "45.95.147.200", "45.95.147.200", 32) && e.category == NULL);
    e = parse("2a0e:fd45:b0::/44\r", &ok);
    CHECK(ok && entry_is(&e, "2a0e:fd45:b0::", "2a0e:fd45:bf:ffff:ffff:ffff:ffff:ffff", 44));
    e = parse("::ffff:93.184.216.0/120", &ok);
    CHECK(ok && entry_is(&e, "::ffff:93.184.216.0", "::ffff:93.184.216.255", 120));

    const char *skipped[] = {"", "   ", "\r", "# comment", "; Spamhaus header", "  # indented"};
    for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++) {
        e = parse(skipped[i], &ok);
        CHECK(ok && e.kind == INTEL_LINE_SKIP);
    }
}

static void parse_line_rejects_bad_lines(void)
{
    const char *bad[] = {
        "hello",
        "1.2.3",
        "1.2.3.4/33",
        "::/129",
        "1.2.3.4-1.2.3.9",
        "/24",
        "1.2.3.4/",
        "1.2.3.4/24x",
        "1.2.3.4/-1",
        "256.1.1.1",
        "fe80::1%eth0",
        "1.2.3.4,bad\001category",
        "1.2.3.4,\xff\xfe",
        "\"1.2.3.4",
        "1.2.3.4/0024",
        "::ffff:1.2.3.4.5",
    };
    struct intel_entry e;
    char err[128];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (intel_parse_line(bad[i], strlen(bad[i]), &e, err, sizeof(err))) {
            fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
            CHECK(false);
        }
        CHECK(err[0] != '\0');
    }
    /* A NUL inside the length given is data, not the end of the line. */
    CHECK(!intel_parse_line("1.2.\0.4", 7, &e, err, sizeof(err)));
}

static void parse_line_cuts_long_category_at_char_boundary(void)
{
    char line[512];
    struct intel_entry e;
    char err[128];
    size_t n = (size_t)snprintf(line, sizeof(line), "1.2.3.4,");

    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(line + n, sizeof(line) - n, "\xc3\xa9"); /* é, two bytes */
    CHECK(intel_parse_line(line, n, &e, err, sizeof(err)));
    CHECK(e.category_len <= INTEL_MAX_CATEGORY && e.category_len >= INTEL_MAX_CATEGORY - 1);
    CHECK(e.category_len % 2 == 0 && utf8_valid(e.category, e.category_len));
}

static void csv_header_detected_only_as_header(void)
{
    CHECK(intel_line_is_header("ip,category,score", 17));
    CHECK(intel_line_is_header("\"IP Address\",\"Category\"", 23));
    CHECK(intel_line_is_header("network , tag", 13));
    CHECK(!intel_line_is_header("1.2.3.4,x", 9));
    CHECK(!intel_line_is_header("hello", 5));
    CHECK(!intel_line_is_header("abc::1,x", 8));
    CHECK(!intel_line_is_header("", 0));
}

/* ---- loading each format ---------------------------------------------------------- */

static void load_firehol_netset_with_bogons(void)
{
    struct store *s = fresh_db();
    struct intel *in;
    struct run r;

    intel_cmd(s, &r, "load", FIXTURES "firehol_level1.netset", NULL);
    CHECK_INT(r.rc, 0);
    CHECK(strstr(r.out, "firehol_level1") != NULL);
    CHECK_INT(list_entries(s, "firehol_level1"), 16);
    CHECK_INT(list_ranges(s, "firehol_level1"), 16);
    in = build(s);
    CHECK_STR(match(in, "1.10.20.30", NULL), "firehol_level1");
    CHECK_STR(match(in, "23.94.26.58", NULL), "firehol_level1");
    CHECK_STR(match(in, "239.1.2.3", NULL), "firehol_level1"); /* 224.0.0.0/3 */
    CHECK(match(in, "23.94.26.59", NULL) == NULL);
    CHECK(match(in, "8.8.8.8", NULL) == NULL);
    /* A list with private ranges loads; the evaluator's bogon check is what skips them. */
    CHECK_STR(match(in, "10.1.2.3", NULL), "firehol_level1");
    CHECK(intel_is_bogon(&(struct ip_addr){4, {10, 1, 2, 3}}));
    intel_free(in);
    store_close(s);
}

static void load_spamhaus_drop_sbl_as_category(void)
{
    struct store *s = fresh_db();
    const char *cat = NULL;
    struct intel *in;
    struct run r;

    intel_cmd(s, &r, "load", FIXTURES "spamhaus_drop.txt", NULL);
    CHECK_INT(r.rc, 0);
    CHECK_INT(list_entries(s, "spamhaus_drop"), 10);
    in = build(s);
    CHECK_STR(match(in, "1.10.16.5", &cat), "spamhaus_drop");
    CHECK_STR(cat, "SBL256894");
    CHECK_STR(match(in, "27.126.175.255", &cat), "spamhaus_drop");
    CHECK_STR(cat, "SBL551287");
    CHECK(match(in, "27.126.176.0", NULL) == NULL);
    intel_free(in);
    store_close(s);
}

static void load_plain_list_ipv6_crlf_extra_columns(void)
{
    struct store *s = fresh_db();
    const char *cat = (const char *)1;
    struct intel *in;
    struct run r;

    intel_cmd(s, &r, "load", FIXTURES "plain_mixed.txt", "--name", "plain", NULL);
    CHECK_INT(r.rc, 0);
    CHECK_INT(list_entries(s, "plain"), 9);
    in = build(s);
    CHECK_STR(match(in, "198.51.100.7", &cat), "plain");
    CHECK(cat == NULL);
    CHECK_STR(match(in, "203.0.113.127", NULL), "plain");
    CHECK(match(in, "203.0.113.128", NULL) == NULL);
    CHECK_STR(match(in, "45.95.147.200", NULL), "plain");
    CHECK_STR(match(in, "62.210.255.255", NULL), "plain");
    CHECK_STR(match(in, "2001:db8:dead:beef::1", NULL), "plain");
    CHECK(match(in, "2001:db8:deae::", NULL) == NULL);
    CHECK_STR(match(in, "2a0e:fd45:bf::1", NULL), "plain");
    CHECK_STR(match(in, "2606:4700:4700::1111", NULL), "plain");
    CHECK(match(in, "2606:4700:4700::1112", NULL) == NULL);
    /* ::ffff:93.184.216.0/120 is an IPv4 range, written as IPv6. */
    CHECK_STR(match(in, "93.184.216.34", NULL), "plain");
    CHECK_STR(match(in, "fe80::1", NULL), "plain");
    intel_free(in);
    store_close(s);
}

static void load_csv_with_header_and_categories(void)
{
    struct store *s = fresh_db();
    const char *cat = NULL;
    struct intel *in;
    struct run r;

    intel_cmd(s, &r, "load", FIXTURES "scores.csv", NULL);
    CHECK_INT(r.rc, 0);
    CHECK_INT(list_entries(s, "scores"), 6);
    in = build(s);
    CHECK_STR(match(in, "185.220.101.34", &cat), "scores");
    CHECK_STR(cat, "tor-exit");
    CHECK_STR(match(in, "162.142.125.9", &cat), "scores");
    CHECK_STR(cat, "scanner");
    CHECK_STR(match(in, "194.26.29.1", &cat), "scores");
    CHECK_STR(cat, "botnet c2");
    CHECK_STR(match(in, "71.6.135.131", &cat), "scores");
    CHECK(cat == NULL);
    CHECK_STR(match(in, "2a03:b0c0:3:d0::abcd", &cat), "scores");
    CHECK_STR(cat, "scanner");
    CHECK_STR(match(in, "45.95.147.1", &cat), "scores");
    CHECK_STR(cat, "c2, malware");
    intel_free(in);
    store_close(s);
}

static void load_csv_without_header_and_header_only_first(void)
{
    struct store *s = fresh_db();
    char path[128];
    struct run r;

    tmp_path(path, sizeof(path), "noheader.csv");
    write_file(path, "1.2.3.4,scanner,10\n5.6.7.8,c2,90\n");
    intel_cmd(s, &r, "load", path, NULL);
    CHECK_INT(r.rc, 0);
    CHECK_INT(list_entries(s, "noheader"), 2);
    /* A header-like line after the first entry is a bad line, not a header. */
    tmp_path(path, sizeof(path), "late_header.csv");
    write_file(path, "1.2.3.4,scanner,10\nip,category,score\n");
    intel_cmd(s, &r, "load", path, NULL);
    CHECK_INT(r.rc, 2);
    CHECK(strstr(r.err, ":2:") != NULL);
    CHECK_INT(list_entries(s, "late_header"), -1);
    store_close(s);
}

static void load_names_default_explicit_and_invalid(void)
{
    struct store *s = fresh_db();
    char path[128];
    struct run r;

    tmp_path(path, sizeof(path), "my.list.v2.txt");
    write_file(path, "1.2.3.4\n");
    intel_cmd(s, &r, "load", path, NULL);
    CHECK_INT(r.rc, 0);
    CHECK_INT(list_entries(s, "my.list.v2"), 1);
    intel_cmd(s, &r, "load", "--name", "custom", path, NULL);
    CHECK_INT(r.rc, 0);
    CHECK_INT(list_entries(s, "custom"), 1);
    intel_cmd(s, &r, "load", path, "--name", "bad name", NULL);
    CHECK_INT(r.rc, 2);
    CHECK(strstr(r.err, "not a valid list name") != NULL);
    intel_cmd(s, &r, "load", path, "--name", "", NULL);
    CHECK_INT(r.rc, 2);
    store_close(s);
}

/* ---- matching ------------------------------------------------------------------------ */

/* A matcher for lines of text, all on one list. */
static struct intel *build_lines(const char *list, const char *const *lines, size_t n)
{
    struct intel_range r[32];
    struct intel_entry e;
    char err[128];
    struct intel *in;

    for (size_t i = 0; i < n && i < 32; i++) {
        if (!intel_parse_line(lines[i], strlen(lines[i]), &e, err, sizeof(err)))
            fprintf(stderr, "  %s: %s\n", lines[i], err);
        r[i] = (struct intel_range){e.first, e.last, list, NULL};
    }
    in = intel_build_ranges(r, n, err, sizeof(err));
    if (in == NULL)
        fprintf(stderr, "  intel_build_ranges: %s\n", err);
    return in;
}

static void every_prefix_length_matches_its_range(void)
{
    static const char *const v4[] = {"128.0.0.0/1", "10.0.0.6/31", "10.0.0.9/32"};
    static const char *const v6[] = {"8000::/1", "2001:db8::2/127", "2001:db8::9/128"};
    static const char *const all4[] = {"0.0.0.0/0"};
    static const char *const all6[] = {"::/0"};
    struct intel *in = build_lines("p", v4, 3);

    CHECK(match(in, "128.0.0.0", NULL) && match(in, "255.255.255.255", NULL));
    CHECK(!match(in, "127.255.255.255", NULL));
    CHECK(match(in, "10.0.0.6", NULL) && match(in, "10.0.0.7", NULL));
    CHECK(!match(in, "10.0.0.5", NULL) && !match(in, "10.0.0.8", NULL));
    CHECK(match(in, "10.0.0.9", NULL) && !match(in, "10.0.0.10", NULL));
    intel_free(in);
    in = build_lines("p", v6, 3);
    CHECK(match(in, "8000::", NULL) && match(in, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL));
    CHECK(!match(in, "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL));
    CHECK(match(in, "2001:db8::2", NULL) && match(in, "2001:db8::3", NULL));
    CHECK(!match(in, "2001:db8::1", NULL) && !match(in, "2001:db8::4", NULL));
    CHECK(match(in, "2001:db8::9", NULL) && !match(in, "2001:db8::8", NULL));
    intel_free(in);
    /* /0 is accepted (SPEC 4.4: any prefix length) and matches the whole family. */
    in = build_lines("p", all4, 1);
    CHECK(match(in, "0.0.0.0", NULL) && match(in, "255.255.255.255", NULL));
    CHECK(match(in, "::ffff:8.8.8.8", NULL) && !match(in, "2001:db8::1", NULL));
    intel_free(in);
    in = build_lines("p", all6, 1);
    CHECK(match(in, "::", NULL) && match(in, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL));
    CHECK(!match(in, "8.8.8.8", NULL) && !match(in, "::ffff:8.8.8.8", NULL));
    intel_free(in);
}

static void zero_prefix_loads_with_a_warning(void)
{
    struct store *s = fresh_db();
    char path[128];
    struct run r;

    tmp_path(path, sizeof(path), "everything.txt");
    write_file(path, "0.0.0.0/0\n");
    intel_cmd(s, &r, "load", path, NULL);
    CHECK_INT(r.rc, 0);
    CHECK(strstr(r.err, "everything.txt:1: warning") != NULL);
    store_close(s);
}

static void host_bits_are_normalised(void)
{
    struct intel_entry e;
    bool ok;

    e = parse("192.168.77.1/16", &ok);
    CHECK(ok && entry_is(&e, "192.168.0.0", "192.168.255.255", 16));
    e = parse("10.1.2.3/7", &ok);
    CHECK(ok && entry_is(&e, "10.0.0.0", "11.255.255.255", 7));
    e = parse("2001:db8:1:2:3:4:5:6/33", &ok);
    CHECK(ok && entry_is(&e, "2001:db8::", "2001:db8:7fff:ffff:ffff:ffff:ffff:ffff", 33));
    CHECK(span_is(e.text, e.text_len, "2001:db8:1:2:3:4:5:6/33"));
}

static void overlap_most_specific_then_list_name(void)
{
    /* Loaded into "zeta" then "alpha", so the rule, not load order, decides. */
    struct intel_range r[8];
    const char *cat = NULL;
    char err[128];
    struct intel *in;
    int n = 0;

    r[n++] = (struct intel_range){addr("10.0.0.0"), addr("10.255.255.255"), "zeta", "wide"};
    r[n++] = (struct intel_range){addr("10.1.0.0"), addr("10.1.255.255"), "alpha", "mid"};
    r[n++] = (struct intel_range){addr("10.1.2.0"), addr("10.1.2.255"), "zeta", "narrow"};
    /* The same /24 on both lists: equal size, so the list name decides. */
    r[n++] = (struct intel_range){addr("10.2.0.0"), addr("10.2.0.255"), "zeta", "z"};
    r[n++] = (struct intel_range){addr("10.2.0.0"), addr("10.2.0.255"), "alpha", "a"};
    /* Same list and range, with and without a category: none first. */
    r[n++] = (struct intel_range){addr("10.3.0.0"), addr("10.3.0.255"), "alpha", "x"};
    r[n++] = (struct intel_range){addr("10.3.0.0"), addr("10.3.0.255"), "alpha", NULL};
    r[n++] = (struct intel_range){addr("10.3.0.0"), addr("10.3.0.255"), "alpha", "x"};
    in = intel_build_ranges(r, (size_t)n, err, sizeof(err));
    CHECK(in != NULL);
    CHECK_STR(match(in, "10.0.0.1", &cat), "zeta");
    CHECK_STR(cat, "wide");
    CHECK_STR(match(in, "10.1.0.0", &cat), "alpha");
    CHECK_STR(cat, "mid");
    CHECK_STR(match(in, "10.1.2.0", &cat), "zeta");
    CHECK_STR(cat, "narrow");
    CHECK_STR(match(in, "10.1.2.255", &cat), "zeta");
    CHECK_STR(match(in, "10.1.3.0", &cat), "alpha");
    CHECK_STR(match(in, "10.1.1.255", &cat), "alpha");
    CHECK_STR(match(in, "10.2.0.77", &cat), "alpha");
    CHECK_STR(cat, "a");
    CHECK_STR(match(in, "10.3.0.1", &cat), "alpha");
    CHECK(cat == NULL);
    CHECK_STR(match(in, "10.255.255.255", &cat), "zeta");
    intel_free(in);
}

static void overlap_across_two_loaded_lists(void)
{
    struct store *s = fresh_db();
    char a[128], b[128];
    const char *cat = NULL;
    struct intel *in;
    struct run r;

    tmp_path(a, sizeof(a), "wide.txt");
    tmp_path(b, sizeof(b), "narrow.csv");
    write_file(a, "185.220.0.0/16 ; SBL1\n185.220.101.0/24 ; SBL2\n185.220.101.0/24\n");
    write_file(b, "185.220.101.32/28,tor-exit,90\n2001:db8::/32,doc,1\n");
    intel_cmd(s, &r, "load", a, NULL);
    CHECK_INT(r.rc, 0);
    intel_cmd(s, &r, "load", b, NULL);
    CHECK_INT(r.rc, 0);
    in = build(s);
    CHECK_STR(match(in, "185.220.1.1", &cat), "wide");
    CHECK_STR(cat, "SBL1");
    /* The /24 appears twice on "wide": without a category first. */
    CHECK_STR(match(in, "185.220.101.1", &cat), "wide");
    CHECK(cat == NULL);
    CHECK_STR(match(in, "185.220.101.34", &cat), "narrow");
    CHECK_STR(cat, "tor-exit");
    CHECK_STR(match(in, "185.220.101.48", &cat), "wide");
    intel_free(in);
    store_close(s);
}

static void mapped_ipv6_lookups_match_ipv4_lists(void)
{
    static const char *const lines[] = {"203.0.113.0/24", "::ffff:198.51.100.0/120",
                                        "2001:db8::/32"};
    struct intel *in = build_lines("m", lines, 3);

    CHECK_STR(match(in, "::ffff:203.0.113.9", NULL), "m");
    CHECK_STR(match(in, "203.0.113.9", NULL), "m");
    CHECK_STR(match(in, "198.51.100.200", NULL), "m");
    CHECK_STR(match(in, "::ffff:198.51.100.200", NULL), "m");
    CHECK(match(in, "::ffff:203.0.114.0", NULL) == NULL);
    /* IPv4-compatible (::a.b.c.d) is not mapped: it stays IPv6. */
    CHECK(match(in, "::203.0.113.9", NULL) == NULL);
    intel_free(in);
}

static void ipv6_range_covering_mapped_block_does_not_match_ipv4(void)
{
    /* Bogon lists carry ::/8, which contains ::ffff:0:0/96. */
    static const char *const lines[] = {"::/8", "1.2.3.0/24"};
    struct intel *in = build_lines("bogons6", lines, 2);

    CHECK(match(in, "::1", NULL) != NULL);
    CHECK(match(in, "ff:ffff::", NULL) != NULL);
    CHECK(match(in, "8.8.8.8", NULL) == NULL);
    CHECK(match(in, "::ffff:8.8.8.8", NULL) == NULL);
    CHECK(match(in, "1.2.3.4", NULL) != NULL);
    intel_free(in);
}

static void range_boundaries_first_last_match_neighbours_do_not(void)
{
    static const char *const lines[] = {"192.0.2.16/28", "192.0.2.48/28", "2001:db8::100/120",
                                        "2001:db8:0:0:ffff:ffff:ffff:ff00/120"};
    struct intel *in = build_lines("b", lines, 4);

    CHECK(match(in, "192.0.2.16", NULL) && match(in, "192.0.2.31", NULL));
    CHECK(!match(in, "192.0.2.15", NULL) && !match(in, "192.0.2.32", NULL));
    CHECK(match(in, "192.0.2.48", NULL) && match(in, "192.0.2.63", NULL));
    CHECK(!match(in, "192.0.2.47", NULL) && !match(in, "192.0.2.64", NULL));
    CHECK(match(in, "2001:db8::100", NULL) && match(in, "2001:db8::1ff", NULL));
    CHECK(!match(in, "2001:db8::ff", NULL) && !match(in, "2001:db8::200", NULL));
    /* A range ending where the low 64 bits carry into the high ones. */
    CHECK(match(in, "2001:db8::ffff:ffff:ffff:ffff", NULL));
    CHECK(!match(in, "2001:db8:0:1::", NULL));
    CHECK(!match(in, "2001:db8::ffff:ffff:ffff:feff", NULL));
    CHECK(!match(in, "0.0.0.0", NULL) && !match(in, "255.255.255.255", NULL));
    CHECK(!match(in, "::", NULL));
    intel_free(in);
    /* An empty matcher, and none at all, match nothing. */
    in = intel_build_ranges(NULL, 0, NULL, 0);
    CHECK(in != NULL && !match(in, "1.2.3.4", NULL) && !match(in, "::1", NULL));
    intel_free(in);
    CHECK(!match(NULL, "1.2.3.4", NULL));
}

static void malformed_ranges_are_refused(void)
{
    struct intel_range r = {addr("10.0.0.9"), addr("10.0.0.1"), "x", NULL};
    char err[128] = "";

    CHECK(intel_build_ranges(&r, 1, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "malformed") != NULL);
    r = (struct intel_range){addr("10.0.0.1"), addr("::1"), "x", NULL};
    CHECK(intel_build_ranges(&r, 1, err, sizeof(err)) == NULL);
    r = (struct intel_range){addr("10.0.0.1"), addr("10.0.0.1"), NULL, NULL};
    CHECK(intel_build_ranges(&r, 1, err, sizeof(err)) == NULL);
}

static void build_skips_malformed_rows(void)
{
    struct store *s = fresh_db();
    struct intel *in;
    struct run r;

    intel_cmd(s, &r, "load", FIXTURES "spamhaus_drop.txt", NULL);
    CHECK_INT(r.rc, 0);
    CHECK(sqlite3_exec(store_sqlite(s),
                       "INSERT INTO intel_ranges (list, first_ip, last_ip) VALUES "
                       "('hand', x'0102', x'0304'), ('hand', 'text', 'text'), "
                       "('hand', x'000000000000000000000000000000ff', "
                       "x'00000000000000000000000000000001')",
                       NULL, NULL, NULL) == SQLITE_OK);
    in = build(s);
    CHECK(in != NULL);
    CHECK_STR(match(in, "1.10.16.5", NULL), "spamhaus_drop");
    intel_free(in);
    store_close(s);
}

static void memory_is_reported(void)
{
    static const char *const lines[] = {"1.0.0.0/8", "2001:db8::/32"};
    struct intel *in = build_lines("mem", lines, 2);

    CHECK(intel_memory(in) > 4 * sizeof(uint32_t));
    CHECK(intel_memory(in) < 1 << 20);
    CHECK_INT(intel_memory(NULL), 0);
    intel_free(in);
}

/* ---- bogons ----------------------------------------------------------------------- */

static void bogon_table_including_mapped_forms(void)
{
    static const char *const bogon[] = {
        "0.0.0.0",
        "0.255.255.255",
        "10.0.0.0",
        "10.255.255.255",
        "100.64.0.0",
        "100.127.255.255",
        "127.0.0.1",
        "169.254.1.1",
        "172.16.0.0",
        "172.31.255.255",
        "192.0.0.8",
        "192.0.2.1",
        "192.168.1.1",
        "198.18.0.0",
        "198.19.255.255",
        "198.51.100.1",
        "203.0.113.255",
        "224.0.0.1",
        "239.255.255.255",
        "240.0.0.0",
        "255.255.255.255",
        "::",
        "::1",
        "fc00::1",
        "fdff::1",
        "fe80::1",
        "febf:ffff::1",
        "ff02::1",
        "2001:db8::1",
        "2001:db8:ffff::1",
        "::ffff:10.1.2.3",
        "::ffff:127.0.0.1",
        "::ffff:192.168.0.1",
        "::ffff:0.0.0.0",
    };
    static const char *const public[] = {
        "1.0.0.0",
        "9.255.255.255",
        "11.0.0.0",
        "100.63.255.255",
        "100.128.0.0",
        "126.255.255.255",
        "128.0.0.0",
        "169.253.255.255",
        "172.15.255.255",
        "172.32.0.0",
        "192.0.1.0",
        "192.0.3.0",
        "192.167.255.255",
        "192.169.0.0",
        "198.17.255.255",
        "198.20.0.0",
        "198.51.99.255",
        "203.0.112.255",
        "223.255.255.255",
        "8.8.8.8",
        "::2",
        "fbff:ffff::1",
        "fec0::1",
        "2001:db7:ffff::1",
        "2001:db9::",
        "2606:4700::1",
        "::ffff:8.8.8.8",
        "::ffff:185.220.101.34",
        "64:ff9b::808:808",
    };
    struct ip_addr a;

    for (size_t i = 0; i < sizeof(bogon) / sizeof(bogon[0]); i++) {
        a = addr(bogon[i]);
        if (!intel_is_bogon(&a)) {
            fprintf(stderr, "  not a bogon: %s\n", bogon[i]);
            CHECK(false);
        }
    }
    for (size_t i = 0; i < sizeof(public) / sizeof(public[0]); i++) {
        a = addr(public[i]);
        if (intel_is_bogon(&a)) {
            fprintf(stderr, "  a bogon: %s\n", public[i]);
            CHECK(false);
        }
    }
    a = (struct ip_addr){0};
    CHECK(!intel_is_bogon(&a));
}

/* ---- reload, drop, errors, limits ---------------------------------------------------- */

static void reload_replaces_list_atomically(void)
{
    struct store *s = fresh_db();
    char path[128];
    struct intel *in;
    struct run r;

    tmp_path(path, sizeof(path), "feed.txt");
    write_file(path, "1.1.1.0/24\n2.2.2.0/24\n");
    intel_cmd(s, &r, "load", path, NULL);
    CHECK_INT(r.rc, 0);
    write_file(path, "3.3.3.0/24\n");
    intel_cmd(s, &r, "load", path, NULL);
    CHECK_INT(r.rc, 0);
    CHECK(strstr(r.out, "2 replaced") != NULL);
    CHECK_INT(list_entries(s, "feed"), 1);
    CHECK_INT(list_ranges(s, "feed"), 1);
    in = build(s);
    CHECK(!match(in, "1.1.1.1", NULL) && !match(in, "2.2.2.2", NULL));
    CHECK_STR(match(in, "3.3.3.3", NULL), "feed");
    intel_free(in);
    store_close(s);
}

static void failed_reload_leaves_old_list_intact(void)
{
    struct store *s = fresh_db();
    char path[128];
    int64_t version;
    struct intel *in;
    struct run r;

    tmp_path(path, sizeof(path), "keep.txt");
    write_file(path, "1.1.1.0/24\n2.2.2.0/24\n");
    intel_cmd(s, &r, "load", path, NULL);
    CHECK_INT(r.rc, 0);
    version = intel_version(store_sqlite(s));
    write_file(path, "3.3.3.0/24\nnot-an-address\n");
    intel_cmd(s, &r, "load", path, NULL);
    CHECK_INT(r.rc, 2);
    write_file(path, "");
    intel_cmd(s, &r, "load", path, NULL);
    CHECK_INT(r.rc, 2);
    CHECK(strstr(r.err, "no entries") != NULL);
    CHECK_INT(list_entries(s, "keep"), 2);
    CHECK_INT(list_ranges(s, "keep"), 2);
    CHECK_INT(intel_version(store_sqlite(s)), version);
    in = build(s);
    CHECK(match(in, "1.1.1.1", NULL) && match(in, "2.2.2.2", NULL));
    CHECK(!match(in, "3.3.3.3", NULL));
    intel_free(in);
    store_close(s);
}

static void drop_removes_list_and_ranges(void)
{
    struct store *s = fresh_db();
    struct intel *in;
    struct run r;

    intel_cmd(s, &r, "load", FIXTURES "spamhaus_drop.txt", NULL);
    intel_cmd(s, &r, "load", FIXTURES "scores.csv", NULL);
    intel_cmd(s, &r, "drop", "spamhaus_drop", NULL);
    CHECK_INT(r.rc, 0);
    CHECK_INT(list_entries(s, "spamhaus_drop"), -1);
    CHECK_INT(list_ranges(s, "spamhaus_drop"), 0);
    CHECK_INT(list_ranges(s, "scores"), 6);
    in = build(s);
    CHECK(!match(in, "1.10.16.5", NULL));
    CHECK_STR(match(in, "185.220.101.34", NULL), "scores");
    intel_free(in);
    intel_cmd(s, &r, "drop", "spamhaus_drop", NULL);
    CHECK_INT(r.rc, 2);
    CHECK(strstr(r.err, "no list named") != NULL);
    store_close(s);
}

static void bad_line_rejected_with_line_number(void)
{
    struct store *s = fresh_db();
    struct run r;

    intel_cmd(s, &r, "load", FIXTURES "bad_line.txt", NULL);
    CHECK_INT(r.rc, 2);
    CHECK(strstr(r.err, "bad_line.txt:5:") != NULL);
    CHECK(strstr(r.err, "10.20.30.400/24") != NULL);
    CHECK_INT(list_entries(s, "bad_line"), -1);
    CHECK_INT(query_int(s, "SELECT count(*) FROM intel_ranges", NULL), 0);
    store_close(s);
}

static void bad_line_text_is_truncated_and_escaped(void)
{
    struct store *s = fresh_db();
    char path[128], line[400];
    struct run r;

    tmp_path(path, sizeof(path), "ugly.txt");
    memset(line, 'x', sizeof(line) - 2);
    line[5] = '\x1b';
    line[sizeof(line) - 2] = '\n';
    line[sizeof(line) - 1] = '\0';
    write_file(path, line);
    intel_cmd(s, &r, "load", path, NULL);
    CHECK_INT(r.rc, 2);
    CHECK(strstr(r.err, "ugly.txt:1:") != NULL);
    CHECK(strchr(r.err, '\x1b') == NULL);
    CHECK(strlen(r.err) < 200);
    store_close(s);
}

static void line_longer_than_limit_rejected(void)
{
    struct store *s = fresh_db();
    char path[128];
    static char text[3 * INTEL_MAX_LINE];
    struct run r;
    size_t n;

    /* Exactly INTEL_MAX_LINE bytes is allowed. */
    n = (size_t)snprintf(text, sizeof(text), "1.2.3.4 #");
    memset(text + n, 'c', INTEL_MAX_LINE - n);
    text[INTEL_MAX_LINE] = '\n';
    text[INTEL_MAX_LINE + 1] = '\0';
    tmp_path(path, sizeof(path), "long.txt");
    write_file(path, text);
    intel_cmd(s, &r, "load", path, NULL);
    CHECK_INT(r.rc, 0);
    /* One more byte, on line 2, is refused. */
    n = (size_t)snprintf(text, sizeof(text), "5.6.7.8\n1.2.3.4 #");
    memset(text + n, 'c', INTEL_MAX_LINE + 9 - n);
    text[INTEL_MAX_LINE + 9] = '\n';
    text[INTEL_MAX_LINE + 10] = '\0';
    write_file(path, text);
    intel_cmd(s, &r, "load", path, NULL);
    CHECK_INT(r.rc, 2);
    CHECK(strstr(r.err, "long.txt:2:") != NULL);
    CHECK(strstr(r.err, "longer than 4096") != NULL);
    CHECK_INT(list_entries(s, "long"), 1);
    store_close(s);
}

static void more_than_max_entries_rejected(void)
{
    struct store *s = fresh_db();
    static const char line[] = "1.1.1.1\n";
    char path[128], *block;
    size_t per = 100000, n = sizeof(line) - 1;
    struct run r;
    FILE *f;

    tmp_path(path, sizeof(path), "huge.txt");
    block = malloc(per * n);
    for (size_t i = 0; i < per; i++)
        memcpy(block + i * n, line, n);
    f = fopen(path, "w");
    for (size_t i = 0; i < INTEL_MAX_ENTRIES / per; i++)
        fwrite(block, n, per, f);
    fwrite(line, n, 1, f);
    fclose(f);
    free(block);
    intel_cmd(s, &r, "load", path, NULL);
    CHECK_INT(r.rc, 2);
    CHECK(strstr(r.err, "more than 5000000 entries") != NULL);
    CHECK_INT(list_entries(s, "huge"), -1);
    unlink(path);
    store_close(s);
}

static void usage_and_missing_file_exit_2(void)
{
    struct store *s = fresh_db();
    struct run r;

    intel_cmd(s, &r, NULL);
    CHECK_INT(r.rc, 2);
    CHECK(strstr(r.err, "usage") != NULL);
    intel_cmd(s, &r, "frobnicate", NULL);
    CHECK_INT(r.rc, 2);
    intel_cmd(s, &r, "load", NULL);
    CHECK_INT(r.rc, 2);
    intel_cmd(s, &r, "load", "a", "b", NULL);
    CHECK_INT(r.rc, 2);
    intel_cmd(s, &r, "load", "x.txt", "--name", NULL);
    CHECK_INT(r.rc, 2);
    intel_cmd(s, &r, "drop", NULL);
    CHECK_INT(r.rc, 2);
    intel_cmd(s, &r, "list", "extra", NULL);
    CHECK_INT(r.rc, 2);
    intel_cmd(s, &r, "load", "/nonexistent/list.txt", NULL);
    CHECK_INT(r.rc, 2);
    CHECK(strstr(r.err, "cannot open /nonexistent/list.txt") != NULL);
    store_close(s);
}

static void version_changes_on_load_drop_load(void)
{
    struct store *s = fresh_db();
    sqlite3 *db = store_sqlite(s);
    int64_t v0, v1, v2, v3;
    struct run r;

    v0 = intel_version(db);
    CHECK_INT(v0, 0);
    intel_cmd(s, &r, "load", FIXTURES "spamhaus_drop.txt", NULL);
    v1 = intel_version(db);
    intel_cmd(s, &r, "drop", "spamhaus_drop", NULL);
    v2 = intel_version(db);
    intel_cmd(s, &r, "load", FIXTURES "spamhaus_drop.txt", NULL);
    v3 = intel_version(db);
    CHECK(v1 != v0 && v2 != v1 && v3 != v2 && v3 != v1 && v3 != v0);
    /* Reading it changes nothing. */
    CHECK_INT(intel_version(db), v3);
    store_close(s);
}

static void list_shows_name_entries_time_source(void)
{
    struct store *s = fresh_db();
    struct run r;

    clock_set_ms(T_LOAD);
    intel_cmd(s, &r, "load", FIXTURES "scores.csv", "--name", "reputation", NULL);
    clock_set_ms(-1);
    intel_cmd(s, &r, "list", NULL);
    CHECK_INT(r.rc, 0);
    CHECK(strstr(r.out, "NAME") != NULL);
    CHECK(strstr(r.out, "reputation") != NULL);
    CHECK(strstr(r.out, " 6 ") != NULL);
    CHECK(strstr(r.out, "2026-11-29T10:00:00.000Z") != NULL);
    CHECK(strstr(r.out, "scores.csv") != NULL);
    CHECK_INT(query_int(s, "SELECT loaded_ms FROM intel_lists WHERE name = ?1", "reputation"),
              T_LOAD);
    store_close(s);
}

/* ---- randomized: the matcher against a linear scan ----------------------------------- */

#define RANDOM_RANGES  10000
#define RANDOM_LOOKUPS 100000

typedef unsigned __int128 u128;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
    /* splitmix64: fixed seed, so a failure reproduces. */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static u128 to_u128(const struct ip_addr *a)
{
    u128 v = 0;

    if (a->family == 4)
        return (u128)0xffff << 32 |
               ((u128)a->b[0] << 24 | (u128)a->b[1] << 16 | (u128)a->b[2] << 8 | a->b[3]);
    for (int i = 0; i < 16; i++)
        v = v << 8 | a->b[i];
    return v;
}

static bool in_mapped(u128 v)
{
    return v >> 32 == 0xffff;
}

/* A random network: IPv4 in 64 /8s, IPv6 in 2001:db8::/32, some mapped, a few wide. */
static struct intel_range random_range(void)
{
    static const char *const lists[] = {"alpha", "beta", "gamma"};
    static const char *const cats[] = {NULL, "c1", "c2"};
    struct intel_range r = {.list = lists[rng() % 3], .category = cats[rng() % 3]};
    uint64_t kind = rng() % 1000, bits = rng();
    char text[64];
    int prefix;

    if (kind < 550) {
        prefix = 12 + (int)(rng() % 21);
        snprintf(text, sizeof(text), "%d.%d.%d.%d/%d", 1 + (int)(bits % 64), (int)(bits >> 8 & 255),
                 (int)(bits >> 16 & 255), (int)(bits >> 24 & 255), prefix);
    } else if (kind < 650) {
        prefix = 96 + 12 + (int)(rng() % 21);
        snprintf(text, sizeof(text), "::ffff:%d.%d.%d.%d/%d", 1 + (int)(bits % 64),
                 (int)(bits >> 8 & 255), (int)(bits >> 16 & 255), (int)(bits >> 24 & 255), prefix);
    } else if (kind < 655) {
        /* Wide IPv4 ranges high in the space, so most lookups stay outside them. */
        prefix = 3 + (int)(rng() % 5);
        snprintf(text, sizeof(text), "%d.0.0.0/%d", 224 + (int)(bits % 32), prefix);
    } else if (kind < 660) {
        /* IPv6 ranges that cover the IPv4-mapped block, which must not match IPv4. */
        prefix = 8 + (int)(rng() % 9);
        snprintf(text, sizeof(text), "::/%d", prefix);
    } else {
        prefix = 40 + (int)(rng() % 89);
        snprintf(text, sizeof(text), "2001:db8:%x:%x:%x:%x:%x:%x/%d", (unsigned)(bits & 0xffff),
                 (unsigned)(bits >> 16 & 0xffff), (unsigned)(bits >> 32 & 0xffff),
                 (unsigned)(bits >> 48 & 0xffff), (unsigned)(rng() & 0xffff),
                 (unsigned)(rng() & 0xffff), prefix);
    }
    if (!cidr_parse(text, &r.first, &prefix))
        fprintf(stderr, "  bad random CIDR %s\n", text);
    r.last = r.first;
    for (int i = 0; i < (r.first.family == 4 ? 4 : 16); i++) {
        int keep = prefix - i * 8;
        if (keep <= 0)
            r.last.b[i] = 0xff;
        else if (keep < 8)
            r.last.b[i] |= (uint8_t)(0xff >> keep);
    }
    return r;
}

static int cmp_category(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b ? 0 : a == NULL ? -1 : 1;
    return strcmp(a, b);
}

/* The ranges of one family as the linear scan sees them, sorted by first address. */
struct oracle {
    const struct intel_range **r;
    u128 *first, *last;
    size_t n;
};

static int cmp_by_first(const void *pa, const void *pb)
{
    u128 a = to_u128(&(*(const struct intel_range *const *)pa)->first);
    u128 b = to_u128(&(*(const struct intel_range *const *)pb)->first);

    return a < b ? -1 : a > b;
}

/* An IPv4 range lies inside ::ffff:0:0/96; every other range is IPv6. */
static void oracle_init(struct oracle *o, const struct intel_range *r, size_t n, bool v4)
{
    o->r = calloc(n, sizeof(*o->r));
    o->first = calloc(n, sizeof(*o->first));
    o->last = calloc(n, sizeof(*o->last));
    o->n = 0;
    for (size_t i = 0; i < n; i++) {
        u128 f = to_u128(&r[i].first), l = to_u128(&r[i].last);
        if ((in_mapped(f) && in_mapped(l)) == v4)
            o->r[o->n++] = &r[i];
    }
    qsort(o->r, o->n, sizeof(*o->r), cmp_by_first);
    for (size_t i = 0; i < o->n; i++) {
        o->first[i] = to_u128(&o->r[i]->first);
        o->last[i] = to_u128(&o->r[i]->last);
    }
}

static void oracle_free(struct oracle *o)
{
    free(o->r);
    free(o->first);
    free(o->last);
}

/*
 * The documented rule by brute force: of every range holding the address
 * (scanned in order of first address until they start past it), the
 * smallest, then the first list name, then no category before any.
 */
static const struct intel_range *linear_match(const struct oracle *o4, const struct oracle *o6,
                                              const struct ip_addr *ip)
{
    struct ip_addr a = *ip;
    const struct oracle *o;
    const struct intel_range *best = NULL;
    u128 v, best_size = 0;

    ip_unmap(&a);
    o = a.family == 4 ? o4 : o6;
    v = to_u128(&a);
    for (size_t i = 0; i < o->n && o->first[i] <= v; i++) {
        const struct intel_range *r = o->r[i];
        u128 size = o->last[i] - o->first[i];
        int by_list;

        if (v > o->last[i])
            continue;
        by_list = best ? strcmp(r->list, best->list) : 0;
        if (best == NULL || size < best_size ||
            (size == best_size &&
             (by_list < 0 || (by_list == 0 && cmp_category(r->category, best->category) < 0)))) {
            best = r;
            best_size = size;
        }
    }
    return best;
}

/* An address near a range's edge, or anywhere in the spaces the ranges use. */
static struct ip_addr random_address(const struct intel_range *r, size_t n)
{
    const struct intel_range *pick = &r[rng() % n];
    struct ip_addr a = rng() % 2 ? pick->first : pick->last;
    int bytes = a.family == 4 ? 4 : 16;
    uint64_t how = rng() % 8;

    if (how == 0 || how == 1) { /* one below or above the edge */
        int i = bytes - 1;
        if (how == 0)
            while (i >= 0 && a.b[i]-- == 0)
                i--;
        else
            while (i >= 0 && ++a.b[i] == 0)
                i--;
    } else if (how >= 2 && how <= 4) { /* anywhere near */
        for (int i = a.family == 4 ? 1 : 4; i < bytes; i++)
            a.b[i] = (uint8_t)rng();
    }
    if (a.family == 4 && rng() % 4 == 0) { /* asked as IPv4-mapped IPv6 */
        struct ip_addr m = {6, {[10] = 0xff, [11] = 0xff}};
        memcpy(m.b + 12, a.b, 4);
        a = m;
    }
    return a;
}

static void random_ranges_agree_with_linear_scan(void)
{
    struct intel_range *r = calloc(RANDOM_RANGES, sizeof(*r));
    size_t mismatches = 0, matched = 0;
    struct oracle o4, o6;
    char err[128];
    struct intel *in;

    for (size_t i = 0; i < RANDOM_RANGES; i++)
        r[i] = random_range();
    oracle_init(&o4, r, RANDOM_RANGES, true);
    oracle_init(&o6, r, RANDOM_RANGES, false);
    in = intel_build_ranges(r, RANDOM_RANGES, err, sizeof(err));
    CHECK(in != NULL);
    for (size_t i = 0; in != NULL && i < RANDOM_LOOKUPS; i++) {
        struct ip_addr a = random_address(r, RANDOM_RANGES);
        const struct intel_range *want = linear_match(&o4, &o6, &a);
        const char *list = NULL, *cat = NULL;
        bool got = intel_match(in, &a, &list, &cat);

        matched += got;
        if (got != (want != NULL) ||
            (got && (strcmp(list, want->list) != 0 || cmp_category(cat, want->category) != 0))) {
            char text[64];
            if (mismatches++ < 5) {
                ip_format(&a, text, sizeof(text));
                fprintf(stderr, "  %s: matcher %s/%s, linear scan %s/%s\n", text, got ? list : "-",
                        got && cat ? cat : "-", want ? want->list : "-",
                        want && want->category ? want->category : "-");
            }
        }
    }
    CHECK_INT(mismatches, 0);
    /* The addresses must exercise both outcomes for the comparison to mean anything. */
    CHECK(matched > RANDOM_LOOKUPS / 10 && matched < RANDOM_LOOKUPS / 10 * 9);
    intel_free(in);
    oracle_free(&o4);
    oracle_free(&o6);
    free(r);
}

/* ---- main ----------------------------------------------------------------------------- */

static void remove_tmpdir(void)
{
    char path[128];

    for (int i = 1; i <= db_count; i++) {
        static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
        for (size_t k = 0; k < 4; k++) {
            snprintf(path, sizeof(path), "%s/db%d.sqlite%s", tmpdir, i, suffix[k]);
            unlink(path);
        }
    }
    static const char *const files[] = {"noheader.csv",   "late_header.csv", "my.list.v2.txt",
                                        "everything.txt", "wide.txt",        "narrow.csv",
                                        "feed.txt",       "keep.txt",        "ugly.txt",
                                        "long.txt",       "huge.txt",        "cut.json"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        tmp_path(path, sizeof(path), files[i]);
        unlink(path);
    }
    if (rmdir(tmpdir) != 0)
        fprintf(stderr, "note: %s left behind\n", tmpdir);
}

/* ---- Spamhaus' JSON lists ----------------------------------------------------------- */

static void parse_line_reads_spamhaus_json(void)
{
    struct intel_entry e;
    bool ok;

    e = parse("{\"cidr\":\"45.140.8.0/22\",\"sblid\":\"SBL700101\",\"rir\":\"ripencc\"}", &ok);
    CHECK(ok && entry_is(&e, "45.140.8.0", "45.140.11.255", 22) && e.json);
    CHECK(span_is(e.text, e.text_len, "45.140.8.0/22"));
    CHECK(span_is(e.category, e.category_len, "SBL700101"));
    e = parse(" { \"rir\" : \"apnic\" , \"sblid\" : \"SBL9\" , \"cidr\" : \"2403:7e00::/32\" }\r",
              &ok);
    CHECK(ok && entry_is(&e, "2403:7e00::", "2403:7e00:ffff:ffff:ffff:ffff:ffff:ffff", 32));
    CHECK(span_is(e.category, e.category_len, "SBL9"));
    /* An escaped slash, as some JSON writers put it; the text stays as written. */
    e = parse("{\"cidr\":\"185.250.44.0\\/24\",\"sblid\":\"SBL3\"}", &ok);
    CHECK(ok && entry_is(&e, "185.250.44.0", "185.250.44.255", 24));
    CHECK(span_is(e.text, e.text_len, "185.250.44.0\\/24"));
    /* Members Warden does not read, of any JSON type, are walked over. */
    e = parse("{\"cidr\":\"1.2.3.4\",\"extra\":[1,-2.5e+3,true,false,null,{\"k\":\"\\u00e9\\n\"}]}",
              &ok);
    CHECK(ok && entry_is(&e, "1.2.3.4", "1.2.3.4", 32) && e.category == NULL);
    /* The metadata line is skipped, and said to be JSON. */
    e = parse("{\"type\":\"metadata\",\"timestamp\":1765000000,\"size\":250,\"records\":4}", &ok);
    CHECK(ok && e.kind == INTEL_LINE_SKIP && e.json);
}

static void parse_line_rejects_bad_json_lines(void)
{
    static const struct {
        const char *line, *why;
    } bad[] = {
        {"{\"cidr\":\"45.140.8.0/22\",\"sblid\":\"SBL1\"", "',' or '}' was expected"},
        {"{\"cidr\":\"45.140.8.0/22\",}", "a member name was expected"},
        {"{\"cidr\" \"45.140.8.0/22\"}", "':' was expected"},
        {"{\"cidr\":\"45.140.8.0/22\"} {}", "data after the object"},
        {"{\"cidr\":\"45.140.8.0/33\"}", "cidr is not an IP address or CIDR"},
        {"{\"cidr\":\"45.140.8.0\\u002f22\"}", "cidr is not an IP address or CIDR"},
        {"{\"cidr\":4514080}", "cidr is not an IP address or CIDR"},
        {"{\"cidr\":\"1.2.3.0/24\",\"cidr\":\"1.2.4.0/24\"}", "a member appears twice"},
        {"{\"cidr\":\"1.2.3.0/24\",\"sblid\":17}", "sblid must be a string"},
        {"{\"cidr\":\"1.2.3.0/24\",\"sblid\":\"SBL\\u0031\"}", "without escapes"},
        {"{\"cidr\":\"1.2.3.0/24\",\"sblid\":\"SBL\x01\"}", "invalid JSON value"},
        {"{\"cidr\":\"1.2.3.0/24\",\"sblid\":\"SBL\\q\"}", "invalid JSON value"},
        {"{\"cidr\":\"1.2.3.0/24\",\"n\":01}", "invalid JSON value"},
        {"{\"cidr\":\"1.2.3.0/24\",\"n\":tru}", "invalid JSON value"},
        {"{\"asn\":64500,\"rir\":\"arin\",\"asname\":\"X\"}", "an ASN-DROP record"},
        {"{\"rir\":\"arin\"}", "a JSON line without cidr"},
        {"{}", "a JSON line without cidr"},
        {"{\"type\":\"data\",\"cidr\":\"1.2.3.0/24\"}", "a type other than \"metadata\""},
        {"{\"cidr\":\"1.2.3.0/24\",\"a\":[[[[[[[[[1]]]]]]]]]}", "nested deeper than 8"},
        {"[{\"cidr\":\"1.2.3.0/24\"}]", "a JSON array"},
        {"{\"cidr\":\"1.2.3.0/24\",\"sblid\":\"SBL1\\", "invalid JSON value"},
        {"{\"cidr\":\"1.2.3.0/24\",\"x\":\"\\u12\"}", "invalid JSON value"},
    };
    struct intel_entry e;
    char err[128];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (intel_parse_line(bad[i].line, strlen(bad[i].line), &e, err, sizeof(err))) {
            fprintf(stderr, "  accepted: %s\n", bad[i].line);
            CHECK(false);
        }
        if (strstr(err, bad[i].why) == NULL) {
            fprintf(stderr, "  %s: \"%s\" does not say \"%s\"\n", bad[i].line, err, bad[i].why);
            CHECK(false);
        }
    }
    /* The length given is the line: a JSON object cut by it is not read past it. */
    CHECK(!intel_parse_line("{\"cidr\":\"1.2.3.0/24\"}", 20, &e, err, sizeof(err)));
}

static void load_spamhaus_json_v4_and_v6_with_sbl_ids(void)
{
    struct store *s = fresh_db();
    const char *cat = NULL;
    struct intel *in;
    struct run r;

    intel_cmd(s, &r, "load", FIXTURES "spamhaus_drop_v4.json", "--name", "drop", NULL);
    CHECK_INT(r.rc, 0);
    CHECK(strstr(r.err, "warning") == NULL); /* the metadata line is there */
    intel_cmd(s, &r, "load", FIXTURES "spamhaus_drop_v6.json", NULL);
    CHECK_INT(r.rc, 0);
    CHECK_INT(list_entries(s, "drop"), 4);
    CHECK_INT(list_entries(s, "spamhaus_drop_v6"), 2);
    in = build(s);
    CHECK_STR(match(in, "45.140.11.254", &cat), "drop");
    CHECK_STR(cat, "SBL700101");
    CHECK_STR(match(in, "103.77.247.1", &cat), "drop");
    CHECK_STR(cat, "SBL700102");
    CHECK(match(in, "103.77.248.0", NULL) == NULL);
    CHECK_STR(match(in, "2a0d:5e47:ffff::1", &cat), "spamhaus_drop_v6");
    CHECK_STR(cat, "SBL700201");
    CHECK_STR(match(in, "2403:7e00:1::9", &cat), "spamhaus_drop_v6");
    CHECK_STR(cat, "SBL700202");
    CHECK(match(in, "2a0d:5e48::1", NULL) == NULL);
    intel_free(in);
    CHECK_INT(query_int(s, "SELECT count(*) FROM intel_ranges WHERE source = ?1", "45.140.8.0/22"),
              1);
    store_close(s);
}

static void json_bad_line_rejected_with_line_number(void)
{
    struct store *s = fresh_db();
    char path[128];
    struct run r;

    intel_cmd(s, &r, "load", FIXTURES "spamhaus_drop_v4.json", "--name", "drop", NULL);
    CHECK_INT(r.rc, 0);
    /* A line cut short in the middle: refused with its number, the list as it was. */
    intel_cmd(s, &r, "load", FIXTURES "spamhaus_drop_bad_line.json", "--name", "drop", NULL);
    CHECK_INT(r.rc, 2);
    CHECK(strstr(r.err, "spamhaus_drop_bad_line.json:3: invalid JSON") != NULL);
    CHECK_INT(list_entries(s, "drop"), 4);
    CHECK_INT(list_ranges(s, "drop"), 4);
    /* Cut at a line's end instead: it loads, with a warning that the metadata is missing. */
    tmp_path(path, sizeof(path), "cut.json");
    write_file(path, "{\"cidr\":\"45.140.8.0/22\",\"sblid\":\"SBL700101\",\"rir\":\"ripencc\"}\n");
    intel_cmd(s, &r, "load", path, NULL);
    CHECK_INT(r.rc, 0);
    CHECK(strstr(r.err, "no metadata line: the file may be cut short") != NULL);
    CHECK_INT(list_entries(s, "cut"), 1);
    store_close(s);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/warden-test-intel-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    log_set_level(LOG_ERROR);
    RUN(parse_line_reads_every_format);
    RUN(parse_line_rejects_bad_lines);
    RUN(parse_line_cuts_long_category_at_char_boundary);
    RUN(csv_header_detected_only_as_header);
    RUN(parse_line_reads_spamhaus_json);
    RUN(parse_line_rejects_bad_json_lines);
    RUN(load_spamhaus_json_v4_and_v6_with_sbl_ids);
    RUN(json_bad_line_rejected_with_line_number);
    RUN(load_firehol_netset_with_bogons);
    RUN(load_spamhaus_drop_sbl_as_category);
    RUN(load_plain_list_ipv6_crlf_extra_columns);
    RUN(load_csv_with_header_and_categories);
    RUN(load_csv_without_header_and_header_only_first);
    RUN(load_names_default_explicit_and_invalid);
    RUN(every_prefix_length_matches_its_range);
    RUN(zero_prefix_loads_with_a_warning);
    RUN(host_bits_are_normalised);
    RUN(overlap_most_specific_then_list_name);
    RUN(overlap_across_two_loaded_lists);
    RUN(mapped_ipv6_lookups_match_ipv4_lists);
    RUN(ipv6_range_covering_mapped_block_does_not_match_ipv4);
    RUN(range_boundaries_first_last_match_neighbours_do_not);
    RUN(malformed_ranges_are_refused);
    RUN(build_skips_malformed_rows);
    RUN(memory_is_reported);
    RUN(bogon_table_including_mapped_forms);
    RUN(reload_replaces_list_atomically);
    RUN(failed_reload_leaves_old_list_intact);
    RUN(drop_removes_list_and_ranges);
    RUN(bad_line_rejected_with_line_number);
    RUN(bad_line_text_is_truncated_and_escaped);
    RUN(line_longer_than_limit_rejected);
    RUN(more_than_max_entries_rejected);
    RUN(usage_and_missing_file_exit_2);
    RUN(version_changes_on_load_drop_load);
    RUN(list_shows_name_entries_time_source);
    RUN(random_ranges_agree_with_linear_scan);
    remove_tmpdir();
    return CHECK_DONE();
}
