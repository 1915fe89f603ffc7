/*
 * The shared page: one page of conventional memory, at the same address in
 * every mode the kernel runs in (real mode with DS = 0, 16-bit protected
 * mode, 32-bit protected mode, long mode: all identity-mapped), through
 * which the C code of the 32-bit and 64-bit parts hands an operation to the
 * instruction snippets (ops.S) and the exception handlers of every mode
 * record what the instruction under test did.
 *
 * Offsets are plain numbers so that assembly can use them; the C view is
 * struct shared, checked against them at compile time.
 *
 *   0x0500-0x4fff  real-mode and 16-bit protected-mode stack (top SHARED)
 *   0x5000         this page
 *   0x6000-0x7fff  scratch: the E820 buffer
 *   0x8000-0xffff  the 16-bit part (low16/), copied there by the 32-bit part
 */
#ifndef TK_SHARED_H
#define TK_SHARED_H

#define SHARED      0x5000
#define STACK16_TOP 0x4ff0
#define SCRATCH     0x6000
#define LOW16_BASE  0x8000
#define LOW16_MAX   0x8000 /* bytes */

/* The operation (ops.h): code, flags, inputs. */
#define SH_OP_CODE     (SHARED + 0x00)
#define SH_OP_FLAGS    (SHARED + 0x04)
#define SH_TFOR        (SHARED + 0x08) /* 0, or RFLAGS.TF to set before the insn */
#define SH_OP_BAD      (SHARED + 0x0c) /* set by a snippet this mode lacks */
#define SH_IN0         (SHARED + 0x10) /* four u64 inputs */
#define SH_IN1         (SHARED + 0x18)
#define SH_IN2         (SHARED + 0x20)
#define SH_IN3         (SHARED + 0x28)
#define SH_OUT0        (SHARED + 0x30) /* six u64 outputs */
#define SH_SAVE0       (SHARED + 0x60) /* snippet scratch */
#define SH_SAVE1       (SHARED + 0x68)
#define SH_MEM         (SHARED + 0x70) /* memory operand (16 bytes) */
#define SH_SPSAVE      (SHARED + 0x80) /* stack pointer across a snippet */
/* The probe: the instruction under test and what happened to it. */
#define SH_P_INSN      (SHARED + 0x90) /* linear address of the insn under test */
#define SH_P_NEXT      (SHARED + 0x94) /* address after it: where a fault resumes */
#define SH_P_ARMED     (SHARED + 0x98)
#define SH_P_NEV       (SHARED + 0x9c)
#define SH_P_EV        (SHARED + 0xa0) /* 4 x {vec, err, rel, dr6} (u32 each) */
#define P_MAX_EV       4
/* Mode switching. */
#define SH_RET_FAR     (SHARED + 0xe0) /* m16:32 far pointer back to 32-bit code */
#define SH_LOW_MODE    (SHARED + 0xe8) /* 0: real mode, 1: 16-bit protected mode */
#define SH_ESP32       (SHARED + 0xec) /* 32-bit part's esp across a switch */
#define SH_RUN_OP32    (SHARED + 0xf0) /* address of the 32-bit run_op (compat) */
#define SH_RSP64       (SHARED + 0xf8) /* 64-bit part's rsp across compat mode */
/* Set up by the 32-bit part for the 64-bit part. */
#define SH_LINES       (SHARED + 0x100) /* RFXT lines printed so far */
#define SH_CR3_LONG    (SHARED + 0x104) /* 4-level PML4 */
#define SH_CR3_LA57    (SHARED + 0x108) /* 5-level PML5 */
#define SH_GDT         (SHARED + 0x10c) /* linear address of the GDT */
#define SH_STACK64     (SHARED + 0x110) /* top of the 64-bit part's stack */
#define SH_USER64      (SHARED + 0x114) /* the user-accessible 2 MiB page */
#define SH_HOLE        (SHARED + 0x118) /* a not-present 4 KiB page */
#define SH_FLAGS       (SHARED + 0x11c) /* SHF_* */
#define SH_CMDLINE     (SHARED + 0x200) /* NUL-terminated, SH_CMDLINE_MAX bytes */
#define SH_CMDLINE_MAX 0x200

#define SHF_LONG_DONE 1 /* the 64-bit part ran */

/* GDT selectors (k32/gdt.c). */
#define SEL_CODE32  0x08
#define SEL_DATA32  0x10
#define SEL_CODE16  0x18
#define SEL_DATA16  0x20
#define SEL_CODE64  0x28
#define SEL_UCODE32 0x3b /* DPL 3 */
#define SEL_UDATA   0x43 /* DPL 3 */
#define SEL_UCODE64 0x4b /* DPL 3 */
#define SEL_TSS32   0x50
#define SEL_TSS64   0x58   /* 16 bytes */
#define SEL_BAD     0xfff8 /* beyond the GDT limit: #GP(selector) */
#define GDT_ENTRIES 13

/* Vectors the kernel owns. */
#define VEC_OWN      0x66 /* INT n test vector (real mode: an IVT entry we own) */
#define VEC_IPI      0x40 /* local APIC self-IPI */
#define VEC_USER_RET 0x81 /* ring 3 back to ring 0 */

#ifndef __ASSEMBLER__
#include <stdint.h>

struct probe_event {
    uint32_t vec, err;
    int32_t rel; /* faulting/return address - address of the insn under test */
    uint32_t dr6;
};

struct shared {
    uint32_t op_code, op_flags, tfor, op_bad;
    uint64_t in[4];
    uint64_t out[6];
    uint64_t save[2];
    uint64_t mem[2];
    uint64_t spsave;
    uint64_t pad0;
    uint32_t p_insn, p_next, p_armed, p_nev;
    struct probe_event ev[P_MAX_EV];
    uint32_t ret_far[2];
    uint32_t low_mode, esp32, run_op32, pad1;
    uint64_t rsp64;
    uint32_t lines, cr3_long, cr3_la57, gdt, stack64, user64, hole, flags;
    uint8_t pad2[SH_CMDLINE - SHARED - 0x120];
    char cmdline[SH_CMDLINE_MAX];
};

#define SH ((volatile struct shared *)SHARED)

#define SH_CHECK(field, off)                                                                       \
    _Static_assert(__builtin_offsetof(struct shared, field) == (off)-SHARED, #field)
SH_CHECK(in, SH_IN0);
SH_CHECK(out, SH_OUT0);
SH_CHECK(mem, SH_MEM);
SH_CHECK(spsave, SH_SPSAVE);
SH_CHECK(p_insn, SH_P_INSN);
SH_CHECK(ev, SH_P_EV);
SH_CHECK(ret_far, SH_RET_FAR);
SH_CHECK(low_mode, SH_LOW_MODE);
SH_CHECK(rsp64, SH_RSP64);
SH_CHECK(lines, SH_LINES);
SH_CHECK(flags, SH_FLAGS);
SH_CHECK(cmdline, SH_CMDLINE);
#endif

#endif
