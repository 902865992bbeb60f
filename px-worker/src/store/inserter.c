#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "inserter.h"
#include "log.h"
#include "monotonic.h"

#define PX_DLQ_SETTLE_MS   10000   /* wait for dead letters, at most */
#define PX_INS_FETCH_MS     5000   /* a refused row's message from Kafka */

typedef enum {
    PX_INS_IDLE = 0,
    PX_INS_BUSY,        /* the thread works on batch */
    PX_INS_DONE         /* batch is finished, waiting to be taken back */
} px_ins_state_t;

struct px_inserter_s {
    pthread_t            thread;
    pthread_mutex_t      lock;
    pthread_cond_t       cond;
    px_ins_state_t       state;
    px_insert_batch_t    *batch;
    /* stop retrying after this; atomic: a ClickHouse call in progress
     * reads it from curl's progress callback, without the lock */
    _Atomic int64_t      give_up_at;
    int                  retrying;
    _Atomic int          quit;

    /* used by the thread only */
    px_clickhouse_t     *ch;
    px_session_stage_t  *sessions;
    px_dlq_t            *dlq;
    px_kafka_fetch_t    *fetch;         /* a refused row's message */
    px_buf_t             message;       /* ... as fetched */
    char                 table[512];
    px_buf_t             body;          /* a part of the block to insert */
    px_insert_block_t    block;         /* rows encoded, not inserted yet */
    size_t               block_rows;    /* insert at this many rows */
    size_t               block_bytes;   /* or at this many bytes */
};

int
px_insert_batch_init(px_insert_batch_t *b, size_t cap)
{
    memset(b, 0, sizeof(*b));
    b->rows = calloc(cap, sizeof(px_event_row_t));
    b->origins = calloc(cap, sizeof(px_stage_origin_t));
    b->drop = calloc(cap, 1);
    b->raw_off = calloc(cap, sizeof(size_t));
    b->raw_len = calloc(cap, sizeof(size_t));
    px_buf_init(&b->raw, NULL, 0);
    b->cap = cap;

    if (b->rows == NULL || b->origins == NULL || b->drop == NULL
        || b->raw_off == NULL || b->raw_len == NULL)
    {
        px_insert_batch_free(b);
        return -1;
    }

    return 0;
}

void
px_insert_batch_reset(px_insert_batch_t *b)
{
    size_t  i;

    for (i = 0; i < b->nrows; i++) {
        px_message_reset(&b->rows[i].msg);
    }

    b->nrows = 0;
    b->raw.len = 0;
    px_offsets_clear(&b->offsets);
    b->flush = 0;
    b->flushed = 0;
    b->stored = 0;
    b->rows_stored = 0;
    b->dead_lettered = 0;
    b->clickhouse_errors = 0;
    b->redis_errors = 0;
    b->insert_ms = 0;
    px_dead_letters_clear(&b->dead);
}

void
px_insert_batch_free(px_insert_batch_t *b)
{
    size_t  i;

    if (b->rows != NULL) {
        for (i = 0; i < b->cap; i++) {
            px_message_free(&b->rows[i].msg);
        }
    }

    free(b->rows);
    free(b->origins);
    free(b->drop);
    free(b->raw_off);
    free(b->raw_len);
    px_buf_free(&b->raw);
    px_dead_letters_free(&b->dead);
    memset(b, 0, sizeof(*b));
}

int
px_insert_batch_keep_raw(px_insert_batch_t *b, size_t i, const void *msg,
    size_t len)
{
    b->raw_off[i] = b->raw.len;
    b->raw_len[i] = 0;
    if (len == 0) {
        return 0;
    }
    if (px_buf_append(&b->raw, msg, len) != 0) {
        return -1;
    }
    b->raw_len[i] = len;
    return 0;
}

/* Rows go to ClickHouse as RowBinary: half the parse cost of JSONEachRow
 * (bench/README.md); a refused row is dead-lettered as its JSON line. */
static const char  px_ins_how[] =
    "(" PX_EVENT_ROW_BINARY_COLUMNS ") FORMAT RowBinary";

/* Insert the rows idx[0..n) of the block as one insert; idx NULL: the
 * whole block as it is. */
static px_ch_status_t
px_ins_block(px_inserter_t *in, const size_t *idx, size_t n, char *err,
    size_t errlen)
{
    size_t             k, len;
    const char        *row;
    px_insert_block_t  *blk = &in->block;

    if (idx == NULL) {
        return px_ch_insert(in->ch, in->table, px_ins_how, blk->body.data,
                            blk->body.len, err, errlen);
    }

    in->body.len = 0;
    for (k = 0; k < n; k++) {
        row = px_insert_block_row(blk, idx[k], &len);
        if (px_buf_append(&in->body, row, len) != 0) {
            snprintf(err, errlen, "out of memory building the insert");
            return PX_CH_RETRY;
        }
    }

    return px_ch_insert(in->ch, in->table, px_ins_how, in->body.data,
                        in->body.len, err, errlen);
}

/*
 * Row i's original message for its dead letter: kept in the block (a
 * re-driven message, known by the px-origin header), else read again
 * from Kafka at the row's origin, its own position, not committed yet.
 * 0 with o->message NULL: gone from Kafka (retention), the record has
 * the row only; -1: Kafka did not answer, try the block again later.
 */
static int
px_ins_original(px_inserter_t *in, const px_block_row_t *r,
    px_dead_letter_origin_t *o)
{
    char  err[256];
    int   rc;

    o->message = NULL;
    o->message_len = 0;

    if (r->raw_len > 0) {
        o->message = in->block.raw.data + r->raw_off;
        o->message_len = r->raw_len;
        return 0;
    }
    if (in->fetch == NULL) {
        return 0;
    }

    in->message.len = 0;
    rc = px_kafka_fetch(in->fetch, r->origin.partition, r->origin.offset,
                        PX_INS_FETCH_MS, &in->message, err, sizeof(err));
    if (rc < 0) {
        px_log(PX_LOG_WARN, "clickhouse", "refused row: its message: %s",
               err);
        return -1;
    }
    if (rc == 0) {
        px_log(PX_LOG_WARN, "clickhouse", "refused row: %s; its dead letter "
               "holds the row only", err);
        return 0;
    }

    o->message = in->message.data;
    o->message_len = in->message.len;
    return 0;
}

/* Row i of the block, refused by ClickHouse for err: into b's dead
 * letters as its JSON line, with its origin and original message. */
static int
px_ins_dead_letter(px_inserter_t *in, px_insert_batch_t *b, size_t i,
    const char *err)
{
    size_t                    len, id_len;
    const char               *row, *id;
    px_block_row_t           *r = &in->block.rows[i];
    px_dead_letter_origin_t   o;

    o.partition = r->origin.partition;
    o.offset = r->origin.offset;
    if (px_ins_original(in, r, &o) != 0) {
        return -1;
    }

    row = px_insert_block_row(&in->block, i, &len);
    in->body.len = 0;
    if (px_event_row_binary_json(row, len, &in->body) != 0
        || px_event_row_binary_event_id(row, len, &id, &id_len) != 0)
    {
        return -1;
    }

    return px_dlq_add_origin(in->dlq, &b->dead, err, id, id_len,
                             in->body.data, in->body.len - 1, 1, &o);
}

/*
 * ClickHouse refused the rows idx[0..n) of the block for their values:
 * find the refused ones by bisection (about 2 log2(n) inserts per bad
 * row, not n), store the others and put the refused ones in b's dead
 * letters.  A row stored here or dead-lettered is left out of a retry.
 */
static px_ch_status_t
px_ins_bisect(px_inserter_t *in, px_insert_batch_t *b, const size_t *idx,
    size_t n)
{
    char            err[512];
    size_t          half, k, part;
    int             first_ok;
    px_ch_status_t  st;
    px_block_row_t *rows = in->block.rows;

    if (n == 1) {
        st = px_ins_block(in, idx, 1, err, sizeof(err));
        if (st != PX_CH_REJECTED) {
            if (st == PX_CH_OK) {
                rows[idx[0]].state = PX_BLOCK_ROW_STORED;
                b->rows_stored++;
            }
            return st;
        }

        px_log(PX_LOG_WARN, "clickhouse", "row refused, dead-lettered: %s",
               err);
        /* the dead letter holds the row as JSON, readable and replayable */
        if (px_ins_dead_letter(in, b, idx[0], err) != 0) {
            return PX_CH_RETRY;
        }
        rows[idx[0]].state = PX_BLOCK_ROW_DEAD;
        return PX_CH_OK;
    }

    half = n / 2;
    first_ok = 0;
    for (part = 0; part < 2; part++) {
        const size_t  *sub = part == 0 ? idx : idx + half;
        size_t         m = part == 0 ? half : n - half;

        /* n was refused: when its first half went in, the second holds
         * the bad rows, no need to try it whole */
        st = m == 1 || (part == 1 && first_ok)
             ? PX_CH_REJECTED
             : px_ins_block(in, sub, m, err, sizeof(err));
        first_ok = part == 0 && st == PX_CH_OK;
        if (st == PX_CH_OK) {
            for (k = 0; k < m; k++) {
                rows[sub[k]].state = PX_BLOCK_ROW_STORED;
            }
            b->rows_stored += m;
            continue;
        }
        if (st == PX_CH_RETRY) {
            return st;
        }
        st = px_ins_bisect(in, b, sub, m);
        if (st != PX_CH_OK) {
            return st;
        }
    }

    return PX_CH_OK;
}

/* Sessions and dedupe, once per batch: a retry gives the same answer
 * anyway.  0, or -1 to retry. */
static int
px_ins_stage(px_inserter_t *in, px_insert_batch_t *b, int *staged)
{
    char  err[512];

    if (*staged || b->nrows == 0) {
        return 0;
    }

    if (px_session_stage_run(in->sessions, b->rows, b->nrows, b->origins,
                             b->drop, err, sizeof(err)) != 0)
    {
        b->redis_errors++;
        px_log(PX_LOG_WARN, "redis", "sessions/dedupe failed: %s", err);
        return -1;
    }

    *staged = 1;
    return 0;
}

/* The batch's rows (not duplicates) into the block, all or none.  0, or
 * -1 to retry. */
static int
px_ins_encode(px_inserter_t *in, px_insert_batch_t *b, int *encoded)
{
    size_t   i, n0 = in->block.n;
    int64_t  now = (int64_t) time(NULL);

    if (*encoded) {
        return 0;
    }

    for (i = 0; i < b->nrows; i++) {
        if (b->drop[i]) {
            continue;
        }
        if (px_insert_block_add(&in->block, &b->rows[i], &b->origins[i],
                                b->raw_len[i] > 0 ? b->raw.data + b->raw_off[i]
                                                  : NULL,
                                b->raw_len[i], now) != 0)
        {
            px_log(PX_LOG_ERROR, "pipeline", "out of memory encoding a "
                   "batch into the insert block");
            px_insert_block_truncate(&in->block, n0);
            return -1;
        }
    }

    *encoded = 1;
    return 0;
}

/* The block is due: the batch asks, or a bound is reached. */
static int
px_ins_block_due(px_inserter_t *in, const px_insert_batch_t *b)
{
    return b->flush || in->block.n >= in->block_rows
           || px_insert_block_bytes(&in->block) >= in->block_bytes;
}

/* The block's rows not stored yet into ClickHouse (the refused ones into
 * b's dead letters).  0, or -1 to retry. */
static int
px_ins_flush(px_inserter_t *in, px_insert_batch_t *b)
{
    char               err[512];
    size_t             i, n, *idx;
    px_ch_status_t     st;
    px_insert_block_t  *blk = &in->block;

    /* rows a refused insert's bisection stored already count */
    b->rows_stored = 0;
    idx = blk->n > 0 ? malloc(blk->n * sizeof(*idx)) : NULL;
    if (blk->n > 0 && idx == NULL) {
        px_log(PX_LOG_ERROR, "pipeline", "out of memory for an insert");
        return -1;
    }
    for (i = 0, n = 0; i < blk->n; i++) {
        if (blk->rows[i].state == PX_BLOCK_ROW_PENDING) {
            idx[n++] = i;
        }
        b->rows_stored += blk->rows[i].state == PX_BLOCK_ROW_STORED;
    }
    if (n == 0) {
        free(idx);
        return 0;
    }

    /* all of it: the body as encoded, no copy */
    st = px_ins_block(in, n == blk->n ? NULL : idx, n, err, sizeof(err));
    if (st == PX_CH_OK) {
        b->rows_stored += n;
        free(idx);
        return 0;
    }

    b->clickhouse_errors++;
    px_log(PX_LOG_WARN, "clickhouse", "insert of %zu rows failed: %s", n,
           err);

    if (st == PX_CH_REJECTED) {
        st = px_ins_bisect(in, b, idx, n);
    }

    free(idx);
    return st == PX_CH_OK ? 0 : -1;
}

/* For curl's progress callback: 1 when the call in progress must stop (past
 * the deadline, or the worker quits). */
static int
px_ins_stopping(void *arg)
{
    px_inserter_t  *in = arg;

    return in->quit || px_monotonic_ms() >= in->give_up_at;
}

/* Milliseconds left before give_up_at: 0 when there is no deadline, -1
 * when it has passed. */
static long
px_ins_budget(px_inserter_t *in, int64_t now)
{
    int64_t  give_up_at;

    pthread_mutex_lock(&in->lock);
    give_up_at = in->give_up_at;
    pthread_mutex_unlock(&in->lock);

    if (give_up_at == INT64_MAX) {
        return 0;
    }

    return give_up_at > now ? (long) (give_up_at - now) : -1;
}

/*
 * One attempt at storing the batch: staged and inserted are kept across
 * attempts, so a batch in ClickHouse whose dead letters are not all
 * acknowledged yet only waits for (and sends again) those.  0 when stored,
 * -1 to retry.
 */
static int
px_ins_attempt(px_inserter_t *in, px_insert_batch_t *b, int *staged,
    int *encoded, int *inserted)
{
    char     err[512];
    long     budget;
    int64_t  t0 = px_monotonic_ms();

    /* once the pipeline set a deadline (stop, revoke), every call of this
     * attempt is bounded by what is left of it */
    budget = px_ins_budget(in, t0);
    if (budget < 0) {
        return -1;
    }
    px_ch_cap(in->ch, budget);
    px_session_stage_cap(in->sessions, budget);

    if (px_ins_stage(in, b, staged) != 0) {
        return -1;
    }

    if (px_ins_encode(in, b, encoded) != 0) {
        return -1;
    }

    if (!*inserted && px_ins_block_due(in, b)) {
        if (px_ins_flush(in, b) != 0) {
            return -1;
        }
        *inserted = 1;
    }

    if (px_dlq_settle(in->dlq, &b->dead,
                      budget > 0 && budget < PX_DLQ_SETTLE_MS
                      ? (int) budget : PX_DLQ_SETTLE_MS, err, sizeof(err))
        != 0)
    {
        px_log(PX_LOG_WARN, "dlq", "%s: the batch is not committed before "
               "they are", err);
        return -1;
    }

    b->dead_lettered = b->dead.n;
    b->insert_ms = (double) (px_monotonic_ms() - t0);
    if (*inserted) {
        b->flushed = 1;
        px_insert_block_reset(&in->block);
    }
    return 0;
}

/* Store b, retrying with backoff until stored or past give_up_at. */
static void
px_ins_store(px_inserter_t *in, px_insert_batch_t *b)
{
    int              staged = 0, encoded = 0, inserted = 0;
    long             backoff = 0;
    int64_t          wake;
    struct timespec  ts;

    for ( ;; ) {
        if (px_ins_attempt(in, b, &staged, &encoded, &inserted) == 0) {
            b->stored = 1;
            return;
        }

        backoff = px_backoff_next(backoff);

        pthread_mutex_lock(&in->lock);
        in->retrying = 1;
        wake = px_monotonic_ms() + backoff;

        while (!in->quit && px_monotonic_ms() < wake
               && px_monotonic_ms() < in->give_up_at)
        {
            px_realtime_after(&ts, 50);
            pthread_cond_timedwait(&in->cond, &in->lock, &ts);
        }

        if (in->quit || px_monotonic_ms() >= in->give_up_at) {
            pthread_mutex_unlock(&in->lock);
            px_log(PX_LOG_WARN, "pipeline", "giving up on a batch of %zu "
                   "messages and a block of %zu rows: they will be read "
                   "again", b->offsets.messages, in->block.n);
            /* the rows held before it go with it (the caller throws
             * their batches away too) */
            px_insert_block_reset(&in->block);
            return;
        }

        pthread_mutex_unlock(&in->lock);
    }
}

static void *
px_ins_thread(void *arg)
{
    px_inserter_t  *in = arg;
    px_insert_batch_t    *b;

    pthread_mutex_lock(&in->lock);

    for ( ;; ) {
        while (in->state != PX_INS_BUSY && !in->quit) {
            pthread_cond_wait(&in->cond, &in->lock);
        }

        if (in->state != PX_INS_BUSY) {
            break;
        }

        b = in->batch;
        pthread_mutex_unlock(&in->lock);

        px_ins_store(in, b);

        pthread_mutex_lock(&in->lock);
        in->state = PX_INS_DONE;
        in->retrying = 0;
        pthread_cond_broadcast(&in->cond);
    }

    pthread_mutex_unlock(&in->lock);
    return NULL;
}

px_inserter_t *
px_inserter_new(px_clickhouse_t *ch, px_session_stage_t *sessions,
    px_dlq_t *dlq, px_kafka_fetch_t *fetch, const char *table,
    size_t block_rows, size_t block_bytes, char *err, size_t errlen)
{
    px_inserter_t  *in;

    in = calloc(1, sizeof(*in));
    if (in == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    in->ch = ch;
    px_ch_set_stop(ch, px_ins_stopping, in);
    in->sessions = sessions;
    in->dlq = dlq;
    in->fetch = fetch;
    px_buf_init(&in->message, NULL, 0);
    in->give_up_at = INT64_MAX;
    in->block_rows = block_rows;
    in->block_bytes = block_bytes;
    px_insert_block_init(&in->block);
    snprintf(in->table, sizeof(in->table), "%s", table);
    px_buf_init(&in->body, NULL, 0);
    pthread_mutex_init(&in->lock, NULL);
    pthread_cond_init(&in->cond, NULL);

    if (pthread_create(&in->thread, NULL, px_ins_thread, in) != 0) {
        snprintf(err, errlen, "could not start the insert thread");
        pthread_cond_destroy(&in->cond);
        pthread_mutex_destroy(&in->lock);
        free(in);
        return NULL;
    }

    return in;
}

void
px_inserter_submit(px_inserter_t *in, px_insert_batch_t *b)
{
    pthread_mutex_lock(&in->lock);
    in->batch = b;
    in->give_up_at = INT64_MAX;
    in->state = PX_INS_BUSY;
    pthread_cond_broadcast(&in->cond);
    pthread_mutex_unlock(&in->lock);
}

/* Take the finished batch back; the lock is held. */
static px_insert_batch_t *
px_ins_take(px_inserter_t *in)
{
    px_insert_batch_t  *b = in->batch;

    in->batch = NULL;
    in->state = PX_INS_IDLE;
    return b;
}

px_insert_batch_t *
px_inserter_poll(px_inserter_t *in)
{
    px_insert_batch_t  *b = NULL;

    pthread_mutex_lock(&in->lock);
    if (in->state == PX_INS_DONE) {
        b = px_ins_take(in);
    }
    pthread_mutex_unlock(&in->lock);

    return b;
}

px_insert_batch_t *
px_inserter_poll_wait(px_inserter_t *in, int timeout_ms)
{
    px_insert_batch_t *b = NULL;
    struct timespec   ts;

    px_realtime_after(&ts, timeout_ms);

    pthread_mutex_lock(&in->lock);

    while (in->state == PX_INS_BUSY) {
        if (pthread_cond_timedwait(&in->cond, &in->lock, &ts) == ETIMEDOUT) {
            break;
        }
    }

    if (in->state == PX_INS_DONE) {
        b = px_ins_take(in);
    }

    pthread_mutex_unlock(&in->lock);
    return b;
}

px_insert_batch_t *
px_inserter_wait(px_inserter_t *in, int64_t deadline_ms)
{
    px_insert_batch_t  *b = NULL;

    pthread_mutex_lock(&in->lock);

    if (in->state != PX_INS_IDLE) {
        in->give_up_at = deadline_ms;
        pthread_cond_broadcast(&in->cond);

        while (in->state != PX_INS_DONE) {
            pthread_cond_wait(&in->cond, &in->lock);
        }

        b = px_ins_take(in);
    }

    pthread_mutex_unlock(&in->lock);
    return b;
}

int
px_inserter_retrying(px_inserter_t *in)
{
    int  r;

    pthread_mutex_lock(&in->lock);
    r = in->retrying;
    pthread_mutex_unlock(&in->lock);

    return r;
}

void
px_inserter_free(px_inserter_t *in)
{
    if (in == NULL) {
        return;
    }

    pthread_mutex_lock(&in->lock);
    in->quit = 1;
    pthread_cond_broadcast(&in->cond);
    pthread_mutex_unlock(&in->lock);

    pthread_join(in->thread, NULL);
    pthread_cond_destroy(&in->cond);
    pthread_mutex_destroy(&in->lock);
    px_buf_free(&in->body);
    px_buf_free(&in->message);
    px_insert_block_free(&in->block);
    free(in);
}
