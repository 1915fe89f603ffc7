/*
 * VMRUN's consistency checks on the guest state (lib/vmcb_check.h).
 * AMD APM Vol.2 §15.5.1: "the following conditions are considered illegal
 * state combinations" -- the list below follows it, in its order.
 */
#include "lib/vmcb_check.h"

#define CR0_PE         (1ull << 0)
#define CR0_NW         (1ull << 29)
#define CR0_CD         (1ull << 30)
#define CR0_PG         (1ull << 31)
#define CR4_PAE        (1ull << 5)
#define EFER_LME       (1ull << 8)
#define EFER_LMA       (1ull << 10)
#define EFER_SVME      (1ull << 12)
#define ATTR_L         (1u << 9)
#define ATTR_D         (1u << 10)
#define VMRUN_ICPT     (1u << 0) /* intercept_misc2 bit 0 */
#define EVTINJ_TYPE(e) (((e) >> 8) & 7)
#define EVTINJ_VALID   (1ull << 31)

const char *vmcb_check(struct vmcb *vmcb, const struct vmcb_caps *caps, bool repair)
{
    struct vmcb_save *s = &vmcb->save;
    struct vmcb_control *c = &vmcb->control;
    uint64_t phys_hi = caps->maxphyaddr >= 64 ? 0 : ~0ull << caps->maxphyaddr;
    bool lme_pg = (s->efer & EFER_LME) && (s->cr0 & CR0_PG);

    if (!(s->efer & EFER_SVME)) {
        if (repair)
            s->efer |= EFER_SVME;
        return "EFER.SVME is zero";
    }
    if ((s->cr0 & CR0_NW) && !(s->cr0 & CR0_CD)) {
        if (repair)
            s->cr0 &= ~CR0_NW;
        return "CR0.CD is zero and CR0.NW is set";
    }
    if (s->cr0 >> 32) {
        if (repair)
            s->cr0 &= 0xffffffffull;
        return "CR0[63:32] are not zero";
    }
    if ((s->efer & EFER_LMA) && (s->cr3 & phys_hi)) {
        if (repair)
            s->cr3 &= ~phys_hi;
        return "CR3 has a bit set above the physical address width";
    }
    if (s->cr4 & ~caps->cr4_allowed) {
        if (repair)
            s->cr4 &= caps->cr4_allowed;
        return "CR4 has a reserved (MBZ) bit set";
    }
    if (s->dr6 >> 32) {
        if (repair)
            s->dr6 &= 0xffffffffull;
        return "DR6[63:32] are not zero";
    }
    if (s->dr7 >> 32) {
        if (repair)
            s->dr7 &= 0xffffffffull;
        return "DR7[63:32] are not zero";
    }
    if (s->efer & ~(caps->efer_allowed | EFER_LMA)) {
        if (repair)
            s->efer &= caps->efer_allowed | EFER_LMA;
        return "EFER has a reserved (MBZ) bit set";
    }
    if ((s->efer & (EFER_LME | EFER_LMA)) && !caps->long_mode) {
        if (repair)
            s->efer &= ~(EFER_LME | EFER_LMA);
        return "EFER.LMA or LME set on a CPU without long mode";
    }
    if (lme_pg && !(s->cr4 & CR4_PAE)) {
        if (repair)
            s->cr4 |= CR4_PAE;
        return "EFER.LME and CR0.PG set, CR4.PAE zero";
    }
    if (lme_pg && !(s->cr0 & CR0_PE)) {
        if (repair)
            s->cr0 |= CR0_PE;
        return "EFER.LME and CR0.PG set, CR0.PE zero";
    }
    if (lme_pg && (s->cr4 & CR4_PAE) && (s->cs.attrib & ATTR_L) && (s->cs.attrib & ATTR_D)) {
        if (repair)
            s->cs.attrib &= ~ATTR_D;
        return "long mode with CS.L and CS.D both set";
    }
    if (!(c->intercept_misc2 & VMRUN_ICPT)) {
        if (repair)
            c->intercept_misc2 |= VMRUN_ICPT;
        return "the VMRUN intercept is clear";
    }
    uint64_t top = phys_hi ? ~phys_hi + 1 : ~0ull;
    if ((c->msrpm_base_pa & ~0xfffull) >= top - 8192 ||
        (c->iopm_base_pa & ~0xfffull) >= top - 12288)
        return "the MSR or I/O permission map lies beyond the physical address width";
    if (c->guest_asid == 0) {
        if (repair)
            c->guest_asid = 1;
        return "ASID is zero";
    }
    /* Event injection: type 1, 5, 6 and 7 are reserved; an "exception"
     * (type 3) with vector 2 (NMI) is illegal (§15.20). */
    if (c->event_inj & EVTINJ_VALID) {
        unsigned type = (unsigned)EVTINJ_TYPE(c->event_inj), vec = c->event_inj & 0xff;
        if (type == 1 || type >= 5 || (type == 3 && vec == 2)) {
            if (repair)
                c->event_inj = 0;
            return "an illegal event injection";
        }
    }
    return 0;
}
