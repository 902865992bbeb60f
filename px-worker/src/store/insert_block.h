/*
 * One ClickHouse insert, accumulated across batches: the rows already
 * sessioned, encoded as RowBinary as soon as their batch is staged, with
 * each row's Kafka origin and original message (for its dead letter,
 * should ClickHouse refuse it).  A batch's rows (~10 KB each) are reused
 * by the next batch; a row here costs its encoded bytes and its message
 * (~1.6 KB together), so a block of 20,000-50,000 rows fits where only a few
 * thousand whole rows would.  ClickHouse makes a part per insert (about
 * 30 ms of its CPU whatever the rows: bench/README.md, "Storage levers"),
 * so fewer, larger inserts are the cheaper ones.
 */
#ifndef PX_INSERT_BLOCK_H
#define PX_INSERT_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "event_row.h"
#include "px_buf.h"

/* A row's state in its block: left out of an insert once it is stored
 * (by a refused block's bisection) or dead-lettered. */
enum {
    PX_BLOCK_ROW_PENDING = 0,
    PX_BLOCK_ROW_DEAD = 2,
    PX_BLOCK_ROW_STORED = 3
};

typedef struct {
    size_t             end;         /* in body, just past the row */
    size_t             raw_off;     /* its message in raw */
    size_t             raw_len;     /* 0: not kept (read again from Kafka) */
    px_stage_origin_t  origin;
    unsigned char      state;
} px_block_row_t;

typedef struct {
    px_buf_t          body;         /* the rows, RowBinary, in order */
    px_buf_t          raw;          /* messages of re-driven rows */
    px_block_row_t   *rows;
    size_t            n;
    size_t            cap;
} px_insert_block_t;

void px_insert_block_init(px_insert_block_t *blk);
/* Empty it (buffers kept for the next block). */
void px_insert_block_reset(px_insert_block_t *blk);
void px_insert_block_free(px_insert_block_t *blk);

/* Encode row (from the Kafka message origin, msg of msg_len bytes; msg
 * may be NULL) at the end of the block.  0, or -1 when out of memory (the
 * block as it was). */
int px_insert_block_add(px_insert_block_t *blk, const px_event_row_t *row,
    const px_stage_origin_t *origin, const char *msg, size_t msg_len,
    int64_t inserted_s);

/* Forget the rows from n on (a batch whose rows could not all be added). */
void px_insert_block_truncate(px_insert_block_t *blk, size_t n);

/* Row i's RowBinary bytes. */
const char *px_insert_block_row(const px_insert_block_t *blk, size_t i,
    size_t *len);

/* The bytes a block holds (rows and messages), for its bound. */
size_t px_insert_block_bytes(const px_insert_block_t *blk);

#endif
