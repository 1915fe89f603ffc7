/*
 * Intel 82540EM, polled (e1000.h). Sections are those of the Intel 8254x
 * Software Developer's Manual; register offsets from its Table 13-2.
 */
#include "vmm/net/e1000.h"
#include "common/cpu.h"
#include "lib/mem.h"

#define E1000_VENDOR  0x8086
#define E1000_82540EM 0x100e /* §5.2: the 82540EM (desktop) device ID */

/* Registers (§13.4, Table 13-2) */
#define REG_CTRL   0x0000
#define REG_STATUS 0x0008
#define REG_EERD   0x0014
#define REG_ICR    0x00c0
#define REG_IMS    0x00d0
#define REG_IMC    0x00d8
#define REG_RCTL   0x0100
#define REG_TCTL   0x0400
#define REG_TIPG   0x0410
#define REG_RDBAL  0x2800
#define REG_RDBAH  0x2804
#define REG_RDLEN  0x2808
#define REG_RDH    0x2810
#define REG_RDT    0x2818
#define REG_TDBAL  0x3800
#define REG_TDBAH  0x3804
#define REG_TDLEN  0x3808
#define REG_TDH    0x3810
#define REG_TDT    0x3818
#define REG_MTA    0x5200 /* 128 dwords */
#define REG_RAL0   0x5400
#define REG_RAH0   0x5404

/* CTRL (§13.4.1) */
#define CTRL_ASDE   (1u << 5)
#define CTRL_SLU    (1u << 6)
#define CTRL_RST    (1u << 26)
/* EERD (§13.4.4): start bit 0, done bit 4, address 15:8, data 31:16 */
#define EERD_START  (1u << 0)
#define EERD_DONE   (1u << 4)
/* RAH, Receive Address High (§13.5 filter registers): address valid */
#define RAH_AV      (1u << 31)
/* RCTL (§13.4.22) */
#define RCTL_EN     (1u << 1)
#define RCTL_BAM    (1u << 15) /* broadcasts: ARP requests */
#define RCTL_SECRC  (1u << 26) /* strip the CRC */
/* BSIZE 17:16 = 00 with BSEX 0: 2048-byte buffers; LPE 0: frames up to
 * 1522 bytes, so one descriptor holds a frame. */
/* TCTL (§13.4.33) */
#define TCTL_EN     (1u << 1)
#define TCTL_PSP    (1u << 3)     /* pad short packets to 64 bytes */
#define TCTL_CT     (0x0fu << 4)  /* collision threshold: 0Fh (§13.4.33, recommended) */
#define TCTL_COLD   (0x40u << 12) /* collision distance, full duplex: 40h */
/* TIPG for the 82540's copper PHY (§13.4.34): IPGT 10, IPGR1 8, IPGR2 6 */
#define TIPG_COPPER (10u | 8u << 10 | 6u << 20)

#define RX_DD   (1u << 0)
#define RX_EOP  (1u << 1)
#define TX_EOP  (1u << 0)
#define TX_IFCS (1u << 1)
#define TX_RS   (1u << 3)
#define TX_DD   (1u << 0)

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

/* Reads one EEPROM word through EERD (§5.3.1, §13.4.4), bounded. */
static int eeprom_word(struct e1000 *e, unsigned addr, uint16_t *w)
{
    wr(e, REG_EERD, EERD_START | addr << 8);
    for (int i = 0; i < 100000; i++) {
        uint32_t v = rd(e, REG_EERD);
        if (v & EERD_DONE) {
            *w = (uint16_t)(v >> 16);
            return 0;
        }
    }
    return -1;
}

static void read_mac(struct e1000 *e)
{
    uint32_t lo = rd(e, REG_RAL0), hi = rd(e, REG_RAH0);
    if (!(hi & RAH_AV)) {
        /* Not loaded at reset: words 0-2 of the EEPROM hold the Ethernet
         * address (§5.6.1), low byte first. */
        uint16_t w[3] = {0};
        for (unsigned i = 0; i < 3; i++)
            eeprom_word(e, i, &w[i]);
        lo = w[0] | (uint32_t)w[1] << 16;
        hi = w[2];
        wr(e, REG_RAL0, lo);
        wr(e, REG_RAH0, hi | RAH_AV);
    }
    for (unsigned i = 0; i < 4; i++)
        e->mac[i] = (uint8_t)(lo >> (8 * i));
    e->mac[4] = (uint8_t)hi;
    e->mac[5] = (uint8_t)(hi >> 8);
}

int e1000_open(struct e1000 *e, pci_bdf want, struct palloc *pa, uint64_t tsc_hz, const char **why)
{
    static const struct pci_id ids[] = {{E1000_VENDOR, E1000_82540EM}};
    unsigned id;
    uint64_t base, size;
    bool io;

    if (pci_find(ids, 1, want, &e->bdf, &id)) {
        *why =
            want == ~0u ? "no Intel 82540EM on the PCI buses" : "that PCI function is no 82540EM";
        return -1;
    }
    /* Memory and I/O decoding off while the BARs are sized; on again
     * with bus mastering (the NIC reads and writes the rings) and INTx
     * disabled (PCI 3.0 §6.2.2). */
    uint16_t cmd = pci_read16(e->bdf, PCI_COMMAND);
    pci_write16(e->bdf, PCI_COMMAND, cmd & ~(PCI_CMD_IO | PCI_CMD_MEMORY));
    int r = pci_bar(e->bdf, 0, &base, &size, &io);
    bool bar0_io = io;
    if (!r && !io) {
        e->mmio = (volatile uint8_t *)(uintptr_t)base;
        e->mmio_size = size;
    }
    /* The I/O window (IOADDR/IODATA, the SDM's I/O-mapped access) is another BAR: found to be
     * hidden from the VM with the rest. */
    for (unsigned i = 1; i < 6 && !e->io_size; i++)
        if (pci_bar(e->bdf, i, &base, &size, &io) == 0 && io) {
            e->io_base = base;
            e->io_size = size;
        }
    pci_write16(e->bdf, PCI_COMMAND,
                (uint16_t)(cmd | PCI_CMD_MEMORY | PCI_CMD_MASTER | PCI_CMD_INTX_DISABLE));
    if (r || bar0_io || !e->mmio || e->mmio_size < 0x10000) {
        *why = "its BAR0 is not a memory BAR the firmware placed";
        return -1;
    }

    /* Reset (§14.3 "General Configuration", §13.4.1 CTRL.RST): interrupts
     * masked first, the reset bit self-clears; wait for it, bounded. */
    uint64_t tsc_us = tsc_hz / 1000000 + 1;
    wr(e, REG_IMC, 0xffffffffu);
    wr(e, REG_CTRL, rd(e, REG_CTRL) | CTRL_RST);
    delay_us(tsc_us, 10);
    for (int i = 0; i < 1000 && (rd(e, REG_CTRL) & CTRL_RST); i++)
        delay_us(tsc_us, 10);
    /* every interrupt masked again after the reset (§13.4.21 IMC), the
     * pending causes read off (§13.4.17: ICR clears on read) */
    wr(e, REG_IMC, 0xffffffffu);
    (void)rd(e, REG_ICR);
    /* link up, speed auto-detected (§14.3) */
    wr(e, REG_CTRL, (rd(e, REG_CTRL) | CTRL_SLU | CTRL_ASDE) & ~CTRL_RST);
    read_mac(e);
    for (unsigned i = 0; i < 128; i++)
        wr(e, REG_MTA + 4 * i, 0); /* no multicast (§14.4) */

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

    /* Receive initialization (§14.4) */
    for (unsigned i = 0; i < E1000_RX_RING; i++)
        e->rx[i].addr = (uint64_t)(uintptr_t)(e->rx_buf + i * E1000_BUF);
    wr(e, REG_RDBAL, (uint32_t)(uintptr_t)e->rx);
    wr(e, REG_RDBAH, (uint32_t)((uint64_t)(uintptr_t)e->rx >> 32));
    wr(e, REG_RDLEN, E1000_RX_RING * sizeof(struct e1000_rx_desc));
    wr(e, REG_RDH, 0);
    wr(e, REG_RDT, E1000_RX_RING - 1); /* the hardware owns [head, tail) */
    e->rx_next = 0;
    wr(e, REG_RCTL, RCTL_EN | RCTL_BAM | RCTL_SECRC);

    /* Transmit initialization (§14.5) */
    for (unsigned i = 0; i < E1000_TX_RING; i++) {
        e->tx[i].addr = (uint64_t)(uintptr_t)(e->tx_buf + i * E1000_BUF);
        e->tx[i].status = TX_DD; /* free */
    }
    wr(e, REG_TDBAL, (uint32_t)(uintptr_t)e->tx);
    wr(e, REG_TDBAH, (uint32_t)((uint64_t)(uintptr_t)e->tx >> 32));
    wr(e, REG_TDLEN, E1000_TX_RING * sizeof(struct e1000_tx_desc));
    wr(e, REG_TDH, 0);
    wr(e, REG_TDT, 0);
    e->tx_next = 0;
    wr(e, REG_TIPG, TIPG_COPPER);
    wr(e, REG_TCTL, TCTL_EN | TCTL_PSP | TCTL_CT | TCTL_COLD);
    wr(e, REG_IMC, 0xffffffffu);
    return 0;
}

bool e1000_rx_pending(const struct e1000 *e) { return e->rx[e->rx_next].status & RX_DD; }

size_t e1000_rx(struct e1000 *e, const uint8_t **frame)
{
    for (;;) {
        volatile struct e1000_rx_desc *d = &e->rx[e->rx_next];
        if (!(d->status & RX_DD))
            return 0;
        __asm__ volatile("" ::: "memory"); /* the status before the data (§3.2.3) */
        /* A frame in several descriptors, or with errors, is dropped. */
        if (!(d->status & RX_EOP) || d->errors || d->length > E1000_BUF || d->length < 14) {
            e->rx_dropped++;
            e1000_rx_done(e);
            continue;
        }
        e->rx_frames++;
        *frame = e->rx_buf + e->rx_next * E1000_BUF;
        return d->length;
    }
}

void e1000_rx_done(struct e1000 *e)
{
    unsigned i = e->rx_next;
    e->rx[i].status = 0;
    e->rx_next = (i + 1) % E1000_RX_RING;
    __asm__ volatile("sfence" ::: "memory");
    /* The descriptors go back to the hardware eight at a time: the tail
     * moves past them (§3.2.6: the hardware owns [head, tail)). Each RDT
     * write is an MMIO exit in an emulator (QEMU also kicks its main loop
     * for it); the hardware keeps at least E1000_RX_RING - 9 free. */
    if ((i & 7) == 7)
        wr(e, REG_RDT, i);
}

uint8_t *e1000_tx_buf(struct e1000 *e)
{
    if (!(e->tx[e->tx_next].status & TX_DD)) {
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
    d->cmd = TX_EOP | TX_IFCS | TX_RS;
    e->tx_next = (e->tx_next + 1) % E1000_TX_RING;
    e->tx_frames++;
    __asm__ volatile("sfence" ::: "memory");
    wr(e, REG_TDT, e->tx_next);
}
