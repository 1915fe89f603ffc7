/*
 * The control subsystem: a GDB remote-protocol stub on a UART the VMM owns
 * (docs/protocol.md). control_init() registers its hooks with core
 * (core/hooks.h); everything else happens through them.
 */
#ifndef VMM_CONTROL_CONTROL_H
#define VMM_CONTROL_CONTROL_H

#include "vmm/core/vm.h"

/* Opens the control UART, calibrates the TSC and registers the hooks.
 * Every vCPU must exist already (each gets its stub state). */
void control_init(struct vm *vm);

#endif
