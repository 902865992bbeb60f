/*
 * API keys, read from the file named by px_keys at start and on reload.
 * File lines: "<key> <project_id> <tier> [origin ...] [origin_required]";
 * '#' starts a comment.  Keys are held only as SHA-256 digests (sorted), the deciding
 * comparison is constant-time, and logs name a key by a short key id (the
 * digest's first 8 hex).  A key given twice is an error.
 */
#ifndef NGX_HTTP_PX_KEYS_H
#define NGX_HTTP_PX_KEYS_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_px_module.h"
#include "ngx_http_px_limit.h"

/* The keys of the px_keys file (ngx_http_px_keys.c). */
typedef struct ngx_http_px_keys_s  ngx_http_px_keys_t;

#define NGX_HTTP_PX_KEY_DIGEST_LEN  32
#define NGX_HTTP_PX_KEY_ID_LEN      8

struct ngx_http_px_key_s {
    u_char       digest[NGX_HTTP_PX_KEY_DIGEST_LEN];
    u_char       id[NGX_HTTP_PX_KEY_ID_LEN];
    ngx_str_t    project;
    ngx_str_t    tier;
    ngx_http_px_tier_t  *rate;      /* tier resolved; NULL: unlimited */
    ngx_array_t  origins;           /* of ngx_str_t; empty: any */
    ngx_uint_t   origin_required;   /* refuse requests without Origin */
};

struct ngx_http_px_keys_s {
    ngx_str_t    file;
    ngx_array_t  keys;              /* of ngx_http_px_key_t */
};

/* Read the key file at configuration time; errors name the file and line
 * (nginx -t shows them).  Returns NGX_CONF_OK or NGX_CONF_ERROR. */
char *ngx_http_px_keys_load(ngx_conf_t *cf, ngx_http_px_keys_t *keys);

/* Resolve every key's tier against the px_tier list (after the whole
 * configuration is read).  An unknown tier is an error when tiers are
 * configured; without any px_tier, keys are unlimited. */
char *ngx_http_px_keys_resolve_tiers(ngx_conf_t *cf, ngx_http_px_keys_t *keys,
    ngx_array_t *tiers);

/* The entry of a presented key, or NULL (binary search over the sorted
 * digests; the deciding comparison is constant-time). */
ngx_http_px_key_t *ngx_http_px_keys_find(ngx_http_px_keys_t *keys,
    ngx_str_t *key);

/* 1 when origin may send with this key (no origins listed: any).  A key
 * without origins is a server's key: it is refused in a query string. */
ngx_uint_t ngx_http_px_key_origin_allowed(ngx_http_px_key_t *k,
    ngx_str_t *origin);

#endif
