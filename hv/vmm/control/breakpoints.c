/*
 * Breakpoints, watchpoints and single-step.
 *
 * Software breakpoints are int3 bytes written at the physical address the
 * client's linear address maps to, machine-wide. On AMD hardware INT3 exits
 * through the #BP exception intercept; QEMU's TCG reports it as an INT n
 * exit instead, so both paths lead here. Hardware breakpoints and
 * watchpoints use DR0-3 with DR7 (AMD APM Vol.2 §13.1), on every vCPU:
 * each programs its own debug registers before it runs. While the stub uses
 * them, the VM's own values are shadowed (core: v->dr_guest) and its
 * accesses intercepted. Single-step sets RFLAGS.TF and intercepts #DB; the
 * VM never sees our TF: PUSHF images are fixed, POPF/IRET values kept, and
 * INT n and SYSCALL are stepped over with a one-shot DR breakpoint on the
 * return address.
 */
#include "common/log.h"
#include "hw/x86.h"
#include "lib/fmt.h"
#include "lib/insn.h"
#include "vmm/control/ctrl.h"
#include "vmm/core/emulate.h"
#include "vmm/core/gmem.h"
#include "vmm/core/vcpu.h"

#define DR7_LE (1ull << 8)

static struct ctrl *ctrl(struct vcpu *v) { return ctrl_of(v->vm); }

static int to_phys(struct vcpu *v, uint64_t la, uint64_t *pa)
{
    if (!(v->ops->get_cr(v, 0) & CR0_PG)) {
        *pa = la;
        return 0;
    }
    return gmem_linear_to_phys(v, 0, la, pa);
}

static int find_sw(struct ctrl *c, uint64_t la)
{
    for (int i = 0; i < CTRL_SWBP_MAX; i++)
        if (c->sw[i].used && c->sw[i].addr == la)
            return i;
    return -1;
}

bool ctrl_hides_tf(struct vcpu *v)
{
    struct ctrl_vcpu *cv = cv_of(v);
    return cv->stepping && !cv->guest_tf;
}

/* The breakpoints, steps or filters changed: every vCPU recomputes its
 * intercepts before its next entry, and programs its debug registers (a
 * vCPU that stayed halted in the VM through the stop does it at its next
 * exit: ctrl_dr_sync). */
static void all_intercepts_changed(struct ctrl *c)
{
    c->dr_gen++;
    for (unsigned i = 0; i < c->vm->nvcpus; i++)
        vcpu_intercepts_changed(c->vm->vcpus[i]);
}

/* --- debug registers --- */

/* The stub takes (or gives back) the hardware debug registers of v's own
 * core: the VM's values move to (from) the shadow. */
static void own_dr(struct vcpu *v, bool own)
{
    if (own == v->dr_shadowed)
        return;
    if (own) {
        for (unsigned i = 0; i < 4; i++)
            v->dr_guest[i] = v->ops->get_dr(v, i);
        v->dr_guest[6] = v->ops->get_dr(v, 6);
        v->dr_guest[7] = v->ops->get_dr(v, 7);
        v->ops->set_dr(v, 7, DR7_FIXED);
    } else {
        for (unsigned i = 0; i < 4; i++)
            v->ops->set_dr(v, i, v->dr_guest[i]);
        v->ops->set_dr(v, 6, v->dr_guest[6]);
        v->ops->set_dr(v, 7, v->dr_guest[7]);
    }
    v->dr_shadowed = own;
    vcpu_intercepts_changed(v);
}

static uint64_t dr7_bits(unsigned i, unsigned type, unsigned len)
{
    /* R/W: 00 execute, 01 write, 11 read/write; LEN: 00 1, 01 2, 11 4, 10 8 */
    uint64_t rw = type == 1 ? 0 : type == 2 ? 1 : 3;
    uint64_t ln = type == 1 ? 0 : len == 2 ? 1 : len == 4 ? 3 : len == 8 ? 2 : 0;
    return (1ull << (2 * i)) | (rw << (16 + 4 * i)) | (ln << (18 + 4 * i));
}

/* Programs v's DR0-3/DR7 from the machine's breakpoints and v's own step
 * over a system call. Runs on v's core. */
static void dr_program(struct vcpu *v)
{
    struct ctrl *c = ctrl(v);
    struct ctrl_vcpu *cv = cv_of(v);
    cv->dr_gen = c->dr_gen;
    uint64_t dr7 = DR7_FIXED | DR7_LE;
    bool any = cv->step_int_dr >= 0;
    for (unsigned i = 0; i < 4; i++) {
        if (c->hw[i].used) {
            v->ops->set_dr(v, i, c->hw[i].addr);
            dr7 |= dr7_bits(i, c->hw[i].type, c->hw[i].len);
            any = true;
        }
    }
    own_dr(v, any);
    if (any)
        v->ops->set_dr(
            v, 7, dr7 | (cv->step_int_dr >= 0 ? dr7_bits((unsigned)cv->step_int_dr, 1, 1) : 0));
}

void ctrl_dr_sync(struct vcpu *v)
{
    if (cv_of(v)->dr_gen != ctrl(v)->dr_gen)
        dr_program(v);
}

/* What the stub needs intercepted on v: #DB while it steps or uses the
 * DRs, #BP (and INT n: TCG's INT3) while it has int3 breakpoints, INT n
 * while it steps (over system calls). */
static void stub_intercepts(struct vcpu *v, struct intercepts *want)
{
    struct ctrl *c = ctrl(v);
    struct ctrl_vcpu *cv = cv_of(v);
    bool db = cv->stepping || cv->step_over_sw >= 0 || v->dr_shadowed || cv->step_int_dr >= 0 ||
              c->stray_tf;
    if (db)
        want->exceptions |= 1u << X86_EXC_DB;
    if (c->nsw)
        want->exceptions |= 1u << X86_EXC_BP;
    if (c->nsw || cv->stepping)
        want->intn = true;
    if (c->s.step_cr3_mode && (cv->stepping || c->cr3_wait))
        want->cr_write |= 1u << 3;
}

void ctrl_hook_intercepts(struct vcpu *v, struct intercepts *want)
{
    const struct filters *f = &ctrl(v)->s.f;
    want->exceptions |= f->excp;
    want->cr_read |= f->cr_read;
    want->cr_write |= f->cr_write;
    stub_intercepts(v, want);
}

/* --- Z/z packets --- */

static int sw_insert(struct ctrl *c, struct vcpu *v, uint64_t addr)
{
    uint64_t pa;
    uint8_t cc = 0xcc, saved;
    if (find_sw(c, addr) >= 0)
        return 0;
    int i;
    for (i = 0; i < CTRL_SWBP_MAX && c->sw[i].used; i++)
        ;
    if (i == CTRL_SWBP_MAX || to_phys(v, addr, &pa) || gmem_read(v, pa, &saved, 1) ||
        gmem_write(v, pa, &cc, 1))
        return -1;
    c->sw[i] = (struct swbp){true, addr, pa, saved};
    c->nsw++;
    return 0;
}

static void sw_remove(struct ctrl *c, int i)
{
    struct vcpu *v = c->vm->vcpus[0];
    gmem_write(v, c->sw[i].pa, &c->sw[i].saved, 1);
    c->sw[i].used = false;
    c->nsw--;
    for (unsigned k = 0; k < c->vm->nvcpus; k++)
        if (cv_of(c->vm->vcpus[k])->step_over_sw == i)
            cv_of(c->vm->vcpus[k])->step_over_sw = -1;
}

int ctrl_bp_insert(void *ctx, unsigned type, uint64_t addr, unsigned len)
{
    struct ctrl *c = ctx;
    struct vcpu *v = c->vm->vcpus[c->s.gthread < c->vm->nvcpus ? c->s.gthread : 0];
    ctrl_settle(c, v); /* its paging translates addr */
    if (type == 0) {
        if (sw_insert(c, v, addr))
            return -1;
    } else if (type <= 4) {
        unsigned i;
        if (type != 1 && len != 1 && len != 2 && len != 4 && len != 8)
            return -1;
        for (i = 0; i < 4; i++)
            if (c->hw[i].used && c->hw[i].addr == addr && c->hw[i].type == type)
                return 0;
        for (i = 0; i < 4 && (c->hw[i].used || (int)i == cv_of(v)->step_int_dr); i++)
            ;
        if (i == 4)
            return -1; /* DR0-3 all taken */
        c->hw[i] = (struct hwbp){true, (uint8_t)type, (uint8_t)len, addr};
    } else {
        return -1;
    }
    all_intercepts_changed(c);
    return 0;
}

int ctrl_bp_remove(void *ctx, unsigned type, uint64_t addr, unsigned len)
{
    struct ctrl *c = ctx;
    if (type == 0) {
        int i = find_sw(c, addr);
        if (i < 0)
            return -1;
        sw_remove(c, i);
    } else {
        unsigned i;
        for (i = 0; i < 4; i++)
            if (c->hw[i].used && c->hw[i].addr == addr && c->hw[i].type == type)
                break;
        if (i == 4)
            return -1;
        c->hw[i].used = false;
    }
    all_intercepts_changed(c);
    return 0;
}

void ctrl_bp_clear_all(struct ctrl *c)
{
    for (unsigned k = 0; k < c->vm->nvcpus; k++)
        ctrl_step_abandon(c->vm->vcpus[k]);
    for (int i = 0; i < CTRL_SWBP_MAX; i++)
        if (c->sw[i].used)
            sw_remove(c, i);
    for (unsigned i = 0; i < 4; i++)
        c->hw[i].used = false;
    c->s.step_cr3_mode = false;
    c->cr3_wait = false;
    all_intercepts_changed(c);
}

/* --- resuming and stepping --- */

/* TF for one instruction, with interrupts held off before it where the
 * backend can: an interrupt taken first would clear TF and run its handler
 * untraced (SDM Vol.3A §6.12.1.3: delivery clears TF), maybe for good if
 * it waits on a vCPU the step keeps stopped. */
static void arm_tf(struct vcpu *v)
{
    uint64_t fl = v->ops->get_rflags(v);
    v->ops->set_rflags(v, fl | RFLAGS_TF);
    if (v->ops->hold_interrupts)
        v->ops->hold_interrupts(v);
}

/*
 * System calls are stepped over, not into: INT n (in real mode too: the
 * BIOS services, a stepi over `int 13h` ends after it), and SYSCALL. TF
 * would leak to the VM through them: INT n pushes it in the handler's
 * frame (SDM Vol.2 "INT n": real-address mode pushes FLAGS, then clears
 * TF), SYSCALL saves it in R11 and SYSRET loads it back, so the caller
 * would trap after its next instruction (AMD APM Vol.3, SYSCALL and
 * SYSRET). SYSENTER returns where the kernel chooses: it keeps TF stepping.
 */
static bool is_system_call(const struct insn *in)
{
    if (in->map == 1 && (in->opcode == 0xcd || in->opcode == 0xcc || in->opcode == 0xce))
        return true;
    return in->map == 2 && in->opcode == 0x05;
}

static void set_cr3_wait(struct ctrl *c, bool on)
{
    c->cr3_wait = on;
    all_intercepts_changed(c);
}

static bool in_stepped_process(struct vcpu *v)
{
    struct ctrl *c = ctrl(v);
    return v->ops->get_cpl(v) == 3 && v->ops->get_cr(v, 3) == c->s.step_cr3;
}

void ctrl_prepare_resume(struct vcpu *v, bool step)
{
    struct ctrl *c = ctrl(v);
    struct ctrl_vcpu *cv = cv_of(v);
    uint64_t la = vcpu_linear_rip(v);
    uint64_t fl = v->ops->get_rflags(v);
    struct insn in;
    bool decoded = false;

    cv->guest_tf = fl & RFLAGS_TF;
    cv->step_opcode = 0;
    cv->stepping = step;
    cv->step_la = la;
    cv->step_cr3 = v->ops->get_cr(v, 3);
    if (step && c->s.step_cr3_mode && !in_stepped_process(v)) {
        /* Not in the process yet: this vCPU steps on if it runs the
         * process's kernel side; else every vCPU runs until one switches
         * to the process (ctrl_step_cr3_written). */
        cv->stepping = v->ops->get_cr(v, 3) == c->s.step_cr3;
        set_cr3_wait(c, !cv->stepping);
    }

    /* Continuing from one of our int3: the instruction under it may be run
     * here, with no step and the int3 left in place (stepover.c). */
    int sw = find_sw(c, la);
    if (sw >= 0 && !step && ctrl_stepover_emulate(v, c->sw[sw].saved)) {
        goto program; /* not a step: no RF, no TF */
    }

    /* An exec hardware breakpoint at rip would fire again: RF skips it once. */
    for (unsigned i = 0; i < 4; i++)
        if (c->hw[i].used && c->hw[i].type == 1 && c->hw[i].addr == la)
            v->ops->set_rflags(v, v->ops->get_rflags(v) | RFLAGS_RF);

    /* Resuming on one of our int3: put the byte back, step once, re-insert. */
    if (sw >= 0) {
        gmem_write(v, c->sw[sw].pa, &c->sw[sw].saved, 1);
        cv->step_over_sw = sw;
        cv->step_over_resume = !cv->stepping;
    }

    bool tracing = cv->stepping || sw >= 0;
    if (tracing)
        decoded = !emu_decode(v, &in); /* with our int3's byte back */
    if (tracing && decoded && is_system_call(&in)) {
        /* No TF: a one-shot exec breakpoint where the kernel returns. */
        unsigned i;
        for (i = 0; i < 4 && c->hw[i].used; i++)
            ;
        if (i < 4) {
            cv->step_int_dr = (int)i;
            v->ops->set_dr(v, i, la + in.len);
            dr_program(v);
            vcpu_intercepts_changed(v);
            return;
        }
    }
    /* A step of a HLT (CPL 0) ends right after it, as if an interrupt had
     * woken it at once, which the CPU may do: stepped with TF and the
     * interrupts held, it would wait for an interrupt that no longer ends
     * the step. The step is reported without an entry. */
    if (cv->stepping && sw < 0 && decoded && in.map == 1 && in.opcode == 0xf4 &&
        !v->ops->get_cpl(v)) {
        vcpu_complete_no_trap(v, in.len);
        ctrl_event(v, "T05");
        goto program;
    }
    if (tracing && decoded && in.map == 1 &&
        (in.opcode == 0x9c || in.opcode == 0x9d || in.opcode == 0xcf)) {
        cv->step_opcode = in.opcode;
        cv->step_opsize = in.opsize;
    }
    if (tracing)
        arm_tf(v);
program:
    dr_program(v);
    vcpu_intercepts_changed(v);
}

/* After a TF step: undo what TF did that the VM could see. */
static void untrace(struct vcpu *v)
{
    struct ctrl_vcpu *cv = cv_of(v);
    uint64_t fl = v->ops->get_rflags(v);
    if (cv->step_opcode == 0x9c && !cv->guest_tf) {
        struct seg_state ss;
        uint64_t pa, word = 0;
        v->ops->get_seg(v, SEG_SS, &ss);
        uint64_t la =
            vcpu_code_bits(v) == 64 ? v->gpr[GPR_RSP] : ss.base + (v->gpr[GPR_RSP] & 0xffffffffull);
        if (!to_phys(v, la, &pa) && !gmem_read(v, pa, &word, 2)) {
            word &= ~RFLAGS_TF;
            gmem_write(v, pa, &word, 2);
        }
    }
    if (cv->step_opcode == 0x9d || cv->step_opcode == 0xcf)
        cv->guest_tf = fl & RFLAGS_TF; /* the value the VM just loaded */
    v->ops->set_rflags(v, cv->guest_tf ? fl | RFLAGS_TF : fl & ~RFLAGS_TF);
    cv->step_opcode = 0;
}

/* The int3 v stepped over goes back (if the client still has it). */
static void reinsert_stepped_over(struct vcpu *v)
{
    struct ctrl *c = ctrl(v);
    struct ctrl_vcpu *cv = cv_of(v);
    uint8_t cc = 0xcc;
    struct swbp *b = &c->sw[cv->step_over_sw];
    if (b->used)
        gmem_write(v, b->pa, &cc, 1);
    cv->step_over_sw = -1;
}

/* A step finished. Returns true if the client must hear of it. */
static bool step_done(struct vcpu *v)
{
    struct ctrl *c = ctrl(v);
    struct ctrl_vcpu *cv = cv_of(v);
    untrace(v);
    if (cv->step_over_sw >= 0) {
        reinsert_stepped_over(v);
        if (cv->step_over_resume) {
            /* The int3 is back: every vCPU may run past it now. */
            cv->stepping = false;
            vcpu_intercepts_changed(v);
            if (c->owner == v)
                ctrl_release(c);
            return false;
        }
    }
    if (c->s.step_cr3_mode && !in_stepped_process(v)) {
        ctrl_prepare_resume(v, true); /* keep going, silently */
        return false;
    }
    cv->stepping = false;
    vcpu_intercepts_changed(v);
    return true;
}

void ctrl_step_abandon(struct vcpu *v)
{
    struct ctrl *c = ctrl(v);
    struct ctrl_vcpu *cv = cv_of(v);
    bool tf = cv->stepping || cv->step_over_sw >= 0;
    if (cv->step_int_dr >= 0) {
        tf = false; /* that step has no TF; its DR goes at the next resume */
        cv->step_int_dr = -1;
    }
    /* Not where it began, in the same address space: the instruction
     * faulted (or an event came first) and its handler runs. The TF it
     * pushed comes back with the return to the instruction. */
    if (tf && !cv->guest_tf &&
        (vcpu_linear_rip(v) != cv->step_la || v->ops->get_cr(v, 3) != cv->step_cr3)) {
        c->stray_cr3 = cv->step_cr3;
        c->stray_tf = true;
        all_intercepts_changed(c);
        log_printf("vmm: control: cpu%u: step abandoned inside a fault's handler; its #DB will "
                   "be taken\n",
                   v->id);
    }
    if (tf)
        untrace(v);
    if (cv->step_over_sw >= 0)
        reinsert_stepped_over(v);
    cv->stepping = false;
    vcpu_intercepts_changed(v);
}

void ctrl_step_cr3_written(struct vcpu *v, uint64_t cr3)
{
    struct ctrl *c = ctrl(v);
    struct ctrl_vcpu *cv = cv_of(v);
    if (c->cr3_wait && cr3 == c->s.step_cr3 &&
        __atomic_exchange_n(&c->cr3_wait, false, __ATOMIC_SEQ_CST)) {
        /* The first vCPU to switch to the process steps it. */
        all_intercepts_changed(c);
        cv->stepping = true;
        cv->guest_tf = v->ops->get_rflags(v) & RFLAGS_TF;
        arm_tf(v);
    } else if (c->s.step_cr3_mode && cv->stepping && cr3 != c->s.step_cr3) {
        untrace(v);
        cv->stepping = false;
        set_cr3_wait(c, true);
    }
}

/* An instruction the VMM emulated completed with TF set: the stub's step? */
bool ctrl_hook_step_completed(struct vcpu *v)
{
    struct ctrl_vcpu *cv = cv_of(v);
    if (!cv->stepping && cv->step_over_sw < 0)
        return false;
    if (step_done(v))
        ctrl_event(v, "T05");
    return true;
}

/* --- exits the stub asked for --- */

static bool debug_exception(struct vcpu *v)
{
    struct ctrl *c = ctrl(v);
    struct ctrl_vcpu *cv = cv_of(v);
    uint64_t dr6 = v->ops->get_dr(v, 6);
    bool ours = false, report = false;
    char stop[64] = "T05";

    if ((dr6 & DR6_BS) && (cv->stepping || cv->step_over_sw >= 0)) {
        ours = true;
        report = step_done(v);
    }
    for (unsigned i = 0; i < 4; i++) {
        if (!(dr6 & (1ull << i)))
            continue;
        if ((int)i == cv->step_int_dr) {
            cv->step_int_dr = -1;
            dr_program(v);
            ours = true;
            report = step_done(v);
        } else if (c->hw[i].used) {
            static const char *const kind[] = {"", "hwbreak", "watch", "rwatch", "awatch"};
            ours = report = true;
            if (c->hw[i].type == 1)
                fmt_snprintf(stop, sizeof(stop), "T05hwbreak:;");
            else
                fmt_snprintf(stop, sizeof(stop), "T05%s:%llx;", kind[c->hw[i].type],
                             (unsigned long long)c->hw[i].addr);
        }
    }
    if (!ours)
        return false; /* the VM's own #DB */
    v->ops->set_dr(v, 6, (dr6 & ~(DR6_BS | DR6_B0_B3)) | DR6_FIXED);
    if (report)
        ctrl_event(v, "%s", stop);
    return true;
}

/* rip at the int3 (TCG, INT n path) or just past it (hardware #BP trap). */
static bool sw_hit(struct vcpu *v, bool after)
{
    struct ctrl *c = ctrl(v);
    uint64_t la = vcpu_linear_rip(v);
    int i = find_sw(c, la);
    if (i < 0 && after && (i = find_sw(c, la - 1)) >= 0)
        v->ops->set_rip(v, v->ops->get_rip(v) - 1);
    if (i < 0)
        return false;
    ctrl_event(v, "T05swbreak:;");
    return true;
}

/* The single-step #DB of an abandoned step: TF goes from the VM's flags
 * (the instruction completed, the VM never set it), the #DB is not the
 * VM's. */
static bool stray_step(struct vcpu *v)
{
    struct ctrl *c = ctrl(v);
    uint64_t dr6 = v->ops->get_dr(v, 6);
    if (!(dr6 & DR6_BS) || v->ops->get_cr(v, 3) != c->stray_cr3 ||
        !__atomic_exchange_n(&c->stray_tf, false, __ATOMIC_SEQ_CST))
        return false;
    v->ops->set_rflags(v, v->ops->get_rflags(v) & ~RFLAGS_TF);
    v->ops->set_dr(v, 6, (dr6 & ~DR6_BS) | DR6_FIXED);
    all_intercepts_changed(c);
    log_printf("vmm: control: cpu%u: the abandoned step's #DB taken\n", v->id);
    return true;
}

bool ctrl_hook_exception(struct vcpu *v, unsigned vec, uint32_t err, uint64_t info2)
{
    struct ctrl *c = ctrl(v);
    struct ctrl_vcpu *cv = cv_of(v);
    if (vec == X86_EXC_DB && c->stray_tf && !cv->stepping && cv->step_over_sw < 0 && stray_step(v))
        return true;
    if (vec == X86_EXC_DB && (cv->stepping || cv->step_over_sw >= 0 || v->dr_shadowed) &&
        debug_exception(v))
        return true;
    if (vec == X86_EXC_BP && c->nsw && sw_hit(v, true))
        return true;
    if (c->s.f.excp & (1u << vec)) {
        if (vec == X86_EXC_PF)
            ctrl_event(v, "T05rfx:excp,vec=%x,err=%x,cr2=%llx;", vec, err,
                       (unsigned long long)info2);
        else
            ctrl_event(v, "T05rfx:excp,vec=%x,err=%x;", vec, err);
    }
    return false;
}

bool ctrl_hook_swbreak(struct vcpu *v) { return ctrl(v)->nsw && sw_hit(v, false); }
