/*
 * A PCI function the VMM owns (its control NIC), hidden from the VM.
 *
 * Configuration mechanism #1 (PCI Local Bus Specification 3.0 §3.2.2.3.2):
 * the VM's dword writes to CONFIG_ADDRESS (0xCF8) are followed and passed
 * on; an access to CONFIG_DATA (0xCFC-0xCFF) while the address names the
 * hidden function reads all ones -- what a bus gives for a function that
 * does not answer, vendor ID FFFFh (§6.2.1) -- and writes vanish. Any other
 * function's configuration is the hardware's.
 *
 * The function's memory BAR leaves the nested page tables (core/npf.c
 * answers with all ones and a log line), its I/O BAR's ports are owned
 * and float high. The machines the lab runs (QEMU `pc`) have no ECAM
 * window; a machine with one (PCIe MMCONFIG) is not covered yet.
 */
#include "common/cpu.h"
#include "common/log.h"
#include "vmm/core/intercepts.h"
#include "vmm/core/vcpu.h"
#include "vmm/devices/devices.h"

#define CONFIG_ADDRESS 0xcf8
#define CONFIG_DATA    0xcfc

static int config_address_io(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val)
{
    struct devices_state *d = &v->vm->dev;
    if (size == 4 && !in)
        d->pci_addr = *val;
    /* Only dword accesses reach CONFIG_ADDRESS (§3.2.2.3.2); the rest is
     * the hardware's, as is reading it back. */
    io_passthrough(port, size, in, val);
    return 0;
}

static int config_data_io(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val)
{
    struct devices_state *d = &v->vm->dev;
    uint32_t a = d->pci_addr;
    if ((a & (1u << 31)) && ((a >> 8) & 0xffff) == d->pci_hidden_bdf) {
        if (in)
            *val = 0xffffffffu;
        return 0;
    }
    io_passthrough(port, size, in, val);
    return 0;
}

int pci_hide(struct vm *vm, uint32_t bdf, uint64_t mmio, uint64_t mmio_size, uint64_t io,
             uint64_t io_size, const char *what)
{
    struct devices_state *d = &vm->dev;
    d->pci_hidden = true;
    d->pci_hidden_bdf = bdf;
    d->pci_addr = 0;
    vm_own_ports(vm, CONFIG_ADDRESS, 1, config_address_io);
    vm_own_ports(vm, CONFIG_DATA, 4, config_data_io);
    if (io_size && io + io_size <= 0x10000)
        vm_own_ports(vm, (uint16_t)io, (uint16_t)io_size, hidden_io);
    if (!mmio_size)
        return 0;
    if (vm->nhidden == VM_HIDDEN_MAX) {
        log_printf("vmm: pci: no room to hide %s's BAR\n", what);
        return -1;
    }
    vm->hidden[vm->nhidden++] = (struct hidden_range){mmio, mmio_size, what};
    if (vm->ops->npt_hide(vm, mmio, mmio_size)) {
        log_printf("vmm: pci: %s's BAR could not leave the nested tables\n", what);
        return -1;
    }
    log_printf("vmm: pci: %02x:%02x.%x hidden from the VM: configuration space, BAR 0x%llx-0x%llx"
               "%s\n",
               bdf >> 8, (bdf >> 3) & 0x1f, bdf & 7, (unsigned long long)mmio,
               (unsigned long long)(mmio + mmio_size - 1), io_size ? ", I/O ports" : "");
    return 0;
}
