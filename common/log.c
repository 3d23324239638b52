/* Logging to stderr, one line per record, with a UTC timestamp. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>

static enum log_level min_level = LOG_INFO;

void log_set_level(enum log_level level)
{
    min_level = level;
}

static void vlog(enum log_level level, const char *tag, const char *fmt, va_list ap)
{
    char when[40];

    if (level < min_level)
        return;
    time_format_iso(clock_now_ms(), when, sizeof(when));
    fprintf(stderr, "%s warden %s: ", when, tag);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void log_debug(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_DEBUG, "debug", fmt, ap);
    va_end(ap);
}

void log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_INFO, "info", fmt, ap);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_WARN, "warning", fmt, ap);
    va_end(ap);
}

void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_ERROR, "fatal", fmt, ap);
    va_end(ap);
    exit(1);
}

void warden_assert_fail(const char *what, const char *file, int line)
{
    fprintf(stderr, "warden: assertion failed: %s (%s:%d)\n", what, file, line);
    abort();
}
