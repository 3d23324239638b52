/*
 * web/values.c: SQLite values as JSON and CSV, as every answer of the API
 * and the console writes them: text that is not UTF-8 repaired, blobs as
 * x'..' literals, CSV cells through csv_cell (html.c). Part of the core.
 */
#include "core.h"
#include "html.h"

#include <math.h>
#include <stdlib.h>

/* The length of the UTF-8 sequence led by c, or 0 when c cannot lead one. */
static size_t utf8_len(unsigned char c)
{
    return c < 0x80                ? 1
           : c >= 0xc2 && c < 0xe0 ? 2
           : c >= 0xe0 && c < 0xf0 ? 3
           : c >= 0xf0 && c < 0xf5 ? 4
                                   : 0;
}

json_t *web_json_text(const char *s, size_t n)
{
    struct evbuffer *fixed;
    json_t *j;

    if (utf8_valid(s, n))
        return json_stringn(s, n);
    /* Stored text is not always UTF-8 (a dead letter's topic, a cast blob): repair it. */
    fixed = evbuffer_new();
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len((unsigned char)s[i]);
        if (k > 0 && i + k <= n && utf8_valid(s + i, k)) {
            evbuffer_add(fixed, s + i, k);
            i += k;
        } else {
            evbuffer_add(fixed, "\xef\xbf\xbd", 3);
            i++;
        }
    }
    j = json_stringn((const char *)evbuffer_pullup(fixed, -1), evbuffer_get_length(fixed));
    evbuffer_free(fixed);
    return j;
}

json_t *web_column_json(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(st, i));
    case SQLITE_FLOAT: {
        double d = sqlite3_column_double(st, i);
        return isfinite(d) ? json_real(d) : json_null();
    }
    case SQLITE_TEXT:
        return web_json_text((const char *)sqlite3_column_text(st, i),
                             (size_t)sqlite3_column_bytes(st, i));
    case SQLITE_BLOB: {
        /* As an SQL blob literal, so that it is not mistaken for text. */
        const unsigned char *b = sqlite3_column_blob(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i);
        struct evbuffer *out = evbuffer_new();
        json_t *j;

        evbuffer_add(out, "x'", 2);
        for (size_t k = 0; k < n; k++)
            evbuffer_add_printf(out, "%02x", b[k]);
        evbuffer_add(out, "'", 1);
        j = json_stringn((const char *)evbuffer_pullup(out, -1), evbuffer_get_length(out));
        evbuffer_free(out);
        return j;
    }
    }
    return json_null();
}

static void csv_value(struct evbuffer *out, json_t *v)
{
    char *text;

    switch (json_typeof(v)) {
    case JSON_STRING: csv_cell_n(out, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: evbuffer_add_printf(out, "%lld", (long long)json_integer_value(v)); break;
    case JSON_REAL: evbuffer_add_printf(out, "%.17g", json_real_value(v)); break;
    case JSON_TRUE: evbuffer_add(out, "true", 4); break;
    case JSON_FALSE: evbuffer_add(out, "false", 5); break;
    case JSON_NULL: break;
    default:
        text = json_dumps(v, JSON_COMPACT);
        csv_cell(out, text);
        free(text);
    }
}

void web_csv_row(struct evbuffer *out, json_t *cells)
{
    size_t i;
    json_t *v;

    json_array_foreach(cells, i, v) {
        if (i > 0)
            evbuffer_add(out, ",", 1);
        csv_value(out, v);
    }
    evbuffer_add(out, "\r\n", 2);
}
