#include "tags.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/redact.h"
#include "../common/tls.h"
#include "../common/util.h"

/*
 * Slots live in a static array and are never freed, only their strings are:
 * a fast-path pusher may touch a slot that the collector is retiring, and
 * must find a slot there to fail its check against.
 *
 * Id layout: low 16 bits = slot + 1, high bits = slot generation.
 */
typedef struct tagset {
    atomic_long refs;        /* scopes holding it; -1 when being freed */
    atomic_uint_fast64_t last_window;
    atomic_uint_fast64_t gen;
    uint64_t hash;
    size_t n;
    pyroscope_tag *kv;       /* sorted by key; NULL when free */
} tagset;

static tagset g_sets[TAGS_MAX_SETS];
static size_t g_live;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint_fast64_t g_window = 1;
static atomic_uint_fast64_t g_gc_epoch = 1;

/* Per thread (common/tls.h): the current id, read by the signal handler;
 * a stack of saved ids; and a cache tag-list hash -> id. */
#define t_current (pyroscope__tls.tagset)
#define CACHE_SIZE TLS_CACHE_SIZE
typedef tls_cache_entry cache_entry;

static tagset *slot_of(uint64_t id)
{
    uint64_t idx = id & 0xffff;

    if (idx == 0 || idx > TAGS_MAX_SETS)
        return NULL;
    return &g_sets[idx - 1];
}

static uint64_t make_id(size_t idx, uint64_t gen)
{
    return (gen << 16) | (uint64_t)(idx + 1);
}

/* ---- validation ---- */

static int is_alpha_(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* Offset of the first control character of s, or -1.  Text holding one is
 * never echoed into a message: that message may be logged. */
static long first_ctl(const char *s)
{
    long at = redact_first_ctl(s);
    const char *tab = strchr(s, '\t');

    if (tab && (at < 0 || tab - s < at))
        at = (long)(tab - s);
    return at;
}

int tags_check_key(const char *key)
{
    size_t i;
    long at;

    if (!key || !*key)
        return error_set(PYROSCOPE_EINVAL, "tag key is empty");
    if ((at = first_ctl(key)) >= 0)
        return error_set(PYROSCOPE_EINVAL,
                         "tag key contains a control character at offset "
                         "%ld (key not shown)", at);
    if (strlen(key) > TAGS_MAX_KEY_LEN)
        return error_set(PYROSCOPE_ELIMIT, "tag key '%.32s...' longer than %d",
                         key, TAGS_MAX_KEY_LEN);
    if (!is_alpha_((unsigned char)key[0]))
        return error_set(PYROSCOPE_EINVAL,
                         "tag key '%s' is not a valid label name "
                         "(must start with a letter or '_')", key);
    for (i = 1; key[i]; i++) {
        int c = (unsigned char)key[i];
        if (!is_alpha_(c) && !(c >= '0' && c <= '9') && c != '.')
            return error_set(PYROSCOPE_EINVAL,
                             "tag key '%s' is not a valid label name "
                             "(bad character at offset %zu)", key, i);
    }
    if (key[0] == '_' && key[1] == '_')
        return error_set(PYROSCOPE_EINVAL,
                         "tag key '%s' is reserved (names starting with __ "
                         "belong to the server)", key);
    return 0;
}

int tags_check_value(const char *value, int allow_empty)
{
    size_t i;
    long at;

    if (!value || !*value)
        return allow_empty ? 0
                           : error_set(PYROSCOPE_EINVAL, "tag value is empty");
    if ((at = first_ctl(value)) >= 0)
        return error_set(PYROSCOPE_EINVAL,
                         "tag value contains control character 0x%02x at "
                         "offset %ld (value not shown)",
                         (unsigned char)value[at], at);
    if (strlen(value) > TAGS_MAX_VALUE_LEN)
        return error_set(PYROSCOPE_ELIMIT, "tag value '%.32s...' longer than %d",
                         value, TAGS_MAX_VALUE_LEN);
    for (i = 0; value[i]; i++) {
        unsigned char c = (unsigned char)value[i];
        if (strchr("{},=\"\\", c))
            return error_set(PYROSCOPE_EINVAL,
                             "tag value '%s' contains a forbidden character "
                             "at offset %zu ({ } , = \" \\ and control "
                             "characters would break the series name)",
                             value, i);
    }
    return 0;
}

int pyroscope_tag_check(const char *key, const char *value)
{
    int rc = tags_check_key(key);

    return rc ? rc : tags_check_value(value, 0);
}

/* ---- merging (no allocation: the fast path must not malloc) ---- */

int tags_cmp_key(const void *a, const void *b)
{
    return strcmp(((const pyroscope_tag *)a)->key,
                  ((const pyroscope_tag *)b)->key);
}

/*
 * Merge `base` (sorted) with `add` (inner wins; empty value deletes) into
 * `out`, sorted.  Returns the count or -1 past TAGS_MAX_PER_SET.
 */
static int merge(const pyroscope_tag *base, size_t nb, const pyroscope_tag *add,
                 size_t na, pyroscope_tag *out)
{
    pyroscope_tag tmp[TAGS_MAX_PER_SET + TAGS_MAX_PER_SCOPE];
    size_t n = 0, i, j, k = 0;

    for (i = 0; i < nb; i++)
        tmp[n++] = base[i];
    for (i = 0; i < na; i++) {
        for (j = 0; j < n && strcmp(tmp[j].key, add[i].key) != 0; j++)
            ;
        if (j == n)
            n++;
        tmp[j] = add[i];
    }
    qsort(tmp, n, sizeof(tmp[0]), tags_cmp_key);
    for (i = 0; i < n; i++) {
        if (!tmp[i].value || !tmp[i].value[0])
            continue;
        if (k == TAGS_MAX_PER_SET)
            return -1;
        out[k++] = tmp[i];
    }
    return (int)k;
}

static uint64_t hash_kv(const pyroscope_tag *kv, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull;
    size_t i;

    for (i = 0; i < n; i++) {
        h = hash_bytes(kv[i].key, strlen(kv[i].key) + 1, h);
        h = hash_bytes(kv[i].value, strlen(kv[i].value) + 1, h);
    }
    return h;
}

/* ---- the table (slow path, under g_lock) ---- */

static int kv_equal(const tagset *s, const pyroscope_tag *kv, size_t n)
{
    size_t i;

    if (s->n != n)
        return 0;
    for (i = 0; i < n; i++)
        if (strcmp(s->kv[i].key, kv[i].key) ||
            strcmp(s->kv[i].value, kv[i].value))
            return 0;
    return 1;
}

static pyroscope_tag *kv_copy(const pyroscope_tag *kv, size_t n)
{
    size_t bytes = n * sizeof(*kv), i;
    pyroscope_tag *out;
    char *p;

    for (i = 0; i < n; i++)
        bytes += strlen(kv[i].key) + strlen(kv[i].value) + 2;
    out = malloc(bytes ? bytes : 1);
    if (!out)
        return NULL;
    p = (char *)(out + n);
    for (i = 0; i < n; i++) {
        size_t kl = strlen(kv[i].key) + 1, vl = strlen(kv[i].value) + 1;
        memcpy(p, kv[i].key, kl);
        out[i].key = p;
        p += kl;
        memcpy(p, kv[i].value, vl);
        out[i].value = p;
        p += vl;
    }
    return out;
}

/* Find or insert; returns a referenced id or 0 with the error set. */
static uint64_t table_acquire(const pyroscope_tag *kv, size_t n, uint64_t h,
                              int *err)
{
    size_t i, start = h % TAGS_MAX_SETS, free_idx = TAGS_MAX_SETS;
    uint64_t id = 0;

    pthread_mutex_lock(&g_lock);
    for (i = 0; i < TAGS_MAX_SETS; i++) {
        size_t idx = (start + i) % TAGS_MAX_SETS;
        tagset *s = &g_sets[idx];
        if (!s->kv) {
            if (free_idx == TAGS_MAX_SETS)
                free_idx = idx;
            continue;
        }
        if (s->hash == h && kv_equal(s, kv, n)) {
            id = make_id(idx, s->gen);
            break;
        }
    }
    if (!id && free_idx < TAGS_MAX_SETS) {
        tagset *s = &g_sets[free_idx];
        s->kv = kv_copy(kv, n);
        if (s->kv) {
            s->n = n;
            s->hash = h;
            s->gen++;
            atomic_store(&s->refs, 0);
            g_live++;
            id = make_id(free_idx, s->gen);
        } else {
            *err = error_set(PYROSCOPE_ENOMEM, "out of memory for tag set");
        }
    } else if (!id) {
        *err = error_set(PYROSCOPE_ELIMIT,
                         "more than %d distinct live tag sets", TAGS_MAX_SETS);
    }
    if (id) {
        tagset *s = slot_of(id);
        atomic_fetch_add(&s->refs, 1);
        atomic_store(&s->last_window, atomic_load(&g_window));
    }
    pthread_mutex_unlock(&g_lock);
    return id;
}

/* Lock-free: take a reference on `id` if it is still the same live set. */
static int fast_acquire(uint64_t id)
{
    tagset *s = slot_of(id);
    long prev;

    if (!s)
        return -1;
    prev = atomic_fetch_add(&s->refs, 1);
    if (prev < 0 || make_id((size_t)(s - g_sets), s->gen) != id) {
        atomic_fetch_sub(&s->refs, 1);
        return -1;
    }
    atomic_store(&s->last_window, atomic_load(&g_window));
    return 0;
}

static void release(uint64_t id)
{
    tagset *s = slot_of(id);

    if (!s)
        return;
    atomic_store(&s->last_window, atomic_load(&g_window));
    atomic_fetch_sub(&s->refs, 1);
}

/* Referenced id for the sorted list `kv`, through the per-thread cache. */
static uint64_t acquire_kv(const pyroscope_tag *kv, size_t n, int *err)
{
    uint64_t h, epoch = atomic_load(&g_gc_epoch);
    tls_ext *e = tls_ext_get();
    cache_entry *c;
    uint64_t id;

    if (n == 0)
        return 0;
    h = hash_kv(kv, n);
    if (!e)
        return table_acquire(kv, n, h, err);
    c = &e->cache[h % CACHE_SIZE];
    /* A 64-bit hash match is taken as identity; the epoch check makes sure
     * the set was not freed since the entry was cached. */
    if (c->hash == h && c->epoch == epoch && fast_acquire(c->id) == 0)
        return c->id;
    id = table_acquire(kv, n, h, err);
    if (id) {
        c->hash = h;
        c->id = id;
        c->epoch = epoch;
    }
    return id;
}

/* ---- public scope API ---- */

uint64_t tags_current(void)
{
    return t_current;
}

static size_t current_kv(pyroscope_tag *out)
{
    tagset *s = slot_of(t_current);

    /* Our own reference keeps the current set alive: no lock needed. */
    if (!s || !s->kv)
        return 0;
    memcpy(out, s->kv, s->n * sizeof(*out));
    return s->n;
}

static int check_scope_args(const pyroscope_tag *tags, size_t count)
{
    tls_ext *e = tls_ext_get();
    size_t i;
    int rc;

    if (!e)
        return error_set(PYROSCOPE_ENOMEM, "no memory for tag scope state");

    if (count && !tags)
        return error_set(PYROSCOPE_EINVAL, "tags is NULL");
    if (count > TAGS_MAX_PER_SCOPE)
        return error_set(PYROSCOPE_ELIMIT, "%zu tags in one scope (max %d)",
                         count, TAGS_MAX_PER_SCOPE);
    if (e->depth >= TAGS_MAX_DEPTH)
        return error_set(PYROSCOPE_ELIMIT, "tag scopes nested deeper than %d",
                         TAGS_MAX_DEPTH);
    for (i = 0; i < count; i++) {
        rc = tags_check_key(tags[i].key);
        if (!rc && strcmp(tags[i].key, "service_name") == 0)
            rc = error_set(PYROSCOPE_EINVAL,
                           "tag key 'service_name' is reserved: it comes "
                           "from application_name");
        if (!rc)
            rc = tags_check_value(tags[i].value, 1);
        if (rc)
            return rc;
    }
    return 0;
}

int pyroscope_scope_push(const pyroscope_tag *tags, size_t count)
{
    pyroscope_tag base[TAGS_MAX_PER_SET], merged[TAGS_MAX_PER_SET];
    size_t nb;
    int n, err = 0;
    uint64_t id;

    err = check_scope_args(tags, count);
    if (err)
        return err;
    nb = current_kv(base);
    n = merge(base, nb, tags, count, merged);
    if (n < 0)
        return error_set(PYROSCOPE_ELIMIT, "more than %d tags in scope",
                         TAGS_MAX_PER_SET);
    id = acquire_kv(merged, (size_t)n, &err);
    if (err)
        return err;
    pyroscope__tls.ext->stack[pyroscope__tls.ext->depth++] = t_current;
    t_current = id;
    return 0;
}

void pyroscope_scope_pop(void)
{
    tls_ext *e = pyroscope__tls.ext;
    uint64_t id;

    if (!e || e->depth == 0)
        return;
    id = t_current;
    t_current = e->stack[--e->depth];
    release(id);
}

uint64_t pyroscope_scope_current(void)
{
    return t_current;
}

uint64_t pyroscope_scope_restore(uint64_t id)
{
    uint64_t prev = t_current;

    if (id && fast_acquire(id) != 0)
        id = 0; /* freed since it was saved: run untagged, never crash */
    t_current = id;
    release(prev);
    return prev;
}

static int intern(const pyroscope_tag *tags, size_t n, int checked,
                  uint64_t *out)
{
    pyroscope_tag sorted[TAGS_MAX_PER_SET];
    int k, err = 0;
    size_t i;
    uint64_t id;

    if (n > TAGS_MAX_PER_SET)
        return error_set(PYROSCOPE_ELIMIT, "%zu tags (max %d)", n,
                         TAGS_MAX_PER_SET);
    for (i = 0; i < n && checked; i++) {
        err = tags_check_key(tags[i].key);
        if (!err)
            err = tags_check_value(tags[i].value, 1);
        if (err)
            return err;
    }
    k = merge(NULL, 0, tags, n, sorted);
    if (k < 0)
        return error_set(PYROSCOPE_ELIMIT, "too many tags");
    id = acquire_kv(sorted, (size_t)k, &err);
    if (err)
        return err;
    /* The sample holds no scope: drop the reference, last_window keeps the
     * set alive until its window has been uploaded. */
    release(id);
    *out = id;
    return 0;
}

int tags_intern(const pyroscope_tag *tags, size_t n, uint64_t *out)
{
    return intern(tags, n, 1, out);
}

int tags_intern_labels(const pyroscope_tag *tags, size_t n, uint64_t *out)
{
    return intern(tags, n, 0, out);
}

/* ---- collector side ---- */

size_t tags_get(uint64_t id, pyroscope_tag *out, size_t max, char *strbuf,
                size_t strcap)
{
    tagset *s = slot_of(id);
    size_t i, n = 0, used = 0;

    if (!s)
        return 0;
    pthread_mutex_lock(&g_lock);
    if (s->kv && make_id((size_t)(s - g_sets), s->gen) == id) {
        for (i = 0; i < s->n && n < max; i++) {
            size_t kl = strlen(s->kv[i].key) + 1;
            size_t vl = strlen(s->kv[i].value) + 1;
            if (used + kl + vl > strcap)
                break;
            memcpy(strbuf + used, s->kv[i].key, kl);
            out[n].key = strbuf + used;
            used += kl;
            memcpy(strbuf + used, s->kv[i].value, vl);
            out[n].value = strbuf + used;
            used += vl;
            n++;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return n;
}

void tags_gc(void)
{
    uint64_t window, freed = 0;
    size_t i;

    pthread_mutex_lock(&g_lock);
    window = atomic_fetch_add(&g_window, 1);
    for (i = 0; i < TAGS_MAX_SETS; i++) {
        tagset *s = &g_sets[i];
        long zero = 0;
        /* Samples of the window just closed may still name this set. */
        if (!s->kv || atomic_load(&s->last_window) >= window)
            continue;
        if (!atomic_compare_exchange_strong(&s->refs, &zero, -1))
            continue;
        free(s->kv);
        s->kv = NULL;
        s->n = 0;
        s->gen++;
        g_live--;
        freed++;
        atomic_store(&s->refs, 0);
    }
    if (freed)
        atomic_fetch_add(&g_gc_epoch, 1);
    pthread_mutex_unlock(&g_lock);
}

size_t tags_live(void)
{
    size_t n;

    pthread_mutex_lock(&g_lock);
    n = g_live;
    pthread_mutex_unlock(&g_lock);
    return n;
}

void tags_atfork_child(void)
{
    pthread_mutex_init(&g_lock, NULL);
}
