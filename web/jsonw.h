/*
 * web/jsonw.h: a streaming JSON writer, private to web/. The API's lists
 * write their rows straight from SQLite into the response with it, instead
 * of building a Jansson tree and dumping it: a page of 100 alerts is then a
 * few thousand small copies rather than a few thousand allocations.
 *
 * Output is written straight into room reserved in the evbuffer, with no
 * copy in between, and a document larger than max bytes fails instead of
 * growing without bound. Strings are escaped for any input: quotes,
 * backslashes and control characters as JSON requires, U+2028 and U+2029
 * too (so the output is safe inside JavaScript), and bytes that are not
 * UTF-8 become U+FFFD, one for each byte, as web_json_text() repairs them.
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
    size_t committed;                   /* bytes already committed to out */
    struct evbuffer_iovec room;         /* reserved in out, not yet committed */
    char *at, *end;                     /* the next byte goes at; room (within the cap) ends at end */
    unsigned depth;                     /* open containers */
    bool in_object[JSONW_MAX_DEPTH + 1]; /* by depth: object (a key is due) or array */
    bool has_member[JSONW_MAX_DEPTH + 1];
    bool after_key;                     /* a key was written, its value is due */
    bool failed;
};

/* Start a document written to out (not taken over), at most max bytes (0: no cap). */
void jsonw_init(struct jsonw *w, struct evbuffer *out, size_t max);
/* Commit what is written to out; true when the document is complete and nothing failed. */
bool jsonw_finish(struct jsonw *w);

void jsonw_object(struct jsonw *w);
void jsonw_object_end(struct jsonw *w);
void jsonw_array(struct jsonw *w);
void jsonw_array_end(struct jsonw *w);
/* A member's name, NUL-terminated or of n bytes (escaped like any string). */
void jsonw_key(struct jsonw *w, const char *key);
void jsonw_keyn(struct jsonw *w, const char *key, size_t n);

/*
 * A member name checked once and written many times (a list's column
 * names): its quoted text and colon, copied as they are. Only names that
 * need no escaping (printable ASCII but " and \) and fit can be prepared;
 * jsonw_key_prepare() returns false for any other.
 */
struct jsonw_key {
    char text[64];
    size_t len;
};
bool jsonw_key_prepare(struct jsonw_key *k, const char *name, size_t n);
void jsonw_key_put(struct jsonw *w, const struct jsonw_key *k);

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
