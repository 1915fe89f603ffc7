/* Unit tests for lib/walk.c: real guest tables in a host buffer. */
#include "check.h"
#include "hw/paging.h"
#include "lib/walk.h"
#include <stdlib.h>
#include <string.h>

#define GMEM_SIZE (64 * 4096) /* guest-physical memory [0, 256 KiB) */

static uint8_t *gmem;
static int reads;

/* Guest memory reader: little-endian, fails outside gmem or unaligned. */
static bool gread(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
    uint64_t v = 0;

    (void)ctx;
    reads++;
    if ((size != 4 && size != 8) || pa % size || pa + size > GMEM_SIZE)
        return false;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)gmem[pa + i] << (8 * i);
    *val = v;
    return true;
}

static void put32(uint64_t pa, uint32_t v) { memcpy(gmem + pa, &v, 4); }

static void put64(uint64_t pa, uint64_t v) { memcpy(gmem + pa, &v, 8); }

#define PG(n) ((uint64_t)(n)*4096)
#define MB(x) ((uint64_t)(x) << 20)
#define GB(x) ((uint64_t)(x) << 30)

struct row {
    const char *name;
    enum pg_mode mode;
    uint64_t cr3;
    bool pse;
    uint64_t va;
    int ret;
    uint64_t pa;
    unsigned shift;
    unsigned level; /* leaf level, or failing level */
};

static void run_rows(const struct row *rows, size_t n)
{
    for (size_t r = 0; r < n; r++) {
        struct pg_walk w;
        int ret = pg_walk(rows[r].mode, rows[r].cr3, rows[r].va, rows[r].pse, gread, NULL, &w);

        CHECK(ret == rows[r].ret && w.level == rows[r].level &&
                  (ret < 0 || (w.pa == rows[r].pa && w.page_shift == rows[r].shift)),
              "%s: ret %d pa %#llx shift %u level %u; want %d %#llx %u %u", rows[r].name, ret,
              (unsigned long long)w.pa, w.page_shift, w.level, rows[r].ret,
              (unsigned long long)rows[r].pa, rows[r].shift, rows[r].level);
    }
}

static void test_mode_of(void)
{
    static const struct {
        uint64_t cr0, cr4, efer;
        enum pg_mode want;
    } rows[] = {
        {0x11, 0, 0, PG_MODE_NONE},
        {0x11, 0x20, 0x500, PG_MODE_NONE}, /* PG off wins */
        {0x80000011, 0, 0, PG_MODE_32},
        {0x80000011, 0x10, 0, PG_MODE_32}, /* PSE only */
        {0x80000011, 0x20, 0, PG_MODE_PAE},
        {0x80000011, 0x20, 0x100, PG_MODE_PAE}, /* LME, not LMA */
        {0x80000011, 0x20, 0x500, PG_MODE_LONG},
        {0x80000011, 0x1020, 0x500, PG_MODE_LONG5}, /* LA57 */
        {0x80000011, 0x1020, 0x100, PG_MODE_PAE},   /* LA57 means nothing without LMA */
    };

    for (size_t r = 0; r < ARRAY_SIZE(rows); r++)
        CHECK(pg_mode_of(rows[r].cr0, rows[r].cr4, rows[r].efer) == rows[r].want,
              "pg_mode_of row %zu", r);
}

/* 32-bit: CR3 = page 1. PDE[0] -> PT at page 2; PDE[1] has PS set with
 * frame 0 and bits 21:12 naming page 9, so it is a 4 MiB page at 0 with
 * CR4.PSE and a PT at page 9 without; PDE[2] not present; PDE[3] -> PT at
 * page 40 with PTE 5 not present; PDE[4] -> a PT outside guest memory;
 * PDE[0x3ff] 4 MiB with PSE-36 bits set (ignored). */
static void test_32(void)
{
    static const struct row rows[] = {
        {"32 4K", PG_MODE_32, PG(1) | 0x18, false, 0x3abc, 0, PG(7) | 0xabc, 12, 1},
        {"32 4K, pse on", PG_MODE_32, PG(1), true, 0x3abc, 0, PG(7) | 0xabc, 12, 1},
        {"32 4M leaf", PG_MODE_32, PG(1), true, 0x00512345, 0, 0x112345, 22, 2},
        {"32 PS without PSE: PT", PG_MODE_32, PG(1), false, 0x00401234, 0, PG(9) | 0x234, 12, 1},
        {"32 PDE not present", PG_MODE_32, PG(1), true, 0x00800000, -1, 0, 0, 2},
        {"32 PTE not present", PG_MODE_32, PG(1), false, 0x00c05000, -1, 0, 0, 1},
        {"32 PTE present", PG_MODE_32, PG(1), false, 0x00c06010, 0, PG(12) | 0x10, 12, 1},
        {"32 PSE-36 bits ignored", PG_MODE_32, PG(1), true, 0xffc00010, 0, 0xffc00010, 22, 2},
        {"32 va high bits dropped", PG_MODE_32, PG(1), false, 0x100003abcULL, 0, PG(7) | 0xabc, 12,
         1},
        {"32 table outside memory", PG_MODE_32, PG(1), false, 0x01000000, -1, 0, 0, 1},
        {"32 cr3 outside memory", PG_MODE_32, MB(64), false, 0, -1, 0, 0, 2},
    };

    memset(gmem, 0, GMEM_SIZE);
    put32(PG(1) + 0 * 4, PG(2) | PTE_P | PTE_W);
    put32(PG(2) + 3 * 4, PG(7) | PTE_P);
    put32(PG(1) + 1 * 4, (uint32_t)(PG(9) | PTE_PS | PTE_P));
    put32(PG(9) + 1 * 4, PG(9) | PTE_P);
    put32(PG(1) + 3 * 4, PG(40) | PTE_P);
    put32(PG(40) + 6 * 4, PG(12) | PTE_P | PTE_U);
    put32(PG(40) + 5 * 4, PG(13));           /* P = 0 */
    put32(PG(1) + 4 * 4, 0x7fff000 | PTE_P); /* PT outside gmem */
    put32(PG(1) + 0x3ff * 4, 0xffc00000U | (0xffU << 13) | PTE_PS | PTE_P);
    run_rows(rows, ARRAY_SIZE(rows));
}

/* PAE: CR3 = 0x2020 (32-byte aligned PDPT inside page 2). */
static void test_pae(void)
{
    static const struct row rows[] = {
        {"pae 4K", PG_MODE_PAE, 0x2020, false, 0x40003123, 0, PG(20) | 0x123, 12, 1},
        {"pae 2M", PG_MODE_PAE, 0x2020, false, 0x40234567, 0, 0x1000034567ULL, 21, 2},
        {"pae high pa 4K (NX, bit 40)", PG_MODE_PAE, 0x2020, false, 0x40004005, 0,
         0x10000000000ULL | 0x5, 12, 1},
        {"pae PDPTE not present", PG_MODE_PAE, 0x2020, false, 0x80000000, -1, 0, 0, 3},
        {"pae PDE not present", PG_MODE_PAE, 0x2020, false, 0x40600000, -1, 0, 0, 2},
        {"pae PDPTE[3]", PG_MODE_PAE, 0x2020, false, 0xc0000abc, 0, PG(30) | 0xabc, 12, 1},
        {"pae PDPTE PS bit ignored", PG_MODE_PAE, 0x2020, false, 0xc0000abc, 0, PG(30) | 0xabc, 12,
         1},
    };

    memset(gmem, 0, GMEM_SIZE);
    put64(0x2020 + 1 * 8, PG(3) | PTE_P);
    put64(PG(3) + 0 * 8, PG(4) | PTE_P | PTE_W);
    put64(PG(4) + 3 * 8, PG(20) | PTE_P);
    put64(PG(4) + 4 * 8, 0x10000000000ULL | PTE_NX | PTE_P);
    put64(PG(3) + 1 * 8, 0x1000000000ULL | PTE_PAT_LARGE | PTE_PS | PTE_P);
    put64(0x2020 + 3 * 8, PG(5) | PTE_P | PTE_PS); /* PS: not a leaf */
    put64(PG(5), PG(6) | PTE_P);
    put64(PG(6), PG(30) | PTE_P);
    run_rows(rows, ARRAY_SIZE(rows));
}

/* Long mode: PML4 at page 1. */
static void test_long(void)
{
    static const struct row rows[] = {
        {"long 4K", PG_MODE_LONG, PG(1), false, 0x201abc, 0, PG(50) | 0xabc, 12, 1},
        {"long 2M", PG_MODE_LONG, PG(1), false, 0x412345, 0, GB(2) | 0x12345, 21, 2},
        {"long 1G", PG_MODE_LONG, PG(1), false, GB(1) + 0x1234567, 0, GB(4) + 0x1234567, 30, 3},
        {"long PML4E not present", PG_MODE_LONG, PG(1), false, 0x8000000000ULL, -1, 0, 0, 4},
        {"long PDPTE not present", PG_MODE_LONG, PG(1), false, GB(2), -1, 0, 0, 3},
        {"long PDE not present", PG_MODE_LONG, PG(1), false, MB(8), -1, 0, 0, 2},
        {"long PTE not present", PG_MODE_LONG, PG(1), false, 0x202000, -1, 0, 0, 1},
        {"long high half", PG_MODE_LONG, PG(1), false, 0xffffff8000000123ULL, 0, PG(51) | 0x123, 12,
         1},
        {"long NX and high pa bits", PG_MODE_LONG, PG(1), false, 0x203fff, 0, 0xfffffffffffffULL,
         12, 1},
        {"long read fails (PT outside memory)", PG_MODE_LONG, PG(1), false, MB(6), -1, 0, 0, 1},
        {"no paging", PG_MODE_NONE, PG(1), false, 0x12345678, 0, 0x12345678, 12, 0},
    };
    struct pg_walk w;

    memset(gmem, 0, GMEM_SIZE);
    put64(PG(1) + 0 * 8, PG(2) | PTE_P | PTE_W | PTE_U);
    put64(PG(2) + 0 * 8, PG(3) | PTE_P | PTE_W);
    put64(PG(2) + 1 * 8, GB(4) | PTE_PS | PTE_P);
    put64(PG(3) + 1 * 8, PG(4) | PTE_P);
    put64(PG(3) + 2 * 8, GB(2) | PTE_PS | PTE_P);
    put64(PG(3) + 3 * 8, 0x10000000ULL | PTE_P); /* PT outside gmem */
    put64(PG(4) + 1 * 8, PG(50) | PTE_P);
    put64(PG(4) + 2 * 8, PG(60)); /* not present */
    put64(PG(4) + 3 * 8, 0xffffffffff000ULL | PTE_NX | PTE_P);
    put64(PG(1) + 511 * 8, PG(5) | PTE_P);
    put64(PG(5) + 0 * 8, PG(6) | PTE_P);
    put64(PG(6) + 0 * 8, PG(7) | PTE_P);
    put64(PG(7) + 0 * 8, PG(51) | PTE_P);
    run_rows(rows, ARRAY_SIZE(rows));

    reads = 0;
    CHECK(pg_walk(PG_MODE_LONG, PG(1), 0x201000, false, gread, NULL, &w) == 0 && reads == 4 &&
              w.pte == (PG(50) | PTE_P),
          "4K walk: 4 reads, leaf entry returned");
    CHECK(pg_walk(PG_MODE_LONG, PG(1), 0x202000, false, gread, NULL, &w) < 0 && w.pte == PG(60),
          "failing entry returned");
}

/* 5-level: PML5 at page 1; bits 56:48 of the address pick the PML5E. */
static void test_long5(void)
{
    static const struct row rows[] = {
        {"la57 4K", PG_MODE_LONG5, PG(1), false, 0x201abc, 0, PG(50) | 0xabc, 12, 1},
        {"la57 1G", PG_MODE_LONG5, PG(1), false, GB(1) + 0x10, 0, GB(8) + 0x10, 30, 3},
        {"la57 PML5E[1]", PG_MODE_LONG5, PG(1), false, (1ULL << 48) | 0x1234, 0, PG(52) | 0x234, 12,
         1},
        {"la57 PML5E not present", PG_MODE_LONG5, PG(1), false, 2ULL << 48, -1, 0, 0, 5},
        {"la57 high half (PML5E 511)", PG_MODE_LONG5, PG(1), false, 0xffff000000000042ULL, 0,
         PG(53) | 0x42, 12, 1},
        {"4-level on the same tables is one level short", PG_MODE_LONG, PG(1), false, 0x201abc, 0,
         GB(8) | 0x1abc, 21, 2},
    };

    memset(gmem, 0, GMEM_SIZE);
    put64(PG(1) + 0 * 8, PG(2) | PTE_P | PTE_W | PTE_U); /* PML5E 0 */
    put64(PG(2) + 0 * 8, PG(3) | PTE_P | PTE_W | PTE_U); /* PML4E 0 */
    put64(PG(3) + 0 * 8, PG(4) | PTE_P | PTE_W | PTE_U); /* PDPTE 0 */
    put64(PG(3) + 1 * 8, GB(8) | PTE_PS | PTE_P);        /* PDPTE 1: 1 GiB */
    put64(PG(4) + 1 * 8, PG(10) | PTE_P | PTE_W | PTE_U);
    put64(PG(10) + 1 * 8, PG(50) | PTE_P | PTE_W | PTE_U);
    put64(PG(1) + 1 * 8, PG(20) | PTE_P); /* PML5E 1 */
    put64(PG(20), PG(21) | PTE_P);
    put64(PG(21), PG(22) | PTE_P);
    put64(PG(22), PG(23) | PTE_P);
    put64(PG(23) + 1 * 8, PG(52) | PTE_P);
    put64(PG(1) + 510 * 8, PG(24) | PTE_P); /* PML5E 510: bits 56:48 = 0x1fe */
    put64(PG(1) + 511 * 8, PG(25) | PTE_P);
    put64(PG(25), PG(26) | PTE_P);
    put64(PG(26), PG(27) | PTE_P);
    put64(PG(27), PG(28) | PTE_P);
    put64(PG(28), PG(53) | PTE_P);
    run_rows(rows, ARRAY_SIZE(rows));
}

/* The rights of the path: U and R/W at every level, NX at any. */
static void test_rights(void)
{
    static const struct {
        const char *name;
        uint64_t l4, l3, l2, l1;
        bool user, writable, nx;
    } rows[] = {
        {"all U W", PTE_U | PTE_W, PTE_U | PTE_W, PTE_U | PTE_W, PTE_U | PTE_W, true, true, false},
        {"leaf read-only", PTE_U | PTE_W, PTE_U | PTE_W, PTE_U | PTE_W, PTE_U, true, false, false},
        {"PML4E supervisor", PTE_W, PTE_U | PTE_W, PTE_U | PTE_W, PTE_U | PTE_W, false, true,
         false},
        {"PDE read-only", PTE_U | PTE_W, PTE_U | PTE_W, PTE_U, PTE_U | PTE_W, true, false, false},
        {"PDPTE NX", PTE_U | PTE_W, PTE_U | PTE_W | PTE_NX, PTE_U | PTE_W, PTE_U | PTE_W, true,
         true, true},
    };
    struct pg_walk w;

    for (size_t r = 0; r < ARRAY_SIZE(rows); r++) {
        memset(gmem, 0, GMEM_SIZE);
        put64(PG(1), PG(2) | PTE_P | rows[r].l4);
        put64(PG(2), PG(3) | PTE_P | rows[r].l3);
        put64(PG(3), PG(4) | PTE_P | rows[r].l2);
        put64(PG(4), PG(5) | PTE_P | rows[r].l1);
        int ret = pg_walk(PG_MODE_LONG, PG(1), 0x10, false, gread, NULL, &w);
        CHECK(ret == 0 && w.user == rows[r].user && w.writable == rows[r].writable &&
                  w.nx == rows[r].nx,
              "rights %s: user %d writable %d nx %d", rows[r].name, w.user, w.writable, w.nx);
    }
    /* 32-bit: the PDE's bits count; PAE: the PDPTE has none. */
    memset(gmem, 0, GMEM_SIZE);
    put32(PG(1), PG(2) | PTE_P | PTE_U); /* PDE read-only */
    put32(PG(2), PG(3) | PTE_P | PTE_U | PTE_W);
    CHECK(pg_walk(PG_MODE_32, PG(1), 0x10, false, gread, NULL, &w) == 0 && w.user && !w.writable,
          "32-bit: read-only PDE");
    memset(gmem, 0, GMEM_SIZE);
    put64(PG(1), PG(2) | PTE_P); /* PDPTE: no U, no W bits exist */
    put64(PG(2), PG(3) | PTE_P | PTE_U | PTE_W);
    put64(PG(3), PG(4) | PTE_P | PTE_U | PTE_W);
    CHECK(pg_walk(PG_MODE_PAE, PG(1), 0x10, false, gread, NULL, &w) == 0 && w.user && w.writable,
          "PAE: the PDPTE gives no rights");
}

int main(void)
{
    gmem = calloc(1, GMEM_SIZE);
    test_mode_of();
    test_32();
    test_pae();
    test_long();
    test_long5();
    test_rights();
    free(gmem);
    return check_report();
}
