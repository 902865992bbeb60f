#include <stdlib.h>
#include <string.h>

#include "visitor_cache.h"

#define PX_VCACHE_MIN_SLOTS  1024

static void
px_vcache_gen_init(px_vcache_gen_t *g)
{
    g->slots = NULL;
    g->nslots = 0;
    g->n = 0;
    px_buf_init(&g->arena, NULL, 0);
}

static void
px_vcache_gen_free(px_vcache_gen_t *g)
{
    free(g->slots);
    px_buf_free(&g->arena);
    px_vcache_gen_init(g);
}

/* Empty g, keeping its memory for the next values. */
static void
px_vcache_gen_empty(px_vcache_gen_t *g)
{
    if (g->slots != NULL) {
        memset(g->slots, 0, g->nslots * sizeof(px_vcache_slot_t));
    }
    g->n = 0;
    g->arena.len = 0;
}

/* The arena is reserved whole when a generation starts (its pages are
 * touched only as it fills), so what it holds is what it costs. */
static size_t
px_vcache_gen_bytes(const px_vcache_gen_t *g)
{
    return g->arena.len + g->nslots * sizeof(px_vcache_slot_t);
}

void
px_vcache_init(px_vcache_t *c, size_t max_bytes)
{
    memset(c, 0, sizeof(*c));
    px_vcache_gen_init(&c->gen[0]);
    px_vcache_gen_init(&c->gen[1]);
    c->max_bytes = max_bytes;
}

void
px_vcache_free(px_vcache_t *c)
{
    px_vcache_gen_free(&c->gen[0]);
    px_vcache_gen_free(&c->gen[1]);
}

void
px_vcache_clear(px_vcache_t *c)
{
    px_vcache_gen_empty(&c->gen[0]);
    px_vcache_gen_empty(&c->gen[1]);
}

size_t
px_vcache_bytes(const px_vcache_t *c)
{
    return px_vcache_gen_bytes(&c->gen[0]) + px_vcache_gen_bytes(&c->gen[1]);
}

/* 0 is an empty slot's mark */
static uint64_t
px_vcache_mark(uint64_t hash)
{
    return hash != 0 ? hash : 1;
}

/* The slot of mark in g: the one holding it, or the empty one where it
 * would go; NULL when g has no slots. */
static px_vcache_slot_t *
px_vcache_find(const px_vcache_gen_t *g, uint64_t mark)
{
    size_t             j, mask;
    px_vcache_slot_t  *s;

    if (g->nslots == 0) {
        return NULL;
    }

    mask = g->nslots - 1;
    for (j = (size_t) mark & mask; ; j = (j + 1) & mask) {
        s = &g->slots[j];
        if (s->hash == 0 || s->hash == mark) {
            return s;
        }
    }
}

/* Double g's slots (at least PX_VCACHE_MIN_SLOTS). */
static int
px_vcache_grow(px_vcache_gen_t *g)
{
    size_t             i, j, mask, n;
    px_vcache_slot_t  *slots;

    n = g->nslots > 0 ? g->nslots * 2 : PX_VCACHE_MIN_SLOTS;
    slots = calloc(n, sizeof(px_vcache_slot_t));
    if (slots == NULL) {
        return -1;
    }

    mask = n - 1;
    for (i = 0; i < g->nslots; i++) {
        if (g->slots[i].hash == 0) {
            continue;
        }
        for (j = (size_t) g->slots[i].hash & mask; slots[j].hash != 0;
             j = (j + 1) & mask)
        {
            /* probe */
        }
        slots[j] = g->slots[i];
    }

    free(g->slots);
    g->slots = slots;
    g->nslots = n;
    return 0;
}

/* The newer generation has reached its half of the bound. */
static int
px_vcache_full(const px_vcache_t *c)
{
    return px_vcache_gen_bytes(&c->gen[0]) >= c->max_bytes / 2;
}

static int
px_vcache_store(px_vcache_gen_t *g, size_t arena_bytes, uint64_t mark,
    const char *val, size_t val_len, int64_t window)
{
    size_t             off = g->arena.len;
    px_vcache_slot_t  *s;

    /* at most 3/4 of the slots taken */
    if ((g->n + 1) * 4 > g->nslots * 3 && px_vcache_grow(g) != 0) {
        return -1;
    }

    if (g->arena.cap == 0 && px_buf_reserve(&g->arena, arena_bytes) != 0) {
        return -1;
    }
    if (px_buf_append(&g->arena, val, val_len) != 0) {
        return -1;
    }

    s = px_vcache_find(g, mark);
    if (s->hash == 0) {
        g->n++;
    }

    /* an update leaves the old bytes in the arena: they count against the
     * bound until the generation is emptied */
    s->hash = mark;
    s->off = (uint32_t) off;
    s->len = (uint32_t) val_len;
    s->window = window;
    return 0;
}

int
px_vcache_put(px_vcache_t *c, uint64_t hash, const char *val,
    size_t val_len, int64_t window)
{
    px_vcache_gen_t  g;

    if (c->max_bytes == 0) {
        return 0;
    }
    if (val_len > c->max_bytes / 4) {
        /* not kept: nor may the field's older value be */
        px_vcache_clear(c);
        return 0;
    }

    if (px_vcache_full(c)) {
        /* the older generation, emptied, becomes the newer one */
        g = c->gen[1];
        c->gen[1] = c->gen[0];
        c->gen[0] = g;
        px_vcache_gen_empty(&c->gen[0]);
        c->drops++;
    }

    if (px_vcache_store(&c->gen[0], c->max_bytes / 2, px_vcache_mark(hash),
                        val, val_len, window) != 0)
    {
        px_vcache_clear(c);
        return -1;
    }
    return 0;
}

int
px_vcache_get(px_vcache_t *c, uint64_t hash, int64_t min_window,
    const char **val, size_t *val_len)
{
    int                 i;
    uint64_t            mark = px_vcache_mark(hash);
    px_vcache_slot_t   *s = NULL;

    for (i = 0; i < 2; i++) {
        s = px_vcache_find(&c->gen[i], mark);
        if (s != NULL && s->hash != 0) {
            break;
        }
    }

    if (i == 2 || s->window < min_window) {
        c->misses++;
        return 0;
    }

    c->hits++;
    *val = c->gen[i].arena.data + s->off;
    *val_len = s->len;

    /* keep a hit of the older generation: copy it into the newer one,
     * unless that would empty the older one (and the bytes of *val) */
    if (i == 1 && !px_vcache_full(c)) {
        if (px_vcache_store(&c->gen[0], c->max_bytes / 2, mark, *val,
                            *val_len, s->window) != 0)
        {
            px_vcache_clear(c);
            return -1;
        }
        s = px_vcache_find(&c->gen[0], mark);
        *val = c->gen[0].arena.data + s->off;
    }
    return 1;
}
