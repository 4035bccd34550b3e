#include "elf.h"
#include "../fdguard/fdguard.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#ifndef ELFCOMPRESS_ZSTD
#define ELFCOMPRESS_ZSTD 2 /* newer than some elf.h */
#endif

/* A compressed section claiming to be larger than this is refused, so
 * a corrupt header cannot make us allocate without bound. */
#define MAX_SECTION ((uint64_t)1 << 30)

/* ---- mapping files ---- */

int elf_open(elf_file *f, const char *path)
{
    struct stat st;
    Elf64_Ehdr eh;
    int fd = FDGUARD(open(path, O_RDONLY | O_CLOEXEC));

    memset(f, 0, sizeof(*f));
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        st.st_size > (off_t)sizeof(eh)) {
        f->map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (f->map == MAP_FAILED)
            f->map = NULL;
        else
            f->len = (size_t)st.st_size;
    }
    fdguard_close(fd);
    if (!f->map)
        return -1;
    memcpy(&eh, f->map, sizeof(eh));
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_ident[EI_DATA] != ELFDATA2LSB) {
        elf_close(f);
        return -1;
    }
    return 0;
}

void elf_close(elf_file *f)
{
    if (f->map)
        munmap(f->map, f->len);
    memset(f, 0, sizeof(*f));
}

/* ---- sections ---- */

static int inflate_into(void *out, size_t outlen, uint32_t type,
                        const uint8_t *in, size_t inlen)
{
    if (type == ELFCOMPRESS_ZLIB) {
        uLongf got = outlen;
        return uncompress(out, &got, in, inlen) == Z_OK && got == outlen;
    }
    if (type == ELFCOMPRESS_ZSTD) {
        size_t got = ZSTD_decompress(out, outlen, in, inlen);
        return !ZSTD_isError(got) && got == outlen;
    }
    return 0;
}

/* SHF_COMPRESSED: an Elf64_Chdr, then a zlib or zstd stream. */
static int decompress(const uint8_t *p, size_t n, elf_sect *out)
{
    Elf64_Chdr ch;
    void *data;

    if (n < sizeof(ch))
        return -1;
    memcpy(&ch, p, sizeof(ch));
    if (ch.ch_size == 0 || ch.ch_size > MAX_SECTION)
        return -1;
    data = malloc(ch.ch_size);
    if (!data)
        return -1;
    if (!inflate_into(data, ch.ch_size, ch.ch_type, p + sizeof(ch),
                      n - sizeof(ch))) {
        free(data);
        return -1;
    }
    out->p = data;
    out->n = ch.ch_size;
    out->owned = data;
    return 0;
}

static int section_data(const uint8_t *img, size_t len, const Elf64_Shdr *sh,
                        elf_sect *out)
{
    memset(out, 0, sizeof(*out));
    if (sh->sh_type == SHT_NOBITS || sh->sh_offset > len ||
        sh->sh_size > len - sh->sh_offset)
        return -1;
    if (sh->sh_flags & SHF_COMPRESSED)
        return decompress(img + sh->sh_offset, sh->sh_size, out);
    out->p = img + sh->sh_offset;
    out->n = sh->sh_size;
    return 0;
}

/* Headers are copied out with memcpy: garbage input need not be aligned. */
static void shdr_at(const uint8_t *img, const Elf64_Ehdr *eh, size_t i,
                    Elf64_Shdr *sh)
{
    memcpy(sh, img + eh->e_shoff + i * sizeof(*sh), sizeof(*sh));
}

/* Section count and name-table index, with the extended numbering used
 * past 0xff00 sections (the real values then live in section 0). */
static int section_counts(const uint8_t *img, size_t len,
                          const Elf64_Ehdr *eh, size_t *num, size_t *strndx)
{
    Elf64_Shdr sh0;

    if (eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff == 0 ||
        eh->e_shoff > len || len - eh->e_shoff < sizeof(Elf64_Shdr))
        return -1;
    shdr_at(img, eh, 0, &sh0);
    *num = eh->e_shnum ? eh->e_shnum : sh0.sh_size;
    *strndx = eh->e_shstrndx != SHN_XINDEX ? eh->e_shstrndx : sh0.sh_link;
    if (*num > (len - eh->e_shoff) / sizeof(Elf64_Shdr) || *strndx >= *num)
        return -1;
    return 0;
}

static int header(const uint8_t *img, size_t len, Elf64_Ehdr *eh,
                  size_t *num, size_t *strndx)
{
    if (!img || len < sizeof(*eh))
        return -1;
    memcpy(eh, img, sizeof(*eh));
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
        eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_ident[EI_DATA] != ELFDATA2LSB)
        return -1;
    return section_counts(img, len, eh, num, strndx);
}

int elf_section_at(const void *img, size_t len, size_t i, elf_sect *out)
{
    Elf64_Ehdr eh;
    Elf64_Shdr sh;
    size_t num, strndx;

    memset(out, 0, sizeof(*out));
    if (header(img, len, &eh, &num, &strndx) != 0 || i >= num)
        return -1;
    shdr_at(img, &eh, i, &sh);
    return section_data(img, len, &sh, out);
}

int elf_section(const void *img, size_t len, const char *name,
                elf_sect *out, Elf64_Shdr *hdr)
{
    Elf64_Ehdr eh;
    Elf64_Shdr sh;
    elf_sect names;
    size_t i, num, strndx, want = strlen(name) + 1;

    memset(out, 0, sizeof(*out));
    if (header(img, len, &eh, &num, &strndx) != 0)
        return -1;
    shdr_at(img, &eh, strndx, &sh);
    if (sh.sh_flags & SHF_COMPRESSED || section_data(img, len, &sh, &names))
        return -1;
    for (i = 0; i < num; i++) {
        shdr_at(img, &eh, i, &sh);
        if (sh.sh_name >= names.n || names.n - sh.sh_name < want ||
            memcmp(names.p + sh.sh_name, name, want) != 0)
            continue;
        if (hdr)
            *hdr = sh;
        return section_data(img, len, &sh, out);
    }
    return -1;
}

void elf_sect_free(elf_sect *s)
{
    free(s->owned);
    memset(s, 0, sizeof(*s));
}

/* ---- build ID and debuglink ---- */

int elf_build_id(const void *img, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    elf_sect s;
    Elf64_Nhdr nh;
    size_t off = 0, i, name_sz, desc_sz;
    int rc = -1;

    if (elf_section(img, len, ".note.gnu.build-id", &s, NULL) != 0)
        return -1;
    while (rc != 0 && s.n - off >= sizeof(nh)) {
        memcpy(&nh, s.p + off, sizeof(nh));
        off += sizeof(nh);
        name_sz = (nh.n_namesz + 3u) & ~3u;
        desc_sz = (nh.n_descsz + 3u) & ~3u;
        if (name_sz > s.n - off || desc_sz > s.n - off - name_sz)
            break;
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
            memcmp(s.p + off, "GNU", 4) == 0 && nh.n_descsz > 0 &&
            2 * (size_t)nh.n_descsz < cap) {
            for (i = 0; i < nh.n_descsz; i++) {
                out[2 * i] = hex[s.p[off + name_sz + i] >> 4];
                out[2 * i + 1] = hex[s.p[off + name_sz + i] & 15];
            }
            out[2 * i] = '\0';
            rc = 0;
        }
        off += name_sz + desc_sz;
    }
    elf_sect_free(&s);
    return rc;
}

/* The .gnu_debuglink file name (pointer into the image) and CRC. */
static const char *debuglink(const void *img, size_t len, uint32_t *crc)
{
    elf_sect s;
    const char *name = NULL;
    size_t n;

    if (elf_section(img, len, ".gnu_debuglink", &s, NULL) != 0)
        return NULL;
    n = s.p ? strnlen((const char *)s.p, s.n) : s.n;
    /* name, NUL, padding to 4, then the CRC32 of the debug file */
    if (!s.owned && n > 0 && n < s.n && ((n + 4) & ~3u) + 4 <= s.n &&
        !memchr(s.p, '/', n)) {
        memcpy(crc, s.p + ((n + 4) & ~3u), 4);
        name = (const char *)s.p;
    }
    elf_sect_free(&s);
    return name;
}

static int matches_build_id(const elf_file *f, const char *want)
{
    char id[130];

    return elf_build_id(f->map, f->len, id, sizeof(id)) == 0 &&
           strcmp(id, want) == 0;
}

static int matches_crc(const elf_file *f, uint32_t want)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    size_t off = 0;

    /* crc32() takes a uInt length: feed large files in pieces. */
    while (off < f->len) {
        size_t n = f->len - off > (1u << 30) ? (1u << 30) : f->len - off;
        crc = crc32(crc, (const Bytef *)f->map + off, (uInt)n);
        off += n;
    }
    return (uint32_t)crc == want;
}

/* Try one candidate path; `id` or else `crc` must match. */
static int try_file(const char *path, const char *self, const char *id,
                    uint32_t crc, elf_file *out)
{
    char real[PATH_MAX];

    if (self && realpath(path, real) && strcmp(real, self) == 0)
        return -1; /* the object itself, not its debug file */
    if (elf_open(out, path) != 0)
        return -1;
    if (id ? matches_build_id(out, id) : matches_crc(out, crc))
        return 0;
    elf_close(out);
    return -1;
}

/* Call fn for each debug root until it returns 0. */
static int each_root(int (*fn)(const char *root, void *ctx), void *ctx)
{
    const char *env = getenv("PYROSCOPE_DEBUG_DIRS");
    const char *p = env && *env ? env : "/usr/lib/debug";
    char root[PATH_MAX];

    while (*p) {
        size_t n = strcspn(p, ":");
        if (n > 0 && n < sizeof(root)) {
            memcpy(root, p, n);
            root[n] = '\0';
            if (fn(root, ctx) == 0)
                return 0;
        }
        p += n + (p[n] == ':');
    }
    return -1;
}

typedef struct search {
    const char *id, *link, *dir, *self;
    uint32_t crc;
    elf_file *out;
} search;

static int by_build_id(const char *root, void *ctx)
{
    search *s = ctx;
    char path[PATH_MAX];

    if (strlen(s->id) < 3)
        return -1;
    if (snprintf(path, sizeof(path), "%s/.build-id/%.2s/%s.debug", root,
                 s->id, s->id + 2) >= (int)sizeof(path))
        return -1;
    return try_file(path, NULL, s->id, 0, s->out);
}

static int by_link_under_root(const char *root, void *ctx)
{
    search *s = ctx;
    char path[PATH_MAX];

    if (snprintf(path, sizeof(path), "%s%s/%s", root, s->dir, s->link) >=
        (int)sizeof(path))
        return -1;
    return try_file(path, s->self, NULL, s->crc, s->out);
}

static int by_debuglink(search *s)
{
    char path[PATH_MAX];

    if (snprintf(path, sizeof(path), "%s/%s", s->dir, s->link) <
            (int)sizeof(path) &&
        try_file(path, s->self, NULL, s->crc, s->out) == 0)
        return 0;
    if (snprintf(path, sizeof(path), "%s/.debug/%s", s->dir, s->link) <
            (int)sizeof(path) &&
        try_file(path, s->self, NULL, s->crc, s->out) == 0)
        return 0;
    return each_root(by_link_under_root, s);
}

int elf_debug_file(const char *path, const void *img, size_t len,
                   elf_file *out)
{
    char id[130], self[PATH_MAX], dir[PATH_MAX], *slash;
    search s;

    memset(&s, 0, sizeof(s));
    s.out = out;
    if (elf_build_id(img, len, id, sizeof(id)) == 0) {
        s.id = id;
        if (each_root(by_build_id, &s) == 0)
            return 0;
        s.id = NULL;
    }
    s.link = debuglink(img, len, &s.crc);
    if (!s.link || !realpath(path, self))
        return -1;
    memcpy(dir, self, strlen(self) + 1); /* realpath: < PATH_MAX */
    slash = strrchr(dir, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    s.dir = dir;
    s.self = self;
    return by_debuglink(&s);
}
