/*
 * CPUID as the VM sees it: the host's answer, without what the backend
 * hides (its own virtualization features: svm/ or vmx/), and with the bits
 * the CPU derives from a control register taken from the VM's register,
 * not the VMM's (the VMM runs CPUID with its own CR4): leaf 1 ECX.OSXSAVE
 * mirrors CR4.OSXSAVE and leaf 7 ECX.OSPKE mirrors CR4.PKE (APM Vol.3
 * Appendix E.3.2, E.3.6; SDM Vol.2 "CPUID"); and leaves 15h and 16h read
 * as zeros where the TSC rate they give is not the TSC's (core/tsc.c).
 */
#include "common/cpu.h"
#include "hw/x86.h"
#include "lib/insn.h"
#include "vmm/core/emulate.h"
#include "vmm/core/exits.h"
#include "vmm/core/hooks.h"
#include "vmm/core/vcpu.h"

static void mirror(uint32_t *reg, uint32_t bit, bool on) { *reg = on ? *reg | bit : *reg & ~bit; }

int exit_cpuid(struct vcpu *v)
{
    uint32_t leaf = (uint32_t)v->gpr[GPR_RAX], sub = (uint32_t)v->gpr[GPR_RCX];
    unsigned len = v->ops->insn_len(v);
    uint32_t r[4];

    if (!len) {
        struct insn in;
        if (emu_decode(v, &in) || in.map != 2 || in.opcode != 0xa2)
            return -1;
        len = in.len;
    }
    cpuid_count(leaf, sub, r);
    v->ops->cpuid_filter(v, leaf, sub, r);
    uint64_t cr4 = v->ops->get_cr(v, 4);
    if (leaf == 1)
        mirror(&r[2], CPUID_1_ECX_OSXSAVE, (r[2] & CPUID_1_ECX_XSAVE) && (cr4 & CR4_OSXSAVE));
    else if (leaf == 7 && sub == 0)
        mirror(&r[2], CPUID_7_ECX_OSPKE, (r[2] & CPUID_7_ECX_PKU) && (cr4 & CR4_PKE));
    else if ((leaf == 0x15 || leaf == 0x16) && v->vm->caps.tsc_leaves_hidden)
        r[0] = r[1] = r[2] = r[3] = 0;
    v->gpr[GPR_RAX] = r[0];
    v->gpr[GPR_RBX] = r[1];
    v->gpr[GPR_RCX] = r[2];
    v->gpr[GPR_RDX] = r[3];
    vcpu_complete(v, len);
    struct vm_event e = {.kind = VME_CPUID, .cpuid = {leaf, sub}};
    vm_notify(v, &e);
    return 0;
}
