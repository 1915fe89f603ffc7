/*
 * The control subsystem: a GDB remote-protocol stub on a UART the VMM owns
 * (DESIGN §5, docs/protocol.md). Three layers: framing (lib/rsp.c), a
 * command table (gdb_cmds.c, rfx_ext.c, monitor.c), and the target, which
 * is the vcpu and its vm_ops.
 *
 * The exit handlers call in at three kinds of points:
 *  - control_poll() in post: a client may be knocking, or an event waits;
 *  - control_note_*(): something happened that a client may filter on;
 *  - control_exception(), control_swint(), control_dr_access(): exits the
 *    stub itself asked for (breakpoints, single-step, debug registers).
 */
#ifndef VMM_CONTROL_CONTROL_H
#define VMM_CONTROL_CONTROL_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/core/vcpu.h"

enum control_poll_reason {
    CONTROL_POLL_EXIT, /* any exit: polled on a fraction of them */
    CONTROL_POLL_CR3,  /* every CR3 write */
    CONTROL_POLL_HLT,  /* every HLT */
    CONTROL_POLL_TICK, /* a physical interrupt: the periodic source */
};

void control_init(struct vcpu *v);
/* Serves the client if one is knocking or an event is pending: the VM
 * stays stopped until a packet resumes it. */
void control_poll(struct vcpu *v, enum control_poll_reason why);
/* Before the VM's first instruction: with ctrl_wait=1 on the boot command
 * line, wait (without timeout) for a client to attach and resume. */
void control_first_entry(struct vcpu *v);
/* Writes the exit summary to the log (periodically, and before a halt). */
void control_log_summary(struct vcpu *v);

/* Events a client can filter on. Each records a stop if its filter is on. */
void control_note_cr_write(struct vcpu *v, unsigned cr, uint64_t old, uint64_t val);
void control_note_cr_read(struct vcpu *v, unsigned cr);
void control_note_cpuid(struct vcpu *v, uint32_t leaf, uint32_t sub);
void control_note_msr(struct vcpu *v, uint32_t msr, bool write, uint64_t val);
void control_note_io(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t val);
void control_note_intn(struct vcpu *v, uint8_t vec);
void control_note_npf(struct vcpu *v, uint64_t gpa, bool write);
void control_note_reset(struct vcpu *v, const char *how);
/* True if the client filters this I/O port or MSR (so exits reach us). */
bool control_filters_io(uint16_t port);
bool control_filters_msr(uint32_t msr);

/* An intercepted exception. Returns 0 when handled: either a stop for the
 * client, or the exception goes back to the VM. */
int control_exception(struct vcpu *v, unsigned vec, uint32_t err, uint64_t info2);
/* INT n / INT3 outside real mode (intercepted for breakpoints and steps).
 * Returns 0 when handled. */
int control_swint(struct vcpu *v);
/* MOV to/from DRn while the stub owns the debug registers. Returns 0 / -1. */
int control_dr_access(struct vcpu *v, bool write);
/* Whether the VM must keep INT n intercepted outside real mode. */
bool control_wants_intn(void);

#endif
