/*
 * Small x86 instruction decoder: length and the fields an emulator needs.
 *
 * 16-, 32- and 64-bit code (Intel SDM Vol.2 ch.2 "Instruction Format",
 * Appendix A opcode maps; AMD APM Vol.3 ch.1 and Appendix A). Covers the
 * general-purpose, x87, MMX/SSE, 3DNow!, system and string instructions,
 * and the VEX (C4/C5), XOP (8F) and EVEX (62) encodings for length.
 *
 * Operands are not interpreted beyond their sizes: the decoder tells the
 * emulator where the ModRM, SIB, displacement and immediate are.
 */
#ifndef LIB_INSN_H
#define LIB_INSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INSN_MAX_LEN 15 /* SDM Vol.2 §2.3.11 */

/* Opcode maps */
#define INSN_MAP_1BYTE 1
#define INSN_MAP_0F    2
#define INSN_MAP_0F38  3
#define INSN_MAP_0F3A  4
#define INSN_MAP_XOP8  8 /* AMD XOP maps keep their own numbers */
#define INSN_MAP_XOP9  9
#define INSN_MAP_XOPA  10

struct insn {
    uint8_t len;    /* total length in bytes */
    uint8_t mode;   /* 16, 32 or 64 */
    uint8_t opsize; /* effective operand size in bytes 2/4/8 */
    uint8_t adsize; /* effective address size in bytes 2/4/8 */
    uint8_t rex;    /* REX byte or 0 */
    uint8_t seg;    /* segment override prefix byte or 0 */
    uint8_t rep;    /* 0xF2, 0xF3 or 0 */
    bool lock;
    uint8_t map;    /* INSN_MAP_*: 1 = one-byte, 2 = 0F, 3 = 0F38,
				 * 4 = 0F3A (8-10 = XOP) */
    uint8_t opcode; /* the opcode byte within its map */
    bool has_modrm;
    uint8_t modrm;
    bool has_sib;
    uint8_t sib;
    int64_t disp;       /* sign-extended displacement */
    uint8_t disp_len;   /* 0, 1, 2 or 4 */
    uint64_t imm;       /* immediate(s), little-endian, zero-extended;
				 * ENTER iw,ib and far ptr16:off are packed
				 * in encoding order */
    uint8_t imm_len;    /* 0, 1, 2, 3, 4, 6 or 8 */
    uint8_t vex;        /* 0, or the escape byte of a VEX (0xC4 /
				 * 0xC5), XOP (0x8F) or EVEX (0x62) prefix */
    bool opsize_prefix; /* a 66 prefix was seen */
};

/* ModRM: mod (7:6) reg (5:3) rm (2:0); SIB: scale (7:6) index (5:3)
 * base (2:0) (SDM Vol.2 §2.1.5). */
#define INSN_MODRM_MOD(m) ((m) >> 6)
#define INSN_MODRM_REG(m) (((m) >> 3) & 7)
#define INSN_MODRM_RM(m)  ((m)&7)
#define INSN_SIB_SCALE(s) ((s) >> 6)
#define INSN_SIB_INDEX(s) (((s) >> 3) & 7)
#define INSN_SIB_BASE(s)  ((s)&7)
#define INSN_REX_W(r)     (((r) >> 3) & 1)
#define INSN_REX_R(r)     (((r) >> 2) & 1)
#define INSN_REX_X(r)     (((r) >> 1) & 1)
#define INSN_REX_B(r)     ((r)&1)

/* Decodes one instruction from buf (n bytes available, at most 15 used).
 * mode = 16, 32 or 64. Returns 0 with *in filled, or -1 if the bytes are
 * invalid, unsupported or truncated (*in is then unspecified). */
int insn_decode(struct insn *in, const uint8_t *buf, size_t n, unsigned mode);

#endif /* LIB_INSN_H */
