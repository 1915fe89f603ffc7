/*
 * Nested page tables: an identity map of guest-physical memory with the
 * VMM range left not present, so that any VM access there is a #NPF the
 * VMM handles (AMD APM Vol.2 §15.25 "Nested Paging"). Nested-table
 * accesses are user accesses, so every level carries U (§15.25.5).
 *
 * Mapped up front: the low 4 GiB (RAM, the firmware, the usual MMIO) and
 * every RAM range of the memory map; with 1 GiB pages, the first 512 GiB
 * (one table). Anything else -- a reserved range at 1 TiB, a 64-bit BAR the
 * firmware placed high -- is mapped by the vmm on its first nested page
 * fault (vmm/svm/npt.c), so the tables stay small whatever the layout.
 *
 * On Intel the same map is an EPT tree (SDM Vol.3C §29.3, lib/ept.h): RAM
 * write-back, the rest of the low 4 GiB uncacheable, the VMM range not
 * present; the vmm maps the rest on EPT violations (vmm/vmx/ept.c).
 */
#include <stdbool.h>

#include "common/log.h"
#include "hw/paging.h"
#include "lib/ept.h"
#include "lib/pt.h"
#include "setup/setup.h"

#define FOUR_GIB (4ull << 30)

static void build_ept(struct boot_info *info, const struct e820_entry *map, int count)
{
    struct pt pt;
    uint32_t f = info->cpu_features;
    unsigned shift = (f & BOOT_CPU_EPT_1G) ? 30 : (f & BOOT_CPU_EPT_2M) ? 21 : 12;

    if (ept_init(&pt, palloc_page_cb, &info->palloc) ||
        ept_build_identity(&pt, map, count, FOUR_GIB, shift, info->vmm_base, info->vmm_size))
        setup_fail("the VMM range is too small for the EPT tables");
    info->nested_root = pt.root;
    info->nested_limit = FOUR_GIB;
    log_printf("setup: EPT map 0-0x%llx and RAM above (%u-bit pages), hole at 0x%llx-0x%llx, the "
               "rest on demand\n",
               (unsigned long long)FOUR_GIB, shift, (unsigned long long)info->vmm_base,
               (unsigned long long)(info->vmm_base + info->vmm_size));
}

void setup_build_npt(struct boot_info *info, const struct e820_entry *map, int count)
{
    if (info->cpu_features & BOOT_CPU_VMX) {
        build_ept(info, map, count);
        return;
    }
    struct pt pt;
    bool page1gb = info->cpu_features & BOOT_CPU_PAGE1GB;
    unsigned shift = page1gb ? 30 : 21;
    uint64_t align = 1ull << shift;
    uint64_t limit = page1gb ? 512ull << 30 : FOUR_GIB;

    if (pt_init(&pt, palloc_page_cb, &info->palloc) ||
        pt_map(&pt, 0, 0, limit, PTE_P | PTE_W | PTE_U, shift))
        setup_fail("the VMM range is too small for the nested page tables");
    for (int i = 0; i < count; i++) {
        uint64_t lo = map[i].addr & ~(align - 1);
        uint64_t hi = (map[i].addr + map[i].len + align - 1) & ~(align - 1);
        if (map[i].type != E820_RAM || hi <= limit)
            continue;
        if (lo < limit)
            lo = limit;
        if (pt_map(&pt, lo, lo, hi - lo, PTE_P | PTE_W | PTE_U, shift))
            setup_fail("the VMM range is too small for the nested page tables of this much RAM");
    }
    if (pt_unmap(&pt, info->vmm_base, info->vmm_size))
        setup_fail("cannot cut the VMM range out of the nested page tables");
    info->nested_root = pt.root;
    info->nested_limit = limit;
    log_printf("setup: nested map 0-0x%llx and RAM above, hole at 0x%llx-0x%llx, the rest on "
               "demand\n",
               (unsigned long long)limit, (unsigned long long)info->vmm_base,
               (unsigned long long)(info->vmm_base + info->vmm_size));
}
