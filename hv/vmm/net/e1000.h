/*
 * The VMM's own driver for the Intel gigabit controllers QEMU emulates and
 * boards carry: the 82540EM (`-device e1000`), the 82574L (`-device
 * e1000e`) and the 82576 (`-device igb`); registers and descriptors in
 * hw/e1000.h. Polled: one receive and one transmit ring, both with their
 * buffers in the VMM's range; every interrupt masked at the device (the
 * VMM never enables MSI or MSI-X, and INTx is disabled in the command
 * register). The ring logic is one (e1000.c); what differs between the
 * models is a row of e1000_models.c.
 */
#ifndef VMM_NET_E1000_H
#define VMM_NET_E1000_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/palloc.h"
#include "hw/e1000.h"
#include "vmm/net/pci.h"

#define E1000_RX_RING  64 /* descriptors (RDLEN a multiple of 128 bytes: 8254x SDM §13.4.27) */
#define E1000_TX_RING  64
#define E1000_BUF      2048 /* RCTL.BSIZE / SRRCTL.BSIZEPACKET 2048 */
#define E1000_RX_BATCH 16   /* receive descriptors given back per tail write */
#define E1000_MEM_BARS 3    /* BAR0 registers, and the 82574L's flash and MSI-X table */

/* What one model needs that the others do not (e1000_models.c). */
struct e1000_model {
    const char *name;          /* the part, for the log */
    uint16_t device;           /* PCI device ID (vendor 8086h) */
    uint32_t netopt;           /* enum netopt_model: its name in ctrl=net:... */
    uint16_t rx_ring, tx_ring; /* queue 0's register blocks (hw/e1000.h) */
    uint8_t eerd_done_bit, eerd_addr_shift;
    bool adv_rx;       /* advanced one-buffer receive descriptors (SRRCTL) */
    bool queue_enable; /* RXDCTL/TXDCTL.ENABLE start the queues */
    bool eimc;         /* extended interrupts, masked through EIMC too */
    bool drv_load;     /* CTRL_EXT.DRV_LOAD tells the board's firmware a driver runs */
};

/* The models, and how many (e1000_models.c). */
extern const struct e1000_model e1000_models[];
extern const unsigned e1000_nmodels;

struct e1000_bar {
    uint64_t base, size;
};

struct e1000 {
    const struct e1000_model *model;
    pci_bdf bdf;
    volatile uint8_t *mmio; /* BAR0 */
    uint64_t mmio_size;
    struct e1000_bar mem[E1000_MEM_BARS]; /* every memory BAR, BAR0 first; size 0: none */
    uint64_t io_base, io_size;            /* the I/O BAR, 0 if none */
    uint8_t mac[6];
    volatile struct e1000_rx_desc *rx;
    uint8_t *rx_buf;
    unsigned rx_next;      /* the next descriptor the hardware fills */
    unsigned rx_tail;      /* the last descriptor given back, for the next RDT write */
    unsigned rx_unflushed; /* given back since the last RDT write */
    volatile struct e1000_tx_desc *tx;
    uint8_t *tx_buf;
    unsigned tx_next;  /* the next descriptor we fill */
    bool tx_unflushed; /* filled since the last TDT write */
    uint64_t rx_frames, rx_dropped, tx_frames, tx_full;
};

/* Finds the NIC -- a function whose ID is model's (enum netopt_model;
 * NETOPT_ANY: any of e1000_models), the first on the buses or, if want is
 * not ~0, that function -- resets it and brings it up. Returns 0, or -1
 * with *why set. */
int e1000_open(struct e1000 *e, uint32_t model, pci_bdf want, struct palloc *pa, uint64_t tsc_hz,
               const char **why);

/* A frame waits in the receive ring (a read of memory, no register). */
bool e1000_rx_pending(const struct e1000 *e);
/* The next received frame (without its CRC): returns its length and
 * points *frame at it, or 0. e1000_rx_done gives the buffer back. */
size_t e1000_rx(struct e1000 *e, const uint8_t **frame);
void e1000_rx_done(struct e1000 *e);
/* The descriptors given back since the last flush reach the hardware
 * (E1000_RX_BATCH at a time by themselves). */
void e1000_rx_flush(struct e1000 *e);

/* The buffer of the next transmit descriptor (E1000_BUF bytes), or 0 if
 * the ring is full (what is queued is flushed then); e1000_tx_send queues
 * len bytes of it, e1000_tx_flush hands the queued frames to the NIC. */
uint8_t *e1000_tx_buf(struct e1000 *e);
void e1000_tx_send(struct e1000 *e, size_t len);
void e1000_tx_flush(struct e1000 *e);

#endif
