/*
 * The memory map and the VMM's place in it: the top of RAM below 4 GiB,
 * aligned down to 2 MiB, at least VMM_MIN_SIZE long (docs/architecture.md).
 */
#include "common/log.h"
#include "lib/elf.h"
#include "lib/mem.h"
#include "setup/setup.h"

#define TWO_MIB  (2ull << 20)
#define FOUR_GIB (4ull << 30)

extern char __setup_start[], __setup_end[];

int setup_read_mmap(const struct multiboot_info *mbi, struct e820_entry *map, int max)
{
    uint64_t p = mbi->mmap_addr, end = p + mbi->mmap_length;
    int n = 0;
    while (p + sizeof(uint32_t) <= end && n < max) {
        const struct multiboot_mmap *m = (const void *)p;
        map[n].addr = m->addr;
        map[n].len = m->len;
        map[n].type = m->type;
        map[n].attr = 1;
        n++;
        p += m->size + sizeof(m->size);
    }
    n = e820_sort(map, n);
    for (int i = 0; i < n; i++)
        log_printf("setup: e820 %016llx-%016llx type %u\n", (unsigned long long)map[i].addr,
                   (unsigned long long)(map[i].addr + map[i].len - 1), map[i].type);
    return n;
}

static int overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

uint64_t setup_load_vmm(const struct multiboot_module *mod, const struct e820_entry *map, int count,
                        struct boot_info *info)
{
    const void *img = (const void *)(uint64_t)mod->mod_start;
    uint64_t size = mod->mod_end - mod->mod_start;

    uint64_t top = e820_ram_top_below(map, count, FOUR_GIB);
    uint64_t need = setup_vmm_need(img, size, info->ncpus);
    if (top < need + (16ull << 20))
        setup_fail("not enough RAM below 4 GiB for the VMM");
    uint64_t base = (top - need) & ~(TWO_MIB - 1);

    /* The range must be one usable E820 region, and free of what we still use. */
    int inside = 0;
    for (int i = 0; i < count; i++)
        if (map[i].type == E820_RAM && map[i].addr <= base && map[i].addr + map[i].len >= top)
            inside = 1;
    if (!inside)
        setup_fail("the top of RAM below 4 GiB is not one usable region");
    if (overlaps(base, top - base, mod->mod_start, size) ||
        overlaps(base, top - base, (uint64_t)__setup_start, __setup_end - __setup_start))
        setup_fail("the boot loader put a module where the VMM goes (top of RAM)");
    return setup_place_vmm(img, size, base, top, info);
}
