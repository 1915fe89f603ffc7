/*
 * The exit loop, vendor-neutral: enter the VM; on its exit, count it,
 * dispatch it through the backend's table to the handlers of exits.h, let
 * the control channel look, and rebase the VM's TSC; before the next
 * entry, inject what waits and apply the intercepts.
 *
 * TSC rebasing (the seed paper's tsc_rebase), through the backend's TSC
 * offset (APM Vol.2 §15.30.5; SDM Vol.3C §26.6.5):
 *  - an exit the VM causes (CPUID, an MSR, a CR write...) shows little in
 *    its TSC: the time in the VMM is taken off -- from the exit to the
 *    rebase, and the cheapest path seen from the rebase to the entry --
 *    and the cheapest world switch this vCPU has made (calibrated at
 *    start, then the shortest entry-to-exit round trip of any exit):
 *    all of it where every calibration round trip took the same (a TSC
 *    that counts instructions, as in Bochs), else half, as a switch's
 *    cost varies from one exit to the next (by half under QEMU's TCG) and
 *    taking off more than this one took would run the TSC backwards;
 *  - that time is a debt, repaid at the next exit the VM cannot time (a
 *    physical interrupt, an NMI, a halt) and whenever it passes the
 *    boot option tsc_debt=MS (50 ms by default; 0 hides nothing): the TSC
 *    then jumps forward to real time. It never goes back, it keeps pace
 *    with the clocks the VM compares it with (PIT, HPET, RTC), and two
 *    vCPUs drift apart by one debt at most -- an OS that checks the TSCs
 *    are in step with interrupts off may see that; tsc_debt=0 keeps them
 *    in step, and shows every exit;
 *  - a stop for a client is not the VM's time at all: it is taken off and
 *    never repaid.
 */
#include "common/cpu.h"
#include "common/log.h"
#include "hw/x86.h"
#include "vmm/core/apic.h"
#include "vmm/core/emulate.h"
#include "vmm/core/exits.h"
#include "vmm/core/hooks.h"
#include "vmm/core/intercepts.h"
#include "vmm/core/smp.h"
#include "vmm/core/vcpu.h"
#include "vmm/devices/devices.h"

#define SUMMARY_EVERY_EXITS (1u << 22) /* the counters in the log every 4M exits */

uint64_t vcpu_guest_tsc(struct vcpu *v) { return v->exit_tsc + v->ops->get_tsc_offset(v); }

static bool interruptible(struct vcpu *v)
{
    return (v->ops->get_rflags(v) & RFLAGS_IF) && !v->ops->interrupt_shadow(v);
}

/*
 * A kick (the VMM's own NMI) that woke a vCPU out of the HLT it was halted
 * in woke nothing of the VM's: the vCPU goes back into that HLT (rip on it
 * again) rather than past it. An idle core then stops and resumes for a
 * client with no guest instruction run, and the VM sees no wake-up that the
 * VMM made. Any exit before that HLT ran again puts rip past it: the HLT
 * ran and was woken by what exits (an interrupt, say), as the CPU's own
 * would be, and that interrupt returns past it (SDM Vol.2 "HLT": the
 * interrupt that resumes a HLT saves the address of the next instruction).
 */
static void back_into_hlt(struct vcpu *v)
{
    v->kick_woke_halt = false;
    if (v->ops->get_rip(v) != v->hlt_rip + v->hlt_len || v->pending.type != EVENT_NONE ||
        v->in_irq_handler || (v->ops->get_rflags(v) & RFLAGS_TF))
        return; /* the client moved it, or something is for the VM first */
    v->ops->set_rip(v, v->hlt_rip);
    v->hlt_parked = true;
    v->hlt_rewound = true;
    vcpu_intercepts_changed(v);
}

/* Before each entry: an interrupt that waited for its window goes when
 * the window is open; the intercepts follow what changed; the event
 * waiting is injected; the state is checked. */
static void prepare_entry(struct vcpu *v)
{
    const char *why;

    if (v->kick_woke_halt)
        back_into_hlt(v);
    if (v->deferred.type != EVENT_NONE && v->pending.type == EVENT_NONE &&
        (v->deferred.type == EVENT_NMI || interruptible(v))) {
        v->pending = v->deferred;
        v->deferred.type = EVENT_NONE;
        vcpu_intercepts_changed(v);
    }
    if (v->intercepts_dirty)
        vcpu_recalc_intercepts(v);
    bool injects = v->pending.type != EVENT_NONE;
    if (injects) {
        v->ops->inject(v, &v->pending);
        v->pending.type = EVENT_NONE;
    }
    if (v->ops->check_state(v, &why)) {
        /* A VMM bug: the state is valid again, and the VM gets the #GP the
         * CPU would have raised for the write that made it invalid. */
        log_printf("vmm: cpu%u: the VM's state broke a rule of the CPU (%s): repaired, #GP to "
                   "the VM\n",
                   v->id, why);
        vcpu_log_dump(v);
        struct vm_event e = {.kind = VME_VMM_FAULT, .what = why};
        vm_notify(v, &e);
        vcpu_gp(v);
        v->ops->inject(v, &v->pending);
        v->pending.type = EVENT_NONE;
        injects = true;
    }
    /* Back at the HLT the VMM let it run (exit_hlt), with nothing injected
     * first and every interrupt exiting, no TF step (the stub's, or the
     * VM's own, would trap after it) and no instruction breakpoint of the
     * VM's own (the stub's exit): the vCPU runs that HLT and sleeps until
     * an interrupt exits. */
    v->halted_in_vm = v->hlt_parked && v->ops->intr_exits && !v->in_irq_handler && !injects &&
                      v->ops->get_rip(v) == v->hlt_rip && !(v->ops->get_rflags(v) & RFLAGS_TF) &&
                      (v->dr_shadowed || !(v->ops->get_dr(v, 7) & 0xff));
}

/* Before an entry: what the VM's TSC shows of the exit (see the top). */
static void rebase_tsc(struct vcpu *v)
{
    v->rebase_tsc = rdtsc();
    uint64_t tail = v->tail_cost == ~0ull ? 0 : v->tail_cost;
    uint64_t sw = v->switch_steady ? v->switch_cost : v->switch_cost / 2;
    uint64_t spent = v->rebase_tsc - v->exit_tsc + tail + sw;
    /* Taken at once: a stop another vCPU served adds to it (control/session.c). */
    uint64_t stop = __atomic_exchange_n(&v->stop_ticks, 0, __ATOMIC_SEQ_CST);
    /* A stop is hidden within what the VM could not have timed: this
     * exit's handling, or, out of a halt in the VM (it ran nothing but its
     * HLT since the entry), everything since that entry: a stop it stayed
     * halted through. Its TSC still never goes back. */
    uint64_t room = v->out_of_halt ? v->rebase_tsc - v->entry_tsc : spent;
    uint64_t stopped = stop < room ? stop : room;
    uint64_t off = v->ops->get_tsc_offset(v) - (stopped > spent ? stopped : spent);
    uint64_t max = v->vm->tsc_hz / 1000 * v->vm->info->tsc_debt_ms;

    v->tsc_debt += stopped < spent ? spent - stopped : 0;
    if (v->poll == POLL_TICK || v->poll == POLL_HLT || v->tsc_debt > max) {
        uint64_t repay = v->poll == POLL_EXIT ? v->tsc_debt - max : v->tsc_debt;
        off += repay;
        v->tsc_debt -= repay;
    }
    v->ops->set_tsc_offset(v, off);
}

/* A stop the vCPU stayed halted in the VM through (control/session.c adds
 * it to stop_ticks at the release) goes off its TSC as it leaves the VM,
 * before anything reads its guest TSC (the control channel's look at the
 * line): it then agrees with the other vCPUs', which hid the stop as they
 * left the VMM. At most the time since its entry, when it ran nothing but
 * its HLT: its TSC never goes back. */
static void hide_stops_halted_through(struct vcpu *v)
{
    uint64_t stop = __atomic_exchange_n(&v->stop_ticks, 0, __ATOMIC_SEQ_CST);
    uint64_t room = v->exit_tsc - v->entry_tsc;
    if (stop)
        v->ops->set_tsc_offset(v, v->ops->get_tsc_offset(v) - (stop < room ? stop : room));
}

static void handle_exit(struct vcpu *v)
{
    uint32_t code = v->ops->exit_code(v);

    /* Out of the VM: a stop under way (control/session.c) must kick it
     * again, and its next look at the session must come after this store
     * (a full barrier: SDM Vol.3A §9.2.3.4, a load may pass a store). */
    bool from_halt = v->halted_in_vm;
    if (from_halt)
        __atomic_store_n(&v->halted_in_vm, false, __ATOMIC_SEQ_CST);
    if (v->hlt_rewound) {
        v->hlt_rewound = false;
        if (v->ops->get_rip(v) == v->hlt_rip)
            v->ops->set_rip(v, v->hlt_rip + v->hlt_len); /* see back_into_hlt() */
    }
    v->out_of_halt = from_halt;
    if (from_halt)
        hide_stops_halted_through(v);
    v->exit_halted = from_halt && v->hlt_len && v->ops->get_rip(v) == v->hlt_rip + v->hlt_len;
    if (v->exit_tsc - v->entry_tsc < v->switch_cost)
        v->switch_cost = v->exit_tsc - v->entry_tsc; /* a round trip is at least a switch */
    if (v->entry_tsc - v->rebase_tsc < v->tail_cost)
        v->tail_cost = v->entry_tsc - v->rebase_tsc; /* the same code each time: its cheapest */
    v->exits++;
    if (code < v->ops->exit_codes)
        v->exit_counts[code]++;
    else
        v->exit_other++;
    if (v->hlt_parked) {
        v->hlt_parked = false; /* HLT is intercepted again */
        vcpu_intercepts_changed(v);
    }
    v->poll = POLL_EXIT;
    if (v->ops->handle_exit(v))
        vcpu_cannot_emulate(v, v->ops->exit_name(code));
    if (!(v->exits & (SUMMARY_EVERY_EXITS - 1)))
        vm_log_summary(v->vm);
    if (v->vm->hooks && v->vm->hooks->poll)
        v->vm->hooks->poll(v, v->poll);
}

void vcpu_run(struct vcpu *v)
{
    v->switch_cost = v->ops->switch_cost(v, &v->switch_steady);
    v->tail_cost = ~0ull; /* learnt from the first entries */
    log_printf("vmm: cpu%u: a world switch costs %llu TSC ticks%s\n", v->id,
               (unsigned long long)v->switch_cost,
               v->switch_steady ? " every time: all of it is taken off the VM's TSC" : "");
    v->exit_tsc = rdtsc(); /* the guest TSC is defined before the first exit (ctrl_wait) */
    v->poll = POLL_TICK;   /* nothing to hide before the first entry */
    vcpu_intercepts_changed(v);
    if (v->id == 0 && v->vm->hooks && v->vm->hooks->first_entry)
        v->vm->hooks->first_entry(v);
    if (v->state == VCPU_RUNNING)
        log_printf("vmm: cpu%u: entering the VM\n", v->id);
    for (;;) {
        if (v->init_pending)
            smp_take_init(v);
        if (v->state == VCPU_WAIT_SIPI) {
            smp_wait_for_sipi(v);
            /* The machine may be stopped for a client meanwhile. */
            if (v->vm->hooks && v->vm->hooks->poll)
                v->vm->hooks->poll(v, POLL_EXIT);
        }
        if (v->state == VCPU_SHUTDOWN) {
            /* A PC's chipset resets the machine when a core shuts down; a
             * client attached has seen the stop first (control/). */
            log_printf("vmm: cpu%u: shut down: resetting the machine, as its chipset would\n",
                       v->id);
            vm_log_summary(v->vm);
            machine_reset();
        }
        prepare_entry(v);
        rebase_tsc(v);    /* last: everything since the exit is the VMM's */
        v->ops->enter(v); /* stamps entry_tsc and exit_tsc around the switch */
        handle_exit(v);
    }
}

/*
 * HLT: the VMM takes the chance to poll its channel, then lets the VM halt
 * on the hardware (the HLT intercept is off until the next exit). The next
 * physical interrupt exits (INTR is intercepted: the periodic poll source)
 * and then reaches the VM as usual. An idle VM thus costs two exits per
 * wake-up, not a spin.
 */
int exit_hlt(struct vcpu *v)
{
    v->poll = POLL_HLT;
    v->hlt_parked = true;
    v->hlt_rip = v->ops->get_rip(v);
    /* Decoded rather than from the backend's next-rip, which an emulator
     * may leave stale: 0 if no HLT is there, and no going back into it. */
    struct insn in;
    v->hlt_len = !emu_decode(v, &in) && in.map == 1 && in.opcode == 0xf4 ? in.len : 0;
    vcpu_intercepts_changed(v);
    return 0;
}

/*
 * A physical interrupt, the periodic poll source. The interrupt stays
 * pending (APM Vol.2 §15.21.1: V_INTR_MASKING is clear), but while INTR is
 * intercepted it would exit again at the next entry instead of reaching the
 * VM. So the INTR intercept steps aside until the VM's handler returns: the
 * IRET intercept re-arms it. Two exits per interrupt, and the VMM looks at
 * the channel at the VM's timer rate even when the VM never exits.
 */
int exit_intr(struct vcpu *v)
{
    v->poll = POLL_TICK;
    v->in_irq_handler = true;
    vcpu_intercepts_changed(v);
    return 0;
}

int exit_tick(struct vcpu *v)
{
    v->poll = POLL_TICK;
    return 0;
}

int exit_iret(struct vcpu *v)
{
    v->in_irq_handler = false;
    vcpu_intercepts_changed(v);
    return 0;
}

/* The VM's interrupt window opened: prepare_entry() injects what waited. */
int exit_vintr(struct vcpu *v)
{
    vcpu_intercepts_changed(v);
    return 0;
}

void vcpu_give_nmi(struct vcpu *v)
{
    struct x86_event nmi = {EVENT_NMI, X86_EXC_NMI, false, 0};
    if (v->pending.type == EVENT_NONE)
        vcpu_queue_event(v, &nmi);
    else
        v->deferred = nmi;
}

/* An NMI: the VMM's own kick (an INIT for this vCPU, a stop for a
 * client: the poll after this exit sees to them), or the VM's, which it
 * gets (core/apic.c tells them apart). */
int exit_nmi(struct vcpu *v)
{
    if (!apic_vm_nmis(v)) {
        v->kick_woke_halt = v->exit_halted; /* see back_into_hlt() */
        return 0;
    }
    vcpu_give_nmi(v);
    return 0;
}
