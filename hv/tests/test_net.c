/*
 * The VMM's network stack (vmm/net/ip.c, tcp.c) on the host: ARP, ICMP
 * echo, the TCP handshake, data both ways, retransmission, FIN and RST, a
 * second client, and a fuzz of mutated frames (under ASan and UBSan) after
 * which the stack still serves a connection.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vmm/net/net.h"

#define HZ      1000000000ull /* a 1 GHz TSC */
#define MAX_OUT 64

static uint8_t txbuf[NET_FRAME];
static uint8_t out[MAX_OUT][NET_FRAME];
static size_t out_len[MAX_OUT];
static unsigned nout;
static bool nic_full;

static uint8_t *fake_buf(struct netif *n) { return nic_full ? 0 : txbuf; }
static void fake_send(struct netif *n, size_t len)
{
    if (nout < MAX_OUT) {
        memcpy(out[nout], txbuf, len);
        out_len[nout] = len;
    }
    nout++;
}
static unsigned nflush;
static void fake_flush(struct netif *n) { nflush++; }
static const struct netif_ops fake_ops = {fake_buf, fake_send, fake_flush};

static const uint8_t our_mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
static const uint8_t peer_mac[6] = {0x52, 0x55, 10, 0, 2, 2};
#define OUR_IP  0x0a00020fu
#define PEER_IP 0x0a000202u
#define PORT    1234

static struct netif *new_netif(void)
{
    struct netif *n = calloc(1, sizeof(*n));
    n->ops = &fake_ops;
    memcpy(n->mac, our_mac, 6);
    n->ip = OUR_IP;
    n->port = PORT;
    n->tsc_hz = HZ;
    n->idle_ticks = 3 * HZ;
    tcp_init(n);
    return n;
}

static size_t eth(uint8_t *f, const uint8_t *dst, uint16_t type)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, peer_mac, 6);
    put16(f + 12, type);
    return 14;
}

static size_t ipv4(uint8_t *f, uint32_t src, uint8_t proto, size_t l4)
{
    size_t o = eth(f, our_mac, 0x0800);
    uint8_t *h = f + o;
    memset(h, 0, 20);
    h[0] = 0x45;
    put16(h + 2, (uint16_t)(20 + l4));
    h[8] = 64;
    h[9] = proto;
    put32(h + 12, src);
    put32(h + 16, OUR_IP);
    put16(h + 10, net_cksum(h, 20, 0));
    return o + 20 + l4;
}

static uint16_t l4_cksum(uint32_t src, uint32_t dst, const uint8_t *s, size_t len)
{
    uint32_t sum = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + 6;
    return net_cksum(s, len, sum + (uint32_t)len);
}

/* A TCP segment from the peer (port sport) to us. */
static size_t tcp_seg(uint8_t *f, uint16_t sport, uint32_t seq, uint32_t ack, uint8_t flags,
                      const void *data, size_t dlen)
{
    uint8_t *s = f + 34;
    memset(s, 0, 20);
    put16(s, sport);
    put16(s + 2, PORT);
    put32(s + 4, seq);
    put32(s + 8, ack);
    s[12] = 5 << 4;
    s[13] = flags;
    put16(s + 14, 65535);
    if (dlen)
        memcpy(s + 20, data, dlen);
    put16(s + 16, l4_cksum(PEER_IP, OUR_IP, s, 20 + dlen));
    return ipv4(f, PEER_IP, 6, 20 + dlen);
}

static void feed(struct netif *n, const uint8_t *f, size_t len, uint64_t now)
{
    nout = 0;
    net_input(n, f, len, now);
}

/* The last frame out, as a TCP segment. */
static const uint8_t *seg_out(unsigned i) { return out[i] + 34; }
static uint8_t flags_of(unsigned i) { return seg_out(i)[13]; }
static uint32_t seq_of(unsigned i) { return get32(seg_out(i) + 4); }
static uint32_t ack_of(unsigned i) { return get32(seg_out(i) + 8); }
static size_t dlen_of(unsigned i) { return out_len[i] - 34 - (seg_out(i)[12] >> 4) * 4; }
static bool out_valid(unsigned i)
{
    const uint8_t *h = out[i] + 14;
    size_t tot = get16(h + 2);
    bool l4 = h[9] == 6 ? !l4_cksum(get32(h + 12), get32(h + 16), h + 20, tot - 20)
                        : !net_cksum(h + 20, tot - 20, 0); /* ICMP: no pseudo-header */
    return !net_cksum(h, 20, 0) && l4 && tot + 14 == out_len[i] && get32(h + 12) == OUR_IP &&
           !memcmp(out[i] + 6, our_mac, 6);
}

static uint8_t f[2048];

/* Handshake from sport; returns our ISS + 1 (the next seq we send). */
static uint32_t handshake(struct netif *n, uint16_t sport, uint32_t iss, uint64_t now)
{
    feed(n, f, tcp_seg(f, sport, iss, 0, 0x02, 0, 0), now);
    CHECK(nout == 1 && flags_of(0) == 0x12, "SYN -> SYN-ACK (%u frames, flags %x)", nout,
          nout ? flags_of(0) : 0);
    CHECK(ack_of(0) == iss + 1 && out_valid(0) && !memcmp(out[0], peer_mac, 6) &&
              get32(out[0] + 30) == PEER_IP,
          "SYN-ACK acks the SYN, to the peer, checksums right");
    CHECK(seg_out(0)[12] >> 4 == 6 && seg_out(0)[20] == 2, "with an MSS option");
    uint32_t s = seq_of(0) + 1;
    feed(n, f, tcp_seg(f, sport, iss + 1, s, 0x10, 0, 0), now);
    CHECK(tcp_connected(n) && nout == 0, "ACK: established, nothing sent");
    return s;
}

static void test_arp_icmp(void)
{
    struct netif *n = new_netif();
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    size_t o = eth(f, bcast, 0x0806);
    uint8_t *a = f + o;
    put16(a, 1);
    put16(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, 1);
    memcpy(a + 8, peer_mac, 6);
    put32(a + 14, PEER_IP);
    memset(a + 18, 0, 6);
    put32(a + 24, OUR_IP);
    feed(n, f, o + 28, 0);
    CHECK(nout == 1 && get16(out[0] + 12) == 0x0806 && get16(out[0] + 20) == 2, "ARP reply");
    CHECK(!memcmp(out[0] + 22, our_mac, 6) && get32(out[0] + 28) == OUR_IP, "our address in it");
    CHECK(!memcmp(out[0], peer_mac, 6) && get32(out[0] + 38) == PEER_IP, "to the asker");
    put32(a + 24, OUR_IP + 1);
    feed(n, f, o + 28, 0);
    CHECK(nout == 0, "no reply for another address");

    uint8_t *icmp = f + 34;
    icmp[0] = 8;
    icmp[1] = 0;
    put16(icmp + 2, 0);
    put16(icmp + 4, 0x1234);
    put16(icmp + 6, 7);
    memcpy(icmp + 8, "pingdata", 8);
    put16(icmp + 2, net_cksum(icmp, 16, 0));
    feed(n, f, ipv4(f, PEER_IP, 1, 16), 0);
    CHECK(nout == 1 && out[0][34] == 0 && !net_cksum(out[0] + 34, 16, 0), "echo reply");
    CHECK(!memcmp(out[0] + 42, "pingdata", 8) && get16(out[0] + 38) == 0x1234, "same data, id");
    f[34 + 9] ^= 1;
    feed(n, f, ipv4(f, PEER_IP, 1, 16), 0);
    CHECK(nout == 0, "a bad ICMP checksum: no reply");
    free(n);
}

static void test_tcp(void)
{
    struct netif *n = new_netif();
    uint8_t b;
    uint32_t us = handshake(n, 40000, 1000, 0);

    /* data in */
    feed(n, f, tcp_seg(f, 40000, 1001, us, 0x18, "$?#3f", 5), 10);
    CHECK(nout == 0 && tcp_due(n, 10), "data in: the ACK waits (delayed ACK)");
    nout = 0;
    tcp_tick(n, 10 + HZ / 1000 * TCP_DELACK_MS);
    CHECK(nout == 1 && flags_of(0) == 0x10 && ack_of(0) == 1006, "data acked at the delay (ack %u)",
          nout ? ack_of(0) : 0);
    char got[8] = {0};
    for (int i = 0; i < 5 && tcp_getc(n, &b); i++)
        got[i] = (char)b;
    CHECK(!strcmp(got, "$?#3f") && !tcp_getc(n, &b), "the bytes, in order: %s", got);

    /* out of order and duplicate segments */
    feed(n, f, tcp_seg(f, 40000, 1010, us, 0x18, "zz", 2), 11);
    CHECK(nout == 1 && ack_of(0) == 1006 && !tcp_getc(n, &b), "ahead: dup ACK, dropped");
    feed(n, f, tcp_seg(f, 40000, 1001, us, 0x18, "$?#3f", 5), 11);
    CHECK(nout == 1 && ack_of(0) == 1006 && !tcp_getc(n, &b), "old: dup ACK, dropped");
    feed(n, f, tcp_seg(f, 40000, 1004, us, 0x18, "3fAB", 4), 11);
    CHECK(tcp_getc(n, &b) && b == 'A' && tcp_getc(n, &b) && b == 'B', "overlap: the new part");

    /* data out: 4000 bytes in three segments (MSS 536: the SYN had none) */
    static uint8_t msg[4000];
    for (unsigned i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)i;
    CHECK(tcp_write(n, msg, sizeof(msg)) == sizeof(msg), "queued");
    nout = 0;
    tcp_output(n, 20);
    CHECK(nout == 8 && seq_of(0) == us && dlen_of(0) == 536 && out_valid(7), "%u segments", nout);
    CHECK(!memcmp(seg_out(1) + 20, msg + 536, 536), "the data");
    /* lost: the timer resends from the first unacknowledged byte */
    nout = 0;
    tcp_tick(n, 20 + HZ / 10);
    CHECK(nout == 0, "not before the timeout");
    tcp_tick(n, 20 + HZ / 4);
    CHECK(nout >= 1 && seq_of(0) == us, "retransmitted from %u", nout ? seq_of(0) : 0);
    CHECK(n->cnt.retransmits == 1, "counted");
    feed(n, f, tcp_seg(f, 40000, 1008, us + 4000, 0x10, 0, 0), HZ);
    CHECK(n->tcp.tx_len == 0 && n->tcp.rto_deadline == 0, "all acked: queue empty, timer off");

    /* a second client is refused while this one talks */
    feed(n, f, tcp_seg(f, 40001, 5000, 0, 0x02, 0, 0), HZ + 1);
    CHECK(nout == 0, "second SYN: held for the grace");
    tcp_tick(n, HZ + 2 + HZ / 1000 * TCP_SYN_GRACE_MS);
    CHECK(nout == 1 && (flags_of(0) & 0x04) && ack_of(0) == 5001, "then refused: RST");
    CHECK(n->tcp.peer_port == 40000 && tcp_connected(n), "the first stays");
    /* an ACK for no connection: RST with its ack as seq */
    feed(n, f, tcp_seg(f, 40002, 1, 777, 0x10, 0, 0), HZ + 1);
    CHECK(nout == 1 && flags_of(0) == 0x04 && seq_of(0) == 777, "stray ACK: RST");

    /* FIN: our FIN-ACK; gone once the bytes before it are read */
    feed(n, f, tcp_seg(f, 40000, 1008, us + 4000, 0x19, "D", 1), HZ + 2);
    CHECK(nout == 1 && flags_of(0) == 0x11 && ack_of(0) == 1010, "FIN-ACK");
    CHECK(n->tcp.gone && tcp_getc(n, &b) && b == 'D', "gone, the data first");
    feed(n, f, tcp_seg(f, 40000, 1010, us + 4001, 0x10, 0, 0), HZ + 3);
    CHECK(n->tcp.state == TCP_LISTEN, "closed on the ACK of our FIN");

    /* a client that reconnects: its new SYN before the old FIN */
    n->tcp.gone = false;
    us = handshake(n, 40010, 500, 2 * HZ);
    feed(n, f, tcp_seg(f, 40011, 800, 0, 0x02, 0, 0), 2 * HZ);
    CHECK(nout == 0 && n->tcp.peer_port == 40010, "the new SYN waits");
    feed(n, f, tcp_seg(f, 40010, 501, us, 0x19, "x", 1), 2 * HZ + 10);
    CHECK(nout == 1 && flags_of(0) == 0x11, "the old one's FIN: FIN-ACK");
    nout = 0;
    tcp_tick(n, 2 * HZ + 20);
    CHECK(nout == 1 && flags_of(0) == 0x12 && n->tcp.peer_port == 40011, "the new one accepted");
    us = seq_of(0) + 1;
    feed(n, f, tcp_seg(f, 40011, 801, us, 0x18, "new", 3), 2 * HZ + 30);
    CHECK(tcp_connected(n), "and established");
    CHECK(!tcp_getc(n, &b) && n->tcp.gone, "its bytes wait: the old one's end is reported first");
    n->tcp.gone = false; /* (the session was told) */
    CHECK(tcp_getc(n, &b) && b == 'n', "then the new client's bytes");
    tcp_abort(n);

    /* a new client; a RST in the window closes it */
    n->tcp.gone = false;
    us = handshake(n, 40003, 9000, 2 * HZ);
    feed(n, f, tcp_seg(f, 40003, 12345, 0, 0x04, 0, 0), 2 * HZ);
    CHECK(tcp_connected(n), "a RST outside the window is ignored");
    feed(n, f, tcp_seg(f, 40003, 9001, 0, 0x04, 0, 0), 2 * HZ);
    CHECK(!tcp_connected(n) && n->tcp.gone, "a RST at rcv_nxt closes");

    /* a silent client gives way after idle_ticks */
    n->tcp.gone = false;
    handshake(n, 40004, 100, 3 * HZ);
    feed(n, f, tcp_seg(f, 40005, 200, 0, 0x02, 0, 0), 3 * HZ + HZ);
    tcp_tick(n, 3 * HZ + HZ + HZ / 2);
    CHECK(nout == 1 && (flags_of(0) & 0x04), "before idle: RST");
    feed(n, f, tcp_seg(f, 40005, 200, 0, 0x02, 0, 0), 3 * HZ + 4 * HZ);
    CHECK(nout == 2 && (flags_of(0) & 0x04) && flags_of(1) == 0x12, "after: RST old, SYN-ACK");
    CHECK(n->tcp.gone && n->tcp.peer_port == 40005, "the session told");

    /* a client that never acks: dropped after the retries */
    n->tcp.gone = false;
    feed(n, f, tcp_seg(f, 40005, 201, seq_of(1) + 1, 0x10, 0, 0), 8 * HZ);
    tcp_write(n, msg, 10);
    tcp_output(n, 8 * HZ);
    for (uint64_t t = 8 * HZ; t < 60 * HZ && tcp_connected(n); t += HZ / 10)
        tcp_tick(n, t);
    CHECK(!tcp_connected(n) && n->tcp.gone, "given up after %u retries", TCP_RETRIES);

    /* the NIC's ring full: nothing lost, sent later */
    n->tcp.gone = false;
    us = handshake(n, 40006, 300, 70 * HZ);
    tcp_write(n, msg, 100);
    nic_full = true;
    nout = 0;
    tcp_output(n, 70 * HZ);
    CHECK(nout == 0 && n->tcp.snd_nxt == us, "ring full: not sent");
    nic_full = false;
    tcp_output(n, 70 * HZ);
    CHECK(nout == 1 && dlen_of(0) == 100, "sent when there is room");
    free(n);
}

/* The delayed ACK (RFC 1122 §4.2.3.2, RFC 5681 §4.2): a reply carries
 * it, a second full-sized segment gets it at once, the timer sends it
 * otherwise; out-of-order data is acknowledged at once. And the cork:
 * tcp_output_full leaves a short tail for tcp_output. Flushes counted. */
static void test_delayed_ack_and_cork(void)
{
    struct netif *n = new_netif();
    uint8_t b, big[536];
    uint32_t us = handshake(n, 41000, 7000, 0);
    memset(big, 'x', sizeof(big));

    feed(n, f, tcp_seg(f, 41000, 7001, us, 0x18, "$g#67", 5), 100);
    CHECK(nout == 0 && n->tcp.ack_deadline, "a request: no ACK of its own");
    while (tcp_getc(n, &b))
        ;
    tcp_write(n, (const uint8_t *)"$OK#9a", 6);
    nout = 0;
    tcp_output(n, 200);
    CHECK(nout == 1 && ack_of(0) == 7006 && dlen_of(0) == 6 && !n->tcp.ack_deadline,
          "the reply carries the ACK (ack %u, %u frames)", nout ? ack_of(0) : 0, nout);
    nout = 0;
    tcp_tick(n, 200 + HZ);
    CHECK(nout == 1 && dlen_of(0) == 6, "no ACK of its own later (only the reply's retransmit)");
    feed(n, f, tcp_seg(f, 41000, 7006, us + 6, 0x10, 0, 0), 2 * HZ);

    /* two full-sized segments: the second is acknowledged at once */
    feed(n, f, tcp_seg(f, 41000, 7006, us + 6, 0x10, big, sizeof(big)), 2 * HZ);
    CHECK(nout == 0, "one full segment: the ACK waits");
    feed(n, f, tcp_seg(f, 41000, 7006 + 536, us + 6, 0x10, big, sizeof(big)), 2 * HZ);
    CHECK(nout == 1 && ack_of(0) == 7006 + 2 * 536 && !n->tcp.ack_deadline,
          "the second: ACK at once (%u frames)", nout);
    /* ahead of rcv_nxt: at once */
    feed(n, f, tcp_seg(f, 41000, 9000, us + 6, 0x18, "zz", 2), 2 * HZ);
    CHECK(nout == 1 && ack_of(0) == 7006 + 2 * 536, "out of order: a duplicate ACK at once");
    while (tcp_getc(n, &b))
        ;

    /* cork: 1000 bytes, MSS 536: one full segment now, the tail on output */
    static uint8_t msg[1000];
    tcp_write(n, msg, sizeof(msg));
    nout = 0;
    tcp_output_full(n, 3 * HZ);
    CHECK(nout == 1 && dlen_of(0) == 536, "full segments only (%u)", nout);
    nout = 0;
    tcp_output_full(n, 3 * HZ);
    CHECK(nout == 0, "the short tail waits");
    /* the client's ACK while the reply is being written: still no tail */
    n->tcp.cork = true;
    feed(n, f, tcp_seg(f, 41000, 7006 + 2 * 536, us + 6 + 536, 0x10, 0, 0), 3 * HZ);
    CHECK(nout == 0, "an ACK while corked sends no short segment (%u)", nout);
    n->tcp.cork = false;
    tcp_output(n, 3 * HZ);
    CHECK(nout == 1 && dlen_of(0) == 464 && (flags_of(0) & 0x08), "then goes, with PSH");

    /* the flush op: net_tx_flush calls it */
    unsigned before = nflush;
    net_tx_flush(n);
    CHECK(nflush == before + 1, "net_tx_flush reaches the netif's flush");
    free(n);
}

/* Valid frames of every kind, mutated: bits flipped, truncated, lengths
 * and header fields randomised. The stack must take them all (ASan and
 * UBSan watch), send only valid frames, and serve a client after. */
static void test_fuzz(void)
{
    struct netif *n = new_netif();
    uint32_t us = handshake(n, 41000, 1, 0);
    static uint8_t tmpl[6][2048];
    size_t tlen[6];
    tlen[0] = tcp_seg(tmpl[0], 41000, 2, us, 0x18, "$g#67", 5);
    tlen[1] = tcp_seg(tmpl[1], 41001, 2, 0, 0x02, 0, 0);
    tlen[2] = tcp_seg(tmpl[2], 41000, 2, us, 0x11, 0, 0);
    memcpy(tmpl[3], f, sizeof(f));
    tlen[3] = tcp_seg(tmpl[3], 41000, 2, us, 0x04, 0, 0);
    uint8_t *icmp = tmpl[4] + 34;
    memset(icmp, 0, 64);
    icmp[0] = 8;
    put16(icmp + 2, net_cksum(icmp, 64, 0));
    tlen[4] = ipv4(tmpl[4], PEER_IP, 1, 64);
    tlen[5] = eth(tmpl[5], our_mac, 0x0806) + 28;
    srand(1);
    unsigned bad_out = 0;
    for (int i = 0; i < 200000; i++) {
        unsigned k = (unsigned)rand() % 6;
        static uint8_t m[2048];
        memcpy(m, tmpl[k], sizeof(m));
        size_t len = tlen[k];
        switch (rand() % 5) {
        case 0:
            for (int j = rand() % 4 + 1; j; j--)
                m[(size_t)rand() % len] ^= (uint8_t)(1 << (rand() % 8));
            break;
        case 1:
            len = (size_t)rand() % (len + 1);
            break;
        case 2:
            put16(m + 16, (uint16_t)rand()); /* IP total length */
            put16(m + 24, 0);
            put16(m + 24, net_cksum(m + 14, 20, 0));
            break;
        case 3:
            m[14 + 20 + 12] = (uint8_t)rand(); /* TCP data offset */
            break;
        default:
            len = (size_t)rand() % sizeof(m);
            for (size_t j = 14; j < len; j++)
                m[j] = (uint8_t)rand();
        }
        nout = 0;
        net_input(n, m, len, (uint64_t)i * 1000);
        for (unsigned j = 0; j < nout && j < MAX_OUT; j++)
            if (get16(out[j] + 12) == 0x0800 && !out_valid(j)) {
                if (bad_out++ < 3) {
                    const uint8_t *h = out[j] + 14;
                    printf("bad out: kind %u proto %u len %zu tot %u flags %x\n", k, h[9],
                           out_len[j], get16(h + 2), h[9] == 6 ? h[33] : 0);
                }
            }
        uint8_t b;
        while (tcp_getc(n, &b))
            ;
        tcp_tick(n, (uint64_t)i * 1000);
    }
    CHECK(bad_out == 0, "every frame sent had valid checksums (%u bad)", bad_out);
    CHECK(n->cnt.bad > 1000, "bad frames counted: %llu", (unsigned long long)n->cnt.bad);
    tcp_abort(n);
    n->tcp.gone = false;
    handshake(n, 42000, 77, 300 * HZ);
    free(n);
}

/* RFC 1071's definition, 16 bits at a time in network order. */
static uint16_t ref_cksum(const uint8_t *b, size_t len, uint32_t sum)
{
    uint64_t s = sum;
    for (; len >= 2; b += 2, len -= 2)
        s += (uint32_t)(b[0] << 8 | b[1]);
    if (len)
        s += (uint32_t)b[0] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static void test_cksum(void)
{
    static uint8_t buf[1600];
    unsigned wrong = 0;
    srand(7);
    for (int i = 0; i < 20000; i++) {
        size_t len = (size_t)rand() % sizeof(buf), off = (size_t)rand() % 8;
        if (off + len > sizeof(buf))
            len = sizeof(buf) - off;
        for (size_t j = 0; j < len; j++)
            buf[off + j] = (uint8_t)(i % 3 ? rand() : 0xff);
        uint32_t sum = (uint32_t)rand() % 0x40000;
        if (net_cksum(buf + off, len, sum) != ref_cksum(buf + off, len, sum))
            wrong++;
    }
    CHECK(wrong == 0, "net_cksum agrees with RFC 1071's definition (%u differ)", wrong);
    static const uint8_t rfc[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    CHECK(net_cksum(rfc, 8, 0) == (uint16_t)~0xddf2, "RFC 1071 §3 example (sum ddf2): %x",
          net_cksum(rfc, 8, 0));
}

int main(void)
{
    test_cksum();
    test_arp_icmp();
    test_tcp();
    test_delayed_ack_and_cork();
    test_fuzz();
    return check_report();
}
