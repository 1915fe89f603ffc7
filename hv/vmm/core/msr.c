/*
 * RDMSR / WRMSR of the MSRs the VMM intercepts: EFER, always (the
 * backend's own bits in it are hidden: backend_ops.get_efer/set_efer),
 * IA32_TSC_DEADLINE, always (moved by the TSC offset: lib/tsc_deadline.h;
 * a CPU without the MSR gives the VM its #GP), the
 * backend's MSRs (backend_ops.msr_access: VM_CR and VM_HSAVE_PA on AMD,
 * which a CPU without SVM does not have), and any MSR a client filters,
 * which is passed through: to where the backend keeps the VM's value, else
 * to the hardware, whose #GP for an MSR it lacks becomes the VM's #GP.
 */
#include "hw/x86.h"
#include "lib/insn.h"
#include "lib/tsc_deadline.h"
#include "vmm/core/apic.h"
#include "vmm/core/emulate.h"
#include "vmm/core/exits.h"
#include "vmm/core/hooks.h"
#include "vmm/core/regs.h"
#include "vmm/core/vcpu.h"
#include "vmm/host.h"

const char *efer_check(struct vcpu *v, uint64_t val)
{
    uint64_t old = v->ops->get_efer(v);
    if (val & ~(v->vm->caps.efer_allowed | v->vm->caps.efer_ignored | EFER_LMA))
        return "an EFER bit this CPU does not have";
    /* LME cannot change while paging is on (APM Vol.2 §14.6.1). */
    if (((old ^ val) & EFER_LME) && (v->ops->get_cr(v, 0) & CR0_PG))
        return "EFER.LME cannot change while paging is on";
    return 0;
}

void efer_set(struct vcpu *v, uint64_t val)
{
    uint64_t old = v->ops->get_efer(v);
    uint64_t nv =
        (val & ~(EFER_LMA | v->vm->caps.efer_ignored)) | (old & EFER_LMA); /* LMA is the CPU's */
    v->ops->set_efer(v, nv);
    if ((old ^ nv) & EFER_NXE)
        v->ops->flush_tlb(v);
}

/* Returns 0 with *val, or -1 for a #GP. */
static int msr_read(struct vcpu *v, uint32_t msr, uint64_t *val)
{
    int r = v->ops->msr_access(v, msr, false, val);
    if (r)
        return r > 0 ? 0 : -1;
    if (msr == MSR_EFER) {
        *val = v->ops->get_efer(v);
        return 0;
    }
    if (msr == MSR_TSC_DEADLINE) {
        uint64_t hw;
        if (safe_rdmsr(msr, &hw))
            return -1;
        *val = tsc_deadline_to_guest(hw, v->ops->get_tsc_offset(v));
        return 0;
    }
    if (!v->ops->get_msr(v, msr, val))
        return 0;
    return safe_rdmsr(msr, val);
}

static int msr_write(struct vcpu *v, uint32_t msr, uint64_t val)
{
    int r = v->ops->msr_access(v, msr, true, &val);
    if (r)
        return r > 0 ? 0 : -1;
    if (msr == MSR_EFER) {
        if (efer_check(v, val))
            return -1;
        efer_set(v, val);
        return 0;
    }
    if (msr == MSR_X2APIC_ICR && apic_icr_write(v, val, true))
        return 0;
    /* The offset as it is now: a deadline armed before the offset moves
     * (a client's stop comes off the VM's TSC, a repaid debt goes on it:
     * core/run.c) fires that much early or late in the VM's time; an OS
     * takes an early one for a spurious interrupt and arms the rest. */
    if (msr == MSR_TSC_DEADLINE)
        return safe_wrmsr(msr, tsc_deadline_to_host(val, v->ops->get_tsc_offset(v)));
    if (!v->ops->set_msr(v, msr, val))
        return 0;
    return safe_wrmsr(msr, val);
}

int exit_msr(struct vcpu *v, bool write)
{
    uint32_t msr = (uint32_t)v->gpr[GPR_RCX];
    unsigned len = v->ops->insn_len(v);
    uint64_t val = 0;

    if (!len) {
        struct insn in;
        if (emu_decode(v, &in) || in.map != 2 || (in.opcode != 0x30 && in.opcode != 0x32))
            return -1;
        len = in.len;
    }
    if (v->ops->get_cpl(v) != 0) { /* checked by the CPU before the intercept */
        vcpu_gp(v);
        return 0;
    }
    if (write) {
        val = (v->gpr[GPR_RDX] << 32) | (uint32_t)v->gpr[GPR_RAX];
        if (msr_write(v, msr, val)) {
            vcpu_gp(v);
            return 0;
        }
    } else {
        if (msr_read(v, msr, &val)) {
            vcpu_gp(v);
            return 0;
        }
        v->gpr[GPR_RAX] = (uint32_t)val;
        v->gpr[GPR_RDX] = val >> 32;
    }
    vcpu_complete(v, len);
    struct vm_event e = {.kind = VME_MSR, .msr = {msr, write, val}};
    vm_notify(v, &e);
    return 0;
}
