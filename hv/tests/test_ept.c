/* Unit tests for lib/ept.c: the EPT format through lib/pt's builder, the
 * VM's identity map without the VMM range, memory types, the walker. */
#include "check.h"
#include "hw/paging.h"
#include "hw/vmcs.h"
#include "lib/ept.h"
#include <stdlib.h>
#include <string.h>

#define MAX_PAGES 4096
#define KB(x)     ((uint64_t)(x) << 10)
#define MB(x)     ((uint64_t)(x) << 20)
#define GB(x)     ((uint64_t)(x) << 30)

struct pool {
    int limit, used;
    void *pages[MAX_PAGES];
};

static uint64_t pool_alloc(void *ctx)
{
    struct pool *p = ctx;
    if (p->used >= p->limit || p->used >= MAX_PAGES)
        return 0;
    void *page = aligned_alloc(4096, 4096);
    if (!page)
        return 0;
    memset(page, 0, 4096);
    p->pages[p->used++] = page;
    return (uint64_t)(uintptr_t)page;
}

static void pool_free(struct pool *p)
{
    for (int i = 0; i < p->used; i++)
        free(p->pages[i]);
    p->used = 0;
}

/* The tables are host memory: any address the walker asks for is one of
 * the pool's pages. A failing reader tests the error path. */
static bool host_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
    struct pool *p = ctx;
    for (int i = 0; i < p->used; i++) {
        uint64_t base = (uint64_t)(uintptr_t)p->pages[i];
        if (pa >= base && pa + size <= base + 4096) {
            *val = size == 8 ? *(const uint64_t *)(uintptr_t)pa : *(const uint32_t *)(uintptr_t)pa;
            return true;
        }
    }
    return false;
}

static bool fail_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
    (void)ctx, (void)pa, (void)size, (void)val;
    return false;
}

/* A PC: conventional memory, the legacy hole, RAM to 3 GiB with the VMM
 * range carved in its top, MMIO, RAM above 4 GiB. */
static const struct e820_entry pc_map[] = {
    {0, KB(639), E820_RAM, 1},
    {KB(639), KB(1), 2, 1},
    {MB(1), GB(3) - MB(1) - KB(8) - 0x100, E820_RAM, 1}, /* ends unaligned: rounded in */
    {GB(3) - KB(8), KB(8), 3, 1},
    {GB(4), GB(2), E820_RAM, 1},
};
#define HOLE      (GB(3) - MB(64))
#define HOLE_SIZE MB(32)

struct row {
    const char *what;
    uint64_t gpa;
    int ret;
    unsigned memtype; /* 0 UC, 6 WB */
};

static void test_identity(unsigned max_shift)
{
    static const struct row rows[] = {
        {"low RAM", 0x7c00, 0, 6},
        {"last full page of conventional RAM", KB(636) - 1, 0, 6},
        {"its partial last page: not RAM", KB(639) - 1, 0, 0},
        {"EBDA (reserved)", KB(639), 0, 0},
        {"VGA window", 0xb8000, 0, 0},
        {"BIOS ROM", 0xffff0, 0, 0},
        {"RAM at 1 MiB", MB(1), 0, 6},
        {"RAM just below the VMM range", HOLE - 8, 0, 6},
        {"first byte of the VMM range", HOLE, -1, 0},
        {"inside the VMM range", HOLE + MB(17) + 0x123, -1, 0},
        {"last byte of the VMM range", HOLE + HOLE_SIZE - 1, -1, 0},
        {"RAM just above the VMM range", HOLE + HOLE_SIZE, 0, 6},
        {"the last full page of RAM", GB(3) - KB(16), 0, 6},
        {"its partial last page: not RAM", GB(3) - KB(9), 0, 0},
        {"ACPI", GB(3) - KB(4), 0, 0},
        {"MMIO below 4 GiB", 0xfee00000, 0, 0},
        {"RAM above 4 GiB", GB(5) + 0x1000, 0, 6},
        {"past the end of RAM", GB(6), -1, 0},
    };
    struct pool *p = calloc(1, sizeof(*p));
    struct pt pt;
    p->limit = MAX_PAGES;
    CHECK(!ept_init(&pt, pool_alloc, p), "ept_init");
    CHECK(pt.fmt == &pt_format_ept, "EPT format");
    CHECK(!ept_build_identity(&pt, pc_map, (int)ARRAY_SIZE(pc_map), GB(4), max_shift, HOLE,
                              HOLE_SIZE),
          "build (max_shift %u)", max_shift);
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        struct ept_walk w;
        int r = ept_walk(pt.root, rows[i].gpa, host_read, p, &w);
        CHECK(r == rows[i].ret, "%s (%#llx, shift %u): walk %d, want %d", rows[i].what,
              (unsigned long long)rows[i].gpa, max_shift, r, rows[i].ret);
        if (r || rows[i].ret)
            continue;
        CHECK(w.hpa == rows[i].gpa, "%s: identity, got %#llx", rows[i].what,
              (unsigned long long)w.hpa);
        CHECK(w.rwx == EPT_RWX, "%s: RWX, got %#llx", rows[i].what, (unsigned long long)w.rwx);
        CHECK(w.memtype == rows[i].memtype, "%s: memory type %u, want %u", rows[i].what, w.memtype,
              rows[i].memtype);
        CHECK(w.page_shift <= max_shift, "%s: page shift %u > %u", rows[i].what, w.page_shift,
              max_shift);
        /* The walker agrees with the builder's own lookup. */
        uint64_t pa;
        unsigned sh;
        CHECK(!pt_lookup(&pt, rows[i].gpa, &pa, &sh) && pa == w.hpa && sh == w.page_shift,
              "%s: pt_lookup agrees", rows[i].what);
    }
    /* Every page of the VMM range, one by one. */
    int seen = 0;
    for (uint64_t a = HOLE; a < HOLE + HOLE_SIZE; a += 4096) {
        struct ept_walk w;
        seen += !ept_walk(pt.root, a, host_read, p, &w);
    }
    CHECK(seen == 0, "%d pages of the VMM range are mapped", seen);
    /* A large leaf has bit 7, a 4 KiB one does not; no leaf has bits of
     * the x86 format the EPT format does not define (bit 12 of a large
     * leaf is reserved there). */
    struct ept_walk w;
    CHECK(!ept_walk(pt.root, GB(4) + MB(2), host_read, p, &w), "walk high RAM");
    if (max_shift >= 21)
        CHECK((w.pte & EPT_LARGE) && !(w.pte & (1ull << 12)) && w.page_shift == max_shift,
              "large leaf %#llx", (unsigned long long)w.pte);
    unsigned below = max_shift < 21 ? max_shift : 21; /* the hole is 2 MiB aligned */
    CHECK(!ept_walk(pt.root, HOLE - 4096, host_read, p, &w) && w.page_shift == below &&
              !(w.pte & EPT_LARGE) == (below == 12),
          "the split below the hole: shift %u, entry %#llx", w.page_shift,
          (unsigned long long)w.pte);
    CHECK(!ept_walk(pt.root, GB(3) - KB(16), host_read, p, &w) && w.page_shift == 12 &&
              !(w.pte & EPT_LARGE),
          "a 4 KiB leaf has bit 7 clear: %#llx", (unsigned long long)w.pte);
    pool_free(p);
    free(p);
}

/* A split keeps the memory type, and the intermediate entries carry RWX
 * (an intermediate entry without R would make the subtree not present). */
static void test_split_keeps_type(void)
{
    struct pool *p = calloc(1, sizeof(*p));
    struct pt pt;
    struct ept_walk w;
    p->limit = 64;
    CHECK(!ept_init(&pt, pool_alloc, p), "init");
    CHECK(!pt_map(&pt, 0, 0, GB(1), EPT_LEAF_RAM, 30), "map 1G");
    CHECK(!ept_walk(pt.root, MB(5), host_read, p, &w) && w.page_shift == 30, "one 1G leaf");
    CHECK(!pt_map(&pt, MB(4), MB(4), KB(4), EPT_READ | EPT_MT_UC, 30), "a read-only UC page");
    CHECK(!ept_walk(pt.root, MB(4) + 8, host_read, p, &w) && w.rwx == EPT_READ && w.memtype == 0 &&
              w.page_shift == 12,
          "the page: R, UC, 4K (rwx %#llx mt %u shift %u)", (unsigned long long)w.rwx, w.memtype,
          w.page_shift);
    CHECK(!ept_walk(pt.root, MB(4) + KB(4), host_read, p, &w) && w.rwx == EPT_RWX &&
              w.memtype == 6 && w.page_shift == 12,
          "its neighbour keeps RWX WB");
    CHECK(!ept_walk(pt.root, MB(300), host_read, p, &w) && w.memtype == 6 && w.page_shift == 21,
          "the rest of the 1G split in 2M leaves keeps WB");
    const uint64_t *pml4 = (const uint64_t *)(uintptr_t)pt.root;
    CHECK((pml4[0] & 0xfff) == EPT_RWX, "intermediate entry flags %#llx",
          (unsigned long long)(pml4[0] & 0xfff));
    /* Unmapping in EPT: an entry with R/W/X clear is not present. */
    CHECK(!pt_unmap(&pt, MB(4), KB(4)), "unmap");
    CHECK(ept_walk(pt.root, MB(4), host_read, p, &w) == -1 && w.level == 1 && w.pte == 0,
          "unmapped page stops the walk at its PTE");
    CHECK(pt_lookup(&pt, MB(4), &(uint64_t){0}, 0) == -1, "pt_lookup agrees");
    /* An execute-only leaf is present for EPT (§29.3.2), not for x86. */
    CHECK(!pt_map(&pt, MB(8), MB(8), KB(4), EPT_EXEC | EPT_MT_WB, 12), "execute-only");
    CHECK(!ept_walk(pt.root, MB(8), host_read, p, &w) && w.rwx == EPT_EXEC, "X only");
    CHECK(ept_walk(pt.root, MB(8), fail_read, p, &w) == -1 && w.pte == 0 && w.level == 4,
          "a failed read stops at the root");
    pool_free(p);
    free(p);
}

static void test_bad_args(void)
{
    struct pool *p = calloc(1, sizeof(*p));
    struct pt pt;
    p->limit = 2;
    CHECK(!ept_init(&pt, pool_alloc, p), "init");
    CHECK(ept_build_identity(&pt, pc_map, (int)ARRAY_SIZE(pc_map), GB(4), 21, HOLE + 1,
                             HOLE_SIZE) == -1,
          "an unaligned hole is refused");
    CHECK(ept_build_identity(&pt, pc_map, (int)ARRAY_SIZE(pc_map), GB(4), 12, HOLE, HOLE_SIZE) ==
              -1,
          "out of memory is reported");
    pool_free(p);
    free(p);
}

/* The x86 format is unchanged by the format parameter (pt's own tests
 * cover it; here: a table built with fmt 0 has P|W|U intermediates). */
static void test_x86_default(void)
{
    struct pool *p = calloc(1, sizeof(*p));
    struct pt pt;
    p->limit = 8;
    CHECK(!pt_init(&pt, pool_alloc, p) && pt.fmt == 0, "x86 by default");
    CHECK(!pt_map(&pt, MB(2), MB(2), KB(4), PTE_W, 30), "map");
    const uint64_t *pml4 = (const uint64_t *)(uintptr_t)pt.root;
    CHECK((pml4[0] & 0xfff) == (PTE_P | PTE_W | PTE_U), "x86 intermediate");
    uint64_t pa;
    CHECK(!pt_lookup(&pt, MB(2), &pa, 0) && pa == MB(2), "lookup");
    pool_free(p);
    free(p);
}

int main(void)
{
    test_identity(30);
    test_identity(21);
    test_identity(12);
    test_split_keeps_type();
    test_bad_args();
    test_x86_default();
    return check_report();
}
