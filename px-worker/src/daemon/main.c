/*
 * px-worker: consumes px.events.raw, enriches, stores in ClickHouse.
 *
 *   px-worker [--config FILE] [--SETTING VALUE ...] [--check-config]
 *   px-worker --replay-dlq [--reason S] [--since T] [--until T] [--dry-run]
 *
 * SIGTERM/SIGINT: flush, commit, exit 0.  SIGHUP: reload geo and
 * user-agent data.  docs/worker.md has the whole story.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#ifdef PX_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "config.h"
#include "enrich.h"
#include "log.h"
#include "pipeline.h"
#include "replay.h"
#include "schema.h"
#include "status_server.h"

#define PX_WORKER_VERSION  "0.1.0"

static volatile sig_atomic_t  px_stop;
static volatile sig_atomic_t  px_reload;

static void
px_on_signal(int sig)
{
    if (sig == SIGHUP) {
        px_reload = 1;
    } else {
        px_stop = 1;
    }
}

static void
px_usage(FILE *out)
{
    fprintf(out,
            "usage: px-worker [--config FILE] [--SETTING VALUE ...]\n"
            "       px-worker --check-config | --print-config | --help | "
            "--version\n");
    px_replay_usage(out);
    fprintf(out, "\n"
            "Settings (flag, config file / environment name, meaning);\n"
            "defaults < config file < environment < flags:\n");
    px_config_usage(out);
}

/* Parse argv over cfg.  Returns 0 to run, 1 to exit 0, -1 to exit 2. */
static int
px_args(int argc, char **argv, px_config_t *cfg, int *check, int *print)
{
    char         err[512];
    int          i;
    const char  *file = NULL;

    /* the file first, so that flags override it wherever they stand */
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            file = argv[++i];
        }
    }

    if (file != NULL && px_config_load_file(cfg, file, err, sizeof(err)) != 0)
    {
        fprintf(stderr, "px-worker: %s\n", err);
        return -1;
    }

    if (px_config_load_env(cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "px-worker: %s\n", err);
        return -1;
    }

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            px_usage(stdout);
            return 1;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("px-worker %s (schema %u)\n", PX_WORKER_VERSION,
                   px_schema_latest());
            return 1;
        }
        if (strcmp(argv[i], "--check-config") == 0) {
            *check = 1;
            continue;
        }
        if (strcmp(argv[i], "--print-config") == 0) {
            *print = 1;
            continue;
        }
        if (strcmp(argv[i], "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc) {
            fprintf(stderr, "px-worker: unexpected argument \"%s\" "
                    "(see --help)\n", argv[i]);
            return -1;
        }
        if (px_config_set(cfg, argv[i] + 2, argv[i + 1], err, sizeof(err))
            != 0)
        {
            fprintf(stderr, "px-worker: %s\n", err);
            return -1;
        }
        i++;
    }

    if (px_config_validate(cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "px-worker: %s\n", err);
        return -1;
    }

    return 0;
}

/* --check-config: settings valid and enrichment data loadable. */
static int
px_check_config(const px_config_t *cfg)
{
    char         err[512];
    px_enrich_t  e;

    if (px_enrich_open(&e, cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "px-worker: %s\n", err);
        return 2;
    }

    px_enrich_close(&e);
    printf("px-worker: configuration OK\n");
    return 0;
}

int
main(int argc, char **argv)
{
    char                  err[512], redis_url[PX_CONFIG_STR + 16];
    int                   rc, check = 0, print = 0;
    px_config_t           cfg;
    px_replay_opts_t      replay;
    px_pipeline_t        *p;
    px_status_server_t   *status = NULL;
    struct sigaction      sa;

    px_config_defaults(&cfg);

    if (px_replay_args(&argc, argv, &replay) != 0) {
        return 2;
    }

    rc = px_args(argc, argv, &cfg, &check, &print);
    if (rc != 0) {
        return rc > 0 ? 0 : 2;
    }

    px_log_level = (px_log_level_t) px_log_parse_level(cfg.log_level);

    if (replay.on) {
        return px_replay_run(&cfg, &replay);
    }

    if (print) {
        px_config_print(&cfg, stdout);
        return 0;
    }

    if (check) {
        return px_check_config(&cfg);
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = px_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        px_log(PX_LOG_ERROR, "main", "curl_global_init failed");
        return 1;
    }

    px_config_redact_url(cfg.redis_url, redis_url, sizeof(redis_url));
    px_log(PX_LOG_INFO, "main", "px-worker %s starting: kafka=%s "
           "clickhouse=%s redis=%s batch=%ld flush=%ldms block=%ld rows/%ld MB",
           PX_WORKER_VERSION, cfg.kafka_brokers, cfg.clickhouse_url,
           redis_url, cfg.batch_size, cfg.flush_interval_ms, cfg.block_rows,
           cfg.block_mb);

    p = px_pipeline_new(&cfg, &px_stop, err, sizeof(err));
    if (p == NULL) {
        px_log(PX_LOG_ERROR, "main", "%s", err);
        curl_global_cleanup();
        return 1;
    }

    if (cfg.health_port > 0) {
        status = px_status_server_start((int) cfg.health_port,
                                        cfg.health_stall_s, err,
                                        sizeof(err));
        if (status == NULL) {
            px_log(PX_LOG_ERROR, "main", "%s", err);
            px_pipeline_free(p);
            curl_global_cleanup();
            return 1;
        }
        px_pipeline_set_status_server(p, status);
        px_log(PX_LOG_INFO, "main", "health and metrics on "
               "http://127.0.0.1:%ld/", cfg.health_port);
    }

#ifdef PX_HAVE_SYSTEMD
    sd_notify(0, "READY=1");
#endif

    px_pipeline_run(p, &px_reload);

#ifdef PX_HAVE_SYSTEMD
    sd_notify(0, "STOPPING=1");
#endif

    px_log(PX_LOG_INFO, "main", "stopped: consumed=%lu stored=%lu "
           "dead_lettered=%lu", px_pipeline_stats(p)->consumed,
           px_pipeline_stats(p)->stored, px_pipeline_stats(p)->dead_lettered);

    px_pipeline_set_status_server(p, NULL);
    px_status_server_stop(status);
    px_pipeline_free(p);
    curl_global_cleanup();
    return 0;
}
