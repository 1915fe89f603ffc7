/*
 * The local APIC at its power-on base 0xfee00000 (xAPIC mode), identity-
 * mapped in every mode the kernel pages in (Intel SDM Vol.3A §12.4, AMD APM
 * Vol.2 §16.3). A self-IPI raised with IF clear stays pending in the IRR
 * until IF is set: the HLT check's deterministic interrupt.
 */
#include "tk.h"

#define LAPIC_BASE 0xfee00000u
#define LAPIC_EOI  0xb0
#define LAPIC_SVR  0xf0
#define LAPIC_ICR  0x300

static volatile uint32_t *lapic(unsigned reg)
{
    return (volatile uint32_t *)(uintptr_t)(LAPIC_BASE + reg);
}

void lapic_self_ipi(unsigned vec)
{
    *lapic(LAPIC_SVR) = 0x100 | 0xff; /* APIC software-enabled, spurious vector 0xff */
    /* fixed delivery, edge, assert, destination shorthand 01 = self */
    *lapic(LAPIC_ICR) = (vec & 0xff) | (1u << 14) | (1u << 18);
}

void lapic_eoi(void) { *lapic(LAPIC_EOI) = 0; }
