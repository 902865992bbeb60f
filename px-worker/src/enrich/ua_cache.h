/*
 * ua_cache: a fixed-capacity LRU cache of parse results in front of
 * px_ua_parse(), keyed on the full UA string (all its bytes).
 *
 * A hash map (chained, power-of-two buckets, hash seeded at random per
 * cache so that crafted UAs cannot aim at one bucket) over nodes that also
 * form a doubly linked list, most recently used first. A hit moves its node
 * to the front; a miss parses, then takes a free node or evicts the last.
 * All nodes are allocated up front; keys are copied into per-node buffers
 * that grow as needed, so memory is bounded by
 * capacity * (sizeof(px_ua_t) + PX_UA_CACHE_MAX_KEY + ~64).
 * UAs longer than PX_UA_CACHE_MAX_KEY are parsed but not cached.
 *
 * Not thread-safe: one cache per thread (they may share one database). The
 * database must outlive the cache; after a reload, make a new cache.
 */
#ifndef PX_UA_CACHE_H
#define PX_UA_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "ua_parse.h"

#define PX_UA_CACHE_MAX_KEY       1024
#define PX_UA_CACHE_MAX_CAPACITY  (1u << 24)

typedef struct px_ua_cache_s px_ua_cache_t;

typedef struct {
    uint64_t  hits;
    uint64_t  misses;      /* includes the uncacheable */
    uint64_t  evictions;
    uint64_t  uncacheable; /* longer than PX_UA_CACHE_MAX_KEY */
    size_t    size;        /* entries held now */
    size_t    capacity;
} px_ua_cache_stats_t;

/*
 * New cache of `capacity` entries (1..PX_UA_CACHE_MAX_CAPACITY) over db.
 * Returns 0, or -1 with a reason in err (bad capacity, out of memory).
 */
int px_ua_cache_create(const px_ua_db_t *db, size_t capacity,
    px_ua_cache_t **out, char *err, size_t errlen);

/* Release a cache; NULL is fine. */
void px_ua_cache_free(px_ua_cache_t *c);

/*
 * px_ua_parse() through the cache: *out receives a copy of the result.
 * Returns 0, or -1 as px_ua_parse() does (the result is then not cached).
 * A failure to grow a key buffer only skips caching this UA.
 */
int px_ua_cache_parse(px_ua_cache_t *c, const char *ua, size_t len,
    px_ua_t *out);

/* Counters and occupancy. */
void px_ua_cache_stats(const px_ua_cache_t *c, px_ua_cache_stats_t *st);

#endif /* PX_UA_CACHE_H */
