/*
 * px-worker --replay-dlq: re-drive dead letters (px.events.dlq) through
 * the normal pipeline once their cause is fixed.
 *
 * The DLQ topic is read from its beginning to its end as it is at start
 * (every partition assigned at OFFSET_BEGINNING, read up to the high
 * watermark; no consumer group offsets are committed).  A record is
 * selected when its source is "worker" ("ingest" too with
 * --include-ingest), its reason contains --reason and its "at" lies in
 * [--since, --until).  Its message ("message" member, else "payload") is
 * produced to KAFKA_TOPIC with the module's key and the header
 * "px-origin: <partition>:<offset>" from its "origin" member, so that the
 * worker's dedupe sees the original message again (docs/worker.md,
 * "Re-driving dead letters").
 */
#ifndef PX_REPLAY_H
#define PX_REPLAY_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"

typedef struct {
    int          on;                /* --replay-dlq given */
    const char  *reason;            /* substring; NULL: any */
    int64_t      since_ms;          /* INT64_MIN: no bound */
    int64_t      until_ms;          /* INT64_MAX: no bound */
    int          dry_run;
    int          include_ingest;
} px_replay_opts_t;

/* Take the replay flags out of argv (*argc lowered, the rest kept in
 * order for the settings).  0, or -1 after printing why. */
int px_replay_args(int *argc, char **argv, px_replay_opts_t *o);

void px_replay_usage(FILE *out);

/* Run the replay with cfg's Kafka settings.  The exit status: 0 when every
 * selected dead letter was delivered (or --dry-run), 1 otherwise. */
int px_replay_run(const px_config_t *cfg, const px_replay_opts_t *o);

#endif
