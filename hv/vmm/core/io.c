/*
 * Intercepted port I/O, dispatched by the table of owned ports
 * (intercepts.c): the keyboard controller, port 92h, CF9h and the VMM's
 * own UARTs; any other port gets here only because a client filters it,
 * or because a wide access overlaps an owned port, and is passed through.
 * String forms (INS/OUTS, with REP) move their data through the VM's
 * memory as the CPU would (APM Vol.3 "INS", "OUTS", "REP").
 */
#include "hw/x86.h"
#include "vmm/core/emulate.h"
#include "vmm/core/exits.h"
#include "vmm/core/hooks.h"
#include "vmm/core/intercepts.h"
#include "vmm/core/vcpu.h"
#include "vmm/devices/devices.h"

static int port_io(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val)
{
    const struct owned_port *o = vm_port_owner(v->vm, port);
    int r = 0;
    if (o)
        r = o->io(v, port, size, in, val);
    else
        io_passthrough(port, size, in, val);
    if (!r) {
        struct vm_event e = {.kind = VME_IO, .io = {port, (uint8_t)size, in, *val}};
        vm_notify(v, &e);
    }
    return r;
}

static uint64_t addr_mask(unsigned adsize)
{
    return adsize == 2 ? 0xffffull : adsize == 4 ? 0xffffffffull : ~0ull;
}

/* INS / OUTS, with or without REP: every iteration at once. A fault stops
 * the string with the registers of the iteration that faulted, which the
 * VM's handler sees as the CPU would leave them. */
static int string_io(struct vcpu *v, uint16_t port, unsigned size, bool in)
{
    struct insn ins;
    if (emu_decode(v, &ins))
        return -1;
    uint64_t mask = addr_mask(ins.adsize);
    bool rep = ins.rep == 0xf2 || ins.rep == 0xf3;
    uint64_t count = rep ? v->gpr[GPR_RCX] & mask : 1;
    int64_t step = (v->ops->get_rflags(v) & RFLAGS_DF) ? -(int64_t)size : (int64_t)size;
    unsigned idx = in ? GPR_RDI : GPR_RSI;
    struct seg_state s;

    /* INS writes ES:rDI (no override); OUTS reads DS:rSI, or the override. */
    enum seg sr = in ? SEG_ES : emu_segment(&ins, SEG_DS);
    v->ops->get_seg(v, sr, &s);
    uint64_t base = (ins.mode == 64 && sr != SEG_FS && sr != SEG_GS) ? 0 : s.base;

    for (; count; count--) {
        uint64_t off = v->gpr[idx] & mask;
        uint64_t la = base + off;
        uint32_t val = 0;
        if (ins.mode != 64)
            la &= 0xffffffffull;
        if (in) {
            if (port_io(v, port, size, true, &val))
                return -1;
            if (emu_write(v, la, &val, size))
                return 0;
        } else {
            if (emu_read(v, la, &val, size))
                return 0;
            if (port_io(v, port, size, false, &val))
                return -1;
        }
        v->gpr[idx] = (v->gpr[idx] & ~mask) | ((off + (uint64_t)step) & mask);
        if (rep)
            v->gpr[GPR_RCX] = (v->gpr[GPR_RCX] & ~mask) | ((count - 1) & mask);
    }
    vcpu_complete(v, ins.len);
    return 0;
}

int exit_io(struct vcpu *v, uint16_t port, unsigned size, bool in, bool string, unsigned len)
{
    if (string)
        return string_io(v, port, size, in);
    uint32_t val = (uint32_t)v->gpr[GPR_RAX];
    if (port_io(v, port, size, in, &val))
        return -1;
    if (in) {
        uint64_t mask = size == 4 ? 0xffffffffull : size == 2 ? 0xffffull : 0xffull;
        uint64_t rax = v->gpr[GPR_RAX];
        /* A 32-bit IN zero-extends into RAX, narrower ones merge. */
        v->gpr[GPR_RAX] = size == 4 ? val : (rax & ~mask) | (val & mask);
    }
    vcpu_complete(v, len);
    return 0;
}
