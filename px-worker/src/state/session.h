/*
 * The session + dedupe stage: for a batch of rows, drop the duplicates and
 * give every other row its session_id and session_seq, with all state in
 * Redis so that any worker of the group carries on a visitor.  A batch is
 * two round trips: read its claims and visitors, apply the rules here
 * (session_rules.h), write them back in one atomic compare-and-set
 * (session_store.h).  docs/sessions.md has the rules.
 *
 * Called once per batch, after parse + enrich and before the rows are
 * written to ClickHouse.  Running it again on the same batch (same
 * origins) gives the same answer: that is what makes the batch retryable.
 */
#ifndef PX_SESSION_H
#define PX_SESSION_H

#include <stddef.h>

#include "config.h"
#include "dedupe.h"
#include "event_row.h"

typedef struct px_session_stage_s  px_session_stage_t;

typedef struct {
    const char  *redis_url;          /* REDIS_URL */
    long         session_timeout_s;  /* PX_SESSION_TIMEOUT */
    long         session_max_s;      /* PX_SESSION_MAX */
    long         dedupe_ttl_s;       /* PX_DEDUPE_TTL: event keys live so */
    long         cache_mb;           /* PX_SESSION_CACHE_MB: 0 off */
    long         connect_timeout_ms; /* <= 0: 2000 */
    long         io_timeout_ms;      /* <= 0: 5000 */
    const char  *key_prefix;         /* NULL: "px:" (at most 63 bytes) */
} px_session_conf_t;

/* Counters, for metrics; only successful runs count. */
typedef struct {
    unsigned long  events;            /* rows given to the stage */
    unsigned long  duplicates;        /* dropped: all true duplicates ... */
    unsigned long  batch_duplicates;  /* ... of which within their batch */
    unsigned long  replays;           /* rows read again, assignment kept */
    unsigned long  new_sessions;      /* sessions started */
    unsigned long  late_events;       /* rows older than the visitor's last */
    unsigned long  runs;              /* successful px_session_stage_run */
    unsigned long  round_trips;       /* Redis round trips of those runs */
    unsigned long  conflicts;         /* runs again: keys written meanwhile */
    unsigned long  cache_hits;        /* visitor states not read from Redis */
    unsigned long  cache_misses;      /* ... and read */
    unsigned long  redis_errors;      /* runs that returned -1 */
} px_session_stats_t;

/* The settings from the worker's configuration (strings not copied). */
void px_session_conf_init(px_session_conf_t *conf, const px_config_t *cfg);

/* A stage; it does not connect yet (Redis may be down at start).  NULL
 * with the reason in err for bad settings or no memory. */
px_session_stage_t *px_session_stage_new(const px_session_conf_t *conf,
    char *err, size_t errlen);

/*
 * Run the stage on rows[0..n).  origins[i] is the Kafka message of
 * rows[i].  On success (0): drop[i] = 1 for each true duplicate (the row
 * must not be stored), else drop[i] = 0 and rows[i].session_id and
 * rows[i].session_seq are set.  On failure (-1, the reason in err) Redis
 * could not be used: nothing in rows or drop was changed; the error is
 * retryable (run the same batch again later).  n may be 0.
 */
int px_session_stage_run(px_session_stage_t *st, px_event_row_t *rows,
    size_t n, const px_stage_origin_t *origins, unsigned char *drop,
    char *err, size_t errlen);

const px_session_stats_t *px_session_stage_stats(
    const px_session_stage_t *st);

void px_session_stage_free(px_session_stage_t *st);

/* Called between a batch's read and its write (tests use it to play
 * another worker writing a key of the batch meanwhile); NULL: none. */
typedef void (*px_session_between_pt)(void *ctx);

void px_session_stage_between(px_session_stage_t *st,
    px_session_between_pt fn, void *ctx);

/* The partitions owned changed: the next run reads every visitor state
 * from Redis (the visitor cache is emptied).  Any thread may call it. */
void px_session_stage_forget(px_session_stage_t *st);

/* Cap its Redis timeouts (px_redis_cap). */
void px_session_stage_cap(px_session_stage_t *st, long ms);

#endif
