/*
 * PCI configuration space through configuration mechanism #1, ports
 * 0xCF8 (address) and 0xCFC (data) (PCI Local Bus Specification 3.0
 * §3.2.2.3.2). The VMM uses it at start-up only, before the VM runs: at
 * run time those ports are the VM's (behind devices/pci_hide.c).
 */
#ifndef VMM_NET_PCI_H
#define VMM_NET_PCI_H

#include <stdbool.h>
#include <stdint.h>

/* bus << 8 | dev << 3 | fn, as lib/netopt.h writes it */
typedef uint32_t pci_bdf;

#define PCI_BDF(bus, dev, fn) ((pci_bdf)((bus) << 8 | (dev) << 3 | (fn)))

/* Configuration header (PCI 3.0 §6.1, type 0) */
#define PCI_VENDOR  0x00
#define PCI_DEVICE  0x02
#define PCI_COMMAND 0x04
#define PCI_HEADER  0x0e
#define PCI_BAR0    0x10

#define PCI_CMD_IO           (1u << 0)
#define PCI_CMD_MEMORY       (1u << 1)
#define PCI_CMD_MASTER       (1u << 2)
#define PCI_CMD_INTX_DISABLE (1u << 10)

uint32_t pci_read32(pci_bdf a, unsigned off);
void pci_write32(pci_bdf a, unsigned off, uint32_t val);
uint16_t pci_read16(pci_bdf a, unsigned off);
void pci_write16(pci_bdf a, unsigned off, uint16_t val);

struct pci_id {
    uint16_t vendor, device;
};

/* The first function on buses 0-255 whose ID is one of ids[0..n), or, if
 * want is not ~0, that function if its ID is one of them. Returns 0 with
 * *out, *id set, or -1. */
int pci_find(const struct pci_id *ids, unsigned n, pci_bdf want, pci_bdf *out, unsigned *id);

/* BAR i: its base and size (PCI 3.0 §6.2.5.1: write all ones, read back
 * the size mask, restore). *io is set for an I/O BAR. Returns 0, or -1 if
 * the BAR is not implemented. Memory decoding must be off meanwhile (the
 * caller's). A 64-bit BAR takes slots i and i + 1. */
int pci_bar(pci_bdf a, unsigned i, uint64_t *base, uint64_t *size, bool *io);

#endif
