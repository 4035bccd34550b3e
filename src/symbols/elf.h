/*
 * Bounds-checked reading of ELF files for symbolization.  In: a path (the
 * file is mmap'ed read-only) or an image already in memory.  Out: section
 * contents by name (SHF_COMPRESSED zlib/zstd sections inflated), the GNU
 * build ID and the .gnu_debuglink of an object, and the separate debug
 * file that belongs to it (/usr/lib/debug/.build-id/..., debuglink).
 * Only native-order 64-bit objects: that is what we run on.
 */
#ifndef PYROSCOPE_SYMBOLS_ELF_H
#define PYROSCOPE_SYMBOLS_ELF_H

#include <elf.h>
#include <stddef.h>
#include <stdint.h>

typedef struct elf_sect {
    const uint8_t *p;
    size_t n;
    void *owned; /* decompressed copy, or NULL; elf_sect_free() frees it */
} elf_sect;

typedef struct elf_file {
    void *map;   /* mmap of the whole file */
    size_t len;
} elf_file;

/* Map `path`; 0, or -1 if it cannot be opened or is not a 64-bit ELF. */
int elf_open(elf_file *f, const char *path);
void elf_close(elf_file *f);

/* Section `name` of the image, its header in *hdr if not NULL; 0 or -1
 * if absent, NOBITS (stripped into a debug file) or malformed. */
int elf_section(const void *img, size_t len, const char *name,
                elf_sect *out, Elf64_Shdr *hdr);
/* Section header index `i`'s contents (for .symtab's sh_link). */
int elf_section_at(const void *img, size_t len, size_t i, elf_sect *out);
void elf_sect_free(elf_sect *s);

/* Hex build ID from .note.gnu.build-id into out (cap >= 2 * 20 + 1);
 * 0, or -1 without one. */
int elf_build_id(const void *img, size_t len, char *out, size_t cap);

/*
 * Find and map the separate debug file of the object at `path` whose
 * image is `img`: by build ID under each debug root, then by
 * .gnu_debuglink next to the object, in its .debug/ and under each root
 * (the CRC must match).  Roots: PYROSCOPE_DEBUG_DIRS (colon-separated),
 * else /usr/lib/debug.  0 and *out mapped, or -1.
 */
int elf_debug_file(const char *path, const void *img, size_t len,
                   elf_file *out);

#endif
