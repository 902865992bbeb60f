/*
 * A RowBinary row of PX_EVENT_ROW_BINARY_COLUMNS read back as its
 * JSONEachRow line.  Insert blocks hold rows encoded only (the rows
 * themselves are reused by the next batch), so the dead letter of a row
 * ClickHouse refuses is written from its bytes: the same values as
 * px_event_row_json() wrote from the row.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "event_row.h"

/* A column's type: S String, U<n> an n-byte unsigned integer (DateTime
 * is U4), F Float64. */
typedef struct {
    const char  *name;
    char         type;
    unsigned     bytes;
} px_rb_column_t;

static const px_rb_column_t  px_rb_columns[] = {
    { "project_id", 'S', 0 }, { "event_id", 'S', 0 }, { "event", 'S', 0 },
    { "anonymous_id", 'S', 0 }, { "user_id", 'S', 0 },
    { "session_id", 'S', 0 }, { "session_seq", 'U', 4 },
    { "timestamp", 'U', 4 }, { "timestamp_ms", 'U', 8 },
    { "client_timestamp_ms", 'U', 8 }, { "received_at", 'U', 4 },
    { "received_at_ms", 'U', 8 }, { "properties", 'S', 0 },
    { "context", 'S', 0 }, { "page_url", 'S', 0 }, { "page_path", 'S', 0 },
    { "page_title", 'S', 0 }, { "referrer", 'S', 0 },
    { "referrer_domain", 'S', 0 }, { "referrer_type", 'S', 0 },
    { "utm_source", 'S', 0 }, { "utm_medium", 'S', 0 },
    { "utm_campaign", 'S', 0 }, { "utm_term", 'S', 0 },
    { "utm_content", 'S', 0 }, { "click_id_type", 'S', 0 },
    { "click_id", 'S', 0 }, { "ip", 'S', 0 }, { "country", 'S', 0 },
    { "country_name", 'S', 0 }, { "region", 'S', 0 },
    { "region_name", 'S', 0 }, { "city", 'S', 0 }, { "latitude", 'F', 8 },
    { "longitude", 'F', 8 }, { "time_zone", 'S', 0 }, { "asn", 'U', 4 },
    { "as_org", 'S', 0 }, { "user_agent", 'S', 0 }, { "browser", 'S', 0 },
    { "browser_version", 'S', 0 }, { "os", 'S', 0 },
    { "os_version", 'S', 0 }, { "device_type", 'S', 0 },
    { "device_brand", 'S', 0 }, { "device_model", 'S', 0 },
    { "is_bot", 'U', 1 }, { "locale", 'S', 0 }, { "screen", 'S', 0 },
    { "library", 'S', 0 }, { "library_version", 'S', 0 },
    { "schema_version", 'U', 2 }, { "inserted_at", 'U', 4 },
    { "session_first_ms", 'U', 8 },
};

#define PX_RB_NCOLUMNS  (sizeof(px_rb_columns) / sizeof(px_rb_columns[0]))

/* A String at *p (below end): its bytes.  -1 when cut short. */
static int
px_rb_read_str(const unsigned char **p, const unsigned char *end,
    const char **s, size_t *n)
{
    uint64_t  v = 0;
    unsigned  shift = 0;

    for ( ;; ) {
        if (*p >= end || shift > 63) {
            return -1;
        }
        v |= (uint64_t) (**p & 0x7f) << shift;
        shift += 7;
        if (!(*(*p)++ & 0x80)) {
            break;
        }
    }

    if ((uint64_t) (end - *p) < v) {
        return -1;
    }
    *s = (const char *) *p;
    *n = (size_t) v;
    *p += v;
    return 0;
}

int
px_event_row_binary_event_id(const char *rb, size_t len, const char **id,
    size_t *id_len)
{
    const unsigned char  *p = (const unsigned char *) rb;
    const unsigned char  *end = p + len;

    return px_rb_read_str(&p, end, id, id_len) == 0     /* project_id */
           && px_rb_read_str(&p, end, id, id_len) == 0 ? 0 : -1;
}

int
px_event_row_binary_json(const char *rb, size_t len, px_buf_t *out)
{
    char                  num[64];
    const char           *s;
    size_t                i, k, n, start = out->len;
    uint64_t              v;
    double                d;
    const unsigned char  *p = (const unsigned char *) rb;
    const unsigned char  *end = p + len;

    for (i = 0; i < PX_RB_NCOLUMNS; i++) {
        const px_rb_column_t  *c = &px_rb_columns[i];

        n = (size_t) snprintf(num, sizeof(num), "%s\"%s\":", i ? "," : "{",
                              c->name);
        if (px_buf_append(out, num, n) != 0) {
            goto nomem;
        }

        if (c->type == 'S') {
            if (px_rb_read_str(&p, end, &s, &n) != 0) {
                goto malformed;
            }
            if (px_buf_append_json_str(out, s, n) != 0) {
                goto nomem;
            }
            continue;
        }

        if ((size_t) (end - p) < c->bytes) {
            goto malformed;
        }
        for (k = 0, v = 0; k < c->bytes; k++) {
            v |= (uint64_t) p[k] << (8 * k);
        }
        p += c->bytes;

        if (c->type == 'F') {
            memcpy(&d, &v, sizeof(d));
            n = (size_t) snprintf(num, sizeof(num), "%.6f", d);
        } else {
            n = (size_t) snprintf(num, sizeof(num), "%llu",
                                  (unsigned long long) v);
        }
        if (n >= sizeof(num) || px_buf_append(out, num, n) != 0) {
            goto nomem;
        }
    }

    if (p != end) {
        goto malformed;
    }
    if (px_buf_append(out, "}\n", 2) != 0) {
        goto nomem;
    }
    return 0;

nomem:
    out->len = start;
    return -1;

malformed:
    out->len = start;
    return -2;
}
