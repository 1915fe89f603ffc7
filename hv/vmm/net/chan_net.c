/*
 * The network control channel (control/channel.h): the session's bytes
 * over the TCP connection of net.h, on the VMM's own e1000. Polled: the
 * receive ring is looked at when the session polls (a descriptor's status
 * byte in memory), frames are taken and the timers run when it reads.
 */
#include "vmm/net/chan_net.h"
#include "common/cpu.h"
#include "common/log.h"
#include "vmm/net/e1000.h"
#include "vmm/net/net.h"

#define FRAMES_PER_PUMP 32

struct net_chan {
    struct e1000 nic;
    struct netif n;
    uint64_t queue_full; /* pumps while a write waited for the client's ACKs */
};

static uint8_t *nic_tx_buf(struct netif *n) { return e1000_tx_buf(n->dev); }
static void nic_tx_send(struct netif *n, size_t len) { e1000_tx_send(n->dev, len); }
static void nic_tx_flush(struct netif *n) { e1000_tx_flush(n->dev); }

static const struct netif_ops nic_ops = {nic_tx_buf, nic_tx_send, nic_tx_flush};

static struct net_chan *nc_of(struct channel *ch) { return ch->ctx; }

/* Frames in, timers run; bounded, so a flood cannot hold the VMM. What
 * they made us send (ACKs, replies) and the descriptors they freed reach
 * the NIC in one tail write each. */
static void pump(struct net_chan *nc)
{
    const uint8_t *f;
    size_t len;
    uint64_t now = rdtsc();
    for (int i = 0; i < FRAMES_PER_PUMP && (len = e1000_rx(&nc->nic, &f)); i++) {
        net_input(&nc->n, f, len, now);
        e1000_rx_done(&nc->nic);
    }
    e1000_rx_flush(&nc->nic);
    tcp_tick(&nc->n, now);
    e1000_tx_flush(&nc->nic);
}

static bool net_ready(struct channel *ch)
{
    struct net_chan *nc = nc_of(ch);
    return e1000_rx_pending(&nc->nic) || tcp_due(&nc->n, rdtsc());
}

static bool net_getc(struct channel *ch, uint8_t *b)
{
    struct net_chan *nc = nc_of(ch);
    bool got = tcp_getc(&nc->n, b);
    if (!got) {
        pump(nc);
        got = tcp_getc(&nc->n, b);
    }
    e1000_tx_flush(&nc->nic); /* a window update tcp_getc sent */
    return got;
}

/* Queues bytes for the client; full-sized segments leave at once (the
 * short tail waits for the next write or the flush), and the client's
 * ACKs are taken as they come, so a long reply streams while it is
 * framed. Blocks while the transmit queue is full; the retransmission
 * timer ends it if the client is gone. */
static void net_write(struct channel *ch, const uint8_t *p, size_t len)
{
    struct net_chan *nc = nc_of(ch);
    nc->n.tcp.cork = true;
    for (;;) {
        size_t k = tcp_write(&nc->n, p, len);
        p += k;
        len -= k;
        tcp_output_full(&nc->n, rdtsc());
        nc->queue_full += len != 0;
        if (len || e1000_rx_pending(&nc->nic))
            pump(nc);
        else
            e1000_tx_flush(&nc->nic);
        if (!len)
            return;
    }
}

static void net_flush(struct channel *ch)
{
    struct net_chan *nc = nc_of(ch);
    nc->n.tcp.cork = false;
    tcp_output(&nc->n, rdtsc());
    e1000_tx_flush(&nc->nic);
}

/* The counters, when a client leaves: what a slow or broken link did. */
static void log_counters(struct net_chan *nc)
{
    const struct net_counters *c = &nc->n.cnt;
    log_printf(
        "vmm: net: frames in %llu (dropped %llu, bad %llu), out %llu; tcp in %llu, out %llu, "
        "retransmits %llu, resets %llu, clients refused %llu; ring full %llu, queue full %llu\n",
        (unsigned long long)nc->nic.rx_frames, (unsigned long long)nc->nic.rx_dropped,
        (unsigned long long)c->bad, (unsigned long long)nc->nic.tx_frames,
        (unsigned long long)c->tcp_in, (unsigned long long)c->tcp_out,
        (unsigned long long)c->retransmits, (unsigned long long)c->rst_out,
        (unsigned long long)c->refused, (unsigned long long)nc->nic.tx_full,
        (unsigned long long)nc->queue_full);
}

static bool net_closed(struct channel *ch)
{
    struct tcp *t = &nc_of(ch)->n.tcp;
    if (!t->gone || t->old_len)
        return false; /* what it sent before it left is read first */
    t->gone = false;
    log_counters(nc_of(ch));
    return true;
}

static void net_drop(struct channel *ch)
{
    tcp_abort(&nc_of(ch)->n);
    e1000_tx_flush(&nc_of(ch)->nic);
    log_counters(nc_of(ch));
}

static const struct channel_ops net_ops = {
    .name = "net",
    .keeps_input = true,
    .rx_ready = net_ready,
    .getc = net_getc,
    .write = net_write,
    .flush = net_flush,
    .closed = net_closed,
    .drop = net_drop,
};

int channel_net_open(struct channel *ch, const struct netopt *o, struct palloc *pa, uint64_t tsc_hz,
                     uint64_t idle_s, struct pci_hidden_fn *hide)
{
    const char *why = "";
    struct net_chan *nc = (struct net_chan *)palloc_pages(pa, (sizeof(*nc) + 4095) / 4096);
    if (!nc) {
        log_printf("vmm: net: the VMM range is too small for the network channel\n");
        return -1;
    }
    if (e1000_open(&nc->nic, o->model, o->pci == NETOPT_PCI_ANY ? ~0u : o->pci, pa, tsc_hz, &why)) {
        log_printf("vmm: net: %s\n", why);
        return -1;
    }
    nc->n.ops = &nic_ops;
    nc->n.dev = &nc->nic;
    for (int i = 0; i < 6; i++)
        nc->n.mac[i] = nc->nic.mac[i];
    nc->n.ip = o->ip;
    nc->n.port = (uint16_t)o->port;
    nc->n.tsc_hz = tsc_hz;
    nc->n.idle_ticks = tsc_hz * idle_s;
    tcp_init(&nc->n);
    ch->ops = &net_ops;
    ch->ctx = nc;
    const uint8_t *m = nc->nic.mac;
    pci_bdf b = nc->nic.bdf;
    log_printf("vmm: net: %s at %02x:%02x.%x, MAC %02x:%02x:%02x:%02x:%02x:%02x, "
               "BAR0 0x%llx (%llu KiB), %u.%u.%u.%u port %u\n",
               nc->nic.model->name, b >> 8, (b >> 3) & 0x1f, b & 7, m[0], m[1], m[2], m[3], m[4],
               m[5], (unsigned long long)(uintptr_t)nc->nic.mmio,
               (unsigned long long)(nc->nic.mmio_size >> 10), o->ip >> 24, (o->ip >> 16) & 0xff,
               (o->ip >> 8) & 0xff, o->ip & 0xff, o->port);
    *hide =
        (struct pci_hidden_fn){.bdf = b, .io_base = nc->nic.io_base, .io_size = nc->nic.io_size};
    for (int i = 0; i < E1000_MEM_BARS && i < PCI_HIDE_BARS; i++)
        hide->mem[i] = (struct pci_hidden_bar){nc->nic.mem[i].base, nc->nic.mem[i].size};
    return 0;
}
