/*
 * x86 instruction decoder (see lib/insn.h).
 *
 * Decoding follows SDM Vol.2 §2.1 / APM Vol.3 §1.1:
 *   legacy prefixes, REX (64-bit mode only, last before the opcode),
 *   or a VEX / XOP / EVEX prefix; opcode (1-3 bytes); ModRM; SIB;
 *   displacement; immediate.
 * The per-opcode facts needed for the length (ModRM present? immediate
 * kind?) come from two tables indexed by opcode byte, built with
 * designated range initializers.
 */
#include "lib/insn.h"
#include "lib/compiler.h"
#include "lib/mem.h"

/* Immediate kinds (low 4 bits of an attribute) */
enum {
    IMM_NONE,
    IMM_B,     /* ib */
    IMM_W,     /* iw */
    IMM_Z,     /* iw / id by operand size (id for 64-bit too) */
    IMM_V,     /* iw / id / iq by operand size (B8+r with REX.W) */
    IMM_MOFFS, /* moffs: 2 / 4 / 8 by address size (A0-A3) */
    IMM_PTR,   /* far ptr16:16 / ptr16:32 (9A, EA) */
    IMM_WB,    /* iw, ib (C8 ENTER) */
    IMM_GRP3,  /* F6/F7: ib / iz only for /0 and /1 (TEST) */
    IMM_SSE4A, /* 0F 78: ib, ib with a 66 / F2 prefix (EXTRQ /
			 * INSERTQ, AMD SSE4a), none otherwise (VMREAD) */
};

#define A_IMM_MASK 0x000f
#define A_MODRM    0x0010 /* a ModRM byte follows the opcode */
#define A_INVALID  0x0020 /* #UD in every mode */
#define A_INV64    0x0040 /* #UD in 64-bit mode */
#define A_D64                                                                                      \
    0x0080 /* operand size defaults to 64 bits in
				 * 64-bit mode (SDM Vol.2 §2.2.1.7) */
#define A_MODRM_REG                                                                                \
    0x0100 /* ModRM.mod is ignored and taken as 11b:
				 * MOV to/from CR/DR (SDM Vol.2 MOV-Control
				 * Registers, "mod bits are ignored") */

#define M  A_MODRM
#define IB IMM_B
#define IZ IMM_Z

/* One-byte opcode map (SDM Vol.2 Table A-2). Prefix bytes and the 0F
 * escape are handled before the table is consulted. */
static const uint16_t insn_map1[256] = {
    [0x00 ... 0x03] = M,
    [0x04] = IB,
    [0x05] = IZ,
    [0x06 ... 0x07] = A_INV64,
    [0x08 ... 0x0b] = M,
    [0x0c] = IB,
    [0x0d] = IZ,
    [0x0e] = A_INV64,
    [0x10 ... 0x13] = M,
    [0x14] = IB,
    [0x15] = IZ,
    [0x16 ... 0x17] = A_INV64,
    [0x18 ... 0x1b] = M,
    [0x1c] = IB,
    [0x1d] = IZ,
    [0x1e ... 0x1f] = A_INV64,
    [0x20 ... 0x23] = M,
    [0x24] = IB,
    [0x25] = IZ,
    [0x27] = A_INV64,
    [0x28 ... 0x2b] = M,
    [0x2c] = IB,
    [0x2d] = IZ,
    [0x2f] = A_INV64,
    [0x30 ... 0x33] = M,
    [0x34] = IB,
    [0x35] = IZ,
    [0x37] = A_INV64,
    [0x38 ... 0x3b] = M,
    [0x3c] = IB,
    [0x3d] = IZ,
    [0x3f] = A_INV64,
    [0x50 ... 0x5f] = A_D64,
    [0x60 ... 0x61] = A_INV64,
    [0x62] = M | A_INV64, /* BOUND; EVEX is handled earlier */
    [0x63] = M,           /* ARPL / MOVSXD */
    [0x68] = IZ | A_D64,
    [0x69] = M | IZ,
    [0x6a] = IB | A_D64,
    [0x6b] = M | IB,
    [0x70 ... 0x7f] = IB | A_D64,
    [0x80] = M | IB,
    [0x81] = M | IZ,
    [0x82] = M | IB | A_INV64,
    [0x83] = M | IB,
    [0x84 ... 0x8e] = M,
    [0x8f] = M | A_D64, /* POP Ev; XOP is handled earlier */
    [0x9a] = IMM_PTR | A_INV64,
    [0x9c ... 0x9d] = A_D64,
    [0xa0 ... 0xa3] = IMM_MOFFS,
    [0xa8] = IB,
    [0xa9] = IZ,
    [0xb0 ... 0xb7] = IB,
    [0xb8 ... 0xbf] = IMM_V,
    [0xc0 ... 0xc1] = M | IB,
    [0xc2] = IMM_W | A_D64,
    [0xc3] = A_D64,
    [0xc4 ... 0xc5] = M | A_INV64, /* LES / LDS; VEX handled earlier */
    [0xc6] = M | IB,
    [0xc7] = M | IZ,
    [0xc8] = IMM_WB | A_D64,
    [0xc9] = A_D64,
    [0xca] = IMM_W,
    [0xcd] = IB,
    [0xce] = A_INV64,
    [0xd0 ... 0xd3] = M,
    [0xd4 ... 0xd5] = IB | A_INV64,
    [0xd6] = A_INV64,    /* SALC */
    [0xd8 ... 0xdf] = M, /* x87 escapes */
    [0xe0 ... 0xe3] = IB | A_D64,
    [0xe4 ... 0xe7] = IB,
    [0xe8 ... 0xe9] = IZ | A_D64,
    [0xea] = IMM_PTR | A_INV64,
    [0xeb] = IB | A_D64,
    [0xf6 ... 0xf7] = M | IMM_GRP3,
    [0xfe ... 0xff] = M,
};

/* Two-byte opcode map 0F xx (SDM Vol.2 Table A-3; APM Vol.3 Table A-4).
 * 0F 38 and 0F 3A escape to the three-byte maps. */
static const uint16_t insn_map0f[256] = {
    [0x00 ... 0x03] = M, /* groups 6, 7 (incl. SVM 0F 01 D8-DF),
					 * LAR, LSL */
    [0x04] = A_INVALID,
    [0x0a] = A_INVALID,
    [0x0c] = A_INVALID,
    [0x0d] = M,          /* PREFETCH group */
    [0x0f] = M | IB,     /* 3DNow!: the ib is the opcode suffix */
    [0x10 ... 0x1f] = M, /* SSE moves, hint NOPs, ENDBR */
    [0x20 ... 0x23] = M | A_MODRM_REG,
    [0x24 ... 0x27] = A_INVALID,
    [0x28 ... 0x2f] = M,
    [0x36] = A_INVALID,
    [0x39] = A_INVALID,
    [0x3b ... 0x3f] = A_INVALID,
    [0x40 ... 0x6f] = M,
    [0x70 ... 0x73] = M | IB,
    [0x74 ... 0x76] = M,
    [0x78] = M | IMM_SSE4A,
    [0x79] = M,
    [0x7a ... 0x7b] = A_INVALID,
    [0x7c ... 0x7f] = M,
    [0x80 ... 0x8f] = IZ | A_D64, /* Jcc rel16/32 */
    [0x90 ... 0x9f] = M,
    [0xa0 ... 0xa1] = A_D64,
    [0xa3] = M,
    [0xa4] = M | IB,
    [0xa5] = M,
    [0xa6 ... 0xa7] = M, /* VIA PadLock (register forms) */
    [0xa8 ... 0xa9] = A_D64,
    [0xab] = M,
    [0xac] = M | IB,
    [0xad ... 0xaf] = M,
    [0xb0 ... 0xb9] = M, /* ..., B9 UD1 /r */
    [0xba] = M | IB,
    [0xbb ... 0xc1] = M,
    [0xc2] = M | IB,
    [0xc3] = M,
    [0xc4 ... 0xc6] = M | IB,
    [0xc7] = M,
    [0xd0 ... 0xfe] = M,
    [0xff] = IMM_NONE, /* UD0: no ModRM on AMD (APM Vol.3
					 * "UD0"); Intel SDM gives it one */
};

#undef M
#undef IB
#undef IZ

struct insn_cursor {
    const uint8_t *buf;
    size_t n; /* min(available, 15) */
    size_t pos;
};

/* Returns true and the next byte, false if the instruction would exceed
 * the buffer or 15 bytes. */
static bool insn_next(struct insn_cursor *c, uint8_t *b)
{
    if (c->pos >= c->n)
        return false;
    *b = c->buf[c->pos++];
    return true;
}

/* Returns true and the byte at pos + ahead without consuming it. */
static bool insn_peek(const struct insn_cursor *c, size_t ahead, uint8_t *b)
{
    if (c->pos + ahead >= c->n)
        return false;
    *b = c->buf[c->pos + ahead];
    return true;
}

/* Returns true and a little-endian value of len bytes (zero-extended). */
static bool insn_read_le(struct insn_cursor *c, unsigned len, uint64_t *v)
{
    uint64_t val = 0;

    for (unsigned i = 0; i < len; i++) {
        uint8_t b;

        if (!insn_next(c, &b))
            return false;
        val |= (uint64_t)b << (8 * i);
    }
    *v = val;
    return true;
}

/* Returns true after reading ModRM, SIB and displacement per the address
 * size (SDM Vol.2 Tables 2-1 (16-bit), 2-2 (32-bit), 2-3 (SIB); in 64-bit
 * mode mod=00 rm=101 is RIP-relative disp32, §2.2.1.6). reg_only: the
 * mod field is ignored (MOV CR/DR), no SIB or displacement. */
static bool insn_modrm(struct insn *in, struct insn_cursor *c, bool reg_only)
{
    unsigned mod, rm;
    uint64_t d;

    if (!insn_next(c, &in->modrm))
        return false;
    in->has_modrm = true;
    mod = INSN_MODRM_MOD(in->modrm);
    rm = INSN_MODRM_RM(in->modrm);
    if (reg_only || mod == 3)
        return true;

    if (in->adsize == 2) {
        if (mod == 1)
            in->disp_len = 1;
        else if (mod == 2 || rm == 6)
            in->disp_len = 2;
    } else {
        if (rm == 4) {
            if (!insn_next(c, &in->sib))
                return false;
            in->has_sib = true;
            rm = INSN_SIB_BASE(in->sib); /* base 101: disp32 */
        }
        if (mod == 1)
            in->disp_len = 1;
        else if (mod == 2 || rm == 5)
            in->disp_len = 4;
    }
    if (!insn_read_le(c, in->disp_len, &d))
        return false;
    if (in->disp_len == 1)
        in->disp = (int8_t)d;
    else if (in->disp_len == 2)
        in->disp = (int16_t)d;
    else if (in->disp_len == 4)
        in->disp = (int32_t)d;
    return true;
}

/* Returns the immediate length of kind `imm` for the decoded prefixes and
 * ModRM, or -1 if the kind is not valid here. */
static int insn_imm_len(const struct insn *in, unsigned imm)
{
    switch (imm) {
    case IMM_NONE:
        return 0;
    case IMM_B:
        return 1;
    case IMM_W:
        return 2;
    case IMM_Z:
        /* In 64-bit mode AMD honours a 66 prefix on near branches
		 * (rel16, APM Vol.3 §1.2.2 / JMP "Near"), where Intel
		 * ignores it; we follow AMD, the CPU this VMM runs on. */
        return in->opsize == 2 ? 2 : 4;
    case IMM_V:
        return in->opsize;
    case IMM_MOFFS:
        return in->adsize;
    case IMM_PTR:
        return in->opsize == 2 ? 4 : 6;
    case IMM_WB:
        return 3;
    case IMM_GRP3:
        if (INSN_MODRM_REG(in->modrm) > 1)
            return 0;
        return in->opcode == 0xf6 ? 1 : (in->opsize == 2 ? 2 : 4);
    case IMM_SSE4A:
        return (in->rep == 0xf2 || in->opsize_prefix) ? 2 : 0;
    }
    return -1;
}

/* Returns true after decoding a VEX (C4/C5), XOP (8F) or EVEX (62)
 * prefix, the opcode, ModRM and immediate (SDM Vol.2 §2.3, §2.6;
 * APM Vol.3 §1.8 for XOP). Their immediates: ib for map 0F3A and for the
 * 0F-map shuffles / compares (70-73, C2, C4-C6), ib for XOP map 8, id
 * for XOP map A, none otherwise. */
static bool insn_vex(struct insn *in, struct insn_cursor *c, uint8_t esc)
{
    uint8_t p0 = 0, p1 = 0, p2 = 0;
    unsigned map, imm = 0;
    uint64_t v;

    /* VEX/XOP/EVEX after 66, F2, F3, F0 or REX is #UD (SDM §2.3.2) */
    if (in->rex || in->rep || in->lock || in->opsize_prefix)
        return false;
    in->vex = esc;
    if (!insn_next(c, &p0))
        return false;
    if (esc == 0xc5) {
        map = 1;
    } else if (esc == 0x62) {
        if (!insn_next(c, &p1) || !insn_next(c, &p2))
            return false;
        if ((p0 & 0x08) || !(p1 & 0x04))
            return false; /* fixed EVEX bits */
        map = p0 & 0x07;
        if (map < 1 || map > 3)
            return false;
    } else {
        map = p0 & 0x1f;
        if (!insn_next(c, &p1))
            return false;
        if (esc == 0xc4 && (map < 1 || map > 3))
            return false;
        if (esc == 0x8f && (map < 8 || map > 10))
            return false;
    }
    if (esc != 0xc5 && (p1 & 0x80) && in->mode == 64)
        in->opsize = 8; /* VEX.W / XOP.W / EVEX.W */
    in->map = esc == 0x8f ? map : map + 1;
    if (!insn_next(c, &in->opcode))
        return false;

    /* VZEROUPPER / VZEROALL (VEX 0F 77) alone have no ModRM */
    if (!(esc != 0x62 && esc != 0x8f && map == 1 && in->opcode == 0x77))
        if (!insn_modrm(in, c, false))
            return false;

    if (esc == 0x8f)
        imm = map == 8 ? 1 : map == 10 ? 4 : 0;
    else if (map == 3)
        imm = 1;
    else if (map == 1 && ((in->opcode >= 0x70 && in->opcode <= 0x73) || in->opcode == 0xc2 ||
                          (in->opcode >= 0xc4 && in->opcode <= 0xc6)))
        imm = 1;
    in->imm_len = imm;
    if (!insn_read_le(c, imm, &v))
        return false;
    in->imm = v;
    return true;
}

/* Returns 0 with *in describing the instruction at buf, -1 if invalid,
 * unsupported or truncated. */
int insn_decode(struct insn *in, const uint8_t *buf, size_t n, unsigned mode)
{
    struct insn_cursor c = {buf, n < INSN_MAX_LEN ? n : INSN_MAX_LEN, 0};
    bool opsz = false, adsz = false;
    uint16_t attr;
    uint8_t b;
    int imm;

    lib_memset(in, 0, sizeof(*in));
    if (mode != 16 && mode != 32 && mode != 64)
        return -1;
    in->mode = (uint8_t)mode;

    /* Legacy prefixes in any order, then REX in 64-bit mode. A REX
	 * followed by another prefix is ignored (SDM Vol.2 §2.2.1). */
    for (;;) {
        if (!insn_next(&c, &b))
            return -1;
        switch (b) {
        case 0xf0:
            in->lock = true;
            in->rex = 0;
            continue;
        case 0xf2:
        case 0xf3:
            in->rep = b;
            in->rex = 0;
            continue;
        case 0x26:
        case 0x2e:
        case 0x36:
        case 0x3e:
        case 0x64:
        case 0x65:
            in->seg = b;
            in->rex = 0;
            continue;
        case 0x66:
            opsz = true;
            in->rex = 0;
            continue;
        case 0x67:
            adsz = true;
            in->rex = 0;
            continue;
        default:
            break;
        }
        if (mode == 64 && (b & 0xf0) == 0x40) {
            in->rex = b;
            continue;
        }
        break;
    }
    in->opsize_prefix = opsz;

    /* Effective sizes (SDM Vol.2 §2.2.1.2 Table 2-4 for 64-bit mode) */
    if (mode == 16) {
        in->opsize = opsz ? 4 : 2;
        in->adsize = adsz ? 4 : 2;
    } else if (mode == 32) {
        in->opsize = opsz ? 2 : 4;
        in->adsize = adsz ? 2 : 4;
    } else {
        in->opsize = INSN_REX_W(in->rex) ? 8 : opsz ? 2 : 4;
        in->adsize = adsz ? 4 : 8;
    }

    /* VEX / XOP / EVEX: in 16/32-bit mode C4, C5 and 62 are LES, LDS and
	 * BOUND unless the next byte has mod = 11b; 8F is POP Ev unless the
	 * map field is >= 8 (its ModRM.reg would be non-zero). */
    if (b == 0xc4 || b == 0xc5 || b == 0x62 || b == 0x8f) {
        uint8_t nb;

        if (!insn_peek(&c, 0, &nb))
            return -1;
        if ((b == 0x8f && (nb & 0x1f) >= 8) || (b != 0x8f && (mode == 64 || nb >= 0xc0))) {
            if (!insn_vex(in, &c, b))
                return -1;
            in->len = (uint8_t)c.pos;
            return 0;
        }
    }

    in->map = INSN_MAP_1BYTE;
    attr = insn_map1[b];
    if (b == 0x0f) {
        if (!insn_next(&c, &b))
            return -1;
        if (b == 0x38 || b == 0x3a) {
            /* three-byte maps: all have ModRM; 0F 3A adds an ib
			 * (SDM Vol.2 Tables) */
            in->map = b == 0x38 ? INSN_MAP_0F38 : INSN_MAP_0F3A;
            attr = A_MODRM | (b == 0x3a ? IMM_B : IMM_NONE);
            if (!insn_next(&c, &b))
                return -1;
        } else {
            in->map = INSN_MAP_0F;
            attr = insn_map0f[b];
        }
    }
    in->opcode = b;

    if ((attr & A_INVALID) || (mode == 64 && (attr & A_INV64)))
        return -1;
    if (mode == 64 && (attr & A_D64) && in->opsize == 4)
        in->opsize = 8;

    if (attr & A_MODRM) {
        if (!insn_modrm(in, &c, attr & A_MODRM_REG))
            return -1;
        /* FF /2 /4 /6 (CALL, JMP, PUSH near) default to 64 bits */
        if (mode == 64 && in->map == INSN_MAP_1BYTE && b == 0xff &&
            (INSN_MODRM_REG(in->modrm) & 1) == 0 && INSN_MODRM_REG(in->modrm) != 0 &&
            in->opsize == 4)
            in->opsize = 8;
    }

    imm = insn_imm_len(in, attr & A_IMM_MASK);
    if (imm < 0)
        return -1;
    in->imm_len = (uint8_t)imm;
    if (!insn_read_le(&c, (unsigned)imm, &in->imm))
        return -1;
    in->len = (uint8_t)c.pos;
    return 0;
}
