#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_px_module.h"
#include "ngx_http_px_stats.h"

const char  *ngx_http_px_stats_names[NGX_HTTP_PX_STAT_N] = {
    "requests", "received", "accepted", "rejected", "rate_limited",
    "delivered", "failed", "dead_lettered", "dead_letters_dropped",
    "limit_syncs", "limit_sync_failures", "limit_fallback"
};

/* The reasons libpx gives for an invalid event; the last one is "other". */
const char  *ngx_http_px_stats_reason_names[] = {
    "missing_event_name", "empty_event_name", "event_name_too_long",
    "event_name_control_chars", "event_name_not_string", "invalid_event_id", "invalid_timestamp",
    "anonymous_id_not_string", "user_id_not_string", "id_too_long",
    "properties_not_object", "context_not_object", "event_not_object",
    "event_too_large", "string_too_long", "too_many_keys",
    "duplicate_member", "other"
};

const ngx_uint_t  ngx_http_px_stats_nreasons =
    sizeof(ngx_http_px_stats_reason_names) / sizeof(char *);

const ngx_uint_t  ngx_http_px_stats_status_codes[] = {
    200, 202, 204, 400, 401, 403, 405, 408, 413, 415, 429, 500, 503
};

const ngx_uint_t  ngx_http_px_stats_nstatuses =
    sizeof(ngx_http_px_stats_status_codes) / sizeof(ngx_uint_t);

const ngx_msec_t  ngx_http_px_stats_buckets[] = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};

const ngx_uint_t  ngx_http_px_stats_nbuckets =
    sizeof(ngx_http_px_stats_buckets) / sizeof(ngx_msec_t);

static ngx_http_px_stats_t  *ngx_http_px_stats_shm;

static ngx_int_t ngx_http_px_stats_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);

ngx_shm_zone_t *
ngx_http_px_stats_zone_add(ngx_conf_t *cf)
{
    ngx_str_t        name = ngx_string("px_stats");
    ngx_shm_zone_t  *zone;

    zone = ngx_shared_memory_add(cf, &name, 64 * ngx_pagesize,
                                 &ngx_http_px_module);
    if (zone == NULL) {
        return NULL;
    }

    zone->init = ngx_http_px_stats_init_zone;
    return zone;
}

static ngx_int_t
ngx_http_px_stats_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t      *shpool;
    ngx_http_px_stats_t  *st;

    if (data) {
        /* reload: keep the counters of the previous cycle */
        shm_zone->data = data;
        ngx_http_px_stats_shm = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        ngx_http_px_stats_shm = shpool->data;
        return NGX_OK;
    }

    st = ngx_slab_calloc(shpool, sizeof(ngx_http_px_stats_t));
    if (st == NULL) {
        return NGX_ERROR;
    }

    st->reasons = ngx_slab_calloc(shpool,
                          ngx_http_px_stats_nreasons * sizeof(ngx_atomic_t));
    st->statuses = ngx_slab_calloc(shpool,
                          ngx_http_px_stats_nstatuses * sizeof(ngx_atomic_t));
    st->latency = ngx_slab_calloc(shpool,
                   (ngx_http_px_stats_nbuckets + 1) * sizeof(ngx_atomic_t));

    if (st->reasons == NULL || st->statuses == NULL || st->latency == NULL) {
        return NGX_ERROR;
    }

    st->started = time(NULL);

    shpool->data = st;
    shm_zone->data = st;
    ngx_http_px_stats_shm = st;
    return NGX_OK;
}

ngx_http_px_stats_t *
ngx_http_px_stats(void)
{
    return ngx_http_px_stats_shm;
}

void
ngx_http_px_stats_add(ngx_http_px_stat_t stat, ngx_atomic_int_t n)
{
    if (ngx_http_px_stats_shm != NULL && n != 0) {
        (void) ngx_atomic_fetch_add(&ngx_http_px_stats_shm->counters[stat], n);
    }
}

void
ngx_http_px_stats_reason(const char *reason)
{
    ngx_uint_t  i;

    if (ngx_http_px_stats_shm == NULL) {
        return;
    }

    for (i = 0; i < ngx_http_px_stats_nreasons - 1; i++) {
        if (ngx_strcmp(reason, ngx_http_px_stats_reason_names[i]) == 0) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&ngx_http_px_stats_shm->reasons[i], 1);
}

void
ngx_http_px_stats_status(ngx_uint_t status)
{
    ngx_uint_t  i;

    if (ngx_http_px_stats_shm == NULL) {
        return;
    }

    for (i = 0; i < ngx_http_px_stats_nstatuses; i++) {
        if (ngx_http_px_stats_status_codes[i] == status) {
            (void) ngx_atomic_fetch_add(&ngx_http_px_stats_shm->statuses[i],
                                        1);
            return;
        }
    }
}

void
ngx_http_px_stats_latency(ngx_msec_t ms)
{
    ngx_uint_t  i;

    if (ngx_http_px_stats_shm == NULL) {
        return;
    }

    for (i = 0; i < ngx_http_px_stats_nbuckets; i++) {
        if (ms <= ngx_http_px_stats_buckets[i]) {
            break;
        }
    }

    /* one bucket per observation; the metrics location sums them up */
    (void) ngx_atomic_fetch_add(&ngx_http_px_stats_shm->latency[i], 1);
    (void) ngx_atomic_fetch_add(&ngx_http_px_stats_shm->latency_sum_ms, ms);
}

void
ngx_http_px_stats_in_flight_claim(void)
{
    ngx_uint_t     slot;
    ngx_pid_t      owner;
    ngx_atomic_t  *pid;

    if (ngx_http_px_stats_shm == NULL) {
        return;
    }

    slot = ngx_worker % NGX_HTTP_PX_STATS_SLOTS;
    pid = &ngx_http_px_stats_shm->in_flight_pid[slot];
    owner = (ngx_pid_t) *pid;

    /* an owner still running (the old worker of a reload, flushing) shares
     * the slot: its reports still come */
    if (owner != 0 && owner != ngx_pid && kill(owner, 0) == -1
        && ngx_errno == NGX_ESRCH)
    {
        ngx_http_px_stats_shm->in_flight[slot] = 0;
    }

    *pid = (ngx_atomic_uint_t) ngx_pid;
}

void
ngx_http_px_stats_in_flight(ngx_atomic_int_t delta)
{
    ngx_uint_t  slot;

    if (ngx_http_px_stats_shm == NULL) {
        return;
    }

    slot = ngx_worker % NGX_HTTP_PX_STATS_SLOTS;
    (void) ngx_atomic_fetch_add(&ngx_http_px_stats_shm->in_flight[slot],
                                delta);
}
