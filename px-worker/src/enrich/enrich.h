/*
 * The enrichment stage: the event-time policy (event_time.h), geo
 * (libmaxminddb), user agent (uap-core, cached), referrer, UTM, and what is
 * stored of the IP address.  Loaded at start,
 * reloaded on SIGHUP; the geo databases also when their files change
 * (px_enrich_geo_refresh, every PX_GEOIP_WATCH seconds).
 */
#ifndef PX_ENRICH_H
#define PX_ENRICH_H

#include <stddef.h>

#include "config.h"
#include "event_row.h"
#include "geo.h"
#include "geoip_files.h"
#include "ua_cache.h"
#include "ua_regexes.h"

typedef struct {
    px_geo_t          *geo;         /* NULL: no database configured */
    px_geoip_files_t   geo_files;   /* what geo was opened (or tried) from */
    px_ua_db_t        *ua_db;
    px_ua_cache_t     *ua_cache;
    px_ip_mode_t       ip_mode;
    int64_t            max_age_ms;  /* the event-time policy (event_time.h) */
    int64_t            max_skew_ms;
} px_enrich_t;

/* Open the databases the configuration names.  A configured but corrupt
 * or missing file is an error; no geo database at all is only a warning.
 * 0, or -1 with the reason in err. */
int px_enrich_open(px_enrich_t *e, const px_config_t *cfg, char *err,
    size_t errlen);

/* Load everything anew; on failure the old data stays in use. */
int px_enrich_reload(px_enrich_t *e, const px_config_t *cfg, char *err,
    size_t errlen);

/* Reopen the geo databases when the files the settings name changed on
 * disk (replaced, rewritten, added) since they were opened or last tried.
 * 1: reopened; 0: unchanged; -1: changed but not usable (the reason in
 * err; the old databases stay in use, and the files are tried again only
 * when they change again).  All databases gone keeps the old ones. */
int px_enrich_geo_refresh(px_enrich_t *e, const px_config_t *cfg,
    char *err, size_t errlen);

void px_enrich_row(px_enrich_t *e, px_event_row_t *row);

void px_enrich_close(px_enrich_t *e);

#endif
