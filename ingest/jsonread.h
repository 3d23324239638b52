/*
 * ingest/jsonread.h: the JSON reader of the security-message decoder
 * (ingest/json_msg.c), private to ingest/.
 *
 * jsonread_parse() reads an untrusted (buf, len) in one pass into one flat
 * array of values, in document order, all of it in the caller's arena: no
 * allocation per value, nothing to free but the arena. It accepts and refuses
 * exactly what Jansson's json_loadb(JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)
 * does, for the reason ingest_json_load_reason() would give, and reads numbers
 * as Jansson does (strtoll, strtod); jsonread_dump() writes a value as
 * Jansson's compact json_dumpb() does. So a message decodes, and dead-letters,
 * the same whichever of the two read it: tests/unit/test_jsonread.c and
 * tests/fuzz/fuzz_jsonread.c compare them.
 *
 * Layout: a container is followed by what it holds, an array by its elements,
 * an object by its members, each a key (a string value) then the member's
 * value. v->skip counts the entries a value takes, itself and all inside it,
 * so the value after v at the same level is v + v->skip.
 */
#ifndef WARDEN_INGEST_JSONREAD_H
#define WARDEN_INGEST_JSONREAD_H

#include "../common/common.h"

#include <stddef.h>
#include <stdint.h>

enum jsonread_type {
    JSONREAD_NULL,
    JSONREAD_FALSE,
    JSONREAD_TRUE,
    JSONREAD_INTEGER,
    JSONREAD_REAL,
    JSONREAD_STRING,
    JSONREAD_ARRAY,
    JSONREAD_OBJECT
};

struct jsonread_value {
    uint8_t type;  /* enum jsonread_type */
    uint32_t skip; /* entries this value takes, itself included */
    union {
        const char *str; /* STRING: valid UTF-8, NUL-terminated, no NUL inside */
        int64_t integer;
        double real;
        size_t count; /* ARRAY: elements; OBJECT: members */
    } u;
};

enum jsonread_err {
    JSONREAD_OK,
    JSONREAD_MALFORMED,
    JSONREAD_TRUNCATED,
    JSONREAD_TRAILING,
    JSONREAD_DUPLICATE_KEY,
    JSONREAD_NUMBER_RANGE,
    JSONREAD_NUL,
    JSONREAD_BAD_UTF8,
    JSONREAD_TOO_DEEP,
    JSONREAD_NO_MEMORY
};

/*
 * Parse buf[0..len) into *root, all of it (strings included) in arena.
 * Containers nested deeper than max_depth are refused with JSONREAD_TOO_DEEP
 * (Jansson's own limit, 2048, is never reached). On failure *root is NULL.
 */
enum jsonread_err jsonread_parse(const uint8_t *buf, size_t len, size_t max_depth,
                                 struct arena *arena, const struct jsonread_value **root);

/* The stable text of err, as in "json: <text>": "malformed", "truncated", ... */
const char *jsonread_reason(enum jsonread_err err);

/* The value of obj's member key; NULL when absent or obj is not an object. */
const struct jsonread_value *jsonread_get(const struct jsonread_value *obj, const char *key);

/* Each element of array arr (none when arr is NULL), i counting from 0. */
#define JSONREAD_EACH(arr, i, item)                                                                \
    for ((i) = 0, (item) = (arr) != NULL ? (arr) + 1 : NULL;                                       \
         (arr) != NULL && (i) < (arr)->u.count; (i)++, (item) += (item)->skip)

/* Elements of an array, members of an object, 0 for NULL or anything else. */
size_t jsonread_count(const struct jsonread_value *v);

/*
 * The compact JSON text of v in arena, byte for byte what Jansson's
 * json_dumpb(JSON_COMPACT | JSON_ENCODE_ANY) writes; NULL when the arena is full.
 */
const char *jsonread_dump(const struct jsonread_value *v, struct arena *arena);

/* s as a JSON string, quoted and escaped as jsonread_dump does; out NULL only counts. */
size_t jsonread_quote(const char *s, char *out);

#endif
