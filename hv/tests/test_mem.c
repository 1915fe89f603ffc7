/* Unit tests for lib/mem.c. */
#include "check.h"
#include "lib/mem.h"
#include <string.h>

static void test_copy_set(void)
{
    unsigned char a[32], b[32];

    for (int i = 0; i < 32; i++)
        a[i] = (unsigned char)(i * 7 + 1);
    memset(b, 0xee, sizeof(b));
    CHECK(lib_memcpy(b + 1, a, 30) == b + 1, "memcpy returns d");
    CHECK(memcmp(b + 1, a, 30) == 0 && b[0] == 0xee && b[31] == 0xee,
          "memcpy copies exactly n bytes");
    CHECK(lib_memset(b, 0x1ab, 5) == b, "memset returns d");
    CHECK(b[0] == 0xab && b[4] == 0xab && b[5] == a[4], "memset uses the low byte, n bytes");
    lib_memset(b, 0, 0);
    CHECK(b[0] == 0xab, "memset of 0 bytes");
}

static void test_move(void)
{
    static const struct {
        int dst, src, n;
    } rows[] = {
        {2, 0, 10}, {0, 2, 10}, {5, 5, 4}, {0, 12, 4}, {1, 0, 15}, {0, 1, 15},
    };

    for (size_t r = 0; r < ARRAY_SIZE(rows); r++) {
        char x[16], y[16];

        for (int i = 0; i < 16; i++)
            x[i] = y[i] = (char)('a' + i);
        memmove(y + rows[r].dst, y + rows[r].src, rows[r].n);
        lib_memmove(x + rows[r].dst, x + rows[r].src, rows[r].n);
        CHECK(memcmp(x, y, 16) == 0, "memmove row %zu", r);
    }
}

static int sign(int v) { return v < 0 ? -1 : v > 0; }

static void test_cmp(void)
{
    static const struct {
        const char *a, *b;
        size_t n;
        int expect;
    } rows[] = {
        {"abc", "abc", 3, 0},     {"abc", "abd", 3, -1}, {"abd", "abc", 3, 1}, {"abc", "abd", 2, 0},
        {"a\x80", "a\x01", 2, 1}, {"", "", 0, 0},        {"abc", "ab", 3, 1},  {"ab", "abc", 5, -1},
        {"ab\0x", "ab\0y", 4, 0}, /* strncmp stops at NUL */
    };

    for (size_t r = 0; r < ARRAY_SIZE(rows); r++) {
        CHECK(sign(lib_strncmp(rows[r].a, rows[r].b, rows[r].n)) == rows[r].expect,
              "strncmp row %zu", r);
        if (r < 6)
            CHECK(sign(lib_memcmp(rows[r].a, rows[r].b, rows[r].n)) == rows[r].expect,
                  "memcmp row %zu", r);
    }
    CHECK(lib_memcmp("ab\0x", "ab\0y", 4) < 0, "memcmp does not stop at NUL");
    CHECK(lib_strlen("") == 0 && lib_strlen("hello") == 5, "strlen");
}

int main(void)
{
    test_copy_set();
    test_move();
    test_cmp();
    return check_report();
}
