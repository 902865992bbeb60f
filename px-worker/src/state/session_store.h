/*
 * Where the session stage keeps its state in Redis (docs/sessions.md,
 * "State in Redis"): fields of hashes, one hash per family (event claims,
 * visitor states), time window and shard:
 *
 *     PREFIX "E:" <window> ":" <shard>     event claims
 *     PREFIX "V:" <window> ":" <shard>     visitor states
 *
 * <window> is the Unix time divided by the family's window length, set
 * when a batch is written; a hash expires at the end of the window after
 * its own, so a field is remembered between one and two window lengths.
 * A read looks in the current window and the one before (the current one
 * first).  Hash fields cost Redis a fraction of what a key with its own
 * TTL costs.
 *
 * One batch: px_kv_clear(), px_kv_add() each field, px_kv_read() (one
 * round trip of HMGETs), px_kv_set() the values to write, px_kv_write()
 * (one script call, atomic: it writes only if no visitor state it writes
 * changed since the read).
 */
#ifndef PX_SESSION_STORE_H
#define PX_SESSION_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "px_buf.h"
#include "redis_conn.h"
#include "visitor_cache.h"

#define PX_KV_EVENTS     0
#define PX_KV_VISITORS   1
#define PX_KV_SHARDS     64

typedef struct {
    size_t    field;        /* in kv->fields */
    size_t    field_len;
    uint64_t  hash;         /* px_kv_hash() of the field */
    unsigned  shard;
    int       found;        /* by px_kv_read() */
    int       cached;       /* ... from the visitor cache, not Redis */
    size_t    val;          /* in kv->vals */
    size_t    val_len;
    int       write;        /* px_kv_set() was called */
    size_t    nval;         /* in kv->news */
    size_t    nval_len;
} px_kv_item_t;

typedef struct {
    char            prefix[64];
    long            window_s[2];        /* per family */

    px_buf_t        fields;             /* the caller appends a field ... */
    px_buf_t        vals;
    px_buf_t        news;
    px_kv_item_t   *items[2];
    size_t          n[2];
    size_t          cap[2];
    size_t         *order[2];           /* items by shard */
    size_t          start[2][PX_KV_SHARDS + 1];

    px_buf_t        cmd;
    px_buf_t        keys;
    px_buf_t        args;
    px_vcache_t     vcache;             /* visitor states written last */
    unsigned long   vcache_generation;  /* of the connection they went to */
    int64_t         written_window;     /* of the visitors' hash, at write */

    char            sha[41];
    unsigned long   sha_generation;
    unsigned long   round_trips;
} px_kv_t;

/* prefix at most 63 bytes (checked by the caller); windows in s, > 0;
 * cache_bytes: the visitor cache's bound (0: off). */
void px_kv_init(px_kv_t *kv, const char *prefix, long events_window_s,
    long visitors_window_s, size_t cache_bytes);
void px_kv_free(px_kv_t *kv);

/* Forget the batch's fields. */
void px_kv_clear(px_kv_t *kv);

/* ... then px_kv_add() makes kv->fields[from..len) a field of the family:
 * its index, or -1 when out of memory. */
long px_kv_add(px_kv_t *kv, int family, size_t from);

/* A well-mixed 64-bit FNV-1a of p[0..n) (also for the caller's tables). */
uint64_t px_kv_hash(const char *p, size_t n);

/* The value to write for an item (a copy is kept). */
int px_kv_set(px_kv_t *kv, int family, size_t i, const char *v, size_t n);

/* Read every field; a visitor state this worker wrote last, on the same
 * connection, comes from the visitor cache instead (item->cached).  0, or
 * -1 with the reason in err (I/O: the connection is dropped). */
int px_kv_read(px_kv_t *kv, px_redis_t *r, char *err, size_t errlen);

/* Write the items set: 0, and the visitor cache holds the states
 * written; 1 when a visitor item set had another value than read
 * (nothing written); -1 with the reason in err.  On 1 and -1 the visitor
 * cache is emptied: the next read takes every state from Redis. */
int px_kv_write(px_kv_t *kv, px_redis_t *r, char *err, size_t errlen);

/* Empty the visitor cache (the partitions owned changed). */
void px_kv_forget_visitors(px_kv_t *kv);

#endif
