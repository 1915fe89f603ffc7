/*
 * Ethernet II, ARP (RFC 826), IPv4 (RFC 791) and ICMP echo (RFC 792) for
 * the control connection (net.h). Anything else is dropped: frames for
 * other hosts, fragments, IP options are checked and ignored, bad
 * checksums counted.
 */
#include "lib/mem.h"
#include "vmm/net/net.h"

#define ETH_HDR    14
#define ETH_IPV4   0x0800
#define ETH_ARP    0x0806
#define IP_HDR     20
#define IP_ICMP    1
#define IP_TCP     6
#define ICMP_ECHO  8
#define ICMP_REPLY 0

static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static uint64_t fold(uint64_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return s;
}

/* Eight bytes at a time, as two 32-bit words, in the CPU's (little-endian)
 * order: the one's complement sum does not depend on byte order but for a
 * swap of the result (RFC 1071 §2(B)), and a 32-bit word is its two 16-bit
 * halves mod 0xffff (§2(C), deferred carries). */
uint16_t net_cksum(const void *p, size_t len, uint32_t sum)
{
    const uint8_t *b = p;
    uint64_t s = 0;
    for (; len >= 8; b += 8, len -= 8) {
        uint64_t w;
        __builtin_memcpy(&w, b, 8);
        s += (w & 0xffffffffu) + (w >> 32);
    }
    for (; len >= 4; b += 4, len -= 4) {
        uint32_t w;
        __builtin_memcpy(&w, b, 4);
        s += w;
    }
    if (len >= 2) {
        s += (uint32_t)(b[0] | b[1] << 8);
        b += 2;
        len -= 2;
    }
    if (len)
        s += b[0];
    uint64_t le = fold(s);
    uint64_t be = (le >> 8 | le << 8) & 0xffff;
    return (uint16_t)~fold(be + sum);
}

static uint8_t *eth_start(struct netif *n, const uint8_t dst[6], uint16_t type)
{
    uint8_t *f = n->ops->tx_buf(n);
    if (!f)
        return 0;
    lib_memcpy(f, dst, 6);
    lib_memcpy(f + 6, n->mac, 6);
    put16(f + 12, type);
    return f;
}

uint8_t *ip_start(struct netif *n, const uint8_t mac[6], uint32_t ip, uint8_t proto)
{
    uint8_t *f = eth_start(n, mac, ETH_IPV4);
    if (!f)
        return 0;
    uint8_t *h = f + ETH_HDR;
    h[0] = 0x45; /* version 4, 5 words */
    h[1] = 0;
    put16(h + 4, 0);      /* identification: we never fragment */
    put16(h + 6, 0x4000); /* DF */
    h[8] = 64;            /* TTL */
    h[9] = proto;
    put32(h + 12, n->ip);
    put32(h + 16, ip);
    return f;
}

void ip_send(struct netif *n, uint8_t *f, size_t l4_len)
{
    uint8_t *h = f + ETH_HDR;
    put16(h + 2, (uint16_t)(IP_HDR + l4_len));
    put16(h + 10, 0);
    put16(h + 10, net_cksum(h, IP_HDR, 0));
    n->ops->tx_send(n, ETH_HDR + IP_HDR + l4_len);
}

/* RFC 826: a request for our address is answered to its sender. */
static void arp_input(struct netif *n, const uint8_t *a, size_t len)
{
    if (len < 28 || get16(a) != 1 || get16(a + 2) != ETH_IPV4 || a[4] != 6 || a[5] != 4)
        return;
    if (get16(a + 6) != 1 || get32(a + 24) != n->ip)
        return; /* not a request, or not for us */
    uint8_t *f = eth_start(n, a + 8, ETH_ARP);
    if (!f)
        return;
    uint8_t *r = f + ETH_HDR;
    put16(r, 1);
    put16(r + 2, ETH_IPV4);
    r[4] = 6;
    r[5] = 4;
    put16(r + 6, 2); /* reply */
    lib_memcpy(r + 8, n->mac, 6);
    put32(r + 14, n->ip);
    lib_memcpy(r + 18, a + 8, 10); /* the asker's hardware and protocol address */
    n->cnt.arp++;
    n->ops->tx_send(n, ETH_HDR + 28);
}

static void icmp_input(struct netif *n, const uint8_t *mac, uint32_t src, const uint8_t *p,
                       size_t len)
{
    if (len < 8 || p[0] != ICMP_ECHO || net_cksum(p, len, 0))
        return;
    uint8_t *f = ip_start(n, mac, src, IP_ICMP);
    if (!f)
        return;
    uint8_t *r = f + ETH_HDR + IP_HDR;
    lib_memcpy(r, p, len); /* same identifier, sequence and data */
    r[0] = ICMP_REPLY;
    put16(r + 2, 0);
    put16(r + 2, net_cksum(r, len, 0));
    n->cnt.icmp++;
    ip_send(n, f, len);
}

static void ipv4_input(struct netif *n, const uint8_t *mac, const uint8_t *h, size_t len,
                       uint64_t now)
{
    if (len < IP_HDR || h[0] >> 4 != 4)
        goto bad;
    size_t hl = (size_t)(h[0] & 0xf) * 4, tot = get16(h + 2);
    if (hl < IP_HDR || tot < hl || tot > len || net_cksum(h, hl, 0))
        goto bad;
    if (get32(h + 16) != n->ip)
        return; /* for another host */
    if (get16(h + 6) & 0x3fff)
        return; /* a fragment (MF or an offset): the VMM never reassembles */
    uint32_t src = get32(h + 12);
    if (h[9] == IP_ICMP)
        icmp_input(n, mac, src, h + hl, tot - hl);
    else if (h[9] == IP_TCP)
        tcp_input(n, mac, src, h + hl, tot - hl, now);
    return;
bad:
    n->cnt.bad++;
}

void net_input(struct netif *n, const uint8_t *f, size_t len, uint64_t now)
{
    if (len < ETH_HDR || len > NET_FRAME + 4) {
        n->cnt.bad++;
        return;
    }
    if (lib_memcmp(f, n->mac, 6) && lib_memcmp(f, broadcast, 6))
        return;
    if (f[6] & 1)
        return; /* a multicast source is no host */
    uint16_t type = get16(f + 12);
    if (type == ETH_ARP)
        arp_input(n, f + ETH_HDR, len - ETH_HDR);
    else if (type == ETH_IPV4 && !lib_memcmp(f, n->mac, 6))
        ipv4_input(n, f + 6, f + ETH_HDR, len - ETH_HDR, now);
}
