/*
 * A real redis-server for the unit tests (test_session.c starts it on a
 * free loopback port in a temp dir; test_dedupe.c uses it too).
 */
#ifndef PX_TEST_REDIS_H
#define PX_TEST_REDIS_H

#include <sys/types.h>

#include <hiredis/hiredis.h>

#include "session.h"

typedef struct {
    pid_t  pid;
    int    port;
    char   dir[64];
    char   url[64];
} px_test_redis_t;

int px_test_redis_start(px_test_redis_t *srv);
int px_test_redis_spawn(px_test_redis_t *srv);
void px_test_redis_kill(px_test_redis_t *srv);
void px_test_redis_stop(px_test_redis_t *srv);
redisReply *px_test_redis_cmd(const px_test_redis_t *srv, const char *fmt,
    ...);
long long px_test_redis_cmdstat(const px_test_redis_t *srv, const char *cmd);

/* A session stage on that server (prefix NULL: the default "px:"). */
px_session_stage_t *px_test_stage_new(const px_test_redis_t *server,
    long timeout_s, long max_s, long ttl_s, const char *prefix);

#endif
