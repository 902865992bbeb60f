#include <string.h>

#include "px_message.h"
#include "px_time.h"

/* "name": as the writer puts it before a value */
#define PX_MSG_NAME(name)  "\"" name "\":"
#define PX_MSG_NEXT(name)  ",\"" name "\":"

int64_t
px_message_event_time(const px_batch_t *b, const px_event_t *ev,
    int64_t received_ms, unsigned *clamped)
{
    int64_t  t;

    *clamped = 0;

    if (ev->ts_ms < 0) {
        return received_ms;
    }

    t = ev->ts_ms;
    if (b->sent_at_ms >= 0) {
        t = received_ms - (b->sent_at_ms - ev->ts_ms);
    }

    if (t > received_ms) {
        *clamped = 1;
        t = received_ms;
    }

    return t < 0 ? 0 : t;
}

static int
px_append_iso(px_buf_t *out, const char *name, int64_t ms)
{
    char  iso[PX_TIME_ISO_LEN + 1];

    px_time_format_iso(ms, iso);
    return px_buf_append_str(out, name)
           || px_buf_append_json_str(out, iso, strlen(iso));
}

static int
px_append_member(px_buf_t *out, const char *name, const char *s, size_t n)
{
    return px_buf_append_str(out, name) || px_buf_append_json_str(out, s, n);
}

/* A truncated event keeps who sent it, for its dead letter. */
static int
px_message_put_visitor(const px_batch_t *b, const px_event_t *ev,
    px_buf_t *out)
{
    if (ev->visitor_len == 0) {
        return 0;
    }

    return px_append_member(out, ev->visitor_user
                                 ? PX_MSG_NAME(PX_MSG_USER_ID)
                                 : PX_MSG_NAME(PX_MSG_ANONYMOUS_ID),
                            b->aux.data + ev->visitor_off, ev->visitor_len)
           || px_buf_append(out, ",", 1);
}

int
px_message_value(const px_batch_t *b, const px_event_t *ev,
    const px_server_info_t *srv, px_buf_t *out)
{
    unsigned  clamped;
    int64_t   t;

    t = px_message_event_time(b, ev, srv->received_ms, &clamped);

    if (px_buf_append(out, "{", 1)
        || (ev->len > 0
            && (px_buf_append(out, b->json.data + ev->off, ev->len)
                || px_buf_append(out, ",", 1)))
        || (ev->truncated && px_message_put_visitor(b, ev, out))
        || px_append_member(out, PX_MSG_NAME(PX_MSG_EVENT_ID), ev->event_id,
                            strlen(ev->event_id))
        || px_append_iso(out, PX_MSG_NEXT(PX_MSG_TIMESTAMP), t))
    {
        return -1;
    }

    if (ev->ts_ms >= 0) {
        if (px_append_iso(out, PX_MSG_NEXT(PX_MSG_CLIENT_TIMESTAMP),
                          ev->ts_ms))
        {
            return -1;
        }

    } else if (px_buf_append_str(out,
                                 PX_MSG_NEXT(PX_MSG_CLIENT_TIMESTAMP) "null"))
    {
        return -1;
    }

    if (px_append_member(out, PX_MSG_NEXT(PX_MSG_PROJECT_ID),
                         srv->project_id, srv->project_id_len)
        || px_append_iso(out, PX_MSG_NEXT(PX_MSG_RECEIVED_AT),
                         srv->received_ms)
        || px_append_member(out, PX_MSG_NEXT(PX_MSG_IP), srv->ip, srv->ip_len)
        || px_append_member(out, PX_MSG_NEXT(PX_MSG_USER_AGENT),
                            srv->user_agent, srv->user_agent_len)
        || px_buf_append_str(out, PX_MSG_NEXT(PX_MSG_SCHEMA_VERSION))
        || px_buf_append_i64(out, PX_SCHEMA_VERSION)
        || (clamped
            && px_buf_append_str(out, PX_MSG_NEXT(PX_MSG_CLAMPED) "true"))
        || px_buf_append(out, "}", 1))
    {
        return -1;
    }

    return 0;
}

int
px_message_key(const px_batch_t *b, const px_event_t *ev,
    const px_server_info_t *srv, px_buf_t *out)
{
    if (px_buf_append(out, srv->project_id, srv->project_id_len)
        || px_buf_append(out, "/", 1))
    {
        return -1;
    }

    if (ev->visitor_len != 0) {
        return px_buf_append(out, b->aux.data + ev->visitor_off,
                             ev->visitor_len);
    }

    return px_buf_append_str(out, ev->event_id);
}

int
px_message_dead_letter(const char *reason, const char *source,
    int64_t at_ms, const char *payload, size_t payload_len,
    int payload_is_json, px_buf_t *out)
{
    if (px_append_member(out, "{\"reason\":", reason, strlen(reason))
        || px_append_member(out, ",\"source\":", source, strlen(source))
        || px_append_iso(out, ",\"at\":", at_ms)
        || px_buf_append_str(out, ",\"payload\":"))
    {
        return -1;
    }

    if (payload_is_json) {
        if (px_buf_append(out, payload, payload_len)) {
            return -1;
        }

    } else if (px_buf_append_json_str(out, payload, payload_len)) {
        return -1;
    }

    return px_buf_append(out, "}", 1);
}
