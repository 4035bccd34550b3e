/*
 * Native symbolization for the collector thread.  In: pcs from the
 * sampler's stacks.  Out: the mapping of each pc (path, offsets, GNU build
 * ID for server-side symbolization) and, where the object or its separate
 * debug file has them, function names and source lines.
 */
#ifndef PYROSCOPE_SYMBOLS_SYMBOLS_H
#define PYROSCOPE_SYMBOLS_SYMBOLS_H

#include <stdint.h>

typedef struct sym_mapping {
    uint64_t start, limit, offset;
    char *path;
    char build_id[64]; /* hex, "" if none */
} sym_mapping;

typedef struct symbols symbols;

symbols *symbols_new(void);
void symbols_free(symbols *s);
/* The executable mapping containing pc (re-reading /proc/self/maps on a
 * miss, e.g. after dlopen), or NULL. */
const sym_mapping *symbols_mapping(symbols *s, uint64_t pc);
/* The main executable's code mapping, or NULL. */
const sym_mapping *symbols_main(symbols *s);
/* Function name at pc, demangled when possible, or NULL.  Cached. */
const char *symbols_function(symbols *s, uint64_t pc);
/* File and line of pc where debug info allows; 0 or -1.  *file is valid
 * until symbols_free(). */
int symbols_line(symbols *s, uint64_t pc, const char **file, int *line);
/* Load symbol tables up front; called on the collector thread. */
void symbols_prewarm(symbols *s, const int *stop); /* see elfsyms.h */

#endif
