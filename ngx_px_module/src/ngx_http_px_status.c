/*
 * GET locations: /health (liveness + Kafka state), readiness (503 while
 * no broker is up), queue status (JSON counters) and Prometheus metrics.
 */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "px_buf.h"
#include "ngx_http_px_module.h"
#include "ngx_http_px_kafka.h"
#include "ngx_http_px_reply.h"
#include "ngx_http_px_stats.h"

static ngx_int_t ngx_http_px_status_send(ngx_http_request_t *r,
    ngx_uint_t status, px_buf_t *body, const char *type);
static ngx_int_t ngx_http_px_status_start(ngx_http_request_t *r,
    ngx_http_px_stats_t **st, ngx_int_t *rc);

static int
ngx_http_px_status_kafka(px_buf_t *b)
{
    ngx_uint_t  up = ngx_http_px_kafka_brokers_up();

    return px_buf_append_str(b, "\"kafka\":{\"state\":")
           || px_buf_append_str(b, up > 0 ? "\"up\"" : "\"down\"")
           || px_buf_append_str(b, ",\"brokers_up\":")
           || px_buf_append_i64(b, (int64_t) up)
           || px_buf_append_str(b, ",\"in_flight\":")
           || px_buf_append_i64(b, (int64_t) ngx_http_px_kafka_in_flight())
           || px_buf_append_str(b, "}");
}

/* Liveness: 200 as long as nginx answers; Kafka's state is information. */
ngx_int_t
ngx_http_px_health_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;
    px_buf_t   b;

    if (ngx_http_px_status_start(r, NULL, &rc) != NGX_OK) {
        return rc;
    }

    px_buf_init(&b, NULL, 0);

    if (px_buf_append_str(&b, "{\"status\":\"ok\",\"version\":\""
                              NGX_HTTP_PX_VERSION "\",")
        || ngx_http_px_status_kafka(&b)
        || px_buf_append_str(&b, "}\n"))
    {
        px_buf_free(&b);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_px_status_send(r, NGX_HTTP_OK, &b, NULL);
}

/* Readiness: 503 while this worker's producer sees no broker. */
ngx_int_t
ngx_http_px_ready_handler(ngx_http_request_t *r)
{
    ngx_int_t   rc;
    ngx_uint_t  ready;
    px_buf_t    b;

    if (ngx_http_px_status_start(r, NULL, &rc) != NGX_OK) {
        return rc;
    }

    ready = ngx_http_px_kafka_ready() && ngx_http_px_kafka_brokers_up() > 0;
    px_buf_init(&b, NULL, 0);

    if (px_buf_append_str(&b, ready ? "{\"status\":\"ready\","
                                    : "{\"status\":\"not_ready\",")
        || ngx_http_px_status_kafka(&b)
        || px_buf_append_str(&b, "}\n"))
    {
        px_buf_free(&b);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_px_status_send(r, ready ? NGX_HTTP_OK
                                            : NGX_HTTP_SERVICE_UNAVAILABLE,
                                   &b, NULL);
}

ngx_int_t
ngx_http_px_queue_status_handler(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_uint_t            i, n;
    ngx_atomic_int_t      total, v;
    px_buf_t              b;
    ngx_http_px_stats_t  *st;

    if (ngx_http_px_status_start(r, &st, &rc) != NGX_OK) {
        return rc;
    }

    px_buf_init(&b, NULL, 0);
    total = 0;

    if (px_buf_append_str(&b, "{\"in_flight\":{\"workers\":{")) {
        goto nomem;
    }

    for (i = 0, n = 0; i < NGX_HTTP_PX_STATS_SLOTS; i++) {
        v = (ngx_atomic_int_t) st->in_flight[i];
        total += v;
        if (v == 0 && (ngx_int_t) i >= (ngx_int_t) ngx_worker + 1) {
            continue;
        }
        if ((n++ > 0 && px_buf_append_str(&b, ","))
            || px_buf_append_str(&b, "\"")
            || px_buf_append_i64(&b, (int64_t) i)
            || px_buf_append_str(&b, "\":")
            || px_buf_append_i64(&b, (int64_t) v))
        {
            goto nomem;
        }
    }

    if (px_buf_append_str(&b, "},\"total\":")
        || px_buf_append_i64(&b, (int64_t) total)
        || px_buf_append_str(&b, "},\"counters\":{"))
    {
        goto nomem;
    }

    for (i = 0; i < NGX_HTTP_PX_STAT_N; i++) {
        if ((i > 0 && px_buf_append_str(&b, ","))
            || px_buf_append_json_str(&b, ngx_http_px_stats_names[i],
                                      ngx_strlen(ngx_http_px_stats_names[i]))
            || px_buf_append_str(&b, ":")
            || px_buf_append_i64(&b, (int64_t) st->counters[i]))
        {
            goto nomem;
        }
    }

    if (px_buf_append_str(&b, "},\"rejected_by_reason\":{")) {
        goto nomem;
    }

    for (i = 0; i < ngx_http_px_stats_nreasons; i++) {
        if ((i > 0 && px_buf_append_str(&b, ","))
            || px_buf_append_json_str(&b, ngx_http_px_stats_reason_names[i],
                               ngx_strlen(ngx_http_px_stats_reason_names[i]))
            || px_buf_append_str(&b, ":")
            || px_buf_append_i64(&b, (int64_t) st->reasons[i]))
        {
            goto nomem;
        }
    }

    if (px_buf_append_str(&b, "},\"started\":")
        || px_buf_append_i64(&b, (int64_t) st->started)
        || px_buf_append_str(&b, ",\"this_worker\":{\"worker\":")
        || px_buf_append_i64(&b, (int64_t) ngx_worker)
        || px_buf_append_str(&b, ",")
        || ngx_http_px_status_kafka(&b)
        || px_buf_append_str(&b, "}}\n"))
    {
        goto nomem;
    }

    return ngx_http_px_status_send(r, NGX_HTTP_OK, &b, NULL);

nomem:

    px_buf_free(&b);
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}

static int
ngx_http_px_metric(px_buf_t *b, const char *name, const char *labels,
    ngx_atomic_uint_t value)
{
    return px_buf_append_str(b, name)
           || px_buf_append_str(b, labels)
           || px_buf_append_str(b, " ")
           || px_buf_append_i64(b, (int64_t) value)
           || px_buf_append_str(b, "\n");
}

ngx_int_t
ngx_http_px_metrics_handler(ngx_http_request_t *r)
{
    u_char                labels[64];
    ngx_int_t             rc;
    ngx_uint_t            i;
    ngx_atomic_uint_t     cum, total;
    px_buf_t              b;
    ngx_http_px_stats_t  *st;

    if (ngx_http_px_status_start(r, &st, &rc) != NGX_OK) {
        return rc;
    }

    px_buf_init(&b, NULL, 0);

    if (px_buf_append_str(&b, "# TYPE px_events_total counter\n")) {
        goto nomem;
    }

    for (i = 0; i < NGX_HTTP_PX_STAT_LIMIT_SYNCS; i++) {
        if (i == NGX_HTTP_PX_STAT_REQUESTS) {
            continue;
        }
        ngx_snprintf(labels, sizeof(labels), "{result=\"%s\"}%Z",
                     ngx_http_px_stats_names[i]);
        if (ngx_http_px_metric(&b, "px_events_total", (char *) labels,
                               st->counters[i]))
        {
            goto nomem;
        }
    }

    if (px_buf_append_str(&b, "# TYPE px_requests_total counter\n")
        || ngx_http_px_metric(&b, "px_requests_total", "",
                              st->counters[NGX_HTTP_PX_STAT_REQUESTS])
        || px_buf_append_str(&b, "# TYPE px_rejected_events_total counter\n"))
    {
        goto nomem;
    }

    for (i = 0; i < ngx_http_px_stats_nreasons; i++) {
        ngx_snprintf(labels, sizeof(labels), "{reason=\"%s\"}%Z",
                     ngx_http_px_stats_reason_names[i]);
        if (ngx_http_px_metric(&b, "px_rejected_events_total",
                               (char *) labels, st->reasons[i]))
        {
            goto nomem;
        }
    }

    if (px_buf_append_str(&b, "# TYPE px_responses_total counter\n")) {
        goto nomem;
    }

    for (i = 0; i < ngx_http_px_stats_nstatuses; i++) {
        ngx_snprintf(labels, sizeof(labels), "{code=\"%ui\"}%Z",
                     ngx_http_px_stats_status_codes[i]);
        if (ngx_http_px_metric(&b, "px_responses_total", (char *) labels,
                               st->statuses[i]))
        {
            goto nomem;
        }
    }

    if (px_buf_append_str(&b, "# TYPE px_request_duration_ms histogram\n")) {
        goto nomem;
    }

    cum = 0;
    for (i = 0; i <= ngx_http_px_stats_nbuckets; i++) {
        cum += st->latency[i];
        if (i < ngx_http_px_stats_nbuckets) {
            ngx_snprintf(labels, sizeof(labels), "{le=\"%M\"}%Z",
                         ngx_http_px_stats_buckets[i]);
        } else {
            ngx_snprintf(labels, sizeof(labels), "{le=\"+Inf\"}%Z");
        }
        if (ngx_http_px_metric(&b, "px_request_duration_ms_bucket",
                               (char *) labels, cum))
        {
            goto nomem;
        }
    }

    total = 0;
    for (i = 0; i < NGX_HTTP_PX_STATS_SLOTS; i++) {
        total += st->in_flight[i];
    }

    if (ngx_http_px_metric(&b, "px_request_duration_ms_sum", "",
                           st->latency_sum_ms)
        || ngx_http_px_metric(&b, "px_request_duration_ms_count", "", cum)
        || px_buf_append_str(&b, "# TYPE px_in_flight_messages gauge\n")
        || ngx_http_px_metric(&b, "px_in_flight_messages", "", total)
        || px_buf_append_str(&b, "# TYPE px_kafka_brokers_up gauge\n")
        || ngx_http_px_metric(&b, "px_kafka_brokers_up", "",
                              ngx_http_px_kafka_brokers_up())
        || px_buf_append_str(&b, "# TYPE px_limit_syncs_total counter\n")
        || ngx_http_px_metric(&b, "px_limit_syncs_total", "{result=\"ok\"}",
                              st->counters[NGX_HTTP_PX_STAT_LIMIT_SYNCS])
        || ngx_http_px_metric(&b, "px_limit_syncs_total",
                              "{result=\"failed\"}",
                              st->counters[NGX_HTTP_PX_STAT_LIMIT_SYNC_FAILED])
        || px_buf_append_str(&b,
                             "# TYPE px_limit_fallback_requests_total "
                             "counter\n")
        || ngx_http_px_metric(&b, "px_limit_fallback_requests_total", "",
                              st->counters[NGX_HTTP_PX_STAT_LIMIT_FALLBACK]))
    {
        goto nomem;
    }

    return ngx_http_px_status_send(r, NGX_HTTP_OK, &b,
                                   "text/plain; version=0.0.4");

nomem:

    px_buf_free(&b);
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}

/*
 * The common start of the status locations: GET or HEAD (else 405), and
 * the statistics zone when st is not NULL (else 503).  NGX_OK to go on;
 * otherwise the answer is sent and *rc is what the handler returns.
 */
static ngx_int_t
ngx_http_px_status_start(ngx_http_request_t *r, ngx_http_px_stats_t **st,
    ngx_int_t *rc)
{
    ngx_str_t  allow = ngx_string("GET, HEAD");

    *rc = ngx_http_discard_request_body(r);
    if (*rc != NGX_OK) {
        return NGX_ERROR;
    }

    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
        *rc = ngx_http_px_add_header(r, "Allow", &allow) == NGX_OK
              ? ngx_http_px_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                       "method_not_allowed", "use GET")
              : NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    if (st == NULL) {
        return NGX_OK;
    }

    *st = ngx_http_px_stats();
    if (*st == NULL) {
        *rc = ngx_http_px_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "not_ready", "no statistics zone");
        return NGX_ERROR;
    }

    return NGX_OK;
}

/* Send body (freed here); type NULL means application/json. */
static ngx_int_t
ngx_http_px_status_send(ngx_http_request_t *r, ngx_uint_t status,
    px_buf_t *body, const char *type)
{
    ngx_int_t  rc;

    rc = ngx_http_px_send_body(r, status, type, (u_char *) body->data,
                               body->len);
    px_buf_free(body);
    return rc;
}
