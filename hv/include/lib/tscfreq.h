/*
 * The TSC rate CPUID claims, against the rate the TSC runs at.
 *
 * An OS may take the TSC's rate from CPUID instead of measuring it:
 * leaf 15h gives the TSC/crystal ratio EBX/EAX and the crystal's rate ECX
 * (0: not enumerated); leaf 16h EAX[15:0] the base frequency in MHz (SDM
 * Vol.2A CPUID, leaves 15H and 16H). Linux 6.1 takes ECX * EBX / EAX, or,
 * with ECX 0, the base frequency of leaf 16h -- its boot log then says
 * "tsc: Detected N MHz" with no "calibration" line (docs/vmx.md) -- and
 * calibrates nothing: neither the TSC nor the local APIC timer, whose
 * period it derives from the same leaves.
 */
#ifndef LIB_TSCFREQ_H
#define LIB_TSCFREQ_H

#include <stdbool.h>
#include <stdint.h>

/* The TSC rate in Hz leaves 15h and 16h claim (as Linux reads them), 0
 * when they claim none. max_leaf is CPUID 0 EAX: a leaf above it is not
 * read (l15 or l16 may then be 0). */
uint64_t tsc_claim_hz(uint32_t max_leaf, const uint32_t l15[4], const uint32_t l16[4]);

/* True when a claim is more than a quarter off the measured rate: not a
 * measurement's error, a CPU (an emulator's model) whose TSC does not run
 * at the rate its CPUID gives. */
bool tsc_claim_wrong(uint64_t claim_hz, uint64_t measured_hz);

#endif
