/*
 * What a batch request says before its body is read: its key, project and
 * origin, its content type and encoding; CORS.  A key sent in the body's
 * envelope is checked once the body is parsed.
 */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "px_batch.h"
#include "ngx_http_px_conf.h"
#include "ngx_http_px_module.h"
#include "ngx_http_px_keys.h"
#include "ngx_http_px_reply.h"
#include "ngx_http_px_request.h"

static ngx_int_t ngx_http_px_request_key(ngx_http_request_t *r,
    ngx_str_t *k, ngx_uint_t in_query, ngx_http_px_key_t **key,
    ngx_http_px_error_t *err);

/*
 * The key of a request that sent none before its body: it may be the
 * envelope's "api_key" (sendBeacon cannot set headers, and a key in the
 * query string ends up in logs).  It stands in ctx->key while the body is
 * read: no tier (so no quota is checked before the body) and no project;
 * ngx_http_px_request_body_auth() replaces it once the body is parsed, and
 * nothing is produced before that.
 */
static ngx_http_px_key_t  ngx_http_px_key_in_body;

/*
 * Authorization: Basic base64("<key>:"), what Segment's and RudderStack's
 * clients send (the write key as the user name, no password): the key is
 * the user name.
 */
static ngx_int_t
ngx_http_px_request_basic(ngx_http_request_t *r, ngx_str_t *value,
    ngx_str_t *k)
{
    u_char     *colon;
    ngx_str_t   enc;

    enc.data = value->data + 6;
    enc.len = value->len - 6;
    while (enc.len > 0 && enc.data[0] == ' ') {
        enc.data++;
        enc.len--;
    }

    k->data = ngx_pnalloc(r->pool, ngx_base64_decoded_length(enc.len));
    if (k->data == NULL || ngx_decode_base64(k, &enc) != NGX_OK) {
        return NGX_ERROR;
    }

    colon = ngx_strlchr(k->data, k->data + k->len, ':');
    if (colon != NULL) {
        k->len = colon - k->data;
    }

    return NGX_OK;
}

/* Key from Authorization: Bearer (or Basic), X-PX-API-Key or ?api_key= (else,
 * perhaps, in the body); project from X-PX-Project-ID or ?project_id=
 * (else the key's own). */
ngx_int_t
ngx_http_px_request_auth(ngx_http_request_t *r, ngx_uint_t basic_auth,
    ngx_http_px_key_t **key, ngx_http_px_error_t *err)
{
    ngx_str_t         k;
    ngx_uint_t        in_query;
    ngx_table_elt_t  *h;

    ngx_str_null(&k);
    in_query = 0;

    h = r->headers_in.authorization;
    if (h != NULL && h->value.len > 7
        && ngx_strncasecmp(h->value.data, (u_char *) "Bearer ", 7) == 0)
    {
        k.data = h->value.data + 7;
        k.len = h->value.len - 7;

    } else if (basic_auth && h != NULL && h->value.len > 6
               && ngx_strncasecmp(h->value.data, (u_char *) "Basic ", 6) == 0)
    {
        if (ngx_http_px_request_basic(r, &h->value, &k) != NGX_OK) {
            return ngx_http_px_fail(err, NGX_HTTP_UNAUTHORIZED,
                                    "invalid_api_key",
                                    "Authorization: Basic is not base64");
        }

    } else if ((h = ngx_http_px_header(r, "x-px-api-key")) != NULL) {
        k = h->value;

    } else if (ngx_http_arg(r, (u_char *) "api_key", 7, &k) == NGX_OK) {
        in_query = 1;

    } else {
        ngx_str_null(&k);
    }

    if (k.len == 0) {
        if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
            *key = &ngx_http_px_key_in_body;
            return NGX_OK;
        }

        return ngx_http_px_fail(err, NGX_HTTP_UNAUTHORIZED,
                                "missing_api_key",
                                "send the key in Authorization: Bearer,"
                                " X-PX-API-Key or the body's \"api_key\"");
    }

    return ngx_http_px_request_key(r, &k, in_query, key, err);
}

ngx_int_t
ngx_http_px_request_body_auth(ngx_http_request_t *r, px_batch_t *batch,
    ngx_http_px_error_t *err)
{
    ngx_str_t           k;
    ngx_http_px_ctx_t  *ctx;
    ngx_http_px_key_t  *key;

    ctx = ngx_http_get_module_ctx(r, ngx_http_px_module);
    if (ctx == NULL || ctx->key != &ngx_http_px_key_in_body) {
        return NGX_OK;
    }

    if (batch->api_key_len == 0) {
        return ngx_http_px_fail(err, NGX_HTTP_UNAUTHORIZED,
                                "missing_api_key",
                                "send the key in Authorization: Bearer,"
                                " X-PX-API-Key or the body's \"api_key\"");
    }

    k.data = (u_char *) batch->aux.data + batch->api_key_off;
    k.len = batch->api_key_len;

    if (ngx_http_px_request_key(r, &k, 0, &key, err) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->key = key;
    return NGX_OK;
}

/*
 * A presented key: known, allowed where it was sent, valid for the project
 * and the origin asked for.  A key with no origins is a server's key: it
 * must not travel in a URL, which logs and browsers keep.
 */
static ngx_int_t
ngx_http_px_request_key(ngx_http_request_t *r, ngx_str_t *k,
    ngx_uint_t in_query, ngx_http_px_key_t **key, ngx_http_px_error_t *err)
{
    ngx_str_t                 project, origin;
    ngx_table_elt_t          *h;
    ngx_http_px_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_px_module);

    *key = ngx_http_px_keys_find(pmcf->keys, k);
    if (*key == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "px: unknown api key from %V", &r->connection->addr_text);
        return ngx_http_px_fail(err, NGX_HTTP_UNAUTHORIZED,
                                "invalid_api_key", "unknown API key");
    }

    if (in_query && (*key)->origins.nelts == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "px: server key %*s refused in the query string",
                      (size_t) NGX_HTTP_PX_KEY_ID_LEN, (*key)->id);
        return ngx_http_px_fail(err, NGX_HTTP_FORBIDDEN,
                                "key_not_allowed_in_query",
                                "this key may not be sent in the URL: send it"
                                " in a header or the body's \"api_key\"");
    }

    if ((h = ngx_http_px_header(r, "x-px-project-id")) != NULL) {
        project = h->value;
    } else if (ngx_http_arg(r, (u_char *) "project_id", 10, &project)
               != NGX_OK)
    {
        project = (*key)->project;
    }

    if (project.len != (*key)->project.len
        || ngx_strncmp(project.data, (*key)->project.data, project.len) != 0)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "px: key %*s is not valid for the project asked for",
                      (size_t) NGX_HTTP_PX_KEY_ID_LEN, (*key)->id);
        return ngx_http_px_fail(err, NGX_HTTP_FORBIDDEN,
                                "project_mismatch",
                                "the key is not valid for this project");
    }

    if ((h = ngx_http_px_header(r, "origin")) != NULL) {
        origin = h->value;
        if (!ngx_http_px_key_origin_allowed(*key, &origin)) {
            return ngx_http_px_fail(err, NGX_HTTP_FORBIDDEN,
                                    "origin_not_allowed",
                                    "the key is not valid for this "
                                    "origin");
        }

    } else if ((*key)->origin_required) {
        return ngx_http_px_fail(err, NGX_HTTP_FORBIDDEN, "origin_required",
                                "this key is only valid with an Origin "
                                "header");
    }

    return NGX_OK;
}

/* application/json or text/plain (sendBeacon); identity or gzip. */
ngx_int_t
ngx_http_px_request_type(ngx_http_request_t *r, ngx_uint_t *gzip,
    ngx_http_px_error_t *err)
{
    size_t            len;
    u_char           *p;
    ngx_table_elt_t  *h;

    h = r->headers_in.content_type;
    if (h != NULL) {
        p = ngx_strlchr(h->value.data, h->value.data + h->value.len, ';');
        len = (p != NULL ? p : h->value.data + h->value.len) - h->value.data;
        while (len > 0 && h->value.data[len - 1] == ' ') {
            len--;
        }

        if (!(len == 16
              && ngx_strncasecmp(h->value.data, (u_char *) "application/json",
                                 16) == 0)
            && !(len == 10
                 && ngx_strncasecmp(h->value.data, (u_char *) "text/plain",
                                    10) == 0))
        {
            return ngx_http_px_fail(err,
                                    NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                    "unsupported_media_type",
                                    "send application/json or "
                                    "text/plain");
        }
    }

    *gzip = 0;
    h = ngx_http_px_header(r, "content-encoding");
    if (h == NULL || (h->value.len == 8
                      && ngx_strncasecmp(h->value.data, (u_char *) "identity",
                                         8) == 0))
    {
        return NGX_OK;
    }

    if (h->value.len == 4
        && ngx_strncasecmp(h->value.data, (u_char *) "gzip", 4) == 0)
    {
        *gzip = 1;
        return NGX_OK;
    }

    return ngx_http_px_fail(err, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                            "unsupported_encoding",
                            "Content-Encoding must be gzip or identity");
}

/* The CORS headers of an allowed Origin (px_cors_origins); *allowed says
 * whether it is one.  NGX_OK, or NGX_ERROR (memory). */
static ngx_int_t
ngx_http_px_cors_origin(ngx_http_request_t *r, ngx_uint_t *allowed)
{
    ngx_str_t                *o, origin;
    ngx_uint_t                i;
    ngx_table_elt_t          *h;
    ngx_http_px_loc_conf_t   *plcf;

    static ngx_str_t  expose = ngx_string("Retry-After, X-RateLimit-Limit, "
                                          "X-RateLimit-Remaining, "
                                          "X-RateLimit-Reset");
    static ngx_str_t  vary = ngx_string("Origin");

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_px_module);
    h = ngx_http_px_header(r, "origin");
    *allowed = 0;

    if (h != NULL && plcf->cors_origins != NULL) {
        o = plcf->cors_origins->elts;
        for (i = 0; i < plcf->cors_origins->nelts; i++) {
            if ((o[i].len == 1 && o[i].data[0] == '*')
                || (o[i].len == h->value.len
                    && ngx_strncasecmp(o[i].data, h->value.data, o[i].len)
                       == 0))
            {
                *allowed = 1;
                break;
            }
        }
    }

    if (!*allowed) {
        return NGX_OK;
    }

    origin = h->value;
    if (ngx_http_px_add_header(r, "Access-Control-Allow-Origin", &origin)
        != NGX_OK
        || ngx_http_px_add_header(r, "Vary", &vary) != NGX_OK
        || ngx_http_px_add_header(r, "Access-Control-Expose-Headers",
                                  &expose) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}

ngx_int_t
ngx_http_px_request_cors(ngx_http_request_t *r)
{
    ngx_uint_t  allowed;

    return ngx_http_px_cors_origin(r, &allowed);
}

ngx_int_t
ngx_http_px_request_preflight(ngx_http_request_t *r)
{
    ngx_uint_t  allowed;

    static ngx_str_t  methods = ngx_string("POST, OPTIONS");
    static ngx_str_t  headers = ngx_string("Content-Type, Content-Encoding, "
                                           "Authorization, X-PX-API-Key, "
                                           "X-PX-Project-ID");
    static ngx_str_t  max_age = ngx_string("86400");

    if (ngx_http_px_cors_origin(r, &allowed) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!allowed) {
        return ngx_http_px_send_error(r, NGX_HTTP_FORBIDDEN,
                                      "origin_not_allowed",
                                      "this origin may not send events");
    }

    if (ngx_http_px_add_header(r, "Access-Control-Allow-Methods", &methods)
        != NGX_OK
        || ngx_http_px_add_header(r, "Access-Control-Allow-Headers", &headers)
           != NGX_OK
        || ngx_http_px_add_header(r, "Access-Control-Max-Age", &max_age)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_px_send_json(r, NGX_HTTP_NO_CONTENT, NULL, 0);
}

ngx_table_elt_t *
ngx_http_px_header(ngx_http_request_t *r, const char *lowcase_name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(lowcase_name);
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {
        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }
            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) lowcase_name, len)
               == 0)
        {
            return &h[i];
        }
    }
}
