/* Unit tests for lib/insn.c: lengths per mode and decoded fields. */
#include "check.h"
#include "lib/insn.h"
#include <string.h>

struct len_row {
    unsigned mode;
    const char *hex;
    int len; /* -1: rejected */
};

static const struct len_row len_rows[] = {
    {64, "90", 1},
    {64, "4801c8", 3},
    {64, "48b88877665544332211", 10}, /* mov rax, imm64 */
    {64, "b878563412", 5},
    {64, "66b83412", 4},
    {16, "b83412", 3},
    {16, "66b878563412", 6},
    {64, "c7042578563412efbeadde", 11}, /* SIB, no base: disp32 */
    {64, "c705f0ffffff01000000", 10},   /* RIP-relative */
    {64, "8b442408", 4},
    {64, "8b8424ff000000", 7},
    {64, "418b4500", 4}, /* r13 base needs disp8 */
    {32, "8b0500100000", 6},
    {32, "8b04c500100000", 7}, /* SIB index*8 + disp32 */
    {16, "8b060010", 4},       /* [disp16] */
    {16, "8b4702", 3},
    {16, "8b870010", 4},
    {16, "8b04", 2}, /* [si]: no SIB in 16-bit */
    {16, "678b442408", 5},
    {32, "678b4702", 4},
    {32, "678b060010", 5},
    {64, "f6c101", 3},
    {64, "f7c101000000", 6},
    {64, "66f7c10100", 5},
    {64, "48f7c1ffffffff", 7}, /* REX.W test: imm32 */
    {64, "f7d1", 2},
    {64, "f6d9", 2},
    {32, "c8100001", 4}, /* enter */
    {32, "9a785634120800", 7},
    {16, "9a34120800", 5},
    {32, "669a34120800", 6},
    {64, "9a785634120800", -1}, /* far call: #UD in 64 */
    {64, "a08877665544332211", 9},
    {64, "67a044332211", 6},
    {32, "a144332211", 5},
    {16, "a13412", 3},
    {16, "67a178563412", 6},
    {64, "e800000000", 5},
    {64, "66e80000", 4}, /* AMD: rel16 */
    {16, "e80000", 3},
    {16, "66e800000000", 6},
    {64, "0f8400000000", 6},
    {16, "0f840000", 4},
    {64, "eb00", 2},
    {64, "6878563412", 5},
    {64, "666834 12", -1}, /* malformed hex guard */
    {64, "6a01", 2},
    {64, "c20800", 3},
    {64, "ca0800", 3},
    {64, "cd80", 2},
    {64, "48630c24", 4},
    {64, "06", -1}, /* push es: #UD in 64 */
    {32, "06", 1},
    {32, "40", 1},   /* inc eax, not REX */
    {32, "d40a", 2}, /* aam */
    {64, "d40a", -1},
    {64, "c6f801", 3},
    {64, "c7f800000000", 6},
    /* prefixes, string instructions, limit */
    {64, "f3a4", 2},
    {64, "f348a5", 3},
    {64, "f2ae", 2},
    {32, "f366ab", 3},
    {64, "f0480fb10a", 5},
    {64, "64488b042528000000", 9},
    {64, "6666662e0f1f840000000000", 12},
    {64, "2e2e2e2e2e2e2e2e2e2e2e2e2e2e90", 15},
    {64, "2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e90", -1},
    {64, "48", -1}, /* truncated */
    {64, "b8785634", -1},
    {64, "8b8424ff0000", -1},
    {64, "", -1},
    /* x87 */
    {64, "d9c0", 2},
    {64, "dd442408", 4},
    {16, "dd060010", 4},
    {64, "dfe0", 2},
    /* system */
    {64, "0f0b", 2},
    {64, "0fa2", 2},
    {64, "0f30", 2},
    {64, "0f32", 2},
    {64, "0f20c0", 3},
    {64, "0f22d8", 3},
    {64, "440f20c0", 4},
    {64, "0f2005", 3}, /* mod ignored: no disp32 */
    {32, "0f2380", 3},
    {32, "0f0118", 3},
    {16, "0f011e0010", 5}, /* lidt [disp16] */
    {64, "0f01d8", 3},
    {64, "0f01d9", 3},
    {64, "0f01df", 3},
    {64, "0f01f8", 3},
    {64, "0f0138", 3},
    {64, "0f00d8", 3},
    {64, "0faef0", 3},
    {64, "0f04", -1},
    {64, "0fb9c0", 3}, /* UD1 /r */
    {64, "0fff", 2},   /* UD0 (AMD: no ModRM) */
    /* SSE, 3-byte maps, 3DNow!, SSE4a */
    {64, "660f6fc1", 4},
    {64, "f30f6f0424", 5},
    {64, "660f3a0fc108", 6},
    {64, "660f3800c1", 5},
    {64, "660f3a0f442408ff", 8},
    {64, "660f70c11b", 5},
    {64, "0f0fc0b4", 4},
    {64, "660f78c00102", 6},
    {64, "f20f78c1aabb", 6},
    {64, "0f7800", 3},
    /* VEX / EVEX / XOP */
    {64, "c5f877", 3},
    {64, "c5fc28c1", 4},
    {64, "c4e3790fc108", 6},
    {64, "c4e27d18442408", 7},
    {64, "c4e0790fc108", -1}, /* VEX map 0 */
    {64, "66c5f877", -1},     /* 66 before VEX */
    {32, "c5f877", 3},
    {32, "c40000", 2},   /* les */
    {16, "c5060010", 4}, /* lds [disp16] */
    {64, "62f17c4858c1", 6},
    {64, "62f17c48c6c101", 7},
    {64, "62f17c48584424ff", 8},
    {32, "6200", 2}, /* bound */
    {64, "8fe878c00000aa", 6},
    {64, "8fe9789000", 5},
    {64, "8fea78100000000000", 9},
    {64, "8f00", 2},
    {64, "8f4008", 3},
};

/* Returns the number of bytes parsed from hex, or -1 if malformed. */
static int parse_hex(const char *hex, uint8_t *out, size_t max)
{
    size_t n = 0;

    for (; hex[0]; hex += 2) {
        unsigned v;

        if (!hex[1] || n >= max || sscanf(hex, "%2x", &v) != 1 || hex[0] == ' ' || hex[1] == ' ')
            return -1;
        out[n++] = (uint8_t)v;
    }
    return (int)n;
}

static void test_lengths(void)
{
    for (size_t r = 0; r < ARRAY_SIZE(len_rows); r++) {
        uint8_t buf[32];
        struct insn in;
        int n = parse_hex(len_rows[r].hex, buf, sizeof(buf));
        int got;

        if (n < 0) {
            CHECK(len_rows[r].len == -1, "bad hex row %zu", r);
            continue;
        }
        got = insn_decode(&in, buf, (size_t)n, len_rows[r].mode) < 0 ? -1 : in.len;
        CHECK(got == len_rows[r].len, "mode %u %s: len %d want %d", len_rows[r].mode,
              len_rows[r].hex, got, len_rows[r].len);
        /* Every accepted instruction must also decode with exactly
		 * its own bytes, and fail with one byte less. */
        if (got > 0) {
            CHECK(insn_decode(&in, buf, (size_t)got, len_rows[r].mode) == 0,
                  "mode %u %s: exact buffer", len_rows[r].mode, len_rows[r].hex);
            CHECK(insn_decode(&in, buf, (size_t)got - 1, len_rows[r].mode) < 0,
                  "mode %u %s: truncated", len_rows[r].mode, len_rows[r].hex);
        }
    }
}

static void test_fields(void)
{
    struct insn in;
    int ret;

    /* lock cmpxchg qword fs:[rdx+rax*4-8], rcx */
    ret = insn_decode(&in, (const uint8_t *)"\x64\xf0\x48\x0f\xb1\x4c\x82\xf8", 8, 64);
    CHECK(ret == 0 && in.len == 8 && in.lock && in.seg == 0x64 && in.rex == 0x48 &&
              in.opsize == 8 && in.adsize == 8 && in.map == INSN_MAP_0F && in.opcode == 0xb1 &&
              in.has_modrm && INSN_MODRM_MOD(in.modrm) == 1 && INSN_MODRM_REG(in.modrm) == 1 &&
              INSN_MODRM_RM(in.modrm) == 4 && in.has_sib && INSN_SIB_SCALE(in.sib) == 2 &&
              INSN_SIB_INDEX(in.sib) == 0 && INSN_SIB_BASE(in.sib) == 2 && in.disp == -8 &&
              in.disp_len == 1 && in.imm_len == 0,
          "lock cmpxchg fields");

    /* rep movsw in 32-bit mode: 66 flips to 16-bit operands */
    ret = insn_decode(&in, (const uint8_t *)"\xf3\x66\xa5", 3, 32);
    CHECK(ret == 0 && in.rep == 0xf3 && in.opsize == 2 && in.adsize == 4 && in.opcode == 0xa5 &&
              in.map == INSN_MAP_1BYTE && !in.has_modrm && in.opsize_prefix,
          "rep movsw fields");

    /* 16-bit: addr32 mov eax, [ebx+0x12345678] with 66 */
    ret = insn_decode(&in, (const uint8_t *)"\x66\x67\x8b\x83\x78\x56\x34\x12", 8, 16);
    CHECK(ret == 0 && in.len == 8 && in.opsize == 4 && in.adsize == 4 && in.disp == 0x12345678 &&
              in.disp_len == 4,
          "16-bit with 66 67");

    /* mov word [bp-2], 0x1234 in 16-bit mode */
    ret = insn_decode(&in, (const uint8_t *)"\xc7\x46\xfe\x34\x12", 5, 16);
    CHECK(ret == 0 && in.len == 5 && in.disp == -2 && in.imm == 0x1234 && in.imm_len == 2 &&
              in.opsize == 2,
          "16-bit disp8 + imm16");

    /* mov rax, imm64 */
    ret = insn_decode(&in, (const uint8_t *)"\x48\xb8\x88\x77\x66\x55\x44\x33\x22\x11", 10, 64);
    CHECK(ret == 0 && in.imm == 0x1122334455667788ULL && in.imm_len == 8, "imm64");

    /* REX followed by a legacy prefix is ignored */
    ret = insn_decode(&in, (const uint8_t *)"\x48\x66\x89\xc8", 4, 64);
    CHECK(ret == 0 && in.rex == 0 && in.opsize == 2, "stale REX ignored");

    /* push in 64-bit mode defaults to 8 bytes; call [rax] too */
    ret = insn_decode(&in, (const uint8_t *)"\x50", 1, 64);
    CHECK(ret == 0 && in.opsize == 8, "push rax: 64-bit operand");
    ret = insn_decode(&in, (const uint8_t *)"\xff\x10", 2, 64);
    CHECK(ret == 0 && in.opsize == 8, "call [rax]: 64-bit operand");
    ret = insn_decode(&in, (const uint8_t *)"\xff\x00", 2, 64);
    CHECK(ret == 0 && in.opsize == 4, "inc dword [rax]: 32-bit operand");

    /* mov cr3, rax: modrm reg = 3 */
    ret = insn_decode(&in, (const uint8_t *)"\x0f\x22\xd8", 3, 64);
    CHECK(ret == 0 && in.map == INSN_MAP_0F && in.opcode == 0x22 && INSN_MODRM_REG(in.modrm) == 3 &&
              INSN_MODRM_RM(in.modrm) == 0,
          "mov cr3, rax");

    /* out dx / in al, imm8 */
    ret = insn_decode(&in, (const uint8_t *)"\xe4\x60", 2, 32);
    CHECK(ret == 0 && in.imm == 0x60 && in.imm_len == 1, "in al, 0x60");

    /* VEX: map and W */
    ret = insn_decode(&in, (const uint8_t *)"\xc4\xe3\xf9\x0f\xc1\x08", 6, 64);
    CHECK(ret == 0 && in.vex == 0xc4 && in.map == INSN_MAP_0F3A && in.opcode == 0x0f &&
              in.imm == 8 && in.opsize == 8,
          "VEX fields");

    /* ENTER packs iw then ib */
    ret = insn_decode(&in, (const uint8_t *)"\xc8\x10\x00\x01", 4, 32);
    CHECK(ret == 0 && in.imm == 0x010010 && in.imm_len == 3, "enter imm");

    CHECK(insn_decode(&in, (const uint8_t *)"\x90", 1, 8) < 0, "bad mode");
}

int main(void)
{
    test_lengths();
    test_fields();
    return check_report();
}
