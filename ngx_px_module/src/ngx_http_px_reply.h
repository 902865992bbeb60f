/*
 * JSON answers.  Every error body is {"error":"code","message":"..."}.
 */
#ifndef NGX_HTTP_PX_REPLY_H
#define NGX_HTTP_PX_REPLY_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "px_buf.h"

/* An error found on the way, for the caller to send. */
typedef struct {
    ngx_uint_t   status;        /* HTTP status of the error */
    const char  *code;          /* {"error":code, */
    const char  *message;       /*  "message":message} */
    char         buf[160];      /* message storage when not static */
} ngx_http_px_error_t;

/* Record an error in err; returns NGX_ERROR (nonzero), so it can stand in
 * a condition. */
ngx_int_t ngx_http_px_fail(ngx_http_px_error_t *err, ngx_uint_t status,
    const char *code, const char *message);

/* Send status with a JSON body (copied into the request pool).  Returns
 * what the output filter returned, for ngx_http_finalize_request(). */
ngx_int_t ngx_http_px_send_json(ngx_http_request_t *r, ngx_uint_t status,
    const u_char *body, size_t len);

/* The same with another content type (NULL: application/json). */
ngx_int_t ngx_http_px_send_body(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, const u_char *body, size_t len);

/* Append {"error":code,"message":message} and a newline to body: the one
 * spelling of an error body (both are JSON-escaped).  0, or -1 (memory). */
int ngx_http_px_error_body(px_buf_t *body, const char *code,
    const char *message);

/* Send {"error":code,"message":message}; message is JSON-escaped. */
ngx_int_t ngx_http_px_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message);

/* Add a response header; name and value must outlive the request (static
 * strings) or be pool memory. */
ngx_int_t ngx_http_px_add_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);

/* Add a header with a number value. */
ngx_int_t ngx_http_px_add_header_num(ngx_http_request_t *r,
    const char *name, ngx_int_t value);

#endif
