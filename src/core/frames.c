#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "core.h"

static uint64_t frame_hash(const char *function, const char *file,
                           int64_t line, uint64_t salt)
{
    uint64_t h = hash_bytes(function, strlen(function), salt);

    h = hash_bytes(file ? file : "", file ? strlen(file) : 0, h);
    return hash_u64(h ^ (uint64_t)line) | 1;
}

static int same(const named_frame *f, const char *function, const char *file,
                int64_t line)
{
    return f->line == line && strcmp(f->function, function) == 0 &&
           strcmp(f->file ? f->file : "", file ? file : "") == 0;
}

uint64_t frames_intern(named_frames *f, const char *function,
                       const char *file, int64_t line)
{
    uint64_t h, *id;
    uint64_t salt = 0;
    named_frame *nf;

    if (!function || !*function)
        function = "[unknown]";
    for (;; salt++) {
        h = frame_hash(function, file, line, salt);
        id = map_get(&f->index, h);
        if (!id || same(&f->v[*id - 1], function, file, line))
            break;
    }
    if (id)
        return *id;
    if (array_grow((void **)&f->v, &f->cap, f->n + 1, sizeof(*f->v)) != 0)
        return 0;
    nf = &f->v[f->n];
    nf->function = str_dup(function);
    nf->file = file && *file ? str_dup(file) : NULL;
    nf->line = line;
    if (!nf->function || map_put(&f->index, h, f->n + 1) != 0) {
        free(nf->function);
        free(nf->file);
        return 0;
    }
    return ++f->n;
}

void frames_reset(named_frames *f)
{
    size_t i;

    for (i = 0; i < f->n; i++) {
        free(f->v[i].function);
        free(f->v[i].file);
    }
    free(f->v);
    map_free(&f->index);
    memset(f, 0, sizeof(*f));
}
