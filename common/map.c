/* A byte-keyed open-addressing hash map with int64 values (see common.h). */
#include "common.h"

#include <stdlib.h>
#include <string.h>

void map_init(struct map *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->len = 0;
}

void map_clear(struct map *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->slots[i].key);
        m->slots[i].key = NULL;
    }
    m->len = 0;
}

void map_free(struct map *m)
{
    map_clear(m);
    free(m->slots);
    map_init(m);
}

static struct map_entry *map_find(const struct map *m, uint64_t h, const void *key, size_t keylen)
{
    size_t mask = m->cap - 1;

    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct map_entry *e = &m->slots[i];
        if (e->key == NULL || (e->hash == h && e->keylen == keylen &&
                               memcmp(e->key, key, keylen) == 0))
            return e;
    }
}

struct map_entry *map_get(const struct map *m, const void *key, size_t keylen)
{
    struct map_entry *e;

    if (m->len == 0)
        return NULL;
    e = map_find(m, hash_bytes(HASH_SEED, key, keylen), key, keylen);
    return e->key != NULL ? e : NULL;
}

static bool map_grow(struct map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 64;
    struct map_entry *old = m->slots, *n = calloc(ncap, sizeof(*n));
    size_t ocap = m->cap;

    if (n == NULL)
        return false;
    m->slots = n;
    m->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].key != NULL)
            *map_find(m, old[i].hash, old[i].key, old[i].keylen) = old[i];
    }
    free(old);
    return true;
}

struct map_entry *map_upsert(struct map *m, const void *key, size_t keylen)
{
    uint64_t h = hash_bytes(HASH_SEED, key, keylen);
    struct map_entry *e;

    /* Keep the load under 1/2 so probes stay short. */
    if ((m->len + 1) * 2 > m->cap && !map_grow(m))
        return NULL;
    e = map_find(m, h, key, keylen);
    if (e->key == NULL) {
        e->key = malloc(keylen ? keylen : 1);
        if (e->key == NULL)
            return NULL;
        memcpy(e->key, key, keylen);
        e->keylen = keylen;
        e->hash = h;
        e->value = 0;
        m->len++;
    }
    return e;
}
