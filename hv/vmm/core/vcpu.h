/*
 * The vendor-neutral view of the VM's CPU. core/ code reads and changes the
 * VM only through this struct and its ops table; the backend (svm/) fills
 * the table in at start-up. gpr[] is indexed by the x86 register number,
 * as ModRM encodes it, so the emulator can use decoded fields directly.
 */
#ifndef VMM_CORE_VCPU_H
#define VMM_CORE_VCPU_H

#include <stdbool.h>
#include <stdint.h>

#include "common/boot_info.h"

enum gpr {
    GPR_RAX,
    GPR_RCX,
    GPR_RDX,
    GPR_RBX,
    GPR_RSP,
    GPR_RBP,
    GPR_RSI,
    GPR_RDI,
    GPR_R8,
    GPR_R9,
    GPR_R10,
    GPR_R11,
    GPR_R12,
    GPR_R13,
    GPR_R14,
    GPR_R15,
    GPR_COUNT
};

enum seg { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR, SEG_GDTR, SEG_IDTR };

/* Intercepts the control stub switches at run time (arg: vector, CR, port or MSR). */
enum intercept {
    ICPT_EXCP,      /* exception vector arg */
    ICPT_CR_READ,   /* CR arg */
    ICPT_DR,        /* every debug-register access */
    ICPT_INTN,      /* INT n (the policy keeps it on in real mode) */
    ICPT_IO,        /* port arg */
    ICPT_MSR_READ,  /* MSR arg */
    ICPT_MSR_WRITE, /* MSR arg */
};

struct seg_state {
    uint16_t selector;
    uint16_t attrib; /* VMCB packing: type|S|DPL|P in 7:0, AVL|L|DB|G in 11:8 */
    uint32_t limit;
    uint64_t base;
};

struct vcpu;

/* What core/ needs from a virtualization backend. */
struct vm_ops {
    uint64_t (*get_cr)(struct vcpu *v, unsigned n); /* 0, 2, 3, 4 */
    void (*set_cr)(struct vcpu *v, unsigned n, uint64_t val);
    uint64_t (*get_efer)(struct vcpu *v);
    void (*set_efer)(struct vcpu *v, uint64_t val);
    uint64_t (*get_rip)(struct vcpu *v);
    void (*set_rip)(struct vcpu *v, uint64_t rip);
    uint64_t (*get_rflags)(struct vcpu *v);
    void (*set_rflags)(struct vcpu *v, uint64_t rflags);
    void (*get_seg)(struct vcpu *v, enum seg s, struct seg_state *out);
    void (*set_seg)(struct vcpu *v, enum seg s, const struct seg_state *in);
    /* Queues an exception for the next entry. */
    void (*inject_exception)(struct vcpu *v, unsigned vector, bool has_err, uint32_t err);
    /* Flushes the VM's TLB on the next entry. */
    void (*flush_tlb)(struct vcpu *v);
    /* Clears the one-instruction interrupt shadow after an emulated instruction. */
    void (*clear_shadow)(struct vcpu *v);
    /* Debug registers: 0-3, 6, 7. */
    uint64_t (*get_dr)(struct vcpu *v, unsigned n);
    void (*set_dr)(struct vcpu *v, unsigned n, uint64_t val);
    unsigned (*get_cpl)(struct vcpu *v);
    /* The VM's TSC when it last exited (the VMM's own time is not in it). */
    uint64_t (*guest_tsc)(struct vcpu *v);
    /* Nested paging: walks the backend's tables for gpa. Returns 0 with the
     * host-physical address, the leaf entry and its page shift; -1 if gpa is
     * not mapped (then *leaf is the entry that stopped the walk). */
    int (*g2h)(struct vcpu *v, uint64_t gpa, uint64_t *hpa, uint64_t *leaf, unsigned *shift);
    /* The nested-paging root (host-physical), 0 if nested paging is off. */
    uint64_t (*nested_root)(struct vcpu *v);
    /* MSRs the backend keeps for the VM (in the VMCB on AMD). Return 0, or
     * -1 if the backend does not hold that MSR. */
    int (*get_msr)(struct vcpu *v, uint32_t msr, uint64_t *val);
    int (*set_msr)(struct vcpu *v, uint32_t msr, uint64_t val);
    void (*set_intercept)(struct vcpu *v, enum intercept what, uint32_t arg, bool on);
    /* Queues INT n (software interrupt) for delivery at the next entry. */
    void (*inject_soft_int)(struct vcpu *v, unsigned vector);
    /* LBR (AMD APM Vol.2 §15.23): supported?, switch, read the four records. */
    bool (*lbr_supported)(struct vcpu *v);
    void (*lbr_enable)(struct vcpu *v, bool on);
    void (*lbr_read)(struct vcpu *v, uint64_t out[4]);
    /* Writes the hardware state as text (VMCB dump on AMD). */
    unsigned long (*dump)(struct vcpu *v, char *buf, unsigned long size);
    /* Writes the per-exit-reason counters as text (for the log and the client). */
    unsigned long (*summary)(struct vcpu *v, char *buf, unsigned long size);
};

struct devices_state {
    bool a20;              /* last A20 state the VM asked for */
    bool kbd_wait_outport; /* i8042 got 0xD1: next 0x60 byte is the output port */
    uint64_t reset_attempts;
};

struct vcpu {
    uint64_t gpr[GPR_COUNT]; /* offset 0: the world switch saves here */
    const struct vm_ops *ops;
    struct boot_info *info;
    struct devices_state dev;
    uint64_t exits;      /* total vm-exits */
    uint64_t npf_hidden; /* VM accesses to the VMM range */
};

_Static_assert(__builtin_offsetof(struct vcpu, gpr) == 0, "vmrun.S saves GPRs at offset 0");

/* Code size of the instruction at rip: 16, 32 or 64 bits (APM Vol.2 §1.2). */
unsigned vcpu_code_bits(struct vcpu *v);
/* Moves rip past an emulated instruction of `len` bytes, wrapping as the
 * current code size does, and ends any interrupt shadow. */
void vcpu_advance(struct vcpu *v, unsigned len);
/* Writes the backend's state dump (the VMCB on AMD) to the log. */
void vcpu_log_dump(struct vcpu *v);
/* The CPU mode as a short name ("real", "v86", "prot16", "prot32", "compat", "long"). */
const char *vcpu_mode_name(struct vcpu *v);

#endif
