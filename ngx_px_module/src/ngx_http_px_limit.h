/*
 * Per-project rate limits in events, shared by every worker process: a
 * shared memory zone (px_limit_zone) holding, per project, an hourly and a
 * per-minute window (px_tier quota and burst), in an rbtree keyed by the
 * project's hash with an LRU queue; a full zone evicts the least recently
 * used project.  The zone survives reload.  Modelled on limit_req.
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
    time_t       hour;              /* the windows counted in */
    time_t       minute;
} ngx_http_px_limit_result_t;

/* px_limit_zone name=NAME:SIZE; */
char *ngx_http_px_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* px_tier NAME unlimited | N/h [burst=N/m]; */
char *ngx_http_px_tier(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

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

#endif
