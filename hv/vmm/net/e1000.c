/*
 * The Intel gigabit controllers, polled (e1000.h): one ring logic for
 * every model, the model's row (e1000_models.c) for where they differ.
 * Sections are those of the 8254x SDM unless named (hw/e1000.h lists the
 * documents).
 */
#include "vmm/net/e1000.h"
#include "common/cpu.h"
#include "lib/mem.h"
#include "lib/netopt.h"

static uint32_t rd(struct e1000 *e, unsigned reg) { return *(volatile uint32_t *)(e->mmio + reg); }

static void wr(struct e1000 *e, unsigned reg, uint32_t v)
{
    *(volatile uint32_t *)(e->mmio + reg) = v;
}

static void delay_us(uint64_t tsc_per_us, uint64_t us)
{
    uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < tsc_per_us * us)
        __asm__ volatile("pause");
}

/* Reads one EEPROM word through EERD (§5.3.1; the model gives the field
 * layout), bounded. */
static int eeprom_word(struct e1000 *e, unsigned addr, uint16_t *w)
{
    const struct e1000_model *m = e->model;
    wr(e, E1000_EERD, E1000_EERD_START | addr << m->eerd_addr_shift);
    for (int i = 0; i < 100000; i++) {
        uint32_t v = rd(e, E1000_EERD);
        if (v & (1u << m->eerd_done_bit)) {
            *w = (uint16_t)(v >> 16);
            return 0;
        }
    }
    return -1;
}

static void read_mac(struct e1000 *e)
{
    uint32_t lo = rd(e, E1000_RAL0), hi = rd(e, E1000_RAH0);
    if (!(hi & E1000_RAH_AV)) {
        /* Not loaded at reset: words 0-2 of the EEPROM hold the Ethernet
         * address (§5.6.1; 82574 and 82576 §6.1), low byte first. */
        uint16_t w[3] = {0};
        for (unsigned i = 0; i < 3; i++)
            eeprom_word(e, i, &w[i]);
        lo = w[0] | (uint32_t)w[1] << 16;
        hi = w[2];
        wr(e, E1000_RAL0, lo);
        wr(e, E1000_RAH0, hi | E1000_RAH_AV);
    }
    for (unsigned i = 0; i < 4; i++)
        e->mac[i] = (uint8_t)(lo >> (8 * i));
    e->mac[4] = (uint8_t)hi;
    e->mac[5] = (uint8_t)(hi >> 8);
}

/* Every BAR of the function (PCI 3.0 §6.2.5.1): the memory ones into
 * e->mem (BAR0 first), the I/O one into io_base/io_size. A 64-bit BAR
 * takes two slots. Decoding must be off (the caller's). */
static void find_bars(struct e1000 *e)
{
    unsigned n = 0;
    for (unsigned i = 0; i < 6; i++) {
        uint32_t raw = pci_read32(e->bdf, PCI_BAR0 + 4 * i);
        uint64_t base, size;
        bool io;
        if (pci_bar(e->bdf, i, &base, &size, &io) == 0) {
            if (io && !e->io_size) {
                e->io_base = base;
                e->io_size = size;
            } else if (!io && n < E1000_MEM_BARS && base) {
                e->mem[n++] = (struct e1000_bar){base, size};
            }
        }
        if (!(raw & 1) && ((raw >> 1) & 3) == 2)
            i++; /* the upper half of a 64-bit BAR */
    }
}

static bool model_matches(const struct e1000_model *m, uint32_t model)
{
    return model == NETOPT_ANY || model == m->netopt;
}

/* Finds the function (pci.h) among the models that model allows. */
static int find(struct e1000 *e, uint32_t model, pci_bdf want, const char **why)
{
    struct pci_id ids[8];
    const struct e1000_model *of[8];
    unsigned n = 0, id;
    for (unsigned i = 0; i < e1000_nmodels && n < 8; i++)
        if (model_matches(&e1000_models[i], model)) {
            ids[n] = (struct pci_id){E1000_VENDOR_INTEL, e1000_models[i].device};
            of[n++] = &e1000_models[i];
        }
    if (!n || pci_find(ids, n, want, &e->bdf, &id)) {
        *why = want != ~0u ? "that PCI function is no NIC of the model asked for"
               : model == NETOPT_ANY
                   ? "no supported Intel NIC (82540EM, 82574L, 82576) on the PCI buses"
                   : "no NIC of the model asked for on the PCI buses";
        return -1;
    }
    e->model = of[id];
    return 0;
}

/* Reset (§14.3, §13.4.1 CTRL.RST; 82574 §4.6, 82576 §4.5): interrupts
 * masked first, the reset bit self-clears; wait for it, bounded. Every
 * interrupt is masked again after it (IMC §13.4.21; the 82576's extended
 * causes through EIMC) and the pending causes read off (ICR clears on
 * read, §13.4.17). */
static void reset(struct e1000 *e, uint64_t tsc_us)
{
    wr(e, E1000_IMC, 0xffffffffu);
    if (e->model->eimc)
        wr(e, E1000_EIMC, 0xffffffffu);
    wr(e, E1000_CTRL, rd(e, E1000_CTRL) | E1000_CTRL_RST);
    delay_us(tsc_us, 10);
    for (int i = 0; i < 1000 && (rd(e, E1000_CTRL) & E1000_CTRL_RST); i++)
        delay_us(tsc_us, 10);
    wr(e, E1000_IMC, 0xffffffffu);
    if (e->model->eimc)
        wr(e, E1000_EIMC, 0xffffffffu);
    (void)rd(e, E1000_ICR);
}

/* Writes a PHY register through MDIC and waits, bounded, for the
 * interface to be ready. Returns 0, or -1 on error or timeout. */
static int phy_write(struct e1000 *e, unsigned reg, uint16_t val)
{
    wr(e, E1000_MDIC, val | E1000_MDIC_REG(reg) | E1000_MDIC_PHY1 | E1000_MDIC_OP_WRITE);
    for (int i = 0; i < 100000; i++) {
        uint32_t v = rd(e, E1000_MDIC);
        if (v & (E1000_MDIC_READY | E1000_MDIC_ERROR))
            return v & E1000_MDIC_ERROR ? -1 : 0;
    }
    return -1;
}

/* Link up, speed auto-detected (§14.3: CTRL.SLU, CTRL.ASDE). A copper PHY
 * that is not linked after the reset is told to (re)start
 * auto-negotiation (the 82576 after CTRL.RST; 82576 §4.5.7 "Link Setup");
 * the link then comes up on its own -- frames wait in the rings until it
 * does -- so nothing here waits for it. */
static void link_up(struct e1000 *e)
{
    wr(e, E1000_CTRL, (rd(e, E1000_CTRL) | E1000_CTRL_SLU | E1000_CTRL_ASDE) & ~E1000_CTRL_RST);
    if (!(rd(e, E1000_STATUS) & E1000_STATUS_LU))
        phy_write(e, MII_BMCR, MII_BMCR_ANENABLE | MII_BMCR_ANRESTART);
}

/* Sets a queue's RXDCTL/TXDCTL.ENABLE and waits, bounded, until it reads
 * back set (82576 §4.5: the queue is running then). */
static void queue_enable(struct e1000 *e, unsigned dctl, uint64_t tsc_us)
{
    wr(e, dctl, rd(e, dctl) | E1000_DCTL_ENABLE);
    for (int i = 0; i < 1000 && !(rd(e, dctl) & E1000_DCTL_ENABLE); i++)
        delay_us(tsc_us, 10);
}

/* A receive descriptor is the hardware's again: its buffer's address, the
 * rest zero (for the advanced format the header address, whose bit 0 is
 * DD; for the legacy one the status). */
static void rx_arm(struct e1000 *e, unsigned i)
{
    e->rx[i].addr = (uint64_t)(uintptr_t)(e->rx_buf + i * E1000_BUF);
    e->rx[i].w2 = 0;
    e->rx[i].w3 = 0;
}

/* Receive initialization (§14.4; 82574 §4.6; 82576 §4.5). */
static void rx_init(struct e1000 *e, uint64_t tsc_us)
{
    unsigned r = e->model->rx_ring;
    for (unsigned i = 0; i < E1000_RX_RING; i++)
        rx_arm(e, i);
    wr(e, r + E1000_RING_BAL, (uint32_t)(uintptr_t)e->rx);
    wr(e, r + E1000_RING_BAH, (uint32_t)((uint64_t)(uintptr_t)e->rx >> 32));
    wr(e, r + E1000_RING_LEN, E1000_RX_RING * sizeof(struct e1000_rx_desc));
    if (e->model->adv_rx)
        wr(e, r + E1000_RING_SRRCTL, E1000_SRRCTL_BSIZE_2K | E1000_SRRCTL_DESC_ADV_1BUF);
    wr(e, r + E1000_RING_HEAD, 0);
    e->rx_next = 0;
    e->rx_unflushed = 0;
    if (e->model->queue_enable)
        queue_enable(e, r + E1000_RING_DCTL, tsc_us);
    /* the hardware owns [head, tail) (§3.2.6): all but one descriptor */
    wr(e, r + E1000_RING_TAIL, E1000_RX_RING - 1);
    wr(e, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM | E1000_RCTL_SECRC);
}

/* Transmit initialization (§14.5; 82574 §4.6; 82576 §4.5). */
static void tx_init(struct e1000 *e, uint64_t tsc_us)
{
    unsigned r = e->model->tx_ring;
    for (unsigned i = 0; i < E1000_TX_RING; i++) {
        e->tx[i].addr = (uint64_t)(uintptr_t)(e->tx_buf + i * E1000_BUF);
        e->tx[i].status = E1000_TXD_DD; /* free */
    }
    wr(e, r + E1000_RING_BAL, (uint32_t)(uintptr_t)e->tx);
    wr(e, r + E1000_RING_BAH, (uint32_t)((uint64_t)(uintptr_t)e->tx >> 32));
    wr(e, r + E1000_RING_LEN, E1000_TX_RING * sizeof(struct e1000_tx_desc));
    wr(e, r + E1000_RING_HEAD, 0);
    wr(e, r + E1000_RING_TAIL, 0);
    e->tx_next = 0;
    e->tx_unflushed = false;
    wr(e, E1000_TIPG, E1000_TIPG_COPPER);
    wr(e, E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP | E1000_TCTL_CT | E1000_TCTL_COLD);
    if (e->model->queue_enable)
        queue_enable(e, r + E1000_RING_DCTL, tsc_us);
}

int e1000_open(struct e1000 *e, uint32_t model, pci_bdf want, struct palloc *pa, uint64_t tsc_hz,
               const char **why)
{
    if (find(e, model, want, why))
        return -1;
    /* Memory and I/O decoding off while the BARs are sized; on again
     * with bus mastering (the NIC reads and writes the rings) and INTx
     * disabled (PCI 3.0 §6.2.2). MSI and MSI-X stay off: their enable
     * bits are in capabilities the VMM leaves at their reset value 0. */
    uint16_t cmd = pci_read16(e->bdf, PCI_COMMAND);
    pci_write16(e->bdf, PCI_COMMAND, cmd & ~(PCI_CMD_IO | PCI_CMD_MEMORY));
    uint64_t base, size;
    bool io;
    int r = pci_bar(e->bdf, 0, &base, &size, &io);
    find_bars(e);
    pci_write16(e->bdf, PCI_COMMAND,
                (uint16_t)(cmd | PCI_CMD_MEMORY | PCI_CMD_MASTER | PCI_CMD_INTX_DISABLE));
    if (r || io || !base || size < 0x10000) {
        *why = "its BAR0 is not a memory BAR the firmware placed";
        return -1;
    }
    e->mmio = (volatile uint8_t *)(uintptr_t)base;
    e->mmio_size = size;

    uint64_t tsc_us = tsc_hz / 1000000 + 1;
    reset(e, tsc_us);
    if (e->model->drv_load)
        wr(e, E1000_CTRL_EXT, rd(e, E1000_CTRL_EXT) | E1000_CTRL_EXT_DRV_LOAD);
    link_up(e);
    read_mac(e);
    for (unsigned i = 0; i < 128; i++)
        wr(e, E1000_MTA + 4 * i, 0); /* no multicast (§14.4) */

    /* Rings and buffers in the VMM's range, identity-mapped: a pointer is
     * its own physical address. */
    e->rx = (volatile struct e1000_rx_desc *)palloc_pages(pa, 1);
    e->tx = (volatile struct e1000_tx_desc *)palloc_pages(pa, 1);
    e->rx_buf = (uint8_t *)palloc_pages(pa, E1000_RX_RING * E1000_BUF / 4096);
    e->tx_buf = (uint8_t *)palloc_pages(pa, E1000_TX_RING * E1000_BUF / 4096);
    if (!e->rx || !e->tx || !e->rx_buf || !e->tx_buf) {
        *why = "the VMM range is too small for its rings";
        return -1;
    }
    rx_init(e, tsc_us);
    tx_init(e, tsc_us);
    wr(e, E1000_IMC, 0xffffffffu);
    if (e->model->eimc)
        wr(e, E1000_EIMC, 0xffffffffu);
    return 0;
}

/* The descriptor's status (DD, EOP), error bits and frame length, in the
 * model's receive format (hw/e1000.h). */
static uint32_t rx_status(const struct e1000 *e, const volatile struct e1000_rx_desc *d)
{
    return e->model->adv_rx ? d->w2 : d->w3;
}

static bool rx_error(const struct e1000 *e, const volatile struct e1000_rx_desc *d)
{
    return e->model->adv_rx ? d->w2 & E1000_RXD_ADV_ERR : d->w3 & E1000_RXD_LEGACY_ERR;
}

static unsigned rx_length(const struct e1000 *e, const volatile struct e1000_rx_desc *d)
{
    return (e->model->adv_rx ? d->w3 : d->w2) & 0xffff;
}

bool e1000_rx_pending(const struct e1000 *e)
{
    return rx_status(e, &e->rx[e->rx_next]) & E1000_RXD_DD;
}

size_t e1000_rx(struct e1000 *e, const uint8_t **frame)
{
    for (;;) {
        volatile struct e1000_rx_desc *d = &e->rx[e->rx_next];
        uint32_t st = rx_status(e, d);
        if (!(st & E1000_RXD_DD))
            return 0;
        __asm__ volatile("" ::: "memory"); /* the status before the data (§3.2.3) */
        /* A frame in several descriptors, or with errors, is dropped. */
        unsigned len = rx_length(e, d);
        if (!(st & E1000_RXD_EOP) || rx_error(e, d) || len > E1000_BUF || len < 14) {
            e->rx_dropped++;
            e1000_rx_done(e);
            continue;
        }
        e->rx_frames++;
        *frame = e->rx_buf + e->rx_next * E1000_BUF;
        return len;
    }
}

void e1000_rx_done(struct e1000 *e)
{
    unsigned i = e->rx_next;
    rx_arm(e, i);
    e->rx_next = (i + 1) % E1000_RX_RING;
    e->rx_tail = i;
    if (++e->rx_unflushed >= E1000_RX_BATCH)
        e1000_rx_flush(e);
}

void e1000_rx_flush(struct e1000 *e)
{
    if (!e->rx_unflushed)
        return;
    e->rx_unflushed = 0;
    __asm__ volatile("sfence" ::: "memory");
    /* The descriptors go back to the hardware: the tail moves past the
     * last one (§3.2.6: the hardware owns [head, tail)). One register
     * write for the batch: under emulation each is an exit to the device
     * model, on hardware a posted write across the bus. */
    wr(e, e->model->rx_ring + E1000_RING_TAIL, e->rx_tail);
}

uint8_t *e1000_tx_buf(struct e1000 *e)
{
    if (!(e->tx[e->tx_next].status & E1000_TXD_DD)) {
        e1000_tx_flush(e); /* what is queued must go before a descriptor comes free */
        e->tx_full++;
        return 0;
    }
    return e->tx_buf + e->tx_next * E1000_BUF;
}

void e1000_tx_send(struct e1000 *e, size_t len)
{
    volatile struct e1000_tx_desc *d = &e->tx[e->tx_next];
    d->length = (uint16_t)len;
    d->cso = 0;
    d->css = 0;
    d->special = 0;
    d->status = 0;
    /* end of packet, insert the CRC, report status (DD) when done */
    d->cmd = E1000_TXD_EOP | E1000_TXD_IFCS | E1000_TXD_RS;
    e->tx_next = (e->tx_next + 1) % E1000_TX_RING;
    e->tx_frames++;
    e->tx_unflushed = true;
}

void e1000_tx_flush(struct e1000 *e)
{
    if (!e->tx_unflushed)
        return;
    e->tx_unflushed = false;
    __asm__ volatile("sfence" ::: "memory");
    /* The descriptors up to tx_next are the hardware's (§3.4 "Transmit
     * Descriptor Ring Structure": it sends [head, tail)): one tail write for every frame queued since the last
     * (each write is an exit to the device model under emulation). */
    wr(e, e->model->tx_ring + E1000_RING_TAIL, e->tx_next);
}
