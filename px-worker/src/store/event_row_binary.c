/*
 * A row of px.events in ClickHouse's RowBinary format: each column of
 * PX_EVENT_ROW_BINARY_COLUMNS in that order, strings as a LEB128 length
 * and their bytes, numbers little-endian, DateTime as UInt32 seconds.
 * ClickHouse parses it at about half the cost of JSONEachRow (bench/
 * README.md, "insert levers").  The values are the very ones of
 * px_event_row_json(): bytes that are not UTF-8 become U+FFFD, and the
 * properties and context columns hold the JSON text of their literal.
 */
#include <stdint.h>
#include <string.h>

#include "event_row.h"

static inline int
px_rb_put(px_buf_t *out, const void *s, size_t n)
{
    if (n == 0) {
        return 0;           /* s may be NULL then */
    }

    if (out->cap - out->len < n && px_buf_reserve(out, n) != 0) {
        return -1;
    }

    memcpy(out->data + out->len, s, n);
    out->len += n;
    return 0;
}

static int
px_rb_varint(px_buf_t *out, uint64_t v)
{
    unsigned char  b[10];
    size_t         n = 0;

    do {
        b[n] = (unsigned char) (v & 0x7f);
        v >>= 7;
        b[n++] |= v ? 0x80 : 0;
    } while (v);

    return px_rb_put(out, b, n);
}

static int
px_rb_uint(px_buf_t *out, uint64_t v, size_t bytes)
{
    unsigned char  b[8];
    size_t         i;

    for (i = 0; i < bytes; i++) {
        b[i] = (unsigned char) (v >> (8 * i));
    }

    return px_rb_put(out, b, bytes);
}

static int
px_rb_double(px_buf_t *out, double d)
{
    uint64_t  v;

    memcpy(&v, &d, sizeof(v));
    return px_rb_uint(out, v, 8);
}

/* The length of the ASCII run u starts with, 8 bytes at a time: most of
 * a row's text is ASCII, and a byte-wise UTF-8 check of it was the
 * encoder's largest cost. */
static size_t
px_rb_ascii_run(const unsigned char *u, size_t n)
{
    size_t    i;
    uint64_t  w;

    for (i = 0; i + 8 <= n; i += 8) {
        memcpy(&w, u + i, 8);
        if (w & 0x8080808080808080ULL) {
            break;
        }
    }
    while (i < n && u[i] < 0x80) {
        i++;
    }

    return i;
}

/* A String column: s (NULL is ""), with U+FFFD for bytes not UTF-8. */
static int
px_rb_str(px_buf_t *out, const char *s)
{
    static const unsigned char  fffd[3] = { 0xef, 0xbf, 0xbd };
    const unsigned char        *u = (const unsigned char *) s;
    size_t                      n, i, seq, bad, run;

    n = s != NULL ? strlen(s) : 0;

    bad = 0;
    for (i = px_rb_ascii_run(u, n); i < n; i += seq) {
        seq = u[i] < 0x80 ? 1 : px_utf8_seq_len(u + i, n - i);
        if (seq == 0) {
            bad++;
            seq = 1;
        }
    }

    if (px_rb_varint(out, n + 2 * bad) != 0) {
        return -1;
    }
    if (bad == 0) {
        return px_rb_put(out, s, n);
    }

    for (i = 0, run = 0; i < n; i += seq) {
        seq = u[i] < 0x80 ? 1 : px_utf8_seq_len(u + i, n - i);
        if (seq == 0) {
            if (px_rb_put(out, s + run, i - run) != 0
                || px_rb_put(out, fffd, 3) != 0)
            {
                return -1;
            }
            seq = 1;
            run = i + 1;
        }
    }

    return px_rb_put(out, s + run, n - run);
}

static int
px_rb_hex4(const char *p, unsigned *v)
{
    size_t    i;
    unsigned  c, x = 0;

    for (i = 0; i < 4; i++) {
        c = (unsigned char) p[i];
        x <<= 4;
        if (c >= '0' && c <= '9') {
            x |= c - '0';
        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            x |= (c | 0x20) - 'a' + 10;
        } else {
            return -1;
        }
    }

    *v = x;
    return 0;
}

/*
 * A String column from a JSON string literal (quotes included, as
 * event_parse.c writes properties and context): its decoded value.  0, -1
 * out of memory, -2 not a well-formed literal (out as it was).
 */
static int
px_rb_literal(px_buf_t *out, const char *lit, size_t len)
{
    size_t         i, start, mark;
    unsigned       cp, lo;
    unsigned char  u[4];

    if (len < 2 || lit[0] != '"' || lit[len - 1] != '"') {
        return -2;
    }

    /* no escape (the usual case): the text between the quotes, as it is,
     * without decoding behind a placeholder and moving it down */
    if (memchr(lit + 1, '\\', len - 2) == NULL) {
        return px_rb_varint(out, len - 2) || px_rb_put(out, lit + 1, len - 2)
               ? -1 : 0;
    }

    /* decode after a placeholder of the longest length prefix, then
     * write the real length and move the text down */
    mark = out->len;
    if (px_rb_put(out, "\0\0\0\0\0", 5) != 0) {
        return -1;
    }
    start = out->len;

    for (i = 1; i < len - 1; i++) {
        if (lit[i] != '\\') {
            /* a run up to the next escape */
            const char  *e = memchr(lit + i, '\\', len - 1 - i);
            size_t       n = (e != NULL ? (size_t) (e - lit) : len - 1) - i;

            if (px_rb_put(out, lit + i, n) != 0) {
                return -1;
            }
            i += n - 1;
            continue;
        }

        if (++i >= len - 1) {
            goto malformed;
        }
        switch (lit[i]) {
        case '"': case '\\': case '/':
            u[0] = (unsigned char) lit[i];
            break;
        case 'b': u[0] = '\b'; break;
        case 'f': u[0] = '\f'; break;
        case 'n': u[0] = '\n'; break;
        case 'r': u[0] = '\r'; break;
        case 't': u[0] = '\t'; break;
        case 'u':
            if (i + 4 >= len - 1 || px_rb_hex4(lit + i + 1, &cp) != 0) {
                goto malformed;
            }
            i += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (i + 6 >= len - 1 || lit[i + 1] != '\\' || lit[i + 2] != 'u'
                    || px_rb_hex4(lit + i + 3, &lo) != 0
                    || lo < 0xdc00 || lo > 0xdfff)
                {
                    goto malformed;
                }
                i += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                goto malformed;
            }
            if (cp < 0x80) {
                u[0] = (unsigned char) cp;
                if (px_rb_put(out, u, 1) != 0) {
                    return -1;
                }
            } else if (cp < 0x800) {
                u[0] = (unsigned char) (0xc0 | (cp >> 6));
                u[1] = (unsigned char) (0x80 | (cp & 0x3f));
                if (px_rb_put(out, u, 2) != 0) {
                    return -1;
                }
            } else if (cp < 0x10000) {
                u[0] = (unsigned char) (0xe0 | (cp >> 12));
                u[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
                u[2] = (unsigned char) (0x80 | (cp & 0x3f));
                if (px_rb_put(out, u, 3) != 0) {
                    return -1;
                }
            } else {
                u[0] = (unsigned char) (0xf0 | (cp >> 18));
                u[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
                u[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
                u[3] = (unsigned char) (0x80 | (cp & 0x3f));
                if (px_rb_put(out, u, 4) != 0) {
                    return -1;
                }
            }
            continue;
        default:
            goto malformed;
        }
        if (px_rb_put(out, u, 1) != 0) {
            return -1;
        }
    }

    {
        size_t         n = out->len - start, k = 0;
        unsigned char  pre[5];
        uint64_t       v = n;

        do {
            pre[k] = (unsigned char) (v & 0x7f);
            v >>= 7;
            pre[k++] |= v ? 0x80 : 0;
        } while (v);

        memcpy(out->data + mark, pre, k);
        memmove(out->data + mark + k, out->data + start, n);
        out->len = mark + k + n;
    }

    return 0;

malformed:

    out->len = mark;
    return -2;
}


/* properties / context: the decoded literal; should it not be one (it is
 * ours: it always is), its bytes as they are, rather than a batch that
 * can never be inserted. */
static int
px_rb_object(px_buf_t *out, const char *lit, size_t len)
{
    int  rc;

    if (lit == NULL) {
        return px_rb_varint(out, 2) || px_rb_put(out, "{}", 2);
    }

    rc = px_rb_literal(out, lit, len);
    if (rc != -2) {
        return rc;
    }

    return px_rb_varint(out, len) || px_rb_put(out, lit, len);
}

/* browser_version / os_version as px_event_row_json() writes them:
 * "major.minor.patch", the parts present, "" without a major. */
static int
px_rb_version(px_buf_t *out, const char *a, const char *b, const char *c)
{
    char  v[PX_UA_VERSION_STR_LEN];

    (void) px_ua_version_str(v, a, b, c);
    return px_rb_str(out, v);
}

static uint32_t
px_rb_seconds(int64_t ms)
{
    int64_t  s = ms / 1000;

    return s < 0 ? 0 : s > (int64_t) UINT32_MAX ? UINT32_MAX : (uint32_t) s;
}

int
px_event_row_binary(const px_event_row_t *row, int64_t inserted_s,
    px_buf_t *out)
{
    const px_ua_t  *ua = &row->ua;
    size_t          start = out->len;

    (void) px_buf_reserve(out, 1024 + row->msg.properties_len
                               + row->msg.context_len);

    if (px_rb_str(out, row->msg.project_id)
        || px_rb_str(out, row->msg.event_id)
        || px_rb_str(out, row->msg.event)
        || px_rb_str(out, row->msg.anonymous_id)
        || px_rb_str(out, row->msg.user_id)
        || px_rb_str(out, row->session_id)
        || px_rb_uint(out, row->session_seq, 4)
        || px_rb_uint(out, px_rb_seconds(row->msg.ts_ms), 4)
        || px_rb_uint(out, (uint64_t) row->msg.ts_ms, 8)
        || px_rb_uint(out, (uint64_t) row->msg.client_ts_ms, 8)
        || px_rb_uint(out, px_rb_seconds(row->msg.received_ms), 4)
        || px_rb_uint(out, (uint64_t) row->msg.received_ms, 8)
        || px_rb_object(out, row->msg.properties, row->msg.properties_len)
        || px_rb_object(out, row->msg.context, row->msg.context_len)
        || px_rb_str(out, row->msg.page_url)
        || px_rb_str(out, row->msg.page_path)
        || px_rb_str(out, row->msg.page_title)
        || px_rb_str(out, row->msg.referrer)
        || px_rb_str(out, row->ref.domain)
        || px_rb_str(out, px_referrer_type_name(row->ref.type))
        || px_rb_str(out, row->utm.source)
        || px_rb_str(out, row->utm.medium)
        || px_rb_str(out, row->utm.campaign)
        || px_rb_str(out, row->utm.term)
        || px_rb_str(out, row->utm.content)
        || px_rb_str(out, row->utm.click_id_type)
        || px_rb_str(out, row->utm.click_id)
        || px_rb_str(out, row->ip_stored)
        || px_rb_str(out, row->geo.loc.country_iso)
        || px_rb_str(out, row->geo.loc.country_name)
        || px_rb_str(out, row->geo.loc.region_iso)
        || px_rb_str(out, row->geo.loc.region_name)
        || px_rb_str(out, row->geo.loc.city)
        || px_rb_double(out, row->geo.loc.latitude)
        || px_rb_double(out, row->geo.loc.longitude)
        || px_rb_str(out, row->geo.loc.time_zone)
        || px_rb_uint(out, row->geo.as.number, 4)
        || px_rb_str(out, row->geo.as.org)
        || px_rb_str(out, row->msg.user_agent)
        || px_rb_str(out, ua->browser.family)
        || px_rb_version(out, ua->browser.major, ua->browser.minor,
                         ua->browser.patch)
        || px_rb_str(out, ua->os.family)
        || px_rb_version(out, ua->os.major, ua->os.minor, ua->os.patch)
        || px_rb_str(out, px_ua_device_type_name(ua->device_type))
        || px_rb_str(out, ua->device.brand)
        || px_rb_str(out, ua->device.model)
        || px_rb_uint(out, ua->is_bot ? 1 : 0, 1)
        || px_rb_str(out, row->msg.locale)
        || px_rb_str(out, row->msg.screen)
        || px_rb_str(out, row->msg.library)
        || px_rb_str(out, row->msg.library_version)
        || px_rb_uint(out, row->msg.schema_version, 2)
        || px_rb_uint(out, inserted_s < 0 ? 0 : (uint64_t) inserted_s, 4)
        || px_rb_uint(out, row->session_first_ms < 0
                           ? 0 : (uint64_t) row->session_first_ms, 8))
    {
        out->len = start;
        return -1;
    }

    return 0;
}
