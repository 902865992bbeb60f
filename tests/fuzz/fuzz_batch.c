/*
 * libFuzzer harness over the ingest path of ngx_http_px_body.c and
 * ngx_http_px_batch.c, without nginx:
 *
 *   body --(gzip magic?)--> px_inflate (1 MiB cap, ratio 100) --> parser
 *        \----------------(plain)-----------------------------/
 *   parser fed in chunks whose sizes come from the input, then for every
 *   event: px_message_value, px_message_key and, for a rejected event,
 *   px_message_dead_letter (the module puts the value in as JSON).
 *
 * Invariants (abort() with a message when one breaks):
 *   - status codes in range, codes and messages are strings;
 *   - events <= max_events, every event's kept JSON <= max_event_bytes,
 *     offsets inside the batch buffers, nrejected == events with an error;
 *   - the inflater never hands on more than the cap, nor more than
 *     ratio x input once past 64 KiB;
 *   - every message value and dead letter is valid JSON (yajl, UTF-8
 *     checked) and an object; a value has each server member exactly once
 *     and none a client may not set; the key is "<project>/<visitor|id>";
 *   - the event time is within [0, received_at];
 *   - chunking does not matter: one feed of the same bytes gives the same
 *     status and the same events.
 *
 * Build: see tests/fuzz/Makefile (clang -fsanitize=fuzzer,address,undefined).
 * The input is the raw request body; chunk sizes, the limit profile and the
 * server info come from a hash of it, so seed files stay plain bodies.
 *
 * The bugs it found are fixed; their reproducers stay as regression inputs
 * (tests/fuzz/corpus/crash-*, tests/fuzz/README.md).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

#include "px_batch.h"
#include "px_buf.h"
#include "px_inflate.h"
#include "px_limits.h"
#include "px_message.h"
#include "px_uuid.h"

#define FUZZ_MAX_INFLATED  (1024 * 1024)
#define FUZZ_MAX_RATIO     100
#define FUZZ_RATIO_FLOOR   (64 * 1024)      /* px_inflate: no ratio below */
#define FUZZ_MAX_MS        INT64_C(253402300799999)  /* 9999-12-31 */

/* px_event_t.seen bits (private to px_batch.c) */
#define FUZZ_F_EVENT       0x01
#define FUZZ_F_EVENT_ID    0x02

static void
fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list  ap;

    fprintf(stderr, "\n*** PX FUZZ INVARIANT BROKEN at %s:%d: %s\n    ",
            file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    abort();
}

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                \
        }                                                                     \
    } while (0)

/* ---- deterministic randomness from the input ---------------------------- */

typedef struct {
    uint64_t  s;
} fuzz_rng_t;

static uint64_t
rng_next(fuzz_rng_t *r)
{
    uint64_t  z = (r->s += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t
fnv1a(const uint8_t *p, size_t n)
{
    uint64_t  h = UINT64_C(0xcbf29ce484222325);
    size_t    i;

    for (i = 0; i < n; i++) {
        h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    }

    return h ^ n;
}

/* Mostly tiny chunks (token boundaries), some larger, sometimes the rest. */
static size_t
chunk_len(fuzz_rng_t *r, size_t left)
{
    uint64_t  x = rng_next(r);
    size_t    n;

    switch (x & 7) {
    case 0: case 1: case 2:
        n = 1 + (x >> 8) % 4;
        break;
    case 3: case 4:
        n = 1 + (x >> 8) % 64;
        break;
    case 5: case 6:
        n = 1 + (x >> 8) % 4096;
        break;
    default:
        n = left;
    }

    return n < left ? n : left;
}

/* ---- limit profiles (all within what nginx -t accepts) ------------------ */

static void
pick_limits(fuzz_rng_t *r, px_limits_t *lim)
{
    px_limits_default(lim);

    switch (rng_next(r) % 4) {
    case 2:                     /* tight: every limit is reachable */
        lim->max_events = 3;
        lim->max_event_bytes = 96;
        lim->max_depth = 4;
        lim->max_keys = 3;
        lim->max_string = 16;
        lim->max_name = 8;
        lim->max_id = 8;
        break;
    case 3:                     /* loose: deep and large */
        lim->max_events = 2000;
        lim->max_event_bytes = FUZZ_MAX_INFLATED;
        lim->max_depth = PX_LIMIT_DEPTH_MAX;
        lim->max_keys = 4096;
        lim->max_string = FUZZ_MAX_INFLATED;
        lim->max_name = 1000;
        lim->max_id = 1000;
        break;
    default:                    /* the defaults, twice as often */
        break;
    }
}

/* ---- an allocator for zlib that can be told to fail --------------------- */

typedef struct {
    unsigned  n;
    unsigned  fail_at;          /* 0: never */
    unsigned  failed;
} fuzz_alloc_ctx_t;

static void *
fa_malloc(void *ctx, size_t size)
{
    fuzz_alloc_ctx_t  *c = ctx;

    if (c->fail_at != 0 && ++c->n >= c->fail_at) {
        c->failed = 1;
        return NULL;
    }
    return malloc(size);
}

static void *
fa_realloc(void *ctx, void *p, size_t size)
{
    fuzz_alloc_ctx_t  *c = ctx;

    if (c->fail_at != 0 && ++c->n >= c->fail_at) {
        c->failed = 1;
        return NULL;
    }
    return realloc(p, size);
}

static void
fa_free(void *ctx, void *p)
{
    (void) ctx;
    free(p);
}

/* ---- JSON checks ---------------------------------------------------------- */

static void
dump_json(const char *what, const char *s, size_t n)
{
    fprintf(stderr, "%s (%zu bytes): %.*s\n", what, n,
            (int) (n > 2048 ? 2048 : n), s);
}

/* 1 when s[0..n) is one complete, valid JSON text (UTF-8 checked). */
static int
json_valid(const char *s, size_t n)
{
    yajl_handle  h;
    yajl_status  st;

    h = yajl_alloc(NULL, NULL, NULL);
    CHECK(h != NULL, "yajl_alloc failed");

    st = yajl_parse(h, (const unsigned char *) s, n);
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    yajl_free(h);
    return st == yajl_status_ok;
}

static size_t
count_key(yajl_val obj, const char *key)
{
    size_t  i, n = 0;

    for (i = 0; i < obj->u.object.len; i++) {
        if (strcmp(obj->u.object.keys[i], key) == 0) {
            n++;
        }
    }
    return n;
}

static yajl_val
get_key(yajl_val obj, const char *key)
{
    size_t  i;

    for (i = 0; i < obj->u.object.len; i++) {
        if (strcmp(obj->u.object.keys[i], key) == 0) {
            return obj->u.object.values[i];
        }
    }
    return NULL;
}

/* The shape of a message value (buf NUL-terminated, already valid JSON). */
static void
check_value_shape(const px_buf_t *v, const px_event_t *ev, unsigned clamped)
{
    static const char  *once[] = {
        "event_id", "timestamp", "client_timestamp", "project_id",
        "received_at", "ip", "user_agent", "schema_version"
    };
    static const char  *never[] = { "sent_at" };
    static const char  *client_once[] = {
        "event", "anonymous_id", "user_id", "properties", "context"
    };
    char                err[256];
    yajl_val            root, x;
    size_t              i;

    err[0] = '\0';
    root = yajl_tree_parse(v->data, err, sizeof(err));
    if (root == NULL) {
        dump_json("value", v->data, v->len);
    }
    CHECK(root != NULL, "yajl_tree_parse: %s", err);
    CHECK(YAJL_IS_OBJECT(root), "the value is not an object");

    for (i = 0; i < sizeof(once) / sizeof(once[0]); i++) {
        if (count_key(root, once[i]) != 1) {
            dump_json("value", v->data, v->len);
        }
        CHECK(count_key(root, once[i]) == 1, "\"%s\" appears %zu times",
              once[i], count_key(root, once[i]));
    }

    for (i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        CHECK(count_key(root, never[i]) == 0, "\"%s\" in the value",
              never[i]);
    }

    CHECK(count_key(root, "timestamp_clamped") == (clamped ? 1u : 0u),
          "timestamp_clamped present %zu times, clamped %u",
          count_key(root, "timestamp_clamped"), clamped);

    if (ev->error == NULL) {
        for (i = 0; i < sizeof(client_once) / sizeof(client_once[0]); i++) {
            CHECK(count_key(root, client_once[i]) <= 1,
                  "valid event with \"%s\" %zu times", client_once[i],
                  count_key(root, client_once[i]));
        }
        x = get_key(root, "event");
        CHECK(x != NULL && YAJL_IS_STRING(x), "valid event without a name");
    }

    x = get_key(root, "event_id");
    CHECK(YAJL_IS_STRING(x) && strcmp(x->u.string, ev->event_id) == 0,
          "event_id in the value is not the event's");

    x = get_key(root, "schema_version");
    CHECK(YAJL_IS_INTEGER(x) && YAJL_GET_INTEGER(x) == PX_SCHEMA_VERSION,
          "schema_version");

    yajl_tree_free(root);
}

/* ---- the body path (ngx_http_px_body.c) ----------------------------------- */

typedef struct {
    px_batch_parser_t  *parser;
    px_batch_status_t   st;
    fuzz_rng_t         *rng;
    px_buf_t           *seen;       /* every byte handed to the parser */
    px_inflate_t       *z;
    size_t              in_fed;     /* gzip bytes given to the inflater */
    size_t              out_seen;   /* bytes the inflater handed on */
} fuzz_body_t;

static px_batch_status_t
feed_parser(fuzz_body_t *fb, const uint8_t *p, size_t len)
{
    size_t  n;

    CHECK(px_buf_append(fb->seen, p, len) == 0, "out of memory (harness)");

    while (len > 0) {
        n = chunk_len(fb->rng, len);
        fb->st = px_batch_feed(fb->parser, p, n);
        CHECK(fb->st >= PX_BATCH_OK && fb->st <= PX_BATCH_ERR_NOMEM,
              "px_batch_feed returned %d", (int) fb->st);
        if (fb->st != PX_BATCH_OK) {
            return fb->st;
        }
        p += n;
        len -= n;
    }

    return PX_BATCH_OK;
}

static int
fuzz_sink(void *ctx, const void *data, size_t len)
{
    fuzz_body_t  *fb = ctx;

    CHECK(len > 0, "the inflater handed on an empty chunk");
    fb->out_seen += len;

    CHECK(fb->out_seen <= FUZZ_MAX_INFLATED,
          "inflater handed on %zu bytes, over the %d cap", fb->out_seen,
          FUZZ_MAX_INFLATED);
    CHECK(fb->out_seen <= FUZZ_RATIO_FLOOR
          || fb->out_seen / FUZZ_MAX_RATIO <= fb->in_fed,
          "inflater handed on %zu bytes from %zu, over ratio %d",
          fb->out_seen, fb->in_fed, FUZZ_MAX_RATIO);
    CHECK(fb->z->out_total == fb->out_seen,
          "out_total %zu, handed on %zu", fb->z->out_total, fb->out_seen);

    return feed_parser(fb, data, len) == PX_BATCH_OK ? 0 : -1;
}

/* ---- checks on a parsed batch --------------------------------------------- */

static void
check_batch(const px_batch_t *b, const px_limits_t *lim, int complete)
{
    size_t             i, rejected = 0, prev_end = 0;
    const px_event_t  *ev;
    const char        *c;
    int64_t            max_ms = FUZZ_MAX_MS;

    CHECK(b->nevents <= lim->max_events, "%zu events, limit %zu",
          b->nevents, lim->max_events);
    CHECK(b->nevents <= b->cap, "nevents %zu > cap %zu", b->nevents, b->cap);
    CHECK(b->json.len <= b->json.cap && b->aux.len <= b->aux.cap,
          "buffer len over cap");
    CHECK(b->sent_at_ms >= -1 && b->sent_at_ms <= max_ms,
          "sent_at_ms %lld", (long long) b->sent_at_ms);

    for (i = 0; i < b->nevents; i++) {
        ev = &b->events[i];

        if (!complete && i == b->nevents - 1) {
            break;              /* the parse may have stopped inside it */
        }

        CHECK(ev->len <= lim->max_event_bytes,
              "event %zu: %zu bytes of JSON, limit %zu", i, ev->len,
              lim->max_event_bytes);
        CHECK(ev->off >= prev_end && ev->off <= b->json.len
              && ev->len <= b->json.len - ev->off,
              "event %zu: off %zu len %zu, json %zu, previous end %zu",
              i, ev->off, ev->len, b->json.len, prev_end);
        prev_end = ev->off + ev->len;

        CHECK(ev->visitor_off <= b->aux.len
              && ev->visitor_len <= b->aux.len - ev->visitor_off,
              "event %zu: visitor off %zu len %zu, aux %zu", i,
              ev->visitor_off, ev->visitor_len, b->aux.len);
        CHECK(ev->visitor_len <= lim->max_id, "event %zu: visitor %zu bytes",
              i, ev->visitor_len);
        CHECK(ev->ts_ms >= -1 && ev->ts_ms <= max_ms,
              "event %zu: ts_ms %lld", i, (long long) ev->ts_ms);
        CHECK(memchr(ev->event_id, '\0', sizeof(ev->event_id)) != NULL,
              "event %zu: event_id not terminated", i);

        if (ev->error != NULL) {
            rejected++;
            CHECK(ev->error[0] != '\0', "event %zu: empty reason", i);
            for (c = ev->error; *c; c++) {
                CHECK((*c >= 'a' && *c <= 'z') || *c == '_',
                      "event %zu: reason \"%s\" is not a code", i, ev->error);
            }
            continue;
        }

        CHECK(ev->seen & FUZZ_F_EVENT, "event %zu valid without a name", i);
        CHECK(strlen(ev->event_id) == PX_UUID_LEN
              && px_uuid_valid(ev->event_id, PX_UUID_LEN),
              "event %zu: valid with event_id \"%s\"", i, ev->event_id);
        CHECK(ev->id_generated == !(ev->seen & FUZZ_F_EVENT_ID),
              "event %zu: id_generated %u, seen %#x", i, ev->id_generated,
              ev->seen);
    }

    if (complete) {
        CHECK(rejected == b->nrejected, "%zu events with an error, "
              "nrejected %zu", rejected, b->nrejected);
    }
}

/* The messages the module builds from an accepted batch. */
static void
check_messages(const px_batch_t *b, const px_limits_t *lim, fuzz_rng_t *r,
    const uint8_t *raw, size_t raw_len)
{
    static const char   ua[] = "Mozilla/5.0 \"quoted\" back\\slash \x01\xff\xc3";
    static const char   project[] = "proj_fuzz";
    px_server_info_t    srv;
    px_buf_t            value, key, dlq;
    const px_event_t   *ev;
    size_t              i, cap, klen;
    int64_t             t;
    unsigned            clamped;
    int                 rc, terminated, value_ok;

    srv.project_id = project;
    srv.project_id_len = sizeof(project) - 1;
    srv.received_ms = (int64_t) (rng_next(r) % (uint64_t) FUZZ_MAX_MS);
    srv.ip = "203.0.113.7";
    srv.ip_len = 11;
    srv.user_agent = ua;
    srv.user_agent_len = sizeof(ua) - 1;

    /* now and then a small cap, so the error paths run too */
    cap = (rng_next(r) % 8 == 0) ? 1 + rng_next(r) % 512 : 0;

    px_buf_init(&value, NULL, cap);
    px_buf_init(&key, NULL, cap);
    px_buf_init(&dlq, NULL, cap);

    for (i = 0; i < b->nevents; i++) {
        ev = &b->events[i];
        value.len = 0;
        key.len = 0;
        dlq.len = 0;

        t = px_message_event_time(b, ev, srv.received_ms, &clamped);
        CHECK(t >= 0 && t <= srv.received_ms, "event %zu: time %lld, "
              "received %lld", i, (long long) t, (long long) srv.received_ms);
        CHECK(clamped <= 1, "clamped %u", clamped);

        rc = px_message_value(b, ev, &srv, &value);
        value_ok = rc == 0;
        CHECK(value.len <= value.max, "value over its cap");
        if (rc == 0) {
            terminated = px_buf_terminate(&value) == 0;
            CHECK(terminated || cap != 0, "px_buf_terminate failed uncapped");
            if (!json_valid(value.data, value.len)) {
                dump_json("value", value.data, value.len);
                fprintf(stderr, "event %zu, error %s\n", i,
                        ev->error ? ev->error : "(none, accepted)");
                CHECK(0, "event %zu: the message value is not valid JSON", i);
            }
            if (terminated) {
                check_value_shape(&value, ev, clamped);
            }
            /* never much more than the event plus the server's members */
            CHECK(value.len <= ev->len + 512 + 6 * srv.user_agent_len,
                  "event %zu: value %zu bytes from %zu", i, value.len,
                  ev->len);
        } else {
            CHECK(cap != 0, "event %zu: px_message_value failed uncapped", i);
        }

        rc = px_message_key(b, ev, &srv, &key);
        if (rc == 0) {
            klen = ev->visitor_len != 0 ? ev->visitor_len
                                        : strlen(ev->event_id);
            CHECK(key.len == srv.project_id_len + 1 + klen
                  && memcmp(key.data, project, srv.project_id_len) == 0
                  && key.data[srv.project_id_len] == '/',
                  "event %zu: key %.*s", i, (int) key.len, key.data);
            CHECK(ev->error != NULL || klen > 0, "event %zu: empty key", i);
        } else {
            CHECK(cap != 0, "event %zu: px_message_key failed uncapped", i);
        }

        /* as the module: a dead letter only from a value that was built */
        if (ev->error != NULL && value_ok) {
            rc = px_message_dead_letter(ev->error, "ingest", srv.received_ms,
                                        value.data, value.len, 1, &dlq);
            if (rc == 0 && !json_valid(dlq.data, dlq.len)) {
                dump_json("dead letter", dlq.data, dlq.len);
                CHECK(0, "event %zu: the dead letter is not valid JSON", i);
            }
            CHECK(rc == 0 || cap != 0, "dead letter failed uncapped");
        }
    }

    /* the worker's dead letter of raw bytes: a JSON string, whatever they are */
    dlq.len = 0;
    if (px_message_dead_letter("invalid_json", "worker", srv.received_ms,
                               (const char *) raw,
                               raw_len > 4096 ? 4096 : raw_len, 0, &dlq) == 0)
    {
        if (!json_valid(dlq.data, dlq.len)) {
            dump_json("raw dead letter", dlq.data, dlq.len);
            CHECK(0, "the raw dead letter is not valid JSON");
        }
    } else {
        CHECK(cap != 0, "raw dead letter failed uncapped");
    }

    (void) lim;
    px_buf_free(&value);
    px_buf_free(&key);
    px_buf_free(&dlq);
}

/* The same bytes in one feed must give the same result. */
static void
check_one_feed(const px_limits_t *lim, const px_buf_t *seen,
    px_batch_status_t st, int finished, const px_batch_t *b)
{
    px_batch_parser_t  *p;
    px_batch_status_t   st1;
    px_batch_t          b1;
    const px_event_t   *e, *e1;
    size_t              i;

    memset(&b1, 0, sizeof(b1));
    p = px_batch_parser_new(lim, NULL, &b1);
    CHECK(p != NULL, "px_batch_parser_new failed");

    st1 = px_batch_feed(p, seen->data, seen->len);
    if (st1 == PX_BATCH_OK && finished) {
        st1 = px_batch_finish(p);
    }

    CHECK(st1 == st, "chunked: %s, one feed of the same %zu bytes: %s",
          px_batch_status_code(st), seen->len, px_batch_status_code(st1));
    CHECK(b1.nevents == b->nevents, "chunked: %zu events, one feed: %zu",
          b->nevents, b1.nevents);
    CHECK(b1.sent_at_ms == b->sent_at_ms, "sent_at differs");

    if (st == PX_BATCH_OK) {
        CHECK(b1.nrejected == b->nrejected, "nrejected differs");
        CHECK(b1.json.len == b->json.len
              && (b->json.len == 0
                  || memcmp(b1.json.data, b->json.data, b->json.len) == 0),
              "kept JSON differs");
        CHECK(b1.aux.len == b->aux.len
              && (b->aux.len == 0
                  || memcmp(b1.aux.data, b->aux.data, b->aux.len) == 0),
              "visitor ids differ");

        for (i = 0; i < b->nevents; i++) {
            e = &b->events[i];
            e1 = &b1.events[i];
            CHECK(e->off == e1->off && e->len == e1->len
                  && e->ts_ms == e1->ts_ms && e->seen == e1->seen
                  && e->visitor_off == e1->visitor_off
                  && e->visitor_len == e1->visitor_len
                  && e->id_generated == e1->id_generated,
                  "event %zu differs between chunked and one feed", i);
            CHECK((e->error == NULL) == (e1->error == NULL)
                  && (e->error == NULL || strcmp(e->error, e1->error) == 0),
                  "event %zu: chunked error %s, one feed %s", i,
                  e->error ? e->error : "-", e1->error ? e1->error : "-");
            CHECK(e->id_generated
                  || strcmp(e->event_id, e1->event_id) == 0,
                  "event %zu: event_id differs", i);
        }
    }

    px_batch_parser_free(p);
    px_batch_free(&b1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_rng_t           rng;
    px_limits_t          lim;
    px_batch_t           batch;
    px_buf_t             seen;
    px_inflate_t         z;
    px_inflate_status_t  zst;
    fuzz_body_t          fb;
    fuzz_alloc_ctx_t     zctx;
    px_alloc_t           zalloc;
    const char          *msg;
    size_t               off, n;
    int                  gzip, finished, zfailed;

    if (size == 0) {
        return 0;               /* the module answers empty_body */
    }

    rng.s = fnv1a(data, size);
    pick_limits(&rng, &lim);

    memset(&batch, 0, sizeof(batch));
    memset(&fb, 0, sizeof(fb));
    px_buf_init(&seen, NULL, 0);

    fb.parser = px_batch_parser_new(&lim, NULL, &batch);
    CHECK(fb.parser != NULL, "px_batch_parser_new failed");
    fb.rng = &rng;
    fb.seen = &seen;
    fb.st = PX_BATCH_OK;

    gzip = px_inflate_is_gzip(data, size);
    finished = 0;
    zfailed = 0;
    zst = PX_INFLATE_OK;

    if (!gzip) {
        fb.st = feed_parser(&fb, data, size);

    } else {
        memset(&zctx, 0, sizeof(zctx));
        if (rng_next(&rng) % 16 == 0) {
            zctx.fail_at = 1 + (unsigned) (rng_next(&rng) % 3);
        }
        zalloc.malloc = fa_malloc;
        zalloc.realloc = fa_realloc;
        zalloc.free = fa_free;
        zalloc.ctx = &zctx;

        if (px_inflate_init(&z, FUZZ_MAX_INFLATED, FUZZ_MAX_RATIO, &zalloc)
            != 0)
        {
            CHECK(zctx.failed, "px_inflate_init failed with memory");
            px_inflate_free(&z);
            goto done;
        }
        fb.z = &z;

        for (off = 0; off < size; off += n) {
            n = chunk_len(&rng, size - off);
            fb.in_fed += n;
            zst = px_inflate_feed(&z, data + off, n, fuzz_sink, &fb);
            CHECK(zst >= PX_INFLATE_OK && zst <= PX_INFLATE_ERR_NOMEM,
                  "px_inflate_feed returned %d", (int) zst);
            CHECK(zst != PX_INFLATE_ERR_NOMEM || zctx.failed,
                  "inflate out of memory without a failed allocation");
            CHECK((zst == PX_INFLATE_ERR_SINK) == (fb.st != PX_BATCH_OK),
                  "inflate %d, parser %d", (int) zst, (int) fb.st);
            if (zst != PX_INFLATE_OK) {
                break;
            }
        }

        if (zst == PX_INFLATE_OK) {
            zst = px_inflate_finish(&z);
            CHECK(zst == PX_INFLATE_OK || zst == PX_INFLATE_ERR_CORRUPT,
                  "px_inflate_finish returned %d", (int) zst);
            CHECK(zst != PX_INFLATE_OK || z.done, "finish OK before the end");
        }
        zfailed = zctx.failed;
        px_inflate_free(&z);
    }

    if (zst == PX_INFLATE_OK && fb.st == PX_BATCH_OK) {
        fb.st = px_batch_finish(fb.parser);
        finished = 1;
    }

    CHECK(fb.st >= PX_BATCH_OK && fb.st <= PX_BATCH_ERR_NOMEM,
          "status %d out of range", (int) fb.st);
    CHECK(px_batch_status_code(fb.st) != NULL
          && px_batch_status_code(fb.st)[0] != '\0', "no status code");
    CHECK(fb.st != PX_BATCH_ERR_NOMEM, "out of memory with libc malloc");
    msg = px_batch_error_message(fb.parser);
    CHECK(msg != NULL && memchr(msg, '\0', 160) != NULL, "error message");
    CHECK(fb.st == PX_BATCH_OK || msg[0] != '\0', "error without a message");

    check_batch(&batch, &lim, finished && fb.st == PX_BATCH_OK);

    if (!zfailed && (!gzip || zst == PX_INFLATE_OK
                     || zst == PX_INFLATE_ERR_SINK))
    {
        check_one_feed(&lim, &seen, fb.st, finished, &batch);
    }

    if (finished && fb.st == PX_BATCH_OK) {
        CHECK(batch.nevents > 0, "OK with no events");
        check_messages(&batch, &lim, &rng, data, size);
    }

done:
    px_batch_parser_free(fb.parser);
    px_batch_free(&batch);
    px_buf_free(&seen);
    return 0;
}
