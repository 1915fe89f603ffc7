/*
 * Continuing from one of the stub's int3 breakpoints without a single
 * step: the few instructions the VMM may run itself in their place.
 *
 * A continue from an int3 otherwise puts the original byte back, steps one
 * instruction with TF (an entry and a #DB exit, with every other vCPU held
 * so that none runs past the missing int3), then writes the int3 again.
 * The instructions below are the usual first ones of a function or a
 * kernel entry (endbr, the 5-byte NOP of a compiled-out fentry call, push
 * rbp, mov rbp,rsp, swapgs). They are run only in 64-bit mode, and they
 * change no flag: their effect is fully known (SDM Vol.2 "NOP", "ENDBR64",
 * "PUSH", "MOV", "SWAPGS"; AMD APM Vol.3 the same instructions).
 *
 * The caller keeps every other condition a step would see: TF set by the
 * VM, an interrupt shadow, hardware breakpoints and watchpoints, a CPL or
 * a mode the instruction faults in (vmm/control/stepover.c).
 */
#ifndef LIB_STEPOVER_H
#define LIB_STEPOVER_H

#include <stdint.h>

#include "lib/insn.h"

enum stepover_op {
    STEPOVER_STEP,   /* none of the below: step it with TF */
    STEPOVER_NOP,    /* NOP, PAUSE, NOP r/m (which accesses no memory) */
    STEPOVER_ENDBR,  /* ENDBR64/32: a NOP while CR4.CET is clear */
    STEPOVER_PUSH,   /* PUSH r64: [rsp - 8] = src, rsp -= 8 */
    STEPOVER_MOV,    /* MOV between two registers: dst = src, size bytes */
    STEPOVER_SWAPGS, /* GS.base <-> IA32_KERNEL_GS_BASE, CPL 0 only */
};

struct stepover {
    uint8_t dst, src; /* register numbers, REX applied (0 = rax ... 15) */
    uint8_t size;     /* operand size in bytes (MOV: 1, 2, 4 or 8) */
};

/* What to do with a decoded instruction of 64-bit code. so is filled for
 * PUSH and MOV. */
enum stepover_op stepover_classify(const struct insn *in, struct stepover *so);

#endif /* LIB_STEPOVER_H */
