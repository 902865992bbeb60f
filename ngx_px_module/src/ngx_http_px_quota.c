#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_px_conf.h"
#include "ngx_http_px_keys.h"
#include "ngx_http_px_limit.h"
#include "ngx_http_px_quota.h"
#include "ngx_http_px_stats.h"

static ngx_int_t ngx_http_px_quota_counter(ngx_http_request_t *r,
    ngx_http_px_ctx_t *ctx, ngx_shm_zone_t **zone, ngx_http_px_tier_t **tier,
    ngx_http_px_error_t *err);
static ngx_int_t ngx_http_px_quota_answer(ngx_http_request_t *r,
    ngx_shm_zone_t *zone, ngx_http_px_limit_result_t *res,
    ngx_http_px_error_t *err);

ngx_int_t
ngx_http_px_quota_check(ngx_http_request_t *r, ngx_http_px_ctx_t *ctx,
    ngx_http_px_error_t *err)
{
    ngx_int_t                    rc;
    ngx_shm_zone_t              *zone;
    ngx_http_px_tier_t          *tier;
    ngx_http_px_limit_result_t   res;

    rc = ngx_http_px_quota_counter(r, ctx, &zone, &tier, err);
    if (rc != NGX_OK || zone == NULL) {
        return rc;
    }

    /* taking 0 events answers whether anything is left */
    if (ngx_http_px_limit_take(zone, tier, &ctx->quota_id, 0, &res)
        != NGX_OK)
    {
        res.allowed = 0;
    }

    if (res.allowed && res.remaining > 0) {
        return NGX_OK;
    }

    res.allowed = 0;
    return ngx_http_px_quota_answer(r, zone, &res, err);
}

ngx_int_t
ngx_http_px_quota_take(ngx_http_request_t *r, ngx_http_px_ctx_t *ctx,
    ngx_uint_t n, ngx_http_px_error_t *err)
{
    ngx_int_t                    rc;
    ngx_uint_t                   most;
    ngx_shm_zone_t              *zone;
    ngx_http_px_tier_t          *tier;
    ngx_http_px_limit_result_t   res;

    rc = ngx_http_px_quota_counter(r, ctx, &zone, &tier, err);
    if (rc != NGX_OK || zone == NULL) {
        return rc;
    }

    /* a batch no window of the tier can hold is not worth a retry */
    most = tier->per_minute != 0 ? tier->per_minute : tier->per_hour;
    if (n > most) {
        *ngx_snprintf((u_char *) err->buf, sizeof(err->buf) - 1,
                      "the batch has %ui valid events; the key's tier "
                      "\"%V\" takes at most %ui in one request",
                      n, &tier->name, most) = '\0';
        ngx_http_px_stats_add(NGX_HTTP_PX_STAT_RATE_LIMITED, 1);
        return ngx_http_px_fail(err, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                "batch_exceeds_tier", err->buf);
    }

    if (ngx_http_px_limit_take(zone, tier, &ctx->quota_id, n, &res)
        != NGX_OK)
    {
        /* no room even after eviction: fail closed */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "px: rate limit zone \"%V\" is full", &zone->shm.name);
        ngx_memzero(&res, sizeof(res));
        res.limit = tier->per_hour;
        res.reset = 1;
    }

    if (res.allowed) {
        ctx->quota_taken = n;
        ctx->quota_hour = res.hour;
        ctx->quota_minute = res.minute;
    }

    return ngx_http_px_quota_answer(r, zone, &res, err);
}

void
ngx_http_px_quota_refund(ngx_http_request_t *r, ngx_http_px_ctx_t *ctx)
{
    ngx_http_px_loc_conf_t  *plcf;

    if (ctx->quota_taken == 0) {
        return;
    }

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_px_module);
    ngx_http_px_limit_refund(plcf->limit_zone, &ctx->quota_id,
                             ctx->quota_taken, ctx->quota_hour,
                             ctx->quota_minute);
    ctx->quota_taken = 0;
}

/* The zone and tier that limit this request (*zone NULL: none), and the
 * counter's name, "<project> <tier>" (neither holds a space).  NGX_OK, or
 * NGX_ERROR with the answer in err. */
static ngx_int_t
ngx_http_px_quota_counter(ngx_http_request_t *r, ngx_http_px_ctx_t *ctx,
    ngx_shm_zone_t **zone, ngx_http_px_tier_t **tier,
    ngx_http_px_error_t *err)
{
    u_char                  *p;
    ngx_http_px_key_t       *key = ctx->key;
    ngx_http_px_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_px_module);

    *zone = NULL;
    *tier = key->rate;

    if (plcf->limit_zone == NULL || key->rate == NULL || key->rate->unlimited)
    {
        return NGX_OK;
    }

    if (ctx->quota_id.len == 0) {
        p = ngx_pnalloc(r->pool, key->project.len + 1 + key->tier.len);
        if (p == NULL) {
            return ngx_http_px_fail(err, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                    "internal_error", "out of memory");
        }
        ctx->quota_id.data = p;
        p = ngx_cpymem(p, key->project.data, key->project.len);
        *p++ = ' ';
        p = ngx_cpymem(p, key->tier.data, key->tier.len);
        ctx->quota_id.len = p - ctx->quota_id.data;
    }

    *zone = plcf->limit_zone;
    return NGX_OK;
}

/* X-RateLimit-* on every answer of a limited tier; 429 + Retry-After when
 * res says no. */
static ngx_int_t
ngx_http_px_quota_answer(ngx_http_request_t *r, ngx_shm_zone_t *zone,
    ngx_http_px_limit_result_t *res, ngx_http_px_error_t *err)
{
    if (res->evicted) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "px: %ui projects evicted from rate limit zone \"%V\"",
                      res->evicted, &zone->shm.name);
    }

    /* once a request: check() answers only a refusal, take() always */
    if (res->fallback) {
        ngx_http_px_stats_add(NGX_HTTP_PX_STAT_LIMIT_FALLBACK, 1);
    }

    if (ngx_http_px_add_header_num(r, "X-RateLimit-Limit", res->limit)
        != NGX_OK
        || ngx_http_px_add_header_num(r, "X-RateLimit-Remaining",
                                      res->remaining) != NGX_OK
        || ngx_http_px_add_header_num(r, "X-RateLimit-Reset", res->reset)
           != NGX_OK
        || (!res->allowed
            && ngx_http_px_add_header_num(r, "Retry-After", res->reset)
               != NGX_OK))
    {
        return ngx_http_px_fail(err, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                "internal_error", "out of memory");
    }

    if (res->allowed) {
        return NGX_OK;
    }

    /* requests, not events: one refused before its body is read has no
     * known number of events */
    ngx_http_px_stats_add(NGX_HTTP_PX_STAT_RATE_LIMITED, 1);
    return ngx_http_px_fail(err, NGX_HTTP_TOO_MANY_REQUESTS, "rate_limited",
                            "the project's event quota is used up");
}
