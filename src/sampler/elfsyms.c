#include "elfsyms.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/util.h"
#include "dwarf_line.h"

typedef struct fsym {
    uint64_t start, size;
    const char *name;
} fsym;

typedef struct object {
    char *path;
    uint64_t bias, lo, hi; /* executable range in memory */
    int loaded;
    void *image;
    size_t image_len;
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
        if (e->objs[i].image)
            munmap(e->objs[i].image, e->objs[i].image_len);
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

/* Read function symbols of one section of type `want`; 0 if none. */
static size_t read_symtab(object *o, const ElfW(Ehdr) *eh, uint32_t want)
{
    const ElfW(Shdr) *sh = (const void *)((const char *)eh + eh->e_shoff);
    const char *base = (const char *)eh;
    size_t i, j, n = 0;

    for (i = 0; i < eh->e_shnum; i++) {
        const ElfW(Sym) *sy;
        const char *strtab;
        size_t count;
        if (sh[i].sh_type != want || sh[i].sh_link >= eh->e_shnum ||
            sh[i].sh_offset + sh[i].sh_size > o->image_len)
            continue;
        sy = (const void *)(base + sh[i].sh_offset);
        strtab = base + sh[sh[i].sh_link].sh_offset;
        count = sh[i].sh_size / sizeof(*sy);
        o->syms = calloc(count ? count : 1, sizeof(*o->syms));
        if (!o->syms)
            return 0;
        for (j = 0; j < count; j++) {
            if (ELF64_ST_TYPE(sy[j].st_info) != STT_FUNC ||
                sy[j].st_value == 0)
                continue;
            o->syms[n].start = sy[j].st_value;
            o->syms[n].size = sy[j].st_size;
            o->syms[n].name = strtab + sy[j].st_name;
            n++;
        }
        break;
    }
    return n;
}

static void load(object *o)
{
    struct stat st;
    const ElfW(Ehdr) *eh;
    int fd;

    o->loaded = 1;
    fd = open(o->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    if (fstat(fd, &st) == 0 && st.st_size > (off_t)sizeof(ElfW(Ehdr))) {
        o->image = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd,
                        0);
        if (o->image == MAP_FAILED)
            o->image = NULL;
        else
            o->image_len = (size_t)st.st_size;
    }
    close(fd);
    if (!o->image)
        return;
    eh = o->image;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
        eh->e_shoff + (size_t)eh->e_shnum * sizeof(ElfW(Shdr)) > o->image_len)
        return;
    o->nsyms = read_symtab(o, eh, SHT_SYMTAB);
    if (o->nsyms == 0) {
        free(o->syms);
        o->syms = NULL;
        o->nsyms = read_symtab(o, eh, SHT_DYNSYM);
    }
    qsort(o->syms, o->nsyms, sizeof(*o->syms), sym_cmp);
    o->lines = dwarf_lines_load(o->image, o->image_len);
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
