/*
 * backend_ops over the VMCB: how core/ reads and changes a vCPU on AMD,
 * and the SVM backend's own policy -- the VM sees a CPU without SVM:
 * EFER.SVME (which VMRUN needs set in the guest) is hidden, VM_CR and
 * VM_HSAVE_PA raise #GP, CPUID says no SVM.
 */
#include "common/cpu.h"
#include "common/svm_maps.h"
#include "hw/x86.h"
#include "lib/vmcb_check.h"
#include "vmm/svm/svm.h"

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

/*
 * EFER.LME goes into the VMCB only while CR0.PG is set (it does nothing
 * before paging is on: APM Vol.2 §14.6.1). QEMU 10's TCG, at an exit from a
 * VM with LME set and paging off, restores the host's CR0 before its EFER
 * and CR4, refuses that CR0 as a long-mode switch without PAE, and leaves
 * the VMM running without paging. The VM still sees the LME it wrote.
 */
static void sync_lme(struct vcpu *v)
{
    struct vmcb_save *s = &vmcb_of(v)->save;
    if (to_svm(v)->lme && (s->cr0 & CR0_PG))
        s->efer |= EFER_LME;
    else
        s->efer &= ~EFER_LME;
}

static void set_cr(struct vcpu *v, unsigned n, uint64_t val)
{
    struct vmcb_save *s = &vmcb_of(v)->save;
    switch (n) {
    case 0:
        s->cr0 = val;
        sync_lme(v);
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

static uint64_t get_efer(struct vcpu *v)
{
    return (vmcb_of(v)->save.efer & ~(EFER_SVME | EFER_LME)) | (to_svm(v)->lme ? EFER_LME : 0);
}

static void set_efer(struct vcpu *v, uint64_t val)
{
    to_svm(v)->lme = val & EFER_LME;
    vmcb_of(v)->save.efer = val | EFER_SVME;
    sync_lme(v);
}
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
    /* VMRUN takes the CPL from the VMCB, not from SS (APM Vol.2 §15.5.1);
     * a client that loads SS in protected mode moves it, as the CPU would. */
    if (s == SEG_SS && (vmcb_of(v)->save.cr0 & CR0_PE))
        vmcb_of(v)->save.cpl = (uint8_t)SEG_ATTR_DPL(in->attrib);
}

/* DR0-DR3 are not in the VMCB: the VM's values stay in the hardware
 * registers, which the VMM itself never uses (APM Vol.2 §15.5.1). */
static uint64_t get_dr(struct vcpu *v, unsigned n)
{
    if (n == 6)
        return vmcb_of(v)->save.dr6;
    if (n == 7)
        return vmcb_of(v)->save.dr7;
    return hw_get_dr(n);
}

static void set_dr(struct vcpu *v, unsigned n, uint64_t val)
{
    if (n == 6)
        vmcb_of(v)->save.dr6 = val;
    else if (n == 7)
        vmcb_of(v)->save.dr7 = val;
    else
        hw_set_dr(n, val);
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
    case MSR_DEBUGCTL:
        return &s->dbgctl;
    case MSR_SYSENTER_CS:
        return &s->sysenter_cs;
    case MSR_SYSENTER_ESP:
        return &s->sysenter_esp;
    case MSR_SYSENTER_EIP:
        return &s->sysenter_eip;
    case MSR_STAR:
        return &s->star;
    case MSR_LSTAR:
        return &s->lstar;
    case MSR_CSTAR:
        return &s->cstar;
    case MSR_SFMASK:
        return &s->sfmask;
    case MSR_FS_BASE:
        return &s->fs.base;
    case MSR_GS_BASE:
        return &s->gs.base;
    case MSR_KERNEL_GS_BASE:
        return &s->kernel_gs_base;
    default:
        return 0;
    }
}

static int get_msr(struct vcpu *v, uint32_t msr, uint64_t *val)
{
    uint64_t *p = vmcb_msr(v, msr);
    if (!p)
        return -1;
    *val = msr == MSR_EFER ? get_efer(v) : *p;
    return 0;
}

static int set_msr(struct vcpu *v, uint32_t msr, uint64_t val)
{
    uint64_t *p = vmcb_msr(v, msr);
    if (!p)
        return -1;
    if (msr == MSR_EFER)
        set_efer(v, val);
    else
        *p = val;
    return 0;
}

static bool interrupt_shadow(struct vcpu *v) { return vmcb_of(v)->control.interrupt_shadow & 1; }

static void set_interrupt_shadow(struct vcpu *v, bool on)
{
    uint64_t *sh = &vmcb_of(v)->control.interrupt_shadow;
    *sh = on ? *sh | 1 : *sh & ~1ull;
}

/* The VMCB's interrupt shadow holds interrupts off for one instruction,
 * as after STI (APM Vol.2 §15.21.5 "Interrupt Shadows"). */
static void hold_interrupts(struct vcpu *v) { set_interrupt_shadow(v, true); }

static void flush_tlb(struct vcpu *v)
{
    vmcb_of(v)->control.tlb_control = SVM_TLB_CONTROL_FLUSH_ALL;
}

static void enter(struct vcpu *v)
{
    struct svm_vcpu *s = to_svm(v);
    s->vmcb->save.rax = v->gpr[GPR_RAX];
    s->vmcb->save.rsp = v->gpr[GPR_RSP];
    v->entry_tsc = rdtsc(); /* the stamps core's TSC rebasing goes by */
    svm_world_switch((uint64_t)s->vmcb, v->gpr, (uint64_t)s->host_vmcb);
    v->exit_tsc = rdtsc();
    v->gpr[GPR_RAX] = s->vmcb->save.rax;
    v->gpr[GPR_RSP] = s->vmcb->save.rsp;
}

static uint32_t exit_code(struct vcpu *v) { return (uint32_t)vmcb_of(v)->control.exit_code; }

/* NRIP save (APM Vol.2 §15.7.1) when the CPU has it; TCG does not. */
static unsigned insn_len(struct vcpu *v)
{
    struct vmcb *vm = vmcb_of(v);
    if (!svm_vm_of(v->vm)->nrips || !vm->control.next_rip)
        return 0;
    return (unsigned)(vm->control.next_rip - vm->save.rip);
}

/* APM Vol.2 §15.20 "Event Injection": EVENTINJ. A software interrupt is
 * type 4, with the return address the VMCB's rip (already past the INT). */
static void inject(struct vcpu *v, const struct x86_event *ev)
{
    static const uint64_t type[] = {
        [EVENT_INTR] = SVM_EVTINJ_TYPE_INTR,       [EVENT_NMI] = SVM_EVTINJ_TYPE_NMI,
        [EVENT_EXCEPTION] = SVM_EVTINJ_TYPE_EXEPT, [EVENT_SOFT_INT] = SVM_EVTINJ_TYPE_SOFT,
        [EVENT_SOFT_EXCPT] = SVM_EVTINJ_TYPE_SOFT,
    };
    uint64_t e = ev->vector | type[ev->type] | SVM_EVTINJ_VALID;
    if (ev->has_err)
        e |= SVM_EVTINJ_VALID_ERR | ((uint64_t)ev->err << 32);
    vmcb_of(v)->control.event_inj = e;
    to_svm(v)->injected_soft = ev->type == EVENT_SOFT_INT || ev->type == EVENT_SOFT_EXCPT;
}

/* V_IRQ with V_IGN_TPR and the highest priority: the VINTR intercept then
 * exits as soon as the VM can take an interrupt (APM Vol.2 §15.21.4). */
#define V_IRQ       (1ull << 8)
#define V_INTR_PRIO (0xfull << 16)
#define V_IGN_TPR   (1ull << 20)

/* AMD-V intercepts every CR read and write, every exception vector and
 * INT n (APM Vol.2 §15.9 "Instruction Intercepts", §15.12 "Exception
 * Intercepts"): nothing a filter asks for is out of reach. */
static const char *intercept_unsupported(const struct vm *vm, const struct intercepts *want)
{
    return 0;
}

static void apply_intercepts(struct vcpu *v, const struct intercepts *w)
{
    struct vmcb_control *c = &vmcb_of(v)->control;
    /* NMI: the VMM's own kicks (core/apic.c) make the core exit. */
    uint32_t misc1 = SVM_INTERCEPT1_CPUID | SVM_INTERCEPT1_IOIO_PROT | SVM_INTERCEPT1_MSR_PROT |
                     SVM_INTERCEPT1_SHUTDOWN | SVM_INTERCEPT1_INVLPGA | SVM_INTERCEPT1_NMI;
    if (w->intn)
        misc1 |= SVM_INTERCEPT1_INTN;
    if (w->hlt)
        misc1 |= SVM_INTERCEPT1_HLT;
    if (w->intr)
        misc1 |= SVM_INTERCEPT1_INTR;
    if (w->iret)
        misc1 |= SVM_INTERCEPT1_IRET;
    if (w->vintr)
        misc1 |= SVM_INTERCEPT1_VINTR;
    c->intercept_misc1 = misc1;
    c->intercept_misc2 = SVM_INTERCEPT2_ALL_SVM_INSN;
    /* #GP: an SVM instruction outside ring 0 raises #GP with EFER.SVME
     * set, where the CPU the VM sees raises #UD (exit.c). */
    c->intercept_exceptions = w->exceptions | (1u << X86_EXC_GP);
    c->intercept_cr_read = w->cr_read;
    c->intercept_cr_write = w->cr_write;
    c->intercept_dr_read = w->dr ? 0x00ff : 0;
    c->intercept_dr_write = w->dr ? 0x00ff : 0;
    c->v_intr = w->vintr ? (c->v_intr | V_IRQ | V_INTR_PRIO | V_IGN_TPR)
                         : (c->v_intr & ~(V_IRQ | V_INTR_PRIO | V_IGN_TPR));
}

static void set_io_intercept(struct vm *vm, uint16_t port, bool on)
{
    iopm_set(svm_vm_of(vm)->iopm, port, 1, on);
}

static void set_msr_intercept(struct vm *vm, uint32_t msr, bool read, bool write)
{
    msrpm_set(svm_vm_of(vm)->msrpm, msr, read, write);
}

static int check_state(struct vcpu *v, const char **why)
{
    const struct cpu_caps *c = &v->vm->caps;
    struct vmcb_caps caps = {c->cr4_allowed, c->efer_allowed | EFER_SVME, c->maxphyaddr,
                             c->long_mode};
    /* EFER.SVME is the VMM's bit, which the VM never sees (get_efer) and so
     * cannot have cleared; state saved and restored around the VM's back
     * can: an SMI taken in the VM, whose handler rewrites the saved EFER
     * before RSM (SeaBIOS's 32-bit calls through SMM on a q35 board; APM
     * Vol.2 §10.2 "SMM Resources"). It is put back, no fault for the VM. */
    vmcb_of(v)->save.efer |= EFER_SVME;
    *why = vmcb_check(vmcb_of(v), &caps, true);
    if (!*why)
        return 0;
    while (vmcb_check(vmcb_of(v), &caps, true)) /* every rule it breaks */
        ;
    return -1;
}

static void cpuid_filter(struct vcpu *v, uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    if (leaf == 0x80000001)
        r[2] &= ~CPUID_80000001_ECX_SVM;
    else if (leaf == 0x8000000a)
        r[0] = r[1] = r[2] = r[3] = 0;
}

static const uint32_t owned_msrs[] = {MSR_VM_CR, MSR_VM_HSAVE_PA};

/* A CPU without SVM has neither MSR: #GP (APM Vol.2 §15.30). */
static int msr_access(struct vcpu *v, uint32_t msr, bool write, uint64_t *val)
{
    return (msr == MSR_VM_CR || msr == MSR_VM_HSAVE_PA) ? -1 : 0;
}

static uint64_t get_tsc_offset(struct vcpu *v) { return vmcb_of(v)->control.tsc_offset; }
static void set_tsc_offset(struct vcpu *v, uint64_t off) { vmcb_of(v)->control.tsc_offset = off; }

/* LBR virtualization: CPUID 8000_000A EDX[1] (APM Vol.2 §15.23). QEMU's TCG
 * does not offer it. */
static bool lbr_supported(struct vcpu *v)
{
    uint32_t r[4];
    cpuid_count(0x8000000a, 0, r);
    return r[3] & CPUID_8000000A_EDX_LBRV;
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

static unsigned long dump(struct vcpu *v, char *buf, unsigned long size)
{
    vmcb_of(v)->save.rax = v->gpr[GPR_RAX];
    vmcb_of(v)->save.rsp = v->gpr[GPR_RSP];
    return svm_vmcb_dump(vmcb_of(v), v->gpr, buf, size);
}

const struct backend_ops svm_ops = {
    .name = "svm",
    .vm_init = svm_vm_init,
    .vcpu_create = svm_vcpu_create,
    .idle_hlt = svm_idle_hlt,
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
    .get_dr = get_dr,
    .set_dr = set_dr,
    .get_cpl = get_cpl,
    .get_msr = get_msr,
    .set_msr = set_msr,
    .interrupt_shadow = interrupt_shadow,
    .set_interrupt_shadow = set_interrupt_shadow,
    .hold_interrupts = hold_interrupts,
    .flush_tlb = flush_tlb,
    .cpu_enable = svm_cpu_enable,
    .init_state = svm_init_state,
    .idle = svm_idle,
    .enter = enter,
    .handle_exit = svm_handle_exit,
    .exit_code = exit_code,
    .exit_name = svm_exit_name,
    .exit_codes = SVM_EXIT_MAX,
    .intr_exits = true, /* the INTR intercept (APM Vol.2 §15.21.1) */
    .insn_len = insn_len,
    .inject = inject,
    .apply_intercepts = apply_intercepts,
    .intercept_unsupported = intercept_unsupported,
    .set_io_intercept = set_io_intercept,
    .set_msr_intercept = set_msr_intercept,
    .check_state = check_state,
    .owned_msrs = owned_msrs,
    .nowned_msrs = sizeof(owned_msrs) / sizeof(owned_msrs[0]),
    .cpuid_filter = cpuid_filter,
    .msr_access = msr_access,
    .get_tsc_offset = get_tsc_offset,
    .set_tsc_offset = set_tsc_offset,
    .switch_cost = svm_switch_cost,
    .g2h = svm_g2h,
    .nested_root = svm_nested_root,
    .npt_map = svm_npt_map,
    .npt_protect = svm_npt_protect,
    .npt_hide = svm_npt_hide,
    .lbr_supported = lbr_supported,
    .lbr_enable = lbr_enable,
    .lbr_read = lbr_read,
    .dump = dump,
};
