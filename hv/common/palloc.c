#include "common/palloc.h"
#include "lib/mem.h"

#define PAGE_SIZE 4096ull

void palloc_init(struct palloc *pa, uint64_t start, uint64_t end)
{
    pa->next = (start + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    pa->end = end & ~(PAGE_SIZE - 1);
    pa->lock.locked = 0;
}

uint64_t palloc_pages(struct palloc *pa, uint64_t count)
{
    uint64_t size = count * PAGE_SIZE;
    spin_lock(&pa->lock);
    if (!count || pa->next >= pa->end || size > pa->end - pa->next) {
        spin_unlock(&pa->lock);
        return 0;
    }
    uint64_t p = pa->next;
    pa->next += size;
    spin_unlock(&pa->lock);
    lib_memset((void *)(uintptr_t)p, 0, (size_t)size);
    return p;
}

uint64_t palloc_page_cb(void *ctx) { return palloc_pages((struct palloc *)ctx, 1); }
