/*
 * Fetching, decoding and the operands of the VM's current instruction
 * (emulate.h).
 */
#include "vmm/core/emulate.h"
#include "hw/x86.h"
#include "lib/walk.h"
#include "vmm/core/gmem.h"
#include "vmm/core/vcpu.h"

size_t emu_fetch(struct vcpu *v, uint8_t bytes[INSN_MAX_LEN])
{
    uint64_t la = vcpu_linear_rip(v);
    size_t n = INSN_MAX_LEN;

    /* The instruction may end before a page that is not mapped. */
    while (n && gmem_read_linear(v, la, bytes, n))
        n = (n > (4096 - (la & 4095))) ? 4096 - (la & 4095) : 0;
    return n;
}

int emu_decode(struct vcpu *v, struct insn *in)
{
    uint8_t bytes[INSN_MAX_LEN];
    size_t n = emu_fetch(v, bytes);
    if (!n || insn_decode(in, bytes, n, vcpu_code_bits(v)))
        return -1;
    return 0;
}

unsigned emu_modrm_reg(const struct insn *in)
{
    return INSN_MODRM_REG(in->modrm) | (INSN_REX_R(in->rex) ? 8 : 0);
}

unsigned emu_modrm_rm(const struct insn *in)
{
    return INSN_MODRM_RM(in->modrm) | (INSN_REX_B(in->rex) ? 8 : 0);
}

static uint64_t size_mask(unsigned size) { return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1; }

uint64_t emu_get_reg(struct vcpu *v, const struct insn *in, unsigned n, unsigned size)
{
    if (size == 1 && !in->rex && n >= 4 && n < 8)
        return (v->gpr[n - 4] >> 8) & 0xff; /* AH, CH, DH, BH */
    return v->gpr[n & 15] & size_mask(size);
}

void emu_set_reg(struct vcpu *v, const struct insn *in, unsigned n, unsigned size, uint64_t val)
{
    if (size == 1 && !in->rex && n >= 4 && n < 8) {
        uint64_t *r = &v->gpr[n - 4];
        *r = (*r & ~0xff00ull) | ((val & 0xff) << 8);
        return;
    }
    uint64_t *r = &v->gpr[n & 15];
    if (size == 4)
        *r = val & 0xffffffffull; /* zero-extends in 64-bit mode, and upper bits are
                                   * not visible outside it */
    else
        *r = (*r & ~size_mask(size)) | (val & size_mask(size));
}

enum seg emu_segment(const struct insn *in, enum seg dflt)
{
    switch (in->seg) {
    case 0x26:
        return SEG_ES;
    case 0x2e:
        return SEG_CS;
    case 0x36:
        return SEG_SS;
    case 0x3e:
        return SEG_DS;
    case 0x64:
        return SEG_FS;
    case 0x65:
        return SEG_GS;
    default:
        return dflt;
    }
}

/* 16-bit addressing forms (SDM Vol.2 Table 2-1). */
static uint64_t ea16(struct vcpu *v, const struct insn *in, bool *stack)
{
    static const int8_t base[8] = {GPR_RBX, GPR_RBX, GPR_RBP, GPR_RBP, -1, -1, GPR_RBP, GPR_RBX};
    static const int8_t index[8] = {GPR_RSI, GPR_RDI, GPR_RSI, GPR_RDI, GPR_RSI, GPR_RDI, -1, -1};
    unsigned mod = INSN_MODRM_MOD(in->modrm), rm = INSN_MODRM_RM(in->modrm);
    uint64_t ea = (uint64_t)in->disp;

    *stack = false;
    if (mod == 0 && rm == 6)
        return ea & 0xffff; /* disp16 alone */
    if (base[rm] >= 0) {
        ea += v->gpr[base[rm]];
        *stack = base[rm] == GPR_RBP;
    }
    if (index[rm] >= 0)
        ea += v->gpr[index[rm]];
    return ea & 0xffff;
}

/* 32- and 64-bit addressing forms (SDM Vol.2 Tables 2-2, 2-3). */
static uint64_t ea32_64(struct vcpu *v, const struct insn *in, bool *stack)
{
    unsigned mod = INSN_MODRM_MOD(in->modrm), rm = INSN_MODRM_RM(in->modrm);
    uint64_t ea = (uint64_t)in->disp;

    *stack = false;
    if (rm == 4) {
        unsigned b = INSN_SIB_BASE(in->sib) | (INSN_REX_B(in->rex) ? 8 : 0);
        unsigned x = INSN_SIB_INDEX(in->sib) | (INSN_REX_X(in->rex) ? 8 : 0);
        if (x != 4) /* RSP cannot be an index: "none" */
            ea += v->gpr[x] << INSN_SIB_SCALE(in->sib);
        if (!(mod == 0 && INSN_SIB_BASE(in->sib) == 5)) {
            ea += v->gpr[b];
            *stack = (b & 7) == GPR_RSP || (b & 7) == GPR_RBP;
        }
    } else if (mod == 0 && rm == 5) {
        if (in->mode == 64) /* RIP-relative: from the next instruction */
            ea += v->ops->get_rip(v) + in->len;
    } else {
        unsigned b = emu_modrm_rm(in);
        ea += v->gpr[b];
        *stack = (b & 7) == GPR_RBP;
    }
    return in->adsize == 4 ? ea & 0xffffffffull : ea;
}

int emu_operand_la(struct vcpu *v, const struct insn *in, unsigned size, uint64_t *la)
{
    struct seg_state s;
    bool stack;
    uint64_t ea = in->adsize == 2 ? ea16(v, in, &stack) : ea32_64(v, in, &stack);
    /* The default segment is SS for an address based on (E/R)BP or
     * (E/R)SP, else DS (SDM Vol.1 §3.7.4). */
    enum seg sr = emu_segment(in, stack ? SEG_SS : SEG_DS);

    v->ops->get_seg(v, sr, &s);
    if (in->mode == 64) {
        /* Only FS and GS have a base in 64-bit mode (APM Vol.2 §4.5.3). */
        *la = (sr == SEG_FS || sr == SEG_GS) ? s.base + ea : ea;
        return 0;
    }
    /* Expand-up data and code segments: the last byte within the limit
     * (APM Vol.2 §4.8.1); a violation is #SS for SS, #GP(0) otherwise. */
    bool expand_down = (s.attrib & SEG_ATTR_S) && !(s.attrib & 8) && (s.attrib & 4);
    if (!expand_down && ea + size - 1 > s.limit) {
        vcpu_fault(v, sr == SEG_SS ? X86_EXC_SS : X86_EXC_GP, 0);
        return -1;
    }
    *la = (s.base + ea) & 0xffffffffull;
    return 0;
}

static bool walk_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
    uint64_t x = 0;
    if (gmem_read(ctx, pa, &x, size))
        return false;
    *val = x;
    return true;
}

/* Translates la for a data access, checking the rights of the path.
 * Returns 0 with *pa, or -1 with #PF queued. */
static int translate(struct vcpu *v, uint64_t la, bool write, uint64_t *pa)
{
    uint64_t cr0 = v->ops->get_cr(v, 0), cr4 = v->ops->get_cr(v, 4);
    enum pg_mode mode = pg_mode_of(cr0, cr4, v->ops->get_efer(v));
    bool user = v->ops->get_cpl(v) == 3;
    uint32_t err = (write ? PF_ERR_W : 0) | (user ? PF_ERR_U : 0);
    struct pg_walk w;

    if (mode == PG_MODE_NONE) {
        *pa = la;
        return 0;
    }
    if (pg_walk(mode, v->ops->get_cr(v, 3), la, cr4 & CR4_PSE, walk_read, v, &w)) {
        vcpu_page_fault(v, la, err);
        return -1;
    }
    /* APM Vol.2 §5.6: user accesses need U at every level; writes need
     * R/W at every level from CPL 3, and from CPL 0-2 when CR0.WP is set;
     * with CR4.SMAP, supervisor data accesses to user pages fault unless
     * RFLAGS.AC (§5.6.4). */
    bool denied = (user && !w.user) || (write && !w.writable && (user || (cr0 & CR0_WP))) ||
                  (!user && w.user && (cr4 & CR4_SMAP) && !(v->ops->get_rflags(v) & RFLAGS_AC));
    if (denied) {
        vcpu_page_fault(v, la, err | PF_ERR_P);
        return -1;
    }
    *pa = w.pa;
    return 0;
}

/* An access of at most 8 bytes touches two pages at most; both are
 * translated before any byte moves, so a fault leaves memory untouched. */
static int access(struct vcpu *v, uint64_t la, uint8_t *buf, unsigned size, bool write)
{
    unsigned first = 4096 - (unsigned)(la & 4095);
    uint64_t pa[2];

    if (first > size)
        first = size;
    if (translate(v, la, write, &pa[0]) ||
        (first < size && translate(v, la + first, write, &pa[1])))
        return -1;
    for (unsigned i = 0, part = first; i < 2 && size; i++, part = size) {
        if (write)
            gmem_store(v, pa[i], buf, part);
        else
            gmem_load(v, pa[i], buf, part);
        buf += part;
        size -= part;
    }
    return 0;
}

int emu_read(struct vcpu *v, uint64_t la, void *buf, unsigned size)
{
    if (size > 8)
        return -1;
    return access(v, la, buf, size, false);
}

int emu_write(struct vcpu *v, uint64_t la, const void *buf, unsigned size)
{
    if (size > 8)
        return -1;
    return access(v, la, (uint8_t *)buf, size, true);
}
