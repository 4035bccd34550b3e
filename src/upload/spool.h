/*
 * Disk spool for profiles that do not fit the in-memory queue during an
 * outage, and for what is still queued when the profiler stops.  One zstd
 * file per job; names sort by creation time; readers claim a file by
 * renaming it, so several processes may share a directory.
 */
#ifndef PYROSCOPE_UPLOAD_SPOOL_H
#define PYROSCOPE_UPLOAD_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "upload.h"

/* Write `job` (not consumed); 0 or -1. */
int spool_write(const char *dir, const upload_job *job);
/* Claim and read the oldest spooled job into *out; 0, or -1 if none. */
int spool_take(const char *dir, upload_job *out);
/* Files and bytes currently spooled in dir. */
void spool_usage(const char *dir, size_t *files, uint64_t *bytes);
/* Delete oldest files until at most max_bytes remain; returns deleted. */
size_t spool_trim(const char *dir, uint64_t max_bytes);

#endif
