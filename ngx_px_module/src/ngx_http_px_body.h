/*
 * The request body, from nginx's buffers (memory or temp file), through
 * gzip inflate when it is gzip (by its magic bytes), into the streaming
 * batch parser, under the location's size and ratio limits.
 */
#ifndef NGX_HTTP_PX_BODY_H
#define NGX_HTTP_PX_BODY_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "px_batch.h"
#include "ngx_http_px_conf.h"
#include "ngx_http_px_module.h"
#include "ngx_http_px_reply.h"

/* Where the decoded body goes: the batch parser, or (the Segment API) a
 * reader of its own.  feed and finish answer as px_batch_feed() does;
 * message says why they failed. */
typedef struct {
    px_batch_status_t   (*feed)(void *data, const void *p, size_t len);
    px_batch_status_t   (*finish)(void *data);
    const char         *(*message)(void *data);
    void                 *data;
} ngx_http_px_body_sink_t;

/* Read the whole body into sink, inflated when it is gzip, under the
 * location's size and ratio limits.  NGX_OK, or NGX_ERROR with err filled
 * in (400, 413, 500; a sink's error as the batch parser's would be). */
ngx_int_t ngx_http_px_body_read(ngx_http_request_t *r,
    ngx_http_px_loc_conf_t *plcf, ngx_uint_t gzip_header,
    ngx_http_px_body_sink_t *sink, ngx_http_px_error_t *err);

/* Parse the whole body into batch (the caller frees it).  gzip_header: the
 * request said Content-Encoding: gzip.  A key sent in the body's envelope
 * is checked here too (ngx_http_px_request_body_auth()).  NGX_OK, or
 * NGX_ERROR with err filled in. */
ngx_int_t ngx_http_px_body_parse(ngx_http_request_t *r,
    ngx_http_px_loc_conf_t *plcf, ngx_uint_t gzip_header, px_batch_t *batch,
    ngx_http_px_error_t *err);

#endif
