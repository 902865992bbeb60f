/*
 * A request's share of its project's quota (px_limit zone, the key's
 * px_tier): the counter is per project and tier, so a pro key of a project
 * never lifts its free key, nor the reverse.  Checked before the body is
 * read (a project at zero costs no inflate, no parse, no Kafka), taken for
 * the batch's valid events, all or none, and given back when the request
 * then fails (503, ack timeout): an outage burns no quota.
 */
#ifndef NGX_HTTP_PX_QUOTA_H
#define NGX_HTTP_PX_QUOTA_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_px_module.h"
#include "ngx_http_px_reply.h"

/* Before the body: 429 when nothing is left.  NGX_OK, or NGX_ERROR with
 * the answer in err (headers added). */
ngx_int_t ngx_http_px_quota_check(ngx_http_request_t *r,
    ngx_http_px_ctx_t *ctx, ngx_http_px_error_t *err);

/* Take n events: NGX_OK, or NGX_ERROR with 413 batch_exceeds_tier (n can
 * never fit the tier) or 429 in err.  X-RateLimit-* headers either way. */
ngx_int_t ngx_http_px_quota_take(ngx_http_request_t *r,
    ngx_http_px_ctx_t *ctx, ngx_uint_t n, ngx_http_px_error_t *err);

/* Give back what ngx_http_px_quota_take took, if its windows are still
 * open. */
void ngx_http_px_quota_refund(ngx_http_request_t *r, ngx_http_px_ctx_t *ctx);

#endif
