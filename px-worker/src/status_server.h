/*
 * /health, /ready and /metrics (Prometheus) of px-worker over HTTP on
 * 127.0.0.1:PX_HEALTH_PORT, served by one thread from a snapshot that the
 * pipeline publishes (px_status_publish) after each step, so a slow insert
 * never delays an answer.
 */
#ifndef PX_STATUS_SERVER_H
#define PX_STATUS_SERVER_H

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
    unsigned long  batch_ms_buckets[PX_STATUS_BUCKETS + 1]; /* le, +Inf */
    double         batch_ms_sum;
    int            paused;          /* waiting for ClickHouse/Redis */
    int            assigned;        /* partitions assigned */
    size_t         nlag;
    int32_t        lag_partition[PX_STATUS_MAX_PARTITIONS];
    int64_t        lag[PX_STATUS_MAX_PARTITIONS];
} px_status_t;

/* Upper bounds (ms) of the batch latency histogram's buckets. */
extern const double  px_status_bucket_ms[PX_STATUS_BUCKETS];

typedef struct px_status_server_s  px_status_server_t;

/* Listen on 127.0.0.1:port and serve from a thread.  NULL with err. */
px_status_server_t *px_status_server_start(int port, char *err,
    size_t errlen);

/* Replace the snapshot served (copied under a lock). */
void px_status_publish(px_status_server_t *s, const px_status_t *st);

void px_status_server_stop(px_status_server_t *s);

/* Render the documents (also used by the tests). */
int px_status_render_health(const px_status_t *st, char *out, size_t len);
int px_status_render_metrics(const px_status_t *st, char *out, size_t len);

#endif
