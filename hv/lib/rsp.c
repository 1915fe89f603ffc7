#include "lib/rsp.h"

enum { ST_IDLE, ST_DATA, ST_ESC, ST_CS1, ST_CS2 };

static const char hexchars[] = "0123456789abcdef";

int hex_digit(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void rsp_rx_init(struct rsp_rx *rx)
{
    rx->state = ST_IDLE;
    rx->sum = 0;
    rx->len = 0;
    rx->overflow = false;
}

static void put(struct rsp_rx *rx, uint8_t c)
{
    if (rx->len < RSP_MAX_PACKET)
        rx->buf[rx->len++] = c;
    else
        rx->overflow = true;
}

enum rsp_event rsp_rx_byte(struct rsp_rx *rx, uint8_t c)
{
    switch (rx->state) {
    case ST_IDLE:
        if (c == '$') {
            rsp_rx_init(rx);
            rx->state = ST_DATA;
        } else if (c == 0x03) {
            return RSP_EV_INTERRUPT;
        } else if (c == '+') {
            return RSP_EV_ACK;
        } else if (c == '-') {
            return RSP_EV_NACK;
        }
        return RSP_EV_NONE; /* noise between packets is ignored */
    case ST_DATA:
        if (c == '#') {
            rx->state = ST_CS1;
        } else if (c == '$') {
            rsp_rx_init(rx); /* a new packet restarts: the old one was truncated */
            rx->state = ST_DATA;
        } else {
            rx->sum = (uint8_t)(rx->sum + c);
            if (c == '}')
                rx->state = ST_ESC;
            else
                put(rx, c);
        }
        return RSP_EV_NONE;
    case ST_ESC:
        if (c == '$') {
            /* Never an escaped byte (that is '}' 0x04): a new packet. */
            rsp_rx_init(rx);
            rx->state = ST_DATA;
            return RSP_EV_NONE;
        }
        rx->sum = (uint8_t)(rx->sum + c);
        put(rx, c ^ 0x20);
        rx->state = ST_DATA;
        return RSP_EV_NONE;
    case ST_CS1:
        if (hex_digit(c) < 0) {
            rx->state = ST_IDLE;
            return RSP_EV_BAD;
        }
        rx->cs_hi = c;
        rx->state = ST_CS2;
        return RSP_EV_NONE;
    default: {
        rx->state = ST_IDLE;
        int lo = hex_digit(c), hi = hex_digit(rx->cs_hi);
        if (lo < 0 || ((hi << 4) | lo) != rx->sum || rx->overflow)
            return RSP_EV_BAD;
        return RSP_EV_PACKET;
    }
    }
}

bool rsp_rx_busy(const struct rsp_rx *rx) { return rx->state != ST_IDLE; }

size_t rsp_frame(uint8_t *out, size_t outsz, const uint8_t *data, size_t len)
{
    size_t n = 0;
    uint8_t sum = 0;
    if (outsz < 4)
        return 0;
    out[n++] = '$';
    for (size_t i = 0; i < len; i++) {
        uint8_t c = data[i];
        bool esc = c == '$' || c == '#' || c == '}' || c == '*';
        if (n + (esc ? 2 : 1) + 3 > outsz)
            return 0;
        if (esc) {
            out[n++] = '}';
            sum = (uint8_t)(sum + '}');
            c ^= 0x20;
        }
        out[n++] = c;
        sum = (uint8_t)(sum + c);
    }
    out[n++] = '#';
    out[n++] = (uint8_t)hexchars[sum >> 4];
    out[n++] = (uint8_t)hexchars[sum & 15];
    return n;
}

size_t hex_encode(char *out, size_t outsz, const uint8_t *data, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 2 <= outsz; i++) {
        out[n++] = hexchars[data[i] >> 4];
        out[n++] = hexchars[data[i] & 15];
    }
    return n;
}

long hex_decode(uint8_t *out, size_t outsz, const char *hex, size_t hexlen)
{
    if (hexlen % 2 || hexlen / 2 > outsz)
        return -1;
    for (size_t i = 0; i < hexlen; i += 2) {
        int hi = hex_digit((uint8_t)hex[i]), lo = hex_digit((uint8_t)hex[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i / 2] = (uint8_t)((hi << 4) | lo);
    }
    return (long)(hexlen / 2);
}
