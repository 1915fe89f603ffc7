/*
 * The few devices the VMM stands between the VM and the hardware for:
 * the i8042 keyboard controller and port 92h (reset lines and A20), the
 * reset control register CF9h, and the UARTs the VMM owns (hidden).
 * Each returns 0 when the access is done (the VM's value is in *val for IN).
 */
#ifndef VMM_DEVICES_DEVICES_H
#define VMM_DEVICES_DEVICES_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/core/vcpu.h"

/* Does the I/O on the real port for the VM. */
void io_passthrough(uint16_t port, unsigned size, bool in, uint32_t *val);

void a20_init(struct vcpu *v);
/* Sets A20 as the VM asked (through port 92h on the hardware) and tracks it. */
void a20_set(struct vcpu *v, bool on);

int kbd_io(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val);
int port92_io(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val);
int cf9_io(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val);
/* A port the VMM owns: reads float high (no device), writes vanish. */
int hidden_io(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val);

/* Logs a reset attempt the VMM stopped; the VM goes on. */
void reset_attempt(struct vcpu *v, const char *how);

#endif
