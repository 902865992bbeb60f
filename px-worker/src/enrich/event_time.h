/*
 * The event-time policy: a client controls an event's time (from 1970 on,
 * through timestamp and sent_at), and the events table is partitioned by
 * month, so a batch of far-apart times would make an insert block span
 * more partitions than ClickHouse takes (max_partitions_per_insert_block,
 * 100) and stall its partition forever.  An event older than
 * PX_MAX_EVENT_AGE before it was received, or later than PX_MAX_EVENT_SKEW
 * after, is stored at received_at; what the client said stays in
 * client_timestamp_ms.  So every row of a batch lies within
 * [received_at - age, received_at + skew].
 */
#ifndef PX_EVENT_TIME_H
#define PX_EVENT_TIME_H

#include <stdint.h>

#include "event_row.h"

/* Apply the policy to row; 1 when its time was moved, else 0. */
int px_event_time_clamp(px_event_row_t *row, int64_t max_age_ms,
    int64_t max_skew_ms);

#endif
