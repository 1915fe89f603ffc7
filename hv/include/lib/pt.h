/*
 * Builder for x86-64 4-level page tables.
 *
 * Used for both the VMM's own identity map (AMD APM Vol.2 §5.3 long-mode
 * page translation) and the nested page tables (§15.25 "Nested Paging"),
 * whose entries have the same format.
 *
 * Everything is identity: a table's physical address equals its pointer
 * value. On the host the tests use aligned_alloc'd pages, whose addresses
 * fit in 52 bits.
 */
#ifndef LIB_PT_H
#define LIB_PT_H

#include <stdint.h>

/* Returns a zeroed, 4 KiB-aligned page, or 0 when out of memory. */
typedef uint64_t (*pt_alloc_fn)(void *ctx);

struct pt {
    uint64_t root; /* physical address of the PML4 */
    pt_alloc_fn alloc;
    void *alloc_ctx;
};

/* Allocates the root (PML4). Returns 0, or -1 if alloc fails. */
int pt_init(struct pt *pt, pt_alloc_fn alloc, void *ctx);
/* Maps [va, va+size) to [pa, ...) with leaf flags `flags` (PTE_P|PTE_W|...;
 * intermediate entries get P|W|U). Uses the largest page allowed (1 GiB if
 * max_shift >= 30, 2 MiB if >= 21, else 4 KiB) where va, pa and the
 * remaining size are aligned. Existing larger leaves that are partly
 * covered are split first (keeping their mapping and flags). va, pa and
 * size must be 4 KiB aligned and va + size <= 2^48 (identity and nested
 * ranges: the high canonical half is not handled). A sub-table replaced
 * by a larger leaf is dropped, not freed (there is no free callback).
 * flags must not contain address bits; PS is ignored (set as needed).
 * Returns 0, or -1 (bad arguments / out of memory; what was mapped before
 * the failure stays mapped). */
int pt_map(struct pt *pt, uint64_t va, uint64_t pa, uint64_t size, uint64_t flags,
           unsigned max_shift);
/* Makes [va, va+size) not present, splitting large leaves that are only
 * partly covered. Tables left empty are not freed. va and size must be
 * 4 KiB aligned. Returns 0, or -1 (bad alignment / out of memory). */
int pt_unmap(struct pt *pt, uint64_t va, uint64_t size);
/* Looks up va. Returns 0 and sets *pa (and *leaf_shift = 12/21/30 if
 * non-NULL) if mapped, -1 if not. */
int pt_lookup(const struct pt *pt, uint64_t va, uint64_t *pa, unsigned *leaf_shift);

#endif /* LIB_PT_H */
