/*
 * Streaming gzip inflate with a hard cap on output and on the inflate
 * ratio, so a small bomb costs at most the cap of work.  Output goes to a
 * sink (the batch parser) chunk by chunk and is never held whole.
 */
#ifndef PX_INFLATE_H
#define PX_INFLATE_H

#include <stddef.h>

#include <zlib.h>

#include "px_alloc.h"

typedef enum {
    PX_INFLATE_OK = 0,
    PX_INFLATE_ERR_CORRUPT,     /* not gzip, or damaged */
    PX_INFLATE_ERR_TOO_LARGE,   /* output over max_out or max_ratio */
    PX_INFLATE_ERR_SINK,        /* the sink said stop */
    PX_INFLATE_ERR_NOMEM
} px_inflate_status_t;

/* Takes an output chunk; returns 0 to go on, -1 to stop. */
typedef int (*px_inflate_sink_pt)(void *ctx, const void *data, size_t len);

typedef struct {
    z_stream            zs;
    const px_alloc_t   *alloc;
    size_t              max_out;
    size_t              max_ratio;  /* 0: no ratio check */
    size_t              in_total;
    size_t              out_total;
    int                 done;       /* the gzip trailer was read */
    int                 ready;
} px_inflate_t;

/* 1 when data starts with the gzip magic bytes. */
int px_inflate_is_gzip(const void *data, size_t len);

int px_inflate_init(px_inflate_t *z, size_t max_out, size_t max_ratio,
    const px_alloc_t *alloc);

/* Inflate the next chunk of input into sink.  Input past the end of the
 * gzip stream is an error (a body must be one member). */
px_inflate_status_t px_inflate_feed(px_inflate_t *z, const void *in,
    size_t len, px_inflate_sink_pt sink, void *ctx);

/* End of input: ERR_CORRUPT when the stream was truncated. */
px_inflate_status_t px_inflate_finish(px_inflate_t *z);

void px_inflate_free(px_inflate_t *z);

#endif
