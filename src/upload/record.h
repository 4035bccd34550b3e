/*
 * What a queued job becomes in a spool record, and back.  A record holds no
 * URL, path or file name: only an API kind, the values of query parameters
 * from a fixed table (each checked by its own rule) and the body.  Reading
 * rebuilds the request from those, so a record can never point a request
 * at another host or a file outside the target directory.
 */
#ifndef PYROSCOPE_UPLOAD_RECORD_H
#define PYROSCOPE_UPLOAD_RECORD_H

#include <stddef.h>

#include "../common/util.h"
#include "upload.h"

#define RECORD_VERSION 2
#define RECORD_MAX_BODY (32u << 20)

/*
 * Append the record of `job` to `out`.
 * @return 0, or -1 with *why set to a static reason (the job's text is
 *         not quoted: it may hold anything).
 */
int record_encode(const upload_job *job, buf *out, const char **why);

/*
 * Parse a record exactly (no trailing bytes, every field known and valid)
 * into *out, rebuilding path and file name.  0, or -1 with *why set.
 */
int record_decode(const unsigned char *d, size_t n, upload_job *out,
                  const char **why);

#endif
