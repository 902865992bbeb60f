#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>

#include "ngx_http_px_limit.h"
#include "ngx_http_px_limit_redis.h"
#include "ngx_http_px_stats.h"

/* counters synced at most per sync, the most recently used first */
#define NGX_HTTP_PX_REDIS_MAX_ITEMS   1000
/* counters used this long ago still get the other nodes' totals */
#define NGX_HTTP_PX_REDIS_RECENT      60
/* key lifetimes: a window and as much again */
#define NGX_HTTP_PX_REDIS_HOUR_TTL    "7200000"
#define NGX_HTTP_PX_REDIS_MINUTE_TTL  "120000"

/* What a reply is for. */
enum {
    NGX_HTTP_PX_REPLY_IGNORE = 0,       /* PEXPIRE, PING */
    NGX_HTTP_PX_REPLY_HOUR,             /* the hour window's total */
    NGX_HTTP_PX_REPLY_MINUTE
};

typedef struct {
    ngx_uint_t                   item;
    ngx_uint_t                   what;
} ngx_http_px_redis_reply_t;

/* One zone's sync, in worker process 0. */
typedef struct ngx_http_px_redis_sync_s  ngx_http_px_redis_sync_t;

struct ngx_http_px_redis_sync_s {
    ngx_http_px_redis_sync_t    *next_sync; /* this process's others */
    ngx_shm_zone_t              *zone;
    ngx_http_px_limit_redis_t   *conf;
    ngx_event_t                  timer;
    ngx_peer_connection_t        pc;        /* pc.connection: kept open */
    ngx_log_t                    quiet;     /* connect and I/O errors: one
                                               line per outage, ours */
    ngx_pool_t                  *pool;      /* the sync under way; NULL:
                                               none */
    ngx_array_t                  items;     /* ngx_http_px_limit_item_t */
    ngx_array_t                  replies;   /* ngx_http_px_redis_reply_t */
    ngx_uint_t                   next;      /* the reply awaited */
    u_char                      *out;       /* the commands left to send */
    u_char                      *out_end;
    u_char                       in[4096];  /* replies not yet parsed */
    size_t                       in_len;
    const char                  *error;     /* why the sync failed */
    u_char                       reply_error[128];
};

/* this process's syncs, closed at its exit: nginx aborts a worker process
 * that leaves a socket open */
static ngx_http_px_redis_sync_t  *ngx_http_px_redis_syncs;

static void ngx_http_px_redis_timer(ngx_event_t *ev);
static void ngx_http_px_redis_start(ngx_http_px_redis_sync_t *s);
static ngx_int_t ngx_http_px_redis_build(ngx_http_px_redis_sync_t *s,
    ngx_uint_t auth);
static ngx_int_t ngx_http_px_redis_command(ngx_http_px_redis_sync_t *s,
    u_char **p, u_char *last, ngx_uint_t n, ngx_str_t *args,
    ngx_uint_t item, ngx_uint_t what);
static void ngx_http_px_redis_write(ngx_event_t *ev);
static void ngx_http_px_redis_read(ngx_event_t *ev);
static void ngx_http_px_redis_idle(ngx_connection_t *c);
static ngx_int_t ngx_http_px_redis_parse(ngx_http_px_redis_sync_t *s);
static ngx_int_t ngx_http_px_redis_number(u_char *p, u_char *last,
    int64_t *v);
static void ngx_http_px_redis_done(ngx_http_px_redis_sync_t *s,
    const char *error);
static void ngx_http_px_redis_close(ngx_http_px_redis_sync_t *s);

ngx_int_t
ngx_http_px_limit_redis_init_process(ngx_cycle_t *cycle, ngx_array_t *zones)
{
    ngx_uint_t                  i;
    ngx_shm_zone_t            **zone;
    ngx_http_px_redis_sync_t   *s;
    ngx_http_px_limit_redis_t  *conf;

    /* one sync per node: the zone is the node's, shared by its workers */
    if (zones == NULL || ngx_worker != 0) {
        return NGX_OK;
    }

    zone = zones->elts;
    for (i = 0; i < zones->nelts; i++) {
        conf = ngx_http_px_limit_zone_redis(zone[i]);
        if (conf == NULL) {
            continue;
        }

        s = ngx_pcalloc(cycle->pool, sizeof(ngx_http_px_redis_sync_t));
        if (s == NULL) {
            return NGX_ERROR;
        }

        s->zone = zone[i];
        s->conf = conf;
        s->next_sync = ngx_http_px_redis_syncs;
        ngx_http_px_redis_syncs = s;

        s->quiet = *cycle->log;
        s->quiet.log_level = NGX_LOG_ALERT;

        s->pc.sockaddr = conf->addr.sockaddr;
        s->pc.socklen = conf->addr.socklen;
        s->pc.name = &conf->addr_text;
        s->pc.get = ngx_event_get_peer;
        s->pc.log = &s->quiet;
        s->pc.log_error = NGX_ERROR_ERR;

        s->timer.handler = ngx_http_px_redis_timer;
        s->timer.data = s;
        s->timer.log = cycle->log;
        s->timer.cancelable = 1;
        ngx_add_timer(&s->timer, conf->interval);
    }

    return NGX_OK;
}

void
ngx_http_px_limit_redis_exit_process(void)
{
    ngx_http_px_redis_sync_t  *s;

    for (s = ngx_http_px_redis_syncs; s != NULL; s = s->next_sync) {
        if (s->timer.timer_set) {
            ngx_del_timer(&s->timer);
        }

        /* a sync under way is dropped: its counts go back to new, for
         * the next worker process 0; Redis is not down for that */
        if (s->pool != NULL) {
            (void) ngx_http_px_limit_synced(s->zone, &s->items,
                                            NGX_DECLINED);
            ngx_destroy_pool(s->pool);
            s->pool = NULL;
        }

        ngx_http_px_redis_close(s);
    }

    ngx_http_px_redis_syncs = NULL;
}

static void
ngx_http_px_redis_timer(ngx_event_t *ev)
{
    ngx_http_px_redis_sync_t  *s = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        if (s->pool == NULL) {
            ngx_http_px_redis_close(s);
        }
        return;
    }

    /* a sync still under way (a slow Redis) is not doubled */
    if (s->pool == NULL) {
        ngx_http_px_redis_start(s);
    }

    ngx_add_timer(&s->timer, s->conf->interval);
}

static void
ngx_http_px_redis_start(ngx_http_px_redis_sync_t *s)
{
    time_t             since, last;
    ngx_int_t          rc;
    ngx_connection_t  *c;

    s->pool = ngx_create_pool(4096, s->timer.log);
    if (s->pool == NULL) {
        return;
    }

    ngx_memzero(&s->items, sizeof(ngx_array_t));
    ngx_memzero(&s->replies, sizeof(ngx_array_t));

    if (ngx_array_init(&s->items, s->pool, 16,
                       sizeof(ngx_http_px_limit_item_t)) != NGX_OK
        || ngx_array_init(&s->replies, s->pool, 64,
                          sizeof(ngx_http_px_redis_reply_t)) != NGX_OK)
    {
        ngx_http_px_redis_done(s, "out of memory");
        return;
    }

    /* the counters used lately, and all used since the last good sync:
     * their counts taken during an outage still reach Redis */
    since = ngx_time() - NGX_HTTP_PX_REDIS_RECENT;
    last = ngx_http_px_limit_last_sync(s->zone);
    if (last != 0 && last < since) {
        since = last;
    }

    if (ngx_http_px_limit_collect(s->zone, s->pool, &s->items, since,
                                  NGX_HTTP_PX_REDIS_MAX_ITEMS) != NGX_OK
        || ngx_http_px_redis_build(s, s->pc.connection == NULL) != NGX_OK)
    {
        ngx_http_px_redis_done(s, "out of memory");
        return;
    }

    s->next = 0;
    s->in_len = 0;

    c = s->pc.connection;

    if (c == NULL) {
        rc = ngx_event_connect_peer(&s->pc);

        if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
            s->pc.connection = NULL;
            ngx_http_px_redis_done(s, "cannot connect");
            return;
        }

        c = s->pc.connection;
        c->data = s;
        c->read->handler = ngx_http_px_redis_read;
        c->write->handler = ngx_http_px_redis_write;

        ngx_add_timer(c->read, s->conf->timeout);

        if (rc == NGX_AGAIN) {
            return;     /* connecting: the write event goes on */
        }

    } else {
        ngx_add_timer(c->read, s->conf->timeout);
    }

    ngx_http_px_redis_write(c->write);
}

/* The commands of a sync: AUTH first on a new connection (auth) when
 * there is a password; per counter and window, INCRBY + PEXPIRE when this
 * node has something to add, else GET; PING when there is no counter (so
 * that an outage and its end are seen all the same). */
static ngx_int_t
ngx_http_px_redis_build(ngx_http_px_redis_sync_t *s, ngx_uint_t auth)
{
    u_char                    *p, *last;
    size_t                     size, keys;
    ngx_str_t                  args[3], key, delta, *zone_name;
    ngx_uint_t                 i, w;
    ngx_http_px_limit_item_t  *it;

    static ngx_str_t  incrby = ngx_string("INCRBY");
    static ngx_str_t  pexpire = ngx_string("PEXPIRE");
    static ngx_str_t  get = ngx_string("GET");
    static ngx_str_t  ping = ngx_string("PING");
    static ngx_str_t  auth_cmd = ngx_string("AUTH");
    static ngx_str_t  ttl[2] = { ngx_string(NGX_HTTP_PX_REDIS_HOUR_TTL),
                                 ngx_string(NGX_HTTP_PX_REDIS_MINUTE_TTL) };

    zone_name = &s->zone->shm.name;
    it = s->items.elts;

    /* a command of up to 3 arguments: "*3\r\n" and "$len\r\n...\r\n" each */
    size = 64 + 64 + s->conf->password.len;
    for (i = 0; i < s->items.nelts; i++) {
        keys = sizeof("px:rl::::h:") + zone_name->len + it[i].id.len
               + NGX_TIME_T_LEN;
        size += 2 * 2 * (3 * 32 + 2 * keys + NGX_INT_T_LEN);
    }

    s->out = ngx_pnalloc(s->pool, size);
    if (s->out == NULL) {
        return NGX_ERROR;
    }

    p = s->out;
    last = s->out + size;

    if (auth && s->conf->password.len) {
        args[0] = auth_cmd;
        args[1] = s->conf->password;
        if (ngx_http_px_redis_command(s, &p, last, 2, args, 0,
                                      NGX_HTTP_PX_REPLY_IGNORE) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (s->items.nelts == 0) {
        if (ngx_http_px_redis_command(s, &p, last, 1, &ping, 0,
                                      NGX_HTTP_PX_REPLY_IGNORE) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < s->items.nelts; i++) {
        for (w = 0; w < 2; w++) {
            key.data = ngx_pnalloc(s->pool, sizeof("px:rl::::h:")
                                   + zone_name->len + it[i].id.len
                                   + NGX_TIME_T_LEN);
            delta.data = ngx_pnalloc(s->pool, NGX_INT_T_LEN);
            if (key.data == NULL || delta.data == NULL) {
                return NGX_ERROR;
            }

            /* px:rl:<zone>:<project> <tier>:h:<window start> */
            key.len = ngx_sprintf(key.data, "px:rl:%V:%V:%s:%T", zone_name,
                                  &it[i].id, w == 0 ? "h" : "m",
                                  w == 0 ? it[i].hour : it[i].minute)
                      - key.data;
            delta.len = ngx_sprintf(delta.data, "%i",
                                    w == 0 ? it[i].hour_delta
                                           : it[i].minute_delta)
                        - delta.data;

            if ((w == 0 ? it[i].hour_delta : it[i].minute_delta) == 0) {
                args[0] = get;
                args[1] = key;
                if (ngx_http_px_redis_command(s, &p, last, 2, args, i,
                        NGX_HTTP_PX_REPLY_HOUR + w) != NGX_OK)
                {
                    return NGX_ERROR;
                }
                continue;
            }

            args[0] = incrby;
            args[1] = key;
            args[2] = delta;
            if (ngx_http_px_redis_command(s, &p, last, 3, args, i,
                                          NGX_HTTP_PX_REPLY_HOUR + w)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            args[0] = pexpire;
            args[2] = ttl[w];
            if (ngx_http_px_redis_command(s, &p, last, 3, args, i,
                                          NGX_HTTP_PX_REPLY_IGNORE)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    s->out_end = p;
    return NGX_OK;
}

/* One command in RESP at *p, bounded by last; its reply expected. */
static ngx_int_t
ngx_http_px_redis_command(ngx_http_px_redis_sync_t *s, u_char **p,
    u_char *last, ngx_uint_t n, ngx_str_t *args, ngx_uint_t item,
    ngx_uint_t what)
{
    u_char                     *q;
    ngx_uint_t                  i;
    ngx_http_px_redis_reply_t  *rp;

    q = ngx_slprintf(*p, last, "*%ui\r\n", n);
    for (i = 0; i < n; i++) {
        q = ngx_slprintf(q, last, "$%uz\r\n%V\r\n", args[i].len, &args[i]);
    }

    if (q == last) {
        return NGX_ERROR;   /* cannot happen: the size is an upper bound */
    }

    rp = ngx_array_push(&s->replies);
    if (rp == NULL) {
        return NGX_ERROR;
    }

    rp->item = item;
    rp->what = what;
    *p = q;
    return NGX_OK;
}

static void
ngx_http_px_redis_write(ngx_event_t *ev)
{
    ssize_t                    n;
    ngx_connection_t          *c = ev->data;
    ngx_http_px_redis_sync_t  *s = c->data;

    if (s->pool == NULL) {
        return;     /* idle: nothing to send */
    }

    while (s->out < s->out_end) {
        n = c->send(c, s->out, s->out_end - s->out);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(ev, 0) != NGX_OK) {
                ngx_http_px_redis_done(s, "cannot send");
            }
            return;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_http_px_redis_done(s, "cannot send");
            return;
        }

        s->out += n;
    }

    if (c->read->ready) {
        ngx_http_px_redis_read(c->read);
    }
}

static void
ngx_http_px_redis_read(ngx_event_t *ev)
{
    ssize_t                    n;
    ngx_int_t                  rc;
    ngx_connection_t          *c = ev->data;
    ngx_http_px_redis_sync_t  *s = c->data;

    if (s->pool == NULL) {
        ngx_http_px_redis_idle(c);
        return;
    }

    if (ev->timedout) {
        ngx_http_px_redis_done(s, "timed out");
        return;
    }

    for ( ;; ) {
        if (s->in_len == sizeof(s->in)) {
            ngx_http_px_redis_done(s, "reply line too long");
            return;
        }

        n = c->recv(c, s->in + s->in_len, sizeof(s->in) - s->in_len);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_http_px_redis_done(s, "connection closed");
            return;
        }

        s->in_len += n;

        rc = ngx_http_px_redis_parse(s);

        if (rc == NGX_OK) {
            ngx_http_px_redis_done(s, NULL);
            return;
        }

        if (rc == NGX_ERROR) {
            ngx_http_px_redis_done(s, s->error);
            return;
        }
    }

    if (ngx_handle_read_event(ev, 0) != NGX_OK) {
        ngx_http_px_redis_done(s, "cannot read");
    }
}

/* Between syncs: Redis closing the connection (its idle timeout, a
 * restart) closes it here, so that the next sync opens a new one instead
 * of failing on this one. */
static void
ngx_http_px_redis_idle(ngx_connection_t *c)
{
    u_char                     buf[1];
    ssize_t                    n;
    ngx_http_px_redis_sync_t  *s = c->data;

    n = c->recv(c, buf, sizeof(buf));

    if (n == NGX_AGAIN) {
        if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
            ngx_http_px_redis_close(s);
        }
        return;
    }

    /* closed, an error, or bytes nobody asked for */
    ngx_http_px_redis_close(s);
}

/* The replies in s->in: NGX_OK once all are in, NGX_AGAIN for more,
 * NGX_ERROR (s->error) for an error reply or a protocol error.  Every
 * reply expected is one line (integer, status, error) or a short bulk
 * string (GET of a count). */
static ngx_int_t
ngx_http_px_redis_parse(ngx_http_px_redis_sync_t *s)
{
    u_char                     *p, *end, *cr, *nl, *data;
    size_t                      len;
    int64_t                     v, blen;
    ngx_http_px_redis_reply_t  *rp;
    ngx_http_px_limit_item_t   *it;

    p = s->in;
    end = s->in + s->in_len;
    rp = s->replies.elts;
    it = s->items.elts;

    while (s->next < s->replies.nelts) {
        nl = ngx_strlchr(p, end, '\n');
        if (nl == NULL) {
            break;
        }

        cr = nl - 1;
        if (cr <= p || *cr != '\r') {
            s->error = "bad reply line";
            return NGX_ERROR;
        }

        v = 0;

        switch (*p) {

        case ':':
            if (ngx_http_px_redis_number(p + 1, cr, &v) != NGX_OK) {
                s->error = "bad integer reply";
                return NGX_ERROR;
            }
            p = cr + 2;
            break;

        case '+':
            p = cr + 2;
            break;

        case '-':
            len = ngx_min((size_t) (cr - p - 1), sizeof(s->reply_error) - 1);
            *ngx_cpymem(s->reply_error, p + 1, len) = '\0';
            s->error = (const char *) s->reply_error;
            return NGX_ERROR;

        case '$':
            if (ngx_http_px_redis_number(p + 1, cr, &blen) != NGX_OK
                || blen < -1 || blen > 20)
            {
                s->error = "unexpected bulk reply";
                return NGX_ERROR;
            }

            if (blen == -1) {       /* no such key: nothing counted yet */
                p = cr + 2;
                break;
            }

            data = cr + 2;
            if (end - data < blen + 2) {
                goto more;
            }

            if (ngx_http_px_redis_number(data, data + blen, &v) != NGX_OK
                || data[blen] != '\r' || data[blen + 1] != '\n')
            {
                s->error = "a count that is not a number";
                return NGX_ERROR;
            }

            p = data + blen + 2;
            break;

        default:
            s->error = "unexpected reply";
            return NGX_ERROR;
        }

        v = ngx_max(v, 0);

        if (rp[s->next].what == NGX_HTTP_PX_REPLY_HOUR) {
            it[rp[s->next].item].hour_total = (ngx_uint_t) v;

        } else if (rp[s->next].what == NGX_HTTP_PX_REPLY_MINUTE) {
            it[rp[s->next].item].minute_total = (ngx_uint_t) v;
        }

        s->next++;
    }

more:

    s->in_len = end - p;
    ngx_memmove(s->in, p, s->in_len);

    return s->next == s->replies.nelts ? NGX_OK : NGX_AGAIN;
}

/* A signed decimal integer from p to last. */
static ngx_int_t
ngx_http_px_redis_number(u_char *p, u_char *last, int64_t *v)
{
    ngx_int_t  sign, n;

    sign = 1;
    if (p < last && *p == '-') {
        sign = -1;
        p++;
    }

    if (p == last || last - p > 18) {
        return NGX_ERROR;
    }

    n = ngx_atoi(p, last - p);
    if (n == NGX_ERROR) {
        return NGX_ERROR;
    }

    *v = sign * (int64_t) n;
    return NGX_OK;
}

/* The end of a sync: error NULL when every reply came. */
static void
ngx_http_px_redis_done(ngx_http_px_redis_sync_t *s, const char *error)
{
    ngx_uint_t                  ok;
    ngx_connection_t           *c;
    ngx_http_px_limit_redis_t  *conf = s->conf;

    ok = (error == NULL);
    c = s->pc.connection;

    if (c != NULL && c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (!ok) {
        ngx_http_px_redis_close(s);
    }

    ngx_http_px_stats_add(ok ? NGX_HTTP_PX_STAT_LIMIT_SYNCS
                             : NGX_HTTP_PX_STAT_LIMIT_SYNC_FAILED, 1);

    /* logged when it changes: once an outage, once its end */
    if (ngx_http_px_limit_synced(s->zone, &s->items,
                                 ok ? NGX_OK : NGX_ERROR))
    {
        if (ok) {
            ngx_log_error(NGX_LOG_WARN, s->timer.log, 0,
                          "px: rate limit Redis %V is back: the limits of "
                          "zone \"%V\" are global again",
                          &conf->addr_text, &s->zone->shm.name);
        } else {
            ngx_log_error(NGX_LOG_ERR, s->timer.log, 0,
                          "px: rate limit Redis %V unreachable (%s): each "
                          "node takes 1/%ui of the limits of zone \"%V\" "
                          "until it is back", &conf->addr_text, error,
                          conf->nodes, &s->zone->shm.name);
        }
    }

    ngx_destroy_pool(s->pool);
    s->pool = NULL;
}

static void
ngx_http_px_redis_close(ngx_http_px_redis_sync_t *s)
{
    if (s->pc.connection != NULL) {
        ngx_close_connection(s->pc.connection);
        s->pc.connection = NULL;
    }
}
