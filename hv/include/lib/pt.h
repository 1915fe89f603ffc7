/*
 * Builder for x86-64 4-level page tables.
 *
 * Used for the VMM's own identity map (AMD APM Vol.2 §5.3 long-mode page
 * translation), the nested page tables (§15.25 "Nested Paging"), whose
 * entries have the same format, and Intel's EPT (SDM Vol.3C §29.3.2:
 * the same 4-level tree and large-page bit, other permission bits; see
 * lib/ept.h), told apart by struct pt_format.
 *
 * Everything is identity: a table's physical address equals its pointer
 * value. On the host the tests use aligned_alloc'd pages, whose addresses
 * fit in 52 bits.
 */
#ifndef LIB_PT_H
#define LIB_PT_H

#include <stdbool.h>
#include <stdint.h>

/* What differs between the entry formats the builder writes. */
struct pt_format {
    uint64_t present;      /* an entry is present if any of these bits is set */
    uint64_t leaf_always;  /* bits every leaf gets (x86: P) */
    uint64_t intermediate; /* the flags of an entry that points to a table */
    bool pat_large;        /* x86: PAT is bit 12 in a large leaf, bit 7 in a 4 KiB PTE */
};

/* x86 paging: P, and P|W|U above the leaves. */
extern const struct pt_format pt_format_x86;

/* Returns a zeroed, 4 KiB-aligned page, or 0 when out of memory. */
typedef uint64_t (*pt_alloc_fn)(void *ctx);

struct pt {
    uint64_t root; /* physical address of the PML4 */
    pt_alloc_fn alloc;
    void *alloc_ctx;
    const struct pt_format *fmt; /* 0: pt_format_x86 */
};

/* Allocates the root (PML4) of an x86 table (fmt 0). Returns 0, or -1 if
 * alloc fails. */
int pt_init(struct pt *pt, pt_alloc_fn alloc, void *ctx);
/* Maps [va, va+size) to [pa, ...) with leaf flags `flags` (PTE_P|PTE_W|...;
 * intermediate entries get P|W|U). Uses the largest page allowed (1 GiB if
 * max_shift >= 30, 2 MiB if >= 21, else 4 KiB) where va, pa and the
 * remaining size are aligned (the format's leaf_always bits are added). Existing larger leaves that are partly
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
