/* File and line of a code address, from the DWARF line-number tables
 * (.debug_line, versions 2 to 5) of an ELF image.  The tables are run
 * once at load into sorted rows, so a lookup is two binary searches. */
#ifndef PYROSCOPE_SYMBOLS_DWARF_LINE_H
#define PYROSCOPE_SYMBOLS_DWARF_LINE_H

#include <stddef.h>
#include <stdint.h>

typedef struct dwarf_lines dwarf_lines;

/* Parse .debug_line (and .debug_line_str / .debug_str for DWARF 5 forms)
 * of a 64-bit ELF image already in memory (the whole file, e.g. mmap'ed).
 * Returns NULL if there is no usable line info.  Every read is bounds
 * checked; a malformed unit or sequence is dropped, not trusted.  The
 * result copies what it needs: the image may be unmapped afterwards. */
dwarf_lines *dwarf_lines_load(const void *image, size_t len);
void dwarf_lines_free(dwarf_lines *d);

/* addr is a file-relative virtual address (as in the ELF: pc - load
 * bias).  Returns 0 and sets *file (directory joined with file name,
 * valid until dwarf_lines_free()) and *line (0: no source line), or -1
 * if no sequence covers addr. */
int dwarf_lines_lookup(const dwarf_lines *d, uint64_t addr,
                       const char **file, int *line);

#endif
