#include "dwarf_line.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "elf.h"

/* Numbers from the DWARF 5 specification (sections 6.2 and 7.5). */
enum {
    LNS_copy = 1, LNS_advance_pc, LNS_advance_line, LNS_set_file,
    LNS_set_column, LNS_negate_stmt, LNS_set_basic_block, LNS_const_add_pc,
    LNS_fixed_advance_pc, LNS_set_prologue_end, LNS_set_epilogue_begin,
    LNS_set_isa
};
enum { LNE_end_sequence = 1, LNE_set_address, LNE_define_file };
enum { LNCT_path = 1, LNCT_directory_index = 2 };
enum {
    FORM_block2 = 0x03, FORM_block4 = 0x04, FORM_data2 = 0x05,
    FORM_data4 = 0x06, FORM_data8 = 0x07, FORM_string = 0x08,
    FORM_block = 0x09, FORM_block1 = 0x0a, FORM_data1 = 0x0b,
    FORM_sdata = 0x0d, FORM_strp = 0x0e, FORM_udata = 0x0f,
    FORM_strx = 0x1a, FORM_data16 = 0x1e, FORM_line_strp = 0x1f,
    FORM_strx1 = 0x25, FORM_strx2, FORM_strx3, FORM_strx4
};

#define NO_FILE UINT32_MAX

typedef struct row {
    uint64_t addr;
    uint32_t file; /* index into paths, or NO_FILE */
    uint32_t line;
} row;

/* Rows [first, first + count) cover [lo, hi).  Sequences are sorted by lo;
 * maxhi is the largest hi of this and every earlier sequence, so lookup
 * knows when no earlier (overlapping) sequence can still contain addr. */
typedef struct seq {
    uint64_t lo, hi, maxhi;
    size_t first, count;
} seq;

struct dwarf_lines {
    row *rows;
    size_t nrows, caprows;
    seq *seqs;
    size_t nseqs, capseqs;
    buf pool;        /* the joined paths, each NUL-terminated */
    uint32_t *paths; /* offsets into pool: one per distinct path */
    size_t npaths, cappaths;
    uint32_t *hash; /* open addressing over paths: index + 1, 0 = free */
    size_t hashcap;
    int oom;
};

/* ---- bounds-checked reading ---------------------------------------- */

/* Once a read runs past the end, bad sticks and every later read returns
 * 0 without moving, so callers check once after a group of reads. */
typedef struct cursor {
    const uint8_t *p, *end;
    int bad;
} cursor;

static size_t left(const cursor *c)
{
    return c->bad ? 0 : (size_t)(c->end - c->p);
}

static void skip(cursor *c, uint64_t n)
{
    if (n > left(c))
        c->bad = 1;
    else
        c->p += n;
}

/* Little-endian unsigned of n <= 8 bytes. */
static uint64_t rd_le(cursor *c, size_t n)
{
    uint64_t v = 0;
    size_t i;

    if (n > left(c)) {
        c->bad = 1;
        return 0;
    }
    for (i = 0; i < n; i++)
        v |= (uint64_t)c->p[i] << (8 * i);
    c->p += n;
    return v;
}

static unsigned rd_u8(cursor *c)
{
    return (unsigned)rd_le(c, 1);
}

/* LEB128; bits beyond 64 are dropped (garbage in, garbage value out). */
static uint64_t rd_leb(cursor *c, int is_signed)
{
    uint64_t v = 0;
    unsigned shift = 0, b;

    do {
        if (left(c) == 0) {
            c->bad = 1;
            return 0;
        }
        b = *c->p++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        if (shift < 64)
            shift += 7;
    } while (b & 0x80);
    if (is_signed && shift < 64 && (b & 0x40))
        v |= ~(uint64_t)0 << shift;
    return v; /* signed values come back as two's complement */
}

static uint64_t rd_uleb(cursor *c)
{
    return rd_leb(c, 0);
}

static const char *rd_str(cursor *c)
{
    const uint8_t *nul = left(c) ? memchr(c->p, 0, left(c)) : NULL;
    const char *s = (const char *)c->p;

    if (!nul) {
        c->bad = 1;
        return NULL;
    }
    c->p = nul + 1;
    return s;
}

/* ---- ELF sections ---------------------------------------------------- */

typedef elf_sect sect;

typedef struct sections {
    sect line, line_str, str;
} sections;

/* A string at offset off of s, if it is NUL-terminated inside s. */
static const char *sect_str(const sect *s, uint64_t off)
{
    if (!s->p || off >= s->n || !memchr(s->p + off, 0, s->n - off))
        return NULL;
    return (const char *)s->p + off;
}

static int find_sections(const uint8_t *img, size_t len, sections *s)
{
    if (elf_section(img, len, ".debug_line", &s->line, NULL) != 0)
        return -1;
    /* DWARF 5 forms only: absent in older objects. */
    elf_section(img, len, ".debug_line_str", &s->line_str, NULL);
    elf_section(img, len, ".debug_str", &s->str, NULL);
    return 0;
}

static void free_sections(sections *s)
{
    elf_sect_free(&s->line);
    elf_sect_free(&s->line_str);
    elf_sect_free(&s->str);
}

/* ---- growable arrays and the path pool --------------------------------- */

/* Room for need elements of size bytes; returns the (maybe moved) array
 * or NULL with arr untouched, so callers keep what they had. */
static void *grow(void *arr, size_t *cap, size_t need, size_t size)
{
    size_t n = *cap ? *cap : 16;
    void *p;

    if (need <= *cap)
        return arr;
    while (n < need)
        n *= 2;
    if (n > SIZE_MAX / size || !(p = realloc(arr, n * size)))
        return NULL;
    *cap = n;
    return p;
}

static uint64_t path_hash(const char *s)
{
    return hash_bytes(s, strlen(s), 0x6c696e65);
}

/* Slot of path s in the hash table: its own or the free one to take. */
static size_t hash_slot(const dwarf_lines *d, const char *s)
{
    size_t mask = d->hashcap - 1, i = path_hash(s) & mask;

    while (d->hash[i] &&
           strcmp(d->pool.data + d->paths[d->hash[i] - 1], s) != 0)
        i = (i + 1) & mask;
    return i;
}

static int rehash(dwarf_lines *d)
{
    size_t cap = d->hashcap ? d->hashcap * 2 : 256, i;
    uint32_t *old = d->hash;

    d->hash = calloc(cap, sizeof(*d->hash));
    if (!d->hash) {
        d->hash = old;
        return -1;
    }
    free(old);
    d->hashcap = cap;
    for (i = 0; i < d->npaths; i++)
        d->hash[hash_slot(d, d->pool.data + d->paths[i])] = (uint32_t)i + 1;
    return 0;
}

/* Append the part, with a '/' before it unless at the start or after one. */
static void pool_part(buf *b, size_t start, const char *part)
{
    if (!part || !*part)
        return;
    if (b->len > start && b->data[b->len - 1] != '/')
        buf_append(b, "/", 1);
    buf_puts(b, part);
}

/* Index of the path a/b/c (NULL or empty parts left out), stored once
 * however many tables name it: headers repeat in every unit. */
static uint32_t intern(dwarf_lines *d, const char *a, const char *b,
                       const char *c)
{
    size_t start = d->pool.len, i;
    uint32_t *paths;
    const char *s;

    pool_part(&d->pool, start, a);
    pool_part(&d->pool, start, b);
    pool_part(&d->pool, start, c);
    buf_append(&d->pool, "", 1);
    if (d->pool.oom || d->pool.len > UINT32_MAX ||
        ((d->npaths + 1) * 2 > d->hashcap && rehash(d) != 0)) {
        d->oom = 1;
        return NO_FILE;
    }
    s = d->pool.data + start;
    i = hash_slot(d, s);
    if (d->hash[i]) {
        d->pool.len = start; /* known: drop the copy */
        return d->hash[i] - 1;
    }
    paths = grow(d->paths, &d->cappaths, d->npaths + 1, sizeof(*paths));
    if (!paths) {
        d->oom = 1;
        return NO_FILE;
    }
    d->paths = paths;
    d->paths[d->npaths] = (uint32_t)start;
    d->hash[i] = (uint32_t)++d->npaths;
    return d->hash[i] - 1;
}

/* ---- line program header ---------------------------------------------- */

/* One unit's header.  dirs and files are indexed the DWARF 5 way (from 0);
 * for older versions entry 0 is a placeholder, as their numbering starts
 * at 1 (directory 0 is the compilation directory, not in the table). */
typedef struct table {
    unsigned version, offsz, min_inst, max_ops, line_range, opcode_base;
    int line_base;
    const uint8_t *std_lens; /* opcode_base - 1 operand counts */
    const char **dirs;
    size_t ndirs, capdirs;
    uint32_t *files;
    size_t nfiles, capfiles;
} table;

static int push_dir(table *t, const char *dir)
{
    const char **dirs = grow(t->dirs, &t->capdirs, t->ndirs + 1,
                             sizeof(*dirs));

    if (!dirs)
        return -1;
    t->dirs = dirs;
    t->dirs[t->ndirs++] = dir;
    return 0;
}

static const char *dir_at(const table *t, uint64_t i)
{
    return i < t->ndirs ? t->dirs[i] : NULL;
}

/* Path of a file entry: absolute names stand alone; relative directories
 * of DWARF 5 are relative to its directory 0, the compilation directory. */
static uint32_t file_path(dwarf_lines *d, const table *t, uint64_t dir,
                          const char *name)
{
    const char *dname = dir_at(t, dir), *comp = NULL;

    if (!name)
        return NO_FILE;
    if (name[0] == '/')
        return intern(d, NULL, NULL, name);
    if (t->version >= 5 && dir != 0 && dname && dname[0] != '/')
        comp = dir_at(t, 0);
    return intern(d, comp, dname, name);
}

static int push_file(dwarf_lines *d, table *t, uint64_t dir,
                     const char *name)
{
    uint32_t *files = grow(t->files, &t->capfiles, t->nfiles + 1,
                           sizeof(*files));

    if (!files)
        return -1;
    t->files = files;
    t->files[t->nfiles++] = file_path(d, t, dir, name);
    return d->oom ? -1 : 0;
}

/* DWARF 2-4: NUL-terminated strings up to an empty one. */
static int read_old_dirs(cursor *c, table *t)
{
    const char *s;

    if (push_dir(t, NULL) != 0)
        return -1;
    while ((s = rd_str(c)) && *s)
        if (push_dir(t, s) != 0)
            return -1;
    return c->bad ? -1 : 0;
}

/* DWARF 2-4 file entry: name, directory, mtime, length. */
static int read_old_file(dwarf_lines *d, cursor *c, table *t,
                         const char *name)
{
    uint64_t dir = rd_uleb(c);

    rd_uleb(c);
    rd_uleb(c);
    return c->bad ? -1 : push_file(d, t, dir, name);
}

static int read_old_files(dwarf_lines *d, cursor *c, table *t)
{
    const char *s;

    if (push_file(d, t, 0, NULL) != 0)
        return -1;
    while ((s = rd_str(c)) && *s)
        if (read_old_file(d, c, t, s) != 0)
            return -1;
    return c->bad ? -1 : 0;
}

typedef struct efmt {
    uint64_t type, form;
} efmt;

/* One attribute value of a DWARF 5 entry: a string or a number.  Index
 * forms (strx) need the unit's .debug_str_offsets base, which lives in
 * .debug_info: they are read past and give no string. */
static int read_form(cursor *c, const table *t, const sections *s,
                     uint64_t form, const char **str, uint64_t *num)
{
    static const uint8_t fixed[] = {
        [FORM_data1] = 1, [FORM_data2] = 2, [FORM_data4] = 4,
        [FORM_data8] = 8, [FORM_strx1] = 1, [FORM_strx2] = 2,
        [FORM_strx3] = 3, [FORM_strx4] = 4,
    };

    *str = NULL;
    *num = 0;
    if (form < sizeof(fixed) && fixed[form])
        *num = rd_le(c, fixed[form]);
    else if (form == FORM_string)
        *str = rd_str(c);
    else if (form == FORM_line_strp)
        *str = sect_str(&s->line_str, rd_le(c, t->offsz));
    else if (form == FORM_strp)
        *str = sect_str(&s->str, rd_le(c, t->offsz));
    else if (form == FORM_udata || form == FORM_strx)
        *num = rd_uleb(c);
    else if (form == FORM_sdata)
        *num = rd_leb(c, 1);
    else if (form == FORM_data16)
        skip(c, 16);
    else if (form == FORM_block)
        skip(c, rd_uleb(c));
    else if (form == FORM_block1)
        skip(c, rd_le(c, 1));
    else if (form == FORM_block2)
        skip(c, rd_le(c, 2));
    else if (form == FORM_block4)
        skip(c, rd_le(c, 4));
    else
        return -1; /* unknown size: the rest cannot be parsed */
    return c->bad ? -1 : 0;
}

/* DWARF 5 directory or file table: formats, then count entries. */
static int read_entries(dwarf_lines *d, cursor *c, const sections *s,
                        table *t, int dirs)
{
    efmt fmt[255];
    unsigned nfmt = rd_u8(c), i;
    uint64_t count, n;

    for (i = 0; i < nfmt; i++) {
        fmt[i].type = rd_uleb(c);
        fmt[i].form = rd_uleb(c);
    }
    count = rd_uleb(c);
    /* Every form takes a byte or more: more entries than bytes is junk. */
    if (c->bad || (count && (nfmt == 0 || count > left(c))))
        return -1;
    for (n = 0; n < count; n++) {
        const char *path = NULL, *str;
        uint64_t dir = 0, num;
        for (i = 0; i < nfmt; i++) {
            if (read_form(c, t, s, fmt[i].form, &str, &num) != 0)
                return -1;
            if (fmt[i].type == LNCT_path)
                path = str;
            else if (fmt[i].type == LNCT_directory_index)
                dir = num;
        }
        if (dirs ? push_dir(t, path) : push_file(d, t, dir, path))
            return -1;
    }
    return 0;
}

static int read_header(dwarf_lines *d, cursor *c, const sections *s,
                       table *t)
{
    unsigned base;

    t->min_inst = rd_u8(c);
    t->max_ops = t->version >= 4 ? rd_u8(c) : 1;
    rd_u8(c); /* default_is_stmt: every row counts for lookup */
    base = rd_u8(c);
    t->line_base = (int)base - (base & 0x80 ? 256 : 0);
    t->line_range = rd_u8(c);
    t->opcode_base = rd_u8(c);
    if (c->bad || t->line_range == 0 || t->opcode_base == 0)
        return -1;
    if (t->max_ops == 0)
        t->max_ops = 1;
    t->std_lens = c->p;
    skip(c, t->opcode_base - 1);
    if (c->bad)
        return -1;
    if (t->version >= 5)
        return read_entries(d, c, s, t, 1) ||
               read_entries(d, c, s, t, 0) ? -1 : 0;
    return read_old_dirs(c, t) || read_old_files(d, c, t) ? -1 : 0;
}

/* ---- the line-number state machine ------------------------------------ */

typedef struct machine {
    dwarf_lines *d;
    table *t;
    uint64_t addr, op_index, file, line;
    size_t seq_first; /* first row of the open sequence */
    int seq_bad;
} machine;

static void reset(machine *m)
{
    m->addr = 0;
    m->op_index = 0;
    m->file = 1;
    m->line = 1;
    m->seq_first = m->d->nrows;
    m->seq_bad = 0;
}

/* Unsigned arithmetic throughout: garbage may overflow, harmlessly. */
static void advance(machine *m, uint64_t op_advance)
{
    uint64_t k = m->op_index + op_advance;

    m->addr += m->t->min_inst * (k / m->t->max_ops);
    m->op_index = k % m->t->max_ops;
}

static void emit(machine *m)
{
    dwarf_lines *d = m->d;
    row *rows;

    /* Within a sequence addresses may only increase (DWARF 5, 6.2.2). */
    if (d->nrows > m->seq_first && m->addr < d->rows[d->nrows - 1].addr)
        m->seq_bad = 1;
    rows = grow(d->rows, &d->caprows, d->nrows + 1, sizeof(*rows));
    if (!rows) {
        d->oom = 1;
        return;
    }
    d->rows = rows;
    rows[d->nrows].addr = m->addr;
    rows[d->nrows].file = m->file < m->t->nfiles ? m->t->files[m->file]
                                                  : NO_FILE;
    rows[d->nrows].line = m->line <= INT_MAX ? (uint32_t)m->line : 0;
    d->nrows++;
}

/* Close the sequence at the current address; keep it only if sane. */
static void end_sequence(machine *m)
{
    dwarf_lines *d = m->d;
    size_t n = d->nrows - m->seq_first;
    seq *seqs;

    if (m->seq_bad || n == 0 || m->addr <= d->rows[m->seq_first].addr ||
        m->addr < d->rows[d->nrows - 1].addr) {
        d->nrows = m->seq_first;
        reset(m);
        return;
    }
    seqs = grow(d->seqs, &d->capseqs, d->nseqs + 1, sizeof(*seqs));
    if (!seqs) {
        d->oom = 1;
        return;
    }
    d->seqs = seqs;
    seqs[d->nseqs].lo = d->rows[m->seq_first].addr;
    seqs[d->nseqs].hi = m->addr;
    seqs[d->nseqs].first = m->seq_first;
    seqs[d->nseqs].count = n;
    d->nseqs++;
    reset(m);
}

static void extended_op(machine *m, cursor *c)
{
    uint64_t len = rd_uleb(c);
    cursor op;

    if (c->bad || len == 0 || len > left(c)) {
        c->bad = 1;
        return;
    }
    op.p = c->p;
    op.end = c->p + len;
    op.bad = 0;
    c->p = op.end;
    switch (rd_u8(&op)) {
    case LNE_end_sequence:
        end_sequence(m);
        break;
    case LNE_set_address:
        if (len - 1 > 8) {
            c->bad = 1;
            break;
        }
        m->addr = rd_le(&op, len - 1);
        m->op_index = 0;
        break;
    case LNE_define_file: {
        const char *name = rd_str(&op);
        if (!op.bad && read_old_file(m->d, &op, m->t, name) != 0)
            c->bad = 1;
        break;
    }
    default: /* set_discriminator and vendor ops: length says how far */
        break;
    }
}

static void standard_op(machine *m, cursor *c, unsigned op)
{
    unsigned i;

    switch (op) {
    case LNS_copy:
        emit(m);
        break;
    case LNS_advance_pc:
        advance(m, rd_uleb(c));
        break;
    case LNS_advance_line:
        m->line += rd_leb(c, 1);
        break;
    case LNS_set_file:
        m->file = rd_uleb(c);
        break;
    case LNS_const_add_pc:
        advance(m, (255 - m->t->opcode_base) / m->t->line_range);
        break;
    case LNS_fixed_advance_pc:
        m->addr += rd_le(c, 2);
        m->op_index = 0;
        break;
    case LNS_negate_stmt:
    case LNS_set_basic_block:
    case LNS_set_prologue_end:
    case LNS_set_epilogue_begin:
        break;
    default: /* set_column, set_isa and unknown: skip the operands */
        for (i = 0; i < m->t->std_lens[op - 1]; i++)
            rd_uleb(c);
        break;
    }
}

static void special_op(machine *m, unsigned op)
{
    unsigned adj = op - m->t->opcode_base;

    advance(m, adj / m->t->line_range);
    m->line += (uint64_t)(int64_t)(m->t->line_base +
                                   (int)(adj % m->t->line_range));
    emit(m);
}

static void run_program(dwarf_lines *d, table *t, cursor *c)
{
    machine m;

    m.d = d;
    m.t = t;
    reset(&m);
    while (left(c) && !d->oom) {
        unsigned op = rd_u8(c);
        if (op >= t->opcode_base)
            special_op(&m, op);
        else if (op == 0)
            extended_op(&m, c);
        else
            standard_op(&m, c, op);
    }
    d->nrows = m.seq_first; /* an unterminated sequence is not trusted */
}

/* ---- units and load ---------------------------------------------------- */

static void load_unit(dwarf_lines *d, const sections *s, cursor *c,
                      unsigned offsz)
{
    table t;
    cursor hdr;
    uint64_t hlen;

    memset(&t, 0, sizeof(t));
    t.offsz = offsz;
    t.version = (unsigned)rd_le(c, 2);
    if (t.version < 2 || t.version > 5)
        return;
    if (t.version >= 5)
        skip(c, 2); /* address_size, segment_selector_size */
    hlen = rd_le(c, offsz);
    if (c->bad || hlen > left(c))
        return;
    hdr.p = c->p;
    hdr.end = c->p + hlen;
    hdr.bad = 0;
    c->p = hdr.end;
    if (read_header(d, &hdr, s, &t) == 0)
        run_program(d, &t, c);
    free(t.dirs);
    free(t.files);
}

/* Units follow each other; a length of 0xffffffff announces the 64-bit
 * format (8-byte length and offsets), 0xfffffff0-0xfffffffe are reserved. */
static void load_units(dwarf_lines *d, const sections *s)
{
    cursor all = {s->line.p, s->line.p + s->line.n, 0};

    while (left(&all) && !d->oom) {
        uint64_t len = rd_le(&all, 4);
        unsigned offsz = 4;
        cursor unit;
        if (len == 0xffffffff) {
            len = rd_le(&all, 8);
            offsz = 8;
        } else if (len >= 0xfffffff0) {
            break;
        }
        if (all.bad || len > left(&all))
            break;
        unit.p = all.p;
        unit.end = all.p + len;
        unit.bad = 0;
        all.p = unit.end;
        load_unit(d, s, &unit, offsz);
    }
}

static int seq_cmp(const void *a, const void *b)
{
    const seq *x = a, *y = b;

    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static void finish(dwarf_lines *d)
{
    uint64_t maxhi = 0;
    size_t i;

    qsort(d->seqs, d->nseqs, sizeof(*d->seqs), seq_cmp);
    for (i = 0; i < d->nseqs; i++) {
        if (d->seqs[i].hi > maxhi)
            maxhi = d->seqs[i].hi;
        d->seqs[i].maxhi = maxhi;
    }
    /* The hash only serves loading; give back slack in the row array. */
    free(d->hash);
    d->hash = NULL;
    d->hashcap = 0;
    if (d->nrows < d->caprows) {
        row *rows = realloc(d->rows, d->nrows * sizeof(*rows));
        if (rows) {
            d->rows = rows;
            d->caprows = d->nrows;
        }
    }
}

dwarf_lines *dwarf_lines_load(const void *image, size_t len)
{
    sections s;
    dwarf_lines *d;

    memset(&s, 0, sizeof(s));
    if (!image || find_sections(image, len, &s) != 0) {
        free_sections(&s);
        return NULL;
    }
    d = calloc(1, sizeof(*d));
    if (d) {
        buf_init(&d->pool);
        load_units(d, &s);
    }
    free_sections(&s);
    if (d && (d->oom || d->nseqs == 0)) {
        dwarf_lines_free(d);
        return NULL;
    }
    if (d)
        finish(d);
    return d;
}

void dwarf_lines_free(dwarf_lines *d)
{
    if (!d)
        return;
    free(d->rows);
    free(d->seqs);
    buf_free(&d->pool);
    free(d->paths);
    free(d->hash);
    free(d);
}

/* ---- lookup ------------------------------------------------------------ */

/* Last row at or below addr; the sequence's first row is at lo <= addr. */
static const row *row_in(const dwarf_lines *d, const seq *s, uint64_t addr)
{
    const row *r = d->rows + s->first;
    size_t lo = 0, hi = s->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return &r[lo - 1];
}

int dwarf_lines_lookup(const dwarf_lines *d, uint64_t addr,
                       const char **file, int *line)
{
    size_t lo = 0, hi;
    const row *r;

    if (!d)
        return -1;
    hi = d->nseqs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->seqs[mid].lo <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* Usually seqs[lo - 1] holds addr; overlaps (code discarded at link
     * time keeps its rows at address 0) make us look further back. */
    for (; lo > 0 && d->seqs[lo - 1].maxhi > addr; lo--) {
        if (addr >= d->seqs[lo - 1].hi)
            continue;
        r = row_in(d, &d->seqs[lo - 1], addr);
        if (r->file == NO_FILE)
            return -1;
        *file = d->pool.data + d->paths[r->file];
        *line = (int)r->line;
        return 0;
    }
    return -1;
}
