/*
 * The enrichment stage: geo (libmaxminddb), user agent (uap-core, cached),
 * referrer, UTM, and what is stored of the IP address.  Loaded at start,
 * reloaded on SIGHUP.
 */
#ifndef PX_ENRICH_H
#define PX_ENRICH_H

#include <stddef.h>

#include "config.h"
#include "event_row.h"
#include "geo.h"
#include "ua_cache.h"
#include "ua_regexes.h"

typedef struct {
    px_geo_t       *geo;            /* NULL: no database configured */
    px_ua_db_t     *ua_db;
    px_ua_cache_t  *ua_cache;
    px_ip_mode_t    ip_mode;
} px_enrich_t;

/* Open the databases the configuration names.  A configured but corrupt
 * or missing file is an error; no geo database at all is only a warning.
 * 0, or -1 with the reason in err. */
int px_enrich_open(px_enrich_t *e, const px_config_t *cfg, char *err,
    size_t errlen);

/* Load everything anew; on failure the old data stays in use. */
int px_enrich_reload(px_enrich_t *e, const px_config_t *cfg, char *err,
    size_t errlen);

void px_enrich_row(px_enrich_t *e, px_event_row_t *row);

void px_enrich_close(px_enrich_t *e);

/* Find the City and ASN databases of a directory (see docs/worker.md for
 * the names tried).  Empty strings when none is there. */
void px_enrich_find_geoip(const char *dir, char *city, char *asn,
    size_t len);

#endif
