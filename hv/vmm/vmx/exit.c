/*
 * VMX exits -> the neutral handlers of core/exits.h.
 *
 * What can exit (SDM Vol.3C §26.1 "Instructions That Cause VM Exits",
 * §26.2 "Other Causes of VM Exits"): what the controls of ops.c
 * apply_intercepts ask for (HLT, the interrupt window, MOV DR, CR3,
 * exceptions, the ports and MSRs of the bitmaps, EPT violations, NMIs,
 * the preemption timer), and what exits unconditionally: CPUID, GETSEC,
 * INVD, XSETBV, the VMX instructions, INIT, SIPI (wait-for-SIPI only, which
 * the VMM never lets the VM enter: core/smp.c emulates it), triple fault,
 * task switches, EPT misconfigurations, and a failed VM entry. A reason
 * with no slot in the table is one nobody asked for: core/run.c treats it
 * as an instruction the VMM cannot emulate (logged with the VMCS, reported,
 * #UD to the VM) -- the VM never halts the VMM.
 */
#include "common/cpu.h"
#include "common/log.h"
#include "hw/x86.h"
#include "lib/insn.h"
#include "vmm/core/emulate.h"
#include "vmm/core/exits.h"
#include "vmm/core/vcpu.h"
#include "vmm/vmx/vmx.h"

typedef int vmx_exit_fn(struct vcpu *v, uint64_t qual);

/*
 * INT n in real mode while the IVT limit is shrunk (ops.c): the #GP came
 * from a vector >= 15h meeting the limit. IDT-vectoring information says
 * what was being delivered (§27.2.4): INT n itself (RIP at it: core
 * answers INT 15h or delivers the vector through the real IVT), or an
 * external interrupt, an NMI, an exception (core delivers it through the
 * IVT). Without it, the #GP is the instruction's own -- or an INT n the
 * CPU did not report as an event (decoded here).
 */
static int ivt_trap_gp(struct vcpu *v, uint32_t err)
{
    struct vmx_vcpu *s = to_vmx(v);
    uint32_t idt = (uint32_t)vmread(IDT_VECTORING_INFO_FIELD);
    struct insn in;

    vmwrite(GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_ACTIVE); /* a delivery woke it */
    if (idt & INTR_INFO_VALID_MASK) {
        unsigned vec = idt & INTR_INFO_VECTOR_MASK, type = idt & INTR_INFO_INTR_TYPE_MASK;
        if (vec * 4 + 3 > s->idt_limit) /* beyond the VM's own limit too: its #GP */
            return exit_exception(v, X86_EXC_GP, err, 0);
        if (type == INTR_TYPE_SOFT_INTR || type == INTR_TYPE_SOFT_EXCEPTION)
            return exit_intn(v);
        return exit_real_event(v, (uint8_t)vec);
    }
    if (!emu_decode(v, &in) && in.map == 1 && in.opcode == 0xcd &&
        (unsigned)(uint8_t)in.imm * 4 + 3 <= s->idt_limit)
        return exit_intn(v);
    return exit_exception(v, X86_EXC_GP, err, 0);
}

/* Exceptions and NMIs (§27.2.2): VM_EXIT_INTR_INFO gives the vector and
 * type, the exit qualification the #PF address or the #DB's DR6 bits
 * (Table 27-1), which the CPU has not written to DR6: they are, as the
 * delivery would have. */
static int vmx_exit_exception_nmi(struct vcpu *v, uint64_t qual)
{
    uint32_t info = (uint32_t)vmread(VM_EXIT_INTR_INFO);
    unsigned vec = info & INTR_INFO_VECTOR_MASK;
    uint32_t err =
        (info & INTR_INFO_DELIVER_CODE_MASK) ? (uint32_t)vmread(VM_EXIT_INTR_ERROR_CODE) : 0;
    if ((info & INTR_INFO_INTR_TYPE_MASK) == INTR_TYPE_NMI_INTR) {
        /* The exit took the NMI (§27.2.2: it is not delivered). */
        __atomic_add_fetch(&v->nmis_in, 1, __ATOMIC_SEQ_CST);
        vmx_unblock_nmi();
        return exit_nmi(v);
    }
    if (vec == X86_EXC_GP && to_vmx(v)->ivt_trap)
        return ivt_trap_gp(v, err);
    if ((info & INTR_INFO_INTR_TYPE_MASK) == INTR_TYPE_SOFT_EXCEPTION)
        to_vmx(v)->soft_len = (uint32_t)vmread(VM_EXIT_INSTRUCTION_LEN);
    if (vec == X86_EXC_DB) {
        uint64_t dr6;
        __asm__ volatile("mov %%dr6, %0" : "=r"(dr6));
        dr6 = (dr6 & ~(DR6_B0_B3 | DR6_BD | DR6_BS)) | DR6_FIXED |
              (qual & (DR6_B0_B3 | DR6_BD | DR6_BS));
        __asm__ volatile("mov %0, %%dr6" ::"r"(dr6));
    }
    return exit_exception(v, vec, err, qual);
}

static int vmx_exit_triple_fault(struct vcpu *v, uint64_t qual) { return exit_shutdown(v); }

/* INIT exits unconditionally (§26.2): the VMM never sends one to a core
 * in VMX operation (core/apic.c emulates the VM's), but should one come,
 * it is taken as the VM's INIT for this vCPU. SIPI exits only in
 * wait-for-SIPI, which the VM never enters on the hardware. */
static int vmx_exit_init(struct vcpu *v, uint64_t qual)
{
    v->init_pending = true;
    return 0;
}

static int vmx_exit_sipi(struct vcpu *v, uint64_t qual)
{
    vmwrite(GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_ACTIVE);
    return 0;
}

static int vmx_exit_intr_window(struct vcpu *v, uint64_t qual) { return exit_vintr(v); }
static int vmx_exit_cpuid(struct vcpu *v, uint64_t qual) { return exit_cpuid(v); }
static int vmx_exit_hlt(struct vcpu *v, uint64_t qual) { return exit_hlt(v); }

/* INVD exits unconditionally: the VMM writes back and invalidates instead
 * (dropping dirty lines would lose the VMM's own data). */
static int vmx_exit_invd(struct vcpu *v, uint64_t qual)
{
    __asm__ volatile("wbinvd" ::: "memory");
    vcpu_complete(v, (unsigned)vmread(VM_EXIT_INSTRUCTION_LEN));
    return 0;
}

/* GETSEC, the VMX instructions and VMFUNC: #UD, as on a CPU without VMX
 * and SMX (the VM's CPUID says neither). */
static int vmx_exit_virt_insn(struct vcpu *v, uint64_t qual) { return exit_virt_insn(v); }

/* §27.2.1, Table 27-3: the CR and the access type. */
static int vmx_exit_cr_access(struct vcpu *v, uint64_t qual)
{
    unsigned cr = CR_QUAL_CR(qual);
    if (CR_QUAL_TYPE(qual) == CR_QUAL_TYPE_MOV_FROM)
        return exit_cr_read(v, cr);
    return exit_cr_write(v, cr);
}

/* Table 27-4: bit 4 set for a MOV from DRn. */
static int vmx_exit_dr_access(struct vcpu *v, uint64_t qual)
{
    return exit_dr_access(v, !(qual & DR_QUAL_DIRECTION_OUT));
}

/* Table 27-5: size - 1, direction, string, port. */
static int vmx_exit_io(struct vcpu *v, uint64_t qual)
{
    unsigned size = (unsigned)(qual & IO_QUAL_SIZE_MASK) + 1;
    return exit_io(v, (uint16_t)(qual >> IO_QUAL_PORT_SHIFT), size, qual & IO_QUAL_IN,
                   qual & IO_QUAL_STRING, (unsigned)vmread(VM_EXIT_INSTRUCTION_LEN));
}

static int vmx_exit_msr_read(struct vcpu *v, uint64_t qual) { return exit_msr(v, false); }
static int vmx_exit_msr_write(struct vcpu *v, uint64_t qual) { return exit_msr(v, true); }

/*
 * LGDT, LIDT, SGDT, SIDT (descriptor-table exiting, on only while the IVT
 * limit is shrunk, so in real mode): the VM's IDTR limit is the one it
 * loads and stores, not the trap's (ops.c get_seg/set_seg). The memory
 * operand is 6 bytes: a 16-bit limit and a 24-bit base with a 16-bit
 * operand size, 32 bits with a 32-bit one (SDM Vol.2 "LGDT/LIDT").
 */
static int vmx_exit_gdtr_idtr(struct vcpu *v, uint64_t qual)
{
    unsigned id = DESC_INFO_IDENTITY(vmread(VMX_INSTRUCTION_INFO));
    enum seg which = (id == DESC_INFO_SIDT || id == DESC_INFO_LIDT) ? SEG_IDTR : SEG_GDTR;
    struct insn in;
    uint8_t m[10];
    uint64_t la;
    unsigned len;

    if (emu_decode(v, &in) || in.map != 2 || in.opcode != 0x01)
        return -1;
    len = in.mode == 64 ? 10 : 6;
    if (emu_operand_la(v, &in, len, &la))
        return 0; /* the fault is queued */
    struct seg_state t;
    if (id == DESC_INFO_LGDT || id == DESC_INFO_LIDT) {
        if (v->ops->get_cpl(v)) {
            vcpu_gp(v);
            return 0;
        }
        if (emu_read(v, la, m, len))
            return 0;
        uint64_t base = 0;
        for (unsigned i = 0; i < len - 2; i++)
            base |= (uint64_t)m[2 + i] << (8 * i);
        if (in.mode != 64 && in.opsize == 2)
            base &= 0xffffff;
        t = (struct seg_state){0, 0, (uint32_t)(m[0] | m[1] << 8), base};
        v->ops->set_seg(v, which, &t);
    } else {
        v->ops->get_seg(v, which, &t);
        m[0] = (uint8_t)t.limit;
        m[1] = (uint8_t)(t.limit >> 8);
        for (unsigned i = 0; i < len - 2; i++)
            m[2 + i] = (uint8_t)(t.base >> (8 * i));
        if (emu_write(v, la, m, len))
            return 0;
    }
    vcpu_complete(v, in.len);
    return 0;
}

/* LLDT, LTR, SLDT, STR: descriptor-table exiting is on only in real mode,
 * where they raise #UD (SDM Vol.2 "LLDT"...). */
static int vmx_exit_ldtr_tr(struct vcpu *v, uint64_t qual)
{
    vcpu_ud(v);
    return 0;
}

/* Table 27-7: the access, and the entry's R/W/X (0: not present). */
static int vmx_exit_ept_violation(struct vcpu *v, uint64_t qual)
{
    return exit_npf(v, vmread(GUEST_PHYSICAL_ADDRESS), qual & EPT_VIOLATION_ACC_WRITE,
                    qual & EPT_VIOLATION_RWX_MASK);
}

/* An EPT entry the CPU refuses (§29.3.3.1): the VMM's tables are wrong. */
static int vmx_exit_ept_misconfig(struct vcpu *v, uint64_t qual)
{
    log_printf("vmm: cpu%u: EPT misconfiguration at gpa 0x%llx: the VMCS follows\n", v->id,
               (unsigned long long)vmread(GUEST_PHYSICAL_ADDRESS));
    vcpu_log_dump(v);
    return exit_shutdown(v);
}

/* The periodic exit (ops.c enter), or at once for a kick taken in the VMM:
 * that kick is then the exit's cause, as if its NMI had exited. */
static int vmx_exit_preemption_timer(struct vcpu *v, uint64_t qual)
{
    if (__atomic_load_n(&v->kicks, __ATOMIC_SEQ_CST))
        return exit_nmi(v);
    return exit_tick(v);
}

/*
 * XSETBV exits unconditionally (§26.1.2). The VMM runs it for the VM with
 * the checks the CPU makes (SDM Vol.2 "XSETBV"): CPL 0, ECX 0, x87 state
 * kept, AVX only with SSE, no bit the CPU does not support (CPUID 0Dh).
 */
static int vmx_exit_xsetbv(struct vcpu *v, uint64_t qual)
{
    uint64_t val = (v->gpr[GPR_RDX] << 32) | (uint32_t)v->gpr[GPR_RAX];
    uint32_t r[4];
    cpuid_count(0xd, 0, r);
    uint64_t supported = ((uint64_t)r[3] << 32) | r[0];
    if (v->ops->get_cpl(v) || (uint32_t)v->gpr[GPR_RCX] || !(val & 1) || (val & ~supported) ||
        ((val & 4) && !(val & 2))) {
        vcpu_gp(v);
        return 0;
    }
    __asm__ volatile("xsetbv" ::"c"(0), "a"((uint32_t)val), "d"((uint32_t)(val >> 32)));
    vcpu_complete(v, (unsigned)vmread(VM_EXIT_INSTRUCTION_LEN));
    return 0;
}

static vmx_exit_fn *const vmx_exit_handlers[EXIT_REASON_MAX] = {
    [EXIT_REASON_EXCEPTION_NMI] = vmx_exit_exception_nmi,
    [EXIT_REASON_TRIPLE_FAULT] = vmx_exit_triple_fault,
    [EXIT_REASON_INIT_SIGNAL] = vmx_exit_init,
    [EXIT_REASON_SIPI_SIGNAL] = vmx_exit_sipi,
    [EXIT_REASON_INTERRUPT_WINDOW] = vmx_exit_intr_window,
    [EXIT_REASON_CPUID] = vmx_exit_cpuid,
    [EXIT_REASON_GETSEC] = vmx_exit_virt_insn,
    [EXIT_REASON_HLT] = vmx_exit_hlt,
    [EXIT_REASON_INVD] = vmx_exit_invd,
    [EXIT_REASON_VMCALL] = vmx_exit_virt_insn,
    [EXIT_REASON_VMCLEAR] = vmx_exit_virt_insn,
    [EXIT_REASON_VMLAUNCH] = vmx_exit_virt_insn,
    [EXIT_REASON_VMPTRLD] = vmx_exit_virt_insn,
    [EXIT_REASON_VMPTRST] = vmx_exit_virt_insn,
    [EXIT_REASON_VMREAD] = vmx_exit_virt_insn,
    [EXIT_REASON_VMRESUME] = vmx_exit_virt_insn,
    [EXIT_REASON_VMWRITE] = vmx_exit_virt_insn,
    [EXIT_REASON_VMOFF] = vmx_exit_virt_insn,
    [EXIT_REASON_VMON] = vmx_exit_virt_insn,
    [EXIT_REASON_CR_ACCESS] = vmx_exit_cr_access,
    [EXIT_REASON_DR_ACCESS] = vmx_exit_dr_access,
    [EXIT_REASON_IO_INSTRUCTION] = vmx_exit_io,
    [EXIT_REASON_MSR_READ] = vmx_exit_msr_read,
    [EXIT_REASON_MSR_WRITE] = vmx_exit_msr_write,
    [EXIT_REASON_GDTR_IDTR] = vmx_exit_gdtr_idtr,
    [EXIT_REASON_LDTR_TR] = vmx_exit_ldtr_tr,
    [EXIT_REASON_EPT_VIOLATION] = vmx_exit_ept_violation,
    [EXIT_REASON_EPT_MISCONFIG] = vmx_exit_ept_misconfig,
    [EXIT_REASON_INVEPT] = vmx_exit_virt_insn,
    [EXIT_REASON_PREEMPTION_TIMER] = vmx_exit_preemption_timer,
    [EXIT_REASON_INVVPID] = vmx_exit_virt_insn,
    [EXIT_REASON_XSETBV] = vmx_exit_xsetbv,
    [EXIT_REASON_VMFUNC] = vmx_exit_virt_insn,
};

static const char *const vmx_exit_names[EXIT_REASON_MAX] = {
    [EXIT_REASON_EXCEPTION_NMI] = "exception_nmi",
    [EXIT_REASON_EXTERNAL_INTERRUPT] = "external_interrupt",
    [EXIT_REASON_TRIPLE_FAULT] = "triple_fault",
    [EXIT_REASON_INIT_SIGNAL] = "init_signal",
    [EXIT_REASON_SIPI_SIGNAL] = "sipi_signal",
    [EXIT_REASON_IO_SMI] = "io_smi",
    [EXIT_REASON_OTHER_SMI] = "other_smi",
    [EXIT_REASON_INTERRUPT_WINDOW] = "interrupt_window",
    [EXIT_REASON_NMI_WINDOW] = "nmi_window",
    [EXIT_REASON_TASK_SWITCH] = "task_switch",
    [EXIT_REASON_CPUID] = "cpuid",
    [EXIT_REASON_GETSEC] = "getsec",
    [EXIT_REASON_HLT] = "hlt",
    [EXIT_REASON_INVD] = "invd",
    [EXIT_REASON_INVLPG] = "invlpg",
    [EXIT_REASON_RDPMC] = "rdpmc",
    [EXIT_REASON_RDTSC] = "rdtsc",
    [EXIT_REASON_RSM] = "rsm",
    [EXIT_REASON_VMCALL] = "vmcall",
    [EXIT_REASON_VMCLEAR] = "vmclear",
    [EXIT_REASON_VMLAUNCH] = "vmlaunch",
    [EXIT_REASON_VMPTRLD] = "vmptrld",
    [EXIT_REASON_VMPTRST] = "vmptrst",
    [EXIT_REASON_VMREAD] = "vmread",
    [EXIT_REASON_VMRESUME] = "vmresume",
    [EXIT_REASON_VMWRITE] = "vmwrite",
    [EXIT_REASON_VMOFF] = "vmxoff",
    [EXIT_REASON_VMON] = "vmxon",
    [EXIT_REASON_CR_ACCESS] = "cr_access",
    [EXIT_REASON_DR_ACCESS] = "dr_access",
    [EXIT_REASON_IO_INSTRUCTION] = "io",
    [EXIT_REASON_MSR_READ] = "msr_read",
    [EXIT_REASON_MSR_WRITE] = "msr_write",
    [EXIT_REASON_INVALID_STATE] = "invalid_state",
    [EXIT_REASON_MSR_LOAD_FAIL] = "msr_load_fail",
    [EXIT_REASON_MWAIT_INSTRUCTION] = "mwait",
    [EXIT_REASON_MONITOR_TRAP_FLAG] = "monitor_trap_flag",
    [EXIT_REASON_MONITOR_INSTRUCTION] = "monitor",
    [EXIT_REASON_PAUSE_INSTRUCTION] = "pause",
    [EXIT_REASON_MCE_DURING_VMENTRY] = "mce_during_vmentry",
    [EXIT_REASON_TPR_BELOW_THRESHOLD] = "tpr_below_threshold",
    [EXIT_REASON_APIC_ACCESS] = "apic_access",
    [EXIT_REASON_EOI_INDUCED] = "eoi_induced",
    [EXIT_REASON_GDTR_IDTR] = "gdtr_idtr",
    [EXIT_REASON_LDTR_TR] = "ldtr_tr",
    [EXIT_REASON_EPT_VIOLATION] = "ept_violation",
    [EXIT_REASON_EPT_MISCONFIG] = "ept_misconfig",
    [EXIT_REASON_INVEPT] = "invept",
    [EXIT_REASON_RDTSCP] = "rdtscp",
    [EXIT_REASON_PREEMPTION_TIMER] = "preemption_timer",
    [EXIT_REASON_INVVPID] = "invvpid",
    [EXIT_REASON_WBINVD] = "wbinvd",
    [EXIT_REASON_XSETBV] = "xsetbv",
    [EXIT_REASON_APIC_WRITE] = "apic_write",
    [EXIT_REASON_RDRAND] = "rdrand",
    [EXIT_REASON_INVPCID] = "invpcid",
    [EXIT_REASON_VMFUNC] = "vmfunc",
    [EXIT_REASON_ENCLS] = "encls",
    [EXIT_REASON_RDSEED] = "rdseed",
    [EXIT_REASON_PML_FULL] = "pml_full",
    [EXIT_REASON_XSAVES] = "xsaves",
    [EXIT_REASON_XRSTORS] = "xrstors",
    [EXIT_REASON_UMWAIT] = "umwait",
    [EXIT_REASON_TPAUSE] = "tpause",
    [EXIT_REASON_BUS_LOCK] = "bus_lock",
    [EXIT_REASON_NOTIFY] = "notify",
};

const char *vmx_exit_name(uint32_t code)
{
    if (code < EXIT_REASON_MAX && vmx_exit_names[code])
        return vmx_exit_names[code];
    return (code & VMX_EXIT_REASONS_FAILED_VMENTRY) ? "failed_vmentry" : "unknown";
}

/*
 * An exit that interrupted the delivery of an event (IDT-vectoring
 * information valid, §27.2.4) must deliver it again. A software interrupt or exception the VM itself executed
 * is not: RIP still points at its instruction, which runs again; one the
 * VMM injected (RIP already past it) is.
 */
static void redeliver(struct vcpu *v)
{
    static const uint8_t type_of[8] = {
        [0] = EVENT_INTR,     [2] = EVENT_NMI,       [3] = EVENT_EXCEPTION,
        [4] = EVENT_SOFT_INT, [5] = EVENT_EXCEPTION, [6] = EVENT_SOFT_EXCPT};
    uint32_t info = (uint32_t)vmread(IDT_VECTORING_INFO_FIELD);
    if (!(info & INTR_INFO_VALID_MASK))
        return;
    unsigned type = (info & INTR_INFO_INTR_TYPE_MASK) >> INTR_INFO_INTR_TYPE_SHIFT;
    bool soft = type == 4 || type == 6;
    if (soft && !to_vmx(v)->injected_soft)
        return;
    if (soft)
        to_vmx(v)->soft_len = (uint32_t)vmread(VM_EXIT_INSTRUCTION_LEN);
    struct x86_event ev = {type_of[type], (uint8_t)(info & INTR_INFO_VECTOR_MASK),
                           (info & INTR_INFO_DELIVER_CODE_MASK) != 0,
                           (uint32_t)vmread(IDT_VECTORING_ERROR_CODE)};
    /* core keeps a software event's RIP past its instruction (inject). */
    if (soft && !(vmx_vm_of(v->vm)->misc & VMX_MISC_ZERO_LEN_INS))
        vmwrite(GUEST_RIP, vmread(GUEST_RIP) + to_vmx(v)->soft_len);
    vcpu_redeliver(v, &ev);
}

/* A failed VM entry: VMLAUNCH/VMRESUME refused the VMCS (§31.4,
 * VM_INSTRUCTION_ERROR) or the guest state (§26.8: exit reason bit 31,
 * 33 invalid guest state, 34 MSR loading, 41 machine check). Logged with
 * the VMCS; the VM is shut down, as there is no state the CPU would have
 * produced to go back to. */
static int failed_entry(struct vcpu *v)
{
    struct vmx_vcpu *s = to_vmx(v);
    if (s->entry_failed)
        log_printf("vmm: cpu%u: %s failed, VM_INSTRUCTION_ERROR %llu; the VMCS follows\n", v->id,
                   s->launched ? "VMRESUME" : "VMLAUNCH",
                   (unsigned long long)vmread(VM_INSTRUCTION_ERROR));
    else
        log_printf("vmm: cpu%u: VM entry failed: exit reason 0x%x (%s), qualification 0x%llx; "
                   "the VMCS follows\n",
                   v->id, s->exit_reason, vmx_exit_name(VMX_EXIT_REASON_BASIC(s->exit_reason)),
                   (unsigned long long)vmread(EXIT_QUALIFICATION));
    vcpu_log_dump(v);
    return exit_shutdown(v);
}

int vmx_handle_exit(struct vcpu *v)
{
    struct vmx_vcpu *s = to_vmx(v);
    uint32_t reason = s->exit_reason;

    if (s->entry_failed || (reason & VMX_EXIT_REASONS_FAILED_VMENTRY))
        return failed_entry(v);
    unsigned basic = VMX_EXIT_REASON_BASIC(reason);
    uint64_t qual = vmread(EXIT_QUALIFICATION);
    /* The #GP of the IVT trap deals with the event it met itself. */
    bool ivt_gp = basic == EXIT_REASON_EXCEPTION_NMI && s->ivt_trap &&
                  (vmread(VM_EXIT_INTR_INFO) & INTR_INFO_VECTOR_MASK) == X86_EXC_GP;
    if (!ivt_gp)
        redeliver(v);
    s->injected_soft = false;
    vmx_exit_fn *fn = basic < EXIT_REASON_MAX ? vmx_exit_handlers[basic] : 0;
    if (!fn)
        return -1;
    return fn(v, qual);
}
