/*
 * CPUID as the VM sees it: the host's answers, minus the VMM's own
 * features (DESIGN §3): SVM in 8000_0001 ECX, and the SVM leaf 8000_000A.
 */
#include "common/cpu.h"
#include "hw/x86.h"
#include "vmm/control/control.h"
#include "vmm/core/policy.h"

void cpuid_emulate(struct vcpu *v)
{
    uint32_t leaf = (uint32_t)v->gpr[GPR_RAX], sub = (uint32_t)v->gpr[GPR_RCX];
    uint32_t r[4];

    cpuid_count(leaf, sub, r);
    if (leaf == 0x80000001)
        r[2] &= ~CPUID_80000001_ECX_SVM;
    else if (leaf == 0x8000000a)
        r[0] = r[1] = r[2] = r[3] = 0;
    v->gpr[GPR_RAX] = r[0];
    v->gpr[GPR_RBX] = r[1];
    v->gpr[GPR_RCX] = r[2];
    v->gpr[GPR_RDX] = r[3];
    control_note_cpuid(v, leaf, sub);
}
