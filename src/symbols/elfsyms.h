/* Function symbols and source lines of loaded ELF objects, read from their
 * files (.symtab, else .dynsym), so that static functions are named too;
 * for stripped objects from their separate debug files (see elf.h). */
#ifndef PYROSCOPE_SYMBOLS_ELFSYMS_H
#define PYROSCOPE_SYMBOLS_ELFSYMS_H

#include <stdint.h>

typedef struct elfsyms elfsyms;

elfsyms *elfsyms_new(void);
void elfsyms_free(elfsyms *e);
/* Name of the function containing pc (raw, not demangled), or NULL.
 * Valid until elfsyms_free(). */
const char *elfsyms_lookup(elfsyms *e, uint64_t pc);
/* Source file and line of pc from the object's DWARF line table; 0, or -1
 * without debug info.  *file is valid until elfsyms_free(). */
int elfsyms_line(elfsyms *e, uint64_t pc, const char **file, int *line);
/* Read the symbol tables of every loaded object now rather than on first
 * lookup (keeps the first export short). */
/* Stops early once *stop is non-zero (the profiler is stopping: a
 * short-lived process must not wait for every library's tables). */
void elfsyms_prewarm(elfsyms *e, const int *stop);

#endif
