/*
 * Intel EPT (SDM Vol.3C §29.3 "The Extended Page Table Mechanism"): the
 * VM's guest-physical memory as an identity map without the VMM's range,
 * built with lib/pt's builder in the EPT entry format, and a walker.
 *
 * The tree is the 4-level one of long-mode paging (PML4, PDPT, PD, PT;
 * bit 7 makes a 1 GiB or 2 MiB leaf), but an entry is present when any of
 * R, W, X (bits 2:0) is set, and a leaf carries its memory type (bits
 * 5:3), which replaces the MTRRs' type for the VM (§29.3.7.2). The entry
 * layout is drawn in hw/vmcs.h.
 */
#ifndef LIB_EPT_H
#define LIB_EPT_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/vmcs.h"
#include "lib/e820.h"
#include "lib/pt.h"
#include "lib/walk.h"

/* The EPT entry format for lib/pt: RWX above the leaves, no PAT bit. */
extern const struct pt_format pt_format_ept;

/* Leaf flags: RAM is write-back; anything else (MMIO, firmware, holes) is
 * uncacheable, as the firmware's MTRRs make it on a PC. The VM's PAT still
 * combines with them (ignore-PAT is clear: §29.3.7.2). */
#define EPT_LEAF_RAM  (EPT_RWX | EPT_MT_WB)
#define EPT_LEAF_MMIO (EPT_RWX | EPT_MT_UC)

/* Allocates the root (PML4) of an EPT tree. Returns 0, or -1 if alloc fails. */
int ept_init(struct pt *pt, pt_alloc_fn alloc, void *ctx);

/*
 * Builds the VM's identity map into pt (from ept_init): [0, limit) as
 * MMIO, then every E820 RAM range (rounded inwards to 4 KiB, also above
 * limit) as RAM, then [hole, hole + hole_size) -- the VMM's range -- not
 * present. Pages up to 1 << max_shift. Returns 0, or -1 if out of memory
 * or hole is not 4 KiB aligned.
 */
int ept_build_identity(struct pt *pt, const struct e820_entry *map, int count, uint64_t limit,
                       unsigned max_shift, uint64_t hole, uint64_t hole_size);

struct ept_walk {
    uint64_t hpa;        /* the host-physical address */
    uint64_t pte;        /* the leaf (or the entry that stopped the walk: 0 if a read failed) */
    unsigned level;      /* of that entry: 1 = PTE ... 4 = PML4E */
    unsigned page_shift; /* 12, 21 or 30 */
    uint64_t rwx;        /* EPT_READ/WRITE/EXEC allowed by every level of the path */
    unsigned memtype;    /* the leaf's memory type (0 UC, 6 WB ...) */
};

/* Translates gpa through the tree at root (the EPT pointer's address
 * bits), reading entries with read(ctx, ...). Returns 0, or -1 if an
 * entry on the path is not present or a read fails. */
int ept_walk(uint64_t root, uint64_t gpa, pg_read_fn read, void *ctx, struct ept_walk *out);

#endif /* LIB_EPT_H */
