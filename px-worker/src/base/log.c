#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "px_time.h"

px_log_level_t  px_log_level = PX_LOG_INFO;

static const char  *px_log_names[] = { "error", "warn", "info", "debug" };

int
px_log_parse_level(const char *s)
{
    int  i;

    for (i = 0; i <= PX_LOG_DEBUG; i++) {
        if (strcasecmp(s, px_log_names[i]) == 0) {
            return i;
        }
    }

    return -1;
}

void
px_log_write(px_log_level_t level, const char *comp, const char *fmt, ...)
{
    char             msg[1024], line[1280], iso[PX_TIME_ISO_LEN + 1];
    size_t           i, o;
    va_list          ap;
    struct timespec  ts;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    clock_gettime(CLOCK_REALTIME, &ts);
    px_time_format_iso((int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000, iso);

    /* quote the message: one event, one line, whatever it holds */
    for (i = 0, o = 0; msg[i] != '\0' && o < sizeof(line) - 2; i++) {
        if (msg[i] == '"' || msg[i] == '\\') {
            line[o++] = '\\';
            line[o++] = msg[i];
        } else if (msg[i] == '\n' || msg[i] == '\r') {
            line[o++] = ' ';
        } else {
            line[o++] = msg[i];
        }
    }
    line[o] = '\0';

    fprintf(stderr, "time=%s level=%s comp=%s msg=\"%s\"\n", iso,
            px_log_names[level], comp, line);
}
