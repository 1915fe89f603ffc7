/*
 * Breakpoints, watchpoints and single-step.
 *
 * Software breakpoints are int3 bytes written at the physical address the
 * client's linear address maps to. On AMD hardware INT3 exits through the
 * #BP exception intercept; QEMU's TCG reports it as an INTn exit instead,
 * so both paths lead here. Hardware breakpoints and watchpoints use DR0-3
 * with DR7 (AMD APM Vol.2 §13.1); while the stub uses them it owns the
 * debug registers: the VM's accesses are intercepted and served from a
 * shadow. Single-step sets RFLAGS.TF and intercepts #DB; the VM never sees
 * our TF: PUSHF images are fixed, POPF/IRET values kept, and INT n is
 * stepped over with a one-shot DR breakpoint on its return address.
 */
#include "common/log.h"
#include "hw/x86.h"
#include "lib/fmt.h"
#include "vmm/control/stub.h"
#include "vmm/core/emulate.h"
#include "vmm/core/gmem.h"
#include "vmm/core/policy.h"

#define DR6_BS    (1ull << 14)
#define DR6_HITS  0xfull
#define DR6_FIXED 0xffff0ff0ull
#define DR7_FIXED 0x400ull
#define DR7_LE    (1ull << 8)

static uint64_t linear_rip(struct vcpu *v)
{
    struct seg_state cs;
    uint64_t rip = v->ops->get_rip(v);
    if (vcpu_code_bits(v) == 64)
        return rip;
    v->ops->get_seg(v, SEG_CS, &cs);
    return (cs.base + rip) & 0xffffffffull;
}

static int to_phys(struct vcpu *v, uint64_t la, uint64_t *pa)
{
    if (!(v->ops->get_cr(v, 0) & CR0_PG)) {
        *pa = la;
        return 0;
    }
    return stub_v2p(v, 0, la, pa);
}

static int find_sw(uint64_t la)
{
    for (int i = 0; i < STUB_SWBP_MAX; i++)
        if (stub.sw[i].used && stub.sw[i].addr == la)
            return i;
    return -1;
}

/* --- debug registers --- */

static void own_dr(struct vcpu *v, bool own)
{
    static const unsigned map[8] = {0, 1, 2, 3, 6, 6, 6, 7};
    if (own == stub.own_dr)
        return;
    if (own) {
        for (unsigned i = 0; i < 8; i++)
            stub.dr_shadow[i] = v->ops->get_dr(v, map[i]);
        v->ops->set_dr(v, 7, DR7_FIXED);
    } else {
        for (unsigned i = 0; i < 4; i++)
            v->ops->set_dr(v, i, stub.dr_shadow[i]);
        v->ops->set_dr(v, 7, stub.dr_shadow[7]);
    }
    stub.own_dr = own;
}

static uint64_t dr7_bits(unsigned i, unsigned type, unsigned len)
{
    /* R/W: 00 execute, 01 write, 11 read/write; LEN: 00 1, 01 2, 11 4, 10 8 */
    uint64_t rw = type == 1 ? 0 : type == 2 ? 1 : 3;
    uint64_t ln = type == 1 ? 0 : len == 2 ? 1 : len == 4 ? 3 : len == 8 ? 2 : 0;
    return (1ull << (2 * i)) | (rw << (16 + 4 * i)) | (ln << (18 + 4 * i));
}

static void dr_program(struct vcpu *v)
{
    uint64_t dr7 = DR7_FIXED | DR7_LE;
    bool any = false;
    for (unsigned i = 0; i < 4; i++) {
        if (stub.hw[i].used) {
            v->ops->set_dr(v, i, stub.hw[i].addr);
            dr7 |= dr7_bits(i, stub.hw[i].type, stub.hw[i].len);
            any = true;
        }
    }
    if (stub.step_int_dr >= 0)
        any = true;
    own_dr(v, any || stub.own_dr);
    if (any)
        v->ops->set_dr(
            v, 7, dr7 | (stub.step_int_dr >= 0 ? dr7_bits((unsigned)stub.step_int_dr, 1, 1) : 0));
    else
        own_dr(v, false);
}

void stub_sync_intercepts(struct vcpu *v)
{
    bool db = stub.stepping || stub.step_over_sw >= 0 || stub.own_dr || stub.step_int_dr >= 0 ||
              stub.step_waiting_cr3;
    for (unsigned vec = 0; vec < 32; vec++) {
        bool on = (stub.f.excp | excp_policy_mask()) & (1u << vec);
        if (vec == X86_EXC_DB)
            on = on || db;
        if (vec == X86_EXC_BP)
            on = on || stub.nsw;
        v->ops->set_intercept(v, ICPT_EXCP, vec, on);
    }
    for (unsigned cr = 0; cr < 16; cr++)
        v->ops->set_intercept(v, ICPT_CR_READ, cr, stub.f.cr_read & (1u << cr));
    v->ops->set_intercept(v, ICPT_DR, 0, stub.own_dr);
    v->ops->set_intercept(v, ICPT_INTN, 0,
                          control_wants_intn() || !(v->ops->get_cr(v, 0) & CR0_PE));
}

bool control_wants_intn(void) { return stub.nsw || stub.stepping; }

/* --- Z/z packets --- */

int stub_bp_insert(struct vcpu *v, unsigned type, uint64_t addr, unsigned len)
{
    if (type == 0) {
        uint64_t pa;
        uint8_t cc = 0xcc;
        if (find_sw(addr) >= 0)
            return 0;
        int i;
        for (i = 0; i < STUB_SWBP_MAX && stub.sw[i].used; i++)
            ;
        if (i == STUB_SWBP_MAX || to_phys(v, addr, &pa) || gmem_read(v, pa, &stub.sw[i].saved, 1) ||
            gmem_write(v, pa, &cc, 1))
            return -1;
        stub.sw[i] = (struct swbp){true, addr, pa, stub.sw[i].saved};
        stub.nsw++;
    } else if (type <= 4) {
        unsigned i;
        if (type != 1 && len != 1 && len != 2 && len != 4 && len != 8)
            return -1;
        for (i = 0; i < 4; i++)
            if (stub.hw[i].used && stub.hw[i].addr == addr && stub.hw[i].type == type)
                return 0;
        for (i = 0; i < 4 && (stub.hw[i].used || (int)i == stub.step_int_dr); i++)
            ;
        if (i == 4)
            return -1; /* DR0-3 all taken */
        stub.hw[i] = (struct hwbp){true, (uint8_t)type, (uint8_t)len, addr};
        dr_program(v);
    } else {
        return -1;
    }
    stub_sync_intercepts(v);
    return 0;
}

static void sw_remove(struct vcpu *v, int i)
{
    gmem_write(v, stub.sw[i].pa, &stub.sw[i].saved, 1);
    stub.sw[i].used = false;
    stub.nsw--;
}

int stub_bp_remove(struct vcpu *v, unsigned type, uint64_t addr, unsigned len)
{
    if (type == 0) {
        int i = find_sw(addr);
        if (i < 0)
            return -1;
        if (stub.step_over_sw == i)
            stub.step_over_sw = -1;
        sw_remove(v, i);
    } else {
        unsigned i;
        for (i = 0; i < 4; i++)
            if (stub.hw[i].used && stub.hw[i].addr == addr && stub.hw[i].type == type)
                break;
        if (i == 4)
            return -1;
        stub.hw[i].used = false;
        dr_program(v);
    }
    stub_sync_intercepts(v);
    return 0;
}

void stub_bp_clear_all(struct vcpu *v)
{
    for (int i = 0; i < STUB_SWBP_MAX; i++)
        if (stub.sw[i].used)
            sw_remove(v, i);
    for (unsigned i = 0; i < 4; i++)
        stub.hw[i].used = false;
    stub.step_over_sw = -1;
    stub.step_int_dr = -1;
    stub.stepping = false;
    stub.step_cr3_mode = false;
    stub.step_waiting_cr3 = false;
    dr_program(v);
    uint64_t fl = v->ops->get_rflags(v);
    v->ops->set_rflags(v, stub.guest_tf ? fl | RFLAGS_TF : fl & ~RFLAGS_TF);
    stub_sync_intercepts(v);
}

/* --- resuming and stepping --- */

static void arm_tf(struct vcpu *v)
{
    uint64_t fl = v->ops->get_rflags(v);
    v->ops->set_rflags(v, fl | RFLAGS_TF);
}

/*
 * System calls are stepped over, not into: INT n in protected mode, and
 * SYSCALL. TF would leak to the VM through them: INT n pushes it in the
 * handler's frame, SYSCALL saves it in R11 and SYSRET loads it back, so the
 * process would trap after its next instruction (AMD APM Vol.3, SYSCALL and
 * SYSRET). SYSENTER returns where the kernel chooses: it keeps TF stepping.
 */
static bool is_system_call(struct vcpu *v, const struct insn *in)
{
    if (in->map == 1 && (in->opcode == 0xcd || in->opcode == 0xcc || in->opcode == 0xce))
        return v->ops->get_cr(v, 0) & CR0_PE;
    return in->map == 2 && in->opcode == 0x05;
}

void stub_prepare_resume(struct vcpu *v, bool step)
{
    uint64_t la = linear_rip(v);
    uint64_t fl = v->ops->get_rflags(v);
    struct insn in;
    bool decoded = !emu_try_decode(v, &in);

    stub.guest_tf = fl & RFLAGS_TF;
    stub.step_opcode = 0;
    stub.stepping = step || stub.step_cr3_mode;
    if (stub.step_cr3_mode && !(v->ops->get_cpl(v) == 3 && v->ops->get_cr(v, 3) == stub.step_cr3)) {
        /* Not in the process yet: run until its cr3 comes back. */
        stub.stepping = false;
        stub.step_waiting_cr3 = v->ops->get_cr(v, 3) != stub.step_cr3;
        if (!stub.step_waiting_cr3)
            stub.stepping = true;
    }

    /* An exec hardware breakpoint at rip would fire again: RF skips it once. */
    for (unsigned i = 0; i < 4; i++)
        if (stub.hw[i].used && stub.hw[i].type == 1 && stub.hw[i].addr == la)
            v->ops->set_rflags(v, v->ops->get_rflags(v) | RFLAGS_RF);

    /* Resuming on one of our int3: put the byte back, step once, re-insert. */
    int sw = find_sw(la);
    if (sw >= 0) {
        gmem_write(v, stub.sw[sw].pa, &stub.sw[sw].saved, 1);
        stub.step_over_sw = sw;
        stub.step_over_resume = !stub.stepping;
        decoded = !emu_try_decode(v, &in);
    }

    if ((stub.stepping || sw >= 0) && decoded && is_system_call(v, &in)) {
        /* No TF: a one-shot exec breakpoint where the kernel returns. */
        unsigned i;
        for (i = 0; i < 4 && stub.hw[i].used; i++)
            ;
        if (i < 4) {
            stub.step_int_dr = (int)i;
            v->ops->set_dr(v, i, la + in.len);
            dr_program(v);
            stub_sync_intercepts(v);
            return;
        }
    }
    if ((stub.stepping || sw >= 0) && decoded && in.map == 1) {
        if (in.opcode == 0x9c || in.opcode == 0x9d || in.opcode == 0xcf) {
            stub.step_opcode = in.opcode;
            stub.step_opsize = in.opsize;
        }
    }
    if (stub.stepping || sw >= 0)
        arm_tf(v);
    stub_sync_intercepts(v);
}

/* After a TF step: undo what TF did that the VM could see. */
static void untrace(struct vcpu *v)
{
    uint64_t fl = v->ops->get_rflags(v);
    if (stub.step_opcode == 0x9c && !stub.guest_tf) {
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
    if (stub.step_opcode == 0x9d || stub.step_opcode == 0xcf)
        stub.guest_tf = fl & RFLAGS_TF; /* the value the VM just loaded */
    v->ops->set_rflags(v, stub.guest_tf ? fl | RFLAGS_TF : fl & ~RFLAGS_TF);
    stub.step_opcode = 0;
}

/* A step finished. Returns true if the client must hear of it. */
static bool step_done(struct vcpu *v)
{
    untrace(v);
    if (stub.step_over_sw >= 0) {
        uint8_t cc = 0xcc;
        struct swbp *b = &stub.sw[stub.step_over_sw];
        if (b->used)
            gmem_write(v, b->pa, &cc, 1);
        stub.step_over_sw = -1;
        if (stub.step_over_resume) {
            stub.stepping = false;
            stub_sync_intercepts(v);
            return false;
        }
    }
    if (stub.step_cr3_mode && !(v->ops->get_cpl(v) == 3 && v->ops->get_cr(v, 3) == stub.step_cr3)) {
        stub_prepare_resume(v, true); /* keep going, silently */
        return false;
    }
    stub.stepping = false;
    stub_sync_intercepts(v);
    return true;
}

void stub_step_cr3_written(struct vcpu *v, uint64_t cr3)
{
    if (stub.step_waiting_cr3 && cr3 == stub.step_cr3) {
        stub.step_waiting_cr3 = false;
        stub.stepping = true;
        stub.guest_tf = v->ops->get_rflags(v) & RFLAGS_TF;
        arm_tf(v);
        stub_sync_intercepts(v);
    } else if (stub.step_cr3_mode && stub.stepping && cr3 != stub.step_cr3) {
        untrace(v);
        stub.stepping = false;
        stub.step_waiting_cr3 = true;
        stub_sync_intercepts(v);
    }
}

/* --- exits the stub asked for --- */

static void reinject(struct vcpu *v, unsigned vec, uint32_t err)
{
    bool has_err =
        vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30;
    v->ops->inject_exception(v, vec, has_err, err);
}

static int debug_exception(struct vcpu *v)
{
    uint64_t dr6 = v->ops->get_dr(v, 6);
    bool ours = false, report = false;
    char stop[64] = "T05";

    if ((dr6 & DR6_BS) && (stub.stepping || stub.step_over_sw >= 0)) {
        ours = true;
        report = step_done(v);
    }
    for (unsigned i = 0; i < 4; i++) {
        if (!(dr6 & (1ull << i)))
            continue;
        if ((int)i == stub.step_int_dr) {
            stub.step_int_dr = -1;
            dr_program(v);
            ours = true;
            report = step_done(v);
        } else if (stub.hw[i].used) {
            static const char *const kind[] = {"", "hwbreak", "watch", "rwatch", "awatch"};
            ours = report = true;
            if (stub.hw[i].type == 1)
                fmt_snprintf(stop, sizeof(stop), "T05hwbreak:;");
            else
                fmt_snprintf(stop, sizeof(stop), "T05%s:%llx;", kind[stub.hw[i].type],
                             (unsigned long long)stub.hw[i].addr);
        }
    }
    if (!ours) {
        reinject(v, X86_EXC_DB, 0); /* the VM's own #DB */
        return 0;
    }
    v->ops->set_dr(v, 6, (dr6 & ~(DR6_BS | DR6_HITS)) | DR6_FIXED);
    if (report)
        stub_event("%s", stop);
    return 0;
}

/* rip at the int3 (TCG, INTn path) or just past it (hardware #BP trap). */
static bool sw_hit(struct vcpu *v, bool after)
{
    uint64_t la = linear_rip(v);
    int i = find_sw(la);
    if (i < 0 && after && (i = find_sw(la - 1)) >= 0)
        v->ops->set_rip(v, v->ops->get_rip(v) - 1);
    if (i < 0)
        return false;
    stub_event("T05swbreak:;");
    return true;
}

int control_exception(struct vcpu *v, unsigned vec, uint32_t err, uint64_t info2)
{
    if (vec == X86_EXC_DB && (stub.stepping || stub.step_over_sw >= 0 || stub.own_dr))
        return debug_exception(v);
    if (vec == X86_EXC_BP && stub.nsw && sw_hit(v, true))
        return 0;
    if (vec == X86_EXC_PF)
        v->ops->set_cr(v, 2, info2); /* an intercepted #PF has not written CR2 yet */
    if (stub.f.excp & (1u << vec)) {
        if (vec == X86_EXC_PF)
            stub_event("T05rfx:excp,vec=%x,err=%x,cr2=%llx;", vec, err, (unsigned long long)info2);
        else
            stub_event("T05rfx:excp,vec=%x,err=%x;", vec, err);
    }
    reinject(v, vec, err);
    return 0;
}

int control_swint(struct vcpu *v)
{
    struct insn in;
    if (emu_decode_current(v, &in) || in.map != 1)
        return -1;
    if (in.opcode == 0xcc && stub.nsw && sw_hit(v, false))
        return 0;
    if (!(v->ops->get_cr(v, 0) & CR0_PE))
        return intn_real_mode(v);
    uint8_t vec;
    if (in.opcode == 0xcd)
        vec = (uint8_t)in.imm;
    else if (in.opcode == 0xcc)
        vec = X86_EXC_BP;
    else if (in.opcode == 0xce)
        vec = 4;
    else
        return -1;
    if (vec == 4 && !(v->ops->get_rflags(v) & RFLAGS_OF)) {
        vcpu_advance(v, in.len);
        return 0;
    }
    vcpu_advance(v, in.len);
    v->ops->inject_soft_int(v, vec);
    return 0;
}

int control_dr_access(struct vcpu *v, bool write)
{
    struct insn in;
    if (emu_decode_current(v, &in) || in.map != 2 || (in.opcode != 0x21 && in.opcode != 0x23))
        return -1;
    unsigned dr = INSN_MODRM_REG(in.modrm);
    unsigned reg = INSN_MODRM_RM(in.modrm) | (INSN_REX_B(in.rex) ? 8 : 0);
    if (dr == 4 || dr == 5)
        dr += 2; /* aliases of DR6/DR7 (CR4.DE = 0) */
    if (write)
        stub.dr_shadow[dr] = in.mode == 64 ? v->gpr[reg] : v->gpr[reg] & 0xffffffffull;
    else
        v->gpr[reg] = stub.dr_shadow[dr];
    vcpu_advance(v, in.len);
    return 0;
}
