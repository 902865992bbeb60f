#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dlq.h"
#include "log.h"
#include "monotonic.h"
#include "px_buf.h"
#include "px_message.h"

typedef enum {
    PX_DL_UNSENT = 0,       /* not produced yet, or produce() failed */
    PX_DL_IN_FLIGHT,        /* produced, no delivery report yet */
    PX_DL_DELIVERED,        /* acknowledged by Kafka */
    PX_DL_FAILED            /* delivery failed: send it again */
} px_dl_state_t;

struct px_dead_letter_s {
    char                 *msg;
    size_t                len;
    char                 *key;
    size_t                key_len;
    px_dl_state_t         state;
    int                   orphan;   /* batch gone: the report frees it */
    rd_kafka_resp_err_t   error;    /* of the last failed attempt */
};

/* Both worker threads send dead letters and serve delivery reports: the
 * lock guards the state of every dead letter and the counter (librdkafka
 * itself is thread-safe).  Never held across a librdkafka call that may
 * serve a delivery report. */
struct px_dlq_s {
    rd_kafka_t       *rk;
    rd_kafka_topic_t *rkt;
    pthread_mutex_t   lock;
};

static void
px_dead_letter_free(px_dead_letter_t *dl)
{
    free(dl->msg);
    free(dl->key);
    free(dl);
}

static void
px_dlq_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    px_dlq_t          *d = opaque;
    px_dead_letter_t  *dl = msg->_private;

    (void) rk;

    if (msg->err) {
        px_log(PX_LOG_ERROR, "dlq", "dead letter not delivered: %s",
               rd_kafka_err2str(msg->err));
    }

    if (dl == NULL) {
        return;
    }

    pthread_mutex_lock(&d->lock);
    if (dl->orphan) {
        px_dead_letter_free(dl);
    } else if (msg->err) {
        dl->state = PX_DL_FAILED;
        dl->error = msg->err;
    } else {
        dl->state = PX_DL_DELIVERED;
    }
    pthread_mutex_unlock(&d->lock);
}

/* "name=value,name=value" into conf. */
static int
px_dlq_conf_extra(rd_kafka_conf_t *conf, const char *extra, char *err,
    size_t errlen)
{
    char   item[256], *eq;
    size_t n;

    while (extra != NULL && *extra != '\0') {
        n = strcspn(extra, ",");
        if (n >= sizeof(item)) {
            snprintf(err, errlen, "producer setting too long");
            return -1;
        }
        memcpy(item, extra, n);
        item[n] = '\0';
        extra += extra[n] == ',' ? n + 1 : n;

        eq = strchr(item, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "producer setting without '=': %s", item);
            return -1;
        }
        *eq = '\0';
        if (rd_kafka_conf_set(conf, item, eq + 1, err, errlen)
            != RD_KAFKA_CONF_OK)
        {
            return -1;
        }
    }

    return 0;
}

px_dlq_t *
px_dlq_new(const char *brokers, const char *topic, char *err, size_t errlen)
{
    return px_dlq_new_conf(brokers, topic, NULL, err, errlen);
}

px_dlq_t *
px_dlq_new_conf(const char *brokers, const char *topic,
    const char *extra_conf, char *err, size_t errlen)
{
    px_dlq_t         *d;
    rd_kafka_conf_t  *conf;

    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&d->lock, NULL);

    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, errlen)
        || rd_kafka_conf_set(conf, "acks", "all", err, errlen)
        || rd_kafka_conf_set(conf, "enable.idempotence", "true", err, errlen)
        || rd_kafka_conf_set(conf, "client.id", "px-worker-dlq", err, errlen)
        /* a DLQ topic created after a failure is seen within seconds */
        || rd_kafka_conf_set(conf, "topic.metadata.refresh.interval.ms",
                             "10000", err, errlen)
        || px_dlq_conf_extra(conf, extra_conf, err, errlen) != 0)
    {
        rd_kafka_conf_destroy(conf);
        pthread_mutex_destroy(&d->lock);
        free(d);
        return NULL;
    }

    rd_kafka_conf_set_opaque(conf, d);
    rd_kafka_conf_set_dr_msg_cb(conf, px_dlq_dr_cb);

    d->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (d->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        pthread_mutex_destroy(&d->lock);
        free(d);
        return NULL;
    }
    /* conf is now owned by rk */

    d->rkt = rd_kafka_topic_new(d->rk, topic, NULL);
    if (d->rkt == NULL) {
        snprintf(err, errlen, "topic %s: %s", topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        rd_kafka_destroy(d->rk);
        pthread_mutex_destroy(&d->lock);
        free(d);
        return NULL;
    }

    return d;
}

/*
 * Wait for what is queued; then purge what is left and serve its delivery
 * reports, so that the dead letters of batches already gone (orphans) are
 * freed before the producer is.
 */
void
px_dlq_free(px_dlq_t *d)
{
    int64_t  deadline;

    if (d == NULL) {
        return;
    }

    if (px_dlq_flush(d, 5000) != 0) {
        px_log(PX_LOG_WARN, "dlq", "%d dead letters not acknowledged at exit "
               "(their messages are read again at the next start)",
               rd_kafka_outq_len(d->rk));
        rd_kafka_purge(d->rk, RD_KAFKA_PURGE_F_QUEUE
                              | RD_KAFKA_PURGE_F_INFLIGHT);
        deadline = px_monotonic_ms() + 2000;
        while (rd_kafka_outq_len(d->rk) > 0 && px_monotonic_ms() < deadline) {
            rd_kafka_poll(d->rk, 50);
        }
    }

    rd_kafka_topic_destroy(d->rkt);
    rd_kafka_destroy(d->rk);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

/* Produce dl (UNSENT or FAILED).  It is marked in flight first: the
 * delivery report may come (on the other thread) before produce returns. */
static void
px_dlq_produce(px_dlq_t *d, px_dead_letter_t *dl)
{
    rd_kafka_resp_err_t  rc = RD_KAFKA_RESP_ERR_NO_ERROR;

    pthread_mutex_lock(&d->lock);
    dl->state = PX_DL_IN_FLIGHT;
    pthread_mutex_unlock(&d->lock);

    /* blocks only while librdkafka's own queue is full */
    while (rd_kafka_produce(d->rkt, RD_KAFKA_PARTITION_UA,
                            RD_KAFKA_MSG_F_COPY, dl->msg, dl->len,
                            dl->key, dl->key_len, dl) == -1)
    {
        rc = rd_kafka_last_error();
        if (rc != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            break;
        }
        rc = RD_KAFKA_RESP_ERR_NO_ERROR;
        rd_kafka_poll(d->rk, 100);
    }

    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
        px_log(PX_LOG_ERROR, "dlq", "produce failed: %s",
               rd_kafka_err2str(rc));
        pthread_mutex_lock(&d->lock);
        dl->state = PX_DL_UNSENT;
        dl->error = rc;
        pthread_mutex_unlock(&d->lock);
    }

    rd_kafka_poll(d->rk, 0);
}

static int
px_dead_letters_grow(px_dead_letters_t *l)
{
    size_t              cap;
    px_dead_letter_t  **items;

    if (l->n < l->cap) {
        return 0;
    }

    cap = l->cap == 0 ? 16 : l->cap * 2;
    items = realloc(l->items, cap * sizeof(*items));
    if (items == NULL) {
        return -1;
    }

    l->items = items;
    l->cap = cap;
    return 0;
}

/* The record's origin members: the closing brace is taken back, then
 * ,"origin":"p:o"[,"message":<message>]} appended. */
static int
px_dead_letter_origin(px_buf_t *buf, const px_dead_letter_origin_t *o)
{
    buf->len--;

    if (px_buf_append_str(buf, ",\"origin\":\"")
        || px_buf_append_i64(buf, o->partition)
        || px_buf_append(buf, ":", 1)
        || px_buf_append_i64(buf, o->offset)
        || px_buf_append(buf, "\"", 1))
    {
        return -1;
    }

    if (o->message != NULL
        && (px_buf_append_str(buf, ",\"message\":")
            || px_buf_append(buf, o->message, o->message_len)))
    {
        return -1;
    }

    return px_buf_append(buf, "}", 1);
}

/* The record, its key copied; NULL when out of memory. */
static px_dead_letter_t *
px_dead_letter_new(const char *reason, const void *key, size_t key_len,
    const char *payload, size_t len, int payload_is_json,
    const px_dead_letter_origin_t *o)
{
    px_buf_t           buf;
    struct timespec    ts;
    px_dead_letter_t  *dl;

    dl = calloc(1, sizeof(*dl));
    if (dl == NULL) {
        return NULL;
    }

    clock_gettime(CLOCK_REALTIME, &ts);
    px_buf_init(&buf, NULL, 0);

    if (px_message_dead_letter(reason, "worker",
                               (int64_t) ts.tv_sec * 1000
                               + ts.tv_nsec / 1000000,
                               payload, len, payload_is_json, &buf) != 0
        || (o != NULL && px_dead_letter_origin(&buf, o) != 0)
        || (key_len > 0 && (dl->key = malloc(key_len)) == NULL))
    {
        px_buf_free(&buf);
        px_dead_letter_free(dl);
        return NULL;
    }

    /* the buffer's memory becomes the record's (px_buf_free not called) */
    dl->msg = buf.data;
    dl->len = buf.len;
    if (key_len > 0) {
        memcpy(dl->key, key, key_len);
        dl->key_len = key_len;
    }

    return dl;
}

int
px_dlq_add_origin(px_dlq_t *d, px_dead_letters_t *l, const char *reason,
    const void *key, size_t key_len, const char *payload, size_t len,
    int payload_is_json, const px_dead_letter_origin_t *o)
{
    px_dead_letter_t  *dl;

    l->dlq = d;

    dl = px_dead_letters_grow(l) == 0
         ? px_dead_letter_new(reason, key, key_len, payload, len,
                              payload_is_json, o)
         : NULL;
    if (dl == NULL) {
        px_log(PX_LOG_ERROR, "dlq", "out of memory for a dead letter: its "
               "batch will not be committed");
        l->lost = 1;
        return -1;
    }

    l->items[l->n++] = dl;
    px_dlq_produce(d, dl);
    return 0;
}

/* Without an origin given: the batch owner's lookup by key, if any. */
int
px_dlq_add(px_dlq_t *d, px_dead_letters_t *l, const char *reason,
    const void *key, size_t key_len, const char *payload, size_t len,
    int payload_is_json)
{
    px_dead_letter_origin_t  o;
    int                      found;

    found = l->origin_of != NULL
            && l->origin_of(l->origin_ctx, key, key_len, &o) == 0;

    return px_dlq_add_origin(d, l, reason, key, key_len, payload, len,
                             payload_is_json, found ? &o : NULL);
}

/* How many of l are in flight; *delivered: how many acknowledged, *error:
 * the error of one that is not. */
static size_t
px_dead_letters_count(px_dlq_t *d, px_dead_letters_t *l, size_t *delivered,
    rd_kafka_resp_err_t *error)
{
    size_t  i, in_flight = 0;

    *delivered = 0;
    pthread_mutex_lock(&d->lock);
    for (i = 0; i < l->n; i++) {
        switch (l->items[i]->state) {
        case PX_DL_IN_FLIGHT:
            in_flight++;
            break;
        case PX_DL_DELIVERED:
            (*delivered)++;
            break;
        default:
            *error = l->items[i]->error;
        }
    }
    pthread_mutex_unlock(&d->lock);

    return in_flight;
}

int
px_dlq_settle(px_dlq_t *d, px_dead_letters_t *l, int timeout_ms, char *err,
    size_t errlen)
{
    size_t               i, delivered;
    int64_t              deadline = px_monotonic_ms() + timeout_ms;
    px_dl_state_t        state;
    rd_kafka_resp_err_t  error = RD_KAFKA_RESP_ERR__TIMED_OUT;

    if (l->lost) {
        snprintf(err, errlen, "a dead letter could not be built (out of "
                 "memory)");
        return -1;
    }

    /* once failed, send again (the batch was not committed meanwhile) */
    for (i = 0; i < l->n; i++) {
        pthread_mutex_lock(&d->lock);
        state = l->items[i]->state;
        pthread_mutex_unlock(&d->lock);
        if (state == PX_DL_UNSENT || state == PX_DL_FAILED) {
            px_dlq_produce(d, l->items[i]);
        }
    }

    while (px_dead_letters_count(d, l, &delivered, &error) > 0
           && px_monotonic_ms() < deadline)
    {
        rd_kafka_poll(d->rk, 50);
    }

    if (delivered == l->n) {
        return 0;
    }

    snprintf(err, errlen, "%zu of %zu dead letters not acknowledged: %s",
             l->n - delivered, l->n, rd_kafka_err2str(error));
    return -1;
}

void
px_dead_letters_clear(px_dead_letters_t *l)
{
    size_t             i;
    px_dead_letter_t  *dl;

    for (i = 0; i < l->n; i++) {
        dl = l->items[i];
        pthread_mutex_lock(&l->dlq->lock);
        if (dl->state == PX_DL_IN_FLIGHT) {
            dl->orphan = 1;
            dl = NULL;
        }
        pthread_mutex_unlock(&l->dlq->lock);
        if (dl != NULL) {
            px_dead_letter_free(dl);
        }
    }

    l->n = 0;
    l->lost = 0;
}

void
px_dead_letters_free(px_dead_letters_t *l)
{
    px_dead_letters_clear(l);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

int
px_dlq_flush(px_dlq_t *d, int timeout_ms)
{
    return rd_kafka_flush(d->rk, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR
           ? 0 : -1;
}
