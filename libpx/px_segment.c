/*
 * Segment calls into PX events.  The body is small (Segment caps a batch at
 * 500 KB, the module at px_segment_max_batch_size), so it is parsed into a
 * yajl tree, after a scan that refuses nesting past max_depth (the tree is
 * built and freed recursively).  Each call becomes one PX event; what the
 * batch parser checks (names, ids, timestamps, sizes) is left to it, so a
 * bad call is rejected with the batch API's reasons.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <yajl/yajl_tree.h>

#include "px_segment.h"
#include "px_time.h"
#include "px_uuid.h"

typedef struct {
    px_segment_t  *seg;
    yajl_val       root;
    yajl_val       batch_ctx;       /* the batch's own "context", or NULL */
    int64_t        sent_ms;         /* the envelope's sent_at, -1: none */
} px_seg_ctx_t;

static const char *const  px_seg_calls[] = {
    "batch", "import", "track", "page", "screen", "identify", "group",
    "alias", NULL
};

int
px_segment_call_known(const char *call, size_t len)
{
    size_t  i;

    for (i = 0; px_seg_calls[i] != NULL; i++) {
        if (strlen(px_seg_calls[i]) == len
            && memcmp(px_seg_calls[i], call, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}

/* The first member of that name, or NULL. */
static yajl_val
px_seg_member(yajl_val obj, const char *name)
{
    size_t  i;

    if (obj == NULL || !YAJL_IS_OBJECT(obj)) {
        return NULL;
    }

    for (i = 0; i < obj->u.object.len; i++) {
        if (strcmp(obj->u.object.keys[i], name) == 0) {
            return obj->u.object.values[i];
        }
    }

    return NULL;
}

static const char *
px_seg_string(yajl_val obj, const char *name)
{
    yajl_val  v = px_seg_member(obj, name);

    return v != NULL && YAJL_IS_STRING(v) ? v->u.string : NULL;
}

static int
px_seg_put(px_buf_t *o, const char *s)
{
    return px_buf_append_str(o, s);
}

static int
px_seg_put_str(px_buf_t *o, const char *s)
{
    return px_buf_append_json_str(o, s, strlen(s));
}

/* Any value, re-encoded compactly (depth bounded by the scan). */
static int
px_seg_put_value(px_buf_t *o, yajl_val v)
{
    size_t  i;

    if (v == NULL || YAJL_IS_NULL(v)) {
        return px_seg_put(o, "null");
    }
    if (YAJL_IS_TRUE(v)) {
        return px_seg_put(o, "true");
    }
    if (YAJL_IS_FALSE(v)) {
        return px_seg_put(o, "false");
    }
    if (YAJL_IS_STRING(v)) {
        return px_seg_put_str(o, v->u.string);
    }
    if (YAJL_IS_NUMBER(v)) {
        return px_seg_put(o, v->u.number.r);
    }

    if (YAJL_IS_ARRAY(v)) {
        if (px_seg_put(o, "[")) {
            return -1;
        }
        for (i = 0; i < v->u.array.len; i++) {
            if ((i > 0 && px_seg_put(o, ","))
                || px_seg_put_value(o, v->u.array.values[i]))
            {
                return -1;
            }
        }
        return px_seg_put(o, "]");
    }

    if (px_seg_put(o, "{")) {
        return -1;
    }
    for (i = 0; i < v->u.object.len; i++) {
        if ((i > 0 && px_seg_put(o, ","))
            || px_seg_put_str(o, v->u.object.keys[i])
            || px_seg_put(o, ":")
            || px_seg_put_value(o, v->u.object.values[i]))
        {
            return -1;
        }
    }
    return px_seg_put(o, "}");
}

/* ,"name":value (px_seg_event() takes out the first member's comma) */
static int
px_seg_put_member(px_buf_t *o, const char *name, yajl_val v)
{
    return px_seg_put(o, ",") || px_seg_put_str(o, name)
           || px_seg_put(o, ":") || px_seg_put_value(o, v);
}

/* Keep a string beside the events; returns its offset in *off. */
static int
px_seg_keep(px_segment_t *seg, const char *s, size_t *off, size_t *len)
{
    *off = seg->strs.len;
    *len = strlen(s);
    return px_buf_append(&seg->strs, s, *len);
}

/*
 * An identifier: a string as it is; a number (Segment allows them) as its
 * text; anything else as it is, for the batch parser to reject.
 */
static int
px_seg_put_id(px_buf_t *o, const char *name, yajl_val v)
{
    if (v != NULL && YAJL_IS_NUMBER(v)) {
        return px_seg_put(o, ",") || px_seg_put_str(o, name)
               || px_seg_put(o, ":") || px_seg_put_str(o, v->u.number.r);
    }

    return px_seg_put_member(o, name, v);
}

static int
px_seg_id_present(yajl_val v)
{
    return v != NULL && !YAJL_IS_NULL(v)
           && !(YAJL_IS_STRING(v) && v->u.string[0] == '\0');
}

static int
px_seg_event_id(px_buf_t *o, yajl_val v)
{
    char  uuid[PX_UUID_LEN + 1];

    if (v == NULL || YAJL_IS_NULL(v)
        || (YAJL_IS_STRING(v) && v->u.string[0] == '\0'))
    {
        return 0;       /* the server makes one */
    }

    if (!YAJL_IS_STRING(v) || px_uuid_valid(v->u.string,
                                            strlen(v->u.string)))
    {
        return px_seg_put_member(o, "event_id", v);
    }

    px_segment_message_uuid(v->u.string, strlen(v->u.string), uuid);
    return px_seg_put(o, ",\"event_id\":") || px_seg_put_str(o, uuid);
}

/*
 * The event's time: originalTimestamp (the device's clock when the call
 * was made), else timestamp.  The batch parser corrects it with the
 * envelope's sent_at; a call with its own sentAt is shifted so that the
 * correction uses that one instead.
 */
static int
px_seg_timestamp(px_seg_ctx_t *c, px_buf_t *o, yajl_val ev)
{
    int64_t     ts, sent;
    yajl_val    v;
    const char *s;
    char        iso[PX_TIME_ISO_LEN + 1];

    v = px_seg_member(ev, "originalTimestamp");
    if (v == NULL || YAJL_IS_NULL(v)) {
        v = px_seg_member(ev, "timestamp");
    }
    if (v == NULL || YAJL_IS_NULL(v)) {
        return 0;
    }

    s = px_seg_string(ev, "sentAt");
    if (!YAJL_IS_STRING(v) || s == NULL || c->sent_ms < 0
        || px_time_parse_iso(s, strlen(s), &sent) != 0
        || px_time_parse_iso(v->u.string, strlen(v->u.string), &ts) != 0
        || sent == c->sent_ms
        || ts + (c->sent_ms - sent) < 0)
    {
        return px_seg_put_member(o, "timestamp", v);
    }

    px_time_format_iso(ts + (c->sent_ms - sent), iso);
    return px_seg_put(o, ",\"timestamp\":") || px_seg_put_str(o, iso);
}

/* Members of obj but those named in skip (NULL-terminated) or present in
 * not_in; *n counts what was written. */
static int
px_seg_put_members(px_buf_t *o, yajl_val obj, const char *const *skip,
    yajl_val not_in, size_t *n)
{
    size_t       i, k;
    const char  *key;

    if (obj == NULL || !YAJL_IS_OBJECT(obj)) {
        return 0;
    }

    for (i = 0; i < obj->u.object.len; i++) {
        key = obj->u.object.keys[i];

        for (k = 0; skip != NULL && skip[k] != NULL; k++) {
            if (strcmp(skip[k], key) == 0) {
                break;
            }
        }
        if ((skip != NULL && skip[k] != NULL)
            || px_seg_member(not_in, key) != NULL)
        {
            continue;
        }

        if ((*n)++ > 0 && px_seg_put(o, ",")) {
            return -1;
        }
        if (px_seg_put_str(o, key) || px_seg_put(o, ":")
            || px_seg_put_value(o, obj->u.object.values[i]))
        {
            return -1;
        }
    }

    return 0;
}

/*
 * The call's properties: track, page and screen their "properties" (page
 * and screen with "name" and "category" added unless the properties have
 * them), identify its "traits" (else its context.traits), group {"group_id","traits"}, alias
 * {"previous_id"}.  Properties that are not an object are passed on for
 * the batch parser to reject.
 */
static int
px_seg_properties(px_buf_t *o, yajl_val ev, const char *type)
{
    size_t       n;
    yajl_val     props, v;
    const char  *added[] = { "name", "category", NULL };
    int          i;

    if (strcmp(type, "identify") == 0) {
        /* RudderStack's clients send them as context.traits */
        v = px_seg_member(ev, "traits");
        if (v == NULL || YAJL_IS_NULL(v)) {
            v = px_seg_member(px_seg_member(ev, "context"), "traits");
        }
        return v != NULL ? px_seg_put_member(o, "properties", v) : 0;
    }

    if (strcmp(type, "group") == 0 || strcmp(type, "alias") == 0) {
        n = 0;
        if (px_seg_put(o, ",\"properties\":{")) {
            return -1;
        }
        if (strcmp(type, "alias") == 0) {
            v = px_seg_member(ev, "previousId");
            if (v != NULL && (px_seg_put(o, "\"previous_id\":")
                              || px_seg_put_value(o, v)))
            {
                return -1;
            }
            return px_seg_put(o, "}");
        }
        v = px_seg_member(ev, "groupId");
        if (v != NULL) {
            if (px_seg_put(o, "\"group_id\":") || px_seg_put_value(o, v)) {
                return -1;
            }
            n++;
        }
        v = px_seg_member(ev, "traits");
        if (v != NULL) {
            if ((n > 0 && px_seg_put(o, ",")) || px_seg_put(o, "\"traits\":")
                || px_seg_put_value(o, v))
            {
                return -1;
            }
        }
        return px_seg_put(o, "}");
    }

    props = px_seg_member(ev, "properties");

    if (strcmp(type, "track") == 0
        || (props != NULL && !YAJL_IS_OBJECT(props) && !YAJL_IS_NULL(props)))
    {
        return props != NULL ? px_seg_put_member(o, "properties", props) : 0;
    }

    /* page, screen */
    n = 0;
    if (px_seg_put(o, ",\"properties\":{")
        || px_seg_put_members(o, props, NULL, NULL, &n))
    {
        return -1;
    }
    for (i = 0; added[i] != NULL; i++) {
        v = px_seg_member(ev, added[i]);
        if (v == NULL || YAJL_IS_NULL(v) || px_seg_member(props, added[i])) {
            continue;
        }
        if ((n++ > 0 && px_seg_put(o, ",")) || px_seg_put_str(o, added[i])
            || px_seg_put(o, ":") || px_seg_put_value(o, v))
        {
            return -1;
        }
    }
    return px_seg_put(o, "}");
}

/*
 * context: the call's, with the batch's members it does not have.
 * userAgent and ip are taken out (the PX event's user_agent and ip are the
 * server's to set; the module uses them per event), so a raw address never
 * reaches the stored context.
 */
static int
px_seg_context(px_seg_ctx_t *c, px_buf_t *o, yajl_val ev,
    px_segment_event_t *se)
{
    size_t        n;
    yajl_val      ctx;
    const char   *ua, *ip;
    unsigned char addr[16];
    static const char *const  skip[] = { "userAgent", "ip", NULL };

    ctx = px_seg_member(ev, "context");

    if (ctx != NULL && !YAJL_IS_OBJECT(ctx) && !YAJL_IS_NULL(ctx)) {
        return px_seg_put_member(o, "context", ctx);
    }

    ua = px_seg_string(ctx, "userAgent");
    if (ua == NULL) {
        ua = px_seg_string(c->batch_ctx, "userAgent");
    }
    if (ua != NULL && ua[0] != '\0'
        && px_seg_keep(c->seg, ua, &se->ua_off, &se->ua_len) != 0)
    {
        return -1;
    }

    ip = px_seg_string(ctx, "ip");
    if (ip == NULL) {
        ip = px_seg_string(c->batch_ctx, "ip");
    }
    if (ip != NULL
        && (inet_pton(AF_INET, ip, addr) == 1
            || inet_pton(AF_INET6, ip, addr) == 1)
        && px_seg_keep(c->seg, ip, &se->ip_off, &se->ip_len) != 0)
    {
        return -1;
    }

    if ((ctx == NULL || YAJL_IS_NULL(ctx)) && c->batch_ctx == NULL) {
        return 0;
    }

    n = 0;
    if (px_seg_put(o, ",\"context\":{")
        || px_seg_put_members(o, ctx, skip, NULL, &n)
        || px_seg_put_members(o, c->batch_ctx, skip, ctx, &n))
    {
        return -1;
    }
    return px_seg_put(o, "}");
}

static const char *
px_seg_event_name(const char *type)
{
    static const struct { const char *type, *name; }  names[] = {
        { "page", "page_view" }, { "screen", "screen_view" },
        { "identify", "identify" }, { "group", "group" },
        { "alias", "alias" }, { "track", NULL },
    };
    size_t  i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(names[i].type, type) == 0) {
            return names[i].name;
        }
    }

    return NULL;
}

static int
px_seg_grow(px_segment_t *seg)
{
    size_t               cap;
    px_segment_event_t  *ev;
    const px_alloc_t    *a = PX_ALLOC(seg->alloc);

    if (seg->nevents < seg->cap) {
        return 0;
    }

    cap = seg->cap ? seg->cap * 2 : 16;
    ev = a->realloc(a->ctx, seg->events, cap * sizeof(*ev));
    if (ev == NULL) {
        return -1;
    }

    seg->events = ev;
    seg->cap = cap;
    return 0;
}

/* One call into one PX event. */
static int
px_seg_event(px_seg_ctx_t *c, yajl_val ev, const char *call)
{
    size_t               start;
    px_buf_t            *o = &c->seg->out;
    yajl_val             v, anon, user;
    const char          *type, *name;
    px_segment_event_t  *se;

    if (px_seg_grow(c->seg) != 0) {
        return -1;
    }
    se = &c->seg->events[c->seg->nevents++];
    memset(se, 0, sizeof(*se));

    if (!YAJL_IS_OBJECT(ev)) {
        se->error = "event_not_object";
        return px_seg_put_value(o, ev);
    }

    type = call != NULL ? call : px_seg_string(ev, "type");
    if (type == NULL || !px_segment_call_known(type, strlen(type))
        || strcmp(type, "batch") == 0 || strcmp(type, "import") == 0)
    {
        se->error = "invalid_type";
        type = "track";
    }

    if (px_seg_put(o, "{")) {
        return -1;
    }
    start = o->len;

    name = px_seg_event_name(type);
    if (name != NULL) {
        if (px_seg_put(o, ",\"event\":") || px_seg_put_str(o, name)) {
            return -1;
        }
    } else {
        v = px_seg_member(ev, "event");
        if (v != NULL && px_seg_put_member(o, "event", v)) {
            return -1;
        }
    }

    anon = px_seg_member(ev, "anonymousId");
    user = px_seg_member(ev, "userId");

    /* Segment requires one of them (alias: the userId) */
    if (se->error == NULL
        && (strcmp(type, "alias") == 0
            ? !px_seg_id_present(user)
            : !px_seg_id_present(anon) && !px_seg_id_present(user)))
    {
        se->error = "missing_user_id";
    }

    if (px_seg_event_id(o, px_seg_member(ev, "messageId"))
        || (px_seg_id_present(anon) && px_seg_put_id(o, "anonymous_id", anon))
        || (px_seg_id_present(user) && px_seg_put_id(o, "user_id", user))
        || px_seg_timestamp(c, o, ev)
        || px_seg_properties(o, ev, type)
        || px_seg_context(c, o, ev, se))
    {
        return -1;
    }

    /* every member was written with a comma before it */
    if (o->len > start) {
        memmove(o->data + start, o->data + start + 1, o->len - start - 1);
        o->len--;
    }

    return px_seg_put(o, "}");
}

/* The envelope's sent_at: its "sentAt", else the first call's. */
static void
px_seg_sent_at(px_seg_ctx_t *c, yajl_val calls)
{
    size_t       i;
    const char  *s;

    c->sent_ms = -1;

    s = px_seg_string(c->root, "sentAt");
    if (s != NULL && px_time_parse_iso(s, strlen(s), &c->sent_ms) == 0) {
        return;
    }
    c->sent_ms = -1;

    for (i = 0; calls != NULL && i < calls->u.array.len; i++) {
        s = px_seg_string(calls->u.array.values[i], "sentAt");
        if (s != NULL && px_time_parse_iso(s, strlen(s), &c->sent_ms) == 0) {
            return;
        }
        c->sent_ms = -1;
    }
}

static px_batch_status_t
px_seg_fail(char *err, size_t errlen, px_batch_status_t st, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return st;
}

px_batch_status_t
px_segment_translate(const char *json, size_t len, const char *call,
    size_t max_depth, const px_alloc_t *alloc, px_segment_t *seg, char *err,
    size_t errlen)
{
    char              *text, yerr[128];
    size_t             i;
    yajl_val           calls, key;
    px_seg_ctx_t       c;
    px_batch_status_t  st;
    const px_alloc_t  *a = PX_ALLOC(alloc);
    char               iso[PX_TIME_ISO_LEN + 1];

    memset(seg, 0, sizeof(*seg));
    seg->alloc = alloc;
    px_buf_init(&seg->out, alloc, 0);
    px_buf_init(&seg->strs, alloc, 0);

    if (memchr(json, '\0', len) != NULL) {
        return px_seg_fail(err, errlen, PX_BATCH_ERR_JSON,
                           "the body is not valid JSON");
    }
    if (px_json_depth(json, len) > max_depth) {
        return px_seg_fail(err, errlen, PX_BATCH_ERR_DEPTH,
                           "the JSON is nested too deeply");
    }

    /* yajl_tree_parse() wants a NUL-terminated string */
    text = a->malloc(a->ctx, len + 1);
    if (text == NULL) {
        return px_seg_fail(err, errlen, PX_BATCH_ERR_NOMEM, "out of memory");
    }
    memcpy(text, json, len);
    text[len] = '\0';

    yerr[0] = '\0';
    c.root = yajl_tree_parse(text, yerr, sizeof(yerr));
    a->free(a->ctx, text);

    if (c.root == NULL) {
        return px_seg_fail(err, errlen, PX_BATCH_ERR_JSON,
                           "the body is not valid JSON");
    }

    c.seg = seg;
    c.batch_ctx = NULL;
    calls = NULL;
    st = PX_BATCH_OK;

    if (!YAJL_IS_OBJECT(c.root)) {
        st = px_seg_fail(err, errlen, PX_BATCH_ERR_ENVELOPE,
                         "the body must be a JSON object");
        goto done;
    }

    if (strcmp(call, "batch") == 0 || strcmp(call, "import") == 0) {
        calls = px_seg_member(c.root, "batch");
        if (calls == NULL || !YAJL_IS_ARRAY(calls)) {
            st = px_seg_fail(err, errlen, PX_BATCH_ERR_ENVELOPE,
                             "\"batch\" must be an array of calls");
            goto done;
        }
        if (calls->u.array.len == 0) {
            st = px_seg_fail(err, errlen, PX_BATCH_ERR_EMPTY,
                             "\"batch\" is empty");
            goto done;
        }
        c.batch_ctx = px_seg_member(c.root, "context");
        if (c.batch_ctx != NULL && !YAJL_IS_OBJECT(c.batch_ctx)) {
            c.batch_ctx = NULL;
        }
    }

    px_seg_sent_at(&c, calls);

    if (px_seg_put(&seg->out, "{"))
    {
        goto nomem;
    }

    key = px_seg_member(c.root, "writeKey");
    if (key != NULL && YAJL_IS_STRING(key)
        && (px_seg_put(&seg->out, "\"api_key\":")
            || px_seg_put_str(&seg->out, key->u.string)
            || px_seg_put(&seg->out, ",")))
    {
        goto nomem;
    }

    if (c.sent_ms >= 0) {
        px_time_format_iso(c.sent_ms, iso);
        if (px_seg_put(&seg->out, "\"sent_at\":")
            || px_seg_put_str(&seg->out, iso)
            || px_seg_put(&seg->out, ","))
        {
            goto nomem;
        }
    }

    if (px_seg_put(&seg->out, "\"events\":[")) {
        goto nomem;
    }

    if (calls == NULL) {
        if (px_seg_event(&c, c.root, call)) {
            goto nomem;
        }
    } else {
        for (i = 0; i < calls->u.array.len; i++) {
            if ((i > 0 && px_seg_put(&seg->out, ","))
                || px_seg_event(&c, calls->u.array.values[i], NULL))
            {
                goto nomem;
            }
        }
    }

    if (px_seg_put(&seg->out, "]}")) {
        goto nomem;
    }

    goto done;

nomem:

    st = px_seg_fail(err, errlen, PX_BATCH_ERR_NOMEM, "out of memory");

done:

    yajl_tree_free(c.root);
    return st;
}

/* Two FNV-1a passes with different bases, each finished by splitmix64's
 * mixer: 128 bits that depend on every byte. */
static uint64_t
px_seg_hash(const char *s, size_t len, uint64_t h)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char) s[i];
        h *= 0x100000001b3ULL;
    }

    h ^= len;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

void
px_segment_message_uuid(const char *id, size_t len, char *out)
{
    size_t          i, j;
    uint64_t        hi, lo;
    unsigned char   b[16];
    static const char  hex[] = "0123456789abcdef";

    hi = px_seg_hash(id, len, 0xcbf29ce484222325ULL);
    lo = px_seg_hash(id, len, 0x84222325cbf29ce4ULL);

    for (i = 0; i < 8; i++) {
        b[i] = (unsigned char) (hi >> (56 - 8 * i));
        b[8 + i] = (unsigned char) (lo >> (56 - 8 * i));
    }
    b[6] = (b[6] & 0x0f) | 0x80;    /* version 8: custom */
    b[8] = (b[8] & 0x3f) | 0x80;    /* RFC 4122 variant */

    for (i = 0, j = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[j++] = '-';
        }
        out[j++] = hex[b[i] >> 4];
        out[j++] = hex[b[i] & 0x0f];
    }
    out[j] = '\0';
}

void
px_segment_free(px_segment_t *seg)
{
    const px_alloc_t  *a = PX_ALLOC(seg->alloc);

    px_buf_free(&seg->out);
    px_buf_free(&seg->strs);
    if (seg->events != NULL) {
        a->free(a->ctx, seg->events);
    }
    memset(seg, 0, sizeof(*seg));
}
