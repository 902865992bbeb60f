/*
 * The visitor states this worker wrote to Redis last, kept in memory so
 * that the next batch of the same visitor need not read them back
 * (docs/sessions.md, "The visitor cache").  Kafka keys events by visitor,
 * so while a worker owns a partition it is the only writer of its
 * visitors; the write's compare-and-set still checks every value taken
 * from here against Redis, so a stale entry (another worker wrote the
 * visitor, Redis lost it) costs a conflict and a fresh read, never a wrong
 * session.
 *
 * Bounded by bytes: two generations, each at most half the bound.  When
 * the newer one is full it becomes the older one and the older one is
 * emptied to be the newer one (its memory kept); a hit in the older one is
 * copied into the newer one, so the visitors of recent batches stay.
 *
 * Entries are found by the field's 64-bit hash alone (the field is not
 * kept): two visitors of one hash would hand the write the other's value,
 * which its compare-and-set refuses like any stale one.
 */
#ifndef PX_VISITOR_CACHE_H
#define PX_VISITOR_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "px_buf.h"

typedef struct {
    uint64_t  hash;             /* 0: an empty slot */
    uint32_t  off;              /* the value, in the arena */
    uint32_t  len;
    int64_t   window;           /* the window of the hash it was written to */
} px_vcache_slot_t;

typedef struct {
    px_vcache_slot_t  *slots;
    size_t             nslots;  /* 0 or a power of two */
    size_t             n;
    px_buf_t           arena;
} px_vcache_gen_t;

typedef struct {
    px_vcache_gen_t    gen[2];  /* [0] the newer */
    size_t             max_bytes;
    unsigned long      hits;
    unsigned long      misses;
    unsigned long      drops;   /* generations emptied */
} px_vcache_t;

/* max_bytes 0: the cache is off (every lookup misses, nothing is kept). */
void px_vcache_init(px_vcache_t *c, size_t max_bytes);
void px_vcache_free(px_vcache_t *c);

/* Forget everything (a conflict, a new Redis connection, a rebalance). */
void px_vcache_clear(px_vcache_t *c);

/* The value of the field of hash written in window min_window or later:
 * 1 and *val, *val_len (valid until the next call), or 0.  -1: out of
 * memory (the cache is then cleared). */
int px_vcache_get(px_vcache_t *c, uint64_t hash, int64_t min_window,
    const char **val, size_t *val_len);

/* Remember the value of the field of hash, written in window.  0, or -1
 * when out of memory (the cache is then cleared: an entry never outlives
 * a failed update). */
int px_vcache_put(px_vcache_t *c, uint64_t hash, const char *val,
    size_t val_len, int64_t window);

/* Bytes held (what the arenas hold and the slot arrays). */
size_t px_vcache_bytes(const px_vcache_t *c);

#endif /* PX_VISITOR_CACHE_H */
