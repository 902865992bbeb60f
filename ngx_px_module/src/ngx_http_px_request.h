/*
 * What a batch request says before its body is read: its key (from
 * Authorization: Bearer, X-PX-API-Key or ?api_key=; else the body's
 * "api_key", checked after the body is parsed), project
 * (X-PX-Project-ID or ?project_id=, default the key's) and origin, its
 * content type and encoding; and CORS for px_cors_origins.
 */
#ifndef NGX_HTTP_PX_REQUEST_H
#define NGX_HTTP_PX_REQUEST_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "px_batch.h"
#include "ngx_http_px_module.h"
#include "ngx_http_px_reply.h"

/* The request's key, valid for the project and origin asked for.  NGX_OK,
 * or NGX_ERROR with err filled in (401, 403).  A request with no key in its
 * headers or query string but with a body gets NGX_OK and a stand-in key
 * (no tier, no project) until ngx_http_px_request_body_auth() runs.
 * Authorization: Basic counts only where basic_auth is set (the Segment
 * API's scheme); elsewhere it is as if no key were sent. */
ngx_int_t ngx_http_px_request_auth(ngx_http_request_t *r,
    ngx_uint_t basic_auth, ngx_http_px_key_t **key, ngx_http_px_error_t *err);

/* Once the body is parsed (wholly or in part): for a request that sent no
 * key before its body, the envelope's "api_key", checked as a header key
 * is; ctx->key becomes the real key.  NGX_OK (also for a request that had
 * its key already), or NGX_ERROR with err filled in (401, 403). */
ngx_int_t ngx_http_px_request_body_auth(ngx_http_request_t *r,
    px_batch_t *batch, ngx_http_px_error_t *err);

/* application/json or text/plain; identity or gzip (*gzip set).  NGX_OK,
 * or NGX_ERROR with err filled in (415). */
ngx_int_t ngx_http_px_request_type(ngx_http_request_t *r, ngx_uint_t *gzip,
    ngx_http_px_error_t *err);

/* CORS headers for an allowed Origin (px_cors_origins), on a request.
 * NGX_OK, or NGX_ERROR. */
ngx_int_t ngx_http_px_request_cors(ngx_http_request_t *r);

/* The answer to a preflight (OPTIONS): 204 with the CORS headers for an
 * allowed Origin, 403 for another; its result returned. */
ngx_int_t ngx_http_px_request_preflight(ngx_http_request_t *r);

/* The request header of that (lowercase) name, or NULL. */
ngx_table_elt_t *ngx_http_px_header(ngx_http_request_t *r,
    const char *lowcase_name);

#endif
