/*
 * warden: the command line. It reads the configuration (defaults, then
 * warden.json or --config, then flags) and hands over to the module that does
 * the work. Exit codes: 0 success, 1 runtime failure, 2 usage or configuration.
 */
#include "common/catalog.h"
#include "common/common.h"
#include "evaluator/evaluator.h"
#include "evaluator/tuning.h"
#include "hub/front.h"
#include "hub/hubkeys.h"
#include "imports/hubctl.h"
#include "imports/imports.h"
#include "ingest/ingest.h"
#include "notify/notify.h"
#include "sim/sim.h"
#include "store/store.h"
#include "web/web.h"

#include <event2/event.h>
#include <mosquitto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static const char usage[] =
    "usage: warden COMMAND [--config FILE] [--db PATH] [--KEY=VALUE ...] [ARGS]\n"
    "\n"
    "commands:\n"
    "  run                 ingest, evaluate and serve in one process\n"
    "  ingest              the MQTT ingester alone\n"
    "  evaluate [--once] [--at TIME]  the evaluator alone, or one pass at TIME\n"
    "  evaluate --from TIME --to TIME  every pass of the schedule between, back to back\n"
    "  serve               the dashboard, API and SQL console alone\n"
    "  db migrate|check|prune  schema up to date / check it / apply retention now\n"
    "  db backup FILE [--force]  a consistent copy of the live database\n"
    "  groups import F [--name N] | export NAME | list\n"
    "  groups baseline GROUP [--span P7D] [--rule TYPE] [--json|--document]  what is normal\n"
    "  groups backtest FILE [--span P7D] [--json]  what a document would have raised\n"
    "  registry import F   device identities in IoT Hub's export shape\n"
    "  registry init       make the lab hub's key store (Warden's service secret)\n"
    "  registry add|rm D   one device (keys go to the lab hub's key store)\n"
    "  registry token D    a SAS token for a device, from the key store\n"
    "  hub import F        the hub's IP filter and diagnostic settings\n"
    "  hub cert add NAME F | cert delete NAME   a hub (CA) certificate, recorded as the hub would\n"
    "  hub diag set NAME F | diag delete NAME   one diagnostic setting, likewise\n"
    "  hub tls             the lab hub's TLS front end (hub.tls.*), forwarding to the broker\n"
    "  intel load F [--name N] | list | drop N\n"
    "  sim [OPTIONS]       simulated devices (see README: warden sim --help)\n"
    "  notify test [--url URL]  send a test alert to Alertmanager and follow it\n"
    "  notify run          the Alertmanager senders alone (warden run has them)\n"
    "  notify receive --listen HOST:PORT [--out FILE]  a webhook receiver for Alertmanager\n"
    "  config              print the effective configuration\n"
    "  catalog --markdown [alerts|recommendations]  the README's tables of alert types\n"
    "  version | help\n"
    "\n"
    "Any setting can be given as a flag: --mqtt.port=1884 or --mqtt.port 1884.\n";

/* What main() parsed: the configuration and the command's own arguments. */
struct cli {
    struct config cfg;
    const char *command;
    char **args;       /* the command's arguments, argv-style, args[0] = command */
    int nargs;
};

/*
 * Take --config, --db and --KEY=VALUE anywhere on the line (SPEC 7: before or
 * after the command's arguments); everything else goes to the command. For
 * `sim`, flags that are not settings stay with the command.
 */
static bool parse_cli(int argc, char **argv, struct cli *cli, char *err, size_t errlen)
{
    const char *config_file = NULL;
    /* Two slots a setting: "--key=value" fills both from one argument. */
    const char **sets = calloc(2 * (size_t)argc + 2, sizeof(char *));
    int nsets = 0;
    bool ok = true;

    cli->args = calloc((size_t)argc + 1, sizeof(char *));
    if (sets == NULL || cli->args == NULL)
        fatal("out of memory");
    config_defaults(&cli->cfg);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *eq = strchr(a, '=');
        size_t klen = eq ? (size_t)(eq - a) : strlen(a);
        bool is_setting = strncmp(a, "--", 2) == 0 && memchr(a + 2, '.', klen - 2) != NULL;

        if (strcmp(a, "--config") == 0 || strcmp(a, "--db") == 0) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "%s needs a value", a);
                ok = false;
                break;
            }
            if (strcmp(a, "--config") == 0)
                config_file = argv[++i];
            else
                sets[nsets++] = a, sets[nsets++] = argv[++i];
        } else if (is_setting) {
            sets[nsets++] = a;
            if (eq == NULL) {
                if (i + 1 >= argc) {
                    snprintf(err, errlen, "%s needs a value", a);
                    ok = false;
                    break;
                }
                sets[nsets++] = argv[++i];
            } else {
                sets[nsets++] = NULL; /* the value follows '=' */
            }
        } else if (cli->command == NULL && a[0] != '-') {
            cli->command = a;
            cli->args[cli->nargs++] = argv[i];
        } else {
            cli->args[cli->nargs++] = argv[i];
        }
    }
    if (ok)
        ok = config_load_file(&cli->cfg, config_file ? config_file : "warden.json",
                              config_file != NULL, err, errlen);
    for (int i = 0; ok && i < nsets; i += 2) {
        char key[128];
        const char *a = sets[i], *value = sets[i + 1];

        if (strcmp(a, "--db") == 0) {
            ok = config_set(&cli->cfg, "db.path", value, err, errlen);
            continue;
        }
        snprintf(key, sizeof(key), "%s", a + 2);
        if (value == NULL) {
            key[strcspn(key, "=")] = '\0';
            value = strchr(a, '=') + 1;
        }
        ok = config_set(&cli->cfg, key, value, err, errlen);
    }
    free(sets);
    return ok;
}

static struct store *open_store(const struct config *cfg)
{
    char err[512];
    struct store *s = store_open(cfg->db_path, err, sizeof(err));

    if (s == NULL)
        fatal("database: %s", err);
    return s;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct event_base *base = arg;

    (void)what;
    log_info("signal %d: stopping", (int)sig);
    event_base_loopbreak(base);
}

/*
 * The web server inside `warden run`: its own event loop in its own thread,
 * so that a page or a console query never holds up ingest, which runs on
 * the main loop. The main thread stops it through a pipe (libevent is not
 * built here with cross-thread notification).
 */
struct web_thread {
    struct event_base *base;
    struct web *web;
    struct event *stop;
    int pipe[2];
    pthread_t thread;
};

static void web_thread_on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static void *web_thread_main(void *arg)
{
    struct web_thread *t = arg;

    event_base_dispatch(t->base);
    return NULL;
}

/* Start serving; NULL (having said why) when the web.* settings cannot be used. */
static struct web_thread *web_thread_start(const struct config *cfg)
{
    struct web_thread *t = calloc(1, sizeof(*t));
    char err[512];

    if (t == NULL || (t->base = event_base_new()) == NULL || pipe(t->pipe) != 0)
        fatal("web: cannot set up the server thread");
    if ((t->web = web_start(t->base, cfg, err, sizeof(err))) == NULL) {
        fprintf(stderr, "warden: web: %s\n", err);
        close(t->pipe[0]);
        close(t->pipe[1]);
        event_base_free(t->base);
        free(t);
        return NULL;
    }
    t->stop = event_new(t->base, t->pipe[0], EV_READ, web_thread_on_stop, t->base);
    event_add(t->stop, NULL);
    if (pthread_create(&t->thread, NULL, web_thread_main, t) != 0)
        fatal("web: cannot start the server thread");
    log_info("serving http://%s/", web_address(t->web));
    return t;
}

static void web_thread_stop(struct web_thread *t)
{
    if (t == NULL)
        return;
    if (write(t->pipe[1], "", 1) != 1)
        log_warn("web: cannot signal the server thread");
    pthread_join(t->thread, NULL);
    web_stop(t->web);
    event_free(t->stop);
    close(t->pipe[0]);
    close(t->pipe[1]);
    event_base_free(t->base);
    free(t);
}

/* `warden run` and `warden ingest`: the long-running daemon. */
static int cmd_run(struct cli *cli)
{
    struct event_base *base = event_base_new();
    struct eval_thread *evaluator = NULL;
    struct notify *notify = NULL;
    struct web_thread *web = NULL;
    struct store *store;
    struct ingest *in;
    struct event *sigterm, *sigint;
    char err[512];
    bool run = strcmp(cli->command, "run") == 0;

    if (base == NULL)
        fatal("cannot create the event loop");
    signal(SIGPIPE, SIG_IGN);
    store = open_store(&cli->cfg);
    /* A web.* setting that cannot be used is a configuration error (exit 2), found first. */
    if (run && (web = web_thread_start(&cli->cfg)) == NULL) {
        store_close(store);
        event_base_free(base);
        return EXIT_USAGE;
    }
    mosquitto_lib_init();
    in = ingest_start(base, &cli->cfg, store, err, sizeof(err));
    if (in == NULL)
        fatal("ingest: %s", err);
    if (run && (evaluator = eval_thread_start(&cli->cfg, err, sizeof(err))) == NULL)
        fatal("evaluator: %s", err);
    if (run && (notify = notify_start(&cli->cfg, err, sizeof(err))) == NULL)
        fatal("%s", err);
    sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    sigint = evsignal_new(base, SIGINT, on_signal, base);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    log_info("warden %s: database %s, broker %s:%d", WARDEN_VERSION, cli->cfg.db_path,
             cli->cfg.mqtt_host, cli->cfg.mqtt_port);
    event_base_dispatch(base);
    web_thread_stop(web);
    notify_stop(notify);
    eval_thread_stop(evaluator);
    ingest_stop(in);
    event_free(sigterm);
    event_free(sigint);
    store_close(store);
    event_base_free(base);
    mosquitto_lib_cleanup();
    log_info("stopped");
    return 0;
}

/* `warden serve`: the web server alone, on the database another process ingests into. */
static int cmd_serve(struct cli *cli)
{
    struct event_base *base = event_base_new();
    struct event *sigterm, *sigint;
    struct web *web;
    char err[512];

    if (base == NULL)
        fatal("cannot create the event loop");
    signal(SIGPIPE, SIG_IGN);
    /* Bring the schema up to date first; the server's own connections do not migrate. */
    store_close(open_store(&cli->cfg));
    if ((web = web_start(base, &cli->cfg, err, sizeof(err))) == NULL) {
        fprintf(stderr, "warden: web: %s\n", err);
        event_base_free(base);
        return EXIT_USAGE;
    }
    sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    sigint = evsignal_new(base, SIGINT, on_signal, base);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    log_info("warden %s: database %s", WARDEN_VERSION, cli->cfg.db_path);
    log_info("serving http://%s/", web_address(web));
    event_base_dispatch(base);
    web_stop(web);
    event_free(sigterm);
    event_free(sigint);
    event_base_free(base);
    log_info("stopped");
    return 0;
}

/* `warden db prune`: run retention to completion, with progress on a terminal. */
static int cmd_db_prune(struct cli *cli, struct store *s)
{
    struct store_retention r;
    bool more = true;
    int rounds = 0;

    config_retention(&cli->cfg, &r);
    while (more) {
        if (store_prune(s, &r, clock_now_ms(), 50000, &more) != STORE_OK) {
            fprintf(stderr, "warden: prune: %s\n", store_errmsg(s));
            store_close(s);
            return 1;
        }
        if (isatty(STDERR_FILENO) && ++rounds % 10 == 0)
            fprintf(stderr, "\rpruning: %lld bytes in use", (long long)store_used_bytes(s));
    }
    if (isatty(STDERR_FILENO) && rounds >= 10)
        fputc('\n', stderr);
    printf("%s: %lld bytes in use after pruning\n", cli->cfg.db_path,
           (long long)store_used_bytes(s));
    store_close(s);
    return 0;
}

static volatile sig_atomic_t backup_stop;

static void backup_on_signal(int sig)
{
    (void)sig;
    backup_stop = 1;
}

/* Between steps: progress on a terminal, and whether to go on. */
static bool backup_progress(int64_t done, int64_t total, void *arg)
{
    (void)arg;
    if (isatty(STDERR_FILENO) && total > 0)
        fprintf(stderr, "\rbackup: %3d%%", (int)(done * 100 / total));
    return !backup_stop;
}

/*
 * `warden db backup FILE [--force]`: the copy is the store's work; this says
 * how it went, and lets Ctrl-C or SIGTERM stop it without leaving a partial
 * file. It opens the database read-only: no migration, nothing created.
 */
static int cmd_db_backup(struct cli *cli)
{
    const char *dest = NULL;
    bool force = false, bad = false;
    struct store_backup_info info;
    struct sigaction sa = {.sa_handler = backup_on_signal, .sa_flags = SA_RESTART};
    char err[512];

    for (int i = 2; i < cli->nargs; i++) {
        if (strcmp(cli->args[i], "--force") == 0)
            force = true;
        else if (dest == NULL && cli->args[i][0] != '-')
            dest = cli->args[i];
        else
            bad = true;
    }
    if (bad || dest == NULL) {
        fprintf(stderr, "usage: warden db backup FILE [--force]\n");
        return EXIT_USAGE;
    }
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    enum store_err r = store_backup(cli->cfg.db_path, dest, force, backup_progress, NULL, &info,
                                    err, sizeof(err));
    if (isatty(STDERR_FILENO))
        fputc('\n', stderr);
    if (r != STORE_OK) {
        fprintf(stderr, "warden: backup: %s\n", err);
        return r == STORE_ERR_INVALID ? EXIT_USAGE : 1;
    }
    printf("%s: %lld bytes (%.1f MiB, schema %d), a copy of %s, in %.2f s (%lld pages in %lld "
           "steps)\n",
           dest, (long long)info.bytes, (double)info.bytes / (1024 * 1024), info.schema,
           cli->cfg.db_path, (double)info.ms / 1000, (long long)info.pages, (long long)info.steps);
    return 0;
}

static int cmd_db(struct cli *cli)
{
    struct store *s;
    const char *sub = cli->nargs > 1 ? cli->args[1] : NULL;

    if (sub != NULL && strcmp(sub, "backup") == 0)
        return cmd_db_backup(cli);
    if (sub == NULL || (strcmp(sub, "migrate") && strcmp(sub, "check") && strcmp(sub, "prune"))) {
        fprintf(stderr, "usage: warden db migrate|check|prune|backup FILE [--force]\n");
        return EXIT_USAGE;
    }
    s = open_store(&cli->cfg);
    if (strcmp(sub, "prune") == 0)
        return cmd_db_prune(cli, s);
    printf("%s: schema %d (this warden knows %d)\n", cli->cfg.db_path, store_schema_version(s),
           store_schema_latest());
    if (strcmp(sub, "check") == 0) {
        char msg[256];
        bool ok = store_check(s, msg, sizeof(msg));
        printf("%s: integrity %s\n", cli->cfg.db_path, msg);
        store_close(s);
        return ok ? 0 : 1;
    }
    store_close(s);
    return 0;
}

/* The import commands (imports/) and the hub's control plane, each on an open store. */
static int cmd_config_import(struct cli *cli)
{
    struct store *s = open_store(&cli->cfg);
    const char *c = cli->command;
    int rc;

    if (strcmp(c, "groups") == 0)
        rc = import_cmd_groups(cli->nargs, cli->args, s);
    else if (strcmp(c, "registry") == 0)
        rc = import_cmd_registry(cli->nargs, cli->args, s, &cli->cfg);
    else if (strcmp(c, "hub") == 0)
        rc = hubctl_cmd(cli->nargs, cli->args, s, &cli->cfg);
    else
        rc = import_cmd_intel(cli->nargs, cli->args, s);
    store_close(s);
    return rc;
}

static int cmd_sim(struct cli *cli)
{
    struct sim_target t = {cli->cfg.mqtt_host, cli->cfg.mqtt_port, cli->cfg.hub_name,
                           cli->cfg.mqtt_username, NULL, NULL};
    char password[256] = "", keystore[1024], err[512];
    int rc;

    if (cli->cfg.mqtt_password_file[0] != '\0') {
        if (!hub_keys_read_password(cli->cfg.mqtt_password_file, password, sizeof(password), err,
                                    sizeof(err))) {
            fprintf(stderr, "warden sim: mqtt.password_file: %s\n", err);
            return 2;
        }
        t.password = password;
    }
    hub_keys_default_path(cli->cfg.hub_keystore, cli->cfg.db_path, keystore, sizeof(keystore));
    t.keystore = keystore;

    mosquitto_lib_init();
    rc = sim_main(cli->nargs, cli->args, &t);
    mosquitto_lib_cleanup();
    return rc;
}

/* The catalogue's README rows, so a test can hold the README to the catalogue. */
static int cmd_catalog(struct cli *cli)
{
    const char *which = cli->nargs > 2 ? cli->args[2] : "alerts";

    if (cli->nargs < 2 || strcmp(cli->args[1], "--markdown") != 0 || cli->nargs > 3 ||
        (strcmp(which, "alerts") != 0 && strcmp(which, "recommendations") != 0)) {
        fputs("usage: warden catalog --markdown [alerts|recommendations]\n", stderr);
        return EXIT_USAGE;
    }
    catalog_markdown(stdout, strcmp(which, "recommendations") == 0);
    return 0;
}

int main(int argc, char **argv)
{
    struct cli cli = {0};
    char err[512];
    int rc;

    if (!parse_cli(argc, argv, &cli, err, sizeof(err))) {
        fprintf(stderr, "warden: %s\n", err);
        free(cli.args);
        return EXIT_USAGE;
    }
    if (cli.command == NULL || strcmp(cli.command, "help") == 0) {
        fputs(usage, cli.command ? stdout : stderr);
        rc = cli.command ? 0 : EXIT_USAGE;
    } else if (strcmp(cli.command, "version") == 0) {
        printf("warden %s (schema %d)\n", WARDEN_VERSION, store_schema_latest());
        rc = 0;
    } else if (strcmp(cli.command, "run") == 0 || strcmp(cli.command, "ingest") == 0) {
        rc = cmd_run(&cli);
    } else if (strcmp(cli.command, "serve") == 0) {
        rc = cmd_serve(&cli);
    } else if (strcmp(cli.command, "evaluate") == 0) {
        rc = eval_cmd_evaluate(cli.nargs, cli.args, &cli.cfg);
    } else if (strcmp(cli.command, "db") == 0) {
        rc = cmd_db(&cli);
    } else if (strcmp(cli.command, "hub") == 0 && cli.nargs > 1 && strcmp(cli.args[1], "tls") == 0) {
        rc = front_main(&cli.cfg); /* needs no database */
    } else if (strcmp(cli.command, "groups") == 0 && cli.nargs > 1 &&
               (strcmp(cli.args[1], "baseline") == 0 || strcmp(cli.args[1], "backtest") == 0)) {
        rc = tune_cmd(cli.nargs, cli.args, &cli.cfg);
    } else if (strcmp(cli.command, "groups") == 0 || strcmp(cli.command, "registry") == 0 ||
               strcmp(cli.command, "hub") == 0 || strcmp(cli.command, "intel") == 0) {
        rc = cmd_config_import(&cli);
    } else if (strcmp(cli.command, "sim") == 0) {
        rc = cmd_sim(&cli);
    } else if (strcmp(cli.command, "notify") == 0) {
        rc = notify_cmd(cli.nargs, cli.args, &cli.cfg);
    } else if (strcmp(cli.command, "catalog") == 0) {
        rc = cmd_catalog(&cli);
    } else if (strcmp(cli.command, "config") == 0) {
        config_print(&cli.cfg);
        rc = 0;
    } else {
        fprintf(stderr, "warden: unknown command \"%s\"\n%s", cli.command, usage);
        rc = EXIT_USAGE;
    }
    free(cli.args);
    return rc;
}
