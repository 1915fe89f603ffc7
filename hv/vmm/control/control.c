/*
 * The control channel's transport and session loop.
 *
 * While the VM runs, the VMM looks at the UART at the poll points (see
 * control.h); that costs one status-register read. A byte starts a
 * session: Ctrl-C (0x03) or any packet stops the VM, and the VMM serves
 * packets until one resumes it. An event recorded by an exit handler
 * (breakpoint, step, filtered exit) is reported the same way. A client that
 * goes silent while the VM is stopped is dropped after a timeout: its
 * breakpoints and filters are removed and the VM runs again.
 */
#include <stdarg.h>

#include "common/cpu.h"
#include "common/log.h"
#include "common/uart.h"
#include "lib/fmt.h"
#include "lib/mem.h"
#include "vmm/control/stub.h"

#define ACK_TIMEOUT_MS    500
#define SESSION_TIMEOUT_S 10 /* default of ctrl_timeout= */
#define SUMMARY_MAX       8192
#define O_CHUNK           512

struct stub stub;
static uint64_t poll_tick;
static uint8_t frame[2 * STUB_PACKET_SIZE + 16];
static char summary_buf[SUMMARY_MAX];

/* TSC ticks per second, measured against PIT channel 2 (10 ms one-shot,
 * mode 0) before the VM owns the PIT: Intel 8254 data sheet; the gate and
 * OUT2 are bits 0 and 5 of port 61h. */
static uint64_t tsc_calibrate(void)
{
    uint8_t p61 = inb(0x61);
    outb(0x61, (uint8_t)((p61 & ~0x02) | 0x01));
    outb(0x43, 0xb0);
    outb(0x42, 11932 & 0xff); /* 1193182 Hz / 100 */
    outb(0x42, 11932 >> 8);
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < 100000000u && !(inb(0x61) & 0x20); i++)
        ;
    uint64_t t1 = rdtsc();
    outb(0x61, p61);
    uint64_t hz = (t1 - t0) * 100;
    return hz ? hz : 1000000000ull;
}

void control_init(struct vcpu *v)
{
    lib_memset(&stub, 0, sizeof(stub));
    rsp_rx_init(&stub.rx);
    stub.port = (uint16_t)v->info->ctrl.port;
    stub.step_over_sw = -1;
    stub.step_int_dr = -1;
    uart_init(stub.port);
    stub.tsc_hz = tsc_calibrate();
    stub.timeout_tsc =
        stub.tsc_hz * (v->info->ctrl_timeout ? v->info->ctrl_timeout : SESSION_TIMEOUT_S);
    stub_sync_intercepts(v); /* the policy's exception intercepts, with none of the stub's */
    log_printf("vmm: control channel on UART 0x%x, TSC %llu MHz\n", stub.port,
               (unsigned long long)(stub.tsc_hz / 1000000));
}

/* Returns the next byte, or -1 after `ticks` TSC ticks of silence. */
static int recv_byte(uint64_t ticks)
{
    uint8_t c;
    uint64_t start = rdtsc();
    do {
        if (uart_getc(stub.port, &c))
            return c;
    } while (rdtsc() - start < ticks);
    return -1;
}

static void send_raw(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        uart_putc(stub.port, (char)p[i]);
}

/*
 * Sends one packet and, in ack mode, waits for its '+'. A '-' resends it
 * (three times at most). The line is reliable (TCP in the lab), so silence
 * is not a reason to resend: after ACK_TIMEOUT_MS we go on. Any other byte
 * is the client talking already: it goes to the framer, and a packet it
 * completes is served next.
 */
void stub_send(const void *data, size_t len)
{
    size_t n = rsp_frame(frame, sizeof(frame), data, len);
    for (int tries = 0; tries < 3; tries++) {
        send_raw(frame, n);
        if (stub.noack)
            return;
        int c = recv_byte(stub.tsc_hz / 1000 * ACK_TIMEOUT_MS);
        if (c == '-')
            continue;
        if (c >= 0 && c != '+' && rsp_rx_byte(&stub.rx, (uint8_t)c) == RSP_EV_PACKET)
            stub.packet_waiting = true;
        return;
    }
}

void stub_send_str(const char *s) { stub_send(s, lib_strlen(s)); }

void stub_send_error(unsigned code)
{
    char e[4] = {'E', "0123456789abcdef"[(code >> 4) & 15], "0123456789abcdef"[code & 15], 0};
    stub_send_str(e);
}

/* Text to the client's console, as hex 'O' packets (gdb prints them). */
void stub_send_console(const char *text, size_t len)
{
    static char pkt[1 + O_CHUNK];
    for (size_t off = 0; off < len; off += O_CHUNK / 2) {
        size_t chunk = len - off < O_CHUNK / 2 ? len - off : O_CHUNK / 2;
        pkt[0] = 'O';
        size_t n = hex_encode(pkt + 1, sizeof(pkt) - 1, (const uint8_t *)text + off, chunk);
        stub_send(pkt, n + 1);
    }
}

void stub_event(const char *fmt, ...)
{
    va_list ap;
    if (stub.event_pending)
        return; /* the first event of an exit is the one reported */
    va_start(ap, fmt);
    fmt_vsnprintf(stub.event, sizeof(stub.event), fmt, ap);
    va_end(ap);
    stub.event_pending = true;
}

static void detach(struct vcpu *v, const char *why)
{
    rsp_rx_init(&stub.rx); /* half a packet from a vanished client must not restart a session */
    stub_bp_clear_all(v);
    stub_filters_clear(v);
    stub.mem_phys = false;
    if (!stub.active_cr3_keep)
        stub.active_cr3 = 0;
    stub.noack = false;
    stub.session = false;
    stub.event_pending = false;
    stub_sync_intercepts(v);
    log_printf("vmm: control: client detached (%s)\n", why);
}

/*
 * The stopped VM: serve packets until one resumes it. Returns when the VM
 * must run again.
 */
static void serve(struct vcpu *v, bool have_packet)
{
    stub_fpu_load();
    for (;;) {
        if (stub.packet_waiting) {
            stub.packet_waiting = false;
            have_packet = true;
        }
        if (!have_packet) {
            int c = recv_byte(stub.timeout_tsc);
            if (c < 0) {
                detach(v, "timeout: no packet while the VM was stopped");
                break;
            }
            enum rsp_event ev = rsp_rx_byte(&stub.rx, (uint8_t)c);
            if (ev == RSP_EV_BAD && !stub.noack)
                uart_putc(stub.port, '-');
            if (ev != RSP_EV_PACKET)
                continue;
        }
        have_packet = false;
        if (!stub.noack)
            uart_putc(stub.port, '+');
        stub.session = true;
        stub.rx.buf[stub.rx.len] = 0; /* handlers may look one byte past the end */
        enum stub_action a = stub_dispatch(v, (char *)stub.rx.buf, stub.rx.len);
        if (a == STUB_STAY)
            continue;
        if (a == STUB_DETACH) {
            detach(v, "detach packet");
            break;
        }
        stub_prepare_resume(v, a == STUB_STEP);
        break;
    }
    stub_fpu_commit();
    stub.quiet_tsc = v->ops->guest_tsc(v); /* a stop takes no guest time */
}

static void report_stop(const char *reply)
{
    lib_memcpy(stub.last_stop, reply, lib_strlen(reply) + 1);
    stub_send_str(reply);
}

void control_poll(struct vcpu *v, enum control_poll_reason why)
{
    uint8_t c;

    if (stub.event_pending) {
        stub.event_pending = false;
        report_stop(stub.event);
        serve(v, false);
        return;
    }
    if (why == CONTROL_POLL_EXIT && (++poll_tick & (v->info->ctrl_poll - 1)))
        return;
    uint64_t now = v->ops->guest_tsc(v);
    /* Bounded: a client flooding the line cannot keep the VM stopped. */
    for (int i = 0; i < 2 * RSP_MAX_PACKET && uart_getc(stub.port, &c); i++) {
        switch (rsp_rx_byte(&stub.rx, c)) {
        case RSP_EV_INTERRUPT:
            stub.ctrlc_window = now - stub.quiet_tsc;
            rsp_rx_init(&stub.rx);
            report_stop("T02");
            serve(v, false);
            return;
        case RSP_EV_PACKET:
            /* A packet while running (gdb's first qSupported, say): stop and serve. */
            lib_memcpy(stub.last_stop, "T05", 4);
            serve(v, true);
            return;
        case RSP_EV_BAD:
            if (!stub.noack)
                uart_putc(stub.port, '-');
            break;
        default:
            break;
        }
    }
    /* Half a packet is here: the client is talking. Stop the VM and take
     * the rest at line speed rather than one poll at a time. */
    if (rsp_rx_busy(&stub.rx)) {
        lib_memcpy(stub.last_stop, "T05", 4);
        serve(v, false);
        return;
    }
    stub.quiet_tsc = now;
}

void control_first_entry(struct vcpu *v)
{
    if (!v->info->ctrl_wait)
        return;
    log_printf("vmm: ctrl_wait: the VM waits at its first instruction for a client\n");
    uint64_t saved = stub.timeout_tsc;
    stub.timeout_tsc = ~0ull;
    lib_memcpy(stub.last_stop, "T05", 4);
    serve(v, false);
    stub.timeout_tsc = saved;
}

void control_log_summary(struct vcpu *v)
{
    unsigned long n = v->ops->summary(v, summary_buf, sizeof(summary_buf));
    log_write(summary_buf, n);
}

/* --- events a client may filter on --- */

#define X(v) ((unsigned long long)(v))

void control_note_cr_write(struct vcpu *v, unsigned cr, uint64_t old, uint64_t val)
{
    if (cr == 3)
        stub_step_cr3_written(v, val);
    if (stub.f.cr_write & (1u << cr))
        stub_event("T05rfx:cr_write,cr=%x,val=%llx,old=%llx;", cr, X(val), X(old));
}

void control_note_cr_read(struct vcpu *v, unsigned cr)
{
    if (stub.f.cr_read & (1u << cr))
        stub_event("T05rfx:cr_read,cr=%x;", cr);
}

void control_note_cpuid(struct vcpu *v, uint32_t leaf, uint32_t sub)
{
    bool hit = stub.f.cpuid_all;
    for (unsigned i = 0; i < stub.f.ncpuid && !hit; i++)
        hit = stub.f.cpuid[i] == leaf;
    if (hit)
        stub_event("T05rfx:cpuid,leaf=%x,sub=%x;", leaf, sub);
}

bool control_filters_msr(uint32_t msr)
{
    for (unsigned i = 0; i < stub.f.nmsr; i++)
        if (stub.f.msr[i] == msr)
            return true;
    return false;
}

void control_note_msr(struct vcpu *v, uint32_t msr, bool write, uint64_t val)
{
    if (control_filters_msr(msr))
        stub_event("T05rfx:msr,msr=%x,dir=%c,val=%llx;", msr, write ? 'w' : 'r', X(val));
}

bool control_filters_io(uint16_t port)
{
    for (unsigned i = 0; i < stub.f.nio; i++)
        if (stub.f.io[i] == port)
            return true;
    return false;
}

void control_note_io(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t val)
{
    if (control_filters_io(port))
        stub_event("T05rfx:io,port=%x,size=%x,dir=%s,val=%x;", port, size, in ? "in" : "out", val);
}

/* Called at the INT, before it runs: AX is the caller's (the BIOS function),
 * `at` the INT's linear address (real mode: CS.base + IP). */
void control_note_intn(struct vcpu *v, uint8_t vec)
{
    if (!(stub.f.intn[vec / 8] & (1u << (vec % 8))))
        return;
    struct seg_state cs;
    v->ops->get_seg(v, SEG_CS, &cs);
    stub_event("T05rfx:intn,vec=%x,ax=%x,at=%llx;", vec, (unsigned)(v->gpr[GPR_RAX] & 0xffff),
               X(cs.base + (v->ops->get_rip(v) & 0xffff)));
}

void control_note_npf(struct vcpu *v, uint64_t gpa, bool write)
{
    if (stub.f.npf)
        stub_event("T05rfx:npf,gpa=%llx,dir=%c;", X(gpa), write ? 'w' : 'r');
}

void control_note_reset(struct vcpu *v, const char *how)
{
    if (stub.f.reset)
        stub_event("T05rfx:reset,how=%s;", how);
}
