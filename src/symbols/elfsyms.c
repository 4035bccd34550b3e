#include "elfsyms.h"

#include <link.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "dwarf_line.h"
#include "elf.h"

typedef struct fsym {
    uint64_t start, size;
    const char *name;
} fsym;

typedef struct object {
    char *path;
    uint64_t bias, lo, hi; /* executable range in memory */
    int loaded;
    elf_file file;  /* the object's own file */
    elf_file debug; /* its separate debug file, if one was needed */
    fsym *syms;
    size_t nsyms;
    dwarf_lines *lines; /* NULL without .debug_line */
} object;

struct elfsyms {
    object *objs;
    size_t nobjs;
};

static int collect_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    elfsyms *e = data;
    object *o;
    size_t i;
    uint64_t lo = UINT64_MAX, hi = 0;

    (void)size;
    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        if (info->dlpi_addr + ph->p_vaddr < lo)
            lo = info->dlpi_addr + ph->p_vaddr;
        if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > hi)
            hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
    }
    if (hi == 0)
        return 0;
    o = realloc(e->objs, (e->nobjs + 1) * sizeof(*o));
    if (!o)
        return 1;
    e->objs = o;
    o = &e->objs[e->nobjs];
    memset(o, 0, sizeof(*o));
    o->path = str_dup(info->dlpi_name && info->dlpi_name[0]
                          ? info->dlpi_name : "/proc/self/exe");
    o->bias = info->dlpi_addr;
    o->lo = lo;
    o->hi = hi;
    if (o->path)
        e->nobjs++;
    return 0;
}

static void free_objects(elfsyms *e)
{
    size_t i;

    for (i = 0; i < e->nobjs; i++) {
        free(e->objs[i].path);
        free(e->objs[i].syms);
        dwarf_lines_free(e->objs[i].lines);
        elf_close(&e->objs[i].file);
        elf_close(&e->objs[i].debug);
    }
    free(e->objs);
    e->objs = NULL;
    e->nobjs = 0;
}

static void refresh(elfsyms *e)
{
    free_objects(e);
    dl_iterate_phdr(collect_cb, e);
}

elfsyms *elfsyms_new(void)
{
    elfsyms *e = calloc(1, sizeof(*e));

    if (e)
        refresh(e);
    return e;
}

void elfsyms_free(elfsyms *e)
{
    if (!e)
        return;
    free_objects(e);
    free(e);
}

static int sym_cmp(const void *a, const void *b)
{
    const fsym *x = a, *y = b;

    return x->start < y->start ? -1 : x->start > y->start;
}

/* Function symbols of section `name` (.symtab or .dynsym) of an image;
 * names point into the image. */
static size_t read_symtab(object *o, const elf_file *f, const char *name)
{
    elf_sect tab, str;
    Elf64_Shdr sh;
    const ElfW(Sym) *sy;
    size_t j, count, n = 0;

    if (elf_section(f->map, f->len, name, &tab, &sh) != 0)
        return 0;
    if (tab.owned || elf_section_at(f->map, f->len, sh.sh_link, &str) != 0 ||
        str.owned || sh.sh_entsize != sizeof(*sy)) {
        elf_sect_free(&tab);
        return 0;
    }
    sy = (const void *)tab.p;
    count = tab.n / sizeof(*sy);
    o->syms = calloc(count ? count : 1, sizeof(*o->syms));
    if (!o->syms)
        return 0;
    for (j = 0; j < count; j++) {
        if (ELF64_ST_TYPE(sy[j].st_info) != STT_FUNC || sy[j].st_value == 0 ||
            sy[j].st_name >= str.n)
            continue;
        o->syms[n].start = sy[j].st_value;
        o->syms[n].size = sy[j].st_size;
        o->syms[n].name = (const char *)str.p + sy[j].st_name;
        n++;
    }
    if (n == 0) {
        free(o->syms);
        o->syms = NULL;
    }
    return n;
}

/*
 * Line tables of a distribution's libraries cost memory out of proportion
 * (libc6-dbg's libc alone: about 7 MB of rows) for lines nobody reads, so
 * from separate debug files they are taken for the program's own objects
 * only, unless PYROSCOPE_DEBUG_LINES=all.  Their function names are always
 * taken: a symbol table costs a few hundred KB.
 */
static int wants_debug_lines(const char *path)
{
    static const char *const system_dirs[] = {"/lib/", "/lib64/", "/usr/lib/",
                                              "/usr/lib64/", "/usr/libexec/"};
    const char *all = getenv("PYROSCOPE_DEBUG_LINES");
    size_t i;

    if (all && !strcmp(all, "all"))
        return 1;
    for (i = 0; i < sizeof(system_dirs) / sizeof(system_dirs[0]); i++)
        if (!strncmp(path, system_dirs[i], strlen(system_dirs[i])))
            return 0;
    return 1;
}

/*
 * Symbols and lines come from the object's own file, and what it lacks
 * (a stripped binary has neither .symtab nor .debug_line) from its
 * separate debug file, found by build ID or .gnu_debuglink.  .dynsym is
 * the last resort: exported names only.
 */
static void load(object *o)
{
    o->loaded = 1;
    if (elf_open(&o->file, o->path) != 0)
        return;
    o->nsyms = read_symtab(o, &o->file, ".symtab");
    o->lines = dwarf_lines_load(o->file.map, o->file.len);
    if ((o->nsyms == 0 || !o->lines) &&
        elf_debug_file(o->path, o->file.map, o->file.len, &o->debug) == 0) {
        if (o->nsyms == 0)
            o->nsyms = read_symtab(o, &o->debug, ".symtab");
        if (!o->lines && wants_debug_lines(o->path))
            o->lines = dwarf_lines_load(o->debug.map, o->debug.len);
    }
    if (o->nsyms == 0)
        o->nsyms = read_symtab(o, &o->file, ".dynsym");
    if (o->nsyms > 1) /* qsort(NULL, 0) is undefined */
        qsort(o->syms, o->nsyms, sizeof(*o->syms), sym_cmp);
}

static const char *find(const object *o, uint64_t addr)
{
    size_t lo = 0, hi = o->nsyms;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (o->syms[mid].start <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    lo--;
    /* Size 0 symbols (hand-written asm) are taken to extend to the next. */
    if (o->syms[lo].size && addr >= o->syms[lo].start + o->syms[lo].size)
        return NULL;
    return o->syms[lo].name;
}

/* The loaded object containing pc, or NULL. */
static object *object_of(elfsyms *e, uint64_t pc)
{
    size_t i;
    int again;

    for (again = 0; again < 2; again++) {
        for (i = 0; i < e->nobjs; i++) {
            object *o = &e->objs[i];
            if (pc < o->lo || pc >= o->hi)
                continue;
            if (!o->loaded)
                load(o);
            return o;
        }
        refresh(e); /* maybe dlopen'd since */
    }
    return NULL;
}

const char *elfsyms_lookup(elfsyms *e, uint64_t pc)
{
    object *o = object_of(e, pc);

    return o ? find(o, pc - o->bias) : NULL;
}

int elfsyms_line(elfsyms *e, uint64_t pc, const char **file, int *line)
{
    object *o = object_of(e, pc);

    if (!o || !o->lines)
        return -1;
    return dwarf_lines_lookup(o->lines, pc - o->bias, file, line);
}

void elfsyms_prewarm(elfsyms *e, const int *stop)
{
    size_t i;

    for (i = 0; i < e->nobjs && !__atomic_load_n(stop, __ATOMIC_RELAXED);
         i++)
        if (!e->objs[i].loaded)
            load(&e->objs[i]);
}
