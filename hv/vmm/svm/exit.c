/*
 * SVM exits -> the neutral handlers of core/exits.h.
 *
 * Only the exits the intercepts ask for can occur (svm/ops.c
 * apply_intercepts: what core/intercepts.c computes, plus the SVM
 * instructions and #GP this backend always takes), and VMEXIT_INVALID for
 * a VMCB the consistency checks missed. A code with no slot in the table
 * is one nobody asked for: core/run.c treats it as an instruction the VMM
 * cannot emulate (logged with the VMCB, reported, #UD to the VM).
 */
#include "common/log.h"
#include "hw/x86.h"
#include "lib/insn.h"
#include "lib/vmcb_check.h"
#include "vmm/core/emulate.h"
#include "vmm/core/exits.h"
#include "vmm/core/vcpu.h"
#include "vmm/svm/svm.h"

typedef int svm_exit_fn(struct vcpu *v, struct vmcb_control *c);

static int svm_exit_cr_read(struct vcpu *v, struct vmcb_control *c)
{
    return exit_cr_read(v, (unsigned)(c->exit_code - SVM_EXIT_READ_CR0));
}

static int svm_exit_cr_write(struct vcpu *v, struct vmcb_control *c)
{
    return exit_cr_write(v, (unsigned)(c->exit_code - SVM_EXIT_WRITE_CR0));
}

static int svm_exit_dr_read(struct vcpu *v, struct vmcb_control *c)
{
    return exit_dr_access(v, false);
}
static int svm_exit_dr_write(struct vcpu *v, struct vmcb_control *c)
{
    return exit_dr_access(v, true);
}

/* 0F 01 D8-DF: VMRUN VMMCALL VMLOAD VMSAVE STGI CLGI SKINIT INVLPGA */
static bool is_svm_insn(const struct insn *in)
{
    return in->map == 2 && in->opcode == 0x01 && in->has_modrm && (in->modrm & 0xf8) == 0xd8;
}

/*
 * Intercepted exceptions (APM Vol.2 §15.12: exit_info_1 holds the error
 * code, exit_info_2 the #PF address). The VM's EFER.SVME must stay set for
 * VMRUN (§15.5.1), so an SVM instruction outside ring 0 raises the #GP of
 * "SVM enabled, CPL > 0" where the CPU the VM sees raises #UD (APM Vol.3,
 * VMRUN...INVLPGA: #UD if EFER.SVME = 0, checked before the CPL): that #GP
 * becomes #UD here; every other one goes to core.
 */
static int svm_exit_excp(struct vcpu *v, struct vmcb_control *c)
{
    unsigned vec = (unsigned)(c->exit_code - SVM_EXIT_EXCP_BASE);
    struct insn in;
    if (vec == X86_EXC_GP && !emu_decode(v, &in) && is_svm_insn(&in))
        return exit_virt_insn(v);
    return exit_exception(v, vec, (uint32_t)c->exit_info_1, c->exit_info_2);
}

static int svm_exit_intr(struct vcpu *v, struct vmcb_control *c) { return exit_intr(v); }

/* The NMI stays pending while GIF is clear (APM Vol.2 §15.17): a moment
 * of GIF=1 takes it in the host (vmm/entry.S's NMI handler only returns),
 * then core decides whose it is. */
static int svm_exit_nmi(struct vcpu *v, struct vmcb_control *c)
{
    __asm__ volatile("stgi; clgi" ::: "memory");
    return exit_nmi(v);
}

static int svm_exit_vintr(struct vcpu *v, struct vmcb_control *c) { return exit_vintr(v); }
static int svm_exit_cpuid(struct vcpu *v, struct vmcb_control *c) { return exit_cpuid(v); }
static int svm_exit_iret(struct vcpu *v, struct vmcb_control *c) { return exit_iret(v); }
static int svm_exit_swint(struct vcpu *v, struct vmcb_control *c) { return exit_intn(v); }
static int svm_exit_hlt(struct vcpu *v, struct vmcb_control *c) { return exit_hlt(v); }

/* APM Vol.2 §15.10.2: exit_info_1 describes the access, exit_info_2 is the
 * rip of the next instruction (given even without NRIP save). */
static int svm_exit_ioio(struct vcpu *v, struct vmcb_control *c)
{
    uint64_t info = c->exit_info_1;
    unsigned size = (unsigned)((info & SVM_IOIO_SIZE_MASK) >> SVM_IOIO_SIZE_SHIFT);
    size = size == 4 ? 4 : size == 2 ? 2 : 1; /* SZ32 / SZ16 / SZ8, one-hot */
    unsigned len = (unsigned)(c->exit_info_2 - vmcb_of(v)->save.rip);
    return exit_io(v, (uint16_t)(info >> SVM_IOIO_PORT_SHIFT), size, info & SVM_IOIO_TYPE_IN,
                   info & SVM_IOIO_STR, len);
}

static int svm_exit_msr(struct vcpu *v, struct vmcb_control *c)
{
    return exit_msr(v, c->exit_info_1 == 1);
}

static int svm_exit_shutdown(struct vcpu *v, struct vmcb_control *c) { return exit_shutdown(v); }
static int svm_exit_svm_insn(struct vcpu *v, struct vmcb_control *c) { return exit_virt_insn(v); }

/* APM Vol.2 §15.25.6: exit_info_1 is the #PF-style error code, exit_info_2
 * the guest-physical address. */
static int svm_exit_npf(struct vcpu *v, struct vmcb_control *c)
{
    return exit_npf(v, c->exit_info_2, c->exit_info_1 & SVM_NPF_RW, c->exit_info_1 & SVM_NPF_P);
}

/* clang-format off: GNU range designators */
static svm_exit_fn *const svm_exit_handlers[SVM_EXIT_MAX] = {
    [SVM_EXIT_READ_CR0... SVM_EXIT_READ_CR0 + 15] = svm_exit_cr_read,
    [SVM_EXIT_WRITE_CR0... SVM_EXIT_WRITE_CR0 + 15] = svm_exit_cr_write,
    [SVM_EXIT_READ_DR0... SVM_EXIT_READ_DR0 + 7] = svm_exit_dr_read,
    [SVM_EXIT_WRITE_DR0... SVM_EXIT_WRITE_DR0 + 7] = svm_exit_dr_write,
    [SVM_EXIT_EXCP_BASE... SVM_EXIT_EXCP_BASE + 31] = svm_exit_excp,
    [SVM_EXIT_INTR] = svm_exit_intr,
    [SVM_EXIT_NMI] = svm_exit_nmi,
    [SVM_EXIT_VINTR] = svm_exit_vintr,
    [SVM_EXIT_CPUID] = svm_exit_cpuid,
    [SVM_EXIT_IRET] = svm_exit_iret,
    [SVM_EXIT_SWINT] = svm_exit_swint,
    [SVM_EXIT_HLT] = svm_exit_hlt,
    [SVM_EXIT_INVLPGA] = svm_exit_svm_insn,
    [SVM_EXIT_IOIO] = svm_exit_ioio,
    [SVM_EXIT_MSR] = svm_exit_msr,
    [SVM_EXIT_SHUTDOWN] = svm_exit_shutdown,
    [SVM_EXIT_VMRUN... SVM_EXIT_SKINIT] = svm_exit_svm_insn,
    [SVM_EXIT_NPF] = svm_exit_npf,
};

#define EXCP_NAME(n) [SVM_EXIT_EXCP_BASE + n] = "excp" #n
#define CR_NAMES(n)                                                                                \
    [SVM_EXIT_READ_CR0 + n] = "cr" #n "_read", [SVM_EXIT_WRITE_CR0 + n] = "cr" #n "_write"
static const char *const svm_exit_names[SVM_EXIT_MAX] = {
    CR_NAMES(0),
    CR_NAMES(2),
    CR_NAMES(3),
    CR_NAMES(4),
    CR_NAMES(8),
    [SVM_EXIT_READ_DR0... SVM_EXIT_READ_DR0 + 7] = "dr_read",
    [SVM_EXIT_WRITE_DR0... SVM_EXIT_WRITE_DR0 + 7] = "dr_write",
    EXCP_NAME(0),
    EXCP_NAME(1),
    EXCP_NAME(2),
    EXCP_NAME(3),
    EXCP_NAME(4),
    EXCP_NAME(5),
    EXCP_NAME(6),
    EXCP_NAME(7),
    EXCP_NAME(8),
    EXCP_NAME(9),
    EXCP_NAME(10),
    EXCP_NAME(11),
    EXCP_NAME(12),
    EXCP_NAME(13),
    EXCP_NAME(14),
    EXCP_NAME(15),
    EXCP_NAME(16),
    EXCP_NAME(17),
    EXCP_NAME(18),
    EXCP_NAME(19),
    EXCP_NAME(20),
    EXCP_NAME(21),
    EXCP_NAME(22),
    EXCP_NAME(23),
    EXCP_NAME(24),
    EXCP_NAME(25),
    EXCP_NAME(26),
    EXCP_NAME(27),
    EXCP_NAME(28),
    EXCP_NAME(29),
    EXCP_NAME(30),
    EXCP_NAME(31),
    [SVM_EXIT_INTR] = "intr",
    [SVM_EXIT_NMI] = "nmi",
    [SVM_EXIT_VINTR] = "vintr",
    [SVM_EXIT_CPUID] = "cpuid",
    [SVM_EXIT_IRET] = "iret",
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
 * APM Vol.2 §15.7.2) must deliver it again. A software interrupt the VM
 * itself executed is not: rip still points at its instruction, which runs
 * again; one the VMM injected (rip already past it) is.
 */
static void redeliver(struct vcpu *v, const struct vmcb_control *c)
{
    static const uint8_t type_of[8] = {
        [0] = EVENT_INTR, [2] = EVENT_NMI, [3] = EVENT_EXCEPTION, [4] = EVENT_SOFT_INT};
    uint64_t info = c->exit_int_info;
    if (!(info & SVM_EVTINJ_VALID))
        return;
    unsigned type = (unsigned)((info & SVM_EVTINJ_TYPE_MASK) >> 8);
    unsigned vec = (unsigned)(info & SVM_EVTINJ_VEC_MASK);
    bool soft = type == 4 || (type == 3 && (vec == X86_EXC_BP || vec == X86_EXC_OF));
    if (soft && !to_svm(v)->injected_soft)
        return;
    struct x86_event ev = {soft ? EVENT_SOFT_INT : type_of[type], (uint8_t)vec,
                           (info & SVM_EVTINJ_VALID_ERR) != 0, (uint32_t)(info >> 32)};
    vcpu_redeliver(v, &ev);
}

/*
 * VMEXIT_INVALID. QEMU's TCG also exits so (not with a #GP) when the VM
 * itself moves a reserved bit into CR3 or CR4 while running: the VMCB is
 * then the VM's, at that instruction, and valid by the consistency checks
 * the VMM makes before each entry. Such a MOV is emulated, with the checks
 * that fault it as the CPU would. Anything else is a state VMRUN refused
 * that the checks let through: logged, and the VM shut down -- there is no
 * state to go back to that the CPU would have produced.
 */
static int svm_exit_invalid(struct vcpu *v)
{
    const struct cpu_caps *cc = &v->vm->caps;
    struct vmcb_caps caps = {cc->cr4_allowed, cc->efer_allowed | EFER_SVME, cc->maxphyaddr,
                             cc->long_mode};
    struct insn in;
    if (!vmcb_check(vmcb_of(v), &caps, false) && !emu_decode(v, &in) && in.map == 2 &&
        in.opcode == 0x22)
        return exit_cr_write(v, emu_modrm_reg(&in));
    log_printf("vmm: cpu%u: VMRUN refused the VMCB (VMEXIT_INVALID); it follows\n", v->id);
    vcpu_log_dump(v);
    return exit_shutdown(v);
}

int svm_handle_exit(struct vcpu *v)
{
    struct vmcb_control *c = &vmcb_of(v)->control;
    uint32_t code = (uint32_t)c->exit_code;

    c->tlb_control = SVM_TLB_CONTROL_DO_NOTHING;
    c->event_inj = 0;
    if (code == SVM_EXIT_INVALID)
        return svm_exit_invalid(v);
    redeliver(v, c);
    to_svm(v)->injected_soft = false;
    svm_exit_fn *fn = code < SVM_EXIT_MAX ? svm_exit_handlers[code] : 0;
    if (!fn)
        return -1;
    return fn(v, c);
}
