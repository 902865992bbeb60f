/*
 * One blocking hiredis connection named by REDIS_URL, with connect and I/O
 * timeouts, made lazily and made again after an error.  Nothing here
 * retries or sleeps: a caller that gets -1/NULL reports a retryable error
 * and tries again later (the inserter pauses the partitions and backs off).
 *
 * URL:  redis://[[user]:password@]host[:port][/db]
 *       host may be a name, an IPv4 address or [an IPv6 address];
 *       port defaults to 6379, db to 0; user and password may be
 *       %-encoded.
 */
#ifndef PX_REDIS_CONN_H
#define PX_REDIS_CONN_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#define PX_REDIS_HOST_MAX  256
#define PX_REDIS_CRED_MAX  256

typedef struct {
    char   host[PX_REDIS_HOST_MAX];
    int    port;
    int    db;
    char   user[PX_REDIS_CRED_MAX];      /* "": none (AUTH password) */
    char   password[PX_REDIS_CRED_MAX];  /* "": no AUTH */
} px_redis_url_t;

typedef struct px_redis_s  px_redis_t;

/* Split a REDIS_URL.  0, or -1 with the reason in err. */
int px_redis_url_parse(const char *url, px_redis_url_t *u, char *err,
    size_t errlen);

/* A handle for url; it does not connect yet, so a worker starts while
 * Redis is down.  Timeouts in ms (<= 0: 2000 to connect, 5000 for I/O).
 * NULL with the reason in err for a bad URL or no memory. */
px_redis_t *px_redis_new(const char *url, long connect_timeout_ms,
    long io_timeout_ms, char *err, size_t errlen);

void px_redis_free(px_redis_t *r);

/* The connected context, connecting first (then AUTH and SELECT) when
 * there is none.  NULL with the reason in err.  The context stays owned
 * by r. */
redisContext *px_redis_get(px_redis_t *r, char *err, size_t errlen);

/* Close the connection, e.g. after an I/O error or when replies may be
 * left unread; the next px_redis_get connects again. */
void px_redis_drop(px_redis_t *r);

/* Counts connections made: it changes whenever the server may have lost
 * per-connection state (loaded scripts after a restart, the db chosen). */
unsigned long px_redis_generation(const px_redis_t *r);

/* One command and its reply (for setup, tests and tools; the hot path
 * pipelines itself).  An error reply is returned like any reply; NULL,
 * with the reason in err and the connection dropped, on I/O errors. */
redisReply *px_redis_command(px_redis_t *r, char *err, size_t errlen,
    const char *fmt, ...);

/* "host:port/db", for logs. */
const char *px_redis_name(const px_redis_t *r);

/* Cap the connect and I/O timeouts at ms from now on (0: back to the
 * configured ones): a stopping worker spends no more than its budget. */
void px_redis_cap(px_redis_t *r, long ms);

#endif
