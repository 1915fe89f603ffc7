/*
 * Guest page-table walker (see lib/walk.h).
 */
#include "lib/walk.h"
#include "hw/paging.h"

#define CR0_PG   (1ULL << 31) /* APM Vol.2 §3.1.1 */
#define CR4_PAE  (1ULL << 5)  /* APM Vol.2 §3.1.3 */
#define CR4_LA57 (1ULL << 12)
#define EFER_LMA (1ULL << 10) /* APM Vol.2 §3.1.7 */

/* CR3 table base: bits [31:12] in legacy mode, [31:5] with PAE (the PDPT
 * is 32-byte aligned), [51:12] in long mode (APM Vol.2 §3.1.2). */
#define CR3_LEGACY_MASK 0xfffff000ULL
#define CR3_PAE_MASK    0xffffffe0ULL

/* Returns the guest paging mode (APM Vol.2 §5.1 table 5-1). */
enum pg_mode pg_mode_of(uint64_t cr0, uint64_t cr4, uint64_t efer)
{
    if (!(cr0 & CR0_PG))
        return PG_MODE_NONE;
    if (efer & EFER_LMA)
        return (cr4 & CR4_LA57) ? PG_MODE_LONG5 : PG_MODE_LONG;
    if (cr4 & CR4_PAE)
        return PG_MODE_PAE;
    return PG_MODE_32;
}

static void rights(struct pg_walk *out, uint64_t e)
{
    out->user = out->user && (e & PTE_U);
    out->writable = out->writable && (e & PTE_W);
    out->nx = out->nx || (e & PTE_NX);
}

/* Returns 0 and fills out for a 32-bit non-PAE walk (APM Vol.2 §5.2:
 * 10-bit PDE index, 10-bit PTE index, 4-byte entries; a PDE with PS=1
 * and CR4.PSE=1 maps a 4 MiB page). */
static int pg_walk_32(uint64_t cr3, uint32_t va, bool pse, pg_read_fn read, void *ctx,
                      struct pg_walk *out)
{
    uint64_t pde, pte;

    out->level = 2;
    if (!read(ctx, (cr3 & CR3_LEGACY_MASK) + ((va >> 22) & 0x3ff) * 4, 4, &pde))
        return -1;
    pde &= 0xffffffffULL;
    out->pte = pde;
    if (!(pde & PTE_P))
        return -1;
    rights(out, pde);
    if (pse && (pde & PTE_PS)) {
        out->pa = (pde & PTE32_ADDR_4M_MASK) | (va & 0x3fffff);
        out->page_shift = 22;
        return 0;
    }
    out->level = 1;
    out->pte = 0;
    if (!read(ctx, (pde & PTE32_ADDR_MASK) + ((va >> 12) & 0x3ff) * 4, 4, &pte))
        return -1;
    pte &= 0xffffffffULL;
    out->pte = pte;
    if (!(pte & PTE_P))
        return -1;
    rights(out, pte);
    out->pa = (pte & PTE32_ADDR_MASK) | (va & 0xfff);
    out->page_shift = 12;
    return 0;
}

/* Returns 0 and fills out for a PAE or long-mode walk: 8-byte entries,
 * 9 index bits per level, starting at `top` (3 for PAE's 4-entry PDPT
 * indexed by va[31:30], 4 for the PML4, 5 for the PML5). PS is honoured at
 * the PD (2 MiB) level, and at the PDPT (1 GiB) level in long mode only:
 * PAE PDPTEs have no PS bit, and no R/W, U/S or NX either (APM Vol.2
 * §5.3.3, §5.4). */
static int pg_walk_64(uint64_t table, unsigned top, uint64_t va, pg_read_fn read, void *ctx,
                      struct pg_walk *out)
{
    bool pae = top == 3;
    for (unsigned level = top; level >= 1; level--) {
        unsigned shift = PAGE_SHIFT + 9 * (level - 1);
        uint64_t idx = (va >> shift) & (level == top && pae ? 0x3 : 0x1ff);
        uint64_t e;
        bool leaf;

        out->level = level;
        out->pte = 0;
        if (!read(ctx, table + idx * 8, 8, &e))
            return -1;
        out->pte = e;
        if (!(e & PTE_P))
            return -1;
        if (!(pae && level == 3))
            rights(out, e);
        leaf = level == 1 || (level == 2 && (e & PTE_PS)) || (level == 3 && !pae && (e & PTE_PS));
        if (leaf) {
            uint64_t mask = (1ULL << shift) - 1;

            out->pa = ((e & PTE_ADDR_MASK) & ~mask) | (va & mask);
            out->page_shift = shift;
            return 0;
        }
        table = e & PTE_ADDR_MASK;
    }
    return -1;
}

/* Returns 0 with out->pa = translation of va, -1 on a not-present entry
 * or a failed read. */
int pg_walk(enum pg_mode mode, uint64_t cr3, uint64_t va, bool pse, pg_read_fn read, void *ctx,
            struct pg_walk *out)
{
    out->pa = 0;
    out->pte = 0;
    out->level = 0;
    out->page_shift = 12;
    out->user = out->writable = true;
    out->nx = false;

    switch (mode) {
    case PG_MODE_NONE:
        out->pa = va;
        return 0;
    case PG_MODE_32:
        return pg_walk_32(cr3, (uint32_t)va, pse, read, ctx, out);
    case PG_MODE_PAE:
        return pg_walk_64(cr3 & CR3_PAE_MASK, 3, (uint32_t)va, read, ctx, out);
    case PG_MODE_LONG:
        return pg_walk_64(cr3 & PTE_ADDR_MASK, 4, va, read, ctx, out);
    case PG_MODE_LONG5:
        return pg_walk_64(cr3 & PTE_ADDR_MASK, 5, va, read, ctx, out);
    }
    return -1;
}
