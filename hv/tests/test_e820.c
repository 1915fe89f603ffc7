/* Unit tests for lib/e820.c. */
#include "check.h"
#include "lib/e820.h"
#include <string.h>

#define MAXE  8
#define KB(x) ((uint64_t)(x) << 10)
#define MB(x) ((uint64_t)(x) << 20)
#define GB(x) ((uint64_t)(x) << 30)

struct map {
    int count;
    struct e820_entry e[MAXE];
};

static int map_equal(const struct map *a, const struct map *b)
{
    if (a->count != b->count)
        return 0;
    for (int i = 0; i < a->count; i++)
        if (a->e[i].addr != b->e[i].addr || a->e[i].len != b->e[i].len ||
            a->e[i].type != b->e[i].type || a->e[i].attr != b->e[i].attr)
            return 0;
    return 1;
}

static void map_print(const char *what, const struct map *m)
{
    printf("  %s (%d):", what, m->count);
    for (int i = 0; i < m->count; i++)
        printf(" [%#llx+%#llx t%u]", (unsigned long long)m->e[i].addr,
               (unsigned long long)m->e[i].len, m->e[i].type);
    printf("\n");
}

/* A typical QEMU map, unsorted on purpose */
static const struct map qemu = {5,
                                {
                                    {MB(1), GB(2) - MB(1) - KB(128), E820_RAM, 1},
                                    {0, KB(639), E820_RAM, 1},
                                    {KB(639), KB(1), E820_RESERVED, 1},
                                    {KB(960), KB(64), E820_RESERVED, 1},
                                    {GB(2) - KB(128), KB(128), E820_RESERVED, 1},
                                }};

static void test_sort(void)
{
    struct map m = {6,
                    {
                        {0x3000, 0x1000, 1, 0},
                        {0x1000, 0, 2, 0},
                        {0x1000, 0x1000, 1, 0},
                        {0x1000, 0x800, 2, 0},
                        {0, 0x1000, 3, 0},
                        {0x2000, 0x1000, 4, 0},
                    }};
    static const struct map want = {5,
                                    {
                                        {0, 0x1000, 3, 0},
                                        {0x1000, 0x1000, 1, 0},
                                        {0x1000, 0x800, 2, 0},
                                        {0x2000, 0x1000, 4, 0},
                                        {0x3000, 0x1000, 1, 0},
                                    }};

    m.count = e820_sort(m.e, m.count);
    CHECK(map_equal(&m, &want), "sort: stable, zero-length dropped");
    if (!map_equal(&m, &want))
        map_print("got", &m);
    CHECK(e820_sort(m.e, 0) == 0, "sort empty");
}

static void test_remove(void)
{
    static const struct {
        const char *name;
        struct map in;
        int max;
        uint64_t base, len;
        int ret;
        struct map out; /* ignored when ret == -1 */
    } rows[] = {
        {"split middle",
         {1, {{0, MB(16), 1, 1}}},
         4,
         MB(4),
         MB(1),
         2,
         {2, {{0, MB(4), 1, 1}, {MB(5), MB(11), 1, 1}}}},
        {"clip tail",
         {1, {{MB(1), MB(15), 1, 0}}},
         4,
         MB(12),
         MB(8),
         1,
         {1, {{MB(1), MB(11), 1, 0}}}},
        {"clip head", {1, {{MB(1), MB(15), 1, 0}}}, 4, 0, MB(2), 1, {1, {{MB(2), MB(14), 1, 0}}}},
        {"remove at start edge",
         {1, {{MB(1), MB(15), 1, 0}}},
         4,
         MB(1),
         MB(1),
         1,
         {1, {{MB(2), MB(14), 1, 0}}}},
        {"remove at end edge",
         {1, {{MB(1), MB(15), 1, 0}}},
         4,
         MB(15),
         MB(1),
         1,
         {1, {{MB(1), MB(14), 1, 0}}}},
        {"touching only: untouched",
         {2, {{0, MB(1), 1, 0}, {MB(2), MB(1), 1, 0}}},
         4,
         MB(1),
         MB(1),
         2,
         {2, {{0, MB(1), 1, 0}, {MB(2), MB(1), 1, 0}}}},
        {"whole entry",
         {3, {{0, MB(1), 1, 0}, {MB(1), MB(1), 2, 0}, {MB(2), MB(1), 1, 0}}},
         3,
         MB(1),
         MB(1),
         2,
         {2, {{0, MB(1), 1, 0}, {MB(2), MB(1), 1, 0}}}},
        {"span several",
         {3, {{0, MB(2), 1, 0}, {MB(2), MB(1), 2, 0}, {MB(3), MB(2), 1, 0}}},
         3,
         MB(1),
         MB(3),
         2,
         {2, {{0, MB(1), 1, 0}, {MB(4), MB(1), 1, 0}}}},
        {"overflow of max",
         {2, {{0, MB(16), 1, 0}, {MB(16), MB(16), 2, 0}}},
         2,
         MB(4),
         MB(1),
         -1,
         {0, {{0}}}},
        {"split fits exactly",
         {1, {{0, MB(16), 1, 0}}},
         2,
         MB(4),
         MB(1),
         2,
         {2, {{0, MB(4), 1, 0}, {MB(5), MB(11), 1, 0}}}},
        {"covers all but a page, unsorted input",
         {2, {{GB(4), GB(1), 1, 0}, {0, GB(1), 1, 0}}},
         2,
         0x1000,
         GB(5),
         1,
         {1, {{0, 0x1000, 1, 0}}}},
        {"covers everything",
         {2, {{GB(4), GB(1), 1, 0}, {0, GB(1), 1, 0}}},
         2,
         0,
         GB(5),
         0,
         {0, {{0}}}},
        {"covers map ends, sorted result",
         {2, {{GB(4), GB(1), 1, 0}, {0, GB(1), 1, 0}}},
         2,
         GB(1),
         GB(3) + MB(1),
         2,
         {2, {{0, GB(1), 1, 0}, {GB(4) + MB(1), GB(1) - MB(1), 1, 0}}}},
        {"top of address space",
         {1, {{GB(1), ~0ULL - GB(1), 2, 0}}},
         2,
         GB(2),
         GB(1),
         2,
         {2, {{GB(1), GB(1), 2, 0}, {GB(3), ~0ULL - GB(3), 2, 0}}}},
        {"zero length remove", {1, {{0, MB(1), 1, 0}}}, 1, 0, 0, 1, {1, {{0, MB(1), 1, 0}}}},
    };

    for (size_t r = 0; r < ARRAY_SIZE(rows); r++) {
        struct map m = rows[r].in;
        int ret = e820_remove(m.e, m.count, rows[r].max, rows[r].base, rows[r].len);

        CHECK(ret == rows[r].ret, "remove '%s': ret %d want %d", rows[r].name, ret, rows[r].ret);
        if (ret < 0) {
            CHECK(map_equal(&m, &rows[r].in), "remove '%s': map changed on failure", rows[r].name);
            continue;
        }
        m.count = ret;
        CHECK(map_equal(&m, &rows[r].out), "remove '%s': map", rows[r].name);
        if (!map_equal(&m, &rows[r].out))
            map_print("got", &m);
    }
}

static void test_remove_qemu(void)
{
    struct map m = qemu;
    uint64_t top = e820_ram_top_below(m.e, m.count, GB(4));
    uint64_t vmm = MB(8);
    int n;

    CHECK(top == GB(2) - KB(128), "qemu ram top %#llx", (unsigned long long)top);
    n = e820_remove(m.e, m.count, MAXE, top - vmm, vmm);
    CHECK(n == 5, "qemu remove vmm: count %d", n);
    m.count = n;
    CHECK(e820_ram_top_below(m.e, m.count, GB(4)) == top - vmm, "ram top after removal");
    CHECK(e820_total(m.e, m.count, E820_RAM) == e820_total(qemu.e, qemu.count, E820_RAM) - vmm,
          "RAM total shrinks");
    for (int i = 0; i < m.count; i++) {
        uint64_t end = m.e[i].addr + m.e[i].len;

        CHECK(end <= top - vmm || m.e[i].addr >= top, "entry %d overlaps the removed range", i);
        if (i)
            CHECK(m.e[i - 1].addr <= m.e[i].addr, "sorted at %d", i);
    }
}

static void test_queries(void)
{
    static const struct e820_entry m[] = {
        {0, KB(640), E820_RAM, 0},
        {MB(1), GB(3) - MB(1), E820_RAM, 0},
        {GB(3), GB(1), E820_RESERVED, 0},
        {GB(4), GB(4), E820_RAM, 0},
        {GB(8), 0, E820_RAM, 0}, /* zero length */
        {GB(3) - MB(64), MB(1), E820_ACPI, 0},
    };
    static const struct {
        uint64_t limit, want;
    } tops[] = {
        {GB(4), GB(3)},   {GB(2), GB(2)}, /* crossing */
        {MB(1), KB(640)}, {KB(640), KB(640)}, {KB(100), KB(100)},
        {0, 0},           {GB(16), GB(8)},    {GB(4) + 1, GB(4) + 1},
    };

    for (size_t r = 0; r < ARRAY_SIZE(tops); r++) {
        uint64_t t = e820_ram_top_below(m, ARRAY_SIZE(m), tops[r].limit);

        CHECK(t == tops[r].want, "ram_top_below(%#llx) = %#llx want %#llx",
              (unsigned long long)tops[r].limit, (unsigned long long)t,
              (unsigned long long)tops[r].want);
    }
    CHECK(e820_ram_top_below(m + 2, 1, GB(8)) == 0, "no RAM -> 0");
    CHECK(e820_total(m, ARRAY_SIZE(m), E820_RAM) == KB(640) + GB(3) - MB(1) + GB(4), "total RAM");
    CHECK(e820_total(m, ARRAY_SIZE(m), E820_ACPI) == MB(1), "total ACPI");
    CHECK(e820_total(m, ARRAY_SIZE(m), E820_NVS) == 0, "total NVS");
    CHECK(e820_max_addr(m, ARRAY_SIZE(m)) == GB(8), "max addr");
    CHECK(e820_max_addr(m, 0) == 0, "max addr empty");
}

int main(void)
{
    test_sort();
    test_remove();
    test_remove_qemu();
    test_queries();
    return check_report();
}
