/*
 * Per-project rate limits in events, shared by every worker process: a
 * shared memory zone (px_limit_zone) holding, per project, an hourly and a
 * per-minute window (px_tier quota and burst), in an rbtree keyed by the
 * project's hash with an LRU queue; a full zone evicts the least recently
 * used project.  The zone survives reload.  Modelled on limit_req.
 *
 * The counts are per nginx node unless px_limit_redis makes them global
 * (ngx_http_px_limit_redis.c): a node's worker process 0 then pushes the
 * zone's new counts to Redis and reads back the totals of all nodes, off the
 * request path; the request path adds its own counts not yet pushed.  While
 * Redis is unreachable each node takes 1/nodes of every limit.
 */
#ifndef NGX_HTTP_PX_LIMIT_H
#define NGX_HTTP_PX_LIMIT_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

typedef struct {
    ngx_str_t    name;
    ngx_uint_t   unlimited;
    ngx_uint_t   per_hour;          /* events per clock hour */
    ngx_uint_t   per_minute;        /* events per clock minute; 0: none */
} ngx_http_px_tier_t;

typedef struct {
    ngx_uint_t   allowed;
    ngx_uint_t   limit;             /* X-RateLimit-Limit (the hourly quota) */
    ngx_uint_t   remaining;         /* X-RateLimit-Remaining */
    time_t       reset;             /* X-RateLimit-Reset: seconds to wait */
    ngx_uint_t   evicted;           /* projects evicted to make room */
    ngx_uint_t   fallback;          /* decided on 1/nodes: Redis down */
    time_t       hour;              /* the windows counted in */
    time_t       minute;
} ngx_http_px_limit_result_t;

/* px_limit_redis: the zones' limits shared by the nodes through Redis. */
typedef struct {
    ngx_str_t    addr_text;         /* host:port, for logs */
    ngx_addr_t   addr;
    ngx_uint_t   nodes;             /* the fallback is 1/nodes of a limit */
    ngx_msec_t   interval;          /* between two syncs */
    ngx_msec_t   timeout;           /* of a sync (connect, send, replies) */
    ngx_str_t    password;          /* AUTH on each new connection; never
                                       logged */
} ngx_http_px_limit_redis_t;

/* One counter's part in a sync: what it pushes, what it reads back. */
typedef struct {
    ngx_str_t    id;
    time_t       hour;              /* the windows pushed to */
    time_t       minute;
    ngx_int_t    hour_delta;        /* events taken (minus refunds) since */
    ngx_int_t    minute_delta;      /* the last sync */
    ngx_uint_t   hour_total;        /* the windows' totals over all nodes */
    ngx_uint_t   minute_total;
} ngx_http_px_limit_item_t;

/* px_limit_zone name=NAME:SIZE; */
char *ngx_http_px_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* px_tier NAME unlimited | N/h [burst=N/m]; */
char *ngx_http_px_tier(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* px_limit_redis host:port nodes=N [interval=time] [timeout=time]
 *     [password=secret]; */
char *ngx_http_px_limit_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* Make the zones of zones (of ngx_shm_zone_t *) global through redis;
 * nginx -t error when there is none. */
char *ngx_http_px_limit_redis_attach(ngx_conf_t *cf, ngx_array_t *zones,
    ngx_http_px_limit_redis_t *redis);

/* px_limit NAME | off; */
char *ngx_http_px_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* The tier named name, or NULL. */
ngx_http_px_tier_t *ngx_http_px_tier_find(ngx_array_t *tiers,
    ngx_str_t *name);

/* Take n events of counter id's quota, all or none.  NGX_OK with res
 * filled (res->allowed says whether they were taken), NGX_ERROR when the
 * zone had no room even after eviction (the caller fails closed). */
ngx_int_t ngx_http_px_limit_take(ngx_shm_zone_t *zone,
    ngx_http_px_tier_t *tier, ngx_str_t *id, ngx_uint_t n,
    ngx_http_px_limit_result_t *res);

/* Give back n events taken in the windows starting at hour and minute,
 * from those windows that are still the counter's current ones. */
void ngx_http_px_limit_refund(ngx_shm_zone_t *zone, ngx_str_t *id,
    ngx_uint_t n, time_t hour, time_t minute);

/* The zone's Redis settings, or NULL (per node). */
ngx_http_px_limit_redis_t *ngx_http_px_limit_zone_redis(
    ngx_shm_zone_t *zone);

/* The counters used since `since` (at most max, most recent first), with
 * their new counts moved to "being pushed", into items (of
 * ngx_http_px_limit_item_t, ids copied into pool). */
ngx_int_t ngx_http_px_limit_collect(ngx_shm_zone_t *zone, ngx_pool_t *pool,
    ngx_array_t *items, time_t since, ngx_uint_t max);

/* The end of a sync of items: NGX_OK, the totals read back replace the
 * counters' global counts and Redis counts as up; else the counts pushed
 * become new again (pushed on the next sync), and with NGX_ERROR Redis
 * counts as down (NGX_DECLINED: the sync was dropped, the process exits).
 * Returns 1 when that changed whether Redis is up. */
ngx_uint_t ngx_http_px_limit_synced(ngx_shm_zone_t *zone,
    ngx_array_t *items, ngx_int_t rc);

/* When the last sync succeeded (0: never). */
time_t ngx_http_px_limit_last_sync(ngx_shm_zone_t *zone);

#endif
