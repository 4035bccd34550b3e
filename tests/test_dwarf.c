/* The DWARF line reader against addr2line (binutils), on this very
 * executable or the ones named on the command line, and on garbage.
 *
 *   test_dwarf               own binary, then the corruption tests
 *   test_dwarf FILE...       each FILE compared with addr2line only
 */
#define _GNU_SOURCE
#include <elf.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "symbols/dwarf_line.h"

static int failures;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);           \
            fprintf(stderr, __VA_ARGS__);                                  \
            fprintf(stderr, "\n");                                         \
            failures++;                                                    \
        }                                                                  \
    } while (0)

typedef struct image {
    const uint8_t *p;
    size_t len;
} image;

static int map_file(const char *path, image *im)
{
    struct stat st;
    void *p;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0 || st.st_size == 0) {
        close(fd);
        return -1;
    }
    p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return -1;
    im->p = p;
    im->len = (size_t)st.st_size;
    return 0;
}

static const Elf64_Shdr *shdrs(const image *im)
{
    const Elf64_Ehdr *eh = (const void *)im->p;

    return (const void *)(im->p + eh->e_shoff);
}

static const Elf64_Shdr *section(const image *im, const char *name)
{
    const Elf64_Ehdr *eh = (const void *)im->p;
    const Elf64_Shdr *sh = shdrs(im);
    const char *names = (const char *)im->p + sh[eh->e_shstrndx].sh_offset;
    size_t i;

    for (i = 0; i < eh->e_shnum; i++)
        if (strcmp(names + sh[i].sh_name, name) == 0)
            return &sh[i];
    return NULL;
}

/* ---- addresses to try: in every function of .symtab ------------------ */

typedef struct addrs {
    uint64_t *v;
    size_t n, cap;
} addrs;

static void add_addr(addrs *a, uint64_t x)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 256;
        a->v = realloc(a->v, a->cap * sizeof(*a->v));
        if (!a->v)
            abort();
    }
    a->v[a->n++] = x;
}

/* Entry, a few points inside and the last byte of each function. */
static void function_addrs(const image *im, addrs *a)
{
    const Elf64_Shdr *sh = section(im, ".symtab");
    const Elf64_Sym *sy;
    size_t i, n;

    if (!sh)
        return;
    sy = (const void *)(im->p + sh->sh_offset);
    n = sh->sh_size / sizeof(*sy);
    for (i = 0; i < n; i++) {
        uint64_t v = sy[i].st_value, size = sy[i].st_size;
        if (ELF64_ST_TYPE(sy[i].st_info) != STT_FUNC || v == 0 ||
            sy[i].st_shndx == SHN_UNDEF)
            continue;
        add_addr(a, v);
        if (size > 4) {
            add_addr(a, v + size / 3);
            add_addr(a, v + size / 2);
            add_addr(a, v + size * 5 / 6);
            add_addr(a, v + size - 1);
        }
    }
}

/* Every stride-th byte of .text besides: mid-instruction addresses are
 * what a return address minus one looks like. */
static void text_addrs(const image *im, addrs *a)
{
    const Elf64_Shdr *sh = section(im, ".text");
    uint64_t stride, off;

    if (!sh || sh->sh_size == 0)
        return;
    stride = sh->sh_size / 4000 + 1;
    for (off = 0; off < sh->sh_size; off += stride)
        add_addr(a, sh->sh_addr + off);
}

/* ---- addr2line --------------------------------------------------------- */

typedef struct answer {
    char file[PATH_MAX];
    int line;
    int known;   /* file not "??" */
    int no_line; /* line "?" */
} answer;

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');

    return s ? s + 1 : p;
}

/* "path:line" or "path:line (discriminator N)"; "??:0", "??:?" unknown. */
static void parse_answer(char *text, answer *ans)
{
    char *colon, *sp;

    text[strcspn(text, "\n")] = 0;
    sp = strstr(text, " (discriminator");
    if (sp)
        *sp = 0;
    colon = strrchr(text, ':');
    memset(ans, 0, sizeof(*ans));
    if (!colon)
        return;
    *colon = 0;
    snprintf(ans->file, sizeof(ans->file), "%s", text);
    ans->known = strcmp(text, "??") != 0;
    ans->line = atoi(colon + 1);
    ans->no_line = strcmp(colon + 1, "?") == 0;
}

/* One run of an addr2line-like tool for all addresses (they go in
 * through a file); tool is a printf format taking the binary's path. */
static answer *ask(const char *tool, const char *path, const addrs *a)
{
    char tmp[] = "/tmp/test_dwarf.XXXXXX", cmd[PATH_MAX * 2 + 128];
    char text[PATH_MAX + 64];
    answer *ans = calloc(a->n ? a->n : 1, sizeof(*ans));
    FILE *f;
    size_t i;
    int fd = mkstemp(tmp);

    if (fd < 0 || !ans || !(f = fdopen(fd, "w")))
        abort();
    for (i = 0; i < a->n; i++)
        fprintf(f, "0x%llx\n", (unsigned long long)a->v[i]);
    fclose(f);
    snprintf(text, sizeof(text), tool, path);
    snprintf(cmd, sizeof(cmd), "%s < %s", text, tmp);
    f = popen(cmd, "r");
    for (i = 0; f && i < a->n && fgets(text, sizeof(text), f); i++)
        parse_answer(text, &ans[i]);
    CHECK(f && i == a->n, "%s gave %zu of %zu answers", tool, i, a->n);
    if (f)
        pclose(f);
    unlink(tmp);
    return ans;
}

#define ADDR2LINE "addr2line -e '%s'"
#define LLVM_SYMBOLIZER                                                    \
    "llvm-symbolizer --obj='%s' --no-inlines --functions=none "            \
    "--output-style=GNU"

/* ---- comparison -------------------------------------------------------- */

typedef struct tally {
    size_t compared, with_line, same_path, no_info, differ, addr2line_only;
} tally;

typedef struct ours {
    int rc, line;
    const char *file;
} ours;

/* 1 if we and the tool agree: same file base name and line, or no line
 * info on both sides.  "??" is no info at all; "crtstuff.c:?" is
 * addr2line falling back on the STT_FILE symbol before the function
 * when no line table covers the address: no DWARF line info either. */
static int agree(const ours *o, const answer *ans)
{
    if (!ans->known || (ans->no_line && o->rc != 0))
        return o->rc != 0;
    return o->rc == 0 && ans->line == o->line &&
           strcmp(base_name(o->file), base_name(ans->file)) == 0;
}

static void show(const char *what, uint64_t addr, const ours *o,
                 const answer *ans)
{
    fprintf(stderr, "%s 0x%llx: we say %s:%d, addr2line %s:%d\n", what,
            (unsigned long long)addr, o->rc ? "(none)" : o->file, o->line,
            ans->known ? ans->file : "??", ans->line);
}

/* addr2line 2.40 (bfd) starts the file register of a DWARF 5 sequence at
 * entry 0 instead of 1, so a sequence that never sets the file and whose
 * entry 1 is not the primary source is put in the wrong file (foo.c for
 * a static function of foo.h); readelf --debug-dump=decodedline, gdb and
 * llvm-symbolizer all use entry 1 as the standard says.  So where
 * addr2line disagrees, llvm-symbolizer (if installed) has the last word. */
static void second_opinion(const char *path, const addrs *bad,
                           const ours *o, const answer *a2l, tally *t)
{
    answer *ans = NULL;
    size_t i;

    if (system("command -v llvm-symbolizer >/dev/null 2>&1") == 0)
        ans = ask(LLVM_SYMBOLIZER, path, bad);
    for (i = 0; i < bad->n; i++) {
        if (ans && agree(&o[i], &ans[i])) {
            if (t->addr2line_only++ < 5)
                show("addr2line only:", bad->v[i], &o[i], &a2l[i]);
            continue;
        }
        if (t->differ++ < 20)
            show("DIFFER", bad->v[i], &o[i], &a2l[i]);
    }
    free(ans);
}

static void compare(const char *path, const dwarf_lines *d, const addrs *a,
                    tally *t)
{
    answer *ans = ask(ADDR2LINE, path, a), *bad_ans;
    addrs bad = {0};
    ours *o = calloc(a->n + 1, sizeof(*o)), *bad_o;
    size_t i;

    bad_ans = calloc(a->n + 1, sizeof(*bad_ans));
    bad_o = calloc(a->n + 1, sizeof(*bad_o));
    for (i = 0; i < a->n; i++) {
        o[i].rc = dwarf_lines_lookup(d, a->v[i], &o[i].file, &o[i].line);
        t->compared++;
        if (!agree(&o[i], &ans[i])) {
            bad_o[bad.n] = o[i];
            bad_ans[bad.n] = ans[i];
            add_addr(&bad, a->v[i]);
        } else if (o[i].rc != 0) {
            t->no_info++;
        } else {
            t->with_line++;
            t->same_path += strcmp(o[i].file, ans[i].file) == 0;
        }
    }
    if (bad.n)
        second_opinion(path, &bad, bad_o, bad_ans, t);
    free(ans);
    free(o);
    free(bad_ans);
    free(bad_o);
    free(bad.v);
}

static void compare_file(const char *path)
{
    image im;
    dwarf_lines *d;
    addrs a = {0};
    tally t = {0};

    if (map_file(path, &im) != 0) {
        CHECK(0, "cannot map %s", path);
        return;
    }
    d = dwarf_lines_load(im.p, im.len);
    CHECK(d, "no line info in %s", path);
    function_addrs(&im, &a);
    text_addrs(&im, &a);
    if (d)
        compare(path, d, &a, &t);
    printf("%s: %zu addresses, %zu agree on file and line (%zu same full "
           "path), %zu without info on both sides, %zu where only "
           "addr2line differs (llvm-symbolizer agrees), %zu differ\n",
           path, t.compared, t.with_line, t.same_path, t.no_info,
           t.addr2line_only, t.differ);
    CHECK(t.with_line >= 50, "only %zu addresses with line info",
          t.with_line);
    CHECK(t.differ == 0, "%zu addresses differ from addr2line", t.differ);
    dwarf_lines_free(d);
    free(a.v);
    munmap((void *)im.p, im.len);
}

/* ---- garbage ------------------------------------------------------------ */

/* Load a malloc'd copy of exactly len bytes (so ASan sees any overread),
 * then look up every address; the answers only have to be strings. */
static int try_load(const uint8_t *bytes, size_t len, const addrs *a)
{
    uint8_t *copy = malloc(len ? len : 1);
    dwarf_lines *d;
    size_t i;
    int loaded;

    memcpy(copy, bytes, len);
    d = dwarf_lines_load(copy, len);
    loaded = d != NULL;
    for (i = 0; d && i < a->n; i++) {
        const char *file = NULL;
        int line = -1;
        if (dwarf_lines_lookup(d, a->v[i], &file, &line) == 0)
            CHECK(file && strlen(file) < 1 << 20 && line >= 0,
                  "bad answer at 0x%llx", (unsigned long long)a->v[i]);
    }
    dwarf_lines_free(d);
    free(copy);
    return loaded;
}

static void random_bytes(uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        p[i] = (uint8_t)(rand() >> 7);
}

/* Noise, and noise behind a real ELF header. */
static void test_noise(const image *im, const addrs *a)
{
    uint8_t *b = malloc(65536);
    int i, loaded = 0;

    for (i = 0; i < 300; i++) {
        size_t n = (size_t)rand() % 65536;
        random_bytes(b, n);
        if (i % 2 && n >= sizeof(Elf64_Ehdr))
            memcpy(b, im->p, sizeof(Elf64_Ehdr));
        loaded += try_load(b, n, a);
    }
    CHECK(dwarf_lines_load(NULL, 0) == NULL, "NULL image loaded");
    CHECK(try_load(b, 0, a) == 0, "empty image loaded");
    CHECK(loaded == 0, "%d noise images loaded", loaded);
    free(b);
}

/* The image cut short: section headers (at the end) go first. */
static void test_truncated_image(const image *im, const addrs *a)
{
    int i;

    for (i = 0; i < 40; i++)
        try_load(im->p, (size_t)rand() % im->len, a);
    CHECK(try_load(im->p, im->len - 1, a) == 0, "cut image loaded");
}

/* .debug_line itself cut at random points: units end mid-way. */
static void test_truncated_section(const image *im, const addrs *a)
{
    const Elf64_Shdr *line = section(im, ".debug_line");
    uint8_t *copy = malloc(im->len);
    Elf64_Shdr *sh;
    int i, loaded = 0;

    if (!line || (line->sh_flags & SHF_COMPRESSED)) {
        printf("skip truncated .debug_line: none or compressed\n");
        free(copy);
        return;
    }
    memcpy(copy, im->p, im->len);
    sh = (Elf64_Shdr *)(copy + ((const uint8_t *)line - im->p));
    for (i = 0; i < 60; i++) {
        sh->sh_size = i < 20 ? (uint64_t)i : (uint64_t)rand() % line->sh_size;
        loaded += try_load(copy, im->len, a);
    }
    sh->sh_size = 0;
    CHECK(try_load(copy, im->len, a) == 0, "empty .debug_line loaded");
    printf("truncated .debug_line: %d of 60 cuts still had whole units\n",
           loaded);
    free(copy);
}

/* Random bytes of .debug_line overwritten. */
static void test_corrupt_section(const image *im, const addrs *a)
{
    const Elf64_Shdr *line = section(im, ".debug_line");
    uint8_t *copy = malloc(im->len);
    int i, j, loaded = 0;

    if (!line || (line->sh_flags & SHF_COMPRESSED) || line->sh_size == 0) {
        printf("skip corrupt .debug_line: none or compressed\n");
        free(copy);
        return;
    }
    for (i = 0; i < 150; i++) {
        int flips = 1 + i % 40;
        memcpy(copy, im->p, im->len);
        for (j = 0; j < flips; j++) {
            size_t at = line->sh_offset + (size_t)rand() % line->sh_size;
            copy[at] = (uint8_t)(rand() >> 7);
        }
        loaded += try_load(copy, im->len, a);
    }
    printf("corrupt .debug_line: %d of 150 loaded (lookups sane)\n",
           loaded);
    free(copy);
}

static void test_garbage(void)
{
    image im;
    addrs a = {0};

    if (map_file("/proc/self/exe", &im) != 0) {
        CHECK(0, "cannot map /proc/self/exe");
        return;
    }
    function_addrs(&im, &a);
    srand(12345);
    test_noise(&im, &a);
    test_truncated_image(&im, &a);
    test_truncated_section(&im, &a);
    test_corrupt_section(&im, &a);
    free(a.v);
    munmap((void *)im.p, im.len);
}

/* ---- a hand-made image: DWARF 2 and 64-bit DWARF 4 -------------------- */

/* gcc no longer writes these (-gdwarf-2 gets a version 3 table from the
 * assembler), nor DW_LNE_define_file or the 64-bit format. */
typedef struct out {
    uint8_t b[1024];
    size_t n;
} out;

static void put(out *o, uint64_t v, size_t bytes)
{
    size_t i;

    for (i = 0; i < bytes; i++)
        o->b[o->n++] = (uint8_t)(v >> (8 * i));
}

static void put_str(out *o, const char *s)
{
    memcpy(o->b + o->n, s, strlen(s) + 1);
    o->n += strlen(s) + 1;
}

static void patch(out *o, size_t at, uint64_t v, size_t bytes)
{
    size_t n = o->n;

    o->n = at;
    put(o, v, bytes);
    o->n = n;
}

static void unit_v2(out *o)
{
    static const uint8_t lens[9] = {0, 1, 1, 1, 1, 0, 0, 0, 1};
    static const uint8_t prog[] = {
        0, 9, 2, 0x00, 0x10, 0, 0, 0, 0, 0, 0, /* set_address 0x1000 */
        17,                 /* special: line 1 -> 3 */
        2, 16, 1,           /* advance_pc 16, copy */
        0, 8, 3, 'b', '.', 'h', 0, 1, 0, 0, /* define_file b.h, dir 1 */
        4, 2, 3, 10,        /* set_file 2, advance_line 10 */
        71,                 /* special: address + 4 */
        0, 3, 0x80, 1, 2,   /* a vendor extended opcode */
        2, 12, 0, 1, 1,     /* advance_pc 12, end_sequence */
    };
    size_t start = o->n, hdr;

    put(o, 0, 4);
    put(o, 2, 2);
    hdr = o->n;
    put(o, 0, 4);
    put(o, 1, 1);    /* minimum_instruction_length */
    put(o, 1, 1);    /* default_is_stmt */
    put(o, 0xfb, 1); /* line_base -5 */
    put(o, 14, 1);   /* line_range */
    put(o, 10, 1);   /* opcode_base: 10-12 are special in DWARF 2 */
    memcpy(o->b + o->n, lens, sizeof(lens));
    o->n += sizeof(lens);
    put_str(o, "inc");
    put_str(o, "");
    put_str(o, "a.c");
    put(o, 0, 3);
    put_str(o, "");
    patch(o, hdr, o->n - hdr - 4, 4);
    memcpy(o->b + o->n, prog, sizeof(prog));
    o->n += sizeof(prog);
    patch(o, start, o->n - start - 4, 4);
}

static void unit_v4_64(out *o)
{
    static const uint8_t lens[12] = {0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1};
    static const uint8_t prog[] = {
        0, 9, 2, 0x00, 0x20, 0, 0, 0, 0, 0, 0, /* set_address 0x2000 */
        3, 0xe3, 0, 1,      /* advance_line 99, copy */
        2, 8, 0, 1, 1,      /* advance_pc 8, end_sequence */
    };
    size_t start, hdr;

    put(o, 0xffffffff, 4);
    start = o->n;
    put(o, 0, 8);
    put(o, 4, 2);
    hdr = o->n;
    put(o, 0, 8);
    put(o, 1, 1);    /* minimum_instruction_length */
    put(o, 1, 1);    /* maximum_operations_per_instruction */
    put(o, 1, 1);    /* default_is_stmt */
    put(o, 0xfb, 1);
    put(o, 14, 1);
    put(o, 13, 1);
    memcpy(o->b + o->n, lens, sizeof(lens));
    o->n += sizeof(lens);
    put_str(o, "/abs");
    put_str(o, "");
    put_str(o, "c.c");
    put(o, 1, 1);
    put(o, 0, 2);
    put_str(o, "");
    patch(o, hdr, o->n - hdr - 8, 8);
    memcpy(o->b + o->n, prog, sizeof(prog));
    o->n += sizeof(prog);
    patch(o, start, o->n - start - 8, 8);
}

/* ELF header, .shstrtab, .debug_line, then the three section headers;
 * returns the size of .debug_line, whose header is the last. */
static size_t handmade_elf(out *o)
{
    static const char names[] = "\0.shstrtab\0.debug_line";
    Elf64_Ehdr eh;
    Elf64_Shdr sh[3];
    size_t line_at, line_len;

    memset(&eh, 0, sizeof(eh));
    memset(sh, 0, sizeof(sh));
    o->n = sizeof(eh);
    memcpy(o->b + o->n, names, sizeof(names));
    sh[1].sh_name = 1;
    sh[1].sh_type = SHT_STRTAB;
    sh[1].sh_offset = o->n;
    sh[1].sh_size = sizeof(names);
    o->n += sizeof(names);
    line_at = o->n;
    unit_v2(o);
    unit_v4_64(o);
    line_len = o->n - line_at;
    sh[2].sh_name = 11;
    sh[2].sh_type = SHT_PROGBITS;
    sh[2].sh_offset = line_at;
    sh[2].sh_size = line_len;
    o->n = (o->n + 7) & ~(size_t)7;
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_DYN;
    eh.e_shoff = o->n;
    eh.e_shentsize = sizeof(Elf64_Shdr);
    eh.e_shnum = 3;
    eh.e_shstrndx = 1;
    memcpy(o->b, &eh, sizeof(eh));
    memcpy(o->b + o->n, sh, sizeof(sh));
    o->n += sizeof(sh);
    return line_len;
}

static void expect(const dwarf_lines *d, uint64_t addr, const char *file,
                   int line)
{
    const char *f = NULL;
    int l = -1, rc = dwarf_lines_lookup(d, addr, &f, &l);

    if (!file)
        CHECK(rc == -1, "0x%llx: found %s:%d", (unsigned long long)addr,
              f, l);
    else
        CHECK(rc == 0 && strcmp(f, file) == 0 && l == line,
              "0x%llx: %s:%d, not %s:%d", (unsigned long long)addr,
              rc ? "(none)" : f, l, file, line);
}

/* Each byte of the hand-made .debug_line set to values that stress
 * lengths, LEB128 and opcodes; run under ASan this visits every path. */
static void corrupt_handmade(const out *o, size_t len)
{
    static const uint8_t vals[] = {0, 1, 0x7f, 0x80, 0xfe, 0xff};
    static const uint64_t probe[] = {0x1000, 0x1014, 0x2000, 0x2007};
    size_t at = sizeof(Elf64_Ehdr) + sizeof("\0.shstrtab\0.debug_line");
    size_t i, v, k;
    uint8_t *copy = malloc(o->n);

    for (i = at; i < at + len; i++) {
        for (v = 0; v < sizeof(vals); v++) {
            dwarf_lines *d;
            memcpy(copy, o->b, o->n);
            copy[i] = vals[v];
            d = dwarf_lines_load(copy, o->n);
            for (k = 0; d && k < sizeof(probe) / sizeof(probe[0]); k++) {
                const char *f = NULL;
                int l = -1;
                if (dwarf_lines_lookup(d, probe[k], &f, &l) == 0)
                    CHECK(f && l >= 0, "bad answer");
            }
            dwarf_lines_free(d);
        }
    }
    free(copy);
}

static void test_handmade(void)
{
    static out o;
    dwarf_lines *d;
    size_t len, cut;
    int loaded = 0;

    len = handmade_elf(&o);
    d = dwarf_lines_load(o.b, o.n);
    CHECK(d, "hand-made image not loaded");
    if (!d)
        return;
    expect(d, 0xfff, NULL, 0);
    expect(d, 0x1000, "a.c", 3);
    expect(d, 0x1013, "a.c", 3);
    expect(d, 0x1014, "inc/b.h", 13);
    expect(d, 0x101f, "inc/b.h", 13);
    expect(d, 0x1020, NULL, 0);
    expect(d, 0x2000, "/abs/c.c", 100);
    expect(d, 0x2007, "/abs/c.c", 100);
    expect(d, 0x2008, NULL, 0);
    dwarf_lines_free(d);
    /* Every shorter .debug_line: only whole sequences may survive. */
    for (cut = 0; cut < len; cut++) {
        Elf64_Shdr sh;
        uint8_t copy[sizeof(o.b)];
        memcpy(copy, o.b, o.n);
        memcpy(&sh, copy + o.n - sizeof(sh), sizeof(sh));
        sh.sh_size = cut;
        memcpy(copy + o.n - sizeof(sh), &sh, sizeof(sh));
        d = dwarf_lines_load(copy, o.n);
        loaded += d != NULL;
        if (d)
            expect(d, 0x2000, NULL, 0); /* the second unit is cut */
        dwarf_lines_free(d);
    }
    CHECK(loaded > 0, "no cut of the hand-made image loaded");
    printf("hand-made DWARF 2 + 64-bit DWARF 4 image: ok, %d of %zu cuts "
           "kept the first unit\n", loaded, len);
    corrupt_handmade(&o, len);
}

/* A lookup of a function of this file must name this file. */
static void test_self_line(void)
{
    image im;
    dwarf_lines *d;
    const char *file = NULL;
    int line = 0;
    Dl_info info;

    if (map_file("/proc/self/exe", &im) != 0 ||
        !dladdr((void *)test_self_line, &info))
        return;
    d = dwarf_lines_load(im.p, im.len);
    CHECK(d && dwarf_lines_lookup(d, (uintptr_t)test_self_line -
                                         (uintptr_t)info.dli_fbase,
                                  &file, &line) == 0,
          "own function not found");
    CHECK(file && strcmp(base_name(file), "test_dwarf.c") == 0 &&
              line > 0, "own function at %s:%d", file ? file : "?", line);
    CHECK(dwarf_lines_lookup(d, UINT64_MAX, &file, &line) == -1,
          "lookup of the last address succeeded");
    dwarf_lines_free(d);
    munmap((void *)im.p, im.len);
}

int main(int argc, char **argv)
{
    char self[PATH_MAX];
    ssize_t n;
    int i;

    if (argc > 1) {
        for (i = 1; i < argc; i++)
            compare_file(argv[i]);
    } else {
        /* addr2line must see our path: its /proc/self is itself. */
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n <= 0)
            return 1;
        self[n] = 0;
        compare_file(self);
        test_self_line();
        test_handmade();
        test_garbage();
    }
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
