/*
 * Vendor-neutral handling of the events the VMM intercepts. Each function
 * returns 0 when the event is fully handled (including any exception it
 * injected), or -1 when it cannot be handled -- the caller then dumps the
 * state and stops: nothing resumes silently.
 */
#ifndef VMM_CORE_POLICY_H
#define VMM_CORE_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/core/vcpu.h"

/* cr.c: a MOV to CR0/CR3/CR4 (or LMSW/CLTS) at the current rip. */
int cr_write_emulate(struct vcpu *v);
/* Applies a value the VM writes to CR n, with the CPU's checks. */
int cr_write(struct vcpu *v, unsigned n, uint64_t val);

/* cr.c: a MOV from CR0/2/3/4 the client asked to see. */
int cr_read_emulate(struct vcpu *v);

/* entry.S: MSR access that survives a #GP. Return 0, or -1 if it faulted. */
int safe_rdmsr(uint32_t msr, uint64_t *val);
int safe_wrmsr(uint32_t msr, uint64_t val);

/* cpuid.c: the VM executes CPUID with EAX = leaf, ECX = subleaf. */
void cpuid_emulate(struct vcpu *v);

/* msr.c: RDMSR / WRMSR of an intercepted MSR. */
int msr_emulate(struct vcpu *v, bool write);

/* int15.c: INT n in real mode at the current rip. */
int intn_real_mode(struct vcpu *v);

/* io.c: an intercepted IN/OUT. val holds the data (low `size` bytes). */
int io_emulate(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val);

/* npf.c: a nested page fault at gpa. */
int npf_handle(struct vcpu *v, uint64_t gpa, bool write);

/* svm insns etc.: behave as a CPU without that feature (#UD). */
void undefined_opcode(struct vcpu *v);

/* excp.c: exceptions the policy intercepts (a mask of vectors), and the
 * policy's look at one. Returns 1 if it dealt with the exception, 0 if the
 * exception is left to the control stub / the VM. */
uint32_t excp_policy_mask(void);
int excp_policy(struct vcpu *v, unsigned vec, uint32_t err);

#endif
