/* The parts of struct ingest_msg that every decoder shares. */
#include "decode.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

void ingest_msg_init(struct ingest_msg *msg, size_t arena_cap)
{
    memset(msg, 0, sizeof(*msg));
    arena_init(&msg->arena, arena_cap);
}

void ingest_msg_free(struct ingest_msg *msg)
{
    arena_free(&msg->arena);
}

bool ingest_fail(struct ingest_msg *msg, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg->error, sizeof(msg->error), fmt, ap);
    va_end(ap);
    return false;
}

/*
 * True when Jansson stopped at the end of the input inside a token ("fals",
 * "1e", half an escape): the payload was cut short rather than written wrong. A
 * last byte that completes a token ("[1,]", a closing quote) means it was not.
 */
static bool cut_short(const uint8_t *buf, size_t len, const json_error_t *err)
{
    return json_error_code(err) == json_error_invalid_syntax && err->position >= 0 &&
           (size_t)err->position >= len && len > 0 && strchr("]}:,\"", buf[len - 1]) == NULL;
}

const char *ingest_json_load_reason(const uint8_t *buf, size_t len, const void *jansson_err,
                                    bool hub)
{
    static const struct {
        enum json_error_code code;
        const char *json, *hub;
    } reasons[] = {
        {json_error_invalid_utf8, "json: invalid UTF-8", "hub: invalid UTF-8"},
        {json_error_premature_end_of_input, "json: truncated", "hub: truncated"},
        {json_error_end_of_input_expected, "json: trailing data", "hub: trailing data"},
        {json_error_duplicate_key, "json: duplicate key", "hub: duplicate key"},
        {json_error_numeric_overflow, "json: number out of range", "hub: number out of range"},
        {json_error_null_character, "json: NUL in string", "hub: NUL in string"},
        {json_error_null_byte_in_key, "json: NUL in string", "hub: NUL in string"},
        {json_error_stack_overflow, "json: too deep", "hub: too deep"},
        {json_error_out_of_memory, "json: out of memory", "hub: out of memory"},
    };
    const json_error_t *err = jansson_err;

    if (cut_short(buf, len, err))
        return hub ? "hub: truncated" : "json: truncated";
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].code == json_error_code(err))
            return hub ? reasons[i].hub : reasons[i].json;
    return hub ? "hub: malformed" : "json: malformed";
}
