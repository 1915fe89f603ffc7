/*
 * AMD SVM Virtual Machine Control Block.
 * AMD APM Vol.2 Appendix B, "Layout of VMCB": Table B-1 (control area,
 * offsets 0x000-0x3ff) and Table B-2 (state save area, from 0x400).
 * Reserved gaps are named by their offset. Every field is naturally aligned,
 * so no packing is needed; the compiler checks the layout.
 */
#ifndef HW_VMCB_H
#define HW_VMCB_H

#include <stdint.h>

struct vmcb_seg {
    uint16_t selector;
    uint16_t attrib; /* descriptor bits 47:40 in 7:0, bits 55:52 in 11:8 */
    uint32_t limit;
    uint64_t base;
};

struct vmcb_control {
    uint16_t intercept_cr_read;    /* 0x000 */
    uint16_t intercept_cr_write;   /* 0x002 */
    uint16_t intercept_dr_read;    /* 0x004 */
    uint16_t intercept_dr_write;   /* 0x006 */
    uint32_t intercept_exceptions; /* 0x008 */
    uint32_t intercept_misc1;      /* 0x00c: SVM_INTERCEPT1_* */
    uint32_t intercept_misc2;      /* 0x010: SVM_INTERCEPT2_* */
    uint32_t intercept_misc3;      /* 0x014 */
    uint8_t reserved_0x018[0x03c - 0x018];
    uint16_t pause_filter_thresh; /* 0x03c */
    uint16_t pause_filter_count;  /* 0x03e */
    uint64_t iopm_base_pa;        /* 0x040 */
    uint64_t msrpm_base_pa;       /* 0x048 */
    uint64_t tsc_offset;          /* 0x050 */
    uint32_t guest_asid;          /* 0x058 */
    uint8_t tlb_control;          /* 0x05c */
    uint8_t reserved_0x05d[3];
    uint64_t v_intr;           /* 0x060: V_TPR, V_IRQ, V_INTR_MASKING... */
    uint64_t interrupt_shadow; /* 0x068 */
    uint64_t exit_code;        /* 0x070 */
    uint64_t exit_info_1;      /* 0x078 */
    uint64_t exit_info_2;      /* 0x080 */
    uint64_t exit_int_info;    /* 0x088 */
    uint64_t np_enable;        /* 0x090 */
    uint64_t avic_apic_bar;    /* 0x098 */
    uint64_t ghcb_pa;          /* 0x0a0 */
    uint64_t event_inj;        /* 0x0a8 */
    uint64_t nested_cr3;       /* 0x0b0 */
    uint64_t virt_ext;         /* 0x0b8: bit 0 LBR virtualization */
    uint32_t vmcb_clean;       /* 0x0c0 */
    uint32_t reserved_0x0c4;
    uint64_t next_rip;      /* 0x0c8: only with NRIPS */
    uint8_t insn_len;       /* 0x0d0: only with decode assists */
    uint8_t insn_bytes[15]; /* 0x0d1 */
    uint8_t reserved_0x0e0[0x400 - 0x0e0];
};

struct vmcb_save {
    struct vmcb_seg es;   /* 0x400 */
    struct vmcb_seg cs;   /* 0x410 */
    struct vmcb_seg ss;   /* 0x420 */
    struct vmcb_seg ds;   /* 0x430 */
    struct vmcb_seg fs;   /* 0x440 */
    struct vmcb_seg gs;   /* 0x450 */
    struct vmcb_seg gdtr; /* 0x460 */
    struct vmcb_seg ldtr; /* 0x470 */
    struct vmcb_seg idtr; /* 0x480 */
    struct vmcb_seg tr;   /* 0x490 */
    uint8_t reserved_0x4a0[0x4cb - 0x4a0];
    uint8_t cpl; /* 0x4cb */
    uint32_t reserved_0x4cc;
    uint64_t efer; /* 0x4d0 */
    uint8_t reserved_0x4d8[0x548 - 0x4d8];
    uint64_t cr4;    /* 0x548 */
    uint64_t cr3;    /* 0x550 */
    uint64_t cr0;    /* 0x558 */
    uint64_t dr7;    /* 0x560 */
    uint64_t dr6;    /* 0x568 */
    uint64_t rflags; /* 0x570 */
    uint64_t rip;    /* 0x578 */
    uint8_t reserved_0x580[0x5d8 - 0x580];
    uint64_t rsp;            /* 0x5d8 */
    uint64_t s_cet;          /* 0x5e0 */
    uint64_t ssp;            /* 0x5e8 */
    uint64_t isst_addr;      /* 0x5f0 */
    uint64_t rax;            /* 0x5f8 */
    uint64_t star;           /* 0x600 */
    uint64_t lstar;          /* 0x608 */
    uint64_t cstar;          /* 0x610 */
    uint64_t sfmask;         /* 0x618 */
    uint64_t kernel_gs_base; /* 0x620 */
    uint64_t sysenter_cs;    /* 0x628 */
    uint64_t sysenter_esp;   /* 0x630 */
    uint64_t sysenter_eip;   /* 0x638 */
    uint64_t cr2;            /* 0x640 */
    uint8_t reserved_0x648[0x668 - 0x648];
    uint64_t g_pat;          /* 0x668 */
    uint64_t dbgctl;         /* 0x670 */
    uint64_t br_from;        /* 0x678 */
    uint64_t br_to;          /* 0x680 */
    uint64_t last_excp_from; /* 0x688 */
    uint64_t last_excp_to;   /* 0x690 */
};

struct vmcb {
    struct vmcb_control control;
    struct vmcb_save save;
    uint8_t reserved_0x698[0x1000 - 0x698];
} __attribute__((aligned(4096)));

#define VMCB_CHECK(field, off)                                                                     \
    _Static_assert(__builtin_offsetof(struct vmcb, field) == (off), "VMCB " #field)
VMCB_CHECK(control.intercept_misc1, 0x00c);
VMCB_CHECK(control.iopm_base_pa, 0x040);
VMCB_CHECK(control.tsc_offset, 0x050);
VMCB_CHECK(control.tlb_control, 0x05c);
VMCB_CHECK(control.v_intr, 0x060);
VMCB_CHECK(control.exit_code, 0x070);
VMCB_CHECK(control.exit_int_info, 0x088);
VMCB_CHECK(control.np_enable, 0x090);
VMCB_CHECK(control.event_inj, 0x0a8);
VMCB_CHECK(control.nested_cr3, 0x0b0);
VMCB_CHECK(control.next_rip, 0x0c8);
VMCB_CHECK(save.es, 0x400);
VMCB_CHECK(save.tr, 0x490);
VMCB_CHECK(save.cpl, 0x4cb);
VMCB_CHECK(save.efer, 0x4d0);
VMCB_CHECK(save.cr4, 0x548);
VMCB_CHECK(save.rip, 0x578);
VMCB_CHECK(save.rsp, 0x5d8);
VMCB_CHECK(save.rax, 0x5f8);
VMCB_CHECK(save.cr2, 0x640);
VMCB_CHECK(save.g_pat, 0x668);
VMCB_CHECK(save.last_excp_to, 0x690);
_Static_assert(sizeof(struct vmcb_seg) == 16, "vmcb_seg");
_Static_assert(sizeof(struct vmcb) == 4096, "vmcb size");

/* intercept_misc1 (APM Vol.2 Table B-1, offset 0x00c) */
#define SVM_INTERCEPT1_INTR      (1u << 0)
#define SVM_INTERCEPT1_NMI       (1u << 1)
#define SVM_INTERCEPT1_INIT      (1u << 3)
#define SVM_INTERCEPT1_VINTR     (1u << 4)
#define SVM_INTERCEPT1_RDTSC     (1u << 14)
#define SVM_INTERCEPT1_PUSHF     (1u << 16)
#define SVM_INTERCEPT1_POPF      (1u << 17)
#define SVM_INTERCEPT1_CPUID     (1u << 18)
#define SVM_INTERCEPT1_IRET      (1u << 20)
#define SVM_INTERCEPT1_INTN      (1u << 21)
#define SVM_INTERCEPT1_HLT       (1u << 24)
#define SVM_INTERCEPT1_INVLPGA   (1u << 26)
#define SVM_INTERCEPT1_IOIO_PROT (1u << 27)
#define SVM_INTERCEPT1_MSR_PROT  (1u << 28)
#define SVM_INTERCEPT1_SHUTDOWN  (1u << 31)

/* intercept_misc2 (offset 0x010) */
#define SVM_INTERCEPT2_VMRUN        (1u << 0)
#define SVM_INTERCEPT2_VMMCALL      (1u << 1)
#define SVM_INTERCEPT2_VMLOAD       (1u << 2)
#define SVM_INTERCEPT2_VMSAVE       (1u << 3)
#define SVM_INTERCEPT2_STGI         (1u << 4)
#define SVM_INTERCEPT2_CLGI         (1u << 5)
#define SVM_INTERCEPT2_SKINIT       (1u << 6)
#define SVM_INTERCEPT2_ALL_SVM_INSN 0x7fu

/* tlb_control (offset 0x05c) */
#define SVM_TLB_CONTROL_DO_NOTHING 0
#define SVM_TLB_CONTROL_FLUSH_ALL  1

#define SVM_NP_ENABLE (1ull << 0)

/* event_inj / exit_int_info (APM Vol.2 §15.20 "Event Injection") */
#define SVM_EVTINJ_VEC_MASK   0xffull
#define SVM_EVTINJ_TYPE_INTR  (0ull << 8)
#define SVM_EVTINJ_TYPE_NMI   (2ull << 8)
#define SVM_EVTINJ_TYPE_EXEPT (3ull << 8)
#define SVM_EVTINJ_TYPE_SOFT  (4ull << 8)
#define SVM_EVTINJ_TYPE_MASK  (7ull << 8)
#define SVM_EVTINJ_VALID_ERR  (1ull << 11)
#define SVM_EVTINJ_VALID      (1ull << 31)

/* exit_info_1 of SVM_EXIT_IOIO (APM Vol.2 §15.10.2, Figure 15-2) */
#define SVM_IOIO_TYPE_IN    (1ull << 0)
#define SVM_IOIO_STR        (1ull << 2)
#define SVM_IOIO_REP        (1ull << 3)
#define SVM_IOIO_SIZE_SHIFT 4
#define SVM_IOIO_SIZE_MASK  (7ull << SVM_IOIO_SIZE_SHIFT)
#define SVM_IOIO_PORT_SHIFT 16

/* exit_info_1 of SVM_EXIT_NPF (APM Vol.2 §15.25.6) */
#define SVM_NPF_P         (1ull << 0)
#define SVM_NPF_RW        (1ull << 1)
#define SVM_NPF_US        (1ull << 2)
#define SVM_NPF_ID        (1ull << 4)
#define SVM_NPF_FINAL_GPA (1ull << 32)
#define SVM_NPF_IN_TABLE  (1ull << 33)

/* Sizes of the permission maps (APM Vol.2 §15.10.1, §15.11) */
#define SVM_IOPM_SIZE  (12 * 1024)
#define SVM_MSRPM_SIZE (8 * 1024)

#endif
