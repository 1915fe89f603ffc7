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
 * The enhanced configuration mechanism (PCI Express Base 4.0 §7.2.2): on a
 * machine with an ECAM window (the ACPI MCFG gives it: QEMU q35, most PCIe
 * boards; setup records it in boot_info), the function's configuration
 * space is also the 4 KiB page at base + (bus << 20 | dev << 15 | fn << 12).
 * That page leaves the nested tables like a BAR: a load there gets all
 * ones, a store is dropped (core/npf.c), and the other functions' pages
 * around it stay the hardware's.
 *
 * The function's memory BARs leave the nested page tables the same way
 * (core/npf.c answers with all ones and a log line); its I/O BAR's ports
 * are owned and float high.
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

/* Takes [base, base + size) out of the nested tables (vm->hidden, so
 * that on-demand mapping leaves it out too). Returns 0 / -1 (logged). */
static int hide_range(struct vm *vm, uint64_t base, uint64_t size, const char *what)
{
    if (vm->nhidden == VM_HIDDEN_MAX) {
        log_printf("vmm: pci: no room to hide %s\n", what);
        return -1;
    }
    vm->hidden[vm->nhidden++] = (struct hidden_range){base, size, what};
    if (vm->ops->npt_hide(vm, base, size)) {
        log_printf("vmm: pci: %s could not leave the nested tables\n", what);
        return -1;
    }
    return 0;
}

/* The function's page of the ECAM window, or 0 if the machine has no
 * window or the function's bus is outside it. */
static uint64_t ecam_page(const struct boot_info *bi, uint32_t bdf)
{
    uint32_t bus = bdf >> 8;
    if (!bi->ecam_base || bus < bi->ecam_bus_start || bus > bi->ecam_bus_end)
        return 0;
    return bi->ecam_base +
           ((uint64_t)bus << 20 | (uint64_t)((bdf >> 3) & 0x1f) << 15 | (uint64_t)(bdf & 7) << 12);
}

int pci_hide(struct vm *vm, const struct pci_hidden_fn *f, const char *what)
{
    struct devices_state *d = &vm->dev;
    uint32_t bdf = f->bdf;
    d->pci_hidden = true;
    d->pci_hidden_bdf = bdf;
    d->pci_addr = 0;
    vm_own_ports(vm, CONFIG_ADDRESS, 1, config_address_io);
    vm_own_ports(vm, CONFIG_DATA, 4, config_data_io);
    if (f->io_size && f->io_base + f->io_size <= 0x10000)
        vm_own_ports(vm, (uint16_t)f->io_base, (uint16_t)f->io_size, hidden_io);
    log_printf("vmm: pci: %02x:%02x.%x hidden from the VM (%s): configuration space%s\n", bdf >> 8,
               (bdf >> 3) & 0x1f, bdf & 7, what, f->io_size ? ", I/O ports" : "");
    int r = 0;
    uint64_t page = ecam_page(vm->info, bdf);
    if (page) {
        r |= hide_range(vm, page, 4096, "PCI configuration space (ECAM)");
        log_printf("vmm: pci: its ECAM page 0x%llx reads as no device\n", (unsigned long long)page);
    }
    for (unsigned i = 0; i < PCI_HIDE_BARS; i++) {
        if (!f->mem[i].size)
            continue;
        r |= hide_range(vm, f->mem[i].base, f->mem[i].size, what);
        log_printf("vmm: pci: its BAR 0x%llx-0x%llx leaves the nested tables\n",
                   (unsigned long long)f->mem[i].base,
                   (unsigned long long)(f->mem[i].base + f->mem[i].size - 1));
    }
    return r ? -1 : 0;
}
