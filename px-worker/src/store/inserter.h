/*
 * The storing half of the worker, on its own thread: for one batch at a
 * time, sessions and dedupe (Redis), its rows encoded into the insert
 * block (insert_block.h), which grows across batches; when the block is
 * due (the batch says so, or BLOCK_ROWS / BLOCK_BYTES are reached) the
 * ClickHouse insert (bisected when ClickHouse refuses rows, the refused
 * ones to the DLQ); and the acknowledgement of every dead letter of the
 * batch (those of unparsable messages too, queued by the consuming
 * thread; those that failed are sent again) — retried with exponential
 * backoff until it succeeds or the caller gives up.  Meanwhile the
 * consuming thread reads and enriches the next batch.  Kafka offsets stay
 * with the consuming thread: a batch comes back held (in the block, not
 * inserted yet) or flushed (the block, with every batch held before it,
 * in ClickHouse): only then are the offsets of all of them committed.
 */
#ifndef PX_INSERTER_H
#define PX_INSERTER_H

#include <stddef.h>
#include <stdint.h>

#include "clickhouse.h"
#include "dedupe.h"
#include "dlq.h"
#include "event_row.h"
#include "insert_block.h"
#include "kafka_fetch.h"
#include "offsets.h"
#include "session.h"

typedef struct {
    px_event_row_t     *rows;           /* [cap] */
    px_stage_origin_t  *origins;        /* the Kafka message of each row */
    unsigned char      *drop;           /* duplicates, not stored */
    px_buf_t            raw;            /* re-driven rows' messages, for */
    size_t             *raw_off;        /* the dead letter of a row */
    size_t             *raw_len;        /* ClickHouse refuses; len 0: none
                                           (read again from Kafka) */
    size_t              nrows;
    size_t              cap;
    px_offsets_t        offsets;        /* every message, rows or DLQ */
    px_dead_letters_t   dead;           /* its dead letters: committed only
                                           once Kafka acknowledged them all */
    int64_t             start_ms;       /* first message read */
    int                 flush;          /* insert the block after this
                                           batch, due or not */

    /* filled in by the inserter */
    int                 stored;         /* 1: in the block (or ClickHouse)
                                           and every dead letter
                                           acknowledged */
    int                 flushed;        /* 1: the block is in ClickHouse:
                                           commit this batch and those held
                                           before it */
    unsigned long       rows_stored;
    unsigned long       dead_lettered;
    unsigned long       clickhouse_errors;
    unsigned long       redis_errors;
    double              insert_ms;
} px_insert_batch_t;

typedef struct px_inserter_s  px_inserter_t;

/* A batch of cap rows.  -1 when out of memory. */
int px_insert_batch_init(px_insert_batch_t *b, size_t cap);
/* Empty it for the next use (row buffers kept). */
void px_insert_batch_reset(px_insert_batch_t *b);
void px_insert_batch_free(px_insert_batch_t *b);

/* Keep a copy of row i's message (for its dead letter, should ClickHouse
 * refuse the row; len 0: none kept, it is read again from Kafka then).
 * -1 when out of memory (the row has none then). */
int px_insert_batch_keep_raw(px_insert_batch_t *b, size_t i,
    const void *msg, size_t len);

/* Start the thread; ch, sessions, dlq and fetch are used by it only (dlq
 * is also safe for the caller; fetch, which reads a refused row's message
 * again from Kafka, may be NULL: such dead letters then hold the row
 * only).  A block is inserted once it holds block_rows rows or block_bytes
 * bytes (rows, and the messages of re-driven ones), or when a batch asks.
 * NULL with the reason in err. */
px_inserter_t *px_inserter_new(px_clickhouse_t *ch,
    px_session_stage_t *sessions, px_dlq_t *dlq, px_kafka_fetch_t *fetch,
    const char *table, size_t block_rows, size_t block_bytes, char *err,
    size_t errlen);

/* Hand over a batch (it may be empty, to insert the block); the inserter
 * must be idle.  A batch given up (not stored) takes the block with it:
 * every batch held since the last flush is to be read again. */
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
