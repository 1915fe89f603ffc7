/*
 * Modes, completing and faulting instructions, and events (vcpu.h).
 */
#include "vmm/core/vcpu.h"
#include "common/log.h"
#include "hw/x86.h"
#include "lib/fmt.h"
#include "vmm/core/hooks.h"

#define CANNOT_EMULATE_LOG_MAX 8

unsigned vcpu_code_bits(struct vcpu *v)
{
    struct seg_state cs;
    if (!(v->ops->get_cr(v, 0) & CR0_PE) || (v->ops->get_rflags(v) & RFLAGS_VM))
        return 16;
    v->ops->get_seg(v, SEG_CS, &cs);
    if ((v->ops->get_efer(v) & EFER_LMA) && (cs.attrib & SEG_ATTR_L))
        return 64;
    return (cs.attrib & SEG_ATTR_DB) ? 32 : 16;
}

const char *vcpu_mode_name(struct vcpu *v)
{
    if (!(v->ops->get_cr(v, 0) & CR0_PE))
        return "real";
    if (v->ops->get_rflags(v) & RFLAGS_VM)
        return "v86";
    switch (vcpu_code_bits(v)) {
    case 64:
        return "long";
    case 32:
        return (v->ops->get_efer(v) & EFER_LMA) ? "compat32" : "prot32";
    default:
        return (v->ops->get_efer(v) & EFER_LMA) ? "compat16" : "prot16";
    }
}

uint64_t vcpu_linear_rip(struct vcpu *v)
{
    struct seg_state cs;
    uint64_t rip = v->ops->get_rip(v);
    unsigned bits = vcpu_code_bits(v);
    if (bits == 64)
        return rip;
    v->ops->get_seg(v, SEG_CS, &cs);
    return (cs.base + (bits == 16 ? rip & 0xffff : rip)) & 0xffffffffull;
}

/* rip + len, wrapped as the current code size wraps it. */
static void advance(struct vcpu *v, unsigned len)
{
    uint64_t rip = v->ops->get_rip(v) + len;
    unsigned bits = vcpu_code_bits(v);
    if (bits == 16)
        rip &= 0xffff;
    else if (bits == 32)
        rip &= 0xffffffffull;
    v->ops->set_rip(v, rip);
    /* A completed instruction clears RF (APM Vol.2 §3.1.6; SDM Vol.3B
     * §17.3.1.1): left set, it would reach the VM's stack in the frame of
     * an INT n the VMM injects, and the IRET back would skip an instruction
     * breakpoint on the next instruction. */
    v->ops->set_rflags(v, v->ops->get_rflags(v) & ~RFLAGS_RF);
    /* An interrupt shadow (after STI or MOV SS) covers one instruction. */
    v->ops->set_interrupt_shadow(v, false);
}

/* The VM's own DR6, where the single-step status goes: shadowed while the
 * stub owns the debug registers. */
static void set_guest_dr6_bits(struct vcpu *v, uint64_t bits)
{
    if (v->dr_shadowed)
        v->dr_guest[6] |= bits;
    else
        v->ops->set_dr(v, 6, v->ops->get_dr(v, 6) | bits);
}

void vcpu_complete(struct vcpu *v, unsigned len)
{
    bool tf = v->ops->get_rflags(v) & RFLAGS_TF;
    advance(v, len);
    if (!tf)
        return;
    if (v->vm->hooks && v->vm->hooks->step_completed && v->vm->hooks->step_completed(v))
        return;
    /* The single-step trap of an instruction run with TF set: #DB with
     * DR6.BS, RIP at the next instruction (APM Vol.2 ch.13, "Debug-Status
     * Register (DR6)"; SDM Vol.3B §17.3.1.4). */
    set_guest_dr6_bits(v, DR6_BS);
    vcpu_fault(v, X86_EXC_DB, 0);
}

void vcpu_complete_no_trap(struct vcpu *v, unsigned len) { advance(v, len); }

/* APM Vol.2 §8.2.9 Table 8-7, SDM Vol.3A Table 6-4: exception classes. */
enum exc_class { EXC_BENIGN, EXC_CONTRIBUTORY, EXC_PAGE_FAULT, EXC_DOUBLE };

static enum exc_class exc_class(unsigned vec)
{
    switch (vec) {
    case X86_EXC_DE:
    case X86_EXC_TS:
    case X86_EXC_NP:
    case X86_EXC_SS:
    case X86_EXC_GP:
        return EXC_CONTRIBUTORY;
    case X86_EXC_PF:
        return EXC_PAGE_FAULT;
    case X86_EXC_DF:
        return EXC_DOUBLE;
    default:
        return EXC_BENIGN;
    }
}

static void shutdown(struct vcpu *v, const char *why);

/* A second exception while the first is being delivered (APM Vol.2 §8.2.9
 * "Double-Fault Exception (#DF)"; SDM Vol.3A §6.15, Table 6-5). */
static void combine(struct vcpu *v, const struct x86_event *second)
{
    enum exc_class c1 = exc_class(v->pending.vector), c2 = exc_class(second->vector);
    if (c1 == EXC_DOUBLE && (c2 == EXC_CONTRIBUTORY || c2 == EXC_PAGE_FAULT)) {
        shutdown(v, "a fault while delivering #DF: the VM shut down (triple fault)");
        return;
    }
    if ((c1 == EXC_CONTRIBUTORY && c2 == EXC_CONTRIBUTORY) ||
        (c1 == EXC_PAGE_FAULT && (c2 == EXC_CONTRIBUTORY || c2 == EXC_PAGE_FAULT))) {
        v->pending = (struct x86_event){EVENT_EXCEPTION, X86_EXC_DF, true, 0};
        return;
    }
    /* Handled serially: the second is delivered; a fault that was being
     * delivered comes back when its instruction runs again. */
    v->pending = *second;
}

void vcpu_fault(struct vcpu *v, unsigned vec, uint32_t err)
{
    /* No error code is pushed in real mode (APM Vol.2 §8.2). */
    bool has_err = (X86_EXC_HAS_ERROR_MASK & (1u << (vec & 31))) && vec < 32 &&
                   (v->ops->get_cr(v, 0) & CR0_PE);
    struct x86_event ev = {EVENT_EXCEPTION, (uint8_t)vec, has_err, has_err ? err : 0};

    if (v->state == VCPU_SHUTDOWN)
        return;
    switch (v->pending.type) {
    case EVENT_EXCEPTION:
        combine(v, &ev);
        return;
    case EVENT_INTR:
    case EVENT_NMI:
        /* Benign: the exception goes first, the interrupt whose delivery
         * it interrupted waits for the VM's next interrupt window. */
        v->deferred = v->pending;
        vcpu_intercepts_changed(v);
        break;
    default:
        break;
    }
    v->pending = ev;
}

void vcpu_page_fault(struct vcpu *v, uint64_t la, uint32_t err)
{
    v->ops->set_cr(v, 2, la);
    vcpu_fault(v, X86_EXC_PF, err);
}

void vcpu_redeliver(struct vcpu *v, const struct x86_event *ev) { v->pending = *ev; }

void vcpu_queue_event(struct vcpu *v, const struct x86_event *ev) { v->pending = *ev; }

static void shutdown(struct vcpu *v, const char *why)
{
    v->pending.type = EVENT_NONE;
    v->state = VCPU_SHUTDOWN;
    log_printf("vmm: cpu%u: shutdown: %s; its state:\n", v->id, why);
    vcpu_log_dump(v);
    struct vm_event e = {.kind = VME_SHUTDOWN, .what = why};
    vm_notify(v, &e);
}

int exit_shutdown(struct vcpu *v)
{
    shutdown(v, "the VM shut down (triple fault)");
    return 0;
}

void vcpu_cannot_emulate(struct vcpu *v, const char *what)
{
    v->vmm_faults++;
    if (v->vmm_faults <= CANNOT_EMULATE_LOG_MAX) {
        log_printf("vmm: cpu%u: cannot emulate %s at rip 0x%llx (%s mode): #UD to the VM; "
                   "its state:\n",
                   v->id, what, (unsigned long long)v->ops->get_rip(v), vcpu_mode_name(v));
        vcpu_log_dump(v);
    }
    struct vm_event e = {.kind = VME_VMM_FAULT, .what = what};
    vm_notify(v, &e);
    vcpu_ud(v);
}

void vm_notify(struct vcpu *v, const struct vm_event *e)
{
    if (v->vm->hooks && v->vm->hooks->event)
        v->vm->hooks->event(v, e);
}

void vcpu_log_dump(struct vcpu *v)
{
    static char buf[4096];
    log_write(buf, v->ops->dump(v, buf, sizeof(buf)));
}

unsigned long vm_summary(struct vm *vm, char *buf, unsigned long size)
{
    const struct boot_info *bi = vm->info;
    const struct backend_ops *ops = vm->ops;
    unsigned long n = 0;
    uint64_t faults = 0;
#define PUT(...)                                                                                   \
    n += (unsigned long)fmt_snprintf(buf + (n < size ? n : size), n < size ? size - n : 0,         \
                                     __VA_ARGS__)
    PUT("vmm: range 0x%016llx-0x%016llx (%llu KiB), backend %s, %u vCPU%s\n",
        (unsigned long long)bi->vmm_base, (unsigned long long)(bi->vmm_base + bi->vmm_size),
        (unsigned long long)(bi->vmm_size >> 10), ops->name, vm->nvcpus,
        vm->nvcpus == 1 ? "" : "s");
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct vcpu *v = vm->vcpus[i];
        faults += v->vmm_faults;
        if (v->state == VCPU_WAIT_SIPI)
            PUT("vm: cpu%u: waits for a start-up IPI\n", v->id);
        else
            PUT("vm: cpu%u: mode %s, rip 0x%llx, cr3 0x%llx%s\n", v->id, vcpu_mode_name(v),
                (unsigned long long)ops->get_rip(v), (unsigned long long)ops->get_cr(v, 3),
                v->state == VCPU_SHUTDOWN ? " (shut down)" : "");
    }
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct vcpu *v = vm->vcpus[i];
        PUT("exits: %llu total%s", (unsigned long long)v->exits, vm->nvcpus > 1 ? "" : "\n");
        if (vm->nvcpus > 1)
            PUT(" on cpu%u\n", v->id);
        for (uint32_t code = 0; code < ops->exit_codes; code++)
            if (v->exit_counts[code])
                PUT("  %-16s %llu\n", ops->exit_name(code),
                    (unsigned long long)v->exit_counts[code]);
        if (v->exit_other)
            PUT("  %-16s %llu\n", "other", (unsigned long long)v->exit_other);
    }
    PUT("hidden-range accesses: %llu, reset attempts: %llu, exits not handled: %llu\n",
        (unsigned long long)vm->npf_hidden, (unsigned long long)vm->dev.reset_attempts,
        (unsigned long long)faults);
#undef PUT
    return n < size ? n : size;
}

void vm_log_summary(struct vm *vm)
{
    static char buf[8192];
    log_write(buf, vm_summary(vm, buf, sizeof(buf)));
}
