#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_px_module.h"
#include "ngx_http_px_limit.h"

/* 4-byte windows and counts keep the node of a short id in a 128-byte
 * slab chunk with the global counts in it (bench/README.md) */
typedef struct {
    u_char                       color;
    u_char                       dummy;
    u_short                      len;
    uint32_t                     last;          /* last used, epoch s */
    ngx_queue_t                  queue;
    uint32_t                     hour;          /* start of its window */
    uint32_t                     minute;
    uint32_t                     hour_count;    /* this node's events */
    uint32_t                     minute_count;
    /* px_limit_redis: this node's events not yet pushed, those being
     * pushed, and all nodes' total at the last sync */
    int32_t                      hour_new;
    int32_t                      minute_new;
    int32_t                      hour_pushing;
    int32_t                      minute_pushing;
    uint32_t                     hour_global;
    uint32_t                     minute_global;
    u_char                       data[1];       /* the counter's id */
} ngx_http_px_limit_node_t;

typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  queue;         /* LRU: most recent first */
    ngx_uint_t                   redis_down;    /* the last sync failed */
    time_t                       last_sync;     /* the last one that did not */
} ngx_http_px_limit_shctx_t;

typedef struct {
    ngx_http_px_limit_shctx_t   *sh;
    ngx_slab_pool_t             *shpool;
    ngx_http_px_limit_redis_t   *redis;         /* NULL: per node */
} ngx_http_px_limit_ctx_t;

/* The counts a decision is made on. */
typedef struct {
    ngx_uint_t                   hour_used;
    ngx_uint_t                   minute_used;
    ngx_uint_t                   per_hour;
    ngx_uint_t                   per_minute;    /* 0: none */
} ngx_http_px_limit_view_t;

static ngx_int_t ngx_http_px_limit_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_px_limit_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_px_limit_node_t *ngx_http_px_limit_lookup(
    ngx_http_px_limit_ctx_t *ctx, ngx_str_t *project, uint32_t hash);
static ngx_http_px_limit_node_t *ngx_http_px_limit_alloc(
    ngx_http_px_limit_ctx_t *ctx, ngx_str_t *project, uint32_t hash,
    ngx_uint_t *evicted);
static void ngx_http_px_limit_roll(ngx_http_px_limit_node_t *lr, time_t hour,
    time_t minute);
static void ngx_http_px_limit_view(ngx_http_px_limit_ctx_t *ctx,
    ngx_http_px_tier_t *tier, ngx_http_px_limit_node_t *lr,
    ngx_http_px_limit_view_t *v, ngx_uint_t *fallback);

ngx_int_t
ngx_http_px_limit_take(ngx_shm_zone_t *zone, ngx_http_px_tier_t *tier,
    ngx_str_t *project, ngx_uint_t n, ngx_http_px_limit_result_t *res)
{
    time_t                     now, hour, minute;
    uint32_t                   hash;
    ngx_uint_t                 hour_left, minute_left;
    ngx_http_px_limit_ctx_t   *ctx;
    ngx_http_px_limit_node_t  *lr;
    ngx_http_px_limit_view_t   v;

    ngx_memzero(res, sizeof(*res));

    if (tier == NULL || tier->unlimited || zone == NULL) {
        res->allowed = 1;
        return NGX_OK;
    }

    ctx = zone->data;
    now = ngx_time();
    hour = now - now % 3600;
    minute = now - now % 60;
    hash = ngx_crc32_short(project->data, project->len);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    lr = ngx_http_px_limit_lookup(ctx, project, hash);
    if (lr == NULL) {
        lr = ngx_http_px_limit_alloc(ctx, project, hash, &res->evicted);
        if (lr == NULL) {
            ngx_shmtx_unlock(&ctx->shpool->mutex);
            return NGX_ERROR;
        }
    }

    ngx_queue_remove(&lr->queue);
    ngx_queue_insert_head(&ctx->sh->queue, &lr->queue);
    lr->last = (uint32_t) now;

    ngx_http_px_limit_roll(lr, hour, minute);

    hour = lr->hour;
    minute = lr->minute;
    res->hour = hour;
    res->minute = minute;

    ngx_http_px_limit_view(ctx, tier, lr, &v, &res->fallback);

    hour_left = v.per_hour > v.hour_used ? v.per_hour - v.hour_used : 0;
    minute_left = v.per_minute == 0
                  ? hour_left
                  : (v.per_minute > v.minute_used
                     ? v.per_minute - v.minute_used : 0);

    res->limit = tier->per_hour;

    if (n <= hour_left && n <= minute_left) {
        lr->hour_count += n;
        lr->minute_count += n;
        if (ctx->redis) {
            lr->hour_new += n;
            lr->minute_new += n;
        }
        hour_left -= n;
        minute_left -= n;
        res->allowed = 1;
    }

    res->remaining = ngx_min(hour_left, minute_left);

    /* when the window that binds opens again */
    if (res->allowed) {
        res->reset = (v.per_minute != 0 && minute_left < hour_left)
                     ? minute + 60 - now : hour + 3600 - now;

    } else if (n > hour_left) {
        res->reset = hour + 3600 - now;

    } else {
        res->reset = minute + 60 - now;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
    return NGX_OK;
}

void
ngx_http_px_limit_refund(ngx_shm_zone_t *zone, ngx_str_t *id, ngx_uint_t n,
    time_t hour, time_t minute)
{
    ngx_http_px_limit_ctx_t   *ctx;
    ngx_http_px_limit_node_t  *lr;

    ctx = zone->data;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    lr = ngx_http_px_limit_lookup(ctx, id, ngx_crc32_short(id->data, id->len));
    if (lr != NULL) {
        if ((time_t) lr->hour == hour) {
            lr->hour_count -= ngx_min(n, lr->hour_count);
            lr->hour_new -= ctx->redis ? (int32_t) n : 0;
        }
        if ((time_t) lr->minute == minute) {
            lr->minute_count -= ngx_min(n, lr->minute_count);
            lr->minute_new -= ctx->redis ? (int32_t) n : 0;
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}

/* Windows only move forward: a worker process whose clock is a little
 * behind (at a boundary), or a clock stepped back, counts into the current
 * window instead of resetting it.  A new window starts from nothing, on
 * this node and in Redis (new keys). */
static void
ngx_http_px_limit_roll(ngx_http_px_limit_node_t *lr, time_t hour,
    time_t minute)
{
    if (hour > (time_t) lr->hour) {
        lr->hour = (uint32_t) hour;
        lr->hour_count = 0;
        lr->hour_new = 0;
        lr->hour_pushing = 0;
        lr->hour_global = 0;
    }

    if (minute > (time_t) lr->minute) {
        lr->minute = (uint32_t) minute;
        lr->minute_count = 0;
        lr->minute_new = 0;
        lr->minute_pushing = 0;
        lr->minute_global = 0;
    }
}

/* All nodes' events: the total at the last sync plus this node's since,
 * never less than this node's own (a Redis that lost its keys). */
static ngx_uint_t
ngx_http_px_limit_global_used(uint32_t global, int32_t pushing, int32_t fresh,
    uint32_t own)
{
    int64_t  sum;

    sum = (int64_t) global + pushing + fresh;
    return (ngx_uint_t) ngx_max(sum, (int64_t) own);
}

static void
ngx_http_px_limit_view(ngx_http_px_limit_ctx_t *ctx, ngx_http_px_tier_t *tier,
    ngx_http_px_limit_node_t *lr, ngx_http_px_limit_view_t *v,
    ngx_uint_t *fallback)
{
    v->per_hour = tier->per_hour;
    v->per_minute = tier->per_minute;
    v->hour_used = lr->hour_count;
    v->minute_used = lr->minute_count;

    if (ctx->redis == NULL) {
        return;
    }

    if (ctx->sh->redis_down) {
        /* no view of the other nodes: this node's share only */
        *fallback = 1;
        v->per_hour = ngx_max(tier->per_hour / ctx->redis->nodes, 1);
        if (tier->per_minute != 0) {
            v->per_minute = ngx_max(tier->per_minute / ctx->redis->nodes, 1);
        }
        return;
    }

    v->hour_used = ngx_http_px_limit_global_used(lr->hour_global,
                       lr->hour_pushing, lr->hour_new, lr->hour_count);
    v->minute_used = ngx_http_px_limit_global_used(lr->minute_global,
                       lr->minute_pushing, lr->minute_new, lr->minute_count);
}

ngx_http_px_limit_redis_t *
ngx_http_px_limit_zone_redis(ngx_shm_zone_t *zone)
{
    return ((ngx_http_px_limit_ctx_t *) zone->data)->redis;
}

time_t
ngx_http_px_limit_last_sync(ngx_shm_zone_t *zone)
{
    ngx_http_px_limit_ctx_t  *ctx = zone->data;

    return ctx->sh->last_sync;
}

ngx_int_t
ngx_http_px_limit_collect(ngx_shm_zone_t *zone, ngx_pool_t *pool,
    ngx_array_t *items, time_t since, ngx_uint_t max)
{
    ngx_int_t                  rc;
    ngx_queue_t               *q;
    ngx_http_px_limit_ctx_t   *ctx;
    ngx_http_px_limit_node_t  *lr;
    ngx_http_px_limit_item_t  *it;

    ctx = zone->data;
    rc = NGX_OK;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    for (q = ngx_queue_head(&ctx->sh->queue);
         q != ngx_queue_sentinel(&ctx->sh->queue) && items->nelts < max;
         q = ngx_queue_next(q))
    {
        lr = ngx_queue_data(q, ngx_http_px_limit_node_t, queue);
        if ((time_t) lr->last < since) {
            break;
        }

        it = ngx_array_push(items);
        if (it == NULL) {
            rc = NGX_ERROR;
            break;
        }

        it->id.len = lr->len;
        it->id.data = ngx_pnalloc(pool, lr->len);
        if (it->id.data == NULL) {
            items->nelts--;
            rc = NGX_ERROR;
            break;
        }

        ngx_memcpy(it->id.data, lr->data, lr->len);
        it->hour = lr->hour;
        it->minute = lr->minute;
        it->hour_delta = lr->hour_new;
        it->minute_delta = lr->minute_new;
        it->hour_total = 0;
        it->minute_total = 0;
        lr->hour_pushing += lr->hour_new;
        lr->minute_pushing += lr->minute_new;
        lr->hour_new = 0;
        lr->minute_new = 0;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
    return rc;
}

ngx_uint_t
ngx_http_px_limit_synced(ngx_shm_zone_t *zone, ngx_array_t *items,
    ngx_int_t rc)
{
    ngx_uint_t                 i, ok, changed;
    ngx_http_px_limit_ctx_t   *ctx;
    ngx_http_px_limit_node_t  *lr;
    ngx_http_px_limit_item_t  *it;

    ctx = zone->data;
    it = items->elts;
    ok = (rc == NGX_OK);
    changed = 0;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    for (i = 0; i < items->nelts; i++) {
        lr = ngx_http_px_limit_lookup(ctx, &it[i].id,
                 ngx_crc32_short(it[i].id.data, it[i].id.len));

        /* evicted, or a later window since: nothing of it to settle */
        if (lr == NULL) {
            continue;
        }

        if ((time_t) lr->hour == it[i].hour) {
            lr->hour_pushing -= (int32_t) it[i].hour_delta;
            if (ok) {
                lr->hour_global = (uint32_t) ngx_min(it[i].hour_total,
                                                     0xffffffff);
            } else {
                lr->hour_new += (int32_t) it[i].hour_delta;
            }
        }

        if ((time_t) lr->minute == it[i].minute) {
            lr->minute_pushing -= (int32_t) it[i].minute_delta;
            if (ok) {
                lr->minute_global = (uint32_t) ngx_min(it[i].minute_total,
                                                       0xffffffff);
            } else {
                lr->minute_new += (int32_t) it[i].minute_delta;
            }
        }
    }

    if (rc != NGX_DECLINED) {
        changed = (ctx->sh->redis_down == ok);
        ctx->sh->redis_down = !ok;
    }

    if (ok) {
        ctx->sh->last_sync = ngx_time();
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
    return changed;
}

static ngx_http_px_limit_node_t *
ngx_http_px_limit_lookup(ngx_http_px_limit_ctx_t *ctx, ngx_str_t *project,
    uint32_t hash)
{
    ngx_int_t                  rc;
    ngx_rbtree_node_t         *node, *sentinel;
    ngx_http_px_limit_node_t  *lr;

    node = ctx->sh->rbtree.root;
    sentinel = ctx->sh->rbtree.sentinel;

    while (node != sentinel) {
        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        lr = (ngx_http_px_limit_node_t *) &node->color;
        rc = ngx_memn2cmp(project->data, lr->data, project->len,
                          (size_t) lr->len);
        if (rc == 0) {
            return lr;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}

/* A node for a new project; when the zone is full, the least recently
 * used projects make room. */
static ngx_http_px_limit_node_t *
ngx_http_px_limit_alloc(ngx_http_px_limit_ctx_t *ctx, ngx_str_t *project,
    uint32_t hash, ngx_uint_t *evicted)
{
    size_t                     size;
    ngx_uint_t                 tries;
    ngx_queue_t               *q;
    ngx_rbtree_node_t         *node;
    ngx_http_px_limit_node_t  *lr;

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_px_limit_node_t, data)
           + ngx_min(project->len, 65535);

    for (tries = 0; tries < 16; tries++) {
        node = ngx_slab_alloc_locked(ctx->shpool, size);
        if (node != NULL) {
            break;
        }

        if (ngx_queue_empty(&ctx->sh->queue)) {
            return NULL;
        }

        q = ngx_queue_last(&ctx->sh->queue);
        lr = ngx_queue_data(q, ngx_http_px_limit_node_t, queue);
        ngx_queue_remove(q);
        node = (ngx_rbtree_node_t *)
                   ((u_char *) lr - offsetof(ngx_rbtree_node_t, color));
        ngx_rbtree_delete(&ctx->sh->rbtree, node);
        ngx_slab_free_locked(ctx->shpool, node);
        (*evicted)++;
        node = NULL;
    }

    if (node == NULL) {
        return NULL;
    }

    node->key = hash;
    lr = (ngx_http_px_limit_node_t *) &node->color;
    lr->len = (u_short) ngx_min(project->len, 65535);
    ngx_memcpy(lr->data, project->data, lr->len);
    lr->last = 0;
    lr->hour = 0;
    lr->minute = 0;
    lr->hour_count = 0;
    lr->minute_count = 0;
    lr->hour_new = 0;
    lr->minute_new = 0;
    lr->hour_pushing = 0;
    lr->minute_pushing = 0;
    lr->hour_global = 0;
    lr->minute_global = 0;

    ngx_rbtree_insert(&ctx->sh->rbtree, node);
    ngx_queue_insert_head(&ctx->sh->queue, &lr->queue);
    return lr;
}

static void
ngx_http_px_limit_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t         **p;
    ngx_http_px_limit_node_t   *lrn, *lrnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            lrn = (ngx_http_px_limit_node_t *) &node->color;
            lrnt = (ngx_http_px_limit_node_t *) &temp->color;

            p = (ngx_memn2cmp(lrn->data, lrnt->data, lrn->len, lrnt->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}

static ngx_int_t
ngx_http_px_limit_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_px_limit_ctx_t  *octx = data;

    size_t                    len;
    ngx_http_px_limit_ctx_t  *ctx;

    ctx = shm_zone->data;

    if (octx) {
        /* reload: the counters go on */
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;
        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;
        return NGX_OK;
    }

    ctx->sh = ngx_slab_calloc(ctx->shpool, sizeof(ngx_http_px_limit_shctx_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    ngx_rbtree_init(&ctx->sh->rbtree, &ctx->sh->sentinel,
                    ngx_http_px_limit_rbtree_insert_value);
    ngx_queue_init(&ctx->sh->queue);

    len = sizeof(" in px_limit_zone \"\"") + shm_zone->shm.name.len;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in px_limit_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* eviction is expected, not an error worth a log line each time */
    ctx->shpool->log_nomem = 0;

    return NGX_OK;
}

char *
ngx_http_px_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_array_t  **zones = (ngx_array_t **) ((char *) conf + cmd->offset);

    u_char                   *p;
    ssize_t                   size;
    ngx_str_t                *value, name, s;
    ngx_shm_zone_t           *shm_zone, **zp;
    ngx_http_px_limit_ctx_t  *ctx;

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "name=", 5) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected "
                           "name=NAME:SIZE", &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data + 5;
    p = (u_char *) ngx_strchr(name.data, ':');
    if (p == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    name.len = p - name.data;

    if (name.len == sizeof("px_stats") - 1
        && ngx_strncmp(name.data, "px_stats", name.len) == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"px_stats\" is the statistics zone of the "
                           "module: give the px_limit_zone another name");
        return NGX_CONF_ERROR;
    }

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);
    if (size == NGX_ERROR || name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", &value[1]);
        return NGX_CONF_ERROR;
    }

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_px_limit_ctx_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &name, size, &ngx_http_px_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_px_limit_init_zone;
    shm_zone->data = ctx;

    if (*zones == NULL) {
        *zones = ngx_array_create(cf->pool, 2, sizeof(ngx_shm_zone_t *));
        if (*zones == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    zp = ngx_array_push(*zones);
    if (zp == NULL) {
        return NGX_CONF_ERROR;
    }

    *zp = shm_zone;
    return NGX_CONF_OK;
}

/* "name=VALUE": VALUE in *v when arg is one. */
static ngx_uint_t
ngx_http_px_limit_param(ngx_str_t *arg, const char *name, ngx_str_t *v)
{
    size_t  len;

    len = ngx_strlen(name);

    if (arg->len <= len || ngx_strncmp(arg->data, name, len) != 0) {
        return 0;
    }

    v->data = arg->data + len;
    v->len = arg->len - len;
    return 1;
}

char *
ngx_http_px_limit_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_px_limit_redis_t  **rp = (ngx_http_px_limit_redis_t **)
                                          ((char *) conf + cmd->offset);

    ngx_int_t                   n;
    ngx_str_t                  *value, v;
    ngx_url_t                   u;
    ngx_uint_t                  i;
    ngx_msec_t                 *ms;
    ngx_http_px_limit_redis_t  *rd;

    if (*rp != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rd = ngx_pcalloc(cf->pool, sizeof(ngx_http_px_limit_redis_t));
    if (rd == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = value[1];
    u.default_port = 6379;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "px_limit_redis: %s in \"%V\", expected "
                           "host:port", u.err ? u.err : "no address",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    rd->addr = u.addrs[0];
    rd->addr_text = value[1];
    rd->interval = 100;
    rd->timeout = 1000;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_http_px_limit_param(&value[i], "nodes=", &v)) {
            n = ngx_atoi(v.data, v.len);
            if (n == NGX_ERROR || n < 1 || n > 1000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "px_limit_redis: invalid \"%V\", "
                                   "expected nodes=N with N from 1 to 1000",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }
            rd->nodes = (ngx_uint_t) n;
            continue;
        }

        if (ngx_http_px_limit_param(&value[i], "password=", &v)) {
            rd->password = v;
            continue;
        }

        if (ngx_http_px_limit_param(&value[i], "interval=", &v)) {
            ms = &rd->interval;

        } else if (ngx_http_px_limit_param(&value[i], "timeout=", &v)) {
            ms = &rd->timeout;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "px_limit_redis: invalid parameter \"%V\", "
                               "expected nodes=N, interval=TIME, "
                               "timeout=TIME or password=SECRET", &value[i]);
            return NGX_CONF_ERROR;
        }

        *ms = ngx_parse_time(&v, 0);
        if (*ms == (ngx_msec_t) NGX_ERROR || *ms < 10 || *ms > 60000) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "px_limit_redis: invalid \"%V\", expected a "
                               "time from 10ms to 60s", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    if (rd->nodes == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "px_limit_redis needs nodes=N, the number of "
                           "nginx nodes sharing the limits: while Redis is "
                           "down each takes 1/N of a limit");
        return NGX_CONF_ERROR;
    }

    *rp = rd;
    return NGX_CONF_OK;
}

char *
ngx_http_px_limit_redis_attach(ngx_conf_t *cf, ngx_array_t *zones,
    ngx_http_px_limit_redis_t *redis)
{
    ngx_uint_t                i;
    ngx_shm_zone_t          **zone;
    ngx_http_px_limit_ctx_t  *ctx;

    if (zones == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "px_limit_redis %V: no px_limit_zone to share",
                           &redis->addr_text);
        return NGX_CONF_ERROR;
    }

    zone = zones->elts;
    for (i = 0; i < zones->nelts; i++) {
        ctx = zone[i]->data;
        ctx->redis = redis;
    }

    return NGX_CONF_OK;
}

/* "N/h" or "N/m": events per hour, or per minute. */
static ngx_int_t
ngx_http_px_parse_rate(ngx_str_t *s, ngx_uint_t *n, ngx_uint_t *per_hour)
{
    ngx_int_t  v;

    if (s->len < 3 || s->data[s->len - 2] != '/') {
        return NGX_ERROR;
    }

    /* the zone counts in 32 bits */
    v = ngx_atoi(s->data, s->len - 2);
    if (v == NGX_ERROR || v == 0 || v > 0x7fffffff) {
        return NGX_ERROR;
    }

    *n = (ngx_uint_t) v;

    switch (s->data[s->len - 1]) {
    case 'h':
        *per_hour = 1;
        return NGX_OK;
    case 'm':
        *per_hour = 0;
        return NGX_OK;
    default:
        return NGX_ERROR;
    }
}

char *
ngx_http_px_tier(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_array_t       **tiers = (ngx_array_t **) ((char *) conf
                                                  + cmd->offset);
    ngx_str_t           *value, burst;
    ngx_uint_t           hourly;
    ngx_http_px_tier_t  *t;

    value = cf->args->elts;

    if (*tiers == NULL) {
        *tiers = ngx_array_create(cf->pool, 4, sizeof(ngx_http_px_tier_t));
        if (*tiers == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_px_tier_find(*tiers, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "duplicate tier \"%V\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    t = ngx_array_push(*tiers);
    if (t == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(t, sizeof(ngx_http_px_tier_t));
    t->name = value[1];

    if (cf->args->nelts == 3 && ngx_strcmp(value[2].data, "unlimited") == 0)
    {
        t->unlimited = 1;
        return NGX_CONF_OK;
    }

    if (ngx_http_px_parse_rate(&value[2], &t->per_hour, &hourly) != NGX_OK
        || !hourly)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid quota \"%V\", expected N/h or unlimited",
                           &value[2]);
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 4) {
        if (ngx_strncmp(value[3].data, "burst=", 6) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[3]);
            return NGX_CONF_ERROR;
        }

        burst.data = value[3].data + 6;
        burst.len = value[3].len - 6;

        if (ngx_http_px_parse_rate(&burst, &t->per_minute, &hourly)
            != NGX_OK || hourly || t->per_minute > t->per_hour)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid burst \"%V\", expected N/m no more "
                               "than the hourly quota", &value[3]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}

char *
ngx_http_px_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_shm_zone_t  **zone = (ngx_shm_zone_t **) ((char *) conf
                                                  + cmd->offset);
    ngx_str_t        *value;

    if (*zone != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        *zone = NULL;
        return NGX_CONF_OK;
    }

    /* another zone of this module would be read as a limit zone */
    if (ngx_strcmp(value[1].data, "px_stats") == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"px_stats\" is the statistics zone, not a "
                           "px_limit_zone");
        return NGX_CONF_ERROR;
    }

    /* size 0: a reference, checked once every zone is known */
    *zone = ngx_shared_memory_add(cf, &value[1], 0, &ngx_http_px_module);
    if (*zone == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}

ngx_http_px_tier_t *
ngx_http_px_tier_find(ngx_array_t *tiers, ngx_str_t *name)
{
    ngx_uint_t           i;
    ngx_http_px_tier_t  *t;

    if (tiers == NULL) {
        return NULL;
    }

    t = tiers->elts;
    for (i = 0; i < tiers->nelts; i++) {
        if (t[i].name.len == name->len
            && ngx_strncmp(t[i].name.data, name->data, name->len) == 0)
        {
            return &t[i];
        }
    }

    return NULL;
}
