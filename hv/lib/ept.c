/*
 * EPT builder and walker (see lib/ept.h). The builder is lib/pt's, in the
 * EPT format; the walker follows SDM Vol.3C §29.3.2 "EPT Translation
 * Mechanism".
 */
#include "lib/ept.h"
#include "hw/paging.h"

const struct pt_format pt_format_ept = {
    .present = EPT_RWX,
    .leaf_always = 0,
    /* §29.3.2: a non-leaf entry's R/W/X limit the whole subtree; the
     * permissions stay in the leaves. */
    .intermediate = EPT_RWX,
    .pat_large = false,
};

int ept_init(struct pt *pt, pt_alloc_fn alloc, void *ctx)
{
    int r = pt_init(pt, alloc, ctx);
    pt->fmt = &pt_format_ept;
    return r;
}

int ept_build_identity(struct pt *pt, const struct e820_entry *map, int count, uint64_t limit,
                       unsigned max_shift, uint64_t hole, uint64_t hole_size)
{
    if ((hole | hole_size) & (PAGE_SIZE - 1))
        return -1;
    if (limit && pt_map(pt, 0, 0, limit, EPT_LEAF_MMIO, max_shift))
        return -1;
    for (int i = 0; i < count; i++) {
        uint64_t lo = (map[i].addr + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
        uint64_t hi = (map[i].addr + map[i].len) & ~(PAGE_SIZE - 1);
        if (map[i].type != E820_RAM || hi <= lo)
            continue;
        if (pt_map(pt, lo, lo, hi - lo, EPT_LEAF_RAM, max_shift))
            return -1;
    }
    if (hole_size && pt_unmap(pt, hole, hole_size))
        return -1;
    return 0;
}

int ept_walk(uint64_t root, uint64_t gpa, pg_read_fn read, void *ctx, struct ept_walk *out)
{
    uint64_t table = root & PTE_ADDR_MASK, rwx = EPT_RWX;

    for (unsigned level = 4; level >= 1; level--) {
        unsigned shift = PAGE_SHIFT + 9 * (level - 1);
        uint64_t e;

        out->level = level;
        out->page_shift = shift;
        if (!read(ctx, table + ((gpa >> shift) & 0x1ff) * 8, 8, &e)) {
            out->pte = 0;
            return -1;
        }
        out->pte = e;
        if (!(e & EPT_RWX))
            return -1;
        rwx &= e & EPT_RWX;
        /* bit 7 makes a leaf in a PDPTE or PDE (§29.3.2, Tables 29-2, 29-4) */
        if (level == 1 || ((level == 2 || level == 3) && (e & EPT_LARGE))) {
            uint64_t mask = (1ull << shift) - 1;
            out->hpa = (e & PTE_ADDR_MASK & ~mask) | (gpa & mask);
            out->rwx = rwx;
            out->memtype = (unsigned)((e & EPT_MT_MASK) >> EPT_MT_SHIFT);
            return 0;
        }
        table = e & PTE_ADDR_MASK;
    }
    return -1;
}
