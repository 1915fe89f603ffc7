/* vm_ops over the VMCB: how core/ reads and changes the VM on AMD. */
#include "hw/x86.h"
#include "lib/fmt.h"
#include "vmm/svm/svm.h"

static struct vmcb *vmcb_of(struct vcpu *v) { return to_svm(v)->vmcb; }

static uint64_t get_cr(struct vcpu *v, unsigned n)
{
    struct vmcb_save *s = &vmcb_of(v)->save;
    switch (n) {
    case 0:
        return s->cr0;
    case 2:
        return s->cr2;
    case 3:
        return s->cr3;
    case 4:
        return s->cr4;
    default:
        return 0;
    }
}

static void set_cr(struct vcpu *v, unsigned n, uint64_t val)
{
    struct vmcb_save *s = &vmcb_of(v)->save;
    switch (n) {
    case 0:
        s->cr0 = val;
        break;
    case 2:
        s->cr2 = val;
        break;
    case 3:
        s->cr3 = val;
        break;
    case 4:
        s->cr4 = val;
        break;
    default:
        break;
    }
}

static uint64_t get_efer(struct vcpu *v) { return vmcb_of(v)->save.efer; }
static void set_efer(struct vcpu *v, uint64_t val) { vmcb_of(v)->save.efer = val | EFER_SVME; }
static uint64_t get_rip(struct vcpu *v) { return vmcb_of(v)->save.rip; }
static void set_rip(struct vcpu *v, uint64_t rip) { vmcb_of(v)->save.rip = rip; }
static uint64_t get_rflags(struct vcpu *v) { return vmcb_of(v)->save.rflags; }
static void set_rflags(struct vcpu *v, uint64_t fl) { vmcb_of(v)->save.rflags = fl | RFLAGS_FIXED; }

static struct vmcb_seg *seg_of(struct vcpu *v, enum seg s)
{
    struct vmcb_save *sv = &vmcb_of(v)->save;
    switch (s) {
    case SEG_ES:
        return &sv->es;
    case SEG_CS:
        return &sv->cs;
    case SEG_SS:
        return &sv->ss;
    case SEG_DS:
        return &sv->ds;
    case SEG_FS:
        return &sv->fs;
    default:
        return &sv->gs;
    }
}

static void get_seg(struct vcpu *v, enum seg s, struct seg_state *out)
{
    const struct vmcb_seg *x = seg_of(v, s);
    out->selector = x->selector;
    out->attrib = x->attrib;
    out->limit = x->limit;
    out->base = x->base;
}

static void set_seg(struct vcpu *v, enum seg s, const struct seg_state *in)
{
    struct vmcb_seg *x = seg_of(v, s);
    x->selector = in->selector;
    x->attrib = in->attrib;
    x->limit = in->limit;
    x->base = in->base;
}

/* APM Vol.2 §15.20: EVENTINJ, type 3 = exception */
static void inject_exception(struct vcpu *v, unsigned vector, bool has_err, uint32_t err)
{
    uint64_t ev = (vector & SVM_EVTINJ_VEC_MASK) | SVM_EVTINJ_TYPE_EXEPT | SVM_EVTINJ_VALID;
    /* No error code is pushed in real mode (§8.2). */
    if (has_err && (vmcb_of(v)->save.cr0 & CR0_PE))
        ev |= SVM_EVTINJ_VALID_ERR | ((uint64_t)err << 32);
    vmcb_of(v)->control.event_inj = ev;
}

static void flush_tlb(struct vcpu *v) { vmcb_of(v)->control.tlb_control = SVM_TLB_CONTROL_FLUSH_ALL; }

static void set_intn_intercept(struct vcpu *v, bool on)
{
    struct vmcb_control *c = &vmcb_of(v)->control;
    if (on)
        c->intercept_misc1 |= SVM_INTERCEPT1_INTN;
    else
        c->intercept_misc1 &= ~SVM_INTERCEPT1_INTN;
}

static void clear_shadow(struct vcpu *v) { vmcb_of(v)->control.interrupt_shadow &= ~1ull; }

static void dump(struct vcpu *v) { svm_vmcb_dump(vmcb_of(v), v->gpr); }

static unsigned long summary(struct vcpu *v, char *buf, unsigned long size)
{
    struct svm_vcpu *s = to_svm(v);
    unsigned long n = 0;
#define PUT(...) n += (unsigned long)fmt_snprintf(buf + (n < size ? n : size), n < size ? size - n : 0, __VA_ARGS__)
    PUT("vmm: range 0x%016llx-0x%016llx (%llu KiB)\n", (unsigned long long)v->info->vmm_base,
        (unsigned long long)(v->info->vmm_base + v->info->vmm_size),
        (unsigned long long)(v->info->vmm_size >> 10));
    PUT("vm: mode %s, rip 0x%llx, cr3 0x%llx\n", vcpu_mode_name(v),
        (unsigned long long)s->vmcb->save.rip, (unsigned long long)s->vmcb->save.cr3);
    PUT("exits: %llu total\n", (unsigned long long)v->exits);
    for (uint32_t code = 0; code < SVM_EXIT_MAX; code++)
        if (s->exit_counts[code])
            PUT("  %-16s %llu\n", svm_exit_name(code), (unsigned long long)s->exit_counts[code]);
    if (s->exit_other)
        PUT("  %-16s %llu\n", "other", (unsigned long long)s->exit_other);
    PUT("hidden-range accesses: %llu, reset attempts: %llu\n", (unsigned long long)v->npf_hidden,
        (unsigned long long)v->dev.reset_attempts);
#undef PUT
    return n < size ? n : size;
}

const struct vm_ops svm_vm_ops = {
    .get_cr = get_cr,
    .set_cr = set_cr,
    .get_efer = get_efer,
    .set_efer = set_efer,
    .get_rip = get_rip,
    .set_rip = set_rip,
    .get_rflags = get_rflags,
    .set_rflags = set_rflags,
    .get_seg = get_seg,
    .set_seg = set_seg,
    .inject_exception = inject_exception,
    .flush_tlb = flush_tlb,
    .set_intn_intercept = set_intn_intercept,
    .clear_shadow = clear_shadow,
    .dump = dump,
    .summary = summary,
};
