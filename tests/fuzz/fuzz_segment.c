/*
 * libFuzzer harness over libpx/px_segment.c: a Segment body (the input
 * after its first byte, which picks the endpoint) is translated, and the
 * PX batch it becomes is parsed as the module parses it.
 *
 * Invariants (abort() with a message when one breaks):
 *   - the status is in range and an error comes with a message;
 *   - a translation that succeeds is valid JSON the batch parser takes
 *     (never invalid_json or invalid_envelope; too_many_events or too_deep
 *     only from the limits), with one PX event per Segment call;
 *   - every kept userAgent / ip lies inside seg.strs, and an ip is an
 *     address;
 *   - the same input translates to the same bytes (no hidden state).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "px_batch.h"
#include "px_limits.h"
#include "px_segment.h"

static const char *const  calls[] = {
    "batch", "import", "track", "page", "screen", "identify", "group", "alias"
};

static void
broken(const char *what)
{
    fprintf(stderr, "INVARIANT BROKEN: %s\n", what);
    abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char               err[160], ip[64];
    size_t             i;
    px_limits_t        lim;
    px_batch_t         batch;
    px_segment_t       seg, again;
    px_batch_status_t  st, st2;
    const char        *call;

    if (size < 1) {
        return 0;
    }
    call = calls[data[0] % (sizeof(calls) / sizeof(calls[0]))];
    data++;
    size--;

    err[0] = '\0';
    st = px_segment_translate((const char *) data, size, call, 16, NULL, &seg,
                              err, sizeof(err));
    if (st > PX_BATCH_ERR_NOMEM) {
        broken("status out of range");
    }
    if (st != PX_BATCH_OK) {
        if (err[0] == '\0') {
            broken("an error without a message");
        }
        px_segment_free(&seg);
        return 0;
    }

    px_limits_default(&lim);
    lim.max_depth = 18;
    lim.max_events = 100000;
    st = px_batch_parse(&lim, NULL, seg.out.data, seg.out.len, &batch, err,
                        sizeof(err));
    if (st == PX_BATCH_ERR_JSON || st == PX_BATCH_ERR_ENVELOPE
        || st == PX_BATCH_ERR_EMPTY)
    {
        fprintf(stderr, "%s: %.*s\n", err, (int) seg.out.len, seg.out.data);
        broken("the translation is not a batch the parser takes");
    }
    if (st == PX_BATCH_OK && batch.nevents != seg.nevents) {
        broken("not one PX event per Segment call");
    }

    for (i = 0; i < seg.nevents; i++) {
        px_segment_event_t  *se = &seg.events[i];

        if (se->ua_off + se->ua_len > seg.strs.len
            || se->ip_off + se->ip_len > seg.strs.len)
        {
            broken("a kept string outside seg.strs");
        }
        if (se->ip_len != 0) {
            unsigned char  a[16];

            if (se->ip_len >= sizeof(ip)) {
                broken("an ip too long to be one");
            }
            memcpy(ip, seg.strs.data + se->ip_off, se->ip_len);
            ip[se->ip_len] = '\0';
            if (inet_pton(AF_INET, ip, a) != 1
                && inet_pton(AF_INET6, ip, a) != 1)
            {
                broken("a kept ip that is no address");
            }
        }
    }

    st2 = px_segment_translate((const char *) data, size, call, 16, NULL,
                               &again, err, sizeof(err));
    if (st2 != PX_BATCH_OK || again.out.len != seg.out.len
        || memcmp(again.out.data, seg.out.data, seg.out.len) != 0)
    {
        broken("the same input translated twice differs");
    }

    px_segment_free(&again);
    px_batch_free(&batch);
    px_segment_free(&seg);
    return 0;
}
