/*
 * Streaming batch parser.  Depth counts open containers: the root object
 * is depth 1, the "events" array depth 2, an event object depth 3 and the
 * event's member values depth 4 and below.
 */
#include <stdio.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "px_batch.h"
#include "px_time.h"

/* Known event members (bits in px_event_t.seen). */
#define PX_F_EVENT      0x01
#define PX_F_EVENT_ID   0x02
#define PX_F_TIMESTAMP  0x04
#define PX_F_ANON       0x08
#define PX_F_USER       0x10
#define PX_F_PROPS      0x20
#define PX_F_CONTEXT    0x40
#define PX_F_RESERVED   0x80    /* set by the server: dropped from input */

typedef enum {
    PX_ROOT_NONE = 0,
    PX_ROOT_EVENTS,
    PX_ROOT_SENT_AT,
    PX_ROOT_API_KEY,
    PX_ROOT_OTHER
} px_root_key_t;

typedef struct {
    size_t    nitems;           /* items written in this container */
    unsigned  is_map;
} px_level_t;

struct px_batch_parser_s {
    yajl_handle         yajl;
    const px_limits_t  *lim;
    const px_alloc_t   *alloc;
    px_batch_t         *b;
    px_level_t         *levels;     /* [max_depth + 1] */
    size_t              depth;
    size_t              skip_base;  /* >0: skipping a value below it */
    px_root_key_t       root_key;
    unsigned            root_seen;  /* the root object was opened */
    unsigned            events_seen;
    unsigned            api_key_seen;
    px_event_t         *ev;         /* the event being read, or NULL */
    unsigned            field;      /* PX_F_* of the member being read */
    px_batch_status_t   status;
    size_t              fed;        /* bytes fed before this chunk */
    size_t              chunk;      /* bytes of this chunk */
    char                msg[160];
};

static const char *px_status_codes[] = {
    "ok", "invalid_json", "invalid_envelope", "empty_batch",
    "too_many_events", "too_deep", "out_of_memory"
};

const char *
px_batch_status_code(px_batch_status_t st)
{
    return px_status_codes[st];
}

static int
px_fail(px_batch_parser_t *p, px_batch_status_t st, const char *msg)
{
    p->status = st;
    snprintf(p->msg, sizeof(p->msg), "%s", msg);
    return 0;
}

/* Mark the current event invalid with the first reason found. */
static void
px_reject(px_batch_parser_t *p, const char *reason)
{
    if (p->ev != NULL && p->ev->error == NULL) {
        p->ev->error = reason;
    }
}

/* Past max_event_bytes the event is rejected and its members dropped, so
 * memory stays bounded; its dead letter keeps the reason and the server's
 * fields. */
static void
px_truncate(px_batch_parser_t *p)
{
    px_reject(p, "event_too_large");
    p->b->json.len = p->ev->off;
    p->ev->truncated = 1;
}

/* Rejected events are still written (their dead letter carries them), so
 * the output stays well-formed JSON whatever was refused. */
static int
px_out(px_batch_parser_t *p, const void *data, size_t len)
{
    if (p->ev->truncated) {
        return 1;
    }

    if (p->b->json.len - p->ev->off + len > p->lim->max_event_bytes) {
        px_truncate(p);
        return 1;
    }

    if (px_buf_append(&p->b->json, data, len) != 0) {
        return px_fail(p, PX_BATCH_ERR_NOMEM, "out of memory");
    }

    return 1;
}

/* A comma before the next item of the container at the current depth. */
static int
px_out_sep(px_batch_parser_t *p)
{
    px_level_t  *lv = &p->levels[p->depth];

    if (lv->nitems++ > 0) {
        return px_out(p, ",", 1);
    }

    return 1;
}

static int
px_out_str(px_batch_parser_t *p, const unsigned char *s, size_t len)
{
    if (p->ev->truncated) {
        return 1;
    }

    /* the escaped string is at least len + 2 bytes: refuse before copying */
    if (p->b->json.len - p->ev->off + len + 2 > p->lim->max_event_bytes) {
        px_truncate(p);
        return 1;
    }

    if (px_buf_append_json_str(&p->b->json, (const char *) s, len) != 0) {
        return px_fail(p, PX_BATCH_ERR_NOMEM, "out of memory");
    }

    if (p->b->json.len - p->ev->off > p->lim->max_event_bytes) {
        px_truncate(p);
    }

    return 1;
}

/* An array value at depth 3+ or a map value following its key. */
static int
px_out_value_sep(px_batch_parser_t *p)
{
    if (!p->levels[p->depth].is_map) {
        return px_out_sep(p);
    }

    return 1;
}

static int
px_new_event(px_batch_parser_t *p)
{
    px_batch_t  *b = p->b;
    px_event_t  *ev;
    size_t       cap;

    if (b->nevents == p->lim->max_events) {
        return px_fail(p, PX_BATCH_ERR_TOO_MANY, "too many events in batch");
    }

    if (b->nevents == b->cap) {
        cap = b->cap != 0 ? b->cap * 2 : 16;
        if (cap > p->lim->max_events) {
            cap = p->lim->max_events;
        }
        ev = p->alloc->realloc(p->alloc->ctx, b->events, cap * sizeof(*ev));
        if (ev == NULL) {
            return px_fail(p, PX_BATCH_ERR_NOMEM, "out of memory");
        }
        b->events = ev;
        b->cap = cap;
    }

    ev = &b->events[b->nevents++];
    memset(ev, 0, sizeof(*ev));
    ev->off = b->json.len;
    ev->ts_ms = -1;
    p->ev = ev;
    return 1;
}

/* Closing checks of one event: required members and the server's own. */
static void
px_end_event(px_batch_parser_t *p)
{
    px_event_t  *ev = p->ev;

    ev->len = ev->truncated ? 0 : p->b->json.len - ev->off;

    if (!(ev->seen & PX_F_EVENT)) {
        px_reject(p, "missing_event_name");
    }

    if (!(ev->seen & PX_F_EVENT_ID) && ev->error == NULL) {
        if (px_uuid_v4(ev->event_id) != 0) {
            px_reject(p, "no_randomness");
        }
        ev->id_generated = 1;
    }

    if (ev->error != NULL) {
        p->b->nrejected++;
    }

    p->ev = NULL;
}

static int
px_save_visitor(px_batch_parser_t *p, const unsigned char *s, size_t len)
{
    px_event_t  *ev = p->ev;

    if (len > p->lim->max_id) {
        px_reject(p, "id_too_long");
        return 1;
    }

    /* anonymous_id wins over user_id as the partition key */
    if (ev->visitor_len != 0 && p->field == PX_F_USER) {
        return 1;
    }

    ev->visitor_off = p->b->aux.len;
    ev->visitor_len = len;
    ev->visitor_user = p->field == PX_F_USER;
    if (px_buf_append(&p->b->aux, s, len) != 0) {
        return px_fail(p, PX_BATCH_ERR_NOMEM, "out of memory");
    }

    return 1;
}

/*
 * The envelope's "api_key" (a key transport for sendBeacon, which cannot
 * set headers).  Kept in aux for the caller to check; it is never part of
 * an event, so no message carries it.  A value that is not a string is
 * ignored like any other unknown member.
 */
static int
px_save_api_key(px_batch_parser_t *p, const unsigned char *s, size_t len)
{
    if (len == 0) {
        return 1;
    }

    p->b->api_key_off = p->b->aux.len;
    p->b->api_key_len = len;
    if (px_buf_append(&p->b->aux, s, len) != 0) {
        p->b->api_key_len = 0;
        return px_fail(p, PX_BATCH_ERR_NOMEM, "out of memory");
    }

    return 1;
}

/* Whether s holds a C0 control character or DEL. */
static int
px_has_control(const unsigned char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (s[i] < 0x20 || s[i] == 0x7f) {
            return 1;
        }
    }

    return 0;
}

/* A string value of a known member of an event. */
static int
px_event_field_string(px_batch_parser_t *p, const unsigned char *s,
    size_t len)
{
    px_event_t  *ev = p->ev;

    switch (p->field) {

    case PX_F_EVENT:
        if (len == 0 || len > p->lim->max_name) {
            px_reject(p, len == 0 ? "empty_event_name" : "event_name_too_long");
        } else if (px_has_control(s, len)) {
            /* a NUL would cut the stored name; others break dashboards */
            px_reject(p, "event_name_control_chars");
        }
        return 1;

    case PX_F_EVENT_ID:
        if (!px_uuid_valid((const char *) s, len)) {
            px_reject(p, "invalid_event_id");
            return 1;
        }
        memcpy(ev->event_id, s, len);
        ev->event_id[len] = '\0';
        return 1;

    case PX_F_TIMESTAMP:
        if (px_time_parse_iso((const char *) s, len, &ev->ts_ms) != 0) {
            ev->ts_ms = -1;
            px_reject(p, "invalid_timestamp");
        }
        return 1;

    case PX_F_ANON:
    case PX_F_USER:
        return px_save_visitor(p, s, len);
    }

    return 1;
}

static const char *
px_field_type_error(unsigned field)
{
    switch (field) {
    case PX_F_EVENT:     return "event_name_not_string";
    case PX_F_EVENT_ID:  return "invalid_event_id";
    case PX_F_TIMESTAMP: return "invalid_timestamp";
    case PX_F_ANON:      return "anonymous_id_not_string";
    case PX_F_USER:      return "user_id_not_string";
    case PX_F_PROPS:     return "properties_not_object";
    default:             return "context_not_object";
    }
}

/* Which known member a key names; 0 for a member kept as it is. */
static unsigned
px_event_key(const unsigned char *k, size_t len)
{
    static const struct { const char *name; unsigned field; }  keys[] = {
        { "event", PX_F_EVENT }, { "event_id", PX_F_EVENT_ID },
        { "timestamp", PX_F_TIMESTAMP }, { "anonymous_id", PX_F_ANON },
        { "user_id", PX_F_USER }, { "properties", PX_F_PROPS },
        { "context", PX_F_CONTEXT },
        /* set by the server; a client must not spoof them */
        { "project_id", PX_F_RESERVED }, { "received_at", PX_F_RESERVED },
        { "ip", PX_F_RESERVED }, { "user_agent", PX_F_RESERVED },
        { "schema_version", PX_F_RESERVED }, { "sent_at", PX_F_RESERVED },
        { "client_timestamp", PX_F_RESERVED },
        { "timestamp_clamped", PX_F_RESERVED },
    };
    size_t  i;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strlen(keys[i].name) == len && memcmp(keys[i].name, k, len) == 0) {
            return keys[i].field;
        }
    }

    return 0;
}

/* Members whose value is copied to the output as the client sent it. */
#define PX_F_COPIED  (PX_F_EVENT | PX_F_ANON | PX_F_USER | PX_F_PROPS      \
                      | PX_F_CONTEXT)

/*
 * A scalar anywhere.  kind: 's' string, 'n' number, 'b' bool, 'z' null.
 */
static int
px_scalar(px_batch_parser_t *p, char kind, const unsigned char *s,
    size_t len)
{
    if (p->skip_base != 0) {
        return 1;
    }

    if (kind == 's' && len > p->lim->max_string) {
        px_reject(p, "string_too_long");
        s = (const unsigned char *) "";
        len = 0;
    }

    if (p->depth == 1) {
        if (p->root_key == PX_ROOT_EVENTS) {
            return px_fail(p, PX_BATCH_ERR_ENVELOPE,
                           "\"events\" must be an array");
        }
        if (p->root_key == PX_ROOT_SENT_AT) {
            if (kind != 's'
                || px_time_parse_iso((const char *) s, len,
                                     &p->b->sent_at_ms) != 0)
            {
                p->b->sent_at_ms = -1;
            }
        }
        if (p->root_key == PX_ROOT_API_KEY && kind == 's') {
            return px_save_api_key(p, s, len);
        }
        return 1;
    }

    if (p->depth == 2) {
        if (!px_new_event(p)) {
            return 0;
        }
        px_reject(p, "event_not_object");
        px_end_event(p);
        return 1;
    }

    if (p->depth == 3) {
        if (p->field & (PX_F_PROPS | PX_F_CONTEXT)) {
            px_reject(p, px_field_type_error(p->field));

        } else if (p->field == PX_F_USER && kind == 'z') {
            /* user_id: null is "not identified" */

        } else if (p->field != 0 && p->field != PX_F_RESERVED && kind != 's') {
            px_reject(p, px_field_type_error(p->field));

        } else if (kind == 's' && p->field != 0) {
            if (!px_event_field_string(p, s, len)) {
                return 0;
            }
        }
    }

    if (p->ev == NULL || p->depth < 3) {
        return 1;
    }

    if (p->depth == 3) {
        /* the value of a member: written only if the member is copied */
        if (p->field & ~PX_F_COPIED) {
            p->field = 0;
            return 1;
        }
        p->field = 0;

    } else if (!px_out_value_sep(p)) {
        return 0;
    }

    if (kind == 's') {
        return px_out_str(p, s, len);
    }

    return px_out(p, s, len);
}

static int
px_cb_null(void *ctx)
{
    return px_scalar(ctx, 'z', (const unsigned char *) "null", 4);
}

static int
px_cb_boolean(void *ctx, int v)
{
    return px_scalar(ctx, 'b', (const unsigned char *) (v ? "true" : "false"),
                     v ? 4 : 5);
}

static int
px_cb_number(void *ctx, const char *s, size_t len)
{
    return px_scalar(ctx, 'n', (const unsigned char *) s, len);
}

static int
px_cb_string(void *ctx, const unsigned char *s, size_t len)
{
    return px_scalar(ctx, 's', s, len);
}

static int
px_open(px_batch_parser_t *p, unsigned is_map)
{
    if (p->depth == p->lim->max_depth) {
        return px_fail(p, PX_BATCH_ERR_DEPTH, "JSON nested too deeply");
    }

    if (p->skip_base != 0) {
        p->depth++;
        return 1;
    }

    if (p->depth == 0) {
        if (!is_map) {
            return px_fail(p, PX_BATCH_ERR_ENVELOPE,
                           "the body must be a JSON object");
        }
        p->root_seen = 1;

    } else if (p->depth == 1) {
        if (p->root_key == PX_ROOT_EVENTS) {
            if (is_map) {
                return px_fail(p, PX_BATCH_ERR_ENVELOPE,
                               "\"events\" must be an array");
            }
        } else {
            /* a value the envelope does not use */
            p->skip_base = p->depth;
        }

    } else if (p->depth == 2) {
        if (!px_new_event(p)) {
            return 0;
        }
        if (!is_map) {
            px_reject(p, "event_not_object");
            p->skip_base = p->depth;
        }

    } else if (p->depth == 3) {
        if (p->field & ~(PX_F_PROPS | PX_F_CONTEXT | PX_F_RESERVED)) {
            px_reject(p, px_field_type_error(p->field));
            p->skip_base = p->depth;
            /* a copied member's key is out already: give it a value */
            if ((p->field & PX_F_COPIED) && !px_out(p, "null", 4)) {
                return 0;
            }
        } else if ((p->field & (PX_F_PROPS | PX_F_CONTEXT)) && !is_map) {
            px_reject(p, px_field_type_error(p->field));
        } else if (p->field == PX_F_RESERVED) {
            p->skip_base = p->depth;
        }
        p->field = 0;

    }

    if (p->skip_base == 0 && p->depth >= 3) {
        if (p->depth > 3 && !px_out_value_sep(p)) {
            return 0;
        }
        if (!px_out(p, is_map ? "{" : "[", 1)) {
            return 0;
        }
    }

    p->depth++;
    p->levels[p->depth].nitems = 0;
    p->levels[p->depth].is_map = is_map;
    return 1;
}

static int
px_close(px_batch_parser_t *p)
{
    unsigned  is_map = p->levels[p->depth].is_map;

    p->depth--;

    if (p->skip_base != 0) {
        if (p->depth == p->skip_base) {
            p->skip_base = 0;
            if (p->depth == 2 && p->ev != NULL) {
                px_end_event(p);
            }
        }
        return 1;
    }

    if (p->depth == 2 && p->ev != NULL) {
        px_end_event(p);
        return 1;
    }

    if (p->depth >= 3 && p->ev != NULL) {
        return px_out(p, is_map ? "}" : "]", 1);
    }

    if (p->depth == 1) {
        p->root_key = PX_ROOT_NONE;
    }

    return 1;
}

static int
px_cb_start_map(void *ctx)
{
    return px_open(ctx, 1);
}

static int
px_cb_end_map(void *ctx)
{
    return px_close(ctx);
}

static int
px_cb_start_array(void *ctx)
{
    return px_open(ctx, 0);
}

static int
px_cb_end_array(void *ctx)
{
    return px_close(ctx);
}

static int
px_root_key(px_batch_parser_t *p, const unsigned char *k, size_t len)
{
    if (len == 6 && memcmp(k, "events", 6) == 0) {
        if (p->events_seen) {
            return px_fail(p, PX_BATCH_ERR_ENVELOPE,
                           "\"events\" appears twice");
        }
        p->events_seen = 1;
        p->root_key = PX_ROOT_EVENTS;

    } else if (len == 7 && memcmp(k, "sent_at", 7) == 0) {
        p->root_key = PX_ROOT_SENT_AT;

    } else if (len == 7 && memcmp(k, "api_key", 7) == 0) {
        /* two keys in one body: which one would be meant? */
        if (p->api_key_seen) {
            return px_fail(p, PX_BATCH_ERR_ENVELOPE,
                           "\"api_key\" appears twice");
        }
        p->api_key_seen = 1;
        p->root_key = PX_ROOT_API_KEY;

    } else {
        p->root_key = PX_ROOT_OTHER;
    }

    return 1;
}

static int
px_cb_map_key(void *ctx, const unsigned char *k, size_t len)
{
    px_batch_parser_t  *p = ctx;
    px_event_t         *ev = p->ev;
    unsigned            field;

    if (p->skip_base != 0) {
        return 1;
    }

    if (p->depth == 1) {
        return px_root_key(p, k, len);
    }

    if (ev == NULL) {
        return 1;
    }

    if (p->levels[p->depth].nitems >= p->lim->max_keys) {
        px_reject(p, "too_many_keys");
    }

    if (len > p->lim->max_string) {
        px_reject(p, "string_too_long");
        len = 0;
    }

    if (p->depth == 3) {
        field = px_event_key(k, len);
        if (field != 0 && field != PX_F_RESERVED) {
            if (ev->seen & field) {
                px_reject(p, "duplicate_member");
            }
            ev->seen |= field;
        }

        p->field = field;
        if (field & ~PX_F_COPIED) {
            /* normalised by the server, or the server's own: not copied */
            return 1;
        }
    }

    return px_out_sep(p) && px_out_str(p, k, len) && px_out(p, ":", 1);
}

static const yajl_callbacks  px_callbacks = {
    px_cb_null, px_cb_boolean, NULL, NULL, px_cb_number, px_cb_string,
    px_cb_start_map, px_cb_map_key, px_cb_end_map,
    px_cb_start_array, px_cb_end_array
};

px_batch_parser_t *
px_batch_parser_new(const px_limits_t *lim, const px_alloc_t *alloc,
    px_batch_t *batch)
{
    px_batch_parser_t  *p;
    size_t              depth;

    alloc = PX_ALLOC(alloc);

    p = alloc->malloc(alloc->ctx, sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    memset(p, 0, sizeof(*p));

    depth = lim->max_depth < PX_LIMIT_DEPTH_MAX ? lim->max_depth
                                                : PX_LIMIT_DEPTH_MAX;
    p->lim = lim;
    p->alloc = alloc;
    p->b = batch;
    p->levels = alloc->malloc(alloc->ctx, (depth + 1) * sizeof(px_level_t));
    /* px_alloc_t has yajl_alloc_funcs' layout; yajl copies the struct */
    p->yajl = yajl_alloc(&px_callbacks, (yajl_alloc_funcs *) alloc, p);

    if (p->levels == NULL || p->yajl == NULL) {
        px_batch_parser_free(p);
        return NULL;
    }

    memset(batch, 0, sizeof(*batch));
    px_buf_init(&batch->json, alloc, 0);
    px_buf_init(&batch->aux, alloc, 0);
    batch->sent_at_ms = -1;
    return p;
}

static px_batch_status_t
px_yajl_result(px_batch_parser_t *p, yajl_status st)
{
    if (st == yajl_status_ok) {
        return PX_BATCH_OK;
    }

    if (st == yajl_status_client_canceled) {
        return p->status;
    }

    snprintf(p->msg, sizeof(p->msg), "invalid JSON near byte %zu",
             p->fed + yajl_get_bytes_consumed(p->yajl));
    p->status = PX_BATCH_ERR_JSON;
    return p->status;
}

px_batch_status_t
px_batch_feed(px_batch_parser_t *p, const void *data, size_t len)
{
    px_batch_status_t  st;

    st = px_yajl_result(p, yajl_parse(p->yajl, data, len));
    p->fed += len;
    return st;
}

px_batch_status_t
px_batch_finish(px_batch_parser_t *p)
{
    px_batch_status_t  st;

    st = px_yajl_result(p, yajl_complete_parse(p->yajl));
    if (st != PX_BATCH_OK) {
        if (!p->root_seen && p->status == PX_BATCH_ERR_JSON) {
            snprintf(p->msg, sizeof(p->msg), "the body is not JSON");
        }
        return st;
    }

    if (!p->events_seen) {
        px_fail(p, PX_BATCH_ERR_ENVELOPE, "\"events\" is missing");
        return p->status;
    }

    if (p->b->nevents == 0) {
        px_fail(p, PX_BATCH_ERR_EMPTY, "\"events\" is empty");
        return p->status;
    }

    return PX_BATCH_OK;
}

const char *
px_batch_error_message(px_batch_parser_t *p)
{
    return p->msg;
}

void
px_batch_parser_free(px_batch_parser_t *p)
{
    if (p == NULL) {
        return;
    }

    if (p->yajl != NULL) {
        yajl_free(p->yajl);
    }

    if (p->levels != NULL) {
        p->alloc->free(p->alloc->ctx, p->levels);
    }

    p->alloc->free(p->alloc->ctx, p);
}

/* A memset the compiler may not drop as a dead store before free(). */
static void
px_memzero(void *p, size_t n)
{
    volatile unsigned char  *v = p;

    while (n-- > 0) {
        *v++ = 0;
    }
}

void
px_batch_free(px_batch_t *batch)
{
    /* a secret: not left behind in freed memory */
    if (batch->api_key_len != 0 && batch->aux.data != NULL) {
        px_memzero(batch->aux.data + batch->api_key_off, batch->api_key_len);
    }
    batch->api_key_len = 0;

    if (batch->events != NULL) {
        batch->json.alloc->free(batch->json.alloc->ctx, batch->events);
        batch->events = NULL;
    }

    px_buf_free(&batch->json);
    px_buf_free(&batch->aux);
    batch->nevents = 0;
    batch->cap = 0;
}

px_batch_status_t
px_batch_parse(const px_limits_t *lim, const px_alloc_t *alloc,
    const void *data, size_t len, px_batch_t *batch, char *err,
    size_t errlen)
{
    px_batch_parser_t  *p;
    px_batch_status_t   st;

    p = px_batch_parser_new(lim, alloc, batch);
    if (p == NULL) {
        memset(batch, 0, sizeof(*batch));
        snprintf(err, errlen, "out of memory");
        return PX_BATCH_ERR_NOMEM;
    }

    st = px_batch_feed(p, data, len);
    if (st == PX_BATCH_OK) {
        st = px_batch_finish(p);
    }

    if (st != PX_BATCH_OK) {
        snprintf(err, errlen, "%s", px_batch_error_message(p));
    }

    px_batch_parser_free(p);
    return st;
}
