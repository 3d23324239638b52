/*
 * web/jsonw.h: a streaming JSON writer, private to web/. The API's lists
 * write their rows straight from SQLite into the response with it, instead
 * of building a Jansson tree and dumping it: a page of 100 alerts is then a
 * few thousand small copies rather than a few thousand allocations.
 *
 * Output goes through a fixed buffer inside struct jsonw into an evbuffer,
 * so the writer itself never allocates, and a document larger than max
 * bytes fails instead of growing without bound. Strings are escaped for any
 * input: quotes, backslashes and control characters as JSON requires,
 * U+2028 and U+2029 too (so the output is safe inside JavaScript), and
 * bytes that are not UTF-8 become U+FFFD, one for each byte, as
 * web_json_text() repairs them.
 *
 * Misuse (a value where a key is due, too deep, unbalanced) and overflow
 * set failed; every call after that does nothing, and jsonw_finish() says so.
 */
#ifndef WARDEN_WEB_JSONW_H
#define WARDEN_WEB_JSONW_H

#include <event2/buffer.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSONW_MAX_DEPTH 32

struct jsonw {
    struct evbuffer *out;
    size_t max;                         /* cap on the bytes written; 0: none */
    size_t flushed;                     /* bytes already moved to out */
    size_t len;                         /* bytes waiting in buf */
    unsigned depth;                     /* open containers */
    bool in_object[JSONW_MAX_DEPTH + 1]; /* by depth: object (a key is due) or array */
    bool has_member[JSONW_MAX_DEPTH + 1];
    bool after_key;                     /* a key was written, its value is due */
    bool failed;
    char buf[4096];
};

/* Start a document written to out (not taken over), at most max bytes (0: no cap). */
void jsonw_init(struct jsonw *w, struct evbuffer *out, size_t max);
/* Flush what is buffered; true when the document is complete and nothing failed. */
bool jsonw_finish(struct jsonw *w);

void jsonw_object(struct jsonw *w);
void jsonw_object_end(struct jsonw *w);
void jsonw_array(struct jsonw *w);
void jsonw_array_end(struct jsonw *w);
/* A member's name, NUL-terminated or of n bytes (escaped like any string). */
void jsonw_key(struct jsonw *w, const char *key);
void jsonw_keyn(struct jsonw *w, const char *key, size_t n);

/* s[0..n), escaped; s may hold NULs and anything else. */
void jsonw_string(struct jsonw *w, const char *s, size_t n);
void jsonw_cstring(struct jsonw *w, const char *s); /* NUL-terminated; NULL writes null */
void jsonw_int(struct jsonw *w, int64_t v);
/* Shortest round-tripping form is not needed: %.17g, as Jansson's JSON_REAL_PRECISION(17). */
void jsonw_real(struct jsonw *w, double v); /* NaN and infinities as null */
/* Unix milliseconds as a UTC ISO 8601 string, exactly as time_format_iso() writes it. */
void jsonw_time(struct jsonw *w, int64_t ms);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);

/*
 * JSON text from elsewhere (a stored object) as a value, when it is one
 * JSON value (RFC 8259, UTF-8, nested at most JSONW_MAX_DEPTH) and nothing
 * else; returns false, writing nothing, when it is not.
 */
bool jsonw_json(struct jsonw *w, const char *s, size_t n);

/* The validator of jsonw_json, alone. */
bool jsonw_valid(const char *s, size_t n);

#endif
