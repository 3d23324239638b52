/* A bump allocator with a hard cap, for decoded messages. */
#include "common.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK 16384

struct arena_chunk {
    struct arena_chunk *next;
    size_t size, off;
    max_align_t data[]; /* aligned storage follows */
};

void arena_init(struct arena *a, size_t cap)
{
    a->head = NULL;
    a->used = 0;
    a->cap = cap;
}

void *arena_alloc(struct arena *a, size_t n)
{
    struct arena_chunk *c = a->head;
    size_t need = (n + 15) & ~(size_t)15;
    void *p;

    if (n == 0)
        need = 16;
    if (need < n || need > a->cap || a->used > a->cap - need)
        return NULL;
    if (c == NULL || c->size - c->off < need) {
        size_t size = need > ARENA_CHUNK ? need : ARENA_CHUNK;
        c = malloc(sizeof(*c) + size);
        if (c == NULL)
            return NULL;
        c->size = size;
        c->off = 0;
        c->next = a->head;
        a->head = c;
    }
    p = (char *)c->data + c->off;
    c->off += need;
    a->used += need;
    memset(p, 0, need);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p;

    if (n == SIZE_MAX)
        return NULL;
    p = arena_alloc(a, n + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void arena_free(struct arena *a)
{
    struct arena_chunk *c = a->head, *next;

    while (c != NULL) {
        next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used = 0;
}
