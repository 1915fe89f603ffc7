#include "common/cpu.h"
#include "common/log.h"
#include "vmm/control/control.h"
#include "vmm/devices/devices.h"

void io_passthrough(uint16_t port, unsigned size, bool in, uint32_t *val)
{
    switch (size) {
    case 1:
        if (in)
            *val = inb(port);
        else
            outb(port, (uint8_t)*val);
        break;
    case 2:
        if (in)
            *val = inw(port);
        else
            outw(port, (uint16_t)*val);
        break;
    default:
        if (in)
            *val = inl(port);
        else
            outl(port, *val);
        break;
    }
}

int hidden_io(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val)
{
    if (in)
        *val = 0xffffffffu;
    return 0;
}

void reset_attempt(struct vcpu *v, const char *how)
{
    v->dev.reset_attempts++;
    log_printf("vmm: reset attempt by the VM through %s: blocked, the VM goes on (%llu so far)\n",
               how, (unsigned long long)v->dev.reset_attempts);
    if (v->dev.reset_attempts <= 4)
        vcpu_log_dump(v);
    control_note_reset(v, how);
}
