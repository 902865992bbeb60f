#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dlq.h"
#include "log.h"
#include "px_buf.h"
#include "px_message.h"

/* Both worker threads send dead letters: the lock guards buf and the
 * counters (librdkafka itself is thread-safe). */
struct px_dlq_s {
    rd_kafka_t       *rk;
    rd_kafka_topic_t *rkt;
    pthread_mutex_t   lock;
    unsigned long     sent;
    unsigned long     failed;       /* delivery failures since last flush */
    px_buf_t          buf;
};

static void
px_dlq_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    px_dlq_t  *d = opaque;

    (void) rk;

    if (msg->err) {
        pthread_mutex_lock(&d->lock);
        d->failed++;
        pthread_mutex_unlock(&d->lock);
        px_log(PX_LOG_ERROR, "dlq", "dead letter not delivered: %s",
               rd_kafka_err2str(msg->err));
    }
}

px_dlq_t *
px_dlq_new(const char *brokers, const char *topic, char *err, size_t errlen)
{
    px_dlq_t         *d;
    rd_kafka_conf_t  *conf;

    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    px_buf_init(&d->buf, NULL, 0);
    pthread_mutex_init(&d->lock, NULL);

    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, errlen)
        || rd_kafka_conf_set(conf, "acks", "all", err, errlen)
        || rd_kafka_conf_set(conf, "enable.idempotence", "true", err, errlen)
        || rd_kafka_conf_set(conf, "client.id", "px-worker-dlq", err, errlen))
    {
        rd_kafka_conf_destroy(conf);
        free(d);
        return NULL;
    }

    rd_kafka_conf_set_opaque(conf, d);
    rd_kafka_conf_set_dr_msg_cb(conf, px_dlq_dr_cb);

    d->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (d->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        free(d);
        return NULL;
    }
    /* conf is now owned by rk */

    d->rkt = rd_kafka_topic_new(d->rk, topic, NULL);
    if (d->rkt == NULL) {
        snprintf(err, errlen, "topic %s: %s", topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        rd_kafka_destroy(d->rk);
        free(d);
        return NULL;
    }

    return d;
}

void
px_dlq_free(px_dlq_t *d)
{
    if (d == NULL) {
        return;
    }

    (void) px_dlq_flush(d, 5000);
    rd_kafka_topic_destroy(d->rkt);
    rd_kafka_destroy(d->rk);
    px_buf_free(&d->buf);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

int
px_dlq_send(px_dlq_t *d, const char *reason, const void *key,
    size_t key_len, const char *payload, size_t len, int payload_is_json)
{
    int              rc;
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    pthread_mutex_lock(&d->lock);
    d->buf.len = 0;
    rc = px_message_dead_letter(reason, "worker",
                                (int64_t) ts.tv_sec * 1000
                                + ts.tv_nsec / 1000000,
                                payload, len, payload_is_json, &d->buf);

    /* blocks only while librdkafka's own queue is full */
    while (rc == 0
           && rd_kafka_produce(d->rkt, RD_KAFKA_PARTITION_UA,
                               RD_KAFKA_MSG_F_COPY, d->buf.data, d->buf.len,
                               key, key_len, NULL) == -1)
    {
        if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            px_log(PX_LOG_ERROR, "dlq", "produce failed: %s",
                   rd_kafka_err2str(rd_kafka_last_error()));
            rc = -1;
            break;
        }
        rd_kafka_poll(d->rk, 100);
    }

    if (rc == 0) {
        d->sent++;
    }
    pthread_mutex_unlock(&d->lock);

    rd_kafka_poll(d->rk, 0);
    return rc;
}

int
px_dlq_flush(px_dlq_t *d, int timeout_ms)
{
    int  rc;

    rc = rd_kafka_flush(d->rk, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR
         ? 0 : -1;

    pthread_mutex_lock(&d->lock);
    if (d->failed != 0) {
        rc = -1;
        d->failed = 0;
    }
    pthread_mutex_unlock(&d->lock);

    return rc;
}

unsigned long
px_dlq_sent(const px_dlq_t *d)
{
    return d->sent;
}
