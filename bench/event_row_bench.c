/*
 * event_row_bench: cost of px-worker's per-message row work, single thread:
 * px_message_parse() of a Kafka message (libpx/px_message.h format) and
 * px_event_row_json() of the row as its JSONEachRow line, in batches as the
 * pipeline does them (parse BATCH rows, write them all into one body, then
 * free/reset the rows).
 *
 *   make && cc -std=c11 -D_GNU_SOURCE -O2 -g -Ilibpx -Ipx-worker/src/enrich \
 *       -I/usr/include/yajl -o build/event_row_bench bench/event_row_bench.c \
 *       build/libpxworker.a build/libpx.a -lyajl -lmaxminddb -lpcre2-8 \
 *       -lyaml -lm
 *   build/event_row_bench [EVENTS] [BATCH] [free]
 *
 * EVENTS defaults to 200000, BATCH to 1000.  Rows are cleared between
 * batches with px_message_reset() (they keep their buffers), or with
 * px_message_free() when the third argument is "free".  The messages are like those of
 * bench/worker_bench.py (~820 bytes: properties, page context with UTM
 * parameters and click ids on some pages, referrer, screen, library, a
 * browser user agent); enrichment is not run, but its columns are filled
 * with typical values so the JSON line has its real length.  Prints ns per
 * message for parse, json and free, the CPU time of the whole loop, and the
 * heap held per buffered row (mallinfo2 after a batch is parsed).
 * A figure, not a test: nothing is asserted on timings.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event_row.h"

#define NMSG  64

static const char *const sites[] = {
    "https://shop.example", "https://blog.example.org",
    "https://docs.example.net", "https://app.example.io"
};
static const char *const paths[] = {
    "/", "/pricing", "/products/espresso-machine", "/blog/how-to-brew",
    "/checkout", "/account/settings", "/search", "/about"
};
static const char *const utms[] = {
    "", "", "utm_source=newsletter&utm_medium=email&utm_campaign=winter_sale",
    "gclid=EAIaIQobChMI8fXn", "utm_source=facebook&utm_medium=social&"
    "fbclid=IwAR2xYz", "", "msclkid=5e4f3a2b1c", ""
};
static const char *const referrers[] = {
    "https://www.google.com/search?q=espresso+machine",
    "https://t.co/abc123", "https://news.ycombinator.com/item?id=1",
    "https://www.bing.com/search?q=px", "https://duckduckgo.com/", ""
};
static const char *const uas[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/"
    "605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
};
static const char *const events[] = {
    "page_view", "page_view", "click", "add_to_cart", "signup"
};
static const char *const locales[] = {
    "en-GB", "en-US", "de-DE", "fr-FR", "ja-JP", "es-ES", "pt-BR"
};

static char    msgs[NMSG][2048];
static size_t  lens[NMSG];

static void
make_messages(void)
{
    int   i, v;
    char  url[256];

    for (i = 0; i < NMSG; i++) {
        v = i * 7 + 3;
        snprintf(url, sizeof(url), "%s%s%s%s", sites[v % 4], paths[i % 8],
                 utms[(i / 3) % 8][0] != '\0' ? "?" : "", utms[(i / 3) % 8]);
        lens[i] = (size_t) snprintf(msgs[i], sizeof(msgs[i]),
            "{\"event\":\"%s\",\"anonymous_id\":\"anon_%07d\"%s,"
            "\"properties\":{\"plan\":\"%s\",\"value\":%d,\"logged_in\":%s,"
            "\"experiment\":\"exp_%d\"},"
            "\"context\":{\"page\":{\"url\":\"%s\",\"path\":\"%s\","
            "\"title\":\"Page %s\",\"referrer\":\"%s\"},\"locale\":\"%s\","
            "\"timezone\":\"Europe/London\",\"screen\":{\"width\":%d,"
            "\"height\":%d},\"library\":{\"name\":\"px-web\","
            "\"version\":\"1.2.0\"}},"
            "\"event_id\":\"%08x-%04x-4%03x-a%03x-%012x\","
            "\"timestamp\":\"2026-11-30T09:%02d:%02d.%03dZ\","
            "\"client_timestamp\":\"2026-11-30T09:%02d:%02d.%03dZ\","
            "\"project_id\":\"proj_%d\","
            "\"received_at\":\"2026-11-30T10:00:00.000Z\","
            "\"ip\":\"%d.%d.%d.%d\",\"user_agent\":\"%s\","
            "\"schema_version\":1}",
            events[i % 5], v, v % 3 == 0 ? ",\"user_id\":\"user_000042\"" : "",
            (const char *[]) { "free", "pro", "team" }[v % 3], v * 13 % 500,
            v % 3 == 0 ? "true" : "false", v % 4,
            url, paths[i % 8], paths[i % 8],
            i % 2 ? referrers[i % 6] : sites[v % 4],
            locales[v % 7], (int[]) { 1920, 1440, 390, 412 }[v % 4],
            (int[]) { 1080, 900, 844, 915 }[v % 4],
            0x1a2b3c4du + (unsigned) i, (unsigned) i, (unsigned) v,
            (unsigned) v, (unsigned) i * 977u,
            i % 60, (i * 7) % 60, i % 1000, i % 60, (i * 7) % 60, i % 1000,
            v % 4, 1 + v % 223, v % 256, (v * 3) % 256, 1 + v % 254,
            uas[v % 4]);
    }
}

static double
now_ns(clockid_t clk)
{
    struct timespec  ts;

    clock_gettime(clk, &ts);
    return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

/* what enrichment would have put in the row */
static void
fake_enrich(px_event_row_t *row)
{
    strcpy(row->ip_stored, "81.2.69.0");
    strcpy(row->geo.loc.country_iso, "GB");
    strcpy(row->geo.loc.country_name, "United Kingdom");
    strcpy(row->geo.loc.city, "London");
    strcpy(row->geo.loc.time_zone, "Europe/London");
    row->geo.loc.latitude = 51.5142;
    row->geo.loc.longitude = -0.0931;
    strcpy(row->ua.browser.family, "Chrome");
    strcpy(row->ua.browser.major, "131");
    strcpy(row->ua.browser.minor, "0");
    strcpy(row->ua.os.family, "Windows");
    strcpy(row->ua.os.major, "10");
    row->ua.device_type = PX_UA_DESKTOP;
    strcpy(row->ref.domain, "www.google.com");
    strcpy(row->session_id, "0b5c7a4e-2f61-4c1e-9a43-6f1d2c3b4a51");
    row->session_seq = 7;
}

int
main(int argc, char **argv)
{
    long             n = argc > 1 ? atol(argv[1]) : 200000;
    long             batch = argc > 2 ? atol(argv[2]) : 1000;
    int              use_free = argc > 3 && strcmp(argv[3], "free") == 0;
    long             done, i, k;
    char             err[256];
    double           t0, t_parse = 0, t_json = 0, t_free = 0, cpu0, cpu1;
    double           msg_bytes = 0, line_bytes = 0;
    size_t           heap0, heap_rows = 0;
    px_event_row_t  *rows;
    px_buf_t         body;

    if (n <= 0 || batch <= 0) {
        fprintf(stderr, "usage: event_row_bench [EVENTS] [BATCH]\n");
        return 1;
    }

    make_messages();
    rows = calloc((size_t) batch, sizeof(*rows));
    if (rows == NULL) {
        return 1;
    }
    px_buf_init(&body, NULL, 0);

    cpu0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    for (done = 0; done < n; done += batch) {
        long  m = n - done < batch ? n - done : batch;

        heap0 = mallinfo2().uordblks;
        t0 = now_ns(CLOCK_MONOTONIC);
        for (i = 0; i < m; i++) {
            k = (done + i) % NMSG;
            if (px_message_parse(&rows[i].msg, msgs[k], lens[k], err,
                                   sizeof(err)) != 0)
            {
                fprintf(stderr, "parse failed: %s\n%s\n", err, msgs[k]);
                return 1;
            }
            msg_bytes += (double) lens[k];
        }
        t_parse += now_ns(CLOCK_MONOTONIC) - t0;
        if (done == 0 || mallinfo2().uordblks - heap0 > heap_rows) {
            heap_rows = mallinfo2().uordblks - heap0;
        }

        for (i = 0; i < m; i++) {
            fake_enrich(&rows[i]);
        }

        body.len = 0;
        t0 = now_ns(CLOCK_MONOTONIC);
        for (i = 0; i < m; i++) {
            if (px_event_row_json(&rows[i], 1796032801LL, &body) != 0) {
                fprintf(stderr, "json failed\n");
                return 1;
            }
        }
        t_json += now_ns(CLOCK_MONOTONIC) - t0;
        line_bytes += (double) body.len;

        t0 = now_ns(CLOCK_MONOTONIC);
        for (i = 0; i < m; i++) {
            if (!use_free) {
                px_message_reset(&rows[i].msg);
                continue;
            }
            px_message_free(&rows[i].msg);
        }
        t_free += now_ns(CLOCK_MONOTONIC) - t0;
    }
    cpu1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);

    printf("event_row_bench: %ld events, batches of %ld, message %.0f B avg, "
           "JSON line %.0f B avg\n", n, batch, msg_bytes / (double) n,
           line_bytes / (double) n);
    printf("  parse            %8.0f ns/event\n", t_parse / (double) n);
    printf("  json             %8.0f ns/event\n", t_json / (double) n);
    printf("  %-16s %8.0f ns/event\n",
           use_free ? "free" : "reset",
           t_free / (double) n);
    printf("  total            %8.0f ns/event  (CPU %.0f ns/event incl. "
           "fake enrichment)\n", (t_parse + t_json + t_free) / (double) n,
           (cpu1 - cpu0) / (double) n);
    printf("  heap per row     %8.0f B        (malloc'd while a batch is "
           "parsed, / %ld rows; + sizeof(row) %zu B)\n",
           (double) heap_rows / (double) batch, batch, sizeof(px_event_row_t));

    for (i = 0; i < batch; i++) {
        px_message_free(&rows[i].msg);
    }
    free(rows);
    px_buf_free(&body);
    return 0;
}
