/*
 * px_limit_redis: the px_limit_zone counts shared by the nginx nodes
 * through Redis (docs/nginx-module.md, "Limits over several nodes").
 *
 * On each node, worker process 0 syncs every zone from a timer (interval=,
 * 100 ms): it pushes the counts taken since the last sync (INCRBY and
 * PEXPIRE on one key per counter and window) and reads back the totals of
 * all nodes, pipelined over one non-blocking connection that nginx's event
 * loop drives.  Requests never wait for it: they decide on the totals of
 * the last sync plus this node's counts since.  A sync that fails (connect,
 * timeout=, an error reply) makes the zone fall back to 1/nodes of every
 * limit on this node, logged once; the next sync that succeeds ends it.
 */
#ifndef NGX_HTTP_PX_LIMIT_REDIS_H
#define NGX_HTTP_PX_LIMIT_REDIS_H

#include <ngx_config.h>
#include <ngx_core.h>

/* Start the syncs of the zones of zones (of ngx_shm_zone_t *, may be
 * NULL) that have px_limit_redis, in worker process 0. */
ngx_int_t ngx_http_px_limit_redis_init_process(ngx_cycle_t *cycle,
    ngx_array_t *zones);

/* Close this process's Redis connections (before nginx checks that the
 * exiting process left no socket open). */
void ngx_http_px_limit_redis_exit_process(void);

#endif
