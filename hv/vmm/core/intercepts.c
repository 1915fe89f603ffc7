/*
 * What the VMM intercepts, decided in one place.
 *
 * Machine-wide: the ports and MSRs the VMM owns, one table (owned_ports,
 * core_msrs, backend_ops.owned_msrs) read by the permission maps at start,
 * by io.c / msr.c to dispatch, and by the control filters to know which
 * intercepts are theirs to switch.
 *
 * Per vCPU: vcpu_recalc_intercepts() computes the whole set from the
 * policy and what the client asked for, so no caller toggles an intercept
 * that another one needs.
 */
#include "vmm/core/intercepts.h"
#include "common/log.h"
#include "hw/x86.h"
#include "vmm/core/hooks.h"
#include "vmm/core/vcpu.h"
#include "vmm/devices/devices.h"

/* The MSRs core/ emulates whatever the backend: EFER (the backend's bits
 * in it are hidden: backend_ops.msr_access) and IA32_TSC_DEADLINE (in the
 * VM's TSC, not the core's: msr.c). */
static const uint32_t core_msrs[] = {MSR_EFER, MSR_TSC_DEADLINE};

static void add(struct vm *vm, uint16_t first, uint16_t count, owned_io_fn *fn)
{
    if (vm->nowned < OWNED_PORTS_MAX)
        vm->owned[vm->nowned++] = (struct owned_port){first, count, fn};
}

static void add_log_target(struct vm *vm, const struct log_target *l)
{
    if (l->kind == LOG_UART)
        add(vm, (uint16_t)l->port, 8, hidden_io);
    else if (l->kind == LOG_DEBUGCON)
        add(vm, (uint16_t)l->port, 1, hidden_io);
}

/* The ports the VMM owns: its UARTs (hidden first: they win over a device
 * below), the keyboard controller, port 92h and CF9h (the reset and A20
 * lines: devices/reset_lines.c). */
static void owned_ports(struct vm *vm)
{
    vm->nowned = 0;
    add_log_target(vm, &vm->info->ctrl);
    add_log_target(vm, &vm->info->log);
    add(vm, 0x60, 1, kbd_io);
    add(vm, 0x64, 1, kbd_io);
    add(vm, 0x92, 1, port92_io);
    add(vm, 0xcf9, 1, cf9_io);
}

void vm_own_ports(struct vm *vm, uint16_t first, uint16_t count, owned_io_fn *fn)
{
    unsigned before = vm->nowned;
    add(vm, first, count, fn);
    if (vm->nowned == before) {
        log_printf("vmm: no room to own ports 0x%x-0x%x\n", first, first + count - 1);
        return;
    }
    for (unsigned p = first; p < (unsigned)first + count; p++)
        vm->ops->set_io_intercept(vm, (uint16_t)p, true);
}

const struct owned_port *vm_port_owner(const struct vm *vm, uint16_t port)
{
    for (unsigned i = 0; i < vm->nowned; i++)
        if (port >= vm->owned[i].first && port - vm->owned[i].first < vm->owned[i].count)
            return &vm->owned[i];
    return 0;
}

bool vm_msr_owned(const struct vm *vm, uint32_t msr)
{
    for (unsigned i = 0; i < sizeof(core_msrs) / sizeof(core_msrs[0]); i++)
        if (core_msrs[i] == msr)
            return true;
    for (unsigned i = 0; i < vm->ops->nowned_msrs; i++)
        if (vm->ops->owned_msrs[i] == msr)
            return true;
    return false;
}

void vm_init_intercepts(struct vm *vm)
{
    owned_ports(vm);
    for (unsigned i = 0; i < vm->nowned; i++)
        for (unsigned p = vm->owned[i].first; p < vm->owned[i].first + vm->owned[i].count; p++)
            vm->ops->set_io_intercept(vm, (uint16_t)p, true);
    for (unsigned i = 0; i < sizeof(core_msrs) / sizeof(core_msrs[0]); i++)
        vm->ops->set_msr_intercept(vm, core_msrs[i], true, true);
    for (unsigned i = 0; i < vm->ops->nowned_msrs; i++)
        vm->ops->set_msr_intercept(vm, vm->ops->owned_msrs[i], true, true);
}

void vcpu_recalc_intercepts(struct vcpu *v)
{
    struct intercepts want = {0};

    /* CR0 writes: the switch in and out of real mode moves the INT n
     * intercept (int 15h is answered in real mode: intn.c). CR4 writes:
     * checked against the bits this CPU has (QEMU's TCG takes a reserved
     * CR4 bit for a failed VMRUN instead of a #GP). CR3 runs on the
     * hardware with nested paging. */
    want.cr_write = (1u << 0) | (1u << 4);
    want.intn = !(v->ops->get_cr(v, 0) & CR0_PE);
    want.hlt = !v->hlt_parked;
    want.intr = !v->in_irq_handler;
    want.iret = v->in_irq_handler;
    want.vintr = v->deferred.type == EVENT_INTR;
    want.dr = v->dr_shadowed;
    if (v->vm->hooks && v->vm->hooks->intercepts)
        v->vm->hooks->intercepts(v, &want);
    v->ops->apply_intercepts(v, &want);
    v->intercepts_dirty = false;
}
