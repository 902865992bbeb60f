#include <stdio.h>
#include <string.h>

#include "event_row.h"
#include "json_tree.h"
#include "px_time.h"
#include "px_uuid.h"

static int64_t
px_row_time(yajl_val tree, const char *key)
{
    const char  *s = px_json_str(tree, key);
    int64_t      ms;

    if (s == NULL || px_time_parse_iso(s, strlen(s), &ms) != 0) {
        return -1;
    }

    return ms;
}

static const char *
px_or_empty(const char *s)
{
    return s != NULL ? s : "";
}

/* context.screen {width, height} -> "WxH" */
static void
px_row_screen(px_event_row_t *row)
{
    const char  *wp[] = { "width", NULL }, *hp[] = { "height", NULL };
    yajl_val     screen, w, h;

    row->screen[0] = '\0';
    screen = px_json_obj(row->context, "screen");
    if (screen == NULL) {
        return;
    }

    w = yajl_tree_get(screen, wp, yajl_t_number);
    h = yajl_tree_get(screen, hp, yajl_t_number);
    if (w != NULL && h != NULL && YAJL_IS_INTEGER(w) && YAJL_IS_INTEGER(h)) {
        snprintf(row->screen, sizeof(row->screen), "%lldx%lld",
                 YAJL_GET_INTEGER(w), YAJL_GET_INTEGER(h));
    }
}

int
px_event_row_parse(px_event_row_t *row, const char *msg, size_t len,
    char *err, size_t errlen)
{
    const char  *vp[] = { "schema_version", NULL };
    yajl_val     tree, page, lib, ver;

    memset(row, 0, sizeof(*row));
    err[0] = '\0';

    tree = px_json_parse(msg, len, err, errlen);
    if (tree == NULL) {
        return -1;
    }
    row->tree = tree;

    if (!YAJL_IS_OBJECT(tree)) {
        snprintf(err, errlen, "message is not a JSON object");
        return -1;
    }

    row->project_id = px_json_str(tree, "project_id");
    row->event_id = px_json_str(tree, "event_id");
    row->event = px_json_str(tree, "event");
    row->ts_ms = px_row_time(tree, "timestamp");
    row->received_ms = px_row_time(tree, "received_at");

    if (row->project_id == NULL || row->project_id[0] == '\0') {
        snprintf(err, errlen, "missing project_id");
        return -1;
    }
    if (row->event_id == NULL
        || !px_uuid_valid(row->event_id, strlen(row->event_id)))
    {
        snprintf(err, errlen, "missing or invalid event_id");
        return -1;
    }
    if (row->event == NULL || row->event[0] == '\0') {
        snprintf(err, errlen, "missing event name");
        return -1;
    }
    if (row->ts_ms < 0 || row->received_ms < 0) {
        snprintf(err, errlen, "missing or invalid timestamp/received_at");
        return -1;
    }

    row->client_ts_ms = px_row_time(tree, "client_timestamp");
    if (row->client_ts_ms < 0) {
        row->client_ts_ms = 0;
    }

    ver = yajl_tree_get(tree, vp, yajl_t_number);
    row->schema_version = ver != NULL && YAJL_IS_INTEGER(ver)
                          ? (unsigned) YAJL_GET_INTEGER(ver) : 0;

    row->anonymous_id = px_json_str(tree, "anonymous_id");
    row->user_id = px_json_str(tree, "user_id");
    row->ip = px_json_str(tree, "ip");
    row->user_agent = px_json_str(tree, "user_agent");
    row->properties = px_json_obj(tree, "properties");
    row->context = px_json_obj(tree, "context");

    page = px_json_obj(row->context, "page");
    row->page_url = px_json_str(page, "url");
    row->page_path = px_json_str(page, "path");
    row->page_title = px_json_str(page, "title");
    row->referrer = px_json_str(page, "referrer");
    row->locale = px_json_str(row->context, "locale");

    lib = px_json_obj(row->context, "library");
    row->library = px_json_str(lib, "name");
    row->library_version = px_json_str(lib, "version");

    px_row_screen(row);
    return 0;
}

void
px_event_row_free(px_event_row_t *row)
{
    if (row->tree != NULL) {
        yajl_tree_free(row->tree);
        row->tree = NULL;
    }
}

int
px_event_row_visitor(const px_event_row_t *row, px_buf_t *out)
{
    const char  *who;

    who = row->anonymous_id != NULL && row->anonymous_id[0] != '\0'
          ? row->anonymous_id
          : (row->user_id != NULL && row->user_id[0] != '\0'
             ? row->user_id : row->event_id);

    return px_buf_append_str(out, row->project_id)
           || px_buf_append(out, "/", 1)
           || px_buf_append_str(out, who);
}

/* "name": "value" members, the comma first */
static int
px_put_str(px_buf_t *out, const char *name, const char *value)
{
    value = px_or_empty(value);

    return px_buf_append(out, ",\"", 2)
           || px_buf_append_str(out, name)
           || px_buf_append(out, "\":", 2)
           || px_buf_append_json_str(out, value, strlen(value));
}

static int
px_put_int(px_buf_t *out, const char *name, int64_t value)
{
    return px_buf_append(out, ",\"", 2)
           || px_buf_append_str(out, name)
           || px_buf_append(out, "\":", 2)
           || px_buf_append_i64(out, value);
}

/* A JSON column holds the text of the object, as a string. */
static int
px_put_json(px_buf_t *out, const char *name, yajl_val v)
{
    int       rc;
    size_t    start;
    px_buf_t  tmp;

    px_buf_init(&tmp, NULL, 0);
    rc = v != NULL ? px_json_write(&tmp, v) : px_buf_append_str(&tmp, "{}");
    start = out->len;

    if (rc != 0
        || px_buf_append(out, ",\"", 2)
        || px_buf_append_str(out, name)
        || px_buf_append(out, "\":", 2)
        || px_buf_append_json_str(out, tmp.data, tmp.len))
    {
        out->len = start;
        px_buf_free(&tmp);
        return -1;
    }

    px_buf_free(&tmp);
    return 0;
}

static int
px_put_double(px_buf_t *out, const char *name, double v)
{
    char  tmp[64];

    snprintf(tmp, sizeof(tmp), ",\"%s\":%.6f", name, v);
    return px_buf_append_str(out, tmp);
}

static int
px_join_version(char *dst, size_t len, const char *a, const char *b,
    const char *c)
{
    if (a[0] == '\0') {
        dst[0] = '\0';
    } else if (b[0] == '\0') {
        snprintf(dst, len, "%s", a);
    } else if (c[0] == '\0') {
        snprintf(dst, len, "%s.%s", a, b);
    } else {
        snprintf(dst, len, "%s.%s.%s", a, b, c);
    }

    return 0;
}

static const char *
px_device_type_name(px_ua_device_type_t t)
{
    static const char  *names[] = {
        "other", "desktop", "mobile", "tablet", "bot"
    };

    return names[t];
}

int
px_event_row_json(const px_event_row_t *row, int64_t inserted_s,
    px_buf_t *out)
{
    char           bv[3 * PX_UA_VERSION_LEN + 3], ov[3 * PX_UA_VERSION_LEN + 3];
    const px_ua_t *ua = &row->ua;

    px_join_version(bv, sizeof(bv), ua->browser.major, ua->browser.minor,
                    ua->browser.patch);
    px_join_version(ov, sizeof(ov), ua->os.major, ua->os.minor,
                    ua->os.patch);

    if (px_buf_append_str(out, "{\"project_id\":")
        || px_buf_append_json_str(out, row->project_id,
                                  strlen(row->project_id))
        || px_put_str(out, "event_id", row->event_id)
        || px_put_str(out, "event", row->event)
        || px_put_str(out, "anonymous_id", row->anonymous_id)
        || px_put_str(out, "user_id", row->user_id)
        || px_put_str(out, "session_id", row->session_id)
        || px_put_int(out, "session_seq", row->session_seq)
        || px_put_int(out, "timestamp", row->ts_ms / 1000)
        || px_put_int(out, "timestamp_ms", row->ts_ms)
        || px_put_int(out, "client_timestamp_ms", row->client_ts_ms)
        || px_put_int(out, "received_at", row->received_ms / 1000)
        || px_put_int(out, "received_at_ms", row->received_ms)
        || px_put_json(out, "properties", row->properties)
        || px_put_json(out, "context", row->context)
        || px_put_str(out, "page_url", row->page_url)
        || px_put_str(out, "page_path", row->page_path)
        || px_put_str(out, "page_title", row->page_title)
        || px_put_str(out, "referrer", row->referrer)
        || px_put_str(out, "referrer_domain", row->ref.domain)
        || px_put_str(out, "referrer_type",
                      px_referrer_type_name(row->ref.type))
        || px_put_str(out, "utm_source", row->utm.source)
        || px_put_str(out, "utm_medium", row->utm.medium)
        || px_put_str(out, "utm_campaign", row->utm.campaign)
        || px_put_str(out, "utm_term", row->utm.term)
        || px_put_str(out, "utm_content", row->utm.content)
        || px_put_str(out, "click_id_type", row->utm.click_id_type)
        || px_put_str(out, "click_id", row->utm.click_id)
        || px_put_str(out, "ip", row->ip_stored)
        || px_put_str(out, "country", row->geo.loc.country_iso)
        || px_put_str(out, "country_name", row->geo.loc.country_name)
        || px_put_str(out, "region", row->geo.loc.region_iso)
        || px_put_str(out, "region_name", row->geo.loc.region_name)
        || px_put_str(out, "city", row->geo.loc.city)
        || px_put_double(out, "latitude", row->geo.loc.latitude)
        || px_put_double(out, "longitude", row->geo.loc.longitude)
        || px_put_str(out, "time_zone", row->geo.loc.time_zone)
        || px_put_int(out, "asn", row->geo.as.number)
        || px_put_str(out, "as_org", row->geo.as.org)
        || px_put_str(out, "user_agent", row->user_agent)
        || px_put_str(out, "browser", ua->browser.family)
        || px_put_str(out, "browser_version", bv)
        || px_put_str(out, "os", ua->os.family)
        || px_put_str(out, "os_version", ov)
        || px_put_str(out, "device_type", px_device_type_name(ua->device_type))
        || px_put_str(out, "device_brand", ua->device.brand)
        || px_put_str(out, "device_model", ua->device.model)
        || px_put_int(out, "is_bot", ua->is_bot ? 1 : 0)
        || px_put_str(out, "locale", row->locale)
        || px_put_str(out, "screen", row->screen)
        || px_put_str(out, "library", row->library)
        || px_put_str(out, "library_version", row->library_version)
        || px_put_int(out, "schema_version", row->schema_version)
        || px_put_int(out, "inserted_at", inserted_s)
        || px_buf_append(out, "}\n", 2))
    {
        return -1;
    }

    return 0;
}
