/*
 * The Kafka offsets of the batch in hand, per partition of the one topic:
 * the first (where to rewind if the batch is thrown away) and the next
 * (what to commit once the batch is stored).
 *
 * The same type holds the pipeline's floor: for each partition where a
 * batch was thrown away, the lowest offset not stored.  Partitions are
 * rewound to it (never to a later batch's start), and no commit passes it
 * until a batch that read it again is stored.
 */
#ifndef PX_OFFSETS_H
#define PX_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#define PX_OFFSETS_MAX_PARTITIONS  1024

typedef struct {
    int32_t  partition;
    int64_t  first;
    int64_t  next;
} px_offset_range_t;

typedef struct {
    px_offset_range_t  ranges[PX_OFFSETS_MAX_PARTITIONS];
    size_t             n;
    size_t             messages;
} px_offsets_t;

void px_offsets_clear(px_offsets_t *o);

/* Note a message of the batch.  -1 when too many partitions. */
int px_offsets_track(px_offsets_t *o, int32_t partition, int64_t offset);

/* Store and synchronously commit the next offsets, leaving out (with an
 * error logged) a partition whose range starts past its floor (may be
 * NULL); a range that starts at or below it removes it.  0, or -1 with the
 * reason in err (the batch may then be read again: dedupe makes that
 * harmless). */
int px_offsets_commit(rd_kafka_t *rk, const char *topic,
    const px_offsets_t *o, px_offsets_t *floor, char *err, size_t errlen);

/* Add the batch o to the batches held in held (stored together later):
 * per partition the lowest first and the highest next.  -1 when too many
 * partitions. */
int px_offsets_merge(px_offsets_t *held, const px_offsets_t *o);

/* Lower floor to o's first offsets, partition by partition.  -1 when too
 * many partitions. */
int px_offsets_lower(px_offsets_t *floor, const px_offsets_t *o);

/* Remove the partitions of parts (no longer ours; NULL: all) from o. */
void px_offsets_forget(px_offsets_t *o,
    const rd_kafka_topic_partition_list_t *parts);

/* Seek the partitions still assigned back to their first offsets, so a
 * batch thrown away is read again. */
void px_offsets_rewind(rd_kafka_t *rk, const char *topic,
    const px_offsets_t *o);

#endif
