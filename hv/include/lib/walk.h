/*
 * Guest page-table walker: guest-virtual -> guest-physical.
 *
 * Covers every x86 paging mode (AMD APM Vol.2 §5.1-5.3; Intel SDM Vol.3A
 * ch.4): legacy 2-level 32-bit paging with CR4.PSE 4 MiB pages (PSE-36
 * high address bits ignored), PAE 3-level with 2 MiB pages, 4-level long
 * mode with 2 MiB / 1 GiB pages, and 5-level long mode (CR4.LA57, SDM
 * Vol.3A §4.5; APM Vol.2 §5.3.4 "5-Level Paging"). Presence stops a walk;
 * the access rights of the whole path are reported (user, writable, nx)
 * for the caller to check; reserved bits and A/D updates are the caller's
 * business.
 */
#ifndef LIB_WALK_H
#define LIB_WALK_H

#include <stdbool.h>
#include <stdint.h>

enum pg_mode { PG_MODE_NONE, PG_MODE_32, PG_MODE_PAE, PG_MODE_LONG, PG_MODE_LONG5 };

/* Reads `size` (4 or 8) bytes of guest-physical memory at pa into *val
 * (zero-extended). Returns false if pa is not readable. */
typedef bool (*pg_read_fn)(void *ctx, uint64_t pa, unsigned size, uint64_t *val);

/* Returns the paging mode given by the control registers: CR0.PG clear ->
 * NONE; EFER.LMA -> LONG5 with CR4.LA57, else LONG; CR4.PAE -> PAE; else
 * 32 (APM Vol.2 §5.1). */
enum pg_mode pg_mode_of(uint64_t cr0, uint64_t cr4, uint64_t efer);

struct pg_walk {
    uint64_t pa;         /* translated guest-physical address */
    uint64_t pte;        /* the leaf entry (or the failing one) */
    unsigned level;      /* level of that entry: 1 = PTE ... 4 = PML4E,
                          * 5 = PML5E; 0 when paging is off */
    unsigned page_shift; /* 12, 21, 22 (4 MiB) or 30 */
    /* The rights of the whole path (APM Vol.2 §5.6): U and R/W set at every
     * level, NX at some level (meaningful with EFER.NXE). PAE PDPTEs carry
     * none of these bits. */
    bool user, writable, nx;
};

/* Translates va. PG_MODE_NONE: pa = va. `pse` is CR4.PSE (only used in
 * PG_MODE_32). Returns 0 on success, -1 if an entry on the path is not
 * present or a read fails (out->level / out->pte then name that entry; a
 * failed read leaves out->pte 0). */
int pg_walk(enum pg_mode mode, uint64_t cr3, uint64_t va, bool pse, pg_read_fn read, void *ctx,
            struct pg_walk *out);

#endif /* LIB_WALK_H */
