/*
 * Control-register writes. With nested paging the VM's CR0/CR3/CR4 are its
 * own, so every mode the VM goes through (real, unreal, protected, PAE,
 * long) runs on the hardware; the VMM emulates the write, keeps EFER.LMA as
 * the CPU would, flushes the TLB where the architecture does, and switches
 * the real-mode-only INTn intercept. Paged real mode is not needed: SVM
 * runs a real-mode guest with nested paging on (APM Vol.2 §15.19).
 */
#include "common/log.h"
#include "hw/x86.h"
#include "vmm/control/control.h"
#include "vmm/core/emulate.h"
#include "vmm/core/policy.h"

#define CR0_FLUSH_BITS   (CR0_PG | CR0_WP | CR0_CD | CR0_NW | CR0_PE)
#define CR4_FLUSH_BITS   (CR4_PGE | CR4_PAE | CR4_PSE | CR4_PCIDE | CR4_SMEP | CR4_SMAP)
#define CR3_PCID_NOFLUSH (1ull << 63)

static int gp(struct vcpu *v)
{
    v->ops->inject_exception(v, X86_EXC_GP, true, 0);
    return 0;
}

/* APM Vol.2 §3.1.1 and §14.6: checks a MOV to CR0 makes. */
static int write_cr0(struct vcpu *v, uint64_t val)
{
    uint64_t old = v->ops->get_cr(v, 0), efer = v->ops->get_efer(v);

    if (val >> 32)
        return gp(v);
    val |= CR0_ET; /* hard-wired to 1 */
    if ((val & CR0_PG) && !(val & CR0_PE))
        return gp(v);
    if ((val & CR0_NW) && !(val & CR0_CD))
        return gp(v);
    if ((val & CR0_PG) && !(old & CR0_PG) && (efer & EFER_LME)) {
        if (!(v->ops->get_cr(v, 4) & CR4_PAE))
            return gp(v);
        v->ops->set_efer(v, efer | EFER_LMA);
    }
    if (!(val & CR0_PG) && (old & CR0_PG) && (efer & EFER_LMA))
        v->ops->set_efer(v, efer & ~EFER_LMA);
    v->ops->set_cr(v, 0, val);
    if ((old ^ val) & CR0_FLUSH_BITS)
        v->ops->flush_tlb(v);
    if ((val & CR0_CD) && !(old & CR0_CD))
        __asm__ volatile("wbinvd"); /* §7.6.2: caches are flushed when disabled */
    if ((old ^ val) & CR0_PE)       /* real mode, or the stub's breakpoints and steps */
        v->ops->set_intercept(v, ICPT_INTN, 0, !(val & CR0_PE) || control_wants_intn());
    return 0;
}

static int write_cr4(struct vcpu *v, uint64_t val)
{
    uint64_t old = v->ops->get_cr(v, 4);
    if ((v->ops->get_efer(v) & EFER_LMA) && !(val & CR4_PAE))
        return gp(v); /* PAE cannot be cleared in long mode */
    if (val & (1ull << 13))
        return gp(v); /* VMXE: reserved on AMD */
    v->ops->set_cr(v, 4, val);
    if ((old ^ val) & CR4_FLUSH_BITS)
        v->ops->flush_tlb(v);
    return 0;
}

int cr_write(struct vcpu *v, unsigned n, uint64_t val)
{
    uint64_t old = v->ops->get_cr(v, n);
    int r;
    switch (n) {
    case 0:
        r = write_cr0(v, val);
        break;
    case 3:
        /* With CR4.PCIDE, bit 63 asks not to flush; it is not stored. We flush
         * all the same, which is allowed. */
        v->ops->set_cr(v, 3, val & ~CR3_PCID_NOFLUSH);
        v->ops->flush_tlb(v);
        r = 0;
        break;
    case 4:
        r = write_cr4(v, val);
        break;
    default:
        return -1;
    }
    if (!r)
        control_note_cr_write(v, n, old, v->ops->get_cr(v, n));
    return r;
}

int cr_read_emulate(struct vcpu *v)
{
    struct insn in;
    if (emu_decode_current(v, &in) || in.map != 2 || in.opcode != 0x20)
        return -1;
    unsigned cr = INSN_MODRM_REG(in.modrm) | (INSN_REX_R(in.rex) ? 8 : 0);
    unsigned reg = INSN_MODRM_RM(in.modrm) | (INSN_REX_B(in.rex) ? 8 : 0);
    if (cr != 0 && cr != 2 && cr != 3 && cr != 4)
        return -1;
    uint64_t val = v->ops->get_cr(v, cr);
    v->gpr[reg] = in.mode == 64 ? val : (val & 0xffffffffull);
    vcpu_advance(v, in.len);
    control_note_cr_read(v, cr);
    return 0;
}

int cr_write_emulate(struct vcpu *v)
{
    struct insn in;
    uint64_t val;
    unsigned cr;

    if (emu_decode_current(v, &in))
        return -1;
    if (in.map == 2 && in.opcode == 0x22 && INSN_MODRM_MOD(in.modrm) == 3) {
        /* MOV CRn, reg (0F 22 /r): always a register operand, 32 or 64 bits */
        cr = INSN_MODRM_REG(in.modrm) | ((in.rex & 4) ? 8 : 0);
        val = v->gpr[INSN_MODRM_RM(in.modrm) | ((in.rex & 1) ? 8 : 0)];
        if (in.mode != 64)
            val &= 0xffffffffull;
    } else if (in.map == 2 && in.opcode == 0x01 && INSN_MODRM_REG(in.modrm) == 6 &&
               INSN_MODRM_MOD(in.modrm) == 3) {
        /* LMSW r16: loads CR0[3:0], cannot clear PE (APM Vol.3 "LMSW") */
        uint64_t cr0 = v->ops->get_cr(v, 0);
        uint64_t msw = v->gpr[INSN_MODRM_RM(in.modrm)] & 0xf;
        cr = 0;
        val = (cr0 & ~0xeull) | (msw & 0xe) | ((cr0 | msw) & CR0_PE);
    } else if (in.map == 2 && in.opcode == 0x06) {
        cr = 0; /* CLTS */
        val = v->ops->get_cr(v, 0) & ~CR0_TS;
    } else {
        log_printf("vmm: CR write intercept on an instruction we do not emulate (map %u op %02x)\n",
                   in.map, in.opcode);
        return -1;
    }
    if (cr_write(v, cr, val))
        return -1;
    vcpu_advance(v, in.len);
    return 0;
}
