/*
 * The dead-letter producer: messages the worker cannot store go to
 * px.events.dlq with the reason (libpx px_message_dead_letter format),
 * never silently dropped.
 *
 * Dead letters belong to a batch (px_dead_letters_t): each is kept, with
 * its state, until Kafka acknowledged it.  A batch's offsets are committed
 * only when px_dlq_settle says every one of its dead letters is
 * acknowledged; one that failed (topic missing, refused as too large, ...)
 * is sent again at the batch's next try.  The state is per batch, so a
 * failure is never reported to (or reset by) another batch.
 */
#ifndef PX_DLQ_H
#define PX_DLQ_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

typedef struct px_dlq_s          px_dlq_t;
typedef struct px_dead_letter_s  px_dead_letter_t;

/* Where a dead letter came from: the Kafka origin of its message (the one
 * dedupe uses), and that message when the payload is not it (a row). */
typedef struct {
    int32_t      partition;
    int64_t      offset;
    const char  *message;       /* NULL: the payload is the message */
    size_t       message_len;
} px_dead_letter_origin_t;

/* Find the origin of the row whose key (event_id) is key: 0, or -1. */
typedef int (*px_dead_letter_origin_pt)(void *ctx, const char *key,
    size_t key_len, px_dead_letter_origin_t *out);

/* The dead letters of one batch.  Zeroed memory is an empty list. */
typedef struct {
    px_dead_letter_t  **items;
    size_t              n;
    size_t              cap;
    int                 lost;       /* one could not be built: never settles */
    px_dlq_t           *dlq;        /* the producer of items */
    /* set by the batch's owner (may be NULL): the origin of what
     * px_dlq_add is given without one (rows ClickHouse refused) */
    px_dead_letter_origin_pt  origin_of;
    void                     *origin_ctx;
} px_dead_letters_t;

px_dlq_t *px_dlq_new(const char *brokers, const char *topic, char *err,
    size_t errlen);
/* The same with producer settings beyond the defaults ("name=value,...";
 * NULL for none), for tests. */
px_dlq_t *px_dlq_new_conf(const char *brokers, const char *topic,
    const char *extra_conf, char *err, size_t errlen);
void px_dlq_free(px_dlq_t *d);

/* Build a dead letter (payload is the original message, JSON or not), add
 * it to l and send it.  A send that fails is retried by px_dlq_settle.
 * -1 when it cannot be built (out of memory): l then never settles. */
int px_dlq_add(px_dlq_t *d, px_dead_letters_t *l, const char *reason,
    const void *key, size_t key_len, const char *payload, size_t len,
    int payload_is_json);

/* The same with its origin: the record gets "origin":"partition:offset"
 * and, when o->message is set, "message":<the original message>, which
 * px-worker --replay-dlq re-drives (replay.h). */
int px_dlq_add_origin(px_dlq_t *d, px_dead_letters_t *l, const char *reason,
    const void *key, size_t key_len, const char *payload, size_t len,
    int payload_is_json, const px_dead_letter_origin_t *o);

/* Send again those of l that failed, then wait up to timeout_ms for those
 * in flight.  0 when every one is acknowledged by Kafka; -1 with the
 * reason in err when not (the batch must not be committed yet). */
int px_dlq_settle(px_dlq_t *d, px_dead_letters_t *l, int timeout_ms,
    char *err, size_t errlen);

/* Empty l (its batch was committed or thrown away).  Those still in
 * flight are freed when their delivery report comes. */
void px_dead_letters_clear(px_dead_letters_t *l);
void px_dead_letters_free(px_dead_letters_t *l);

/* Wait until everything queued is acknowledged.  0, or -1. */
int px_dlq_flush(px_dlq_t *d, int timeout_ms);

#endif
