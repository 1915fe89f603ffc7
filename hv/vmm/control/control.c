#include "common/log.h"
#include "common/uart.h"
#include "lib/mem.h"
#include "lib/rsp.h"
#include "vmm/control/control.h"

/* Poll on one exit in CONTROL_POLL_EVERY (a power of two) when no better
 * moment (CR3 write, HLT) comes. */
#define CONTROL_POLL_EVERY 64
#define SUMMARY_MAX 8192
#define O_CHUNK 256

static struct rsp_rx rx;
static uint16_t ctrl_port;
static uint64_t poll_tick;
static char summary_buf[SUMMARY_MAX];

void control_init(struct vcpu *v)
{
    rsp_rx_init(&rx);
    ctrl_port = (uint16_t)v->info->ctrl.port;
    uart_init(ctrl_port);
}

static void send_packet(const uint8_t *data, size_t len)
{
    static uint8_t frame[2 * O_CHUNK + 64];
    size_t n = rsp_frame(frame, sizeof(frame), data, len);
    for (size_t i = 0; i < n; i++)
        uart_putc(ctrl_port, (char)frame[i]);
}

static void send_str(const char *s) { send_packet((const uint8_t *)s, lib_strlen(s)); }

/* Sends text to the client's console as hex 'O' packets. */
static void send_console(const char *text, size_t len)
{
    static char pkt[1 + 2 * (O_CHUNK / 2)];
    for (size_t off = 0; off < len; off += O_CHUNK / 2) {
        size_t chunk = len - off < O_CHUNK / 2 ? len - off : O_CHUNK / 2;
        pkt[0] = 'O';
        size_t n = hex_encode(pkt + 1, sizeof(pkt) - 1, (const uint8_t *)text + off, chunk);
        send_packet((const uint8_t *)pkt, n + 1);
    }
}

static void monitor(struct vcpu *v, const char *cmd, size_t len)
{
    if (len == 5 && !lib_strncmp(cmd, "exits", 5)) {
        unsigned long n = v->ops->summary(v, summary_buf, sizeof(summary_buf));
        log_write(summary_buf, n);
        send_console(summary_buf, n);
        send_str("OK");
    } else if (len == 4 && !lib_strncmp(cmd, "help", 4)) {
        static const char help[] = "monitor exits  exit counters and the VMM range\n"
                                   "monitor help   this text\n";
        send_console(help, sizeof(help) - 1);
        send_str("OK");
    } else {
        send_str("E01");
    }
}

static void handle_packet(struct vcpu *v)
{
    static uint8_t cmd[RSP_MAX_PACKET / 2];
    uart_putc(ctrl_port, '+');
    if (rx.len > 6 && !lib_memcmp(rx.buf, "qRcmd,", 6)) {
        long n = hex_decode(cmd, sizeof(cmd), (const char *)rx.buf + 6, rx.len - 6);
        if (n < 0)
            send_str("E02");
        else
            monitor(v, (const char *)cmd, (size_t)n);
    } else {
        send_str(""); /* unknown packets get an empty reply */
    }
}

void control_poll(struct vcpu *v, enum control_poll_reason why)
{
    uint8_t c;
    if (why == CONTROL_POLL_EXIT && (++poll_tick & (CONTROL_POLL_EVERY - 1)))
        return;
    /* Bounded: a client flooding the line cannot keep the VM stopped. */
    for (int i = 0; i < 4 * RSP_MAX_PACKET && uart_getc(ctrl_port, &c); i++) {
        switch (rsp_rx_byte(&rx, c)) {
        case RSP_EV_PACKET:
            handle_packet(v);
            break;
        case RSP_EV_BAD:
            uart_putc(ctrl_port, '-');
            break;
        default:
            break;
        }
    }
}

void control_final(struct vcpu *v)
{
    unsigned long n = v->ops->summary(v, summary_buf, sizeof(summary_buf));
    log_write(summary_buf, n);
}
