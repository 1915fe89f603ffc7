/* Port I/O the VMM does for the VM, and the reset lines' common part. */
#include "common/cpu.h"
#include "common/log.h"
#include "vmm/core/hooks.h"
#include "vmm/core/vcpu.h"
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

/*
 * The VMM's UARTs, hidden from the VM. A probe finds nothing: the interrupt
 * enable and scratch registers read all ones whatever is written (the
 * 16550's IER keeps its top nibble clear: TI PC16550D data sheet, Table
 * II), so Linux and the BIOS see no UART there. A driver that took the
 * port before the VMM did -- a UEFI firmware's terminal on it, which goes
 * on running in the VM -- sees an idle line instead: line status "no data,
 * transmitter empty" (offset 5: THRE|TEMT) and interrupt identification
 * "none pending" (offset 2), so it neither reads bytes that never came
 * nor waits for ever to send. Writes are dropped.
 */
int hidden_io(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val)
{
    if (!in)
        return 0;
    *val = 0xffffffffu;
    if (size == 1 && (port & 7) == 5)
        *val = 0x60;
    else if (size == 1 && (port & 7) == 2)
        *val = 0x01;
    return 0;
}

void reset_attempt(struct vcpu *v, const char *how)
{
    struct devices_state *d = &v->vm->dev;
    d->reset_attempts++;
    log_printf("vmm: reset attempt by the VM through %s: blocked, the VM goes on (%llu so far)\n",
               how, (unsigned long long)d->reset_attempts);
    if (d->reset_attempts <= 4)
        vcpu_log_dump(v);
    struct vm_event e = {.kind = VME_RESET, .how = how};
    vm_notify(v, &e);
}

void machine_reset(void)
{
    /* Reset control register: full reset (bit 3) with the reset bit (2)
     * (Intel PIIX4 / ICH datasheets, "Reset Control Register"). */
    outb(0xcf9, 0x02);
    outb(0xcf9, 0x0e);
    /* The keyboard controller's pulse of the reset line (command FEh). */
    for (int i = 0; i < 100000 && (inb(0x64) & 0x02); i++)
        ;
    outb(0x64, 0xfe);
    /* Last: a triple fault with no IDT. */
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } none = {0, 0};
    __asm__ volatile("lidt %0; int3" ::"m"(none));
    cpu_halt_forever();
    __builtin_unreachable();
}
