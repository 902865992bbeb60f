/*
 * libFuzzer harness over the worker's reader of a Kafka message,
 * px_message_parse() (libpx/px_message_read.c): the input is the message
 * value as it comes from px.events.raw.
 *
 * Invariants (abort() with a message when one breaks):
 *   - it returns 0 or -1; on -1 the reason is a non-empty string;
 *   - on 0: schema_version is PX_SCHEMA_VERSION, project_id and event are
 *     non-empty, event_id is a UUID, the times are not negative, every
 *     string lies inside the message's own buffer, screen is terminated,
 *     the visitor is a string;
 *   - properties and context are each one JSON string literal whose
 *     content is a JSON object (yajl, UTF-8 checked);
 *   - the buffers never pass PX_MESSAGE_MAX_BYTES, and a reset keeps at
 *     most PX_MESSAGE_KEEP_BYTES of each;
 *   - reading is repeatable: the same bytes read again into the reset
 *     message give the same result and the same reason.
 *
 * Build: see tests/fuzz/Makefile; tests/fuzz/run.sh runs it with the seeds
 * in tests/fuzz/corpus_message/.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "px_message.h"
#include "px_uuid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
broken(int line, const char *fmt, ...)
{
    va_list  ap;

    fprintf(stderr, "\n*** PX FUZZ INVARIANT BROKEN at %s:%d: ",
            __FILE__, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

#define CHECK(cond, ...) \
    do { if (!(cond)) broken(__LINE__, __VA_ARGS__); } while (0)

static void
check_str(const px_message_t *m, const char *s, const char *name)
{
    if (s == NULL) {
        return;
    }
    CHECK(s >= m->strs.data && s < m->strs.data + m->strs.len,
          "%s outside strs", name);
    CHECK(memchr(s, '\0', (size_t) (m->strs.data + m->strs.len - s))
          != NULL, "%s not terminated in strs", name);
}

/* lit is "\"<an escaped JSON object>\"": a JSON string holding an object */
static void
check_literal(const char *lit, size_t len, const char *name)
{
    char      *doc, errbuf[128];
    yajl_val   v, inner;

    CHECK(len >= 4 && lit[0] == '"' && lit[len - 1] == '"',
          "%s not a string literal", name);

    doc = malloc(len + 3);
    CHECK(doc != NULL, "out of memory");
    doc[0] = '[';
    memcpy(doc + 1, lit, len);
    doc[len + 1] = ']';
    doc[len + 2] = '\0';
    v = yajl_tree_parse(doc, errbuf, sizeof(errbuf));
    free(doc);
    CHECK(v != NULL && YAJL_IS_ARRAY(v) && v->u.array.len == 1
          && YAJL_IS_STRING(v->u.array.values[0]),
          "%s is not one JSON string: %s", name, errbuf);

    inner = yajl_tree_parse(YAJL_GET_STRING(v->u.array.values[0]), errbuf,
                            sizeof(errbuf));
    CHECK(inner != NULL && YAJL_IS_OBJECT(inner),
          "%s does not hold a JSON object: %s", name, errbuf);
    yajl_tree_free(inner);
    yajl_tree_free(v);
}

static void
check_message(const px_message_t *m)
{
    CHECK(m->schema_version == PX_SCHEMA_VERSION, "schema_version %u",
          m->schema_version);
    CHECK(m->project_id != NULL && m->project_id[0] != '\0', "project_id");
    CHECK(m->event != NULL && m->event[0] != '\0', "event");
    CHECK(m->event_id != NULL
          && px_uuid_valid(m->event_id, strlen(m->event_id)), "event_id");
    CHECK(m->ts_ms >= 0 && m->received_ms >= 0 && m->client_ts_ms >= 0,
          "negative time");
    CHECK(memchr(m->screen, '\0', sizeof(m->screen)) != NULL, "screen");
    CHECK(px_message_visitor(m) != NULL, "visitor");

    check_str(m, m->project_id, "project_id");
    check_str(m, m->event_id, "event_id");
    check_str(m, m->event, "event");
    check_str(m, m->anonymous_id, "anonymous_id");
    check_str(m, m->user_id, "user_id");
    check_str(m, m->ip, "ip");
    check_str(m, m->user_agent, "user_agent");
    check_str(m, m->page_url, "page_url");
    check_str(m, m->referrer, "referrer");
    check_str(m, m->campaign_source, "campaign_source");
    check_str(m, m->click_id_type, "click_id_type");
    check_str(m, m->click_id, "click_id");
    CHECK((m->click_id == NULL) == (m->click_id_type == NULL), "click id");

    check_literal(m->properties, m->properties_len, "properties");
    check_literal(m->context, m->context_len, "context");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static px_message_t  m;     /* reused, as the worker reuses rows */
    char                 err[256], err2[256];
    int                  rc, rc2;
    size_t               props_len;

    rc = px_message_parse(&m, (const char *) data, size, err, sizeof(err));
    CHECK(rc == 0 || rc == -1, "returned %d", rc);
    CHECK(m.strs.len <= PX_MESSAGE_MAX_BYTES
          && m.lits.len <= PX_MESSAGE_MAX_BYTES, "buffer past its cap");

    if (rc == 0) {
        check_message(&m);
    } else {
        CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL,
              "no reason");
    }
    props_len = rc == 0 ? m.properties_len : 0;

    px_message_reset(&m);
    CHECK(m.strs.cap <= PX_MESSAGE_KEEP_BYTES
          && m.lits.cap <= PX_MESSAGE_KEEP_BYTES, "reset kept too much");

    rc2 = px_message_parse(&m, (const char *) data, size, err2,
                           sizeof(err2));
    CHECK(rc2 == rc, "second read returned %d, first %d", rc2, rc);
    CHECK(rc == 0 ? m.properties_len == props_len
                  : strcmp(err, err2) == 0,
          "second read differs");

    px_message_reset(&m);
    return 0;
}
