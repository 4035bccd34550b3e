/*
 * Disk spool for profiles that do not fit the in-memory queue during an
 * outage, and for what is still queued when the profiler stops.
 *
 * One file per job, zstd-compressed and authenticated with HMAC-SHA-256
 * under a key kept in the directory (0600); names sort by creation time.
 * A reader claims a record by renaming it to a name that carries its pid,
 * process start time and the claim time; the record is deleted only once
 * the server accepted it, put back if delivery failed, and reclaimed by
 * others when the claimer died.  Records that fail any check are renamed
 * aside (".quarantine-*"), never sent.  Threat model and file layout:
 * docs/internals/upload.md.  All calls are thread-safe.
 */
#ifndef PYROSCOPE_UPLOAD_SPOOL_H
#define PYROSCOPE_UPLOAD_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "upload.h"

typedef struct spool spool;

/*
 * Open the spool in `dir`, creating it 0700 if missing.  A directory that
 * is not ours or that group/others may write (such as /tmp) holds a
 * private "pyroscope-<uid>" subdirectory instead.
 * @return 0, or PYROSCOPE_EINVAL with pyroscope_last_error() set.
 */
int spool_open(spool **out, const char *dir);
void spool_close(spool *s); /* NULL-safe; leaves the files alone */
/* The directory records are kept in (dir or its private subdirectory). */
const char *spool_path(const spool *s);

/* Write `job` (not consumed) as a new record; 0, or -1 (logged). */
int spool_write(spool *s, const upload_job *job);
/* Claim the oldest valid record into *out (out->spool_ref set); 0, or -1
 * if there is none.  Invalid records met on the way are quarantined. */
int spool_claim(spool *s, upload_job *out);
/* The server accepted the claimed job: delete its record. */
void spool_done(spool *s, upload_job *job);
/* Not delivered: give the record back under its old name (keeps its
 * place in the order). */
void spool_release(spool *s, upload_job *job);
/* Delete the oldest unclaimed records until at most max_bytes of records
 * remain, and old quarantined files beyond a few; returns records deleted. */
size_t spool_trim(spool *s, uint64_t max_bytes);

/* Records (claimed or not) and their bytes in `dir` (a spool_path()). */
void spool_usage(const char *dir, size_t *files, uint64_t *bytes);

/* For tests: write raw record bytes sealed with this spool's key, as
 * file `name` (NULL: a fresh record name). */
int spool_write_raw(spool *s, const unsigned char *rec, size_t len,
                    const char *name);

#endif
