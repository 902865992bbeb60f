/*
 * ua_cache: LRU cache of parse results. See ua_cache.h.
 */
#include "ua_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define NIL  UINT32_MAX

typedef struct {
    char      *key;
    size_t     klen;
    size_t     kcap;
    uint64_t   hash;
    uint32_t   hnext;   /* next node in the bucket's chain */
    uint32_t   prev;    /* LRU list, towards the most recent */
    uint32_t   next;    /* LRU list, towards the least recent */
    px_ua_t    val;
} node_t;

struct px_ua_cache_s {
    const px_ua_db_t     *db;
    node_t               *nodes;
    uint32_t             *buckets;
    uint32_t              mask;     /* bucket count - 1 */
    uint32_t              head;     /* most recently used */
    uint32_t              tail;     /* least recently used */
    uint64_t              seed;
    px_ua_cache_stats_t   st;
};

/* From a random basis: 8 bytes at a time (multiply, rotate, multiply: a
 * byte-wise FNV-1a over a ~130-byte user agent was most of a cache hit's
 * cost), the tail by FNV-1a, then a murmur3 finaliser to spread it. */
static uint64_t
hash_key(uint64_t seed, const char *p, size_t n)
{
    uint64_t  h = seed ^ 0xcbf29ce484222325ULL ^ (uint64_t) n, w;
    size_t    i;

    for (i = 0; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        h ^= w * 0x9e3779b97f4a7c15ULL;
        h = ((h << 31) | (h >> 33)) * 0xff51afd7ed558ccdULL;
    }
    for (; i < n; i++) {
        h ^= (unsigned char) p[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t
random_seed(void)
{
    uint64_t         s;
    struct timespec  ts;

    if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t) sizeof(s)) {
        return s;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_nsec * 0x9e3779b97f4a7c15ULL
           ^ (uint64_t) ts.tv_sec ^ (uint64_t) (uintptr_t) &s;
}

int
px_ua_cache_create(const px_ua_db_t *db, size_t capacity,
    px_ua_cache_t **out, char *err, size_t errlen)
{
    px_ua_cache_t  *c;
    size_t          nb, i;

    *out = NULL;
    if (capacity < 1 || capacity > PX_UA_CACHE_MAX_CAPACITY) {
        snprintf(err, errlen, "user agent cache capacity %zu not in 1..%u",
                 capacity, PX_UA_CACHE_MAX_CAPACITY);
        return -1;
    }

    for (nb = 1; nb < capacity * 2; nb <<= 1) {
        /* void */
    }

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        goto nomem;
    }
    c->nodes = calloc(capacity, sizeof(node_t));
    c->buckets = malloc(nb * sizeof(uint32_t));
    if (c->nodes == NULL || c->buckets == NULL) {
        goto nomem;
    }
    for (i = 0; i < nb; i++) {
        c->buckets[i] = NIL;
    }

    c->db = db;
    c->mask = (uint32_t) (nb - 1);
    c->head = NIL;
    c->tail = NIL;
    c->seed = random_seed();
    c->st.capacity = capacity;
    *out = c;
    return 0;

nomem:
    snprintf(err, errlen, "user agent cache of %zu entries: out of memory",
             capacity);
    px_ua_cache_free(c);
    return -1;
}

void
px_ua_cache_free(px_ua_cache_t *c)
{
    size_t  i;

    if (c == NULL) {
        return;
    }
    if (c->nodes != NULL) {
        for (i = 0; i < c->st.size; i++) {
            free(c->nodes[i].key);
        }
    }
    free(c->nodes);
    free(c->buckets);
    free(c);
}

static void
lru_unlink(px_ua_cache_t *c, uint32_t i)
{
    node_t  *n = &c->nodes[i];

    if (n->prev != NIL) {
        c->nodes[n->prev].next = n->next;
    } else {
        c->head = n->next;
    }
    if (n->next != NIL) {
        c->nodes[n->next].prev = n->prev;
    } else {
        c->tail = n->prev;
    }
}

static void
lru_push_front(px_ua_cache_t *c, uint32_t i)
{
    node_t  *n = &c->nodes[i];

    n->prev = NIL;
    n->next = c->head;
    if (c->head != NIL) {
        c->nodes[c->head].prev = i;
    }
    c->head = i;
    if (c->tail == NIL) {
        c->tail = i;
    }
}

static void
bucket_remove(px_ua_cache_t *c, uint32_t i)
{
    uint32_t  *link = &c->buckets[c->nodes[i].hash & c->mask];

    while (*link != i) {
        link = &c->nodes[*link].hnext;
    }
    *link = c->nodes[i].hnext;
}

static uint32_t
lookup(const px_ua_cache_t *c, uint64_t h, const char *ua, size_t len)
{
    const node_t  *n;
    uint32_t       i;

    for (i = c->buckets[h & c->mask]; i != NIL; i = n->hnext) {
        n = &c->nodes[i];
        if (n->hash == h && n->klen == len && memcmp(n->key, ua, len) == 0) {
            return i;
        }
    }
    return NIL;
}

/* Store (ua, *val) in a free node or in place of the least recent one. */
static void
insert(px_ua_cache_t *c, uint64_t h, const char *ua, size_t len,
    const px_ua_t *val)
{
    node_t    *n;
    uint32_t   i;
    char      *key;

    if (c->st.size < c->st.capacity) {
        i = (uint32_t) c->st.size;
    } else {
        i = c->tail;
    }
    n = &c->nodes[i];

    /* grow the key buffer first: on failure nothing has changed */
    if (n->kcap < len + 1) {
        key = malloc(len + 1);
        if (key == NULL) {
            return;
        }
        free(n->key);
        n->key = key;
        n->kcap = len + 1;
    }

    if (c->st.size < c->st.capacity) {
        c->st.size++;
    } else {
        bucket_remove(c, i);
        lru_unlink(c, i);
        c->st.evictions++;
    }

    memcpy(n->key, ua, len);
    n->key[len] = '\0';
    n->klen = len;
    n->hash = h;
    n->val = *val;
    n->hnext = c->buckets[h & c->mask];
    c->buckets[h & c->mask] = i;
    lru_push_front(c, i);
}

int
px_ua_cache_parse(px_ua_cache_t *c, const char *ua, size_t len, px_ua_t *out)
{
    uint64_t  h;
    uint32_t  i;

    if (ua == NULL) {
        ua = "";
        len = 0;
    }

    if (len > PX_UA_CACHE_MAX_KEY) {
        c->st.misses++;
        c->st.uncacheable++;
        return px_ua_parse(c->db, ua, len, out);
    }

    h = hash_key(c->seed, ua, len);
    i = lookup(c, h, ua, len);
    if (i != NIL) {
        c->st.hits++;
        if (c->head != i) {
            lru_unlink(c, i);
            lru_push_front(c, i);
        }
        *out = c->nodes[i].val;
        return 0;
    }

    c->st.misses++;
    if (px_ua_parse(c->db, ua, len, out) != 0) {
        return -1;
    }
    insert(c, h, ua, len, out);
    return 0;
}

void
px_ua_cache_stats(const px_ua_cache_t *c, px_ua_cache_stats_t *st)
{
    *st = c->st;
}
