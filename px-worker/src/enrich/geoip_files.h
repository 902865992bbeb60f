/*
 * Which MaxMind database files the settings name (PX_GEOIP_CITY and
 * PX_GEOIP_ASN, else the first known name found in PX_GEOIP_DIR), and what
 * each looked like on disk, so that a replaced or rewritten file is noticed
 * without a signal.  geoipupdate writes a new file and renames it over the
 * old one: the inode changes; a copy over the old file changes its size or
 * modification time.
 */
#ifndef PX_GEOIP_FILES_H
#define PX_GEOIP_FILES_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

#define PX_GEOIP_PATH_MAX  (PX_CONFIG_STR + 64)

typedef struct {
    char      path[PX_GEOIP_PATH_MAX];  /* "": none named or found */
    bool      present;                  /* path could be stat()ed */
    uint64_t  dev;
    uint64_t  ino;
    int64_t   size;
    int64_t   mtime_ns;
} px_geoip_file_t;

typedef struct {
    px_geoip_file_t  city;
    px_geoip_file_t  asn;
} px_geoip_files_t;

/* Resolve the files the settings name now and stat them. */
void px_geoip_files_find(const px_config_t *cfg, px_geoip_files_t *out);

/* Whether neither database is named or found. */
bool px_geoip_files_none(const px_geoip_files_t *f);

/* Whether a and b name the same files with the same identity, size and
 * modification time. */
bool px_geoip_files_same(const px_geoip_files_t *a,
    const px_geoip_files_t *b);

#endif
