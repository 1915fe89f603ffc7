/*
 * The VMM's structures, built in its range once the vmm image is there
 * (setup_place_vmm): the boot_info page, the VMM's identity map, GDT, IDT
 * and stack, the nested page tables without the VMM range, and the E820
 * map with the range removed. The multiboot setup and the UEFI
 * application both build the VMM with it.
 */
#include "lib/mem.h"
#include "setup/setup.h"

struct boot_info *setup_build_vmm(const struct boot_info *tmp, const struct e820_entry *map,
                                  int count)
{
    struct palloc pool = tmp->palloc;
    struct boot_info *info = (struct boot_info *)palloc_pages(&pool, 1);
    if (!info)
        setup_fail("the VMM range is too small");
    *info = *tmp;
    info->palloc = pool;

    /* The VMM's identity map covers all of RAM, and at least 4 GiB for the
     * firmware and MMIO; with 1 GiB pages, 512 GiB (one table). */
    uint64_t limit = e820_ram_top_below(map, count, ~0ull);
    limit = limit < (4ull << 30) ? (4ull << 30) : (limit + (1ull << 30) - 1) & ~((1ull << 30) - 1);
    if ((info->cpu_features & BOOT_CPU_PAGE1GB) && limit < (512ull << 30))
        limit = 512ull << 30;
    setup_build_host(info, limit);
    setup_build_npt(info, map, count);

    lib_memcpy(info->e820, map, (uint64_t)count * sizeof(*map));
    int patched = e820_remove(info->e820, count, BOOT_E820_MAX, info->vmm_base, info->vmm_size);
    if (patched < 0)
        setup_fail("E820 map too large to patch");
    info->e820_count = (uint32_t)patched;
    return info;
}
