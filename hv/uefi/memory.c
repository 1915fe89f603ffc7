/*
 * Memory from the firmware (UEFI 2.10 §7.2): its map, read with
 * GetMemoryMap, as an E820 map for the VMM (the types as ACPI 6.5 §15.4
 * "UEFI Memory Map" maps them to E820 types), and the VMM's range,
 * allocated with AllocatePages as EfiReservedMemoryType: a type no OS
 * takes as RAM, so after ExitBootServices the OS's memory map shows the
 * range as reserved, and the nested page tables hide it anyway.
 */
#include "common/log.h"
#include "lib/mem.h"
#include "setup/setup.h"
#include "uefi/uefi.h"

#define PAGE     4096ull
#define TWO_MIB  (2ull << 20)
#define FOUR_GIB (4ull << 30)

static uint8_t buf[48 << 10];
static uint64_t vmm_base, vmm_pages;

static uint32_t e820_type(uint32_t efi)
{
    switch (efi) {
    case EFI_LOADER_CODE:
    case EFI_LOADER_DATA:
    case EFI_BOOT_SERVICES_CODE:
    case EFI_BOOT_SERVICES_DATA:
    case EFI_CONVENTIONAL_MEMORY:
    case EFI_PERSISTENT_MEMORY:
        return E820_RAM;
    case EFI_ACPI_RECLAIM_MEMORY:
        return E820_ACPI;
    case EFI_ACPI_MEMORY_NVS:
        return E820_NVS;
    case EFI_UNUSABLE_MEMORY:
        return E820_UNUSABLE;
    default:
        return E820_RESERVED;
    }
}

/* The firmware's map in buf; returns the byte size, *desc the stride. */
static uint64_t get_map(uint64_t *desc)
{
    uint64_t size = sizeof(buf), key;
    uint32_t version;
    efi_status s = uefi_st->boot_services->get_memory_map(
        &size, (struct efi_memory_descriptor *)buf, &key, desc, &version);
    if (s != EFI_SUCCESS || *desc < sizeof(struct efi_memory_descriptor))
        setup_fail("cannot read the firmware's memory map (GetMemoryMap)");
    return size;
}

int uefi_read_mmap(struct e820_entry *map, int max)
{
    uint64_t desc, size = get_map(&desc);
    int n = 0;

    for (uint64_t off = 0; off + desc <= size; off += desc) {
        const struct efi_memory_descriptor *d = (const void *)(buf + off);
        uint64_t addr = d->physical_start, len = d->number_of_pages * PAGE;
        uint32_t type = e820_type(d->type);
        int j;
        /* merge with an entry of the same type it touches */
        for (j = 0; j < n; j++)
            if (map[j].type == type &&
                (map[j].addr + map[j].len == addr || addr + len == map[j].addr))
                break;
        if (j < n) {
            if (addr < map[j].addr)
                map[j].addr = addr;
            map[j].len += len;
            continue;
        }
        if (n == max)
            setup_fail("the firmware's memory map has too many ranges");
        map[n++] = (struct e820_entry){addr, len, type, 1};
    }
    n = e820_sort(map, n);
    /* a merge can make two entries touch: once more, in order */
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m && map[m - 1].type == map[i].type && map[m - 1].addr + map[m - 1].len == map[i].addr)
            map[m - 1].len += map[i].len;
        else
            map[m++] = map[i];
    }
    for (int i = 0; i < m; i++)
        log_printf("uefi: memory %016llx-%016llx e820 type %u\n", (unsigned long long)map[i].addr,
                   (unsigned long long)(map[i].addr + map[i].len - 1), map[i].type);
    return m;
}

uint64_t uefi_alloc_vmm(uint64_t size)
{
    uint64_t desc, len = get_map(&desc), best = 0;

    size = (size + PAGE - 1) & ~(PAGE - 1);
    for (uint64_t off = 0; off + desc <= len; off += desc) {
        const struct efi_memory_descriptor *d = (const void *)(buf + off);
        uint64_t lo = d->physical_start, hi = lo + d->number_of_pages * PAGE;
        if (d->type != EFI_CONVENTIONAL_MEMORY || lo >= FOUR_GIB)
            continue;
        if (hi > FOUR_GIB)
            hi = FOUR_GIB;
        if (hi - lo < size)
            continue;
        uint64_t base = (hi - size) & ~(TWO_MIB - 1);
        if (base >= lo && base > best)
            best = base;
    }
    if (!best)
        setup_fail("no free memory below 4 GiB for the VMM");
    uint64_t addr = best;
    if (uefi_st->boot_services->allocate_pages(EFI_ALLOCATE_ADDRESS, EFI_RESERVED_MEMORY,
                                               size / PAGE, &addr) != EFI_SUCCESS ||
        addr != best)
        setup_fail("the firmware refused the VMM's memory (AllocatePages)");
    vmm_base = addr;
    vmm_pages = size / PAGE;
    lib_memset((void *)addr, 0, size);
    return addr;
}

void uefi_free_vmm(void)
{
    if (vmm_pages)
        uefi_st->boot_services->free_pages(vmm_base, vmm_pages);
    vmm_pages = 0;
}
