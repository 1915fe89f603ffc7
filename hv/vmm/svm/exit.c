/*
 * #VMEXIT handling: pre -> dispatch table -> post.
 *
 * Only the exits setup asked for can occur (setup/vmcb.c), those the vmm
 * switches at run time (INTn in real mode; exceptions, CR reads, DR
 * accesses, INTn, I/O ports and MSRs the control stub asks for), plus
 * SVM_EXIT_INVALID for a bad VMCB. Anything else finds a NULL slot in the
 * table: the VMCB is dumped and the VMM halts with a message. It never
 * resumes silently.
 */
#include "common/cpu.h"
#include "common/log.h"
#include "hw/x86.h"
#include "vmm/control/control.h"
#include "vmm/core/emulate.h"
#include "vmm/core/policy.h"
#include "vmm/svm/svm.h"

typedef int svm_exit_fn(struct svm_vcpu *s);

/* Length of the instruction that exited: NRIP save when the CPU has it
 * (APM Vol.2 §15.7.1), else our decoder. Returns 0 if it cannot tell. */
static unsigned insn_len(struct svm_vcpu *s)
{
    struct insn in;
    if (s->vcpu.info->cpu_features & BOOT_CPU_NRIPS)
        return (unsigned)(s->vmcb->control.next_rip - s->vmcb->save.rip);
    return emu_decode_current(&s->vcpu, &in) ? 0 : in.len;
}

static int svm_exit_cr_write(struct svm_vcpu *s) { return cr_write_emulate(&s->vcpu); }

static int svm_exit_cpuid(struct svm_vcpu *s)
{
    unsigned len = insn_len(s);
    if (!len)
        return -1;
    cpuid_emulate(&s->vcpu);
    vcpu_advance(&s->vcpu, len);
    return 0;
}

static int svm_exit_msr(struct svm_vcpu *s)
{
    return msr_emulate(&s->vcpu, s->vmcb->control.exit_info_1 == 1);
}

/* APM Vol.2 §15.10.2: exit_info_1 describes the access, exit_info_2 is the
 * rip of the next instruction (given even without NRIP save). */
static int svm_exit_ioio(struct svm_vcpu *s)
{
    uint64_t info = s->vmcb->control.exit_info_1;
    uint16_t port = (uint16_t)(info >> SVM_IOIO_PORT_SHIFT);
    unsigned size = (unsigned)((info & SVM_IOIO_SIZE_MASK) >> SVM_IOIO_SIZE_SHIFT);
    bool in = info & SVM_IOIO_TYPE_IN;
    uint32_t val = (uint32_t)s->vcpu.gpr[GPR_RAX];

    size = size == 4 ? 4 : size == 2 ? 2 : 1; /* SZ32 / SZ16 / SZ8 one-hot */
    if (info & SVM_IOIO_STR) {
        log_printf("vmm: string I/O on intercepted port 0x%x is not emulated\n", port);
        return -1;
    }
    if (io_emulate(&s->vcpu, port, size, in, &val))
        return -1;
    if (in) {
        uint64_t mask = size == 4 ? 0xffffffffull : size == 2 ? 0xffffull : 0xffull;
        uint64_t rax = s->vcpu.gpr[GPR_RAX];
        /* A 32-bit IN zero-extends into RAX, narrower ones merge. */
        s->vcpu.gpr[GPR_RAX] = size == 4 ? val : (rax & ~mask) | (val & mask);
    }
    s->vmcb->save.rip = s->vmcb->control.exit_info_2;
    s->vcpu.ops->clear_shadow(&s->vcpu);
    return 0;
}

/* INTn exits: always in real mode (int 15h), and outside it while the stub
 * has software breakpoints or steps (QEMU's TCG reports INT3 here). */
static int svm_exit_swint(struct svm_vcpu *s) { return control_swint(&s->vcpu); }

/* Intercepted exceptions: #GP for the policy (core/excp.c), the others only
 * when the stub asked for them (APM Vol.2 §15.12:
 * exit_info_1 holds the error code, exit_info_2 the #PF address). */
static int svm_exit_excp(struct svm_vcpu *s)
{
    unsigned vec = (unsigned)(s->vmcb->control.exit_code - SVM_EXIT_EXCP_BASE);
    uint32_t err = (uint32_t)s->vmcb->control.exit_info_1;
    if (excp_policy(&s->vcpu, vec, err))
        return 0;
    return control_exception(&s->vcpu, vec, err, s->vmcb->control.exit_info_2);
}

/* MOV from CRn: only for CRs a client filters. */
static int svm_exit_cr_read(struct svm_vcpu *s) { return cr_read_emulate(&s->vcpu); }

/* MOV to/from DRn: only while the stub owns the debug registers. */
static int svm_exit_dr_read(struct svm_vcpu *s) { return control_dr_access(&s->vcpu, false); }
static int svm_exit_dr_write(struct svm_vcpu *s) { return control_dr_access(&s->vcpu, true); }

/*
 * HLT: the VMM takes the chance to poll its channel, then lets the VM halt
 * on the hardware (HLT intercept off until the next exit, svm_pre). The
 * next physical interrupt exits (INTR is always intercepted: it is the
 * periodic poll source) and then reaches the VM as usual. An idle VM thus
 * costs two exits per wake-up, not a spin.
 */
static int svm_exit_hlt(struct svm_vcpu *s)
{
    control_poll(&s->vcpu, CONTROL_POLL_HLT);
    s->vmcb->control.intercept_misc1 &= ~SVM_INTERCEPT1_HLT;
    s->hlt_parked = true;
    return 0;
}

/*
 * A physical interrupt, the periodic poll source. With V_INTR_MASKING clear
 * the interrupt stays pending (APM Vol.2 §15.21.1), but while INTR is
 * intercepted it would exit again at VMRUN instead of reaching the VM. So
 * the INTR intercept steps aside until the VM's handler returns: the IRET
 * intercept re-arms it. Two exits per interrupt, and the VMM gets a look at
 * the channel at the VM's timer rate even when the VM never exits.
 */
static int svm_exit_intr(struct svm_vcpu *s)
{
    s->vmcb->control.intercept_misc1 &= ~SVM_INTERCEPT1_INTR;
    s->vmcb->control.intercept_misc1 |= SVM_INTERCEPT1_IRET;
    return 0;
}

static int svm_exit_iret(struct svm_vcpu *s)
{
    s->vmcb->control.intercept_misc1 |= SVM_INTERCEPT1_INTR;
    s->vmcb->control.intercept_misc1 &= ~SVM_INTERCEPT1_IRET;
    return 0;
}

static int svm_exit_shutdown(struct svm_vcpu *s)
{
    log_printf("vmm: the VM shut down (triple fault); its state:\n");
    vcpu_log_dump(&s->vcpu);
    log_printf("vmm: the machine is halted: a triple fault has no VM to go back to\n");
    control_log_summary(&s->vcpu);
    cpu_halt_forever();
    return -1;
}

/* VMRUN, VMMCALL, VMLOAD, VMSAVE, STGI, CLGI, SKINIT, INVLPGA: the VM sees
 * a CPU without SVM, where they are undefined opcodes. */
static int svm_exit_svm_insn(struct svm_vcpu *s)
{
    undefined_opcode(&s->vcpu);
    return 0;
}

static int svm_exit_npf(struct svm_vcpu *s)
{
    return npf_handle(&s->vcpu, s->vmcb->control.exit_info_2,
                      s->vmcb->control.exit_info_1 & SVM_NPF_RW);
}

#define EXCP_NAME(n) [SVM_EXIT_EXCP_BASE + n] = "excp" #n

/* clang-format off: GNU range designators */
static svm_exit_fn *const svm_exit_handlers[SVM_EXIT_MAX] = {
    [SVM_EXIT_READ_CR0] = svm_exit_cr_read,
    [SVM_EXIT_READ_CR0 + 2] = svm_exit_cr_read,
    [SVM_EXIT_READ_CR0 + 3] = svm_exit_cr_read,
    [SVM_EXIT_READ_CR0 + 4] = svm_exit_cr_read,
    [SVM_EXIT_READ_DR0... SVM_EXIT_READ_DR0 + 7] = svm_exit_dr_read,
    [SVM_EXIT_WRITE_DR0... SVM_EXIT_WRITE_DR0 + 7] = svm_exit_dr_write,
    [SVM_EXIT_EXCP_BASE... SVM_EXIT_EXCP_BASE + 31] = svm_exit_excp,
    [SVM_EXIT_WRITE_CR0] = svm_exit_cr_write,
    [SVM_EXIT_WRITE_CR3] = svm_exit_cr_write,
    [SVM_EXIT_WRITE_CR4] = svm_exit_cr_write,
    [SVM_EXIT_INTR] = svm_exit_intr,
    [SVM_EXIT_IRET] = svm_exit_iret,
    [SVM_EXIT_CPUID] = svm_exit_cpuid,
    [SVM_EXIT_SWINT] = svm_exit_swint,
    [SVM_EXIT_HLT] = svm_exit_hlt,
    [SVM_EXIT_INVLPGA] = svm_exit_svm_insn,
    [SVM_EXIT_IOIO] = svm_exit_ioio,
    [SVM_EXIT_MSR] = svm_exit_msr,
    [SVM_EXIT_SHUTDOWN] = svm_exit_shutdown,
    [SVM_EXIT_VMRUN] = svm_exit_svm_insn,
    [SVM_EXIT_VMMCALL] = svm_exit_svm_insn,
    [SVM_EXIT_VMLOAD] = svm_exit_svm_insn,
    [SVM_EXIT_VMSAVE] = svm_exit_svm_insn,
    [SVM_EXIT_STGI] = svm_exit_svm_insn,
    [SVM_EXIT_CLGI] = svm_exit_svm_insn,
    [SVM_EXIT_SKINIT] = svm_exit_svm_insn,
    [SVM_EXIT_NPF] = svm_exit_npf,
};

/* clang-format on */

/* clang-format off */
static const char *const svm_exit_names[SVM_EXIT_MAX] = {
    [SVM_EXIT_READ_CR0] = "cr0_read",
    [SVM_EXIT_READ_CR0 + 2] = "cr2_read",
    [SVM_EXIT_READ_CR0 + 3] = "cr3_read",
    [SVM_EXIT_READ_CR0 + 4] = "cr4_read",
    [SVM_EXIT_READ_DR0 ... SVM_EXIT_READ_DR0 + 7] = "dr_read",
    [SVM_EXIT_WRITE_DR0 ... SVM_EXIT_WRITE_DR0 + 7] = "dr_write",
    EXCP_NAME(0), EXCP_NAME(1), EXCP_NAME(2), EXCP_NAME(3), EXCP_NAME(4), EXCP_NAME(5),
    EXCP_NAME(6), EXCP_NAME(7), EXCP_NAME(8), EXCP_NAME(9), EXCP_NAME(10), EXCP_NAME(11),
    EXCP_NAME(12), EXCP_NAME(13), EXCP_NAME(14), EXCP_NAME(15), EXCP_NAME(16), EXCP_NAME(17),
    EXCP_NAME(18), EXCP_NAME(19), EXCP_NAME(20), EXCP_NAME(21), EXCP_NAME(22), EXCP_NAME(23),
    EXCP_NAME(24), EXCP_NAME(25), EXCP_NAME(26), EXCP_NAME(27), EXCP_NAME(28), EXCP_NAME(29),
    EXCP_NAME(30), EXCP_NAME(31),
    [SVM_EXIT_WRITE_CR0] = "cr0_write",
    [SVM_EXIT_WRITE_CR3] = "cr3_write",
    [SVM_EXIT_WRITE_CR4] = "cr4_write",
    [SVM_EXIT_INTR] = "intr",
    [SVM_EXIT_IRET] = "iret",
    [SVM_EXIT_CPUID] = "cpuid",
    [SVM_EXIT_SWINT] = "intn",
    [SVM_EXIT_HLT] = "hlt",
    [SVM_EXIT_INVLPGA] = "invlpga",
    [SVM_EXIT_IOIO] = "ioio",
    [SVM_EXIT_MSR] = "msr",
    [SVM_EXIT_SHUTDOWN] = "shutdown",
    [SVM_EXIT_VMRUN] = "vmrun",
    [SVM_EXIT_VMMCALL] = "vmmcall",
    [SVM_EXIT_VMLOAD] = "vmload",
    [SVM_EXIT_VMSAVE] = "vmsave",
    [SVM_EXIT_STGI] = "stgi",
    [SVM_EXIT_CLGI] = "clgi",
    [SVM_EXIT_SKINIT] = "skinit",
    [SVM_EXIT_NPF] = "npf",
};
/* clang-format on */

const char *svm_exit_name(uint32_t code)
{
    if (code < SVM_EXIT_MAX && svm_exit_names[code])
        return svm_exit_names[code];
    return code == SVM_EXIT_INVALID ? "invalid" : "unknown";
}

/*
 * An exit that interrupted the delivery of an event (exit_int_info valid,
 * APM Vol.2 §15.7.2) must deliver it again. Software interrupts and INT3/INTO
 * are not re-injected: rip still points at the instruction, which runs again.
 */
static void svm_pre(struct svm_vcpu *s, uint32_t code)
{
    struct vmcb_control *c = &s->vmcb->control;

    s->vcpu.exits++;
    if (code < SVM_EXIT_MAX)
        s->exit_counts[code]++;
    else
        s->exit_other++;
    c->tlb_control = SVM_TLB_CONTROL_DO_NOTHING;
    c->event_inj = 0;
    if (c->exit_int_info & SVM_EVTINJ_VALID) {
        uint64_t type = c->exit_int_info & SVM_EVTINJ_TYPE_MASK;
        uint64_t vec = c->exit_int_info & SVM_EVTINJ_VEC_MASK;
        bool soft = type == SVM_EVTINJ_TYPE_SOFT ||
                    (type == SVM_EVTINJ_TYPE_EXEPT && (vec == X86_EXC_BP || vec == 4));
        if (!soft)
            c->event_inj = c->exit_int_info;
    }
    if (s->hlt_parked) {
        c->intercept_misc1 |= SVM_INTERCEPT1_HLT;
        s->hlt_parked = false;
    }
}

static void __attribute__((noreturn)) svm_unhandled(struct svm_vcpu *s, uint32_t code)
{
    log_printf("vmm: unhandled vm-exit 0x%x (%s) in %s mode; VMCB follows\n", code,
               svm_exit_name(code), vcpu_mode_name(&s->vcpu));
    vcpu_log_dump(&s->vcpu);
    log_printf("vmm: halted: an exit nobody handles is never resumed\n");
    control_log_summary(&s->vcpu);
    cpu_halt_forever();
    __builtin_unreachable();
}

void svm_handle_exit(struct svm_vcpu *s)
{
    uint32_t code = (uint32_t)s->vmcb->control.exit_code;
    svm_exit_fn *fn = code < SVM_EXIT_MAX ? svm_exit_handlers[code] : 0;

    svm_pre(s, code);
    if (!(s->vcpu.exits & ((1u << 22) - 1)))
        control_log_summary(&s->vcpu); /* the counters in the log every 4M exits */
    if (!fn || fn(s))
        svm_unhandled(s, code);
    control_poll(&s->vcpu, code == SVM_EXIT_WRITE_CR3 ? CONTROL_POLL_CR3
                           : code == SVM_EXIT_INTR    ? CONTROL_POLL_TICK
                                                      : CONTROL_POLL_EXIT);
}
