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

#include "pipeline_counters.h"

/*
 * Progress, as /health judges it: the pipeline is stalled when it has not
 * published a snapshot for stall_ms (its thread hangs), or when consumed
 * and stored have not moved for stall_ms while messages wait (consumer lag,
 * or a batch read but not stored: an insert that hangs, ClickHouse or
 * Redis down for that long).  Idle with nothing waiting is progress.
 */
typedef struct {
    int64_t        published_ms;    /* last snapshot */
    int64_t        progress_ms;     /* last move of consumed/stored, or lag 0 */
    unsigned long  consumed;
    unsigned long  stored;
} px_progress_t;

/* Take snapshot st, published at now_ms, into pr. */
void px_progress_note(px_progress_t *pr, const px_status_t *st,
    int64_t now_ms);

/* NULL when progressing, else why not (a static string). */
const char *px_progress_stalled(const px_progress_t *pr,
    const px_status_t *st, int64_t now_ms, int64_t stall_ms);

typedef struct px_status_server_s  px_status_server_t;

/* Listen on 127.0.0.1:port and serve from a thread; /health and /ready
 * answer 503 once the pipeline made no progress for stall_s seconds.
 * NULL with err. */
px_status_server_t *px_status_server_start(int port, long stall_s,
    char *err, size_t errlen);

/* Replace the snapshot served (copied under a lock). */
void px_status_publish(px_status_server_t *s, const px_status_t *st);

void px_status_server_stop(px_status_server_t *s);

/* Render the /health document into out (its length, or -1 when it does
 * not fit).  stalled: NULL, or why /health fails; progress_age_ms: since
 * the last progress. */
int px_status_render_health(const px_status_t *st, const char *stalled,
    int64_t progress_age_ms, char *out, size_t len);

#endif
