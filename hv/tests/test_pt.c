/* Unit tests for lib/pt.c: page sizes chosen, splits, lookups, OOM. */
#include "check.h"
#include "hw/paging.h"
#include "lib/pt.h"
#include <stdlib.h>
#include <string.h>

#define MAX_PAGES 4096
#define KB(x)     ((uint64_t)(x) << 10)
#define MB(x)     ((uint64_t)(x) << 20)
#define GB(x)     ((uint64_t)(x) << 30)
#define RW        (PTE_P | PTE_W)

/* Host page allocator: at most `limit` pages, all freed by pool_free. */
struct pool {
    int limit;
    int used;
    void *pages[MAX_PAGES];
};

static uint64_t pool_alloc(void *ctx)
{
    struct pool *p = ctx;
    void *page;

    if (p->used >= p->limit || p->used >= MAX_PAGES)
        return 0;
    page = aligned_alloc(4096, 4096);
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

static struct pool *pool_new(int limit)
{
    struct pool *p = calloc(1, sizeof(*p));

    p->limit = limit;
    return p;
}

struct probe {
    uint64_t va;
    int ret;
    uint64_t pa;
    unsigned shift;
};

static void check_probes(const struct pt *pt, const char *what, const struct probe *pr, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t pa = 0;
        unsigned shift = 0;
        int ret = pt_lookup(pt, pr[i].va, &pa, &shift);

        CHECK(ret == pr[i].ret && (ret < 0 || (pa == pr[i].pa && shift == pr[i].shift)),
              "%s: lookup %#llx -> ret %d pa %#llx shift %u, want %d %#llx %u", what,
              (unsigned long long)pr[i].va, ret, (unsigned long long)pa, shift, pr[i].ret,
              (unsigned long long)pr[i].pa, pr[i].shift);
    }
}

/* Returns the leaf entry mapping va (0 if none), for flag checks. */
static uint64_t leaf_of(const struct pt *pt, uint64_t va)
{
    const uint64_t *t = (const uint64_t *)(uintptr_t)pt->root;

    for (unsigned level = 4; level >= 1; level--) {
        uint64_t e = t[PT_INDEX(va, level)];

        if (!(e & PTE_P))
            return 0;
        if (level == 1 || (e & PTE_PS))
            return e;
        t = (const uint64_t *)(uintptr_t)(e & PTE_ADDR_MASK);
    }
    return 0;
}

static void test_page_size_choice(void)
{
    static const struct {
        const char *name;
        uint64_t va, pa, size;
        unsigned max_shift;
        int pages; /* tables allocated, root excluded */
        struct probe probes[4];
    } rows[] = {
        {"1G aligned",
         GB(1),
         GB(5),
         GB(2),
         30,
         1,
         {{GB(1), 0, GB(5), 30},
          {GB(3) - 8, 0, GB(7) - 8, 30},
          {GB(3), -1, 0, 0},
          {GB(1) - 4096, -1, 0, 0}}},
        {"1G capped at 2M",
         0,
         0,
         GB(1),
         21,
         2,
         {{0, 0, 0, 21}, {GB(1) - 1, 0, GB(1) - 1, 21}, {GB(1), -1, 0, 0}, {MB(3), 0, MB(3), 21}}},
        {"1G capped at 4K",
         0,
         0,
         MB(4),
         12,
         4,
         {{0, 0, 0, 12},
          {MB(4) - 1, 0, MB(4) - 1, 12},
          {MB(4), -1, 0, 0},
          {MB(2) + 0x1234, 0, MB(2) + 0x1234, 12}}},
        {"pa misaligned for 2M",
         MB(2),
         MB(2) + KB(4),
         MB(2),
         30,
         3,
         {{MB(2), 0, MB(2) + KB(4), 12},
          {MB(4) - 1, 0, MB(4) + KB(4) - 1, 12},
          {MB(4), -1, 0, 0},
          {0, -1, 0, 0}}},
        {"4K head, 2M body, 4K tail",
         MB(2) - KB(8),
         MB(2) - KB(8),
         MB(2) + KB(16),
         30,
         4,
         {{MB(2) - KB(8), 0, MB(2) - KB(8), 12},
          {MB(2), 0, MB(2), 21},
          {MB(4), 0, MB(4), 12},
          {MB(4) + KB(8), -1, 0, 0}}},
        {"2M head, 1G body",
         GB(1) - MB(2),
         GB(1) - MB(2),
         GB(1) + MB(2),
         30,
         2,
         {{GB(1) - MB(2), 0, GB(1) - MB(2), 21},
          {GB(1), 0, GB(1), 30},
          {GB(2) - 1, 0, GB(2) - 1, 30},
          {GB(2), -1, 0, 0}}},
        {"high canonical half below 2^48",
         GB(511 * 512),
         GB(3),
         GB(1),
         30,
         1,
         {{GB(511 * 512) + 5, 0, GB(3) + 5, 30},
          {0, -1, 0, 0},
          {GB(511 * 512) - 1, -1, 0, 0},
          {GB(511 * 512 + 1), -1, 0, 0}}},
    };

    for (size_t r = 0; r < ARRAY_SIZE(rows); r++) {
        struct pool *pool = pool_new(MAX_PAGES);
        struct pt pt;

        CHECK(pt_init(&pt, pool_alloc, pool) == 0, "init");
        CHECK(pt_map(&pt, rows[r].va, rows[r].pa, rows[r].size, RW, rows[r].max_shift) == 0,
              "%s: map", rows[r].name);
        CHECK(pool->used - 1 == rows[r].pages, "%s: %d tables, want %d", rows[r].name,
              pool->used - 1, rows[r].pages);
        check_probes(&pt, rows[r].name, rows[r].probes, ARRAY_SIZE(rows[r].probes));
        pool_free(pool);
        free(pool);
    }
}

static void test_split(void)
{
    struct pool *pool = pool_new(MAX_PAGES);
    struct pt pt;
    uint64_t flags = PTE_P | PTE_W | PTE_U | PTE_NX | PTE_PCD;
    static const struct probe before[] = {
        {0, 0, GB(4), 30},
        {MB(5) + 3, 0, GB(4) + MB(5) + 3, 30},
    };
    static const struct probe after_unmap[] = {
        {0, 0, GB(4), 21}, /* 1G -> 2M leaves */
        {MB(4) - 1, 0, GB(4) + MB(4) - 1, 21},
        {MB(4), 0, GB(4) + MB(4), 12}, /* 2M -> 4K leaves */
        {MB(5) - 1, 0, GB(4) + MB(5) - 1, 12},
        {MB(5), -1, 0, 0}, /* the hole */
        {MB(5) + KB(12) - 1, -1, 0, 0},
        {MB(5) + KB(12), 0, GB(4) + MB(5) + KB(12), 12},
        {MB(6), 0, GB(4) + MB(6), 21},
        {GB(1) - 1, 0, GB(5) - 1, 21},
        {GB(1), -1, 0, 0},
    };
    static const struct probe after_remap[] = {
        {MB(5), 0, MB(100), 12}, /* remapped elsewhere */
        {MB(5) + KB(4), 0, MB(100) + KB(4), 12},
        {MB(5) + KB(8), 0, MB(100) + KB(8), 12},
        {MB(5) + KB(12), 0, GB(4) + MB(5) + KB(12), 12},
        {MB(8), 0, MB(200), 21}, /* map over a 2M leaf */
        {MB(10), 0, GB(4) + MB(10), 21},
    };

    CHECK(pt_init(&pt, pool_alloc, pool) == 0, "init");
    CHECK(pt_map(&pt, 0, GB(4), GB(1), flags, 30) == 0, "map 1G");
    check_probes(&pt, "split/before", before, ARRAY_SIZE(before));
    CHECK(pt_unmap(&pt, MB(5), KB(12)) == 0, "unmap 12K inside 1G");
    CHECK(pool->used == 4, "split allocs PDPT, PD, PT (used %d)", pool->used);
    check_probes(&pt, "split/unmap", after_unmap, ARRAY_SIZE(after_unmap));
    CHECK(leaf_of(&pt, MB(4)) == ((GB(4) + MB(4)) | flags),
          "4K leaf from a split keeps flags (%#llx)", (unsigned long long)leaf_of(&pt, MB(4)));
    CHECK(leaf_of(&pt, MB(2)) == ((GB(4) + MB(2)) | flags | PTE_PS),
          "2M leaf from a split keeps flags");
    CHECK(pt_map(&pt, MB(5), MB(100), KB(12), RW, 30) == 0, "remap hole");
    CHECK(pt_map(&pt, MB(8), MB(200), MB(2), RW, 30) == 0, "replace 2M");
    check_probes(&pt, "split/remap", after_remap, ARRAY_SIZE(after_remap));
    CHECK(leaf_of(&pt, MB(5)) == (MB(100) | RW), "remapped leaf flags");

    /* Partly mapping over a large leaf splits it, keeping the rest. */
    CHECK(pt_map(&pt, MB(12) + KB(4), 0, KB(4), PTE_P, 12) == 0, "map 4K into a 2M leaf");
    {
        static const struct probe p[] = {
            {MB(12), 0, GB(4) + MB(12), 12},
            {MB(12) + KB(4), 0, 0, 12},
            {MB(12) + KB(8), 0, GB(4) + MB(12) + KB(8), 12},
        };
        check_probes(&pt, "split/map", p, ARRAY_SIZE(p));
    }
    CHECK(leaf_of(&pt, MB(12) + KB(4)) == PTE_P, "read-only leaf");

    /* Unmapping everything: not-present whatever the leaf size. */
    CHECK(pt_unmap(&pt, 0, GB(1)) == 0, "unmap all");
    {
        static const struct probe p[] = {
            {0, -1, 0, 0},
            {MB(5), -1, 0, 0},
            {MB(12) + KB(4), -1, 0, 0},
            {GB(1) - 1, -1, 0, 0},
        };
        check_probes(&pt, "unmap all", p, ARRAY_SIZE(p));
    }
    CHECK(pt_unmap(&pt, GB(7), GB(1) + KB(4)) == 0,
          "unmap of never-mapped range allocates nothing");
    pool_free(pool);
    free(pool);
}

static void test_errors(void)
{
    static const struct {
        const char *name;
        uint64_t va, pa, size;
    } bad[] = {
        {"va misaligned", 0x800, 0, KB(4)},
        {"pa misaligned", 0, 0x10, KB(4)},
        {"size misaligned", 0, 0, 100},
        {"wraps", ~0ULL - KB(4) + 1, 0, KB(8)},
        {"beyond 2^48", (1ULL << 48) - KB(4), 0, KB(8)},
    };
    struct pool *pool = pool_new(MAX_PAGES);
    struct pt pt;
    uint64_t pa;

    CHECK(pt_init(&pt, pool_alloc, pool) == 0, "init");
    for (size_t r = 0; r < ARRAY_SIZE(bad); r++)
        CHECK(pt_map(&pt, bad[r].va, bad[r].pa, bad[r].size, RW, 30) < 0, "map rejects: %s",
              bad[r].name);
    CHECK(pt_unmap(&pt, 0x800, KB(4)) < 0, "unmap rejects misaligned");
    CHECK(pool->used == 1, "rejections allocate nothing");
    CHECK(pt_lookup(&pt, 0, &pa, NULL) < 0, "empty table: not mapped");
    pool_free(pool);
    free(pool);

    /* Out of memory: root + the N-th table fails. */
    static const struct {
        int limit;
        int ret;
    } oom[] = {
        {0, -2}, {1, -1}, {2, -1}, {3, -1}, {4, 0},
    };
    for (size_t r = 0; r < ARRAY_SIZE(oom); r++) {
        pool = pool_new(oom[r].limit);
        if (pt_init(&pt, pool_alloc, pool) < 0) {
            CHECK(oom[r].ret == -2, "init fails only with 0 pages");
        } else {
            int ret = pt_map(&pt, 0, 0, KB(8), RW, 30);

            CHECK(ret == oom[r].ret, "4K map with %d pages: %d", oom[r].limit, ret);
        }
        pool_free(pool);
        free(pool);
    }

    /* OOM while splitting for an unmap leaves the large leaf intact. */
    pool = pool_new(2);
    CHECK(pt_init(&pt, pool_alloc, pool) == 0, "init");
    CHECK(pt_map(&pt, 0, 0, GB(1), RW, 30) == 0, "1G with one table");
    CHECK(pt_unmap(&pt, MB(2), MB(2)) < 0, "split needs a page: fails");
    {
        unsigned shift = 0;

        CHECK(pt_lookup(&pt, MB(3), &pa, &shift) == 0 && pa == MB(3) && shift == 30,
              "1G leaf still mapped after failed split");
    }
    pool_free(pool);
    free(pool);
}

int main(void)
{
    test_page_size_choice();
    test_split();
    test_errors();
    return check_report();
}
