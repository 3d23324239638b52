/*
 * web/auth.c: the admin token and the login sessions (SPEC 6, Auth).
 *
 * The token is generated at first start into web.auth.token_file (the bare
 * token on one line, mode 0600); whoever can read that file is the admin.
 * A request carries it as "Authorization: Bearer TOKEN", or logs in once
 * with it (POST /login) and then carries the session cookie that login sets.
 * The cookie is Secure when web.secure_cookies says that users come through
 * HTTPS: Warden speaks plain HTTP itself and believes no X-Forwarded-Proto.
 * A session is a random id held in memory (a restart logs everyone out);
 * its CSRF token is HMAC-SHA256(token, session id), so the pages can put it
 * in their forms without storing anything, and a state-changing request
 * with a session cookie must send it back (header X-CSRF-Token or form
 * field csrf). Comparisons of secrets are constant-time.
 *
 * Failed logins are counted per source address (an IPv6 client by its /64,
 * which one host can hold whole): past LOGIN_FAILS_MAX in LOGIN_WINDOW_MS a
 * source gets 429 until its window ends, without its token being looked at.
 * The table of sources is fixed; when it is full, the sources beyond it
 * share one entry, so many addresses buy an attacker no more tries than one
 * more source. The log says the first failure of a quiet spell at once and
 * sums up the rest once a minute, so a guessing script cannot fill it.
 *
 * Part of the core: the router checks every request here, and the two forms
 * (POST /login, POST /logout) are this file's routes, web_auth_routes; the
 * login page that posts the first is page_login.c's.
 */
#include "server.h"
#include "html.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define SESSIONS_MAX   64
#define SESSION_TTL_MS (12 * 3600 * 1000LL)
#define SESSION_ID_LEN 64 /* hex of 32 random bytes */
#define TOKEN_MIN_LEN  16
#define COOKIE_NAME    "warden_session"
#define COOKIE_ATTRS   "; Path=/; HttpOnly; SameSite=Strict"

#define LOGIN_WINDOW_MS   60000 /* a source's failures count for this long (monotonic) */
#define LOGIN_FAILS_MAX   10    /* failures a source may make in its window */
#define LOGIN_SOURCES_MAX 256   /* sources counted one by one; the rest share one entry */

struct session {
    char id[SESSION_ID_LEN + 1]; /* "" when the slot is free */
    int64_t expires_ms;
};

/* The failed logins of one source within its window. */
struct login_source {
    bool used;
    struct ip_addr key; /* the address; an IPv6 one cut to its /64 */
    int64_t since_ms;   /* its first failure of the window */
    int fails;
    uint32_t gen;       /* the summary it was last counted in (login_log.gen) */
};

/* What the next summary line says: attempts since the first failure of a quiet spell. */
struct login_log {
    bool active;
    int64_t since_ms;
    int64_t fails;   /* wrong or missing tokens */
    int64_t refused; /* attempts answered 429 unchecked */
    int64_t sources; /* of the table */
    int64_t others;  /* failures of the sources beyond it */
    uint32_t gen;    /* never 0: a new entry's gen is 0 */
};

struct web_auth {
    char token[128];
    bool secure_cookies; /* web.secure_cookies */
    struct session sessions[SESSIONS_MAX];
    struct login_source sources[LOGIN_SOURCES_MAX];
    struct login_source others; /* every source beyond the table */
    struct login_log log;
};

static void hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static bool random_hex(char *out, size_t bytes)
{
    unsigned char raw[32];

    WARDEN_ASSERT(bytes <= sizeof(raw));
    if (RAND_bytes(raw, (int)bytes) != 1)
        return false;
    hex(raw, bytes, out);
    explicit_bzero(raw, sizeof(raw));
    return true;
}

/* ---- the token file -------------------------------------------------------------------------- */

/* web.auth.token_file, or warden.token in the directory of the database. */
static void token_path(const struct config *cfg, char *out, size_t outlen)
{
    const char *slash = strrchr(cfg->db_path, '/');

    if (cfg->web_auth_token_file[0] != '\0')
        snprintf(out, outlen, "%s", cfg->web_auth_token_file);
    else if (slash == NULL)
        snprintf(out, outlen, "warden.token");
    else
        snprintf(out, outlen, "%.*s/warden.token", (int)(slash - cfg->db_path), cfg->db_path);
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Create the file with a new token; O_EXCL, so two processes starting at once agree. */
static int token_create(const char *path, char *token, size_t tokenlen, char *err, size_t errlen)
{
    char digits[65], line[80];
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

    if (fd < 0)
        return errno == EEXIST ? 0 : -1;
    if (!random_hex(digits, 32)) {
        snprintf(err, errlen, "web.auth.token_file: no random bytes for the token");
        close(fd);
        unlink(path);
        return -2;
    }
    snprintf(token, tokenlen, "%s", digits);
    snprintf(line, sizeof(line), "%s\n", digits);
    explicit_bzero(digits, sizeof(digits));
    if (fchmod(fd, 0600) != 0 || !write_all(fd, line, strlen(line)) || fsync(fd) != 0) {
        snprintf(err, errlen, "web.auth.token_file: %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        explicit_bzero(line, sizeof(line));
        return -2;
    }
    close(fd);
    explicit_bzero(line, sizeof(line));
    log_info("web: wrote a new admin token to %s", path);
    return 1;
}

static bool token_valid(const char *t)
{
    size_t n = strlen(t);

    if (n < TOKEN_MIN_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (t[i] <= ' ' || t[i] >= 0x7f)
            return false;
    return true;
}

static bool token_read(const char *path, char *token, size_t tokenlen, char *err, size_t errlen)
{
    char buf[256];
    struct stat st;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        snprintf(err, errlen, "web.auth.token_file: %s: %s", path, strerror(errno));
        return false;
    }
    if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
        log_warn("web: %s can be read by other users (mode %03o): chmod 600 it", path,
                 (unsigned)(st.st_mode & 0777));
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "web.auth.token_file: %s: %s", path, strerror(errno));
        return false;
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (strlen(buf) >= tokenlen || !token_valid(buf)) {
        snprintf(err, errlen,
                 "web.auth.token_file: %s: the first line must be the token, %d to %zu "
                 "printable characters without spaces",
                 path, TOKEN_MIN_LEN, tokenlen - 1);
        explicit_bzero(buf, sizeof(buf));
        return false;
    }
    snprintf(token, tokenlen, "%s", buf);
    explicit_bzero(buf, sizeof(buf));
    return true;
}

struct web_auth *web_auth_new(const struct config *cfg, char *token, size_t tokenlen, char *err,
                              size_t errlen)
{
    struct web_auth *a = calloc(1, sizeof(*a));
    char path[1024];
    int rc;

    if (a == NULL) {
        snprintf(err, errlen, "web: out of memory");
        return NULL;
    }
    a->secure_cookies = cfg->web_secure_cookies;
    a->log.gen = 1;
    token_path(cfg, path, sizeof(path));
    rc = token_create(path, a->token, sizeof(a->token), err, errlen);
    if (rc == -1)
        snprintf(err, errlen, "web.auth.token_file: cannot create %s: %s", path, strerror(errno));
    if (rc < 0 || (rc == 0 && !token_read(path, a->token, sizeof(a->token), err, errlen))) {
        web_auth_free(a);
        return NULL;
    }
    snprintf(token, tokenlen, "%s", a->token);
    return a;
}

static void login_summary(struct web_auth *a);

void web_auth_free(struct web_auth *a)
{
    if (a == NULL)
        return;
    login_summary(a); /* what the last minute saw is not lost at exit */
    explicit_bzero(a, sizeof(*a));
    free(a);
}

/* ---- checking a request ---------------------------------------------------------------------- */

static bool secret_equal(const char *given, const char *secret)
{
    size_t n = strlen(secret);

    return strlen(given) == n && CRYPTO_memcmp(given, secret, n) == 0;
}

bool web_cookie_get(const char *header, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    const char *p = header;

    while (*p != '\0') {
        const char *end;
        size_t vlen;

        p += strspn(p, " \t;");
        end = p + strcspn(p, ";");
        if ((size_t)(end - p) > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            p += nlen + 1;
            vlen = (size_t)(end - p);
            while (vlen > 0 && (p[vlen - 1] == ' ' || p[vlen - 1] == '\t'))
                vlen--;
            if (vlen >= outlen)
                return false;
            memcpy(out, p, vlen);
            out[vlen] = '\0';
            return true;
        }
        p = end;
    }
    return false;
}

/* The session whose id is sid, forgetting expired ones on the way. */
static struct session *session_find(struct web_auth *a, const char *sid)
{
    int64_t now = clock_now_ms();
    struct session *found = NULL;

    if (strlen(sid) != SESSION_ID_LEN)
        return NULL;
    for (int i = 0; i < SESSIONS_MAX; i++) {
        struct session *s = &a->sessions[i];
        if (s->id[0] == '\0')
            continue;
        if (s->expires_ms <= now) {
            explicit_bzero(s, sizeof(*s));
            continue;
        }
        if (CRYPTO_memcmp(s->id, sid, SESSION_ID_LEN) == 0)
            found = s;
    }
    return found;
}

/* A new session, taking the slot of the one that expires first when all are used. */
static struct session *session_new(struct web_auth *a)
{
    struct session *slot = &a->sessions[0];

    for (int i = 0; i < SESSIONS_MAX; i++) {
        struct session *s = &a->sessions[i];
        if (s->id[0] == '\0') {
            slot = s;
            break;
        }
        if (s->expires_ms < slot->expires_ms)
            slot = s;
    }
    if (!random_hex(slot->id, SESSION_ID_LEN / 2))
        return NULL;
    slot->expires_ms = clock_now_ms() + SESSION_TTL_MS;
    return slot;
}

static void csrf_of(const struct web_auth *a, const char *sid, char *out)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    HMAC(EVP_sha256(), a->token, (int)strlen(a->token), (const unsigned char *)sid, strlen(sid),
         mac, &n);
    WARDEN_ASSERT(n == 32);
    hex(mac, n, out);
}

static const char *header(struct web_req *r, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(r->req), name);
}

static struct session *request_session(struct web_auth *a, struct web_req *r)
{
    const char *cookie = header(r, "Cookie");
    char sid[SESSION_ID_LEN + 2];

    if (cookie == NULL || !web_cookie_get(cookie, COOKIE_NAME, sid, sizeof(sid)))
        return NULL;
    return session_find(a, sid);
}

enum web_cred web_auth_check(struct web_auth *a, struct web_req *r, const char *csrf_field)
{
    const char *authz = header(r, "Authorization");
    const char *given;
    struct session *s;

    r->csrf[0] = '\0';
    if (authz != NULL) {
        if (strncasecmp(authz, "Bearer ", 7) == 0 && secret_equal(authz + 7, a->token))
            return WEB_CRED_TOKEN;
        return WEB_CRED_BAD;
    }
    if ((s = request_session(a, r)) == NULL)
        return WEB_CRED_NONE;
    csrf_of(a, s->id, r->csrf);
    given = header(r, "X-CSRF-Token");
    if (given == NULL)
        given = csrf_field;
    return given != NULL && secret_equal(given, r->csrf) ? WEB_CRED_CSRF : WEB_CRED_SESSION;
}

/* ---- counting failed logins ------------------------------------------------------------------ */

/* The client's address as a table key: IPv4 whole, IPv6 by its /64; zeros when unknown. */
static void login_key(struct web_req *r, struct ip_addr *key, char *text, size_t textlen)
{
    memset(key, 0, sizeof(*key));
    web_peer(r, text, textlen);
    if (!ip_parse(text, key)) {
        memset(key, 0, sizeof(*key));
        snprintf(text, textlen, "?");
        return;
    }
    ip_unmap(key);
    if (key->family == 6)
        memset(key->b + 8, 0, 8);
}

static void login_expire(struct login_source *e, int64_t now)
{
    if (e->used && now - e->since_ms >= LOGIN_WINDOW_MS)
        e->used = false;
}

/*
 * The entry that counts key's failures: its own, else a free one (claimed
 * at its first failure), else, the table being full, the shared one.
 */
static struct login_source *login_source(struct web_auth *a, const struct ip_addr *key,
                                         int64_t now)
{
    struct login_source *free_slot = NULL;

    login_expire(&a->others, now);
    for (int i = 0; i < LOGIN_SOURCES_MAX; i++) {
        struct login_source *e = &a->sources[i];
        login_expire(e, now);
        if (e->used && memcmp(&e->key, key, sizeof(*key)) == 0)
            return e;
        if (!e->used && free_slot == NULL)
            free_slot = e;
    }
    if (free_slot == NULL)
        return &a->others;
    free_slot->key = *key;
    return free_slot;
}

/* How long e must wait before its next try; 0 when it may try now. */
static int64_t login_wait_ms(const struct login_source *e, int64_t now)
{
    if (!e->used || e->fails < LOGIN_FAILS_MAX)
        return 0;
    return e->since_ms + LOGIN_WINDOW_MS - now;
}

/* Count one attempt of e in the summary: a failure, or one refused with 429. */
static void login_note(struct web_auth *a, struct login_source *e, bool refused, const char *peer,
                       int64_t now)
{
    if (!a->log.active) {
        log_warn("web: failed login from %s (further failed logins are summed up once a minute)",
                 peer);
        a->log.active = true;
        a->log.since_ms = now;
    }
    if (refused) {
        a->log.refused++;
        return;
    }
    a->log.fails++;
    if (e == &a->others)
        a->log.others++;
    else if (e->gen != a->log.gen) {
        e->gen = a->log.gen;
        a->log.sources++;
    }
}

static void login_failed(struct web_auth *a, struct login_source *e, const char *peer, int64_t now)
{
    if (!e->used) {
        e->used = true;
        e->since_ms = now;
        e->fails = 0;
        e->gen = 0;
    }
    e->fails++;
    login_note(a, e, false, peer, now);
}

/* The line about the attempts since the first failure, unless that one line said it all. */
static void login_summary(struct web_auth *a)
{
    struct login_log *l = &a->log;

    if (!l->active)
        return;
    if (l->fails > 1 || l->refused > 0) {
        int64_t tracked = l->fails - l->others;
        char others[120] = "", refused[120] = "";
        if (l->others > 0)
            snprintf(others, sizeof(others),
                     " (and %lld from sources beyond the %d counted one by one)",
                     (long long)l->others, LOGIN_SOURCES_MAX);
        if (l->refused > 0)
            snprintf(refused, sizeof(refused),
                     "; %lld more refused unchecked (429: over %d failures a minute)",
                     (long long)l->refused, LOGIN_FAILS_MAX);
        log_warn("web: %lld failed login%s from %lld source%s%s in the last %lld s%s",
                 (long long)tracked, tracked == 1 ? "" : "s", (long long)l->sources,
                 l->sources == 1 ? "" : "s", others,
                 (long long)((clock_mono_ms() - l->since_ms + 999) / 1000), refused);
    }
    *l = (struct login_log){.gen = l->gen + 1 == 0 ? 1 : l->gen + 1};
}

void web_auth_tick(struct web_auth *a)
{
    if (a != NULL && a->log.active && clock_mono_ms() - a->log.since_ms >= LOGIN_WINDOW_MS)
        login_summary(a);
}

/* 429 with Retry-After, as a page: the login form is what a person submits. */
static void login_too_many(struct web_req *r, int64_t wait_ms)
{
    struct evbuffer *out = evbuffer_new();
    long long secs = (long long)((wait_ms + 999) / 1000);
    char value[24];

    snprintf(value, sizeof(value), "%lld", secs);
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", value);
    html_begin(r, out, "Too many failed logins", NULL);
    html_printf(out,
                "<h1>Too many failed logins</h1><p>This address has failed to log in %d times "
                "within a minute. Try again in %lld s.</p>",
                LOGIN_FAILS_MAX, secs);
    html_end(out);
    web_send(r, 429, "text/html; charset=utf-8", out);
}

/* ---- POST /login, POST /logout --------------------------------------------------------------- */

/* Only a path of this site: "/x", never "//host" or "/\host", which browsers take as a host. */
static bool local_path(const char *p)
{
    size_t n;

    if (p == NULL || p[0] != '/' || p[1] == '/' || p[1] == '\\' || (n = strlen(p)) > 1024)
        return false;
    return text_printable(p, n);
}

/* The token is read from the form body alone: POST /login?token=... is a failed login. */
static void web_login(struct web_req *r)
{
    struct web_auth *a = web_server_of(r->ctx)->auth;
    const char *token = web_form_param(r, "token"), *next = web_param(r, "next");
    int64_t now = clock_mono_ms(), wait;
    struct login_source *src;
    struct ip_addr key;
    char cookie[200], peer[64];
    struct session *s;

    if (!local_path(next))
        next = "/";
    login_key(r, &key, peer, sizeof(peer));
    src = login_source(a, &key, now);
    if ((wait = login_wait_ms(src, now)) > 0) {
        login_note(a, src, true, peer, now);
        login_too_many(r, wait);
        return;
    }
    if (token == NULL || !secret_equal(token, a->token)) {
        struct evbuffer *loc = evbuffer_new();
        char *enc = evhttp_uriencode(next, -1, 0);

        login_failed(a, src, peer, now);
        evbuffer_add_printf(loc, "/login?failed=1&next=%s", enc ? enc : "%2F");
        evbuffer_add(loc, "", 1);
        free(enc);
        web_redirect(r, (const char *)evbuffer_pullup(loc, -1), NULL);
        evbuffer_free(loc);
        return;
    }
    if (src != &a->others)
        src->fails = 0; /* the admin is back: its failures are forgiven */
    if ((s = session_new(a)) == NULL) {
        web_error(r, 500, "internal error", "no random bytes for a session");
        return;
    }
    snprintf(cookie, sizeof(cookie), COOKIE_NAME "=%s" COOKIE_ATTRS "; Max-Age=%lld%s", s->id,
             SESSION_TTL_MS / 1000, a->secure_cookies ? "; Secure" : "");
    web_redirect(r, next, cookie);
    explicit_bzero(cookie, sizeof(cookie));
}

static void web_logout(struct web_req *r)
{
    struct web_auth *a = web_server_of(r->ctx)->auth;
    struct session *s = request_session(a, r);

    if (s != NULL)
        explicit_bzero(s, sizeof(*s));
    web_redirect(r, "/login",
                 a->secure_cookies ? COOKIE_NAME "=" COOKIE_ATTRS "; Max-Age=0; Secure"
                                   : COOKIE_NAME "=" COOKIE_ATTRS "; Max-Age=0");
}

/* Anyone may log in, even when every read needs the token; logging out is a change. */
const struct web_route web_auth_routes[] = {
    {"POST", "/login", WEB_PUBLIC, web_login, NULL},
    {"POST", "/logout", WEB_WRITES, web_logout, NULL},
    {NULL, NULL, 0, NULL, NULL},
};
