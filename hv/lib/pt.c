/*
 * 4-level page-table builder (see lib/pt.h).
 *
 * Levels are numbered as in the APM: 4 = PML4, 3 = PDPT, 2 = PD, 1 = PT.
 * A level-L entry covers 1 << (12 + 9 * (L - 1)) bytes; it is a leaf when
 * L == 1 or when PS is set at L == 2 (2 MiB) or L == 3 (1 GiB)
 * (AMD APM Vol.2 §5.3.3-5.3.4).
 */
#include "lib/pt.h"
#include "hw/paging.h"
#include <stdbool.h>
#include <stddef.h>

const struct pt_format pt_format_x86 = {
    .present = PTE_P,
    .leaf_always = PTE_P,
    .intermediate = PTE_P | PTE_W | PTE_U,
    .pat_large = true,
};

static const struct pt_format *pt_fmt(const struct pt *pt)
{
    return pt->fmt ? pt->fmt : &pt_format_x86;
}

static bool pt_present(const struct pt *pt, uint64_t e) { return (e & pt_fmt(pt)->present) != 0; }

static unsigned pt_shift(unsigned level) { return PAGE_SHIFT + 9 * (level - 1); }

static uint64_t *pt_table(uint64_t phys) { return (uint64_t *)(uintptr_t)(phys & PTE_ADDR_MASK); }

/* Returns the mask of the frame address bits of a leaf at level. */
static uint64_t pt_leaf_addr_mask(unsigned level)
{
    if (level == 3)
        return PTE_ADDR_1G_MASK;
    if (level == 2)
        return PTE_ADDR_2M_MASK;
    return PTE_ADDR_MASK;
}

static bool pt_is_leaf(uint64_t pte, unsigned level) { return level == 1 || (pte & PTE_PS); }

/* Returns 0 after making *entry (level > 1) point to a table: allocates
 * an empty one if not present, or splits a large leaf into 512 smaller
 * leaves with the same mapping and flags (x86: PAT moves from bit 12 to
 * bit 7 when the children are 4 KiB PTEs). Returns -1 if alloc fails. */
static int pt_make_table(struct pt *pt, uint64_t *entry, unsigned level)
{
    uint64_t e = *entry, page;
    uint64_t *child;
    bool pat = pt_fmt(pt)->pat_large;

    if (pt_present(pt, e) && !(e & PTE_PS))
        return 0;
    page = pt->alloc(pt->alloc_ctx);
    if (!page)
        return -1;
    child = pt_table(page);
    if (pt_present(pt, e)) {
        uint64_t base = e & pt_leaf_addr_mask(level);
        uint64_t flags = e & ~pt_leaf_addr_mask(level) & ~(pat ? PTE_PAT_LARGE : 0);
        uint64_t step = 1ULL << pt_shift(level - 1);

        if (level - 1 == 1) {
            /* 4 KiB PTE: bit 7 is PAT, not PS */
            flags &= ~PTE_PS;
            if (pat && (e & PTE_PAT_LARGE))
                flags |= PTE_PS;
        } else if (pat && (e & PTE_PAT_LARGE)) {
            flags |= PTE_PAT_LARGE;
        }
        for (unsigned i = 0; i < PT_ENTRIES; i++)
            child[i] = (base + i * step) | flags;
    }
    /* permissions stay in the leaves; the children of a split carry the
	 * old leaf's flags, so a permissive intermediate changes nothing */
    *entry = page | pt_fmt(pt)->intermediate;
    return 0;
}

/* Returns 0 after mapping [va, va+size) inside the table at `level`
 * (the table covering va's region); -1 on allocation failure.
 * If map is false, the range is made not present instead (pa, flags
 * and max_shift unused). */
static int pt_range(struct pt *pt, uint64_t *table, unsigned level, uint64_t va, uint64_t pa,
                    uint64_t size, uint64_t flags, unsigned max_shift, bool map)
{
    unsigned shift = pt_shift(level);
    uint64_t span = 1ULL << shift;

    while (size) {
        uint64_t *entry = &table[(va >> shift) & 0x1ff];
        uint64_t off = va & (span - 1);
        uint64_t chunk = span - off;

        if (chunk > size)
            chunk = size;

        if (off == 0 && chunk == span &&
            (level == 1 || (!map) ||
             (level <= 3 && max_shift >= shift && (pa & (span - 1)) == 0))) {
            /* the whole entry is covered: write a leaf (or clear).
			 * An old sub-table is simply dropped (not freed). */
            if (!map)
                *entry = 0;
            else
                *entry = pa | flags | (level > 1 ? PTE_PS : 0);
        } else if (!map && !pt_present(pt, *entry)) {
            /* nothing mapped here: nothing to unmap */
        } else {
            if (pt_make_table(pt, entry, level) < 0)
                return -1;
            if (pt_range(pt, pt_table(*entry), level - 1, va, pa, chunk, flags, max_shift, map) < 0)
                return -1;
        }
        va += chunk;
        pa += chunk;
        size -= chunk;
    }
    return 0;
}

/* Returns 0 with pt->root set to a fresh PML4, -1 if alloc fails. */
int pt_init(struct pt *pt, pt_alloc_fn alloc, void *ctx)
{
    pt->alloc = alloc;
    pt->alloc_ctx = ctx;
    pt->fmt = 0;
    pt->root = alloc(ctx);
    return pt->root ? 0 : -1;
}

static bool pt_args_ok(uint64_t va, uint64_t size)
{
    /* 48-bit canonical space split is not modelled: callers map
	 * identity ranges below 2^48. */
    return !(va & (PAGE_SIZE - 1)) && !(size & (PAGE_SIZE - 1)) && va + size >= va &&
           va + size <= (1ULL << 48);
}

/* Returns 0 once [va, va+size) maps to [pa, ...); -1 on bad alignment or
 * out of memory. */
int pt_map(struct pt *pt, uint64_t va, uint64_t pa, uint64_t size, uint64_t flags,
           unsigned max_shift)
{
    if (!pt_args_ok(va, size) || (pa & (PAGE_SIZE - 1)) || pa + size < pa ||
        (flags & PTE_ADDR_MASK))
        return -1;
    flags &= ~PTE_PS;
    return pt_range(pt, pt_table(pt->root), 4, va, pa, size, flags | pt_fmt(pt)->leaf_always,
                    max_shift, true);
}

/* Returns 0 once [va, va+size) is not present; -1 on bad alignment or
 * out of memory (splitting a large leaf needs a page). */
int pt_unmap(struct pt *pt, uint64_t va, uint64_t size)
{
    if (!pt_args_ok(va, size))
        return -1;
    return pt_range(pt, pt_table(pt->root), 4, va, 0, size, 0, 0, false);
}

/* Returns 0 and the translation of va, or -1 if not mapped. */
int pt_lookup(const struct pt *pt, uint64_t va, uint64_t *pa, unsigned *leaf_shift)
{
    const uint64_t *table = pt_table(pt->root);

    for (unsigned level = 4; level >= 1; level--) {
        unsigned shift = pt_shift(level);
        uint64_t e = table[(va >> shift) & 0x1ff];

        if (!pt_present(pt, e))
            return -1;
        if (pt_is_leaf(e, level)) {
            uint64_t mask = (1ULL << shift) - 1;

            *pa = (e & pt_leaf_addr_mask(level)) + (va & mask);
            if (leaf_shift)
                *leaf_shift = shift;
            return 0;
        }
        table = pt_table(e);
    }
    return -1;
}
