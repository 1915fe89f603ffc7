/*
 * Polled 16550 UART. Register map: NS16550A data sheet; base+0 RBR/THR,
 * +1 IER, +2 FCR, +3 LCR (bit 7 DLAB), +4 MCR, +5 LSR (bit 0 DR, bit 5 THRE).
 */
#include "common/uart.h"
#include "common/cpu.h"

#define UART_LSR_DR   0x01
#define UART_LSR_THRE 0x20

void uart_init(uint16_t base)
{
    outb(base + 1, 0x00); /* no interrupts: the VMM polls */
    outb(base + 3, 0x80); /* DLAB */
    outb(base + 0, 0x01); /* divisor 1 = 115200 baud */
    outb(base + 1, 0x00);
    outb(base + 3, 0x03); /* 8N1 */
    outb(base + 2, 0x07); /* FIFO on, both cleared */
    outb(base + 4, 0x03); /* DTR, RTS */
}

void uart_putc(uint16_t base, char c)
{
    /* Bounded wait: a dead UART must not hang the VMM. */
    for (int i = 0; i < 100000 && !(inb(base + 5) & UART_LSR_THRE); i++)
        ;
    outb(base, (uint8_t)c);
}

bool uart_rx_ready(uint16_t base) { return inb(base + 5) & UART_LSR_DR; }

bool uart_getc(uint16_t base, uint8_t *c)
{
    if (!(inb(base + 5) & UART_LSR_DR))
        return false;
    *c = inb(base);
    return true;
}
