/*
 * The worker's loop: consume px.events.raw, parse + enrich each message
 * into a row, and insert the batch into ClickHouse at BATCH_SIZE rows or
 * FLUSH_INTERVAL ms; offsets are committed only after the rows (and any
 * dead letters) are stored.  While ClickHouse is down the partitions are
 * paused and the batch in hand is retried with exponential backoff.
 */
#ifndef PX_PIPELINE_H
#define PX_PIPELINE_H

#include <signal.h>
#include <stddef.h>

#include "config.h"

typedef struct px_pipeline_s  px_pipeline_t;

/* Counters, for metrics and logs. */
typedef struct {
    unsigned long  consumed;        /* messages read */
    unsigned long  stored;          /* rows inserted */
    unsigned long  dead_lettered;   /* sent to the DLQ */
    unsigned long  duplicates;      /* dropped by dedupe */
    unsigned long  batches;
    unsigned long  clickhouse_errors;
    unsigned long  commits;
    double         last_batch_ms;   /* insert latency of the last batch */
} px_pipeline_stats_t;

/* Connect everything and apply the schema (retrying while ClickHouse is
 * unreachable, until *stop).  NULL with the reason in err. */
px_pipeline_t *px_pipeline_new(const px_config_t *cfg,
    volatile sig_atomic_t *stop, char *err, size_t errlen);

/* Run until *stop; then flush and commit what is in hand.  0, or -1 on a
 * fatal error. */
int px_pipeline_run(px_pipeline_t *p, volatile sig_atomic_t *reload);

const px_pipeline_stats_t *px_pipeline_stats(const px_pipeline_t *p);

void px_pipeline_free(px_pipeline_t *p);

#endif
