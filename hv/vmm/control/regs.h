/*
 * The register layout the stub gives gdb: one fixed i386:x86-64 layout in
 * every mode (upper halves zero outside long mode, as QEMU's stub does),
 * plus a system-register feature (docs/protocol.md). One table: the
 * commands number and size registers from it (regs.c), target.xml is
 * generated from it, and the target reads and writes registers by its
 * kind and arg (target.c).
 */
#ifndef VMM_CONTROL_REGS_H
#define VMM_CONTROL_REGS_H

#include <stdint.h>

enum reg_kind {
    R_GPR,
    R_RIP,
    R_RFLAGS,
    R_SEL,
    R_ST,
    R_FPU,
    R_XMM,
    R_MXCSR,
    R_CR,
    R_EFER,
    R_DR,
    R_DBGCTL,
    R_SEG_BASE,
    R_SEG_LIMIT,
    R_SEG_ATTR,
    R_DT_BASE,
    R_DT_LIMIT,
    R_MSR,
};

struct reg_desc {
    const char *name;
    uint8_t bits;
    uint8_t kind;
    uint8_t arg;
    const char *type;
};

/* The numbers a descriptor's arg uses for general registers (ModRM
 * order) and segments: the same as core's enum gpr and enum seg, which
 * target.c checks at compile time. */
enum reg_gpr { RG_RAX, RG_RCX, RG_RDX, RG_RBX, RG_RSP, RG_RBP, RG_RSI, RG_RDI };
enum reg_seg { RS_ES, RS_CS, RS_SS, RS_DS, RS_FS, RS_GS, RS_LDTR, RS_TR, RS_GDTR, RS_IDTR };

/* The MSR of an R_MSR register (arg indexes it). */
extern const uint32_t stub_reg_msr[];

/* Register n's description, 0 past the end. */
const struct reg_desc *stub_reg_desc(unsigned n);

#define STUB_FIRST_SSE    40
#define STUB_FIRST_SYSTEM 57

#endif
