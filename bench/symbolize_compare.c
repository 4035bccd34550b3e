/*
 * Our ELF/DWARF readers against elfutils' libdwfl, on the same pcs of the
 * same process: every function start and a few offsets inside each, in
 * this binary and in libc (with libc6-dbg's separate debug file when it is
 * installed).  Reports, per object: how often the function names agree,
 * how often file:line agree, how many pcs libdw puts inside inlined code
 * (we report no inline frames), and the load + lookup time and memory of
 * each reader.  Not a test: a measurement for docs/internals/symbols.md.
 *
 *   symbolize_compare           (build variants: -gdwarf-4, compressed,
 *                                stripped + debuglink, see bench/CMakeLists)
 */
#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "symbols/elf.h"
#include "symbols/symbols.h"

#define MAX_PCS 200000

typedef struct obj {
    const char *label;
    uint64_t bias;
    char path[512];
    int found;
} obj;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;

    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static int find_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    obj *o = data;
    const char *name = info->dlpi_name && *info->dlpi_name
                           ? info->dlpi_name : "";

    (void)size;
    if (o->found)
        return 0;
    if ((!strcmp(o->label, "self") && !*name) ||
        (strcmp(o->label, "self") && strstr(name, o->label))) {
        o->bias = info->dlpi_addr;
        if (*name)
            snprintf(o->path, sizeof(o->path), "%s", name);
        else if (readlink("/proc/self/exe", o->path, sizeof(o->path) - 1) <= 0)
            return 0;
        o->found = 1;
    }
    return 0;
}

/* pcs: each function start + 1/4 and 1/2 into it, from the object's
 * symbol table (or its debug file's). */
static size_t collect_pcs(const obj *o, uint64_t *pcs, size_t max)
{
    elf_file f, dbg;
    const elf_file *src = &f;
    elf_sect tab, str;
    Elf64_Shdr sh;
    const Elf64_Sym *sy;
    size_t i, n = 0;

    if (elf_open(&f, o->path) != 0)
        return 0;
    if (elf_section(f.map, f.len, ".symtab", &tab, &sh) != 0) {
        if (elf_debug_file(o->path, f.map, f.len, &dbg) != 0 ||
            elf_section(dbg.map, dbg.len, ".symtab", &tab, &sh) != 0)
            return 0;
        src = &dbg;
    }
    if (elf_section_at(src->map, src->len, sh.sh_link, &str) != 0)
        return 0;
    sy = (const void *)tab.p;
    for (i = 0; i < tab.n / sizeof(*sy) && n + 3 <= max; i++) {
        if (ELF64_ST_TYPE(sy[i].st_info) != STT_FUNC || !sy[i].st_value ||
            sy[i].st_size < 8)
            continue;
        pcs[n++] = o->bias + sy[i].st_value;
        pcs[n++] = o->bias + sy[i].st_value + sy[i].st_size / 4;
        pcs[n++] = o->bias + sy[i].st_value + sy[i].st_size / 2;
    }
    return n;
}

typedef struct answer {
    const char *fn;
    const char *file;
    int line;
    int inlined;
} answer;

static void ours(uint64_t *pcs, size_t n, answer *a, double *secs,
                 long *kb)
{
    long r0 = rss_kb();
    double t0 = now();
    symbols *s = symbols_new();
    size_t i;

    for (i = 0; i < n; i++) {
        const char *file = NULL;
        int line = 0;

        a[i].fn = symbols_function(s, pcs[i]);
        if (symbols_line(s, pcs[i], &file, &line) == 0) {
            a[i].file = file ? strdup(file) : NULL;
            a[i].line = line;
        }
        if (a[i].fn)
            a[i].fn = strdup(a[i].fn);
    }
    *secs = now() - t0;
    *kb = rss_kb() - r0;
    symbols_free(s);
}

static int inline_depth(Dwfl_Module *m, uint64_t pc)
{
    Dwarf_Addr bias;
    Dwarf_Die *cu = dwfl_module_addrdie(m, pc, &bias), *scopes = NULL;
    int n, i, depth = 0;

    if (!cu)
        return 0;
    n = dwarf_getscopes(cu, pc - bias, &scopes);
    for (i = 0; i < n; i++)
        if (dwarf_tag(&scopes[i]) == DW_TAG_inlined_subroutine)
            depth++;
    free(scopes);
    return depth;
}

static void libdw(uint64_t *pcs, size_t n, answer *a, double *secs,
                  long *kb)
{
    static char *debuginfo_path = NULL;
    static const Dwfl_Callbacks cb = {
        .find_elf = dwfl_linux_proc_find_elf,
        .find_debuginfo = dwfl_standard_find_debuginfo,
        .debuginfo_path = &debuginfo_path,
    };
    long r0 = rss_kb();
    double t0 = now();
    Dwfl *d = dwfl_begin(&cb);
    size_t i;

    dwfl_linux_proc_report(d, getpid());
    dwfl_report_end(d, NULL, NULL);
    for (i = 0; i < n; i++) {
        Dwfl_Module *m = dwfl_addrmodule(d, pcs[i]);
        Dwfl_Line *l;
        const char *name = m ? dwfl_module_addrname(m, pcs[i]) : NULL;

        a[i].fn = name ? strdup(name) : NULL;
        l = m ? dwfl_module_getsrc(m, pcs[i]) : NULL;
        if (l) {
            const char *file = dwfl_lineinfo(l, NULL, &a[i].line, NULL, NULL,
                                             NULL);
            a[i].file = file ? strdup(file) : NULL;
        }
    }
    *secs = now() - t0;
    *kb = rss_kb() - r0;
    /* Inline scopes are what libdw offers beyond line tables; looked up
     * outside the timed part (dwarf_getscopes walks the CU's DIEs). */
    for (i = 0; i < n; i++) {
        Dwfl_Module *m = dwfl_addrmodule(d, pcs[i]);
        a[i].inlined = m ? inline_depth(m, pcs[i]) : 0;
    }
    dwfl_end(d);
}

static int same(const char *x, const char *y)
{
    return x && y && !strcmp(x, y);
}

static void compare(const char *label)
{
    static uint64_t pcs[MAX_PCS];
    obj o = {label, 0, "", 0};
    answer *a, *b;
    size_t n, i, named_a = 0, named_b = 0, fn_eq = 0, lines_a = 0,
                 lines_b = 0, line_eq = 0, inl = 0;
    double ta, tb;
    long ka, kb;
    int shown = 0;

    dl_iterate_phdr(find_cb, &o);
    if (!o.found || !(n = collect_pcs(&o, pcs, MAX_PCS))) {
        printf("%-8s not found or no symbols\n", label);
        return;
    }
    a = calloc(n, sizeof(*a));
    b = calloc(n, sizeof(*b));
    if (!a || !b)
        return;
    ours(pcs, n, a, &ta, &ka);
    libdw(pcs, n, b, &tb, &kb);
    for (i = 0; i < n; i++) {
        named_a += a[i].fn != NULL;
        named_b += b[i].fn != NULL;
        fn_eq += same(a[i].fn, b[i].fn);
        lines_a += a[i].line > 0;
        lines_b += b[i].line > 0;
        /* libdw gives the innermost (inlined) line; so do line tables. */
        line_eq += a[i].line > 0 && a[i].line == b[i].line &&
                   a[i].file && b[i].file &&
                   !strcmp(strrchr(a[i].file, '/') ? strrchr(a[i].file, '/')
                                                   : a[i].file,
                           strrchr(b[i].file, '/') ? strrchr(b[i].file, '/')
                                                   : b[i].file);
        inl += b[i].inlined > 0;
        if (!same(a[i].fn, b[i].fn) && shown < 4 && getenv("SHOW")) {
            printf("  differ at %#llx: ours %s, libdw %s\n",
                   (unsigned long long)(pcs[i] - o.bias),
                   a[i].fn ? a[i].fn : "-", b[i].fn ? b[i].fn : "-");
            shown++;
        }
    }
    printf("%-8s %6zu pcs | names ours %5.1f%% libdw %5.1f%% same %5.1f%% | "
           "lines ours %5.1f%% libdw %5.1f%% same %5.1f%% | in inlined code "
           "(libdw) %5.1f%% | time ours %.3f s libdw %.3f s | RSS +%ld / +%ld "
           "KiB\n",
           label, n, 100.0 * named_a / n, 100.0 * named_b / n,
           100.0 * fn_eq / n, 100.0 * lines_a / n, 100.0 * lines_b / n,
           100.0 * line_eq / n, 100.0 * inl / n, ta, tb, ka, kb);
}

int main(void)
{
    printf("%s\n", getenv("VARIANT") ? getenv("VARIANT") : "");
    compare("self");
    compare("libc.so");
    return 0;
}
