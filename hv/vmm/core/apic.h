/* The local APICs: the VM's INIT/SIPI seen at the ICR, the VMM's own NMIs
 * (core/apic.c). */
#ifndef VMM_CORE_APIC_H
#define VMM_CORE_APIC_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/core/vm.h"

/* Intercepts the x2APIC ICR and write-protects the xAPIC page, when the
 * machine has more than one core. */
void vm_init_apic(struct vm *vm);
/* True if gpa is on the xAPIC page the VMM watches. */
bool apic_page(const struct vm *vm, uint64_t gpa);
/* A write of the VM's to that page (a nested page fault): emulated, and
 * passed to the APIC unless it is an INIT or a SIPI. Returns 0. */
int apic_mmio_write(struct vcpu *v, uint64_t gpa);
/* The VM writes icr to its ICR (x2: the x2APIC MSR form). Returns true if
 * the VMM did it (INIT, SIPI), false if the APIC must send it. */
bool apic_icr_write(struct vcpu *v, uint64_t icr, bool x2);

/* The VMM's own IPIs, through this core's APIC. */
void apic_send_init(uint32_t apic_id);
void apic_send_startup(uint32_t apic_id, uint8_t vector);
/* Makes target exit (an NMI), counted so that it is not taken for the
 * VM's own NMI. */
void apic_kick(struct vcpu *target);
/* The kicks sent to this core are taken (its exit, or its wait in the
 * VMM, sees to them), and of the NMIs that came to it since the last look
 * (nmis_in: main.c's handler, a VMX NMI exit), those that were not the
 * kicks' are counted: the VM's own. */
unsigned apic_vm_nmis(struct vcpu *v);
/* This core's APIC ID. */
uint32_t apic_self_id(void);

#endif
