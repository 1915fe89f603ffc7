/*
 * The control channel's byte transport, under the RSP session
 * (session.c): a UART (chan_uart.c) or a TCP connection on the VMM's own
 * NIC (net/chan_net.c). The session reads and writes bytes through these
 * ops and does not know which one it has.
 */
#ifndef VMM_CONTROL_CHANNEL_H
#define VMM_CONTROL_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct channel;

struct channel_ops {
    const char *name; /* "uart", "net" */
    /* What the client sends while the VMM writes is kept for it (a TCP
     * queue), not lost (a UART's 16-byte FIFO): the client may send its
     * next requests before the reply comes (qSupported rfx.pipeline+). */
    bool keeps_input;
    /* Something waits: a byte, or work for the transport (a frame, a
     * timer). Cheap and without side effects: the VM pays it at every
     * poll. */
    bool (*rx_ready)(struct channel *ch);
    /* Returns true with the next byte in *b; never blocks. Does the
     * transport's own work meanwhile (frames, retransmissions). */
    bool (*getc)(struct channel *ch, uint8_t *b);
    /* Queues bytes for the client; flush sends what is queued. */
    void (*write)(struct channel *ch, const uint8_t *p, size_t n);
    void (*flush)(struct channel *ch);
    /* True once after the client went away (closed or reset its
     * connection): the session detaches. */
    bool (*closed)(struct channel *ch);
    /* The session gave up on a silent client: the transport forgets it. */
    void (*drop)(struct channel *ch);
};

struct channel {
    const struct channel_ops *ops;
    void *ctx;
};

/* chan_uart.c: a 16550 at base (common/uart.c). */
void channel_uart_open(struct channel *ch, uint16_t base);

#endif
