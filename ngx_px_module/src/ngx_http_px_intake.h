/*
 * An intake: an HTTP API whose requests go the batch API's way (key,
 * limits, body, quota, one Kafka message per valid event, dead letters,
 * the answer only after Kafka, exactly one answer) but that reads its own
 * body format and answers in its own shape.  The batch API
 * (ngx_http_px_batch.c) is one; the Segment API (ngx_http_px_segment.c)
 * another.
 */
#ifndef NGX_HTTP_PX_INTAKE_H
#define NGX_HTTP_PX_INTAKE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "px_batch.h"
#include "px_message.h"
#include "ngx_http_px_module.h"
#include "ngx_http_px_reply.h"

struct ngx_http_px_intake_s {
    /* The body into batch, a key in the body checked
     * (ngx_http_px_request_body_auth()).  NGX_OK, or NGX_ERROR with err. */
    ngx_int_t   (*parse)(ngx_http_request_t *r, ngx_http_px_loc_conf_t *plcf,
                         px_batch_t *batch, ngx_http_px_error_t *err);

    /* What the server says of event i, when the body may say it (NULL:
     * the request's address and User-Agent for all). */
    void        (*event_server)(ngx_http_request_t *r, size_t i,
                                px_server_info_t *srv);

    /* An error answer in the API's shape. */
    ngx_int_t   (*send_error)(ngx_http_request_t *r, ngx_uint_t status,
                              const char *code, const char *message);

    ngx_uint_t    status;       /* of the answer once Kafka has the events */
    ngx_uint_t    basic_auth;   /* the key may come as Authorization: Basic */
    const char   *reply_head;   /* the answer's members before "accepted" */
};

/* The content handler of an intake's location. */
ngx_int_t ngx_http_px_intake_handler(ngx_http_request_t *r,
    const ngx_http_px_intake_t *intake);

#endif
