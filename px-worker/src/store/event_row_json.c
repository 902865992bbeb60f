/*
 * A row as one JSONEachRow line of px.events (docs/clickhouse.md).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "event_row.h"

/*
 * Writing.  Member names are literals of known length, with their comma;
 * numbers are formatted here (no snprintf but for the coordinates).
 */

#define PX_NAME(name)  ",\"" name "\":"

static inline int
px_put(px_buf_t *out, const char *s, size_t n)
{
    if (out->cap - out->len < n && px_buf_reserve(out, n) != 0) {
        return -1;
    }

    memcpy(out->data + out->len, s, n);
    out->len += n;
    return 0;
}

#define PX_PUT_NAME(out, name) \
    px_put(out, PX_NAME(name), sizeof(PX_NAME(name)) - 1)

static int
px_put_value(px_buf_t *out, const char *value)
{
    if (value == NULL || value[0] == '\0') {
        return px_put(out, "\"\"", 2);
    }

    return px_buf_append_json_str(out, value, strlen(value));
}

#define PX_PUT_STR(out, name, value) \
    (PX_PUT_NAME(out, name) || px_put_value(out, value))

static int
px_put_i64(px_buf_t *out, int64_t v)
{
    char   buf[24];
    char  *s = px_i64_digits(buf + sizeof(buf), v);

    return px_put(out, s, (size_t) (buf + sizeof(buf) - s));
}

#define PX_PUT_INT(out, name, value) \
    (PX_PUT_NAME(out, name) || px_put_i64(out, value))

/* ",\"name\":%.6f" within 63 bytes */
static int
px_put_double(px_buf_t *out, const char *member, size_t mlen, double v)
{
    char  tmp[64];
    int   n;

    if (v == 0.0 && !signbit(v)) {
        return px_put(out, member, mlen) || px_put(out, "0.000000", 8);
    }

    memcpy(tmp, member, mlen);
    n = snprintf(tmp + mlen, sizeof(tmp) - mlen, "%.6f", v);
    if (n < 0) {
        return -1;
    }
    return px_put(out, tmp, strlen(tmp));
}

#define PX_PUT_DOUBLE(out, name, value) \
    px_put_double(out, PX_NAME(name), sizeof(PX_NAME(name)) - 1, value)

/* "a", "a.b" or "a.b.c" of a version's parts, as given. */
static int
px_put_version(px_buf_t *out, const char *a, const char *b, const char *c)
{
    char    v[PX_UA_VERSION_STR_LEN];
    size_t  n;

    n = px_ua_version_str(v, a, b, c);
    return px_buf_append_json_str(out, v, n);
}

int
px_event_row_json(const px_event_row_t *row, int64_t inserted_s,
    px_buf_t *out)
{
    const px_ua_t *ua = &row->ua;
    size_t         start = out->len;

    /* a line is ~1.7 KB: grow once, not member by member (a hint: each
     * member still checks its room) */
    (void) px_buf_reserve(out, 2048 + row->msg.properties_len
                               + row->msg.context_len);

    if (px_put(out, "{\"project_id\":", 14)
        || px_put_value(out, row->msg.project_id)
        || PX_PUT_STR(out, "event_id", row->msg.event_id)
        || PX_PUT_STR(out, "event", row->msg.event)
        || PX_PUT_STR(out, "anonymous_id", row->msg.anonymous_id)
        || PX_PUT_STR(out, "user_id", row->msg.user_id)
        || PX_PUT_STR(out, "session_id", row->session_id)
        || PX_PUT_INT(out, "session_seq", row->session_seq)
        || PX_PUT_INT(out, "timestamp", row->msg.ts_ms / 1000)
        || PX_PUT_INT(out, "timestamp_ms", row->msg.ts_ms)
        || PX_PUT_INT(out, "client_timestamp_ms", row->msg.client_ts_ms)
        || PX_PUT_INT(out, "received_at", row->msg.received_ms / 1000)
        || PX_PUT_INT(out, "received_at_ms", row->msg.received_ms)
        || PX_PUT_NAME(out, "properties")
        || (row->msg.properties != NULL
            ? px_put(out, row->msg.properties, row->msg.properties_len)
            : px_put(out, "\"{}\"", 4))
        || PX_PUT_NAME(out, "context")
        || (row->msg.context != NULL
            ? px_put(out, row->msg.context, row->msg.context_len)
            : px_put(out, "\"{}\"", 4))
        || PX_PUT_STR(out, "page_url", row->msg.page_url)
        || PX_PUT_STR(out, "page_path", row->msg.page_path)
        || PX_PUT_STR(out, "page_title", row->msg.page_title)
        || PX_PUT_STR(out, "referrer", row->msg.referrer)
        || PX_PUT_STR(out, "referrer_domain", row->ref.domain)
        || PX_PUT_STR(out, "referrer_type",
                      px_referrer_type_name(row->ref.type))
        || PX_PUT_STR(out, "utm_source", row->utm.source)
        || PX_PUT_STR(out, "utm_medium", row->utm.medium)
        || PX_PUT_STR(out, "utm_campaign", row->utm.campaign)
        || PX_PUT_STR(out, "utm_term", row->utm.term)
        || PX_PUT_STR(out, "utm_content", row->utm.content)
        || PX_PUT_STR(out, "click_id_type", row->utm.click_id_type)
        || PX_PUT_STR(out, "click_id", row->utm.click_id)
        || PX_PUT_STR(out, "ip", row->ip_stored)
        || PX_PUT_STR(out, "country", row->geo.loc.country_iso)
        || PX_PUT_STR(out, "country_name", row->geo.loc.country_name)
        || PX_PUT_STR(out, "region", row->geo.loc.region_iso)
        || PX_PUT_STR(out, "region_name", row->geo.loc.region_name)
        || PX_PUT_STR(out, "city", row->geo.loc.city)
        || PX_PUT_DOUBLE(out, "latitude", row->geo.loc.latitude)
        || PX_PUT_DOUBLE(out, "longitude", row->geo.loc.longitude)
        || PX_PUT_STR(out, "time_zone", row->geo.loc.time_zone)
        || PX_PUT_INT(out, "asn", row->geo.as.number)
        || PX_PUT_STR(out, "as_org", row->geo.as.org)
        || PX_PUT_STR(out, "user_agent", row->msg.user_agent)
        || PX_PUT_STR(out, "browser", ua->browser.family)
        || PX_PUT_NAME(out, "browser_version")
        || px_put_version(out, ua->browser.major, ua->browser.minor,
                          ua->browser.patch)
        || PX_PUT_STR(out, "os", ua->os.family)
        || PX_PUT_NAME(out, "os_version")
        || px_put_version(out, ua->os.major, ua->os.minor, ua->os.patch)
        || PX_PUT_STR(out, "device_type",
                      px_ua_device_type_name(ua->device_type))
        || PX_PUT_STR(out, "device_brand", ua->device.brand)
        || PX_PUT_STR(out, "device_model", ua->device.model)
        || PX_PUT_INT(out, "is_bot", ua->is_bot ? 1 : 0)
        || PX_PUT_STR(out, "locale", row->msg.locale)
        || PX_PUT_STR(out, "screen", row->msg.screen)
        || PX_PUT_STR(out, "library", row->msg.library)
        || PX_PUT_STR(out, "library_version", row->msg.library_version)
        || PX_PUT_INT(out, "schema_version", row->msg.schema_version)
        || PX_PUT_INT(out, "inserted_at", inserted_s)
        || PX_PUT_INT(out, "session_first_ms", row->session_first_ms)
        || px_put(out, "}\n", 2))
    {
        out->len = start;
        return -1;
    }

    return 0;
}
