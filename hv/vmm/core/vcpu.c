#include "vmm/core/vcpu.h"
#include "common/log.h"
#include "hw/x86.h"

unsigned vcpu_code_bits(struct vcpu *v)
{
    struct seg_state cs;
    if (!(v->ops->get_cr(v, 0) & CR0_PE) || (v->ops->get_rflags(v) & RFLAGS_VM))
        return 16;
    v->ops->get_seg(v, SEG_CS, &cs);
    if ((v->ops->get_efer(v) & EFER_LMA) && (cs.attrib & SEG_ATTR_L))
        return 64;
    return (cs.attrib & SEG_ATTR_DB) ? 32 : 16;
}

/*
 * The VMM completed the instruction at rip for the VM: move past it. A
 * completed instruction clears RF (AMD APM Vol.2 §3.1.6, RFLAGS.RF; Intel
 * SDM Vol.3B §17.3.1.1): left set, it would reach the VM's stack in the
 * frame of an INT n the VMM injects, and the IRET back would skip an
 * instruction breakpoint on the next instruction.
 */
void vcpu_advance(struct vcpu *v, unsigned len)
{
    v->ops->set_rflags(v, v->ops->get_rflags(v) & ~RFLAGS_RF);
    uint64_t rip = v->ops->get_rip(v) + len;
    unsigned bits = vcpu_code_bits(v);
    if (bits == 16)
        rip &= 0xffff;
    else if (bits == 32)
        rip &= 0xffffffffull;
    v->ops->set_rip(v, rip);
    v->ops->clear_shadow(v);
}

void vcpu_log_dump(struct vcpu *v)
{
    static char buf[4096];
    log_write(buf, v->ops->dump(v, buf, sizeof(buf)));
}

const char *vcpu_mode_name(struct vcpu *v)
{
    if (!(v->ops->get_cr(v, 0) & CR0_PE))
        return "real";
    if (v->ops->get_rflags(v) & RFLAGS_VM)
        return "v86";
    switch (vcpu_code_bits(v)) {
    case 64:
        return "long";
    case 32:
        return (v->ops->get_efer(v) & EFER_LMA) ? "compat32" : "prot32";
    default:
        return (v->ops->get_efer(v) & EFER_LMA) ? "compat16" : "prot16";
    }
}
