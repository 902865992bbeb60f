#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "geoip_files.h"

/* Tried in this order: production names first, then MaxMind's test data. */
static const char  *px_city_names[] = {
    "GeoIP2-City.mmdb", "GeoLite2-City.mmdb",
    "GeoIP2-City-Test.mmdb", "GeoLite2-City-Test.mmdb", NULL
};

static const char  *px_asn_names[] = {
    "GeoLite2-ASN.mmdb", "GeoIP2-ASN.mmdb", "GeoLite2-ASN-Test.mmdb", NULL
};

static void
px_find_first(const char *dir, const char **names, char *out, size_t len)
{
    size_t  i;

    for (i = 0; names[i] != NULL; i++) {
        snprintf(out, len, "%s/%s", dir, names[i]);
        if (access(out, R_OK) == 0) {
            return;
        }
    }

    out[0] = '\0';
}

/* The file `set` names, else the first of `names` found in `dir`. */
static void
px_geoip_file_find(const char *set, const char *dir, const char **names,
    px_geoip_file_t *f)
{
    struct stat  st;

    memset(f, 0, sizeof(*f));

    if (set[0] != '\0') {
        snprintf(f->path, sizeof(f->path), "%s", set);

    } else if (dir[0] != '\0') {
        px_find_first(dir, names, f->path, sizeof(f->path));
    }

    if (f->path[0] != '\0' && stat(f->path, &st) == 0) {
        f->present = true;
        f->dev = (uint64_t) st.st_dev;
        f->ino = (uint64_t) st.st_ino;
        f->size = (int64_t) st.st_size;
        f->mtime_ns = (int64_t) st.st_mtim.tv_sec * 1000000000
                      + st.st_mtim.tv_nsec;
    }
}

void
px_geoip_files_find(const px_config_t *cfg, px_geoip_files_t *out)
{
    px_geoip_file_find(cfg->geoip_city, cfg->geoip_dir, px_city_names,
                       &out->city);
    px_geoip_file_find(cfg->geoip_asn, cfg->geoip_dir, px_asn_names,
                       &out->asn);
}

bool
px_geoip_files_none(const px_geoip_files_t *f)
{
    return f->city.path[0] == '\0' && f->asn.path[0] == '\0';
}

static bool
px_geoip_file_same(const px_geoip_file_t *a, const px_geoip_file_t *b)
{
    return strcmp(a->path, b->path) == 0 && a->present == b->present
           && a->dev == b->dev && a->ino == b->ino && a->size == b->size
           && a->mtime_ns == b->mtime_ns;
}

bool
px_geoip_files_same(const px_geoip_files_t *a, const px_geoip_files_t *b)
{
    return px_geoip_file_same(&a->city, &b->city)
           && px_geoip_file_same(&a->asn, &b->asn);
}
