/*
 * backend_ops over the VMCS: how core/ reads and changes a vCPU on Intel,
 * and the vmx backend's own policy -- the VM sees a CPU without VMX:
 * CPUID leaf 1 ECX.VMX clear, CR4.VMXE hidden behind the CR4 read shadow,
 * IA32_FEATURE_CONTROL locked with VMX off, the VMX capability MSRs #GP,
 * VMX instructions #UD (exit.c).
 *
 * The VM's CR0 and CR4 are the read shadows (SDM Vol.3C §25.6.6): the
 * guest/host masks give the VMM every bit, so the hardware CR0/CR4 may
 * carry the fixed bits of VMX operation (CR0.NE, CR4.VMXE) unseen.
 *
 * Every operation on a vCPU's state works from any core: it runs between
 * vmx_vmcs_enter() and vmx_vmcs_leave() (vmcs.c), which make that vCPU's
 * VMCS the current one here, borrowed while the vCPU waits in the VMM.
 * The operations only its own core runs (enter, the exit's fields, event
 * injection, the intercepts) find it current already.
 */
#include "common/cpu.h"
#include "hw/x86.h"
#include "lib/fmt.h"
#include "vmm/core/gmem.h"
#include "vmm/core/vcpu.h"
#include "vmm/vmx/vmx.h"

_Static_assert(HOST_RSP == 0x6c14, "enter.S writes HOST_RSP by its encoding");

#define DEBUGCTL_BTF (1ull << 1) /* single-step on branches (SDM Vol.3B §17.4.1) */

/* PAE paging without long mode: VM entry loads the PDPTEs from the VMCS
 * (§26.3.2.4), so a CR write the VMM emulates must load them as the CPU
 * would (SDM Vol.3A §4.4.1). */
static void load_pdptrs(struct vcpu *v)
{
    uint64_t cr0 = vmread(CR0_READ_SHADOW), cr4 = vmread(CR4_READ_SHADOW);
    uint64_t pdpte[4] = {0};
    if (!(cr0 & CR0_PG) || !(cr4 & CR4_PAE) || (vmread(GUEST_IA32_EFER) & EFER_LMA))
        return;
    gmem_read(v, vmread(GUEST_CR3) & 0xffffffe0ull, pdpte, sizeof(pdpte));
    for (unsigned i = 0; i < 4; i++)
        vmwrite(GUEST_PDPTR0 + 2 * i, pdpte[i]);
}

static uint64_t cr_read(struct vcpu *v, unsigned n)
{
    uint64_t val = 0;
    switch (n) {
    case 0:
        return vmread(CR0_READ_SHADOW);
    case 2:
        /* CR2 is not in the VMCS: the VM's stays in the register, which
         * the VMM never faults to change (saved while the VMCS is away:
         * vmcs.c). */
        if (!vmx_regs_here(v))
            return to_vmx(v)->cr2;
        __asm__ volatile("mov %%cr2, %0" : "=r"(val));
        return val;
    case 3:
        return vmread(GUEST_CR3);
    case 4:
        return vmread(CR4_READ_SHADOW);
    default:
        return 0;
    }
}

static uint64_t get_cr(struct vcpu *v, unsigned n)
{
    struct vmcs_visit t;
    if (!vmx_vmcs_enter(v, &t))
        return 0;
    uint64_t val = cr_read(v, n);
    vmx_vmcs_leave(v, &t);
    return val;
}

static void cr_write(struct vcpu *v, unsigned n, uint64_t val)
{
    struct vmx_vm *b = vmx_vm_of(v->vm);
    switch (n) {
    case 0:
        /* Intel CPUs ignore a write to CR0's reserved bits 31:0 (they read
         * 0: SDM Vol.3A §2.5, measured under Bochs); the read shadow would
         * keep them. */
        val &= CR0_DEFINED;
        vmwrite(CR0_READ_SHADOW, val);
        vmwrite(GUEST_CR0, vmx_hw_cr0(b, val));
        break;
    case 2:
        if (vmx_regs_here(v))
            __asm__ volatile("mov %0, %%cr2" ::"r"(val));
        else
            to_vmx(v)->cr2 = val;
        return;
    case 3:
        vmwrite(GUEST_CR3, val);
        break;
    case 4:
        vmwrite(CR4_READ_SHADOW, val);
        vmwrite(GUEST_CR4, vmx_hw_cr4(b, val));
        break;
    default:
        return;
    }
    load_pdptrs(v);
}

static void set_cr(struct vcpu *v, unsigned n, uint64_t val)
{
    struct vmcs_visit t;
    if (!vmx_vmcs_enter(v, &t))
        return;
    cr_write(v, n, val);
    vmx_vmcs_leave(v, &t);
}

/* One VMCS field of v, read or written from any core (vmcs.c). */
static uint64_t field_get(struct vcpu *v, uint64_t field)
{
    struct vmcs_visit t;
    if (!vmx_vmcs_enter(v, &t))
        return 0;
    uint64_t val = vmread(field);
    vmx_vmcs_leave(v, &t);
    return val;
}

static void field_set(struct vcpu *v, uint64_t field, uint64_t val)
{
    struct vmcs_visit t;
    if (!vmx_vmcs_enter(v, &t))
        return;
    vmwrite(field, val);
    vmx_vmcs_leave(v, &t);
}

static uint64_t get_efer(struct vcpu *v) { return field_get(v, GUEST_IA32_EFER); }

/* The "IA-32e mode guest" entry control follows EFER.LMA (§26.3.1.1). */
static void efer_write(struct vcpu *v, uint64_t val)
{
    uint64_t entry = vmread(VM_ENTRY_CONTROLS) & ~(uint64_t)VM_ENTRY_IA32E_MODE;
    vmwrite(GUEST_IA32_EFER, val);
    vmwrite(VM_ENTRY_CONTROLS, entry | ((val & EFER_LMA) ? VM_ENTRY_IA32E_MODE : 0));
    load_pdptrs(v);
}

static void set_efer(struct vcpu *v, uint64_t val)
{
    struct vmcs_visit t;
    if (!vmx_vmcs_enter(v, &t))
        return;
    efer_write(v, val);
    vmx_vmcs_leave(v, &t);
}

static uint64_t get_rip(struct vcpu *v) { return field_get(v, GUEST_RIP); }
static void set_rip(struct vcpu *v, uint64_t rip) { field_set(v, GUEST_RIP, rip); }
static uint64_t get_rflags(struct vcpu *v) { return field_get(v, GUEST_RFLAGS); }
static void set_rflags(struct vcpu *v, uint64_t fl)
{
    field_set(v, GUEST_RFLAGS, fl | RFLAGS_FIXED);
}

/* core's attributes (type|S|DPL|P in 7:0, AVL|L|DB|G in 11:8) <-> the
 * access-rights field (Table 24-2: the same bits, the high nibble at
 * 15:12, bit 16 "unusable" for a segment with no descriptor loaded). */
static uint32_t ar_of(uint16_t attrib)
{
    uint32_t ar = (attrib & 0xffu) | ((attrib & 0xf00u) << 4);
    return (attrib & SEG_ATTR_P) ? ar : ar | VMX_AR_UNUSABLE_MASK;
}

static uint16_t attrib_of(uint32_t ar)
{
    uint16_t a = (uint16_t)((ar & 0xffu) | ((ar >> 4) & 0xf00u));
    return (ar & VMX_AR_UNUSABLE_MASK) ? (uint16_t)(a & ~SEG_ATTR_P) : a;
}

static void get_seg(struct vcpu *v, enum seg s, struct seg_state *out)
{
    struct vmcs_visit t;
    *out = (struct seg_state){0};
    if (!vmx_vmcs_enter(v, &t))
        return;
    if (s == SEG_GDTR || s == SEG_IDTR) {
        unsigned i = s == SEG_IDTR;
        out->selector = 0;
        out->attrib = 0;
        out->base = vmread(GUEST_GDTR_BASE + 2 * i);
        out->limit = (uint32_t)vmread(GUEST_GDTR_LIMIT + 2 * i);
        if (s == SEG_IDTR && to_vmx(v)->ivt_trap)
            out->limit = to_vmx(v)->idt_limit; /* the VM's, not the trap's */
    } else {
        out->selector = (uint16_t)vmread(GUEST_ES_SELECTOR + 2 * s);
        out->attrib = attrib_of((uint32_t)vmread(GUEST_ES_AR_BYTES + 2 * s));
        out->limit = (uint32_t)vmread(GUEST_ES_LIMIT + 2 * s);
        out->base = vmread(GUEST_ES_BASE + 2 * s);
    }
    vmx_vmcs_leave(v, &t);
}

static void seg_write(struct vcpu *v, enum seg s, const struct seg_state *in)
{
    struct vmx_vcpu *x = to_vmx(v);
    if (s == SEG_GDTR || s == SEG_IDTR) {
        unsigned i = s == SEG_IDTR;
        uint32_t limit = in->limit & 0xffff;
        vmwrite(GUEST_GDTR_BASE + 2 * i, in->base);
        if (s == SEG_IDTR && x->ivt_trap) {
            x->idt_limit = (uint16_t)limit;
            limit = limit < VMX_IVT_TRAP_LIMIT ? limit : VMX_IVT_TRAP_LIMIT;
        }
        vmwrite(GUEST_GDTR_LIMIT + 2 * i, limit);
        return;
    }
    vmwrite(GUEST_ES_SELECTOR + 2 * s, in->selector);
    vmwrite(GUEST_ES_AR_BYTES + 2 * s, ar_of(in->attrib));
    vmwrite(GUEST_ES_LIMIT + 2 * s, in->limit);
    vmwrite(GUEST_ES_BASE + 2 * s, in->base);
}

static void set_seg(struct vcpu *v, enum seg s, const struct seg_state *in)
{
    struct vmcs_visit t;
    if (!vmx_vmcs_enter(v, &t))
        return;
    seg_write(v, s, in);
    vmx_vmcs_leave(v, &t);
}

/* DR0-DR3 and DR6 are not in the VMCS: the VM's values stay in the
 * hardware registers, which the VMM itself never uses (saved with the
 * VMCS while it is away: vmcs.c). */
static uint64_t get_dr(struct vcpu *v, unsigned n)
{
    if (n == 7)
        return field_get(v, GUEST_DR7);
    if (vmx_regs_here(v))
        return hw_get_dr(n);
    return n < 4 ? to_vmx(v)->dr[n] : n == 6 ? to_vmx(v)->dr6 : 0;
}

static void set_dr(struct vcpu *v, unsigned n, uint64_t val)
{
    struct vmx_vcpu *x = to_vmx(v);
    if (n == 7)
        field_set(v, GUEST_DR7, val);
    else if (vmx_regs_here(v))
        hw_set_dr(n, val);
    else if (n < 4)
        x->dr[n] = val;
    else if (n == 6)
        x->dr6 = val;
}

/* SS.DPL is the CPL, even for an unusable SS (§24.4.1). */
static unsigned get_cpl(struct vcpu *v)
{
    return (unsigned)((field_get(v, GUEST_SS_AR_BYTES) & VMX_AR_DPL_MASK) >> VMX_AR_DPL_SHIFT);
}

/* The MSRs whose VM values the VMCS holds (§24.4.1, loaded and saved by
 * the entry/exit controls of init.c); 0 for the others. */
static uint32_t vmcs_msr(uint32_t msr)
{
    switch (msr) {
    case MSR_PAT:
        return GUEST_IA32_PAT;
    case MSR_DEBUGCTL:
        return GUEST_IA32_DEBUGCTL;
    case MSR_SYSENTER_CS:
        return GUEST_SYSENTER_CS;
    case MSR_SYSENTER_ESP:
        return GUEST_SYSENTER_ESP;
    case MSR_SYSENTER_EIP:
        return GUEST_SYSENTER_EIP;
    case MSR_FS_BASE:
        return GUEST_FS_BASE;
    case MSR_GS_BASE:
        return GUEST_GS_BASE;
    default:
        return 0;
    }
}

/* The VM's MSRs in the core's hardware, not in the VMCS: VM entry loads
 * only the MSRs of SDM Vol.3C §26.3.2.1 and of its MSR-load list (§26.4,
 * empty here), VM exit only the host's of §27.5.1, so these keep the VM's
 * values while the VMM runs. */
const uint32_t vmx_hw_msrs[VMX_HW_MSRS] = {MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SFMASK,
                                           MSR_KERNEL_GS_BASE};

static int hw_msr(uint32_t msr)
{
    for (int i = 0; i < VMX_HW_MSRS; i++)
        if (vmx_hw_msrs[i] == msr)
            return i;
    return -1;
}

static int get_msr(struct vcpu *v, uint32_t msr, uint64_t *val)
{
    if (msr == MSR_EFER) {
        *val = get_efer(v);
        return 0;
    }
    int h = hw_msr(msr);
    if (h >= 0) {
        *val = vmx_regs_here(v) ? rdmsr(msr) : to_vmx(v)->msr[h];
        return 0;
    }
    uint32_t f = vmcs_msr(msr);
    if (!f)
        return -1;
    *val = field_get(v, f);
    return 0;
}

static int set_msr(struct vcpu *v, uint32_t msr, uint64_t val)
{
    if (msr == MSR_EFER) {
        set_efer(v, val);
        return 0;
    }
    int h = hw_msr(msr);
    if (h >= 0) {
        if (vmx_regs_here(v))
            wrmsr(msr, val);
        else
            to_vmx(v)->msr[h] = val;
        return 0;
    }
    uint32_t f = vmcs_msr(msr);
    if (!f)
        return -1;
    field_set(v, f, val);
    return 0;
}

static bool interrupt_shadow(struct vcpu *v)
{
    return field_get(v, GUEST_INTERRUPTIBILITY_INFO) &
           (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS);
}

static void set_interrupt_shadow(struct vcpu *v, bool on)
{
    uint64_t i = field_get(v, GUEST_INTERRUPTIBILITY_INFO) &
                 ~(uint64_t)(GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS);
    field_set(v, GUEST_INTERRUPTIBILITY_INFO, on ? i | GUEST_INTR_STATE_STI : i);
}

/* With EPT on, INVEPT drops the VM's guest-physical and combined
 * (linear) mappings of the EPT tree, for every VPID (SDM Vol.3C §30.4.3). */
static void flush_tlb(struct vcpu *v) { to_vmx(v)->flush = true; }

static void enter(struct vcpu *v)
{
    struct vmx_vcpu *s = to_vmx(v);
    struct vmx_vm *b = vmx_vm_of(v->vm);

    vmx_vmcs_load(v); /* current again if it was put back (vmcs.c) */
    if (s->flush) {
        vmx_invept(b);
        s->flush = false;
    }
    if (b->timer) {
        /* The periodic exit source: 10 ms of TSC (§26.5.1: the timer
         * counts the TSC >> IA32_VMX_MISC[4:0]); 0 -- an exit before the
         * VM runs anything -- when a kick came while the core was in the
         * VMM (its NMI was taken here, not as an exit). */
        if (!b->timer_value && v->vm->tsc_hz)
            b->timer_value = (uint32_t)((v->vm->tsc_hz / 100) >> b->timer_shift);
        uint32_t t = b->timer_value ? b->timer_value : 0x100000;
        vmwrite(VMX_PREEMPTION_TIMER_VALUE, __atomic_load_n(&v->kicks, __ATOMIC_SEQ_CST) ? 0 : t);
    }
    /* §26.3.1.5: in an STI or MOV SS shadow with RFLAGS.TF set, the
     * single-step trap the CPU owes must be pending (BS), or the entry
     * fails. */
    uint64_t intr = vmread(GUEST_INTERRUPTIBILITY_INFO);
    if ((intr & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS)) &&
        (vmread(GUEST_RFLAGS) & RFLAGS_TF) && !(vmread(GUEST_IA32_DEBUGCTL) & DEBUGCTL_BTF))
        vmwrite(GUEST_PENDING_DBG_EXCEPTIONS, vmread(GUEST_PENDING_DBG_EXCEPTIONS) | DR6_BS);
    vmwrite(GUEST_RSP, v->gpr[GPR_RSP]);
    v->entry_tsc = rdtsc(); /* the stamps core's TSC rebasing goes by */
    s->entry_failed = vmx_world_switch(v->gpr, s->launched) != 0;
    v->exit_tsc = rdtsc();
    if (s->entry_failed) {
        s->exit_reason = VMX_EXIT_REASONS_FAILED_VMENTRY | 0xffff;
        return;
    }
    s->launched = true;
    v->gpr[GPR_RSP] = vmread(GUEST_RSP);
    s->exit_reason = (uint32_t)vmread(VM_EXIT_REASON);
}

/* The basic reason, or the whole field for a failed entry (counted apart). */
static uint32_t exit_code(struct vcpu *v)
{
    uint32_t r = to_vmx(v)->exit_reason;
    return (r & VMX_EXIT_REASONS_FAILED_VMENTRY) ? r : VMX_EXIT_REASON_BASIC(r);
}

/* VM_EXIT_INSTRUCTION_LEN is valid for the exits of instructions that
 * exit (§27.2.5); CPUID is one. */
static unsigned insn_len(struct vcpu *v) { return (unsigned)vmread(VM_EXIT_INSTRUCTION_LEN); }

/*
 * Event injection (SDM Vol.3C §26.6 "Event Injection", §24.8.3). A
 * software interrupt or INT3/INTO is injected with its instruction length,
 * which the CPU adds to RIP for the return address; core keeps RIP past
 * the instruction already, so RIP goes back by that length first -- or
 * stays, with a length of 0, where IA32_VMX_MISC bit 30 allows it.
 */
static void inject(struct vcpu *v, const struct x86_event *ev)
{
    static const uint32_t type[] = {
        [EVENT_INTR] = INTR_TYPE_EXT_INTR,
        [EVENT_NMI] = INTR_TYPE_NMI_INTR,
        [EVENT_EXCEPTION] = INTR_TYPE_HARD_EXCEPTION,
        [EVENT_SOFT_INT] = INTR_TYPE_SOFT_INTR,
        [EVENT_SOFT_EXCPT] = INTR_TYPE_SOFT_EXCEPTION,
    };
    struct vmx_vcpu *s = to_vmx(v);
    uint32_t info = ev->vector | type[ev->type] | INTR_INFO_VALID_MASK;
    bool soft = ev->type == EVENT_SOFT_INT || ev->type == EVENT_SOFT_EXCPT;
    if (ev->has_err && (vmread(CR0_READ_SHADOW) & CR0_PE)) {
        info |= INTR_INFO_DELIVER_CODE_MASK;
        vmwrite(VM_ENTRY_EXCEPTION_ERROR_CODE, ev->err);
    }
    if (soft) {
        unsigned len = 0;
        if (!(vmx_vm_of(v->vm)->misc & VMX_MISC_ZERO_LEN_INS)) {
            len = s->soft_len ? s->soft_len : (ev->type == EVENT_SOFT_INT ? 2 : 1);
            vmwrite(GUEST_RIP, vmread(GUEST_RIP) - len);
        }
        vmwrite(VM_ENTRY_INSTRUCTION_LEN, len);
    }
    /* An event injected into a halted VM wakes it (§26.6.1). */
    vmwrite(VM_ENTRY_INTR_INFO_FIELD, info);
    s->injected_soft = soft;
}

/*
 * What the VM exits on (Table 25-6, 25-7), from what core asks: HLT, the
 * interrupt window, MOV DR, CR3 loads and stores, the exceptions. INT n
 * has no intercept on VT-x: in real mode, the IVT limit is shrunk so that
 * INT 15h and above raise #GP, which exits (docs/vmx.md), with
 * descriptor-table exiting so that the VM's LIDT/SIDT see its own limit
 * (exit.c). Physical interrupts and IRET are not intercepted: the
 * preemption timer is the periodic exit source.
 */
static void apply_intercepts(struct vcpu *v, const struct intercepts *w)
{
    struct vmx_vcpu *s = to_vmx(v);
    struct vmx_vm *b = vmx_vm_of(v->vm);
    bool trap = w->intn && !(vmread(CR0_READ_SHADOW) & CR0_PE);
    uint32_t proc = b->proc_base, proc2 = b->proc2_base;

    if (w->hlt)
        proc |= CPU_BASED_HLT_EXITING;
    if (w->vintr)
        proc |= CPU_BASED_INTR_WINDOW_EXITING;
    if (w->dr)
        proc |= CPU_BASED_MOV_DR_EXITING;
    if (w->cr_write & (1u << 3))
        proc |= CPU_BASED_CR3_LOAD_EXITING;
    else
        proc &= ~CPU_BASED_CR3_LOAD_EXITING;
    if (w->cr_read & (1u << 3))
        proc |= CPU_BASED_CR3_STORE_EXITING;
    else
        proc &= ~CPU_BASED_CR3_STORE_EXITING;
    if (trap)
        proc2 |= SECONDARY_EXEC_DESC;
    vmwrite(CPU_BASED_VM_EXEC_CONTROL, (proc | b->proc.must1) & b->proc.may1);
    vmwrite(SECONDARY_VM_EXEC_CONTROL, (proc2 | b->proc2.must1) & b->proc2.may1);
    vmwrite(EXCEPTION_BITMAP, w->exceptions | (trap ? 1u << X86_EXC_GP : 0));

    if (trap && !s->ivt_trap) {
        s->idt_limit = (uint16_t)vmread(GUEST_IDTR_LIMIT);
        s->ivt_trap = true;
        vmwrite(GUEST_IDTR_LIMIT,
                s->idt_limit < VMX_IVT_TRAP_LIMIT ? s->idt_limit : VMX_IVT_TRAP_LIMIT);
    } else if (!trap && s->ivt_trap) {
        s->ivt_trap = false;
        vmwrite(GUEST_IDTR_LIMIT, s->idt_limit);
    }
}

/* What a filter may ask that VT-x cannot do (DESIGN: refused, never a
 * silent nothing). */
static const char *intercept_unsupported(const struct vm *vm, const struct intercepts *want)
{
    if (want->intn)
        return "INT n filters are unsupported on this CPU (VT-x has no INT n intercept)";
    if (want->cr_read & ((1u << 0) | (1u << 4)))
        return "CR0/CR4 read filters are unsupported on this CPU (VT-x reads them from the read "
               "shadows without an exit)";
    if (want->cr_read & ~(1u << 3))
        return "read filters on CRs other than CR3 are unsupported on this CPU";
    return 0;
}

/* I/O bitmaps A and B, one bit per port (§24.6.4). */
static void set_io_intercept(struct vm *vm, uint16_t port, bool on)
{
    uint8_t *m = vmx_vm_of(vm)->io_bitmap;
    if (on)
        m[port / 8] |= (uint8_t)(1u << (port % 8));
    else
        m[port / 8] &= (uint8_t) ~(1u << (port % 8));
}

/* The MSR bitmap (§24.6.9): reads of 0-1FFFh, reads of C0000000h-
 * C0001FFFh, then the same for writes, 1 KiB each. An MSR outside both
 * ranges always exits. */
static void set_msr_intercept(struct vm *vm, uint32_t msr, bool read, bool write)
{
    uint8_t *m = vmx_vm_of(vm)->msr_bitmap;
    uint32_t base;
    if (msr <= 0x1fff)
        base = 0;
    else if (msr >= 0xc0000000 && msr <= 0xc0001fff)
        base = 1024, msr -= 0xc0000000;
    else
        return;
    uint8_t bit = (uint8_t)(1u << (msr % 8));
    m[base + msr / 8] = read ? m[base + msr / 8] | bit : m[base + msr / 8] & (uint8_t)~bit;
    m[2048 + base + msr / 8] =
        write ? m[2048 + base + msr / 8] | bit : m[2048 + base + msr / 8] & (uint8_t)~bit;
}

/* VM entry checks the state itself (§26.3) and fails with an exit reason
 * that exit.c logs with the VMCS; there is no software copy to check
 * first, as there is for the VMCB. */
static int check_state(struct vcpu *v, const char **why)
{
    *why = 0;
    return 0;
}

/*
 * CPUID leaf 1 ECX[5]: no VMX (SDM Vol.3C §23.6). Leaf 8000_0001 EDX[11]
 * (SYSCALL/SYSRET) is set by Intel CPUs only when CPUID runs in 64-bit
 * mode (SDM Vol.2 CPUID, Table 3-8); the VMM always runs it there, so it
 * is cleared for a VM that is not.
 */
static void cpuid_filter(struct vcpu *v, uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    if (leaf == 1)
        r[2] &= ~CPUID_1_ECX_VMX;
    else if (leaf == 0x80000001 && v && vcpu_code_bits(v) != 64)
        r[3] &= ~CPUID_80000001_EDX_SYSCALL;
}

/* IA32_FEATURE_CONTROL and the VMX capability MSRs (the last of these
 * slots: the MSR numbers are consecutive). */
static const uint32_t owned_msrs[] = {
    MSR_IA32_FEAT_CTL,
    MSR_IA32_VMX_BASIC,
    MSR_IA32_VMX_PINBASED_CTLS,
    MSR_IA32_VMX_PROCBASED_CTLS,
    MSR_IA32_VMX_EXIT_CTLS,
    MSR_IA32_VMX_ENTRY_CTLS,
    MSR_IA32_VMX_MISC,
    MSR_IA32_VMX_CR0_FIXED0,
    MSR_IA32_VMX_CR0_FIXED1,
    MSR_IA32_VMX_CR4_FIXED0,
    MSR_IA32_VMX_CR4_FIXED1,
    MSR_IA32_VMX_VMCS_ENUM,
    MSR_IA32_VMX_PROCBASED_CTLS2,
    MSR_IA32_VMX_EPT_VPID_CAP,
    MSR_IA32_VMX_TRUE_PINBASED_CTLS,
    MSR_IA32_VMX_TRUE_PROCBASED_CTLS,
    MSR_IA32_VMX_TRUE_EXIT_CTLS,
    MSR_IA32_VMX_TRUE_ENTRY_CTLS,
    MSR_IA32_VMX_VMFUNC,
};

/* A CPU without VMX: IA32_FEATURE_CONTROL reads locked with both VMX
 * enables clear, and a write to it, locked, is #GP; the capability MSRs
 * do not exist, #GP (SDM Vol.3C §23.7; Vol.4 Table 2-2). */
static int msr_access(struct vcpu *v, uint32_t msr, bool write, uint64_t *val)
{
    if (msr == MSR_IA32_FEAT_CTL) {
        if (write)
            return -1;
        *val = FEAT_CTL_LOCKED;
        return 1;
    }
    if (msr >= MSR_IA32_VMX_FIRST && msr <= MSR_IA32_VMX_LAST)
        return -1;
    return 0;
}

/* Read from the copy: an AP joining the machine reads the boot CPU's,
 * whose VMCS is in use on its core (core/smp.c). */
static uint64_t get_tsc_offset(struct vcpu *v) { return to_vmx(v)->tsc_offset; }

static void set_tsc_offset(struct vcpu *v, uint64_t off)
{
    to_vmx(v)->tsc_offset = off;
    field_set(v, TSC_OFFSET, off);
}

/* LBR through the MSR load/store lists: not built yet. */
static bool lbr_supported(struct vcpu *v) { return false; }
static void lbr_enable(struct vcpu *v, bool on) {}
static void lbr_read(struct vcpu *v, uint64_t out[4]) { out[0] = out[1] = out[2] = out[3] = 0; }

static unsigned long dump(struct vcpu *v, char *buf, unsigned long size)
{
    struct vmcs_visit t;
    if (!vmx_vmcs_enter(v, &t))
        return (unsigned long)fmt_snprintf(buf, size, "cpu%u: its VMCS cannot be reached\n", v->id);
    unsigned long n = vmx_vmcs_dump(v, buf, size);
    vmx_vmcs_leave(v, &t);
    return n;
}

const struct backend_ops vmx_ops = {
    .name = "vmx",
    .vm_init = vmx_vm_init,
    .vcpu_create = vmx_vcpu_create,
    .idle_hlt = vmx_idle_hlt,
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
    .flush_tlb = flush_tlb,
    .cpu_enable = vmx_cpu_enable,
    .init_state = vmx_init_state,
    .idle = vmx_idle,
    .enter = enter,
    .handle_exit = vmx_handle_exit,
    .exit_code = exit_code,
    .exit_name = vmx_exit_name,
    .exit_codes = EXIT_REASON_MAX,
    .intr_exits = false, /* physical interrupts reach the VM (apply_intercepts) */
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
    .switch_cost = vmx_switch_cost,
    .g2h = vmx_g2h,
    .nested_root = vmx_nested_root,
    .npt_map = vmx_npt_map,
    .npt_protect = vmx_npt_protect,
    .npt_hide = vmx_npt_hide,
    .lbr_supported = lbr_supported,
    .lbr_enable = lbr_enable,
    .lbr_read = lbr_read,
    .dump = dump,
};
