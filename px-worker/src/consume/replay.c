/*
 * px-worker --replay-dlq (replay.h).  One pass over the DLQ topic: a
 * consumer that assigns every partition (no group offsets used or
 * committed) and a producer to KAFKA_TOPIC whose delivery reports are all
 * waited for.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "monotonic.h"
#include "px_buf.h"
#include "px_time.h"
#include "replay.h"

#define PX_REPLAY_IDLE_MS   30000   /* no message for so long: give up */
#define PX_REPLAY_FLUSH_MS  60000   /* waiting for the delivery reports */

typedef struct {
    unsigned long  selected;
    unsigned long  produced;
    unsigned long  delivered;
    unsigned long  failed;
    unsigned long  skip_source;
    unsigned long  skip_reason;
    unsigned long  skip_time;
    unsigned long  skip_unreadable;
} px_replay_counts_t;

typedef struct {
    const px_config_t        *cfg;
    const px_replay_opts_t   *opts;
    rd_kafka_t               *consumer;
    rd_kafka_t               *producer;
    int64_t                  *high;         /* [partitions] */
    int                      *done;
    int                       partitions;
    px_replay_counts_t        n;
} px_replay_t;

static int
px_replay_time(const char *flag, const char *s, int64_t *ms)
{
    if (px_time_parse_iso(s, strlen(s), ms) != 0) {
        fprintf(stderr, "px-worker: %s: not an ISO-8601 time: \"%s\"\n",
                flag, s);
        return -1;
    }
    return 0;
}

/* One replay flag at argv[i]: how many arguments it takes (1 or 2), 0 when
 * it is not one, -1 when it is wrong. */
static int
px_replay_flag(int argc, char **argv, int i, px_replay_opts_t *o)
{
    const char  *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

    if (strcmp(a, "--replay-dlq") == 0) {
        o->on = 1;
        return 1;
    }
    if (strcmp(a, "--dry-run") == 0) {
        o->dry_run = 1;
        return 1;
    }
    if (strcmp(a, "--include-ingest") == 0) {
        o->include_ingest = 1;
        return 1;
    }
    if (strcmp(a, "--reason") != 0 && strcmp(a, "--since") != 0
        && strcmp(a, "--until") != 0)
    {
        return 0;
    }
    if (v == NULL) {
        fprintf(stderr, "px-worker: %s needs a value\n", a);
        return -1;
    }
    if (strcmp(a, "--reason") == 0) {
        o->reason = v;
        return 2;
    }
    if (px_replay_time(a, v, strcmp(a, "--since") == 0 ? &o->since_ms
                                                       : &o->until_ms) != 0)
    {
        return -1;
    }
    return 2;
}

int
px_replay_args(int *argc, char **argv, px_replay_opts_t *o)
{
    int  i, k, out = 1, flags = 0;

    memset(o, 0, sizeof(*o));
    o->since_ms = INT64_MIN;
    o->until_ms = INT64_MAX;

    for (i = 1; i < *argc; ) {
        /* a setting's value is never taken for a flag */
        if (strcmp(argv[i], "--config") == 0 && i + 1 < *argc) {
            argv[out++] = argv[i++];
            argv[out++] = argv[i++];
            continue;
        }
        k = px_replay_flag(*argc, argv, i, o);
        if (k < 0) {
            return -1;
        }
        if (k == 0) {
            argv[out++] = argv[i++];
            continue;
        }
        flags += strcmp(argv[i], "--replay-dlq") != 0;
        i += k;
    }

    *argc = out;
    argv[out] = NULL;

    if (flags > 0 && !o->on) {
        fprintf(stderr, "px-worker: --reason, --since, --until, --dry-run "
                "and --include-ingest go with --replay-dlq\n");
        return -1;
    }
    return 0;
}

void
px_replay_usage(FILE *out)
{
    fprintf(out,
            "       px-worker --replay-dlq [--reason SUBSTRING] "
            "[--since ISO-TIME] [--until ISO-TIME]\n"
            "                 [--include-ingest] [--dry-run] "
            "[--SETTING VALUE ...]\n"
            "           re-drive the dead letters of KAFKA_DLQ_TOPIC (source "
            "\"worker\") whose reason\n"
            "           contains SUBSTRING and whose time is in "
            "[since, until) to KAFKA_TOPIC, then exit\n");
}

static void
px_replay_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    px_replay_t  *r = opaque;

    (void) rk;
    if (msg->err) {
        fprintf(stderr, "px-worker: re-driven message not delivered: %s\n",
                rd_kafka_err2str(msg->err));
        r->n.failed++;
    } else {
        r->n.delivered++;
    }
}

static rd_kafka_t *
px_replay_client(const px_config_t *cfg, rd_kafka_type_t type, void *opaque)
{
    char              err[512];
    rd_kafka_t       *rk;
    rd_kafka_conf_t  *conf = rd_kafka_conf_new();
    int               c = type == RD_KAFKA_CONSUMER;

    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka_brokers,
                          err, sizeof(err))
        || rd_kafka_conf_set(conf, "client.id", "px-worker-replay-dlq", err,
                             sizeof(err))
        /* the consumer only assigns: its group is never joined nor
         * committed to */
        || (c && (rd_kafka_conf_set(conf, "group.id", "px-worker-replay-dlq",
                                    err, sizeof(err))
                  || rd_kafka_conf_set(conf, "enable.auto.commit", "false",
                                       err, sizeof(err))
                  || rd_kafka_conf_set(conf, "enable.partition.eof", "true",
                                       err, sizeof(err))))
        || (!c && (rd_kafka_conf_set(conf, "acks", "all", err, sizeof(err))
                   || rd_kafka_conf_set(conf, "enable.idempotence", "true",
                                        err, sizeof(err)))))
    {
        fprintf(stderr, "px-worker: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }

    if (!c) {
        rd_kafka_conf_set_opaque(conf, opaque);
        rd_kafka_conf_set_dr_msg_cb(conf, px_replay_dr_cb);
    }

    rk = rd_kafka_new(type, conf, err, sizeof(err));
    if (rk == NULL) {
        fprintf(stderr, "px-worker: %s\n", err);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* Assign every partition of the DLQ topic that holds something, from its
 * beginning; its high watermark is where the pass ends.  0, or -1. */
static int
px_replay_assign(px_replay_t *r)
{
    const char                       *topic = r->cfg->kafka_dlq_topic;
    const struct rd_kafka_metadata   *md = NULL;
    rd_kafka_topic_t                 *rkt;
    rd_kafka_topic_partition_list_t  *list;
    rd_kafka_resp_err_t               rc;
    int64_t                           low;
    int                               i, n;

    rkt = rd_kafka_topic_new(r->consumer, topic, NULL);
    if (rkt == NULL) {
        fprintf(stderr, "px-worker: topic %s\n", topic);
        return -1;
    }
    rc = rd_kafka_metadata(r->consumer, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1
        || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR)
    {
        fprintf(stderr, "px-worker: topic %s: %s\n", topic,
                rd_kafka_err2str(rc != RD_KAFKA_RESP_ERR_NO_ERROR
                                 ? rc : md->topics[0].err));
        if (md != NULL) {
            rd_kafka_metadata_destroy(md);
        }
        return -1;
    }

    n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);

    r->partitions = n;
    r->high = calloc((size_t) n + 1, sizeof(int64_t));
    r->done = calloc((size_t) n + 1, sizeof(int));
    list = rd_kafka_topic_partition_list_new(n > 0 ? n : 1);
    if (r->high == NULL || r->done == NULL || list == NULL) {
        fprintf(stderr, "px-worker: out of memory\n");
        if (list != NULL) {
            rd_kafka_topic_partition_list_destroy(list);
        }
        return -1;
    }

    for (i = 0; i < n; i++) {
        rc = rd_kafka_query_watermark_offsets(r->consumer, topic, i, &low,
                                              &r->high[i], 10000);
        if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "px-worker: %s [%d]: %s\n", topic, i,
                    rd_kafka_err2str(rc));
            rd_kafka_topic_partition_list_destroy(list);
            return -1;
        }
        r->done[i] = r->high[i] <= low;
        if (!r->done[i]) {
            rd_kafka_topic_partition_list_add(list, topic, i)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        }
    }

    rc = list->cnt > 0 ? rd_kafka_assign(r->consumer, list)
                       : RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_destroy(list);
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "px-worker: assign: %s\n", rd_kafka_err2str(rc));
        return -1;
    }
    return 0;
}

/* Write v as JSON (the message re-driven: equal to the one dead-lettered,
 * member for member; numbers keep their digits). */
static int
px_replay_gen(yajl_gen g, yajl_val v)
{
    size_t  i;
    int     rc = 0;

    switch (v->type) {
    case yajl_t_string:
        return yajl_gen_string(g, (const unsigned char *) v->u.string,
                               strlen(v->u.string));
    case yajl_t_number:
        return yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
    case yajl_t_object:
        rc = yajl_gen_map_open(g);
        for (i = 0; rc == 0 && i < v->u.object.len; i++) {
            rc = yajl_gen_string(g, (const unsigned char *)
                                 v->u.object.keys[i],
                                 strlen(v->u.object.keys[i]))
                 || px_replay_gen(g, v->u.object.values[i]);
        }
        return rc || yajl_gen_map_close(g);
    case yajl_t_array:
        rc = yajl_gen_array_open(g);
        for (i = 0; rc == 0 && i < v->u.array.len; i++) {
            rc = px_replay_gen(g, v->u.array.values[i]);
        }
        return rc || yajl_gen_array_close(g);
    case yajl_t_true:
        return yajl_gen_bool(g, 1);
    case yajl_t_false:
        return yajl_gen_bool(g, 0);
    default:
        return yajl_gen_null(g);
    }
}

static const char *
px_replay_member(yajl_val obj, const char *name)
{
    const char  *path[] = { name, NULL };
    yajl_val     v = yajl_tree_get(obj, path, yajl_t_string);

    return v != NULL && v->u.string[0] != '\0' ? v->u.string : NULL;
}

/* The module's key: "<project_id>/<anonymous_id, else user_id, else
 * event_id>"; the dead letter's own key when the message lacks them. */
static int
px_replay_key(yajl_val message, const rd_kafka_message_t *dl, px_buf_t *key)
{
    const char  *project = NULL, *id = NULL;

    if (YAJL_IS_OBJECT(message)) {
        project = px_replay_member(message, "project_id");
        id = px_replay_member(message, "anonymous_id");
        id = id != NULL ? id : px_replay_member(message, "user_id");
        id = id != NULL ? id : px_replay_member(message, "event_id");
    }

    if (project == NULL || id == NULL) {
        return px_buf_append(key, dl->key, dl->key_len);
    }
    return px_buf_append_str(key, project) || px_buf_append(key, "/", 1)
           || px_buf_append_str(key, id);
}

/* Whether the record is selected; counted as skipped when not. */
static int
px_replay_select(px_replay_t *r, yajl_val rec)
{
    const char  *source = px_replay_member(rec, "source");
    const char  *reason = px_replay_member(rec, "reason");
    const char  *at = px_replay_member(rec, "at");
    int64_t      at_ms;

    if (source == NULL || reason == NULL || at == NULL
        || px_time_parse_iso(at, strlen(at), &at_ms) != 0)
    {
        r->n.skip_unreadable++;
        return 0;
    }
    if (strcmp(source, "worker") != 0
        && !(r->opts->include_ingest && strcmp(source, "ingest") == 0))
    {
        r->n.skip_source++;
        return 0;
    }
    if (r->opts->reason != NULL && strstr(reason, r->opts->reason) == NULL) {
        r->n.skip_reason++;
        return 0;
    }
    if (at_ms < r->opts->since_ms || at_ms >= r->opts->until_ms) {
        r->n.skip_time++;
        return 0;
    }
    return 1;
}

/* Produce value (key, origin header) to KAFKA_TOPIC.  0, or -1. */
static int
px_replay_produce(px_replay_t *r, const px_buf_t *key, const char *value,
    size_t len, const char *origin)
{
    rd_kafka_headers_t   *hdrs = rd_kafka_headers_new(1);
    rd_kafka_resp_err_t   rc;

    if (hdrs == NULL) {
        return -1;
    }
    if (origin != NULL) {
        rd_kafka_header_add(hdrs, "px-origin", -1, origin, -1);
    }

    for ( ;; ) {
        rc = rd_kafka_producev(r->producer,
                               RD_KAFKA_V_TOPIC(r->cfg->kafka_topic),
                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                               RD_KAFKA_V_KEY(key->data, key->len),
                               RD_KAFKA_V_VALUE((void *) value, len),
                               RD_KAFKA_V_HEADERS(hdrs),
                               RD_KAFKA_V_END);
        if (rc != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            break;
        }
        rd_kafka_poll(r->producer, 100);
    }

    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* the headers are ours again */
        rd_kafka_headers_destroy(hdrs);
        fprintf(stderr, "px-worker: produce: %s\n", rd_kafka_err2str(rc));
        return -1;
    }
    r->n.produced++;
    rd_kafka_poll(r->producer, 0);
    return 0;
}

/* The message of a selected record: "message" (a row's original), else
 * "payload" (JSON, or a string: the bytes that were not JSON). */
static int
px_replay_redrive(px_replay_t *r, yajl_val rec, const rd_kafka_message_t *dl)
{
    const char      *pm[] = { "message", NULL }, *pp[] = { "payload", NULL };
    const unsigned char  *out;
    size_t           len;
    int              rc = -1;
    px_buf_t         key;
    yajl_gen         g;
    yajl_val         msg = yajl_tree_get(rec, pm, yajl_t_object);

    msg = msg != NULL ? msg : yajl_tree_get(rec, pp, yajl_t_any);
    if (msg == NULL) {
        r->n.skip_unreadable++;
        return 0;
    }

    r->n.selected++;
    if (r->opts->dry_run) {
        return 0;
    }

    px_buf_init(&key, NULL, 0);
    g = yajl_gen_alloc(NULL);
    if (g == NULL || px_replay_key(msg, dl, &key) != 0) {
        goto done;
    }

    if (YAJL_IS_STRING(msg)) {
        out = (const unsigned char *) msg->u.string;
        len = strlen(msg->u.string);
    } else if (px_replay_gen(g, msg) != 0
               || yajl_gen_get_buf(g, &out, &len) != yajl_gen_status_ok)
    {
        goto done;
    }

    rc = px_replay_produce(r, &key, (const char *) out, len,
                           px_replay_member(rec, "origin"));

done:
    if (rc != 0) {
        r->n.failed++;
    }
    if (g != NULL) {
        yajl_gen_free(g);
    }
    px_buf_free(&key);
    return rc;
}

/* One dead letter. */
static void
px_replay_one(px_replay_t *r, const rd_kafka_message_t *dl)
{
    char      errbuf[128], *text;
    yajl_val  rec;

    text = malloc(dl->len + 1);
    if (text == NULL) {
        fprintf(stderr, "px-worker: out of memory\n");
        r->n.failed++;
        return;
    }
    memcpy(text, dl->payload, dl->len);
    text[dl->len] = '\0';
    rec = yajl_tree_parse(text, errbuf, sizeof(errbuf));
    free(text);

    if (rec == NULL || !YAJL_IS_OBJECT(rec)) {
        r->n.skip_unreadable++;
    } else if (px_replay_select(r, rec)) {
        (void) px_replay_redrive(r, rec, dl);
    }
    yajl_tree_free(rec);
}

static int
px_replay_all_done(const px_replay_t *r)
{
    int  i;

    for (i = 0; i < r->partitions; i++) {
        if (!r->done[i]) {
            return 0;
        }
    }
    return 1;
}

/* Read every assigned partition up to its high watermark.  0, or -1. */
static int
px_replay_read(px_replay_t *r)
{
    int64_t              idle = px_monotonic_ms() + PX_REPLAY_IDLE_MS;
    rd_kafka_message_t  *m;

    while (!px_replay_all_done(r)) {
        if (px_monotonic_ms() > idle) {
            fprintf(stderr, "px-worker: %s: nothing read for %d s before "
                    "its end\n", r->cfg->kafka_dlq_topic,
                    PX_REPLAY_IDLE_MS / 1000);
            return -1;
        }
        m = rd_kafka_consumer_poll(r->consumer, 500);
        rd_kafka_poll(r->producer, 0);
        if (m == NULL) {
            continue;
        }
        if (m->partition >= 0 && m->partition < r->partitions) {
            idle = px_monotonic_ms() + PX_REPLAY_IDLE_MS;
            if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR
                && m->offset < r->high[m->partition])
            {
                px_replay_one(r, m);
            }
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF
                || (m->err == RD_KAFKA_RESP_ERR_NO_ERROR
                    && m->offset + 1 >= r->high[m->partition]))
            {
                r->done[m->partition] = 1;
            }
        }
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR
            && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        {
            fprintf(stderr, "px-worker: %s\n", rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
    }
    return 0;
}

static void
px_replay_report(const px_replay_t *r)
{
    printf("px-worker: replay-dlq %s: selected=%lu %s=%lu failed=%lu "
           "skipped: source=%lu reason=%lu time=%lu unreadable=%lu\n",
           r->cfg->kafka_dlq_topic, r->n.selected,
           r->opts->dry_run ? "would_redrive" : "redriven",
           r->opts->dry_run ? r->n.selected : r->n.delivered, r->n.failed,
           r->n.skip_source, r->n.skip_reason, r->n.skip_time,
           r->n.skip_unreadable);
    fflush(stdout);
}

int
px_replay_run(const px_config_t *cfg, const px_replay_opts_t *o)
{
    int          rc = -1;
    px_replay_t  r;

    memset(&r, 0, sizeof(r));
    r.cfg = cfg;
    r.opts = o;

    r.consumer = px_replay_client(cfg, RD_KAFKA_CONSUMER, &r);
    r.producer = px_replay_client(cfg, RD_KAFKA_PRODUCER, &r);
    if (r.consumer != NULL && r.producer != NULL
        && px_replay_assign(&r) == 0)
    {
        rc = px_replay_read(&r);
    }

    if (r.producer != NULL) {
        /* every delivery report: a message not acknowledged is a failure */
        if (rd_kafka_flush(r.producer, PX_REPLAY_FLUSH_MS)
            != RD_KAFKA_RESP_ERR_NO_ERROR)
        {
            r.n.failed += (unsigned long) rd_kafka_outq_len(r.producer);
        }
        rd_kafka_destroy(r.producer);
    }
    if (r.consumer != NULL) {
        rd_kafka_consumer_close(r.consumer);
        rd_kafka_destroy(r.consumer);
    }
    free(r.high);
    free(r.done);

    px_replay_report(&r);
    return rc == 0 && r.n.failed == 0 ? 0 : 1;
}
