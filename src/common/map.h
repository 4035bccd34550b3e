/* Open-addressing hash map from a non-zero uint64 key to a uint64 value. */
#ifndef PYROSCOPE_COMMON_MAP_H
#define PYROSCOPE_COMMON_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct map_entry {
    uint64_t key; /* 0 = empty */
    uint64_t value;
} map_entry;

typedef struct map {
    map_entry *slots;
    size_t cap; /* power of two */
    size_t len;
} map;

void map_init(map *m);
void map_free(map *m);
/* Pointer to the value for `key`, or NULL. */
uint64_t *map_get(const map *m, uint64_t key);
/* Insert or overwrite; -1 on allocation failure. */
int map_put(map *m, uint64_t key, uint64_t value);
void map_clear(map *m);
/* Remove `key`; -1 if absent. */
int map_del(map *m, uint64_t key);

#endif
