/*
 * Errors that nginx answers by itself before or while the body is read
 * (413 past client_max_body_size, 408 on a stalled body, 400 on broken
 * chunking, 500...) come as its HTML pages.  In px locations these filters
 * turn them into the API's JSON: {"error":"code","message":"..."}.
 */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "px_buf.h"
#include "ngx_http_px_conf.h"
#include "ngx_http_px_module.h"
#include "ngx_http_px_reply.h"

static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;

static const char *
ngx_http_px_errors_code(ngx_uint_t status)
{
    switch (status) {
    case NGX_HTTP_BAD_REQUEST:                return "bad_request";
    case NGX_HTTP_REQUEST_TIME_OUT:           return "request_timeout";
    case NGX_HTTP_LENGTH_REQUIRED:            return "length_required";
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:   return "body_too_large";
    case NGX_HTTP_REQUEST_URI_TOO_LARGE:      return "uri_too_long";
    case NGX_HTTP_REQUEST_HEADER_TOO_LARGE:   return "headers_too_large";
    case NGX_HTTP_NOT_ALLOWED:                return "method_not_allowed";
    case NGX_HTTP_FORBIDDEN:                  return "forbidden";
    case NGX_HTTP_NOT_FOUND:                  return "not_found";
    case NGX_HTTP_TOO_MANY_REQUESTS:          return "too_many_requests";
    case NGX_HTTP_SERVICE_UNAVAILABLE:        return "unavailable";
    default:                                  return status >= 500
                                                     ? "internal_error"
                                                     : "bad_request";
    }
}

static ngx_int_t
ngx_http_px_errors_header_filter(ngx_http_request_t *r)
{
    u_char                  *p;
    u_char                   message[64];
    px_buf_t                 body;
    const char              *code;
    ngx_buf_t               *b;
    ngx_http_px_ctx_t       *ctx;
    ngx_http_px_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_px_module);

    /* nginx's own pages are the only text/html answers of px locations */
    if (!plcf->json_errors || r != r->main
        || r->headers_out.status < NGX_HTTP_BAD_REQUEST
        || r->headers_out.content_type.len < 9
        || ngx_strncmp(r->headers_out.content_type.data, "text/html", 9) != 0)
    {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_px_module);
    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_px_ctx_t));
        if (ctx == NULL) {
            return NGX_ERROR;
        }
        ngx_http_set_ctx(r, ctx, ngx_http_px_module);
    }

    code = ngx_http_px_errors_code(r->headers_out.status);
    p = ngx_snprintf(message, sizeof(message) - 1,
                     "nginx answered %ui before the request reached PX",
                     r->headers_out.status);
    *p = '\0';
    px_buf_init(&body, NULL, 1024);

    if (ngx_http_px_error_body(&body, code, (const char *) message) != 0) {
        px_buf_free(&body);
        return NGX_ERROR;
    }

    b = ngx_create_temp_buf(r->pool, body.len);
    if (b == NULL) {
        px_buf_free(&body);
        return NGX_ERROR;
    }

    p = ngx_cpymem(b->pos, body.data, body.len);
    b->last = p;
    b->last_buf = 1;
    b->last_in_chain = 1;
    px_buf_free(&body);

    ctx->error_page = b;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = b->last - b->pos;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    return ngx_http_next_header_filter(r);
}

static ngx_int_t
ngx_http_px_errors_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_uint_t          last;
    ngx_chain_t        *cl, out;
    ngx_http_px_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_px_module);
    if (ctx == NULL || ctx->error_page == NULL || in == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    /* swallow nginx's page, send ours once its last buffer comes */
    last = 0;
    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
        if (cl->buf->last_buf) {
            last = 1;
        }
    }

    if (!last) {
        return NGX_OK;
    }

    out.buf = ctx->error_page;
    out.next = NULL;
    ctx->error_page = NULL;

    return ngx_http_next_body_filter(r, &out);
}

ngx_int_t
ngx_http_px_errors_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_px_errors_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_px_errors_body_filter;

    return NGX_OK;
}
