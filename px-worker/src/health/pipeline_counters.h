/*
 * The pipeline's counters (pipeline.c keeps them; the status server
 * serves a snapshot as /health and /metrics, docs/worker.md).
 */
#ifndef PX_PIPELINE_COUNTERS_H
#define PX_PIPELINE_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#define PX_STATUS_MAX_PARTITIONS  256
#define PX_STATUS_BUCKETS         12

typedef struct {
    unsigned long  consumed;
    unsigned long  stored;
    unsigned long  dead_lettered;
    unsigned long  duplicates;
    unsigned long  replays;
    unsigned long  sessions_started;
    unsigned long  batches;
    unsigned long  clickhouse_errors;
    unsigned long  redis_errors;
    unsigned long  commits;
    unsigned long  ua_cache_hits;
    unsigned long  ua_cache_misses;
    unsigned long  session_cache_hits;     /* visitor states not read */
    unsigned long  session_cache_misses;
    unsigned long  batch_ms_buckets[PX_STATUS_BUCKETS + 1]; /* le, +Inf */
    double         batch_ms_sum;
    int            paused;          /* waiting for ClickHouse/Redis */
    int            assigned;        /* partitions assigned */
    unsigned long  pending;         /* read, not yet stored or dropped */
    size_t         nlag;
    int32_t        lag_partition[PX_STATUS_MAX_PARTITIONS];
    int64_t        lag[PX_STATUS_MAX_PARTITIONS];
} px_status_t;

/* Upper bounds (ms) of the batch latency histogram's buckets. */
extern const double  px_status_bucket_ms[PX_STATUS_BUCKETS];

#endif
