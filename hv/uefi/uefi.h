/* The UEFI application's internal interfaces (docs/uefi.md). */
#ifndef UEFI_UEFI_H
#define UEFI_UEFI_H

#include <stdint.h>

#include "common/boot_info.h"
#include "hw/uefi.h"

extern struct efi_system_table *uefi_st;
extern efi_handle uefi_image;

/* launch.S */
void uefi_abort(efi_status status) __attribute__((noreturn));
uint64_t uefi_launch(struct boot_resume *r, void (*go)(struct boot_resume *r));
extern const uint8_t vmm_image_start[], vmm_image_end[];

/* console.c: text on the firmware's console (and the log, once open). */
void uefi_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* options.c: the boot options as one ASCII line, from the load options,
 * else \...\ramooflax.cfg beside the application, else "". */
void uefi_read_options(char *out, unsigned size);

/* memory.c: the firmware's memory map as an E820 map (sorted, merged);
 * returns the count. */
int uefi_read_mmap(struct e820_entry *map, int max);
/* memory.c: the VMM range: `size` bytes at the top of the free memory
 * below 4 GiB, 2 MiB aligned, allocated as EfiReservedMemoryType. Returns
 * its base. */
uint64_t uefi_alloc_vmm(uint64_t size);
/* memory.c: gives the range back (an error before the VMM started). */
void uefi_free_vmm(void);

/* state.c: the segment registers' attributes, limits and bases from the
 * firmware's GDT, for the selectors launch.S recorded. */
void uefi_fill_segments(struct boot_resume *r);

#endif
