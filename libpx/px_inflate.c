#include <string.h>

#include "px_inflate.h"

#define PX_INFLATE_CHUNK  16384

static voidpf
px_zalloc(voidpf opaque, uInt items, uInt size)
{
    const px_alloc_t  *a = opaque;

    if (size != 0 && items > (size_t) -1 / size) {
        return Z_NULL;
    }

    return a->malloc(a->ctx, (size_t) items * size);
}

static void
px_zfree(voidpf opaque, voidpf p)
{
    const px_alloc_t  *a = opaque;

    a->free(a->ctx, p);
}

int
px_inflate_is_gzip(const void *data, size_t len)
{
    const unsigned char  *p = data;

    return len >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

int
px_inflate_init(px_inflate_t *z, size_t max_out, size_t max_ratio,
    const px_alloc_t *alloc)
{
    memset(z, 0, sizeof(*z));
    z->alloc = PX_ALLOC(alloc);
    z->max_out = max_out;
    z->max_ratio = max_ratio;
    z->zs.zalloc = px_zalloc;
    z->zs.zfree = px_zfree;
    z->zs.opaque = (voidpf) z->alloc;

    /* 16 + 15: gzip wrapper only, largest window */
    if (inflateInit2(&z->zs, 16 + MAX_WBITS) != Z_OK) {
        return -1;
    }

    z->ready = 1;
    return 0;
}

px_inflate_status_t
px_inflate_feed(px_inflate_t *z, const void *in, size_t len,
    px_inflate_sink_pt sink, void *ctx)
{
    unsigned char  out[PX_INFLATE_CHUNK];
    size_t         n;
    int            rc;

    if (len == 0) {
        return PX_INFLATE_OK;
    }

    if (z->done) {
        return PX_INFLATE_ERR_CORRUPT;
    }

    z->zs.next_in = (Bytef *) in;
    z->zs.avail_in = (uInt) len;
    z->in_total += len;

    do {
        z->zs.next_out = out;
        z->zs.avail_out = sizeof(out);

        rc = inflate(&z->zs, Z_NO_FLUSH);
        if (rc == Z_MEM_ERROR) {
            return PX_INFLATE_ERR_NOMEM;
        }
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            return PX_INFLATE_ERR_CORRUPT;
        }

        n = sizeof(out) - z->zs.avail_out;
        z->out_total += n;

        if (z->out_total > z->max_out
            || (z->max_ratio != 0 && z->out_total > 64 * 1024
                && z->out_total / z->max_ratio > z->in_total))
        {
            return PX_INFLATE_ERR_TOO_LARGE;
        }

        if (n > 0 && sink(ctx, out, n) != 0) {
            return PX_INFLATE_ERR_SINK;
        }

        if (rc == Z_STREAM_END) {
            z->done = 1;
            return z->zs.avail_in == 0 ? PX_INFLATE_OK
                                       : PX_INFLATE_ERR_CORRUPT;
        }

        if (rc == Z_BUF_ERROR && n == 0) {
            break;
        }

    } while (z->zs.avail_in > 0 || z->zs.avail_out == 0);

    return PX_INFLATE_OK;
}

px_inflate_status_t
px_inflate_finish(px_inflate_t *z)
{
    return z->done ? PX_INFLATE_OK : PX_INFLATE_ERR_CORRUPT;
}

void
px_inflate_free(px_inflate_t *z)
{
    if (z->ready) {
        inflateEnd(&z->zs);
        z->ready = 0;
    }
}
