/*
 * One-line structured logs on stderr (journald and docker take them as they
 * are):  time=2026-11-30T12:00:00.000Z level=info comp=consumer msg="..."
 */
#ifndef PX_LOG_H
#define PX_LOG_H

typedef enum {
    PX_LOG_ERROR = 0,
    PX_LOG_WARN,
    PX_LOG_INFO,
    PX_LOG_DEBUG
} px_log_level_t;

extern px_log_level_t  px_log_level;

/* The level named by s ("error", "warn", "info", "debug"), or -1. */
int px_log_parse_level(const char *s);

void px_log_write(px_log_level_t level, const char *comp, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

/* The level check comes first, so arguments of a filtered line cost
 * nothing. */
#define px_log(level, comp, ...)                                             \
    do {                                                                     \
        if ((level) <= px_log_level) {                                       \
            px_log_write((level), (comp), __VA_ARGS__);                      \
        }                                                                    \
    } while (0)

#endif
