#include "symbols.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/map.h"
#include "../common/util.h"
#include "elfsyms.h"
#include "../fdguard/fdguard.h"

#define MAX_CACHED_NAMES 200000

typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);

struct symbols {
    sym_mapping *maps;
    size_t nmaps;
    map name_index; /* pc -> index + 1 into names; 0 index = unknown */
    char **names;
    size_t nnames, capnames;
    demangle_fn demangle;
    elfsyms *elf;
    uint64_t last_refresh_ns;
};

static void free_maps(symbols *s)
{
    size_t i;

    for (i = 0; i < s->nmaps; i++)
        free(s->maps[i].path);
    free(s->maps);
    s->maps = NULL;
    s->nmaps = 0;
}

typedef struct note_ctx {
    symbols *s;
} note_ctx;

static void hex(const unsigned char *p, size_t n, char *out, size_t cap)
{
    size_t i;

    for (i = 0; i < n && 2 * i + 2 < cap; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static void build_id_of(symbols *s, struct dl_phdr_info *info)
{
    const ElfW(Phdr) *ph;
    char id[64] = "";
    size_t i, j;

    for (i = 0; i < info->dlpi_phnum && !id[0]; i++) {
        const char *p, *end;
        ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        p = (const char *)(info->dlpi_addr + ph->p_vaddr);
        end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const char *desc = p + sizeof(*nh) + ((nh->n_namesz + 3) & ~3u);
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
                memcmp(p + sizeof(*nh), "GNU", 4) == 0) {
                hex((const unsigned char *)desc, nh->n_descsz, id, sizeof(id));
                break;
            }
            p = desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
    if (!id[0])
        return;
    for (i = 0; i < info->dlpi_phnum; i++) {
        uint64_t lo, hi;
        ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        lo = info->dlpi_addr + ph->p_vaddr;
        hi = lo + ph->p_memsz;
        for (j = 0; j < s->nmaps; j++)
            if (s->maps[j].start < hi && s->maps[j].limit > lo)
                memcpy(s->maps[j].build_id, id, sizeof(id));
    }
}

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    build_id_of(((note_ctx *)data)->s, info);
    return 0;
}

static void add_map(symbols *s, uint64_t lo, uint64_t hi, uint64_t off,
                    const char *path)
{
    sym_mapping *m = realloc(s->maps, (s->nmaps + 1) * sizeof(*m));

    if (!m)
        return;
    s->maps = m;
    m = &s->maps[s->nmaps];
    memset(m, 0, sizeof(*m));
    m->start = lo;
    m->limit = hi;
    m->offset = off;
    m->path = str_dup(path);
    if (m->path)
        s->nmaps++;
}

static void refresh_maps(symbols *s)
{
    char line[4096], perms[8], path[4096];
    unsigned long lo, hi, off;
    FILE *f = fdguard_fopen("/proc/self/maps", "re");
    note_ctx ctx = {s};

    if (!f)
        return;
    free_maps(s);
    while (fgets(line, sizeof(line), f)) {
        path[0] = '\0';
        if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %4095[^\n]", &lo, &hi,
                   perms, &off, path) < 4)
            continue;
        if (perms[2] != 'x')
            continue;
        add_map(s, lo, hi, off, path[0] ? path : "[anon]");
    }
    fdguard_fclose(f);
    dl_iterate_phdr(phdr_cb, &ctx);
    s->last_refresh_ns = time_mono_ns();
}

symbols *symbols_new(void)
{
    symbols *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    /* Demangle C++ names when the host has libstdc++ loaded. */
    s->demangle = (demangle_fn)dlsym(RTLD_DEFAULT, "__cxa_demangle");
    s->elf = elfsyms_new();
    refresh_maps(s);
    return s;
}

void symbols_free(symbols *s)
{
    size_t i;

    if (!s)
        return;
    free_maps(s);
    elfsyms_free(s->elf);
    for (i = 0; i < s->nnames; i++)
        free(s->names[i]);
    free(s->names);
    map_free(&s->name_index);
    free(s);
}

static const sym_mapping *find_map(const symbols *s, uint64_t pc)
{
    size_t i;

    for (i = 0; i < s->nmaps; i++)
        if (pc >= s->maps[i].start && pc < s->maps[i].limit)
            return &s->maps[i];
    return NULL;
}

const sym_mapping *symbols_mapping(symbols *s, uint64_t pc)
{
    const sym_mapping *m = find_map(s, pc);

    /* Rate-limit re-reads: a pc in JIT code never finds a mapping. */
    if (!m && time_mono_ns() - s->last_refresh_ns > 1000000000ull) {
        refresh_maps(s);
        m = find_map(s, pc);
    }
    return m;
}

static char *lookup_name(symbols *s, uint64_t pc)
{
    Dl_info info;
    const char *name = NULL;
    char *dem;
    int status = -1;

    if (s->elf)
        name = elfsyms_lookup(s->elf, pc);
    if (!name && dladdr((void *)(uintptr_t)pc, &info) && info.dli_sname)
        name = info.dli_sname;
    if (!name)
        return NULL;
    if (s->demangle && name[0] == '_' && name[1] == 'Z') {
        dem = s->demangle(name, NULL, NULL, &status);
        if (status == 0 && dem)
            return dem;
        free(dem);
    }
    return str_dup(name);
}

const char *symbols_function(symbols *s, uint64_t pc)
{
    uint64_t *idx = map_get(&s->name_index, pc | 0x8000000000000000ull);
    char *name;

    if (idx)
        return *idx ? s->names[*idx - 1] : NULL;
    if (s->nnames >= MAX_CACHED_NAMES)
        return NULL;
    name = lookup_name(s, pc);
    if (name && array_grow((void **)&s->names, &s->capnames, s->nnames + 1,
                           sizeof(*s->names)) != 0) {
        free(name);
        return NULL;
    }
    if (name)
        s->names[s->nnames++] = name;
    map_put(&s->name_index, pc | 0x8000000000000000ull, name ? s->nnames : 0);
    return name;
}

void symbols_prewarm(symbols *s, const int *stop)
{
    if (s->elf)
        elfsyms_prewarm(s->elf, stop);
}

int symbols_line(symbols *s, uint64_t pc, const char **file, int *line)
{
    return s->elf ? elfsyms_line(s->elf, pc, file, line) : -1;
}

const sym_mapping *symbols_main(symbols *s)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    size_t i;

    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    for (i = 0; i < s->nmaps; i++)
        if (strcmp(s->maps[i].path, exe) == 0)
            return &s->maps[i];
    return NULL;
}
