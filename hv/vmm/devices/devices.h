/*
 * The few devices the VMM stands between the VM and the hardware for:
 * the i8042 keyboard controller and port 92h (reset lines and A20), the
 * reset control register CF9h, and the ports the VMM owns (its UARTs,
 * hidden). Each *_io returns 0 when the access is done (the VM's value is
 * in *val for IN). Their state is machine-wide (vm->dev).
 */
#ifndef VMM_DEVICES_DEVICES_H
#define VMM_DEVICES_DEVICES_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/core/vm.h"

/* Does the I/O on the real port for the VM. */
void io_passthrough(uint16_t port, unsigned size, bool in, uint32_t *val);

void a20_init(struct vm *vm);
/* Sets A20 as the VM asked (through port 92h on the hardware) and tracks it. */
void a20_set(struct vm *vm, bool on);

int kbd_io(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val);
int port92_io(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val);
int cf9_io(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val);
/* A port the VMM owns: reads float high (no device), writes vanish. */
int hidden_io(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val);

/* A PCI function the VMM owns: bus << 8 | dev << 3 | fn, its memory BARs
 * (size 0: none) and its I/O BAR (io_size 0: none). */
#define PCI_HIDE_BARS 3
struct pci_hidden_bar {
    uint64_t base, size;
};
struct pci_hidden_fn {
    uint32_t bdf;
    struct pci_hidden_bar mem[PCI_HIDE_BARS];
    uint64_t io_base, io_size;
};

/* devices/pci_hide.c: the function reads as no device through
 * CONFIG_ADDRESS/CONFIG_DATA and through its page of the PCIe ECAM window
 * (if the machine has one: boot_info's ecam_*), that page and its memory
 * BARs leave the nested tables, its I/O BAR's ports are hidden. Returns
 * 0 / -1 (logged). */
int pci_hide(struct vm *vm, const struct pci_hidden_fn *f, const char *what);

/* Logs a reset attempt the VMM stopped and reports it; the VM goes on. */
void reset_attempt(struct vcpu *v, const char *how);
/* Resets the machine for real, as a PC's chipset does after a shutdown:
 * CF9h, then the keyboard controller, then a triple fault of our own. */
void machine_reset(void) __attribute__((noreturn));

#endif
