/*
 * px-worker/session.c (and redis_conn.c): sessions against a real
 * redis-server that each test starts on a free loopback port in a temp
 * dir and kills at teardown.  When redis-server cannot start, the test
 * fails.  The fixture (px_test_redis_*) is shared with test_dedupe.c.
 * A failed assertion ends a forked test without teardown: the server
 * still dies with it (PR_SET_PDEATHSIG) and its dir, /tmp/px-redis-*,
 * stays behind with redis.log for the diagnosis.
 *
 * Under valgrind: CK_FORK=no valgrind --leak-check=full build/check_px
 * session dedupe (redis-server itself is exec'd, so valgrind leaves it).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "redis_conn.h"
#include "session.h"
#include "session_store.h"

/* ---- the redis-server fixture (also used by test_dedupe.c) ------------ */

#include "px_test_redis.h"

static int
free_port(void)
{
    int                 fd, port;
    socklen_t           len;
    struct sockaddr_in  sa;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(sa);

    if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0
        || getsockname(fd, (struct sockaddr *) &sa, &len) != 0)
    {
        close(fd);
        return -1;
    }

    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static int
ping(const px_test_redis_t *srv)
{
    int              ok;
    redisReply      *r;
    redisContext    *c;
    struct timeval   tv = { 0, 200000 };

    c = redisConnectWithTimeout("127.0.0.1", srv->port, tv);
    if (c == NULL || c->err) {
        redisFree(c);
        return 0;
    }

    r = redisCommand(c, "PING");
    ok = r != NULL && r->type == REDIS_REPLY_STATUS
         && strcmp(r->str, "PONG") == 0;
    freeReplyObject(r);
    redisFree(c);
    return ok;
}

/* Start redis-server on srv->port (chosen before), wait for PING.  0 or
 * -1 (the server did not answer within 5 s, or exited). */
int
px_test_redis_spawn(px_test_redis_t *srv)
{
    int              i, fd, status;
    char             port[16], log[128];
    pid_t            parent;
    struct timespec  ts = { 0, 20000000 };

    snprintf(port, sizeof(port), "%d", srv->port);
    snprintf(log, sizeof(log), "%s/redis.log", srv->dir);
    parent = getpid();

    srv->pid = fork();
    if (srv->pid < 0) {
        return -1;
    }

    if (srv->pid == 0) {
        /* never outlive the test, even when it fails before teardown */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(127);
        }
        fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execlp("redis-server", "redis-server", "--port", port,
               "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", srv->dir, "--daemonize", "no", (char *) NULL);
        _exit(127);
    }

    for (i = 0; i < 250; i++) {
        if (ping(srv)) {
            return 0;
        }
        if (waitpid(srv->pid, &status, WNOHANG) == srv->pid) {
            srv->pid = 0;
            return -1;
        }
        nanosleep(&ts, NULL);
    }

    px_test_redis_kill(srv);
    return -1;
}

int
px_test_redis_start(px_test_redis_t *srv)
{
    int  attempt;

    /* a peer that closed the socket must not kill the test */
    signal(SIGPIPE, SIG_IGN);

    memset(srv, 0, sizeof(*srv));
    strcpy(srv->dir, "/tmp/px-redis-XXXXXX");
    if (mkdtemp(srv->dir) == NULL) {
        return -1;
    }

    for (attempt = 0; attempt < 3; attempt++) {
        srv->port = free_port();
        if (srv->port > 0 && px_test_redis_spawn(srv) == 0) {
            snprintf(srv->url, sizeof(srv->url), "redis://127.0.0.1:%d/0",
                     srv->port);
            return 0;
        }
    }

    return -1;
}

void
px_test_redis_kill(px_test_redis_t *srv)
{
    if (srv->pid > 0) {
        kill(srv->pid, SIGKILL);
        waitpid(srv->pid, NULL, 0);
        srv->pid = 0;
    }
}

void
px_test_redis_stop(px_test_redis_t *srv)
{
    DIR            *d;
    char            path[512];
    struct dirent  *e;

    px_test_redis_kill(srv);

    if (srv->dir[0] == '\0') {
        return;
    }

    d = opendir(srv->dir);
    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                snprintf(path, sizeof(path), "%s/%s", srv->dir, e->d_name);
                unlink(path);
            }
        }
        closedir(d);
    }
    rmdir(srv->dir);
    srv->dir[0] = '\0';
}

/* A command on a connection of its own (not the stage's). */
redisReply *
px_test_redis_cmd(const px_test_redis_t *srv, const char *fmt, ...)
{
    va_list          ap;
    redisReply      *r;
    redisContext    *c;
    struct timeval   tv = { 2, 0 };

    c = redisConnectWithTimeout("127.0.0.1", srv->port, tv);
    ck_assert_msg(c != NULL && c->err == 0, "test connection to redis");

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);

    redisFree(c);
    ck_assert_ptr_nonnull(r);
    return r;
}

/* calls= of "cmdstat_<cmd>" in INFO commandstats (0 when absent). */
long long
px_test_redis_cmdstat(const px_test_redis_t *srv, const char *cmd)
{
    char         needle[64];
    const char  *p;
    long long    calls;
    redisReply  *r;

    r = px_test_redis_cmd(srv, "INFO commandstats");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);

    snprintf(needle, sizeof(needle), "cmdstat_%s:calls=", cmd);
    p = strstr(r->str, needle);
    calls = p != NULL ? strtoll(p + strlen(needle), NULL, 10) : 0;
    freeReplyObject(r);
    return calls;
}

/* The server's CPU seconds so far (used_cpu_sys + used_cpu_user of
 * INFO cpu): what it spent on the commands, network I/O included. */
static double
redis_cpu_s(const px_test_redis_t *srv_)
{
    double       cpu = 0;
    const char  *p;
    redisReply  *r;

    r = px_test_redis_cmd(srv_, "INFO cpu");
    p = strstr(r->str, "used_cpu_sys:");
    cpu += p != NULL ? strtod(p + 13, NULL) : 0;
    p = strstr(r->str, "used_cpu_user:");
    cpu += p != NULL ? strtod(p + 14, NULL) : 0;
    freeReplyObject(r);
    return cpu;
}

/* ---- batches of test events ------------------------------------------- */

#define MIN_MS   (60 * 1000LL)
#define T0       1700000000000LL            /* 2023-11-14, ms */

typedef struct {
    size_t              n;
    size_t              cap;
    px_event_row_t     *rows;
    px_stage_origin_t  *origins;
    unsigned char      *drop;
    char              (*ids)[PX_SESSION_ID_LEN + 1];
} tb_t;

static px_test_redis_t      srv;
static px_session_stage_t  *stage;
static char                 err[512];
static tb_t                 b;

static void
tb_init(tb_t *t, size_t cap)
{
    memset(t, 0, sizeof(*t));
    t->cap = cap;
    t->rows = calloc(cap, sizeof(*t->rows));
    t->origins = calloc(cap, sizeof(*t->origins));
    t->drop = calloc(cap, 1);
    t->ids = calloc(cap, sizeof(*t->ids));
    ck_assert(t->rows && t->origins && t->drop && t->ids);
}

static void
tb_free(tb_t *t)
{
    free(t->rows);
    free(t->origins);
    free(t->drop);
    free(t->ids);
    memset(t, 0, sizeof(*t));
}

/* Add an event of visitor `anon` in project "p1"; event id from `num`,
 * origin partition 0, offset `num`. */
static px_event_row_t *
tb_add_full(tb_t *t, const char *project, const char *anon,
    const char *user, unsigned num, int64_t ts_ms, int32_t part,
    int64_t offset)
{
    px_event_row_t  *row;

    ck_assert(t->n < t->cap);
    row = &t->rows[t->n];
    memset(row, 0, sizeof(*row));
    snprintf(t->ids[t->n], sizeof(t->ids[0]),
             "%08x-0000-4000-8000-000000000000", num);
    row->msg.project_id = project;
    row->msg.event_id = t->ids[t->n];
    row->msg.anonymous_id = anon;
    row->msg.user_id = user;
    row->msg.ts_ms = ts_ms;
    t->origins[t->n].partition = part;
    t->origins[t->n].offset = offset;
    t->drop[t->n] = 0xee;
    t->n++;
    return row;
}

static px_event_row_t *
tb_add(tb_t *t, const char *anon, unsigned num, int64_t ts_ms)
{
    return tb_add_full(t, "p1", anon, NULL, num, ts_ms, 0, num);
}

static void
tb_run(px_session_stage_t *s, tb_t *t)
{
    int  rc;

    rc = px_session_stage_run(s, t->rows, t->n, t->origins, t->drop, err,
                              sizeof(err));
    ck_assert_msg(rc == 0, "stage failed: %s", err);
}

#define SID(i)  (b.rows[i].session_id)
#define SEQ(i)  (b.rows[i].session_seq)
#define FIRST(i)  (b.rows[i].session_first_ms)

/* PX_SESSION_CACHE_MB of the stages made (the "session_cached" case runs
 * every test with the visitor cache on, too). */
static long  test_cache_mb;

/* A stage on the test's redis-server (also for test_dedupe.c). */
px_session_stage_t *
px_test_stage_new(const px_test_redis_t *server, long timeout_s,
    long max_s, long ttl_s, const char *prefix)
{
    px_session_conf_t    conf;
    px_session_stage_t  *s;

    memset(&conf, 0, sizeof(conf));
    conf.redis_url = server->url;
    conf.session_timeout_s = timeout_s;
    conf.session_max_s = max_s;
    conf.dedupe_ttl_s = ttl_s;
    conf.connect_timeout_ms = 500;
    conf.io_timeout_ms = 2000;
    conf.key_prefix = prefix;
    conf.cache_mb = test_cache_mb;

    s = px_session_stage_new(&conf, err, sizeof(err));
    ck_assert_msg(s != NULL, "stage: %s", err);
    return s;
}

static px_session_stage_t *
stage_new(long timeout_s, long max_s, long ttl_s)
{
    return px_test_stage_new(&srv, timeout_s, max_s, ttl_s, NULL);
}

static void
setup(void)
{
    ck_assert_msg(px_test_redis_start(&srv) == 0,
                  "redis-server did not start (see %s/redis.log)", srv.dir);
    stage = stage_new(1800, 86400, 86400);
    tb_init(&b, 64);
}

static void
setup_cached(void)
{
    test_cache_mb = 1;
    setup();
}

static void
teardown(void)
{
    px_session_stage_free(stage);
    stage = NULL;
    tb_free(&b);
    px_test_redis_stop(&srv);
    test_cache_mb = 0;
}

static void
assert_uuid_shape(const char *s)
{
    int  i;

    ck_assert_uint_eq(strlen(s), 36);
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            ck_assert_int_eq(s[i], '-');
        } else {
            ck_assert_msg(strchr("0123456789abcdef", s[i]) != NULL,
                          "not lowercase hex: %s", s);
        }
    }
    ck_assert_int_eq(s[14], '5');
    ck_assert_msg(strchr("89ab", s[19]) != NULL, "variant: %s", s);
}

/* ---- the rules --------------------------------------------------------- */

START_TEST(test_session__gap_below_timeout_same_session)
{
    tb_add(&b, "a", 1, T0);
    tb_add(&b, "a", 2, T0 + 29 * MIN_MS);
    tb_add(&b, "a", 3, T0 + 29 * MIN_MS + 29 * MIN_MS + 59999);
    tb_run(stage, &b);

    assert_uuid_shape(SID(0));
    /* pinned: docs/sessions.md's formula; ids must not change across
     * releases (a replay after an upgrade must find the same ids) */
    ck_assert_str_eq(SID(0), "e326a2e6-c9ef-56c8-8ac6-9374fbaab64f");
    ck_assert_str_eq(SID(1), SID(0));
    ck_assert_str_eq(SID(2), SID(0));
    ck_assert_uint_eq(SEQ(0), 1);
    ck_assert_uint_eq(SEQ(1), 2);
    ck_assert_uint_eq(SEQ(2), 3);
    ck_assert_int_eq(b.drop[0] | b.drop[1] | b.drop[2], 0);
    ck_assert_uint_eq(px_session_stage_stats(stage)->new_sessions, 1);
}
END_TEST

START_TEST(test_session__gap_equal_timeout_same_session)
{
    /* the rule: a gap of exactly PX_SESSION_TIMEOUT continues */
    tb_add(&b, "a", 1, T0);
    tb_add(&b, "a", 2, T0 + 30 * MIN_MS);
    tb_run(stage, &b);

    ck_assert_str_eq(SID(1), SID(0));
    ck_assert_uint_eq(SEQ(1), 2);
}
END_TEST

START_TEST(test_session__gap_above_timeout_new_session)
{
    tb_add(&b, "a", 1, T0);
    tb_add(&b, "a", 2, T0 + 30 * MIN_MS + 1);   /* 1 ms over */
    tb_add(&b, "a", 3, T0 + 31 * MIN_MS);
    tb_run(stage, &b);

    ck_assert_str_ne(SID(1), SID(0));
    assert_uuid_shape(SID(1));
    ck_assert_uint_eq(SEQ(1), 1);
    ck_assert_str_eq(SID(2), SID(1));
    ck_assert_uint_eq(SEQ(2), 2);
    ck_assert_uint_eq(px_session_stage_stats(stage)->new_sessions, 2);
}
END_TEST

START_TEST(test_session__gap_across_batches)
{
    /* state lives in Redis between batches */
    tb_add(&b, "a", 1, T0);
    tb_run(stage, &b);
    char  first[PX_SESSION_ID_LEN + 1];
    strcpy(first, SID(0));

    b.n = 0;
    tb_add(&b, "a", 2, T0 + 10 * MIN_MS);
    tb_run(stage, &b);
    ck_assert_str_eq(SID(0), first);
    ck_assert_uint_eq(SEQ(0), 2);

    b.n = 0;
    tb_add(&b, "a", 3, T0 + 50 * MIN_MS);
    tb_run(stage, &b);
    ck_assert_str_ne(SID(0), first);
    ck_assert_uint_eq(SEQ(0), 1);
}
END_TEST

START_TEST(test_session__max_length)
{
    unsigned  k;

    /* an event every 30 min (== timeout: continues) for 24.5 h: the one
     * exactly 24 h after the start still joins, the next starts anew */
    tb_free(&b);
    tb_init(&b, 64);
    for (k = 0; k <= 49; k++) {
        tb_add(&b, "a", k + 1, T0 + (int64_t) k * 30 * MIN_MS);
    }
    tb_run(stage, &b);

    for (k = 1; k <= 48; k++) {
        ck_assert_str_eq(SID(k), SID(0));
        ck_assert_uint_eq(SEQ(k), k + 1);
    }
    ck_assert_str_ne(SID(49), SID(0));
    ck_assert_uint_eq(SEQ(49), 1);
}
END_TEST

START_TEST(test_session__interleaved_tabs)
{
    /* two tabs of one visitor; their clocks and sends interleave, so the
     * worker sees timestamps slightly out of order */
    tb_add(&b, "a", 1, T0);                     /* tab 1 */
    tb_add(&b, "a", 2, T0 + 10000);             /* tab 1 */
    tb_add(&b, "a", 3, T0 + 5000);              /* tab 2, late */
    tb_add(&b, "a", 4, T0 + 20000);             /* tab 1 */
    tb_add(&b, "a", 5, T0 + 15000);             /* tab 2, late */
    tb_add(&b, "a", 6, T0 + 30000);             /* tab 2 */
    tb_run(stage, &b);

    for (unsigned i = 0; i < 6; i++) {
        ck_assert_str_eq(SID(i), SID(0));
        ck_assert_uint_eq(SEQ(i), i + 1);
    }
    ck_assert_uint_eq(px_session_stage_stats(stage)->late_events, 2);
    ck_assert_uint_eq(px_session_stage_stats(stage)->new_sessions, 1);

    /* the session's end is 30 s (not 15 s): 30 min after it continues */
    b.n = 0;
    tb_add(&b, "a", 7, T0 + 30000 + 30 * MIN_MS);
    tb_run(stage, &b);
    ck_assert_uint_eq(SEQ(0), 7);
}
END_TEST

START_TEST(test_session__late_event)
{
    char  sid[PX_SESSION_ID_LEN + 1];

    tb_add(&b, "a", 1, T0);
    tb_add(&b, "a", 2, T0 + 10 * MIN_MS);
    tb_add(&b, "a", 3, T0 + 20 * MIN_MS);
    tb_add(&b, "a", 4, T0 + 5 * MIN_MS);        /* late, inside */
    tb_add(&b, "a", 5, T0 - 20 * MIN_MS);       /* late, before the start
                                                 * but within the timeout */
    tb_run(stage, &b);
    strcpy(sid, SID(0));

    ck_assert_str_eq(SID(3), sid);
    ck_assert_uint_eq(SEQ(3), 4);
    ck_assert_str_eq(SID(4), sid);
    ck_assert_uint_eq(SEQ(4), 5);
    /* the start moved back 20 min; first, the session's month, did not */
    ck_assert_int_eq(FIRST(0), T0);
    ck_assert_int_eq(FIRST(4), T0);

    /* the end did not move back: 30 min after the 20-min event joins
     * (measured from the 5-min late event it would be 45 min: new) */
    b.n = 0;
    tb_add(&b, "a", 6, T0 + 50 * MIN_MS);
    /* far too late for this session: a session of its own, and the
     * visitor's current session is left as it was */
    tb_add(&b, "a", 7, T0 - 2 * 60 * MIN_MS);
    tb_add(&b, "a", 8, T0 + 51 * MIN_MS);
    tb_run(stage, &b);

    ck_assert_str_eq(SID(0), sid);
    ck_assert_uint_eq(SEQ(0), 6);
    ck_assert_str_ne(SID(1), sid);
    assert_uuid_shape(SID(1));
    ck_assert_uint_eq(SEQ(1), 1);
    ck_assert_str_eq(SID(2), sid);
    ck_assert_uint_eq(SEQ(2), 7);
    ck_assert_int_eq(FIRST(0), T0);
    ck_assert_int_eq(FIRST(1), T0 - 2 * 60 * MIN_MS);
    ck_assert_int_eq(FIRST(2), T0);
    ck_assert_uint_eq(px_session_stage_stats(stage)->late_events, 3);
}
END_TEST

START_TEST(test_session__late_events_chain)
{
    char      cur[PX_SESSION_ID_LEN + 1];
    unsigned  k;

    /* an offline queue flushed after a new page view: the page view is
     * the current session; the queue's events, older than it by hours and
     * 5 min apart, are one late session of their own, not one each */
    tb_add(&b, "a", 1, T0 + 3 * 60 * MIN_MS);
    for (k = 0; k < 5; k++) {
        tb_add(&b, "a", 10 + k, T0 + (int64_t) k * 5 * MIN_MS);
    }
    tb_run(stage, &b);
    strcpy(cur, SID(0));

    ck_assert_str_ne(SID(1), cur);
    ck_assert_uint_eq(SEQ(1), 1);
    for (k = 2; k <= 5; k++) {
        ck_assert_str_eq(SID(k), SID(1));
        ck_assert_uint_eq(SEQ(k), k);
    }

    /* the current session goes on as it was */
    b.n = 0;
    tb_add(&b, "a", 2, T0 + 3 * 60 * MIN_MS + MIN_MS);
    /* and the late session still chains, in the next batch too */
    tb_add(&b, "a", 20, T0 + 25 * MIN_MS);
    tb_run(stage, &b);
    ck_assert_str_eq(SID(0), cur);
    ck_assert_uint_eq(SEQ(0), 2);
    ck_assert_uint_eq(SEQ(1), 6);
    ck_assert_uint_eq(px_session_stage_stats(stage)->late_events, 6);
}
END_TEST

START_TEST(test_session__late_event_of_the_previous_session)
{
    char  first[PX_SESSION_ID_LEN + 1], second[PX_SESSION_ID_LEN + 1];

    tb_add(&b, "a", 1, T0);
    tb_add(&b, "a", 2, T0 + 10 * MIN_MS);
    tb_add(&b, "a", 3, T0 + 45 * MIN_MS);       /* 35 min later: new */
    /* late, 5 min after the first session and 30 min before the second:
     * both could take it; the nearer one does */
    tb_add(&b, "a", 4, T0 + 15 * MIN_MS);
    /* late, nearer the second: it joins the current one */
    tb_add(&b, "a", 5, T0 + 35 * MIN_MS);
    tb_run(stage, &b);
    strcpy(first, SID(0));
    strcpy(second, SID(2));

    ck_assert_str_ne(first, second);
    ck_assert_str_eq(SID(3), first);
    ck_assert_uint_eq(SEQ(3), 3);
    ck_assert_str_eq(SID(4), second);
    ck_assert_uint_eq(SEQ(4), 2);
}
END_TEST

START_TEST(test_session__late_event_beyond_max)
{
    int64_t  day = 24 * 60 * MIN_MS;

    /* a session that already spans 24 h cannot take an earlier event */
    tb_free(&b);
    tb_init(&b, 64);
    for (unsigned k = 0; k <= 48; k++) {
        tb_add(&b, "a", k + 1, T0 + (int64_t) k * 30 * MIN_MS);
    }
    tb_add(&b, "a", 100, T0 - 1);
    tb_run(stage, &b);

    ck_assert_str_eq(SID(48), SID(0));
    ck_assert_int_eq(b.rows[48].msg.ts_ms - b.rows[0].msg.ts_ms, day);
    ck_assert_str_ne(SID(49), SID(0));
    ck_assert_uint_eq(SEQ(49), 1);
}
END_TEST

START_TEST(test_session__visitors_apart)
{
    tb_add_full(&b, "p1", "a", NULL, 1, T0, 0, 1);
    tb_add_full(&b, "p1", "b", NULL, 2, T0, 0, 2);
    tb_add_full(&b, "p2", "a", NULL, 3, T0, 0, 3);  /* other project */
    tb_add_full(&b, "p1", NULL, "u1", 4, T0, 0, 4); /* user_id only */
    tb_add_full(&b, "p1", "", "u1", 5, T0, 0, 5);   /* "" anon: user_id */
    tb_add_full(&b, "p1", "a", "u9", 6, T0, 0, 6);  /* anon wins */
    tb_add_full(&b, "p1", NULL, NULL, 7, T0, 0, 7); /* nobody: own */
    tb_add_full(&b, "p1", NULL, NULL, 8, T0, 0, 8);
    tb_run(stage, &b);

    ck_assert_str_ne(SID(0), SID(1));
    ck_assert_str_ne(SID(0), SID(2));
    ck_assert_str_ne(SID(0), SID(3));
    ck_assert_str_eq(SID(4), SID(3));
    ck_assert_uint_eq(SEQ(4), 2);
    ck_assert_str_eq(SID(5), SID(0));
    ck_assert_uint_eq(SEQ(5), 2);
    ck_assert_str_ne(SID(6), SID(7));
    ck_assert_uint_eq(SEQ(6), 1);
    ck_assert_uint_eq(SEQ(7), 1);
}
END_TEST

/* A mixed workload over three batches; returns ids and seqs by event. */
static void
mixed(tb_t *t, unsigned batch)
{
    unsigned     i, num;
    const char  *who[] = { "a", "b", "c" };

    t->n = 0;
    for (i = 0; i < 12; i++) {
        num = batch * 100 + i + 1;
        tb_add(t, who[i % 3], num,
               T0 + (int64_t) batch * 25 * MIN_MS + (int64_t) i * 1000
               - (i == 7 ? 30000 : 0));
    }
}

START_TEST(test_session__replay_same_ids)
{
    tb_t      first[3];
    unsigned  k, i;

    for (k = 0; k < 3; k++) {
        tb_init(&first[k], 16);
        mixed(&first[k], k);
        tb_run(stage, &first[k]);
    }
    ck_assert_uint_eq(px_session_stage_stats(stage)->replays, 0);

    /* batch 1 and 2 read again (a crash before the commit), in order,
     * then batch 0 again (a rebalance rewound further) */
    for (k = 1; k <= 3; k++) {
        unsigned  which = k % 3;

        mixed(&b, which);
        tb_run(stage, &b);
        for (i = 0; i < b.n; i++) {
            ck_assert_str_eq(SID(i), first[which].rows[i].session_id);
            ck_assert_uint_eq(SEQ(i), first[which].rows[i].session_seq);
            ck_assert_int_eq(FIRST(i),
                             first[which].rows[i].session_first_ms);
            ck_assert_int_eq(b.drop[i], 0);
        }
    }

    ck_assert_uint_eq(px_session_stage_stats(stage)->replays, 36);
    ck_assert_uint_eq(px_session_stage_stats(stage)->new_sessions, 3);
    /* b, c, a each continued across the three batches */
    ck_assert_str_eq(first[2].rows[0].session_id,
                     first[0].rows[0].session_id);

    for (k = 0; k < 3; k++) {
        tb_free(&first[k]);
    }
}
END_TEST

START_TEST(test_session__ids_deterministic)
{
    tb_t      first;
    unsigned  i;

    /* Redis state lost (FLUSHALL): reading the same events again in the
     * same order gives the same ids, on another worker too */
    tb_init(&first, 16);
    mixed(&first, 0);
    tb_run(stage, &first);

    freeReplyObject(px_test_redis_cmd(&srv, "FLUSHALL"));

    px_session_stage_t  *other = stage_new(1800, 86400, 86400);
    mixed(&b, 0);
    tb_run(other, &b);
    for (i = 0; i < b.n; i++) {
        ck_assert_str_eq(SID(i), first.rows[i].session_id);
        ck_assert_uint_eq(SEQ(i), first.rows[i].session_seq);
    }
    ck_assert_uint_eq(px_session_stage_stats(other)->replays, 0);

    px_session_stage_free(other);
    tb_free(&first);
}
END_TEST

START_TEST(test_session__other_worker_continues)
{
    px_session_stage_t  *w2;

    /* a rebalance: the visitor's partition moves to another worker */
    tb_add(&b, "a", 1, T0);
    tb_add(&b, "a", 2, T0 + MIN_MS);
    tb_run(stage, &b);
    char  sid[PX_SESSION_ID_LEN + 1];
    strcpy(sid, SID(0));

    w2 = stage_new(1800, 86400, 86400);
    b.n = 0;
    tb_add(&b, "a", 3, T0 + 2 * MIN_MS);
    tb_run(w2, &b);
    ck_assert_str_eq(SID(0), sid);
    ck_assert_uint_eq(SEQ(0), 3);
    px_session_stage_free(w2);
}
END_TEST

START_TEST(test_session__redis_down_retryable)
{
    unsigned  i;

    tb_add(&b, "a", 1, T0);
    tb_run(stage, &b);

    px_test_redis_kill(&srv);

    b.n = 0;
    tb_add(&b, "a", 2, T0 + MIN_MS);
    tb_add(&b, "b", 3, T0 + MIN_MS);
    strcpy(b.rows[0].session_id, "untouched");
    b.rows[0].session_seq = 77;

    err[0] = '\0';
    ck_assert_int_eq(px_session_stage_run(stage, b.rows, b.n, b.origins,
                                          b.drop, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "redis") != NULL, "err: %s", err);
    /* nothing assigned from partial state, nothing dropped */
    ck_assert_str_eq(b.rows[0].session_id, "untouched");
    ck_assert_uint_eq(b.rows[0].session_seq, 77);
    ck_assert_str_eq(b.rows[1].session_id, "");
    for (i = 0; i < b.n; i++) {
        ck_assert_uint_eq(b.drop[i], 0xee);
    }

    /* still down: still retryable, quickly */
    ck_assert_int_eq(px_session_stage_run(stage, b.rows, b.n, b.origins,
                                          b.drop, err, sizeof(err)), -1);
    ck_assert_uint_eq(px_session_stage_stats(stage)->redis_errors, 2);

    /* back (empty: the state of a server without persistence is gone) */
    ck_assert_int_eq(px_test_redis_spawn(&srv), 0);
    tb_run(stage, &b);
    ck_assert_uint_eq(SEQ(0), 1);
    ck_assert_int_eq(b.drop[0] | b.drop[1], 0);
    assert_uuid_shape(SID(0));
}
END_TEST

START_TEST(test_session__redis_down_mid_batch_replay)
{
    px_session_stage_t  *slow;
    unsigned             i;
    char                 sids[4][PX_SESSION_ID_LEN + 1];

    /* the batch reached Redis but the answer was lost: the retry reads
     * back what the script stored */
    tb_add(&b, "a", 1, T0);
    tb_add(&b, "a", 2, T0 + 1000);
    tb_add(&b, "b", 3, T0);
    tb_add(&b, "b", 4, T0 + 1000);
    tb_run(stage, &b);
    for (i = 0; i < 4; i++) {
        strcpy(sids[i], SID(i));
    }

    slow = stage_new(1800, 86400, 86400);
    tb_run(slow, &b);
    for (i = 0; i < 4; i++) {
        ck_assert_str_eq(SID(i), sids[i]);
        ck_assert_uint_eq(SEQ(i), (i % 2) + 1);
    }
    ck_assert_uint_eq(px_session_stage_stats(slow)->replays, 4);
    px_session_stage_free(slow);
}
END_TEST

/* The hash that holds a field written now (session_store.h): family 'E'
 * or 'V', the window length in s. */
static void
hash_of(char *out, size_t len, char family, long window_s, const char *field)
{
    snprintf(out, len, "px:%c:%lld:%u", family,
             (long long) (time(NULL) / window_s),
             (unsigned) (px_kv_hash(field, strlen(field)) % PX_KV_SHARDS));
}

/* Another worker writes visitor a's key between the stage's read and its
 * write: a session of its own, with seq next_seq (one more each time). */
static int       between_calls;
static int       between_writes;
static unsigned  next_seq;

static void
other_writer(void *ctx)
{
    char         value[128];
    const char  *sid = ctx;
    redisReply  *r;

    between_calls++;
    if (between_writes-- > 0) {
        char  hash[64];

        snprintf(value, sizeof(value), "%s %lld %lld %u", sid, T0,
                 T0 + 1000, next_seq++);
        hash_of(hash, sizeof(hash), 'V', 86400 + 1800, "v:2:p1:a");
        r = px_test_redis_cmd(&srv, "HSET %s v:2:p1:a %s", hash, value);
        ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
        freeReplyObject(r);
    }
}

/* Another worker stores event 1 of visitor a first (same origin, 0:1),
 * in session sid with seq 4, and a's state with it. */
static void
other_claims(void *ctx)
{
    char         hash[64], value[128];
    const char  *sid = ctx;
    const char  *claim = "e:2:p1:00000001-0000-4000-8000-000000000000";

    if (between_writes-- <= 0) {
        return;
    }
    snprintf(value, sizeof(value), "0:1 %s 4", sid);
    hash_of(hash, sizeof(hash), 'E', 86400, claim);
    freeReplyObject(px_test_redis_cmd(&srv, "HSET %s %s %s", hash, claim,
                                      value));
    snprintf(value, sizeof(value), "%s %lld %lld 4", sid, T0 - 3000, T0);
    hash_of(hash, sizeof(hash), 'V', 86400 + 1800, "v:2:p1:a");
    freeReplyObject(px_test_redis_cmd(&srv, "HSET %s v:2:p1:a %s", hash,
                                      value));
}

START_TEST(test_session__concurrent_claim_kept)
{
    char         hash[64];
    const char  *sid = "11111111-2222-5333-8444-555555555555";
    const char  *claim = "e:2:p1:00000001-0000-4000-8000-000000000000";
    redisReply  *r;

    /* the run again takes event 1 as a replay of the other worker's
     * assignment and does not overwrite its claim; event 2 follows it */
    px_session_stage_between(stage, other_claims, (void *) sid);
    between_writes = 1;
    tb_add(&b, "a", 1, T0);
    tb_add(&b, "a", 2, T0 + 1000);
    tb_run(stage, &b);

    ck_assert_uint_eq(px_session_stage_stats(stage)->conflicts, 1);
    ck_assert_str_eq(SID(0), sid);
    ck_assert_uint_eq(SEQ(0), 4);
    ck_assert_str_eq(SID(1), sid);
    ck_assert_uint_eq(SEQ(1), 5);
    /* the other worker wrote the older forms (no first): both rows take
     * the start of the visitor's state, one partition for the session */
    ck_assert_int_eq(FIRST(0), T0 - 3000);
    ck_assert_int_eq(FIRST(1), T0 - 3000);

    hash_of(hash, sizeof(hash), 'E', 86400, claim);
    r = px_test_redis_cmd(&srv, "HGET %s %s", hash, claim);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_str_eq(r->str, "0:1 11111111-2222-5333-8444-555555555555 4");
    freeReplyObject(r);

    /* the claim event 2 got: with its session's first */
    claim = "e:2:p1:00000002-0000-4000-8000-000000000000";
    hash_of(hash, sizeof(hash), 'E', 86400, claim);
    r = px_test_redis_cmd(&srv, "HGET %s %s", hash, claim);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_str_eq(r->str, "0:2 11111111-2222-5333-8444-555555555555 5 "
                     "1699999997000");
    freeReplyObject(r);
}
END_TEST

static void
kill_server(void *ctx)
{
    (void) ctx;
    px_test_redis_kill(&srv);
}

START_TEST(test_session__redis_down_between_read_and_write)
{
    char  sid[PX_SESSION_ID_LEN + 1];

    tb_add(&b, "a", 1, T0);
    tb_run(stage, &b);
    strcpy(sid, SID(0));

    /* Redis dies after the read, before the write: retryable, nothing
     * assigned or dropped, so the batch is neither stored nor committed */
    px_session_stage_between(stage, kill_server, NULL);
    b.n = 0;
    tb_add(&b, "a", 2, T0 + 1000);
    tb_add(&b, "b", 3, T0 + 1000);
    b.rows[0].session_seq = 77;
    ck_assert_int_eq(px_session_stage_run(stage, b.rows, b.n, b.origins,
                                          b.drop, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "redis") != NULL, "err: %s", err);
    ck_assert_uint_eq(b.rows[0].session_seq, 77);
    ck_assert_str_eq(b.rows[1].session_id, "");
    ck_assert_uint_eq(b.drop[0], 0xee);
    ck_assert_uint_eq(px_session_stage_stats(stage)->redis_errors, 1);

    /* back, empty here (no persistence in tests): the batch read again
     * from the last commit, event 1 included, rebuilds the same ids */
    px_session_stage_between(stage, NULL, NULL);
    ck_assert_int_eq(px_test_redis_spawn(&srv), 0);
    b.n = 0;
    tb_add(&b, "a", 1, T0);
    tb_add(&b, "a", 2, T0 + 1000);
    tb_add(&b, "b", 3, T0 + 1000);
    tb_run(stage, &b);
    ck_assert_str_eq(SID(0), sid);
    ck_assert_str_eq(SID(1), sid);
    ck_assert_uint_eq(SEQ(1), 2);
    ck_assert_uint_eq(SEQ(2), 1);
}
END_TEST

START_TEST(test_session__noscript_fallback)
{
    const px_session_stats_t  *s = px_session_stage_stats(stage);

    tb_add(&b, "a", 1, T0);
    tb_run(stage, &b);
    ck_assert_uint_eq(s->round_trips, 2);

    freeReplyObject(px_test_redis_cmd(&srv, "SCRIPT FLUSH"));

    b.n = 0;
    tb_add(&b, "a", 2, T0 + 1000);
    tb_run(stage, &b);
    ck_assert_uint_eq(SEQ(0), 2);
    ck_assert_uint_eq(s->round_trips, 5);   /* read, EVALSHA, then EVAL */
    ck_assert_int_eq(px_test_redis_cmdstat(&srv, "eval"), 1);

    b.n = 0;
    tb_add(&b, "a", 3, T0 + 2000);
    tb_run(stage, &b);
    ck_assert_uint_eq(SEQ(0), 3);
    ck_assert_uint_eq(s->round_trips, 7);   /* EVAL cached it again */
}
END_TEST

START_TEST(test_session__concurrent_writer_runs_again)
{
    const px_session_stats_t  *s = px_session_stage_stats(stage);
    const char  *sid = "11111111-2222-5333-8444-555555555555";

    /* the other worker's write lands first: the stage's write does
     * nothing, the batch runs again on what that worker left (its
     * session, seq 7) */
    px_session_stage_between(stage, other_writer, (void *) sid);
    between_writes = 1;
    next_seq = 7;

    tb_add(&b, "a", 1, T0 + 2000);
    tb_add(&b, "b", 2, T0 + 2000);
    tb_run(stage, &b);

    ck_assert_int_eq(between_calls, 2);
    ck_assert_uint_eq(s->conflicts, 1);
    ck_assert_uint_eq(s->round_trips, 4);
    ck_assert_str_eq(SID(0), sid);
    ck_assert_uint_eq(SEQ(0), 8);
    ck_assert_uint_eq(SEQ(1), 1);

    /* a writer that never stops: retryable error, nothing of the batch
     * written nor assigned */
    between_writes = 100;
    b.n = 0;
    tb_add(&b, "a", 3, T0 + 3000);
    tb_add(&b, "c", 4, T0 + 3000);
    strcpy(b.rows[1].session_id, "untouched");
    ck_assert_int_eq(px_session_stage_run(stage, b.rows, b.n, b.origins,
                                          b.drop, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "another worker") != NULL, "err: %s", err);
    ck_assert_str_eq(b.rows[1].session_id, "untouched");
    ck_assert_uint_eq(b.drop[0], 0xee);

    char         hash[64];
    const char  *claim = "e:2:p1:00000003-0000-4000-8000-000000000000";
    redisReply  *r;

    hash_of(hash, sizeof(hash), 'V', 86400 + 1800, "v:2:p1:c");
    r = px_test_redis_cmd(&srv, "HEXISTS %s v:2:p1:c", hash);
    ck_assert_int_eq(r->integer, 0);
    freeReplyObject(r);
    hash_of(hash, sizeof(hash), 'E', 86400, claim);
    r = px_test_redis_cmd(&srv, "HEXISTS %s %s", hash, claim);
    ck_assert_int_eq(r->integer, 0);
    freeReplyObject(r);
    ck_assert_uint_eq(s->redis_errors, 1);

    /* the writer gone: the batch goes through, after its last state */
    between_writes = 0;
    tb_run(stage, &b);
    ck_assert_str_eq(SID(0), sid);
    ck_assert_uint_eq(SEQ(0), next_seq);
}
END_TEST

static double
now_us(clockid_t clock)
{
    struct timespec  ts;

    clock_gettime(clock, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* calls of each command the stage sends, from INFO commandstats */
typedef struct {
    long long  hmget, hset, evalsha, keys;
} cmds_t;

static void
cmds_now(cmds_t *c)
{
    c->hmget = px_test_redis_cmdstat(&srv, "hmget");
    c->hset = px_test_redis_cmdstat(&srv, "hset");
    c->evalsha = px_test_redis_cmdstat(&srv, "evalsha");
    /* commands on keys of their own, as the old script used */
    c->keys = px_test_redis_cmdstat(&srv, "get")
              + px_test_redis_cmdstat(&srv, "set")
              + px_test_redis_cmdstat(&srv, "mget");
}

START_TEST(test_session__batch_two_round_trips)
{
    static const char  *who[50];
    static char         names[50][16];
    unsigned            i, r, rounds = 20;
    cmds_t              c0, c1;
    double              t0, p0, r0, best = 1e18, total = 0, cpu = 0;
    const px_session_stats_t  *s = px_session_stage_stats(stage);

    for (i = 0; i < 50; i++) {
        snprintf(names[i], sizeof(names[i]), "visitor-%u", i);
        who[i] = names[i];
    }

    tb_free(&b);
    tb_init(&b, 1000);

    /* the first batch connects */
    for (i = 0; i < 1000; i++) {
        tb_add(&b, who[i % 50], i + 1, T0 + i * 1000);
    }
    tb_run(stage, &b);
    ck_assert_uint_eq(s->round_trips, 2);

    cmds_now(&c0);
    r0 = redis_cpu_s(&srv);

    for (r = 1; r <= rounds; r++) {
        b.n = 0;
        for (i = 0; i < 1000; i++) {
            tb_add(&b, who[i % 50], r * 1000 + i + 1,
                   T0 + (int64_t) (r * 1000 + i) * 1000);
        }
        t0 = now_us(CLOCK_MONOTONIC);
        p0 = now_us(CLOCK_PROCESS_CPUTIME_ID);
        tb_run(stage, &b);
        cpu += now_us(CLOCK_PROCESS_CPUTIME_ID) - p0;
        t0 = now_us(CLOCK_MONOTONIC) - t0;
        total += t0;
        best = t0 < best ? t0 : best;

        for (i = 0; i < 1000; i++) {
            ck_assert_int_eq(b.drop[i], 0);
            ck_assert_uint_eq(SEQ(i), r * 20 + i / 50 + 1);
        }
    }
    r0 = redis_cpu_s(&srv) - r0;

    /* per 1000-event batch of 50 visitors: HMGETs of the claims and the
     * visitors, by shard, in the current and the previous window (one
     * round trip), then one script call (the second) that compares the
     * visitors and HSETs them and the claims, a command per shard; the
     * rules ran in the worker; no key per event */
    cmds_now(&c1);
    ck_assert_uint_eq(s->round_trips, 2 + 2 * rounds);
    ck_assert_int_eq(c1.evalsha - c0.evalsha, rounds);
    /* (the script's own HMGETs and HSETs count too) */
    ck_assert_int_le(c1.hmget - c0.hmget, 6 * PX_KV_SHARDS * rounds);
    ck_assert_int_ge(c1.hmget - c0.hmget, 4 * rounds);
    ck_assert_int_le(c1.hset - c0.hset, 2 * PX_KV_SHARDS * rounds);
    ck_assert_int_ge(c1.hset - c0.hset, 2 * rounds);
    ck_assert_int_eq(c1.keys, c0.keys);

    fprintf(stderr, "session stage, %u batches of 1000 events of 50 "
            "visitors, local redis: wall %.2f us/event (best batch %.2f), "
            "worker CPU %.2f us/event, redis CPU %.2f us/event\n",
            rounds, total / rounds / 1000, best / 1000, cpu / rounds / 1000,
            r0 * 1e6 / rounds / 1000);

    /* the worst case: every event a new visitor */
    {
        static char  anon[1000][24];

        total = 0;
        cpu = 0;
        r0 = redis_cpu_s(&srv);
        for (r = 0; r < rounds; r++) {
            b.n = 0;
            for (i = 0; i < 1000; i++) {
                snprintf(anon[i], sizeof(anon[i]), "v-%u-%u", r, i);
                tb_add(&b, anon[i], 100000 + r * 1000 + i, T0);
            }
            t0 = now_us(CLOCK_MONOTONIC);
            p0 = now_us(CLOCK_PROCESS_CPUTIME_ID);
            tb_run(stage, &b);
            cpu += now_us(CLOCK_PROCESS_CPUTIME_ID) - p0;
            total += now_us(CLOCK_MONOTONIC) - t0;
            ck_assert_uint_eq(SEQ(999), 1);
        }
        r0 = redis_cpu_s(&srv) - r0;
    }
    fprintf(stderr, "session stage, %u batches of 1000 events of 1000 new "
            "visitors: wall %.2f us/event, worker CPU %.2f us/event, redis "
            "CPU %.2f us/event\n", rounds, total / rounds / 1000,
            cpu / rounds / 1000, r0 * 1e6 / rounds / 1000);

    /* a replayed batch writes nothing: one round trip */
    cmds_now(&c0);
    i = (unsigned) s->round_trips;
    tb_run(stage, &b);
    cmds_now(&c1);
    ck_assert_uint_eq(s->replays, 1000);
    ck_assert_uint_eq(s->round_trips, i + 1);
    ck_assert_int_eq(c1.evalsha - c0.evalsha, 0);
    ck_assert_int_eq(c1.hset - c0.hset, 0);
}
END_TEST

START_TEST(test_session__chunks_keep_order)
{
    unsigned  i, per[PX_KV_SHARDS], most = 0;
    char      field[64];
    const unsigned  n = 70000;
    const px_session_stats_t  *s = px_session_stage_stats(stage);

    /* more claims in a shard than one HMGET (or one group of the
     * script) takes: still two round trips, and every group's answers
     * land in their rows */
    tb_free(&b);
    tb_init(&b, n);
    memset(per, 0, sizeof(per));
    for (i = 0; i < n; i++) {
        tb_add(&b, "a", i + 1, T0 + i * 100);
        snprintf(field, sizeof(field), "e:2:p1:%s", b.ids[i]);
        per[px_kv_hash(field, strlen(field)) % PX_KV_SHARDS]++;
    }
    for (i = 0; i < PX_KV_SHARDS; i++) {
        most = per[i] > most ? per[i] : most;
    }
    ck_assert_uint_gt(most, 1000);

    tb_run(stage, &b);
    ck_assert_uint_eq(s->round_trips, 2);
    ck_assert_int_eq(px_test_redis_cmdstat(&srv, "evalsha"), 1);
    for (i = 0; i < n; i++) {
        ck_assert_str_eq(SID(i), SID(0));
        ck_assert_uint_eq(SEQ(i), i + 1);
    }

    /* read again: every chunk's answers in the right rows */
    for (i = 0; i < n; i++) {
        b.rows[i].session_seq = 0;
    }
    tb_run(stage, &b);
    ck_assert_uint_eq(s->replays, n);
    for (i = 0; i < n; i++) {
        ck_assert_uint_eq(SEQ(i), i + 1);
    }
}
END_TEST

/* ---- redis_conn -------------------------------------------------------- */

START_TEST(test_session__redis_url)
{
    px_redis_url_t  u;

    ck_assert_int_eq(px_redis_url_parse("redis://127.0.0.1:6380/2", &u, err,
                                        sizeof(err)), 0);
    ck_assert_str_eq(u.host, "127.0.0.1");
    ck_assert_int_eq(u.port, 6380);
    ck_assert_int_eq(u.db, 2);
    ck_assert_str_eq(u.password, "");

    ck_assert_int_eq(px_redis_url_parse("redis://localhost", &u, err,
                                        sizeof(err)), 0);
    ck_assert_str_eq(u.host, "localhost");
    ck_assert_int_eq(u.port, 6379);
    ck_assert_int_eq(u.db, 0);

    ck_assert_int_eq(px_redis_url_parse("redis://:s%40cret@[::1]:7000/", &u,
                                        err, sizeof(err)), 0);
    ck_assert_str_eq(u.host, "::1");
    ck_assert_int_eq(u.port, 7000);
    ck_assert_str_eq(u.user, "");
    ck_assert_str_eq(u.password, "s@cret");

    ck_assert_int_eq(px_redis_url_parse("redis://bob:pw@h:1/3", &u, err,
                                        sizeof(err)), 0);
    ck_assert_str_eq(u.user, "bob");
    ck_assert_str_eq(u.password, "pw");
    ck_assert_int_eq(u.db, 3);

    ck_assert_int_eq(px_redis_url_parse("http://h", &u, err, sizeof(err)),
                     -1);
    ck_assert_int_eq(px_redis_url_parse("redis://", &u, err, sizeof(err)),
                     -1);
    ck_assert_int_eq(px_redis_url_parse("redis://h:0", &u, err,
                                        sizeof(err)), -1);
    ck_assert_int_eq(px_redis_url_parse("redis://h:99999", &u, err,
                                        sizeof(err)), -1);
    ck_assert_int_eq(px_redis_url_parse("redis://h:12x", &u, err,
                                        sizeof(err)), -1);
    ck_assert_int_eq(px_redis_url_parse("redis://h/x", &u, err,
                                        sizeof(err)), -1);
    ck_assert_int_eq(px_redis_url_parse("redis://[::1:1", &u, err,
                                        sizeof(err)), -1);
    ck_assert_int_eq(px_redis_url_parse("redis://:%4@h", &u, err,
                                        sizeof(err)), -1);
}
END_TEST

START_TEST(test_session__redis_conn_db_and_reconnect)
{
    px_redis_t  *r;
    redisReply  *reply;
    char         url[96];

    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/3", srv.port);
    r = px_redis_new(url, 500, 1000, err, sizeof(err));
    ck_assert_ptr_nonnull(r);

    reply = px_redis_command(r, err, sizeof(err), "SET k v");
    ck_assert_ptr_nonnull(reply);
    freeReplyObject(reply);
    ck_assert_uint_eq(px_redis_generation(r), 1);

    /* SELECT 3 was applied */
    reply = px_test_redis_cmd(&srv, "SELECT 3");
    freeReplyObject(reply);
    reply = px_test_redis_cmd(&srv, "EXISTS k");   /* db 0: no */
    ck_assert_int_eq(reply->integer, 0);
    freeReplyObject(reply);

    px_test_redis_kill(&srv);
    ck_assert_ptr_null(px_redis_command(r, err, sizeof(err), "PING"));
    ck_assert_ptr_null(px_redis_command(r, err, sizeof(err), "PING"));
    ck_assert_msg(strstr(err, "connect") != NULL, "err: %s", err);

    ck_assert_int_eq(px_test_redis_spawn(&srv), 0);
    reply = px_redis_command(r, err, sizeof(err), "PING");
    ck_assert_ptr_nonnull(reply);
    ck_assert_str_eq(reply->str, "PONG");
    freeReplyObject(reply);
    ck_assert_uint_eq(px_redis_generation(r), 2);

    px_redis_free(r);

    ck_assert_ptr_null(px_redis_new("redis://h:x", 0, 0, err, sizeof(err)));
}
END_TEST

START_TEST(test_session__stage_bad_settings)
{
    px_session_conf_t  conf;
    px_config_t        cfg;

    px_config_defaults(&cfg);
    px_session_conf_init(&conf, &cfg);
    ck_assert_int_eq(conf.session_timeout_s, 1800);
    ck_assert_int_eq(conf.session_max_s, 86400);
    ck_assert_int_eq(conf.dedupe_ttl_s, 86400);

    conf.redis_url = "redis://127.0.0.1:1/0";
    conf.session_timeout_s = 0;
    ck_assert_ptr_null(px_session_stage_new(&conf, err, sizeof(err)));
    conf.session_timeout_s = 1800;
    conf.redis_url = "nope";
    ck_assert_ptr_null(px_session_stage_new(&conf, err, sizeof(err)));

    /* an empty batch needs no Redis */
    conf.redis_url = "redis://127.0.0.1:1/0";
    px_session_stage_t  *s = px_session_stage_new(&conf, err, sizeof(err));
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(px_session_stage_run(s, NULL, 0, NULL, NULL, err,
                                          sizeof(err)), 0);
    px_session_stage_free(s);
}
END_TEST

/* ---- the visitor cache (session_cached case) ---------------------------- */

START_TEST(test_session__cache_skips_visitor_reads)
{
    static char          names[50][16];
    unsigned             i, r;
    tb_t                 plain;
    px_session_stage_t  *uncached;
    const px_session_stats_t  *s = px_session_stage_stats(stage);

    /* a stage without the cache, on keys of its own, gets the same ids */
    test_cache_mb = 0;
    uncached = px_test_stage_new(&srv, 1800, 86400, 86400, "other:");
    tb_init(&plain, 200);
    tb_free(&b);
    tb_init(&b, 200);

    for (i = 0; i < 50; i++) {
        snprintf(names[i], sizeof(names[i]), "visitor-%u", i);
    }

    for (r = 0; r < 3; r++) {
        b.n = 0;
        plain.n = 0;
        for (i = 0; i < 200; i++) {
            tb_add(&b, names[i % 50], r * 200 + i + 1,
                   T0 + (int64_t) (r * 200 + i) * 1000);
            tb_add(&plain, names[i % 50], r * 200 + i + 1,
                   T0 + (int64_t) (r * 200 + i) * 1000);
        }
        tb_run(stage, &b);
        tb_run(uncached, &plain);

        /* the first batch reads the 50 visitors, the next ones none */
        ck_assert_uint_eq(s->cache_misses, 50);
        ck_assert_uint_eq(s->cache_hits, 50 * r);
        for (i = 0; i < 200; i++) {
            ck_assert_str_eq(SID(i), plain.rows[i].session_id);
            ck_assert_uint_eq(SEQ(i), plain.rows[i].session_seq);
            ck_assert_uint_eq(SEQ(i), r * 4 + i / 50 + 1);
        }
    }
    ck_assert_uint_eq(s->conflicts, 0);
    ck_assert_uint_eq(s->round_trips, 6);
    ck_assert_uint_eq(px_session_stage_stats(uncached)->cache_hits, 0);

    px_session_stage_free(uncached);
    tb_free(&plain);
}
END_TEST

/* Events 1 and 2 of visitor a through the stage: its session id in sid,
 * its state in the cache. */
static void
run_a_twice(char *sid)
{
    b.n = 0;
    tb_add(&b, "a", 1, T0);
    tb_add(&b, "a", 2, T0 + MIN_MS);
    tb_run(stage, &b);
    ck_assert_uint_eq(SEQ(1), 2);
    strcpy(sid, SID(0));
}

START_TEST(test_session__cache_stale_after_other_worker)
{
    char                 sid[PX_SESSION_ID_LEN + 1];
    px_session_stage_t  *w2;

    /* the partition went to another worker and came back without a
     * rebalance callback here: the cached state is stale, the write's
     * compare-and-set sees it, the batch runs again on Redis's state */
    run_a_twice(sid);

    w2 = stage_new(1800, 86400, 86400);
    b.n = 0;
    tb_add(&b, "a", 3, T0 + 2 * MIN_MS);
    tb_run(w2, &b);
    ck_assert_uint_eq(SEQ(0), 3);
    px_session_stage_free(w2);

    b.n = 0;
    tb_add(&b, "a", 4, T0 + 3 * MIN_MS);
    tb_run(stage, &b);
    ck_assert_str_eq(SID(0), sid);
    ck_assert_uint_eq(SEQ(0), 4);
    ck_assert_uint_eq(px_session_stage_stats(stage)->conflicts, 1);

    /* and the state it wrote is the cache's again: no conflict */
    b.n = 0;
    tb_add(&b, "a", 5, T0 + 4 * MIN_MS);
    tb_run(stage, &b);
    ck_assert_uint_eq(SEQ(0), 5);
    ck_assert_uint_eq(px_session_stage_stats(stage)->conflicts, 1);
    ck_assert_uint_ge(px_session_stage_stats(stage)->cache_hits, 1);
}
END_TEST

START_TEST(test_session__cache_redis_lost)
{
    char         sid[PX_SESSION_ID_LEN + 1];
    redisReply  *r;

    /* Redis lost its data (a restore, a FLUSHALL) under the same
     * connection: as without the cache, the visitor starts afresh */
    run_a_twice(sid);

    r = px_test_redis_cmd(&srv, "FLUSHALL");
    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);

    b.n = 0;
    tb_add(&b, "a", 3, T0 + 2 * MIN_MS);
    tb_run(stage, &b);
    ck_assert_uint_eq(SEQ(0), 1);
    ck_assert_str_ne(SID(0), sid);
    ck_assert_uint_eq(px_session_stage_stats(stage)->conflicts, 1);
}
END_TEST

START_TEST(test_session__cache_forget)
{
    const px_session_stats_t  *s = px_session_stage_stats(stage);

    tb_add(&b, "a", 1, T0);
    tb_run(stage, &b);
    b.n = 0;
    tb_add(&b, "a", 2, T0 + MIN_MS);
    tb_run(stage, &b);
    ck_assert_uint_eq(s->cache_hits, 1);

    /* a rebalance: read from Redis again */
    px_session_stage_forget(stage);
    b.n = 0;
    tb_add(&b, "a", 3, T0 + 2 * MIN_MS);
    tb_run(stage, &b);
    ck_assert_uint_eq(s->cache_hits, 1);
    ck_assert_uint_eq(s->cache_misses, 2);
    ck_assert_uint_eq(SEQ(0), 3);
    ck_assert_uint_eq(s->conflicts, 0);
}
END_TEST

/* Every test above, on a TCase. */
static void
add_tests(TCase *tc)
{
    tcase_add_test(tc, test_session__gap_below_timeout_same_session);
    tcase_add_test(tc, test_session__gap_equal_timeout_same_session);
    tcase_add_test(tc, test_session__gap_above_timeout_new_session);
    tcase_add_test(tc, test_session__gap_across_batches);
    tcase_add_test(tc, test_session__max_length);
    tcase_add_test(tc, test_session__interleaved_tabs);
    tcase_add_test(tc, test_session__late_event);
    tcase_add_test(tc, test_session__late_event_beyond_max);
    tcase_add_test(tc, test_session__late_events_chain);
    tcase_add_test(tc, test_session__late_event_of_the_previous_session);
    tcase_add_test(tc, test_session__visitors_apart);
    tcase_add_test(tc, test_session__replay_same_ids);
    tcase_add_test(tc, test_session__ids_deterministic);
    tcase_add_test(tc, test_session__other_worker_continues);
    tcase_add_test(tc, test_session__redis_down_retryable);
    tcase_add_test(tc, test_session__redis_down_mid_batch_replay);
    tcase_add_test(tc, test_session__concurrent_claim_kept);
    tcase_add_test(tc, test_session__redis_down_between_read_and_write);
    tcase_add_test(tc, test_session__noscript_fallback);
    tcase_add_test(tc, test_session__concurrent_writer_runs_again);
    tcase_add_test(tc, test_session__batch_two_round_trips);
    tcase_add_test(tc, test_session__chunks_keep_order);
    tcase_add_test(tc, test_session__redis_url);
    tcase_add_test(tc, test_session__redis_conn_db_and_reconnect);
    tcase_add_test(tc, test_session__stage_bad_settings);
}

Suite *
make_suite_session(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("session");
    tc = tcase_create("session");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    add_tests(tc);
    suite_add_tcase(s, tc);

    /* the same with the visitor cache on, and the cache's own tests */
    tc = tcase_create("session_cached");
    tcase_add_checked_fixture(tc, setup_cached, teardown);
    tcase_set_timeout(tc, 60);
    add_tests(tc);
    tcase_add_test(tc, test_session__cache_skips_visitor_reads);
    tcase_add_test(tc, test_session__cache_stale_after_other_worker);
    tcase_add_test(tc, test_session__cache_redis_lost);
    tcase_add_test(tc, test_session__cache_forget);
    suite_add_tcase(s, tc);

    return s;
}
