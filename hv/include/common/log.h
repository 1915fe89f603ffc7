/*
 * The hypervisor's log: a UART (log=uart:PORT) or a debugcon port
 * (log=debugcon:PORT), chosen on the boot command line.
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdint.h>

enum log_kind { LOG_NONE, LOG_UART, LOG_DEBUGCON };

struct log_target {
    uint32_t kind; /* enum log_kind */
    uint32_t port;
};

/* Parses "uart:0x3e8" / "debugcon:0xe9"; returns 0 or -1. */
int log_parse(const char *spec, struct log_target *out);
void log_init(const struct log_target *t);
void log_write(const char *s, unsigned long n);
void log_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
