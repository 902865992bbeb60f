#include <stdlib.h>
#include <string.h>

#include "session_rules.h"
#include "sha1.h"

/* One "sid start last seq first" at p (up to end): the pointer after it,
 * or NULL when it is not of that form.  A value written before "first"
 * existed ends at seq: its first is taken as its start (the start moved
 * only if a late event came, so it is right for nearly all). */
static const char *
px_parse_session(px_session_t *s, const char *p, const char *end)
{
    int           i;
    char          num[24];
    const char   *q;
    char         *stop;
    long long     v[4];

    q = memchr(p, ' ', (size_t) (end - p));
    if (q == NULL || q - p != PX_SESSION_ID_LEN) {
        return NULL;
    }
    memcpy(s->sid, p, PX_SESSION_ID_LEN);
    s->sid[PX_SESSION_ID_LEN] = '\0';
    p = q + 1;

    for (i = 0; i < 4; i++) {
        q = memchr(p, ' ', (size_t) (end - p));
        if (q == NULL) {
            q = end;
        }
        if (i == 3 && q - p == PX_SESSION_ID_LEN) {
            q = p - 1;          /* older form: the other session's sid */
            break;
        }
        if (q == p || (size_t) (q - p) >= sizeof(num)) {
            return NULL;
        }
        memcpy(num, p, (size_t) (q - p));
        num[q - p] = '\0';
        v[i] = strtoll(num, &stop, 10);
        if (*stop != '\0' || (i == 2 && (num[0] == '-' || v[i] < 1))) {
            return NULL;
        }
        if (q == end) {
            if (i < 2) {
                return NULL;
            }
            i++;
            break;
        }
        p = q + 1;
    }
    if (i < 4) {
        v[3] = v[0];            /* older form: no first */
    }

    s->start_ms = v[0];
    s->last_ms = v[1];
    s->seq = (uint64_t) v[2];
    s->first_ms = v[3];
    /* at the separator before the other session, or at the end */
    return q;
}

void
px_visitor_state_parse(px_visitor_state_t *v, const char *s, size_t len)
{
    const char  *end = s + len, *p;

    memset(v, 0, sizeof(*v));

    p = px_parse_session(&v->cur, s, end);
    if (p == NULL) {
        return;
    }
    v->has_cur = 1;

    if (p < end
        && px_parse_session(&v->other, p + 1, end) == end)
    {
        v->has_other = 1;
    }
}

static int
px_format_session(px_buf_t *out, const px_session_t *s)
{
    return px_buf_append(out, s->sid, PX_SESSION_ID_LEN)
           || px_buf_append(out, " ", 1)
           || px_buf_append_i64(out, s->start_ms)
           || px_buf_append(out, " ", 1)
           || px_buf_append_i64(out, s->last_ms)
           || px_buf_append(out, " ", 1)
           || px_buf_append_i64(out, (int64_t) s->seq)
           || px_buf_append(out, " ", 1)
           || px_buf_append_i64(out, s->first_ms);
}

int
px_visitor_state_format(px_buf_t *out, const px_visitor_state_t *v)
{
    return px_format_session(out, &v->cur)
           || (v->has_other
               && (px_buf_append(out, " ", 1)
                   || px_format_session(out, &v->other)));
}

void
px_session_id(char out[PX_SESSION_ID_LEN + 1], const char *visitor,
    size_t visitor_len, const char *event, size_t event_len)
{
    int                  i, o;
    unsigned char        h[20];
    char                 hex[41];
    px_sha1_t            sha;
    static const char    digits[] = "0123456789abcdef";

    px_sha1_init(&sha);
    px_sha1_update(&sha, visitor, visitor_len);
    px_sha1_update(&sha, "\n", 1);
    px_sha1_update(&sha, event, event_len);
    px_sha1_final(&sha, h);

    for (i = 0; i < 20; i++) {
        hex[2 * i] = digits[h[i] >> 4];
        hex[2 * i + 1] = digits[h[i] & 15];
    }

    /* the first 32 hex digits as a UUID, version 5, variant 10xx */
    for (i = 0, o = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20) {
            out[o++] = '-';
        }
        out[o++] = hex[i];
    }
    out[14] = '5';
    out[19] = "89ab"[(strchr(digits, hex[16]) - digits) % 4];
    out[PX_SESSION_ID_LEN] = '\0';
}

/* How far a late event at ts is from session s, or -1 when s cannot take
 * it (more than the timeout away, or it would grow past the longest). */
static int64_t
px_near(const px_session_t *s, const px_session_rules_t *r, int64_t ts)
{
    int64_t  d = 0, lo, hi;

    if (ts < s->start_ms) {
        d = s->start_ms - ts;
    } else if (ts > s->last_ms) {
        d = ts - s->last_ms;
    }

    lo = ts < s->start_ms ? ts : s->start_ms;
    hi = ts > s->last_ms ? ts : s->last_ms;
    return d > r->timeout_ms || hi - lo > r->max_ms ? -1 : d;
}

static void
px_join(px_session_t *s, int64_t ts)
{
    s->seq++;
    if (ts < s->start_ms) {
        s->start_ms = ts;
    }
    if (ts > s->last_ms) {
        s->last_ms = ts;
    }
}

int
px_session_assign(px_visitor_state_t *v, const px_session_rules_t *r,
    int64_t ts, const char *visitor, size_t visitor_len, const char *event,
    size_t event_len, const char **sid, uint64_t *seq, int64_t *first_ms)
{
    int            kind;
    int64_t        dc, dother;
    px_session_t  *c = &v->cur, *s;

    if (!v->has_cur) {
        kind = PX_KIND_NEW;
    } else if (ts >= c->last_ms) {
        kind = ts - c->last_ms > r->timeout_ms || ts - c->start_ms > r->max_ms
               ? PX_KIND_NEW : PX_KIND_CONTINUES;
    } else {
        /* late: the nearer of the two that can take it (the current on a
         * tie), else a session of its own */
        dc = px_near(c, r, ts);
        dother = v->has_other ? px_near(&v->other, r, ts) : -1;
        if (dc >= 0 && (dother < 0 || dc <= dother)) {
            kind = PX_KIND_LATE;
        } else if (dother >= 0) {
            kind = PX_KIND_LATE_OTHER;
        } else {
            kind = PX_KIND_LATE_OWN;
        }
    }

    switch (kind) {

    case PX_KIND_NEW:
        v->other = *c;
        v->has_other = v->has_cur;
        v->has_cur = 1;
        s = c;
        break;

    case PX_KIND_LATE_OWN:
        v->has_other = 1;
        s = &v->other;
        break;

    case PX_KIND_CONTINUES:
        c->last_ms = ts;
        c->seq++;
        *sid = c->sid;
        *seq = c->seq;
        *first_ms = c->first_ms;
        return kind;

    case PX_KIND_LATE:
        px_join(c, ts);
        *sid = c->sid;
        *seq = c->seq;
        *first_ms = c->first_ms;
        return kind;

    default:
        px_join(&v->other, ts);
        *sid = v->other.sid;
        *seq = v->other.seq;
        *first_ms = v->other.first_ms;
        return kind;
    }

    px_session_id(s->sid, visitor, visitor_len, event, event_len);
    s->start_ms = ts;
    s->last_ms = ts;
    s->seq = 1;
    s->first_ms = ts;
    *sid = s->sid;
    *seq = 1;
    *first_ms = ts;
    return kind;
}
