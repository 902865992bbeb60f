#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedupe.h"
#include "log.h"
#include "redis_conn.h"
#include "session.h"
#include "session_rules.h"
#include "session_store.h"

#define PX_PREFIX_MAX      64
/* A batch whose visitors another worker wrote between the read and the
 * write is run again (two workers own a partition only briefly): so
 * often at most. */
#define PX_SESSION_TRIES   5

/*
 * A batch is two round trips (docs/sessions.md, "State in Redis"):
 *
 *   1. read the claim of every event of the batch and the state of every
 *      visitor (session_store.c: fields of windowed hashes);
 *   2. here, per event in order: the dedupe check against its claim, then
 *      the session rules (session_rules.c) on its visitor's state; then
 *      one atomic script call writes the new claims and the touched
 *      visitors' states, unless a touched visitor's state is no longer
 *      the one read (another worker wrote it meanwhile: the batch is run
 *      again from step 1).
 *
 * A batch is thus written whole or not at all, as with the one script
 * that did everything per event before, for a fraction of Redis's CPU.
 *
 * claim       = "origin sid seq first_ms"
 * visitor     = "sid start_ms last_ms seq first_ms"
 *               [" sid start_ms last_ms seq first_ms"]: the other session
 * first_ms: the time of the event that started the session (a value of
 * an older worker has none: see px_claimed and session_rules.c).
 */

/* One event's answer: a kind of session_rules.h, or R (a replay: this
 * origin claimed it, the assignment read back) or D (a duplicate: another
 * origin claimed the event). */
typedef struct {
    char      kind;
    char      sid[PX_SESSION_ID_LEN + 1];
    uint32_t  seq;
    int64_t   first_ms;     /* -1: not known (an older worker's claim) */
} px_assign_t;

/* A sent event (not a duplicate within its batch): its origin in
 * st->origins; its claim is st->kv's event item of the same index. */
typedef struct {
    size_t    origin;
    size_t    origin_len;
    size_t    visitor;      /* st->kv's visitor item */
} px_sent_t;

struct px_session_stage_s {
    px_redis_t          *redis;
    px_session_rules_t   rules;
    px_kv_t              kv;

    px_dedupe_t          dedupe;
    unsigned char       *dup;               /* per row: within the batch */
    size_t              *idx;               /* per sent event: its row */
    px_assign_t         *res;               /* per sent event */
    px_sent_t           *sent;              /* per sent event */
    size_t               nsent;
    px_visitor_state_t  *vis;               /* per visitor item */
    size_t              *slots;             /* visitor hash: item + 1 */
    size_t               nslots;            /* a power of two */
    size_t               cap;               /* of dup ... slots */

    px_buf_t             origins;
    px_buf_t             val;               /* one value */

    px_session_between_pt  between;
    void                  *between_ctx;

    px_session_stats_t   stats;
    atomic_int           forget;            /* px_session_stage_forget() */
};

void
px_session_conf_init(px_session_conf_t *conf, const px_config_t *cfg)
{
    memset(conf, 0, sizeof(*conf));
    conf->redis_url = cfg->redis_url;
    conf->session_timeout_s = cfg->session_timeout_s;
    conf->session_max_s = cfg->session_max_s;
    conf->dedupe_ttl_s = cfg->dedupe_ttl_s;
    conf->cache_mb = cfg->session_cache_mb;
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

    st->rules.timeout_ms = (int64_t) conf->session_timeout_s * 1000;
    st->rules.max_ms = (int64_t) conf->session_max_s * 1000;
    /* claims live PX_DEDUPE_TTL at least; a visitor's state must outlive
     * any gap that continues its session, with room for consumer lag */
    px_kv_init(&st->kv, prefix, conf->dedupe_ttl_s,
               conf->session_max_s + conf->session_timeout_s,
               conf->cache_mb > 0 ? (size_t) conf->cache_mb << 20 : 0);

    px_dedupe_init(&st->dedupe);
    px_buf_init(&st->origins, NULL, 0);
    px_buf_init(&st->val, NULL, 0);
    return st;
}

void
px_session_stage_free(px_session_stage_t *st)
{
    if (st == NULL) {
        return;
    }

    px_redis_free(st->redis);
    px_kv_free(&st->kv);
    px_dedupe_free(&st->dedupe);
    free(st->dup);
    free(st->idx);
    free(st->res);
    free(st->sent);
    free(st->vis);
    free(st->slots);
    px_buf_free(&st->origins);
    px_buf_free(&st->val);
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
        || px_resize(&st->vis, cap, sizeof(px_visitor_state_t))
        /* the visitor hash at most half full */
        || px_resize(&st->slots, cap * 2, sizeof(size_t)))
    {
        return -1;
    }

    st->nslots = cap * 2;
    st->cap = cap;
    return 0;
}

/* "v:" <length of project_id> ":" project_id ":" who, where who is the
 * message's visitor (px_message_visitor()). */
static int
px_visitor_field(px_buf_t *out, const px_event_row_t *row)
{
    const char  *project, *who;

    project = row->msg.project_id != NULL ? row->msg.project_id : "";
    who = px_message_visitor(&row->msg);

    return px_buf_append(out, "v:", 2)
           || px_buf_append_i64(out, (int64_t) strlen(project))
           || px_buf_append(out, ":", 1)
           || px_buf_append_str(out, project)
           || px_buf_append(out, ":", 1)
           || px_buf_append_str(out, who);
}

/* The visitor whose field is st->kv.fields[from..len): its item, found
 * (the copy is dropped) or added.  -1 when out of memory. */
static long
px_visitor_of(px_session_stage_t *st, size_t from)
{
    long           item;
    size_t         j, mask = st->nslots - 1, len;
    px_kv_t       *kv = &st->kv;
    const char    *f = kv->fields.data + from;
    px_kv_item_t  *it;

    len = kv->fields.len - from;

    for (j = (size_t) px_kv_hash(f, len) & mask; st->slots[j] != 0;
         j = (j + 1) & mask)
    {
        it = &kv->items[PX_KV_VISITORS][st->slots[j] - 1];
        if (it->field_len == len
            && memcmp(kv->fields.data + it->field, f, len) == 0)
        {
            kv->fields.len = from;
            return (long) (st->slots[j] - 1);
        }
    }

    item = px_kv_add(kv, PX_KV_VISITORS, from);
    if (item >= 0) {
        st->slots[j] = (size_t) item + 1;
    }
    return item;
}

/* The claims, origins and visitors of the sent events idx[0..m). */
static int
px_collect(px_session_stage_t *st, const px_event_row_t *rows,
    const px_stage_origin_t *origins, size_t m)
{
    long        item;
    size_t      j, from;
    px_sent_t  *e;
    px_kv_t    *kv = &st->kv;

    px_kv_clear(kv);
    st->origins.len = 0;
    st->nsent = m;
    memset(st->slots, 0, st->nslots * sizeof(size_t));

    for (j = 0; j < m; j++) {
        e = &st->sent[j];

        from = kv->fields.len;
        if (px_dedupe_key(&kv->fields, "", &rows[st->idx[j]])
            || px_kv_add(kv, PX_KV_EVENTS, from) != (long) j)
        {
            return -1;
        }

        e->origin = st->origins.len;
        if (px_dedupe_origin(&st->origins, &origins[st->idx[j]])) {
            return -1;
        }
        e->origin_len = st->origins.len - e->origin;

        from = kv->fields.len;
        if (px_visitor_field(&kv->fields, &rows[st->idx[j]])) {
            return -1;
        }
        item = px_visitor_of(st, from);
        if (item < 0) {
            return -1;
        }
        e->visitor = (size_t) item;
    }

    return 0;
}

/* Event j's claim "origin sid seq[ first_ms]" (found by the read) into
 * its answer:
 * R when the origin is the event's own, else D.  0, or -1 if malformed. */
static int
px_claimed(px_session_stage_t *st, size_t j)
{
    char           *end, num[48];
    long long       first = -1;
    const char     *v, *sp;
    size_t          len, nl;
    unsigned long   seq;
    px_assign_t    *a = &st->res[j];
    px_sent_t      *s = &st->sent[j];
    px_kv_item_t   *it = &st->kv.items[PX_KV_EVENTS][j];

    v = st->kv.vals.data + it->val;
    len = it->val_len;
    sp = memchr(v, ' ', len);
    if (sp == NULL) {
        return -1;
    }

    if ((size_t) (sp - v) != s->origin_len
        || memcmp(v, st->origins.data + s->origin, s->origin_len) != 0)
    {
        a->kind = 'D';
        a->sid[0] = '\0';
        a->seq = 0;
        return 0;
    }

    /* then "sid seq" */
    sp++;
    nl = len - (size_t) (sp - v);
    if (nl < PX_SESSION_ID_LEN + 2 || sp[PX_SESSION_ID_LEN] != ' '
        || nl - PX_SESSION_ID_LEN - 1 >= sizeof(num))
    {
        return -1;
    }
    nl -= PX_SESSION_ID_LEN + 1;
    memcpy(num, sp + PX_SESSION_ID_LEN + 1, nl);
    num[nl] = '\0';
    seq = strtoul(num, &end, 10);
    if (*end == ' ' && end[1] != '-' && end[1] != '\0') {
        first = strtoll(end + 1, &end, 10);
    }
    if (*end != '\0' || num[0] == '-' || seq == 0 || seq > UINT32_MAX) {
        return -1;
    }

    a->kind = 'R';
    memcpy(a->sid, sp, PX_SESSION_ID_LEN);
    a->sid[PX_SESSION_ID_LEN] = '\0';
    a->seq = (uint32_t) seq;
    a->first_ms = first;
    return 0;
}

/* The first_ms of sent event j's session.  An older worker's claim has
 * none: the visitor's state then gives it when the session is still there
 * (its start, as that state has no first either), else the event's own
 * time; only events claimed before an upgrade take these. */
static int64_t
px_first_of(const px_session_stage_t *st, size_t j, const px_event_row_t *row)
{
    const px_assign_t         *a = &st->res[j];
    const px_visitor_state_t  *v = &st->vis[st->sent[j].visitor];

    if (a->first_ms >= 0) {
        return a->first_ms;
    }
    if (v->has_cur && strcmp(v->cur.sid, a->sid) == 0) {
        return v->cur.first_ms;
    }
    if (v->has_other && strcmp(v->other.sid, a->sid) == 0) {
        return v->other.first_ms;
    }
    return row->msg.ts_ms;
}

/* After the read: the answers of claimed events, the visitors' states. */
static int
px_take_read(px_session_stage_t *st, char *err, size_t errlen)
{
    size_t         j;
    px_kv_t       *kv = &st->kv;
    px_kv_item_t  *it;

    for (j = 0; j < st->nsent; j++) {
        it = &kv->items[PX_KV_EVENTS][j];
        it->write = 0;          /* a run again writes only what it decides */
        st->res[j].kind = '\0';
        if (it->found && px_claimed(st, j) != 0) {
            snprintf(err, errlen, "redis %s: malformed claim of %.*s",
                     px_redis_name(st->redis), (int) it->field_len,
                     kv->fields.data + it->field);
            return -1;
        }
    }

    for (j = 0; j < kv->n[PX_KV_VISITORS]; j++) {
        it = &kv->items[PX_KV_VISITORS][j];
        it->write = 0;
        if (it->found) {
            px_visitor_state_parse(&st->vis[j], kv->vals.data + it->val,
                                   it->val_len);
        } else {
            memset(&st->vis[j], 0, sizeof(px_visitor_state_t));
        }
    }

    return 0;
}

/* Every event not claimed yet through the session rules, in order, and
 * its claim set.  Returns how many there were, or -1 (err set). */
static long
px_assign_new(px_session_stage_t *st, const px_event_row_t *rows,
    char *err, size_t errlen)
{
    int            kind;
    long           fresh = 0;
    size_t         j;
    int64_t        first;
    uint64_t       seq;
    const char    *sid;
    px_sent_t     *s;
    px_assign_t   *a;
    px_kv_t       *kv = &st->kv;
    px_kv_item_t  *ev, *vi;

    for (j = 0; j < st->nsent; j++) {
        a = &st->res[j];
        if (a->kind != '\0') {
            continue;
        }
        s = &st->sent[j];
        ev = &kv->items[PX_KV_EVENTS][j];
        vi = &kv->items[PX_KV_VISITORS][s->visitor];

        /* the session id hashes the fields after "v:" and "e:" */
        kind = px_session_assign(&st->vis[s->visitor], &st->rules,
                                 rows[st->idx[j]].msg.ts_ms,
                                 kv->fields.data + vi->field + 2,
                                 vi->field_len - 2,
                                 kv->fields.data + ev->field + 2,
                                 ev->field_len - 2, &sid, &seq, &first);
        if (seq > UINT32_MAX) {
            snprintf(err, errlen, "session_seq past %u", UINT32_MAX);
            return -1;
        }

        a->kind = (char) kind;
        memcpy(a->sid, sid, PX_SESSION_ID_LEN + 1);
        a->seq = (uint32_t) seq;
        a->first_ms = first;
        vi->write = 1;

        st->val.len = 0;
        if (px_buf_append(&st->val, st->origins.data + s->origin,
                          s->origin_len)
            || px_buf_append(&st->val, " ", 1)
            || px_buf_append(&st->val, a->sid, PX_SESSION_ID_LEN)
            || px_buf_append(&st->val, " ", 1)
            || px_buf_append_i64(&st->val, a->seq)
            || px_buf_append(&st->val, " ", 1)
            || px_buf_append_i64(&st->val, a->first_ms)
            || px_kv_set(kv, PX_KV_EVENTS, j, st->val.data, st->val.len))
        {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        fresh++;
    }

    /* the touched visitors' new states */
    for (j = 0; j < kv->n[PX_KV_VISITORS]; j++) {
        if (!kv->items[PX_KV_VISITORS][j].write) {
            continue;
        }
        st->val.len = 0;
        if (px_visitor_state_format(&st->val, &st->vis[j])
            || px_kv_set(kv, PX_KV_VISITORS, j, st->val.data, st->val.len))
        {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }

    return fresh;
}

/*
 * The answers for the sent events idx[0..m) into res: read, assign, write,
 * again while another worker wrote a visitor of the batch in between.
 * Nothing of the batch is written unless all of it is.
 */
static int
px_exchange(px_session_stage_t *st, const px_event_row_t *rows,
    const px_stage_origin_t *origins, size_t m, char *err, size_t errlen)
{
    int   rc, tries;
    long  fresh;

    if (px_collect(st, rows, origins, m) != 0) {
        snprintf(err, errlen, "out of memory for the session keys");
        return -1;
    }

    for (tries = 0; tries < PX_SESSION_TRIES; tries++) {
        if (px_kv_read(&st->kv, st->redis, err, errlen) != 0
            || px_take_read(st, err, errlen) != 0)
        {
            return -1;
        }

        if (st->between != NULL) {
            st->between(st->between_ctx);
        }

        fresh = px_assign_new(st, rows, err, errlen);
        if (fresh <= 0) {
            /* replays and duplicates only: nothing to write */
            return fresh < 0 ? -1 : 0;
        }

        rc = px_kv_write(&st->kv, st->redis, err, errlen);
        if (rc <= 0) {
            return rc;
        }

        st->stats.conflicts++;
        px_log(PX_LOG_INFO, "session", "redis %s: visitors of the batch "
               "written by another worker meanwhile; running it again",
               px_redis_name(st->redis));
    }

    snprintf(err, errlen, "redis %s: visitors of the batch written by "
             "another worker during %d tries", px_redis_name(st->redis),
             PX_SESSION_TRIES);
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

    if (atomic_exchange(&st->forget, 0)) {
        px_kv_forget_visitors(&st->kv);
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
        rows[st->idx[i]].session_first_ms = px_first_of(st, i,
                                                        &rows[st->idx[i]]);
    }

    st->stats.events += n;
    st->stats.duplicates += add.duplicates;
    st->stats.batch_duplicates += add.batch_duplicates;
    st->stats.replays += add.replays;
    st->stats.new_sessions += add.new_sessions;
    st->stats.late_events += add.late_events;
    st->stats.runs++;
    st->stats.round_trips = st->kv.round_trips;
    st->stats.cache_hits = st->kv.vcache.hits;
    st->stats.cache_misses = st->kv.vcache.misses;

    px_log(PX_LOG_DEBUG, "session", "%zu rows: %lu duplicates, %lu replays, "
           "%lu new sessions", n, add.duplicates, add.replays,
           add.new_sessions);
    return 0;
}

void
px_session_stage_forget(px_session_stage_t *st)
{
    atomic_store(&st->forget, 1);
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
