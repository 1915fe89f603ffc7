/*
 * COM1 (0x3f8), a 16550 polled: 115200 8N1, FIFOs on, no interrupts
 * (PC16550D datasheet: DLAB in LCR bit 7, THRE in LSR bit 5).
 */
#include "tk.h"

#define COM1 0x3f8

void serial_init(void)
{
    outb(COM1 + 1, 0x00); /* IER: no interrupts */
    outb(COM1 + 3, 0x80); /* LCR: DLAB */
    outb(COM1 + 0, 0x01); /* divisor 1: 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); /* 8N1 */
    outb(COM1 + 2, 0x07); /* FCR: FIFOs on and cleared */
    outb(COM1 + 4, 0x03); /* MCR: DTR, RTS */
}

static void putc(char c)
{
    while (!(inb(COM1 + 5) & 0x20))
        ;
    outb(COM1, (uint8_t)c);
}

void serial_write(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            putc('\r');
        putc(s[i]);
    }
}
