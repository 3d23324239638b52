/*
 * hub/hubkeys.c: reading and writing the lab hub's key store (hubkeys.h).
 *
 * Compiled into warden (registry and hub commands write it, the TLS front end
 * reads it) and into the broker plugin (which reads it). It uses only libc and
 * common/text.c, so the plugin can carry it.
 */
#include "hubkeys.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "warden-hub-keys\t1"

/* ---- reading ---------------------------------------------------------------------------- */

/* Splits one line at TABs in place; returns the number of fields (at most max). */
static size_t split_tabs(char *line, char **field, size_t max)
{
    size_t n = 0;

    while (n < max) {
        field[n++] = line;
        char *tab = strchr(line, '\t');
        if (tab == NULL)
            break;
        *tab = '\0';
        line = tab + 1;
    }
    return n;
}

/* Copies FIELD into a bounded slot; "-" is the empty field. */
static bool take(char *out, size_t outlen, const char *field)
{
    if (strcmp(field, "-") == 0)
        field = "";
    size_t n = strlen(field);
    if (n >= outlen || !text_printable(field, n))
        return false;
    memcpy(out, field, n + 1);
    return true;
}

static bool grow(void **arr, size_t n, size_t size)
{
    /* The capacity is implied by the count: the array doubles when the count
     * reaches a power of two (removals only leave it larger than needed). */
    if (n != 0 && (n & (n - 1)) != 0)
        return true;
    size_t cap = n == 0 ? 1 : n * 2;
    void *p = realloc(*arr, cap * size);
    if (p == NULL)
        return false;
    *arr = p;
    return true;
}

static int device_cmp(const void *a, const void *b)
{
    return strcmp(((const struct hub_keys_device *)a)->id, ((const struct hub_keys_device *)b)->id);
}

static bool parse_device(char **f, size_t nf, struct hub_keys *k)
{
    struct hub_keys_device d;

    memset(&d, 0, sizeof(d));
    if (nf == 8 && strcmp(f[7], "disabled") == 0)
        d.disabled = true;
    else if (nf != 7)
        return false;
    if (!take(d.id, sizeof(d.id), f[1]) || d.id[0] == '\0' || !take(d.auth, sizeof(d.auth), f[2]) ||
        !take(d.primary, sizeof(d.primary), f[3]) ||
        !take(d.secondary, sizeof(d.secondary), f[4]) ||
        !take(d.thumb[0], sizeof(d.thumb[0]), f[5]) || !take(d.thumb[1], sizeof(d.thumb[1]), f[6]))
        return false;
    if (!grow((void **)&k->devices, k->ndevices, sizeof(d)))
        return false;
    k->devices[k->ndevices++] = d;
    return true;
}

static bool parse_rule(char **f, size_t nf, struct hub_keys *k)
{
    struct hub_keys_rule r;

    memset(&r, 0, sizeof(r));
    if (nf != 4 || !take(r.name, sizeof(r.name), f[1]))
        return false;
    if (strcmp(f[2], "Allow") == 0 || strcmp(f[2], "Accept") == 0)
        r.allow = true;
    else if (strcmp(f[2], "Deny") != 0 && strcmp(f[2], "Reject") != 0)
        return false;
    if (!cidr_parse(f[3], &r.net, &r.prefix))
        return false;
    if (!grow((void **)&k->rules, k->nrules, sizeof(r)))
        return false;
    k->rules[k->nrules++] = r;
    return true;
}

static bool parse_cert(char **f, size_t nf, struct hub_keys *k)
{
    if (nf != 3 || strlen(f[1]) > HUB_KEYS_NAME_MAX || f[1][0] == '\0' || f[2][0] == '\0')
        return false;
    return hub_keys_put_cert(k, f[1], f[2]);
}

static bool parse_line(char *line, struct hub_keys *k)
{
    /* One slot more than the longest record (a disabled device's 8), so that
     * a line with more fields counts more, and is refused, not cut. */
    char *f[9];
    size_t nf = split_tabs(line, f, 9);

    if (strcmp(f[0], "device") == 0)
        return parse_device(f, nf, k);
    if (strcmp(f[0], "iprule") == 0)
        return parse_rule(f, nf, k);
    if (strcmp(f[0], "cert") == 0)
        return parse_cert(f, nf, k);
    if (strcmp(f[0], "hub") == 0)
        return nf == 2 && take(k->hub, sizeof(k->hub), f[1]);
    if (strcmp(f[0], "service") == 0)
        return nf == 2 && strlen(f[1]) == HUB_KEYS_SECRET_HEX &&
               take(k->service, sizeof(k->service), f[1]);
    if (strcmp(f[0], "ipfilter") == 0) {
        if (nf != 3)
            return false;
        if (strcmp(f[1], "rules") == 0)
            k->ip_mode = HUB_KEYS_IP_RULES;
        else if (strcmp(f[1], "legacy") == 0)
            k->ip_mode = HUB_KEYS_IP_LEGACY;
        else if (strcmp(f[1], "none") == 0)
            k->ip_mode = HUB_KEYS_IP_NONE;
        else
            return false;
        k->default_allow = strcmp(f[2], "Deny") != 0;
        return true;
    }
    return false;
}

bool hub_keys_parse(const char *buf, size_t len, struct hub_keys *k, char *err, size_t errlen)
{
    size_t lineno = 0;
    const char *p = buf, *end = buf + len;

    memset(k, 0, sizeof(*k));
    k->default_allow = true;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        char *line;

        lineno++;
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (memchr(p, '\0', n) != NULL) {
            snprintf(err, errlen, "line %zu: NUL byte", lineno);
            goto bad;
        }
        if ((line = malloc(n + 1)) == NULL) {
            snprintf(err, errlen, "line %zu: out of memory", lineno);
            goto bad;
        }
        memcpy(line, p, n);
        line[n] = '\0';
        bool ok = true;
        if (lineno == 1)
            ok = strcmp(line, MAGIC) == 0;
        else if (n > 0 && line[0] != '#')
            ok = parse_line(line, k);
        free(line);
        if (!ok) {
            if (lineno == 1)
                snprintf(err, errlen, "not a warden hub key store (no \"%s\" line)",
                         "warden-hub-keys 1");
            else
                snprintf(err, errlen, "line %zu: malformed record", lineno);
            goto bad;
        }
        p = nl ? nl + 1 : end;
    }
    if (k->ndevices > 1)
        qsort(k->devices, k->ndevices, sizeof(*k->devices), device_cmp);
    for (size_t i = 1; i < k->ndevices; i++)
        if (strcmp(k->devices[i - 1].id, k->devices[i].id) == 0) {
            snprintf(err, errlen, "device %s listed twice", k->devices[i].id);
            goto bad;
        }
    return true;
bad:
    hub_keys_free(k);
    return false;
}

bool hub_keys_load(const char *path, struct hub_keys *k, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t len;

    memset(k, 0, sizeof(*k));
    k->default_allow = true;
    if (f == NULL) {
        if (errno == ENOENT)
            return true;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return false;
    }
    if ((buf = malloc(HUB_KEYS_FILE_MAX)) == NULL) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return false;
    }
    len = fread(buf, 1, HUB_KEYS_FILE_MAX, f);
    bool toolong = len == HUB_KEYS_FILE_MAX, rerr = ferror(f);
    fclose(f);
    if (toolong || rerr) {
        free(buf);
        snprintf(err, errlen, "%s: %s", path, toolong ? "larger than 64 MiB" : "read error");
        return false;
    }
    char perr[256];
    bool ok = hub_keys_parse(buf, len, k, perr, sizeof(perr));
    free(buf);
    if (!ok)
        snprintf(err, errlen, "%s: %s", path, perr);
    return ok;
}

/* ---- writing ---------------------------------------------------------------------------- */

static const char *dash(const char *s)
{
    return s[0] != '\0' ? s : "-";
}

static const char *rule_action(const struct hub_keys *k, const struct hub_keys_rule *r)
{
    if (k->ip_mode == HUB_KEYS_IP_LEGACY)
        return r->allow ? "Accept" : "Reject";
    return r->allow ? "Allow" : "Deny";
}

static void write_all(FILE *f, const struct hub_keys *k)
{
    static const char *const modes[] = {"none", "rules", "legacy"};
    char net[64];

    fprintf(
        f,
        "%s\n# Written by warden; read by the lab hub plugin. Holds device keys: keep it 0640.\n",
        MAGIC);
    if (k->hub[0] != '\0')
        fprintf(f, "hub\t%s\n", k->hub);
    if (k->service[0] != '\0')
        fprintf(f, "service\t%s\n", k->service);
    fprintf(f, "ipfilter\t%s\t%s\n", modes[k->ip_mode], k->default_allow ? "Allow" : "Deny");
    for (size_t i = 0; i < k->nrules; i++) {
        ip_format(&k->rules[i].net, net, sizeof(net));
        fprintf(f, "iprule\t%s\t%s\t%s/%d\n", dash(k->rules[i].name), rule_action(k, &k->rules[i]),
                net, k->rules[i].prefix);
    }
    for (size_t i = 0; i < k->ncerts; i++)
        fprintf(f, "cert\t%s\t%s\n", k->certs[i].name, k->certs[i].der_b64);
    for (size_t i = 0; i < k->ndevices; i++) {
        const struct hub_keys_device *d = &k->devices[i];
        fprintf(f, "device\t%s\t%s\t%s\t%s\t%s\t%s%s\n", d->id, dash(d->auth), dash(d->primary),
                dash(d->secondary), dash(d->thumb[0]), dash(d->thumb[1]),
                d->disabled ? "\tdisabled" : "");
    }
}

int hub_keys_begin(const char *path, struct hub_keys *k, char *err, size_t errlen)
{
    char lock[1024];
    int fd;

    memset(k, 0, sizeof(*k));
    if ((size_t)snprintf(lock, sizeof(lock), "%s.lock", path) >= sizeof(lock)) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0 || flock(fd, LOCK_EX) != 0) {
        snprintf(err, errlen, "%s: %s", lock, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!hub_keys_load(path, k, err, errlen)) {
        close(fd);
        return -1;
    }
    return fd;
}

bool hub_keys_end(int lock, const char *path, struct hub_keys *k, bool save, char *err,
                  size_t errlen)
{
    bool ok = !save || hub_keys_save(path, k, err, errlen);

    close(lock); /* closing the descriptor releases the flock */
    hub_keys_free(k);
    return ok;
}

bool hub_keys_save(const char *path, const struct hub_keys *k, char *err, size_t errlen)
{
    char tmp[1024];
    int fd;
    FILE *f;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp)) {
        snprintf(err, errlen, "%s: path too long", path);
        return false;
    }
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        return false;
    }
    /* The broker drops to the mosquitto user before loading plugins: let its
     * group read the file, nobody else. */
    struct group *g = getgrnam("mosquitto");
    if (g != NULL && fchown(fd, (uid_t)-1, g->gr_gid) != 0) {
        /* Not fatal: a user who cannot chown keeps the file to themselves. */
    }
    if (fchmod(fd, 0640) != 0 || (f = fdopen(fd, "w")) == NULL) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return false;
    }
    write_all(f, k);
    bool ok = fflush(f) == 0 && !ferror(f) && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return false;
    }
    return true;
}

void hub_keys_free(struct hub_keys *k)
{
    for (size_t i = 0; i < k->ncerts; i++)
        free(k->certs[i].der_b64);
    free(k->certs);
    free(k->devices);
    free(k->rules);
    memset(k, 0, sizeof(*k));
    k->default_allow = true;
}

/* ---- lookups and edits ------------------------------------------------------------------ */

const struct hub_keys_device *hub_keys_find(const struct hub_keys *k, const char *id)
{
    struct hub_keys_device key;

    if (k->ndevices == 0 || strlen(id) > HUB_KEYS_ID_MAX)
        return NULL;
    memcpy(key.id, id, strlen(id) + 1);
    return bsearch(&key, k->devices, k->ndevices, sizeof(key), device_cmp);
}

bool hub_keys_put_device(struct hub_keys *k, const struct hub_keys_device *d)
{
    struct hub_keys_device *old = (struct hub_keys_device *)hub_keys_find(k, d->id);

    if (old != NULL) {
        *old = *d;
        return true;
    }
    if (!grow((void **)&k->devices, k->ndevices, sizeof(*d)))
        return false;
    size_t i = k->ndevices;
    while (i > 0 && strcmp(k->devices[i - 1].id, d->id) > 0) {
        k->devices[i] = k->devices[i - 1];
        i--;
    }
    k->devices[i] = *d;
    k->ndevices++;
    return true;
}

bool hub_keys_remove_device(struct hub_keys *k, const char *id)
{
    const struct hub_keys_device *d = hub_keys_find(k, id);

    if (d == NULL)
        return false;
    size_t i = (size_t)(d - k->devices);
    memmove(&k->devices[i], &k->devices[i + 1], (k->ndevices - i - 1) * sizeof(*d));
    k->ndevices--;
    return true;
}

bool hub_keys_put_cert(struct hub_keys *k, const char *name, const char *der_b64)
{
    char *copy = strdup(der_b64);

    if (copy == NULL || strlen(name) > HUB_KEYS_NAME_MAX) {
        free(copy);
        return false;
    }
    for (size_t i = 0; i < k->ncerts; i++)
        if (strcmp(k->certs[i].name, name) == 0) {
            free(k->certs[i].der_b64);
            k->certs[i].der_b64 = copy;
            return true;
        }
    if (!grow((void **)&k->certs, k->ncerts, sizeof(*k->certs))) {
        free(copy);
        return false;
    }
    struct hub_keys_cert *c = &k->certs[k->ncerts++];
    memset(c, 0, sizeof(*c));
    memcpy(c->name, name, strlen(name) + 1);
    c->der_b64 = copy;
    return true;
}

bool hub_keys_remove_cert(struct hub_keys *k, const char *name)
{
    for (size_t i = 0; i < k->ncerts; i++)
        if (strcmp(k->certs[i].name, name) == 0) {
            free(k->certs[i].der_b64);
            memmove(&k->certs[i], &k->certs[i + 1], (k->ncerts - i - 1) * sizeof(*k->certs));
            k->ncerts--;
            return true;
        }
    return false;
}

bool hub_keys_ensure_service(struct hub_keys *k)
{
    uint8_t raw[HUB_KEYS_SECRET_HEX / 2];

    if (k->service[0] != '\0')
        return true;
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return false;
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(&k->service[2 * i], 3, "%02x", raw[i]);
    return true;
}

bool hub_keys_ip_allowed(const struct hub_keys *k, const struct ip_addr *addr,
                         const struct hub_keys_rule **rule)
{
    struct ip_addr a = *addr;

    *rule = NULL;
    ip_unmap(&a);
    if (k->ip_mode == HUB_KEYS_IP_NONE)
        return true;
    for (size_t i = 0; i < k->nrules; i++) {
        const struct hub_keys_rule *r = &k->rules[i];
        if (!cidr_contains(&r->net, r->prefix, &a))
            continue;
        /* networkRuleSets: Allow rules admit; a listed Deny is refused either way.
         * ipFilterRules: the first rule that matches decides. */
        *rule = r;
        return r->allow;
    }
    return k->ip_mode == HUB_KEYS_IP_LEGACY ? true : k->default_allow;
}

void hub_keys_default_path(const char *keystore, const char *db_path, char *out, size_t outlen)
{
    const char *slash;

    if (keystore[0] != '\0')
        snprintf(out, outlen, "%s", keystore);
    else if ((slash = strrchr(db_path, '/')) == NULL)
        snprintf(out, outlen, "warden-hub.keys");
    else
        snprintf(out, outlen, "%.*s/warden-hub.keys", (int)(slash - db_path), db_path);
}

bool hub_keys_read_password(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    struct hub_keys k;

    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return false;
    }
    if (fgets(out, (int)outlen, f) == NULL)
        out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    if (strcmp(out, MAGIC) != 0)
        return true;
    if (!hub_keys_load(path, &k, err, errlen))
        return false;
    snprintf(out, outlen, "%s", k.service);
    hub_keys_free(&k);
    if (out[0] == '\0') {
        snprintf(err, errlen, "%s: the key store has no service secret yet", path);
        return false;
    }
    return true;
}
