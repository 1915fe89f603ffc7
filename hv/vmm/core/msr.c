/*
 * The MSRs the VMM intercepts: EFER (SVME is the VMM's, the VM must not see
 * or change it) and the SVM MSRs, which do not exist for the VM: a CPU
 * without SVM raises #GP on them (APM Vol.2 §15.30).
 */
#include "common/log.h"
#include "hw/x86.h"
#include "vmm/control/control.h"
#include "vmm/core/emulate.h"
#include "vmm/core/policy.h"

/* EFER bits a VM may set: SCE, LME, NXE, LMSLE, FFXSR, TCE (APM Vol.2 §3.1.7) */
#define EFER_GUEST_BITS                                                                            \
    (EFER_SCE | EFER_LME | EFER_NXE | (1ull << 13) | (1ull << 14) | (1ull << 15))

/*
 * Any other MSR gets here only because a client filters it: it is passed
 * through, to the VMCB where the backend keeps the VM's value, else to the
 * hardware (a #GP there becomes the VM's #GP).
 */
static int msr_read(struct vcpu *v, uint32_t msr, uint64_t *val)
{
    if (msr == MSR_EFER) {
        *val = v->ops->get_efer(v) & ~EFER_SVME;
        return 0;
    }
    if (msr == MSR_VM_CR || msr == MSR_VM_HSAVE_PA)
        return -1;
    if (!v->ops->get_msr(v, msr, val))
        return 0;
    return safe_rdmsr(msr, val);
}

static int msr_write(struct vcpu *v, uint32_t msr, uint64_t val)
{
    if (msr == MSR_VM_CR || msr == MSR_VM_HSAVE_PA)
        return -1;
    if (msr != MSR_EFER)
        return v->ops->set_msr(v, msr, val) ? safe_wrmsr(msr, val) : 0;
    uint64_t old = v->ops->get_efer(v);
    if (val & ~(EFER_GUEST_BITS | EFER_LMA))
        return -1;
    /* LME cannot change while paging is on (§14.6.1) */
    if (((old ^ val) & EFER_LME) && (v->ops->get_cr(v, 0) & CR0_PG))
        return -1;
    /* LMA is the CPU's: a write keeps it. SVME stays on for VMRUN. */
    uint64_t nv = (val & EFER_GUEST_BITS) | (old & EFER_LMA) | EFER_SVME;
    v->ops->set_efer(v, nv);
    if ((old ^ nv) & EFER_NXE)
        v->ops->flush_tlb(v);
    return 0;
}

int msr_emulate(struct vcpu *v, bool write)
{
    struct insn in;
    uint32_t msr = (uint32_t)v->gpr[GPR_RCX];
    uint64_t val;
    int r;

    if (emu_decode_current(v, &in))
        return -1;
    if (write) {
        val = (v->gpr[GPR_RDX] << 32) | (uint32_t)v->gpr[GPR_RAX];
        r = msr_write(v, msr, val);
    } else {
        r = msr_read(v, msr, &val);
        if (!r) {
            v->gpr[GPR_RAX] = (uint32_t)val;
            v->gpr[GPR_RDX] = val >> 32;
        }
    }
    if (r) {
        v->ops->inject_exception(v, X86_EXC_GP, true, 0);
        return 0;
    }
    vcpu_advance(v, in.len);
    control_note_msr(v, msr, write, val);
    return 0;
}
