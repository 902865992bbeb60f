#include <stdlib.h>
#include <string.h>

#include "insert_block.h"

void
px_insert_block_init(px_insert_block_t *blk)
{
    memset(blk, 0, sizeof(*blk));
    px_buf_init(&blk->body, NULL, 0);
    px_buf_init(&blk->raw, NULL, 0);
}

void
px_insert_block_reset(px_insert_block_t *blk)
{
    blk->body.len = 0;
    blk->raw.len = 0;
    blk->n = 0;
}

void
px_insert_block_free(px_insert_block_t *blk)
{
    px_buf_free(&blk->body);
    px_buf_free(&blk->raw);
    free(blk->rows);
    px_insert_block_init(blk);
}

int
px_insert_block_add(px_insert_block_t *blk, const px_event_row_t *row,
    const px_stage_origin_t *origin, const char *msg, size_t msg_len,
    int64_t inserted_s)
{
    size_t           cap, raw_len = blk->raw.len;
    px_block_row_t  *rows, *r;

    if (blk->n == blk->cap) {
        cap = blk->cap ? blk->cap * 2 : 1024;
        rows = realloc(blk->rows, cap * sizeof(*rows));
        if (rows == NULL) {
            return -1;
        }
        blk->rows = rows;
        blk->cap = cap;
    }

    if (msg != NULL && px_buf_append(&blk->raw, msg, msg_len) != 0) {
        return -1;
    }
    if (px_event_row_binary(row, inserted_s, &blk->body) != 0) {
        blk->raw.len = raw_len;
        return -1;
    }

    r = &blk->rows[blk->n++];
    r->end = blk->body.len;
    r->raw_off = raw_len;
    r->raw_len = msg != NULL ? msg_len : 0;
    r->origin = *origin;
    r->state = PX_BLOCK_ROW_PENDING;
    return 0;
}

void
px_insert_block_truncate(px_insert_block_t *blk, size_t n)
{
    if (n >= blk->n) {
        return;
    }
    blk->n = n;
    blk->body.len = n > 0 ? blk->rows[n - 1].end : 0;
    blk->raw.len = n > 0 ? blk->rows[n - 1].raw_off + blk->rows[n - 1].raw_len
                         : 0;
}

const char *
px_insert_block_row(const px_insert_block_t *blk, size_t i, size_t *len)
{
    size_t  start = i > 0 ? blk->rows[i - 1].end : 0;

    *len = blk->rows[i].end - start;
    return blk->body.data + start;
}

size_t
px_insert_block_bytes(const px_insert_block_t *blk)
{
    return blk->body.len + blk->raw.len;
}
