/*
 * geo: MaxMind DB lookups for the City and ASN databases. See geo.h.
 */
#include "geo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/*
 * The open-time check walks the search tree depth-first from the root and
 * decodes every data record it meets, within these budgets, so that its cost
 * is bounded whatever the size of the file. It is a sample, not a proof: a
 * record past the budgets that is corrupt makes px_geo_lookup() return -1.
 */
#define VERIFY_MAX_NODES    (1u << 16)
#define VERIFY_MAX_RECORDS  2048u
#define VERIFY_MAX_DEPTH    128u   /* bits in an IPv6 address */

struct px_geo_s {
    MMDB_s  city;
    MMDB_s  asn;
    bool    has_city;
    bool    has_asn;
};

typedef struct {
    const char          *what;     /* "City", for messages */
    const char *const   *types;    /* accepted database_type substrings */
} db_kind_t;

static const char *const city_types[] = { "City", "Enterprise", NULL };
static const char *const asn_types[] = { "ASN", "ISP", NULL };

static const db_kind_t city_kind = { "City", city_types };
static const db_kind_t asn_kind = { "ASN", asn_types };

/* Lookup paths into a City record: the maps, then paths inside them. */
static const char *const p_country[] = { "country", NULL };
static const char *const p_region[] = { "subdivisions", "0", NULL };
static const char *const p_city[] = { "city", NULL };
static const char *const p_location[] = { "location", NULL };
static const char *const p_iso_code[] = { "iso_code", NULL };
static const char *const p_name_en[] = { "names", "en", NULL };
static const char *const p_latitude[] = { "latitude", NULL };
static const char *const p_longitude[] = { "longitude", NULL };
static const char *const p_time_zone[] = { "time_zone", NULL };

/* Lookup paths into an ASN record. */
static const char *const p_as_number[] = { "autonomous_system_number", NULL };
static const char *const p_as_org[] =
    { "autonomous_system_organization", NULL };


/* ---- open and verify ---------------------------------------------------- */

/* Decode one data record completely; 0 or an MMDB error code. */
static int
verify_record(const MMDB_s *db, const MMDB_entry_s *entry)
{
    MMDB_entry_data_list_s  *list = NULL;
    MMDB_entry_s             e = *entry;
    int                      rc;

    e.mmdb = db;
    rc = MMDB_get_entry_data_list(&e, &list);
    MMDB_free_entry_data_list(list);
    return rc;
}

/*
 * Walk the search tree within the VERIFY_* budgets, decoding each data
 * record met. Returns 0, or -1 with the reason in `err`.
 */
static int
verify_db(const MMDB_s *db, char *err, size_t errlen)
{
    struct { uint32_t node; uint32_t depth; } stack[2 * VERIFY_MAX_DEPTH + 2];
    MMDB_search_node_s  sn;
    uint32_t            top, nodes, records, side, depth;
    uint64_t            rec;
    uint8_t             type;
    int                 rc;

    top = 0;
    nodes = 0;
    records = 0;
    stack[top].node = 0;
    stack[top].depth = 0;
    top++;

    while (top > 0 && nodes < VERIFY_MAX_NODES
           && records < VERIFY_MAX_RECORDS)
    {
        top--;
        depth = stack[top].depth;
        rc = MMDB_read_node(db, stack[top].node, &sn);
        if (rc != MMDB_SUCCESS) {
            snprintf(err, errlen, "search tree node %u: %s",
                     stack[top].node, MMDB_strerror(rc));
            return -1;
        }
        nodes++;

        /* Right first so that the left (lower addresses) is walked first. */
        for (side = 0; side < 2; side++) {
            rec = side == 0 ? sn.right_record : sn.left_record;
            type = side == 0 ? sn.right_record_type : sn.left_record_type;

            switch (type) {
            case MMDB_RECORD_TYPE_SEARCH_NODE:
                if (depth + 1 >= VERIFY_MAX_DEPTH) {
                    snprintf(err, errlen, "search tree deeper than %u bits",
                             VERIFY_MAX_DEPTH);
                    return -1;
                }
                stack[top].node = (uint32_t) rec;
                stack[top].depth = depth + 1;
                top++;
                break;

            case MMDB_RECORD_TYPE_DATA:
                rc = verify_record(db, side == 0 ? &sn.right_record_entry
                                                 : &sn.left_record_entry);
                if (rc != MMDB_SUCCESS) {
                    snprintf(err, errlen, "record at data offset %u: %s",
                             (unsigned) (side == 0
                                 ? sn.right_record_entry.offset
                                 : sn.left_record_entry.offset),
                             MMDB_strerror(rc));
                    return -1;
                }
                records++;
                break;

            case MMDB_RECORD_TYPE_EMPTY:
                break;

            default:
                snprintf(err, errlen, "search tree node %u points outside "
                         "the file", stack[top].node);
                return -1;
            }
        }
    }

    return 0;
}

static bool
type_accepted(const MMDB_s *db, const db_kind_t *kind)
{
    const char *const  *t;
    const char         *have = db->metadata.database_type;

    if (have == NULL) {
        return false;
    }
    for (t = kind->types; *t != NULL; t++) {
        if (strstr(have, *t) != NULL) {
            return true;
        }
    }
    return false;
}

/* Open and check one database; -1 with "geo: <kind> database "<path>": ..." */
static int
open_db(MMDB_s *db, const char *path, const db_kind_t *kind,
    char *err, size_t errlen)
{
    char  reason[256];
    int   rc, saved_errno;

    errno = 0;
    rc = MMDB_open(path, MMDB_MODE_MMAP, db);
    if (rc != MMDB_SUCCESS) {
        saved_errno = errno;
        if ((rc == MMDB_FILE_OPEN_ERROR || rc == MMDB_IO_ERROR)
            && saved_errno != 0)
        {
            snprintf(err, errlen, "geo: %s database \"%s\": %s: %s",
                     kind->what, path, MMDB_strerror(rc),
                     strerror(saved_errno));
        } else {
            snprintf(err, errlen, "geo: %s database \"%s\": %s",
                     kind->what, path, MMDB_strerror(rc));
        }
        return -1;
    }

    if (!type_accepted(db, kind)) {
        snprintf(err, errlen, "geo: %s database \"%s\": its type \"%s\" "
                 "holds no %s data", kind->what, path,
                 db->metadata.database_type ? db->metadata.database_type : "",
                 kind->what);
        MMDB_close(db);
        return -1;
    }

    if (verify_db(db, reason, sizeof(reason)) != 0) {
        snprintf(err, errlen, "geo: %s database \"%s\" is corrupt: %s",
                 kind->what, path, reason);
        MMDB_close(db);
        return -1;
    }

    return 0;
}

static bool
configured(const char *path)
{
    return path != NULL && path[0] != '\0';
}

int
px_geo_open(px_geo_t **geo, const char *city_path, const char *asn_path,
    char *err, size_t errlen)
{
    px_geo_t  *g;

    if (geo == NULL) {
        snprintf(err, errlen, "geo: no place to put the handle");
        return -1;
    }
    *geo = NULL;

    g = calloc(1, sizeof(*g));
    if (g == NULL) {
        snprintf(err, errlen, "geo: out of memory");
        return -1;
    }

    if (configured(city_path)) {
        if (open_db(&g->city, city_path, &city_kind, err, errlen) != 0) {
            free(g);
            return -1;
        }
        g->has_city = true;
    }

    if (configured(asn_path)) {
        if (open_db(&g->asn, asn_path, &asn_kind, err, errlen) != 0) {
            px_geo_close(g);
            return -1;
        }
        g->has_asn = true;
    }

    *geo = g;
    return 0;
}

bool
px_geo_has_city(const px_geo_t *geo)
{
    return geo != NULL && geo->has_city;
}

bool
px_geo_has_asn(const px_geo_t *geo)
{
    return geo != NULL && geo->has_asn;
}

void
px_geo_close(px_geo_t *geo)
{
    if (geo == NULL) {
        return;
    }
    if (geo->has_city) {
        MMDB_close(&geo->city);
    }
    if (geo->has_asn) {
        MMDB_close(&geo->asn);
    }
    free(geo);
}


/* ---- lookup ------------------------------------------------------------- */

/*
 * Fetch `path` from `entry` into `data`. Returns 1 when it is there with
 * type `type`, 0 when absent (or of another type), -1 on a decode error.
 */
static int
get_typed(MMDB_entry_s *entry, const char *const *path, uint32_t type,
    MMDB_entry_data_s *data)
{
    int  rc;

    rc = MMDB_aget_value(entry, data, path);
    if (rc == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR) {
        return 0;
    }
    if (rc != MMDB_SUCCESS) {
        return -1;
    }
    return data->has_data && data->type == type;
}

/* Copy a string at `path` into dst[cap]; too long or absent → left "". */
static int
get_string(MMDB_entry_s *entry, const char *const *path, char *dst,
    size_t cap)
{
    MMDB_entry_data_s  d;
    int                rc;

    rc = get_typed(entry, path, MMDB_DATA_TYPE_UTF8_STRING, &d);
    if (rc <= 0) {
        return rc;
    }
    if (d.data_size < cap) {
        memcpy(dst, d.utf8_string, d.data_size);
        dst[d.data_size] = '\0';
    }
    return 0;
}

/* Store a double at `path` into *dst; 1 if set, 0 absent, -1 error. */
static int
get_double(MMDB_entry_s *entry, const char *const *path, double *dst)
{
    MMDB_entry_data_s  d;
    int                rc;

    rc = get_typed(entry, path, MMDB_DATA_TYPE_DOUBLE, &d);
    if (rc == 1) {
        *dst = d.double_value;
    }
    return rc;
}

/* Look `sa` up in `db`: 1 found (entry set), 0 not found, -1 error. */
static int
find(const MMDB_s *db, const struct sockaddr *sa, MMDB_entry_s *entry)
{
    MMDB_lookup_result_s  r;
    int                   mmdb_error = MMDB_SUCCESS;

    r = MMDB_lookup_sockaddr(db, sa, &mmdb_error);
    if (mmdb_error == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR) {
        return 0;
    }
    if (mmdb_error != MMDB_SUCCESS) {
        return -1;
    }
    if (!r.found_entry) {
        return 0;
    }
    *entry = r.entry;
    return 1;
}

/*
 * The map at `path` of `e`, as an entry of its own, so that the fields in it
 * are found without walking the record's top level again.
 * Returns 1 (sub set), 0 when absent or not a map, -1 on a decode error.
 */
static int
get_map(MMDB_entry_s *e, const char *const *path, MMDB_entry_s *sub)
{
    MMDB_entry_data_s  d;
    int                rc;

    rc = get_typed(e, path, MMDB_DATA_TYPE_MAP, &d);
    if (rc == 1) {
        sub->mmdb = e->mmdb;
        sub->offset = d.offset;
    }
    return rc;
}

/* iso_code and names.en of the map at `path` (country, subdivision). */
static int
get_place(MMDB_entry_s *e, const char *const *path, char *iso, size_t isolen,
    char *name, size_t namelen)
{
    MMDB_entry_s  m;
    int           rc;

    rc = get_map(e, path, &m);
    if (rc <= 0) {
        return rc;
    }
    if (iso != NULL && get_string(&m, p_iso_code, iso, isolen) != 0) {
        return -1;
    }
    return get_string(&m, p_name_en, name, namelen);
}

static int
get_location(MMDB_entry_s *e, px_geo_loc_t *loc)
{
    MMDB_entry_s  m;
    int           rc, lat, lon;

    rc = get_map(e, p_location, &m);
    if (rc <= 0) {
        return rc;
    }
    if (get_string(&m, p_time_zone, loc->time_zone,
                   sizeof(loc->time_zone)) != 0)
    {
        return -1;
    }
    lat = get_double(&m, p_latitude, &loc->latitude);
    lon = get_double(&m, p_longitude, &loc->longitude);
    if (lat < 0 || lon < 0) {
        return -1;
    }
    loc->has_location = lat == 1 && lon == 1;
    if (!loc->has_location) {
        loc->latitude = 0;
        loc->longitude = 0;
    }
    return 0;
}

static int
lookup_loc(const MMDB_s *db, const struct sockaddr *sa, px_geo_loc_t *loc)
{
    MMDB_entry_s  e;
    int           rc;

    rc = find(db, sa, &e);
    if (rc <= 0) {
        return rc;
    }
    loc->found = true;

    if (get_place(&e, p_country, loc->country_iso, sizeof(loc->country_iso),
                  loc->country_name, sizeof(loc->country_name)) < 0
        || get_place(&e, p_region, loc->region_iso, sizeof(loc->region_iso),
                     loc->region_name, sizeof(loc->region_name)) < 0
        || get_place(&e, p_city, NULL, 0, loc->city, sizeof(loc->city)) < 0
        || get_location(&e, loc) < 0)
    {
        return -1;
    }
    return 0;
}

static int
lookup_as(const MMDB_s *db, const struct sockaddr *sa, px_geo_as_t *as)
{
    MMDB_entry_s       e;
    MMDB_entry_data_s  d;
    int                rc;

    rc = find(db, sa, &e);
    if (rc <= 0) {
        return rc;
    }
    as->found = true;

    rc = get_typed(&e, p_as_number, MMDB_DATA_TYPE_UINT32, &d);
    if (rc < 0) {
        return -1;
    }
    if (rc == 1) {
        as->number = d.uint32;
    }
    return get_string(&e, p_as_org, as->org, sizeof(as->org));
}

/* Parse a strict numeric address into `ss`; 0 or -1. */
static int
parse_ip(const char *ip, struct sockaddr_storage *ss)
{
    struct sockaddr_in   *v4 = (struct sockaddr_in *) ss;
    struct sockaddr_in6  *v6 = (struct sockaddr_in6 *) ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        return 0;
    }
    return -1;
}

int
px_geo_lookup(const px_geo_t *geo, const char *ip, px_geo_result_t *out)
{
    struct sockaddr_storage  ss;
    const struct sockaddr   *sa = (const struct sockaddr *) &ss;
    int                      rc = 0;

    if (out == NULL) {
        return -1;
    }
    memset(out, 0, sizeof(*out));

    if (geo == NULL || ip == NULL || parse_ip(ip, &ss) != 0) {
        return -1;
    }

    if (geo->has_city && lookup_loc(&geo->city, sa, &out->loc) != 0) {
        memset(&out->loc, 0, sizeof(out->loc));
        rc = -1;
    }
    if (geo->has_asn && lookup_as(&geo->asn, sa, &out->as) != 0) {
        memset(&out->as, 0, sizeof(out->as));
        rc = -1;
    }
    return rc;
}
