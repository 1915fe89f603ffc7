/*
 * The UART control channel: bytes straight to and from a 16550
 * (common/uart.c). Nothing is queued, and a UART has no connection to
 * lose: closed() is never true.
 */
#include "common/uart.h"
#include "vmm/control/channel.h"

static uint16_t base_of(struct channel *ch) { return (uint16_t)(uintptr_t)ch->ctx; }

static bool uart_ready(struct channel *ch) { return uart_rx_ready(base_of(ch)); }

static bool uart_get(struct channel *ch, uint8_t *b) { return uart_getc(base_of(ch), b); }

static void uart_write(struct channel *ch, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        uart_putc(base_of(ch), (char)p[i]);
}

static void uart_nop(struct channel *ch) {}

static bool uart_closed(struct channel *ch) { return false; }

static const struct channel_ops uart_ops = {
    .name = "uart",
    .rx_ready = uart_ready,
    .getc = uart_get,
    .write = uart_write,
    .flush = uart_nop,
    .closed = uart_closed,
    .drop = uart_nop,
};

void channel_uart_open(struct channel *ch, uint16_t base)
{
    uart_init(base);
    ch->ops = &uart_ops;
    ch->ctx = (void *)(uintptr_t)base;
}
