/*
 * Page allocator for the VMM area: a bump allocator over one contiguous
 * range. setup creates it; vmm inherits its state. Pages are never freed:
 * everything allocated lives as long as the VMM.
 */
#ifndef COMMON_PALLOC_H
#define COMMON_PALLOC_H

#include <stdint.h>

#include "common/spinlock.h"

struct palloc {
    uint64_t next;        /* first free byte, 4 KiB aligned */
    uint64_t end;         /* end of the pool */
    struct spinlock lock; /* the cores allocate too (nested pages on demand) */
};

void palloc_init(struct palloc *pa, uint64_t start, uint64_t end);
/* Returns the address of `count` zeroed, contiguous, 4 KiB-aligned pages, or
 * 0 if the pool is exhausted. */
uint64_t palloc_pages(struct palloc *pa, uint64_t count);
/* pt_alloc_fn-compatible: one zeroed page from the palloc in ctx. */
uint64_t palloc_page_cb(void *ctx);

#endif
