/*
 * ISO-8601 timestamps <-> milliseconds since the Unix epoch (UTC).
 */
#ifndef PX_TIME_H
#define PX_TIME_H

#include <stddef.h>
#include <stdint.h>

#define PX_TIME_ISO_LEN  24     /* "2026-11-30T12:34:56.789Z" */

/* Parse "YYYY-MM-DDTHH:MM:SS[.fraction][Z|+HH:MM|-HH:MM]" (a space may
 * stand for the T; no zone means UTC).  Years 1970..9999.  Returns 0 and
 * sets *ms, or -1 when s is not such a timestamp. */
int px_time_parse_iso(const char *s, size_t len, int64_t *ms);

/* Write ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" plus a NUL into out, which must
 * hold PX_TIME_ISO_LEN + 1 bytes.  Returns the length written. */
size_t px_time_format_iso(int64_t ms, char *out);

#endif
