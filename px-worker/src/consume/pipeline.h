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
#include "pipeline_counters.h"
#include "status_server.h"

typedef struct px_pipeline_s  px_pipeline_t;

/* Connect everything and apply the schema (retrying while ClickHouse is
 * unreachable, until *stop).  NULL with the reason in err. */
px_pipeline_t *px_pipeline_new(const px_config_t *cfg,
    volatile sig_atomic_t *stop, char *err, size_t errlen);

/* Publish the counters to this status server (may be NULL). */
void px_pipeline_set_status_server(px_pipeline_t *p, px_status_server_t *s);

/* Run until *stop; then flush and commit what is in hand.  Errors on the
 * way are waited out (backoff, paused partitions), never returned. */
void px_pipeline_run(px_pipeline_t *p, volatile sig_atomic_t *reload);

const px_status_t *px_pipeline_stats(const px_pipeline_t *p);

void px_pipeline_free(px_pipeline_t *p);

#endif
