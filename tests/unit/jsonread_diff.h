/*
 * What Jansson and ingest/jsonread.c each make of one payload, worded as the
 * JSON decoder words it: "json: <reason>" for a refused payload, else the
 * value as compact JSON text. The two must be equal for every input; shared
 * by tests/unit/test_jsonread.c and tests/fuzz/fuzz_jsonread.c.
 *
 * The Jansson side is the decoder as it was: json_prescan first, then
 * json_loadb and ingest_json_load_reason. The reader side is the decoder as
 * it is: jsonread_parse, and json_prescan only for a payload it refused.
 */
#ifndef WARDEN_JSONREAD_DIFF_H
#define WARDEN_JSONREAD_DIFF_H

#include "../../ingest/decode.h"
#include "../../ingest/jsonread.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *diff_strdup(const char *s)
{
    char *p = malloc(strlen(s) + 1);

    WARDEN_ASSERT(p != NULL);
    return strcpy(p, s);
}

/* The outcome by Jansson, malloc'd. */
static char *jansson_outcome(const uint8_t *buf, size_t len)
{
    json_error_t err;
    json_t *root;
    char *text;

    if (json_prescan(buf, len, INGEST_JSON_MAX_DEPTH, 0) != JSON_SCAN_OK)
        return diff_strdup("json: too deep");
    root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (root == NULL)
        return diff_strdup(ingest_json_load_reason(buf, len, &err, false));
    text = json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(root);
    WARDEN_ASSERT(text != NULL);
    return text;
}

/* The outcome by the reader, malloc'd. */
static char *reader_outcome(const uint8_t *buf, size_t len)
{
    struct arena arena;
    const struct jsonread_value *root;
    enum jsonread_err err;
    char reason[64], *out;

    arena_init(&arena, ((size_t)1 << 20) + 64 * len);
    err = jsonread_parse(buf, len, INGEST_JSON_MAX_DEPTH, &arena, &root);
    if (err == JSONREAD_OK) {
        const char *text = jsonread_dump(root, &arena);
        WARDEN_ASSERT(text != NULL);
        out = diff_strdup(text);
    } else {
        snprintf(reason, sizeof(reason), "json: %s",
                 json_prescan(buf, len, INGEST_JSON_MAX_DEPTH, 0) != JSON_SCAN_OK
                     ? "too deep"
                     : jsonread_reason(err));
        WARDEN_ASSERT(root == NULL);
        out = diff_strdup(reason);
    }
    arena_free(&arena);
    return out;
}

/* True when both agree on buf; otherwise both outcomes go to stderr. */
static bool outcomes_agree(const uint8_t *buf, size_t len)
{
    char *a = jansson_outcome(buf, len), *b = reader_outcome(buf, len);
    bool same = strcmp(a, b) == 0;

    if (!same) {
        fprintf(stderr, "  input (%zu bytes): \"", len);
        for (size_t i = 0; i < len && i < 200; i++)
            fprintf(stderr, buf[i] >= 0x20 && buf[i] < 0x7f && buf[i] != '\\' ? "%c" : "\\x%02x",
                    buf[i]);
        fprintf(stderr, "%s\"\n  jansson: %.200s\n  reader:  %.200s\n", len > 200 ? "..." : "", a,
                b);
    }
    free(a);
    free(b);
    return same;
}

#endif
