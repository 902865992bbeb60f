#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <librdkafka/rdkafka.h>
#include <yajl/yajl_tree.h>

#include "ngx_http_px_kafka.h"
#include "ngx_http_px_stats.h"

#define NGX_HTTP_PX_KAFKA_POLL_MS  100     /* back-up poll timer */
#define NGX_HTTP_PX_KAFKA_ERRLEN   512

struct ngx_http_px_ack_s {
    ngx_queue_t               queue;       /* in live_acks while data set */
    ngx_uint_t                pending;     /* produced, not yet reported */
    ngx_uint_t                failed;
    unsigned                  sealed:1;
    ngx_http_px_ack_done_pt   done;
    void                     *data;        /* NULL once detached */
};

typedef struct {
    rd_kafka_t               *rk;
    rd_kafka_topic_t         *topics[2];   /* raw, dlq */
    rd_kafka_queue_t         *main_queue;
    ngx_fd_t                  pipe[2];
    ngx_connection_t         *conn;
    ngx_event_t               timer;
    ngx_uint_t                brokers_up;
    time_t                    down_since;  /* 0: up, or not known yet */
    time_t                    probe_sec;   /* last request let through */
    ngx_uint_t                in_flight;
    ngx_log_t                *log;
} ngx_http_px_kafka_t;

/* Per worker process: created after fork in init_process. */
static ngx_http_px_kafka_t  ngx_http_px_kafka = {
    .pipe = { NGX_INVALID_FILE, NGX_INVALID_FILE }
};

/* Acks whose request still waits (data set): detached at process exit, so
 * that the last flush's delivery reports finalize no request. */
static ngx_queue_t  ngx_http_px_live_acks = {
    &ngx_http_px_live_acks, &ngx_http_px_live_acks
};

static void ngx_http_px_ack_forget(ngx_http_px_ack_t *ack);

static void ngx_http_px_kafka_serve(void);
static void ngx_http_px_kafka_read_handler(ngx_event_t *ev);
static void ngx_http_px_kafka_timer_handler(ngx_event_t *ev);
static void ngx_http_px_kafka_dr_cb(rd_kafka_t *rk,
    const rd_kafka_message_t *msg, void *opaque);
static void ngx_http_px_kafka_log_cb(const rd_kafka_t *rk, int level,
    const char *fac, const char *buf);
static void ngx_http_px_kafka_error_cb(rd_kafka_t *rk, int err,
    const char *reason, void *opaque);
static int ngx_http_px_kafka_stats_cb(rd_kafka_t *rk, char *json,
    size_t len, void *opaque);
static ngx_int_t ngx_http_px_kafka_set(rd_kafka_conf_t *conf,
    ngx_str_t *name, ngx_str_t *value, char *err, size_t errlen);
static ngx_int_t ngx_http_px_kafka_watch(ngx_cycle_t *cycle);

ngx_int_t
ngx_http_px_kafka_check_property(ngx_str_t *name, ngx_str_t *value,
    char *err, size_t errlen)
{
    ngx_int_t         rc;
    rd_kafka_conf_t  *conf;

    conf = rd_kafka_conf_new();
    if (conf == NULL) {
        ngx_cpystrn((u_char *) err, (u_char *) "out of memory", errlen);
        return NGX_ERROR;
    }

    rc = ngx_http_px_kafka_set(conf, name, value, err, errlen);
    rd_kafka_conf_destroy(conf);
    return rc;
}

static ngx_int_t
ngx_http_px_kafka_set(rd_kafka_conf_t *conf, ngx_str_t *name,
    ngx_str_t *value, char *err, size_t errlen)
{
    char  n[256], v[1024];

    if (name->len >= sizeof(n) || value->len >= sizeof(v)) {
        ngx_cpystrn((u_char *) err, (u_char *) "name or value too long",
                    errlen);
        return NGX_ERROR;
    }

    ngx_cpystrn((u_char *) n, name->data, name->len + 1);
    ngx_cpystrn((u_char *) v, value->data, value->len + 1);

    if (rd_kafka_conf_set(conf, n, v, err, errlen) != RD_KAFKA_CONF_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}

ngx_int_t
ngx_http_px_kafka_init_process(ngx_cycle_t *cycle,
    ngx_http_px_main_conf_t *pmcf)
{
    char              err[NGX_HTTP_PX_KAFKA_ERRLEN], topic[256];
    ngx_uint_t        i;
    ngx_str_t        *names[2];
    ngx_keyval_t     *kv;
    rd_kafka_conf_t  *conf;

    /* defaults first, so px_kafka_property can override any of them */
    static ngx_keyval_t  defaults[] = {
        { ngx_string("acks"), ngx_string("all") },
        { ngx_string("enable.idempotence"), ngx_string("true") },
        { ngx_string("compression.codec"), ngx_string("lz4") },
        /* 1 ms: p99 at 1,000 req/s was ~10 ms with 5 (bench/README.md) */
        { ngx_string("linger.ms"), ngx_string("1") },
        { ngx_string("statistics.interval.ms"), ngx_string("1000") },
        /* 64 MB of queued messages per worker process, not librdkafka's
         * 1 GB */
        { ngx_string("queue.buffering.max.kbytes"), ngx_string("65536") },
        { ngx_string("log.queue"), ngx_string("true") },
        { ngx_string("client.id"), ngx_string("nginx-px") },
    };

    ngx_http_px_kafka.log = cycle->log;

    conf = rd_kafka_conf_new();
    if (conf == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        if (ngx_http_px_kafka_set(conf, &defaults[i].key, &defaults[i].value,
                                  err, sizeof(err)) != NGX_OK)
        {
            goto failed;
        }
    }

    {
        /* just above the longest px_ack_timeout: a message of a request
         * answered 503 is not delivered minutes later (each client retry
         * would add a copy).  Not with px_ack local: its requests were
         * answered 202 already, and their messages must outlive an outage
         * (librdkafka's 300 s).  px_kafka_property may still set it. */
        u_char      buf[NGX_INT_T_LEN];
        ngx_str_t   name = ngx_string("message.timeout.ms"), value;
        ngx_msec_t  timeout;

        timeout = pmcf->ack_local ? 300000 : pmcf->max_ack_timeout + 1000;
        value.data = buf;
        value.len = ngx_sprintf(buf, "%M", timeout) - buf;
        if (ngx_http_px_kafka_set(conf, &name, &value, err, sizeof(err))
            != NGX_OK)
        {
            goto failed;
        }
    }

    {
        ngx_str_t  name = ngx_string("bootstrap.servers");

        if (ngx_http_px_kafka_set(conf, &name, &pmcf->brokers, err,
                                  sizeof(err)) != NGX_OK)
        {
            goto failed;
        }
    }

    if (pmcf->kafka_props) {
        kv = pmcf->kafka_props->elts;
        for (i = 0; i < pmcf->kafka_props->nelts; i++) {
            if (ngx_http_px_kafka_set(conf, &kv[i].key, &kv[i].value, err,
                                      sizeof(err)) != NGX_OK)
            {
                goto failed;
            }
        }
    }

    rd_kafka_conf_set_dr_msg_cb(conf, ngx_http_px_kafka_dr_cb);
    rd_kafka_conf_set_log_cb(conf, ngx_http_px_kafka_log_cb);
    rd_kafka_conf_set_error_cb(conf, ngx_http_px_kafka_error_cb);
    rd_kafka_conf_set_stats_cb(conf, ngx_http_px_kafka_stats_cb);

    ngx_http_px_kafka.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err,
                                        sizeof(err));
    if (ngx_http_px_kafka.rk == NULL) {
        goto failed;
    }
    conf = NULL;  /* now owned by rk */

    /* logs come to the main queue and so to this thread, not stderr */
    rd_kafka_set_log_queue(ngx_http_px_kafka.rk, NULL);

    names[0] = &pmcf->topic;
    names[1] = &pmcf->dlq_topic;

    for (i = 0; i < 2; i++) {
        ngx_cpystrn((u_char *) topic, names[i]->data,
                    ngx_min(names[i]->len + 1, sizeof(topic)));
        ngx_http_px_kafka.topics[i] = rd_kafka_topic_new(ngx_http_px_kafka.rk,
                                                         topic, NULL);
        if (ngx_http_px_kafka.topics[i] == NULL) {
            ngx_snprintf((u_char *) err, sizeof(err), "topic \"%s\": %s%Z",
                         topic, rd_kafka_err2str(rd_kafka_last_error()));
            goto failed;
        }
    }

    if (ngx_http_px_kafka_watch(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, cycle->log, 0,
                  "px: kafka producer started for \"%V\"", &pmcf->brokers);
    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                  "px: kafka producer not created: %s", err);

    if (conf != NULL) {
        rd_kafka_conf_destroy(conf);
    }

    return NGX_ERROR;
}

/* The pipe librdkafka writes to, read by an nginx event, and the timer. */
static ngx_int_t
ngx_http_px_kafka_watch(ngx_cycle_t *cycle)
{
    ngx_connection_t  *c;

    if (pipe2(ngx_http_px_kafka.pipe, O_NONBLOCK | O_CLOEXEC) == -1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "px: pipe2() failed");
        return NGX_ERROR;
    }

    ngx_http_px_kafka.main_queue = rd_kafka_queue_get_main(
                                                       ngx_http_px_kafka.rk);
    rd_kafka_queue_io_event_enable(ngx_http_px_kafka.main_queue,
                                   ngx_http_px_kafka.pipe[1], "1", 1);

    c = ngx_get_connection(ngx_http_px_kafka.pipe[0], cycle->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->recv = ngx_recv;
    c->read->handler = ngx_http_px_kafka_read_handler;
    c->read->log = cycle->log;
    c->write->log = cycle->log;
    ngx_http_px_kafka.conn = c;

    if (ngx_add_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_px_kafka.timer.handler = ngx_http_px_kafka_timer_handler;
    ngx_http_px_kafka.timer.log = cycle->log;
    ngx_http_px_kafka.timer.data = NULL;
    ngx_http_px_kafka.timer.cancelable = 1;
    ngx_add_timer(&ngx_http_px_kafka.timer, NGX_HTTP_PX_KAFKA_POLL_MS);

    return NGX_OK;
}

void
ngx_http_px_kafka_exit_process(ngx_cycle_t *cycle, ngx_msec_t timeout)
{
    ngx_uint_t          i;
    rd_kafka_resp_err_t rc;

    if (ngx_http_px_kafka.rk == NULL) {
        return;
    }

    /* requests still waiting (a fast shutdown) are not answered from the
     * reports this flush serves: the process is going away */
    while (!ngx_queue_empty(&ngx_http_px_live_acks)) {
        ngx_http_px_ack_forget(ngx_queue_data(
            ngx_queue_head(&ngx_http_px_live_acks), ngx_http_px_ack_t, queue));
    }

    /* bounded: everything answered 202 with px_ack kafka was acknowledged
     * already; this is for DLQ records and px_ack local messages */
    rc = rd_kafka_flush(ngx_http_px_kafka.rk, (int) timeout);
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "px: %d kafka messages not flushed at exit",
                      rd_kafka_outq_len(ngx_http_px_kafka.rk));
    }

    if (ngx_http_px_kafka.timer.timer_set) {
        ngx_del_timer(&ngx_http_px_kafka.timer);
    }

    if (ngx_http_px_kafka.conn != NULL) {
        ngx_close_connection(ngx_http_px_kafka.conn);
        ngx_http_px_kafka.conn = NULL;
        ngx_http_px_kafka.pipe[0] = NGX_INVALID_FILE;
    }

    for (i = 0; i < 2; i++) {
        if (ngx_http_px_kafka.topics[i] != NULL) {
            rd_kafka_topic_destroy(ngx_http_px_kafka.topics[i]);
        }
    }

    if (ngx_http_px_kafka.main_queue != NULL) {
        rd_kafka_queue_io_event_enable(ngx_http_px_kafka.main_queue, -1,
                                       NULL, 0);
        rd_kafka_queue_destroy(ngx_http_px_kafka.main_queue);
    }

    rd_kafka_destroy(ngx_http_px_kafka.rk);
    ngx_http_px_kafka.rk = NULL;

    /* what was never reported went with the producer */
    ngx_http_px_stats_in_flight(-(ngx_atomic_int_t) ngx_http_px_kafka.in_flight);
    ngx_http_px_kafka.in_flight = 0;

    if (ngx_http_px_kafka.pipe[1] != NGX_INVALID_FILE) {
        (void) close(ngx_http_px_kafka.pipe[1]);
        ngx_http_px_kafka.pipe[1] = NGX_INVALID_FILE;
    }
}

ngx_uint_t
ngx_http_px_kafka_ready(void)
{
    return ngx_http_px_kafka.rk != NULL;
}

ngx_uint_t
ngx_http_px_kafka_brokers_up(void)
{
    return ngx_http_px_kafka.brokers_up;
}

/*
 * While the statistics (or an all-brokers-down error) say no broker is up,
 * requests are refused at once instead of waiting px_ack_timeout; one a
 * second still goes through, as librdkafka connects only when it has
 * something to send.
 */
ngx_uint_t
ngx_http_px_kafka_unreachable(void)
{
    time_t  now;

    if (ngx_http_px_kafka.down_since == 0) {
        return 0;
    }

    now = ngx_time();
    if (now != ngx_http_px_kafka.probe_sec) {
        ngx_http_px_kafka.probe_sec = now;
        return 0;
    }

    return 1;
}

/* 1 s into an outage, growing by 1 s every 4 s of it to 30 s, plus up to a
 * quarter more at random, so that waiting clients do not come back at
 * once. */
ngx_uint_t
ngx_http_px_kafka_retry_after(void)
{
    time_t      down;
    ngx_uint_t  base, s;

    down = ngx_http_px_kafka.down_since == 0
           ? 0 : ngx_time() - ngx_http_px_kafka.down_since;
    base = down <= 0 ? 1 : (ngx_uint_t) ngx_min(1 + down / 4, 30);
    s = base + (ngx_uint_t) ngx_random() % (base / 4 + 1);

    return ngx_min(s, 30);
}

/*
 * Each worker process learns the brokers' state on its own (statistics
 * every second, or an all-brokers-down error); until then requests go to
 * the producer.  The start and the end of an outage are logged once each.
 */
static void
ngx_http_px_kafka_set_up(ngx_uint_t up)
{
    ngx_http_px_kafka.brokers_up = up;

    if (up > 0) {
        if (ngx_http_px_kafka.down_since != 0) {
            ngx_log_error(NGX_LOG_NOTICE, ngx_http_px_kafka.log, 0,
                          "px: kafka: %ui broker(s) up again after %T s", up,
                          ngx_time() - ngx_http_px_kafka.down_since);
        }

        ngx_http_px_kafka.down_since = 0;

    } else if (ngx_http_px_kafka.down_since == 0) {
        ngx_http_px_kafka.down_since = ngx_time();
        ngx_log_error(NGX_LOG_WARN, ngx_http_px_kafka.log, 0,
                      "px: kafka: no broker is up; px_ack kafka requests "
                      "are refused with 503 at once");
    }
}

ngx_uint_t
ngx_http_px_kafka_in_flight(void)
{
    return ngx_http_px_kafka.in_flight;
}

/* Serve everything queued: delivery reports, logs, statistics. */
static void
ngx_http_px_kafka_serve(void)
{
    ngx_uint_t  i;

    /* bounded: each poll serves all that is queued at that time */
    for (i = 0; i < 64; i++) {
        if (rd_kafka_poll(ngx_http_px_kafka.rk, 0) == 0) {
            break;
        }
    }
}

static void
ngx_http_px_kafka_read_handler(ngx_event_t *ev)
{
    u_char  buf[256];

    while (read(ngx_http_px_kafka.pipe[0], buf, sizeof(buf)) > 0) {
        /* drain: one byte per empty -> non-empty transition */
    }

    ngx_http_px_kafka_serve();
}

static void
ngx_http_px_kafka_timer_handler(ngx_event_t *ev)
{
    ngx_http_px_kafka_serve();

    if (!ngx_exiting && !ngx_quit) {
        ngx_add_timer(ev, NGX_HTTP_PX_KAFKA_POLL_MS);
    }
}

ngx_http_px_ack_t *
ngx_http_px_ack_create(ngx_http_px_ack_done_pt done, void *data)
{
    ngx_http_px_ack_t  *ack;

    ack = ngx_calloc(sizeof(ngx_http_px_ack_t), ngx_http_px_kafka.log);
    if (ack == NULL) {
        return NULL;
    }

    ack->done = done;
    ack->data = data;
    ngx_queue_insert_tail(&ngx_http_px_live_acks, &ack->queue);
    return ack;
}

/* No request waits on ack any more. */
static void
ngx_http_px_ack_forget(ngx_http_px_ack_t *ack)
{
    if (ack->data != NULL) {
        ack->data = NULL;
        ngx_queue_remove(&ack->queue);
    }
}

ngx_int_t
ngx_http_px_kafka_produce(ngx_http_px_ack_t *ack, ngx_http_px_topic_t topic,
    const void *key, size_t key_len, const void *value, size_t value_len)
{
    rd_kafka_resp_err_t  err;

    if (ngx_http_px_kafka.rk == NULL) {
        return NGX_ERROR;
    }

    if (rd_kafka_produce(ngx_http_px_kafka.topics[topic],
                         RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                         (void *) value, value_len, key, key_len, ack) == -1)
    {
        err = rd_kafka_last_error();
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            return NGX_BUSY;
        }

        ngx_log_error(NGX_LOG_ERR, ngx_http_px_kafka.log, 0,
                      "px: produce failed: %s", rd_kafka_err2str(err));
        return NGX_ERROR;
    }

    if (ack != NULL) {
        ack->pending++;
    }
    ngx_http_px_kafka.in_flight++;
    ngx_http_px_stats_in_flight(1);
    return NGX_OK;
}

ngx_int_t
ngx_http_px_ack_seal(ngx_http_px_ack_t *ack, ngx_uint_t *failed)
{
    ack->sealed = 1;

    if (ack->pending == 0) {
        *failed = ack->failed;
        ngx_http_px_ack_forget(ack);
        ngx_free(ack);
        return NGX_OK;
    }

    return NGX_AGAIN;
}

void
ngx_http_px_ack_detach(ngx_http_px_ack_t *ack)
{
    ngx_http_px_ack_forget(ack);

    if (ack->pending == 0) {
        ngx_free(ack);
    }
}

static void
ngx_http_px_kafka_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg,
    void *opaque)
{
    void               *data;
    ngx_http_px_ack_t  *ack = msg->_private;

    ngx_http_px_kafka.in_flight--;
    ngx_http_px_stats_in_flight(-1);

    if (msg->err) {
        ngx_http_px_stats_add(NGX_HTTP_PX_STAT_FAILED, 1);
        ngx_log_error(NGX_LOG_WARN, ngx_http_px_kafka.log, 0,
                      "px: message to \"%s\" not delivered: %s",
                      rd_kafka_topic_name(msg->rkt),
                      rd_kafka_err2str(msg->err));
    } else {
        ngx_http_px_stats_add(NGX_HTTP_PX_STAT_DELIVERED, 1);
    }

    if (ack == NULL) {
        return;
    }

    ack->pending--;
    if (msg->err) {
        ack->failed++;
    }

    if (ack->pending != 0) {
        return;
    }

    if (ack->data == NULL) {
        /* the request went away (timeout, client gone) */
        ngx_free(ack);
        return;
    }

    if (ack->sealed) {
        data = ack->data;
        ngx_http_px_ack_forget(ack);
        ack->done(ack, data, ack->failed);
        ngx_free(ack);
    }
}

static void
ngx_http_px_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac,
    const char *buf)
{
    ngx_uint_t  lvl;

    /* syslog levels: 0 emerg .. 7 debug; nginx's are the same order + 1 */
    lvl = level < 0 ? NGX_LOG_ERR : (level > 7 ? NGX_LOG_DEBUG
                                               : (ngx_uint_t) level + 1);
    if (lvl > NGX_LOG_INFO) {
        lvl = NGX_LOG_INFO;
    }

    ngx_log_error(lvl, ngx_http_px_kafka.log, 0, "px: kafka %s: %s", fac,
                  buf);
}

static void
ngx_http_px_kafka_error_cb(rd_kafka_t *rk, int err, const char *reason,
    void *opaque)
{
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        ngx_http_px_kafka_set_up(0);
    }

    ngx_log_error(NGX_LOG_WARN, ngx_http_px_kafka.log, 0,
                  "px: kafka error: %s: %s", rd_kafka_err2name(err), reason);
}

static ngx_uint_t
ngx_http_px_kafka_is_up(const char *state)
{
    return state != NULL && ngx_strcmp(state, "UP") == 0;
}

/* Count the brokers (not bootstrap placeholders) whose state is UP. */
static int
ngx_http_px_kafka_stats_cb(rd_kafka_t *rk, char *json, size_t len,
    void *opaque)
{
    char         errbuf[128];
    size_t       i;
    ngx_uint_t   up;
    yajl_val     root, brokers, b, state, nodeid;

    static const char  *brokers_path[] = { "brokers", NULL };
    static const char  *state_path[] = { "state", NULL };
    static const char  *nodeid_path[] = { "nodeid", NULL };

    /* librdkafka's buffer is NUL-terminated at len */
    root = yajl_tree_parse(json, errbuf, sizeof(errbuf));
    if (root == NULL) {
        return 0;
    }

    up = 0;
    brokers = yajl_tree_get(root, brokers_path, yajl_t_object);

    for (i = 0; brokers != NULL && i < brokers->u.object.len; i++) {
        b = brokers->u.object.values[i];
        state = yajl_tree_get(b, state_path, yajl_t_string);
        nodeid = yajl_tree_get(b, nodeid_path, yajl_t_number);

        if (state != NULL && nodeid != NULL && YAJL_IS_INTEGER(nodeid)
            && YAJL_GET_INTEGER(nodeid) >= 0
            && ngx_http_px_kafka_is_up(YAJL_GET_STRING(state)))
        {
            up++;
        }
    }

    yajl_tree_free(root);
    ngx_http_px_kafka_set_up(up);
    return 0;  /* we did not keep json */
}
