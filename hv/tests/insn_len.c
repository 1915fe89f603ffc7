/*
 * Host CLI over insn_decode(), used by tests/unit/test_insn_capstone.py.
 *
 * Reads lines "MODE HEXBYTES" (MODE = 16, 32 or 64) on stdin and prints,
 * per line, the decoded length or -1. A malformed line prints "error".
 */
#include "lib/insn.h"
#include "lib/rsp.h"
#include <stdio.h>
#include <string.h>

static int hexval(int c) { return hex_digit((uint8_t)c); }

int main(void)
{
    char line[512];

    while (fgets(line, sizeof(line), stdin)) {
        uint8_t bytes[64];
        size_t n = 0;
        unsigned mode;
        char hex[256];
        struct insn in;
        int ok = 1;

        if (sscanf(line, "%u %255s", &mode, hex) != 2) {
            printf("error\n");
            continue;
        }
        for (size_t i = 0; hex[i] && ok; i += 2) {
            int hi = hexval(hex[i]);
            int lo = hex[i + 1] ? hexval(hex[i + 1]) : -1;

            if (hi < 0 || lo < 0 || n >= sizeof(bytes))
                ok = 0;
            else
                bytes[n++] = (uint8_t)(hi << 4 | lo);
        }
        if (!ok) {
            printf("error\n");
            continue;
        }
        if (insn_decode(&in, bytes, n, mode) < 0)
            printf("-1\n");
        else
            printf("%u\n", in.len);
        fflush(stdout);
    }
    return 0;
}
