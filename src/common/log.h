/* Logging and error detail shared by every module. */
#ifndef PYROSCOPE_COMMON_LOG_H
#define PYROSCOPE_COMMON_LOG_H

#include "pyroscope.h"

void log_configure(int level, pyroscope_log_fn fn, void *payload);
int log_level(void);
void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Record a detail message for pyroscope_last_error() and return `code`. */
int error_set(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void error_clear(void);

#define LOG_ERROR(...) log_msg(PYROSCOPE_LOG_ERROR, __VA_ARGS__)
#define LOG_WARN(...) log_msg(PYROSCOPE_LOG_WARN, __VA_ARGS__)
#define LOG_INFO(...) log_msg(PYROSCOPE_LOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) log_msg(PYROSCOPE_LOG_DEBUG, __VA_ARGS__)

#endif
