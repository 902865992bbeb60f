/*
 * ngx_http_px_module: event ingestion inside nginx.  Shared types of the
 * module's files; each file has one concern (keys, body, batch, kafka,
 * stats, status, reply).
 */
#ifndef NGX_HTTP_PX_MODULE_H
#define NGX_HTTP_PX_MODULE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "px_limits.h"

#define NGX_HTTP_PX_VERSION      "0.1.0"

#define NGX_HTTP_PX_ACK_KAFKA    0
#define NGX_HTTP_PX_ACK_LOCAL    1

typedef struct ngx_http_px_keys_s    ngx_http_px_keys_t;
typedef struct ngx_http_px_intake_s  ngx_http_px_intake_t;

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

/* What a request may still send to the DLQ. */
typedef struct {
    ngx_uint_t           count;
    size_t               bytes;
} ngx_http_px_dlq_budget_t;

typedef struct ngx_http_px_key_s  ngx_http_px_key_t;
typedef struct ngx_http_px_ack_s  ngx_http_px_ack_t;

/* Per request. */
typedef struct {
    ngx_http_px_key_t   *key;
    ngx_uint_t           gzip;          /* Content-Encoding: gzip */
    ngx_http_px_ack_t   *ack;
    ngx_event_t          timeout;
    ngx_str_t            reply;         /* the 202 body, ready to send */
    ngx_uint_t           accepted;
    ngx_buf_t           *error_page;    /* JSON replacing nginx's HTML */
    ngx_str_t            quota_id;      /* "<project> <tier>" */
    ngx_uint_t           quota_taken;   /* events taken, to give back */
    time_t               quota_hour;    /* the windows they were taken in */
    time_t               quota_minute;
    const ngx_http_px_intake_t  *intake;    /* the API: batch, Segment */
    void                *intake_data;       /* the intake's own */
} ngx_http_px_ctx_t;

extern ngx_module_t  ngx_http_px_module;

ngx_int_t ngx_http_px_batch_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_px_segment_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_px_health_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_px_ready_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_px_queue_status_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_px_metrics_handler(ngx_http_request_t *r);

/* Install the filters that answer nginx's own errors (413 past
 * client_max_body_size, 408 body timeout, 400 bad chunking...) in JSON in
 * px locations. */
ngx_int_t ngx_http_px_errors_init(ngx_conf_t *cf);

#endif /* NGX_HTTP_PX_MODULE_H */
