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
px_offsets_list(const char *topic, const px_offsets_t *o, int first)
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
            first ? o->ranges[i].first : o->ranges[i].next;
    }

    return list;
}

int
px_offsets_commit(rd_kafka_t *rk, const char *topic, const px_offsets_t *o,
    char *err, size_t errlen)
{
    rd_kafka_resp_err_t               rc;
    rd_kafka_topic_partition_list_t  *list;

    if (o->n == 0) {
        return 0;
    }

    list = px_offsets_list(topic, o, 0);
    if (list == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    rc = rd_kafka_offsets_store(rk, list);
    if (rc == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rc = rd_kafka_commit(rk, list, 0);
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

    list = px_offsets_list(topic, o, 1);
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
