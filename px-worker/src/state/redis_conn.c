#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "log.h"
#include "redis_conn.h"

#define PX_REDIS_CONNECT_MS  2000
#define PX_REDIS_IO_MS       5000

struct px_redis_s {
    px_redis_url_t   url;
    redisContext    *ctx;           /* NULL: not connected */
    struct timeval   connect_tv;
    struct timeval   io_tv;
    long             cap_ms;        /* px_redis_cap, 0: none */
    unsigned long    generation;    /* connections made */
    char             name[PX_REDIS_HOST_MAX + 32];
};

/* tv, or the cap when it is shorter. */
static struct timeval
px_redis_capped(const px_redis_t *r, struct timeval tv)
{
    struct timeval  cap;

    if (r->cap_ms <= 0
        || tv.tv_sec * 1000 + tv.tv_usec / 1000 <= r->cap_ms)
    {
        return tv;
    }

    cap.tv_sec = r->cap_ms / 1000;
    cap.tv_usec = (r->cap_ms % 1000) * 1000;
    return cap;
}

void
px_redis_cap(px_redis_t *r, long ms)
{
    r->cap_ms = ms;

    if (r->ctx != NULL) {
        (void) redisSetTimeout(r->ctx, px_redis_capped(r, r->io_tv));
    }
}

static int
px_hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = tolower(c);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Copy s[0..n) into out (outlen with the NUL), %-decoding.  0 or -1. */
static int
px_decode(const char *s, size_t n, char *out, size_t outlen)
{
    size_t  i, o;
    int     hi, lo;

    for (i = 0, o = 0; i < n; i++) {
        if (o + 1 >= outlen) {
            return -1;
        }
        if (s[i] == '%') {
            if (i + 2 >= n) {
                return -1;
            }
            hi = px_hexval((unsigned char) s[i + 1]);
            lo = px_hexval((unsigned char) s[i + 2]);
            if (hi < 0 || lo < 0) {
                return -1;
            }
            out[o++] = (char) (hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }

    out[o] = '\0';
    return 0;
}

static int
px_parse_int(const char *s, size_t n, long min, long max, int *out)
{
    long    v;
    size_t  i;

    if (n == 0 || n > 10) {
        return -1;
    }

    for (i = 0, v = 0; i < n; i++) {
        if (!isdigit((unsigned char) s[i])) {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }

    if (v < min || v > max) {
        return -1;
    }

    *out = (int) v;
    return 0;
}

int
px_redis_url_parse(const char *url, px_redis_url_t *u, char *err,
    size_t errlen)
{
    const char  *p, *end, *at, *colon, *host, *hend, *port;

    memset(u, 0, sizeof(*u));
    u->port = 6379;

    if (url == NULL || strncmp(url, "redis://", 8) != 0) {
        snprintf(err, errlen, "REDIS_URL must start with redis://");
        return -1;
    }

    p = url + 8;
    end = p + strcspn(p, "/?#");

    /* credentials: the last '@' before the path */
    at = NULL;
    for (host = p; host < end; host++) {
        if (*host == '@') {
            at = host;
        }
    }

    if (at != NULL) {
        colon = memchr(p, ':', (size_t) (at - p));
        if (colon != NULL) {
            if (px_decode(p, (size_t) (colon - p), u->user, sizeof(u->user))
                != 0
                || px_decode(colon + 1, (size_t) (at - colon - 1),
                             u->password, sizeof(u->password)) != 0)
            {
                snprintf(err, errlen, "REDIS_URL: bad user or password");
                return -1;
            }
        } else if (px_decode(p, (size_t) (at - p), u->password,
                             sizeof(u->password)) != 0)
        {
            /* redis://secret@host: the password alone, as redis-cli does */
            snprintf(err, errlen, "REDIS_URL: bad password");
            return -1;
        }
        p = at + 1;
    }

    /* host, [v6] or name, then :port */
    if (*p == '[') {
        host = p + 1;
        hend = memchr(host, ']', (size_t) (end - host));
        if (hend == NULL) {
            snprintf(err, errlen, "REDIS_URL: unclosed '[' in the host");
            return -1;
        }
        port = hend + 1;
    } else {
        host = p;
        hend = memchr(host, ':', (size_t) (end - host));
        if (hend == NULL) {
            hend = end;
        }
        port = hend;
    }

    if (hend == host || (size_t) (hend - host) >= sizeof(u->host)) {
        snprintf(err, errlen, "REDIS_URL: missing or too long host");
        return -1;
    }
    memcpy(u->host, host, (size_t) (hend - host));
    u->host[hend - host] = '\0';

    if (port < end) {
        if (*port != ':' || px_parse_int(port + 1, (size_t) (end - port - 1),
                                         1, 65535, &u->port) != 0)
        {
            snprintf(err, errlen, "REDIS_URL: bad port");
            return -1;
        }
    }

    if (*end == '/' && end[1] != '\0') {
        p = end + 1;
        if (px_parse_int(p, strcspn(p, "?#"), 0, 100000, &u->db) != 0) {
            snprintf(err, errlen, "REDIS_URL: bad database number");
            return -1;
        }
    }

    return 0;
}

static struct timeval
px_tv(long ms, long def)
{
    struct timeval  tv;

    if (ms <= 0) {
        ms = def;
    }
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    return tv;
}

px_redis_t *
px_redis_new(const char *url, long connect_timeout_ms, long io_timeout_ms,
    char *err, size_t errlen)
{
    px_redis_t  *r;

    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    if (px_redis_url_parse(url, &r->url, err, errlen) != 0) {
        free(r);
        return NULL;
    }

    r->connect_tv = px_tv(connect_timeout_ms, PX_REDIS_CONNECT_MS);
    r->io_tv = px_tv(io_timeout_ms, PX_REDIS_IO_MS);
    snprintf(r->name, sizeof(r->name), "%s:%d/%d", r->url.host, r->url.port,
             r->url.db);
    return r;
}

void
px_redis_drop(px_redis_t *r)
{
    if (r != NULL && r->ctx != NULL) {
        redisFree(r->ctx);
        r->ctx = NULL;
    }
}

void
px_redis_free(px_redis_t *r)
{
    if (r == NULL) {
        return;
    }

    px_redis_drop(r);
    /* the password should not linger in freed memory */
    memset(&r->url, 0, sizeof(r->url));
    free(r);
}

unsigned long
px_redis_generation(const px_redis_t *r)
{
    return r->generation;
}

const char *
px_redis_name(const px_redis_t *r)
{
    return r->name;
}

/* A reply that must be +OK; on anything else, the reason into err. */
static int
px_expect_ok(px_redis_t *r, redisReply *reply, const char *what, char *err,
    size_t errlen)
{
    int  rc;

    if (reply == NULL) {
        snprintf(err, errlen, "redis %s: %s: %s", r->name, what,
                 r->ctx->errstr[0] != '\0' ? r->ctx->errstr : "no reply");
        return -1;
    }

    rc = 0;
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "redis %s: %s: %s", r->name, what, reply->str);
        rc = -1;
    }

    freeReplyObject(reply);
    return rc;
}

redisContext *
px_redis_get(px_redis_t *r, char *err, size_t errlen)
{
    redisContext  *c;

    if (r->ctx != NULL) {
        return r->ctx;
    }

    c = redisConnectWithTimeout(r->url.host, r->url.port,
                                px_redis_capped(r, r->connect_tv));
    if (c == NULL) {
        snprintf(err, errlen, "redis %s: out of memory", r->name);
        return NULL;
    }

    if (c->err != 0) {
        snprintf(err, errlen, "redis %s: connect: %s", r->name, c->errstr);
        redisFree(c);
        return NULL;
    }

    r->ctx = c;

    if (redisSetTimeout(c, px_redis_capped(r, r->io_tv)) != REDIS_OK) {
        snprintf(err, errlen, "redis %s: set timeout: %s", r->name,
                 c->errstr);
        goto failed;
    }

    (void) redisEnableKeepAlive(c);

    if (r->url.password[0] != '\0') {
        if (r->url.user[0] != '\0') {
            if (px_expect_ok(r, redisCommand(c, "AUTH %s %s", r->url.user,
                                             r->url.password),
                             "AUTH", err, errlen) != 0)
            {
                goto failed;
            }
        } else if (px_expect_ok(r, redisCommand(c, "AUTH %s",
                                                r->url.password),
                                "AUTH", err, errlen) != 0)
        {
            goto failed;
        }
    }

    if (r->url.db != 0
        && px_expect_ok(r, redisCommand(c, "SELECT %d", r->url.db),
                        "SELECT", err, errlen) != 0)
    {
        goto failed;
    }

    r->generation++;
    px_log(PX_LOG_INFO, "redis", "connected to %s", r->name);
    return c;

failed:

    px_redis_drop(r);
    return NULL;
}

redisReply *
px_redis_command(px_redis_t *r, char *err, size_t errlen, const char *fmt,
    ...)
{
    va_list        ap;
    redisReply    *reply;
    redisContext  *c;

    c = px_redis_get(r, err, errlen);
    if (c == NULL) {
        return NULL;
    }

    va_start(ap, fmt);
    reply = redisvCommand(c, fmt, ap);
    va_end(ap);

    if (reply == NULL) {
        snprintf(err, errlen, "redis %s: %s", r->name,
                 c->errstr[0] != '\0' ? c->errstr : "no reply");
        px_redis_drop(r);
    }

    return reply;
}
