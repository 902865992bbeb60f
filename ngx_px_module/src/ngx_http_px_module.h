/*
 * ngx_http_px_module: event ingestion inside nginx.  The types the module's
 * files share about a request, and its handlers; each file has one concern
 * (keys, body, batch, kafka, stats, status, reply).  The configuration the
 * directives fill is in ngx_http_px_conf.h.
 */
#ifndef NGX_HTTP_PX_MODULE_H
#define NGX_HTTP_PX_MODULE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#define NGX_HTTP_PX_VERSION      "0.1.0"

typedef struct ngx_http_px_intake_s  ngx_http_px_intake_t;

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
