/*
 * Exceptions the policy intercepts. The VM's EFER.SVME must stay set for
 * VMRUN (APM Vol.2 §15.5.1), so an SVM instruction run outside ring 0 gets
 * the #GP of "SVM enabled, CPL > 0" where a CPU without SVM raises #UD
 * (APM Vol.3, VMRUN/VMLOAD/VMSAVE/STGI/CLGI/SKINIT/INVLPGA: #UD if
 * EFER.SVME = 0, checked before the CPL). #GP is intercepted to turn those
 * into #UD; any other #GP goes back to the VM unchanged.
 */
#include "hw/x86.h"
#include "vmm/core/emulate.h"
#include "vmm/core/policy.h"

uint32_t excp_policy_mask(void) { return 1u << X86_EXC_GP; }

/* 0F 01 D8-DF: VMRUN VMMCALL VMLOAD VMSAVE STGI CLGI SKINIT INVLPGA */
static bool is_svm_insn(const struct insn *in)
{
    return in->map == 2 && in->opcode == 0x01 && in->has_modrm && (in->modrm & 0xf8) == 0xd8;
}

int excp_policy(struct vcpu *v, unsigned vec, uint32_t err)
{
    struct insn in;
    if (vec != X86_EXC_GP || emu_try_decode(v, &in) || !is_svm_insn(&in))
        return 0;
    undefined_opcode(v);
    return 1;
}
