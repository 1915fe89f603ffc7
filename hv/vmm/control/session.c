/*
 * The control channel's session loop, over a byte channel (channel.h: a
 * UART, or TCP on the VMM's NIC).
 *
 * While the VM runs, the VMM looks at the channel at the poll points
 * (core/hooks.h: every HLT, every physical interrupt -- the periodic
 * source --, and one exit in ctrl_poll); that costs one status-register
 * read on a UART, one descriptor read in memory on the NIC. A byte starts a session: Ctrl-C (0x03) or any packet stops the VM,
 * and the VMM serves packets until one resumes it. An event recorded by an
 * exit handler (breakpoint, step, filtered exit) is reported the same way.
 * A client that goes silent while the VM is stopped is dropped after a
 * timeout: its breakpoints and filters are removed and the VM runs again.
 */
#include "common/cpu.h"
#include "common/log.h"
#include "common/palloc.h"
#include "lib/fmt.h"
#include "lib/mem.h"
#include "vmm/control/control.h"
#include "vmm/control/ctrl.h"
#include "vmm/core/apic.h"
#include "vmm/core/hooks.h"
#include "vmm/core/intercepts.h"
#include "vmm/core/vcpu.h"
#include "vmm/devices/devices.h"
#include "vmm/net/chan_net.h"

#define ACK_TIMEOUT_MS       500
#define SESSION_TIMEOUT_S    10 /* default of ctrl_timeout= */
#define O_CHUNK              512
#define NEW_CLIENT_SILENCE_S 1
#define STOP_WAIT_S          2
#define STEP_LOOK_MS         10 /* a step under way reads the line this often */
#define REPLY_SIZE           (2 * STUB_PACKET_SIZE + 8)
#define CONSOLE_SIZE         8192
#define DEFAULT_UART         0x2f8
#define POLL_BYTES           32768 /* taken at one poll while the VM runs */

/* The framed packet, whole (ctrl.frame): on the network the channel still
 * sends its full segments as it queues them (net/chan_net.c). */
#define FRAME_SIZE (2 * REPLY_SIZE + 16)

/* The client went away: remembered until the session detaches. */
static bool hung_up(struct ctrl *c)
{
    if (!c->hangup && c->ch.ops->closed(&c->ch))
        c->hangup = true;
    return c->hangup;
}

/* Returns the next byte, or -1 after `ticks` TSC ticks of silence or when
 * the client has gone. */
static int recv_byte(struct ctrl *c, uint64_t ticks)
{
    uint8_t b;
    uint64_t start = rdtsc();
    do {
        if (c->ch.ops->getc(&c->ch, &b))
            return b;
        if (hung_up(c))
            return -1;
    } while (rdtsc() - start < ticks);
    return -1;
}

static void send_raw(struct ctrl *c, const uint8_t *p, size_t n)
{
    c->ch.ops->write(&c->ch, p, n);
    c->ch.ops->flush(&c->ch);
}

static void send_char(struct ctrl *c, char ch) { send_raw(c, (const uint8_t *)&ch, 1); }

/*
 * Sends one packet and, in ack mode, waits for its '+'. A '-' resends it
 * (three times at most). The line is reliable (TCP in the lab), so silence
 * is not a reason to resend: after ACK_TIMEOUT_MS we go on. Any other byte
 * is the client talking already: it goes to the framer, and a packet it
 * completes is served next.
 */
static void send_packet(struct ctrl *c, const void *data, size_t len)
{
    size_t n = rsp_frame(c->frame, FRAME_SIZE, data, len);
    for (int tries = 0; tries < 3; tries++) {
        send_raw(c, c->frame, n);
        if (c->s.noack)
            return;
        int b = recv_byte(c, c->s.tsc_hz / 1000 * ACK_TIMEOUT_MS);
        if (b == '-')
            continue;
        if (b >= 0 && b != '+' && rsp_rx_byte(&c->rx, (uint8_t)b) == RSP_EV_PACKET)
            c->packet_waiting = true;
        return;
    }
}

static void send_str(struct ctrl *c, const char *s) { send_packet(c, s, lib_strlen(s)); }

/* Text to the client's console, as hex 'O' packets (gdb prints them). */
static void send_console(struct ctrl *c, const char *text, size_t len)
{
    static char pkt[1 + O_CHUNK];
    for (size_t off = 0; off < len; off += O_CHUNK / 2) {
        size_t chunk = len - off < O_CHUNK / 2 ? len - off : O_CHUNK / 2;
        pkt[0] = 'O';
        size_t n = hex_encode(pkt + 1, sizeof(pkt) - 1, (const uint8_t *)text + off, chunk);
        send_packet(c, pkt, n + 1);
    }
}

static void send_reply(struct ctrl *c, struct reply *r)
{
    static const char zeros[256];
    for (uint64_t left = r->stream; left;) {
        size_t chunk = left < sizeof(zeros) ? (size_t)left : sizeof(zeros);
        send_console(c, zeros, chunk);
        left -= chunk;
    }
    send_console(c, r->console, r->console_len);
    send_packet(c, r->buf, r->len);
}

/* The stop v reports: every T stop names the vCPU that stopped (gdb's
 * thread id). */
static void set_stop(struct ctrl *c, struct vcpu *v, const char *reply)
{
    if (reply[0] == 'T')
        fmt_snprintf(c->s.last_stop, sizeof(c->s.last_stop), "%sthread:%x;", reply, v->id + 1);
    else
        fmt_snprintf(c->s.last_stop, sizeof(c->s.last_stop), "%s", reply);
    c->s.stopped_thread = c->s.gthread = c->s.cthread = v->id;
}

static void report_stop(struct ctrl *c, struct vcpu *v, const char *reply)
{
    set_stop(c, v, reply);
    send_str(c, c->s.last_stop);
}

/* The client's session ends: its breakpoints and filters go, the next
 * client starts from a fresh stub (ack mode, thread 1...). */
static void end_session(struct ctrl *c, const char *why)
{
    ctrl_bp_clear_all(c);
    stub_filters_clear(&c->s);
    stub_session_reset(&c->s);
    c->session = false;
    c->hangup = false;
    c->ended++;
    for (unsigned i = 0; i < c->vm->nvcpus; i++)
        cv_of(c->vm->vcpus[i])->event_pending = false;
    log_printf("vmm: control: client detached (%s)\n", why);
}

static void detach(struct ctrl *c, const char *why)
{
    rsp_rx_init(&c->rx); /* half a packet from a vanished client must not restart a session */
    end_session(c, why);
}

/* --- all-stop --- */

/* A vCPU that does not run the VM now: parked, or never started. */
static bool parked(struct vcpu *u) { return cv_of(u)->parked || u->state != VCPU_RUNNING; }

/* ...or halted in the VM, where it runs nothing before its next exit, and
 * that exit parks it (core/run.c: halted_in_vm). Such a vCPU is not
 * kicked at a stop nor woken at the resume: an idle core costs the stop
 * nothing. Its state is in the VM's hardware, though: settle() parks it
 * before anyone reads or writes it. */
static bool at_rest(struct vcpu *u) { return parked(u) || u->halted_in_vm; }

/* Waits until u is at rest by `rest` (bounded: a core that cannot exit --
 * in an NMI handler that never returns, say -- is reported as running). */
static void wait_for(struct vcpu *u, bool (*rest)(struct vcpu *), uint64_t deadline)
{
    while (!rest(u) && rdtsc() < deadline)
        __asm__ volatile("pause");
    if (!rest(u))
        log_printf("vmm: control: cpu%u did not stop (its NMIs are blocked?)\n", u->id);
}

/* A stop takes no guest time (core/run.c: taken off the VM's TSC): the
 * part of [from, to] inside its window (struct ctrl's rest_tsc), for a
 * vCPU at rest from `from` (0: since the stop began) to `to`. */
static void stopped_for(struct ctrl *c, struct vcpu *v, uint64_t from, uint64_t to)
{
    uint64_t start = c->rest_tsc > from ? c->rest_tsc : from;
    if (to > start)
        __atomic_add_fetch(&v->stop_ticks, to - start, __ATOMIC_SEQ_CST);
}

/* Kicks every other vCPU out of the VM. The stop reply need not wait for
 * them to be out: no packet is served before they are all at rest
 * (wait_others), so no client sees one run. */
static void kick_others(struct ctrl *c, struct vcpu *v)
{
    struct vm *vm = c->vm;
    /* Our store of owner before our loads of halted_in_vm, against the
     * vCPU's store of it at its exit before its load of owner (core/run.c):
     * either it sees us and parks, or we see it out of the VM and kick. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    c->rest_tsc = rdtsc();
    c->rest_noted = false;
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct vcpu *u = vm->vcpus[i];
        if (u == v || parked(u))
            continue;
        if (u->halted_in_vm)
            __atomic_store_n(&cv_of(u)->halted_at_stop, true, __ATOMIC_SEQ_CST);
        else
            apic_kick(u);
    }
}

static void wait_others(struct ctrl *c, struct vcpu *v)
{
    struct vm *vm = c->vm;
    uint64_t deadline = rdtsc() + vm->tsc_hz * STOP_WAIT_S;
    for (unsigned i = 0; i < vm->nvcpus; i++)
        if (vm->vcpus[i] != v)
            wait_for(vm->vcpus[i], at_rest, deadline);
    if (!c->rest_noted) {
        c->rest_tsc = rdtsc();
        c->rest_noted = true;
    }
}

void ctrl_settle(struct ctrl *c, struct vcpu *u)
{
    if (u == c->owner || parked(u))
        return;
    apic_kick(u);
    wait_for(u, parked, rdtsc() + c->vm->tsc_hz * STOP_WAIT_S);
}

/* Why a vCPU stops for the session. Each is asked again if the vCPU had
 * to wait for another's session first: by then that session may have
 * answered it, or ended with a detach -- a stop reported then would reach
 * no client, and the VM would wait ctrl_timeout for one. */
typedef bool stop_reason(struct ctrl *c, uint32_t ended);

/* An event or an interrupt of the client's session: still due while that
 * session lasts. */
static bool same_session(struct ctrl *c, uint32_t ended) { return c->ended == ended; }

/* The line: a packet is waiting, or half of one (another vCPU's session
 * serves both and leaves rx empty). */
static bool line_busy(struct ctrl *c, uint32_t ended)
{
    (void)ended;
    return c->packet_waiting || rsp_rx_busy(&c->rx);
}

/* Makes v the owner: the others stop. If another vCPU owns the session, v
 * waits parked until it may have it, then takes it only if `why` still
 * holds: false means v runs on, owning nothing. */
static void park(struct ctrl *c, struct vcpu *v);
static bool take_session(struct ctrl *c, struct vcpu *v, stop_reason *why)
{
    uint32_t ended = c->ended;
    bool waited = false;
    for (;;) {
        spin_lock(&c->lock);
        if (!c->owner || c->owner == v) {
            if (waited && !why(c, ended)) {
                spin_unlock(&c->lock);
                return false;
            }
            bool fresh = c->owner != v;
            c->owner = v;
            spin_unlock(&c->lock);
            if (fresh)
                kick_others(c, v);
            return true;
        }
        spin_unlock(&c->lock);
        park(c, v);
        waited = true;
    }
}

void ctrl_release(struct ctrl *c)
{
    struct vm *vm = c->vm;
    spin_lock(&c->lock);
    struct vcpu *was = c->owner;
    /* The stop's window closes: each vCPU at rest hides its part of it
     * now, while none can leave park (owner is still set). One that stayed
     * halted in the VM through the whole stop hides it at its next exit,
     * as a parked one does at its entry. */
    uint64_t now = rdtsc();
    c->release_tsc = now;
    if (was) /* its resume since its last serve: the VM was still stopped */
        stopped_for(c, was, c->serve_end, now);
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct vcpu *u = vm->vcpus[i];
        struct ctrl_vcpu *cu = cv_of(u);
        if (u == was)
            continue;
        if (__atomic_exchange_n(&cu->halted_at_stop, false, __ATOMIC_SEQ_CST)) {
            stopped_for(c, u, 0, now);
        } else if (cu->parked) {
            stopped_for(c, u, cu->park_from, now);
            cu->park_from = now; /* it may stay parked into the next stop */
        }
    }
    c->owner = 0;
    spin_unlock(&c->lock);
    /* Against park(): our store of owner before our loads of parked, its
     * store of parked before its load of owner. x86 lets a load pass an
     * earlier store (SDM Vol.3A §9.2.3.4): without the fences each side
     * could see the other's old value -- a parked vCPU not kicked, asleep
     * for good. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    for (unsigned i = 0; i < vm->nvcpus; i++)
        if (vm->vcpus[i] != was && cv_of(vm->vcpus[i])->parked)
            apic_kick(vm->vcpus[i]);
}

/*
 * A step under way reads the line at its exits (ctrl_hook_poll). One
 * whose instruction spins with interrupts masked -- on a lock a parked
 * vCPU holds, say -- never exits: on SVM, the VM's IF masks the physical
 * interrupts too (V_INTR_MASKING is clear, APM Vol.2 §15.21.1). So one
 * parked vCPU, the first, watches such a step: every STEP_LOOK_MS it
 * kicks the stepping owner, whose exit then reads the line (look_now),
 * and a client's 0x03 ends the step where it is. It spins meanwhile
 * rather than sleeping: no timer of the VMM's would wake it.
 */
static bool step_watchdog(struct ctrl *c, struct vcpu *v)
{
    struct vcpu *o = c->owner;
    if (!o || o == v || !cv_of(o)->stepping)
        return false;
    for (unsigned i = 0; i < c->vm->nvcpus; i++) {
        struct vcpu *u = c->vm->vcpus[i];
        if (u != o && cv_of(u)->parked && u != v)
            return false; /* another watches */
        if (u == v)
            break;
    }
    uint64_t end = rdtsc() + c->vm->tsc_hz / 1000 * STEP_LOOK_MS;
    while (c->owner == o && cv_of(o)->stepping && rdtsc() < end)
        __asm__ volatile("pause");
    if (c->owner == o && cv_of(o)->stepping) {
        __atomic_store_n(&cv_of(o)->look_now, true, __ATOMIC_SEQ_CST);
        apic_kick(o);
    }
    return true;
}

/* v waits in the VMM while another vCPU owns the session; it leaves when
 * nobody does (the VM runs again), or when the session is handed to it
 * (to step). Its state is saved for the register view meanwhile, and it
 * programs its own debug registers before it runs. */
static void park(struct ctrl *c, struct vcpu *v)
{
    struct ctrl_vcpu *cv = cv_of(v);
    cv->park_from = rdtsc();
    if (__atomic_exchange_n(&cv->halted_at_stop, false, __ATOMIC_SEQ_CST))
        cv->park_from = 0; /* halted in the VM since the stop began */
    ctrl_hw_save(v);
    cv->parked = true;
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* see ctrl_release() */
    for (;;) {
        while (c->owner && c->owner != v) {
            if (!step_watchdog(c, v))
                v->ops->idle(v);
            if (apic_vm_nmis(v))
                vcpu_give_nmi(v); /* the VM's, while v waited: it gets it */
        }
        /* A new stop may have begun as we left: its owner saw us parked
         * and did not kick us, so we must not run. Our store of parked
         * before our load of owner, against kick_others' store of owner
         * before its load of parked (fences on both sides): either it
         * kicks us, or we see it and stay. */
        cv->parked = false;
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (!c->owner || c->owner == v)
            break;
        cv->parked = true;
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    }
    ctrl_hw_restore(v);
    /* Handed the session (to step), or released: the release hid its part
     * of the stop, unless it came before we were parked. */
    stopped_for(c, v, cv->park_from, c->owner == v ? rdtsc() : c->release_tsc);
    if (c->owner == v)
        ctrl_prepare_resume(v, true); /* handed over: one step */
    else if (!cv->event_pending)
        ctrl_prepare_resume(v, false);
}

/* A session begins: logged with the start of its first packet, so a log
 * shows who stopped the VM before whatever follows. */
static void log_attach(struct ctrl *c)
{
    char head[13];
    unsigned n = c->rx.len < 12 ? c->rx.len : 12;
    for (unsigned i = 0; i < n; i++)
        head[i] = c->rx.buf[i] >= 0x20 && c->rx.buf[i] < 0x7f ? (char)c->rx.buf[i] : '.';
    head[n] = 0;
    log_printf("vmm: control: client attached (first packet \"%s\")\n", head);
}

/*
 * The stopped VM: report the stop (if `reply`), then serve packets until
 * one resumes it. v is the vCPU that stopped, on whose core this runs,
 * and owns the session; it alone reads the line meanwhile (a vCPU that
 * polled before it stopped gives up the line at once). Returns when v must
 * run again: alone (a step) or with the others.
 */
static bool serve_once(struct ctrl *c, struct vcpu *v, const char *reply);

/* v reports a stop to the client's session and serves, again while the
 * resume itself ended a step (a HLT's: breakpoints.c) with v still the
 * owner. */
static void serve(struct ctrl *c, struct vcpu *v, const char *reply)
{
    struct ctrl_vcpu *cv = cv_of(v);
    while (serve_once(c, v, reply) && cv->event_pending && c->owner == v) {
        cv->event_pending = false;
        reply = cv->event;
    }
}

static bool serve_once(struct ctrl *c, struct vcpu *v, const char *reply)
{
    uint64_t t0 = rdtsc();
    enum stub_action a = STUB_RESUME;
    bool have_packet = false;
    ctrl_hw_save(v);
    spin_lock(&c->line);
    if (reply)
        report_stop(c, v, reply);
    wait_others(c, v);
    for (;;) {
        if (c->packet_waiting) {
            c->packet_waiting = false;
            have_packet = true;
        }
        if (!have_packet) {
            int b = recv_byte(c, c->timeout_tsc);
            if (b < 0 && hung_up(c)) {
                detach(c, "the client closed the connection");
                a = STUB_DETACH;
                break;
            }
            if (b < 0) {
                c->ch.ops->drop(&c->ch);
                detach(c, "timeout: no packet while the VM was stopped");
                a = STUB_DETACH;
                break;
            }
            enum rsp_event ev = rsp_rx_byte(&c->rx, (uint8_t)b);
            if (ev == RSP_EV_BAD && !c->s.noack)
                send_char(c, '-');
            /* A bare ack after a silence, in no-ack mode: a new client
             * acking our last reply (lldb's first byte is '+'). It talks
             * in ack mode until it asks otherwise. The one ack a client
             * owes in no-ack mode, for QStartNoAckMode's OK, is not one. */
            if (ev == RSP_EV_ACK && c->noack_ack_due)
                c->noack_ack_due = false;
            else if (ev == RSP_EV_ACK && c->s.noack &&
                     rdtsc() - c->last_packet_tsc > c->s.tsc_hz * NEW_CLIENT_SILENCE_S)
                c->s.noack = false;
            if (ev != RSP_EV_PACKET)
                continue;
        }
        have_packet = false;
        /* A qSupported after a silence is a new client: it is acked,
         * whatever mode the one that vanished left (a qSupported amid a
         * stream of packets is the same client's). So is QStartNoAckMode:
         * a client in no-ack mode has no reason to send it, one in ack
         * mode (lldb's first packet) waits for its '+'. */
        uint64_t now = rdtsc();
        bool to_noack = c->rx.len == 15 && !lib_memcmp(c->rx.buf, "QStartNoAckMode", 15);
        if ((c->rx.len >= 10 && !lib_memcmp(c->rx.buf, "qSupported", 10) &&
             now - c->last_packet_tsc > c->s.tsc_hz * NEW_CLIENT_SILENCE_S) ||
            to_noack)
            c->s.noack = false;
        c->noack_ack_due = to_noack;
        c->last_packet_tsc = now;
        if (!c->s.noack)
            send_char(c, '+');
        c->rx.buf[c->rx.len] = 0; /* handlers may look one byte past the end */
        if (!c->session)
            log_attach(c);
        c->session = true;
        a = stub_dispatch(&c->s, &c->reply, (char *)c->rx.buf, c->rx.len);
        if (a == STUB_STAY || a == STUB_DETACH)
            send_reply(c, &c->reply);
        if (a == STUB_DETACH)
            detach(c, "detach packet");
        if (a != STUB_STAY)
            break;
    }
    spin_unlock(&c->line);
    ctrl_hw_restore(v);
    c->serve_end = rdtsc();
    stopped_for(c, v, t0, c->serve_end);
    c->quiet_tsc = vcpu_guest_tsc(v);

    struct vcpu *t = c->vm->vcpus[c->s.step_thread < c->vm->nvcpus ? c->s.step_thread : 0];
    if (a == STUB_STEP && t != v) {
        ctrl_settle(c, t); /* it leaves park() to step */
        /* Another vCPU steps: it gets the session, v waits with the rest. */
        spin_lock(&c->lock);
        c->owner = t;
        spin_unlock(&c->lock);
        apic_kick(t);
        park(c, v);
        return false;
    }
    ctrl_prepare_resume(v, a == STUB_STEP);
    /* A step, and the one over a breakpoint before a continue, run v
     * alone: nobody may run past the int3 it takes out meanwhile. A step
     * over a system call (which may wait for another core's work), and one
     * that waits for a process to be scheduled (QRfx.Step:cr3), run
     * everyone. */
    struct ctrl_vcpu *cv = cv_of(v);
    if ((!cv->stepping || cv->step_int_dr >= 0) && cv->step_over_sw < 0) {
        ctrl_release(c);
        return false;
    }
    return true;
}

/* The client closed its connection while the VM ran: its breakpoints
 * and filters go, with every vCPU stopped as for a detach packet. */
static void drop_client(struct ctrl *c, struct vcpu *v)
{
    if (!c->session) {
        c->hangup = false;
        rsp_rx_init(&c->rx);
        return;
    }
    if (!take_session(c, v, same_session))
        return; /* another vCPU's session saw the hang-up first */
    wait_others(c, v);
    ctrl_hw_save(v);
    detach(c, "the client closed the connection");
    ctrl_hw_restore(v);
    ctrl_prepare_resume(v, false);
    ctrl_release(c);
}

/* v reports a stop to the client's session and serves. */
static void stop_and_serve(struct ctrl *c, struct vcpu *v, const char *reply)
{
    if (take_session(c, v, same_session))
        serve(c, v, reply);
}

void ctrl_hook_poll(struct vcpu *v, enum poll_reason why)
{
    struct ctrl *c = ctrl_of(v->vm);
    struct ctrl_vcpu *cv = cv_of(v);
    uint8_t b;

    /* Another vCPU owns the session: wait for it. */
    if (c->owner && c->owner != v)
        park(c, v);
    ctrl_dr_sync(v); /* a stop it stayed halted through changed them */
    if (cv->event_pending) {
        cv->event_pending = false;
        stop_and_serve(c, v, cv->event);
        return;
    }
    /* A step under way (c->owner == v, the others parked) still reads the
     * line: it ends at its next exit, unless the stepped instruction
     * faulted into a handler that waits on a stopped vCPU. The client's
     * 0x03, a new client or a hang-up then ends it where it is. */
    bool stepping = c->owner == v;
    bool look = __atomic_exchange_n(&cv->look_now, false, __ATOMIC_SEQ_CST);
    if (why == POLL_EXIT && !look && (++c->poll_tick & (v->vm->info->ctrl_poll - 1)))
        return;
    uint64_t now = vcpu_guest_tsc(v);
    if (!c->ch.ops->rx_ready(&c->ch) || !spin_trylock(&c->line)) {
        c->quiet_tsc = now;
        return;
    }
    /* Bounded: a client flooding the line cannot keep the VM stopped. */
    for (int i = 0; i < POLL_BYTES && c->ch.ops->getc(&c->ch, &b); i++) {
        switch (rsp_rx_byte(&c->rx, b)) {
        case RSP_EV_INTERRUPT:
            c->s.ctrlc_window = now - c->quiet_tsc;
            rsp_rx_init(&c->rx);
            spin_unlock(&c->line);
            if (stepping)
                ctrl_step_abandon(v);
            stop_and_serve(c, v, "T02");
            return;
        case RSP_EV_PACKET:
            /* A packet while the VM runs is a new client's (gdb's first
             * qSupported, say): an all-stop client sends only 0x03 while
             * the VM runs. If the one before vanished without a `D`, its
             * session ends here: the new one is acked and starts fresh. */
            if (c->session)
                end_session(c, "a new client: the previous one vanished while the VM ran");
            c->last_packet_tsc = 0; /* a first packet is a new client's */
            c->packet_waiting = true;
            spin_unlock(&c->line);
            if (take_session(c, v, line_busy)) {
                set_stop(c, v, "T05");
                serve(c, v, 0);
            }
            return;
        case RSP_EV_BAD:
            if (!c->s.noack)
                send_char(c, '-');
            break;
        default:
            break;
        }
    }
    bool gone = hung_up(c);
    spin_unlock(&c->line);
    if (gone) {
        drop_client(c, v);
        return;
    }
    /* Half a packet is here: the client is talking. Stop the VM and take
     * the rest at line speed rather than one poll at a time. */
    if (rsp_rx_busy(&c->rx)) {
        if (stepping)
            ctrl_step_abandon(v);
        if (take_session(c, v, line_busy)) {
            set_stop(c, v, "T05");
            serve(c, v, 0);
        }
        return;
    }
    c->quiet_tsc = now;
}

void ctrl_hook_first_entry(struct vcpu *v)
{
    struct ctrl *c = ctrl_of(v->vm);
    if (!v->vm->info->ctrl_wait)
        return;
    log_printf("vmm: ctrl_wait: the VM waits at its first instruction for a client\n");
    uint64_t saved = c->timeout_tsc;
    c->timeout_tsc = ~0ull;
    take_session(c, v, same_session);
    set_stop(c, v, "T05");
    serve(c, v, 0);
    c->timeout_tsc = saved;
}

static const struct vm_hooks ctrl_hooks = {
    .event = ctrl_hook_event,
    .poll = ctrl_hook_poll,
    .first_entry = ctrl_hook_first_entry,
    .intercepts = ctrl_hook_intercepts,
    .exception = ctrl_hook_exception,
    .swbreak = ctrl_hook_swbreak,
    .step_completed = ctrl_hook_step_completed,
};

static void *alloc(struct vm *vm, size_t bytes)
{
    void *p = (void *)palloc_pages(&vm->info->palloc, (bytes + 4095) / 4096);
    if (!p) {
        log_printf("vmm: FATAL: the VMM range is too small for the control stub\n");
        cpu_halt_forever();
    }
    return p;
}

/* The channel the boot options name: the network (ctrl=net:...), whose
 * NIC is then hidden from the VM, or a UART. A NIC that cannot be used is
 * logged and the channel falls back to the default UART, hidden then. */
static void open_channel(struct ctrl *c, struct vm *vm)
{
    struct boot_info *bi = vm->info;
    if (bi->net.on) {
        struct pci_hidden_fn h;
        uint64_t idle = bi->ctrl_timeout ? bi->ctrl_timeout : SESSION_TIMEOUT_S;
        if (!channel_net_open(&c->ch, &bi->net, &bi->palloc, vm->tsc_hz, idle, &h)) {
            pci_hide(vm, &h, "the VMM's control NIC");
            return;
        }
        log_printf("vmm: ctrl=net: no usable NIC: the control channel falls back to UART 0x%x\n",
                   DEFAULT_UART);
        bi->ctrl = (struct log_target){LOG_UART, DEFAULT_UART};
        vm_own_ports(vm, DEFAULT_UART, 8, hidden_io);
    }
    channel_uart_open(&c->ch, (uint16_t)bi->ctrl.port);
    log_printf("vmm: control UART 0x%x\n", bi->ctrl.port);
}

void control_init(struct vm *vm)
{
    struct ctrl *c = alloc(vm, sizeof(*c));
    c->vm = vm;
    c->s.t = &ctrl_target_ops;
    c->s.ctx = c;
    c->reply = (struct reply){alloc(vm, REPLY_SIZE), REPLY_SIZE, 0, alloc(vm, CONSOLE_SIZE),
                              CONSOLE_SIZE,          0,          0, false};
    /* Out of the image, whose hot part must stay in its first MiB: a VM
     * that turns A20 off (QEMU masks bit 20 of every access, the VMM's
     * too) would have the VMM's accesses past it land 1 MiB lower. */
    c->frame = alloc(vm, FRAME_SIZE);
    rsp_rx_init(&c->rx);
    open_channel(c, vm);
    c->s.pipeline = c->ch.ops->keeps_input;
    c->s.packet_size = c->ch.ops->keeps_input ? STUB_PACKET_SIZE : STUB_PACKET_SMALL;
    c->s.tsc_hz = vm->tsc_hz;
    c->timeout_tsc =
        c->s.tsc_hz * (vm->info->ctrl_timeout ? vm->info->ctrl_timeout : SESSION_TIMEOUT_S);
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct ctrl_vcpu *cv = alloc(vm, sizeof(*cv));
        cv->step_over_sw = -1;
        cv->step_int_dr = -1;
        vm->vcpus[i]->ctrl = cv;
    }
    vm->ctrl = c;
    vm->hooks = &ctrl_hooks;
    log_printf("vmm: control channel on %s, TSC %llu MHz\n", c->ch.ops->name,
               (unsigned long long)(c->s.tsc_hz / 1000000));
}
