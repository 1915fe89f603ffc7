#include <stdarg.h>

#include "common/cmdline.h"
#include "common/cpu.h"
#include "common/log.h"
#include "common/spinlock.h"
#include "common/uart.h"
#include "lib/fmt.h"
#include "lib/mem.h"

static struct log_target log_target;
static struct spinlock log_lock; /* one core's line at a time */

int log_parse(const char *spec, struct log_target *out)
{
    uint64_t port;
    if (!lib_strncmp(spec, "uart:", 5) && !cmdline_parse_u64(spec + 5, &port)) {
        out->kind = LOG_UART;
    } else if (!lib_strncmp(spec, "debugcon:", 9) && !cmdline_parse_u64(spec + 9, &port)) {
        out->kind = LOG_DEBUGCON;
    } else {
        return -1;
    }
    if (port > 0xffff)
        return -1;
    out->port = (uint32_t)port;
    return 0;
}

void log_init(const struct log_target *t)
{
    log_target = *t;
    if (t->kind == LOG_UART)
        uart_init((uint16_t)t->port);
}

void log_write(const char *s, unsigned long n)
{
    /* Bounded: a fault while this core held the lock still gets logged. */
    bool locked = false;
    for (unsigned long i = 0; i < 50000000ul && !(locked = spin_trylock(&log_lock)); i++)
        __asm__ volatile("pause");
    for (unsigned long i = 0; i < n; i++) {
        if (log_target.kind == LOG_UART) {
            if (s[i] == '\n')
                uart_putc((uint16_t)log_target.port, '\r');
            uart_putc((uint16_t)log_target.port, s[i]);
        } else if (log_target.kind == LOG_DEBUGCON) {
            outb((uint16_t)log_target.port, (uint8_t)s[i]);
        }
    }
    if (locked)
        spin_unlock(&log_lock);
}

void log_printf(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = fmt_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 1)
        n = sizeof(buf) - 1;
    if (n > 0)
        log_write(buf, (unsigned long)n);
}
