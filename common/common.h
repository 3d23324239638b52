/*
 * common/: the few helpers every module shares. One way to log, one clock,
 * one bounded allocator for decoded messages, and the small parsers (ISO 8601
 * durations and times, UTF-8 checks, IP text) that more than one module needs.
 * Nothing here knows about MQTT, SQLite or HTTP.
 */
#ifndef WARDEN_COMMON_H
#define WARDEN_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define WARDEN_VERSION "0.1.0"

/* ---- logging ------------------------------------------------------------ */

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* fatal() is for what cannot go on: it logs and exits with status 1. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Crash loudly on a broken invariant, in every build. */
#define WARDEN_ASSERT(cond)                                                                        \
    do {                                                                                           \
        if (!(cond))                                                                               \
            warden_assert_fail(#cond, __FILE__, __LINE__);                                         \
    } while (0)
void warden_assert_fail(const char *what, const char *file, int line) __attribute__((noreturn));

/* The exit status of a command given wrong arguments or settings. */
#define EXIT_USAGE 2

/* ---- clock ---------------------------------------------------------------- */

/* Wall-clock time in unix milliseconds. Tests move it with clock_set_ms(). */
int64_t clock_now_ms(void);
/* Pin the clock to ms (>= 0), or give it back to the system clock (ms < 0). */
void clock_set_ms(int64_t ms);
/* Monotonic milliseconds (and microseconds), for timeouts and latencies only. */
int64_t clock_mono_ms(void);
int64_t clock_mono_us(void);

/* ---- bounded arena ---------------------------------------------------------- */

/*
 * An arena hands out memory that is all freed at once by arena_free(). It
 * refuses to grow past its cap, so a hostile input cannot make a decoder
 * allocate without bound: every allocation can fail and callers check.
 */
struct arena_chunk;
struct arena {
    struct arena_chunk *head;
    size_t used;  /* bytes handed out, all chunks */
    size_t cap;   /* refuse past this many bytes */
};

void arena_init(struct arena *a, size_t cap);
void *arena_alloc(struct arena *a, size_t n);          /* zeroed; NULL past the cap */
char *arena_strndup(struct arena *a, const char *s, size_t n); /* NUL-terminated copy */
void arena_free(struct arena *a);

/* ---- text and time parsers (all take (buf, len) or a NUL-terminated string) -- */

/* True when s[0..n) is valid UTF-8 (no overlongs, no surrogates). */
bool utf8_valid(const char *s, size_t n);
/* The length of the one valid UTF-8 character that s[0..n) begins with, 0 when it begins with
 * none (n == 0, a stray or truncated sequence, an overlong, a surrogate): where text may be cut. */
size_t utf8_char(const char *s, size_t n);

/* The value of hex digit c (either case), -1 when c is not one. */
int hex_digit(int c);
/* True when s[0..n) has no C0 control characters and no DEL. */
bool text_printable(const char *s, size_t n);

/*
 * A device id as IoT Hub allows it: 1 to DEVICE_ID_MAX ASCII letters, digits
 * and - . % _ * ? ! ( ) , : = @ $ '. Returns NULL when id[0..n) is one, else
 * why not (a static string). Every place that takes a device id from outside
 * (topics, hub records, the registry import, the lab hub's CONNECT) asks this
 * one function, so an id one of them refuses cannot come in through another.
 * Being ASCII, an id cannot pass for another with an invisible character or a
 * letter of another script (a Cyrillic "е" for "e").
 */
#define DEVICE_ID_MAX 128
const char *device_id_check(const char *id, size_t n);

/*
 * ISO 8601 duration ("PT10S", "PT05M", "P1D", "P1DT12H") to milliseconds.
 * Years and months are refused (they have no fixed length). Returns false on
 * anything else, including overflow.
 */
bool duration_parse(const char *s, int64_t *ms);

/*
 * ISO 8601 date-time ("2026-11-29T10:00:00Z", fractions, "+02:00" offsets;
 * no zone means UTC) to unix milliseconds. Returns false when it is not a date.
 */
bool time_parse_iso(const char *s, int64_t *ms);
/* Format unix ms as "2026-11-29T10:00:00.123Z" into out (at least 32 bytes). */
void time_format_iso(int64_t ms, char *out, size_t outlen);

/*
 * A look at raw JSON bytes before a parser builds anything: nesting deeper
 * than max_depth, or a top-level array with max_elems or more commas (0: no
 * limit). Jansson recurses up to 2048 levels and builds a whole array before
 * anyone can count it. Strings are skipped with their escapes; for bytes that
 * are not JSON the answer does not matter, the parser refuses them.
 */
enum json_scan { JSON_SCAN_OK, JSON_SCAN_TOO_DEEP, JSON_SCAN_TOO_MANY };
enum json_scan json_prescan(const void *buf, size_t len, size_t max_depth, size_t max_elems);
/* Where the JSON string that begins at buf[i] (a '"') ends: the index just past its closing
 * quote, escapes skipped, or len when it has none. */
size_t json_string_end(const void *buf, size_t len, size_t i);

/* ---- IP addresses -------------------------------------------------------------- */

/* An address as raw network-order bytes. family 0 means "absent". */
struct ip_addr {
    uint8_t family; /* 4, 6 or 0 */
    uint8_t b[16];  /* IPv4 uses b[0..3] */
};

/* Parse dotted-quad or IPv6 text. False when it is not an address. */
bool ip_parse(const char *s, struct ip_addr *out);
/* Canonical text (inet_ntop) into out (at least 46 bytes). */
void ip_format(const struct ip_addr *ip, char *out, size_t outlen);

/*
 * CIDR text ("10.0.0.0/8", "2001:db8::/32", or a bare address meaning /32 or
 * /128) to a network and prefix length. Host bits are cleared, so
 * "192.168.0.1/8" reads as 192.0.0.0/8. False when it is not a CIDR.
 */
bool cidr_parse(const char *s, struct ip_addr *net, int *prefix);
/* True when ip is inside net/prefix (same family; see ip_unmap). */
bool cidr_contains(const struct ip_addr *net, int prefix, const struct ip_addr *ip);
/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes plain IPv4; others stay. */
void ip_unmap(struct ip_addr *ip);

/* ---- hashing ------------------------------------------------------------------- */

/* A fast 64-bit hash of p[0..n), continued from seed (use HASH_SEED to start). */
#define HASH_SEED 0xcbf29ce484222325ULL
uint64_t hash_bytes(uint64_t seed, const void *p, size_t n);

/* ---- a byte-keyed hash map ------------------------------------------------------ */

/*
 * Open addressing, keys are byte strings copied into the map, values are
 * int64. Used for the store's caches (device ids, addresses) and per-batch
 * aggregates. Grows by doubling; map_put returns false only when out of memory.
 */
struct map_entry {
    uint64_t hash;
    void *key;      /* NULL marks an empty slot */
    size_t keylen;
    int64_t value;
};
struct map {
    struct map_entry *slots;
    size_t cap, len;
};

void map_init(struct map *m);
void map_clear(struct map *m); /* forget every entry, keep the memory */
void map_free(struct map *m);
/* The entry for key, or NULL. */
struct map_entry *map_get(const struct map *m, const void *key, size_t keylen);
/* The entry for key, created with value 0 when missing; NULL when out of memory. */
struct map_entry *map_upsert(struct map *m, const void *key, size_t keylen);
/* Iterate: for (size_t i = 0; i < m->cap; i++) if (m->slots[i].key) ... */

/* ---- configuration --------------------------------------------------------------- */

/*
 * Every setting, with its default in common/config.c (the one place that
 * knows them). Durations are held in milliseconds.
 */
struct config {
    char mqtt_host[256];
    int mqtt_port;
    char mqtt_client_id[128];
    char mqtt_username[128];
    char mqtt_password_file[512];
    int mqtt_keepalive;
    char mqtt_topic_root[128];      /* prefix before "devices/..." and "hub/..." */
    char mqtt_tls_ca_file[512];
    char mqtt_tls_cert_file[512];
    char mqtt_tls_key_file[512];

    char db_path[512];
    char db_synchronous[16];        /* FULL or NORMAL */

    char web_listen[128];
    char web_auth_token_file[512];  /* default: warden.token beside the database */
    bool web_auth_require_for_reads; /* every request needs the token: beyond loopback */
    bool web_secure_cookies;        /* the session cookie is Secure (users come through HTTPS) */
    int64_t web_sql_time_limit_ms;
    int64_t web_sql_max_rows;
    int64_t web_sql_export_time_limit_ms;
    int64_t web_sql_export_max_bytes;
    int64_t web_sql_max_value_bytes; /* SQLITE_LIMIT_LENGTH of the console's connections */
    int64_t web_sql_workers;         /* threads running console queries and exports */
    int64_t web_sql_queue;           /* console requests that may wait for a worker */
    int64_t web_max_connections;
    int64_t web_max_header_bytes;
    int64_t web_max_body_bytes;
    int64_t web_request_timeout_ms; /* a request must arrive whole within this */
    char web_external_url[256];     /* how users reach the web ("" = http://web.listen) */

    char hub_name[128];
    char hub_keystore[512]; /* the lab hub's key store; "" = warden-hub.keys beside the db */
    char hub_tls_listen[128];     /* `warden hub tls`: the TLS front end's address */
    char hub_tls_cert_file[512];  /* its server certificate (PEM, chain allowed) */
    char hub_tls_key_file[512];   /* and key */
    int64_t hub_tls_max_connections;

    int64_t ingest_max_message_bytes;
    int64_t ingest_max_flows_per_message;
    int64_t ingest_dedup_window_ms;
    int64_t ingest_max_clock_skew_ms;
    int64_t ingest_batch_max_messages;
    int64_t ingest_max_auto_devices; /* devices registered without an import, at most */

    int64_t evaluator_interval_ms;
    int64_t evaluator_offset_ms;
    char evaluator_clock[16];       /* "received" or "device" */
    int64_t evaluator_silent_after_ms;
    int64_t evaluator_event_alert_ttl_ms;

    bool intel_match_bogons;

    bool rec_shared_credentials;    /* recommendations.shared_credentials, ... : each type on/off */
    bool rec_ip_filter_deny_all;
    bool rec_ip_filter_permissive_rule;
    bool rec_diagnostics_logs;
    int rec_max_allow_prefix_v4;    /* recommendations.max_allow_prefix.ipv4, 16 */
    int rec_max_allow_prefix_v6;    /* recommendations.max_allow_prefix.ipv6, 48 */

    int64_t retention_raw_ms;       /* raw flows and events, P2D */
    int64_t retention_hourly_ms;    /* hourly flow summaries, P30D */
    int64_t retention_counts_ms;    /* count buckets, P90D */
    int64_t retention_fine_ms;      /* 10 s buckets merged into 1 min after this, P1D */
    int64_t retention_results_ms;   /* resolved alerts and recommendations, P365D */
    int64_t retention_max_db_bytes; /* past this the oldest raw data goes first */
    int64_t retention_min_free_bytes; /* ... and also when the disk has less free */

    char notify_am_urls[2048];      /* notify.alertmanager.urls, comma-separated; "" = off */
    char notify_am_basic_auth_file[512]; /* "user:password" for every Alertmanager */
    char notify_am_tls_ca_file[512];     /* CA of an Alertmanager behind HTTPS */
    int64_t notify_resend_ms;       /* open alerts re-sent this often, PT1M */
    int64_t notify_resolved_retention_ms; /* resolved ones this long, PT15M */
    int64_t notify_timeout_ms;      /* one request at most, PT10S */
    char notify_labels[1024];       /* notify.labels: a JSON object of strings, "" = none */
};

#define NOTIFY_MAX_URLS 8

/* Fill cfg with the defaults. */
void config_defaults(struct config *cfg);
/*
 * Apply a JSON configuration file. A missing file is an error only when
 * required (--config given); on error writes a message naming the key.
 */
bool config_load_file(struct config *cfg, const char *path, bool required, char *err,
                      size_t errlen);
/* Apply one setting given as text ("mqtt.port", "1884"), as from the command line. */
bool config_set(struct config *cfg, const char *key, const char *value, char *err, size_t errlen);
/* Write the effective configuration as JSON to stdout. */
void config_print(const struct config *cfg);

#endif
