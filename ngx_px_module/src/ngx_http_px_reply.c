#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "px_buf.h"
#include "ngx_http_px_reply.h"
#include "ngx_http_px_stats.h"

ngx_int_t
ngx_http_px_send_json(ngx_http_request_t *r, ngx_uint_t status,
    const u_char *body, size_t len)
{
    return ngx_http_px_send_body(r, status, NULL, body, len);
}

ngx_int_t
ngx_http_px_send_body(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, const u_char *body, size_t len)
{
    ngx_int_t    rc;
    ngx_buf_t   *b;
    ngx_chain_t  out;

    if (type == NULL) {
        type = "application/json";
    }

    ngx_http_px_stats_status(status);

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (r->method == NGX_HTTP_HEAD || len == 0) {
        r->header_only = 1;
        r->headers_out.content_length_n = len;
        return ngx_http_send_header(r);
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->pos, body, len);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}

int
ngx_http_px_error_body(px_buf_t *body, const char *code,
    const char *message)
{
    return px_buf_append_str(body, "{\"error\":")
           || px_buf_append_json_str(body, code, ngx_strlen(code))
           || px_buf_append_str(body, ",\"message\":")
           || px_buf_append_json_str(body, message, ngx_strlen(message))
           || px_buf_append_str(body, "}\n");
}

ngx_int_t
ngx_http_px_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    ngx_int_t  rc;
    px_buf_t   body;

    px_buf_init(&body, NULL, 4096);

    if (ngx_http_px_error_body(&body, code, message) != 0) {
        px_buf_free(&body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_px_send_json(r, status, (u_char *) body.data, body.len);
    px_buf_free(&body);
    return rc;
}

ngx_int_t
ngx_http_px_add_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;
    return NGX_OK;
}

ngx_int_t
ngx_http_px_add_header_num(ngx_http_request_t *r, const char *name,
    ngx_int_t value)
{
    ngx_str_t  v;

    v.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (v.data == NULL) {
        return NGX_ERROR;
    }

    v.len = ngx_sprintf(v.data, "%i", value) - v.data;
    return ngx_http_px_add_header(r, name, &v);
}

ngx_int_t
ngx_http_px_fail(ngx_http_px_error_t *err, ngx_uint_t status,
    const char *code, const char *message)
{
    err->status = status;
    err->code = code;
    err->message = message;
    return NGX_ERROR;
}
