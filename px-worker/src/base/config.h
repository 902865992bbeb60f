/*
 * px-worker settings: defaults, then a config file, then the environment,
 * then command-line flags, each overriding the one before.  Every setting
 * has one name, used in the file and the environment (KAFKA_BOOTSTRAP_SERVERS,
 * ...), and a flag (--kafka-bootstrap-servers, ...).  docs/worker.md lists
 * them all.
 */
#ifndef PX_CONFIG_H
#define PX_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#define PX_CONFIG_STR  512

typedef enum {
    PX_IP_FULL = 0,         /* store the address as received */
    PX_IP_ANONYMIZE,        /* IPv4 /24, IPv6 /48 */
    PX_IP_DROP              /* store no address (geo still looked up) */
} px_ip_mode_t;

typedef struct {
    char          kafka_brokers[PX_CONFIG_STR];  /* KAFKA_BOOTSTRAP_SERVERS */
    char          kafka_topic[PX_CONFIG_STR];    /* KAFKA_TOPIC */
    char          kafka_dlq_topic[PX_CONFIG_STR];/* KAFKA_DLQ_TOPIC */
    char          kafka_group[PX_CONFIG_STR];    /* KAFKA_GROUP_ID */
    char          redis_url[PX_CONFIG_STR];      /* REDIS_URL */
    char          clickhouse_url[PX_CONFIG_STR]; /* CLICKHOUSE_URL */
    char          clickhouse_db[PX_CONFIG_STR];  /* CLICKHOUSE_DATABASE */
    char          clickhouse_user[PX_CONFIG_STR];/* CLICKHOUSE_USER */
    char          clickhouse_password[PX_CONFIG_STR]; /* CLICKHOUSE_PASSWORD */
    char          clickhouse_cluster[PX_CONFIG_STR]; /* PX_CLICKHOUSE_CLUSTER */
    long          batch_size;                    /* BATCH_SIZE events */
    long          flush_interval_ms;             /* FLUSH_INTERVAL */
    long          block_rows;                    /* PX_BLOCK_ROWS */
    long          block_mb;                      /* PX_BLOCK_MB */
    long          clickhouse_gzip;               /* PX_CLICKHOUSE_GZIP */
    char          geoip_dir[PX_CONFIG_STR];      /* PX_GEOIP_DIR */
    char          geoip_city[PX_CONFIG_STR];     /* PX_GEOIP_CITY (a file) */
    char          geoip_asn[PX_CONFIG_STR];      /* PX_GEOIP_ASN (a file) */
    long          geoip_watch_s;                 /* PX_GEOIP_WATCH, 0: off */
    char          uap_regexes[PX_CONFIG_STR];    /* PX_UAP_REGEXES */
    long          ua_cache_size;                 /* PX_UA_CACHE_SIZE */
    long          max_event_age_s;               /* PX_MAX_EVENT_AGE */
    long          max_event_skew_s;              /* PX_MAX_EVENT_SKEW */
    long          session_timeout_s;             /* PX_SESSION_TIMEOUT */
    long          session_max_s;                 /* PX_SESSION_MAX */
    long          dedupe_ttl_s;                  /* PX_DEDUPE_TTL */
    long          session_cache_mb;              /* PX_SESSION_CACHE_MB */
    px_ip_mode_t  ip_mode;                       /* PX_IP_MODE */
    long          ip_retention_days;             /* PX_IP_RETENTION_DAYS */
    long          sessions_ttl_days;             /* PX_SESSIONS_TTL_DAYS */
    long          health_port;                   /* PX_HEALTH_PORT, 0: off */
    long          health_stall_s;                /* PX_HEALTH_STALL */
    char          log_level[PX_CONFIG_STR];      /* PX_LOG_LEVEL */
} px_config_t;

void px_config_defaults(px_config_t *cfg);

/* Apply "NAME = value" lines of a file ('#' comments).  0, or -1 with the
 * file, line and reason in err. */
int px_config_load_file(px_config_t *cfg, const char *path, char *err,
    size_t errlen);

/* Apply the settings present in the environment. */
int px_config_load_env(px_config_t *cfg, char *err, size_t errlen);

/* Set one setting by name (file/env name, case-insensitive, or the flag
 * name without "--").  0, -1 with a reason. */
int px_config_set(px_config_t *cfg, const char *name, const char *value,
    char *err, size_t errlen);

/* Cross-field checks after everything is loaded. */
int px_config_validate(const px_config_t *cfg, char *err, size_t errlen);

/* url with the password of its user:password@ (or a lone secret@) masked,
 * for logs; out is cut to len. */
void px_config_redact_url(const char *url, char *out, size_t len);

/* Print every setting, one per line, secrets masked. */
void px_config_print(const px_config_t *cfg, FILE *out);

/* Print the settings' names and meanings (for --help). */
void px_config_usage(FILE *out);

#endif
