#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedupe.h"
#include "log.h"
#include "redis_conn.h"
#include "session.h"

/* Events per script call: bounds how long one call holds Redis (about
 * 3 ms per 1000 events here); the calls of a batch share one round trip. */
#define PX_SESSION_CHUNK   1000
#define PX_PREFIX_MAX      64

/*
 * Per event, atomically: the dedupe check, then the session assignment.
 *
 * KEYS  per event: its event key, its visitor key.
 * ARGV  timeout_ms, max_ms, event key TTL s, visitor key TTL s, length of
 *       the key prefix; then per event: origin "partition:offset", ts_ms.
 *
 * event key   = "origin sid seq"              (TTL: PX_DEDUPE_TTL)
 * visitor key = "sid start_ms last_ms seq"    (TTL: max + timeout)
 *               [" sid start_ms last_ms seq"]: the visitor's other session,
 *               the one before the current or the latest late one
 *
 * Answers one string per event: "D" (a duplicate: another origin stored
 * the event), or a kind then "sid seq": R replay (this origin stored it:
 * the assignment read back), N new session, C continues the session,
 * L late event joined the current session, P late event joined the other
 * session, O late event that fits neither: a session of its own, which
 * becomes the other session (so late events chain among themselves).
 */
static const char  px_session_lua[] =
    "local tmo = tonumber(ARGV[1])\n"
    "local maxl = tonumber(ARGV[2])\n"
    "local ettl = ARGV[3]\n"
    "local vttl = ARGV[4]\n"
    "local skip = tonumber(ARGV[5]) + 3\n"
    "local call, sub, fmt = redis.call, string.sub, string.format\n"
    "local out, vs, dirty = {}, {}, {}\n"
    /* how far a late event at ts is from session s, or nil when it cannot
     * join it (more than the timeout away, or past the longest session) */
    "local function near(s, ts)\n"
    "  if not s then return nil end\n"
    "  local d = 0\n"
    "  if ts < s[2] then d = s[2] - ts elseif ts > s[3] then d = ts - s[3] end\n"
    "  if d > tmo or math.max(s[3], ts) - math.min(s[2], ts) > maxl then\n"
    "    return nil\n"
    "  end\n"
    "  return d\n"
    "end\n"
    "local function join(s, ts)\n"
    "  s[4] = s[4] + 1\n"
    "  if ts < s[2] then s[2] = ts end\n"
    "  if ts > s[3] then s[3] = ts end\n"
    "  return s[1], s[4]\n"
    "end\n"
    "local function parse(a, b, c, d)\n"
    "  if a then return { a, tonumber(b), tonumber(c), tonumber(d) } end\n"
    "  return nil\n"
    "end\n"
    "for i = 1, #KEYS / 2 do\n"
    "  local ek, vk = KEYS[2 * i - 1], KEYS[2 * i]\n"
    "  local origin, ts = ARGV[4 + 2 * i], tonumber(ARGV[5 + 2 * i])\n"
    "  local cur = call('GET', ek)\n"
    "  if cur then\n"
    "    local sp = string.find(cur, ' ', 1, true)\n"
    "    if sp and sub(cur, 1, sp - 1) == origin then\n"
    "      out[i] = 'R' .. sub(cur, sp + 1)\n"
    "    else\n"
    "      out[i] = 'D'\n"
    "    end\n"
    "  else\n"
    /* the visitor's state: read once per call, written once at the end;
     * v[1] the current session, v[2] the other one (or nil) */
    "    local v = vs[vk]\n"
    "    if v == nil then\n"
    "      v = { nil, nil }\n"
    "      local st = call('GET', vk)\n"
    "      if st then\n"
    "        local n = '(%S+) (%-?%d+) (%-?%d+) (%d+)'\n"
    "        v[1] = parse(string.match(st, '^' .. n))\n"
    "        v[2] = parse(string.match(st, '^%S+ %S+ %S+ %S+ ' .. n .. '$'))\n"
    "      end\n"
    "      vs[vk] = v\n"
    "    end\n"
    "    local c, o = v[1], v[2]\n"
    "    local kind, sid, seq\n"
    "    if not c then\n"
    "      kind = 'N'\n"
    "    elseif ts >= c[3] then\n"
    "      if ts - c[3] > tmo or ts - c[2] > maxl then\n"
    "        kind = 'N'\n"
    "      else\n"
    "        kind = 'C'\n"
    "      end\n"
    "    else\n"
    /* late: the nearer of the current and the other session that can take
     * it (the current on a tie), else a session of its own */
    "      local dc, dother = near(c, ts), near(o, ts)\n"
    "      if dc and (not dother or dc <= dother) then\n"
    "        kind = 'L'\n"
    "      elseif dother then\n"
    "        kind = 'P'\n"
    "      else\n"
    "        kind = 'O'\n"
    "      end\n"
    "    end\n"
    "    if kind == 'N' or kind == 'O' then\n"
    "      local h = redis.sha1hex(sub(vk, skip) .. '\\n' .. sub(ek, skip))\n"
    "      local x = tonumber(sub(h, 17, 17), 16) % 4 + 1\n"
    "      sid = sub(h, 1, 8) .. '-' .. sub(h, 9, 12) .. '-5' .. sub(h, 14, 16)\n"
    "        .. '-' .. sub('89ab', x, x) .. sub(h, 18, 20) .. '-'\n"
    "        .. sub(h, 21, 32)\n"
    "      seq = 1\n"
    "      if kind == 'N' then\n"
    "        v[2] = c\n"
    "        v[1] = { sid, ts, ts, 1 }\n"
    "      else\n"
    "        v[2] = { sid, ts, ts, 1 }\n"
    "      end\n"
    "    elseif kind == 'C' then\n"
    "      c[3] = ts\n"
    "      c[4] = c[4] + 1\n"
    "      sid, seq = c[1], c[4]\n"
    "    elseif kind == 'L' then\n"
    "      sid, seq = join(c, ts)\n"
    "    else\n"
    "      sid, seq = join(o, ts)\n"
    "    end\n"
    "    if not dirty[vk] then\n"
    "      dirty[vk] = true\n"
    "      dirty[#dirty + 1] = vk\n"
    "    end\n"
    "    local a = sid .. ' ' .. fmt('%.0f', seq)\n"
    "    call('SET', ek, origin .. ' ' .. a, 'EX', ettl)\n"
    "    out[i] = kind .. a\n"
    "  end\n"
    "end\n"
    "for j = 1, #dirty do\n"
    "  local v = vs[dirty[j]]\n"
    "  local c, o = v[1], v[2]\n"
    "  local val = fmt('%s %.0f %.0f %.0f', c[1], c[2], c[3], c[4])\n"
    "  if o then\n"
    "    val = val .. fmt(' %s %.0f %.0f %.0f', o[1], o[2], o[3], o[4])\n"
    "  end\n"
    "  call('SET', dirty[j], val, 'EX', vttl)\n"
    "end\n"
    "return out\n";

/* One event's answer. */
typedef struct {
    char      kind;                         /* N C L P O R D */
    char      sid[PX_SESSION_ID_LEN + 1];
    uint32_t  seq;
} px_assign_t;

struct px_session_stage_s {
    px_redis_t          *redis;
    char                 prefix[PX_PREFIX_MAX];
    size_t               prefix_len;
    int64_t              timeout_ms;
    int64_t              max_ms;
    long                 event_ttl_s;
    long                 visitor_ttl_s;

    char                 sha[41];           /* of px_session_lua */
    unsigned long        sha_generation;    /* connection it was loaded on */

    px_dedupe_t          dedupe;
    unsigned char       *dup;               /* per row: within the batch */
    size_t              *idx;               /* per sent event: its row */
    px_assign_t         *res;               /* per sent event */
    size_t               cap;               /* of dup, idx, res */

    px_buf_t             cmd;               /* one script call, RESP */
    px_buf_t             keys;
    px_buf_t             args;
    px_buf_t             tmp;

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
    st->timeout_ms = (int64_t) conf->session_timeout_s * 1000;
    st->max_ms = (int64_t) conf->session_max_s * 1000;
    st->event_ttl_s = conf->dedupe_ttl_s;
    /* a visitor's state must outlive any gap that continues its session,
     * with room for consumer lag; past it the next event starts anew */
    st->visitor_ttl_s = conf->session_max_s + conf->session_timeout_s;

    px_dedupe_init(&st->dedupe);
    px_buf_init(&st->cmd, NULL, 0);
    px_buf_init(&st->keys, NULL, 0);
    px_buf_init(&st->args, NULL, 0);
    px_buf_init(&st->tmp, NULL, 0);
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
    px_buf_free(&st->cmd);
    px_buf_free(&st->keys);
    px_buf_free(&st->args);
    px_buf_free(&st->tmp);
    free(st);
}

const px_session_stats_t *
px_session_stage_stats(const px_session_stage_t *st)
{
    return &st->stats;
}

static int
px_grow(px_session_stage_t *st, size_t n)
{
    size_t          cap;
    size_t         *idx;
    px_assign_t    *res;
    unsigned char  *dup;

    if (n <= st->cap) {
        return 0;
    }

    for (cap = st->cap > 0 ? st->cap : 256; cap < n; cap *= 2) { /* void */ }

    dup = realloc(st->dup, cap);
    if (dup == NULL) {
        return -1;
    }
    st->dup = dup;

    idx = realloc(st->idx, cap * sizeof(size_t));
    if (idx == NULL) {
        return -1;
    }
    st->idx = idx;

    res = realloc(st->res, cap * sizeof(px_assign_t));
    if (res == NULL) {
        return -1;
    }
    st->res = res;

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

static int
px_bulk_i64(px_buf_t *out, px_buf_t *tmp, int64_t v)
{
    tmp->len = 0;
    return px_buf_append_i64(tmp, v) || px_bulk(out, tmp->data, tmp->len);
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

/*
 * Build into st->cmd one script call for the events idx[0..k): EVALSHA,
 * or EVAL with the script's text.
 */
static int
px_build_call(px_session_stage_t *st, const px_event_row_t *rows,
    const px_stage_origin_t *origins, const size_t *idx, size_t k,
    int eval)
{
    size_t                    j;
    px_buf_t                 *tmp = &st->tmp;
    const px_event_row_t     *row;

    st->keys.len = 0;
    st->args.len = 0;
    st->cmd.len = 0;

    if (px_bulk_i64(&st->args, tmp, st->timeout_ms)
        || px_bulk_i64(&st->args, tmp, st->max_ms)
        || px_bulk_i64(&st->args, tmp, st->event_ttl_s)
        || px_bulk_i64(&st->args, tmp, st->visitor_ttl_s)
        || px_bulk_i64(&st->args, tmp, (int64_t) st->prefix_len))
    {
        return -1;
    }

    for (j = 0; j < k; j++) {
        row = &rows[idx[j]];

        tmp->len = 0;
        if (px_dedupe_key(tmp, st->prefix, row)
            || px_bulk(&st->keys, tmp->data, tmp->len))
        {
            return -1;
        }

        tmp->len = 0;
        if (px_visitor_key(tmp, st->prefix, row)
            || px_bulk(&st->keys, tmp->data, tmp->len))
        {
            return -1;
        }

        tmp->len = 0;
        if (px_dedupe_origin(tmp, &origins[idx[j]])
            || px_bulk(&st->args, tmp->data, tmp->len)
            || px_bulk_i64(&st->args, tmp, row->msg.ts_ms))
        {
            return -1;
        }
    }

    /* *<argc>  EVAL(SHA) script|sha numkeys  keys...  args... */
    if (px_buf_append(&st->cmd, "*", 1)
        || px_buf_append_i64(&st->cmd, (int64_t) (3 + 5 + 4 * k))
        || px_buf_append(&st->cmd, "\r\n", 2)
        || (eval
            ? px_bulk(&st->cmd, "EVAL", 4)
              || px_bulk(&st->cmd, px_session_lua, sizeof(px_session_lua) - 1)
            : px_bulk(&st->cmd, "EVALSHA", 7)
              || px_bulk(&st->cmd, st->sha, 40))
        || px_bulk_i64(&st->cmd, tmp, (int64_t) (2 * k))
        || px_buf_append(&st->cmd, st->keys.data, st->keys.len)
        || px_buf_append(&st->cmd, st->args.data, st->args.len))
    {
        return -1;
    }

    return 0;
}

/* One answer string of the script into *a.  0, or -1 if malformed. */
static int
px_parse_answer(const redisReply *e, px_assign_t *a)
{
    char           *end;
    unsigned long   seq;

    if (e->type != REDIS_REPLY_STRING || e->len < 1) {
        return -1;
    }

    a->kind = e->str[0];

    if (a->kind == 'D') {
        a->sid[0] = '\0';
        a->seq = 0;
        return e->len == 1 ? 0 : -1;
    }

    if (strchr("NCLPOR", a->kind) == NULL
        || e->len < 1 + PX_SESSION_ID_LEN + 2
        || e->str[1 + PX_SESSION_ID_LEN] != ' ')
    {
        return -1;
    }

    memcpy(a->sid, e->str + 1, PX_SESSION_ID_LEN);
    a->sid[PX_SESSION_ID_LEN] = '\0';

    seq = strtoul(e->str + 2 + PX_SESSION_ID_LEN, &end, 10);
    if (end != e->str + e->len || seq == 0 || seq > UINT32_MAX) {
        return -1;
    }
    a->seq = (uint32_t) seq;
    return 0;
}

/*
 * Read the reply of one script call for k events into res[0..k).
 * Returns 0; 1 when the server did not know the script (NOSCRIPT);
 * -1 on an error reply or a malformed one (the reason in err); -2 on an
 * I/O error (the connection is unusable).
 */
static int
px_read_call(px_session_stage_t *st, redisContext *c, px_assign_t *res,
    size_t k, char *err, size_t errlen)
{
    int          rc;
    size_t       j;
    redisReply  *reply;

    if (redisGetReply(c, (void **) &reply) != REDIS_OK || reply == NULL) {
        snprintf(err, errlen, "redis %s: %s", px_redis_name(st->redis),
                 c->errstr[0] != '\0' ? c->errstr : "no reply");
        return -2;
    }

    rc = 0;

    if (reply->type == REDIS_REPLY_ERROR) {
        if (strncmp(reply->str, "NOSCRIPT", 8) == 0) {
            rc = 1;
        } else {
            snprintf(err, errlen, "redis %s: session script: %s",
                     px_redis_name(st->redis), reply->str);
            rc = -1;
        }

    } else if (reply->type != REDIS_REPLY_ARRAY || reply->elements != k) {
        snprintf(err, errlen, "redis %s: session script: unexpected reply "
                 "(type %d)", px_redis_name(st->redis), reply->type);
        rc = -1;

    } else {
        for (j = 0; j < k; j++) {
            if (px_parse_answer(reply->element[j], &res[j]) != 0) {
                snprintf(err, errlen, "redis %s: session script: malformed "
                         "answer", px_redis_name(st->redis));
                rc = -1;
                break;
            }
        }
    }

    freeReplyObject(reply);
    return rc;
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
                             px_session_lua);
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

/*
 * Send the calls for the sent events idx[0..m), in chunks, pipelined;
 * then read every reply.  With eval == 0 chunks the server answers
 * NOSCRIPT are sent again with EVAL, in order, in a second round trip.
 */
static int
px_exchange(px_session_stage_t *st, const px_event_row_t *rows,
    const px_stage_origin_t *origins, size_t m, char *err, size_t errlen)
{
    int             rc, failed, redo;
    size_t          a, k;
    redisContext   *c;

    c = px_redis_get(st->redis, err, errlen);
    if (c == NULL || px_load_script(st, err, errlen) != 0) {
        return -1;
    }
    c = px_redis_get(st->redis, err, errlen);
    if (c == NULL) {
        return -1;
    }

    for (a = 0; a < m; a += k) {
        k = m - a < PX_SESSION_CHUNK ? m - a : PX_SESSION_CHUNK;
        if (px_build_call(st, rows, origins, st->idx + a, k, 0) != 0) {
            snprintf(err, errlen, "out of memory building the session call");
            goto io_failed;
        }
        if (redisAppendFormattedCommand(c, st->cmd.data, st->cmd.len)
            != REDIS_OK)
        {
            snprintf(err, errlen, "out of memory queueing the session call");
            goto io_failed;
        }
    }

    st->stats.round_trips++;
    failed = 0;
    redo = 0;

    /* every reply is read, whatever the first ones say, so that none is
     * left behind for the next batch; NOSCRIPT chunks are marked in res */
    for (a = 0; a < m; a += k) {
        k = m - a < PX_SESSION_CHUNK ? m - a : PX_SESSION_CHUNK;
        rc = px_read_call(st, c, st->res + a, k, err, errlen);
        if (rc == -2) {
            goto io_failed;
        }
        if (rc == -1) {
            failed = 1;
        }
        if (rc == 1) {
            st->res[a].kind = '\0';
            redo = 1;
        }
    }

    if (failed) {
        return -1;
    }

    if (!redo) {
        return 0;
    }

    /* the script cache was flushed under us: EVAL caches it again */
    px_log(PX_LOG_INFO, "session", "redis %s did not know the script; "
           "sending it", px_redis_name(st->redis));

    for (a = 0; a < m; a += k) {
        k = m - a < PX_SESSION_CHUNK ? m - a : PX_SESSION_CHUNK;
        if (st->res[a].kind != '\0') {
            continue;
        }
        if (px_build_call(st, rows, origins, st->idx + a, k, 1) != 0
            || redisAppendFormattedCommand(c, st->cmd.data, st->cmd.len)
               != REDIS_OK)
        {
            snprintf(err, errlen, "out of memory building the session call");
            goto io_failed;
        }
    }

    st->stats.round_trips++;

    for (a = 0; a < m; a += k) {
        k = m - a < PX_SESSION_CHUNK ? m - a : PX_SESSION_CHUNK;
        if (st->res[a].kind != '\0') {
            continue;
        }
        rc = px_read_call(st, c, st->res + a, k, err, errlen);
        if (rc == -2) {
            goto io_failed;
        }
        if (rc != 0) {
            if (rc == 1) {
                snprintf(err, errlen, "redis %s: NOSCRIPT after EVAL",
                         px_redis_name(st->redis));
            }
            failed = 1;
        }
    }

    return failed ? -1 : 0;

io_failed:

    /* replies may be pending or the socket broken: start afresh */
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

    /* every answer is in: only now touch the rows */
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
        case 'N':
            add.new_sessions++;
            break;
        case 'O':
            add.new_sessions++;
            add.late_events++;
            break;
        case 'L':
        case 'P':
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
