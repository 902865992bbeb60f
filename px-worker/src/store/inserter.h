/*
 * The storing half of the worker, on its own thread: for one batch at a
 * time, sessions and dedupe (Redis), the JSONEachRow body, the ClickHouse
 * insert (row by row when ClickHouse refuses the batch, the refused rows
 * to the DLQ), and the acknowledgement of every dead letter of the batch
 * (those of unparsable messages too, queued by the consuming thread;
 * those that failed are sent again) — retried with exponential backoff
 * until it succeeds or the caller gives up.  Meanwhile the consuming thread
 * reads and enriches the next batch.  Kafka offsets stay with the
 * consuming thread: it commits a batch's only when the batch comes back
 * stored, and one batch at a time, so commits keep their order.
 */
#ifndef PX_INSERTER_H
#define PX_INSERTER_H

#include <stddef.h>
#include <stdint.h>

#include "clickhouse.h"
#include "dedupe.h"
#include "dlq.h"
#include "event_row.h"
#include "offsets.h"
#include "session.h"

typedef struct {
    px_event_row_t     *rows;           /* [cap] */
    px_stage_origin_t  *origins;        /* the Kafka message of each row */
    unsigned char      *drop;           /* duplicates, not stored */
    size_t              nrows;
    size_t              cap;
    px_offsets_t        offsets;        /* every message, rows or DLQ */
    px_dead_letters_t   dead;           /* its dead letters: committed only
                                           once Kafka acknowledged them all */
    int64_t             start_ms;       /* first message read */

    /* filled in by the inserter */
    int                 stored;         /* 1: in ClickHouse and every dead
                                           letter acknowledged: commit it */
    unsigned long       rows_stored;
    unsigned long       dead_lettered;
    unsigned long       clickhouse_errors;
    unsigned long       redis_errors;
    double              insert_ms;
    /* the rows' inserted_at, set by the first attempt: a retried insert
     * is then the same block, which a replicated table drops as a
     * duplicate (docs/clickhouse.md, cluster mode) */
    int64_t             inserted_at;
} px_insert_batch_t;

typedef struct px_inserter_s  px_inserter_t;

/* A batch of cap rows.  -1 when out of memory. */
int px_insert_batch_init(px_insert_batch_t *b, size_t cap);
/* Empty it for the next use (row buffers kept). */
void px_insert_batch_reset(px_insert_batch_t *b);
void px_insert_batch_free(px_insert_batch_t *b);

/* Start the thread; ch, sessions and dlq are used by it only (dlq is also
 * safe for the caller).  NULL with the reason in err. */
px_inserter_t *px_inserter_new(px_clickhouse_t *ch,
    px_session_stage_t *sessions, px_dlq_t *dlq, const char *table,
    char *err, size_t errlen);

/* Hand over a batch; the inserter must be idle. */
void px_inserter_submit(px_inserter_t *in, px_insert_batch_t *b);

/* The batch handed over, once finished (stored or given up), else NULL. */
px_insert_batch_t *px_inserter_poll(px_inserter_t *in);

/* Like px_inserter_poll, waiting up to timeout_ms for it to finish. */
px_insert_batch_t *px_inserter_poll_wait(px_inserter_t *in, int timeout_ms);

/* Wait for the batch handed over, retrying no later than deadline_ms
 * (monotonic; INT64_MAX: for ever).  Returns it (NULL when idle). */
px_insert_batch_t *px_inserter_wait(px_inserter_t *in, int64_t deadline_ms);

/* 1 while the batch in hand has failed at least once (ClickHouse or Redis
 * down): the worker is degraded. */
int px_inserter_retrying(px_inserter_t *in);

/* Stop the thread (after the batch in hand, if any, gives up). */
void px_inserter_free(px_inserter_t *in);

#endif
