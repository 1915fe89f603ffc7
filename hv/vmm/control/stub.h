/*
 * The GDB stub, in three layers that can each be tested alone:
 *
 *   framing   lib/rsp.c: bytes <-> packets (host-tested)
 *   commands  commands.c, rfx.c, monitor.c, regs.c, reply.c: a packet and
 *             the session state in, reply bytes out, the machine reached
 *             only through struct stub_target_ops. They build on the host
 *             too (hv/tests/test_gdb_cmds.c drives them on a fake target).
 *   target    target.c, breakpoints.c: the ops over the VM's vCPUs; and
 *             session.c: the UART, the poll, the all-stop session loop.
 *
 * This header is the commands' whole world: it includes nothing of the
 * VMM's core.
 */
#ifndef VMM_CONTROL_STUB_H
#define VMM_CONTROL_STUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/rsp.h"

#define STUB_PACKET_SIZE   RSP_MAX_PACKET /* the buffers: 128 KiB replies */
#define STUB_PACKET_SMALL  0x4000         /* PacketSize on a UART (stub.packet_size) */
#define STUB_EVENT_MAX     200
#define STUB_CPUID_FILTERS 16
#define STUB_MSR_FILTERS   16
#define STUB_IO_FILTERS    16

/* What a packet asks the session to do next. */
enum stub_action {
    STUB_STAY,   /* the VM stays stopped; the next packet is awaited */
    STUB_RESUME, /* every vCPU runs */
    STUB_STEP,   /* stub.step_thread runs one instruction; the others stay */
    STUB_DETACH, /* the client leaves: its breakpoints and filters go, the VM runs */
};

/* The filters a client set: each filtered exit stops the VM. */
struct filters {
    uint16_t cr_write, cr_read; /* bit per CR */
    uint32_t excp;              /* bit per vector */
    bool cpuid_all;
    uint32_t cpuid[STUB_CPUID_FILTERS];
    unsigned ncpuid;
    uint32_t msr[STUB_MSR_FILTERS];
    unsigned nmsr;
    uint16_t io[STUB_IO_FILTERS];
    unsigned nio;
    uint8_t intn[32]; /* bit per vector */
    bool npf;
    bool reset;
};

/* A reply being built: the packet, and console text sent before it as
 * 'O' packets (gdb prints them). */
struct reply {
    char *buf;
    size_t cap, len;
    char *console;
    size_t console_cap, console_len;
    uint64_t stream; /* bytes of zeros to send as console output first */
    bool overflow;
};

void reply_reset(struct reply *r);
void reply_str(struct reply *r, const char *s);
void reply_bytes(struct reply *r, const void *p, size_t n);
/* Room for n more bytes at the reply's end, filled by the caller, who
 * then adds n to len; 0 (an overflow) if they do not fit. */
uint8_t *reply_space(struct reply *r, size_t n);
void reply_hex(struct reply *r, const uint8_t *p, size_t n);
void reply_fmt(struct reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void reply_error(struct reply *r, unsigned code);
void console_fmt(struct reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void console_bytes(struct reply *r, const char *p, size_t n);

/* Text the target gives about the machine (stub_target_ops.text). */
enum stub_text {
    STUB_TEXT_EXITS,  /* exit counters, the VMM range, each vCPU's mode */
    STUB_TEXT_DUMP,   /* the thread's hardware state (the VMCB on AMD) */
    STUB_TEXT_NPT,    /* nested paging: on or off, its root and layout */
    STUB_TEXT_THREAD, /* one line about the thread: "CPU 1: long mode, ring 3, cr3 0x..." */
};

enum stub_lbr { STUB_LBR_ON, STUB_LBR_OFF, STUB_LBR_READ };

struct stub_status {
    const char *mode;
    uint64_t exits, cr3, rip;
    unsigned cpl;
    bool stepping;
    const char *backend; /* the virtualization backend: "svm", "vmx" */
};

/* The machine as the commands see it. Threads are vCPUs, numbered from 0
 * (gdb's thread id is that number + 1). */
struct stub_target_ops {
    unsigned (*nthreads)(void *ctx);
    /* Register n of thread t (regs.c numbers them): its size in bytes, 0
     * for no such register. */
    unsigned (*reg_read)(void *ctx, unsigned t, unsigned n, uint8_t *out);
    /* Returns 0, or -1 if the CPU would refuse the value. */
    int (*reg_write)(void *ctx, unsigned t, unsigned n, const uint8_t *in);
    /* Memory of thread t: physical, or virtual through cr3 (0: the
     * thread's own; with paging off, virtual is physical). Return the
     * bytes done, short at the first page that is not there. */
    size_t (*mem_read)(void *ctx, unsigned t, bool phys, uint64_t cr3, uint64_t addr, uint8_t *buf,
                       size_t len);
    size_t (*mem_write)(void *ctx, unsigned t, bool phys, uint64_t cr3, uint64_t addr,
                        const uint8_t *buf, size_t len);
    /* Translates va (paging off: pa = va). Returns 0 / -1. */
    int (*v2p)(void *ctx, unsigned t, uint64_t cr3, uint64_t va, uint64_t *pa);
    /* Nested paging: gpa's host address. Returns 0 / -1 (not mapped). */
    int (*g2h)(void *ctx, uint64_t gpa, uint64_t *hpa, uint64_t *leaf, unsigned *shift);
    /* Z/z types 0-4. Return 0 / -1. */
    int (*bp_insert)(void *ctx, unsigned type, uint64_t addr, unsigned len);
    int (*bp_remove)(void *ctx, unsigned type, uint64_t addr, unsigned len);
    /* 0 if the VMM can stop on everything want filters, else what it
     * cannot (the QRfx.Filter reply's E.text). */
    const char *(*filters_unsupported)(void *ctx, const struct filters *want);
    /* The filters changed: the intercepts follow (old: before the change). */
    void (*filters_changed)(void *ctx, const struct filters *old);
    /* Returns 0, or -1 if the CPU has no LBR virtualization. */
    int (*lbr)(void *ctx, unsigned t, enum stub_lbr op, uint64_t out[4]);
    /* Writes text about the machine; returns its length. arg: a GPA for
     * STUB_TEXT_NPT (~0 for the summary). */
    unsigned long (*text)(void *ctx, unsigned t, enum stub_text what, uint64_t arg, char *buf,
                          unsigned long size);
    void (*status)(void *ctx, unsigned t, struct stub_status *out);
};

struct stub {
    const struct stub_target_ops *t;
    void *ctx;

    /* protocol */
    bool noack;
    /* the channel keeps what the client sends meanwhile (qSupported rfx.pipeline+) */
    bool pipeline;
    /* The PacketSize advertised and the most a reply carries, at most
     * STUB_PACKET_SIZE (0: that): 128 KiB on the network, 16 KiB on a
     * UART, where a 128 KiB reply takes 11 s at 115200 baud. */
    size_t packet_size;
    bool mem_phys;       /* memory packets address physical memory */
    uint64_t active_cr3; /* 0: each thread's own cr3 */
    bool active_cr3_keep;
    struct filters f;
    bool lbr_on;

    /* threads: the one that stopped, the ones Hg and Hc chose (0-based) */
    unsigned stopped_thread;
    unsigned gthread, cthread;
    unsigned step_thread; /* for STUB_STEP */

    /* step modes (QRfx.Step) */
    bool step_cr3_mode;
    uint64_t step_cr3;

    /* the stop being reported, and the last one (for `?`) */
    char last_stop[STUB_EVENT_MAX];

    /* Ctrl-C latency in guest time (session.c): the guest-TSC window in
     * which the last 0x03 arrived, and the TSC rate. */
    uint64_t ctrlc_window;
    uint64_t tsc_hz;
};

static inline size_t stub_packet_size(const struct stub *s)
{
    return s->packet_size && s->packet_size < STUB_PACKET_SIZE ? s->packet_size : STUB_PACKET_SIZE;
}

/* commands.c: dispatches one packet (NUL-terminated at pkt[len]). */
enum stub_action stub_dispatch(struct stub *s, struct reply *r, char *pkt, size_t len);
/* The state a new client or a detach starts from (filters cleared by the
 * caller through the target). */
void stub_session_reset(struct stub *s);

/* rfx.c: qRfx.* and QRfx.* */
enum stub_action stub_rfx_query(struct stub *s, struct reply *r, char *p, size_t n);
enum stub_action stub_rfx_set(struct stub *s, struct reply *r, char *p, size_t n);
/* Clears every filter (detach). */
void stub_filters_clear(struct stub *s);

/* lldb.c: lldb's qHostInfo, qProcessInfo, qRegisterInfoN */
enum stub_action stub_lldb_host_info(struct stub *s, struct reply *r, char *p, size_t n);
enum stub_action stub_lldb_process_info(struct stub *s, struct reply *r, char *p, size_t n);
enum stub_action stub_lldb_shlib_info_addr(struct stub *s, struct reply *r, char *p, size_t n);
enum stub_action stub_lldb_register_info(struct stub *s, struct reply *r, char *p, size_t n);

/* monitor.c: `monitor ...` (qRcmd) */
void stub_monitor(struct stub *s, struct reply *r, char *cmd, size_t len);

/* regs.c: the register layout and target.xml */
unsigned stub_reg_count(void);
unsigned stub_reg_size(unsigned n);
const char *stub_reg_name(unsigned n);
bool stub_reg_is_system(unsigned n);
int stub_reg_by_name(const char *name, size_t len);
/* The read-only "system" register: its number and size in bytes. */
unsigned stub_reg_summary(void);
unsigned stub_reg_summary_size(void);
const char *stub_target_xml(unsigned long *len);

/* parsing helpers (commands.c) */
/* Parses up to 16 hex digits; returns the characters used (0 if none). */
size_t stub_parse_hex(const char *s, size_t n, uint64_t *out);
/* Parses comma-separated hex numbers; returns how many (up to max). */
unsigned stub_parse_list(const char *p, size_t n, uint64_t *out, unsigned max);
/* True if p starts with name; *rest is the length of name. */
bool stub_is(const char *p, size_t n, const char *name, size_t *rest);
/* Reads register n of thread t as a number (at most 64 bits of it). */
uint64_t stub_reg_value(struct stub *s, unsigned t, unsigned n);

#endif
