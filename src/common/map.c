#include "map.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void map_init(map *m)
{
    memset(m, 0, sizeof(*m));
}

void map_free(map *m)
{
    free(m->slots);
    map_init(m);
}

void map_clear(map *m)
{
    if (m->slots)
        memset(m->slots, 0, m->cap * sizeof(*m->slots));
    m->len = 0;
}

uint64_t *map_get(const map *m, uint64_t key)
{
    size_t i;

    if (!m->cap || !key)
        return NULL;
    for (i = hash_u64(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].key == key)
            return &m->slots[i].value;
        if (m->slots[i].key == 0)
            return NULL;
    }
}

static int grow(map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64, i;
    map_entry *old = m->slots, *slots = calloc(cap, sizeof(*slots));
    size_t oldcap = m->cap;

    if (!slots)
        return -1;
    m->slots = slots;
    m->cap = cap;
    m->len = 0;
    for (i = 0; i < oldcap; i++)
        if (old[i].key)
            map_put(m, old[i].key, old[i].value);
    free(old);
    return 0;
}

int map_put(map *m, uint64_t key, uint64_t value)
{
    size_t i;

    if ((m->len + 1) * 4 > m->cap * 3 && grow(m) != 0)
        return -1;
    for (i = hash_u64(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].key == key) {
            m->slots[i].value = value;
            return 0;
        }
        if (m->slots[i].key == 0) {
            m->slots[i].key = key;
            m->slots[i].value = value;
            m->len++;
            return 0;
        }
    }
}

int map_del(map *m, uint64_t key)
{
    size_t i, j, k;

    if (!m->cap || !key)
        return -1;
    for (i = hash_u64(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].key == 0)
            return -1;
        if (m->slots[i].key == key)
            break;
    }
    /* Backward-shift deletion keeps probe chains intact without tombstones. */
    j = i;
    for (;;) {
        j = (j + 1) & (m->cap - 1);
        if (m->slots[j].key == 0)
            break;
        k = hash_u64(m->slots[j].key) & (m->cap - 1);
        if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].key = 0;
    m->slots[i].value = 0;
    m->len--;
    return 0;
}
