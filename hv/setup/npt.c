/*
 * Nested page tables: an identity map of guest-physical memory with the VMM
 * range left not present, so that any VM access there is a #NPF the VMM
 * handles (AMD APM Vol.2 §15.25 "Nested Paging"). Nested-table accesses
 * are user accesses, so every level carries U (§15.25.5).
 */
#include "common/log.h"
#include "hw/paging.h"
#include "lib/pt.h"
#include "setup/setup.h"

void setup_build_npt(struct boot_info *info, uint64_t map_limit)
{
    struct pt pt;
    unsigned shift = (info->cpu_features & BOOT_CPU_PAGE1GB) ? 30 : 21;

    if (pt_init(&pt, palloc_page_cb, &info->palloc) ||
        pt_map(&pt, 0, 0, map_limit, PTE_P | PTE_W | PTE_U, shift) ||
        pt_unmap(&pt, info->vmm_base, info->vmm_size))
        setup_fail("cannot build the nested page tables");
    info->npt_root = pt.root;
    info->npt_limit = map_limit;
    log_printf("setup: nested map 0-0x%llx, hole at 0x%llx-0x%llx\n", (unsigned long long)map_limit,
               (unsigned long long)info->vmm_base,
               (unsigned long long)(info->vmm_base + info->vmm_size));
}
