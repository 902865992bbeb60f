/*
 * The configuration of ngx_http_px_module: what its directives (the
 * command table of ngx_http_px_module.c, docs/nginx-module.md) fill, per
 * http block and per location.
 */
#ifndef NGX_HTTP_PX_CONF_H
#define NGX_HTTP_PX_CONF_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "px_limits.h"
#include "ngx_http_px_keys.h"
#include "ngx_http_px_limit.h"

#define NGX_HTTP_PX_ACK_KAFKA    0
#define NGX_HTTP_PX_ACK_LOCAL    1

typedef struct {
    ngx_str_t            brokers;
    ngx_str_t            topic;
    ngx_str_t            dlq_topic;
    ngx_array_t         *kafka_props;       /* of ngx_keyval_t */
    ngx_msec_t           flush_timeout;     /* on reload and quit */
    ngx_msec_t           max_ack_timeout;   /* of all locations */
    ngx_flag_t           ack_local;         /* a batch location acks local */
    ngx_http_px_keys_t  *keys;
    ngx_array_t         *tiers;             /* of ngx_http_px_tier_t */
    ngx_array_t         *limit_zones;       /* of ngx_shm_zone_t * */
    ngx_http_px_limit_redis_t  *limit_redis;    /* NULL: limits per node */
    ngx_shm_zone_t      *stats_zone;
} ngx_http_px_main_conf_t;

typedef struct {
    ngx_uint_t           ack;
    ngx_msec_t           ack_timeout;
    size_t               max_body;          /* as sent (maybe gzip) */
    size_t               max_inflated;
    ngx_uint_t           max_ratio;
    ngx_uint_t           max_events;
    size_t               max_event_size;
    ngx_uint_t           max_depth;
    ngx_uint_t           max_keys;
    size_t               max_string;
    ngx_uint_t           max_event_name;
    px_limits_t          limits;            /* the above, for libpx */
    ngx_uint_t           dlq_max_events;    /* dead letters per request */
    size_t               dlq_max_bytes;     /* and their bytes */
    ngx_array_t         *cors_origins;      /* of ngx_str_t; "*" = any */
    ngx_shm_zone_t      *limit_zone;        /* px_limit; NULL: off */
    ngx_flag_t           json_errors;       /* a px_* handler location */
    size_t               segment_max_event;     /* px_segment_max_... */
    size_t               segment_max_batch;
} ngx_http_px_loc_conf_t;

#endif /* NGX_HTTP_PX_CONF_H */
