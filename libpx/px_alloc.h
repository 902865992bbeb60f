/*
 * Allocator callbacks: libpx never calls malloc directly, so a host (nginx,
 * the worker, a fuzzer) can count or pool its memory.  The shape matches
 * yajl_alloc_funcs so the same callbacks drive the JSON parser.
 */
#ifndef PX_ALLOC_H
#define PX_ALLOC_H

#include <stddef.h>

typedef struct {
    void *(*malloc)(void *ctx, size_t size);
    void *(*realloc)(void *ctx, void *ptr, size_t size);
    void  (*free)(void *ctx, void *ptr);
    void  *ctx;
} px_alloc_t;

/* The libc allocator; used wherever a NULL px_alloc_t * is passed. */
const px_alloc_t *px_alloc_default(void);

#define PX_ALLOC(a) ((a) != NULL ? (a) : px_alloc_default())

#endif
