/*
 * The dead-letter producer: messages the worker cannot store go to
 * px.events.dlq with the reason (libpx px_message_dead_letter format),
 * never silently dropped.  Offsets are committed only after the DLQ
 * records are acknowledged (px_dlq_flush).
 */
#ifndef PX_DLQ_H
#define PX_DLQ_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

typedef struct px_dlq_s  px_dlq_t;

px_dlq_t *px_dlq_new(const char *brokers, const char *topic, char *err,
    size_t errlen);
void px_dlq_free(px_dlq_t *d);

/* Queue one record: payload is the original message (JSON or not). */
int px_dlq_send(px_dlq_t *d, const char *reason, const void *key,
    size_t key_len, const char *payload, size_t len, int payload_is_json);

/* Wait until every queued record is acknowledged.  0, or -1 when some were
 * not (the caller must not commit past them). */
int px_dlq_flush(px_dlq_t *d, int timeout_ms);

/* Records sent since start. */
unsigned long px_dlq_sent(const px_dlq_t *d);

#endif
