/*
 * Segment's HTTP Tracking API (POST /v1/batch, /v1/track, /v1/page,
 * /v1/screen, /v1/identify, /v1/group, /v1/alias; /v1/import as batch), so
 * that Segment's and RudderStack's open-source clients send to PX by
 * changing only their host.  An intake (ngx_http_px_intake.h): the body is
 * read as the batch API's is (gzip, limits), translated into a PX batch
 * (libpx/px_segment.c) and goes the batch API's way from there.  The
 * answers are Segment's: 200 {"success":true,...} once Kafka has the
 * events, errors as {"success":false,"code":…,"message":…} (the clients
 * read "code" and "message").
 */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "px_segment.h"
#include "ngx_http_px_module.h"
#include "ngx_http_px_body.h"
#include "ngx_http_px_intake.h"
#include "ngx_http_px_keys.h"
#include "ngx_http_px_reply.h"
#include "ngx_http_px_request.h"

#define NGX_HTTP_PX_SEGMENT_CALL_MAX  16

static ngx_int_t ngx_http_px_segment_parse(ngx_http_request_t *r,
    ngx_http_px_loc_conf_t *plcf, px_batch_t *batch,
    ngx_http_px_error_t *err);
static void ngx_http_px_segment_event_server(ngx_http_request_t *r,
    size_t i, px_server_info_t *srv);
static ngx_int_t ngx_http_px_segment_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *message);

static const ngx_http_px_intake_t  ngx_http_px_segment_intake = {
    ngx_http_px_segment_parse,
    ngx_http_px_segment_event_server,
    ngx_http_px_segment_send_error,
    NGX_HTTP_OK,
    1,
    "{\"success\":true,"
};

/* The call is the URI's last segment: /v1/track -> "track". */
static ngx_int_t
ngx_http_px_segment_call(ngx_http_request_t *r, char *call)
{
    u_char  *p, *end;

    end = r->uri.data + r->uri.len;
    p = end;
    while (p > r->uri.data && p[-1] != '/') {
        p--;
    }

    if ((size_t) (end - p) >= NGX_HTTP_PX_SEGMENT_CALL_MAX
        || !px_segment_call_known((const char *) p, end - p))
    {
        return NGX_DECLINED;
    }

    ngx_memcpy(call, p, end - p);
    call[end - p] = '\0';
    return NGX_OK;
}

ngx_int_t
ngx_http_px_segment_handler(ngx_http_request_t *r)
{
    char  call[NGX_HTTP_PX_SEGMENT_CALL_MAX];

    if (ngx_http_px_segment_call(r, call) != NGX_OK) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        return ngx_http_px_segment_send_error(r, NGX_HTTP_NOT_FOUND,
                                              "not_found",
                                              "not a Segment API call: use "
                                              "/v1/batch, /v1/track, ...");
    }

    return ngx_http_px_intake_handler(r, &ngx_http_px_segment_intake);
}

/* The body is gathered whole: the translation needs all of it. */
static px_batch_status_t
ngx_http_px_segment_gather(void *data, const void *p, size_t len)
{
    return px_buf_append(data, p, len) == 0 ? PX_BATCH_OK
                                            : PX_BATCH_ERR_NOMEM;
}

static px_batch_status_t
ngx_http_px_segment_gathered(void *data)
{
    (void) data;
    return PX_BATCH_OK;
}

static const char *
ngx_http_px_segment_gather_error(void *data)
{
    (void) data;
    return "out of memory";
}

static void
ngx_http_px_segment_cleanup(void *data)
{
    px_segment_free(data);
}

static ngx_int_t
ngx_http_px_segment_batch_fail(ngx_http_px_error_t *err,
    px_batch_status_t st, const char *msg)
{
    ngx_uint_t  status;

    status = st == PX_BATCH_ERR_TOO_MANY ? NGX_HTTP_REQUEST_ENTITY_TOO_LARGE
             : st == PX_BATCH_ERR_NOMEM ? NGX_HTTP_INTERNAL_SERVER_ERROR
             : NGX_HTTP_BAD_REQUEST;

    ngx_cpystrn((u_char *) err->buf, (u_char *) msg, sizeof(err->buf));
    return ngx_http_px_fail(err, status, px_batch_status_code(st), err->buf);
}

/*
 * The body, at most px_segment_max_batch_size once inflated, into a PX
 * batch: translated, then parsed by the batch parser with the location's
 * limits but Segment's for one event; the translation's own rejects
 * (invalid_type, missing_user_id, ...) marked on their events.
 */
static ngx_int_t
ngx_http_px_segment_parse(ngx_http_request_t *r,
    ngx_http_px_loc_conf_t *plcf, px_batch_t *batch, ngx_http_px_error_t *err)
{
    char                     call[NGX_HTTP_PX_SEGMENT_CALL_MAX], msg[160];
    size_t                   i;
    px_buf_t                 body;
    ngx_int_t                rc;
    px_limits_t              lim;
    px_segment_t            *seg;
    px_batch_status_t        st;
    ngx_http_px_ctx_t       *ctx;
    ngx_pool_cleanup_t      *cln;
    ngx_http_px_loc_conf_t   lcf;
    ngx_http_px_body_sink_t  sink;

    ngx_memzero(batch, sizeof(*batch));
    ctx = ngx_http_get_module_ctx(r, ngx_http_px_module);

    cln = ngx_pool_cleanup_add(r->pool, sizeof(px_segment_t));
    if (cln == NULL || ngx_http_px_segment_call(r, call) != NGX_OK) {
        return ngx_http_px_fail(err, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                "internal_error", "out of memory");
    }
    seg = cln->data;
    ngx_memzero(seg, sizeof(px_segment_t));
    cln->handler = ngx_http_px_segment_cleanup;
    ctx->intake_data = seg;

    lcf = *plcf;
    lcf.max_inflated = ngx_min(plcf->max_inflated, plcf->segment_max_batch);

    px_buf_init(&body, NULL, 0);
    sink.feed = ngx_http_px_segment_gather;
    sink.finish = ngx_http_px_segment_gathered;
    sink.message = ngx_http_px_segment_gather_error;
    sink.data = &body;

    rc = ngx_http_px_body_read(r, &lcf, ctx->gzip, &sink, err);

    if (rc == NGX_OK) {
        st = px_segment_translate(body.data != NULL ? body.data : "",
                                  body.len, call, plcf->max_depth, NULL, seg,
                                  msg, sizeof(msg));
        if (st != PX_BATCH_OK) {
            rc = ngx_http_px_segment_batch_fail(err, st, msg);
        }
    }
    px_buf_free(&body);

    if (rc == NGX_OK) {
        lim = plcf->limits;
        lim.max_event_bytes = plcf->segment_max_event;
        /* a single call's body is one level less deep than its batch,
         * and group's traits go one level down */
        lim.max_depth = ngx_min(plcf->max_depth + 2, PX_LIMIT_DEPTH_MAX);

        st = px_batch_parse(&lim, NULL, seg->out.data, seg->out.len, batch,
                            msg, sizeof(msg));
        if (st != PX_BATCH_OK) {
            rc = ngx_http_px_segment_batch_fail(err, st, msg);
        }
    }

    if (rc == NGX_OK) {
        for (i = 0; i < batch->nevents && i < seg->nevents; i++) {
            if (seg->events[i].error == NULL) {
                continue;
            }
            if (batch->events[i].error == NULL) {
                batch->nrejected++;
            }
            batch->events[i].error = seg->events[i].error;
        }
    }

    /* as for the batch API: a key in the body ("writeKey") answers first */
    if (rc == NGX_OK || err->status != NGX_HTTP_INTERNAL_SERVER_ERROR) {
        if (ngx_http_px_request_body_auth(r, batch, err) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return rc;
}

/* The call's context.userAgent is the user's (the HTTP one is the
 * library's); its context.ip is taken from a server's key only (a browser
 * key is public: anyone could claim any address with it). */
static void
ngx_http_px_segment_event_server(ngx_http_request_t *r, size_t i,
    px_server_info_t *srv)
{
    px_segment_t        *seg;
    ngx_http_px_ctx_t   *ctx;
    px_segment_event_t  *se;

    ctx = ngx_http_get_module_ctx(r, ngx_http_px_module);
    seg = ctx->intake_data;

    if (seg == NULL || i >= seg->nevents) {
        return;
    }
    se = &seg->events[i];

    if (se->ua_len != 0) {
        srv->user_agent = seg->strs.data + se->ua_off;
        srv->user_agent_len = se->ua_len;
    }

    if (se->ip_len != 0 && ctx->key->origins.nelts == 0) {
        srv->ip = seg->strs.data + se->ip_off;
        srv->ip_len = se->ip_len;
    }
}

/* {"success":false,"code":"…","message":"…"} */
static ngx_int_t
ngx_http_px_segment_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    ngx_int_t  rc;
    px_buf_t   out;

    px_buf_init(&out, NULL, 0);

    if (px_buf_append_str(&out, "{\"success\":false,\"code\":")
        || px_buf_append_json_str(&out, code, ngx_strlen(code))
        || px_buf_append_str(&out, ",\"message\":")
        || px_buf_append_json_str(&out, message, ngx_strlen(message))
        || px_buf_append_str(&out, "}\n"))
    {
        px_buf_free(&out);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_px_send_json(r, status, (u_char *) out.data, out.len);
    px_buf_free(&out);
    return rc;
}
