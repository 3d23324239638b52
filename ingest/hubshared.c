/*
 * ingest/hubshared.c: what the two hub record decoders share, on the floor
 * below both: hubrec.c (the lab's records and the frames that carry them)
 * hands an object with an `operationName` to hubazure.c, and each of them
 * checks labels, copies JSON values into the arena as text, and reports a
 * full arena with the same reason. Declared in decode.h; calls nothing of
 * ingest/.
 */
#include "decode.h"

#include <jansson.h>

const char ingest_hub_oom[] = "hub: out of memory";

/* Category, operation, result and reason are short words people read. */
bool ingest_hub_label_ok(const char *s, size_t n)
{
    return n > 0 && n <= INGEST_HUB_MAX_LABEL && text_printable(s, n);
}

const char *ingest_hub_dump(struct arena *a, const json_t *v)
{
    size_t n = json_dumpb(v, NULL, 0, JSON_COMPACT);
    char *text;

    if (n == 0 || (text = arena_alloc(a, n + 1)) == NULL || json_dumpb(v, text, n, JSON_COMPACT) != n)
        return NULL;
    return text;
}
