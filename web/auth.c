/*
 * web/auth.c: the admin token and the login sessions (SPEC 6, Auth).
 *
 * The token is generated at first start into web.auth.token_file (the bare
 * token on one line, mode 0600); whoever can read that file is the admin.
 * A request carries it as "Authorization: Bearer TOKEN", or logs in once
 * with it (POST /login) and then carries the session cookie that login sets.
 * A session is a random id held in memory (a restart logs everyone out);
 * its CSRF token is HMAC-SHA256(token, session id), so the pages can put it
 * in their forms without storing anything, and a state-changing request
 * with a session cookie must send it back (header X-CSRF-Token or form
 * field csrf). Comparisons of secrets are constant-time.
 */
#include "internal.h"

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

struct session {
    char id[SESSION_ID_LEN + 1]; /* "" when the slot is free */
    int64_t expires_ms;
};

struct web_auth {
    char token[128];
    struct session sessions[SESSIONS_MAX];
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

void web_auth_free(struct web_auth *a)
{
    if (a == NULL)
        return;
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

/* ---- POST /login, POST /logout --------------------------------------------------------------- */

/* Only a path of this site: "/x", never "//host" or "/\host", which browsers take as a host. */
static bool local_path(const char *p)
{
    size_t n;

    if (p == NULL || p[0] != '/' || p[1] == '/' || p[1] == '\\' || (n = strlen(p)) > 1024)
        return false;
    return text_printable(p, n);
}

void web_login(struct web_req *r)
{
    struct web_auth *a = web_ctx_auth(r->ctx);
    const char *token = web_param(r, "token"), *next = web_param(r, "next");
    char cookie[200];
    struct session *s;

    if (!local_path(next))
        next = "/";
    if (token == NULL || !secret_equal(token, a->token)) {
        struct evbuffer *loc = evbuffer_new();
        char *enc = evhttp_uriencode(next, -1, 0);
        char *peer = NULL;
        ev_uint16_t port = 0;

        evhttp_connection_get_peer(evhttp_request_get_connection(r->req), &peer, &port);
        log_warn("web: failed login from %s", peer ? peer : "?");
        evbuffer_add_printf(loc, "/login?failed=1&next=%s", enc ? enc : "%2F");
        evbuffer_add(loc, "", 1);
        free(enc);
        web_redirect(r, (const char *)evbuffer_pullup(loc, -1), NULL);
        evbuffer_free(loc);
        return;
    }
    if ((s = session_new(a)) == NULL) {
        web_error(r, 500, "internal error", "no random bytes for a session");
        return;
    }
    snprintf(cookie, sizeof(cookie),
             COOKIE_NAME "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld", s->id,
             SESSION_TTL_MS / 1000);
    web_redirect(r, next, cookie);
    explicit_bzero(cookie, sizeof(cookie));
}

void web_logout(struct web_req *r)
{
    struct session *s = request_session(web_ctx_auth(r->ctx), r);

    if (s != NULL)
        explicit_bzero(s, sizeof(*s));
    web_redirect(r, "/login", COOKIE_NAME "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
}
