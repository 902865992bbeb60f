#include <stdlib.h>
#include <string.h>

#include "dedupe.h"

static const char *
px_str(const char *s)
{
    return s != NULL ? s : "";
}

/* FNV-1a over project_id, a NUL, event_id. */
static uint64_t
px_event_hash(const px_event_row_t *row)
{
    uint64_t              h = 1469598103934665603ULL;
    const unsigned char  *p;

    for (p = (const unsigned char *) px_str(row->msg.project_id); *p; p++) {
        h = (h ^ *p) * 1099511628211ULL;
    }
    h = h * 1099511628211ULL;
    for (p = (const unsigned char *) px_str(row->msg.event_id); *p; p++) {
        h = (h ^ *p) * 1099511628211ULL;
    }

    /* FNV's low bits are weak for power-of-two tables: mix */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static int
px_same_event(const px_event_row_t *a, const px_event_row_t *b)
{
    return strcmp(px_str(a->msg.event_id), px_str(b->msg.event_id)) == 0
           && strcmp(px_str(a->msg.project_id),
                     px_str(b->msg.project_id)) == 0;
}

void
px_dedupe_init(px_dedupe_t *d)
{
    d->slots = NULL;
    d->cap = 0;
}

void
px_dedupe_free(px_dedupe_t *d)
{
    free(d->slots);
    px_dedupe_init(d);
}

long
px_dedupe_batch(px_dedupe_t *d, const px_event_row_t *rows, size_t n,
    unsigned char *dup)
{
    long     marked;
    size_t   i, j, cap, mask;
    size_t  *slots;

    /* at most half full */
    for (cap = 16; cap < n * 2; cap *= 2) {
        if (cap > SIZE_MAX / 4) {
            return -1;
        }
    }

    if (cap > d->cap) {
        slots = realloc(d->slots, cap * sizeof(size_t));
        if (slots == NULL) {
            return -1;
        }
        d->slots = slots;
        d->cap = cap;
    }

    cap = d->cap;
    mask = cap - 1;
    memset(d->slots, 0, cap * sizeof(size_t));
    marked = 0;

    for (i = 0; i < n; i++) {
        if (dup[i]) {
            continue;
        }

        for (j = (size_t) px_event_hash(&rows[i]) & mask;
             d->slots[j] != 0;
             j = (j + 1) & mask)
        {
            if (px_same_event(&rows[d->slots[j] - 1], &rows[i])) {
                break;
            }
        }

        if (d->slots[j] != 0) {
            dup[i] = 1;
            marked++;
        } else {
            d->slots[j] = i + 1;
        }
    }

    return marked;
}

int
px_dedupe_key(px_buf_t *out, const char *prefix, const px_event_row_t *row)
{
    const char  *project = px_str(row->msg.project_id);

    return px_buf_append_str(out, prefix)
           || px_buf_append(out, "e:", 2)
           || px_buf_append_i64(out, (int64_t) strlen(project))
           || px_buf_append(out, ":", 1)
           || px_buf_append_str(out, project)
           || px_buf_append(out, ":", 1)
           || px_buf_append_str(out, px_str(row->msg.event_id));
}

int
px_dedupe_origin(px_buf_t *out, const px_stage_origin_t *o)
{
    return px_buf_append_i64(out, o->partition)
           || px_buf_append(out, ":", 1)
           || px_buf_append_i64(out, o->offset);
}
