/*
 * IA32_TSC_DEADLINE between the VM's TSC and the core's.
 *
 * In TSC-deadline mode the local APIC's timer fires when the core's TSC
 * reaches IA32_TSC_DEADLINE (SDM Vol.3A §12.5.4.1). The VM reads its TSC
 * as the core's plus the TSC offset, a signed addition, through RDTSC,
 * RDTSCP and RDMSR of IA32_TSC only (SDM Vol.3C §25.3 "RDMSR", "RDTSC";
 * APM Vol.2 §15.30.5): a WRMSR of the deadline reaches the APIC as it is.
 * The VMM's offset is below zero by the time it took off the VM (core/run.c:
 * a client's stop is never repaid), so a deadline the VM computes from its
 * TSC is moved by the offset on its way to the hardware, and back when the
 * VM reads it (core/msr.c).
 */
#ifndef LIB_TSC_DEADLINE_H
#define LIB_TSC_DEADLINE_H

#include <stdint.h>

/* The core's deadline for the VM's deadline val under the offset off: 0
 * stays 0 (disarmed); one the offset would carry past either end of the
 * counter is clamped (1: at once, as a deadline already passed; ~0: the
 * farthest there is). */
uint64_t tsc_deadline_to_host(uint64_t val, uint64_t off);
/* The VM's view of the core's deadline hw, clamped the same way. */
uint64_t tsc_deadline_to_guest(uint64_t hw, uint64_t off);

#endif
