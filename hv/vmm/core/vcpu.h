/*
 * What core/ does to a vCPU: its modes, and the two ways every exit
 * handler ends.
 *
 *  - vcpu_complete(): the VMM did the instruction for the VM. RIP moves
 *    past it, RF clears, the interrupt shadow ends, and a TF the VM set
 *    raises the single-step #DB after it, as the CPU's own execution would.
 *  - vcpu_fault(): the instruction faults. RIP stays at it, nothing of it
 *    happened, and the exception is queued with the CPU's rules for an
 *    event that meets another one (benign, contributory, page fault:
 *    APM Vol.2 §8.2.9, SDM Vol.3A §6.15 "Double Fault Exception").
 */
#ifndef VMM_CORE_VCPU_H
#define VMM_CORE_VCPU_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/core/vm.h"

/* Code size of the instruction at rip: 16, 32 or 64 bits (APM Vol.2 §1.2). */
unsigned vcpu_code_bits(struct vcpu *v);
/* The CPU mode as a short name ("real", "v86", "prot16", "prot32",
 * "compat16", "compat32", "long"). */
const char *vcpu_mode_name(struct vcpu *v);
/* CS.base + rip, truncated as the code size does. */
uint64_t vcpu_linear_rip(struct vcpu *v);

/* The VMM completed the instruction of `len` bytes at rip for the VM. */
void vcpu_complete(struct vcpu *v, unsigned len);
/* The same, for an instruction after which the CPU raises no single-step
 * trap: one that loads TF itself (an emulated INT 15h service returns with
 * the caller's flags, as its IRET would). */
void vcpu_complete_no_trap(struct vcpu *v, unsigned len);
/* The instruction at rip faults with vector vec (err is used if the
 * vector pushes one in protected mode). */
void vcpu_fault(struct vcpu *v, unsigned vec, uint32_t err);
static inline void vcpu_gp(struct vcpu *v) { vcpu_fault(v, 13, 0); }
static inline void vcpu_ud(struct vcpu *v) { vcpu_fault(v, 6, 0); }
/* #PF at linear address la with error code err: CR2 is written when the
 * fault is delivered, as the CPU does. */
void vcpu_page_fault(struct vcpu *v, uint64_t la, uint32_t err);

/* An event whose delivery an exit interrupted: it is delivered again at
 * the next entry unless a new exception combines with it (backends call
 * this from their exit_int_info / IDT-vectoring information). */
void vcpu_redeliver(struct vcpu *v, const struct x86_event *ev);
/* Queues an event as it stands (no combining): software interrupts and
 * the VM's own NMIs. */
void vcpu_queue_event(struct vcpu *v, const struct x86_event *ev);
/* An NMI of the VM's own, for it at its next entry (or after the event
 * waiting). */
void vcpu_give_nmi(struct vcpu *v);

/* The VMM could not do what the exit asks (an instruction it cannot
 * decode or emulate): logged with the state dump, reported to a client,
 * and the VM gets #UD, as from an instruction its CPU does not have. */
void vcpu_cannot_emulate(struct vcpu *v, const char *what);

/* The VM's intercepts must be computed again before the next entry
 * (core/intercepts.h). */
static inline void vcpu_intercepts_changed(struct vcpu *v) { v->intercepts_dirty = true; }

/* Writes the backend's state dump (the VMCB on AMD) to the log. */
void vcpu_log_dump(struct vcpu *v);
/* The per-exit-reason counters of every vCPU as text. */
unsigned long vm_summary(struct vm *vm, char *buf, unsigned long size);
/* Writes the summary to the log. */
void vm_log_summary(struct vm *vm);

/* core/run.c: runs the vCPU forever. */
void vcpu_run(struct vcpu *v) __attribute__((noreturn));
/* The VM's TSC when it last exited (the VMM's own time is not in it). */
uint64_t vcpu_guest_tsc(struct vcpu *v);
/* core/tsc.c: measures vm->tsc_hz. */
void vm_calibrate_tsc(struct vm *vm);

#endif
