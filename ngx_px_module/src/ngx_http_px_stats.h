/*
 * Counters shared by every worker process, in a shared memory zone that
 * survives reload (the old zone is reused), read by the queue status and
 * metrics locations.
 */
#ifndef NGX_HTTP_PX_STATS_H
#define NGX_HTTP_PX_STATS_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#define NGX_HTTP_PX_STATS_SLOTS   64    /* in-flight slots, by ngx_worker */

typedef enum {
    NGX_HTTP_PX_STAT_REQUESTS = 0,      /* batch requests */
    NGX_HTTP_PX_STAT_RECEIVED,          /* events in those requests */
    NGX_HTTP_PX_STAT_ACCEPTED,          /* events answered 202 */
    NGX_HTTP_PX_STAT_REJECTED,          /* invalid events (see reasons) */
    NGX_HTTP_PX_STAT_RATE_LIMITED,      /* requests refused by the quota
                                           (429, 413 batch_exceeds_tier) */
    NGX_HTTP_PX_STAT_DELIVERED,         /* acknowledged by the broker */
    NGX_HTTP_PX_STAT_FAILED,            /* not delivered (timeout, error) */
    NGX_HTTP_PX_STAT_DEAD_LETTERED,     /* produced to the DLQ topic */
    NGX_HTTP_PX_STAT_DLQ_DROPPED,       /* rejected, not dead-lettered (over
                                           the per-request cap, refused) */
    /* px_limit_redis: not events, the last ones (the metrics name them) */
    NGX_HTTP_PX_STAT_LIMIT_SYNCS,       /* syncs with Redis done */
    NGX_HTTP_PX_STAT_LIMIT_SYNC_FAILED, /* syncs failed: Redis unreachable */
    NGX_HTTP_PX_STAT_LIMIT_FALLBACK,    /* requests limited on 1/nodes of the
                                           limit, Redis being down */
    NGX_HTTP_PX_STAT_N
} ngx_http_px_stat_t;

typedef struct {
    ngx_atomic_t   counters[NGX_HTTP_PX_STAT_N];
    ngx_atomic_t  *reasons;             /* [ngx_http_px_stats_nreasons] */
    ngx_atomic_t  *statuses;            /* [ngx_http_px_stats_nstatuses] */
    ngx_atomic_t  *latency;             /* [buckets + 1]: le buckets, +Inf */
    ngx_atomic_t   latency_sum_ms;
    ngx_atomic_t   in_flight[NGX_HTTP_PX_STATS_SLOTS];
    ngx_atomic_t   in_flight_pid[NGX_HTTP_PX_STATS_SLOTS];  /* owners */
    ngx_atomic_t   started;             /* epoch seconds of the first start */
} ngx_http_px_stats_t;

extern const char        *ngx_http_px_stats_names[NGX_HTTP_PX_STAT_N];
extern const char        *ngx_http_px_stats_reason_names[];
extern const ngx_uint_t   ngx_http_px_stats_nreasons;
extern const ngx_uint_t   ngx_http_px_stats_status_codes[];
extern const ngx_uint_t   ngx_http_px_stats_nstatuses;
extern const ngx_msec_t   ngx_http_px_stats_buckets[];
extern const ngx_uint_t   ngx_http_px_stats_nbuckets;

/* Register the zone (postconfiguration). */
ngx_shm_zone_t *ngx_http_px_stats_zone_add(ngx_conf_t *cf);

/* The counters of this cycle, or NULL before the zone is ready. */
ngx_http_px_stats_t *ngx_http_px_stats(void);

void ngx_http_px_stats_add(ngx_http_px_stat_t stat, ngx_atomic_int_t n);
void ngx_http_px_stats_reason(const char *reason);
void ngx_http_px_stats_status(ngx_uint_t status);
void ngx_http_px_stats_latency(ngx_msec_t ms);
void ngx_http_px_stats_in_flight(ngx_atomic_int_t delta);

/* At a worker process's start: take its in-flight slot; one whose owner
 * died (a crash, its messages gone with it) starts again from 0. */
void ngx_http_px_stats_in_flight_claim(void);

#endif
