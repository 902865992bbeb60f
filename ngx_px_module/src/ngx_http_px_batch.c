/*
 * POST /api/v1/events/batch: authenticate, read and validate the body,
 * produce one Kafka message per valid event (invalid ones to the DLQ), and
 * answer 202 once the broker has them (px_ack kafka) or once they are
 * queued (px_ack local).  Other intakes (ngx_http_px_intake.h) take the
 * same way with their own body format and answers.
 */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "px_batch.h"
#include "px_message.h"
#include "ngx_http_px_conf.h"
#include "ngx_http_px_module.h"
#include "ngx_http_px_body.h"
#include "ngx_http_px_intake.h"
#include "ngx_http_px_kafka.h"
#include "ngx_http_px_keys.h"
#include "ngx_http_px_quota.h"
#include "ngx_http_px_reply.h"
#include "ngx_http_px_request.h"
#include "ngx_http_px_stats.h"

static void ngx_http_px_batch_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_px_batch_produce(ngx_http_request_t *r,
    ngx_http_px_ctx_t *ctx, px_batch_t *batch, ngx_http_px_error_t *err);
static void ngx_http_px_batch_dead_letter(ngx_http_px_dlq_budget_t *budget,
    px_event_t *ev, int64_t received_ms, px_buf_t *kbuf, px_buf_t *value,
    px_buf_t *dlq);
static ngx_int_t ngx_http_px_batch_reply(ngx_http_request_t *r,
    ngx_http_px_ctx_t *ctx, px_batch_t *batch, ngx_http_px_error_t *err);
static void ngx_http_px_batch_acked(ngx_http_px_ack_t *ack, void *data,
    ngx_uint_t failed);
static void ngx_http_px_batch_timeout(ngx_event_t *ev);
static void ngx_http_px_batch_cleanup(void *data);
static ngx_int_t ngx_http_px_batch_finish(ngx_http_request_t *r,
    ngx_http_px_ctx_t *ctx, ngx_uint_t failed);
static ngx_int_t ngx_http_px_batch_fail(ngx_http_request_t *r,
    ngx_http_px_ctx_t *ctx, ngx_http_px_error_t *err);
static ngx_int_t ngx_http_px_batch_kafka_check(ngx_http_px_loc_conf_t *plcf,
    ngx_http_px_error_t *err);

static ngx_int_t
ngx_http_px_batch_parse(ngx_http_request_t *r, ngx_http_px_loc_conf_t *plcf,
    px_batch_t *batch, ngx_http_px_error_t *err)
{
    ngx_http_px_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_px_module);
    return ngx_http_px_body_parse(r, plcf, ctx->gzip, batch, err);
}

static const ngx_http_px_intake_t  ngx_http_px_batch_intake = {
    ngx_http_px_batch_parse, NULL, ngx_http_px_send_error,
    NGX_HTTP_ACCEPTED, 0, "{"
};

ngx_int_t
ngx_http_px_batch_handler(ngx_http_request_t *r)
{
    return ngx_http_px_intake_handler(r, &ngx_http_px_batch_intake);
}

ngx_int_t
ngx_http_px_intake_handler(ngx_http_request_t *r,
    const ngx_http_px_intake_t *intake)
{
    ngx_int_t                rc;
    ngx_str_t                allow = ngx_string("POST, OPTIONS");
    ngx_http_px_ctx_t       *ctx;
    ngx_http_px_error_t      err;
    ngx_http_px_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_px_module);

    if (r->method == NGX_HTTP_OPTIONS) {
        return ngx_http_px_request_preflight(r);
    }

    if (r->method != NGX_HTTP_POST) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        if (ngx_http_px_add_header(r, "Allow", &allow) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        return intake->send_error(r, NGX_HTTP_NOT_ALLOWED,
                                  "method_not_allowed",
                                  "use POST for event batches");
    }

    if (ngx_http_px_request_cors(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_px_stats_add(NGX_HTTP_PX_STAT_REQUESTS, 1);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_px_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ngx_http_set_ctx(r, ctx, ngx_http_px_module);
    ctx->intake = intake;

    /* refuse before reading a body that would be thrown away */
    if (ngx_http_px_request_auth(r, intake->basic_auth, &ctx->key, &err) != NGX_OK
        || ngx_http_px_request_type(r, &ctx->gzip, &err) != NGX_OK
        || (r->headers_in.content_length_n > (off_t) plcf->max_body
            && ngx_http_px_fail(&err, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                "body_too_large",
                                "the body is over the size limit"))
        || ngx_http_px_batch_kafka_check(plcf, &err) != NGX_OK
        || ngx_http_px_quota_check(r, ctx, &err) != NGX_OK)
    {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        return ngx_http_px_batch_fail(r, ctx, &err);
    }

    r->request_body_in_single_buf = 0;

    rc = ngx_http_read_client_request_body(r, ngx_http_px_batch_body_handler);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}

static void
ngx_http_px_batch_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    px_batch_t                batch;
    ngx_http_px_ctx_t        *ctx;
    ngx_http_px_error_t       err;
    ngx_http_px_loc_conf_t   *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_px_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_px_module);

    if (ctx->intake->parse(r, plcf, &batch, &err) != NGX_OK) {
        px_batch_free(&batch);
        ngx_http_finalize_request(r, ctx->intake->send_error(r, err.status,
                                                   err.code, err.message));
        return;
    }

    ngx_http_px_stats_add(NGX_HTTP_PX_STAT_RECEIVED, batch.nevents);

    if (ngx_http_px_quota_take(r, ctx, batch.nevents - batch.nrejected, &err)
        != NGX_OK)
    {
        px_batch_free(&batch);
        ngx_http_finalize_request(r, ngx_http_px_batch_fail(r, ctx, &err));
        return;
    }

    /* one answer per request: the steps below only record an error, and
     * it is sent here, once */
    rc = ngx_http_px_batch_produce(r, ctx, &batch, &err);
    if (rc == NGX_OK) {
        rc = ngx_http_px_batch_reply(r, ctx, &batch, &err);
    }
    px_batch_free(&batch);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, ngx_http_px_batch_fail(r, ctx, &err));
        return;
    }

    if (plcf->ack == NGX_HTTP_PX_ACK_LOCAL) {
        ngx_http_px_ack_detach(ctx->ack);
        ctx->ack = NULL;
        ngx_http_finalize_request(r, ngx_http_px_batch_finish(r, ctx, 0));
        return;
    }

    {
        ngx_uint_t          failed;
        ngx_pool_cleanup_t *cln;

        if (ngx_http_px_ack_seal(ctx->ack, &failed) == NGX_OK) {
            ctx->ack = NULL;
            ngx_http_finalize_request(r,
                                      ngx_http_px_batch_finish(r, ctx, failed));
            return;
        }

        /* wait, suspended, for the delivery reports */
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            (void) ngx_http_px_fail(&err, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                    "internal_error", "out of memory");
            ngx_http_finalize_request(r, ngx_http_px_batch_fail(r, ctx, &err));
            return;
        }
        cln->handler = ngx_http_px_batch_cleanup;
        cln->data = ctx;

        ctx->timeout.handler = ngx_http_px_batch_timeout;
        ctx->timeout.data = r;
        ctx->timeout.log = r->connection->log;
        ngx_add_timer(&ctx->timeout, plcf->ack_timeout);
    }
}

/*
 * Produce the batch: each valid event to the raw topic under the request's
 * ack, each rejected one to the DLQ outside it.  NGX_OK, or NGX_ERROR with
 * the answer to send in err; on error the ack is left for
 * ngx_http_px_batch_fail() to detach.  Sends nothing itself.
 */
static ngx_int_t
ngx_http_px_batch_produce(ngx_http_request_t *r, ngx_http_px_ctx_t *ctx,
    px_batch_t *batch, ngx_http_px_error_t *err)
{
    size_t                     i;
    ngx_int_t                  rc;
    px_buf_t                   value, kbuf, dlq;
    px_event_t                *ev;
    px_server_info_t           srv, esrv;
    ngx_http_px_key_t         *key;
    ngx_http_px_loc_conf_t    *plcf;
    ngx_http_px_dlq_budget_t   budget;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_px_module);
    key = ctx->key;

    ngx_http_px_stats_add(NGX_HTTP_PX_STAT_REJECTED, batch->nrejected);

    ctx->ack = ngx_http_px_ack_create(ngx_http_px_batch_acked, r);
    if (ctx->ack == NULL) {
        return ngx_http_px_fail(err, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                "internal_error", "out of memory");
    }

    srv.project_id = (const char *) key->project.data;
    srv.project_id_len = key->project.len;
    srv.received_ms = (int64_t) r->start_sec * 1000 + r->start_msec;
    srv.ip = (const char *) r->connection->addr_text.data;
    srv.ip_len = r->connection->addr_text.len;
    srv.user_agent = r->headers_in.user_agent
                     ? (const char *) r->headers_in.user_agent->value.data
                     : "";
    srv.user_agent_len = r->headers_in.user_agent
                         ? r->headers_in.user_agent->value.len : 0;

    budget.count = plcf->dlq_max_events;
    budget.bytes = plcf->dlq_max_bytes;

    px_buf_init(&value, NULL, 0);
    px_buf_init(&kbuf, NULL, 0);
    px_buf_init(&dlq, NULL, 0);
    rc = NGX_OK;

    for (i = 0; i < batch->nevents; i++) {
        ev = &batch->events[i];
        value.len = 0;
        kbuf.len = 0;

        esrv = srv;
        if (ctx->intake->event_server != NULL) {
            ctx->intake->event_server(r, i, &esrv);
        }

        if (px_message_value(batch, ev, &esrv, &value) != 0
            || px_message_key(batch, ev, &esrv, &kbuf) != 0)
        {
            rc = ngx_http_px_fail(err, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                  "internal_error", "out of memory");
            break;
        }

        if (ev->error != NULL) {
            ngx_http_px_stats_reason(ev->error);
            ngx_http_px_batch_dead_letter(&budget, ev, srv.received_ms, &kbuf,
                                          &value, &dlq);
            continue;
        }

        rc = ngx_http_px_kafka_produce(ctx->ack, NGX_HTTP_PX_TOPIC_RAW,
                                       kbuf.data, kbuf.len, value.data,
                                       value.len);
        if (rc == NGX_OK) {
            ctx->accepted++;
            continue;
        }

        rc = ngx_http_px_fail(err, NGX_HTTP_SERVICE_UNAVAILABLE,
                              "kafka_unavailable",
                              rc == NGX_BUSY ? "the Kafka queue is full"
                                             : "Kafka refused the events");
        break;
    }

    px_buf_free(&value);
    px_buf_free(&kbuf);
    px_buf_free(&dlq);

    return rc;
}

/*
 * A rejected event goes to the DLQ with no ack: its delivery never holds up
 * or fails the request (the reject is in the answer either way), and a
 * request's dead letters are capped in count and bytes; what is over the
 * cap is counted and dropped.
 */
static void
ngx_http_px_batch_dead_letter(ngx_http_px_dlq_budget_t *budget,
    px_event_t *ev, int64_t received_ms, px_buf_t *kbuf, px_buf_t *value,
    px_buf_t *dlq)
{
    dlq->len = 0;

    if (budget->count == 0) {
        ngx_http_px_stats_add(NGX_HTTP_PX_STAT_DLQ_DROPPED, 1);
        return;
    }

    if (px_message_dead_letter(ev->error, "ingest", received_ms, value->data,
                               value->len, 1, dlq) != 0
        || dlq->len > budget->bytes)
    {
        ngx_http_px_stats_add(NGX_HTTP_PX_STAT_DLQ_DROPPED, 1);
        return;
    }

    if (ngx_http_px_kafka_produce(NULL, NGX_HTTP_PX_TOPIC_DLQ, kbuf->data,
                                  kbuf->len, dlq->data, dlq->len) != NGX_OK)
    {
        ngx_http_px_stats_add(NGX_HTTP_PX_STAT_DLQ_DROPPED, 1);
        return;
    }

    budget->count--;
    budget->bytes -= dlq->len;
    ngx_http_px_stats_add(NGX_HTTP_PX_STAT_DEAD_LETTERED, 1);
}

/* {"accepted":N,"rejected":[{"index":i,"event_id":…,"error":…}]} */
static ngx_int_t
ngx_http_px_batch_reply(ngx_http_request_t *r, ngx_http_px_ctx_t *ctx,
    px_batch_t *batch, ngx_http_px_error_t *err)
{
    size_t       i, n;
    px_buf_t     out;
    px_event_t  *ev;

    px_buf_init(&out, NULL, 0);

    if (px_buf_append_str(&out, ctx->intake->reply_head)
        || px_buf_append_str(&out, "\"accepted\":")
        || px_buf_append_i64(&out, (int64_t) ctx->accepted)
        || px_buf_append_str(&out, ",\"rejected\":["))
    {
        goto nomem;
    }

    for (i = 0, n = 0; i < batch->nevents; i++) {
        ev = &batch->events[i];
        if (ev->error == NULL) {
            continue;
        }

        if ((n++ > 0 && px_buf_append_str(&out, ","))
            || px_buf_append_str(&out, "{\"index\":")
            || px_buf_append_i64(&out, (int64_t) i)
            || px_buf_append_str(&out, ",\"event_id\":")
            || (ev->event_id[0] != '\0'
                ? px_buf_append_json_str(&out, ev->event_id,
                                         ngx_strlen(ev->event_id))
                : px_buf_append_str(&out, "null"))
            || px_buf_append_str(&out, ",\"error\":")
            || px_buf_append_json_str(&out, ev->error, ngx_strlen(ev->error))
            || px_buf_append_str(&out, "}"))
        {
            goto nomem;
        }
    }

    if (px_buf_append_str(&out, "]}\n")) {
        goto nomem;
    }

    ctx->reply.data = ngx_pnalloc(r->pool, out.len);
    if (ctx->reply.data == NULL) {
        goto nomem;
    }
    ctx->reply.len = out.len;
    ngx_memcpy(ctx->reply.data, out.data, out.len);
    px_buf_free(&out);
    return NGX_OK;

nomem:

    px_buf_free(&out);
    return ngx_http_px_fail(err, NGX_HTTP_INTERNAL_SERVER_ERROR,
                            "internal_error", "out of memory");
}

/* The answer once the broker has spoken (or at once with px_ack local). */
static ngx_int_t
ngx_http_px_batch_finish(ngx_http_request_t *r, ngx_http_px_ctx_t *ctx,
    ngx_uint_t failed)
{
    ngx_time_t           *tp;
    ngx_http_px_error_t   err;

    tp = ngx_timeofday();
    ngx_http_px_stats_latency((ngx_msec_t) ((tp->sec - r->start_sec) * 1000
                                            + tp->msec - r->start_msec));

    if (failed) {
        (void) ngx_http_px_fail(&err, NGX_HTTP_SERVICE_UNAVAILABLE,
                                "kafka_unavailable",
                                "Kafka did not confirm the events");
        return ngx_http_px_batch_fail(r, ctx, &err);
    }

    ngx_http_px_stats_add(NGX_HTTP_PX_STAT_ACCEPTED, ctx->accepted);
    return ngx_http_px_send_json(r, ctx->intake->status, ctx->reply.data,
                                 ctx->reply.len);
}

/*
 * Whether Kafka can take the batch at all, asked before the body is read:
 * no producer, or (px_ack kafka) no broker up, is a 503 at once rather than
 * after px_ack_timeout.  px_ack local queues whatever the brokers do.
 */
static ngx_int_t
ngx_http_px_batch_kafka_check(ngx_http_px_loc_conf_t *plcf,
    ngx_http_px_error_t *err)
{
    if (!ngx_http_px_kafka_ready()) {
        return ngx_http_px_fail(err, NGX_HTTP_SERVICE_UNAVAILABLE,
                                "kafka_unavailable", "no Kafka producer");
    }

    if (plcf->ack == NGX_HTTP_PX_ACK_KAFKA && ngx_http_px_kafka_unreachable())
    {
        return ngx_http_px_fail(err, NGX_HTTP_SERVICE_UNAVAILABLE,
                                "kafka_unavailable",
                                "no Kafka broker is reachable");
    }

    return NGX_OK;
}

/*
 * The one error answer of a request: its ack, if any, is detached (what
 * was queued may still be delivered; the client's retry carries the same
 * event_ids and is deduped), nothing counts as accepted and the quota it
 * took is given back.  A 503 says when to retry.
 */
static ngx_int_t
ngx_http_px_batch_fail(ngx_http_request_t *r, ngx_http_px_ctx_t *ctx,
    ngx_http_px_error_t *err)
{
    if (ctx->ack != NULL) {
        ngx_http_px_ack_detach(ctx->ack);
        ctx->ack = NULL;
    }
    ctx->accepted = 0;
    ngx_http_px_quota_refund(r, ctx);

    if (err->status == NGX_HTTP_SERVICE_UNAVAILABLE
        && ngx_http_px_add_header_num(r, "Retry-After",
                                      ngx_http_px_kafka_retry_after())
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ctx->intake->send_error(r, err->status, err->code, err->message);
}

static void
ngx_http_px_batch_acked(ngx_http_px_ack_t *ack, void *data,
    ngx_uint_t failed)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r = data;
    ngx_http_px_ctx_t   *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_px_module);
    ctx->ack = NULL;  /* freed by the caller when this returns */

    if (ctx->timeout.timer_set) {
        ngx_del_timer(&ctx->timeout);
    }

    c = r->connection;
    ngx_http_finalize_request(r, ngx_http_px_batch_finish(r, ctx, failed));
    ngx_http_run_posted_requests(c);
}

static void
ngx_http_px_batch_timeout(ngx_event_t *ev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r = ev->data;
    ngx_http_px_ctx_t   *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_px_module);
    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "px: kafka did not acknowledge %ui events in time",
                  ctx->accepted);

    if (ctx->ack != NULL) {
        ngx_http_px_ack_detach(ctx->ack);
        ctx->ack = NULL;
    }

    c = r->connection;
    ngx_http_finalize_request(r, ngx_http_px_batch_finish(r, ctx, 1));
    ngx_http_run_posted_requests(c);
}

/* The request's pool is going away: forget the ack, stop the timer. */
static void
ngx_http_px_batch_cleanup(void *data)
{
    ngx_http_px_ctx_t  *ctx = data;

    if (ctx->timeout.timer_set) {
        ngx_del_timer(&ctx->timeout);
    }

    if (ctx->ack != NULL) {
        ngx_http_px_ack_detach(ctx->ack);
        ctx->ack = NULL;
    }
}
