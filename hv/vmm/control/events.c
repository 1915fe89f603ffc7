/*
 * What a client filters: each event core reports (core/hooks.h) is matched
 * against the filters, and a match records a stop for the vCPU, in the
 * T-packet form of docs/protocol.md. The intercepts follow the filters: a
 * port or an MSR the VMM does not own is intercepted while a client
 * filters it, and given back after.
 */
#include <stdarg.h>

#include "lib/fmt.h"
#include "vmm/control/ctrl.h"
#include "vmm/core/hooks.h"
#include "vmm/core/intercepts.h"
#include "vmm/core/vcpu.h"

#define X(v) ((unsigned long long)(v))

void ctrl_event(struct vcpu *v, const char *fmt, ...)
{
    struct ctrl_vcpu *cv = cv_of(v);
    va_list ap;
    if (cv->event_pending)
        return; /* the first event of an exit is the one reported */
    va_start(ap, fmt);
    fmt_vsnprintf(cv->event, sizeof(cv->event), fmt, ap);
    va_end(ap);
    cv->event_pending = true;
}

static bool in_list32(const uint32_t *l, unsigned n, uint32_t x)
{
    for (unsigned i = 0; i < n; i++)
        if (l[i] == x)
            return true;
    return false;
}

static bool in_list16(const uint16_t *l, unsigned n, uint16_t x)
{
    for (unsigned i = 0; i < n; i++)
        if (l[i] == x)
            return true;
    return false;
}

void ctrl_hook_event(struct vcpu *v, const struct vm_event *e)
{
    const struct filters *f = &ctrl_of(v->vm)->s.f;
    switch (e->kind) {
    case VME_CR_WRITE:
        if (e->cr.cr == 3)
            ctrl_step_cr3_written(v, e->cr.val);
        if (f->cr_write & (1u << e->cr.cr))
            ctrl_event(v, "T05rfx:cr_write,cr=%x,val=%llx,old=%llx;", e->cr.cr, X(e->cr.val),
                       X(e->cr.old));
        break;
    case VME_CR_READ:
        if (f->cr_read & (1u << e->cr.cr))
            ctrl_event(v, "T05rfx:cr_read,cr=%x;", e->cr.cr);
        break;
    case VME_CPUID:
        if (f->cpuid_all || in_list32(f->cpuid, f->ncpuid, e->cpuid.leaf))
            ctrl_event(v, "T05rfx:cpuid,leaf=%x,sub=%x;", e->cpuid.leaf, e->cpuid.sub);
        break;
    case VME_MSR:
        if (in_list32(f->msr, f->nmsr, e->msr.msr))
            ctrl_event(v, "T05rfx:msr,msr=%x,dir=%c,val=%llx;", e->msr.msr,
                       e->msr.write ? 'w' : 'r', X(e->msr.val));
        break;
    case VME_IO:
        if (in_list16(f->io, f->nio, e->io.port))
            ctrl_event(v, "T05rfx:io,port=%x,size=%x,dir=%s,val=%x;", e->io.port, e->io.size,
                       e->io.in ? "in" : "out", e->io.val);
        break;
    case VME_INTN:
        /* At the INT, before it runs: AX is the caller's (the BIOS function),
         * `at` the INT's linear address. */
        if (f->intn[e->intn.vec / 8] & (1u << (e->intn.vec % 8)))
            ctrl_event(v, "T05rfx:intn,vec=%x,ax=%x,at=%llx;", e->intn.vec, e->intn.ax,
                       X(e->intn.at));
        break;
    case VME_NPF:
        if (f->npf)
            ctrl_event(v, "T05rfx:npf,gpa=%llx,dir=%c;", X(e->npf.gpa), e->npf.write ? 'w' : 'r');
        break;
    case VME_RESET:
        if (f->reset)
            ctrl_event(v, "T05rfx:reset,how=%s;", e->how);
        break;
    case VME_SHUTDOWN:
        /* Always reported to a client: the machine resets after. */
        if (ctrl_of(v->vm)->session)
            ctrl_event(v, "T05rfx:shutdown;");
        break;
    case VME_VMM_FAULT:
        if (ctrl_of(v->vm)->session)
            ctrl_event(v, "T05rfx:vmm_fault;");
        break;
    }
}

const char *ctrl_filters_unsupported(void *ctx, const struct filters *want)
{
    struct ctrl *c = ctx;
    struct intercepts need = {
        .exceptions = want->excp, .cr_read = want->cr_read, .cr_write = want->cr_write};
    for (unsigned i = 0; i < sizeof(want->intn); i++)
        need.intn |= want->intn[i] != 0;
    return c->vm->ops->intercept_unsupported(c->vm, &need);
}

void ctrl_filters_changed(void *ctx, const struct filters *old)
{
    struct ctrl *c = ctx;
    struct vm *vm = c->vm;
    const struct filters *f = &c->s.f;

    /* Ports and MSRs: switch what changed, never what the VMM owns. */
    for (unsigned i = 0; i < old->nio; i++)
        if (!in_list16(f->io, f->nio, old->io[i]) && !vm_port_owner(vm, old->io[i]))
            vm->ops->set_io_intercept(vm, old->io[i], false);
    for (unsigned i = 0; i < f->nio; i++)
        if (!vm_port_owner(vm, f->io[i]))
            vm->ops->set_io_intercept(vm, f->io[i], true);
    for (unsigned i = 0; i < old->nmsr; i++)
        if (!in_list32(f->msr, f->nmsr, old->msr[i]) && !vm_msr_owned(vm, old->msr[i]))
            vm->ops->set_msr_intercept(vm, old->msr[i], false, false);
    for (unsigned i = 0; i < f->nmsr; i++)
        if (!vm_msr_owned(vm, f->msr[i]))
            vm->ops->set_msr_intercept(vm, f->msr[i], true, true);
    for (unsigned i = 0; i < vm->nvcpus; i++)
        vcpu_intercepts_changed(vm->vcpus[i]);
}
