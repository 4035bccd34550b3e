#include "pprof.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../common/map.h"
#include "../common/util.h"
#include "profile.pb-c.h"

typedef struct pp_sample {
    uint64_t *locs;
    size_t nlocs;
    int64_t *values;
    int64_t *labels; /* key, str string indexes, pairs */
    size_t nlabels;
} pp_sample;

typedef struct pp_loc {
    uint64_t mapping_id;
    uint64_t address;
    uint64_t function_id; /* 0: none */
    int64_t line;
} pp_loc;

typedef struct pp_func {
    int64_t name;
    int64_t file;
} pp_func;

typedef struct pp_mapping {
    uint64_t start, limit, offset;
    int64_t file, build_id;
    int has_functions;
} pp_mapping;

#define VEC(T)                                                                \
    struct {                                                                  \
        T *v;                                                                 \
        size_t n, cap;                                                        \
    }

struct pprof_builder {
    VEC(char *) strings;
    map string_index; /* hash(string) -> index + 1 (chained by probing) */
    VEC(pp_sample) samples;
    map sample_index; /* hash(locations, labels) -> position + 1 */
    VEC(pp_loc) locs;
    map loc_index;
    VEC(pp_func) funcs;
    map func_index;
    VEC(pp_mapping) mappings;
    map mapping_index;
    int64_t *types; /* type, unit pairs */
    size_t ntypes;
    int64_t period_type[2];
    int64_t period, time_nanos, duration_nanos;
    int oom;
};

#define VEC_PUSH(b, vec, item)                                                \
    (array_grow((void **)&(vec).v, &(vec).cap, (vec).n + 1,                     \
              sizeof(*(vec).v)) == 0                                          \
         ? ((vec).v[(vec).n] = (item), (vec).n++, 0)                          \
         : ((b)->oom = 1, -1))

/* Strings are deduplicated by hash with linear re-hashing on collision. */
static int64_t intern(pprof_builder *b, const char *s)
{
    uint64_t h;
    uint64_t *idx;
    char *copy;
    size_t salt;

    if (!s || !*s)
        return 0;
    for (salt = 0;; salt++) {
        h = hash_bytes(s, strlen(s), salt) | 1;
        idx = map_get(&b->string_index, h);
        if (!idx)
            break;
        if (strcmp(b->strings.v[*idx], s) == 0)
            return (int64_t)*idx;
    }
    copy = str_dup(s);
    if (!copy || VEC_PUSH(b, b->strings, copy) != 0) {
        free(copy);
        b->oom = 1;
        return 0;
    }
    if (map_put(&b->string_index, h, b->strings.n - 1) != 0)
        b->oom = 1;
    return (int64_t)(b->strings.n - 1);
}

pprof_builder *pprof_new(const pprof_value_type *types, size_t ntypes,
                         pprof_value_type period_type, int64_t period,
                         int64_t time_nanos, int64_t duration_nanos)
{
    pprof_builder *b = calloc(1, sizeof(*b));
    size_t i;

    if (!b)
        return NULL;
    b->types = calloc(ntypes * 2, sizeof(int64_t));
    if (!b->types || VEC_PUSH(b, b->strings, str_dup("")) != 0) {
        pprof_free(b);
        return NULL;
    }
    b->ntypes = ntypes;
    for (i = 0; i < ntypes; i++) {
        b->types[2 * i] = intern(b, types[i].type);
        b->types[2 * i + 1] = intern(b, types[i].unit);
    }
    b->period_type[0] = intern(b, period_type.type);
    b->period_type[1] = intern(b, period_type.unit);
    b->period = period;
    b->time_nanos = time_nanos;
    b->duration_nanos = duration_nanos;
    return b;
}

void pprof_free(pprof_builder *b)
{
    size_t i;

    if (!b)
        return;
    for (i = 0; i < b->strings.n; i++)
        free(b->strings.v[i]);
    free(b->strings.v);
    for (i = 0; i < b->samples.n; i++) {
        free(b->samples.v[i].locs);
        free(b->samples.v[i].values);
        free(b->samples.v[i].labels);
    }
    free(b->samples.v);
    free(b->locs.v);
    free(b->funcs.v);
    free(b->mappings.v);
    map_free(&b->string_index);
    map_free(&b->sample_index);
    map_free(&b->loc_index);
    map_free(&b->func_index);
    map_free(&b->mapping_index);
    free(b->types);
    free(b);
}

uint64_t pprof_mapping(pprof_builder *b, uint64_t start, uint64_t limit,
                       uint64_t offset, const char *file,
                       const char *build_id, int has_functions)
{
    uint64_t *id = map_get(&b->mapping_index, start | 1);
    pp_mapping m;

    if (id)
        return *id;
    m.start = start;
    m.limit = limit;
    m.offset = offset;
    m.file = intern(b, file);
    m.build_id = intern(b, build_id);
    m.has_functions = has_functions;
    if (VEC_PUSH(b, b->mappings, m) != 0)
        return 0;
    map_put(&b->mapping_index, start | 1, b->mappings.n);
    return b->mappings.n;
}

static uint64_t function_id(pprof_builder *b, const char *name,
                            const char *file)
{
    int64_t n = intern(b, name), f = intern(b, file);
    uint64_t key = hash_u64(((uint64_t)n << 32) ^ (uint64_t)f) | 1;
    uint64_t *id;
    pp_func fn;

    /* Two distinct (name, file) index pairs may collide on the key: check. */
    while ((id = map_get(&b->func_index, key)) != NULL) {
        if (b->funcs.v[*id - 1].name == n && b->funcs.v[*id - 1].file == f)
            return *id;
        key = hash_u64(key) | 1;
    }
    fn.name = n;
    fn.file = f;
    if (VEC_PUSH(b, b->funcs, fn) != 0)
        return 0;
    map_put(&b->func_index, key, b->funcs.n);
    return b->funcs.n;
}

uint64_t pprof_location(pprof_builder *b, uint64_t key, uint64_t mapping_id,
                        uint64_t address, const char *function,
                        const char *file, int64_t line)
{
    uint64_t *id = map_get(&b->loc_index, key);
    pp_loc l;

    if (id)
        return *id;
    l.mapping_id = mapping_id;
    l.address = address;
    l.function_id = function ? function_id(b, function, file) : 0;
    l.line = line;
    if (VEC_PUSH(b, b->locs, l) != 0)
        return 0;
    map_put(&b->loc_index, key, b->locs.n);
    return b->locs.n;
}

static int same_sample(const pp_sample *a, const pp_sample *b)
{
    return a->nlocs == b->nlocs && a->nlabels == b->nlabels &&
           memcmp(a->locs, b->locs, a->nlocs * sizeof(*a->locs)) == 0 &&
           memcmp(a->labels, b->labels, 2 * a->nlabels * sizeof(int64_t)) == 0;
}

/* Different raw stacks may symbolize to the same locations: merge them. */
static int merge_into_existing(pprof_builder *b, const pp_sample *s,
                               uint64_t *key_out)
{
    uint64_t h = hash_bytes(s->locs, s->nlocs * sizeof(*s->locs), s->nlabels);
    uint64_t *pos;
    size_t i;

    h = hash_bytes(s->labels, 2 * s->nlabels * sizeof(int64_t), h);
    for (;; h = hash_u64(h)) {
        h |= 1;
        pos = map_get(&b->sample_index, h);
        if (!pos)
            break;
        if (same_sample(&b->samples.v[*pos - 1], s)) {
            for (i = 0; i < b->ntypes; i++)
                b->samples.v[*pos - 1].values[i] += s->values[i];
            return 1;
        }
    }
    *key_out = h;
    return 0;
}

int pprof_add_sample(pprof_builder *b, const uint64_t *locs, size_t nlocs,
                     const int64_t *values, const pyroscope_tag *labels,
                     size_t nlabels)
{
    uint64_t key = 0;
    pp_sample s;
    size_t i;

    memset(&s, 0, sizeof(s));
    s.locs = malloc((nlocs ? nlocs : 1) * sizeof(*s.locs));
    s.values = malloc(b->ntypes * sizeof(*s.values));
    s.labels = malloc((nlabels ? nlabels : 1) * 2 * sizeof(*s.labels));
    if (!s.locs || !s.values || !s.labels)
        goto oom;
    memcpy(s.locs, locs, nlocs * sizeof(*locs));
    memcpy(s.values, values, b->ntypes * sizeof(*values));
    s.nlocs = nlocs;
    for (i = 0; i < nlabels; i++) {
        s.labels[2 * i] = intern(b, labels[i].key);
        s.labels[2 * i + 1] = intern(b, labels[i].value);
    }
    s.nlabels = nlabels;
    if (merge_into_existing(b, &s, &key)) {
        free(s.locs);
        free(s.values);
        free(s.labels);
        return 0;
    }
    if (VEC_PUSH(b, b->samples, s) == 0) {
        map_put(&b->sample_index, key, b->samples.n);
        return 0;
    }
oom:
    free(s.locs);
    free(s.values);
    free(s.labels);
    b->oom = 1;
    return -1;
}

size_t pprof_sample_count(const pprof_builder *b)
{
    return b->samples.n;
}

/* ---- encoding ---- */

typedef Perftools__Profiles__Profile PbProfile;

typedef struct pb_arena {
    Perftools__Profiles__ValueType *types;
    Perftools__Profiles__ValueType **type_ptrs;
    Perftools__Profiles__ValueType period_type;
    Perftools__Profiles__Sample *samples;
    Perftools__Profiles__Sample **sample_ptrs;
    Perftools__Profiles__Label *labels;
    Perftools__Profiles__Label **label_ptrs;
    Perftools__Profiles__Location *locs;
    Perftools__Profiles__Location **loc_ptrs;
    Perftools__Profiles__Line *lines;
    Perftools__Profiles__Line **line_ptrs;
    Perftools__Profiles__Function *funcs;
    Perftools__Profiles__Function **func_ptrs;
    Perftools__Profiles__Mapping *maps;
    Perftools__Profiles__Mapping **map_ptrs;
} pb_arena;

static void arena_free(pb_arena *a)
{
    free(a->types);
    free(a->type_ptrs);
    free(a->samples);
    free(a->sample_ptrs);
    free(a->labels);
    free(a->label_ptrs);
    free(a->locs);
    free(a->loc_ptrs);
    free(a->lines);
    free(a->line_ptrs);
    free(a->funcs);
    free(a->func_ptrs);
    free(a->maps);
    free(a->map_ptrs);
}

#define ALLOC_N(p, n) ((p) = calloc((n) ? (n) : 1, sizeof(*(p))))

static int arena_alloc(pb_arena *a, const pprof_builder *b, size_t nlabels)
{
    memset(a, 0, sizeof(*a));
    return !(ALLOC_N(a->types, b->ntypes) && ALLOC_N(a->type_ptrs, b->ntypes) &&
             ALLOC_N(a->samples, b->samples.n) &&
             ALLOC_N(a->sample_ptrs, b->samples.n) &&
             ALLOC_N(a->labels, nlabels) && ALLOC_N(a->label_ptrs, nlabels) &&
             ALLOC_N(a->locs, b->locs.n) && ALLOC_N(a->loc_ptrs, b->locs.n) &&
             ALLOC_N(a->lines, b->locs.n) &&
             ALLOC_N(a->line_ptrs, b->locs.n) &&
             ALLOC_N(a->funcs, b->funcs.n) &&
             ALLOC_N(a->func_ptrs, b->funcs.n) &&
             ALLOC_N(a->maps, b->mappings.n) &&
             ALLOC_N(a->map_ptrs, b->mappings.n));
}

static void fill_samples(pb_arena *a, const pprof_builder *b)
{
    size_t i, j, l = 0;

    for (i = 0; i < b->samples.n; i++) {
        Perftools__Profiles__Sample *s = &a->samples[i];
        const pp_sample *src = &b->samples.v[i];
        perftools__profiles__sample__init(s);
        s->n_location_id = src->nlocs;
        s->location_id = src->locs;
        s->n_value = b->ntypes;
        s->value = src->values;
        s->label = &a->label_ptrs[l];
        s->n_label = src->nlabels;
        for (j = 0; j < src->nlabels; j++, l++) {
            perftools__profiles__label__init(&a->labels[l]);
            a->labels[l].key = src->labels[2 * j];
            a->labels[l].str = src->labels[2 * j + 1];
            a->label_ptrs[l] = &a->labels[l];
        }
        a->sample_ptrs[i] = s;
    }
}

static void fill_tables(pb_arena *a, const pprof_builder *b)
{
    size_t i;

    for (i = 0; i < b->locs.n; i++) {
        Perftools__Profiles__Location *l = &a->locs[i];
        perftools__profiles__location__init(l);
        l->id = i + 1;
        l->mapping_id = b->locs.v[i].mapping_id;
        l->address = b->locs.v[i].address;
        if (b->locs.v[i].function_id) {
            perftools__profiles__line__init(&a->lines[i]);
            a->lines[i].function_id = b->locs.v[i].function_id;
            a->lines[i].line = b->locs.v[i].line;
            a->line_ptrs[i] = &a->lines[i];
            l->line = &a->line_ptrs[i];
            l->n_line = 1;
        }
        a->loc_ptrs[i] = l;
    }
    for (i = 0; i < b->funcs.n; i++) {
        Perftools__Profiles__Function *f = &a->funcs[i];
        perftools__profiles__function__init(f);
        f->id = i + 1;
        f->name = b->funcs.v[i].name;
        f->system_name = b->funcs.v[i].name;
        f->filename = b->funcs.v[i].file;
        a->func_ptrs[i] = f;
    }
    for (i = 0; i < b->mappings.n; i++) {
        Perftools__Profiles__Mapping *m = &a->maps[i];
        perftools__profiles__mapping__init(m);
        m->id = i + 1;
        m->memory_start = b->mappings.v[i].start;
        m->memory_limit = b->mappings.v[i].limit;
        m->file_offset = b->mappings.v[i].offset;
        m->filename = b->mappings.v[i].file;
        m->build_id = b->mappings.v[i].build_id;
        m->has_functions = b->mappings.v[i].has_functions;
        a->map_ptrs[i] = m;
    }
}

static void fill_profile(PbProfile *p, pb_arena *a, const pprof_builder *b)
{
    size_t i;

    perftools__profiles__profile__init(p);
    for (i = 0; i < b->ntypes; i++) {
        perftools__profiles__value_type__init(&a->types[i]);
        a->types[i].type = b->types[2 * i];
        a->types[i].unit = b->types[2 * i + 1];
        a->type_ptrs[i] = &a->types[i];
    }
    perftools__profiles__value_type__init(&a->period_type);
    a->period_type.type = b->period_type[0];
    a->period_type.unit = b->period_type[1];
    p->n_sample_type = b->ntypes;
    p->sample_type = a->type_ptrs;
    p->n_sample = b->samples.n;
    p->sample = a->sample_ptrs;
    p->n_location = b->locs.n;
    p->location = a->loc_ptrs;
    p->n_function = b->funcs.n;
    p->function = a->func_ptrs;
    p->n_mapping = b->mappings.n;
    p->mapping = a->map_ptrs;
    p->n_string_table = b->strings.n;
    p->string_table = b->strings.v;
    p->time_nanos = b->time_nanos;
    p->duration_nanos = b->duration_nanos;
    p->period_type = &a->period_type;
    p->period = b->period;
}

int pprof_encode(pprof_builder *b, unsigned char **out, size_t *len)
{
    PbProfile p;
    pb_arena a;
    size_t i, nlabels = 0, size;
    unsigned char *raw;
    int rc;

    if (b->oom)
        return -1;
    for (i = 0; i < b->samples.n; i++)
        nlabels += b->samples.v[i].nlabels;
    if (arena_alloc(&a, b, nlabels) != 0) {
        arena_free(&a);
        return -1;
    }
    fill_profile(&p, &a, b);
    fill_samples(&a, b);
    fill_tables(&a, b);
    size = perftools__profiles__profile__get_packed_size(&p);
    raw = malloc(size ? size : 1);
    if (!raw) {
        arena_free(&a);
        return -1;
    }
    perftools__profiles__profile__pack(&p, raw);
    arena_free(&a);
    rc = pprof_gzip(raw, size, out, len);
    free(raw);
    return rc;
}

int pprof_gzip(const unsigned char *in, size_t n, unsigned char **out,
               size_t *outlen)
{
    z_stream zs;
    uLong bound;
    unsigned char *dst;
    int rc;

    memset(&zs, 0, sizeof(zs));
    /* 16 + MAX_WBITS selects the gzip wrapper that pprof readers expect. */
    if (deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    bound = deflateBound(&zs, (uLong)n) + 32;
    dst = malloc(bound);
    if (!dst) {
        deflateEnd(&zs);
        return -1;
    }
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = dst;
    zs.avail_out = (uInt)bound;
    rc = deflate(&zs, Z_FINISH);
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(dst);
        return -1;
    }
    *out = dst;
    *outlen = zs.total_out;
    return 0;
}
