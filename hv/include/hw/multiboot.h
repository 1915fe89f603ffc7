/*
 * Multiboot v1 structures. GNU Multiboot Specification 0.6.96, §3.1 (header)
 * and §3.3 (boot information), §3.3 "mmap" entries.
 */
#ifndef HW_MULTIBOOT_H
#define HW_MULTIBOOT_H

#include <stdint.h>

#define MULTIBOOT_HEADER_MAGIC    0x1badb002u
#define MULTIBOOT_BOOT_MAGIC      0x2badb002u
#define MULTIBOOT_HDR_PAGE_ALIGN  (1u << 0)
#define MULTIBOOT_HDR_MEMORY_INFO (1u << 1)

#define MBI_FLAG_MEM     (1u << 0)
#define MBI_FLAG_BOOTDEV (1u << 1)
#define MBI_FLAG_CMDLINE (1u << 2)
#define MBI_FLAG_MODS    (1u << 3)
#define MBI_FLAG_MMAP    (1u << 6)

struct multiboot_info {
    uint32_t flags;
    uint32_t mem_lower, mem_upper;
    uint32_t boot_device;
    uint32_t cmdline;
    uint32_t mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr;
    uint32_t drives_length, drives_addr;
    uint32_t config_table;
    uint32_t boot_loader_name;
} __attribute__((packed));
_Static_assert(__builtin_offsetof(struct multiboot_info, mmap_length) == 44, "mbi");

struct multiboot_module {
    uint32_t mod_start, mod_end;
    uint32_t string;
    uint32_t reserved;
} __attribute__((packed));

/* Each entry is preceded by its size (not counting the size field itself). */
struct multiboot_mmap {
    uint32_t size;
    uint64_t addr;
    uint64_t len;
    uint32_t type;
} __attribute__((packed));

#endif
