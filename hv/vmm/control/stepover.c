/*
 * A continue from one of the stub's int3: the instruction under it, run
 * by the VMM when lib/stepover.h knows it. The int3 then never leaves
 * memory, no step runs, and every vCPU resumes at once.
 *
 * Only where the step would give the same result: not with TF set by the
 * VM (its #DB comes after the instruction), not in an interrupt shadow
 * (STI or MOV SS just before: the shadow covers this instruction), not
 * with any data breakpoint armed, the stub's or the VM's (a PUSH may hit
 * one), nor the VM's own instruction breakpoints, nor with another int3
 * inside the instruction's bytes. Anything else is stepped as before
 * (breakpoints.c).
 */
#include "lib/stepover.h"
#include "hw/x86.h"
#include "vmm/control/ctrl.h"
#include "vmm/core/emulate.h"
#include "vmm/core/gmem.h"
#include "vmm/core/vcpu.h"

static bool canonical(uint64_t a) { return (uint64_t)((int64_t)(a << 16) >> 16) == a; }

static bool breakpoints_armed(struct ctrl *c, struct vcpu *v)
{
    for (unsigned i = 0; i < 4; i++)
        if (c->hw[i].used && c->hw[i].type != 1)
            return true;
    /* The VM's own DR7 (L0-3, G0-3), unless the stub holds the DRs: its
     * values are then shadowed, not armed. */
    return !v->dr_shadowed && (v->ops->get_dr(v, 7) & 0xff);
}

static bool other_int3_within(struct ctrl *c, uint64_t rip, unsigned len)
{
    for (unsigned i = 0; i < CTRL_SWBP_MAX; i++)
        if (c->sw[i].used && c->sw[i].addr > rip && c->sw[i].addr < rip + len)
            return true;
    return false;
}

static bool on_apic_page(struct vcpu *v, uint64_t la)
{
    uint64_t pa;
    return !gmem_linear_to_phys(v, 0, la, &pa) && (pa & ~0xfffull) == v->vm->apic_base;
}

/* PUSH r64 in 64-bit mode: SS's base and limit are not used (SDM Vol.3A
 * §3.2.4 and §3.4.4: a zero base, canonical checks instead of limits); a
 * non-canonical stack is #SS and a
 * misaligned one with alignment checking #AC, left to the step. A page
 * fault is the VM's, queued by emu_write with nothing changed: it is taken
 * at the PUSH, as a stepped one would be. Returns 1 done, 0 faulted, -1
 * not run. */
static int push(struct vcpu *v, unsigned src)
{
    uint64_t la = v->gpr[GPR_RSP] - 8, val = v->gpr[src];
    bool ac = v->ops->get_cpl(v) == 3 && (v->ops->get_cr(v, 0) & CR0_AM) &&
              (v->ops->get_rflags(v) & RFLAGS_AC);
    if (!canonical(la) || !canonical(la + 7) || (ac && (la & 7)) || on_apic_page(v, la) ||
        on_apic_page(v, la + 7))
        return -1;
    if (emu_write(v, la, &val, 8))
        return 0;
    v->gpr[GPR_RSP] = la;
    return 1;
}

/* SWAPGS: CPL 0 only (#GP otherwise), 64-bit mode (APM Vol.3 "SWAPGS"). */
static bool swapgs(struct vcpu *v)
{
    struct seg_state gs;
    uint64_t kernel;
    if (v->ops->get_cpl(v) || v->ops->get_msr(v, MSR_KERNEL_GS_BASE, &kernel))
        return false;
    v->ops->get_seg(v, SEG_GS, &gs);
    if (v->ops->set_msr(v, MSR_KERNEL_GS_BASE, gs.base))
        return false;
    gs.base = kernel;
    v->ops->set_seg(v, SEG_GS, &gs);
    return true;
}

bool ctrl_stepover_emulate(struct vcpu *v, uint8_t saved)
{
    struct ctrl *c = ctrl_of(v->vm);
    uint8_t bytes[INSN_MAX_LEN];
    struct insn in;
    struct stepover so;

    /* An event the next entry injects comes before the instruction. */
    if (vcpu_code_bits(v) != 64 || (v->ops->get_rflags(v) & RFLAGS_TF) ||
        v->ops->interrupt_shadow(v) || v->pending.type != EVENT_NONE || breakpoints_armed(c, v))
        return false;
    size_t n = emu_fetch(v, bytes);
    if (!n)
        return false;
    bytes[0] = saved; /* what the int3 hides */
    if (insn_decode(&in, bytes, n, 64) || other_int3_within(c, v->ops->get_rip(v), in.len))
        return false;
    switch (stepover_classify(&in, &so)) {
    case STEPOVER_NOP:
        break;
    case STEPOVER_ENDBR:
        if (v->ops->get_cr(v, 4) & CR4_CET)
            return false;
        break;
    case STEPOVER_MOV:
        emu_set_reg(v, &in, so.dst, so.size, emu_get_reg(v, &in, so.src, so.size));
        break;
    case STEPOVER_PUSH:
        switch (push(v, so.src)) {
        case 0:
            return true; /* its #PF is queued, rip stays on the PUSH */
        case -1:
            return false;
        }
        break;
    case STEPOVER_SWAPGS:
        if (!swapgs(v))
            return false;
        break;
    default:
        return false;
    }
    vcpu_complete(v, in.len);
    return true;
}
