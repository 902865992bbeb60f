#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedupe.h"
#include "log.h"
#include "redis_conn.h"
#include "session.h"
#include "session_rules.h"

/* Keys per MGET command: bounds one command's size; the commands of a
 * batch share one round trip. */
#define PX_SESSION_CHUNK   1000
#define PX_PREFIX_MAX      64
/* A batch whose visitors another worker wrote between the read and the
 * write is run again (two workers own a partition only briefly): so
 * often at most. */
#define PX_SESSION_TRIES   5

/*
 * A batch is two round trips (docs/sessions.md, "State in Redis"):
 *
 *   1. MGET every event key and visitor key of the batch;
 *   2. in the worker, per event in order: the dedupe check against its
 *      event key, then the session rules (session_rules.c) on its
 *      visitor's state; then one script call writes the batch: it checks
 *      that every touched visitor's key still holds what step 1 read,
 *      then SETs each touched visitor's key and each new event's key with
 *      its TTL, or writes nothing (another worker wrote meanwhile: the
 *      batch is run again).
 *
 * The script runs atomically, so a batch is written whole or not at all,
 * as before with one script doing everything; but the script only
 * compares and sets, a native SET per key, and the rules run here.
 *
 * event key   = "origin sid seq"              (TTL: PX_DEDUPE_TTL)
 * visitor key = "sid start_ms last_ms seq"    (TTL: max + timeout)
 *               [" sid start_ms last_ms seq"]: the visitor's other session
 *
 * KEYS  the touched visitors' keys, then the new events' keys.
 * ARGV  number of visitors, visitor TTL s, event TTL s; per visitor the
 *       value read ("" when none) and the new one; per event its value.
 * Answers 1 (written) or 0 (a visitor's key changed: nothing written).
 */
static const char  px_write_lua[] =
    "local nv = tonumber(ARGV[1])\n"
    "for i = 1, nv do\n"
    "  if (redis.call('GET', KEYS[i]) or '') ~= ARGV[2 + 2 * i] then\n"
    "    return 0\n"
    "  end\n"
    "end\n"
    "for i = 1, nv do\n"
    "  redis.call('SET', KEYS[i], ARGV[3 + 2 * i], 'EX', ARGV[2])\n"
    "end\n"
    "for i = nv + 1, #KEYS do\n"
    "  redis.call('SET', KEYS[i], ARGV[3 + nv + i], 'EX', ARGV[3])\n"
    "end\n"
    "return 1\n";

/* One event's answer: a kind of session_rules.h, or R (a replay: this
 * origin stored it, the assignment read back) or D (a duplicate: another
 * origin stored the event). */
typedef struct {
    char      kind;
    char      sid[PX_SESSION_ID_LEN + 1];
    uint32_t  seq;
} px_assign_t;

/* A sent event (not a duplicate within its batch): where its key and
 * origin are in st->keys, its visitor. */
typedef struct {
    size_t    key;
    size_t    key_len;
    size_t    origin;
    size_t    origin_len;
    size_t    visitor;      /* index in st->vis */
} px_sent_t;

/* A visitor of the batch. */
typedef struct {
    size_t              key;
    size_t              key_len;
    size_t              old;        /* the value read, in st->olds */
    size_t              old_len;    /* 0: none */
    px_visitor_state_t  state;
    int                 dirty;
} px_visit_t;

struct px_session_stage_s {
    px_redis_t          *redis;
    char                 prefix[PX_PREFIX_MAX];
    size_t               prefix_len;
    px_session_rules_t   rules;
    long                 event_ttl_s;
    long                 visitor_ttl_s;

    px_dedupe_t          dedupe;
    unsigned char       *dup;               /* per row: within the batch */
    size_t              *idx;               /* per sent event: its row */
    px_assign_t         *res;               /* per sent event */
    px_sent_t           *sent;              /* per sent event */
    size_t               nsent;
    px_visit_t          *vis;               /* per visitor */
    size_t               nvis;
    size_t              *slots;             /* visitor hash: index + 1 */
    size_t               nslots;            /* a power of two */
    size_t               cap;               /* of dup ... vis */

    px_buf_t             keys;              /* keys and origins */
    px_buf_t             cmd;               /* one command, RESP */
    px_buf_t             val;               /* one value */
    px_buf_t             olds;              /* visitor values read */
    px_buf_t             args;              /* the script's ARGV */
    px_buf_t             keys_out;          /* the script's KEYS */

    char                 sha[41];           /* of px_write_lua */
    unsigned long        sha_generation;    /* connection it was loaded on */

    px_session_between_pt  between;
    void                  *between_ctx;

    px_session_stats_t   stats;
};

void
px_session_conf_init(px_session_conf_t *conf, const px_config_t *cfg)
{
    memset(conf, 0, sizeof(*conf));
    conf->redis_url = cfg->redis_url;
    conf->session_timeout_s = cfg->session_timeout_s;
    conf->session_max_s = cfg->session_max_s;
    conf->dedupe_ttl_s = cfg->dedupe_ttl_s;
}

px_session_stage_t *
px_session_stage_new(const px_session_conf_t *conf, char *err, size_t errlen)
{
    const char          *prefix;
    px_session_stage_t  *st;

    if (conf->session_timeout_s <= 0 || conf->session_max_s <= 0
        || conf->dedupe_ttl_s <= 0)
    {
        snprintf(err, errlen, "session timeout, session max and dedupe TTL "
                 "must be positive");
        return NULL;
    }

    prefix = conf->key_prefix != NULL ? conf->key_prefix : "px:";
    if (strlen(prefix) >= PX_PREFIX_MAX) {
        snprintf(err, errlen, "Redis key prefix longer than %d bytes",
                 PX_PREFIX_MAX - 1);
        return NULL;
    }

    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    st->redis = px_redis_new(conf->redis_url, conf->connect_timeout_ms,
                             conf->io_timeout_ms, err, errlen);
    if (st->redis == NULL) {
        free(st);
        return NULL;
    }

    memcpy(st->prefix, prefix, strlen(prefix) + 1);
    st->prefix_len = strlen(prefix);
    st->rules.timeout_ms = (int64_t) conf->session_timeout_s * 1000;
    st->rules.max_ms = (int64_t) conf->session_max_s * 1000;
    st->event_ttl_s = conf->dedupe_ttl_s;
    /* a visitor's state must outlive any gap that continues its session,
     * with room for consumer lag; past it the next event starts anew */
    st->visitor_ttl_s = conf->session_max_s + conf->session_timeout_s;

    px_dedupe_init(&st->dedupe);
    px_buf_init(&st->keys, NULL, 0);
    px_buf_init(&st->cmd, NULL, 0);
    px_buf_init(&st->val, NULL, 0);
    px_buf_init(&st->olds, NULL, 0);
    px_buf_init(&st->args, NULL, 0);
    px_buf_init(&st->keys_out, NULL, 0);
    return st;
}

void
px_session_stage_free(px_session_stage_t *st)
{
    if (st == NULL) {
        return;
    }

    px_redis_free(st->redis);
    px_dedupe_free(&st->dedupe);
    free(st->dup);
    free(st->idx);
    free(st->res);
    free(st->sent);
    free(st->vis);
    free(st->slots);
    px_buf_free(&st->keys);
    px_buf_free(&st->cmd);
    px_buf_free(&st->val);
    px_buf_free(&st->olds);
    px_buf_free(&st->args);
    px_buf_free(&st->keys_out);
    free(st);
}

const px_session_stats_t *
px_session_stage_stats(const px_session_stage_t *st)
{
    return &st->stats;
}

/* realloc *p to n elements of size each; -1 when out of memory. */
static int
px_resize(void *p, size_t n, size_t size)
{
    void  *q;

    if (n > SIZE_MAX / size) {
        return -1;
    }
    q = realloc(*(void **) p, n * size);
    if (q == NULL) {
        return -1;
    }
    *(void **) p = q;
    return 0;
}

static int
px_grow(px_session_stage_t *st, size_t n)
{
    size_t  cap;

    if (n <= st->cap) {
        return 0;
    }

    for (cap = st->cap > 0 ? st->cap : 256; cap < n; cap *= 2) { /* void */ }

    if (px_resize(&st->dup, cap, 1)
        || px_resize(&st->idx, cap, sizeof(size_t))
        || px_resize(&st->res, cap, sizeof(px_assign_t))
        || px_resize(&st->sent, cap, sizeof(px_sent_t))
        || px_resize(&st->vis, cap, sizeof(px_visit_t))
        /* the visitor hash at most half full */
        || px_resize(&st->slots, cap * 2, sizeof(size_t)))
    {
        return -1;
    }

    st->nslots = cap * 2;
    st->cap = cap;
    return 0;
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

/* RESP: "*<argc>\r\n" then the name, which starts a command. */
static int
px_command(px_buf_t *out, size_t argc, const char *name)
{
    out->len = 0;
    return px_buf_append(out, "*", 1)
           || px_buf_append_i64(out, (int64_t) argc)
           || px_buf_append(out, "\r\n", 2)
           || px_bulk(out, name, strlen(name));
}

/* PREFIX "v:" <length of project_id> ":" project_id ":" who, where who
 * is the message's visitor (px_message_visitor()). */
static int
px_visitor_key(px_buf_t *out, const char *prefix, const px_event_row_t *row)
{
    const char  *project, *who;

    project = row->msg.project_id != NULL ? row->msg.project_id : "";
    who = px_message_visitor(&row->msg);

    return px_buf_append_str(out, prefix)
           || px_buf_append(out, "v:", 2)
           || px_buf_append_i64(out, (int64_t) strlen(project))
           || px_buf_append(out, ":", 1)
           || px_buf_append_str(out, project)
           || px_buf_append(out, ":", 1)
           || px_buf_append_str(out, who);
}

static uint64_t
px_hash(const char *p, size_t n)
{
    uint64_t  h = 1469598103934665603ULL;

    while (n-- > 0) {
        h = (h ^ (unsigned char) *p++) * 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 33);
}

/* The visitor whose key is the last key_len bytes of st->keys: found, or
 * added (then its key stays there).  Its index. */
static size_t
px_visitor_of(px_session_stage_t *st, size_t key, size_t key_len)
{
    size_t       j, mask = st->nslots - 1;
    const char  *k = st->keys.data + key;
    px_visit_t  *v;

    for (j = (size_t) px_hash(k, key_len) & mask; st->slots[j] != 0;
         j = (j + 1) & mask)
    {
        v = &st->vis[st->slots[j] - 1];
        if (v->key_len == key_len
            && memcmp(st->keys.data + v->key, k, key_len) == 0)
        {
            st->keys.len = key;     /* known: its key is there already */
            return st->slots[j] - 1;
        }
    }

    v = &st->vis[st->nvis];
    v->key = key;
    v->key_len = key_len;
    v->dirty = 0;
    memset(&v->state, 0, sizeof(v->state));
    st->slots[j] = ++st->nvis;
    return st->nvis - 1;
}

/* The keys and origins of the sent events idx[0..m), and their visitors. */
static int
px_collect(px_session_stage_t *st, const px_event_row_t *rows,
    const px_stage_origin_t *origins, size_t m)
{
    size_t      j, at;
    px_sent_t  *e;

    st->keys.len = 0;
    st->nsent = m;
    st->nvis = 0;
    memset(st->slots, 0, st->nslots * sizeof(size_t));

    for (j = 0; j < m; j++) {
        e = &st->sent[j];

        e->key = st->keys.len;
        if (px_dedupe_key(&st->keys, st->prefix, &rows[st->idx[j]])) {
            return -1;
        }
        e->key_len = st->keys.len - e->key;

        e->origin = st->keys.len;
        if (px_dedupe_origin(&st->keys, &origins[st->idx[j]])) {
            return -1;
        }
        e->origin_len = st->keys.len - e->origin;

        at = st->keys.len;
        if (px_visitor_key(&st->keys, st->prefix, &rows[st->idx[j]])) {
            return -1;
        }
        e->visitor = px_visitor_of(st, at, st->keys.len - at);
    }

    return 0;
}

static const char *
px_key_of(px_session_stage_t *st, size_t i, int visitors)
{
    return visitors ? st->keys.data + st->vis[i].key
                    : st->keys.data + st->sent[i].key;
}

static size_t
px_key_len_of(px_session_stage_t *st, size_t i, int visitors)
{
    return visitors ? st->vis[i].key_len : st->sent[i].key_len;
}

/* Queue "<name> key..." for the event keys (visitors == 0) or visitor
 * keys, in commands of up to PX_SESSION_CHUNK keys.  Returns the number
 * of commands queued, or -1 when out of memory. */
static long
px_queue_keys(px_session_stage_t *st, redisContext *c, const char *name,
    int visitors)
{
    long    cmds = 0;
    size_t  a, i, k, n = visitors ? st->nvis : st->nsent;

    for (a = 0; a < n; a += k) {
        k = n - a < PX_SESSION_CHUNK ? n - a : PX_SESSION_CHUNK;
        if (px_command(&st->cmd, 1 + k, name)) {
            return -1;
        }
        for (i = a; i < a + k; i++) {
            if (px_bulk(&st->cmd, px_key_of(st, i, visitors),
                        px_key_len_of(st, i, visitors)))
            {
                return -1;
            }
        }
        if (redisAppendFormattedCommand(c, st->cmd.data, st->cmd.len)
            != REDIS_OK)
        {
            return -1;
        }
        cmds++;
    }

    return cmds;
}

static redisReply *
px_reply(px_session_stage_t *st, redisContext *c, char *err, size_t errlen)
{
    redisReply  *reply;

    if (redisGetReply(c, (void **) &reply) != REDIS_OK || reply == NULL) {
        snprintf(err, errlen, "redis %s: %s", px_redis_name(st->redis),
                 c->errstr[0] != '\0' ? c->errstr : "no reply");
        return NULL;
    }
    return reply;
}

/* An event key's value "origin sid seq" into event j's answer: R when
 * the origin is the event's own, else D.  0, or -1 when malformed. */
static int
px_stored_answer(px_session_stage_t *st, size_t j, const redisReply *e)
{
    char          *end;
    const char    *sp;
    unsigned long  seq;
    px_assign_t   *a = &st->res[j];
    px_sent_t     *s = &st->sent[j];

    sp = memchr(e->str, ' ', e->len);
    if (sp == NULL) {
        return -1;
    }

    if ((size_t) (sp - e->str) != s->origin_len
        || memcmp(e->str, st->keys.data + s->origin, s->origin_len) != 0)
    {
        a->kind = 'D';
        a->sid[0] = '\0';
        a->seq = 0;
        return 0;
    }

    sp++;
    if (e->len - (size_t) (sp - e->str) < PX_SESSION_ID_LEN + 2
        || sp[PX_SESSION_ID_LEN] != ' ')
    {
        return -1;
    }
    seq = strtoul(sp + PX_SESSION_ID_LEN + 1, &end, 10);
    if (end != e->str + e->len || seq == 0 || seq > UINT32_MAX) {
        return -1;
    }

    a->kind = 'R';
    memcpy(a->sid, sp, PX_SESSION_ID_LEN);
    a->sid[PX_SESSION_ID_LEN] = '\0';
    a->seq = (uint32_t) seq;
    return 0;
}

/* The replies of "MGET" commands of n keys: event answers (kind '\0':
 * not stored yet) or visitor states. */
static int
px_read_values(px_session_stage_t *st, redisContext *c, int visitors,
    char *err, size_t errlen)
{
    int          rc = 0;
    size_t       a, i, k, n = visitors ? st->nvis : st->nsent;
    redisReply  *reply, *e;

    for (a = 0; a < n; a += k) {
        k = n - a < PX_SESSION_CHUNK ? n - a : PX_SESSION_CHUNK;
        reply = px_reply(st, c, err, errlen);
        if (reply == NULL) {
            return -1;
        }
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != k) {
            snprintf(err, errlen, "redis %s: MGET: %s",
                     px_redis_name(st->redis),
                     reply->type == REDIS_REPLY_ERROR ? reply->str
                                                       : "unexpected reply");
            rc = -1;
        }
        for (i = 0; rc == 0 && i < k; i++) {
            e = reply->element[i];
            if (e->type == REDIS_REPLY_STRING && visitors) {
                px_visitor_state_parse(&st->vis[a + i].state, e->str, e->len);
                st->vis[a + i].old = st->olds.len;
                st->vis[a + i].old_len = e->len;
                if (px_buf_append(&st->olds, e->str, e->len) != 0) {
                    snprintf(err, errlen, "out of memory");
                    rc = -1;
                }
            } else if (e->type == REDIS_REPLY_STRING) {
                if (px_stored_answer(st, a + i, e) != 0) {
                    snprintf(err, errlen, "redis %s: malformed value of %.*s",
                             px_redis_name(st->redis),
                             (int) st->sent[a + i].key_len,
                             st->keys.data + st->sent[a + i].key);
                    rc = -1;
                }
            } else if (e->type == REDIS_REPLY_NIL) {
                if (visitors) {
                    memset(&st->vis[a + i].state, 0, sizeof(px_visitor_state_t));
                    st->vis[a + i].old_len = 0;
                } else {
                    st->res[a + i].kind = '\0';
                }
            } else {
                snprintf(err, errlen, "redis %s: MGET: unexpected element",
                         px_redis_name(st->redis));
                rc = -1;
            }
        }
        freeReplyObject(reply);
        if (rc != 0) {
            return -1;
        }
    }

    return 0;
}

/* Round trip 1: read every key of the batch. */
static int
px_read_state(px_session_stage_t *st, redisContext *c, char *err,
    size_t errlen)
{
    size_t  j;

    if (px_queue_keys(st, c, "MGET", 0) < 0
        || px_queue_keys(st, c, "MGET", 1) < 0)
    {
        snprintf(err, errlen, "out of memory building the session read");
        return -1;
    }

    st->stats.round_trips++;
    st->olds.len = 0;
    for (j = 0; j < st->nvis; j++) {
        st->vis[j].dirty = 0;
    }

    return px_read_values(st, c, 0, err, errlen) != 0
           || px_read_values(st, c, 1, err, errlen) != 0 ? -1 : 0;
}

/* Every event not stored yet through the session rules, in order.
 * Returns how many there were, or -1 (err set). */
static long
px_assign_new(px_session_stage_t *st, const px_event_row_t *rows,
    char *err, size_t errlen)
{
    int           kind;
    long          fresh = 0;
    size_t        j, skip = st->prefix_len + 2;
    uint64_t      seq;
    const char   *sid;
    px_sent_t    *s;
    px_visit_t   *v;

    for (j = 0; j < st->nsent; j++) {
        if (st->res[j].kind != '\0') {
            continue;
        }
        s = &st->sent[j];
        v = &st->vis[s->visitor];

        kind = px_session_assign(&v->state, &st->rules,
                                 rows[st->idx[j]].msg.ts_ms,
                                 st->keys.data + v->key + skip,
                                 v->key_len - skip,
                                 st->keys.data + s->key + skip,
                                 s->key_len - skip, &sid, &seq);
        if (seq > UINT32_MAX) {
            snprintf(err, errlen, "session_seq past %u", UINT32_MAX);
            return -1;
        }

        st->res[j].kind = (char) kind;
        memcpy(st->res[j].sid, sid, PX_SESSION_ID_LEN + 1);
        st->res[j].seq = (uint32_t) seq;
        v->dirty = 1;
        fresh++;
    }

    return fresh;
}

static int
px_bulk_i64(px_buf_t *out, int64_t v)
{
    char  num[PX_I64_DIGITS_MAX], *p;

    p = px_i64_digits(num + sizeof(num), v);
    return px_bulk(out, p, (size_t) (num + sizeof(num) - p));
}

/* The script call into st->cmd: EVALSHA, or EVAL with its text. */
static int
px_build_write(px_session_stage_t *st, int eval)
{
    size_t        j, nv = 0, ne = 0;
    px_sent_t    *s;
    px_visit_t   *v;
    px_assign_t  *a;

    st->keys_out.len = 0;
    st->args.len = 0;

    for (j = 0; j < st->nvis; j++) {
        v = &st->vis[j];
        if (!v->dirty) {
            continue;
        }
        st->val.len = 0;
        if (px_bulk(&st->keys_out, st->keys.data + v->key, v->key_len)
            || px_bulk(&st->args, st->olds.data + v->old, v->old_len)
            || px_visitor_state_format(&st->val, &v->state)
            || px_bulk(&st->args, st->val.data, st->val.len))
        {
            return -1;
        }
        nv++;
    }

    for (j = 0; j < st->nsent; j++) {
        a = &st->res[j];
        if (a->kind == 'R' || a->kind == 'D') {
            continue;
        }
        s = &st->sent[j];
        st->val.len = 0;
        if (px_bulk(&st->keys_out, st->keys.data + s->key, s->key_len)
            || px_buf_append(&st->val, st->keys.data + s->origin,
                             s->origin_len)
            || px_buf_append(&st->val, " ", 1)
            || px_buf_append(&st->val, a->sid, PX_SESSION_ID_LEN)
            || px_buf_append(&st->val, " ", 1)
            || px_buf_append_i64(&st->val, a->seq)
            || px_bulk(&st->args, st->val.data, st->val.len))
        {
            return -1;
        }
        ne++;
    }

    /* EVAL(SHA) script|sha numkeys keys... nv vttl ettl args... */
    return px_command(&st->cmd, 3 + 2 * (nv + ne) + 3 + nv,
                      eval ? "EVAL" : "EVALSHA")
           || (eval ? px_bulk(&st->cmd, px_write_lua, sizeof(px_write_lua) - 1)
                    : px_bulk(&st->cmd, st->sha, 40))
           || px_bulk_i64(&st->cmd, (int64_t) (nv + ne))
           || px_buf_append(&st->cmd, st->keys_out.data, st->keys_out.len)
           || px_bulk_i64(&st->cmd, (int64_t) nv)
           || px_bulk_i64(&st->cmd, st->visitor_ttl_s)
           || px_bulk_i64(&st->cmd, st->event_ttl_s)
           || px_buf_append(&st->cmd, st->args.data, st->args.len);
}

/* SCRIPT LOAD on a new connection (the server may be a new one). */
static int
px_load_script(px_session_stage_t *st, char *err, size_t errlen)
{
    int          rc;
    redisReply  *reply;

    if (st->sha[0] != '\0'
        && st->sha_generation == px_redis_generation(st->redis))
    {
        return 0;
    }

    reply = px_redis_command(st->redis, err, errlen, "SCRIPT LOAD %s",
                             px_write_lua);
    if (reply == NULL) {
        return -1;
    }

    rc = 0;
    if (reply->type == REDIS_REPLY_STRING && reply->len == 40) {
        memcpy(st->sha, reply->str, 40);
        st->sha[40] = '\0';
        st->sha_generation = px_redis_generation(st->redis);
    } else {
        snprintf(err, errlen, "redis %s: SCRIPT LOAD: %s",
                 px_redis_name(st->redis),
                 reply->type == REDIS_REPLY_ERROR ? reply->str
                                                   : "unexpected reply");
        rc = -1;
    }

    freeReplyObject(reply);
    return rc;
}

/* Round trip 2: the write script (EVAL if Redis forgot it).  0; 1 when a
 * visitor's key changed since the read and nothing was written; -1 (err
 * set). */
static int
px_write_state(px_session_stage_t *st, redisContext *c, char *err,
    size_t errlen)
{
    int          rc, eval;
    redisReply  *reply;

    for (eval = 0; eval < 2; eval++) {
        if (px_build_write(st, eval) != 0
            || redisAppendFormattedCommand(c, st->cmd.data, st->cmd.len)
               != REDIS_OK)
        {
            snprintf(err, errlen, "out of memory building the session "
                     "write");
            return -1;
        }

        st->stats.round_trips++;
        reply = px_reply(st, c, err, errlen);
        if (reply == NULL) {
            return -1;
        }

        if (reply->type == REDIS_REPLY_ERROR
            && strncmp(reply->str, "NOSCRIPT", 8) == 0 && !eval)
        {
            /* the script cache was flushed under us: EVAL caches it */
            px_log(PX_LOG_INFO, "session", "redis %s did not know the "
                   "script; sending it", px_redis_name(st->redis));
            freeReplyObject(reply);
            continue;
        }

        if (reply->type == REDIS_REPLY_INTEGER
            && (reply->integer == 0 || reply->integer == 1))
        {
            rc = reply->integer == 1 ? 0 : 1;
        } else {
            snprintf(err, errlen, "redis %s: session write: %s",
                     px_redis_name(st->redis),
                     reply->type == REDIS_REPLY_ERROR ? reply->str
                                                       : "unexpected reply");
            rc = -1;
        }
        freeReplyObject(reply);
        return rc;
    }

    snprintf(err, errlen, "redis %s: NOSCRIPT after EVAL",
             px_redis_name(st->redis));
    return -1;
}

/*
 * The answers for the sent events idx[0..m) into res: read, assign, write,
 * again while another worker wrote a visitor of the batch in between.  On
 * any failure the connection is dropped (replies may be pending) and
 * nothing of the batch is written.
 */
static int
px_exchange(px_session_stage_t *st, const px_event_row_t *rows,
    const px_stage_origin_t *origins, size_t m, char *err, size_t errlen)
{
    int             rc, tries;
    long            fresh;
    redisContext   *c;

    if (px_collect(st, rows, origins, m) != 0) {
        snprintf(err, errlen, "out of memory for the session keys");
        return -1;
    }

    for (tries = 0; tries < PX_SESSION_TRIES; tries++) {
        c = px_redis_get(st->redis, err, errlen);
        if (c == NULL || px_load_script(st, err, errlen) != 0) {
            return -1;
        }
        c = px_redis_get(st->redis, err, errlen);
        if (c == NULL) {
            return -1;
        }

        if (px_read_state(st, c, err, errlen) != 0) {
            goto failed;
        }

        if (st->between != NULL) {
            st->between(st->between_ctx);
        }

        fresh = px_assign_new(st, rows, err, errlen);
        if (fresh < 0) {
            goto failed;
        }

        if (fresh == 0) {
            return 0;   /* replays and duplicates only: nothing to write */
        }

        rc = px_write_state(st, c, err, errlen);
        if (rc == 0) {
            return 0;
        }
        if (rc < 0) {
            goto failed;
        }

        st->stats.conflicts++;
        px_log(PX_LOG_INFO, "session", "redis %s: visitors of the batch "
               "written by another client meanwhile; running it again",
               px_redis_name(st->redis));
    }

    snprintf(err, errlen, "redis %s: visitors of the batch written by "
             "another client during %d tries", px_redis_name(st->redis),
             PX_SESSION_TRIES);

failed:

    px_redis_drop(st->redis);
    return -1;
}

int
px_session_stage_run(px_session_stage_t *st, px_event_row_t *rows,
    size_t n, const px_stage_origin_t *origins, unsigned char *drop,
    char *err, size_t errlen)
{
    long                  marked;
    size_t                i, m;
    px_assign_t          *a;
    px_session_stats_t    add;

    if (n == 0) {
        return 0;
    }

    if (px_grow(st, n) != 0) {
        snprintf(err, errlen, "out of memory for %zu rows", n);
        st->stats.redis_errors++;
        return -1;
    }

    memset(st->dup, 0, n);
    marked = px_dedupe_batch(&st->dedupe, rows, n, st->dup);
    if (marked < 0) {
        snprintf(err, errlen, "out of memory for %zu rows", n);
        st->stats.redis_errors++;
        return -1;
    }

    for (i = 0, m = 0; i < n; i++) {
        if (!st->dup[i]) {
            st->idx[m++] = i;
        }
    }

    if (px_exchange(st, rows, origins, m, err, errlen) != 0) {
        st->stats.redis_errors++;
        return -1;
    }

    /* every answer is in and written: only now touch the rows */
    memset(&add, 0, sizeof(add));
    add.batch_duplicates = (unsigned long) marked;
    add.duplicates = (unsigned long) marked;

    for (i = 0; i < n; i++) {
        drop[i] = st->dup[i];
    }

    for (i = 0; i < m; i++) {
        a = &st->res[i];

        switch (a->kind) {
        case 'D':
            drop[st->idx[i]] = 1;
            add.duplicates++;
            continue;
        case 'R':
            add.replays++;
            break;
        case PX_KIND_NEW:
            add.new_sessions++;
            break;
        case PX_KIND_LATE_OWN:
            add.new_sessions++;
            add.late_events++;
            break;
        case PX_KIND_LATE:
        case PX_KIND_LATE_OTHER:
            add.late_events++;
            break;
        default:
            break;
        }

        memcpy(rows[st->idx[i]].session_id, a->sid, PX_SESSION_ID_LEN + 1);
        rows[st->idx[i]].session_seq = a->seq;
    }

    st->stats.events += n;
    st->stats.duplicates += add.duplicates;
    st->stats.batch_duplicates += add.batch_duplicates;
    st->stats.replays += add.replays;
    st->stats.new_sessions += add.new_sessions;
    st->stats.late_events += add.late_events;
    st->stats.runs++;

    px_log(PX_LOG_DEBUG, "session", "%zu rows: %lu duplicates, %lu replays, "
           "%lu new sessions", n, add.duplicates, add.replays,
           add.new_sessions);
    return 0;
}

void
px_session_stage_cap(px_session_stage_t *st, long ms)
{
    px_redis_cap(st->redis, ms);
}

void
px_session_stage_between(px_session_stage_t *st, px_session_between_pt fn,
    void *ctx)
{
    st->between = fn;
    st->between_ctx = ctx;
}
