#include <stdio.h>
#include <string.h>

#include "log.h"
#include "offsets.h"

void
px_offsets_clear(px_offsets_t *o)
{
    o->n = 0;
    o->messages = 0;
}

int
px_offsets_track(px_offsets_t *o, int32_t partition, int64_t offset)
{
    size_t  i;

    o->messages++;

    for (i = 0; i < o->n; i++) {
        if (o->ranges[i].partition == partition) {
            if (offset + 1 > o->ranges[i].next) {
                o->ranges[i].next = offset + 1;
            }
            return 0;
        }
    }

    if (o->n == PX_OFFSETS_MAX_PARTITIONS) {
        return -1;
    }

    o->ranges[o->n].partition = partition;
    o->ranges[o->n].first = offset;
    o->ranges[o->n].next = offset + 1;
    o->n++;
    return 0;
}

static rd_kafka_topic_partition_list_t *
px_offsets_list(const char *topic, const px_offsets_t *o)
{
    size_t                            i;
    rd_kafka_topic_partition_list_t  *list;

    list = rd_kafka_topic_partition_list_new((int) o->n);
    if (list == NULL) {
        return NULL;
    }

    for (i = 0; i < o->n; i++) {
        rd_kafka_topic_partition_list_add(list, topic,
                                          o->ranges[i].partition)->offset =
            o->ranges[i].first;
    }

    return list;
}

/* The index of partition in o, or -1. */
static int
px_offsets_find(const px_offsets_t *o, int32_t partition)
{
    size_t  i;

    for (i = 0; i < o->n; i++) {
        if (o->ranges[i].partition == partition) {
            return (int) i;
        }
    }

    return -1;
}

static void
px_offsets_remove(px_offsets_t *o, size_t i)
{
    o->ranges[i] = o->ranges[o->n - 1];
    o->n--;
}

int
px_offsets_lower(px_offsets_t *floor, const px_offsets_t *o)
{
    int     j;
    size_t  i;

    for (i = 0; i < o->n; i++) {
        j = px_offsets_find(floor, o->ranges[i].partition);
        if (j >= 0) {
            if (o->ranges[i].first < floor->ranges[j].first) {
                floor->ranges[j].first = o->ranges[i].first;
            }
            continue;
        }
        if (floor->n == PX_OFFSETS_MAX_PARTITIONS) {
            return -1;
        }
        floor->ranges[floor->n++] = o->ranges[i];
    }

    return 0;
}

int
px_offsets_merge(px_offsets_t *held, const px_offsets_t *o)
{
    int     j;
    size_t  i;

    held->messages += o->messages;

    for (i = 0; i < o->n; i++) {
        j = px_offsets_find(held, o->ranges[i].partition);
        if (j < 0) {
            if (held->n == PX_OFFSETS_MAX_PARTITIONS) {
                return -1;
            }
            held->ranges[held->n++] = o->ranges[i];
            continue;
        }
        if (o->ranges[i].first < held->ranges[j].first) {
            held->ranges[j].first = o->ranges[i].first;
        }
        if (o->ranges[i].next > held->ranges[j].next) {
            held->ranges[j].next = o->ranges[i].next;
        }
    }

    return 0;
}

void
px_offsets_forget(px_offsets_t *o,
    const rd_kafka_topic_partition_list_t *parts)
{
    int  i, j;

    if (parts == NULL) {
        px_offsets_clear(o);
        return;
    }

    for (i = 0; i < parts->cnt; i++) {
        j = px_offsets_find(o, parts->elems[i].partition);
        if (j >= 0) {
            px_offsets_remove(o, (size_t) j);
        }
    }
}

/*
 * Whether range r may be committed given the floor (the lowest offset not
 * stored of each partition).  A range starting at or below the floor has
 * read the hole again: the floor goes.  One starting above it must not be
 * committed (that would pass a message never stored), unless retention
 * deleted the hole meanwhile.
 */
static int
px_offsets_above_floor(rd_kafka_t *rk, const char *topic,
    const px_offset_range_t *r, px_offsets_t *floor)
{
    int      j;
    int64_t  low = -1, high = -1;

    j = floor != NULL ? px_offsets_find(floor, r->partition) : -1;
    if (j < 0) {
        return 1;
    }

    if (r->first <= floor->ranges[j].first
        || (rd_kafka_get_watermark_offsets(rk, topic, r->partition, &low,
                                           &high)
                == RD_KAFKA_RESP_ERR_NO_ERROR
            && low > floor->ranges[j].first))
    {
        px_offsets_remove(floor, (size_t) j);
        return 1;
    }

    px_log(PX_LOG_ERROR, "consumer", "partition %d: not committing %lld: "
           "offset %lld was not stored (it is read again at the next "
           "rebalance or start)", (int) r->partition, (long long) r->next,
           (long long) floor->ranges[j].first);
    return 0;
}

int
px_offsets_commit(rd_kafka_t *rk, const char *topic, const px_offsets_t *o,
    px_offsets_t *floor, char *err, size_t errlen)
{
    size_t                            i;
    rd_kafka_resp_err_t               rc;
    rd_kafka_topic_partition_list_t  *list;

    if (o->n == 0) {
        return 0;
    }

    list = rd_kafka_topic_partition_list_new((int) o->n);
    if (list == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    for (i = 0; i < o->n; i++) {
        if (px_offsets_above_floor(rk, topic, &o->ranges[i], floor)) {
            rd_kafka_topic_partition_list_add(list, topic,
                o->ranges[i].partition)->offset = o->ranges[i].next;
        }
    }

    rc = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (list->cnt > 0) {
        rc = rd_kafka_offsets_store(rk, list);
        if (rc == RD_KAFKA_RESP_ERR_NO_ERROR) {
            rc = rd_kafka_commit(rk, list, 0);
        }
    }

    rd_kafka_topic_partition_list_destroy(list);

    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "commit failed: %s", rd_kafka_err2str(rc));
        return -1;
    }

    return 0;
}

void
px_offsets_rewind(rd_kafka_t *rk, const char *topic, const px_offsets_t *o)
{
    int                               i, j;
    rd_kafka_error_t                 *error;
    rd_kafka_topic_partition_list_t  *list, *assigned, *seek;

    if (o->n == 0 || rd_kafka_assignment(rk, &assigned) != 0) {
        return;
    }

    list = px_offsets_list(topic, o);
    seek = rd_kafka_topic_partition_list_new((int) o->n);

    for (i = 0; list != NULL && seek != NULL && i < list->cnt; i++) {
        for (j = 0; j < assigned->cnt; j++) {
            if (assigned->elems[j].partition == list->elems[i].partition
                && strcmp(assigned->elems[j].topic, topic) == 0)
            {
                rd_kafka_topic_partition_list_add(seek, topic,
                                     list->elems[i].partition)->offset =
                    list->elems[i].offset;
            }
        }
    }

    if (seek != NULL && seek->cnt > 0) {
        error = rd_kafka_seek_partitions(rk, seek, 5000);
        if (error != NULL) {
            px_log(PX_LOG_ERROR, "consumer", "rewind failed: %s",
                   rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
        }
    }

    if (seek != NULL) {
        rd_kafka_topic_partition_list_destroy(seek);
    }
    if (list != NULL) {
        rd_kafka_topic_partition_list_destroy(list);
    }
    rd_kafka_topic_partition_list_destroy(assigned);
}
