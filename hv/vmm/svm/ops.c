/* vm_ops over the VMCB: how core/ reads and changes the VM on AMD. */
#include "common/cpu.h"
#include "common/svm_maps.h"
#include "hw/x86.h"
#include "lib/fmt.h"
#include "lib/walk.h"
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
    case SEG_LDTR:
        return &sv->ldtr;
    case SEG_TR:
        return &sv->tr;
    case SEG_GDTR:
        return &sv->gdtr;
    case SEG_IDTR:
        return &sv->idtr;
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

static void flush_tlb(struct vcpu *v)
{
    vmcb_of(v)->control.tlb_control = SVM_TLB_CONTROL_FLUSH_ALL;
}

static void clear_shadow(struct vcpu *v) { vmcb_of(v)->control.interrupt_shadow &= ~1ull; }

static unsigned long dump(struct vcpu *v, char *buf, unsigned long size)
{
    vmcb_of(v)->save.rax = v->gpr[GPR_RAX];
    vmcb_of(v)->save.rsp = v->gpr[GPR_RSP];
    return svm_vmcb_dump(vmcb_of(v), v->gpr, buf, size);
}

/* DR0-DR3 are not in the VMCB: the VM's values stay in the hardware
 * registers, which the VMM never uses (APM Vol.2 §15.5.1). */
static uint64_t get_dr(struct vcpu *v, unsigned n)
{
    uint64_t val = 0;
    switch (n) {
    case 0:
        __asm__ volatile("mov %%dr0, %0" : "=r"(val));
        break;
    case 1:
        __asm__ volatile("mov %%dr1, %0" : "=r"(val));
        break;
    case 2:
        __asm__ volatile("mov %%dr2, %0" : "=r"(val));
        break;
    case 3:
        __asm__ volatile("mov %%dr3, %0" : "=r"(val));
        break;
    case 6:
        val = vmcb_of(v)->save.dr6;
        break;
    case 7:
        val = vmcb_of(v)->save.dr7;
        break;
    default:
        break;
    }
    return val;
}

static void set_dr(struct vcpu *v, unsigned n, uint64_t val)
{
    switch (n) {
    case 0:
        __asm__ volatile("mov %0, %%dr0" ::"r"(val));
        break;
    case 1:
        __asm__ volatile("mov %0, %%dr1" ::"r"(val));
        break;
    case 2:
        __asm__ volatile("mov %0, %%dr2" ::"r"(val));
        break;
    case 3:
        __asm__ volatile("mov %0, %%dr3" ::"r"(val));
        break;
    case 6:
        vmcb_of(v)->save.dr6 = val;
        break;
    case 7:
        vmcb_of(v)->save.dr7 = val;
        break;
    default:
        break;
    }
}

static unsigned get_cpl(struct vcpu *v) { return vmcb_of(v)->save.cpl; }

/* The MSRs whose VM values live in the VMCB state-save area (Table B-2). */
static uint64_t *vmcb_msr(struct vcpu *v, uint32_t msr)
{
    struct vmcb_save *s = &vmcb_of(v)->save;
    switch (msr) {
    case MSR_EFER:
        return &s->efer;
    case MSR_PAT:
        return &s->g_pat;
    case 0x000001d9: /* DEBUGCTL */
        return &s->dbgctl;
    case 0x00000174:
        return &s->sysenter_cs;
    case 0x00000175:
        return &s->sysenter_esp;
    case 0x00000176:
        return &s->sysenter_eip;
    case 0xc0000081:
        return &s->star;
    case 0xc0000082:
        return &s->lstar;
    case 0xc0000083:
        return &s->cstar;
    case 0xc0000084:
        return &s->sfmask;
    case 0xc0000100:
        return &s->fs.base;
    case 0xc0000101:
        return &s->gs.base;
    case 0xc0000102:
        return &s->kernel_gs_base;
    default:
        return 0;
    }
}

/* The VM reads host TSC + tsc_offset (APM Vol.2 §15.30.5). */
static uint64_t guest_tsc(struct vcpu *v)
{
    return to_svm(v)->exit_tsc + vmcb_of(v)->control.tsc_offset;
}

/*
 * Nested page tables have the long-mode 4-level format (APM Vol.2 §15.25.5),
 * so lib/walk reads them; they live in the VMM's own range, which the VMM
 * maps one-to-one, and nothing outside that range is read.
 */
static bool npt_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
    const struct boot_info *bi = ((struct vcpu *)ctx)->info;
    if (pa < bi->vmm_base || pa + size > bi->vmm_base + bi->vmm_size)
        return false;
    *val = size == 8 ? *(const uint64_t *)pa : *(const uint32_t *)pa;
    return true;
}

static uint64_t nested_root(struct vcpu *v)
{
    const struct vmcb_control *c = &vmcb_of(v)->control;
    return (c->np_enable & 1) ? c->nested_cr3 & ~0xfffull : 0;
}

static int g2h(struct vcpu *v, uint64_t gpa, uint64_t *hpa, uint64_t *leaf, unsigned *shift)
{
    struct pg_walk w;
    uint64_t root = nested_root(v);
    if (!root) {
        *hpa = gpa;
        *leaf = 0;
        *shift = 12;
        return 0;
    }
    int r = pg_walk(PG_MODE_LONG, root, gpa, false, npt_read, v, &w);
    *leaf = w.pte;
    *shift = w.page_shift;
    *hpa = w.pa;
    return r;
}

static int get_msr(struct vcpu *v, uint32_t msr, uint64_t *val)
{
    uint64_t *p = vmcb_msr(v, msr);
    if (!p)
        return -1;
    *val = *p;
    return 0;
}

static int set_msr(struct vcpu *v, uint32_t msr, uint64_t val)
{
    uint64_t *p = vmcb_msr(v, msr);
    if (!p)
        return -1;
    *p = msr == MSR_EFER ? val | EFER_SVME : val;
    return 0;
}

static void set_intercept(struct vcpu *v, enum intercept what, uint32_t arg, bool on)
{
    struct vmcb_control *c = &vmcb_of(v)->control;
    uint32_t bit;
    switch (what) {
    case ICPT_EXCP:
        bit = 1u << (arg & 31);
        c->intercept_exceptions =
            on ? c->intercept_exceptions | bit : c->intercept_exceptions & ~bit;
        break;
    case ICPT_CR_READ:
        bit = 1u << (arg & 15);
        c->intercept_cr_read =
            (uint16_t)(on ? c->intercept_cr_read | bit : c->intercept_cr_read & ~bit);
        break;
    case ICPT_DR:
        c->intercept_dr_read = on ? 0x00ff : 0;
        c->intercept_dr_write = on ? 0x00ff : 0;
        break;
    case ICPT_INTN:
        c->intercept_misc1 = on ? c->intercept_misc1 | SVM_INTERCEPT1_INTN
                                : c->intercept_misc1 & ~SVM_INTERCEPT1_INTN;
        break;
    case ICPT_IO:
        iopm_set((uint8_t *)v->info->iopm, arg, 1, on);
        break;
    case ICPT_MSR_READ:
    case ICPT_MSR_WRITE: {
        /* Keep the other direction's bit as it is. */
        uint8_t *pm = (uint8_t *)v->info->msrpm;
        uint32_t off = arg <= 0x1fff ? 0 : arg >= 0xc0010000 ? 0x1000 * 8 : 0x800 * 8;
        uint32_t b = off + (arg & 0x1fff) * 2;
        bool rd = pm[b / 8] & (1u << (b % 8)), wr = pm[b / 8] & (2u << (b % 8));
        if (what == ICPT_MSR_READ)
            rd = on;
        else
            wr = on;
        msrpm_set(pm, arg, rd, wr);
        break;
    }
    }
}

/* APM Vol.2 §15.20: type 4 delivers INT n; the pushed return address is
 * the rip in the VMCB, so the caller has already moved it past the INT. */
static void inject_soft_int(struct vcpu *v, unsigned vector)
{
    vmcb_of(v)->control.event_inj =
        (vector & SVM_EVTINJ_VEC_MASK) | SVM_EVTINJ_TYPE_SOFT | SVM_EVTINJ_VALID;
}

/* LBR virtualization: CPUID 8000_000A EDX[1] (APM Vol.2 §15.23). QEMU's TCG
 * does not offer it. */
static bool lbr_supported(struct vcpu *v)
{
    uint32_t r[4];
    cpuid_count(0x8000000a, 0, r);
    return r[3] & (1u << 1);
}

static void lbr_enable(struct vcpu *v, bool on)
{
    struct vmcb *vm = vmcb_of(v);
    vm->control.virt_ext = on ? vm->control.virt_ext | 1 : vm->control.virt_ext & ~1ull;
    vm->save.dbgctl = on ? vm->save.dbgctl | 1 : vm->save.dbgctl & ~1ull; /* DEBUGCTL.LBR */
}

static void lbr_read(struct vcpu *v, uint64_t out[4])
{
    struct vmcb_save *s = &vmcb_of(v)->save;
    out[0] = s->br_from;
    out[1] = s->br_to;
    out[2] = s->last_excp_from;
    out[3] = s->last_excp_to;
}

static unsigned long summary(struct vcpu *v, char *buf, unsigned long size)
{
    struct svm_vcpu *s = to_svm(v);
    unsigned long n = 0;
#define PUT(...)                                                                                   \
    n += (unsigned long)fmt_snprintf(buf + (n < size ? n : size), n < size ? size - n : 0,         \
                                     __VA_ARGS__)
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
    .clear_shadow = clear_shadow,
    .get_dr = get_dr,
    .set_dr = set_dr,
    .get_cpl = get_cpl,
    .guest_tsc = guest_tsc,
    .g2h = g2h,
    .nested_root = nested_root,
    .get_msr = get_msr,
    .set_msr = set_msr,
    .set_intercept = set_intercept,
    .inject_soft_int = inject_soft_int,
    .lbr_supported = lbr_supported,
    .lbr_enable = lbr_enable,
    .lbr_read = lbr_read,
    .dump = dump,
    .summary = summary,
};
