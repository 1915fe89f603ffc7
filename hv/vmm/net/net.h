/*
 * The VMM's network stack, just enough for one control connection:
 * Ethernet II, ARP replies (RFC 826), IPv4 without fragments (RFC 791),
 * ICMP echo (RFC 792) and one TCP connection at a time on one port
 * (RFC 793, RFC 1122 §4.2, RFC 6298 for the retransmission timer, RFC
 * 5681 §4.2 for the delayed ACK).
 *
 * It knows nothing of the hardware: frames come in through net_input and
 * go out through the netif's two ops (a transmit buffer, then send), so
 * the host unit tests run it against fake frames (hv/tests/test_net.c).
 * Time is the caller's TSC.
 */
#ifndef VMM_NET_NET_H
#define VMM_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NET_MTU          1500
#define NET_FRAME        1514 /* Ethernet header + MTU, no CRC */
#define TCP_MSS          (NET_MTU - 40)
#define TCP_RXQ          65536  /* bytes the client sent that the session has not read */
#define TCP_TXQ          131072 /* bytes for the client, sent or not, not acknowledged */
#define TCP_RETRIES      8
#define TCP_SYN_GRACE_MS 250
#define TCP_DELACK_MS    20 /* RFC 1122 §4.2.3.2: well under 0.5 s */

enum tcp_state { TCP_LISTEN, TCP_SYN_RCVD, TCP_ESTABLISHED, TCP_LAST_ACK };

struct tcp {
    enum tcp_state state;
    uint8_t peer_mac[6];
    uint32_t peer_ip;
    uint16_t peer_port;
    uint16_t peer_mss;
    uint32_t iss, snd_una, snd_nxt; /* send sequence space (RFC 793 §3.2) */
    uint32_t snd_wnd;               /* the peer's window */
    uint32_t rcv_nxt;
    uint32_t adv_wnd; /* the window we advertised last */
    /* A delayed ACK (RFC 1122 §4.2.3.2, RFC 5681 §4.2): in-order data is
     * acknowledged by our next segment, or at ack_deadline (0: none owed),
     * or at once when a second full-sized segment is owed one. */
    uint64_t ack_deadline;
    uint32_t ack_owed; /* bytes received since our last ACK */
    /* The session is writing a reply (tcp_output_full): an ACK that opens
     * the window sends full segments only, the tail waits for the flush. */
    bool cork;
    /* queues: rings */
    uint8_t rxq[TCP_RXQ];
    uint32_t rx_head, rx_len;
    uint8_t txq[TCP_TXQ]; /* txq[tx_head] is the byte at snd_una */
    uint32_t tx_head, tx_len;
    /* the retransmission timer (RFC 6298): 0 when off */
    uint64_t rto_deadline;
    uint64_t rto;
    unsigned retries;
    uint64_t last_heard; /* TSC of the peer's last segment */
    bool gone;           /* the peer closed or reset: for the session */
    uint32_t old_len;    /* of rx_len, the bytes it sent before it went */
    /* A SYN from another client, held for TCP_SYN_GRACE: a client that
     * reconnects may open its new connection before the FIN of the old
     * one reaches us. Accepted if the connection ends meanwhile, else
     * refused with a RST. */
    struct {
        bool on;
        uint8_t mac[6];
        uint32_t ip, seq;
        uint16_t port, wnd, mss;
        uint64_t at;
    } syn;
};

struct netif;
struct netif_ops {
    /* A buffer of NET_FRAME bytes for the next frame, or 0 if the
     * transmit ring is full; send hands len bytes of it to the NIC. */
    uint8_t *(*tx_buf)(struct netif *n);
    void (*tx_send)(struct netif *n, size_t len);
    /* The frames sent since the last flush go to the hardware (one tail
     * register write for all of them); 0 if tx_send does it itself. */
    void (*tx_flush)(struct netif *n);
};

struct net_counters {
    uint64_t bad, arp, icmp, tcp_in, tcp_out, rst_out, retransmits, refused;
};

struct netif {
    const struct netif_ops *ops;
    void *dev;
    uint8_t mac[6];
    uint32_t ip;
    uint16_t port;
    uint64_t tsc_hz;
    uint64_t idle_ticks; /* a connection silent this long gives way to a new client */
    struct net_counters cnt;
    struct tcp tcp;
};

/* ip.c: one received frame (without CRC). */
void net_input(struct netif *n, const uint8_t *frame, size_t len, uint64_t now);
/* The Internet checksum (RFC 1071) of p[0..len) added to sum, folded and
 * complemented. */
uint16_t net_cksum(const void *p, size_t len, uint32_t sum);
/* An IPv4 frame to (mac, ip) with protocol proto: returns the frame's
 * buffer with its L4 part at buf + 34, or 0 if the NIC has no room;
 * ip_send sends it with l4_len bytes of L4. */
uint8_t *ip_start(struct netif *n, const uint8_t mac[6], uint32_t ip, uint8_t proto);
void ip_send(struct netif *n, uint8_t *buf, size_t l4_len);

static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

/* tcp.c */
void tcp_init(struct netif *n);
/* A TCP segment from (mac, ip): seg[0..len) with the IP header's
 * addresses checked by the caller. */
void tcp_input(struct netif *n, const uint8_t mac[6], uint32_t src, const uint8_t *seg, size_t len,
               uint64_t now);
/* Timers: retransmission. */
void tcp_tick(struct netif *n, uint64_t now);
/* The timer is due or bytes wait (cheap: no frame work). */
bool tcp_due(const struct netif *n, uint64_t now);
/* The session's side: bytes the client sent, bytes to the client. */
bool tcp_getc(struct netif *n, uint8_t *b);
/* Queues up to len bytes; returns how many fit. */
size_t tcp_write(struct netif *n, const uint8_t *p, size_t len);
/* Sends what the peer's window allows. */
void tcp_output(struct netif *n, uint64_t now);
/* The same, full-sized segments only: the short tail waits for more data
 * or tcp_output (a reply being written goes out as it is built). */
void tcp_output_full(struct netif *n, uint64_t now);
/* The frames queued since the last flush go to the NIC (netif_ops.tx_flush). */
static inline void net_tx_flush(struct netif *n)
{
    if (n->ops->tx_flush)
        n->ops->tx_flush(n);
}
/* Drops the connection with a RST (a silent client). */
void tcp_abort(struct netif *n);
bool tcp_connected(const struct netif *n);

#endif
