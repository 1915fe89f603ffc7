/*
 * One TCP connection at a time on the control port (net.h), RFC 793 with
 * the parts a debugger's connection needs: the three-way handshake, data
 * in order (a segment out of order or past our window is dropped and
 * answered with an ACK, RFC 1122 §4.2.2.20), cumulative ACKs, the peer's
 * window as flow control, go-back-N retransmission on a timer with
 * exponential back-off (RFC 6298 §5; 200 ms first, a LAN's), FIN and RST.
 * A SYN from another client while the connection lives is answered with a
 * RST (after TCP_SYN_GRACE_MS: the old connection's FIN may be behind it),
 * unless the connection has been silent for idle_ticks: its client is
 * taken for gone, reset, and the new one accepted.
 */
#include "lib/mem.h"
#include "vmm/net/net.h"

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

#define TCP_HDR    20
#define ETH_IP_HDR 34
#define IP_TCP     6

/* Ring copies, in at most two runs, eight bytes at a time. */
static void copy(uint8_t *d, const uint8_t *s, size_t n)
{
    for (; n >= 8; d += 8, s += 8, n -= 8) {
        uint64_t w;
        __builtin_memcpy(&w, s, 8);
        __builtin_memcpy(d, &w, 8);
    }
    while (n--)
        *d++ = *s++;
}

static void ring_out(const uint8_t *ring, uint32_t size, uint32_t at, uint8_t *d, uint32_t n)
{
    uint32_t first = size - at < n ? size - at : n;
    copy(d, ring + at, first);
    copy(d + first, ring, n - first);
}

static void ring_in(uint8_t *ring, uint32_t size, uint32_t at, const uint8_t *s, uint32_t n)
{
    uint32_t first = size - at < n ? size - at : n;
    copy(ring + at, s, first);
    copy(ring, s + first, n - first);
}

static uint64_t rto_first(const struct netif *n) { return n->tsc_hz / 5; }
static uint64_t rto_max(const struct netif *n) { return n->tsc_hz * 2; }

static uint32_t rx_free(const struct tcp *t)
{
    uint32_t f = TCP_RXQ - t->rx_len;
    return f > 0xffff ? 0xffff : f;
}

static uint16_t tcp_cksum(uint32_t src, uint32_t dst, const uint8_t *seg, size_t len)
{
    uint32_t sum = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + IP_TCP;
    return net_cksum(seg, len, sum + (uint32_t)len);
}

/* One segment to (mac, ip, port); data comes from the transmit queue at
 * offset `off` past snd_una. Returns false if the NIC had no room. */
static bool emit(struct netif *n, const uint8_t *mac, uint32_t ip, uint16_t port, uint32_t seq,
                 uint32_t ack, uint8_t flags, uint32_t off, uint32_t len)
{
    struct tcp *t = &n->tcp;
    uint8_t *f = ip_start(n, mac, ip, IP_TCP);
    if (!f)
        return false;
    uint8_t *s = f + ETH_IP_HDR;
    bool syn = flags & F_SYN;
    unsigned hl = TCP_HDR + (syn ? 4 : 0);
    put16(s, n->port);
    put16(s + 2, port);
    put32(s + 4, seq);
    put32(s + 8, (flags & F_ACK) ? ack : 0);
    s[12] = (uint8_t)(hl / 4) << 4;
    s[13] = flags;
    uint32_t wnd = (flags & F_RST) ? 0 : rx_free(t);
    put16(s + 14, (uint16_t)wnd);
    put16(s + 16, 0);
    put16(s + 18, 0);
    if (syn) { /* our MSS (RFC 793 §3.1 options, kind 2) */
        s[20] = 2;
        s[21] = 4;
        put16(s + 22, TCP_MSS);
    }
    ring_out(t->txq, TCP_TXQ, (t->tx_head + off) % TCP_TXQ, s + hl, len);
    put16(s + 16, tcp_cksum(n->ip, ip, s, hl + len));
    if (!(flags & F_RST))
        t->adv_wnd = wnd;
    if ((flags & F_ACK) && ack == t->rcv_nxt) {
        t->ack_deadline = 0; /* this segment carries the ACK owed */
        t->ack_owed = 0;
    }
    n->cnt.tcp_out++;
    ip_send(n, f, hl + len);
    return true;
}

static void send_ctl(struct netif *n, uint8_t flags)
{
    struct tcp *t = &n->tcp;
    emit(n, t->peer_mac, t->peer_ip, t->peer_port, flags & F_SYN ? t->iss : t->snd_nxt, t->rcv_nxt,
         flags, 0, 0);
}

/* RFC 793 §3.4 "Reset Generation": a segment that belongs to no
 * connection gets a RST that it will accept. */
static void rst_reply(struct netif *n, const uint8_t *mac, uint32_t ip, uint16_t port, uint32_t seq,
                      uint32_t ack, uint8_t flags, uint32_t dlen)
{
    n->cnt.rst_out++;
    if (flags & F_ACK)
        emit(n, mac, ip, port, ack, 0, F_RST, 0, 0);
    else
        emit(n, mac, ip, port, 0, seq + dlen + !!(flags & F_SYN) + !!(flags & F_FIN), F_RST | F_ACK,
             0, 0);
}

static void to_listen(struct tcp *t)
{
    t->state = TCP_LISTEN;
    t->rto_deadline = 0;
    t->ack_deadline = 0;
    t->ack_owed = 0;
    t->rx_len = t->tx_len = t->old_len = 0;
}

void tcp_init(struct netif *n)
{
    to_listen(&n->tcp);
    n->tcp.gone = false;
}

bool tcp_connected(const struct netif *n) { return n->tcp.state == TCP_ESTABLISHED; }

void tcp_abort(struct netif *n)
{
    struct tcp *t = &n->tcp;
    if (t->state != TCP_LISTEN) {
        n->cnt.rst_out++;
        send_ctl(n, F_RST);
    }
    to_listen(t);
    t->gone = false;
}

static void arm(struct netif *n, uint64_t now)
{
    n->tcp.rto = rto_first(n);
    n->tcp.retries = 0;
    n->tcp.rto_deadline = now + n->tcp.rto;
}

/* The peer's MSS option in its SYN (RFC 793 §3.1), else 536 (RFC 1122
 * §4.2.2.6). */
static uint16_t peer_mss(const uint8_t *opt, size_t len)
{
    for (size_t i = 0; i < len;) {
        if (opt[i] == 0)
            break;
        if (opt[i] == 1) {
            i++;
            continue;
        }
        if (i + 1 >= len || opt[i + 1] < 2 || i + opt[i + 1] > len)
            break;
        if (opt[i] == 2 && opt[i + 1] == 4) {
            uint16_t m = get16(opt + i + 2);
            return m < 64 ? 64 : m > TCP_MSS ? TCP_MSS : m;
        }
        i += opt[i + 1];
    }
    return 536;
}

static void accept(struct netif *n, const uint8_t *mac, uint32_t ip, uint16_t port, uint32_t seq,
                   uint16_t wnd, uint16_t mss, uint64_t now)
{
    struct tcp *t = &n->tcp;
    if (t->state == TCP_ESTABLISHED || t->state == TCP_SYN_RCVD) {
        /* the silent client before it: reset, and the session told */
        n->cnt.rst_out++;
        send_ctl(n, F_RST);
        if (t->state == TCP_ESTABLISHED)
            t->gone = true;
    }
    to_listen(t);
    lib_memcpy(t->peer_mac, mac, 6);
    t->peer_ip = ip;
    t->peer_port = port;
    t->peer_mss = mss;
    t->rcv_nxt = seq + 1;
    t->iss = (uint32_t)(now >> 8) * 2654435761u; /* RFC 793 §3.3: from a clock */
    t->snd_una = t->iss;
    t->snd_nxt = t->iss + 1;
    t->snd_wnd = wnd;
    t->rx_head = t->tx_head = 0;
    t->last_heard = now;
    t->state = TCP_SYN_RCVD;
    send_ctl(n, F_SYN | F_ACK);
    arm(n, now);
}

/* Our FIN, after the peer's: nothing more goes out (the session has been
 * told the client left). */
static void close_after_fin(struct netif *n, uint64_t now)
{
    struct tcp *t = &n->tcp;
    t->gone = true;
    t->old_len = t->rx_len;
    t->tx_len = 0;
    t->snd_una = t->snd_nxt;
    t->state = TCP_LAST_ACK;
    send_ctl(n, F_FIN | F_ACK);
    t->snd_nxt++;
    arm(n, now);
}

static void output(struct netif *n, uint64_t now, bool cork);

/* Takes in-order data (and a FIN); anything else gets a duplicate ACK. */
static void data_input(struct netif *n, uint32_t seq, const uint8_t *data, uint32_t dlen, bool fin,
                       uint64_t now)
{
    struct tcp *t = &n->tcp;
    uint32_t skip = t->rcv_nxt - seq; /* bytes of it we have already */
    if (skip > dlen || (skip == dlen && !fin))
        goto ack; /* out of order (ahead: skip wraps), or nothing new */
    data += skip;
    dlen -= skip;
    uint32_t take = TCP_RXQ - t->rx_len;
    if (take > dlen)
        take = dlen;
    ring_in(t->rxq, TCP_RXQ, (t->rx_head + t->rx_len) % TCP_RXQ, data, take);
    t->rx_len += take;
    t->rcv_nxt += take;
    if (fin && take == dlen) {
        t->rcv_nxt++;
        close_after_fin(n, now);
        return;
    }
    if (take == dlen && take) {
        /* In order and all taken: the ACK may wait for our reply (RFC 1122
         * §4.2.3.2), but not past a second full-sized segment (RFC 5681
         * §4.2). */
        t->ack_owed += take;
        if (t->ack_owed < 2u * t->peer_mss) {
            if (!t->ack_deadline)
                t->ack_deadline = now + n->tsc_hz / 1000 * TCP_DELACK_MS;
            return;
        }
    }
ack:
    send_ctl(n, F_ACK); /* out of order, a duplicate, a full window: at once (RFC 5681 §4.2) */
}

void tcp_input(struct netif *n, const uint8_t mac[6], uint32_t src, const uint8_t *s, size_t len,
               uint64_t now)
{
    struct tcp *t = &n->tcp;
    if (len < TCP_HDR)
        goto bad;
    size_t hl = (size_t)(s[12] >> 4) * 4;
    if (hl < TCP_HDR || hl > len || tcp_cksum(src, n->ip, s, len))
        goto bad;
    n->cnt.tcp_in++;
    uint16_t sport = get16(s), dport = get16(s + 2), wnd = get16(s + 14);
    uint32_t seq = get32(s + 4), ack = get32(s + 8), dlen = (uint32_t)(len - hl);
    uint8_t fl = s[13];

    bool mine = t->state != TCP_LISTEN && src == t->peer_ip && sport == t->peer_port;
    if (dport != n->port || !mine) {
        if (fl & F_RST)
            return;
        if (dport == n->port && (fl & (F_SYN | F_ACK | F_FIN)) == F_SYN) {
            bool free_ = t->state == TCP_LISTEN || t->state == TCP_LAST_ACK ||
                         now - t->last_heard > n->idle_ticks;
            uint16_t mss = peer_mss(s + TCP_HDR, hl - TCP_HDR);
            if (free_) {
                accept(n, mac, src, sport, seq, wnd, mss, now);
                return;
            }
            if (!t->syn.on || (t->syn.ip == src && t->syn.port == sport)) {
                bool again = t->syn.on;
                lib_memcpy(t->syn.mac, mac, 6);
                t->syn.ip = src;
                t->syn.port = sport;
                t->syn.seq = seq;
                t->syn.wnd = wnd;
                t->syn.mss = mss;
                if (!again)
                    t->syn.at = now;
                t->syn.on = true;
                return; /* decided by tcp_tick */
            }
            n->cnt.refused++;
        }
        rst_reply(n, mac, src, sport, seq, ack, fl, dlen);
        return;
    }
    t->last_heard = now;
    if (fl & F_RST) {
        /* RFC 5961 §3.2: only a RST at the edge of the window closes */
        if (seq == t->rcv_nxt || (t->state == TCP_SYN_RCVD && seq - t->rcv_nxt < 0x10000)) {
            t->gone = t->gone || t->state == TCP_ESTABLISHED;
            to_listen(t); /* what it sent and we did not read is dropped */
        }
        return;
    }
    if (fl & F_SYN) {
        if (t->state == TCP_SYN_RCVD && seq + 1 == t->rcv_nxt)
            send_ctl(n, F_SYN | F_ACK); /* our SYN-ACK was lost */
        else
            send_ctl(n, F_ACK); /* RFC 5961 §4: a challenge ACK */
        return;
    }
    if (!(fl & F_ACK))
        return;
    if (t->state == TCP_SYN_RCVD) {
        if (ack != t->iss + 1) {
            rst_reply(n, mac, src, sport, seq, ack, fl, dlen);
            return;
        }
        t->state = TCP_ESTABLISHED;
        t->snd_una = ack;
        t->rto_deadline = 0;
    }
    uint32_t acked = ack - t->snd_una, flight = t->snd_nxt - t->snd_una;
    if (acked > flight) {
        send_ctl(n, F_ACK); /* it acknowledges what we never sent */
        return;
    }
    if (t->state == TCP_LAST_ACK) {
        if (ack == t->snd_nxt)
            to_listen(t); /* our FIN is acknowledged: closed */
        return;
    }
    if (wnd > t->snd_wnd && !acked) {
        t->retries = 0; /* a window update: the client is there */
        t->rto = rto_first(n);
    }
    t->snd_wnd = wnd;
    if (acked) {
        t->tx_head = (t->tx_head + acked) % TCP_TXQ;
        t->tx_len -= acked;
        t->snd_una = ack;
        if (t->snd_nxt == t->snd_una)
            t->rto_deadline = 0;
        else
            arm(n, now);
    }
    if (dlen || (fl & F_FIN))
        data_input(n, seq, s + hl, dlen, fl & F_FIN, now);
    output(n, now, t->cork); /* a reply being written keeps its short tail */
    return;
bad:
    n->cnt.bad++;
}

/* Sends from the queue what the window allows; with cork, a segment
 * shorter than the MSS only if the window, not the queue, cuts it. */
static void output(struct netif *n, uint64_t now, bool cork)
{
    struct tcp *t = &n->tcp;
    if (t->state != TCP_ESTABLISHED)
        return;
    for (;;) {
        uint32_t sent = t->snd_nxt - t->snd_una;
        if (sent >= t->tx_len || sent >= t->snd_wnd)
            return;
        uint32_t len = t->tx_len - sent;
        if (cork && len < t->peer_mss)
            return;
        if (len > t->snd_wnd - sent)
            len = t->snd_wnd - sent;
        if (len > t->peer_mss)
            len = t->peer_mss;
        bool last = sent + len == t->tx_len;
        if (!emit(n, t->peer_mac, t->peer_ip, t->peer_port, t->snd_nxt, t->rcv_nxt,
                  F_ACK | (last ? F_PSH : 0), sent, len))
            return; /* the NIC's ring is full: the next poll goes on */
        t->snd_nxt += len;
        if (!t->rto_deadline)
            arm(n, now);
    }
}

void tcp_output(struct netif *n, uint64_t now) { output(n, now, false); }
void tcp_output_full(struct netif *n, uint64_t now) { output(n, now, true); }

bool tcp_due(const struct netif *n, uint64_t now)
{
    const struct tcp *t = &n->tcp;
    return t->rx_len || t->gone || t->syn.on || (t->rto_deadline && now >= t->rto_deadline) ||
           (t->ack_deadline && now >= t->ack_deadline);
}

/* The SYN held back: accepted once the connection is over, refused after
 * the grace. */
static void held_syn(struct netif *n, uint64_t now)
{
    struct tcp *t = &n->tcp;
    if (!t->syn.on)
        return;
    if (t->state == TCP_LISTEN || t->state == TCP_LAST_ACK) {
        t->syn.on = false;
        accept(n, t->syn.mac, t->syn.ip, t->syn.port, t->syn.seq, t->syn.wnd, t->syn.mss, now);
    } else if (now - t->syn.at > n->tsc_hz / 1000 * TCP_SYN_GRACE_MS) {
        t->syn.on = false;
        n->cnt.refused++;
        rst_reply(n, t->syn.mac, t->syn.ip, t->syn.port, t->syn.seq, 0, F_SYN, 0);
    }
}

void tcp_tick(struct netif *n, uint64_t now)
{
    struct tcp *t = &n->tcp;
    held_syn(n, now);
    if (t->ack_deadline && now >= t->ack_deadline) {
        if (t->state == TCP_ESTABLISHED)
            send_ctl(n, F_ACK); /* the delayed ACK: no reply came to carry it */
        else
            t->ack_deadline = 0; /* nothing to acknowledge on: tcp_due stays quiet */
    }
    if (!t->rto_deadline || now < t->rto_deadline)
        return;
    if (++t->retries > TCP_RETRIES) {
        /* the client stopped answering: the connection is dropped */
        if (t->state == TCP_ESTABLISHED)
            t->gone = true;
        n->cnt.rst_out++;
        send_ctl(n, F_RST);
        to_listen(t);
        return;
    }
    n->cnt.retransmits++;
    t->rto = t->rto * 2 > rto_max(n) ? rto_max(n) : t->rto * 2;
    t->rto_deadline = now + t->rto;
    if (t->state == TCP_SYN_RCVD) {
        send_ctl(n, F_SYN | F_ACK);
    } else if (t->state == TCP_LAST_ACK) {
        t->snd_nxt--;
        send_ctl(n, F_FIN | F_ACK);
        t->snd_nxt++;
    } else if (t->state == TCP_ESTABLISHED) {
        /* go back to the first unacknowledged byte; a zero window gets a
         * one-byte probe (RFC 1122 §4.2.2.17) */
        t->snd_nxt = t->snd_una;
        if (!t->snd_wnd && t->tx_len) {
            if (emit(n, t->peer_mac, t->peer_ip, t->peer_port, t->snd_nxt, t->rcv_nxt, F_ACK, 0, 1))
                t->snd_nxt++;
            return;
        }
        tcp_output(n, now);
    }
}

bool tcp_getc(struct netif *n, uint8_t *b)
{
    struct tcp *t = &n->tcp;
    /* Once a client has gone, only its own last bytes are read: a new
     * client's wait until the session has been told (tcp.gone). */
    if (!t->rx_len || (t->gone && !t->old_len))
        return false;
    if (t->gone)
        t->old_len--;
    *b = t->rxq[t->rx_head];
    t->rx_head = t->rx_head + 1 == TCP_RXQ ? 0 : t->rx_head + 1;
    t->rx_len--;
    /* The window reopened (we had advertised less than a segment): say
     * so, or a client waiting on a zero window waits for its probe. */
    if (t->state == TCP_ESTABLISHED && t->adv_wnd < TCP_MSS && rx_free(t) >= TCP_RXQ / 2)
        send_ctl(n, F_ACK);
    return true;
}

size_t tcp_write(struct netif *n, const uint8_t *p, size_t len)
{
    struct tcp *t = &n->tcp;
    if (t->state != TCP_ESTABLISHED)
        return len; /* nobody to send it to: dropped */
    size_t room = TCP_TXQ - t->tx_len, k = len < room ? len : room;
    ring_in(t->txq, TCP_TXQ, (t->tx_head + t->tx_len) % TCP_TXQ, p, (uint32_t)k);
    t->tx_len += (uint32_t)k;
    return k;
}
