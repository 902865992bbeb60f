/*
 * One message read again from Kafka by its partition and offset.
 *
 * An insert block keeps each row's RowBinary bytes only, not the message
 * the row came from: the message is needed only for the dead letter of a
 * row ClickHouse refuses, which is rare, and it is still in Kafka then
 * (its offset is not committed before the block is stored).  Keeping it
 * cost ~0.8 KB an event, half the block's memory (bench/README.md,
 * "Larger inserts for the same memory").
 */
#ifndef PX_KAFKA_FETCH_H
#define PX_KAFKA_FETCH_H

#include <stdint.h>

#include "px_buf.h"

typedef struct px_kafka_fetch_s  px_kafka_fetch_t;

/* A reader of topic on brokers; it connects on its first fetch.  NULL
 * when out of memory. */
px_kafka_fetch_t *px_kafka_fetch_new(const char *brokers, const char *topic);

/*
 * The message at partition:offset into out (appended).
 *   1   found;
 *   0   gone (deleted by retention, or the offset is past the end): the
 *       caller does without it;
 *  -1   Kafka did not answer within timeout_ms, or out of memory: try
 *       again later (the reason in err).
 */
int px_kafka_fetch(px_kafka_fetch_t *f, int32_t partition, int64_t offset,
    int timeout_ms, px_buf_t *out, char *err, size_t errlen);

void px_kafka_fetch_free(px_kafka_fetch_t *f);

#endif
