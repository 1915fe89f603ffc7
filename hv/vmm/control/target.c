/*
 * The target the commands reach (stub_target_ops): threads are the vCPUs,
 * registers and memory are theirs.
 *
 * A vCPU's x87/SSE state and its DR0-DR3 live in its core's hardware, not
 * in the VMCB: the VMM is built with -mgeneral-regs-only and never touches
 * them, so while the VM is stopped FXSAVE holds the first (AMD APM Vol.2
 * §11.4.4, the FXSAVE format) and the register view reads and writes that
 * copy, written back when the vCPU runs again.
 */
#include "common/log.h"
#include "hw/x86.h"
#include "lib/fmt.h"
#include "lib/mem.h"
#include "vmm/control/ctrl.h"
#include "vmm/control/regs.h"
#include "vmm/core/gmem.h"
#include "vmm/core/regs.h"
#include "vmm/core/vcpu.h"

_Static_assert((int)RG_RSP == (int)GPR_RSP && (int)RG_RDI == (int)GPR_RDI,
               "regs.h GPR numbers follow enum gpr");
_Static_assert((int)RS_ES == (int)SEG_ES && (int)RS_GS == (int)SEG_GS &&
                   (int)RS_IDTR == (int)SEG_IDTR,
               "regs.h segment numbers follow enum seg");

#define X(v) ((unsigned long long)(v))

/* Thread t's vCPU, parked: its registers are in memory (ctrl_settle). */
static struct vcpu *thread(void *ctx, unsigned t)
{
    struct ctrl *c = ctx;
    struct vcpu *v = c->vm->vcpus[t < c->vm->nvcpus ? t : 0];
    ctrl_settle(c, v);
    return v;
}

void ctrl_hw_save(struct vcpu *v)
{
    struct ctrl_vcpu *cv = cv_of(v);
    __asm__ volatile("fxsave %0" : "=m"(cv->fxarea));
    cv->fx_dirty = false;
    for (unsigned i = 0; i < 4; i++)
        cv->dr[i] = v->ops->get_dr(v, i);
    cv->dr_dirty = false;
}

void ctrl_hw_restore(struct vcpu *v)
{
    struct ctrl_vcpu *cv = cv_of(v);
    if (cv->fx_dirty)
        __asm__ volatile("fxrstor %0" ::"m"(cv->fxarea));
    cv->fx_dirty = false;
    if (cv->dr_dirty && !v->dr_shadowed)
        for (unsigned i = 0; i < 4; i++)
            v->ops->set_dr(v, i, cv->dr[i]);
    cv->dr_dirty = false;
}

static unsigned nthreads(void *ctx) { return ((struct ctrl *)ctx)->vm->nvcpus; }

static void put64(uint8_t *out, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *in, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n && i < 8; i++)
        v |= (uint64_t)in[i] << (8 * i);
    return v;
}

/* FXSAVE (legacy format) offsets: FCW 0, FSW 2, FTW 4 (abridged), FOP 6,
 * FIP 8, FCS 12, FDP 16, FDS 20, MXCSR 24, ST0 32 (+16 each), XMM0 160. */
static uint64_t fpu_read(const uint8_t *fx, unsigned which)
{
    static const uint8_t off[8] = {0, 2, 4, 12, 8, 20, 16, 6};
    static const uint8_t size[8] = {2, 2, 1, 2, 4, 2, 4, 2};
    uint64_t v = get64(fx + off[which], size[which]);
    if (which == 2) { /* abridged tag -> full tag word: 11 = empty, 00 = valid */
        uint64_t full = 0;
        for (int i = 0; i < 8; i++)
            full |= ((v >> i) & 1 ? 0ull : 3ull) << (2 * i);
        v = full;
    }
    return v;
}

/* The VM's DRn: shadowed while the stub uses the hardware's, else DR0-3
 * as saved on the vCPU's core and DR6/DR7 in its backend state. */
static uint64_t dr_read(struct vcpu *v, unsigned n)
{
    if (v->dr_shadowed)
        return v->dr_guest[n];
    return n < 4 ? cv_of(v)->dr[n] : v->ops->get_dr(v, n);
}

static unsigned reg_read(void *ctx, unsigned t, unsigned n, uint8_t *out)
{
    const struct reg_desc *r = stub_reg_desc(n);
    struct vcpu *v = thread(ctx, t);
    struct ctrl_vcpu *cv = cv_of(v);
    if (!r)
        return 0;
    bool lma = v->ops->get_efer(v) & EFER_LMA;
    struct seg_state s;
    uint64_t val = 0;

    switch (r->kind) {
    case R_GPR:
        val = v->gpr[r->arg];
        if (!lma)
            val &= 0xffffffffull;
        break;
    case R_RIP:
        val = v->ops->get_rip(v);
        if (!lma)
            val &= 0xffffffffull;
        break;
    case R_RFLAGS:
        val = v->ops->get_rflags(v);
        if (ctrl_hides_tf(v))
            val &= ~RFLAGS_TF;
        break;
    case R_SEL:
        v->ops->get_seg(v, (enum seg)r->arg, &s);
        val = s.selector;
        break;
    case R_ST:
        lib_memcpy(out, cv->fxarea + 32 + 16 * r->arg, 10);
        return 10;
    case R_FPU:
        val = fpu_read(cv->fxarea, r->arg);
        break;
    case R_XMM:
        lib_memcpy(out, cv->fxarea + 160 + 16 * r->arg, 16);
        return 16;
    case R_MXCSR:
        val = get64(cv->fxarea + 24, 4);
        break;
    case R_CR:
        val = r->arg == 8 ? 0 : v->ops->get_cr(v, r->arg);
        break;
    case R_EFER:
        val = v->ops->get_efer(v); /* the VM's view: the backend's bits hidden */
        break;
    case R_DR:
        val = dr_read(v, r->arg);
        break;
    case R_DBGCTL:
        v->ops->get_msr(v, MSR_DEBUGCTL, &val);
        break;
    case R_MSR:
        v->ops->get_msr(v, stub_reg_msr[r->arg], &val);
        break;
    case R_SEG_BASE:
    case R_DT_BASE:
        v->ops->get_seg(v, (enum seg)r->arg, &s);
        val = s.base;
        break;
    case R_SEG_LIMIT:
    case R_DT_LIMIT:
        v->ops->get_seg(v, (enum seg)r->arg, &s);
        val = s.limit;
        break;
    case R_SEG_ATTR:
        v->ops->get_seg(v, (enum seg)r->arg, &s);
        val = s.attrib;
        break;
    default:
        break;
    }
    put64(out, val);
    return r->bits / 8;
}

/* A CR the client writes: refused if the CPU would refuse it, applied with
 * what the CPU does besides (EFER.LMA, the TLB, the mode's intercepts),
 * without reporting it as the VM's own write. */
static int write_cr(struct vcpu *v, unsigned n, uint64_t val)
{
    if (n == 8)
        return 0;
    if (cr_check(v, n, val))
        return -1;
    uint64_t old = v->ops->get_cr(v, n);
    if (n == 0) {
        uint64_t efer = v->ops->get_efer(v);
        val |= CR0_ET;
        if ((val & CR0_PG) && !(old & CR0_PG) && (efer & EFER_LME))
            v->ops->set_efer(v, efer | EFER_LMA);
        if (!(val & CR0_PG) && (old & CR0_PG) && (efer & EFER_LMA))
            v->ops->set_efer(v, efer & ~EFER_LMA);
    }
    v->ops->set_cr(v, n, n == 3 ? val & ~CR3_PCID_NOFLUSH : val);
    v->ops->flush_tlb(v);
    vcpu_intercepts_changed(v);
    return 0;
}

static int reg_write(void *ctx, unsigned t, unsigned n, const uint8_t *in)
{
    const struct reg_desc *r = stub_reg_desc(n);
    struct vcpu *v = thread(ctx, t);
    struct ctrl_vcpu *cv = cv_of(v);
    if (!r)
        return -1;
    uint64_t val = get64(in, r->bits / 8 > 8 ? 8 : r->bits / 8);
    struct seg_state s;

    switch (r->kind) {
    case R_GPR:
        v->gpr[r->arg] = val;
        break;
    case R_RIP:
        v->ops->set_rip(v, val);
        break;
    case R_RFLAGS:
        v->ops->set_rflags(v, val);
        cv->guest_tf = val & RFLAGS_TF;
        break;
    case R_SEL:
        v->ops->get_seg(v, (enum seg)r->arg, &s);
        s.selector = (uint16_t)val;
        if (!(v->ops->get_cr(v, 0) & CR0_PE) && r->arg <= SEG_GS)
            s.base = (val & 0xffff) << 4; /* real mode: the base follows the selector */
        v->ops->set_seg(v, (enum seg)r->arg, &s);
        break;
    case R_ST:
        lib_memcpy(cv->fxarea + 32 + 16 * r->arg, in, 10);
        cv->fx_dirty = true;
        break;
    case R_XMM:
        lib_memcpy(cv->fxarea + 160 + 16 * r->arg, in, 16);
        cv->fx_dirty = true;
        break;
    case R_MXCSR:
        lib_memcpy(cv->fxarea + 24, in, 4);
        cv->fx_dirty = true;
        break;
    case R_FPU:
        return 0; /* accepted, not applied: the x87 environment stays as the VM has it */
    case R_CR:
        return write_cr(v, r->arg, val);
    case R_EFER:
        if (efer_check(v, val))
            return -1;
        efer_set(v, val);
        break;
    case R_DR:
        if ((r->arg == 6 || r->arg == 7) && (val >> 32))
            return -1;
        if (v->dr_shadowed) {
            v->dr_guest[r->arg] = val;
        } else if (r->arg < 4) {
            cv->dr[r->arg] = val;
            cv->dr_dirty = true;
        } else {
            v->ops->set_dr(v, r->arg, val);
        }
        break;
    case R_DBGCTL:
        v->ops->set_msr(v, MSR_DEBUGCTL, val);
        break;
    case R_MSR:
        v->ops->set_msr(v, stub_reg_msr[r->arg], val);
        break;
    case R_SEG_BASE:
    case R_DT_BASE:
    case R_SEG_LIMIT:
    case R_DT_LIMIT:
    case R_SEG_ATTR:
        v->ops->get_seg(v, (enum seg)r->arg, &s);
        if (r->kind == R_SEG_BASE || r->kind == R_DT_BASE)
            s.base = val;
        else if (r->kind == R_SEG_ATTR)
            s.attrib = (uint16_t)val;
        else
            s.limit = (uint32_t)val;
        v->ops->set_seg(v, (enum seg)r->arg, &s);
        break;
    default:
        return -1;
    }
    return 0;
}

/* The stub's int3 bytes are not the VM's: reads show the byte each one
 * replaced, and a write there changes that byte and keeps the int3. */
static void hide_breakpoints(struct ctrl *c, uint64_t pa, uint8_t *buf, size_t len, bool write)
{
    for (unsigned i = 0; i < CTRL_SWBP_MAX; i++) {
        struct swbp *b = &c->sw[i];
        if (!b->used || b->pa < pa || b->pa - pa >= len)
            continue;
        if (write) {
            uint8_t cc = 0xcc;
            b->saved = buf[b->pa - pa];
            lib_memcpy((void *)b->pa, &cc, 1);
        } else {
            buf[b->pa - pa] = b->saved;
        }
    }
}

static int to_phys(struct vcpu *v, bool phys, uint64_t cr3, uint64_t a, uint64_t *pa)
{
    if (phys || !(v->ops->get_cr(v, 0) & CR0_PG)) {
        *pa = a;
        return 0;
    }
    return gmem_linear_to_phys(v, cr3, a, pa);
}

/* Copies page by page; stops at the first page that is not there. */
static size_t access(void *ctx, unsigned t, bool phys, uint64_t cr3, uint64_t addr, uint8_t *buf,
                     size_t len, bool write)
{
    struct vcpu *v = thread(ctx, t);
    size_t done = 0;
    while (done < len) {
        uint64_t pa, a = addr + done;
        size_t chunk = 4096 - (a & 4095);
        if (chunk > len - done)
            chunk = len - done;
        if (to_phys(v, phys, cr3, a, &pa))
            break;
        int r = write ? gmem_write(v, pa, buf + done, chunk) : gmem_read(v, pa, buf + done, chunk);
        if (r)
            break;
        hide_breakpoints(ctx, pa, buf + done, chunk, write);
        done += chunk;
    }
    return done;
}

static size_t mem_read(void *ctx, unsigned t, bool phys, uint64_t cr3, uint64_t addr, uint8_t *buf,
                       size_t len)
{
    return access(ctx, t, phys, cr3, addr, buf, len, false);
}

static size_t mem_write(void *ctx, unsigned t, bool phys, uint64_t cr3, uint64_t addr,
                        const uint8_t *buf, size_t len)
{
    return access(ctx, t, phys, cr3, addr, (uint8_t *)buf, len, true);
}

static int v2p(void *ctx, unsigned t, uint64_t cr3, uint64_t va, uint64_t *pa)
{
    return to_phys(thread(ctx, t), false, cr3, va, pa);
}

static int g2h(void *ctx, uint64_t gpa, uint64_t *hpa, uint64_t *leaf, unsigned *shift)
{
    struct vcpu *v = thread(ctx, 0);
    return v->ops->g2h(v, gpa, hpa, leaf, shift);
}

static int lbr(void *ctx, unsigned t, enum stub_lbr op, uint64_t out[4])
{
    struct vm *vm = ((struct ctrl *)ctx)->vm;
    struct vcpu *v = thread(ctx, t);
    if (!v->ops->lbr_supported(v))
        return -1;
    if (op == STUB_LBR_READ) {
        v->ops->lbr_read(v, out);
        return 0;
    }
    for (unsigned i = 0; i < vm->nvcpus; i++)
        thread(ctx, i)->ops->lbr_enable(vm->vcpus[i], op == STUB_LBR_ON);
    return 0;
}

static unsigned long npt_text(struct vcpu *v, char *buf, unsigned long size)
{
    const struct boot_info *bi = v->vm->info;
    uint64_t root = v->ops->nested_root(v);
    if (!root)
        return (unsigned long)fmt_snprintf(buf, size, "nested paging is off\n");
    return (unsigned long)fmt_snprintf(
        buf, size,
        "nested paging on, root 0x%llx (4 levels, long-mode format)\n"
        "set up as guest-physical = host-physical over 0-0x%llx and the RAM above, without the "
        "VMM's 0x%llx-0x%llx; the rest is mapped on demand\n",
        X(root), X(bi->nested_limit), X(bi->vmm_base), X(bi->vmm_base + bi->vmm_size));
}

static unsigned long text(void *ctx, unsigned t, enum stub_text what, uint64_t arg, char *buf,
                          unsigned long size)
{
    struct vcpu *v = thread(ctx, t);
    unsigned long n = 0;
    switch (what) {
    case STUB_TEXT_EXITS:
        for (unsigned i = 0; i < v->vm->nvcpus; i++)
            thread(ctx, i); /* each one's rip and cr3 too */
        n = vm_summary(v->vm, buf, size);
        log_write(buf, n);
        break;
    case STUB_TEXT_DUMP:
        n = v->ops->dump(v, buf, size);
        log_write(buf, n);
        break;
    case STUB_TEXT_NPT:
        n = npt_text(v, buf, size);
        break;
    case STUB_TEXT_THREAD:
        if (v->state == VCPU_WAIT_SIPI)
            n = (unsigned long)fmt_snprintf(buf, size, "CPU %u: waits for a start-up IPI", v->id);
        else
            n = (unsigned long)fmt_snprintf(buf, size, "CPU %u: %s mode, ring %u, cr3 0x%llx",
                                            v->id, vcpu_mode_name(v), v->ops->get_cpl(v),
                                            X(v->ops->get_cr(v, 3)));
        break;
    }
    return n < size ? n : (size ? size - 1 : 0);
}

static void status(void *ctx, unsigned t, struct stub_status *out)
{
    struct vcpu *v = thread(ctx, t);
    out->mode = vcpu_mode_name(v);
    out->backend = v->ops->name;
    out->exits = v->exits;
    out->cr3 = v->ops->get_cr(v, 3);
    out->rip = v->ops->get_rip(v);
    out->cpl = v->ops->get_cpl(v);
    out->stepping = cv_of(v)->stepping;
}

const struct stub_target_ops ctrl_target_ops = {
    .nthreads = nthreads,
    .reg_read = reg_read,
    .reg_write = reg_write,
    .mem_read = mem_read,
    .mem_write = mem_write,
    .v2p = v2p,
    .g2h = g2h,
    .bp_insert = ctrl_bp_insert,
    .bp_remove = ctrl_bp_remove,
    .filters_unsupported = ctrl_filters_unsupported,
    .filters_changed = ctrl_filters_changed,
    .lbr = lbr,
    .text = text,
    .status = status,
};
