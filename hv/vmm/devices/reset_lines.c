/*
 * The reset and A20 lines the VM can reach through I/O ports:
 *  - i8042 keyboard controller (ports 60h/64h): command FEh (and every
 *    "pulse output port" command F0h-FEh with bit 0 clear) pulses the CPU
 *    reset line; command D1h writes the output port, whose bit 0 = 0 is
 *    reset and bit 1 is A20 (IBM PC/AT Technical Reference, 8042 commands).
 *  - port 92h, system control port A: bit 0 fast reset, bit 1 A20.
 *  - port CF9h, reset control register: bit 2 starts a reset (Intel PIIX4 /
 *    ICH datasheets, "Reset Control Register").
 * The VM keeps its A20 control; its reset attempts are logged and dropped.
 */
#include "vmm/devices/devices.h"

#define KBD_DATA              0x60
#define KBD_CMD               0x64
#define KBD_CMD_WRITE_OUTPORT 0xd1
#define KBD_CMD_A20_OFF       0xdd
#define KBD_CMD_A20_ON        0xdf
#define OUTPORT_RESET_N       0x01
#define OUTPORT_A20           0x02
#define PORT92_RESET          0x01
#define PORT92_A20            0x02
#define CF9_RESET             0x04

void a20_init(struct vm *vm)
{
    uint32_t val;
    io_passthrough(0x92, 1, true, &val);
    vm->dev.a20 = val & PORT92_A20;
}

void a20_set(struct vm *vm, bool on)
{
    uint32_t val;
    io_passthrough(0x92, 1, true, &val);
    val = (val & ~(PORT92_RESET | PORT92_A20)) | (on ? PORT92_A20 : 0);
    io_passthrough(0x92, 1, false, &val);
    vm->dev.a20 = on;
}

int kbd_io(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val)
{
    if (in || size != 1) {
        io_passthrough(port, size, in, val);
        return 0;
    }
    uint8_t b = (uint8_t)*val;
    if (port == KBD_CMD) {
        v->vm->dev.kbd_wait_outport = b == KBD_CMD_WRITE_OUTPORT;
        if (b >= 0xf0 && !(b & 1)) {
            reset_attempt(v, "the keyboard controller (pulse command)");
            return 0;
        }
        if (b == KBD_CMD_A20_OFF || b == KBD_CMD_A20_ON)
            v->vm->dev.a20 = b == KBD_CMD_A20_ON;
    } else if (port == KBD_DATA && v->vm->dev.kbd_wait_outport) {
        v->vm->dev.kbd_wait_outport = false;
        v->vm->dev.a20 = b & OUTPORT_A20;
        if (!(b & OUTPORT_RESET_N)) {
            reset_attempt(v, "the keyboard controller output port");
            b |= OUTPORT_RESET_N;
        }
    }
    uint32_t out = b;
    io_passthrough(port, 1, false, &out);
    return 0;
}

int port92_io(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val)
{
    if (in || size != 1) {
        io_passthrough(port, size, in, val);
        return 0;
    }
    uint32_t out = *val & 0xff;
    if (out & PORT92_RESET) {
        reset_attempt(v, "port 92h");
        out &= ~PORT92_RESET;
    }
    v->vm->dev.a20 = out & PORT92_A20;
    io_passthrough(port, 1, false, &out);
    return 0;
}

int cf9_io(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val)
{
    /* A 16/32-bit access at CF8h (PCI config address) also covers CF9h. */
    if (in || port != 0xcf9 || size != 1) {
        io_passthrough(port, size, in, val);
        return 0;
    }
    if (*val & CF9_RESET) {
        reset_attempt(v, "the reset control register CF9h");
        return 0;
    }
    io_passthrough(port, 1, false, val);
    return 0;
}
