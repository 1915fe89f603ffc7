/*
 * Writes to the VM's control registers and EFER with the CPU's checks,
 * for the emulated instructions (cr.c, msr.c) and for a client's register
 * writes (control/), which get an error instead of a fault.
 */
#ifndef VMM_CORE_REGS_H
#define VMM_CORE_REGS_H

#include <stdint.h>

#include "vmm/core/vm.h"

/* The rule a write of val to CR0/CR2/CR3/CR4 breaks, or 0 if the CPU
 * takes it. */
const char *cr_check(struct vcpu *v, unsigned cr, uint64_t val);
/* Applies a checked write, with what the CPU does besides storing it
 * (EFER.LMA, TLB flushes, the mode's intercepts), and reports it. */
void cr_set(struct vcpu *v, unsigned cr, uint64_t val);
/* The same for EFER (as WRMSR writes it: LMA is kept). */
const char *efer_check(struct vcpu *v, uint64_t val);
void efer_set(struct vcpu *v, uint64_t val);

#endif
