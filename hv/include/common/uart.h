/* Polled 16550 UART driver shared by the three kernels. */
#ifndef COMMON_UART_H
#define COMMON_UART_H

#include <stdbool.h>
#include <stdint.h>

/* Programs 115200 8N1, FIFOs on, interrupts off. */
void uart_init(uint16_t base);
void uart_putc(uint16_t base, char c);
/* True if a byte is waiting (the byte stays). */
bool uart_rx_ready(uint16_t base);
/* Returns true and stores a byte in *c if one is waiting; never blocks. */
bool uart_getc(uint16_t base, uint8_t *c);

#endif
