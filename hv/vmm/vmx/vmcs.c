/*
 * A vCPU's VMCS reached from any core.
 *
 * VMREAD and VMWRITE reach only the current VMCS of the core that runs
 * them (SDM Vol.3C §25.1, §31.3), and a VMCS may be active on one core at
 * most: it must be VMCLEARed on one before another VMPTRLDs it (§25.1,
 * §25.11.1 "Software Use of the VMCS and Related Structures"). Yet the
 * control stub, on the core of the vCPU that stopped, reads and writes
 * every vCPU's registers while the others are parked (all-stop), and an
 * AP reads the boot CPU's TSC offset as it joins.
 *
 * So a vCPU that waits in the VMM (parked for a client, or waiting for a
 * start-up IPI: vmx_idle()) puts its VMCS back into memory with VMCLEAR,
 * with the VM's registers that live in its core's hardware rather than in
 * the VMCS (CR2, DR0-DR3, DR6, the SYSCALL MSRs), and loads both again when it wakes. While
 * it is CLEAR, another core borrows it for one operation at a time:
 * VMPTRLD, the access, VMCLEAR, and its own VMCS current again (VMPTRLD
 * keeps a VMCS's launch state, §25.11.3). The lock keeps the owner from
 * loading its VMCS in the middle of a borrow. VMCLEAR leaves the launch
 * state "clear": the next entry is a VMLAUNCH (§26.1, enter.S).
 *
 * A vCPU that never reaches vmx_idle() -- its core still runs the VM
 * because it did not stop -- is waited for a little, then reported
 * unreachable: its registers read 0 and writes to them are dropped, rather
 * than the VMM reading another vCPU's state or hanging.
 */
#include "common/cpu.h"
#include "common/log.h"
#include "vmm/vmx/vmx.h"

#define BORROW_WAIT_MS 50

/* The VM's registers that stay in the core's hardware (ops.c). */
static void hw_save(struct vmx_vcpu *x)
{
    __asm__ volatile("mov %%cr2, %0" : "=r"(x->cr2));
    for (unsigned i = 0; i < 4; i++)
        x->dr[i] = hw_get_dr(i);
    x->dr6 = hw_get_dr(6);
    for (unsigned i = 0; i < VMX_HW_MSRS; i++)
        x->msr[i] = rdmsr(vmx_hw_msrs[i]);
}

static void hw_restore(const struct vmx_vcpu *x)
{
    __asm__ volatile("mov %0, %%cr2" ::"r"(x->cr2));
    for (unsigned i = 0; i < 4; i++)
        hw_set_dr(i, x->dr[i]);
    hw_set_dr(6, x->dr6);
    for (unsigned i = 0; i < VMX_HW_MSRS; i++)
        wrmsr(vmx_hw_msrs[i], x->msr[i]);
}

void vmx_vmcs_put(struct vcpu *v)
{
    struct vmx_vcpu *x = to_vmx(v);
    if (x->home != VMCS_LOADED)
        return;
    spin_lock(&x->vmcs_lock);
    hw_save(x);
    if (VMX_INSN("vmclear", x->vmcs))
        log_printf("vmm: cpu%u: VMCLEAR of its VMCS failed\n", v->id);
    x->launched = false;
    x->home = VMCS_CLEAR;
    spin_unlock(&x->vmcs_lock);
}

void vmx_vmcs_load(struct vcpu *v)
{
    struct vmx_vcpu *x = to_vmx(v);
    if (x->home != VMCS_CLEAR)
        return;
    spin_lock(&x->vmcs_lock);
    if (VMX_INSN("vmptrld", x->vmcs))
        log_printf("vmm: cpu%u: VMPTRLD of its VMCS failed\n", v->id);
    hw_restore(x);
    x->home = VMCS_LOADED;
    spin_unlock(&x->vmcs_lock);
}

bool vmx_vmcs_enter(struct vcpu *v, struct vmcs_visit *t)
{
    struct vmx_vcpu *x = to_vmx(v);
    struct vcpu *me = this_vcpu();
    struct vmx_vcpu *mx = to_vmx(me);

    t->remote = false;
    if (v == me) {
        vmx_vmcs_load(v); /* a no-op unless it was put back */
        return x->home == VMCS_LOADED;
    }
    if (mx->visiting == v)
        return true; /* an operation inside another one on the same vCPU */
    uint64_t hz = v->vm->tsc_hz ? v->vm->tsc_hz : 1000000000ull;
    uint64_t deadline = rdtsc() + hz / 1000 * BORROW_WAIT_MS;
    for (;;) {
        if (x->home == VMCS_NONE)
            return false;
        spin_lock(&x->vmcs_lock);
        if (x->home == VMCS_CLEAR)
            break;
        spin_unlock(&x->vmcs_lock);
        if (rdtsc() > deadline) {
            if (!x->unreachable_logged)
                log_printf("vmm: cpu%u: its VMCS is still active on its core (not parked): "
                           "cpu%u cannot reach its state\n",
                           v->id, me->id);
            x->unreachable_logged = true;
            return false;
        }
        __asm__ volatile("pause");
    }
    if (VMX_INSN("vmptrld", x->vmcs)) {
        spin_unlock(&x->vmcs_lock);
        if (mx->home == VMCS_LOADED)
            VMX_INSN("vmptrld", mx->vmcs);
        return false;
    }
    mx->visiting = v;
    t->remote = true;
    return true;
}

void vmx_vmcs_leave(struct vcpu *v, const struct vmcs_visit *t)
{
    struct vmx_vcpu *x = to_vmx(v);
    struct vmx_vcpu *mx = to_vmx(this_vcpu());
    if (!t->remote)
        return;
    VMX_INSN("vmclear", x->vmcs);
    mx->visiting = 0;
    if (mx->home == VMCS_LOADED)
        VMX_INSN("vmptrld", mx->vmcs);
    spin_unlock(&x->vmcs_lock);
}

bool vmx_regs_here(struct vcpu *v) { return v == this_vcpu() && to_vmx(v)->home == VMCS_LOADED; }
