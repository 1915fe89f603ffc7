/* The VMM's own environment: identity page tables, GDT, IDT page, stack. */
#include "hw/paging.h"
#include "lib/pt.h"
#include "setup/setup.h"

static uint64_t alloc(struct boot_info *info, uint64_t pages)
{
    uint64_t p = palloc_pages(&info->palloc, pages);
    if (!p)
        setup_fail("the VMM range is too small for its structures");
    return p;
}

void setup_build_host(struct boot_info *info, uint64_t map_limit)
{
    struct pt pt;
    unsigned shift = (info->cpu_features & BOOT_CPU_PAGE1GB) ? 30 : 21;

    if (pt_init(&pt, palloc_page_cb, &info->palloc) ||
        pt_map(&pt, 0, 0, map_limit, PTE_P | PTE_W, shift))
        setup_fail("the VMM range is too small for the VMM's page tables");
    info->host_cr3 = pt.root;
    info->host_limit = map_limit;

    /* AMD APM Vol.2 §4.8: long-mode code segment (L=1, D=0) and a data segment */
    uint64_t *gdt = (uint64_t *)alloc(info, 1);
    gdt[VMM_CS / 8] = 0x00af9a000000ffffull;
    gdt[VMM_DS / 8] = 0x00cf92000000ffffull;
    info->gdt = (uint64_t)gdt;
    info->idt = alloc(info, 1);
    info->stack_top = alloc(info, VMM_STACK_PAGES) + VMM_STACK_PAGES * 4096;
}
