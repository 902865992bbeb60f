#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "session_store.h"

/* Fields per HMGET or per group of the script: bounds a command's size
 * (and Lua's unpack()); the commands of a batch share one round trip. */
#define PX_KV_CHUNK   1000

/*
 * The write, atomically.  KEYS: per visitor group its hash of the current
 * window and the one before; per event group its hash of the current
 * window.  ARGV: the number of visitor groups, of event groups, the
 * EXPIREAT of visitor hashes, of event hashes; per visitor group its size
 * c then c times (field, value read or "", new value); per event group c
 * then c times (field, value).  Answers 0, writing nothing, when a
 * visitor's value is no longer the one read; else writes and answers 1.
 */
static const char  px_kv_lua[] =
    "local nvg, neg = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local unpack = unpack or table.unpack\n"
    "local a, k = 5, 1\n"
    "for g = 1, nvg do\n"
    "  local c, f = tonumber(ARGV[a]), {}\n"
    "  for i = 1, c do f[i] = ARGV[a + 3 * i - 2] end\n"
    "  local cur = redis.call('HMGET', KEYS[k], unpack(f))\n"
    "  local prev = redis.call('HMGET', KEYS[k + 1], unpack(f))\n"
    "  for i = 1, c do\n"
    "    if (cur[i] or prev[i] or '') ~= ARGV[a + 3 * i - 1] then\n"
    "      return 0\n"
    "    end\n"
    "  end\n"
    "  a, k = a + 1 + 3 * c, k + 2\n"
    "end\n"
    "a, k = 5, 1\n"
    "for g = 1, nvg do\n"
    "  local c, fv = tonumber(ARGV[a]), {}\n"
    "  for i = 1, c do\n"
    "    fv[2 * i - 1] = ARGV[a + 3 * i - 2]\n"
    "    fv[2 * i] = ARGV[a + 3 * i]\n"
    "  end\n"
    "  redis.call('HSET', KEYS[k], unpack(fv))\n"
    "  redis.call('EXPIREAT', KEYS[k], ARGV[3])\n"
    "  a, k = a + 1 + 3 * c, k + 2\n"
    "end\n"
    "for g = 1, neg do\n"
    "  local c, fv = tonumber(ARGV[a]), {}\n"
    "  for i = 1, 2 * c do fv[i] = ARGV[a + i] end\n"
    "  redis.call('HSET', KEYS[k], unpack(fv))\n"
    "  redis.call('EXPIREAT', KEYS[k], ARGV[4])\n"
    "  a, k = a + 1 + 2 * c, k + 1\n"
    "end\n"
    "return 1\n";

static const char  px_kv_family[2] = { 'E', 'V' };

void
px_kv_init(px_kv_t *kv, const char *prefix, long events_window_s,
    long visitors_window_s, size_t cache_bytes)
{
    memset(kv, 0, sizeof(*kv));
    snprintf(kv->prefix, sizeof(kv->prefix), "%s", prefix);
    kv->window_s[PX_KV_EVENTS] = events_window_s;
    kv->window_s[PX_KV_VISITORS] = visitors_window_s;
    px_buf_init(&kv->fields, NULL, 0);
    px_buf_init(&kv->vals, NULL, 0);
    px_buf_init(&kv->news, NULL, 0);
    px_buf_init(&kv->cmd, NULL, 0);
    px_buf_init(&kv->keys, NULL, 0);
    px_buf_init(&kv->args, NULL, 0);
    px_vcache_init(&kv->vcache, cache_bytes);
}

void
px_kv_free(px_kv_t *kv)
{
    int  f;

    for (f = 0; f < 2; f++) {
        free(kv->items[f]);
        free(kv->order[f]);
    }
    px_buf_free(&kv->fields);
    px_buf_free(&kv->vals);
    px_buf_free(&kv->news);
    px_buf_free(&kv->cmd);
    px_buf_free(&kv->keys);
    px_buf_free(&kv->args);
    px_vcache_free(&kv->vcache);
}

void
px_kv_forget_visitors(px_kv_t *kv)
{
    px_vcache_clear(&kv->vcache);
}

void
px_kv_clear(px_kv_t *kv)
{
    kv->fields.len = 0;
    kv->vals.len = 0;
    kv->news.len = 0;
    kv->n[0] = 0;
    kv->n[1] = 0;
}

uint64_t
px_kv_hash(const char *p, size_t n)
{
    uint64_t  h = 1469598103934665603ULL;

    while (n-- > 0) {
        h = (h ^ (unsigned char) *p++) * 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 33);
}

long
px_kv_add(px_kv_t *kv, int family, size_t from)
{
    size_t         cap;
    px_kv_item_t  *it;
    void          *p;

    if (kv->n[family] == kv->cap[family]) {
        cap = kv->cap[family] > 0 ? kv->cap[family] * 2 : 256;
        p = realloc(kv->items[family], cap * sizeof(px_kv_item_t));
        if (p == NULL) {
            return -1;
        }
        kv->items[family] = p;
        p = realloc(kv->order[family], cap * sizeof(size_t));
        if (p == NULL) {
            return -1;
        }
        kv->order[family] = p;
        kv->cap[family] = cap;
    }

    it = &kv->items[family][kv->n[family]];
    memset(it, 0, sizeof(*it));
    it->field = from;
    it->field_len = kv->fields.len - from;
    it->hash = px_kv_hash(kv->fields.data + from, it->field_len);
    it->shard = (unsigned) (it->hash % PX_KV_SHARDS);
    return (long) kv->n[family]++;
}

int
px_kv_set(px_kv_t *kv, int family, size_t i, const char *v, size_t n)
{
    px_kv_item_t  *it = &kv->items[family][i];

    it->nval = kv->news.len;
    it->nval_len = n;
    it->write = 1;
    return px_buf_append(&kv->news, v, n);
}

static int64_t
px_kv_window(const px_kv_t *kv, int family)
{
    return (int64_t) time(NULL) / kv->window_s[family];
}

static const char *
px_kv_field(const px_kv_t *kv, const px_kv_item_t *it)
{
    return kv->fields.data + it->field;
}

/* The items of a family in shard order (counting sort), with
 * start[s]..start[s + 1] the range of shard s in order[]; those taken
 * from the visitor cache left out when uncached_only. */
static void
px_kv_sort(px_kv_t *kv, int family, int uncached_only)
{
    size_t         i, s, at[PX_KV_SHARDS];
    size_t        *start = kv->start[family];
    px_kv_item_t  *it;

    memset(start, 0, sizeof(kv->start[family]));
    for (i = 0; i < kv->n[family]; i++) {
        it = &kv->items[family][i];
        start[it->shard + 1] += !(uncached_only && it->cached);
    }
    for (s = 0; s < PX_KV_SHARDS; s++) {
        start[s + 1] += start[s];
        at[s] = start[s];
    }
    for (i = 0; i < kv->n[family]; i++) {
        it = &kv->items[family][i];
        if (!(uncached_only && it->cached)) {
            kv->order[family][at[it->shard]++] = i;
        }
    }
}

/* The visitor items whose state this worker wrote last on this
 * connection, from the cache: found and cached set, the value in vals. */
static int
px_kv_take_cached(px_kv_t *kv, px_redis_t *r, int64_t window)
{
    int            rc;
    size_t         i, len;
    const char    *val;
    px_kv_item_t  *it;

    if (kv->vcache_generation != px_redis_generation(r)) {
        /* another connection, maybe another server: it may know none */
        px_vcache_clear(&kv->vcache);
        kv->vcache_generation = px_redis_generation(r);
    }

    for (i = 0; i < kv->n[PX_KV_VISITORS]; i++) {
        it = &kv->items[PX_KV_VISITORS][i];
        it->cached = 0;
        it->found = 0;

        /* what Redis would answer: the current window's or the last's */
        rc = px_vcache_get(&kv->vcache, it->hash, window - 1, &val, &len);
        if (rc < 0) {
            return -1;
        }
        if (rc == 1) {
            it->cached = 1;
            it->found = 1;
            it->val = kv->vals.len;
            it->val_len = len;
            if (px_buf_append(&kv->vals, val, len) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* After a write: the visitor states written, into the cache. */
static void
px_kv_keep_written(px_kv_t *kv)
{
    size_t         i;
    px_kv_item_t  *it;

    for (i = 0; i < kv->n[PX_KV_VISITORS]; i++) {
        it = &kv->items[PX_KV_VISITORS][i];
        if (it->write
            && px_vcache_put(&kv->vcache, it->hash, kv->news.data + it->nval,
                             it->nval_len, kv->written_window) != 0)
        {
            /* out of memory: the cache is empty, Redis is read again */
            return;
        }
    }
}

/* RESP: "$<len>\r\n<data>\r\n" */
static int
px_bulk(px_buf_t *out, const char *p, size_t n)
{
    return px_buf_append(out, "$", 1)
           || px_buf_append_i64(out, (int64_t) n)
           || px_buf_append(out, "\r\n", 2)
           || px_buf_append(out, p, n)
           || px_buf_append(out, "\r\n", 2);
}

static int
px_bulk_i64(px_buf_t *out, int64_t v)
{
    char  num[PX_I64_DIGITS_MAX], *p;

    p = px_i64_digits(num + sizeof(num), v);
    return px_bulk(out, p, (size_t) (num + sizeof(num) - p));
}

/* RESP: "*<argc>\r\n" and the command's name, into out (emptied). */
static int
px_command(px_buf_t *out, size_t argc, const char *name)
{
    out->len = 0;
    return px_buf_append(out, "*", 1)
           || px_buf_append_i64(out, (int64_t) argc)
           || px_buf_append(out, "\r\n", 2)
           || px_bulk(out, name, strlen(name));
}

/* The hash of a family, window and shard as a bulk string. */
static int
px_kv_key(px_kv_t *kv, px_buf_t *out, int family, int64_t window,
    unsigned shard)
{
    char  key[128];
    int   n;

    n = snprintf(key, sizeof(key), "%s%c:%lld:%u", kv->prefix,
                 px_kv_family[family], (long long) window, shard);
    return n < 0 || (size_t) n >= sizeof(key) ? -1 : px_bulk(out, key, n);
}

/* Queue "HMGET <hash of window, shard> fields of order[a..b)". */
static int
px_kv_queue_hmget(px_kv_t *kv, redisContext *c, int family, int64_t window,
    unsigned shard, size_t a, size_t b)
{
    size_t         j;
    px_kv_item_t  *it;

    if (px_command(&kv->cmd, 2 + (b - a), "HMGET")
        || px_kv_key(kv, &kv->cmd, family, window, shard))
    {
        return -1;
    }
    for (j = a; j < b; j++) {
        it = &kv->items[family][kv->order[family][j]];
        if (px_bulk(&kv->cmd, px_kv_field(kv, it), it->field_len)) {
            return -1;
        }
    }
    return redisAppendFormattedCommand(c, kv->cmd.data, kv->cmd.len)
           != REDIS_OK ? -1 : 0;
}

/* Each group of a family (a shard's items, PX_KV_CHUNK at a time): fn. */
#define PX_KV_GROUPS(kv, family, s, a, b)                                     \
    for (s = 0; s < PX_KV_SHARDS; s++)                                        \
        for (a = (kv)->start[family][s];                                      \
             b = (kv)->start[family][s + 1] - a > PX_KV_CHUNK                 \
                 ? a + PX_KV_CHUNK : (kv)->start[family][s + 1],              \
             a < (kv)->start[family][s + 1];                                  \
             a = b)

static redisReply *
px_kv_reply(redisContext *c, px_redis_t *r, char *err, size_t errlen)
{
    redisReply  *reply;

    if (redisGetReply(c, (void **) &reply) != REDIS_OK || reply == NULL) {
        snprintf(err, errlen, "redis %s: %s", px_redis_name(r),
                 c->errstr[0] != '\0' ? c->errstr : "no reply");
        return NULL;
    }
    return reply;
}

/* The two HMGET replies (current window, the one before) of order[a..b). */
static int
px_kv_take(px_kv_t *kv, redisContext *c, px_redis_t *r, int family,
    size_t a, size_t b, char *err, size_t errlen)
{
    int            rc = 0;
    size_t         j, w;
    redisReply    *reply[2] = { NULL, NULL }, *e;
    px_kv_item_t  *it;

    for (w = 0; w < 2; w++) {
        reply[w] = px_kv_reply(c, r, err, errlen);
        if (reply[w] == NULL) {
            rc = -1;
        } else if (reply[w]->type != REDIS_REPLY_ARRAY
                   || reply[w]->elements != b - a)
        {
            snprintf(err, errlen, "redis %s: HMGET: %s", px_redis_name(r),
                     reply[w]->type == REDIS_REPLY_ERROR
                     ? reply[w]->str : "unexpected reply");
            rc = -1;
        }
    }

    for (j = a; rc == 0 && j < b; j++) {
        it = &kv->items[family][kv->order[family][j]];
        e = reply[0]->element[j - a];
        if (e->type != REDIS_REPLY_STRING) {
            e = reply[1]->element[j - a];
        }
        it->found = e->type == REDIS_REPLY_STRING;
        if (it->found) {
            it->val = kv->vals.len;
            it->val_len = e->len;
            if (px_buf_append(&kv->vals, e->str, e->len) != 0) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
            }
        }
    }

    freeReplyObject(reply[0]);
    freeReplyObject(reply[1]);
    return rc;
}

int
px_kv_read(px_kv_t *kv, px_redis_t *r, char *err, size_t errlen)
{
    int            f;
    size_t         a, b;
    unsigned       s;
    int64_t        w;
    redisContext  *c;

    c = px_redis_get(r, err, errlen);
    if (c == NULL) {
        return -1;
    }

    kv->vals.len = 0;
    if (px_kv_take_cached(kv, r, px_kv_window(kv, PX_KV_VISITORS)) != 0) {
        snprintf(err, errlen, "out of memory for the visitor cache");
        return -1;
    }

    for (f = 0; f < 2; f++) {
        px_kv_sort(kv, f, 1);
        w = px_kv_window(kv, f);
        PX_KV_GROUPS(kv, f, s, a, b) {
            if (px_kv_queue_hmget(kv, c, f, w, s, a, b)
                || px_kv_queue_hmget(kv, c, f, w - 1, s, a, b))
            {
                snprintf(err, errlen, "out of memory building the read");
                goto failed;
            }
        }
    }

    kv->round_trips++;

    for (f = 0; f < 2; f++) {
        PX_KV_GROUPS(kv, f, s, a, b) {
            if (px_kv_take(kv, c, r, f, a, b, err, errlen) != 0) {
                goto failed;
            }
        }
    }

    return 0;

failed:

    /* replies may be pending: start afresh */
    px_redis_drop(r);
    return -1;
}

/* The script call into kv->cmd: EVALSHA, or EVAL with the text. */
static int
px_kv_build_write(px_kv_t *kv, int eval)
{
    int            f;
    size_t         a, b, j, c, nkeys = 0, nargs = 4, groups[2] = { 0, 0 };
    int            bad;
    unsigned       s;
    int64_t        w[2];
    px_kv_item_t  *it;

    kv->keys.len = 0;
    kv->args.len = 0;

    for (f = PX_KV_VISITORS; f >= PX_KV_EVENTS; f--) {
        w[f] = px_kv_window(kv, f);
        px_kv_sort(kv, f, 0);

        PX_KV_GROUPS(kv, f, s, a, b) {
            for (j = a, c = 0; j < b; j++) {
                c += kv->items[f][kv->order[f][j]].write;
            }
            if (c == 0) {
                continue;
            }

            if (px_kv_key(kv, &kv->keys, f, w[f], s)
                || (f == PX_KV_VISITORS
                    && px_kv_key(kv, &kv->keys, f, w[f] - 1, s))
                || px_bulk_i64(&kv->args, (int64_t) c))
            {
                return -1;
            }
            nkeys += f == PX_KV_VISITORS ? 2 : 1;
            nargs += 1 + (f == PX_KV_VISITORS ? 3 : 2) * c;
            groups[f]++;

            for (j = a; j < b; j++) {
                it = &kv->items[f][kv->order[f][j]];
                if (!it->write) {
                    continue;
                }
                bad = px_bulk(&kv->args, px_kv_field(kv, it), it->field_len)
                       || (f == PX_KV_VISITORS
                           && px_bulk(&kv->args,
                                      it->found ? kv->vals.data + it->val : "",
                                      it->found ? it->val_len : 0))
                       || px_bulk(&kv->args, kv->news.data + it->nval,
                                  it->nval_len);
                if (bad) {
                    return -1;
                }
            }
        }
    }

    kv->written_window = w[PX_KV_VISITORS];

    /* EVAL(SHA) script|sha numkeys keys... nvg neg vexp eexp args... */
    return px_command(&kv->cmd, 3 + nkeys + nargs, eval ? "EVAL" : "EVALSHA")
           || (eval ? px_bulk(&kv->cmd, px_kv_lua, sizeof(px_kv_lua) - 1)
                    : px_bulk(&kv->cmd, kv->sha, 40))
           || px_bulk_i64(&kv->cmd, (int64_t) nkeys)
           || px_buf_append(&kv->cmd, kv->keys.data, kv->keys.len)
           || px_bulk_i64(&kv->cmd, (int64_t) groups[PX_KV_VISITORS])
           || px_bulk_i64(&kv->cmd, (int64_t) groups[PX_KV_EVENTS])
           || px_bulk_i64(&kv->cmd, (w[PX_KV_VISITORS] + 2)
                                    * kv->window_s[PX_KV_VISITORS])
           || px_bulk_i64(&kv->cmd, (w[PX_KV_EVENTS] + 2)
                                    * kv->window_s[PX_KV_EVENTS])
           || px_buf_append(&kv->cmd, kv->args.data, kv->args.len);
}

/* SCRIPT LOAD on a new connection (the server may be a new one). */
static int
px_kv_load_script(px_kv_t *kv, px_redis_t *r, char *err, size_t errlen)
{
    int          rc;
    redisReply  *reply;

    if (kv->sha[0] != '\0' && kv->sha_generation == px_redis_generation(r)) {
        return 0;
    }

    reply = px_redis_command(r, err, errlen, "SCRIPT LOAD %s", px_kv_lua);
    if (reply == NULL) {
        return -1;
    }

    rc = 0;
    if (reply->type == REDIS_REPLY_STRING && reply->len == 40) {
        memcpy(kv->sha, reply->str, 40);
        kv->sha[40] = '\0';
        kv->sha_generation = px_redis_generation(r);
    } else {
        snprintf(err, errlen, "redis %s: SCRIPT LOAD: %s", px_redis_name(r),
                 reply->type == REDIS_REPLY_ERROR ? reply->str
                                                   : "unexpected reply");
        rc = -1;
    }

    freeReplyObject(reply);
    return rc;
}

int
px_kv_write(px_kv_t *kv, px_redis_t *r, char *err, size_t errlen)
{
    int            rc, eval;
    redisReply    *reply;
    redisContext  *c;

    if (px_kv_load_script(kv, r, err, errlen) != 0) {
        return -1;
    }
    c = px_redis_get(r, err, errlen);
    if (c == NULL) {
        return -1;
    }

    for (eval = 0; eval < 2; eval++) {
        if (px_kv_build_write(kv, eval) != 0
            || redisAppendFormattedCommand(c, kv->cmd.data, kv->cmd.len)
               != REDIS_OK)
        {
            snprintf(err, errlen, "out of memory building the write");
            return -1;
        }

        kv->round_trips++;
        reply = px_kv_reply(c, r, err, errlen);
        if (reply == NULL) {
            px_redis_drop(r);
            px_vcache_clear(&kv->vcache);
            return -1;
        }

        if (!eval && reply->type == REDIS_REPLY_ERROR
            && strncmp(reply->str, "NOSCRIPT", 8) == 0)
        {
            /* the script cache was flushed under us: EVAL caches it */
            px_log(PX_LOG_INFO, "session", "redis %s did not know the "
                   "script; sending it", px_redis_name(r));
            freeReplyObject(reply);
            continue;
        }

        if (reply->type == REDIS_REPLY_INTEGER
            && (reply->integer == 0 || reply->integer == 1))
        {
            rc = reply->integer == 1 ? 0 : 1;
        } else {
            rc = -1;
        }

        if (rc == 0) {
            px_kv_keep_written(kv);
        } else {
            /* a visitor taken from the cache may be the one that changed */
            px_vcache_clear(&kv->vcache);
        }

        if (rc < 0) {
            snprintf(err, errlen, "redis %s: session write: %s",
                     px_redis_name(r),
                     reply->type == REDIS_REPLY_ERROR ? reply->str
                                                       : "unexpected reply");
            rc = -1;
        }
        freeReplyObject(reply);
        return rc;
    }

    snprintf(err, errlen, "redis %s: NOSCRIPT after EVAL", px_redis_name(r));
    return -1;
}
