/*
 * imports/imports.c: what the import commands (groups, registry, hub)
 * share: reading a file with a size cap, loading JSON strictly, and the rule
 * for the names Warden keeps.
 */
#include "imports.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *import_read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;

    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        size_t got;

        if (n == cap) {
            /* Grow by doubling, one byte past max so that a larger file is noticed. */
            size_t ncap = cap ? cap * 2 : 65536;
            char *nbuf;

            if (ncap > max + 1)
                ncap = max + 1;
            if ((nbuf = realloc(buf, ncap + 1)) == NULL) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto fail;
            }
            buf = nbuf;
            cap = ncap;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n > max) {
            snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
            goto fail;
        }
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        goto fail;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
fail:
    fclose(f);
    free(buf);
    return NULL;
}

/* Jansson's own message quotes the text near the error, which may be a key. */
static const char *load_reason(const json_error_t *e)
{
    switch (json_error_code(e)) {
    case json_error_invalid_utf8:
        return "invalid UTF-8";
    case json_error_premature_end_of_input:
        return "truncated";
    case json_error_end_of_input_expected:
        return "data after the document";
    case json_error_duplicate_key:
        return "duplicate key";
    case json_error_numeric_overflow:
        return "number out of range";
    case json_error_null_character:
    case json_error_null_byte_in_key:
        return "NUL character in a string";
    case json_error_stack_overflow:
        return "nested too deeply";
    case json_error_out_of_memory:
        return "out of memory";
    default:
        return "malformed";
    }
}

static json_t *json_load_checked(const char *buf, size_t len, bool one_line, char *err,
                                 size_t errlen)
{
    json_error_t e;
    json_t *root;

    if (json_prescan(buf, len, IMPORT_MAX_DEPTH, 0) != JSON_SCAN_OK) {
        snprintf(err, errlen, "invalid JSON: nested deeper than %d levels", IMPORT_MAX_DEPTH);
        return NULL;
    }
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
    if (root == NULL && one_line)
        snprintf(err, errlen, "invalid JSON at column %d: %s", e.column, load_reason(&e));
    else if (root == NULL)
        snprintf(err, errlen, "invalid JSON at line %d, column %d: %s", e.line, e.column,
                 load_reason(&e));
    return root;
}

json_t *import_json_load(const char *buf, size_t len, char *err, size_t errlen)
{
    return json_load_checked(buf, len, false, err, errlen);
}

json_t *import_json_load_line(const char *buf, size_t len, char *err, size_t errlen)
{
    return json_load_checked(buf, len, true, err, errlen);
}

json_t *import_member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_null(v) ? NULL : v;
}

bool import_name_valid(const char *s, size_t len)
{
    return len > 0 && len <= IMPORT_NAME_MAX && memchr(s, '\0', len) == NULL &&
           utf8_valid(s, len) && text_printable(s, len);
}

bool import_hub_name_valid(const char *s, size_t len)
{
    return import_name_valid(s, len) && memchr(s, '/', len) == NULL;
}
