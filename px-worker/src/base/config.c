#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "log.h"

typedef enum { PX_SET_STR, PX_SET_LONG, PX_SET_IP } px_setting_type_t;

typedef struct {
    const char         *name;       /* file and environment name */
    const char         *flag;       /* --flag */
    px_setting_type_t   type;
    size_t              offset;
    long                min, max;   /* PX_SET_LONG */
    int                 secret;     /* PX_SECRET, PX_SECRET_IN_URL */
    const char         *help;
} px_setting_t;

#define PX_SECRET         1         /* never printed */
#define PX_SECRET_IN_URL  2         /* printed with its password masked */

#define PX_STR(field)   PX_SET_STR, offsetof(px_config_t, field), 0, 0
#define PX_LONG(field, lo, hi)  PX_SET_LONG, offsetof(px_config_t, field), \
                                lo, hi

static const char *px_url_userinfo_end(const char *url, const char **auth);

static const px_setting_t  px_settings[] = {
    { "KAFKA_BOOTSTRAP_SERVERS", "kafka-bootstrap-servers",
      PX_STR(kafka_brokers), 0, "Kafka brokers, host:port[,...]" },
    { "KAFKA_TOPIC", "kafka-topic", PX_STR(kafka_topic), 0,
      "topic of raw events" },
    { "KAFKA_DLQ_TOPIC", "kafka-dlq-topic", PX_STR(kafka_dlq_topic), 0,
      "dead-letter topic" },
    { "KAFKA_GROUP_ID", "kafka-group-id", PX_STR(kafka_group), 0,
      "consumer group" },
    { "REDIS_URL", "redis-url", PX_STR(redis_url), PX_SECRET_IN_URL,
      "redis://host:port/db (sessions, dedupe)" },
    { "CLICKHOUSE_URL", "clickhouse-url", PX_STR(clickhouse_url),
      PX_SECRET_IN_URL,
      "ClickHouse HTTP interface, http://host:8123" },
    { "CLICKHOUSE_DATABASE", "clickhouse-database", PX_STR(clickhouse_db), 0,
      "database (created at start)" },
    { "CLICKHOUSE_USER", "clickhouse-user", PX_STR(clickhouse_user), 0,
      "ClickHouse user" },
    { "CLICKHOUSE_PASSWORD", "clickhouse-password",
      PX_STR(clickhouse_password), PX_SECRET, "ClickHouse password" },
    { "PX_CLICKHOUSE_CLUSTER", "clickhouse-cluster",
      PX_STR(clickhouse_cluster), 0,
      "ClickHouse cluster of replicated, sharded tables (empty: one server)" },
    { "BATCH_SIZE", "batch-size", PX_LONG(batch_size, 1, 1000000), 0,
      "events read and sessioned together (held whole: ~10 KB each)" },
    { "FLUSH_INTERVAL", "flush-interval", PX_LONG(flush_interval_ms, 1,
      3600000), 0, "ms an event waits at most before its insert" },
    { "PX_BLOCK_ROWS", "block-rows", PX_LONG(block_rows, 1, 10000000), 0,
      "rows per ClickHouse insert (held encoded: ~1.6 KB each)" },
    { "PX_BLOCK_MB", "block-mb", PX_LONG(block_mb, 1, 4096), 0,
      "MB of encoded rows and their messages at which an insert is sent" },
    { "PX_CLICKHOUSE_GZIP", "clickhouse-gzip", PX_LONG(clickhouse_gzip, 0,
      9), 0, "gzip level of insert bodies (0: sent as they are, for a "
      "ClickHouse on this host or LAN)" },
    { "PX_GEOIP_DIR", "geoip-dir", PX_STR(geoip_dir), 0,
      "directory with a *City*.mmdb and an *ASN*.mmdb" },
    { "PX_GEOIP_CITY", "geoip-city", PX_STR(geoip_city), 0,
      "City database file (overrides the directory)" },
    { "PX_GEOIP_ASN", "geoip-asn", PX_STR(geoip_asn), 0,
      "ASN database file (overrides the directory)" },
    { "PX_GEOIP_WATCH", "geoip-watch", PX_LONG(geoip_watch_s, 0, 86400), 0,
      "seconds between checks for new GeoIP files (0: SIGHUP only)" },
    { "PX_UAP_REGEXES", "uap-regexes", PX_STR(uap_regexes), 0,
      "uap-core regexes.yaml" },
    { "PX_UA_CACHE_SIZE", "ua-cache-size", PX_LONG(ua_cache_size, 1,
      10000000), 0, "user agents kept parsed" },
    { "PX_MAX_EVENT_AGE", "max-event-age", PX_LONG(max_event_age_s, 3600,
      86400L * 3660), 0, "s before received_at past which an event is "
      "stored at received_at" },
    { "PX_MAX_EVENT_SKEW", "max-event-skew", PX_LONG(max_event_skew_s, 0,
      86400), 0, "s after received_at past which an event is stored at "
      "received_at" },
    { "PX_SESSION_TIMEOUT", "session-timeout", PX_LONG(session_timeout_s, 1,
      86400 * 7), 0, "seconds of inactivity that end a session" },
    { "PX_SESSION_MAX", "session-max", PX_LONG(session_max_s, 60,
      86400 * 30), 0, "longest session, seconds" },
    { "PX_DEDUPE_TTL", "dedupe-ttl", PX_LONG(dedupe_ttl_s, 1, 86400 * 30), 0,
      "seconds an event_id is remembered" },
    { "PX_SESSION_CACHE_MB", "session-cache-mb",
      PX_LONG(session_cache_mb, 0, 4096), 0,
      "MB of visitor states kept in memory between batches (0: off)" },
    { "PX_IP_MODE", "ip-mode", PX_SET_IP, offsetof(px_config_t, ip_mode),
      0, 0, 0, "full, anonymize or drop" },
    { "PX_IP_RETENTION_DAYS", "ip-retention-days",
      PX_LONG(ip_retention_days, 0, 36500), 0,
      "days after which ClickHouse empties the ip column (0: keep)" },
    { "PX_SESSIONS_TTL_DAYS", "sessions-ttl-days",
      PX_LONG(sessions_ttl_days, 0, 36500), 0,
      "days after its first event that a session is deleted (0: keep)" },
    { "PX_HEALTH_PORT", "health-port", PX_LONG(health_port, 0, 65535), 0,
      "port of /health and /metrics on 127.0.0.1 (0: off)" },
    { "PX_HEALTH_STALL", "health-stall", PX_LONG(health_stall_s, 1, 86400),
      0, "s without progress while messages wait before /health fails" },
    { "PX_LOG_LEVEL", "log-level", PX_STR(log_level), 0,
      "error, warn, info or debug" },
};

#define PX_NSETTINGS  (sizeof(px_settings) / sizeof(px_settings[0]))

static const char  *px_ip_modes[] = { "full", "anonymize", "drop" };

void
px_config_defaults(px_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->kafka_brokers, PX_CONFIG_STR, "127.0.0.1:9092");
    snprintf(cfg->kafka_topic, PX_CONFIG_STR, "px.events.raw");
    snprintf(cfg->kafka_dlq_topic, PX_CONFIG_STR, "px.events.dlq");
    snprintf(cfg->kafka_group, PX_CONFIG_STR, "px-worker");
    snprintf(cfg->redis_url, PX_CONFIG_STR, "redis://127.0.0.1:6379/0");
    snprintf(cfg->clickhouse_url, PX_CONFIG_STR, "http://127.0.0.1:8123");
    snprintf(cfg->clickhouse_db, PX_CONFIG_STR, "px");
    snprintf(cfg->clickhouse_user, PX_CONFIG_STR, "default");
    snprintf(cfg->uap_regexes, PX_CONFIG_STR,
             "/usr/share/uap-core/regexes.yaml");
    snprintf(cfg->log_level, PX_CONFIG_STR, "info");
    cfg->batch_size = 3000;
    cfg->flush_interval_ms = 3000;
    cfg->block_rows = 50000;
    cfg->block_mb = 40;
    cfg->ua_cache_size = 10000;
    cfg->geoip_watch_s = 60;
    cfg->max_event_age_s = 86400L * 30;
    cfg->max_event_skew_s = 300;
    cfg->session_timeout_s = 1800;
    cfg->session_max_s = 86400;
    cfg->dedupe_ttl_s = 86400;
    cfg->session_cache_mb = 8;
    cfg->ip_mode = PX_IP_FULL;
    cfg->health_port = 0;
    cfg->health_stall_s = 300;
}

static const px_setting_t *
px_config_find(const char *name)
{
    size_t  i;

    for (i = 0; i < PX_NSETTINGS; i++) {
        if (strcasecmp(name, px_settings[i].name) == 0
            || strcmp(name, px_settings[i].flag) == 0)
        {
            return &px_settings[i];
        }
    }

    return NULL;
}

int
px_config_set(px_config_t *cfg, const char *name, const char *value,
    char *err, size_t errlen)
{
    char                *end, *field;
    long                 v;
    size_t               i;
    const px_setting_t  *s;

    s = px_config_find(name);
    if (s == NULL) {
        snprintf(err, errlen, "unknown setting \"%s\"", name);
        return -1;
    }

    field = (char *) cfg + s->offset;

    switch (s->type) {

    case PX_SET_STR:
        if (strlen(value) >= PX_CONFIG_STR) {
            snprintf(err, errlen, "%s is too long", s->name);
            return -1;
        }
        snprintf(field, PX_CONFIG_STR, "%s", value);
        return 0;

    case PX_SET_LONG:
        errno = 0;
        v = strtol(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || v < s->min
            || v > s->max)
        {
            snprintf(err, errlen, "%s must be a number from %ld to %ld, "
                     "not \"%s\"", s->name, s->min, s->max, value);
            return -1;
        }
        *(long *) field = v;
        return 0;

    case PX_SET_IP:
        for (i = 0; i < 3; i++) {
            if (strcasecmp(value, px_ip_modes[i]) == 0) {
                *(px_ip_mode_t *) field = (px_ip_mode_t) i;
                return 0;
            }
        }
        snprintf(err, errlen, "%s must be full, anonymize or drop, not "
                 "\"%s\"", s->name, value);
        return -1;
    }

    return -1;
}

static char *
px_trim(char *s)
{
    char  *end;

    while (isspace((unsigned char) *s)) {
        s++;
    }

    end = s + strlen(s);
    while (end > s && isspace((unsigned char) end[-1])) {
        *--end = '\0';
    }

    return s;
}

int
px_config_load_file(px_config_t *cfg, const char *path, char *err,
    size_t errlen)
{
    FILE    *f;
    char     line[2048], reason[256], *p, *eq, *name, *value;
    size_t   n;
    int      rc;

    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }

    rc = 0;
    for (n = 1; fgets(line, sizeof(line), f) != NULL; n++) {
        if (strchr(line, '\n') == NULL && !feof(f)) {
            snprintf(err, errlen, "%s:%zu: line too long", path, n);
            rc = -1;
            break;
        }

        p = strchr(line, '#');
        if (p != NULL) {
            *p = '\0';
        }

        p = px_trim(line);
        if (*p == '\0') {
            continue;
        }

        eq = strchr(p, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "%s:%zu: expected NAME = value", path, n);
            rc = -1;
            break;
        }

        *eq = '\0';
        name = px_trim(p);
        value = px_trim(eq + 1);

        if (px_config_set(cfg, name, value, reason, sizeof(reason)) != 0) {
            snprintf(err, errlen, "%s:%zu: %s", path, n, reason);
            rc = -1;
            break;
        }
    }

    fclose(f);
    return rc;
}

int
px_config_load_env(px_config_t *cfg, char *err, size_t errlen)
{
    char        reason[256];
    size_t      i;
    const char *v;

    for (i = 0; i < PX_NSETTINGS; i++) {
        v = getenv(px_settings[i].name);
        if (v == NULL) {
            continue;
        }

        if (px_config_set(cfg, px_settings[i].name, v, reason,
                          sizeof(reason)) != 0)
        {
            snprintf(err, errlen, "environment: %s", reason);
            return -1;
        }
    }

    return 0;
}

int
px_config_validate(const px_config_t *cfg, char *err, size_t errlen)
{
    if (cfg->kafka_brokers[0] == '\0') {
        snprintf(err, errlen, "KAFKA_BOOTSTRAP_SERVERS is empty");
        return -1;
    }

    if (strncmp(cfg->clickhouse_url, "http://", 7) != 0
        && strncmp(cfg->clickhouse_url, "https://", 8) != 0)
    {
        snprintf(err, errlen, "CLICKHOUSE_URL must start with http:// or "
                 "https://");
        return -1;
    }

    /* CLICKHOUSE_USER and CLICKHOUSE_PASSWORD are sent as basic auth and
     * would override credentials in the URL without a word */
    if (px_url_userinfo_end(cfg->clickhouse_url, NULL) != NULL) {
        snprintf(err, errlen, "CLICKHOUSE_URL holds credentials (user@ or "
                 "user:password@): set CLICKHOUSE_USER and "
                 "CLICKHOUSE_PASSWORD instead");
        return -1;
    }

    if (strncmp(cfg->redis_url, "redis://", 8) != 0) {
        snprintf(err, errlen, "REDIS_URL must start with redis://");
        return -1;
    }

    if (px_log_parse_level(cfg->log_level) < 0) {
        snprintf(err, errlen, "PX_LOG_LEVEL must be error, warn, info or "
                 "debug");
        return -1;
    }

    if (cfg->session_max_s < cfg->session_timeout_s) {
        snprintf(err, errlen, "PX_SESSION_MAX is shorter than "
                 "PX_SESSION_TIMEOUT");
        return -1;
    }

    return 0;
}

/* The '@' that ends the credentials of url (the last one before the path),
 * or NULL; *auth: where they start. */
static const char *
px_url_userinfo_end(const char *url, const char **auth)
{
    const char  *p, *start, *end, *at;

    start = strstr(url, "://");
    start = start != NULL ? start + 3 : url;
    end = start + strcspn(start, "/?#");

    at = NULL;
    for (p = start; p < end; p++) {
        if (*p == '@') {
            at = p;
        }
    }

    if (auth != NULL) {
        *auth = start;
    }
    return at;
}

void
px_config_redact_url(const char *url, char *out, size_t len)
{
    const char  *auth, *at, *colon;

    at = px_url_userinfo_end(url, &auth);
    if (at == NULL) {
        snprintf(out, len, "%s", url);
        return;
    }

    /* user:password@ keeps the user; a lone secret@ (redis) goes whole */
    colon = memchr(auth, ':', (size_t) (at - auth));
    snprintf(out, len, "%.*s%s%s", (int) ((colon != NULL ? colon + 1 : auth)
                                          - url),
             url, "********", at);
}

void
px_config_print(const px_config_t *cfg, FILE *out)
{
    size_t               i;
    char                 url[PX_CONFIG_STR + 16];
    const char          *field;
    const px_setting_t  *s;

    for (i = 0; i < PX_NSETTINGS; i++) {
        s = &px_settings[i];
        field = (const char *) cfg + s->offset;

        switch (s->type) {
        case PX_SET_STR:
            if (s->secret == PX_SECRET_IN_URL) {
                px_config_redact_url(field, url, sizeof(url));
                field = url;

            } else if (s->secret && field[0] != '\0') {
                field = "********";
            }
            fprintf(out, "%s=%s\n", s->name, field);
            break;
        case PX_SET_LONG:
            fprintf(out, "%s=%ld\n", s->name, *(const long *) field);
            break;
        case PX_SET_IP:
            fprintf(out, "%s=%s\n", s->name,
                    px_ip_modes[*(const px_ip_mode_t *) field]);
            break;
        }
    }
}

void
px_config_usage(FILE *out)
{
    size_t  i;

    for (i = 0; i < PX_NSETTINGS; i++) {
        fprintf(out, "  --%-26s %-24s %s\n", px_settings[i].flag,
                px_settings[i].name, px_settings[i].help);
    }
}
