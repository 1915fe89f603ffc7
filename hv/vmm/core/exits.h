/*
 * The neutral exit handlers. A backend's exit table turns each of its exit
 * codes into one of these calls; each returns 0 once the exit is dealt
 * with, which always means the vCPU ended in vcpu_complete() or
 * vcpu_fault() (or delivered an event), or -1 if the exit is one the VMM
 * cannot handle at all (core/run.c then applies the policy for it).
 */
#ifndef VMM_CORE_EXITS_H
#define VMM_CORE_EXITS_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/core/vm.h"

/* cr.c: a MOV to CR0/CR3/CR4, LMSW or CLTS at rip. */
int exit_cr_write(struct vcpu *v, unsigned cr);
/* cr.c: a MOV from CRn or SMSW a client filters. */
int exit_cr_read(struct vcpu *v, unsigned cr);
/* cpuid.c */
int exit_cpuid(struct vcpu *v);
/* msr.c: RDMSR / WRMSR of an intercepted MSR (ECX). */
int exit_msr(struct vcpu *v, bool write);
/* io.c: an intercepted IN/OUT of `size` bytes, `len` bytes long. */
int exit_io(struct vcpu *v, uint16_t port, unsigned size, bool in, bool string, unsigned len);
/* intn.c: INT n / INT3 / INTO at rip. */
int exit_intn(struct vcpu *v);
/* intn.c: an external interrupt, NMI or exception that a real-mode VM's
 * IVT must deliver, return address rip (SDM Vol.3A §20.1.4), for a
 * backend that traps INT n by the IVT's limit (vmx/: the event met it). */
int exit_real_event(struct vcpu *v, uint8_t vec);
/* excp.c: an intercepted exception (info2: the #PF address). */
int exit_exception(struct vcpu *v, unsigned vec, uint32_t err, uint64_t info2);
/* npf.c: a nested page fault at gpa. */
int exit_npf(struct vcpu *v, uint64_t gpa, bool write, bool present);
/* run.c: HLT, a physical interrupt, the VM's IRET after one, its
 * interrupt window, an NMI, a triple fault. */
int exit_hlt(struct vcpu *v);
int exit_intr(struct vcpu *v);
int exit_iret(struct vcpu *v);
int exit_vintr(struct vcpu *v);
int exit_nmi(struct vcpu *v);
int exit_shutdown(struct vcpu *v);
/* run.c: the backend's own periodic exit (the VMX-preemption timer), with
 * nothing for the VM in it: a tick for the control channel's poll. */
int exit_tick(struct vcpu *v);
/* excp.c: a virtualization instruction (VMRUN, VMMCALL, ...): #UD, as on
 * a CPU without that feature. */
int exit_virt_insn(struct vcpu *v);
/* excp.c: MOV to/from DRn, intercepted while the stub owns the DRs. */
int exit_dr_access(struct vcpu *v, bool write);

#endif
