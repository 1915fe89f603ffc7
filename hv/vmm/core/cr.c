/*
 * Control registers. With nested paging the VM's CR0/CR3/CR4 are its own,
 * and every mode it goes through (real, unreal, protected, PAE, long) runs
 * on the hardware. The VMM intercepts CR0 writes (the switch in and out of
 * real mode moves the INT n intercept: intn.c), and CR3/CR4 writes and CR
 * reads only for a client that filters them. An intercepted write is
 * emulated with every check the CPU makes: one that breaks a rule faults
 * with RIP at the instruction and no effect (APM Vol.3 "MOV CRn", "LMSW",
 * "CLTS", "SMSW"; APM Vol.2 §3.1, §14.6; SDM Vol.2 "MOV—Move to/from
 * Control Registers").
 */
#include "common/log.h"
#include "hw/x86.h"
#include "vmm/core/emulate.h"
#include "vmm/core/exits.h"
#include "vmm/core/hooks.h"
#include "vmm/core/regs.h"
#include "vmm/core/vcpu.h"

#define CR0_FLUSH_BITS (CR0_PG | CR0_WP | CR0_CD | CR0_NW | CR0_PE)
#define CR4_FLUSH_BITS (CR4_PGE | CR4_PAE | CR4_PSE | CR4_PCIDE | CR4_SMEP | CR4_SMAP | CR4_LA57)

static bool in_64bit_code(struct vcpu *v) { return vcpu_code_bits(v) == 64; }

/* CR0: bits 63:32 must be zero; the reserved bits of 31:0 are ignored. */
static const char *check_cr0(struct vcpu *v, uint64_t val)
{
    uint64_t old = v->ops->get_cr(v, 0), efer = v->ops->get_efer(v);

    if (val >> 32)
        return "CR0[63:32] is reserved";
    if ((val & CR0_PG) && !(val & CR0_PE))
        return "CR0.PG without CR0.PE";
    if ((val & CR0_NW) && !(val & CR0_CD))
        return "CR0.NW without CR0.CD";
    if ((val & CR0_PG) && !(old & CR0_PG) && (efer & EFER_LME)) {
        if (!(v->ops->get_cr(v, 4) & CR4_PAE))
            return "long mode needs CR4.PAE";
        struct seg_state cs;
        v->ops->get_seg(v, SEG_CS, &cs);
        if (cs.attrib & SEG_ATTR_L)
            return "long mode cannot be entered with CS.L set";
    }
    if (!(val & CR0_PG) && (old & CR0_PG)) {
        if (in_64bit_code(v))
            return "paging cannot be turned off in 64-bit mode";
        if (v->ops->get_cr(v, 4) & CR4_PCIDE)
            return "paging cannot be turned off with CR4.PCIDE";
    }
    if (!(val & CR0_WP) && (v->ops->get_cr(v, 4) & CR4_CET))
        return "CR0.WP cannot be cleared with CR4.CET";
    return 0;
}

static const char *check_cr3(struct vcpu *v, uint64_t val)
{
    /* Long mode: bits above the physical address width are reserved,
     * except the no-flush bit 63 with PCIDE (APM Vol.2 §3.1.2). */
    if (v->ops->get_efer(v) & EFER_LMA) {
        uint64_t bits = val & ~CR3_PCID_NOFLUSH;
        if (v->vm->caps.maxphyaddr < 64 && (bits >> v->vm->caps.maxphyaddr))
            return "CR3 bits above MAXPHYADDR are reserved";
        if ((val & CR3_PCID_NOFLUSH) && !(v->ops->get_cr(v, 4) & CR4_PCIDE))
            return "CR3[63] is reserved without CR4.PCIDE";
    }
    return 0;
}

static const char *check_cr4(struct vcpu *v, uint64_t val)
{
    uint64_t old = v->ops->get_cr(v, 4);
    bool lma = v->ops->get_efer(v) & EFER_LMA;

    if (val & ~v->vm->caps.cr4_allowed)
        return "a CR4 bit this CPU does not have";
    if (lma && !(val & CR4_PAE))
        return "CR4.PAE cannot be cleared in long mode";
    if (lma && ((old ^ val) & CR4_LA57))
        return "CR4.LA57 cannot change in long mode";
    if ((val & CR4_PCIDE) && !(old & CR4_PCIDE) && (!lma || (v->ops->get_cr(v, 3) & 0xfff)))
        return "CR4.PCIDE needs long mode and CR3[11:0] = 0";
    if ((val & CR4_CET) && !(v->ops->get_cr(v, 0) & CR0_WP))
        return "CR4.CET needs CR0.WP";
    return 0;
}

const char *cr_check(struct vcpu *v, unsigned cr, uint64_t val)
{
    switch (cr) {
    case 0:
        return check_cr0(v, val);
    case 2:
        return 0;
    case 3:
        return check_cr3(v, val);
    case 4:
        return check_cr4(v, val);
    default:
        return "no such control register";
    }
}

static void set_cr0(struct vcpu *v, uint64_t val)
{
    uint64_t old = v->ops->get_cr(v, 0), efer = v->ops->get_efer(v);

    val |= CR0_ET; /* hard-wired to 1; the reserved bits of 31:0 are kept as written */
    /* EFER.LMA follows paging with LME (APM Vol.2 §14.6.1). */
    if ((val & CR0_PG) && !(old & CR0_PG) && (efer & EFER_LME))
        v->ops->set_efer(v, efer | EFER_LMA);
    if (!(val & CR0_PG) && (old & CR0_PG) && (efer & EFER_LMA))
        v->ops->set_efer(v, efer & ~EFER_LMA);
    v->ops->set_cr(v, 0, val);
    if ((old ^ val) & CR0_FLUSH_BITS)
        v->ops->flush_tlb(v);
    if ((val & CR0_CD) && !(old & CR0_CD))
        __asm__ volatile("wbinvd"); /* APM Vol.2 §7.6.2: caches flushed when disabled */
    if ((old ^ val) & CR0_PE)
        vcpu_intercepts_changed(v); /* INT n in real mode */
}

void cr_set(struct vcpu *v, unsigned cr, uint64_t val)
{
    uint64_t old = v->ops->get_cr(v, cr);
    switch (cr) {
    case 0:
        set_cr0(v, val);
        break;
    case 3:
        /* The no-flush bit is not stored; flushing anyway is allowed. */
        v->ops->set_cr(v, 3, val & ~CR3_PCID_NOFLUSH);
        v->ops->flush_tlb(v);
        break;
    case 4:
        v->ops->set_cr(v, 4, val);
        if ((old ^ val) & CR4_FLUSH_BITS)
            v->ops->flush_tlb(v);
        break;
    default:
        v->ops->set_cr(v, cr, val);
        return;
    }
    struct vm_event e = {.kind = VME_CR_WRITE, .cr = {cr, old, v->ops->get_cr(v, cr)}};
    vm_notify(v, &e);
}

/* MOV CR needs CPL 0 (the hardware checks it before the intercept; an
 * emulation that could run at another CPL checks it again). */
static bool privileged(struct vcpu *v)
{
    if (v->ops->get_cpl(v) == 0 && !(v->ops->get_rflags(v) & RFLAGS_VM))
        return true;
    vcpu_gp(v);
    return false;
}

/* Applies a write of the instruction `in`, or faults it. */
static int write_or_fault(struct vcpu *v, const struct insn *in, unsigned cr, uint64_t val)
{
    if (cr_check(v, cr, val)) {
        vcpu_gp(v);
        return 0;
    }
    cr_set(v, cr, val);
    vcpu_complete(v, in->len);
    return 0;
}

/* LMSW loads CR0[3:0] and cannot clear PE (APM Vol.3 "LMSW"). */
static uint64_t lmsw_value(struct vcpu *v, uint16_t msw)
{
    uint64_t cr0 = v->ops->get_cr(v, 0);
    return (cr0 & ~0xeull) | (msw & 0xe) | ((cr0 | msw) & CR0_PE);
}

int exit_cr_write(struct vcpu *v, unsigned cr)
{
    struct insn in;

    if (emu_decode(v, &in)) {
        vcpu_cannot_emulate(v, "a control-register write (instruction not decodable)");
        return 0;
    }
    if (in.map == 2 && in.opcode == 0x22) {
        /* MOV CRn, reg (0F 22 /r): the mod field is ignored, the operand is
         * always a register, 64 bits in 64-bit mode, else 32. */
        uint64_t val = v->gpr[emu_modrm_rm(&in)];
        if (in.mode != 64)
            val &= 0xffffffffull;
        if (emu_modrm_reg(&in) != cr)
            return -1; /* not the instruction that exited: changed under us */
        if (!privileged(v))
            return 0;
        return write_or_fault(v, &in, cr, val);
    }
    if (in.map == 2 && in.opcode == 0x01 && INSN_MODRM_REG(in.modrm) == 6 && cr == 0) {
        /* LMSW r/m16 */
        uint16_t msw;
        if (!privileged(v))
            return 0;
        if (INSN_MODRM_MOD(in.modrm) == 3) {
            msw = (uint16_t)v->gpr[emu_modrm_rm(&in)];
        } else {
            uint64_t la;
            if (emu_operand_la(v, &in, 2, &la) || emu_read(v, la, &msw, 2))
                return 0; /* the fault is queued */
        }
        return write_or_fault(v, &in, 0, lmsw_value(v, msw));
    }
    if (in.map == 2 && in.opcode == 0x06 && cr == 0) {
        /* CLTS */
        if (!privileged(v))
            return 0;
        return write_or_fault(v, &in, 0, v->ops->get_cr(v, 0) & ~CR0_TS);
    }
    vcpu_cannot_emulate(v, "a control-register write by an unknown instruction");
    return 0;
}

int exit_cr_read(struct vcpu *v, unsigned cr)
{
    struct insn in;
    uint64_t val = v->ops->get_cr(v, cr);

    if (emu_decode(v, &in)) {
        vcpu_cannot_emulate(v, "a control-register read (instruction not decodable)");
        return 0;
    }
    if (in.map == 2 && in.opcode == 0x20) {
        /* MOV reg, CRn (0F 20 /r) */
        if (emu_modrm_reg(&in) != cr)
            return -1;
        if (!privileged(v))
            return 0;
        v->gpr[emu_modrm_rm(&in)] = in.mode == 64 ? val : val & 0xffffffffull;
    } else if (in.map == 2 && in.opcode == 0x01 && INSN_MODRM_REG(in.modrm) == 4 && cr == 0) {
        /* SMSW r/m (0F 01 /4): a register gets CR0 at the operand size, a
         * memory operand its low 16 bits; CPL 3 faults with CR4.UMIP. */
        if ((v->ops->get_cr(v, 4) & CR4_UMIP) && v->ops->get_cpl(v) > 0) {
            vcpu_gp(v);
            return 0;
        }
        if (INSN_MODRM_MOD(in.modrm) == 3) {
            emu_set_reg(v, &in, emu_modrm_rm(&in), in.opsize, val);
        } else {
            uint64_t la;
            uint16_t msw = (uint16_t)val;
            if (emu_operand_la(v, &in, 2, &la) || emu_write(v, la, &msw, 2))
                return 0;
        }
    } else {
        vcpu_cannot_emulate(v, "a control-register read by an unknown instruction");
        return 0;
    }
    vcpu_complete(v, in.len);
    struct vm_event e = {.kind = VME_CR_READ, .cr = {cr, val, val}};
    vm_notify(v, &e);
    return 0;
}
