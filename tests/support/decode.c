#include "decode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "test.h"
#include "workload.h"

unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *d;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    d = malloc((size_t)n + 1);
    if (d && fread(d, 1, (size_t)n, f) != (size_t)n) {
        free(d);
        d = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return d;
}

unsigned char *test_gunzip(const unsigned char *in, size_t n, size_t *out)
{
    z_stream zs;
    size_t cap = n * 8 + 1024;
    unsigned char *d = malloc(cap);
    int rc;

    memset(&zs, 0, sizeof(zs));
    if (!d || inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        free(d);
        return NULL;
    }
    zs.next_in = (unsigned char *)in;
    zs.avail_in = (uInt)n;
    for (;;) {
        zs.next_out = d + zs.total_out;
        zs.avail_out = (uInt)(cap - zs.total_out);
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc == Z_STREAM_END)
            break;
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            inflateEnd(&zs);
            free(d);
            return NULL;
        }
        cap *= 2;
        d = realloc(d, cap);
    }
    *out = zs.total_out;
    inflateEnd(&zs);
    return d;
}

pb_profile *decode_profile(const unsigned char *data, size_t len)
{
    unsigned char *raw;
    size_t rawlen;
    pb_profile *p;

    if (len >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
        raw = test_gunzip(data, len, &rawlen);
        if (!raw)
            return NULL;
        p = perftools__profiles__profile__unpack(NULL, rawlen, raw);
        free(raw);
        return p;
    }
    return perftools__profiles__profile__unpack(NULL, len, data);
}

pb_profile *decode_profile_file(const char *path)
{
    size_t n;
    unsigned char *d = read_file(path, &n);
    pb_profile *p;

    if (!d)
        return NULL;
    p = decode_profile(d, n);
    free(d);
    return p;
}

void decode_free(pb_profile *p)
{
    if (p)
        perftools__profiles__profile__free_unpacked(p, NULL);
}

const char *pb_string(const pb_profile *p, int64_t idx)
{
    if (idx < 0 || (size_t)idx >= p->n_string_table)
        return NULL;
    return p->string_table[idx];
}

int pb_type_index(const pb_profile *p, const char *type)
{
    size_t i;

    for (i = 0; i < p->n_sample_type; i++)
        if (strcmp(pb_string(p, p->sample_type[i]->type), type) == 0)
            return (int)i;
    return -1;
}

static const Perftools__Profiles__Location *loc(const pb_profile *p,
                                                 uint64_t id)
{
    size_t i;

    for (i = 0; i < p->n_location; i++)
        if (p->location[i]->id == id)
            return p->location[i];
    return NULL;
}

static const char *func_name(const pb_profile *p, uint64_t id)
{
    size_t i;

    for (i = 0; i < p->n_function; i++)
        if (p->function[i]->id == id)
            return pb_string(p, p->function[i]->name);
    return NULL;
}

static int loc_has(const pb_profile *p, uint64_t id, const char *fn)
{
    const Perftools__Profiles__Location *l = loc(p, id);
    size_t i;

    if (!l)
        return 0;
    for (i = 0; i < l->n_line; i++) {
        const char *n = func_name(p, l->line[i]->function_id);
        if (n && strcmp(n, fn) == 0)
            return 1;
    }
    return 0;
}

static int sample_has(const pb_profile *p, const Perftools__Profiles__Sample *s,
                      const char *fn)
{
    size_t i;

    for (i = 0; i < s->n_location_id; i++)
        if (loc_has(p, s->location_id[i], fn))
            return 1;
    return 0;
}

static int sample_label_is(const pb_profile *p,
                           const Perftools__Profiles__Sample *s,
                           const char *key, const char *value)
{
    size_t i;

    for (i = 0; i < s->n_label; i++)
        if (strcmp(pb_string(p, s->label[i]->key), key) == 0)
            return value && strcmp(pb_string(p, s->label[i]->str), value) == 0;
    return value == NULL;
}

int64_t pb_sum_with_both(const pb_profile *p, int vi, const char *fn,
                         const char *fn2)
{
    int64_t sum = 0;
    size_t i;

    for (i = 0; i < p->n_sample; i++)
        if (sample_has(p, p->sample[i], fn) &&
            sample_has(p, p->sample[i], fn2))
            sum += p->sample[i]->value[vi];
    return sum;
}

int64_t pb_sum_with(const pb_profile *p, int vi, const char *fn)
{
    return pb_sum_with_both(p, vi, fn, fn);
}

int64_t pb_sum_with_label(const pb_profile *p, int vi, const char *fn,
                          const char *key, const char *value)
{
    int64_t sum = 0;
    size_t i;

    for (i = 0; i < p->n_sample; i++)
        if ((!fn || sample_has(p, p->sample[i], fn)) &&
            sample_label_is(p, p->sample[i], key, value))
            sum += p->sample[i]->value[vi];
    return sum;
}

int64_t pb_sum(const pb_profile *p, int vi)
{
    int64_t sum = 0;
    size_t i;

    for (i = 0; i < p->n_sample; i++)
        sum += p->sample[i]->value[vi];
    return sum;
}

const char *pb_leaf(const pb_profile *p, size_t i)
{
    const Perftools__Profiles__Location *l;

    if (i >= p->n_sample || p->sample[i]->n_location_id == 0)
        return NULL;
    l = loc(p, p->sample[i]->location_id[0]);
    if (!l || l->n_line == 0)
        return NULL;
    return func_name(p, l->line[0]->function_id);
}

const char *pb_function_file(const pb_profile *p, const char *fn)
{
    size_t i;

    for (i = 0; i < p->n_function; i++)
        if (strcmp(pb_string(p, p->function[i]->name), fn) == 0)
            return pb_string(p, p->function[i]->filename);
    return NULL;
}

int64_t pb_max_line(const pb_profile *p, const char *fn)
{
    int64_t best = 0;
    size_t i, j;

    for (i = 0; i < p->n_location; i++)
        for (j = 0; j < p->location[i]->n_line; j++) {
            const Perftools__Profiles__Line *l = p->location[i]->line[j];
            const char *n = func_name(p, l->function_id);
            if (n && strcmp(n, fn) == 0 && l->line > best)
                best = l->line;
        }
    return best;
}

int64_t pb_sum_files(const char *dir, const char *part, const char *fn,
                     int vi, void (*check)(const pb_profile *))
{
    char **files = wl_list(dir, part), **f;
    int64_t sum = 0;

    for (f = files; *f; f++) {
        pb_profile *prof = decode_profile_file(*f);
        ASSERT(prof != NULL);
        if (check)
            check(prof);
        sum += pb_sum_with(prof, vi, fn);
        decode_free(prof);
    }
    wl_free_list(files);
    return sum;
}
