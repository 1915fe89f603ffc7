/*
 * The machine's cores, from the firmware's ACPI MADT or MP table
 * (lib/cpus.c): the vmm brings each one into the VM, and the VMM range is
 * sized for them. Also the PCIe ECAM window from the MCFG (lib/acpi.c),
 * through which the vmm hides its NIC's configuration space. setup runs on
 * the identity map, so physical memory is read directly; the EBDA's
 * segment is the BDA's word at 40:0Eh.
 */
#include "lib/cpus.h"
#include "common/log.h"
#include "lib/acpi.h"
#include "lib/mem.h"
#include "setup/setup.h"

static bool read_phys(void *ctx, uint64_t pa, void *buf, uint32_t len)
{
    if (pa + len > (4ull << 30))
        return false;
    lib_memcpy(buf, (const void *)pa, len);
    return true;
}

/* The PCIe ECAM window, if the MCFG gives one (0 in boot_info if not). */
static void find_ecam(struct boot_info *info, uint64_t rsdp)
{
    struct acpi_ecam e;
    if (!acpi_find_ecam(read_phys, 0, rsdp, &e))
        return;
    info->ecam_base = e.base;
    info->ecam_bus_start = e.bus_start;
    info->ecam_bus_end = e.bus_end;
    log_printf("setup: PCIe ECAM window at 0x%llx, buses %u-%u (ACPI MCFG)\n",
               (unsigned long long)e.base, e.bus_start, e.bus_end);
}

void setup_find_cpus(struct boot_info *info)
{
    static const char *const source[] = {"no MADT or MP table", "the ACPI MADT", "the MP table"};
    uint16_t seg;
    enum cpus_source src;

    read_phys(0, 0x40e, &seg, sizeof(seg));
    uint64_t ebda = (uint64_t)seg << 4;
    if (ebda < 0x80000 || ebda >= 0xa0000)
        ebda = 0; /* not a plausible EBDA */
    info->ncpus = cpus_find(read_phys, 0, ebda, info->apic_ids, BOOT_CPUS_MAX, &src);
    log_printf("setup: %u core%s from %s\n", info->ncpus, info->ncpus == 1 ? "" : "s", source[src]);
    find_ecam(info, acpi_find_rsdp(read_phys, 0, ebda));
}
