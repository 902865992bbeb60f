#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "enrich.h"
#include "event_time.h"
#include "geoip_files.h"
#include "log.h"

/* Open the geo databases of `files` into *geo (NULL when none is named). */
static int
px_enrich_open_geo(const px_geoip_files_t *files, px_geo_t **geo, char *err,
    size_t errlen)
{
    *geo = NULL;

    if (px_geoip_files_none(files)) {
        px_log(PX_LOG_WARN, "enrich", "no GeoIP database configured "
               "(PX_GEOIP_DIR): geo columns stay empty");
        return 0;
    }

    if (px_geo_open(geo, files->city.path, files->asn.path, err, errlen)
        != 0)
    {
        return -1;
    }

    px_log(PX_LOG_INFO, "enrich", "geo: city=%s asn=%s",
           files->city.path[0] ? files->city.path : "-",
           files->asn.path[0] ? files->asn.path : "-");
    return 0;
}

int
px_enrich_open(px_enrich_t *e, const px_config_t *cfg, char *err,
    size_t errlen)
{
    memset(e, 0, sizeof(*e));
    e->ip_mode = cfg->ip_mode;
    e->max_age_ms = (int64_t) cfg->max_event_age_s * 1000;
    e->max_skew_ms = (int64_t) cfg->max_event_skew_s * 1000;

    px_geoip_files_find(cfg, &e->geo_files);
    if (px_enrich_open_geo(&e->geo_files, &e->geo, err, errlen) != 0) {
        return -1;
    }

    if (px_ua_db_load(cfg->uap_regexes, px_ua_db_env_flags(), &e->ua_db,
                      err, errlen) != 0
        || px_ua_cache_create(e->ua_db, (size_t) cfg->ua_cache_size,
                              &e->ua_cache, err, errlen) != 0)
    {
        px_enrich_close(e);
        return -1;
    }

    px_log(PX_LOG_INFO, "enrich", "user agents: %zu rules from %s",
           px_ua_db_rules(e->ua_db), cfg->uap_regexes);
    return 0;
}

int
px_enrich_geo_refresh(px_enrich_t *e, const px_config_t *cfg, char *err,
    size_t errlen)
{
    px_geoip_files_t  now;
    px_geo_t         *geo;

    px_geoip_files_find(cfg, &now);
    if (px_geoip_files_same(&now, &e->geo_files)) {
        return 0;
    }

    /* what was tried is remembered either way: a file that cannot be
     * opened is tried again when it changes again, not at every check */
    e->geo_files = now;

    if (px_geoip_files_none(&now) && e->geo != NULL) {
        snprintf(err, errlen, "no GeoIP database found any more "
                 "(PX_GEOIP_DIR %s)", cfg->geoip_dir);
        return -1;
    }

    if (px_enrich_open_geo(&now, &geo, err, errlen) != 0) {
        return -1;
    }

    if (e->geo != NULL) {
        px_geo_close(e->geo);
    }
    e->geo = geo;
    return 1;
}

int
px_enrich_reload(px_enrich_t *e, const px_config_t *cfg, char *err,
    size_t errlen)
{
    px_enrich_t  fresh;

    if (px_enrich_open(&fresh, cfg, err, errlen) != 0) {
        return -1;
    }

    px_enrich_close(e);
    *e = fresh;
    return 0;
}

static void
px_copy(char *dst, size_t len, const char *src)
{
    if (src != NULL) {
        snprintf(dst, len, "%s", src);
    }
}

/*
 * The SDK also sends the page's UTM parameters as context.campaign
 * ({source, medium, name, term, content}) and its click ids as
 * context.click_ids, so they survive a page URL stripped of its query.
 */
static void
px_enrich_campaign(px_event_row_t *row)
{
    px_utm_t *u = &row->utm;

    if (row->msg.has_campaign && u->source[0] == '\0' && u->medium[0] == '\0'
        && u->campaign[0] == '\0')
    {
        px_copy(u->source, sizeof(u->source), row->msg.campaign_source);
        px_copy(u->medium, sizeof(u->medium), row->msg.campaign_medium);
        px_copy(u->campaign, sizeof(u->campaign), row->msg.campaign_name);
        px_copy(u->term, sizeof(u->term), row->msg.campaign_term);
        px_copy(u->content, sizeof(u->content), row->msg.campaign_content);
    }

    /* the row holds the first member of context.click_ids that is a
     * non-empty string */
    if (row->msg.click_id != NULL && u->click_id[0] == '\0') {
        px_copy(u->click_id_type, sizeof(u->click_id_type),
                row->msg.click_id_type);
        px_copy(u->click_id, sizeof(u->click_id), row->msg.click_id);
    }
}

void
px_enrich_row(px_enrich_t *e, px_event_row_t *row)
{
    const char  *ua = row->msg.user_agent != NULL ? row->msg.user_agent : "";
    const char  *ip = row->msg.ip != NULL ? row->msg.ip : "";

    (void) px_event_time_clamp(row, e->max_age_ms, e->max_skew_ms);

    if (e->geo != NULL && ip[0] != '\0') {
        (void) px_geo_lookup(e->geo, ip, &row->geo);
    }

    switch (e->ip_mode) {
    case PX_IP_FULL:
        snprintf(row->ip_stored, sizeof(row->ip_stored), "%s", ip);
        break;
    case PX_IP_ANONYMIZE:
        (void) px_ip_anon(ip, row->ip_stored, sizeof(row->ip_stored));
        break;
    case PX_IP_DROP:
        row->ip_stored[0] = '\0';
        break;
    }

    (void) px_ua_cache_parse(e->ua_cache, ua, strlen(ua), &row->ua);

    px_referrer_classify(row->msg.referrer != NULL ? row->msg.referrer : "",
                         row->msg.page_url != NULL ? row->msg.page_url : "",
                         &row->ref);

    (void) px_utm_parse(row->msg.page_url != NULL ? row->msg.page_url : "",
                        &row->utm);
    px_enrich_campaign(row);
}

void
px_enrich_close(px_enrich_t *e)
{
    px_ua_cache_free(e->ua_cache);
    px_ua_db_free(e->ua_db);
    if (e->geo != NULL) {
        px_geo_close(e->geo);
    }
    memset(e, 0, sizeof(*e));
}
