/*
 * Intercepted exceptions, virtualization instructions and debug-register
 * accesses. The control stub intercepts #DB and #BP for its breakpoints and
 * steps, and any vector a client filters; the stub takes what is its own
 * (hooks.exception), and everything else goes back to the VM as it was,
 * combined with an event whose delivery it interrupted (vcpu_fault).
 */
#include "hw/x86.h"
#include "vmm/core/emulate.h"
#include "vmm/core/exits.h"
#include "vmm/core/hooks.h"
#include "vmm/core/vcpu.h"

int exit_exception(struct vcpu *v, unsigned vec, uint32_t err, uint64_t info2)
{
    if (v->vm->hooks && v->vm->hooks->exception && v->vm->hooks->exception(v, vec, err, info2))
        return 0;
    if (vec == X86_EXC_PF)
        vcpu_page_fault(v, info2, err); /* an intercepted #PF has not written CR2 yet */
    else
        vcpu_fault(v, vec, err);
    return 0;
}

int exit_virt_insn(struct vcpu *v)
{
    vcpu_ud(v);
    return 0;
}

/*
 * MOV to/from DRn while the stub uses the hardware debug registers: the
 * VM's values live in v->dr_guest (APM Vol.3 "MOV DRn": CPL 0; DR4/DR5 are
 * DR6/DR7 unless CR4.DE, which makes them #UD; in 64-bit mode the upper
 * halves of DR6/DR7 are reserved, #GP).
 */
int exit_dr_access(struct vcpu *v, bool write)
{
    struct insn in;

    if (emu_decode(v, &in) || in.map != 2 || (in.opcode != 0x21 && in.opcode != 0x23))
        return -1;
    unsigned dr = emu_modrm_reg(&in), reg = emu_modrm_rm(&in);
    if (dr > 7) {
        vcpu_ud(v);
        return 0;
    }
    if (v->ops->get_cpl(v) != 0) {
        vcpu_gp(v);
        return 0;
    }
    if (dr == 4 || dr == 5) {
        if (v->ops->get_cr(v, 4) & CR4_DE) {
            vcpu_ud(v);
            return 0;
        }
        dr += 2;
    }
    if (write) {
        uint64_t val = in.mode == 64 ? v->gpr[reg] : v->gpr[reg] & 0xffffffffull;
        if ((dr == 6 || dr == 7) && (val >> 32)) {
            vcpu_gp(v);
            return 0;
        }
        if (dr == 6)
            val |= DR6_FIXED;
        else if (dr == 7)
            val |= DR7_FIXED;
        v->dr_guest[dr] = val;
    } else {
        v->gpr[reg] = in.mode == 64 ? v->dr_guest[dr] : v->dr_guest[dr] & 0xffffffffull;
    }
    vcpu_complete(v, in.len);
    return 0;
}
