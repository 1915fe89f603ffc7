/*
 * The VMM side of the stub (target.c, breakpoints.c, events.c,
 * session.c): the session over the machine, and each vCPU's debug state.
 * The commands (stub.h) never see these.
 */
#ifndef VMM_CONTROL_CTRL_H
#define VMM_CONTROL_CTRL_H

#include "lib/rsp.h"
#include "vmm/control/channel.h"
#include "vmm/control/stub.h"
#include "vmm/core/hooks.h"
#include "vmm/core/vm.h"

#define CTRL_SWBP_MAX 64

struct swbp {
    bool used;
    uint64_t addr; /* linear, as the client gave it */
    uint64_t pa;   /* where the int3 byte went */
    uint8_t saved;
};

struct hwbp {
    bool used;
    uint8_t type; /* Z type: 1 exec, 2 write, 3 read, 4 access */
    uint8_t len;
    uint64_t addr;
};

/* One vCPU's debug state. */
struct ctrl_vcpu {
    /* a stop this vCPU has to report (the first event of an exit wins) */
    bool event_pending;
    char event[STUB_EVENT_MAX];
    /* single-step */
    volatile bool stepping;
    bool look_now;       /* the step watchdog kicked it: read the line at this exit */
    bool guest_tf;       /* TF as the VM set it */
    uint8_t step_opcode; /* 0x9c pushf, 0x9d popf, 0xcf iret, 0 other */
    uint8_t step_opsize;
    int step_over_sw;      /* the sw breakpoint being stepped over, or -1 */
    bool step_over_resume; /* ...then continue rather than stop */
    int step_int_dr;       /* the DR stepping over INT n / SYSCALL, or -1 */
    uint64_t step_la;      /* where the step began (linear), and in which */
    uint64_t step_cr3;     /* address space */
    uint32_t dr_gen;       /* the session's dr_gen its debug registers follow */
    /* all-stop: this vCPU waits in the VMM while another serves */
    volatile bool parked;
    bool halted_at_stop; /* ...or stayed halted in the VM since the stop began */
    uint64_t park_from;  /* when it parked, or the stop it has hidden up to */
    /* its x87/SSE state and DR0-DR3 (which live in its core), saved while
     * the VM is stopped: the register view reads and writes these */
    uint8_t fxarea[512] __attribute__((aligned(16)));
    bool fx_dirty;
    uint64_t dr[4];
    bool dr_dirty;
};

/* The session over the machine. All-stop, as gdb expects: one vCPU at a
 * time owns the session -- it stopped the others and serves the client --
 * and while it steps, it alone runs. */
struct ctrl {
    struct stub s; /* what the commands see: first, so ctx casts */
    struct vm *vm;
    struct spinlock lock;        /* ownership changes */
    struct spinlock line;        /* one vCPU reads the channel at a time */
    struct vcpu *volatile owner; /* the vCPU serving (or stepping), 0 when all run */
    /* transport */
    struct channel ch;
    bool hangup; /* the client closed its connection */
    struct rsp_rx rx;
    bool packet_waiting;      /* rx holds a packet that arrived while we sent */
    bool session;             /* a client has talked to us since the last detach */
    uint32_t ended;           /* sessions ended so far (take_session() compares) */
    bool noack_ack_due;       /* the client still owes the ack of QStartNoAckMode's OK */
    uint64_t timeout_tsc;     /* client silence that ends a stopped session */
    uint64_t quiet_tsc;       /* the VM's TSC at the last poll that found the line quiet */
    uint64_t last_packet_tsc; /* host TSC when the last packet came in */
    uint64_t poll_tick;
    /* breakpoints: machine-wide */
    struct swbp sw[CTRL_SWBP_MAX];
    unsigned nsw;
    uint32_t dr_gen; /* bumped when breakpoints, steps or filters change */
    /* The window a stop takes off each vCPU's TSC: the same for all, so
     * they stay in step. It opens when every vCPU is at rest (wait_others):
     * one kicked out of the VM ran guest code until then, and the owner's
     * time before it is its exit's, as any exit's. It closes at the
     * release. */
    uint64_t rest_tsc;
    bool rest_noted; /* rest_tsc is this stop's (else: when it began) */
    uint64_t release_tsc;
    uint64_t serve_end; /* when the owner's last serve ended */
    struct hwbp hw[4];
    /* QRfx.Step:cr3: the step waits for a vCPU to switch to the process */
    volatile bool cr3_wait;
    /* A step abandoned after its instruction faulted: the fault's frame
     * holds our TF, and the #DB it owes when the instruction completes
     * (on whichever vCPU runs that code then) is ours to take. */
    volatile bool stray_tf;
    uint64_t stray_cr3;
    /* buffers */
    struct reply reply;
    uint8_t *frame; /* a packet as it goes out, framed */
};

static inline struct ctrl *ctrl_of(struct vm *vm) { return (struct ctrl *)vm->ctrl; }
static inline struct ctrl_vcpu *cv_of(struct vcpu *v) { return (struct ctrl_vcpu *)v->ctrl; }

extern const struct stub_target_ops ctrl_target_ops;

/* events.c: records a stop for v with its T-packet text (the poll after
 * this exit reports it). */
void ctrl_event(struct vcpu *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctrl_hook_event(struct vcpu *v, const struct vm_event *e);
void ctrl_hook_intercepts(struct vcpu *v, struct intercepts *want);
/* The filters changed (target op). */
const char *ctrl_filters_unsupported(void *ctx, const struct filters *want);
void ctrl_filters_changed(void *ctx, const struct filters *old);

/* breakpoints.c */
int ctrl_bp_insert(void *ctx, unsigned type, uint64_t addr, unsigned len);
int ctrl_bp_remove(void *ctx, unsigned type, uint64_t addr, unsigned len);
void ctrl_bp_clear_all(struct ctrl *c);
/* Before v resumes: steps over a breakpoint under rip, arms TF. */
void ctrl_prepare_resume(struct vcpu *v, bool step);
/* v's step, if one is under way, ends where it is: TF back to the VM's,
 * the int3 it stepped over back in place, its exec breakpoint gone (from
 * the DRs at v's next resume: this may run on another core). */
void ctrl_step_abandon(struct vcpu *v);
/* Programs v's debug registers if the session's breakpoints changed since
 * it last did (on v's core, before it runs the VM). */
void ctrl_dr_sync(struct vcpu *v);
/* Runs the instruction under the int3 v continues from (saved: its first
 * byte) when it can be without a step (stepover.c). Returns true if done:
 * v is then past it, or its fault is queued. */
bool ctrl_stepover_emulate(struct vcpu *v, uint8_t saved);
/* The hooks: the stub's own exceptions, INT3 breakpoints, steps. */
bool ctrl_hook_exception(struct vcpu *v, unsigned vec, uint32_t err, uint64_t info2);
bool ctrl_hook_swbreak(struct vcpu *v);
bool ctrl_hook_step_completed(struct vcpu *v);
/* A CR3 write while stepping one process (QRfx.Step:cr3). */
void ctrl_step_cr3_written(struct vcpu *v, uint64_t cr3);
/* The VM's own TF, as the register view shows it. */
bool ctrl_hides_tf(struct vcpu *v);

/* target.c: v's x87/SSE state and DR0-DR3, saved / written back around a
 * stop, on v's own core. */
void ctrl_hw_save(struct vcpu *v);
void ctrl_hw_restore(struct vcpu *v);
/* session.c: the step over a breakpoint ended: every vCPU may run. */
void ctrl_release(struct ctrl *c);
/* While the VM is stopped: u (another vCPU than the owner) is parked, its
 * state in memory for the register view (session.c). */
void ctrl_settle(struct ctrl *c, struct vcpu *u);

/* session.c: the hooks poll and first_entry. */
void ctrl_hook_poll(struct vcpu *v, enum poll_reason why);
void ctrl_hook_first_entry(struct vcpu *v);

#endif
