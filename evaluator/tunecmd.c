/*
 * `warden groups baseline`: tuning.h's baseline on the command line, as a
 * table a person reads, as JSON (--json), or as the group document with the
 * suggested ranges filled in (--document), ready for `warden groups import`.
 * `warden groups backtest FILE`: that document replayed against the group's
 * current rules, the alerts added and removed.
 * Progress goes to stderr when it is a terminal; Ctrl-C stops the scan.
 */
#include "tuning.h"

#include "../imports/groups.h"
#include "../imports/imports.h"
#include "../store/store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_RUNTIME 1

static const char usage[] =
    "usage: warden groups baseline GROUP [--span P7D] [--rule TYPE] [--include-alerted]\n"
    "                              [--devices N] [--json | --document] [--to TIME]\n"
    "       warden groups backtest FILE [--name GROUP] [--span P7D] [--json] [--to TIME]\n";

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void progress(void *arg, int percent)
{
    (void)arg;
    fprintf(stderr, "\r%s: %3d%%", (const char *)arg, percent);
    fflush(stderr);
}

static json_int_t num(json_t *o, const char *path)
{
    char key[64];
    const char *dot = strchr(path, '.');

    if (dot == NULL)
        return json_integer_value(json_object_get(o, path));
    snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
    return num(json_object_get(o, key), dot + 1);
}

static void print_rule(json_t *r)
{
    json_t *g = json_object_get(r, "group"), *s = json_object_get(r, "suggested");
    json_t *cur = json_object_get(r, "current"), *d;
    size_t i;

    printf("\n%s, window %s, now %s [%lld, %lld]\n", json_string_value(json_object_get(r, "rule")),
           json_string_value(json_object_get(r, "window")),
           json_is_true(json_object_get(cur, "enabled")) ? "enabled" : "disabled",
           (long long)num(cur, "min"), (long long)num(cur, "max"));
    if (!json_is_true(json_object_get(r, "enough_history")))
        printf("  not enough history yet (Azure waits for 3 days and 30 windows a device): "
               "history from %s, %lld windows for the median device; the figures are shown anyway\n",
               json_string_value(json_object_get(json_object_get(r, "history"), "from")),
               (long long)num(r, "history.median_windows_per_device"));
    printf("  group: p1 %lld  p5 %lld  p50 %lld  p95 %lld  p99 %lld  max %lld  zero %.1f%%  "
           "(%lld windows of %lld devices; %lld left out: they overlap an alert)\n",
           (long long)num(g, "p1"), (long long)num(g, "p5"), (long long)num(g, "p50"),
           (long long)num(g, "p95"), (long long)num(g, "p99"), (long long)num(g, "max"),
           100 * json_number_value(json_object_get(g, "zero_share")), (long long)num(g, "windows"),
           (long long)num(g, "devices"), (long long)num(g, "excluded_windows"));
    if (json_is_object(s))
        printf("  suggested: [%lld, %lld], which would have flagged %lld window%s of %lld device%s\n",
               (long long)num(s, "min"), (long long)num(s, "max"), (long long)num(s, "flagged_windows"),
               num(s, "flagged_windows") == 1 ? "" : "s", (long long)num(s, "flagged_devices"),
               num(s, "flagged_devices") == 1 ? "" : "s");
    else
        printf("  suggested: none (no windows in the span)\n");
    if (json_array_size(json_object_get(r, "devices")) == 0 || num(g, "max") == 0)
        return; /* every window at zero: no device stands out */
    printf("  devices farthest from the group's median:\n");
    printf("    %-32s %8s %8s %8s %8s %8s %8s\n", "device", "p50", "p99", "max", "windows",
           "left out", "flagged");
    json_array_foreach(json_object_get(r, "devices"), i, d)
        printf("    %-32s %8lld %8lld %8lld %8lld %8lld %8lld\n",
               json_string_value(json_object_get(d, "device_id")), (long long)num(d, "p50"),
               (long long)num(d, "p99"), (long long)num(d, "max"), (long long)num(d, "windows"),
               (long long)num(d, "excluded"), (long long)num(d, "flagged"));
}

static void print_text(json_t *b)
{
    json_t *span = json_object_get(b, "span"), *r;
    size_t i;

    printf("Baseline of group \"%s\" over %s (%s to %s), %lld devices.\n",
           json_string_value(json_object_get(b, "group")),
           json_string_value(json_object_get(span, "duration")),
           json_string_value(json_object_get(span, "from")),
           json_string_value(json_object_get(span, "to")), (long long)num(b, "devices"));
    printf(json_is_true(json_object_get(b, "include_alerted"))
               ? "Windows that overlap an alert of their device are kept.\n"
               : "Windows that overlap an alert of their device are left out (--include-alerted "
                 "keeps them).\n");
    json_array_foreach(json_object_get(b, "rules"), i, r)
        print_rule(r);
}

static bool parse_args(int argc, char **argv, struct tune_opts *o, bool *json, bool *document,
                       const char **name)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        enum group_rule r;

        if (strcmp(a, "--json") == 0) {
            *json = true;
        } else if (strcmp(a, "--document") == 0) {
            *document = true;
        } else if (strcmp(a, "--include-alerted") == 0) {
            o->include_alerted = true;
        } else if (strcmp(a, "--span") == 0 && v != NULL) {
            if (!duration_parse(v, &o->span_ms) || o->span_ms <= 0) {
                fprintf(stderr, "warden groups baseline: --span %s: not an ISO 8601 duration\n", v);
                return false;
            }
            i++;
        } else if (strcmp(a, "--rule") == 0 && v != NULL) {
            if (!group_rule_lookup(v, &r) || !group_rule_observable(r)) {
                fprintf(stderr, "warden groups baseline: --rule %s: not a time-window rule the lab "
                                "observes\n", v);
                return false;
            }
            o->rule = (int)r;
            i++;
        } else if (strcmp(a, "--devices") == 0 && v != NULL) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end != '\0' || n < 0 || n > 1000000) {
                fprintf(stderr, "warden groups baseline: --devices %s: a count, 0 to 1000000\n", v);
                return false;
            }
            o->top = (size_t)n;
            i++;
        } else if (strcmp(a, "--name") == 0 && v != NULL && name != NULL) {
            *name = v;
            i++;
        } else if (strcmp(a, "--to") == 0 && v != NULL) {
            if (!time_parse_iso(v, &o->to_ms)) {
                fprintf(stderr, "warden groups baseline: --to %s: not an ISO 8601 time\n", v);
                return false;
            }
            i++;
        } else if (o->group == NULL && a[0] != '-') {
            o->group = a;
        } else {
            fputs(usage, stderr);
            return false;
        }
    }
    if (o->group == NULL || (*json && *document)) {
        fputs(usage, stderr);
        return false;
    }
    return true;
}

static int baseline_cmd(int argc, char **argv, const struct config *cfg)
{
    struct tune_opts o = {.span_ms = TUNE_SPAN_DEFAULT_MS, .to_ms = -1, .rule = -1,
                          .top = TUNE_TOP_DEFAULT, .cancel = &interrupted};
    bool json = false, document = false;
    struct store *s;
    json_t *b;
    char err[512];
    int status;

    if (!parse_args(argc, argv, &o, &json, &document, NULL))
        return EXIT_USAGE;
    if ((s = store_open(cfg->db_path, err, sizeof(err))) == NULL) {
        fprintf(stderr, "warden groups baseline: %s\n", err);
        return EXIT_RUNTIME;
    }
    if (isatty(STDERR_FILENO)) {
        o.progress = progress;
        o.progress_arg = (void *)"baseline";
    }
    signal(SIGINT, on_interrupt);
    b = tune_baseline(store_sqlite(s), cfg, &o, &status, err, sizeof(err));
    if (o.progress != NULL)
        fputs("\r              \r", stderr);
    if (b == NULL) {
        fprintf(stderr, "warden groups baseline: %s\n", err);
        store_close(s);
        return status == 400 ? EXIT_USAGE : EXIT_RUNTIME;
    }
    if (document) {
        char *doc = tune_suggested_document(store_sqlite(s), o.group, b);
        if (doc == NULL) {
            fprintf(stderr, "warden groups baseline: the group is gone\n");
            status = 500;
        } else {
            printf("%s\n", doc);
            free(doc);
        }
    } else if (json) {
        json_dumpf(b, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
    } else {
        print_text(b);
    }
    json_decref(b);
    store_close(s);
    return status == 0 ? 0 : EXIT_RUNTIME;
}

/* ---- the backtest ---------------------------------------------------------------------------- */

static void print_alerts(json_t *list, char sign)
{
    size_t i;
    json_t *a;

    json_array_foreach(list, i, a) {
        json_t *res = json_object_get(a, "resolved");
        printf("    %c %-40s %s .. %s, %lld pass%s out of range%s%s\n", sign,
               json_string_value(json_object_get(a, "alert_key")),
               json_string_value(json_object_get(a, "first")),
               json_string_value(json_object_get(a, "last")), (long long)num(a, "windows"),
               num(a, "windows") == 1 ? "" : "es", json_is_string(res) ? ", resolved " : ", still open",
               json_is_string(res) ? json_string_value(res) : "");
    }
}

static void print_backtest(json_t *b, const char *file)
{
    json_t *span = json_object_get(b, "span"), *r, *d;
    size_t i;

    printf("Backtest of %s for group \"%s\" over %s (%s to %s): %lld devices, %lld passes.\n",
           file, json_string_value(json_object_get(b, "group")),
           json_string_value(json_object_get(span, "duration")),
           json_string_value(json_object_get(span, "from")),
           json_string_value(json_object_get(span, "to")), (long long)num(b, "devices"),
           (long long)num(b, "passes"));
    json_array_foreach(json_object_get(b, "rules"), i, r) {
        printf("\n%s: %lld alerts now, %lld with the document: %lld added, %lld removed, "
               "%lld unchanged\n",
               json_string_value(json_object_get(r, "rule")), (long long)num(r, "current.alerts"),
               (long long)num(r, "proposed.alerts"), (long long)num(r, "added_total"),
               (long long)num(r, "removed_total"), (long long)num(r, "unchanged_total"));
        print_alerts(json_object_get(r, "added"), '+');
        print_alerts(json_object_get(r, "removed"), '-');
    }
    printf("\nAlerts raised a day, now / with the document:");
    json_array_foreach(json_object_get(b, "days"), i, d)
        printf("%s %s %lld/%lld", i ? "," : "", json_string_value(json_object_get(d, "day")),
               (long long)num(d, "current"), (long long)num(d, "proposed"));
    printf("\n");
}

/* The one group of the document at path, named name (or by the document); false said why. */
static bool read_document(const char *path, const char *name, struct group *g)
{
    char err[512], *buf;
    size_t len;
    bool ok;

    if ((buf = import_read_file(path, GROUP_MAX_BYTES, &len, err, sizeof(err))) == NULL) {
        fprintf(stderr, "warden groups backtest: %s\n", err);
        return false;
    }
    ok = group_parse(buf, len, name, g, err, sizeof(err));
    free(buf);
    if (!ok)
        fprintf(stderr, "warden groups backtest: %s: %s\n", path, err);
    else if (g->name[0] == '\0') {
        fprintf(stderr, "warden groups backtest: %s: the document has no name; give the group "
                        "with --name\n", path);
        group_free(g);
        ok = false;
    }
    return ok;
}

static int backtest_cmd(int argc, char **argv, const struct config *cfg)
{
    struct tune_opts o = {.span_ms = TUNE_SPAN_DEFAULT_MS, .to_ms = -1, .rule = -1,
                          .cancel = &interrupted};
    bool json = false, document = false;
    const char *name = NULL;
    struct group g;
    struct store *s;
    json_t *b;
    char err[512];
    int status;

    if (!parse_args(argc, argv, &o, &json, &document, &name) || document || o.rule >= 0 ||
        o.include_alerted) {
        if (document || o.rule >= 0 || o.include_alerted)
            fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if (!read_document(o.group, name, &g))
        return EXIT_USAGE;
    if ((s = store_open(cfg->db_path, err, sizeof(err))) == NULL) {
        fprintf(stderr, "warden groups backtest: %s\n", err);
        group_free(&g);
        return EXIT_RUNTIME;
    }
    if (isatty(STDERR_FILENO)) {
        o.progress = progress;
        o.progress_arg = (void *)"backtest";
    }
    signal(SIGINT, on_interrupt);
    b = tune_backtest(store_sqlite(s), cfg, &o, &g, &status, err, sizeof(err));
    if (o.progress != NULL)
        fputs("\r              \r", stderr);
    if (b == NULL) {
        fprintf(stderr, "warden groups backtest: %s\n", err);
    } else if (json) {
        json_dumpf(b, stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        print_backtest(b, o.group);
    }
    json_decref(b);
    group_free(&g);
    store_close(s);
    return b != NULL ? 0 : status == 400 ? EXIT_USAGE : EXIT_RUNTIME;
}

int tune_cmd(int argc, char **argv, const struct config *cfg)
{
    if (argc > 1 && strcmp(argv[1], "backtest") == 0)
        return backtest_cmd(argc, argv, cfg);
    return baseline_cmd(argc, argv, cfg);
}
