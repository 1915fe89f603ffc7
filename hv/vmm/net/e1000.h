/*
 * The VMM's own driver for the Intel 82540EM (QEMU's `-device e1000`),
 * polled, from the PCI/PCI-X Family of Gigabit Ethernet Controllers
 * Software Developer's Manual (Intel 8254x SDM, 317453): legacy
 * descriptors, one receive and one transmit ring, both with their buffers
 * in the VMM's range; every interrupt masked at the device.
 */
#ifndef VMM_NET_E1000_H
#define VMM_NET_E1000_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/palloc.h"
#include "vmm/net/pci.h"

#define E1000_RX_RING 64 /* descriptors (RDLEN a multiple of 128 bytes: §13.4.27) */
#define E1000_TX_RING 64
#define E1000_BUF     2048 /* RCTL.BSIZE 2048 */

/* Legacy receive descriptor (§3.2.3, Table 3-1) */
struct e1000_rx_desc {
    uint64_t addr;
    uint16_t length;
    uint16_t csum;
    uint8_t status; /* bit 0 DD, bit 1 EOP */
    uint8_t errors;
    uint16_t special;
};

/* Legacy transmit descriptor (§3.3.3, Table 3-8) */
struct e1000_tx_desc {
    uint64_t addr;
    uint16_t length;
    uint8_t cso;
    uint8_t cmd;    /* bit 0 EOP, 1 IFCS, 3 RS */
    uint8_t status; /* bit 0 DD */
    uint8_t css;
    uint16_t special;
};

struct e1000 {
    pci_bdf bdf;
    volatile uint8_t *mmio; /* BAR0 */
    uint64_t mmio_size;
    uint64_t io_base, io_size; /* BAR1 (I/O), 0 if none */
    uint8_t mac[6];
    volatile struct e1000_rx_desc *rx;
    uint8_t *rx_buf;
    unsigned rx_next; /* the next descriptor the hardware fills */
    volatile struct e1000_tx_desc *tx;
    uint8_t *tx_buf;
    unsigned tx_next; /* the next descriptor we fill */
    uint64_t rx_frames, rx_dropped, tx_frames, tx_full;
};

/* Finds the NIC (pci.h: want ~0 for the first), resets it and brings it
 * up. Returns 0, or -1 with *why set. */
int e1000_open(struct e1000 *e, pci_bdf want, struct palloc *pa, uint64_t tsc_hz, const char **why);

/* A frame waits in the receive ring (a read of memory, no register). */
bool e1000_rx_pending(const struct e1000 *e);
/* The next received frame (without its CRC): returns its length and
 * points *frame at it, or 0. e1000_rx_done gives the buffer back. */
size_t e1000_rx(struct e1000 *e, const uint8_t **frame);
void e1000_rx_done(struct e1000 *e);

/* The buffer of the next transmit descriptor (E1000_BUF bytes), or 0 if
 * the ring is full; e1000_tx_send hands len bytes of it to the NIC. */
uint8_t *e1000_tx_buf(struct e1000 *e);
void e1000_tx_send(struct e1000 *e, size_t len);

#endif
