/*
 * GDB remote serial protocol framing, byte at a time, with no I/O
 * (GDB manual, "Remote Protocol" -> "Overview": packets are
 * $data#cs, cs = sum of the data bytes mod 256 in two hex digits; '}'
 * escapes the next byte XOR 0x20; 0x03 alone is an interrupt request).
 */
#ifndef LIB_RSP_H
#define LIB_RSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest packet body taken (the stub's PacketSize: gdb sends packets
 * up to it, and bulk replies are that long). */
#define RSP_MAX_PACKET 0x20000

enum rsp_event {
    RSP_EV_NONE,      /* byte consumed, nothing complete */
    RSP_EV_PACKET,    /* rx->buf[0..len) holds a packet with a good checksum */
    RSP_EV_BAD,       /* a packet ended with a bad checksum (or overflowed): NAK it */
    RSP_EV_INTERRUPT, /* 0x03 outside a packet */
    RSP_EV_ACK,       /* '+' */
    RSP_EV_NACK,      /* '-' */
};

struct rsp_rx {
    uint8_t state;
    uint8_t sum;   /* running checksum of the raw bytes */
    uint8_t cs_hi; /* first checksum digit */
    bool overflow;
    size_t len;
    uint8_t buf[RSP_MAX_PACKET + 1]; /* +1: room for a terminating NUL */
};

void rsp_rx_init(struct rsp_rx *rx);
/* Feeds one received byte. Returns what it completed. A '$' anywhere before
 * the '#' (also right after a '}') drops the partial packet and starts a new
 * one; a non-hex checksum digit (including '$') ends the packet as BAD and
 * the bytes up to the next '$' are ignored. */
enum rsp_event rsp_rx_byte(struct rsp_rx *rx, uint8_t c);

/* True while a packet has started ('$' seen) and not ended. */
bool rsp_rx_busy(const struct rsp_rx *rx);

/* Frames data as $data#cs into out, escaping $ # } * . Returns the framed
 * length, or 0 if out is too small. */
size_t rsp_frame(uint8_t *out, size_t outsz, const uint8_t *data, size_t len);

/* Hex helpers. hex_digit returns 0..15, or -1 for a non-hex byte.
 * hex_encode writes two lower-case digits per byte while they fit in out (no
 * NUL) and returns the number of characters written. hex_decode returns the
 * number of bytes written, or -1 on a non-hex digit, an odd length or an out
 * smaller than hexlen / 2. */
int hex_digit(uint8_t c);
size_t hex_encode(char *out, size_t outsz, const uint8_t *data, size_t len);
long hex_decode(uint8_t *out, size_t outsz, const char *hex, size_t hexlen);

#endif
