/*
 * BIOS E820 memory map manipulation.
 *
 * The VMM hides its own memory from the VM by removing it from the map that
 * int 15h AX=E820h returns (ACPI 6.x §15.1 "INT 15H, E820H - Query System
 * Address Map"; the 24-byte entry with extended attributes is the ACPI 3.0
 * layout).
 */
#ifndef LIB_E820_H
#define LIB_E820_H

#include <stdint.h>

struct e820_entry {
    uint64_t addr;
    uint64_t len;
    uint32_t type;
    uint32_t attr; /* ACPI 3.0 extended attributes */
} __attribute__((packed));
_Static_assert(sizeof(struct e820_entry) == 24, "e820 entry is 24 bytes");

#define E820_RAM      1
#define E820_RESERVED 2
#define E820_ACPI     3
#define E820_NVS      4
#define E820_UNUSABLE 5

/* Sorts map by addr (stable insertion sort) and drops zero-length entries.
 * Returns the new count. */
int e820_sort(struct e820_entry *map, int count);
/* Removes [base, base+len) from the map: entries overlapping it are clipped
 * or split in two, so that afterwards no entry overlaps the range (the range
 * is absent, not re-typed). The result is sorted. Returns the new count, or
 * -1 if a split would need more than max entries (map unchanged then). */
int e820_remove(struct e820_entry *map, int count, int max, uint64_t base, uint64_t len);
/* Returns the highest end address of an E820_RAM entry, clipped to limit
 * (an entry crossing limit counts as ending at limit); 0 if none. */
uint64_t e820_ram_top_below(const struct e820_entry *map, int count, uint64_t limit);
/* Returns the sum of the lengths of the entries of the given type. */
uint64_t e820_total(const struct e820_entry *map, int count, uint32_t type);
/* Returns the highest end address of any entry (0 for an empty map). */
uint64_t e820_max_addr(const struct e820_entry *map, int count);

#endif /* LIB_E820_H */
