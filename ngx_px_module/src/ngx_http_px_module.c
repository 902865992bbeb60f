/*
 * ngx_http_px_module: directives, configuration, process hooks.
 *
 *   http {
 *       px_kafka_brokers   127.0.0.1:9092;
 *       px_keys            /etc/px/keys.conf;
 *       server {
 *           location = /api/v1/events/batch { px_batch; }
 *           location = /health               { px_health; }
 *       }
 *   }
 *
 * docs/nginx-module.md lists every directive.
 */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_px_conf.h"
#include "ngx_http_px_module.h"
#include "ngx_http_px_kafka.h"
#include "ngx_http_px_keys.h"
#include "ngx_http_px_limit.h"
#include "ngx_http_px_limit_redis.h"
#include "ngx_http_px_stats.h"

static void *ngx_http_px_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_px_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_px_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_px_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_px_keys_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_px_kafka_property(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_px_cors_origins(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_px_handler_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_px_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_px_init_process(ngx_cycle_t *cycle);
static void ngx_http_px_exit_process(ngx_cycle_t *cycle);

static ngx_conf_enum_t  ngx_http_px_ack_modes[] = {
    { ngx_string("kafka"), NGX_HTTP_PX_ACK_KAFKA },
    { ngx_string("local"), NGX_HTTP_PX_ACK_LOCAL },
    { ngx_null_string, 0 }
};

#define NGX_HTTP_PX_LOC_CONF  (NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF          \
                               |NGX_HTTP_LOC_CONF)
#define NGX_HTTP_PX_LOC_OFF(field)                                           \
    NGX_HTTP_LOC_CONF_OFFSET, offsetof(ngx_http_px_loc_conf_t, field), NULL
#define NGX_HTTP_PX_MAIN_OFF(field)                                          \
    NGX_HTTP_MAIN_CONF_OFFSET, offsetof(ngx_http_px_main_conf_t, field), NULL

static ngx_command_t  ngx_http_px_commands[] = {

    { ngx_string("px_kafka_brokers"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_PX_MAIN_OFF(brokers) },

    { ngx_string("px_kafka_topic"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_PX_MAIN_OFF(topic) },

    { ngx_string("px_kafka_dlq_topic"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_PX_MAIN_OFF(dlq_topic) },

    { ngx_string("px_kafka_property"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_px_kafka_property,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("px_kafka_flush_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_PX_MAIN_OFF(flush_timeout) },

    { ngx_string("px_keys"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_px_keys_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("px_limit_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_px_limit_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_px_main_conf_t, limit_zones),
      NULL },

    /* the limits global over the nginx nodes (ngx_http_px_limit_redis.c) */
    { ngx_string("px_limit_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_px_limit_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_px_main_conf_t, limit_redis),
      NULL },

    { ngx_string("px_tier"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE23,
      ngx_http_px_tier,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_px_main_conf_t, tiers),
      NULL },

    { ngx_string("px_limit"),
      NGX_HTTP_PX_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_px_limit,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_px_loc_conf_t, limit_zone),
      NULL },

    { ngx_string("px_batch"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_px_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      ngx_http_px_batch_handler },

    /* Segment's HTTP Tracking API (ngx_http_px_segment.c) */
    { ngx_string("px_segment"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_px_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      ngx_http_px_segment_handler },

    { ngx_string("px_segment_max_event_size"),
      NGX_HTTP_PX_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_PX_LOC_OFF(segment_max_event) },

    { ngx_string("px_segment_max_batch_size"),
      NGX_HTTP_PX_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_PX_LOC_OFF(segment_max_batch) },

    { ngx_string("px_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_px_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      ngx_http_px_health_handler },

    { ngx_string("px_ready"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_px_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      ngx_http_px_ready_handler },

    { ngx_string("px_queue_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_px_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      ngx_http_px_queue_status_handler },

    { ngx_string("px_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_px_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      ngx_http_px_metrics_handler },

    { ngx_string("px_ack"),
      NGX_HTTP_PX_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_px_loc_conf_t, ack),
      &ngx_http_px_ack_modes },

    { ngx_string("px_ack_timeout"),
      NGX_HTTP_PX_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_PX_LOC_OFF(ack_timeout) },

    { ngx_string("px_max_body_size"),
      NGX_HTTP_PX_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_PX_LOC_OFF(max_body) },

    { ngx_string("px_max_inflated_size"),
      NGX_HTTP_PX_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_PX_LOC_OFF(max_inflated) },

    { ngx_string("px_max_inflate_ratio"),
      NGX_HTTP_PX_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_PX_LOC_OFF(max_ratio) },

    { ngx_string("px_max_events"),
      NGX_HTTP_PX_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_PX_LOC_OFF(max_events) },

    { ngx_string("px_max_event_size"),
      NGX_HTTP_PX_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_PX_LOC_OFF(max_event_size) },

    { ngx_string("px_max_depth"),
      NGX_HTTP_PX_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_PX_LOC_OFF(max_depth) },

    { ngx_string("px_max_keys"),
      NGX_HTTP_PX_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_PX_LOC_OFF(max_keys) },

    { ngx_string("px_max_string_size"),
      NGX_HTTP_PX_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_PX_LOC_OFF(max_string) },

    { ngx_string("px_max_event_name"),
      NGX_HTTP_PX_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_PX_LOC_OFF(max_event_name) },

    /* nginx's own error pages as JSON, also those it answers before a
     * location is chosen (a header or URI too large); on by itself in
     * px_* handler locations */
    { ngx_string("px_json_errors"),
      NGX_HTTP_PX_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_PX_LOC_OFF(json_errors) },

    { ngx_string("px_dlq_max_events"),
      NGX_HTTP_PX_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_PX_LOC_OFF(dlq_max_events) },

    { ngx_string("px_dlq_max_size"),
      NGX_HTTP_PX_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_PX_LOC_OFF(dlq_max_bytes) },

    { ngx_string("px_cors_origins"),
      NGX_HTTP_PX_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_px_cors_origins,
      NGX_HTTP_PX_LOC_OFF(cors_origins) },

      ngx_null_command
};

static ngx_http_module_t  ngx_http_px_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_px_postconfiguration,         /* postconfiguration */

    ngx_http_px_create_main_conf,          /* create main configuration */
    ngx_http_px_init_main_conf,            /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_px_create_loc_conf,           /* create location configuration */
    ngx_http_px_merge_loc_conf             /* merge location configuration */
};

ngx_module_t  ngx_http_px_module = {
    NGX_MODULE_V1,
    &ngx_http_px_module_ctx,               /* module context */
    ngx_http_px_commands,                  /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_px_init_process,              /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_px_exit_process,              /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};

static void *
ngx_http_px_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_px_main_conf_t  *pmcf;

    pmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_px_main_conf_t));
    if (pmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     pmcf->brokers = { 0, NULL };
     *     pmcf->topic = { 0, NULL };
     *     pmcf->dlq_topic = { 0, NULL };
     *     pmcf->kafka_props = NULL;
     *     pmcf->keys = NULL;
     *     pmcf->tiers = NULL;
     *     pmcf->limit_zones = NULL;
     *     pmcf->limit_redis = NULL;
     *     pmcf->stats_zone = NULL;
     */

    pmcf->flush_timeout = NGX_CONF_UNSET_MSEC;
    return pmcf;
}

static char *
ngx_http_px_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_px_main_conf_t  *pmcf = conf;

    if (pmcf->topic.len == 0) {
        ngx_str_set(&pmcf->topic, "px.events.raw");
    }

    if (pmcf->dlq_topic.len == 0) {
        ngx_str_set(&pmcf->dlq_topic, "px.events.dlq");
    }

    ngx_conf_init_msec_value(pmcf->flush_timeout, 5000);

    if (pmcf->limit_redis != NULL
        && ngx_http_px_limit_redis_attach(cf, pmcf->limit_zones,
                                          pmcf->limit_redis)
           != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    return ngx_http_px_keys_resolve_tiers(cf, pmcf->keys, pmcf->tiers);
}

/* nginx -t warns when the batch location takes batches larger than a
 * tier can ever hold: those get 413 batch_exceeds_tier. */
static void
ngx_http_px_warn_tiers(ngx_conf_t *cf, ngx_http_px_main_conf_t *pmcf,
    ngx_http_px_loc_conf_t *conf)
{
    ngx_uint_t                 i, most;
    ngx_http_px_tier_t        *t;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (conf->limit_zone == NULL || pmcf->tiers == NULL
        || (clcf->handler != ngx_http_px_batch_handler
            && clcf->handler != ngx_http_px_segment_handler))
    {
        return;
    }

    t = pmcf->tiers->elts;
    for (i = 0; i < pmcf->tiers->nelts; i++) {
        most = t[i].per_minute != 0 ? t[i].per_minute : t[i].per_hour;
        if (!t[i].unlimited && conf->max_events > most) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "px_max_events %ui is more than tier \"%V\" "
                               "takes at once (%ui): its larger batches get "
                               "413 batch_exceeds_tier",
                               conf->max_events, &t[i].name, most);
        }
    }
}

static void *
ngx_http_px_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_px_loc_conf_t  *plcf;

    plcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_px_loc_conf_t));
    if (plcf == NULL) {
        return NULL;
    }

    plcf->ack = NGX_CONF_UNSET_UINT;
    plcf->ack_timeout = NGX_CONF_UNSET_MSEC;
    plcf->max_body = NGX_CONF_UNSET_SIZE;
    plcf->max_inflated = NGX_CONF_UNSET_SIZE;
    plcf->max_ratio = NGX_CONF_UNSET_UINT;
    plcf->max_events = NGX_CONF_UNSET_UINT;
    plcf->max_event_size = NGX_CONF_UNSET_SIZE;
    plcf->max_depth = NGX_CONF_UNSET_UINT;
    plcf->max_keys = NGX_CONF_UNSET_UINT;
    plcf->max_string = NGX_CONF_UNSET_SIZE;
    plcf->max_event_name = NGX_CONF_UNSET_UINT;
    plcf->dlq_max_events = NGX_CONF_UNSET_UINT;
    plcf->dlq_max_bytes = NGX_CONF_UNSET_SIZE;
    plcf->cors_origins = NGX_CONF_UNSET_PTR;
    plcf->limit_zone = NGX_CONF_UNSET_PTR;
    plcf->json_errors = NGX_CONF_UNSET;
    plcf->segment_max_event = NGX_CONF_UNSET_SIZE;
    plcf->segment_max_batch = NGX_CONF_UNSET_SIZE;

    return plcf;
}

static char *
ngx_http_px_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_px_loc_conf_t  *prev = parent;
    ngx_http_px_loc_conf_t  *conf = child;

    px_limits_t                def;
    ngx_http_handler_pt        handler;
    ngx_http_px_main_conf_t   *pmcf;

    px_limits_default(&def);
    handler = ((ngx_http_core_loc_conf_t *) ngx_http_conf_get_module_loc_conf(
                  cf, ngx_http_core_module))->handler;

    ngx_conf_merge_uint_value(conf->ack, prev->ack, NGX_HTTP_PX_ACK_KAFKA);
    ngx_conf_merge_msec_value(conf->ack_timeout, prev->ack_timeout, 5000);

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_px_module);
    pmcf->max_ack_timeout = ngx_max(pmcf->max_ack_timeout, conf->ack_timeout);
    if (conf->ack == NGX_HTTP_PX_ACK_LOCAL
        && (handler == ngx_http_px_batch_handler
            || handler == ngx_http_px_segment_handler))
    {
        pmcf->ack_local = 1;
    }
    ngx_conf_merge_size_value(conf->max_body, prev->max_body, 1024 * 1024);
    ngx_conf_merge_size_value(conf->max_inflated, prev->max_inflated,
                              10 * 1024 * 1024);
    ngx_conf_merge_uint_value(conf->max_ratio, prev->max_ratio, 100);
    ngx_conf_merge_uint_value(conf->max_events, prev->max_events,
                              def.max_events);
    ngx_conf_merge_size_value(conf->max_event_size, prev->max_event_size,
                              def.max_event_bytes);
    ngx_conf_merge_uint_value(conf->max_depth, prev->max_depth,
                              def.max_depth);
    ngx_conf_merge_uint_value(conf->max_keys, prev->max_keys, def.max_keys);
    ngx_conf_merge_size_value(conf->max_string, prev->max_string,
                              def.max_string);
    ngx_conf_merge_uint_value(conf->max_event_name, prev->max_event_name,
                              def.max_name);
    ngx_conf_merge_uint_value(conf->dlq_max_events, prev->dlq_max_events,
                              100);
    ngx_conf_merge_size_value(conf->dlq_max_bytes, prev->dlq_max_bytes,
                              1024 * 1024);
    ngx_conf_merge_ptr_value(conf->cors_origins, prev->cors_origins, NULL);
    ngx_conf_merge_ptr_value(conf->limit_zone, prev->limit_zone, NULL);
    ngx_conf_merge_value(conf->json_errors, prev->json_errors, 0);
    /* Segment's own limits: 32 KB a call, 500 KB a batch */
    ngx_conf_merge_size_value(conf->segment_max_event,
                              prev->segment_max_event, 32 * 1024);
    ngx_conf_merge_size_value(conf->segment_max_batch,
                              prev->segment_max_batch, 500 * 1024);

    if (conf->max_depth < 4 || conf->max_depth > PX_LIMIT_DEPTH_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "px_max_depth must be between 4 and %d",
                           PX_LIMIT_DEPTH_MAX);
        return NGX_CONF_ERROR;
    }

    if (conf->max_events == 0 || conf->max_ratio == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "px_max_events and px_max_inflate_ratio must be "
                           "positive");
        return NGX_CONF_ERROR;
    }

    ngx_http_px_warn_tiers(cf, pmcf, conf);

    conf->limits.max_events = conf->max_events;
    conf->limits.max_event_bytes = conf->max_event_size;
    conf->limits.max_depth = conf->max_depth;
    conf->limits.max_keys = conf->max_keys;
    conf->limits.max_string = conf->max_string;
    conf->limits.max_name = conf->max_event_name;
    conf->limits.max_id = def.max_id;

    return NGX_CONF_OK;
}

static char *
ngx_http_px_keys_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_px_main_conf_t  *pmcf = conf;

    ngx_str_t  *value;

    if (pmcf->keys != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    pmcf->keys = ngx_pcalloc(cf->pool, sizeof(ngx_http_px_keys_t));
    if (pmcf->keys == NULL) {
        return NGX_CONF_ERROR;
    }

    pmcf->keys->file = value[1];
    if (ngx_conf_full_name(cf->cycle, &pmcf->keys->file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_px_keys_load(cf, pmcf->keys);
}

static char *
ngx_http_px_kafka_property(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_px_main_conf_t  *pmcf = conf;

    char           err[512];
    ngx_str_t     *value;
    ngx_keyval_t  *kv;

    value = cf->args->elts;

    if (ngx_http_px_kafka_check_property(&value[1], &value[2], err,
                                         sizeof(err)) != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid Kafka property \"%V\": %s", &value[1],
                           err);
        return NGX_CONF_ERROR;
    }

    if (pmcf->kafka_props == NULL) {
        pmcf->kafka_props = ngx_array_create(cf->pool, 4,
                                             sizeof(ngx_keyval_t));
        if (pmcf->kafka_props == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    kv = ngx_array_push(pmcf->kafka_props);
    if (kv == NULL) {
        return NGX_CONF_ERROR;
    }

    kv->key = value[1];
    kv->value = value[2];
    return NGX_CONF_OK;
}

/* px_cors_origins origin ...: every argument (the str_array slot would
 * take the first only). */
static char *
ngx_http_px_cors_origins(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_px_loc_conf_t  *plcf = conf;

    ngx_str_t   *value, *o;
    ngx_uint_t   i;

    if (plcf->cors_origins != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    plcf->cors_origins = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                          sizeof(ngx_str_t));
    if (plcf->cors_origins == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;
    for (i = 1; i < cf->args->nelts; i++) {
        o = ngx_array_push(plcf->cors_origins);
        if (o == NULL) {
            return NGX_CONF_ERROR;
        }
        *o = value[i];
    }

    return NGX_CONF_OK;
}

/* px_batch, px_health, ...: the location's content handler (cmd->post). */
static char *
ngx_http_px_handler_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler != NULL) {
        return "is duplicate: the location already has a handler";
    }

    clcf->handler = (ngx_http_handler_pt) cmd->post;
    ((ngx_http_px_loc_conf_t *) conf)->json_errors = 1;
    return NGX_CONF_OK;
}

static ngx_int_t
ngx_http_px_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_px_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_px_module);

    if (pmcf->brokers.len == 0) {
        return NGX_OK;  /* the module is loaded but not used */
    }

    if (ngx_http_px_errors_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    pmcf->stats_zone = ngx_http_px_stats_zone_add(cf);
    if (pmcf->stats_zone == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}

static ngx_int_t
ngx_http_px_init_process(ngx_cycle_t *cycle)
{
    ngx_http_px_main_conf_t  *pmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    pmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_px_module);
    if (pmcf == NULL || pmcf->brokers.len == 0) {
        return NGX_OK;
    }

    ngx_http_px_stats_in_flight_claim();

    if (ngx_http_px_limit_redis_init_process(cycle, pmcf->limit_zones)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* a producer that cannot be made leaves nginx up, answering 503 */
    (void) ngx_http_px_kafka_init_process(cycle, pmcf);
    return NGX_OK;
}

static void
ngx_http_px_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_px_main_conf_t  *pmcf;

    ngx_http_px_limit_redis_exit_process();

    pmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_px_module);
    ngx_http_px_kafka_exit_process(cycle,
                                   pmcf ? pmcf->flush_timeout : 5000);
}
