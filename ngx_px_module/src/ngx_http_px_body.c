#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "px_inflate.h"
#include "ngx_http_px_body.h"
#include "ngx_http_px_request.h"

#define NGX_HTTP_PX_FILE_CHUNK  16384

typedef struct {
    ngx_http_px_body_sink_t  *sink;
    px_inflate_t          inflate;
    ngx_uint_t            gzip;         /* -1 until the first bytes */
    u_char                head[2];      /* the first bytes, until 2 */
    size_t                nhead;
    ngx_uint_t            gzip_header;
    size_t                raw;          /* bytes as sent */
    size_t                max_body;
    size_t                max_inflated;
    size_t                max_ratio;
    px_batch_status_t     batch_status;
    ngx_http_px_error_t  *err;
} ngx_http_px_body_t;

static ngx_int_t ngx_http_px_body_feed(ngx_http_px_body_t *pb, u_char *p,
    size_t len);
static ngx_int_t ngx_http_px_body_start(ngx_http_px_body_t *pb, u_char *p,
    size_t len);
static ngx_int_t ngx_http_px_body_decoded(ngx_http_px_body_t *pb, u_char *p,
    size_t len);
static ngx_int_t ngx_http_px_body_batch_error(ngx_http_px_body_t *pb);

static int
ngx_http_px_body_sink(void *ctx, const void *data, size_t len)
{
    ngx_http_px_body_t  *pb = ctx;

    pb->batch_status = pb->sink->feed(pb->sink->data, data, len);
    return pb->batch_status == PX_BATCH_OK ? 0 : -1;
}

static px_batch_status_t
ngx_http_px_body_parser_feed(void *data, const void *p, size_t len)
{
    return px_batch_feed(data, p, len);
}

static px_batch_status_t
ngx_http_px_body_parser_finish(void *data)
{
    return px_batch_finish(data);
}

static const char *
ngx_http_px_body_parser_message(void *data)
{
    return px_batch_error_message(data);
}

ngx_int_t
ngx_http_px_body_parse(ngx_http_request_t *r, ngx_http_px_loc_conf_t *plcf,
    ngx_uint_t gzip_header, px_batch_t *batch, ngx_http_px_error_t *err)
{
    ngx_int_t                 rc;
    ngx_http_px_body_sink_t   sink;

    sink.feed = ngx_http_px_body_parser_feed;
    sink.finish = ngx_http_px_body_parser_finish;
    sink.message = ngx_http_px_body_parser_message;
    sink.data = px_batch_parser_new(&plcf->limits, NULL, batch);
    if (sink.data == NULL) {
        ngx_memzero(batch, sizeof(*batch));
        return ngx_http_px_fail(err, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                "internal_error", "out of memory");
    }

    rc = ngx_http_px_body_read(r, plcf, gzip_header, &sink, err);

    px_batch_parser_free(sink.data);

    /* A key sent in the body is checked now, and its answer (401, 403)
     * comes before any about the body: a client without a valid key learns
     * nothing else.  Out of memory stays a 500. */
    if (rc == NGX_OK || err->status != NGX_HTTP_INTERNAL_SERVER_ERROR) {
        if (ngx_http_px_request_body_auth(r, batch, err) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return rc;
}

ngx_int_t
ngx_http_px_body_read(ngx_http_request_t *r, ngx_http_px_loc_conf_t *plcf,
    ngx_uint_t gzip_header, ngx_http_px_body_sink_t *sink,
    ngx_http_px_error_t *err)
{
    u_char              *chunk;
    off_t                off;
    ssize_t              n;
    ngx_int_t            rc;
    ngx_buf_t           *b;
    ngx_chain_t         *cl;
    ngx_http_px_body_t   pb;

    ngx_memzero(&pb, sizeof(pb));
    pb.sink = sink;
    pb.gzip = (ngx_uint_t) -1;
    pb.gzip_header = gzip_header;
    pb.max_body = plcf->max_body;
    pb.max_inflated = plcf->max_inflated;
    pb.max_ratio = plcf->max_ratio;
    pb.err = err;

    rc = NGX_OK;
    chunk = NULL;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl && rc == NGX_OK;
         cl = cl->next)
    {
        b = cl->buf;

        if (!b->in_file) {
            rc = ngx_http_px_body_feed(&pb, b->pos, b->last - b->pos);
            continue;
        }

        if (chunk == NULL) {
            chunk = ngx_palloc(r->pool, NGX_HTTP_PX_FILE_CHUNK);
            if (chunk == NULL) {
                rc = ngx_http_px_fail(pb.err,
                                      NGX_HTTP_INTERNAL_SERVER_ERROR,
                                      "internal_error", "out of memory");
                break;
            }
        }

        for (off = b->file_pos; off < b->file_last && rc == NGX_OK; off += n) {
            n = ngx_read_file(b->file, chunk,
                              ngx_min(NGX_HTTP_PX_FILE_CHUNK,
                                      (size_t) (b->file_last - off)), off);
            if (n <= 0) {
                rc = ngx_http_px_fail(pb.err,
                                      NGX_HTTP_INTERNAL_SERVER_ERROR,
                                      "internal_error",
                                      "could not read the body");
                break;
            }
            rc = ngx_http_px_body_feed(&pb, chunk, n);
        }
    }

    if (rc == NGX_OK && pb.gzip == (ngx_uint_t) -1 && pb.nhead == 1) {
        /* a one-byte body: not gzip */
        rc = ngx_http_px_body_start(&pb, pb.head, 1);
        if (rc == NGX_OK) {
            rc = ngx_http_px_body_decoded(&pb, pb.head, 1);
        }
    }

    if (rc == NGX_OK && pb.raw == 0) {
        rc = ngx_http_px_fail(pb.err, NGX_HTTP_BAD_REQUEST, "empty_body",
                              "the request has no body");
    }

    if (rc == NGX_OK && pb.gzip == 1
        && px_inflate_finish(&pb.inflate) != PX_INFLATE_OK)
    {
        rc = ngx_http_px_fail(pb.err, NGX_HTTP_BAD_REQUEST, "invalid_gzip",
                              "the gzip body is truncated");
    }

    if (rc == NGX_OK) {
        pb.batch_status = sink->finish(sink->data);
        rc = ngx_http_px_body_batch_error(&pb);
    }

    if (pb.gzip == 1) {
        px_inflate_free(&pb.inflate);
    }

    return rc;
}

/* The first bytes decide: gzip magic, or plain JSON. */
static ngx_int_t
ngx_http_px_body_start(ngx_http_px_body_t *pb, u_char *p, size_t len)
{
    pb->gzip = px_inflate_is_gzip(p, len);

    if (pb->gzip_header && !pb->gzip) {
        return ngx_http_px_fail(pb->err, NGX_HTTP_BAD_REQUEST,
                                "content_encoding_mismatch",
                                "Content-Encoding is gzip but the body "
                                "is not gzip");
    }

    if (pb->gzip
        && px_inflate_init(&pb->inflate, pb->max_inflated, pb->max_ratio,
                            NULL) != 0)
    {
        pb->gzip = 0;
        return ngx_http_px_fail(pb->err, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                "internal_error", "out of memory");
    }

    return NGX_OK;
}

static ngx_int_t
ngx_http_px_body_feed(ngx_http_px_body_t *pb, u_char *p, size_t len)
{
    if (len == 0) {
        return NGX_OK;
    }

    pb->raw += len;
    if (pb->raw > pb->max_body) {
        return ngx_http_px_fail(pb->err, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                "body_too_large",
                                "the body is over the size limit");
    }

    /* the magic is two bytes, and a first buffer may hold only one */
    if (pb->gzip == (ngx_uint_t) -1) {
        while (pb->nhead < 2 && len > 0) {
            pb->head[pb->nhead++] = *p++;
            len--;
        }

        if (pb->nhead < 2) {
            return NGX_OK;
        }

        if (ngx_http_px_body_start(pb, pb->head, 2) != NGX_OK
            || ngx_http_px_body_decoded(pb, pb->head, 2) != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (len == 0) {
            return NGX_OK;
        }
    }

    return ngx_http_px_body_decoded(pb, p, len);
}

/* Bytes of the body after the first two: inflated when gzip, parsed. */
static ngx_int_t
ngx_http_px_body_decoded(ngx_http_px_body_t *pb, u_char *p, size_t len)
{
    px_inflate_status_t  st;

    if (!pb->gzip) {
        if (pb->raw > pb->max_inflated) {
            return ngx_http_px_fail(pb->err,
                                    NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                    "body_too_large",
                                    "the body is over the size limit");
        }
        pb->batch_status = pb->sink->feed(pb->sink->data, p, len);
        return ngx_http_px_body_batch_error(pb);
    }

    st = px_inflate_feed(&pb->inflate, p, len, ngx_http_px_body_sink, pb);

    switch (st) {
    case PX_INFLATE_OK:
        return NGX_OK;
    case PX_INFLATE_ERR_SINK:
        return ngx_http_px_body_batch_error(pb);
    case PX_INFLATE_ERR_TOO_LARGE:
        return ngx_http_px_fail(pb->err, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                "inflated_body_too_large",
                                "the body inflates past the limit");
    case PX_INFLATE_ERR_NOMEM:
        return ngx_http_px_fail(pb->err, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                "internal_error", "out of memory");
    default:
        return ngx_http_px_fail(pb->err, NGX_HTTP_BAD_REQUEST, "invalid_gzip",
                                "the gzip body is corrupt");
    }
}

static ngx_int_t
ngx_http_px_body_batch_error(ngx_http_px_body_t *pb)
{
    ngx_uint_t  status;

    switch (pb->batch_status) {
    case PX_BATCH_OK:
        return NGX_OK;
    case PX_BATCH_ERR_TOO_MANY:
        status = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        break;
    case PX_BATCH_ERR_NOMEM:
        status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        break;
    default:
        status = NGX_HTTP_BAD_REQUEST;
    }

    ngx_cpystrn((u_char *) pb->err->buf,
                (u_char *) pb->sink->message(pb->sink->data),
                sizeof(pb->err->buf));

    return ngx_http_px_fail(pb->err, status,
                            px_batch_status_code(pb->batch_status),
                            pb->err->buf);
}
