/* The parts of struct ingest_msg that every decoder shares. */
#include "decode.h"

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
