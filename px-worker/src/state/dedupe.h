/*
 * Dedupe on (project_id, event_id): the part that needs no server.
 *
 *  - Within a batch: the second and later rows with the same
 *    (project_id, event_id) are duplicates (px_dedupe_batch).
 *  - Across batches, in Redis: how an event and its Kafka origin are
 *    named there (px_dedupe_key, px_dedupe_origin).  The check itself is
 *    the session stage's (session.c), against the claims it reads with
 *    the visitors' states; docs/sessions.md has the rules.
 */
#ifndef PX_DEDUPE_H
#define PX_DEDUPE_H

#include <stddef.h>
#include <stdint.h>

#include "event_row.h"
#include "px_buf.h"

/* A reusable open-addressing table of row indexes. */
typedef struct {
    size_t   *slots;        /* row index + 1; 0: empty */
    size_t    cap;          /* a power of two */
} px_dedupe_t;

void px_dedupe_init(px_dedupe_t *d);
void px_dedupe_free(px_dedupe_t *d);

/* Set dup[i] = 1 for each row i whose (project_id, event_id) is that of
 * an earlier row of rows[0..n), else leave dup[i] as it is.  Rows already
 * marked in dup on entry are skipped (neither marked nor remembered).
 * Returns the number of rows marked, or -1 when out of memory. */
long px_dedupe_batch(px_dedupe_t *d, const px_event_row_t *rows, size_t n,
    unsigned char *dup);

/* Append the name of the row's event in Redis (the session stage's claim
 * field, with prefix ""):
 * PREFIX "e:" <length of project_id> ":" project_id ":" event_id. */
int px_dedupe_key(px_buf_t *out, const char *prefix,
    const px_event_row_t *row);

/* Append the origin as "partition:offset". */
int px_dedupe_origin(px_buf_t *out, const px_stage_origin_t *o);

#endif
