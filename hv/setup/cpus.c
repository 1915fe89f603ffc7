/*
 * The machine's cores, from the firmware's ACPI MADT or MP table
 * (lib/cpus.c): the vmm brings each one into the VM, and the VMM range is
 * sized for them. setup runs on the identity map, so physical memory is
 * read directly; the EBDA's segment is the BDA's word at 40:0Eh.
 */
#include "lib/cpus.h"
#include "common/log.h"
#include "lib/mem.h"
#include "setup/setup.h"

static bool read_phys(void *ctx, uint64_t pa, void *buf, uint32_t len)
{
    if (pa + len > (4ull << 30))
        return false;
    lib_memcpy(buf, (const void *)pa, len);
    return true;
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
}
