/* What the VMM intercepts: the owned ports and MSRs, and each vCPU's set
 * (core/intercepts.c). */
#ifndef VMM_CORE_INTERCEPTS_H
#define VMM_CORE_INTERCEPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/core/vm.h"

/* Builds the table of owned ports and sets the machine-wide intercepts. */
void vm_init_intercepts(struct vm *vm);
/* The owner of a port, or 0 if the VMM does not own it. */
const struct owned_port *vm_port_owner(const struct vm *vm, uint16_t port);
/* After start-up: the VMM takes ports [first, first + count) (a device it
 * came to own), intercepted from now on. */
void vm_own_ports(struct vm *vm, uint16_t first, uint16_t count, owned_io_fn *fn);
/* True for an MSR the VMM always intercepts (core's or the backend's). */
bool vm_msr_owned(const struct vm *vm, uint32_t msr);
/* Computes the vCPU's intercepts from the policy and the client's wishes,
 * and applies them. */
void vcpu_recalc_intercepts(struct vcpu *v);

#endif
