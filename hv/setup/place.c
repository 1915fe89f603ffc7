/*
 * Loading the vmm image into the VMM range, wherever the range came from
 * (the top of the E820 RAM for multiboot, the firmware's AllocatePages for
 * the UEFI application): the range's size, the image's segments, and the
 * page pool after them.
 */
#include "common/log.h"
#include "lib/elf.h"
#include "setup/setup.h"

uint64_t setup_vmm_need(const void *img, uint64_t size, unsigned ncpus)
{
    uint64_t lo, hi;

    if (elf64_check(img, size) || elf64_load_span(img, &lo, &hi) || lo != 0)
        setup_fail("the vmm image is not an x86-64 PIE linked at 0");
    uint64_t need = VMM_MIN_SIZE > hi + (1ull << 20) ? VMM_MIN_SIZE : hi + (1ull << 20);
    return need + (ncpus > 1 ? ncpus : 1) * VMM_PER_CPU;
}

uint64_t setup_place_vmm(const void *img, uint64_t size, uint64_t base, uint64_t top,
                         struct boot_info *info)
{
    uint64_t lo, hi;

    if (elf64_load_span(img, &lo, &hi) || elf64_load(img, size, (uint8_t *)base, top - base, 0))
        setup_fail("the vmm image does not fit its range");
    info->vmm_base = base;
    info->vmm_size = top - base;
    info->image_end = base + hi;
    palloc_init(&info->palloc, base + hi, top);
    log_printf("setup: vmm range 0x%016llx-0x%016llx (%llu KiB), image %llu KiB\n",
               (unsigned long long)base, (unsigned long long)top,
               (unsigned long long)((top - base) >> 10), (unsigned long long)(hi >> 10));
    return base + ((const struct elf64_ehdr *)img)->e_entry;
}
