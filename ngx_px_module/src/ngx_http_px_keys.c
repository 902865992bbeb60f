#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "ngx_http_px_keys.h"

#define NGX_HTTP_PX_KEYS_MAX_FILE  (16 * 1024 * 1024)
#define NGX_HTTP_PX_KEYS_MAX_WORDS 64

static ngx_int_t ngx_http_px_keys_line(ngx_conf_t *cf,
    ngx_http_px_keys_t *keys, ngx_str_t *words, ngx_uint_t n);
static ngx_int_t ngx_http_px_keys_read(ngx_conf_t *cf, ngx_str_t *file,
    ngx_str_t *text);
static ngx_int_t ngx_http_px_keys_cmp(const void *a, const void *b);
static char *ngx_http_px_keys_check_unique(ngx_conf_t *cf,
    ngx_http_px_keys_t *keys);

char *
ngx_http_px_keys_load(ngx_conf_t *cf, ngx_http_px_keys_t *keys)
{
    u_char     *p, *end, *eol;
    ngx_str_t   text, words[NGX_HTTP_PX_KEYS_MAX_WORDS];
    ngx_uint_t  line, n;

    if (ngx_array_init(&keys->keys, cf->pool, 8, sizeof(ngx_http_px_key_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_px_keys_read(cf, &keys->file, &text) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    p = text.data;
    end = text.data + text.len;

    for (line = 1; p < end; line++, p = eol + 1) {
        eol = ngx_strlchr(p, end, '\n');
        if (eol == NULL) {
            eol = end;
        }

        n = 0;
        while (p < eol && *p != '#') {
            if (*p == ' ' || *p == '\t' || *p == '\r') {
                p++;
                continue;
            }

            if (n == NGX_HTTP_PX_KEYS_MAX_WORDS) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "too many words on line %ui of key file "
                                   "\"%V\"", line, &keys->file);
                return NGX_CONF_ERROR;
            }

            words[n].data = p;
            while (p < eol && *p != ' ' && *p != '\t' && *p != '\r'
                   && *p != '#')
            {
                p++;
            }
            words[n].len = p - words[n].data;
            n++;
        }

        if (n == 0) {
            continue;
        }

        if (n < 3) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "line %ui of key file \"%V\" must be "
                               "\"<key> <project_id> <tier> [origin ...] "
                               "[origin_required]\"",
                               line, &keys->file);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_px_keys_line(cf, keys, words, n) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid line %ui of key file \"%V\"",
                               line, &keys->file);
            return NGX_CONF_ERROR;
        }
    }

    /* sorted by digest for a binary search (thousands of keys) */
    ngx_sort(keys->keys.elts, keys->keys.nelts, sizeof(ngx_http_px_key_t),
             ngx_http_px_keys_cmp);

    return ngx_http_px_keys_check_unique(cf, keys);
}

static ngx_int_t
ngx_http_px_keys_cmp(const void *a, const void *b)
{
    return ngx_memcmp(((const ngx_http_px_key_t *) a)->digest,
                      ((const ngx_http_px_key_t *) b)->digest,
                      NGX_HTTP_PX_KEY_DIGEST_LEN);
}

static char *
ngx_http_px_keys_check_unique(ngx_conf_t *cf, ngx_http_px_keys_t *keys)
{
    ngx_uint_t          i;
    ngx_http_px_key_t  *k = keys->keys.elts;

    for (i = 1; i < keys->keys.nelts; i++) {
        if (ngx_http_px_keys_cmp(&k[i - 1], &k[i]) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "key %*s appears twice in key file \"%V\"",
                               (size_t) NGX_HTTP_PX_KEY_ID_LEN, k[i].id,
                               &keys->file);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}

static ngx_int_t
ngx_http_px_keys_read(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *text)
{
    ssize_t          n;
    ngx_int_t        rc;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = *name;
    file.log = cf->log;

    file.fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", name);
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", name);
        goto done;
    }

    if (ngx_file_size(&fi) > NGX_HTTP_PX_KEYS_MAX_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key file \"%V\" is larger than 16m", name);
        goto done;
    }

    text->len = (size_t) ngx_file_size(&fi);
    text->data = ngx_pnalloc(cf->temp_pool, text->len + 1);
    if (text->data == NULL) {
        goto done;
    }

    n = ngx_read_file(&file, text->data, text->len, 0);
    if (n == NGX_ERROR || (size_t) n != text->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "could not read key file \"%V\"", name);
        goto done;
    }

    rc = NGX_OK;

done:

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", name);
    }

    return rc;
}

static ngx_int_t
ngx_http_px_keys_line(ngx_conf_t *cf, ngx_http_px_keys_t *keys,
    ngx_str_t *words, ngx_uint_t n)
{
    ngx_uint_t          i;
    ngx_str_t          *origin;
    ngx_http_px_key_t  *k;

    k = ngx_array_push(&keys->keys);
    if (k == NULL) {
        return NGX_ERROR;
    }
    ngx_memzero(k, sizeof(ngx_http_px_key_t));

    SHA256(words[0].data, words[0].len, k->digest);
    ngx_hex_dump(k->id, k->digest, NGX_HTTP_PX_KEY_ID_LEN / 2);

    k->project.data = ngx_pstrdup(cf->pool, &words[1]);
    k->project.len = words[1].len;
    k->tier.data = ngx_pstrdup(cf->pool, &words[2]);
    k->tier.len = words[2].len;

    if (k->project.data == NULL || k->tier.data == NULL
        || ngx_array_init(&k->origins, cf->pool, n > 3 ? n - 3 : 1,
                          sizeof(ngx_str_t)) != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 3; i < n; i++) {
        /* a flag among the origins: no Origin header is an origin */
        if (words[i].len == sizeof("origin_required") - 1
            && ngx_strncmp(words[i].data, "origin_required", words[i].len)
               == 0)
        {
            k->origin_required = 1;
            continue;
        }

        origin = ngx_array_push(&k->origins);
        if (origin == NULL) {
            return NGX_ERROR;
        }
        origin->len = words[i].len;
        origin->data = ngx_pstrdup(cf->pool, &words[i]);
        if (origin->data == NULL) {
            return NGX_ERROR;
        }
    }

    /* without origins the key is a server's, which sends no Origin */
    if (k->origin_required && k->origins.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "origin_required needs at least one origin "
                           "(\"*\" for any)");
        return NGX_ERROR;
    }

    return NGX_OK;
}

/*
 * Binary search over the sorted digests.  What it compares are SHA-256
 * digests, not keys: their timing tells nothing that helps find a key.
 * The last comparison, the one that decides, is constant-time.
 */
ngx_http_px_key_t *
ngx_http_px_keys_find(ngx_http_px_keys_t *keys, ngx_str_t *key)
{
    u_char              digest[NGX_HTTP_PX_KEY_DIGEST_LEN];
    ngx_int_t           c;
    ngx_uint_t          lo, hi, mid;
    ngx_http_px_key_t  *k;

    if (keys == NULL || key->len == 0 || keys->keys.nelts == 0) {
        return NULL;
    }

    SHA256(key->data, key->len, digest);

    k = keys->keys.elts;
    lo = 0;
    hi = keys->keys.nelts - 1;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        c = ngx_memcmp(k[mid].digest, digest, sizeof(digest));
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }

    if (CRYPTO_memcmp(k[lo].digest, digest, sizeof(digest)) == 0) {
        return &k[lo];
    }

    return NULL;
}

ngx_uint_t
ngx_http_px_key_origin_allowed(ngx_http_px_key_t *k, ngx_str_t *origin)
{
    ngx_uint_t   i;
    ngx_str_t   *o;

    if (k->origins.nelts == 0) {
        return 1;
    }

    o = k->origins.elts;
    for (i = 0; i < k->origins.nelts; i++) {
        if ((o[i].len == 1 && o[i].data[0] == '*')
            || (o[i].len == origin->len
                && ngx_strncasecmp(o[i].data, origin->data, origin->len) == 0))
        {
            return 1;
        }
    }

    return 0;
}

char *
ngx_http_px_keys_resolve_tiers(ngx_conf_t *cf, ngx_http_px_keys_t *keys,
    ngx_array_t *tiers)
{
    ngx_uint_t          i;
    ngx_http_px_key_t  *k;

    if (keys == NULL || tiers == NULL) {
        return NGX_CONF_OK;
    }

    k = keys->keys.elts;
    for (i = 0; i < keys->keys.nelts; i++) {
        k[i].rate = ngx_http_px_tier_find(tiers, &k[i].tier);
        if (k[i].rate == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown tier \"%V\" for key %*s in key file "
                               "\"%V\"", &k[i].tier,
                               (size_t) NGX_HTTP_PX_KEY_ID_LEN, k[i].id,
                               &keys->file);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}
