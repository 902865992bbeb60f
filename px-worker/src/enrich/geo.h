/*
 * geo: country, region, city, location, time zone and autonomous system of
 * an IP address, from MaxMind DB files (libmaxminddb): a City database
 * (GeoIP2/GeoLite2 City or Enterprise) and an ASN database (GeoLite2 ASN or
 * GeoIP2 ISP). Either may be left out; its fields then stay empty.
 *
 * A px_geo_t is read-only after px_geo_open(): any number of threads may
 * call px_geo_lookup() on it at once. Reloading (SIGHUP) = open a new one,
 * swap, close the old one when no lookup uses it.
 */
#ifndef PX_GEO_H
#define PX_GEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PX_GEO_ISO_MAX   8     /* "GB", "ENG"; NUL included */
#define PX_GEO_NAME_MAX  128   /* English names; NUL included */
#define PX_GEO_TZ_MAX    64    /* IANA zone, "Europe/London" */
#define PX_GEO_ORG_MAX   256   /* AS organisation */

typedef struct px_geo_s px_geo_t;

/* From the City database. A string too long for its field is left empty,
 * never cut (so every field is whole, valid UTF-8 as stored by MaxMind). */
typedef struct {
    bool      found;                          /* the address had a record */
    char      country_iso[PX_GEO_ISO_MAX];    /* ISO 3166-1 alpha-2 */
    char      country_name[PX_GEO_NAME_MAX];  /* names.en */
    char      region_iso[PX_GEO_ISO_MAX];     /* first subdivision iso_code */
    char      region_name[PX_GEO_NAME_MAX];   /* first subdivision names.en */
    char      city[PX_GEO_NAME_MAX];          /* names.en */
    bool      has_location;                   /* latitude/longitude are set */
    double    latitude;
    double    longitude;
    char      time_zone[PX_GEO_TZ_MAX];
} px_geo_loc_t;

/* From the ASN database. */
typedef struct {
    bool      found;
    uint32_t  number;                         /* 0: unknown */
    char      org[PX_GEO_ORG_MAX];
} px_geo_as_t;

typedef struct {
    px_geo_loc_t  loc;
    px_geo_as_t   as;
} px_geo_result_t;

/*
 * Open the databases at `city_path` and `asn_path`; NULL or "" means "not
 * configured". A file that cannot be read, is not a MaxMind DB, is of the
 * wrong kind (an ASN file given as City...) or fails a bounded check of its
 * search tree and records is refused here, with the reason in `err`.
 * Returns 0 and sets *geo, or -1 (nothing to close).
 */
int px_geo_open(px_geo_t **geo, const char *city_path, const char *asn_path,
    char *err, size_t errlen);

/* Whether a City / ASN database is open (for the "not configured" warning). */
bool px_geo_has_city(const px_geo_t *geo);
bool px_geo_has_asn(const px_geo_t *geo);

/*
 * Look up the numeric IPv4 or IPv6 address `ip` (strict inet_pton syntax; an
 * IPv4-mapped IPv6 address finds the IPv4 record). `out` is always cleared
 * first. An address with no record leaves found = false and returns 0.
 * Returns -1 when `ip` is not an address, or when a database record cannot
 * be decoded (that database's part of `out` is then left empty).
 */
int px_geo_lookup(const px_geo_t *geo, const char *ip, px_geo_result_t *out);

/* Close the databases and free `geo`. NULL is allowed. */
void px_geo_close(px_geo_t *geo);

#endif /* PX_GEO_H */
