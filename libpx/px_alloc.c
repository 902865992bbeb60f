#include <stdlib.h>

#include "px_alloc.h"

static void *
px_libc_malloc(void *ctx, size_t size)
{
    (void) ctx;
    return malloc(size);
}

static void *
px_libc_realloc(void *ctx, void *ptr, size_t size)
{
    (void) ctx;
    return realloc(ptr, size);
}

static void
px_libc_free(void *ctx, void *ptr)
{
    (void) ctx;
    free(ptr);
}

const px_alloc_t *
px_alloc_default(void)
{
    static const px_alloc_t libc = {
        px_libc_malloc, px_libc_realloc, px_libc_free, NULL
    };

    return &libc;
}
