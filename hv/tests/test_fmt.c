/* Unit tests for lib/fmt.c: format rows vs expected strings, truncation. */
#include "check.h"
#include "lib/fmt.h"
#include <stdint.h>
#include <string.h>

/* Some rows are deliberately odd formats (empty, unknown conversion, '-'
 * with '0'): they test our behaviour, not the host printf's. */
#pragma GCC diagnostic ignored "-Wformat"
#pragma GCC diagnostic ignored "-Wformat-zero-length"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
#pragma GCC diagnostic ignored "-Wformat-overflow"

#define ROW(expect, ...)                                                                           \
    do {                                                                                           \
        char out[128];                                                                             \
        int n = fmt_snprintf(out, sizeof(out), __VA_ARGS__);                                       \
        CHECK(strcmp(out, expect) == 0 && n == (int)strlen(expect),                                \
              "%s -> \"%s\" (%d), want \"%s\"", #__VA_ARGS__, out, n, expect);                     \
    } while (0)

static void test_rows(void)
{
    ROW("", "");
    ROW("plain", "plain");
    ROW("100%", "100%%");
    ROW("c=x", "c=%c", 'x');
    ROW("[  x]", "[%3c]", 'x');
    ROW("[x  ]", "[%-3c]", 'x');
    ROW("hello", "%s", "hello");
    ROW("(null)", "%s", (char *)NULL);
    ROW("[   hi]", "[%5s]", "hi");
    ROW("[hi   ]", "[%-5s]", "hi");
    ROW("[hel]", "[%.3s]", "hello");
    ROW("[  hel]", "[%5.3s]", "hello");
    ROW("[he]", "[%.*s]", 2, "hello");
    ROW("[   ab]", "[%*s]", 5, "ab");
    ROW("[ab   ]", "[%*s]", -5, "ab");
    ROW("0", "%d", 0);
    ROW("-1", "%d", -1);
    ROW("42", "%i", 42);
    ROW("2147483647", "%d", INT32_MAX);
    ROW("-2147483648", "%d", INT32_MIN);
    ROW("-9223372036854775808", "%lld", (long long)INT64_MIN);
    ROW("9223372036854775807", "%ld", (long)INT64_MAX);
    ROW("4294967295", "%u", 0xffffffffu);
    ROW("18446744073709551615", "%llu", 0xffffffffffffffffULL);
    ROW("123", "%zu", (size_t)123);
    ROW("-5", "%zd", (size_t)-5);
    ROW("deadbeef", "%x", 0xdeadbeefu);
    ROW("DEADBEEF", "%X", 0xdeadbeefu);
    ROW("ffffffffffffffff", "%lx", 0xffffffffffffffffUL);
    ROW("1234567890abcdef", "%llx", 0x1234567890abcdefULL);
    ROW("00ff", "%04x", 0xff);
    ROW("  ff", "%4x", 0xff);
    ROW("ff  |", "%-4x|", 0xff);
    ROW("ff  |", "%-04x|", 0xff); /* '-' overrides '0' */
    ROW("-0042", "%05d", -42);
    ROW("  -42", "%5d", -42);
    ROW("-42  |", "%-5d|", -42);
    ROW("12345", "%3d", 12345); /* width is a minimum */
    ROW("0x00000000deadbeef", "%p", (void *)0xdeadbeefUL);
    ROW("0x0000000000000000", "%p", (void *)0);
    ROW("  0x0000000000000001", "%20p", (void *)1);
    ROW("0x0000000000000001  |", "%-20p|", (void *)1);
    ROW("0x00000000000000ff", "%2p", (void *)0xff);
    ROW("-1 255", "%hhd %hhu", 255, 255);
    ROW("-1 65535", "%hd %hu", 65535, 65535);
    ROW("a1b2c30", "%c%d%s%x%c%u", 'a', 1, "b2", 0xc, '3', 0u);
    ROW("%q", "%q"); /* unknown: copied */
    ROW("x%", "x%"); /* lone % at the end */
    ROW("00000007", "%0*x", 8, 7);
}

static void test_truncation(void)
{
    char buf[8];
    int n;

    memset(buf, 'Z', sizeof(buf));
    n = fmt_snprintf(buf, sizeof(buf), "0123456789");
    CHECK(n == 10 && strcmp(buf, "0123456") == 0,
          "truncates to size-1 and returns full length (%d '%s')", n, buf);

    memset(buf, 'Z', sizeof(buf));
    n = fmt_snprintf(buf, 1, "abc");
    CHECK(n == 3 && buf[0] == '\0' && buf[1] == 'Z', "size 1: only NUL");

    memset(buf, 'Z', sizeof(buf));
    n = fmt_snprintf(buf, 0, "abc%d", 12);
    CHECK(n == 5 && buf[0] == 'Z', "size 0: nothing written");
    n = fmt_snprintf(NULL, 0, "%s-%s", "ab", "cd");
    CHECK(n == 5, "NULL buffer with size 0 counts");

    memset(buf, 'Z', sizeof(buf));
    n = fmt_snprintf(buf, 4, "%08x", 0x12u);
    CHECK(n == 8 && strcmp(buf, "000") == 0, "number truncation");

    memset(buf, 'Z', sizeof(buf));
    n = fmt_snprintf(buf, sizeof(buf), "%s", "1234567");
    CHECK(n == 7 && strcmp(buf, "1234567") == 0, "exact fit");
}

int main(void)
{
    test_rows();
    test_truncation();
    return check_report();
}
