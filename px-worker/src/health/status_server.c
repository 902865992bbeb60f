#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "monotonic.h"
#include "status_server.h"

#define PX_STATUS_DOC_MAX  (64 * 1024)

struct px_status_server_s {
    int              fd;
    pthread_t        thread;
    pthread_mutex_t  lock;
    int64_t          stall_ms;
    px_progress_t    progress;       /* under lock */
    px_status_t      snapshot;
    volatile int     stop;
    char             doc[PX_STATUS_DOC_MAX];
};

static int64_t
px_status_lag(const px_status_t *st)
{
    size_t   i;
    int64_t  lag = 0;

    for (i = 0; i < st->nlag; i++) {
        lag += st->lag[i] > 0 ? st->lag[i] : 0;
    }

    return lag;
}

void
px_progress_note(px_progress_t *pr, const px_status_t *st, int64_t now_ms)
{
    if (pr->published_ms == 0 || st->consumed != pr->consumed
        || st->stored != pr->stored
        || (px_status_lag(st) == 0 && st->pending == 0))
    {
        pr->progress_ms = now_ms;
    }

    pr->published_ms = now_ms;
    pr->consumed = st->consumed;
    pr->stored = st->stored;
}

const char *
px_progress_stalled(const px_progress_t *pr, const px_status_t *st,
    int64_t now_ms, int64_t stall_ms)
{
    if (pr->published_ms == 0) {
        return NULL;            /* starting: nothing published yet */
    }

    if (now_ms - pr->published_ms > stall_ms) {
        return "the pipeline thread has not reported";
    }

    if (now_ms - pr->progress_ms > stall_ms
        && (px_status_lag(st) > 0 || st->pending > 0))
    {
        return "nothing consumed or stored while messages wait";
    }

    return NULL;
}

int
px_status_render_health(const px_status_t *st, const char *stalled,
    int64_t progress_age_ms, char *out, size_t len)
{
    int  n;

    n = snprintf(out, len,
                 "{\"status\":\"%s\",%s%s%s\"paused\":%s,"
                 "\"assigned_partitions\":%d,\"lag\":%lld,\"pending\":%lu,"
                 "\"last_progress_ms_ago\":%lld,"
                 "\"consumed\":%lu,\"stored\":%lu,\"dead_lettered\":%lu,"
                 "\"duplicates\":%lu}\n",
                 stalled ? "stalled" : (st->paused ? "degraded" : "ok"),
                 stalled ? "\"reason\":\"" : "", stalled ? stalled : "",
                 stalled ? "\"," : "",
                 st->paused ? "true" : "false", st->assigned,
                 (long long) px_status_lag(st), st->pending,
                 (long long) progress_age_ms,
                 st->consumed, st->stored, st->dead_lettered, st->duplicates);

    return n > 0 && (size_t) n < len ? n : -1;
}

static int
px_status_render_metrics(const px_status_t *st, char *out, size_t len)
{
    size_t         i, o = 0;
    int            n;
    unsigned long  cum;

#define PX_PUT(...)                                                          \
    do {                                                                     \
        n = snprintf(out + o, len - o, __VA_ARGS__);                         \
        if (n < 0 || (size_t) n >= len - o) {                                \
            return -1;                                                       \
        }                                                                    \
        o += (size_t) n;                                                     \
    } while (0)

    PX_PUT("# TYPE px_worker_events_total counter\n"
           "px_worker_events_total{stage=\"consumed\"} %lu\n"
           "px_worker_events_total{stage=\"stored\"} %lu\n"
           "px_worker_events_total{stage=\"dead_lettered\"} %lu\n"
           "px_worker_events_total{stage=\"deduplicated\"} %lu\n"
           "px_worker_events_total{stage=\"replayed\"} %lu\n",
           st->consumed, st->stored, st->dead_lettered, st->duplicates,
           st->replays);
    PX_PUT("# TYPE px_worker_sessions_started_total counter\n"
           "px_worker_sessions_started_total %lu\n"
           "# TYPE px_worker_batches_total counter\n"
           "px_worker_batches_total %lu\n"
           "# TYPE px_worker_clickhouse_errors_total counter\n"
           "px_worker_clickhouse_errors_total %lu\n"
           "# TYPE px_worker_redis_errors_total counter\n"
           "px_worker_redis_errors_total %lu\n"
           "# TYPE px_worker_commits_total counter\n"
           "px_worker_commits_total %lu\n",
           st->sessions_started, st->batches, st->clickhouse_errors,
           st->redis_errors, st->commits);
    PX_PUT("# TYPE px_worker_ua_cache_total counter\n"
           "px_worker_ua_cache_total{result=\"hit\"} %lu\n"
           "px_worker_ua_cache_total{result=\"miss\"} %lu\n"
           "# TYPE px_worker_paused gauge\npx_worker_paused %d\n"
           "# TYPE px_worker_assigned_partitions gauge\n"
           "px_worker_assigned_partitions %d\n",
           st->ua_cache_hits, st->ua_cache_misses, st->paused, st->assigned);
    PX_PUT("# TYPE px_worker_session_cache_total counter\n"
           "px_worker_session_cache_total{result=\"hit\"} %lu\n"
           "px_worker_session_cache_total{result=\"miss\"} %lu\n",
           st->session_cache_hits, st->session_cache_misses);

    PX_PUT("# TYPE px_worker_batch_duration_ms histogram\n");
    for (i = 0, cum = 0; i <= PX_STATUS_BUCKETS; i++) {
        cum += st->batch_ms_buckets[i];
        if (i < PX_STATUS_BUCKETS) {
            PX_PUT("px_worker_batch_duration_ms_bucket{le=\"%g\"} %lu\n",
                   px_status_bucket_ms[i], cum);
        } else {
            PX_PUT("px_worker_batch_duration_ms_bucket{le=\"+Inf\"} %lu\n",
                   cum);
        }
    }
    PX_PUT("px_worker_batch_duration_ms_sum %.3f\n"
           "px_worker_batch_duration_ms_count %lu\n", st->batch_ms_sum, cum);

    PX_PUT("# TYPE px_worker_consumer_lag gauge\n");
    for (i = 0; i < st->nlag; i++) {
        PX_PUT("px_worker_consumer_lag{partition=\"%d\"} %lld\n",
               (int) st->lag_partition[i], (long long) st->lag[i]);
    }

#undef PX_PUT

    return (int) o;
}

/* Read the request line (bounded, 2 s) and answer one document. */
static void
px_status_serve(px_status_server_t *s, int fd)
{
    char           req[1024], head[256];
    const char    *type, *status, *stalled;
    int64_t        now, age;
    size_t         got = 0;
    ssize_t        n;
    int            len;
    px_status_t    snap;
    struct pollfd  pfd = { fd, POLLIN, 0 };

    while (got < sizeof(req) - 1 && poll(&pfd, 1, 2000) == 1) {
        n = read(fd, req + got, sizeof(req) - 1 - got);
        if (n <= 0) {
            break;
        }
        got += (size_t) n;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL || strstr(req, "\n\n") != NULL) {
            break;
        }
    }
    req[got] = '\0';

    now = px_monotonic_ms();
    pthread_mutex_lock(&s->lock);
    snap = s->snapshot;
    stalled = px_progress_stalled(&s->progress, &snap, now, s->stall_ms);
    age = s->progress.progress_ms ? now - s->progress.progress_ms : 0;
    pthread_mutex_unlock(&s->lock);

    type = "application/json";
    status = "200 OK";

    if (strncmp(req, "GET /health ", 12) == 0) {
        len = px_status_render_health(&snap, stalled, age, s->doc,
                                      sizeof(s->doc));
        if (stalled) {
            status = "503 Service Unavailable";
        }

    } else if (strncmp(req, "GET /ready ", 11) == 0) {
        len = px_status_render_health(&snap, stalled, age, s->doc,
                                      sizeof(s->doc));
        if (snap.paused || stalled) {
            status = "503 Service Unavailable";
        }

    } else if (strncmp(req, "GET /metrics ", 13) == 0) {
        type = "text/plain; version=0.0.4";
        len = px_status_render_metrics(&snap, s->doc, sizeof(s->doc));

    } else {
        status = "404 Not Found";
        len = snprintf(s->doc, sizeof(s->doc), "{\"error\":\"not_found\","
                       "\"message\":\"try /health, /ready or /metrics\"}\n");
    }

    if (len < 0) {
        status = "500 Internal Server Error";
        len = snprintf(s->doc, sizeof(s->doc), "{\"error\":\"internal\","
                       "\"message\":\"document too large\"}\n");
    }

    n = snprintf(head, sizeof(head), "HTTP/1.0 %s\r\nContent-Type: %s\r\n"
                 "Content-Length: %d\r\nConnection: close\r\n\r\n", status,
                 type, len);
    if (write(fd, head, (size_t) n) == n) {
        (void) !write(fd, s->doc, (size_t) len);
    }
}

static void *
px_status_thread(void *arg)
{
    px_status_server_t  *s = arg;
    struct pollfd        pfd;
    int                  c;

    while (!s->stop) {
        pfd.fd = s->fd;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, 200) != 1) {
            continue;
        }

        c = accept(s->fd, NULL, NULL);
        if (c < 0) {
            continue;
        }

        px_status_serve(s, c);
        close(c);
    }

    return NULL;
}

px_status_server_t *
px_status_server_start(int port, long stall_s, char *err, size_t errlen)
{
    int                  one = 1;
    px_status_server_t  *s;
    struct sockaddr_in   sa;

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        free(s);
        return NULL;
    }

    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (bind(s->fd, (struct sockaddr *) &sa, sizeof(sa)) != 0
        || listen(s->fd, 16) != 0)
    {
        snprintf(err, errlen, "health port 127.0.0.1:%d: %s", port,
                 strerror(errno));
        close(s->fd);
        free(s);
        return NULL;
    }

    s->stall_ms = (int64_t) stall_s * 1000;
    pthread_mutex_init(&s->lock, NULL);

    if (pthread_create(&s->thread, NULL, px_status_thread, s) != 0) {
        snprintf(err, errlen, "could not start the health thread");
        pthread_mutex_destroy(&s->lock);
        close(s->fd);
        free(s);
        return NULL;
    }

    return s;
}

void
px_status_publish(px_status_server_t *s, const px_status_t *st)
{
    if (s == NULL) {
        return;
    }

    pthread_mutex_lock(&s->lock);
    s->snapshot = *st;
    px_progress_note(&s->progress, st, px_monotonic_ms());
    pthread_mutex_unlock(&s->lock);
}

void
px_status_server_stop(px_status_server_t *s)
{
    if (s == NULL) {
        return;
    }

    s->stop = 1;
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->lock);
    close(s->fd);
    free(s);
}
