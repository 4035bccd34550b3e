#include "otlp/otlp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/log.h"
#include "common/map.h"
#include "common/util.h"
#include "otlp.pb-c.h"
#include "profile.pb-c.h"

typedef Perftools__Profiles__Profile pprof_pb;
typedef Pyroscope__Otlp__ProfilesDictionary dict_pb;

#define MAX_PPROF (64u << 20) /* decompressed bound: ours are far smaller */
#define OTLP_MAX_ATTRS 65 /* service.name + the static tags push sends */

/* ---- input: gunzip (or take raw) and unpack ---- */

static unsigned char *gunzip(const unsigned char *in, size_t n, size_t *outlen)
{
    z_stream z;
    size_t cap = n * 4 + 1024, len = 0;
    unsigned char *out = malloc(cap), *grown;
    int rc;

    if (!out)
        return NULL;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        free(out);
        return NULL;
    }
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)n;
    do {
        if (len == cap) {
            if (cap >= MAX_PPROF || !(grown = realloc(out, cap * 2)))
                break;
            out = grown;
            cap *= 2;
        }
        z.next_out = out + len;
        z.avail_out = (uInt)(cap - len);
        rc = inflate(&z, Z_NO_FLUSH);
        len = cap - z.avail_out;
    } while (rc == Z_OK);
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    *outlen = len;
    return out;
}

static pprof_pb *unpack_pprof(const unsigned char *in, size_t n)
{
    unsigned char *raw = NULL;
    size_t rawlen = n;
    pprof_pb *p;

    if (n >= 2 && in[0] == 0x1f && in[1] == 0x8b) {
        if (!(raw = gunzip(in, n, &rawlen)))
            return NULL;
        in = raw;
    }
    p = perftools__profiles__profile__unpack(NULL, rawlen, in);
    free(raw);
    return p;
}

/* ---- output: the shared dictionary ---- */

/*
 * Every table is allocated once at its final size: index 0 of each holds
 * the zero value, as OTLP requires, and pprof's ids map to indices through
 * `ids` (pprof ids are usually 1..n but need not be).
 */
typedef struct conv {
    const pprof_pb *in;
    dict_pb dict;
    Pyroscope__Otlp__Mapping *maps;
    Pyroscope__Otlp__Function *funs;
    Pyroscope__Otlp__Location *locs;
    Pyroscope__Otlp__Line *lines;
    Pyroscope__Otlp__Stack *stacks;
    int32_t *stack_locs;
    Pyroscope__Otlp__KeyValueAndUnit *attrs;
    Pyroscope__Otlp__AnyValue *attr_vals;
    int32_t *sample_attrs; /* per sample, n_label slots */
    size_t *sample_attr_off;
    map map_ids, fun_ids, loc_ids, attr_ids;
    size_t nstr_in;
} conv;

static int32_t add_string(conv *c, const char *s)
{
    size_t i;

    for (i = 0; i < c->dict.n_string_table; i++)
        if (!strcmp(c->dict.string_table[i], s))
            return (int32_t)i;
    c->dict.string_table[c->dict.n_string_table] = (char *)s;
    return (int32_t)c->dict.n_string_table++;
}

static int32_t str_index(const conv *c, int64_t i)
{
    return i >= 0 && (size_t)i < c->nstr_in ? (int32_t)i : 0;
}

static int32_t lookup(const map *m, uint64_t id)
{
    uint64_t *v = id ? map_get(m, id) : NULL;

    return v ? (int32_t)*v : 0;
}

static int build_mappings(conv *c)
{
    size_t i;

    c->dict.n_mapping_table = c->in->n_mapping + 1;
    for (i = 0; i <= c->in->n_mapping; i++) {
        pyroscope__otlp__mapping__init(&c->maps[i]);
        c->dict.mapping_table[i] = &c->maps[i];
        if (i == 0)
            continue;
        const Perftools__Profiles__Mapping *m = c->in->mapping[i - 1];
        c->maps[i].memory_start = m->memory_start;
        c->maps[i].memory_limit = m->memory_limit;
        c->maps[i].file_offset = m->file_offset;
        c->maps[i].filename_strindex = str_index(c, m->filename);
        if (m->id && map_put(&c->map_ids, m->id, i) < 0)
            return -1;
    }
    return 0;
}

static int build_functions(conv *c)
{
    size_t i;

    c->dict.n_function_table = c->in->n_function + 1;
    for (i = 0; i <= c->in->n_function; i++) {
        pyroscope__otlp__function__init(&c->funs[i]);
        c->dict.function_table[i] = &c->funs[i];
        if (i == 0)
            continue;
        const Perftools__Profiles__Function *f = c->in->function[i - 1];
        c->funs[i].name_strindex = str_index(c, f->name);
        c->funs[i].system_name_strindex = str_index(c, f->system_name);
        c->funs[i].filename_strindex = str_index(c, f->filename);
        c->funs[i].start_line = f->start_line;
        if (f->id && map_put(&c->fun_ids, f->id, i) < 0)
            return -1;
    }
    return 0;
}

static int build_locations(conv *c, Pyroscope__Otlp__Line **line_ptrs)
{
    size_t i, j, nl = 0;

    c->dict.n_location_table = c->in->n_location + 1;
    for (i = 0; i <= c->in->n_location; i++) {
        Pyroscope__Otlp__Location *o = &c->locs[i];

        pyroscope__otlp__location__init(o);
        c->dict.location_table[i] = o;
        if (i == 0)
            continue;
        const Perftools__Profiles__Location *l = c->in->location[i - 1];
        o->mapping_index = lookup(&c->map_ids, l->mapping_id);
        o->address = l->address;
        o->n_lines = l->n_line;
        o->lines = line_ptrs + nl;
        for (j = 0; j < l->n_line; j++, nl++) {
            pyroscope__otlp__line__init(&c->lines[nl]);
            c->lines[nl].function_index =
                lookup(&c->fun_ids, l->line[j]->function_id);
            c->lines[nl].line = l->line[j]->line;
            line_ptrs[nl] = &c->lines[nl];
        }
        if (l->id && map_put(&c->loc_ids, l->id, i) < 0)
            return -1;
    }
    return 0;
}

/* Index of the attribute for pprof label `lb`, added on first use. */
static int32_t attr_index(conv *c, const Perftools__Profiles__Label *lb)
{
    uint64_t key = ((uint64_t)(uint32_t)str_index(c, lb->key) << 32) |
                   (uint32_t)(lb->str ? str_index(c, lb->str) : 0);
    size_t i = c->dict.n_attribute_table;
    uint64_t *have;

    /* Numeric labels are rare (we write none); keep them distinct. */
    if (!lb->str)
        key ^= hash_u64((uint64_t)lb->num);
    have = map_get(&c->attr_ids, key | (1ull << 63));
    if (have)
        return (int32_t)*have;
    pyroscope__otlp__key_value_and_unit__init(&c->attrs[i]);
    pyroscope__otlp__any_value__init(&c->attr_vals[i]);
    c->attrs[i].key_strindex = str_index(c, lb->key);
    if (lb->str) {
        c->attr_vals[i].value_case =
            PYROSCOPE__OTLP__ANY_VALUE__VALUE_STRING_VALUE;
        c->attr_vals[i].string_value =
            c->dict.string_table[str_index(c, lb->str)];
    } else {
        c->attr_vals[i].value_case = PYROSCOPE__OTLP__ANY_VALUE__VALUE_INT_VALUE;
        c->attr_vals[i].int_value = lb->num;
        c->attrs[i].unit_strindex = str_index(c, lb->num_unit);
    }
    c->attrs[i].value = &c->attr_vals[i];
    c->dict.attribute_table[i] = &c->attrs[i];
    if (map_put(&c->attr_ids, key | (1ull << 63), i) < 0)
        return 0;
    c->dict.n_attribute_table++;
    return (int32_t)i;
}

static int build_stacks_and_attrs(conv *c)
{
    size_t i, j, nl = 0, na = 0;

    c->dict.n_stack_table = c->in->n_sample + 1;
    pyroscope__otlp__stack__init(&c->stacks[0]);
    c->dict.stack_table[0] = &c->stacks[0];
    /* Attribute 0 is the zero value. */
    pyroscope__otlp__key_value_and_unit__init(&c->attrs[0]);
    c->dict.attribute_table[0] = &c->attrs[0];
    c->dict.n_attribute_table = 1;
    for (i = 0; i < c->in->n_sample; i++) {
        const Perftools__Profiles__Sample *s = c->in->sample[i];
        Pyroscope__Otlp__Stack *st = &c->stacks[i + 1];

        pyroscope__otlp__stack__init(st);
        st->location_indices = c->stack_locs + nl;
        st->n_location_indices = s->n_location_id;
        for (j = 0; j < s->n_location_id; j++)
            c->stack_locs[nl++] = lookup(&c->loc_ids, s->location_id[j]);
        c->dict.stack_table[i + 1] = st;
        c->sample_attr_off[i] = na;
        for (j = 0; j < s->n_label; j++)
            c->sample_attrs[na++] = attr_index(c, s->label[j]);
    }
    c->sample_attr_off[c->in->n_sample] = na;
    return 0;
}

/* ---- profiles: one per sample type, CPU folded into samples/count ---- */

static int type_is(const conv *c, const Perftools__Profiles__ValueType *v,
                   const char *type, const char *unit)
{
    return v && !strcmp(c->dict.string_table[str_index(c, v->type)], type) &&
           !strcmp(c->dict.string_table[str_index(c, v->unit)], unit);
}

static int find_type(const conv *c, const char *type, const char *unit)
{
    size_t i;

    for (i = 0; i < c->in->n_sample_type; i++)
        if (type_is(c, c->in->sample_type[i], type, unit))
            return (int)i;
    return -1;
}

typedef struct out_profile {
    Pyroscope__Otlp__Profile prof;
    Pyroscope__Otlp__ValueType st, pt;
    Pyroscope__Otlp__Sample *samples;
    Pyroscope__Otlp__Sample **sample_ptrs;
    int64_t *values;
} out_profile;

/*
 * Fill `o` with value column `vi` of every sample.  `per` > 0 turns CPU
 * nanoseconds into sample counts; the rounding error is carried from one
 * sample to the next so the profile's total stays exact to one period.
 */
static int fill_profile(conv *c, out_profile *o, int vi, int64_t per)
{
    size_t i, n = 0;
    double carry = 0;

    o->samples = calloc(c->in->n_sample + 1, sizeof(*o->samples));
    o->sample_ptrs = calloc(c->in->n_sample + 1, sizeof(*o->sample_ptrs));
    o->values = calloc(c->in->n_sample + 1, sizeof(*o->values));
    if (!o->samples || !o->sample_ptrs || !o->values)
        return -1;
    for (i = 0; i < c->in->n_sample; i++) {
        const Perftools__Profiles__Sample *s = c->in->sample[i];
        Pyroscope__Otlp__Sample *d = &o->samples[n];
        int64_t v = (size_t)vi < s->n_value ? s->value[vi] : 0;

        if (per > 0) {
            double exact = (double)v / (double)per + carry;
            v = (int64_t)llround(exact);
            carry = exact - (double)v;
        }
        if (v == 0)
            continue;
        pyroscope__otlp__sample__init(d);
        d->stack_index = (int32_t)(i + 1);
        d->attribute_indices = c->sample_attrs + c->sample_attr_off[i];
        d->n_attribute_indices =
            c->sample_attr_off[i + 1] - c->sample_attr_off[i];
        o->values[n] = v;
        d->values = &o->values[n];
        d->n_values = 1;
        o->sample_ptrs[n++] = d;
    }
    o->prof.samples = o->sample_ptrs;
    o->prof.n_samples = n;
    return 0;
}

static void profile_header(conv *c, out_profile *o, int32_t type,
                           int32_t unit, int32_t ptype, int32_t punit)
{
    pyroscope__otlp__profile__init(&o->prof);
    pyroscope__otlp__value_type__init(&o->st);
    pyroscope__otlp__value_type__init(&o->pt);
    o->st.type_strindex = type;
    o->st.unit_strindex = unit;
    o->pt.type_strindex = ptype;
    o->pt.unit_strindex = punit;
    o->prof.sample_type = &o->st;
    o->prof.period_type = &o->pt;
    o->prof.period = c->in->period;
    o->prof.time_unix_nano = (uint64_t)c->in->time_nanos;
    o->prof.duration_nano = (uint64_t)c->in->duration_nanos;
}

/* Profiles for every sample type; returns how many, -1 on failure. */
static int build_profiles(conv *c, const otlp_resource *r, out_profile *o)
{
    int cpu_ns = find_type(c, "cpu", "nanoseconds");
    int cpu_n = find_type(c, "samples", "count");
    int n = 0;
    size_t i;
    int32_t pname = add_string(c, r->profile_name ? r->profile_name : "");
    int32_t punit = c->in->period_type
                        ? str_index(c, c->in->period_type->unit) : 0;

    if (cpu_ns >= 0 && cpu_n >= 0 && c->in->period > 0 &&
        type_is(c, c->in->period_type, "cpu", "nanoseconds")) {
        profile_header(c, &o[n], add_string(c, "samples"),
                       add_string(c, "count"), add_string(c, "cpu"),
                       add_string(c, "nanoseconds"));
        if (fill_profile(c, &o[n++], cpu_ns, c->in->period) < 0)
            return -1;
        return n;
    }
    for (i = 0; i < c->in->n_sample_type; i++) {
        const Perftools__Profiles__ValueType *t = c->in->sample_type[i];

        profile_header(c, &o[n], str_index(c, t->type), str_index(c, t->unit),
                       pname, punit);
        if (fill_profile(c, &o[n++], (int)i, 0) < 0)
            return -1;
    }
    return n;
}

/* ---- the request ---- */

typedef struct kv_store {
    Pyroscope__Otlp__KeyValue kv[OTLP_MAX_ATTRS];
    Pyroscope__Otlp__AnyValue av[OTLP_MAX_ATTRS];
    Pyroscope__Otlp__KeyValue *ptrs[OTLP_MAX_ATTRS];
    size_t n;
} kv_store;

static void kv_add(kv_store *s, const char *k, const char *v)
{
    if (s->n >= sizeof(s->kv) / sizeof(s->kv[0]) || !k || !v)
        return;
    pyroscope__otlp__key_value__init(&s->kv[s->n]);
    pyroscope__otlp__any_value__init(&s->av[s->n]);
    s->av[s->n].value_case = PYROSCOPE__OTLP__ANY_VALUE__VALUE_STRING_VALUE;
    s->av[s->n].string_value = (char *)v;
    s->kv[s->n].key = (char *)k;
    s->kv[s->n].value = &s->av[s->n];
    s->ptrs[s->n] = &s->kv[s->n];
    s->n++;
}

static int pack_request(conv *c, const otlp_resource *r, out_profile *o,
                        int n, unsigned char **out, size_t *outlen)
{
    Pyroscope__Otlp__ExportProfilesServiceRequest req =
        PYROSCOPE__OTLP__EXPORT_PROFILES_SERVICE_REQUEST__INIT;
    Pyroscope__Otlp__ResourceProfiles rp =
        PYROSCOPE__OTLP__RESOURCE_PROFILES__INIT, *rpp = &rp;
    Pyroscope__Otlp__Resource res = PYROSCOPE__OTLP__RESOURCE__INIT;
    Pyroscope__Otlp__ScopeProfiles sp = PYROSCOPE__OTLP__SCOPE_PROFILES__INIT,
                                   *spp = &sp;
    Pyroscope__Otlp__InstrumentationScope scope =
        PYROSCOPE__OTLP__INSTRUMENTATION_SCOPE__INIT;
    Pyroscope__Otlp__Profile *profs[8];
    kv_store *attrs = calloc(1, sizeof(*attrs));
    size_t i;
    int k;

    if (!attrs)
        return PYROSCOPE_ENOMEM;
    kv_add(attrs, "service.name", r->service_name);
    for (i = 0; i < r->nattrs; i++)
        kv_add(attrs, r->attrs[i].key, r->attrs[i].value);
    res.attributes = attrs->ptrs;
    res.n_attributes = attrs->n;
    scope.name = (char *)(r->scope_name ? r->scope_name : "");
    scope.version = (char *)(r->scope_version ? r->scope_version : "");
    for (k = 0; k < n && k < 8; k++)
        profs[k] = &o[k].prof;
    sp.scope = &scope;
    sp.profiles = profs;
    sp.n_profiles = (size_t)k;
    rp.resource = &res;
    rp.scope_profiles = &spp;
    rp.n_scope_profiles = 1;
    req.resource_profiles = &rpp;
    req.n_resource_profiles = 1;
    req.dictionary = &c->dict;
    *outlen = pyroscope__otlp__export_profiles_service_request__get_packed_size(
        &req);
    *out = malloc(*outlen ? *outlen : 1);
    if (*out)
        pyroscope__otlp__export_profiles_service_request__pack(&req, *out);
    free(attrs);
    return *out ? 0 : PYROSCOPE_ENOMEM;
}

/* ---- allocation and the entry point ---- */

static void conv_free(conv *c, out_profile *o, int n)
{
    int k;

    for (k = 0; k < n; k++) {
        free(o[k].samples);
        free(o[k].sample_ptrs);
        free(o[k].values);
    }
    free(c->dict.mapping_table);
    free(c->dict.function_table);
    free(c->dict.location_table);
    free(c->dict.stack_table);
    free(c->dict.attribute_table);
    free(c->dict.string_table);
    free(c->maps);
    free(c->funs);
    free(c->locs);
    free(c->lines);
    free(c->stacks);
    free(c->stack_locs);
    free(c->attrs);
    free(c->attr_vals);
    free(c->sample_attrs);
    free(c->sample_attr_off);
    map_free(&c->map_ids);
    map_free(&c->fun_ids);
    map_free(&c->loc_ids);
    map_free(&c->attr_ids);
}

static int conv_alloc(conv *c, Pyroscope__Otlp__Line ***line_ptrs)
{
    const pprof_pb *p = c->in;
    size_t i, nlines = 0, nlocs = 0, nlabels = 0;

    for (i = 0; i < p->n_location; i++)
        nlines += p->location[i]->n_line;
    for (i = 0; i < p->n_sample; i++) {
        nlocs += p->sample[i]->n_location_id;
        nlabels += p->sample[i]->n_label;
    }
    /* A few strings are added: value type names and the profile name. */
    c->dict.string_table = calloc(p->n_string_table + 8, sizeof(char *));
    c->dict.mapping_table = calloc(p->n_mapping + 1, sizeof(void *));
    c->dict.function_table = calloc(p->n_function + 1, sizeof(void *));
    c->dict.location_table = calloc(p->n_location + 1, sizeof(void *));
    c->dict.stack_table = calloc(p->n_sample + 1, sizeof(void *));
    c->dict.attribute_table = calloc(nlabels + 1, sizeof(void *));
    c->maps = calloc(p->n_mapping + 1, sizeof(*c->maps));
    c->funs = calloc(p->n_function + 1, sizeof(*c->funs));
    c->locs = calloc(p->n_location + 1, sizeof(*c->locs));
    c->lines = calloc(nlines + 1, sizeof(*c->lines));
    *line_ptrs = calloc(nlines + 1, sizeof(**line_ptrs));
    c->stacks = calloc(p->n_sample + 1, sizeof(*c->stacks));
    c->stack_locs = calloc(nlocs + 1, sizeof(*c->stack_locs));
    c->attrs = calloc(nlabels + 1, sizeof(*c->attrs));
    c->attr_vals = calloc(nlabels + 1, sizeof(*c->attr_vals));
    c->sample_attrs = calloc(nlabels + 1, sizeof(*c->sample_attrs));
    c->sample_attr_off = calloc(p->n_sample + 1, sizeof(size_t));
    map_init(&c->map_ids);
    map_init(&c->fun_ids);
    map_init(&c->loc_ids);
    map_init(&c->attr_ids);
    if (!c->dict.string_table || !c->dict.mapping_table ||
        !c->dict.function_table || !c->dict.location_table ||
        !c->dict.stack_table || !c->dict.attribute_table || !c->maps ||
        !c->funs || !c->locs || !c->lines || !*line_ptrs || !c->stacks ||
        !c->stack_locs || !c->attrs || !c->attr_vals || !c->sample_attrs ||
        !c->sample_attr_off)
        return -1;
    for (i = 0; i < p->n_string_table; i++)
        c->dict.string_table[i] = p->string_table[i];
    if (p->n_string_table == 0)
        c->dict.string_table[i++] = "";
    c->dict.n_string_table = i;
    c->nstr_in = i;
    return 0;
}

int otlp_from_pprof(const unsigned char *in, size_t len,
                    const otlp_resource *r, unsigned char **out,
                    size_t *outlen)
{
    pprof_pb *p = unpack_pprof(in, len);
    Pyroscope__Otlp__Line **line_ptrs = NULL;
    out_profile o[8];
    conv c;
    int n = 0, rc = PYROSCOPE_ENOMEM;

    *out = NULL;
    *outlen = 0;
    if (!p)
        return PYROSCOPE_EINVAL;
    memset(&c, 0, sizeof(c));
    memset(o, 0, sizeof(o));
    c.in = p;
    pyroscope__otlp__profiles_dictionary__init(&c.dict);
    if (p->n_sample_type > 8 || p->n_string_table > INT32_MAX / 2) {
        rc = PYROSCOPE_EINVAL;
        goto done;
    }
    if (conv_alloc(&c, &line_ptrs) < 0 || build_mappings(&c) < 0 ||
        build_functions(&c) < 0 || build_locations(&c, line_ptrs) < 0 ||
        build_stacks_and_attrs(&c) < 0)
        goto done;
    n = build_profiles(&c, r, o);
    if (n < 0) {
        n = 8;
        goto done;
    }
    rc = pack_request(&c, r, o, n, out, outlen);
done:
    conv_free(&c, o, n);
    free(line_ptrs);
    perftools__profiles__profile__free_unpacked(p, NULL);
    return rc;
}
