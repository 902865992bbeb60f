/*
 * The per-worker Kafka producer, driven by nginx's event loop: librdkafka
 * writes a byte to a pipe when its main queue becomes non-empty, an nginx
 * read event on the other end serves the queue (delivery reports, logs,
 * statistics) on the nginx thread, and a cancelable timer does the same
 * as a back-up.  Nothing blocks and nothing spins on the request path.
 *
 * A request's messages share one ack: heap memory owned by this file, never
 * by the request, so a delivery report that arrives after the request is
 * gone touches nothing freed.
 */
#ifndef NGX_HTTP_PX_KAFKA_H
#define NGX_HTTP_PX_KAFKA_H

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_px_conf.h"
#include "ngx_http_px_module.h"


/* Called once every message of a sealed ack has a delivery report; the ack
 * is freed when this returns, so the callee must forget it. */
typedef void (*ngx_http_px_ack_done_pt)(ngx_http_px_ack_t *ack, void *data,
    ngx_uint_t failed);

typedef enum {
    NGX_HTTP_PX_TOPIC_RAW = 0,
    NGX_HTTP_PX_TOPIC_DLQ
} ngx_http_px_topic_t;

/* Check one librdkafka property at config time, so nginx -t rejects a bad
 * px_kafka_property naming its line.  NGX_OK, or NGX_ERROR with the
 * reason in err. */
ngx_int_t ngx_http_px_kafka_check_property(ngx_str_t *name,
    ngx_str_t *value, char *err, size_t errlen);

ngx_int_t ngx_http_px_kafka_init_process(ngx_cycle_t *cycle,
    ngx_http_px_main_conf_t *pmcf);
/* Flush what is queued, within timeout, and free everything. */
void ngx_http_px_kafka_exit_process(ngx_cycle_t *cycle, ngx_msec_t timeout);

/* 1 when this worker has a producer. */
ngx_uint_t ngx_http_px_kafka_ready(void);

/* Brokers this worker's producer sees up (from librdkafka statistics). */
ngx_uint_t ngx_http_px_kafka_brokers_up(void);

/* 1 when no broker is up and this request should be refused at once (one
 * request a second is let through to make the producer reconnect). */
ngx_uint_t ngx_http_px_kafka_unreachable(void);

/* Retry-After seconds for a 503: grows with the outage, with jitter. */
ngx_uint_t ngx_http_px_kafka_retry_after(void);

/* Messages of this worker not yet reported delivered or failed. */
ngx_uint_t ngx_http_px_kafka_in_flight(void);

ngx_http_px_ack_t *ngx_http_px_ack_create(ngx_http_px_ack_done_pt done,
    void *data);

/* Enqueue one message (copied), under ack or, with NULL, under none (its
 * delivery is only counted).  NGX_OK, NGX_BUSY when the local queue is
 * full, NGX_ERROR on any other error. */
ngx_int_t ngx_http_px_kafka_produce(ngx_http_px_ack_t *ack,
    ngx_http_px_topic_t topic, const void *key, size_t key_len,
    const void *value, size_t value_len);

/* No more messages for this ack.  NGX_OK when every one was already
 * reported (*failed set; the ack is freed, done is not called), NGX_AGAIN
 * when done will be called later. */
ngx_int_t ngx_http_px_ack_seal(ngx_http_px_ack_t *ack, ngx_uint_t *failed);

/* The request is gone: never call done; free the ack once its messages
 * are reported. */
void ngx_http_px_ack_detach(ngx_http_px_ack_t *ack);

#endif
