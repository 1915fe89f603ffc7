/*
 * Intercepted port I/O, dispatched by port. The ports setup put in the I/O
 * permission map get here: the keyboard controller, port 92h, CF9h (and
 * the PCI ports an access to it overlaps), the VMM's own UARTs; and the
 * ports a client filters (control/rfx_ext.c), which are passed through.
 */
#include "common/log.h"
#include "vmm/control/control.h"
#include "vmm/core/policy.h"
#include "vmm/devices/devices.h"

static bool owns(const struct log_target *t, uint16_t port)
{
    if (t->kind == LOG_UART)
        return port >= t->port && port < t->port + 8;
    return t->kind == LOG_DEBUGCON && port == t->port;
}

static int io_dispatch(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val)
{
    if (owns(&v->info->ctrl, port) || owns(&v->info->log, port))
        return hidden_io(v, port, size, in, val);
    if (port == 0x60 || port == 0x64)
        return kbd_io(v, port, size, in, val);
    if (port == 0x92)
        return port92_io(v, port, size, in, val);
    if (port >= 0xcf8 && port <= 0xcfb)
        return cf9_io(v, port, size, in, val);
    /* A port a client filters, or a wide access that merely overlaps an
     * intercepted port. */
    io_passthrough(port, size, in, val);
    return 0;
}

int io_emulate(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val)
{
    int r = io_dispatch(v, port, size, in, val);
    if (!r)
        control_note_io(v, port, size, in, *val);
    return r;
}
