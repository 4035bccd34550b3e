/*
 * Our own descriptors, kept safe from the host's close() (fdguard.c).
 *
 * Daemons and sandboxes close every descriptor they did not open and then
 * reuse the numbers.  A descriptor of ours closed that way is worse than
 * lost: our thread goes on writing a profile into whatever the host opened
 * under the same number (its pipe, its file).  So each descriptor we hold
 * is marked here; the exported close, close_range and closefrom leave a
 * marked one open (the host sees success), and only our fdguard_close()
 * closes it.  Descriptors at or above FDGUARD_MAX are not marked.
 */
#ifndef PYROSCOPE_FDGUARD_H
#define PYROSCOPE_FDGUARD_H

#include <stdio.h>
#include <dirent.h>

#define FDGUARD_MAX 65536

/*
 * FDGUARD(open(...)): the call that makes a descriptor of ours, marked
 * before the host can close it.  A host close() waits (10 ms at most)
 * while one is in flight: between the open and the mark, its close of the
 * new number would otherwise go through, and the host's next open would
 * hand that number to both of us.  `expr` must not call close().
 */
#define FDGUARD(expr) (fdguard_begin(), fdguard_end(expr))
void fdguard_begin(void);
int fdguard_end(int fd); /* marks fd (fd < 0 passed through); returns it */

/* For the close hooks: wait until no FDGUARD() is in flight. */
void fdguard_settle(void);

/* Close a descriptor of ours: really closed, then unmarked. */
int fdguard_close(int fd);

/* The FILE and DIR forms: the stream's descriptor is marked while open. */
FILE *fdguard_fopen(const char *path, const char *mode);
int fdguard_fclose(FILE *f);
DIR *fdguard_opendir(const char *path);
int fdguard_closedir(DIR *d);

/* 1 if fd is marked. */
int fdguard_owned(int fd);

/* The lowest marked descriptor in [first, last], or -1. */
long fdguard_next_owned(unsigned first, unsigned last);

/* The next close(2): the definition after ours, or the system call. */
int fdguard_real_close(int fd);

/* In a forked child: the parent's descriptors of ours are of no use to
 * it; close the copies and unmark them. */
void fdguard_atfork_child(void);

#endif
