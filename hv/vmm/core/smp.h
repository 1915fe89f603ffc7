/*
 * Every core is a vCPU (core/smp.c): the VMM starts the cores the firmware
 * reports and parks them in the state a core waits in after INIT; the VM's
 * INIT and start-up IPIs then move them.
 */
#ifndef VMM_CORE_SMP_H
#define VMM_CORE_SMP_H

#include <stdint.h>

#include "vmm/core/vm.h"

/* On the boot CPU, before the VM runs: starts every other core into the
 * VMM (vmm_ap_main), each in its wait-for-SIPI state. create makes the
 * vCPU of a core. */
void smp_start_aps(struct vm *vm,
                   struct vcpu *(*create)(struct vm *vm, unsigned id, uint32_t apic_id));
/* The VM sent t an INIT / a start-up IPI. */
void smp_send_init(struct vcpu *t);
void smp_send_sipi(struct vcpu *t, uint8_t vector);
/* On v's own core: takes an INIT sent to it (the INIT state, then
 * wait-for-SIPI), and waits there until a start-up IPI moves it. */
void smp_take_init(struct vcpu *v);
void smp_wait_for_sipi(struct vcpu *v);

#endif
